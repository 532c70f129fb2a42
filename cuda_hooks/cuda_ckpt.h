/*
 * cuda_ckpt.h - what the rest of libckpt asks of cuda_hooks/.
 *
 * The capture code (preload/) calls these around a checkpoint; ckpt-restore's
 * resumed process calls ckpt_cuda_after_restore() from libckpt's manager thread.
 * In a program that never touched CUDA every function is a cheap no-op.
 * All functions return 0 on success or a negative errno; `why` receives a
 * one-line human-readable reason on failure.
 */
#ifndef CKPT_CUDA_CKPT_H
#define CKPT_CUDA_CKPT_H
#include <stddef.h>
#include <stdint.h>

/* 1 once the program has initialised the CUDA driver through our hooks. */
int  ckpt_cuda_active(void);
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
 * needed if larger than cap; 0 when CUDA is not active. Async-signal-safe. */
size_t ckpt_cuda_serialize(void *buf, size_t cap);
/* Called in a fork()ed child so the hooks go inert there. */
void ckpt_cuda_atfork_child(void);

#endif
