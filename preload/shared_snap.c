/*
 * shared_snap.c - shared memory whose contents the checkpoint must hold
 * (MAP_SHARED|MAP_ANONYMOUS, memfd, System V, deleted /dev/shm files),
 * copied while the world is stopped; so are writable shared mappings of files,
 * whose pages the restore writes back into the file (it may have changed since,
 * as the JVM's hsperfdata file does all the time).
 *
 * The writer cannot take such memory from its fork as it does private
 * memory: the fork shares it with the program, which runs on and changes it,
 * and the kernel does not copy the page tables of shared mappings into a
 * child (it faults them in again on demand), so the writer's pagemap shows
 * none of its pages.  In the pause the manager copies the resident pages of
 * every such mapping (mincore() tells which; the others were never written)
 * into a private buffer; the writer inherits the buffers and saves each
 * mapping from its buffer, whose pagemap shows exactly the copied pages.  The
 * manager drops its buffers once the writer is forked.
 *
 * Memory: as much as those mappings have resident, for the duration of the
 * checkpoint.  A mapping that cannot be copied (no memory, or not readable) is
 * read by the writer from the running program, with a warning: its contents
 * may then mix moments.
 */
#include "preload/internal.h"
#include "preload/staging.h"
#include "preload/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096ull
#define CK_MAX_SNAPS 256

struct snap { uint64_t start, end; char *buf; };
static struct snap snaps[CK_MAX_SNAPS];
static int nsnaps;

/* Whether the contents of a mapping of this path (as /proc/self/maps writes
 * it) must be stored, no file holding them. */
int ck_path_contents_stored(const char *p)
{
    if (!strncmp(p, "/dev/zero", 9) || !strncmp(p, "/SYSV", 5) || !strncmp(p, "/memfd:", 7))
        return 1;
    return p[0] == '/' && strstr(p, " (deleted)") != NULL;
}

/* Whether a writable shared mapping of this file has its pages stored: any
 * regular file (a character device's pages are not memory). */
int ck_path_shared_saved(const char *p)
{
    return p[0] == '/' && (strncmp(p, "/dev/", 5) || !strncmp(p, "/dev/shm/", 9));
}

/* All the copies lie in one private mapping (the writer leaves it out of the
 * map it saves: ck_shared_snapshot_area), in transparent huge pages where the
 * system allows (one fault per 2 MiB while the world is stopped). */
static uint64_t area, area_len;

/* Copies the resident pages of snaps[i]'s mapping into its place in the area. */
static int copy_one(struct snap *sn, unsigned char *vec)
{
    size_t len = (size_t)(sn->end - sn->start), np = len / PAGE;
    if (ck_sys3(SYS_mincore, sn->start, len, vec) < 0) return -EFAULT;
    for (size_t i = 0; i < np;) {
        if (!(vec[i] & 1)) { i++; continue; }
        size_t j = i + 1;
        while (j < np && (vec[j] & 1)) j++;
        memcpy(sn->buf + i * PAGE, (const char *)sn->start + i * PAGE, (j - i) * PAGE);
        i = j;
    }
    return 0;
}

/* In the pause, with every program thread parked. */
void ck_shared_snapshot(void)
{
    ck_shared_snapshot_drop();
    size_t cap;
    long n;
    char *maps = ck_read_file_mapped("/proc/self/maps", &cap, &n);
    if (!maps) return;
    int failed = 0;
    uint64_t total = 0, largest = 0;
    for (const char *s = maps; n > 0 && *s;) {
        uint64_t start = ck_parse_hex(&s);
        s++;
        uint64_t end = ck_parse_hex(&s);
        s++;
        int readable = s[0] == 'r', writable = s[1] == 'w', shared = s[3] == 's';
        /* perms, offset, dev, inode, then the path */
        for (int f = 0; f < 4 && *s && *s != '\n'; f++) {
            while (*s && *s != ' ' && *s != '\n') s++;
            while (*s == ' ') s++;
        }
        const char *path = s;
        while (*s && *s != '\n') s++;
        char p[64];
        size_t pl = (size_t)(s - path) < sizeof p - 1 ? (size_t)(s - path) : sizeof p - 1;
        memcpy(p, path, pl);
        p[pl] = 0;
        if ((size_t)(s - path) >= sizeof p - 1 && !strncmp(s - 10, " (deleted)", 10))
            memcpy(p + sizeof p - 11, " (deleted)", 11);   /* a long path: keep its ending */
        if (*s) s++;
        if (ck_staging_owns(start, end)) continue;   /* libckpt's own, not saved */
        if (!shared || !(ck_path_contents_stored(p) || (writable && ck_path_shared_saved(p)))) continue;
        if (!readable || nsnaps == CK_MAX_SNAPS) { failed++; continue; }
        snaps[nsnaps].start = start;
        snaps[nsnaps].end = end;
        nsnaps++;
        total += end - start;
        if (end - start > largest) largest = end - start;
    }
    ck_sys2(SYS_munmap, maps, cap);
    if (nsnaps) {
        const uint64_t huge = 2ull << 20;
        area_len = total + huge;
        long a = ck_sys6(SYS_mmap, 0, (long)area_len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        size_t veclen = (size_t)((largest / PAGE + 4095) & ~4095ull);
        long v = a < 0 && a > -4096 ? a : ck_sys6(SYS_mmap, 0, (long)veclen, PROT_READ | PROT_WRITE,
                                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (v < 0 && v > -4096) {
            if (!(a < 0 && a > -4096)) ck_sys2(SYS_munmap, a, area_len);
            area = area_len = 0;
            failed += nsnaps;
            nsnaps = 0;
        } else {
            area = (uint64_t)a;
            ck_sys3(SYS_madvise, area, area_len, MADV_HUGEPAGE);
            uint64_t off = (huge - area % huge) % huge;
            int kept = 0;
            for (int i = 0; i < nsnaps; i++) {
                snaps[i].buf = (char *)(area + off);
                off += snaps[i].end - snaps[i].start;
                if (copy_one(&snaps[i], (unsigned char *)v) < 0) { failed++; continue; }
                snaps[kept++] = snaps[i];
            }
            nsnaps = kept;
            ck_sys2(SYS_munmap, v, veclen);
        }
    }
    if (nsnaps) {
        uint64_t copied = 0;
        for (int i = 0; i < nsnaps; i++) copied += snaps[i].end - snaps[i].start;
        ck_debug("shared memory: %d mapping(s), %lu KiB, copied in the pause", nsnaps,
                 (unsigned long)(copied >> 10));
    }
    if (failed)
        ck_warn("%d shared memory mapping(s) could not be copied in the pause: the writer reads them "
                "while the program runs", failed);
}

/* The writer: the range of the copies, which is not the program's memory. */
void ck_shared_snapshot_area(uint64_t *lo, uint64_t *hi)
{
    *lo = area;
    *hi = area + area_len;
}

/* The manager, once the writer has its copy (or the checkpoint failed). */
void ck_shared_snapshot_drop(void)
{
    if (area) ck_sys2(SYS_munmap, area, area_len);
    area = area_len = 0;
    nsnaps = 0;
}

/* The writer: the copy of the shared mapping [start, end), or NULL. */
const char *ck_shared_snapshot_of(uint64_t start, uint64_t end)
{
    for (int i = 0; i < nsnaps; i++)
        if (snaps[i].start == start && snaps[i].end == end) return snaps[i].buf;
    return NULL;
}
