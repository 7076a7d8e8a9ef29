/* Writing a provider: the strategy that turns an llm_request into an HTTP
 * request and a provider's response back into text, usage and errors.
 *
 * A provider does no I/O and keeps no per-request state: every slot is a
 * pure function of its arguments and the provider's immutable configuration,
 * so one provider instance serves every request of an engine, and every slot
 * may be called from the engine thread while other threads read the same
 * instance (it is never mutated after creation).  Slots are unit-testable
 * without a network. */
#ifndef LLMORCH_EXT_PROVIDER_H
#define LLMORCH_EXT_PROVIDER_H

#include "../common.h"
#include "../error.h"
#include "../request.h"
#include "../result.h"

LLM_BEGIN_DECLS

/* ---- HTTP request built by a provider --------------------------------- */

/* One header, "name" and "value" without CR/LF.  Owned by the containing
 * struct. */
struct llm_header {
    char *name;
    char *value;
};

/* Built by llm_provider_vtable.build_request; owned by the caller, who frees
 * its contents with llm_http_request_clear().  Headers may hold secrets (the
 * API key): the library never logs or serialises them. */
struct llm_http_request {
    char *url;                   /* absolute URL */
    struct llm_header *headers;
    size_t n_headers;
    char *body;                  /* JSON, NUL-terminated */
    size_t body_len;
};

/* Append a header (both strings copied).  Returns LLM_ERR_INVALID_ARGUMENT
 * if either contains CR or LF or the name is empty, LLM_ERR_OUT_OF_MEMORY on
 * allocation failure; the request is unchanged on error. */
LLM_API enum llm_error llm_http_request_add_header(struct llm_http_request *req,
                                                   const char *name,
                                                   const char *value);

/* Free everything the request owns and zero it.  NULL-safe. */
LLM_API void llm_http_request_clear(struct llm_http_request *req);

/* Response headers as received (borrowed view). */
struct llm_http_headers {
    const struct llm_header *items;
    size_t n;
};

/* Value of the first header named `name` (ASCII case-insensitive), or NULL. */
LLM_API const char *llm_http_headers_get(const struct llm_http_headers *h,
                                         const char *name);

/* ---- What a provider reads out of a response ---------------------------- */

/* Accumulates a reply: filled once by parse_response, or event by event by
 * parse_stream_event.  Zero-initialise; free contents with
 * llm_parsed_clear().  Providers write through the llm_parsed_* helpers so
 * growth and overflow are checked in one place. */
struct llm_parsed_tool_call;

struct llm_parsed {
    char *content;               /* NUL-terminated when non-NULL */
    size_t content_len;
    size_t content_cap;
    char *finish_reason;
    char *model;
    char *response_id;
    struct llm_usage usage;
    bool done;                   /* stream saw its final event */
    /* An error reported inside a 2xx body or stream (e.g. Anthropic's
     * `error` SSE event).  LLM_OK when none. */
    enum llm_error error;
    char *error_message;
    char *provider_code;
    /* ---- appended ---- */
    /* Tool calls in reply order; grown with llm_parsed_tool_call() and
     * llm_parsed_tool_append(), freed by llm_parsed_clear(). */
    struct llm_parsed_tool_call *tool_calls;
    size_t n_tool_calls;
    size_t tool_calls_cap;
    char *refusal;               /* NUL-terminated when non-NULL */
    size_t refusal_len;
    size_t refusal_reported;     /* the engine's: refusal bytes already
                                    reported as stream events */
    /* Bounds what the reply accumulates -- content, refusal and tool-call
     * arguments together -- so that a server streaming small deltas
     * forever cannot grow it without end; 0 = no bound.  The engine sets
     * it to its max_response_bytes before each attempt (llm_parsed_clear
     * resets it to 0).  llm_parsed_append and llm_parsed_refusal_append
     * refuse to go past it: they record LLM_ERR_RESPONSE_TOO_LARGE in
     * `error` and return that code, which parse_stream_event MUST pass
     * on.  (llm_parsed_tool_append has no `p`: providers check the bound
     * before calling it.) */
    size_t max_bytes;
    /* The server's own timing of the reply, when it reports one (Ollama,
     * Bedrock); copied into llm_result.server_timing on success. */
    struct llm_server_timing server_timing;
};

/* One tool call being read. */
struct llm_parsed_tool_call {
    int64_t wire_index;          /* the wire's key for it: OpenAI
                                    tool_calls[].index, Anthropic content block
                                    index; -1 when the wire has none */
    char *id;
    char *name;
    char *arguments;             /* NUL-terminated when non-NULL */
    size_t arguments_len;
    size_t arguments_cap;
    size_t reported;             /* the engine's: argument bytes already
                                    reported as stream events */
    bool announced;              /* the engine's: start already reported */
};

/* The tool call whose wire index is `wire_index` (the last one with that
 * index), appended when there is none or when wire_index is -1.  *out
 * points into p->tool_calls (valid until the next call of this function).
 * At most 1024 calls per reply.  Returns LLM_OK, LLM_ERR_PARSE (too many)
 * or LLM_ERR_OUT_OF_MEMORY. */
LLM_API enum llm_error llm_parsed_tool_call(struct llm_parsed *p, int64_t wire_index,
                                            struct llm_parsed_tool_call **out);
/* Append an arguments fragment to `call` (checked growth, bounded by the
 * same cap as content). */
LLM_API enum llm_error llm_parsed_tool_append(struct llm_parsed_tool_call *call,
                                              const char *text, size_t len);
/* Append text to p->refusal. */
LLM_API enum llm_error llm_parsed_refusal_append(struct llm_parsed *p, const char *text,
                                                 size_t len);

/* Append text to the content (always NUL-terminated after it).  Returns
 * LLM_OK; LLM_ERR_RESPONSE_TOO_LARGE (also recorded as p->error) if the
 * reply would grow past p->max_bytes, content unchanged;
 * LLM_ERR_OUT_OF_MEMORY; LLM_ERR_INVALID_ARGUMENT. */
LLM_API enum llm_error llm_parsed_append(struct llm_parsed *p, const char *text, size_t len);
/* Replace *slot with a copy of s (NULL clears it). */
LLM_API enum llm_error llm_parsed_set(char **slot, const char *s);
/* Record an in-body error; message and code are copied, either may be NULL. */
LLM_API enum llm_error llm_parsed_set_error(struct llm_parsed *p, enum llm_error type,
                                            const char *provider_code, const char *message);
LLM_API void llm_parsed_clear(struct llm_parsed *p);

/* Verdict on a failed response. */
struct llm_error_info {
    enum llm_error type;
    /* Filled by the library's helpers with the retry decision for this
     * type, status and the server's x-should-retry (llm_retry_classify in
     * ext/retry.h); a provider classifies, it never decides retries, and
     * the engine decides again from `type` whatever a custom provider
     * puts here. */
    bool retryable;
    char *provider_code;         /* malloc'd or NULL ("rate_limit_exceeded") */
    char *message;               /* malloc'd or NULL; the server's own words */
    /* A wait the server asked for in the BODY rather than in a Retry-After
     * header (Gemini's google.rpc.RetryInfo.retryDelay), in ms; 0 = none.
     * The engine honours it as it honours Retry-After when the headers
     * carry no wait. */
    int64_t retry_after_ms;
};

LLM_API void llm_error_info_clear(struct llm_error_info *info);

/* Limits a server announced in its response headers.  -1 = not present. */
struct llm_rate_limit_info {
    int64_t limit_requests;
    int64_t remaining_requests;
    int64_t reset_requests_ms;   /* from now */
    int64_t limit_tokens;
    int64_t remaining_tokens;
    int64_t reset_tokens_ms;
    int64_t limit_input_tokens;
    int64_t remaining_input_tokens;
    int64_t reset_input_tokens_ms;
    int64_t limit_output_tokens;
    int64_t remaining_output_tokens;
    int64_t reset_output_tokens_ms;
};

/* A reply produced in-process instead of over HTTP (the mock provider). */
struct llm_local_response {
    enum llm_error transport_error; /* LLM_OK, or e.g. TIMEOUT / CONNECTION to simulate */
    int status;                  /* HTTP status to simulate */
    char *body;                  /* malloc'd body (JSON, or SSE text when streaming) */
    size_t body_len;
    int64_t latency_ms;          /* the engine completes the attempt after this delay */
    int64_t retry_after_ms;      /* simulated Retry-After, -1 for none */
};

struct llm_provider;

/* How a streamed 2xx body is cut into the events handed to
 * parse_stream_event. */
enum llm_stream_framing {
    /* Server-Sent Events (OpenAI, Anthropic, Gemini): `event` is the event
     * name or NULL, `data` the joined data lines. */
    LLM_STREAM_SSE = 0,
    /* Newline-delimited JSON (Ollama): `event` NULL, `data` one line. */
    LLM_STREAM_NDJSON = 1,
    /* AWS event-stream (application/vnd.amazon.eventstream, Bedrock),
     * both CRCs checked: `event` is the :event-type of an event message
     * ("contentBlockDelta"), "exception:" + :exception-type for an
     * exception message, "error:" + :error-code for an error message (then
     * `data` is its :error-message); `data` is the payload. */
    LLM_STREAM_AWS_EVENTSTREAM = 2,
};

/* Every slot's contract.  Optional slots may be NULL in a vtable: the
 * provider constructor fills in defaults so call sites never test for NULL. */
struct llm_provider_vtable {
    /* Short lowercase name ("openai"); static storage. */
    const char *name;

    /* Build the HTTP request for `req` (already validated by the engine:
     * model, messages and roles are non-NULL and known).  `trace_id` is the
     * request's UUID, to send in a header if the provider wants to.  On
     * success `out` owns the URL, headers and body.  Returns LLM_OK,
     * LLM_ERR_INVALID_REQUEST (e.g. extra_json not an object) or
     * LLM_ERR_OUT_OF_MEMORY; `out` is left cleared on error. */
    enum llm_error (*build_request)(const struct llm_provider *p, const struct llm_request *req,
                                    const char *trace_id, struct llm_http_request *out);

    /* Parse a complete 2xx, non-streamed body into `out`.  An error object
     * inside a 2xx body is reported through out->error (the return is then
     * LLM_OK): callers check both.  Returns LLM_OK or LLM_ERR_PARSE (with out->error_message naming what was wrong and a
     * short excerpt of the body), or LLM_ERR_OUT_OF_MEMORY.  `body` is not
     * NUL-terminated. */
    enum llm_error (*parse_response)(const struct llm_provider *p, const char *body, size_t len,
                                     struct llm_parsed *out);

    /* Apply one SSE event (`event` is the event name or NULL; `data` the
     * joined data lines, not NUL-terminated) to `acc`: append text, set
     * finish reason, usage, done, or an in-stream error.  Returns LLM_OK,
     * LLM_ERR_PARSE for an event whose JSON is malformed, or
     * LLM_ERR_OUT_OF_MEMORY.  Once an event has set acc->done (OpenAI's
     * [DONE], Anthropic's message_stop) the reply is complete: the engine
     * parses no more of the body, and a provider MUST ignore any event it
     * is given after that (nothing appended, no error recorded). */
    enum llm_error (*parse_stream_event)(const struct llm_provider *p, const char *event,
                                         const char *data, size_t data_len,
                                         struct llm_parsed *acc);

    /* Classify a non-2xx response (status, headers, body) with the
     * provider's table.  Always fills `out` (falling back on the status
     * alone when the body is not understood). */
    void (*classify_error)(const struct llm_provider *p, int status,
                           const struct llm_http_headers *headers, const char *body, size_t len,
                           struct llm_error_info *out);

    /* Optional.  Read rate-limit headers into `out` (pre-set to -1). */
    void (*read_rate_limits)(const struct llm_provider *p, const struct llm_http_headers *headers,
                             struct llm_rate_limit_info *out);

    /* Optional.  Name of the response header carrying the provider's
     * request id ("x-request-id"); NULL if none. */
    const char *request_id_header;

    /* Optional, NULL for HTTP providers.  For a custom provider that
     * answers in-process: the engine then sends its attempts through its
     * local transport instead of curl, which calls this when an attempt
     * starts (`attempt` counts from 1) and delivers the reply after its
     * latency through the same completion path as an HTTP reply (size cap,
     * stream parsing, Retry-After as a header).  A pure function of its
     * arguments like every slot.  (The built-in mock no longer uses it: its
     * replies are wired to the local transport directly.)  Returns LLM_OK
     * or LLM_ERR_OUT_OF_MEMORY. */
    enum llm_error (*execute_local)(const struct llm_provider *p, const struct llm_request *req,
                                    unsigned attempt, struct llm_local_response *out);

    /* Optional.  Free `impl`. */
    void (*destroy)(struct llm_provider *p);

    /* Framing of streamed replies; zero (LLM_STREAM_SSE) by default. */
    enum llm_stream_framing stream_framing;
};

/* A provider instance: made by llm_provider_new() (your own vtable) or a
 * factory (llm_provider_new_openai...); freed with llm_provider_free()
 * unless ownership was transferred to an engine.  The members are public
 * for reading only (older code reads p->vtable and p->impl; new code uses
 * llm_provider_vtable() and llm_provider_impl()).  Never allocate one
 * yourself: the library's allocation is larger than this struct. */
struct llm_provider {
    const struct llm_provider_vtable *vtable;
    void *impl;
};

/* Wrap your own provider, as llm_gate_new() does for gates.  `vt` is copied
 * (it need not outlive the call); build_request, parse_response,
 * parse_stream_event and classify_error MUST be set; a NULL name becomes
 * "custom" and a NULL read_rate_limits a no-op.  Ownership of `impl` passes
 * to the provider on LLM_OK only (your destroy slot frees it); on error it
 * still belongs to the caller.  Returns LLM_OK and sets *out,
 * LLM_ERR_INVALID_ARGUMENT (NULL out or vt, a required slot missing) or
 * LLM_ERR_OUT_OF_MEMORY, with *out NULL.  Any thread. */
LLM_API enum llm_error llm_provider_new(const struct llm_provider_vtable *vt, void *impl,
                                        struct llm_provider **out);

/* The provider's vtable (with defaults filled in) and its `impl`, for slots
 * and tests; NULL for a NULL provider.  Thread-safe. */
LLM_API const struct llm_provider_vtable *llm_provider_vtable(const struct llm_provider *p);
LLM_API void *llm_provider_impl(const struct llm_provider *p);

/* The vtable's name, "custom" when it has none.  Never NULL. */
LLM_API const char *llm_provider_name(const struct llm_provider *p);

/* Configuration shared by the HTTP providers.  Zero means default.  All
 * strings are copied. */
struct llm_provider_options {
    const char *base_url;        /* default: https://api.openai.com / https://api.anthropic.com */
    const char *api_key;         /* NULL: getenv(api_key_env); "": send no key
                                    (local servers need none) */
    const char *api_key_env;     /* default: OPENAI_API_KEY / ANTHROPIC_API_KEY */
    const char *trace_header;    /* header carrying the trace id; default
                                    "X-Client-Request-Id" (openai), none (anthropic);
                                    "" disables */
    const char *anthropic_version; /* default "2023-06-01" */
    /* Appended.  The exact request URL, used as given (query string kept)
     * instead of base_url + "/v1/<path>". */
    const char *endpoint_url;

    /* Bedrock: the AWS region (NULL: $AWS_REGION, else $AWS_DEFAULT_REGION,
     * else "us-east-1"), which names the default endpoint
     * https://bedrock-runtime.REGION.amazonaws.com and the SigV4 scope. */
    const char *region;
    /* Azure OpenAI: the api-version query parameter (NULL: "2024-10-21");
     * "v1" selects the v1 route {endpoint}/openai/v1/chat/completions,
     * which takes no api-version and names the model in the body. */
    const char *api_version;
    /* Azure OpenAI: the deployment (NULL: each request's model names it). */
    const char *deployment;
    /* Bedrock credentials (NULL: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY,
     * $AWS_SESSION_TOKEN).  A bearer token (api_key, or
     * $AWS_BEARER_TOKEN_BEDROCK) is sent as `Authorization: Bearer`
     * INSTEAD of SigV4 when set, as the AWS SDK does.  Wiped on free and
     * never logged. */
    const char *aws_access_key_id;
    const char *aws_secret_access_key;
    const char *aws_session_token;
};

/* Factories.  Return LLM_OK and set *out, or an error (bad option: CR/LF in a
 * header value, empty base URL) and leave *out NULL.  Engines make them by
 * name through the provider registry (llm_provider_new_by_name). */
LLM_API enum llm_error llm_provider_new_openai(const struct llm_provider_options *opts,
                                               struct llm_provider **out);
LLM_API enum llm_error llm_provider_new_anthropic(const struct llm_provider_options *opts,
                                                  struct llm_provider **out);

/* Google Gemini's native API (generateContent, streamGenerateContent with
 * SSE).  Default base https://generativelanguage.googleapis.com, key
 * from $GEMINI_API_KEY, else $GOOGLE_API_KEY, sent as x-goog-api-key. */
LLM_API enum llm_error llm_provider_new_gemini(const struct llm_provider_options *opts,
                                               struct llm_provider **out);
/* Azure OpenAI: the OpenAI wire format at
 * {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V
 * (or the v1 route, see api_version).  Endpoint from base_url, else
 * $AZURE_OPENAI_ENDPOINT (required: no default); key from
 * $AZURE_OPENAI_API_KEY sent as `api-key`.  An api_key starting with
 * "Bearer " is sent as the Authorization header instead (Entra ID tokens). */
LLM_API enum llm_error llm_provider_new_azure(const struct llm_provider_options *opts,
                                              struct llm_provider **out);
/* Amazon Bedrock Runtime Converse / ConverseStream, signed with SigV4
 * (service "bedrock") or a bearer token; see the options above. */
LLM_API enum llm_error llm_provider_new_bedrock(const struct llm_provider_options *opts,
                                                struct llm_provider **out);
/* Ollama's native chat API (POST /api/chat, NDJSON streaming).  Default base
 * $OLLAMA_HOST (a bare "host:port" gets http://), else
 * http://127.0.0.1:11434; no key. */
LLM_API enum llm_error llm_provider_new_ollama(const struct llm_provider_options *opts,
                                               struct llm_provider **out);

struct llm_mock_options;

/* Make a provider by its registered name: "openai", "anthropic",
 * "gemini", "azure", "bedrock" and "ollama" from `http` (may be NULL:
 * defaults), "mock" from `mock` (may be NULL).  Other
 * names: LLM_ERR_INVALID_ARGUMENT.  Otherwise as the factory named.  If
 * `errbuf` is non-NULL a one-line explanation of a failure is written to
 * it (at most errbuf_len bytes including the NUL).  Any thread. */
LLM_API enum llm_error llm_provider_new_by_name(const char *name,
                                                const struct llm_provider_options *http,
                                                const struct llm_mock_options *mock,
                                                struct llm_provider **out, char *errbuf,
                                                size_t errbuf_len);

/* Free a provider that no engine owns: its destroy slot, then the provider.
 * NULL-safe. */
LLM_API void llm_provider_free(struct llm_provider *p);

LLM_END_DECLS

#endif /* LLMORCH_EXT_PROVIDER_H */
