/*
 * nextplugin.c - a dlopen()ed library that looks up "the next" definitions
 * (RTLD_NEXT from an object outside the start-up set: glibc searches that
 * object's own dependency scope), for cuda_rtldnext_dl.
 */
#include <dlfcn.h>
#include <stddef.h>

__attribute__((visibility("default"))) void *plugin_next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

__attribute__((visibility("default"))) void *plugin_vnext(const char *name, const char *ver)
{
    return dlvsym(RTLD_NEXT, name, ver);
}
