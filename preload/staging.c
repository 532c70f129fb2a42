/*
 * staging.c - copy capture: large anonymous memory copied while the world is
 * stopped, instead of shared copy-on-write with the writer.
 *
 * Why: after a fork, every first write of the program to a page costs a fault
 * and a page copy.  On virtual machines that fault is slow (measured here
 * from 1 us to 80 us per 4 KiB page), so a simulation that rewrites all its
 * memory each step pays far more for the checkpoint after the pause than in
 * it.  Copying the memory while the threads are parked costs about one memcpy
 * (the pause stays close to the fork's, which copies page tables of the same
 * memory), and afterwards the program runs with no faults at all.
 *
 * How: before stopping the world (the program still runs) the manager sizes a
 * staging area for the large private anonymous mappings and faults it in once
 * (MADV_POPULATE_WRITE; it is kept for the next checkpoints).  For copy
 * capture it is private memory in transparent huge pages where the system
 * allows it: the writer's fork then shares it at the cost of one entry per
 * 2 MiB, and the writer compresses it in place without a page fault (a shared
 * area would not be mapped in the new process: a fault per 4 KiB page, several
 * us each on virtual machines).  Write-protect capture, whose copier fills
 * the area after the fork, needs it shared.  While parked the manager copies
 * the present pages into it as runs (address, length, offset) with streaming
 * stores, marks those mappings MADV_DONTFORK so the writer's fork neither
 * copies their page tables nor write-protects them, forks, and marks them
 * MADV_DOFORK again.  The writer re-inserts these mappings into the map it
 * saves and takes their contents from the staging area.
 *
 * Memory: the staging area is as large as the staged data (the non-zero
 * resident pages of those mappings), bounded by CKPT_STAGING_MAX_MB (default:
 * half of MemAvailable when it is sized); mappings that do not fit are
 * captured copy-on-write.  CKPT_CAPTURE=copy stages every private anonymous
 * mapping of at least 64 KiB except thread stacks; the default (fork) stages
 * nothing.  Which wins where is in BENCHMARKS.md: copy for programs that
 * rewrite most of their memory between checkpoints, fork otherwise.
 *
 * Write-protect capture (CKPT_CAPTURE=wp, and auto where userfaultfd allows
 * it) keeps the pause of the fork and the low cost of copy capture: while
 * parked, the mappings of at least 4 MiB are registered with a userfaultfd
 * and write-protected (a page-table walk, cheaper than the fork's), their
 * present pages are given staging offsets in chunks of at most 4 MiB that do
 * not cross a 4 MiB boundary, and the world is released at once.  A copier
 * task then fills the staging area: it copies a chunk as soon as the program
 * faults on it (copy-before-write, one fault per chunk instead of one per
 * page) and otherwise goes on upwards from the last chunk the program faulted
 * on (from the lowest address before that), wrapping round, unprotecting each
 * chunk once it is copied: a program sweeping its memory upwards then finds
 * the copier ahead of it instead of waiting at every chunk.  The copier keeps
 * to the CPUs the program's busy threads do not use (sampled before the stop,
 * busycpu.c): on a busy thread's CPU it took that thread's time for its whole
 * run.  The writer waits for the copy to complete (a shared futex) before it
 * reads the staging area.
 *
 * The pause of write-protect capture is a page-table walk of the protected
 * memory: 20-40 ms per GiB of 4 KiB pages here (about a fork's), under 1 ms
 * per GiB where the program's memory is in transparent huge pages.
 *
 * The copier is a clone sharing the address space but not the signal
 * handlers: if the program unmaps memory that it is copying, its own SIGSEGV
 * handler abandons the chunk instead of killing the program.  Memory that the
 * program unmaps, remaps or discards (MADV_DONTNEED) before its chunk is
 * copied is lost to this checkpoint: the copier sees the userfaultfd event,
 * the checkpoint fails with a log line, and the previous one stays latest.
 * It needs userfaultfd with kernel faults (root, CAP_SYS_PTRACE or
 * vm.unprivileged_userfaultfd=1); otherwise auto falls back to fork.
 */
#include "preload/internal.h"
#include "preload/log.h"
#include "preload/staging.h"
#include "format/ckf.h"

#include <emmintrin.h>
#include <errno.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ull
#define PM_PRESENT (1ull << 63)
#define PM_SWAP    (1ull << 62)

struct ck_staging ck_stg HIDDEN;
void ck_staging_done(void);

/* Candidate mappings, read from /proc/self/maps into a static buffer (the
 * world may be stopped: no malloc). */
static char mapsbuf[1 << 20];

static int is_candidate(const char *path, int prot_rw, int priv)
{
    if (!prot_rw || !priv) return 0;
    return path[0] == 0 || !strcmp(path, "[heap]") || !strncmp(path, "[anon:", 6);
}

int ck_staging_owns(uint64_t a, uint64_t b)
{
    return (ck_stg.cap && a < ck_stg.base + ck_stg.cap && b > ck_stg.base) ||
           (ck_stg.idx_cap && a < ck_stg.idx_base + ck_stg.idx_cap && b > ck_stg.idx_base);
}

/* Calls fn for each candidate mapping (start, end, name) of at least min bytes. */
static int for_candidates(uint64_t min, int (*fn)(void *, uint64_t, uint64_t, const char *), void *arg)
{
    int fd = (int)ck_sys4(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    size_t n = 0;
    for (;;) {
        long r = ck_sys3(SYS_read, fd, mapsbuf + n, sizeof mapsbuf - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
        if (n >= sizeof mapsbuf - 1) break;
    }
    ck_sys1(SYS_close, fd);
    mapsbuf[n] = 0;
    for (char *s = mapsbuf; *s;) {
        char *e = s;
        while (*e && *e != '\n') e++;
        char save = *e;
        *e = 0;
        uint64_t a = 0, b = 0;
        const char *p = s;
        while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
            a = a * 16 + (uint64_t)(*p <= '9' ? *p - '0' : *p - 'a' + 10), p++;
        p++;
        while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
            b = b * 16 + (uint64_t)(*p <= '9' ? *p - '0' : *p - 'a' + 10), p++;
        p++;
        int rw = p[0] == 'r' && p[1] == 'w';
        int priv = p[3] == 'p';
        /* skip perms, offset, dev, inode */
        for (int f = 0; f < 4 && *p; f++) { while (*p && *p != ' ') p++; while (*p == ' ') p++; }
        const char *path = p;
        int ours = (a < ck.wstack + ck.wstack_len && b > ck.wstack) ||
                   ck_staging_owns(a, b) ||
                   (a < ck.self_rw_hi && b > ck.self_rw_lo) ||
                   (ck.mgr_fs >= a && ck.mgr_fs < b) ||
                   /* the manager's own malloc heap, unless it is the program's
                    * big one: the writer's backtrace unwinder allocates there */
                   (ck.mgr_heap_hint >= a && ck.mgr_heap_hint < b && b - a < (64ull << 20));
        /* thread stacks (with their TLS and signal frames) stay copy-on-write:
         * the writer reads registers and TLS from them */
        for (int i = 0; i < CK_MAX_THREADS && !ours; i++)
            if (ck_slots[i].tid && ((ck_slots[i].fs >= a && ck_slots[i].fs < b) ||
                                    ((uint64_t)ck_slots[i].uc >= a && (uint64_t)ck_slots[i].uc < b)))
                ours = 1;
        int r = 0;
        if (!ours && b - a >= min && is_candidate(path, rw, priv)) r = fn(arg, a, b, path);
        *e = save;
        s = *e ? e + 1 : e;
        if (r) return r;
    }
    return 0;
}

#define pagemap_fd ck_stg.pmfd

static int count_present(void *arg, uint64_t a, uint64_t b, const char *path)
{
    (void)path;
    uint64_t *total = arg;
    uint64_t pm[512];
    for (uint64_t x = a; x < b;) {
        size_t np = (size_t)((b - x) / PAGE);
        if (np > 512) np = 512;
        long r = ck_sys4(SYS_pread64, pagemap_fd, pm, np * 8, (x / PAGE) * 8);
        if (r < (long)(np * 8)) return 0;
        for (size_t i = 0; i < np; i++)
            if (pm[i] & (PM_PRESENT | PM_SWAP)) *total += PAGE;
        x += np * PAGE;
    }
    return 0;
}

static uint64_t mem_available(void)
{
    char b[4096];
    if (ck_read_file("/proc/meminfo", b, sizeof b) <= 0) return 0;
    const char *p = strstr(b, "MemAvailable:");
    if (!p) return 0;
    p += 13;
    while (*p == ' ') p++;
    uint64_t kb = 0;
    while (*p >= '0' && *p <= '9') kb = kb * 10 + (uint64_t)(*p++ - '0');
    return kb * 1024;
}

static uint64_t min_size(void)
{
    return ck_capture_mode() == CK_CAPTURE_COPY ? 64 * 1024 : 4ull << 20;
}

#define WP_CHUNK (4ull << 20)

/* A userfaultfd able to write-protect anonymous memory and to report unmaps,
 * or < 0. */
static int wp_open(void)
{
    int fd = (int)ck_sys1(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fd;
    struct uffdio_api api = { .api = UFFD_API,
                              .features = UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE |
                                          UFFD_FEATURE_EVENT_REMAP };
    if (ck_sys3(SYS_ioctl, fd, UFFDIO_API, &api) < 0 || !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
        ck_sys1(SYS_close, fd);
        return -ENOTSUP;
    }
    return fd;
}

/* Transparent huge pages can be asked for with MADV_HUGEPAGE ("always" or
 * "madvise" in /sys/kernel/mm/transparent_hugepage/enabled). */
static int thp_usable(void)
{
    static int known = -1;
    if (known >= 0) return known;
    char b[128];
    if (ck_read_file("/sys/kernel/mm/transparent_hugepage/enabled", b, sizeof b) < 0) b[0] = 0;
    known = strstr(b, "[always]") || strstr(b, "[madvise]");
    return known;
}

/* Faulting in a new staging area takes CPU time (0.3-2.6 s per GiB on some
 * virtual machines, where first touch of memory is slow) while the program
 * runs: it is done by a short-lived thread at the writer's nice value, so
 * that a program keeping every CPU busy comes first, as it does against the
 * writer.  (Not the manager itself: an unprivileged thread cannot take its
 * nice value back down.)  The manager waits for it. */
struct populate { long addr, len, r; };

static void *populate_main(void *p)
{
    struct populate *a = p;
    ck_sys3(SYS_setpriority, PRIO_PROCESS, 0, ck.cfg.nice);
    a->r = ck_sys3(SYS_madvise, a->addr, a->len, MADV_POPULATE_WRITE);
    return NULL;
}

static long populate_write(long addr, long len)
{
    struct populate a = { addr, len, -ENOSYS };
    pthread_t t;
    if (ck.cfg.nice <= 0 || ck_real_pthread_create(&t, NULL, populate_main, &a) != 0)
        return ck_sys3(SYS_madvise, addr, len, MADV_POPULATE_WRITE);
    pthread_join(t, NULL);
    return a.r;
}

/* Grows (or creates) a mapping of at least want bytes, faulted in: shared,
 * or (huge) private in transparent huge pages.  A shared area is what the
 * write-protect copier fills after the writer's fork.  Copy capture fills
 * its area before the fork, and a private huge-page area costs that fork
 * one entry per 2 MiB and the writer no page faults at all (a shared area is
 * not mapped into a new process, which then faults on every 4 KiB page it
 * reads, several us each on some virtual machines). */
static int ensure_area(uint64_t *base, uint64_t *cap, uint64_t want, int huge, int *is_huge)
{
    if (*cap >= want && (!is_huge || *is_huge == huge)) {
        /* The last writer's fork left a private area write-protected: make
         * it writable again now, not by a fault per huge page in the pause. */
        if (is_huge && *is_huge) ck_sys3(SYS_madvise, (long)*base, (long)*cap, MADV_POPULATE_WRITE);
        return 0;
    }
    if (*base) ck_sys2(SYS_munmap, *base, *cap);
    *base = 0;
    *cap = 0;
    want = (want + (2ull << 20) - 1) & ~((2ull << 20) - 1);
    long m = 0;
    if (huge) {
        /* aligned to 2 MiB, so that all of it can be huge pages */
        long r = ck_sys6(SYS_mmap, 0, (long)(want + (2ull << 20)), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r < 0 && r > -4096) return (int)r;
        uint64_t a = ((uint64_t)r + (2ull << 20) - 1) & ~((2ull << 20) - 1);
        if (a > (uint64_t)r) ck_sys2(SYS_munmap, r, (long)(a - (uint64_t)r));
        uint64_t end = (uint64_t)r + want + (2ull << 20);
        if (end > a + want) ck_sys2(SYS_munmap, (long)(a + want), (long)(end - a - want));
        m = (long)a;
        if (ck_sys3(SYS_madvise, m, (long)want, MADV_HUGEPAGE) < 0) {
            ck_sys2(SYS_munmap, m, (long)want);
            huge = 0;   /* shared, then */
        } else {
            /* Not inherited by the program's own forks (a child that outlived
             * them would make the next copy into the area copy-on-write); the
             * writer's fork gets it (ck_staging_copy, ck_staging_after_fork). */
            ck_sys3(SYS_madvise, m, (long)want, MADV_DONTFORK);
        }
    }
    if (!huge) {
        m = ck_sys6(SYS_mmap, 0, (long)want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m < 0 && m > -4096) return (int)m;
    }
    /* Fault it in now, while the program runs, not during the pause. */
    if (populate_write(m, (long)want) < 0)
        for (uint64_t o = 0; o < want; o += PAGE) ((volatile char *)m)[o] = 0;
    *base = (uint64_t)m;
    *cap = want;
    if (is_huge) *is_huge = huge;
    return 0;
}

static void collapse_huge(void);

static int wp_errno;   /* why userfaultfd write-protection is unusable */

int ck_staging_wp_usable(void)
{
    if (ck_stg.wp_unusable) return 0;
    int fd = wp_open();
    if (fd < 0) {
        ck_stg.wp_unusable = 1;
        wp_errno = -fd;
        return 0;
    }
    ck_sys1(SYS_close, fd);
    return 1;
}

int ck_staging_prepare(void)
{
    ck_stg.active = 0;
    ck_stg.wp = 0;
    int mode = ck_capture_mode();
    if (mode == CK_CAPTURE_FORK) return 0;
    if (mode == CK_CAPTURE_WP) {
        int known = ck_stg.wp_unusable;
        if (!ck_staging_wp_usable()) {
            if (ck.cfg.capture == CK_CAPTURE_AUTO) {
                /* auto: copy capture is the next best for such a program */
                ck.auto_nowp = 1;
                mode = CK_CAPTURE_COPY;
            } else {
                if (!known)
                    ck_warn("write-protect capture unavailable (userfaultfd: %s); using fork",
                            strerror(wp_errno));
                return 0;
            }
        } else {
            ck_stg.wp = 1;
        }
    }
    if (pagemap_fd < 0)
        pagemap_fd = (int)ck_sys4(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
    if (pagemap_fd < 0) return 0;
    if (ck_stg.wp) {
        collapse_huge();
        /* which CPUs the program keeps busy, for the copier and the writer:
         * two samples 10 ms apart while it runs (the manager waits, the
         * program does not) */
        static struct ck_busy b;
        ck_busy_begin(&b);
        ck_busy_end(&b, 10);
    }
    uint64_t budget = ck.cfg.staging_max ? ck.cfg.staging_max : mem_available() / 2;
    uint64_t want = 0, prev = 0, t0 = ck_now_ns(CLOCK_MONOTONIC);
    /* A program that is growing may outgrow the area while it is faulted in
     * (huge pages can take a while): count again, and grow it (twice at most). */
    for (int round = 0; round < 3; round++) {
        uint64_t total = 0;
        for_candidates(min_size(), count_present, &total);
        if (!total) { ck_staging_done(); return 0; }
        if (round && ck_stg.cap >= total + total / 16 + (2ull << 20)) break;
        /* room for what it grew by meanwhile, twice over */
        uint64_t grew = round && total > prev ? 2 * (total - prev) : 0;
        want = total + (grew > total / 8 ? grew : total / 8) + (4ull << 20);
        /* An area with room enough is kept: a new one costs first touches of
         * all of it (0.3-2.6 s per GiB on some virtual machines) and copies
         * into freshly touched pages, where a program that grew by a few MiB
         * since the last checkpoint would otherwise re-create it each time. */
        if (!round && ck_stg.cap < want && ck_stg.cap >= total + total / 16 + (2ull << 20)) want = ck_stg.cap;
        prev = total;
        if (want > budget) {
            if (!ck_stg.warned) ck_info("copy capture: %lu MiB would exceed the staging budget (%lu MiB); "
                                        "using copy-on-write", (unsigned long)(want >> 20), (unsigned long)(budget >> 20));
            ck_stg.warned = 1;
            want = budget;
        }
        if (ck_stg.cap >= want && round) break;
        if (ensure_area(&ck_stg.base, &ck_stg.cap, want, !ck_stg.wp && thp_usable(), &ck_stg.huge) < 0) {
            ck_staging_done();
            return 0;
        }
        if (want == budget) break;
    }
    uint64_t maxruns = want / PAGE / 2 + want / WP_CHUNK + 1024;
    uint64_t idx = PAGE + maxruns * (sizeof(struct ck_run) + 1) + CK_STG_MAX_VMAS * sizeof(struct ck_stg_vma);
    if (ensure_area(&ck_stg.idx_base, &ck_stg.idx_cap, idx, 0, NULL) < 0) { ck_staging_done(); return 0; }
    ck_debug("%s capture: %lu MiB staging (%s) ready in %lu ms", ck_stg.wp ? "write-protect" : "copy",
             (unsigned long)(ck_stg.cap >> 20), ck_stg.huge ? "private, huge pages" : "shared",
             (unsigned long)((ck_now_ns(CLOCK_MONOTONIC) - t0) / 1000000));
    ck_stg.active = 1;
    return 0;
}

struct copy_state { uint64_t used; int nruns, maxruns; };

static void add_vma(uint64_t a, uint64_t b, const char *path, int first, int nruns)
{
    struct ck_stg_vma *v = &ck_stg.vmas[ck_stg.nvmas++];
    v->start = a;
    v->end = b;
    v->run0 = first;
    v->nruns = nruns;
    size_t pl = strlen(path);
    if (pl >= sizeof v->name) pl = sizeof v->name - 1;
    memcpy(v->name, path, pl);
    v->name[pl] = 0;
    ck_sys3(SYS_madvise, a, b - a, MADV_DONTFORK);
}

/* PAGEMAP_SCAN (Linux 6.7): the present ranges of a span in one ioctl
 * instead of 8 bytes of /proc/self/pagemap per page (about 6 ms per GiB). */
struct ck_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct ck_page_region { uint64_t start, end, categories; };
#define CK_PAGEMAP_SCAN _IOWR('f', 16, struct ck_pm_scan_arg)
#define CK_PAGE_IS_PRESENT (1ull << 3)
#define CK_PAGE_IS_SWAPPED (1ull << 4)
static int pm_scan_broken;   /* the kernel has no PAGEMAP_SCAN: pagemap reads */

#define CK_PAGE_IS_PFNZERO (1ull << 5)
#define CK_PAGE_IS_HUGE    (1ull << 6)
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* Write-protect capture of memory in transparent huge pages costs a fraction
 * of a millisecond per GiB in the pause (one entry per 2 MiB to protect) and
 * one fault per 2 MiB; in 4 KiB pages it costs about a fork (20-40 ms per
 * GiB) and the copier's un-protecting 200-250 ms per GiB more.  So before
 * its first write-protect checkpoint, the memory it will protect is moved
 * into huge pages (MADV_COLLAPSE, Linux 6.1) where that costs no memory:
 * only 2 MiB blocks whose 512 pages are all present (none the shared zero
 * page) and not huge already.  The kernel copies them while the program
 * runs: 1-2 s per GiB here (fresh huge pages are slow to touch on this
 * virtual machine), once; the memory then stays in huge pages, and later
 * checkpoints find nothing left to move. */
struct collapse_stats { uint64_t moved; int failed; };

static void collapse_span(struct collapse_stats *cs, uint64_t a, uint64_t b)
{
    if (b <= a || cs->failed) return;
    long r = ck_sys3(SYS_madvise, (long)a, (long)(b - a), MADV_COLLAPSE);
    if (r == 0) { cs->moved += b - a; return; }
    /* EINVAL/EPERM: not supported here (an old kernel, THP off); ENOMEM: no
     * huge pages to be had now; EAGAIN: some pages busy (they stay small) */
    if (r == -EINVAL || r == -EPERM || r == -ENOMEM) cs->failed = (int)-r;
}

static int collapse_region(void *statsp, uint64_t a, uint64_t b, const char *path)
{
    (void)path;
    struct collapse_stats *cs = statsp;
    const uint64_t H = 2ull << 20;
    uint64_t lo = (a + H - 1) & ~(H - 1), hi = b & ~(H - 1);
    if (pm_scan_broken || hi <= lo || cs->failed) return 0;
    struct ck_page_region reg[256];
    uint64_t span_a = 0, span_b = 0;   /* whole blocks to collapse, gathered into one call */
    uint64_t cur = lo;                 /* where the last region returned ended */
    uint64_t good_from = lo;           /* suitable pages without a break since here */
    for (uint64_t x = lo; x < hi;) {
        struct ck_pm_scan_arg arg = {
            .size = sizeof arg, .start = x, .end = hi, .vec = (uint64_t)reg, .vec_len = 256,
            .category_anyof_mask = CK_PAGE_IS_PRESENT,
            .return_mask = CK_PAGE_IS_PRESENT | CK_PAGE_IS_HUGE | CK_PAGE_IS_PFNZERO };
        long n = ck_sys3(SYS_ioctl, pagemap_fd, CK_PAGEMAP_SCAN, &arg);
        if (n < 0) { if (n == -ENOTTY || n == -EINVAL) pm_scan_broken = 1; break; }
        for (long i = 0; i < n; i++) {
            uint64_t s = reg[i].start, e = reg[i].end;
            int ok = !(reg[i].categories & (CK_PAGE_IS_HUGE | CK_PAGE_IS_PFNZERO));
            if (!ok || s != cur) good_from = ok ? s : e;   /* a hole, or pages not to move */
            cur = e;
            if (!ok) continue;
            uint64_t ba = (good_from + H - 1) & ~(H - 1), bb = e & ~(H - 1);
            if (bb <= ba) continue;
            if (span_b == ba) {
                span_b = bb;
            } else {
                collapse_span(cs, span_a, span_b);
                span_a = ba;
                span_b = bb;
            }
            good_from = bb;
        }
        if (arg.walk_end <= x) break;
        x = arg.walk_end;
    }
    collapse_span(cs, span_a, span_b);
    return 0;
}

static int collapse_unusable;

static void collapse_huge(void)
{
    if (collapse_unusable || !thp_usable()) return;
    struct collapse_stats cs = { 0, 0 };
    uint64_t t0 = ck_now_ns(CLOCK_MONOTONIC);
    for_candidates(min_size(), collapse_region, &cs);
    if (cs.failed == EINVAL || cs.failed == EPERM) collapse_unusable = 1;
    if (cs.moved || cs.failed)
        ck_debug("write-protect capture: %lu MiB moved into huge pages in %lu ms%s%s",
                 (unsigned long)(cs.moved >> 20), (unsigned long)((ck_now_ns(CLOCK_MONOTONIC) - t0) / 1000000),
                 cs.failed ? "; stopped: " : "", cs.failed ? strerror(cs.failed) : "");
}

/* Appends the present pages [addr, addr+len) as runs; < 0 when they do not fit. */
static int add_present(struct copy_state *cs, int first, uint64_t addr, uint64_t len)
{
    struct ck_run *runs = ck_stg.runs;
    while (len) {
        /* no run crosses a WP_CHUNK boundary */
        uint64_t n = WP_CHUNK - addr % WP_CHUNK;
        if (n > len) n = len;
        if (cs->used + n > ck_stg.cap) return -ENOSPC;
        struct ck_run *last = cs->nruns > first ? &runs[cs->nruns - 1] : NULL;
        if (last && last->addr + last->len == addr && addr % WP_CHUNK) {
            last->len += n;
        } else {
            if (cs->nruns >= cs->maxruns) return -ENOSPC;
            runs[cs->nruns++] = (struct ck_run){ addr, n, cs->used };
        }
        cs->used += n;
        addr += n;
        len -= n;
    }
    return 0;
}

/* World stopped: the present pages of [a, b) become runs with staging
 * offsets, split so that no run crosses a WP_CHUNK boundary (the unit of the
 * parallel copy and of write-protect faults).  0, or < 0 (with the state
 * undone) when they do not fit. */
static int build_runs(struct copy_state *cs, uint64_t a, uint64_t b)
{
    int first = cs->nruns;
    uint64_t used0 = cs->used;
    if (!pm_scan_broken) {
        struct ck_page_region reg[256];
        for (uint64_t x = a; x < b;) {
            struct ck_pm_scan_arg arg = {
                .size = sizeof arg, .start = x, .end = b, .vec = (uint64_t)reg, .vec_len = 256,
                .category_anyof_mask = CK_PAGE_IS_PRESENT | CK_PAGE_IS_SWAPPED,
                .return_mask = CK_PAGE_IS_PRESENT | CK_PAGE_IS_SWAPPED };
            long n = ck_sys3(SYS_ioctl, pagemap_fd, CK_PAGEMAP_SCAN, &arg);
            if (n < 0) {
                if (x == a && (n == -ENOTTY || n == -EINVAL || n == -EOPNOTSUPP)) { pm_scan_broken = 1; break; }
                goto undo;
            }
            for (long i = 0; i < n; i++)
                if (add_present(cs, first, reg[i].start, reg[i].end - reg[i].start) < 0) goto undo;
            if (arg.walk_end <= x) goto undo;   /* no progress: should not happen */
            x = arg.walk_end;
        }
        if (!pm_scan_broken) return 0;
    }
    uint64_t pm[512];
    for (uint64_t x = a; x < b;) {
        size_t np = (size_t)((b - x) / PAGE);
        if (np > 512) np = 512;
        long r = ck_sys4(SYS_pread64, pagemap_fd, pm, np * 8, (x / PAGE) * 8);
        if (r < (long)(np * 8)) goto undo;
        for (size_t i = 0; i < np; i++)
            if ((pm[i] & (PM_PRESENT | PM_SWAP)) && add_present(cs, first, x + i * PAGE, PAGE) < 0) goto undo;
        x += np * PAGE;
    }
    return 0;
undo:
    /* does not fit: this mapping goes copy-on-write (smaller ones may still fit) */
    cs->nruns = first;
    cs->used = used0;
    return -ENOSPC;
}

/* Write-protect capture, world stopped: runs for [a, b), then the mapping is
 * registered and write-protected.  Nothing is copied yet. */
static int wp_region(void *arg, uint64_t a, uint64_t b, const char *path)
{
    struct copy_state *cs = arg;
    if (ck_stg.nvmas >= CK_STG_MAX_VMAS) return 0;
    int first = cs->nruns;
    uint64_t used0 = cs->used;
    if (build_runs(cs, a, b) < 0 || cs->nruns == first) return 0;
    struct uffdio_register reg = { .range = { a, b - a }, .mode = UFFDIO_REGISTER_MODE_WP };
    if (ck_sys3(SYS_ioctl, ck_stg.uffd, UFFDIO_REGISTER, &reg) < 0) {
        /* (the program's own userfaultfd, an unsupported kind): copy-on-write */
        cs->nruns = first;
        cs->used = used0;
        return 0;
    }
    struct uffdio_writeprotect wp = { .range = { a, b - a }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
    if (ck_sys3(SYS_ioctl, ck_stg.uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
        struct uffdio_range ur = { a, b - a };
        ck_sys3(SYS_ioctl, ck_stg.uffd, UFFDIO_UNREGISTER, &ur);
        cs->nruns = first;
        cs->used = used0;
        return 0;
    }
    memset(ck_stg.rstate + first, 0, (size_t)(cs->nruns - first));
    add_vma(a, b, path, first, cs->nruns - first);
    return 0;
}

/* Copy capture, world stopped: runs for [a, b); copied afterwards by
 * copy_all(). */
static int copy_region(void *arg, uint64_t a, uint64_t b, const char *path)
{
    struct copy_state *cs = arg;
    if (ck_stg.nvmas >= CK_STG_MAX_VMAS) return 0;
    int first = cs->nruns;
    if (build_runs(cs, a, b) < 0) return 0;
    add_vma(a, b, path, first, cs->nruns - first);
    return 0;
}

/* Copies whole pages with non-temporal stores: the staging area is not read
 * again by this process, so filling the cache with it only evicts the
 * program's data, and streaming stores skip reading each destination line
 * before writing it.  Measured here on 1 GiB, two tasks copying 4 MiB runs:
 * 28-33 ms, against 35-110 ms with memcpy.  (SSE2 is part of x86-64.) */
static void copy_pages(void *dst, const void *src, uint64_t len)
{
    __m128i *d = dst;
    const __m128i *s = src;
    for (uint64_t i = 0; i < len / 16; i += 4) {
        __m128i a = _mm_load_si128(s + i), b = _mm_load_si128(s + i + 1);
        __m128i c = _mm_load_si128(s + i + 2), e = _mm_load_si128(s + i + 3);
        _mm_stream_si128(d + i, a);
        _mm_stream_si128(d + i + 1, b);
        _mm_stream_si128(d + i + 2, c);
        _mm_stream_si128(d + i + 3, e);
    }
    _mm_sfence();
}

/* The parallel copy of copy capture: the manager and one helper take runs
 * from a shared counter.  The world is stopped, so nothing is unmapped
 * under them. */
static volatile int copy_next;

static int copy_worker(void *unused)
{
    (void)unused;
    for (;;) {
        int i = __atomic_fetch_add(&copy_next, 1, __ATOMIC_RELAXED);
        if (i >= ck_stg.nruns) return 0;
        const struct ck_run *r = &ck_stg.runs[i];
        copy_pages((char *)ck_stg.base + r->off, (const void *)r->addr, r->len);
    }
}

/* A helper task of the copies (the parallel copy, the write-protect copier
 * and its helpers): it shares the address space and descriptors but has its
 * own signal table and no exit signal, so the program never sees it.  The
 * tasks' stacks are slots of one mapping (slot 0 the copier's): a task finds
 * its own from its stack pointer.  Its pid, or -errno. */
#define TASK_STACK (256ull << 10)
#define CK_MAX_HELPERS 8

static long spawn_in_slot(int slot, int (*fn)(void *), void *arg)
{
    if (!ck_stg.cstack) {
        long st = ck_sys6(SYS_mmap, 0, (long)(TASK_STACK * (1 + CK_MAX_HELPERS)), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (st < 0 && st > -4096) return st;
        ck_stg.cstack = (uint64_t)st;
    }
    return ck_clone_thread(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM,
                           (void *)(ck_stg.cstack + (uint64_t)(slot + 1) * TASK_STACK), fn, arg);
}

static long spawn_task(int (*fn)(void *)) { return spawn_in_slot(0, fn, NULL); }

static void wait_task(long pid)
{
    long r;
    if (pid > 0) do r = ck_sys4(SYS_wait4, pid, 0, __WALL, 0); while (r == -EINTR);
}

/* Waits for the task (if pid > 0) and frees the stacks. */
static void reap_task(long pid)
{
    wait_task(pid);
    if (ck_stg.cstack) ck_sys2(SYS_munmap, ck_stg.cstack, TASK_STACK * (1 + CK_MAX_HELPERS));
    ck_stg.cstack = 0;
}

static void copy_all(void)
{
    copy_next = 0;
    long pid = ck.ncpu > 1 && ck_stg.used >= (64ull << 20) ? spawn_task(copy_worker) : -1;
    copy_worker(NULL);
    reap_task(pid);
}

void ck_staging_copy(void)
{
    ck_stg.nvmas = 0;
    ck_stg.runs_ns = ck_stg.copy_ns = 0;
    ck_stg.nruns = 0;
    ck_stg.used = 0;
    if (!ck_stg.active) return;
    /* a private area goes to the writer's fork, and to no other (see ensure_area) */
    if (ck_stg.huge) ck_sys3(SYS_madvise, (long)ck_stg.base, (long)ck_stg.cap, MADV_DOFORK);
    struct copy_state cs = { 0, 0, 0 };
    ck_stg.vmas = (struct ck_stg_vma *)(ck_stg.idx_base + ck_stg.idx_cap) - CK_STG_MAX_VMAS;
    ck_stg.hdr = (struct ck_stg_hdr *)ck_stg.idx_base;
    memset(ck_stg.hdr, 0, sizeof *ck_stg.hdr);
    ck_stg.runs = (struct ck_run *)(ck_stg.idx_base + PAGE);
    uint64_t room = ck_stg.idx_cap - PAGE - CK_STG_MAX_VMAS * sizeof(struct ck_stg_vma);
    cs.maxruns = (int)(room / (sizeof(struct ck_run) + 1));
    ck_stg.rstate = (unsigned char *)(ck_stg.runs + cs.maxruns);
    if (ck_stg.wp) {
        ck_stg.uffd = wp_open();
        if (ck_stg.uffd < 0) {
            ck_stg.wp = 0;
            ck_stg.uffd = -1;
            return;
        }
        for_candidates(min_size(), wp_region, &cs);
        if (!ck_stg.nvmas) {
            ck_sys1(SYS_close, ck_stg.uffd);
            ck_stg.uffd = -1;
            ck_stg.wp = 0;
        }
        ck_stg.nruns = cs.nruns;
        ck_stg.used = cs.used;
    } else {
        uint64_t t0 = ck_now_ns(CLOCK_MONOTONIC);
        for_candidates(min_size(), copy_region, &cs);
        ck_stg.nruns = cs.nruns;
        ck_stg.used = cs.used;
        uint64_t t1 = ck_now_ns(CLOCK_MONOTONIC);
        copy_all();
        ck_stg.runs_ns = t1 - t0;
        ck_stg.copy_ns = ck_now_ns(CLOCK_MONOTONIC) - t1;
        ck_stg.hdr->state = 1;
    }
}

void ck_staging_done(void)
{
    if (pagemap_fd >= 0) ck_sys1(SYS_close, pagemap_fd);
    pagemap_fd = -1;
}

/* ---- the copier task (write-protect capture) ---------------------------------------- */

/* Where each copier task resumes when a chunk it reads was unmapped under
 * it (by its stack slot). */
static void *copier_jb[1 + CK_MAX_HELPERS][5];
#define COPIER_BATCH 4

static int task_slot(void)
{
    char here;
    uint64_t k = ((uint64_t)&here - ck_stg.cstack) / TASK_STACK;
    return k <= CK_MAX_HELPERS ? (int)k : 0;
}

static void copier_fault(int sig)
{
    (void)sig;
    __builtin_longjmp(copier_jb[task_slot()], 1);
}

static void unprotect(uint64_t a, uint64_t len)
{
    struct uffdio_writeprotect wp = { .range = { a, len }, .mode = 0 };
    ck_sys3(SYS_ioctl, ck_stg.uffd, UFFDIO_WRITEPROTECT, &wp);
}

/* Run states (rstate): protected, claimed by one copier task, copied. */
enum { RUN_PROTECTED, RUN_COPYING, RUN_COPIED };

static int claim(int i)
{
    unsigned char expect = RUN_PROTECTED;
    return __atomic_compare_exchange_n(&ck_stg.rstate[i], &expect, RUN_COPYING, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

/* Copies run i to the staging area, and up to max - 1 runs that follow it
 * in memory and nobody has claimed, then unprotects them at once (one TLB
 * flush, which interrupts every CPU the program runs on, instead of one per
 * run: 4 MiB runs cost 40-65 ms of flushes per GiB here with the program
 * busy); nothing when another task has claimed run i.  How many runs it
 * copied, or -EFAULT when the memory was unmapped under the copier. */
static int copy_runs(int i, int max)
{
    if (!claim(i)) return 0;
    int n = 1;
    while (n < max && i + n < ck_stg.nruns &&
           ck_stg.runs[i + n].addr == ck_stg.runs[i + n - 1].addr + ck_stg.runs[i + n - 1].len && claim(i + n))
        n++;
    if (__builtin_setjmp(copier_jb[task_slot()])) return -EFAULT;
    for (int k = 0; k < n; k++) {
        const struct ck_run *r = &ck_stg.runs[i + k];
        copy_pages((char *)ck_stg.base + r->off, (const void *)r->addr, r->len);
    }
    const struct ck_run *last = &ck_stg.runs[i + n - 1];
    unprotect(ck_stg.runs[i].addr, last->addr + last->len - ck_stg.runs[i].addr);   /* wakes waiting threads */
    for (int k = 0; k < n; k++) __atomic_store_n(&ck_stg.rstate[i + k], RUN_COPIED, __ATOMIC_RELEASE);
    return n;
}

/* The run holding addr, or -1 (runs are sorted by address). */
static int find_run(uint64_t addr)
{
    int lo = 0, hi = ck_stg.nruns - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const struct ck_run *r = &ck_stg.runs[mid];
        if (addr < r->addr) hi = mid - 1;
        else if (addr >= r->addr + r->len) lo = mid + 1;
        else return mid;
    }
    return -1;
}

/* Whether [a, b) overlaps a run not copied yet. */
static int loses_uncopied(uint64_t a, uint64_t b)
{
    for (int i = 0; i < ck_stg.nruns; i++) {
        const struct ck_run *r = &ck_stg.runs[i];
        if (r->addr < b && r->addr + r->len > a &&
            __atomic_load_n(&ck_stg.rstate[i], __ATOMIC_ACQUIRE) != RUN_COPIED)
            return 1;
    }
    return 0;
}

/* Publishes the copy's outcome (1 complete, 2 lost, 3 lost under the copier) to the writer. */
static void set_state(int state)
{
    ck_stg.hdr->state = state;
    ck_sys3(SYS_futex, &ck_stg.hdr->state, CK_FUTEX_WAKE, 0x7fffffff);
}

/* The program must never wait on this userfaultfd again: unregisters every
 * staged mapping, un-protecting it first when the copy was abandoned. */
static void wp_release(int abandoned)
{
    for (int i = 0; i < ck_stg.nvmas; i++) {
        uint64_t a = ck_stg.vmas[i].start, len = ck_stg.vmas[i].end - a;
        if (abandoned) unprotect(a, len);
        struct uffdio_range ur = { a, len };
        ck_sys3(SYS_ioctl, ck_stg.uffd, UFFDIO_UNREGISTER, &ur);
    }
}

/* Where the copiers go on: just above the last chunk the program faulted on
 * (a program that writes a chunk will most likely write the next one next),
 * from the lowest address before the first fault. */
static volatile int copy_cursor;

/* The next run nobody has claimed, from the cursor up, wrapping round; -1. */
static int next_unclaimed(void)
{
    int c = copy_cursor;
    for (int k = 0; k < ck_stg.nruns; k++) {
        int i = (c + k) % ck_stg.nruns;
        if (__atomic_load_n(&ck_stg.rstate[i], __ATOMIC_RELAXED) == RUN_PROTECTED) return i;
    }
    return -1;
}

static int all_copied(void)
{
    for (int i = 0; i < ck_stg.nruns; i++)
        if (__atomic_load_n(&ck_stg.rstate[i], __ATOMIC_ACQUIRE) != RUN_COPIED) return 0;
    return 1;
}

/* Handles what the userfaultfd reported; < 0 when the checkpoint is lost. */
static int drain_events(void)
{
    struct uffd_msg m[16];
    for (;;) {
        long n = ck_sys3(SYS_read, ck_stg.uffd, m, sizeof m);
        if (n <= 0) return 0;
        for (long k = 0; k < n / (long)sizeof m[0]; k++) {
            switch (m[k].event) {
            case UFFD_EVENT_PAGEFAULT: {
                uint64_t addr = m[k].arg.pagefault.address & ~(PAGE - 1);
                int i = find_run(addr);
                int st = i >= 0 ? __atomic_load_n(&ck_stg.rstate[i], __ATOMIC_ACQUIRE) : RUN_COPIED;
                if (st == RUN_PROTECTED) {
                    int c = copy_runs(i, 1);
                    if (c < 0) return -EFAULT;
                    ck_stg.hdr->copied_by_fault += (uint64_t)c;
                    copy_cursor = i + 1;
                } else if (st == RUN_COPIED) {
                    unprotect(addr, PAGE);   /* copied already (a late message), or not ours */
                }   /* RUN_COPYING: the helper copying it wakes the program */
                break;
            }
            case UFFD_EVENT_REMOVE:
                if (loses_uncopied(m[k].arg.remove.start, m[k].arg.remove.end)) return -ENOMEM;
                break;
            case UFFD_EVENT_UNMAP:
                if (loses_uncopied(m[k].arg.remove.start, m[k].arg.remove.end)) return -ENOMEM;
                break;
            case UFFD_EVENT_REMAP:
                if (loses_uncopied(m[k].arg.remap.from, m[k].arg.remap.from + m[k].arg.remap.len))
                    return -ENOMEM;
                break;
            }
        }
    }
}

/* Its own signal table (no CLONE_SIGHAND): SIGSEGV/SIGBUS abandon a chunk;
 * every other signal is blocked, and the program's handlers are untouched. */
static void copier_signals(void)
{
    uint64_t mask = ~((1ull << (SIGSEGV - 1)) | (1ull << (SIGBUS - 1)));
    ck_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &mask, 0, 8);
    struct { uint64_t handler, flags, restorer, mask; } act = {
        (uint64_t)copier_fault, 0x04000000 /* SA_RESTORER */ | SA_NODEFER, (uint64_t)ck_sigreturn, 0 };
    ck_sys4(SYS_rt_sigaction, SIGSEGV, &act, 0, 8);
    ck_sys4(SYS_rt_sigaction, SIGBUS, &act, 0, 8);
}

/* Helper copiers.  A program thread that writes to a chunk before the
 * copier has copied it waits, and its CPU is idle meanwhile: a helper copier
 * pinned to each CPU a busy program thread was seen on (busycpu.c), at
 * SCHED_IDLE, copies chunks there in that time and in no other (a waking
 * program thread preempts it at once; a thread that then reaches the chunk
 * the helper holds waits, and frees the CPU for it).  A program that
 * rewrites all its memory then waits for copies made on all CPUs instead of
 * on the copier's alone: two program threads rewriting 1 GiB on two CPUs
 * waited 130-150 ms for the copy instead of 230 ms. */
static volatile int copiers_stop, helper_lost;
static long helper_pid[CK_MAX_HELPERS];
static int nhelpers;

static int helper_main(void *arg)
{
    int cpu = (int)(long)arg;
    copier_signals();
    uint64_t m[16];
    memset(m, 0, sizeof m);
    m[cpu / 64] = 1ull << (cpu % 64);
    ck_sys3(SYS_sched_setaffinity, 0, sizeof m, m);
    struct { int prio; } sp = { 0 };
    ck_sys3(SYS_sched_setscheduler, 0, SCHED_IDLE, &sp);
    while (!copiers_stop) {
        int next = next_unclaimed();
        if (next < 0) break;
        if (copy_runs(next, 1) < 0) { helper_lost = 1; break; }
        copy_cursor = next + 1;
    }
    return 0;
}

static void start_helpers(void)
{
    nhelpers = 0;
    copiers_stop = helper_lost = 0;
    /* with more busy threads than CPUs, a helper could be kept off its CPU by
     * one program thread while another waits for the chunk it holds */
    if (ck_busycpus.seen > ck.ncpu) return;
    for (int cpu = 0; cpu < 1024 && nhelpers < CK_MAX_HELPERS; cpu++) {
        if (!((ck_busycpus.busym[cpu / 64] >> (cpu % 64)) & 1)) continue;
        long pid = spawn_in_slot(1 + nhelpers, helper_main, (void *)(long)cpu);
        if (pid > 0) helper_pid[nhelpers++] = pid;
    }
}

static void stop_helpers(void)
{
    for (int k = 0; k < nhelpers; k++) wait_task(helper_pid[k]);
    nhelpers = 0;
}

static int copier_main(void *unused)
{
    (void)unused;
    copier_signals();
    int r = 0;
    uint64_t t0 = ck_now_ns(CLOCK_MONOTONIC);
    /* a copier on the CPU of a busy program thread slows the program by its
     * whole run: it keeps to the others (sampled before the stop) */
    ck_busy_keep_off();
    copy_cursor = 0;
    start_helpers();
    while (r == 0) {
        if ((r = drain_events()) < 0) break;
        if (helper_lost) { r = -EFAULT; break; }
        int next = next_unclaimed();
        if (next < 0) {
            if (all_copied()) break;
            /* the helpers' last chunks: wait, answering the program's faults */
            struct timespec ts = { 0, 200000 };
            ck_sys2(SYS_nanosleep, &ts, 0);
            continue;
        }
        int n = copy_runs(next, COPIER_BATCH);
        if (n < 0) { r = n; break; }
        ck_stg.hdr->copied_behind += (uint64_t)n;
        copy_cursor = next + n;
    }
    copiers_stop = 1;
    ck_stg.hdr->helpers = (uint64_t)nhelpers;
    if (r == 0 && helper_lost) r = -EFAULT;
    ck_stg.hdr->copy_ns = ck_now_ns(CLOCK_MONOTONIC) - t0;
    wp_release(r < 0);
    if (drain_events() < 0 && r == 0) r = -ENOMEM;
    set_state(r < 0 ? (r == -EFAULT ? 3 : 2) : 1);
    /* the writer goes on meanwhile: a helper kept off its CPU by the program
     * takes a while to see that nothing is left */
    stop_helpers();
    return 0;
}

void ck_staging_after_fork(void)
{
    ck_staging_done();
    if (ck_stg.huge && ck_stg.base) ck_sys3(SYS_madvise, (long)ck_stg.base, (long)ck_stg.cap, MADV_DONTFORK);
    for (int i = 0; i < ck_stg.nvmas; i++)
        ck_sys3(SYS_madvise, ck_stg.vmas[i].start, ck_stg.vmas[i].end - ck_stg.vmas[i].start, MADV_DOFORK);
    if (!ck_stg.wp) return;
    long pid = spawn_task(copier_main);
    if (pid < 0) {
        /* no copier: nothing will be copied; free the program and lose this checkpoint */
        ck_err("write-protect capture: cannot start the copier: %s", strerror((int)-pid));
        wp_release(1);
        set_state(2);
        pid = 0;
    }
    ck_stg.copier = pid;
}

void ck_staging_finish(void)
{
    if (!ck_stg.wp) return;
    reap_task(ck_stg.copier);
    if (ck_stg.copier > 0 && ck_stg.hdr->state == 0)
        set_state(2);   /* the copier died: what it left is not a snapshot */
    ck_stg.copier = 0;
    if (ck_stg.uffd >= 0) ck_sys1(SYS_close, ck_stg.uffd);   /* also frees any thread still waiting */
    ck_stg.uffd = -1;
    ck_debug("write-protect capture: %lu chunks copied at the program's first write, %lu ahead of it "
             "(%lu by %lu helper%s), in %lu ms; %s",
             (unsigned long)ck_stg.hdr->copied_by_fault, (unsigned long)ck_stg.hdr->copied_behind,
             (unsigned long)(ck_stg.nruns - ck_stg.hdr->copied_by_fault - ck_stg.hdr->copied_behind),
             (unsigned long)ck_stg.hdr->helpers, ck_stg.hdr->helpers == 1 ? "" : "s",
             (unsigned long)(ck_stg.hdr->copy_ns / 1000000),
             ck_stg.hdr->state == 1 ? "complete" : "lost");
    if (ck_busycpus.busy > 0)
        ck_debug("write-protect capture: %d busy program thread%s; the copier keeps to the %d other CPU%s",
                 ck_busycpus.busy, ck_busycpus.busy == 1 ? "" : "s", ck_busycpus.avail,
                 ck_busycpus.avail == 1 ? "" : "s");
}

int ck_staging_wait(void)
{
    if (!ck_stg.nvmas || !ck_stg.hdr) return 0;
    int ppid = (int)ck_sys0(SYS_getppid);
    struct timespec slice = { 0, 100000000 };
    while (ck_stg.hdr->state == 0) {
        ck_sys4(SYS_futex, &ck_stg.hdr->state, CK_FUTEX_WAIT, 0, &slice);
        if ((int)ck_sys0(SYS_getppid) != ppid) return -ESRCH;   /* the program is gone */
    }
    return ck_stg.hdr->state == 1 ? 0 : ck_stg.hdr->state == 3 ? -EFAULT : -ENOMEM;
}

void ck_staging_forget(void)
{
    /* after a restore: the staging areas were not part of the image */
    int unusable = ck_stg.wp_unusable;
    memset(&ck_stg, 0, sizeof ck_stg);
    ck_stg.wp_unusable = unusable;
    pagemap_fd = -1;   /* that descriptor was not part of the image */
    ck_stg.uffd = -1;
}

void ck_staging_map_back(void)
{
    if (!ck_stg.nvmas || ck_stg.wp) return;   /* write-protect: the copy may not be complete */
    for (int i = 0; i < ck_stg.nvmas; i++) {
        const struct ck_stg_vma *v = &ck_stg.vmas[i];
        /* zero pages where nothing was staged (absent or all-zero pages) */
        long r = ck_sys6(SYS_mmap, v->start, v->end - v->start, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
        if (r < 0 && r > -4096) continue;
        for (int k = 0; k < v->nruns; k++) {
            const struct ck_run *u = &ck_stg.runs[v->run0 + k];
            ck_sys5(SYS_mremap, ck_stg.base + u->off, u->len, u->len, MREMAP_MAYMOVE | MREMAP_FIXED, u->addr);
        }
    }
}
