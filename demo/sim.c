/*
 * sim.c - the demo's sample simulation: 2-D heat diffusion on a square plate.
 *
 * Usage: sim [N [STEPS]]   (defaults: a 512 x 512 grid, 10000 steps, a few seconds)
 *
 * A hot square in the middle of a cold plate spreads out under the explicit
 * five-point scheme.  Progress goes to stderr every 10%; the result (total
 * heat, the centre temperature and a checksum of the whole grid) is printed
 * on stdout at the end, so an uninterrupted run and a checkpointed, killed and
 * restored run can be compared exactly.  The program knows nothing of ckpt.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 512;
    long steps = argc > 2 ? atol(argv[2]) : 10000;
    if (n < 8 || steps < 1) {
        fprintf(stderr, "usage: sim [N>=8 [STEPS>=1]]\n");
        return 2;
    }
    size_t cells = (size_t)n * (size_t)n;
    double *u = calloc(cells, sizeof *u), *v = calloc(cells, sizeof *v);
    if (!u || !v) { fprintf(stderr, "sim: out of memory\n"); return 1; }
    for (int i = n / 2 - n / 8; i < n / 2 + n / 8; i++)
        for (int j = n / 2 - n / 8; j < n / 2 + n / 8; j++)
            u[(size_t)i * n + j] = 100.0;

    const double k = 0.2;                       /* stable for k <= 0.25 */
    for (long s = 1; s <= steps; s++) {
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++) {
                size_t c = (size_t)i * n + j;
                v[c] = u[c] + k * (u[c - n] + u[c + n] + u[c - 1] + u[c + 1] - 4 * u[c]);
            }
        double *t = u; u = v; v = t;            /* edges stay at 0 in both */
        if (s % (steps / 10 ? steps / 10 : 1) == 0)
            fprintf(stderr, "sim: step %ld of %ld\n", s, steps);
    }

    double total = 0;
    uint64_t h = 1469598103934665603ull;        /* FNV-1a over the raw doubles */
    for (size_t c = 0; c < cells; c++) {
        total += u[c];
        unsigned char b[8];
        memcpy(b, &u[c], 8);
        for (int i = 0; i < 8; i++) h = (h ^ b[i]) * 1099511628211ull;
    }
    printf("grid %dx%d, %ld steps: total heat %.6f, centre %.6f, checksum %016llx\n", n, n,
           steps, total, u[(size_t)(n / 2) * n + n / 2], (unsigned long long)h);
    return 0;
}
