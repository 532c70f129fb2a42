/*
 * cuda_rtldnext_dl.c - RTLD_NEXT seen from several callers, printed so that a
 * run under libckpt can be compared with a plain run (they must agree):
 * the main program, and a dlopen()ed plugin (libnextplugin.so) whose next
 * definitions come from its own dependency scope.  A failed lookup must leave
 * a dlerror() message, as glibc does.
 *   cuda_rtldnext_dl PLUGIN
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *where(void *p)
{
    Dl_info di;
    if (!p) return "NULL";
    if (!dladdr(p, &di) || !di.dli_fname) return "?";
    const char *b = strrchr(di.dli_fname, '/');
    return b ? b + 1 : di.dli_fname;
}

int main(int argc, char **argv)
{
    void *h = dlopen(argc > 1 ? argv[1] : "libnextplugin.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    void *(*next)(const char *) = (void *(*)(const char *))dlsym(h, "plugin_next");
    void *(*vnext)(const char *, const char *) =
        (void *(*)(const char *, const char *))dlsym(h, "plugin_vnext");
    printf("main next malloc -> %s\n", where(dlsym(RTLD_NEXT, "malloc")));
    printf("plugin next malloc -> %s\n", where(next("malloc")));
    printf("plugin next strlen -> %s\n", where(next("strlen")));
    printf("plugin vnext memcpy@GLIBC_2.14 -> %s\n", where(vnext("memcpy", "GLIBC_2.14")));
    dlerror();
    void *none = next("no_such_symbol_anywhere");
    const char *e = dlerror();
    printf("plugin next missing -> %s, dlerror %s\n", where(none), e ? "set" : "unset");
    return 0;
}
