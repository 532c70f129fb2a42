/*
 * log.h - libckpt's async-signal-safe logger.
 *
 * Used everywhere inside the preloaded library (hooks, signal handlers, the
 * forked writer): formats into a stack buffer with its own small printf subset
 * (%s %d %u %ld %lu %lld %llu %zu %zd %x %lx %llx %p %c %%) and write(2)s it to
 * a descriptor parked at a high number with O_CLOEXEC.  Never takes a lock,
 * never allocates.  The level comes from CKPT_LOG: error (default), warn,
 * info, debug; CKPT_LOG_FILE names a file instead of stderr.
 */
#ifndef CKPT_LOG_H
#define CKPT_LOG_H
#include <stdarg.h>
#include <stddef.h>

enum ck_level { CK_ERROR = 0, CK_WARN = 1, CK_INFO = 2, CK_DEBUG = 3 };
extern int ck_log_level;

void ck_log_init(void);                 /* reads CKPT_LOG / CKPT_LOG_FILE */
void ck_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ck_vlog(int level, const char *fmt, va_list ap);
/* snprintf subset, async-signal-safe; returns the length written (truncated). */
int  ck_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int  ck_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

#define ck_err(...)   ck_log(CK_ERROR, __VA_ARGS__)
#define ck_warn(...)  do { if (ck_log_level >= CK_WARN)  ck_log(CK_WARN, __VA_ARGS__); } while (0)
#define ck_info(...)  do { if (ck_log_level >= CK_INFO)  ck_log(CK_INFO, __VA_ARGS__); } while (0)
#define ck_debug(...) do { if (ck_log_level >= CK_DEBUG) ck_log(CK_DEBUG, __VA_ARGS__); } while (0)

#endif
