/*
 * aioloop.c - POSIX AIO writes between bursts of computation.
 *
 * Usage: aioloop FILE [ROUNDS]   (default 1000; a round is roughly 3 ms of CPU)
 *
 * glibc serves aio_write() from helper threads that block every signal, so
 * they cannot be stopped for a checkpoint while they exist (they linger about
 * a second after their last request).  Prints a hash of the computation and
 * of the file written, both deterministic.
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: aioloop FILE [ROUNDS]\n"); return 2; }
    int rounds = argc > 2 ? atoi(argv[2]) : 1000;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror("aioloop: open"); return 1; }
    static char buf[4096];
    uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; r++) {
        memset(buf, 'a' + r % 26, sizeof buf);
        struct aiocb cb;
        memset(&cb, 0, sizeof cb);
        cb.aio_fildes = fd;
        cb.aio_buf = buf;
        cb.aio_nbytes = sizeof buf;
        cb.aio_offset = (off_t)(r % 64) * (off_t)sizeof buf;
        if (aio_write(&cb)) { perror("aioloop: aio_write"); return 1; }
        const struct aiocb *list[1] = { &cb };
        while (aio_error(&cb) == EINPROGRESS) aio_suspend(list, 1, NULL);
        if (aio_return(&cb) != (ssize_t)sizeof buf) { fprintf(stderr, "aioloop: short write\n"); return 1; }
        for (long i = 0; i < 1000000; i++) h = (h ^ (uint64_t)i) * 1099511628211ull;
    }
    uint64_t f = 1469598103934665603ull;
    for (off_t o = 0; o < 64 * 4096; o += 4096) {
        if (pread(fd, buf, sizeof buf, o) != (ssize_t)sizeof buf) break;
        for (size_t i = 0; i < sizeof buf; i++) f = (f ^ (unsigned char)buf[i]) * 1099511628211ull;
    }
    printf("aioloop: rounds=%d hash=%016llx file=%016llx\n", rounds, (unsigned long long)h,
           (unsigned long long)f);
    return 0;
}
