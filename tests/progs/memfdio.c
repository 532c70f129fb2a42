/*
 * memfdio.c - memfds used as files and as memory at once.
 *
 * Usage: memfdio [ROUNDS]   (default 1500; a round is roughly 0.5 ms)
 *
 * "memfdio-ring" (sealed against shrinking) is mapped twice, back to back,
 * as a ring buffer whose records may run over its end: a write through one
 * mapping must show in the other, and what pwrite() puts into the memfd must
 * show in both.  "memfdio-log" is never mapped: records are appended to it
 * with write(), so its contents and file offset are only in the descriptor.
 * "memfdio.tmp", a file in the working directory deleted at once, is written
 * through a shared mapping and read back through its descriptor.
 * The end prints a hash of the work, of the ring read through the descriptor,
 * of the log read back, the aliasing faults seen, the sizes, the seals, the
 * names the descriptors carry, and whether shrinking the ring is refused.
 * Deterministic.  MEMFDIO_HEARTBEAT=1: "memfdio: round N" on stderr every 100
 * rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SZ (4u << 20)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static void name_of(int fd, char *out, size_t n)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t l = readlink(p, out, n - 1);
    out[l < 0 ? 0 : l] = 0;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1500;
    int ring = memfd_create("memfdio-ring", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    int log = memfd_create("memfdio-log", 0);
    if (ring < 0 || log < 0 || ftruncate(ring, SZ)) { perror("memfdio: memfd"); return 1; }
    char *r = mmap(NULL, 2 * (size_t)SZ, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED ||
        mmap(r, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ring, 0) != r ||
        mmap(r + SZ, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ring, 0) != r + SZ) {
        perror("memfdio: mmap");
        return 1;
    }
    if (fcntl(ring, F_ADD_SEALS, F_SEAL_SHRINK) < 0) { perror("memfdio: seal"); return 1; }
    int tmp = open("memfdio.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (tmp < 0 || unlink("memfdio.tmp") || ftruncate(tmp, 1 << 20)) { perror("memfdio: tmp"); return 1; }
    uint64_t *t = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, tmp, 0);
    if (t == MAP_FAILED) { perror("memfdio: mmap tmp"); return 1; }

    uint64_t h = 1469598103934665603ull, pos = 0;
    long faults = 0;
    char rec[6000];
    int beat = getenv("MEMFDIO_HEARTBEAT") != NULL;
    for (int k = 0; k < rounds; k++) {
        /* a record of 1000-6000 bytes at the ring's head, possibly over its end */
        size_t n = 1000 + (size_t)(h % 5000);
        for (size_t i = 0; i < n; i++) rec[i] = (char)(h >> (i % 56)) + (char)i;
        memcpy(r + pos, rec, n);
        size_t tail = (pos + n - 1) % SZ;
        if (r[tail] != r[tail + SZ] || r[pos % SZ] != r[pos % SZ + SZ]) faults++;
        /* a word put in by pwrite shows in the mapping */
        uint64_t w = h ^ (uint64_t)k, off = (h >> 7) % (SZ / 8) * 8, back;
        if (pwrite(ring, &w, 8, (off_t)off) != 8) { perror("memfdio: pwrite"); return 1; }
        memcpy(&back, r + SZ + off, 8);
        if (back != w) faults++;
        pos = (pos + n) % SZ;
        /* the deleted file: written through its mapping, read through its descriptor */
        size_t ti = (h >> 11) % ((1u << 20) / 8);
        t[ti] += h;
        if (pread(tmp, &back, 8, (off_t)(ti * 8)) != 8 || back != t[ti]) faults++;
        /* the log: appended through the descriptor's offset */
        int l = snprintf(rec, sizeof rec, "round %d head %llu\n", k, (unsigned long long)pos);
        if (write(log, rec, (size_t)l) != l) { perror("memfdio: write"); return 1; }
        for (long i = 0; i < 300000; i++) h = (h ^ (uint64_t)i) * 1099511628211ull;
        if (beat && k % 100 == 0) fprintf(stderr, "memfdio: round %d\n", k);
    }

    /* what the descriptors hold */
    char *buf = malloc(SZ);
    struct stat rs, ls;
    if (!buf || pread(ring, buf, SZ, 0) != (ssize_t)SZ || fstat(ring, &rs) || fstat(log, &ls)) {
        perror("memfdio: read back");
        return 1;
    }
    uint64_t hr = fnv(1469598103934665603ull, buf, SZ);
    if (memcmp(buf, r + SZ, SZ)) faults++;
    off_t lpos = lseek(log, 0, SEEK_CUR);
    if (pread(tmp, buf, 1 << 20, 0) != 1 << 20) { perror("memfdio: read tmp"); return 1; }
    uint64_t ht = fnv(1469598103934665603ull, buf, 1 << 20);
    char *lb = malloc((size_t)ls.st_size + 1);
    ssize_t got = pread(log, lb, (size_t)ls.st_size, 0);
    uint64_t hl = fnv(1469598103934665603ull, lb, got > 0 ? (size_t)got : 0);
    int shrink = ftruncate(ring, SZ / 2) < 0 ? errno : 0;
    char rn[256], ln[256];
    name_of(ring, rn, sizeof rn);
    name_of(log, ln, sizeof ln);
    printf("memfdio: rounds=%d hash=%016llx ring=%016llx log=%016llx tmp=%016llx faults=%ld\n", rounds,
           (unsigned long long)h, (unsigned long long)hr, (unsigned long long)hl, (unsigned long long)ht,
           faults);
    printf("memfdio: ring size %lld seals %d shrink %s (%s); log size %lld at %lld read %zd (%s); cloexec %d %d\n",
           (long long)rs.st_size, fcntl(ring, F_GET_SEALS), shrink ? strerror(shrink) : "allowed", rn,
           (long long)ls.st_size, (long long)lpos, got, ln, fcntl(ring, F_GETFD), fcntl(log, F_GETFD));
    return 0;
}
