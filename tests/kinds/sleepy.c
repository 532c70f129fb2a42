/*
 * sleepy.c - sleeps must not end early because of a checkpoint.
 *
 *   sleepy ROUNDS
 *
 * Each round: sleep(1) must return 0 and nanosleep() of 300 ms with a
 * remainder pointer must return 0, and each must have lasted at least its
 * duration (CLOCK_MONOTONIC).  Prints "sleepy: ROUNDS rounds, early=N" with
 * N the number of early returns (0 expected under any number of checkpoints).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 3, early = 0;
    for (int r = 0; r < rounds; r++) {
        double a = now();
        if (sleep(1) != 0 || now() - a < 0.999) early++;
        struct timespec req = { 0, 300000000 }, rem;
        a = now();
        if (nanosleep(&req, &rem) != 0 || now() - a < 0.299) early++;
    }
    printf("sleepy: %d rounds, early=%d\n", rounds, early);
    return 0;
}
