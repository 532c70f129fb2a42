/*
 * drv_vadd.c - driver-API program for the GPU validation (run.sh): PTX module
 * from a file, a primary context or cuCtxCreate_v4, three buffers, a vector add,
 * then ITERS launches of incr (which also bumps the module global `counter`),
 * MS ms apart.  At the end every buffer and the global are checked.
 * Built on the GPU machine against the toolkit's cuda.h and the real libcuda.
 *
 *   drv_vadd PTX ITERS MS [ctx4]
 * Prints "buffer ib=0x..." once, "iteration N" lines, then
 * "RESULT ok counter=N ib=0x... sum=..." (sum: a checksum of the vadd output).
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CK(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { const char *s_ = "?"; \
    cuGetErrorName(r_, &s_); fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, s_); exit(1); } } while (0)
#define N (1 << 20)

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: %s PTX ITERS MS [ctx4]\n", argv[0]); return 2; }
    int iters = atoi(argv[2]), ms = atoi(argv[3]);
    CUdevice dev;
    CUcontext ctx;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    if (argc > 4 && !strcmp(argv[4], "ctx4")) {
        CK(cuCtxCreate(&ctx, NULL, 0, dev));
    } else {
        CK(cuDevicePrimaryCtxRetain(&ctx, dev));
        CK(cuCtxSetCurrent(ctx));
    }
    CUmodule mod;
    CUfunction fv, fi;
    CUdeviceptr a, b, c, ib, counter;
    size_t csz;
    CK(cuModuleLoad(&mod, argv[1]));
    CK(cuModuleGetFunction(&fv, mod, "vadd"));
    CK(cuModuleGetFunction(&fi, mod, "incr"));
    CK(cuModuleGetGlobal(&counter, &csz, mod, "counter"));
    CK(cuMemAlloc(&a, N * 4));
    CK(cuMemAlloc(&b, N * 4));
    CK(cuMemAlloc(&c, N * 4));
    CK(cuMemAlloc(&ib, N * 4));
    float *h = malloc(N * 4);
    int *hi = calloc(N, 4);
    for (int i = 0; i < N; i++) h[i] = (float)(i % 1000);
    CK(cuMemcpyHtoD(a, h, N * 4));
    CK(cuMemcpyHtoD(b, h, N * 4));
    CK(cuMemcpyHtoD(ib, hi, N * 4));
    int n = N;
    void *va[] = { &a, &b, &c, &n }, *ia[] = { &ib, &n };
    CK(cuLaunchKernel(fv, N / 256, 1, 1, 256, 1, 1, 0, NULL, va, NULL));
    printf("buffer ib=0x%llx\n", (unsigned long long)ib);
    fflush(stdout);
    for (int it = 1; it <= iters; it++) {
        CK(cuLaunchKernel(fi, N / 256, 1, 1, 256, 1, 1, 0, NULL, ia, NULL));
        CK(cuCtxSynchronize());
        printf("iteration %d\n", it);
        fflush(stdout);
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    unsigned cval = 0;
    CK(cuMemcpyDtoH(hi, ib, N * 4));
    CK(cuMemcpyDtoH(&cval, counter, 4));
    CK(cuMemcpyDtoH(h, c, N * 4));
    double sum = 0;
    for (int i = 0; i < N; i++) {
        if (hi[i] != iters) { fprintf(stderr, "buffer mismatch at %d: %d\n", i, hi[i]); return 1; }
        sum += h[i];
    }
    if ((int)cval != iters) { fprintf(stderr, "counter %u != %d\n", cval, iters); return 1; }
    printf("RESULT ok counter=%u ib=0x%llx sum=%.0f\n", cval, (unsigned long long)ib, sum);
    return 0;
}
