/*
 * cuda_dlsym_dl.c - the Triton/XLA way in: dlopen("libcuda.so.1") and one
 * dlsym per exact driver name on that handle.  Prints where each pointer
 * points ("name -> symbol object") and runs a vector add.
 */
#include "tests/cudaprogs/cuprog.h"
#include <dlfcn.h>
#include <string.h>

static void *h;

static void *sym(const char *name)
{
    void *p = dlsym(h, name);
    Dl_info di;
    const char *obj = "?";
    if (p && dladdr(p, &di) && di.dli_fname) {
        obj = strrchr(di.dli_fname, '/');
        obj = obj ? obj + 1 : di.dli_fname;
    }
    printf("%s -> %s\n", name, p ? obj : "NULL");
    if (!p) exit(1);
    return p;
}

int main(void)
{
    h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    CUr (*init)(unsigned) = sym("cuInit");
    CUr (*devget)(ckcu_device_t *, int) = sym("cuDeviceGet");
    CUr (*ctxcreate)(ckcu_ctx_t *, void *, unsigned, ckcu_device_t) = sym("cuCtxCreate_v4");
    CUr (*alloc)(ckcu_deviceptr_t *, size_t) = sym("cuMemAlloc_v2");
    CUr (*mfree)(ckcu_deviceptr_t) = sym("cuMemFree_v2");
    CUr (*h2d)(ckcu_deviceptr_t, const void *, size_t) = sym("cuMemcpyHtoD_v2");
    CUr (*d2h)(void *, ckcu_deviceptr_t, size_t) = sym("cuMemcpyDtoH_v2");
    CUr (*lload)(ckcu_library_t *, const void *, void *, void **, unsigned, void *, void **, unsigned) =
        sym("cuLibraryLoadData");
    CUr (*getk)(ckcu_kernel_t *, ckcu_library_t, const char *) = sym("cuLibraryGetKernel");
    CUr (*k2f)(ckcu_function_t *, ckcu_kernel_t) = sym("cuKernelGetFunction");
    CUr (*lglob)(ckcu_deviceptr_t *, size_t *, ckcu_library_t, const char *) = sym("cuLibraryGetGlobal");
    CUr (*launch)(ckcu_function_t, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                  unsigned, ckcu_stream_t, void **, void **) = sym("cuLaunchKernel");
    CUr (*csync)(void) = sym("cuCtxSynchronize");
    ckcu_device_t dev;
    ckcu_ctx_t ctx;
    CK(init(0));
    CK(devget(&dev, 0));
    CK(ctxcreate(&ctx, NULL, 0, dev));
    enum { N = 512 };
    static float a[N], b[N], c[N];
    for (int i = 0; i < N; i++) { a[i] = 1.5f; b[i] = (float)i; }
    ckcu_deviceptr_t da, db, dc, g;
    size_t gsz;
    CK(alloc(&da, sizeof a));
    CK(alloc(&db, sizeof b));
    CK(alloc(&dc, sizeof c));
    CK(h2d(da, a, sizeof a));
    CK(h2d(db, b, sizeof b));
    ckcu_library_t lib;
    ckcu_kernel_t k;
    ckcu_function_t f;
    CK(lload(&lib, cuprog_ptx, NULL, NULL, 0, NULL, NULL, 0));
    CK(getk(&k, lib, "vadd"));
    CK(k2f(&f, k));
    CK(lglob(&g, &gsz, lib, "counter"));
    int n = N;
    void *args[] = { &da, &db, &dc, &n };
    CK(launch(f, 2, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CK(csync());
    CK(d2h(c, dc, sizeof c));
    for (int i = 0; i < N; i++)
        if (c[i] != 1.5f + (float)i) { fprintf(stderr, "mismatch at %d\n", i); return 1; }
    CK(mfree(db));
    printf("RESULT ok\n");
    return 0;
}
