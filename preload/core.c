/*
 * core.c - libckpt's bootstrap, configuration and manager thread.
 *
 * Bootstrap (constructor, or the first hook called before it): read the
 * configuration from the environment, decide whether this process is ours,
 * install the trigger and stop signals, register the main thread and start the
 * manager thread.  Any failure leaves the library inert (pure pass-through):
 * the program itself must never be harmed by us.
 *
 * Ownership: the process that loads libckpt first records its pid in
 * CKPT_OWNER_PID; processes it forks, and programs those exec, see a foreign
 * owner and stay inert, so that helpers spawned by the program (shells,
 * compilers, MPI launchers) do not write checkpoints of their own into the
 * same directory.  A program that execs itself (same pid) stays active.
 *
 * The manager thread waits on an eventfd for triggers (signal handler, API,
 * interval timeout).  A checkpoint: stop the world (park.c), note what must be
 * read while the program is stopped (timers, file offsets), fork the writer
 * (capture.c) with a raw clone so no atfork handler or malloc lock is involved,
 * release the world, then wait for the writer.  Requests arriving meanwhile are
 * coalesced into one (the eventfd counter) and logged.
 */
#include "preload/internal.h"
#include "preload/log.h"
#include "cuda_hooks/cuda_ckpt.h"
#include "include/ckpt.h"
#include "preload/staging.h"

#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct ck_state ck HIDDEN;
struct ck_resume ck_resume HIDDEN = { .magic = CK_RESUME_MAGIC };

uint64_t ck_now_ns(int clock)
{
    struct timespec ts;
    ck_sys2(SYS_clock_gettime, clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads a whole small file into buf (NUL-terminated); returns its length or -errno. */
long ck_read_file(const char *path, char *buf, size_t cap)
{
    int fd = (int)ck_sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    size_t n = 0;
    for (;;) {
        long r = ck_sys3(SYS_read, fd, buf + n, cap - 1 - n);
        if (r == -EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        if (n >= cap - 1) break;
    }
    ck_sys1(SYS_close, fd);
    buf[n] = 0;
    return (long)n;
}

/* A /proc file of any size, in a private mapping grown until the file fits:
 * the text (NUL-terminated), its length in *len and the mapping's size in
 * *cap (for munmap); NULL if it cannot be read.  No malloc: usable while the
 * world is stopped. */
char *ck_read_file_mapped(const char *path, size_t *cap, long *len)
{
    for (size_t c = 1 << 16;; c *= 4) {
        long m = ck_sys6(SYS_mmap, 0, (long)c, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m < 0 && m > -4096) return NULL;
        long n = ck_read_file(path, (char *)m, c);
        if (n >= 0 && (size_t)n < c - 1) {
            *cap = c;
            *len = n;
            return (char *)m;
        }
        ck_sys2(SYS_munmap, m, c);
        if (n < 0) return NULL;
    }
}

/* Lower-case hexadecimal / decimal digits at *p (as /proc writes them); *p is
 * left after them. */
uint64_t ck_parse_hex(const char **p)
{
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
        else break;
    }
    return v;
}

uint64_t ck_parse_dec(const char **p)
{
    uint64_t v = 0;
    while (**p >= '0' && **p <= '9') v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

static int parse_signal(const char *s)
{
    static const struct { const char *name; int no; } names[] = {
        { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "HUP", SIGHUP }, { "INT", SIGINT },
        { "QUIT", SIGQUIT }, { "TERM", SIGTERM }, { "ALRM", SIGALRM }, { "PWR", SIGPWR },
        { "XCPU", SIGXCPU }, { "URG", SIGURG }, { "WINCH", SIGWINCH },
    };
    if (!s || !*s) return SIGUSR1;
    if (!strncasecmp(s, "SIG", 3)) s += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(s, names[i].name)) return names[i].no;
    if (!strncasecmp(s, "RTMIN+", 6)) return SIGRTMIN + atoi(s + 6);
    if (!strncasecmp(s, "RTMAX-", 6)) return SIGRTMAX - atoi(s + 6);
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 0 && v > 0 && v < NSIG && v != SIGKILL && v != SIGSTOP) return (int)v;
    return -1;
}

static void read_config(void)
{
    struct ck_config *c = &ck.cfg;
    const char *d = getenv("CKPT_DIR");
    if (!d || !*d) d = "ckpt";
    if (d[0] == '/') {
        snprintf(c->dir, sizeof c->dir, "%s", d);
    } else {
        char cwd[CK_PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, ".");
        snprintf(c->dir, sizeof c->dir, "%s/%s", cwd, d);
    }
    const char *s = getenv("CKPT_INTERVAL");
    c->interval = s ? strtod(s, NULL) : 0;
    if (c->interval < 0) c->interval = 0;
    c->signo = parse_signal(getenv("CKPT_SIGNAL"));
    if (c->signo < 0) {
        ck_err("CKPT_SIGNAL=%s is not a signal name or number; using SIGUSR1", getenv("CKPT_SIGNAL"));
        c->signo = SIGUSR1;
    }
    c->privsig = SIGRTMAX - 1;
    if (c->privsig == c->signo) c->privsig = SIGRTMAX - 2;
    s = getenv("CKPT_KEEP");
    c->keep = s ? atoi(s) : 0;
    s = getenv("CKPT_LEVEL");
    c->level = s ? atoi(s) : 1;
    s = getenv("CKPT_THREADS");
    c->threads = s ? atoi(s) : 0;
    s = getenv("CKPT_PARK_TIMEOUT_MS");
    c->park_timeout_ms = s ? atoi(s) : 5000;
    if (c->park_timeout_ms <= 0) c->park_timeout_ms = 5000;
    s = getenv("CKPT_GHOST_MAX");
    c->ghost_max = s ? atol(s) : 0;
    s = getenv("CKPT_NICE");
    c->nice = s ? atoi(s) : 10;
    s = getenv("CKPT_CAPTURE");
    c->capture = !s || !*s || !strcmp(s, "auto") ? CK_CAPTURE_AUTO :
                 !strcmp(s, "fork") ? CK_CAPTURE_FORK : !strcmp(s, "copy") ? CK_CAPTURE_COPY :
                 !strcmp(s, "wp") ? CK_CAPTURE_WP : -1;
    if (c->capture < 0) {
        ck_err("CKPT_CAPTURE=%s: use auto, fork, copy or wp; using auto", s);
        c->capture = CK_CAPTURE_AUTO;
    }
    s = getenv("CKPT_STAGING_MAX_MB");
    c->staging_max = s ? (uint64_t)atol(s) << 20 : 0;
    s = getenv("CKPT_BACKTRACE");
    c->no_backtrace = s && *s == '0';
    s = getenv("CKPT_FULL");
    c->full_files = s && *s == '1';
    s = getenv("CKPT_DIRECT_IO");
    c->direct_io = !s || *s != '0';
    s = getenv("CKPT_WRITER_READ");
    c->writer_read = !s || !*s || !strcmp(s, "auto") ? CK_READ_AUTO :
                     !strcmp(s, "direct") ? CK_READ_DIRECT : !strcmp(s, "mem") ? CK_READ_MEM : -1;
    if (c->writer_read < 0) {
        ck_err("CKPT_WRITER_READ=%s: use auto, direct or mem; using auto", s);
        c->writer_read = CK_READ_AUTO;
    }
}

void ck_trigger(int reason)
{
    uint64_t one = 1;
    __atomic_add_fetch(&ck.requests, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&ck.last_req_ns, ck_now_ns(CLOCK_MONOTONIC), __ATOMIC_RELEASE);
    if (reason == CKC_REASON_API) ck.reason = CKC_REASON_API;
    if (ck.evfd >= 0) ck_sys3(SYS_write, ck.evfd, &one, 8);
}

/* ---- the checkpoint itself ---------------------------------------------------------- */

static void after_restore(void);

static void finish(int seq, int status)
{
    __atomic_store_n(&ck.done_status, status, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ck.done_seq, seq, __ATOMIC_SEQ_CST);
    ck_futex_wake(&ck.done_seq);
}

/* CKPT_CAPTURE=auto, for a program that rewrites its memory: write-protect
 * capture where userfaultfd allows it (the pause stays small: pages are
 * copied as the program first writes them, or by a copier thread), else copy
 * capture (everything copied in the pause).  Says which, for the log. */
static const char *auto_next(void)
{
    if (!ck.auto_nowp && !ck_staging_wp_usable()) ck.auto_nowp = 1;
    return ck.auto_nowp ? "in the pause (copy capture)"
                        : "as the program writes to it (write-protect capture)";
}

static void do_checkpoint(int reason)
{
    char why[256];
    ck.busy = 1;
    ck.reason = reason;
    int seq = (int)++ck.seq;
    int cuda = ckpt_cuda_active();
    ck.cuda_ckpt = cuda;
    if (cuda) {
        why[0] = 0;
        if (ckpt_cuda_gate(why, sizeof why) < 0 ||
            ckpt_cuda_before_checkpoint(10000, why, sizeof why) < 0) {
            ck_err("checkpoint %d refused: %s", seq, why);
            finish(seq, -ENOTSUP);
            ck.busy = 0;
            return;
        }
    }
    {
        /* where this thread's malloc hands out memory: the writer's backtrace
         * unwinder (libunwind) allocates there (capture.c write_threads,
         * staging.c for_candidates) */
        void *probe = malloc(64);
        ck.mgr_heap_hint = (uint64_t)probe;
        free(probe);
    }
    ck_busycpus.sampled = 0;
    ck_staging_prepare();
    for (int i = 0; i < 3; i++) ck_sys2(SYS_getitimer, i, &ck.itimers[i]);
    ck.t_stop_ns = ck_now_ns(CLOCK_MONOTONIC);
    if (ck_stop_world() < 0) {
        ck_staging_done();
        if (cuda) ckpt_cuda_after_checkpoint(why, sizeof why);
        finish(seq, -ETIMEDOUT);
        ck.busy = 0;
        return;
    }
    uint64_t t_parked = ck_now_ns(CLOCK_MONOTONIC);
    ck_ptimers_capture();
    ck_capture_fds();
    ck_shared_snapshot();
    ck_dontfork_clear();
    ck_staging_copy();
    ck.wstack_len = 1 << 20;
    long ws = ck_sys6(SYS_mmap, 0, (long)ck.wstack_len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ck.wstack = ws < 0 && ws > -4096 ? 0 : (uint64_t)ws;
    if (ck_ctx_save(&ck.mgr_ctx)) {
        after_restore();
        return;
    }
    /* A raw fork: no atfork handlers, no SIGCHLD (the program's wait() never
     * sees the writer), the child starts with a copy of the stopped world. */
    long pid = -ENOMEM;
    uint64_t t_fork = ck_now_ns(CLOCK_MONOTONIC);
    if (ck.wstack) pid = ck_clone_writer((void *)(ck.wstack + ck.wstack_len), ck_writer_main);
    ck_staging_after_fork();
    ck_dontfork_restore();
    ck_release_world();
    uint64_t t1 = ck_now_ns(CLOCK_MONOTONIC);
    ck_shared_snapshot_drop();
    ck.pause_ns = t1 - ck.t_stop_ns;
    ck_info("checkpoint %d: program paused %lu us (stop %lu us, fds+copy %lu us, %lu MiB staged, "
            "fork %lu us)", seq, (unsigned long)(ck.pause_ns / 1000),
            (unsigned long)((t_parked - ck.t_stop_ns) / 1000), (unsigned long)((t_fork - t_parked) / 1000),
            (unsigned long)(ck_stg.used >> 20), (unsigned long)((t1 - t_fork) / 1000));
    if (ck_stg.copy_ns)
        ck_debug("checkpoint %d: copy capture found the present pages in %lu us, copied them in %lu us",
                 seq, (unsigned long)(ck_stg.runs_ns / 1000), (unsigned long)(ck_stg.copy_ns / 1000));
    if (cuda && ckpt_cuda_after_checkpoint(why, sizeof why) < 0)
        ck_err("GPU state could not be resumed after checkpoint %d: %s", seq, why);
    if (pid < 0) {
        ck_staging_finish();
        if (ck.wstack) ck_sys2(SYS_munmap, ck.wstack, ck.wstack_len);
        ck.wstack = 0;
        ck_err("checkpoint %d failed: cannot fork the writer: %s", seq, strerror((int)-pid));
        finish(seq, (int)pid);
        ck.busy = 0;
        return;
    }
    ck_staging_finish();
    int status = 0;
    long r;
    do r = ck_sys4(SYS_wait4, pid, &status, __WALL, 0); while (r == -EINTR);
    ck_sys2(SYS_munmap, ck.wstack, ck.wstack_len);
    ck.wstack = 0;
    if (cuda) ckpt_cuda_data_release();
    uint64_t t2 = ck_now_ns(CLOCK_MONOTONIC);
    if (r == pid && WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == CK_WRITER_COPY_NEXT)) {
        ck_info("checkpoint %d written: total %lu ms", seq, (unsigned long)((t2 - ck.t_stop_ns) / 1000000));
        if (WEXITSTATUS(status) == CK_WRITER_COPY_NEXT && !ck.auto_copy) {
            /* CKPT_CAPTURE=auto: the writer found the program rewriting its
             * memory under the copy-on-write snapshot */
            ck.auto_copy = 1;
            ck_info("the program rewrote much of its memory during checkpoint %d; later checkpoints "
                    "copy it %s", seq, auto_next());
        }
        finish(seq, 0);
    } else if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == CK_WRITER_GAVE_UP && !ck.auto_copy) {
        /* CKPT_CAPTURE=auto: the writer gave this copy-on-write checkpoint up
         * early, the program rewriting its memory under it; take it again
         * now, copying (same number: no checkpoint was lost) */
        ck.auto_copy = 1;
        ck_info("checkpoint %d given up after %lu ms: the program rewrites its memory under the copy-on-write "
                "snapshot; taken again now, and later checkpoints copy it %s",
                seq, (unsigned long)((t2 - ck.t_stop_ns) / 1000000), auto_next());
        ck.seq--;
        ck.busy = 0;
        do_checkpoint(reason);
        return;
    } else if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == CK_WRITER_WP_LOST && !ck.auto_nowp) {
        /* CKPT_CAPTURE=auto: the program unmapped or discarded memory before
         * the write-protect copy reached it; copy capture cannot lose that */
        ck.auto_nowp = 1;
        ck_info("checkpoint %d lost under write-protect capture (the program unmapped or discarded memory "
                "before it was copied); taken again now, and later checkpoints copy it in the pause "
                "(copy capture)", seq);
        ck.seq--;
        ck.busy = 0;
        do_checkpoint(reason);
        return;
    } else {
        if (WIFSIGNALED(status))
            ck_err("checkpoint %d failed: writer killed by signal %d", seq, WTERMSIG(status));
        else if (WIFEXITED(status) && WEXITSTATUS(status) != CK_WRITER_FAILED) /* it logged why */
            ck_err("checkpoint %d failed (writer status %d)", seq, WEXITSTATUS(status));
        finish(seq, -EIO);
    }
    ck.busy = 0;
}

/* We are the manager thread of a restored process, re-entered by ckpt-restore
 * at the ck_ctx_save() in do_checkpoint(). */
static void after_restore(void)
{
    char why[256];
    ck.mgr_tid = ck_gettid();
    ck.pid = ck_getpid();
    int expected = ck.parked;
    ck_restored_threads_wait(expected);
    if (!ck_resume.same_ids && ck.tid_offset > 0) {
        for (int i = 0; i < CK_MAX_THREADS; i++)
            if (ck_slots[i].tid && ck_slots[i].fs)
                ck_slots[i].tid = *(volatile int *)(ck_slots[i].fs + (uint64_t)ck.tid_offset);
    }
    ck.main_tid = ck.pid;
    ck.wstack = 0;   /* was not part of the image */
    ck_staging_forget();
    if (ck_resume.blob_addr)
        ck_sys2(SYS_munmap, ck_resume.blob_addr, ck_resume.blob_len);
    ck_resume.blob_addr = 0;
    for (int i = 0; i < 3; i++) {
        struct itimerval *t = &ck.itimers[i];
        /* A periodic timer read at its expiry reports a zero value: it is armed. */
        if (!t->it_value.tv_sec && !t->it_value.tv_usec) t->it_value = t->it_interval;
        if (t->it_value.tv_sec || t->it_value.tv_usec) ck_sys3(SYS_setitimer, i, t, 0);
    }
    ck_ptimers_restore();
    ck_dontfork_restore();   /* the list as the pause left it: the program's flags again */
    __atomic_store_n(&ck.checkin, 0, __ATOMIC_SEQ_CST);
    if (ckpt_cuda_active()) {
        /* The driver's threads (the restore thread, its event handler) carry
         * out the restore: they run now, the program's threads after it. */
        int rtid = ckpt_cuda_restore_tid();
        for (int i = 0; i < CK_MAX_THREADS; i++) {
            struct ck_slot *sl = &ck_slots[i];
            if (!sl->tid || sl->tid == ck.mgr_tid) continue;
            if (sl->tid == rtid || !strncmp(sl->name, "cuda", 4)) {
                char nm[sizeof sl->name + 1];
                memcpy(nm, sl->name, sizeof sl->name);
                nm[sizeof sl->name] = 0;
                ck_debug("cuda: thread %d (%s) released before the GPU restore", sl->tid, nm);
                ck_release_early(sl);
            }
        }
        if (!rtid) ck_debug("cuda: the driver names no restore thread");
        if (ckpt_cuda_after_restore(why, sizeof why) < 0) {
            /* The driver stays locked: any CUDA call would block for good.  A
             * clear error and an exit beat a hung program. */
            ck_err("restore failed: GPU state could not be restored: %s", why);
            ck_sys1(SYS_exit_group, 1);
        }
    }
    ck_info("restored (generation %u, %s ids), %d threads", ck_resume.generation,
            ck_resume.same_ids ? "same" : "new", expected);
    ck_release_world();
    finish(ck.seq, 1);
    ck.busy = 0;
}

static void *manager(void *unused)
{
    (void)unused;
    ck.mgr_tid = ck_gettid();
    ck.mgr_fs = (uint64_t)pthread_self();   /* == the TLS base on x86-64 glibc */
    prctl(PR_SET_NAME, "ckpt-manager");
    uint64_t next = 0;
    for (;;) {
        uint64_t now = ck_now_ns(CLOCK_MONOTONIC);
        if (ck.cfg.interval > 0 && next == 0) next = now + (uint64_t)(ck.cfg.interval * 1e9);
        int timeout = -1;
        if (ck.cfg.interval > 0)
            timeout = next > now ? (int)((next - now + 999999) / 1000000) : 0;
        struct pollfd p = { .fd = ck.evfd, .events = POLLIN };
        int r = poll(&p, 1, timeout);
        int reason = 0;
        if (r > 0 && (p.revents & POLLIN)) {
            uint64_t n = 0;
            if (read(ck.evfd, &n, 8) == 8 && n > 1) {
                __atomic_add_fetch(&ck.dropped, (int)(n - 1), __ATOMIC_RELAXED);
                ck_warn("%lu checkpoint requests coalesced into one", (unsigned long)n);
            }
            reason = ck.reason == CKC_REASON_API ? CKC_REASON_API : CKC_REASON_SIGNAL;
        } else if (r == 0) {
            reason = CKC_REASON_INTERVAL;
        } else {
            continue;
        }
        do_checkpoint(reason);
        ck.reason = 0;
        if (ck.cfg.interval > 0) next = ck_now_ns(CLOCK_MONOTONIC) + (uint64_t)(ck.cfg.interval * 1e9);
        /* Requests that came while this checkpoint was being set up were for
         * the image that now exists: dropped.  One that came after the
         * program was stopped for it asks for a later state (`ckpt signal
         * --wait` twice in a row: the second can come as soon as `latest`
         * names the first, before this checkpoint has ended): all those make
         * one more checkpoint. */
        uint64_t stale;
        struct pollfd q = { .fd = ck.evfd, .events = POLLIN };
        if (poll(&q, 1, 0) > 0 && read(ck.evfd, &stale, 8) == 8) {
            if (__atomic_load_n(&ck.last_req_ns, __ATOMIC_ACQUIRE) < ck.t_stop_ns) {
                __atomic_add_fetch(&ck.dropped, (int)stale, __ATOMIC_RELAXED);
                ck_info("%lu checkpoint request(s) arrived during checkpoint %u: served by it",
                        (unsigned long)stale, ck.seq);
            } else if (write(ck.evfd, &stale, 8) != 8) {   /* back: the next round takes them as one */
                ck_warn("cannot queue the next checkpoint request");
            }
        }
    }
    return NULL;
}

static void on_fork_child(void)
{
    /* A forked child is not the program we checkpoint (see file comment). */
    ck.inert = 1;
    ck.pid = ck_getpid();
    ckpt_cuda_atfork_child();
}

/* Where libckpt's own writable data lies (see capture.c: it is copied before
 * being saved, since the writer's bookkeeping lives there). */
static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size; (void)arg;
    uint64_t me = (uint64_t)&ck;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
        uint64_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (me >= lo && me < hi) {
            ck.self_rw_lo = lo & ~4095ull;
            ck.self_rw_hi = (hi + 4095) & ~4095ull;
            return 1;
        }
    }
    return 0;
}

static void read_exe(void)
{
    ssize_t n = readlink("/proc/self/exe", ck.exe, sizeof ck.exe - 1);
    ck.exe[n > 0 ? n : 0] = 0;
}

void ck_init(void)
{
    static volatile int once;
    if (!__sync_bool_compare_and_swap(&once, 0, 1)) {
        while (!ck.initialised) sched_yield();
        return;
    }
    ck.evfd = -1;
    ck.tid_offset = -1;
    ck_stg.pmfd = -1;
    ck_stg.uffd = -1;
    ck_log_init();
    ck_hooks_init();
    {
        cpu_set_t cs;
        ck.ncpu = sched_getaffinity(0, sizeof cs, &cs) == 0 ? CPU_COUNT(&cs) : 1;
    }
    ck.pid = ck_getpid();
    ck.main_tid = ck.pid;

    const char *owner = getenv("CKPT_OWNER_PID");
    if (getenv("CKPT_DISABLE") || (owner && atoi(owner) != ck.pid)) {
        ck.inert = 1;
        ck.initialised = 1;
        return;
    }
    char pidbuf[16];
    snprintf(pidbuf, sizeof pidbuf, "%d", ck.pid);
    setenv("CKPT_OWNER_PID", pidbuf, 1);
    read_config();
    read_exe();
    dl_iterate_phdr(find_self, NULL);
    ck.tid_offset = ck_find_tid_offset();

    ck.evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ck.evfd >= 0) {
        int hi = fcntl(ck.evfd, F_DUPFD_CLOEXEC, 1010);
        if (hi >= 0) { close(ck.evfd); ck.evfd = hi; }
    }
    if (ck.evfd < 0) {
        ck_err("cannot create the trigger eventfd: %s; checkpointing disabled", strerror(errno));
        ck.inert = 1;
        ck.initialised = 1;
        return;
    }
    ck_thread_register();

    /* The trigger: remember the program's view (often SIG_DFL, or SIG_IGN when
     * inherited ignored) and install ours. */
    struct sigaction sa;
    ck_real_sigaction(ck.cfg.signo, NULL, &ck.app_trigger);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = ck_trigger_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    /* Nothing may run inside it (but the stop signal and glibc's own): whether
     * it restarts the call it interrupted depends on no handler of the
     * program's having run meanwhile (park.c restart_sleep).  The program's
     * handler, when it is the program's signal, gets the program's mask. */
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, ck.cfg.privsig);
    sigdelset(&sa.sa_mask, 32);
    sigdelset(&sa.sa_mask, 33);
    ck_real_sigaction(ck.cfg.signo, &sa, NULL);
    ck.app_trigger_set = 1;
    ck_real_sigaction(ck.cfg.privsig, NULL, &ck.app_priv);
    ck_park_install();
    /* Make sure neither signal is blocked in the thread that runs main(). */
    uint64_t m = (1ull << (ck.cfg.privsig - 1));
    ck_sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &m, 0, 8);

    pthread_atfork(NULL, NULL, on_fork_child);
    ck.initialised = 1;

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int r = ck_real_pthread_create(&t, NULL, manager, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r) {
        ck_err("cannot start the manager thread: %s; checkpointing disabled", strerror(r));
        ck.inert = 1;
        return;
    }
    pthread_detach(t);
    ck_debug("ready: dir=%s signal=%d interval=%g keep=%d level=%d", ck.cfg.dir, ck.cfg.signo,
             ck.cfg.interval, ck.cfg.keep, ck.cfg.level);
}

__attribute__((constructor(101))) static void ck_constructor(void)
{
    if (!ck.initialised) ck_init();
}

/* ---- public API (include/ckpt.h) ------------------------------------------------------ */

__attribute__((visibility("default"))) int ckpt_checkpoint(int wait)
{
    if (!ck.initialised) ck_init();
    if (ck.inert) { errno = ENOTSUP; return -1; }
    int before = ck.done_seq;
    int target = (int)ck.seq + 1;
    if (ck.busy) target++;
    ck_trigger(CKC_REASON_API);
    if (!wait) return 0;
    for (;;) {
        int d = __atomic_load_n(&ck.done_seq, __ATOMIC_ACQUIRE);
        if (d != before && d >= target - 1 && d >= target - 1) {
            if (ck.done_status == 1) return 1;
            if (d >= target || ck.done_status != 0) return ck.done_status == 0 ? 0 : -1;
        }
        ck_futex_wait(&ck.done_seq, d, 100000000);
    }
}

__attribute__((visibility("default"))) int ckpt_is_restored(void)
{
    return (int)ck_resume.generation;
}
