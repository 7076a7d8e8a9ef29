/* libcurl multi transport.  See http.h. */
#include "transport/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "core/internal.h"
#include "core/loop.h"

#define MAX_RESPONSE_HEADERS 128
#define MAX_HEADER_BYTES (64 * 1024)

struct llm__xfer {
    struct llm__http *h;
    CURL *easy;
    struct curl_slist *slist;
    struct llm_http_request req;     /* owns URL and body while curl uses them */
    struct llm__xfer_opts opts;
    struct llm__xfer_cbs cbs;
    void *user;
    struct llm_header headers[MAX_RESPONSE_HEADERS];
    size_t n_headers;
    size_t header_bytes;
    struct llm__buf body;
    int status;
    bool status_read;
    bool too_large;
    enum llm_error fail_err;         /* set by on_data via llm__xfer_fail */
    char *fail_msg;
    char errbuf[CURL_ERROR_SIZE];
};

struct llm__http {
    struct llm__loop *loop;
    CURLM *multi;
    struct llm__timer timer;
    size_t active;
    /* Reusable easy handles: curl_easy_init costs more than a reset. */
    CURL **spare;
    size_t n_spare;
    size_t cap_spare;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe on every curl build; once per process,
 * never cleaned up (other code in the host may use curl too). */
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void check_done(struct llm__http *h);

static void on_socket_event(int fd, uint32_t events, void *user)
{
    struct llm__http *h = user;
    int flags = 0;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(h->multi, fd, flags, &running);
    check_done(h);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct llm__http *h = userp;
    if (what == CURL_POLL_REMOVE) {
        llm__loop_unwatch(h->loop, s);
        curl_multi_assign(h->multi, s, NULL);
        return 0;
    }
    uint32_t ev = 0;
    if (what & CURL_POLL_IN)
        ev |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev |= EPOLLOUT;
    bool added = socketp != NULL;
    if (llm__loop_watch(h->loop, s, ev, on_socket_event, h, added) != 0)
        return -1;
    if (!added)
        curl_multi_assign(h->multi, s, (void *)1);
    return 0;
}

static void on_curl_timer(struct llm__timer *t, void *user)
{
    struct llm__http *h = user;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct llm__http *h = userp;
    if (timeout_ms < 0) {
        llm__timer_stop(h->loop, &h->timer);
        return 0;
    }
    /* A zero timeout must not be handled from inside this callback (curl
     * forbids re-entering socket_action); the loop fires it next turn. */
    if (llm__timer_start(h->loop, &h->timer, llm__now_mono_us() + (int64_t)timeout_ms * 1000,
                         on_curl_timer, h) != 0)
        return -1;
    return 0;
}

int llm__http_new(struct llm__loop *loop, struct llm__http **out)
{
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return -1;
    struct llm__http *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return -1;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* Let HTTP/2 streams share a connection where the server offers it. */
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = h;
    return 0;
}

void llm__http_free(struct llm__http *h)
{
    if (!h)
        return;
    llm__timer_stop(h->loop, &h->timer);
    for (size_t i = 0; i < h->n_spare; i++)
        curl_easy_cleanup(h->spare[i]);
    free(h->spare);
    curl_multi_cleanup(h->multi);
    free(h);
}

size_t llm__http_active(const struct llm__http *h) { return h->active; }

static void free_headers(struct llm__xfer *x)
{
    for (size_t i = 0; i < x->n_headers; i++) {
        free(x->headers[i].name);
        free(x->headers[i].value);
    }
    x->n_headers = 0;
    x->header_bytes = 0;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct llm__xfer *x = userp;
    size_t len = size * n;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 100-continue or a redirect): start over. */
        free_headers(x);
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon || x->n_headers >= MAX_RESPONSE_HEADERS || x->header_bytes + len > MAX_HEADER_BYTES)
        return len; /* status line tail, blank line, or past our bounds: skip */
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1;
    const char *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    char *name = llm__strndup(buf, nlen);
    char *value = llm__strndup(v, (size_t)(end - v));
    if (!name || !value) {
        free(name);
        free(value);
        return 0; /* out of memory: abort the transfer */
    }
    x->headers[x->n_headers].name = name;
    x->headers[x->n_headers].value = value;
    x->n_headers++;
    x->header_bytes += len;
    return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    struct llm__xfer *x = userp;
    size_t len = size * n;
    if (!x->status_read) {
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        x->status = (int)code;
        x->status_read = true;
    }
    if (x->opts.stream && x->status >= 200 && x->status < 300) {
        if (x->cbs.on_data(x->user, data, len) != 0)
            return 0;
        return len;
    }
    if (x->body.len + len > x->opts.max_response_bytes) {
        x->too_large = true;
        return 0;
    }
    if (llm__buf_append(&x->body, data, len) != LLM_OK) {
        llm__xfer_fail(x, LLM_ERR_OUT_OF_MEMORY, "out of memory buffering the response");
        return 0;
    }
    return len;
}

void llm__xfer_fail(struct llm__xfer *x, enum llm_error err, const char *message)
{
    if (x->fail_err != LLM_OK)
        return;
    x->fail_err = err;
    x->fail_msg = llm__strdup(message);
}

static CURL *get_easy(struct llm__http *h)
{
    if (h->n_spare) {
        CURL *e = h->spare[--h->n_spare];
        curl_easy_reset(e);
        return e;
    }
    return curl_easy_init();
}

static void put_easy(struct llm__http *h, CURL *e)
{
    if (h->n_spare == h->cap_spare) {
        size_t ncap = h->cap_spare ? h->cap_spare * 2 : 16;
        if (ncap > 4096) {
            curl_easy_cleanup(e);
            return;
        }
        CURL **n = realloc(h->spare, ncap * sizeof(*n));
        if (!n) {
            curl_easy_cleanup(e);
            return;
        }
        h->spare = n;
        h->cap_spare = ncap;
    }
    h->spare[h->n_spare++] = e;
}

static void xfer_free(struct llm__xfer *x)
{
    curl_slist_free_all(x->slist);
    llm_http_request_clear(&x->req);
    free_headers(x);
    llm__buf_free(&x->body);
    free(x->fail_msg);
    free(x);
}

enum llm_error llm__http_start(struct llm__http *h, struct llm_http_request *req,
                               const struct llm__xfer_opts *o, const struct llm__xfer_cbs *cbs,
                               void *user, struct llm__xfer **out)
{
    *out = NULL;
    struct llm__xfer *x = calloc(1, sizeof(*x));
    if (!x) {
        llm_http_request_clear(req);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    x->req = *req;
    memset(req, 0, sizeof(*req));
    x->h = h;
    x->opts = *o;
    x->cbs = *cbs;
    x->user = user;
    x->easy = get_easy(h);
    if (!x->easy) {
        xfer_free(x);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    struct llm__buf line = {0};
    for (size_t i = 0; i < x->req.n_headers; i++) {
        line.len = 0;
        if (llm__buf_appendf(&line, "%s: %s", x->req.headers[i].name, x->req.headers[i].value) != LLM_OK)
            goto oom;
        struct curl_slist *s = curl_slist_append(x->slist, line.data);
        if (!s)
            goto oom;
        x->slist = s;
    }
    /* No "Expect: 100-continue" round trip for large bodies. */
    struct curl_slist *s = curl_slist_append(x->slist, "Expect:");
    if (!s)
        goto oom;
    x->slist = s;
    llm__buf_free(&line);

    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, x->req.url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req.body ? x->req.body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req.body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    /* Only http(s): a base URL must not turn into file:// or friends. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    if (o->connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    /* TLS verification stays at curl's default: on. */
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        put_easy(h, e);
        x->easy = NULL;
        xfer_free(x);
        return LLM_ERR_INTERNAL;
    }
    h->active++;
    *out = x;
    return LLM_OK;
oom:
    llm__buf_free(&line);
    put_easy(h, x->easy);
    x->easy = NULL;
    xfer_free(x);
    return LLM_ERR_OUT_OF_MEMORY;
}

void llm__http_cancel(struct llm__http *h, struct llm__xfer *x)
{
    if (!x)
        return;
    curl_multi_remove_handle(h->multi, x->easy);
    put_easy(h, x->easy);
    h->active--;
    xfer_free(x);
}

static int64_t info_us(CURL *e, CURLINFO what)
{
    curl_off_t v = -1;
    if (curl_easy_getinfo(e, what, &v) != CURLE_OK || v <= 0)
        return -1;
    return (int64_t)v;
}

static enum llm_error map_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK: return LLM_OK;
    case CURLE_OPERATION_TIMEDOUT: return LLM_ERR_TIMEOUT;
    case CURLE_OUT_OF_MEMORY: return LLM_ERR_OUT_OF_MEMORY;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return LLM_ERR_INVALID_ARGUMENT;
    default: return LLM_ERR_CONNECTION;
    }
}

static void finish(struct llm__http *h, struct llm__xfer *x, CURLcode rc)
{
    struct llm__xfer_outcome o = {0};
    CURL *e = x->easy;
    if (!x->status_read) {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        x->status = (int)code;
    }
    o.status = x->status;
    o.transport_error = map_curl(rc);
    char msg[CURL_ERROR_SIZE + 64];
    if (x->fail_err != LLM_OK) {
        o.transport_error = x->fail_err;
        o.transport_message = x->fail_msg ? x->fail_msg : llm_strerror(x->fail_err);
    } else if (x->too_large) {
        o.transport_error = LLM_ERR_RESPONSE_TOO_LARGE;
        snprintf(msg, sizeof(msg), "response body exceeds the %zu-byte limit (max_response_bytes)",
                 x->opts.max_response_bytes);
        o.transport_message = msg;
    } else if (rc != CURLE_OK) {
        snprintf(msg, sizeof(msg), "%s: %s", curl_easy_strerror(rc),
                 x->errbuf[0] ? x->errbuf : "no details");
        o.transport_message = msg;
    }
    o.headers.items = x->headers;
    o.headers.n = x->n_headers;
    o.body = x->body.data ? x->body.data : "";
    o.body_len = x->body.len;
    o.dns_us = info_us(e, CURLINFO_NAMELOOKUP_TIME_T);
    o.connect_us = info_us(e, CURLINFO_CONNECT_TIME_T);
    o.tls_us = info_us(e, CURLINFO_APPCONNECT_TIME_T);
    o.pretransfer_us = info_us(e, CURLINFO_PRETRANSFER_TIME_T);
    o.first_byte_us = info_us(e, CURLINFO_STARTTRANSFER_TIME_T);
    o.total_us = info_us(e, CURLINFO_TOTAL_TIME_T);
    curl_off_t up = 0, down = 0;
    long hdr = 0;
    curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &hdr);
    o.bytes_sent = (uint64_t)(up > 0 ? up : 0);
    o.bytes_received = (uint64_t)(down > 0 ? down : 0) + (uint64_t)(hdr > 0 ? hdr : 0);

    curl_multi_remove_handle(h->multi, e);
    h->active--;
    x->cbs.on_done(x->user, &o);
    put_easy(h, e);
    xfer_free(x);
}

static void check_done(struct llm__http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct llm__xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            finish(h, x, m->data.result);
    }
}
