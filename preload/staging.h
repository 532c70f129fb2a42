/* staging.h - copy capture of large anonymous memory (see staging.c). */
#ifndef CKPT_STAGING_H
#define CKPT_STAGING_H
#include <stdint.h>

#define CK_STG_MAX_VMAS 4096

/* non-zero present pages [addr, addr+len) saved at staging offset off */
struct ck_run { uint64_t addr, len, off; };
/* a mapping whose contents are in the staging area (absent in the writer) */
struct ck_stg_vma { uint64_t start, end; int run0, nruns; char name[48]; };

struct ck_staging {
    int active, warned;
    int pmfd;                    /* /proc/self/pagemap while staging, else -1 */
    uint64_t base, cap;          /* staging area (MAP_SHARED) */
    uint64_t idx_base, idx_cap;  /* runs, then the vma table at its end */
    uint64_t used;
    int nruns, nvmas;
    struct ck_stg_vma *vmas;
};
extern struct ck_staging ck_stg __attribute__((visibility("hidden")));

/* Manager, program running: size and fault in the staging area. */
int  ck_staging_prepare(void) __attribute__((visibility("hidden")));
/* Manager, world stopped: copy and mark DONTFORK. */
void ck_staging_copy(void) __attribute__((visibility("hidden")));
/* Manager, after the fork: DOFORK again. */
void ck_staging_after_fork(void) __attribute__((visibility("hidden")));
/* Restored process: the staging areas are gone. */
void ck_staging_forget(void) __attribute__((visibility("hidden")));
void ck_staging_done(void) __attribute__((visibility("hidden")));
#endif
