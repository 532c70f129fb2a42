/*
 * cmd_signal.c - `ckpt signal PID [--wait]`: asks a running program for a
 * checkpoint.
 *
 * The trigger signal and the checkpoint directory are read from the program's
 * own environment (/proc/PID/environ: CKPT_SIGNAL, CKPT_DIR), the way libckpt
 * read them at start-up.  A relative CKPT_DIR is taken relative to the
 * program's current directory (/proc/PID/cwd); `ckpt run` always passes an
 * absolute one.
 *
 * --wait relies on the directory protocol of format/ckdir.h: `latest` is
 * renamed into place only after the checkpoint it names has been fsync()ed, so
 * "latest now names a file it did not name before" means "a new checkpoint is
 * durable".  The tool then verifies that file (every checksum, unless
 * --no-verify) before printing its path.
 *
 * Safety: the default action of SIGUSR1 is to terminate, so the signal is only
 * sent if libckpt is mapped into the process (/proc/PID/maps), unless --force.
 */
#include "tools/tool.h"
#include "format/ckdir.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ckpt signal PID [--wait] [--timeout S] [--no-verify] [--force]\n"
    "\n"
    "Sends the checkpoint trigger signal to process PID (CKPT_SIGNAL from its\n"
    "environment, default SIGUSR1).  With --wait, returns once a new checkpoint is\n"
    "durable in its checkpoint directory (CKPT_DIR, default ./ckpt relative to the\n"
    "process's working directory) and has been verified, and prints its path.\n"
    "\n"
    "  -w, --wait         wait for the new checkpoint\n"
    "  -t, --timeout S    give up after S seconds (default 300; 0 = never)\n"
    "      --no-verify    with --wait: do not read the new file back to verify it\n"
    "  -f, --force        signal even if libckpt does not seem loaded in PID\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit: 0 ok, 1 failure (or the new checkpoint does not verify), 2 usage,\n"
    "      3 timeout, 4 no such process or it died while waiting.\n";

/* Reads /proc/PID/<what> into a malloc'd buffer (NUL-terminated); NULL + errno. */
static char *read_proc(int pid, const char *what, size_t *len)
{
    char path[64];
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !buf) { int e = errno; free(buf); if (fd >= 0) close(fd); errno = e; return NULL; }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); close(fd); errno = ENOMEM; return NULL; }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf); close(fd); errno = e;
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static const char *env_get(const char *env, size_t len, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < len;) {
        const char *e = env + i;
        size_t l = strnlen(e, len - i);
        if (l > kl && memcmp(e, key, kl) == 0 && e[kl] == '=') return e + kl + 1;
        i += l + 1;
    }
    return NULL;
}

/* 1 alive, 0 gone (or a zombie: it will not write a checkpoint any more). */
static int alive(int pid)
{
    char path[64], buf[512];
    if (kill(pid, 0) < 0 && errno == ESRCH) return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno != ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 1;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');    /* comm may hold spaces and parens */
    if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) return 0;
    return 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int verify(const char *path)
{
    ckf_reader *r = NULL;
    size_t bad = (size_t)-1;
    int e = ckf_reader_open_path(&r, path, NULL);
    if (e == 0) {
        ck_progress pr;
        ck_progress_start(&pr, "verify", ckf_reader_file_size(r));
        e = ckf_reader_verify(r, &bad, ck_progress_cb, &pr);
        ck_progress_end(&pr);
        ckf_reader_close(r);
    }
    if (e < 0) {
        if (bad != (size_t)-1) ck_err("%s: new checkpoint does not verify: %s in chunk %zu", path,
                                      ckf_errname(e), bad);
        else ck_err("%s: new checkpoint does not verify: %s", path, ckf_errname(e));
        return -1;
    }
    return 0;
}

int cmd_signal(int argc, char **argv)
{
    static const struct option opts[] = {
        { "wait", no_argument, NULL, 'w' }, { "timeout", required_argument, NULL, 't' },
        { "no-verify", no_argument, NULL, 'V' }, { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' }, { 0 } };
    int c, wait = 0, noverify = 0, force = 0, signo = SIGUSR1;
    double timeout = 300;
    uint64_t pid64;
    char sn[24];

    if (ck_help_requested(argc, argv, usage_text)) return EX_OK;
    while ((c = getopt_long(argc, argv, "wt:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'w': wait = 1; break;
        case 't':
            if (ck_parse_seconds(optarg, &timeout) < 0)
                return ck_usage_err("--timeout: not a number of seconds: '%s'", optarg);
            break;
        case 'V': noverify = 1; break;
        case 'f': force = 1; break;
        default: return ck_opt_err(argv);
        }
    }
    if (optind + 1 != argc) return ck_usage_err("expected one PID");
    if (ck_parse_u64(argv[optind], &pid64) < 0 || pid64 < 1 || pid64 > INT_MAX)
        return ck_usage_err("not a process id: '%s'", argv[optind]);
    int pid = (int)pid64;

    size_t elen = 0;
    char *env = read_proc(pid, "environ", &elen);
    if (!env) {
        if (errno == ENOENT || errno == ESRCH) { ck_err("no process %d", pid); return EX_DIED; }
        ck_err("cannot read the environment of process %d: %s", pid, strerror(errno));
        return EX_FAIL;
    }
    const char *es = env_get(env, elen, "CKPT_SIGNAL");
    if (es && *es) {
        signo = ck_parse_signal(es);
        if (signo < 0) {
            ck_err("process %d has CKPT_SIGNAL=%s, which is not a signal", pid, es);
            free(env);
            return EX_FAIL;
        }
    }
    const char *ed = env_get(env, elen, "CKPT_DIR");
    char *dir;
    if (!ed || !*ed) ed = "ckpt";
    if (ed[0] == '/') {
        dir = strdup(ed);
    } else {
        size_t n = strlen(ed) + 32;
        dir = malloc(n);
        if (dir) snprintf(dir, n, "/proc/%d/cwd/%s", pid, ed);
    }
    free(env);
    if (!dir) { ck_err("out of memory"); return EX_FAIL; }

    if (!force) {
        char *maps = read_proc(pid, "maps", NULL);
        int loaded = maps && strstr(maps, "/libckpt.so") != NULL;
        if (maps && !loaded) {
            ck_err("process %d does not have libckpt.so loaded: %s would %s it "
                   "(use --force to send anyway)", pid, ck_signame(signo, sn),
                   signo == SIGUSR1 || signo == SIGUSR2 ? "terminate" : "reach");
            free(maps);
            free(dir);
            return EX_FAIL;
        }
        free(maps);   /* unreadable maps (other user): let kill() decide */
    }

    /* What `latest` names now: the new checkpoint is any other name. */
    char before[CKDIR_NAME_MAX] = "";
    int dfd = ckdir_open(dir);
    if (dfd >= 0) {
        if (ckdir_read_latest(dfd, before, sizeof before, NULL, NULL) < 0) before[0] = '\0';
        close(dfd);
    }

    if (kill(pid, signo) < 0) {
        int e = errno;
        free(dir);
        if (e == ESRCH) { ck_err("no process %d", pid); return EX_DIED; }
        ck_err("cannot signal process %d: %s", pid, strerror(e));
        return EX_FAIL;
    }
    if (!wait) { free(dir); return EX_OK; }

    double start = now_s();
    int rc = EX_FAIL;
    for (;;) {
        char cur[CKDIR_NAME_MAX];
        dfd = ckdir_open(dir);
        if (dfd >= 0) {
            int r = ckdir_read_latest(dfd, cur, sizeof cur, NULL, NULL);
            close(dfd);
            if (r == 0 && strcmp(cur, before) != 0) {
                size_t n = strlen(dir) + strlen(cur) + 2;
                char *p = malloc(n);
                if (!p) break;
                snprintf(p, n, "%s/%s", dir, cur);
                if (noverify || verify(p) == 0) {
                    printf("%s\n", p);
                    rc = EX_OK;
                }
                free(p);
                break;
            }
        }
        if (!alive(pid)) {
            ck_err("process %d exited before a new checkpoint was written", pid);
            rc = EX_DIED;
            break;
        }
        if (timeout > 0 && now_s() - start > timeout) {
            ck_err("no new checkpoint in %s after %g s", dir, timeout);
            rc = EX_TIMEOUT;
            break;
        }
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    free(dir);
    fflush(stdout);
    return rc;
}
