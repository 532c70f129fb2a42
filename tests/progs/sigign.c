/*
 * sigign.c - a signal ignored by the parent (nohup, shells, Python) must stay
 * ignored after restore.
 *
 * Usage: sigign [STEPS]   (default 150 steps of ~10 ms)
 *
 * The tests start it with SIGHUP set to SIG_IGN (inherited across exec, as
 * nohup does) and restore it from a shell that does not ignore SIGHUP.  At
 * the end the program reports the disposition it sees and then raises SIGHUP:
 * if the disposition was lost, that kills it and no result is printed.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static int hup_ignored(void)
{
    struct sigaction sa;
    return sigaction(SIGHUP, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 150;
    int at_start = hup_ignored();
    uint64_t h = 0;

    for (long s = 0; s < steps; s++)
        for (long i = 0; i < 2000000; i++)
            h = mix(h + (uint64_t)i);
    int at_end = hup_ignored();
    raise(SIGHUP);                 /* harmless only if still ignored */
    printf("sigign: steps=%ld SIGHUP ignored at start=%s at end=%s hash=%016llx\n", steps,
           at_start ? "yes" : "no", at_end ? "yes" : "no", (unsigned long long)h);
    return 0;
}
