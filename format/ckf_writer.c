/*
 * ckf_writer.c - streaming checkpoint writer.
 *
 * The writer emits the file front to back through a ckf_sink and never seeks:
 * file header, one chunk per ckf_writer_add_* call (or per block of memory),
 * then the index and the footer at close.  It keeps only the index entries in
 * memory (48 bytes per chunk).
 *
 * Two paths:
 *  - single-threaded (nthreads <= 1): no locks, no stdio, every allocation
 *    through the caller's ckf_alloc (zstd included, via ZSTD_customMem).  This
 *    is the path a raw-fork()ed child of a threaded program uses.
 *  - nthreads > 1: ckf_writer_add_memory hands blocks to a pool of pthreads,
 *    each with its own zstd context and output buffer, and writes the results
 *    in submission order from the calling thread; the file is byte-for-byte the
 *    one the single-threaded path would write.  The pool is drained before
 *    add_memory returns, so the caller's buffer is free again at that point.
 *
 * Small writes (chunk headers, zero blocks, short chunks) are coalesced in a
 * buffer; payloads larger than half of it go straight to the sink.
 */
#include "format/ckf_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define WBUF_SIZE (256u << 10)

struct pool;

struct ckf_writer {
    ckf_sink *sink;
    ckf_alloc a;
    int level;
    uint32_t bs;
    int err;                       /* sticky: first error, returned by every call after */
    int closed;
    uint64_t off;                  /* bytes emitted (logical file offset) */
    ckf_file_header hdr;
    ckf_index_entry *ents;
    size_t nents, capents;
    ckf_cctx *cctx;
    uint8_t *obuf;                 /* compressed payload of one block */
    size_t obuf_cap;
    uint8_t *wbuf;                 /* coalescing buffer */
    size_t wlen;
    uint8_t zero_hash[16];         /* content hash of block_size zero bytes */
    struct pool *pool;
};

/* ---- sink -------------------------------------------------------------------------- */

static int fd_write(ckf_sink *s, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            ckf_i_set_errno(errno);
            return -CKF_E_IO;
        }
        if (n == 0) { ckf_i_set_errno(ENOSPC); return -CKF_E_IO; }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void ckf_sink_fd(ckf_sink *s, int fd)
{
    s->write = fd_write;
    s->opaque = NULL;
    s->fd = fd;
}

/* ---- output ------------------------------------------------------------------------ */

static int flush(ckf_writer *w)
{
    int rc;

    if (!w->wlen) return 0;
    rc = w->sink->write(w->sink, w->wbuf, w->wlen);
    w->wlen = 0;
    return rc;
}

static int emit(ckf_writer *w, const void *p, size_t len)
{
    int rc;

    if (w->err) return w->err;
    if (len >= WBUF_SIZE / 2) {
        if ((rc = flush(w)) || (rc = w->sink->write(w->sink, p, len))) return w->err = rc;
    } else {
        if (w->wlen + len > WBUF_SIZE && (rc = flush(w))) return w->err = rc;
        memcpy(w->wbuf + w->wlen, p, len);
        w->wlen += len;
    }
    w->off += len;
    return 0;
}

static int add_entry(ckf_writer *w, const ckf_chunk_header *h)
{
    ckf_index_entry *e;

    if (w->nents == w->capents) {
        size_t ncap = w->capents ? w->capents * 2 : 256;
        ckf_index_entry *n = ckf_i_alloc(&w->a, ncap * sizeof(*n));
        if (!n) return w->err = -CKF_E_NOMEM;
        if (w->nents) memcpy(n, w->ents, w->nents * sizeof(*n));
        ckf_i_free(&w->a, w->ents);
        w->ents = n;
        w->capents = ncap;
    }
    e = &w->ents[w->nents++];
    memset(e, 0, sizeof(*e));
    e->offset = w->off;
    e->type = h->type;
    e->codec = h->codec;
    e->stored_len = h->stored_len;
    e->raw_len = h->raw_len;
    e->key = h->key;
    e->content_hash_lo = ckf_i_hash_lo(h->content_hash);
    return 0;
}

/* Header and payload of one chunk; hdr_in_front: the payload is preceded by
 * CKF_CHUNK_HDR_SIZE free bytes where the header can go (one write, no copy). */
static int put_chunk(ckf_writer *w, const ckf_chunk_header *h, const void *payload,
                     int hdr_in_front)
{
    int rc;

    if ((rc = add_entry(w, h))) return rc;
    if (hdr_in_front && h->stored_len) {
        uint8_t *p = (uint8_t *)payload - CKF_CHUNK_HDR_SIZE;
        memcpy(p, h, CKF_CHUNK_HDR_SIZE);
        return emit(w, p, CKF_CHUNK_HDR_SIZE + h->stored_len);
    }
    if ((rc = emit(w, h, sizeof(*h)))) return rc;
    return h->stored_len ? emit(w, payload, h->stored_len) : 0;
}

/* ---- thread pool (nthreads > 1 only) ----------------------------------------------- */

struct slot {
    const uint8_t *src;
    size_t len;
    uint64_t key;
    int done, rc;
    ckf_chunk_header hdr;
    const void *payload;
    uint8_t *obuf;                 /* CKF_CHUNK_HDR_SIZE + bound(block_size) */
};

struct worker { struct pool *p; ckf_cctx *cctx; pthread_t th; int started; };

/* nthreads encode in parallel: nthreads - 1 workers and the caller, which
 * encodes blocks itself whenever the oldest one is not ready to be written.
 * On a machine with as many cores as threads nobody then sleeps and wakes for
 * each block, and no thread preempts an encoder only to hand a block on. */

struct pool {
    ckf_writer *w;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    uint64_t submitted, taken, written;
    int stop;
    int idle;                      /* workers sleeping on `work` */
    int waiting;                   /* the caller sleeps on `done` */
    int nthreads, nslots;
    struct slot *slots;
    struct worker *workers;
};

/* Encodes the next submitted block that nobody has taken yet; called with the
 * mutex held, returns with it held.  0 when there was none. */
static int take_one(struct pool *p, ckf_cctx *cctx)
{
    ckf_writer *w = p->w;
    struct slot *s;

    while (p->taken != p->submitted) {
        s = &p->slots[p->taken++ % (uint64_t)p->nslots];
        if (s->done) continue;             /* a zero block, encoded by the submitter */
        pthread_mutex_unlock(&p->mu);
        s->rc = ckf_i_encode(cctx, CKF_T_MEMBLK, s->key, s->src, s->len, &s->hdr,
                             s->obuf + CKF_CHUNK_HDR_SIZE, w->obuf_cap, 0, &s->payload,
                             w->zero_hash, w->bs);
        pthread_mutex_lock(&p->mu);
        s->done = 1;
        if (p->waiting) pthread_cond_signal(&p->done);
        return 1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct pool *p = wk->p;

    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (take_one(p, wk->cctx)) continue;
        p->idle++;
        pthread_cond_wait(&p->work, &p->mu);
        p->idle--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_free(ckf_writer *w)
{
    struct pool *p = w->pool;
    int i;

    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++) {
        if (p->workers[i].started) pthread_join(p->workers[i].th, NULL);
        ckf_cctx_free(p->workers[i].cctx);
    }
    for (i = 0; i < p->nslots; i++) ckf_i_free(&w->a, p->slots[i].obuf);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    ckf_i_free(&w->a, p->slots);
    ckf_i_free(&w->a, p->workers);
    ckf_i_free(&w->a, p);
    w->pool = NULL;
}

static int pool_new(ckf_writer *w, int nthreads)
{
    struct pool *p;
    sigset_t all, old;
    int i, rc = 0;

    p = ckf_i_alloc(&w->a, sizeof(*p));
    if (!p) return -CKF_E_NOMEM;
    memset(p, 0, sizeof(*p));
    p->w = w;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->nthreads = nthreads - 1;        /* the caller is the last encoder */
    p->nslots = 2 * nthreads;
    w->pool = p;
    p->slots = ckf_i_alloc(&w->a, (size_t)p->nslots * sizeof(*p->slots));
    p->workers = ckf_i_alloc(&w->a, (size_t)p->nthreads * sizeof(*p->workers));
    if (!p->slots || !p->workers) {
        ckf_i_free(&w->a, p->slots); p->slots = NULL; p->nslots = 0;
        ckf_i_free(&w->a, p->workers); p->workers = NULL; p->nthreads = 0;
        pool_free(w);
        return -CKF_E_NOMEM;
    }
    memset(p->slots, 0, (size_t)p->nslots * sizeof(*p->slots));
    memset(p->workers, 0, (size_t)p->nthreads * sizeof(*p->workers));
    for (i = 0; i < p->nslots; i++) {
        p->slots[i].obuf = ckf_i_alloc(&w->a, CKF_CHUNK_HDR_SIZE + w->obuf_cap);
        if (!p->slots[i].obuf) { pool_free(w); return -CKF_E_NOMEM; }
    }
    if ((rc = ckf_cctx_new(&w->cctx, w->level, &w->a))) { pool_free(w); return rc; }
    for (i = 0; i < p->nthreads; i++) {
        p->workers[i].p = p;
        if ((rc = ckf_cctx_new(&p->workers[i].cctx, w->level, &w->a))) {
            pool_free(w);
            return rc;
        }
    }
    /* Our threads must never run the program's signal handlers. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; i < p->nthreads; i++) {
        if (pthread_create(&p->workers[i].th, NULL, worker_main, &p->workers[i])) {
            rc = -CKF_E_NOMEM;
            break;
        }
        p->workers[i].started = 1;
        pthread_setname_np(p->workers[i].th, "ckf-compress");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) pool_free(w);
    return rc;
}

/* Waits for the oldest submitted block and writes it. */
static int pool_write_one(ckf_writer *w)
{
    struct pool *p = w->pool;
    struct slot *s = &p->slots[p->written % (uint64_t)p->nslots];
    int rc;

    pthread_mutex_lock(&p->mu);
    while (!s->done) {
        if (take_one(p, p->w->cctx)) continue;
        p->waiting = 1;
        pthread_cond_wait(&p->done, &p->mu);
        p->waiting = 0;
    }
    pthread_mutex_unlock(&p->mu);
    rc = s->rc;
    if (rc) { if (!w->err) w->err = rc; }
    else if (!w->err) put_chunk(w, &s->hdr, s->payload, s->payload != s->src);
    p->written++;
    return w->err;
}

static int pool_add_memory(ckf_writer *w, uint64_t addr, const uint8_t *data, size_t len)
{
    struct pool *p = w->pool;

    while (len) {
        size_t n = w->bs - (size_t)(addr % w->bs);
        struct slot *s;
        if (n > len) n = len;
        if (p->submitted - p->written == (uint64_t)p->nslots) pool_write_one(w);
        s = &p->slots[p->submitted % (uint64_t)p->nslots];
        s->src = data; s->len = n; s->key = addr; s->rc = 0;
        /* Zero blocks cost one scan and no compression: encoding them here
         * saves waking a worker for each (all-zero memory runs at memory
         * bandwidth instead of at the pool's hand-off rate). */
        s->done = ckf_is_zero(data, n);
        if (s->done) {
            ckf_i_encode_zero(CKF_T_MEMBLK, addr, data, n, &s->hdr, w->zero_hash, w->bs);
            s->payload = NULL;
        }
        pthread_mutex_lock(&p->mu);
        p->submitted++;
        if (!s->done && p->idle) pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
        addr += n; data += n; len -= n;
    }
    while (p->written != p->submitted) pool_write_one(w);
    return w->err;
}

/* ---- public API -------------------------------------------------------------------- */

static void make_id(uint8_t id[16])
{
    struct timespec ts;
    uint64_t seed[3];

    if (getrandom(id, 16, GRND_NONBLOCK) == 16) return;
    /* No entropy yet (early boot) or no getrandom: time and pid are unique enough
     * to tell checkpoints apart; the id is an identity, not a secret. */
    clock_gettime(CLOCK_REALTIME, &ts);
    seed[0] = (uint64_t)ts.tv_sec;
    seed[1] = (uint64_t)ts.tv_nsec;
    seed[2] = (uint64_t)getpid();
    ckf_hash128(seed, sizeof(seed), id);
}

static int is_zero16(const uint8_t id[16]) { return ckf_is_zero(id, 16); }

int ckf_writer_open(ckf_writer **out, const ckf_writer_opts *o)
{
    ckf_writer *w;
    ckf_alloc a;
    uint32_t bs;
    int rc;

    if (!out) return -CKF_E_INVAL;
    *out = NULL;
    if (!o || !o->sink || !o->sink->write) return -CKF_E_INVAL;
    bs = o->block_size ? o->block_size : CKF_DEFAULT_BLOCK;
    if (!ckf_i_block_size_ok(bs)) return -CKF_E_INVAL;
    if (o->level != 0 && (o->level < ZSTD_minCLevel() || o->level > ZSTD_maxCLevel()))
        return -CKF_E_INVAL;
    if (o->nthreads < 0 || o->nthreads > 256) return -CKF_E_INVAL;
    ckf_i_alloc_init(&a, o->alloc);
    w = ckf_i_alloc(&a, sizeof(*w));
    if (!w) return -CKF_E_NOMEM;
    memset(w, 0, sizeof(*w));
    w->a = a;
    w->sink = o->sink;
    w->level = o->level;
    w->bs = bs;
    w->obuf_cap = ckf_block_bound(bs);
    w->wbuf = ckf_i_alloc(&a, WBUF_SIZE);
    if (!w->wbuf) { ckf_writer_free(w); return -CKF_E_NOMEM; }
    {
        /* hash of a zero block, computed once: zero blocks then cost one scan */
        XXH128_canonical_t c;
        XXH3_state_t st;
        static const uint8_t zeros[4096];
        uint32_t i;
        XXH3_128bits_reset(&st);
        for (i = 0; i < bs; i += sizeof(zeros)) XXH3_128bits_update(&st, zeros, sizeof(zeros));
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
        memcpy(w->zero_hash, c.digest, 16);
    }
    if (o->nthreads > 1) {
        if ((rc = pool_new(w, o->nthreads))) { ckf_writer_free(w); return rc; }
    } else {
        if ((rc = ckf_cctx_new(&w->cctx, o->level, &a))) { ckf_writer_free(w); return rc; }
        w->obuf = ckf_i_alloc(&a, CKF_CHUNK_HDR_SIZE + w->obuf_cap);
        if (!w->obuf) { ckf_writer_free(w); return -CKF_E_NOMEM; }
    }

    memcpy(w->hdr.magic, CKF_MAGIC, 8);
    w->hdr.version_major = CKF_VERSION_MAJOR;
    w->hdr.version_minor = CKF_VERSION_MINOR;
    w->hdr.block_size = bs;
    if (o->created_ns) {
        w->hdr.created_ns = o->created_ns;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        w->hdr.created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    if (is_zero16(o->id)) make_id(w->hdr.id);
    else memcpy(w->hdr.id, o->id, 16);
    memcpy(w->hdr.parent_id, o->parent_id, 16);
    w->hdr.hdr_checksum = XXH3_64bits(&w->hdr, CKF_HDR_SUMMED);
    if ((rc = emit(w, &w->hdr, sizeof(w->hdr)))) { ckf_writer_free(w); return rc; }
    *out = w;
    return 0;
}

static int usable(ckf_writer *w)
{
    if (!w) return -CKF_E_INVAL;
    if (w->closed) return -CKF_E_STATE;
    return w->err;
}

/* The single-threaded encoder for one chunk, used by add_chunk and add_memory. */
static int encode_put(ckf_writer *w, uint16_t type, uint64_t key, const void *data,
                      size_t len, uint8_t *obuf, size_t obuf_cap)
{
    ckf_chunk_header h;
    const void *pl;
    int rc;

    rc = ckf_i_encode(w->cctx, type, key, data, len, &h, obuf + CKF_CHUNK_HDR_SIZE,
                      obuf_cap, 0, &pl, w->zero_hash, w->bs);
    if (rc) return w->err = rc;
    return put_chunk(w, &h, pl, pl != data);
}

int ckf_writer_add_chunk(ckf_writer *w, uint16_t type, uint64_t key, const void *data,
                         size_t len)
{
    int rc;

    if ((rc = usable(w))) return rc;
    if (type == CKF_T_MEMBLK || type == CKF_T_INDEX || type == 0 || type == CKF_CRITICAL ||
        (len && !data) || len > CKF_MAX_META)
        return -CKF_E_INVAL;
    if (!w->obuf) {
        /* threaded writer: metadata is compressed on the caller's thread */
        if (!w->cctx && (rc = ckf_cctx_new(&w->cctx, w->level, &w->a))) return w->err = rc;
        w->obuf = ckf_i_alloc(&w->a, CKF_CHUNK_HDR_SIZE + w->obuf_cap);
        if (!w->obuf) return w->err = -CKF_E_NOMEM;
    }
    if (w->cctx->z && len > w->obuf_cap) {
        /* larger than a memory block: a one-off output buffer */
        size_t cap = ckf_block_bound(len);
        uint8_t *b = ckf_i_alloc(&w->a, CKF_CHUNK_HDR_SIZE + cap);
        if (!b) return w->err = -CKF_E_NOMEM;
        rc = encode_put(w, type, key, data, len, b, cap);
        ckf_i_free(&w->a, b);
        return rc;
    }
    return encode_put(w, type, key, data, len, w->obuf, w->obuf_cap);
}

int ckf_writer_add_memory(ckf_writer *w, uint64_t addr, const void *data, size_t len)
{
    const uint8_t *p = data;
    int rc;

    if ((rc = usable(w))) return rc;
    if ((len && !data) || addr + len < addr) return -CKF_E_INVAL;
    if (w->pool) return pool_add_memory(w, addr, p, len);
    while (len) {
        size_t n = w->bs - (size_t)(addr % w->bs);
        if (n > len) n = len;
        if ((rc = encode_put(w, CKF_T_MEMBLK, addr, p, n, w->obuf, w->obuf_cap))) return rc;
        addr += n; p += n; len -= n;
    }
    return 0;
}

int ckf_writer_add_parent_ref(ckf_writer *w, uint64_t addr, uint64_t len,
                              const uint8_t content_hash[16])
{
    ckf_chunk_header h;
    int rc;

    if ((rc = usable(w))) return rc;
    if (!content_hash || ckf_i_check_fields(CKF_T_MEMBLK, CKF_C_PARENT, 0, 0, len, addr, w->bs))
        return -CKF_E_INVAL;
    if (is_zero16(w->hdr.parent_id)) return -CKF_E_STATE;  /* no parent declared */
    memset(&h, 0, sizeof(h));
    h.magic = CKF_CHUNK_MAGIC;
    h.type = CKF_T_MEMBLK;
    h.codec = CKF_C_PARENT;
    h.raw_len = len;
    h.key = addr;
    memcpy(h.content_hash, content_hash, 16);
    ckf_i_seal_chunk(&h);
    return put_chunk(w, &h, NULL, 0);
}

int ckf_writer_put_encoded(ckf_writer *w, const ckf_chunk_header *hdr, const void *payload)
{
    int rc;

    if ((rc = usable(w))) return rc;
    if (!hdr || (hdr->stored_len && !payload)) return -CKF_E_INVAL;
    if (ckf_i_check_chunk(hdr, w->bs)) return -CKF_E_INVAL;
    if (hdr->codec == CKF_C_PARENT && is_zero16(w->hdr.parent_id)) return -CKF_E_STATE;
    return put_chunk(w, hdr, payload, 0);
}

int ckf_writer_close(ckf_writer *w)
{
    ckf_chunk_header h;
    ckf_footer f;
    size_t ilen;
    uint64_t index_off;
    const void *pl = w ? w->ents : NULL;
    uint8_t *cbuf = NULL;
    int rc;

    if ((rc = usable(w))) return rc;
    w->closed = 1;
    ilen = w->nents * sizeof(ckf_index_entry);
    index_off = w->off;
    memset(&h, 0, sizeof(h));
    h.magic = CKF_CHUNK_MAGIC;
    h.type = CKF_T_INDEX;
    h.codec = CKF_C_STORED;
    h.raw_len = ilen;
    h.stored_len = ilen;
    h.key = w->nents;
    ckf_hash128(w->ents, ilen, h.content_hash);
    /* A large index (small blocks, big process) compresses well: offsets and
     * keys grow regularly. */
    if (w->level != 0 && ilen > 4096) {
        ckf_cctx *c = w->cctx;
        size_t cap = ZSTD_compressBound(ilen), n;
        if (!c && (rc = ckf_cctx_new(&w->cctx, w->level, &w->a))) return w->err = rc;
        c = w->cctx;
        cbuf = ckf_i_alloc(&w->a, cap);
        if (!cbuf) return w->err = -CKF_E_NOMEM;
        n = ZSTD_compressCCtx(c->z, cbuf, cap, w->ents, ilen, c->level);
        if (!ZSTD_isError(n) && n < ilen) {
            h.codec = CKF_C_ZSTD;
            h.stored_len = n;
            pl = cbuf;
        }
    }
    if (h.codec == CKF_C_ZSTD) h.payload_checksum = ckf_hash64(pl, h.stored_len);
    ckf_i_seal_chunk(&h);
    if ((rc = emit(w, &h, sizeof(h))) || (h.stored_len && (rc = emit(w, pl, h.stored_len)))) {
        ckf_i_free(&w->a, cbuf);
        return rc;
    }
    ckf_i_free(&w->a, cbuf);
    memset(&f, 0, sizeof(f));
    memcpy(f.magic, CKF_FOOTER_MAGIC, 8);
    f.index_offset = index_off;
    f.nentries = w->nents;
    f.file_size = w->off + sizeof(f);
    memcpy(f.id, w->hdr.id, 16);
    f.footer_checksum = XXH3_64bits(&f, CKF_HDR_SUMMED);
    if ((rc = emit(w, &f, sizeof(f)))) return rc;
    if ((rc = flush(w))) return w->err = rc;
    return 0;
}

void ckf_writer_free(ckf_writer *w)
{
    ckf_alloc a;

    if (!w) return;
    pool_free(w);
    ckf_cctx_free(w->cctx);
    ckf_i_free(&w->a, w->obuf);
    ckf_i_free(&w->a, w->wbuf);
    ckf_i_free(&w->a, w->ents);
    a = w->a;
    ckf_i_free(&a, w);
}

uint64_t ckf_writer_bytes(const ckf_writer *w) { return w ? w->off : 0; }

void ckf_writer_id(const ckf_writer *w, uint8_t id[16])
{
    if (w) memcpy(id, w->hdr.id, 16);
}
