/*
 * json.c - a small streaming JSON writer for `--json` output.
 *
 * Output is always valid JSON: strings from a checkpoint may hold any byte, so
 * control characters are escaped and bytes that are not valid UTF-8 become
 * U+FFFD.  64-bit addresses are written as "0x..." strings (JSON numbers lose
 * precision above 2^53 in many parsers); sizes and counts are numbers.
 */
#include "tools/tool.h"

#include <math.h>
#include <string.h>

void cj_init(ck_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->first[0] = 1;
}

static void put_escaped(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc((int)c, f); i++; continue; }
        if (c == '\n') { fputs("\\n", f); i++; continue; }
        if (c == '\t') { fputs("\\t", f); i++; continue; }
        if (c == '\r') { fputs("\\r", f); i++; continue; }
        if (c < 0x20 || c == 0x7f) { fprintf(f, "\\u%04x", c); i++; continue; }
        if (c < 0x80) { fputc((int)c, f); i++; continue; }
        size_t len = ck_utf8_len(p + i, n - i);
        int ok = len > 0;
        if (ok) { fwrite(p + i, 1, len, f); i += len; }
        else { fputs("\\ufffd", f); i++; }
    }
    fputc('"', f);
}

static void sep(ck_json *j, const char *key)
{
    if (!j->first[j->depth]) fputc(',', j->f);
    if (j->depth > 0) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
    }
    j->first[j->depth] = 0;
    if (key) {
        put_escaped(j->f, key, strlen(key));
        fputs(": ", j->f);
    }
}

static void open_(ck_json *j, const char *key, char c)
{
    sep(j, key);
    fputc(c, j->f);
    if (j->depth < 63) j->depth++;
    j->first[j->depth] = 1;
}

static void close_(ck_json *j, char c)
{
    int empty = j->first[j->depth];
    if (j->depth > 0) j->depth--;
    if (!empty) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
    }
    fputc(c, j->f);
}

void cj_obj(ck_json *j, const char *key) { open_(j, key, '{'); }
void cj_obj_end(ck_json *j) { close_(j, '}'); }
void cj_arr(ck_json *j, const char *key) { open_(j, key, '['); }
void cj_arr_end(ck_json *j) { close_(j, ']'); }

void cj_strn(ck_json *j, const char *key, const char *s, size_t n)
{
    sep(j, key);
    put_escaped(j->f, s, n);
}

void cj_str(ck_json *j, const char *key, const char *s)
{
    if (!s) { cj_null(j, key); return; }
    cj_strn(j, key, s, strlen(s));
}

void cj_u64(ck_json *j, const char *key, uint64_t v)
{
    sep(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void cj_i64(ck_json *j, const char *key, int64_t v)
{
    sep(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void cj_hex(ck_json *j, const char *key, uint64_t v)
{
    sep(j, key);
    fprintf(j->f, "\"0x%llx\"", (unsigned long long)v);
}

void cj_bool(ck_json *j, const char *key, int v)
{
    sep(j, key);
    fputs(v ? "true" : "false", j->f);
}

void cj_null(ck_json *j, const char *key)
{
    sep(j, key);
    fputs("null", j->f);
}

void cj_double(ck_json *j, const char *key, double v, int prec)
{
    sep(j, key);
    if (!isfinite(v)) fputs("null", j->f);
    else fprintf(j->f, "%.*f", prec, v);
}

void cj_end(ck_json *j)
{
    fputc('\n', j->f);
}
