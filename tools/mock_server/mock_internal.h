/* Internals shared by the mock server's files (prefix mocksrv__).
 * Not installed, not used outside tools/mock_server/. */
#ifndef LLMORCH_MOCK_INTERNAL_H
#define LLMORCH_MOCK_INTERNAL_H

#include "mock_server.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- clock ------------------------------------------------------------- */

/* CLOCK_MONOTONIC in ms: every due time and window entry uses it. */
int64_t mocksrv__now_ms(void);

/* ---- byte buffer ----------------------------------------------------------
 * Growable, with a hard cap: past it (or on OOM) the buffer turns failed,
 * later appends are no-ops, and the caller checks `failed` once at the end
 * instead of after every append. */
struct mocksrv__buf {
    char *data; /* NUL-terminated while not failed */
    size_t len;
    size_t cap;
    size_t max; /* 0 = the default cap (MOCKSRV__BUF_DEFAULT_MAX) */
    bool failed;
};

#define MOCKSRV__BUF_DEFAULT_MAX ((size_t)1 << 20)

void mocksrv__buf_add(struct mocksrv__buf *b, const void *p, size_t n);
void mocksrv__buf_str(struct mocksrv__buf *b, const char *s);
void mocksrv__buf_printf(struct mocksrv__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s[0..n) as a quoted JSON string: '"', '\\' and control bytes escaped,
 * other bytes (UTF-8 included) copied as they are. */
void mocksrv__buf_json_str(struct mocksrv__buf *b, const char *s, size_t n);
/* Hands the bytes over (caller frees with free()) and resets b. */
char *mocksrv__buf_take(struct mocksrv__buf *b, size_t *len);
void mocksrv__buf_free(struct mocksrv__buf *b);

/* ---- faults -------------------------------------------------------------- */

enum mocksrv__fault {
    MOCKSRV__F_NONE = 0, /* no fault chosen: normal path */
    MOCKSRV__F_OK,       /* "ok"/"200": explicitly normal */
    MOCKSRV__F_429,
    MOCKSRV__F_500,
    MOCKSRV__F_503,
    MOCKSRV__F_529,
    MOCKSRV__F_QUOTA,
    MOCKSRV__F_REGION,
    MOCKSRV__F_RESET,
    MOCKSRV__F_STALL,
    MOCKSRV__F_TRUNCATED_SSE,
    MOCKSRV__F_MALFORMED_JSON,
    MOCKSRV__F_504,
    MOCKSRV__F_BILLING,
};

/* Token (n bytes, not NUL-terminated) to fault; false if unknown. */
bool mocksrv__fault_parse(const char *tok, size_t n, enum mocksrv__fault *out);
/* "a, b ,c" to a malloc'd array of faults (NULL, 0 for an empty script);
 * -1 with a one-line message on stderr for an unknown or empty token. */
int mocksrv__script_parse(const char *script, enum mocksrv__fault **out, size_t *len);
/* The canonical token, or NULL for NONE/OK (a ledger null). */
const char *mocksrv__fault_name(enum mocksrv__fault f);

/* ---- timer: suspended connections resumed when due -------------------------
 * One thread and one min-heap.  Invariant: a connection is suspended by
 * this module iff it has an entry in the heap, so shutdown can resume every
 * one of them (MHD_stop_daemon must not meet a suspended connection). */
struct mocksrv__timer;

int mocksrv__timer_new(struct mocksrv__timer **out);
/* Suspend c and resume it at due_ms.  MUST be called from an MHD access
 * handler or content reader for c.  Returns false, leaving c running, if
 * the timer is shutting down or out of memory. */
bool mocksrv__timer_suspend_until(struct mocksrv__timer *t, struct MHD_Connection *c,
                                  int64_t due_ms);
/* Refuse further suspensions and resume every suspended connection now;
 * joins the thread.  Idempotent. */
void mocksrv__timer_shutdown(struct mocksrv__timer *t);
void mocksrv__timer_free(struct mocksrv__timer *t);

/* ---- rate-limit windows ------------------------------------------------ */

struct mocksrv__rl;

enum mocksrv__limit { MOCKSRV__LIMIT_NONE = 0, MOCKSRV__LIMIT_REQUESTS, MOCKSRV__LIMIT_TOKENS };

struct mocksrv__rl_view {
    bool admitted;
    enum mocksrv__limit cause; /* why not admitted */
    bool too_large;            /* cost exceeds the whole token window */
    int64_t retry_after_ms;    /* when not admitted */
    int64_t cost;              /* the tokens asked for */
    /* header material; has_* false when that limit is off */
    bool has_requests, has_tokens;
    int64_t requests_per_min, tokens_per_min;   /* the configured limits */
    int64_t requests_window, tokens_window;     /* scaled to the window */
    int64_t requests_remaining, tokens_remaining;
    int64_t requests_reset_ms, tokens_reset_ms; /* until the window is empty */
};

int mocksrv__rl_new(double rpm, double tpm, int64_t window_ms, struct mocksrv__rl **out);
/* consume: admit-or-reject a request costing `cost` tokens at now_ms (an
 * admitted one is recorded).  !consume: only describe the window. */
void mocksrv__rl_check(struct mocksrv__rl *rl, int64_t now_ms, int64_t cost, bool consume,
                       struct mocksrv__rl_view *v);
void mocksrv__rl_free(struct mocksrv__rl *rl);

/* ---- wire formats ---------------------------------------------------------- */

enum mocksrv__api {
    MOCKSRV__API_NONE = 0,
    MOCKSRV__API_OPENAI,    /* also Azure OpenAI's paths */
    MOCKSRV__API_ANTHROPIC,
    MOCKSRV__API_GEMINI,    /* mock_gemini.c */
    MOCKSRV__API_BEDROCK,   /* mock_bedrock.c */
    MOCKSRV__API_OLLAMA,    /* mock_ollama.c */
};

/* What a successful answer says; borrowed strings. */
struct mocksrv__reply {
    enum mocksrv__api api;
    uint64_t id;
    int64_t created; /* Unix seconds */
    const char *model;
    const char *text;
    size_t text_len;
    int64_t input_tokens, output_tokens;
    bool cut;          /* max_tokens cut the text */
    bool include_usage; /* OpenAI stream_options.include_usage */
};

#define MOCKSRV__TIMEBUF 96

/* Go time.Duration.String() of ms ("0s", "12ms", "1.5s", "6m0s", "1h0m0s"). */
void mocksrv__go_duration(char out[MOCKSRV__TIMEBUF], int64_t ms);
/* RFC 3339 UTC wall-clock time ms from now, rounded up to the second. */
void mocksrv__rfc3339_in(char out[MOCKSRV__TIMEBUF], int64_t ms);

void mocksrv__openai_error(struct mocksrv__buf *b, const char *message, const char *type,
                           const char *code);
/* request_id: the request-id header's value, repeated in the body (NULL: null). */
void mocksrv__anthropic_error(struct mocksrv__buf *b, const char *type, const char *message,
                              const char *request_id);

/* system_fingerprint of every OpenAI completion and chunk. */
#define MOCKSRV__FINGERPRINT "fp_mock0001"

/* GET /v1/models bodies: the OpenAI list, or Anthropic's paginated list. */
void mocksrv__openai_models(struct mocksrv__buf *b);
void mocksrv__anthropic_models(struct mocksrv__buf *b);

void mocksrv__openai_completion(struct mocksrv__buf *b, const struct mocksrv__reply *r);
void mocksrv__anthropic_message(struct mocksrv__buf *b, const struct mocksrv__reply *r);

/* OpenAI's usage object of a reply; a stream chunk up to and including
 * `"choices":` (mock_wire.c, shared with mock_tools.c). */
void mocksrv__openai_usage(struct mocksrv__buf *b, const struct mocksrv__reply *r);
void mocksrv__openai_chunk_head(struct mocksrv__buf *b, const struct mocksrv__reply *r);
/* Anthropic's message_start event (content [], usage.output_tokens 1). */
void mocksrv__anthropic_message_start(struct mocksrv__buf *b, const struct mocksrv__reply *r);

/* ---- tools, tool results, structured output, refusals (mock_tools.c) ---- */

#define MOCKSRV__MAX_TOOL_CALLS 8

struct mocksrv__tool_call {
    char *name;
    char *args; /* compact JSON object text */
};

/* How a request that uses tools, a response format or the refusal trigger
 * is answered (see mock_server.h). */
struct mocksrv__tools {
    struct mocksrv__tool_call calls[MOCKSRV__MAX_TOOL_CALLS];
    size_t n_calls;  /* > 0: answer with these calls */
    bool refusal;    /* answer with a refusal */
    char *text;      /* else, when set: the reply text to use (tool result,
                        schema instance) */
    size_t text_len;
    bool oom;
};

/* Decide from the parsed body; `last_user` is the last user message's
 * text (may be NULL).  Returns NULL, or a 400 message (a named tool that
 * is not in tools).  Free with mocksrv__tools_free in every case. */
const char *mocksrv__tools_decide(const cJSON *root, enum mocksrv__api api, const char *last_user,
                                  struct mocksrv__tools *t);
void mocksrv__tools_free(struct mocksrv__tools *t);
/* Output tokens of a call or refusal answer. */
int64_t mocksrv__tools_output_tokens(const struct mocksrv__tools *t);
/* The whole answer body for calls or a refusal: JSON, or (stream) every
 * SSE frame at once, arguments and refusal text cut into fragments. */
void mocksrv__tools_answer(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                           const struct mocksrv__tools *t, bool stream);

/* SSE frames.  The preamble is everything before the first delta, the
 * tail everything after the last; a delta is text[off, off+n).  With
 * malformed, the delta's JSON is made unparseable. */
void mocksrv__sse_preamble(struct mocksrv__buf *b, const struct mocksrv__reply *r);
void mocksrv__sse_delta(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t off,
                        size_t n, bool malformed);
void mocksrv__sse_tail(struct mocksrv__buf *b, const struct mocksrv__reply *r);
/* Length of the next delta starting at text[off] (> 0 while off < len). */
size_t mocksrv__next_delta_len(const char *text, size_t len, size_t off);

/* Largest m <= n that does not split a UTF-8 sequence of s[0..len). */
size_t mocksrv__utf8_floor(const char *s, size_t len, size_t n);

/* ---- the other wire formats (mock_formats.c, mock_gemini.c, mock_bedrock.c,
 * mock_ollama.c) ---------------------------------------------------------------
 * Each is the same mock (reply text, token counts, latency, faults, rate
 * limits, ledger) in its provider's own shapes.  The handler turns their
 * request bodies into the OpenAI shape it checks (normalise), then asks the
 * format for every body it sends. */
struct mocksrv__format {
    enum mocksrv__api api;
    const char *stream_content_type;
    const char *request_id_header;   /* NULL: none */
    bool retry_after_headers;        /* sends retry-after(-ms) on 429/503 */
    /* `root` rewritten as {"model","messages":[{role,content}],
     * "max_tokens"?,"stream"}; NULL with *err (a 400 message) if the body
     * is not a valid request of this API (or out of memory, *err NULL).
     * path_model: the model named by the path (NULL if none); path_stream:
     * 1/0 when the path decides, -1 when the body does. */
    cJSON *(*normalise)(const cJSON *root, const char *path_model, int path_stream,
                        const char **err);
    /* An error body for `status`; `type` names the error in the API's own
     * vocabulary (NULL: the usual one for the status).  retry_ms > 0: the
     * server's wait, where the API puts it in the body.  Sets *hdr_name
     * and hdr_value when the error also travels in a header. */
    void (*error)(struct mocksrv__buf *b, unsigned status, const char *type, const char *message,
                  int64_t retry_ms, const char **hdr_name, char *hdr_value, size_t hdr_cap);
    void (*completion)(struct mocksrv__buf *b, const struct mocksrv__reply *r);
    void (*preamble)(struct mocksrv__buf *b, const struct mocksrv__reply *r);
    void (*delta)(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t off, size_t n,
                  bool malformed);
    void (*tail)(struct mocksrv__buf *b, const struct mocksrv__reply *r);
};

extern const struct mocksrv__format mocksrv__gemini_format;
extern const struct mocksrv__format mocksrv__bedrock_format;
extern const struct mocksrv__format mocksrv__ollama_format;

/* The format of `api`; NULL for OpenAI and Anthropic (mock_wire.c). */
const struct mocksrv__format *mocksrv__format_of(enum mocksrv__api api);

/* The value of hex digit c (either case), -1 if it is none. */
int mocksrv__hexval(char c);

/* Route a path (raw, as sent) that is neither /v1/chat/completions nor
 * /v1/messages: Gemini's /v1beta/models/M:generateContent and
 * :streamGenerateContent, Bedrock's /model/ID/converse(-stream), Ollama's
 * /api/chat, Azure's /openai/deployments/D/chat/completions and
 * /openai/v1/chat/completions (OpenAI).  True and *api set when it is one;
 * *model (malloc'd, percent-decoded; NULL if the path names none) and
 * *stream (-1: the body decides). */
bool mocksrv__route(const char *path, enum mocksrv__api *api, char **model, int *stream);

/* SigV4 verification (mock_sigv4.c, written from AWS's specification
 * apart from the client's signer). */
struct mocksrv__sigv4_header {
    const char *name, *value;
};
/* A request as the verifier sees it; every string borrowed. */
struct mocksrv__sigv4_request {
    const char *method;
    const char *path;  /* as received, escapes kept ("/model/a%3A0/converse") */
    const char *query; /* as received, without '?'; NULL or "" for none */
    const struct mocksrv__sigv4_header *headers; /* as received; names may repeat */
    size_t n_headers;
    const char *body; /* NULL when body_len is 0 */
    size_t body_len;
};

/* Check q's SigV4 signature against `secret`, the credential scope naming
 * `service`.  A pure function: 0 if valid, else -1 with the reason (the
 * service's own message) in why. */
int mocksrv__sigv4_check(const struct mocksrv__sigv4_request *q, const char *secret,
                         const char *service, char *why, size_t why_cap);

/* Bedrock: mocksrv__sigv4_check on what reached connection `c` (headers,
 * query arguments), service "bedrock". */
int mocksrv__sigv4_verify(struct MHD_Connection *c, const char *method, const char *raw_path,
                          const char *body, size_t len, const char *secret, char *why,
                          size_t why_cap);

/* CRC-32 (IEEE) for event-stream frames. */
uint32_t mocksrv__crc32(const void *data, size_t len);

/* ---- the server -------------------------------------------------------------- */

struct mocksrv__ctr {
    atomic_uint_fast64_t requests, status_2xx, status_4xx, status_5xx, status_other;
    atomic_uint_fast64_t sent_429, rate_limited, faults, streams;
    atomic_uint_fast64_t bytes_in, bytes_out, connections_open, connections_peak;
};

struct mocksrv {
    /* Resolved options: defaults applied; string fields NULL (owned copies
     * below are used instead). */
    struct mocksrv_options opt;
    char *host;
    enum mocksrv__fault *script;
    size_t script_len;

    struct MHD_Daemon *daemon;
    struct mocksrv__timer *timer;
    struct mocksrv__rl *rl;

    pthread_mutex_t ledger_lock; /* guards ledger (writes and flushes) */
    FILE *ledger;

    pthread_mutex_t draw_lock; /* guards script_pos and rng */
    size_t script_pos;
    uint64_t rng;

    int64_t start_ms;
    atomic_bool stopping;
    atomic_bool log_mhd;
    atomic_uint_fast64_t next_id;
    atomic_uint_fast64_t next_err_id; /* request ids of answers before next_id */
    struct mocksrv__ctr ctr;

    int port;
    char url[96];
    bool halted; /* mocksrv__halt ran */
    char *aws_secret; /* Bedrock requests must be SigV4-signed with it; NULL = not checked */
};

/* The first half of mocksrv_stop: stop serving and close every connection
 * (ledger lines written, counters final), but free nothing, so the CLI can
 * print final counters.  Idempotent. */
void mocksrv__halt(struct mocksrv *s);

/* The MHD access handler and completion callback (mock_handler.c). */
enum MHD_Result mocksrv__on_request(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **req_cls);
void mocksrv__on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                           enum MHD_RequestTerminationCode toe);

/* The next 64 random bits; the caller MUST hold s->draw_lock. */
uint64_t mocksrv__rng_locked(struct mocksrv *s);
/* Uniform draw in [0, n] (n >= 0); takes draw_lock. */
int64_t mocksrv__rand_upto(struct mocksrv *s, int64_t n);

#endif /* LLMORCH_MOCK_INTERNAL_H */
