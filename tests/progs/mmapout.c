/*
 * mmapout.c - an output file written through a writable MAP_SHARED mapping.
 *
 * Usage: mmapout FILE [ROUNDS]   (default 600; a round is roughly 2 ms)
 *
 * The program creates FILE (2 MiB), maps it shared and read-write, and every
 * round updates words all over it, each from its previous value.  A restored
 * run must start from the file as it was at the checkpoint, not as the killed
 * run left it (or without it: the file is re-created when it is gone).
 * Prints a hash of the work and of the file, read back through read().
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define SZ (2u << 20)

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: mmapout FILE [ROUNDS]\n"); return 2; }
    int rounds = argc > 2 ? atoi(argv[2]) : 600;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, SZ)) { perror("mmapout: open"); return 1; }
    uint64_t *m = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) { perror("mmapout: mmap"); return 1; }
    const size_t words = SZ / 8;
    uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = (size_t)r % 37; i < words; i += 37) m[i] = m[i] * 6364136223846793005ull + (uint64_t)r + i;
        for (long k = 0; k < 1000000; k++) h = (h ^ (uint64_t)k) * 1099511628211ull;
    }
    msync(m, SZ, MS_SYNC);
    uint64_t f = 1469598103934665603ull, w;
    for (off_t o = 0; o < (off_t)SZ; o += 8) {
        if (pread(fd, &w, 8, o) != 8) break;
        f = (f ^ w) * 1099511628211ull;
    }
    printf("mmapout: rounds=%d hash=%016llx file=%016llx\n", rounds, (unsigned long long)h,
           (unsigned long long)f);
    return 0;
}
