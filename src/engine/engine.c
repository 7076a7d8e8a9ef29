/* The engine's lifecycle and state machine: the thread, the command queue
 * from host threads, the admission FIFO, pump and finish.  See
 * engine_internal.h for the whole picture. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "core/request.h"
#include "core/result_internal.h"
#include "engine/engine_internal.h"
#include "llmorch/ext/backoff.h"
#include "llmorch/pipeline.h"
#include "metrics/stats_acc.h"

_Thread_local const struct llm_engine *llm__tls_engine;

/* ---- command queue --------------------------------------------------------- */

enum llm_error llm__cmdq_push(struct llm_engine *e, struct cmd *c)
{
    c->next = NULL;
    pthread_mutex_lock(&e->submit_mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->submit_mu);
        return LLM_ERR_CANCELLED;
    }
    if (e->cmd_tail)
        e->cmd_tail->next = c;
    else
        e->cmd_head = c;
    e->cmd_tail = c;
    pthread_mutex_unlock(&e->submit_mu);
    llm__loop_wake(e->loop);
    return LLM_OK;
}

/* ---- request lifetime ------------------------------------------------------ */

static void fifo_remove(struct llm_engine *e, struct ereq *r)
{
    if (r->state != ST_WAITING)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        e->wait_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        e->wait_tail = r->prev;
    r->prev = r->next = NULL;
    e->n_waiting--;
}

void llm__eng_fifo_push(struct llm_engine *e, struct ereq *r, bool front, int64_t now_mono_us)
{
    r->state = ST_WAITING;
    r->wait_since_us = now_mono_us;
    if (front) {
        r->prev = NULL;
        r->next = e->wait_head;
        if (e->wait_head)
            e->wait_head->prev = r;
        else
            e->wait_tail = r;
        e->wait_head = r;
    } else {
        r->next = NULL;
        r->prev = e->wait_tail;
        if (e->wait_tail)
            e->wait_tail->next = r;
        else
            e->wait_head = r;
        e->wait_tail = r;
    }
    e->n_waiting++;
}

/* Whether `p` still owns memory.  After a reply was taken into the result
 * (outcome.c) it usually owns none, and llm_parsed_clear's eight free(NULL)
 * calls would cost ~100 instructions per request.  The pointers checked
 * are those llm_parsed_clear frees: the assert fails the build when the
 * struct grows, so that this list is looked at again. */
static bool parsed_owns_memory(const struct llm_parsed *p)
{
    _Static_assert(sizeof(void *) != 8 || sizeof(struct llm_parsed) == 216,
                   "struct llm_parsed changed: update parsed_owns_memory()");
    return p->content || p->finish_reason || p->model || p->response_id || p->error_message ||
           p->provider_code || p->tool_calls || p->refusal;
}

void llm__ereq_free(struct ereq *r)
{
    /* r->req's copy lives in r's own block (submit.c). */
    llm_result_free(r->res);
    if (parsed_owns_memory(&r->parsed))
        llm_parsed_clear(&r->parsed);
    if (r->stream) {
        llm__framer_free(&r->stream->sse);
        llm__buf_free(&r->stream->raw_stream);
    }
    free(r->prefailed_msg);
    free(r);
}

void llm__eng_release_slot_at(struct llm_engine *e, struct ereq *r, int64_t wall_us)
{
    if (!r->holds_slot)
        return;
    r->holds_slot = false;
    e->in_flight--;
    ts_set(r, LLM_TS_SLOT_RELEASED, wall_us);
}

void llm__eng_release_slot(struct llm_engine *e, struct ereq *r)
{
    if (r->holds_slot)
        llm__eng_release_slot_at(e, r, llm__stamp_now());
}

/* Take `r` out of every structure of the engine. */
static void unlink_request(struct llm_engine *e, struct ereq *r)
{
    llm__timer_stop(e->loop, &r->timer);
    llm__timer_stop(e->loop, &r->deadline);
    if (r->xfer) {
        llm__transport_cancel(e->transport, r->xfer);
        r->xfer = NULL;
    }
    if (r->state == ST_ADMITTING)
        llm__adm_withdraw(e, r);
    fifo_remove(e, r);
    llm__eng_release_slot(e, r);
    if (r->state != ST_NEW) {
        if (r->all_prev)
            r->all_prev->all_next = r->all_next;
        else
            e->all_head = r->all_next;
        if (r->all_next)
            r->all_next->all_prev = r->all_prev;
    }
    r->state = ST_DONE;
}

void llm__eng_finish(struct ereq *r, enum llm_error err, const char *msg, int http_status,
                     const char *provider_code, bool retryable)
{
    struct llm_engine *e = r->eng;
    struct llm_result *res = r->res;
    /* An attempt still in progress is cut here (deadline, cancel,
     * shutdown): it goes in the record with what it moved. */
    if (r->state == ST_ATTEMPT && r->xfer)
        llm__eng_record_cut(r, err, msg);
    unlink_request(e, r);
    res->success = err == LLM_OK;
    res->error.type = err;
    res->error.retryable = err != LLM_OK && retryable;
    if (err != LLM_OK) {
        llm__result_free_str(res, res->error.message);
        res->error.message = llm__eng_scrub(e, llm__strdup(msg ? msg : llm_strerror(err)));
        if (http_status)
            res->error.http_status = http_status;
        if (provider_code && !res->error.provider_code)
            res->error.provider_code = llm__eng_scrub(e, llm__strdup(provider_code));
    }
    /* One clock read for the stamp and the stats windows. */
    int64_t now_mono = llm__now_mono_us();
    ts_set(r, LLM_TS_COMPLETED, llm__stamp_at(now_mono));
    llm__eng_observe_done(e, res, err, now_mono);

    r->res = NULL;
    if (r->fut)
        llm__future_resolve(r->fut, res);
    else if (r->cb)
        r->cb(r->cb_user, res);
    else
        llm_result_free(res);
    llm__ereq_free(r);
}

static void on_deadline(struct llm__timer *t, void *user)
{
    struct ereq *r = user;
    struct llm_engine *e = r->eng; /* r is freed by finish() */
    char msg[160];
    snprintf(msg, sizeof(msg), "request deadline of %" PRId64 " ms passed%s",
             r->req.deadline_ms ? r->req.deadline_ms : r->eng->default_deadline_ms,
             r->state == ST_WAITING || r->state == ST_ADMITTING ? " while queued" : r->state == ST_BACKOFF ? " while backing off"
                                                                               : " during an attempt");
    llm__eng_finish(r, LLM_ERR_DEADLINE_EXCEEDED, msg, 0, NULL, false);
    llm__eng_pump(e);
}

/* ---- pump --------------------------------------------------------------------- */

/* Start attempts while slots are free and admission lets the head through.
 * The FIFO head blocks the line: rate gates are fair only if nobody
 * overtakes. */
void llm__eng_pump(struct llm_engine *e)
{
    size_t max = e->adm.probing ? 1 : (size_t)e->max_in_flight;
    /* Requests asking the shared gates hold a slot-to-be: admitting more
     * than the slots free would debit the quota for requests that then
     * wait, and arrive at the server later than admitted. */
    while (e->wait_head && e->in_flight + e->adm.n_admitting < max) {
        struct ereq *r = e->wait_head;
        int64_t now = llm__now_mono_us();
        if (!r->gate_since_us) {
            r->res->backoff.queue_wait_ms += (now - r->wait_since_us) / 1000;
            r->gate_since_us = now;
            ts_set_once(r, LLM_TS_GATES_ENTERED, llm__stamp_at(now));
        }
        int64_t again = llm__adm_admit(e, r, now);
        if (again == LLM__ADM_PENDING) {
            fifo_remove(e, r);
            r->state = ST_ADMITTING;
            e->adm.n_admitting++;
            continue;
        }
        if (again == LLM__ADM_GONE)
            continue;
        if (again != 0)
            return;
        llm__eng_admitted(r, now);
    }
}

void llm__eng_admitted(struct ereq *r, int64_t now)
{
    struct llm_engine *e = r->eng;
    int64_t waited_ms = (now - r->gate_since_us) / 1000;
    if (r->gate_by_cooldown)
        r->res->backoff.server_wait_ms += waited_ms;
    else
        r->res->backoff.gate_wait_ms += waited_ms;
    r->gate_since_us = 0;
    r->gate_by_cooldown = false;
    ts_set(r, LLM_TS_GATES_PASSED, llm__stamp_at(now));
    fifo_remove(e, r);
    llm__eng_start_attempt(r, now);
}

/* ---- engine thread ------------------------------------------------------------ */

/* Book the accepted submissions of this batch of commands (one stats lock
 * for all), as anything that may report them is about to run. */
static void book_submitted(struct llm_engine *e, uint64_t *pending)
{
    llm__stats_acc_note_submitted(e->stats, *pending);
    *pending = 0;
}

/* Accepted requests are added to *pending (see book_submitted). */
static void accept_request(struct llm_engine *e, struct ereq *r, uint64_t *pending)
{
    int64_t now_mono = llm__now_mono_us();
    ts_set(r, LLM_TS_DEQUEUED, llm__stamp_at(now_mono));
    if (r->prefailed != LLM_OK) {
        book_submitted(e, pending); /* the callback may take a snapshot */
        llm__eng_finish(r, r->prefailed, r->prefailed_msg, 0, NULL, false);
        return;
    }
    if (e->n_waiting >= e->max_queue) {
        char msg[128];
        snprintf(msg, sizeof(msg), "admission queue is full (%zu requests waiting, max_queue %zu)",
                 e->n_waiting, e->max_queue);
        book_submitted(e, pending);
        llm__eng_finish(r, LLM_ERR_QUEUE_FULL, msg, 0, NULL, false);
        return;
    }
    r->ticket.tpm_amount = -1; /* estimated when a TPM gate first asks */
    (*pending)++;
    r->all_prev = NULL;
    r->all_next = e->all_head;
    if (e->all_head)
        e->all_head->all_prev = r;
    e->all_head = r;
    int64_t dl = r->req.deadline_ms ? r->req.deadline_ms : e->default_deadline_ms;
    if (dl > 0) {
        /* The deadline counts from submission, not from dequeue. */
        int64_t requested_mono = r->res->timestamps[LLM_TS_REQUESTED] -
                                 (llm__stamp_at(now_mono) - now_mono);
        /* Saturating: INT64_MAX as "no deadline" must not wrap into the
         * past.  A deadline past the end of int64 time is no deadline. */
        r->deadline_mono_us = llm__add_sat(requested_mono, llm__ms_to_us_sat(dl));
        if (r->deadline_mono_us == INT64_MAX) {
            r->deadline_mono_us = 0;
        } else if (llm__timer_start(e->loop, &r->deadline, r->deadline_mono_us, on_deadline, r) !=
                   0) {
            llm__eng_fifo_push(e, r, false, now_mono); /* so finish() unlinks it everywhere */
            book_submitted(e, pending);
            llm__eng_finish(r, LLM_ERR_OUT_OF_MEMORY, "out of memory arming the deadline", 0,
                            NULL, false);
            return;
        }
    }
    llm__eng_fifo_push(e, r, false, now_mono);
}

static void answer_stats(struct llm_engine *e, struct stats_req *sr)
{
    sr->rc = llm__eng_snapshot(e, &sr->out);
    pthread_mutex_lock(&sr->mu);
    sr->done = true;
    pthread_cond_signal(&sr->cv);
    pthread_mutex_unlock(&sr->mu);
}

static void process_commands(struct llm_engine *e, bool *stop)
{
    pthread_mutex_lock(&e->submit_mu);
    struct cmd *c = e->cmd_head;
    e->cmd_head = e->cmd_tail = NULL;
    *stop = e->stopping;
    pthread_mutex_unlock(&e->submit_mu);
    uint64_t accepted = 0;
    while (c) {
        struct cmd *next = c->next;
        if (c->type == CMD_SUBMIT) {
            accept_request(e, c->req, &accepted); /* embedded in the request: not freed here */
            c = next;
            continue;
        }
        book_submitted(e, &accepted);
        if (c->type == CMD_STATS) {
            answer_stats(e, c->sr);
            free(c);
        } else {
            struct llm_future *f = c->fut;
            if (f->req)
                llm__eng_finish(f->req, LLM_ERR_CANCELLED, "cancelled by the caller", 0, NULL,
                                false);
            llm__future_release(f);
            free(c);
        }
        c = next;
    }
    book_submitted(e, &accepted);
}

static void *engine_main(void *arg)
{
    struct llm_engine *e = arg;
    bool stop = false;
    llm__tls_engine = e;
    /* A write to a peer that went away (Redis killed: hiredis writes with
     * write(2)) must be an EPIPE error, not a signal that kills the host.
     * Blocked in this thread only; curl avoids SIGPIPE by itself. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    llm__eng_metrics_start(e);
    for (;;) {
        process_commands(e, &stop);
        if (stop)
            break;
        llm__eng_pump(e);
        llm__loop_run_once(e->loop, -1);
    }
    /* Shutdown: everything still alive completes as CANCELLED, once. */
    process_commands(e, &stop);
    while (e->all_head)
        llm__eng_finish(e->all_head, LLM_ERR_CANCELLED,
                        "engine shut down before the request completed", 0, NULL, false);
    llm__eng_metrics_stop(e);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------- */

enum llm_error llm__eng_start(struct llm_engine *e)
{
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0)
        return LLM_ERR_INTERNAL;
    e->thread_started = true;
    return LLM_OK;
}

void llm__eng_destroy(struct llm_engine *e)
{
    llm__transport_free(e->transport);
    llm__adm_clear(e);
    llm__loop_free(e->loop);
    llm__retry_strategy_clear(&e->retry);
    llm_provider_free(e->provider);
    llm__stats_acc_free(e->stats);
    llm_pricing_free(e->pricing);
    free(e->price_model);
    llm_pipeline_free(e->pipeline);
    free(e->provider_name);
    llm__secrets_free(&e->secrets);
    for (size_t i = 0; i < e->n_headers; i++)
        free(e->headers[i]);
    free(e->headers);
    free(e->proxy);
    free(e->ca_file);
    free(e->ca_path);
    pthread_mutex_destroy(&e->submit_mu);
    free(e);
}

void llm_engine_free(struct llm_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->submit_mu);
    e->stopping = true;
    pthread_mutex_unlock(&e->submit_mu);
    llm__loop_wake(e->loop);
    if (e->thread_started)
        pthread_join(e->thread, NULL);
    llm__eng_destroy(e);
}
