/* staging.h - copy capture of large anonymous memory (see staging.c). */
#ifndef CKPT_STAGING_H
#define CKPT_STAGING_H
#include <stdint.h>

#define CK_STG_MAX_VMAS 4096

/* non-zero present pages [addr, addr+len) saved at staging offset off */
struct ck_run { uint64_t addr, len, off; };
/* a mapping whose contents are in the staging area (absent in the writer) */
struct ck_stg_vma { uint64_t start, end; int run0, nruns; char name[48]; };

/* shared with the writer (start of the index area) */
struct ck_stg_hdr {
    volatile int state;          /* write-protect capture: 0 copying, 1 complete, 2 lost */
    int pad;
    uint64_t copied_by_fault, copied_behind;   /* chunks, for the log */
    uint64_t copy_ns;            /* the copier's time, for the log */
    uint64_t helpers;            /* helper copiers started, for the log */
};

struct ck_staging {
    int active, warned;
    int wp;                      /* this checkpoint: write-protect capture (see staging.c) */
    int uffd;                    /* its userfaultfd, or -1 */
    int wp_unusable;             /* userfaultfd write-protect refused once: not tried again */
    long copier;                 /* pid of the copier task, 0 when none */
    uint64_t cstack;             /* its stack */
    struct ck_stg_hdr *hdr;
    struct ck_run *runs;
    unsigned char *rstate;       /* per run: 0 protected, 1 being copied, 2 copied */
    int pmfd;                    /* /proc/self/pagemap while staging, else -1 */
    uint64_t base, cap;          /* staging area */
    int huge;                    /* it is private, in huge pages (copy capture) */
    uint64_t runs_ns, copy_ns;   /* copy capture: finding the present pages, copying them */
    uint64_t idx_base, idx_cap;  /* runs, then the vma table at its end */
    uint64_t used;
    int nruns, nvmas;
    struct ck_stg_vma *vmas;
};
extern struct ck_staging ck_stg __attribute__((visibility("hidden")));

/* Manager, program running: size and fault in the staging area. */
int  ck_staging_prepare(void) __attribute__((visibility("hidden")));
/* 1 if userfaultfd write-protection works for this process (a failure is
 * remembered: later calls answer 0 without trying). */
int  ck_staging_wp_usable(void) __attribute__((visibility("hidden")));
/* Manager, world stopped: copy and mark DONTFORK. */
void ck_staging_copy(void) __attribute__((visibility("hidden")));
/* Manager, after the fork: DOFORK again. */
void ck_staging_after_fork(void) __attribute__((visibility("hidden")));
/* Manager, program running again: wait for the write-protect copier (if any)
 * and release its userfaultfd. */
void ck_staging_finish(void) __attribute__((visibility("hidden")));
/* Writer: wait until the staged contents are complete; < 0 if they are lost. */
int  ck_staging_wait(void) __attribute__((visibility("hidden")));
/* A fork of the writer (the backtrace unwinder): the staged memory back at
 * its addresses, moved out of the staging area (copy capture only). */
void ck_staging_map_back(void) __attribute__((visibility("hidden")));
/* Whether [a, b) overlaps the staging or index area (libckpt's own memory,
 * shared in write-protect capture: never the program's). */
int  ck_staging_owns(uint64_t a, uint64_t b) __attribute__((visibility("hidden")));
/* Restored process: the staging areas are gone. */
void ck_staging_forget(void) __attribute__((visibility("hidden")));
void ck_staging_done(void) __attribute__((visibility("hidden")));
#endif
