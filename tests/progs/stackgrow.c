/*
 * stackgrow.c - the main thread's stack keeps growing after the checkpoint.
 *
 * Usage: stackgrow [ROUNDS]   (default 40 rounds, about 1 s)
 *
 * Round r recurses (r + 1) * 4800 / ROUNDS frames deep, each frame holding 1 KiB of
 * locals, does some work at the bottom and checks every frame's locals on the
 * way back.  The deepest round uses about 5 MiB of stack (below the usual
 * 8 MiB limit).  Whenever the checkpoint is taken, later rounds go deeper than
 * the stack has ever been, so the restored process must still be able to grow
 * its stack downwards, as the kernel does for the original [stack] mapping.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int bad;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static uint64_t dive(int depth, uint64_t seed)
{
    volatile uint64_t local[128];               /* 1 KiB per frame */
    for (int i = 0; i < 128; i += 16) local[i] = mix(seed + (uint64_t)i);
    uint64_t r;
    if (depth > 0) {
        r = dive(depth - 1, local[16]);
    } else {
        r = seed;
        for (long i = 0; i < 4500000; i++) r = mix(r + (uint64_t)i);
    }
    for (int i = 0; i < 128; i += 16)
        if (local[i] != mix(seed + (uint64_t)i)) bad = 1;
    return mix(r ^ local[(depth & 7) * 16]);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 40;
    uint64_t h = 0;
    for (long r = 0; r < rounds; r++)
        h = mix(h ^ dive((int)((r + 1) * 4800 / rounds), (uint64_t)r));
    printf("stackgrow: rounds=%ld max_depth=4800 hash=%016llx frames=%s\n", rounds,
           (unsigned long long)h, bad ? "CORRUPT" : "ok");
    return 0;
}
