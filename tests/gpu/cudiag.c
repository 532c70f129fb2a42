/*
 * cudiag.c - what a CUDA process looks like while the driver holds it
 * checkpointed (GPU validation, run.sh): Lock + Checkpoint on itself, then the
 * descriptors (with the unix-socket table entries they name), the threads
 * (comm, the system call each one waits in) and the /dev/nvidia* mappings are
 * printed, before, during and after; then Restore + Unlock and a data check.
 *   cudiag
 */
#include <cuda.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CK(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { const char *s_ = "?"; \
    cuGetErrorName(r_, &s_); fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, s_); exit(1); } } while (0)

static double ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void cat_matching(const char *path, const char *needle, const char *prefix)
{
    FILE *f = fopen(path, "r");
    char l[1024];
    if (!f) return;
    while (fgets(l, sizeof l, f))
        if (!needle || strstr(l, needle)) printf("%s%s", prefix, l);
    fclose(f);
}

static void dump(const char *what)
{
    printf("==== %s\n", what);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char p[256], t[256];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, t, sizeof t - 1);
        if (n < 0) continue;
        t[n] = 0;
        printf("fd %s -> %s\n", e->d_name, t);
        unsigned long ino;
        if (sscanf(t, "socket:[%lu]", &ino) == 1) {
            char needle[32];
            snprintf(needle, sizeof needle, " %lu ", ino);
            cat_matching("/proc/net/unix", needle, "   unix: ");
        }
        if (!strncmp(t, "anon_inode", 10) || !strncmp(t, "socket", 6)) {
            snprintf(p, sizeof p, "/proc/self/fdinfo/%s", e->d_name);
            cat_matching(p, NULL, "   ");
        }
    }
    if (d) closedir(d);
    d = opendir("/proc/self/task");
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char comm[64] = "", sc[256] = "", wc[64] = "";
        FILE *f;
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        if ((f = fopen(p, "r"))) { if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0; fclose(f); }
        snprintf(p, sizeof p, "/proc/self/task/%s/syscall", e->d_name);
        if ((f = fopen(p, "r"))) { if (fgets(sc, sizeof sc, f)) sc[strcspn(sc, "\n")] = 0; fclose(f); }
        snprintf(p, sizeof p, "/proc/self/task/%s/wchan", e->d_name);
        if ((f = fopen(p, "r"))) { if (fgets(wc, sizeof wc, f)) {} fclose(f); }
        printf("task %s %-16s wchan=%s syscall=%s\n", e->d_name, comm, wc, sc);
    }
    if (d) closedir(d);
    cat_matching("/proc/self/maps", "/dev/nv", "map ");
    fflush(stdout);
}

int main(void)
{
    CUdevice dev;
    CUcontext ctx;
    CUdeviceptr b;
    const size_t n = 64 << 20;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuMemAlloc(&b, n));
    CK(cuMemsetD32(b, 0x12345678u, n / 4));
    CK(cuCtxSynchronize());
    dump("running");
    int pid = getpid(), st = -1, rtid = -1;
    CK(cuCheckpointProcessGetRestoreThreadId(pid, &rtid));
    printf("restore thread id %d\n", rtid);
    CUcheckpointLockArgs la;
    memset(&la, 0, sizeof la);
    la.timeoutMs = 10000;
    double t0 = ms();
    CK(cuCheckpointProcessLock(pid, &la));
    double t1 = ms();
    CK(cuCheckpointProcessCheckpoint(pid, NULL));
    double t2 = ms();
    CK(cuCheckpointProcessGetState(pid, (CUprocessState *)&st));
    printf("lock %.1f ms, checkpoint %.1f ms, state %d\n", t1 - t0, t2 - t1, st);
    CK(cuCheckpointProcessGetRestoreThreadId(pid, &rtid));
    printf("restore thread id (checkpointed) %d\n", rtid);
    dump("checkpointed");
    t0 = ms();
    CK(cuCheckpointProcessRestore(pid, NULL));
    t1 = ms();
    CK(cuCheckpointProcessUnlock(pid, NULL));
    t2 = ms();
    printf("restore %.1f ms, unlock %.1f ms\n", t1 - t0, t2 - t1);
    dump("restored");
    unsigned *h = malloc(n);
    CK(cuMemcpyDtoH(h, b, n));
    for (size_t i = 0; i < n / 4; i++)
        if (h[i] != 0x12345678u) { printf("RESULT bad at %zu\n", i); return 1; }
    printf("RESULT ok\n");
    return 0;
}
