/*
 * park.c - stopping every application thread at one instant.
 *
 * The manager sends the private signal (ck.cfg.privsig) to every thread it
 * knows (the registry filled by the pthread_create hook) and to every thread it
 * finds in /proc/self/task, repeating the scan until no new thread appears and
 * every signalled thread has parked.  A parked thread sits in park_handler():
 * its interrupted registers, including the FPU/AVX state, are in the signal
 * frame on its own stack, so they are part of the memory image; the handler
 * records the per-thread kernel state that memory does not hold (TLS base,
 * alternate stack, robust list, rseq area, affinity, name) and a resume
 * context, then waits on a futex until the manager releases the generation.
 *
 * After a restore, ckpt-restore re-creates each thread and enters it at that
 * resume context: the handler then re-registers the per-thread kernel state,
 * checks in, waits for release like any other time, and returns through the
 * signal frame - the program continues exactly where it was interrupted.
 *
 * Everything here is async-signal-safe: raw syscalls, no locks, no errno
 * changes visible to the interrupted code.
 */
#include "preload/internal.h"
#include "preload/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

struct ck_slot ck_slots[CK_MAX_THREADS] HIDDEN;

/* glibc >= 2.35 exports these when it registered an rseq area per thread. */
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
#define CK_RSEQ_SIG 0x53053053u

static struct ck_slot *slot_find(int tid)
{
    for (int i = 0; i < CK_MAX_THREADS; i++)
        if (ck_slots[i].tid == tid) return &ck_slots[i];
    return NULL;
}

static struct ck_slot *slot_get(int tid)
{
    struct ck_slot *s = slot_find(tid);
    if (s) return s;
    for (int i = 0; i < CK_MAX_THREADS; i++)
        if (__sync_bool_compare_and_swap(&ck_slots[i].tid, 0, tid)) {
            ck_slots[i].parked_gen = 0;
            return &ck_slots[i];
        }
    return NULL;
}

int ck_thread_register(void)
{
    return slot_get(ck_gettid()) ? 0 : -ENOSPC;
}

void ck_thread_unregister(void)
{
    struct ck_slot *s = slot_find(ck_gettid());
    if (s) {
        s->uc = NULL;
        __atomic_store_n(&s->tid, 0, __ATOMIC_RELEASE);
    }
}

int ck_count_slots(void)
{
    int n = 0;
    for (int i = 0; i < CK_MAX_THREADS; i++)
        if (ck_slots[i].tid) n++;
    return n;
}

static uint64_t read_fs(void)
{
    uint64_t fs;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(fs)); /* tcb->tcb points to itself */
    return fs;
}

/* Per-thread kernel state that lives outside memory: record it. */
static void record_thread(struct ck_slot *s)
{
    s->fs = read_fs();
    uint64_t mask = 0;
    ck_sys4(SYS_rt_sigprocmask, SIG_BLOCK, 0, &mask, 8);
    s->hmask = mask;
    s->ss.ss_sp = NULL; s->ss.ss_size = 0; s->ss.ss_flags = SS_DISABLE;
    ck_sys2(SYS_sigaltstack, 0, &s->ss);
    void *head = NULL; size_t len = 0;
    if (ck_sys3(SYS_get_robust_list, 0, &head, &len) == 0) {
        s->robust_head = (uint64_t)head; s->robust_len = len;
    }
    s->rseq_addr = 0; s->rseq_len = 0;
    if (&__rseq_size && &__rseq_offset && __rseq_size) {
        s->rseq_addr = s->fs + (uint64_t)__rseq_offset;
        s->rseq_len = __rseq_size < 32 ? 32 : __rseq_size;
        s->rseq_sig = CK_RSEQ_SIG;
    }
    s->has_affinity = ck_sys3(SYS_sched_getaffinity, 0, sizeof s->affinity, s->affinity) > 0;
    ck_sys2(SYS_prctl, PR_GET_NAME, s->name);
}

/* Re-establish, from inside the restored thread, what the kernel forgot. */
static void reinstate_thread(struct ck_slot *s)
{
    if (s->robust_head) ck_sys2(SYS_set_robust_list, s->robust_head, s->robust_len);
    if (s->rseq_addr) {
        long r = ck_sys4(SYS_rseq, s->rseq_addr, s->rseq_len, 0, s->rseq_sig);
        if (r < 0 && r != -EBUSY) ck_debug("rseq re-registration failed: %ld", r);
    }
    if (s->has_affinity) ck_sys3(SYS_sched_setaffinity, 0, sizeof s->affinity, s->affinity);
    ck_sys2(SYS_prctl, PR_SET_NAME, s->name);
}

/* A blocking call that libckpt's signal interrupted is restarted where it was,
 * so that a checkpoint neither wakes the program early nor hands it an EINTR
 * it did not ask for.  The kernel returns EINTR, whatever SA_RESTART says, for
 * sleeps (clock_nanosleep: ERESTART_RESTARTBLOCK is not restarted after a
 * handler), for poll, select and epoll_wait and their variants, for pause
 * and for futex waits with a timeout.
 * The syscall number is read from the `mov $nr, %eax; syscall` sequence
 * glibc uses; the arguments are still in their registers.
 *  - a relative sleep resumes with the time the kernel reported as remaining;
 *  - ppoll, pselect6 and select resume with their timeout, which the kernel
 *    has brought down to the time left;
 *  - poll, epoll_wait and epoll_pwait(2) have no such report: their timeout
 *    starts again in full (the wait can be longer, never shorter);
 *  - pause waits on, and so does a futex wait (sem_timedwait,
 *    pthread_cond_timedwait: FUTEX_WAIT's relative timeout starts again in
 *    full, FUTEX_WAIT_BITSET's is absolute).
 * When a signal of the program's is pending as well, the EINTR is left alone:
 * its handler runs next, and the call returns as it would have.  Called as
 * the handler returns (after the release, in the restored process too). */
static int program_signal_pending(const ucontext_t *uc)
{
    uint64_t pend = 0, mask;
    if (ck_sys2(SYS_rt_sigpending, &pend, 8) < 0) return 0;
    memcpy(&mask, &uc->uc_sigmask, 8);
    pend &= ~mask;
    pend &= ~(1ull << (ck.cfg.privsig - 1));
    pend &= ~(1ull << (ck.cfg.signo - 1));
    return pend != 0;
}

static void restart_sleep(struct ck_slot *s, ucontext_t *uc)
{
    greg_t *g = uc->uc_mcontext.gregs;
    if (g[REG_RAX] != -EINTR) return;
    unsigned char code[7];
    struct iovec local = { code, sizeof code }, remote = { (void *)(g[REG_RIP] - 7), sizeof code };
    if (ck_sys6(SYS_process_vm_readv, ck_getpid(), (long)&local, 1, (long)&remote, 1, 0) != sizeof code)
        return;
    if (code[5] != 0x0f || code[6] != 0x05 || code[0] != 0xb8) return;
    int32_t nr;
    memcpy(&nr, code + 1, 4);
    switch (nr) {
    case SYS_clock_nanosleep:
    case SYS_nanosleep:
    case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
    case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2:
    case SYS_pause:
        break;
    case SYS_futex:
        /* a plain wait (FUTEX_WAIT, FUTEX_WAIT_BITSET): the kernel checks the
         * word again on the way back in, so a wake-up given meanwhile (which
         * changes the word first) is not lost; sem_timedwait would otherwise
         * hand the program the EINTR */
        if ((g[REG_RSI] & 127) != 0 && (g[REG_RSI] & 127) != 9) return;
        break;
    default:
        return;
    }
    if (program_signal_pending(uc)) return;
    if (nr == SYS_clock_nanosleep) {
        if (!(g[REG_RSI] & TIMER_ABSTIME) && g[REG_R10]) {
            memcpy(&s->sleep_left, (void *)g[REG_R10], sizeof s->sleep_left);
            g[REG_RDX] = (greg_t)&s->sleep_left;
        }
    } else if (nr == SYS_nanosleep) {
        if (g[REG_RSI]) {
            memcpy(&s->sleep_left, (void *)g[REG_RSI], sizeof s->sleep_left);
            g[REG_RDI] = (greg_t)&s->sleep_left;
        }
    }
    g[REG_RAX] = nr;
    g[REG_RIP] -= 2;
    s->restart_rip = (uint64_t)g[REG_RIP];
    s->restart_nr = nr;
}

/* A call restart_sleep restarted, stopped again before it re-entered the
 * kernel (a checkpoint right after the trigger's handler): if a signal of the
 * program's arrived meanwhile, its handler runs next and the call must not
 * then wait on as if nothing happened; it gets its EINTR back (a sleep with
 * the time it had left). */
static void undo_restart(struct ck_slot *s, ucontext_t *uc)
{
    greg_t *g = uc->uc_mcontext.gregs;
    if (!s->restart_rip || (uint64_t)g[REG_RIP] != s->restart_rip || g[REG_RAX] != s->restart_nr) return;
    if (!program_signal_pending(uc)) return;
    if (s->restart_nr == SYS_nanosleep && g[REG_RDI] == (greg_t)&s->sleep_left && g[REG_RSI])
        memcpy((void *)g[REG_RSI], &s->sleep_left, sizeof s->sleep_left);
    if (s->restart_nr == SYS_clock_nanosleep && g[REG_RDX] == (greg_t)&s->sleep_left && g[REG_R10])
        memcpy((void *)g[REG_R10], &s->sleep_left, sizeof s->sleep_left);
    g[REG_RAX] = -EINTR;
    g[REG_RIP] += 2;
    s->restart_rip = 0;
}

/* For the trigger handler: a request from outside is ours, not the program's,
 * so the sleep it interrupted goes on too. */
void ck_restart_interrupted_sleep(void *uc)
{
    struct ck_slot *s = slot_get(ck_gettid());
    if (s && uc) restart_sleep(s, uc);
}

static void park_handler(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    volatile int gen = ck.stop_gen;
    if (gen == ck.release_gen) return;  /* stale: that stop is over */
    int tid = ck_gettid();
    struct ck_slot *volatile s = slot_get(tid);
    if (!s) return;                     /* table full: the manager will time out */
    s->uc = uc;
    record_thread(s);
    if (ck_ctx_save(&s->ctx)) {
        /* Restored process: ckpt-restore created this thread and entered here. */
        gen = ck.stop_gen;
        /* Find our slot by TLS base: the tid may be new (no pid namespace). */
        uint64_t fs = read_fs();
        s = NULL;
        for (int i = 0; i < CK_MAX_THREADS && !s; i++)
            if (ck_slots[i].tid && ck_slots[i].fs == fs) s = &ck_slots[i];
        if (!s) s = slot_get(ck_gettid());
        s->tid = ck_gettid();
        reinstate_thread(s);
        __atomic_add_fetch(&ck.checkin, 1, __ATOMIC_SEQ_CST);
        ck_futex_wake(&ck.checkin);
    } else {
        s->parked_gen = gen;
        __atomic_add_fetch(&ck.parked, 1, __ATOMIC_SEQ_CST);
        ck_futex_wake(&ck.parked);
    }
    for (;;) {
        int r = __atomic_load_n(&ck.release_gen, __ATOMIC_ACQUIRE);
        if (r == gen || __atomic_load_n(&s->early_gen, __ATOMIC_ACQUIRE) == gen) break;
        ck_futex_wait(&ck.release_gen, r, 0);
    }
    undo_restart(s, uc);
    restart_sleep(s, uc);
    errno = saved_errno;
}

void ck_park_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = park_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    /* glibc's internal signals must stay deliverable (cancellation, setxid). */
    sigdelset(&sa.sa_mask, 32);
    sigdelset(&sa.sa_mask, 33);
    ck_real_sigaction(ck.cfg.privsig, &sa, NULL);
}

/* The set of threads signalled in the current stop. */
static int sig_tids[CK_MAX_THREADS];
static int nsig;

static int signalled(int tid)
{
    for (int i = 0; i < nsig; i++)
        if (sig_tids[i] == tid) return 1;
    return 0;
}

static int signal_one(int tid)
{
    if (tid == ck.mgr_tid || tid <= 0 || signalled(tid)) return 0;
    if (nsig >= CK_MAX_THREADS) return -ENOSPC;
    long r = ck_sys3(SYS_tgkill, ck.pid, tid, ck.cfg.privsig);
    if (r == -ESRCH) return 0;
    if (r < 0) return (int)r;
    sig_tids[nsig++] = tid;
    return 1;
}

int ck_for_each_number(const char *dir, int (*fn)(void *arg, int n, int dirfd), void *arg)
{
    int fd = (int)ck_sys4(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    char buf[8192];
    int sum = 0;
    for (;;) {
        long n = ck_sys3(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
                (void *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '0' || d->name[0] > '9') continue;
            int v = 0;
            for (const char *p = d->name; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
            int r = fn(arg, v, fd);
            if (r > 0) sum += r;
        }
    }
    ck_sys1(SYS_close, fd);
    return sum;
}

static int signal_task(void *arg, int tid, int dirfd)
{
    (void)arg; (void)dirfd;
    return signal_one(tid) > 0;
}

/* Signals the threads of /proc/self/task not signalled yet.  Returns how many
 * were newly signalled, or -errno. */
static int scan_tasks(void)
{
    return ck_for_each_number("/proc/self/task", signal_task, NULL);
}

/* Number of signalled threads that still exist. */
static int alive_signalled(void)
{
    int n = 0;
    for (int i = 0; i < nsig; i++) {
        if (ck_sys3(SYS_tgkill, ck.pid, sig_tids[i], 0) == 0) n++;
        else sig_tids[i] = -1;
    }
    return n;
}

/* A signalled thread that has not parked and blocks the stop signal (through a
 * raw system call: the program's own masks never block it, see hooks.c), such
 * as glibc's POSIX AIO and mq_notify helpers.  It cannot stop until it unblocks
 * the signal, which such threads never do: better to give the checkpoint up at
 * once than keep the program stopped for the whole park timeout.  Returns its
 * tid, or 0. */
static int blocking_thread(void)
{
    char path[64], buf[2048];
    for (int i = 0; i < nsig; i++) {
        int tid = sig_tids[i];
        if (tid <= 0) continue;
        struct ck_slot *sl = slot_find(tid);
        if (sl && sl->parked_gen == ck.stop_gen) continue;
        ck_snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
        if (ck_read_file(path, buf, sizeof buf) <= 0) continue;
        const char *p = strstr(buf, "SigBlk:");
        if (!p) continue;
        p += 7;
        while (*p == ' ' || *p == '\t') p++;
        if (ck_parse_hex(&p) & (1ull << (ck.cfg.privsig - 1))) return tid;
    }
    return 0;
}

int ck_stop_world(void)
{
    uint64_t t0 = ck_now_ns(CLOCK_MONOTONIC);
    uint64_t deadline = t0 + (uint64_t)ck.cfg.park_timeout_ms * 1000000ull;
    int looked = 0;
    nsig = 0;
    __atomic_store_n(&ck.parked, 0, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&ck.stop_gen, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < CK_MAX_THREADS; i++) {
        int tid = ck_slots[i].tid;
        if (tid) signal_one(tid);
    }
    scan_tasks();
    for (;;) {
        int p = __atomic_load_n(&ck.parked, __ATOMIC_ACQUIRE);
        if (p >= nsig) {
            /* Everyone we asked is parked: a last scan catches threads created
             * meanwhile; if it finds none, the world is stopped. */
            if (scan_tasks() == 0) return 0;
            continue;
        }
        if (ck_now_ns(CLOCK_MONOTONIC) > deadline) {
            int alive = alive_signalled();
            if (p >= alive && scan_tasks() == 0) return 0; /* the rest exited */
            ck_err("checkpoint abandoned: %d of %d threads did not stop within %d ms "
                   "(a thread blocks signal %d?)", alive - p, alive, ck.cfg.park_timeout_ms,
                   ck.cfg.privsig);
            ck_release_world();
            return -ETIMEDOUT;
        }
        if (!looked && ck_now_ns(CLOCK_MONOTONIC) > t0 + 50000000ull) {
            /* 50 ms: glibc blocks every signal only for microseconds at a time */
            looked = 1;
            int tid = blocking_thread();
            if (tid) {
                char comm[64] = "", path[64];
                ck_snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
                if (ck_read_file(path, comm, sizeof comm) > 0)
                    comm[strcspn(comm, "\n")] = 0;
                ck_err("checkpoint abandoned: thread %d (%s) blocks signal %d, so it cannot be stopped "
                       "(a glibc POSIX AIO or mq_notify helper thread does)", tid, comm, ck.cfg.privsig);
                ck_release_world();
                return -EDEADLK;
            }
        }
        ck_futex_wait(&ck.parked, p, 2000000);   /* 2 ms */
        if (__atomic_load_n(&ck.parked, __ATOMIC_ACQUIRE) == p) {
            /* Threads may have exited after being signalled. */
            int alive = alive_signalled();
            if (p >= alive && p < nsig) {
                if (scan_tasks() == 0) return 0;
            }
        }
    }
}

/* Lets one parked thread go before the others (a restored CUDA process: the
 * driver's own threads carry out cuCheckpointProcessRestore). */
void ck_release_early(struct ck_slot *s)
{
    __atomic_store_n(&s->early_gen, ck.stop_gen, __ATOMIC_SEQ_CST);
    ck_futex_wake(&ck.release_gen);
}

void ck_release_world(void)
{
    __atomic_store_n(&ck.release_gen, ck.stop_gen, __ATOMIC_SEQ_CST);
    ck_futex_wake(&ck.release_gen);
}

/* In a restored process: wait until the n re-created application threads have
 * checked in (bounded: a thread that cannot reach the handler is reported). */
void ck_restored_threads_wait(int n)
{
    uint64_t deadline = ck_now_ns(CLOCK_MONOTONIC) + 5000000000ull;
    for (;;) {
        int c = __atomic_load_n(&ck.checkin, __ATOMIC_ACQUIRE);
        if (c >= n) return;
        if (ck_now_ns(CLOCK_MONOTONIC) > deadline) {
            ck_err("restore: only %d of %d threads checked in", c, n);
            return;
        }
        ck_futex_wait(&ck.checkin, c, 10000000);
    }
}

/* The offset of the tid inside glibc's struct pthread (fs base), found by
 * looking for our own tid near the thread pointer; used after a restore without
 * a pid namespace, where tids change and glibc's copy must be patched. */
int ck_find_tid_offset(void)
{
    uint64_t fs = read_fs();
    int tid = ck_gettid();
    if (*(volatile int *)(fs + 720) == tid) return 720;   /* glibc 2.11 .. 2.40 */
    for (int off = 0x100; off < 0x1000; off += 4)
        if (*(volatile int *)(fs + (uint64_t)off) == tid) return off;
    return -1;
}
