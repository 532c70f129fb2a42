/*
 * restorer.h - the arguments ckpt-restore hands to the restorer blob.
 *
 * The blob (restore/pie_restorer.c) is libc-free, position-independent code
 * that ckpt-restore copies into a hole of the address space that neither the
 * launcher nor the saved program uses.  Everything it needs is in one struct
 * rs_args placed in the same hole, with arrays following it; pointers in it
 * point into the hole.
 */
#ifndef CKPT_RESTORER_H
#define CKPT_RESTORER_H
#include <stdint.h>
#include "preload/resume.h"

struct rs_range { uint64_t addr, len; };

/* A region staged somewhere (src) that must end at dst with protection prot. */
struct rs_region { uint64_t src, dst, len; uint32_t prot, move; };

struct rs_thread {
    int32_t  tid;              /* tid to ask for (clone3 set_tid) */
    uint32_t leader;           /* 1: the thread-group leader (entered last, by the blob itself) */
    uint64_t fs, ctid;
    uint64_t ctx[8];           /* rbx rbp r12 r13 r14 r15 rsp rip */
    uint64_t mask;
    uint64_t stack;            /* temporary stack top for the first instructions */
};

/* struct prctl_mm_map, as the kernel defines it. */
struct rs_mm_map {
    uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t auxv;             /* pointer */
    uint32_t auxv_size;
    uint32_t exe_fd;
};

struct rs_args {
    uint64_t nunmap;
    struct rs_range *unmap;
    uint64_t nregions;
    struct rs_region *regions;
    uint64_t nthreads;
    struct rs_thread *threads;
    /* vdso family: current position -> saved position, moved through a spare slot */
    struct rs_region special[3];
    uint64_t nspecial;
    uint64_t spare;            /* PROT_NONE reservation big enough for any of them */
    uint64_t spare_len;
    struct rs_mm_map mm;
    int32_t  has_mm;
    int32_t  same_ids;
    int32_t  tid_offset;
    int32_t  exe_fd;           /* closed by the blob after PR_SET_MM */
    char     comm[16];
    uint64_t resume_addr;      /* where struct ck_resume lives in the restored image */
    struct ck_resume resume;
    uint64_t auxv[64];
    volatile int32_t started;  /* threads that left the blob's temporary stacks */
    int32_t  pad;
};

#endif
