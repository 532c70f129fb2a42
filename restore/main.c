/*
 * ckpt-restore - turns itself into a saved process.
 *
 *     ckpt-restore [--force] [--no-pidns] [-v] FILE|DIR
 *
 * Phases (nothing of the program runs, and nothing is torn down, until the
 * last one; any failure before it is a one-line message and exit status 1):
 *
 *  1. validate: open the container (header, index, every metadata chunk's
 *     checksum), check that the executable and every mapped file are the same
 *     files (size and content fingerprint / build-id), that the files the
 *     program had open exist and were not shortened, that this kernel's vdso
 *     layout matches;
 *  2. ids: unless --no-pidns or unavailable, enter a new user + pid + mount
 *     namespace: an init process (pid 1 there) mounts a fresh /proc and creates
 *     the program's process with clone3(set_tid) at its saved pid, so pids and
 *     tids are the saved ones.  The ckpt-restore process the caller started
 *     stays outside, forwards the signals sent to it (kill -USR1/-TERM <pid>)
 *     and exits with the program's status;
 *  3. stage (in the program's process): map every saved region, directly at
 *     its address when that is free, else in a free hole; fill it from the
 *     container (decompressing in place; every block's checksum and content
 *     hash verified); private file mappings are mapped from their files and
 *     only the diverged pages are written; re-open files at their offsets;
 *     set cwd, umask, rlimits and signal dispositions;
 *  4. point of no return: copy the restorer blob (restore/pie_restorer.c) into
 *     a hole used by neither layout and jump to it; it unmaps the launcher,
 *     moves everything into place and re-creates the threads, each entering
 *     libckpt's park handler in the restored image, which finishes the job.
 *
 * File policy (README "Restore policy"): fds 0-2 are always the launcher's
 * own; regular files are re-opened by path at the saved offset, and a file
 * open for writing that grew since the checkpoint is truncated back to its
 * checkpointed size, so the resumed program rewrites what an uninterrupted run
 * would have written (a file that shrank is refused without --force); pipes
 * with both ends in the program are re-created (contents in flight are lost);
 * eventfds get their counter back; sockets, deleted files and other kinds
 * become /dev/null with a warning.
 */
#include "format/ckf.h"
#include "format/ckc.h"
#include "preload/resume.h"
#include "restore/restorer.h"
#include "restorer_syms.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/timerfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern const unsigned char ckpt_restorer_blob[];
extern const size_t ckpt_restorer_blob_size;

#define PAGE 4096ull
#define ALIGN_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))

static int opt_force, opt_nopidns, opt_verbose;
static int stdio_files;   /* --stdio=file: regular-file stdio reopened by path */
struct image;
static const char *img_path;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ckpt-restore: %s\n", b);
    exit(1);
}

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx(const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ckpt-restore: warning: %s\n", b);
}

#define vlog(...) do { if (opt_verbose) fprintf(stderr, "ckpt-restore: " __VA_ARGS__); } while (0)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the image ----------------------------------------------------------------------- */

struct image {
    ckf_reader *r;
    ckc_process proc;
    const char *pstrs; size_t pstrs_len;
    ckc_vma *vmas; uint32_t nvmas; const char *vstrs; size_t vstrs_len;
    ckc_thread *threads; uint32_t nthreads;
    ckc_fd *fds; uint32_t nfds; const char *fstrs; size_t fstrs_len;
    ckc_signals sig; int has_sig;
    ckc_timers timers;
    ckc_rlimits rl; int has_rl;
    ckc_fileid *fids; uint32_t nfids; const char *istrs; size_t istrs_len;
};
static struct image im;

static char *strdup_ref(const char *strs, size_t len, ckc_strref ref)
{
    size_t n;
    const char *s = ckc_str(strs, len, ref, &n);
    if (!s) die("%s: corrupt string reference in the checkpoint", img_path);
    char *o = malloc(n + 1);
    if (!o) die("out of memory");
    memcpy(o, s, n);
    o[n] = 0;
    return o;
}

static void *read_chunk(size_t i, size_t *len)
{
    void *buf = NULL;
    long n = ckf_reader_read_alloc(im.r, i, &buf);
    if (n < 0) die("%s: chunk %zu: %s", img_path, i, ckf_strerror((int)n));
    *len = (size_t)n;
    return buf;
}

/* Table chunks: fixed header (hdr bytes) + count records + string area. */
static void split_table(const char *what, char *buf, size_t len, size_t hdr, size_t rec,
                        uint32_t count, void **recs, const char **strs, size_t *strs_len)
{
    if (len < hdr || (len - hdr) / rec < count) die("%s: corrupt %s chunk", img_path, what);
    *recs = buf + hdr;
    *strs = buf + hdr + (size_t)count * rec;
    *strs_len = len - hdr - (size_t)count * rec;
}

/* A table chunk (VMAS, FILES, FILEIDS): its fixed header starts with a u32
 * record count.  Returns the count; the chunk buffer is kept. */
static uint32_t load_table(size_t i, const char *what, size_t hdr, size_t rec, void **recs,
                           const char **strs, size_t *strs_len)
{
    size_t len;
    char *b = read_chunk(i, &len);
    if (len < hdr || hdr < sizeof(uint32_t)) die("%s: corrupt %s", img_path, what);
    uint32_t count;
    memcpy(&count, b, sizeof count);
    split_table(what, b, len, hdr, rec, count, recs, strs, strs_len);
    return count;
}

static void load_image(void)
{
    int rc = ckf_reader_open_path(&im.r, img_path, NULL);
    if (rc < 0) die("%s: not a usable checkpoint: %s", img_path, ckf_strerror(rc));
    size_t n = ckf_reader_count(im.r);
    size_t nthr_cap = 0;
    for (size_t i = 0; i < n; i++) {
        const ckf_index_entry *e = ckf_reader_entry(im.r, i);
        size_t len;
        char *b;
        switch (e->type) {
        case CKF_T_MEMBLK:
            break;
        case CKF_T_PROCESS:
            b = read_chunk(i, &len);
            if (len < sizeof im.proc) die("%s: corrupt process chunk", img_path);
            memcpy(&im.proc, b, sizeof im.proc);
            im.pstrs = b + sizeof im.proc;
            im.pstrs_len = len - sizeof im.proc;
            if (im.proc.version != CKC_PROCESS_VERSION)
                die("%s: process record version %u is not supported", img_path, im.proc.version);
            break;
        case CKF_T_VMAS: {
            void *recs;
            im.nvmas = load_table(i, "memory map", sizeof(ckc_vmas), sizeof(ckc_vma), &recs, &im.vstrs,
                                  &im.vstrs_len);
            im.vmas = recs;
            break;
        }
        case CKF_T_THREAD:
            b = read_chunk(i, &len);
            if (len < sizeof(ckc_thread)) die("%s: corrupt thread chunk", img_path);
            if (im.nthreads == nthr_cap) {
                nthr_cap = nthr_cap ? nthr_cap * 2 : 16;
                im.threads = realloc(im.threads, nthr_cap * sizeof(ckc_thread));
                if (!im.threads) die("out of memory");
            }
            memcpy(&im.threads[im.nthreads++], b, sizeof(ckc_thread));
            free(b);
            break;
        case CKF_T_FILES: {
            void *recs;
            im.nfds = load_table(i, "file table", sizeof(ckc_files), sizeof(ckc_fd), &recs, &im.fstrs,
                                 &im.fstrs_len);
            im.fds = recs;
            break;
        }
        case CKF_T_SIGNALS:
            b = read_chunk(i, &len);
            if (len < sizeof im.sig) die("%s: corrupt signal chunk", img_path);
            memcpy(&im.sig, b, sizeof im.sig);
            im.has_sig = 1;
            free(b);
            break;
        case CKF_T_TIMERS:
            b = read_chunk(i, &len);
            if (len >= sizeof im.timers) memcpy(&im.timers, b, sizeof im.timers);
            free(b);
            break;
        case CKF_T_RLIMITS:
            b = read_chunk(i, &len);
            if (len >= sizeof im.rl) { memcpy(&im.rl, b, sizeof im.rl); im.has_rl = 1; }
            free(b);
            break;
        case CKF_T_FILEIDS: {
            void *recs;
            im.nfids = load_table(i, "file identities", sizeof(ckc_fileids), sizeof(ckc_fileid), &recs,
                                  &im.istrs, &im.istrs_len);
            im.fids = recs;
            break;
        }
        default:
            if ((e->type & CKF_CRITICAL) && e->type != CKF_T_CUDA)
                die("%s: chunk type 0x%04x is required to restore but not known to this "
                    "ckpt-restore (newer format?)", img_path, e->type);
            break;
        }
    }
    if (!im.proc.version) die("%s: no process record", img_path);
    if (!im.nvmas) die("%s: no memory map", img_path);
    if (!im.nthreads) die("%s: no threads", img_path);
}

/* ---- validation (phase 1) ------------------------------------------------------------ */

static void file_fingerprint(int fd, uint64_t size, uint8_t out[16])
{
    size_t n1 = size < 65536 ? size : 65536;
    char *b = malloc(131072);
    if (!b) die("out of memory");
    ssize_t r1 = pread(fd, b, n1, 0), r2 = 0;
    if (size > 65536) {
        uint64_t off = size > 131072 ? size - 65536 : 65536;
        r2 = pread(fd, b + (r1 > 0 ? r1 : 0), size - off < 65536 ? size - off : 65536, (off_t)off);
    }
    ckf_hash128(b, (size_t)((r1 > 0 ? r1 : 0) + (r2 > 0 ? r2 : 0)), out);
    free(b);
}

/* Whether every mapping of file id i is a writable shared one whose pages the
 * checkpoint holds (CKC_VMA_SHARED_SAVED): such a file is expected to have
 * changed (the program writes it), and the restore writes the pages back. */
static int fileid_saved_only(uint32_t i)
{
    int n = 0;
    for (uint32_t k = 0; k < im.nvmas; k++) {
        if (!(im.vmas[k].flags & CKC_VMA_FILE) || im.vmas[k].fileid != (int32_t)i) continue;
        if (!(im.vmas[k].flags & CKC_VMA_SHARED_SAVED)) return 0;
        n++;
    }
    return n > 0;
}

/* Whether path is the file of a CKC_VMA_SHARED_SAVED mapping (its mapping
 * re-creates it if it is gone). */
static int path_shared_saved(const char *path)
{
    for (uint32_t k = 0; k < im.nvmas; k++) {
        const ckc_vma *v = &im.vmas[k];
        if (!(v->flags & CKC_VMA_SHARED_SAVED) || v->fileid < 0 || (uint32_t)v->fileid >= im.nfids) continue;
        char *p = strdup_ref(im.istrs, im.istrs_len, im.fids[v->fileid].path);
        int same = !strcmp(p, path);
        free(p);
        if (same) return 1;
    }
    return 0;
}

static void check_files(void)
{
    int bad = 0;
    for (uint32_t i = 0; i < im.nfids; i++) {
        ckc_fileid *id = &im.fids[i];
        if (fileid_saved_only(i)) continue;
        char *path = strdup_ref(im.istrs, im.istrs_len, id->path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        const char *why = NULL;
        if (fd < 0 || fstat(fd, &st) < 0) why = "is missing";
        else if ((uint64_t)st.st_size != id->size) why = "has changed (size differs)";
        else {
            uint8_t h[16];
            file_fingerprint(fd, (uint64_t)st.st_size, h);
            if (memcmp(h, id->hash, 16)) why = "has changed (content differs)";
        }
        if (fd >= 0) close(fd);
        if (why) {
            if (opt_force) warnx("%s %s since the checkpoint (--force: restoring anyway)", path, why);
            else {
                fprintf(stderr, "ckpt-restore: %s: %s %s since the checkpoint; "
                        "refusing to restore (use --force to override)\n", img_path, path, why);
                bad = 1;
            }
        }
        free(path);
        if (bad) exit(1);
    }
    for (uint32_t i = 0; i < im.nfds; i++) {
        ckc_fd *f = &im.fds[i];
        if (f->kind != CKC_FD_REG || f->fd <= 2 || (f->flags & (CKC_FD_INTERNAL | CKC_FD_DELETED))) continue;
        char *path = strdup_ref(im.fstrs, im.fstrs_len, f->path);
        struct stat st;
        if (path_shared_saved(path)) {
            /* mapped shared and written: its pages are in the checkpoint */
            free(path);
            continue;
        }
        if (stat(path, &st) < 0) {
            if (!opt_force)
                die("%s: file %s (fd %d) the program had open is missing; refusing to restore "
                    "(use --force to get /dev/null instead)", img_path, path, f->fd);
            warnx("file %s (fd %d) is missing: fd %d will be /dev/null", path, f->fd, f->fd);
        } else if ((f->open_flags & O_ACCMODE) != O_RDONLY && (uint64_t)st.st_size < f->size) {
            if (!opt_force)
                die("%s: file %s (fd %d) is shorter than at the checkpoint (%llu < %llu bytes); "
                    "refusing to restore (use --force)", img_path, path, f->fd,
                    (unsigned long long)st.st_size, (unsigned long long)f->size);
            warnx("file %s is shorter than at the checkpoint", path);
        }
        free(path);
    }
    if (im.proc.uid != getuid() && getuid() != 0)
        die("%s: checkpoint of uid %u cannot be restored by uid %u", img_path, im.proc.uid, getuid());
}

/* ---- address-space bookkeeping ------------------------------------------------------- */

struct range { uint64_t start, end; };
struct rangeset { struct range *r; size_t n, cap; };

static void rs_add(struct rangeset *s, uint64_t a, uint64_t b)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->r = realloc(s->r, s->cap * sizeof *s->r);
        if (!s->r) die("out of memory");
    }
    s->r[s->n++] = (struct range){ a, b };
}

static int rs_overlaps(const struct rangeset *s, uint64_t a, uint64_t b)
{
    for (size_t i = 0; i < s->n; i++)
        if (a < s->r[i].end && b > s->r[i].start) return 1;
    return 0;
}

static int cmp_range(const void *x, const void *y)
{
    const struct range *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* Lowest free gap of len bytes at or above 'from', avoiding every range in s. */
static uint64_t rs_find_gap(struct rangeset *s, uint64_t len, uint64_t from)
{
    qsort(s->r, s->n, sizeof *s->r, cmp_range);
    uint64_t cand = from;
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].end <= cand) continue;
        if (s->r[i].start >= cand + len) break;
        cand = ALIGN_UP(s->r[i].end);
    }
    if (cand + len > 0x7ff000000000ull) die("no free address range of %llu bytes", (unsigned long long)len);
    return cand;
}

struct mapline { uint64_t start, end; char path[256]; };

static struct mapline *read_maps(size_t *count)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) die("cannot read /proc/self/maps: %s", strerror(errno));
    size_t cap = 256, n = 0;
    struct mapline *m = malloc(cap * sizeof *m);
    if (!m) die("out of memory");
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (n == cap) {
            struct mapline *bigger = realloc(m, cap * 2 * sizeof *m);
            if (!bigger) die("out of memory");
            m = bigger;
            cap *= 2;
        }
        unsigned long a, b;
        int pos = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &a, &b, &pos) < 2) continue;
        m[n].start = a;
        m[n].end = b;
        char *p = line + pos;
        p[strcspn(p, "\n")] = 0;
        snprintf(m[n].path, sizeof m[n].path, "%s", pos ? p : "");
        n++;
    }
    fclose(f);
    *count = n;
    return m;
}

/* ---- staging (phase 3) ---------------------------------------------------------------- */

struct stage { struct rs_region *regs; size_t n; };
static struct rs_region *regions;
static size_t nregions;
static struct rangeset occupied;   /* target layout + launcher + holes taken */
static struct rangeset keep;       /* what the blob must not unmap */

/* Filling the staged memory: every MEMBLK of the index becomes a task
 * (decompress into its final place); tasks run on several threads, each with
 * its own reader (a reader is not thread-safe), and each verifies its blocks'
 * checksums and content hashes. */
/* zero_over: the mapping starts with other contents (a file), so the stored
 * zero pages are written too */
struct fill { uint64_t vstart, vend; char *base; int zero_over; };
struct task { size_t index; char *dst; uint64_t len; int zero; int sparse_ok; };
static struct fill *fills;
static size_t nfills;
static struct task *tasks;
static size_t ntasks;
static size_t next_task;
static int fill_err;
static size_t fill_err_index;

/* Copies the non-zero pages of a decoded block into place.  Fresh memory is
 * slow to touch here (a page fault per page); pages that are zero in the image
 * are left untouched, they read as zero anyway.  (Not for private file
 * mappings, where a zero page must override the file's content.) */
static void place_nonzero(char *dst, const char *src, uint64_t len)
{
    for (uint64_t off = 0; off < len; off += PAGE) {
        uint64_t n = len - off < PAGE ? len - off : PAGE;
        if (!ckf_is_zero(src + off, n)) memcpy(dst + off, src + off, n);
    }
}

static void *fill_worker(void *arg)
{
    ckf_reader *r = arg;
    char *scratch = malloc(CKF_MAX_BLOCK);
    for (;;) {
        size_t t = __atomic_fetch_add(&next_task, 1, __ATOMIC_RELAXED);
        if (t >= ntasks || __atomic_load_n(&fill_err, __ATOMIC_RELAXED)) break;
        struct task *k = &tasks[t];
        if (k->zero) { memset(k->dst, 0, k->len); continue; }
        long n;
        if (k->sparse_ok && scratch && k->len <= CKF_MAX_BLOCK) {
            n = ckf_reader_read(r, k->index, scratch, k->len);
            if (n >= 0) place_nonzero(k->dst, scratch, k->len);
        } else {
            n = ckf_reader_read(r, k->index, k->dst, k->len);
        }
        if (n < 0) {
            int z = 0;
            if (__atomic_compare_exchange_n(&fill_err, &z, (int)n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                fill_err_index = k->index;
            break;
        }
    }
    free(scratch);
    return NULL;
}

static void fill_all(void)
{
    size_t n = ckf_reader_count(im.r);
    tasks = malloc(sizeof *tasks * (n + 1));
    if (!tasks) die("out of memory");
    for (size_t i = 0; i < n; i++) {
        const ckf_index_entry *e = ckf_reader_entry(im.r, i);
        if (e->type != CKF_T_MEMBLK) continue;
        size_t lo = 0, hi = nfills;            /* fills are sorted by address */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (fills[mid].vend <= e->key) lo = mid + 1; else hi = mid;
        }
        if (lo == nfills || e->key < fills[lo].vstart || e->key + e->raw_len > fills[lo].vend)
            die("%s: memory block at 0x%llx lies outside the saved memory map", img_path,
                (unsigned long long)e->key);
        if (e->codec == CKF_C_ZERO && !fills[lo].zero_over) continue;
        tasks[ntasks++] = (struct task){ i, fills[lo].base + (e->key - fills[lo].vstart), e->raw_len,
                                         e->codec == CKF_C_ZERO, !fills[lo].zero_over };
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = ncpu > 8 ? 8 : ncpu < 1 ? 1 : (int)ncpu;
    const char *env = getenv("CKPT_RESTORE_THREADS");
    if (env && atoi(env) > 0) nt = atoi(env) > 32 ? 32 : atoi(env);
    if (ntasks < 16) nt = 1;
    pthread_t th[32];
    ckf_reader *rd[32];
    int started = 0;
    for (int i = 1; i < nt; i++) {
        if (ckf_reader_open_path(&rd[i], img_path, NULL) < 0) break;
        if (pthread_create(&th[i], NULL, fill_worker, rd[i])) { ckf_reader_close(rd[i]); break; }
        started = i;
    }
    fill_worker(im.r);
    for (int i = 1; i <= started; i++) {
        pthread_join(th[i], NULL);
        ckf_reader_close(rd[i]);
    }
    if (fill_err)
        die("%s: memory block at 0x%llx: %s", img_path,
            (unsigned long long)ckf_reader_entry(im.r, fill_err_index)->key, ckf_strerror(fill_err));
    free(tasks);
}

static int prot_of(uint32_t f)
{
    return (f & CKC_VMA_READ ? PROT_READ : 0) | (f & CKC_VMA_WRITE ? PROT_WRITE : 0) |
           (f & CKC_VMA_EXEC ? PROT_EXEC : 0);
}

/* ---- objects that descriptors and shared mappings share ------------------------------ */

/* A memfd, a deleted file, shared anonymous or System V memory can be open as
 * a descriptor and mapped, or mapped more than once (a ring buffer mapped
 * twice, a region split by mprotect): each is made once again, found by the
 * dev and ino that the checkpoint gives its descriptors and mappings.  The
 * object's own descriptor stays above the saved numbers until close_others(). */
struct shobj { uint64_t dev, ino; int fd; int owner; /* saved fd it was made for, or -1 */ };
static struct shobj *shobjs;
static size_t nshobjs;

static int recreate_deleted(const ckc_fd *f, const char *path);
static int recreate_memfd(const ckc_fd *f, const char *path);
static void load_fd_chunks(void);
static int max_saved_fd(void);

/* st_dev in the form /proc/self/maps writes (ckc_vma's dev) */
static uint64_t maps_dev(uint64_t st_dev)
{
    return ((uint64_t)major((dev_t)st_dev) << 8) | minor((dev_t)st_dev);
}

static struct shobj *shobj_find(uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; ino && i < nshobjs; i++)
        if (shobjs[i].dev == dev && shobjs[i].ino == ino) return &shobjs[i];
    return NULL;
}

/* The saved descriptor that holds the contents of the object (dev, ino). */
static const ckc_fd *object_fd(uint64_t dev, uint64_t ino)
{
    for (uint32_t i = 0; ino && i < im.nfds; i++) {
        const ckc_fd *f = &im.fds[i];
        if ((f->kind == CKC_FD_MEMFD || (f->kind == CKC_FD_REG && (f->flags & CKC_FD_DATA))) &&
            !(f->flags & (CKC_FD_DUP | CKC_FD_INTERNAL)) && maps_dev(f->dev) == dev && f->ino == ino)
            return f;
    }
    return NULL;
}

/* A descriptor of the object that shared mapping v maps, large enough for
 * every mapping of it: made from its saved descriptor where there is one, an
 * anonymous memfd otherwise. */
static int shared_object(const ckc_vma *v, uint32_t *kind)
{
    struct shobj *o = shobj_find(v->dev, v->ino);
    const ckc_fd *sf = object_fd(v->dev, v->ino);
    *kind = sf ? sf->kind : 0;
    if (o) return o->fd;
    int fd = -1;
    if (sf) {
        load_fd_chunks();
        char *p = strdup_ref(im.fstrs, im.fstrs_len, sf->path);
        fd = sf->kind == CKC_FD_MEMFD ? recreate_memfd(sf, p) : recreate_deleted(sf, p);
        free(p);
    }
    if (fd < 0) fd = memfd_create("ckpt-shared", MFD_CLOEXEC);
    if (fd < 0) die("memfd: %s", strerror(errno));
    uint64_t need = 0;
    for (uint32_t i = 0; i < im.nvmas; i++) {
        const ckc_vma *w = &im.vmas[i];
        if (w == v || (v->ino && w->dev == v->dev && w->ino == v->ino && (w->flags & CKC_VMA_SHARED) &&
                       !(w->flags & CKC_VMA_FILE)))
            if (w->pgoff + (w->end - w->start) > need) need = w->pgoff + (w->end - w->start);
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || ((uint64_t)st.st_size < need && ftruncate(fd, (off_t)need) < 0))
        die("cannot size shared memory of %llu bytes: %s", (unsigned long long)need, strerror(errno));
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, max_saved_fd() + 1);
    if (hi < 0) die("fcntl: %s", strerror(errno));
    close(fd);
    struct shobj *more = realloc(shobjs, (nshobjs + 1) * sizeof *shobjs);
    if (!more) die("out of memory");
    shobjs = more;
    shobjs[nshobjs++] = (struct shobj){ v->dev, v->ino, hi, sf ? sf->fd : -1 };
    return hi;
}

static void stage_memory(void)
{
    size_t nl;
    struct mapline *cur = read_maps(&nl);
    struct rangeset launcher = { 0 };
    for (size_t i = 0; i < nl; i++) {
        rs_add(&launcher, cur[i].start, cur[i].end);
        rs_add(&occupied, cur[i].start, cur[i].end);
    }
    free(cur);
    for (uint32_t i = 0; i < im.nvmas; i++) rs_add(&occupied, im.vmas[i].start, im.vmas[i].end);
    regions = calloc(im.nvmas, sizeof *regions);
    fills = calloc(im.nvmas, sizeof *fills);
    if (!regions || !fills) die("out of memory");

    const char *thp = getenv("CKPT_RESTORE_THP");
    int use_thp = !thp || *thp != '0';
    uint64_t t0 = now_ns(), bytes = 0;
    for (uint32_t i = 0; i < im.nvmas; i++) {
        ckc_vma *v = &im.vmas[i];
        uint32_t f = v->flags;
        if (f & (CKC_VMA_VSYSCALL | CKC_VMA_VDSO | CKC_VMA_VVAR | CKC_VMA_VVAR_VCLOCK)) continue;
        char *path = strdup_ref(im.vstrs, im.vstrs_len, v->path);
        if (f & CKC_VMA_DEVICE) {
            warnx("device mapping %s at 0x%llx is not restored", path, (unsigned long long)v->start);
            free(path);
            continue;
        }
        uint64_t len = v->end - v->start;
        uint64_t at = v->start;
        int move = rs_overlaps(&launcher, v->start, v->end);
        if (move) {
            /* same offset within 2 MiB as the target, so huge pages move as such */
            const uint64_t huge = 2ull << 20;
            at = rs_find_gap(&occupied, len + huge, 0x200000000000ull);
            at += ((v->start % huge) - (at % huge) + huge) % huge;
            rs_add(&occupied, at, at + len);
        }
        int fd = -1, mflags = MAP_FIXED_NOREPLACE, mprot = PROT_READ | PROT_WRITE;
        int zero_over = 0, shared_obj = 0;
        if ((f & CKC_VMA_FILE) && (f & CKC_VMA_SHARED)) {
            fd = open(path, (f & CKC_VMA_WRITE) ? O_RDWR : O_RDONLY);
            int created = 0;
            if (fd < 0 && errno == ENOENT && (f & CKC_VMA_SHARED_SAVED)) {
                fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
                if (fd >= 0) warnx("%s was gone: re-created from the checkpoint's copy of its mapped pages", path);
                created = fd >= 0;
            }
            if (fd < 0) die("cannot open %s for a shared mapping: %s", path, strerror(errno));
            struct stat fst;
            if ((f & CKC_VMA_SHARED_SAVED) && fstat(fd, &fst) == 0 &&
                (uint64_t)fst.st_size < v->pgoff + len) {
                if (ftruncate(fd, (off_t)(v->pgoff + len)) < 0)
                    die("cannot extend %s for a shared mapping: %s", path, strerror(errno));
                if (!created) warnx("%s was shorter than its mapping: extended", path);
            }
            mflags |= MAP_SHARED;
            mprot = prot_of(f) ? prot_of(f) : PROT_READ;
        } else if (f & CKC_VMA_FILE) {
            fd = open(path, O_RDONLY);
            if (fd < 0) die("cannot open %s: %s", path, strerror(errno));
            mflags |= MAP_PRIVATE;
            zero_over = 1;
        } else if (f & CKC_VMA_SHARED) {
            /* The mapping's pages, stored as of the stop, go over the saved
             * descriptor's contents (read while the program ran on).  A memfd's
             * pages that were not stored were not there: a hole.  A deleted
             * file's may be on its disk: those keep the saved contents. */
            uint32_t kind;
            fd = shared_object(v, &kind);
            shared_obj = 1;
            if (kind == CKC_FD_MEMFD &&
                fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)v->pgoff, (off_t)len) < 0)
                die("cannot clear shared memory for %s: %s", path, strerror(errno));
            if (kind == CKC_FD_REG) zero_over = 1;   /* zero pages too */
            mflags |= MAP_SHARED;
        } else {
            mflags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
            /* the main stack keeps growing down on demand after the restore */
            if (f & (CKC_VMA_STACK | CKC_VMA_GROWSDOWN)) mflags |= MAP_GROWSDOWN;
        }
        void *p = mmap((void *)at, len, mprot, mflags, fd, (f & CKC_VMA_FILE) || shared_obj ? (off_t)v->pgoff : 0);
        if (p == MAP_FAILED || (uint64_t)p != at)
            die("cannot map %s at 0x%llx (%llu bytes): %s", path[0] ? path : "[anon]",
                (unsigned long long)at, (unsigned long long)len, strerror(errno));
        if (fd >= 0 && !shared_obj) close(fd);
        /* First touch of 4 KiB pages is slow here: let big anonymous regions use
         * transparent huge pages when the system allows it on request. */
        if ((mflags & MAP_ANONYMOUS) && len >= (4ull << 20) && use_thp) madvise(p, len, MADV_HUGEPAGE);
        fills[nfills++] = (struct fill){ v->start, v->end, p, zero_over };
        bytes += v->stored_bytes;
        struct rs_region *g = &regions[nregions++];
        g->src = at;
        g->dst = v->start;
        g->len = len;
        g->prot = (uint32_t)prot_of(f);
        g->move = (uint32_t)move;
        rs_add(&keep, at, at + len);
        free(path);
    }
    fill_all();
    uint64_t dt = now_ns() - t0;
    vlog("staged %llu MiB of memory in %.3f s\n", (unsigned long long)(bytes >> 20), dt / 1e9);
    free(launcher.r);
}

/* ---- files --------------------------------------------------------------------------- */

static int saved_fd_used(int fd)
{
    for (uint32_t i = 0; i < im.nfds; i++)
        if (im.fds[i].fd == fd) return 1;
    return 0;
}

static int max_saved_fd(void)
{
    int m = 2;
    for (uint32_t i = 0; i < im.nfds; i++)
        if (im.fds[i].fd > m) m = im.fds[i].fd;
    return m;
}

/* Puts fd `from` at number `to` with the saved close-on-exec flag. */
static void place_fd(int from, int to, const ckc_fd *f)
{
    if (from != to) {
        if (dup2(from, to) < 0) die("dup2 to fd %d: %s", to, strerror(errno));
        close(from);
    }
    fcntl(to, F_SETFD, (f->flags & CKC_FD_CLOEXEC) ? FD_CLOEXEC : 0);
}

static int open_devnull(void)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) die("/dev/null: %s", strerror(errno));
    return fd;
}

static void reseal_memfd(int fd, const ckc_fd *f, const char *path);
static void restore_dups(void);
static int recreate_timerfd(const ckc_fd *f);
static int recreate_signalfd(const ckc_fd *f);
static int recreate_listener(const ckc_fd *f);

static void restore_files(int exe_fd)
{
    int hi = max_saved_fd() + 1;
    /* Descriptors of our own that sit on a saved number move out of the way. */
    (void)exe_fd;
    for (uint32_t i = 0; i < im.nfds; i++) {
        ckc_fd *f = &im.fds[i];
        int fd = f->fd;
        /* stdio: terminals, pipes and sockets are the launcher's own; a regular
         * file (prog > out.txt) is the same file again (--stdio=file), or the
         * launcher's (--stdio=inherit). */
        if (fd <= 2 && !(stdio_files && f->kind == CKC_FD_REG && !(f->flags & CKC_FD_DELETED))) continue;
        if (f->flags & CKC_FD_DUP) continue;         /* second pass */
        char *path = strdup_ref(im.fstrs, im.fstrs_len, f->path);
        int nfd = -1;
        int flags = (int)(f->open_flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY));
        if (f->flags & CKC_FD_INTERNAL) {
            if (f->kind == CKC_FD_EVENTFD) nfd = eventfd((unsigned)f->aux, EFD_NONBLOCK);
            else nfd = fcntl(2, F_DUPFD, hi);        /* libckpt's log: our stderr */
        } else if (f->kind == CKC_FD_MEMFD || (f->kind == CKC_FD_REG && (f->flags & CKC_FD_DATA))) {
            struct shobj *o = shobj_find(maps_dev(f->dev), f->ino);
            if (o && o->owner == fd) {
                nfd = fcntl(o->fd, F_DUPFD, hi);         /* its own open file: offset, flags */
            } else if (o) {
                char self[64];                           /* another open file of the object */
                snprintf(self, sizeof self, "/proc/self/fd/%d", o->fd);
                nfd = open(self, flags);
                if (nfd >= 0) lseek(nfd, (off_t)f->pos, SEEK_SET);
            } else {
                nfd = f->kind == CKC_FD_MEMFD ? recreate_memfd(f, path) : recreate_deleted(f, path);
            }
            /* its mappings may reach past its end (sized for them to be filled) */
            struct stat st;
            if (o && nfd >= 0 && fstat(nfd, &st) == 0 && (uint64_t)st.st_size != f->size &&
                ftruncate(nfd, (off_t)f->size) < 0)
                warnx("cannot size %s (fd %d) back to %llu bytes: %s", path, fd,
                      (unsigned long long)f->size, strerror(errno));
            if (nfd >= 0 && f->kind == CKC_FD_MEMFD) reseal_memfd(nfd, f, path);
        } else if (f->kind == CKC_FD_REG && !(f->flags & CKC_FD_DELETED)) {
            nfd = open(path, flags);
            if (nfd < 0) {
                warnx("cannot reopen %s (fd %d): %s; using /dev/null", path, fd, strerror(errno));
            } else {
                struct stat st;
                if ((f->open_flags & O_ACCMODE) != O_RDONLY && fstat(nfd, &st) == 0 &&
                    (uint64_t)st.st_size > f->size) {
                    if (ftruncate(nfd, (off_t)f->size) < 0)
                        warnx("cannot truncate %s back to %llu bytes: %s", path,
                              (unsigned long long)f->size, strerror(errno));
                    else
                        vlog("%s truncated back to its checkpointed size %llu\n", path,
                             (unsigned long long)f->size);
                }
                if (lseek(nfd, (off_t)f->pos, SEEK_SET) < 0)
                    warnx("cannot seek %s to %llu: %s", path, (unsigned long long)f->pos, strerror(errno));
            }
        } else if (f->kind == CKC_FD_DIR) {
            nfd = open(path, O_RDONLY | O_DIRECTORY);
        } else if (f->kind == CKC_FD_TTY || f->kind == CKC_FD_CHR || f->kind == CKC_FD_FIFO) {
            nfd = open(path, flags | O_NOCTTY);
            if (nfd < 0) warnx("cannot reopen %s (fd %d): %s; using /dev/null", path, fd, strerror(errno));
        } else if (f->kind == CKC_FD_EVENTFD) {
            nfd = eventfd((unsigned)f->aux, (f->open_flags & O_NONBLOCK) ? EFD_NONBLOCK : 0);
        } else if (f->kind == CKC_FD_PIPE && (f->flags & CKC_FD_PIPE_SELF)) {
            /* Re-create the pair once, when we meet its read end. */
            if ((f->open_flags & O_ACCMODE) == O_RDONLY) {
                int pp[2];
                if (pipe2(pp, (int)(f->open_flags & O_NONBLOCK)) < 0) die("pipe: %s", strerror(errno));
                /* out of the way of the saved numbers before placing either end */
                for (int e = 0; e < 2; e++) {
                    int t = fcntl(pp[e], F_DUPFD, hi);
                    if (t < 0) die("fcntl: %s", strerror(errno));
                    close(pp[e]);
                    pp[e] = t;
                }
                for (uint32_t j = 0; j < im.nfds; j++) {
                    ckc_fd *g = &im.fds[j];
                    if (j != i && g->kind == CKC_FD_PIPE && g->aux == f->aux &&
                        (g->open_flags & O_ACCMODE) != O_RDONLY && g->fd > 2) {
                        int w = fcntl(pp[1], F_DUPFD, hi);
                        place_fd(w, g->fd, g);
                    }
                }
                close(pp[1]);
                nfd = pp[0];
            } else {
                free(path);
                continue;   /* placed with its read end */
            }
        } else if (f->kind == CKC_FD_SOCKET && (f->flags & CKC_FD_SOCKPAIR)) {
            /* re-create the pair once, at its lower-numbered end */
            if ((int)f->aux < fd) { free(path); continue; }
            int sp[2];
            int typ = f->reserved ? (int)f->reserved : SOCK_STREAM;
            if (socketpair(AF_UNIX, typ | ((f->open_flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0), 0, sp) < 0)
                die("socketpair: %s", strerror(errno));
            for (int e = 0; e < 2; e++) {
                int t = fcntl(sp[e], F_DUPFD, hi);
                close(sp[e]);
                sp[e] = t;
            }
            for (uint32_t j = 0; j < im.nfds; j++)
                if (im.fds[j].fd == (int)f->aux) {
                    if (!(im.fds[j].open_flags & O_NONBLOCK) != !(f->open_flags & O_NONBLOCK))
                        fcntl(sp[1], F_SETFL, (im.fds[j].open_flags & O_NONBLOCK) ? O_NONBLOCK : 0);
                    place_fd(sp[1], im.fds[j].fd, &im.fds[j]);
                }
            nfd = sp[0];
        } else if (f->kind == CKC_FD_SOCKET && (f->flags & CKC_FD_LISTEN)) {
            nfd = recreate_listener(f);
        } else if (f->kind == CKC_FD_EPOLL) {
            nfd = epoll_create1(0);          /* registrations: restore_epolls() */
        } else if (f->kind == CKC_FD_TIMERFD) {
            nfd = recreate_timerfd(f);
        } else if (f->kind == CKC_FD_SIGNALFD) {
            nfd = recreate_signalfd(f);
        } else {
            warnx("fd %d (%s) cannot be restored; it is /dev/null now", fd, path);
        }
        if (nfd < 0) nfd = open_devnull();
        if (nfd != fd && nfd < hi) {               /* do not land on a saved number yet */
            int t = fcntl(nfd, F_DUPFD, hi);
            close(nfd);
            nfd = t;
        }
        place_fd(nfd, fd, f);
        free(path);
    }
}

/* Per-descriptor chunks (FDINFO, FILE_DATA), read before any descriptor is
 * placed: placing them may reuse the number of the checkpoint file's own. */
struct fdchunk { uint16_t type; int fd; char *buf; size_t len; };
static struct fdchunk *fdchunks;
static size_t nfdchunks;

static void load_fd_chunks(void)
{
    static int loaded;
    if (loaded++) return;
    size_t n = ckf_reader_count(im.r);
    for (size_t i = 0; i < n; i++) {
        const ckf_index_entry *e = ckf_reader_entry(im.r, i);
        if (e->type != CKF_T_FDINFO && e->type != CKF_T_FILE_DATA) continue;
        void *buf = NULL;
        long got = ckf_reader_read_alloc(im.r, i, &buf);
        if (got < 0) die("%s: data of fd %llu: %s", img_path, (unsigned long long)e->key, ckf_strerror((int)got));
        char *t = malloc((size_t)got + 1);
        struct fdchunk *more = realloc(fdchunks, (nfdchunks + 1) * sizeof *fdchunks);
        if (!t || !more) die("out of memory");
        fdchunks = more;
        memcpy(t, buf, (size_t)got);
        t[got] = 0;
        ckf_reader_free_buf(im.r, buf);
        fdchunks[nfdchunks++] = (struct fdchunk){ e->type, (int)e->key, t, (size_t)got };
    }
}

static const struct fdchunk *fd_chunk(uint16_t type, int fd)
{
    for (size_t i = 0; i < nfdchunks; i++)
        if (fdchunks[i].type == type && fdchunks[i].fd == fd) return &fdchunks[i];
    return NULL;
}

/* The saved fdinfo text of fd, or NULL (free with free()). */
static char *fdinfo_text(int fd)
{
    const struct fdchunk *c = fd_chunk(CKF_T_FDINFO, fd);
    return c ? strdup(c->buf) : NULL;
}

static int recreate_timerfd(const ckc_fd *f)
{
    char *t = fdinfo_text(f->fd);
    if (!t) return -1;
    int clockid = 1;
    long vs = 0, vns = 0, is = 0, ins = 0;
    const char *p;
    if ((p = strstr(t, "clockid:"))) clockid = atoi(p + 8);
    if ((p = strstr(t, "it_value:"))) sscanf(p, "it_value: (%ld, %ld)", &vs, &vns);
    if ((p = strstr(t, "it_interval:"))) sscanf(p, "it_interval: (%ld, %ld)", &is, &ins);
    free(t);
    int fd = timerfd_create(clockid, (f->open_flags & O_NONBLOCK) ? TFD_NONBLOCK : 0);
    if (fd < 0) return -1;
    struct itimerspec its = { { is, ins }, { vs, vns } };
    if (!vs && !vns && (is || ins)) its.it_value = its.it_interval;   /* read at expiry */
    timerfd_settime(fd, 0, &its, NULL);
    return fd;
}

/* A listening AF_UNIX socket, bound to its saved address again.  A stale
 * socket file at a saved path (its owner gone: nothing accepts) is replaced;
 * an address still in use (the checkpointed process is still running) is
 * not taken: the descriptor becomes /dev/null with a warning. */
static int recreate_listener(const ckc_fd *f)
{
    char *t = fdinfo_text(f->fd);
    const char *p = t ? strstr(t, "unix-listen: ") : NULL;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = 0;
    if (p) {
        p += 13;
        unsigned v;
        while (n < sizeof sa.sun_path && sscanf(p, "%2x", &v) == 1 && isxdigit((unsigned char)p[1])) {
            sa.sun_path[n++] = (char)v;
            p += 2;
        }
    }
    free(t);
    if (!n) return -1;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int typ = f->reserved ? (int)f->reserved : SOCK_STREAM;
    int fd = socket(AF_UNIX, typ | ((f->open_flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    char shown[sizeof sa.sun_path + 2];
    snprintf(shown, sizeof shown, "%s%.*s", sa.sun_path[0] ? "" : "@", (int)(n - !sa.sun_path[0]),
             sa.sun_path + !sa.sun_path[0]);
    /* a relative path was bound relative to the program's working directory */
    int here = -1;
    if (sa.sun_path[0] && sa.sun_path[0] != '/') {
        char *cwd = strdup_ref(im.pstrs, im.pstrs_len, im.proc.cwd);
        here = open(".", O_PATH | O_CLOEXEC);
        if (here >= 0 && cwd[0] && chdir(cwd) < 0) { close(here); here = -1; }
        free(cwd);
    }
    int r = bind(fd, (struct sockaddr *)&sa, len);
    if (r < 0 && errno == EADDRINUSE && sa.sun_path[0]) {
        struct stat st;
        int c = socket(AF_UNIX, typ, 0);
        if (c >= 0 && lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            connect(c, (struct sockaddr *)&sa, len) < 0 && errno == ECONNREFUSED) {
            unlink(sa.sun_path);
            r = bind(fd, (struct sockaddr *)&sa, len);
        }
        if (c >= 0) close(c);
    }
    int e = errno;
    if (here >= 0) {
        if (fchdir(here) < 0) die("cannot return to the launcher's directory: %s", strerror(errno));
        close(here);
    }
    errno = e;
    if (r < 0 || listen(fd, SOMAXCONN) < 0) {
        warnx("fd %d: cannot listen on unix socket %s again: %s; it is /dev/null now", f->fd, shown,
              strerror(errno));
        close(fd);
        return -1;
    }
    vlog("fd %d: listening on unix socket %s again\n", f->fd, shown);
    return fd;
}

static int recreate_signalfd(const ckc_fd *f)
{
    char *t = fdinfo_text(f->fd);
    if (!t) return -1;
    const char *p = strstr(t, "sigmask:");
    unsigned long long m = p ? strtoull(p + 8, NULL, 16) : 0;
    free(t);
    sigset_t set;
    sigemptyset(&set);
    for (int s = 1; s <= 64; s++)
        if (m & (1ull << (s - 1))) sigaddset(&set, s);
    return signalfd(-1, &set, (f->open_flags & O_NONBLOCK) ? SFD_NONBLOCK : 0);
}

/* epoll instances get their registrations back once every fd is in place. */
static void restore_epolls(void)
{
    for (uint32_t i = 0; i < im.nfds; i++) {
        ckc_fd *f = &im.fds[i];
        if (f->kind != CKC_FD_EPOLL || (f->flags & CKC_FD_DUP)) continue;
        char *t = fdinfo_text(f->fd);
        if (!t) { warnx("fd %d: epoll instance re-created empty", f->fd); continue; }
        int n = 0, bad = 0;
        for (const char *p = t; (p = strstr(p, "tfd:")); p += 4) {
            int tfd;
            unsigned events;
            unsigned long long data;
            if (sscanf(p, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3) continue;
            struct epoll_event ev = { .events = events, .data.u64 = data };
            if (epoll_ctl(f->fd, EPOLL_CTL_ADD, tfd, &ev) < 0) bad++; else n++;
        }
        free(t);
        if (bad) warnx("fd %d: %d epoll registration(s) could not be restored", f->fd, bad);
        vlog("epoll fd %d: %d registrations restored\n", f->fd, n);
    }
}

/* Descriptors that shared an open file with another one share it again. */
static void restore_dups(void)
{
    for (uint32_t i = 0; i < im.nfds; i++) {
        ckc_fd *f = &im.fds[i];
        if (!(f->flags & CKC_FD_DUP)) continue;
        int src = (int)f->aux;
        int src_kept = 0;
        for (uint32_t j = 0; j < im.nfds; j++)
            if (im.fds[j].fd == src) src_kept = 1;
        if (!src_kept) continue;
        if (f->fd <= 2 && !stdio_files) continue;
        if (src <= 2 && !stdio_files) {
            /* the source is the launcher's stdio: a dup of it is what the
             * program would have (2>&1 keeps meaning the same thing) */
        }
        if (dup2(src, f->fd) < 0) die("dup2 %d to %d: %s", src, f->fd, strerror(errno));
        fcntl(f->fd, F_SETFD, (f->flags & CKC_FD_CLOEXEC) ? FD_CLOEXEC : 0);
    }
}

/* Writes a descriptor's saved contents (its FILE_DATA chunk) into fd. */
static void put_saved_contents(int fd, const struct fdchunk *c, const char *what, const char *name)
{
    for (size_t off = 0; off < c->len;) {
        ssize_t w = pwrite(fd, c->buf + off, c->len - off, (off_t)off);
        if (w <= 0) die("cannot recreate %s %s: %s", what, name, strerror(errno));
        off += (size_t)w;
    }
}

/* A memfd: a new one of the same name, with the saved contents, size and
 * offset (seals: reseal_memfd, once its mappings are made). */
static int recreate_memfd(const ckc_fd *f, const char *path)
{
    char name[250];
    const char *n = !strncmp(path, "/memfd:", 7) ? path + 7 : "ckpt-memfd";
    snprintf(name, sizeof name, "%s", n);
    char *del = strstr(name, " (deleted)");
    if (del) *del = 0;
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    const struct fdchunk *c = fd_chunk(CKF_T_FILE_DATA, f->fd);
    if (c) put_saved_contents(fd, c, "memfd", name);
    if (ftruncate(fd, (off_t)f->size) < 0) die("cannot size memfd %s: %s", name, strerror(errno));
    if (f->open_flags & (O_APPEND | O_NONBLOCK)) fcntl(fd, F_SETFL, f->open_flags & (O_APPEND | O_NONBLOCK));
    lseek(fd, (off_t)f->pos, SEEK_SET);
    vlog("memfd %s (fd %d) recreated with %llu bytes%s\n", name, f->fd, (unsigned long long)f->size,
         c ? "" : " (contents only where mapped)");
    return fd;
}

/* The memfd's seals again.  A write seal cannot be set while the object has
 * writable shared mappings (the restore's own, made before it): it becomes
 * F_SEAL_FUTURE_WRITE, which refuses new writes the same way. */
static void reseal_memfd(int fd, const ckc_fd *f, const char *path)
{
    int want = (int)f->reserved, have = fcntl(fd, F_GET_SEALS);
    if (have < 0 || (have & want) == want) return;
    int add = want & ~F_SEAL_SEAL;
    if (add && fcntl(fd, F_ADD_SEALS, add) < 0) {
        if (errno == EBUSY && (add & F_SEAL_WRITE))
            add = (add & ~F_SEAL_WRITE) | F_SEAL_FUTURE_WRITE;
        if (fcntl(fd, F_ADD_SEALS, add) < 0)
            warnx("cannot seal %s (fd %d) again: %s", path, f->fd, strerror(errno));
    }
    if ((want & F_SEAL_SEAL) && fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) < 0)
        warnx("cannot seal %s (fd %d) again: %s", path, f->fd, strerror(errno));
}

/* A deleted file that was open: a new unlinked file with the saved contents. */
static int recreate_deleted(const ckc_fd *f, const char *path)
{
    const struct fdchunk *c = fd_chunk(CKF_T_FILE_DATA, f->fd);
    if (!c) return -1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *sl = strrchr(dir, '/');
    if (sl && sl != dir) *sl = 0; else snprintf(dir, sizeof dir, "/tmp");
    int fd = open(dir, O_TMPFILE | O_RDWR, 0600);
    if (fd < 0) fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
    if (fd < 0) fd = memfd_create("ckpt-deleted", 0);
    if (fd < 0) return -1;
    put_saved_contents(fd, c, "deleted file", path);
    if (f->open_flags & O_APPEND) fcntl(fd, F_SETFL, O_APPEND);
    lseek(fd, (off_t)f->pos, SEEK_SET);
    vlog("deleted file %s (fd %d) recreated with %zu bytes\n", path, f->fd, c->len);
    return fd;
}

/* Closes every descriptor that is neither saved nor stdio nor in `except`. */
static void close_others(int except)
{
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return;
    char buf[4096];
    int list[4096], n = 0;
    long got;
    while ((got = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
                (void *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '0' || d->name[0] > '9') continue;
            int fd = atoi(d->name);
            if (fd > 2 && fd != dfd && fd != except && !saved_fd_used(fd) && n < 4096) list[n++] = fd;
        }
    }
    close(dfd);
    for (int i = 0; i < n; i++) close(list[i]);
}

/* ---- process attributes ---------------------------------------------------------------- */

static void restore_attrs(void)
{
    char *cwd = strdup_ref(im.pstrs, im.pstrs_len, im.proc.cwd);
    if (cwd[0] && chdir(cwd) < 0) {
        if (!opt_force) die("the program's working directory %s: %s (use --force)", cwd, strerror(errno));
        warnx("working directory %s: %s", cwd, strerror(errno));
    }
    free(cwd);
    umask((mode_t)im.proc.umask);
    if (im.has_rl)
        for (int i = 0; i < 16; i++) {
            struct rlimit r = { im.rl.cur[i], im.rl.max[i] };
            struct rlimit now;
            if (getrlimit(i, &now) == 0 && (now.rlim_cur != r.rlim_cur || now.rlim_max != r.rlim_max))
                if (setrlimit(i, &r) < 0 && opt_verbose)
                    warnx("resource limit %d not restored: %s", i, strerror(errno));
        }
    if (personality(0xffffffff) != (int)im.proc.personality) personality(im.proc.personality);
}

static void restore_signals(void)
{
    if (!im.has_sig) return;
    for (int s = 1; s <= 64; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        struct { uint64_t handler, flags, restorer, mask; } k = {
            im.sig.act[s - 1].handler, im.sig.act[s - 1].flags, im.sig.act[s - 1].restorer,
            im.sig.act[s - 1].mask };
        if (syscall(SYS_rt_sigaction, s, &k, NULL, 8) < 0 && s != 32 && s != 33)
            die("signal %d: cannot restore its disposition: %s", s, strerror(errno));
    }
}

/* ---- the jump (phase 4) ----------------------------------------------------------------- */

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

static void unregister_rseq(void)
{
    if (&__rseq_size && &__rseq_offset && __rseq_size) {
        char *area = (char *)__builtin_thread_pointer() + __rseq_offset;
        syscall(SYS_rseq, area, __rseq_size < 32 ? 32 : __rseq_size, 1 /* UNREGISTER */, 0x53053053);
    }
}

static void find_special(struct rs_args *a, size_t nl, struct mapline *cur)
{
    static const struct { uint32_t flag; const char *name; } sp[3] = {
        { CKC_VMA_VVAR, "[vvar]" }, { CKC_VMA_VVAR_VCLOCK, "[vvar_vclock]" }, { CKC_VMA_VDSO, "[vdso]" } };
    uint64_t total = 0;
    for (int k = 0; k < 3; k++) {
        const ckc_vma *saved = NULL;
        for (uint32_t i = 0; i < im.nvmas; i++)
            if (im.vmas[i].flags & sp[k].flag) saved = &im.vmas[i];
        const struct mapline *now = NULL;
        for (size_t i = 0; i < nl; i++)
            if (!strcmp(cur[i].path, sp[k].name)) now = &cur[i];
        if (!saved && !now) continue;
        if (!saved || !now || saved->end - saved->start != now->end - now->start)
            die("%s: this kernel's %s differs from the checkpoint's (different kernel?)",
                img_path, sp[k].name);
        struct rs_region *g = &a->special[a->nspecial++];
        g->src = now->start;
        g->dst = saved->start;
        g->len = now->end - now->start;
        total += g->len;
    }
    a->spare_len = total;
}

static void jump(void)
{
    int exe_fd = -1;
    char *exe = strdup_ref(im.pstrs, im.pstrs_len, im.proc.exe);
    int efd = open(exe, O_RDONLY | O_CLOEXEC);
    if (efd >= 0) { exe_fd = fcntl(efd, F_DUPFD_CLOEXEC, max_saved_fd() + 1); close(efd); }
    free(exe);

    load_fd_chunks();
    restore_files(exe_fd);
    restore_dups();
    restore_epolls();
    close_others(exe_fd);
    restore_attrs();

    size_t nl;
    struct mapline *cur = read_maps(&nl);
    for (size_t i = 0; i < nl; i++) rs_add(&occupied, cur[i].start, cur[i].end);
    free(cur);

    /* Lay out the hole: code | args + arrays | thread stacks | spare slots. */
    size_t code = ALIGN_UP(ckpt_restorer_blob_size);
    size_t nth = im.nthreads;
    size_t argsz = ALIGN_UP(sizeof(struct rs_args) + nregions * sizeof(struct rs_region) +
                            nth * sizeof(struct rs_thread) + 65536 * sizeof(struct rs_range));
    size_t stacks = (nth + 1) * 65536;
    size_t spare = 16 * PAGE * 4;
    size_t total = code + argsz + stacks + spare;
    uint64_t hole = rs_find_gap(&occupied, total, 0x300000000000ull);
    char *h = mmap((void *)hole, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (h == MAP_FAILED || (uint64_t)h != hole) die("cannot map the restorer: %s", strerror(errno));
    memcpy(h, ckpt_restorer_blob, ckpt_restorer_blob_size);

    struct rs_args *a = (struct rs_args *)(h + code);
    memset(a, 0, sizeof *a);
    a->regions = (struct rs_region *)(a + 1);
    memcpy(a->regions, regions, nregions * sizeof *regions);
    a->nregions = nregions;
    a->threads = (struct rs_thread *)(a->regions + nregions);
    a->nthreads = nth;
    a->unmap = (struct rs_range *)(a->threads + nth);
    char *stk = h + code + argsz;
    int have_leader = 0;
    for (size_t i = 0; i < nth; i++) {
        ckc_thread *t = &im.threads[i];
        struct rs_thread *o = &a->threads[i];
        o->tid = (int32_t)t->tid;
        o->leader = (t->flags & CKC_THR_MAIN) != 0;
        have_leader |= o->leader;
        o->fs = t->fs_base;
        o->ctid = t->clear_tid_addr;
        memcpy(o->ctx, t->resume_ctx, sizeof o->ctx);
        o->mask = t->resume_mask;
        o->stack = (uint64_t)(stk + (i + 1) * 65536);
    }
    if (!have_leader) die("%s: the program's main thread is not in the checkpoint", img_path);

    size_t ncur;
    cur = read_maps(&ncur);
    find_special(a, ncur, cur);
    uint64_t spare_at = hole + code + argsz + stacks;
    if (a->spare_len > spare) die("vdso area larger than expected");
    a->spare = spare_at;
    a->spare_len = spare;
    /* Unmap list: every current mapping minus what is kept. */
    rs_add(&keep, hole, hole + total);
    for (size_t i = 0; i < a->nspecial; i++) rs_add(&keep, a->special[i].src, a->special[i].src + a->special[i].len);
    qsort(keep.r, keep.n, sizeof *keep.r, cmp_range);
    for (size_t i = 0; i < ncur; i++) {
        if (!strcmp(cur[i].path, "[vsyscall]")) continue;
        uint64_t s = cur[i].start, e = cur[i].end;
        for (size_t k = 0; k < keep.n && s < e; k++) {
            if (keep.r[k].end <= s) continue;
            if (keep.r[k].start >= e) break;
            if (keep.r[k].start > s) {
                if (a->nunmap >= 65536) die("too many mappings");
                a->unmap[a->nunmap++] = (struct rs_range){ s, keep.r[k].start - s };
            }
            s = keep.r[k].end;
        }
        if (s < e) {
            if (a->nunmap >= 65536) die("too many mappings");
            a->unmap[a->nunmap++] = (struct rs_range){ s, e - s };
        }
    }
    free(cur);

    a->has_mm = 1;
    a->mm.start_code = im.proc.start_code; a->mm.end_code = im.proc.end_code;
    a->mm.start_data = im.proc.start_data; a->mm.end_data = im.proc.end_data;
    a->mm.start_brk = im.proc.start_brk; a->mm.brk = im.proc.brk;
    a->mm.start_stack = im.proc.start_stack;
    a->mm.arg_start = im.proc.arg_start; a->mm.arg_end = im.proc.arg_end;
    a->mm.env_start = im.proc.env_start; a->mm.env_end = im.proc.env_end;
    memcpy(a->auxv, im.proc.auxv, sizeof a->auxv);
    a->mm.auxv_size = im.proc.auxv_words * 8;
    a->mm.exe_fd = (uint32_t)exe_fd;
    a->exe_fd = exe_fd;
    memcpy(a->comm, im.proc.comm, 16);
    a->comm[15] = 0;
    a->same_ids = getpid() == (pid_t)im.proc.pid;
    a->tid_offset = im.proc.pthread_tid_offset;
    a->resume_addr = im.proc.lib_resume_ctx;
    a->resume.magic = CK_RESUME_MAGIC;
    a->resume.same_ids = (uint32_t)a->same_ids;
    a->resume.blob_addr = hole;
    a->resume.blob_len = total;
    a->resume.pid = getpid();
    a->resume.outer_pid = 0;
    if (!a->same_ids && a->tid_offset <= 0)
        die("%s: cannot restore with new thread ids (glibc's tid offset unknown)", img_path);

    mprotect(h, code, PROT_READ | PROT_EXEC);
    /* Point of no return. */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    restore_signals();
    unregister_rseq();
    void (*entry)(struct rs_args *) = (void (*)(struct rs_args *))(h + PIE_RESTORE_OFF);
    uint64_t sp = (uint64_t)(stk + 65536) & ~15ull;
    __asm__ volatile("movq %0, %%rsp\n\t"
                     "movq %1, %%rdi\n\t"
                     "callq *%2\n\t"
                     "ud2"
                     : : "r"(sp), "r"(a), "r"(entry) : "memory");
    __builtin_unreachable();
}

static void become_program(void)
{
    stage_memory();
    jump();
}

/* ---- ids: namespaces and the outer process (phase 2) --------------------------------- */

static pid_t fwd_target;

static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    /* Only signals sent by a process: the terminal's (^C, ^Z) already reach
     * the whole process group, the program included. */
    if (si->si_code == SI_USER || si->si_code == SI_QUEUE) {
        if (fwd_target > 0) kill(fwd_target, sig);
    }
}

static void install_forwarding(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s != SIGSEGV && s != SIGBUS &&
            s != SIGILL && s != SIGFPE && s != SIGTTIN && s != SIGTTOU && s != SIGTSTP)
            sigaction(s, &sa, NULL);
}

static void exit_like(int status) __attribute__((noreturn));
static void exit_like(int status)
{
    if (WIFSIGNALED(status)) {
        int s = WTERMSIG(status);
        signal(s, SIG_DFL);
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, s);
        sigprocmask(SIG_UNBLOCK, &m, NULL);
        kill(getpid(), s);
        _exit(128 + s);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static int write_map(const char *file, const char *text)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int enter_namespaces(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) < 0) return -errno;
    char b[64];
    write_map("/proc/self/setgroups", "deny");
    snprintf(b, sizeof b, "%u %u 1\n", uid, uid);
    if (write_map("/proc/self/uid_map", b) < 0) return -EPERM;
    snprintf(b, sizeof b, "%u %u 1\n", gid, gid);
    if (write_map("/proc/self/gid_map", b) < 0) return -EPERM;
    return 0;
}

/* pid 1 of the new namespace: creates the program at its pid, forwards
 * signals to it, reaps orphans, reports the program's wait status. */
static void run_init(int status_fd) __attribute__((noreturn));
static void run_init(int status_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        fprintf(stderr, "ckpt-restore: cannot mount /proc in the new namespace: %s\n", strerror(errno));
        _exit(1);
    }
    pid_t want = (pid_t)im.proc.pid;
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    ca.set_tid = (uint64_t)(uintptr_t)&want;
    ca.set_tid_size = 1;
    long child = syscall(SYS_clone3, &ca, sizeof ca);
    if (child < 0) {
        fprintf(stderr, "ckpt-restore: cannot create pid %d: %s\n", want, strerror(errno));
        _exit(1);
    }
    if (child == 0) {
        close(status_fd);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        become_program();
    }
    fwd_target = (pid_t)child;
    install_forwarding();
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0 && errno == EINTR) continue;
        if (p < 0) _exit(1);
        if (p == child) {
            ssize_t w = write(status_fd, &st, sizeof st);
            (void)w;
            _exit(0);
        }
    }
}

int ck_cuda_preflight(const void *payload, size_t len, char *why, size_t whylen);

/* A CUDA checkpoint: its GPUs must be here with room for its memory (see
 * cuda_preflight.c), checked before anything is torn down. */
static void cuda_preflight(void)
{
    size_t n = ckf_reader_count(im.r);
    for (size_t i = 0; i < n; i++) {
        if (ckf_reader_entry(im.r, i)->type != CKF_T_CUDA) continue;
        size_t len;
        void *b = read_chunk(i, &len);
        char why[512];
        if (ck_cuda_preflight(b, len, why, sizeof why) < 0) die("%s: %s", img_path, why);
        free(b);
    }
}

static void usage(int code) __attribute__((noreturn));
static void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: ckpt-restore [--force] [--no-pidns] [-v] FILE|DIR\n"
            "Resumes a checkpoint written by libckpt. DIR means DIR/latest.\n"
            "  --force      restore even if the executable, a library or an open file changed\n"
            "  --no-pidns   do not use a pid namespace (the program gets new pid and tids)\n"
            "  --stdio=file|inherit  stdin/stdout/stderr that were regular files: reopen\n"
            "               them at their saved offsets (file) or use ckpt-restore's own\n"
            "               (inherit, the default); terminals and pipes are always inherited\n"
            "  -v           report what is done\n"
            "Exit status: the program's; 1 if the checkpoint cannot be restored.\n");
    exit(code);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "force", no_argument, 0, 'f' }, { "no-pidns", no_argument, 0, 'n' },
        { "verbose", no_argument, 0, 'v' }, { "help", no_argument, 0, 'h' },
        { "stdio", required_argument, 0, 's' }, { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "fnvh", lo, NULL)) != -1) {
        switch (c) {
        case 'f': opt_force = 1; break;
        case 'n': opt_nopidns = 1; break;
        case 'v': opt_verbose = 1; break;
        case 's':
            if (!strcmp(optarg, "file")) stdio_files = 1;
            else if (!strcmp(optarg, "inherit")) stdio_files = 0;
            else usage(2);
            break;
        case 'h': usage(0);
        default: usage(2);
        }
    }
    if (optind != argc - 1) usage(2);
    if (getenv("CKPT_RESTORE_NO_PIDNS")) opt_nopidns = 1;
    const char *sp = getenv("CKPT_RESTORE_STDIO");
    if (sp && !strcmp(sp, "file")) stdio_files = 1;
    static char pathbuf[4096];
    img_path = argv[optind];
    struct stat st;
    if (stat(img_path, &st) < 0) die("%s: %s", img_path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        snprintf(pathbuf, sizeof pathbuf, "%s/latest", img_path);
        if (stat(pathbuf, &st) < 0) die("%s: no checkpoint in this directory (%s)", img_path, strerror(errno));
        img_path = pathbuf;
    }
    load_image();
    check_files();
    cuda_preflight();

    int use_ns = !opt_nopidns && im.proc.pid > 1;
    if (use_ns) {
        int r = enter_namespaces();
        if (r < 0) {
            vlog("no user/pid namespace (%s): the program gets a new pid\n", strerror(-r));
            use_ns = 0;
        }
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0) die("fork: %s", strerror(errno));
    if (child == 0) {
        close(pfd[0]);
        if (use_ns) run_init(pfd[1]);
        close(pfd[1]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        become_program();
    }
    close(pfd[1]);
    fwd_target = child;
    install_forwarding();
    int st2;
    while (waitpid(child, &st2, 0) < 0)
        if (errno != EINTR) die("waitpid: %s", strerror(errno));
    if (use_ns) {
        int prog;
        if (read(pfd[0], &prog, sizeof prog) == sizeof prog) exit_like(prog);
        exit_like(st2);
    }
    exit_like(st2);
}
