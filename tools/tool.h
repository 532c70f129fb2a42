/*
 * tool.h - internals shared by the subcommands of the `ckpt` tool.
 *
 * The tool is an ordinary program: it may allocate and use stdio freely.  It
 * reads checkpoints only through format/ (ckf.h, ckc.h, ckdir.h), so whatever
 * the tool accepts, ckpt-restore's parser accepts too.
 *
 * Conventions: every subcommand is `int cmd_NAME(int argc, char **argv)`
 * (argv[0] is the subcommand name) returning one of the exit codes below.
 * Errors are one line on stderr: "ckpt NAME: what: why".
 */
#ifndef CKPT_TOOL_H
#define CKPT_TOOL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "format/ckc.h"
#include "format/ckf.h"

/* Exit codes (documented in ckpt(1)). */
enum {
    EX_OK = 0,        /* success */
    EX_FAIL = 1,      /* failure: I/O error, corrupt or invalid checkpoint, not found */
    EX_USAGE = 2,     /* bad command line */
    EX_TIMEOUT = 3,   /* signal --wait: no new checkpoint within the timeout */
    EX_DIED = 4,      /* signal: the process does not exist or died while waiting */
    EX_NOEXEC = 126,  /* run: the program could not be executed */
    EX_NOTFOUND = 127 /* run: the program was not found */
};

/* ---- named user regions (CKF_T_REGION) ---------------------------------------------
 * Proposed for ckc.h (it is what libckpt writes); defined here until it lands there.
 * Chunk key = start address of the region; payload = this fixed part followed by
 * the name (UTF-8, not NUL-terminated): the name runs to the end of the payload or
 * to a NUL byte, whichever comes first; bytes after such a NUL are reserved for
 * future fields and ignored by this reader. */
/* ckc_region itself is defined in format/ckc.h. */

/* The name of a region payload (pointer into buf) and its length. */
static inline const char *ckc_region_name(const void *buf, size_t len, size_t *nlen)
{
    const char *n = (const char *)buf + sizeof(ckc_region);
    size_t max = len - sizeof(ckc_region);
    size_t l = 0;
    while (l < max && n[l]) l++;
    *nlen = l;
    return n;
}

/* ---- ckpt.c ------------------------------------------------------------------------ */
extern const char *ck_cmd;           /* current subcommand, for messages */
void ck_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int  ck_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* EX_USAGE */
int  ck_opt_err(char **argv);                       /* after getopt '?': EX_USAGE */
int  ck_help_requested(int argc, char **argv, const char *usage); /* 1 if printed */

/* ---- util.c ------------------------------------------------------------------------ */
int  ck_parse_u64(const char *s, uint64_t *out);        /* decimal or 0x hex; 0 / -1 */
int  ck_parse_size(const char *s, uint64_t *out);       /* 4096, 4K, 1M, 2G, 0x1000 */
int  ck_parse_seconds(const char *s, double *out);      /* 1.5, 10 */
int  ck_parse_signal(const char *s);                    /* USR1, SIGUSR1, 10 -> signo or -1 */
const char *ck_signame(int sig, char buf[24]);           /* "SIGUSR1", "SIGRTMIN+2" */
const char *ck_human(uint64_t bytes, char buf[32]);      /* "1.5 MiB" */
const char *ck_time_iso(uint64_t ns, char buf[40]);      /* 2026-01-02T03:04:05.123Z (UTC) */
const char *ck_hex(const uint8_t *p, size_t n, char *buf); /* buf: 2n+1 */
int  ck_is_zero_id(const uint8_t id[16]);
void ck_put_safe(FILE *f, const char *s, size_t n);     /* text: escapes controls, bad UTF-8 */
size_t ck_utf8_len(const unsigned char *p, size_t n);   /* valid sequence at p: 1-4, or 0 */
const char *ck_chunk_type_name(uint16_t type);           /* "memblk" / "0x1234" (static) */
const char *ck_codec_name(uint8_t codec);
/* Resolves FILE|DIR: a directory means its `latest`.  Returns a malloc'd path or NULL
 * (error printed). */
char *ck_resolve_ckpt(const char *arg);
int  ck_is_dir(const char *path);

/* Progress bar on stderr, only when stderr is a terminal (and CKPT_NO_PROGRESS
 * is unset); at most ~10 redraws per second. */
typedef struct ck_progress {
    int enabled;
    const char *label;
    uint64_t total;
    double last;
} ck_progress;
void ck_progress_start(ck_progress *p, const char *label, uint64_t total);
void ck_progress_update(ck_progress *p, uint64_t done);
void ck_progress_cb(void *arg, uint64_t done, uint64_t total); /* ckf_progress_cb */
void ck_progress_end(ck_progress *p);

/* ---- json.c: a small streaming JSON writer (pretty, 2-space indent) --------------- */
typedef struct ck_json {
    FILE *f;
    int depth;
    int first[64];
} ck_json;
void cj_init(ck_json *j, FILE *f);
void cj_obj(ck_json *j, const char *key);      /* key NULL inside arrays / at top */
void cj_obj_end(ck_json *j);
void cj_arr(ck_json *j, const char *key);
void cj_arr_end(ck_json *j);
void cj_str(ck_json *j, const char *key, const char *s);
void cj_strn(ck_json *j, const char *key, const char *s, size_t n);
void cj_u64(ck_json *j, const char *key, uint64_t v);
void cj_i64(ck_json *j, const char *key, int64_t v);
void cj_hex(ck_json *j, const char *key, uint64_t v);   /* "0x1f" (string: lossless) */
void cj_bool(ck_json *j, const char *key, int v);
void cj_null(ck_json *j, const char *key);
void cj_double(ck_json *j, const char *key, double v, int prec);
void cj_end(ck_json *j);                                 /* final newline */

/* ---- image.c: an opened checkpoint with its main metadata decoded ------------------ */
#define CK_MAX_PARENTS 64

typedef struct ck_strtab { const char *p; size_t len; } ck_strtab;

typedef struct ck_image {
    const char *path;
    ckf_reader *r;
    const ckf_file_header *hdr;
    int has_proc;
    ckc_process proc;
    ck_strtab pstr;
    void *pbuf;
    int has_vmas;
    uint32_t nvmas, page_size;
    const ckc_vma *vmas;
    ck_strtab vstr;
    void *vbuf;
    uint32_t nfids;
    const ckc_fileid *fids;
    ck_strtab fstr;
    void *fbuf;
    /* MEMBLK index entries sorted by address (pointers into the reader's index) */
    size_t nblocks;
    const ckf_index_entry **blocks;
    size_t *block_idx;        /* chunk index of blocks[i] */
    int errors;               /* metadata chunks that could not be decoded */
    /* parents of an incremental checkpoint, found by id in the same directory */
    int nparents;
    ckf_reader *parents[CK_MAX_PARENTS];
    int parent_fds[CK_MAX_PARENTS];
} ck_image;

/* Opens and decodes; on failure prints one error line and returns -CKF_E_*.  A
 * process, memory-map or file-identity chunk that cannot be decoded is reported
 * (one line), counted in im->errors and left out: has_proc / has_vmas stay 0. */
int  ck_image_open(ck_image *im, const char *path);
void ck_image_close(ck_image *im);
/* The string ref as (pointer, length) or ("?", 1) if out of bounds. */
const char *ck_sref(const ck_strtab *t, ckc_strref ref, size_t *len);
/* Index of the VMA containing addr, or -1. */
long ck_image_vma_at(const ck_image *im, uint64_t addr);
/* Reads and checks chunk i into a malloc'd buffer; NULL + *err on failure. */
void *ck_image_read(ck_image *im, size_t i, size_t *len, int *err);
/* "r-xp" */
const char *ck_vma_perms(uint32_t flags, char buf[5]);
/* First block (in blocks[]) whose range ends after addr. */
size_t ck_image_first_block(const ck_image *im, uint64_t addr);

/* ---- subcommands ------------------------------------------------------------------- */
int cmd_run(int argc, char **argv);
int cmd_signal(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_extract(int argc, char **argv);

#endif /* CKPT_TOOL_H */
