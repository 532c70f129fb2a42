/*
 * util.c - parsing, formatting and the progress bar for the `ckpt` tool.
 */
#include "tools/tool.h"
#include "format/ckdir.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ck_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s)) return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int ck_parse_size(const char *s, uint64_t *out)
{
    char *end;
    uint64_t mul = 1;
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s)) return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s) return -1;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'K': mul = 1ull << 10; break;
        case 'M': mul = 1ull << 20; break;
        case 'G': mul = 1ull << 30; break;
        case 'T': mul = 1ull << 40; break;
        default: return -1;
        }
        end++;
        if (*end == 'i') end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end) return -1;
    }
    if (v && mul > UINT64_MAX / v) return -1;
    *out = v * mul;
    return 0;
}

int ck_parse_seconds(const char *s, double *out)
{
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0) || v > 1e9) return -1;
    *out = v;
    return 0;
}

int ck_parse_signal(const char *s)
{
    uint64_t n;
    char up[32];
    size_t i;
    if (!s || !*s) return -1;
    if (ck_parse_u64(s, &n) == 0) return (n >= 1 && n <= 64) ? (int)n : -1;
    for (i = 0; i < sizeof up - 1 && s[i]; i++) up[i] = (char)toupper((unsigned char)s[i]);
    up[i] = '\0';
    const char *p = strncmp(up, "SIG", 3) == 0 ? up + 3 : up;
    if (strncmp(p, "RTMIN", 5) == 0) {
        int off = 0;
        if (p[5] == '+') { if (ck_parse_u64(p + 6, &n) < 0) return -1; off = (int)n; }
        else if (p[5]) return -1;
        return SIGRTMIN + off <= SIGRTMAX ? SIGRTMIN + off : -1;
    }
    for (int sig = 1; sig < 32; sig++) {
        const char *a = sigabbrev_np(sig);
        if (a && strcmp(a, p) == 0) return sig;
    }
    return -1;
}

const char *ck_signame(int sig, char buf[24])
{
    const char *a = (sig > 0 && sig < 32) ? sigabbrev_np(sig) : NULL;
    if (a) snprintf(buf, 24, "SIG%s", a);
    else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        snprintf(buf, 24, sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+%d", sig - SIGRTMIN);
    else snprintf(buf, 24, "SIG%d", sig);
    return buf;
}

const char *ck_human(uint64_t b, char buf[32])
{
    static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double)b;
    int i = 0;
    if (b < 1024) { snprintf(buf, 32, "%llu B", (unsigned long long)b); return buf; }
    while (v >= 1024 && i < 5) { v /= 1024; i++; }
    snprintf(buf, 32, "%.1f %s", v, u[i]);
    return buf;
}

const char *ck_time_iso(uint64_t ns, char buf[40])
{
    time_t t = (time_t)(ns / 1000000000ull);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) { snprintf(buf, 40, "?"); return buf; }
    size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 40 - n, ".%03uZ", (unsigned)(ns % 1000000000ull / 1000000ull));
    return buf;
}

const char *ck_hex(const uint8_t *p, size_t n, char *buf)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = d[p[i] >> 4];
        buf[2 * i + 1] = d[p[i] & 15];
    }
    buf[2 * n] = '\0';
    return buf;
}

int ck_is_zero_id(const uint8_t id[16])
{
    for (int i = 0; i < 16; i++)
        if (id[i]) return 0;
    return 1;
}

size_t ck_utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    /* No overlongs, no surrogates, nothing above U+10FFFF. */
    size_t len = c >= 0xf5 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (!len || len > n) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))) return 0;
    if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))) return 0;
    return len;
}

void ck_put_safe(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = ck_utf8_len(p + i, n - i);
        /* C0/C1 controls and broken UTF-8 could drive the terminal: escape them. */
        if (l == 0 || (l == 1 && (p[i] < 0x20 || p[i] == 0x7f)) ||
            (l == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)) {
            fprintf(f, "\\x%02x", p[i]);
            i++;
            continue;
        }
        fwrite(p + i, 1, l, f);
        i += l;
    }
}

const char *ck_chunk_type_name(uint16_t type)
{
    static char buf[16];
    switch (type) {
    case CKF_T_PROCESS: return "process";
    case CKF_T_VMAS: return "vmas";
    case CKF_T_MEMBLK: return "memblk";
    case CKF_T_THREAD: return "thread";
    case CKF_T_FILES: return "files";
    case CKF_T_SIGNALS: return "signals";
    case CKF_T_TIMERS: return "timers";
    case CKF_T_RLIMITS: return "rlimits";
    case CKF_T_FILEIDS: return "fileids";
    case CKF_T_CUDA: return "cuda";
    case CKF_T_REGION: return "region";
    case CKF_T_LENS: return "lens";
    case CKF_T_NOTE: return "note";
    case CKF_T_CUDA_DATA: return "cuda_data";
    case CKF_T_INDEX: return "index";
    }
    snprintf(buf, sizeof buf, "0x%04x", type);
    return buf;
}

const char *ck_codec_name(uint8_t codec)
{
    switch (codec) {
    case CKF_C_STORED: return "stored";
    case CKF_C_ZSTD: return "zstd";
    case CKF_C_ZPAGES: return "zpages";
    case CKF_C_ZERO: return "zero";
    case CKF_C_PARENT: return "parent";
    }
    return "unknown";
}

int ck_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *ck_resolve_ckpt(const char *arg)
{
    struct stat st;
    if (stat(arg, &st) < 0) {
        ck_err("%s: %s", arg, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) return strdup(arg);
    int dfd = ckdir_open(arg);
    if (dfd < 0) {
        ck_err("%s: %s", arg, strerror(-dfd));
        return NULL;
    }
    char name[CKDIR_NAME_MAX];
    int r = ckdir_read_latest(dfd, name, sizeof name, NULL, NULL);
    close(dfd);
    if (r == -ENOENT) {
        ck_err("%s: no checkpoint here (no '%s' link)", arg, CKDIR_LATEST);
        return NULL;
    }
    if (r < 0) {
        ck_err("%s/%s: %s", arg, CKDIR_LATEST,
               r == -EINVAL ? "does not name a checkpoint file of this directory"
                            : strerror(-r));
        return NULL;
    }
    size_t n = strlen(arg) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s%s%s", arg, arg[strlen(arg) - 1] == '/' ? "" : "/", name);
    return p;
}

/* ---- progress ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void ck_progress_start(ck_progress *p, const char *label, uint64_t total)
{
    p->enabled = isatty(2) && !getenv("CKPT_NO_PROGRESS");
    p->label = label;
    p->total = total;
    p->last = 0;
}

static void draw(ck_progress *p, uint64_t done)
{
    char a[32], b[32], bar[31];
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    if (frac > 1) frac = 1;
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %s / %s\033[K", p->label, bar, (int)(frac * 100),
            ck_human(done, a), ck_human(p->total, b));
}

void ck_progress_update(ck_progress *p, uint64_t done)
{
    if (!p->enabled) return;
    double t = now_s();
    if (t - p->last < 0.1) return;
    p->last = t;
    draw(p, done);
}

void ck_progress_cb(void *arg, uint64_t done, uint64_t total)
{
    ck_progress *p = arg;
    if (total) p->total = total;
    ck_progress_update(p, done);
}

void ck_progress_end(ck_progress *p)
{
    if (p->enabled && p->last != 0) fputs("\r\033[K", stderr);
    p->enabled = 0;
}
