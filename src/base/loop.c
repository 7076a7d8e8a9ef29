/* epoll + eventfd + timer heap.  See loop.h.  The heap gives O(log n) timer
 * arm/disarm for thousands of requests each holding a deadline and a
 * backoff timer; no scan over requests ever happens per event. */
#include "base/loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"

struct io_slot {
    llm__io_fn *cb;       /* NULL: not watched (maybe still registered, see below) */
    void *user;
    uint32_t events;      /* the mask registered with epoll */
    bool registered;      /* in the epoll set; may outlive the watch (lazy unwatch) */
};

struct llm__loop {
    int epfd;
    int wakefd;
    /* True from a wake()'s write until the loop has read the eventfd: other
     * wakers can skip their write(2) meanwhile (a burst of submissions then
     * costs one syscall, not one each). */
    atomic_bool wake_pending;
    struct llm__timer **heap;
    size_t heap_len;
    size_t heap_cap;
    /* fd -> callback, indexed by fd (fds are small dense integers). */
    struct io_slot *io;
    size_t io_cap;
};

int llm__loop_new(struct llm__loop **out)
{
    struct llm__loop *l = calloc(1, sizeof(*l));
    *out = NULL;
    if (!l)
        return -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->wakefd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0)
        goto fail;
    *out = l;
    return 0;
fail:
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wakefd >= 0)
        close(l->wakefd);
    free(l);
    return -1;
}

void llm__loop_free(struct llm__loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    close(l->wakefd);
    free(l->heap);
    free(l->io);
    free(l);
}

void llm__loop_wake(struct llm__loop *l)
{
    /* The caller published its work (under its own lock) before this: if a
     * wakeup is already pending, the loop has not yet read the eventfd, so
     * it will return from epoll and see that work afterwards. */
    if (atomic_exchange(&l->wake_pending, true))
        return;
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: a wakeup is pending. */
    ssize_t r = write(l->wakefd, &one, sizeof(one));
    (void)r;
}

/* ---- timer heap ---------------------------------------------------------- */

static void heap_set(struct llm__loop *l, size_t i, struct llm__timer *t)
{
    l->heap[i] = t;
    t->heap_idx = i + 1;
}

static void heap_up(struct llm__loop *l, size_t i)
{
    struct llm__timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->due_us <= t->due_us)
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void heap_down(struct llm__loop *l, size_t i)
{
    struct llm__timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_len)
            break;
        if (c + 1 < l->heap_len && l->heap[c + 1]->due_us < l->heap[c]->due_us)
            c++;
        if (t->due_us <= l->heap[c]->due_us)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

static void heap_remove(struct llm__loop *l, struct llm__timer *t)
{
    size_t i = t->heap_idx - 1;
    struct llm__timer *last = l->heap[--l->heap_len];
    t->heap_idx = 0;
    if (last == t)
        return;
    heap_set(l, i, last);
    heap_down(l, i);
    heap_up(l, last->heap_idx - 1);
}

int llm__timer_start(struct llm__loop *l, struct llm__timer *t, int64_t due_us,
                     llm__timer_fn *cb, void *user)
{
    /* Already armed (curl moves its timer about twice per request): moved
     * where it stands, one sift instead of a removal and an insertion. */
    if (t->heap_idx) {
        int64_t old = t->due_us;
        t->due_us = due_us;
        t->cb = cb;
        t->user = user;
        if (due_us < old)
            heap_up(l, t->heap_idx - 1);
        else if (due_us > old)
            heap_down(l, t->heap_idx - 1);
        return 0;
    }
    if (l->heap_len == l->heap_cap) {
        size_t ncap = l->heap_cap ? l->heap_cap * 2 : 64;
        struct llm__timer **nh = realloc(l->heap, ncap * sizeof(*nh));
        if (!nh)
            return -1;
        l->heap = nh;
        l->heap_cap = ncap;
    }
    t->due_us = due_us;
    t->cb = cb;
    t->user = user;
    heap_set(l, l->heap_len++, t);
    heap_up(l, l->heap_len - 1);
    return 0;
}

void llm__timer_stop(struct llm__loop *l, struct llm__timer *t)
{
    if (t->heap_idx)
        heap_remove(l, t);
}

/* ---- I/O ------------------------------------------------------------------ */

static int ensure_slot(struct llm__loop *l, int fd)
{
    if (fd < 0)
        return -1;
    if ((size_t)fd >= l->io_cap) {
        size_t ncap = l->io_cap ? l->io_cap : 64;
        while (ncap <= (size_t)fd)
            ncap *= 2;
        struct io_slot *n = realloc(l->io, ncap * sizeof(*n));
        if (!n)
            return -1;
        memset(n + l->io_cap, 0, (ncap - l->io_cap) * sizeof(*n));
        l->io = n;
        l->io_cap = ncap;
    }
    return 0;
}

int llm__loop_watch(struct llm__loop *l, int fd, uint32_t events, llm__io_fn *cb, void *user)
{
    if (ensure_slot(l, fd) != 0)
        return -1;
    struct io_slot *s = &l->io[fd];
    /* Still registered with the same mask (a keep-alive socket watched
     * again after a lazy unwatch): no syscall at all. */
    if (!s->registered || s->events != events) {
        struct epoll_event ev = {.events = events, .data.fd = fd};
        int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
            /* Our record can be stale if an fd was closed (which drops it
             * from the set) and its number reused behind our back: retry
             * with the other operation. */
            op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
            if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
                *s = (struct io_slot){0};
                return -1;
            }
        }
        s->registered = true;
        s->events = events;
    }
    s->cb = cb;
    s->user = user;
    return 0;
}

void llm__loop_unwatch(struct llm__loop *l, int fd)
{
    if (fd < 0)
        return;
    /* The fd may already be closed; the error is harmless. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    if ((size_t)fd < l->io_cap)
        l->io[fd] = (struct io_slot){0};
}

void llm__loop_unwatch_lazy(struct llm__loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->io_cap)
        return;
    l->io[fd].cb = NULL;
    l->io[fd].user = NULL;
}

void llm__loop_fd_reset(struct llm__loop *l, int fd, bool still_open)
{
    if (fd < 0 || (size_t)fd >= l->io_cap)
        return;
    if (still_open && l->io[fd].registered)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->io[fd] = (struct io_slot){0};
}

bool llm__loop_run_once(struct llm__loop *l, int max_wait_ms)
{
    struct epoll_event evs[256];
    int timeout = max_wait_ms;
    if (l->heap_len) {
        int64_t delta = l->heap[0]->due_us - llm__now_mono_us();
        int64_t ms = delta <= 0 ? 0 : (delta + 999) / 1000;
        if (timeout < 0 || ms < timeout)
            timeout = ms > 3600000 ? 3600000 : (int)ms;
    }
    bool woke = false;
    int n = epoll_wait(l->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == l->wakefd) {
            uint64_t v;
            ssize_t r = read(l->wakefd, &v, sizeof(v));
            (void)r;
            /* Cleared after the read and before the caller looks for work:
             * a wake() from now on writes again. */
            atomic_store(&l->wake_pending, false);
            woke = true;
            continue;
        }
        if ((size_t)fd >= l->io_cap)
            continue;
        struct io_slot *s = &l->io[fd];
        if (s->cb) {
            s->cb(fd, evs[i].events, s->user);
        } else if (s->registered) {
            /* An event on a lazily unwatched fd (say, the server closed an
             * idle keep-alive connection): nobody wants it, so now it goes. */
            epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
            *s = (struct io_slot){0};
        }
    }
    /* Fire due timers.  A callback may arm or stop other timers. */
    int64_t now = llm__now_mono_us();
    while (l->heap_len && l->heap[0]->due_us <= now) {
        struct llm__timer *t = l->heap[0];
        heap_remove(l, t);
        t->cb(t, t->user);
    }
    return woke;
}
