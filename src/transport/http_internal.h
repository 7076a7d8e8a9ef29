/* Internals of the curl transport shared by http.c (transfers: setup,
 * callbacks, completion) and http_parts.c (the multi handles, sockets and
 * the https connection window).  Loop thread only.  See http.c's header
 * comment for why there are several multi handles and a window. */
#ifndef LLMORCH_TRANSPORT_HTTP_INTERNAL_H
#define LLMORCH_TRANSPORT_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "base/loop.h"
#include "base/util.h"
#include "transport/headers.h"
#include "transport/transport.h"

#define MAX_RESPONSE_HEADERS 128
#define MAX_HEADER_BYTES (64 * 1024)
/* Finished transfers are kept for reuse, with their easy handle (which
 * keeps its options, so only what differs per request is set again) and
 * their buffers (so a steady stream of requests allocates almost nothing):
 * at most MAX_SPARE of them, and no buffer above KEEP_BUF_BYTES. */
#define MAX_SPARE 4096
#define KEEP_BUF_BYTES (16 * 1024)
/* Transfers per part.  Over plain HTTP/1.1 each transfer holds a connection
 * of its own, so this bounds the connections libcurl 7.88 walks at each
 * removal and at each start (its search for an idle connection skips the
 * busy ones one by one: with 64 in flight on one part, ~31 per request,
 * ~2,000 instructions of the ~97,000 a request costs; on parts of 16,
 * ~8 (callgrind, bench/overhead_llmorch at 64 in flight).  Smaller parts
 * cost more multi handles: ~2 KiB more RSS per stream at 10,000 streams
 * (22.4 against 20.0 KiB), no more CPU per stream.  Over https
 * the connections are usually HTTP/2 (about 100 streams each): a larger
 * share keeps a part's streams on few, full connections. */
#define PART_XFERS_PLAIN 16
#define PART_XFERS_TLS 1000
/* Parts are numbered from 1 in the per-fd map (0 = not a connection). */
#define MAX_PARTS 4096
/* https connections being opened at once by one part, at most. */
#define MAX_OPENING 8
/* Hosts with a TLS session gate (http_parts.c), at most; beyond, a
 * host's connections open ungated. */
#define MAX_TLS_HOSTS 64

/* Whether a part's https connections carry several transfers at once. */
enum llm__mux { LLM__MUX_UNKNOWN, LLM__MUX_YES, LLM__MUX_NO };

/* One multi handle, the transfers given to it and the connections it owns. */
struct llm__part {
    struct llm__http *h;
    CURLM *multi;
    struct llm__timer timer;
    uint16_t id;                     /* index in h->parts + 1 */
    size_t active;
    /* CURLMOPT_MAXCONNECTS in force: raised with the peak of active
     * transfers so every connection that went idle stays reusable. */
    size_t max_connects;
    size_t n_conns;                  /* connection sockets open, idle or busy */
    /* https only: see the top of the file. */
    enum llm__mux mux;
    size_t awaiting;                 /* handed to curl, no connection yet */
    size_t connected;                /* running with a connection */
    size_t est_streams;              /* streams a connection takes; 0 = not learnt */
    size_t busy_conns;               /* connections carrying >= 1 counted stream */
    size_t n_deferred;
    /* Its connections that carried a counted stream, by local and remote
     * port: how prereq_cb tells which connection a stream got. */
    struct llm__port {
        uint16_t lport, rport;
        curl_socket_t fd;
    } *ports;
    size_t n_ports, cap_ports;
    struct llm__xfer *defer_head;    /* not yet handed to curl, in order */
    struct llm__xfer *defer_tail;
};

/* One https host ("host[:port]" of the URL): its connections open one at
 * a time, each after the previous one received its session ticket (why:
 * http_parts.c).  Kept until the transport is freed. */
struct llm__tls_host {
    struct llm__tls_host *next;
    struct llm__http *h;
    char *key;
    size_t key_len;
    struct llm__xfer *opener;        /* handed to curl, may open a connection */
    int64_t taken_us;                /* when `opener` took the gate */
    curl_socket_t fd;                /* handshake done, ticket awaited; -1 = none */
    struct llm__timer timer;         /* stop waiting for a ticket that won't come */
};

struct llm__xfer {
    struct llm__http *h;
    struct llm__part *p;                  /* while a transfer is running */
    struct llm__tls_host *host;      /* its URL's, once looked up; NULL = not yet */
    bool gate;                       /* it is host->opener */
    bool ticket;                     /* it read a session ticket while opener */
    bool verbose;                    /* CURLOPT_VERBOSE on, for debug_cb */
    struct llm__xfer *next_spare;
    struct llm__xfer *defer_prev, *defer_next;
    bool in_multi;                   /* curl has the easy handle */
    bool deferred;                   /* on p's deferred list */
    bool tls;
    bool awaiting;                   /* counted in p->awaiting */
    bool connected;                  /* counted in p->connected */
    bool opened_conn;                /* opensocket_cb made a socket for it */
    curl_socket_t opened_fd;         /* the last one it made */
    curl_socket_t conn_sock;         /* connection it is counted on, or -1 */
    /* Options the easy handle has from its previous requests (not set
     * again when equal); -1 / NULL = unknown. */
    struct {
        char *url;                   /* our copy */
        long pipewait, fresh, timeout, ctimeout;
        const struct curl_slist *hdrs;
        const char *proxy, *ca_file, *ca_path; /* the engine's strings, by address */
    } set;
    uint32_t conn_gen;               /* h->fds[conn_sock].gen then */
    CURL *easy;                      /* owned for the transfer's lifetime, pool included */
    /* Request headers as one block: curl_slist nodes followed by their
     * strings.  curl only reads the list (it never frees it), so it need
     * not come from curl_slist_append's one-malloc-per-node. */
    struct curl_slist *slist;
    size_t slist_cap;
    struct llm_http_request req;     /* owns URL and body while curl uses them */
    struct llm__xfer_opts opts;
    struct llm__xfer_cbs cbs;
    void *user;
    struct llm__hdr_list hdrs;       /* the response's headers */
    struct llm__buf body;
    int status;
    bool status_read;
    bool too_large;
    bool headers_done;               /* the final response's headers are complete */
    int sock_errno;                  /* errno of a failed socket(), 0 = none */
    /* Silence detection: a deadline at most once per limit, moved lazily
     * from the time of the last byte (no timer work per byte).  It is on
     * the transport's ordered list (watched, at watch_due_us) or, when it
     * would not keep that list in order, on idle_timer.  See http.c. */
    struct llm__timer idle_timer;
    struct llm__xfer *watch_prev, *watch_next;
    int64_t watch_due_us;
    bool watched;
    int64_t last_rx_us;
    bool got_byte;
    enum llm_error fail_err;         /* set by on_data via xfer_fail */
    char *fail_msg;
    char errbuf[CURL_ERROR_SIZE];
};

/* A connection socket: the part that owns it (its id; 0 = not a
 * connection of ours), the https streams counted on it, and a generation
 * bumped when it closes (a transfer counted on an fd number that was
 * closed and reused must not touch the new socket's count). */
struct llm__fdinfo {
    uint16_t part;
    uint32_t streams;
    uint32_t gen;
};

struct llm__http {
    struct llm__loop *loop;
    CURLSH *share;                   /* TLS sessions and DNS, for every part */
    struct llm__part **parts;
    size_t n_parts;
    size_t cap_parts;
    struct llm__xfer *spare;
    size_t n_spare;
    /* Connection sockets curl opened through opensocket_cb and has not yet
     * closed, by fd: the id of the part that owns them (0 = not ours).
     * They may be unwatched lazily, and each part's count tells whether
     * an idle connection can exist at all. */
    struct llm__fdinfo *fds;
    size_t fds_cap;
    /* "User-Agent: <engine's user_agent>" with its NUL (ua_size bytes), or
     * NULL when none is sent. */
    char *ua_line;
    size_t ua_size;
    /* The proxy environment as libcurl would read it for every transfer
     * (http.c read_proxy_env), read once: NULL = unset. */
    char *env_proxy_http, *env_proxy_https, *env_no_proxy;
    /* Silence deadlines in non-decreasing order (http.c), and the one
     * timer that serves them: armed whenever the list is not empty, at or
     * before its head's due. */
    struct llm__xfer *watch_head, *watch_tail;
    struct llm__timer watch_timer;
    /* While curl_multi_socket_action runs (0 otherwise): the time it was
     * called, which the header and body callbacks take as the time bytes
     * arrived (one clock read per event instead of one per header line
     * and body chunk, ~7 a request).  Earlier than the true arrival by
     * the duration of one socket_action call at most, so a silence
     * deadline can only come that much (microseconds) sooner. */
    int64_t event_us;
    struct llm__tls_host *tls_hosts;
    size_t n_tls_hosts;
    size_t tickets_awaited;          /* hosts whose gate waits on a connection's ticket */
    bool gate_freed;                 /* a gate opened: waiting transfers of every part may go */
};

/* The time bytes are being received, for the curl callbacks. */
static inline int64_t llm__http_rx_now(const struct llm__http *h)
{
    return h->event_us ? h->event_us : llm__now_mono_us();
}

static inline bool is_conn_fd(const struct llm__http *h, curl_socket_t s)
{
    return s >= 0 && (size_t)s < h->fds_cap && h->fds[s].part;
}

/* http.c */
void llm__http_check_done(struct llm__part *p);
void llm__http_finish(struct llm__xfer *x, CURLcode rc);
/* Make the transfer's end report `err` and `message` (the first call wins). */
void llm__http_fail(struct llm__xfer *x, enum llm_error err, const char *message);

/* http_silence.c */
/* When the silence limit `limit_ms` after `since_us` runs out (saturating). */
int64_t llm__http_idle_due(int64_t since_us, int64_t limit_ms);
/* The silence deadline of x is `due` (replacing any): when it falls with
 * no byte since, the transfer fails with LLM_ERR_TIMEOUT.  0, or -1 when
 * out of memory (no deadline then).  Allowed inside curl callbacks. */
int llm__http_silence_set(struct llm__xfer *x, int64_t due);
/* No silence deadline for x any more. */
void llm__http_silence_clear(struct llm__xfer *x);
/* When x's silence deadline falls (INT64_MAX: it has none). */
int64_t llm__http_silence_due(const struct llm__xfer *x);

/* http_parts.c */
struct llm__part *llm__http_part_new(struct llm__http *h);
void llm__http_part_free(struct llm__part *p);
struct llm__part *llm__http_pick_part(struct llm__http *h, bool tls);
bool llm__http_may_add(struct llm__part *p, struct llm__xfer *x);
bool llm__http_add_to_multi(struct llm__part *p, struct llm__xfer *x);
void llm__http_release_deferred(struct llm__part *p);
void llm__http_detach(struct llm__part *p, struct llm__xfer *x);
void llm__http_tls_hosts_free(struct llm__http *h);
curl_socket_t llm__http_opensocket_cb(void *clientp, curlsocktype purpose,
                                      struct curl_sockaddr *addr);
int llm__http_closesocket_cb(void *clientp, curl_socket_t fd);
/* From the header callback: a response's status line ("HTTP/1.1 200"),
 * which tells whether the part's https connections multiplex. */
void llm__http_saw_version(struct llm__xfer *x, const char *status_line, size_t len);
int llm__http_prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                        int local_port);

#endif
