/* The service API on host threads: llm_generate, llm_generate_async,
 * llm_submit and futures.  A request is built here (result allocated, trace
 * id assigned, request validated and copied) and handed to the engine
 * thread through the command queue. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/util.h"
#include "core/request.h"
#include "core/result_internal.h"
#include "engine/engine_internal.h"

/* ---- futures ---------------------------------------------------------------- */

void llm__future_release(struct llm_future *f)
{
    if (atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    llm_result_free(f->res);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

void llm__future_resolve(struct llm_future *f, struct llm_result *res)
{
    f->req = NULL;
    pthread_mutex_lock(&f->mu);
    if (f->detached)
        llm_result_free(res);
    else
        f->res = res;
    f->done = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    llm__future_release(f);
}

/* ---- building a request ------------------------------------------------------- */

/* Bytes a result keeps free for the strings an attempt brings that fit
 * (the provider's request id: "req_" and 32 hex digits at OpenAI). */
#define RESULT_SPARE_BYTES 64

/* Returns NULL only if the request or its result could not be allocated;
 * an invalid request is "prefailed" and completes on the engine thread.
 * A valid request takes two allocations: its state with the copy of the
 * request (freed by the engine when it finishes) and its result with the
 * strings it starts with (freed by the host). */
static struct ereq *make_ereq(struct llm_engine *e, const struct llm_request *req, int64_t requested)
{
    char err[256];
    struct llm_request copy;
    void *block = NULL;
    enum llm_error rc = llm__request_validate(req, err, sizeof(err));
    /* A stream's own state follows the struct, before the copy. */
    bool stream = rc == LLM_OK && req->stream;
    if (rc == LLM_OK)
        rc = llm__request_copy_after(
            req, &copy, sizeof(struct ereq) + (stream ? sizeof(struct ereq_stream) : 0), &block);
    struct ereq *r = block != NULL ? block : malloc(sizeof(*r));
    if (!r)
        return NULL;
    /* Zeroed but for the request, about to be written whole. */
    llm__zero(r, offsetof(struct ereq, req));
    r->req = rc == LLM_OK ? copy : (struct llm_request){0};
    if (rc == LLM_OK && stream) {
        _Static_assert(sizeof(struct ereq) % _Alignof(struct ereq_stream) == 0, "aligned");
        r->stream = (struct ereq_stream *)(r + 1);
        memset(r->stream, 0, sizeof(*r->stream));
    }
    if (rc == LLM_OK) {
        r->res = llm__result_new_packed(e->provider_name, r->req.model, r->req.metadata_json,
                                        RESULT_SPARE_BYTES);
    } else {
        r->res = llm__result_new_packed(e->provider_name, NULL, NULL, 0);
        r->prefailed_msg = llm__strdup(rc == LLM_ERR_OUT_OF_MEMORY
                                           ? "out of memory copying the request" : err);
    }
    if (!r->res) {
        free(r->prefailed_msg);
        free(r);
        return NULL;
    }
    r->eng = e;
    r->prefailed = rc;
    r->res->timestamps[LLM_TS_REQUESTED] = requested;
    llm__uuid_v7(r->res->trace_id);
    if (rc == LLM_OK)
        r->res->user_data = r->req.user_data;
    else if (req)
        r->res->user_data = req->user_data;
    return r;
}

static enum llm_error enqueue(struct llm_engine *e, struct ereq *r)
{
    r->submit_cmd.type = CMD_SUBMIT;
    r->submit_cmd.req = r;
    r->res->timestamps[LLM_TS_ENQUEUED] = llm__stamp_now();
    return llm__cmdq_push(e, &r->submit_cmd);
}

/* ---- the API ------------------------------------------------------------------- */

enum llm_error llm_generate_async(struct llm_engine *e, const struct llm_request *req,
                                  llm_done_fn *cb, void *user)
{
    if (!e || !cb)
        return LLM_ERR_INVALID_ARGUMENT;
    struct ereq *r = make_ereq(e, req, llm__stamp_now());
    if (!r)
        return LLM_ERR_OUT_OF_MEMORY;
    r->cb = cb;
    r->cb_user = user;
    enum llm_error rc = enqueue(e, r);
    if (rc != LLM_OK) {
        r->cb = NULL;
        llm__ereq_free(r);
    }
    return rc;
}

enum llm_error llm_submit(struct llm_engine *e, const struct llm_request *req,
                          struct llm_future **out)
{
    if (!out)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!e)
        return LLM_ERR_INVALID_ARGUMENT;
    int64_t requested = llm__stamp_now();
    struct llm_future *f = calloc(1, sizeof(*f));
    if (!f)
        return LLM_ERR_OUT_OF_MEMORY;
    struct ereq *r = make_ereq(e, req, requested);
    if (!r) {
        free(f);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    atomic_init(&f->refs, 2);
    f->req = r;
    f->eng = e;
    r->fut = f;
    enum llm_error rc = enqueue(e, r);
    if (rc != LLM_OK) {
        r->fut = NULL;
        llm__ereq_free(r);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f);
        return rc;
    }
    *out = f;
    return LLM_OK;
}

/* Wait on f->cv until done or `timeout_ms` passes (f->mu held). */
static void wait_done(struct llm_future *f, int64_t timeout_ms)
{
    if (timeout_ms < 0) {
        while (!f->done)
            pthread_cond_wait(&f->cv, &f->mu);
        return;
    }
    if (f->done || timeout_ms == 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!f->done)
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT)
            break;
}

enum llm_error llm_future_wait(struct llm_future *f, int64_t timeout_ms, struct llm_result **out)
{
    if (!out)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!f)
        return LLM_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&f->mu);
    if (timeout_ms != 0 && !f->done && llm__tls_engine == f->eng) {
        /* On the engine thread (a callback): the result can only come from
         * this thread, so waiting would never end (or, with a timeout, stall
         * every request of the engine for nothing). */
        pthread_mutex_unlock(&f->mu);
        return LLM_ERR_INTERNAL;
    }
    wait_done(f, timeout_ms);
    enum llm_error rc;
    if (!f->done) {
        rc = LLM_ERR_TIMEOUT;
    } else if (f->taken) {
        rc = LLM_ERR_INVALID_ARGUMENT;
    } else {
        f->taken = true;
        *out = f->res;
        f->res = NULL;
        rc = LLM_OK;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static void post_cancel(struct llm_engine *e, struct llm_future *f)
{
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return; /* best effort: the request still completes on its own */
    c->type = CMD_CANCEL;
    c->fut = f;
    atomic_fetch_add(&f->refs, 1);
    if (llm__cmdq_push(e, c) != LLM_OK) {
        /* Shutdown cancels everything anyway. */
        atomic_fetch_sub(&f->refs, 1);
        free(c);
    }
}

enum llm_error llm_future_cancel(struct llm_future *f)
{
    if (!f)
        return LLM_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&f->mu);
    bool done = f->done;
    pthread_mutex_unlock(&f->mu);
    if (!done)
        post_cancel(f->eng, f);
    return LLM_OK;
}

void llm_future_free(struct llm_future *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    bool done = f->done;
    f->detached = true;
    if (done) {
        llm_result_free(f->res);
        f->res = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    if (!done)
        post_cancel(f->eng, f);
    llm__future_release(f);
}

/* A result for a request that never reached the engine. */
static struct llm_result *error_result(enum llm_error type, const char *msg, bool stamped)
{
    struct llm_result *res = llm__result_new();
    if (!res)
        return NULL;
    llm__uuid_v7(res->trace_id);
    if (stamped)
        res->timestamps[LLM_TS_REQUESTED] = llm__stamp_now();
    res->error.type = type;
    res->error.message = llm__strdup(msg);
    if (stamped)
        res->timestamps[LLM_TS_COMPLETED] = llm__stamp_now();
    return res;
}

struct llm_result *llm_generate(struct llm_engine *e, const struct llm_request *req)
{
    if (e && llm__tls_engine == e)
        return error_result(LLM_ERR_INTERNAL,
                            "llm_generate() called from the engine thread (a callback); use "
                            "llm_generate_async()",
                            false);
    struct llm_future *f = NULL;
    enum llm_error rc = llm_submit(e, req, &f);
    if (rc != LLM_OK)
        return error_result(rc,
                            !e                         ? "engine: is NULL"
                            : rc == LLM_ERR_CANCELLED ? "engine is shutting down"
                                                      : llm_strerror(rc),
                            true);
    struct llm_result *res = NULL;
    llm_future_wait(f, -1, &res);
    llm_future_free(f);
    return res;
}
