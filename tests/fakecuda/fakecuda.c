/*
 * fakecuda.c - a fake libcuda.so.1 for testing cuda_hooks/ without a GPU.
 *
 * Realistic where it matters to the hooks and to the checkpoint path
 * (research/cuda.md §3.1):
 *  - device memory lives in a memfd ("fakecuda-device"); device addresses lie
 *    in a PROT_NONE reservation, so a host dereference of a device pointer
 *    faults like on a discrete GPU; copies are bounds-checked against live
 *    allocations (use-after-free and overruns fail with INVALID_VALUE);
 *  - cuGetProcAddress / _v2 follow the documented rules: newest variant whose
 *    version <= cudaVersion, per-thread variant only with flag 2,
 *    INVALID_VALUE for a cudaVersion above the driver's, SUCCESS + NULL +
 *    symbolStatus 1/2 for unknown/too-new names; cuGetExportTable: NOT_SUPPORTED;
 *  - streams are FIFOs run by worker threads (FAKECUDA_ASYNC=0: inline), so
 *    reading results without synchronising reads stale data; the slow_fill
 *    kernel sleeps FAKECUDA_SLOW_US (default 200000) first;
 *  - handles carry a magic and a generation: destroyed or pre-reset handles
 *    (fakecuda_simulate_reset) give INVALID_HANDLE; fork()ed children get
 *    NOT_INITIALIZED like with the real driver;
 *  - the cuCheckpointProcess* state machine RUNNING/LOCKED/CHECKPOINTED with
 *    ILLEGAL_STATE on wrong transitions; Lock blocks new API calls and waits
 *    (with its timeout) for calls in flight; Checkpoint drains the streams,
 *    copies device memory into malloc'd "driver-owned" host memory and drops
 *    the memfd and the address reservation; Restore re-creates both at the
 *    same addresses (OPERATING_SYSTEM if something else took them), checks the
 *    process name and that the driver's eventfd (and with FAKECUDA_PIPE=1 a
 *    pipe pair) is still there at the same fd numbers (FAKECUDA_CHECK_FDS=0
 *    disables); like driver 580, the restore itself is carried out by the
 *    driver's "restore thread" (comm "cuda" + hex digits, the tid that
 *    cuCheckpointProcessGetRestoreThreadId names), which polls a listening
 *    abstract unix socket "@fakecuda-uvmfd-PID@": a Restore waits for that
 *    thread (FAKECUDA_RT_WAIT_MS, default 10000, then OPERATING_SYSTEM), and
 *    fails if the socket is no longer listening at its descriptor;
 *    FAKECUDA_RESTORE_FAIL=1 makes a
 *    restore fail with OUT_OF_MEMORY and every later one with 304, as seen
 *    with driver 580 (cuda-checkpoint#44).
 * Kernels are host functions chosen by entry name (vadd, incr, fill,
 * slow_fill, scale); PTX text is scanned for .entry and .global declarations.
 * Knobs: FAKECUDA_MEM (bytes, default 256 MiB), FAKECUDA_VA_BASE, FAKECUDA_DEVICES,
 * FAKECUDA_DRIVER_VERSION (default 13000), FAKECUDA_NO_CKPT_API=1, FAKECUDA_MIG=1,
 * FAKECUDA_VMM_HINT=refuse, FAKECUDA_HOLD_US (cuMemGetInfo_v2 stays in the driver).  Extra exports for tests: fakecuda_calls(name),
 * fakecuda_simulate_reset().
 *
 * Built with -Wl,-Bsymbolic so that its internal calls (and the lookup table)
 * are not interposed by the preloaded hooks, as in the real driver.
 */
#include "cuda_hooks/cuda_decls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))
typedef ckcu_result_t CUresult;

/* ---- configuration ---------------------------------------------------------------- */
static size_t g_mem_size = 256u << 20;
static uintptr_t g_va_base = 0x600000000000ull;
static size_t g_va_size = 64ull << 30;
static int g_ndev = 1, g_drv_ver = 13000, g_async = 1, g_no_ckpt_api, g_mig, g_hint_refuse;
static long g_slow_us = 200000;
static int g_check_fds = 1, g_restore_fail;
static int g_use_pipe;                /* FAKECUDA_PIPE=1: also a pipe, like libcuda's */
static long g_hold_us;                /* the first cuMemGetInfo_v2 stays in the driver this long */

static void config(void)
{
    const char *s;
    if ((s = getenv("FAKECUDA_MEM"))) g_mem_size = strtoull(s, NULL, 0);
    if ((s = getenv("FAKECUDA_VA_BASE"))) g_va_base = strtoull(s, NULL, 0);
    if ((s = getenv("FAKECUDA_DEVICES"))) g_ndev = atoi(s);
    if ((s = getenv("FAKECUDA_DRIVER_VERSION"))) g_drv_ver = atoi(s);
    if ((s = getenv("FAKECUDA_ASYNC"))) g_async = atoi(s);
    if ((s = getenv("FAKECUDA_SLOW_US"))) g_slow_us = atol(s);
    if ((s = getenv("FAKECUDA_NO_CKPT_API"))) g_no_ckpt_api = atoi(s);
    if ((s = getenv("FAKECUDA_MIG"))) g_mig = atoi(s);
    if ((s = getenv("FAKECUDA_VMM_HINT"))) g_hint_refuse = !strcmp(s, "refuse");
    if ((s = getenv("FAKECUDA_CHECK_FDS"))) g_check_fds = atoi(s);
    if ((s = getenv("FAKECUDA_RESTORE_FAIL"))) g_restore_fail = atoi(s);
    if ((s = getenv("FAKECUDA_HOLD_US"))) g_hold_us = atol(s);
    if ((s = getenv("FAKECUDA_PIPE"))) g_use_pipe = atoi(s);
    g_mem_size = (g_mem_size + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    if (g_va_size < 2 * g_mem_size) g_va_size = 2 * g_mem_size;
}

/* ---- call counting ------------------------------------------------------------------ */
static struct { const char *name; unsigned long n; } g_calls[256];
static pthread_mutex_t g_calls_mu = PTHREAD_MUTEX_INITIALIZER;

static void count(const char *name)
{
    pthread_mutex_lock(&g_calls_mu);
    for (int i = 0; i < 256; i++) {
        if (!g_calls[i].name) g_calls[i].name = name;
        if (g_calls[i].name == name || !strcmp(g_calls[i].name, name)) { g_calls[i].n++; break; }
    }
    pthread_mutex_unlock(&g_calls_mu);
}

API unsigned long fakecuda_calls(const char *name)
{
    unsigned long n = 0;
    pthread_mutex_lock(&g_calls_mu);
    for (int i = 0; i < 256 && g_calls[i].name; i++)
        if (!strcmp(g_calls[i].name, name)) n = g_calls[i].n;
    pthread_mutex_unlock(&g_calls_mu);
    return n;
}

/* ---- global state --------------------------------------------------------------------- */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;   /* all object/memory state */
static int g_inited, g_forked;
static uint32_t g_gen = 1;
static int g_sticky;                                          /* sticky context error */

/* API gate for cuCheckpointProcessLock */
static pthread_mutex_t g_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_gate_cv = PTHREAD_COND_INITIALIZER;
static int g_locked, g_active;
static int g_state = CKCU_PROCESS_RUNNING;

static void gate_enter(void)
{
    pthread_mutex_lock(&g_gate_mu);
    while (g_locked) pthread_cond_wait(&g_gate_cv, &g_gate_mu);
    g_active++;
    pthread_mutex_unlock(&g_gate_mu);
}

static void gate_leave(void)
{
    pthread_mutex_lock(&g_gate_mu);
    g_active--;
    pthread_cond_broadcast(&g_gate_cv);
    pthread_mutex_unlock(&g_gate_mu);
}

static void gate_cleanup(int *x) { (void)x; gate_leave(); }

/* Every ordinary entry point starts with ENTER: counts the call, blocks while
 * the process is locked for a checkpoint, and refuses use in a forked child or
 * before cuInit. */
#define ENTER_NOINIT(name)                                                            \
    count(name);                                                                      \
    if (g_forked) return CKCU_ERROR_NOT_INITIALIZED;                                  \
    gate_enter();                                                                     \
    __attribute__((cleanup(gate_cleanup))) int gate_guard_ = 1; (void)gate_guard_
#define ENTER(name)                                                                   \
    ENTER_NOINIT(name);                                                               \
    if (!g_inited) return CKCU_ERROR_NOT_INITIALIZED

/* ---- objects and handles --------------------------------------------------------------- */
#define OBJ_MAGIC 0xfacec0deu
#define OBJ_DEAD  0xdeadbeefu
enum { T_CTX = 1, T_MOD, T_FUNC, T_KERN, T_STREAM, T_EVENT, T_POOL, T_VMM };
struct obj { uint32_t magic, gen; int type; };

struct ctx { struct obj o; int dev, primary, refs; };
#define MAXG 32
struct mod {
    struct obj o;
    int nentries, nglobals, is_lib;
    char entries[MAXG][64];
    struct { char name[64]; ckcu_deviceptr_t addr; size_t size; } globals[MAXG];
    struct ctx *ctx;
};
struct func { struct obj o; struct mod *m; int entry; };
struct kern { struct obj o; struct mod *m; int entry; struct func *f; };
struct event { struct obj o; uint64_t target, done; unsigned flags; };
struct op;
struct stream {
    struct obj o;
    unsigned flags;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct op *head, *tail;
    uint64_t submitted, completed;
    int started;
    pthread_t th;
    struct stream *next_all;
};
struct vmm { struct obj o; uint64_t phys, size; int released, maps; };

static void *obj_new(size_t sz, int type)
{
    struct obj *o = calloc(1, sz);
    if (!o) return NULL;
    o->magic = OBJ_MAGIC;
    o->gen = g_gen;
    o->type = type;
    return o;
}

/* 0 if h is a live object of this type from the current generation. */
static CUresult obj_check(const void *h, int type)
{
    const struct obj *o = h;
    if (!o) return CKCU_ERROR_INVALID_HANDLE;
    if (o->magic != OBJ_MAGIC || o->type != type || o->gen != g_gen)
        return type == T_CTX ? CKCU_ERROR_INVALID_CONTEXT : CKCU_ERROR_INVALID_HANDLE;
    return 0;
}

static void obj_kill(void *h) { ((struct obj *)h)->magic = OBJ_DEAD; }   /* never freed */

/* ---- contexts ------------------------------------------------------------------------ */
static struct ctx *g_primary[16];
static __thread struct ctx *t_stack[16];
static __thread int t_depth;

static struct ctx *cur(void) { return t_depth ? t_stack[t_depth - 1] : NULL; }
static void set_cur(struct ctx *c)
{
    if (!t_depth) t_depth = 1;
    t_stack[t_depth - 1] = c;
}
#define NEED_CTX()                                                                    \
    do { if (obj_check(cur(), T_CTX)) return CKCU_ERROR_INVALID_CONTEXT; } while (0)

/* ---- device memory --------------------------------------------------------------------- */
static int g_memfd = -1;
static char *g_backing;               /* host view of the device memory */
static int g_va_mapped;

enum { R_LINEAR = 1, R_VMM, R_GLOBAL, R_MANAGED };
struct vmm;
struct range { uint64_t dva, len, phys; int kind, live, access; struct ctx *ctx; struct vmm *v; };
static struct range *g_ranges;
static int g_nranges;
struct blk { uint64_t off, len; };
static struct blk *g_used;            /* used physical blocks, sorted by offset */
static int g_nused;
struct resv { uint64_t va, len; int live; };
static struct resv g_resv[256];
static int g_nresv;
static uint64_t g_vmm_bump;

static int mem_setup(void)
{
    g_memfd = memfd_create("fakecuda-device", MFD_CLOEXEC);
    if (g_memfd < 0 || ftruncate(g_memfd, (off_t)g_mem_size)) return -1;
    g_backing = mmap(NULL, g_mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, g_memfd, 0);
    if (g_backing == MAP_FAILED) { g_backing = NULL; return -1; }
    /* At initialisation the driver picks the range (the default, else the next
     * free TiB); a restore must get exactly the same one back. */
    for (int tries = g_inited ? 1 : 16; tries > 0; tries--) {
        void *va = mmap((void *)g_va_base, g_va_size, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (va != MAP_FAILED && (uintptr_t)va == g_va_base) { g_va_mapped = 1; return 0; }
        if (va != MAP_FAILED) munmap(va, g_va_size);
        g_va_base += 1ull << 40;
    }
    return -1;
}

static void mem_teardown(void)
{
    if (g_backing) munmap(g_backing, g_mem_size);
    if (g_memfd >= 0) close(g_memfd);
    if (g_va_mapped) munmap((void *)g_va_base, g_va_size);
    g_backing = NULL;
    g_memfd = -1;
    g_va_mapped = 0;
}

static uint64_t used_bytes(void)
{
    uint64_t n = 0;
    for (int i = 0; i < g_nused; i++) n += g_used[i].len;
    return n;
}

static int64_t phys_alloc(uint64_t len, uint64_t align)
{
    uint64_t at = 0;
    int i;
    for (i = 0; i <= g_nused; i++) {
        at = (at + align - 1) & ~(align - 1);
        uint64_t end = i < g_nused ? g_used[i].off : g_mem_size;
        if (at + len <= end) break;
        if (i < g_nused) at = g_used[i].off + g_used[i].len;
    }
    if (i > g_nused || at + len > g_mem_size) return -1;
    struct blk *nb = realloc(g_used, sizeof *nb * (size_t)(g_nused + 1));
    if (!nb) return -1;
    g_used = nb;
    memmove(&g_used[i + 1], &g_used[i], sizeof *nb * (size_t)(g_nused - i));
    g_used[i].off = at;
    g_used[i].len = len;
    g_nused++;
    return (int64_t)at;
}

static void phys_free(uint64_t off)
{
    for (int i = 0; i < g_nused; i++)
        if (g_used[i].off == off) {
            memmove(&g_used[i], &g_used[i + 1], sizeof *g_used * (size_t)(g_nused - i - 1));
            g_nused--;
            return;
        }
}

static struct range *range_add(uint64_t dva, uint64_t len, uint64_t phys, int kind)
{
    for (int i = 0; i < g_nranges; i++)
        if (!g_ranges[i].live) {
            g_ranges[i] = (struct range){ dva, len, phys, kind, 1, 1, cur(), NULL };
            return &g_ranges[i];
        }
    struct range *nr = realloc(g_ranges, sizeof *nr * (size_t)(g_nranges + 1));
    if (!nr) return NULL;
    g_ranges = nr;
    g_ranges[g_nranges] = (struct range){ dva, len, phys, kind, 1, 1, cur(), NULL };
    return &g_ranges[g_nranges++];
}

static struct range *range_at(uint64_t dva, int kind)
{
    for (int i = 0; i < g_nranges; i++)
        if (g_ranges[i].live && g_ranges[i].dva == dva && (!kind || g_ranges[i].kind == kind))
            return &g_ranges[i];
    return NULL;
}

/* Host view of [dva, dva+n) if it lies inside one live accessible range. */
static char *xlate(uint64_t dva, uint64_t n)
{
    for (int i = 0; i < g_nranges; i++) {
        struct range *r = &g_ranges[i];
        if (!r->live || dva < r->dva || dva + n > r->dva + r->len || dva + n < dva) continue;
        if (!r->access) return NULL;
        if (r->kind == R_MANAGED) return (char *)(uintptr_t)dva;
        if (!g_backing) return NULL;
        return g_backing + r->phys + (dva - r->dva);
    }
    return NULL;
}

static void range_free(struct range *r)
{
    if (r->kind == R_LINEAR || r->kind == R_GLOBAL) phys_free(r->phys);
    if (r->kind == R_MANAGED) munmap((void *)(uintptr_t)r->dva, r->len);
    r->live = 0;
}

/* ---- pinned host memory --------------------------------------------------------------- */
struct hostblk { void *p; size_t n; int reg, live; };
static struct hostblk g_host[1024];
static int g_nhost;

/* ---- streams ----------------------------------------------------------------------------- */
enum { OP_H2D = 1, OP_D2H, OP_D2D, OP_SET8, OP_SET32, OP_KERNEL, OP_EVENT, OP_FREE, OP_WAIT };
struct op {
    struct op *next;
    int type;
    uint64_t d, s;
    void *h;
    size_t n;
    unsigned v;
    struct func *f;
    uint64_t args[8];
    struct event *ev;
    uint64_t ev_target;
};

static struct stream g_legacy_s;
static struct stream *g_all_streams;
static __thread struct stream *t_pts;
static pthread_mutex_t g_ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ev_cv = PTHREAD_COND_INITIALIZER;

static void run_kernel(struct op *o);

static void exec_op(struct op *o)
{
    if (o->type == OP_EVENT) {
        pthread_mutex_lock(&g_ev_mu);
        if (o->ev->done < o->ev_target) o->ev->done = o->ev_target;
        pthread_cond_broadcast(&g_ev_cv);
        pthread_mutex_unlock(&g_ev_mu);
        return;
    }
    if (o->type == OP_WAIT) {
        pthread_mutex_lock(&g_ev_mu);
        while (o->ev->done < o->ev_target) pthread_cond_wait(&g_ev_cv, &g_ev_mu);
        pthread_mutex_unlock(&g_ev_mu);
        return;
    }
    if (o->type == OP_KERNEL && o->f) {
        const char *name = o->f->m->entries[o->f->entry];
        if (!strcmp(name, "slow_fill") && g_slow_us > 0) {
            struct timespec ts = { g_slow_us / 1000000, (g_slow_us % 1000000) * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_lock(&g_mu);
    char *a, *b;
    switch (o->type) {
    case OP_H2D:
        if ((a = xlate(o->d, o->n))) memcpy(a, o->h, o->n); else g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS;
        break;
    case OP_D2H:
        if ((a = xlate(o->s, o->n))) memcpy(o->h, a, o->n); else g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS;
        break;
    case OP_D2D:
        if ((a = xlate(o->d, o->n)) && (b = xlate(o->s, o->n))) memmove(a, b, o->n);
        else g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS;
        break;
    case OP_SET8:
        if ((a = xlate(o->d, o->n))) memset(a, (int)o->v, o->n); else g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS;
        break;
    case OP_SET32:
        if ((a = xlate(o->d, o->n * 4))) { for (size_t i = 0; i < o->n; i++) memcpy(a + 4 * i, &o->v, 4); }
        else g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS;
        break;
    case OP_KERNEL:
        run_kernel(o);
        break;
    case OP_FREE: {
        struct range *r = range_at(o->d, R_LINEAR);
        if (r) range_free(r);
        break;
    }
    }
    pthread_mutex_unlock(&g_mu);
}

static void *worker(void *arg)
{
    struct stream *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head) pthread_cond_wait(&s->cv, &s->mu);
        struct op *o = s->head;
        pthread_mutex_unlock(&s->mu);
        exec_op(o);
        pthread_mutex_lock(&s->mu);
        s->head = o->next;
        if (!s->head) s->tail = NULL;
        s->completed++;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        free(o);
    }
    return NULL;
}

static void stream_init(struct stream *s, unsigned flags)
{
    s->flags = flags;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_lock(&g_mu);
    s->next_all = g_all_streams;
    g_all_streams = s;
    pthread_mutex_unlock(&g_mu);
}

static CUresult enqueue(struct stream *s, struct op *o)
{
    if (!g_async) { exec_op(o); free(o); return 0; }
    pthread_mutex_lock(&s->mu);
    if (!s->started) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int e = pthread_create(&s->th, NULL, worker, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e) { pthread_mutex_unlock(&s->mu); exec_op(o); free(o); return 0; }
        pthread_setname_np(s->th, "fakecuda-stream");
        s->started = 1;
    }
    o->next = NULL;
    if (s->tail) s->tail->next = o; else s->head = o;
    s->tail = o;
    s->submitted++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Waits for the stream to drain; does not hold the API gate meanwhile (a
 * thread blocked in a synchronize must not stop cuCheckpointProcessLock). */
static void stream_wait(struct stream *s, int gated)
{
    if (gated) gate_leave();
    pthread_mutex_lock(&s->mu);
    while (s->completed < s->submitted) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (gated) gate_enter();
}

static void wait_all(int gated)
{
    pthread_mutex_lock(&g_mu);
    struct stream *l = g_all_streams;
    pthread_mutex_unlock(&g_mu);
    for (struct stream *s = l; s; s = s->next_all)
        if (s->o.magic == OBJ_MAGIC || s == &g_legacy_s) stream_wait(s, gated);
}

static struct stream *pts(void)
{
    if (!t_pts) {
        t_pts = obj_new(sizeof *t_pts, T_STREAM);
        if (t_pts) stream_init(t_pts, 0);
    }
    return t_pts;
}

/* Stream argument -> stream; NULL handle means the legacy stream, or the
 * per-thread one for the _ptsz/_ptds entry points. */
static struct stream *stream_of(ckcu_stream_t h, int per_thread, CUresult *err)
{
    *err = 0;
    if (!h) return per_thread ? pts() : &g_legacy_s;
    if (h == CKCU_STREAM_LEGACY) return &g_legacy_s;
    if (h == CKCU_STREAM_PER_THREAD) return pts();
    if ((*err = obj_check(h, T_STREAM))) return NULL;
    return (struct stream *)h;
}

static struct op *op_new(int type)
{
    struct op *o = calloc(1, sizeof *o);
    if (o) o->type = type;
    return o;
}

/* ---- kernels ------------------------------------------------------------------------------ */
static const struct kdef { const char *name; int nargs; int size[6]; } g_kdefs[] = {
    { "vadd", 4, { 8, 8, 8, 4 } },        /* c[i] = a[i] + b[i] (float), n */
    { "incr", 2, { 8, 4 } },              /* buf[i] += 1 (int); the module global counter += 1 */
    { "fill", 3, { 8, 4, 4 } },           /* buf[i] = v */
    { "slow_fill", 3, { 8, 4, 4 } },      /* sleeps, then buf[i] = v */
    { "scale", 3, { 8, 4, 4 } },          /* buf[i] *= f (float) */
};

static const struct kdef *kdef_of(const char *name)
{
    for (size_t i = 0; i < sizeof g_kdefs / sizeof g_kdefs[0]; i++)
        if (!strcmp(g_kdefs[i].name, name)) return &g_kdefs[i];
    return NULL;
}

static void run_kernel(struct op *o)
{
    struct mod *m = o->f->m;
    const char *name = m->entries[o->f->entry];
    int n = (int)(uint32_t)o->args[1];
    if (!strcmp(name, "vadd")) {
        n = (int)(uint32_t)o->args[3];
        float *a = (float *)(void *)xlate(o->args[0], (uint64_t)n * 4), *b = (float *)(void *)xlate(o->args[1], (uint64_t)n * 4);
        float *c = (float *)(void *)xlate(o->args[2], (uint64_t)n * 4);
        if (!a || !b || !c) { g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS; return; }
        for (int i = 0; i < n; i++) c[i] = a[i] + b[i];
    } else if (!strcmp(name, "incr")) {
        int *b = (int *)xlate(o->args[0], (uint64_t)n * 4);
        if (!b) { g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS; return; }
        for (int i = 0; i < n; i++) b[i]++;
        for (int g = 0; g < m->nglobals; g++)
            if (!strcmp(m->globals[g].name, "counter")) {
                int *c = (int *)xlate(m->globals[g].addr, 4);
                if (c) (*c)++;
            }
    } else if (!strcmp(name, "fill") || !strcmp(name, "slow_fill")) {
        int *b = (int *)xlate(o->args[0], (uint64_t)n * 4);
        if (!b) { g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS; return; }
        for (int i = 0; i < n; i++) b[i] = (int)(uint32_t)o->args[2];
    } else if (!strcmp(name, "scale")) {
        float *b = (float *)(void *)xlate(o->args[0], (uint64_t)n * 4), f;
        uint32_t bits = (uint32_t)o->args[2];
        memcpy(&f, &bits, 4);
        if (!b) { g_sticky = CKCU_ERROR_ILLEGAL_ADDRESS; return; }
        for (int i = 0; i < n; i++) b[i] *= f;
    }
}

/* ---- eventfd (and optionally a pipe) that stand for the driver's internal
 * descriptors (R2): a restore needs them back at the same numbers ---------------------- */
static int g_evfd = -1;
static int g_pipe[2] = { -1, -1 };

/* ---- the restore thread and its listening socket ------------------------------------------ */
static int g_lsock = -1, g_rt_ev = -1, g_rt_tid;
static char g_lname[64];
static pthread_mutex_t g_rt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_rt_cv = PTHREAD_COND_INITIALIZER;
static int g_rt_pending, g_rt_done;
static CUresult g_rt_ret;
static CUresult restore_body(void);

static void *restore_thread(void *unused)
{
    (void)unused;
    char name[16];
    snprintf(name, sizeof name, "cuda%011x", 0x1400006);
    pthread_setname_np(pthread_self(), name);
    g_rt_tid = (int)syscall(SYS_gettid);
    for (;;) {
        struct pollfd p[2] = { { g_lsock, POLLIN, 0 }, { g_rt_ev, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) continue;
        if (p[0].revents) {
            int c = accept(g_lsock, NULL, NULL);
            if (c >= 0) close(c);
            else usleep(1000);    /* not a listening socket any more: the real one spins */
        }
        if (p[1].revents & POLLIN) {
            uint64_t v;
            if (read(g_rt_ev, &v, 8) != 8) continue;
            pthread_mutex_lock(&g_rt_mu);
            int job = g_rt_pending;
            g_rt_pending = 0;
            pthread_mutex_unlock(&g_rt_mu);
            if (!job) continue;
            CUresult r = restore_body();
            pthread_mutex_lock(&g_rt_mu);
            g_rt_ret = r;
            g_rt_done = 1;
            pthread_cond_broadcast(&g_rt_cv);
            pthread_mutex_unlock(&g_rt_mu);
        }
    }
    return NULL;
}

static void restore_thread_start(void)
{
    if (g_no_ckpt_api) return;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    int n = snprintf(g_lname, sizeof g_lname, "fakecuda-uvmfd-%d@", (int)getpid());
    memcpy(sa.sun_path + 1, g_lname, (size_t)n);
    g_lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    g_rt_ev = eventfd(0, EFD_CLOEXEC);
    if (g_lsock < 0 || g_rt_ev < 0 ||
        bind(g_lsock, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) ||
        listen(g_lsock, 16)) {
        if (g_lsock >= 0) close(g_lsock);
        if (g_rt_ev >= 0) close(g_rt_ev);
        g_lsock = g_rt_ev = -1;
        return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, restore_thread, NULL)) { close(g_lsock); close(g_rt_ev); g_lsock = g_rt_ev = -1; return; }
    pthread_detach(t);
    while (!__atomic_load_n(&g_rt_tid, __ATOMIC_ACQUIRE)) usleep(100);
}

/* Still the listening socket the restore thread was given, at its number. */
static int lsock_alive(void)
{
    if (g_lsock < 0) return 1;
    int acc = 0;
    socklen_t l = sizeof acc;
    struct sockaddr_un sa;
    socklen_t al = sizeof sa;
    memset(&sa, 0, sizeof sa);
    if (getsockopt(g_lsock, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) || !acc) return 0;
    if (getsockname(g_lsock, (struct sockaddr *)&sa, &al)) return 0;
    return sa.sun_path[0] == 0 && !memcmp(sa.sun_path + 1, g_lname, strlen(g_lname));
}

/* ---- fork ----------------------------------------------------------------------------------- */
static void atfork_child(void) { g_forked = 1; }

/* ================================ the API ================================================ */
API CUresult cuInit(unsigned flags)
{
    ENTER_NOINIT("cuInit");
    if (flags) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    CUresult r = 0;
    if (!g_inited) {
        config();
        if (mem_setup()) r = CKCU_ERROR_OPERATING_SYSTEM;
        else {
            g_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (g_use_pipe && pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK)) g_pipe[0] = g_pipe[1] = -1;
            pthread_atfork(NULL, NULL, atfork_child);
            restore_thread_start();
            g_inited = 1;
        }
    }
    pthread_mutex_unlock(&g_mu);
    if (!r && !g_legacy_s.o.type) {
        g_legacy_s.o = (struct obj){ OBJ_MAGIC, 0, T_STREAM };
        stream_init(&g_legacy_s, 0);
    }
    return r;
}

API CUresult cuDriverGetVersion(int *v)
{
    count("cuDriverGetVersion");
    if (!v) return CKCU_ERROR_INVALID_VALUE;
    if (!g_inited) config();
    *v = g_drv_ver;
    return 0;
}

static const char *err_str(CUresult e)
{
    switch (e) {
    case 0: return "CUDA_SUCCESS";
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 201: return "CUDA_ERROR_INVALID_CONTEXT";
    case 304: return "CUDA_ERROR_OPERATING_SYSTEM";
    case 400: return "CUDA_ERROR_INVALID_HANDLE";
    case 401: return "CUDA_ERROR_ILLEGAL_STATE";
    case 500: return "CUDA_ERROR_NOT_FOUND";
    case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case 800: return "CUDA_ERROR_NOT_PERMITTED";
    case 801: return "CUDA_ERROR_NOT_SUPPORTED";
    case 909: return "CUDA_ERROR_TIMEOUT";
    default: return NULL;
    }
}

API CUresult cuGetErrorName(CUresult e, const char **s)
{
    if (!s) return CKCU_ERROR_INVALID_VALUE;
    *s = err_str(e);
    return *s ? 0 : CKCU_ERROR_INVALID_VALUE;
}

API CUresult cuGetErrorString(CUresult e, const char **s) { return cuGetErrorName(e, s); }

API CUresult cuGetExportTable(const void **tbl, const ckcu_uuid_t *id)
{
    count("cuGetExportTable");
    if (tbl) *tbl = NULL;
    return CKCU_ERROR_NOT_SUPPORTED;   /* undocumented: deliberately not emulated */
}

/* ---- devices ---- */
#define DEVCHECK(d) do { if ((d) < 0 || (d) >= g_ndev) return CKCU_ERROR_INVALID_DEVICE; } while (0)
API CUresult cuDeviceGet(ckcu_device_t *d, int ord)
{
    ENTER("cuDeviceGet");
    DEVCHECK(ord);
    if (!d) return CKCU_ERROR_INVALID_VALUE;
    *d = ord;
    return 0;
}

API CUresult cuDeviceGetCount(int *n)
{
    ENTER("cuDeviceGetCount");
    if (!n) return CKCU_ERROR_INVALID_VALUE;
    *n = g_ndev;
    return 0;
}

API CUresult cuDeviceGetName(char *name, int len, ckcu_device_t d)
{
    ENTER("cuDeviceGetName");
    DEVCHECK(d);
    if (!name || len <= 0) return CKCU_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "Fake CUDA Device %d%s", d, g_mig ? " MIG 1g.10gb" : "");
    return 0;
}

API CUresult cuDeviceGetAttribute(int *v, int attr, ckcu_device_t d)
{
    ENTER("cuDeviceGetAttribute");
    DEVCHECK(d);
    if (!v) return CKCU_ERROR_INVALID_VALUE;
    *v = attr == CKCU_DEVATTR_COMPUTE_CAPABILITY_MAJOR ? 9 : attr == CKCU_DEVATTR_PCI_BUS_ID ? d + 1 : 0;
    return 0;
}

static CUresult uuid_of(ckcu_uuid_t *u, ckcu_device_t d)
{
    DEVCHECK(d);
    if (!u) return CKCU_ERROR_INVALID_VALUE;
    for (int i = 0; i < 16; i++) u->bytes[i] = (unsigned char)(0xf0 + i + 16 * d);
    return 0;
}
API CUresult cuDeviceGetUuid(ckcu_uuid_t *u, ckcu_device_t d) { ENTER("cuDeviceGetUuid"); return uuid_of(u, d); }
API CUresult cuDeviceGetUuid_v2(ckcu_uuid_t *u, ckcu_device_t d) { ENTER("cuDeviceGetUuid_v2"); return uuid_of(u, d); }

API CUresult cuDeviceTotalMem_v2(size_t *b, ckcu_device_t d)
{
    ENTER("cuDeviceTotalMem_v2");
    DEVCHECK(d);
    if (!b) return CKCU_ERROR_INVALID_VALUE;
    *b = g_mem_size;
    return 0;
}

/* ---- contexts ---- */
API CUresult cuDevicePrimaryCtxRetain(ckcu_ctx_t *c, ckcu_device_t d)
{
    ENTER("cuDevicePrimaryCtxRetain");
    DEVCHECK(d);
    if (!c) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    if (!g_primary[d] || obj_check(g_primary[d], T_CTX)) {
        g_primary[d] = obj_new(sizeof(struct ctx), T_CTX);
        g_primary[d]->dev = d;
        g_primary[d]->primary = 1;
    }
    g_primary[d]->refs++;
    *c = (ckcu_ctx_t)g_primary[d];
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static void ctx_free_ranges(struct ctx *c)
{
    for (int i = 0; i < g_nranges; i++)
        if (g_ranges[i].live && g_ranges[i].ctx == c && g_ranges[i].kind != R_VMM) range_free(&g_ranges[i]);
}

static CUresult primary_release(ckcu_device_t d, int reset)
{
    DEVCHECK(d);
    pthread_mutex_lock(&g_mu);
    struct ctx *c = g_primary[d];
    CUresult r = 0;
    if (!c || obj_check(c, T_CTX)) r = reset ? 0 : CKCU_ERROR_INVALID_CONTEXT;
    else if (reset || --c->refs == 0) {
        ctx_free_ranges(c);
        if (!reset) { obj_kill(c); g_primary[d] = NULL; }
    }
    pthread_mutex_unlock(&g_mu);
    return r;
}
API CUresult cuDevicePrimaryCtxRelease(ckcu_device_t d) { ENTER("cuDevicePrimaryCtxRelease"); return primary_release(d, 0); }
API CUresult cuDevicePrimaryCtxRelease_v2(ckcu_device_t d) { ENTER("cuDevicePrimaryCtxRelease_v2"); return primary_release(d, 0); }
API CUresult cuDevicePrimaryCtxReset(ckcu_device_t d) { ENTER("cuDevicePrimaryCtxReset"); return primary_release(d, 1); }
API CUresult cuDevicePrimaryCtxReset_v2(ckcu_device_t d) { ENTER("cuDevicePrimaryCtxReset_v2"); return primary_release(d, 1); }

static CUresult ctx_create(ckcu_ctx_t *c, ckcu_device_t d)
{
    DEVCHECK(d);
    if (!c) return CKCU_ERROR_INVALID_VALUE;
    struct ctx *x = obj_new(sizeof *x, T_CTX);
    if (!x) return CKCU_ERROR_OUT_OF_MEMORY;
    x->dev = d;
    x->refs = 1;
    /* A created context becomes current (pushed) on the calling thread. */
    if (t_depth < 16) t_stack[t_depth++] = x;
    *c = (ckcu_ctx_t)x;
    return 0;
}
API CUresult cuCtxCreate_v2(ckcu_ctx_t *c, unsigned f, ckcu_device_t d) { ENTER("cuCtxCreate_v2"); return ctx_create(c, d); }
API CUresult cuCtxCreate_v3(ckcu_ctx_t *c, void *a, int n, unsigned f, ckcu_device_t d) { ENTER("cuCtxCreate_v3"); return ctx_create(c, d); }
API CUresult cuCtxCreate_v4(ckcu_ctx_t *c, void *p, unsigned f, ckcu_device_t d) { ENTER("cuCtxCreate_v4"); return ctx_create(c, d); }

API CUresult cuCtxDestroy_v2(ckcu_ctx_t c)
{
    ENTER("cuCtxDestroy_v2");
    CUresult r = obj_check(c, T_CTX);
    if (r) return r;
    wait_all(1);
    pthread_mutex_lock(&g_mu);
    ctx_free_ranges((struct ctx *)c);
    obj_kill(c);
    pthread_mutex_unlock(&g_mu);
    for (int i = 0; i < t_depth; i++)
        if (t_stack[i] == (struct ctx *)c) t_stack[i] = NULL;
    return 0;
}

API CUresult cuCtxEnablePeerAccess(ckcu_ctx_t peer, unsigned flags)
{
    ENTER("cuCtxEnablePeerAccess");
    return obj_check(peer, T_CTX);
}

API CUresult cuCtxGetCurrent(ckcu_ctx_t *c)
{
    ENTER("cuCtxGetCurrent");
    if (!c) return CKCU_ERROR_INVALID_VALUE;
    *c = (ckcu_ctx_t)cur();
    return 0;
}

API CUresult cuCtxSetCurrent(ckcu_ctx_t c)
{
    ENTER("cuCtxSetCurrent");
    if (c && obj_check(c, T_CTX)) return CKCU_ERROR_INVALID_CONTEXT;
    set_cur((struct ctx *)c);
    return 0;
}

API CUresult cuCtxPushCurrent_v2(ckcu_ctx_t c)
{
    ENTER("cuCtxPushCurrent_v2");
    if (obj_check(c, T_CTX)) return CKCU_ERROR_INVALID_CONTEXT;
    if (t_depth >= 16) return CKCU_ERROR_INVALID_VALUE;
    t_stack[t_depth++] = (struct ctx *)c;
    return 0;
}

API CUresult cuCtxPopCurrent_v2(ckcu_ctx_t *c)
{
    ENTER("cuCtxPopCurrent_v2");
    if (!t_depth) return CKCU_ERROR_INVALID_CONTEXT;
    struct ctx *x = t_stack[--t_depth];
    if (c) *c = (ckcu_ctx_t)x;
    return 0;
}

API CUresult cuCtxGetDevice(ckcu_device_t *d)
{
    ENTER("cuCtxGetDevice");
    NEED_CTX();
    if (!d) return CKCU_ERROR_INVALID_VALUE;
    *d = cur()->dev;
    return 0;
}

API CUresult cuCtxGetDevice_v2(ckcu_device_t *d, ckcu_ctx_t c)
{
    ENTER("cuCtxGetDevice_v2");
    struct ctx *x = c ? (struct ctx *)c : cur();
    if (obj_check(x, T_CTX)) return CKCU_ERROR_INVALID_CONTEXT;
    if (!d) return CKCU_ERROR_INVALID_VALUE;
    *d = x->dev;
    return 0;
}

static CUresult sync_all(void)
{
    wait_all(1);
    CUresult r = g_sticky;
    return r;
}
API CUresult cuCtxSynchronize(void) { ENTER("cuCtxSynchronize"); NEED_CTX(); return sync_all(); }
API CUresult cuCtxSynchronize_v2(ckcu_ctx_t c)
{
    ENTER("cuCtxSynchronize_v2");
    if (c && obj_check(c, T_CTX)) return CKCU_ERROR_INVALID_CONTEXT;
    if (!c) NEED_CTX();
    return sync_all();
}

/* ---- linear device memory ---- */
static CUresult mem_alloc(ckcu_deviceptr_t *p, size_t n, int kind)
{
    if (!p || !n) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    CUresult r = 0;
    int64_t off = phys_alloc((n + 511) & ~(uint64_t)511, 512);
    if (off < 0) r = CKCU_ERROR_OUT_OF_MEMORY;
    else if (!range_add(g_va_base + (uint64_t)off, n, (uint64_t)off, kind)) { phys_free((uint64_t)off); r = CKCU_ERROR_OUT_OF_MEMORY; }
    else *p = g_va_base + (uint64_t)off;
    pthread_mutex_unlock(&g_mu);
    return r;
}

API CUresult cuMemAlloc_v2(ckcu_deviceptr_t *p, size_t n)
{
    ENTER("cuMemAlloc_v2");
    NEED_CTX();
    return mem_alloc(p, n, R_LINEAR);
}

API CUresult cuMemAllocPitch_v2(ckcu_deviceptr_t *p, size_t *pitch, size_t w, size_t h, unsigned esz)
{
    ENTER("cuMemAllocPitch_v2");
    NEED_CTX();
    if (!pitch || !w || !h || (esz != 4 && esz != 8 && esz != 16)) return CKCU_ERROR_INVALID_VALUE;
    size_t pt = (w + 511) & ~(size_t)511;
    CUresult r = mem_alloc(p, pt * h, R_LINEAR);
    if (!r) *pitch = pt;
    return r;
}

API CUresult cuMemFree_v2(ckcu_deviceptr_t p)
{
    ENTER("cuMemFree_v2");
    NEED_CTX();
    if (!p) return 0;
    wait_all(1);          /* cuMemFree synchronises with work that may use the memory */
    pthread_mutex_lock(&g_mu);
    struct range *r = range_at(p, R_LINEAR);
    if (!r) r = range_at(p, R_MANAGED);
    CUresult e = r ? 0 : CKCU_ERROR_INVALID_VALUE;
    if (r) range_free(r);
    pthread_mutex_unlock(&g_mu);
    return e;
}

API CUresult cuMemAllocManaged(ckcu_deviceptr_t *p, size_t n, unsigned flags)
{
    ENTER("cuMemAllocManaged");
    NEED_CTX();
    if (!p || !n) return CKCU_ERROR_INVALID_VALUE;
    void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return CKCU_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&g_mu);
    range_add((uint64_t)(uintptr_t)m, n, 0, R_MANAGED);
    pthread_mutex_unlock(&g_mu);
    *p = (uint64_t)(uintptr_t)m;
    return 0;
}

API CUresult cuMemGetInfo_v2(size_t *fr, size_t *tot)
{
    ENTER("cuMemGetInfo_v2");
    NEED_CTX();
    long hold = __atomic_exchange_n(&g_hold_us, 0, __ATOMIC_RELAXED);
    if (hold > 0) {               /* once: a call in flight that cuCheckpointProcessLock must wait for */
        struct timespec ts = { hold / 1000000, (hold % 1000000) * 1000 };
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&g_mu);
    if (fr) *fr = g_mem_size - used_bytes();
    if (tot) *tot = g_mem_size;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

API CUresult cuMemGetAddressRange_v2(ckcu_deviceptr_t *base, size_t *n, ckcu_deviceptr_t p)
{
    ENTER("cuMemGetAddressRange_v2");
    pthread_mutex_lock(&g_mu);
    CUresult r = CKCU_ERROR_NOT_FOUND;
    for (int i = 0; i < g_nranges; i++)
        if (g_ranges[i].live && p >= g_ranges[i].dva && p < g_ranges[i].dva + g_ranges[i].len) {
            if (base) *base = g_ranges[i].dva;
            if (n) *n = g_ranges[i].len;
            r = 0;
            break;
        }
    pthread_mutex_unlock(&g_mu);
    return r;
}

API CUresult cuPointerGetAttribute(void *v, int attr, ckcu_deviceptr_t p)
{
    ENTER("cuPointerGetAttribute");
    if (!v) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    struct range *r = NULL;
    for (int i = 0; i < g_nranges; i++)
        if (g_ranges[i].live && p >= g_ranges[i].dva && p < g_ranges[i].dva + g_ranges[i].len) r = &g_ranges[i];
    CUresult e = 0;
    if (!r) e = CKCU_ERROR_INVALID_VALUE;
    else switch (attr) {
    case CKCU_POINTER_MEMORY_TYPE: *(unsigned *)v = r->kind == R_MANAGED ? CKCU_MEMORYTYPE_UNIFIED : CKCU_MEMORYTYPE_DEVICE; break;
    case CKCU_POINTER_IS_MANAGED: *(int *)v = r->kind == R_MANAGED; break;
    case CKCU_POINTER_RANGE_START_ADDR: *(ckcu_deviceptr_t *)v = r->dva; break;
    case CKCU_POINTER_RANGE_SIZE: *(size_t *)v = r->len; break;
    case CKCU_POINTER_CONTEXT: *(ckcu_ctx_t *)v = (ckcu_ctx_t)r->ctx; break;
    case CKCU_POINTER_DEVICE_ORDINAL: *(int *)v = r->ctx ? r->ctx->dev : 0; break;
    default: e = CKCU_ERROR_INVALID_VALUE;
    }
    pthread_mutex_unlock(&g_mu);
    return e;
}

/* ---- stream-ordered allocation and pools ---- */
static CUresult alloc_async(ckcu_deviceptr_t *p, size_t n, ckcu_stream_t s, int pt)
{
    CUresult e;
    if (!stream_of(s, pt, &e)) return e;
    return mem_alloc(p, n, R_LINEAR);      /* usable in stream order: immediately here */
}
API CUresult cuMemAllocAsync(ckcu_deviceptr_t *p, size_t n, ckcu_stream_t s) { ENTER("cuMemAllocAsync"); NEED_CTX(); return alloc_async(p, n, s, 0); }
API CUresult cuMemAllocAsync_ptsz(ckcu_deviceptr_t *p, size_t n, ckcu_stream_t s) { ENTER("cuMemAllocAsync_ptsz"); NEED_CTX(); return alloc_async(p, n, s, 1); }
API CUresult cuMemAllocFromPoolAsync(ckcu_deviceptr_t *p, size_t n, ckcu_mempool_t pool, ckcu_stream_t s)
{
    ENTER("cuMemAllocFromPoolAsync");
    NEED_CTX();
    if (obj_check(pool, T_POOL)) return CKCU_ERROR_INVALID_HANDLE;
    return alloc_async(p, n, s, 0);
}
API CUresult cuMemAllocFromPoolAsync_ptsz(ckcu_deviceptr_t *p, size_t n, ckcu_mempool_t pool, ckcu_stream_t s)
{
    ENTER("cuMemAllocFromPoolAsync_ptsz");
    NEED_CTX();
    if (obj_check(pool, T_POOL)) return CKCU_ERROR_INVALID_HANDLE;
    return alloc_async(p, n, s, 1);
}

static CUresult free_async(ckcu_deviceptr_t p, ckcu_stream_t s, int pt)
{
    CUresult e;
    struct stream *st = stream_of(s, pt, &e);
    if (!st) return e;
    pthread_mutex_lock(&g_mu);
    int ok = range_at(p, R_LINEAR) != NULL;
    pthread_mutex_unlock(&g_mu);
    if (!ok) return CKCU_ERROR_INVALID_VALUE;
    struct op *o = op_new(OP_FREE);
    if (!o) return CKCU_ERROR_OUT_OF_MEMORY;
    o->d = p;
    return enqueue(st, o);
}
API CUresult cuMemFreeAsync(ckcu_deviceptr_t p, ckcu_stream_t s) { ENTER("cuMemFreeAsync"); NEED_CTX(); return free_async(p, s, 0); }
API CUresult cuMemFreeAsync_ptsz(ckcu_deviceptr_t p, ckcu_stream_t s) { ENTER("cuMemFreeAsync_ptsz"); NEED_CTX(); return free_async(p, s, 1); }

API CUresult cuMemPoolCreate(ckcu_mempool_t *pool, const void *props)
{
    ENTER("cuMemPoolCreate");
    if (!pool || !props) return CKCU_ERROR_INVALID_VALUE;
    *pool = obj_new(sizeof(struct obj), T_POOL);
    return *pool ? 0 : CKCU_ERROR_OUT_OF_MEMORY;
}

API CUresult cuMemPoolDestroy(ckcu_mempool_t pool)
{
    ENTER("cuMemPoolDestroy");
    CUresult r = obj_check(pool, T_POOL);
    if (!r) obj_kill(pool);
    return r;
}

/* ---- VMM ---- */
#define GRAN (2u << 20)
API CUresult cuMemGetAllocationGranularity(size_t *g, const ckcu_mem_alloc_prop_t *prop, int opt)
{
    ENTER("cuMemGetAllocationGranularity");
    if (!g || !prop) return CKCU_ERROR_INVALID_VALUE;
    *g = GRAN;
    return 0;
}

API CUresult cuMemAddressReserve(ckcu_deviceptr_t *p, size_t n, size_t align, ckcu_deviceptr_t hint,
                                 unsigned long long flags)
{
    ENTER("cuMemAddressReserve");
    if (!p || !n || n % GRAN || flags) return CKCU_ERROR_INVALID_VALUE;
    uint64_t lo = g_va_base + g_mem_size, hi = g_va_base + g_va_size;
    pthread_mutex_lock(&g_mu);
    uint64_t at = 0;
    if (hint && !g_hint_refuse && hint >= lo && hint + n <= hi && hint % GRAN == 0) {
        at = hint;
        for (int i = 0; i < g_nresv; i++)
            if (g_resv[i].live && hint < g_resv[i].va + g_resv[i].len && hint + n > g_resv[i].va) at = 0;
    }
    if (!at) {
        if (!g_vmm_bump) g_vmm_bump = lo;
        at = g_vmm_bump;
        for (int i = 0; i < g_nresv; i++)        /* skip over hinted reservations */
            if (g_resv[i].live && at < g_resv[i].va + g_resv[i].len && at + n > g_resv[i].va)
                at = g_resv[i].va + g_resv[i].len;
        g_vmm_bump = at + n;
    }
    CUresult r = 0;
    if (at + n > hi || g_nresv >= 256) r = CKCU_ERROR_OUT_OF_MEMORY;
    else { g_resv[g_nresv++] = (struct resv){ at, n, 1 }; *p = at; }
    pthread_mutex_unlock(&g_mu);
    return r;
}

API CUresult cuMemAddressFree(ckcu_deviceptr_t p, size_t n)
{
    ENTER("cuMemAddressFree");
    pthread_mutex_lock(&g_mu);
    CUresult r = CKCU_ERROR_INVALID_VALUE;
    for (int i = 0; i < g_nresv; i++)
        if (g_resv[i].live && g_resv[i].va == p && g_resv[i].len == n) { g_resv[i].live = 0; r = 0; }
    pthread_mutex_unlock(&g_mu);
    return r;
}

API CUresult cuMemCreate(ckcu_memhandle_t *h, size_t n, const ckcu_mem_alloc_prop_t *prop,
                         unsigned long long flags)
{
    ENTER("cuMemCreate");
    if (!h || !prop || !n || n % GRAN || prop->type != CKCU_MEM_ALLOCATION_TYPE_PINNED ||
        prop->location.type != CKCU_MEM_LOCATION_TYPE_DEVICE)
        return CKCU_ERROR_INVALID_VALUE;
    if (prop->location.id < 0 || prop->location.id >= g_ndev) return CKCU_ERROR_INVALID_DEVICE;
    pthread_mutex_lock(&g_mu);
    int64_t off = phys_alloc(n, GRAN);
    struct vmm *v = off < 0 ? NULL : obj_new(sizeof *v, T_VMM);
    CUresult r = 0;
    if (!v) { if (off >= 0) phys_free((uint64_t)off); r = CKCU_ERROR_OUT_OF_MEMORY; }
    else { v->phys = (uint64_t)off; v->size = n; *h = (ckcu_memhandle_t)(uintptr_t)v; }
    pthread_mutex_unlock(&g_mu);
    return r;
}

static void vmm_maybe_free(struct vmm *v)
{
    if (v->released && !v->maps) { phys_free(v->phys); obj_kill(v); }
}

API CUresult cuMemRelease(ckcu_memhandle_t h)
{
    ENTER("cuMemRelease");
    struct vmm *v = (struct vmm *)(uintptr_t)h;
    if (obj_check(v, T_VMM) || v->released) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    v->released = 1;
    vmm_maybe_free(v);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

API CUresult cuMemMap(ckcu_deviceptr_t p, size_t n, size_t off, ckcu_memhandle_t h, unsigned long long flags)
{
    ENTER("cuMemMap");
    struct vmm *v = (struct vmm *)(uintptr_t)h;
    if (obj_check(v, T_VMM) || v->released || off + n > v->size || flags) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    int inside = 0;
    for (int i = 0; i < g_nresv; i++)
        if (g_resv[i].live && p >= g_resv[i].va && p + n <= g_resv[i].va + g_resv[i].len) inside = 1;
    CUresult r = CKCU_ERROR_INVALID_VALUE;
    struct range *rg = inside ? range_add(p, n, v->phys + off, R_VMM) : NULL;
    if (rg) { rg->access = 0; rg->v = v; v->maps++; r = 0; }
    pthread_mutex_unlock(&g_mu);
    return r;
}

API CUresult cuMemUnmap(ckcu_deviceptr_t p, size_t n)
{
    ENTER("cuMemUnmap");
    pthread_mutex_lock(&g_mu);
    struct range *r = range_at(p, R_VMM);
    CUresult e = CKCU_ERROR_INVALID_VALUE;
    if (r && r->len == n) {
        r->live = 0;
        if (r->v) { r->v->maps--; vmm_maybe_free(r->v); }
        e = 0;
    }
    pthread_mutex_unlock(&g_mu);
    return e;
}

API CUresult cuMemSetAccess(ckcu_deviceptr_t p, size_t n, const ckcu_mem_access_desc_t *d, size_t cnt)
{
    ENTER("cuMemSetAccess");
    if (!d || !cnt) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    int hit = 0;
    for (int i = 0; i < g_nranges; i++)
        if (g_ranges[i].live && g_ranges[i].kind == R_VMM && g_ranges[i].dva >= p &&
            g_ranges[i].dva + g_ranges[i].len <= p + n) {
            g_ranges[i].access = d->flags == CKCU_MEM_ACCESS_FLAGS_PROT_READWRITE;
            hit = 1;
        }
    pthread_mutex_unlock(&g_mu);
    return hit ? 0 : CKCU_ERROR_INVALID_VALUE;
}

API CUresult cuMemExportToShareableHandle(void *out, ckcu_memhandle_t h, int type, unsigned long long flags)
{
    ENTER("cuMemExportToShareableHandle");
    return CKCU_ERROR_NOT_SUPPORTED;
}

API CUresult cuMemImportFromShareableHandle(ckcu_memhandle_t *h, void *os, int type)
{
    ENTER("cuMemImportFromShareableHandle");
    return CKCU_ERROR_NOT_SUPPORTED;
}

/* ---- pinned host memory ---- */
static CUresult host_alloc(void **pp, size_t n, int reg)
{
    if (!pp || !n) return CKCU_ERROR_INVALID_VALUE;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return CKCU_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&g_mu);
    int i;
    for (i = 0; i < g_nhost && g_host[i].live; i++) {}
    if (i == 1024) { pthread_mutex_unlock(&g_mu); munmap(p, n); return CKCU_ERROR_OUT_OF_MEMORY; }
    g_host[i] = (struct hostblk){ p, n, reg, 1 };
    if (i == g_nhost) g_nhost++;
    pthread_mutex_unlock(&g_mu);
    *pp = p;
    return 0;
}
API CUresult cuMemAllocHost_v2(void **pp, size_t n) { ENTER("cuMemAllocHost_v2"); NEED_CTX(); return host_alloc(pp, n, 0); }
API CUresult cuMemHostAlloc(void **pp, size_t n, unsigned f) { ENTER("cuMemHostAlloc"); NEED_CTX(); return host_alloc(pp, n, 0); }

API CUresult cuMemFreeHost(void *p)
{
    ENTER("cuMemFreeHost");
    pthread_mutex_lock(&g_mu);
    CUresult r = CKCU_ERROR_INVALID_VALUE;
    for (int i = 0; i < g_nhost; i++)
        if (g_host[i].live && !g_host[i].reg && g_host[i].p == p) {
            munmap(p, g_host[i].n);
            g_host[i].live = 0;
            r = 0;
        }
    pthread_mutex_unlock(&g_mu);
    return r;
}

API CUresult cuMemHostRegister_v2(void *p, size_t n, unsigned flags)
{
    ENTER("cuMemHostRegister_v2");
    NEED_CTX();
    if (!p || !n) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_mu);
    int i;
    for (i = 0; i < g_nhost && g_host[i].live; i++) {}
    CUresult r = i < 1024 ? 0 : CKCU_ERROR_OUT_OF_MEMORY;
    if (!r) { g_host[i] = (struct hostblk){ p, n, 1, 1 }; if (i == g_nhost) g_nhost++; }
    pthread_mutex_unlock(&g_mu);
    return r;
}

API CUresult cuMemHostUnregister(void *p)
{
    ENTER("cuMemHostUnregister");
    pthread_mutex_lock(&g_mu);
    CUresult r = CKCU_ERROR_INVALID_VALUE;
    for (int i = 0; i < g_nhost; i++)
        if (g_host[i].live && g_host[i].reg && g_host[i].p == p) { g_host[i].live = 0; r = 0; }
    pthread_mutex_unlock(&g_mu);
    return r;
}

/* ---- IPC: only enough for the feature gate ---- */
API CUresult cuIpcGetMemHandle(ckcu_ipc_handle_t *h, ckcu_deviceptr_t p)
{
    ENTER("cuIpcGetMemHandle");
    if (!h) return CKCU_ERROR_INVALID_VALUE;
    memset(h, 0, sizeof *h);
    memcpy(h->reserved, &p, sizeof p);
    return 0;
}
API CUresult cuIpcOpenMemHandle(ckcu_deviceptr_t *p, ckcu_ipc_handle_t h, unsigned f) { ENTER("cuIpcOpenMemHandle"); return CKCU_ERROR_NOT_SUPPORTED; }
API CUresult cuIpcOpenMemHandle_v2(ckcu_deviceptr_t *p, ckcu_ipc_handle_t h, unsigned f) { ENTER("cuIpcOpenMemHandle_v2"); return CKCU_ERROR_NOT_SUPPORTED; }
API CUresult cuIpcCloseMemHandle(ckcu_deviceptr_t p) { ENTER("cuIpcCloseMemHandle"); return CKCU_ERROR_INVALID_VALUE; }
API CUresult cuIpcGetEventHandle(ckcu_ipc_handle_t *h, ckcu_event_t e) { ENTER("cuIpcGetEventHandle"); return CKCU_ERROR_NOT_SUPPORTED; }
API CUresult cuIpcOpenEventHandle(ckcu_event_t *e, ckcu_ipc_handle_t h) { ENTER("cuIpcOpenEventHandle"); return CKCU_ERROR_NOT_SUPPORTED; }

/* ---- copies ---- */
static CUresult copy_sync(int type, uint64_t d, uint64_t s, void *h, size_t n, int pt)
{
    struct stream *st = pt ? pts() : &g_legacy_s;
    stream_wait(st, 1);                 /* ordered after earlier work in that stream */
    pthread_mutex_lock(&g_mu);
    char *a = NULL, *b = NULL;
    CUresult r = 0;
    switch (type) {
    case OP_H2D: if ((a = xlate(d, n))) memcpy(a, h, n); else r = CKCU_ERROR_INVALID_VALUE; break;
    case OP_D2H: if ((a = xlate(s, n))) memcpy(h, a, n); else r = CKCU_ERROR_INVALID_VALUE; break;
    case OP_D2D:
        if ((a = xlate(d, n)) && (b = xlate(s, n))) memmove(a, b, n); else r = CKCU_ERROR_INVALID_VALUE;
        break;
    }
    pthread_mutex_unlock(&g_mu);
    return r;
}

static CUresult copy_async(int type, uint64_t d, uint64_t s, void *h, size_t n, ckcu_stream_t hs, int pt)
{
    CUresult e;
    struct stream *st = stream_of(hs, pt, &e);
    if (!st) return e;
    pthread_mutex_lock(&g_mu);
    int ok = (type == OP_D2H || xlate(d, n)) && (type == OP_H2D || xlate(s, n));
    pthread_mutex_unlock(&g_mu);
    if (!ok) return CKCU_ERROR_INVALID_VALUE;
    struct op *o = op_new(type);
    if (!o) return CKCU_ERROR_OUT_OF_MEMORY;
    o->d = d; o->s = s; o->h = h; o->n = n;
    return enqueue(st, o);
}

API CUresult cuMemcpy(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n) { ENTER("cuMemcpy"); NEED_CTX(); return copy_sync(OP_D2D, d, s, NULL, n, 0); }
API CUresult cuMemcpy_ptds(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n) { ENTER("cuMemcpy_ptds"); NEED_CTX(); return copy_sync(OP_D2D, d, s, NULL, n, 1); }
API CUresult cuMemcpyAsync(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyAsync"); NEED_CTX(); return copy_async(OP_D2D, d, s, NULL, n, st, 0); }
API CUresult cuMemcpyAsync_ptsz(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyAsync_ptsz"); NEED_CTX(); return copy_async(OP_D2D, d, s, NULL, n, st, 1); }
API CUresult cuMemcpyHtoD_v2(ckcu_deviceptr_t d, const void *s, size_t n) { ENTER("cuMemcpyHtoD_v2"); NEED_CTX(); return copy_sync(OP_H2D, d, 0, (void *)s, n, 0); }
API CUresult cuMemcpyHtoD_v2_ptds(ckcu_deviceptr_t d, const void *s, size_t n) { ENTER("cuMemcpyHtoD_v2_ptds"); NEED_CTX(); return copy_sync(OP_H2D, d, 0, (void *)s, n, 1); }
API CUresult cuMemcpyDtoH_v2(void *d, ckcu_deviceptr_t s, size_t n) { ENTER("cuMemcpyDtoH_v2"); NEED_CTX(); return copy_sync(OP_D2H, 0, s, d, n, 0); }
API CUresult cuMemcpyDtoH_v2_ptds(void *d, ckcu_deviceptr_t s, size_t n) { ENTER("cuMemcpyDtoH_v2_ptds"); NEED_CTX(); return copy_sync(OP_D2H, 0, s, d, n, 1); }
API CUresult cuMemcpyDtoD_v2(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n) { ENTER("cuMemcpyDtoD_v2"); NEED_CTX(); return copy_sync(OP_D2D, d, s, NULL, n, 0); }
API CUresult cuMemcpyDtoD_v2_ptds(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n) { ENTER("cuMemcpyDtoD_v2_ptds"); NEED_CTX(); return copy_sync(OP_D2D, d, s, NULL, n, 1); }
API CUresult cuMemcpyHtoDAsync_v2(ckcu_deviceptr_t d, const void *s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyHtoDAsync_v2"); NEED_CTX(); return copy_async(OP_H2D, d, 0, (void *)s, n, st, 0); }
API CUresult cuMemcpyHtoDAsync_v2_ptsz(ckcu_deviceptr_t d, const void *s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyHtoDAsync_v2_ptsz"); NEED_CTX(); return copy_async(OP_H2D, d, 0, (void *)s, n, st, 1); }
API CUresult cuMemcpyDtoHAsync_v2(void *d, ckcu_deviceptr_t s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyDtoHAsync_v2"); NEED_CTX(); return copy_async(OP_D2H, 0, s, d, n, st, 0); }
API CUresult cuMemcpyDtoHAsync_v2_ptsz(void *d, ckcu_deviceptr_t s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyDtoHAsync_v2_ptsz"); NEED_CTX(); return copy_async(OP_D2H, 0, s, d, n, st, 1); }
API CUresult cuMemcpyDtoDAsync_v2(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyDtoDAsync_v2"); NEED_CTX(); return copy_async(OP_D2D, d, s, NULL, n, st, 0); }
API CUresult cuMemcpyDtoDAsync_v2_ptsz(ckcu_deviceptr_t d, ckcu_deviceptr_t s, size_t n, ckcu_stream_t st) { ENTER("cuMemcpyDtoDAsync_v2_ptsz"); NEED_CTX(); return copy_async(OP_D2D, d, s, NULL, n, st, 1); }

static CUresult memset_op(int type, uint64_t d, unsigned v, size_t n, ckcu_stream_t hs, int pt, int sync)
{
    CUresult e;
    struct stream *st = sync ? (pt ? pts() : &g_legacy_s) : stream_of(hs, pt, &e);
    if (!st) return e;
    pthread_mutex_lock(&g_mu);
    int ok = xlate(d, type == OP_SET32 ? n * 4 : n) != NULL;
    pthread_mutex_unlock(&g_mu);
    if (!ok) return CKCU_ERROR_INVALID_VALUE;
    struct op *o = op_new(type);
    if (!o) return CKCU_ERROR_OUT_OF_MEMORY;
    o->d = d; o->v = v; o->n = n;
    enqueue(st, o);
    if (sync) stream_wait(st, 1);
    return 0;
}
API CUresult cuMemsetD8_v2(ckcu_deviceptr_t d, unsigned char v, size_t n) { ENTER("cuMemsetD8_v2"); NEED_CTX(); return memset_op(OP_SET8, d, v, n, NULL, 0, 1); }
API CUresult cuMemsetD8_v2_ptds(ckcu_deviceptr_t d, unsigned char v, size_t n) { ENTER("cuMemsetD8_v2_ptds"); NEED_CTX(); return memset_op(OP_SET8, d, v, n, NULL, 1, 1); }
API CUresult cuMemsetD32_v2(ckcu_deviceptr_t d, unsigned v, size_t n) { ENTER("cuMemsetD32_v2"); NEED_CTX(); return memset_op(OP_SET32, d, v, n, NULL, 0, 1); }
API CUresult cuMemsetD32_v2_ptds(ckcu_deviceptr_t d, unsigned v, size_t n) { ENTER("cuMemsetD32_v2_ptds"); NEED_CTX(); return memset_op(OP_SET32, d, v, n, NULL, 1, 1); }
API CUresult cuMemsetD8Async(ckcu_deviceptr_t d, unsigned char v, size_t n, ckcu_stream_t s) { ENTER("cuMemsetD8Async"); NEED_CTX(); return memset_op(OP_SET8, d, v, n, s, 0, 0); }
API CUresult cuMemsetD8Async_ptsz(ckcu_deviceptr_t d, unsigned char v, size_t n, ckcu_stream_t s) { ENTER("cuMemsetD8Async_ptsz"); NEED_CTX(); return memset_op(OP_SET8, d, v, n, s, 1, 0); }
API CUresult cuMemsetD32Async(ckcu_deviceptr_t d, unsigned v, size_t n, ckcu_stream_t s) { ENTER("cuMemsetD32Async"); NEED_CTX(); return memset_op(OP_SET32, d, v, n, s, 0, 0); }
API CUresult cuMemsetD32Async_ptsz(ckcu_deviceptr_t d, unsigned v, size_t n, ckcu_stream_t s) { ENTER("cuMemsetD32Async_ptsz"); NEED_CTX(); return memset_op(OP_SET32, d, v, n, s, 1, 0); }

/* ---- modules, libraries, kernels ---- */
static size_t type_size(const char *t)
{
    if (!strcmp(t, ".b8") || !strcmp(t, ".u8") || !strcmp(t, ".s8")) return 1;
    if (!strcmp(t, ".b16") || !strcmp(t, ".u16") || !strcmp(t, ".s16") || !strcmp(t, ".f16")) return 2;
    if (!strcmp(t, ".b64") || !strcmp(t, ".u64") || !strcmp(t, ".s64") || !strcmp(t, ".f64")) return 8;
    return 4;
}

/* Scans PTX text for ".entry NAME" and ".global [.align N] .TYPE NAME[COUNT]". */
static CUresult parse_ptx(struct mod *m, const char *txt)
{
    if (!txt || (unsigned char)txt[0] == 0x7f) return CKCU_ERROR_INVALID_IMAGE;
    if (!strstr(txt, ".version") && !strstr(txt, ".entry")) return CKCU_ERROR_INVALID_IMAGE;
    for (const char *p = txt; (p = strstr(p, ".entry")); ) {
        p += 6;
        while (*p == ' ' || *p == '\t') p++;
        int k = 0;
        char name[64];
        while ((p[k] == '_' || (p[k] >= 'a' && p[k] <= 'z') || (p[k] >= 'A' && p[k] <= 'Z') ||
                (p[k] >= '0' && p[k] <= '9')) && k < 63) { name[k] = p[k]; k++; }
        name[k] = 0;
        if (k && m->nentries < MAXG) strcpy(m->entries[m->nentries++], name);
    }
    for (const char *p = txt; (p = strstr(p, ".global")); ) {
        p += 7;
        char tok[64], type[64] = ".u32";
        for (;;) {
            while (*p == ' ' || *p == '\t') p++;
            int k = 0;
            while (p[k] && p[k] != ' ' && p[k] != '\t' && p[k] != ';' && p[k] != '\n' && k < 63) { tok[k] = p[k]; k++; }
            tok[k] = 0;
            p += k;
            if (!k) break;
            if (!strcmp(tok, ".align")) { while (*p == ' ') p++; while (*p >= '0' && *p <= '9') p++; continue; }
            if (tok[0] == '.') { snprintf(type, sizeof type, "%s", tok); continue; }
            size_t cnt = 1;
            char *br = strchr(tok, '[');
            if (br) { cnt = strtoul(br + 1, NULL, 10); *br = 0; if (!cnt) cnt = 1; }
            char *eq = strchr(tok, '=');
            if (eq) *eq = 0;
            if (m->nglobals < MAXG) {
                int g = m->nglobals++;
                snprintf(m->globals[g].name, sizeof m->globals[g].name, "%s", tok);
                m->globals[g].size = cnt * type_size(type);
            }
            break;
        }
    }
    return 0;
}

static CUresult mod_load(struct mod **out, const char *txt, int is_lib)
{
    struct mod *m = obj_new(sizeof *m, T_MOD);
    if (!m) return CKCU_ERROR_OUT_OF_MEMORY;
    CUresult r = parse_ptx(m, txt);
    if (r) { obj_kill(m); return r; }
    m->is_lib = is_lib;
    m->ctx = cur();
    for (int g = 0; g < m->nglobals; g++) {
        ckcu_deviceptr_t p;
        if ((r = mem_alloc(&p, m->globals[g].size, R_GLOBAL))) return r;
        pthread_mutex_lock(&g_mu);
        memset(xlate(p, m->globals[g].size), 0, m->globals[g].size);
        pthread_mutex_unlock(&g_mu);
        m->globals[g].addr = p;
    }
    *out = m;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 20);
    if (buf) fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

API CUresult cuModuleLoadData(ckcu_module_t *m, const void *img)
{
    ENTER("cuModuleLoadData");
    NEED_CTX();
    if (!m) return CKCU_ERROR_INVALID_VALUE;
    return mod_load((struct mod **)m, img, 0);
}
API CUresult cuModuleLoadDataEx(ckcu_module_t *m, const void *img, unsigned n, void *o, void **v)
{
    ENTER("cuModuleLoadDataEx");
    NEED_CTX();
    if (!m) return CKCU_ERROR_INVALID_VALUE;
    return mod_load((struct mod **)m, img, 0);
}
API CUresult cuModuleLoadFatBinary(ckcu_module_t *m, const void *fat)
{
    ENTER("cuModuleLoadFatBinary");
    NEED_CTX();
    if (!m) return CKCU_ERROR_INVALID_VALUE;
    return mod_load((struct mod **)m, fat, 0);
}
API CUresult cuModuleLoad(ckcu_module_t *m, const char *path)
{
    ENTER("cuModuleLoad");
    NEED_CTX();
    char *t = read_file(path);
    if (!t) return CKCU_ERROR_NOT_FOUND;
    CUresult r = m ? mod_load((struct mod **)m, t, 0) : CKCU_ERROR_INVALID_VALUE;
    free(t);
    return r;
}

static CUresult mod_unload(struct mod *m, int is_lib)
{
    if (obj_check(m, T_MOD) || m->is_lib != is_lib) return CKCU_ERROR_INVALID_HANDLE;
    wait_all(1);
    pthread_mutex_lock(&g_mu);
    for (int g = 0; g < m->nglobals; g++) {
        struct range *r = range_at(m->globals[g].addr, R_GLOBAL);
        if (r) range_free(r);
    }
    obj_kill(m);
    pthread_mutex_unlock(&g_mu);
    return 0;
}
API CUresult cuModuleUnload(ckcu_module_t m) { ENTER("cuModuleUnload"); return mod_unload((struct mod *)m, 0); }

static CUresult get_func(struct func **f, struct mod *m, const char *name)
{
    if (!f || !name) return CKCU_ERROR_INVALID_VALUE;
    if (obj_check(m, T_MOD)) return CKCU_ERROR_INVALID_HANDLE;
    for (int i = 0; i < m->nentries; i++)
        if (!strcmp(m->entries[i], name)) {
            struct func *x = obj_new(sizeof *x, T_FUNC);
            if (!x) return CKCU_ERROR_OUT_OF_MEMORY;
            x->m = m;
            x->entry = i;
            *f = x;
            return 0;
        }
    return CKCU_ERROR_NOT_FOUND;
}
API CUresult cuModuleGetFunction(ckcu_function_t *f, ckcu_module_t m, const char *name)
{
    ENTER("cuModuleGetFunction");
    return get_func((struct func **)f, (struct mod *)m, name);
}

static CUresult get_global(ckcu_deviceptr_t *p, size_t *n, struct mod *m, const char *name)
{
    if (obj_check(m, T_MOD)) return CKCU_ERROR_INVALID_HANDLE;
    if (!name) return CKCU_ERROR_INVALID_VALUE;
    for (int g = 0; g < m->nglobals; g++)
        if (!strcmp(m->globals[g].name, name)) {
            if (p) *p = m->globals[g].addr;
            if (n) *n = m->globals[g].size;
            return 0;
        }
    return CKCU_ERROR_NOT_FOUND;
}
API CUresult cuModuleGetGlobal_v2(ckcu_deviceptr_t *p, size_t *n, ckcu_module_t m, const char *name)
{
    ENTER("cuModuleGetGlobal_v2");
    return get_global(p, n, (struct mod *)m, name);
}

API CUresult cuLibraryLoadData(ckcu_library_t *l, const void *code, void *jo, void **jv, unsigned nj,
                               void *lo, void **lv, unsigned nl)
{
    ENTER("cuLibraryLoadData");
    NEED_CTX();
    if (!l) return CKCU_ERROR_INVALID_VALUE;
    return mod_load((struct mod **)l, code, 1);
}
API CUresult cuLibraryLoadFromFile(ckcu_library_t *l, const char *path, void *jo, void **jv, unsigned nj,
                                   void *lo, void **lv, unsigned nl)
{
    ENTER("cuLibraryLoadFromFile");
    NEED_CTX();
    char *t = read_file(path);
    if (!t) return CKCU_ERROR_NOT_FOUND;
    CUresult r = l ? mod_load((struct mod **)l, t, 1) : CKCU_ERROR_INVALID_VALUE;
    free(t);
    return r;
}
API CUresult cuLibraryUnload(ckcu_library_t l) { ENTER("cuLibraryUnload"); return mod_unload((struct mod *)l, 1); }

API CUresult cuLibraryGetKernel(ckcu_kernel_t *k, ckcu_library_t l, const char *name)
{
    ENTER("cuLibraryGetKernel");
    struct func *f;
    CUresult r = get_func(&f, (struct mod *)l, name);
    if (r) return r;
    struct kern *x = obj_new(sizeof *x, T_KERN);
    if (!x) return CKCU_ERROR_OUT_OF_MEMORY;
    x->m = f->m;
    x->entry = f->entry;
    x->f = f;
    *k = (ckcu_kernel_t)x;
    return 0;
}

API CUresult cuKernelGetFunction(ckcu_function_t *f, ckcu_kernel_t k)
{
    ENTER("cuKernelGetFunction");
    struct kern *x = (struct kern *)k;
    if (obj_check(x, T_KERN)) return CKCU_ERROR_INVALID_HANDLE;
    if (!f) return CKCU_ERROR_INVALID_VALUE;
    *f = (ckcu_function_t)x->f;
    return 0;
}

API CUresult cuLibraryGetGlobal(ckcu_deviceptr_t *p, size_t *n, ckcu_library_t l, const char *name)
{
    ENTER("cuLibraryGetGlobal");
    return get_global(p, n, (struct mod *)l, name);
}

API CUresult cuLibraryGetManaged(ckcu_deviceptr_t *p, size_t *n, ckcu_library_t l, const char *name)
{
    ENTER("cuLibraryGetManaged");
    return get_global(p, n, (struct mod *)l, name);
}

/* ---- launch ---- */
static CUresult launch(ckcu_function_t f, ckcu_stream_t hs, void **params, void **extra, int pt)
{
    struct func *x = (struct func *)f;
    if (obj_check(x, T_FUNC) || obj_check(x->m, T_MOD)) return CKCU_ERROR_INVALID_HANDLE;
    CUresult e;
    struct stream *st = stream_of(hs, pt, &e);
    if (!st) return e;
    struct op *o = op_new(OP_KERNEL);
    if (!o) return CKCU_ERROR_OUT_OF_MEMORY;
    o->f = x;
    const struct kdef *kd = kdef_of(x->m->entries[x->entry]);
    if (kd) {
        if (!params) { free(o); return CKCU_ERROR_INVALID_VALUE; }
        for (int i = 0; i < kd->nargs; i++) memcpy(&o->args[i], params[i], (size_t)kd->size[i]);
    }
    return enqueue(st, o);
}
API CUresult cuLaunchKernel(ckcu_function_t f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                            unsigned bz, unsigned shmem, ckcu_stream_t st, void **params, void **extra)
{
    ENTER("cuLaunchKernel");
    NEED_CTX();
    return launch(f, st, params, extra, 0);
}
API CUresult cuLaunchKernel_ptsz(ckcu_function_t f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                 unsigned bz, unsigned shmem, ckcu_stream_t st, void **params, void **extra)
{
    ENTER("cuLaunchKernel_ptsz");
    NEED_CTX();
    return launch(f, st, params, extra, 1);
}

/* ---- streams and events ---- */
static CUresult stream_create(ckcu_stream_t *s, unsigned flags)
{
    if (!s || flags > CKCU_STREAM_NON_BLOCKING) return CKCU_ERROR_INVALID_VALUE;
    struct stream *x = obj_new(sizeof *x, T_STREAM);
    if (!x) return CKCU_ERROR_OUT_OF_MEMORY;
    stream_init(x, flags);
    *s = (ckcu_stream_t)x;
    return 0;
}
API CUresult cuStreamCreate(ckcu_stream_t *s, unsigned flags) { ENTER("cuStreamCreate"); NEED_CTX(); return stream_create(s, flags); }
API CUresult cuStreamCreateWithPriority(ckcu_stream_t *s, unsigned flags, int prio) { ENTER("cuStreamCreateWithPriority"); NEED_CTX(); return stream_create(s, flags); }

API CUresult cuStreamDestroy_v2(ckcu_stream_t s)
{
    ENTER("cuStreamDestroy_v2");
    CUresult r = obj_check(s, T_STREAM);
    if (r) return r;
    stream_wait((struct stream *)s, 1);
    obj_kill(s);           /* the worker stays parked; the handle is dead */
    return 0;
}

static CUresult stream_sync(ckcu_stream_t hs, int pt)
{
    CUresult e;
    struct stream *st = stream_of(hs, pt, &e);
    if (!st) return e;
    stream_wait(st, 1);
    return g_sticky;
}
API CUresult cuStreamSynchronize(ckcu_stream_t s) { ENTER("cuStreamSynchronize"); return stream_sync(s, 0); }
API CUresult cuStreamSynchronize_ptsz(ckcu_stream_t s) { ENTER("cuStreamSynchronize_ptsz"); return stream_sync(s, 1); }

static CUresult stream_query(ckcu_stream_t hs, int pt)
{
    CUresult e;
    struct stream *st = stream_of(hs, pt, &e);
    if (!st) return e;
    pthread_mutex_lock(&st->mu);
    int idle = st->completed == st->submitted;
    pthread_mutex_unlock(&st->mu);
    return idle ? g_sticky : CKCU_ERROR_NOT_READY;
}
API CUresult cuStreamQuery(ckcu_stream_t s) { ENTER("cuStreamQuery"); return stream_query(s, 0); }
API CUresult cuStreamQuery_ptsz(ckcu_stream_t s) { ENTER("cuStreamQuery_ptsz"); return stream_query(s, 1); }

API CUresult cuEventCreate(ckcu_event_t *e, unsigned flags)
{
    ENTER("cuEventCreate");
    NEED_CTX();
    if (!e) return CKCU_ERROR_INVALID_VALUE;
    struct event *x = obj_new(sizeof *x, T_EVENT);
    if (!x) return CKCU_ERROR_OUT_OF_MEMORY;
    x->flags = flags;
    *e = (ckcu_event_t)x;
    return 0;
}

API CUresult cuEventDestroy_v2(ckcu_event_t e)
{
    ENTER("cuEventDestroy_v2");
    CUresult r = obj_check(e, T_EVENT);
    if (!r) obj_kill(e);
    return r;
}

static CUresult event_record(ckcu_event_t e, ckcu_stream_t hs, int pt)
{
    struct event *x = (struct event *)e;
    if (obj_check(x, T_EVENT)) return CKCU_ERROR_INVALID_HANDLE;
    CUresult err;
    struct stream *st = stream_of(hs, pt, &err);
    if (!st) return err;
    struct op *o = op_new(OP_EVENT);
    if (!o) return CKCU_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&g_ev_mu);
    o->ev = x;
    o->ev_target = ++x->target;
    pthread_mutex_unlock(&g_ev_mu);
    return enqueue(st, o);
}
API CUresult cuEventRecord(ckcu_event_t e, ckcu_stream_t s) { ENTER("cuEventRecord"); return event_record(e, s, 0); }
API CUresult cuEventRecord_ptsz(ckcu_event_t e, ckcu_stream_t s) { ENTER("cuEventRecord_ptsz"); return event_record(e, s, 1); }

API CUresult cuEventSynchronize(ckcu_event_t e)
{
    ENTER("cuEventSynchronize");
    struct event *x = (struct event *)e;
    if (obj_check(x, T_EVENT)) return CKCU_ERROR_INVALID_HANDLE;
    gate_leave();
    pthread_mutex_lock(&g_ev_mu);
    while (x->done < x->target) pthread_cond_wait(&g_ev_cv, &g_ev_mu);
    pthread_mutex_unlock(&g_ev_mu);
    gate_enter();
    return g_sticky;
}

API CUresult cuEventQuery(ckcu_event_t e)
{
    ENTER("cuEventQuery");
    struct event *x = (struct event *)e;
    if (obj_check(x, T_EVENT)) return CKCU_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&g_ev_mu);
    int done = x->done >= x->target;
    pthread_mutex_unlock(&g_ev_mu);
    return done ? 0 : CKCU_ERROR_NOT_READY;
}

static CUresult stream_wait_event(ckcu_stream_t hs, ckcu_event_t e, int pt)
{
    struct event *x = (struct event *)e;
    if (obj_check(x, T_EVENT)) return CKCU_ERROR_INVALID_HANDLE;
    CUresult err;
    struct stream *st = stream_of(hs, pt, &err);
    if (!st) return err;
    struct op *o = op_new(OP_WAIT);
    if (!o) return CKCU_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&g_ev_mu);
    o->ev = x;
    o->ev_target = x->target;
    pthread_mutex_unlock(&g_ev_mu);
    return enqueue(st, o);
}
API CUresult cuStreamWaitEvent(ckcu_stream_t s, ckcu_event_t e, unsigned f) { ENTER("cuStreamWaitEvent"); return stream_wait_event(s, e, 0); }
API CUresult cuStreamWaitEvent_ptsz(ckcu_stream_t s, ckcu_event_t e, unsigned f) { ENTER("cuStreamWaitEvent_ptsz"); return stream_wait_event(s, e, 1); }

/* ---- checkpoint API ---- */
struct saved { uint64_t off, len; void *data; };
static struct saved *g_saved;
static int g_nsaved, g_poisoned;
static char g_comm[16];

static int zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) if (b[i]) return 0;
    return 1;
}

#define CKPT_ENTER(name)                                                              \
    count(name);                                                                      \
    if (g_no_ckpt_api) return CKCU_ERROR_NOT_SUPPORTED;                               \
    if (pid != (int)getpid()) return CKCU_ERROR_INVALID_VALUE

API CUresult cuCheckpointProcessGetState(int pid, int *st)
{
    CKPT_ENTER("cuCheckpointProcessGetState");
    if (!st) return CKCU_ERROR_INVALID_VALUE;
    *st = g_state;
    return 0;
}

API CUresult cuCheckpointProcessGetRestoreThreadId(int pid, int *tid)
{
    CKPT_ENTER("cuCheckpointProcessGetRestoreThreadId");
    if (!tid) return CKCU_ERROR_INVALID_VALUE;
    *tid = g_rt_tid ? g_rt_tid : (int)syscall(SYS_gettid);
    return 0;
}

API CUresult cuCheckpointProcessLock(int pid, ckcu_ckpt_lock_args_t *a)
{
    CKPT_ENTER("cuCheckpointProcessLock");
    if (a && (a->reserved0 || !zero(a->reserved1, sizeof a->reserved1))) return CKCU_ERROR_INVALID_VALUE;
    if (!g_inited) return CKCU_ERROR_NOT_INITIALIZED;
    pthread_mutex_lock(&g_gate_mu);
    if (g_state != CKCU_PROCESS_RUNNING) { pthread_mutex_unlock(&g_gate_mu); return CKCU_ERROR_ILLEGAL_STATE; }
    g_locked = 1;
    unsigned ms = a ? a->timeout_ms : 0;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    while (g_active > 0) {
        int e = ms ? pthread_cond_timedwait(&g_gate_cv, &g_gate_mu, &dl)
                   : pthread_cond_wait(&g_gate_cv, &g_gate_mu);
        if (e == ETIMEDOUT && g_active > 0) {
            g_locked = 0;
            pthread_cond_broadcast(&g_gate_cv);
            pthread_mutex_unlock(&g_gate_mu);
            return CKCU_ERROR_TIMEOUT;
        }
    }
    g_state = CKCU_PROCESS_LOCKED;
    pthread_mutex_unlock(&g_gate_mu);
    wait_all(0);                  /* in-flight work completes */
    return 0;
}

/* The process name (the main thread's), which the real driver matches on restore. */
static void proc_comm(char out[16])
{
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, out, 15) : 0;
    if (fd >= 0) close(fd);
    out[n > 0 ? n : 0] = 0;
    char *nl = strchr(out, '\n');
    if (nl) *nl = 0;
}

API CUresult cuCheckpointProcessCheckpoint(int pid, ckcu_ckpt_checkpoint_args_t *a)
{
    CKPT_ENTER("cuCheckpointProcessCheckpoint");
    if (a && !zero(a, sizeof *a)) return CKCU_ERROR_INVALID_VALUE;
    if (g_state != CKCU_PROCESS_LOCKED) return CKCU_ERROR_ILLEGAL_STATE;
    pthread_mutex_lock(&g_mu);
    g_saved = calloc((size_t)g_nused + 1, sizeof *g_saved);
    g_nsaved = 0;
    for (int i = 0; g_saved && i < g_nused; i++) {
        struct saved *s = &g_saved[g_nsaved];
        s->off = g_used[i].off;
        s->len = g_used[i].len;
        s->data = malloc(s->len);
        if (!s->data) break;
        memcpy(s->data, g_backing + s->off, s->len);
        g_nsaved++;
    }
    if (!g_saved || g_nsaved != g_nused) {
        for (int i = 0; g_saved && i < g_nsaved; i++) free(g_saved[i].data);
        free(g_saved);
        g_saved = NULL;
        pthread_mutex_unlock(&g_mu);
        return CKCU_ERROR_OUT_OF_MEMORY;
    }
    mem_teardown();               /* the "GPU" is released: no device mapping remains */
    proc_comm(g_comm);
    g_state = CKCU_PROCESS_CHECKPOINTED;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

/* The pipe pair still connects its two ends (same numbers as at cuInit). */
static int pipe_alive(void)
{
    if (g_pipe[0] < 0) return 1;
    char c = 'x';
    if (write(g_pipe[1], &c, 1) != 1) return 0;
    c = 0;
    return read(g_pipe[0], &c, 1) == 1 && c == 'x';
}

static int evfd_alive(void)
{
    if (g_evfd < 0) return 1;
    char p[64], l[64] = "";
    snprintf(p, sizeof p, "/proc/self/fd/%d", g_evfd);
    ssize_t n = readlink(p, l, sizeof l - 1);
    if (n <= 0) return 0;
    l[n] = 0;
    return strstr(l, "eventfd") != NULL;
}

API CUresult cuCheckpointProcessRestore(int pid, ckcu_ckpt_restore_args_t *a)
{
    CKPT_ENTER("cuCheckpointProcessRestore");
    if (a && (a->gpu_pairs_count || a->gpu_pairs || !zero(a->reserved, sizeof a->reserved) || a->reserved1))
        return CKCU_ERROR_INVALID_VALUE;
    if (g_state != CKCU_PROCESS_CHECKPOINTED) return CKCU_ERROR_ILLEGAL_STATE;
    if (g_poisoned) return CKCU_ERROR_OPERATING_SYSTEM;
    if (g_restore_fail) { g_poisoned = 1; return CKCU_ERROR_OUT_OF_MEMORY; }
    char comm[16] = "";
    proc_comm(comm);
    if (strcmp(comm, g_comm)) return CKCU_ERROR_NOT_PERMITTED;  /* matched by process name */
    if (g_check_fds && (!evfd_alive() || !pipe_alive() || !lsock_alive())) return CKCU_ERROR_OPERATING_SYSTEM;
    if (g_rt_ev < 0) return restore_body();
    /* the restore thread does the work; it must be running */
    long wait_ms = getenv("FAKECUDA_RT_WAIT_MS") ? atol(getenv("FAKECUDA_RT_WAIT_MS")) : 10000;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&g_rt_mu);
    g_rt_pending = 1;
    g_rt_done = 0;
    uint64_t one = 1;
    if (write(g_rt_ev, &one, 8) != 8) { pthread_mutex_unlock(&g_rt_mu); return CKCU_ERROR_OPERATING_SYSTEM; }
    while (!g_rt_done)
        if (pthread_cond_timedwait(&g_rt_cv, &g_rt_mu, &dl) == ETIMEDOUT && !g_rt_done) {
            g_rt_pending = 0;
            pthread_mutex_unlock(&g_rt_mu);
            fprintf(stderr, "fakecuda: the restore thread (tid %d) did not run the restore\n", g_rt_tid);
            return CKCU_ERROR_OPERATING_SYSTEM;
        }
    CUresult r = g_rt_ret;
    pthread_mutex_unlock(&g_rt_mu);
    return r;
}

static CUresult restore_body(void)
{
    pthread_mutex_lock(&g_mu);
    if (mem_setup()) { mem_teardown(); pthread_mutex_unlock(&g_mu); return CKCU_ERROR_OPERATING_SYSTEM; }
    for (int i = 0; i < g_nsaved; i++) {
        memcpy(g_backing + g_saved[i].off, g_saved[i].data, g_saved[i].len);
        free(g_saved[i].data);
    }
    free(g_saved);
    g_saved = NULL;
    g_nsaved = 0;
    g_state = CKCU_PROCESS_LOCKED;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

API CUresult cuCheckpointProcessUnlock(int pid, ckcu_ckpt_unlock_args_t *a)
{
    CKPT_ENTER("cuCheckpointProcessUnlock");
    if (a && !zero(a, sizeof *a)) return CKCU_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_gate_mu);
    CUresult r = 0;
    if (g_state != CKCU_PROCESS_LOCKED) r = CKCU_ERROR_ILLEGAL_STATE;
    else { g_state = CKCU_PROCESS_RUNNING; g_locked = 0; pthread_cond_broadcast(&g_gate_cv); }
    pthread_mutex_unlock(&g_gate_mu);
    return r;
}

/* ---- simulated driver reset (tests) ---- */
API void fakecuda_simulate_reset(void)
{
    wait_all(0);
    pthread_mutex_lock(&g_mu);
    g_gen++;
    for (int i = 0; i < g_nranges; i++) if (g_ranges[i].live) range_free(&g_ranges[i]);
    g_nused = 0;
    for (int d = 0; d < 16; d++) g_primary[d] = NULL;
    g_sticky = 0;
    pthread_mutex_unlock(&g_mu);
}

/* ---- cuGetProcAddress ---- */
struct gpa_ent { const char *base; int ver; int pt; void *fn; };
#define E(b, v, pt, f) { b, v, pt, (void *)f }
API CUresult cuGetProcAddress(const char *sym, void **pfn, int ver, ckcu_u64_t flags);
API CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int ver, ckcu_u64_t flags, int *status);
static const struct gpa_ent g_gpa[] = {
    E("cuGetProcAddress", 11030, 0, cuGetProcAddress), E("cuGetProcAddress", 12000, 0, cuGetProcAddress_v2),
    E("cuInit", 2000, 0, cuInit), E("cuDriverGetVersion", 2020, 0, cuDriverGetVersion),
    E("cuGetErrorName", 6000, 0, cuGetErrorName), E("cuGetErrorString", 6000, 0, cuGetErrorString),
    E("cuGetExportTable", 3000, 0, cuGetExportTable),
    E("cuDeviceGet", 2000, 0, cuDeviceGet), E("cuDeviceGetCount", 2000, 0, cuDeviceGetCount),
    E("cuDeviceGetName", 2000, 0, cuDeviceGetName), E("cuDeviceGetAttribute", 2000, 0, cuDeviceGetAttribute),
    E("cuDeviceGetUuid", 9020, 0, cuDeviceGetUuid), E("cuDeviceGetUuid", 11040, 0, cuDeviceGetUuid_v2),
    E("cuDeviceTotalMem", 3020, 0, cuDeviceTotalMem_v2),
    E("cuDevicePrimaryCtxRetain", 7000, 0, cuDevicePrimaryCtxRetain),
    E("cuDevicePrimaryCtxRelease", 7000, 0, cuDevicePrimaryCtxRelease),
    E("cuDevicePrimaryCtxRelease", 11000, 0, cuDevicePrimaryCtxRelease_v2),
    E("cuDevicePrimaryCtxReset", 7000, 0, cuDevicePrimaryCtxReset),
    E("cuDevicePrimaryCtxReset", 11000, 0, cuDevicePrimaryCtxReset_v2),
    E("cuCtxCreate", 3020, 0, cuCtxCreate_v2), E("cuCtxCreate", 11040, 0, cuCtxCreate_v3),
    E("cuCtxCreate", 12050, 0, cuCtxCreate_v4), E("cuCtxDestroy", 4000, 0, cuCtxDestroy_v2),
    E("cuCtxEnablePeerAccess", 4000, 0, cuCtxEnablePeerAccess),
    E("cuCtxGetCurrent", 4000, 0, cuCtxGetCurrent), E("cuCtxSetCurrent", 4000, 0, cuCtxSetCurrent),
    E("cuCtxPushCurrent", 4000, 0, cuCtxPushCurrent_v2), E("cuCtxPopCurrent", 4000, 0, cuCtxPopCurrent_v2),
    E("cuCtxGetDevice", 2000, 0, cuCtxGetDevice), E("cuCtxGetDevice", 13000, 0, cuCtxGetDevice_v2),
    E("cuCtxSynchronize", 2000, 0, cuCtxSynchronize), E("cuCtxSynchronize", 13000, 0, cuCtxSynchronize_v2),
    E("cuMemAlloc", 3020, 0, cuMemAlloc_v2), E("cuMemAllocPitch", 3020, 0, cuMemAllocPitch_v2),
    E("cuMemFree", 3020, 0, cuMemFree_v2), E("cuMemAllocManaged", 6000, 0, cuMemAllocManaged),
    E("cuMemGetInfo", 3020, 0, cuMemGetInfo_v2), E("cuMemGetAddressRange", 3020, 0, cuMemGetAddressRange_v2),
    E("cuPointerGetAttribute", 4000, 0, cuPointerGetAttribute),
    E("cuMemAllocAsync", 11020, 0, cuMemAllocAsync), E("cuMemAllocAsync", 11020, 1, cuMemAllocAsync_ptsz),
    E("cuMemAllocFromPoolAsync", 11020, 0, cuMemAllocFromPoolAsync),
    E("cuMemAllocFromPoolAsync", 11020, 1, cuMemAllocFromPoolAsync_ptsz),
    E("cuMemFreeAsync", 11020, 0, cuMemFreeAsync), E("cuMemFreeAsync", 11020, 1, cuMemFreeAsync_ptsz),
    E("cuMemPoolCreate", 11020, 0, cuMemPoolCreate), E("cuMemPoolDestroy", 11020, 0, cuMemPoolDestroy),
    E("cuMemAddressReserve", 10020, 0, cuMemAddressReserve), E("cuMemAddressFree", 10020, 0, cuMemAddressFree),
    E("cuMemCreate", 10020, 0, cuMemCreate), E("cuMemRelease", 10020, 0, cuMemRelease),
    E("cuMemMap", 10020, 0, cuMemMap), E("cuMemUnmap", 10020, 0, cuMemUnmap),
    E("cuMemSetAccess", 10020, 0, cuMemSetAccess),
    E("cuMemGetAllocationGranularity", 10020, 0, cuMemGetAllocationGranularity),
    E("cuMemExportToShareableHandle", 10020, 0, cuMemExportToShareableHandle),
    E("cuMemImportFromShareableHandle", 10020, 0, cuMemImportFromShareableHandle),
    E("cuMemAllocHost", 3020, 0, cuMemAllocHost_v2), E("cuMemHostAlloc", 2020, 0, cuMemHostAlloc),
    E("cuMemFreeHost", 2000, 0, cuMemFreeHost), E("cuMemHostRegister", 6050, 0, cuMemHostRegister_v2),
    E("cuMemHostUnregister", 4000, 0, cuMemHostUnregister),
    E("cuIpcGetMemHandle", 4010, 0, cuIpcGetMemHandle), E("cuIpcOpenMemHandle", 4010, 0, cuIpcOpenMemHandle),
    E("cuIpcOpenMemHandle", 11000, 0, cuIpcOpenMemHandle_v2), E("cuIpcCloseMemHandle", 4010, 0, cuIpcCloseMemHandle),
    E("cuIpcGetEventHandle", 4010, 0, cuIpcGetEventHandle), E("cuIpcOpenEventHandle", 4010, 0, cuIpcOpenEventHandle),
    E("cuMemcpy", 4000, 0, cuMemcpy), E("cuMemcpy", 7000, 1, cuMemcpy_ptds),
    E("cuMemcpyAsync", 4000, 0, cuMemcpyAsync), E("cuMemcpyAsync", 7000, 1, cuMemcpyAsync_ptsz),
    E("cuMemcpyHtoD", 3020, 0, cuMemcpyHtoD_v2), E("cuMemcpyHtoD", 7000, 1, cuMemcpyHtoD_v2_ptds),
    E("cuMemcpyDtoH", 3020, 0, cuMemcpyDtoH_v2), E("cuMemcpyDtoH", 7000, 1, cuMemcpyDtoH_v2_ptds),
    E("cuMemcpyDtoD", 3020, 0, cuMemcpyDtoD_v2), E("cuMemcpyDtoD", 7000, 1, cuMemcpyDtoD_v2_ptds),
    E("cuMemcpyHtoDAsync", 3020, 0, cuMemcpyHtoDAsync_v2), E("cuMemcpyHtoDAsync", 7000, 1, cuMemcpyHtoDAsync_v2_ptsz),
    E("cuMemcpyDtoHAsync", 3020, 0, cuMemcpyDtoHAsync_v2), E("cuMemcpyDtoHAsync", 7000, 1, cuMemcpyDtoHAsync_v2_ptsz),
    E("cuMemcpyDtoDAsync", 3020, 0, cuMemcpyDtoDAsync_v2), E("cuMemcpyDtoDAsync", 7000, 1, cuMemcpyDtoDAsync_v2_ptsz),
    E("cuMemsetD8", 3020, 0, cuMemsetD8_v2), E("cuMemsetD8", 7000, 1, cuMemsetD8_v2_ptds),
    E("cuMemsetD32", 3020, 0, cuMemsetD32_v2), E("cuMemsetD32", 7000, 1, cuMemsetD32_v2_ptds),
    E("cuMemsetD8Async", 3020, 0, cuMemsetD8Async), E("cuMemsetD8Async", 7000, 1, cuMemsetD8Async_ptsz),
    E("cuMemsetD32Async", 3020, 0, cuMemsetD32Async), E("cuMemsetD32Async", 7000, 1, cuMemsetD32Async_ptsz),
    E("cuModuleLoad", 2000, 0, cuModuleLoad), E("cuModuleLoadData", 2000, 0, cuModuleLoadData),
    E("cuModuleLoadDataEx", 2010, 0, cuModuleLoadDataEx), E("cuModuleLoadFatBinary", 2000, 0, cuModuleLoadFatBinary),
    E("cuModuleUnload", 2000, 0, cuModuleUnload), E("cuModuleGetFunction", 2000, 0, cuModuleGetFunction),
    E("cuModuleGetGlobal", 3020, 0, cuModuleGetGlobal_v2),
    E("cuLibraryLoadData", 12000, 0, cuLibraryLoadData), E("cuLibraryLoadFromFile", 12000, 0, cuLibraryLoadFromFile),
    E("cuLibraryUnload", 12000, 0, cuLibraryUnload), E("cuLibraryGetKernel", 12000, 0, cuLibraryGetKernel),
    E("cuLibraryGetGlobal", 12000, 0, cuLibraryGetGlobal), E("cuLibraryGetManaged", 12000, 0, cuLibraryGetManaged),
    E("cuKernelGetFunction", 12000, 0, cuKernelGetFunction),
    E("cuLaunchKernel", 4000, 0, cuLaunchKernel), E("cuLaunchKernel", 7000, 1, cuLaunchKernel_ptsz),
    E("cuStreamCreate", 2000, 0, cuStreamCreate), E("cuStreamCreateWithPriority", 5050, 0, cuStreamCreateWithPriority),
    E("cuStreamDestroy", 4000, 0, cuStreamDestroy_v2),
    E("cuStreamSynchronize", 2000, 0, cuStreamSynchronize), E("cuStreamSynchronize", 7000, 1, cuStreamSynchronize_ptsz),
    E("cuStreamQuery", 2000, 0, cuStreamQuery), E("cuStreamQuery", 7000, 1, cuStreamQuery_ptsz),
    E("cuStreamWaitEvent", 3020, 0, cuStreamWaitEvent), E("cuStreamWaitEvent", 7000, 1, cuStreamWaitEvent_ptsz),
    E("cuEventCreate", 2000, 0, cuEventCreate), E("cuEventDestroy", 4000, 0, cuEventDestroy_v2),
    E("cuEventRecord", 2000, 0, cuEventRecord), E("cuEventRecord", 7000, 1, cuEventRecord_ptsz),
    E("cuEventSynchronize", 2000, 0, cuEventSynchronize), E("cuEventQuery", 2000, 0, cuEventQuery),
    E("cuCheckpointProcessLock", 12080, 0, cuCheckpointProcessLock),
    E("cuCheckpointProcessCheckpoint", 12080, 0, cuCheckpointProcessCheckpoint),
    E("cuCheckpointProcessRestore", 12080, 0, cuCheckpointProcessRestore),
    E("cuCheckpointProcessUnlock", 12080, 0, cuCheckpointProcessUnlock),
    E("cuCheckpointProcessGetState", 12080, 0, cuCheckpointProcessGetState),
    E("cuCheckpointProcessGetRestoreThreadId", 12080, 0, cuCheckpointProcessGetRestoreThreadId),
};

static CUresult gpa(const char *sym, void **pfn, int ver, ckcu_u64_t flags, int *status)
{
    if (!pfn || !sym) return CKCU_ERROR_INVALID_VALUE;
    if (!g_inited) config();
    if (ver > g_drv_ver) return CKCU_ERROR_INVALID_VALUE;
    *pfn = NULL;
    int want_pt = (flags & CKCU_GPA_PER_THREAD_STREAM) != 0, known = 0;
    const struct gpa_ent *best = NULL, *best_pt = NULL;
    for (size_t i = 0; i < sizeof g_gpa / sizeof g_gpa[0]; i++) {
        const struct gpa_ent *e = &g_gpa[i];
        if (strcmp(e->base, sym)) continue;
        if (g_no_ckpt_api && !strncmp(sym, "cuCheckpoint", 12)) continue;
        known = 1;
        if (e->ver > ver) continue;
        if (e->pt) { if (!best_pt || e->ver > best_pt->ver) best_pt = e; }
        else if (!best || e->ver > best->ver) best = e;
    }
    const struct gpa_ent *pick = want_pt && best_pt ? best_pt : best;
    if (pick) *pfn = pick->fn;
    if (status) *status = pick ? CKCU_GPA_SUCCESS : known ? CKCU_GPA_VERSION_NOT_SUFFICIENT : CKCU_GPA_SYMBOL_NOT_FOUND;
    return 0;
}

API CUresult cuGetProcAddress(const char *sym, void **pfn, int ver, ckcu_u64_t flags)
{
    count("cuGetProcAddress");
    return gpa(sym, pfn, ver, flags, NULL);
}

API CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int ver, ckcu_u64_t flags, int *status)
{
    count("cuGetProcAddress_v2");
    return gpa(sym, pfn, ver, flags, status);
}
