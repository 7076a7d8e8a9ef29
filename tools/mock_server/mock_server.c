/* Mock server lifecycle: options, the libmicrohttpd daemon, counters.
 *
 * One epoll thread (MHD_USE_EPOLL_INTERNAL_THREAD) serves every
 * connection; waits are suspended connections (MHD_ALLOW_SUSPEND_RESUME)
 * resumed by the timer thread, so no callback ever sleeps.  That is what
 * lets one process hold 10,000+ streams open. */
#include "mock_internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_WINDOW_MS 60000
#define DEFAULT_STALL_MS 30000
#define DEFAULT_RETRY_AFTER_MS 1000
#define DEFAULT_MAX_CONNECTIONS 20000u
#define LISTEN_BACKLOG 8192u

/* splitmix64: tiny, full-period, and good enough for jitter and coin flips. */
uint64_t mocksrv__rng_locked(struct mocksrv *s)
{
    uint64_t z = (s->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t mocksrv__rand_upto(struct mocksrv *s, int64_t n)
{
    if (n <= 0)
        return 0;
    pthread_mutex_lock(&s->draw_lock);
    uint64_t x = mocksrv__rng_locked(s);
    pthread_mutex_unlock(&s->draw_lock);
    return (int64_t)(x % ((uint64_t)n + 1));
}

__attribute__((format(printf, 2, 0)))
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    struct mocksrv *s = cls;
    if (!atomic_load(&s->log_mhd))
        return;
    fputs("mock-server: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* Paths reach the handler as sent, percent-escapes kept: Bedrock's SigV4
 * check signs the wire path, and the routes decode model ids themselves.
 * (No other path of the mock contains an escape.) */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct mocksrv *s = cls;
    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        uint_fast64_t open = atomic_fetch_add(&s->ctr.connections_open, 1) + 1;
        uint_fast64_t peak = atomic_load(&s->ctr.connections_peak);
        while (open > peak && !atomic_compare_exchange_weak(&s->ctr.connections_peak, &peak, open))
            ;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&s->ctr.connections_open, 1);
    }
}

int mocksrv__script_parse(const char *script, enum mocksrv__fault **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (script == NULL || script[0] == '\0')
        return 0;
    size_t n = 1;
    for (const char *p = script; *p; p++)
        n += *p == ',';
    enum mocksrv__fault *f = calloc(n, sizeof(*f));
    if (f == NULL) {
        fprintf(stderr, "mock-server: out of memory\n");
        return -1;
    }
    size_t k = 0;
    const char *p = script;
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (!mocksrv__fault_parse(a, (size_t)(b - a), &f[k])) {
            fprintf(stderr,
                    "mock-server: bad script token '%.*s' (want ok, 200, 429, 500, 503, 529, "
                    "insufficient_quota, region, reset, stall, truncated_sse, malformed_json)\n",
                    (int)(b - a), a);
            free(f);
            return -1;
        }
        k++;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    *out = f;
    *len = k;
    return 0;
}

static int check_options(const struct mocksrv_options *o)
{
    const char *bad = NULL;
    if (o->port < 0 || o->port > 65535)
        bad = "port must be 0..65535";
    else if (!(o->rpm >= 0) || !(o->tpm >= 0))
        bad = "rpm and tpm must be >= 0";
    else if (o->window_ms < 0)
        bad = "window_ms must be >= 0";
    else if (o->latency_ms < 0 || o->latency_jitter_ms < 0 || o->ttft_ms < 0 ||
             o->inter_token_ms < 0 || o->stall_ms < 0 || o->hold_ms < 0 || o->retry_after_ms < 0)
        bad = "delays must be >= 0";
    else if (!(o->fail_rate >= 0 && o->fail_rate <= 1))
        bad = "fail_rate must be within 0..1";
    else if (o->latency_ms > INT64_MAX / 4 || o->latency_jitter_ms > INT64_MAX / 4 ||
             o->ttft_ms > INT64_MAX / 4 || o->hold_ms > INT64_MAX / 4 ||
             o->inter_token_ms > INT64_MAX / 4 || o->stall_ms > INT64_MAX / 4 ||
             o->window_ms > INT64_MAX / 4 || o->retry_after_ms > INT64_MAX / 4)
        bad = "delay too large";
    if (bad != NULL) {
        fprintf(stderr, "mock-server: %s\n", bad);
        return -1;
    }
    return 0;
}

/* Numeric address or a resolvable name (first result) to a sockaddr. */
static int resolve_host(const char *host, int port, struct sockaddr_storage *ss, bool *v6)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || res == NULL) {
        fprintf(stderr, "mock-server: cannot resolve host '%s': %s\n", host, gai_strerror(rc));
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

static void make_url(struct mocksrv *s, const struct sockaddr_storage *ss, bool v6)
{
    char addr[INET6_ADDRSTRLEN] = "127.0.0.1";
    if (v6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
            snprintf(addr, sizeof(addr), "::1");
        else
            inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
        snprintf(s->url, sizeof(s->url), "http://[%s]:%d", addr, s->port);
        return;
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    if (a->sin_addr.s_addr != htonl(INADDR_ANY))
        inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
    snprintf(s->url, sizeof(s->url), "http://%s:%d", addr, s->port);
}

int mocksrv_start(const struct mocksrv_options *o, struct mocksrv **out)
{
    static const struct mocksrv_options defaults = {0};
    if (o == NULL)
        o = &defaults;
    if (out == NULL || check_options(o) != 0)
        return -1;

    struct mocksrv *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        fprintf(stderr, "mock-server: out of memory\n");
        return -1;
    }
    s->opt = *o;
    s->opt.host = NULL;
    s->opt.script = NULL;
    s->opt.ledger_path = NULL;
    s->opt.aws_secret_key = NULL;
    if (s->opt.window_ms == 0)
        s->opt.window_ms = DEFAULT_WINDOW_MS;
    if (s->opt.stall_ms == 0)
        s->opt.stall_ms = DEFAULT_STALL_MS;
    if (s->opt.retry_after_ms == 0)
        s->opt.retry_after_ms = DEFAULT_RETRY_AFTER_MS;
    if (s->opt.max_connections == 0)
        s->opt.max_connections = DEFAULT_MAX_CONNECTIONS;
    s->rng = (uint64_t)o->seed;
    s->start_ms = mocksrv__now_ms();
    atomic_init(&s->stopping, false);
    atomic_init(&s->log_mhd, true);
    pthread_mutex_init(&s->ledger_lock, NULL);
    pthread_mutex_init(&s->draw_lock, NULL);

    s->host = strdup(o->host != NULL && o->host[0] != '\0' ? o->host : "127.0.0.1");
    if (s->host == NULL) {
        fprintf(stderr, "mock-server: out of memory\n");
        goto fail;
    }
    if (mocksrv__script_parse(o->script, &s->script, &s->script_len) != 0)
        goto fail;
    if (o->aws_secret_key != NULL && (s->aws_secret = strdup(o->aws_secret_key)) == NULL) {
        fprintf(stderr, "mock-server: out of memory\n");
        goto fail;
    }
    if (o->ledger_path != NULL && o->ledger_path[0] != '\0') {
        s->ledger = fopen(o->ledger_path, "a");
        if (s->ledger == NULL) {
            fprintf(stderr, "mock-server: cannot open ledger '%s': %m\n", o->ledger_path);
            goto fail;
        }
    }
    if (mocksrv__rl_new(s->opt.rpm, s->opt.tpm, s->opt.window_ms, &s->rl) != 0 ||
        mocksrv__timer_new(&s->timer) != 0) {
        fprintf(stderr, "mock-server: out of memory or threads\n");
        goto fail;
    }

    struct sockaddr_storage ss;
    bool v6 = false;
    if (resolve_host(s->host, o->port, &ss, &v6) != 0)
        goto fail;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, mocksrv__on_request, s,
        /* first, or MHD logs early messages its own way */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, s->opt.max_connections,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, LISTEN_BACKLOG,
        MHD_OPTION_NOTIFY_COMPLETED, mocksrv__on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL,
        MHD_OPTION_END);
    if (s->daemon == NULL) {
        fprintf(stderr, "mock-server: cannot listen on %s:%d\n", s->host, o->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL && info->port != 0 ? (int)info->port : o->port;
    make_url(s, &ss, v6);
    atomic_store(&s->log_mhd, o->verbose != 0);
    *out = s;
    return 0;

fail:
    mocksrv_stop(s);
    return -1;
}

int mocksrv_port(const struct mocksrv *s)
{
    return s != NULL ? s->port : 0;
}

const char *mocksrv_url(const struct mocksrv *s)
{
    return s != NULL ? s->url : "";
}

void mocksrv_stats(const struct mocksrv *s, struct mocksrv_counters *c)
{
    memset(c, 0, sizeof(*c));
    if (s == NULL)
        return;
    const struct mocksrv__ctr *k = &s->ctr;
    c->requests = atomic_load(&k->requests);
    c->status_2xx = atomic_load(&k->status_2xx);
    c->status_4xx = atomic_load(&k->status_4xx);
    c->status_5xx = atomic_load(&k->status_5xx);
    c->status_other = atomic_load(&k->status_other);
    c->sent_429 = atomic_load(&k->sent_429);
    c->rate_limited = atomic_load(&k->rate_limited);
    c->faults = atomic_load(&k->faults);
    c->streams = atomic_load(&k->streams);
    c->bytes_in = atomic_load(&k->bytes_in);
    c->bytes_out = atomic_load(&k->bytes_out);
    c->connections_open = atomic_load(&k->connections_open);
    c->connections_peak = atomic_load(&k->connections_peak);
}

void mocksrv__halt(struct mocksrv *s)
{
    if (s == NULL || s->halted)
        return;
    s->halted = true;
    /* Order matters: (1) handlers stop suspending and answer nothing new,
     * (2) every suspended connection is resumed (MHD_stop_daemon must not
     * find one), (3) the daemon closes everything, calling the completion
     * callback (ledger lines, counters) and freeing responses. */
    atomic_store_explicit(&s->stopping, true, memory_order_release);
    mocksrv__timer_shutdown(s->timer);
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}

void mocksrv_stop(struct mocksrv *s)
{
    if (s == NULL)
        return;
    mocksrv__halt(s);
    mocksrv__timer_free(s->timer);
    mocksrv__rl_free(s->rl);
    if (s->ledger != NULL)
        fclose(s->ledger);
    pthread_mutex_destroy(&s->ledger_lock);
    pthread_mutex_destroy(&s->draw_lock);
    free(s->script);
    free(s->host);
    if (s->aws_secret != NULL) {
        explicit_bzero(s->aws_secret, strlen(s->aws_secret));
        free(s->aws_secret);
    }
    free(s);
}
