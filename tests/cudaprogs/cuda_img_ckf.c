/*
 * cuda_img_ckf.c - decodes the CKF_T_CUDA chunk of a checkpoint file with the
 * layout of cuda_hooks/cuda_state.h (what `ckpt inspect` can show), and counts
 * the CKF_T_CUDA_DATA chunks.
 *
 *   cuda_img_ckf FILE     prints header, devices, per-kind record counts, names
 */
#include "format/ckf.h"
#include "cuda_hooks/cuda_state.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    ckf_reader *r;
    if (argc < 2 || ckf_reader_open_path(&r, argv[1], NULL) < 0) { fprintf(stderr, "cannot open\n"); return 2; }
    long i = ckf_reader_find(r, CKF_T_CUDA, 0);
    if (i < 0) { printf("no cuda chunk\n"); return 1; }
    void *buf;
    long len = ckf_reader_read_alloc(r, (size_t)i, &buf);
    if (len < 0 || ckcu_img_check(buf, (size_t)len)) { printf("cuda chunk invalid\n"); return 1; }
    const char *b = buf;
    const ckcu_img_header *h = buf;
    printf("cuda v%u.%u devices=%u records=%u flags=0x%x gate=0x%x driver=%d device_bytes=%llu host_bytes=%llu\n",
           h->version_major, h->version_minor, h->ndevices, h->nrecords, h->flags, h->gate_flags,
           h->driver_version, (unsigned long long)h->device_bytes, (unsigned long long)h->host_bytes);
    for (uint32_t d = 0; d < h->ndevices; d++) {
        const ckcu_img_device *dv = (const void *)(b + h->header_size + (size_t)d * h->device_size);
        printf("device %d \"%.*s\" total=%llu cc=%d.%d\n", dv->ordinal, (int)strnlen(dv->name, sizeof dv->name),
               dv->name, (unsigned long long)dv->total_mem, dv->cc_major, dv->cc_minor);
    }
    unsigned n[CKCU_K_LAST] = { 0 };
    for (uint32_t k = 0; k < h->nrecords; k++) {
        const ckcu_img_record *rec = (const void *)(b + h->records_off + (size_t)k * h->record_size);
        if (rec->kind < CKCU_K_LAST) n[rec->kind]++;
        if (rec->name_len && (uint64_t)rec->name_off + rec->name_len <= h->strings_len)
            printf("%s 0x%llx name=%.*s\n", ckcu_kind_name(rec->kind), (unsigned long long)rec->key,
                   (int)rec->name_len, b + h->strings_off + rec->name_off);
    }
    printf("kinds");
    for (int k = 1; k < CKCU_K_LAST; k++) printf(" %s=%u", ckcu_kind_name((unsigned)k), n[k]);
    int ndata = 0;
    for (long j = ckf_reader_find(r, CKF_T_CUDA_DATA, 0); j >= 0; j = ckf_reader_find(r, CKF_T_CUDA_DATA, (size_t)j + 1))
        ndata++;
    printf("\ndata chunks=%d\n", ndata);
    ckf_reader_free_buf(r, buf);
    ckf_reader_close(r);
    return 0;
}
