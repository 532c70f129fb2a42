/*
 * cuda_ckpt.c - GPU checkpoint orchestration (implements cuda_ckpt.h).
 *
 * Device state is saved by the driver itself through cuCheckpointProcess* on
 * our own pid (research/cuda.md §2.3, approach (c)):
 *
 *   running program:  Lock(timeout) -> Checkpoint  [CPU capture]  Restore -> Unlock
 *   restored process: Restore -> Unlock            (state must end RUNNING)
 *
 * Lock waits for in-flight work and blocks further API calls; Checkpoint moves
 * device memory into host memory owned by the driver (so it becomes part of our
 * CPU image) and releases the GPU.  The tracking done by cuda_track.c is not
 * needed to move data; it gives the feature gate (managed memory, IPC, several
 * devices, MPS, MIG are refused before anything is touched), the preflight
 * (free device memory before Restore: a failed Restore leaves the process
 * CHECKPOINTED for good, cuda-checkpoint#44), the CKF_T_CUDA metadata and the
 * optional data copies (CKPT_CUDA_DATA=1).
 *
 * Never hang: Lock has the driver's own timeout; Checkpoint and Restore, which
 * have none, run on a helper thread that we wait for at most
 * CKPT_CUDA_TIMEOUT_MS (default 300 s).  A call that times out is reported and
 * abandoned (its thread keeps the static call slot; later calls are refused);
 * a helper that returned in time is joined before we go on.
 *
 * Threads: before/after_* run on libckpt's manager thread, in normal context.
 * ckpt_cuda_serialize and ckpt_cuda_data_get only read and are
 * async-signal-safe.  All driver calls here go through the real (next)
 * pointers, never through our wrappers.
 *
 * Known limitations: MPS and MIG are detected from the environment
 * (CUDA_MPS_PIPE_DIRECTORY or /tmp/nvidia-mps, MIG- device ids, "MIG" in the
 * device name); the free-memory preflight needs NVML (libnvidia-ml.so.1) and is
 * skipped without it; restoring onto different GPUs (gpuPairs) is not offered.
 */
#include "cuda_hooks/cuda_ckpt.h"
#include "cuda_hooks/cuda_int.h"
#include "preload/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WHY(...) do { if (why && whylen) ck_snprintf(why, whylen, __VA_ARGS__); } while (0)

static int g_checkpointed;          /* we moved the device state to the host */
static uint32_t g_img_flags;

static const char *state_name(int s)
{
    switch (s) {
    case CKCU_PROCESS_RUNNING: return "RUNNING";
    case CKCU_PROCESS_LOCKED: return "LOCKED";
    case CKCU_PROCESS_CHECKPOINTED: return "CHECKPOINTED";
    case CKCU_PROCESS_FAILED: return "FAILED";
    default: return "UNKNOWN";
    }
}

static const char *err_name(ckcu_result_t r)
{
    const char *s = NULL;
    if (cu_real(CUI_cuGetErrorName) && CU_REAL(cuGetErrorName)(r, &s) == 0 && s) return s;
    return "CUDA_ERROR";
}

static int my_pid(void) { return (int)syscall(SYS_getpid); }

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int g_forked_pid;            /* pid that ckpt_cuda_atfork_child() marked */

CK_HIDDEN int ckpt_cuda_active(void)
{
    if (!cu_active || cu_mode == CU_MODE_OFF) return 0;
    if (cu_forked) {
        /* libckpt's image writer marks itself forked before it dumps its own
         * memory, so a restored image carries the mark: it only counts in
         * the process that set it. */
        if (g_forked_pid == my_pid()) return 0;
        cu_forked = 0;
        g_forked_pid = 0;
    }
    return 1;
}

/* ---- feature gate ------------------------------------------------------------------ */
static int mps_client(void)
{
    const char *d = getenv("CUDA_MPS_PIPE_DIRECTORY");
    char p[512];
    ck_snprintf(p, sizeof p, "%s/control", d && *d ? d : "/tmp/nvidia-mps");
    return access(p, F_OK) == 0;
}

static int mig_instance(void)
{
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    if (v && strstr(v, "MIG-")) return 1;
    for (int i = 0; i < CU_MAX_DEVICES; i++)
        if (cu_devices[i].known && strstr(cu_devices[i].d.name, " MIG ")) return 1;
    return 0;
}

CK_HIDDEN uint32_t cu_gate_bits(void)
{
    uint32_t b = __atomic_load_n(&cu_gate_sticky, __ATOMIC_RELAXED);
    if (trk_live(CKCU_K_MANAGED)) b |= CKCU_GATE_MANAGED;
    if (__builtin_popcount(cu_dev_mask) > 1) b |= CKCU_GATE_MULTI_GPU;
    if (mps_client()) b |= CKCU_GATE_MPS;
    if (mig_instance()) b |= CKCU_GATE_MIG;
    return b;
}

CK_HIDDEN const char *cu_gate_reason(uint32_t b)
{
    if (b & CKCU_GATE_MANAGED)
        return "CUDA managed memory is in use (cuMemAllocManaged or __managed__): the CUDA driver cannot checkpoint it";
    if (b & CKCU_GATE_IPC)
        return "CUDA IPC or shareable memory handles were used: the CUDA driver cannot checkpoint them";
    if (b & CKCU_GATE_MULTI_GPU)
        return "more than one GPU (or peer access) is in use: only single-GPU CUDA checkpoints are supported";
    if (b & CKCU_GATE_MPS)
        return "the program is an MPS client: the CUDA driver cannot checkpoint under MPS";
    if (b & CKCU_GATE_MIG)
        return "the program runs on a MIG instance: the CUDA driver cannot checkpoint MIG";
    return "ok";
}

CK_HIDDEN int ckpt_cuda_gate(char *why, size_t whylen)
{
    if (!ckpt_cuda_active()) return 0;
    uint32_t b = cu_gate_bits();
    if (!b) return 0;
    WHY("%s", cu_gate_reason(b));
    return -ENOTSUP;
}

/* ---- driver calls with a deadline ---------------------------------------------------- */
enum { OP_CHECKPOINT, OP_RESTORE };
static struct tcall {
    int busy;                  /* 1 while a helper thread owns the slot */
    int op, pid;
    ckcu_result_t ret;
    sem_t done;
    int sem_ok;
} g_call;

static void *tcall_main(void *arg)
{
    struct tcall *c = arg;
    if (c->op == OP_CHECKPOINT) {
        ckcu_ckpt_checkpoint_args_t a;
        memset(&a, 0, sizeof a);
        c->ret = CU_REAL(cuCheckpointProcessCheckpoint)(c->pid, &a);
    } else {
        ckcu_ckpt_restore_args_t a;
        memset(&a, 0, sizeof a);
        c->ret = CU_REAL(cuCheckpointProcessRestore)(c->pid, &a);
    }
    __atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
    sem_post(&c->done);
    return NULL;
}

static unsigned call_timeout_ms(void)
{
    const char *s = getenv("CKPT_CUDA_TIMEOUT_MS");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? (unsigned)v : 300000u;
}

/* Runs op on a helper thread; CKCU_ERROR_TIMEOUT if it does not return in time. */
static ckcu_result_t call_bounded(int op, int pid, unsigned ms)
{
    struct tcall *c = &g_call;
    if (__atomic_load_n(&c->busy, __ATOMIC_ACQUIRE)) return CKCU_ERROR_TIMEOUT;
    if (!c->sem_ok) { sem_init(&c->done, 0, 0); c->sem_ok = 1; }
    while (sem_trywait(&c->done) == 0) {}
    c->op = op;
    c->pid = pid;
    c->ret = CKCU_ERROR_UNKNOWN;
    c->busy = 1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int e = pthread_create(&t, NULL, tcall_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        /* No thread: call directly (cannot bound it, but must not fail for this). */
        tcall_main(c);
        while (sem_trywait(&c->done) == 0) {}
        return c->ret;
    }
    pthread_setname_np(t, "ckpt-cuda");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    while (sem_timedwait(&c->done, &ts) != 0) {
        if (errno == EINTR) continue;
        ck_err("cuda: %s did not return within %u ms; abandoning it",
               op == OP_CHECKPOINT ? "cuCheckpointProcessCheckpoint" : "cuCheckpointProcessRestore", ms);
        pthread_detach(t);
        return CKCU_ERROR_TIMEOUT;
    }
    /* Joined, not detached: no half-exited helper may be caught by the
     * checkpoint that follows. */
    pthread_join(t, NULL);
    return c->ret;
}

static int get_state(int pid, int *st)
{
    *st = -1;
    ckcu_result_t r = CU_REAL(cuCheckpointProcessGetState)(pid, st);
    return r == CKCU_SUCCESS ? 0 : -(int)r;
}

static int unlock(int pid)
{
    ckcu_ckpt_unlock_args_t a;
    memset(&a, 0, sizeof a);
    return CU_REAL(cuCheckpointProcessUnlock)(pid, &a);
}

static int have_ckpt_api(void)
{
    return cu_real(CUI_cuCheckpointProcessLock) && cu_real(CUI_cuCheckpointProcessCheckpoint) &&
           cu_real(CUI_cuCheckpointProcessRestore) && cu_real(CUI_cuCheckpointProcessUnlock) &&
           cu_real(CUI_cuCheckpointProcessGetState);
}

/* ---- contexts, for our own driver calls (copies, memory info) ------------------------ */
/* Calls fn(ctx, device, arg) with each tracked context current on this thread. */
static void each_ctx(void (*fn)(ckcu_ctx_t, int, void *), void *arg)
{
    uint32_t hw = trk_highwater();
    for (uint32_t i = 0; i < hw; i++) {
        const trk_rec *t = trk_slot(i);
        if (!__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) || t->r.kind != CKCU_K_CTX) continue;
        ckcu_ctx_t c = (ckcu_ctx_t)(uintptr_t)t->r.key;
        if (CU_REAL(cuCtxPushCurrent_v2)(c) != CKCU_SUCCESS) continue;
        fn(c, t->r.device, arg);
        ckcu_ctx_t old;
        CU_REAL(cuCtxPopCurrent_v2)(&old);
    }
}

static void note_free_mem(ckcu_ctx_t c, int dev, void *arg)
{
    size_t fr = 0, tot = 0;
    if (dev >= 0 && dev < CU_MAX_DEVICES && CU_REAL(cuMemGetInfo_v2)(&fr, &tot) == CKCU_SUCCESS)
        cu_devices[dev].d.free_mem = fr;
}

/* ---- optional device data copies (CKPT_CUDA_DATA=1) --------------------------------- */
struct data_buf { uint64_t dptr; void *host; size_t len; };
static struct data_buf *g_data;
static size_t g_ndata, g_data_cap;
static void *g_data_area;
static size_t g_data_area_len;

static int want_data(void)
{
    const char *s = getenv("CKPT_CUDA_DATA");
    return s && *s && strcmp(s, "0");
}

static size_t page_up(size_t n) { return (n + 4095) & ~(size_t)4095; }

struct copy_ctx { int err; size_t off; };

static void copy_ctx_bufs(ckcu_ctx_t c, int dev, void *arg)
{
    struct copy_ctx *cc = arg;
    /* Drain every stream of the context first: copying while kernels still
     * run would store stale data (the fake driver's async streams catch this). */
    ckcu_result_t r = CU_REAL(cuCtxSynchronize)();
    if (r) { ck_err("cuda: cuCtxSynchronize failed: %d", r); cc->err = -EIO; return; }
    uint32_t hw = trk_highwater();
    for (uint32_t i = 0; i < hw && !cc->err; i++) {
        const trk_rec *t = trk_slot(i);
        if (!t->state || t->r.ctx != (uint64_t)(uintptr_t)c) continue;
        if (t->r.kind != CKCU_K_ALLOC && t->r.kind != CKCU_K_VMM_MAP) continue;
        if (g_ndata >= g_data_cap || cc->off + page_up(t->r.size) > g_data_area_len) break;
        struct data_buf *b = &g_data[g_ndata];
        b->dptr = t->r.key;
        b->len = t->r.size;
        b->host = (char *)g_data_area + cc->off;
        r = CU_REAL(cuMemcpyDtoH_v2)(b->host, b->dptr, b->len);
        if (r) {
            ck_err("cuda: copying device buffer 0x%llx (%zu bytes) failed: %d",
                   (unsigned long long)b->dptr, b->len, r);
            cc->err = -EIO;
            return;
        }
        cc->off += page_up(b->len);
        g_ndata++;
    }
}

CK_HIDDEN void ckpt_cuda_data_release(void)
{
    if (g_data_area) munmap(g_data_area, g_data_area_len);
    if (g_data) munmap(g_data, g_data_cap * sizeof *g_data);
    g_data_area = NULL;
    g_data = NULL;
    g_ndata = g_data_cap = g_data_area_len = 0;
    g_img_flags &= ~CKCU_IF_DATA;
}

static int data_copy(char *why, size_t whylen)
{
    ckpt_cuda_data_release();
    size_t n = 0, bytes = 0;
    uint32_t hw = trk_highwater();
    for (uint32_t i = 0; i < hw; i++) {
        const trk_rec *t = trk_slot(i);
        if (!t->state || (t->r.kind != CKCU_K_ALLOC && t->r.kind != CKCU_K_VMM_MAP)) continue;
        n++;
        bytes += page_up(t->r.size);
    }
    if (!n) return 0;
    n += 16;                   /* records added concurrently are skipped, not overrun */
    g_data = mmap(NULL, n * sizeof *g_data, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_data_area = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g_data == MAP_FAILED || g_data_area == MAP_FAILED) {
        if (g_data == MAP_FAILED) g_data = NULL; else munmap(g_data, n * sizeof *g_data);
        if (g_data_area == MAP_FAILED) g_data_area = NULL; else munmap(g_data_area, bytes);
        g_data = NULL; g_data_area = NULL;
        WHY("cannot stage %zu bytes of device data in host memory", bytes);
        return -ENOMEM;
    }
    g_data_cap = n;
    g_data_area_len = bytes;
    struct copy_ctx cc = { 0, 0 };
    each_ctx(copy_ctx_bufs, &cc);
    if (cc.err) {
        ckpt_cuda_data_release();
        WHY("copying device buffers to the host failed");
        return cc.err;
    }
    g_img_flags |= CKCU_IF_DATA;
    ck_info("cuda: copied %zu device buffers (%zu bytes) to the host", g_ndata, cc.off);
    return 0;
}

CK_HIDDEN int ckpt_cuda_data_get(size_t i, uint64_t *dptr, const void **host, size_t *len)
{
    if (i >= g_ndata || !g_data) return -ENOENT;
    if (dptr) *dptr = g_data[i].dptr;
    if (host) *host = g_data[i].host;
    if (len) *len = g_data[i].len;
    return 0;
}

CK_HIDDEN int ckpt_cuda_data_range(uintptr_t addr, size_t len)
{
    uintptr_t a = (uintptr_t)g_data_area;
    if (a && addr < a + g_data_area_len && addr + len > a) return 1;
    a = (uintptr_t)g_data;
    if (a && addr < a + g_data_cap * sizeof *g_data && addr + len > a) return 1;
    return 0;
}

/* ---- checkpoint ---------------------------------------------------------------------- */
CK_HIDDEN int ckpt_cuda_before_checkpoint(unsigned timeout_ms, char *why, size_t whylen)
{
    if (!ckpt_cuda_active()) return 0;
    int rc = ckpt_cuda_gate(why, whylen);
    if (rc) return rc;
    if (cu_mode == CU_MODE_TRACK) {
        WHY("CKPT_CUDA=track records CUDA state but cannot save it (use CKPT_CUDA=checkpoint)");
        return -ENOTSUP;
    }
    if (!have_ckpt_api()) {
        WHY("the CUDA driver (version %d) has no cuCheckpointProcess* API (driver r570 / CUDA 12.8 or newer needed)",
            cu_driver_version);
        return -ENOTSUP;
    }
    int pid = my_pid(), st;
    if ((rc = get_state(pid, &st)) == -CKCU_ERROR_NOT_SUPPORTED) {
        WHY("the CUDA driver (version %d) does not support checkpointing here (cuCheckpointProcessGetState: CUDA_ERROR_NOT_SUPPORTED)",
            cu_driver_version);
        return -ENOTSUP;
    }
    if (rc || st != CKCU_PROCESS_RUNNING) {
        WHY("the CUDA process state is %s (error %d), not RUNNING",
            state_name(st), -rc);
        return -EBUSY;
    }
    each_ctx(note_free_mem, NULL);
    if (want_data() && (rc = data_copy(why, whylen))) return rc;

    ckcu_ckpt_lock_args_t la;
    memset(&la, 0, sizeof la);
    la.timeout_ms = timeout_ms;
    uint64_t t0 = now_ms();
    ckcu_result_t r = CU_REAL(cuCheckpointProcessLock)(pid, &la);
    uint64_t t1 = now_ms();
    if (r != CKCU_SUCCESS) {
        if (get_state(pid, &st) == 0 && st == CKCU_PROCESS_LOCKED) unlock(pid);
        ckpt_cuda_data_release();
        if (r == CKCU_ERROR_TIMEOUT) {
            WHY("cuCheckpointProcessLock timed out after %u ms: a CUDA call did not finish", timeout_ms);
            return -ETIMEDOUT;
        }
        WHY("cuCheckpointProcessLock failed: %s (%d)", err_name(r), r);
        return -EIO;
    }
    r = call_bounded(OP_CHECKPOINT, pid, call_timeout_ms());
    if (r != CKCU_SUCCESS || get_state(pid, &st) || st != CKCU_PROCESS_CHECKPOINTED) {
        /* Leave the program as it was: whatever got checkpointed comes back. */
        if (r != CKCU_ERROR_TIMEOUT) {
            if (get_state(pid, &st) == 0 && st == CKCU_PROCESS_CHECKPOINTED)
                call_bounded(OP_RESTORE, pid, call_timeout_ms());
            if (get_state(pid, &st) == 0 && st == CKCU_PROCESS_LOCKED) unlock(pid);
        }
        ckpt_cuda_data_release();
        WHY("cuCheckpointProcessCheckpoint failed: %s (%d); the program keeps running",
            r == CKCU_ERROR_TIMEOUT ? "timeout" : err_name(r), r);
        return r == CKCU_ERROR_TIMEOUT ? -ETIMEDOUT : -EIO;
    }
    g_checkpointed = 1;
    g_img_flags |= CKCU_IF_DRIVER_CKPT;
    ck_info("cuda: device state moved to host memory (pid %d): lock %llu ms, checkpoint %llu ms, %llu MiB tracked",
            pid, (unsigned long long)(t1 - t0), (unsigned long long)(now_ms() - t1),
            (unsigned long long)((trk_bytes(CKCU_K_ALLOC) + trk_bytes(CKCU_K_VMM_HANDLE)) >> 20));
    return 0;
}

/* ---- restore ------------------------------------------------------------------------- */
static int restore_and_unlock(char *why, size_t whylen)
{
    int pid = my_pid(), st, rc;
    if ((rc = get_state(pid, &st))) {
        WHY("cuCheckpointProcessGetState failed: %s (%d)", err_name(-rc), -rc);
        return -EIO;
    }
    if (st == CKCU_PROCESS_CHECKPOINTED) {
        uint64_t t0 = now_ms();
        ckcu_result_t r = call_bounded(OP_RESTORE, pid, call_timeout_ms());
        ck_debug("cuda: cuCheckpointProcessRestore took %llu ms", (unsigned long long)(now_ms() - t0));
        if (r != CKCU_SUCCESS) {
            if (r == CKCU_ERROR_OPERATING_SYSTEM)
                WHY("cuCheckpointProcessRestore failed: %s (%d): the GPU state cannot be restored (a previous restore may have failed, or the GPU, driver or process name changed)",
                    err_name(r), r);
            else
                WHY("cuCheckpointProcessRestore failed: %s (%d)",
                    r == CKCU_ERROR_TIMEOUT ? "timeout" : err_name(r), r);
            return r == CKCU_ERROR_TIMEOUT ? -ETIMEDOUT : -EIO;
        }
        if ((rc = get_state(pid, &st))) st = -1;
    }
    if (st == CKCU_PROCESS_LOCKED) {
        ckcu_result_t r = unlock(pid);
        if (r != CKCU_SUCCESS) {
            WHY("cuCheckpointProcessUnlock failed: %s (%d)", err_name(r), r);
            return -EIO;
        }
        if (get_state(pid, &st)) st = -1;
    }
    if (st != CKCU_PROCESS_RUNNING) {
        WHY("CUDA process state after restore is %s, not RUNNING", state_name(st));
        return -EIO;
    }
    g_checkpointed = 0;
    g_img_flags &= ~CKCU_IF_DRIVER_CKPT;
    return 0;
}

CK_HIDDEN int ckpt_cuda_after_checkpoint(char *why, size_t whylen)
{
    if (!g_checkpointed || !ckpt_cuda_active()) return 0;
    int rc = restore_and_unlock(why, whylen);
    if (!rc) ck_info("cuda: device state back on the GPU, program continues");
    return rc;
}

CK_HIDDEN int ckpt_cuda_after_restore(char *why, size_t whylen)
{
    if (!g_checkpointed || !ckpt_cuda_active()) return 0;
    if (!have_ckpt_api()) {
        WHY("CUDA restore impossible: the driver has no cuCheckpointProcess* API");
        return -ENOTSUP;
    }
    int rc = restore_and_unlock(why, whylen);
    if (!rc) ck_info("cuda: device state restored in the new process (pid %d)", my_pid());
    return rc;
}

/* The driver's restore thread (the one that carries out Restore in this
 * process), or 0. */
CK_HIDDEN int ckpt_cuda_restore_tid(void)
{
    int tid = 0;
    if (!g_checkpointed || !ckpt_cuda_active() || !cu_real(CUI_cuCheckpointProcessGetRestoreThreadId)) return 0;
    if (CU_REAL(cuCheckpointProcessGetRestoreThreadId)(my_pid(), &tid) != CKCU_SUCCESS) return 0;
    return tid;
}

/* ---- fork ---------------------------------------------------------------------------- */
/* Also called at the start of libckpt's raw-forked image writer: only flags
 * are touched (no lock, no allocation), and the tables stay readable so that
 * the writer can still serialise the parent's state. */
CK_HIDDEN void ckpt_cuda_atfork_child(void)
{
    g_forked_pid = my_pid();
    cu_forked = 1;
}

/* ---- CKF_T_CUDA payload ---------------------------------------------------------------- */
CK_HIDDEN size_t ckpt_cuda_serialize(void *buf, size_t cap)
{
    /* Not ckpt_cuda_active(): the image writer is a forked child of the
     * process whose state it describes. */
    if (!cu_active || cu_mode == CU_MODE_OFF) return 0;
    uint32_t hw = trk_highwater(), nrec = 0, ndev = 0;
    for (uint32_t i = 0; i < hw; i++)
        if (__atomic_load_n(&trk_slot(i)->state, __ATOMIC_ACQUIRE)) nrec++;
    for (int d = 0; d < CU_MAX_DEVICES; d++) ndev += cu_devices[d].known ? 1 : 0;
    size_t slen;
    const char *strs = trk_strings(&slen);
    size_t recoff = sizeof(ckcu_img_header) + (size_t)ndev * sizeof(ckcu_img_device);
    size_t stroff = recoff + (size_t)nrec * sizeof(ckcu_img_record);
    size_t total = stroff + slen;
    if (total > cap || !buf) return total;

    char *out = buf;
    ckcu_img_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKCU_IMG_MAGIC, 8);
    h.version_major = CKCU_IMG_MAJOR;
    h.version_minor = CKCU_IMG_MINOR;
    h.header_size = sizeof(ckcu_img_header);
    h.device_size = sizeof(ckcu_img_device);
    h.record_size = sizeof(ckcu_img_record);
    h.ndevices = ndev;
    h.flags = g_img_flags | (cu_mode == CU_MODE_TRACK ? CKCU_IF_TRACK_ONLY : 0);
    h.gate_flags = __atomic_load_n(&cu_gate_sticky, __ATOMIC_RELAXED) |
                   (trk_live(CKCU_K_MANAGED) ? CKCU_GATE_MANAGED : 0) |
                   (__builtin_popcount(cu_dev_mask) > 1 ? CKCU_GATE_MULTI_GPU : 0);
    h.driver_version = cu_driver_version;
    h.pid = (uint32_t)my_pid();
    h.records_off = recoff;
    h.strings_off = stroff;
    h.strings_len = slen;
    h.device_bytes = trk_bytes(CKCU_K_ALLOC) + trk_bytes(CKCU_K_VMM_HANDLE);
    h.host_bytes = trk_bytes(CKCU_K_HOST) + trk_bytes(CKCU_K_HOST_REG);
    size_t off = sizeof h;
    for (int d = 0; d < CU_MAX_DEVICES; d++) {
        if (!cu_devices[d].known) continue;
        memcpy(out + off, &cu_devices[d].d, sizeof(ckcu_img_device));
        off += sizeof(ckcu_img_device);
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < hw && n < nrec; i++) {
        const trk_rec *t = trk_slot(i);
        if (!__atomic_load_n(&t->state, __ATOMIC_ACQUIRE)) continue;
        ckcu_img_record r = t->r;
        if ((uint64_t)r.name_off + r.name_len > slen) r.name_off = r.name_len = 0;
        memcpy(out + recoff + (size_t)n * sizeof r, &r, sizeof r);
        n++;
    }
    /* A record may have vanished between the passes: zero the unused tail. */
    if (n < nrec) memset(out + recoff + (size_t)n * sizeof(ckcu_img_record), 0,
                         (size_t)(nrec - n) * sizeof(ckcu_img_record));
    h.nrecords = n;
    memcpy(out, &h, sizeof h);
    if (slen) memcpy(out + stroff, strs, slen);
    return total;
}

/* ---- debug dump ------------------------------------------------------------------------- */
static void out_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_line(int fd, const char *fmt, ...)
{
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    int n = ck_vsnprintf(b, sizeof b - 1, fmt, ap);
    va_end(ap);
    b[n++] = '\n';
    ssize_t w = write(fd, b, (size_t)n);
    (void)w;
}

CK_HIDDEN void ckpt_cuda_debug_dump(int fd)
{
    int pid = my_pid();
    ckpt_cuda_active();            /* clears a stale fork mark carried by a restored image */
    if (cu_forked) {
        out_line(fd, "ckpt-cuda[%d]: inert (forked child)", pid);
        return;
    }
    if (!cu_ready && !cu_active) {
        out_line(fd, "ckpt-cuda[%d]: inactive (driver not loaded)", pid);
        return;
    }
    out_line(fd, "ckpt-cuda[%d]: active=%d mode=%d driver=%d devices=0x%x", pid,
             ckpt_cuda_active(), cu_mode, cu_driver_version, cu_dev_mask);
    char b[480];
    int k = 0;
    for (int kind = 1; kind < CKCU_K_LAST; kind++)
        k += ck_snprintf(b + k, sizeof b - (size_t)k, "%s%s=%llu", kind > 1 ? " " : "",
                         ckcu_kind_name((unsigned)kind), (unsigned long long)trk_live(kind));
    out_line(fd, "ckpt-cuda[%d]: tracked %s", pid, b);
    out_line(fd, "ckpt-cuda[%d]: bytes alloc=%llu managed=%llu host=%llu vmm=%llu", pid,
             (unsigned long long)trk_bytes(CKCU_K_ALLOC), (unsigned long long)trk_bytes(CKCU_K_MANAGED),
             (unsigned long long)(trk_bytes(CKCU_K_HOST) + trk_bytes(CKCU_K_HOST_REG)),
             (unsigned long long)trk_bytes(CKCU_K_VMM_HANDLE));
    uint32_t g = cu_gate_bits();
    if (g) out_line(fd, "ckpt-cuda[%d]: gate refused: %s", pid, cu_gate_reason(g));
    else out_line(fd, "ckpt-cuda[%d]: gate ok", pid);
    for (int i = 0; i < CUI__COUNT; i++)
        if (cu_calls[i])
            out_line(fd, "ckpt-cuda[%d]: calls %s=%llu", pid, cu_names[i], (unsigned long long)cu_calls[i]);
    size_t slen;
    const char *s = trk_strings(&slen);
    uint32_t hw = trk_highwater();
    for (uint32_t i = 0; i < hw; i++) {
        const trk_rec *t = trk_slot(i);
        if (!t->state) continue;
        char name[96] = "";
        if (t->r.name_len && t->r.name_len < sizeof name && t->r.name_off + t->r.name_len <= slen) {
            memcpy(name, s + t->r.name_off, t->r.name_len);
            name[t->r.name_len] = 0;
        }
        out_line(fd, "ckpt-cuda[%d]: obj %s key=0x%llx size=%llu dev=%d ctx=0x%llx%s%s", pid,
                 ckcu_kind_name(t->r.kind), (unsigned long long)t->r.key,
                 (unsigned long long)t->r.size, t->r.device, (unsigned long long)t->r.ctx,
                 name[0] ? " name=" : "", name);
    }
}

__attribute__((destructor)) static void cu_exit_dump(void)
{
    const char *d = getenv("CKPT_CUDA_DUMP");
    if (!d || !*d || !strcmp(d, "0")) return;
    if (!strcmp(d, "1")) { ckpt_cuda_debug_dump(2); return; }
    int fd = open(d, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return;
    ckpt_cuda_debug_dump(fd);
    close(fd);
}
