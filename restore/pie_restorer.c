/*
 * pie_restorer.c - the last step of a restore, run from a hole in the address
 * space after the launcher's own code is gone.
 *
 * Libc-free and position-independent (built with -nostdlib -fPIC, linked by
 * restore/pie.lds into one flat image): it may call nothing but the kernel.
 * Entered by ckpt-restore on the blob's own stack with a struct rs_args; it
 *   1. unmaps everything of the launcher that is not part of the program,
 *   2. moves [vvar] [vvar_vclock] [vdso] to their saved addresses (through a
 *      spare slot, since the old and new places may overlap),
 *   3. moves every staged region to its final address (mremap: no copy) and
 *      sets its protection,
 *   4. restores the mm layout (brk, arguments, auxv, /proc/self/exe) and name,
 *   5. writes the resume hand-over into libckpt's memory,
 *   6. creates every thread with its saved tid and TLS, entering each at its
 *      saved resume context; finally enters the leader's own context.
 * There is no way back after step 1: failures are reported on fd 2 and the
 * process exits with status 126.
 */
#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>
#include "restore/restorer.h"

#define NR_munmap 11
#define NR_mprotect 10
#define NR_mremap 25
#define NR_write 1
#define NR_close 3
#define NR_prctl 157
#define NR_exit_group 231
#define NR_rt_sigprocmask 14
#define NR_set_tid_address 218
#define NR_clone3 435
#define NR_clock_gettime 228

#define PR_SET_MM 35
#define PR_SET_MM_MAP 14
#define PR_SET_NAME 15
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* The compiler may emit calls to these for struct copies. */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
__attribute__((visibility("hidden"))) void *memcpy(void *d, const void *s, size_t n)
{
    char *dd = d;
    const char *ss = s;
    while (n--) *dd++ = *ss++;
    return d;
}
__attribute__((visibility("hidden"))) void *memset(void *d, int c, size_t n)
{
    char *dd = d;
    while (n--) *dd++ = (char)c;
    return d;
}

static size_t slen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

static void put_num(char *b, size_t *i, long v)
{
    char t[24];
    int k = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do { t[k++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) b[(*i)++] = '-';
    while (k) b[(*i)++] = t[--k];
}

static void put_hex(char *b, size_t *i, uint64_t v)
{
    char t[20];
    int k = 0;
    do { t[k++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    b[(*i)++] = '0'; b[(*i)++] = 'x';
    while (k) b[(*i)++] = t[--k];
}

__attribute__((noreturn)) static void die(const char *what, uint64_t addr, long err)
{
    char b[256];
    size_t i = 0;
    const char *p = "ckpt-restore: fatal after the point of no return: ";
    for (size_t k = 0; k < slen(p); k++) b[i++] = p[k];
    for (size_t k = 0; k < slen(what) && i < 180; k++) b[i++] = what[k];
    b[i++] = ' ';
    put_hex(b, &i, addr);
    b[i++] = ' ';
    put_num(b, &i, err);
    b[i++] = '\n';
    sys3(NR_write, 2, b, i);
    sys1(NR_exit_group, 126);
    __builtin_unreachable();
}

/* Enter a saved resume context: ck_ctx_save() returns 1 there. */
__attribute__((noreturn)) static void enter(const uint64_t *ctx)
{
    __asm__ volatile(
        "movq 0(%0), %%rbx\n\t"
        "movq 8(%0), %%rbp\n\t"
        "movq 16(%0), %%r12\n\t"
        "movq 24(%0), %%r13\n\t"
        "movq 32(%0), %%r14\n\t"
        "movq 40(%0), %%r15\n\t"
        "movq 48(%0), %%rsp\n\t"
        "movl $1, %%eax\n\t"
        "jmpq *56(%0)\n\t"
        : : "r"(ctx) : "memory");
    __builtin_unreachable();
}

static void prepare_thread(struct rs_args *a, struct rs_thread *t, int tid)
{
    if (!a->same_ids && a->tid_offset > 0 && t->fs)
        *(volatile int32_t *)(t->fs + (uint64_t)a->tid_offset) = tid;
    sys4(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, &t->mask, 0, 8);
}

/* Child side of clone3: runs on the thread's temporary stack. */
__attribute__((noreturn, used)) static void thread_entry(struct rs_args *a, struct rs_thread *t)
{
    long tid;
    __asm__ volatile("syscall" : "=a"(tid) : "a"(186L) : "rcx", "r11", "memory"); /* gettid */
    prepare_thread(a, t, (int)tid);
    __atomic_add_fetch(&a->started, 1, __ATOMIC_SEQ_CST);
    enter(t->ctx);
}

struct clone_args3 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

/* clone3 returns in the child on the new stack with all other registers equal;
 * rdi/rsi (a, t) survive the syscall, so the child can call thread_entry. */
static long spawn(struct rs_args *a, struct rs_thread *t, struct clone_args3 *ca)
{
    long ret;
    register long rdi __asm__("rdi") = (long)ca;
    register long rsi __asm__("rsi") = sizeof(*ca);
    register long r12 __asm__("r12") = (long)a;
    register long r13 __asm__("r13") = (long)t;
    __asm__ volatile(
        "syscall\n\t"
        "testq %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "movq %%r12, %%rdi\n\t"
        "movq %%r13, %%rsi\n\t"
        "andq $-16, %%rsp\n\t"
        "call thread_entry\n\t"
        "ud2\n\t"
        "1:\n\t"
        : "=a"(ret)
        : "a"((long)NR_clone3), "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
        : "rcx", "r11", "memory");
    return ret;
}

#define CLONE_VM 0x100
#define CLONE_FS 0x200
#define CLONE_FILES 0x400
#define CLONE_SIGHAND 0x800
#define CLONE_THREAD 0x10000
#define CLONE_SYSVSEM 0x40000
#define CLONE_SETTLS 0x80000
#define CLONE_CHILD_CLEARTID 0x200000

__attribute__((section(".text.pie_entry"), noreturn, used))
void pie_restore(struct rs_args *a)
{
    long r;
    for (uint64_t i = 0; i < a->nunmap; i++) {
        r = sys2(NR_munmap, a->unmap[i].addr, a->unmap[i].len);
        if (r < 0) die("munmap", a->unmap[i].addr, r);
    }
    /* vdso family: first all to the spare slot area, then to their places. */
    uint64_t spare = a->spare;
    for (uint64_t i = 0; i < a->nspecial; i++) {
        struct rs_region *s = &a->special[i];
        if (s->src == s->dst) continue;
        r = sys5(NR_mremap, s->src, s->len, s->len, MREMAP_MAYMOVE | MREMAP_FIXED, spare);
        if (r < 0) die("mremap vdso to spare", s->src, r);
        s->src = spare;
        spare += s->len;
    }
    for (uint64_t i = 0; i < a->nspecial; i++) {
        struct rs_region *s = &a->special[i];
        if (s->src == s->dst) continue;
        r = sys5(NR_mremap, s->src, s->len, s->len, MREMAP_MAYMOVE | MREMAP_FIXED, s->dst);
        if (r < 0) die("mremap vdso", s->dst, r);
    }
    for (uint64_t i = 0; i < a->nregions; i++) {
        struct rs_region *g = &a->regions[i];
        if (g->move) {
            r = sys5(NR_mremap, g->src, g->len, g->len, MREMAP_MAYMOVE | MREMAP_FIXED, g->dst);
            if (r < 0) die("mremap", g->dst, r);
        }
        r = sys3(NR_mprotect, g->dst, g->len, g->prot);
        if (r < 0) die("mprotect", g->dst, r);
    }
    if (a->has_mm) {
        a->mm.auxv = (uint64_t)a->auxv;
        r = sys5(NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &a->mm, sizeof a->mm, 0);
        if (r < 0 && a->mm.exe_fd != (uint32_t)-1) {
            a->mm.exe_fd = (uint32_t)-1;  /* not allowed to change exe: keep the rest */
            r = sys5(NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &a->mm, sizeof a->mm, 0);
        }
        if (r < 0) {
            static const char msg[] = "ckpt-restore: warning: cannot restore brk/argv layout (PR_SET_MM_MAP)\n";
            sys3(NR_write, 2, msg, sizeof msg - 1);
        }
    }
    if (a->exe_fd >= 0) sys1(NR_close, a->exe_fd);
    sys2(NR_prctl, PR_SET_NAME, a->comm);

    struct { long s, ns; } ts;
    sys2(NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
    a->resume.jump_ns = (uint64_t)ts.s * 1000000000ull + (uint64_t)ts.ns;
    if (a->resume_addr) {
        volatile struct ck_resume *res = (volatile struct ck_resume *)a->resume_addr;
        if (res->magic == CK_RESUME_MAGIC) {
            uint32_t gen = res->generation + 1;
            memcpy((void *)a->resume_addr, &a->resume, sizeof a->resume);
            res->generation = gen;
        }
    }

    struct rs_thread *leader = 0;
    for (uint64_t i = 0; i < a->nthreads; i++) {
        struct rs_thread *t = &a->threads[i];
        if (t->leader) { leader = t; continue; }
        struct clone_args3 ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                   CLONE_SYSVSEM | CLONE_SETTLS | (t->ctid ? CLONE_CHILD_CLEARTID : 0);
        ca.child_tid = t->ctid;
        ca.stack = t->stack - 65536;
        ca.stack_size = 65536;
        ca.tls = t->fs;
        int64_t want = t->tid;
        if (a->same_ids) { ca.set_tid = (uint64_t)&want; ca.set_tid_size = 1; }
        r = spawn(a, t, &ca);
        if (r < 0) die("clone3 thread", (uint64_t)t->tid, r);
    }
    if (!leader) die("no leader thread", 0, 0);
    if (leader->ctid) sys1(NR_set_tid_address, leader->ctid);
    long mytid;
    __asm__ volatile("syscall" : "=a"(mytid) : "a"(186L) : "rcx", "r11", "memory");
    /* The leader still runs on the launcher's TLS, which is gone. */
    r = sys2(158 /* arch_prctl */, 0x1002 /* ARCH_SET_FS */, leader->fs);
    if (r < 0) die("arch_prctl(ARCH_SET_FS)", leader->fs, r);
    prepare_thread(a, leader, (int)mytid);
    enter(leader->ctx);
}
