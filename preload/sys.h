/*
 * sys.h - raw system calls and the resume-context save used inside libckpt.
 *
 * Why raw: code that runs in a signal handler of a parked thread, or in the
 * forked writer, must neither take libc locks nor change the interrupted
 * thread's errno (a thread resumed after restore continues with exactly the
 * errno it had).  These inline syscalls return -errno and touch nothing else.
 */
#ifndef CKPT_SYS_H
#define CKPT_SYS_H
#include <stdint.h>
#include <stddef.h>
#include <sys/syscall.h>

static inline long ck_sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define ck_sys0(n)             ck_sys6((n), 0, 0, 0, 0, 0, 0)
#define ck_sys1(n, a)          ck_sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define ck_sys2(n, a, b)       ck_sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define ck_sys3(n, a, b, c)    ck_sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define ck_sys4(n, a, b, c, d) ck_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define ck_sys5(n, a, b, c, d, e) \
    ck_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#define CK_FUTEX_WAIT 0
#define CK_FUTEX_WAKE 1
#define CK_FUTEX_PRIVATE 128

static inline long ck_futex_wait(volatile int *addr, int val, long timeout_ns)
{
    struct { long s, ns; } ts = { timeout_ns / 1000000000L, timeout_ns % 1000000000L };
    return ck_sys4(SYS_futex, addr, CK_FUTEX_WAIT | CK_FUTEX_PRIVATE, val,
                   timeout_ns > 0 ? (long)&ts : 0);
}
static inline long ck_futex_wake(volatile int *addr)
{
    return ck_sys3(SYS_futex, addr, CK_FUTEX_WAKE | CK_FUTEX_PRIVATE, 0x7fffffff);
}
static inline int ck_gettid(void) { return (int)ck_sys0(SYS_gettid); }
static inline int ck_getpid(void) { return (int)ck_sys0(SYS_getpid); }

/*
 * A resume context: the callee-saved registers, stack pointer and return
 * address of a ck_ctx_save() call.  ckpt-restore enters a recreated thread by
 * loading these and jumping to rip with eax = 1, so that ck_ctx_save()
 * "returns a second time", now in the restored process.  Layout is shared with
 * the restorer (restore/pie_restorer.c): keep offsets stable.
 */
struct ck_ctx {
    uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};
int ck_ctx_save(struct ck_ctx *c) __attribute__((returns_twice));
long ck_clone_writer(void *stack_top, void (*fn)(void));
long ck_clone_thread(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg);
void ck_sigreturn(void);

#endif
