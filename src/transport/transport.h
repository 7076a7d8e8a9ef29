/* The transport interface: how an attempt's HTTP request reaches a server
 * and how the reply comes back.  Two implementations: curl (http.c, the
 * only code that includes curl) and local (local.c, in-process replies for
 * the mock provider).  Both complete an attempt through the same callbacks
 * (llm__xfer_cbs), so the engine has one attempt completion path whatever
 * answers.  Loop thread only. */
#ifndef LLMORCH_TRANSPORT_H
#define LLMORCH_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmorch/error.h"
#include "llmorch/ext/provider.h"

struct llm__loop;
struct llm__transport;
/* One transfer; what it holds depends on the implementation. */
struct llm__xfer;

struct llm__xfer_opts {
    int64_t timeout_ms;          /* whole attempt; 0 = none */
    int64_t connect_timeout_ms;  /* 0 = curl default */
    size_t max_response_bytes;   /* body cap */
    bool stream;                 /* 2xx body goes to on_data instead of the buffer */
    /* Silence limits (0 = none): no byte of the response within
     * first_byte_timeout_ms of the start, or no byte for idle_timeout_ms
     * once the response has begun, fails the transfer with
     * LLM_ERR_TIMEOUT (a hung server is found long before timeout_ms).
     * Ignored by in-process transports. */
    int64_t first_byte_timeout_ms;
    int64_t idle_timeout_ms;
    /* For in-process transports, which answer the request itself rather
     * than its wire form: the request (borrowed until on_done) and the
     * attempt number, counting from 1.  Ignored by curl. */
    const struct llm_request *origin;
    unsigned attempt;
    /* curl: proxy URL ("" = none, NULL = the environment's, read when the
     * transport was made) and trust store; borrowed until on_done. */
    const char *proxy;
    const char *ca_file;
    const char *ca_path;
};

/* What happened to one transfer.  Borrowed for the on_done call only. */
struct llm__xfer_outcome {
    enum llm_error transport_error; /* LLM_OK when a complete response arrived */
    const char *transport_message;  /* NULL when transport_error is OK */
    int status;                     /* 0 when no response */
    struct llm_http_headers headers;
    const char *body;               /* buffered body (non-streamed, or any non-2xx) */
    size_t body_len;
    /* Timings relative to the transfer start, µs; -1 = not reached. */
    int64_t dns_us, connect_us, tls_us, pretransfer_us, first_byte_us, total_us;
    uint64_t bytes_sent, bytes_received;
};

struct llm__xfer_cbs {
    /* Streamed 2xx body bytes.  Return 0 to go on; non-zero aborts the
     * transfer, which then completes with transport_error CANCELLED (or
     * whatever on_data's caller sets via llm__transport_fail). */
    int (*on_data)(void *user, const char *data, size_t len);
    /* Exactly once, unless the transfer was cancelled. */
    void (*on_done)(void *user, const struct llm__xfer_outcome *o);
    /* Optional.  The final response's status and headers, as soon as they
     * are in (before the body).  Runs inside the transport: it MUST NOT
     * start, cancel or finish transfers (arm a timer instead).  `headers`
     * is borrowed for the call. */
    void (*on_headers)(void *user, int status, const struct llm_http_headers *headers);
};

/* Every implementation's slots; see the wrappers below for the contracts. */
struct llm__transport_vtable {
    const char *name;
    /* Message for a start() that failed ("could not start the HTTP transfer"). */
    const char *start_failure;
    enum llm_error (*start)(void *impl, struct llm_http_request *req,
                            const struct llm__xfer_opts *o, const struct llm__xfer_cbs *cbs,
                            void *user, struct llm__xfer **out);
    void (*cancel)(void *impl, struct llm__xfer *x);
    void (*fail)(struct llm__xfer *x, enum llm_error err, const char *message);
    /* Optional (NULL = nothing moved on the wire). */
    void (*progress)(void *impl, const struct llm__xfer *x, int *status, uint64_t *sent,
                     uint64_t *recv);
    void (*destroy)(void *impl);
};

struct llm__transport {
    const struct llm__transport_vtable *vt;
    void *impl;
};

/* The curl transport (http.c): libcurl multi handles on `loop`.  Every
 * request carries "User-Agent: `user_agent`" (copied; NULL = none) unless
 * it has a User-Agent header of its own. */
enum llm_error llm__transport_new_curl(struct llm__loop *loop, const char *user_agent,
                                       struct llm__transport **out);

/* An in-process answerer: the reply to attempt `attempt` (from 1) of
 * `req`, made when the attempt starts.  Returns LLM_OK or
 * LLM_ERR_OUT_OF_MEMORY. */
typedef enum llm_error llm__local_reply_fn(const void *ctx, const struct llm_request *req,
                                           unsigned attempt, struct llm_local_response *out);

/* The local transport (local.c): each attempt is answered in-process by
 * `reply` (the mock), after the reply's simulated latency on a `loop`
 * timer.  `ctx` is borrowed and MUST outlive the transport. */
enum llm_error llm__transport_new_local(struct llm__loop *loop, llm__local_reply_fn *reply,
                                        const void *ctx, struct llm__transport **out);

/* Start a transfer.  `req` is moved into the transfer (cleared on return,
 * whatever the result).  Returns LLM_OK, or an error (OUT_OF_MEMORY,
 * INTERNAL...) after which no callback is ever called. */
enum llm_error llm__transport_start(struct llm__transport *t, struct llm_http_request *req,
                                    const struct llm__xfer_opts *o,
                                    const struct llm__xfer_cbs *cbs, void *user,
                                    struct llm__xfer **out);

/* Abort a transfer without calling on_done.  MUST NOT be called from inside
 * on_data (return non-zero there instead). */
void llm__transport_cancel(struct llm__transport *t, struct llm__xfer *x);

/* From on_data: make the abort that follows report this error. */
void llm__transport_fail(struct llm__transport *t, struct llm__xfer *x, enum llm_error err,
                         const char *message);

/* What a transfer in progress has moved so far, for the record of an
 * attempt cut by a deadline or a cancel: the response status (0 before
 * it), bytes sent and received (headers included). */
void llm__transport_progress(struct llm__transport *t, const struct llm__xfer *x, int *status,
                             uint64_t *sent, uint64_t *recv);

/* All transfers MUST have completed or been cancelled.  NULL-safe. */
void llm__transport_free(struct llm__transport *t);

#endif /* LLMORCH_TRANSPORT_H */
