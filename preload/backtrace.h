/* backtrace.h - thread backtraces for the writer (see backtrace.c). */
#ifndef CKPT_BACKTRACE_H
#define CKPT_BACKTRACE_H
#include <stddef.h>
struct ck_bt { void *uc; };
/* Unwinds each thread's ucontext in a grandchild; fills buf with the records
 * described in backtrace.c.  0 or -errno (then buf holds what arrived). */
int ck_backtraces(struct ck_bt *bt, int n, char *buf, size_t cap, size_t *used);
#endif
