/*
 * cuda_preflight.c - before ckpt-restore turns itself into a CUDA program:
 * is every GPU the checkpoint used present, with room for its memory?
 *
 * A failed cuCheckpointProcessRestore leaves the driver unable to restore that
 * process at all (later attempts get error 304), and by then ckpt-restore has
 * already become the program.  So the question is asked here, while a refusal
 * is still a one-line message and exit status 1, through NVML (found at run
 * time; without it nothing is checked).  NVML runs in a child process: its
 * threads and its driver handles must not become part of the program.
 */
#include "cuda_hooks/cuda_state.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int ck_cuda_preflight(const void *payload, size_t len, char *why, size_t whylen);

typedef int (*nvml_init_fn)(void);
typedef int (*nvml_by_uuid_fn)(const char *, void **);
typedef int (*nvml_meminfo_fn)(void *, void *);
struct nvml_mem { unsigned long long total, free, used; };

/* In the child: 0, -ENODEV or -ENOMEM with the reason in why. */
static int check(const void *payload, char *why, size_t whylen)
{
    const char *b = payload;
    const ckcu_img_header *h = payload;
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return 0;
    nvml_init_fn init = (nvml_init_fn)dlsym(lib, "nvmlInit_v2");
    nvml_by_uuid_fn by_uuid = (nvml_by_uuid_fn)dlsym(lib, "nvmlDeviceGetHandleByUUID");
    nvml_meminfo_fn meminfo = (nvml_meminfo_fn)dlsym(lib, "nvmlDeviceGetMemoryInfo");
    if (!init || !by_uuid || !meminfo || init() != 0) return 0;
    for (uint32_t d = 0; d < h->ndevices; d++) {
        const ckcu_img_device *dv = (const void *)(b + h->header_size + (size_t)d * h->device_size);
        uint64_t need = 0;
        for (uint32_t i = 0; i < h->nrecords; i++) {
            const ckcu_img_record *r = (const void *)(b + h->records_off + (size_t)i * h->record_size);
            if (r->device == dv->ordinal && (r->kind == CKCU_K_ALLOC || r->kind == CKCU_K_VMM_HANDLE))
                need += r->size;
        }
        const uint8_t *u = dv->uuid;
        char id[64];
        snprintf(id, sizeof id,
                 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                 u[14], u[15]);
        void *dev = NULL;
        struct nvml_mem m = { 0, 0, 0 };
        if (by_uuid(id, &dev) != 0) {
            snprintf(why, whylen, "CUDA restore refused: GPU %s (device %d at the checkpoint) is not present",
                     id, dv->ordinal);
            return -ENODEV;
        }
        if (meminfo(dev, &m) == 0 && m.free < need) {
            snprintf(why, whylen,
                     "CUDA restore refused: GPU %d has %llu MiB free, the checkpoint needs %llu MiB "
                     "(a failed restore would leave the process unusable)",
                     dv->ordinal, m.free >> 20, (unsigned long long)((need + (1u << 20) - 1) >> 20));
            return -ENOMEM;
        }
    }
    return 0;
}

/* 0: go on (also when nothing can be checked); <0: refused, why says so. */
int ck_cuda_preflight(const void *payload, size_t len, char *why, size_t whylen)
{
    if (ckcu_img_check(payload, len) < 0) return 0;       /* the restore will report it */
    if (!(((const ckcu_img_header *)payload)->flags & CKCU_IF_DRIVER_CKPT)) return 0;
    int p[2];
    if (pipe(p) < 0) return 0;
    pid_t c = fork();
    if (c < 0) { close(p[0]); close(p[1]); return 0; }
    if (c == 0) {
        close(p[0]);
        char w[512] = "";
        int r = check(payload, w, sizeof w);
        if (r < 0 && write(p[1], w, strlen(w)) < 0) _exit(3);
        _exit(r == -ENODEV ? 1 : r == -ENOMEM ? 2 : 0);
    }
    close(p[1]);
    ssize_t n = 0, k;
    while (n < (ssize_t)whylen - 1 && (k = read(p[0], why + n, whylen - 1 - (size_t)n)) > 0) n += k;
    why[n] = 0;
    close(p[0]);
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st)) return 0;                        /* NVML crashed: nothing known */
    return WEXITSTATUS(st) == 1 ? -ENODEV : WEXITSTATUS(st) == 2 ? -ENOMEM : 0;
}
