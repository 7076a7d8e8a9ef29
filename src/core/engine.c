/* The generation engine: one event-loop thread owns every request's state.
 *
 * Host threads only allocate a request (validated and deep-copied), push it
 * onto the submission queue and wake the loop; from then on the request is
 * touched by the engine thread alone until its result is handed back (to a
 * callback, or through a future).  Crossing threads is a hand-off of
 * ownership, never sharing.
 *
 * A request moves through: WAITING (admission FIFO, for a concurrency slot)
 * -> ATTEMPT (HTTP transfer, or a timer for the in-process mock) -> either
 * DONE, or BACKOFF (timer) -> WAITING again at the head of the FIFO.  A
 * deadline timer runs beside all of this.  Every transition is O(1) or
 * O(log n) (timer heap): nothing scans the set of requests per event. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/internal.h"
#include "core/loop.h"
#include "core/request.h"
#include "core/result_internal.h"
#include "llmorch/engine.h"
#include "llmorch/ext/backoff.h"
#include "llmorch/ext/gate.h"
#include "llmorch/ext/provider.h"
#include "llmorch/ext/retry.h"
#include "llmorch/ext/tokens.h"
#include "llmorch/pipeline.h"
#include "llmorch/pricing.h"
#include "llmorch/stats.h"
#include "metrics/stats_acc.h"
#include "transport/http.h"
#include "transport/sse.h"

#define DEFAULT_MAX_IN_FLIGHT 64
#define DEFAULT_MAX_QUEUE 100000
#define DEFAULT_MAX_ATTEMPTS 3
#define DEFAULT_BASE_BACKOFF_MS 500
#define DEFAULT_MAX_BACKOFF_MS 30000
#define DEFAULT_MAX_SERVER_WAIT_MS 60000
#define DEFAULT_ATTEMPT_TIMEOUT_MS 600000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RESPONSE_BYTES ((size_t)16 * 1024 * 1024)
#define MAX_SSE_EVENT_BYTES ((size_t)1024 * 1024)
#define DEFAULT_WINDOW_MS 60000
/* Tokens assumed for the reply when a request sets no max_tokens. */
#define DEFAULT_TPM_OUTPUT_TOKENS 1024
/* Window used for limits learned from headers: a short window tiles any
 * longer window the server may use, so bursts stay within its limit. */
#define ADAPTIVE_WINDOW_MS 1000

enum req_state { ST_NEW, ST_WAITING, ST_ATTEMPT, ST_BACKOFF, ST_DONE };

enum cmd_type { CMD_SUBMIT, CMD_CANCEL, CMD_STATS };

/* A host thread waiting for a stats snapshot taken on the engine thread. */
struct stats_req {
    pthread_mutex_t mu;         /* guards done */
    pthread_cond_t cv;
    bool done;
    enum llm_error rc;
    struct llm_stats *out;
};

struct cmd {
    struct cmd *next;
    enum cmd_type type;
    struct ereq *req;           /* SUBMIT */
    struct llm_future *fut;     /* CANCEL (holds a reference) */
    struct stats_req *sr;       /* STATS */
};

struct llm_future {
    pthread_mutex_t mu;         /* guards done, res, taken, detached */
    pthread_cond_t cv;
    atomic_int refs;            /* host + engine */
    bool done;
    bool taken;
    bool detached;              /* host freed it before the result came */
    struct llm_result *res;
    struct ereq *req;           /* engine thread only: live request or NULL */
    struct llm_engine *eng;     /* immutable after creation */
};

struct ereq {
    struct cmd submit_cmd;
    struct llm_engine *eng;
    struct llm_request req;     /* deep copy, owned */
    void *req_block;            /* ... all of it in this one allocation */
    struct llm_result *res;
    enum req_state state;
    enum llm_error prefailed;   /* invalid request: finish at once */
    char *prefailed_msg;

    struct ereq *prev, *next;   /* admission FIFO */
    struct ereq *all_prev, *all_next; /* every live request (for shutdown) */

    struct llm__timer timer;    /* mock latency or backoff */
    struct llm__timer deadline;
    int64_t deadline_mono_us;   /* 0 = none */
    struct llm__xfer *xfer;
    struct llm_local_response local;
    bool holds_slot;
    int64_t wait_since_us;      /* mono time it (re)entered the FIFO */
    int64_t gate_since_us;      /* mono time it reached the gates; 0 = not there */
    bool gate_by_cooldown;      /* the wait at the gates is a server cooldown */
    int64_t tpm_amount;         /* tokens debited per attempt at admission */
    int64_t rpm_ticket, tpm_ticket;
    bool rpm_debited, tpm_debited;
    bool rpm_blocked;           /* last refusal came from the RPM gate */
    int64_t attempt_start_mono_us;
    int64_t attempt_start_wall_us;
    int64_t pending_backoff_ms;

    unsigned attempt;
    struct llm_parsed parsed;
    struct llm__sse sse;
    bool sse_init;
    bool delivered_delta;       /* a retry would repeat deltas: never retry */

    llm_done_fn *cb;
    void *cb_user;
    struct llm_future *fut;
};

struct llm_engine {
    struct llm_provider *provider;
    char *provider_name;
    int max_in_flight;
    size_t max_queue;
    int max_attempts;
    int64_t base_backoff_ms;
    int64_t max_backoff_ms;
    int64_t max_server_wait_ms;
    int64_t attempt_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t default_deadline_ms;
    size_t max_response_bytes;
    bool keep_raw;
    llm_log_fn *log;
    void *log_user;
    enum llm_log_level log_level;

    struct llm__loop *loop;
    struct llm__http *http;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t submit_mu;  /* guards cmd_head/cmd_tail/stopping */
    struct cmd *cmd_head, *cmd_tail;
    bool stopping;

    /* Engine thread only. */
    struct ereq *wait_head, *wait_tail;
    size_t n_waiting;
    size_t in_flight;
    struct ereq *all_head;
    uint64_t rng;

    /* Admission control (engine thread only). */
    struct llm_gate *rpm_gate;  /* configured or learned; NULL = none */
    struct llm_gate *tpm_gate;
    bool rpm_learned, tpm_learned; /* gate made from server headers */
    bool adaptive;              /* learn limits from headers */
    bool probing;               /* adaptive and nothing learned yet: one at a time */
    int64_t window_ms;
    int64_t margin_ms;
    int64_t cooldown_until_us;  /* mono; server-directed pause of admission */
    struct llm__timer gate_timer;
    struct llm_retry_budget *budget;
    struct llm_backoff *backoff;
    struct llm_retry_policy policy;
    llm_token_estimate_fn *estimate;
    void *estimate_user;
    int blocked_by;             /* what holds the FIFO head: 0 none, 1 rpm, 2 tpm, 3 cooldown */
    unsigned feedback_count;
    /* Last price looked up (batches mostly use one model). */
    char *price_model;
    struct llm_price price;
    bool price_known;

    /* Observability. */
    struct llm__stats_acc *stats; /* has its own lock: snapshots from any thread */
    struct llm_pricing *pricing;
    struct llm_pipeline *pipeline;
    FILE *metrics_file;
    llm_line_fn *metrics_cb;
    void *metrics_user;
    int64_t metrics_interval_ms;
    struct llm__timer metrics_timer;
    FILE *events_file;
    llm_line_fn *events_cb;
    void *events_user;
};

/* ---- small helpers ---------------------------------------------------- */

static void log_stderr_fn(void *user, enum llm_log_level level, const char *msg)
{
    static const char *const names[] = {"none", "error", "warn", "info", "debug"};
    fprintf(stderr, "llmorch %s: %s\n", names[level <= LLM_LOG_DEBUG ? level : 0], msg);
}

static void elog(struct llm_engine *e, enum llm_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void elog(struct llm_engine *e, enum llm_log_level lvl, const char *fmt, ...)
{
    if (!e->log || lvl > e->log_level)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    e->log(e->log_user, lvl, buf);
}

static uint64_t rng_next(struct llm_engine *e)
{
    /* xorshift64*: quality is ample for jitter. */
    uint64_t x = e->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    e->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t wall_offset_us;
static pthread_once_t wall_once = PTHREAD_ONCE_INIT;
static void wall_init(void) { wall_offset_us = llm__now_wall_us() - llm__now_mono_us(); }

/* Wall time of a monotonic instant.  One offset per process keeps every
 * engine-made timestamp ordered like the monotonic clock, whatever steps
 * the wall clock takes meanwhile. */
static int64_t wall_at(int64_t mono_us)
{
    pthread_once(&wall_once, wall_init);
    return mono_us + wall_offset_us;
}

static int64_t now_wall(void) { return wall_at(llm__now_mono_us()); }

static void ts_set(struct ereq *r, enum llm_timestamp ts, int64_t wall_us)
{
    r->res->timestamps[ts] = wall_us;
}

static void ts_set_once(struct ereq *r, enum llm_timestamp ts, int64_t wall_us)
{
    if (!r->res->timestamps[ts])
        r->res->timestamps[ts] = wall_us;
}

/* ---- futures ------------------------------------------------------------ */

static void future_release(struct llm_future *f)
{
    if (atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    llm_result_free(f->res);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

/* ---- request lifetime --------------------------------------------------- */

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

static void fifo_push(struct llm_engine *e, struct ereq *r, bool front)
{
    r->state = ST_WAITING;
    r->wait_since_us = llm__now_mono_us();
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

static void ereq_free(struct ereq *r)
{
    llm__request_free_copy(&r->req, r->req_block);
    llm_result_free(r->res);
    llm_parsed_clear(&r->parsed);
    if (r->sse_init)
        llm__sse_free(&r->sse);
    free(r->local.body);
    free(r->prefailed_msg);
    free(r);
}

static void release_slot(struct llm_engine *e, struct ereq *r)
{
    if (!r->holds_slot)
        return;
    r->holds_slot = false;
    e->in_flight--;
    ts_set(r, LLM_TS_SLOT_RELEASED, now_wall());
}

static void pump(struct llm_engine *e);

/* One JSON line to a FILE and/or a callback (engine thread). */
static void emit_line(FILE *f, llm_line_fn *cb, void *user, const char *line)
{
    if (f) {
        fputs(line, f);
        fputc('\n', f);
        fflush(f);
    }
    if (cb)
        cb(user, line);
}

/* Cost from the pricing table; unknown models say so (never a silent 0). */
static void price_result(struct llm_engine *e, struct llm_result *res)
{
    memset(&res->cost, 0, sizeof(res->cost));
    if (!res->usage.known || !e->pricing)
        return;
    const char *model = res->model ? res->model : "";
    if (!e->price_model || strcmp(e->price_model, model) != 0) {
        free(e->price_model);
        e->price_model = llm__strdup(model);
        e->price_known = llm_pricing_lookup(e->pricing, model, &e->price) == LLM_OK;
    }
    llm_cost_compute(e->price_known ? &e->price : NULL, &res->usage, &res->cost);
}

/* Fill the result's error and hand the result over.  Frees `r`. */
static void finish(struct ereq *r, enum llm_error err, const char *msg, int http_status,
                   const char *provider_code, bool retryable)
{
    struct llm_engine *e = r->eng;
    struct llm_result *res = r->res;
    llm__timer_stop(e->loop, &r->timer);
    llm__timer_stop(e->loop, &r->deadline);
    if (r->xfer) {
        llm__http_cancel(e->http, r->xfer);
        r->xfer = NULL;
    }
    fifo_remove(e, r);
    release_slot(e, r);
    if (r->state != ST_NEW) {
        if (r->all_prev)
            r->all_prev->all_next = r->all_next;
        else
            e->all_head = r->all_next;
        if (r->all_next)
            r->all_next->all_prev = r->all_prev;
    }
    r->state = ST_DONE;

    res->success = err == LLM_OK;
    res->error.type = err;
    res->error.retryable = err != LLM_OK && retryable;
    if (err != LLM_OK) {
        free(res->error.message);
        res->error.message = llm__strdup(msg ? msg : llm_strerror(err));
        if (http_status)
            res->error.http_status = http_status;
        if (provider_code && !res->error.provider_code)
            res->error.provider_code = llm__strdup(provider_code);
    }
    ts_set(r, LLM_TS_COMPLETED, now_wall());
    price_result(e, res);
    llm__stats_acc_record_result(e->stats, res, llm__now_mono_us() / 1000);
    if (e->events_file || e->events_cb) {
        char *line = llm_result_to_json(res);
        if (line)
            emit_line(e->events_file, e->events_cb, e->events_user, line);
        free(line);
    }
    elog(e, LLM_LOG_DEBUG, "trace=%s done: %s after %zu attempt(s)%s%s", res->trace_id,
         err == LLM_OK ? "success" : llm_error_name(err), res->n_attempts,
         err == LLM_OK ? "" : ": ", err == LLM_OK ? "" : (res->error.message ? res->error.message : ""));

    r->res = NULL;
    if (r->fut) {
        struct llm_future *f = r->fut;
        f->req = NULL;
        pthread_mutex_lock(&f->mu);
        if (f->detached) {
            llm_result_free(res);
        } else {
            f->res = res;
        }
        f->done = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        future_release(f);
    } else if (r->cb) {
        r->cb(r->cb_user, res);
    } else {
        llm_result_free(res);
    }
    ereq_free(r);
}

static void on_deadline(struct llm__timer *t, void *user)
{
    struct ereq *r = user;
    struct llm_engine *e = r->eng; /* r is freed by finish() */
    char msg[160];
    snprintf(msg, sizeof(msg), "request deadline of %" PRId64 " ms passed%s",
             r->req.deadline_ms ? r->req.deadline_ms : r->eng->default_deadline_ms,
             r->state == ST_WAITING ? " while queued" : r->state == ST_BACKOFF ? " while backing off"
                                                                               : " during an attempt");
    finish(r, LLM_ERR_DEADLINE_EXCEEDED, msg, 0, NULL, false);
    pump(e);
}

/* ---- attempts ------------------------------------------------------------ */

static void attempt_done(struct ereq *r, enum llm_error transport_error, const char *transport_msg,
                         int status, const struct llm_http_headers *headers, const char *body,
                         size_t body_len, int64_t local_retry_after_ms, uint64_t bytes_sent,
                         uint64_t bytes_received);

static int deliver_event(void *user, const char *event, const char *data, size_t len)
{
    struct ereq *r = user;
    struct llm_engine *e = r->eng;
    size_t before = r->parsed.content_len;
    enum llm_error rc = e->provider->vtable->parse_stream_event(e->provider, event, data, len,
                                                                &r->parsed);
    if (rc != LLM_OK) {
        if (!r->parsed.error_message) {
            char *ex = llm__excerpt(data, len, 120);
            char *m = llm__asprintf("malformed stream event: %s", ex ? ex : "");
            llm_parsed_set_error(&r->parsed, rc, NULL, m);
            free(m);
            free(ex);
        }
        return 1;
    }
    if (r->parsed.content_len > before) {
        int64_t now = now_wall();
        ts_set_once(r, LLM_TS_FIRST_TOKEN, now);
        ts_set(r, LLM_TS_LAST_TOKEN, now);
        if (r->req.on_delta) {
            r->delivered_delta = true;
            r->req.on_delta(r->req.delta_user, r->parsed.content + before,
                            r->parsed.content_len - before);
        }
    }
    return 0;
}

/* Feed streamed bytes; returns 0 or non-zero to abort. */
static int feed_stream(struct ereq *r, const char *data, size_t len)
{
    if (!r->sse_init) {
        llm__sse_init(&r->sse, MAX_SSE_EVENT_BYTES);
        r->sse_init = true;
    }
    int rc = llm__sse_feed(&r->sse, data, len, deliver_event, r);
    if (rc == LLM__SSE_TOO_LARGE && r->parsed.error == LLM_OK)
        llm_parsed_set_error(&r->parsed, LLM_ERR_RESPONSE_TOO_LARGE, NULL,
                             "a stream event exceeds the 1 MiB limit");
    else if (rc == LLM__SSE_NOMEM && r->parsed.error == LLM_OK)
        llm_parsed_set_error(&r->parsed, LLM_ERR_OUT_OF_MEMORY, NULL,
                             "out of memory parsing the stream");
    return rc;
}

static int xfer_on_data(void *user, const char *data, size_t len)
{
    struct ereq *r = user;
    if (feed_stream(r, data, len) != 0) {
        llm__xfer_fail(r->xfer, r->parsed.error != LLM_OK ? r->parsed.error : LLM_ERR_PARSE,
                       r->parsed.error_message ? r->parsed.error_message : "stream aborted");
        return 1;
    }
    return 0;
}

static void xfer_on_done(void *user, const struct llm__xfer_outcome *o)
{
    struct ereq *r = user;
    r->xfer = NULL; /* the transport frees it after this call */
    int64_t start = r->attempt_start_wall_us;
    if (o->dns_us >= 0)
        ts_set(r, LLM_TS_DNS_DONE, start + o->dns_us);
    if (o->connect_us >= 0)
        ts_set(r, LLM_TS_CONNECTED, start + o->connect_us);
    if (o->tls_us >= 0)
        ts_set(r, LLM_TS_TLS_DONE, start + o->tls_us);
    if (o->pretransfer_us >= 0)
        ts_set(r, LLM_TS_REQUEST_SENT, start + o->pretransfer_us);
    if (o->first_byte_us >= 0)
        ts_set(r, LLM_TS_FIRST_BYTE, start + o->first_byte_us);
    const char *rid_hdr = r->eng->provider->vtable->request_id_header;
    const char *rid = rid_hdr ? llm_http_headers_get(&o->headers, rid_hdr) : NULL;
    if (rid) {
        free(r->res->request_id);
        r->res->request_id = llm__strdup(rid);
    }
    attempt_done(r, o->transport_error, o->transport_message, o->status, &o->headers, o->body,
                 o->body_len, -1, o->bytes_sent, o->bytes_received);
}

static void on_local_done(struct llm__timer *t, void *user)
{
    struct ereq *r = user;
    struct llm_engine *e = r->eng;
    struct llm_local_response *L = &r->local;
    int64_t now = now_wall();
    ts_set(r, LLM_TS_REQUEST_SENT, r->attempt_start_wall_us);
    if (L->transport_error != LLM_OK) {
        attempt_done(r, L->transport_error,
                     L->transport_error == LLM_ERR_TIMEOUT ? "mock: simulated attempt timeout"
                                                           : "mock: simulated connection failure",
                     0, NULL, NULL, 0, -1, 0, 0);
        pump(e);
        return;
    }
    ts_set(r, LLM_TS_FIRST_BYTE, now);
    if (L->body_len > e->max_response_bytes) {
        char msg[128];
        snprintf(msg, sizeof(msg), "response body exceeds the %zu-byte limit (max_response_bytes)",
                 e->max_response_bytes);
        attempt_done(r, LLM_ERR_RESPONSE_TOO_LARGE, msg, L->status, NULL, NULL, 0, -1, 0, 0);
        pump(e);
        return;
    }
    bool streamed = r->req.stream && L->status >= 200 && L->status < 300;
    if (streamed && feed_stream(r, L->body, L->body_len) != 0) {
        attempt_done(r, r->parsed.error != LLM_OK ? r->parsed.error : LLM_ERR_PARSE,
                     r->parsed.error_message, L->status, NULL, NULL, 0, -1, 0, L->body_len);
        pump(e);
        return;
    }
    attempt_done(r, LLM_OK, NULL, L->status, NULL, streamed ? NULL : L->body,
                 streamed ? 0 : L->body_len, L->retry_after_ms, 0, L->body_len);
    pump(e);
}

static void xfer_on_headers(void *user, int status, const struct llm_http_headers *h);

static void start_attempt(struct ereq *r)
{
    struct llm_engine *e = r->eng;
    struct llm_result *res = r->res;
    int64_t now_mono = llm__now_mono_us();
    int64_t now = wall_at(now_mono);

    r->state = ST_ATTEMPT;
    r->holds_slot = true;
    e->in_flight++;
    r->attempt++;
    r->attempt_start_mono_us = now_mono;
    r->attempt_start_wall_us = now;
    ts_set_once(r, LLM_TS_SLOT_ACQUIRED, now);
    ts_set_once(r, LLM_TS_FIRST_ATTEMPT_STARTED, now);
    ts_set(r, LLM_TS_LAST_ATTEMPT_STARTED, now);
    /* A retry starts from a clean slate: only the final attempt's text counts. */
    llm_parsed_clear(&r->parsed);
    if (r->sse_init) {
        llm__sse_free(&r->sse);
        r->sse_init = false;
    }

    const struct llm_provider_vtable *vt = e->provider->vtable;
    if (vt->execute_local) {
        free(r->local.body);
        memset(&r->local, 0, sizeof(r->local));
        enum llm_error rc = vt->execute_local(e->provider, &r->req, r->attempt, &r->local);
        if (rc != LLM_OK) {
            finish(r, rc, "mock provider failed to build a reply", 0, NULL, false);
            return;
        }
        int64_t lat = r->local.latency_ms > 0 ? r->local.latency_ms : 0;
        if (llm__timer_start(e->loop, &r->timer, now_mono + lat * 1000, on_local_done, r) != 0)
            finish(r, LLM_ERR_OUT_OF_MEMORY, "out of memory arming a timer", 0, NULL, false);
        return;
    }

    struct llm_http_request hreq = {0};
    enum llm_error rc = vt->build_request(e->provider, &r->req, res->trace_id, &hreq);
    if (rc != LLM_OK) {
        llm_http_request_clear(&hreq);
        finish(r, rc, rc == LLM_ERR_INVALID_REQUEST ? "provider rejected the request (extra_json?)"
                                                    : llm_strerror(rc), 0, NULL, false);
        return;
    }
    struct llm__xfer_opts xo = {
        .timeout_ms = e->attempt_timeout_ms,
        .connect_timeout_ms = e->connect_timeout_ms,
        .max_response_bytes = e->max_response_bytes,
        .stream = r->req.stream,
    };
    static const struct llm__xfer_cbs cbs = {
        .on_data = xfer_on_data, .on_done = xfer_on_done, .on_headers = xfer_on_headers};
    rc = llm__http_start(e->http, &hreq, &xo, &cbs, r, &r->xfer);
    if (rc != LLM_OK)
        finish(r, rc, "could not start the HTTP transfer", 0, NULL, false);
}

static void on_backoff_done(struct llm__timer *t, void *user)
{
    struct ereq *r = user;
    /* Retries go to the head of the line: they were admitted before. */
    fifo_push(r->eng, r, true);
    pump(r->eng);
}

static uint64_t engine_rand(void *user) { return rng_next(user); }

static int64_t parse_retry_after(const struct llm_http_headers *h)
{
    if (!h)
        return -1;
    return llm_parse_retry_after_ms(llm_http_headers_get(h, "retry-after-ms"),
                                    llm_http_headers_get(h, "retry-after"),
                                    llm__now_wall_us() / 1000);
}

/* Gate for a per-minute limit: `limit` per `window_ms` scaled, plus a small
 * margin against the skew between our admission time and the server's
 * arrival time (a request admitted at the very end of our window must not
 * land inside the server's previous one). */
static enum llm_error make_rate_gate(const char *name, double per_minute, int64_t window_ms,
                                     struct llm_gate **out)
{
    int64_t limit = (int64_t)(per_minute * (double)window_ms / 60000.0);
    if (limit < 1) {
        /* Fewer than one per window: one per (60000 / rate) ms instead,
         * at most one per day. */
        limit = 1;
        double w = 60000.0 / per_minute + 0.999;
        window_ms = w > 86400000.0 ? 86400000 : (int64_t)w;
    }
    int64_t margin = window_ms / 100 > 20 ? window_ms / 100 : 20;
    struct llm_window_gate_options go = {.name = name, .limit = limit,
                                         .window_ms = window_ms + margin};
    return llm_gate_new_sliding_window(&go, out);
}

static void learn_limit(struct llm_engine *e, struct llm_gate **gate, bool *learned,
                        const char *name, int64_t per_minute)
{
    if (per_minute <= 0 || (*gate && !*learned))
        return; /* nothing announced, or a configured limit wins */
    int64_t window = ADAPTIVE_WINDOW_MS;
    int64_t limit = per_minute * window / 60000;
    if (limit < 1) {
        limit = 1;
        window = (60000 + per_minute - 1) / per_minute;
    }
    int64_t margin = window / 100 > 20 ? window / 100 : 20;
    if (*gate) {
        llm_gate_set_limit(*gate, limit, window + margin);
        return;
    }
    struct llm_window_gate_options go = {.name = name, .limit = limit, .window_ms = window + margin};
    if (llm_gate_new_sliding_window(&go, gate) == LLM_OK) {
        *learned = true;
        elog(e, LLM_LOG_INFO, "learned %s limit from server headers: %" PRId64 " per minute",
             name, per_minute);
    }
}

/* Read the rate-limit headers into *rl and, when adapting, adopt the limits
 * they announce.  Returns whether any were present. */
static bool learn_from_headers(struct llm_engine *e, const struct llm_http_headers *h,
                               struct llm_rate_limit_info *rl)
{
    memset(rl, 0xff, sizeof(*rl)); /* every field -1 */
    bool have = false;
    if (h && e->provider->vtable->read_rate_limits) {
        e->provider->vtable->read_rate_limits(e->provider, h, rl);
        have = rl->limit_requests >= 0 || rl->limit_tokens >= 0 || rl->limit_input_tokens >= 0 ||
               rl->remaining_requests >= 0 || rl->remaining_tokens >= 0;
    }
    if (e->adaptive && have) {
        learn_limit(e, &e->rpm_gate, &e->rpm_learned, "rpm", rl->limit_requests);
        learn_limit(e, &e->tpm_gate, &e->tpm_learned, "tpm",
                    rl->limit_tokens > 0 ? rl->limit_tokens : rl->limit_input_tokens);
    }
    return have;
}

static void on_gate_timer(struct llm__timer *t, void *user);

/* The first response's headers end the adaptive probe: the limits are known
 * (or known to be absent) long before a streamed reply finishes.  Inside a
 * curl callback, so admission resumes from a timer, not from here. */
static void xfer_on_headers(void *user, int status, const struct llm_http_headers *h)
{
    struct ereq *r = user;
    struct llm_engine *e = r->eng;
    if (!e->probing)
        return;
    struct llm_rate_limit_info rl;
    learn_from_headers(e, h, &rl);
    e->probing = false;
    llm__timer_start(e->loop, &e->gate_timer, llm__now_mono_us(), on_gate_timer, e);
}

/* After every attempt: reconcile gate debits with what the server counted,
 * adopt announced limits, and pause admission when the server says so. */
static void admission_feedback(struct llm_engine *e, struct ereq *r, int status,
                               const struct llm_http_headers *h, int64_t retry_after)
{
    int64_t now_us = llm__now_mono_us();
    int64_t now_ms = now_us / 1000;
    if (status == 429) {
        /* A refused request used none of the server's capacity. */
        if (r->rpm_debited && e->rpm_gate)
            llm_gate_adjust(e->rpm_gate, r->rpm_ticket, 0, now_ms);
        if (r->tpm_debited && e->tpm_gate)
            llm_gate_adjust(e->tpm_gate, r->tpm_ticket, 0, now_ms);
    } else if (r->tpm_debited && e->tpm_gate && r->parsed.usage.known) {
        llm_gate_adjust(e->tpm_gate, r->tpm_ticket,
                        r->parsed.usage.input_tokens + r->parsed.usage.output_tokens, now_ms);
    }
    r->rpm_debited = r->tpm_debited = false;

    /* Limits change rarely: re-read them on every 429, otherwise on one
     * response in 32 once learned (header lookups are a measurable share
     * of the per-request cost). */
    struct llm_rate_limit_info rl;
    memset(&rl, 0xff, sizeof(rl));
    bool have = false;
    bool learned = e->rpm_learned || e->tpm_learned;
    if (status == 429 || (e->adaptive && (!learned || (e->feedback_count++ & 31) == 0)))
        have = learn_from_headers(e, h, &rl);
    e->probing = false;

    int64_t until = 0;
    if (status == 429 && retry_after >= 0 && retry_after <= e->max_server_wait_ms)
        until = now_us + retry_after * 1000;
    if (status == 429 && retry_after < 0 && have) {
        int64_t wait = -1;
        if (rl.remaining_requests == 0 && rl.reset_requests_ms > wait)
            wait = rl.reset_requests_ms;
        if (rl.remaining_tokens == 0 && rl.reset_tokens_ms > wait)
            wait = rl.reset_tokens_ms;
        if (wait >= 0 && wait <= e->max_server_wait_ms)
            until = now_us + wait * 1000;
    }
    if (until > e->cooldown_until_us) {
        e->cooldown_until_us = until;
        elog(e, LLM_LOG_INFO, "server asked for a pause: admission paused for %" PRId64 " ms",
             (until - now_us) / 1000);
    }
}

static void record_attempt(struct ereq *r, int status, enum llm_error err, const char *msg,
                           int64_t retry_after_ms, uint64_t sent, uint64_t recv)
{
    struct llm_attempt a = {
        .start_us = r->attempt_start_wall_us,
        .end_us = now_wall(),
        .http_status = status,
        .error = err,
        .error_message = err != LLM_OK ? llm__strdup(msg ? msg : llm_strerror(err)) : NULL,
        .retry_after_ms = retry_after_ms,
        .backoff_ms = 0,
        .bytes_sent = sent,
        .bytes_received = recv,
    };
    if (llm__result_add_attempt(r->res, &a) != LLM_OK)
        free(a.error_message);
}

static void set_raw(struct ereq *r, const char *body, size_t len)
{
    if (!r->eng->keep_raw || !body)
        return;
    free(r->res->raw_response);
    r->res->raw_response = llm__strndup(body, len);
    r->res->raw_response_len = r->res->raw_response ? len : 0;
}

static void succeed(struct ereq *r)
{
    struct llm_result *res = r->res;
    struct llm_parsed *p = &r->parsed;
    free(res->content);
    res->content = p->content ? p->content : llm__strdup("");
    res->content_len = p->content ? p->content_len : 0;
    p->content = NULL;
    p->content_len = p->content_cap = 0;
    if (p->finish_reason) {
        free(res->finish_reason);
        res->finish_reason = p->finish_reason;
        p->finish_reason = NULL;
    }
    if (p->model) {
        free(res->model);
        res->model = p->model;
        p->model = NULL;
    }
    if (p->response_id) {
        free(res->response_id);
        res->response_id = p->response_id;
        p->response_id = NULL;
    }
    res->usage = p->usage;
    if (res->content_len && !res->timestamps[LLM_TS_FIRST_TOKEN]) {
        ts_set(r, LLM_TS_FIRST_TOKEN, res->timestamps[LLM_TS_RESPONSE_RECEIVED]);
        ts_set(r, LLM_TS_LAST_TOKEN, res->timestamps[LLM_TS_RESPONSE_RECEIVED]);
    }
    ts_set(r, LLM_TS_PARSED, now_wall());
    if (r->eng->pipeline) {
        res->success = true;
        enum llm_error rc = llm_pipeline_run(r->eng->pipeline, res);
        if (rc != LLM_OK) {
            /* FAIL_RESULT policy (or out of memory): the step's verdict. */
            char *m = llm__strdup(res->error.message ? res->error.message : llm_strerror(rc));
            finish(r, res->error.type != LLM_OK ? res->error.type : rc, m, 0, NULL, false);
            free(m);
            return;
        }
    }
    finish(r, LLM_OK, NULL, 0, NULL, false);
}

static void attempt_done(struct ereq *r, enum llm_error transport_error, const char *transport_msg,
                         int status, const struct llm_http_headers *headers, const char *body,
                         size_t body_len, int64_t local_retry_after_ms, uint64_t bytes_sent,
                         uint64_t bytes_received)
{
    struct llm_engine *e = r->eng;
    struct llm_result *res = r->res;
    const struct llm_provider_vtable *vt = e->provider->vtable;
    release_slot(e, r);
    ts_set(r, LLM_TS_RESPONSE_RECEIVED, now_wall());
    res->error.http_status = status;
    set_raw(r, body, body_len);

    enum llm_error err = transport_error;
    char *msg = transport_msg ? llm__strdup(transport_msg) : NULL;
    char *code = NULL;
    bool retryable = false;
    /* A success has no server-directed wait to honour: skip the lookups. */
    int64_t retry_after = local_retry_after_ms >= 0 ? local_retry_after_ms
                          : (status >= 200 && status < 300) ? -1
                                                            : parse_retry_after(headers);

    if (err == LLM_OK && status >= 200 && status < 300) {
        if (!r->req.stream) {
            err = vt->parse_response(e->provider, body ? body : "", body_len, &r->parsed);
            if (err != LLM_OK && !r->parsed.error_message) {
                char *ex = llm__excerpt(body ? body : "", body_len, 120);
                free(msg);
                msg = llm__asprintf("could not parse the response body: %s", ex ? ex : "");
                free(ex);
            }
        } else if (r->parsed.error == LLM_OK && !r->parsed.done) {
            err = LLM_ERR_PARSE;
            free(msg);
            msg = llm__strdup("stream ended before its final event (truncated)");
        }
        if (err == LLM_OK && r->parsed.error != LLM_OK)
            err = r->parsed.error;
        if (err != LLM_OK && r->parsed.error_message && !msg)
            msg = llm__strdup(r->parsed.error_message);
        if (r->parsed.provider_code)
            code = llm__strdup(r->parsed.provider_code);
        retryable = llm_error_is_retryable(err);
    } else if (err == LLM_OK) {
        struct llm_error_info info = {0};
        struct llm_http_headers none = {0};
        vt->classify_error(e->provider, status, headers ? headers : &none, body ? body : "",
                           body_len, &info);
        err = info.type != LLM_OK ? info.type : LLM_ERR_SERVER_ERROR;
        retryable = info.retryable;
        char *ex = NULL;
        if (!info.message)
            ex = llm__excerpt(body ? body : "", body_len, 120);
        msg = llm__asprintf("HTTP %d: %s", status, info.message ? info.message : (ex ? ex : ""));
        free(ex);
        code = info.provider_code;
        info.provider_code = NULL;
        llm_error_info_clear(&info);
    } else {
        retryable = llm_error_is_retryable(err);
    }

    record_attempt(r, status, err, msg, retry_after, bytes_sent, bytes_received);
    admission_feedback(e, r, status, headers, retry_after);
    if (err == LLM_OK) {
        free(msg);
        free(code);
        if (e->budget)
            llm_retry_budget_refund_success(e->budget);
        succeed(r);
        return;
    }
    elog(e, LLM_LOG_DEBUG, "trace=%s attempt %u failed: %s (%s)", res->trace_id, r->attempt,
         llm_error_name(err), msg ? msg : "");

    /* Decide whether to try again. */
    const char *sr = headers ? llm_http_headers_get(headers, "x-should-retry") : NULL;
    int should_retry = -1;
    if (sr) {
        while (*sr == ' ' || *sr == '\t')
            sr++;
        if (strncasecmp(sr, "true", 4) == 0)
            should_retry = 1;
        else if (strncasecmp(sr, "false", 5) == 0)
            should_retry = 0;
    }
    retryable = llm_retry_classify(&e->policy, err, status, should_retry) && !r->delivered_delta;
    enum llm_retry_verdict verdict =
        r->delivered_delta ? LLM_VERDICT_STOP_NOT_RETRYABLE
                           : llm_retry_decide(&e->policy, r->attempt, err, status, should_retry,
                                              retry_after);
    if (verdict == LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG) {
        char *m2 = llm__asprintf("%s (server asked to wait %" PRId64
                                 " ms, above max_server_wait_ms %" PRId64 ")",
                                 msg ? msg : llm_strerror(err), retry_after, e->max_server_wait_ms);
        free(msg);
        msg = m2;
    }
    if (verdict != LLM_VERDICT_RETRY) {
        finish(r, err, msg, status, code, retryable);
        free(msg);
        free(code);
        return;
    }
    int64_t delay = 0;
    bool server_directed = retry_after >= 0;
    if (server_directed) {
        delay = retry_after;
    } else {
        delay = llm_backoff_next_delay_ms(e->backoff, r->attempt, r->pending_backoff_ms,
                                          engine_rand, e);
        if (delay < 0) {
            finish(r, err, msg, status, code, retryable);
            free(msg);
            free(code);
            return;
        }
        r->pending_backoff_ms = delay;
    }
    if (r->deadline_mono_us && llm__now_mono_us() + delay * 1000 >= r->deadline_mono_us) {
        char *m2 = llm__asprintf("deadline would pass during the %" PRId64
                                 " ms wait before attempt %u; last error: %s",
                                 delay, r->attempt + 1, msg ? msg : llm_strerror(err));
        finish(r, LLM_ERR_DEADLINE_EXCEEDED, m2, status, code, false);
        free(m2);
        free(msg);
        free(code);
        return;
    }
    if (e->budget && !llm_retry_budget_try_spend(e->budget, err)) {
        char *m2 = llm__asprintf("retry budget exhausted (%" PRId64
                                 " left): the provider is failing wholesale; last error: %s",
                                 llm_retry_budget_available(e->budget), msg ? msg : llm_strerror(err));
        finish(r, LLM_ERR_RETRY_BUDGET_EXHAUSTED, m2, status, code, false);
        free(m2);
        free(msg);
        free(code);
        return;
    }
    free(msg);
    free(code);
    res->attempts[res->n_attempts - 1].backoff_ms = delay;
    if (server_directed)
        res->backoff.server_wait_ms += delay;
    else
        res->backoff.backoff_ms += delay;
    r->state = ST_BACKOFF;
    if (llm__timer_start(e->loop, &r->timer, llm__now_mono_us() + delay * 1000, on_backoff_done,
                         r) != 0)
        finish(r, LLM_ERR_OUT_OF_MEMORY, "out of memory arming a timer", 0, NULL, false);
}

/* Start attempts while slots are free. */
static void on_gate_timer(struct llm__timer *t, void *user) { pump(user); }

/* ms -> µs without overflow: a gate may answer INT64_MAX ("never"). */
static int64_t ms_to_us_sat(int64_t ms) { return ms > INT64_MAX / 1000 ? INT64_MAX : ms * 1000; }

/* Ask every gate for `r`; all or nothing.  Returns 0 when admitted (debits
 * recorded in r), else the monotonic µs at which to ask again. */
static int64_t gates_admit(struct llm_engine *e, struct ereq *r, int64_t now_us)
{
    int64_t now_ms = now_us / 1000;
    r->rpm_debited = r->tpm_debited = false;
    if (e->rpm_gate) {
        int64_t t = llm_gate_try_acquire(e->rpm_gate, now_ms, 1, &r->rpm_ticket);
        r->rpm_blocked = t > 0;
        if (t > 0)
            return ms_to_us_sat(t);
        r->rpm_debited = true;
    }
    if (e->tpm_gate) {
        if (r->tpm_amount < 0)
            r->tpm_amount = e->estimate(e->estimate_user, &r->req) +
                            (r->req.max_tokens > 0 ? r->req.max_tokens : DEFAULT_TPM_OUTPUT_TOKENS);
        int64_t t = llm_gate_try_acquire(e->tpm_gate, now_ms, r->tpm_amount, &r->tpm_ticket);
        if (t > 0) {
            if (r->rpm_debited) {
                llm_gate_adjust(e->rpm_gate, r->rpm_ticket, 0, now_ms);
                r->rpm_debited = false;
            }
            return ms_to_us_sat(t);
        }
        r->tpm_debited = true;
    }
    return 0;
}

/* Start attempts while slots are free and the gates admit.  The FIFO head
 * blocks the line: rate gates are fair only if nobody overtakes. */
static void pump(struct llm_engine *e)
{
    size_t max = e->probing ? 1 : (size_t)e->max_in_flight;
    while (e->wait_head && e->in_flight < max) {
        struct ereq *r = e->wait_head;
        int64_t now = llm__now_mono_us();
        if (!r->gate_since_us) {
            r->res->backoff.queue_wait_ms += (now - r->wait_since_us) / 1000;
            r->gate_since_us = now;
            ts_set_once(r, LLM_TS_GATES_ENTERED, wall_at(now));
        }
        int64_t again = 0;
        if (e->cooldown_until_us > now) {
            again = e->cooldown_until_us;
            r->gate_by_cooldown = true;
            e->blocked_by = 3;
        } else {
            again = gates_admit(e, r, now);
            e->blocked_by = again ? (r->rpm_blocked ? 1 : 2) : 0;
        }
        if (again) {
            if (!llm__timer_armed(&e->gate_timer) || e->gate_timer.due_us != again)
                llm__timer_start(e->loop, &e->gate_timer, again, on_gate_timer, e);
            return;
        }
        int64_t waited_ms = (now - r->gate_since_us) / 1000;
        if (r->gate_by_cooldown)
            r->res->backoff.server_wait_ms += waited_ms;
        else
            r->res->backoff.gate_wait_ms += waited_ms;
        r->gate_since_us = 0;
        r->gate_by_cooldown = false;
        ts_set(r, LLM_TS_GATES_PASSED, wall_at(now));
        fifo_remove(e, r);
        start_attempt(r);
    }
}

/* ---- engine thread -------------------------------------------------------- */

static void accept_request(struct llm_engine *e, struct ereq *r)
{
    int64_t now_mono = llm__now_mono_us();
    ts_set(r, LLM_TS_DEQUEUED, wall_at(now_mono));
    if (r->prefailed != LLM_OK) {
        finish(r, r->prefailed, r->prefailed_msg, 0, NULL, false);
        return;
    }
    if (e->n_waiting >= e->max_queue) {
        char msg[128];
        snprintf(msg, sizeof(msg), "admission queue is full (%zu requests waiting, max_queue %zu)",
                 e->n_waiting, e->max_queue);
        finish(r, LLM_ERR_QUEUE_FULL, msg, 0, NULL, false);
        return;
    }
    r->tpm_amount = -1; /* estimated when a TPM gate first asks */
    llm__stats_acc_note_submitted(e->stats);
    r->all_prev = NULL;
    r->all_next = e->all_head;
    if (e->all_head)
        e->all_head->all_prev = r;
    e->all_head = r;
    int64_t dl = r->req.deadline_ms ? r->req.deadline_ms : e->default_deadline_ms;
    if (dl > 0) {
        /* The deadline counts from submission, not from dequeue. */
        int64_t requested_mono = r->res->timestamps[LLM_TS_REQUESTED] - (wall_at(now_mono) - now_mono);
        r->deadline_mono_us = requested_mono + dl * 1000;
        if (llm__timer_start(e->loop, &r->deadline, r->deadline_mono_us, on_deadline, r) != 0) {
            fifo_push(e, r, false); /* so finish() unlinks it everywhere */
            finish(r, LLM_ERR_OUT_OF_MEMORY, "out of memory arming the deadline", 0, NULL, false);
            return;
        }
    }
    fifo_push(e, r, false);
}

/* A full snapshot: the accumulator's counters plus the gauges only the
 * engine thread may read.  Engine thread. */
static enum llm_error snapshot(struct llm_engine *e, struct llm_stats **out)
{
    *out = NULL;
    int64_t now_ms = llm__now_mono_us() / 1000;
    struct llm_stats *s = NULL;
    enum llm_error rc = llm__stats_acc_snapshot(e->stats, now_ms, &s);
    if (rc != LLM_OK)
        return rc;
    s->in_flight = (int64_t)e->in_flight;
    s->queue_depth = (int64_t)e->n_waiting;
    struct { const char *name; struct llm_gate *g; int id; } gs[] = {
        {"rpm", e->rpm_gate, 1}, {"tpm", e->tpm_gate, 2}};
    for (size_t i = 0; i < 2 && rc == LLM_OK; i++) {
        if (!gs[i].g)
            continue;
        int64_t used = 0, limit = 0;
        llm_gate_usage(gs[i].g, now_ms, &used, &limit);
        rc = llm__stats_add_gate(s, gs[i].name,
                                 e->blocked_by == gs[i].id ? (int64_t)e->n_waiting : 0, used, limit);
    }
    if (rc == LLM_OK && e->cooldown_until_us > llm__now_mono_us())
        rc = llm__stats_add_gate(s, "server_cooldown", (int64_t)e->n_waiting, 0, 0);
    if (rc != LLM_OK) {
        llm_stats_free(s);
        return rc;
    }
    *out = s;
    return LLM_OK;
}

static void on_metrics_timer(struct llm__timer *t, void *user)
{
    struct llm_engine *e = user;
    struct llm_stats *s = NULL;
    if (snapshot(e, &s) == LLM_OK) {
        char *line = llm_stats_to_json(s);
        if (line)
            emit_line(e->metrics_file, e->metrics_cb, e->metrics_user, line);
        free(line);
        llm_stats_free(s);
    }
    llm__timer_start(e->loop, &e->metrics_timer,
                     llm__now_mono_us() + e->metrics_interval_ms * 1000, on_metrics_timer, e);
}

static void process_commands(struct llm_engine *e, bool *stop)
{
    pthread_mutex_lock(&e->submit_mu);
    struct cmd *c = e->cmd_head;
    e->cmd_head = e->cmd_tail = NULL;
    *stop = e->stopping;
    pthread_mutex_unlock(&e->submit_mu);
    while (c) {
        struct cmd *next = c->next;
        if (c->type == CMD_SUBMIT) {
            accept_request(e, c->req);
        } else if (c->type == CMD_STATS) {
            struct stats_req *sr = c->sr;
            sr->rc = snapshot(e, &sr->out);
            pthread_mutex_lock(&sr->mu);
            sr->done = true;
            pthread_cond_signal(&sr->cv);
            pthread_mutex_unlock(&sr->mu);
            free(c);
        } else {
            struct llm_future *f = c->fut;
            if (f->req)
                finish(f->req, LLM_ERR_CANCELLED, "cancelled by the caller", 0, NULL, false);
            future_release(f);
            free(c);
        }
        c = next;
    }
}

static void *engine_main(void *arg)
{
    struct llm_engine *e = arg;
    bool stop = false;
    if (e->metrics_file || e->metrics_cb)
        llm__timer_start(e->loop, &e->metrics_timer,
                         llm__now_mono_us() + e->metrics_interval_ms * 1000, on_metrics_timer, e);
    for (;;) {
        process_commands(e, &stop);
        if (stop)
            break;
        pump(e);
        llm__loop_run_once(e->loop, -1);
    }
    /* Shutdown: everything still alive completes as CANCELLED, once. */
    process_commands(e, &stop);
    while (e->all_head)
        finish(e->all_head, LLM_ERR_CANCELLED, "engine shut down before the request completed",
               0, NULL, false);
    if (e->metrics_file || e->metrics_cb)
        on_metrics_timer(&e->metrics_timer, e); /* a last line with the final totals */
    llm__timer_stop(e->loop, &e->metrics_timer);
    return NULL;
}

/* ---- public API ------------------------------------------------------------ */

static void set_err(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static void engine_destroy(struct llm_engine *e)
{
    llm__http_free(e->http);
    llm__loop_free(e->loop);
    llm_gate_free(e->rpm_gate);
    llm_gate_free(e->tpm_gate);
    llm_retry_budget_free(e->budget);
    llm_backoff_free(e->backoff);
    llm_provider_free(e->provider);
    llm__stats_acc_free(e->stats);
    llm_pricing_free(e->pricing);
    free(e->price_model);
    llm_pipeline_free(e->pipeline);
    free(e->provider_name);
    pthread_mutex_destroy(&e->submit_mu);
    free(e);
}

static enum llm_error observability_init(struct llm_engine *e, const struct llm_engine_options *o,
                                         char *errbuf, size_t errlen)
{
    if (llm__stats_acc_new(e->provider_name, o->stats_window_ms ? o->stats_window_ms : 60000,
                           llm__now_mono_us() / 1000, &e->stats) != LLM_OK)
        return LLM_ERR_OUT_OF_MEMORY;
    if (llm_pricing_new_builtin(&e->pricing) != LLM_OK)
        return LLM_ERR_OUT_OF_MEMORY;
    if (o->pricing_file) {
        char perr[256] = "";
        enum llm_error rc = llm_pricing_load_litellm_file(e->pricing, o->pricing_file, perr,
                                                          sizeof(perr));
        if (rc != LLM_OK) {
            set_err(errbuf, errlen, "pricing file: %s", perr[0] ? perr : llm_strerror(rc));
            return rc;
        }
    }
    e->metrics_file = o->metrics_file;
    e->metrics_cb = o->metrics_cb;
    e->metrics_user = o->metrics_user;
    e->metrics_interval_ms = o->metrics_interval_ms > 0 ? o->metrics_interval_ms : 10000;
    e->events_file = o->events_file;
    e->events_cb = o->events_cb;
    e->events_user = o->events_user;
    return LLM_OK;
}

enum llm_error llm_engine_stats(struct llm_engine *e, struct llm_stats **out)
{
    if (!out)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!e)
        return LLM_ERR_INVALID_ARGUMENT;
    if (pthread_equal(pthread_self(), e->thread))
        return snapshot(e, out);
    struct stats_req sr = {.done = false, .rc = LLM_OK, .out = NULL};
    pthread_mutex_init(&sr.mu, NULL);
    pthread_cond_init(&sr.cv, NULL);
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return LLM_ERR_OUT_OF_MEMORY;
    c->type = CMD_STATS;
    c->sr = &sr;
    pthread_mutex_lock(&e->submit_mu);
    bool stopping = e->stopping;
    if (!stopping) {
        if (e->cmd_tail)
            e->cmd_tail->next = c;
        else
            e->cmd_head = c;
        e->cmd_tail = c;
    }
    pthread_mutex_unlock(&e->submit_mu);
    if (stopping) {
        free(c);
        return LLM_ERR_CANCELLED;
    }
    llm__loop_wake(e->loop);
    pthread_mutex_lock(&sr.mu);
    while (!sr.done)
        pthread_cond_wait(&sr.cv, &sr.mu);
    pthread_mutex_unlock(&sr.mu);
    pthread_mutex_destroy(&sr.mu);
    pthread_cond_destroy(&sr.cv);
    *out = sr.out;
    return sr.rc;
}

enum llm_error llm_engine_new(const struct llm_engine_options *opts, struct llm_engine **out)
{
    return llm_engine_new_ex(opts, out, NULL, 0);
}

enum llm_error llm_engine_new_ex(const struct llm_engine_options *opts, struct llm_engine **out,
                                 char *errbuf, size_t errlen)
{
    if (!out) {
        set_err(errbuf, errlen, "out: is NULL");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    struct llm_engine_options zero = {0};
    const struct llm_engine_options *o = opts ? opts : &zero;
    if (o->max_in_flight < 0 || o->max_attempts < 0 || o->base_backoff_ms < 0 ||
        o->max_backoff_ms < 0 || o->max_server_wait_ms < 0 || o->attempt_timeout_ms < 0 ||
        o->connect_timeout_ms < 0 || o->default_deadline_ms < 0) {
        set_err(errbuf, errlen, "engine options: negative limit or timeout");
        return LLM_ERR_INVALID_ARGUMENT;
    }

    struct llm_provider *prov = o->provider_instance;
    enum llm_error rc = LLM_OK;
    if (!prov) {
        const char *name = o->provider ? o->provider : "mock";
        struct llm_provider_options po = {
            .base_url = o->base_url,
            .api_key = o->api_key,
            .api_key_env = o->api_key_env,
            .trace_header = o->trace_header,
        };
        if (strcmp(name, "openai") == 0)
            rc = llm_provider_new_openai(&po, &prov);
        else if (strcmp(name, "anthropic") == 0)
            rc = llm_provider_new_anthropic(&po, &prov);
        else if (strcmp(name, "mock") == 0)
            rc = llm_provider_new_mock(o->mock, &prov);
        else {
            char shown[48];
            snprintf(shown, sizeof(shown), "%s", name);
            set_err(errbuf, errlen, "unknown provider \"%s\" (expected openai, anthropic or mock)",
                    shown);
            return LLM_ERR_INVALID_ARGUMENT;
        }
        if (rc != LLM_OK) {
            set_err(errbuf, errlen, "could not create provider \"%s\": %s", name, llm_strerror(rc));
            return rc;
        }
    }

    struct llm_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        if (!o->provider_instance)
            llm_provider_free(prov);
        set_err(errbuf, errlen, "out of memory");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&e->submit_mu, NULL);
    e->provider = prov;
    e->provider_name = llm__strdup(prov->vtable->name ? prov->vtable->name : "custom");
    e->max_in_flight = o->max_in_flight ? o->max_in_flight : DEFAULT_MAX_IN_FLIGHT;
    e->max_queue = o->max_queue ? o->max_queue : DEFAULT_MAX_QUEUE;
    e->max_attempts = o->max_attempts ? o->max_attempts : DEFAULT_MAX_ATTEMPTS;
    e->base_backoff_ms = o->base_backoff_ms ? o->base_backoff_ms : DEFAULT_BASE_BACKOFF_MS;
    e->max_backoff_ms = o->max_backoff_ms ? o->max_backoff_ms : DEFAULT_MAX_BACKOFF_MS;
    e->max_server_wait_ms = o->max_server_wait_ms ? o->max_server_wait_ms : DEFAULT_MAX_SERVER_WAIT_MS;
    e->attempt_timeout_ms = o->attempt_timeout_ms ? o->attempt_timeout_ms : DEFAULT_ATTEMPT_TIMEOUT_MS;
    e->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    e->default_deadline_ms = o->default_deadline_ms;
    e->max_response_bytes = o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE_BYTES;
    e->keep_raw = o->keep_raw_response;
    e->log = o->log ? o->log : (o->log_stderr ? log_stderr_fn : NULL);
    e->log_user = o->log_user;
    e->log_level = o->log_level ? o->log_level : LLM_LOG_INFO;
    e->rng = (uint64_t)llm__now_mono_us() * 0x9E3779B97F4A7C15ULL | 1;

    e->window_ms = o->window_ms ? o->window_ms : DEFAULT_WINDOW_MS;
    e->adaptive = !o->no_adaptive_limits && (o->rpm <= 0 || o->tpm <= 0);
    e->probing = e->adaptive && o->rpm <= 0 && !prov->vtable->execute_local;
    e->policy.max_attempts = (unsigned)e->max_attempts;
    e->policy.max_server_wait_ms = e->max_server_wait_ms;
    e->estimate = o->estimate_tokens ? o->estimate_tokens : llm_token_estimate_default_fn;
    e->estimate_user = o->estimate_user;
    if (o->rpm < 0 || o->tpm < 0 || o->window_ms < 0 || o->retry_budget < -1) {
        set_err(errbuf, errlen, "engine options: negative rpm, tpm, window_ms or retry_budget");
        if (o->provider_instance)
            e->provider = NULL;
        engine_destroy(e);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    struct llm_retry_budget_options bo = {.capacity = o->retry_budget > 0 ? o->retry_budget : 0};
    struct llm_backoff_options xo = {.base_ms = e->base_backoff_ms,
                                     .cap_ms = e->max_backoff_ms > e->base_backoff_ms
                                                   ? e->max_backoff_ms : e->base_backoff_ms};
    if ((o->rpm > 0 && make_rate_gate("rpm", o->rpm, e->window_ms, &e->rpm_gate) != LLM_OK) ||
        (o->tpm > 0 && make_rate_gate("tpm", o->tpm, e->window_ms, &e->tpm_gate) != LLM_OK) ||
        (o->retry_budget != -1 && llm_retry_budget_new(&bo, &e->budget) != LLM_OK) ||
        (o->backoff ? (e->backoff = o->backoff, false)
                    : llm_backoff_new_exponential(&xo, &e->backoff) != LLM_OK)) {
        set_err(errbuf, errlen, "could not create the rate gates, retry budget or backoff");
        if (o->provider_instance)
            e->provider = NULL;
        if (o->backoff)
            e->backoff = NULL;
        engine_destroy(e);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    if (!e->provider_name || llm__loop_new(&e->loop) != 0 || llm__http_new(e->loop, &e->http) != 0 ||
        observability_init(e, o, errbuf, errlen) != LLM_OK) {
        set_err(errbuf, errlen, "could not initialise the event loop or libcurl");
        if (o->provider_instance)
            e->provider = NULL; /* ownership moves only on success */
        if (o->backoff)
            e->backoff = NULL;
        engine_destroy(e);
        return LLM_ERR_INTERNAL;
    }
    e->pipeline = o->pipeline; /* ownership moves only on success */
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        e->pipeline = NULL;
        set_err(errbuf, errlen, "could not start the engine thread");
        if (o->provider_instance)
            e->provider = NULL;
        if (o->backoff)
            e->backoff = NULL;
        engine_destroy(e);
        return LLM_ERR_INTERNAL;
    }
    e->thread_started = true;
    elog(e, LLM_LOG_INFO, "engine started: provider=%s max_in_flight=%d max_attempts=%d",
         e->provider_name, e->max_in_flight, e->max_attempts);
    *out = e;
    return LLM_OK;
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
    engine_destroy(e);
}

/* Build the engine-side request: result allocated, trace id assigned,
 * request validated and copied.  Returns NULL only if the result itself
 * could not be allocated. */
static struct ereq *make_ereq(struct llm_engine *e, const struct llm_request *req, int64_t requested)
{
    struct ereq *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->res = llm__result_new();
    if (!r->res) {
        free(r);
        return NULL;
    }
    r->eng = e;
    r->res->timestamps[LLM_TS_REQUESTED] = requested;
    llm__uuid_v7(r->res->trace_id);
    r->res->provider = llm__strdup(e->provider_name);
    char err[256];
    enum llm_error rc = llm__request_validate(req, err, sizeof(err));
    if (rc == LLM_OK)
        rc = llm__request_copy(req, &r->req, &r->req_block);
    else
        r->prefailed_msg = llm__strdup(err);
    if (rc == LLM_ERR_OUT_OF_MEMORY)
        r->prefailed_msg = llm__strdup("out of memory copying the request");
    r->prefailed = rc;
    if (rc == LLM_OK) {
        r->res->model = llm__strdup(r->req.model);
        r->res->user_data = r->req.user_data;
        if (r->req.metadata_json)
            r->res->metadata_json = llm__strdup(r->req.metadata_json);
    } else if (req) {
        r->res->user_data = req->user_data;
    }
    return r;
}

static enum llm_error enqueue(struct llm_engine *e, struct ereq *r)
{
    r->submit_cmd.type = CMD_SUBMIT;
    r->submit_cmd.req = r;
    r->submit_cmd.next = NULL;
    pthread_mutex_lock(&e->submit_mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->submit_mu);
        return LLM_ERR_CANCELLED;
    }
    r->res->timestamps[LLM_TS_ENQUEUED] = now_wall();
    if (e->cmd_tail)
        e->cmd_tail->next = &r->submit_cmd;
    else
        e->cmd_head = &r->submit_cmd;
    e->cmd_tail = &r->submit_cmd;
    pthread_mutex_unlock(&e->submit_mu);
    llm__loop_wake(e->loop);
    return LLM_OK;
}

enum llm_error llm_generate_async(struct llm_engine *e, const struct llm_request *req,
                                  llm_done_fn *cb, void *user)
{
    if (!e || !cb)
        return LLM_ERR_INVALID_ARGUMENT;
    int64_t requested = now_wall();
    struct ereq *r = make_ereq(e, req, requested);
    if (!r)
        return LLM_ERR_OUT_OF_MEMORY;
    r->cb = cb;
    r->cb_user = user;
    enum llm_error rc = enqueue(e, r);
    if (rc != LLM_OK) {
        r->cb = NULL;
        ereq_free(r);
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
    int64_t requested = now_wall();
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
        ereq_free(r);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f);
        return rc;
    }
    *out = f;
    return LLM_OK;
}

enum llm_error llm_future_wait(struct llm_future *f, int64_t timeout_ms, struct llm_result **out)
{
    if (!out)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!f)
        return LLM_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&f->mu);
    if (timeout_ms < 0) {
        while (!f->done)
            pthread_cond_wait(&f->cv, &f->mu);
    } else if (!f->done && timeout_ms > 0) {
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
    pthread_mutex_lock(&e->submit_mu);
    if (e->stopping) {
        /* Shutdown cancels everything anyway. */
        pthread_mutex_unlock(&e->submit_mu);
        atomic_fetch_sub(&f->refs, 1);
        free(c);
        return;
    }
    if (e->cmd_tail)
        e->cmd_tail->next = c;
    else
        e->cmd_head = c;
    e->cmd_tail = c;
    pthread_mutex_unlock(&e->submit_mu);
    llm__loop_wake(e->loop);
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
    future_release(f);
}

struct llm_result *llm_generate(struct llm_engine *e, const struct llm_request *req)
{
    if (e && e->thread_started && pthread_equal(pthread_self(), e->thread)) {
        struct llm_result *res = llm__result_new();
        if (res) {
            llm__uuid_v7(res->trace_id);
            res->error.type = LLM_ERR_INTERNAL;
            res->error.message = llm__strdup(
                "llm_generate() called from the engine thread (a callback); use llm_generate_async()");
        }
        return res;
    }
    struct llm_future *f = NULL;
    enum llm_error rc = llm_submit(e, req, &f);
    if (rc != LLM_OK) {
        struct llm_result *res = llm__result_new();
        if (res) {
            llm__uuid_v7(res->trace_id);
            res->timestamps[LLM_TS_REQUESTED] = now_wall();
            res->error.type = rc;
            res->error.message = llm__strdup(!e ? "engine: is NULL"
                                             : rc == LLM_ERR_CANCELLED ? "engine is shutting down"
                                                                        : llm_strerror(rc));
            res->timestamps[LLM_TS_COMPLETED] = now_wall();
        }
        return res;
    }
    struct llm_result *res = NULL;
    llm_future_wait(f, -1, &res);
    llm_future_free(f);
    return res;
}
