/*
 * single.c - single-threaded state of every kind, checked after restore.
 *
 * Usage: single [STEPS]   (default 150; one step is roughly 10 ms)
 *
 * What must survive a checkpoint here:
 *  - static data (.data initialised table, .bss array);
 *  - the heap: a hash table of ~20k small malloc'ed nodes, with frees and
 *    reallocations every step (malloc's own state must come back too);
 *  - a large malloc (64 MiB, served by mmap) rewritten in strides;
 *  - the stack: the whole computation runs at the bottom of a recursion 1500
 *    frames deep; every frame fills a local array and checks it on the way
 *    back, so a damaged stack is detected ("stack corrupt" on stdout);
 *  - floating point in registers: double and long double (x87) accumulators,
 *    an AVX loop holding __m256d accumulators in ymm registers, and a phase
 *    that runs with the rounding mode set to FE_UPWARD (MXCSR and x87 control
 *    word) — a lost register or mode changes the printed result.
 * The result is printed only at the end.
 */
#include <fenv.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH    1500
#define NBUCKET  4096
#define NNODES   20000
#define BIG      (64u << 20)

struct node { struct node *next; uint64_t key, val; char pad[24]; };

static uint64_t table_init[64] = {            /* .data */
    1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597,
    2584, 4181, 6765, 10946, 17711, 28657, 46368, 75025, 121393, 196418,
};
static uint64_t sbss[1u << 16];                /* .bss, 512 KiB */
static struct node *bucket[NBUCKET];
static uint64_t *big;
static long steps;
static int stack_bad;
static double dres; static long double ldres; static double avxres;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static void heap_put(uint64_t key, uint64_t val)
{
    struct node **pp = &bucket[key % NBUCKET];
    for (struct node *n = *pp; n; n = n->next)
        if (n->key == key) { n->val ^= val; return; }
    struct node *n = malloc(sizeof *n);
    if (!n) { puts("single: out of memory"); exit(1); }
    n->key = key; n->val = val; memset(n->pad, (int)(key & 0xff), sizeof n->pad);
    n->next = *pp; *pp = n;
}

static void heap_del(uint64_t key)
{
    for (struct node **pp = &bucket[key % NBUCKET]; *pp; pp = &(*pp)->next)
        if ((*pp)->key == key) { struct node *n = *pp; *pp = n->next; free(n); return; }
}

__attribute__((target("avx2,fma")))
static double avx_phase(long n, double seed)
{
    /* Four ymm accumulators that live in registers for the whole loop. */
    __m256d a = _mm256_set_pd(seed, seed + 1, seed + 2, seed + 3);
    __m256d b = _mm256_set1_pd(0.999999);
    __m256d c = _mm256_set1_pd(1e-7);
    __m256d d = _mm256_set_pd(0.5, 0.25, 0.125, 0.0625);
    for (long i = 0; i < n; i++) {
        a = _mm256_fmadd_pd(a, b, c);
        d = _mm256_add_pd(_mm256_mul_pd(d, b), a);
        b = _mm256_sub_pd(b, _mm256_set1_pd(1e-15));
    }
    double o[4];
    _mm256_storeu_pd(o, _mm256_add_pd(a, d));
    return o[0] + o[1] * 2 + o[2] * 3 + o[3] * 4;
}

static double sse_phase(long n, double seed)
{
    double x = seed, y = 1.0, z = 0.0;
    for (long i = 0; i < n; i++) {
        x = x * 0.9999993 + 1e-6;
        y = y * 1.0000001 - x * 1e-9;
        z += x / (y + 2.0);
    }
    return x + y + z;
}

static long double x87_phase(long n, long double seed)
{
    long double x = seed;
    for (long i = 0; i < n; i++)
        x = x * 1.00000001L + 1.0L / (x + 3.0L);
    return x;
}

static void work(void)
{
    int avx = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    uint64_t r = 42;
    for (long s = 0; s < steps; s++) {
        /* heap churn */
        for (int i = 0; i < 400; i++) {
            r = mix(r + (uint64_t)i);
            if (r & 1) heap_put(r % (NNODES * 2), r); else heap_del(r % (NNODES * 2));
        }
        /* static and large memory */
        for (unsigned i = (unsigned)(s & 7); i < (1u << 16); i += 8)
            sbss[i] = mix(sbss[i] ^ table_init[i & 63] ^ (uint64_t)s);
        for (size_t i = (size_t)(s % 512) * 8; i < BIG / 8; i += 4096)
            big[i] = mix(big[i] + r);
        /* floating point, one phase running with a non-default rounding mode */
        if (s % 3 == 1) fesetround(FE_UPWARD);
        dres += sse_phase(1200000, (double)s);
        ldres += x87_phase(400000, (long double)s);
        if (avx) avxres += avx_phase(2000000, (double)s);
        else avxres += sse_phase(2000000, (double)s);
        fesetround(FE_TONEAREST);
    }
}

static uint64_t recurse(int depth, uint64_t seed)
{
    volatile uint64_t local[16];           /* checked after the return below */
    for (int i = 0; i < 16; i++) local[i] = mix(seed + (uint64_t)i);
    uint64_t r = depth < DEPTH ? recurse(depth + 1, local[3]) : (work(), 1);
    for (int i = 0; i < 16; i++)
        if (local[i] != mix(seed + (uint64_t)i)) stack_bad = 1;
    return mix(r ^ local[depth & 15]);
}

int main(int argc, char **argv)
{
    steps = argc > 1 ? atol(argv[1]) : 150;
    big = malloc(BIG);
    if (!big) { puts("single: out of memory"); return 1; }
    for (size_t i = 0; i < BIG / 8; i += 512) big[i] = i;
    uint64_t rec = recurse(0, 7);

    uint64_t h = rec, nodes = 0;
    for (unsigned b = 0; b < NBUCKET; b++)
        for (struct node *n = bucket[b]; n; n = n->next) {
            h += mix(n->key * 31 + n->val + (uint64_t)n->pad[5]);   /* order-independent */
            nodes++;
        }
    for (unsigned i = 0; i < (1u << 16); i++) h = mix(h ^ sbss[i]);
    for (size_t i = 0; i < BIG / 8; i += 512) h = mix(h ^ big[i]);
    printf("single: steps=%ld nodes=%llu mem=%016llx stack=%s\n", steps,
           (unsigned long long)nodes, (unsigned long long)h, stack_bad ? "corrupt" : "ok");
    printf("single: sse=%.17g x87=%.21Lg avx=%.17g\n", dres, ldres, avxres);
    return 0;
}
