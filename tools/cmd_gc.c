/*
 * cmd_gc.c - `ckpt gc DIR --keep N`: deletes old checkpoints (ckdir_gc).
 *
 * Validity (for "never delete the newest valid checkpoint") is judged by the
 * format library (header, footer and index checksums), not only by the magic
 * numbers ckdir_looks_valid checks.  Temporaries of writers that no longer
 * exist are removed too.
 */
#include "tools/tool.h"
#include "format/ckdir.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ckpt gc DIR --keep N [--dry-run]\n"
    "\n"
    "Deletes old checkpoints of DIR, keeping the N newest, the one 'latest' points to,\n"
    "and the newest valid one (so corrupt recent files never cost the last good\n"
    "checkpoint).  --keep 0 keeps everything.  Also removes temporaries left by\n"
    "writers that no longer run.  Prints each file it deletes.\n"
    "\n"
    "  -k, --keep N   how many of the newest checkpoints to keep (required)\n"
    "  -n, --dry-run  print what would be deleted, delete nothing\n"
    "  -h, --help     this text\n"
    "\n"
    "Exit: 0 ok, 1 failure, 2 usage.\n";

static int valid_cb(void *arg, int dirfd, const char *name)
{
    ckf_reader *r = NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    int e = ckf_reader_open_fd(&r, fd, NULL);
    if (e == 0) ckf_reader_close(r);
    close(fd);
    return e == 0;
}

static void deleted_cb(void *arg, const char *name, uint32_t seq, uint32_t pid)
{
    printf("deleted %s/%s\n", (const char *)arg, name);
}

static void removed_cb(void *arg, const char *name)
{
    printf("removed %s/%s (temporary of a writer that is gone)\n", (const char *)arg, name);
}

/* Dry run: the same decision on a copy of the rules, without unlinking. */
struct dry { int dfd; unsigned keep; uint64_t thr, latest, valid; int hl, hv; const char *dir; };

static int dry_max_below(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    uint64_t *v = arg;   /* v[0] = below, v[1] = best, v[2] = found */
    uint64_t k = ((uint64_t)seq << 32) | pid;
    if (kind == CKDIR_FINAL && k < v[0] && (!v[2] || k > v[1])) { v[1] = k; v[2] = 1; }
    return 0;
}

static int dry_print(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    struct dry *d = arg;
    uint64_t k = ((uint64_t)seq << 32) | pid;
    if (kind != CKDIR_FINAL || k >= d->thr || (d->hl && k == d->latest) || (d->hv && k == d->valid))
        return 0;
    printf("would delete %s/%s\n", d->dir, name);
    return 0;
}

static int dry_run(int dfd, const char *dir, unsigned keep)
{
    struct dry d = { dfd, keep, 0, 0, 0, 0, 0, dir };
    uint64_t v[3];
    char name[CKDIR_NAME_MAX];
    uint32_t s, p;
    uint64_t k = UINT64_MAX;
    if (keep == 0) return 0;
    for (unsigned i = 0; i < keep; i++) {
        v[0] = k; v[1] = 0; v[2] = 0;
        if (ckdir_walk(dfd, dry_max_below, v) < 0) return -1;
        if (!v[2]) return 0;
        k = d.thr = v[1];
    }
    if (ckdir_read_latest(dfd, name, sizeof name, &s, &p) == 0) {
        d.latest = ((uint64_t)s << 32) | p;
        d.hl = 1;
    }
    for (k = UINT64_MAX;;) {
        v[0] = k; v[1] = 0; v[2] = 0;
        if (ckdir_walk(dfd, dry_max_below, v) < 0 || !v[2]) break;
        k = v[1];
        ckdir_format_name(name, sizeof name, CKDIR_FINAL, (uint32_t)(k >> 32), (uint32_t)k);
        if (valid_cb(NULL, dfd, name)) { d.valid = k; d.hv = 1; break; }
    }
    return ckdir_walk(dfd, dry_print, &d);
}

int cmd_gc(int argc, char **argv)
{
    static const struct option opts[] = {
        { "keep", required_argument, NULL, 'k' }, { "dry-run", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' }, { 0 } };
    int c, have_keep = 0, dry = 0;
    uint64_t keep = 0;
    if (ck_help_requested(argc, argv, usage_text)) return EX_OK;
    while ((c = getopt_long(argc, argv, "k:nh", opts, NULL)) != -1) {
        if (c == 'k') {
            if (ck_parse_u64(optarg, &keep) < 0 || keep > 1000000)
                return ck_usage_err("--keep: not a count: '%s'", optarg);
            have_keep = 1;
        } else if (c == 'n') {
            dry = 1;
        } else {
            return ck_opt_err(argv);
        }
    }
    if (optind + 1 != argc) return ck_usage_err("expected one DIR");
    if (!have_keep) return ck_usage_err("--keep N is required");
    const char *dir = argv[optind];
    int dfd = ckdir_open(dir);
    if (dfd < 0) { ck_err("%s: %s", dir, strerror(-dfd)); return EX_FAIL; }
    if (dry) {
        int r = dry_run(dfd, dir, (unsigned)keep);
        close(dfd);
        return r < 0 ? EX_FAIL : EX_OK;
    }
    int t = ckdir_clean_temps(dfd, 0, 0, 0, removed_cb, (void *)dir);
    ckdir_gc_ops ops = { valid_cb, deleted_cb, (void *)dir };
    int r = ckdir_gc(dfd, (unsigned)keep, &ops);
    close(dfd);
    fflush(stdout);
    if (t < 0) { ck_err("%s: removing temporaries: %s", dir, strerror(-t)); return EX_FAIL; }
    if (r < 0) { ck_err("%s: %s", dir, strerror(-r)); return EX_FAIL; }
    return EX_OK;
}
