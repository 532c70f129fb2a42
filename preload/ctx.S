/* ck_ctx_save(struct ck_ctx *c): see preload/sys.h.  Returns 0; returns 1 when
 * a restored thread is entered at the saved point. */
    .text
    .globl ck_ctx_save
    .hidden ck_ctx_save
    .type ck_ctx_save, @function
ck_ctx_save:
    movq %rbx, 0(%rdi)
    movq %rbp, 8(%rdi)
    movq %r12, 16(%rdi)
    movq %r13, 24(%rdi)
    movq %r14, 32(%rdi)
    movq %r15, 40(%rdi)
    leaq 8(%rsp), %rdx
    movq %rdx, 48(%rdi)
    movq (%rsp), %rdx
    movq %rdx, 56(%rdi)
    xorl %eax, %eax
    ret
    .size ck_ctx_save, .-ck_ctx_save

/* long ck_clone_writer(void *stack_top, void (*fn)(void)):
 * fork (raw clone, no exit signal) with the child on its own stack, calling
 * fn there: the parent's stacks stay exactly as they were at the fork, so the
 * child can save them while it runs.  Returns the child's pid or -errno. */
    .text
    .globl ck_clone_writer
    .hidden ck_clone_writer
    .type ck_clone_writer, @function
ck_clone_writer:
    movq %rsi, %r9
    movq %rdi, %rsi
    xorl %edi, %edi
    xorl %edx, %edx
    xorl %r10d, %r10d
    xorl %r8d, %r8d
    movl $56, %eax
    syscall
    testq %rax, %rax
    jnz 1f
    andq $-16, %rsp
    callq *%r9
    ud2
1:  ret
    .size ck_clone_writer, .-ck_clone_writer

/* long ck_clone_thread(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg):
 * a raw clone whose child calls fn(arg) on stack_top and exits with its
 * result (SYS_exit: only that thread).  Used for the writer's compression
 * workers, which share the writer's address space and TLS and call nothing
 * that touches TLS.  Returns the child's tid or -errno. */
    .globl ck_clone_thread
    .hidden ck_clone_thread
    .type ck_clone_thread, @function
ck_clone_thread:
    subq $16, %rsi
    movq %rcx, 8(%rsi)
    movq %rdx, 0(%rsi)
    xorl %edx, %edx
    xorl %r10d, %r10d
    xorl %r8d, %r8d
    movl $56, %eax
    syscall
    testq %rax, %rax
    jnz 2f
    popq %rax
    popq %rdi
    andq $-16, %rsp
    callq *%rax
    movl %eax, %edi
    movl $60, %eax
    syscall
    ud2
2:  ret
    .size ck_clone_thread, .-ck_clone_thread

/* ck_sigreturn: the restorer of the signal handlers libckpt installs with raw
 * rt_sigaction (x86-64 requires SA_RESTORER). */
    .globl ck_sigreturn
    .hidden ck_sigreturn
    .type ck_sigreturn, @function
ck_sigreturn:
    movl $15, %eax
    syscall
    ud2
    .size ck_sigreturn, .-ck_sigreturn
    .section .note.GNU-stack,"",@progbits
