/* The curl transport's multi handles ("parts"), their sockets and timers
 * on the engine's loop, and the window that hands https transfers to curl
 * only as far as HTTP/2 connections have free streams.  Why both exist:
 * http.c's header comment.  Loop thread only.
 *
 * TLS session gate.  libcurl 7.88 keeps ONE TLS session per host (a new
 * ticket replaces the cached one), and OpenSSL 3's client marks a TLS 1.3
 * session not resumable once a handshake has used it (tls_finish_handshake
 * calls SSL_CTX_remove_session: "only use TLSv1.3 tickets once"; curl sets
 * SSL_SESS_CACHE_CLIENT).  The server's ticket arrives a round trip after
 * the handshake.  So every connection that starts its handshake after the
 * cached ticket was used and before the next one came does a full
 * handshake: connections opened together resume at most once, and in the
 * 10,000-stream bench 17 of 100 connections (and 9 of 10 after a
 * reconnect) made full handshakes.  Hence a gate per host, across every
 * part, for connections that may carry HTTP/2: one transfer that may open
 * a connection is handed to curl at a time; when it did open one, the
 * next waits until that connection's NewSessionTicket was read, so each
 * connection finds a fresh ticket.  The ticket is seen in curl's TLS trace
 * (CURLOPT_VERBOSE + DEBUGFUNCTION, on the opening transfer only), and
 * until it comes the opener is the only stream on its new connection (the
 * ticket is read by whichever transfer curl is serving).  Transfers that
 * join existing connections pass meanwhile (those of other parts); a
 * server that sends no ticket, or a curl that does not trace TLS, holds
 * the next opening at most twice the handshake's time.  HTTP/1.1 over TLS
 * (a connection per transfer in flight) is not held once known: a full
 * handshake costs CPU, a wait would cost every transfer latency. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "transport/http_internal.h"

static void gate_free(struct llm__tls_host *g);
static void on_gate_timer(struct llm__timer *t, void *user);

/* A connection's ticket is awaited at least this long (the server may be
 * slow to answer while busy), at most this long (a server that sends none). */
#define GATE_MIN_WAIT_US 20000
#define GATE_MAX_WAIT_US 1000000

/* The host whose gate waits on connection `fd` for its ticket, or NULL. */
static struct llm__tls_host *ticket_wait_on(struct llm__http *h, curl_socket_t fd)
{
    for (struct llm__tls_host *g = h->tls_hosts; g; g = g->next)
        if (g->fd == fd)
            return g;
    return NULL;
}

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
    p->h->event_us = llm__now_mono_us(); /* see http_internal.h */
    curl_multi_socket_action(p->multi, fd, flags, &running);
    p->h->event_us = 0;
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
    x->opened_fd = fd;
    return fd;
}

int llm__http_closesocket_cb(void *clientp, curl_socket_t fd)
{
    struct llm__http *h = clientp;
    llm__loop_fd_reset(h->loop, fd, true);
    if (h->tickets_awaited) {
        struct llm__tls_host *g = ticket_wait_on(h, fd);
        if (g)
            gate_free(g);
    }
    if (is_conn_fd(h, fd)) {
        struct llm__part *p = h->parts[h->fds[fd].part - 1];
        p->n_conns--;
        if (h->fds[fd].streams > 0)
            p->busy_conns--;
        for (size_t i = 0; i < p->n_ports; i++)
            if (p->ports[i].fd == fd) {
                p->ports[i] = p->ports[--p->n_ports];
                break;
            }
        h->fds[fd].part = 0;
        h->fds[fd].streams = 0;
        h->fds[fd].gen++;
    }
    return close(fd);
}

/* The connection socket `x` got, by its ports (curl 7.88's
 * CURLINFO_ACTIVESOCKET does not know it yet here: for a fresh handle it
 * is -1, for a pooled one the previous transfer's connection, so streams
 * were never counted right).  A transfer that opened a connection got
 * that one: its ports are learnt then.  CURL_SOCKET_BAD if unknown. */
static curl_socket_t conn_of(struct llm__part *p, struct llm__xfer *x, int local_port,
                             int remote_port)
{
    struct llm__http *h = p->h;
    curl_socket_t s = x->opened_conn ? x->opened_fd : CURL_SOCKET_BAD;
    if (local_port <= 0 || local_port > 65535 || remote_port <= 0 || remote_port > 65535)
        return CURL_SOCKET_BAD;
    uint16_t lport = (uint16_t)local_port, rport = (uint16_t)remote_port;
    if (s != CURL_SOCKET_BAD) {
        if (!is_conn_fd(h, s) || h->fds[s].part != p->id)
            return CURL_SOCKET_BAD;
        for (size_t i = 0; i < p->n_ports; i++)
            if (p->ports[i].fd == s) {
                p->ports[i].lport = lport;
                p->ports[i].rport = rport;
                return s;
            }
        if (p->n_ports == p->cap_ports) {
            size_t ncap = p->cap_ports ? p->cap_ports * 2 : 8;
            struct llm__port *n = realloc(p->ports, ncap * sizeof(*n));
            if (!n)
                return s;
            p->ports = n;
            p->cap_ports = ncap;
        }
        p->ports[p->n_ports].fd = s;
        p->ports[p->n_ports].lport = lport;
        p->ports[p->n_ports++].rport = rport;
        return s;
    }
    for (size_t i = 0; i < p->n_ports; i++)
        if (p->ports[i].lport == lport && p->ports[i].rport == rport)
            return p->ports[i].fd;
    return CURL_SOCKET_BAD;
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
        /* HTTP/1.1: nothing to count (a connection per transfer). */
        curl_socket_t s = p->mux == LLM__MUX_NO ? CURL_SOCKET_BAD : conn_of(p, x, local_port, primary_port);
        if (s != CURL_SOCKET_BAD) {
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
    if (x->gate) {
        /* Handshake done (or a stream on an existing connection): the
         * gate now waits for this connection's ticket, if it made one. */
        struct llm__http *h = x->h;
        struct llm__tls_host *g = x->host;
        bool waits = false;
        x->gate = false;
        g->opener = NULL;
        if (x->opened_conn && !x->ticket && x->conn_sock >= 0 && !ticket_wait_on(h, x->conn_sock)) {
            int64_t now = llm__now_mono_us();
            int64_t wait = 2 * (now - g->taken_us);
            wait = wait < GATE_MIN_WAIT_US ? GATE_MIN_WAIT_US
                   : wait > GATE_MAX_WAIT_US ? GATE_MAX_WAIT_US : wait;
            if (llm__timer_start(h->loop, &g->timer, now + wait, on_gate_timer, g) == 0) {
                g->fd = x->conn_sock;
                h->tickets_awaited++;
                waits = true;
            }
        }
        if (!waits)
            h->gate_freed = true;
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

enum add_kind { ADD_NOT_NOW, ADD_STREAM, ADD_MAY_OPEN };

/* Whether an https transfer may be handed to curl now: always once the
 * connections are known not to multiplex; else when no other transfer
 * waits for a connection, or while the connections in use surely have a
 * free stream for it.  ADD_MAY_OPEN: it may open a connection. */
static enum add_kind add_kind(const struct llm__part *p)
{
    if (p->mux == LLM__MUX_NO)
        return ADD_STREAM;
    if (p->mux == LLM__MUX_YES && p->est_streams > 0 && p->busy_conns <= SIZE_MAX / p->est_streams) {
        size_t cap = p->busy_conns * p->est_streams;
        size_t used = p->connected + p->awaiting;
        if (used < cap)
            return ADD_STREAM;
        if (p->awaiting == 0)
            return ADD_MAY_OPEN;
        /* Every stream taken: each transfer beyond opens a connection.  As
         * many as the waiting transfers will fill, MAX_OPENING at most. */
        size_t want = 1 + p->n_deferred / p->est_streams;
        return used - cap < (want < MAX_OPENING ? want : MAX_OPENING) ? ADD_MAY_OPEN : ADD_NOT_NOW;
    }
    return p->awaiting == 0 ? ADD_MAY_OPEN : ADD_NOT_NOW;
}

/* The gate of the host `x` goes to (x->host caches it); NULL when there
 * are MAX_TLS_HOSTS already or no memory (the host then opens ungated). */
static struct llm__tls_host *host_of(struct llm__xfer *x)
{
    if (x->host)
        return x->host;
    struct llm__http *h = x->h;
    const char *a = strstr(x->req.url, "://");
    a = a ? a + 3 : x->req.url;
    size_t n = strcspn(a, "/?#");
    for (struct llm__tls_host *g = h->tls_hosts; g; g = g->next)
        if (g->key_len == n && strncasecmp(g->key, a, n) == 0)
            return x->host = g;
    if (h->n_tls_hosts >= MAX_TLS_HOSTS)
        return NULL;
    struct llm__tls_host *g = calloc(1, sizeof(*g));
    char *key = malloc(n + 1);
    if (!g || !key) {
        free(g);
        free(key);
        return NULL;
    }
    memcpy(key, a, n);
    key[n] = '\0';
    g->h = h;
    g->key = key;
    g->key_len = n;
    g->fd = -1;
    g->next = h->tls_hosts;
    h->tls_hosts = g;
    h->n_tls_hosts++;
    return x->host = g;
}

static bool gate_busy(const struct llm__tls_host *g) { return g && (g->opener || g->fd >= 0); }

/* The gate's connection read its ticket, closed, or waited long enough. */
static void gate_free(struct llm__tls_host *g)
{
    if (g->fd < 0)
        return;
    g->fd = -1;
    g->h->tickets_awaited--;
    g->h->gate_freed = true;
    llm__timer_stop(g->h->loop, &g->timer);
}

static void release_all(struct llm__http *h);

static void on_gate_timer(struct llm__timer *t, void *user)
{
    struct llm__tls_host *g = user;
    (void)t;
    gate_free(g);
    release_all(g->h);
}

void llm__http_tls_hosts_free(struct llm__http *h)
{
    while (h->tls_hosts) {
        struct llm__tls_host *g = h->tls_hosts;
        h->tls_hosts = g->next;
        llm__timer_stop(h->loop, &g->timer);
        free(g->key);
        free(g);
    }
    h->n_tls_hosts = 0;
    h->tickets_awaited = 0;
}

/* The opener's TLS messages (curl's verbose trace, asked for that
 * transfer only): a NewSessionTicket, read in the same call as curl
 * caches it, frees the gate.  Everything else is ignored (nothing of the
 * trace is kept: it has the request's headers). */
static int debug_cb(CURL *easy, curl_infotype type, char *data, size_t size, void *userp)
{
    struct llm__xfer *x = userp;
    (void)easy;
    /* A handshake message: type byte (4 = NewSessionTicket) and 24-bit
     * length; record headers and alerts never match. */
    if (type != CURLINFO_SSL_DATA_IN || size < 4 || (unsigned char)data[0] != 4 ||
        (((size_t)(unsigned char)data[1] << 16) | ((size_t)(unsigned char)data[2] << 8) |
         (unsigned char)data[3]) != size - 4 || !x->host)
        return 0;
    if (x->gate)
        x->ticket = true; /* before its handshake completed (TLS 1.2) */
    else if (x->host->fd >= 0 && x->host->fd == x->conn_sock)
        gate_free(x->host);
    return 0;
}

bool llm__http_may_add(struct llm__part *p, struct llm__xfer *x)
{
    enum add_kind k = add_kind(p);
    if (k == ADD_NOT_NOW)
        return false;
    if (k == ADD_STREAM && (!p->h->tickets_awaited || p->mux == LLM__MUX_NO))
        return true;
    struct llm__tls_host *g = host_of(x);
    if (k == ADD_MAY_OPEN)
        return !gate_busy(g);
    /* While this part's newest connection awaits its ticket, its opener
     * stays the only stream there, so that the ticket is read in the
     * transfer curl traces (about a round trip). */
    return !g || g->fd < 0 || p->h->fds[g->fd].part != p->id;
}

/* Hand `x` to curl.  False if curl refused it. */
bool llm__http_add_to_multi(struct llm__part *p, struct llm__xfer *x)
{
    if (x->tls && p->mux != LLM__MUX_NO) {
        struct llm__tls_host *g = add_kind(p) == ADD_MAY_OPEN ? host_of(x) : NULL;
        if (g && !gate_busy(g)) {
            g->opener = x;
            g->taken_us = llm__now_mono_us();
            x->gate = true;
            x->ticket = false;
            /* To see its ticket arrive (see debug_cb); off again when it
             * ends.  Where curl does not trace TLS, the timer decides. */
            if (!x->verbose && curl_easy_setopt(x->easy, CURLOPT_DEBUGFUNCTION, debug_cb) == CURLE_OK &&
                curl_easy_setopt(x->easy, CURLOPT_DEBUGDATA, x) == CURLE_OK &&
                curl_easy_setopt(x->easy, CURLOPT_VERBOSE, 1L) == CURLE_OK)
                x->verbose = true;
        }
        x->awaiting = true;
        p->awaiting++;
    }
    if (curl_multi_add_handle(p->multi, x->easy) != CURLM_OK) {
        if (x->awaiting) {
            x->awaiting = false;
            p->awaiting--;
        }
        if (x->gate) {
            x->gate = false;
            x->host->opener = NULL;
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

static void release_part(struct llm__part *p)
{
    while (p->defer_head && llm__http_may_add(p, p->defer_head)) {
        struct llm__xfer *x = p->defer_head;
        defer_unlink(p, x);
        if (!llm__http_add_to_multi(p, x))
            llm__http_finish(x, CURLE_OUT_OF_MEMORY);
    }
}

/* A gate opened: transfers of every part may be waiting for it.
 * O(parts), once per https connection. */
static void release_all(struct llm__http *h)
{
    while (h->gate_freed) {
        h->gate_freed = false;
        for (size_t i = 0; i < h->n_parts; i++)
            release_part(h->parts[i]);
    }
}

/* Hand waiting transfers to curl while the window allows.  Never inside a
 * curl callback. */
void llm__http_release_deferred(struct llm__part *p)
{
    release_part(p);
    release_all(p->h);
}

static void on_curl_timer(struct llm__timer *t, void *user)
{
    struct llm__part *p = user;
    int running;
    p->h->event_us = llm__now_mono_us(); /* see http_internal.h */
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    p->h->event_us = 0;
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
     * forbids re-entering socket_action); the loop fires it next turn.
     * Counted from the event's clock read when called inside
     * socket_action (llm__http_rx_now; curl moves its timer about twice a
     * request): at most that call's duration early, and a timer that
     * fires early only makes curl set it again. */
    if (llm__timer_start(p->h->loop, &p->timer, llm__http_rx_now(p->h) + (int64_t)timeout_ms * 1000,
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
    free(p->ports);
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
    if (x->gate) {
        x->gate = false;
        x->host->opener = NULL;
        x->h->gate_freed = true;
    }
    x->awaiting = x->connected = false;
    x->conn_sock = -1;
    if (x->in_multi)
        curl_multi_remove_handle(p->multi, x->easy);
    else if (x->deferred)
        defer_unlink(p, x);
    if (x->verbose) {
        /* And no trace callback: curl's TLS trace on the connection this
         * transfer opened would call it for every record of the streams
         * this handle carries next. */
        curl_easy_setopt(x->easy, CURLOPT_VERBOSE, 0L);
        curl_easy_setopt(x->easy, CURLOPT_DEBUGFUNCTION, (curl_debug_callback)NULL);
        x->verbose = false;
    }
    x->in_multi = false;
    p->active--;
}
