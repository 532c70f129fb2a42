/* tap.h - minimal TAP output for the C unit tests (counted by tests/run.sh). */
#ifndef TAP_H
#define TAP_H
#include <stdio.h>
#include <stdarg.h>
static int tap_n, tap_failed;
static inline int tap_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!cond) tap_failed++;
    fflush(stdout);
    return cond;
}
#define TAP_OK(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
static inline int tap_done(void) { printf("1..%d\n", tap_n); return tap_failed ? 1 : 0; }
#endif
