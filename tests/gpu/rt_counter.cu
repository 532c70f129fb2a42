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

// RT_MB=N: N MiB more device memory, filled with a hash pattern and stirred each
// iteration, summed at the end (large device state must survive bit for bit).
__global__ void fill(unsigned *b, size_t n)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) b[i] = (unsigned)(i * 2654435761u) ^ (unsigned)(i >> 7);
}
__global__ void stir(unsigned *b, size_t n, unsigned k)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) b[i] = b[i] * 1664525u + k;
}
__global__ void fold(const unsigned *b, size_t n, unsigned long long *out)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) atomicAdd(out, (unsigned long long)(b[i] ^ (unsigned)i));
}

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
    size_t bn = (size_t)(getenv("RT_MB") ? atol(getenv("RT_MB")) : 0) << 18; // 4-byte words
    unsigned *big = NULL;
    unsigned blocks = (unsigned)((bn + 255) / 256);
    if (bn) {
        CK(cudaMalloc(&big, bn * 4));
        fill<<<blocks, 256, 0, s>>>(big, bn);
    }
    printf("buffer x=%p\n", (void *)x);
    fflush(stdout);
    for (int it = 1; it <= iters; it++) {
        step<<<n / 256, 256, 0, s>>>(x, y, n);
        if (bn) stir<<<blocks, 256, 0, s>>>(big, bn, (unsigned)it);
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
    unsigned long long bsum = 0, *dsum;
    if (bn) {
        CK(cudaMalloc(&dsum, sizeof bsum));
        CK(cudaMemset(dsum, 0, sizeof bsum));
        fold<<<blocks, 256, 0, s>>>(big, bn, dsum);
        CK(cudaMemcpy(&bsum, dsum, sizeof bsum, cudaMemcpyDeviceToHost));
    }
    if (c != iters) { fprintf(stderr, "counter %d != %d\n", c, iters); return 1; }
    printf("RESULT ok counter=%d x=%p sum=%.3f big=%llx\n", c, (void *)x, sum, bsum);
    return 0;
}
