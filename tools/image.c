/*
 * image.c - opens a checkpoint and decodes the metadata most subcommands need
 * (process, memory map, file identities, the sorted list of memory blocks).
 *
 * Every count, offset and string reference read from the file is checked
 * against the payload that holds it: a checkpoint may be corrupt in ways its
 * checksums do not catch (written by a buggy or hostile producer).
 */
#include "tools/tool.h"

#include "format/ckdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *ck_image_read(ck_image *im, size_t i, size_t *len, int *err)
{
    void *buf = NULL;
    long n = ckf_reader_read_alloc(im->r, i, &buf);
    if (n < 0) {
        *err = (int)n;
        return NULL;
    }
    /* Copy into our own malloc'd buffer so callers simply free() it. */
    void *out = malloc(n ? (size_t)n : 1);
    if (!out) {
        ckf_reader_free_buf(im->r, buf);
        *err = -CKF_E_NOMEM;
        return NULL;
    }
    if (n) memcpy(out, buf, (size_t)n);
    ckf_reader_free_buf(im->r, buf);
    *len = (size_t)n;
    return out;
}

const char *ck_sref(const ck_strtab *t, ckc_strref ref, size_t *len)
{
    const char *s = ckc_str(t->p, t->len, ref, len);
    if (!s) { *len = 1; return "?"; }
    return s;
}

const char *ck_vma_perms(uint32_t f, char buf[5])
{
    buf[0] = f & CKC_VMA_READ ? 'r' : '-';
    buf[1] = f & CKC_VMA_WRITE ? 'w' : '-';
    buf[2] = f & CKC_VMA_EXEC ? 'x' : '-';
    buf[3] = f & CKC_VMA_SHARED ? 's' : 'p';
    buf[4] = '\0';
    return buf;
}

static int cmp_block(const void *a, const void *b, void *arg)
{
    const ckf_index_entry *x = ckf_reader_entry(arg, *(const size_t *)a);
    const ckf_index_entry *y = ckf_reader_entry(arg, *(const size_t *)b);
    return x->key < y->key ? -1 : x->key > y->key;
}

static int load_table(ck_image *im, uint16_t type, size_t hdr, size_t rec, uint32_t count_off,
                      void **buf, uint32_t *count, const void **recs, ck_strtab *strs)
{
    long i = ckf_reader_find(im->r, type, 0);
    size_t len = 0;
    int err = 0;
    if (i < 0) return 0;
    *buf = ck_image_read(im, (size_t)i, &len, &err);
    *count = 0;
    if (!*buf) {
        ck_err("%s: %s chunk %ld: %s", im->path, ck_chunk_type_name(type), i,
               ckf_strerror(err));
        return err;
    }
    if (len < hdr) goto bad;
    uint32_t n;
    memcpy(&n, (char *)*buf + count_off, 4);
    if ((uint64_t)n * rec > len - hdr) goto bad;
    *count = n;
    *recs = (char *)*buf + hdr;
    strs->p = (char *)*buf + hdr + (size_t)n * rec;
    strs->len = len - hdr - (size_t)n * rec;
    return 1;
bad:
    free(*buf);
    *buf = NULL;
    ck_err("%s: %s chunk %ld is malformed (%zu bytes)", im->path, ck_chunk_type_name(type),
           i, len);
    return -CKF_E_BAD_LENGTH;
}

/* ---- incremental chains ---------------------------------------------------------------
 * A checkpoint whose header names a parent keeps unchanged blocks there (codec
 * PARENT).  The parent is looked for among the checkpoints of the same directory,
 * (any *.ckpt file) by id; its own parent likewise, up to CK_MAX_PARENTS levels. */

/* Finds, among the *.ckpt files of the directory, the one whose id is `id`. */
static int find_by_id(int dfd, const uint8_t *id, char *out, size_t cap)
{
    int d2 = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dp = d2 >= 0 ? fdopendir(d2) : NULL;
    struct dirent *de;
    int found = 0;
    if (!dp) { if (d2 >= 0) close(d2); return 0; }
    while (!found && (de = readdir(dp)) != NULL) {
        size_t n = strlen(de->d_name);
        ckf_file_header h;
        if (n < 6 || strcmp(de->d_name + n - 5, ".ckpt") != 0) continue;
        int fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        if (pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
            memcmp(h.magic, CKF_MAGIC, 8) == 0 && memcmp(h.id, id, 16) == 0) {
            snprintf(out, cap, "%s", de->d_name);
            found = 1;
        }
        close(fd);
    }
    closedir(dp);
    return found;
}

static void attach_parents(ck_image *im)
{
    char *dir = strdup(im->path), *slash;
    ckf_reader *child = im->r;
    if (!dir) return;
    slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    int dfd = ckdir_open(slash && !*dir ? "/" : dir);
    if (dfd < 0) { free(dir); return; }
    while (im->nparents < CK_MAX_PARENTS) {
        const ckf_file_header *h = ckf_reader_header(child);
        char name[256];
        ckf_reader *p = NULL;
        if (ck_is_zero_id(h->parent_id)) break;
        if (!find_by_id(dfd, h->parent_id, name, sizeof name)) break;
        int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        if (ckf_reader_open_fd(&p, fd, NULL) < 0) { close(fd); break; }
        if (ckf_reader_set_parent(child, p) < 0) { ckf_reader_close(p); close(fd); break; }
        im->parents[im->nparents] = p;
        im->parent_fds[im->nparents++] = fd;
        child = p;
    }
    close(dfd);
    free(dir);
}

int ck_image_open(ck_image *im, const char *path)
{
    int r;
    memset(im, 0, sizeof *im);
    im->path = path;
    r = ckf_reader_open_path(&im->r, path, NULL);
    if (r < 0) {
        if (r == -CKF_E_IO)
            ck_err("%s: %s", path, strerror(ckf_last_errno()));
        else
            ck_err("%s: %s", path, ckf_strerror(r));
        im->r = NULL;
        return r;
    }
    im->hdr = ckf_reader_header(im->r);
    attach_parents(im);

    /* A bad metadata chunk is reported and left out (im->errors counts it), so
     * that inspect can still show the rest; the callers that need it fail later
     * with their own message. */
    long pi = ckf_reader_find(im->r, CKF_T_PROCESS, 0);
    if (pi >= 0) {
        size_t len = 0;
        int err = 0;
        im->pbuf = ck_image_read(im, (size_t)pi, &len, &err);
        if (!im->pbuf) {
            ck_err("%s: process chunk %ld: %s", path, pi, ckf_strerror(err));
            im->errors++;
        } else if (len < sizeof(ckc_process)) {
            ck_err("%s: process chunk %ld is malformed (%zu bytes)", path, pi, len);
            im->errors++;
            free(im->pbuf);
            im->pbuf = NULL;
        } else {
            memcpy(&im->proc, im->pbuf, sizeof im->proc);
            im->pstr.p = (char *)im->pbuf + sizeof(ckc_process);
            im->pstr.len = len - sizeof(ckc_process);
            im->has_proc = 1;
        }
    }

    const void *recs = NULL;
    r = load_table(im, CKF_T_VMAS, sizeof(ckc_vmas), sizeof(ckc_vma),
                   offsetof(ckc_vmas, count), &im->vbuf, &im->nvmas, &recs, &im->vstr);
    if (r < 0) {
        im->errors++;
    } else if (r > 0) {
        im->has_vmas = 1;
        im->vmas = recs;
        memcpy(&im->page_size, (char *)im->vbuf + offsetof(ckc_vmas, page_size), 4);
    }
    r = load_table(im, CKF_T_FILEIDS, sizeof(ckc_fileids), sizeof(ckc_fileid),
                   offsetof(ckc_fileids, count), &im->fbuf, &im->nfids, &recs, &im->fstr);
    if (r < 0) im->errors++;
    else if (r > 0) im->fids = recs;

    size_t n = ckf_reader_count(im->r), nb = 0;
    for (size_t i = 0; i < n; i++)
        if (ckf_reader_entry(im->r, i)->type == CKF_T_MEMBLK) nb++;
    im->blocks = calloc(nb ? nb : 1, sizeof *im->blocks);
    im->block_idx = calloc(nb ? nb : 1, sizeof *im->block_idx);
    if (!im->blocks || !im->block_idx) {
        ck_err("%s: out of memory", path);
        ck_image_close(im);
        return -CKF_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (ckf_reader_entry(im->r, i)->type == CKF_T_MEMBLK) im->block_idx[im->nblocks++] = i;
    qsort_r(im->block_idx, im->nblocks, sizeof *im->block_idx, cmp_block, im->r);
    for (size_t k = 0; k < im->nblocks; k++)
        im->blocks[k] = ckf_reader_entry(im->r, im->block_idx[k]);
    return 0;
}

void ck_image_close(ck_image *im)
{
    if (im->r) ckf_reader_close(im->r);
    for (int i = 0; i < im->nparents; i++) {
        ckf_reader_close(im->parents[i]);
        close(im->parent_fds[i]);
    }
    free(im->pbuf);
    free(im->vbuf);
    free(im->fbuf);
    free(im->blocks);
    free(im->block_idx);
    memset(im, 0, sizeof *im);
}

long ck_image_vma_at(const ck_image *im, uint64_t addr)
{
    for (uint32_t i = 0; i < im->nvmas; i++)
        if (addr >= im->vmas[i].start && addr < im->vmas[i].end) return i;
    return -1;
}

size_t ck_image_first_block(const ck_image *im, uint64_t addr)
{
    /* Blocks do not overlap, so sorted by start they are sorted by end too. */
    size_t lo = 0, hi = im->nblocks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const ckf_index_entry *e = im->blocks[mid];
        if (e->key + e->raw_len <= addr) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}
