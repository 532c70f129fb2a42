/*
 * busycpu.c - keeping libckpt's background work (the writer, the
 * write-protect copier) off the CPUs the program keeps busy.
 *
 * Where the program keeps fewer threads busy than there are CPUs, that work
 * runs on the other CPUs only.  Left free to move, the scheduler puts it onto
 * the program's CPU whenever a program thread blocks for an instant (a barrier
 * between steps), and the program then waits behind it: measured here, a
 * one-thread stencil waited 370-510 ms on its run queue during a 1 GiB
 * checkpoint, whatever the writer's nice value, and 100-200 ms behind the
 * write-protect copier.  A thread is busy if it ran at least half of the time
 * between two samples of /proc at least 10 ms apart.  For write-protect
 * capture they are taken just before the program is stopped, for the copier
 * and the writer alike: after the stop a thread may wait at a fault for the
 * copier and would look idle.  Otherwise the writer takes them as it starts
 * (20 ms; the checkpoint is not delayed).  With every CPU busy (or none)
 * nothing is pinned: the work takes its share at its nice value.
 *
 * Only raw system calls and libckpt's own helpers: the copier, a clone that
 * shares the program's memory, calls it too.
 */
#include "preload/internal.h"
#include "preload/log.h"

#include <string.h>

struct tsamples { struct ck_tsample *t; int n, max; };

static int sample_thread(void *arg, int tid, int dirfd)
{
    struct tsamples *ts = arg;
    char path[64], buf[1024];
    (void)dirfd;
    if (ts->n >= ts->max) return 0;
    ck_snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", ck.pid, tid);
    if (ck_read_file(path, buf, sizeof buf) <= 0) return 0;
    const char *q = buf;
    uint64_t run = ck_parse_dec(&q);
    ck_snprintf(path, sizeof path, "/proc/%d/task/%d/stat", ck.pid, tid);
    if (ck_read_file(path, buf, sizeof buf) <= 0) return 0;
    const char *e = NULL;
    for (const char *c = buf; *c; c++) if (*c == ')') e = c;
    if (!e) return 0;
    /* field 39 (processor): the 37th after the command name */
    int field = 2;
    for (q = e + 1; *q && field < 39; q++) if (*q == ' ') field++;
    if (field != 39) return 0;
    ts->t[ts->n++] = (struct ck_tsample){ tid, (int)ck_parse_dec(&q), run };
    return 0;
}

/* The program's threads: the CPU each last ran on and its run time (ns);
 * how many were read (at most max). */
static int sample_threads(struct ck_tsample *t, int max)
{
    char dir[32];
    struct tsamples ts = { t, 0, max };
    ck_snprintf(dir, sizeof dir, "/proc/%d/task", ck.pid);
    ck_for_each_number(dir, sample_thread, &ts);
    return ts.n;
}

struct ck_busycpus ck_busycpus;

void ck_busy_begin(struct ck_busy *b)
{
    b->t0 = ck_now_ns(CLOCK_MONOTONIC);
    b->n = ck.ncpu > 1 ? sample_threads(b->s, CK_MAX_SAMPLED) : 0;
}

void ck_busy_end(struct ck_busy *b, int min_ms)
{
    struct ck_busycpus *r = &ck_busycpus;
    r->busy = r->avail = r->seen = 0;
    r->sampled = 1;
    memset(r->busym, 0, sizeof r->busym);
    if (!b->n) return;
    uint64_t dt = ck_now_ns(CLOCK_MONOTONIC) - b->t0, min = (uint64_t)min_ms * 1000000ull;
    if (dt < min) {
        struct timespec ts = { 0, (long)(min - dt) };
        ck_sys2(SYS_nanosleep, &ts, 0);
    }
    static struct ck_tsample now[CK_MAX_SAMPLED];
    int n = sample_threads(now, CK_MAX_SAMPLED);
    dt = ck_now_ns(CLOCK_MONOTONIC) - b->t0;
    uint64_t mask[16], *busym = r->busym;
    memset(mask, 0, sizeof mask);
    if (ck_sys3(SYS_sched_getaffinity, 0, sizeof mask, mask) <= 0) return;
    int busy = 0, avail = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < b->n; k++)
            if (b->s[k].tid == now[i].tid && now[i].run_ns - b->s[k].run_ns >= dt / 2 &&
                now[i].cpu >= 0 && now[i].cpu < 1024) {
                busy++;
                busym[now[i].cpu / 64] |= 1ull << (now[i].cpu % 64);
            }
    for (int w = 0; w < 16; w++) {
        r->cpus[w] = mask[w] & ~busym[w];
        avail += __builtin_popcountll(r->cpus[w]);
    }
    r->seen = busy;
    if (!busy || !avail || busy >= ck.ncpu) return;
    r->busy = busy;
    r->avail = avail;
}

int ck_busy_keep_off(void)
{
    return ck_busycpus.busy > 0 &&
           ck_sys3(SYS_sched_setaffinity, 0, sizeof ck_busycpus.cpus, ck_busycpus.cpus) == 0;
}
