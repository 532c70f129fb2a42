/*
 * ckf_reader.c - validating random-access reader.
 *
 * Opening a file checks everything that can be checked without reading the
 * payloads: file header, footer, the index chunk (checksum and content hash)
 * and every index entry (sorted, non-overlapping, inside the file, lengths
 * consistent with the codec, memory blocks inside their block and not
 * overlapping each other).  Reading a chunk then re-checks its header against
 * the index, its payload checksum, decodes it and checks its content hash: a
 * byte of a checkpoint is never handed out unverified.
 *
 * Hostile input: every length and offset is bounds-checked before use, and no
 * allocation is sized from a header beyond block_size (memory blocks) or
 * CKF_MAX_META (other chunks); the index itself is bounded by the file size.
 *
 * A reader is not thread-safe (it owns one decompression context and scratch
 * buffers); open one reader per thread to decode in parallel.
 */
#include "format/ckf_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

struct hent { uint64_t lo; size_t idx; };

struct ckf_reader {
    ckf_alloc a;
    int fd, own_fd;
    const uint8_t *mem;            /* open_mem: the file image */
    uint64_t size;
    ckf_file_header hdr;
    ckf_footer foot;
    ckf_index_entry *ents;
    size_t n;
    size_t *order;                 /* MEMBLK entry indices sorted by address */
    size_t norder;
    uint8_t *scratch;              /* compressed payloads */
    size_t scap;
    uint8_t *blk;                  /* one block, for partial reads and verify */
    size_t bcap;
    ZSTD_DCtx *dctx;
    ckf_reader *parent;
    struct hent *htab;             /* content-hash lookup, built when used as a parent */
    size_t nh;
    uint8_t zero_hash[16];         /* content hash of block_size zero bytes */
    int zero_hash_ok;
};

/* ---- I/O --------------------------------------------------------------------------- */

static int rd(ckf_reader *r, uint64_t off, void *buf, size_t len)
{
    char *p = buf;

    if (off > r->size || len > r->size - off) return -CKF_E_TRUNCATED;
    if (len == 0) return 0;                /* buf may be NULL for an empty chunk */
    if (r->mem) { memcpy(buf, r->mem + off, len); return 0; }
    while (len) {
        ssize_t n = pread(r->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            ckf_i_set_errno(errno);
            return -CKF_E_IO;
        }
        if (n == 0) return -CKF_E_TRUNCATED;   /* shrank under us */
        p += n; off += (uint64_t)n; len -= (size_t)n;
    }
    return 0;
}

static int grow(ckf_reader *r, uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need) return 0;
    ckf_i_free(&r->a, *buf);
    *cap = 0;
    *buf = ckf_i_alloc(&r->a, need);
    if (!*buf) return -CKF_E_NOMEM;
    *cap = need;
    return 0;
}

/* ---- open -------------------------------------------------------------------------- */

/* Heap sort of MEMBLK indices by address: no allocation (glibc's qsort may call
 * malloc), and O(n log n) whatever the input. */
static void sift(const ckf_index_entry *e, size_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t c = 2 * root + 1, t;
        if (c >= n) return;
        if (c + 1 < n && e[a[c + 1]].key > e[a[c]].key) c++;
        if (e[a[root]].key >= e[a[c]].key) return;
        t = a[root]; a[root] = a[c]; a[c] = t;
        root = c;
    }
}

static void sort_by_key(const ckf_index_entry *e, size_t *a, size_t n)
{
    size_t i, t;

    for (i = 1; i < n; i++)
        if (e[a[i - 1]].key > e[a[i]].key) break;
    if (i >= n) return;                    /* the writer's usual order */
    for (i = n / 2; i-- > 0;) sift(e, a, i, n);
    for (i = n; i-- > 1;) {
        t = a[0]; a[0] = a[i]; a[i] = t;
        sift(e, a, 0, i);
    }
}

static int load_index(ckf_reader *r)
{
    ckf_chunk_header h;
    uint64_t ioff = r->foot.index_offset, nent = r->foot.nentries, end, prev_end;
    uint8_t hash[16];
    size_t i;
    int rc;

    /* index chunk header must fit between the file header and the footer */
    if (ioff < CKF_HEADER_SIZE || ioff > r->size - CKF_FOOTER_SIZE - CKF_CHUNK_HDR_SIZE)
        return -CKF_E_BAD_LENGTH;
    if ((rc = rd(r, ioff, &h, sizeof(h)))) return rc;
    if (h.magic != CKF_CHUNK_MAGIC) return -CKF_E_BAD_CHUNK;
    if (XXH3_64bits(&h, CKF_HDR_SUMMED) != h.hdr_checksum) return -CKF_E_HDR_CHECKSUM;
    if (h.type != CKF_T_INDEX || h.key != nent) return -CKF_E_BAD_INDEX;
    if (h.flags) return -CKF_E_BAD_CHUNK;
    if (h.stored_len == 0 && h.payload_checksum != 0) return -CKF_E_BAD_CHUNK;
    /* every entry stands for a chunk of at least a header before the index */
    if (nent > (ioff - CKF_HEADER_SIZE) / CKF_CHUNK_HDR_SIZE) return -CKF_E_BAD_INDEX;
    if (h.raw_len != nent * CKF_INDEX_ENTRY_SIZE) return -CKF_E_BAD_LENGTH;
    if (h.stored_len != r->size - CKF_FOOTER_SIZE - CKF_CHUNK_HDR_SIZE - ioff)
        return -CKF_E_BAD_LENGTH;
    if (h.codec == CKF_C_STORED) {
        if (h.stored_len != h.raw_len) return -CKF_E_BAD_LENGTH;
    } else if (h.codec == CKF_C_ZSTD) {
        if (h.stored_len == 0 || h.stored_len >= h.raw_len) return -CKF_E_BAD_LENGTH;
    } else {
        return -CKF_E_UNKNOWN_CODEC;
    }

    r->ents = ckf_i_alloc(&r->a, (size_t)h.raw_len);
    if (!r->ents) return -CKF_E_NOMEM;
    r->n = (size_t)nent;
    if (h.codec == CKF_C_STORED) {
        if ((rc = rd(r, ioff + CKF_CHUNK_HDR_SIZE, r->ents, (size_t)h.stored_len))) return rc;
    } else {
        size_t n;
        if ((rc = grow(r, &r->scratch, &r->scap, (size_t)h.stored_len))) return rc;
        if ((rc = rd(r, ioff + CKF_CHUNK_HDR_SIZE, r->scratch, (size_t)h.stored_len))) return rc;
        if (ckf_hash64(r->scratch, (size_t)h.stored_len) != h.payload_checksum)
            return -CKF_E_PAYLOAD_CHECKSUM;
        if (!r->dctx && !(r->dctx = ZSTD_createDCtx_advanced(ckf_i_zmem(&r->a))))
            return -CKF_E_NOMEM;
        n = ZSTD_decompressDCtx(r->dctx, r->ents, (size_t)h.raw_len, r->scratch,
                                (size_t)h.stored_len);
        if (ZSTD_isError(n) || n != h.raw_len) return -CKF_E_DECOMPRESS;
    }
    ckf_hash128(r->ents, (size_t)h.raw_len, hash);
    if (memcmp(hash, h.content_hash, 16)) return -CKF_E_CONTENT_HASH;

    /* entries: sorted by offset, non-overlapping, before the index */
    prev_end = CKF_HEADER_SIZE;
    for (i = 0; i < r->n; i++) {
        const ckf_index_entry *e = &r->ents[i];
        if (e->flags || e->reserved) return -CKF_E_BAD_INDEX;
        if (e->offset < prev_end || e->offset > ioff - CKF_CHUNK_HDR_SIZE)
            return -CKF_E_BAD_INDEX;
        if (e->stored_len > ioff - CKF_CHUNK_HDR_SIZE - e->offset) return -CKF_E_BAD_INDEX;
        if ((rc = ckf_i_check_fields(e->type, e->codec, e->flags, e->stored_len, e->raw_len,
                                     e->key, r->hdr.block_size)))
            return rc;
        if (e->type == CKF_T_MEMBLK) r->norder++;
        end = e->offset + CKF_CHUNK_HDR_SIZE + e->stored_len;
        prev_end = end;
    }

    /* memory blocks: an address table sorted by address, ranges disjoint */
    if (r->norder) {
        size_t k = 0;
        r->order = ckf_i_alloc(&r->a, r->norder * sizeof(*r->order));
        if (!r->order) return -CKF_E_NOMEM;
        for (i = 0; i < r->n; i++)
            if (r->ents[i].type == CKF_T_MEMBLK) r->order[k++] = i;
        sort_by_key(r->ents, r->order, r->norder);
        for (i = 1; i < r->norder; i++) {
            const ckf_index_entry *a = &r->ents[r->order[i - 1]], *b = &r->ents[r->order[i]];
            if (a->key + a->raw_len > b->key) return -CKF_E_BAD_INDEX;
        }
    }
    return 0;
}

/* Reads and checks the file header (shared by open and the recovery scan). */
static int read_file_header(ckf_reader *r)
{
    uint8_t first[8];
    int rc;

    if (r->size < CKF_HEADER_SIZE) {
        size_t n = (size_t)r->size < 8 ? (size_t)r->size : 8;
        if ((rc = rd(r, 0, first, n))) return rc;
        return memcmp(first, CKF_MAGIC, n) ? -CKF_E_BAD_MAGIC : -CKF_E_TRUNCATED;
    }
    if ((rc = rd(r, 0, &r->hdr, sizeof(r->hdr)))) return rc;
    if (memcmp(r->hdr.magic, CKF_MAGIC, 8)) return -CKF_E_BAD_MAGIC;
    /* version before checksum: a future major may lay its header out differently */
    if (r->hdr.version_major != CKF_VERSION_MAJOR) return -CKF_E_VERSION;
    if (XXH3_64bits(&r->hdr, CKF_HDR_SUMMED) != r->hdr.hdr_checksum)
        return -CKF_E_HDR_CHECKSUM;
    if (!ckf_i_block_size_ok(r->hdr.block_size)) return -CKF_E_BAD_LENGTH;
    return 0;
}

static int open_common(ckf_reader *r)
{
    int rc;

    if ((rc = read_file_header(r))) return rc;
    if (r->size < CKF_HEADER_SIZE + CKF_CHUNK_HDR_SIZE + CKF_FOOTER_SIZE)
        return -CKF_E_TRUNCATED;
    if ((rc = rd(r, r->size - CKF_FOOTER_SIZE, &r->foot, sizeof(r->foot)))) return rc;
    if (memcmp(r->foot.magic, CKF_FOOTER_MAGIC, 8)) return -CKF_E_TRUNCATED;
    if (XXH3_64bits(&r->foot, CKF_HDR_SUMMED) != r->foot.footer_checksum)
        return -CKF_E_HDR_CHECKSUM;
    if (r->foot.reserved) return -CKF_E_BAD_CHUNK;
    if (r->foot.file_size != r->size) return -CKF_E_BAD_LENGTH;
    if (memcmp(r->foot.id, r->hdr.id, 16)) return -CKF_E_BAD_INDEX;
    return load_index(r);
}

static int reader_new(ckf_reader **out, const ckf_alloc *alloc, ckf_reader **rp)
{
    ckf_alloc a;
    ckf_reader *r;

    if (!out) return -CKF_E_INVAL;
    *out = NULL;
    ckf_i_alloc_init(&a, alloc);
    r = ckf_i_alloc(&a, sizeof(*r));
    if (!r) return -CKF_E_NOMEM;
    memset(r, 0, sizeof(*r));
    r->a = a;
    r->fd = -1;
    *rp = r;
    return 0;
}

static int finish_open(ckf_reader **out, ckf_reader *r)
{
    int rc = open_common(r);
    if (rc) { ckf_reader_close(r); return rc; }
    *out = r;
    return 0;
}

int ckf_reader_open_fd(ckf_reader **out, int fd, const ckf_alloc *alloc)
{
    ckf_reader *r;
    struct stat st;
    int rc;

    if (fd < 0) return -CKF_E_INVAL;
    if ((rc = reader_new(out, alloc, &r))) return rc;
    r->fd = fd;
    if (fstat(fd, &st) < 0) {
        ckf_i_set_errno(errno);
        ckf_reader_close(r);
        return -CKF_E_IO;
    }
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
        off_t end = S_ISREG(st.st_mode) ? st.st_size : lseek(fd, 0, SEEK_END);
        if (end < 0) { ckf_i_set_errno(errno); ckf_reader_close(r); return -CKF_E_IO; }
        r->size = (uint64_t)end;
    } else {
        ckf_reader_close(r);
        return -CKF_E_INVAL;                 /* random access needs a seekable file */
    }
    return finish_open(out, r);
}

int ckf_reader_open_path(ckf_reader **out, const char *path, const ckf_alloc *alloc)
{
    int fd, rc;

    if (!out || !path) return -CKF_E_INVAL;
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { ckf_i_set_errno(errno); return -CKF_E_IO; }
    rc = ckf_reader_open_fd(out, fd, alloc);
    if (rc) { close(fd); return rc; }
    (*out)->own_fd = 1;
    return 0;
}

int ckf_reader_open_mem(ckf_reader **out, const void *data, size_t len,
                        const ckf_alloc *alloc)
{
    ckf_reader *r;
    int rc;

    if (!data && len) return -CKF_E_INVAL;
    if ((rc = reader_new(out, alloc, &r))) return rc;
    r->mem = data ? data : (const uint8_t *)"";
    r->size = len;
    return finish_open(out, r);
}

void ckf_reader_close(ckf_reader *r)
{
    ckf_alloc a;

    if (!r) return;
    if (r->own_fd && r->fd >= 0) close(r->fd);
    if (r->dctx) ZSTD_freeDCtx(r->dctx);
    ckf_i_free(&r->a, r->ents);
    ckf_i_free(&r->a, r->order);
    ckf_i_free(&r->a, r->scratch);
    ckf_i_free(&r->a, r->blk);
    ckf_i_free(&r->a, r->htab);
    a = r->a;
    ckf_i_free(&a, r);
}

/* ---- accessors --------------------------------------------------------------------- */

const ckf_file_header *ckf_reader_header(const ckf_reader *r) { return &r->hdr; }
uint64_t ckf_reader_file_size(const ckf_reader *r) { return r->size; }
size_t ckf_reader_count(const ckf_reader *r) { return r->n; }

const ckf_index_entry *ckf_reader_entry(const ckf_reader *r, size_t i)
{
    return i < r->n ? &r->ents[i] : NULL;
}

long ckf_reader_find(const ckf_reader *r, uint16_t type, size_t from)
{
    size_t i;

    for (i = from; i < r->n; i++)
        if (r->ents[i].type == type) return (long)i;
    return -CKF_E_NOT_FOUND;
}

int ckf_reader_require_known(const ckf_reader *r, size_t *bad_index)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        if ((r->ents[i].type & CKF_CRITICAL) && !ckf_type_known(r->ents[i].type)) {
            if (bad_index) *bad_index = i;
            return -CKF_E_UNKNOWN_CRITICAL;
        }
    }
    return 0;
}

/* A chunk header read from the file against its index entry. */
static int check_entry_header(const ckf_reader *r, const ckf_index_entry *e,
                              const ckf_chunk_header *h)
{
    int rc;

    if ((rc = ckf_i_check_chunk(h, r->hdr.block_size))) return rc;
    if (h->type != e->type || h->codec != e->codec || h->stored_len != e->stored_len ||
        h->raw_len != e->raw_len || h->key != e->key ||
        ckf_i_hash_lo(h->content_hash) != e->content_hash_lo)
        return -CKF_E_BAD_INDEX;
    return 0;
}

int ckf_reader_chunk_header(ckf_reader *r, size_t i, ckf_chunk_header *h)
{
    const ckf_index_entry *e;
    int rc;

    if (!r || !h) return -CKF_E_INVAL;
    if (i >= r->n) return -CKF_E_NOT_FOUND;
    e = &r->ents[i];
    if ((rc = rd(r, e->offset, h, sizeof(*h)))) return rc;
    return check_entry_header(r, e, h);
}

/* ---- decoding ---------------------------------------------------------------------- */

static long read_at(ckf_reader *r, size_t i, void *out, size_t outcap, int depth);

static int check_hash(const void *data, size_t len, const uint8_t want[16])
{
    uint8_t h[16];
    ckf_hash128(data, len, h);
    return memcmp(h, want, 16) ? -CKF_E_CONTENT_HASH : 0;
}

static int hent_cmp_less(const struct hent *a, const struct hent *b) { return a->lo < b->lo; }

static int build_htab(ckf_reader *p)
{
    size_t i, k = 0;

    p->htab = ckf_i_alloc(&p->a, (p->n ? p->n : 1) * sizeof(*p->htab));
    if (!p->htab) return -CKF_E_NOMEM;
    for (i = 0; i < p->n; i++) {
        p->htab[k].lo = p->ents[i].content_hash_lo;
        p->htab[k].idx = i;
        k++;
    }
    p->nh = k;
    /* heap sort by hash (no allocation) */
    for (i = k / 2; i-- > 0;) {
        size_t root = i;
        for (;;) {
            size_t c = 2 * root + 1;
            struct hent t;
            if (c >= k) break;
            if (c + 1 < k && hent_cmp_less(&p->htab[c], &p->htab[c + 1])) c++;
            if (!hent_cmp_less(&p->htab[root], &p->htab[c])) break;
            t = p->htab[root]; p->htab[root] = p->htab[c]; p->htab[c] = t;
            root = c;
        }
    }
    for (i = k; i-- > 1;) {
        struct hent t = p->htab[0];
        size_t root = 0;
        p->htab[0] = p->htab[i]; p->htab[i] = t;
        for (;;) {
            size_t c = 2 * root + 1;
            if (c >= i) break;
            if (c + 1 < i && hent_cmp_less(&p->htab[c], &p->htab[c + 1])) c++;
            if (!hent_cmp_less(&p->htab[root], &p->htab[c])) break;
            t = p->htab[root]; p->htab[root] = p->htab[c]; p->htab[c] = t;
            root = c;
        }
    }
    return 0;
}

/* Content-addressed lookup in the parent chain. */
static long read_parent(ckf_reader *r, const ckf_chunk_header *h, void *out, int depth)
{
    ckf_reader *p = r->parent;
    uint64_t lo = ckf_i_hash_lo(h->content_hash);
    size_t a = 0, b, i;
    int rc;

    if (!p) return -CKF_E_PARENT;
    if (depth >= CKF_MAX_DEPTH) return -CKF_E_PARENT;
    if (!p->htab && (rc = build_htab(p))) return rc;
    b = p->nh;
    while (a < b) {                        /* first entry with hash >= lo */
        size_t m = a + (b - a) / 2;
        if (p->htab[m].lo < lo) a = m + 1; else b = m;
    }
    for (i = a; i < p->nh && p->htab[i].lo == lo; i++) {
        const ckf_index_entry *e = &p->ents[p->htab[i].idx];
        ckf_chunk_header ph;
        if (e->raw_len != h->raw_len) continue;
        if ((rc = ckf_reader_chunk_header(p, p->htab[i].idx, &ph))) return rc;
        if (memcmp(ph.content_hash, h->content_hash, 16)) continue;
        /* the parent verifies its own content hash, which is ours */
        return read_at(p, p->htab[i].idx, out, (size_t)h->raw_len, depth + 1);
    }
    return -CKF_E_PARENT;
}

/* Hash of raw_len zero bytes without touching memory that large: streamed
 * from a small static buffer, and cached for the common full block. */
static void zero_hash(ckf_reader *r, uint64_t len, uint8_t out[16])
{
    static const uint8_t zeros[4096];
    XXH3_state_t st;
    XXH128_canonical_t c;
    int full = len == r->hdr.block_size;

    if (full && r->zero_hash_ok) { memcpy(out, r->zero_hash, 16); return; }
    XXH3_128bits_reset(&st);
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < sizeof(zeros) ? (size_t)(len - done) : sizeof(zeros);
        XXH3_128bits_update(&st, zeros, n);
        done += n;
    }
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
    memcpy(out, c.digest, 16);
    if (full) { memcpy(r->zero_hash, out, 16); r->zero_hash_ok = 1; }
}

/* Where a payload is read to: a buffer in which it lands at the same offset
 * within a page as in the file.  The kernel's copy out of the page cache then
 * runs source and destination in step (about 10 % faster here than into a
 * buffer that is merely 16-byte aligned). */
static int read_chunk(ckf_reader *r, const ckf_index_entry *e, ckf_chunk_header *h,
                      const uint8_t **pl)
{
    size_t len = CKF_CHUNK_HDR_SIZE + (size_t)e->stored_len;
    uint8_t *p;
    int rc;

    if (r->mem) {                          /* the image is in memory: nothing to copy */
        if ((rc = rd(r, e->offset, h, sizeof(*h)))) return rc;
        if ((rc = check_entry_header(r, e, h))) return rc;
        *pl = r->mem + e->offset + CKF_CHUNK_HDR_SIZE;
        return 0;
    }
    if ((rc = grow(r, &r->scratch, &r->scap, len + 8192))) return rc;
    p = (uint8_t *)(((uintptr_t)r->scratch + 4095) & ~(uintptr_t)4095);
    p += e->offset & 4095;
    if ((rc = rd(r, e->offset, p, len))) return rc;   /* header and payload at once */
    memcpy(h, p, sizeof(*h));
    if ((rc = check_entry_header(r, e, h))) return rc;
    *pl = p + CKF_CHUNK_HDR_SIZE;
    return 0;
}

/* Codecs whose payload carries payload_checksum (FORMAT.md §9.1). */
static int checksummed(uint8_t codec) { return codec == CKF_C_ZSTD || codec == CKF_C_ZPAGES; }

/* Codec ZPAGES: decompresses the non-zero pages to the front of out, then
 * moves each to its place, last first (a page only moves up), zeroing the
 * pages between them. */
static int decode_zpages(ckf_reader *r, const uint8_t *pl, size_t st, uint8_t *out, size_t raw)
{
    uint64_t bits[CKF_MAX_BLOCK / CKF_ZP_PAGE / 64];
    size_t np = raw / CKF_ZP_PAGE, bm = ckf_i_zp_bitmap(raw), k = 0, n;
    if (raw > CKF_MAX_BLOCK) return -CKF_E_BAD_LENGTH;
    memcpy(bits, pl, bm);
    for (size_t w = 0; w < bm / 8; w++) k += (size_t)__builtin_popcountll(bits[w]);
    if (np % 64 && bits[np / 64] >> (np % 64)) return -CKF_E_DECOMPRESS;   /* pages past the end */
    if (!r->dctx && !(r->dctx = ZSTD_createDCtx_advanced(ckf_i_zmem(&r->a)))) return -CKF_E_NOMEM;
    n = ZSTD_decompressDCtx(r->dctx, out, k * CKF_ZP_PAGE, pl + bm, st - bm);
    if (ZSTD_isError(n) || n != k * CKF_ZP_PAGE) return -CKF_E_DECOMPRESS;
    for (size_t i = np; i-- > 0;) {
        uint8_t *dst = out + i * CKF_ZP_PAGE;
        if ((bits[i / 64] >> (i % 64)) & 1) {
            k--;
            if (k != i) memcpy(dst, out + k * CKF_ZP_PAGE, CKF_ZP_PAGE);   /* k < i: no overlap */
        } else {
            memset(dst, 0, CKF_ZP_PAGE);
        }
    }
    return 0;
}

/* Decodes the chunk whose header is h and payload starts at file offset off.
 * pl: the payload already in memory, or NULL to read it from off.
 * out == NULL: verify only; a ZERO chunk then needs no buffer at all and a
 * payload in memory is checked where it lies. */
static long decode(ckf_reader *r, const ckf_chunk_header *h, uint64_t off, const uint8_t *pl,
                   void *out, int depth)
{
    size_t raw = (size_t)h->raw_len, st = (size_t)h->stored_len;
    int rc;

    /* verifying a payload that must be decoded, or read, first */
    if (!out && (checksummed(h->codec) || (h->codec == CKF_C_STORED && !pl))) {
        if ((rc = grow(r, &r->blk, &r->bcap, raw))) return rc;
        out = r->blk;
    }
    /* a compressed payload: in memory, and its checksum right, before decoding */
    if (checksummed(h->codec)) {
        if (!pl) {
            if ((rc = grow(r, &r->scratch, &r->scap, st))) return rc;
            if ((rc = rd(r, off, r->scratch, st))) return rc;
            pl = r->scratch;
        }
        if (ckf_hash64(pl, st) != h->payload_checksum) return -CKF_E_PAYLOAD_CHECKSUM;
    }
    switch (h->codec) {
    case CKF_C_STORED:
        /* the payload is the content; payload_checksum is not used (FORMAT.md §9.1) */
        if (!out) return (rc = check_hash(pl, raw, h->content_hash)) ? rc : (long)raw;
        if (pl) memcpy(out, pl, st);
        else if ((rc = rd(r, off, out, st))) return rc;
        break;
    case CKF_C_ZSTD: {
        size_t n;
        if (!r->dctx && !(r->dctx = ZSTD_createDCtx_advanced(ckf_i_zmem(&r->a))))
            return -CKF_E_NOMEM;
        n = ZSTD_decompressDCtx(r->dctx, out, raw, pl, st);
        if (ZSTD_isError(n) || n != raw) return -CKF_E_DECOMPRESS;
        break;
    }
    case CKF_C_ZPAGES:
        if ((rc = decode_zpages(r, pl, st, out, raw))) return rc;
        break;
    case CKF_C_ZERO: {
        /* the zeros are ours: checking the recorded hash is checking the header */
        uint8_t zh[16];
        zero_hash(r, raw, zh);
        if (memcmp(zh, h->content_hash, 16)) return -CKF_E_CONTENT_HASH;
        if (out) memset(out, 0, raw);
        return (long)raw;
    }
    case CKF_C_PARENT:
        return read_parent(r, h, out, depth);
    default:
        return -CKF_E_UNKNOWN_CODEC;
    }
    if ((rc = check_hash(out, raw, h->content_hash))) return rc;
    return (long)raw;
}

/* out == NULL: verify only.  A STORED chunk read into the caller's buffer is
 * read straight into it; one to verify, and every compressed chunk, is read
 * with its header in a single call. */
static long read_at(ckf_reader *r, size_t i, void *out, size_t outcap, int depth)
{
    const ckf_index_entry *e;
    ckf_chunk_header h;
    const uint8_t *pl = NULL;
    int rc;

    if (i >= r->n) return -CKF_E_NOT_FOUND;
    e = &r->ents[i];
    if (outcap < e->raw_len) return -CKF_E_INVAL;
    if (checksummed(e->codec) || (e->codec == CKF_C_STORED && (!out || r->mem)))
        rc = read_chunk(r, e, &h, &pl);
    else
        rc = ckf_reader_chunk_header(r, i, &h);
    if (rc) return rc;
    return decode(r, &h, e->offset + CKF_CHUNK_HDR_SIZE, pl, out, depth);
}

long ckf_reader_read(ckf_reader *r, size_t i, void *out, size_t outcap)
{
    if (!r || (!out && outcap)) return -CKF_E_INVAL;
    if (i < r->n && !out && r->ents[i].raw_len) return -CKF_E_INVAL;
    return read_at(r, i, out, outcap, 0);
}

long ckf_reader_read_alloc(ckf_reader *r, size_t i, void **out)
{
    void *buf;
    long n;

    if (!r || !out) return -CKF_E_INVAL;
    *out = NULL;
    if (i >= r->n) return -CKF_E_NOT_FOUND;
    /* raw_len was bounded when the index was loaded (block_size / CKF_MAX_META) */
    buf = ckf_i_alloc(&r->a, (size_t)r->ents[i].raw_len);
    if (!buf) return -CKF_E_NOMEM;
    n = read_at(r, i, buf, (size_t)r->ents[i].raw_len, 0);
    if (n < 0) { ckf_i_free(&r->a, buf); return n; }
    *out = buf;
    return n;
}

void ckf_reader_free_buf(ckf_reader *r, void *buf)
{
    if (r) ckf_i_free(&r->a, buf);
}

int ckf_reader_set_parent(ckf_reader *r, ckf_reader *parent)
{
    if (!r || parent == r) return -CKF_E_INVAL;
    if (!parent) { r->parent = NULL; return 0; }
    if (ckf_is_zero(r->hdr.parent_id, 16)) return -CKF_E_STATE;
    if (memcmp(parent->hdr.id, r->hdr.parent_id, 16)) return -CKF_E_PARENT;
    r->parent = parent;
    return 0;
}

/* ---- address ranges ---------------------------------------------------------------- */

/* Position in the address table of the first block that ends after addr. */
static size_t first_block(const ckf_reader *r, uint64_t addr)
{
    size_t a = 0, b = r->norder;

    while (a < b) {
        size_t m = a + (b - a) / 2;
        const ckf_index_entry *e = &r->ents[r->order[m]];
        if (e->key + e->raw_len <= addr) a = m + 1; else b = m;
    }
    return a;
}

int ckf_reader_blocks_in_range(ckf_reader *r, uint64_t addr, uint64_t len,
                               ckf_block_cb cb, void *arg)
{
    uint64_t end;
    size_t k;

    if (!r || !cb) return -CKF_E_INVAL;
    end = addr + len < addr ? UINT64_MAX : addr + len;
    for (k = first_block(r, addr); k < r->norder; k++) {
        const ckf_index_entry *e = &r->ents[r->order[k]];
        int rc;
        if (e->key >= end) break;
        if ((rc = cb(arg, r->order[k], e))) return rc;
    }
    return 0;
}

int ckf_reader_read_range(ckf_reader *r, uint64_t addr, uint64_t len, void *out)
{
    uint8_t *o = out;
    uint64_t end, cur = addr;
    size_t k;
    long n;
    int rc;

    if (!r || (!out && len)) return -CKF_E_INVAL;
    if (addr + len < addr || len > SIZE_MAX) return -CKF_E_INVAL;
    end = addr + len;
    for (k = first_block(r, addr); k < r->norder && cur < end; k++) {
        size_t i = r->order[k];
        const ckf_index_entry *e = &r->ents[i];
        uint64_t bend = e->key + e->raw_len, from, to;
        if (e->key >= end) break;
        from = e->key > addr ? e->key : addr;
        to = bend < end ? bend : end;
        if (from > cur) memset(o + (cur - addr), 0, (size_t)(from - cur));
        if (from == e->key && to == bend) {
            n = read_at(r, i, o + (e->key - addr), (size_t)e->raw_len, 0);
        } else {
            if ((rc = grow(r, &r->blk, &r->bcap, r->hdr.block_size))) return rc;
            n = read_at(r, i, r->blk, r->bcap, 0);
            if (n >= 0) memcpy(o + (from - addr), r->blk + (from - e->key), (size_t)(to - from));
        }
        if (n < 0) return (int)n;
        cur = to;
    }
    if (cur < end) memset(o + (cur - addr), 0, (size_t)(end - cur));
    return 0;
}

/* ---- verify ------------------------------------------------------------------------ */

int ckf_reader_verify(ckf_reader *r, size_t *bad_index, ckf_progress_cb progress, void *arg)
{
    size_t i;

    if (!r) return -CKF_E_INVAL;
    for (i = 0; i < r->n; i++) {
        const ckf_index_entry *e = &r->ents[i];
        long n;
        if (e->codec == CKF_C_PARENT && !r->parent) {
            /* nothing stored here; the header alone can be checked */
            ckf_chunk_header h;
            n = ckf_reader_chunk_header(r, i, &h);
        } else {
            n = read_at(r, i, NULL, (size_t)e->raw_len, 0);
        }
        if (n < 0) {
            if (bad_index) *bad_index = i;
            return (int)n;
        }
        if (progress)
            progress(arg, e->offset + CKF_CHUNK_HDR_SIZE + e->stored_len, r->size);
    }
    if (progress) progress(arg, r->size, r->size);
    return ckf_reader_require_known(r, bad_index);
}

/* ---- recovery scan (FORMAT.md §12) ------------------------------------------------- */

static long scan(ckf_reader *r, ckf_scan_cb cb, void *arg, uint64_t *end)
{
    uint64_t off = CKF_HEADER_SIZE;
    long n = 0;
    int rc;

    if (end) *end = 0;
    if ((rc = read_file_header(r))) return rc;
    if (end) *end = off;
    while (off <= r->size && r->size - off >= CKF_CHUNK_HDR_SIZE) {
        ckf_chunk_header h;
        long got;
        if (rd(r, off, &h, sizeof(h)) || h.type == CKF_T_INDEX) break;
        if (ckf_i_check_chunk(&h, r->hdr.block_size)) break;
        if (h.stored_len > r->size - off - CKF_CHUNK_HDR_SIZE) break;
        if (h.codec == CKF_C_PARENT) {
            got = 0;                       /* nothing stored: the header is all there is */
        } else if (h.codec == CKF_C_ZERO) {
            got = decode(r, &h, off + CKF_CHUNK_HDR_SIZE, NULL, NULL, 0);
        } else if ((rc = grow(r, &r->blk, &r->bcap, (size_t)h.raw_len))) {
            return rc;
        } else {
            got = decode(r, &h, off + CKF_CHUNK_HDR_SIZE, NULL, r->blk, 0);
        }
        if (got < 0) break;
        if (cb && (rc = cb(arg, off, &h))) return rc;
        n++;
        off += CKF_CHUNK_HDR_SIZE + h.stored_len;
        if (end) *end = off;
    }
    return n;
}

long ckf_scan_mem(const void *data, size_t len, const ckf_alloc *alloc, ckf_scan_cb cb,
                  void *arg, uint64_t *end)
{
    ckf_reader *r;
    long n;
    int rc;

    if (!data && len) return -CKF_E_INVAL;
    if ((rc = reader_new(&r, alloc, &r))) return rc;
    r->mem = data ? data : (const uint8_t *)"";
    r->size = len;
    n = scan(r, cb, arg, end);
    ckf_reader_close(r);
    return n;
}

long ckf_scan_fd(int fd, const ckf_alloc *alloc, ckf_scan_cb cb, void *arg, uint64_t *end)
{
    ckf_reader *r;
    struct stat st;
    long n;
    int rc;

    if (fd < 0) return -CKF_E_INVAL;
    if (fstat(fd, &st) < 0) { ckf_i_set_errno(errno); return -CKF_E_IO; }
    if (!S_ISREG(st.st_mode)) return -CKF_E_INVAL;
    if ((rc = reader_new(&r, alloc, &r))) return rc;
    r->fd = fd;
    r->size = (uint64_t)st.st_size;
    n = scan(r, cb, arg, end);
    ckf_reader_close(r);
    return n;
}
