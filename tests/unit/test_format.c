/*
 * test_format.c - unit tests of the container format (format/ckf.h).
 *
 * Round trips of every chunk type and codec at several block sizes and
 * levels, unaligned addresses and lengths, the threaded and encode-block
 * writer paths (which must produce the same bytes as the plain one), parent
 * references, the allocator contract (including a writer inside a forked child
 * with malloc forbidden), and every error path of the API.  Files are written
 * to memory sinks or memfds: nothing touches the disk.
 */
#include "format/ckf.h"
#include "format/ckc.h"
#include "format/ckf_int.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

/* Under SANITIZE=undefined a finding must fail the test, not scroll by. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

/* ---- helpers ----------------------------------------------------------------------- */

struct membuf { uint8_t *p; size_t len, cap; int fail_after; };

static int mem_write(ckf_sink *s, const void *buf, size_t len)
{
    struct membuf *m = s->opaque;
    if (m->fail_after >= 0 && m->len + len > (size_t)m->fail_after) return -CKF_E_IO;
    if (m->len + len > m->cap) {
        size_t nc = m->cap ? m->cap : 4096;
        while (nc < m->len + len) nc *= 2;
        m->p = realloc(m->p, nc);
        m->cap = nc;
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static void mem_sink(ckf_sink *s, struct membuf *m)
{
    memset(m, 0, sizeof(*m));
    m->fail_after = -1;
    s->write = mem_write;
    s->opaque = m;
    s->fd = -1;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xs(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static void fill_random(uint8_t *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = (uint8_t)xs(); }
static void fill_text(uint8_t *p, size_t n)
{
    static const char t[] = "the quick brown fox jumps over the lazy dog 0123456789\n";
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)t[(i * 7 + i / 97) % (sizeof(t) - 1)];
}

static void opts_init(ckf_writer_opts *o, ckf_sink *s, int level, uint32_t bs)
{
    memset(o, 0, sizeof(*o));
    o->sink = s;
    o->level = level;
    o->block_size = bs;
    o->created_ns = 1700000000000000000ull;
    memset(o->id, 0xab, 16);
}

static int open_mem(ckf_reader **r, struct membuf *m) { return ckf_reader_open_mem(r, m->p, m->len, NULL); }

/* ---- errors, hashing, zero detection ---------------------------------------------- */

static void test_errors(void)
{
    int ok = 1;
    for (int e = 0; e < CKF_E_LAST; e++) {
        if (!ckf_strerror(e) || !ckf_strerror(-e) || strcmp(ckf_strerror(e), ckf_strerror(-e)))
            ok = 0;
        if (strncmp(ckf_errname(e), "CKF_", 4)) ok = 0;
    }
    TAP_OK(ok, "every error has a message and a name, for err and -err");
    TAP_OK(ckf_strerror(1000) && ckf_strerror(-1000) && !strcmp(ckf_errname(77), "CKF_E_?"),
           "out-of-range errors still get a string");
    TAP_OK(CKF_E_IO == 1 && CKF_E_CONTENT_HASH == 8 && CKF_E_BAD_CHUNK == 19 &&
           CKF_E_LAST == 20, "error numbering is frozen");
    TAP_OK(!strcmp(ckf_errname(-CKF_E_TRUNCATED), "CKF_E_TRUNCATED"), "errname");
}

static void test_is_zero(void)
{
    static uint8_t buf[70000];
    int ok = 1;
    TAP_OK(ckf_is_zero(buf, 0) && ckf_is_zero(buf, 1) && ckf_is_zero(buf, sizeof(buf)),
           "zero buffers are zero");
    for (size_t len = 1; len < 600 && ok; len++)
        for (size_t pos = 0; pos < len; pos++) {
            buf[pos + 3] = 0x10;
            if (ckf_is_zero(buf + 3, len)) ok = 0;
            if (!ckf_is_zero(buf + 3, pos)) ok = 0;
            buf[pos + 3] = 0;
        }
    TAP_OK(ok, "one non-zero byte at any position of lengths 1..599 (unaligned) is seen");
    buf[sizeof(buf) - 1] = 1;
    TAP_OK(!ckf_is_zero(buf, sizeof(buf)), "non-zero last byte of a large buffer is seen");
    buf[sizeof(buf) - 1] = 0;
}

static int hash_agrees(void);

static void test_hash(void)
{
    uint8_t a[16], b[16];
    ckf_hash128("abc", 3, a);
    ckf_hash128("abd", 3, b);
    TAP_OK(memcmp(a, b, 16) && ckf_hash64("abc", 3) != ckf_hash64("abd", 3), "hashes differ");
    /* XXH3_64("") and XXH3_128("") are published constants: pins the algorithm */
    TAP_OK(ckf_hash64("", 0) == 0x2D06800538D394C2ull, "XXH3_64 of empty input");
    ckf_hash128("", 0, a);
    TAP_OK(a[0] == 0x99 && a[1] == 0xaa && a[15] == 0x7f, "XXH3_128 canonical (big-endian) bytes");
    /* both builds of XXH3, against libxxhash's own */
    TAP_OK(ckf_i_hash_use(0) == 0 && hash_agrees(),
           "library XXH3: hashes of 1 byte..1 MiB+ at odd offsets equal libxxhash's");
    if (ckf_i_hash_use(2) == 2)
        TAP_OK(hash_agrees(), "AVX2 XXH3: hashes of 1 byte..1 MiB+ at odd offsets equal libxxhash's");
    else
        TAP_OK(1, "# SKIP AVX2 XXH3: no AVX2 here");
}

/* ckf_hash64/128 against libxxhash for lengths around the vector build's
 * threshold and block sizes, at unaligned addresses. */
static int hash_agrees(void)
{
    static const size_t lens[] = { 1, 240, 1023, 1024, 1025, 4096, 65537, 1u << 20,
                                   (1u << 20) + 13 };
    size_t n = (2u << 20), bad = 0;
    uint8_t *buf = malloc(n), h[16];
    uint64_t x = 0x9e3779b97f4a7c15ull;

    if (!buf) return 0;
    for (size_t i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; buf[i] = (uint8_t)x; }
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
        for (size_t off = 0; off < 4; off++) {
            XXH128_canonical_t c;
            const uint8_t *p = buf + off * 17;
            XXH128_canonicalFromHash(&c, XXH3_128bits(p, lens[k]));
            ckf_hash128(p, lens[k], h);
            if (memcmp(h, c.digest, 16) || ckf_hash64(p, lens[k]) != XXH3_64bits(p, lens[k]))
                bad++;
        }
    free(buf);
    return bad == 0;
}

/* ---- round trips ------------------------------------------------------------------- */

struct region { uint64_t addr; size_t len; uint8_t *data; };

static const uint16_t meta_types[] = {
    CKF_T_PROCESS, CKF_T_VMAS, CKF_T_THREAD, CKF_T_FILES, CKF_T_SIGNALS, CKF_T_TIMERS,
    CKF_T_RLIMITS, CKF_T_FILEIDS, CKF_T_CUDA, CKF_T_REGION, CKF_T_LENS, CKF_T_NOTE,
    CKF_T_CUDA_DATA,
};
#define NMETA (sizeof(meta_types) / sizeof(meta_types[0]))

static size_t meta_payload(uint16_t type, uint8_t *buf)
{
    /* realistic payloads: the ckc.h structures where there is one */
    switch (type) {
    case CKF_T_PROCESS: {
        ckc_process p;
        memset(&p, 0, sizeof(p));
        p.version = CKC_PROCESS_VERSION; p.pid = 4242; p.nthreads = 2;
        memcpy(p.comm, "sim", 4);
        p.exe.off = 0; p.exe.len = 8;
        memcpy(buf, &p, sizeof(p));
        memcpy(buf + sizeof(p), "/bin/sim", 8);
        return sizeof(p) + 8;
    }
    case CKF_T_VMAS: {
        ckc_vmas h = { .count = 3, .page_size = 4096 };
        ckc_vma v[3];
        memset(v, 0, sizeof(v));
        for (int i = 0; i < 3; i++) { v[i].start = 0x400000u + i * 0x1000u; v[i].end = v[i].start + 0x1000; v[i].fileid = -1; }
        memcpy(buf, &h, sizeof(h));
        memcpy(buf + sizeof(h), v, sizeof(v));
        return sizeof(h) + sizeof(v);
    }
    case CKF_T_THREAD: {
        ckc_thread t;
        memset(&t, 0, sizeof(t));
        t.tid = 4242; t.flags = CKC_THR_MAIN; memcpy(t.name, "main", 5);
        memcpy(buf, &t, sizeof(t));
        return sizeof(t);
    }
    case CKF_T_SIGNALS: {
        ckc_signals s;
        memset(&s, 0, sizeof(s));
        s.ckpt_signal = 10; s.act[9].handler = 0x401000;
        memcpy(buf, &s, sizeof(s));
        return sizeof(s);
    }
    case CKF_T_TIMERS: {
        ckc_timers t;
        memset(&t, 0, sizeof(t));   /* all zero: exercises the ZERO codec on metadata */
        memcpy(buf, &t, sizeof(t));
        return sizeof(t);
    }
    case CKF_T_RLIMITS: {
        ckc_rlimits l;
        for (int i = 0; i < 16; i++) { l.cur[i] = (uint64_t)i * 1000; l.max[i] = ~0ull; }
        memcpy(buf, &l, sizeof(l));
        return sizeof(l);
    }
    case CKF_T_NOTE:
        fill_text(buf, 3000);
        return 3000;
    case CKF_T_LENS:
        return 0;                   /* empty chunk */
    default:
        fill_random(buf, 100 + type % 50);
        return 100 + type % 50;
    }
}

static int write_sample(struct membuf *m, int level, uint32_t bs, int nthreads,
                        struct region *rg, size_t nrg, int with_meta)
{
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    uint8_t buf[16384];
    int rc;

    rng = 88172645463325252ull;            /* same metadata bytes on every call */
    mem_sink(&s, m);
    opts_init(&o, &s, level, bs);
    o.nthreads = nthreads;
    if ((rc = ckf_writer_open(&w, &o))) return rc;
    for (size_t i = 0; with_meta && i < NMETA; i++) {
        size_t n = meta_payload(meta_types[i], buf);
        if ((rc = ckf_writer_add_chunk(w, meta_types[i], i, buf, n))) goto out;
    }
    for (size_t i = 0; i < nrg; i++)
        if ((rc = ckf_writer_add_memory(w, rg[i].addr, rg[i].data, rg[i].len))) goto out;
    rc = ckf_writer_close(w);
out:
    ckf_writer_free(w);
    return rc;
}

static void make_regions(struct region *rg, uint32_t bs)
{
    size_t big = (size_t)bs * 3 + 777;
    rg[0].addr = 0x7f0000001234ull; rg[0].len = big;            /* unaligned start and end */
    rg[1].addr = 0x10000000ull; rg[1].len = (size_t)bs * 2;     /* aligned, one block zero */
    rg[2].addr = 0x20000005ull; rg[2].len = 1;                  /* a single byte */
    rg[3].addr = 0x30000000ull; rg[3].len = bs + 100;           /* random: incompressible */
    for (int i = 0; i < 4; i++) rg[i].data = malloc(rg[i].len);
    fill_text(rg[0].data, rg[0].len);
    memset(rg[1].data, 0, rg[1].len);
    fill_text(rg[1].data + bs, bs);
    rg[2].data[0] = 0x5a;
    fill_random(rg[3].data, rg[3].len);
}

static void free_regions(struct region *rg) { for (int i = 0; i < 4; i++) free(rg[i].data); }

static void test_roundtrip(int level, uint32_t bs)
{
    struct region rg[4];
    struct membuf m;
    ckf_reader *r = NULL;
    int rc, ok;
    size_t ncodec[4] = { 0 }, ntype = 0;

    make_regions(rg, bs);
    rc = write_sample(&m, level, bs, 1, rg, 4, 1);
    TAP_OK(rc == 0, "level %d bs %u: write (%s)", level, bs, ckf_strerror(rc));
    rc = open_mem(&r, &m);
    TAP_OK(rc == 0, "level %d bs %u: open (%s)", level, bs, ckf_strerror(rc));
    if (rc) { free(m.p); free_regions(rg); return; }
    TAP_OK(ckf_reader_header(r)->block_size == bs && ckf_reader_file_size(r) == m.len,
           "level %d bs %u: header and size", level, bs);
    ok = 1;
    for (size_t i = 0; i < ckf_reader_count(r); i++) {
        const ckf_index_entry *e = ckf_reader_entry(r, i);
        if (e->codec < 4) ncodec[e->codec]++;
        if (e->type != CKF_T_MEMBLK) {
            void *got;
            long len;
            ntype++;
            len = ckf_reader_read_alloc(r, i, &got);
            if (len < 0 || (size_t)len != e->raw_len) ok = 0;
            if (len >= 0) ckf_reader_free_buf(r, got);
        }
    }
    TAP_OK(ok && ntype == NMETA, "level %d bs %u: every metadata chunk type reads back", level, bs);
    ok = 1;
    for (int i = 0; i < 4; i++) {
        uint8_t *out = malloc(rg[i].len + 64);
        memset(out, 0xee, rg[i].len + 64);
        if (ckf_reader_read_range(r, rg[i].addr, rg[i].len, out) ||
            memcmp(out, rg[i].data, rg[i].len) || out[rg[i].len] != 0xee)
            ok = 0;
        /* a window straddling the start: the bytes before are not covered -> 0 */
        if (ckf_reader_read_range(r, rg[i].addr - 10, 20, out) || !ckf_is_zero(out, 10) ||
            memcmp(out + 10, rg[i].data, rg[i].len < 10 ? rg[i].len : 10))
            ok = 0;
        free(out);
    }
    TAP_OK(ok, "level %d bs %u: read_range returns every region, gaps read as zero", level, bs);
    TAP_OK(ncodec[CKF_C_ZERO] >= 2, "level %d bs %u: zero block and zero metadata use the ZERO codec",
           level, bs);
    if (level == 0) TAP_OK(ncodec[CKF_C_ZSTD] == 0, "level 0: nothing compressed");
    else TAP_OK(ncodec[CKF_C_ZSTD] >= 3 && ncodec[CKF_C_STORED] >= 2,
                "level %d bs %u: text compressed, random data stored", level, bs);
    rc = ckf_reader_verify(r, NULL, NULL, NULL);
    TAP_OK(rc == 0, "level %d bs %u: verify (%s)", level, bs, ckf_strerror(rc));
    ckf_reader_close(r);
    free(m.p);
    free_regions(rg);
}

/* Codec ZPAGES: blocks of whole pages with zero pages among them are stored
 * as their non-zero pages; every pattern reads back exactly, with 1 and 3
 * writer threads, and the codec is used exactly where it applies. */
static void test_zpages(void)
{
    static const size_t npages[] = { 2, 5, 63, 64, 65, 128, 256, 300 };
    int ok = 1, used = 0, wrong_codec = 0;
    for (size_t k = 0; k < sizeof npages / sizeof npages[0]; k++) {
        for (int pat = 0; pat < 6; pat++) {
            size_t np = npages[k], len = np * 4096;
            struct region rg[2];
            uint64_t seed = 1 + k * 7 + (uint64_t)pat;
            rg[0].addr = 0x40000000ull;
            rg[0].len = len;
            rg[0].data = calloc(1, len);
            for (size_t i = 0; i < np; i++) {
                int nonzero = pat == 0 ? (i % 2) : pat == 1 ? (i == np - 1) : pat == 2 ? (i != 0) :
                              pat == 3 ? ((seed = seed * 6364136223846793005ull + 1) >> 62) == 0 :
                              pat == 4 ? (i < np / 2) : 1;
                if (nonzero) fill_text(rg[0].data + i * 4096, 4096);
            }
            if (pat == 5) rg[0].data[len - 1] = 0;   /* all pages non-zero: plain ZSTD */
            rg[1].addr = 0x50000000ull + 123;        /* not whole pages: never ZPAGES */
            rg[1].len = len - 123;
            rg[1].data = calloc(1, len);
            fill_text(rg[1].data + 4096, 100);
            for (int nt = 1; nt <= 3; nt += 2) {
                struct membuf m;
                ckf_reader *r;
                if (write_sample(&m, 1, 1u << 20, nt, rg, 2, 0) || open_mem(&r, &m)) { ok = 0; continue; }
                for (size_t i = 0; i < ckf_reader_count(r); i++) {
                    const ckf_index_entry *e = ckf_reader_entry(r, i);
                    if (e->codec != CKF_C_ZPAGES) continue;
                    used++;
                    if (e->key < rg[0].addr || e->key >= rg[0].addr + len || pat == 5) wrong_codec++;
                }
                uint8_t *out = malloc(len);
                for (int i = 0; i < 2; i++)
                    if (ckf_reader_read_range(r, rg[i].addr, rg[i].len, out) || memcmp(out, rg[i].data, rg[i].len))
                        ok = 0;
                if (ckf_reader_verify(r, NULL, NULL, NULL)) ok = 0;
                free(out);
                ckf_reader_close(r);
                free(m.p);
            }
            free(rg[0].data);
            free(rg[1].data);
        }
    }
    TAP_OK(ok, "ZPAGES: every zero-page pattern reads back exactly (2-300 pages, 1 and 3 threads)");
    TAP_OK(used >= 60 && !wrong_codec, "ZPAGES: used for page blocks with zero pages only (%d uses, %d wrong)",
           used, wrong_codec);
}

static void test_meta_content(void)
{
    struct membuf m;
    ckf_reader *r;
    uint8_t want[16384], got[16384];
    int ok = 1, rc;

    rc = write_sample(&m, 3, 4096, 1, NULL, 0, 1);
    if (rc || open_mem(&r, &m)) { TAP_OK(0, "metadata content: write/open"); return; }
    rng = 88172645463325252ull;
    for (size_t i = 0; i < NMETA; i++) {
        size_t n = meta_payload(meta_types[i], want);
        long idx = ckf_reader_find(r, meta_types[i], 0);
        long len = idx < 0 ? idx : ckf_reader_read(r, (size_t)idx, got, sizeof(got));
        if (len != (long)n || memcmp(want, got, n) || ckf_reader_entry(r, (size_t)idx)->key != i)
            ok = 0;
    }
    TAP_OK(ok, "every metadata chunk type: bytes and key round-trip (level 3)");
    TAP_OK(ckf_reader_find(r, CKF_T_MEMBLK, 0) == -CKF_E_NOT_FOUND, "find: no MEMBLK");
    ckf_reader_close(r);
    free(m.p);
}

static void test_empty(void)
{
    struct membuf m;
    ckf_reader *r;
    uint8_t out[64];
    int rc = write_sample(&m, 1, 0, 1, NULL, 0, 0);
    TAP_OK(rc == 0 && m.len == CKF_HEADER_SIZE + CKF_CHUNK_HDR_SIZE + CKF_FOOTER_SIZE,
           "empty file is header + index header + footer (%zu bytes)", m.len);
    rc = open_mem(&r, &m);
    TAP_OK(rc == 0 && ckf_reader_count(r) == 0, "empty file opens with no chunks");
    if (rc) return;
    memset(out, 1, sizeof(out));
    TAP_OK(ckf_reader_read_range(r, 1234, sizeof(out), out) == 0 && ckf_is_zero(out, sizeof(out)),
           "empty file: read_range yields zeros");
    TAP_OK(ckf_reader_verify(r, NULL, NULL, NULL) == 0, "empty file verifies");
    TAP_OK(ckf_reader_header(r)->block_size == CKF_DEFAULT_BLOCK, "default block size");
    ckf_reader_close(r);
    free(m.p);
}

static void test_threads_identical(void)
{
    struct region rg[4];
    struct membuf a, b, c;
    int rc1, rc2, rc3;

    make_regions(rg, 65536);
    rc1 = write_sample(&a, 1, 65536, 1, rg, 4, 1);
    rc2 = write_sample(&b, 1, 65536, 2, rg, 4, 1);
    rc3 = write_sample(&c, -3, 65536, 3, rg, 4, 1);
    TAP_OK(rc1 == 0 && rc2 == 0 && a.len == b.len && !memcmp(a.p, b.p, a.len),
           "nthreads=2 writes the same bytes as nthreads=1");

    {
        ckf_reader *r;
        int ok = rc3 == 0 && open_mem(&r, &c) == 0;
        if (ok) { ok = ckf_reader_verify(r, NULL, NULL, NULL) == 0; ckf_reader_close(r); }
        TAP_OK(ok, "nthreads=3 at negative level -3 verifies");
    }
    free(a.p); free(b.p); free(c.p);
    free_regions(rg);
}

static void test_encode_api(void)
{
    struct region rg[4];
    struct membuf a, b;
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    ckf_cctx *c;
    uint32_t bs = 8192;
    uint8_t *out = malloc(ckf_block_bound(bs));
    int rc = 0;

    make_regions(rg, bs);
    write_sample(&a, 1, bs, 1, rg, 4, 0);
    mem_sink(&s, &b);
    opts_init(&o, &s, 1, bs);
    ckf_writer_open(&w, &o);
    ckf_cctx_new(&c, 1, NULL);
    for (int i = 0; i < 4 && !rc; i++) {
        uint64_t addr = rg[i].addr;
        size_t off = 0;
        while (off < rg[i].len && !rc) {
            size_t n = bs - (addr % bs);
            ckf_chunk_header h;
            if (n > rg[i].len - off) n = rg[i].len - off;
            rc = ckf_encode_block(c, CKF_T_MEMBLK, addr, rg[i].data + off, n, &h, out,
                                  ckf_block_bound(bs));
            if (!rc) rc = ckf_writer_put_encoded(w, &h, out);
            off += n; addr += n;
        }
    }
    if (!rc) rc = ckf_writer_close(w);
    TAP_OK(rc == 0 && a.len == b.len && !memcmp(a.p, b.p, a.len),
           "encode_block + put_encoded writes the same bytes as add_memory");
    {
        ckf_chunk_header h;
        rc = ckf_encode_block(c, CKF_T_MEMBLK, 0, out, 16, &h, out, 8);
        TAP_OK(rc == -CKF_E_INVAL, "encode_block: output too small -> INVAL");
        rc = ckf_encode_block(c, CKF_T_INDEX, 0, out, 16, &h, out, 64);
        TAP_OK(rc == -CKF_E_INVAL, "encode_block: INDEX type -> INVAL");
        ckf_cctx *c2;
        TAP_OK(ckf_cctx_new(&c2, 1000, NULL) == -CKF_E_INVAL && !c2, "cctx_new: level 1000 -> INVAL");
    }
    ckf_writer_free(w);
    ckf_cctx_free(c);
    free(out); free(a.p); free(b.p);
    free_regions(rg);
}

/* ---- parent references ------------------------------------------------------------- */

static void test_parent(void)
{
    struct membuf pm, cm;
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    ckf_reader *p, *c, *other;
    uint32_t bs = 4096;
    uint8_t base[3 * 4096], now[3 * 4096], out[3 * 4096], h[16], pid[16];
    int rc;

    fill_random(base, sizeof(base));
    memcpy(now, base, sizeof(now));
    fill_text(now + bs, bs);                           /* middle block changed */

    mem_sink(&s, &pm);
    opts_init(&o, &s, 1, bs);
    memset(o.id, 0x01, 16);
    ckf_writer_open(&w, &o);
    ckf_writer_add_memory(w, 0x1000, base, sizeof(base));
    ckf_writer_id(w, pid);
    ckf_writer_close(w);
    ckf_writer_free(w);

    mem_sink(&s, &cm);
    opts_init(&o, &s, 1, bs);
    memset(o.id, 0x02, 16);
    memcpy(o.parent_id, pid, 16);
    ckf_writer_open(&w, &o);
    ckf_hash128(now, bs, h);
    rc = ckf_writer_add_parent_ref(w, 0x1000, bs, h);
    rc |= ckf_writer_add_memory(w, 0x1000 + bs, now + bs, bs);
    ckf_hash128(now + 2 * bs, bs, h);
    rc |= ckf_writer_add_parent_ref(w, 0x1000 + 2 * bs, bs, h);
    rc |= ckf_writer_close(w);
    ckf_writer_free(w);
    TAP_OK(rc == 0, "child with parent references written");

    open_mem(&p, &pm);
    open_mem(&c, &cm);
    rc = ckf_reader_read_range(c, 0x1000, sizeof(out), out);
    TAP_OK(rc == -CKF_E_PARENT, "PARENT block without a parent -> CKF_E_PARENT");
    TAP_OK(ckf_reader_verify(c, NULL, NULL, NULL) == 0, "verify without parent checks headers only");
    open_mem(&other, &cm);
    TAP_OK(ckf_reader_set_parent(c, other) == -CKF_E_PARENT, "set_parent with the wrong id refused");
    TAP_OK(ckf_reader_set_parent(p, c) == -CKF_E_STATE, "set_parent on a non-incremental file refused");
    TAP_OK(ckf_reader_set_parent(c, p) == 0, "set_parent with the right id");
    rc = ckf_reader_read_range(c, 0x1000, sizeof(out), out);
    TAP_OK(rc == 0 && !memcmp(out, now, sizeof(out)), "read_range resolves parent blocks by hash");
    TAP_OK(ckf_reader_verify(c, NULL, NULL, NULL) == 0, "verify with parent resolves every block");
    ckf_reader_close(other);
    ckf_reader_close(c);
    free(cm.p);

    /* a reference whose hash the parent does not have */
    mem_sink(&s, &cm);
    opts_init(&o, &s, 1, bs);
    memcpy(o.parent_id, pid, 16);
    ckf_writer_open(&w, &o);
    memset(h, 0x77, 16);
    ckf_writer_add_parent_ref(w, 0x1000, bs, h);
    ckf_writer_close(w);
    ckf_writer_free(w);
    open_mem(&c, &cm);
    ckf_reader_set_parent(c, p);
    TAP_OK(ckf_reader_read(c, 0, out, sizeof(out)) == -CKF_E_PARENT,
           "hash missing from the parent -> CKF_E_PARENT");
    ckf_reader_close(c);
    ckf_reader_close(p);
    free(pm.p); free(cm.p);
}

/* ---- allocator --------------------------------------------------------------------- */

struct arena { uint8_t *base; size_t size, used; long nalloc, nfree; };

static void *arena_alloc(void *op, size_t n)
{
    struct arena *a = op;
    void *p;
    n = (n + 63) & ~(size_t)63;
    if (a->used + n > a->size) return NULL;
    p = a->base + a->used;
    a->used += n;
    a->nalloc++;
    return p;
}
static void arena_free(void *op, void *p) { (void)p; ((struct arena *)op)->nfree++; }

static void test_allocator(void)
{
    struct arena ar = { 0 };
    ckf_alloc al = { arena_alloc, arena_free, &ar };
    struct region rg[4];
    struct membuf m;
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    ckf_reader *r;
    int rc;

    ar.size = 64u << 20;
    ar.base = mmap(NULL, ar.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    make_regions(rg, 65536);
    mem_sink(&s, &m);
    opts_init(&o, &s, 1, 65536);
    o.alloc = &al;
    rc = ckf_writer_open(&w, &o);
    for (int i = 0; i < 4 && !rc; i++) rc = ckf_writer_add_memory(w, rg[i].addr, rg[i].data, rg[i].len);
    if (!rc) rc = ckf_writer_close(w);
    ckf_writer_free(w);
    TAP_OK(rc == 0 && ar.nalloc > 0 && ar.nalloc == ar.nfree,
           "writer allocates only through ckf_alloc, and frees all (%ld allocs)", ar.nalloc);
    ar.nalloc = ar.nfree = 0;
    rc = ckf_reader_open_mem(&r, m.p, m.len, &al);
    if (!rc) rc = ckf_reader_verify(r, NULL, NULL, NULL);
    ckf_reader_close(r);
    TAP_OK(rc == 0 && ar.nalloc > 0 && ar.nalloc == ar.nfree,
           "reader allocates only through ckf_alloc, and frees all (%ld allocs)", ar.nalloc);
    /* an allocator that runs dry fails cleanly */
    ar.used = ar.size - 4096;
    rc = ckf_reader_open_mem(&r, m.p, m.len, &al);
    if (!rc) { rc = ckf_reader_verify(r, NULL, NULL, NULL); ckf_reader_close(r); }
    TAP_OK(rc == -CKF_E_NOMEM, "allocator failure -> CKF_E_NOMEM (%s)", ckf_errname(rc));
    munmap(ar.base, ar.size);
    free(m.p);
    free_regions(rg);
}

/* In the forked child malloc must not be called at all: this test binary
 * replaces malloc with a wrapper that aborts while `forbid_malloc` is set
 * (not under ASan, which owns malloc). */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(__has_feature)
#define CHECK_NO_MALLOC 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static volatile int forbid_malloc;
void *malloc(size_t n) { if (forbid_malloc) abort(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (forbid_malloc) abort(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (forbid_malloc) abort(); return __libc_realloc(p, n); }
void free(void *p) { if (forbid_malloc && p) abort(); __libc_free(p); }
#else
#define CHECK_NO_MALLOC 0
static volatile int forbid_malloc;
#endif

static void test_fork_child(void)
{
    struct arena ar = { 0 };
    ckf_alloc al = { arena_alloc, arena_free, &ar };
    struct region rg[4];
    int fd = memfd_create("ckf-test", MFD_CLOEXEC), status = -1;
    pid_t pid;
    ckf_reader *r;

    ar.size = 64u << 20;
    ar.base = mmap(NULL, ar.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    make_regions(rg, CKF_DEFAULT_BLOCK);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        ckf_sink s;
        ckf_writer_opts o;
        ckf_writer *w;
        int rc;
        forbid_malloc = 1;
        ckf_sink_fd(&s, fd);
        memset(&o, 0, sizeof(o));
        o.sink = &s; o.alloc = &al; o.level = 1;   /* id and time generated: no malloc either */
        rc = ckf_writer_open(&w, &o);
        for (int i = 0; i < 4 && !rc; i++) rc = ckf_writer_add_memory(w, rg[i].addr, rg[i].data, rg[i].len);
        if (!rc) rc = ckf_writer_add_chunk(w, CKF_T_NOTE, 0, "a=b\n", 4);
        if (!rc) rc = ckf_writer_close(w);
        ckf_writer_free(w);
        _exit(rc ? 1 : 0);
    }
    waitpid(pid, &status, 0);
    TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "writer runs in a forked child with an arena allocator%s",
           CHECK_NO_MALLOC ? " and malloc forbidden" : "");
    status = ckf_reader_open_fd(&r, fd, NULL);
    if (!status) {
        uint8_t *out = malloc(rg[0].len);
        status = ckf_reader_verify(r, NULL, NULL, NULL);
        if (!status) status = ckf_reader_read_range(r, rg[0].addr, rg[0].len, out);
        if (!status && memcmp(out, rg[0].data, rg[0].len)) status = -1;
        free(out);
        ckf_reader_close(r);
    }
    TAP_OK(status == 0, "the child's file reads back through open_fd");
    close(fd);
    munmap(ar.base, ar.size);
    free_regions(rg);
}

/* ---- random access ----------------------------------------------------------------- */

struct cbstate { int n; uint64_t last; int ordered; };
static int count_cb(void *arg, size_t index, const ckf_index_entry *e)
{
    struct cbstate *c = arg;
    (void)index;
    if (c->n && e->key < c->last) c->ordered = 0;
    c->last = e->key;
    return ++c->n == 1000 ? 42 : 0;
}

static void progress_cb(void *arg, uint64_t done, uint64_t total)
{
    uint64_t *st = arg;
    if (done < st[0] || done > total) st[2] = 1;
    st[0] = done;
    st[1] = total;
}

static void test_random_access(void)
{
    struct membuf m;
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    ckf_reader *r;
    uint32_t bs = 4096;
    static uint8_t data[64 * 4096], out[64 * 4096];
    struct cbstate cb = { 0, 0, 1 };
    uint64_t st[3] = { 0, 0, 0 };
    int ok = 1;

    fill_text(data, sizeof(data));
    mem_sink(&s, &m);
    opts_init(&o, &s, 1, bs);
    ckf_writer_open(&w, &o);
    /* written out of address order, with holes */
    for (int i = 63; i >= 0; i -= 2) ckf_writer_add_memory(w, 0x100000 + (uint64_t)i * bs, data + (size_t)i * bs, bs);
    ckf_writer_close(w);
    ckf_writer_free(w);
    open_mem(&r, &m);
    for (int t = 0; t < 200 && ok; t++) {
        uint64_t off = xs() % sizeof(data), len = xs() % (sizeof(data) - off);
        if (ckf_reader_read_range(r, 0x100000 + off, len, out)) { ok = 0; break; }
        for (uint64_t k = 0; k < len; k++) {
            uint64_t a = off + k;
            uint8_t want = ((a / bs) & 1) ? data[a] : 0;
            if (out[k] != want) { ok = 0; break; }
        }
    }
    TAP_OK(ok, "read_range: 200 random windows over blocks written out of order with holes");
    ckf_reader_blocks_in_range(r, 0, UINT64_MAX, count_cb, &cb);
    TAP_OK(cb.n == 32 && cb.ordered, "blocks_in_range: every block, in address order");
    cb.n = 0;
    TAP_OK(ckf_reader_blocks_in_range(r, 0x100000 + 3 * bs + 5, 1, count_cb, &cb) == 0 && cb.n == 1,
           "blocks_in_range: a one-byte window hits one block");
    cb.n = 999;
    TAP_OK(ckf_reader_blocks_in_range(r, 0, UINT64_MAX, count_cb, &cb) == 42,
           "blocks_in_range: the callback's non-zero value stops and is returned");
    TAP_OK(ckf_reader_read_range(r, UINT64_MAX - 5, 10, out) == -CKF_E_INVAL,
           "read_range: address overflow -> INVAL");
    TAP_OK(ckf_reader_verify(r, NULL, progress_cb, st) == 0 && !st[2] && st[0] == m.len &&
           st[1] == m.len, "verify: progress is monotonic and ends at the file size");
    ckf_reader_close(r);
    free(m.p);
}

/* ---- error paths ------------------------------------------------------------------- */

static void test_writer_errors(void)
{
    struct membuf m;
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    uint8_t h[16] = { 0 }, buf[8192] = { 1 };
    int rc;

    mem_sink(&s, &m);
    opts_init(&o, &s, 1, 3000);
    TAP_OK(ckf_writer_open(&w, &o) == -CKF_E_INVAL && !w, "block size not a power of two -> INVAL");
    opts_init(&o, &s, 1, 2048);
    TAP_OK(ckf_writer_open(&w, &o) == -CKF_E_INVAL, "block size below minimum -> INVAL");
    opts_init(&o, &s, 100, 0);
    TAP_OK(ckf_writer_open(&w, &o) == -CKF_E_INVAL, "zstd level 100 -> INVAL");
    opts_init(&o, NULL, 1, 0);
    TAP_OK(ckf_writer_open(&w, &o) == -CKF_E_INVAL, "no sink -> INVAL");
    opts_init(&o, &s, 1, 0);
    o.nthreads = -1;
    TAP_OK(ckf_writer_open(&w, &o) == -CKF_E_INVAL, "nthreads < 0 -> INVAL");

    opts_init(&o, &s, 1, 4096);
    ckf_writer_open(&w, &o);
    TAP_OK(ckf_writer_add_chunk(w, CKF_T_MEMBLK, 0, buf, 10) == -CKF_E_INVAL, "add_chunk(MEMBLK) -> INVAL");
    TAP_OK(ckf_writer_add_chunk(w, CKF_T_INDEX, 0, buf, 10) == -CKF_E_INVAL, "add_chunk(INDEX) -> INVAL");
    TAP_OK(ckf_writer_add_chunk(w, CKF_T_NOTE, 0, NULL, 10) == -CKF_E_INVAL, "add_chunk(NULL data) -> INVAL");
    TAP_OK(ckf_writer_add_chunk(w, CKF_T_NOTE, 0, buf, (size_t)CKF_MAX_META + 1) == -CKF_E_INVAL,
           "add_chunk over CKF_MAX_META -> INVAL");
    TAP_OK(ckf_writer_add_parent_ref(w, 0, 4096, h) == -CKF_E_STATE, "parent_ref without parent_id -> STATE");
    TAP_OK(ckf_writer_add_memory(w, UINT64_MAX - 10, buf, 100) == -CKF_E_INVAL, "memory wrapping the address space -> INVAL");
    {
        ckf_chunk_header bad;
        memset(&bad, 0, sizeof(bad));
        TAP_OK(ckf_writer_put_encoded(w, &bad, buf) == -CKF_E_INVAL, "put_encoded(garbage header) -> INVAL");
    }
    TAP_OK(ckf_writer_close(w) == 0, "close");
    TAP_OK(ckf_writer_close(w) == -CKF_E_STATE, "close twice -> STATE");
    TAP_OK(ckf_writer_add_memory(w, 0, buf, 10) == -CKF_E_STATE, "add after close -> STATE");
    ckf_writer_free(w);
    free(m.p);

    mem_sink(&s, &m);
    opts_init(&o, &s, 1, 4096);
    memset(o.parent_id, 1, 16);
    ckf_writer_open(&w, &o);
    TAP_OK(ckf_writer_add_parent_ref(w, 4000, 4096, h) == -CKF_E_INVAL, "parent_ref straddling a block -> INVAL");
    TAP_OK(ckf_writer_add_parent_ref(w, 0, 0, h) == -CKF_E_INVAL, "parent_ref of length 0 -> INVAL");
    ckf_writer_free(w);
    free(m.p);

    /* a failing sink: the error sticks, later calls return it */
    mem_sink(&s, &m);
    m.fail_after = 300000;
    opts_init(&o, &s, 0, 4096);
    ckf_writer_open(&w, &o);
    {
        static uint8_t big[1 << 20];
        fill_random(big, sizeof(big));
        rc = ckf_writer_add_memory(w, 0, big, sizeof(big));
    }
    TAP_OK(rc == -CKF_E_IO, "sink failure -> IO");
    {
        /* the same with the thread pool: the error surfaces, nothing hangs */
        struct membuf m2;
        ckf_sink s2;
        ckf_writer *w2;
        static uint8_t big2[4 << 20];
        int rc2;
        fill_random(big2, sizeof(big2));
        mem_sink(&s2, &m2);
        m2.fail_after = 1 << 20;
        opts_init(&o, &s2, 1, 65536);
        o.nthreads = 3;
        ckf_writer_open(&w2, &o);
        rc2 = ckf_writer_add_memory(w2, 0, big2, sizeof(big2));
        TAP_OK(rc2 == -CKF_E_IO && ckf_writer_add_memory(w2, 0, big2, 100) == -CKF_E_IO,
               "nthreads=3: sink failure -> IO, sticky");
        ckf_writer_free(w2);                /* abandoned without close */
        free(m2.p);
    }
    TAP_OK(ckf_writer_add_chunk(w, CKF_T_NOTE, 0, "x", 1) == -CKF_E_IO &&
           ckf_writer_close(w) == -CKF_E_IO, "the sink error is sticky");
    ckf_writer_free(w);
    free(m.p);

    {
        int pfd[2];
        ckf_sink fs;
        if (pipe(pfd) == 0) {
            close(pfd[0]);
            ckf_sink_fd(&fs, pfd[1]);
            signal(SIGPIPE, SIG_IGN);
            opts_init(&o, &fs, 0, 4096);
            rc = ckf_writer_open(&w, &o);
            TAP_OK(rc == 0 || rc == -CKF_E_IO, "open on a broken pipe buffers its header");
            if (!rc) rc = ckf_writer_close(w);
            TAP_OK(rc == -CKF_E_IO && ckf_last_errno() == EPIPE, "fd sink: EPIPE -> IO, errno kept");
            ckf_writer_free(w);
            close(pfd[1]);
        }
    }
}

static void test_reader_errors(void)
{
    struct membuf m;
    ckf_reader *r;
    uint8_t out[8192], *copy;
    int rc, ok;
    int pfd[2];

    TAP_OK(ckf_reader_open_fd(&r, -1, NULL) == -CKF_E_INVAL, "open_fd(-1) -> INVAL");
    rc = ckf_reader_open_path(&r, "/nonexistent/ckpt.img", NULL);
    TAP_OK(rc == -CKF_E_IO && ckf_last_errno() == ENOENT, "open_path(missing) -> IO/ENOENT");
    if (pipe(pfd) == 0) {
        TAP_OK(ckf_reader_open_fd(&r, pfd[0], NULL) == -CKF_E_INVAL, "open_fd(pipe) -> INVAL");
        close(pfd[0]); close(pfd[1]);
    }
    TAP_OK(ckf_reader_open_mem(&r, "", 0, NULL) == -CKF_E_TRUNCATED, "zero-length file -> TRUNCATED");
    TAP_OK(ckf_reader_open_mem(&r, "CKPT", 4, NULL) == -CKF_E_TRUNCATED, "magic prefix only -> TRUNCATED");
    TAP_OK(ckf_reader_open_mem(&r, "\x7f" "ELF", 4, NULL) == -CKF_E_BAD_MAGIC, "short non-checkpoint -> BAD_MAGIC");

    {
        struct region rg[4];
        make_regions(rg, 4096);
        write_sample(&m, 0, 4096, 1, rg, 4, 1);
        free_regions(rg);
    }
    open_mem(&r, &m);
    TAP_OK(ckf_reader_read(r, ckf_reader_count(r), out, sizeof(out)) == -CKF_E_NOT_FOUND,
           "read past the last chunk -> NOT_FOUND");
    TAP_OK(ckf_reader_read(r, 0, out, 1) == -CKF_E_INVAL, "read with a small buffer -> INVAL");
    TAP_OK(ckf_reader_entry(r, ckf_reader_count(r)) == NULL, "entry past the end -> NULL");
    ckf_reader_close(r);

    /* every truncation is refused */
    ok = 1;
    for (size_t len = 0; len < m.len; len += (len < 300 ? 1 : 97)) {
        rc = ckf_reader_open_mem(&r, m.p, len, NULL);
        if (rc == 0) { ckf_reader_close(r); ok = 0; }
        else if (rc != -CKF_E_TRUNCATED && rc != -CKF_E_BAD_MAGIC) ok = 0;
    }
    TAP_OK(ok, "every truncated prefix -> TRUNCATED (or BAD_MAGIC when shorter than the magic)");

    /* every single-bit flip is caught by open or verify (stored file: no zstd slack) */
    copy = malloc(m.len);
    ok = 1;
    for (size_t pos = 0; pos < m.len; pos += (pos < 400 || pos > m.len - 400 ? 1 : 13)) {
        memcpy(copy, m.p, m.len);
        copy[pos] ^= (uint8_t)(1u << (pos % 8));
        rc = ckf_reader_open_mem(&r, copy, m.len, NULL);
        if (rc == 0) {
            rc = ckf_reader_verify(r, NULL, NULL, NULL);
            ckf_reader_close(r);
        }
        if (rc == 0) { ok = 0; TAP_OK(0, "bit flip at %zu undetected", pos); break; }
    }
    TAP_OK(ok, "every single-bit flip of a %zu-byte file is detected", m.len);
    free(copy);
    free(m.p);
}

static void test_unknown_types(void)
{
    struct membuf m;
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    ckf_reader *r;
    size_t bad = 99;
    uint8_t out[16];

    mem_sink(&s, &m);
    opts_init(&o, &s, 1, 0);
    ckf_writer_open(&w, &o);
    ckf_writer_add_chunk(w, CKF_T_NOTE, 0, "a=1\n", 4);
    ckf_writer_add_chunk(w, 0x0200, 7, "future", 6);
    ckf_writer_close(w);
    ckf_writer_free(w);
    open_mem(&r, &m);
    TAP_OK(ckf_reader_require_known(r, NULL) == 0 && ckf_reader_verify(r, NULL, NULL, NULL) == 0,
           "unknown non-critical type: accepted");
    ckf_reader_close(r);
    free(m.p);

    mem_sink(&s, &m);
    ckf_writer_open(&w, &o);
    ckf_writer_add_chunk(w, CKF_T_NOTE, 0, "a=1\n", 4);
    ckf_writer_add_chunk(w, 0x8200, 7, "future", 6);
    ckf_writer_close(w);
    ckf_writer_free(w);
    TAP_OK(open_mem(&r, &m) == 0, "unknown critical type: the file still opens (listing)");
    TAP_OK(ckf_reader_read(r, 1, out, sizeof(out)) == 6, "unknown critical type: its bytes can be read");
    TAP_OK(ckf_reader_require_known(r, &bad) == -CKF_E_UNKNOWN_CRITICAL && bad == 1,
           "require_known -> UNKNOWN_CRITICAL at chunk 1");
    TAP_OK(ckf_reader_verify(r, NULL, NULL, NULL) == -CKF_E_UNKNOWN_CRITICAL,
           "verify -> UNKNOWN_CRITICAL once the file is intact");
    TAP_OK(ckf_type_known(CKF_T_CUDA) && !ckf_type_known(0x8200), "ckf_type_known");
    ckf_reader_close(r);
    free(m.p);
}

static void test_big_meta(void)
{
    struct membuf m;
    ckf_sink s;
    ckf_writer_opts o;
    ckf_writer *w;
    ckf_reader *r;
    size_t n = 3u << 20;
    uint8_t *d = malloc(n), *got = NULL;
    long len = -1;

    fill_text(d, n);
    for (int th = 1; th <= 2; th++) {
        mem_sink(&s, &m);
        opts_init(&o, &s, 1, 65536);
        o.nthreads = th;
        ckf_writer_open(&w, &o);
        ckf_writer_add_chunk(w, CKF_T_CUDA, 1, d, n);
        ckf_writer_close(w);
        ckf_writer_free(w);
        if (open_mem(&r, &m) == 0) {
            len = ckf_reader_read_alloc(r, 0, (void **)&got);
            TAP_OK(len == (long)n && !memcmp(got, d, n) && ckf_reader_entry(r, 0)->codec == CKF_C_ZSTD,
                   "nthreads %d: 3 MiB metadata chunk (larger than a block) compressed and read back", th);
            ckf_reader_free_buf(r, got);
            ckf_reader_close(r);
        } else {
            TAP_OK(0, "big metadata open");
        }
        free(m.p);
    }
    free(d);
}

static int scan_cb(void *arg, uint64_t off, const ckf_chunk_header *h)
{
    uint64_t *last = arg;
    (void)h;
    if (off <= *last && *last) return 1000;   /* offsets must grow */
    *last = off;
    return 0;
}

static void test_scan(void)
{
    struct region rg[4];
    struct membuf m;
    ckf_reader *r;
    uint64_t last = 0, end = 0, idx;
    size_t nchunks;
    long n;
    int ok = 1;

    make_regions(rg, 4096);
    write_sample(&m, 1, 4096, 1, rg, 4, 1);
    free_regions(rg);
    open_mem(&r, &m);
    nchunks = ckf_reader_count(r);
    ckf_reader_close(r);
    memcpy(&idx, m.p + m.len - CKF_FOOTER_SIZE + 8, 8);
    n = ckf_scan_mem(m.p, m.len, NULL, scan_cb, &last, &end);
    TAP_OK(n == (long)nchunks && end == idx, "scan of a complete file: every chunk, stops at the index");
    /* the writer died: no footer, no index, a chunk cut in the middle */
    for (size_t cut = CKF_HEADER_SIZE; cut < idx && ok; cut += 97) {
        last = 0;
        n = ckf_scan_mem(m.p, cut, NULL, scan_cb, &last, &end);
        if (n < 0 || end > cut || (n > 0 && last >= end)) ok = 0;
        if (ckf_reader_open_mem(&r, m.p, cut, NULL) != -CKF_E_TRUNCATED) ok = 0;
    }
    TAP_OK(ok, "scan of every truncation recovers an intact prefix; open says TRUNCATED");
    m.p[idx / 2] ^= 1;
    n = ckf_scan_mem(m.p, m.len, NULL, NULL, NULL, &end);
    TAP_OK(n >= 0 && n < (long)nchunks && end <= idx / 2, "scan stops at a damaged chunk (%ld of %zu)",
           n, nchunks);
    TAP_OK(ckf_scan_mem("XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 68, NULL,
                        NULL, NULL, NULL) == -CKF_E_BAD_MAGIC, "scan: bad magic");
    {
        int fd = memfd_create("scan", MFD_CLOEXEC);
        m.p[idx / 2] ^= 1;
        if (write(fd, m.p, m.len) != (ssize_t)m.len) ok = 0;
        TAP_OK(ckf_scan_fd(fd, NULL, NULL, NULL, NULL) == (long)nchunks, "scan_fd of a complete file");
        close(fd);
    }
    free(m.p);
}

int main(void)
{
    static const uint32_t bss[] = { 4096, 65536, 1u << 20 };
    static const int levels[] = { 0, 1, -5, 3 };

    test_errors();
    test_is_zero();
    test_hash();
    for (size_t b = 0; b < 3; b++)
        for (size_t l = 0; l < 4; l++) test_roundtrip(levels[l], bss[b]);
    test_zpages();
    test_meta_content();
    test_empty();
    test_threads_identical();
    test_encode_api();
    test_parent();
    test_allocator();
    test_fork_child();
    test_random_access();
    test_writer_errors();
    test_reader_errors();
    test_unknown_types();
    test_big_meta();
    test_scan();
    return tap_done();
}
