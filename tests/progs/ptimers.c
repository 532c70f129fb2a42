/*
 * ptimers.c - POSIX timers (timer_create) across a restore.
 *
 * Usage: ptimers [UNITS]   (default 150; one unit is roughly 10 ms of CPU)
 *
 * Five timers, created in this order (ids are handed out in order, so they
 * are the same in every run):
 *   A  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGALRM, sigev_value &marker, every 4 ms
 *   -  a timer created and deleted again (a hole in the ids)
 *   B  CLOCK_MONOTONIC, SIGEV_THREAD_ID to the worker thread, SIGRTMIN+1,
 *      sigev_value 4242, every 3 ms
 *   C  CLOCK_REALTIME, SIGEV_THREAD (glibc's helper thread calls back), every 10 ms
 *   D  the process's CPU clock, SIGEV_SIGNAL SIGRTMIN+2, every 6 ms of CPU
 *   E  CLOCK_MONOTONIC, SIGEV_NONE, 1000 s, interval 7 s (only looked at)
 * The worker thread does the counted work; the work is counted in units, not
 * in ticks, so the printed result is deterministic.  Printed and checked:
 * the timer ids; that every notifying timer still fired during the last fifth
 * of the units (the test checkpoints before that point); that no expiry came
 * with a wrong sigev value, timer id or thread; E's interval and that it is
 * still armed with less than 1000 s left.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks_a, ticks_b, ticks_d, wrong;
static volatile int ticks_c;
static int marker;
static timer_t ta, tb, tc, td, te;
static pthread_t worker;
static long units;
static uint64_t hash;
static pid_t worker_tid;
static pthread_barrier_t started;

static void on_a(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    if (si->si_value.sival_ptr != &marker || si->si_timerid != (int)(intptr_t)ta) wrong = 1;
    ticks_a++;
}

static void on_b(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    if (si->si_value.sival_int != 4242 || !pthread_equal(pthread_self(), worker)) wrong = 1;
    ticks_b++;
}

static void on_d(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    if (si->si_value.sival_int != 77) wrong = 1;
    ticks_d++;
}

static void on_c(union sigval v)
{
    if (v.sival_int != 99) wrong = 1;
    __atomic_add_fetch(&ticks_c, 1, __ATOMIC_RELAXED);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static int arm(timer_t t, long ns)
{
    struct itimerspec s = { { ns / 1000000000, ns % 1000000000 }, { ns / 1000000000, ns % 1000000000 } };
    return timer_settime(t, 0, &s, NULL);
}

static void *work(void *unused)
{
    (void)unused;
    long tail = units - units / 5;
    int a0 = 0, b0 = 0, c0 = 0, d0 = 0;
    worker_tid = gettid();
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&started);
    for (long u = 0; u < units; u++) {
        if (u == tail) { a0 = ticks_a; b0 = ticks_b; c0 = ticks_c; d0 = ticks_d; }
        for (long i = 0; i < 2000000; i++)
            hash = mix(hash + (uint64_t)i);
    }
    printf("ptimers: in tail A=%s B=%s C=%s D=%s\n", ticks_a > a0 ? "yes" : "NO",
           ticks_b > b0 ? "yes" : "NO", ticks_c > c0 ? "yes" : "NO", ticks_d > d0 ? "yes" : "NO");
    return NULL;
}

int main(int argc, char **argv)
{
    units = argc > 1 ? atol(argv[1]) : 150;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sa.sa_sigaction = on_a;
    sigaction(SIGALRM, &sa, NULL);
    sa.sa_sigaction = on_b;
    sigaction(SIGRTMIN + 1, &sa, NULL);
    sa.sa_sigaction = on_d;
    sigaction(SIGRTMIN + 2, &sa, NULL);

    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGALRM;
    ev.sigev_value.sival_ptr = &marker;
    timer_t hole;
    if (timer_create(CLOCK_MONOTONIC, &ev, &ta) || timer_create(CLOCK_MONOTONIC, &ev, &hole) ||
        timer_delete(hole)) {
        perror("ptimers: timer_create A");
        return 1;
    }
    pthread_barrier_init(&started, NULL, 2);
    if (pthread_create(&worker, NULL, work, NULL)) return 1;
    pthread_barrier_wait(&started);   /* worker_tid is set */

    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGRTMIN + 1;
    ev.sigev_value.sival_int = 4242;
    /* the worker's tid, from the kernel's view of it */
    ev._sigev_un._tid = worker_tid;
    if (timer_create(CLOCK_MONOTONIC, &ev, &tb)) { perror("ptimers: timer_create B"); return 1; }

    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_c;
    ev.sigev_value.sival_int = 99;
    if (timer_create(CLOCK_REALTIME, &ev, &tc)) { perror("ptimers: timer_create C"); return 1; }

    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGRTMIN + 2;
    ev.sigev_value.sival_int = 77;
    if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &td)) { perror("ptimers: timer_create D"); return 1; }

    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    if (timer_create(CLOCK_MONOTONIC, &ev, &te)) { perror("ptimers: timer_create E"); return 1; }

    struct itimerspec se = { { 7, 0 }, { 1000, 0 } };
    if (arm(ta, 4000000) || arm(tb, 3000000) || arm(tc, 10000000) || arm(td, 6000000) ||
        timer_settime(te, 0, &se, NULL)) {
        perror("ptimers: timer_settime");
        return 1;
    }
    pthread_barrier_wait(&started);   /* the timers run: the worker starts its work */
    pthread_join(worker, NULL);

    struct itimerspec ge;
    timer_gettime(te, &ge);
    printf("ptimers: units=%ld hash=%016llx\n", units, (unsigned long long)hash);
    printf("ptimers: ids A=%d B=%d D=%d E=%d\n", (int)(intptr_t)ta, (int)(intptr_t)tb,
           (int)(intptr_t)td, (int)(intptr_t)te);
    printf("ptimers: E interval=%lds armed=%s\n", (long)ge.it_interval.tv_sec,
           (ge.it_value.tv_sec || ge.it_value.tv_nsec) && ge.it_value.tv_sec < 1000 ? "yes" : "NO");
    printf("ptimers: wrong expiries=%s\n", wrong ? "YES" : "none");
    return 0;
}
