/*
 * ckf.h - the ckpt container format: writer, reader, verify.
 *
 * This is the bottom layer of ckpt: it depends on nothing else of ours, only on
 * libzstd and libxxhash.  The normative description of the bytes is
 * format/FORMAT.md; this header is the C view of it.
 *
 * A checkpoint file is
 *
 *     file header (64 bytes) | chunk* | index chunk | footer (64 bytes)
 *
 * Every chunk is a 64-byte chunk header followed by `stored_len` payload bytes.
 * Memory contents are stored as MEMBLK chunks of at most `block_size` raw bytes
 * each, compressed independently (zstd) so that compression can run on several
 * threads and readers can fetch any address range without reading the rest.
 *
 * Conventions:
 *  - every function that can fail returns 0 (or a count) on success and a
 *    negative CKF_E_* code on failure; ckf_strerror() names it;
 *  - no function calls malloc directly: the caller may pass a ckf_alloc
 *    (e.g. an mmap arena in a forked child); NULL means malloc/free;
 *  - the writer's single-threaded path takes no lock and calls nothing that
 *    takes one, so it is usable from a raw-fork()ed child of a threaded program.
 */
#ifndef CKF_H
#define CKF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants (FORMAT.md §2) ---------------------------------------------------- */

#define CKF_MAGIC          "CKPTIMG1"     /* 8 bytes at offset 0 */
#define CKF_FOOTER_MAGIC   "CKPTEND1"     /* 8 bytes at offset 0 of the footer */
#define CKF_CHUNK_MAGIC    0x4b4e4843u    /* "CHNK" little-endian */
#define CKF_VERSION_MAJOR  1
#define CKF_VERSION_MINOR  1
#define CKF_HEADER_SIZE    64
#define CKF_CHUNK_HDR_SIZE 64
#define CKF_FOOTER_SIZE    64
#define CKF_INDEX_ENTRY_SIZE 48
#define CKF_DEFAULT_BLOCK  (1u << 20)     /* 1 MiB */
#define CKF_MIN_BLOCK      4096u
#define CKF_MAX_BLOCK      (64u << 20)
#define CKF_MAX_META       (256u << 20)   /* largest non-memory chunk a reader accepts */

/* ---- chunk types (FORMAT.md §5) ---------------------------------------------------
 * Bit 15 set = critical: a reader that does not know the type must refuse to
 * restore (it may still list and verify).  Unknown non-critical types are skipped. */
#define CKF_CRITICAL 0x8000u
enum ckf_chunk_type {
    CKF_T_PROCESS  = 0x8001, /* process metadata (ckc_process + strings) */
    CKF_T_VMAS     = 0x8002, /* memory map (ckc_vma array + strings) */
    CKF_T_MEMBLK   = 0x8003, /* memory block: key = virtual address */
    CKF_T_THREAD   = 0x8004, /* one per thread (ckc_thread + frames) */
    CKF_T_FILES    = 0x8005, /* open file descriptors (ckc_fd array + strings) */
    CKF_T_SIGNALS  = 0x8006, /* signal dispositions (ckc_signals) */
    CKF_T_TIMERS   = 0x0007, /* interval timers (ckc_timers) */
    CKF_T_RLIMITS  = 0x0008, /* resource limits (ckc_rlimits) */
    CKF_T_FILEIDS  = 0x8009, /* identity of executable and mapped files */
    CKF_T_CUDA     = 0x800a, /* CUDA state (cuda_hooks/ defines the payload) */
    CKF_T_REGION   = 0x000b, /* named user region: key = address, payload = name */
    CKF_T_LENS     = 0x000c, /* lens fields (reserved) */
    CKF_T_NOTE     = 0x000d, /* free text: key/value lines "k=v\n" */
    CKF_T_CUDA_DATA= 0x000e, /* copy of a device buffer: key = device address */
    CKF_T_FILE_DATA= 0x000f, /* contents of an open file that was deleted: key = fd */
    CKF_T_FDINFO   = 0x0010, /* /proc/self/fdinfo text of an epoll/timerfd/signalfd: key = fd */
    CKF_T_INDEX    = 0x7fff  /* trailing index (exactly one, last chunk) */
};

/* codecs (chunk header `codec` byte) */
enum ckf_codec {
    CKF_C_STORED = 0,  /* payload is the raw bytes */
    CKF_C_ZSTD   = 1,  /* payload is one zstd frame */
    CKF_C_ZERO   = 2,  /* raw content is raw_len zero bytes; no payload */
    CKF_C_PARENT = 3,  /* raw content is the block with the same content hash in the
                          parent checkpoint (header parent_id); no payload */
    CKF_C_ZPAGES = 4   /* (1.1) bitmap of the non-zero 4 KiB pages, then one zstd frame
                          of those pages in order; the other pages are zero */
};

/* chunk flags */
#define CKF_F_NONE 0u

/* ---- errors (frozen numbering; FORMAT.md §9) ------------------------------------- */
enum ckf_error {
    CKF_OK               = 0,
    CKF_E_IO             = 1,  /* read/write failed (errno in ckf_last_errno) */
    CKF_E_NOMEM          = 2,  /* allocation failed */
    CKF_E_BAD_MAGIC      = 3,  /* not a checkpoint file */
    CKF_E_VERSION        = 4,  /* major version not supported */
    CKF_E_TRUNCATED      = 5,  /* file ends early / footer missing */
    CKF_E_HDR_CHECKSUM   = 6,  /* a header (file, chunk, footer) checksum mismatch */
    CKF_E_PAYLOAD_CHECKSUM = 7,/* stored payload checksum mismatch */
    CKF_E_CONTENT_HASH   = 8,  /* decoded content does not match its content hash */
    CKF_E_BAD_LENGTH     = 9,  /* a length or offset out of bounds */
    CKF_E_BAD_INDEX      = 10, /* index inconsistent with the chunks */
    CKF_E_COMPRESS       = 11, /* compressor failed */
    CKF_E_DECOMPRESS     = 12, /* decompressor failed or size mismatch */
    CKF_E_UNKNOWN_CODEC  = 13, /* codec byte not known */
    CKF_E_UNKNOWN_CRITICAL = 14,/* a critical chunk type this reader does not know */
    CKF_E_INVAL          = 15, /* bad argument */
    CKF_E_NOT_FOUND      = 16, /* no such chunk / address not covered */
    CKF_E_PARENT         = 17, /* block refers to a parent checkpoint that is needed */
    CKF_E_STATE          = 18, /* call not valid in this state (e.g. after close) */
    CKF_E_BAD_CHUNK      = 19, /* chunk header malformed (magic, reserved bits) */
    CKF_E_LAST
};
const char *ckf_strerror(int err);       /* accepts err or -err; never NULL */
const char *ckf_errname(int err);        /* "CKF_E_TRUNCATED" etc.; accepts err or -err */
int ckf_last_errno(void);                /* errno of the last CKF_E_IO in this thread */

/* ---- allocator and sink ---------------------------------------------------------- */
typedef struct ckf_alloc {
    void *(*alloc)(void *opaque, size_t size);
    void  (*free)(void *opaque, void *ptr);
    void *opaque;
} ckf_alloc;

/* The writer emits bytes through a sink.  ckf_sink_fd() fills one that writes
 * to a file descriptor with write(2) (retrying on EINTR/short writes). */
typedef struct ckf_sink {
    int (*write)(struct ckf_sink *s, const void *buf, size_t len); /* 0 or -CKF_E_* */
    void *opaque;
    int fd;
} ckf_sink;
void ckf_sink_fd(ckf_sink *s, int fd);

/* ---- on-disk structures (little-endian, no padding; FORMAT.md §3-§8) ------------ */
typedef struct ckf_file_header {     /* 64 bytes */
    char     magic[8];         /* CKF_MAGIC */
    uint16_t version_major;
    uint16_t version_minor;
    uint32_t block_size;       /* max raw bytes of a MEMBLK */
    uint64_t created_ns;       /* CLOCK_REALTIME at open */
    uint8_t  id[16];           /* random identity of this checkpoint */
    uint8_t  parent_id[16];    /* id of the parent (incremental), zero if none */
    uint64_t hdr_checksum;     /* XXH3_64 of bytes 0..55 */
} ckf_file_header;

typedef struct ckf_chunk_header {    /* 64 bytes */
    uint32_t magic;            /* CKF_CHUNK_MAGIC */
    uint16_t type;             /* ckf_chunk_type */
    uint8_t  codec;            /* ckf_codec */
    uint8_t  flags;            /* reserved, 0 */
    uint64_t stored_len;       /* payload bytes that follow this header */
    uint64_t raw_len;          /* decoded length */
    uint64_t key;              /* MEMBLK: virtual address; others: type-defined */
    uint8_t  content_hash[16]; /* XXH3_128 of the decoded content (canonical BE bytes) */
    uint64_t payload_checksum; /* ZSTD: XXH3_64 of the payload; other codecs: 0 (a
                                  STORED payload is covered by content_hash) */
    uint64_t hdr_checksum;     /* XXH3_64 of bytes 0..55 of this header */
} ckf_chunk_header;

typedef struct ckf_index_entry {     /* 48 bytes */
    uint64_t offset;           /* file offset of the chunk header */
    uint16_t type;
    uint8_t  codec;
    uint8_t  flags;            /* 0 */
    uint32_t reserved;         /* 0 */
    uint64_t stored_len;
    uint64_t raw_len;
    uint64_t key;
    uint64_t content_hash_lo;  /* first 8 bytes of content_hash, for quick lookup */
} ckf_index_entry;

typedef struct ckf_footer {          /* 64 bytes */
    char     magic[8];         /* CKF_FOOTER_MAGIC */
    uint64_t index_offset;     /* file offset of the index chunk header */
    uint64_t nentries;         /* entries in the index (chunks before it) */
    uint64_t file_size;        /* total file size including this footer */
    uint8_t  id[16];           /* copy of header id */
    uint64_t reserved;         /* 0 */
    uint64_t footer_checksum;  /* XXH3_64 of bytes 0..55 */
} ckf_footer;

_Static_assert(sizeof(ckf_file_header) == CKF_HEADER_SIZE, "file header layout");
_Static_assert(sizeof(ckf_chunk_header) == CKF_CHUNK_HDR_SIZE, "chunk header layout");
_Static_assert(sizeof(ckf_index_entry) == CKF_INDEX_ENTRY_SIZE, "index entry layout");
_Static_assert(sizeof(ckf_footer) == CKF_FOOTER_SIZE, "footer layout");

/* ---- writer ---------------------------------------------------------------------- */
typedef struct ckf_writer ckf_writer;

typedef struct ckf_writer_opts {
    ckf_sink   *sink;          /* required */
    const ckf_alloc *alloc;    /* NULL: malloc */
    int         level;         /* zstd level; 0 = stored (no compression) */
    uint32_t    block_size;    /* 0: CKF_DEFAULT_BLOCK; power of two in [MIN,MAX] */
    int         nthreads;      /* >1: ckf_writer_add_memory compresses on that many
                                  pthreads (do not use in a forked child); the file
                                  is byte-identical to the single-threaded one and
                                  add_memory returns once all its blocks are out */
    uint8_t     id[16];        /* identity; all-zero: generated from time/pid/getrandom */
    uint8_t     parent_id[16]; /* zero if not incremental */
    uint64_t    created_ns;    /* 0: CLOCK_REALTIME now (set it for reproducible files) */
} ckf_writer_opts;

int  ckf_writer_open(ckf_writer **out, const ckf_writer_opts *opts);
/* Metadata chunk (any type but MEMBLK/INDEX): compressed if level > 0 and it pays. */
int  ckf_writer_add_chunk(ckf_writer *w, uint16_t type, uint64_t key,
                          const void *data, size_t len);
/* Memory: split into block_size pieces at block-aligned offsets from addr; all-zero
 * blocks become CKF_C_ZERO; each block gets a content hash. */
int  ckf_writer_add_memory(ckf_writer *w, uint64_t addr, const void *data, size_t len);
/* A block unchanged since the parent: stored as CKF_C_PARENT with that hash. */
int  ckf_writer_add_parent_ref(ckf_writer *w, uint64_t addr, uint64_t len,
                               const uint8_t content_hash[16]);
/* Writes the index and footer and flushes; does not close the sink's fd. */
int  ckf_writer_close(ckf_writer *w);
void ckf_writer_free(ckf_writer *w);  /* after close, or to abandon */
uint64_t ckf_writer_bytes(const ckf_writer *w);  /* bytes emitted so far */
void ckf_writer_id(const ckf_writer *w, uint8_t id[16]);

/* Encoding a block without a writer (thread-safe, for callers that run their own
 * worker threads): fills *hdr (except offsets) and the payload into out, which must
 * hold ckf_block_bound(len) bytes.  ctx is a per-thread compression context. */
typedef struct ckf_cctx ckf_cctx;
int    ckf_cctx_new(ckf_cctx **out, int level, const ckf_alloc *alloc);
void   ckf_cctx_free(ckf_cctx *c);
size_t ckf_block_bound(size_t len);
int    ckf_encode_block(ckf_cctx *c, uint16_t type, uint64_t key, const void *data,
                        size_t len, ckf_chunk_header *hdr, void *out, size_t outcap);
/* Appends a chunk encoded by ckf_encode_block (payload = hdr->stored_len bytes). */
int    ckf_writer_put_encoded(ckf_writer *w, const ckf_chunk_header *hdr,
                              const void *payload);

/* ---- reader ---------------------------------------------------------------------- */
typedef struct ckf_reader ckf_reader;

/* Opens and validates file header, footer and index (every entry bounds-checked
 * against the file and against each other).  Payloads are checked when read.
 * A reader is not thread-safe: use one per thread. */
int  ckf_reader_open_fd(ckf_reader **out, int fd, const ckf_alloc *alloc);
int  ckf_reader_open_path(ckf_reader **out, const char *path, const ckf_alloc *alloc);
/* Same checks over a file image in memory (not copied; must outlive the reader). */
int  ckf_reader_open_mem(ckf_reader **out, const void *data, size_t len,
                         const ckf_alloc *alloc);
void ckf_reader_close(ckf_reader *r);          /* closes the fd if open_path */

const ckf_file_header *ckf_reader_header(const ckf_reader *r);
uint64_t ckf_reader_file_size(const ckf_reader *r);
size_t   ckf_reader_count(const ckf_reader *r);
const ckf_index_entry *ckf_reader_entry(const ckf_reader *r, size_t i);
/* Index of the first chunk of `type` at or after `from`, or -CKF_E_NOT_FOUND. */
long     ckf_reader_find(const ckf_reader *r, uint16_t type, size_t from);

/* Reads chunk i: header re-checked against the index, payload checksum verified,
 * decompressed into out (outcap >= raw_len) and the content hash verified.
 * Returns raw_len.  CKF_C_PARENT chunks return -CKF_E_PARENT unless a parent
 * reader was attached. */
long ckf_reader_read(ckf_reader *r, size_t i, void *out, size_t outcap);
/* Convenience: allocates (with the reader's allocator) and reads. *out freed by
 * ckf_reader_free_buf. */
long ckf_reader_read_alloc(ckf_reader *r, size_t i, void **out);
void ckf_reader_free_buf(ckf_reader *r, void *buf);
/* Reads the full chunk header of entry i (validated). */
int  ckf_reader_chunk_header(ckf_reader *r, size_t i, ckf_chunk_header *hdr);

/* Incremental chains: blocks with codec PARENT are looked up by content hash in
 * `parent` (whose id must equal header.parent_id).  The reader does not own it. */
int  ckf_reader_set_parent(ckf_reader *r, ckf_reader *parent);

/* Calls cb for every MEMBLK overlapping [addr, addr+len) in address order.
 * Return non-zero from cb to stop (that value is returned). */
typedef int (*ckf_block_cb)(void *arg, size_t index, const ckf_index_entry *e);
int  ckf_reader_blocks_in_range(ckf_reader *r, uint64_t addr, uint64_t len,
                                ckf_block_cb cb, void *arg);
/* Copies the bytes of [addr, addr+len) into out; bytes not covered by any block
 * are zero.  Returns 0 or a negative error. */
int  ckf_reader_read_range(ckf_reader *r, uint64_t addr, uint64_t len, void *out);

/* Reads and checks every chunk (checksums, decompression, content hashes).
 * progress (may be NULL) is called with bytes done / total. Returns 0 or the
 * first error; *bad_index (may be NULL) receives the failing chunk index. */
typedef void (*ckf_progress_cb)(void *arg, uint64_t done, uint64_t total);
int  ckf_reader_verify(ckf_reader *r, size_t *bad_index, ckf_progress_cb progress,
                       void *arg);

/* Recovery of an unfinished file (FORMAT.md §12), e.g. one whose writer died
 * before the footer: walks the chunks from offset 64 without the index, checks
 * each (header, payload checksum, decoding, content hash; a PARENT chunk by its
 * header only) and calls cb(arg, offset, header) for every intact one, in file
 * order, until the first damaged chunk, the index, or the end of the data.
 * Returns the number of intact chunks (cb returning non-zero stops the scan and
 * that value is returned instead), or a negative error if the file header is
 * bad.  *end (may be NULL) receives the offset where the intact prefix ends. */
typedef int (*ckf_scan_cb)(void *arg, uint64_t offset, const ckf_chunk_header *h);
long ckf_scan_fd(int fd, const ckf_alloc *alloc, ckf_scan_cb cb, void *arg, uint64_t *end);
long ckf_scan_mem(const void *data, size_t len, const ckf_alloc *alloc, ckf_scan_cb cb,
                  void *arg, uint64_t *end);

/* 0, or -CKF_E_UNKNOWN_CRITICAL if the file holds a chunk type with the critical
 * bit that this reader does not know (*bad_index, may be NULL, receives the first).
 * A restore must refuse such a file; listing and verifying it is fine.
 * ckf_reader_verify also returns this error once every chunk is found intact. */
int  ckf_reader_require_known(const ckf_reader *r, size_t *bad_index);
/* 1 if `type` is a chunk type this library knows (FORMAT.md §5). */
int  ckf_type_known(uint16_t type);

/* Content hash helper (XXH3_128, canonical big-endian byte order). */
void ckf_hash128(const void *data, size_t len, uint8_t out[16]);
uint64_t ckf_hash64(const void *data, size_t len);
/* 1 if the buffer is all zero bytes (fast path used for page/zero detection). */
int  ckf_is_zero(const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CKF_H */
