/*
 * test_ckdir.c - checkpoint directory layout (format/ckdir.c).
 *
 * Files written here only need to look like checkpoints to ckdir_looks_valid
 * (magic at the start, a footer with the right size at the end); the format
 * library itself is tested elsewhere.
 */
#include "format/ckdir.h"
#include "format/ckf.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256];

static void path_in(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", root, rel);
}

/* Writes a file that passes ckdir_looks_valid (valid != 0) or fails it. */
static void write_fake(int dirfd, const char *name, int valid)
{
    char buf[256];
    ckf_footer f;
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    memset(buf, 0, sizeof buf);
    memcpy(buf, CKF_MAGIC, 8);
    memset(&f, 0, sizeof f);
    memcpy(f.magic, CKF_FOOTER_MAGIC, 8);
    f.file_size = sizeof buf + sizeof f;
    if (!valid) f.file_size++;
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf ||
        write(fd, &f, sizeof f) != (ssize_t)sizeof f)
        abort();
    close(fd);
}

static int exists(int dirfd, const char *name)
{
    return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static int dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;     /* reaped: no process has it (until the pid wraps) */
}

static void test_names(void)
{
    char b[CKDIR_NAME_MAX];
    uint32_t s = 0, p = 0;
    TAP_OK(ckdir_format_name(b, sizeof b, CKDIR_FINAL, 3, 4242) > 0 &&
           strcmp(b, "ckpt-000003-4242.ckpt") == 0, "final name: %s", b);
    TAP_OK(ckdir_format_name(b, sizeof b, CKDIR_TEMP, 3, 4242) > 0 &&
           strcmp(b, ".ckpt-000003-4242.tmp") == 0, "temp name: %s", b);
    TAP_OK(ckdir_format_name(b, sizeof b, CKDIR_LINKTMP, 0, 7) > 0 &&
           strcmp(b, ".latest-7.tmp") == 0, "link temp name: %s", b);
    TAP_OK(ckdir_format_name(b, sizeof b, CKDIR_FINAL, 1234567, 1) > 0 &&
           strcmp(b, "ckpt-1234567-1.ckpt") == 0, "seq wider than 6 digits: %s", b);
    TAP_OK(ckdir_format_name(b, 10, CKDIR_FINAL, 3, 4242) == -ENAMETOOLONG,
           "short buffer refused");
    TAP_OK(ckdir_parse_name("ckpt-000003-4242.ckpt", &s, &p) == CKDIR_FINAL &&
           s == 3 && p == 4242, "parse final");
    TAP_OK(ckdir_parse_name(".ckpt-000010-1.tmp", &s, &p) == CKDIR_TEMP && s == 10 && p == 1,
           "parse temp");
    TAP_OK(ckdir_parse_name(".latest-99.tmp", &s, &p) == CKDIR_LINKTMP && p == 99,
           "parse link temp");
    static const char *bad[] = { "ckpt-3-4242.ckpt", "ckpt-0000003-4242.ckpt",
        "ckpt-000003-04242.ckpt", "ckpt-000003-4242.ckpt~", "ckpt-000003--4242.ckpt",
        "ckpt-000003-.ckpt", "latest", "ckpt-000003-4242.tmp", ".ckpt-000003-4242.ckpt",
        "ckpt-99999999999-1.ckpt", "ckpt-+00003-1.ckpt", "" };
    int allbad = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ckdir_parse_name(bad[i], NULL, NULL) != CKDIR_OTHER) {
            allbad = 0;
            printf("# accepted: '%s'\n", bad[i]);
        }
    TAP_OK(allbad, "non-canonical names are not ours");
}

static void test_prepare(void)
{
    char p[512];
    struct stat st;
    int fd;

    path_in(p, sizeof p, "a/b//c/");
    fd = ckdir_prepare(p);
    TAP_OK(fd >= 0, "prepare creates nested directories (%d)", fd);
    if (fd >= 0) close(fd);
    path_in(p, sizeof p, "a/b/c");
    memset(&st, 0, sizeof st);
    stat(p, &st);
    TAP_OK(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
           "created with mode 0700 (%o)", st.st_mode & 0777);
    path_in(p, sizeof p, "a");
    TAP_OK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700, "parents too");

    path_in(p, sizeof p, "existing");
    mkdir(p, 0755);
    fd = ckdir_prepare(p);
    TAP_OK(fd >= 0 && stat(p, &st) == 0 && (st.st_mode & 0777) == 0755,
           "existing directory accepted and its mode kept");
    if (fd >= 0) close(fd);

    path_in(p, sizeof p, "plainfile");
    close(open(p, O_WRONLY | O_CREAT, 0600));
    TAP_OK(ckdir_prepare(p) == -ENOTDIR, "a regular file is refused");
    path_in(p, sizeof p, "plainfile/sub");
    TAP_OK(ckdir_prepare(p) == -ENOTDIR, "a file in the path is refused");
    TAP_OK(ckdir_prepare("") == -EINVAL, "empty path refused");

    path_in(p, sizeof p, "link");
    char target[512];
    path_in(target, sizeof target, "existing");
    symlink(target, p);
    fd = ckdir_prepare(p);
    TAP_OK(fd >= 0, "symlink to a directory accepted");
    if (fd >= 0) close(fd);
}

static void test_commit(void)
{
    char p[512], name[CKDIR_NAME_MAX];
    ckdir_txn t;
    struct stat st;
    uint32_t s, pid;
    int dfd, r;

    path_in(p, sizeof p, "commit");
    dfd = ckdir_prepare(p);
    TAP_OK(ckdir_next_seq(dfd) == 1, "empty directory: next seq 1");
    TAP_OK(ckdir_read_latest(dfd, name, sizeof name, NULL, NULL) == -ENOENT, "no latest yet");

    r = ckdir_begin(dfd, 1, 4242, &t);
    TAP_OK(r == 0 && t.fd >= 0, "begin");
    TAP_OK(fstat(t.fd, &st) == 0 && (st.st_mode & 0777) == 0600, "temp file mode 0600");
    TAP_OK(exists(dfd, ".ckpt-000001-4242.tmp"), "temp file exists under its dot name");
    TAP_OK(ckdir_next_seq(dfd) == 2, "a temp counts for next seq");
    write(t.fd, "x", 1);
    r = ckdir_commit(&t);
    TAP_OK(r == 0, "commit (%d)", r);
    TAP_OK(!exists(dfd, ".ckpt-000001-4242.tmp") && exists(dfd, "ckpt-000001-4242.ckpt"),
           "renamed to the final name");
    TAP_OK(ckdir_read_latest(dfd, name, sizeof name, &s, &pid) == 0 &&
           strcmp(name, "ckpt-000001-4242.ckpt") == 0 && s == 1 && pid == 4242,
           "latest points to it (%s)", name);
    TAP_OK(t.fd == -1 && ckdir_abort(&t) == 0 && exists(dfd, "ckpt-000001-4242.ckpt"),
           "abort after commit does nothing");
    TAP_OK(!exists(dfd, ".latest-4242.tmp"), "no link temp left");

    TAP_OK(ckdir_begin(dfd, 1, 4242, &t) == -EEXIST, "begin refuses an existing final name");

    r = ckdir_begin(dfd, 2, 4242, &t);
    TAP_OK(r == 0, "second begin");
    TAP_OK(ckdir_begin(dfd, 2, 4242, &(ckdir_txn){0}) == -EEXIST, "same temp twice: EEXIST");
    ckdir_abort(&t);
    TAP_OK(!exists(dfd, ".ckpt-000002-4242.tmp"), "abort removes the temp");
    TAP_OK(ckdir_read_latest(dfd, name, sizeof name, NULL, NULL) == 0 &&
           strcmp(name, "ckpt-000001-4242.ckpt") == 0, "abort leaves latest alone");
    TAP_OK(ckdir_abort(&t) == 0, "abort twice is harmless");

    r = ckdir_begin(dfd, 3, 4242, &t);
    r = r ? r : ckdir_commit(&t);
    TAP_OK(r == 0 && ckdir_read_latest(dfd, name, sizeof name, &s, NULL) == 0 && s == 3,
           "latest moves to the newest commit");
    TAP_OK(ckdir_next_seq(dfd) == 4, "next seq after 1 and 3 is 4");

    unlinkat(dfd, "latest", 0);
    symlinkat("/etc/passwd", dfd, "latest");
    TAP_OK(ckdir_read_latest(dfd, name, sizeof name, NULL, NULL) == -EINVAL,
           "latest with a foreign target is refused");
    close(dfd);
}

static void test_clean(void)
{
    char p[512];
    int dfd, n;
    int dead = dead_pid();
    uint32_t me = (uint32_t)getpid(), parent = (uint32_t)getppid();
    char n1[64], n2[64], n3[64], n4[64], n5[64], n6[64];

    path_in(p, sizeof p, "clean");
    dfd = ckdir_prepare(p);
    ckdir_format_name(n1, 64, CKDIR_TEMP, 1, (uint32_t)dead);    /* dead writer */
    ckdir_format_name(n2, 64, CKDIR_TEMP, 2, me);                /* ours, older */
    ckdir_format_name(n3, 64, CKDIR_TEMP, 5, me);                /* ours, current */
    ckdir_format_name(n4, 64, CKDIR_TEMP, 3, parent);            /* live other writer */
    ckdir_format_name(n5, 64, CKDIR_LINKTMP, 0, (uint32_t)dead);
    ckdir_format_name(n6, 64, CKDIR_FINAL, 1, (uint32_t)dead);
    const char *all[] = { n1, n2, n3, n4, n5, n6, "unrelated.tmp" };
    for (size_t i = 0; i < 7; i++) write_fake(dfd, all[i], 1);

    n = ckdir_clean_temps(dfd, me, 5, 0, NULL, NULL);
    TAP_OK(n == 3, "clean_temps removed 3 (%d)", n);
    TAP_OK(!exists(dfd, n1) && !exists(dfd, n2) && !exists(dfd, n5),
           "dead writer's temps and our older temp removed");
    TAP_OK(exists(dfd, n3) && exists(dfd, n4), "current temp and a live writer's kept");
    TAP_OK(exists(dfd, n6) && exists(dfd, "unrelated.tmp"),
           "complete checkpoints and foreign files untouched");
    n = ckdir_clean_temps(dfd, 0, 5, CKDIR_CLEAN_ALL_OLDER, NULL, NULL);
    TAP_OK(n == 1 && !exists(dfd, n4) && exists(dfd, n3),
           "ALL_OLDER removes a live writer's older temp");
    close(dfd);
}

struct gcrec { int n; char names[16][CKDIR_NAME_MAX]; };
static void on_deleted(void *arg, const char *name, uint32_t seq, uint32_t pid)
{
    struct gcrec *g = arg;
    if (g->n < 16) snprintf(g->names[g->n++], CKDIR_NAME_MAX, "%s", name);
}

static void make_set(int dfd, int n, const int *valid)
{
    char name[64];
    for (int i = 1; i <= n; i++) {
        ckdir_format_name(name, sizeof name, CKDIR_FINAL, (uint32_t)i, 100);
        write_fake(dfd, name, valid ? valid[i - 1] : 1);
    }
}

static void set_latest(int dfd, uint32_t seq)
{
    char name[64];
    ckdir_format_name(name, sizeof name, CKDIR_FINAL, seq, 100);
    unlinkat(dfd, "latest", 0);
    symlinkat(name, dfd, "latest");
}

static int count_final(int dfd)
{
    int n = 0;
    char name[64];
    for (uint32_t i = 1; i <= 10; i++) {
        ckdir_format_name(name, sizeof name, CKDIR_FINAL, i, 100);
        n += exists(dfd, name);
    }
    return n;
}

static void test_gc(void)
{
    char p[512];
    struct gcrec rec = { 0 };
    ckdir_gc_ops ops = { NULL, on_deleted, &rec };
    int dfd, n;

    path_in(p, sizeof p, "gc1");
    dfd = ckdir_prepare(p);
    make_set(dfd, 5, NULL);
    set_latest(dfd, 5);
    TAP_OK(ckdir_gc(dfd, 0, &ops) == 0 && count_final(dfd) == 5, "keep 0 keeps all");
    TAP_OK(ckdir_gc(dfd, 9, &ops) == 0 && count_final(dfd) == 5, "keep > count keeps all");
    n = ckdir_gc(dfd, 2, &ops);
    TAP_OK(n == 3 && count_final(dfd) == 2 && exists(dfd, "ckpt-000005-100.ckpt") &&
           exists(dfd, "ckpt-000004-100.ckpt"), "keep 2 of 5 deletes the 3 oldest (%d)", n);
    TAP_OK(rec.n == 3, "deleted callback called for each (%d)", rec.n);
    close(dfd);

    path_in(p, sizeof p, "gc2");
    dfd = ckdir_prepare(p);
    make_set(dfd, 5, NULL);
    set_latest(dfd, 2);      /* e.g. a restore went back to an older one */
    n = ckdir_gc(dfd, 1, NULL);
    TAP_OK(n == 3 && exists(dfd, "ckpt-000005-100.ckpt") && exists(dfd, "ckpt-000002-100.ckpt"),
           "the latest target is never deleted (%d)", n);
    close(dfd);

    path_in(p, sizeof p, "gc3");
    dfd = ckdir_prepare(p);
    static const int valid[] = { 1, 1, 1, 0, 0 };
    make_set(dfd, 5, valid);
    set_latest(dfd, 5);
    n = ckdir_gc(dfd, 2, NULL);
    TAP_OK(n == 2 && exists(dfd, "ckpt-000003-100.ckpt") && !exists(dfd, "ckpt-000002-100.ckpt"),
           "newest valid checkpoint kept when the newest ones are corrupt (%d)", n);
    close(dfd);

    path_in(p, sizeof p, "gc4");
    dfd = ckdir_prepare(p);
    static const int none[] = { 0, 0, 0 };
    make_set(dfd, 3, none);
    n = ckdir_gc(dfd, 1, NULL);
    TAP_OK(n == 2 && exists(dfd, "ckpt-000003-100.ckpt"), "no valid one: keep count still holds");
    TAP_OK(ckdir_looks_valid(dfd, "ckpt-000003-100.ckpt") == 0, "looks_valid rejects bad footer");
    write_fake(dfd, "ckpt-000009-100.ckpt", 1);
    TAP_OK(ckdir_looks_valid(dfd, "ckpt-000009-100.ckpt") == 1, "looks_valid accepts");
    TAP_OK(ckdir_looks_valid(dfd, "nonexistent") == -ENOENT, "looks_valid: -ENOENT");
    close(dfd);
}

/* As an unprivileged user, prepare must fail cleanly where it may not create. */
static void test_unprivileged(void)
{
    char p[512];
    if (getuid() != 0) {
        TAP_OK(1, "# skip unprivileged check needs root to switch user");
        return;
    }
    path_in(p, sizeof p, "rootonly");
    mkdir(p, 0700);
    pid_t c = fork();
    if (c == 0) {
        char q[600];
        if (setgid(65534) || setuid(65534)) _exit(3);
        snprintf(q, sizeof q, "%s/sub", p);
        _exit(ckdir_prepare(q) == -EACCES ? 0 : 1);
    }
    int st = 0;
    waitpid(c, &st, 0);
    TAP_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged prepare: -EACCES");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_ckdir.XXXXXX");
    if (!mkdtemp(root)) { perror("mkdtemp"); return 1; }
    chmod(root, 0711);   /* so the unprivileged child can reach its subdirectory */
    umask(022);
    test_names();
    test_prepare();
    test_commit();
    test_clean();
    test_gc();
    test_unprivileged();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("# could not remove %s\n", root);
    return tap_done();
}
