/*
 * halfzero.c - a large array that is resident but mostly zero.
 *
 * Usage: halfzero [MIB [STEPS]]   (defaults 64 MiB, 60 steps)
 *
 * Simulations allocate and clear whole grids and then fill only part of them.
 * This program clears MIB MiB (every page resident, all zero), then step by
 * step writes values into a scattered third of its pages and clears others
 * again, so that a checkpoint finds blocks with zero pages between data
 * pages.  The final checksum covers every page.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 64;
    long steps = argc > 2 ? atol(argv[2]) : 60;
    size_t pages = (mib << 20) / 4096;
    double *g = malloc(pages * 4096);
    if (!g) { puts("halfzero: out of memory"); return 1; }
    memset(g, 0, pages * 4096);
    uint64_t h = 0;
    for (long s = 0; s < steps; s++) {
        for (size_t p = 0; p < pages; p++) {
            uint64_t r = mix((uint64_t)s * 7919u + p);
            double *pg = g + p * 512;
            if (r % 3 == 0) {
                for (int i = 0; i < 512; i++) pg[i] = pg[i] * 0.5 + (double)((r >> 8) & 0xff) + i * 1e-3;
            } else if (r % 7 == 1) {
                memset(pg, 0, 4096);
            }
        }
        for (long i = 0; i < 1000000; i++) h = mix(h + (uint64_t)i);
    }
    uint64_t c = h;
    size_t zero = 0;
    for (size_t p = 0; p < pages; p++) {
        const uint64_t *w = (const uint64_t *)(g + p * 512);
        uint64_t x = 0;
        for (int i = 0; i < 512; i++) x ^= w[i] * (uint64_t)(i + 1);
        if (!x) zero++;
        c = mix(c ^ x ^ p);
    }
    printf("halfzero: mib=%zu steps=%ld zero_pages=%zu checksum=%016llx\n", mib, steps, zero,
           (unsigned long long)c);
    return 0;
}
