/*
 * ckf_hash_avx2.c - XXH3 compiled for AVX2, chosen at run time.
 *
 * Debian's libxxhash is built for the x86-64 baseline (SSE2), where XXH3 runs
 * at ~11 GB/s here; the AVX2 code path of the same algorithm runs at 25-45
 * GB/s on data in cache, which is where a block is when it has just been
 * compressed or decompressed.  Every block is hashed once on write and once on
 * read, so this is worth a second copy of the hash.  The results are identical
 * by definition (same algorithm, same constants): only speed differs.
 *
 * This file inlines xxHash (XXH_INLINE_ALL: all symbols static, no clash with
 * libxxhash) with every function compiled for AVX2; ckf_common.c calls it only
 * when the CPU and the kernel support AVX2.
 */
#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

#define XXH_INLINE_ALL
#define XXH_VECTOR 2                /* XXH_AVX2 */
#include <immintrin.h>
#include <xxhash.h>

#include <stdint.h>
#include <string.h>

/* declared in ckf_int.h, which cannot be included here: it pulls in the
 * library's xxhash.h, and this file has its own inlined copy */
uint64_t ckf_i_xxh64_avx2(const void *p, size_t n);
void ckf_i_xxh128_avx2(const void *p, size_t n, uint8_t out[16]);

uint64_t ckf_i_xxh64_avx2(const void *p, size_t n) { return XXH3_64bits(p, n); }

void ckf_i_xxh128_avx2(const void *p, size_t n, uint8_t out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
    memcpy(out, c.digest, 16);
}

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif
