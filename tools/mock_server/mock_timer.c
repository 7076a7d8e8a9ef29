/* Delays without blocking: a handler that must wait suspends its MHD
 * connection and files (due, connection) here; one thread sleeps until the
 * earliest due time and resumes that connection, and MHD calls the handler
 * (or content reader) again, which finds its time has come.
 *
 * Locking: `lock` guards the heap and `stopping`.  Suspending and filing
 * happen under it, and so does resuming, so "suspended by us" and "in the
 * heap" never disagree, and shutdown can resume every suspended connection
 * before MHD_stop_daemon (which panics on suspended connections).  Lock
 * order is ours, then libmicrohttpd's internal mutex (taken inside
 * MHD_suspend_connection / MHD_resume_connection); MHD does not call into
 * us while holding it. */
#include "mock_internal.h"

#include <stdlib.h>
#include <time.h>

struct timer_entry {
    int64_t due_ms;
    uint64_t seq; /* FIFO among equal due times */
    struct MHD_Connection *conn;
};

struct mocksrv__timer {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    struct timer_entry *heap;
    size_t n, cap;
    uint64_t seq;
    bool stopping;
    bool thread_started;
    pthread_t thread;
};

static bool entry_before(const struct timer_entry *a, const struct timer_entry *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_swap(struct timer_entry *h, size_t i, size_t j)
{
    struct timer_entry t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void sift_up(struct timer_entry *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!entry_before(&h[i], &h[p]))
            break;
        heap_swap(h, i, p);
        i = p;
    }
}

static void sift_down(struct timer_entry *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && entry_before(&h[l], &h[m]))
            m = l;
        if (r < n && entry_before(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

static void *timer_main(void *arg)
{
    struct mocksrv__timer *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        if (t->n == 0) {
            pthread_cond_wait(&t->wake, &t->lock);
            continue;
        }
        int64_t now = mocksrv__now_ms();
        if (t->heap[0].due_ms <= now) {
            struct MHD_Connection *c = t->heap[0].conn;
            t->heap[0] = t->heap[--t->n];
            sift_down(t->heap, t->n, 0);
            MHD_resume_connection(c);
            continue;
        }
        /* Absolute CLOCK_MONOTONIC deadline: no drift across wakeups. */
        int64_t due = t->heap[0].due_ms;
        struct timespec ts = {.tv_sec = (time_t)(due / 1000), .tv_nsec = (long)(due % 1000) * 1000000};
        int rc = pthread_cond_timedwait(&t->wake, &t->lock, &ts);
        (void)rc; /* timeout or wakeup: re-examine either way */
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int mocksrv__timer_new(struct mocksrv__timer **out)
{
    struct mocksrv__timer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        free(t);
        return -1;
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&t->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(t);
        return -1;
    }
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        pthread_cond_destroy(&t->wake);
        free(t);
        return -1;
    }
    if (pthread_create(&t->thread, NULL, timer_main, t) != 0) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->wake);
        free(t);
        return -1;
    }
    t->thread_started = true;
    *out = t;
    return 0;
}

bool mocksrv__timer_suspend_until(struct mocksrv__timer *t, struct MHD_Connection *c,
                                  int64_t due_ms)
{
    pthread_mutex_lock(&t->lock);
    if (t->stopping) {
        pthread_mutex_unlock(&t->lock);
        return false;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct timer_entry *h = realloc(t->heap, cap * sizeof(*h));
        if (h == NULL) {
            pthread_mutex_unlock(&t->lock);
            return false;
        }
        t->heap = h;
        t->cap = cap;
    }
    MHD_suspend_connection(c);
    t->heap[t->n] = (struct timer_entry){.due_ms = due_ms, .seq = t->seq++, .conn = c};
    sift_up(t->heap, t->n);
    t->n++;
    /* Only a new earliest entry shortens the thread's sleep. */
    if (t->heap[0].conn == c)
        pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    return true;
}

void mocksrv__timer_shutdown(struct mocksrv__timer *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    for (size_t i = 0; i < t->n; i++)
        MHD_resume_connection(t->heap[i].conn);
    t->n = 0;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    if (t->thread_started) {
        pthread_join(t->thread, NULL);
        t->thread_started = false;
    }
}

void mocksrv__timer_free(struct mocksrv__timer *t)
{
    if (t == NULL)
        return;
    mocksrv__timer_shutdown(t);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    free(t->heap);
    free(t);
}
