/*
 * backtrace.c - every thread's call stack, symbolized, at checkpoint time.
 *
 * The writer must never block: libunwind finds unwind tables through
 * dl_iterate_phdr, which takes the loader lock, and it may allocate; a parked
 * thread may hold either (dlopen in progress, C++ exceptions, malloc).  So the
 * unwinding runs in a grandchild (a raw fork of the writer, same memory) that
 * sends the frames back through a pipe; the writer waits at most a second and
 * kills it otherwise, writing the checkpoint without backtraces.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "preload/internal.h"
#include "preload/log.h"
#include "preload/backtrace.h"
#include "preload/staging.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

/* Wire format of one thread's record in the pipe: u32 slot, u32 nframes, then
 * nframes x { u64 pc, sp, off; u8 namelen; name } */

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        long w = ck_sys3(SYS_write, fd, c, n);
        if (w == -EINTR) continue;
        if (w <= 0) ck_sys1(SYS_exit_group, 1);
        c += w;
        n -= (size_t)w;
    }
}

static void unwind_all(int fd, struct ck_bt *bt, int n)
{
    for (int i = 0; i < n; i++) {
        unw_cursor_t cur;
        uint32_t hdr[2] = { (uint32_t)i, 0 };
        char out[CKC_MAX_FRAMES * (24 + 1 + 255)];
        size_t len = 0;
        if (bt[i].uc && unw_init_local2(&cur, (unw_context_t *)bt[i].uc, UNW_INIT_SIGNAL_FRAME) == 0) {
            do {
                unw_word_t pc = 0, sp = 0, off = 0;
                unw_get_reg(&cur, UNW_REG_IP, &pc);
                unw_get_reg(&cur, UNW_REG_SP, &sp);
                char name[256];
                if (unw_get_proc_name(&cur, name, sizeof name, &off) != 0) { name[0] = 0; off = 0; }
                uint8_t nl = (uint8_t)strnlen(name, 255);
                uint64_t v[3] = { pc, sp, off };
                memcpy(out + len, v, 24); len += 24;
                out[len++] = (char)nl;
                memcpy(out + len, name, nl); len += nl;
                hdr[1]++;
            } while (hdr[1] < CKC_MAX_FRAMES && unw_step(&cur) > 0);
        }
        write_all(fd, hdr, sizeof hdr);
        write_all(fd, out, len);
    }
}

static void quit_on_fault(int sig)
{
    (void)sig;
    ck_sys1(SYS_exit_group, 3);
}

static int grandchild(void *arg)
{
    (void)arg;
    return 0;
}

int ck_backtraces(struct ck_bt *bt, int n, char *buf, size_t cap, size_t *used)
{
    int p[2];
    *used = 0;
    if (ck_sys2(SYS_pipe2, p, O_CLOEXEC) < 0) return -EPIPE;
    (void)grandchild;
    long pid = ck_sys5(SYS_clone, 0, 0, 0, 0, 0);   /* no exit signal: reaped with __WALL */
    if (pid == 0) {
        ck_sys1(SYS_close, p[0]);
        /* A crash here costs the backtraces, not the checkpoint: no core dump
         * of what is a copy of the whole program, no kernel log line. */
        ck_sys5(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
        struct { void *h; unsigned long flags; void *restorer; uint64_t mask; } sa = { (void *)quit_on_fault, 0, 0, 0 };
        ck_sys4(SYS_rt_sigaction, SIGSEGV, &sa, 0, 8);
        ck_sys4(SYS_rt_sigaction, SIGBUS, &sa, 0, 8);
        uint64_t faults = (1ull << (SIGSEGV - 1)) | (1ull << (SIGBUS - 1));
        ck_sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &faults, 0, 8);
        /* the unwinder walks the loader's lists and this thread's TLS, which
         * may lie in memory copy capture staged away */
        ck_staging_map_back();
        unwind_all(p[1], bt, n);
        ck_sys1(SYS_exit_group, 0);
    }
    ck_sys1(SYS_close, p[1]);
    if (pid < 0) { ck_sys1(SYS_close, p[0]); return (int)pid; }
    uint64_t deadline = ck_now_ns(CLOCK_MONOTONIC) + 1000000000ull;
    int rc = 0;
    for (;;) {
        uint64_t now = ck_now_ns(CLOCK_MONOTONIC);
        if (now >= deadline) { rc = -ETIMEDOUT; break; }
        struct pollfd pf = { p[0], POLLIN, 0 };
        struct { long s, ns; } ts = { 0, (long)((deadline - now) % 1000000000ull) };
        long r = ck_sys5(SYS_ppoll, &pf, 1, &ts, 0, 8);
        if (r < 0 && r != -EINTR) { rc = (int)r; break; }
        if (r <= 0) continue;
        if (*used >= cap) { rc = -ENOSPC; break; }
        long got = ck_sys3(SYS_read, p[0], buf + *used, cap - *used);
        if (got == 0) break;              /* done */
        if (got < 0 && got != -EINTR) { rc = (int)got; break; }
        if (got > 0) *used += (size_t)got;
    }
    ck_sys1(SYS_close, p[0]);
    if (rc < 0) ck_sys2(SYS_kill, pid, SIGKILL);
    int st;
    ck_sys4(SYS_wait4, pid, &st, __WALL, 0);
    if (rc == -ETIMEDOUT) ck_warn("backtraces skipped: unwinding did not finish in 1 s");
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 3) ck_debug("backtraces incomplete: the unwinder faulted");
    return rc;
}
