/* The llmorch side of the overhead (and peer) benchmark: N small
 * non-streaming Chat Completions requests through one engine (OpenAI
 * provider, max_in_flight CONCURRENCY, one attempt each) against the mock
 * server.  All N are submitted at once with llm_generate_async(), as a
 * host would; the engine keeps CONCURRENCY on the wire.  Each completion
 * callback checks and frees its result.
 *
 *   bench_overhead_llmorch URL N CONCURRENCY [--dump-request] [--cacert FILE]
 *                          [--stream] [--latency]
 *
 * Prints one JSON line: client CPU (getrusage RUSAGE_SELF: the host thread
 * plus the engine thread, user + sys) measured from just before the first
 * submission to the last completion, per request, and the wall time.
 * --dump-request prints the request the provider builds (the trace id
 * replaced by <uuid>) so bench/run.sh can check that bench_overhead_curl
 * sends the same bytes.
 *
 * --cacert FILE: an https URL, trusted through the engine's ca_file option.
 * --stream: streamed requests; an on_delta callback counts the text
 *   deltas (what a host consuming a stream does at the least).
 * --latency: N requests one after another with llm_generate() (the
 *   blocking call; CONCURRENCY must be 1): adds p50/p99 of its wall time. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmorch/ext/provider.h>
#include <llmorch/llmorch.h>

#include "bench_common.h"
#include "bench_tally.h"

static int dump_request(const char *url, const struct llm_request *req)
{
    struct llm_provider_options po = {.base_url = url, .api_key = ""};
    struct llm_provider *p = NULL;
    if (llm_provider_new_openai(&po, &p) != LLM_OK)
        return 1;
    struct llm_http_request h = {0};
    if (p->vtable->build_request(p, req, "00000000-0000-7000-8000-000000000000", &h) != LLM_OK) {
        llm_provider_free(p);
        return 1;
    }
    printf("POST %s\n", h.url);
    for (size_t i = 0; i < h.n_headers; i++)
        printf("%s: %s\n", h.headers[i].name,
               strcmp(h.headers[i].name, "X-Client-Request-Id") == 0 ? "<uuid>"
                                                                       : h.headers[i].value);
    printf("\n%s\n", h.body);
    llm_http_request_clear(&h);
    llm_provider_free(p);
    return 0;
}

static long g_deltas; /* engine thread only; read after the last completion */

static void count_delta(void *user, const char *text, size_t len)
{
    (void)user;
    (void)text;
    (void)len;
    g_deltas++;
}

int main(int argc, char **argv)
{
    bool dump = false, stream = false, latency = false;
    const char *cacert = NULL;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump-request") == 0)
            dump = true;
        else if (strcmp(argv[i], "--stream") == 0)
            stream = true;
        else if (strcmp(argv[i], "--latency") == 0)
            latency = true;
        else if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            cacert = argv[++i];
        else if (npos < 3)
            pos[npos++] = argv[i];
    }
    if (npos != 3 && !(dump && npos >= 1)) {
        fprintf(stderr, "usage: %s URL N CONCURRENCY [--dump-request] [--cacert FILE] [--stream] "
                        "[--latency]\n", argv[0]);
        return 2;
    }
    const char *url = pos[0];
    struct llm_message m = {.role = "user", .content = BENCH_PROMPT};
    struct llm_request req = {.model = BENCH_MODEL, .messages = &m, .n_messages = 1,
                              .max_tokens = BENCH_MAX_TOKENS};
    if (stream) {
        req.stream = true;
        req.on_delta = count_delta;
    }
    if (dump)
        return dump_request(url, &req);
    int n = atoi(pos[1]), conc = atoi(pos[2]);
    if (n <= 0 || conc <= 0 || (latency && conc != 1))
        return 2;
    bench_raise_nofile(conc + 64);

    struct llm_engine_options o = {0};
    o.provider = "openai";
    o.base_url = url;
    o.api_key = "";
    o.max_in_flight = conc;
    o.max_queue = (size_t)n;
    o.max_attempts = 1;
    o.ca_file = cacert;
    /* Streams: every one on the wire at once (the engine would otherwise
     * probe with one request until its reply completes). */
    o.no_adaptive_limits = stream;
    struct llm_engine *e = NULL;
    char err[256];
    if (llm_engine_new_ex(&o, &e, err, sizeof(err)) != LLM_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    struct bench_tally st;
    bench_tally_init(&st, n);
    double *lat_us = latency ? calloc((size_t)n, sizeof(double)) : NULL;
    if (latency && !lat_us)
        return 1;

    double u0, s0, u1, s1;
    bench_cpu_s(&u0, &s0);
    double t0 = bench_now_s();
    if (latency) {
        for (int i = 0; i < n; i++) {
            double t = bench_now_s();
            struct llm_result *res = llm_generate(e, &req);
            lat_us[i] = (bench_now_s() - t) * 1e6;
            if (!res)
                return 1;
            bench_tally_on_done(&st, res);
        }
    } else {
        for (int i = 0; i < n; i++) {
            if (llm_generate_async(e, &req, bench_tally_on_done, &st) != LLM_OK) {
                fprintf(stderr, "submit failed at %d\n", i);
                return 1;
            }
        }
    }
    bench_tally_wait(&st);
    double wall = bench_now_s() - t0;
    bench_cpu_s(&u1, &s1);
    llm_engine_free(e);

    bool all_ok = bench_tally_report(&st);
    double cpu = (u1 - u0) + (s1 - s0);
    printf("{\"client\":\"llmorch\",\"n\":%d,\"concurrency\":%d,\"ok\":%d,\"wall_s\":%.4f,"
           "\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,\"cpu_us_per_req\":%.3f,\"req_per_s\":%.1f",
           n, conc, st.ok, wall, u1 - u0, s1 - s0, cpu * 1e6 / n, n / wall);
    if (cacert)
        printf(",\"tls\":true");
    if (stream)
        printf(",\"deltas\":%ld", g_deltas);
    if (lat_us)
        bench_print_latency(lat_us, n);
    printf("}\n");
    free(lat_us);
    return all_ok ? 0 : 1;
}
