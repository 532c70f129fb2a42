/*
 * fileio.c - reads an input file and writes two output files incrementally.
 *
 * Usage: fileio gen PATH KIB          write KIB KiB of seeded bytes to PATH
 *        fileio IN OUT LOG [PASSES]   transform IN into OUT (default 600 passes)
 *
 * IN is read with read(2) in 32 KiB chunks, so its kernel file offset is the
 * program's position.  Each chunk is stirred PASSES times and written to OUT
 * (opened O_TRUNC, written with write(2)); a line per chunk is appended to LOG
 * through stdio opened "a" (O_APPEND) and flushed after every line.  A
 * checkpoint lands between two chunks or in the middle of one; after kill -9
 * OUT and LOG are longer than at the checkpoint, and the restore must put
 * them back so the resumed run writes exactly the bytes of an uninterrupted
 * one.  The test compares OUT and LOG byte for byte; stdout gets a summary.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (32u << 10)

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static int gen(const char *path, long kib)
{
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    uint64_t x = 1;
    for (long i = 0; i < kib * 128; i++) {
        uint64_t w[1] = { x = mix(x + (uint64_t)i) };
        fwrite(w, sizeof w, 1, f);
    }
    return fclose(f) ? 1 : 0;
}

static int full_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k <= 0) return -1;
        c += k; n -= (size_t)k;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static uint64_t buf[CHUNK / 8];
    if (argc == 4 && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], atol(argv[3]));
    if (argc < 4) {
        fprintf(stderr, "usage: fileio IN OUT LOG [PASSES] | fileio gen PATH KIB\n");
        return 2;
    }
    int passes = argc > 4 ? atoi(argv[4]) : 600;
    int in = open(argv[1], O_RDONLY);
    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FILE *log = fopen(argv[3], "a");
    if (in < 0 || out < 0 || !log) { perror("fileio: open"); return 1; }

    uint64_t total = 0, chunks = 0, h = 0;
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        size_t words = (size_t)n / 8;
        uint64_t c = chunks;
        for (int p = 0; p < passes; p++)
            for (size_t i = 0; i < words; i++) {
                c = mix(c ^ buf[i]);
                buf[i] = c;
            }
        if (full_write(out, buf, (size_t)n) < 0) { perror("fileio: write"); return 1; }
        fprintf(log, "chunk %llu bytes %zd last %016llx\n", (unsigned long long)chunks, n,
                (unsigned long long)c);
        fflush(log);
        h = mix(h ^ c);
        total += (uint64_t)n;
        chunks++;
    }
    if (n < 0) { perror("fileio: read"); return 1; }
    off_t inpos = lseek(in, 0, SEEK_CUR), outpos = lseek(out, 0, SEEK_CUR);
    close(in); close(out); fclose(log);
    printf("fileio: chunks=%llu bytes=%llu inpos=%lld outpos=%lld hash=%016llx\n",
           (unsigned long long)chunks, (unsigned long long)total, (long long)inpos,
           (long long)outpos, (unsigned long long)h);
    return 0;
}
