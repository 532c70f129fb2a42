/*
 * resume.h - the hand-over between ckpt-restore and the restored libckpt.
 *
 * struct ck_resume lives in libckpt's data; its address in the saved image is
 * recorded in ckc_process.lib_resume_ctx.  The restorer fills it in after the
 * saved memory is back in place and before any thread runs; the restored
 * manager thread reads it to finish the job (unmap the restorer, re-arm
 * timers, count the generation).
 */
#ifndef CKPT_RESUME_H
#define CKPT_RESUME_H
#include <stdint.h>

#define CK_RESUME_MAGIC 0x656d757365526b43ull /* "CkResume" */

struct ck_resume {
    uint64_t magic;
    uint32_t generation;       /* times this process image has been restored */
    uint32_t same_ids;         /* 1: pid and tids are the saved ones (pid namespace) */
    uint64_t blob_addr, blob_len; /* restorer area, unmapped by the restored manager */
    int32_t  pid;              /* pid the program sees now */
    int32_t  outer_pid;        /* pid of ckpt-restore in the caller's namespace */
    uint64_t restore_start_ns; /* CLOCK_MONOTONIC when ckpt-restore started */
    uint64_t jump_ns;          /* CLOCK_MONOTONIC when the restorer took over */
};

#endif
