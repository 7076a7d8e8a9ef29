/* The local transport: attempts answered in-process (the mock provider's
 * replies) instead of over a network.  The
 * reply is made when the transfer starts and delivered after its simulated
 * latency on a loop timer, through the same callbacks as a curl transfer:
 * the size cap, streamed bodies through on_data, a Retry-After as a
 * response header.  So the engine completes every attempt on one path. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "base/loop.h"
#include "transport/transport.h"

struct local {
    struct llm__loop *loop;
    llm__local_reply_fn *reply;
    const void *ctx;             /* borrowed */
};

/* Stands for struct llm__xfer on this transport. */
struct local_xfer {
    struct llm__timer timer;
    struct local *t;
    struct llm_local_response reply;
    struct llm__xfer_opts opts;
    struct llm__xfer_cbs cbs;
    void *user;
    int64_t start_mono_us;
    enum llm_error fail_err;     /* set by on_data via local_fail */
    char *fail_msg;
    char retry_after[24];
    struct llm_header hdr;       /* retry-after-ms, when the reply asks for a wait */
};

static void xfer_free(struct local_xfer *x)
{
    free(x->reply.body);
    free(x->fail_msg);
    free(x);
}

static void local_fail(struct llm__xfer *xp, enum llm_error err, const char *message)
{
    struct local_xfer *x = (struct local_xfer *)xp;
    if (x->fail_err != LLM_OK)
        return;
    x->fail_err = err;
    x->fail_msg = llm__strdup(message);
}

/* The reply as a transfer outcome; `msg` holds a formatted message. */
static void deliver(struct local_xfer *x, struct llm__xfer_outcome *o, char *msg, size_t msg_len)
{
    const struct llm_local_response *L = &x->reply;
    o->status = L->status;
    if (L->retry_after_ms >= 0) {
        snprintf(x->retry_after, sizeof(x->retry_after), "%" PRId64, L->retry_after_ms);
        x->hdr.name = (char *)"retry-after-ms";
        x->hdr.value = x->retry_after;
        o->headers.items = &x->hdr;
        o->headers.n = 1;
    }
    if (x->cbs.on_headers)
        x->cbs.on_headers(x->user, o->status, &o->headers);
    if (L->body_len > x->opts.max_response_bytes) {
        o->transport_error = LLM_ERR_RESPONSE_TOO_LARGE;
        snprintf(msg, msg_len, "response body exceeds the %zu-byte limit (max_response_bytes)",
                 x->opts.max_response_bytes);
        o->transport_message = msg;
        return;
    }
    o->bytes_received = L->body_len;
    if (x->opts.stream && L->status >= 200 && L->status < 300) {
        if (x->cbs.on_data(x->user, L->body, L->body_len) != 0) {
            o->transport_error = x->fail_err != LLM_OK ? x->fail_err : LLM_ERR_CANCELLED;
            o->transport_message = x->fail_msg ? x->fail_msg : llm_strerror(o->transport_error);
        }
        return;
    }
    o->body = L->body ? L->body : "";
    o->body_len = L->body_len;
}

static void on_reply_due(struct llm__timer *timer, void *user)
{
    struct local_xfer *x = user;
    struct llm__xfer_outcome o = {
        .dns_us = -1, .connect_us = -1, .tls_us = -1, .pretransfer_us = 0,
        .first_byte_us = -1, .total_us = -1,
    };
    char msg[128];
    if (x->reply.transport_error != LLM_OK) {
        o.transport_error = x->reply.transport_error;
        o.transport_message = x->reply.transport_error == LLM_ERR_TIMEOUT
                                  ? "mock: simulated attempt timeout"
                                  : "mock: simulated connection failure";
    } else {
        o.first_byte_us = llm__now_mono_us() - x->start_mono_us;
        deliver(x, &o, msg, sizeof(msg));
    }
    x->cbs.on_done(x->user, &o);
    xfer_free(x);
}

static enum llm_error local_start(void *impl, struct llm_http_request *req,
                                  const struct llm__xfer_opts *o, const struct llm__xfer_cbs *cbs,
                                  void *user, struct llm__xfer **out)
{
    struct local *t = impl;
    *out = NULL;
    llm_http_request_clear(req); /* answered from the request itself, not its wire form */
    struct local_xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return LLM_ERR_OUT_OF_MEMORY;
    x->t = t;
    x->opts = *o;
    x->cbs = *cbs;
    x->user = user;
    x->start_mono_us = llm__now_mono_us();
    enum llm_error rc = t->reply(t->ctx, o->origin, o->attempt, &x->reply);
    if (rc != LLM_OK) {
        xfer_free(x);
        return rc;
    }
    int64_t lat = x->reply.latency_ms > 0 ? x->reply.latency_ms : 0;
    if (llm__timer_start(t->loop, &x->timer, x->start_mono_us + lat * 1000, on_reply_due, x) != 0) {
        xfer_free(x);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    *out = (struct llm__xfer *)x;
    return LLM_OK;
}

static void local_cancel(void *impl, struct llm__xfer *xp)
{
    struct local *t = impl;
    struct local_xfer *x = (struct local_xfer *)xp;
    if (!x)
        return;
    llm__timer_stop(t->loop, &x->timer);
    xfer_free(x);
}

static void local_destroy(void *impl) { free(impl); }

static const struct llm__transport_vtable local_vtable = {
    .name = "local",
    .start_failure = "mock provider failed to build a reply",
    .start = local_start,
    .cancel = local_cancel,
    .fail = local_fail,
    .destroy = local_destroy,
};

enum llm_error llm__transport_new_local(struct llm__loop *loop, llm__local_reply_fn *reply,
                                        const void *ctx, struct llm__transport **out)
{
    *out = NULL;
    struct llm__transport *tr = calloc(1, sizeof(*tr));
    struct local *t = calloc(1, sizeof(*t));
    if (!tr || !t) {
        free(tr);
        free(t);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    t->loop = loop;
    t->reply = reply;
    t->ctx = ctx;
    tr->vt = &local_vtable;
    tr->impl = t;
    *out = tr;
    return LLM_OK;
}
