/* Scale benchmark client: N streaming requests in flight at once through
 * one engine (max_in_flight N, max_queue N, one attempt each), against a
 * mock server that holds every stream open for a few seconds before the
 * first token (--ttft-ms).  Reports:
 *
 *   - whether every request completed successfully;
 *   - whether all N were really open at once: the engine's in_flight gauge
 *     reached N and this process held >= N sockets before the first
 *     completion;
 *   - RSS per in-flight request: (the highest VmRSS sampled, every 20 ms by
 *     a thread, while all N were open and none had completed - the RSS
 *     just before submitting) / N;
 *   - engine CPU (getrusage RUSAGE_SELF, user + sys, every thread) from
 *     just before the first submission to the last completion, per request,
 *     less the CPU of this program's own watching (the RSS sampler thread,
 *     and the main thread's polling of the in_flight gauge and sockets).
 *
 *   bench_scale_llmorch URL N [--cacert FILE] [--reconnect R WAIT_MS]
 *
 * --cacert FILE: an https URL (the TLS + HTTP/2 row), trusted through the
 *   engine's ca_file option; adds the TLS handshakes the transfers made
 *   (results with LLM_TS_TLS_DONE) and the sockets held at the peak, i.e.
 *   the connections the N streams used.
 * --reconnect R WAIT_MS: afterwards, wait WAIT_MS (longer than the
 *   server's idle timeout, so it closes every connection), then send R
 *   non-streamed requests on the same engine: their handshakes show
 *   whether the new connections resumed TLS sessions (the server's log
 *   says which did).
 *
 * Raises RLIMIT_NOFILE to N + 256 (up to the hard limit).  Adaptive limits
 * are off (no_adaptive_limits): see the comment in main(). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llmorch/llmorch.h>

#include "bench_common.h"
#include "bench_tally.h"

struct state {
    struct bench_tally tally;
    atomic_bool all_open;   /* set once in_flight == N and the sockets are there */
    atomic_bool stop;
    atomic_long rss_held_max_kib;
    atomic_long rss_peak_kib;
    double sampler_cpu_s;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *sampler(void *arg)
{
    struct state *st = arg;
    while (!atomic_load(&st->stop)) {
        long rss = bench_rss_kib();
        if (rss > atomic_load(&st->rss_peak_kib))
            atomic_store(&st->rss_peak_kib, rss);
        /* Only samples taken while all N are open and none has finished
         * count as "held": the read of done after the RSS keeps a sample
         * that raced with a completion out. */
        if (atomic_load(&st->all_open) && atomic_load(&st->tally.done) == 0 &&
            rss > atomic_load(&st->rss_held_max_kib))
            atomic_store(&st->rss_held_max_kib, rss);
        sleep_ms(20);
    }
    st->sampler_cpu_s = bench_thread_cpu_s();
    return NULL;
}

static int64_t engine_in_flight(struct llm_engine *e)
{
    struct llm_stats *s = NULL;
    if (llm_engine_stats(e, &s) != LLM_OK)
        return -1;
    int64_t v = s->in_flight;
    llm_stats_free(s);
    return v;
}

int main(int argc, char **argv)
{
    const char *cacert = NULL;
    int reconnect = 0;
    long reconnect_wait_ms = 0;
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            cacert = argv[++i];
        else if (strcmp(argv[i], "--reconnect") == 0 && i + 2 < argc) {
            reconnect = atoi(argv[++i]);
            reconnect_wait_ms = atol(argv[++i]);
        } else if (npos < 2)
            pos[npos++] = argv[i];
    }
    if (npos != 2) {
        fprintf(stderr, "usage: %s URL N [--cacert FILE] [--reconnect R WAIT_MS]\n", argv[0]);
        return 2;
    }
    const char *url = pos[0];
    int n = atoi(pos[1]);
    if (n <= 0 || reconnect < 0)
        return 2;
    long nofile = bench_raise_nofile((long)n + 256);
    if (nofile < (long)n + 32)
        fprintf(stderr, "warning: RLIMIT_NOFILE is %ld, below %d + 32\n", nofile, n);

    struct llm_engine_options o = {0};
    o.provider = "openai";
    o.base_url = url;
    o.api_key = "";
    o.max_in_flight = n;
    o.max_queue = (size_t)n;
    o.max_attempts = 1;
    o.ca_file = cacert;
    /* With no limits configured the engine first probes with a single
     * request until its response completes (to learn the server's limits),
     * which here would hold the other N-1 back for the whole hold time. */
    o.no_adaptive_limits = true;
    struct llm_engine *e = NULL;
    char err[256];
    if (llm_engine_new_ex(&o, &e, err, sizeof(err)) != LLM_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    struct state st = {0};
    bench_tally_init(&st.tally, n);
    struct llm_message m = {.role = "user", .content = BENCH_PROMPT};
    struct llm_request req = {.model = BENCH_MODEL, .messages = &m, .n_messages = 1,
                              .max_tokens = BENCH_MAX_TOKENS, .stream = true};

    long rss_before = bench_rss_kib();
    atomic_store(&st.rss_peak_kib, rss_before);
    pthread_t th;
    if (pthread_create(&th, NULL, sampler, &st) != 0)
        return 1;

    double u0, s0, u1, s1;
    bench_cpu_s(&u0, &s0);
    double t0 = bench_now_s();
    for (int i = 0; i < n; i++) {
        if (llm_generate_async(e, &req, bench_tally_on_done, &st.tally) != LLM_OK) {
            fprintf(stderr, "submit failed at %d\n", i);
            return 1;
        }
    }
    double t_submitted = bench_now_s() - t0;

    /* Wait until the engine has all N on the wire and the sockets exist. */
    double watch_cpu0 = bench_thread_cpu_s();
    int64_t max_in_flight_seen = 0;
    long sockets = 0;
    int stable = 0;
    long tcp_conns = -1;
    double t_all_open = -1;
    while (atomic_load(&st.tally.done) == 0) {
        int64_t inf = engine_in_flight(e);
        if (inf > max_in_flight_seen)
            max_in_flight_seen = inf;
        if (inf >= n && cacert) {
            /* HTTP/2: far fewer sockets than streams, and the transport
             * may still be handing streams to curl once the gauge reads N:
             * open once the connections have stopped growing for 1 s. */
            long now_sockets = bench_count_sockets();
            stable = now_sockets == sockets && now_sockets > 0 ? stable + 1 : 0;
            sockets = now_sockets;
            if (stable >= 50 && atomic_load(&st.tally.done) == 0) {
                tcp_conns = bench_count_tcp_sockets();
                t_all_open = bench_now_s() - t0;
                atomic_store(&st.all_open, true);
                break;
            }
        } else if (inf >= n) {
            sockets = bench_count_sockets();
            if (sockets >= n && atomic_load(&st.tally.done) == 0) {
                t_all_open = bench_now_s() - t0;
                atomic_store(&st.all_open, true);
                break;
            }
        }
        sleep_ms(20);
    }
    double watch_cpu = bench_thread_cpu_s() - watch_cpu0;

    bench_tally_wait(&st.tally);
    double wall = bench_now_s() - t0;
    bench_cpu_s(&u1, &s1);
    atomic_store(&st.stop, true);
    pthread_join(th, NULL);

    /* Reconnect round: every connection closed by the server meanwhile. */
    struct bench_tally rt;
    bench_tally_init(&rt, reconnect);
    long sockets_after_wait = -1;
    if (reconnect > 0) {
        sleep_ms(reconnect_wait_ms);
        sockets_after_wait = bench_count_sockets();
        struct llm_request rreq = req;
        rreq.stream = false;
        for (int i = 0; i < reconnect; i++)
            if (llm_generate_async(e, &rreq, bench_tally_on_done, &rt) != LLM_OK)
                return 1;
        bench_tally_wait(&rt);
    }
    llm_engine_free(e);

    bool all_ok = bench_tally_report(&st.tally);
    long held = atomic_load(&st.rss_held_max_kib);
    bool all_open = atomic_load(&st.all_open) && held > 0;
    double per = all_open ? (double)(held - rss_before) / n : -1;
    double cpu = (u1 - u0) + (s1 - s0) - st.sampler_cpu_s - watch_cpu;
    printf("{\"n\":%d,\"ok\":%d,\"all_open_at_once\":%s,\"max_in_flight_seen\":%lld,"
           "\"sockets_open\":%ld,\"submit_s\":%.3f,\"all_open_s\":%.3f,\"wall_s\":%.3f,"
           "\"rss_before_kib\":%ld,\"rss_held_kib\":%ld,\"rss_peak_kib\":%ld,"
           "\"rss_kib_per_in_flight\":%.2f,\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,"
           "\"watch_cpu_s\":%.4f,\"cpu_us_per_req\":%.2f",
           n, st.tally.ok, all_open ? "true" : "false", (long long)max_in_flight_seen, sockets,
           t_submitted, t_all_open, wall, rss_before, held, atomic_load(&st.rss_peak_kib), per,
           u1 - u0, s1 - s0, st.sampler_cpu_s + watch_cpu, cpu * 1e6 / n);
    if (cacert)
        printf(",\"tls\":true,\"tls_handshakes\":%d,\"tcp_connections\":%ld",
               atomic_load(&st.tally.tls_handshakes), tcp_conns);
    if (reconnect > 0)
        printf(",\"reconnect_n\":%d,\"reconnect_ok\":%d,\"reconnect_handshakes\":%d,"
               "\"sockets_after_wait\":%ld",
               reconnect, rt.ok, atomic_load(&rt.tls_handshakes), sockets_after_wait);
    printf("}\n");
    return all_ok && all_open && rt.ok == reconnect ? 0 : 1;
}
