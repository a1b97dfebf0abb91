/* A fixed thread pool with a barrier-style run: every worker runs fn(arg, ith, nth) once. */
#include "core.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct kvb_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    kvb_pool_fn fn;
    void *arg;
    long generation;
    int pending;
    int quit;
};

struct worker_arg {
    kvb_pool *p;
    int ith;
};

static void *worker(void *va)
{
    struct worker_arg *wa = va;
    kvb_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->generation == seen && !p->quit)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        kvb_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, ith, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

int kvb_pool_create(kvb_pool **out, int n_threads, kvb_error *e)
{
    if (n_threads < 1 || n_threads > 1024)
        return kvb_errorf(e, KVB_EINVAL, "--threads %d is out of range [1, 1024]", n_threads);
    kvb_pool *p = kvb_calloc(1, sizeof(*p));
    if (!p)
        return kvb_errorf(e, KVB_ENOMEM, "out of memory");
    p->n = n_threads;
    p->threads = kvb_calloc((size_t)n_threads, sizeof(pthread_t));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = kvb_malloc(sizeof(*wa));
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker, wa)) {
            free(wa);
            p->n = i;
            break;
        }
    }
    *out = p;
    return 0;
}

int kvb_pool_size(const kvb_pool *p) { return p ? p->n : 1; }

void kvb_pool_run(kvb_pool *p, kvb_pool_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void kvb_pool_free(kvb_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int kvb_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
