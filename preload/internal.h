/*
 * internal.h - libckpt's shared state and internal interfaces.
 *
 * Threads that touch this state:
 *  - application threads: run the hooks (hooks.c) and, when stopped, the park
 *    handler (park.c), which fills their slot and waits on a futex;
 *  - the manager thread (core.c): one per process, created with every signal
 *    blocked; it waits for triggers, stops the world, forks the writer and
 *    releases the world;
 *  - the writer (capture.c): a raw-fork()ed child, single-threaded, which may
 *    not take any lock the program could hold (no malloc, no stdio).
 */
#ifndef CKPT_INTERNAL_H
#define CKPT_INTERNAL_H
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <sys/types.h>

#include "format/ckc.h"
#include "preload/resume.h"
#include "preload/sys.h"

#define HIDDEN __attribute__((visibility("hidden")))
#define CK_MAX_THREADS 4096
#define CK_MAX_FDS 1024
#define CK_PATH_MAX 4096
enum { CK_CAPTURE_AUTO = 0, CK_CAPTURE_FORK = 1, CK_CAPTURE_COPY = 2, CK_CAPTURE_WP = 3 };
/* The writer's exit status, besides 0 (written): */
enum {
    CK_WRITER_FAILED = 2,     /* failed; it logged why */
    CK_WRITER_COPY_NEXT = 3,  /* written; CKPT_CAPTURE=auto: later checkpoints copy */
    CK_WRITER_GAVE_UP = 4,    /* CKPT_CAPTURE=auto: given up, to be taken again with copy */
    CK_WRITER_WP_LOST = 5,    /* CKPT_CAPTURE=auto: a write-protect copy was lost (memory
                                 unmapped before it was copied): to be taken again with copy */
};

/* Per-thread record, filled by the thread itself in the park handler. */
struct ck_slot {
    volatile int tid;          /* 0 = free */
    volatile int parked_gen;   /* generation this thread parked for */
    volatile int early_gen;    /* released ahead of the others for this generation */
    uint64_t fs;               /* TLS base == glibc's struct pthread * */
    void *uc;                  /* its signal frame's ucontext (on its stack) */
    struct ck_ctx ctx;         /* where a restored thread re-enters the handler */
    uint64_t hmask;            /* mask in force inside the handler */
    uint64_t robust_head, robust_len;
    uint64_t rseq_addr;
    uint32_t rseq_len, rseq_sig;
    stack_t ss;
    uint64_t affinity[16];
    int has_affinity;
    char name[16];
    struct { long tv_sec, tv_nsec; } sleep_left; /* see park.c restart_sleep */
    uint64_t restart_rip;      /* the last call restart_sleep restarted: where */
    long restart_nr;           /* ... and which */
};

/* A POSIX timer (timer_create), saved in the pause (ptimers.c). */
#define CK_MAX_PTIMERS 128
struct ck_ptimer {
    int id, clock, signo, notify;
    int slot;                  /* SIGEV_THREAD_ID: the slot of the thread it signals */
    int clock_slot;            /* a thread's CPU clock: that thread's slot */
    int restored;
    uint64_t value;            /* sigev_value */
    struct itimerspec spec;    /* time left and interval, as timer_gettime() gave them */
};

struct ck_fdrec {
    ckc_fd rec;
    char path[256];
    char info[2048];           /* fdinfo text, kept for epoll/timerfd/signalfd */
};

struct ck_config {
    char dir[CK_PATH_MAX];     /* absolute CKPT_DIR */
    double interval;           /* seconds, 0 = off */
    int signo;                 /* trigger */
    int privsig;               /* thread-stop signal */
    int keep;                  /* retention, 0 = all */
    int level;                 /* zstd level, 0 = stored */
    int threads;               /* compression threads in the writer */
    int park_timeout_ms;
    int full_files;            /* CKPT_FULL=1: store file-backed pages too */
    long ghost_max;            /* CKPT_GHOST_MAX: largest deleted open file saved */
    int no_backtrace;          /* CKPT_BACKTRACE=0 */
    int nice;                  /* CKPT_NICE: the writer's nice value (default 10) */
    int capture;               /* CKPT_CAPTURE: auto, fork, copy, wp (staging.c) */
    uint64_t staging_max;      /* CKPT_STAGING_MAX_MB in bytes, 0 = half of MemAvailable */
    int writer_read;           /* CKPT_WRITER_READ: CK_READ_AUTO, _DIRECT, _MEM */
    int direct_io;             /* CKPT_DIRECT_IO=0: write the file through the page cache */
};
enum { CK_READ_AUTO, CK_READ_DIRECT, CK_READ_MEM };

struct ck_state {
    int initialised;
    int inert;                 /* library disabled in this process */
    struct ck_config cfg;
    int pid;
    int main_tid;
    int tid_offset;            /* of tid in struct pthread, -1 unknown */
    int evfd;                  /* trigger eventfd (manager waits on it) */
    int mgr_tid;
    uint64_t mgr_fs;
    struct ck_ctx mgr_ctx;
    volatile int stop_gen;     /* incremented to stop the world */
    volatile int release_gen;  /* set to stop_gen to release it */
    volatile int parked;       /* threads parked in the current generation */
    volatile int checkin;      /* restored threads back in the handler */
    volatile int busy;         /* a checkpoint is in flight */
    volatile int requests;     /* triggers seen */
    volatile int dropped;      /* triggers coalesced while busy */
    volatile int done_seq;     /* last completed checkpoint sequence (for waiters) */
    volatile int done_status;  /* its result: 0 ok, <0 failure */
    int reason;
    uint32_t seq;
    struct itimerval itimers[3];
    struct ck_ptimer ptimers[CK_MAX_PTIMERS];
    int nptimers;
    uint64_t pause_ns, t_stop_ns;
    uint64_t last_req_ns;        /* CLOCK_MONOTONIC of the newest checkpoint request */
    int ncpu;                  /* CPUs the program may run on (at start) */
    char exe[CK_PATH_MAX];     /* the program's executable (original, not ckpt-restore) */
    struct sigaction app_trigger; /* the program's view of the trigger signal */
    struct sigaction app_priv;    /* ... and of the private signal */
    int app_trigger_set, app_priv_set;
    struct ck_fdrec *fds;      /* captured while parked, read by the writer */
    int nfds;
    int nslots_hint;
    uint64_t wstack, wstack_len; /* the writer's stack (not part of the image) */
    uint64_t self_rw_lo, self_rw_hi; /* libckpt's writable segment (data + bss) */
    uint64_t mgr_heap_hint;    /* an address the manager's malloc returned */
    int auto_copy;             /* CKPT_CAPTURE=auto: a checkpoint found the program
                                  rewriting its memory; write-protect (or copy)
                                  capture from then on */
    int auto_nowp;             /* CKPT_CAPTURE=auto: write-protect capture is unavailable
                                  here, or lost a checkpoint: copy capture instead */
    int cuda_ckpt;             /* this checkpoint moves a CUDA process's GPU state to
                                  host memory: fork capture (below) */
};

extern struct ck_state ck HIDDEN;

/* The capture of the next checkpoint: CKPT_CAPTURE, with auto resolved. */
static inline int ck_capture_mode(void)
{
    /* A CUDA process: the driver's restore, right after the pause, frees and
     * rewrites the host copy of the GPU memory, which made auto give the
     * copy-on-write snapshot up; and the copy-capture writer that followed
     * died (SIGSEGV, cause not found) in every CUDA program tried on driver
     * 580.  The copy-on-write snapshot worked in all of them. */
    if (ck.cuda_ckpt) return CK_CAPTURE_FORK;
    if (ck.cfg.capture != CK_CAPTURE_AUTO) return ck.cfg.capture;
    if (!ck.auto_copy) return CK_CAPTURE_FORK;
    return ck.auto_nowp ? CK_CAPTURE_COPY : CK_CAPTURE_WP;
}

extern struct ck_slot ck_slots[CK_MAX_THREADS] HIDDEN;
extern struct ck_resume ck_resume HIDDEN;

/* core.c */
void ck_init(void) HIDDEN;
uint64_t ck_now_ns(int clock) HIDDEN;
long ck_read_file(const char *path, char *buf, size_t cap) HIDDEN;
char *ck_read_file_mapped(const char *path, size_t *cap, long *len) HIDDEN;
uint64_t ck_parse_hex(const char **p) HIDDEN;
uint64_t ck_parse_dec(const char **p) HIDDEN;
void ck_trigger(int reason) HIDDEN;

/* busycpu.c: keeping background work off the CPUs the program keeps busy */
#define CK_MAX_SAMPLED 256
struct ck_tsample { int tid, cpu; uint64_t run_ns; };
/* Which CPUs the program keeps busy (sampled = 1 once measured for this
 * checkpoint): when busy > 0, background work keeps to the `avail` CPUs in
 * cpus.  seen: how many threads were busy, busym: on which CPUs (also when
 * every CPU was). */
struct ck_busycpus { int sampled, busy, avail, seen; uint64_t cpus[16], busym[16]; };
extern struct ck_busycpus ck_busycpus HIDDEN;
struct ck_busy { uint64_t t0; int n; struct ck_tsample s[CK_MAX_SAMPLED]; };
/* First sample of the program's threads. */
void ck_busy_begin(struct ck_busy *b) HIDDEN;
/* Second sample, min_ms after the first at least (waits for it): fills
 * ck_busycpus; a thread is busy if it ran at least half of that time. */
void ck_busy_end(struct ck_busy *b, int min_ms) HIDDEN;
/* Restricts the calling task to the CPUs no busy thread ran on; 1 when it did. */
int  ck_busy_keep_off(void) HIDDEN;

/* dontfork.c */
void ck_dontfork_clear(void) HIDDEN;     /* in the pause, before the staging copy */
void ck_dontfork_restore(void) HIDDEN;   /* after the writer's fork */

/* shared_snap.c */
int ck_path_contents_stored(const char *path) HIDDEN;
int ck_path_shared_saved(const char *path) HIDDEN;
void ck_shared_snapshot(void) HIDDEN;        /* in the pause */
void ck_shared_snapshot_drop(void) HIDDEN;   /* the manager, after the writer's fork */
const char *ck_shared_snapshot_of(uint64_t start, uint64_t end) HIDDEN;   /* the writer */
void ck_shared_snapshot_area(uint64_t *lo, uint64_t *hi) HIDDEN;

/* ptimers.c */
void ck_ptimers_capture(void) HIDDEN;   /* in the pause */
void ck_ptimers_restore(void) HIDDEN;   /* in a restored process, before the release */

/* park.c */
void ck_park_install(void) HIDDEN;
int  ck_stop_world(void) HIDDEN;            /* 0, or -errno (world released) */
void ck_release_world(void) HIDDEN;
void ck_release_early(struct ck_slot *s) HIDDEN;
int  ck_thread_register(void) HIDDEN;       /* current thread */
void ck_thread_unregister(void) HIDDEN;
int  ck_find_tid_offset(void) HIDDEN;
void ck_restored_threads_wait(int nthreads) HIDDEN;
void ck_restart_interrupted_sleep(void *uc) HIDDEN;
int  ck_count_slots(void) HIDDEN;
/* Calls fn(arg, number, dirfd) for every entry of dir whose name is a number
 * (getdents64: no malloc, usable while the world is stopped); returns the sum
 * of fn's positive results, or -errno. */
int  ck_for_each_number(const char *dir, int (*fn)(void *arg, int n, int dirfd), void *arg) HIDDEN;

/* hooks.c */
void ck_hooks_init(void) HIDDEN;
int  ck_real_sigaction(int sig, const struct sigaction *a, struct sigaction *o) HIDDEN;
int  ck_real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) HIDDEN;
void ck_trigger_handler(int sig, siginfo_t *si, void *uc) HIDDEN;
/* glibc's own dlsym (libckpt exports a dlsym wrapper of its own). */
void *ck_real_dlsym(void *handle, const char *name) HIDDEN;

/* capture.c */
int  ck_capture_fds(void) HIDDEN;           /* while parked, in the manager */
void ck_writer_main(void) HIDDEN __attribute__((noreturn));

#endif
