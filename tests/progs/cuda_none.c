/*
 * cuda_none.c - a program that never uses CUDA, run under libckpt with a CUDA
 * driver available: the CUDA hooks must stay inert (libcuda never loaded),
 * dlsym must behave exactly as without the preload (including a probe for a
 * driver symbol through RTLD_DEFAULT, which must find nothing).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    void *init = dlsym(RTLD_DEFAULT, "cuInit");
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    void *n = dlsym(RTLD_NEXT, "malloc");
    void *v = dlvsym(RTLD_DEFAULT, "memcpy", "GLIBC_2.14");
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int mapped = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libcuda")) mapped = 1;
    if (f) fclose(f);
    printf("cuInit=%s malloc=%s next_malloc=%s memcpy@GLIBC_2.14=%s libcuda_mapped=%d\n",
           init ? "found" : "null", m ? "found" : "null", n ? "found" : "null",
           v ? "found" : "null", mapped);
    return 0;
}
