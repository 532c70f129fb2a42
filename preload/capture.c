/*
 * capture.c - what the writer saves, and how.
 *
 * ck_capture_fds() runs in the manager while the world is stopped: file
 * offsets are shared with the running program after the fork, so they must be
 * read before it is released.  Everything else is read by the writer, a
 * raw-fork()ed copy of the stopped process: its memory, maps and most kernel
 * state are those of the instant of the fork.
 *
 * The writer is single-threaded and may not take any lock the program could
 * have held at the fork (malloc arenas, stdio, the loader lock): it allocates
 * from an mmap arena, reads /proc with raw open/read, and hands zstd a custom
 * allocator.  It exits 0 when the checkpoint is durable and `latest` names it,
 * 2 after logging a failure (nothing named `latest` changed), and never touches
 * the previous checkpoint.
 *
 * Memory policy, per mapping (FORMAT.md, "what is stored"):
 *  - private anonymous (heap, stacks, anonymous mmap): present pages that are
 *    not all zero; never-touched and zero pages are left out;
 *  - private file-backed (code, data, mmap of files): only pages that diverged
 *    from the file (pagemap's file-page bit clear); the rest is mapped from the
 *    file again at restore (CKPT_FULL=1 stores every present page);
 *  - shared file-backed: nothing (the file holds it);
 *  - shared anonymous / memfd / SysV: present non-zero pages;
 *  - [vdso] [vvar] [vvar_vclock]: position only; [vsyscall], device mappings
 *    (e.g. /dev/nvidia*): recorded, not stored.
 */
#include "preload/internal.h"
#include "preload/log.h"
#include "format/ckf.h"
#include "format/ckc.h"
#include "cuda_hooks/cuda_ckpt.h"
#include "include/ckpt.h"
#include "preload/backtrace.h"
#include "preload/staging.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ull
#define PM_PRESENT (1ull << 63)
#define PM_SWAP    (1ull << 62)
#define PM_FILE    (1ull << 61)

/* ---- regions registered through the public API -------------------------------------- */
#define CK_MAX_REGIONS 64
static struct { uint64_t addr, len; char name[64]; } regions[CK_MAX_REGIONS];

__attribute__((visibility("default")))
int ckpt_register_region(const char *name, const void *addr, size_t len)
{
    for (int i = 0; i < CK_MAX_REGIONS; i++)
        if (!regions[i].addr || regions[i].addr == (uint64_t)addr) {
            regions[i].len = len;
            strncpy(regions[i].name, name ? name : "", sizeof regions[i].name - 1);
            __atomic_store_n(&regions[i].addr, (uint64_t)addr, __ATOMIC_RELEASE);
            return 0;
        }
    errno = ENOSPC;
    return -1;
}

__attribute__((visibility("default")))
int ckpt_unregister_region(const void *addr)
{
    for (int i = 0; i < CK_MAX_REGIONS; i++)
        if (regions[i].addr == (uint64_t)addr) { regions[i].addr = 0; return 0; }
    errno = ENOENT;
    return -1;
}

/* ---- small raw-I/O helpers (no libc state) ------------------------------------------ */

static int sys_open(const char *p, int flags, int mode)
{
    return (int)ck_sys4(SYS_openat, AT_FDCWD, p, flags | O_CLOEXEC, mode);
}

/* ---- file descriptors (in the manager, world stopped) -------------------------------- */

static struct ck_fdrec fdtab[CK_MAX_FDS];

static uint32_t classify_fd(const char *path, mode_t mode)
{
    if (S_ISREG(mode)) return strncmp(path, "/memfd:", 7) ? CKC_FD_REG : CKC_FD_MEMFD;
    if (S_ISDIR(mode)) return CKC_FD_DIR;
    if (S_ISFIFO(mode)) return strncmp(path, "pipe:", 5) ? CKC_FD_FIFO : CKC_FD_PIPE;
    if (S_ISSOCK(mode)) return CKC_FD_SOCKET;
    if (S_ISCHR(mode)) {
        if (!strncmp(path, "/dev/pts/", 9) || !strncmp(path, "/dev/tty", 8) ||
            !strcmp(path, "/dev/console"))
            return CKC_FD_TTY;
        return CKC_FD_CHR;
    }
    if (!strncmp(path, "anon_inode:[eventfd]", 20)) return CKC_FD_EVENTFD;
    if (!strncmp(path, "anon_inode:[eventpoll]", 22)) return CKC_FD_EPOLL;
    if (!strncmp(path, "anon_inode:[timerfd]", 20)) return CKC_FD_TIMERFD;
    if (!strncmp(path, "anon_inode:[signalfd]", 21)) return CKC_FD_SIGNALFD;
    return CKC_FD_OTHER;
}

static int capture_one_fd(void *arg, int fd, int dfd)
{
    int n = ck.nfds;
    if (fd == dfd || n >= CK_MAX_FDS || (ck_stg.pmfd > 0 && fd == ck_stg.pmfd) || (ck_stg.uffd > 0 && fd == ck_stg.uffd)) return 0;
    struct ck_fdrec *f = &fdtab[n];
    memset(f, 0, sizeof *f);
    f->rec.fd = fd;
    char p[64], info[2048];
    f->info[0] = 0;
    ck_snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    long l = ck_sys4(SYS_readlinkat, AT_FDCWD, p, f->path, sizeof f->path - 1);
    if (l < 0) return 0;
    f->path[l] = 0;
    struct stat st;
    if (ck_sys2(SYS_fstat, fd, &st) < 0) return 0;
    f->rec.kind = classify_fd(f->path, st.st_mode);
    f->rec.size = (uint64_t)st.st_size;
    f->rec.mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    f->rec.dev = st.st_dev;
    f->rec.ino = st.st_ino;
    f->rec.mode = st.st_mode;
    ck_snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
    if (ck_read_file(p, info, sizeof info) > 0) {
        for (const char *s = info; *s;) {
            if (!strncmp(s, "pos:", 4)) { s += 4; while (*s == ' ' || *s == '\t') s++; f->rec.pos = ck_parse_dec(&s); }
            else if (!strncmp(s, "flags:", 6)) {
                s += 6; while (*s == ' ' || *s == '\t') s++;
                uint64_t v = 0;
                while (*s >= '0' && *s <= '7') v = v * 8 + (uint64_t)(*s++ - '0');
                f->rec.open_flags = (uint32_t)v;
            } else if (!strncmp(s, "eventfd-count:", 14)) {
                s += 14; while (*s == ' ' || *s == '\t') s++;
                f->rec.aux = ck_parse_hex(&s);
            }
            while (*s && *s != '\n') s++;
            if (*s) s++;
        }
    }
    long fl = ck_sys2(SYS_fcntl, fd, F_GETFD);
    if (fl > 0 && (fl & FD_CLOEXEC)) f->rec.flags |= CKC_FD_CLOEXEC;
    if (f->path[0] != '/' || strstr(f->path, " (deleted)")) {
        if (strstr(f->path, " (deleted)")) f->rec.flags |= CKC_FD_DELETED;
    }
    if (fd == ck.evfd || fd >= 1000) f->rec.flags |= CKC_FD_INTERNAL;
    if (f->rec.kind == CKC_FD_PIPE) f->rec.aux = st.st_ino;
    if (f->rec.kind == CKC_FD_MEMFD) {
        long seals = ck_sys2(SYS_fcntl, fd, F_GET_SEALS);
        f->rec.reserved = seals > 0 ? (uint32_t)seals : 0;
    }
    if (f->rec.kind == CKC_FD_EPOLL || f->rec.kind == CKC_FD_TIMERFD || f->rec.kind == CKC_FD_SIGNALFD)
        memcpy(f->info, info, sizeof f->info);
    ck.nfds = n + 1;
    return 1;
}

/* An int-valued SOL_SOCKET option of fd, or -1. */
static int sock_int(int fd, int opt)
{
    int v = 0;
    unsigned len = sizeof v;
    return ck_sys5(SYS_getsockopt, fd, SOL_SOCKET, opt, &v, &len) < 0 ? -1 : v;
}

int ck_capture_fds(void)
{
    ck.nfds = 0;
    int r = ck_for_each_number("/proc/self/fd", capture_one_fd, NULL);
    if (r < 0) return r;
    int n = ck.nfds;
    /* Descriptors that share one open file (dup, 2>&1) must share it again. */
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++) {
            if (fdtab[j].rec.ino != fdtab[i].rec.ino || fdtab[j].rec.dev != fdtab[i].rec.dev ||
                (fdtab[j].rec.flags & CKC_FD_DUP))
                continue;
            long k = ck_sys5(SYS_kcmp, ck.pid, ck.pid, 0 /* KCMP_FILE */, fdtab[j].rec.fd, fdtab[i].rec.fd);
            int same = k == 0 ||
                       (k < 0 && fdtab[j].rec.pos == fdtab[i].rec.pos &&
                        fdtab[j].rec.open_flags == fdtab[i].rec.open_flags);
            if (same) {
                fdtab[i].rec.flags |= CKC_FD_DUP;
                fdtab[i].rec.aux = (uint64_t)fdtab[j].rec.fd;
                break;
            }
        }
    }
    /* A listening AF_UNIX socket (a service's, or the CUDA driver's
     * "@cuda-uvmfd-NETNS-PID@") is bound and listening again on restore;
     * connections accepted from it are not.  (Before the socketpair search:
     * a listener's SO_PEERCRED is its own process too.) */
    for (int i = 0; i < n; i++) {
        ckc_fd *a = &fdtab[i].rec;
        if (a->kind != CKC_FD_SOCKET || (a->flags & (CKC_FD_DUP | CKC_FD_SOCKPAIR))) continue;
        int typ;
        if (sock_int(a->fd, SO_DOMAIN) != AF_UNIX || sock_int(a->fd, SO_ACCEPTCONN) != 1 ||
            (typ = sock_int(a->fd, SO_TYPE)) < 0)
            continue;
        struct { unsigned short family; unsigned char path[108]; } sa;
        unsigned alen = sizeof sa;
        if (ck_sys3(SYS_getsockname, a->fd, &sa, &alen) < 0 || alen <= 2 || alen > sizeof sa) continue;
        char *o = fdtab[i].info;
        int k = ck_snprintf(o, sizeof fdtab[i].info, "unix-listen: ");
        for (unsigned b = 0; b < alen - 2; b++) {
            o[k++] = "0123456789abcdef"[sa.path[b] >> 4];
            o[k++] = "0123456789abcdef"[sa.path[b] & 15];
        }
        o[k++] = '\n';
        o[k] = 0;
        a->flags |= CKC_FD_LISTEN;
        a->reserved = (uint32_t)typ;
    }
    /* An AF_UNIX socketpair with both ends here (thread wake-ups, asyncio's
     * self-pipe) can be re-created: the peer is this process and the two
     * inodes were allocated one after the other by socketpair(). */
    for (int i = 0; i < n; i++) {
        ckc_fd *a = &fdtab[i].rec;
        if (a->kind != CKC_FD_SOCKET || (a->flags & (CKC_FD_DUP | CKC_FD_SOCKPAIR | CKC_FD_LISTEN))) continue;
        struct { int pid, uid, gid; } cred = { 0, 0, 0 };
        unsigned clen = sizeof cred;
        if (sock_int(a->fd, SO_DOMAIN) != AF_UNIX) continue;
        if (ck_sys5(SYS_getsockopt, a->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.pid != ck.pid) continue;
        int typ = sock_int(a->fd, SO_TYPE);
        if (typ < 0) typ = 0;
        for (int j = 0; j < n; j++) {
            ckc_fd *b = &fdtab[j].rec;
            if (j == i || b->kind != CKC_FD_SOCKET || (b->flags & (CKC_FD_DUP | CKC_FD_SOCKPAIR | CKC_FD_LISTEN))) continue;
            if (b->ino != a->ino + 1 && b->ino + 1 != a->ino) continue;
            struct { int pid, uid, gid; } c2 = { 0, 0, 0 };
            clen = sizeof c2;
            if (ck_sys5(SYS_getsockopt, b->fd, SOL_SOCKET, SO_PEERCRED, &c2, &clen) < 0 || c2.pid != ck.pid) continue;
            a->flags |= CKC_FD_SOCKPAIR; a->aux = (uint64_t)b->fd; a->reserved = (uint32_t)typ;
            b->flags |= CKC_FD_SOCKPAIR; b->aux = (uint64_t)a->fd; b->reserved = (uint32_t)typ;
            break;
        }
    }
    /* A pipe with both ends in this process can be re-created; mark them. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j && fdtab[i].rec.kind == CKC_FD_PIPE && fdtab[j].rec.kind == CKC_FD_PIPE &&
                !((fdtab[i].rec.flags | fdtab[j].rec.flags) & CKC_FD_DUP) &&
                fdtab[i].rec.aux == fdtab[j].rec.aux &&
                (fdtab[i].rec.open_flags & O_ACCMODE) != (fdtab[j].rec.open_flags & O_ACCMODE))
                fdtab[i].rec.flags |= CKC_FD_PIPE_SELF;
    ck.fds = fdtab;
    ck.nfds = n;
    return n;
}

/* ---- the writer's arena ------------------------------------------------------------- */

static char *arena, *arena_cur, *arena_end;

/* Bump allocation, lock-free: compression workers allocate their zstd
 * workspace on first use, concurrently with the writer thread. */
static void *arena_alloc(void *opaque, size_t size)
{
    (void)opaque;
    size = (size + 63) & ~(size_t)63;
    char *p = __atomic_fetch_add(&arena_cur, size, __ATOMIC_SEQ_CST);
    if (p + size > arena_end) return NULL;
    return p;
}
static void arena_free(void *opaque, void *p) { (void)opaque; (void)p; }
static const ckf_alloc arena_allocator = { arena_alloc, arena_free, NULL };

/* A growable byte buffer in the arena (for chunk payloads with strings). */
struct buf { char *p; size_t len, cap; };
static int buf_put(struct buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n) nc *= 2;
        char *np = arena_alloc(NULL, nc);
        if (!np) return -ENOMEM;
        if (b->len) memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}
static ckc_strref str_add(struct buf *strs, const char *s, size_t n)
{
    ckc_strref r = { (uint32_t)strs->len, (uint32_t)n };
    if (buf_put(strs, s, n) < 0) r.len = 0;
    return r;
}
static ckc_strref str_add0(struct buf *strs, const char *s) { return str_add(strs, s, strlen(s)); }

/* ---- maps ------------------------------------------------------------------------------ */

struct vma {
    ckc_vma v;
    char path[CK_PATH_MAX > 512 ? 512 : CK_PATH_MAX];
    int prot;
    int skip_data;      /* nothing to store */
    int staged;         /* contents in the staging area (staging.c): 1 + index */
};

static struct vma *vmas;
static int nvmas;

/* The writer's own arena and stack, and the staging area, are not part of
 * the program.  The kernel merges a new anonymous mapping with an adjacent
 * one of the same flags: the writer's stack (mapped by the program just
 * before the fork) or arena may share one line of the maps with a mapping of
 * the program, such as a thread's malloc arena.  So only the writer's own
 * ranges are cut out of a line, never the whole line.  m is the last entry of
 * vmas, with room for NOWN more after it; returns how many entries it became
 * (0 to NOWN + 1), in address order from m on. */
#define NOWN 5
static int drop_own(struct vma *m)
{
    uint64_t snap_lo, snap_hi;
    ck_shared_snapshot_area(&snap_lo, &snap_hi);
    const uint64_t own[NOWN][2] = {
        { (uint64_t)arena, (uint64_t)arena_end }, { ck.wstack, ck.wstack + ck.wstack_len },
        { ck_stg.base, ck_stg.base + ck_stg.cap }, { ck_stg.idx_base, ck_stg.idx_base + ck_stg.idx_cap },
        { snap_lo, snap_hi },
    };
    uint64_t r[NOWN + 1][2] = { { m->v.start, m->v.end } };
    int nr = 1;
    for (int i = 0; i < NOWN; i++) {
        uint64_t a = own[i][0], b = own[i][1];
        if (a >= b) continue;
        for (int k = 0; k < nr; k++) {
            if (r[k][1] <= a || r[k][0] >= b) continue;
            uint64_t lo = r[k][0], hi = r[k][1];
            if (lo < a && hi > b) {                 /* both sides remain: split */
                memmove(r[k + 2], r[k + 1], sizeof r[0] * (size_t)(nr - k - 1));
                r[k][1] = a;
                r[k + 1][0] = b; r[k + 1][1] = hi;
                nr++;
                k++;
            } else if (lo < a) {
                r[k][1] = a;
            } else if (hi > b) {
                r[k][0] = b;
            } else {                                /* all of it is the writer's */
                memmove(r[k], r[k + 1], sizeof r[0] * (size_t)(nr - k - 1));
                nr--;
                k--;
            }
        }
    }
    struct vma line = *m;
    for (int k = 0; k < nr; k++) {
        m[k] = line;
        m[k].v.start = r[k][0];
        m[k].v.end = r[k][1];
        if (line.v.flags & CKC_VMA_FILE) m[k].v.pgoff += r[k][0] - line.v.start;
    }
    return nr;
}

static int parse_maps(void)
{
    size_t cap = 1 << 20;
    char *buf;
    long n;
    for (;;) {
        buf = arena_alloc(NULL, cap);
        if (!buf) return -ENOMEM;
        n = ck_read_file("/proc/self/maps", buf, cap);
        if (n < 0) return (int)n;
        if ((size_t)n < cap - 1) break;
        cap *= 4;
    }
    int lines = 0;
    for (long i = 0; i < n; i++) lines += buf[i] == '\n';
    /* each of the writer's own ranges can split one line in two (drop_own) */
    vmas = arena_alloc(NULL, sizeof(struct vma) * (size_t)(lines + 1 + NOWN));
    if (!vmas) return -ENOMEM;
    nvmas = 0;
    for (const char *s = buf; *s;) {
        struct vma *m = &vmas[nvmas];
        memset(m, 0, sizeof *m);
        m->v.fileid = -1;
        m->v.start = ck_parse_hex(&s); s++;
        m->v.end = ck_parse_hex(&s); s++;
        uint32_t f = 0;
        if (s[0] == 'r') { f |= CKC_VMA_READ; m->prot |= PROT_READ; }
        if (s[1] == 'w') { f |= CKC_VMA_WRITE; m->prot |= PROT_WRITE; }
        if (s[2] == 'x') { f |= CKC_VMA_EXEC; m->prot |= PROT_EXEC; }
        if (s[3] == 's') f |= CKC_VMA_SHARED;
        s += 5;
        m->v.pgoff = ck_parse_hex(&s); s++;
        uint64_t maj = ck_parse_hex(&s); s++;
        uint64_t min = ck_parse_hex(&s); s++;
        m->v.dev = (maj << 8) | min;   /* old_encode_dev-style, informative */
        m->v.ino = ck_parse_dec(&s);
        while (*s == ' ') s++;
        size_t pl = 0;
        while (s[pl] && s[pl] != '\n') pl++;
        if (pl >= sizeof m->path) pl = sizeof m->path - 1;
        memcpy(m->path, s, pl);
        m->path[pl] = 0;
        s += pl;
        while (*s && *s != '\n') s++;
        if (*s) s++;

        const char *p = m->path;
        if (!strcmp(p, "[vsyscall]")) { f |= CKC_VMA_VSYSCALL; m->skip_data = 1; }
        else if (!strcmp(p, "[vdso]")) { f |= CKC_VMA_VDSO; m->skip_data = 1; }
        else if (!strcmp(p, "[vvar]")) { f |= CKC_VMA_VVAR; m->skip_data = 1; }
        else if (!strcmp(p, "[vvar_vclock]")) { f |= CKC_VMA_VVAR_VCLOCK; m->skip_data = 1; }
        else if (!strcmp(p, "[heap]")) f |= CKC_VMA_HEAP | CKC_VMA_ANON;
        else if (!strncmp(p, "[stack", 6)) f |= CKC_VMA_STACK | CKC_VMA_ANON;
        else if (p[0] == 0 || !strncmp(p, "[anon:", 6)) f |= CKC_VMA_ANON;
        else if (p[0] == '[') { f |= CKC_VMA_ANON; }
        else if (ck_path_contents_stored(p) || !strncmp(p, "/dev/shm/", 9)) {
            /* contents not recoverable from a file: store them */
            f |= CKC_VMA_ANON | CKC_VMA_DELETED;
            if (!strncmp(p, "/SYSV", 5)) f |= CKC_VMA_SYSV_SHM;
            if (!strncmp(p, "/dev/shm/", 9) && !strstr(p, " (deleted)")) {
                f &= ~(uint32_t)(CKC_VMA_ANON | CKC_VMA_DELETED);
                f |= CKC_VMA_FILE;
            }
        } else if (!strncmp(p, "/dev/", 5)) {
            f |= CKC_VMA_DEVICE;
            m->skip_data = 1;
        } else {
            f |= CKC_VMA_FILE;
        }
        if ((f & CKC_VMA_FILE) && (f & CKC_VMA_SHARED) && (f & CKC_VMA_WRITE) && ck_path_shared_saved(p))
            f |= CKC_VMA_SHARED_SAVED;
        m->v.flags = f;
        nvmas += drop_own(m);
    }
    return nvmas;
}

/* The mappings copied to the staging area are not mapped in the writer
 * (MADV_DONTFORK): put them back into the map, in address order. */
static int merge_staged(void)
{
    if (!ck_stg.nvmas) return 0;
    struct vma *all = arena_alloc(NULL, sizeof(struct vma) * (size_t)(nvmas + ck_stg.nvmas));
    if (!all) return -ENOMEM;
    int a = 0, b = 0, n = 0;
    while (a < nvmas || b < ck_stg.nvmas) {
        if (b >= ck_stg.nvmas || (a < nvmas && vmas[a].v.start < ck_stg.vmas[b].start)) {
            all[n++] = vmas[a++];
            continue;
        }
        const struct ck_stg_vma *sv = &ck_stg.vmas[b];
        struct vma *m = &all[n++];
        memset(m, 0, sizeof *m);
        m->v.start = sv->start;
        m->v.end = sv->end;
        m->v.fileid = -1;
        m->v.flags = CKC_VMA_READ | CKC_VMA_WRITE | CKC_VMA_ANON;
        if (!strcmp(sv->name, "[heap]")) m->v.flags |= CKC_VMA_HEAP;
        m->prot = PROT_READ | PROT_WRITE;
        memcpy(m->path, sv->name, sizeof sv->name);
        m->staged = b + 1;
        b++;
    }
    vmas = all;
    nvmas = n;
    return 0;
}

/* ---- file identities -------------------------------------------------------------- */

static ckc_fileid *fids;
static char (*fid_paths)[512];
static int nfids;

static void elf_build_id(int fd, ckc_fileid *id)
{
    Elf64_Ehdr eh;
    if (ck_sys4(SYS_pread64, fd, &eh, sizeof eh, 0) != sizeof eh) return;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64) return;
    if (eh.e_phnum == 0 || eh.e_phnum > 64 || eh.e_phentsize != sizeof(Elf64_Phdr)) return;
    Elf64_Phdr ph[64];
    size_t len = sizeof(Elf64_Phdr) * eh.e_phnum;
    if (ck_sys4(SYS_pread64, fd, ph, len, eh.e_phoff) != (long)len) return;
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > 4096) continue;
        char notes[4096];
        long n = ck_sys4(SYS_pread64, fd, notes, ph[i].p_filesz, ph[i].p_offset);
        for (long off = 0; off + 12 <= n;) {
            Elf64_Nhdr *nh = (Elf64_Nhdr *)(notes + off);
            long name_off = off + 12, desc_off = name_off + ((nh->n_namesz + 3) & ~3u);
            long next = desc_off + ((nh->n_descsz + 3) & ~3u);
            if (next > n) break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                !memcmp(notes + name_off, "GNU", 4) && nh->n_descsz <= 32) {
                memcpy(id->build_id, notes + desc_off, nh->n_descsz);
                id->build_id_len = nh->n_descsz;
                return;
            }
            off = next;
        }
    }
}

/* A quick content fingerprint: first and last 64 KiB (plus the size). */
static void file_hash(int fd, uint64_t size, uint8_t out[16])
{
    size_t cap = 128 * 1024;
    char *b = arena_alloc(NULL, cap);
    if (!b) return;
    size_t n1 = size < 65536 ? size : 65536;
    long r1 = ck_sys4(SYS_pread64, fd, b, n1, 0);
    long r2 = 0;
    if (size > 65536) {
        uint64_t off = size > 131072 ? size - 65536 : 65536;
        r2 = ck_sys4(SYS_pread64, fd, b + (r1 > 0 ? r1 : 0), size - off < 65536 ? size - off : 65536, off);
    }
    ckf_hash128(b, (size_t)((r1 > 0 ? r1 : 0) + (r2 > 0 ? r2 : 0)), out);
}

static int fileid_of(const char *path)
{
    for (int i = 0; i < nfids; i++)
        if (!strcmp(fid_paths[i], path)) return i;
    if (nfids >= 1024) return -1;
    int i = nfids;
    ckc_fileid *id = &fids[i];
    memset(id, 0, sizeof *id);
    strncpy(fid_paths[i], path, 511);
    fid_paths[i][511] = 0;
    int fd = sys_open(path, O_RDONLY, 0);
    if (fd < 0) return -1;
    struct stat st;
    if (ck_sys2(SYS_fstat, fd, &st) == 0) {
        id->size = (uint64_t)st.st_size;
        id->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        id->mode = st.st_mode;
        if (S_ISREG(st.st_mode)) {
            elf_build_id(fd, id);
            file_hash(fd, id->size, id->hash);
        }
    }
    ck_sys1(SYS_close, fd);
    nfids++;
    return i;
}

/* ---- memory ---------------------------------------------------------------------------- */

/*
 * Memory goes out in jobs of at most one container block (1 MiB, aligned to
 * the block size so that unchanged blocks line up between checkpoints).  For
 * anonymous memory a job spans from the first to the last non-zero present
 * page of its window: zero pages inside compress to almost nothing, and fewer,
 * larger blocks compress better and index smaller.  Private file mappings
 * store exact runs of diverged pages (any other page must come from the file).
 *
 * With workers, jobs are compressed by raw-clone()d threads of the writer
 * (sharing its memory; they call only the encoder, which touches no TLS and
 * takes no lock) and written in submission order by the writer thread.
 */
struct job {
    volatile int state;        /* 0 free, 1 queued, 2 done */
    int rc;
    uint64_t addr;
    size_t len;
    const void *data;
    char *copy;                /* shared memory is copied first: the program may change it */
    char *out;
    ckf_chunk_header hdr;
    /* set for an anonymous window trimmed by the worker (prepare_job) */
    struct vma *vma;
    uint64_t present[CKF_DEFAULT_BLOCK / PAGE / 64];   /* pagemap: page i present */
    int copy_first;            /* copy it before trimming (it may change meanwhile) */
    int empty;                 /* all zero after trimming: nothing to write */
    uint64_t zero_trimmed;     /* present zero pages dropped at its ends */
};
static void prepare_job(struct job *j);

/* Counts a written window job's bytes in its mapping. */
static void account(struct job *j)
{
    if (!j->vma) return;
    j->vma->v.zero_bytes += j->zero_trimmed;
    if (!j->empty) j->vma->v.stored_bytes += j->len;
    j->vma = NULL;
}

#define CK_MAX_WORKERS 8
static struct job *jobs;
static int njobs, nworkers;
static ckf_cctx *wcctx[CK_MAX_WORKERS];
static volatile int submitted, taken, quit;
static uint64_t written;
static size_t out_cap;

static int worker_main(void *arg)
{
    long idx = (long)arg;
    ckf_cctx *c = wcctx[idx];
    /* The first worker runs at the writer's nice value and always makes
     * progress; the others only take cores the program leaves idle, so that
     * a program that keeps a core busy is not preempted by its checkpoint. */
    if (idx > 0) {
        struct { int prio; } sp = { 0 };
        ck_sys3(SYS_sched_setscheduler, 0, SCHED_IDLE, &sp);
    }
    for (;;) {
        int seq = __atomic_fetch_add(&taken, 1, __ATOMIC_SEQ_CST);
        for (;;) {
            int sub = __atomic_load_n(&submitted, __ATOMIC_ACQUIRE);
            if (seq < sub) break;
            if (quit) return 0;
            ck_futex_wait(&submitted, sub, 50000000);
        }
        struct job *j = &jobs[seq % njobs];
        prepare_job(j);
        j->rc = j->empty ? 0 : ckf_encode_block(c, CKF_T_MEMBLK, j->addr, j->data, j->len, &j->hdr,
                                                 j->out, out_cap);
        __atomic_store_n(&j->state, 2, __ATOMIC_RELEASE);
        ck_futex_wake(&j->state);
    }
}

/* Writes the oldest job once it is done. */
static int flush_one(ckf_writer *w)
{
    struct job *j = &jobs[written % (uint64_t)njobs];
    while (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) != 2) ck_futex_wait(&j->state, 1, 50000000);
    written++;
    j->state = 0;
    if (j->rc < 0) return j->rc;
    account(j);
    if (j->empty) return 0;
    return ckf_writer_put_encoded(w, &j->hdr, j->out);
}

static int flush_all(ckf_writer *w)
{
    while (written < (uint64_t)submitted) {
        int r = flush_one(w);
        if (r < 0) return r;
    }
    return 0;
}

/* How the writer reads the program's memory.  Directly, through its own
 * mappings (the fork's copy-on-write snapshot), or with pread() on
 * /proc/self/mem into a reused buffer.  The second costs a kernel copy, but
 * where first touching a page in a new process is expensive (on this project's
 * PVM virtual machines about 4.5 us per page: 1.2 s per GiB, against 0.16 s
 * per GiB through /proc/self/mem) it is several times faster.  auto measures
 * both on the first large mapping (choose_read_mode). */
static int memfd_self = -1;

/* Copies len bytes at src (an address of this process) to dst. */
static void fetch(void *dst, const void *src, size_t len)
{
    char *d = dst;
    uint64_t a = (uint64_t)src;
    while (memfd_self >= 0 && len) {
        long r = ck_sys4(SYS_pread64, memfd_self, d, len, (long)a);
        if (r == -EINTR) continue;
        if (r <= 0) break;                 /* not readable that way: copy the rest */
        d += r; a += (uint64_t)r; len -= (size_t)r;
    }
    if (len) memcpy(d, (const void *)a, len);
}

/* The next free job (the only one without workers), once the oldest is
 * written if all are in use. */
static struct job *job_slot(ckf_writer *w, int *err)
{
    *err = 0;
    if (!nworkers) return &jobs[0];
    if ((uint64_t)submitted - written >= (uint64_t)njobs && (*err = flush_one(w)) < 0) return NULL;
    return &jobs[submitted % njobs];
}

/* Hands a filled job to the workers (compresses it here without workers). */
static int publish(ckf_writer *w, struct job *j)
{
    if (!nworkers) {
        prepare_job(j);
        account(j);
        return j->empty ? 0 : ckf_writer_add_memory(w, j->addr, j->data, j->len);
    }
    j->state = 1;
    __atomic_add_fetch(&submitted, 1, __ATOMIC_SEQ_CST);
    ck_futex_wake(&submitted);
    return 0;
}

/* Queues [addr, addr+len) for compression, its bytes read from src (NULL:
 * from addr itself); copy: copy them first (they may change meanwhile).
 * Reading through /proc/self/mem always copies. */
static int submit_from(ckf_writer *w, uint64_t addr, size_t len, const void *src, int copy)
{
    int r, via_mem = !src && memfd_self >= 0;
    if (!src) src = (const void *)addr;
    if (!nworkers && !copy && !via_mem) return ckf_writer_add_memory(w, addr, src, len);
    struct job *j = job_slot(w, &r);
    if (!j) return r;
    j->addr = addr;
    j->len = len;
    j->data = src;
    j->vma = NULL;
    j->empty = 0;
    if (via_mem) { fetch(j->copy, src, len); j->data = j->copy; }
    else if (copy) { memcpy(j->copy, src, len); j->data = j->copy; }
    return publish(w, j);
}

static int submit(ckf_writer *w, uint64_t addr, size_t len, int copy)
{
    return submit_from(w, addr, len, NULL, copy);
}

static int staged_ready, stg_fd = -1;
static void staged_win_reset(void) { staged_ready = 0; stg_fd = -1; }

/* Reads staged bytes into a job buffer.  A shared staging area (write-protect
 * capture) is read through /proc/self/mem: the kernel copies it through its
 * own mapping, where touching it here would fault in every 4 KiB page. */
static void stg_read(char *dst, const char *src, size_t len)
{
    while (stg_fd >= 0 && len) {
        long r = ck_sys4(SYS_pread64, stg_fd, dst, len, (long)src);
        if (r == -EINTR) continue;
        if (r <= 0) break;
        dst += r; src += r; len -= (size_t)r;
    }
    if (len) memcpy(dst, src, len);
}

/* Contents of a staged mapping: one job per block window.  The staging area
 * holds a snapshot that nothing changes any more, so a window whose runs lie
 * back to back in it is compressed where it is; a window with holes (pages
 * that were not present) is put together in the job's buffer, zeros between
 * the runs. */
static int save_staged(ckf_writer *w, struct vma *m)
{
    const struct ck_stg_vma *sv = &ck_stg.vmas[m->staged - 1];
    const struct ck_run *runs = ck_stg.runs + sv->run0;
    const uint64_t bs = CKF_DEFAULT_BLOCK;
    const char *base = (const char *)ck_stg.base;
    if (!staged_ready) {
        /* write-protect capture: the copier may still be filling the area */
        int r = ck_staging_wait();
        if (r < 0) {
            if (r != -ESRCH && ck.cfg.capture == CK_CAPTURE_AUTO)
                ck_sys1(SYS_exit_group, CK_WRITER_WP_LOST);   /* the manager takes it again */
            ck_err("checkpoint %u lost: %s", ck.seq, r == -ESRCH ? "the program ended during the copy" :
                   "the program unmapped or discarded memory before it was copied");
            ck_sys1(SYS_exit_group, CK_WRITER_FAILED);
        }
        staged_ready = 1;
        if (!ck_stg.huge) stg_fd = sys_open("/proc/self/mem", O_RDONLY, 0);
        ck_debug("writer: reads the staging area (%lu MiB) %s", (unsigned long)(ck_stg.used >> 20),
                 ck_stg.huge ? "in place" : stg_fd >= 0 ? "through /proc/self/mem" : "in place (shared)");
    }
    int k = 0;
    while (k < sv->nruns) {
        uint64_t ws = runs[k].addr / bs * bs, we = ws + bs;
        uint64_t lo = runs[k].addr, hi = lo;
        int k0 = k, contig = 1;
        /* runs inside [ws, we) (a run may cross the window end: split it) */
        while (k < sv->nruns && runs[k].addr < we) {
            uint64_t e = runs[k].addr + runs[k].len;
            if (k > k0 && (runs[k].addr != runs[k - 1].addr + runs[k - 1].len ||
                           runs[k].off != runs[k - 1].off + runs[k - 1].len))
                contig = 0;
            hi = e < we ? e : we;
            if (e > we) break;
            k++;
        }
        m->v.stored_bytes += hi - lo;
        int r;
        if (contig && ck_stg.huge) {
            r = submit_from(w, lo, (size_t)(hi - lo), base + runs[k0].off, 0);
        } else {
            struct job *j = job_slot(w, &r);
            if (!j) return r;
            if (!contig) memset(j->copy, 0, (size_t)(hi - lo));
            for (int i = k0; i <= k && i < sv->nruns; i++) {
                uint64_t a = runs[i].addr, e = runs[i].addr + runs[i].len;
                if (a >= hi) break;
                uint64_t ca = a < lo ? lo : a, ce = e > hi ? hi : e;
                if (ce > ca) stg_read(j->copy + (ca - lo), base + runs[i].off + (ca - a), ce - ca);
            }
            j->addr = lo;
            j->len = (size_t)(hi - lo);
            j->data = j->copy;
            j->vma = NULL;
            j->empty = 0;
            r = publish(w, j);
        }
        if (r < 0) return r;
        if (k < sv->nruns && runs[k].addr < we) {
            /* the run crosses into the next window: continue with its tail */
            struct ck_run *mut = (struct ck_run *)&runs[k];
            uint64_t cut = we - mut->addr;
            mut->addr += cut;
            mut->off += cut;
            mut->len -= cut;
        }
    }
    return 0;
}

/* Anonymous memory: the present span [lo, hi) of a window (pm: its pagemap
 * entries from page 0 at ws) is queued whole; the worker that compresses it
 * (prepare_job) drops the zero pages at either end.  Read through
 * /proc/self/mem, it does so in its job buffer, not by touching them in place.
 * copy: the memory may change meanwhile.  Zero and stored bytes are counted
 * in m when the job is written. */
static int submit_trimmed(ckf_writer *w, struct vma *m, uint64_t ws, const uint64_t *pm,
                          size_t lo, size_t hi, int copy)
{
    int r;
    struct job *j = job_slot(w, &r);
    if (!j) return r;
    j->addr = ws + lo * PAGE;
    j->len = (hi - lo) * PAGE;
    j->data = NULL;
    j->vma = m;
    j->copy_first = copy;
    j->empty = 0;
    memset(j->present, 0, sizeof j->present);
    for (size_t i = lo; i < hi; i++)
        if (pm[i] & (PM_PRESENT | PM_SWAP)) j->present[(i - lo) / 64] |= 1ull << ((i - lo) % 64);
    return publish(w, j);
}

/* A window job's bytes: read if need be, and trimmed (see submit_trimmed);
 * other jobs are ready as submitted. */
static void prepare_job(struct job *j)
{
    j->zero_trimmed = 0;
    if (!j->vma) return;
    const char *buf = (const char *)j->addr;
    size_t np = j->len / PAGE, a = 0, b = np;
    if (memfd_self >= 0 || j->copy_first) {
        fetch(j->copy, buf, j->len);
        buf = j->copy;
    }
#define PRESENT(i) ((j->present[(i) / 64] >> ((i) % 64)) & 1)
    while (a < b && (!PRESENT(a) || ckf_is_zero(buf + a * PAGE, PAGE))) {
        if (PRESENT(a)) j->zero_trimmed += PAGE;
        a++;
    }
    while (b > a && (!PRESENT(b - 1) || ckf_is_zero(buf + (b - 1) * PAGE, PAGE))) {
        if (PRESENT(b - 1)) j->zero_trimmed += PAGE;
        b--;
    }
#undef PRESENT
    j->empty = b == a;
    j->data = buf + a * PAGE;
    j->addr += a * PAGE;
    j->len = (b - a) * PAGE;
}

/* CKPT_WRITER_READ=auto: reads present pages of the largest private
 * anonymous mapping alternately in place and through /proc/self/mem (24 of
 * each, after one of each to warm up) and keeps the faster way.  Small
 * programs read in place (either costs little). */
#define CAL_PAGES 50
static void choose_read_mode(int pagemap)
{
    if (ck.cfg.writer_read == CK_READ_DIRECT) return;
    long fd = sys_open("/proc/self/mem", O_RDONLY, 0);
    if (fd < 0) return;
    memfd_self = (int)fd;
    if (ck.cfg.writer_read == CK_READ_MEM) return;

    struct vma *best = NULL;
    for (int i = 0; i < nvmas; i++) {
        struct vma *m = &vmas[i];
        if (m->skip_data || m->staged || (m->v.flags & (CKC_VMA_FILE | CKC_VMA_SHARED)) ||
            !(m->prot & PROT_READ))
            continue;
        if (!best || m->v.end - m->v.start > best->v.end - best->v.start) best = m;
    }
    uint64_t pages[CAL_PAGES];
    int n = 0;
    static uint64_t pm[512];
    for (uint64_t ws = best && best->v.end - best->v.start >= (4ull << 20) ? best->v.start : 0;
         ws && ws < best->v.end && n < CAL_PAGES; ws += 512 * PAGE) {
        uint64_t np = (best->v.end - ws) / PAGE < 512 ? (best->v.end - ws) / PAGE : 512;
        if (ck_sys4(SYS_pread64, pagemap, pm, np * 8, (ws / PAGE) * 8) < (long)(np * 8)) break;
        for (uint64_t i = 0; i < np && n < CAL_PAGES; i += 8)      /* spread out: not neighbours */
            if (pm[i] & PM_PRESENT) pages[n++] = ws + i * PAGE;
    }
    uint64_t t[2] = { 0, 0 };
    if (n == CAL_PAGES) {
        static uint64_t page[PAGE / 8];
        volatile uint64_t sum = 0;
        for (int i = 0; i < CAL_PAGES; i++) {
            uint64_t t0 = ck_now_ns(CLOCK_MONOTONIC);
            if (i & 1) {
                fetch(page, (const void *)pages[i], PAGE);
                for (size_t k = 0; k < PAGE / 8; k++) sum += page[k];
            } else {
                for (size_t k = 0; k < PAGE / 8; k++) sum += ((const volatile uint64_t *)pages[i])[k];
            }
            if (i >= 2) t[i & 1] += ck_now_ns(CLOCK_MONOTONIC) - t0;
        }
        (void)sum;
    }
    if (n < CAL_PAGES || t[1] >= t[0]) {
        ck_sys1(SYS_close, memfd_self);
        memfd_self = -1;
    }
    if (n == CAL_PAGES)
        ck_debug("writer: reads memory %s (%d pages: %lu us in place, %lu us through /proc/self/mem)",
                 memfd_self >= 0 ? "through /proc/self/mem" : "in place", CAL_PAGES / 2 - 1,
                 (unsigned long)(t[0] / 1000), (unsigned long)(t[1] / 1000));
}

/* A thread of the writer (shares its memory, descriptors and signal table)
 * running fn(arg) on a stack from the arena.  Its tid, or -errno. */
static long writer_thread(int (*fn)(void *), void *arg, size_t stack_size)
{
    char *stack = arena_alloc(NULL, stack_size);
    if (!stack) return -ENOMEM;
    return ck_clone_thread(0x50f00 /* VM FS FILES SIGHAND THREAD SYSVSEM */, stack + stack_size, fn, arg);
}

static int start_workers(int n, int level)
{
    out_cap = ckf_block_bound(CKF_DEFAULT_BLOCK);
    njobs = n ? 8 * n : 1;
    jobs = arena_alloc(NULL, sizeof(struct job) * (size_t)njobs);
    if (!jobs) return -ENOMEM;
    char *lo = NULL, *hi = NULL;
    for (int i = 0; i < njobs; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].out = arena_alloc(NULL, out_cap);
        jobs[i].copy = arena_alloc(NULL, CKF_DEFAULT_BLOCK);
        if (!jobs[i].out || !jobs[i].copy) return -ENOMEM;
        if (!lo) lo = jobs[i].out;
        hi = jobs[i].copy + CKF_DEFAULT_BLOCK;
    }
    /* fault the buffers in with one call: a page fault per page costs more
     * (on a VM, several microseconds each) */
    uint64_t a0 = (uint64_t)lo & ~4095ull;
    ck_sys3(SYS_madvise, (long)a0, (long)((uint64_t)hi - a0), MADV_POPULATE_WRITE);
    submitted = taken = quit = 0;
    written = 0;
    nworkers = 0;
    for (int i = 0; i < n && i < CK_MAX_WORKERS; i++) {
        if (ckf_cctx_new(&wcctx[i], level, &arena_allocator) < 0) break;
        if (writer_thread(worker_main, (void *)(long)i, 256 * 1024) < 0) break;
        nworkers++;
    }
    return 0;
}

/* CKPT_CAPTURE=auto under fork capture: the writer watches how much of the
 * program's memory the program rewrites (watch_rewrites, below) */
static uint64_t watch_next_ns, done_pages;
static int watch_rewrites(int pagemap);

/* private anonymous memory of the program, writable, saved from the
 * writer's copy-on-write view: what a rewrite by the program costs a fault */
static int cow_counted(const struct vma *m)
{
    return !m->skip_data && !m->staged && (m->prot & PROT_WRITE) &&
           !(m->v.flags & (CKC_VMA_SHARED | CKC_VMA_FILE | CKC_VMA_DEVICE)) &&
           !(m->v.start < ck.self_rw_hi && m->v.end > ck.self_rw_lo);
}

/* Shared memory not copied in the pause (shared_snap.c): the fork did not
 * copy its page tables, so which pages exist is the object's residency. */
static int shared_presence(uint64_t ws, size_t np, uint64_t *pm)
{
    unsigned char vec[CKF_DEFAULT_BLOCK / PAGE];
    long r = ck_sys3(SYS_mincore, ws, np * PAGE, vec);
    if (r < 0) return (int)r;
    for (size_t i = 0; i < np; i++) pm[i] = (vec[i] & 1) ? PM_PRESENT : 0;
    return 0;
}

/* Shared memory copied in the pause: its pages as the copy holds them (the
 * pages the copy has are those that were resident). */
static int save_shared_snapshot(ckf_writer *w, struct vma *m, const char *snap, int pagemap)
{
    const uint64_t bs = CKF_DEFAULT_BLOCK;
    uint64_t pm[CKF_DEFAULT_BLOCK / PAGE];
    for (uint64_t ws = m->v.start; ws < m->v.end;) {
        uint64_t we = (ws / bs + 1) * bs;
        if (we > m->v.end) we = m->v.end;
        size_t np = (size_t)((we - ws) / PAGE);
        uint64_t cs = (uint64_t)snap + (ws - m->v.start);
        long r = ck_sys4(SYS_pread64, pagemap, pm, np * 8, (cs / PAGE) * 8);
        if (r < (long)(np * 8)) return r < 0 ? (int)r : -EIO;
        for (size_t i = 0; i < np;) {
            if (!(pm[i] & (PM_PRESENT | PM_SWAP))) { i++; continue; }
            size_t j = i + 1;
            while (j < np && (pm[j] & (PM_PRESENT | PM_SWAP))) j++;
            uint64_t a = ws + i * PAGE, len = (j - i) * PAGE;
            m->v.stored_bytes += len;
            if ((r = submit_from(w, a, len, snap + (a - m->v.start), 0)) < 0) return (int)r;
            i = j;
        }
        ws = we;
    }
    return 0;
}

static int save_vma(ckf_writer *w, struct vma *m, int pagemap)
{
    uint32_t f = m->v.flags;
    if (m->skip_data) return 0;
    if (m->staged) return save_staged(w, m);
    if (ckpt_cuda_data_range((uintptr_t)m->v.start, (size_t)(m->v.end - m->v.start))) return 0;
    int shared = (f & CKC_VMA_SHARED) != 0;
    int file = (f & CKC_VMA_FILE) != 0;
    if (shared && file && !(f & CKC_VMA_SHARED_SAVED)) return 0;   /* the file holds it */
    int file_private = file && !shared;
    if (shared) {
        const char *snap = ck_shared_snapshot_of(m->v.start, m->v.end);
        if (snap) return save_shared_snapshot(w, m, snap, pagemap);
    }
    /* Memory that changes while we save it must be copied before it is hashed
     * and compressed: shared memory (the program runs on), libckpt's own data
     * (the writer's bookkeeping lives there) and the manager's stack and TLS
     * (the writer runs on that thread's TLS). */
    int volatile_mem = shared ||
        (m->v.start < ck.self_rw_hi && m->v.end > ck.self_rw_lo) ||
        (ck.mgr_fs >= m->v.start && ck.mgr_fs < m->v.end);
    if (!(m->prot & PROT_READ))
        ck_sys3(SYS_mprotect, m->v.start, m->v.end - m->v.start, m->prot | PROT_READ);

    const uint64_t bs = CKF_DEFAULT_BLOCK;
    uint64_t pm[CKF_DEFAULT_BLOCK / PAGE];
    for (uint64_t ws = m->v.start; ws < m->v.end;) {
        uint64_t we = (ws / bs + 1) * bs;
        if (we > m->v.end) we = m->v.end;
        size_t np = (size_t)((we - ws) / PAGE);
        long r = ck_sys4(SYS_pread64, pagemap, pm, np * 8, (ws / PAGE) * 8);
        if (r < (long)(np * 8)) return r < 0 ? (int)r : -EIO;
        if (shared && (r = shared_presence(ws, np, pm)) < 0) return (int)r;
        if (watch_next_ns && cow_counted(m)) {
            for (size_t i = 0; i < np; i++) done_pages += (pm[i] & PM_PRESENT) != 0;
            if ((r = watch_rewrites(pagemap)) < 0) return (int)r;
        }
        if (file_private) {
            size_t i = 0;
            while (i < np) {
                int keep = 0;
                if (pm[i] & (PM_PRESENT | PM_SWAP)) {
                    keep = ck.cfg.full_files || !(pm[i] & PM_FILE);
                    if (!keep) m->v.file_bytes += PAGE;
                }
                if (!keep) { i++; continue; }
                size_t j = i + 1;
                while (j < np && (pm[j] & (PM_PRESENT | PM_SWAP)) &&
                       (ck.cfg.full_files || !(pm[j] & PM_FILE)))
                    j++;
                uint64_t a = ws + i * PAGE, len = (j - i) * PAGE;
                m->v.stored_bytes += len;
                if ((r = submit(w, a, len, volatile_mem)) < 0) return (int)r;
                i = j;
            }
        } else {
            size_t lo = 0, hi = np;
            while (lo < hi && !(pm[lo] & (PM_PRESENT | PM_SWAP))) lo++;
            while (hi > lo && !(pm[hi - 1] & (PM_PRESENT | PM_SWAP))) hi--;
            if (hi > lo && (r = submit_trimmed(w, m, ws, pm, lo, hi, volatile_mem)) < 0) return (int)r;
        }
        ws = we;
    }
    return 0;
}

static int getenv_flag_nobt(void) { return ck.cfg.no_backtrace; }

/* ---- metadata chunks --------------------------------------------------------------------- */

static int put_chunk(ckf_writer *w, uint16_t type, uint64_t key, struct buf *fixed, struct buf *strs)
{
    if (strs && strs->len && buf_put(fixed, strs->p, strs->len) < 0) return -ENOMEM;
    int r = ckf_writer_add_chunk(w, type, key, fixed->p, fixed->len);
    return r < 0 ? -EIO : 0;
}

static int write_process(ckf_writer *w, uint64_t pause_ns)
{
    ckc_process p;
    memset(&p, 0, sizeof p);
    struct buf strs = { 0 };
    p.version = CKC_PROCESS_VERSION;
    p.pid = (uint32_t)ck.pid;
    p.ppid = (uint32_t)ck_sys0(SYS_getppid);
    p.umask = (uint32_t)ck_sys1(SYS_umask, 022);
    ck_sys1(SYS_umask, p.umask);
    p.personality = (uint32_t)ck_sys1(SYS_personality, 0xffffffff);
    p.reason = (uint32_t)ck.reason;
    for (int i = 0; i < CK_MAX_THREADS; i++)
        if (ck_slots[i].tid && ck_slots[i].parked_gen == ck.stop_gen && ck_slots[i].uc) p.nthreads++;
    p.nthreads++;   /* the manager */
    p.seq = ck.seq;
    p.generation = ck_resume.generation;
    p.uid = (uint32_t)ck_sys0(SYS_getuid);
    p.gid = (uint32_t)ck_sys0(SYS_getgid);
    p.realtime_ns = ck_now_ns(CLOCK_REALTIME);
    p.monotonic_ns = ck.t_stop_ns;
    p.pause_ns = pause_ns;
    p.pthread_tid_offset = ck.tid_offset;
    p.lib_resume_ctx = (uint64_t)&ck_resume;
    p.lib_base = (uint64_t)&ck;   /* an address inside libckpt, to find its mapping */

    char *sb = arena_alloc(NULL, 8192);
    if (!sb) return -ENOMEM;
    if (ck_read_file("/proc/self/stat", sb, 8192) > 0) {
        const char *s = sb;
        for (const char *q = sb; *q; q++) if (*q == ')') s = q + 1;
        uint64_t fields[64] = { 0 };
        int fno = 2;  /* s points after "(comm)": next is field 3 */
        while (*s && fno < 63) {
            while (*s == ' ') s++;
            fno++;
            if (*s == '-') { s++; fields[fno] = 0; while (*s >= '0' && *s <= '9') s++; }
            else if (*s >= '0' && *s <= '9') fields[fno] = ck_parse_dec(&s);
            else while (*s && *s != ' ') s++;
        }
        p.start_code = fields[26]; p.end_code = fields[27]; p.start_stack = fields[28];
        p.start_data = fields[45]; p.end_data = fields[46]; p.start_brk = fields[47];
        p.arg_start = fields[48]; p.arg_end = fields[49]; p.env_start = fields[50]; p.env_end = fields[51];
    }
    p.brk = (uint64_t)ck_sys1(SYS_brk, 0);
    long an = ck_read_file("/proc/self/auxv", sb, 8192);
    if (an > 0) {
        size_t words = (size_t)an / 8;
        if (words > 64) words = 64;
        memcpy(p.auxv, sb, words * 8);
        p.auxv_words = (uint32_t)words;
    }
    /* the process name is the main thread's */
    for (int i = 0; i < CK_MAX_THREADS; i++)
        if (ck_slots[i].tid == ck.main_tid) memcpy(p.comm, ck_slots[i].name, 16);
    p.comm[15] = 0;
    struct utsname u;
    if (ck_sys1(SYS_uname, &u) == 0) memcpy(p.hostname, u.nodename, sizeof p.hostname - 1);

    p.exe = str_add0(&strs, ck.exe);
    long cl = ck_sys2(SYS_getcwd, sb, 4096);
    p.cwd = str_add(&strs, sb, cl > 0 ? (size_t)cl - 1 : 0);
    long al = ck_read_file("/proc/self/cmdline", sb, 8192);
    p.argv = str_add(&strs, sb, al > 0 ? (size_t)al : 0);
    p.ckpt_version = str_add0(&strs, "ckpt 0.1");

    struct buf fixed = { 0 };
    if (buf_put(&fixed, &p, sizeof p) < 0) return -ENOMEM;
    return put_chunk(w, CKF_T_PROCESS, 0, &fixed, &strs);
}

/* One thread's frames in the backtrace buffer (see backtrace.c). */
struct frames { const char *p; uint32_t n; };

static int write_thread(ckf_writer *w, const struct ck_slot *s, uint32_t flags,
                        const struct ck_ctx *ctx, uint64_t mask, const struct frames *fr)
{
    ckc_thread t;
    memset(&t, 0, sizeof t);
    t.tid = (uint32_t)s->tid;
    t.flags = flags;
    t.fs_base = s->fs;
    t.uc_addr = (uint64_t)s->uc;
    t.clear_tid_addr = ck.tid_offset > 0 && s->fs ? s->fs + (uint64_t)ck.tid_offset : 0;
    t.robust_head = s->robust_head;
    t.robust_len = s->robust_len;
    t.rseq_addr = s->rseq_addr;
    t.rseq_len = s->rseq_len;
    t.rseq_sig = s->rseq_sig;
    t.altstack_sp = (uint64_t)s->ss.ss_sp;
    t.altstack_size = s->ss.ss_size;
    t.altstack_flags = (uint32_t)s->ss.ss_flags;
    if (s->uc) {
        const ucontext_t *uc = s->uc;
        memcpy(t.gregs, uc->uc_mcontext.gregs, sizeof t.gregs);
        memcpy(&t.sigmask, &uc->uc_sigmask, 8);
    }
    memcpy(t.cpu_affinity, s->affinity, sizeof t.cpu_affinity);
    memcpy(t.name, s->name, 16);
    memcpy(t.resume_ctx, ctx, sizeof t.resume_ctx);
    t.resume_mask = mask;
    t.nframes = fr ? fr->n : 0;
    struct buf fixed = { 0 }, strs = { 0 };
    if (buf_put(&fixed, &t, sizeof t) < 0) return -ENOMEM;
    const char *q = fr ? fr->p : NULL;
    for (uint32_t i = 0; i < t.nframes; i++) {
        ckc_frame f;
        uint64_t v[3];
        memcpy(v, q, 24);
        uint8_t nl = (uint8_t)q[24];
        f.pc = v[0]; f.sp = v[1]; f.off = v[2];
        f.sym = str_add(&strs, q + 25, nl);
        q += 25 + nl;
        if (buf_put(&fixed, &f, sizeof f) < 0) return -ENOMEM;
    }
    return put_chunk(w, CKF_T_THREAD, t.tid, &fixed, &strs);
}

static int write_threads(ckf_writer *w, int gen)
{
    int n = 0;
    int *idx = arena_alloc(NULL, sizeof(int) * CK_MAX_THREADS);
    struct ck_bt *bt = arena_alloc(NULL, sizeof(struct ck_bt) * CK_MAX_THREADS);
    struct frames *fr = arena_alloc(NULL, sizeof(struct frames) * CK_MAX_THREADS);
    if (!idx || !bt || !fr) return -ENOMEM;
    for (int i = 0; i < CK_MAX_THREADS; i++) {
        const struct ck_slot *s = &ck_slots[i];
        if (!s->tid || s->parked_gen != gen || !s->uc) continue;
        idx[n] = i;
        bt[n].uc = s->uc;
        fr[n].p = NULL;
        fr[n].n = 0;
        n++;
    }
    size_t cap = (size_t)n * CKC_MAX_FRAMES * 300 + 4096, used = 0;
    char *btbuf = arena_alloc(NULL, cap);
    if (btbuf && !getenv_flag_nobt()) {
        /* The unwinder runs in a fork of this process, whose cost is copying
         * the page tables: leave out large anonymous mappings that hold no
         * thread's stack or context (the program's data arrays: the unwinder
         * reads stacks, libraries and the loader's lists, and allocates from
         * this thread's malloc heap: the brk heap and the mapping that holds
         * the manager's last allocation stay).  At worst a backtrace is
         * missing, never the checkpoint. */
        for (int i = 0; i < nvmas; i++) {
            const struct vma *m = &vmas[i];
            if (m->v.end - m->v.start < (64ull << 20) || (m->v.flags & (CKC_VMA_FILE | CKC_VMA_STACK | CKC_VMA_HEAP)))
                continue;
            if (ck.mgr_heap_hint >= m->v.start && ck.mgr_heap_hint < m->v.end) continue;
            int used_by_thread = 0;
            for (int k = 0; k < n && !used_by_thread; k++) {
                const ucontext_t *uc = bt[k].uc;
                uint64_t sp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
                used_by_thread = ((uint64_t)uc >= m->v.start && (uint64_t)uc < m->v.end) ||
                                 (sp >= m->v.start && sp < m->v.end);
            }
            if (!used_by_thread) ck_sys3(SYS_madvise, m->v.start, m->v.end - m->v.start, MADV_DONTFORK);
        }
        ck_backtraces(bt, n, btbuf, cap, &used);
        /* parse: u32 k, u32 nframes, frames...; stop at the first incomplete one */
        size_t off = 0;
        while (off + 8 <= used) {
            uint32_t h[2];
            memcpy(h, btbuf + off, 8);
            size_t p = off + 8, ok = 1;
            for (uint32_t f = 0; f < h[1]; f++) {
                if (p + 25 > used) { ok = 0; break; }
                p += 25 + (uint8_t)btbuf[p + 24];
                if (p > used) { ok = 0; break; }
            }
            if (!ok || h[0] >= (uint32_t)n) break;
            fr[h[0]].p = btbuf + off + 8;
            fr[h[0]].n = h[1];
            off = p;
        }
    }
    for (int k = 0; k < n; k++) {
        const struct ck_slot *s = &ck_slots[idx[k]];
        int r = write_thread(w, s, s->tid == ck.main_tid ? CKC_THR_MAIN : 0, &s->ctx, s->hmask, &fr[k]);
        if (r < 0) return r;
    }
    struct ck_slot m;
    memset(&m, 0, sizeof m);
    m.tid = ck.mgr_tid;
    m.fs = ck.mgr_fs;
    m.ss.ss_flags = SS_DISABLE;
    memcpy(m.name, "ckpt-manager", 13);
    int r = write_thread(w, &m, CKC_THR_MANAGER, &ck.mgr_ctx, ~0ull, NULL);
    return r < 0 ? r : n + 1;
}

/* Deleted files the program still has open (temporary files) and memfds
 * cannot be reopened: their contents go into the checkpoint.  (Their mapped
 * pages are also stored with the mappings, as of the stop; the restore puts
 * those over these, which the writer reads while the program runs.) */
static int save_file_data(ckf_writer *w, ckc_fd *r)
{
    static const uint64_t dflt = 256ull << 20;
    uint64_t max = ck.cfg.ghost_max ? (uint64_t)ck.cfg.ghost_max : dflt;
    if (!(r->kind == CKC_FD_MEMFD || (r->kind == CKC_FD_REG && (r->flags & CKC_FD_DELETED))) ||
        (r->flags & CKC_FD_DUP))
        return 0;
    if (r->size > max || r->size > CKF_MAX_META) {
        ck_warn("fd %d: %s of %lu bytes is larger than CKPT_GHOST_MAX: only its mapped pages are saved",
                r->fd, r->kind == CKC_FD_MEMFD ? "memfd" : "deleted file", (unsigned long)r->size);
        return 0;
    }
    char *b = arena_alloc(NULL, r->size ? r->size : 1);
    if (!b) return -ENOMEM;
    uint64_t got = 0;
    while (got < r->size) {
        long n = ck_sys4(SYS_pread64, r->fd, b + got, r->size - got, got);
        if (n <= 0) break;
        got += (uint64_t)n;
    }
    if (got != r->size) return 0;
    if (ckf_writer_add_chunk(w, CKF_T_FILE_DATA, (uint64_t)r->fd, b, got) < 0) return -EIO;
    r->flags |= CKC_FD_DATA;
    return 0;
}

static int write_files(ckf_writer *w)
{
    struct buf fixed = { 0 }, strs = { 0 };
    ckc_files h = { (uint32_t)ck.nfds, 0 };
    if (buf_put(&fixed, &h, sizeof h) < 0) return -ENOMEM;
    for (int i = 0; i < ck.nfds; i++) {
        ckc_fd r = ck.fds[i].rec;
        int e = save_file_data(w, &r);
        if (e < 0) return e;
        if (ck.fds[i].info[0] &&
            ckf_writer_add_chunk(w, CKF_T_FDINFO, (uint64_t)r.fd, ck.fds[i].info, strlen(ck.fds[i].info)) < 0)
            return -EIO;
        r.path = str_add0(&strs, ck.fds[i].path);
        if (buf_put(&fixed, &r, sizeof r) < 0) return -ENOMEM;
    }
    return put_chunk(w, CKF_T_FILES, 0, &fixed, &strs);
}

static int write_signals(ckf_writer *w)
{
    ckc_signals s;
    memset(&s, 0, sizeof s);
    for (int sig = 1; sig <= 64; sig++) {
        struct { uint64_t handler, flags, restorer, mask; } k;
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (ck_sys4(SYS_rt_sigaction, sig, 0, &k, 8) == 0) {
            s.act[sig - 1].handler = k.handler;
            s.act[sig - 1].flags = k.flags;
            s.act[sig - 1].restorer = k.restorer;
            s.act[sig - 1].mask = k.mask;
        }
    }
    s.ckpt_signal = (uint64_t)ck.cfg.signo;
    s.private_signal = (uint64_t)ck.cfg.privsig;
    return ckf_writer_add_chunk(w, CKF_T_SIGNALS, 0, &s, sizeof s) < 0 ? -EIO : 0;
}

static int write_small(ckf_writer *w)
{
    ckc_timers t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < 3; i++) {
        t.itimer[i].interval_sec = ck.itimers[i].it_interval.tv_sec;
        t.itimer[i].interval_usec = ck.itimers[i].it_interval.tv_usec;
        t.itimer[i].value_sec = ck.itimers[i].it_value.tv_sec;
        t.itimer[i].value_usec = ck.itimers[i].it_value.tv_usec;
    }
    if (ckf_writer_add_chunk(w, CKF_T_TIMERS, 0, &t, sizeof t) < 0) return -EIO;
    ckc_rlimits rl;
    memset(&rl, 0, sizeof rl);
    for (int i = 0; i < 16; i++) {
        struct rlimit r;
        if (ck_sys4(SYS_prlimit64, 0, i, 0, &r) == 0) { rl.cur[i] = r.rlim_cur; rl.max[i] = r.rlim_max; }
    }
    if (ckf_writer_add_chunk(w, CKF_T_RLIMITS, 0, &rl, sizeof rl) < 0) return -EIO;
    for (int i = 0; i < CK_MAX_REGIONS; i++) {
        if (!regions[i].addr) continue;
        char rb[8 + 64];
        uint64_t len = regions[i].len;
        memcpy(rb, &len, 8);
        size_t nl = strlen(regions[i].name);
        memcpy(rb + 8, regions[i].name, nl);
        if (ckf_writer_add_chunk(w, CKF_T_REGION, regions[i].addr, rb, 8 + nl) < 0) return -EIO;
    }
    char note[256];
    int nl = ck_snprintf(note, sizeof note, "reason=%s\nseq=%u\ngeneration=%u\nrequests=%d\ncoalesced=%d\n",
                         ck.reason == CKC_REASON_INTERVAL ? "interval" :
                         ck.reason == CKC_REASON_API ? "api" : "signal",
                         ck.seq, ck_resume.generation, ck.requests, ck.dropped);
    if (ckf_writer_add_chunk(w, CKF_T_NOTE, 0, note, (size_t)nl) < 0) return -EIO;
    /* CKPT_CUDA_DATA=1: host copies of the device buffers, readable by tools */
    for (size_t i = 0;; i++) {
        uint64_t dptr;
        const void *host;
        size_t len;
        if (ckpt_cuda_data_get(i, &dptr, &host, &len) < 0) break;
        for (size_t off = 0; off < len; off += CKF_MAX_META) {
            size_t n = len - off < CKF_MAX_META ? len - off : CKF_MAX_META;
            if (ckf_writer_add_chunk(w, CKF_T_CUDA_DATA, dptr + off, (const char *)host + off, n) < 0)
                return -EIO;
        }
    }
    size_t need = ckpt_cuda_serialize(NULL, 0);
    if (need) {
        void *cb = arena_alloc(NULL, need);
        if (cb && ckpt_cuda_serialize(cb, need) == need &&
            ckf_writer_add_chunk(w, CKF_T_CUDA, 0, cb, need) < 0)
            return -EIO;
    }
    return 0;
}

static int write_vmas_and_fileids(ckf_writer *w)
{
    struct buf fixed = { 0 }, strs = { 0 };
    ckc_vmas h = { (uint32_t)nvmas, (uint32_t)PAGE, 0 };
    if (buf_put(&fixed, &h, sizeof h) < 0) return -ENOMEM;
    for (int i = 0; i < nvmas; i++) {
        ckc_vma v = vmas[i].v;
        v.path = str_add0(&strs, vmas[i].path);
        if (buf_put(&fixed, &v, sizeof v) < 0) return -ENOMEM;
    }
    int r = put_chunk(w, CKF_T_VMAS, 0, &fixed, &strs);
    if (r < 0) return r;
    struct buf ff = { 0 }, fs = { 0 };
    ckc_fileids fh = { (uint32_t)nfids, 0 };
    if (buf_put(&ff, &fh, sizeof fh) < 0) return -ENOMEM;
    for (int i = 0; i < nfids; i++) {
        ckc_fileid id = fids[i];
        id.path = str_add0(&fs, fid_paths[i]);
        if (buf_put(&ff, &id, sizeof id) < 0) return -ENOMEM;
    }
    return put_chunk(w, CKF_T_FILEIDS, 0, &ff, &fs);
}

/* ---- the checkpoint directory ------------------------------------------------------- */
#include "format/ckdir.h"

/* The writer's sink.  Where the file system allows it, the file is written
 * with O_DIRECT from page-aligned buffers by an I/O thread of the writer: the
 * data goes to the disk without first being copied into fresh page-cache
 * pages (on a VM these cost more than the disk write), the compression never
 * waits for the disk, and the I/O thread asks for a flush of the device's
 * cache (fdatasync) after every WSINK_SYNC bytes so that the final fsync() has
 * only the tail left.  The unaligned tail is written through the page cache
 * when the file is finished (wsink_finish).  Elsewhere (a file system that
 * refuses O_DIRECT, CKPT_DIRECT_IO=0, no memory for the buffers): write(2)
 * from the writer thread, starting writeback of every WSINK_SYNC bytes. */
#define WSINK_DBUF (4u << 20)
#define WSINK_NBUF 4
#define WSINK_SYNC (32u << 20)
struct wsink {
    ckf_sink base;
    uint64_t off, flushed;      /* buffered: bytes written, writeback started */
    char *dbuf[WSINK_NBUF];     /* direct: buffers, filled in turn */
    size_t dlen;                /* bytes in the one being filled */
    volatile int posted, done;  /* buffers handed to the I/O thread, written by it */
    volatile int err;           /* the I/O thread's -errno */
    int direct;
};
void ckf_i_set_errno(int e);   /* format/ckf_int.h: what ckf_last_errno() reports */

/* write(2) of all of buf; -errno.  *done (if given): bytes written. */
static int write_all_fd(int fd, const void *buf, size_t len, size_t *done)
{
    const char *p = buf;
    while (len) {
        long n = ck_sys3(SYS_write, fd, p, len);
        if (n == -EINTR) continue;
        if (n < 0) return (int)n;
        if (n == 0) return -ENOSPC;
        p += n;
        len -= (size_t)n;
        if (done) *done += (size_t)n;
    }
    return 0;
}

static void wsink_buffered(struct wsink *w)
{
    long fl = ck_sys2(SYS_fcntl, w->base.fd, F_GETFL);
    if (fl >= 0) ck_sys3(SYS_fcntl, w->base.fd, F_SETFL, fl & ~(long)O_DIRECT);
    w->direct = 0;
}

/* Writes len bytes of a direct buffer; a file system that refuses O_DIRECT
 * after all gets them through the page cache. */
static int wsink_put(struct wsink *w, const char *buf, size_t len)
{
    size_t done = 0;
    int r = write_all_fd(w->base.fd, buf, len, &done);
    if (r == -EINVAL && w->direct) {   /* refused, or a short write left the rest unaligned */
        wsink_buffered(w);
        r = write_all_fd(w->base.fd, buf + done, len - done, NULL);
    }
    return r;
}

static int wsink_io_main(void *arg)
{
    struct wsink *w = arg;
    uint64_t since_sync = 0;
    for (;;) {
        int p = __atomic_load_n(&w->posted, __ATOMIC_ACQUIRE);
        if (w->done == p) { ck_futex_wait(&w->posted, p, 1000000000); continue; }
        if (!w->err) {
            int r = wsink_put(w, w->dbuf[w->done % WSINK_NBUF], WSINK_DBUF);
            if (r < 0) w->err = r;
            since_sync += WSINK_DBUF;
            if (!r && since_sync >= WSINK_SYNC) {
                ck_sys1(SYS_fdatasync, w->base.fd);
                since_sync = 0;
            }
        }
        __atomic_store_n(&w->done, w->done + 1, __ATOMIC_RELEASE);
        ck_futex_wake(&w->done);
    }
    return 0;
}

/* Waits until at most `busy` buffers are still being written. */
static int wsink_wait(struct wsink *w, int busy)
{
    for (;;) {
        int d = __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
        if (w->posted - d <= busy) break;
        ck_futex_wait(&w->done, d, 50000000);
    }
    if (w->err) { ckf_i_set_errno(-w->err); return -CKF_E_IO; }
    return 0;
}

static int wsink_write(ckf_sink *s, const void *buf, size_t len)
{
    struct wsink *w = (struct wsink *)s;
    const char *p = buf;
    while (w->direct && len) {
        char *b = w->dbuf[w->posted % WSINK_NBUF];
        size_t k = WSINK_DBUF - w->dlen < len ? WSINK_DBUF - w->dlen : len;
        memcpy(b + w->dlen, p, k);
        w->dlen += k;
        p += k;
        len -= k;
        if (w->dlen == WSINK_DBUF) {
            __atomic_store_n(&w->posted, w->posted + 1, __ATOMIC_RELEASE);
            ck_futex_wake(&w->posted);
            w->dlen = 0;
            if (wsink_wait(w, WSINK_NBUF - 1) < 0) return -CKF_E_IO;   /* the next one is free */
        }
    }
    if (!len) return 0;
    int r = write_all_fd(s->fd, p, len, NULL);
    if (r < 0) { ckf_i_set_errno(-r); return -CKF_E_IO; }
    w->off += len;
    if (w->off - w->flushed >= WSINK_SYNC) {
        ck_sys4(SYS_sync_file_range, s->fd, w->flushed, w->off - w->flushed, 2 /* WRITE */);
        w->flushed = w->off;
    }
    return 0;
}

static void wsink_init(struct wsink *w, int fd)
{
    memset(w, 0, sizeof *w);
    ckf_sink_fd(&w->base, fd);
    w->base.write = wsink_write;
    long fl = ck_sys2(SYS_fcntl, fd, F_GETFL);
    if (!ck.cfg.direct_io || fl < 0) return;
    long a = ck_sys6(SYS_mmap, 0, (long)WSINK_DBUF * WSINK_NBUF, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (a < 0 && a > -4096) return;
    for (int i = 0; i < WSINK_NBUF; i++) w->dbuf[i] = (char *)a + (size_t)i * WSINK_DBUF;
    if (ck_sys3(SYS_fcntl, fd, F_SETFL, fl | O_DIRECT) == 0) {
        w->direct = 1;
        if (writer_thread(wsink_io_main, w, 64 * 1024) >= 0) return;
        wsink_buffered(w);
    }
    ck_sys2(SYS_munmap, a, (long)WSINK_DBUF * WSINK_NBUF);
    memset(w->dbuf, 0, sizeof w->dbuf);
}

/* Waits for the I/O thread, then writes what the last buffer holds: its
 * aligned part directly, the tail through the page cache. */
static int wsink_finish(struct wsink *w)
{
    if (!w->dbuf[0]) return 0;
    int r = wsink_wait(w, 0);
    char *b = w->dbuf[w->posted % WSINK_NBUF];
    size_t al = w->dlen & ~(size_t)4095;
    if (!r && al && (r = wsink_put(w, b, al)) < 0) { ckf_i_set_errno(-r); r = -CKF_E_IO; }
    if (w->direct) wsink_buffered(w);
    if (!r && w->dlen > al && (r = write_all_fd(w->base.fd, b + al, w->dlen - al, NULL)) < 0) {
        ckf_i_set_errno(-r);
        r = -CKF_E_IO;
    }
    return r;
}

/* ---- the writer process -------------------------------------------------------------- */

/* A container error, with the system's reason for I/O failures. */
static const char *ckf_reason(int err)
{
    if (err == -CKF_E_IO && ckf_last_errno()) return strerror(ckf_last_errno());
    return ckf_strerror(err);
}

/* err: -errno, or a ckf error when ckf_err is set. */
static void fail2(const char *what, int err, int ckf_err) __attribute__((noreturn));
static void fail2(const char *what, int err, int ckf_err)
{
    ck_err("checkpoint %u failed: %s: %s", ck.seq, what, ckf_err ? ckf_reason(err) : strerror(-err));
    ck_sys1(SYS_exit_group, CK_WRITER_FAILED);
    __builtin_unreachable();
}
#define fail(what, err) fail2(what, err, 0)

/* CKPT_CAPTURE=auto: how much of the program's memory it rewrote while this
 * writer ran.  Of the private anonymous pages the writer still maps, those
 * the program wrote since the fork are now the writer's alone (the program
 * took a copy of each at its first write: pagemap's "exclusively mapped"
 * bit); the others are still shared. */
#define PM_EXCLUSIVE (1ull << 56)
static void count_rewritten(int pagemap, uint64_t *present, uint64_t *excl)
{
    uint64_t pm[512];
    *present = *excl = 0;
    for (int i = 0; i < nvmas; i++) {
        struct vma *m = &vmas[i];
        if (!cow_counted(m)) continue;
        for (uint64_t a = m->v.start; a < m->v.end;) {
            size_t np = (size_t)((m->v.end - a) / PAGE);
            if (np > 512) np = 512;
            long r = ck_sys4(SYS_pread64, pagemap, pm, np * 8, (a / PAGE) * 8);
            if (r <= 0) break;
            np = (size_t)r / 8;
            for (size_t k = 0; k < np; k++)
                if (pm[k] & PM_PRESENT) {
                    (*present)++;
                    *excl += (pm[k] & PM_EXCLUSIVE) != 0;
                }
            a += np * PAGE;
        }
    }
}

/* Whether rewriting excl of present pages makes copy capture the cheaper
 * one.  A program slowed down by copy-on-write faults rewrites less in a
 * checkpoint's time than it would otherwise (one 1 GiB stencil sweep takes
 * 4-5 s of faults on some virtual machines), so little is enough: a 32nd of
 * its private memory, and 16 MiB.  Copying every page into the staging area
 * in the pause then costs the program less (0.1-0.4 us per 4 KiB page,
 * against 1-20 us for each fault; BENCHMARKS.md). */
static int rewrites_much(uint64_t present, uint64_t excl)
{
    return excl >= 4096 && excl * 32 >= present;
}

/* The same, while the writer is at work, every 250 ms: once the program has
 * rewritten that much, copy capture would have cost it less already, and
 * every page it rewrites from now on costs it another fault (seconds per GiB
 * with two busy threads).  -ECANCELED then: the writer gives this checkpoint
 * up and the program takes it again at once with copy capture (core.c).
 * (No projection from the rate so far: a program that rewrites one set of
 * pages over and over copies each only once, however slowly the faults let
 * it go through them, and it stays with fork capture.) */
static int watch_rewrites(int pagemap)
{
    uint64_t now = ck_now_ns(CLOCK_MONOTONIC);
    if (now < watch_next_ns) return 0;
    uint64_t present, excl;
    count_rewritten(pagemap, &present, &excl);
    uint64_t t1 = ck_now_ns(CLOCK_MONOTONIC);
    /* never more than 5 % of the writer's time for this */
    watch_next_ns = t1 + (250000000ull > 20 * (t1 - now) ? 250000000ull : 20 * (t1 - now));
    if (!rewrites_much(present, excl)) return 0;
    uint64_t done = done_pages < present ? done_pages : present;
    ck_debug("writer: the program rewrote %lu of %lu MiB of its private memory in the first %lu %% of the "
             "checkpoint; giving it up for copy capture", (unsigned long)(excl * PAGE >> 20),
             (unsigned long)(present * PAGE >> 20), (unsigned long)(100 * done / (present ? present : 1)));
    return -ECANCELED;
}

void ck_writer_main(void)
{
    uint64_t pause_ns = ck_now_ns(CLOCK_MONOTONIC) - ck.t_stop_ns;
    uint64_t all = ~0ull;
    ck_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
    ckpt_cuda_atfork_child();
    ck_sys2(SYS_prctl, PR_SET_NAME, "ckpt-writer");
    /* The program comes first: the writer (and its workers, which inherit
     * this) only takes CPU time the program leaves. */
    ck_sys3(SYS_setpriority, PRIO_PROCESS, 0, ck.cfg.nice);
    static struct ck_busy busy;
    if (!ck_busycpus.sampled) ck_busy_begin(&busy);   /* (write-protect capture sampled before the stop) */
    if (ck_stg.uffd >= 0) ck_sys1(SYS_close, ck_stg.uffd);   /* the program's: never hold it open */

    /* The writer's globals live in libckpt's data, which is part of the image
     * it writes: start from a clean state, never from a previous writer's. */
    vmas = NULL; nvmas = 0; memfd_self = -1; fids = NULL; fid_paths = NULL; nfids = 0; jobs = NULL; nworkers = 0;
    staged_win_reset();

    size_t asz = 1ull << 30;
    long a = ck_sys6(SYS_mmap, 0, (long)asz, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a < 0 && a > -4096) fail("arena", (int)a);
    arena = arena_cur = (char *)a;
    arena_end = arena + asz;

    int r = parse_maps();
    if (r < 0) fail("reading /proc/self/maps", r);
    if ((r = merge_staged()) < 0) fail("arena", r);

    int dirfd = ckdir_prepare(ck.cfg.dir);
    if (dirfd < 0) fail(ck.cfg.dir, dirfd);
    ckdir_txn tx;
    long seq = ckdir_next_seq(dirfd);
    if (seq < 0) fail("reading the checkpoint directory", (int)seq);
    ckdir_clean_temps(dirfd, (uint32_t)ck.pid, (uint32_t)seq, 0, NULL, NULL);
    for (int tries = 0;; tries++) {
        r = ckdir_begin(dirfd, (uint32_t)seq, (uint32_t)ck.pid, &tx);
        if (r != -EEXIST || tries > 100) break;
        seq++;
    }
    if (r < 0) fail("creating the checkpoint file", r);

    if (!ck_busycpus.sampled) ck_busy_end(&busy, 20);
    if (ck_busy_keep_off())
        ck_debug("writer: %d busy program thread%s; the writer keeps to the %d other CPU%s", ck_busycpus.busy,
                 ck_busycpus.busy == 1 ? "" : "s", ck_busycpus.avail, ck_busycpus.avail == 1 ? "" : "s");
    struct wsink sink;
    wsink_init(&sink, tx.fd);
    ck_debug("writer: writes the file %s", sink.direct ? "with O_DIRECT" : "through the page cache");
    ckf_writer_opts o;
    memset(&o, 0, sizeof o);
    o.sink = &sink.base;
    o.alloc = &arena_allocator;
    o.level = ck.cfg.level;
    o.nthreads = 1;
    ckf_writer *w = NULL;
    r = ckf_writer_open(&w, &o);
    if (r < 0) { ckdir_abort(&tx); fail2("starting the container", r, 1); }

    fids = arena_alloc(NULL, sizeof(ckc_fileid) * 1024);
    fid_paths = arena_alloc(NULL, 512 * 1024);
    if (!fids || !fid_paths) { ckdir_abort(&tx); fail("arena", -ENOMEM); }
    if (ck.exe[0]) fileid_of(ck.exe);
    for (int i = 0; i < nvmas; i++)
        if (vmas[i].v.flags & CKC_VMA_FILE) vmas[i].v.fileid = fileid_of(vmas[i].path);

    if ((r = write_process(w, pause_ns)) < 0 || (r = write_signals(w)) < 0 ||
        (r = write_small(w)) < 0 || (r = write_files(w)) < 0 ||
        (r = write_threads(w, ck.stop_gen)) < 0) {
        ckdir_abort(&tx);
        fail("writing metadata", r);
    }

    uint64_t t_start = ck_now_ns(CLOCK_MONOTONIC);
    int pagemap = sys_open("/proc/self/pagemap", O_RDONLY, 0);
    if (pagemap < 0) { ckdir_abort(&tx); fail("opening /proc/self/pagemap", pagemap); }
    int nw = ck.cfg.threads;
    if (nw <= 0) {
        uint64_t set[16] = { 0 };
        long k = ck_sys3(SYS_sched_getaffinity, 0, sizeof set, set);
        nw = 0;
        for (long i = 0; i < k / 8; i++) nw += __builtin_popcountll(set[i]);
        if (nw > 4) nw = 4;
    }
    if (nw == 1) nw = 0;   /* one core: compress inline */
    if ((r = start_workers(nw, ck.cfg.level)) < 0) { ckdir_abort(&tx); fail("arena", r); }
    choose_read_mode(pagemap);
    watch_next_ns = 0;
    if (ck.cfg.capture == CK_CAPTURE_AUTO && ck_capture_mode() == CK_CAPTURE_FORK && !ck.cuda_ckpt) {
        watch_next_ns = ck_now_ns(CLOCK_MONOTONIC) + 250000000ull;
        done_pages = 0;
    }
    for (int i = 0; i < nvmas; i++) {
        r = save_vma(w, &vmas[i], pagemap);
        if (r == -ECANCELED) {
            ckdir_abort(&tx);
            ck_sys1(SYS_exit_group, CK_WRITER_GAVE_UP);
        }
        if (r < 0) {
            ckdir_abort(&tx);
            ck_err("checkpoint %u failed: saving %lx-%lx %s: %s", ck.seq,
                   (unsigned long)vmas[i].v.start, (unsigned long)vmas[i].v.end, vmas[i].path,
                   ckf_reason(r));
            ck_sys1(SYS_exit_group, CK_WRITER_FAILED);
        }
    }
    if ((r = flush_all(w)) < 0) { ckdir_abort(&tx); fail2("compressing memory", r, 1); }
    quit = 1;
    ck_futex_wake(&submitted);
    uint64_t t_mem = ck_now_ns(CLOCK_MONOTONIC);
    if ((r = write_vmas_and_fileids(w)) < 0) { ckdir_abort(&tx); fail("writing the memory map", r); }
    r = ckf_writer_close(w);
    if (r >= 0) r = wsink_finish(&sink);
    if (r < 0) { ckdir_abort(&tx); fail2("finishing the container", r, 1); }
    uint64_t t_close = ck_now_ns(CLOCK_MONOTONIC);
    r = ckdir_commit(&tx);
    struct { long tv[4]; long rest[14]; } ru;   /* struct rusage: utime, stime first */
    ck_sys2(SYS_getrusage, 0 /* RUSAGE_SELF */, &ru);
    ck_debug("writer: start %lu ms, memory %lu ms, close %lu ms, commit %lu ms; cpu user %ld ms, sys %ld ms",
             (unsigned long)((t_start - ck.t_stop_ns) / 1000000), (unsigned long)((t_mem - t_start) / 1000000),
             (unsigned long)((t_close - t_mem) / 1000000),
             (unsigned long)((ck_now_ns(CLOCK_MONOTONIC) - t_close) / 1000000),
             ru.tv[0] * 1000 + ru.tv[1] / 1000, ru.tv[2] * 1000 + ru.tv[3] / 1000);
    if (r < 0) { ckdir_abort(&tx); fail("making the checkpoint durable", r); }
    if (ck.cfg.keep > 0) ckdir_gc(dirfd, (unsigned)ck.cfg.keep, NULL);
    if (watch_next_ns) {
        uint64_t present, excl;
        count_rewritten(pagemap, &present, &excl);
        int much = rewrites_much(present, excl);
        ck_debug("writer: the program rewrote %lu of %lu MiB of its private memory while the checkpoint was "
                 "written%s", (unsigned long)(excl * PAGE >> 20), (unsigned long)(present * PAGE >> 20),
                 much ? "; copy capture from now on" : "");
        if (much) ck_sys1(SYS_exit_group, CK_WRITER_COPY_NEXT);
    }
    ck_sys1(SYS_exit_group, 0);
    __builtin_unreachable();
}
