/*
 * mapchurn.c - large mappings created, rewritten and given back all the time.
 *
 * Usage: mapchurn [ROUNDS]   (default 20)
 *
 * Each round maps a few 8-24 MiB anonymous buffers, fills them from a seeded
 * generator, folds them into a running checksum, and then gives them back in
 * one of the ways a program can: munmap, mremap to a new size and address,
 * or madvise(MADV_DONTNEED) followed by a rewrite.  One 32 MiB buffer lives
 * for the whole run and is rewritten every round.  Checkpoints taken while
 * memory is unmapped under them must either be complete or be dropped; the
 * program itself must never notice.  Prints the final checksum.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static void fill(uint64_t *p, size_t words, uint64_t seed)
{
    for (size_t i = 0; i < words; i += 512) p[i] = mix(seed + i);
}

static uint64_t fold(const uint64_t *p, size_t words, uint64_t h)
{
    for (size_t i = 0; i < words; i += 512) h = mix(h ^ p[i]);
    return h;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    const size_t big = 32u << 20;
    uint64_t *keep = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (keep == MAP_FAILED) return 1;
    uint64_t h = 0, x = 7;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < big / 8; i += 64) keep[i] = keep[i] * 31 + (uint64_t)r;
        uint64_t *b[4];
        size_t len[4];
        for (int k = 0; k < 4; k++) {
            x = mix(x + (uint64_t)k);
            len[k] = (size_t)(8 + x % 17) << 20;
            b[k] = mmap(NULL, len[k], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (b[k] == MAP_FAILED) return 1;
            fill(b[k], len[k] / 8, x);
        }
        for (int k = 0; k < 4; k++) h = fold(b[k], len[k] / 8, h);
        /* give them back: munmap, mremap (grow and move), DONTNEED + rewrite */
        munmap(b[0], len[0]);
        uint64_t *m = mremap(b[1], len[1], len[1] + (4u << 20), MREMAP_MAYMOVE);
        if (m == MAP_FAILED) return 1;
        h = fold(m, len[1] / 8, h);
        munmap(m, len[1] + (4u << 20));
        madvise(b[2], len[2], MADV_DONTNEED);
        fill(b[2], len[2] / 8, h);
        h = fold(b[2], len[2] / 8, h);
        munmap(b[2], len[2]);
        munmap(b[3], len[3]);
    }
    h = fold(keep, big / 8, h);
    printf("mapchurn: rounds=%d checksum=%016llx\n", rounds, (unsigned long long)h);
    return 0;
}
