/*
 * ptimers.c - POSIX timers (timer_create) across a checkpoint and a restore.
 *
 * The kernel keeps a process's POSIX timers out of its memory, so a restored
 * process would have none.  In the pause, with every program thread parked,
 * the manager lists them from /proc/self/timers (id, signal and its sigev
 * value, how the expiry is notified and to which thread, clock) and reads
 * each one's remaining time and interval with timer_gettime().  The list lives
 * in libckpt's own memory, so it is part of the image; a restored process
 * re-creates every timer under its old id (prctl PR_TIMER_CREATE_RESTORE_IDS,
 * Linux 6.16; before that by creating timers until the id comes round) and
 * re-arms it with the time it had left.  glibc's SIGEV_THREAD timers are
 * kernel timers aimed at glibc's helper thread, which is restored like any
 * other thread, so they come back too.
 *
 * Timer ids, sigev values and signals are restored exactly; a timer aimed at a
 * thread (SIGEV_THREAD_ID) or on another thread's CPU clock follows that
 * thread to its new tid when the restore could not keep the ids.  An absolute
 * (TIMER_ABSTIME) timer is re-armed as relative, with the time it had left.
 * A timer on CLOCK_THREAD_CPUTIME_ID (the CPU clock of the thread that created
 * it, which the kernel does not name) is not restored, with a warning.
 *
 * Runs in the manager thread while the world is stopped: raw syscalls, no
 * locks, no allocation.
 */
#include "preload/internal.h"
#include "preload/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#endif

/* struct sigevent as the kernel reads it */
struct k_sigevent {
    uint64_t value;
    int signo;
    int notify;
    int tid;
    int pad[11];
};
_Static_assert(sizeof(struct k_sigevent) == 64, "k_sigevent layout");

#define K_SIGEV_SIGNAL 0
#define K_SIGEV_NONE 1
#define K_SIGEV_THREAD_ID 4
/* dynamic CPU clocks (clock_getcpuclockid, pthread_getcpuclockid) */
#define CPUCLOCK_PERTHREAD 4
#define CPUCLOCK_PID(c) ((int)(~(c) >> 3))   /* = ~(c >> 3), without shifting a negative value */

static char tbuf[CK_MAX_PTIMERS * 128];

static const char *skip_to(const char *p, const char *word)
{
    size_t n = strlen(word);
    while (*p) {
        if (!strncmp(p, word, n)) return p + n;
        while (*p && *p != '\n') p++;
        if (*p) p++;
    }
    return NULL;
}

/* a signed decimal after optional spaces (/proc/self/timers) */
static long parse_int(const char **p)
{
    while (**p == ' ') (*p)++;
    int neg = **p == '-';
    if (neg) (*p)++;
    long v = (long)ck_parse_dec(p);
    return neg ? -v : v;
}

static int slot_of(int tid)
{
    for (int i = 0; i < CK_MAX_THREADS; i++)
        if (ck_slots[i].tid == tid) return i;
    return -1;
}

/* In the pause: fills ck.ptimers from /proc/self/timers. */
void ck_ptimers_capture(void)
{
    ck.nptimers = 0;
    long n = ck_read_file("/proc/self/timers", tbuf, sizeof tbuf);
    if (n <= 0) return;   /* none, or a kernel without CONFIG_CHECKPOINT_RESTORE */
    const char *p = tbuf;
    int lost = 0;
    while ((p = skip_to(p, "ID:"))) {
        struct ck_ptimer t;
        memset(&t, 0, sizeof t);
        t.id = (int)parse_int(&p);
        const char *q = skip_to(p, "signal:");
        if (!q) break;
        t.signo = (int)parse_int(&q);
        if (*q == '/') q++;
        t.value = ck_parse_hex(&q);
        if (!(q = skip_to(q, "notify:"))) break;
        while (*q == ' ') q++;
        if (!strncmp(q, "none", 4)) t.notify = K_SIGEV_NONE;
        else t.notify = K_SIGEV_SIGNAL;   /* "signal", or "thread" (SIGEV_THREAD) */
        while (*q && *q != '/' && *q != '\n') q++;
        if (*q == '/') q++;
        t.slot = -1;
        if (!strncmp(q, "tid.", 4)) {
            q += 4;
            t.notify |= K_SIGEV_THREAD_ID;
            t.slot = slot_of((int)parse_int(&q));
        }
        if (!(q = skip_to(q, "ClockID:"))) break;
        t.clock = (int)parse_int(&q);
        t.clock_slot = -1;
        if (t.clock < 0 && (t.clock & CPUCLOCK_PERTHREAD) && CPUCLOCK_PID(t.clock))
            t.clock_slot = slot_of(CPUCLOCK_PID(t.clock));
        p = q;
        if (ck_sys2(SYS_timer_gettime, t.id, &t.spec) < 0) continue;
        if (ck.nptimers < CK_MAX_PTIMERS) ck.ptimers[ck.nptimers++] = t;
        else lost++;
    }
    if (lost) ck_warn("%d POSIX timers beyond the first %d are not saved", lost, CK_MAX_PTIMERS);
}

/* Creates timer id `want` on `clock` with `ev`: with the kernel's restore
 * mode where it has one; before that, ids are handed out by a counter that
 * goes up, so timers are created (and deleted) until the id comes round. */
static long create_with_id(int want, int clock, struct k_sigevent *ev, int restore_ids)
{
    int id = want;
    if (restore_ids) return ck_sys3(SYS_timer_create, clock, ev, &id);
    for (int tries = 0; tries < 65536; tries++) {
        long r = ck_sys3(SYS_timer_create, clock, ev, &id);
        if (r < 0 || id == want) return r;
        ck_sys1(SYS_timer_delete, id);
        if (id > want) return -EEXIST;
    }
    return -ERANGE;
}

/* In a restored process (manager thread, before the world is released): the
 * timers of ck.ptimers, under their old ids, armed with the time they had
 * left.  Thread slots already hold the threads' new tids. */
static void helper_after_restore(void);

void ck_ptimers_restore(void)
{
    helper_after_restore();
    if (!ck.nptimers) return;
    int restore_ids = ck_sys5(SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON,
                              0, 0, 0) == 0;
    int done = 0;
    /* without the kernel's restore mode the ids must be created in order */
    for (int pass = 0; pass < ck.nptimers; pass++) {
        struct ck_ptimer *t = NULL;
        for (int i = 0; i < ck.nptimers; i++) {
            struct ck_ptimer *c = &ck.ptimers[i];
            if (c->restored) continue;
            if (!t || c->id < t->id) t = c;
        }
        if (!t) break;
        t->restored = 1;
        int clock = t->clock;
        if (clock == CLOCK_THREAD_CPUTIME_ID ||
            (clock < 0 && (clock & CPUCLOCK_PERTHREAD) && !CPUCLOCK_PID(clock))) {
            ck_warn("POSIX timer %d on the CPU clock of the thread that created it is not restored", t->id);
            continue;
        }
        if (clock < 0) {
            int pid = CPUCLOCK_PID(clock);
            if (clock & CPUCLOCK_PERTHREAD) {
                if (t->clock_slot < 0 || !ck_slots[t->clock_slot].tid) {
                    ck_warn("POSIX timer %d: the thread of its CPU clock is gone; not restored", t->id);
                    continue;
                }
                pid = ck_slots[t->clock_slot].tid;
            } else if (pid) {
                pid = ck.pid;   /* the process's own CPU clock */
            }
            clock = (int)(((unsigned)~pid << 3) | ((unsigned)clock & 7u));
        }
        struct k_sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.value = t->value;
        ev.signo = t->signo;
        ev.notify = t->notify;
        if (t->notify & K_SIGEV_THREAD_ID) {
            if (t->slot < 0 || !ck_slots[t->slot].tid) {
                ck_warn("POSIX timer %d: the thread it signals is gone; not restored", t->id);
                continue;
            }
            ev.tid = ck_slots[t->slot].tid;
        }
        long r = create_with_id(t->id, clock, &ev, restore_ids);
        if (r < 0) {
            ck_warn("POSIX timer %d could not be re-created: %s", t->id, strerror((int)-r));
            continue;
        }
        struct itimerspec s = t->spec;
        /* a periodic timer read at its expiry reports a zero value: it is armed */
        if (!s.it_value.tv_sec && !s.it_value.tv_nsec) s.it_value = s.it_interval;
        if ((s.it_value.tv_sec || s.it_value.tv_nsec) &&
            (r = ck_sys4(SYS_timer_settime, t->id, 0, &s, 0)) < 0)
            ck_warn("POSIX timer %d could not be re-armed: %s", t->id, strerror((int)-r));
        done++;
    }
    for (int i = 0; i < ck.nptimers; i++) ck.ptimers[i].restored = 0;
    if (restore_ids)
        ck_sys5(SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0);
    ck_debug("restored %d of %d POSIX timers", done, ck.nptimers);
}

/* ---- SIGEV_THREAD timers ---------------------------------------------------------- */
/*
 * glibc runs SIGEV_THREAD timers from a helper thread that blocks every signal,
 * libckpt's stop signal included, so a program with one could never be
 * stopped for a checkpoint.  libckpt implements them instead, the same way:
 * the kernel timer signals (SIGEV_THREAD_ID, signal 32 as in glibc) a helper
 * thread of libckpt's that waits for it with sigwaitinfo, and each expiry
 * runs the program's function in a new detached thread.  The helper leaves
 * the stop signal unblocked, so it parks and is restored like any thread.
 * The program gets the kernel timer id as its timer_t, which glibc's other
 * timer_* functions pass straight to the kernel.
 */
#define CK_SIGTIMER 32
#define CK_MAX_TNOTIFY 256

struct ck_tnotify {
    int in_use;
    void (*fn)(union sigval);
    union sigval value;
    int has_attr;
    pthread_attr_t attr;       /* the program's sigev_notify_attributes, detached */
};

static struct ck_tnotify tnotify[CK_MAX_TNOTIFY];
static pthread_mutex_t tnotify_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t helper;
static volatile int helper_tid;
static pthread_attr_t detached;

typedef int (*tcreate_fn)(clockid_t, struct sigevent *, timer_t *);
typedef int (*tdelete_fn)(timer_t);
static tcreate_fn real_timer_create;
static tdelete_fn real_timer_delete;

static int hooks_active(void) { return ck.initialised && !ck.inert; }

struct tcall { void (*fn)(union sigval); union sigval value; };

static void *run_notify(void *p)
{
    struct tcall c = *(struct tcall *)p;
    free(p);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    c.fn(c.value);
    return NULL;
}

static void *helper_main(void *unused)
{
    (void)unused;
    /* glibc's pthread_create never lets a new thread start with its internal
     * signals (32, 33) blocked: block 32 here, before any timer aims at us */
    uint64_t set = 1ull << (CK_SIGTIMER - 1);
    ck_sys4(SYS_rt_sigprocmask, SIG_BLOCK, &set, 0, 8);
    ck_thread_register();
    __atomic_store_n(&helper_tid, ck_gettid(), __ATOMIC_RELEASE);
    ck_futex_wake((int *)&helper_tid);
    for (;;) {
        siginfo_t si;
        long r = ck_sys4(SYS_rt_sigtimedwait, &set, &si, 0, 8);
        if (r != CK_SIGTIMER || si.si_code != SI_TIMER) continue;   /* EINTR: a checkpoint */
        struct ck_tnotify *t = si.si_ptr;
        if (t < tnotify || t >= tnotify + CK_MAX_TNOTIFY || !__atomic_load_n(&t->in_use, __ATOMIC_ACQUIRE))
            continue;
        struct tcall *c = malloc(sizeof *c);
        if (!c) continue;
        c->fn = t->fn;
        c->value = t->value;
        pthread_t th;
        if (pthread_create(&th, t->has_attr ? &t->attr : &detached, run_notify, c)) free(c);
    }
    return NULL;
}

static void forget_in_child(void)
{
    /* timers are not inherited by fork(), nor is the helper */
    helper_tid = 0;
    memset(tnotify, 0, sizeof tnotify);
    pthread_mutex_init(&tnotify_lock, NULL);
}

/* Starts the helper (tnotify_lock held); 0 or an errno value. */
static int start_helper(void)
{
    if (helper_tid) return 0;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    /* the helper blocks what glibc's does: everything but the stop signal and
     * glibc's set*id broadcast (33) */
    uint64_t all = ~0ull, old;
    all &= ~(1ull << (ck.cfg.privsig - 1));
    all &= ~(1ull << (33 - 1));
    ck_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
    int r = ck_real_pthread_create(&helper, &detached, helper_main, NULL);
    ck_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
    if (r) return r;
    while (!__atomic_load_n(&helper_tid, __ATOMIC_ACQUIRE)) ck_futex_wait((int *)&helper_tid, 0, 10000000);
    static int atfork_done;
    if (!atfork_done) { atfork_done = 1; pthread_atfork(NULL, NULL, forget_in_child); }
    return 0;
}

static void copy_attr(pthread_attr_t *to, const pthread_attr_t *from)
{
    size_t v;
    int i;
    struct sched_param sp;
    pthread_attr_init(to);
    if (!pthread_attr_getstacksize(from, &v)) pthread_attr_setstacksize(to, v);
    if (!pthread_attr_getguardsize(from, &v)) pthread_attr_setguardsize(to, v);
    if (!pthread_attr_getscope(from, &i)) pthread_attr_setscope(to, i);
    if (!pthread_attr_getinheritsched(from, &i)) pthread_attr_setinheritsched(to, i);
    if (!pthread_attr_getschedpolicy(from, &i)) pthread_attr_setschedpolicy(to, i);
    if (!pthread_attr_getschedparam(from, &sp)) pthread_attr_setschedparam(to, &sp);
    pthread_attr_setdetachstate(to, PTHREAD_CREATE_DETACHED);
}

__attribute__((visibility("default")))
int timer_create(clockid_t clock, struct sigevent *ev, timer_t *id)
{
    if (!ck.initialised) ck_init();
    if (!real_timer_create) real_timer_create = (tcreate_fn)ck_real_dlsym(RTLD_NEXT, "timer_create");
    if (!hooks_active() || !ev || ev->sigev_notify != SIGEV_THREAD)
        return real_timer_create(clock, ev, id);
    pthread_mutex_lock(&tnotify_lock);
    int r = start_helper(), slot = -1;
    for (int i = 0; !r && i < CK_MAX_TNOTIFY; i++)
        if (!tnotify[i].in_use) { slot = i; break; }
    if (r || slot < 0) {
        pthread_mutex_unlock(&tnotify_lock);
        ck_warn("timer_create: SIGEV_THREAD timer left to glibc (%s); its helper thread cannot be "
                "stopped, so checkpoints of this process will time out", r ? strerror(r) : "too many");
        return real_timer_create(clock, ev, id);
    }
    struct ck_tnotify *t = &tnotify[slot];
    t->fn = ev->sigev_notify_function;
    t->value = ev->sigev_value;
    t->has_attr = ev->sigev_notify_attributes != NULL;
    if (t->has_attr) copy_attr(&t->attr, ev->sigev_notify_attributes);
    struct k_sigevent k;
    memset(&k, 0, sizeof k);
    k.value = (uint64_t)(uintptr_t)t;
    k.signo = CK_SIGTIMER;
    k.notify = K_SIGEV_THREAD_ID;
    k.tid = helper_tid;
    int kid = 0;
    long e = ck_sys3(SYS_timer_create, clock, &k, &kid);
    if (e < 0) {
        if (t->has_attr) pthread_attr_destroy(&t->attr);
        pthread_mutex_unlock(&tnotify_lock);
        errno = (int)-e;
        return -1;
    }
    __atomic_store_n(&t->in_use, kid + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&tnotify_lock);
    *id = (timer_t)(intptr_t)kid;
    return 0;
}

__attribute__((visibility("default")))
int timer_delete(timer_t id)
{
    if (!real_timer_delete) real_timer_delete = (tdelete_fn)ck_real_dlsym(RTLD_NEXT, "timer_delete");
    int r = real_timer_delete(id);
    if (r == 0 && (intptr_t)id >= 0 && hooks_active()) {
        pthread_mutex_lock(&tnotify_lock);
        for (int i = 0; i < CK_MAX_TNOTIFY; i++)
            if (tnotify[i].in_use == (int)(intptr_t)id + 1) {
                __atomic_store_n(&tnotify[i].in_use, 0, __ATOMIC_RELEASE);
                if (tnotify[i].has_attr) pthread_attr_destroy(&tnotify[i].attr);
                break;
            }
        pthread_mutex_unlock(&tnotify_lock);
    }
    return r;
}

/* After a restore: the helper's tid, which new SIGEV_THREAD timers aim at. */
static void helper_after_restore(void)
{
    if (!helper_tid) return;
    for (int i = 0; i < CK_MAX_THREADS; i++)
        if (ck_slots[i].tid && ck_slots[i].fs == (uint64_t)helper) { helper_tid = ck_slots[i].tid; return; }
}
