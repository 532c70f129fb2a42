/*
 * cmd_verify.c - `ckpt verify FILE|DIR...`: checks every checksum.
 *
 * For each file: header, footer and index (ckf_reader_open), then every chunk's
 * payload checksum, decompression and content hash (ckf_reader_verify).  A
 * directory means every complete checkpoint in it, oldest first.  Incremental
 * checkpoints are verified on their own: blocks kept in the parent are checked by
 * verifying the parent.
 */
#include "tools/tool.h"
#include "format/ckdir.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ckpt verify FILE|DIR...\n"
    "\n"
    "Checks every checksum of a checkpoint: file header, footer, index, and for every\n"
    "chunk the payload checksum, decompression and content hash.  Prints 'FILE: ok' or\n"
    "'FILE: CKF_E_NAME in chunk N (TYPE, key K, offset O): message'.  A directory means every complete\n"
    "checkpoint in it.\n"
    "\n"
    "  -q, --quiet  print only failures\n"
    "  -h, --help   this text\n"
    "\n"
    "Exit: 0 if every file verifies, 1 otherwise, 2 usage.\n";

static int quiet;

static int verify_file(const char *path)
{
    ckf_reader *r = NULL;
    size_t bad = (size_t)-1;
    ck_progress pr;
    int e = ckf_reader_open_path(&r, path, NULL);
    if (e < 0) {
        if (e == -CKF_E_IO)
            printf("%s: %s: %s\n", path, ckf_errname(e), strerror(ckf_last_errno()));
        else
            printf("%s: %s: %s\n", path, ckf_errname(e), ckf_strerror(e));
        return EX_FAIL;
    }
    ck_progress_start(&pr, "verify", ckf_reader_file_size(r));
    e = ckf_reader_verify(r, &bad, ck_progress_cb, &pr);
    ck_progress_end(&pr);
    if (e == 0) {
        if (!quiet) printf("%s: ok\n", path);
        ckf_reader_close(r);
        return EX_OK;
    }
    if (e == -CKF_E_UNKNOWN_CRITICAL && bad < ckf_reader_count(r)) {
        /* Every checksum holds: the file is intact, but written by a newer ckpt. */
        if (!quiet)
            printf("%s: ok (chunk %zu has type 0x%04x, unknown to this version: "
                   "this ckpt-restore will refuse it)\n", path, bad,
                   ckf_reader_entry(r, bad)->type);
        ckf_reader_close(r);
        return EX_OK;
    }
    if (bad < ckf_reader_count(r)) {
        const ckf_index_entry *en = ckf_reader_entry(r, bad);
        printf("%s: %s in chunk %zu (%s, key 0x%llx, offset %llu): %s\n", path,
               ckf_errname(e), bad, ck_chunk_type_name(en->type),
               (unsigned long long)en->key, (unsigned long long)en->offset, ckf_strerror(e));
    } else {
        printf("%s: %s: %s\n", path, ckf_errname(e), ckf_strerror(e));
    }
    ckf_reader_close(r);
    return EX_FAIL;
}

struct dlist { char **names; size_t n, cap; };

static int collect(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    struct dlist *l = arg;
    if (kind != CKDIR_FINAL) return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nn = realloc(l->names, nc * sizeof *nn);
        if (!nn) return -ENOMEM;
        l->names = nn;
        l->cap = nc;
    }
    l->names[l->n] = strdup(name);
    if (!l->names[l->n]) return -ENOMEM;
    l->n++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    uint32_t sa = 0, pa = 0, sb = 0, pb = 0;
    ckdir_parse_name(*(char *const *)a, &sa, &pa);
    ckdir_parse_name(*(char *const *)b, &sb, &pb);
    if (sa != sb) return sa < sb ? -1 : 1;
    return pa < pb ? -1 : pa > pb;
}

static int verify_dir(const char *dir)
{
    struct dlist l = { 0 };
    int dfd = ckdir_open(dir), rc = EX_OK;
    if (dfd < 0) { ck_err("%s: %s", dir, strerror(-dfd)); return EX_FAIL; }
    int r = ckdir_walk(dfd, collect, &l);
    close(dfd);
    if (r < 0) { ck_err("%s: %s", dir, strerror(-r)); rc = EX_FAIL; goto out; }
    if (l.n == 0) { ck_err("%s: no checkpoint in this directory", dir); rc = EX_FAIL; goto out; }
    qsort(l.names, l.n, sizeof *l.names, cmp_name);
    for (size_t i = 0; i < l.n; i++) {
        size_t n = strlen(dir) + strlen(l.names[i]) + 2;
        char *p = malloc(n);
        if (!p) { rc = EX_FAIL; break; }
        snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", l.names[i]);
        if (verify_file(p) != EX_OK) rc = EX_FAIL;
        free(p);
    }
out:
    for (size_t i = 0; i < l.n; i++) free(l.names[i]);
    free(l.names);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    int c, rc = EX_OK;
    if (ck_help_requested(argc, argv, usage_text)) return EX_OK;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (c == 'q') quiet = 1;
        else return ck_opt_err(argv);
    }
    if (optind >= argc) return ck_usage_err("expected FILE or DIR");
    for (int i = optind; i < argc; i++) {
        int r = ck_is_dir(argv[i]) ? verify_dir(argv[i]) : verify_file(argv[i]);
        if (r != EX_OK) rc = EX_FAIL;
    }
    fflush(stdout);
    return rc;
}
