/* The engine's insides, shared by the files of src/engine/ (not installed).
 *
 * One event-loop thread owns every request's state.  Host threads only
 * allocate a request (validated and deep-copied), push it onto the command
 * queue and wake the loop; from then on the request is touched by the
 * engine thread alone until its result is handed back (to a callback, or
 * through a future).  Crossing threads is a hand-off of ownership, never
 * sharing.
 *
 * A request moves through: WAITING (admission FIFO, for the gates and a
 * concurrency slot) -> ATTEMPT (a transfer on the curl or the local
 * transport) -> either DONE, or BACKOFF (timer) -> WAITING again at the head
 * of the FIFO.  A deadline timer runs beside all of this.  Every transition
 * is O(1) or O(log n) (timer heap): nothing scans the set of requests per
 * event.
 *
 * Who does what:
 *   engine.c     lifecycle, the thread, the command queue, FIFO, pump, finish
 *   options.c    llm_engine_new_ex: options -> engine
 *   submit.c     llm_generate*, llm_submit, futures (host threads)
 *   admission.c  gates, server cooldown, learned limits: one admission object
 *   attempt.c    start an attempt, transport callbacks, stream feed
 *   outcome.c    attempt done -> retry (backoff) or the final result
 *   observe.c    logging, price, event and metric lines, stats snapshots */
#ifndef LLMORCH_ENGINE_INTERNAL_H
#define LLMORCH_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/clock.h"
#include "base/loop.h"
#include "base/redact.h"
#include "base/util.h"
#include "llmorch/engine.h"
#include "llmorch/ext/provider.h"
#include "llmorch/ext/retry.h"
#include "llmorch/ext/tokens.h"
#include "llmorch/pricing.h"
#include "retry/plan.h"
#include "transport/framing.h"
#include "transport/transport.h"
#include "gates/shared/shared.h"

#define DEFAULT_MAX_IN_FLIGHT 64
#define DEFAULT_MAX_QUEUE 100000
#define DEFAULT_MAX_ATTEMPTS 3
#define DEFAULT_BASE_BACKOFF_MS 500
#define DEFAULT_MAX_BACKOFF_MS 30000
#define DEFAULT_MAX_SERVER_WAIT_MS 60000
#define DEFAULT_ATTEMPT_TIMEOUT_MS 600000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_FIRST_BYTE_TIMEOUT_MS 120000
#define DEFAULT_STREAM_IDLE_TIMEOUT_MS 60000
#define DEFAULT_MAX_RESPONSE_BYTES ((size_t)16 * 1024 * 1024)
#define DEFAULT_WINDOW_MS 60000
#define MAX_SSE_EVENT_BYTES ((size_t)1024 * 1024)
/* Rates above this (per minute) are not limits: configured, they are
 * refused; announced by a server ("unlimited" as INT64_MAX), ignored. */
#define MAX_RATE_PER_MINUTE 1e12
/* Longest rate window accepted (one year): keeps window arithmetic exact. */
#define MAX_WINDOW_MS ((int64_t)366 * 24 * 3600 * 1000)

struct llm_gate;
struct llm_backoff;
struct llm_retry_budget;
struct llm_pipeline;
struct llm__stats_acc;

/* ST_ADMITTING: out of the FIFO, asked the shared gates (Redis), waiting
 * for their answer (admission.c). */
enum req_state { ST_NEW, ST_WAITING, ST_ATTEMPT, ST_BACKOFF, ST_DONE, ST_ADMITTING };

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
    union {                     /* by type (one per command: 16 bytes off every request) */
        struct ereq *req;       /* SUBMIT */
        struct llm_future *fut; /* CANCEL (holds a reference) */
        struct stats_req *sr;   /* STATS */
    };
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

/* What holds the FIFO head at admission. */
enum llm__adm_block {
    LLM__ADM_OPEN = 0,          /* nothing: the head was admitted (or no head) */
    LLM__ADM_RPM,               /* the requests-per-minute gate */
    LLM__ADM_TPM,               /* the tokens-per-minute gate */
    LLM__ADM_COOLDOWN           /* a pause the server asked for (429) */
};

/* A request's debits at the gates (engine thread only). */
struct llm__adm_ticket {
    int64_t tpm_amount;         /* tokens debited per attempt; -1 = not estimated yet */
    int64_t rpm_ticket, tpm_ticket;
    bool rpm_debited, tpm_debited;
    struct llm__sg_ticket sg;   /* with a shared limiter */
};

/* Responses whose rate-limit headers are all read while no limit is
 * learned; after that many in a row learn nothing, one in 32 is read. */
#define LLM__ADM_EAGER_READS 32

/* Admission control: the rate gates (configured or learned from response
 * headers), the server-directed cooldown and the adaptive probe, in one
 * object (admission.c).  Engine thread only. */
struct llm__admission {
    struct llm_gate *rpm_gate;  /* configured or learned; NULL = none */
    struct llm_gate *tpm_gate;
    bool rpm_learned, tpm_learned; /* gate made from server headers */
    bool adaptive;              /* learn limits from headers */
    bool probing;               /* adaptive and nothing learned yet: one at a time */
    int64_t window_ms;
    int64_t cooldown_until_us;  /* mono; server-directed pause of admission */
    int64_t max_server_wait_ms; /* a longer pause is not honoured */
    enum llm__adm_block blocked;
    unsigned feedback_count;
    unsigned fruitless_reads;   /* header reads in a row that learned no limit */
    llm_token_estimate_fn *estimate;
    void *estimate_user;
    struct llm__timer timer;    /* asks the gates again */
    /* Shared limits through Redis (gates/shared/); NULL = this engine
     * gates alone.  With it, the rate gates above stay NULL (the shared
     * limiter keeps its own local fallback gates). */
    struct llm__sg *shared;
    size_t n_admitting;         /* requests in ST_ADMITTING */
};

/* What only a streamed request needs, in its block after the struct ereq
 * (submit.c); r->stream is NULL for the others. */
struct ereq_stream {
    struct llm__framer sse;     /* the stream's framing: SSE, NDJSON or event-stream */
    struct llm__buf raw_stream; /* keep_raw_response: this attempt's SSE bytes, capped */
};

/* The usual request's block (this struct and its small request's copy,
 * submit.c) fits glibc's small-bin sizes (chunks under 1,008 bytes): at
 * 1.5 KB it was a large-bin chunk, allocated by a host thread and freed by
 * the engine's, which took malloc's slow path and a fast-bin consolidation
 * per request.  Hence the stream state out of line, the packed flags and
 * the limiter's failure message kept by the limiter. */
struct ereq {
    struct cmd submit_cmd;
    struct llm_engine *eng;
    struct llm_result *res;
    enum req_state state;
    enum llm_error prefailed;   /* invalid request: finish at once */
    char *prefailed_msg;

    struct ereq *prev, *next;   /* admission FIFO */
    struct ereq *all_prev, *all_next; /* every live request (for shutdown) */

    struct llm__timer timer;    /* backoff */
    struct llm__timer deadline;
    int64_t deadline_mono_us;   /* 0 = none */
    struct llm__xfer *xfer;
    int64_t wait_since_us;      /* mono time it (re)entered the FIFO */
    int64_t gate_since_us;      /* mono time it reached the gates; 0 = not there */
    struct llm__adm_ticket ticket;
    int64_t attempt_start_mono_us;
    int64_t attempt_start_wall_us;
    int64_t pending_backoff_ms;

    unsigned attempt;
    bool holds_slot;
    bool gate_by_cooldown;      /* the wait at the gates is a server cooldown */
    bool delivered_delta;       /* a retry would repeat deltas: never retry */
    bool bytes_after_end;       /* non-blank bytes came after the stream's final event */
    bool stopped;               /* the stream event callback asked to stop */
    struct llm_parsed parsed;
    struct ereq_stream *stream; /* streamed requests only: in this block */

    llm_done_fn *cb;
    void *cb_user;
    struct llm_future *fut;

    /* Last: make_ereq zeroes what comes before it.  Deep copy: its arrays
     * and strings follow this struct in the same allocation. */
    struct llm_request req;
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
    int64_t first_byte_timeout_ms;
    int64_t stream_idle_timeout_ms;
    size_t max_response_bytes;
    bool keep_raw;
    /* HTTP control: default headers ("Name: value"), proxy, trust store. */
    char **headers;
    size_t n_headers;
    char *proxy;
    char *ca_file;
    char *ca_path;
    llm_log_fn *log;
    void *log_user;
    enum llm_log_level log_level;
    /* The API key and the credentials the provider puts in its headers:
     * scrubbed from every server-supplied string the engine stores or logs
     * (base/redact.h).  Filled by llm_engine_new, then by the engine thread
     * alone (each attempt's headers). */
    struct llm__secrets secrets;

    struct llm__loop *loop;
    struct llm__transport *transport; /* curl, or local for the mock */
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

    struct llm__admission adm;
    struct llm__retry_strategy retry; /* backoff, retry budget, policy */
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

/* ---- saturating arithmetic ------------------------------------------------- */

/* For values that come from servers or options (limits, token counts,
 * deadlines): "huge" must stay huge, never wrap into "negative" or "now". */
static inline int64_t llm__add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* ms -> µs without overflow (a gate may answer INT64_MAX, "never"). */
static inline int64_t llm__ms_to_us_sat(int64_t ms)
{
    return ms > INT64_MAX / 1000 ? INT64_MAX : ms < INT64_MIN / 1000 ? INT64_MIN : ms * 1000;
}

/* Scrub a stored string that may hold server bytes (base/redact.h). */
static inline char *llm__eng_scrub(const struct llm_engine *e, char *s)
{
    return llm__redact(&e->secrets, s, NULL);
}

/* ---- stamps (base/clock.h) ---------------------------------------------- */

static inline void ts_set(struct ereq *r, enum llm_timestamp ts, int64_t wall_us)
{
    r->res->timestamps[ts] = wall_us;
}

static inline void ts_set_once(struct ereq *r, enum llm_timestamp ts, int64_t wall_us)
{
    if (!r->res->timestamps[ts])
        r->res->timestamps[ts] = wall_us;
}

/* ---- engine.c ------------------------------------------------------------- */

/* The engine whose thread this is (NULL on other threads), so that blocking
 * calls made from a callback (which would wait for the very thread they
 * block) can refuse. */
extern _Thread_local const struct llm_engine *llm__tls_engine;

/* Queue a command for the engine thread and wake it.  LLM_ERR_CANCELLED
 * (nothing queued) once the engine is stopping.  Any thread. */
enum llm_error llm__cmdq_push(struct llm_engine *e, struct cmd *c);
/* Start the engine thread. */
enum llm_error llm__eng_start(struct llm_engine *e);
/* Free everything the engine owns (thread not running). */
void llm__eng_destroy(struct llm_engine *e);
/* `r` (re)enters the FIFO at `now_mono_us`: at the tail, or at the front
 * (retries, admitted before). */
void llm__eng_fifo_push(struct llm_engine *e, struct ereq *r, bool front, int64_t now_mono_us);
void llm__eng_release_slot(struct llm_engine *e, struct ereq *r);
/* The same, stamped SLOT_RELEASED at `wall_us` (a clock read the caller
 * shares with another stamp of the same moment). */
void llm__eng_release_slot_at(struct llm_engine *e, struct ereq *r, int64_t wall_us);
/* Start attempts while slots are free and admission allows. */
void llm__eng_pump(struct llm_engine *e);
/* `r` passed admission at `now` (mono µs): account its wait, start it. */
void llm__eng_admitted(struct ereq *r, int64_t now);
/* Fill the result's error and hand the result over.  Frees `r`. */
void llm__eng_finish(struct ereq *r, enum llm_error err, const char *msg, int http_status,
                     const char *provider_code, bool retryable);
void llm__ereq_free(struct ereq *r);

/* ---- submit.c ------------------------------------------------------------- */

/* Hand `res` to the future's owner and drop the engine's reference. */
void llm__future_resolve(struct llm_future *f, struct llm_result *res);
void llm__future_release(struct llm_future *f);

/* ---- admission.c ---------------------------------------------------------- */

/* Configured gates; zero rates mean none.  LLM_ERR_OUT_OF_MEMORY. */
enum llm_error llm__adm_init(struct llm__admission *a, double rpm, double tpm);
void llm__adm_clear(struct llm_engine *e);
/* Ask admission for `r` (all gates or none).  0 = admitted; else the
 * monotonic µs at which to ask again (a timer is armed for it); or, with a
 * shared limiter, LLM__ADM_PENDING (the answer comes later: the caller
 * takes `r` out of the FIFO into ST_ADMITTING) or LLM__ADM_GONE (`r` was
 * finished: LIMITER_UNAVAILABLE). */
#define LLM__ADM_PENDING ((int64_t)-1)
#define LLM__ADM_GONE ((int64_t)-2)
int64_t llm__adm_admit(struct llm_engine *e, struct ereq *r, int64_t now_us);
/* The shared limiter of llm_engine_options.redis_url (after the loop
 * exists).  LLM_ERR_INVALID_ARGUMENT for a bad URL (message in errbuf,
 * password never shown) or LLM_ERR_OUT_OF_MEMORY. */
enum llm_error llm__adm_init_shared(struct llm_engine *e, const struct llm_engine_options *o,
                                    char *errbuf, size_t errlen);
/* `r` leaves ST_ADMITTING for good (cancel, deadline, shutdown). */
void llm__adm_withdraw(struct llm_engine *e, struct ereq *r);
/* The first response headers of the adaptive probe. */
void llm__adm_on_headers(struct llm_engine *e, const struct llm_http_headers *h);
/* After every attempt: reconcile debits, learn limits, maybe pause. */
void llm__adm_feedback(struct llm_engine *e, struct ereq *r, int status,
                       const struct llm_http_headers *h, int64_t retry_after_ms,
                       int64_t now_mono_us);
/* Gate rows of a stats snapshot. */
enum llm_error llm__adm_report(struct llm_engine *e, struct llm_stats *s, int64_t now_us);

/* ---- attempt.c ------------------------------------------------------------ */

/* Start an attempt of `r`, admitted at `now_mono_us`. */
void llm__eng_start_attempt(struct ereq *r, int64_t now_mono_us);

/* ---- outcome.c ------------------------------------------------------------ */

/* An attempt's transfer completed (or failed): succeed, retry or fail. */
void llm__eng_attempt_done(struct ereq *r, const struct llm__xfer_outcome *o);
/* The attempt in progress is being cut (deadline, cancel, shutdown) with
 * `err`: record it with what it moved so far, and keep its raw stream. */
void llm__eng_record_cut(struct ereq *r, enum llm_error err, const char *msg);
/* Scrub *field, a string `res` owns (it may live in the result's own
 * block), of every secret: replaced by a scrubbed copy when it holds one. */
void llm__eng_scrub_field(struct llm_engine *e, struct llm_result *res, char **field);
/* Keep `body` as the result's raw response (keep_raw_response), scrubbed. */
void llm__eng_set_raw(struct ereq *r, const char *body, size_t len);
/* A streamed 2xx ended cleanly: hand the provider what its framing held
 * back until the end (NDJSON's last line without newline).  0, or
 * non-zero when that event failed (recorded in r->parsed). */
int llm__eng_stream_finish(struct ereq *r);

/* ---- observe.c ------------------------------------------------------------ */

void llm__eng_log(struct llm_engine *e, enum llm_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether a line at `lvl` would be logged: asked first where a request's
 * every completion logs, to skip the call and its arguments (~35
 * instructions, callgrind) when the level is off, as it usually is. */
static inline bool llm__eng_logs(const struct llm_engine *e, enum llm_log_level lvl)
{
    return e->log != NULL && lvl <= e->log_level;
}
/* Price, stats, event line and debug log of a finished result. */
void llm__eng_observe_done(struct llm_engine *e, struct llm_result *res, enum llm_error err,
                           int64_t now_mono_us);
enum llm_error llm__eng_snapshot(struct llm_engine *e, struct llm_stats **out);
enum llm_error llm__eng_observe_init(struct llm_engine *e, const struct llm_engine_options *o,
                                     char *errbuf, size_t errlen);
void llm__eng_metrics_start(struct llm_engine *e);
/* A last metrics line with the final totals; stops the timer. */
void llm__eng_metrics_stop(struct llm_engine *e);
/* The log sink of log_stderr. */
void llm__eng_log_stderr(void *user, enum llm_log_level level, const char *msg);
/* printf into a caller's error buffer (NULL-safe): llm_engine_new_ex.  The
 * engine's name for llm__set_err (base/util.h). */
#define llm__eng_set_err llm__set_err

#endif /* LLMORCH_ENGINE_INTERNAL_H */
