/* The curl transport's multi handles ("parts"), their sockets and timers
 * on the engine's loop, and the window that hands https transfers to curl
 * only as far as HTTP/2 connections have free streams.  Why both exist:
 * http.c's header comment.  Loop thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "transport/http_internal.h"

static void on_socket_event(int fd, uint32_t events, void *user)
{
    struct llm__part *p = user;
    int flags = 0;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(p->multi, fd, flags, &running);
    llm__http_check_done(p);
    llm__http_release_deferred(p);
}


static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct llm__part *p = userp;
    struct llm__http *h = p->h;
    if (what == CURL_POLL_REMOVE) {
        /* A connection going idle in curl's cache is usually reused by the
         * next request with the same mask: keep it in the epoll set rather
         * than pay an EPOLL_CTL_DEL now and an ADD then.  Other sockets
         * (the resolver's) go at once. */
        if (is_conn_fd(h, s))
            llm__loop_unwatch_lazy(h->loop, s);
        else
            llm__loop_unwatch(h->loop, s);
        curl_multi_assign(p->multi, s, NULL);
        return 0;
    }
    uint32_t ev = 0;
    if (what & CURL_POLL_IN)
        ev |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev |= EPOLLOUT;
    if (llm__loop_watch(h->loop, s, ev, on_socket_event, p) != 0)
        return -1;
    if (!socketp)
        curl_multi_assign(p->multi, s, (void *)1);
    return 0;
}

/* Connection sockets: made and closed here so that the loop's record of
 * an fd number never outlives the socket (see llm__loop_unwatch_lazy). */
curl_socket_t llm__http_opensocket_cb(void *clientp, curlsocktype purpose,
                                   struct curl_sockaddr *addr)
{
    struct llm__xfer *x = clientp;
    struct llm__http *h = x->h;
    curl_socket_t fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0) {
        /* curl only says "couldn't connect": keep the reason, so that a
         * process out of descriptors is told apart from a server down. */
        x->sock_errno = errno;
        return CURL_SOCKET_BAD;
    }
    if ((size_t)fd >= h->fds_cap) {
        size_t ncap = h->fds_cap ? h->fds_cap : 256;
        while (ncap <= (size_t)fd)
            ncap *= 2;
        struct llm__fdinfo *n = realloc(h->fds, ncap * sizeof(*n));
        if (!n) {
            close(fd);
            return CURL_SOCKET_BAD;
        }
        memset(n + h->fds_cap, 0, (ncap - h->fds_cap) * sizeof(*n));
        h->fds = n;
        h->fds_cap = ncap;
    }
    llm__loop_fd_reset(h->loop, fd, false);
    h->fds[fd].part = x->p->id;
    h->fds[fd].streams = 0;
    x->p->n_conns++;
    x->opened_conn = true;
    return fd;
}

int llm__http_closesocket_cb(void *clientp, curl_socket_t fd)
{
    struct llm__http *h = clientp;
    llm__loop_fd_reset(h->loop, fd, true);
    if (is_conn_fd(h, fd)) {
        struct llm__part *p = h->parts[h->fds[fd].part - 1];
        p->n_conns--;
        if (h->fds[fd].streams > 0)
            p->busy_conns--;
        h->fds[fd].part = 0;
        h->fds[fd].streams = 0;
        h->fds[fd].gen++;
    }
    return close(fd);
}

/* An https transfer has its connection (new, reused or a stream on a
 * multiplexed one), just before its request goes out.  Inside curl: only
 * counts. */
int llm__http_prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    struct llm__xfer *x = clientp;
    struct llm__part *p = x->p;
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    if (!x->tls || !p)
        return CURL_PREREQFUNC_OK;
    if (x->awaiting) {
        x->awaiting = false;
        p->awaiting--;
    }
    if (!x->connected) {
        struct llm__http *h = x->h;
        size_t before = p->connected, busy_before = p->busy_conns;
        uint32_t on_conn = 0;
        x->connected = true;
        p->connected++;
        curl_socket_t s = CURL_SOCKET_BAD;
        if (curl_easy_getinfo(x->easy, CURLINFO_ACTIVESOCKET, &s) == CURLE_OK &&
            is_conn_fd(h, s) && h->fds[s].part == p->id) {
            x->conn_sock = s;
            x->conn_gen = h->fds[s].gen;
            on_conn = ++h->fds[s].streams;
            if (on_conn == 1)
                p->busy_conns++;
        }
        /* Two streams on one connection: it multiplexes (that a transfer
         * opened a connection of its own says nothing: curl also does so
         * before the server's SETTINGS are read; a response's status line
         * tells HTTP/1.1 apart, see llm__http_saw_version). */
        if (p->mux == LLM__MUX_UNKNOWN && on_conn > 1)
            p->mux = LLM__MUX_YES;
        if (p->mux == LLM__MUX_YES) {
            /* Streams a connection takes: at least as many as one carries;
             * and when a transfer found every connection full, their mean. */
            if (on_conn > p->est_streams)
                p->est_streams = on_conn;
            if (x->opened_conn && p->est_streams <= 1 && busy_before > 0 && before / busy_before > 1)
                p->est_streams = before / busy_before;
        }
    }
    return CURL_PREREQFUNC_OK;
}

void llm__http_saw_version(struct llm__xfer *x, const char *status_line, size_t len)
{
    struct llm__part *p = x->p;
    if (!x->tls || !p || p->mux != LLM__MUX_UNKNOWN || len < 7)
        return;
    if (memcmp(status_line, "HTTP/1.", 7) == 0)
        p->mux = LLM__MUX_NO;
}

/* Whether an https transfer may be handed to curl now: always once the
 * connections are known not to multiplex; else when no other transfer
 * waits for a connection, or while the connections in use surely have a
 * free stream for it. */
bool llm__http_may_add(const struct llm__part *p)
{
    if (p->mux == LLM__MUX_NO || p->awaiting == 0)
        return true;
    if (p->mux != LLM__MUX_YES || p->est_streams == 0 || p->busy_conns > SIZE_MAX / p->est_streams)
        return false;
    size_t cap = p->busy_conns * p->est_streams;
    size_t used = p->connected + p->awaiting;
    if (used < cap)
        return true;
    /* Every stream taken: each transfer beyond opens a connection.  As
     * many as the waiting transfers will fill, MAX_OPENING at most. */
    size_t want = 1 + p->n_deferred / p->est_streams;
    return used - cap < (want < MAX_OPENING ? want : MAX_OPENING);
}

/* Hand `x` to curl.  False if curl refused it. */
bool llm__http_add_to_multi(struct llm__part *p, struct llm__xfer *x)
{
    if (x->tls && p->mux != LLM__MUX_NO) {
        x->awaiting = true;
        p->awaiting++;
    }
    if (curl_multi_add_handle(p->multi, x->easy) != CURLM_OK) {
        if (x->awaiting) {
            x->awaiting = false;
            p->awaiting--;
        }
        return false;
    }
    x->in_multi = true;
    return true;
}

static void defer_unlink(struct llm__part *p, struct llm__xfer *x)
{
    if (x->defer_prev)
        x->defer_prev->defer_next = x->defer_next;
    else
        p->defer_head = x->defer_next;
    if (x->defer_next)
        x->defer_next->defer_prev = x->defer_prev;
    else
        p->defer_tail = x->defer_prev;
    x->defer_prev = x->defer_next = NULL;
    x->deferred = false;
    p->n_deferred--;
}

/* Hand waiting transfers to curl while the window allows.  Never inside a
 * curl callback. */
void llm__http_release_deferred(struct llm__part *p)
{
    while (p->defer_head && llm__http_may_add(p)) {
        struct llm__xfer *x = p->defer_head;
        defer_unlink(p, x);
        if (!llm__http_add_to_multi(p, x))
            llm__http_finish(x, CURLE_OUT_OF_MEMORY);
    }
}

static void on_curl_timer(struct llm__timer *t, void *user)
{
    struct llm__part *p = user;
    int running;
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    llm__http_check_done(p);
    llm__http_release_deferred(p);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct llm__part *p = userp;
    if (timeout_ms < 0) {
        llm__timer_stop(p->h->loop, &p->timer);
        return 0;
    }
    /* A zero timeout must not be handled from inside this callback (curl
     * forbids re-entering socket_action); the loop fires it next turn. */
    if (llm__timer_start(p->h->loop, &p->timer, llm__now_mono_us() + (int64_t)timeout_ms * 1000,
                         on_curl_timer, p) != 0)
        return -1;
    return 0;
}

void llm__http_part_free(struct llm__part *p)
{
    if (!p)
        return;
    llm__timer_stop(p->h->loop, &p->timer);
    if (p->multi)
        curl_multi_cleanup(p->multi);
    free(p);
}

/* A new part (multi handle), appended to h->parts.  NULL if out of memory
 * or at MAX_PARTS. */
struct llm__part *llm__http_part_new(struct llm__http *h)
{
    if (h->n_parts >= MAX_PARTS)
        return NULL;
    if (h->n_parts == h->cap_parts) {
        size_t ncap = h->cap_parts ? h->cap_parts * 2 : 4;
        struct llm__part **n = realloc(h->parts, ncap * sizeof(*n));
        if (!n)
            return NULL;
        h->parts = n;
        h->cap_parts = ncap;
    }
    struct llm__part *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->h = h;
    p->id = (uint16_t)(h->n_parts + 1);
    p->multi = curl_multi_init();
    if (!p->multi) {
        free(p);
        return NULL;
    }
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    /* Let HTTP/2 streams share a connection where the server offers it. */
    curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* curl's default cache holds 4 connections per easy handle added at the
     * moment one is returned, which after a burst of completions closes
     * connections the next requests would have reused. */
    p->max_connects = 64;
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)p->max_connects);
    h->parts[h->n_parts++] = p;
    return p;
}

/* The part a new transfer goes to: one with an idle connection to reuse
 * (a plain keep-alive connection: more connections than transfers), else
 * the first with room, else a new one.  O(parts), a few dozen at most. */
struct llm__part *llm__http_pick_part(struct llm__http *h, bool tls)
{
    size_t cap = tls ? PART_XFERS_TLS : PART_XFERS_PLAIN;
    struct llm__part *room = NULL;
    for (size_t i = 0; i < h->n_parts; i++) {
        struct llm__part *p = h->parts[i];
        if (p->active >= cap)
            continue;
        if (p->n_conns > p->active)
            return p;
        if (!room)
            room = p;
    }
    if (room)
        return room;
    struct llm__part *p = llm__http_part_new(h);
    /* Out of parts or memory: share the last one (slower, still correct). */
    return p ? p : (h->n_parts ? h->parts[h->n_parts - 1] : NULL);
}

/* Take `x` off its part: out of curl (or off the waiting list) and out of
 * the counts. */
void llm__http_detach(struct llm__part *p, struct llm__xfer *x)
{
    if (x->awaiting)
        p->awaiting--;
    if (x->connected) {
        p->connected--;
        struct llm__fdinfo *f = x->conn_sock >= 0 ? &x->h->fds[x->conn_sock] : NULL;
        if (f && f->gen == x->conn_gen && f->part == p->id && f->streams > 0 && --f->streams == 0)
            p->busy_conns--;
    }
    x->awaiting = x->connected = false;
    x->conn_sock = -1;
    if (x->in_multi)
        curl_multi_remove_handle(p->multi, x->easy);
    else if (x->deferred)
        defer_unlink(p, x);
    x->in_multi = false;
    p->active--;
}
