/*
 * sparse.c - large mappings that are only partly populated at the checkpoint.
 *
 * Usage: sparse [MIB [ROUNDS]]   (defaults 128 MiB, 40 rounds, about 1 s)
 *
 * Real programs allocate big arrays and fill them over time, so a checkpoint
 * usually finds mappings in which some pages were touched and the rest never
 * were (not present: nothing to save, but the mapping must come back whole and
 * writable).  This program maps MIB MiB anonymous memory and, round by round,
 * touches a further slice of its pages in a scattered order, so that at any
 * moment part of the mapping is populated.  It also keeps a PROT_NONE guard
 * page in the middle and a read-only page it made from a written one.  The
 * final checksum covers every page (untouched ones read as zero).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 128;
    long rounds = argc > 2 ? atol(argv[2]) : 40;
    size_t len = mib << 20, pages = len / 4096;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { puts("sparse: mmap failed"); return 1; }
    size_t guard = pages / 2, ro = pages / 3;
    m[ro * 4096 + 8] = 0x5a;
    mprotect(m + ro * 4096, 4096, PROT_READ);
    mprotect(m + guard * 4096, 4096, PROT_NONE);

    uint64_t h = 0;
    for (long r = 0; r < rounds; r++) {
        /* touch about 1/(2*rounds) of the pages, scattered; then stir some work */
        for (size_t k = 0; k < pages / (size_t)(2 * rounds); k++) {
            size_t p = (size_t)(mix((uint64_t)r * 1000003u + k) % pages);
            if (p == guard || p == ro) continue;
            uint64_t *w = (uint64_t *)(m + p * 4096);
            w[(r + (long)k) & 511] += mix(p + (uint64_t)r);
        }
        for (long i = 0; i < 2500000; i++) h = mix(h + (uint64_t)i);
    }
    uint64_t c = h;
    size_t touched = 0;
    for (size_t p = 0; p < pages; p++) {
        if (p == guard) continue;
        const uint64_t *w = (const uint64_t *)(m + p * 4096);
        uint64_t x = 0;
        for (int i = 0; i < 512; i++) x ^= w[i] * (uint64_t)(i + 1);
        if (x) { touched++; c = mix(c ^ x ^ p); }
    }
    printf("sparse: mib=%zu rounds=%ld touched=%zu checksum=%016llx\n", mib, rounds, touched,
           (unsigned long long)c);
    return 0;
}
