/*
 * ownusr1.c - a program with its own SIGUSR1 handler.
 *
 * Usage: ownusr1 [STEPS [RAISES]]   (defaults 150 steps of ~10 ms, 20 raises)
 *
 * The program installs a SIGUSR1 handler and signals itself RAISES times,
 * spread over the run, alternately with raise(SIGUSR1) and
 * kill(getpid(), SIGUSR1).  Under libckpt those must reach this handler,
 * while a SIGUSR1 sent by another process is the checkpoint trigger and must
 * not.  The output says how many signals the handler saw: it must equal
 * RAISES whatever number of external triggers the test sent.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static volatile sig_atomic_t foreign;     /* sent by someone else */

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    handled++;
    if (si->si_code == SI_USER && si->si_pid != getpid())
        foreign++;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 150;
    long raises = argc > 2 ? atol(argv[2]) : 20;
    long every = raises > 0 ? steps / raises : steps + 1, done = 0;
    struct sigaction sa;
    uint64_t h = 0;

    if (every < 1) every = 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);

    for (long s = 0; s < steps; s++) {
        for (long i = 0; i < 2000000; i++)
            h = mix(h + (uint64_t)i);
        if (done < raises && s % every == every - 1) {
            if (done & 1) kill(getpid(), SIGUSR1); else raise(SIGUSR1);
            done++;
        }
    }
    printf("ownusr1: steps=%ld raised=%ld handled=%d foreign=%d hash=%016llx\n", steps, done,
           (int)handled, (int)foreign, (unsigned long long)h);
    return 0;
}
