/*
 * ckf_common.c - pieces shared by writer and reader: the error list, the
 * allocator shim, hashing, zero detection, chunk-header checks and the block
 * encoder (which is also the public thread-safe ckf_encode_block).
 *
 * Nothing here takes a lock or calls malloc except through the caller's
 * ckf_alloc, so all of it may run in a raw-fork()ed child.
 */
#include "format/ckf_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- errors ------------------------------------------------------------------------ */

/* Frozen: numbers and names never change meaning (FORMAT.md §9). */
static const char *const err_msg[CKF_E_LAST] = {
    [CKF_OK]                 = "success",
    [CKF_E_IO]               = "read or write failed",
    [CKF_E_NOMEM]            = "out of memory",
    [CKF_E_BAD_MAGIC]        = "not a ckpt checkpoint file (bad magic)",
    [CKF_E_VERSION]          = "unsupported format major version",
    [CKF_E_TRUNCATED]        = "file is truncated (footer missing or file too short)",
    [CKF_E_HDR_CHECKSUM]     = "header checksum mismatch",
    [CKF_E_PAYLOAD_CHECKSUM] = "payload checksum mismatch",
    [CKF_E_CONTENT_HASH]     = "decoded content does not match its content hash",
    [CKF_E_BAD_LENGTH]       = "length or offset out of bounds",
    [CKF_E_BAD_INDEX]        = "index inconsistent with the chunks",
    [CKF_E_COMPRESS]         = "compression failed",
    [CKF_E_DECOMPRESS]       = "decompression failed or size mismatch",
    [CKF_E_UNKNOWN_CODEC]    = "unknown codec",
    [CKF_E_UNKNOWN_CRITICAL] = "unknown critical chunk type",
    [CKF_E_INVAL]            = "invalid argument",
    [CKF_E_NOT_FOUND]        = "not found",
    [CKF_E_PARENT]           = "block refers to a parent checkpoint that is not available",
    [CKF_E_STATE]            = "call not valid in this state",
    [CKF_E_BAD_CHUNK]        = "malformed chunk header",
};
static const char *const err_name[CKF_E_LAST] = {
    [CKF_OK] = "CKF_OK", [CKF_E_IO] = "CKF_E_IO", [CKF_E_NOMEM] = "CKF_E_NOMEM",
    [CKF_E_BAD_MAGIC] = "CKF_E_BAD_MAGIC", [CKF_E_VERSION] = "CKF_E_VERSION",
    [CKF_E_TRUNCATED] = "CKF_E_TRUNCATED", [CKF_E_HDR_CHECKSUM] = "CKF_E_HDR_CHECKSUM",
    [CKF_E_PAYLOAD_CHECKSUM] = "CKF_E_PAYLOAD_CHECKSUM",
    [CKF_E_CONTENT_HASH] = "CKF_E_CONTENT_HASH", [CKF_E_BAD_LENGTH] = "CKF_E_BAD_LENGTH",
    [CKF_E_BAD_INDEX] = "CKF_E_BAD_INDEX", [CKF_E_COMPRESS] = "CKF_E_COMPRESS",
    [CKF_E_DECOMPRESS] = "CKF_E_DECOMPRESS", [CKF_E_UNKNOWN_CODEC] = "CKF_E_UNKNOWN_CODEC",
    [CKF_E_UNKNOWN_CRITICAL] = "CKF_E_UNKNOWN_CRITICAL", [CKF_E_INVAL] = "CKF_E_INVAL",
    [CKF_E_NOT_FOUND] = "CKF_E_NOT_FOUND", [CKF_E_PARENT] = "CKF_E_PARENT",
    [CKF_E_STATE] = "CKF_E_STATE", [CKF_E_BAD_CHUNK] = "CKF_E_BAD_CHUNK",
};

const char *ckf_strerror(int err)
{
    if (err < 0) err = -err;
    if (err >= CKF_E_LAST) return "unknown error";
    return err_msg[err];
}

const char *ckf_errname(int err)
{
    if (err < 0) err = -err;
    if (err >= CKF_E_LAST) return "CKF_E_?";
    return err_name[err];
}

static __thread int last_errno;
int ckf_last_errno(void) { return last_errno; }
void ckf_i_set_errno(int e) { last_errno = e; }

/* ---- allocator --------------------------------------------------------------------- */

static void *std_alloc(void *opaque, size_t n) { (void)opaque; return malloc(n); }
static void std_free(void *opaque, void *p) { (void)opaque; free(p); }

void ckf_i_alloc_init(ckf_alloc *dst, const ckf_alloc *src)
{
    if (src && src->alloc && src->free) { *dst = *src; return; }
    dst->alloc = std_alloc;
    dst->free = std_free;
    dst->opaque = NULL;
}

void *ckf_i_alloc(const ckf_alloc *a, size_t n) { return a->alloc(a->opaque, n ? n : 1); }

void ckf_i_free(const ckf_alloc *a, void *p)
{
    if (p) a->free(a->opaque, p);
}

/* zstd's allocator callbacks have ckf_alloc's shape already. */
ZSTD_customMem ckf_i_zmem(const ckf_alloc *a)
{
    ZSTD_customMem m = { a->alloc, a->free, a->opaque };
    return m;
}

/* ---- hashing and zero detection ---------------------------------------------------- */

/* Which build of XXH3 may run here: 0 the library's, 2 AVX2 (the compiler's
 * CPU check includes the kernel's support for the wider registers).  Computed
 * once; a benign race (every thread computes the same value), no lock, no
 * allocation, no getenv (a forked writer may not have the program's
 * environment mapped).  AVX-512 (XXH_VECTOR 3) hashes in-cache data 1.35x
 * faster here, but not a block just copied out of the page cache: not worth a
 * third build. */
static int hash_vec = -1;

static int hash_vector(void)
{
#if defined(__x86_64__)
    if (hash_vec < 0) {
        __builtin_cpu_init();
        hash_vec = __builtin_cpu_supports("avx2") ? 2 : 0;
    }
    return hash_vec;
#else
    return 0;
#endif
}

int ckf_i_hash_use(int vec)
{
    int avail;
    hash_vec = -1;
    avail = hash_vector();
    if (vec < avail) hash_vec = vec;
    return hash_vec;
}

/* Below this size the call overhead dominates and both builds are alike. */
#define VEC_MIN 1024

void ckf_hash128(const void *data, size_t len, uint8_t out[16])
{
    XXH128_canonical_t c;

    if (len >= VEC_MIN && hash_vector() == 2) { ckf_i_xxh128_avx2(data, len, out); return; }
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    memcpy(out, c.digest, 16);
}

uint64_t ckf_hash64(const void *data, size_t len)
{
    if (len >= VEC_MIN && hash_vector() == 2) return ckf_i_xxh64_avx2(data, len);
    return XXH3_64bits(data, len);
}

uint64_t ckf_i_hash_lo(const uint8_t h[16])
{
    uint64_t v;
    memcpy(&v, h, 8);
    return v;
}

/*
 * Most pages of a checkpoint are either all zero or non-zero in their first
 * bytes, so the first 64 bytes are checked alone for an early exit; then
 * 256-byte strides are OR-ed together in vector registers and tested once per
 * stride, which keeps the loop at memory bandwidth.
 */
int ckf_is_zero(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t acc = 0, w;
    size_t i = 0;

    if (len < 64) {
        for (; i + 8 <= len; i += 8) { memcpy(&w, p + i, 8); acc |= w; }
        for (; i < len; i++) acc |= p[i];
        return acc == 0;
    }
    for (; i < 64; i += 8) { memcpy(&w, p + i, 8); acc |= w; }
    if (acc) return 0;
#ifdef __SSE2__
    for (; i + 256 <= len; i += 256) {
        const __m128i *v = (const __m128i *)(const void *)(p + i);
        __m128i a0 = _mm_loadu_si128(v + 0), a1 = _mm_loadu_si128(v + 1);
        __m128i a2 = _mm_loadu_si128(v + 2), a3 = _mm_loadu_si128(v + 3);
        a0 = _mm_or_si128(a0, _mm_loadu_si128(v + 4));
        a1 = _mm_or_si128(a1, _mm_loadu_si128(v + 5));
        a2 = _mm_or_si128(a2, _mm_loadu_si128(v + 6));
        a3 = _mm_or_si128(a3, _mm_loadu_si128(v + 7));
        a0 = _mm_or_si128(a0, _mm_loadu_si128(v + 8));
        a1 = _mm_or_si128(a1, _mm_loadu_si128(v + 9));
        a2 = _mm_or_si128(a2, _mm_loadu_si128(v + 10));
        a3 = _mm_or_si128(a3, _mm_loadu_si128(v + 11));
        a0 = _mm_or_si128(a0, _mm_loadu_si128(v + 12));
        a1 = _mm_or_si128(a1, _mm_loadu_si128(v + 13));
        a2 = _mm_or_si128(a2, _mm_loadu_si128(v + 14));
        a3 = _mm_or_si128(a3, _mm_loadu_si128(v + 15));
        a0 = _mm_or_si128(_mm_or_si128(a0, a1), _mm_or_si128(a2, a3));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(a0, _mm_setzero_si128())) != 0xffff)
            return 0;
    }
#endif
    for (; i + 64 <= len; i += 64) {
        uint64_t x[8];
        memcpy(x, p + i, 64);
        if (x[0] | x[1] | x[2] | x[3] | x[4] | x[5] | x[6] | x[7]) return 0;
    }
    for (; i + 8 <= len; i += 8) { memcpy(&w, p + i, 8); acc |= w; }
    for (; i < len; i++) acc |= p[i];
    return acc == 0;
}

/* ---- chunk headers ----------------------------------------------------------------- */

void ckf_i_seal_chunk(ckf_chunk_header *h)
{
    h->hdr_checksum = XXH3_64bits(h, CKF_HDR_SUMMED);
}

int ckf_i_block_size_ok(uint32_t bs)
{
    return bs >= CKF_MIN_BLOCK && bs <= CKF_MAX_BLOCK && (bs & (bs - 1)) == 0;
}

int ckf_type_known(uint16_t type)
{
    switch (type) {
    case CKF_T_PROCESS: case CKF_T_VMAS: case CKF_T_MEMBLK: case CKF_T_THREAD:
    case CKF_T_FILES: case CKF_T_SIGNALS: case CKF_T_TIMERS: case CKF_T_RLIMITS:
    case CKF_T_FILEIDS: case CKF_T_CUDA: case CKF_T_REGION: case CKF_T_LENS:
    case CKF_T_NOTE: case CKF_T_CUDA_DATA: case CKF_T_FILE_DATA: case CKF_T_FDINFO: case CKF_T_INDEX:
        return 1;
    default:
        return 0;
    }
}

/*
 * These limits are what keeps a hostile file from making a reader allocate
 * without bound: a MEMBLK never exceeds block_size raw bytes, any other chunk
 * never exceeds CKF_MAX_META, and a zstd payload is always smaller than its raw
 * content (a block that does not shrink is stored), so no buffer sized from a
 * header can exceed those caps.
 */
int ckf_i_check_fields(uint16_t type, uint8_t codec, uint8_t flags, uint64_t stored_len,
                       uint64_t raw_len, uint64_t key, uint32_t block_size)
{
    if (flags != 0) return -CKF_E_BAD_CHUNK;
    if (type == 0 || type == CKF_CRITICAL) return -CKF_E_BAD_CHUNK;   /* never allocated */
    if (type == CKF_T_INDEX) return -CKF_E_BAD_INDEX;
    switch (codec) {
    case CKF_C_STORED:
        if (stored_len != raw_len) return -CKF_E_BAD_LENGTH;
        break;
    case CKF_C_ZSTD:
        if (stored_len == 0 || stored_len >= raw_len) return -CKF_E_BAD_LENGTH;
        break;
    case CKF_C_ZERO:
    case CKF_C_PARENT:
        if (stored_len != 0) return -CKF_E_BAD_LENGTH;
        break;
    case CKF_C_ZPAGES:
        if (raw_len == 0 || raw_len % CKF_ZP_PAGE) return -CKF_E_BAD_LENGTH;
        if (stored_len <= ckf_i_zp_bitmap(raw_len) || stored_len >= raw_len) return -CKF_E_BAD_LENGTH;
        break;
    default:
        return -CKF_E_UNKNOWN_CODEC;
    }
    if (type == CKF_T_MEMBLK) {
        if (raw_len == 0 || raw_len > block_size) return -CKF_E_BAD_LENGTH;
        if (key + raw_len < key) return -CKF_E_BAD_LENGTH;
        /* a block never straddles a block_size-aligned boundary */
        if (key / block_size != (key + raw_len - 1) / block_size) return -CKF_E_BAD_LENGTH;
    } else if (raw_len > CKF_MAX_META) {
        return -CKF_E_BAD_LENGTH;
    }
    return 0;
}

int ckf_i_check_chunk(const ckf_chunk_header *h, uint32_t block_size)
{
    if (h->magic != CKF_CHUNK_MAGIC) return -CKF_E_BAD_CHUNK;
    if (XXH3_64bits(h, CKF_HDR_SUMMED) != h->hdr_checksum) return -CKF_E_HDR_CHECKSUM;
    if (h->stored_len == 0 && h->payload_checksum != 0) return -CKF_E_BAD_CHUNK;
    return ckf_i_check_fields(h->type, h->codec, h->flags, h->stored_len, h->raw_len,
                              h->key, block_size);
}

/* ---- encoder ----------------------------------------------------------------------- */

int ckf_cctx_new(ckf_cctx **out, int level, const ckf_alloc *alloc)
{
    ckf_alloc a;
    ckf_cctx *c;

    if (!out) return -CKF_E_INVAL;
    *out = NULL;
    ckf_i_alloc_init(&a, alloc);
    if (level != 0 && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()))
        return -CKF_E_INVAL;
    c = ckf_i_alloc(&a, sizeof(*c));
    if (!c) return -CKF_E_NOMEM;
    memset(c, 0, sizeof(*c));
    c->a = a;
    c->level = level;
    if (level != 0) {
        c->z = ZSTD_createCCtx_advanced(ckf_i_zmem(&a));
        if (!c->z) { ckf_i_free(&a, c); return -CKF_E_NOMEM; }
    }
    *out = c;
    return 0;
}

void ckf_cctx_free(ckf_cctx *c)
{
    if (!c) return;
    if (c->z) ZSTD_freeCCtx(c->z);
    ckf_i_free(&c->a, c->pages);
    ckf_i_free(&c->a, c);
}

size_t ckf_block_bound(size_t len)
{
    size_t b = ZSTD_compressBound(len);
    return b > len ? b : len;
}

void ckf_i_encode_zero(uint16_t type, uint64_t key, const void *data, size_t len,
                       ckf_chunk_header *hdr, const uint8_t *zero_hash, size_t zero_len)
{
    memset(hdr, 0, sizeof(*hdr));
    hdr->magic = CKF_CHUNK_MAGIC;
    hdr->type = type;
    hdr->raw_len = len;
    hdr->key = key;
    hdr->codec = CKF_C_ZERO;
    if (zero_hash && len == zero_len) memcpy(hdr->content_hash, zero_hash, 16);
    else ckf_hash128(data, len, hdr->content_hash);
    ckf_i_seal_chunk(hdr);
}

/* Codec ZPAGES: a block of whole pages, some of them zero, is compressed as
 * its non-zero pages only (gathered into c->pages) behind a bitmap that says
 * where they go.  Zero pages then cost neither compression nor decompression
 * time, and a reader can leave them untouched.  Returns 1 when hdr and out
 * hold the encoded chunk, 0 when the codec does not apply or does not make
 * the block smaller than raw_len, or a ckf error. */
static int encode_zpages(ckf_cctx *c, const uint8_t *data, size_t len, ckf_chunk_header *hdr,
                         uint8_t *out, size_t outcap)
{
    uint64_t bits[CKF_MAX_BLOCK / CKF_ZP_PAGE / 64];
    size_t np = len / CKF_ZP_PAGE, bm = ckf_i_zp_bitmap(len), nz = 0;
    if (len % CKF_ZP_PAGE || np < 2 || len > CKF_MAX_BLOCK) return 0;
    memset(bits, 0, bm);
    for (size_t i = 0; i < np; i++)
        if (!ckf_is_zero(data + i * CKF_ZP_PAGE, CKF_ZP_PAGE)) { bits[i / 64] |= 1ull << (i % 64); nz++; }
    if (nz == np || nz == 0) return 0;
    if (c->pages_cap < nz * CKF_ZP_PAGE) {
        ckf_i_free(&c->a, c->pages);
        c->pages_cap = 0;
        if (!(c->pages = ckf_i_alloc(&c->a, len))) return 0;   /* plain ZSTD then */
        c->pages_cap = len;
    }
    /* gather runs of non-zero pages */
    size_t k = 0;
    for (size_t i = 0; i < np;) {
        if (!((bits[i / 64] >> (i % 64)) & 1)) { i++; continue; }
        size_t j = i + 1;
        while (j < np && ((bits[j / 64] >> (j % 64)) & 1)) j++;
        memcpy(c->pages + k, data + i * CKF_ZP_PAGE, (j - i) * CKF_ZP_PAGE);
        k += (j - i) * CKF_ZP_PAGE;
        i = j;
    }
    size_t cap = outcap < len - 1 ? outcap : len - 1;
    if (cap <= bm) return 0;
    size_t n = ZSTD_compressCCtx(c->z, out + bm, cap - bm, c->pages, k, c->level);
    if (ZSTD_isError(n)) return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ? 0 : -CKF_E_COMPRESS;
    memcpy(out, bits, bm);
    hdr->codec = CKF_C_ZPAGES;
    hdr->stored_len = bm + n;
    hdr->payload_checksum = ckf_hash64(out, bm + n);
    return 1;
}

int ckf_i_encode(ckf_cctx *c, uint16_t type, uint64_t key, const void *data, size_t len,
                 ckf_chunk_header *hdr, void *out, size_t outcap, int copy_stored,
                 const void **payload, const uint8_t *zero_hash, size_t zero_len)
{
    *payload = NULL;
    if (len > 0 && ckf_is_zero(data, len)) {
        ckf_i_encode_zero(type, key, data, len, hdr, zero_hash, zero_len);
        return 0;
    }
    memset(hdr, 0, sizeof(*hdr));
    hdr->magic = CKF_CHUNK_MAGIC;
    hdr->type = type;
    hdr->raw_len = len;
    hdr->key = key;
    ckf_hash128(data, len, hdr->content_hash);
    if (c && c->z && type == CKF_T_MEMBLK) {
        int r = encode_zpages(c, data, len, hdr, out, outcap);
        if (r < 0) return r;
        if (r) {
            *payload = out;
            ckf_i_seal_chunk(hdr);
            return 0;
        }
    }
    if (c && c->z && len > 0) {
        size_t n = ZSTD_compressCCtx(c->z, out, outcap, data, len, c->level);
        /* An error here can only be "dst too small" when the block does not
         * shrink enough; anything else is a real failure. */
        if (ZSTD_isError(n) && ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall)
            return -CKF_E_COMPRESS;
        if (!ZSTD_isError(n) && n < len) {
            hdr->codec = CKF_C_ZSTD;
            hdr->stored_len = n;
            hdr->payload_checksum = ckf_hash64(out, n);
            *payload = out;
            ckf_i_seal_chunk(hdr);
            return 0;
        }
    }
    /* A stored payload is the content: its content hash covers it, so it gets
     * no second checksum (payload_checksum 0, one hash pass per block). */
    hdr->codec = CKF_C_STORED;
    hdr->stored_len = len;
    if (copy_stored) {
        if (outcap < len) return -CKF_E_INVAL;
        if (len) memcpy(out, data, len);
        *payload = out;
    } else {
        *payload = data;
    }
    ckf_i_seal_chunk(hdr);
    return 0;
}

int ckf_encode_block(ckf_cctx *c, uint16_t type, uint64_t key, const void *data,
                     size_t len, ckf_chunk_header *hdr, void *out, size_t outcap)
{
    const void *pl;

    if (!c || !hdr || (len && !data) || type == CKF_T_INDEX) return -CKF_E_INVAL;
    if (outcap < len) return -CKF_E_INVAL;
    if (type == CKF_T_MEMBLK ? len > CKF_MAX_BLOCK || len == 0 : len > CKF_MAX_META)
        return -CKF_E_INVAL;
    return ckf_i_encode(c, type, key, data, len, hdr, out, outcap, 1, &pl, NULL, 0);
}
