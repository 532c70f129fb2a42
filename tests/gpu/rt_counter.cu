// rt_counter.cu - CUDA runtime program for the GPU validation (run.sh), built
// three ways: static cudart (default), --cudart shared, and
// --default-stream per-thread; -DMANAGED adds cudaMallocManaged (the
// checkpoint must then be refused cleanly).
//   rt_counter ITERS MS
// Prints "buffer x=0x...", "iteration N" lines and "RESULT ok counter=N x=0x... sum=S".
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

__device__ int counter;

__global__ void step(float *x, const float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = x[i] * 0.5f + y[i];
    if (i == 0) atomicAdd(&counter, 1);
}

#define CK(e) do { cudaError_t r_ = (e); if (r_ != cudaSuccess) { \
    fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #e, cudaGetErrorString(r_)); exit(1); } } while (0)

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 50, ms = argc > 2 ? atoi(argv[2]) : 100;
    const int n = 1 << 20;
    float *x, *y, *h;
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    CK(cudaMalloc(&x, n * sizeof(float)));
    CK(cudaMallocAsync(&y, n * sizeof(float), s));
    CK(cudaMallocHost(&h, n * sizeof(float)));
#ifdef MANAGED
    int *m;
    CK(cudaMallocManaged(&m, 4096));
    m[0] = 1;
#endif
    for (int i = 0; i < n; i++) h[i] = (float)(i % 97);
    CK(cudaMemcpyAsync(x, h, n * sizeof(float), cudaMemcpyHostToDevice, s));
    CK(cudaMemcpyAsync(y, h, n * sizeof(float), cudaMemcpyHostToDevice, s));
    printf("buffer x=%p\n", (void *)x);
    fflush(stdout);
    for (int it = 1; it <= iters; it++) {
        step<<<n / 256, 256, 0, s>>>(x, y, n);
        CK(cudaStreamSynchronize(s));
        printf("iteration %d\n", it);
        fflush(stdout);
        usleep(ms * 1000);
    }
    int c = 0;
    CK(cudaMemcpyFromSymbol(&c, counter, sizeof c));
    CK(cudaMemcpy(h, x, n * sizeof(float), cudaMemcpyDeviceToHost));
    double sum = 0;
    for (int i = 0; i < n; i++) sum += h[i];
    if (c != iters) { fprintf(stderr, "counter %d != %d\n", c, iters); return 1; }
    printf("RESULT ok counter=%d x=%p sum=%.3f\n", c, (void *)x, sum);
    return 0;
}
