/*
 * mkfixture.c - writes deterministic checkpoint files for the CLI tests.
 *
 *     mkfixture OUTDIR
 *
 * Produces, with the format library and the ckc.h layouts, checkpoints that look
 * like those of a small simulation ("sim", pid 4242): a memory map with text,
 * data, heap, an array of doubles registered as region "temperature", a
 * random-filled scratch buffer, stack, vdso/vvar; three threads with backtraces;
 * open files; signal handlers; a timer; rlimits; file identities; notes.
 *
 *   a.ckpt          the first checkpoint (seq 1)
 *   b.ckpt          60 s later (seq 2): array partly rewritten, heap grown, scratch
 *                   buffer unmapped, a new mapping, CUDA state chunks
 *   c.ckpt          incremental child of b.ckpt: the unchanged array is stored as
 *                   PARENT blocks (found by content hash in b)
 *   corrupt-payload.ckpt   a byte of a memory block's payload flipped
 *   corrupt-header.ckpt    a byte of a thread chunk header flipped
 *   corrupt-content.ckpt   a stored block altered with its payload checksum
 *                          recomputed (only the content hash catches it)
 *   truncated.ckpt         a.ckpt cut in half
 *   badmagic.ckpt          a.ckpt with a wrong magic number
 *   malformed.ckpt         a valid container whose chunk payloads are not: short
 *                          structs, counts and string references out of bounds
 *   weird.ckpt             well-formed, with strings holding control characters,
 *                          quotes and bytes that are not UTF-8 (JSON escaping)
 *
 * Everything is fixed (ids, times, data from a seeded generator) so the bytes,
 * and the expected tool outputs in tests/cli/expected/, are stable.
 */
#include "format/ckc.h"
#include "format/ckf.h"
#include "tools/tool.h"
#include "cuda_hooks/cuda_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1767323045123456789ull    /* 2026-01-02T03:04:05.123Z */
#define BS 65536u

#define A_TEXT   0x400000ull
#define A_DATA   0x401000ull
#define A_HEAP   0x600000ull
#define A_ARRAY  0x7f0000000000ull
#define A_SCR    0x7f0000100000ull
#define A_NEW    0x7f0000200000ull
#define A_STACK  0x7ffc00000000ull
#define A_VVAR   0x7ffc00100000ull
#define A_VDSO   0x7ffc00102000ull
#define ARRAY_N  16384                 /* doubles: 128 KiB */

static const char *outdir;

static void die(const char *what, int err)
{
    fprintf(stderr, "mkfixture: %s: %s\n", what, err < 0 ? ckf_strerror(err) : strerror(err));
    exit(1);
}

/* ---- string area builder ------------------------------------------------------------ */
typedef struct strs { char buf[8192]; uint32_t len; } strs;

static ckc_strref sadd(strs *s, const char *p, size_t n)
{
    ckc_strref r = { s->len, (uint32_t)n };
    if (s->len + n > sizeof s->buf) die("string area", ENOSPC);
    memcpy(s->buf + s->len, p, n);
    s->len += (uint32_t)n;
    return r;
}
static ckc_strref sz(strs *s, const char *p) { return sadd(s, p, strlen(p)); }

/* Concatenates fixed part, records and a string area into one payload. */
static void *payload(size_t *len, const void *a, size_t al, const void *b, size_t bl,
                     const strs *s)
{
    *len = al + bl + (s ? s->len : 0);
    char *p = malloc(*len ? *len : 1);
    if (!p) die("malloc", ENOMEM);
    memcpy(p, a, al);
    if (bl) memcpy(p + al, b, bl);
    if (s && s->len) memcpy(p + al + bl, s->buf, s->len);
    return p;
}

/* ---- deterministic data --------------------------------------------------------------- */
static uint64_t rng = 88172645463325252ull;
static uint64_t xs(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

/* ---- the checkpoint ------------------------------------------------------------------- */
typedef struct state {
    int second;        /* b.ckpt (and c.ckpt) */
    int incremental;   /* c.ckpt: b's array kept in b as PARENT blocks */
} state;

static void add(ckf_writer *w, uint16_t type, uint64_t key, const void *p, size_t n)
{
    int r = ckf_writer_add_chunk(w, type, key, p, n);
    if (r < 0) die("add_chunk", r);
}

static void addmem(ckf_writer *w, uint64_t addr, const void *p, size_t n)
{
    int r = ckf_writer_add_memory(w, addr, p, n);
    if (r < 0) die("add_memory", r);
}

static void chunk_process(ckf_writer *w, const state *st)
{
    ckc_process p;
    strs s = { .len = 0 };
    static const char argv[] = "./sim\0--steps\0" "1000\0input.dat";
    memset(&p, 0, sizeof p);
    p.version = CKC_PROCESS_VERSION;
    p.pid = 4242;
    p.ppid = 4100;
    p.nthreads = 3;
    p.umask = 022;
    p.reason = st->second ? CKC_REASON_INTERVAL : CKC_REASON_SIGNAL;
    p.seq = st->second ? 2 : 1;
    p.generation = 0;
    p.uid = 1000;
    p.gid = 1000;
    p.realtime_ns = T0 + (st->second ? 60000000000ull : 0);
    p.monotonic_ns = 5000000000ull + (st->second ? 60000000000ull : 0);
    p.pause_ns = st->second ? 18250000 : 21500000;
    p.start_code = A_TEXT; p.end_code = A_TEXT + 0x1000;
    p.start_data = A_DATA; p.end_data = A_DATA + 0x2000;
    p.start_brk = A_HEAP; p.brk = A_HEAP + (st->second ? 0x60000 : 0x40000);
    p.start_stack = A_STACK + 0x20f00;
    memcpy(p.comm, "sim", 3);
    memcpy(p.hostname, "node17", 6);
    p.exe = sz(&s, "/usr/local/bin/sim");
    p.cwd = sz(&s, "/home/user/run");
    p.argv = sadd(&s, argv, sizeof argv - 1);
    p.ckpt_version = sz(&s, "ckpt 0.1");
    size_t n;
    void *b = payload(&n, &p, sizeof p, NULL, 0, &s);
    add(w, CKF_T_PROCESS, 0, b, n);
    free(b);
}

static void vma(ckc_vma *v, strs *s, uint64_t start, uint64_t end, uint32_t flags,
                const char *path, uint64_t stored, uint64_t zero, uint64_t file)
{
    memset(v, 0, sizeof *v);
    v->start = start;
    v->end = end;
    v->flags = flags;
    v->fileid = (flags & CKC_VMA_FILE) ? 0 : -1;
    if (flags & CKC_VMA_FILE) { v->dev = 0x801; v->ino = 131075; }
    if (start == A_DATA) v->pgoff = 0x1000;
    v->stored_bytes = stored;
    v->zero_bytes = zero;
    v->file_bytes = file;
    v->path = sz(s, path);
}

static void chunk_vmas(ckf_writer *w, const state *st)
{
    ckc_vma v[10];
    strs s = { .len = 0 };
    ckc_vmas h = { 0, 4096, 0 };
    int n = 0;
    const uint32_t R = CKC_VMA_READ, W = CKC_VMA_WRITE, X = CKC_VMA_EXEC;
    vma(&v[n++], &s, A_TEXT, A_TEXT + 0x1000, R | X | CKC_VMA_FILE, "/usr/local/bin/sim", 0, 0, 0x1000);
    vma(&v[n++], &s, A_DATA, A_DATA + 0x2000, R | W | CKC_VMA_FILE, "/usr/local/bin/sim", 0x1000, 0, 0x1000);
    vma(&v[n++], &s, A_HEAP, A_HEAP + (st->second ? 0x60000 : 0x40000), R | W | CKC_VMA_ANON | CKC_VMA_HEAP,
        "[heap]", st->second ? 0x20000 : 0x10000, 0x10000, 0);
    vma(&v[n++], &s, A_ARRAY, A_ARRAY + ARRAY_N * 8, R | W | CKC_VMA_ANON, "", ARRAY_N * 8, 0, 0);
    if (!st->second)
        vma(&v[n++], &s, A_SCR, A_SCR + 0x10000, R | W | CKC_VMA_ANON, "", 0x10000, 0, 0);
    else
        vma(&v[n++], &s, A_NEW, A_NEW + 0x8000, R | W | CKC_VMA_ANON | CKC_VMA_HUGEPAGE, "", 0x8000, 0, 0);
    vma(&v[n++], &s, A_STACK, A_STACK + 0x21000, R | W | CKC_VMA_ANON | CKC_VMA_STACK | CKC_VMA_GROWSDOWN,
        "[stack]", 0x2000, 0, 0);
    vma(&v[n++], &s, A_VVAR, A_VVAR + 0x2000, R | CKC_VMA_VVAR | CKC_VMA_DONTDUMP, "[vvar]", 0, 0, 0);
    vma(&v[n++], &s, A_VDSO, A_VDSO + 0x2000, R | X | CKC_VMA_VDSO, "[vdso]", 0x2000, 0, 0);
    h.count = (uint32_t)n;
    size_t len;
    void *b = payload(&len, &h, sizeof h, v, n * sizeof v[0], &s);
    add(w, CKF_T_VMAS, 0, b, len);
    free(b);
}

static void chunk_memory(ckf_writer *w, const state *st)
{
    static char buf[0x30000];
    /* data segment: one page stored */
    for (int i = 0; i < 0x1000; i++) buf[i] = (char)(i * 7);
    addmem(w, A_DATA, buf, 0x1000);
    /* heap: 64 KiB of text-like data, 64 KiB of zeros, (b) a third 64 KiB of data */
    for (int i = 0; i < 0x10000; i++) buf[i] = "particle position velocity "[i % 27];
    memset(buf + 0x10000, 0, 0x10000);
    for (int i = 0; i < 0x10000; i++) buf[0x20000 + i] = (char)("abcdefgh"[i % 8] + (i >> 12));
    addmem(w, A_HEAP, buf, st->second ? 0x30000 : 0x20000);
    /* the array */
    double *d = malloc(ARRAY_N * sizeof *d);
    for (int i = 0; i < ARRAY_N; i++) d[i] = i * 0.25;
    if (st->second)
        for (int i = 0; i < 1000; i++) d[i] = -1.0 - i;     /* 8000 bytes rewritten */
    if (st->incremental) {
        for (size_t off = 0; off < ARRAY_N * sizeof *d; off += BS) {
            uint8_t h[16];
            ckf_hash128((char *)d + off, BS, h);
            int r = ckf_writer_add_parent_ref(w, A_ARRAY + off, BS, h);
            if (r < 0) die("add_parent_ref", r);
        }
    } else {
        addmem(w, A_ARRAY, d, ARRAY_N * sizeof *d);
    }
    free(d);
    /* scratch (random, stored uncompressed) or the new mapping */
    rng = 88172645463325252ull;
    for (int i = 0; i < 0x10000; i += 8) { uint64_t x = xs(); memcpy(buf + i, &x, 8); }
    if (!st->second) addmem(w, A_SCR, buf, 0x10000);
    else addmem(w, A_NEW, buf, 0x8000);
    /* stack: top 8 KiB */
    for (int i = 0; i < 0x2000; i++) buf[i] = (char)(i % 251);
    if (st->second) buf[0x1ff0] = 42;
    addmem(w, A_STACK + 0x1f000, buf, 0x2000);
    /* vdso */
    for (int i = 0; i < 0x2000; i++) buf[i] = (char)(i % 13);
    addmem(w, A_VDSO, buf, 0x2000);
}

static void thread(ckf_writer *w, uint32_t tid, uint32_t flags, const char *name,
                   const char *const *syms, int nsyms, uint64_t base)
{
    ckc_thread t;
    ckc_frame f[8];
    strs s = { .len = 0 };
    memset(&t, 0, sizeof t);
    t.tid = tid;
    t.flags = flags;
    t.fs_base = 0x7f1234560000ull + tid * 0x1000ull;
    t.uc_addr = A_STACK + 0x1f800 - (tid - 4242) * 0x100;
    t.clear_tid_addr = t.fs_base + 0x2d0;
    t.robust_head = t.fs_base + 0x2e0;
    t.robust_len = 24;
    t.rseq_addr = t.fs_base + 0x3a0;
    t.rseq_len = 32;
    t.rseq_sig = 0x53053053;
    t.sigmask = flags & CKC_THR_MANAGER ? 0xfffffffe7ffbfeffull : 0;
    t.cpu_affinity[0] = 3;
    for (int i = 0; i < 23; i++) t.gregs[i] = 0x1000ull * (uint64_t)(i + 1) + tid;
    t.gregs[16] = base + 0x34;                      /* REG_RIP */
    t.gregs[15] = A_STACK + 0x1f900 - (tid - 4242) * 0x200; /* REG_RSP */
    t.gregs[10] = t.gregs[15] + 0x40;               /* REG_RBP */
    t.gregs[17] = 0x246;                            /* REG_EFL */
    memcpy(t.name, name, strlen(name) < 16 ? strlen(name) : 15);
    for (int i = 0; i < nsyms; i++) {
        f[i].pc = base + 0x34 + (uint64_t)i * 0x100;
        f[i].sp = t.gregs[15] + (uint64_t)i * 0x30;
        f[i].off = 0x34 + (uint64_t)i;
        f[i].sym = sz(&s, syms[i]);
    }
    t.nframes = (uint32_t)nsyms;
    size_t n;
    void *b = payload(&n, &t, sizeof t, f, nsyms * sizeof f[0], &s);
    add(w, CKF_T_THREAD, tid, b, n);
    free(b);
}

static void chunk_threads(ckf_writer *w)
{
    static const char *const main_bt[] = { "compute_step", "run_simulation", "main",
                                           "__libc_start_call_main" };
    static const char *const work_bt[] = { "__futex_abstimed_wait_common",
                                           "pthread_cond_wait", "worker_loop", "", "start_thread" };
    thread(w, 4242, CKC_THR_MAIN, "sim", main_bt, 4, A_TEXT + 0x200);
    thread(w, 4243, 0, "sim-worker", work_bt, 5, 0x7f1234400000ull);
    thread(w, 4244, CKC_THR_MANAGER, "ckpt-manager", NULL, 0, 0x7f1234500000ull);
}

static void fd(ckc_fd *f, strs *s, int32_t n, uint32_t kind, uint32_t oflags, uint32_t flags,
               uint64_t pos, uint64_t size, const char *path)
{
    memset(f, 0, sizeof *f);
    f->fd = n;
    f->kind = kind;
    f->open_flags = oflags;
    f->flags = flags;
    f->pos = pos;
    f->size = size;
    f->mtime_ns = T0 - 3600000000000ull;
    f->mode = kind == CKC_FD_REG ? 0100644 : 020620;
    f->path = sz(s, path);
}

static void chunk_files(ckf_writer *w)
{
    ckc_fd f[8];
    strs s = { .len = 0 };
    ckc_files h = { 0, 0 };
    int n = 0;
    fd(&f[n++], &s, 0, CKC_FD_TTY, 02, 0, 0, 0, "/dev/pts/3");
    fd(&f[n++], &s, 1, CKC_FD_TTY, 02, 0, 0, 0, "/dev/pts/3");
    fd(&f[n++], &s, 2, CKC_FD_TTY, 02, 0, 0, 0, "/dev/pts/3");
    fd(&f[n++], &s, 3, CKC_FD_REG, 0, CKC_FD_CLOEXEC, 4096, 65536, "/home/user/run/input.dat");
    fd(&f[n++], &s, 4, CKC_FD_REG, 01 | 02000, 0, 12345, 12345, "/home/user/run/output.log");
    fd(&f[n++], &s, 5, CKC_FD_PIPE, 0, CKC_FD_PIPE_SELF, 0, 0, "pipe:[123456]");
    fd(&f[n++], &s, 1023, CKC_FD_DIR, 0, CKC_FD_INTERNAL | CKC_FD_CLOEXEC, 0, 0,
       "/home/user/run/ckpt");
    h.count = (uint32_t)n;
    size_t len;
    void *b = payload(&len, &h, sizeof h, f, n * sizeof f[0], &s);
    add(w, CKF_T_FILES, 0, b, len);
    free(b);
}

static void chunk_signals(ckf_writer *w)
{
    ckc_signals sg;
    memset(&sg, 0, sizeof sg);
    sg.act[2 - 1] = (ckc_sigaction){ A_TEXT + 0x500, 0x14000004, 0x7f1234401000ull, 0 };  /* INT */
    sg.act[13 - 1] = (ckc_sigaction){ 1, 0, 0, 0 };                                     /* PIPE ign */
    sg.act[10 - 1] = (ckc_sigaction){ A_TEXT + 0x600, 0x14000000, 0x7f1234401000ull, 1ull << 14 };
    sg.ckpt_signal = 10;
    sg.private_signal = 40;
    add(w, CKF_T_SIGNALS, 0, &sg, sizeof sg);
}

static void chunk_timers_rlimits(ckf_writer *w)
{
    ckc_timers t;
    ckc_rlimits r;
    memset(&t, 0, sizeof t);
    t.itimer[0] = (ckc_itimer){ 1, 0, 0, 250000 };
    add(w, CKF_T_TIMERS, 0, &t, sizeof t);
    for (int i = 0; i < 16; i++) r.cur[i] = r.max[i] = UINT64_MAX;
    r.cur[3] = 8388608;                       /* STACK */
    r.cur[4] = 0;                             /* CORE */
    r.cur[6] = r.max[6] = 63510;              /* NPROC */
    r.cur[7] = 1024; r.max[7] = 1048576;      /* NOFILE */
    r.cur[8] = r.max[8] = 8388608;            /* MEMLOCK */
    r.cur[11] = r.max[11] = 63510;            /* SIGPENDING */
    r.cur[12] = r.max[12] = 819200;           /* MSGQUEUE */
    r.cur[13] = r.max[13] = 0;                /* NICE */
    r.cur[14] = r.max[14] = 0;                /* RTPRIO */
    add(w, CKF_T_RLIMITS, 0, &r, sizeof r);
}

static void chunk_fileids(ckf_writer *w)
{
    ckc_fileid f[2];
    strs s = { .len = 0 };
    ckc_fileids h = { 2, 0 };
    memset(f, 0, sizeof f);
    f[0].size = 18432; f[0].mtime_ns = T0 - 86400000000000ull; f[0].dev = 0x801; f[0].ino = 131075;
    f[0].mode = 0100755;
    f[0].build_id_len = 20;
    for (int i = 0; i < 20; i++) f[0].build_id[i] = (uint8_t)(0x8f + i * 17);
    f[0].path = sz(&s, "/usr/local/bin/sim");
    f[1].size = 1922136; f[1].mtime_ns = T0 - 864000000000000ull; f[1].dev = 0x801; f[1].ino = 2621;
    f[1].mode = 0100755;
    f[1].build_id_len = 20;
    for (int i = 0; i < 20; i++) f[1].build_id[i] = (uint8_t)(0x11 * i + 3);
    f[1].path = sz(&s, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    size_t len;
    void *b = payload(&len, &h, sizeof h, f, sizeof f, &s);
    add(w, CKF_T_FILEIDS, 0, b, len);
    free(b);
}

static void region(ckf_writer *w, uint64_t addr, uint64_t len, const char *name)
{
    char buf[128];
    ckc_region r = { len };
    size_t nl = strlen(name);
    memcpy(buf, &r, sizeof r);
    memcpy(buf + sizeof r, name, nl);
    add(w, CKF_T_REGION, addr, buf, sizeof r + nl);
}

/* A CKF_T_CUDA payload as cuda_hooks writes it: one device, a context, two
 * allocations (one saved as CKF_T_CUDA_DATA), a module with a kernel, a stream. */
static void chunk_cuda(ckf_writer *w)
{
    static char buf[1024], data[4096];
    ckcu_img_header h;
    ckcu_img_device d;
    ckcu_img_record r[6];
    strs s = { .len = 0 };
    memset(&h, 0, sizeof h);
    memset(&d, 0, sizeof d);
    memset(r, 0, sizeof r);
    memcpy(h.magic, CKCU_IMG_MAGIC, 8);
    h.version_major = CKCU_IMG_MAJOR;
    h.version_minor = CKCU_IMG_MINOR;
    h.header_size = sizeof h;
    h.device_size = sizeof d;
    h.record_size = sizeof r[0];
    h.ndevices = 1;
    h.nrecords = 6;
    h.flags = CKCU_IF_DRIVER_CKPT | CKCU_IF_DATA;
    h.driver_version = 13000;
    h.pid = 4242;
    h.records_off = sizeof h + sizeof d;
    h.device_bytes = (1ull << 30) + 4096;
    h.host_bytes = 0;
    d.ordinal = 0;
    for (int i = 0; i < 16; i++) d.uuid[i] = (uint8_t)(0xa0 + i);
    d.total_mem = 85899345920ull;
    d.free_mem = 80000000000ull;
    d.cc_major = 9;
    d.cc_minor = 0;
    snprintf(d.name, sizeof d.name, "NVIDIA H100 80GB HBM3");
    r[0] = (ckcu_img_record){ CKCU_K_CTX, CKCU_RF_PRIMARY, 0, 0x5555a000, 0, 0, 1, 0, 0, 0, 0 };
    r[1] = (ckcu_img_record){ CKCU_K_ALLOC, 0, 0, 0x7f4000000000ull, 1ull << 30, 0x5555a000, 0, 0, 0, 0, 0 };
    r[2] = (ckcu_img_record){ CKCU_K_ALLOC, 0, 0, 0x7f4040000000ull, 4096, 0x5555a000, 0, 0, 0, 0, 0 };
    ckc_strref m = sz(&s, "kernels.cubin"), f = sz(&s, "saxpy");
    r[3] = (ckcu_img_record){ CKCU_K_MODULE, 0, 0, 0x5555b000, 20480, 0x5555a000, CKCU_L_FILE, 0, m.off, m.len, 0 };
    r[4] = (ckcu_img_record){ CKCU_K_FUNCTION, 0, 0, 0x5555c000, 0, 0x5555a000, 0, 0x5555b000, f.off, f.len, 0 };
    r[5] = (ckcu_img_record){ CKCU_K_STREAM, 0, 0, 0x5555d000, 0, 0x5555a000, 1, 0, 0, 0, 0 };
    h.strings_off = h.records_off + sizeof r;
    h.strings_len = s.len;
    size_t n = 0;
    memcpy(buf, &h, sizeof h); n += sizeof h;
    memcpy(buf + n, &d, sizeof d); n += sizeof d;
    memcpy(buf + n, r, sizeof r); n += sizeof r;
    memcpy(buf + n, s.buf, s.len); n += s.len;
    add(w, CKF_T_CUDA, 0, buf, n);
    for (int i = 0; i < (int)sizeof data; i++) data[i] = (char)(i * 3);
    add(w, CKF_T_CUDA_DATA, 0x7f4040000000ull, data, sizeof data);
}

static void write_ckpt(const char *name, const state *st)
{
    char path[4096];
    ckf_writer *w = NULL;
    ckf_sink sink;
    ckf_writer_opts o;
    int fd2, r;

    snprintf(path, sizeof path, "%s/%s", outdir, name);
    fd2 = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd2 < 0) die(path, errno);
    ckf_sink_fd(&sink, fd2);
    memset(&o, 0, sizeof o);
    o.sink = &sink;
    o.level = 1;
    o.block_size = BS;
    for (int i = 0; i < 16; i++) o.id[i] = (uint8_t)(i + 1 + (st->second ? 0x80 : 0));
    if (st->incremental) {
        memcpy(o.parent_id, o.id, 16);          /* b's id */
        for (int i = 0; i < 16; i++) o.id[i] = (uint8_t)(0xc0 + i);
    }
    o.created_ns = T0 + (st->second ? 60000000000ull : 0) + (st->incremental ? 1000000000ull : 0)
                   + 2000000;
    r = ckf_writer_open(&w, &o);
    if (r < 0) die("writer_open", r);
    chunk_process(w, st);
    chunk_fileids(w);
    chunk_vmas(w, st);
    chunk_threads(w);
    chunk_files(w);
    chunk_signals(w);
    chunk_timers_rlimits(w);
    region(w, A_ARRAY, ARRAY_N * 8, "temperature");
    region(w, A_DATA + 0x10, 8, "step");
    if (st->second) chunk_cuda(w);
    chunk_memory(w, st);
    static const char note[] = "ckpt.level=1\nhost.cpus=2\nuser.comment=fixture \"a\"\n";
    add(w, CKF_T_NOTE, 0, note, sizeof note - 1);
    r = ckf_writer_close(w);
    if (r < 0) die("writer_close", r);
    ckf_writer_free(w);
    if (close(fd2) < 0) die(path, errno);
}

/* ---- corrupt variants --------------------------------------------------------------- */

static char *slurp(const char *name, size_t *len)
{
    char path[4096];
    struct stat stt;
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    int f = open(path, O_RDONLY);
    if (f < 0 || fstat(f, &stt) < 0) die(path, errno);
    char *b = malloc((size_t)stt.st_size);
    if (!b || read(f, b, (size_t)stt.st_size) != stt.st_size) die(path, EIO);
    close(f);
    *len = (size_t)stt.st_size;
    return b;
}

static void spit(const char *name, const char *b, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (f < 0 || write(f, b, len) != (ssize_t)len || close(f) < 0) die(path, errno);
}

/* Chunk index of the first chunk of `type` with `codec` (or any codec if < 0). */
static const ckf_index_entry *find(ckf_reader *r, uint16_t type, int codec)
{
    for (size_t i = 0; i < ckf_reader_count(r); i++) {
        const ckf_index_entry *e = ckf_reader_entry(r, i);
        if (e->type == type && (codec < 0 || e->codec == codec)) return e;
    }
    die("fixture lacks a chunk to corrupt", ENOENT);
    return NULL;
}

static void corrupt_variants(void)
{
    size_t len;
    char *a = slurp("a.ckpt", &len);
    char *c = malloc(len);
    ckf_reader *r = NULL;
    int e = ckf_reader_open_mem(&r, a, len, NULL);
    if (e < 0) die("reopen a.ckpt", e);

    const ckf_index_entry *z = find(r, CKF_T_MEMBLK, CKF_C_ZSTD);
    memcpy(c, a, len);
    c[z->offset + CKF_CHUNK_HDR_SIZE + z->stored_len / 2] ^= 0x20;
    spit("corrupt-payload.ckpt", c, len);

    const ckf_index_entry *t = find(r, CKF_T_THREAD, -1);
    memcpy(c, a, len);
    c[t->offset + offsetof(ckf_chunk_header, key)] ^= 0x01;
    spit("corrupt-header.ckpt", c, len);

    /* Payload changed, payload checksum and header checksum recomputed: every
     * checksum holds, the content hash does not. */
    const ckf_index_entry *s = find(r, CKF_T_MEMBLK, CKF_C_STORED);
    ckf_chunk_header h;
    memcpy(c, a, len);
    c[s->offset + CKF_CHUNK_HDR_SIZE + 100] ^= 0x55;
    memcpy(&h, c + s->offset, sizeof h);
    h.payload_checksum = ckf_hash64(c + s->offset + CKF_CHUNK_HDR_SIZE, h.stored_len);
    h.hdr_checksum = ckf_hash64(&h, 56);
    memcpy(c + s->offset, &h, sizeof h);
    spit("corrupt-content.ckpt", c, len);

    spit("truncated.ckpt", a, len / 2);

    memcpy(c, a, len);
    c[0] = 'X';
    spit("badmagic.ckpt", c, len);

    ckf_reader_close(r);
    free(a);
    free(c);
}

static ckf_writer *open_simple(const char *name, int *fdp)
{
    char path[4096];
    ckf_writer *w = NULL;
    static ckf_sink sink;
    ckf_writer_opts o;
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    *fdp = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (*fdp < 0) die(path, errno);
    ckf_sink_fd(&sink, *fdp);
    memset(&o, 0, sizeof o);
    o.sink = &sink;
    o.block_size = BS;
    memset(o.id, 0x5a, 16);
    o.created_ns = T0;
    int r = ckf_writer_open(&w, &o);
    if (r < 0) die("writer_open", r);
    return w;
}

static void close_simple(ckf_writer *w, int f)
{
    int r = ckf_writer_close(w);
    if (r < 0) die("writer_close", r);
    ckf_writer_free(w);
    close(f);
}

static void write_malformed(void)
{
    int f;
    ckf_writer *w = open_simple("malformed.ckpt", &f);
    char junk[64];
    memset(junk, 0x41, sizeof junk);
    add(w, CKF_T_PROCESS, 0, junk, 10);                        /* short */
    ckc_vmas vh = { 1000, 4096, 0 };                           /* 1000 claimed, 1 present */
    ckc_vma v;
    memset(&v, 0, sizeof v);
    v.start = 0x1000; v.end = 0x2000; v.path = (ckc_strref){ 0, 500 };
    char vb[sizeof vh + sizeof v];
    memcpy(vb, &vh, sizeof vh); memcpy(vb + sizeof vh, &v, sizeof v);
    add(w, CKF_T_VMAS, 0, vb, sizeof vb);
    ckc_thread t;
    memset(&t, 0, sizeof t);
    t.tid = 1; t.nframes = 100;                                /* no frames follow */
    add(w, CKF_T_THREAD, 1, &t, sizeof t);
    ckc_files fh = { 1, 0 };
    ckc_fd fd0;
    memset(&fd0, 0, sizeof fd0);
    fd0.kind = 99; fd0.path = (ckc_strref){ 0xfffffff0u, 0x20 };  /* wraps */
    char fb[sizeof fh + sizeof fd0];
    memcpy(fb, &fh, sizeof fh); memcpy(fb + sizeof fh, &fd0, sizeof fd0);
    add(w, CKF_T_FILES, 0, fb, sizeof fb);
    add(w, CKF_T_SIGNALS, 0, junk, 16);                        /* short */
    add(w, CKF_T_TIMERS, 0, junk, 8);
    add(w, CKF_T_RLIMITS, 0, junk, 8);
    add(w, CKF_T_REGION, 0x1000, junk, 5);                     /* shorter than ckc_region */
    add(w, CKF_T_NOTE, 0, "no-equals-sign\n=\n\n", 19);
    add(w, 0x0123, 7, junk, 5);                                /* unknown, not critical */
    add(w, CKF_T_CUDA, 0, junk, sizeof junk);                  /* not a ckcu image */
    add(w, 0x8123, 0, junk, 3);                                /* unknown, critical */
    addmem(w, 0x1000, junk, sizeof junk);
    close_simple(w, f);
}

static void write_weird(void)
{
    int f;
    ckf_writer *w = open_simple("weird.ckpt", &f);
    ckc_process p;
    strs s = { .len = 0 };
    memset(&p, 0, sizeof p);
    p.version = CKC_PROCESS_VERSION;
    p.pid = 7;
    p.realtime_ns = T0;
    memcpy(p.comm, "a\"b\\c\td", 8);
    memcpy(p.hostname, "h\x01\xff", 3);
    p.exe = sz(&s, "/bin/we\"ird\n\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\x28\xed\xa0\x80");
    p.cwd = sz(&s, "/tmp/\\back\\slash");
    p.argv = sadd(&s, "x\0\x1b[31mred\0", 11);
    p.ckpt_version = sz(&s, "");
    size_t n;
    void *b = payload(&n, &p, sizeof p, NULL, 0, &s);
    add(w, CKF_T_PROCESS, 0, b, n);
    free(b);
    static const char note[] = "k\x02=v\"\n\xff\xfe=\xc0\xaf\n";
    add(w, CKF_T_NOTE, 0, note, sizeof note - 1);
    close_simple(w, f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkfixture OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    mkdir(outdir, 0700);
    state a = { 0, 0 }, b = { 1, 0 }, c = { 1, 1 };
    write_ckpt("a.ckpt", &a);
    write_ckpt("b.ckpt", &b);
    write_ckpt("c.ckpt", &c);
    corrupt_variants();
    write_malformed();
    write_weird();
    return 0;
}
