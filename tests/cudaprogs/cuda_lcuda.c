/*
 * cuda_lcuda.c - a driver-API program linked with -lcuda (the fake driver in
 * CI), binding the versioned names itself (cuMemAlloc_v2, cuCtxCreate_v4, ...).
 *
 *   cuda_lcuda [basic]     every tracked object kind once, results checked
 *   cuda_lcuda ctx4        same, with cuCtxCreate_v4 instead of the primary context
 *   cuda_lcuda free        frees the pitched and async buffers before exiting
 *   cuda_lcuda managed     also allocates managed memory (the gate must refuse)
 *   cuda_lcuda deref      dereferences a device pointer on the host (must fault)
 *   cuda_lcuda reset      simulated driver reset: old handles must be refused
 *   cuda_lcuda churn N    N allocate/free pairs, every 1000th buffer kept
 *   cuda_lcuda loop N MS [managed]   N iterations of kernels MS ms apart
 *                          (checkpoint tests); checks buffers and the module
 *                          global at the end; "managed" also keeps managed memory
 * Prints "RESULT ok ..." on success, exits 1 on any mismatch.
 */
#include "tests/cudaprogs/cuprog.h"
#include <dlfcn.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N 4096

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "basic";
    ckcu_device_t dev;
    ckcu_ctx_t ctx;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    if (!strcmp(mode, "ctx4")) {
        CK(cuCtxCreate_v4(&ctx, NULL, 0, dev));
    } else {
        CK(cuDevicePrimaryCtxRetain(&ctx, dev));
        CK(cuCtxSetCurrent(ctx));
    }
    ckcu_module_t mod;
    ckcu_function_t fvadd, fincr;
    ckcu_deviceptr_t counter;
    size_t csz;
    CK(cuModuleLoadData(&mod, cuprog_ptx));
    CK(cuModuleGetFunction(&fvadd, mod, "vadd"));
    CK(cuModuleGetFunction(&fincr, mod, "incr"));
    CK(cuModuleGetGlobal_v2(&counter, &csz, mod, "counter"));

    ckcu_deviceptr_t a, b, c;
    CK(cuMemAlloc_v2(&a, N * 4));
    CK(cuMemAlloc_v2(&b, N * 4));
    CK(cuMemAlloc_v2(&c, N * 4));
    static float ha[N], hb[N], hc[N];
    for (int i = 0; i < N; i++) { ha[i] = (float)i; hb[i] = 2.0f * (float)i; }
    CK(cuMemcpyHtoD_v2(a, ha, sizeof ha));
    CK(cuMemcpyHtoD_v2(b, hb, sizeof hb));
    int n = N;
    void *vargs[] = { &a, &b, &c, &n };
    CK(cuLaunchKernel(fvadd, N / 256, 1, 1, 256, 1, 1, 0, NULL, vargs, NULL));
    CK(cuMemcpyDtoH_v2(hc, c, sizeof hc));   /* same (default) stream: ordered after the kernel */
    for (int i = 0; i < N; i++)
        if (hc[i] != 3.0f * (float)i) { fprintf(stderr, "vadd mismatch at %d: %f\n", i, hc[i]); return 1; }

    ckcu_deviceptr_t pitched, asy;
    size_t pitch;
    ckcu_stream_t st;
    ckcu_event_t ev;
    void *pinned;
    CK(cuMemAllocPitch_v2(&pitched, &pitch, 1000, 16, 4));
    CK(cuStreamCreate(&st, 0));
    CK(cuMemAllocAsync(&asy, 8192, st));
    CK(cuEventCreate(&ev, 0));
    CK(cuMemHostAlloc(&pinned, 1 << 16, 0));
    ckcu_deviceptr_t va;
    ckcu_memhandle_t mh;
    ckcu_mem_alloc_prop_t prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CKCU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CKCU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = dev;
    CK(cuMemAddressReserve(&va, 2u << 20, 0, 0, 0));
    CK(cuMemCreate(&mh, 2u << 20, &prop, 0));
    CK(cuMemMap(va, 2u << 20, 0, mh, 0));
    ckcu_mem_access_desc_t acc = { { CKCU_MEM_LOCATION_TYPE_DEVICE, dev }, CKCU_MEM_ACCESS_FLAGS_PROT_READWRITE };
    CK(cuMemSetAccess(va, 2u << 20, &acc, 1));
    CK(cuMemcpyHtoD_v2(va, ha, sizeof ha));
    CK(cuMemcpyDtoH_v2(hc, va, sizeof hc));
    if (memcmp(hc, ha, sizeof ha)) { fprintf(stderr, "VMM copy mismatch\n"); return 1; }

    if (!strcmp(mode, "churn")) {
        int iters = argc > 2 ? atoi(argv[2]) : 200000, kept = 0;
        for (int i = 0; i < iters; i++) {
            ckcu_deviceptr_t p;
            CK(cuMemAlloc_v2(&p, 256));
            if (i % 1000 == 0) kept++;
            else CK(cuMemFree_v2(p));
        }
        printf("RESULT ok kept=%d\n", kept);
        return 0;
    }
    if (!strcmp(mode, "deref")) {
        printf("reading device memory from the host\n");
        fflush(stdout);
        volatile int *p = (volatile int *)(uintptr_t)a;
        printf("read %d: device memory is host-accessible\n", *p);
        return 0;
    }
    if (!strcmp(mode, "reset")) {
        void (*reset)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "fakecuda_simulate_reset");
        if (!reset) { fprintf(stderr, "not the fake driver\n"); return 1; }
        reset();
        ckcu_function_t f2;
        printf("after reset: getfunction=%d free=%d ctxcurrent_alloc=%d\n",
               cuModuleGetFunction(&f2, mod, "vadd"), cuMemFree_v2(a), cuMemAlloc_v2(&pitched, 64));
        return 0;
    }
    if (!strcmp(mode, "managed")) {
        ckcu_deviceptr_t m;
        CK(cuMemAllocManaged(&m, 4096, CKCU_MEM_ATTACH_GLOBAL));
        ((int *)(uintptr_t)m)[0] = 42;   /* managed memory is host-accessible */
    }
    if (!strcmp(mode, "free")) {
        CK(cuMemFree_v2(pitched));
        CK(cuMemFreeAsync(asy, st));
        CK(cuStreamSynchronize(st));
    }
    if (!strcmp(mode, "loop")) {
        int iters = argc > 2 ? atoi(argv[2]) : 20, ms = argc > 3 ? atoi(argv[3]) : 100;
        static int hbuf[N];
        ckcu_deviceptr_t ib;
        CK(cuMemAlloc_v2(&ib, sizeof hbuf));
        CK(cuMemcpyHtoD_v2(ib, hbuf, sizeof hbuf));
        if (argc > 4 && !strcmp(argv[4], "managed")) {
            ckcu_deviceptr_t m;
            CK(cuMemAllocManaged(&m, 4096, CKCU_MEM_ATTACH_GLOBAL));
        }
        printf("buffer ib=0x%llx\n", (unsigned long long)ib);
        void *iargs[] = { &ib, &n };
        for (int it = 1; it <= iters; it++) {
            CK(cuLaunchKernel(fincr, N / 256, 1, 1, 256, 1, 1, 0, st, iargs, NULL));
            CK(cuStreamSynchronize(st));
            printf("iteration %d\n", it);
            fflush(stdout);
            struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
        CK(cuMemcpyDtoH_v2(hbuf, ib, sizeof hbuf));
        unsigned cval = 0;
        CK(cuMemcpyDtoH_v2(&cval, counter, 4));
        for (int i = 0; i < N; i++)
            if (hbuf[i] != iters) { fprintf(stderr, "buffer mismatch at %d: %d\n", i, hbuf[i]); return 1; }
        if ((int)cval != iters) { fprintf(stderr, "counter %u != %d\n", cval, iters); return 1; }
        CK(cuMemcpyDtoH_v2(hc, c, sizeof hc));
        for (int i = 0; i < N; i++)
            if (hc[i] != 3.0f * (float)i) { fprintf(stderr, "vadd result lost at %d\n", i); return 1; }
        int state = -1;
        if (cuCheckpointProcessGetState((int)getpid(), &state) == 0 && state != CKCU_PROCESS_RUNNING) {
            fprintf(stderr, "CUDA process state %d, not RUNNING\n", state);
            return 1;
        }
        printf("RESULT ok counter=%u ib=0x%llx\n", cval, (unsigned long long)ib);
        return 0;
    }
    printf("RESULT ok mode=%s a=0x%llx\n", mode, (unsigned long long)a);
    return 0;
}
