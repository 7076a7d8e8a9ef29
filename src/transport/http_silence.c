/* Silence deadlines of the curl transport's transfers: no first byte
 * within first_byte_timeout_ms, or no byte for idle_timeout_ms once the
 * response began (see transport.h).  Loop thread only.
 *
 * Every transfer has one (first byte, then idle), and almost every one
 * ends long before it.  A heap timer per transfer cost an insert and a
 * removal per request (~1,000 instructions, callgrind).  But the
 * transfers of an engine share their limits, so deadlines set at the
 * start of each transfer come in non-decreasing order: they go on a list
 * kept in that order (O(1) in and out) served by one timer.  A deadline
 * that would break the order (moved earlier at the first byte when the
 * idle limit is the shorter one, or re-armed after a long response) goes
 * on the transfer's own heap timer instead, as before.  The list's timer
 * is left alone when its head leaves: it then fires early, once, and is
 * set for the new head. */
#include <inttypes.h>
#include <stdio.h>

#include "base/clock.h"
#include "transport/http_internal.h"

static void on_idle_timer(struct llm__timer *t, void *user);
static void on_watch_timer(struct llm__timer *t, void *user);

int64_t llm__http_idle_due(int64_t since_us, int64_t limit_ms)
{
    int64_t us = limit_ms > (INT64_MAX - since_us) / 1000 ? INT64_MAX - since_us : limit_ms * 1000;
    return since_us + us;
}

static void watch_unlink(struct llm__http *h, struct llm__xfer *x)
{
    if (x->watch_prev)
        x->watch_prev->watch_next = x->watch_next;
    else
        h->watch_head = x->watch_next;
    if (x->watch_next)
        x->watch_next->watch_prev = x->watch_prev;
    else
        h->watch_tail = x->watch_prev;
    x->watch_prev = x->watch_next = NULL;
    x->watched = false;
}

void llm__http_silence_clear(struct llm__xfer *x)
{
    if (x->watched)
        watch_unlink(x->h, x);
    llm__timer_stop(x->h->loop, &x->idle_timer);
}

int llm__http_silence_set(struct llm__xfer *x, int64_t due)
{
    struct llm__http *h = x->h;
    llm__http_silence_clear(x);
    if (h->watch_tail && h->watch_tail->watch_due_us > due)
        return llm__timer_start(h->loop, &x->idle_timer, due, on_idle_timer, x);
    if ((!llm__timer_armed(&h->watch_timer) || h->watch_timer.due_us > due) &&
        llm__timer_start(h->loop, &h->watch_timer, due, on_watch_timer, h) != 0)
        return -1;
    x->watch_due_us = due;
    x->watched = true;
    x->watch_prev = h->watch_tail;
    if (h->watch_tail)
        h->watch_tail->watch_next = x;
    else
        h->watch_head = x;
    h->watch_tail = x;
    return 0;
}

int64_t llm__http_silence_due(const struct llm__xfer *x)
{
    if (x->watched)
        return x->watch_due_us;
    return llm__timer_armed(&x->idle_timer) ? x->idle_timer.due_us : INT64_MAX;
}

/* x's silence deadline fell at `now` (it has none any more). */
static void silence_check(struct llm__xfer *x, int64_t now)
{
    int64_t limit = x->got_byte && x->opts.idle_timeout_ms > 0 ? x->opts.idle_timeout_ms
                                                               : x->opts.first_byte_timeout_ms;
    int64_t due = llm__http_idle_due(x->last_rx_us, limit);
    if (due > now) {
        /* Bytes came meanwhile: look again a full limit after the last. */
        if (llm__http_silence_set(x, due) == 0)
            return;
    }
    char m[160];
    if (x->got_byte)
        snprintf(m, sizeof(m), "no data from the server for %" PRId64
                 " ms after the response began (idle timeout)", limit);
    else
        snprintf(m, sizeof(m), "no response from the server within %" PRId64
                 " ms (first-byte timeout)", limit);
    llm__http_fail(x, LLM_ERR_TIMEOUT, m);
    /* Not inside a curl callback: the transfer can be finished here. */
    struct llm__part *p = x->p;
    llm__http_finish(x, CURLE_OPERATION_TIMEDOUT);
    llm__http_release_deferred(p);
}

static void on_idle_timer(struct llm__timer *t, void *user)
{
    (void)t;
    silence_check(user, llm__now_mono_us());
}

static void on_watch_timer(struct llm__timer *t, void *user)
{
    (void)t;
    struct llm__http *h = user;
    int64_t now = llm__now_mono_us();
    /* Re-read the head each time: a check may finish transfers (and the
     * engine start new ones, whose deadlines lie past now). */
    struct llm__xfer *x;
    while ((x = h->watch_head) != NULL && x->watch_due_us <= now) {
        watch_unlink(h, x);
        silence_check(x, now);
    }
    /* (Out of memory here, the next silence_set arms it again.) */
    if (h->watch_head && !llm__timer_armed(&h->watch_timer))
        llm__timer_start(h->loop, &h->watch_timer, h->watch_head->watch_due_us, on_watch_timer, h);
}

