/*
 * ckdir.c - checkpoint directory layout: naming, atomic commit, cleanup, gc.
 *
 * Runs inside libckpt's raw-fork()ed writer child as well as in the tool, so
 * it uses only system calls and a few libc string helpers that take no lock:
 * no malloc, no stdio, no opendir/readdir (glibc's take a lock and allocate).
 * Directory walks read getdents64 records into a 4 KiB stack buffer through a
 * private descriptor opened with openat(dirfd, "."), so the caller's
 * descriptor offset never moves and a walk may unlink what it visits.
 *
 * The crash-consistency argument (see ckdir.h for the layout):
 *  1. the checkpoint is written under a dot-name no reader treats as complete;
 *  2. fsync(file) before rename, so a final name never points at data that a
 *     power cut can take back;
 *  3. `latest` is replaced by renaming a fresh symlink over it: readers see the
 *     old or the new target, never a missing link;
 *  4. fsync(directory) makes both renames durable before commit returns.
 */
#include "format/ckdir.h"
#include "format/ckf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>       /* RENAME_NOREPLACE only; no stdio function is used */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ck_dirent64 {
    uint64_t d_ino;
    int64_t  d_off;
    unsigned short d_reclen;
    unsigned char  d_type;
    char     d_name[];
};

/* ---- names ------------------------------------------------------------------------ */

/* Appends the decimal form of v, zero-padded to `width`, at p; returns the end. */
static char *put_u32(char *p, char *end, uint32_t v, int width)
{
    char tmp[12];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n < width && n < (int)sizeof tmp) tmp[n++] = '0';
    if (end - p < n) return NULL;
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, char *end, const char *s)
{
    size_t n = strlen(s);
    if (!p || (size_t)(end - p) < n) return NULL;
    memcpy(p, s, n);
    return p + n;
}

int ckdir_format_name(char *buf, size_t cap, int kind, uint32_t seq, uint32_t pid)
{
    char *p = buf, *end = buf + cap;
    if (!buf || cap == 0) return -EINVAL;
    switch (kind) {
    case CKDIR_FINAL:
        p = put_str(p, end, "ckpt-");
        if (p) p = put_u32(p, end, seq, 6);
        p = put_str(p, end, "-");
        if (p) p = put_u32(p, end, pid, 1);
        p = put_str(p, end, ".ckpt");
        break;
    case CKDIR_TEMP:
        p = put_str(p, end, ".ckpt-");
        if (p) p = put_u32(p, end, seq, 6);
        p = put_str(p, end, "-");
        if (p) p = put_u32(p, end, pid, 1);
        p = put_str(p, end, ".tmp");
        break;
    case CKDIR_LINKTMP:
        p = put_str(p, end, ".latest-");
        if (p) p = put_u32(p, end, pid, 1);
        p = put_str(p, end, ".tmp");
        break;
    default:
        return -EINVAL;
    }
    if (!p || p == end) return -ENAMETOOLONG;
    *p = '\0';
    return (int)(p - buf);
}

/* Parses digits at *s up to a non-digit; fails on overflow or no digits. */
static int get_u32(const char **s, uint32_t *out, int *ndigits)
{
    uint64_t v = 0;
    int n = 0;
    while (**s >= '0' && **s <= '9') {
        v = v * 10 + (uint64_t)(**s - '0');
        if (v > UINT32_MAX) return -1;
        (*s)++; n++;
    }
    if (n == 0) return -1;
    *out = (uint32_t)v;
    *ndigits = n;
    return 0;
}

static int has_prefix(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

int ckdir_parse_name(const char *name, uint32_t *seq, uint32_t *pid)
{
    const char *s = name;
    uint32_t sq = 0, pd = 0;
    int kind, nd;
    char canon[CKDIR_NAME_MAX];

    if (has_prefix(s, "ckpt-")) { kind = CKDIR_FINAL; s += 5; }
    else if (has_prefix(s, ".ckpt-")) { kind = CKDIR_TEMP; s += 6; }
    else if (has_prefix(s, ".latest-")) { kind = CKDIR_LINKTMP; s += 8; }
    else return CKDIR_OTHER;

    if (kind != CKDIR_LINKTMP) {
        if (get_u32(&s, &sq, &nd) < 0 || nd < 6 || *s != '-') return CKDIR_OTHER;
        s++;
    }
    if (get_u32(&s, &pd, &nd) < 0) return CKDIR_OTHER;
    if (strcmp(s, kind == CKDIR_FINAL ? ".ckpt" : ".tmp") != 0) return CKDIR_OTHER;
    /* Only the canonical spelling counts, so that (seq, pid) names one file. */
    if (ckdir_format_name(canon, sizeof canon, kind, sq, pd) < 0 || strcmp(canon, name) != 0)
        return CKDIR_OTHER;
    if (seq) *seq = sq;
    if (pid) *pid = pd;
    return kind;
}

/* ---- directory ---------------------------------------------------------------------- */

static int is_dir_path(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int ckdir_prepare(const char *path)
{
    char buf[PATH_MAX];
    size_t n;
    int fd;

    if (!path || !*path) return -EINVAL;
    n = strlen(path);
    if (n >= sizeof buf) return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    /* Create each missing component, parents first (mkdir -p). */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        if (buf[i - 1] == '/') continue;             /* "a//b" */
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
            int e = errno;
            /* EACCES/EROFS on a component that already exists is fine. */
            if (!is_dir_path(buf)) { buf[i] = saved; return -e; }
        }
        buf[i] = saved;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    return fd;
}

int ckdir_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ckdir_walk(int dirfd, ckdir_walk_cb cb, void *arg)
{
    /* 8-byte alignment for the dirent records. */
    uint64_t buf[512];
    int fd, ret = 0;

    fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            ret = -errno;
            break;
        }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            const struct ck_dirent64 *d = (const void *)((const char *)buf + off);
            uint32_t seq = 0, pid = 0;
            int kind;
            off += d->d_reclen;
            kind = ckdir_parse_name(d->d_name, &seq, &pid);
            if (kind == CKDIR_OTHER) continue;
            ret = cb(arg, d->d_name, kind, seq, pid);
            if (ret) goto out;
        }
    }
out:
    close(fd);
    return ret;
}

/* ---- commit ----------------------------------------------------------------------- */

int ckdir_begin(int dirfd, uint32_t seq, uint32_t pid, ckdir_txn *t)
{
    int r;
    if (!t || dirfd < 0) return -EINVAL;
    memset(t, 0, sizeof *t);
    t->dirfd = dirfd;
    t->fd = -1;
    t->seq = seq;
    t->pid = pid;
    r = ckdir_format_name(t->tmpname, sizeof t->tmpname, CKDIR_TEMP, seq, pid);
    if (r < 0) return r;
    r = ckdir_format_name(t->name, sizeof t->name, CKDIR_FINAL, seq, pid);
    if (r < 0) return r;
    if (faccessat(dirfd, t->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        t->stage = 3;
        return -EEXIST;
    }
    t->fd = openat(dirfd, t->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (t->fd < 0) { t->stage = 3; return -errno; }
    return 0;
}

static int fsync_retry(int fd)
{
    while (fsync(fd) < 0) {
        if (errno != EINTR) return -errno;
    }
    return 0;
}

int ckdir_commit(ckdir_txn *t)
{
    char linktmp[CKDIR_NAME_MAX];
    int r;

    if (!t || t->fd < 0 || t->stage != 0) return -EINVAL;
    r = fsync_retry(t->fd);
    if (r < 0) return r;
    /* RENAME_NOREPLACE: never replace a complete checkpoint of the same name;
     * file systems without it get the plain rename (begin checked the name). */
    if (syscall(SYS_renameat2, t->dirfd, t->tmpname, t->dirfd, t->name,
                RENAME_NOREPLACE) < 0) {
        if (errno != EINVAL && errno != ENOSYS) return -errno;
        if (renameat(t->dirfd, t->tmpname, t->dirfd, t->name) < 0) return -errno;
    }
    t->stage = 1;

    r = ckdir_format_name(linktmp, sizeof linktmp, CKDIR_LINKTMP, 0, t->pid);
    if (r < 0) return r;
    if (unlinkat(t->dirfd, linktmp, 0) < 0 && errno != ENOENT) return -errno;
    if (symlinkat(t->name, t->dirfd, linktmp) < 0) return -errno;
    if (renameat(t->dirfd, linktmp, t->dirfd, CKDIR_LATEST) < 0) {
        r = -errno;
        unlinkat(t->dirfd, linktmp, 0);
        return r;
    }
    t->stage = 2;
    /* `latest` already names the new file: from here on a failure must not make
     * the caller delete it, so the fd is closed and the txn marked done first. */
    r = fsync_retry(t->dirfd);
    if (close(t->fd) < 0 && r == 0 && errno != EINTR) r = -errno;
    t->fd = -1;
    return r;
}

int ckdir_abort(ckdir_txn *t)
{
    int r = 0;
    if (!t) return -EINVAL;
    if (t->fd >= 0) { close(t->fd); t->fd = -1; }
    if (t->stage == 0) {
        if (unlinkat(t->dirfd, t->tmpname, 0) < 0 && errno != ENOENT) r = -errno;
    } else if (t->stage == 1) {
        if (unlinkat(t->dirfd, t->name, 0) < 0 && errno != ENOENT) r = -errno;
    }
    if (t->stage < 2) t->stage = 3;
    return r;
}

/* ---- inspection ------------------------------------------------------------------- */

int ckdir_read_latest(int dirfd, char *buf, size_t cap, uint32_t *seq, uint32_t *pid)
{
    ssize_t n;
    if (!buf || cap < 2) return -EINVAL;
    n = readlinkat(dirfd, CKDIR_LATEST, buf, cap - 1);
    if (n < 0) return -errno;
    if ((size_t)n >= cap - 1) return -ENAMETOOLONG;
    buf[n] = '\0';
    if (ckdir_parse_name(buf, seq, pid) != CKDIR_FINAL) return -EINVAL;
    return 0;
}

int ckdir_looks_valid(int dirfd, const char *name)
{
    struct stat st;
    char magic[8];
    ckf_footer f;
    int fd, ok = 0;

    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -errno;
    if (fstat(fd, &st) < 0) { int e = errno; close(fd); return -e; }
    if (S_ISREG(st.st_mode) &&
        st.st_size >= (off_t)(CKF_HEADER_SIZE + CKF_FOOTER_SIZE) &&
        pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
        memcmp(magic, CKF_MAGIC, 8) == 0 &&
        pread(fd, &f, sizeof f, st.st_size - CKF_FOOTER_SIZE) == (ssize_t)sizeof f &&
        memcmp(f.magic, CKF_FOOTER_MAGIC, 8) == 0 &&
        f.file_size == (uint64_t)st.st_size)
        ok = 1;
    close(fd);
    return ok;
}

static int pid_dead(uint32_t pid)
{
    /* pid 0 or > INT_MAX cannot be a writer (and kill(0, ...) means the group). */
    if (pid == 0 || pid > INT_MAX) return 1;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

struct clean_ctx {
    int dirfd;
    uint32_t self_pid, cur_seq;
    unsigned flags;
    void (*removed)(void *, const char *);
    void *arg;
    int count, err;
};

static int clean_cb(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    struct clean_ctx *c = arg;
    int rm = 0;
    if (kind == CKDIR_TEMP) {
        rm = pid_dead(pid) ||
             (c->self_pid && pid == c->self_pid && seq < c->cur_seq) ||
             ((c->flags & CKDIR_CLEAN_ALL_OLDER) && seq < c->cur_seq);
    } else if (kind == CKDIR_LINKTMP) {
        /* Our own link temp only exists inside our own (serialised) commit. */
        rm = pid_dead(pid) || (c->self_pid && pid == c->self_pid);
    }
    if (!rm) return 0;
    if (unlinkat(c->dirfd, name, 0) < 0) {
        if (errno != ENOENT && !c->err) c->err = -errno;
        return 0;
    }
    c->count++;
    if (c->removed) c->removed(c->arg, name);
    return 0;
}

int ckdir_clean_temps(int dirfd, uint32_t self_pid, uint32_t cur_seq, unsigned flags,
                      void (*removed)(void *arg, const char *name), void *arg)
{
    struct clean_ctx c = { dirfd, self_pid, cur_seq, flags, removed, arg, 0, 0 };
    int r = ckdir_walk(dirfd, clean_cb, &c);
    if (r < 0) return r;
    if (c.err && c.count == 0) return c.err;
    return c.count;
}

static int maxseq_cb(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    uint32_t *m = arg;
    if ((kind == CKDIR_FINAL || kind == CKDIR_TEMP) && seq > *m) *m = seq;
    return 0;
}

long ckdir_next_seq(int dirfd)
{
    uint32_t m = 0;
    int r = ckdir_walk(dirfd, maxseq_cb, &m);
    if (r < 0) return r;
    return (long)m + 1;
}

/* ---- gc --------------------------------------------------------------------------- */

#define KEY(seq, pid) (((uint64_t)(seq) << 32) | (uint64_t)(pid))

/* Finds the largest checkpoint key strictly below `below`. */
struct below_ctx { uint64_t below, best; int found; };

static int below_cb(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    struct below_ctx *b = arg;
    uint64_t k = KEY(seq, pid);
    if (kind != CKDIR_FINAL || k >= b->below) return 0;
    if (!b->found || k > b->best) { b->best = k; b->found = 1; }
    return 0;
}

static int key_below(int dirfd, uint64_t below, uint64_t *out)
{
    struct below_ctx b = { below, 0, 0 };
    int r = ckdir_walk(dirfd, below_cb, &b);
    if (r < 0) return r;
    if (!b.found) return 0;
    *out = b.best;
    return 1;
}

struct gc_ctx {
    int dirfd;
    uint64_t threshold, latest, valid;
    int has_latest, has_valid;
    const ckdir_gc_ops *ops;
    int count, err;
};

static int gc_cb(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    struct gc_ctx *g = arg;
    uint64_t k = KEY(seq, pid);
    if (kind != CKDIR_FINAL || k >= g->threshold) return 0;
    if (g->has_latest && k == g->latest) return 0;
    if (g->has_valid && k == g->valid) return 0;
    if (unlinkat(g->dirfd, name, 0) < 0) {
        if (errno != ENOENT && !g->err) g->err = -errno;
        return 0;
    }
    g->count++;
    if (g->ops && g->ops->deleted) g->ops->deleted(g->ops->arg, name, seq, pid);
    return 0;
}

int ckdir_gc(int dirfd, unsigned keep, const ckdir_gc_ops *ops)
{
    struct gc_ctx g;
    char name[CKDIR_NAME_MAX];
    uint64_t k = UINT64_MAX, thr = 0;
    uint32_t lseq, lpid;
    int r;

    if (keep == 0) return 0;
    memset(&g, 0, sizeof g);
    g.dirfd = dirfd;
    g.ops = ops;

    /* The keep-th newest key: everything at or above it stays. */
    for (unsigned i = 0; i < keep; i++) {
        r = key_below(dirfd, k, &k);
        if (r < 0) return r;
        if (r == 0) return 0;          /* no more than `keep` checkpoints */
        thr = k;
    }
    g.threshold = thr;

    if (ckdir_read_latest(dirfd, name, sizeof name, &lseq, &lpid) == 0) {
        g.latest = KEY(lseq, lpid);
        g.has_latest = 1;
    }
    /* Newest valid checkpoint, walking down from the top. */
    for (k = UINT64_MAX;;) {
        r = key_below(dirfd, k, &k);
        if (r < 0) return r;
        if (r == 0) break;
        if (ckdir_format_name(name, sizeof name, CKDIR_FINAL, (uint32_t)(k >> 32),
                              (uint32_t)k) < 0)
            continue;
        r = ops && ops->is_valid ? ops->is_valid(ops->arg, dirfd, name)
                                 : ckdir_looks_valid(dirfd, name);
        if (r == 1) { g.valid = k; g.has_valid = 1; break; }
    }

    r = ckdir_walk(dirfd, gc_cb, &g);
    if (r < 0) return r;
    if (g.count) fsync_retry(dirfd);
    if (g.err && g.count == 0) return g.err;
    return g.count;
}
