/*
 * ckf_int.h - internals shared by the container writer and reader (not installed).
 *
 * The on-disk structures in ckf.h are written and read as they lie in memory:
 * the format is little-endian and ckpt only runs on x86-64, so a byte-order
 * conversion would be a no-op.  The #error below keeps a big-endian port from
 * silently writing a different format.
 */
#ifndef CKF_INT_H
#define CKF_INT_H

#include "format/ckf.h"

#define ZSTD_STATIC_LINKING_ONLY   /* ZSTD_createCCtx_advanced: custom allocator */
#include <zstd.h>
#include <zstd_errors.h>
#define XXH_STATIC_LINKING_ONLY    /* XXH3_state_t on the stack: no allocation */
#include <xxhash.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ckf writes its little-endian structures directly: port the encoders first"
#endif

#define CKF_HDR_SUMMED 56          /* header checksums cover bytes 0..55 */
#define CKF_MAX_DEPTH  64          /* longest parent chain followed */

struct ckf_cctx {
    ZSTD_CCtx *z;                  /* NULL when level == 0 */
    int level;
    ckf_alloc a;
    uint8_t *pages;                /* ZPAGES: the non-zero pages of a block, gathered */
    size_t pages_cap;
};

/* codec ZPAGES (FORMAT.md §7): pages of 4 KiB, a bitmap of u64 words */
#define CKF_ZP_PAGE 4096u
static inline size_t ckf_i_zp_bitmap(uint64_t raw_len)
{
    return (size_t)((raw_len / CKF_ZP_PAGE + 63) / 64) * 8;
}

/* allocator: never NULL after ckf_i_alloc_init */
void  ckf_i_alloc_init(ckf_alloc *dst, const ckf_alloc *src);
void *ckf_i_alloc(const ckf_alloc *a, size_t n);
void  ckf_i_free(const ckf_alloc *a, void *p);
ZSTD_customMem ckf_i_zmem(const ckf_alloc *a);

void ckf_i_set_errno(int e);

void ckf_i_seal_chunk(ckf_chunk_header *h);
/* Structural checks of a chunk header (or index entry fields) that need no
 * payload: codec, flags, the lengths the codec implies, MEMBLK placement. */
int  ckf_i_check_fields(uint16_t type, uint8_t codec, uint8_t flags, uint64_t stored_len,
                        uint64_t raw_len, uint64_t key, uint32_t block_size);
int  ckf_i_check_chunk(const ckf_chunk_header *h, uint32_t block_size);
uint64_t ckf_i_hash_lo(const uint8_t h[16]);
int  ckf_i_block_size_ok(uint32_t bs);

/* Encodes one chunk.  The payload goes to out+0 (zstd) or, for a stored chunk
 * when copy_stored is 0, *payload points at data itself (no copy). */
int  ckf_i_encode(ckf_cctx *c, uint16_t type, uint64_t key, const void *data, size_t len,
                  ckf_chunk_header *hdr, void *out, size_t outcap, int copy_stored,
                  const void **payload, const uint8_t *zero_hash, size_t zero_len);

/* XXH3 built for AVX2 (ckf_hash_avx2.c); call only when ckf_i_avx2() says so */
uint64_t ckf_i_xxh64_avx2(const void *p, size_t n);
void ckf_i_xxh128_avx2(const void *p, size_t n, uint8_t out[16]);
/* Tests: use the library's XXH3 (0) or the AVX2 build (2) where available;
 * returns the build now in use */
int ckf_i_hash_use(int vec);

/* The header of a chunk whose content is known to be all zero. */
void ckf_i_encode_zero(uint16_t type, uint64_t key, const void *data, size_t len,
                       ckf_chunk_header *hdr, const uint8_t *zero_hash, size_t zero_len);

#endif /* CKF_INT_H */
