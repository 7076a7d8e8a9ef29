/* HTTP transport: a libcurl multi handle driven by the engine's loop through
 * curl's socket API (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION), so thousands of
 * transfers cost O(active sockets) per event, not O(transfers).  The only
 * code in the library that includes curl.  Loop thread only. */
#ifndef LLMORCH_HTTP_H
#define LLMORCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmorch/error.h"
#include "llmorch/ext/provider.h"

struct llm__loop;
struct llm__http;
struct llm__xfer;

struct llm__xfer_opts {
    int64_t timeout_ms;          /* whole attempt; 0 = none */
    int64_t connect_timeout_ms;  /* 0 = curl default */
    size_t max_response_bytes;   /* buffered body cap */
    bool stream;                 /* 2xx body goes to on_data instead of the buffer */
};

/* What happened to one transfer.  Borrowed for the on_done call only. */
struct llm__xfer_outcome {
    enum llm_error transport_error; /* LLM_OK when a complete response arrived */
    const char *transport_message;  /* NULL when transport_error is OK */
    int status;                     /* 0 when no response */
    struct llm_http_headers headers;
    const char *body;               /* buffered body (non-streamed, or any non-2xx) */
    size_t body_len;
    /* curl timings relative to the transfer start, µs; -1 = not reached. */
    int64_t dns_us, connect_us, tls_us, pretransfer_us, first_byte_us, total_us;
    uint64_t bytes_sent, bytes_received;
};

struct llm__xfer_cbs {
    /* Streamed 2xx body bytes.  Return 0 to go on; non-zero aborts the
     * transfer, which then completes with transport_error CANCELLED (or
     * whatever on_data's caller sets via llm__xfer_fail). */
    int (*on_data)(void *user, const char *data, size_t len);
    /* Exactly once, unless the transfer was cancelled with llm__http_cancel. */
    void (*on_done)(void *user, const struct llm__xfer_outcome *o);
    /* Optional.  The final response's status and headers, as soon as they
     * are in (before the body).  Runs inside a curl callback: it MUST NOT
     * start, cancel or finish transfers (arm a timer instead).  `headers`
     * is borrowed for the call. */
    void (*on_headers)(void *user, int status, const struct llm_http_headers *headers);
};

int llm__http_new(struct llm__loop *loop, struct llm__http **out);
/* All transfers MUST have completed or been cancelled. */
void llm__http_free(struct llm__http *h);

/* Start a transfer.  `req` is moved into the transfer (cleared on return,
 * whatever the result).  Returns LLM_OK, OUT_OF_MEMORY or INTERNAL. */
enum llm_error llm__http_start(struct llm__http *h, struct llm_http_request *req,
                               const struct llm__xfer_opts *o, const struct llm__xfer_cbs *cbs,
                               void *user, struct llm__xfer **out);

/* Abort a transfer without calling on_done.  MUST NOT be called from inside
 * on_data (return non-zero there instead). */
void llm__http_cancel(struct llm__http *h, struct llm__xfer *x);

/* From on_data: make the abort that follows report this error. */
void llm__xfer_fail(struct llm__xfer *x, enum llm_error err, const char *message);

/* Number of transfers in progress. */
size_t llm__http_active(const struct llm__http *h);

#endif /* LLMORCH_HTTP_H */
