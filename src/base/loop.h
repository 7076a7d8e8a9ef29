/* The engine's event loop: epoll for sockets, an eventfd for cross-thread
 * wakeups, and a binary min-heap of timers.  Linux-only by design (epoll);
 * everything here runs on the one loop thread except llm__loop_wake(). */
#ifndef LLMORCH_LOOP_H
#define LLMORCH_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct llm__loop;
struct llm__timer;

typedef void llm__timer_fn(struct llm__timer *t, void *user);
/* `events` is a mask of EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP. */
typedef void llm__io_fn(int fd, uint32_t events, void *user);

/* Embedded in its owner; zero-initialised means "not armed". */
struct llm__timer {
    int64_t due_us;      /* monotonic µs */
    size_t heap_idx;     /* position in the heap + 1; 0 = not armed */
    llm__timer_fn *cb;
    void *user;
};

int llm__loop_new(struct llm__loop **out);
void llm__loop_free(struct llm__loop *l);

/* Thread-safe: make a blocked llm__loop_run_once() return soon. */
void llm__loop_wake(struct llm__loop *l);

/* Arm (or re-arm) `t` to fire at monotonic time `due_us`.  Returns 0 or -1
 * on allocation failure (the timer is then not armed). */
int llm__timer_start(struct llm__loop *l, struct llm__timer *t, int64_t due_us,
                     llm__timer_fn *cb, void *user);
void llm__timer_stop(struct llm__loop *l, struct llm__timer *t);
static inline bool llm__timer_armed(const struct llm__timer *t) { return t->heap_idx != 0; }

/* Watch `fd` for `events`; `user` is handed back to `cb`.  Watching an fd
 * that is already watched changes its mask and callback.  Returns 0 or -1. */
int llm__loop_watch(struct llm__loop *l, int fd, uint32_t events, llm__io_fn *cb, void *user);

/* Stop watching `fd` now (EPOLL_CTL_DEL).  The fd may already be closed. */
void llm__loop_unwatch(struct llm__loop *l, int fd);

/* Stop watching `fd`, which stays open and will probably be watched again
 * soon with the same mask (an idle keep-alive connection): it is left in the
 * epoll set, so that re-watching costs no syscall, and removed only if an
 * event arrives for it meanwhile.  Whoever closes such an fd MUST call
 * llm__loop_fd_reset() first, so that the number can be reused safely. */
void llm__loop_unwatch_lazy(struct llm__loop *l, int fd);

/* Forget everything about `fd`: it was just created (any record under its
 * number is stale) or is about to be closed (`still_open`: removed from the
 * epoll set first). */
void llm__loop_fd_reset(struct llm__loop *l, int fd, bool still_open);

/* Wait for I/O, a wakeup or the next timer (at most max_wait_ms, -1 = no
 * cap), dispatch I/O callbacks, then fire due timers.  Returns true if a
 * wakeup was received. */
bool llm__loop_run_once(struct llm__loop *l, int max_wait_ms);

#endif /* LLMORCH_LOOP_H */
