/*
 * dontfork.c - memory the program keeps out of its children (MADV_DONTFORK,
 * MADV_WIPEONFORK), taken into the writer's fork all the same.
 *
 * The writer is a fork of the stopped program: a mapping the program marked
 * MADV_DONTFORK is absent from it and one marked MADV_WIPEONFORK reads as
 * zeros, so their contents would be lost (V8, and so Node.js, marks its heap
 * this way; RDMA libraries mark registered buffers).  libckpt's madvise()
 * notes that the program asked for either; from then on, in the pause, the
 * manager lists the mappings that carry the flags (/proc/self/smaps VmFlags
 * "dc", "wf"), clears the flags for the fork of the writer and sets them
 * again at once after it.  A restored process sets them again too (the list
 * is in the image, as the pause left it).  A program that never asks pays
 * nothing.
 */
#include "preload/internal.h"
#include "preload/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define CK_MAX_DF 4096

static struct { uint64_t start, end; int wipe; } df[CK_MAX_DF];
static int ndf;
static volatile int asked;

typedef int (*madvise_fn)(void *, size_t, int);
static madvise_fn real_madvise;

__attribute__((visibility("default")))
int madvise(void *addr, size_t len, int advice)
{
    if (advice == MADV_DONTFORK || advice == MADV_WIPEONFORK) asked = 1;
    if (!real_madvise) real_madvise = (madvise_fn)ck_real_dlsym(RTLD_NEXT, "madvise");
    if (!real_madvise) {
        long r = ck_sys3(SYS_madvise, addr, len, advice);
        if (r < 0) { errno = (int)-r; return -1; }
        return 0;
    }
    return real_madvise(addr, len, advice);
}

/* In the pause, before the staging copy (which marks its own mappings). */
void ck_dontfork_clear(void)
{
    ndf = 0;
    if (!asked) return;
    size_t cap;
    long n;
    char *buf = ck_read_file_mapped("/proc/self/smaps", &cap, &n);
    if (!buf) return;
    uint64_t start = 0, end = 0;
    int lost = 0;
    for (const char *s = buf; n > 0 && *s;) {
        const char *line = s;
        while (*s && *s != '\n') s++;
        if (*s) s++;
        if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
            const char *p = line;
            uint64_t a = ck_parse_hex(&p);
            if (*p == '-') { p++; start = a; end = ck_parse_hex(&p); }
            continue;
        }
        if (strncmp(line, "VmFlags:", 8)) continue;
        int dc = 0, wf = 0;
        for (const char *p = line + 8; p < s; p++) {
            if (p[0] == ' ' && p[1] == 'd' && p[2] == 'c' && (p[3] == ' ' || p[3] == '\n')) dc = 1;
            if (p[0] == ' ' && p[1] == 'w' && p[2] == 'f' && (p[3] == ' ' || p[3] == '\n')) wf = 1;
        }
        if (!dc && !wf) continue;
        if (ndf == CK_MAX_DF) { lost++; continue; }
        if (dc) {
            df[ndf].start = start; df[ndf].end = end; df[ndf].wipe = 0;
            if (ck_sys3(SYS_madvise, start, end - start, MADV_DOFORK) == 0) ndf++;
        }
        if (wf && ndf < CK_MAX_DF) {
            df[ndf].start = start; df[ndf].end = end; df[ndf].wipe = 1;
            if (ck_sys3(SYS_madvise, start, end - start, MADV_KEEPONFORK) == 0) ndf++;
        }
    }
    ck_sys2(SYS_munmap, buf, cap);
    if (lost) ck_warn("%d mappings kept from forks are not in the checkpoint (more than %d)", lost, CK_MAX_DF);
}

/* Once the writer is forked: the program's flags back. */
void ck_dontfork_restore(void)
{
    for (int i = 0; i < ndf; i++)
        ck_sys3(SYS_madvise, df[i].start, df[i].end - df[i].start, df[i].wipe ? MADV_WIPEONFORK : MADV_DONTFORK);
    ndf = 0;
}
