/*
 * evloop.c - an event loop over kernel objects that only exist as file
 * descriptors: an epoll instance watching a timerfd (periodic, 5 ms), an
 * eventfd (kicked by a worker thread) and a signalfd (SIGUSR2 sent to itself).
 *
 *   evloop TICKS
 *
 * Counts TICKS timer expirations; every 10 ticks a worker thread writes the
 * eventfd and every 25 the program sends itself SIGUSR2 (blocked, read from
 * the signalfd).  After a restore all three must still be registered in the
 * epoll set and firing, or the loop never finishes.  Prints the counts.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

static int efd;
static volatile int kicks_wanted;

static void *kicker(void *arg)
{
    (void)arg;
    int done = 0;
    for (;;) {
        while (kicks_wanted <= done) usleep(1000);
        uint64_t one = 1;
        if (write(efd, &one, 8) != 8) return NULL;
        done++;
    }
}

int main(int argc, char **argv)
{
    long ticks = argc > 1 ? atol(argv[1]) : 300;
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &m, NULL);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = { { 0, 5000000 }, { 0, 5000000 } };
    timerfd_settime(tfd, 0, &its, NULL);
    efd = eventfd(0, EFD_NONBLOCK);
    int sfd = signalfd(-1, &m, SFD_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN };
    ev.data.u64 = 1; epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    ev.data.u64 = 2; epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    ev.data.u64 = 3; epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    pthread_t t;
    pthread_create(&t, NULL, kicker, NULL);
    long n = 0, kicks = 0, sigs = 0, sent = 0;
    while (n < ticks || kicks < ticks / 10 || sigs < ticks / 25) {
        struct epoll_event out[4];
        int k = epoll_wait(ep, out, 4, 2000);
        if (k == 0) { fprintf(stderr, "evloop: nothing fired for 2 s\n"); return 1; }
        for (int i = 0; i < k; i++) {
            uint64_t v;
            if (out[i].data.u64 == 1 && read(tfd, &v, 8) == 8) {
                for (uint64_t j = 0; j < v && n < ticks; j++) {
                    n++;
                    if (n % 10 == 0) kicks_wanted++;
                    if (n % 25 == 0) { kill(getpid(), SIGUSR2); sent++; }
                }
            } else if (out[i].data.u64 == 2 && read(efd, &v, 8) == 8) {
                kicks += (long)v;
            } else if (out[i].data.u64 == 3) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == sizeof si) sigs++;
            }
        }
    }
    printf("evloop: ticks=%ld kicks=%ld signals=%ld\n", n, kicks, sigs);
    return 0;
}
