/* struct llm_result: everything that happened to one request.
 *
 * A result is one owned object: read its fields directly, free it with
 * llm_result_free().  All strings are NUL-terminated UTF-8 owned by the
 * result; optional strings are NULL when absent. */
#ifndef LLMORCH_RESULT_H
#define LLMORCH_RESULT_H

#include "common.h"
#include "error.h"
#include "request.h"

LLM_BEGIN_DECLS

/* Points in a request's life.  Each is a wall-clock time in microseconds
 * since the Unix epoch (UTC), or 0 when the point was not reached.
 * Append-only, like the error enum. */
enum llm_timestamp {
    LLM_TS_REQUESTED = 0,        /* the host called llm_generate()/submit */
    LLM_TS_ENQUEUED,             /* accepted into the engine's admission queue */
    LLM_TS_DEQUEUED,             /* taken off the queue by the engine thread */
    LLM_TS_GATES_ENTERED,        /* first reached the rate gates */
    LLM_TS_GATES_PASSED,         /* last admitted by every gate */
    LLM_TS_SLOT_ACQUIRED,        /* first got a concurrency slot */
    LLM_TS_SLOT_RELEASED,        /* last gave its slot back */
    LLM_TS_FIRST_ATTEMPT_STARTED,
    LLM_TS_LAST_ATTEMPT_STARTED,
    LLM_TS_DNS_DONE,             /* of the last attempt (curl timing) */
    LLM_TS_CONNECTED,
    LLM_TS_TLS_DONE,
    LLM_TS_REQUEST_SENT,
    LLM_TS_FIRST_BYTE,
    LLM_TS_FIRST_TOKEN,          /* first generated text (streaming or not) */
    LLM_TS_LAST_TOKEN,
    LLM_TS_RESPONSE_RECEIVED,    /* whole body in */
    LLM_TS_PARSED,
    LLM_TS_POSTPROCESS_STARTED,
    LLM_TS_POSTPROCESS_ENDED,
    LLM_TS_COMPLETED,            /* the result was finalised */
    LLM_TS_COUNT_                /* number of timestamps; not a timestamp */
};

/* JSON key of a timestamp ("first_token"); NULL for out-of-range values. */
LLM_API const char *llm_timestamp_name(enum llm_timestamp ts);

/* Which gates admitted a request (its last attempt). */
enum llm_admission {
    LLM_ADMISSION_NONE = 0,           /* never admitted (failed before the gates) */
    LLM_ADMISSION_LOCAL = 1,          /* this engine's own gates (no shared limiter) */
    LLM_ADMISSION_SHARED = 2,         /* the shared gates in Redis */
    LLM_ADMISSION_LOCAL_FALLBACK = 3  /* local gates at this member's share: Redis was down */
};

/* Name of an admission ("shared"); NULL for NONE and out-of-range values. */
LLM_API const char *llm_admission_name(enum llm_admission a);

struct llm_usage {
    int64_t input_tokens;        /* prompt tokens, including cached ones */
    int64_t output_tokens;       /* completion tokens, including reasoning */
    int64_t cached_input_tokens; /* prompt tokens served from the provider's cache */
    int64_t reasoning_tokens;    /* output tokens spent on hidden reasoning */
    int64_t cache_write_tokens;  /* Anthropic cache_creation_input_tokens */
    bool known;                  /* the provider reported usage, and it is
                                    plausible: a reply with output whose usage
                                    says 0 output tokens (a proxy's stream sent
                                    0/0) has known = false, the counts as sent;
                                    its cost is then unknown too */
};

/* Time the server says it spent on the request, in µs (Ollama's
 * *_duration fields; Bedrock's metrics.latencyMs as total).  `known` is
 * false when it said nothing (every other provider); a part it did not
 * report is 0. */
struct llm_server_timing {
    bool known;
    int64_t total_us;            /* the whole request on the server */
    int64_t load_us;             /* loading the model (Ollama load_duration) */
    int64_t prompt_eval_us;      /* reading the prompt (Ollama prompt_eval_duration) */
    int64_t eval_us;             /* generating the reply (Ollama eval_duration) */
};

struct llm_cost {
    double input_usd;            /* uncached + cached + cache-write input */
    double output_usd;
    double total_usd;
    bool known;                  /* false: no price for this model (never a silent 0) */
    /* The model runs on the caller's own hardware (an Ollama model with no
     * price of its own): known is true and every amount 0.  Lives in the
     * padding after `known`, so the struct's size is unchanged. */
    bool local;
};

/* One try at the provider. */
struct llm_attempt {
    int64_t start_us;            /* wall clock, µs since epoch */
    int64_t end_us;
    int http_status;             /* 0 when no response */
    enum llm_error error;        /* LLM_OK for the successful attempt */
    char *error_message;         /* NULL on success */
    int64_t retry_after_ms;      /* server-directed wait asked, -1 if none */
    int64_t backoff_ms;          /* wait slept after this attempt before the next */
    uint64_t bytes_sent;
    uint64_t bytes_received;
};

/* Where the time went while the request was not on the wire (ms). */
struct llm_wait_stats {
    int64_t queue_wait_ms;       /* waiting for a concurrency slot */
    int64_t gate_wait_ms;        /* client-side rate gates (RPM, TPM, ...) */
    int64_t server_wait_ms;      /* server-directed: Retry-After, cooldowns */
    int64_t backoff_ms;          /* our own retry backoff */
};

/* Outcome of one post-processing step. */
struct llm_step_result {
    char *name;
    bool success;
    char *error;                 /* NULL on success */
    int64_t duration_us;
    size_t bytes_in;
    size_t bytes_out;
};

struct llm_result_error {
    enum llm_error type;         /* LLM_OK on success */
    bool retryable;
    char *message;               /* NULL on success; never contains API keys */
    int http_status;             /* of the last attempt; 0 if none */
    char *provider_code;         /* e.g. "insufficient_quota"; NULL if none */
};

struct llm_result {
    bool success;
    char *content;               /* generated text ("" on failure); NUL-terminated */
    size_t content_len;          /* bytes, excluding the NUL */
    char *finish_reason;         /* "stop", "length", "end_turn", ...; NULL if unknown */
    struct llm_result_error error;
    char trace_id[37];           /* UUIDv7, lowercase, e.g. "0190...-..." */
    char *request_id;            /* provider's request id header, NULL if none */
    char *response_id;           /* provider's response/message id, NULL if none */
    char *provider;              /* "openai", "anthropic", "mock", ... */
    char *model;                 /* model the provider reported, else the requested one */
    struct llm_usage usage;
    struct llm_cost cost;
    int64_t timestamps[LLM_TS_COUNT_];
    struct llm_attempt *attempts;
    size_t n_attempts;
    struct llm_wait_stats backoff;
    struct llm_step_result *pipeline;
    size_t n_pipeline;
    char *raw_response;          /* last response body, only if the engine keeps it */
    size_t raw_response_len;
    char *metadata_json;         /* copy of llm_request.metadata_json, or NULL */
    void *user_data;             /* llm_request.user_data */

    /* ---- appended; zero/NULL when absent ---- */

    /* Tool calls the model asks for, in reply order (finish_reason is then
     * "tool_calls" for OpenAI, "tool_use" for Anthropic).  Every string is
     * owned by the result; `arguments` is the JSON text the model produced
     * (an object, "{}" when it sent none; a truncated reply may leave it
     * incomplete -- parse it before use).  The array can be handed back as
     * llm_message.tool_calls of the next request's "assistant" turn. */
    struct llm_tool_call *tool_calls;
    size_t n_tool_calls;
    /* The model's refusal text (OpenAI message.refusal; Anthropic
     * stop_reason "refusal"), NULL if it did not refuse. */
    char *refusal;
    /* What the server reported of its own timing (see above); in
     * llm_result_to_json() as "server_timing" only when known. */
    struct llm_server_timing server_timing;
    /* Which gates admitted the last attempt (local, shared through Redis, or a
     * fallback under the failure policy). */
    enum llm_admission admission;
};

/* Free a result and everything it owns.  NULL-safe.  Thread-safe with
 * respect to other results (a result is never shared by the library). */
LLM_API void llm_result_free(struct llm_result *res);

/* Serialise a result as one line of compact JSON (no trailing newline).
 * Keys: success, content, finish_reason, error{type,message,http_status,
 * retryable,provider_code}, trace_id, request_id, response_id, provider,
 * model, timestamps{<name>: ISO-8601 UTC with µs | null}, attempts[],
 * usage{...}, cost{...}, backoff{...}, pipeline[], metadata, admission
 * ("local" | "shared" | "local_fallback" | null, see enum llm_admission),
 * and, when present, tool_calls[{id, type: "function", function{name,
 * arguments}}] and refusal.
 * Returns a malloc'd string the caller frees with llm_free(); NULL if `res`
 * is NULL or memory ran out. */
LLM_API char *llm_result_to_json(const struct llm_result *res);

/* Free memory returned by the library (JSON strings).  NULL-safe. */
LLM_API void llm_free(void *p);

LLM_END_DECLS

#endif /* LLMORCH_RESULT_H */
