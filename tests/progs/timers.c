/*
 * timers.c - signal handlers, interval timers and clocks across a restore.
 *
 * Usage: timers [UNITS]   (default 150; one unit is roughly 10 ms of CPU)
 *
 * ITIMER_REAL (SIGALRM) and ITIMER_PROF (SIGPROF) tick every 5 ms into
 * SA_RESTART handlers that only count.  The work is counted in units, not in
 * ticks, so the printed result is deterministic; the tick counts themselves
 * are not printed.  What is printed and checked:
 *  - that both timers still fired during the last fifth of the units (the
 *    test checkpoints before that point, so this part runs after restore);
 *  - that the interval of both timers is still 5 ms at the end;
 *  - that CLOCK_MONOTONIC and CLOCK_REALTIME (read through the vDSO) never
 *    went backwards between units (a restore on the same machine only moves
 *    them forward).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t alrm_ticks, prof_ticks;

static void on_alrm(int sig) { (void)sig; alrm_ticks++; }
static void on_prof(int sig) { (void)sig; prof_ticks++; }

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static int64_t ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    long units = argc > 1 ? atol(argv[1]) : 150;
    long tail = units - units / 5;
    struct sigaction sa;
    struct itimerval it = { { 0, 5000 }, { 0, 5000 } };
    int backwards = 0;
    long alrm_tail_start = 0, prof_tail_start = 0;
    uint64_t h = 0;

    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_alrm;
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_handler = on_prof;
    sigaction(SIGPROF, &sa, NULL);
    if (setitimer(ITIMER_REAL, &it, NULL) || setitimer(ITIMER_PROF, &it, NULL)) {
        puts("timers: setitimer failed");
        return 1;
    }

    int64_t mono = ns(CLOCK_MONOTONIC), real = ns(CLOCK_REALTIME);
    for (long u = 0; u < units; u++) {
        if (u == tail) { alrm_tail_start = alrm_ticks; prof_tail_start = prof_ticks; }
        for (long i = 0; i < 2000000; i++)
            h = mix(h + (uint64_t)i);
        int64_t m = ns(CLOCK_MONOTONIC), r = ns(CLOCK_REALTIME);
        if (m < mono || r < real) backwards = 1;
        mono = m; real = r;
    }
    int alrm_tail = alrm_ticks > alrm_tail_start, prof_tail = prof_ticks > prof_tail_start;
    struct itimerval cr, cp;
    getitimer(ITIMER_REAL, &cr);
    getitimer(ITIMER_PROF, &cp);
    printf("timers: units=%ld hash=%016llx\n", units, (unsigned long long)h);
    printf("timers: SIGALRM in tail=%s SIGPROF in tail=%s\n", alrm_tail ? "yes" : "NO",
           prof_tail ? "yes" : "NO");
    printf("timers: interval real=%ldus prof=%ldus\n",
           (long)(cr.it_interval.tv_sec * 1000000 + cr.it_interval.tv_usec),
           (long)(cp.it_interval.tv_sec * 1000000 + cp.it_interval.tv_usec));
    printf("timers: clocks %s\n", backwards ? "WENT BACKWARDS" : "monotonic");
    return 0;
}
