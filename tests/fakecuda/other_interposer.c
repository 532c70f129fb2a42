/*
 * other_interposer.c - a second, independent LD_PRELOAD interposer of
 * cuMemAlloc_v2 written the usual way (dlsym(RTLD_NEXT) on first use), to
 * check that libckpt's dlsym resolves RTLD_NEXT relative to *this* library:
 * in either preload order both interposers must see every call, without
 * recursion.  Prints its count at exit.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*alloc_fn)(unsigned long long *, size_t);
static unsigned long calls;
static __thread int depth;

__attribute__((visibility("default"))) int cuMemAlloc_v2(unsigned long long *p, size_t n)
{
    static alloc_fn next;
    if (!next) next = (alloc_fn)dlsym(RTLD_NEXT, "cuMemAlloc_v2");
    if (!next) { fprintf(stderr, "other: no next cuMemAlloc_v2\n"); return 999; }
    if (++depth > 1) { fprintf(stderr, "other: recursion detected\n"); _exit(99); }
    calls++;
    int r = next(p, n);
    depth--;
    return r;
}

__attribute__((destructor)) static void report(void)
{
    fprintf(stderr, "other: cuMemAlloc_v2 calls=%lu\n", calls);
}
