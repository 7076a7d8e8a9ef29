/* The generation engine and the service API.
 *
 * An engine owns one event-loop thread that drives every request: HTTP
 * transfers (libcurl multi), timers (latency, backoff, deadlines) and state
 * changes.  Any number of host threads may submit to it concurrently; the
 * engine never starts a thread per request. */
#ifndef LLMORCH_ENGINE_H
#define LLMORCH_ENGINE_H

#include <stdio.h>

#include "common.h"
#include "error.h"
#include "request.h"
#include "result.h"

LLM_BEGIN_DECLS

struct llm_engine;
struct llm_future;
struct llm_provider;
struct llm_backoff;
struct llm_pipeline;
struct llm_stats;
struct llm_provider_options;
struct llm_mock_options;

/* A line of JSON (no newline) for a metrics or event sink; borrowed for the
 * call.  Called on the engine thread. */
typedef void llm_line_fn(void *user, const char *line);

enum llm_log_level {
    LLM_LOG_NONE = 0,            /* default: silent */
    LLM_LOG_ERROR = 1,
    LLM_LOG_WARN = 2,
    LLM_LOG_INFO = 3,
    LLM_LOG_DEBUG = 4
};

/* Log sink.  `msg` is borrowed for the call and never contains API keys.
 * Called from the engine thread and from submitting threads: MUST be
 * thread-safe. */
typedef void llm_log_fn(void *user, enum llm_log_level level, const char *msg);

/* Failure policy of the shared limiter while Redis is unreachable (at
 * start, mid-run, too slow, or answering errors such as a failed AUTH).
 * Whatever the policy, the engine reconnects with backoff (100 ms doubling
 * to 2 s) and returns to the shared gates when Redis answers again; each
 * change of mode is logged (warning) and shown in stats. */
enum llm_shared_fail {
    /* Default: admit on local gates at this member's share of the limits
     * (limit / live members last seen; the whole limit if Redis was never
     * reached).  Results say LLM_ADMISSION_LOCAL_FALLBACK. */
    LLM_SHARED_FAIL_LOCAL = 0,
    /* Hold admission until Redis is back, or the request's deadline. */
    LLM_SHARED_FAIL_WAIT = 1,
    /* Fail requests at once with LLM_ERR_LIMITER_UNAVAILABLE. */
    LLM_SHARED_FAIL_FAIL = 2
};

/* Engine options.  Zero means default: `struct llm_engine_options o = {0};`
 * gives an engine on the in-process mock provider.  Strings are copied.
 *
 * ABI: callers allocate this struct, so it only grows at its end; until 1.0
 * every release that grows it bumps the minor version, which the SONAME
 * carries (libllmorch.so.0.MINOR). */
struct llm_engine_options {
    /* A registered provider name (llm_provider_new_by_name in
     * ext/provider.h: "openai", "anthropic", "gemini", "azure",
     * "bedrock", "ollama", "mock"); NULL = "mock".
     * Ignored when `provider_instance` is set. */
    const char *provider;
    /* A provider made by a factory (llm_provider_new_*, llm_provider_new);
     * ownership is transferred to the engine on success only. */
    struct llm_provider *provider_instance;
    /* For HTTP providers made by name: shorthand for the first members of
     * struct llm_provider_options, used only when `provider_options` (at
     * the end of this struct) is NULL. */
    const char *base_url;
    const char *api_key;
    const char *api_key_env;
    const char *trace_header;
    /* For the mock provider (llmorch/mock.h); may be NULL. */
    const struct llm_mock_options *mock;

    /* Concurrency: attempts on the wire at once (default 64) and requests
     * allowed to wait for a slot (default 100000).  Past that, QUEUE_FULL. */
    int max_in_flight;
    size_t max_queue;

    /* Rate limits, per minute, enforced over a sliding window of window_ms
     * (default 60000) with the limit scaled to it (rpm * window_ms / 60000).
     * 0 = not configured: unless no_adaptive_limits is set, the engine then
     * adopts the limits the server announces in its rate-limit headers
     * (x-ratelimit-*, anthropic-ratelimit-*); an announced limit above 1e12
     * per minute (servers say "unlimited" as INT64_MAX) is ignored.
     * rpm and tpm MUST be finite and at most 1e12, window_ms at most one
     * year: otherwise llm_engine_new fails with LLM_ERR_INVALID_ARGUMENT. */
    double rpm;
    double tpm;
    int64_t window_ms;
    bool no_adaptive_limits;

    /* Retry budget shared by every request of the engine (token bucket, as
     * AWS SDKs do): capacity (default 500; -1 disables the budget), a retry
     * costs 5 (10 after a timeout), a success refunds 1. */
    int retry_budget;

    /* Token estimate debited from the TPM gate at admission (plus
     * max_tokens, or 1024 when unset), corrected when usage arrives.  NULL =
     * the built-in heuristic (llm_estimate_tokens_default in ext/tokens.h). */
    int64_t (*estimate_tokens)(void *user, const struct llm_request *req);
    void *estimate_user;

    /* Backoff strategy for retries without a server-directed wait (see
     * ext/backoff.h); ownership transferred on success.  NULL = exponential
     * with full jitter from base_backoff_ms to max_backoff_ms. */
    struct llm_backoff *backoff;

    /* Pricing: a JSON file in LiteLLM's model_prices_and_context_window.json
     * format overriding the built-in table (NULL = built-in only).  An
     * unreadable or malformed file fails llm_engine_new with the code of
     * llm_pricing_load_litellm_file() (LLM_ERR_NOT_FOUND, LLM_ERR_PARSE,
     * LLM_ERR_RESPONSE_TOO_LARGE) and, in llm_engine_new_ex's errbuf, its
     * message, naming the path and the entry and field, e.g. "pricing file
     * 'p.json': entry 'gpt-x': input_cost_per_token is absurd (...)". */
    const char *pricing_file;

    /* Post-processing for successful replies (see pipeline.h); ownership
     * transferred on success.  NULL = none. */
    struct llm_pipeline *pipeline;

    /* Metrics logger: a stats snapshot (llm_stats_to_json) as one JSON line
     * every metrics_interval_ms (default 10000), and once more at shutdown,
     * to metrics_file and/or metrics_cb.  The FILE is borrowed (the caller
     * closes it after llm_engine_free). */
    FILE *metrics_file;
    llm_line_fn *metrics_cb;
    void *metrics_user;
    int64_t metrics_interval_ms;
    /* Event log: each finished request's llm_result_to_json line. */
    FILE *events_file;
    llm_line_fn *events_cb;
    void *events_user;
    /* Window of the per-window stats (requests and tokens per window);
     * default 60000. */
    int64_t stats_window_ms;

    /* Retries: total attempts per request including the first (default 3;
     * 1 disables retries); exponential backoff with full jitter between
     * base_backoff_ms (default 500) and max_backoff_ms (default 30000). */
    int max_attempts;
    int64_t base_backoff_ms;
    int64_t max_backoff_ms;
    /* A server-directed wait above this fails the request instead of
     * sleeping (default 60000). */
    int64_t max_server_wait_ms;

    /* Timeouts (ms): per attempt (default 600000), connect (default 10000),
     * and a default total deadline for requests that set none (0 = none).
     * A deadline too far away to represent (e.g. INT64_MAX) means none. */
    int64_t attempt_timeout_ms;
    int64_t connect_timeout_ms;
    int64_t default_deadline_ms;
    /* Silence limits per attempt (ms), so that a hung server is found long
     * before attempt_timeout_ms: no byte of the response within
     * first_byte_timeout_ms (default 120000) of the attempt's start, or,
     * for a streamed reply, no byte for stream_idle_timeout_ms (default
     * 60000) once the response has begun (a non-streamed reply that stalls
     * mid-body is held to first_byte_timeout_ms).  Either fails the
     * attempt with LLM_ERR_TIMEOUT, retried as timeouts are.  Negative
     * values are refused.  Not applied to the in-process mock. */
    int64_t first_byte_timeout_ms;
    int64_t stream_idle_timeout_ms;

    /* Largest response body accepted (default 16 MiB); larger fails the
     * attempt with LLM_ERR_RESPONSE_TOO_LARGE. */
    size_t max_response_bytes;

    /* Keep the last response body in llm_result.raw_response: for a
     * streamed reply the raw SSE bytes (the first max_response_bytes of
     * them), also when the attempt was cut by a deadline or a cancel. */
    bool keep_raw_response;

    /* Logging: none unless `log` is set (or log_stderr), up to log_level
     * (default LLM_LOG_INFO when a sink is set). */
    llm_log_fn *log;
    void *log_user;
    bool log_stderr;
    enum llm_log_level log_level;

    /* ---- HTTP control (appended; zero = default) ---- */

    /* Headers sent with every request, each "Name: value" (at most 64; no
     * CR or LF, else llm_engine_new fails with LLM_ERR_INVALID_ARGUMENT).
     * A name the provider already sends is replaced; a request's own
     * headers (llm_request.headers) win over these.  Bedrock with SigV4:
     * see llm_request.headers (signed; its signature's own headers
     * refused). */
    const char *const *headers;
    size_t n_headers;
    /* The exact URL to POST to, used as given (query string kept), instead
     * of base_url + the provider's path: Azure's
     * ".../chat/completions?api-version=...", Gemini's OpenAI-compatible
     * ".../v1beta/openai/chat/completions".  Shorthand for
     * llm_provider_options.endpoint_url, like base_url. */
    const char *endpoint_url;
    /* Proxy for every transfer ("http://host:3128", "socks5h://..."); NULL =
     * the environment's, read as libcurl reads it (http_proxy for http://;
     * https_proxy or HTTPS_PROXY for https://; else all_proxy or ALL_PROXY;
     * hosts in no_proxy or NO_PROXY go direct, with a proxy given here
     * too), but once, when the engine is made; "" = no proxy even if the
     * environment names one.  A
     * password in it ("http://user:password@host:3128") is a secret: scrubbed
     * from every result, log and metric line like the API key. */
    const char *proxy;
    /* Trust store for TLS (PEM bundle file and/or hashed directory); NULL =
     * the system's.  TLS peer and host verification are always on. */
    const char *ca_file;
    const char *ca_path;

    /* All the options of an HTTP provider made by name, passed to its
     * factory as they are (anthropic_version included); borrowed for the
     * call.  When set, base_url, api_key, api_key_env, trace_header and
     * endpoint_url above are ignored.  NULL = those five. */
    const struct llm_provider_options *provider_options;

    /* Shared limits across processes and hosts (appended fields; see
     * README "Shared limits").  With redis_url set, every engine using the
     * same Redis, provider, base URL and quota_name shares one set of RPM
     * and TPM sliding windows (exact across all of them), the server
     * cooldown after a 429 and the limits learned from rate-limit headers;
     * the engine's own rpm/tpm/window_ms are then the limits of the
     * shared windows (every member SHOULD configure the same ones).
     * redis_url: "redis://[[user]:password@]host[:port][/db]",
     * "unix:///path/redis.sock" or "/path/redis.sock".  The password is used
     * for AUTH only and never appears in logs, stats, results or errors.
     * A host name is resolved on the engine thread when connecting: prefer
     * an address or a socket path.  NULL = no sharing. */
    const char *redis_url;
    /* Name of the shared quota; NULL = "default".  Redis keys are
     * "llmorch:{<hash>}:..." with a short hash of provider, base URL and
     * quota name (never the API key). */
    const char *quota_name;
    /* What to do while Redis is unreachable (see enum llm_shared_fail). */
    enum llm_shared_fail redis_fail;
    /* A Redis command unanswered for this long counts as Redis being
     * unavailable (default 2000 ms). */
    int64_t redis_timeout_ms;

    /* (appended) The User-Agent header of every HTTP request, e.g.
     * "myapp/1.2 llmorch/0.2.0"; copied; CR or LF is refused.  NULL = no
     * User-Agent header at all (libcurl sends none by default).  A
     * User-Agent in `headers` or in a request's own headers wins over it.
     * Ignored by in-process providers (the mock). */
    const char *user_agent;
};

/* Create an engine and start its thread.  `opts` may be NULL (all defaults).
 * Returns LLM_OK and sets *out; on error *out is NULL and nothing leaks:
 * LLM_ERR_INVALID_ARGUMENT for an unknown provider name or a bad option,
 * the pricing loader's code for a bad pricing_file (see there),
 * LLM_ERR_OUT_OF_MEMORY, LLM_ERR_INTERNAL if the thread, the event loop or
 * curl could not start.  If `errbuf` is non-NULL a one-line explanation of
 * that failure (the failing step's own) is written to it (at most
 * errbuf_len bytes including the NUL). */
LLM_API enum llm_error llm_engine_new(const struct llm_engine_options *opts,
                                      struct llm_engine **out);
LLM_API enum llm_error llm_engine_new_ex(const struct llm_engine_options *opts,
                                         struct llm_engine **out, char *errbuf,
                                         size_t errbuf_len);

/* Stop the engine: every request not yet complete finishes with
 * LLM_ERR_CANCELLED (its callback called, its future resolved) exactly once,
 * then the thread is joined and everything is freed.  NULL-safe.  MUST NOT
 * be called from the engine thread (i.e. from a callback) nor while another
 * thread is still submitting to this engine. */
LLM_API void llm_engine_free(struct llm_engine *eng);

/* Generate and wait.  Blocks the calling thread (never the engine thread:
 * calling it from a callback returns an INTERNAL error result).  Always
 * returns a result, success or not, that the caller frees with
 * llm_result_free(); NULL only if the result itself could not be allocated.
 * Thread-safe. */
LLM_API struct llm_result *llm_generate(struct llm_engine *eng, const struct llm_request *req);

/* Completion callback: called exactly once per accepted request, on the
 * engine thread.  Ownership of `res` passes to the callee, who frees it with
 * llm_result_free() (now or later, from any thread).  MUST NOT block for
 * long and MUST NOT call llm_engine_free(). */
typedef void llm_done_fn(void *user, struct llm_result *res);

/* Submit without waiting.  Returns LLM_OK and `cb` will be called exactly
 * once, always asynchronously (even for an invalid request, which completes
 * with LLM_ERR_INVALID_REQUEST).  On any other return (NULL engine or
 * callback, engine shutting down, out of memory) `cb` is never called.
 * Thread-safe. */
LLM_API enum llm_error llm_generate_async(struct llm_engine *eng, const struct llm_request *req,
                                          llm_done_fn *cb, void *user);

/* Submit and get a future.  On LLM_OK, *out is a future the caller owns and
 * frees with llm_future_free().  Thread-safe. */
LLM_API enum llm_error llm_submit(struct llm_engine *eng, const struct llm_request *req,
                                  struct llm_future **out);

/* Wait for a future's result for at most `timeout_ms` (-1 = forever, 0 =
 * poll).  Returns LLM_OK and hands over the result (*out, free with
 * llm_result_free(); a second successful wait returns
 * LLM_ERR_INVALID_ARGUMENT), or LLM_ERR_TIMEOUT with *out NULL if not ready.
 * From the engine thread (a completion or delta callback of the future's
 * own engine) a wait that would block (timeout_ms != 0, result not ready)
 * returns LLM_ERR_INTERNAL at once, as llm_generate() does there: the
 * result could only come from the thread that would be waiting.  Polling
 * (timeout_ms 0) is allowed there.
 * Thread-safe with respect to cancel; one waiter at a time. */
LLM_API enum llm_error llm_future_wait(struct llm_future *f, int64_t timeout_ms,
                                       struct llm_result **out);

/* Ask the engine to cancel the request wherever it is (queued, waiting,
 * backing off, in flight).  Asynchronous: the result arrives through wait
 * with LLM_ERR_CANCELLED unless the request completed first.  Returns LLM_OK
 * or LLM_ERR_INVALID_ARGUMENT (NULL).  Thread-safe. */
LLM_API enum llm_error llm_future_cancel(struct llm_future *f);

/* Snapshot of the engine's statistics (counters, gauges, latency
 * percentiles, tokens, cost, gates).  Returns LLM_OK with *out owned by the
 * caller (free with llm_stats_free(); serialise with llm_stats_to_json() or
 * llm_stats_to_prometheus()).  Thread-safe; the engine thread answers, so
 * the call waits for it briefly (from a callback it answers directly). */
LLM_API enum llm_error llm_engine_stats(struct llm_engine *eng, struct llm_stats **out);

/* Release a future.  If its result has not been collected it is cancelled
 * and the result is freed when it arrives.  NULL-safe. */
LLM_API void llm_future_free(struct llm_future *f);

LLM_END_DECLS

#endif /* LLMORCH_ENGINE_H */
