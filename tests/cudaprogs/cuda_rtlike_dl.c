/*
 * cuda_rtlike_dl.c - imitates how cudart 13 reaches the driver: dlopen of
 * libcuda.so.1, exactly one dlsym (cuGetProcAddress_v2), then every lookup
 * recorded from the real static cudart (research/cudart13-lookups.txt), with
 * its version and flags; then a vector add through the looked-up pointers.
 *
 *   cuda_rtlike_dl LOOKUPS OUT
 * OUT gets one line per lookup: "sym ver flags -> result status name object",
 * where name/object say which exported symbol the returned pointer is
 * (dladdr), so a test sees exactly which variant and which library it got.
 */
#include "tests/cudaprogs/cuprog.h"
#include <dlfcn.h>
#include <string.h>

typedef CUr (*gpa2_t)(const char *, void **, int, ckcu_u64_t, int *);
typedef CUr (*gpa1_t)(const char *, void **, int, ckcu_u64_t);
static gpa2_t gpa;

static void *get(const char *sym, int ver, int flags)
{
    void *p = NULL;
    int st = -1;
    CK(gpa(sym, &p, ver, (ckcu_u64_t)flags, &st));
    if (!p) { fprintf(stderr, "lookup %s %d %d gave NULL (status %d)\n", sym, ver, flags, st); exit(1); }
    return p;
}

static void describe(void *p, char *out, size_t n)
{
    Dl_info di;
    if (!p) { snprintf(out, n, "NULL -"); return; }
    if (!dladdr(p, &di) || !di.dli_fname) { snprintf(out, n, "? ?"); return; }
    const char *base = strrchr(di.dli_fname, '/');
    snprintf(out, n, "%s %s", di.dli_sname ? di.dli_sname : "?", base ? base + 1 : di.dli_fname);
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: %s LOOKUPS OUT\n", argv[0]); return 2; }
    void *h = dlopen("libcuda.so.1", RTLD_NOW);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    gpa = (gpa2_t)dlsym(h, "cuGetProcAddress_v2");
    if (!gpa) { fprintf(stderr, "no cuGetProcAddress_v2\n"); return 1; }
    FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "w");
    if (!in || !out) { perror("open"); return 1; }
    char line[512], desc[300];
    describe((void *)gpa, desc, sizeof desc);
    fprintf(out, "dlsym cuGetProcAddress_v2 -> %s\n", desc);
    int nlook = 0;
    while (fgets(line, sizeof line, in)) {
        char sym[128] = "";
        int ver = 0, flags = 0;
        char *v = strstr(line, "ver="), *f = strstr(line, "flags=");
        if (strncmp(line, "GPA_v2 ", 7) || !v || !f) continue;
        sscanf(line + 7, "%127s", sym);
        if (!strncmp(sym, "ver=", 4)) sym[0] = 0;        /* the empty-name probe */
        ver = atoi(v + 4);
        flags = atoi(f + 6);
        void *p = NULL;
        int st = -1;
        CUr r = gpa(sym, &p, ver, (ckcu_u64_t)flags, &st);
        describe(p, desc, sizeof desc);
        fprintf(out, "%s %d %d -> %d %d %s\n", sym[0] ? sym : "(empty)", ver, flags, r, st, desc);
        nlook++;
    }
    fclose(in);
    /* Documented rules seen through the wrappers. */
    void *p = (void *)1;
    int st = -1;
    fprintf(out, "toonew -> %d\n", gpa("cuMemAlloc", &p, 99000, 0, &st));
    gpa1_t gpa1 = (gpa1_t)get("cuGetProcAddress", 11030, 0);
    void *p1 = NULL, *p2 = get("cuMemAlloc", 3020, 0);
    CK(gpa1("cuMemAlloc", &p1, 3020, 0));
    fprintf(out, "v1-v2-agree %d\n", p1 == p2);
    CUr (*exptab)(const void **, const ckcu_uuid_t *) =
        (CUr (*)(const void **, const ckcu_uuid_t *))get("cuGetExportTable", 3000, 0);
    const void *tbl;
    ckcu_uuid_t id = { { 0 } };
    fprintf(out, "exporttable -> %d\n", exptab(&tbl, &id));
    fclose(out);

    /* A cudaMalloc-style vector add through the lookup results. */
    CUr (*init)(unsigned) = get("cuInit", 2000, 0);
    CUr (*devget)(ckcu_device_t *, int) = get("cuDeviceGet", 2000, 0);
    CUr (*retain)(ckcu_ctx_t *, ckcu_device_t) = get("cuDevicePrimaryCtxRetain", 7000, 0);
    CUr (*setcur)(ckcu_ctx_t) = get("cuCtxSetCurrent", 4000, 0);
    CUr (*alloc)(ckcu_deviceptr_t *, size_t) = get("cuMemAlloc", 3020, 0);
    CUr (*mfree)(ckcu_deviceptr_t) = get("cuMemFree", 3020, 0);
    CUr (*h2d)(ckcu_deviceptr_t, const void *, size_t) = get("cuMemcpyHtoD", 7000, 2);
    CUr (*d2h)(void *, ckcu_deviceptr_t, size_t) = get("cuMemcpyDtoH", 7000, 2);
    CUr (*load)(ckcu_module_t *, const void *) = get("cuModuleLoadData", 2000, 0);
    CUr (*getf)(ckcu_function_t *, ckcu_module_t, const char *) = get("cuModuleGetFunction", 2000, 0);
    CUr (*launch)(ckcu_function_t, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                  unsigned, ckcu_stream_t, void **, void **) = get("cuLaunchKernel", 7000, 2);
    CUr (*ssync)(ckcu_stream_t) = get("cuStreamSynchronize", 7000, 2);
    CUr (*aalloc)(ckcu_deviceptr_t *, size_t, ckcu_stream_t) = get("cuMemAllocAsync", 11020, 2);
    CUr (*halloc)(void **, size_t, unsigned) = get("cuMemHostAlloc", 2020, 0);
    ckcu_device_t dev;
    ckcu_ctx_t ctx;
    CK(init(0));
    CK(devget(&dev, 0));
    CK(retain(&ctx, dev));
    CK(setcur(ctx));
    enum { N = 1000 };
    static float a[N], b[N], c[N];
    for (int i = 0; i < N; i++) { a[i] = (float)i; b[i] = 1.0f; }
    ckcu_deviceptr_t da, db, dc, dx, das;
    CK(alloc(&da, sizeof a));
    CK(alloc(&db, sizeof b));
    CK(alloc(&dc, sizeof c));
    CK(alloc(&dx, 64));
    CK(h2d(da, a, sizeof a));
    CK(h2d(db, b, sizeof b));
    ckcu_module_t m;
    ckcu_function_t f;
    CK(load(&m, cuprog_ptx));
    CK(getf(&f, m, "vadd"));
    int n = N;
    void *args[] = { &da, &db, &dc, &n };
    CK(launch(f, 4, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    CK(ssync(NULL));
    CK(d2h(c, dc, sizeof c));
    for (int i = 0; i < N; i++)
        if (c[i] != (float)i + 1.0f) { fprintf(stderr, "mismatch at %d\n", i); return 1; }
    CK(mfree(dx));
    CK(aalloc(&das, 4096, NULL));
    void *pinned;
    CK(halloc(&pinned, 8192, 0));
    printf("RESULT ok lookups=%d\n", nlook);
    return 0;
}
