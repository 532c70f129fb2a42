/*
 * cuda_ckpt.h - what the rest of libckpt asks of cuda_hooks/.
 *
 * The capture code (preload/) calls these around a checkpoint; ckpt-restore's
 * resumed process calls ckpt_cuda_after_restore() from libckpt's manager thread.
 * In a program that never touched CUDA every function is a cheap no-op.
 * All functions return 0 on success or a negative errno; `why` receives a
 * one-line human-readable reason on failure.
 *
 * Order for a checkpoint of a running program (research/cuda.md §2.3, R6):
 *   ckpt_cuda_gate()                  (optional early refusal)
 *   ckpt_cuda_before_checkpoint()     app threads still running: [copy device data
 *                                     if CKPT_CUDA_DATA=1] Lock -> Checkpoint
 *   ... stop threads, capture CPU state: ckpt_cuda_serialize() -> CKF_T_CUDA,
 *       ckpt_cuda_data_get() -> CKF_T_CUDA_DATA chunks ...
 *   ckpt_cuda_after_checkpoint()      threads running again: Restore -> Unlock
 *   ckpt_cuda_data_release()          once the data chunks are written
 * In the restored process, once every thread (the driver's too) runs again:
 *   ckpt_cuda_after_restore()         Restore -> Unlock
 * If before_checkpoint fails, the device is left RUNNING (it unlocks what it
 * locked) and the checkpoint must be abandoned or taken without GPU state.
 */
#ifndef CKPT_CUDA_CKPT_H
#define CKPT_CUDA_CKPT_H
#include <stddef.h>
#include <stdint.h>

/* 1 once the program has initialised the CUDA driver through our hooks. */
int  ckpt_cuda_active(void);
/* In a restored process before ckpt_cuda_after_restore: the driver's restore
 * thread's tid, or 0 when the driver does not say. */
int  ckpt_cuda_restore_tid(void);
/* Feature gate: 0 if the tracked GPU state can be checkpointed and restored,
 * else -ENOTSUP with the reason (managed memory, IPC, several devices, ...). */
int  ckpt_cuda_gate(char *why, size_t whylen);
/* Before the CPU threads are stopped: quiesce the device and move its state to
 * host memory (cuCheckpointProcessLock + Checkpoint).  timeout_ms bounds the lock. */
int  ckpt_cuda_before_checkpoint(unsigned timeout_ms, char *why, size_t whylen);
/* After the CPU image is taken (in the running program): bring the device state
 * back and unlock, so the program continues. */
int  ckpt_cuda_after_checkpoint(char *why, size_t whylen);
/* In the restored process, after every thread runs again: restore + unlock. */
int  ckpt_cuda_after_restore(char *why, size_t whylen);
/* Serialises the tracked state (devices, contexts, allocations, modules,
 * streams) for the CKF_T_CUDA chunk into buf; returns the length, or the length
 * needed if larger than cap; 0 when CUDA is not active. Async-signal-safe.
 * Layout: cuda_hooks/cuda_state.h. */
size_t ckpt_cuda_serialize(void *buf, size_t cap);
/* Called in a fork()ed child so the hooks go inert there. */
void ckpt_cuda_atfork_child(void);

/* Device data copies (CKPT_CUDA_DATA=1).  After a successful
 * ckpt_cuda_before_checkpoint, buffer i (0, 1, ...) is a host copy of a tracked
 * device buffer: *dptr its device address (the CKF_T_CUDA_DATA chunk key),
 * *host and *len the copy.  The copies are taken after synchronising every
 * tracked context but before Lock, while the program still runs: they match
 * the CPU image only if no kernel was launched in between (the driver's own
 * checkpoint, not these copies, is what a restore uses).  Returns 0, or -ENOENT past the last buffer.
 * Async-signal-safe; the copies live in anonymous mappings of our own which the
 * capture may skip (ckpt_cuda_data_range tells which). */
int  ckpt_cuda_data_get(size_t i, uint64_t *dptr, const void **host, size_t *len);
/* 1 if [addr, addr+len) overlaps the staging memory of the data copies (which
 * the image already holds as CKF_T_CUDA_DATA chunks: no need to save it twice). */
int  ckpt_cuda_data_range(uintptr_t addr, size_t len);
/* Releases the host copies (call after the image is written). */
void ckpt_cuda_data_release(void);
/* Writes a human-readable summary of the tracked state to fd (debugging and
 * tests; also done at exit when CKPT_CUDA_DUMP=1 or =<file>). */
void ckpt_cuda_debug_dump(int fd);

#endif
