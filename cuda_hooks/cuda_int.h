/*
 * cuda_int.h - internals shared by the cuda_hooks/ translation units.
 *
 *   cuda_interpose.c  driver resolution, the dlsym/dlvsym interposer, the
 *                     pointer-identity table, generated pass-through wrappers
 *   cuda_track.c      tracking tables and the hand-written (tracking) wrappers
 *   cuda_ckpt.c       feature gate, cuCheckpointProcess* orchestration,
 *                     CKF_T_CUDA serialisation, optional device-data copy, dump
 */
#ifndef CKPT_CUDA_INT_H
#define CKPT_CUDA_INT_H
#include <stddef.h>
#include <stdint.h>
#include "cuda_hooks/cuda_decls.h"
#include "cuda_hooks/cuda_state.h"

#define CK_HIDDEN __attribute__((visibility("hidden")))

/* ---- generated from cuda_funcs.def ---------------------------------------------- */
enum cu_index {
#define CU_GEN(n, P, A) CUI_##n,
#define CU_HOOK(n, P, A) CUI_##n,
#include "cuda_hooks/cuda_funcs.def"
#undef CU_GEN
#undef CU_HOOK
    CUI__COUNT
};

#define CU_GEN(n, P, A) typedef ckcu_result_t (*ckcu_pfn_##n) P; ckcu_result_t ckw_##n P;
#define CU_HOOK(n, P, A) typedef ckcu_result_t (*ckcu_pfn_##n) P; ckcu_result_t ckw_##n P;
#include "cuda_hooks/cuda_funcs.def"
#undef CU_GEN
#undef CU_HOOK

extern const char *const cu_names[CUI__COUNT]; /* exact exported names */
extern void *cu_next[CUI__COUNT];   /* what our wrappers call: the next definition after
                                       libckpt in load order (another interposer or libcuda) */
extern void *cu_ident[CUI__COUNT];  /* libcuda's own address of each variant (pointer identity) */
extern void *const cu_wrap[CUI__COUNT]; /* our wrappers */
extern uint64_t cu_calls[CUI__COUNT];   /* per-variant call counts (only when counting) */

/* modes (CKPT_CUDA=off|track|checkpoint) */
enum { CU_MODE_OFF = 0, CU_MODE_TRACK = 1, CU_MODE_CKPT = 2 };
extern int cu_mode;          /* read once at resolution */
extern int cu_counting;      /* count calls per variant (dump or debug log requested) */
extern volatile int cu_ready;   /* driver resolved */
extern volatile int cu_forked;  /* we are a fork()ed child: pure pass-through */
extern volatile int cu_active;  /* cuInit succeeded through us in this process */

/* Resolves libcuda and fills the tables.  load=0 only looks for an already
 * loaded libcuda (dlsym path: never loads the driver into a non-CUDA program).
 * Returns 1 when ready.  Lock-free and idempotent: concurrent callers compute
 * the same values. */
int cu_resolve(int load);
/* Pointer identity: our wrapper for a real libcuda pointer, or p unchanged. */
void *cu_subst(void *p);
/* The function a wrapper must call; counts the call. NULL if absent. */
static inline void *cu_fn(int i)
{
    if (__builtin_expect(!__atomic_load_n(&cu_ready, __ATOMIC_ACQUIRE), 0)) cu_resolve(1);
    if (__builtin_expect(cu_counting, 0)) __atomic_fetch_add(&cu_calls[i], 1, __ATOMIC_RELAXED);
    return cu_next[i];
}
/* Calls through the next pointer without counting (our own calls). */
#define CU_REAL(n) ((ckcu_pfn_##n)cu_real(CUI_##n))
static inline void *cu_real(int i)
{
    if (__builtin_expect(!__atomic_load_n(&cu_ready, __ATOMIC_ACQUIRE), 0)) cu_resolve(1);
    return cu_next[i];
}
/* Result for a variant the driver does not export. */
ckcu_result_t cu_missing(int i);
/* 1 if tracking applies in this process now. */
static inline int cu_tracking(void) { return cu_mode != CU_MODE_OFF && !cu_forked; }

/* ---- tracking (cuda_track.c) --------------------------------------------------- */
typedef struct trk_rec {
    uint32_t state;            /* 0 free, 1 live (atomic; readers skip non-live) */
    uint32_t next_free;        /* free list link, index + 1 */
    ckcu_img_record r;
} trk_rec;

#define CU_MAX_DEVICES 16
typedef struct cu_device_info {
    int      known;
    ckcu_img_device d;
} cu_device_info;

extern cu_device_info cu_devices[CU_MAX_DEVICES];
extern uint32_t cu_gate_sticky;   /* CKCU_GATE_* bits set by calls that cannot be undone */
extern uint32_t cu_dev_mask;      /* devices with a context */
extern int cu_driver_version;

/* Snapshot-safe view of the table: number of slots ever used, and slot i. */
uint32_t trk_highwater(void);
const trk_rec *trk_slot(uint32_t i);
const char *trk_strings(size_t *len);
uint64_t trk_live(int kind);       /* live records of a kind */
uint64_t trk_bytes(int kind);      /* sum of sizes of live records of a kind */

/* ---- orchestration helpers (cuda_ckpt.c) --------------------------------------- */
uint32_t cu_gate_bits(void);
const char *cu_gate_reason(uint32_t bits);
void cu_dump(int fd);

#endif
