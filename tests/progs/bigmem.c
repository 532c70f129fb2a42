/*
 * bigmem.c - a large, fully written heap (default 1 GiB).
 *
 * Usage: bigmem [MIB [PASSES]]   (defaults 1024 MiB, 3 passes)
 *
 * One malloc of MIB MiB, filled with seeded incompressible data, then PASSES
 * sweeps that rewrite every word from its neighbour (so a checkpoint sees the
 * memory half old, half new, and copy-on-write is exercised on every page),
 * then a checksum of everything.  The suite uses 256 MiB by default and 1 GiB
 * with CKPT_TEST_FULL=1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 1024;
    int passes = argc > 2 ? atoi(argv[2]) : 3;
    size_t words = mib << 17;
    uint64_t *m = malloc(words * 8);
    if (!m) { printf("bigmem: cannot allocate %zu MiB\n", mib); return 1; }

    uint64_t x = 0x1234;
    for (size_t i = 0; i < words; i++)
        m[i] = x = x * 6364136223846793005ull + 1442695040888963407ull;
    for (int p = 0; p < passes; p++) {
        uint64_t prev = (uint64_t)p;
        for (size_t i = 0; i < words; i++)
            prev = m[i] = (m[i] ^ (prev >> 7)) * 0x9e3779b97f4a7c15ull + (uint64_t)p;
    }
    uint64_t h = 0;
    for (size_t i = 0; i < words; i += 8)
        h = mix(h ^ m[i] ^ (m[i + 1] << 1) ^ (m[i + 7] << 3));
    printf("bigmem: mib=%zu passes=%d checksum=%016llx\n", mib, passes, (unsigned long long)h);
    return 0;
}
