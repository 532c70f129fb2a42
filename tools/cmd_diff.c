/*
 * cmd_diff.c - `ckpt diff A B [--json]`: how much memory changed between two
 * checkpoints, per region.
 *
 * Regions are matched by start address.  Within a matched pair the address range
 * is swept block by block: blocks at the same address with the same length and
 * the same content hash are unchanged without being read; otherwise both are
 * decoded and compared byte by byte, so the count is exact; the pages (of the
 * checkpoint's page size) holding a changed byte are counted too, which is what
 * an incremental checkpoint would have to store.  Bytes stored on one
 * side only count as changed in full (the other side had no data there: never
 * touched, or left to a file).  Added and removed regions are listed with their
 * stored size.
 */
#include "tools/tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ckpt diff A B [--json]\n"
    "\n"
    "Compares the memory of two checkpoints (files, or directories meaning their\n"
    "'latest'): for each memory region, how many bytes changed from A to B, and which\n"
    "regions were added or removed; then a total line.\n"
    "\n"
    "  --json     machine-readable output\n"
    "  -h, --help this text\n"
    "\n"
    "Exit: 0 compared (whether or not anything changed), 1 failure, 2 usage.\n";

typedef struct side {
    ck_image im;
    size_t cached;          /* chunk index decoded into buf, or SIZE_MAX */
    char *buf;
    size_t cap;
    int failed;
} side;

static const char *decode(side *s, size_t k)
{
    const ckf_index_entry *e = s->im.blocks[k];
    size_t ci = s->im.block_idx[k];
    if (s->cached == ci) return s->buf;
    if (s->cap < e->raw_len) {
        free(s->buf);
        s->buf = malloc(e->raw_len);
        s->cap = s->buf ? e->raw_len : 0;
        if (!s->buf) return NULL;
    }
    long n = ckf_reader_read(s->im.r, ci, s->buf, s->cap);
    if (n < 0) {
        if (n != -CKF_E_PARENT && !s->failed) {
            ck_err("%s: memblk chunk %zu: %s", s->im.path, ci, ckf_strerror((int)n));
            s->failed = 1;
        }
        s->cached = SIZE_MAX;
        return NULL;
    }
    s->cached = ci;
    return s->buf;
}

static int same_hash(side *a, size_t ka, side *b, size_t kb)
{
    const ckf_index_entry *x = a->im.blocks[ka], *y = b->im.blocks[kb];
    ckf_chunk_header hx, hy;
    if (x->key != y->key || x->raw_len != y->raw_len || x->content_hash_lo != y->content_hash_lo)
        return 0;
    if (ckf_reader_chunk_header(a->im.r, a->im.block_idx[ka], &hx) < 0 ||
        ckf_reader_chunk_header(b->im.r, b->im.block_idx[kb], &hy) < 0)
        return 0;
    return memcmp(hx.content_hash, hy.content_hash, 16) == 0;
}

typedef struct delta { uint64_t bytes, pages; } delta;

static uint64_t page_size = 4096;

/* Differing bytes of p and q (n bytes at address addr), and the pages holding one. */
static void count_diff(delta *d, uint64_t addr, const char *p, const char *q, uint64_t n)
{
    for (uint64_t off = 0; off < n;) {
        uint64_t l = page_size - (addr + off) % page_size;
        if (l > n - off) l = n - off;
        if (memcmp(p + off, q + off, l) != 0) {
            for (uint64_t i = 0; i < l; i++) d->bytes += p[off + i] != q[off + i];
            d->pages++;
        }
        off += l;
    }
}

/* Pages touched by [lo, hi). */
static uint64_t pages_in(uint64_t lo, uint64_t hi)
{
    return hi <= lo ? 0 : (hi - 1) / page_size - lo / page_size + 1;
}

/* Changed bytes (and pages) in [lo, hi) from a to b. */
static delta sweep(side *a, side *b, uint64_t lo, uint64_t hi)
{
    size_t ka = ck_image_first_block(&a->im, lo), kb = ck_image_first_block(&b->im, lo);
    uint64_t cur = lo;
    delta changed = { 0, 0 };
    while (cur < hi) {
        const ckf_index_entry *ea = ka < a->im.nblocks ? a->im.blocks[ka] : NULL;
        const ckf_index_entry *eb = kb < b->im.nblocks ? b->im.blocks[kb] : NULL;
        if (ea && ea->key >= hi) ea = NULL;
        if (eb && eb->key >= hi) eb = NULL;
        if (!ea && !eb) break;
        int ac = ea && ea->key <= cur, bc = eb && eb->key <= cur;
        if (!ac && !bc) {
            uint64_t n = hi;
            if (ea && ea->key < n) n = ea->key;
            if (eb && eb->key < n) n = eb->key;
            cur = n;
            continue;
        }
        uint64_t end = hi;
        if (ea) { uint64_t x = ac ? ea->key + ea->raw_len : ea->key; if (x < end) end = x; }
        if (eb) { uint64_t x = bc ? eb->key + eb->raw_len : eb->key; if (x < end) end = x; }
        if (ac && bc) {
            if (!same_hash(a, ka, b, kb)) {
                const char *pa = decode(a, ka), *pb = pa ? decode(b, kb) : NULL;
                if (pa && pb) {
                    count_diff(&changed, cur, pa + (cur - ea->key), pb + (cur - eb->key),
                               end - cur);
                } else {           /* cannot read one side: count it all */
                    changed.bytes += end - cur;
                    changed.pages += pages_in(cur, end);
                }
            }
        } else {
            changed.bytes += end - cur;
            changed.pages += pages_in(cur, end);
        }
        cur = end;
        if (ea && ac && cur >= ea->key + ea->raw_len) ka++;
        if (eb && bc && cur >= eb->key + eb->raw_len) kb++;
    }
    return changed;
}

/* Bytes (and pages) held in blocks of one side within [lo, hi). */
static delta stored_in(side *s, uint64_t lo, uint64_t hi)
{
    delta n = { 0, 0 };
    for (size_t k = ck_image_first_block(&s->im, lo); k < s->im.nblocks; k++) {
        const ckf_index_entry *e = s->im.blocks[k];
        if (e->key >= hi) break;
        uint64_t x = e->key > lo ? e->key : lo, y = e->key + e->raw_len < hi ? e->key + e->raw_len : hi;
        if (y > x) { n.bytes += y - x; n.pages += pages_in(x, y); }
    }
    return n;
}

static int cmp_vma(const void *x, const void *y, void *arg)
{
    const ckc_vma *v = arg;
    uint64_t a = v[*(const uint32_t *)x].start, b = v[*(const uint32_t *)y].start;
    return a < b ? -1 : a > b;
}

static uint32_t *sorted_vmas(const ck_image *im)
{
    uint32_t *o = malloc((im->nvmas + 1u) * sizeof *o);
    if (!o) return NULL;
    for (uint32_t i = 0; i < im->nvmas; i++) o[i] = i;
    qsort_r(o, im->nvmas, sizeof *o, cmp_vma, (void *)im->vmas);
    return o;
}

static void print_region(int json, ck_json *j, const char *status, const ck_image *im,
                         const ckc_vma *v, uint64_t size_a, uint64_t size_b, delta changed)
{
    char perm[5], ha[32], hb[32];
    size_t pl;
    const char *p = ck_sref(&im->vstr, v->path, &pl);
    if (json) {
        cj_obj(j, NULL);
        cj_str(j, "status", status);
        cj_hex(j, "start", v->start);
        cj_u64(j, "size_a", size_a);
        cj_u64(j, "size_b", size_b);
        cj_str(j, "perms", ck_vma_perms(v->flags, perm));
        cj_strn(j, "path", p, pl);
        cj_u64(j, "changed_bytes", changed.bytes);
        cj_u64(j, "changed_pages", changed.pages);
        cj_obj_end(j);
        return;
    }
    char mark = status[0] == 'a' ? '+' : status[0] == 'r' ? '-' : status[0] == 'c' ? '*' : ' ';
    printf("%c %016llx %-4s %10s %10s %12llu %7llu  ", mark, (unsigned long long)v->start,
           ck_vma_perms(v->flags, perm), size_a ? ck_human(size_a, ha) : "-",
           size_b ? ck_human(size_b, hb) : "-", (unsigned long long)changed.bytes,
           (unsigned long long)changed.pages);
    if (pl) ck_put_safe(stdout, p, pl);
    else fputs("[anon]", stdout);
    if (status[0] == 'a') fputs(" (added)", stdout);
    if (status[0] == 'r') fputs(" (removed)", stdout);
    putchar('\n');
}

int cmd_diff(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    int c, json = 0, rc = EX_FAIL;
    side a, b;
    char *pa = NULL, *pb = NULL;
    uint32_t *oa = NULL, *ob = NULL;
    ck_json j;

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.cached = b.cached = SIZE_MAX;
    if (ck_help_requested(argc, argv, usage_text)) return EX_OK;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        if (c == 'j') json = 1;
        else return ck_opt_err(argv);
    }
    if (optind + 2 != argc) return ck_usage_err("expected two checkpoints A B");
    pa = ck_resolve_ckpt(argv[optind]);
    pb = pa ? ck_resolve_ckpt(argv[optind + 1]) : NULL;
    if (!pa || !pb) goto out;
    if (ck_image_open(&a.im, pa) < 0) goto out;
    if (ck_image_open(&b.im, pb) < 0) goto out;
    if (!a.im.has_vmas || !b.im.has_vmas) {
        ck_err("%s: no memory map in this checkpoint", a.im.has_vmas ? pb : pa);
        goto out;
    }
    oa = sorted_vmas(&a.im);
    ob = sorted_vmas(&b.im);
    if (!oa || !ob) goto out;

    uint64_t total = 0, tpages = 0, added_b = 0, removed_b = 0;
    if (b.im.page_size >= 512 && (b.im.page_size & (b.im.page_size - 1)) == 0)
        page_size = b.im.page_size;
    unsigned nchanged = 0, nadded = 0, nremoved = 0, nsame = 0;
    if (json) {
        cj_init(&j, stdout);
        cj_obj(&j, NULL);
        cj_str(&j, "a", pa);
        cj_str(&j, "b", pb);
        cj_arr(&j, "regions");
    } else {
        printf("--- %s\n+++ %s\n", pa, pb);
        printf("  %-16s %-4s %10s %10s %12s %7s  %s\n", "START", "PERM", "SIZE A", "SIZE B",
               "CHANGED", "PAGES", "PATH");
    }
    uint32_t i = 0, k = 0;
    while (i < a.im.nvmas || k < b.im.nvmas) {
        const ckc_vma *va = i < a.im.nvmas ? &a.im.vmas[oa[i]] : NULL;
        const ckc_vma *vb = k < b.im.nvmas ? &b.im.vmas[ob[k]] : NULL;
        if (va && vb && va->start == vb->start) {
            uint64_t hi = va->end > vb->end ? va->end : vb->end;
            delta ch = sweep(&a, &b, va->start, hi);
            total += ch.bytes;
            tpages += ch.pages;
            int diff = ch.bytes || va->end != vb->end;
            if (diff) nchanged++; else nsame++;
            print_region(json, &j, diff ? "changed" : "same", &b.im, vb,
                         va->end - va->start, vb->end - vb->start, ch);
            i++; k++;
        } else if (va && (!vb || va->start < vb->start)) {
            delta n = stored_in(&a, va->start, va->end);
            removed_b += n.bytes; nremoved++;
            print_region(json, &j, "removed", &a.im, va, va->end - va->start, 0, n);
            i++;
        } else {
            delta n = stored_in(&b, vb->start, vb->end);
            added_b += n.bytes; nadded++;
            print_region(json, &j, "added", &b.im, vb, 0, vb->end - vb->start, n);
            k++;
        }
    }
    if (json) {
        cj_arr_end(&j);
        cj_obj(&j, "total");
        cj_u64(&j, "changed_bytes", total);
        cj_u64(&j, "changed_pages", tpages);
        cj_u64(&j, "regions_changed", nchanged);
        cj_u64(&j, "regions_same", nsame);
        cj_u64(&j, "regions_added", nadded);
        cj_u64(&j, "added_bytes", added_b);
        cj_u64(&j, "regions_removed", nremoved);
        cj_u64(&j, "removed_bytes", removed_b);
        cj_obj_end(&j);
        cj_obj_end(&j);
        cj_end(&j);
    } else {
        char h1[32], h2[32], h3[32];
        printf("total: %llu bytes changed (%s, in %llu pages) in %u of %u common regions; "
               "%u added (%s stored), %u removed (%s stored)\n",
               (unsigned long long)total, ck_human(total, h1), (unsigned long long)tpages,
               nchanged, nchanged + nsame,
               nadded, ck_human(added_b, h2), nremoved, ck_human(removed_b, h3));
    }
    rc = (a.failed || b.failed) ? EX_FAIL : EX_OK;
out:
    free(oa);
    free(ob);
    free(a.buf);
    free(b.buf);
    if (a.im.r) ck_image_close(&a.im);
    if (b.im.r) ck_image_close(&b.im);
    free(pa);
    free(pb);
    fflush(stdout);
    return rc;
}
