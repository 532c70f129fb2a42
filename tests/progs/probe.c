/*
 * probe.c - the smallest useful checkpoint/restore workload.
 *
 * Usage: probe [STEPS]   (default 100; one step is roughly 10 ms of work)
 *
 * Each step stirs a 256 KiB static buffer with a seeded generator; the result
 * (a checksum of the buffer and the step count) is printed on stdout only at
 * the end, so an uninterrupted run and a checkpointed/killed/restored run can
 * be compared byte for byte.  The end-to-end suite runs it once before
 * anything else to find out whether checkpoint and restore work at all.
 *
 * SIGTERM is handled: the program prints the step it reached and exits 3, so a
 * test can tell that a signal sent to ckpt-restore reached the program.
 * PROBE_HEARTBEAT=1 prints "probe: step N" on stderr after every step, which
 * lets a test see that a restored process is running.
 *
 * Built a second time with -DPROBE_ALT (probe_alt): same interface, different
 * code and result, used to replace the executable under a checkpoint.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PROBE_ALT
#define SALT 0x5bd1e995u
#else
#define SALT 0x9e3779b9u
#endif

#define WORDS (1u << 15)                 /* 256 KiB of uint64_t */
static uint64_t buf[WORDS];
static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;                        /* acted on between steps */
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static uint64_t checksum(void)
{
    uint64_t h = 0;
    for (unsigned i = 0; i < WORDS; i++)
        h = mix(h ^ buf[i]);
    return h;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 100;
    int heartbeat = getenv("PROBE_HEARTBEAT") != NULL;
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);

    for (unsigned i = 0; i < WORDS; i++)
        buf[i] = mix(i + SALT);
    for (long s = 0; s < steps; s++) {
        if (got_term) {
            printf("probe: terminated at step %ld of %ld\n", s, steps);
            fflush(stdout);
            exit(3);
        }
        for (int pass = 0; pass < 600; pass++) {
            uint64_t carry = (uint64_t)s * SALT + (uint64_t)pass;
            for (unsigned i = 0; i < WORDS; i += 8) {
                carry = mix(carry ^ buf[i]);
                buf[i] = carry;
            }
        }
        if (heartbeat) {
            char line[64];
            int n = snprintf(line, sizeof line, "probe: step %ld\n", s);
            if (write(2, line, (size_t)n) < 0) { /* best effort */ }
        }
    }
    printf("probe: steps=%ld checksum=%016llx\n", steps, (unsigned long long)checksum());
    return 0;
}
