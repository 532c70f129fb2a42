/*
 * fakenvml.c - a fake libnvidia-ml.so.1 with the four calls cuda_hooks' restore
 * preflight uses, describing the fake driver's devices: UUID GPU-f0f1f2f3-...
 * for device 0 (as fakecuda's cuDeviceGetUuid), free memory from
 * FAKENVML_FREE_MB (default 1024).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API __attribute__((visibility("default")))
struct nvml_mem { unsigned long long total, free, used; };
static int dev0;

API int nvmlInit_v2(void) { return 0; }
API int nvmlShutdown(void) { return 0; }

API int nvmlDeviceGetHandleByUUID(const char *uuid, void **dev)
{
    char want[64];
    unsigned char u[16];
    for (int i = 0; i < 16; i++) u[i] = (unsigned char)(0xf0 + i);
    snprintf(want, sizeof want, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
    if (!uuid || strcmp(uuid, want)) return 13;      /* NVML_ERROR_NOT_FOUND */
    *dev = &dev0;
    return 0;
}

API int nvmlDeviceGetMemoryInfo(void *dev, struct nvml_mem *m)
{
    const char *s = getenv("FAKENVML_FREE_MB");
    if (dev != &dev0 || !m) return 2;                 /* NVML_ERROR_INVALID_ARGUMENT */
    m->total = 256ull << 20;
    m->free = (unsigned long long)(s ? atoll(s) : 1024) << 20;
    m->used = 0;
    return 0;
}
