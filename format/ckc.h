/*
 * ckc.h - payload layouts of the process-state chunks (FORMAT.md §6).
 *
 * All structures are little-endian, naturally aligned, with explicit reserved
 * fields so that no compiler padding exists (checked by static asserts below).
 * Variable-length strings live in a string area that follows the fixed part of
 * a chunk; a string is referenced by (offset, length) relative to the start of
 * that string area and is not NUL-terminated on disk.  Readers must bounds-check
 * every (offset, length) pair: ckc_str() does that.
 *
 * Layout of a chunk payload with strings:
 *     fixed header struct | N records | string area
 */
#ifndef CKC_H
#define CKC_H

#include <stddef.h>
#include <stdint.h>

typedef struct ckc_strref { uint32_t off, len; } ckc_strref;

/* ---- CKF_T_PROCESS ---------------------------------------------------------------- */
#define CKC_PROCESS_VERSION 1
enum ckc_reason { CKC_REASON_SIGNAL = 1, CKC_REASON_INTERVAL = 2, CKC_REASON_API = 3,
                  CKC_REASON_EXIT = 4 };
typedef struct ckc_process {
    uint32_t version;          /* CKC_PROCESS_VERSION */
    uint32_t pid;              /* pid the program saw (getpid) */
    uint32_t ppid;
    uint32_t nthreads;         /* THREAD chunks that follow */
    uint32_t umask;
    uint32_t personality;
    uint32_t reason;           /* ckc_reason */
    uint32_t seq;              /* checkpoint number within this run (1, 2, ...) */
    uint32_t generation;       /* 0 = original process, n = restored n times */
    uint32_t uid, gid;
    uint32_t flags;            /* reserved, 0 */
    uint64_t realtime_ns;      /* CLOCK_REALTIME at the checkpoint instant */
    uint64_t monotonic_ns;     /* CLOCK_MONOTONIC at the checkpoint instant */
    uint64_t pause_ns;         /* how long the program's threads were stopped */
    /* mm layout (as in /proc/pid/stat and prctl PR_SET_MM_MAP) */
    uint64_t start_code, end_code, start_data, end_data;
    uint64_t start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t auxv[64];         /* saved auxiliary vector words (pairs), zero-terminated */
    uint32_t auxv_words;       /* number of valid words in auxv */
    uint32_t reserved0;
    /* addresses inside libckpt.so of the saved image, used by ckpt-restore */
    uint64_t lib_resume_ctx;   /* struct ck_resume in the image (preload/resume.h) */
    uint64_t lib_base;         /* load address of libckpt.so */
    int32_t  pthread_tid_offset; /* offset of the tid in glibc's struct pthread (from fs) */
    uint32_t sigaltstack_min;  /* reserved, 0 */
    char     comm[16];         /* process name (prctl PR_GET_NAME) */
    char     hostname[64];
    ckc_strref exe;            /* /proc/self/exe target */
    ckc_strref cwd;
    ckc_strref argv;           /* NUL-separated */
    ckc_strref ckpt_version;   /* e.g. "ckpt 0.1" */
} ckc_process;

/* ---- CKF_T_VMAS ------------------------------------------------------------------- */
enum ckc_vma_flags {
    CKC_VMA_READ = 1u << 0, CKC_VMA_WRITE = 1u << 1, CKC_VMA_EXEC = 1u << 2,
    CKC_VMA_SHARED = 1u << 3,      /* MAP_SHARED (else private) */
    CKC_VMA_ANON = 1u << 4,        /* no backing file */
    CKC_VMA_FILE = 1u << 5,        /* backed by a regular file (path, fileid valid) */
    CKC_VMA_HEAP = 1u << 6,        /* [heap] */
    CKC_VMA_STACK = 1u << 7,       /* [stack] */
    CKC_VMA_VDSO = 1u << 8, CKC_VMA_VVAR = 1u << 9, CKC_VMA_VVAR_VCLOCK = 1u << 10,
    CKC_VMA_VSYSCALL = 1u << 11,
    CKC_VMA_DEVICE = 1u << 12,     /* character device mapping (e.g. /dev/nvidia*) */
    CKC_VMA_DELETED = 1u << 13,    /* backing file was deleted / memfd */
    CKC_VMA_HUGEPAGE = 1u << 14,   /* MADV_HUGEPAGE / AnonHugePages seen */
    CKC_VMA_DONTDUMP = 1u << 15,   /* not captured (our own regions, DONTDUMP) */
    CKC_VMA_GROWSDOWN = 1u << 16,
    CKC_VMA_FULL_COPY = 1u << 17,  /* file-backed but every present page stored */
    CKC_VMA_SYSV_SHM = 1u << 18,
    CKC_VMA_SHARED_SAVED = 1u << 19 /* writable MAP_SHARED of a file: its resident pages are
                                      stored and written back into the file at restore */
};
typedef struct ckc_vma {
    uint64_t start, end;
    uint64_t pgoff;            /* file offset in bytes */
    uint32_t flags;            /* ckc_vma_flags */
    int32_t  fileid;           /* index into the FILEIDS table, -1 if none */
    uint64_t dev, ino;
    uint64_t stored_bytes;     /* bytes stored in MEMBLK chunks for this region */
    uint64_t zero_bytes;       /* present pages found all-zero (not stored) */
    uint64_t file_bytes;       /* pages left to the backing file */
    ckc_strref path;           /* as in /proc/self/maps ("" for anon) */
} ckc_vma;
typedef struct ckc_vmas {
    uint32_t count;
    uint32_t page_size;
    uint64_t reserved;
    /* ckc_vma[count] follow, then the string area */
} ckc_vmas;

/* ---- CKF_T_THREAD ----------------------------------------------------------------- */
enum ckc_thread_flags { CKC_THR_MAIN = 1u << 0,   /* thread-group leader */
                        CKC_THR_MANAGER = 1u << 1 /* libckpt's own manager thread */ };
#define CKC_MAX_FRAMES 64
typedef struct ckc_frame { uint64_t pc, sp; uint64_t off; ckc_strref sym; } ckc_frame;
typedef struct ckc_thread {
    uint32_t tid;
    uint32_t flags;            /* ckc_thread_flags */
    uint64_t fs_base, gs_base;
    uint64_t uc_addr;          /* address of the saved ucontext (signal frame) */
    uint64_t clear_tid_addr;   /* CLONE_CHILD_CLEARTID / set_tid_address target */
    uint64_t robust_head, robust_len;
    uint64_t rseq_addr;
    uint32_t rseq_len, rseq_sig;
    uint64_t altstack_sp, altstack_size;
    uint32_t altstack_flags;
    uint32_t nframes;          /* ckc_frame records after this struct */
    uint64_t sigmask;          /* blocked signals at the interruption point */
    uint64_t cpu_affinity[16]; /* first 1024 CPUs */
    uint64_t gregs[23];        /* copy of uc_mcontext.gregs (for tools) */
    uint64_t resume_ctx[8];    /* rbx rbp r12 r13 r14 r15 rsp rip where the restored
                                  thread is entered (eax = 1) */
    uint64_t resume_mask;      /* signal mask to install before entering it */
    char     name[16];
    /* ckc_frame[nframes] follow, then the string area */
} ckc_thread;

/* ---- CKF_T_FILES ------------------------------------------------------------------ */
enum ckc_fd_kind { CKC_FD_REG = 1, CKC_FD_DIR = 2, CKC_FD_PIPE = 3, CKC_FD_SOCKET = 4,
                   CKC_FD_TTY = 5, CKC_FD_CHR = 6, CKC_FD_EVENTFD = 7, CKC_FD_EPOLL = 8,
                   CKC_FD_MEMFD = 9, CKC_FD_TIMERFD = 10, CKC_FD_SIGNALFD = 11,
                   CKC_FD_FIFO = 12, CKC_FD_OTHER = 13 };
enum ckc_fd_flags { CKC_FD_CLOEXEC = 1u << 0, CKC_FD_INTERNAL = 1u << 1 /* libckpt's */,
                    CKC_FD_DELETED = 1u << 2, CKC_FD_PIPE_SELF = 1u << 3 /* both ends here */,
                    CKC_FD_DUP = 1u << 4 /* same open file as fd `aux` (dup, 2>&1) */,
                    CKC_FD_DATA = 1u << 5 /* contents saved in a FILE_DATA chunk (key = fd) */,
                    CKC_FD_SOCKPAIR = 1u << 6 /* AF_UNIX socketpair with both ends here:
                                                 aux = the other end's fd, reserved = SO_TYPE */,
                    CKC_FD_LISTEN = 1u << 7 /* listening AF_UNIX socket: reserved = SO_TYPE,
                                               its address in the FDINFO chunk
                                               ("unix-listen: HEX" of sun_path) */ };
typedef struct ckc_fd {
    int32_t  fd;
    uint32_t kind;             /* ckc_fd_kind */
    uint32_t open_flags;       /* O_* as in fdinfo "flags" */
    uint32_t flags;            /* ckc_fd_flags */
    uint64_t pos;              /* file offset */
    uint64_t size;             /* st_size at checkpoint */
    uint64_t mtime_ns;
    uint64_t dev, ino;
    uint32_t mode;             /* st_mode */
    uint32_t reserved;         /* SOCKPAIR, LISTEN: SO_TYPE; MEMFD: its seals (F_GET_SEALS) */
    uint64_t aux;              /* eventfd: counter; pipe: pipe inode; DUP: the fd it duplicates;
                                  SOCKPAIR: the other end */
    ckc_strref path;           /* readlink of /proc/self/fd/N */
} ckc_fd;
typedef struct ckc_files { uint32_t count; uint32_t reserved; /* ckc_fd[count], strings */ } ckc_files;

/* ---- CKF_T_SIGNALS ---------------------------------------------------------------- */
typedef struct ckc_sigaction { uint64_t handler, flags, restorer, mask; } ckc_sigaction;
typedef struct ckc_signals {
    ckc_sigaction act[64];     /* index = signo - 1; the program's view (libckpt's own
                                  handlers are replaced by what the program installed) */
    uint64_t ckpt_signal;      /* trigger signal number */
    uint64_t private_signal;   /* libckpt's thread-stop signal */
} ckc_signals;

/* ---- CKF_T_TIMERS ----------------------------------------------------------------- */
typedef struct ckc_itimer { int64_t interval_sec, interval_usec, value_sec, value_usec; } ckc_itimer;
typedef struct ckc_timers { ckc_itimer itimer[3]; /* REAL, VIRTUAL, PROF */ uint64_t reserved[4]; } ckc_timers;

/* ---- CKF_T_RLIMITS ---------------------------------------------------------------- */
typedef struct ckc_rlimits { uint64_t cur[16], max[16]; } ckc_rlimits;

/* ---- CKF_T_FILEIDS ---------------------------------------------------------------- */
typedef struct ckc_fileid {
    uint64_t size, mtime_ns, dev, ino;
    uint32_t mode;
    uint32_t build_id_len;     /* 0 if none */
    uint8_t  build_id[32];
    uint8_t  hash[16];         /* XXH3_128 of the first min(size, 64 KiB) and last 64 KiB */
    ckc_strref path;
} ckc_fileid;
typedef struct ckc_fileids { uint32_t count; uint32_t reserved; /* ckc_fileid[count], strings */ } ckc_fileids;

/* ---- CKF_T_REGION ----------------------------------------------------------------- */
/* key = start address; payload = ckc_region followed by the name (up to the end
 * of the payload or a NUL; bytes after a NUL are reserved). */
typedef struct ckc_region { uint64_t len; } ckc_region;

/* ---- CKF_T_FILE_DATA -------------------------------------------------------------- */
/* key = fd; payload = the file's bytes [0, size) at the checkpoint.  Written for
 * regular files that were open but deleted (temporary files) and for memfds, up
 * to CKPT_GHOST_MAX bytes (default 256 MiB).  A restore makes one object of a
 * descriptor and the shared mappings with its dev and ino (ckc_vma's dev is as
 * /proc/self/maps writes it: major << 8 | minor). */

/* ---- CKF_T_FDINFO ----------------------------------------------------------------- */
/* key = fd; payload = the text of /proc/self/fdinfo/<fd> at the checkpoint, for
 * epoll instances (their "tfd: events: data:" lines), timerfds (clockid,
 * it_value, it_interval) and signalfds (sigmask), from which they are rebuilt. */

/* Bounds-checked string access: returns NULL if (ref) does not lie within the
 * string area [strs, strs+strs_len). *len receives the length. */
static inline const char *ckc_str(const char *strs, size_t strs_len, ckc_strref ref,
                                  size_t *len)
{
    if ((uint64_t)ref.off + ref.len > strs_len) return NULL;
    if (len) *len = ref.len;
    return strs + ref.off;
}

_Static_assert(sizeof(ckc_process) % 8 == 0, "ckc_process padding");
_Static_assert(sizeof(ckc_vma) == 80, "ckc_vma layout");
_Static_assert(sizeof(ckc_thread) % 8 == 0, "ckc_thread padding");
_Static_assert(sizeof(ckc_fd) == 80, "ckc_fd layout");
_Static_assert(sizeof(ckc_frame) == 32, "ckc_frame layout");
_Static_assert(sizeof(ckc_fileid) == 96, "ckc_fileid layout");

#endif /* CKC_H */
