/* Quota benchmark client: N requests through one engine against the mock
 * server, in one of three modes, printing one JSON line with the wall time,
 * the ideal time for the server's limit and the 429s the client saw.
 *
 *   bench_quota_client URL MODE N RPM WINDOW_MS
 *   MODE: gated    client limits set to the server's (rpm, window)
 *         adaptive no client limits: learned from the server's headers
 *         naive    no gates, no learning: plain retries on 429 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llmorch/llmorch.h>

struct state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, attempts, client_429;
};

static void on_done(void *user, struct llm_result *res)
{
    struct state *st = user;
    pthread_mutex_lock(&st->mu);
    st->done++;
    if (res->success)
        st->ok++;
    st->attempts += (int)res->n_attempts;
    for (size_t i = 0; i < res->n_attempts; i++)
        if (res->attempts[i].http_status == 429)
            st->client_429++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    llm_result_free(res);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s URL gated|adaptive|naive N RPM WINDOW_MS\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *mode = argv[2];
    int n = atoi(argv[3]);
    double rpm = atof(argv[4]);
    int64_t window_ms = atoll(argv[5]);
    struct llm_engine_options o = {0};
    o.provider = "openai";
    o.base_url = url;
    o.api_key = "";
    o.max_in_flight = 64;
    o.max_attempts = 20;
    o.base_backoff_ms = 100;
    o.max_backoff_ms = 2000;
    if (strcmp(mode, "gated") == 0) {
        o.rpm = rpm;
        o.window_ms = window_ms;
    } else if (strcmp(mode, "naive") == 0) {
        o.no_adaptive_limits = true;
        o.retry_budget = -1;
    } else if (strcmp(mode, "adaptive") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    struct llm_engine *e = NULL;
    char err[256];
    if (llm_engine_new_ex(&o, &e, err, sizeof(err)) != LLM_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    struct state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
    struct llm_message m = {.role = "user", .content = "quota benchmark request"};
    struct llm_request req = {.model = "gpt-4o-mini", .messages = &m, .n_messages = 1,
                              .max_tokens = 16};
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (llm_generate_async(e, &req, on_done, &st) != LLM_OK)
            return 1;
    pthread_mutex_lock(&st.mu);
    while (st.done < n)
        pthread_cond_wait(&st.cv, &st.mu);
    pthread_mutex_unlock(&st.mu);
    double wall = now_s() - t0;
    llm_engine_free(e);
    int64_t per_window = (int64_t)floor(rpm * (double)window_ms / 60000.0);
    if (per_window < 1)
        per_window = 1;
    double ideal = (double)((n + per_window - 1) / per_window - 1) * (double)window_ms / 1000.0;
    printf("{\"mode\":\"%s\",\"n\":%d,\"ok\":%d,\"attempts\":%d,\"client_429\":%d,"
           "\"wall_s\":%.3f,\"ideal_s\":%.3f,\"utilization\":%.4f}\n",
           mode, n, st.ok, st.attempts, st.client_429, wall, ideal, ideal / wall);
    return st.ok == n ? 0 : 1;
}
