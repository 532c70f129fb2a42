/*
 * dlmmap.c - a dlopen()ed library and file mappings across a restore.
 *
 * Usage: dlmmap gen PATH KIB              write KIB KiB of seeded bytes to PATH
 *        dlmmap PLUGIN.so DATA [STEPS]    run (default 150 steps of ~10 ms)
 *
 * The program dlopen()s PLUGIN.so (this same file built with -DCKPT_PLUGIN:
 * code, an initialised table in .data and a counter in .bss) and keeps the
 * function pointers from dlsym() for the whole run, so the library must come
 * back at the same address with its data.  DATA is mapped twice:
 *  - MAP_SHARED, PROT_READ: read every step (the file is never written);
 *  - MAP_PRIVATE, PROT_READ|PROT_WRITE: rewritten page by page, so part of the
 *    mapping is copied-on-write memory and part still the file's pages.
 * At the end the program checks that DATA on disk is unchanged and prints
 * checksums of the private mapping and of the plugin's state.
 */
#include <stdint.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

#ifdef CKPT_PLUGIN
/* ---- the shared library ---- */
uint64_t plugin_mix(uint64_t x);
uint64_t plugin_state(void);

static uint64_t calls;                                   /* .bss */
static uint64_t salt[8] = { 3, 1, 4, 1, 5, 9, 2, 6 };     /* .data */

uint64_t plugin_mix(uint64_t x)
{
    calls++;
    salt[calls & 7] = mix(salt[calls & 7] + x);
    return mix(x ^ salt[(x >> 3) & 7]);
}

uint64_t plugin_state(void)
{
    uint64_t h = calls;
    for (int i = 0; i < 8; i++) h = mix(h ^ salt[i]);
    return h;
}

#else
/* ---- the program ---- */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int gen(const char *path, long kib)
{
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    uint64_t x = 7;
    for (long i = 0; i < kib * 128; i++) {
        uint64_t w = x = mix(x + (uint64_t)i);
        fwrite(&w, sizeof w, 1, f);
    }
    return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], atol(argv[3]));
    if (argc < 3) {
        fprintf(stderr, "usage: dlmmap PLUGIN.so DATA [STEPS] | dlmmap gen PATH KIB\n");
        return 2;
    }
    long steps = argc > 3 ? atol(argv[3]) : 150;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("dlmmap: dlopen: %s\n", dlerror()); return 1; }
    uint64_t (*pmix)(uint64_t) = (uint64_t (*)(uint64_t))dlsym(h, "plugin_mix");
    uint64_t (*pstate)(void) = (uint64_t (*)(void))dlsym(h, "plugin_state");
    if (!pmix || !pstate) { puts("dlmmap: dlsym failed"); return 1; }

    int fd = open(argv[2], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 65536) { puts("dlmmap: bad data file"); return 1; }
    size_t len = (size_t)st.st_size & ~(size_t)4095, words = len / 8;
    const uint64_t *shr = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    uint64_t *prv = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (shr == MAP_FAILED || prv == MAP_FAILED) { puts("dlmmap: mmap failed"); return 1; }
    close(fd);                       /* the mappings keep the file */

    uint64_t acc = 0;
    size_t pages = len / 4096;
    for (long s = 0; s < steps; s++) {
        /* dirty a third of the private pages (different ones each step) */
        for (size_t p = (size_t)s % 3; p < pages; p += 3) {
            uint64_t *w = prv + p * 512;
            w[(s * 7) & 511] = pmix(w[(s * 7) & 511] ^ (uint64_t)s);
        }
        for (int pass = 0; pass < 64; pass++)
            for (size_t i = (size_t)pass; i < words; i += 16)
                acc = mix(acc ^ shr[i] ^ prv[i]);
    }
    /* the file must still hold its original bytes */
    FILE *f = fopen(argv[2], "r");
    uint64_t fh = 0, w;
    int unchanged = 1;
    for (size_t i = 0; f && i < words && fread(&w, 8, 1, f) == 1; i++) {
        if (w != shr[i]) unchanged = 0;
        fh = mix(fh ^ w);
    }
    if (f) fclose(f);
    uint64_t ph = 0;
    for (size_t i = 0; i < words; i++) ph = mix(ph ^ prv[i]);
    printf("dlmmap: steps=%ld acc=%016llx private=%016llx file=%016llx plugin=%016llx\n", steps,
           (unsigned long long)acc, (unsigned long long)ph, (unsigned long long)fh,
           (unsigned long long)pstate());
    printf("dlmmap: data file %s\n", unchanged ? "unchanged" : "CHANGED");
    return 0;
}
#endif
