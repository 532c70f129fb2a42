/*
 * ckdir.h - the on-disk layout of a checkpoint directory.
 *
 * Shared by libckpt (which calls it from a raw-fork()ed child of a threaded
 * program) and by the `ckpt` tool.  Everything here is therefore written for
 * that child: no malloc, no stdio, no opendir/readdir, no locks.  Directory
 * walks use getdents64 into a buffer on the stack; every path operation is
 * relative to a directory descriptor (openat, unlinkat, renameat, symlinkat).
 * Only libc is used.
 *
 * Layout of a checkpoint directory (created 0700, files 0600):
 *
 *     ckpt-000001-4242.ckpt       complete checkpoints: ckpt-<seq>-<pid>.ckpt,
 *     ckpt-000002-4242.ckpt       seq = 6+ decimal digits, zero padded, increasing
 *                                 within the directory; pid = the program's pid
 *     latest -> ckpt-000002-4242.ckpt     relative symlink to the newest complete one
 *     .ckpt-000003-4242.tmp       a checkpoint being written (or left by a crash)
 *     .latest-4242.tmp            the next `latest` link, about to be renamed
 *
 * Invariants (what a reader may rely on):
 *  - a file with a final name was fully written and fsync()ed before it got
 *    that name (commit = fsync, rename, fsync of the directory);
 *  - `latest` is only ever replaced by rename(2), so it always points to a
 *    complete checkpoint or does not exist; it changes only after the file it
 *    names is durable.  A watcher that sees `latest` change to a new name may
 *    read that file at once (this is how `ckpt signal --wait` works);
 *  - names beginning with '.' are never checkpoints; tools list them as
 *    incomplete.
 *
 * Sequence numbers: seq is taken from ckdir_next_seq() (1 + the largest seq
 * present, temporaries included) so that a restored process, or a second run
 * into the same directory, continues the numbering instead of reusing it.
 *
 * Errors: every function returns 0 (or a count / descriptor) on success and a
 * negative errno on failure, like the rest of libckpt's internals.
 */
#ifndef CKDIR_H
#define CKDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKDIR_LATEST   "latest"
#define CKDIR_NAME_MAX 64            /* longest name ckdir creates, NUL included */
#define CKDIR_SEQ_MAX  999999999u    /* seq wider than 6 digits simply grows */

/* What a directory entry name means (ckdir_parse_name). */
enum ckdir_kind {
    CKDIR_OTHER = 0,     /* not ours */
    CKDIR_FINAL = 1,     /* ckpt-<seq>-<pid>.ckpt */
    CKDIR_TEMP = 2,      /* .ckpt-<seq>-<pid>.tmp */
    CKDIR_LINKTMP = 3    /* .latest-<pid>.tmp (seq is 0) */
};

/* Parses a file name.  Returns its ckdir_kind; *seq and *pid (may be NULL) are
 * filled for the kinds that carry them.  Strict: digits only, no sign, no
 * leading/trailing junk, seq of at least 6 digits. */
int ckdir_parse_name(const char *name, uint32_t *seq, uint32_t *pid);

/* Writes the name of a checkpoint (kind CKDIR_FINAL or CKDIR_TEMP) into buf.
 * Returns the length or -ENAMETOOLONG / -EINVAL. */
int ckdir_format_name(char *buf, size_t cap, int kind, uint32_t seq, uint32_t pid);

/* mkdir -p `path` with mode 0700 for the components it creates, then opens it.
 * Refuses (-ENOTDIR) if it exists and is not a directory (a symlink to a
 * directory is accepted).  An existing directory's mode is left as it is.
 * Returns an O_DIRECTORY|O_CLOEXEC descriptor or a negative errno.
 * path must be shorter than PATH_MAX (copied to the stack). */
int ckdir_prepare(const char *path);

/* Opens an existing checkpoint directory read-only: a descriptor or -errno. */
int ckdir_open(const char *path);

/* One checkpoint being written.  Owned by the caller (on its stack). */
typedef struct ckdir_txn {
    int      dirfd;                  /* not owned: the caller keeps it open */
    int      fd;                     /* the temp file, O_WRONLY; -1 when done */
    uint32_t seq, pid;
    int      stage;                  /* 0 writing, 1 renamed, 2 committed, 3 aborted */
    char     tmpname[CKDIR_NAME_MAX];
    char     name[CKDIR_NAME_MAX];
} ckdir_txn;

/* Creates the temp file .ckpt-<seq>-<pid>.tmp (O_CREAT|O_EXCL|O_CLOEXEC,
 * mode 0600) and fills *t; write the checkpoint to t->fd.  -EEXIST if that
 * name is taken (use the next seq). */
int ckdir_begin(int dirfd, uint32_t seq, uint32_t pid, ckdir_txn *t);

/* Makes the checkpoint durable and current: fsync(file), rename to
 * ckpt-<seq>-<pid>.ckpt, point `latest` at it (symlink .latest-<pid>.tmp, then
 * rename over `latest`), fsync(directory), close the file.  On failure the
 * temp (or the final file, if the rename had happened but `latest` could not
 * be updated) is left for ckdir_abort() to remove; `latest` is untouched or
 * already points to the new file.  Returns 0 or -errno. */
int ckdir_commit(ckdir_txn *t);

/* Abandons the checkpoint: closes the fd and unlinks the temp (or the final
 * name when commit got that far without updating `latest`).  Safe to call
 * after a successful commit (does nothing) or twice. */
int ckdir_abort(ckdir_txn *t);

/* Removes leftover temporaries (.ckpt-*.tmp and .latest-*.tmp):
 *  - those whose pid names no live process (kill(pid, 0) == ESRCH);
 *  - those of self_pid with a seq below cur_seq (our own earlier attempts: a
 *    writer child that crashed leaves the temp under the program's own pid);
 *  - with CKDIR_CLEAN_ALL_OLDER, those of any pid with a seq below cur_seq.
 * self_pid 0 disables the second rule.  removed (may be NULL) is called with
 * each name removed.  Returns the number removed or -errno. */
#define CKDIR_CLEAN_ALL_OLDER 1u
int ckdir_clean_temps(int dirfd, uint32_t self_pid, uint32_t cur_seq, unsigned flags,
                      void (*removed)(void *arg, const char *name), void *arg);

/* 1 + the largest seq of any checkpoint or temp in the directory (1 if none),
 * or -errno. */
long ckdir_next_seq(int dirfd);

/* Reads `latest`: the name it points to into buf (NUL-terminated) and its
 * seq/pid (may be NULL).  -ENOENT if there is no `latest`, -EINVAL if it does
 * not name a checkpoint file of this directory (absolute or foreign target). */
int ckdir_read_latest(int dirfd, char *buf, size_t cap, uint32_t *seq, uint32_t *pid);

/* Cheap structural validity check using libc only: the file is a regular
 * file, starts with the container magic, ends with a footer whose magic and
 * file_size field match.  Checksums are not verified (that needs the format
 * library; pass a ckdir_gc_ops.is_valid that does it).  1 valid, 0 not,
 * -errno if it cannot be read. */
int ckdir_looks_valid(int dirfd, const char *name);

/* Deletes old checkpoints.  Kept: the `keep` newest by (seq, pid), the one
 * `latest` points to, and the newest valid one (so a run of corrupt recent
 * files never costs the last good checkpoint).  keep == 0 keeps everything.
 * Temporaries are not touched (see ckdir_clean_temps).  Returns the number
 * deleted or -errno.  Memory use is constant: the directory is re-read once
 * per kept checkpoint instead of sorting a list. */
typedef struct ckdir_gc_ops {
    /* 1 valid, 0 invalid; NULL: ckdir_looks_valid */
    int  (*is_valid)(void *arg, int dirfd, const char *name);
    /* called after each deletion; may be NULL */
    void (*deleted)(void *arg, const char *name, uint32_t seq, uint32_t pid);
    void *arg;
} ckdir_gc_ops;
int ckdir_gc(int dirfd, unsigned keep, const ckdir_gc_ops *ops);

/* Calls cb for every entry of the directory whose kind is not CKDIR_OTHER, in
 * directory order (unsorted).  A non-zero return from cb stops the walk and is
 * returned.  Uses a getdents64 buffer on the stack (4 KiB). */
typedef int (*ckdir_walk_cb)(void *arg, const char *name, int kind, uint32_t seq,
                             uint32_t pid);
int ckdir_walk(int dirfd, ckdir_walk_cb cb, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* CKDIR_H */
