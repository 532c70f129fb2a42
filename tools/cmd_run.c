/*
 * cmd_run.c - `ckpt run [options] -- PROG ARGS...`: runs a program under libckpt.
 *
 * Sets the CKPT_* variables libckpt reads and prepends libckpt.so to
 * LD_PRELOAD, then exec()s the program, so the program keeps the tool's pid
 * (the pid printed in the "trigger" hint is the program's).
 *
 * libckpt.so is found at $CKPT_LIB, else at <dir of this binary>/../lib/libckpt.so
 * (the layout of both the build tree and `make install`).
 */
#include "tools/tool.h"
#include "format/ckdir.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ckpt run [--dir D] [--interval S] [--keep N] [--signal SIG] [--log LEVEL]\n"
    "                -- PROG [ARGS...]\n"
    "\n"
    "Runs PROG with checkpointing enabled (libckpt.so preloaded).  The program keeps\n"
    "this command's pid.  Take a checkpoint with 'kill -USR1 PID' or 'ckpt signal PID'.\n"
    "\n"
    "  -d, --dir D        checkpoint directory (default: $CKPT_DIR, else ./ckpt);\n"
    "                     created with mode 0700; passed on as an absolute path\n"
    "  -i, --interval S   also checkpoint every S seconds (suffix s, m, h; 0 = off)\n"
    "  -k, --keep N       keep only the N newest checkpoints (0 = all)\n"
    "  -s, --signal SIG   trigger signal (default SIGUSR1): USR2, SIGRTMIN+3, 12, ...\n"
    "  -l, --log LEVEL    libckpt log level: error, warn, info, debug\n"
    "  -h, --help         this text\n"
    "\n"
    "Environment: CKPT_LIB overrides the path of libckpt.so.\n"
    "Exit: that of PROG; 2 usage; 1 setup failed; 126 PROG not executable, 127 not found.\n";

static int parse_interval(const char *s, double *out)
{
    char buf[64];
    double mul = 1;
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n + 1);
    switch (buf[n - 1]) {
    case 's': buf[n - 1] = '\0'; break;
    case 'm': mul = 60; buf[n - 1] = '\0'; break;
    case 'h': mul = 3600; buf[n - 1] = '\0'; break;
    }
    if (ck_parse_seconds(buf, out) < 0) return -1;
    *out *= mul;
    return 0;
}

static char *find_lib(void)
{
    const char *env = getenv("CKPT_LIB");
    char exe[PATH_MAX];
    if (env && *env) return strdup(env);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0';
    size_t len = strlen(exe) + sizeof "/../lib/libckpt.so";
    char *p = malloc(len);
    if (!p) return NULL;
    snprintf(p, len, "%s/../lib/libckpt.so", exe);
    /* Canonical path: LD_PRELOAD entries are plain paths, and a clean one reads better. */
    char *real = realpath(p, NULL);
    if (real) { free(p); return real; }
    return p;
}

/* execvp's answer, found before anything is printed: 0, -ENOENT or -EACCES. */
static int find_prog(const char *prog)
{
    if (strchr(prog, '/')) {
        if (access(prog, F_OK) < 0) return -ENOENT;
        return access(prog, X_OK) < 0 || ck_is_dir(prog) ? -EACCES : 0;
    }
    const char *path = getenv("PATH");
    int seen = 0;
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; ) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        char full[PATH_MAX];
        if (dl + strlen(prog) + 2 < sizeof full) {
            snprintf(full, sizeof full, "%.*s%s%s", (int)dl, p, dl ? "/" : "", prog);
            if (access(full, F_OK) == 0) {
                if (access(full, X_OK) == 0 && !ck_is_dir(full)) return 0;
                seen = 1;
            }
        }
        if (!colon) break;
        p = colon + 1;
    }
    return seen ? -EACCES : -ENOENT;
}

static int set_env(const char *k, const char *v)
{
    if (setenv(k, v, 1) < 0) {
        ck_err("setenv %s: %s", k, strerror(errno));
        return -1;
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' }, { "interval", required_argument, NULL, 'i' },
        { "keep", required_argument, NULL, 'k' }, { "signal", required_argument, NULL, 's' },
        { "log", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    const char *dir = NULL, *interval = NULL, *keep = NULL, *sig = NULL, *log = NULL;
    int c, signo = SIGUSR1;
    char buf[64], sn[24];

    /* Options stop at the program name ("+"): its own options are not ours. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0 && argv[i][0] == '-'; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return EX_OK;
        }
    while ((c = getopt_long(argc, argv, "+d:i:k:s:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'i': interval = optarg; break;
        case 'k': keep = optarg; break;
        case 's': sig = optarg; break;
        case 'l': log = optarg; break;
        default: return ck_opt_err(argv);
        }
    }
    if (optind >= argc) return ck_usage_err("no program given (ckpt run [options] -- PROG ARGS...)");
    char **prog = argv + optind;
    int fr = find_prog(prog[0]);
    if (fr < 0) {
        ck_err("cannot run %s: %s", prog[0], strerror(-fr));
        return fr == -ENOENT ? EX_NOTFOUND : EX_NOEXEC;
    }

    if (interval) {
        double s;
        if (parse_interval(interval, &s) < 0)
            return ck_usage_err("--interval: not a duration: '%s'", interval);
        snprintf(buf, sizeof buf, "%g", s);
        if (set_env("CKPT_INTERVAL", buf) < 0) return EX_FAIL;
    }
    if (keep) {
        uint64_t k;
        if (ck_parse_u64(keep, &k) < 0 || k > 1000000)
            return ck_usage_err("--keep: not a count: '%s'", keep);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)k);
        if (set_env("CKPT_KEEP", buf) < 0) return EX_FAIL;
    }
    if (sig) {
        signo = ck_parse_signal(sig);
        if (signo < 0) return ck_usage_err("--signal: unknown signal '%s'", sig);
        if (signo == SIGKILL || signo == SIGSTOP)
            return ck_usage_err("--signal: %s cannot be caught", ck_signame(signo, sn));
        /* As a number: unambiguous for every reader (names like SIGRTMIN+3 depend
         * on the C library's idea of SIGRTMIN). */
        snprintf(buf, sizeof buf, "%d", signo);
        if (set_env("CKPT_SIGNAL", buf) < 0) return EX_FAIL;
    } else {
        const char *e = getenv("CKPT_SIGNAL");
        if (e && ck_parse_signal(e) > 0) signo = ck_parse_signal(e);
    }
    if (log) {
        if (strcmp(log, "error") && strcmp(log, "warn") && strcmp(log, "info") &&
            strcmp(log, "debug"))
            return ck_usage_err("--log: expected error, warn, info or debug, not '%s'", log);
        if (set_env("CKPT_LOG", log) < 0) return EX_FAIL;
    }

    /* Directory: absolute, so that `ckpt signal` (which reads it from
     * /proc/PID/environ) finds it whatever the program's cwd becomes. */
    if (!dir) dir = getenv("CKPT_DIR");
    if (!dir || !*dir) dir = "ckpt";
    char *abs = NULL;
    if (dir[0] == '/') {
        abs = strdup(dir);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) { ck_err("getcwd: %s", strerror(errno)); return EX_FAIL; }
        size_t n = strlen(cwd) + strlen(dir) + 2;
        abs = malloc(n);
        if (abs) snprintf(abs, n, "%s/%s", cwd, dir);
    }
    if (!abs) { ck_err("out of memory"); return EX_FAIL; }
    size_t al = strlen(abs);
    while (al > 1 && abs[al - 1] == '/') abs[--al] = '\0';
    int dfd = ckdir_prepare(abs);
    if (dfd < 0) {
        ck_err("checkpoint directory %s: %s", abs, strerror(-dfd));
        free(abs);
        return EX_FAIL;
    }
    close(dfd);
    if (set_env("CKPT_DIR", abs) < 0) { free(abs); return EX_FAIL; }

    char *lib = find_lib();
    if (!lib || access(lib, R_OK) < 0) {
        ck_err("cannot find libckpt.so (looked at %s); set CKPT_LIB", lib ? lib : "?");
        free(lib);
        free(abs);
        return EX_FAIL;
    }
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        size_t n = strlen(lib) + strlen(old) + 2;
        char *np = malloc(n);
        int r = -1;
        if (np) {
            snprintf(np, n, "%s:%s", lib, old);
            if (strstr(old, lib)) snprintf(np, n, "%s", old);   /* already there */
            r = set_env("LD_PRELOAD", np);
        }
        free(np);
        if (r < 0) { free(lib); free(abs); return EX_FAIL; }
    } else if (set_env("LD_PRELOAD", lib) < 0) {
        free(lib);
        free(abs);
        return EX_FAIL;
    }
    free(lib);

    fprintf(stderr, "ckpt: checkpoints of %s go to %s (trigger: kill -%s %d)\n", prog[0], abs,
            ck_signame(signo, sn) + 3, (int)getpid());
    fflush(stderr);
    free(abs);
    execvp(prog[0], prog);
    int e = errno;
    ck_err("cannot run %s: %s", prog[0], strerror(e));
    return e == ENOENT ? EX_NOTFOUND : EX_NOEXEC;
}
