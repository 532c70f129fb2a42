/*
 * threads_mt.c - four pthreads sharing state through every usual primitive.
 *
 * Usage: threads_mt [ROUNDS]   (default 120; one round is roughly 12 ms)
 *
 * Each round:
 *  1. every worker stirs its own slice of a shared array and folds it into a
 *     __thread accumulator (thread-local storage must survive: fs base + TLS
 *     block);
 *  2. barrier;
 *  3. worker 0 produces ITEMS values into a bounded queue (mutex + two
 *     condition variables, so threads are often parked in futex waits), then
 *     one end marker per consumer; workers 1..3 consume until their marker and
 *     add what they took into a mutex-protected total;
 *  4. barrier.
 * All results are order-independent (sums), so the output is deterministic
 * whichever thread consumed what.  The main thread sits in pthread_join the
 * whole time: joining after restore checks the threads' tid/clear-tid setup.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NT     4
#define SLICE  (1u << 16)                /* words per thread */
#define ITEMS  2000
#define QCAP   16

static uint64_t shared[NT * SLICE];
static __thread uint64_t tls_acc;
static __thread long tls_rounds;
static uint64_t result_tls[NT];
static long rounds;

static pthread_barrier_t barrier;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static uint64_t queue[QCAP];
static unsigned qhead, qlen;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t total, consumed;

#define END_MARK UINT64_MAX

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}

static void push(uint64_t v)
{
    pthread_mutex_lock(&qlock);
    while (qlen == QCAP)
        pthread_cond_wait(&not_full, &qlock);
    queue[(qhead + qlen++) % QCAP] = v;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&qlock);
}

static uint64_t pop(void)
{
    pthread_mutex_lock(&qlock);
    while (qlen == 0)
        pthread_cond_wait(&not_empty, &qlock);
    uint64_t v = queue[qhead];
    qhead = (qhead + 1) % QCAP; qlen--;
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&qlock);
    return v;
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t *mine = shared + (size_t)id * SLICE;

    for (long r = 0; r < rounds; r++) {
        for (int pass = 0; pass < 12; pass++) {
            uint64_t c = (uint64_t)r * 1000 + id + (uint64_t)pass;
            for (unsigned i = 0; i < SLICE; i += 2) {
                c = mix(c ^ mine[i]);
                mine[i] = c;
            }
            tls_acc += c;
        }
        pthread_barrier_wait(&barrier);
        if (id == 0) {
            for (uint64_t k = 0; k < ITEMS; k++)
                push(mix((uint64_t)r * ITEMS + k));
            for (unsigned k = 1; k < NT; k++)
                push(END_MARK);
        } else {
            uint64_t sum = 0, n = 0, v;
            while ((v = pop()) != END_MARK) { sum += v; n++; }
            pthread_mutex_lock(&total_lock);
            total += sum; consumed += n;
            pthread_mutex_unlock(&total_lock);
        }
        tls_rounds++;
        pthread_barrier_wait(&barrier);
    }
    result_tls[id] = tls_acc ^ (uint64_t)tls_rounds;
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[NT];
    rounds = argc > 1 ? atol(argv[1]) : 120;
    for (size_t i = 0; i < (size_t)NT * SLICE; i++) shared[i] = i;
    pthread_barrier_init(&barrier, NULL, NT);
    for (unsigned i = 0; i < NT; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            puts("threads_mt: pthread_create failed");
            return 1;
        }
    for (unsigned i = 0; i < NT; i++)
        pthread_join(th[i], NULL);

    uint64_t h = 0;
    for (size_t i = 0; i < (size_t)NT * SLICE; i++) h = mix(h ^ shared[i]);
    printf("threads_mt: rounds=%ld consumed=%llu total=%016llx mem=%016llx\n", rounds,
           (unsigned long long)consumed, (unsigned long long)total, (unsigned long long)h);
    for (unsigned i = 0; i < NT; i++)
        printf("threads_mt: thread %u tls=%016llx\n", i, (unsigned long long)result_tls[i]);
    return 0;
}
