/*
 * fuzz_reader.c - the container reader on arbitrary bytes.
 *
 * Opens the input as a checkpoint image, then exercises every read path:
 * entries one by one, chunk headers, the address table (blocks_in_range,
 * read_range), verify, and parent resolution (the input is also attached as
 * its own parent when its header says so, which makes the parent chain loop:
 * the reader must stop on its own), and the footer-less recovery scan.
 * Nothing may crash, leak or hang.
 *
 * Random mutations almost never keep an XXH3 checksum valid, so on their own
 * they would only ever test the checksum checks.  Each input is therefore run
 * twice: as it is, and "resealed" - every header checksum, stored payload
 * checksum and stored content hash recomputed along a sequential walk of the
 * chunks - so that the structural checks behind the checksums are reached.
 *
 * The image is read from memory (ckf_reader_open_mem) and from a file
 * descriptor (a memfd): the two read paths differ (payloads in place, or read
 * with their header into an aligned buffer).
 */
#include "format/ckf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_cb(void *arg, size_t index, const ckf_index_entry *e)
{
    (void)index; (void)e;
    return ++*(int *)arg > 100000;
}

static void exercise(ckf_reader *r)
{
    size_t n = ckf_reader_count(r), i;
    int cnt = 0;

    for (i = 0; i < n && i < 4096; i++) {
        ckf_chunk_header h;
        void *buf = NULL;
        long len;
        (void)ckf_reader_chunk_header(r, i, &h);
        len = ckf_reader_read_alloc(r, i, &buf);
        if (len >= 0) ckf_reader_free_buf(r, buf);
    }
    (void)ckf_reader_find(r, CKF_T_PROCESS, 0);
    (void)ckf_reader_require_known(r, NULL);
    (void)ckf_reader_blocks_in_range(r, 0, UINT64_MAX, count_cb, &cnt);
    /* a window around the first memory block, and one that straddles it */
    for (i = 0; i < n; i++) {
        const ckf_index_entry *e = ckf_reader_entry(r, i);
        if (e->type == CKF_T_MEMBLK) {
            size_t len = 1u << 16;
            uint8_t *out = malloc(len);
            if (out) {
                (void)ckf_reader_read_range(r, e->key, len, out);
                (void)ckf_reader_read_range(r, e->key > 100 ? e->key - 100 : 0, len, out);
                free(out);
            }
            break;
        }
    }
    (void)ckf_reader_verify(r, NULL, NULL, NULL);
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void reseal(uint8_t *d, size_t size)
{
    size_t off = CKF_HEADER_SIZE;

    if (size < CKF_HEADER_SIZE) return;
    put64(d + 56, ckf_hash64(d, 56));
    while (off + CKF_CHUNK_HDR_SIZE <= size) {
        ckf_chunk_header h;
        uint64_t st;
        memcpy(&h, d + off, sizeof(h));
        if (h.magic != CKF_CHUNK_MAGIC) break;
        st = h.stored_len;
        if (st > size - off - CKF_CHUNK_HDR_SIZE) break;
        if (st && (h.codec == CKF_C_ZSTD || h.codec == CKF_C_ZPAGES))
            h.payload_checksum = ckf_hash64(d + off + CKF_CHUNK_HDR_SIZE, (size_t)st);
        if (h.codec == CKF_C_STORED && st == h.raw_len)
            ckf_hash128(d + off + CKF_CHUNK_HDR_SIZE, (size_t)st, h.content_hash);
        h.hdr_checksum = ckf_hash64(&h, 56);
        memcpy(d + off, &h, sizeof(h));
        off += CKF_CHUNK_HDR_SIZE + (size_t)st;
    }
    if (size >= CKF_HEADER_SIZE + CKF_FOOTER_SIZE) {
        uint8_t *f = d + size - CKF_FOOTER_SIZE;
        if (!memcmp(f, CKF_FOOTER_MAGIC, 8)) put64(f + 56, ckf_hash64(f, 56));
    }
    (void)get64;
}

static void one(const uint8_t *data, size_t size)
{
    ckf_reader *r = NULL, *p = NULL;

    if (ckf_reader_open_mem(&r, data, size, NULL) != 0) return;
    exercise(r);
    if (ckf_reader_open_mem(&p, data, size, NULL) == 0) {
        if (ckf_reader_set_parent(r, p) == 0) {
            (void)ckf_reader_set_parent(p, r);   /* a cycle: must be cut by depth */
            exercise(r);
            (void)ckf_reader_set_parent(p, NULL);
        }
        ckf_reader_close(p);
    }
    ckf_reader_close(r);
}

/* The same through a file descriptor. */
static void one_fd(const uint8_t *data, size_t size)
{
    static int fd = -2;
    ckf_reader *r = NULL;

    if (fd == -2) fd = memfd_create("fuzz_reader", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 0) || ftruncate(fd, (off_t)size)) return;
    if (size && pwrite(fd, data, size, 0) != (ssize_t)size) return;
    if (ckf_reader_open_fd(&r, fd, NULL) != 0) return;
    exercise(r);
    ckf_reader_close(r);
    (void)ckf_scan_fd(fd, NULL, NULL, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    one(data, size);
    (void)ckf_scan_mem(data, size, NULL, NULL, NULL, NULL);
    copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    reseal(copy, size);
    if (memcmp(copy, data, size)) {
        one(copy, size);
        (void)ckf_scan_mem(copy, size, NULL, NULL, NULL, NULL);
    }
    one_fd(copy, size);
    free(copy);
    return 0;
}
