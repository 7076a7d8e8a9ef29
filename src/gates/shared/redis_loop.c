/* hiredis's async context on the engine's epoll loop: the same five hooks
 * hiredis's own adapters (adapters/ae.h, libevent.h, libuv.h) implement,
 * mapped onto llm__loop_watch with one mask per fd.
 *
 * Why the events struct is owned by the caller and not allocated here as
 * the shipped adapters do: hiredis may free the context from inside
 * redisAsyncHandleRead (a disconnect), after which the I/O callback must
 * not go on to redisAsyncHandleWrite.  The cleanup hook clears ev->ac, and
 * the caller's struct outlives the context, so the callback can check. */
#include "gates/shared/shared.h"

#include "base/loop.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/epoll.h>

static void on_io(int fd, uint32_t events, void *user)
{
    struct llm__redis_events *ev = user;
    if (ev->ac && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        redisAsyncHandleRead(ev->ac);
    /* The read may have freed the context (ev->ac is then NULL). */
    if (ev->ac && (events & (EPOLLOUT | EPOLLERR)))
        redisAsyncHandleWrite(ev->ac);
}

static void update(struct llm__redis_events *ev, uint32_t mask)
{
    if (mask == ev->mask || ev->fd < 0)
        return;
    ev->mask = mask;
    if (mask == 0)
        llm__loop_unwatch(ev->loop, ev->fd);
    else if (llm__loop_watch(ev->loop, ev->fd, mask, on_io, ev) != 0)
        ev->mask = 0; /* out of memory: the command timeout notices */
}

static void add_read(void *p) { struct llm__redis_events *ev = p; update(ev, ev->mask | EPOLLIN); }
static void del_read(void *p) { struct llm__redis_events *ev = p; update(ev, ev->mask & ~(uint32_t)EPOLLIN); }
static void add_write(void *p) { struct llm__redis_events *ev = p; update(ev, ev->mask | EPOLLOUT); }
static void del_write(void *p) { struct llm__redis_events *ev = p; update(ev, ev->mask & ~(uint32_t)EPOLLOUT); }

/* hiredis is about to close the fd: forget it, and forget the context. */
static void cleanup(void *p)
{
    struct llm__redis_events *ev = p;
    if (ev->fd >= 0)
        llm__loop_fd_reset(ev->loop, ev->fd, true);
    ev->fd = -1;
    ev->mask = 0;
    ev->ac = NULL;
}

int llm__redis_attach(struct llm__redis_events *ev, struct llm__loop *loop,
                      struct redisAsyncContext *ac)
{
    if (ac->ev.data != NULL)
        return -1;
    ev->loop = loop;
    ev->ac = ac;
    ev->fd = ac->c.fd;
    ev->mask = 0;
    llm__loop_fd_reset(loop, ev->fd, false); /* a new fd: any old record is stale */
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = ev;
    /* The connect completes on writability (hiredis checks SO_ERROR). */
    update(ev, EPOLLIN | EPOLLOUT);
    if (ev->mask == 0) {
        ac->ev.data = NULL;
        ac->ev.cleanup = NULL;
        ev->ac = NULL;
        ev->fd = -1;
        return -1;
    }
    return 0;
}
