/*
 * cuda_track.c - device-state tracking: the hand-written wrappers of
 * cuda_funcs.def (CU_HOOK rows) and the table they fill.
 *
 * Every wrapper calls the next definition first and records only on success,
 * so return codes and out-parameters are exactly the driver's; the
 * application's errno is preserved around our bookkeeping.
 *
 * The table.  Wrappers run on application threads and may be interrupted by
 * the checkpoint signal at any point, so the reader side (serialisation, run
 * from the capture path) must never wait for a writer: records live in one
 * mmap'd array of fixed-size slots; a writer fills a slot and only then
 * publishes it (state = 1, release); removal clears the state first.  Readers
 * scan slots [0, high-water) and copy the live ones, without a lock.  Writers
 * serialise among themselves with a mutex (normal context only) which also
 * guards the (kind, key) -> slot hash index used by free/destroy.  No malloc:
 * the arrays are reserved with mmap(MAP_NORESERVE) on first use, so a program
 * that never touches CUDA never pays for them.
 *
 * Known limitations:
 *  - partial cuMemUnmap of a mapping, and sub-range frees, are not modelled;
 *  - a record created while the checkpoint froze its writer mid-update is
 *    missing from that checkpoint's metadata (the driver still saves the
 *    memory itself: metadata only);
 *  - object names are kept in an append-only 4 MiB arena (names beyond it are
 *    dropped, the objects are still tracked).
 */
#include "cuda_hooks/cuda_int.h"
#include "preload/log.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#define TRK_CAP   (1u << 18)       /* slots: 16 MiB of address space at most */
#define TRK_HCAP  (1u << 19)       /* hash slots (power of two, 2 x TRK_CAP) */
#define TRK_TOMB  0xffffffffu
#define STR_CAP   (4u << 20)

static trk_rec *g_rec;
static uint32_t *g_hash;
static char *g_str;
static size_t g_str_len;
static uint32_t g_hw;              /* slots ever used (readers: acquire) */
static uint32_t g_free;            /* free list head, index + 1 */
static uint32_t g_tombs;
static uint64_t g_live[CKCU_K_LAST], g_bytes[CKCU_K_LAST];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

CK_HIDDEN cu_device_info cu_devices[CU_MAX_DEVICES];
CK_HIDDEN uint32_t cu_gate_sticky;
CK_HIDDEN uint32_t cu_dev_mask;
CK_HIDDEN int cu_driver_version;

static int trk_init_locked(void)
{
    if (g_rec) return 0;
    void *r = mmap(NULL, (size_t)TRK_CAP * sizeof(trk_rec), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *h = mmap(NULL, (size_t)TRK_HCAP * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *s = mmap(NULL, STR_CAP, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED || h == MAP_FAILED || s == MAP_FAILED) {
        if (r != MAP_FAILED) munmap(r, (size_t)TRK_CAP * sizeof(trk_rec));
        if (h != MAP_FAILED) munmap(h, (size_t)TRK_HCAP * sizeof(uint32_t));
        if (s != MAP_FAILED) munmap(s, STR_CAP);
        ck_err("cuda: cannot reserve the tracking table: %d", errno);
        return -ENOMEM;
    }
    g_hash = h;
    g_str = s;
    __atomic_store_n(&g_rec, (trk_rec *)r, __ATOMIC_RELEASE);
    return 0;
}

static uint32_t hslot(unsigned kind, uint64_t key)
{
    uint64_t x = key ^ ((uint64_t)kind << 56) ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ull);
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33;
    return (uint32_t)x & (TRK_HCAP - 1);
}

/* Slot index + 1 of the live record (kind, key), and where it sits in the hash. */
static uint32_t hfind(unsigned kind, uint64_t key, uint32_t *pos)
{
    for (uint32_t h = hslot(kind, key), n = 0; n < TRK_HCAP; n++, h = (h + 1) & (TRK_HCAP - 1)) {
        uint32_t v = g_hash[h];
        if (v == 0) return 0;
        if (v == TRK_TOMB) continue;
        const ckcu_img_record *r = &g_rec[v - 1].r;
        if (r->kind == kind && r->key == key) { if (pos) *pos = h; return v; }
    }
    return 0;
}

static void hrebuild_locked(void)
{
    memset(g_hash, 0, (size_t)TRK_HCAP * sizeof(uint32_t));
    g_tombs = 0;
    for (uint32_t i = 0; i < g_hw; i++) {
        if (!g_rec[i].state) continue;
        uint32_t h = hslot(g_rec[i].r.kind, g_rec[i].r.key);
        while (g_hash[h]) h = (h + 1) & (TRK_HCAP - 1);
        g_hash[h] = i + 1;
    }
}

static void unpublish_locked(uint32_t v, uint32_t pos)
{
    trk_rec *t = &g_rec[v - 1];
    __atomic_store_n(&t->state, 0, __ATOMIC_RELEASE);
    g_live[t->r.kind]--;
    g_bytes[t->r.kind] -= t->r.size;
    g_hash[pos] = TRK_TOMB;
    t->next_free = g_free;
    g_free = v;
    if (++g_tombs > TRK_HCAP / 4) hrebuild_locked();
}

/* Inserts r (replacing a live record with the same kind and key: the driver
 * reuses addresses, so an existing one is stale).  Returns 0 or -errno. */
static int trk_put(const ckcu_img_record *r, const char *name)
{
    int e = errno, ret = 0;
    pthread_mutex_lock(&g_lock);
    if (trk_init_locked()) { ret = -ENOMEM; goto out; }
    uint32_t pos, v = hfind(r->kind, r->key, &pos);
    if (v) unpublish_locked(v, pos);
    if (g_free) {
        v = g_free;
        g_free = g_rec[v - 1].next_free;
    } else if (g_hw < TRK_CAP) {
        v = g_hw + 1;
    } else {
        static int said;
        if (!said++) ck_err("cuda: tracking table full (%u objects); later objects untracked", TRK_CAP);
        ret = -ENOSPC;
        goto out;
    }
    trk_rec *t = &g_rec[v - 1];
    t->r = *r;
    t->r.name_off = t->r.name_len = 0;
    if (name) {
        size_t n = strnlen(name, 4096);
        if (g_str_len + n <= STR_CAP) {
            memcpy(g_str + g_str_len, name, n);
            t->r.name_off = (uint32_t)g_str_len;
            t->r.name_len = (uint32_t)n;
            g_str_len += n;
        }
    }
    uint32_t h = hslot(r->kind, r->key);
    while (g_hash[h] && g_hash[h] != TRK_TOMB) h = (h + 1) & (TRK_HCAP - 1);
    if (g_hash[h] == TRK_TOMB) g_tombs--;
    g_hash[h] = v;
    g_live[r->kind]++;
    g_bytes[r->kind] += r->size;
    __atomic_store_n(&t->state, 1, __ATOMIC_RELEASE);
    if (v > g_hw) __atomic_store_n(&g_hw, v, __ATOMIC_RELEASE);
out:
    pthread_mutex_unlock(&g_lock);
    errno = e;
    return ret;
}

/* Removes (kind, key); copies the record to *out if given.  1 if it existed. */
static int trk_del(unsigned kind, uint64_t key, ckcu_img_record *out)
{
    int e = errno, found = 0;
    pthread_mutex_lock(&g_lock);
    if (g_rec) {
        uint32_t pos, v = hfind(kind, key, &pos);
        if (v) {
            if (out) *out = g_rec[v - 1].r;
            unpublish_locked(v, pos);
            found = 1;
        }
    }
    pthread_mutex_unlock(&g_lock);
    errno = e;
    return found;
}

static int trk_get(unsigned kind, uint64_t key, ckcu_img_record *out)
{
    int found = 0;
    pthread_mutex_lock(&g_lock);
    if (g_rec) {
        uint32_t v = hfind(kind, key, NULL);
        if (v) { if (out) *out = g_rec[v - 1].r; found = 1; }
    }
    pthread_mutex_unlock(&g_lock);
    return found;
}

/* Adds delta to aux0 of a live record (context reference counts). */
static int64_t trk_bump(unsigned kind, uint64_t key, int64_t delta)
{
    int64_t now = -1;
    pthread_mutex_lock(&g_lock);
    if (g_rec) {
        uint32_t v = hfind(kind, key, NULL);
        if (v) { g_rec[v - 1].r.aux0 += (uint64_t)delta; now = (int64_t)g_rec[v - 1].r.aux0; }
    }
    pthread_mutex_unlock(&g_lock);
    return now;
}

/* Drops every record whose ctx (by_ctx) or aux1 parent (!by_ctx) is `owner`. */
static void trk_drop_owned(uint64_t owner, int by_ctx)
{
    int e = errno;
    pthread_mutex_lock(&g_lock);
    for (uint32_t i = 0; g_rec && i < g_hw; i++) {
        trk_rec *t = &g_rec[i];
        if (!t->state) continue;
        int match = by_ctx ? t->r.ctx == owner && t->r.kind != CKCU_K_CTX
                           : (t->r.kind == CKCU_K_FUNCTION || t->r.kind == CKCU_K_KERNEL ||
                              t->r.kind == CKCU_K_GLOBAL) && t->r.aux1 == owner;
        if (!match) continue;
        uint32_t pos, v = hfind(t->r.kind, t->r.key, &pos);
        if (v == i + 1) unpublish_locked(v, pos);
    }
    pthread_mutex_unlock(&g_lock);
    errno = e;
}

CK_HIDDEN uint32_t trk_highwater(void) { return __atomic_load_n(&g_hw, __ATOMIC_ACQUIRE); }
CK_HIDDEN const trk_rec *trk_slot(uint32_t i) { return &__atomic_load_n(&g_rec, __ATOMIC_ACQUIRE)[i]; }
CK_HIDDEN const char *trk_strings(size_t *len) { *len = __atomic_load_n(&g_str_len, __ATOMIC_ACQUIRE); return g_str; }
CK_HIDDEN uint64_t trk_live(int kind) { return __atomic_load_n(&g_live[kind], __ATOMIC_RELAXED); }
CK_HIDDEN uint64_t trk_bytes(int kind) { return __atomic_load_n(&g_bytes[kind], __ATOMIC_RELAXED); }

/* ---- helpers used by the wrappers ---------------------------------------------- */
#define CALL(n, A) ({ ckcu_pfn_##n f_ = (ckcu_pfn_##n)cu_fn(CUI_##n); \
                      f_ ? f_ A : cu_missing(CUI_##n); })

static void note_device(int dev)
{
    if (dev < 0 || dev >= CU_MAX_DEVICES) return;
    __atomic_fetch_or(&cu_dev_mask, 1u << dev, __ATOMIC_RELAXED);
    cu_device_info *di = &cu_devices[dev];
    if (di->known) return;
    int e = errno;
    ckcu_img_device d;
    memset(&d, 0, sizeof d);
    d.ordinal = dev;
    ckcu_uuid_t u;
    memset(&u, 0, sizeof u);
    if (cu_real(CUI_cuDeviceGetUuid_v2)) CU_REAL(cuDeviceGetUuid_v2)(&u, dev);
    else if (cu_real(CUI_cuDeviceGetUuid)) CU_REAL(cuDeviceGetUuid)(&u, dev);
    memcpy(d.uuid, u.bytes, 16);
    size_t tot = 0;
    if (cu_real(CUI_cuDeviceTotalMem_v2)) CU_REAL(cuDeviceTotalMem_v2)(&tot, dev);
    d.total_mem = tot;
    if (cu_real(CUI_cuDeviceGetName)) CU_REAL(cuDeviceGetName)(d.name, (int)sizeof d.name - 1, dev);
    if (cu_real(CUI_cuDeviceGetAttribute)) {
        CU_REAL(cuDeviceGetAttribute)(&d.cc_major, CKCU_DEVATTR_COMPUTE_CAPABILITY_MAJOR, dev);
        CU_REAL(cuDeviceGetAttribute)(&d.cc_minor, CKCU_DEVATTR_COMPUTE_CAPABILITY_MINOR, dev);
    }
    di->d = d;
    __atomic_store_n(&di->known, 1, __ATOMIC_RELEASE);
    errno = e;
}

/* Current context and its device, for the record being created. */
static void cur_ctx(uint64_t *ctx, int *dev)
{
    int e = errno;
    ckcu_ctx_t c = NULL;
    *ctx = 0;
    *dev = -1;
    if (cu_real(CUI_cuCtxGetCurrent) && CU_REAL(cuCtxGetCurrent)(&c) == 0 && c) {
        ckcu_img_record r;
        *ctx = (uint64_t)(uintptr_t)c;
        if (trk_get(CKCU_K_CTX, *ctx, &r)) {
            *dev = r.device;
        } else {
            ckcu_device_t d = -1;
            if (cu_real(CUI_cuCtxGetDevice) && CU_REAL(cuCtxGetDevice)(&d) == 0) *dev = d;
        }
    }
    errno = e;
}

static void put(unsigned kind, unsigned flags, uint64_t key, uint64_t size, uint64_t aux0,
                uint64_t aux1, const char *name)
{
    ckcu_img_record r;
    memset(&r, 0, sizeof r);
    r.kind = (uint16_t)kind;
    r.flags = (uint16_t)flags;
    r.key = key;
    r.size = size;
    r.aux0 = aux0;
    r.aux1 = aux1;
    cur_ctx(&r.ctx, &r.device);
    trk_put(&r, name);
    ck_debug("cuda: track %s key=0x%llx size=%llu", ckcu_kind_name(kind),
             (unsigned long long)key, (unsigned long long)size);
}

static void drop(unsigned kind, uint64_t key)
{
    if (trk_del(kind, key, NULL))
        ck_debug("cuda: untrack %s key=0x%llx", ckcu_kind_name(kind), (unsigned long long)key);
}

static void gate(uint32_t bit, const char *what)
{
    if (!(__atomic_fetch_or(&cu_gate_sticky, bit, __ATOMIC_RELAXED) & bit))
        ck_info("cuda: %s used: checkpoints of this process will be refused", what);
}

#define TRACK (r == CKCU_SUCCESS && cu_tracking())

/* ---- lookup ------------------------------------------------------------------- */
static void lookup_note(const char *sym, int ver, ckcu_u64_t flags, void *before, void *after)
{
    static const char *const tracked[] = {
        "cuMemAlloc", "cuMemAllocPitch", "cuMemAllocManaged", "cuMemAllocAsync",
        "cuMemAllocFromPoolAsync", "cuMemFree", "cuMemFreeAsync", "cuMemCreate", "cuMemMap",
        "cuMemAddressReserve", "cuMemHostAlloc", "cuMemAllocHost", "cuMemHostRegister",
        "cuMemFreeHost", "cuCtxCreate", "cuCtxDestroy", "cuModuleLoadData", "cuLibraryLoadData",
    };
    if (before == after && sym) {
        for (size_t i = 0; i < sizeof tracked / sizeof tracked[0]; i++)
            if (!strcmp(sym, tracked[i])) {
                ck_warn("cuda: untracked allocator variant %s (version %d, flags %llu)", sym, ver,
                        (unsigned long long)flags);
                break;
            }
    }
    ck_debug("cuda: lookup %s ver=%d flags=%llu -> %p%s", sym ? sym : "(null)", ver,
             (unsigned long long)flags, after, before != after ? " (wrapped)" : "");
}

CK_HIDDEN ckcu_result_t ckw_cuGetProcAddress(const char *sym, void **pfn, int ver, ckcu_u64_t flags)
{
    ckcu_result_t r = CALL(cuGetProcAddress, (sym, pfn, ver, flags));
    if (r == CKCU_SUCCESS && pfn && *pfn && cu_mode != CU_MODE_OFF) {
        void *o = *pfn;
        *pfn = cu_subst(o);
        lookup_note(sym, ver, flags, o, *pfn);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuGetProcAddress_v2(const char *sym, void **pfn, int ver,
                                                ckcu_u64_t flags, int *status)
{
    ckcu_result_t r = CALL(cuGetProcAddress_v2, (sym, pfn, ver, flags, status));
    if (r == CKCU_SUCCESS && pfn && *pfn && cu_mode != CU_MODE_OFF) {
        void *o = *pfn;
        *pfn = cu_subst(o);
        lookup_note(sym, ver, flags, o, *pfn);
    }
    return r;
}

/* ---- init and contexts ---------------------------------------------------------- */
CK_HIDDEN ckcu_result_t ckw_cuInit(unsigned flags)
{
    ckcu_result_t r = CALL(cuInit, (flags));
    if (TRACK) {
        int e = errno, v = 0;
        if (cu_real(CUI_cuDriverGetVersion) && CU_REAL(cuDriverGetVersion)(&v) == 0)
            cu_driver_version = v;
        if (!cu_active) ck_debug("cuda: driver initialised (version %d)", v);
        cu_active = 1;
        errno = e;
    }
    return r;
}

static void ctx_new(ckcu_ctx_t c, int dev, unsigned flags)
{
    ckcu_img_record r;
    memset(&r, 0, sizeof r);
    r.kind = CKCU_K_CTX;
    r.flags = (uint16_t)flags;
    r.key = (uint64_t)(uintptr_t)c;
    r.ctx = r.key;
    r.device = dev;
    r.aux0 = 1;
    note_device(dev);
    cu_active = 1;
    trk_put(&r, NULL);
    ck_debug("cuda: track ctx 0x%llx device %d", (unsigned long long)r.key, dev);
}

CK_HIDDEN ckcu_result_t ckw_cuDevicePrimaryCtxRetain(ckcu_ctx_t *c, ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuDevicePrimaryCtxRetain, (c, d));
    if (TRACK && c && trk_bump(CKCU_K_CTX, (uint64_t)(uintptr_t)*c, 1) < 0)
        ctx_new(*c, d, CKCU_RF_PRIMARY);
    return r;
}

static void primary_release(ckcu_device_t d, int reset)
{
    pthread_mutex_lock(&g_lock);
    uint64_t key = 0, refs = 0;
    for (uint32_t i = 0; g_rec && i < g_hw; i++) {
        trk_rec *t = &g_rec[i];
        if (t->state && t->r.kind == CKCU_K_CTX && (t->r.flags & CKCU_RF_PRIMARY) &&
            t->r.device == d) {
            key = t->r.key;
            if (!reset && t->r.aux0) t->r.aux0--;
            refs = t->r.aux0;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (!key) return;
    /* The driver destroys the primary context (and everything in it) when the
     * last reference goes, or on reset. */
    if (reset || refs == 0) trk_drop_owned(key, 1);
    if (!reset && refs == 0) drop(CKCU_K_CTX, key);
}

CK_HIDDEN ckcu_result_t ckw_cuDevicePrimaryCtxRelease(ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuDevicePrimaryCtxRelease, (d));
    if (TRACK) primary_release(d, 0);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuDevicePrimaryCtxReset(ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuDevicePrimaryCtxReset, (d));
    if (TRACK) primary_release(d, 1);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuDevicePrimaryCtxRelease_v2(ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuDevicePrimaryCtxRelease_v2, (d));
    if (TRACK) primary_release(d, 0);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuDevicePrimaryCtxReset_v2(ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuDevicePrimaryCtxReset_v2, (d));
    if (TRACK) primary_release(d, 1);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuCtxCreate_v2(ckcu_ctx_t *c, unsigned flags, ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuCtxCreate_v2, (c, flags, d));
    if (TRACK && c) ctx_new(*c, d, 0);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuCtxCreate_v3(ckcu_ctx_t *c, void *aff, int naff, unsigned flags,
                                           ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuCtxCreate_v3, (c, aff, naff, flags, d));
    if (TRACK && c) ctx_new(*c, d, 0);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuCtxCreate_v4(ckcu_ctx_t *c, void *params, unsigned flags,
                                           ckcu_device_t d)
{
    ckcu_result_t r = CALL(cuCtxCreate_v4, (c, params, flags, d));
    if (TRACK && c) ctx_new(*c, d, 0);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuCtxDestroy_v2(ckcu_ctx_t c)
{
    ckcu_result_t r = CALL(cuCtxDestroy_v2, (c));
    if (TRACK) {
        trk_drop_owned((uint64_t)(uintptr_t)c, 1);
        drop(CKCU_K_CTX, (uint64_t)(uintptr_t)c);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuCtxEnablePeerAccess(ckcu_ctx_t peer, unsigned flags)
{
    ckcu_result_t r = CALL(cuCtxEnablePeerAccess, (peer, flags));
    if (TRACK) gate(CKCU_GATE_MULTI_GPU, "peer access");
    return r;
}

/* ---- device memory ---------------------------------------------------------------- */
CK_HIDDEN ckcu_result_t ckw_cuMemAlloc_v2(ckcu_deviceptr_t *p, size_t n)
{
    ckcu_result_t r = CALL(cuMemAlloc_v2, (p, n));
    if (TRACK && p) put(CKCU_K_ALLOC, 0, *p, n, CKCU_A_LINEAR, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemAllocPitch_v2(ckcu_deviceptr_t *p, size_t *pitch, size_t w,
                                               size_t h, unsigned esz)
{
    ckcu_result_t r = CALL(cuMemAllocPitch_v2, (p, pitch, w, h, esz));
    if (TRACK && p && pitch) put(CKCU_K_ALLOC, 0, *p, *pitch * h, CKCU_A_PITCH, *pitch, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemFree_v2(ckcu_deviceptr_t p)
{
    ckcu_result_t r = CALL(cuMemFree_v2, (p));
    if (TRACK) {
        if (trk_del(CKCU_K_ALLOC, p, NULL) || trk_del(CKCU_K_MANAGED, p, NULL))
            ck_debug("cuda: untrack alloc 0x%llx", (unsigned long long)p);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemAllocManaged(ckcu_deviceptr_t *p, size_t n, unsigned flags)
{
    ckcu_result_t r = CALL(cuMemAllocManaged, (p, n, flags));
    if (TRACK && p) {
        put(CKCU_K_MANAGED, 0, *p, n, flags, 0, NULL);
        ck_info("cuda: managed memory allocated (%zu bytes): checkpoints will be refused while it is live", n);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemAllocAsync(ckcu_deviceptr_t *p, size_t n, ckcu_stream_t s)
{
    ckcu_result_t r = CALL(cuMemAllocAsync, (p, n, s));
    if (TRACK && p) put(CKCU_K_ALLOC, 0, *p, n, CKCU_A_ASYNC, (uint64_t)(uintptr_t)s, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemAllocAsync_ptsz(ckcu_deviceptr_t *p, size_t n, ckcu_stream_t s)
{
    ckcu_result_t r = CALL(cuMemAllocAsync_ptsz, (p, n, s));
    if (TRACK && p) put(CKCU_K_ALLOC, 0, *p, n, CKCU_A_ASYNC, (uint64_t)(uintptr_t)s, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemAllocFromPoolAsync(ckcu_deviceptr_t *p, size_t n,
                                                    ckcu_mempool_t pool, ckcu_stream_t s)
{
    ckcu_result_t r = CALL(cuMemAllocFromPoolAsync, (p, n, pool, s));
    if (TRACK && p) put(CKCU_K_ALLOC, 0, *p, n, CKCU_A_POOL_ASYNC, (uint64_t)(uintptr_t)pool, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemAllocFromPoolAsync_ptsz(ckcu_deviceptr_t *p, size_t n,
                                                         ckcu_mempool_t pool, ckcu_stream_t s)
{
    ckcu_result_t r = CALL(cuMemAllocFromPoolAsync_ptsz, (p, n, pool, s));
    if (TRACK && p) put(CKCU_K_ALLOC, 0, *p, n, CKCU_A_POOL_ASYNC, (uint64_t)(uintptr_t)pool, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemFreeAsync(ckcu_deviceptr_t p, ckcu_stream_t s)
{
    ckcu_result_t r = CALL(cuMemFreeAsync, (p, s));
    if (TRACK) drop(CKCU_K_ALLOC, p);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemFreeAsync_ptsz(ckcu_deviceptr_t p, ckcu_stream_t s)
{
    ckcu_result_t r = CALL(cuMemFreeAsync_ptsz, (p, s));
    if (TRACK) drop(CKCU_K_ALLOC, p);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemPoolCreate(ckcu_mempool_t *pool, const void *props)
{
    ckcu_result_t r = CALL(cuMemPoolCreate, (pool, props));
    if (TRACK && pool) put(CKCU_K_POOL, 0, (uint64_t)(uintptr_t)*pool, 0, 0, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemPoolDestroy(ckcu_mempool_t pool)
{
    ckcu_result_t r = CALL(cuMemPoolDestroy, (pool));
    if (TRACK) drop(CKCU_K_POOL, (uint64_t)(uintptr_t)pool);
    return r;
}

/* ---- VMM ------------------------------------------------------------------------ */
CK_HIDDEN ckcu_result_t ckw_cuMemAddressReserve(ckcu_deviceptr_t *p, size_t n, size_t align,
                                                ckcu_deviceptr_t hint, unsigned long long flags)
{
    ckcu_result_t r = CALL(cuMemAddressReserve, (p, n, align, hint, flags));
    if (TRACK && p) put(CKCU_K_VA_RESERVE, 0, *p, n, align, hint, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemAddressFree(ckcu_deviceptr_t p, size_t n)
{
    ckcu_result_t r = CALL(cuMemAddressFree, (p, n));
    if (TRACK) drop(CKCU_K_VA_RESERVE, p);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemCreate(ckcu_memhandle_t *h, size_t n,
                                        const ckcu_mem_alloc_prop_t *prop, unsigned long long flags)
{
    ckcu_result_t r = CALL(cuMemCreate, (h, n, prop, flags));
    if (TRACK && h) {
        ckcu_img_record rec;
        memset(&rec, 0, sizeof rec);
        rec.kind = CKCU_K_VMM_HANDLE;
        rec.key = *h;
        rec.size = n;
        rec.aux0 = prop ? (uint64_t)(unsigned)prop->requested_handle_types : 0;
        cur_ctx(&rec.ctx, &rec.device);
        if (prop && prop->location.type == CKCU_MEM_LOCATION_TYPE_DEVICE) {
            rec.device = prop->location.id;
            note_device(prop->location.id);
        }
        trk_put(&rec, NULL);
        ck_debug("cuda: track vmm_handle 0x%llx size=%zu", (unsigned long long)*h, n);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemRelease(ckcu_memhandle_t h)
{
    ckcu_result_t r = CALL(cuMemRelease, (h));
    if (TRACK) drop(CKCU_K_VMM_HANDLE, h);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemMap(ckcu_deviceptr_t p, size_t n, size_t off, ckcu_memhandle_t h,
                                     unsigned long long flags)
{
    ckcu_result_t r = CALL(cuMemMap, (p, n, off, h, flags));
    if (TRACK) put(CKCU_K_VMM_MAP, 0, p, n, off, h, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemUnmap(ckcu_deviceptr_t p, size_t n)
{
    ckcu_result_t r = CALL(cuMemUnmap, (p, n));
    if (TRACK) drop(CKCU_K_VMM_MAP, p);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemExportToShareableHandle(void *out, ckcu_memhandle_t h, int type,
                                                         unsigned long long flags)
{
    ckcu_result_t r = CALL(cuMemExportToShareableHandle, (out, h, type, flags));
    if (TRACK) gate(CKCU_GATE_IPC, "cuMemExportToShareableHandle");
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemImportFromShareableHandle(ckcu_memhandle_t *h, void *os, int type)
{
    ckcu_result_t r = CALL(cuMemImportFromShareableHandle, (h, os, type));
    if (TRACK) gate(CKCU_GATE_IPC, "cuMemImportFromShareableHandle");
    return r;
}

/* ---- pinned host memory ----------------------------------------------------------- */
CK_HIDDEN ckcu_result_t ckw_cuMemAllocHost_v2(void **pp, size_t n)
{
    ckcu_result_t r = CALL(cuMemAllocHost_v2, (pp, n));
    if (TRACK && pp) put(CKCU_K_HOST, 0, (uint64_t)(uintptr_t)*pp, n, 0, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemHostAlloc(void **pp, size_t n, unsigned flags)
{
    ckcu_result_t r = CALL(cuMemHostAlloc, (pp, n, flags));
    if (TRACK && pp) put(CKCU_K_HOST, 0, (uint64_t)(uintptr_t)*pp, n, flags, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemFreeHost(void *p)
{
    ckcu_result_t r = CALL(cuMemFreeHost, (p));
    if (TRACK) drop(CKCU_K_HOST, (uint64_t)(uintptr_t)p);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemHostRegister_v2(void *p, size_t n, unsigned flags)
{
    ckcu_result_t r = CALL(cuMemHostRegister_v2, (p, n, flags));
    if (TRACK) put(CKCU_K_HOST_REG, 0, (uint64_t)(uintptr_t)p, n, flags, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuMemHostUnregister(void *p)
{
    ckcu_result_t r = CALL(cuMemHostUnregister, (p));
    if (TRACK) drop(CKCU_K_HOST_REG, (uint64_t)(uintptr_t)p);
    return r;
}

/* ---- IPC ---------------------------------------------------------------------------- */
CK_HIDDEN ckcu_result_t ckw_cuIpcGetMemHandle(ckcu_ipc_handle_t *h, ckcu_deviceptr_t p)
{
    ckcu_result_t r = CALL(cuIpcGetMemHandle, (h, p));
    if (TRACK) gate(CKCU_GATE_IPC, "cuIpcGetMemHandle");
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuIpcOpenMemHandle(ckcu_deviceptr_t *p, ckcu_ipc_handle_t h, unsigned flags)
{
    ckcu_result_t r = CALL(cuIpcOpenMemHandle, (p, h, flags));
    if (TRACK) gate(CKCU_GATE_IPC, "cuIpcOpenMemHandle");
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuIpcOpenMemHandle_v2(ckcu_deviceptr_t *p, ckcu_ipc_handle_t h,
                                                  unsigned flags)
{
    ckcu_result_t r = CALL(cuIpcOpenMemHandle_v2, (p, h, flags));
    if (TRACK) gate(CKCU_GATE_IPC, "cuIpcOpenMemHandle");
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuIpcGetEventHandle(ckcu_ipc_handle_t *h, ckcu_event_t e)
{
    ckcu_result_t r = CALL(cuIpcGetEventHandle, (h, e));
    if (TRACK) gate(CKCU_GATE_IPC, "cuIpcGetEventHandle");
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuIpcOpenEventHandle(ckcu_event_t *e, ckcu_ipc_handle_t h)
{
    ckcu_result_t r = CALL(cuIpcOpenEventHandle, (e, h));
    if (TRACK) gate(CKCU_GATE_IPC, "cuIpcOpenEventHandle");
    return r;
}

/* ---- modules and libraries ------------------------------------------------------- */
static size_t image_len(const void *img)
{
    /* PTX is NUL-terminated text; a cubin/fatbin size is not knowable here. */
    const unsigned char *s = img;
    if (!s || s[0] == 0x7f || s[0] == 0x50 || s[0] == 0xba) return 0;
    return strnlen(img, 64u << 20);
}

CK_HIDDEN ckcu_result_t ckw_cuModuleLoad(ckcu_module_t *m, const char *path)
{
    ckcu_result_t r = CALL(cuModuleLoad, (m, path));
    if (TRACK && m) put(CKCU_K_MODULE, 0, (uint64_t)(uintptr_t)*m, 0, CKCU_L_FILE, 0, path);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuModuleLoadData(ckcu_module_t *m, const void *img)
{
    ckcu_result_t r = CALL(cuModuleLoadData, (m, img));
    if (TRACK && m) put(CKCU_K_MODULE, 0, (uint64_t)(uintptr_t)*m, image_len(img), CKCU_L_DATA, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuModuleLoadDataEx(ckcu_module_t *m, const void *img, unsigned n,
                                               void *opts, void **vals)
{
    ckcu_result_t r = CALL(cuModuleLoadDataEx, (m, img, n, opts, vals));
    if (TRACK && m) put(CKCU_K_MODULE, 0, (uint64_t)(uintptr_t)*m, image_len(img), CKCU_L_DATA, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuModuleLoadFatBinary(ckcu_module_t *m, const void *fat)
{
    ckcu_result_t r = CALL(cuModuleLoadFatBinary, (m, fat));
    if (TRACK && m) put(CKCU_K_MODULE, 0, (uint64_t)(uintptr_t)*m, 0, CKCU_L_FATBIN, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuModuleUnload(ckcu_module_t m)
{
    ckcu_result_t r = CALL(cuModuleUnload, (m));
    if (TRACK) {
        trk_drop_owned((uint64_t)(uintptr_t)m, 0);
        drop(CKCU_K_MODULE, (uint64_t)(uintptr_t)m);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuModuleGetFunction(ckcu_function_t *f, ckcu_module_t m, const char *name)
{
    ckcu_result_t r = CALL(cuModuleGetFunction, (f, m, name));
    if (TRACK && f && !trk_get(CKCU_K_FUNCTION, (uint64_t)(uintptr_t)*f, NULL))
        put(CKCU_K_FUNCTION, 0, (uint64_t)(uintptr_t)*f, 0, 0, (uint64_t)(uintptr_t)m, name);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuModuleGetGlobal_v2(ckcu_deviceptr_t *p, size_t *n, ckcu_module_t m,
                                                 const char *name)
{
    size_t sz = 0;
    ckcu_deviceptr_t dp = 0;
    ckcu_result_t r = CALL(cuModuleGetGlobal_v2, (p ? p : &dp, n ? n : &sz, m, name));
    if (TRACK) {
        dp = p ? *p : dp;
        sz = n ? *n : sz;
        if (!trk_get(CKCU_K_GLOBAL, dp, NULL))
            put(CKCU_K_GLOBAL, 0, dp, sz, 0, (uint64_t)(uintptr_t)m, name);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuLibraryLoadData(ckcu_library_t *l, const void *code, void *jo,
                                              void **jv, unsigned nj, void *lo, void **lv,
                                              unsigned nl)
{
    ckcu_result_t r = CALL(cuLibraryLoadData, (l, code, jo, jv, nj, lo, lv, nl));
    if (TRACK && l) put(CKCU_K_LIBRARY, 0, (uint64_t)(uintptr_t)*l, image_len(code), CKCU_L_DATA, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuLibraryLoadFromFile(ckcu_library_t *l, const char *path, void *jo,
                                                  void **jv, unsigned nj, void *lo, void **lv,
                                                  unsigned nl)
{
    ckcu_result_t r = CALL(cuLibraryLoadFromFile, (l, path, jo, jv, nj, lo, lv, nl));
    if (TRACK && l) put(CKCU_K_LIBRARY, 0, (uint64_t)(uintptr_t)*l, 0, CKCU_L_FILE, 0, path);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuLibraryUnload(ckcu_library_t l)
{
    ckcu_result_t r = CALL(cuLibraryUnload, (l));
    if (TRACK) {
        trk_drop_owned((uint64_t)(uintptr_t)l, 0);
        drop(CKCU_K_LIBRARY, (uint64_t)(uintptr_t)l);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuLibraryGetKernel(ckcu_kernel_t *k, ckcu_library_t l, const char *name)
{
    ckcu_result_t r = CALL(cuLibraryGetKernel, (k, l, name));
    if (TRACK && k && !trk_get(CKCU_K_KERNEL, (uint64_t)(uintptr_t)*k, NULL))
        put(CKCU_K_KERNEL, 0, (uint64_t)(uintptr_t)*k, 0, 0, (uint64_t)(uintptr_t)l, name);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuLibraryGetGlobal(ckcu_deviceptr_t *p, size_t *n, ckcu_library_t l,
                                               const char *name)
{
    size_t sz = 0;
    ckcu_deviceptr_t dp = 0;
    ckcu_result_t r = CALL(cuLibraryGetGlobal, (p ? p : &dp, n ? n : &sz, l, name));
    if (TRACK) {
        dp = p ? *p : dp;
        sz = n ? *n : sz;
        if (!trk_get(CKCU_K_GLOBAL, dp, NULL))
            put(CKCU_K_GLOBAL, 0, dp, sz, 0, (uint64_t)(uintptr_t)l, name);
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuLibraryGetManaged(ckcu_deviceptr_t *p, size_t *n, ckcu_library_t l,
                                                const char *name)
{
    size_t sz = 0;
    ckcu_deviceptr_t dp = 0;
    ckcu_result_t r = CALL(cuLibraryGetManaged, (p ? p : &dp, n ? n : &sz, l, name));
    if (TRACK) {
        dp = p ? *p : dp;
        sz = n ? *n : sz;
        put(CKCU_K_GLOBAL, CKCU_RF_MANAGED, dp, sz, 0, (uint64_t)(uintptr_t)l, name);
        gate(CKCU_GATE_MANAGED, "a __managed__ variable");
    }
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuKernelGetFunction(ckcu_function_t *f, ckcu_kernel_t k)
{
    ckcu_result_t r = CALL(cuKernelGetFunction, (f, k));
    if (TRACK && f && !trk_get(CKCU_K_FUNCTION, (uint64_t)(uintptr_t)*f, NULL)) {
        ckcu_img_record kr;
        int have = trk_get(CKCU_K_KERNEL, (uint64_t)(uintptr_t)k, &kr);
        size_t sl;
        const char *s = trk_strings(&sl);
        char name[128] = "";
        if (have && kr.name_len && kr.name_len < sizeof name) {
            memcpy(name, s + kr.name_off, kr.name_len);
            name[kr.name_len] = 0;
        }
        put(CKCU_K_FUNCTION, 0, (uint64_t)(uintptr_t)*f, 0, 0, (uint64_t)(uintptr_t)k,
            name[0] ? name : NULL);
    }
    return r;
}

/* ---- streams and events ---------------------------------------------------------- */
CK_HIDDEN ckcu_result_t ckw_cuStreamCreate(ckcu_stream_t *s, unsigned flags)
{
    ckcu_result_t r = CALL(cuStreamCreate, (s, flags));
    if (TRACK && s) put(CKCU_K_STREAM, 0, (uint64_t)(uintptr_t)*s, 0, flags, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuStreamCreateWithPriority(ckcu_stream_t *s, unsigned flags, int prio)
{
    ckcu_result_t r = CALL(cuStreamCreateWithPriority, (s, flags, prio));
    if (TRACK && s) put(CKCU_K_STREAM, 0, (uint64_t)(uintptr_t)*s, 0, flags, (uint64_t)(int64_t)prio, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuStreamDestroy_v2(ckcu_stream_t s)
{
    ckcu_result_t r = CALL(cuStreamDestroy_v2, (s));
    if (TRACK) drop(CKCU_K_STREAM, (uint64_t)(uintptr_t)s);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuEventCreate(ckcu_event_t *e, unsigned flags)
{
    ckcu_result_t r = CALL(cuEventCreate, (e, flags));
    if (TRACK && e) put(CKCU_K_EVENT, 0, (uint64_t)(uintptr_t)*e, 0, flags, 0, NULL);
    return r;
}

CK_HIDDEN ckcu_result_t ckw_cuEventDestroy_v2(ckcu_event_t e)
{
    ckcu_result_t r = CALL(cuEventDestroy_v2, (e));
    if (TRACK) drop(CKCU_K_EVENT, (uint64_t)(uintptr_t)e);
    return r;
}

/* Exported names of the hand-written wrappers (same list, same scheme as the
 * generated ones in cuda_interpose.c). */
#define CU_GEN(n, P, A)
#define CU_HOOK(n, P, A) \
    extern __typeof__(ckw_##n) n __attribute__((alias("ckw_" #n), visibility("default")));
#include "cuda_hooks/cuda_funcs.def"
#undef CU_GEN
#undef CU_HOOK
