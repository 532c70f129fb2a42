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
 * shared staging area for the large private anonymous mappings and faults it
 * in once (MADV_POPULATE_WRITE; it is kept for the next checkpoints).  While
 * parked it copies their non-zero present pages into it as runs (address,
 * length, offset), marks those mappings MADV_DONTFORK so the writer's fork
 * neither copies their page tables nor write-protects them, forks, and marks
 * them MADV_DOFORK again.  The writer re-inserts these mappings into the map it
 * saves and takes their contents from the staging area.
 *
 * Memory: the staging area is as large as the staged data (the non-zero
 * resident pages of those mappings), bounded by CKPT_STAGING_MAX_MB (default:
 * half of MemAvailable when it is sized); mappings that do not fit are
 * captured copy-on-write.  CKPT_CAPTURE=copy stages every private anonymous
 * mapping of at least 64 KiB except thread stacks; the default (fork) stages
 * nothing.  Which wins where is in BENCHMARKS.md: copy for programs that
 * rewrite most of their memory between checkpoints, fork otherwise.
 */
#include "preload/internal.h"
#include "preload/log.h"
#include "preload/staging.h"
#include "format/ckf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
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
                   (a < ck_stg.base + ck_stg.cap && b > ck_stg.base) ||
                   (a < ck_stg.idx_base + ck_stg.idx_cap && b > ck_stg.idx_base) ||
                   (a < ck.self_rw_hi && b > ck.self_rw_lo) ||
                   (ck.mgr_fs >= a && ck.mgr_fs < b);
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
    int fd = (int)ck_sys4(SYS_openat, AT_FDCWD, "/proc/meminfo", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return 0;
    long n = ck_sys3(SYS_read, fd, b, sizeof b - 1);
    ck_sys1(SYS_close, fd);
    if (n <= 0) return 0;
    b[n] = 0;
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
    return ck.cfg.capture == CK_CAPTURE_COPY ? 64 * 1024 : 4ull << 20;
}

/* Grows (or creates) a shared mapping of at least want bytes, faulted in. */
static int ensure_area(uint64_t *base, uint64_t *cap, uint64_t want)
{
    if (*cap >= want) return 0;
    if (*base) ck_sys2(SYS_munmap, *base, *cap);
    *base = 0;
    *cap = 0;
    want = (want + (2ull << 20) - 1) & ~((2ull << 20) - 1);
    long m = ck_sys6(SYS_mmap, 0, (long)want, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m < 0 && m > -4096) return (int)m;
    /* Fault it in now, while the program runs, not during the pause. */
    if (ck_sys3(SYS_madvise, m, want, 23 /* MADV_POPULATE_WRITE */) < 0)
        for (uint64_t o = 0; o < want; o += PAGE) ((volatile char *)m)[o] = 0;
    *base = (uint64_t)m;
    *cap = want;
    return 0;
}

int ck_staging_prepare(void)
{
    ck_stg.active = 0;
    if (ck.cfg.capture == CK_CAPTURE_FORK) return 0;
    if (pagemap_fd < 0)
        pagemap_fd = (int)ck_sys4(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
    if (pagemap_fd < 0) return 0;
    uint64_t total = 0;
    for_candidates(min_size(), count_present, &total);
    if (!total) { ck_staging_done(); return 0; }
    uint64_t budget = ck.cfg.staging_max ? ck.cfg.staging_max : mem_available() / 2;
    uint64_t want = total + total / 8 + (4ull << 20);
    if (want > budget) {
        if (!ck_stg.warned) ck_info("copy capture: %lu MiB would exceed the staging budget (%lu MiB); "
                                    "using copy-on-write", (unsigned long)(want >> 20), (unsigned long)(budget >> 20));
        ck_stg.warned = 1;
        want = budget;
    }
    uint64_t t0 = ck_now_ns(CLOCK_MONOTONIC);
    if (ensure_area(&ck_stg.base, &ck_stg.cap, want) < 0) { ck_staging_done(); return 0; }
    uint64_t idx = (want / PAGE / 2 + 1024) * sizeof(struct ck_run) + CK_STG_MAX_VMAS * sizeof(struct ck_stg_vma);
    if (ensure_area(&ck_stg.idx_base, &ck_stg.idx_cap, idx) < 0) { ck_staging_done(); return 0; }
    ck_debug("copy capture: %lu MiB staging ready in %lu ms", (unsigned long)(ck_stg.cap >> 20),
             (unsigned long)((ck_now_ns(CLOCK_MONOTONIC) - t0) / 1000000));
    ck_stg.active = 1;
    return 0;
}

struct copy_state { uint64_t used; int nruns, maxruns; int full; };

static int copy_region(void *arg, uint64_t a, uint64_t b, const char *path)
{
    struct copy_state *cs = arg;
    if (ck_stg.nvmas >= CK_STG_MAX_VMAS || cs->full) return 0;
    struct ck_run *runs = (struct ck_run *)ck_stg.idx_base;
    int first = cs->nruns;
    uint64_t used0 = cs->used;
    uint64_t pm[512];
    for (uint64_t x = a; x < b;) {
        size_t np = (size_t)((b - x) / PAGE);
        if (np > 512) np = 512;
        long r = ck_sys4(SYS_pread64, pagemap_fd, pm, np * 8, (x / PAGE) * 8);
        if (r < (long)(np * 8)) goto undo;
        for (size_t i = 0; i < np; i++) {
            if (!(pm[i] & (PM_PRESENT | PM_SWAP))) continue;
            const char *src = (const char *)(x + i * PAGE);
            if (ckf_is_zero(src, PAGE)) continue;
            if (cs->used + PAGE > ck_stg.cap) goto undo;
            uint64_t addr = x + i * PAGE;
            struct ck_run *last = cs->nruns > first ? &runs[cs->nruns - 1] : NULL;
            if (last && last->addr + last->len == addr) {
                last->len += PAGE;
            } else {
                if (cs->nruns >= cs->maxruns) goto undo;
                runs[cs->nruns++] = (struct ck_run){ addr, PAGE, cs->used };
            }
            memcpy((char *)ck_stg.base + cs->used, src, PAGE);
            cs->used += PAGE;
        }
        x += np * PAGE;
    }
    {
        struct ck_stg_vma *v = &ck_stg.vmas[ck_stg.nvmas++];
        v->start = a;
        v->end = b;
        v->run0 = first;
        v->nruns = cs->nruns - first;
        size_t pl = strlen(path);
        if (pl >= sizeof v->name) pl = sizeof v->name - 1;
        memcpy(v->name, path, pl);
        v->name[pl] = 0;
        ck_sys3(SYS_madvise, a, b - a, MADV_DONTFORK);
    }
    return 0;
undo:
    /* does not fit: this mapping (and the rest) go copy-on-write */
    cs->nruns = first;
    cs->used = used0;
    cs->full = 1;
    return 0;
}

void ck_staging_copy(void)
{
    ck_stg.nvmas = 0;
    ck_stg.nruns = 0;
    ck_stg.used = 0;
    if (!ck_stg.active) return;
    struct copy_state cs = { 0, 0, 0, 0 };
    ck_stg.vmas = (struct ck_stg_vma *)(ck_stg.idx_base + ck_stg.idx_cap) - CK_STG_MAX_VMAS;
    cs.maxruns = (int)((ck_stg.idx_cap - CK_STG_MAX_VMAS * sizeof(struct ck_stg_vma)) / sizeof(struct ck_run));
    for_candidates(min_size(), copy_region, &cs);
    ck_stg.nruns = cs.nruns;
    ck_stg.used = cs.used;
}

void ck_staging_done(void)
{
    if (pagemap_fd >= 0) ck_sys1(SYS_close, pagemap_fd);
    pagemap_fd = -1;
}

void ck_staging_after_fork(void)
{
    ck_staging_done();
    for (int i = 0; i < ck_stg.nvmas; i++)
        ck_sys3(SYS_madvise, ck_stg.vmas[i].start, ck_stg.vmas[i].end - ck_stg.vmas[i].start, MADV_DOFORK);
}

void ck_staging_forget(void)
{
    /* after a restore: the staging areas were not part of the image */
    memset(&ck_stg, 0, sizeof ck_stg);
    pagemap_fd = -1;   /* that descriptor was not part of the image */
}
