/*
 * test_format_golden.c - golden container files.
 *
 * tests/golden/ holds checked-in valid and invalid checkpoint files.  This
 * test (1) rebuilds each one in memory with the current writer and requires
 * the checked-in bytes to be identical, so that any change of the format (or
 * of what the writer emits) is caught, and (2) checks that the reader gives
 * each file its expected verdict: valid files open, verify and read back,
 * invalid ones fail with exactly the listed error.
 *
 *     test_format_golden                 run the checks (cwd = repository root,
 *                                        or CKF_GOLDEN_DIR=...)
 *     test_format_golden --regen DIR     rewrite the files (after a deliberate
 *                                        format change; bump the version!)
 *
 * Files with zstd payloads are compared byte for byte only when the zstd
 * library is the one that generated them (compressors may change their output
 * between versions; decoders must not change what they accept).
 */
#include "format/ckf.h"
#include "format/ckc.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Under SANITIZE=undefined a finding must fail the test, not scroll by. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

#define GOLDEN_ZSTD_VERSION 10504     /* libzstd that wrote the checked-in files */

struct buf { uint8_t *p; size_t len, cap; };

static int buf_write(ckf_sink *s, const void *d, size_t n)
{
    struct buf *b = s->opaque;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        if (seed & 1) { x = x * 1103515245u + 12345u; p[i] = (uint8_t)(x >> 16); }
        else p[i] = (uint8_t)("checkpoint-restart "[(i + seed) % 19]);
    }
}

enum { F_META = 1, F_MEM = 2, F_UNK_NC = 4, F_UNK_C = 8, F_DUP = 16, F_CHILD = 32, F_ZP = 64 };

static const uint8_t ID_A[16] = "golden-file-id-A";
static const uint8_t ID_P[16] = "golden-parent-id";

static struct buf build(int level, uint32_t bs, int flags)
{
    struct buf b = { 0 };
    ckf_sink s = { buf_write, &b, -1 };
    ckf_writer_opts o;
    ckf_writer *w;
    uint8_t data[5 * 4096], meta[4096];

    memset(&o, 0, sizeof(o));
    o.sink = &s;
    o.level = level;
    o.block_size = bs;
    o.created_ns = 1767225600000000000ull;       /* 2026-01-01T00:00:00Z */
    memcpy(o.id, (flags & F_CHILD) ? ID_A : (flags & F_MEM && level == 2) ? ID_P : ID_A, 16);
    if (flags & F_CHILD) memcpy(o.parent_id, ID_P, 16);
    if (ckf_writer_open(&w, &o)) abort();
    if (flags & F_META) {
        static const uint16_t t[] = { CKF_T_PROCESS, CKF_T_VMAS, CKF_T_THREAD, CKF_T_FILES,
            CKF_T_SIGNALS, CKF_T_TIMERS, CKF_T_RLIMITS, CKF_T_FILEIDS, CKF_T_CUDA,
            CKF_T_REGION, CKF_T_LENS, CKF_T_NOTE, CKF_T_CUDA_DATA };
        for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            size_t n = 40 + 37 * i;
            if (t[i] == CKF_T_PROCESS) {
                ckc_process p;
                memset(&p, 0, sizeof(p));
                p.version = CKC_PROCESS_VERSION; p.pid = 1234; p.nthreads = 1;
                memcpy(p.comm, "golden", 7);
                memcpy(meta, &p, sizeof(p));
                n = sizeof(p);
            } else if (t[i] == CKF_T_TIMERS) {
                memset(meta, 0, n);                    /* ZERO codec on metadata */
            } else if (t[i] == CKF_T_LENS) {
                n = 0;
            } else {
                pattern(meta, n, i);
            }
            if (ckf_writer_add_chunk(w, t[i], t[i] == CKF_T_REGION ? 0x600000 : i, meta, n))
                abort();
        }
    }
    if (flags & F_MEM) {
        pattern(data, sizeof(data), 2);
        memset(data + 4096, 0, 4096);                  /* one whole zero block */
        pattern(data + 3 * 4096, 4096, 3);             /* one incompressible block */
        if (ckf_writer_add_memory(w, 0x400000 + 4096 - 300, data + 4096 - 300, sizeof(data) - 4096 - 300 - 77))
            abort();
        if (flags & F_DUP && ckf_writer_add_memory(w, 0x400000 + 2 * 4096, data, 100)) abort();
    }
    if (flags & F_CHILD) {
        uint8_t h[16];
        pattern(data, sizeof(data), 2);
        ckf_hash128(data + 4096, 4096, h);             /* block 2 of the parent above: */
        memset(data + 4096, 0, 4096);                  /* it is the zero block */
        ckf_hash128(data + 4096, 4096, h);
        ckf_writer_add_parent_ref(w, 0x400000 + 4096, 4096, h);
        pattern(data + 3 * 4096, 4096, 3);
        ckf_hash128(data + 3 * 4096, 4096, h);
        ckf_writer_add_parent_ref(w, 0x400000 + 3 * 4096, 4096, h);
        pattern(data, 4096, 5);
        ckf_writer_add_memory(w, 0x400000 + 2 * 4096, data, 4096);
    }
    if (flags & F_ZP) {                                /* codec ZPAGES: pages 1 and 3 zero */
        pattern(data, sizeof(data), 7);
        memset(data + 4096, 0, 4096);
        memset(data + 3 * 4096, 0, 4096);
        if (ckf_writer_add_memory(w, 0x500000, data, 5 * 4096)) abort();
    }
    if (flags & F_UNK_NC) ckf_writer_add_chunk(w, 0x0100, 1, "from a future minor", 19);
    if (flags & F_UNK_C) ckf_writer_add_chunk(w, 0x8100, 1, "needed to restore", 17);
    if (ckf_writer_close(w)) abort();
    ckf_writer_free(w);
    return b;
}

/* ---- patching helpers: break one thing, keep every checksum elsewhere valid -------- */

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void reseal_file_header(struct buf *b) { wr64(b->p + 56, ckf_hash64(b->p, 56)); }
static uint8_t *footer(struct buf *b) { return b->p + b->len - CKF_FOOTER_SIZE; }
static void reseal_footer(struct buf *b) { wr64(footer(b) + 56, ckf_hash64(footer(b), 56)); }
static uint64_t index_off(struct buf *b) { return rd64(footer(b) + 8); }
/* entries lie at any byte offset of the buffer: copied, never dereferenced */
static ckf_index_entry get_ent(struct buf *b, size_t i)
{
    ckf_index_entry e;
    memcpy(&e, b->p + index_off(b) + CKF_CHUNK_HDR_SIZE + i * sizeof(e), sizeof(e));
    return e;
}
static void put_ent(struct buf *b, size_t i, const ckf_index_entry *e)
{
    memcpy(b->p + index_off(b) + CKF_CHUNK_HDR_SIZE + i * sizeof(*e), e, sizeof(*e));
}
static size_t nentries(struct buf *b) { return (size_t)rd64(footer(b) + 16); }

static void reseal_chunk(uint8_t *c, int payload_too)
{
    ckf_chunk_header h;
    memcpy(&h, c, sizeof(h));
    if (payload_too && (h.codec == CKF_C_ZSTD || h.codec == CKF_C_ZPAGES)) {
        h.payload_checksum = ckf_hash64(c + CKF_CHUNK_HDR_SIZE, (size_t)h.stored_len);
    }
    h.hdr_checksum = ckf_hash64(&h, 56);
    memcpy(c, &h, sizeof(h));
}

/* after editing the (stored) index entries: content hash, checksums */
static void reseal_index(struct buf *b)
{
    uint8_t *c = b->p + index_off(b);
    ckf_chunk_header h;
    memcpy(&h, c, sizeof(h));
    ckf_hash128(c + CKF_CHUNK_HDR_SIZE, (size_t)h.stored_len, h.content_hash);
    memcpy(c, &h, sizeof(h));
    reseal_chunk(c, 1);
}

static long find_entry(struct buf *b, uint16_t type, uint8_t codec)
{
    for (size_t i = 0; i < nentries(b); i++)
        if (get_ent(b, i).type == type && get_ent(b, i).codec == codec) return (long)i;
    abort();
}

static uint8_t *chunk_at(struct buf *b, long i) { return b->p + get_ent(b, (size_t)i).offset; }

/* ---- the cases --------------------------------------------------------------------- */

struct gcase { const char *name; int err; int zstd; };

static struct buf make_case(const char *name)
{
    struct buf b;
    if (!strcmp(name, "valid_empty.ckf")) return build(0, 4096, 0);
    if (!strcmp(name, "valid_stored.ckf")) return build(0, 4096, F_META | F_MEM);
    if (!strcmp(name, "valid_zstd.ckf")) return build(1, 4096, F_META | F_MEM);
    if (!strcmp(name, "valid_bs64k.ckf")) return build(-1, 65536, F_MEM);
    if (!strcmp(name, "valid_parent.ckf")) return build(2, 4096, F_MEM);
    if (!strcmp(name, "valid_child.ckf")) return build(1, 4096, F_CHILD);
    if (!strcmp(name, "valid_unknown_noncritical.ckf")) return build(0, 4096, F_UNK_NC);
    if (!strcmp(name, "valid_zpages.ckf")) return build(1, 65536, F_ZP);
    if (!strcmp(name, "unknown_critical.ckf")) return build(0, 4096, F_UNK_C);
    if (!strcmp(name, "memblk_overlap.ckf")) return build(0, 4096, F_MEM | F_DUP);

    b = build(0, 4096, F_META | F_MEM);
    if (!strcmp(name, "bad_magic.ckf")) {
        memcpy(b.p, "CKPTIMG0", 8);
        reseal_file_header(&b);
    } else if (!strcmp(name, "future_major.ckf")) {
        b.p[8] = 2;                                 /* version_major = 2 */
        reseal_file_header(&b);
    } else if (!strcmp(name, "bad_block_size.ckf")) {
        wr64(b.p + 12, 5000 | (rd64(b.p + 12) & ~0xffffffffull));
        reseal_file_header(&b);
    } else if (!strcmp(name, "truncated_half.ckf")) {
        b.len /= 2;
    } else if (!strcmp(name, "truncated_footer.ckf")) {
        b.len -= 1;
    } else if (!strcmp(name, "header_bitflip.ckf")) {
        b.p[20] ^= 0x04;                            /* created_ns */
    } else if (!strcmp(name, "footer_bitflip.ckf")) {
        footer(&b)[30] ^= 0x01;
    } else if (!strcmp(name, "chunk_header_bitflip.ckf")) {
        chunk_at(&b, find_entry(&b, CKF_T_NOTE, CKF_C_STORED))[40] ^= 0x80;   /* content hash */
    } else if (!strcmp(name, "payload_bitflip.ckf")) {
        free(b.p);
        b = build(1, 4096, F_META | F_MEM);
        chunk_at(&b, find_entry(&b, CKF_T_MEMBLK, CKF_C_ZSTD))[64 + 20] ^= 0x01;
    } else if (!strcmp(name, "stored_payload_bitflip.ckf")) {
        /* a stored payload is covered by the content hash alone */
        chunk_at(&b, find_entry(&b, CKF_T_MEMBLK, CKF_C_STORED))[64 + 100] ^= 0x01;
    } else if (!strcmp(name, "payload_bitflip_resummed.ckf")) {
        /* checksums recomputed: only the content hash can catch it */
        uint8_t *c;
        free(b.p);
        b = build(1, 4096, F_META | F_MEM);
        c = chunk_at(&b, find_entry(&b, CKF_T_MEMBLK, CKF_C_ZSTD));
        c[64 + 20] ^= 0x10;
        reseal_chunk(c, 1);
    } else if (!strcmp(name, "lying_chunk_len.ckf")) {
        uint8_t *c = chunk_at(&b, find_entry(&b, CKF_T_NOTE, CKF_C_STORED));
        wr64(c + 8, rd64(c + 8) + 16);              /* stored_len */
        wr64(c + 16, rd64(c + 16) + 16);            /* raw_len */
        reseal_chunk(c, 0);
    } else if (!strcmp(name, "lying_index_len.ckf")) {
        size_t i = (size_t)find_entry(&b, CKF_T_NOTE, CKF_C_STORED);
        ckf_index_entry e = get_ent(&b, i);
        e.stored_len += 1u << 30; e.raw_len += 1u << 30;
        put_ent(&b, i, &e);
        reseal_index(&b);
    } else if (!strcmp(name, "index_outside.ckf")) {
        ckf_index_entry e = get_ent(&b, nentries(&b) - 1);
        e.offset = b.len + 4096;
        put_ent(&b, nentries(&b) - 1, &e);
        reseal_index(&b);
    } else if (!strcmp(name, "index_overlap.ckf")) {
        ckf_index_entry e = get_ent(&b, 2);
        e.offset = get_ent(&b, 1).offset + 8;
        put_ent(&b, 2, &e);
        reseal_index(&b);
    } else if (!strcmp(name, "index_unsorted.ckf")) {
        ckf_index_entry e3 = get_ent(&b, 3), e4 = get_ent(&b, 4);
        put_ent(&b, 3, &e4);
        put_ent(&b, 4, &e3);
        reseal_index(&b);
    } else if (!strcmp(name, "index_entry_mismatch.ckf")) {
        size_t i = (size_t)find_entry(&b, CKF_T_MEMBLK, CKF_C_ZERO);
        ckf_index_entry e = get_ent(&b, i);
        e.key += 4096 * 16;
        put_ent(&b, i, &e);
        reseal_index(&b);
    } else if (!strcmp(name, "footer_index_outside.ckf")) {
        wr64(footer(&b) + 8, b.len * 2);
        reseal_footer(&b);
    } else if (!strcmp(name, "footer_nentries_lie.ckf")) {
        wr64(footer(&b) + 16, nentries(&b) + 1);
        reseal_footer(&b);
    } else if (!strcmp(name, "footer_wrong_id.ckf")) {
        footer(&b)[32] ^= 1;
        reseal_footer(&b);
    } else if (!strcmp(name, "unknown_codec.ckf")) {
        long i = find_entry(&b, CKF_T_NOTE, CKF_C_STORED);
        chunk_at(&b, i)[7 - 1] = 9;                 /* codec byte at offset 6 */
        reseal_chunk(chunk_at(&b, i), 0);
        {
            ckf_index_entry e = get_ent(&b, (size_t)i);
            e.codec = 9;
            put_ent(&b, (size_t)i, &e);
        }
        reseal_index(&b);
    } else if (!strcmp(name, "chunk_reserved_flags.ckf")) {
        uint8_t *c = chunk_at(&b, find_entry(&b, CKF_T_NOTE, CKF_C_STORED));
        c[7] = 1;
        reseal_chunk(c, 0);
    } else if (!strcmp(name, "chunk_bad_magic.ckf")) {
        uint8_t *c = chunk_at(&b, find_entry(&b, CKF_T_NOTE, CKF_C_STORED));
        c[0] ^= 0x20;
        reseal_chunk(c, 0);
    } else if (!strcmp(name, "zpages_past_end.ckf") || !strcmp(name, "zpages_moved.ckf")) {
        /* ZPAGES bitmap (payload checksum resummed): a page bit past the
         * block's 5 pages, or the bit of page 2 moved to zero page 3 */
        uint8_t *c;
        free(b.p);
        b = build(1, 65536, F_ZP);
        c = chunk_at(&b, find_entry(&b, CKF_T_MEMBLK, CKF_C_ZPAGES));
        if (name[7] == 'p') c[CKF_CHUNK_HDR_SIZE] |= 0x20;
        else c[CKF_CHUNK_HDR_SIZE] ^= 0x0c;
        reseal_chunk(c, 1);
    } else if (!strcmp(name, "zstd_raw_len_lie.ckf")) {
        /* header and index agree on a raw length one byte short of the frame's */
        long i;
        free(b.p);
        b = build(1, 4096, F_META | F_MEM);
        i = find_entry(&b, CKF_T_MEMBLK, CKF_C_ZSTD);
        wr64(chunk_at(&b, i) + 16, rd64(chunk_at(&b, i) + 16) - 1);
        reseal_chunk(chunk_at(&b, i), 0);
        {
            ckf_index_entry e = get_ent(&b, (size_t)i);
            e.raw_len -= 1;
            put_ent(&b, (size_t)i, &e);
        }
        reseal_index(&b);
    } else {
        abort();
    }
    return b;
}

static const struct gcase cases[] = {
    { "valid_empty.ckf", 0, 0 },
    { "valid_stored.ckf", 0, 0 },
    { "valid_zstd.ckf", 0, 1 },
    { "valid_bs64k.ckf", 0, 1 },
    { "valid_parent.ckf", 0, 1 },
    { "valid_child.ckf", 0, 1 },
    { "valid_unknown_noncritical.ckf", 0, 0 },
    { "valid_zpages.ckf", 0, 1 },
    { "zpages_past_end.ckf", CKF_E_DECOMPRESS, 1 },
    { "zpages_moved.ckf", CKF_E_CONTENT_HASH, 1 },
    { "unknown_critical.ckf", CKF_E_UNKNOWN_CRITICAL, 0 },
    { "memblk_overlap.ckf", CKF_E_BAD_INDEX, 0 },
    { "bad_magic.ckf", CKF_E_BAD_MAGIC, 0 },
    { "future_major.ckf", CKF_E_VERSION, 0 },
    { "bad_block_size.ckf", CKF_E_BAD_LENGTH, 0 },
    { "truncated_half.ckf", CKF_E_TRUNCATED, 0 },
    { "truncated_footer.ckf", CKF_E_TRUNCATED, 0 },
    { "header_bitflip.ckf", CKF_E_HDR_CHECKSUM, 0 },
    { "footer_bitflip.ckf", CKF_E_HDR_CHECKSUM, 0 },
    { "chunk_header_bitflip.ckf", CKF_E_HDR_CHECKSUM, 0 },
    { "payload_bitflip.ckf", CKF_E_PAYLOAD_CHECKSUM, 1 },
    { "stored_payload_bitflip.ckf", CKF_E_CONTENT_HASH, 0 },
    { "payload_bitflip_resummed.ckf", CKF_E_CONTENT_HASH, 1 },
    { "zstd_raw_len_lie.ckf", CKF_E_DECOMPRESS, 1 },
    { "lying_chunk_len.ckf", CKF_E_BAD_INDEX, 0 },
    { "lying_index_len.ckf", CKF_E_BAD_INDEX, 0 },
    { "index_outside.ckf", CKF_E_BAD_INDEX, 0 },
    { "index_overlap.ckf", CKF_E_BAD_INDEX, 0 },
    { "index_unsorted.ckf", CKF_E_BAD_INDEX, 0 },
    { "index_entry_mismatch.ckf", CKF_E_BAD_INDEX, 0 },
    { "footer_index_outside.ckf", CKF_E_BAD_LENGTH, 0 },
    { "footer_nentries_lie.ckf", CKF_E_BAD_INDEX, 0 },
    { "footer_wrong_id.ckf", CKF_E_BAD_INDEX, 0 },
    { "unknown_codec.ckf", CKF_E_UNKNOWN_CODEC, 0 },
    { "chunk_reserved_flags.ckf", CKF_E_BAD_CHUNK, 0 },
    { "chunk_bad_magic.ckf", CKF_E_BAD_CHUNK, 0 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* The verdict a restore would reach: open, verify, then read every chunk. */
static int verdict(const uint8_t *p, size_t len, ckf_reader *parent)
{
    ckf_reader *r;
    int rc = ckf_reader_open_mem(&r, p, len, NULL);
    if (rc) return -rc;
    if (parent) rc = ckf_reader_set_parent(r, parent);
    if (!rc) rc = ckf_reader_verify(r, NULL, NULL, NULL);
    for (size_t i = 0; !rc && i < ckf_reader_count(r); i++) {
        void *out;
        long n = ckf_reader_read_alloc(r, i, &out);
        if (n < 0) rc = (int)n;
        else ckf_reader_free_buf(r, out);
    }
    ckf_reader_close(r);
    return rc < 0 ? -rc : rc;
}

static int load(const char *dir, const char *name, struct buf *b)
{
    char path[1024];
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    memset(b, 0, sizeof(*b));
    if (!(f = fopen(path, "rb"))) return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b->p = malloc(n ? (size_t)n : 1);
    b->len = (size_t)n;
    if (fread(b->p, 1, b->len, f) != b->len) { fclose(f); return -1; }
    fclose(f);
    return 0;
}

static int regen(const char *dir)
{
    char path[1024];
    FILE *list;

    snprintf(path, sizeof(path), "%s/EXPECTED", dir);
    list = fopen(path, "w");
    if (!list) { perror(path); return 1; }
    fprintf(list, "# file  expected verdict (open, verify, read every chunk; see "
                  "tests/unit/test_format_golden.c)\n");
    for (size_t i = 0; i < NCASES; i++) {
        struct buf b = make_case(cases[i].name);
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, cases[i].name);
        f = fopen(path, "wb");
        if (!f || fwrite(b.p, 1, b.len, f) != b.len || fclose(f)) { perror(path); return 1; }
        fprintf(list, "%-36s %s\n", cases[i].name, ckf_errname(cases[i].err));
        free(b.p);
    }
    fclose(list);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = getenv("CKF_GOLDEN_DIR") ? getenv("CKF_GOLDEN_DIR") : "tests/golden";
    int same_zstd = ZSTD_versionNumber() == GOLDEN_ZSTD_VERSION;
    struct buf parent;
    ckf_reader *pr = NULL;

    if (argc == 3 && !strcmp(argv[1], "--regen")) return regen(argv[2]);
    if (load(dir, "valid_parent.ckf", &parent) == 0)
        ckf_reader_open_mem(&pr, parent.p, parent.len, NULL);

    for (size_t i = 0; i < NCASES; i++) {
        struct buf disk, now = make_case(cases[i].name);
        int v;
        if (load(dir, cases[i].name, &disk)) {
            TAP_OK(0, "%s: missing from %s", cases[i].name, dir);
            free(now.p);
            continue;
        }
        if (cases[i].zstd && !same_zstd)
            TAP_OK(1, "%s: bytes # skip zstd %u differs from the generator's", cases[i].name,
                   ZSTD_versionNumber());
        else
            TAP_OK(disk.len == now.len && !memcmp(disk.p, now.p, now.len),
                   "%s: the writer still produces the checked-in bytes", cases[i].name);
        v = verdict(disk.p, disk.len, strstr(cases[i].name, "child") ? pr : NULL);
        TAP_OK(v == cases[i].err, "%s: verdict %s (want %s)", cases[i].name, ckf_errname(v),
               ckf_errname(cases[i].err));
        free(disk.p);
        free(now.p);
    }
    {
        struct buf c;
        if (load(dir, "valid_child.ckf", &c) == 0) {
            TAP_OK(verdict(c.p, c.len, NULL) == CKF_E_PARENT,
                   "valid_child.ckf without its parent: CKF_E_PARENT");
            free(c.p);
        }
    }
    ckf_reader_close(pr);
    free(parent.p);
    return tap_done();
}
