/*
 * cuda_fork.c - a CUDA program that forks: the child (like a PyTorch
 * DataLoader worker) inherits the preload but must see pure pass-through
 * hooks; the parent keeps working.  The child also tries one allocation,
 * which the driver refuses in a forked child (the fake, like the real one,
 * returns CUDA_ERROR_NOT_INITIALIZED).
 */
#include "tests/cudaprogs/cuprog.h"
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    ckcu_device_t dev;
    ckcu_ctx_t ctx;
    ckcu_deviceptr_t a, b;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuMemAlloc_v2(&a, 1 << 20));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ckcu_deviceptr_t c;
        int r = cuMemAlloc_v2(&c, 4096);
        printf("child alloc rc=%d\n", r);
        exit(r == CKCU_ERROR_NOT_INITIALIZED ? 0 : 1);  /* exit(): runs the exit-time dump */
    }
    int st;
    waitpid(pid, &st, 0);
    CK(cuMemAlloc_v2(&b, 1 << 20));
    unsigned v = 7, w = 0;
    CK(cuMemcpyHtoD_v2(b, &v, 4));
    CK(cuMemcpyDtoH_v2(&w, b, 4));
    printf("child status=%d parent copy=%u\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, w);
    printf("RESULT %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 && w == 7 ? "ok" : "FAIL");
    return 0;
}
