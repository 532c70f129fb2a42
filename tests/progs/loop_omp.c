/*
 * loop_omp.c - an OpenMP program: a thread team that persists across the run.
 *
 * Usage: loop_omp [ITERATIONS [THREADS]]   (defaults 1200 and 3)
 *
 * A 1-D three-point stencil over 1M doubles, one `parallel for` per iteration
 * with the default static schedule, plus an integer reduction.  Between
 * parallel regions libgomp's workers spin and then sleep on futexes, so a
 * checkpoint finds them in either state.  Floating-point sums are formed
 * sequentially at the end (a parallel FP reduction would depend on the order),
 * so the output is deterministic for a given thread count.
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N (1u << 20)

static double a[N], b[N];

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1200;
    int nt = argc > 2 ? atoi(argv[2]) : 3;
    uint64_t isum = 0;
    int team = 0;

    for (unsigned i = 0; i < N; i++) a[i] = (double)(i % 1000) / 1000.0;
    for (long it = 0; it < iters; it++) {
        #pragma omp parallel for num_threads(nt) reduction(+:isum)
        for (unsigned i = 1; i < N - 1; i++) {
            b[i] = 0.25 * a[i - 1] + 0.5 * a[i] + 0.25 * a[i + 1] + 1e-9 * (double)it;
            isum += (uint64_t)(b[i] * 1024.0) & 0xff;
        }
        #pragma omp parallel num_threads(nt)
        {
            #pragma omp for
            for (unsigned i = 1; i < N - 1; i++) a[i] = b[i];
            #pragma omp single
            team = omp_get_num_threads();
        }
    }
    double s = 0;
    for (unsigned i = 0; i < N; i++) s += a[i] * (double)(i % 7 + 1);
    printf("loop_omp: iterations=%ld team=%d isum=%llu sum=%.17g\n", iters, team,
           (unsigned long long)isum, s);
    return 0;
}
