/*
 * listener.c - a small service: two listening AF_UNIX sockets made one after
 * the other (an abstract SOCK_SEQPACKET one, "@ckpt-listener-PID", and a
 * stream one bound to ./listener.sock), served by a thread that polls both
 * (like the CUDA driver's restore thread polls its "@cuda-uvmfd-..." socket),
 * and a main thread that is its client: every 5 ms it connects to each, sends
 * a numbered message and waits for the echo.
 *
 *   listener ROUNDS
 *
 * After a restore both listeners must be bound and listening again at their
 * descriptors (connections in flight are not kept; the client retries a round
 * whose connection broke), or the program stops.  Prints a checksum of the
 * echoed messages.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int ls_abs, ls_path;
static struct sockaddr_un a_abs, a_path;
static socklen_t l_abs, l_path;

static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2] = { { ls_abs, POLLIN, 0 }, { ls_path, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & POLLIN)) continue;
            int c = accept(p[i].fd, NULL, NULL);
            if (c < 0) {
                fprintf(stderr, "accept on fd %d: %s\n", p[i].fd, strerror(errno));
                exit(3);
            }
            char b[64];
            ssize_t n = read(c, b, sizeof b);
            if (n > 0 && write(c, b, (size_t)n) != n) {}
            close(c);
        }
    }
    return NULL;
}

/* One request on a fresh connection; -1 if the connection broke (retry). */
static int request(int type, struct sockaddr_un *a, socklen_t l, unsigned k, uint64_t *sum)
{
    int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    char m[64], e[64];
    int n = snprintf(m, sizeof m, "round %u type %d", k, type);
    if (connect(s, (struct sockaddr *)a, l) < 0) {
        int err = errno;
        close(s);
        if (err == EINTR) return -1;
        fprintf(stderr, "connect: %s\n", strerror(err));
        exit(2);
    }
    ssize_t r = -1;
    if (write(s, m, (size_t)n) == n) r = read(s, e, sizeof e);
    close(s);
    if (r != n || memcmp(m, e, (size_t)n)) return -1;
    for (int i = 0; i < n; i++) *sum = *sum * 131 + (unsigned char)e[i];
    return 0;
}

int main(int argc, char **argv)
{
    unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
    memset(&a_abs, 0, sizeof a_abs);
    a_abs.sun_family = AF_UNIX;
    int n = snprintf(a_abs.sun_path + 1, sizeof a_abs.sun_path - 1, "ckpt-listener-%d", (int)getpid());
    l_abs = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    memset(&a_path, 0, sizeof a_path);
    a_path.sun_family = AF_UNIX;
    strcpy(a_path.sun_path, "listener.sock");
    l_path = sizeof a_path;
    unlink("listener.sock");
    ls_abs = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    ls_path = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ls_abs < 0 || ls_path < 0 || bind(ls_abs, (struct sockaddr *)&a_abs, l_abs) ||
        bind(ls_path, (struct sockaddr *)&a_path, l_path) || listen(ls_abs, 8) || listen(ls_path, 8)) {
        perror("listen");
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);
    uint64_t sum = 0;
    unsigned retries = 0;
    for (unsigned k = 0; k < rounds; k++) {
        while (request(SOCK_SEQPACKET, &a_abs, l_abs, k, &sum) < 0) retries++;
        while (request(SOCK_STREAM, &a_path, l_path, k, &sum) < 0) retries++;
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    printf("rounds %u sum %016llx\n", rounds, (unsigned long long)sum);
    (void)retries;
    unlink("listener.sock");
    return 0;
}
