/* Raw libcurl-multi baseline for the overhead benchmark: N small
 * Chat Completions POSTs, CONCURRENCY in flight, against the mock server,
 * with no llmorch code at all.  It is the floor the engine is measured
 * against, so it does only what any careful libcurl program must:
 *
 *   - the body is built once, the way the OpenAI provider builds it
 *     (bench_openai_body, byte for byte), and shared by every request;
 *   - the same request headers as the provider (Content-Type, a fresh
 *     X-Client-Request-Id UUID per request, no "Expect"), and the same
 *     transfer options (keep-alive, timeouts, no signals);
 *   - one easy handle per slot, reused, so connections are kept alive;
 *   - driven the same way as the engine: epoll + curl_multi_socket_action
 *     (or, with --perform, curl_multi_perform + curl_multi_poll);
 *   - the reply is buffered and its status checked, not parsed.
 *
 *   bench_overhead_curl URL N CONCURRENCY [--perform] [--dump-request]
 *                       [--cacert FILE] [--stream] [--latency]
 *
 * Prints one JSON line: client CPU (getrusage RUSAGE_SELF, user + sys)
 * measured around the run, per request, and the wall time.
 *
 * --cacert FILE: trust FILE for an https URL, with the transport's TLS
 *   settings (verification on, PIPEWAIT so HTTP/2 streams share a
 *   connection instead of each opening one before ALPN is known).
 * --stream: the streaming body; the reply is split into SSE events (each
 *   complete "...\n\n" block is counted and dropped, nothing is parsed):
 *   the floor for a client that delivers events.  Adds events and CPU per
 *   event to the line.
 * --latency: the wall time of each request (add to done), with p50/p99.
 * --max-host-conns K: CURLMOPT_MAX_HOST_CONNECTIONS (for HTTP/2: K = streams
 *   / the server's streams per connection; without it libcurl 7.88 opens a
 *   connection per stream beyond the first connection's, which would make
 *   the baseline pay for hundreds of handshakes llmorch does not make). */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "bench_common.h"

#define UUID_HDR "X-Client-Request-Id: "

struct slot {
    CURL *easy;
    double t_start;            /* --latency */
    struct curl_slist *hdrs;   /* three nodes made once; the UUID is rewritten in place */
    char *uuid;                /* points into the X-Client-Request-Id node's string */
    char *buf;
    size_t len, cap;
};

struct run {
    CURLM *multi;
    int epfd;
    double timer_due_s;        /* from curl's timer callback; < 0 = none */
    int issued, done, ok, n;
    uint64_t rng;
    bool stream;
    long events;               /* --stream: SSE events split off */
    double *lat_us;            /* --latency: one per request, else NULL */
};

static struct run *g_run;      /* for the write callback's event count */

/* A v7-shaped UUID from a cheap PRNG: the header has the same length and
 * form as the engine's (it only has to be unique here). */
static void make_uuid(struct run *r, char out[36])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char u[16];
    for (int i = 0; i < 16; i += 8) {
        r->rng ^= r->rng << 13;
        r->rng ^= r->rng >> 7;
        r->rng ^= r->rng << 17;
        memcpy(u + i, &r->rng, 8);
    }
    u[6] = (unsigned char)(0x70 | (u[6] & 0x0F));
    u[8] = (unsigned char)(0x80 | (u[8] & 0x3F));
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
}

/* --stream: take every complete event ("\n\n"-terminated) off the front
 * of the slot's buffer; a partial one waits for the next bytes. */
static void split_events(struct slot *s)
{
    size_t start = 0;
    for (size_t i = 1; i < s->len; i++) {
        if (s->buf[i] == '\n' && s->buf[i - 1] == '\n') {
            g_run->events++;
            start = i + 1;
        }
    }
    if (start > 0) {
        memmove(s->buf, s->buf + start, s->len - start);
        s->len -= start;
    }
}

static size_t on_write(char *data, size_t size, size_t n, void *user)
{
    struct slot *s = user;
    size_t len = size * n;
    if (s->len + len > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        while (ncap < s->len + len)
            ncap *= 2;
        char *nb = realloc(s->buf, ncap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    if (g_run->stream)
        split_events(s);
    return len;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *user, void *socketp)
{
    struct run *r = user;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
        curl_multi_assign(r->multi, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = 0, .data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (socketp) {
        epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev);
    } else {
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev);
        curl_multi_assign(r->multi, fd, (void *)1);
    }
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *user)
{
    struct run *r = user;
    r->timer_due_s = timeout_ms < 0 ? -1.0 : bench_now_s() + (double)timeout_ms / 1000.0;
    return 0;
}

static void start(struct run *r, struct slot *s)
{
    make_uuid(r, s->uuid);
    s->len = 0;
    if (r->lat_us)
        s->t_start = bench_now_s();
    r->issued++;
    curl_multi_add_handle(r->multi, s->easy);
}

static void reap(struct run *r)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(r->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct slot *s = NULL;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (r->lat_us)
            r->lat_us[r->done] = (bench_now_s() - s->t_start) * 1e6;
        r->done++;
        /* A stream's buffer holds only an unterminated tail (none). */
        if (rc == CURLE_OK && status == 200 && (r->stream || s->len > 0))
            r->ok++;
        curl_multi_remove_handle(r->multi, e);
        if (r->issued < r->n)
            start(r, s);
    }
}

static int setup_slot(struct slot *s, const char *endpoint, const char *body, const char *cacert)
{
    char hdr[sizeof(UUID_HDR) + 36];
    snprintf(hdr, sizeof(hdr), "%s%036d", UUID_HDR, 0);
    s->easy = curl_easy_init();
    /* The provider's order: the trace header, then Content-Type. */
    s->hdrs = curl_slist_append(NULL, hdr);
    s->hdrs = curl_slist_append(s->hdrs, "Content-Type: application/json");
    s->hdrs = curl_slist_append(s->hdrs, "Expect:");
    if (!s->easy || !s->hdrs)
        return -1;
    s->uuid = s->hdrs->data + strlen(UUID_HDR);
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, endpoint);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 600000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (cacert) {
        curl_easy_setopt(e, CURLOPT_CAINFO, cacert);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    }
    return 0;
}

static void run_socket(struct run *r)
{
    struct epoll_event evs[256];
    int running = 0;
    while (r->done < r->n) {
        int wait_ms = 1000;
        if (r->timer_due_s >= 0) {
            double d = (r->timer_due_s - bench_now_s()) * 1000.0;
            wait_ms = d <= 0 ? 0 : d > 1000 ? 1000 : (int)d + 1;
        }
        int n = epoll_wait(r->epfd, evs, 256, wait_ms);
        for (int i = 0; i < n; i++) {
            int flags = 0;
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(r->multi, evs[i].data.fd, flags, &running);
        }
        /* Handles re-added in reap() ask for a 0 ms timer: honoured here on
         * the next turn, as the engine's loop does. */
        if (r->timer_due_s >= 0 && bench_now_s() >= r->timer_due_s) {
            r->timer_due_s = -1.0;
            curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        reap(r);
    }
}

static void run_perform(struct run *r)
{
    int running = 0;
    while (r->done < r->n) {
        curl_multi_perform(r->multi, &running);
        reap(r);
        if (r->done < r->n)
            curl_multi_poll(r->multi, NULL, 0, 1000, NULL);
    }
}

int main(int argc, char **argv)
{
    bool perform = false, dump = false, stream = false, latency = false;
    const char *cacert = NULL;
    long max_host_conns = 0;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--perform") == 0)
            perform = true;
        else if (strcmp(argv[i], "--dump-request") == 0)
            dump = true;
        else if (strcmp(argv[i], "--stream") == 0)
            stream = true;
        else if (strcmp(argv[i], "--latency") == 0)
            latency = true;
        else if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            cacert = argv[++i];
        else if (strcmp(argv[i], "--max-host-conns") == 0 && i + 1 < argc)
            max_host_conns = atol(argv[++i]);
        else if (npos < 3)
            pos[npos++] = argv[i];
    }
    if (npos != 3 && !(dump && npos >= 1)) {
        fprintf(stderr, "usage: %s URL N CONCURRENCY [--perform] [--dump-request] [--cacert FILE] "
                        "[--stream] [--latency] [--max-host-conns K]\n", argv[0]);
        return 2;
    }
    char endpoint[512];
    snprintf(endpoint, sizeof(endpoint), "%s/v1/chat/completions", pos[0]);
    char *body = bench_openai_body(BENCH_MODEL, BENCH_PROMPT, BENCH_MAX_TOKENS, stream);
    if (!body)
        return 1;
    if (dump) {
        /* The headers a slot really sends (minus curl's "Expect:" removal). */
        struct slot s = {0};
        if (setup_slot(&s, endpoint, body, cacert) != 0)
            return 1;
        printf("POST %s\n", endpoint);
        for (struct curl_slist *h = s.hdrs; h != NULL; h = h->next) {
            if (strcmp(h->data, "Expect:") == 0)
                continue;
            if (strncmp(h->data, UUID_HDR, strlen(UUID_HDR)) == 0)
                printf("%s<uuid>\n", UUID_HDR);
            else
                printf("%s\n", h->data);
        }
        printf("\n%s\n", body);
        curl_easy_cleanup(s.easy);
        curl_slist_free_all(s.hdrs);
        free(body);
        return 0;
    }
    int n = atoi(pos[1]), conc = atoi(pos[2]);
    if (n <= 0 || conc <= 0)
        return 2;
    if (conc > n)
        conc = n;
    bench_raise_nofile(conc + 64);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct run r = {.n = n, .timer_due_s = -1.0, .rng = 0x9E3779B97F4A7C15ull, .stream = stream};
    g_run = &r;
    if (latency && !(r.lat_us = calloc((size_t)n, sizeof(double))))
        return 1;
    r.multi = curl_multi_init();
    r.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (max_host_conns > 0)
        curl_multi_setopt(r.multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_conns);
    if (!perform) {
        curl_multi_setopt(r.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(r.multi, CURLMOPT_SOCKETDATA, &r);
        curl_multi_setopt(r.multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(r.multi, CURLMOPT_TIMERDATA, &r);
    }
    struct slot *slots = calloc((size_t)conc, sizeof(*slots));
    if (!slots)
        return 1;
    for (int i = 0; i < conc; i++)
        if (setup_slot(&slots[i], endpoint, body, cacert) != 0)
            return 1;

    double u0, s0, u1, s1;
    bench_cpu_s(&u0, &s0);
    double t0 = bench_now_s();
    for (int i = 0; i < conc; i++)
        start(&r, &slots[i]);
    if (perform)
        run_perform(&r);
    else
        run_socket(&r);
    double wall = bench_now_s() - t0;
    bench_cpu_s(&u1, &s1);

    double cpu = (u1 - u0) + (s1 - s0);
    printf("{\"client\":\"raw_curl%s\",\"n\":%d,\"concurrency\":%d,\"ok\":%d,\"wall_s\":%.4f,"
           "\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,\"cpu_us_per_req\":%.3f,\"req_per_s\":%.1f",
           perform ? "_perform" : "", n, conc, r.ok, wall, u1 - u0, s1 - s0, cpu * 1e6 / n,
           n / wall);
    if (cacert)
        printf(",\"tls\":true");
    if (stream)
        printf(",\"events\":%ld,\"cpu_us_per_event\":%.3f", r.events,
               r.events ? cpu * 1e6 / (double)r.events : 0.0);
    if (r.lat_us)
        bench_print_latency(r.lat_us, n);
    printf("}\n");
    free(r.lat_us);
    for (int i = 0; i < conc; i++) {
        curl_easy_cleanup(slots[i].easy);
        curl_slist_free_all(slots[i].hdrs);
        free(slots[i].buf);
    }
    free(slots);
    curl_multi_cleanup(r.multi);
    free(body);
    return r.ok == n ? 0 : 1;
}
