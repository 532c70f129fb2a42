/*
 * shmem.c - shared memory whose contents only the checkpoint holds.
 *
 * Usage: shmem [ROUNDS]   (default 1500; a round is roughly 0.5 ms)
 *
 * Four 8 MiB MAP_SHARED mappings that no file holds: anonymous
 * (MAP_SHARED|MAP_ANONYMOUS, what Python's mmap.mmap(-1, n) makes), a memfd,
 * a POSIX shared memory object unlinked at once and a System V segment marked
 * for removal.  Every round rewrites a sparse set of words in each (so the
 * writer, were it to read them while the program runs, would see later
 * values), leaving most pages never touched.  Prints a hash of the work and
 * of all four mappings, deterministic.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define SZ (8u << 20)

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 1500;
    uint64_t *m[4];
    m[0] = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int mfd = memfd_create("shmem-test", 0);
    if (mfd < 0 || ftruncate(mfd, SZ)) { perror("shmem: memfd"); return 1; }
    m[1] = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    char name[64];
    snprintf(name, sizeof name, "/shmem-test-%d", (int)getpid());
    int sfd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (sfd < 0 || ftruncate(sfd, SZ)) { perror("shmem: shm_open"); return 1; }
    m[2] = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
    shm_unlink(name);
    close(sfd);
    int id = shmget(IPC_PRIVATE, SZ, IPC_CREAT | 0600);
    if (id < 0) { perror("shmem: shmget"); return 1; }
    m[3] = shmat(id, NULL, 0);
    shmctl(id, IPC_RMID, NULL);
    for (int k = 0; k < 4; k++)
        if (m[k] == MAP_FAILED || m[k] == (void *)-1) { perror("shmem: map"); return 1; }
    const size_t words = SZ / 8, live = words / 4;   /* the last 3/4 are never touched */
    uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = (size_t)r % 509; i < live; i += 509) {
            m[0][i] += i ^ (uint64_t)r;
            m[1][i] += m[0][i] * 3;
            m[2][i] ^= m[1][i] + (uint64_t)r;
            m[3][i] = m[3][i] * 5 + m[2][i];
        }
        for (long k = 0; k < 600000; k++) h = (h ^ (uint64_t)k) * 1099511628211ull;
    }
    uint64_t s = 0;
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < words; i++) s = s * 31 + m[k][i];
    printf("shmem: rounds=%d hash=%016llx memory=%016llx\n", rounds, (unsigned long long)h,
           (unsigned long long)s);
    return 0;
}
