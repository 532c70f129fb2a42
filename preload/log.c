/*
 * log.c - async-signal-safe logging for libckpt (see log.h).
 *
 * Every line is "ckpt[pid]: level: message\n", written with one write(2) so
 * lines from several threads do not interleave.  The output descriptor is dup'd
 * to a high number (CK_LOG_FD_MIN or above) with O_CLOEXEC at initialisation so
 * the program closing or redirecting fd 2 does not silence or misdirect us.
 */
#include "preload/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CK_LOG_FD_MIN 1000

int ck_log_level = CK_ERROR;
static int ck_log_fd = 2;

static int parse_level(const char *s)
{
    if (!s || !*s) return CK_ERROR;
    if (!strcmp(s, "debug") || !strcmp(s, "3")) return CK_DEBUG;
    if (!strcmp(s, "info") || !strcmp(s, "2")) return CK_INFO;
    if (!strcmp(s, "warn") || !strcmp(s, "warning") || !strcmp(s, "1")) return CK_WARN;
    if (!strcmp(s, "quiet") || !strcmp(s, "none") || !strcmp(s, "off")) return -1;
    return CK_ERROR;
}

void ck_log_init(void)
{
    ck_log_level = parse_level(getenv("CKPT_LOG"));
    const char *file = getenv("CKPT_LOG_FILE");
    int fd = -1;
    if (file && *file)
        fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int src = fd >= 0 ? fd : 2;
    int hi = fcntl(src, F_DUPFD_CLOEXEC, CK_LOG_FD_MIN);
    if (hi >= 0) ck_log_fd = hi;
    if (fd >= 0) close(fd);
}

static size_t put_str(char *b, size_t i, size_t n, const char *s)
{
    if (!s) s = "(null)";
    while (*s && i + 1 < n) b[i++] = *s++;
    return i;
}

static size_t put_num(char *b, size_t i, size_t n, unsigned long long v, int base, int neg)
{
    char tmp[32];
    int k = 0;
    do { tmp[k++] = "0123456789abcdef"[v % (unsigned)base]; v /= (unsigned)base; } while (v);
    if (neg && i + 1 < n) b[i++] = '-';
    while (k && i + 1 < n) b[i++] = tmp[--k];
    return i;
}

int ck_vsnprintf(char *b, size_t n, const char *f, va_list ap)
{
    size_t i = 0;
    if (n == 0) return 0;
    for (; *f && i + 1 < n; f++) {
        if (*f != '%') { b[i++] = *f; continue; }
        f++;
        int lng = 0, sz = 0;
        while (*f == 'l') { lng++; f++; }
        if (*f == 'z') { sz = 1; f++; }
        switch (*f) {
        case 's': i = put_str(b, i, n, va_arg(ap, const char *)); break;
        case 'c': b[i++] = (char)va_arg(ap, int); break;
        case 'd': case 'i': {
            long long v = sz ? (long long)va_arg(ap, ssize_t) : lng ? va_arg(ap, long long)
                                                                      : va_arg(ap, int);
            if (lng == 1 && !sz) { /* long == long long on x86-64 */ }
            i = put_num(b, i, n, v < 0 ? (unsigned long long)-v : (unsigned long long)v, 10, v < 0);
            break;
        }
        case 'u': case 'x': {
            unsigned long long v = sz ? va_arg(ap, size_t) : lng ? va_arg(ap, unsigned long long)
                                                                 : va_arg(ap, unsigned);
            i = put_num(b, i, n, v, *f == 'x' ? 16 : 10, 0);
            break;
        }
        case 'p':
            i = put_str(b, i, n, "0x");
            i = put_num(b, i, n, (uintptr_t)va_arg(ap, void *), 16, 0);
            break;
        case '%': b[i++] = '%'; break;
        case '\0': f--; break;
        default: b[i++] = '?'; break;
        }
    }
    b[i] = '\0';
    return (int)i;
}

int ck_snprintf(char *b, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int r = ck_vsnprintf(b, n, f, ap);
    va_end(ap);
    return r;
}

void ck_vlog(int level, const char *fmt, va_list ap)
{
    static const char *names[] = { "error", "warning", "info", "debug" };
    if (level > ck_log_level) return;
    int saved = errno;
    char buf[1024];
    int k = ck_snprintf(buf, sizeof buf, "ckpt[%d]: %s: ", (int)syscall(SYS_getpid),
                        names[level < 0 ? 0 : level > 3 ? 3 : level]);
    k += ck_vsnprintf(buf + k, sizeof buf - (size_t)k - 1, fmt, ap);
    if (k > 0 && buf[k - 1] != '\n') buf[k++] = '\n';
    ssize_t r = syscall(SYS_write, ck_log_fd, buf, (size_t)k);
    (void)r;
    errno = saved;
}

void ck_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ck_vlog(level, fmt, ap);
    va_end(ap);
}
