/*
 * neighbour.c - program memory right above a free gap.
 *
 * Usage: neighbour [ROUNDS]   (default 60 rounds of 20 ms)
 *
 * The kernel merges a new anonymous mapping with an adjacent one of the same
 * flags.  glibc's per-thread malloc arenas are such mappings, and a gap below
 * one is where the next small mapping lands: that of a checkpointer, for
 * instance, which must then not take the program's part of the merged line
 * for its own.  This program maps 8 MiB (private, anonymous, MAP_NORESERVE
 * like a malloc arena), unmaps its lowest 2 MiB so that the highest free gap
 * lies right below the rest, and keeps changing the rest; the final checksum
 * covers all of it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 60;
    size_t len = 8u << 20, hole = 2u << 20;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) { puts("neighbour: mmap failed"); return 1; }
    munmap(m, hole);
    uint64_t *w = (uint64_t *)(m + hole);
    size_t n = (len - hole) / 8;
    for (size_t i = 0; i < n; i++) w[i] = i * 0x9e3779b97f4a7c15ull;
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    for (long r = 0; r < rounds; r++) {
        for (size_t i = (size_t)r % 512; i < n; i += 512) w[i] = w[i] * 6364136223846793005ull + (uint64_t)r;
        nanosleep(&ts, NULL);
    }
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++) c = (c ^ w[i]) * 0x100000001b3ull;
    printf("neighbour: rounds=%ld checksum=%016llx\n", rounds, (unsigned long long)c);
    return 0;
}
