/*
 * cuda_interpose.c - how libckpt sees every CUDA driver call.
 *
 * There are three ways into the driver, and all three end in our wrappers:
 *
 *  1. Programs linked with -lcuda bind the exported versioned names
 *     (cuMemAlloc_v2, cuLaunchKernel_ptsz, ...).  libckpt exports a wrapper
 *     under each name of cuda_funcs.def; being preloaded, it comes first.
 *  2. cudart (static or shared) does dlopen("libcuda.so.1") + one
 *     dlsym("cuGetProcAddress_v2") and gets everything else through that
 *     lookup.  Our dlsym returns our cuGetProcAddress_v2 wrapper; it calls the
 *     real lookup and then swaps the returned pointer for our wrapper *by
 *     pointer identity* (cu_ident[i] == returned pointer), so the variant the
 *     driver chose for that version and flags is exactly the one we wrap and
 *     signatures always match.  Lookups of "cuGetProcAddress" itself land on
 *     our 4- or 5-argument wrapper the same way.
 *  3. Frameworks do dlopen + dlsym of individual names: the dlsym interposer
 *     substitutes by pointer identity as well.
 *
 * Resolution is lazy: nothing happens until a wrapper runs or a dlsym of a
 * "cu[A-Z]..." name finds libcuda already loaded, so a program that never
 * touches CUDA never loads the driver and pays one string test per dlsym.
 *
 * Finding the real dlsym.  libckpt exports dlsym *and* dlvsym, so the usual
 * dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34") from inside libckpt would bind to
 * our own dlvsym.  Instead we read the dynamic symbol tables of the objects
 * loaded after libckpt (link_map order, which is the global search order for
 * everything loaded at start-up) with a small GNU/SysV hash lookup (elf_def)
 * and take the first default-version definition of "dlsym"/"dlvsym": libc's,
 * or another interposer's if one is loaded after us (so it keeps working).
 *
 * RTLD_NEXT.  glibc resolves RTLD_NEXT relative to the return address of
 * dlsym; a naive interposer that calls the real dlsym turns "next after the
 * caller" into "next after libckpt": a second interposer loaded after us that
 * calls dlsym(RTLD_NEXT, "cuMemAlloc_v2") would get itself back and recurse,
 * and one loaded before us would skip us.  Our exported dlsym/dlvsym are
 * small assembler trampolines: for RTLD_NEXT they *jump* to the next dlsym,
 * so the return address glibc sees is the application's call site and glibc's
 * own rules apply exactly (global scope after a start-up object, the local
 * scope of a dlopen()ed one, dlerror() on failure).  RTLD_NEXT results are
 * never substituted: the caller is an interposer asking for the next
 * definition, and handing it our wrapper would loop.  Other handles jump to
 * the C half, which calls the real dlsym and substitutes by pointer identity.
 *
 * The ELF lookup (elf_def) also gives each wrapper its "next" function: the
 * first definition after libckpt in load order, i.e. another interposer of
 * that variant if one is loaded after us, else libcuda.  IFUNC resolvers are
 * called as ld.so does on x86-64.  This path calls no libc string function
 * and no dlopen for functions: sanitizer runtimes resolve their interceptors
 * through dlsym(RTLD_NEXT) before those are usable.
 *
 * Known limitations:
 *  - the wrappers' "next" functions follow link_map order, which also visits
 *    objects dlopen()ed RTLD_LOCAL (libcuda itself usually is one: wanted);
 *  - callers in a dlmopen() namespace other than the base one get base
 *    namespace semantics for RTLD_DEFAULT;
 *  - pointer identity assumes cuGetProcAddress returns the exported addresses
 *    (checked in debug mode: CKPT_CUDA_SELFTEST=1 logs any mismatch).
 */
#include "cuda_hooks/cuda_int.h"
#include "cuda_hooks/cuda_ckpt.h"
#include "preload/log.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- tables generated from cuda_funcs.def ------------------------------------- */
CK_HIDDEN const char *const cu_names[CUI__COUNT] = {
#define CU_GEN(n, P, A) #n,
#define CU_HOOK(n, P, A) #n,
#include "cuda_hooks/cuda_funcs.def"
#undef CU_GEN
#undef CU_HOOK
};
CK_HIDDEN void *const cu_wrap[CUI__COUNT] = {
#define CU_GEN(n, P, A) (void *)ckw_##n,
#define CU_HOOK(n, P, A) (void *)ckw_##n,
#include "cuda_hooks/cuda_funcs.def"
#undef CU_GEN
#undef CU_HOOK
};
CK_HIDDEN void *cu_next[CUI__COUNT];
CK_HIDDEN void *cu_ident[CUI__COUNT];
CK_HIDDEN uint64_t cu_calls[CUI__COUNT];

CK_HIDDEN int cu_mode = CU_MODE_CKPT;
CK_HIDDEN int cu_counting;
CK_HIDDEN volatile int cu_ready;
CK_HIDDEN volatile int cu_forked;
CK_HIDDEN volatile int cu_active;

static void *g_cuda_handle;
static struct link_map *g_cuda_map;
static __thread int t_resolving __attribute__((tls_model("initial-exec")));

/* Generated pass-through wrappers, exported under the driver's names through
 * aliases: our own code takes the address of ckw_<name>, which always means our
 * wrapper even when another object defines <name> earlier in the search order. */
#define CU_GEN(n, P, A)                                                              \
    CK_HIDDEN ckcu_result_t ckw_##n P                                                \
    {                                                                                \
        ckcu_pfn_##n f_ = (ckcu_pfn_##n)cu_fn(CUI_##n);                              \
        if (__builtin_expect(!f_, 0)) return cu_missing(CUI_##n);                    \
        return f_ A;                                                                 \
    }                                                                                \
    extern __typeof__(ckw_##n) n __attribute__((alias("ckw_" #n), visibility("default")));
#define CU_HOOK(n, P, A)
#include "cuda_hooks/cuda_funcs.def"
#undef CU_GEN
#undef CU_HOOK

CK_HIDDEN ckcu_result_t cu_missing(int i)
{
    static int warned;
    if (!cu_ready) return CKCU_ERROR_NOT_INITIALIZED;
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        ck_warn("cuda: the driver does not export %s", cu_names[i]);
    return CKCU_ERROR_NOT_SUPPORTED;
}

/* ---- ELF dynamic symbol lookup ------------------------------------------------- */
struct elf_tab {
    uintptr_t base;
    const ElfW(Sym) *sym;
    const char *str;
    const uint32_t *gnuhash;
    const ElfW(Word) *hash;
    const ElfW(Half) *versym;
    const ElfW(Verdef) *verdef;
};

static int elf_tab_of(const struct link_map *l, struct elf_tab *t)
{
    *t = (struct elf_tab){ 0 };
    if (!l->l_ld) return -1;
    t->base = l->l_addr;
    for (const ElfW(Dyn) *d = l->l_ld; d->d_tag != DT_NULL; d++) {
        /* ld.so relocates these entries in place for normal objects but not
         * for the vdso (read-only dynamic section): accept both forms. */
        uintptr_t p = d->d_un.d_ptr;
        if (p < l->l_addr) p += l->l_addr;
        switch (d->d_tag) {
        case DT_SYMTAB:   t->sym = (const void *)p; break;
        case DT_STRTAB:   t->str = (const void *)p; break;
        case DT_GNU_HASH: t->gnuhash = (const void *)p; break;
        case DT_HASH:     t->hash = (const void *)p; break;
        case DT_VERSYM:   t->versym = (const void *)p; break;
        case DT_VERDEF:   t->verdef = (const void *)p; break;
        default: break;
        }
    }
    return t->sym && t->str && (t->gnuhash || t->hash) ? 0 : -1;
}

/* Our own compare: the dlsym path can run inside another runtime's start-up
 * (a sanitizer resolving its interceptors through dlsym(RTLD_NEXT)) while
 * that runtime's own strcmp interceptor is not usable yet. */
static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

static int elf_sym_ok(const struct elf_tab *t, uint32_t i, const char *name, const char *ver)
{
    const ElfW(Sym) *s = &t->sym[i];
    if (s->st_shndx == SHN_UNDEF) return 0;
    int type = ELF64_ST_TYPE(s->st_info), bind = ELF64_ST_BIND(s->st_info);
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) return 0;
    if (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE &&
        type != STT_GNU_IFUNC && type != STT_TLS && type != STT_COMMON)
        return 0;
    if (s->st_value == 0 && type != STT_TLS) return 0;
    if (!str_eq(t->str + s->st_name, name)) return 0;
    if (!t->versym) return 1;                 /* unversioned object matches any request */
    ElfW(Half) v = t->versym[i];
    if ((v & 0x7fff) == 0) return 0;          /* local */
    if (!ver) return !(v & 0x8000);           /* default version only */
    if ((v & 0x7fff) == 1) return 1;          /* unversioned definition: glibc accepts */
    for (const ElfW(Verdef) *vd = t->verdef; vd;
         vd = vd->vd_next ? (const void *)((const char *)vd + vd->vd_next) : NULL) {
        if (vd->vd_ndx != (v & 0x7fff)) continue;
        const ElfW(Verdaux) *a = (const void *)((const char *)vd + vd->vd_aux);
        return str_eq(t->str + a->vda_name, ver);
    }
    return 0;
}

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;
    for (; *s; s++) h = h * 33 + (unsigned char)*s;
    return h;
}

static unsigned long sysv_hash(const char *s)
{
    unsigned long h = 0, g;
    for (; *s; s++) {
        h = (h << 4) + (unsigned char)*s;
        if ((g = h & 0xf0000000)) h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

/* The definition of name (version ver, or the default one) in object l. */
static const ElfW(Sym) *elf_def(const struct link_map *l, const char *name, const char *ver,
                                uintptr_t *base)
{
    struct elf_tab t;
    if (elf_tab_of(l, &t)) return NULL;
    *base = t.base;
    if (t.gnuhash) {
        const uint32_t *h = t.gnuhash;
        uint32_t nbuckets = h[0], symoff = h[1], bloom_size = h[2];
        if (!nbuckets) return NULL;
        const ElfW(Addr) *bloom = (const void *)&h[4];
        const uint32_t *buckets = (const void *)&bloom[bloom_size];
        const uint32_t *chain = &buckets[nbuckets];
        uint32_t hv = gnu_hash(name);
        uint32_t i = buckets[hv % nbuckets];
        if (i < symoff) return NULL;
        for (;; i++) {
            uint32_t ch = chain[i - symoff];
            if ((hv | 1) == (ch | 1) && elf_sym_ok(&t, i, name, ver)) return &t.sym[i];
            if (ch & 1) break;
        }
        return NULL;
    }
    const ElfW(Word) *h = t.hash;
    ElfW(Word) nbucket = h[0];
    if (!nbucket) return NULL;
    const ElfW(Word) *bucket = &h[2], *chain = &h[2 + nbucket];
    for (ElfW(Word) i = bucket[sysv_hash(name) % nbucket]; i; i = chain[i])
        if (elf_sym_ok(&t, i, name, ver)) return &t.sym[i];
    return NULL;
}

static struct link_map *self_map(void)
{
    static struct link_map *m;
    if (!m) {
        Dl_info di;
        void *lm = NULL;
        if (dladdr1((void *)&self_map, &di, &lm, RTLD_DL_LINKMAP) && lm)
            __atomic_store_n(&m, (struct link_map *)lm, __ATOMIC_RELEASE);
    }
    return m;
}

static struct link_map *map_of(const void *addr)
{
    Dl_info di;
    void *lm = NULL;
    if (!addr || !dladdr1(addr, &di, &lm, RTLD_DL_LINKMAP)) return NULL;
    return lm;
}

typedef void *(*dlsym_fn)(void *, const char *);
typedef void *(*dlvsym_fn)(void *, const char *, const char *);
/* Read by the dlsym/dlvsym trampolines (asm, hence hidden globals). */
CK_HIDDEN dlsym_fn g_next_dlsym_ptr;
CK_HIDDEN dlvsym_fn g_next_dlvsym_ptr;
#define g_real_dlsym g_next_dlsym_ptr
#define g_real_dlvsym g_next_dlvsym_ptr

static void *first_def_after(struct link_map *after, const char *name, const char *ver);

/* Last resort if the link-map walk finds nothing: glibc's compat-versioned
 * symbols, which an unversioned definition (ours) cannot satisfy. */
extern void *ckcu_libc_dlsym(void *handle, const char *name);
extern void *ckcu_libc_dlvsym(void *handle, const char *name, const char *ver);
__asm__(".symver ckcu_libc_dlsym, dlsym@GLIBC_2.2.5");
__asm__(".symver ckcu_libc_dlvsym, dlvsym@GLIBC_2.2.5");

static void real_dl_init(void)
{
    if (g_real_dlsym && g_real_dlvsym) return;
    struct link_map *self = self_map();
    dlsym_fn s = self ? (dlsym_fn)first_def_after(self, "dlsym", NULL) : NULL;
    dlvsym_fn v = self ? (dlvsym_fn)first_def_after(self, "dlvsym", NULL) : NULL;
    if (!s) s = ckcu_libc_dlsym;
    if (!v) v = ckcu_libc_dlvsym;
    __atomic_store_n(&g_real_dlvsym, v, __ATOMIC_RELEASE);
    __atomic_store_n(&g_real_dlsym, s, __ATOMIC_RELEASE);
}

/* First definition of name after object `after` in load order (see file top). */
static void *first_def_after(struct link_map *after, const char *name, const char *ver)
{
    for (struct link_map *l = after ? after->l_next : NULL; l; l = l->l_next) {
        uintptr_t base;
        const ElfW(Sym) *s = elf_def(l, name, ver, &base);
        if (!s) continue;
        int type = ELF64_ST_TYPE(s->st_info);
        if (type == STT_GNU_IFUNC) {
            /* What ld.so does on x86-64: call the resolver, no arguments.
             * Done here rather than through dlopen + dlsym, which a sanitizer
             * runtime resolving its interceptors cannot use yet. */
            void *(*resolver)(void) = (void *(*)(void))(base + s->st_value);
            return resolver();
        }
        if (type != STT_TLS) return (void *)(base + s->st_value);
        /* TLS: the address is per thread; only glibc knows the block. */
        if (!g_real_dlsym) return NULL;
        void *h = dlopen(l->l_name, RTLD_LAZY | RTLD_NOLOAD);
        if (!h) return NULL;
        void *r = ver ? g_real_dlvsym(h, name, ver) : g_real_dlsym(h, name);
        dlclose(h);
        return r;
    }
    return NULL;
}

/* ---- lazy resolution of the driver --------------------------------------------- */
static void atfork_child(void) { ckpt_cuda_atfork_child(); }

static void read_config(void)
{
    const char *m = getenv("CKPT_CUDA");
    if (m && (!strcmp(m, "off") || !strcmp(m, "0"))) cu_mode = CU_MODE_OFF;
    else if (m && !strcmp(m, "track")) cu_mode = CU_MODE_TRACK;
    else cu_mode = CU_MODE_CKPT;
    const char *d = getenv("CKPT_CUDA_DUMP");
    cu_counting = (d && *d && strcmp(d, "0")) || ck_log_level >= CK_DEBUG;
}

static void selftest(void)
{
    /* Pointer identity holds if the lookup returns the exported address. */
    ckcu_pfn_cuGetProcAddress_v2 gpa = (ckcu_pfn_cuGetProcAddress_v2)cu_ident[CUI_cuGetProcAddress_v2];
    if (!gpa) return;
    static const struct { int idx; const char *base; int ver; int flags; } probe[] = {
        { CUI_cuMemAlloc_v2, "cuMemAlloc", 3020, 0 },
        { CUI_cuMemFree_v2, "cuMemFree", 3020, 0 },
        { CUI_cuMemcpyHtoD_v2_ptds, "cuMemcpyHtoD", 7000, 2 },
        { CUI_cuLaunchKernel_ptsz, "cuLaunchKernel", 7000, 2 },
        { CUI_cuCtxCreate_v4, "cuCtxCreate", 12050, 0 },
        { CUI_cuCtxSynchronize_v2, "cuCtxSynchronize", 13000, 0 },
        { CUI_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", 7000, 0 },
        { CUI_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease", 7000, 0 },
        { CUI_cuMemAllocPitch_v2, "cuMemAllocPitch", 3020, 0 },
        { CUI_cuMemAllocAsync_ptsz, "cuMemAllocAsync", 11020, 2 },
        { CUI_cuMemFreeAsync, "cuMemFreeAsync", 11020, 0 },
        { CUI_cuMemHostAlloc, "cuMemHostAlloc", 2020, 0 },
        { CUI_cuMemAllocManaged, "cuMemAllocManaged", 6000, 0 },
        { CUI_cuMemCreate, "cuMemCreate", 10020, 0 },
        { CUI_cuMemMap, "cuMemMap", 10020, 0 },
        { CUI_cuModuleLoadData, "cuModuleLoadData", 2000, 0 },
        { CUI_cuLibraryLoadData, "cuLibraryLoadData", 12000, 0 },
        { CUI_cuStreamCreate, "cuStreamCreate", 2000, 0 },
        { CUI_cuCheckpointProcessLock, "cuCheckpointProcessLock", 12080, 0 },
    };
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        void *p = NULL;
        int st = 0;
        gpa(probe[i].base, &p, probe[i].ver, (ckcu_u64_t)probe[i].flags, &st);
        if (p != cu_ident[probe[i].idx])
            ck_warn("cuda: selftest: cuGetProcAddress(%s,%d,%d)=%p but %s is at %p",
                    probe[i].base, probe[i].ver, probe[i].flags, p, cu_names[probe[i].idx],
                    cu_ident[probe[i].idx]);
        else
            ck_debug("cuda: selftest: %s ok", cu_names[probe[i].idx]);
    }
}

CK_HIDDEN int cu_resolve(int load)
{
    if (__atomic_load_n(&cu_ready, __ATOMIC_ACQUIRE)) return 1;
    if (t_resolving) return 0;        /* libcuda's constructor calling back into us */
    t_resolving = 1;
    real_dl_init();
    const char *lib = getenv("CKPT_CUDA_LIB");
    if (!lib || !*lib) lib = "libcuda.so.1";
    void *h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    if (!h && load) h = dlopen(lib, RTLD_NOW);
    if (!h || !g_real_dlsym) {
        static int said;
        if (load && !__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
            ck_warn("cuda: cannot load the CUDA driver %s: %s", lib, h ? "no dlsym" : dlerror());
        t_resolving = 0;
        return 0;
    }
    read_config();
    struct link_map *self = self_map();
    for (int i = 0; i < CUI__COUNT; i++) {
        void *id = g_real_dlsym(h, cu_names[i]);
        void *nx = first_def_after(self, cu_names[i], NULL);
        if (!nx) nx = id;
        __atomic_store_n(&cu_ident[i], id, __ATOMIC_RELAXED);
        __atomic_store_n(&cu_next[i], nx, __ATOMIC_RELAXED);
    }
    struct link_map *lm = NULL;
    if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0) g_cuda_map = lm;
    if (__atomic_exchange_n(&g_cuda_handle, h, __ATOMIC_ACQ_REL)) dlclose(h);
    static int atfork_done;
    if (!__atomic_exchange_n(&atfork_done, 1, __ATOMIC_ACQ_REL))
        pthread_atfork(NULL, NULL, atfork_child);
    __atomic_store_n(&cu_ready, 1, __ATOMIC_RELEASE);
    ck_debug("cuda: driver %s resolved (%d variants, mode %d)", lib, CUI__COUNT, cu_mode);
    if (ck_log_level >= CK_DEBUG || getenv("CKPT_CUDA_SELFTEST")) selftest();
    t_resolving = 0;
    return 1;
}

CK_HIDDEN void *cu_subst(void *p)
{
    if (!p || !__atomic_load_n(&cu_ready, __ATOMIC_ACQUIRE) || cu_mode == CU_MODE_OFF) return p;
    for (int i = 0; i < CUI__COUNT; i++)
        if (cu_ident[i] == p) return cu_wrap[i];
    return p;
}

/* ---- dlsym / dlvsym ------------------------------------------------------------ */
static int cuda_name(const char *n)
{
    return n && n[0] == 'c' && n[1] == 'u' && n[2] >= 'A' && n[2] <= 'Z';
}

static int is_our_wrapper(void *p)
{
    for (int i = 0; i < CUI__COUNT; i++)
        if (cu_wrap[i] == p) return 1;
    return 0;
}

static void *finish_lookup(void *r, void *handle, const char *name, void *caller)
{
    if (!r || !cuda_name(name) || handle == RTLD_NEXT) return r;
    if (!cu_resolve(0)) {
        /* No driver loaded: one of our exported wrappers found through
         * RTLD_DEFAULT must not pretend that CUDA is there. */
        return is_our_wrapper(r) || map_of(r) == self_map() ? NULL : r;
    }
    /* libcuda looking itself up (HAMi-core PR#326): leave it alone. */
    if (g_cuda_map && map_of(caller) == g_cuda_map) return r;
    return cu_subst(r);
}

void *ckw_dlsym_c(void *handle, const char *name);
void *ckw_dlvsym_c(void *handle, const char *name, const char *ver);
void *ckw_next_dlsym(void);
void *ckw_next_dlvsym(void);

/* The C half of our dlsym/dlvsym, for every handle but RTLD_NEXT (see the
 * trampolines below).  Entered by a jump, so the return address is still the
 * application's call site. */
CK_HIDDEN __attribute__((noinline)) void *ckw_dlsym_c(void *handle, const char *name)
{
    void *caller = __builtin_return_address(0);
    real_dl_init();
    if (!g_real_dlsym) return NULL;
    return finish_lookup(g_real_dlsym(handle, name), handle, name, caller);
}

CK_HIDDEN __attribute__((noinline)) void *ckw_dlvsym_c(void *handle, const char *name, const char *ver)
{
    void *caller = __builtin_return_address(0);
    real_dl_init();
    if (!g_real_dlvsym) return NULL;
    return finish_lookup(g_real_dlvsym(handle, name, ver), handle, name, caller);
}

/* The next dlsym/dlvsym (glibc's), resolving them on first use. */
CK_HIDDEN void *ckw_next_dlsym(void) { real_dl_init(); return (void *)g_real_dlsym; }
CK_HIDDEN void *ckw_next_dlvsym(void) { real_dl_init(); return (void *)g_real_dlvsym; }

/*
 * Exported dlsym/dlvsym.  RTLD_NEXT means "after the object that called
 * dlsym", and glibc finds that object from dlsym's return address.  So for
 * RTLD_NEXT we do not call the next dlsym, we *jump* to it: the return address
 * on the stack is still the application's, and glibc applies its exact rules
 * (global scope after a start-up object, the local scope of a dlopen()ed one,
 * dlerror() on failure).  RTLD_NEXT results are never substituted anyway: the
 * caller is an interposer asking for the next definition.  Other handles go
 * to the C half (also by a jump, for the same reason).
 */
__asm__(
    ".text\n"
    ".globl dlsym\n"
    ".type dlsym, @function\n"
    "dlsym:\n"
    ".cfi_startproc\n"
    "    endbr64\n"
    "    cmpq $-1, %rdi\n"
    "    jne ckw_dlsym_c\n"
    "    movq g_next_dlsym_ptr(%rip), %rax\n"
    "    testq %rax, %rax\n"
    "    jnz 1f\n"
    "    pushq %rdi\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %rsi\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    subq $8, %rsp\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    call ckw_next_dlsym\n"
    "    addq $8, %rsp\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %rsi\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %rdi\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    testq %rax, %rax\n"
    "    jz 2f\n"
    "1:  jmp *%rax\n"
    "2:  ret\n"
    ".cfi_endproc\n"
    ".size dlsym, .-dlsym\n"
    ".globl dlvsym\n"
    ".type dlvsym, @function\n"
    "dlvsym:\n"
    ".cfi_startproc\n"
    "    endbr64\n"
    "    cmpq $-1, %rdi\n"
    "    jne ckw_dlvsym_c\n"
    "    movq g_next_dlvsym_ptr(%rip), %rax\n"
    "    testq %rax, %rax\n"
    "    jnz 1f\n"
    "    pushq %rdi\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %rsi\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    pushq %rdx\n"
    ".cfi_adjust_cfa_offset 8\n"
    "    call ckw_next_dlvsym\n"
    "    popq %rdx\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %rsi\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    popq %rdi\n"
    ".cfi_adjust_cfa_offset -8\n"
    "    testq %rax, %rax\n"
    "    jz 2f\n"
    "1:  jmp *%rax\n"
    "2:  ret\n"
    ".cfi_endproc\n"
    ".size dlvsym, .-dlvsym\n");
