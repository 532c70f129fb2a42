/*
 * waiter.c - threads blocked in poll, epoll_wait, select, ppoll, pause and
 * sem_timedwait, written like code that does not expect EINTR (it treats it
 * as fatal).
 *
 * Usage: waiter [ROUNDS]   (default 150; a round is about 10 ms)
 *
 *   P  poll() on an eventfd, no timeout        - the main thread adds 1 a round
 *   E  epoll_wait() on another eventfd, no timeout - likewise
 *      (eventfds, not pipes: a restore gives an eventfd its counter back,
 *      while data in flight in a pipe is lost)
 *   S  select() with no fds as a 7 ms sleep, ROUNDS times; must return 0
 *   Q  ppoll() with no fds as a 5 ms sleep, ROUNDS times; must return 0
 *   Z  pause() ROUNDS times, with SIGALRM every 8 ms; every return must
 *      follow a run of the handler
 *   M  sem_timedwait() (a futex wait with a timeout), 10 s each time, on a
 *      semaphore the main thread posts every round
 * A checkpoint (or a restore) while any of them waits must not make the call
 * fail with EINTR or return early.  Prints the counts, which are fixed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int rounds;
static int pfd, efd;
static volatile sig_atomic_t alarms;

static void fail(const char *who, const char *what)
{
    printf("waiter: %s: %s\n", who, what);
    fflush(stdout);
    _exit(1);
}

static void *thread_p(void *unused)
{
    (void)unused;
    uint64_t total = 0, v;
    while (total < (uint64_t)rounds) {
        struct pollfd p = { pfd, POLLIN, 0 };
        int r = poll(&p, 1, -1);
        if (r < 0) fail("poll", strerror(errno));
        if (r != 1 || read(pfd, &v, 8) != 8) fail("poll", "no count");
        total += v;
    }
    return NULL;
}

static void *thread_e(void *unused)
{
    (void)unused;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev)) fail("epoll", strerror(errno));
    uint64_t total = 0, v;
    while (total < (uint64_t)rounds) {
        struct epoll_event out;
        int r = epoll_wait(ep, &out, 1, -1);
        if (r < 0) fail("epoll_wait", strerror(errno));
        if (r != 1 || out.data.u32 != 7 || read(efd, &v, 8) != 8) fail("epoll_wait", "no count");
        total += v;
    }
    return NULL;
}

static void *thread_s(void *unused)
{
    (void)unused;
    for (int i = 0; i < rounds; i++) {
        struct timeval tv = { 0, 7000 };
        int r = select(0, NULL, NULL, NULL, &tv);
        if (r < 0) fail("select", strerror(errno));
        if (r != 0) fail("select", "returned a ready fd");
    }
    return NULL;
}

static void *thread_q(void *unused)
{
    (void)unused;
    for (int i = 0; i < rounds; i++) {
        struct timespec ts = { 0, 5000000 };
        int r = ppoll(NULL, 0, &ts, NULL);
        if (r < 0) fail("ppoll", strerror(errno));
    }
    return NULL;
}

static sem_t sem;

static void *thread_m(void *unused)
{
    (void)unused;
    for (int i = 0; i < rounds; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        if (sem_timedwait(&sem, &ts)) fail("sem_timedwait", strerror(errno));
    }
    return NULL;
}

static void on_alarm(int sig) { (void)sig; alarms++; }

static void *thread_z(void *unused)
{
    (void)unused;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    /* a periodic SIGALRM: a wake-up lost to the race every pause() loop has
     * (the signal coming just before the call) is made up by the next one */
    struct itimerval it = { { 0, 8000 }, { 0, 8000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    for (int i = 0; i < rounds; i++) {
        int before = alarms;
        pause();   /* returns once a handler ran: SIGALRM's, not libckpt's */
        if (alarms == before) fail("pause", "returned without SIGALRM");
    }
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    rounds = argc > 1 ? atoi(argv[1]) : 150;
    pfd = eventfd(0, 0);
    efd = eventfd(0, 0);
    if (pfd < 0 || efd < 0) return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &s, NULL);   /* only Z takes SIGALRM */
    sem_init(&sem, 0, 0);
    pthread_t t[6];
    void *(*fn[6])(void *) = { thread_p, thread_e, thread_s, thread_q, thread_z, thread_m };
    for (int i = 0; i < 6; i++)
        if (pthread_create(&t[i], NULL, fn[i], NULL)) return 1;
    for (int i = 0; i < rounds; i++) {
        struct timespec ts = { 0, 10000000 };
        while (nanosleep(&ts, &ts) && errno == EINTR) {}
        uint64_t one = 1;
        if (write(pfd, &one, 8) != 8 || write(efd, &one, 8) != 8 || sem_post(&sem)) return 1;
    }
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
    printf("waiter: rounds=%d poll, epoll_wait, select, ppoll, pause and sem_timedwait all done\n", rounds);
    return 0;
}
