/* Request handling: read the body, decide the answer once (validation,
 * fault, rate limits, reply), wait for it without blocking, send it.
 *
 * Life of a request (one struct req, MHD's per-request closure):
 *   PH_BODY  the body arrives in pieces (bounded at 8 MiB);
 *   on the final call decide() chooses the answer (a struct answer: no
 *            libmicrohttpd there) and sets the time it is due (latency +
 *            jitter); respond() builds the whole MHD_Response up front;
 *   PH_WAIT  suspended until due (mock_timer.c), then queued;
 *   PH_STALL suspended for stall_ms, then the connection is dropped;
 *   PH_SENT  MHD owns the response; streams pace themselves in their
 *            content reader the same way (suspend, return 0, resumed).
 * mocksrv__on_completed writes the ledger line and frees the request. */
#include "mock_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PATH_BYTES 1024
#define MAX_TRACE_BYTES 512
#define REPLY_PREFIX "mock reply to: "
#define REPLY_ECHO_BYTES 200
#define STREAM_BLOCK 4096

enum req_kind { K_HEALTH, K_API, K_MODELS, K_NOT_FOUND, K_BAD_METHOD };
enum req_phase { PH_BODY, PH_WAIT, PH_STALL, PH_SENT };

struct req {
    struct mocksrv *srv;
    enum req_kind kind;
    enum mocksrv__api api; /* error style; NONE = OpenAI style */
    enum req_phase phase;
    char *path;
    int64_t admit_ms; /* arrival until admission */
    int64_t due_ms;
    struct mocksrv__buf body;
    bool too_large;
    struct MHD_Response *resp; /* built, not yet queued */
    unsigned status;           /* of resp; then what was queued */
    bool is_stream;            /* resp is SSE */
    size_t bytes_out;          /* body size of a buffer response */
    /* ledger */
    uint64_t id;
    uint64_t err_id; /* request id of an answer given before `id` (0: none yet) */
    int64_t in_tok, out_tok;
    bool stream;
    enum mocksrv__fault fault;
    enum mocksrv__limit limit;
    char *trace;
    /* Formats of mock_formats.c: the model and stream flag their path names
     * (-1: the body says). */
    char *path_model;
    int path_stream;
};

/* ---- small helpers ----------------------------------------------------------- */

static char *dup_bounded(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void ctr_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static bool stopping(const struct mocksrv *s)
{
    return atomic_load_explicit(&s->stopping, memory_order_acquire);
}

static void add_header(struct MHD_Response *resp, const char *name, const char *value)
{
    /* Only fails on OOM or a bad name; a missing header is then the
     * symptom, which is the best a mock can do there. */
    (void)MHD_add_response_header(resp, name, value);
}

static void add_header_i64(struct MHD_Response *resp, const char *name, int64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    add_header(resp, name, tmp);
}

static void add_retry_after(struct MHD_Response *resp, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    add_header_i64(resp, "retry-after", (ms + 999) / 1000);
    add_header_i64(resp, "retry-after-ms", ms);
}

/* What is left of the window, in the per-minute units of the limit header:
 * remaining / window capacity of the per-minute figure, rounded up so that
 * 0 means exactly "the window is full" (a client waits for reset then). */
static int64_t remaining_per_min(int64_t remaining, int64_t window_cap, int64_t per_min)
{
    if (remaining <= 0 || window_cap <= 0)
        return 0;
    if (remaining >= window_cap)
        return per_min;
    double v = ceil((double)remaining * (double)per_min / (double)window_cap);
    return v < (double)per_min ? (int64_t)v : per_min;
}

static void add_ratelimit_headers(struct MHD_Response *resp, enum mocksrv__api api,
                                  const struct mocksrv__rl_view *v)
{
    char tmp[MOCKSRV__TIMEBUF];
    if (mocksrv__format_of(api) != NULL)
        return; /* Gemini, Bedrock and Ollama send no rate-limit headers */
    /* limit and remaining in the same units (per minute, as the real APIs
     * say): with window_ms != 60000 the window's own remaining would never
     * reach the per-minute limit. */
    int64_t req_left = remaining_per_min(v->requests_remaining, v->requests_window,
                                         v->requests_per_min);
    int64_t tok_left = remaining_per_min(v->tokens_remaining, v->tokens_window,
                                         v->tokens_per_min);
    if (api == MOCKSRV__API_ANTHROPIC) {
        if (v->has_requests) {
            add_header_i64(resp, "anthropic-ratelimit-requests-limit", v->requests_per_min);
            add_header_i64(resp, "anthropic-ratelimit-requests-remaining", req_left);
            mocksrv__rfc3339_in(tmp, v->requests_reset_ms);
            add_header(resp, "anthropic-ratelimit-requests-reset", tmp);
        }
        if (v->has_tokens) {
            add_header_i64(resp, "anthropic-ratelimit-tokens-limit", v->tokens_per_min);
            add_header_i64(resp, "anthropic-ratelimit-tokens-remaining", tok_left);
            mocksrv__rfc3339_in(tmp, v->tokens_reset_ms);
            add_header(resp, "anthropic-ratelimit-tokens-reset", tmp);
        }
        return;
    }
    if (v->has_requests) {
        add_header_i64(resp, "x-ratelimit-limit-requests", v->requests_per_min);
        add_header_i64(resp, "x-ratelimit-remaining-requests", req_left);
        mocksrv__go_duration(tmp, v->requests_reset_ms);
        add_header(resp, "x-ratelimit-reset-requests", tmp);
    }
    if (v->has_tokens) {
        add_header_i64(resp, "x-ratelimit-limit-tokens", v->tokens_per_min);
        add_header_i64(resp, "x-ratelimit-remaining-tokens", tok_left);
        mocksrv__go_duration(tmp, v->tokens_reset_ms);
        add_header(resp, "x-ratelimit-reset-tokens", tmp);
    }
}

/* The request id of r's answer: req_mock_<n> once r has its id, else
 * req_mock_err_<k> (answers given before an id: bad bodies, 404s), as the
 * real APIs give every answer one. */
static void request_id_of(struct req *r, char out[48])
{
    if (r->id != 0) {
        snprintf(out, 48, "req_mock_%llu", (unsigned long long)r->id);
        return;
    }
    if (r->err_id == 0)
        r->err_id = (uint64_t)atomic_fetch_add(&r->srv->next_err_id, 1) + 1;
    snprintf(out, 48, "req_mock_err_%llu", (unsigned long long)r->err_id);
}

static void add_request_id(struct req *r)
{
    char tmp[48];
    request_id_of(r, tmp);
    const struct mocksrv__format *f = mocksrv__format_of(r->api);
    if (f != NULL) {
        if (f->request_id_header != NULL)
            add_header(r->resp, f->request_id_header, tmp);
        return;
    }
    add_header(r->resp, r->api == MOCKSRV__API_ANTHROPIC ? "request-id" : "x-request-id", tmp);
}

/* r's response becomes one owning b's bytes (b is reset); NULL if b
 * failed or on OOM. */
static void buffer_response(struct req *r, struct mocksrv__buf *b, const char *content_type)
{
    r->resp = NULL;
    if (b->failed || b->data == NULL) {
        mocksrv__buf_free(b);
        return;
    }
    size_t len;
    char *data = mocksrv__buf_take(b, &len);
    r->resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (r->resp == NULL) {
        free(data);
        return;
    }
    r->bytes_out = len;
    add_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
}

/* An error in a format of mock_formats.c, named by `type` in its own
 * vocabulary (NULL: the usual one for the status); retry_ms > 0: the wait
 * the format puts in its body (Gemini's RetryInfo). */
static void format_error(struct req *r, const struct mocksrv__format *f, unsigned status,
                         const char *type, const char *message, int64_t retry_ms)
{
    struct mocksrv__buf b = {0};
    const char *hdr = NULL;
    char hv[160];
    f->error(&b, status, type, message, retry_ms, &hdr, hv, sizeof(hv));
    buffer_response(r, &b, "application/json");
    if (r->resp != NULL && hdr != NULL)
        add_header(r->resp, hdr, hv);
    r->status = status;
}

/* Set r's answer to an error body in the API's style.  For Anthropic,
 * type is the error.type; for OpenAI, type and code as given. */
static void set_error(struct req *r, unsigned status, const char *type, const char *code,
                      const char *message)
{
    struct mocksrv__buf b = {0};
    const struct mocksrv__format *f = mocksrv__format_of(r->api);
    if (f != NULL) {
        format_error(r, f, status, NULL, message, 0);
        return;
    }
    char rid[48];
    request_id_of(r, rid);
    if (r->api == MOCKSRV__API_ANTHROPIC)
        mocksrv__anthropic_error(&b, type, message, rid);
    else
        mocksrv__openai_error(&b, message, type, code);
    buffer_response(r, &b, "application/json");
    r->status = status;
}

static void set_raw(struct req *r, unsigned status, const char *body, const char *ctype)
{
    struct mocksrv__buf b = {0};
    mocksrv__buf_str(&b, body);
    buffer_response(r, &b, ctype);
    r->status = status;
}

/* ---- content readers ----------------------------------------------------------- */

/* "reset" on a plain answer: Content-Length says len, we send `send`
 * bytes and then make MHD drop the connection. */
struct cut_body {
    struct mocksrv *srv;
    char *data;
    size_t len, send;
};

static ssize_t cut_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct cut_body *cb = cls;
    if (pos >= cb->send)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = cb->send - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, cb->data + pos, n);
    ctr_add(&cb->srv->ctr.bytes_out, n);
    return (ssize_t)n;
}

static void cut_free(void *cls)
{
    struct cut_body *cb = cls;
    free(cb->data);
    free(cb);
}

enum stream_step { S_PREAMBLE, S_DELTAS, S_TAIL, S_END };

struct stream {
    struct mocksrv *srv;
    struct MHD_Connection *conn;
    struct mocksrv__reply rep; /* model and text point at the copies below */
    char *model;
    char *text;
    enum mocksrv__fault fault; /* NONE, RESET, TRUNCATED_SSE or MALFORMED_JSON */
    enum stream_step step;
    size_t off;        /* next delta starts at text[off] */
    unsigned deltas;   /* sent so far */
    bool started;
    int64_t next_due;  /* of the next delta */
    struct mocksrv__buf out;
    size_t out_pos;    /* sent part of out */
};

static void stream_free(void *cls)
{
    struct stream *st = cls;
    mocksrv__buf_free(&st->out);
    free(st->model);
    free(st->text);
    free(st);
}

/* reset stops a stream after its first delta, truncated_sse after two. */
static bool fault_cuts_here(const struct stream *st)
{
    return (st->fault == MOCKSRV__F_RESET && st->deltas >= 1) ||
           (st->fault == MOCKSRV__F_TRUNCATED_SSE && st->deltas >= 2);
}

/* Produces the event stream frame by frame; when the next delta is
 * not due yet the connection is suspended and 0 returned, which is the
 * documented way to say "no data yet" without a busy loop. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    (void)pos;
    for (;;) {
        if (st->out_pos < st->out.len) {
            size_t n = st->out.len - st->out_pos;
            if (n > max)
                n = max;
            memcpy(buf, st->out.data + st->out_pos, n);
            st->out_pos += n;
            ctr_add(&st->srv->ctr.bytes_out, n);
            return (ssize_t)n;
        }
        if (st->out.failed)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        st->out.len = 0;
        st->out_pos = 0;
        if (stopping(st->srv))
            return MHD_CONTENT_READER_END_WITH_ERROR;

        int64_t now = mocksrv__now_ms();
        if (!st->started) {
            st->started = true;
            st->next_due = now + st->srv->opt.ttft_ms + st->srv->opt.hold_ms;
        }
        switch (st->step) {
        case S_PREAMBLE:
            mocksrv__sse_preamble(&st->out, &st->rep);
            st->step = S_DELTAS;
            continue;
        case S_DELTAS:
            if (st->off >= st->rep.text_len) {
                st->step = S_TAIL;
                continue;
            }
            if (fault_cuts_here(st))
                return st->fault == MOCKSRV__F_RESET ? MHD_CONTENT_READER_END_WITH_ERROR
                                                      : MHD_CONTENT_READER_END_OF_STREAM;
            if (now < st->next_due) {
                if (mocksrv__timer_suspend_until(st->srv->timer, st->conn, st->next_due))
                    return 0;
                if (stopping(st->srv))
                    return MHD_CONTENT_READER_END_WITH_ERROR;
                /* Out of memory for a timer entry: send now rather than
                 * spin.  Pacing suffers, correctness does not. */
            }
            /* Emit every delta already due, up to what MHD takes in one
             * call, so an unpaced stream is not one write per few words. */
            do {
                size_t n = mocksrv__next_delta_len(st->rep.text, st->rep.text_len, st->off);
                bool bad = st->fault == MOCKSRV__F_MALFORMED_JSON && st->deltas == 0;
                mocksrv__sse_delta(&st->out, &st->rep, st->off, n, bad);
                st->off += n;
                st->deltas++;
                st->next_due += st->srv->opt.inter_token_ms;
            } while (st->off < st->rep.text_len && st->out.len < max && st->next_due <= now &&
                     !fault_cuts_here(st));
            continue;
        case S_TAIL:
            if (st->fault == MOCKSRV__F_RESET)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            if (st->fault == MOCKSRV__F_TRUNCATED_SSE)
                return MHD_CONTENT_READER_END_OF_STREAM;
            mocksrv__sse_tail(&st->out, &st->rep);
            st->step = S_END;
            continue;
        case S_END:
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
    }
}

/* ---- parsing the request -------------------------------------------------------- */

/* Appends the text of a content value (string, or array of text blocks)
 * to b if b is non-NULL; returns its length in bytes either way. */
static size_t content_text(const cJSON *content, struct mocksrv__buf *b)
{
    if (cJSON_IsString(content)) {
        size_t n = strlen(content->valuestring);
        if (b != NULL)
            mocksrv__buf_add(b, content->valuestring, n);
        return n;
    }
    size_t total = 0;
    const cJSON *block;
    if (!cJSON_IsArray(content))
        return 0;
    cJSON_ArrayForEach(block, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(block, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(block, "text");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 &&
            cJSON_IsString(text)) {
            size_t n = strlen(text->valuestring);
            if (b != NULL)
                mocksrv__buf_add(b, text->valuestring, n);
            total += n;
        }
    }
    return total;
}

struct parsed {
    const char *model;
    bool stream, include_usage;
    bool has_max;
    int64_t max_tokens;
    size_t prompt_bytes;
    struct mocksrv__buf last_user; /* text of the last user message */
};

/* NULL if the request is acceptable, else the 400 message. */
static const char *parse_request(struct req *r, const cJSON *root, struct parsed *p)
{
    bool anth = r->api == MOCKSRV__API_ANTHROPIC;
    if (!cJSON_IsObject(root))
        return anth ? "Request body must be a JSON object" : "The request body must be a JSON object.";
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0')
        return anth ? "model: Field required" : "you must provide a model parameter";
    p->model = model->valuestring;

    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return anth ? "messages: Field required" : "'messages' is a required property";
    const cJSON *m, *last_user = NULL;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return anth ? "messages: each message must have a role"
                        : "Invalid 'messages': each message must have a string 'role'.";
        if (content != NULL && !cJSON_IsString(content) && !cJSON_IsArray(content) &&
            !cJSON_IsNull(content))
            return anth ? "messages: content must be a string or an array of blocks"
                        : "Invalid 'messages': 'content' must be a string or an array.";
        p->prompt_bytes += content_text(content, NULL);
        if (strcmp(role->valuestring, "user") == 0)
            last_user = m;
    }
    if (anth)
        p->prompt_bytes += content_text(cJSON_GetObjectItemCaseSensitive(root, "system"), NULL);
    if (last_user != NULL) {
        p->last_user.max = (size_t)MOCKSRV_MAX_BODY_BYTES;
        content_text(cJSON_GetObjectItemCaseSensitive(last_user, "content"), &p->last_user);
        if (p->last_user.failed)
            return "request too large"; /* cannot happen below the body cap */
    }

    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (mt == NULL && !anth)
        mt = cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens");
    if (anth && (mt == NULL || cJSON_IsNull(mt)))
        return "max_tokens: Field required"; /* required by the Messages API */
    if (mt != NULL && !cJSON_IsNull(mt)) {
        double d = cJSON_IsNumber(mt) ? mt->valuedouble : -1;
        if (!(d >= 1 && d <= 1e15 && floor(d) == d))
            return anth ? "max_tokens: Input should be a valid integer greater than or equal to 1"
                        : "Invalid 'max_tokens': integer below minimum value or not an integer.";
        p->has_max = true;
        p->max_tokens = (int64_t)d;
    }
    p->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    p->include_usage = !anth && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    return NULL;
}

/* The reply text (malloc'd, *len bytes, NUL-terminated), or NULL with
 * *err set to a 400 message (or NULL on OOM). */
static char *make_reply_text(const struct parsed *p, size_t *len, const char **err)
{
    static const char echo_tag[] = "ECHO_LEN:";
    const char *u = p->last_user.data ? p->last_user.data : "";
    size_t ulen = p->last_user.len;
    *err = NULL;
    if (ulen >= sizeof(echo_tag) - 1 && memcmp(u, echo_tag, sizeof(echo_tag) - 1) == 0) {
        const char *d = u + sizeof(echo_tag) - 1;
        int64_t n = 0;
        int digits = 0;
        while (*d >= '0' && *d <= '9' && n <= MOCKSRV_MAX_ECHO_BYTES) {
            n = n * 10 + (*d++ - '0');
            digits++;
        }
        if (digits == 0 || n > MOCKSRV_MAX_ECHO_BYTES) {
            *err = "ECHO_LEN:N needs a decimal N of at most 67108864 bytes";
            return NULL;
        }
        char *t = malloc((size_t)n + 1);
        if (t == NULL)
            return NULL;
        static const char pat[] = MOCKSRV_ECHO_PATTERN;
        for (size_t i = 0; i < (size_t)n; i += 64)
            memcpy(t + i, pat, (size_t)n - i < 64 ? (size_t)n - i : 64);
        t[n] = '\0';
        *len = (size_t)n;
        return t;
    }
    size_t keep = mocksrv__utf8_floor(u, ulen, REPLY_ECHO_BYTES);
    size_t plen = sizeof(REPLY_PREFIX) - 1;
    char *t = malloc(plen + keep + 1);
    if (t == NULL)
        return NULL;
    memcpy(t, REPLY_PREFIX, plen);
    memcpy(t + plen, u, keep);
    t[plen + keep] = '\0';
    *len = plen + keep;
    return t;
}

/* ---- choosing the fault ---------------------------------------------------------- */

/* fail_rate draws, per API, among the statuses that API documents: OpenAI
 * has no 529, Anthropic no 503. */
static const enum mocksrv__fault random_faults_openai[] = {MOCKSRV__F_429, MOCKSRV__F_500,
                                                           MOCKSRV__F_503};
static const enum mocksrv__fault random_faults_anthropic[] = {MOCKSRV__F_429, MOCKSRV__F_500,
                                                              MOCKSRV__F_529};

/* false: the x-mock-fault header `h` (NULL: none) names no fault (400). */
static bool choose_fault(struct req *r, const char *h, enum mocksrv__fault *out)
{
    struct mocksrv *s = r->srv;
    if (h != NULL) {
        while (*h == ' ' || *h == '\t')
            h++;
        size_t n = strlen(h);
        while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
            n--;
        return mocksrv__fault_parse(h, n, out);
    }
    *out = MOCKSRV__F_NONE;
    pthread_mutex_lock(&s->draw_lock);
    if (s->script_pos < s->script_len) {
        *out = s->script[s->script_pos++];
    } else if (s->opt.fail_rate > 0) {
        /* Two draws per request when enabled, so the sequence of faults
         * is a function of the seed and the request order alone. */
        double u = (double)(mocksrv__rng_locked(s) >> 11) * 0x1.0p-53;
        uint64_t k = mocksrv__rng_locked(s);
        if (u < s->opt.fail_rate)
            *out = r->api == MOCKSRV__API_ANTHROPIC
                       ? random_faults_anthropic[k % (sizeof(random_faults_anthropic) /
                                                      sizeof(random_faults_anthropic[0]))]
                       : random_faults_openai[k % (sizeof(random_faults_openai) /
                                                   sizeof(random_faults_openai[0]))];
    }
    pthread_mutex_unlock(&s->draw_lock);
    return true;
}

/* ---- the decision ------------------------------------------------------------------
 *
 * What to answer is decided from the request and the server's state
 * (script, fault draw, rate window) into a struct answer; nothing in this
 * section calls libmicrohttpd.  The glue below turns the answer into an
 * MHD_Response. */

/* What the connection says besides the path and the body (the glue reads
 * it; borrowed for the decision). */
struct asked {
    const char *method;
    const char *fault;           /* x-mock-fault, or NULL */
    const char *trace;           /* X-Client-Request-Id, or NULL */
    bool anthropic_version;      /* the client sent anthropic-version */
    const char *bad_signature;   /* Bedrock: why its SigV4 check failed, or NULL */
};

enum answer_kind {
    A_NONE = 0,                  /* out of memory: the glue answers 500 */
    A_ERROR,                     /* an error body in the API's style */
    A_RAW,                       /* a literal body */
    A_MODELS,                    /* the model list */
    A_REPLY,                     /* a completion, plain or streamed */
    A_STALL                      /* no answer: the connection is dropped when due */
};

struct answer {
    enum answer_kind kind;
    unsigned status;
    const char *type, *code;     /* A_ERROR: error.type (and OpenAI's code) */
    const char *message;         /* A_ERROR: a literal or msg */
    const char *format_type;     /* A_ERROR of a mock_formats.c API: its own error
                                    name (NULL: the usual one for the status) */
    const char *body, *ctype;    /* A_RAW */
    bool has_retry_after;        /* send Retry-After for retry_after_ms */
    int64_t retry_after_ms;
    bool has_limits;             /* send the rate-limit headers of `limits` */
    struct mocksrv__rl_view limits;
    /* A_REPLY (owned: model, text) */
    struct mocksrv__reply rep;
    char *model, *text;
    bool stream;
    enum mocksrv__fault fault;   /* transport fault on the reply, or NONE */
    /* Tool calls, a refusal, or a replacement text (mock_tools.c); owned. */
    struct mocksrv__tools tools;
    char msg[MAX_PATH_BYTES + 512];
};

static void answer_error(struct answer *a, unsigned status, const char *type, const char *code,
                         const char *message)
{
    a->kind = A_ERROR;
    a->status = status;
    a->type = type;
    a->code = code;
    a->message = message;
}

static void answer_raw(struct answer *a, unsigned status, const char *body, const char *ctype)
{
    a->kind = A_RAW;
    a->status = status;
    a->body = body;
    a->ctype = ctype;
}

static void answer_free(struct answer *a)
{
    free(a->model);
    free(a->text);
    a->model = a->text = NULL;
    mocksrv__tools_free(&a->tools);
}

static void rate_limited_answer(const struct req *r, const struct mocksrv__rl_view *v,
                                struct answer *a)
{
    char wait[MOCKSRV__TIMEBUF];
    char *msg = a->msg;
    size_t n = sizeof(a->msg);
    mocksrv__go_duration(wait, v->retry_after_ms);
    bool req = v->cause == MOCKSRV__LIMIT_REQUESTS;
    long long per_min = req ? v->requests_per_min : v->tokens_per_min;
    long long window = req ? v->requests_window : v->tokens_window;
    long long used = req ? window - v->requests_remaining : window - v->tokens_remaining;
    long long window_ms = (long long)r->srv->opt.window_ms;
    if (r->api == MOCKSRV__API_ANTHROPIC) {
        if (v->too_large)
            snprintf(msg, n,
                     "This request would exceed the rate limit for your organization of %lld "
                     "tokens per minute: it asks for %lld tokens and the %lldms window admits "
                     "%lld. Please reduce the prompt length or the maximum tokens requested.",
                     per_min, (long long)v->cost, window_ms, window);
        else
            snprintf(msg, n,
                     "This request would exceed the rate limit for your organization of %lld %s "
                     "per minute (%lld per %lldms window, %lld used). Please try again in %s.",
                     per_min, req ? "requests" : "tokens", window, window_ms, used, wait);
        answer_error(a, 429, "rate_limit_error", NULL, msg);
    } else {
        if (v->too_large)
            snprintf(msg, n,
                     "Request too large for tokens per min (TPM) in organization org-mock: "
                     "Limit %lld (%lld per %lldms window), Requested %lld. The input or output "
                     "tokens must be reduced in order to run successfully.",
                     per_min, window, window_ms, (long long)v->cost);
        else if (req)
            snprintf(msg, n,
                     "Rate limit reached for requests per min (RPM) in organization org-mock: "
                     "Limit %lld (%lld per %lldms window), Used %lld, Requested 1. "
                     "Please try again in %s.",
                     per_min, window, window_ms, used, wait);
        else
            snprintf(msg, n,
                     "Rate limit reached for tokens per min (TPM) in organization org-mock: "
                     "Limit %lld (%lld per %lldms window), Used %lld, Requested %lld. "
                     "Please try again in %s.",
                     per_min, window, window_ms, used, (long long)v->cost, wait);
        answer_error(a, 429, req ? "requests" : "tokens", "rate_limit_exceeded", msg);
    }
    a->has_retry_after = true;
    a->retry_after_ms = v->retry_after_ms;
}

static const char openai_region_body[] =
    "{\"error\":{\"code\":\"unsupported_country_region_territory\","
    "\"message\":\"Country, region, or territory not supported\",\"param\":null,"
    "\"type\":\"request_forbidden\"}}";
static const char anthropic_region_body[] =
    "{\"error\":{\"type\":\"forbidden\",\"message\":\"Request not allowed\"}}";

static const char openai_quota_message[] =
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors.";

/* The error faults of an Anthropic client. */
static void anthropic_fault_answer(enum mocksrv__fault f, int64_t ra, struct answer *a)
{
    switch (f) {
    case MOCKSRV__F_429:
        answer_error(a, 429, "rate_limit_error", NULL,
                     "Number of requests has exceeded your rate limit (mock fault). "
                     "Please try again later.");
        a->has_retry_after = true;
        a->retry_after_ms = ra;
        return;
    case MOCKSRV__F_500:
        answer_error(a, 500, "api_error", NULL, "Internal server error");
        return;
    case MOCKSRV__F_503:
        /* Anthropic documents no 503 (a proxy in front may send one): it is
         * a plain api_error, not overloaded_error, which means 529. */
        answer_error(a, 503, "api_error", NULL, "Service unavailable");
        a->has_retry_after = true;
        a->retry_after_ms = ra;
        return;
    case MOCKSRV__F_529:
        answer_error(a, 529, "overloaded_error", NULL, "Overloaded");
        return;
    case MOCKSRV__F_504:
        answer_error(a, 504, "timeout_error", NULL, "Request timed out while processing.");
        return;
    case MOCKSRV__F_BILLING:
        answer_error(a, 402, "billing_error", NULL,
                     "There is an issue with your billing or payment information. Please go to "
                     "Plans & Billing to update it.");
        return;
    case MOCKSRV__F_QUOTA:
        answer_error(a, 400, "invalid_request_error", NULL,
                     "Your credit balance is too low to access the Anthropic API. Please go to "
                     "Plans & Billing to upgrade or purchase credits.");
        return;
    case MOCKSRV__F_REGION:
        answer_raw(a, 403, anthropic_region_body, "application/json");
        return;
    default:
        answer_error(a, 500, "api_error", NULL, "mock: unhandled fault");
        return;
    }
}

/* The error faults of an OpenAI client. */
static void openai_fault_answer(enum mocksrv__fault f, int64_t ra, struct answer *a)
{
    char wait[MOCKSRV__TIMEBUF];
    switch (f) {
    case MOCKSRV__F_429:
        mocksrv__go_duration(wait, ra);
        snprintf(a->msg, sizeof(a->msg),
                 "Rate limit reached for requests (mock fault). Please try again in %s.", wait);
        answer_error(a, 429, "requests", "rate_limit_exceeded", a->msg);
        a->has_retry_after = true;
        a->retry_after_ms = ra;
        return;
    case MOCKSRV__F_500:
        answer_error(a, 500, "server_error", NULL,
                     "The server had an error while processing your request. Sorry about that!");
        return;
    case MOCKSRV__F_503:
        answer_error(a, 503, "server_error", NULL, "The server is overloaded or not ready yet.");
        a->has_retry_after = true;
        a->retry_after_ms = ra;
        return;
    case MOCKSRV__F_529:
        /* OpenAI never sends 529: its overload answer is a 503. */
        answer_error(a, 503, "server_error", NULL,
                     "The engine is currently overloaded, please try again later.");
        a->has_retry_after = true;
        a->retry_after_ms = ra;
        return;
    case MOCKSRV__F_504:
        answer_error(a, 504, "server_error", NULL, "Gateway timeout. Please try again.");
        return;
    case MOCKSRV__F_BILLING:
    case MOCKSRV__F_QUOTA:
        answer_error(a, 429, "insufficient_quota", "insufficient_quota", openai_quota_message);
        return;
    case MOCKSRV__F_REGION:
        answer_raw(a, 403, openai_region_body, "application/json");
        return;
    default:
        answer_error(a, 500, "server_error", NULL, "mock: unhandled fault");
        return;
    }
}

/* The error faults of a client of a mock_formats.c API: OpenAI's statuses
 * and messages, rendered in the format's own error shape, except where the
 * service answers differently. */
static void format_fault_answer(enum mocksrv__api api, enum mocksrv__fault f, int64_t ra,
                                struct answer *a)
{
    if (f == MOCKSRV__F_REGION) {
        /* What each service answers a caller from an unsupported place. */
        if (api == MOCKSRV__API_GEMINI) {
            answer_error(a, 400, NULL, NULL, "User location is not supported for the API use.");
            a->format_type = "FAILED_PRECONDITION";
        } else {
            answer_error(a, 403, NULL, NULL, "This service is not available in your region.");
            a->format_type = api == MOCKSRV__API_BEDROCK ? "AccessDeniedException" : NULL;
        }
        return;
    }
    if ((f == MOCKSRV__F_QUOTA || f == MOCKSRV__F_BILLING) && api == MOCKSRV__API_BEDROCK) {
        answer_error(a, 400, NULL, NULL,
                     "You have exceeded the number of tokens allowed for this account.");
        a->format_type = "ServiceQuotaExceededException";
        return;
    }
    openai_fault_answer(f, ra, a);
}

/* Parse and validate the body into *p and make the reply text (*text,
 * *tlen).  False when the answer is already decided (a 400, or A_NONE on
 * out of memory). */
static bool read_request(struct req *r, cJSON **root, struct parsed *p, char **text,
                         size_t *tlen, struct answer *a)
{
    bool anth = r->api == MOCKSRV__API_ANTHROPIC;
    const struct mocksrv__format *fmt = mocksrv__format_of(r->api);
    *root = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
    if (*root != NULL && fmt != NULL) {
        /* The format's body in the OpenAI shape parse_request checks. */
        const char *why = NULL;
        cJSON *n = fmt->normalise(*root, r->path_model, r->path_stream, &why);
        cJSON_Delete(*root);
        *root = n;
        if (n == NULL) {
            if (why != NULL)
                answer_error(a, 400, "invalid_request_error", NULL, why);
            return false; /* else out of memory: A_NONE */
        }
    }
    if (*root == NULL) {
        answer_error(a, 400, "invalid_request_error", NULL,
                     anth ? "There was an error parsing the body of your request: not valid JSON"
                          : "We could not parse the JSON body of your request. (HINT: This likely "
                            "means you aren't using your HTTP library correctly. The OpenAI API "
                            "expects a JSON payload, but what was sent was not valid JSON.)");
        return false;
    }
    const char *bad = parse_request(r, *root, p);
    if (bad != NULL) {
        answer_error(a, 400, "invalid_request_error", NULL, bad);
        return false;
    }
    bad = mocksrv__tools_decide(*root, r->api, p->last_user.data, &a->tools);
    if (bad != NULL) {
        answer_error(a, 400, "invalid_request_error", NULL, bad);
        return false;
    }
    if (a->tools.oom)
        return false; /* OOM: A_NONE, the glue answers 500 */
    r->stream = p->stream;
    if (a->tools.text != NULL) {
        /* A tool result or a schema instance is the reply text. */
        *text = a->tools.text;
        *tlen = a->tools.text_len;
        a->tools.text = NULL;
        return true;
    }
    *text = make_reply_text(p, tlen, &bad);
    if (*text == NULL) {
        if (bad != NULL)
            answer_error(a, 400, "invalid_request_error", NULL, bad);
        return false; /* OOM: A_NONE, the glue answers 500 */
    }
    return true;
}

/* A 200 with `text` (ownership taken), after the rate window admitted it. */
static void reply_answer(struct req *r, const struct parsed *p, char *text, size_t tlen,
                         int64_t out_tok, bool cut, enum mocksrv__fault f, struct answer *a)
{
    a->model = strdup(p->model);
    if (a->model == NULL) {
        free(text);
        return;
    }
    a->kind = A_REPLY;
    a->status = 200;
    a->text = text;
    a->stream = p->stream;
    a->fault = f;
    r->out_tok = out_tok;
    a->rep = (struct mocksrv__reply){
        .api = r->api,
        .id = r->id,
        .created = (int64_t)time(NULL),
        .model = a->model,
        .text = a->text,
        .text_len = tlen,
        .input_tokens = r->in_tok,
        .output_tokens = out_tok,
        .cut = cut,
        .include_usage = p->include_usage,
    };
}

/* The answer to a well-formed API request: fault, rate window, reply. */
static void decide_reply(struct req *r, const struct asked *in, const struct parsed *p,
                         char *text, size_t tlen, enum mocksrv__fault f, struct answer *a)
{
    struct mocksrv *s = r->srv;
    int64_t now = r->admit_ms;
    r->id = (uint64_t)atomic_fetch_add(&s->next_id, 1) + 1;
    r->in_tok = (int64_t)((p->prompt_bytes + 3) / 4);
    bool calls = a->tools.n_calls > 0 || a->tools.refusal;
    int64_t out_tok = calls ? mocksrv__tools_output_tokens(&a->tools) : (int64_t)((tlen + 3) / 4);
    bool cut = false;
    if (!calls && p->has_max && out_tok > p->max_tokens) {
        tlen = mocksrv__utf8_floor(text, tlen, (size_t)p->max_tokens * 4);
        out_tok = p->max_tokens;
        cut = true;
    }
    if (in->trace != NULL)
        r->trace = dup_bounded(in->trace, MAX_TRACE_BYTES);
    if (s->opt.latency_ms > 0 || s->opt.latency_jitter_ms > 0)
        r->due_ms = now + s->opt.latency_ms + mocksrv__rand_upto(s, s->opt.latency_jitter_ms);

    /* The TPM cost is fixed at admission, before anything is generated:
     * input plus the most the answer may use (max_tokens), or plus what
     * it will use when there is no cap.  This is how OpenAI meters. */
    int64_t cost = r->in_tok + (p->has_max ? p->max_tokens : out_tok);
    bool faulted = f != MOCKSRV__F_NONE && f != MOCKSRV__F_OK;
    mocksrv__rl_check(s->rl, now, cost, !faulted, &a->limits);
    if (faulted) {
        r->fault = f;
        ctr_add(&s->ctr.faults, 1);
    }
    if (f == MOCKSRV__F_STALL) {
        a->kind = A_STALL;
        r->phase = PH_STALL;
        r->due_ms = now + s->opt.stall_ms;
        free(text);
        return;
    }
    a->has_limits = true;
    switch (f) {
    case MOCKSRV__F_429:
    case MOCKSRV__F_500:
    case MOCKSRV__F_503:
    case MOCKSRV__F_529:
    case MOCKSRV__F_QUOTA:
    case MOCKSRV__F_REGION:
    case MOCKSRV__F_504:
    case MOCKSRV__F_BILLING:
        free(text);
        if (r->api == MOCKSRV__API_ANTHROPIC)
            anthropic_fault_answer(f, s->opt.retry_after_ms, a);
        else if (mocksrv__format_of(r->api) != NULL)
            format_fault_answer(r->api, f, s->opt.retry_after_ms, a);
        else
            openai_fault_answer(f, s->opt.retry_after_ms, a);
        return;
    default:
        break;
    }
    if (!a->limits.admitted) {
        free(text);
        r->limit = a->limits.cause;
        ctr_add(&s->ctr.rate_limited, 1);
        rate_limited_answer(r, &a->limits, a);
        return;
    }
    reply_answer(r, p, text, tlen, out_tok, cut, f, a);
}

/* Decide the answer to r.  Fills *a (answer_free() it). */
static void decide(struct req *r, const struct asked *in, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    int64_t now = mocksrv__now_ms();
    r->admit_ms = now;
    r->due_ms = now;
    r->phase = PH_WAIT;
    bool anth = r->api == MOCKSRV__API_ANTHROPIC;
    switch (r->kind) {
    case K_HEALTH:
        answer_raw(a, 200, "ok", "text/plain");
        return;
    case K_MODELS:
        /* One path for both APIs: an Anthropic client says so by its
         * anthropic-version header (every Anthropic SDK sends it). */
        if (in->anthropic_version)
            r->api = MOCKSRV__API_ANTHROPIC;
        a->kind = A_MODELS;
        a->status = 200;
        return;
    case K_NOT_FOUND:
    case K_BAD_METHOD:
        snprintf(a->msg, sizeof(a->msg), "Invalid URL (%s %s)", in->method, r->path);
        if (r->kind == K_NOT_FOUND)
            answer_error(a, 404, anth ? "not_found_error" : "invalid_request_error", NULL, a->msg);
        else
            answer_error(a, 405, "invalid_request_error", NULL, a->msg);
        return;
    case K_API:
        break;
    }
    if (r->too_large) {
        snprintf(a->msg, sizeof(a->msg), "Request body too large: the limit is %lld bytes.",
                 (long long)MOCKSRV_MAX_BODY_BYTES);
        answer_error(a, 413, anth ? "request_too_large" : "invalid_request_error", NULL, a->msg);
        return;
    }
    if (in->bad_signature != NULL) {
        snprintf(a->msg, sizeof(a->msg), "%s", in->bad_signature);
        answer_error(a, 403, NULL, NULL, a->msg);
        a->format_type = "InvalidSignatureException";
        return;
    }
    cJSON *root = NULL;
    struct parsed p = {0};
    char *text = NULL;
    size_t tlen = 0;
    enum mocksrv__fault f;
    if (read_request(r, &root, &p, &text, &tlen, a)) {
        if (choose_fault(r, in->fault, &f))
            decide_reply(r, in, &p, text, tlen, f, a);
        else {
            free(text);
            answer_error(a, 400, "invalid_request_error", NULL,
                         "unknown x-mock-fault token (see llmorch-mock-server --help)");
        }
    }
    mocksrv__buf_free(&p.last_user);
    cJSON_Delete(root);
}

/* ---- the libmicrohttpd glue: an answer becomes a response ---------------------------- */

/* A 200: plain or streamed, possibly with a transport fault.  Takes the
 * reply's text and model from `a`. */
static void reply_response(struct req *r, struct MHD_Connection *c, struct answer *a)
{
    r->status = 200;
    if (a->tools.n_calls > 0 || a->tools.refusal) {
        /* Tool calls and refusals are sent whole (no pacing, no faults). */
        struct mocksrv__buf b = {.max = 8 * (size_t)MOCKSRV_MAX_BODY_BYTES};
        mocksrv__tools_answer(&b, &a->rep, &a->tools, a->stream);
        buffer_response(r, &b, a->stream ? "text/event-stream" : "application/json");
        if (r->resp != NULL && a->stream) {
            add_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
            r->is_stream = true;
        }
        return;
    }
    if (a->stream) {
        struct stream *st = calloc(1, sizeof(*st));
        if (st == NULL)
            return;
        st->srv = r->srv;
        st->conn = c;
        st->model = a->model;
        st->text = a->text;
        a->model = a->text = NULL;
        st->fault = a->fault;
        st->rep = a->rep;
        st->rep.model = st->model;
        st->rep.text = st->text;
        /* Frames are small, but a frame echoes the model name. */
        st->out.max = 8 * (size_t)MOCKSRV_MAX_BODY_BYTES;
        r->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read,
                                                    st, stream_free);
        if (r->resp == NULL) {
            stream_free(st);
            return;
        }
        const struct mocksrv__format *fmt = mocksrv__format_of(a->rep.api);
        add_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                   fmt != NULL ? fmt->stream_content_type : "text/event-stream");
        add_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        r->is_stream = true;
        return;
    }

    struct mocksrv__buf b = {.max = 8 * (size_t)MOCKSRV_MAX_BODY_BYTES + 2 * (size_t)MOCKSRV_MAX_ECHO_BYTES};
    const struct mocksrv__format *fmt = mocksrv__format_of(a->rep.api);
    if (fmt != NULL)
        fmt->completion(&b, &a->rep);
    else if (a->rep.api == MOCKSRV__API_ANTHROPIC)
        mocksrv__anthropic_message(&b, &a->rep);
    else
        mocksrv__openai_completion(&b, &a->rep);
    if (b.failed) {
        mocksrv__buf_free(&b);
        return;
    }
    if (a->fault == MOCKSRV__F_TRUNCATED_SSE) {
        b.len /= 2;
        b.data[b.len] = '\0';
    } else if (a->fault == MOCKSRV__F_MALFORMED_JSON) {
        b.len--; /* the final '}' */
        mocksrv__buf_str(&b, ",<<mock malformed>>");
    } else if (a->fault == MOCKSRV__F_RESET) {
        struct cut_body *cb = malloc(sizeof(*cb));
        if (cb == NULL) {
            mocksrv__buf_free(&b);
            return;
        }
        cb->srv = r->srv;
        cb->data = mocksrv__buf_take(&b, &cb->len);
        cb->send = cb->len / 2;
        r->resp = MHD_create_response_from_callback(cb->len, 64 * 1024, cut_read, cb, cut_free);
        if (r->resp == NULL) {
            cut_free(cb);
            return;
        }
        add_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        return;
    }
    buffer_response(r, &b, "application/json");
}

/* Turn the decided answer into r->resp (NULL: out of memory, 500). */
static void respond(struct req *r, struct MHD_Connection *c, struct answer *a)
{
    struct mocksrv__buf b = {0};
    const struct mocksrv__format *fmt = mocksrv__format_of(r->api);
    switch (a->kind) {
    case A_NONE:
    case A_STALL:
        return;
    case A_ERROR:
        if (fmt != NULL)
            format_error(r, fmt, a->status, a->format_type, a->message,
                         a->has_retry_after ? a->retry_after_ms : 0);
        else
            set_error(r, a->status, a->type, a->code, a->message);
        break;
    case A_RAW:
        set_raw(r, a->status, a->body, a->ctype);
        break;
    case A_MODELS:
        if (r->api == MOCKSRV__API_ANTHROPIC)
            mocksrv__anthropic_models(&b);
        else
            mocksrv__openai_models(&b);
        buffer_response(r, &b, "application/json");
        r->status = a->status;
        break;
    case A_REPLY:
        reply_response(r, c, a);
        break;
    }
    if (r->resp != NULL && a->has_retry_after && (fmt == NULL || fmt->retry_after_headers))
        add_retry_after(r->resp, a->retry_after_ms);
    if (r->resp != NULL && a->has_limits)
        add_ratelimit_headers(r->resp, r->api, &a->limits);
}

/* ---- capture (tests) --------------------------------------------------------------- */

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    mocksrv__buf_printf(cls, "%s: %s\n", key, value != NULL ? value : "");
    return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct mocksrv__buf *b = cls;
    (void)kind;
    mocksrv__buf_printf(b, b->len > 0 ? "&%s" : "%s", key);
    if (value != NULL)
        mocksrv__buf_printf(b, "=%s", value);
    return MHD_YES;
}

/* Hand what reached an API path to the capture hook, if any. */
static void capture(struct req *r, struct MHD_Connection *c, const char *method)
{
    struct mocksrv *s = r->srv;
    if (s->opt.capture == NULL || r->kind != K_API)
        return;
    struct mocksrv__buf h = {0}, q = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &h);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    struct mocksrv_capture cap = {
        .method = method,
        .path = r->path,
        .query = q.data != NULL && !q.failed ? q.data : "",
        .headers = h.data != NULL && !h.failed ? h.data : "",
        .body = r->body.data != NULL ? r->body.data : "",
        .body_len = r->body.len,
    };
    s->opt.capture(s->opt.capture_user, &cap);
    mocksrv__buf_free(&h);
    mocksrv__buf_free(&q);
}

/* Read what the decision needs from the connection, decide, respond. */
static void answer_request(struct req *r, struct MHD_Connection *c, const char *method)
{
    capture(r, c, method);
    struct asked in = {
        .method = method,
        .fault = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-mock-fault"),
        .trace = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Client-Request-Id"),
        .anthropic_version =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "anthropic-version") != NULL,
    };
    char why[256];
    if (r->api == MOCKSRV__API_BEDROCK && r->kind == K_API && !r->too_large &&
        r->srv->aws_secret != NULL &&
        mocksrv__sigv4_verify(c, method, r->path, r->body.data, r->body.len, r->srv->aws_secret,
                              why, sizeof(why)) != 0)
        in.bad_signature = why;
    struct answer a;
    decide(r, &in, &a);
    respond(r, c, &a);
    answer_free(&a);
}

static const char oom_body[] = "{\"error\":{\"message\":\"mock server out of memory\","
                               "\"type\":\"server_error\",\"param\":null,\"code\":null}}";

static enum MHD_Result send_answer(struct req *r, struct MHD_Connection *c)
{
    struct mocksrv *s = r->srv;
    if (r->resp == NULL) {
        r->resp = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *)oom_body,
                                                  MHD_RESPMEM_PERSISTENT);
        r->status = 500;
        r->is_stream = false;
        r->bytes_out = sizeof(oom_body) - 1;
        if (r->resp == NULL) {
            r->status = 0;
            return MHD_NO;
        }
    }
    if (r->kind != K_HEALTH)
        add_request_id(r);
    /* Bodies from a callback count their bytes as they go. */
    enum MHD_Result ret = MHD_queue_response(c, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->phase = PH_SENT;
    if (ret != MHD_YES) {
        r->status = 0;
        return ret;
    }
    if (r->is_stream)
        ctr_add(&s->ctr.streams, 1);
    return ret;
}

static struct req *req_new(struct mocksrv *s, const char *url, const char *method)
{
    struct req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->srv = s;
    r->path = dup_bounded(url, MAX_PATH_BYTES);
    if (r->path == NULL) {
        free(r);
        return NULL;
    }
    r->admit_ms = mocksrv__now_ms();
    r->body.max = (size_t)MOCKSRV_MAX_BODY_BYTES;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (strcmp(url, "/health") == 0) {
        bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        r->kind = get ? K_HEALTH : K_BAD_METHOD;
    } else if (strcmp(url, "/v1/chat/completions") == 0) {
        r->api = MOCKSRV__API_OPENAI;
        r->kind = post ? K_API : K_BAD_METHOD;
    } else if (strcmp(url, "/v1/messages") == 0) {
        r->api = MOCKSRV__API_ANTHROPIC;
        r->kind = post ? K_API : K_BAD_METHOD;
    } else if (strcmp(url, "/v1/models") == 0) {
        bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        r->kind = get ? K_MODELS : K_BAD_METHOD;
    } else if (mocksrv__route(url, &r->api, &r->path_model, &r->path_stream)) {
        r->kind = post ? K_API : K_BAD_METHOD;
    } else {
        r->kind = K_NOT_FOUND;
    }
    return r;
}

static void req_free(struct req *r)
{
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    mocksrv__buf_free(&r->body);
    free(r->path);
    free(r->trace);
    free(r->path_model);
    free(r);
}

/* A Content-Length over the cap is refused before the body is read. */
static bool declared_too_large(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return false;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    return end != cl && (errno == ERANGE || n > (unsigned long long)MOCKSRV_MAX_BODY_BYTES);
}

enum MHD_Result mocksrv__on_request(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **req_cls)
{
    struct mocksrv *s = cls;
    struct req *r = *req_cls;
    (void)version;
    if (r == NULL) {
        if (stopping(s))
            return MHD_NO;
        r = req_new(s, url, method);
        if (r == NULL)
            return MHD_NO;
        *req_cls = r;
        if (r->kind == K_API && declared_too_large(c)) {
            r->too_large = true;
            answer_request(r, c, method);
            return send_answer(r, c);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        ctr_add(&s->ctr.bytes_in, *upload_data_size);
        if (r->kind == K_API && !r->too_large) {
            mocksrv__buf_add(&r->body, upload_data, *upload_data_size);
            if (r->body.failed) {
                r->too_large = true;
                mocksrv__buf_free(&r->body);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (stopping(s))
        return MHD_NO;
    if (r->phase == PH_BODY)
        answer_request(r, c, method);
    if (r->phase == PH_SENT)
        return MHD_YES;
    if (mocksrv__now_ms() < r->due_ms && mocksrv__timer_suspend_until(s->timer, c, r->due_ms))
        return MHD_YES;
    if (stopping(s))
        return MHD_NO;
    if (r->phase == PH_STALL)
        return MHD_NO; /* drop the connection without a word */
    return send_answer(r, c);
}

/* ---- completion: ledger and counters ------------------------------------------------ */

static const char *end_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "ok";
    case MHD_REQUEST_TERMINATED_WITH_ERROR: return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR: return "client_abort";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
    }
    return "error";
}

static void json_or_null(struct mocksrv__buf *b, const char *s)
{
    if (s == NULL)
        mocksrv__buf_str(b, "null");
    else
        mocksrv__buf_json_str(b, s, strlen(s));
}

static void write_ledger(struct mocksrv *s, const struct req *r,
                         enum MHD_RequestTerminationCode toe)
{
    /* A wait cut short by mocksrv_stop ends in MHD_NO from us, which MHD
     * reports as an error; call it what it was. */
    const char *end = toe == MHD_REQUEST_TERMINATED_WITH_ERROR && stopping(s) && r->status == 0
                          ? "shutdown"
                          : end_name(toe);
    static const char *const limit_names[] = {NULL, "requests", "tokens"};
    struct mocksrv__buf b = {.max = 64 * 1024};
    int64_t now = mocksrv__now_ms();
    mocksrv__buf_printf(&b, "{\"t_ms\":%lld,\"id\":%llu,\"path\":",
                        (long long)(r->admit_ms - s->start_ms), (unsigned long long)r->id);
    mocksrv__buf_json_str(&b, r->path, strlen(r->path));
    mocksrv__buf_printf(&b,
                        ",\"status\":%u,\"input_tokens\":%lld,\"output_tokens\":%lld,"
                        "\"stream\":%s,\"fault\":",
                        r->status, (long long)r->in_tok, (long long)r->out_tok,
                        r->stream ? "true" : "false");
    json_or_null(&b, mocksrv__fault_name(r->fault));
    mocksrv__buf_str(&b, ",\"limit\":");
    json_or_null(&b, limit_names[r->limit]);
    mocksrv__buf_str(&b, ",\"trace\":");
    json_or_null(&b, r->trace);
    mocksrv__buf_printf(&b, ",\"dur_ms\":%lld,\"end\":\"%s\"}\n", (long long)(now - r->admit_ms),
                        end);
    if (!b.failed) {
        pthread_mutex_lock(&s->ledger_lock);
        fwrite(b.data, 1, b.len, s->ledger);
        fflush(s->ledger);
        pthread_mutex_unlock(&s->ledger_lock);
    }
    mocksrv__buf_free(&b);
}

void mocksrv__on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct mocksrv *s = cls;
    struct req *r = *req_cls;
    (void)c;
    if (r == NULL)
        return;
    *req_cls = NULL;
    ctr_add(&s->ctr.requests, 1);
    if (r->status >= 200 && r->status < 300)
        ctr_add(&s->ctr.status_2xx, 1);
    else if (r->status >= 400 && r->status < 500)
        ctr_add(&s->ctr.status_4xx, 1);
    else if (r->status >= 500 && r->status < 600)
        ctr_add(&s->ctr.status_5xx, 1);
    else
        ctr_add(&s->ctr.status_other, 1);
    if (r->status == 429)
        ctr_add(&s->ctr.sent_429, 1);
    if (r->status != 0 && !r->is_stream && r->bytes_out > 0)
        ctr_add(&s->ctr.bytes_out, r->bytes_out);
    if (s->ledger != NULL)
        write_ledger(s, r, toe);
    req_free(r);
}
