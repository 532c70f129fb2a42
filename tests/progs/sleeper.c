/*
 * sleeper.c - a program that spends its time blocked in system calls.
 *
 * Usage: sleeper [NAPS]   (default 50 naps of 20 ms)
 *
 * Most checkpoints of real services find the main thread asleep in the kernel
 * rather than computing.  This program naps with nanosleep(), resuming with
 * the remaining time when a nap is interrupted (EINTR), as careful programs
 * do; a second thread blocks in read() on a pipe that the main thread feeds
 * once per nap.  After a restore the interrupted nanosleep returns early with
 * EINTR (the documented behaviour) and the loop carries on; the result counts
 * naps and bytes, so it is deterministic.  How many naps were interrupted
 * goes to stderr, for information only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];
static uint64_t got_bytes, got_sum;

static void *reader(void *arg)
{
    unsigned char buf[64];
    ssize_t n;
    (void)arg;
    while ((n = read(pfd[0], buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (ssize_t i = 0; i < n; i++) got_sum = got_sum * 31 + buf[i];
        got_bytes += (uint64_t)n;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long naps = argc > 1 ? atol(argv[1]) : 50;
    long eintr = 0;
    pthread_t th;

    if (pipe(pfd) < 0 || pthread_create(&th, NULL, reader, NULL) != 0) {
        puts("sleeper: setup failed");
        return 1;
    }
    for (long i = 0; i < naps; i++) {
        struct timespec req = { 0, 20 * 1000 * 1000 }, rem;
        while (nanosleep(&req, &rem) < 0 && errno == EINTR) {
            eintr++;
            req = rem;
        }
        unsigned char b = (unsigned char)(i * 7 + 1);
        if (write(pfd[1], &b, 1) != 1) { printf("sleeper: write to pipe failed: %s\n", strerror(errno)); return 1; }
    }
    close(pfd[1]);
    pthread_join(th, NULL);
    fprintf(stderr, "sleeper: %ld nanosleep calls interrupted\n", eintr);
    printf("sleeper: naps=%ld bytes=%llu sum=%016llx\n", naps, (unsigned long long)got_bytes,
           (unsigned long long)got_sum);
    return 0;
}
