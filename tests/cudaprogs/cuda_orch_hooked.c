/*
 * cuda_orch_hooked.c - drives cuda_hooks' checkpoint orchestration directly.
 * The executable is linked with the cuda_hooks sources and -rdynamic, so it
 * exports the wrappers itself (the preload's role) and can call the hidden
 * ckpt_cuda_* functions that libckpt's capture code calls.
 *
 *   cycle        gate, before_checkpoint (Lock+Checkpoint), serialise, data
 *                copies, after_checkpoint (Restore+Unlock), keep computing
 *   stale        control: the fake driver really is asynchronous
 *   managed      the gate refuses managed memory, the device stays RUNNING
 *   noapi        a driver without cuCheckpointProcess* is refused clearly
 *   restorefail  a failing Restore is reported (and stays failed: 304)
 *   locktimeout  a call stuck in the driver makes Lock time out, not hang
 *   gate [ipc|multigpu]  prints the gate's verdict after the optional action
 *   states       the fake driver's checkpoint state machine, called directly
 *   newproc      before_checkpoint, then the restored-process path
 *                (ckpt_cuda_after_restore)
 */
#include "tests/cudaprogs/cuprog.h"
#include "cuda_hooks/cuda_ckpt.h"
#include "cuda_hooks/cuda_state.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

CUr cuMemGetInfo_v2(size_t *, size_t *);
CUr cuIpcGetMemHandle(ckcu_ipc_handle_t *, ckcu_deviceptr_t);
CUr cuCheckpointProcessLock(int, ckcu_ckpt_lock_args_t *);
CUr cuCheckpointProcessCheckpoint(int, ckcu_ckpt_checkpoint_args_t *);
CUr cuCheckpointProcessRestore(int, ckcu_ckpt_restore_args_t *);
CUr cuCheckpointProcessUnlock(int, ckcu_ckpt_unlock_args_t *);
CUr cuLaunchKernel(ckcu_function_t, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                   unsigned, ckcu_stream_t, void **, void **);

enum { N = 2048 };
static ckcu_ctx_t ctx;
static ckcu_module_t mod;
static ckcu_function_t fslow, fincr;
static ckcu_deviceptr_t a, b;
static ckcu_stream_t st;

static int state(void)
{
    int s = -1;
    cuCheckpointProcessGetState((int)getpid(), &s);
    return s;
}

static void setup(void)
{
    ckcu_device_t dev;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, cuprog_ptx));
    CK(cuModuleGetFunction(&fslow, mod, "slow_fill"));
    CK(cuModuleGetFunction(&fincr, mod, "incr"));
    CK(cuMemAlloc_v2(&a, N * 4));
    CK(cuMemAlloc_v2(&b, N * 4));
    CK(cuStreamCreate(&st, CKCU_STREAM_NON_BLOCKING));
    static int hb[N];
    for (int i = 0; i < N; i++) hb[i] = i;
    CK(cuMemcpyHtoD_v2(b, hb, sizeof hb));
}

static void slow_fill(int value)
{
    int n = N;
    void *args[] = { &a, &n, &value };
    CK(cuLaunchKernel(fslow, 8, 1, 1, 256, 1, 1, 0, st, args, NULL));
}

static int check_buf(ckcu_deviceptr_t d, int base, int step)
{
    static int h[N];
    CK(cuMemcpyDtoH_v2(h, d, sizeof h));
    for (int i = 0; i < N; i++)
        if (h[i] != base + step * i) return 0;
    return 1;
}

static int maps_has(const char *what)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, what)) found = 1;
    if (f) fclose(f);
    return found;
}

static int cycle(void)
{
    char why[256] = "";
    slow_fill(7);                 /* still running when the checkpoint starts */
    if (ckpt_cuda_gate(why, sizeof why)) { printf("gate: %s\n", why); return 1; }
    int r = ckpt_cuda_before_checkpoint(5000, why, sizeof why);
    printf("before_checkpoint=%d %s\n", r, why);
    if (r) return 1;
    printf("state=%d device_mapped=%d\n", state(), maps_has("fakecuda-device"));

    size_t need = ckpt_cuda_serialize(NULL, 0);
    char small[16];
    size_t again = ckpt_cuda_serialize(small, sizeof small);
    char *img = malloc(need);
    size_t got = ckpt_cuda_serialize(img, need);
    if (!need || again != need || got != need || ckcu_img_check(img, got)) {
        printf("serialize failed: need=%zu again=%zu got=%zu\n", need, again, got);
        return 1;
    }
    const ckcu_img_header *h = (const ckcu_img_header *)img;
    printf("image version=%u.%u devices=%u records=%u flags=0x%x driver=%d device_bytes=%llu\n",
           h->version_major, h->version_minor, h->ndevices, h->nrecords, h->flags,
           h->driver_version, (unsigned long long)h->device_bytes);
    const ckcu_img_device *dv = (const ckcu_img_device *)(img + h->header_size);
    printf("device %d name=%s uuid0=%02x total=%llu\n", dv->ordinal, dv->name, dv->uuid[0],
           (unsigned long long)dv->total_mem);
    int kinds[CKCU_K_LAST] = { 0 };
    for (uint32_t i = 0; i < h->nrecords; i++) {
        const ckcu_img_record *rec = (const ckcu_img_record *)(img + h->records_off + (size_t)i * h->record_size);
        if (rec->kind < CKCU_K_LAST) kinds[rec->kind]++;
        if (rec->kind == CKCU_K_FUNCTION)
            printf("record function name=%.*s\n", (int)rec->name_len, img + h->strings_off + rec->name_off);
    }
    printf("records ctx=%d alloc=%d module=%d function=%d global=%d stream=%d\n", kinds[CKCU_K_CTX],
           kinds[CKCU_K_ALLOC], kinds[CKCU_K_MODULE], kinds[CKCU_K_FUNCTION], kinds[CKCU_K_GLOBAL],
           kinds[CKCU_K_STREAM]);
    free(img);

    int ndata = 0, a_ok = -1, b_ok = -1;
    uint64_t dptr;
    const void *host;
    size_t len;
    for (size_t i = 0; ckpt_cuda_data_get(i, &dptr, &host, &len) == 0; i++) {
        const int *v = host;
        int ok = 1;
        for (size_t k = 0; k < len / 4; k++)
            if (v[k] != (dptr == a ? 7 : (int)k)) ok = 0;
        if (dptr == a) a_ok = ok;
        if (dptr == b) b_ok = ok;
        if (ckpt_cuda_data_range((uintptr_t)host, len) != 1) ok = 0;
        ndata++;
    }
    printf("data buffers=%d a_synced=%d b_ok=%d\n", ndata, a_ok, b_ok);
    ckpt_cuda_data_release();

    r = ckpt_cuda_after_checkpoint(why, sizeof why);
    printf("after_checkpoint=%d %s state=%d device_mapped=%d\n", r, why, state(), maps_has("fakecuda-device"));
    if (r) return 1;
    int n = N;
    void *args[] = { &b, &n };
    CK(cuLaunchKernel(fincr, 8, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    printf("after: a=%d b=%d\n", check_buf(a, 7, 0), check_buf(b, 1, 1));
    return 0;
}

static void *hold(void *x)
{
    size_t f, t;
    CK(cuCtxSetCurrent(ctx));
    CK(cuMemGetInfo_v2(&f, &t));
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "cycle";
    char why[256] = "";
    setup();
    if (!strcmp(mode, "cycle")) {
        if (cycle()) return 1;
    } else if (!strcmp(mode, "stale")) {
        slow_fill(7);
        printf("stale=%d\n", !check_buf(a, 7, 0));     /* legacy-stream copy does not wait */
        CK(cuStreamSynchronize(st));
        printf("synced=%d\n", check_buf(a, 7, 0));
    } else if (!strcmp(mode, "managed")) {
        ckcu_deviceptr_t m;
        CK(cuMemAllocManaged(&m, 4096, CKCU_MEM_ATTACH_GLOBAL));
        int g = ckpt_cuda_gate(why, sizeof why);
        printf("gate=%d %s\n", g == -ENOTSUP ? -1 : g, why);
        why[0] = 0;
        int r = ckpt_cuda_before_checkpoint(1000, why, sizeof why);
        printf("before_checkpoint=%d state=%d\n", r == -ENOTSUP ? -1 : r, state());
        CK(cuMemFree_v2(m));
        printf("gate after free=%d\n", ckpt_cuda_gate(why, sizeof why));
    } else if (!strcmp(mode, "noapi")) {
        int r = ckpt_cuda_before_checkpoint(1000, why, sizeof why);
        printf("before_checkpoint=%d %s\n", r == -ENOTSUP ? -1 : r, why);
    } else if (!strcmp(mode, "restorefail")) {
        int r = ckpt_cuda_before_checkpoint(1000, why, sizeof why);
        printf("before_checkpoint=%d\n", r);
        r = ckpt_cuda_after_checkpoint(why, sizeof why);
        printf("after_checkpoint=%d %s\n", r, why);
        r = ckpt_cuda_after_checkpoint(why, sizeof why);
        printf("again=%d %s state=%d\n", r, why, state());
    } else if (!strcmp(mode, "gate")) {
        const char *act = argc > 2 ? argv[2] : "";
        if (!strcmp(act, "ipc")) {
            ckcu_ipc_handle_t ih;
            CK(cuIpcGetMemHandle(&ih, a));
        } else if (!strcmp(act, "multigpu")) {
            ckcu_ctx_t c1;
            CK(cuDevicePrimaryCtxRetain(&c1, 1));
        }
        int g = ckpt_cuda_gate(why, sizeof why);
        printf("gate=%d %s\n", g == -ENOTSUP ? -1 : g, g ? why : "ok");
    } else if (!strcmp(mode, "states")) {
        int pid = (int)getpid();
        ckcu_ckpt_lock_args_t la = { 0 };
        la.timeout_ms = 1000;
        ckcu_ckpt_lock_args_t bad = la;
        bad.reserved1[3] = 1;
        /* one call per statement: argument evaluation order is unspecified */
        int u = cuCheckpointProcessUnlock(pid, NULL);
        int c = cuCheckpointProcessCheckpoint(pid, NULL);
        int r = cuCheckpointProcessRestore(pid, NULL);
        int f = cuCheckpointProcessLock(pid + 100000, &la);
        int z = cuCheckpointProcessLock(pid, &bad);
        printf("running: unlock=%d checkpoint=%d restore=%d foreign=%d reserved=%d\n", u, c, r, f, z);
        int l = cuCheckpointProcessLock(pid, &la), s1 = state();
        int l2 = cuCheckpointProcessLock(pid, &la);
        printf("lock=%d state=%d lock-again=%d\n", l, s1, l2);
        c = cuCheckpointProcessCheckpoint(pid, NULL);
        s1 = state();
        u = cuCheckpointProcessUnlock(pid, NULL);
        printf("checkpoint=%d state=%d unlock=%d\n", c, s1, u);
        r = cuCheckpointProcessRestore(pid, NULL);
        s1 = state();
        u = cuCheckpointProcessUnlock(pid, NULL);
        printf("restore=%d state=%d unlock=%d state=%d\n", r, s1, u, state());
    } else if (!strcmp(mode, "newproc")) {
        int r = ckpt_cuda_before_checkpoint(1000, why, sizeof why);
        printf("before_checkpoint=%d\n", r);
        r = ckpt_cuda_after_restore(why, sizeof why);
        printf("after_restore=%d state=%d a=%d\n", r, state(), check_buf(b, 0, 1));
    } else if (!strcmp(mode, "locktimeout")) {
        pthread_t t;
        pthread_create(&t, NULL, hold, NULL);
        usleep(100000);
        int r = ckpt_cuda_before_checkpoint(300, why, sizeof why);
        printf("before_checkpoint=%d %s state=%d\n", r == -ETIMEDOUT ? -2 : r, why, state());
        pthread_join(t, NULL);
        r = ckpt_cuda_before_checkpoint(3000, why, sizeof why);
        printf("retry=%d state=%d\n", r, state());
        r = ckpt_cuda_after_checkpoint(why, sizeof why);
        printf("after=%d state=%d\n", r, state());
    }
    printf("RESULT ok\n");
    return 0;
}
