/*
 * ckpt.h - optional API for programs that want to cooperate with libckpt.
 *
 * Nothing here is needed: an unmodified program is checkpointed transparently.
 * A program that includes this header and links nothing extra can still call
 * these functions when it runs under libckpt (they are resolved from the
 * preloaded library); use the weak-symbol idiom below to run without it:
 *
 *     #pragma weak ckpt_checkpoint
 *     if (ckpt_checkpoint) ckpt_checkpoint(1);
 */
#ifndef CKPT_H
#define CKPT_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Takes a checkpoint now.  wait != 0: returns once it is durable (0) or failed
 * (-1).  wait == 0: requests one and returns at once.  In a restored process a
 * waiting call returns 1 when it returns "on the other side" (after restore). */
int ckpt_checkpoint(int wait);

/* Names a memory range so that tools (ckpt extract --region NAME) can find it. */
int ckpt_register_region(const char *name, const void *addr, size_t len);
int ckpt_unregister_region(const void *addr);

/* Number of times this process has been restored (0 in the original run). */
int ckpt_is_restored(void);

#ifdef __cplusplus
}
#endif
#endif
