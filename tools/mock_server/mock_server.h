/* The fault-injecting mock LLM HTTP server (libllmorch test tooling).
 *
 * NOT part of libllmorch's public API: it is a static library
 * (llmorch_mockserver) that integration tests and benchmarks start
 * in-process, and the programs llmorch-mock-server and
 * `llmorch mock-server`.  Everything listens on 127.0.0.1 by default.
 *
 * ==== Usage ============================================================
 *
 *     struct mocksrv_options o = {0};          // {0} is valid: defaults
 *     o.rpm = 60; o.window_ms = 1000;          // 1 request per 1 s window
 *     o.script = "429,ok,reset";               // faults for requests 1..3
 *     struct mocksrv *s;
 *     if (mocksrv_start(&o, &s) != 0) fail();
 *     ... point the client at mocksrv_url(s) ...
 *     mocksrv_stop(s);
 *
 * ==== Endpoints =========================================================
 *
 *   POST /v1/chat/completions   OpenAI Chat Completions (plain and SSE)
 *   POST /v1/messages           Anthropic Messages (plain and SSE)
 *   GET  /v1/models             the model list: Anthropic's format
 *                               ({"data":[{"type":"model","id",
 *                               "display_name","created_at"}],"has_more":
 *                               false,"first_id","last_id"}) when the
 *                               request has an anthropic-version header,
 *                               else OpenAI's ({"object":"list","data":
 *                               [{"id","object":"model","created",
 *                               "owned_by"}]})
 *   POST /openai/deployments/D/chat/completions, /openai/v1/chat/completions
 *                               Azure OpenAI (the OpenAI format)
 *   POST /v1beta/models/M:generateContent, :streamGenerateContent (SSE)
 *                               Gemini (google.rpc.Status errors; a 429's
 *                               wait is RetryInfo.retryDelay in the body)
 *   POST /model/ID/converse, /model/ID/converse-stream
 *                               Bedrock (binary event-stream; errors as
 *                               x-amzn-ErrorType + {"message"}; SigV4
 *                               checked when aws_secret_key is set)
 *   POST /api/chat              Ollama (NDJSON stream; {"error": M})
 *   (mock_gemini.c, mock_bedrock.c, mock_ollama.c describe their bodies.)
 *   GET  /health                200 "ok" (text/plain)
 *   anything else               404 OpenAI-style error body; a known path
 *                               with the wrong method gets 405.
 *
 * Errors use each API's own shape:
 *   OpenAI     {"error":{"message":M,"type":T,"param":null,"code":C}}
 *   Anthropic  {"type":"error","error":{"type":T,"message":M},
 *               "request_id":"req_mock_..."}
 * (The one exception is the Anthropic "region" fault, below.)  Every
 * answer but /health carries a request id header (x-request-id / request-id):
 * req_mock_<n> (below), or req_mock_err_<k> for answers given before a
 * request gets its n (the checks below, 404, 405); the Anthropic body's
 * request_id repeats it.
 *
 * Request checks, in order (each answers at once, without latency_ms,
 * faults or rate limiting, and consumes no script entry):
 *   body > 8 MiB                      413 (OpenAI invalid_request_error /
 *                                     Anthropic request_too_large)
 *   body not JSON / not an object     400 invalid_request_error
 *   "model" missing or not a string   400 invalid_request_error
 *   "messages" missing, empty, or an element that is not an object with
 *   a string "role", or whose "content" is neither a string, an array,
 *   null nor absent                   400 invalid_request_error
 *   Anthropic: "max_tokens" missing   400 invalid_request_error
 *                                     "max_tokens: Field required"
 *   "max_tokens" (OpenAI: also "max_completion_tokens") present but not
 *   an integer >= 1                   400 invalid_request_error
 *   "ECHO_LEN:N" with N > 64 MiB       400 invalid_request_error
 *   unknown x-mock-fault token        400 invalid_request_error
 *
 * ==== The reply (deterministic, so tests can assert exact text) =========
 *
 *   text = "mock reply to: " + the content of the LAST message whose role
 *          is "user", cut to at most 200 bytes (backed off to a UTF-8
 *          character boundary).  Content may be a string or an array of
 *          blocks; the "text" of every block of type "text" is joined.
 *   Special prompt: a last user message starting "ECHO_LEN:N" (decimal N,
 *          0 <= N <= 64 MiB) makes the text exactly N bytes of the
 *          64-byte pattern MOCKSRV_ECHO_PATTERN repeated (byte i is
 *          pattern[i % 64]).
 *   input_tokens  = ceil(prompt bytes / 4), prompt bytes = the system text
 *          (Anthropic top-level "system", string or text blocks) plus the
 *          text of every message's content (OpenAI system messages are
 *          messages).
 *   output_tokens = ceil(text bytes / 4).  If max_tokens is given and
 *          output_tokens > max_tokens, the text is cut to max_tokens * 4
 *          bytes (UTF-8 boundary), output_tokens = max_tokens, and
 *          finish_reason is "length" / stop_reason "max_tokens"; else
 *          "stop" / "end_turn".
 *   Request ids: n counts API requests that got past the checks above,
 *          from 1.  OpenAI: id "chatcmpl-mock-<n>", header
 *          x-request-id: req_mock_<n>.  Anthropic: id "msg_mock_<n>",
 *          header request-id: req_mock_<n>.
 *
 * Non-streamed bodies:
 *   OpenAI {"id","object":"chat.completion","created","model",
 *     "choices":[{"index":0,"message":{"role":"assistant","content",
 *                 "refusal":null,"annotations":[]},"logprobs":null,
 *                 "finish_reason"}],
 *     "usage":{"prompt_tokens","completion_tokens","total_tokens",
 *              "prompt_tokens_details":{"cached_tokens":0},
 *              "completion_tokens_details":{"reasoning_tokens":0}},
 *     "service_tier":"default","system_fingerprint":"fp_mock0001"}
 *     (stream chunks carry service_tier and system_fingerprint too)
 *   Anthropic {"id","type":"message","role":"assistant","model",
 *     "content":[{"type":"text","text"}],"stop_reason","stop_sequence":null,
 *     "usage":{"input_tokens","output_tokens","cache_read_input_tokens":0,
 *              "cache_creation_input_tokens":0}}
 *
 * Streaming ("stream": true): Content-Type text/event-stream, chunked.
 *   The text is cut into deltas of up to 3 words (a word ends after a
 *   space), at most 64 bytes each, never inside a UTF-8 character; an
 *   empty text gives no delta.
 *   OpenAI:  data: chunk{delta:{role:"assistant",content:""}}   (at once)
 *            data: chunk{delta:{content:D}}                     (per delta)
 *            data: chunk{delta:{},finish_reason}
 *            data: {...,"choices":[],"usage":{...}}  only if
 *                  stream_options.include_usage is true (then every chunk
 *                  also carries "usage":null)
 *            data: [DONE]
 *   Anthropic: event: message_start, content_block_start, ping   (at once)
 *            content_block_delta (text_delta) per delta
 *            content_block_stop, message_delta (stop_reason,
 *            usage.output_tokens), message_stop
 *   Each frame is "data: {...}\n\n" (OpenAI) or "event: X\ndata: {...}\n\n"
 *   (Anthropic).
 *
 * ==== Tools, tool results, structured output, refusals ==================
 *
 *   On the OpenAI (and Azure) and Anthropic paths, decided in this order
 *   from the request body (the shapes are the APIs' own, see
 *   WIRE-NOTES.md; the Gemini, Bedrock and Ollama paths answer text):
 *   1. The last user message contains "MOCK_REFUSE" (MOCKSRV_REFUSE_TRIGGER):
 *      a refusal.  OpenAI: message content null, refusal "I'm sorry, but I
 *      can't help with that.", finish_reason "stop" (streamed as
 *      delta.refusal fragments).  Anthropic: no content, stop_reason
 *      "refusal".
 *   2. The conversation ends in tool results (OpenAI trailing "tool" turns;
 *      Anthropic tool_result blocks in the last user turn): the text
 *      "tool result: <content>" (several joined by "; "), as a normal reply.
 *   3. The request has tools and tool_choice is not none:
 *        named tool (OpenAI {type:function,function:{name}}, Anthropic
 *        {type:"tool",name}) -> a call of that tool (400 if not in tools);
 *        otherwise every tool whose name appears in the last user message
 *        (in tools order; only the first when parallel_tool_calls is false /
 *        disable_parallel_tool_use is true); with "required" / {type:"any"}
 *        and no name mentioned, the first tool; with auto and none
 *        mentioned, a normal text reply.
 *      Arguments: a deterministic instance of the tool's schema -- every
 *      required property filled: string "x" (repeated to minLength),
 *      number/integer 1 (clamped to minimum/maximum), boolean true, the
 *      first enum value, const, arrays of minItems elements (else []),
 *      objects with their required properties (else {}), the first
 *      anyOf/oneOf branch.  Call ids "call_mock_<n>_<i>" /
 *      "toolu_mock_<n>_<i>".  OpenAI: content null, tool_calls, finish_reason
 *      "tool_calls"; Anthropic: tool_use blocks, stop_reason "tool_use".
 *      Streamed: OpenAI delta.tool_calls (a first chunk with index, id,
 *      type, name and arguments "", then the arguments in 3 or more
 *      fragments); Anthropic content_block_start tool_use (input {}),
 *      input_json_delta.partial_json fragments, content_block_stop.  These
 *      answers are sent whole (no pacing, no stream faults).
 *   4. A json_schema response format (OpenAI response_format.json_schema.
 *      schema, Anthropic output_config.format.schema): the same
 *      deterministic instance as the reply text; OpenAI json_object: "{}".
 *   output_tokens of a call or refusal answer = ceil(bytes of names and
 *   arguments, or of the refusal, / 4).
 *
 * ==== Timing (nothing ever blocks the server thread) =====================
 *
 *   latency_ms (+ a uniform draw in [0, latency_jitter_ms]) passes between
 *   the end of the request body and the response headers, for every API
 *   request that got past the checks (faults and 429s included).
 *   Streams then send the preamble events at once, the first delta
 *   ttft_ms + hold_ms after the headers, and each further delta
 *   inter_token_ms after the previous one is due; the closing events follow
 *   the last delta at once.  hold_ms simply adds to ttft_ms: it exists so a
 *   scale benchmark can hold streams open without touching the TTFT that
 *   other code measures; set either one.
 *   Every wait is a suspended MHD connection plus an entry in one timer
 *   heap whose thread resumes it when due, so tens of thousands of waiting
 *   requests cost memory, not threads.
 *
 * ==== Rate limits ========================================================
 *
 *   rpm / tpm are per-minute limits enforced over a sliding window of
 *   window_ms: the window admits at most max(1, floor(limit * window_ms /
 *   60000)) requests / tokens.  A request's token cost, fixed at admission,
 *   is input_tokens + max_tokens when max_tokens is given, else
 *   input_tokens + output_tokens (OpenAI's own accounting reserves
 *   max_tokens up front; a client's TPM gate must budget the same way).
 *   Only requests that get a normal answer (no fault) are checked against
 *   the windows and consume them; a 429 consumes nothing.
 *   Over a limit: 429 with retry-after (whole seconds, rounded up, >= 1)
 *   and retry-after-ms (exact ms until the window would admit this
 *   request) and
 *     OpenAI {"error":{"message":"Rate limit reached for requests ...",
 *             "type":"requests","param":null,"code":"rate_limit_exceeded"}}
 *            (type "tokens" and a tokens message when TPM is the cause)
 *     Anthropic {"type":"error","error":{"type":"rate_limit_error",
 *             "message":"..."}}
 *   Headers on every response of an API path, for each limit that is set
 *   (an unlimited dimension sends none):
 *     OpenAI    x-ratelimit-limit-requests / -remaining-requests /
 *               -reset-requests and the -tokens trio; reset is a Go
 *               duration ("12ms", "1.5s", "6m0s").
 *     Anthropic anthropic-ratelimit-requests-limit / -remaining / -reset
 *               and anthropic-ratelimit-tokens-*; reset is RFC 3339 UTC
 *               ("2024-05-01T12:00:03Z", rounded up to the second).
 *   limit is the per-minute figure; remaining is what the current window
 *   still admits (after this request) in the same per-minute units:
 *   ceil(window remaining * limit / window capacity), so 0 exactly when
 *   the window is full and the limit when it is empty; reset is when the
 *   window will be empty again (all current entries expired), i.e. fully
 *   replenished.
 *
 * ==== Faults =============================================================
 *
 *   Which fault a request gets: the x-mock-fault request header if sent
 *   (the script is then NOT consumed); else the next script entry; once
 *   the script is used up, a fail_rate draw among the statuses the API
 *   documents: 429/500/503 on the OpenAI path, 429/500/529 on Anthropic's.
 *   Tokens (script entries and the header alike):
 *   ok, 200        normal answer (still subject to rate limits)
 *   429            429 + retry-after(-ms) from retry_after_ms; OpenAI
 *                  type "requests" code "rate_limit_exceeded" / Anthropic
 *                  rate_limit_error
 *   500            500; OpenAI type "server_error" / Anthropic api_error
 *   503            503 + retry-after(-ms); OpenAI "server_error" /
 *                  Anthropic api_error (Anthropic documents no 503, as a
 *                  proxy might send; overloaded_error is its 529)
 *   529            Anthropic: 529 (no retry-after), overloaded_error
 *                  "Overloaded".  OpenAI never sends 529: it answers 503
 *                  server_error "The engine is currently overloaded, please
 *                  try again later." + retry-after(-ms)
 *   504            Anthropic 504 timeout_error; OpenAI 504 server_error
 *   billing        Anthropic 402 billing_error; OpenAI (which has no 402)
 *                  its billing answer, the insufficient_quota 429 below
 *   insufficient_quota
 *                  OpenAI: 429 {"error":{"message":"You exceeded your
 *                  current quota, ...","type":"insufficient_quota",
 *                  "param":null,"code":"insufficient_quota"}} without
 *                  retry-after.  Anthropic has no quota 429: the real API
 *                  answers 400 invalid_request_error "Your credit balance
 *                  is too low to access the Anthropic API. Please go to
 *                  Plans & Billing to upgrade or purchase credits.", and so
 *                  does the mock.
 *   region         OpenAI: 403 {"error":{"code":
 *                  "unsupported_country_region_territory","message":
 *                  "Country, region, or territory not supported","param":
 *                  null,"type":"request_forbidden"}}.  Anthropic: 403
 *                  {"error":{"type":"forbidden","message":"Request not
 *                  allowed"}} -- the real API's exact (edge) body, without
 *                  the usual top-level "type":"error".
 *   reset          200 headers, then part of the body, then the connection
 *                  is closed: plain responses declare the full
 *                  Content-Length and send half of it; streams send the
 *                  preamble and one delta and stop without the chunked
 *                  terminator.  The client sees a transfer error.
 *   stall          nothing at all for stall_ms, then the connection is
 *                  closed without a response (ledger status 0, end
 *                  "error"; curl reports "empty reply", exit 52).
 *   truncated_sse  streams: the preamble and two deltas, then a clean end
 *                  of body without [DONE] / message_stop.  Plain requests:
 *                  the first half of the JSON body, with a Content-Length
 *                  that matches it.
 *   malformed_json 200 whose JSON does not parse: plain requests get the
 *                  real body with its final '}' replaced by
 *                  ",<<mock malformed>>"; streams get that treatment on the
 *                  first delta's JSON and then continue normally.
 *   Faults bypass the rate-limit windows (neither checked nor consumed),
 *   but still wait latency_ms and still carry the rate-limit headers.
 *
 * ==== Ledger =============================================================
 *
 *   With ledger_path, one JSON line per finished request (any path),
 *   appended and flushed under a lock when the request ends:
 *   {"t_ms":T,"id":N,"path":P,"status":S,"input_tokens":I,
 *    "output_tokens":O,"stream":B,"fault":F,"limit":L,"trace":R,
 *    "dur_ms":D,"end":E}
 *   t_ms     ms since server start at admission (body fully received)
 *   id       n as above, 0 for requests that got no id
 *   status   HTTP status sent, 0 if none (stall, shutdown, client gone)
 *   fault    the fault token applied, or null
 *   limit    "requests" / "tokens" for a rate-limit 429, else null
 *   trace    the X-Client-Request-Id request header, or null
 *   dur_ms   admission to end
 *   end      how libmicrohttpd saw the request end: "ok" | "error"
 *            (reset, stall, a failed write such as a client that went
 *            away mid-stream) | "client_abort" | "timeout" | "shutdown"
 *            (closed, or a wait cut short, by mocksrv_stop)
 *   output_tokens is what the answer carries (0 for errors), also for
 *   faulted 200s.  input_tokens is known once the body parsed (0 for
 *   404/405/413/400-bad-JSON).  The x-mock-fault header is only read on
 *   the two API paths.
 *
 * Threading: mocksrv_start/mocksrv_stop from one thread (not concurrently
 * on the same server); mocksrv_port, mocksrv_url and mocksrv_stats from any
 * thread while the server runs.
 */
#ifndef LLMORCH_MOCK_SERVER_H
#define LLMORCH_MOCK_SERVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ECHO_LEN pattern: 64 bytes, lowercase words each followed by a space. */
#define MOCKSRV_ECHO_PATTERN "lorem ipsum dolor sit amet consectetur adipiscing elit sed diam "

/* Bounds on untrusted input and on generated output. */
#define MOCKSRV_MAX_BODY_BYTES ((int64_t)8 * 1024 * 1024)
#define MOCKSRV_MAX_ECHO_BYTES ((int64_t)64 * 1024 * 1024)

/* A last user message containing this makes the answer a refusal. */
#define MOCKSRV_REFUSE_TRIGGER "MOCK_REFUSE"

/* What reached the server, for tests: borrowed for the callback only. */
struct mocksrv_capture {
    const char *method;
    const char *path;          /* without the query string */
    const char *query;         /* "k=v&k2=v2" as decoded by libmicrohttpd, "" if none */
    const char *headers;       /* every request header, "Name: value\n" each */
    const char *body;
    size_t body_len;
};

/* Called on a server thread for every request to an API path once its
 * body is in (before any check).  MUST be thread-safe and quick. */
typedef void mocksrv_capture_fn(void *user, const struct mocksrv_capture *c);

/* Every field's zero means its default, so {0} is a valid configuration. */
struct mocksrv_options {
    const char *host;          /* bind address, numeric or "localhost";
                                  default "127.0.0.1"; borrowed for the call */
    int port;                  /* 0 = ephemeral (read it back with mocksrv_port) */
    double rpm, tpm;           /* per-minute limits; 0 = unlimited */
    int64_t window_ms;         /* sliding window length; default 60000 */
    int64_t latency_ms;        /* before the response headers */
    int64_t latency_jitter_ms; /* + uniform [0, jitter] on top of latency_ms */
    int64_t ttft_ms;           /* streams: headers to first delta */
    int64_t inter_token_ms;    /* streams: between deltas */
    double fail_rate;          /* 0..1: chance of a random 429/500/503/529 */
    const char *script;        /* comma-separated fault tokens (see above);
                                  spaces around tokens are ignored; copied */
    const char *ledger_path;   /* JSON-lines ledger, appended; NULL = none */
    unsigned seed;             /* RNG seed for jitter and fail_rate */
    int64_t stall_ms;          /* "stall" holds the connection; default 30000 */
    int64_t hold_ms;           /* streams: extra wait before the first delta,
                                  added to ttft_ms */
    unsigned max_connections;  /* default 20000 */
    int64_t retry_after_ms;    /* for injected 429/503; default 1000 */
    int verbose;               /* nonzero: libmicrohttpd's own messages go
                                  to stderr while running (they always do
                                  during mocksrv_start) */
    const char *aws_secret_key; /* Bedrock paths verify the SigV4 signature
                                  with this secret (403
                                  InvalidSignatureException otherwise); NULL =
                                  not checked; copied */
    mocksrv_capture_fn *capture; /* tests: see what reached the server */
    void *capture_user;
};

struct mocksrv_counters {
    uint64_t requests;         /* finished requests (one ledger line each) */
    uint64_t status_2xx;       /* ...by the status sent */
    uint64_t status_4xx;
    uint64_t status_5xx;
    uint64_t status_other;     /* no status sent (stall, shutdown, client gone
                                  first) or an unusual one */
    uint64_t sent_429;         /* every 429, whatever its cause */
    uint64_t rate_limited;     /* 429s sent because an RPM/TPM window was full */
    uint64_t faults;           /* requests given an injected fault (counted
                                  when chosen, so in-flight ones included) */
    uint64_t streams;          /* SSE responses sent */
    uint64_t bytes_in;         /* request body bytes received */
    uint64_t bytes_out;        /* response body bytes handed to the socket */
    uint64_t connections_open; /* TCP connections open now */
    uint64_t connections_peak; /* most open at once */
};

struct mocksrv;

/* Start a server with its own threads (libmicrohttpd's epoll thread and
 * one timer thread).  o MAY be NULL (all defaults); it is borrowed for the
 * call, strings are copied.  Returns 0 and the server in *out, or -1
 * with a one-line message on stderr (bad option, bad script token, port
 * in use, ledger not writable, out of memory) and *out untouched. */
int mocksrv_start(const struct mocksrv_options *o, struct mocksrv **out);

/* The port actually bound (useful with port 0). */
int mocksrv_port(const struct mocksrv *s);

/* "http://127.0.0.1:PORT" (an IPv6 host is bracketed; a wildcard bind
 * address gives the loopback one).  Owned by s, valid until mocksrv_stop. */
const char *mocksrv_url(const struct mocksrv *s);

/* A snapshot of the counters (each read atomically; the set is not one
 * instant).  s MAY be NULL: all zeros. */
void mocksrv_stats(const struct mocksrv *s, struct mocksrv_counters *c);

/* Stop: open connections are closed (waiting ones resumed and dropped),
 * every remaining request gets its ledger line, threads are joined and
 * everything is freed.  NULL-safe.  MUST NOT be called from a server
 * callback thread. */
void mocksrv_stop(struct mocksrv *s);

/* The whole command line program: parse flags (see --help), raise
 * RLIMIT_NOFILE to its hard limit, start, print
 * "listening on http://127.0.0.1:PORT\n" on stdout (flushed), run until
 * SIGINT or SIGTERM, stop, print a counters summary on stderr.  Returns
 * the exit status: 0 after a signal, 1 if the server could not start, 2 for
 * a bad command line (one-line message on stderr).  Blocks SIGINT/SIGTERM
 * in the calling thread (and so in the threads it starts) and ignores
 * SIGPIPE. */
int mocksrv_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* LLMORCH_MOCK_SERVER_H */
