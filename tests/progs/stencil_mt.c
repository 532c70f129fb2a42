/*
 * stencil_mt.c - threads that each rewrite every page of their slice of a
 * large buffer, step after step (a simulation that keeps every CPU busy).
 *
 * Usage: stencil_mt [MIB [THREADS [STEPS]]]   (defaults 256 MiB, 2, 40)
 *
 * Each thread owns MIB/THREADS of one buffer: it fills it from a seed, then
 * every step rewrites each word from itself and its left neighbour in the
 * slice; a barrier ends each step.  Every thread touches only its own slice,
 * so the result does not depend on how the threads were scheduled.  Prints
 * one checksum per thread and their combination.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t *buf;
static size_t slice;                 /* words per thread */
static int nthreads, steps;
static pthread_barrier_t bar;
static uint64_t sums[64];

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static void *work(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t *w = buf + (size_t)id * slice;
    for (size_t i = 0; i < slice; i++) w[i] = mix((uint64_t)id << 40 | i);
    pthread_barrier_wait(&bar);
    for (int s = 0; s < steps; s++) {
        uint64_t prev = w[slice - 1];
        for (size_t i = 0; i < slice; i++) {
            uint64_t cur = w[i];
            w[i] = cur * 6364136223846793005ull + (prev >> 7) + (uint64_t)s;
            prev = cur;
        }
        pthread_barrier_wait(&bar);
    }
    uint64_t h = 0;
    for (size_t i = 0; i < slice; i++) h = mix(h ^ w[i]);
    sums[id] = h;
    return NULL;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    nthreads = argc > 2 ? atoi(argv[2]) : 2;
    steps = argc > 3 ? atoi(argv[3]) : 40;
    if (nthreads < 1 || nthreads > 64) { printf("stencil_mt: 1 to 64 threads\n"); return 1; }
    slice = (mib << 17) / (size_t)nthreads;
    buf = malloc(slice * (size_t)nthreads * 8);
    if (!buf) { printf("stencil_mt: cannot allocate %zu MiB\n", mib); return 1; }
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
    pthread_t t[64];
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, work, (void *)(intptr_t)i);
    uint64_t all = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], NULL);
        printf("thread %d: %016llx\n", i, (unsigned long long)sums[i]);
        all = mix(all ^ sums[i]);
    }
    printf("stencil_mt %zu MiB, %d threads, %d steps: %016llx\n", mib, nthreads, steps, (unsigned long long)all);
    return 0;
}
