/*
 * cmd_ls.c - `ckpt ls DIR [--json] [--verify]`: the checkpoints of a directory.
 *
 * Status of each entry: "valid" (header, footer and index check out; with
 * --verify every chunk too), "corrupt" (they do not; the error name is shown),
 * "incomplete" (a temporary: being written now, or left by a crash).
 */
#include "tools/tool.h"
#include "format/ckdir.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ckpt ls DIR [--json] [--verify]\n"
    "\n"
    "Lists the checkpoints of a directory, oldest first: sequence number, pid, time\n"
    "taken (UTC), size, status (valid / corrupt / incomplete) and which one 'latest'\n"
    "points to.\n"
    "\n"
    "  --json       machine-readable output\n"
    "  --verify     check every chunk's checksum too (reads every byte)\n"
    "  -h, --help   this text\n"
    "\n"
    "Exit: 0 ok, 1 the directory cannot be read, 2 usage.\n";

typedef struct ent {
    char name[CKDIR_NAME_MAX];
    int kind;
    uint32_t seq, pid;
    uint64_t size, time_ns;
    int err;          /* 0 valid, else -CKF_E_* */
    size_t bad;       /* failing chunk with --verify */
} ent;

struct elist { ent *v; size_t n, cap; };

static int collect(void *arg, const char *name, int kind, uint32_t seq, uint32_t pid)
{
    struct elist *l = arg;
    if (kind != CKDIR_FINAL && kind != CKDIR_TEMP) return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        ent *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return -ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    ent *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kind = kind;
    e->seq = seq;
    e->pid = pid;
    e->bad = (size_t)-1;
    return 0;
}

static int cmp_ent(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
    return x->kind - y->kind;
}

static void probe(int dfd, ent *e, int full)
{
    struct stat st;
    ckf_reader *r = NULL;
    if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0) e->size = (uint64_t)st.st_size;
    if (e->kind != CKDIR_FINAL) return;
    int fd = openat(dfd, e->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { e->err = -CKF_E_IO; return; }
    e->err = ckf_reader_open_fd(&r, fd, NULL);
    if (e->err < 0) { close(fd); return; }
    e->time_ns = ckf_reader_header(r)->created_ns;
    /* The checkpoint instant is in the process chunk; the header time is when the
     * writer started, a little later. */
    long pi = ckf_reader_find(r, CKF_T_PROCESS, 0);
    if (pi >= 0) {
        void *buf = NULL;
        long n = ckf_reader_read_alloc(r, (size_t)pi, &buf);
        if (n >= (long)sizeof(ckc_process))
            e->time_ns = ((const ckc_process *)buf)->realtime_ns;
        else if (n < 0)
            e->err = (int)n, e->bad = (size_t)pi;
        if (buf) ckf_reader_free_buf(r, buf);
    }
    if (full && e->err == 0) {
        ck_progress pr;
        ck_progress_start(&pr, e->name, ckf_reader_file_size(r));
        e->err = ckf_reader_verify(r, &e->bad, ck_progress_cb, &pr);
        ck_progress_end(&pr);
    }
    ckf_reader_close(r);
    close(fd);
}

static const char *status(const ent *e)
{
    if (e->kind == CKDIR_TEMP) return "incomplete";
    return e->err ? "corrupt" : "valid";
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "verify", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' }, { 0 } };
    int c, json = 0, full = 0, dfd, r, has_latest;
    char latest[CKDIR_NAME_MAX] = "";
    struct elist l = { 0 };
    if (ck_help_requested(argc, argv, usage_text)) return EX_OK;
    while ((c = getopt_long(argc, argv, "jvh", opts, NULL)) != -1) {
        if (c == 'j') json = 1;
        else if (c == 'v') full = 1;
        else return ck_opt_err(argv);
    }
    if (optind + 1 != argc) return ck_usage_err("expected one DIR");
    const char *dir = argv[optind];
    dfd = ckdir_open(dir);
    if (dfd < 0) { ck_err("%s: %s", dir, strerror(-dfd)); return EX_FAIL; }
    r = ckdir_walk(dfd, collect, &l);
    if (r < 0) { ck_err("%s: %s", dir, strerror(-r)); close(dfd); free(l.v); return EX_FAIL; }
    has_latest = ckdir_read_latest(dfd, latest, sizeof latest, NULL, NULL) == 0;
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_ent);
    for (size_t i = 0; i < l.n; i++) probe(dfd, &l.v[i], full);
    close(dfd);

    if (json) {
        ck_json j;
        char t[40];
        cj_init(&j, stdout);
        cj_obj(&j, NULL);
        cj_str(&j, "dir", dir);
        cj_str(&j, "latest", has_latest ? latest : NULL);
        cj_arr(&j, "checkpoints");
        for (size_t i = 0; i < l.n; i++) {
            const ent *e = &l.v[i];
            cj_obj(&j, NULL);
            cj_str(&j, "name", e->name);
            cj_u64(&j, "seq", e->seq);
            cj_u64(&j, "pid", e->pid);
            if (e->time_ns) { cj_str(&j, "time", ck_time_iso(e->time_ns, t)); cj_u64(&j, "realtime_ns", e->time_ns); }
            else { cj_null(&j, "time"); cj_null(&j, "realtime_ns"); }
            cj_u64(&j, "size", e->size);
            cj_str(&j, "status", status(e));
            if (e->err) cj_str(&j, "error", ckf_errname(e->err));
            else cj_null(&j, "error");
            cj_bool(&j, "latest", has_latest && strcmp(latest, e->name) == 0);
            cj_obj_end(&j);
        }
        cj_arr_end(&j);
        cj_obj_end(&j);
        cj_end(&j);
    } else {
        printf("%8s %8s  %-24s %10s  %-10s  %s\n", "SEQ", "PID", "TIME (UTC)", "SIZE",
               "STATUS", "NAME");
        for (size_t i = 0; i < l.n; i++) {
            const ent *e = &l.v[i];
            char t[40], h[32];
            printf("%8u %8u  %-24s %10s  %-10s  %s", e->seq, e->pid,
                   e->time_ns ? ck_time_iso(e->time_ns, t) : "-", ck_human(e->size, h),
                   status(e), e->name);
            if (has_latest && strcmp(latest, e->name) == 0) fputs("  <- latest", stdout);
            if (e->err) printf("  (%s)", ckf_errname(e->err));
            putchar('\n');
        }
        if (!has_latest && l.n) printf("(no 'latest' link)\n");
    }
    int missing = has_latest;
    for (size_t i = 0; i < l.n && missing; i++)
        if (strcmp(l.v[i].name, latest) == 0) missing = 0;
    if (missing) ck_err("%s: 'latest' points to %s, which does not exist", dir, latest);
    free(l.v);
    fflush(stdout);
    return EX_OK;
}
