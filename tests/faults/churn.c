/*
 * churn.c - a deterministic workload for the fault tests.
 *
 *   churn STEPS MIB [GROW_AT GROW_MIB]
 *
 * Keeps MIB MiB of pseudo-random data, rewrites a slice of it every step
 * (10 ms apart) and, at step GROW_AT, allocates GROW_MIB more of incompressible
 * data.  Prints one line with a checksum of everything at the end: the same
 * for any number of checkpoints, restores and ignored signals on the way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t x = 88172645463325252ull;
static uint64_t rnd(void) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; }

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 200;
    size_t n = (size_t)(argc > 2 ? atol(argv[2]) : 16) << 17;      /* words */
    long grow_at = argc > 3 ? atol(argv[3]) : -1;
    size_t gn = (size_t)(argc > 4 ? atol(argv[4]) : 0) << 17;
    uint64_t *a = malloc(n * 8), *g = NULL;
    if (!a) return 1;
    for (size_t i = 0; i < n; i++) a[i] = rnd();
    for (long s = 0; s < steps; s++) {
        if (s == grow_at && gn) {
            g = malloc(gn * 8);
            if (!g) return 1;
            for (size_t i = 0; i < gn; i++) g[i] = rnd();
        }
        size_t off = (size_t)(rnd() % n);
        for (size_t i = 0; i < n / 16; i++) a[(off + i) % n] = a[(off + i) % n] * 6364136223846793005ull + (uint64_t)s;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        while (nanosleep(&ts, &ts)) { }
    }
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) h = (h ^ a[i]) * 1099511628211ull;
    for (size_t i = 0; i < gn && g; i++) h = (h ^ g[i]) * 1099511628211ull;
    printf("churn: steps=%ld hash=%016llx\n", steps, (unsigned long long)h);
    return 0;
}
