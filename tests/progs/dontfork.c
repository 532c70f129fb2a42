/*
 * dontfork.c - memory kept out of the program's children (MADV_DONTFORK,
 * MADV_WIPEONFORK, as V8 and RDMA libraries use), across a restore.
 *
 * Usage: dontfork [ROUNDS]   (default 400; a round is roughly 3 ms)
 *
 * Three 4 MiB private mappings - one MADV_DONTFORK, one MADV_WIPEONFORK, one
 * plain - rewritten a little every round.  At the end, a hash of all three,
 * and what a child forked then sees of them: the first must be absent and
 * the second zero, after a restore as before.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (4u << 20)

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 400;
    uint64_t *m[3];
    for (int k = 0; k < 3; k++) {
        m[k] = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m[k] == MAP_FAILED) return 1;
    }
    if (madvise(m[0], SZ, MADV_DONTFORK) || madvise(m[1], SZ, MADV_WIPEONFORK)) {
        perror("dontfork: madvise");
        return 1;
    }
    const size_t words = SZ / 8;
    uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = (size_t)r % 61; i < words; i += 61) {
            m[0][i] += i ^ (uint64_t)r;
            m[1][i] = m[1][i] * 3 + m[0][i];
            m[2][i] ^= m[1][i] + (uint64_t)r;
        }
        for (long k = 0; k < 1500000; k++) h = (h ^ (uint64_t)k) * 1099511628211ull;
    }
    uint64_t s = 0;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < words; i++) s = s * 31 + m[k][i];
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        unsigned char v;
        int absent = mincore(m[0], 4096, &v) != 0;
        int zero = 1;
        for (size_t i = 0; i < words; i++) zero &= m[1][i] == 0;
        _exit((absent ? 1 : 0) | (zero ? 2 : 0));
    }
    int st = 0;
    waitpid(c, &st, 0);
    printf("dontfork: rounds=%d hash=%016llx memory=%016llx\n", rounds, (unsigned long long)h,
           (unsigned long long)s);
    printf("dontfork: a child has the DONTFORK mapping: %s; sees the WIPEONFORK one zeroed: %s\n",
           WEXITSTATUS(st) & 1 ? "no" : "YES", WEXITSTATUS(st) & 2 ? "yes" : "NO");
    return 0;
}
