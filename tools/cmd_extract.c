/*
 * cmd_extract.c - `ckpt extract FILE --region ADDR|NAME ...`: memory out of a
 * checkpoint, raw or as a NumPy .npy array.
 *
 * Bytes come from the MEMBLK chunks (each verified as it is read).  Pages that
 * were never touched read as zero, as they would in the process.  Pages of a
 * private file mapping that were left to the file (not stored) are read from
 * that file when it is still there, with a warning, since it may have changed
 * since the checkpoint.
 */
#include "tools/tool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ckpt extract FILE|DIR --region ADDR|NAME [--length N] [-o OUT]\n"
    "                    [--as TYPE [--shape AxB...]]\n"
    "\n"
    "Writes the memory of the checkpointed process at ADDR (hex 0x...) or of the named\n"
    "region NAME (registered with ckpt_register_region) to OUT (default: standard\n"
    "output, never a terminal).  Without --length: the whole named region, or from\n"
    "ADDR to the end of the memory region that contains it.\n"
    "\n"
    "  -r, --region ADDR|NAME  where to start\n"
    "  -l, --length N          bytes (suffixes K, M, G)\n"
    "  -o, --output OUT        output file ('-' for standard output)\n"
    "  -a, --as TYPE           write a .npy file of TYPE: f64 f32 i64 i32 i16 i8\n"
    "                          u64 u32 u16 u8 (little endian, C order)\n"
    "  -s, --shape AxB...      array shape (default: one dimension); with --shape and\n"
    "                          no --length the length is the array size\n"
    "  -h, --help              this text\n"
    "\n"
    "Exit: 0 ok, 1 failure (not found, corrupt checkpoint, I/O), 2 usage.\n";

static const struct { const char *name, *descr; unsigned size; } dtypes[] = {
    { "f64", "<f8", 8 }, { "f32", "<f4", 4 }, { "i64", "<i8", 8 }, { "i32", "<i4", 4 },
    { "i16", "<i2", 2 }, { "i8", "|i1", 1 }, { "u64", "<u8", 8 }, { "u32", "<u4", 4 },
    { "u16", "<u2", 2 }, { "u8", "|u1", 1 },
};

#define MAX_DIMS 16

static int parse_shape(const char *s, uint64_t *dims, int *ndims)
{
    char *copy = strdup(s), *save = NULL;
    int n = 0;
    if (!copy) return -1;
    for (char *t = strtok_r(copy, "x,X*", &save); t; t = strtok_r(NULL, "x,X*", &save)) {
        uint64_t v;
        if (n == MAX_DIMS || ck_parse_u64(t, &v) < 0 || v == 0) { free(copy); return -1; }
        dims[n++] = v;
    }
    free(copy);
    if (n == 0) return -1;
    *ndims = n;
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_npy_header(int fd, const char *descr, const uint64_t *dims, int nd)
{
    char dict[512], shape[400] = "(";
    size_t sl = 1;
    for (int i = 0; i < nd; i++)
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%llu%s",
                               (unsigned long long)dims[i], nd == 1 ? "," : i + 1 < nd ? ", " : "");
    snprintf(shape + sl, sizeof shape - sl, ")");
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      descr, shape);
    /* NPY 1.0: magic(6) version(2) header_len(2) dict, padded with spaces and a final
     * '\n' so the data starts at a multiple of 64. */
    size_t total = 10 + (size_t)dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hl = (size_t)dl + pad + 1;
    char hdr[600];
    if (dl < 0 || (size_t)dl >= sizeof dict || hl > sizeof hdr) return -EINVAL;
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                              (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8) };
    memcpy(hdr, dict, (size_t)dl);
    memset(hdr + dl, ' ', pad);
    hdr[(size_t)dl + pad] = '\n';
    int r = write_all(fd, pre, sizeof pre);
    return r ? r : write_all(fd, hdr, hl);
}

static int find_region(ck_image *im, const char *name, uint64_t *addr, uint64_t *len)
{
    size_t nl = strlen(name);
    for (long i = ckf_reader_find(im->r, CKF_T_REGION, 0); i >= 0;
         i = ckf_reader_find(im->r, CKF_T_REGION, (size_t)i + 1)) {
        size_t l = 0;
        int err = 0;
        ckc_region rg;
        char *buf = ck_image_read(im, (size_t)i, &l, &err);
        if (!buf) {
            ck_err("%s: region chunk %ld: %s", im->path, i, ckf_strerror(err));
            return -1;
        }
        if (l >= sizeof rg) {
            size_t rl;
            const char *rn = ckc_region_name(buf, l, &rl);
            memcpy(&rg, buf, sizeof rg);
            if (rl == nl && memcmp(rn, name, nl) == 0) {
                *addr = ckf_reader_entry(im->r, (size_t)i)->key;
                *len = rg.len;
                free(buf);
                return 0;
            }
        }
        free(buf);
    }
    ck_err("%s: no region named '%s' (see 'ckpt inspect')", im->path, name);
    return -1;
}

/* Fills the parts of [a, a+n) that no block covers from the backing file, when the
 * VMA there is a private file mapping whose pages were left to the file. */
static void fill_from_files(ck_image *im, uint64_t a, uint64_t n, char *buf, int *warned)
{
    uint64_t cur = a, end = a + n;
    size_t k = ck_image_first_block(im, a);
    while (cur < end) {
        uint64_t gap_end = end;
        if (k < im->nblocks && im->blocks[k]->key <= cur) {
            cur = im->blocks[k]->key + im->blocks[k]->raw_len;
            k++;
            continue;
        }
        if (k < im->nblocks && im->blocks[k]->key < end) gap_end = im->blocks[k]->key;
        /* [cur, gap_end) is not stored. */
        while (cur < gap_end) {
            long vi = ck_image_vma_at(im, cur);
            if (vi < 0) {
                /* Skip to the next VMA start inside the gap, if any. */
                uint64_t next = gap_end;
                for (uint32_t i = 0; i < im->nvmas; i++)
                    if (im->vmas[i].start > cur && im->vmas[i].start < next) next = im->vmas[i].start;
                cur = next;
                continue;
            }
            const ckc_vma *v = &im->vmas[vi];
            uint64_t piece_end = v->end < gap_end ? v->end : gap_end;
            if ((v->flags & CKC_VMA_FILE) && v->file_bytes) {
                size_t pl;
                const char *p = ck_sref(&im->vstr, v->path, &pl);
                char *path = strndup(p, pl);
                int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
                if (fd >= 0) {
                    ssize_t got = pread(fd, buf + (cur - a), piece_end - cur,
                                        (off_t)(v->pgoff + (cur - v->start)));
                    (void)got;   /* past EOF reads as zero, as in the mapping (SIGBUS aside) */
                    if (!*warned) {
                        fprintf(stderr, "ckpt extract: warning: pages not stored in the "
                                "checkpoint were read from %s\n", path);
                        *warned = 1;
                    }
                    close(fd);
                } else if (!*warned) {
                    fprintf(stderr, "ckpt extract: warning: pages not stored in the checkpoint "
                            "belong to %s, which cannot be opened (%s): written as zeros\n",
                            path ? path : "?", strerror(errno));
                    *warned = 1;
                }
                free(path);
            }
            cur = piece_end;
        }
    }
}

int cmd_extract(int argc, char **argv)
{
    static const struct option opts[] = {
        { "region", required_argument, NULL, 'r' }, { "length", required_argument, NULL, 'l' },
        { "output", required_argument, NULL, 'o' }, { "as", required_argument, NULL, 'a' },
        { "shape", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    const char *region = NULL, *out = NULL, *as = NULL, *shape = NULL;
    uint64_t length = 0, addr = 0, dims[MAX_DIMS];
    int have_len = 0, nd = 0, c, dt = -1, rc = EX_FAIL, ofd = -1, warned = 0;
    char *path = NULL, *buf = NULL;
    ck_image im;

    if (ck_help_requested(argc, argv, usage_text)) return EX_OK;
    while ((c = getopt_long(argc, argv, "r:l:o:a:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': region = optarg; break;
        case 'l':
            if (ck_parse_size(optarg, &length) < 0 || length == 0)
                return ck_usage_err("--length: not a size: '%s'", optarg);
            have_len = 1;
            break;
        case 'o': out = optarg; break;
        case 'a': as = optarg; break;
        case 's': shape = optarg; break;
        default: return ck_opt_err(argv);
        }
    }
    if (optind + 1 != argc) return ck_usage_err("expected one FILE or DIR");
    if (!region) return ck_usage_err("--region ADDR|NAME is required");
    if (shape && !as) return ck_usage_err("--shape needs --as TYPE");
    if (as) {
        for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
            if (strcmp(dtypes[i].name, as) == 0) dt = (int)i;
        if (dt < 0) return ck_usage_err("--as: unknown type '%s'", as);
    }
    if (shape && parse_shape(shape, dims, &nd) < 0)
        return ck_usage_err("--shape: expected dimensions like 100x200, got '%s'", shape);
    if (!out && isatty(1))
        return ck_usage_err("refusing to write binary data to a terminal (use -o FILE)");

    path = ck_resolve_ckpt(argv[optind]);
    if (!path) return EX_FAIL;
    if (ck_image_open(&im, path) < 0) { free(path); return EX_FAIL; }

    uint64_t want = 0;
    int by_name = !((region[0] >= '0' && region[0] <= '9'));
    if (by_name) {
        if (find_region(&im, region, &addr, &want) < 0) goto out;
    } else if (ck_parse_u64(region, &addr) < 0) {
        ck_err("--region: not an address: '%s'", region);
        rc = EX_USAGE;
        goto out;
    }
    if (dt >= 0 && nd) {
        uint64_t n = dtypes[dt].size;
        for (int i = 0; i < nd; i++) {
            if (dims[i] && n > UINT64_MAX / dims[i]) { ck_err("--shape: too large"); rc = EX_USAGE; goto out; }
            n *= dims[i];
        }
        if (have_len && n != length) {
            ck_err("--shape %s of %s is %llu bytes, but --length is %llu", shape, as,
                   (unsigned long long)n, (unsigned long long)length);
            rc = EX_USAGE;
            goto out;
        }
        if (!have_len && by_name && n > want) {
            ck_err("--shape %s of %s is %llu bytes, larger than region '%s' (%llu bytes)",
                   shape, as, (unsigned long long)n, region, (unsigned long long)want);
            goto out;
        }
        length = n;
        have_len = 1;
    }
    if (!have_len) {
        if (by_name) {
            length = want;
        } else {
            long vi = ck_image_vma_at(&im, addr);
            if (vi < 0) {
                ck_err("%s: 0x%llx is not inside any memory region of the checkpoint", path,
                       (unsigned long long)addr);
                goto out;
            }
            length = im.vmas[vi].end - addr;
        }
    }
    if (length == 0 || addr + length < addr) { ck_err("empty or wrapping range"); goto out; }
    if (dt >= 0 && length % dtypes[dt].size) {
        ck_err("%llu bytes is not a whole number of %s (%u bytes each)",
               (unsigned long long)length, as, dtypes[dt].size);
        goto out;
    }
    if (dt >= 0 && !nd) { dims[0] = length / dtypes[dt].size; nd = 1; }

    if (!out || strcmp(out, "-") == 0) ofd = 1;
    else {
        ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (ofd < 0) { ck_err("%s: %s", out, strerror(errno)); goto out; }
    }
    if (dt >= 0) {
        int r = write_npy_header(ofd, dtypes[dt].descr, dims, nd);
        if (r < 0) { ck_err("%s: %s", out ? out : "stdout", strerror(-r)); goto out; }
    }
    const size_t piece = 1u << 20;
    buf = malloc(piece);
    if (!buf) { ck_err("out of memory"); goto out; }
    ck_progress pr;
    ck_progress_start(&pr, "extract", length);
    for (uint64_t done = 0; done < length;) {
        size_t n = length - done < piece ? (size_t)(length - done) : piece;
        int r = ckf_reader_read_range(im.r, addr + done, n, buf);
        if (r < 0) {
            ck_progress_end(&pr);
            if (r == -CKF_E_PARENT)
                ck_err("%s: this incremental checkpoint needs its parent for 0x%llx", path,
                       (unsigned long long)(addr + done));
            else
                ck_err("%s: reading 0x%llx: %s", path, (unsigned long long)(addr + done),
                       ckf_strerror(r));
            goto out;
        }
        fill_from_files(&im, addr + done, n, buf, &warned);
        r = write_all(ofd, buf, n);
        if (r < 0) {
            ck_progress_end(&pr);
            ck_err("%s: %s", out ? out : "stdout", strerror(-r));
            goto out;
        }
        done += n;
        ck_progress_update(&pr, done);
    }
    ck_progress_end(&pr);
    if (ofd != 1 && close(ofd) < 0) {
        ofd = -1;
        ck_err("%s: %s", out, strerror(errno));
        goto out;
    }
    ofd = -1;
    rc = EX_OK;
out:
    if (ofd > 1) {
        close(ofd);
        if (rc != EX_OK) unlink(out);
    }
    free(buf);
    ck_image_close(&im);
    free(path);
    return rc;
}
