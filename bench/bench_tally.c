/* See bench_tally.h. */
#include "bench_tally.h"

#include <stdio.h>

void bench_tally_init(struct bench_tally *t, int n)
{
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->n = n;
    t->ok = 0;
    atomic_init(&t->done, 0);
    atomic_init(&t->tls_handshakes, 0);
    t->first_err = LLM_OK;
    t->first_msg[0] = '\0';
}

void bench_tally_on_done(void *user, struct llm_result *res)
{
    struct bench_tally *t = user;
    bool ok = res->success && res->content_len > 0;
    if (res->timestamps[LLM_TS_TLS_DONE] != 0)
        atomic_fetch_add(&t->tls_handshakes, 1);
    pthread_mutex_lock(&t->mu);
    if (ok) {
        t->ok++;
    } else if (t->first_err == LLM_OK) {
        t->first_err = res->error.type;
        snprintf(t->first_msg, sizeof(t->first_msg), "%s",
                 res->error.message ? res->error.message : "");
    }
    if (atomic_fetch_add(&t->done, 1) + 1 == t->n)
        pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    llm_result_free(res);
}

void bench_tally_wait(struct bench_tally *t)
{
    pthread_mutex_lock(&t->mu);
    while (atomic_load(&t->done) < t->n)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

bool bench_tally_report(const struct bench_tally *t)
{
    if (t->ok != t->n)
        fprintf(stderr, "%d of %d failed; first: %s: %s\n", t->n - t->ok, t->n,
                llm_error_name(t->first_err), t->first_msg);
    return t->ok == t->n;
}
