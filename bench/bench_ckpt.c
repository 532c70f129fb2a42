/*
 * bench_ckpt.c - a simulation-shaped program for the checkpoint benchmarks.
 *
 *   bench_ckpt fork   SIZE_MB SHAPE THREADS       fork() time of this process shape (ms)
 *   bench_ckpt memcpy SIZE_MB SHAPE THREADS       one memcpy of the resident memory (ms)
 *   bench_ckpt dump   SIZE_MB SHAPE THREADS FILE  writes the non-zero pages to FILE
 *   bench_ckpt run    SIZE_MB SHAPE THREADS STEPS WRITE [READY_FILE]
 *
 * SHAPE: rand (random bytes), sim (smooth doubles with noise), mixed (75 % of
 * pages zero, 25 % sim doubles).  THREADS worker threads share the memory
 * (each owns a slice).  `run` fills the memory, touches READY_FILE, then runs
 * STEPS steps; each step writes into every page (WRITE=all: a stencil-like
 * sweep that rewrites every double) or into one word per 64 pages
 * (WRITE=sparse), or nowhere (WRITE=none), and prints "step N ms" per step, then "total ms".  Under
 * ckpt-restore it prints "restored" and exits at once when it finds itself
 * restored (ckpt_is_restored from libckpt, found by dlsym), so the restore
 * time can be measured from outside.  BENCH_THP=1: the memory is in
 * transparent huge pages (MADV_HUGEPAGE) from the start.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t size;
static char *mem;
static int nthreads;
static const char *shape;
static int write_all, write_none;
static volatile int step_go, step_done, quit, warm_done;
static pthread_barrier_t bar;

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

static void fill_slice(size_t from, size_t to, uint64_t seed)
{
    uint64_t s = seed * 2654435761u + 1;
    for (size_t p = from; p < to; p += 4096) {
        int zero = !strcmp(shape, "mixed") && (rng(&s) & 3) != 0;
        if (zero) { memset(mem + p, 0, 4096); continue; }   /* resident, all zero */
        if (!strcmp(shape, "rand")) {
            uint64_t *w = (uint64_t *)(mem + p);
            for (int i = 0; i < 512; i++) w[i] = rng(&s);
        } else {
            double *d = (double *)(mem + p);
            for (int i = 0; i < 512; i++) {
                double x = (double)(p / 8 + (size_t)i) * 1e-6;
                d[i] = sin(x) * 100.0 + cos(3 * x) * 10.0 + (double)(rng(&s) & 0xff) * 1e-6;
            }
        }
    }
}

static void sweep(size_t from, size_t to, int step)
{
    if (write_none) return;
    if (write_all) {
        for (size_t p = from; p < to; p += 4096) {
            double *d = (double *)(mem + p);
            for (int i = 0; i < 512; i++) d[i] = d[i] * 0.999 + 0.001 * (double)step;
        }
    } else {
        for (size_t p = from; p < to; p += 64 * 4096) ((double *)(mem + p))[0] += 1.0;
    }
}

struct worker { int id; };

static void *work(void *arg)
{
    struct worker *w = arg;
    size_t slice = size / (size_t)nthreads;
    size_t from = slice * (size_t)w->id, to = w->id == nthreads - 1 ? size : from + slice;
    fill_slice(from, to, (uint64_t)w->id + 1);
    pthread_barrier_wait(&bar);
    for (int s = 0;; s++) {
        pthread_barrier_wait(&bar);
        if (quit) break;
        sweep(from, to, s);
        pthread_barrier_wait(&bar);
    }
    return NULL;
}

/* one step of all workers */
static void step(void)
{
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
}

static int (*checkpoint)(int);

static void *warm_up(void *unused)
{
    (void)unused;
    checkpoint(1);
    warm_done = 1;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_ckpt fork|memcpy|dump|run SIZE_MB SHAPE THREADS ...\n");
        return 2;
    }
    const char *mode = argv[1];
    size = (size_t)atol(argv[2]) << 20;
    shape = argv[3];
    nthreads = atoi(argv[4]);
    if (nthreads < 1) nthreads = 1;
    int steps = !strcmp(mode, "run") && argc > 5 ? atoi(argv[5]) : 0;
    write_all = argc > 6 && !strcmp(argv[6], "all");
    write_none = argc > 6 && !strcmp(argv[6], "none");
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) { perror("mmap"); return 1; }
    if (getenv("BENCH_THP")) madvise(mem, size, MADV_HUGEPAGE);
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    struct worker *w = calloc((size_t)nthreads, sizeof *w);
    for (int i = 0; i < nthreads; i++) {
        w[i].id = i;
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    pthread_barrier_wait(&bar);   /* filled */

    if (!strcmp(mode, "fork")) {
        double best = 1e9, first = 0;
        for (int k = 0; k < 5; k++) {
            double t0 = now_ms();
            pid_t p = fork();
            if (p == 0) _exit(0);
            double t1 = now_ms();
            waitpid(p, NULL, 0);
            if (k == 0) first = t1 - t0;
            if (t1 - t0 < best) best = t1 - t0;
        }
        if (getenv("BENCH_FORK_ALL")) printf("first %.3f best %.3f\n", first, best);
        else printf("%.3f\n", first);
        return 0;
    }
    if (!strcmp(mode, "memcpy")) {
        char *dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memset(dst, 1, size);
        double best = 1e9;
        for (int k = 0; k < 3; k++) {
            double t0 = now_ms();
            memcpy(dst, mem, size);
            double t1 = now_ms();
            if (t1 - t0 < best) best = t1 - t0;
        }
        printf("%.3f\n", best);
        return 0;
    }
    if (!strcmp(mode, "dump")) {
        FILE *f = fopen(argv[5], "w");
        static const char zero[4096];
        for (size_t p = 0; p < size; p += 4096)
            if (memcmp(mem + p, zero, 4096)) fwrite(mem + p, 1, 4096, f);
        fclose(f);
        return 0;
    }
    int (*restored)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "ckpt_is_restored");
    /* BENCH_WARMUP=1: one checkpoint before the measured steps, so that the
     * measured one finds what a first checkpoint sets up (the staging area of
     * copy and write-protect capture) as a program checkpointed periodically
     * does.  BENCH_WARMUP=2: that checkpoint is taken while the program runs
     * its steps (not measured), as a periodic one would be: what auto capture
     * learns from it is what it would learn from a periodic checkpoint. */
    checkpoint = (int (*)(int))dlsym(RTLD_DEFAULT, "ckpt_checkpoint");
    int warm = getenv("BENCH_WARMUP") ? atoi(getenv("BENCH_WARMUP")) : 0;
    if (checkpoint && warm == 1) checkpoint(1);
    if (checkpoint && warm == 2) {
        pthread_t wt;
        pthread_create(&wt, NULL, warm_up, NULL);
        while (!warm_done) step();
        pthread_join(wt, NULL);
        step();
        step();
    }
    if (argc > 7) {
        int fd = open(argv[7], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
    }
    const char *sl = getenv("BENCH_STEP_SLEEP_MS");
    int sleep_ms = sl ? atoi(sl) : 0;
    double t0 = now_ms();
    for (int s = 0; s < steps; s++) {
        if (sleep_ms) usleep((useconds_t)sleep_ms * 1000);
        double a = now_ms();
        step();
        double b = now_ms();
        if (restored && restored()) { printf("restored\n"); fflush(stdout); _exit(0); }
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);   /* when it ended, for the bench script */
        printf("step %d %.3f %.0f\n", s, b - a, rt.tv_sec * 1e3 + rt.tv_nsec / 1e6);
        fflush(stdout);
    }
    printf("total %.3f\n", now_ms() - t0);
    quit = 1;
    pthread_barrier_wait(&bar);
    return 0;
}
