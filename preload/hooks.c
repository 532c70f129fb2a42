/*
 * hooks.c - the functions libckpt interposes, and how real ones are found.
 *
 * Real functions come from libc through dlsym(RTLD_NEXT) called on glibc's own
 * dlsym, reached by its symbol version: libckpt itself exports a dlsym wrapper
 * (cuda_hooks/), and going through it for our own bootstrap would recurse.
 *
 * Signal policy (documented in README):
 *  - the private stop signal (ck.cfg.privsig) belongs to libckpt: the program
 *    may install a handler for it or block it, but neither takes effect (its
 *    view is kept and reported back by sigaction); masks never block it;
 *  - the trigger (CKPT_SIGNAL, default SIGUSR1) sent from another process
 *    (SI_USER/SI_QUEUE with a foreign si_pid) requests a checkpoint; the same
 *    signal raised by the program itself (raise, kill(getpid()), timers, tgkill)
 *    goes to the program's own disposition, as if libckpt were not there.
 *
 * Threads: pthread_create wraps the start routine so every thread registers
 * itself before running program code and unregisters when it ends.
 */
#include "preload/internal.h"
#include "preload/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

/* glibc's dlsym, by version (see above). */
extern void *ck_libc_dlsym(void *handle, const char *name);
__asm__(".symver ck_libc_dlsym, dlsym@GLIBC_2.2.5");

void *ck_real_dlsym(void *handle, const char *name) { return ck_libc_dlsym(handle, name); }

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);
typedef int (*pcreate_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef int (*sigsuspend_fn)(const sigset_t *);
typedef int (*sigwait_fn)(const sigset_t *, int *);
typedef int (*sigwaitinfo_fn)(const sigset_t *, siginfo_t *);
typedef int (*sigtimedwait_fn)(const sigset_t *, siginfo_t *, const struct timespec *);
typedef void (*pexit_fn)(void *) __attribute__((noreturn));

static sigaction_fn real_sigaction;
static sigmask_fn real_sigprocmask, real_pthread_sigmask;
static pcreate_fn real_pthread_create;
static sigsuspend_fn real_sigsuspend;
static sigwait_fn real_sigwait;
static sigwaitinfo_fn real_sigwaitinfo;
static sigtimedwait_fn real_sigtimedwait;
static pexit_fn real_pthread_exit;

#define RESOLVE(var, name) \
    do { if (!(var)) (var) = (__typeof__(var))ck_libc_dlsym(RTLD_NEXT, name); } while (0)

void ck_hooks_init(void)
{
    RESOLVE(real_sigaction, "sigaction");
    RESOLVE(real_sigprocmask, "sigprocmask");
    RESOLVE(real_pthread_sigmask, "pthread_sigmask");
    RESOLVE(real_pthread_create, "pthread_create");
    RESOLVE(real_sigsuspend, "sigsuspend");
    RESOLVE(real_sigwait, "sigwait");
    RESOLVE(real_sigwaitinfo, "sigwaitinfo");
    RESOLVE(real_sigtimedwait, "sigtimedwait");
    RESOLVE(real_pthread_exit, "pthread_exit");
}

static inline void ensure(void)
{
    if (!ck.initialised) ck_init();
}

/* Raw rt_sigaction fallback for the window before dlsym works. */
int ck_real_sigaction(int sig, const struct sigaction *a, struct sigaction *o)
{
    if (!real_sigaction) ck_hooks_init();
    if (!real_sigaction) { errno = ENOSYS; return -1; }
    return real_sigaction(sig, a, o);
}

int ck_real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    if (!real_pthread_create) ck_hooks_init();
    return real_pthread_create(t, a, fn, arg);
}

static int active(void) { return ck.initialised && !ck.inert; }

/* ---- signals ---------------------------------------------------------------------- */

__attribute__((visibility("default")))
int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    ensure();
    if (active() && sig == ck.cfg.privsig) {
        if (old) *old = ck.app_priv;
        if (act) ck.app_priv = *act;
        return 0;
    }
    if (active() && sig == ck.cfg.signo && ck.app_trigger_set) {
        struct sigaction prev = ck.app_trigger;
        if (act) ck.app_trigger = *act;
        if (old) *old = prev;
        return 0;
    }
    return ck_real_sigaction(sig, act, old);
}

static __sighandler_t bsd_install(int sig, __sighandler_t h)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, sig);
    if (sigaction(sig, &sa, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}

__attribute__((visibility("default")))
__sighandler_t signal(int sig, __sighandler_t h)
{
    if (sig <= 0 || sig >= NSIG) { errno = EINVAL; return SIG_ERR; }
    return bsd_install(sig, h);
}

__sighandler_t bsd_signal(int sig, __sighandler_t h);
__attribute__((visibility("default")))
__sighandler_t bsd_signal(int sig, __sighandler_t h) { return signal(sig, h); }

static const sigset_t *without_priv(const sigset_t *set, sigset_t *copy)
{
    if (!set || !active() || !sigismember(set, ck.cfg.privsig)) return set;
    *copy = *set;
    sigdelset(copy, ck.cfg.privsig);
    return copy;
}

__attribute__((visibility("default")))
int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    ensure();
    sigset_t c;
    RESOLVE(real_sigprocmask, "sigprocmask");
    return real_sigprocmask(how, how == SIG_UNBLOCK ? set : without_priv(set, &c), old);
}

__attribute__((visibility("default")))
int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    ensure();
    sigset_t c;
    RESOLVE(real_pthread_sigmask, "pthread_sigmask");
    return real_pthread_sigmask(how, how == SIG_UNBLOCK ? set : without_priv(set, &c), old);
}

__attribute__((visibility("default")))
int sigsuspend(const sigset_t *mask)
{
    ensure();
    sigset_t c;
    RESOLVE(real_sigsuspend, "sigsuspend");
    return real_sigsuspend(without_priv(mask, &c));
}

__attribute__((visibility("default")))
int sigwait(const sigset_t *set, int *sig)
{
    ensure();
    sigset_t c;
    RESOLVE(real_sigwait, "sigwait");
    return real_sigwait(without_priv(set, &c), sig);
}

__attribute__((visibility("default")))
int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    ensure();
    sigset_t c;
    RESOLVE(real_sigwaitinfo, "sigwaitinfo");
    return real_sigwaitinfo(without_priv(set, &c), info);
}

__attribute__((visibility("default")))
int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
    ensure();
    sigset_t c;
    RESOLVE(real_sigtimedwait, "sigtimedwait");
    return real_sigtimedwait(without_priv(set, &c), info, ts);
}

/* The trigger signal's handler: a checkpoint request from outside, or the
 * program's own signal, delivered to the program's disposition. */
void ck_trigger_handler(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    int external = si && (si->si_code == SI_USER || si->si_code == SI_QUEUE) &&
                   si->si_pid != ck_getpid();
    if (active() && external) {
        ck_trigger(CKC_REASON_SIGNAL);
        ck_restart_interrupted_sleep(uc);
        errno = saved;
        return;
    }
    struct sigaction a = ck.app_trigger;
    errno = saved;
    if (a.sa_handler == SIG_IGN) return;
    if (a.sa_handler == SIG_DFL) {
        /* Default action of the usual trigger signals is to terminate: do it
         * the way the kernel would, with the program's signal status. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        ck_real_sigaction(sig, &dfl, NULL);
        uint64_t m = 1ull << (sig - 1);
        ck_sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &m, 0, 8);
        ck_sys3(SYS_tgkill, ck_getpid(), ck_gettid(), sig);
        return;
    }
    /* Run the program's handler with the mask the kernel would have given it:
     * the interrupted code's, its sa_mask and the signal (ours blocks all). */
    uint64_t set, add, old;
    memcpy(&add, &a.sa_mask, 8);
    if (uc) memcpy(&set, &((ucontext_t *)uc)->uc_sigmask, 8);
    else ck_sys4(SYS_rt_sigprocmask, SIG_BLOCK, 0, &set, 8);
    set |= add;
    if (!(a.sa_flags & SA_NODEFER)) set |= 1ull << (sig - 1);
    set &= ~(1ull << (ck.cfg.privsig - 1));
    ck_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &set, &old, 8);
    if (a.sa_flags & SA_RESETHAND) {
        memset(&ck.app_trigger, 0, sizeof ck.app_trigger);
        ck.app_trigger.sa_handler = SIG_DFL;
    }
    if (a.sa_flags & SA_SIGINFO) a.sa_sigaction(sig, si, uc);
    else a.sa_handler(sig);
    ck_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
}

/* ---- threads ---------------------------------------------------------------------- */

struct start_info { void *(*fn)(void *); void *arg; };

static void unregister_cb(void *unused) { (void)unused; ck_thread_unregister(); }

static void *thread_start(void *p)
{
    struct start_info si = *(struct start_info *)p;
    free(p);
    ck_thread_register();
    void *ret;
    pthread_cleanup_push(unregister_cb, NULL);
    ret = si.fn(si.arg);
    pthread_cleanup_pop(1);
    return ret;
}

__attribute__((visibility("default")))
int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    ensure();
    if (!active()) return ck_real_pthread_create(t, attr, fn, arg);
    struct start_info *si = malloc(sizeof *si);
    if (!si) return EAGAIN;
    si->fn = fn;
    si->arg = arg;
    int r = ck_real_pthread_create(t, attr, thread_start, si);
    if (r) free(si);
    return r;
}

__attribute__((visibility("default"), noreturn))
void pthread_exit(void *ret)
{
    RESOLVE(real_pthread_exit, "pthread_exit");
    /* The cleanup handler of thread_start unregisters; the main thread calling
     * pthread_exit has none, so unregister here too (harmless twice). */
    if (ck_gettid() == ck_getpid()) ck_thread_unregister();
    real_pthread_exit(ret);
}
