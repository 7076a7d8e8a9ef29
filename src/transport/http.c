/* The curl transport: libcurl multi handles driven by the engine's loop
 * through curl's socket API (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION), so
 * thousands of transfers cost O(active sockets) per event, not
 * O(transfers).  The only code in the library that includes curl.  Loop
 * thread only.  See transport.h for the interface it implements.
 *
 * Why several multi handles ("parts"): libcurl up to 8.x walks every
 * connection in its multi handle's cache on each curl_multi_remove_handle
 * once the connection was kept (7.88's "close_connect_only" sweep), so with
 * thousands of kept-alive connections each completion costs O(connections):
 * 10,000 streams in flight cost 3x per stream what 1,000 do.  Each part owns
 * at most a bounded share of the transfers (and so of the connections);
 * a new transfer goes to a part that has an idle connection to reuse, else
 * to the first part with room, else to a new part.  Keep-alive stays
 * (connections are reused within their part), and TLS sessions and DNS
 * answers are shared by every part (one CURLSH), so a reconnect resumes
 * its TLS session whichever part makes it.
 *
 * Why https transfers may wait before curl sees them: libcurl 7.88 opens a
 * connection of its own for every transfer that finds the HTTP/2
 * connections full, even when one is being set up that would take them all
 * (PIPEWAIT only works before the first connection has said it multiplexes):
 * 10,000 streams added at once made ~9,900 connections.  So, per part,
 * until its connections are known not to multiplex (HTTP/1.1 over TLS),
 * https transfers are handed to curl only as far as the connections
 * carrying streams have free ones, plus a few at a time that will open new
 * connections (no more than the waiting transfers will fill); the others
 * wait in order (`deferred`).  CURLOPT_PREREQFUNCTION says when a transfer
 * has its connection, and which (its socket): streams are counted per
 * connection.  Streams per connection are learnt the first time a
 * transfer found every connection full (until then, one at a time). */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "transport/http_internal.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe on every curl build; once per process,
 * never cleaned up (other code in the host may use curl too). */
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The response began: from now on the silence limit is idle_timeout_ms
 * (often shorter than the first-byte one), counted from this byte.  The
 * timer is moved only when it must fire earlier than it is set to: one
 * that fires later than needed finds the real due from last_rx_us and
 * re-arms itself (http_silence.c), so for a request whose idle limit is
 * not shorter than its first-byte one (every non-streamed request) the
 * first byte costs no timer work (~700 instructions of heap updates per
 * request, callgrind).  Only the loop's timer heap is touched, which is
 * allowed inside a curl callback. */
static void first_byte(struct llm__xfer *x)
{
    x->got_byte = true;
    if (x->opts.idle_timeout_ms <= 0)
        return;
    int64_t due = llm__http_idle_due(x->last_rx_us, x->opts.idle_timeout_ms);
    if (due < llm__http_silence_due(x))
        llm__http_silence_set(x, due);
}

static bool is_too_large(CURLcode rc)
{
#if LIBCURL_VERSION_NUM >= 0x080600
    return rc == CURLE_TOO_LARGE;
#else
    (void)rc;
    return false;
#endif
}

static void http_free(struct llm__http *h);

/* A copy of environment variable `name`, NULL if unset or empty (as
 * curl_getenv); *failed set when out of memory. */
static char *env_copy(const char *name, bool *failed)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return NULL;
    char *c = llm__strdup(v);
    if (!c)
        *failed = true;
    return c;
}

/* The proxy environment, read once per transport the way libcurl 7.88
 * reads it for every transfer it is not given CURLOPT_PROXY and
 * CURLOPT_NOPROXY for (url.c detect_proxy and the no_proxy lookup): for
 * http:// only the lowercase http_proxy (libcurl refuses HTTP_PROXY, which
 * a CGI environment lets a client set through a "Proxy:" header); for
 * https:// https_proxy, then HTTPS_PROXY; then all_proxy, ALL_PROXY; and
 * no_proxy, then NO_PROXY.  Why: those five to eight getenv calls per
 * transfer cost ~1,400 instructions of the ~96,000 a request costs
 * (callgrind); given both options, libcurl applies the same no_proxy
 * matching to the same values.  The one difference: the environment is
 * read when the engine is made, not at each request. */
static int read_proxy_env(struct llm__http *h)
{
    bool failed = false;
    char *all = env_copy("all_proxy", &failed);
    if (!all && !failed)
        all = env_copy("ALL_PROXY", &failed);
    h->env_proxy_http = env_copy("http_proxy", &failed);
    h->env_proxy_https = env_copy("https_proxy", &failed);
    if (!h->env_proxy_https && !failed)
        h->env_proxy_https = env_copy("HTTPS_PROXY", &failed);
    h->env_no_proxy = env_copy("no_proxy", &failed);
    if (!h->env_no_proxy && !failed)
        h->env_no_proxy = env_copy("NO_PROXY", &failed);
    if (all && !failed && !h->env_proxy_http)
        h->env_proxy_http = llm__strdup(all), failed = !h->env_proxy_http;
    if (all && !failed && !h->env_proxy_https)
        h->env_proxy_https = llm__strdup(all), failed = !h->env_proxy_https;
    free(all);
    return failed ? -1 : 0;
}

static int http_new(struct llm__loop *loop, const char *user_agent, struct llm__http **out)
{
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return -1;
    struct llm__http *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    h->loop = loop;
    if (user_agent) {
        /* The whole line, made once: build_slist copies it as it is. */
        static const char name[] = "User-Agent: ";
        size_t n = strlen(user_agent);
        if (n > SIZE_MAX - sizeof(name) || !(h->ua_line = malloc(sizeof(name) + n))) {
            free(h);
            return -1;
        }
        memcpy(h->ua_line, name, sizeof(name) - 1);
        memcpy(h->ua_line + sizeof(name) - 1, user_agent, n + 1);
        h->ua_size = sizeof(name) + n;
    }
    /* Used by the loop thread only: no lock callbacks needed. */
    h->share = curl_share_init();
    if (!h->share || read_proxy_env(h) != 0 ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        !llm__http_part_new(h)) {
        http_free(h);
        return -1;
    }
    *out = h;
    return 0;
}

static void xfer_destroy(struct llm__xfer *x);

static void http_free(struct llm__http *h)
{
    if (!h)
        return;
    while (h->spare) {
        struct llm__xfer *x = h->spare;
        h->spare = x->next_spare;
        xfer_destroy(x);
    }
    for (size_t i = 0; i < h->n_parts; i++)
        llm__http_part_free(h->parts[i]);
    free(h->parts);
    llm__http_tls_hosts_free(h);
    /* After every easy handle that used it is gone. */
    if (h->share)
        curl_share_cleanup(h->share);
    free(h->fds);
    free(h->ua_line);
    free(h->env_proxy_http);
    free(h->env_proxy_https);
    free(h->env_no_proxy);
    llm__timer_stop(h->loop, &h->watch_timer); /* after every transfer is gone */
    free(h);
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userp)
{
    struct llm__xfer *x = userp;
    size_t len = size * n;
    x->last_rx_us = llm__http_rx_now(x->h);
    if (!x->got_byte)
        first_byte(x);
    if ((len == 2 || len == 1) && (buf[0] == '\r' || buf[0] == '\n')) {
        /* The blank line ending a response's headers. */
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            x->headers_done = true;
            /* The body that follows is this response's: write_cb need
             * not ask curl again. */
            x->status = (int)code;
            x->status_read = true;
        }
        struct llm_http_headers h;
        if (x->cbs.on_headers && code >= 200 && llm__hdr_list_view(&x->hdrs, &h))
            x->cbs.on_headers(x->user, (int)code, &h);
        return len;
    }
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 100-continue or a redirect): start over. */
        llm__http_saw_version(x, buf, len);
        llm__hdr_list_reset(&x->hdrs);
        x->headers_done = false;
        return len;
    }
    return llm__hdr_list_add_line(&x->hdrs, buf, len, MAX_RESPONSE_HEADERS, MAX_HEADER_BYTES)
               ? len
               : 0; /* out of memory: abort the transfer */
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    struct llm__xfer *x = userp;
    size_t len = size * n;
    x->last_rx_us = llm__http_rx_now(x->h);
    if (!x->got_byte)
        first_byte(x);
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
        llm__http_fail(x, LLM_ERR_OUT_OF_MEMORY, "out of memory buffering the response");
        return 0;
    }
    return len;
}

void llm__http_fail(struct llm__xfer *x, enum llm_error err, const char *message)
{
    if (x->fail_err != LLM_OK)
        return;
    x->fail_err = err;
    x->fail_msg = llm__strdup(message);
}

/* Options that never change for a transfer object: set once, when its easy
 * handle is made (the easy handle stays with the object in the pool). */
static int configure_easy(struct llm__xfer *x)
{
    CURL *e = x->easy;
    if (curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SHARE, x->h->share) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, llm__http_prereq_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PREREQDATA, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, llm__http_opensocket_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, llm__http_closesocket_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, x->h) != CURLE_OK ||
        /* Only http(s): a base URL must not turn into file:// or friends. */
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        /* The environment's no_proxy (read_proxy_env), "" = none: given
         * it, libcurl does not read the environment per transfer. */
        curl_easy_setopt(e, CURLOPT_NOPROXY, x->h->env_no_proxy ? x->h->env_no_proxy : "") !=
            CURLE_OK)
        return -1;
    /* No CURLOPT_USERAGENT: libcurl aprintf's it on every request and
     * appends the result a character at a time (+5,400 instructions per
     * request, callgrind).  The engine's user_agent, when set, is a line
     * of our own header block instead (build_slist: ~3,400, libcurl
     * formats every header it sends); unset, as by default, it costs
     * nothing. */
    /* TLS verification stays at curl's default: on. */
    return 0;
}

static void xfer_destroy(struct llm__xfer *x)
{
    llm__http_silence_clear(x);
    x->p = NULL;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    free(x->slist);
    free(x->set.url);
    llm_http_request_clear(&x->req);
    llm__hdr_list_free(&x->hdrs);
    llm__buf_free(&x->body);
    free(x->fail_msg);
    free(x);
}

/* Forget what the handle has been given (new, or after an error): every
 * option is set again at the next start. */
static void set_reset(struct llm__xfer *x)
{
    free(x->set.url);
    memset(&x->set, 0, sizeof(x->set));
    x->set.pipewait = x->set.fresh = x->set.timeout = x->set.ctimeout = -1;
}

/* A transfer object ready for a new request: from the pool, or new. */
static struct llm__xfer *xfer_get(struct llm__http *h)
{
    struct llm__xfer *x = h->spare;
    if (x) {
        h->spare = x->next_spare;
        h->n_spare--;
        x->next_spare = NULL;
        return x;
    }
    x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->h = h;
    set_reset(x);
    x->easy = curl_easy_init();
    if (!x->easy || configure_easy(x) != 0) {
        xfer_destroy(x);
        return NULL;
    }
    return x;
}

static void shrink_buf(struct llm__buf *b)
{
    if (b->cap > KEEP_BUF_BYTES)
        llm__buf_free(b);
    b->len = 0;
}

/* Done with a transfer (curl no longer has its easy handle): drop what
 * belongs to the request and pool the rest. */
static void xfer_put(struct llm__http *h, struct llm__xfer *x)
{
    llm__http_silence_clear(x);
    x->p = NULL;
    llm_http_request_clear(&x->req);
    free(x->fail_msg);
    x->fail_msg = NULL;
    if (h->n_spare >= MAX_SPARE) {
        xfer_destroy(x);
        return;
    }
    llm__hdr_list_trim(&x->hdrs, KEEP_BUF_BYTES);
    shrink_buf(&x->body);
    if (x->slist_cap > KEEP_BUF_BYTES) {
        free(x->slist);
        x->slist = NULL;
        x->slist_cap = 0;
    }
    x->next_spare = h->spare;
    h->spare = x;
    h->n_spare++;
}

/* Lay the request headers out as one curl_slist block: the request's
 * own, the engine's User-Agent unless the request has one, and "Expect:"
 * (so large bodies get no 100-continue round trip). */
static enum llm_error build_slist(struct llm__xfer *x)
{
    static const char expect[] = "Expect:";
    const struct llm_header *hs = x->req.headers;
    size_t nh = x->req.n_headers;
    const char *ua = x->h->ua_line;
    size_t n = nh + 1;
    size_t bytes = sizeof(expect);
    /* Lengths measured once (a request has a handful of headers). */
    size_t lens[2 * 16];
    bool keep = nh <= 16;
    for (size_t i = 0; i < nh; i++) {
        size_t nl = strlen(hs[i].name), vl = strlen(hs[i].value);
        if (keep) {
            lens[2 * i] = nl;
            lens[2 * i + 1] = vl;
        }
        size_t add = nl + vl + 3;
        if (bytes > SIZE_MAX - add)
            return LLM_ERR_OUT_OF_MEMORY;
        bytes += add;
        if (ua && nl == 10 && llm__strcaseeq(hs[i].name, "User-Agent"))
            ua = NULL;
    }
    if (ua) {
        n++;
        if (bytes > SIZE_MAX - x->h->ua_size)
            return LLM_ERR_OUT_OF_MEMORY;
        bytes += x->h->ua_size;
    }
    /* n <= SIZE_MAX / 2 (an array of n - 1 headers exists), and curl_slist
     * is two pointers. */
    if (bytes > SIZE_MAX - n * sizeof(struct curl_slist))
        return LLM_ERR_OUT_OF_MEMORY;
    bytes += n * sizeof(struct curl_slist);
    if (bytes > x->slist_cap) {
        void *nb = realloc(x->slist, bytes);
        if (!nb)
            return LLM_ERR_OUT_OF_MEMORY;
        x->slist = nb;
        x->slist_cap = bytes;
    }
    struct curl_slist *nodes = x->slist;
    char *p = (char *)(nodes + n);
    for (size_t i = 0; i < n; i++)
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
    nodes[0].data = p;
    for (size_t i = 0; i < nh; i++) {
        size_t nl = keep ? lens[2 * i] : strlen(hs[i].name);
        size_t vl = keep ? lens[2 * i + 1] : strlen(hs[i].value);
        memcpy(p, hs[i].name, nl);
        p += nl;
        *p++ = ':';
        *p++ = ' ';
        memcpy(p, hs[i].value, vl);
        p += vl;
        *p++ = '\0';
        nodes[i + 1].data = p;
    }
    if (ua) {
        memcpy(p, ua, x->h->ua_size);
        p += x->h->ua_size;
        nodes[n - 1].data = p;
    }
    memcpy(p, expect, sizeof(expect));
    return LLM_OK;
}

/* Set a long option and remember it in x->set (-1 there = unknown). */
static CURLcode setopt_long(CURL *e, CURLoption opt, long v, long *remember)
{
    CURLcode rc = curl_easy_setopt(e, opt, v);
    *remember = rc == CURLE_OK ? v : -1;
    return rc;
}

/* CURLOPT_URL, unless the handle's previous request had the same URL. */
static CURLcode setopt_url(struct llm__xfer *x)
{
    if (x->set.url && strcmp(x->set.url, x->req.url) == 0)
        return CURLE_OK;
    CURLcode rc = curl_easy_setopt(x->easy, CURLOPT_URL, x->req.url);
    free(x->set.url);
    /* Without the copy the URL is simply set again next time. */
    x->set.url = rc == CURLE_OK ? llm__strdup(x->req.url) : NULL;
    return rc;
}


static enum llm_error http_start(struct llm__http *h, struct llm_http_request *req,
                                 const struct llm__xfer_opts *o, const struct llm__xfer_cbs *cbs,
                                 void *user, struct llm__xfer **out)
{
    *out = NULL;
    struct llm__xfer *x = xfer_get(h);
    if (!x) {
        llm_http_request_clear(req);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    x->req = *req;
    memset(req, 0, sizeof(*req));
    x->opts = *o;
    x->cbs = *cbs;
    x->user = user;
    x->status = 0;
    x->status_read = false;
    x->too_large = false;
    x->headers_done = false;
    x->sock_errno = 0;
    x->got_byte = false;
    x->last_rx_us = llm__now_mono_us();
    x->fail_err = LLM_OK;
    x->errbuf[0] = '\0';
    if (build_slist(x) != LLM_OK) {
        xfer_put(h, x);
        return LLM_ERR_OUT_OF_MEMORY;
    }

    /* Everything a previous request on this handle set differently is set
     * again here (the handle is not curl_easy_reset: that would cost as
     * much as the transfer's own setup). */
    CURL *e = x->easy;
    /* PIPEWAIT lets a transfer wait for a connection that may turn out to
     * multiplex (HTTP/2, negotiated over TLS) instead of opening its own.
     * Over plain http:// nothing is ever multiplexed, and waiting would hold
     * every new transfer until the first response arrives (seconds, for an
     * LLM), so it is only asked for https. */
    bool tls = strncmp(x->req.url, "https:", 6) == 0;
    struct llm__part *p = llm__http_pick_part(h, tls);
    if (!p) {
        xfer_put(h, x);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    x->p = p;
    x->tls = tls;
    x->in_multi = x->deferred = x->awaiting = x->connected = x->opened_conn = x->gate = false;
    x->host = NULL;
    x->conn_sock = -1;
    /* curl looks for a reusable connection by walking every connection to
     * the host, busy or not: O(connections) per transfer, quadratic in a
     * burst of thousands.  Over plain HTTP/1.1, when every connection we
     * have is taken by a transfer in progress, none can be reused, so the
     * walk is skipped (the new connection is cached for reuse as usual). */
    long fresh = !tls && p->n_conns <= p->active ? 1L : 0L;
    /* The engine's proxy, else the environment's (read_proxy_env), else
     * "" (none): always set, so libcurl never reads the environment. */
    static const char no_proxy[] = "";
    const char *proxy = o->proxy ? o->proxy
                        : tls    ? (h->env_proxy_https ? h->env_proxy_https : no_proxy)
                                 : (h->env_proxy_http ? h->env_proxy_http : no_proxy);
    long timeout = (long)(o->timeout_ms > 0 ? o->timeout_ms : 0);
    long ctimeout = (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 0);
    /* What the handle already has from its previous request is not set
     * again (each string option is a copy inside curl): x->set. */
    if (setopt_url(x) != CURLE_OK ||
        (x->set.pipewait != (long)tls && setopt_long(e, CURLOPT_PIPEWAIT, tls, &x->set.pipewait) != CURLE_OK) ||
        (x->set.fresh != fresh && setopt_long(e, CURLOPT_FRESH_CONNECT, fresh, &x->set.fresh) != CURLE_OK) ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req.body ? x->req.body : "") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req.body_len) != CURLE_OK ||
        (x->set.hdrs != x->slist && curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist) != CURLE_OK) ||
        (x->set.timeout != timeout && setopt_long(e, CURLOPT_TIMEOUT_MS, timeout, &x->set.timeout) != CURLE_OK) ||
        (x->set.ctimeout != ctimeout &&
         setopt_long(e, CURLOPT_CONNECTTIMEOUT_MS, ctimeout, &x->set.ctimeout) != CURLE_OK) ||
        /* Set only when configured: every transfer of a transport has the
         * same engine options (the same strings: compared by address), so
         * a reused handle never carries another configuration's values.
         * Peer and host verification are never touched (on by default). */
        (proxy != x->set.proxy && curl_easy_setopt(e, CURLOPT_PROXY, proxy) != CURLE_OK) ||
        (o->ca_file != NULL && o->ca_file != x->set.ca_file &&
         curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) != CURLE_OK) ||
        (o->ca_path != NULL && o->ca_path != x->set.ca_path &&
         curl_easy_setopt(e, CURLOPT_CAPATH, o->ca_path) != CURLE_OK)) {
        set_reset(x);
        xfer_put(h, x);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    x->set.hdrs = x->slist;
    x->set.proxy = proxy;
    x->set.ca_file = o->ca_file;
    x->set.ca_path = o->ca_path;
    if (p->active + 1 > p->max_connects) {
        size_t want = p->max_connects * 2;
        while (want < p->active + 1)
            want *= 2;
        if (curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)want) == CURLM_OK)
            p->max_connects = want;
    }
    if (o->first_byte_timeout_ms > 0 &&
        llm__http_silence_set(x, llm__http_idle_due(x->last_rx_us, o->first_byte_timeout_ms)) != 0) {
        xfer_put(h, x);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    if (tls && (p->defer_head || !llm__http_may_add(p, x))) {
        /* Waits its turn (see the top of the file). */
        x->deferred = true;
        x->defer_prev = p->defer_tail;
        x->defer_next = NULL;
        if (p->defer_tail)
            p->defer_tail->defer_next = x;
        else
            p->defer_head = x;
        p->defer_tail = x;
        p->n_deferred++;
    } else if (!llm__http_add_to_multi(p, x)) {
        xfer_put(h, x);
        return LLM_ERR_INTERNAL;
    }
    p->active++;
    *out = x;
    return LLM_OK;
}

static void http_cancel(struct llm__http *h, struct llm__xfer *x)
{
    if (!x)
        return;
    struct llm__part *p = x->p;
    llm__http_detach(p, x);
    xfer_put(h, x);
    llm__http_release_deferred(p);
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

void llm__http_finish(struct llm__xfer *x, CURLcode rc)
{
    struct llm__http *h = x->h;
    struct llm__xfer_outcome o = {0};
    CURL *e = x->easy;
    if (!x->status_read) {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        x->status = (int)code;
    }
    o.status = x->status;
    o.transport_error = map_curl(rc);
    char msg[CURL_ERROR_SIZE + 160];
    if (x->fail_err != LLM_OK) {
        o.transport_error = x->fail_err;
        o.transport_message = x->fail_msg ? x->fail_msg : llm_strerror(x->fail_err);
    } else if (x->too_large) {
        o.transport_error = LLM_ERR_RESPONSE_TOO_LARGE;
        snprintf(msg, sizeof(msg), "response body exceeds the %zu-byte limit (max_response_bytes)",
                 x->opts.max_response_bytes);
        o.transport_message = msg;
    } else if (rc != CURLE_OK && x->sock_errno != 0 &&
               (x->sock_errno == EMFILE || x->sock_errno == ENFILE || x->sock_errno == ENOBUFS ||
                x->sock_errno == ENOMEM)) {
        /* Our own exhaustion, not the server's: retrying would only burn
         * the budget every other request shares. */
        o.transport_error = LLM_ERR_LOCAL_RESOURCE;
        snprintf(msg, sizeof(msg), "could not open a socket: %s (%s)",
                 x->sock_errno == EMFILE   ? "EMFILE, the process is out of file descriptors"
                 : x->sock_errno == ENFILE ? "ENFILE, the system is out of file descriptors"
                 : x->sock_errno == ENOBUFS ? "ENOBUFS"
                                            : "ENOMEM",
                 strerror(x->sock_errno));
        o.transport_message = msg;
    } else if (!x->headers_done && (rc == CURLE_OUT_OF_MEMORY || is_too_large(rc))) {
        /* curl refuses a header line over CURL_MAX_HTTP_HEADER (100 KiB)
         * with "out of memory" and no details: say what it was. */
        o.transport_error = LLM_ERR_PARSE;
        snprintf(msg, sizeof(msg),
                 "response header too large: a header line or the header block exceeds "
                 "curl's %d-byte limit (CURL_MAX_HTTP_HEADER)%s%s",
                 CURL_MAX_HTTP_HEADER, x->errbuf[0] ? ": " : "", x->errbuf);
        o.transport_message = msg;
    } else if (rc != CURLE_OK) {
        snprintf(msg, sizeof(msg), "%s: %s", curl_easy_strerror(rc),
                 x->errbuf[0] ? x->errbuf : "no details");
        o.transport_message = msg;
    }
    if (!llm__hdr_list_view(&x->hdrs, &o.headers) && o.transport_error == LLM_OK) {
        o.transport_error = LLM_ERR_OUT_OF_MEMORY;
        o.transport_message = "out of memory collecting the response headers";
    }
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

    llm__http_detach(x->p, x);
    x->cbs.on_done(x->user, &o);
    xfer_put(h, x);
}

static void curl_progress(void *impl, const struct llm__xfer *x, int *status, uint64_t *sent,
                          uint64_t *recv)
{
    long code = 0;
    curl_off_t up = 0, down = 0;
    long hdr = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(x->easy, CURLINFO_HEADER_SIZE, &hdr);
    *status = (int)code;
    *sent = (uint64_t)(up > 0 ? up : 0);
    *recv = (uint64_t)(down > 0 ? down : 0) + (uint64_t)(hdr > 0 ? hdr : 0);
}

void llm__http_check_done(struct llm__part *p)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct llm__xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            llm__http_finish(x, m->data.result);
    }
}

/* ---- the transport interface ------------------------------------------------ */

static enum llm_error curl_start(void *impl, struct llm_http_request *req,
                                 const struct llm__xfer_opts *o, const struct llm__xfer_cbs *cbs,
                                 void *user, struct llm__xfer **out)
{
    return http_start(impl, req, o, cbs, user, out);
}

static void curl_cancel(void *impl, struct llm__xfer *x) { http_cancel(impl, x); }

static void curl_destroy(void *impl) { http_free(impl); }

static const struct llm__transport_vtable curl_vtable = {
    .name = "curl",
    .start_failure = "could not start the HTTP transfer",
    .start = curl_start,
    .cancel = curl_cancel,
    .fail = llm__http_fail,
    .progress = curl_progress,
    .destroy = curl_destroy,
};

enum llm_error llm__transport_new_curl(struct llm__loop *loop, const char *user_agent,
                                       struct llm__transport **out)
{
    *out = NULL;
    struct llm__transport *t = calloc(1, sizeof(*t));
    if (!t)
        return LLM_ERR_OUT_OF_MEMORY;
    struct llm__http *h = NULL;
    if (http_new(loop, user_agent, &h) != 0) {
        free(t);
        return LLM_ERR_INTERNAL;
    }
    t->vt = &curl_vtable;
    t->impl = h;
    *out = t;
    return LLM_OK;
}
