/* Completion tally for the llmorch bench clients (overhead_llmorch.c,
 * scale_llmorch.c): the llm_generate_async callback counts successes,
 * keeps the first failure, frees the result, and wakes the waiter after
 * the last one.  Links llmorch, so kept apart from bench_common (the raw
 * libcurl client must not link it). */
#ifndef LLMORCH_BENCH_TALLY_H
#define LLMORCH_BENCH_TALLY_H

#include <pthread.h>
#include <stdatomic.h>

#include <llmorch/llmorch.h>

struct bench_tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;                    /* requests expected */
    int ok;                   /* under mu */
    atomic_int done;          /* readable without mu (the scale sampler) */
    /* Results whose transfer made a TLS handshake (LLM_TS_TLS_DONE set:
     * curl reports no handshake for a transfer on a reused connection). */
    atomic_int tls_handshakes;
    enum llm_error first_err; /* under mu */
    char first_msg[200];
};

/* Ready `t` for n requests. */
void bench_tally_init(struct bench_tally *t, int n);

/* The llm_result_cb: `user` is the struct bench_tally. */
void bench_tally_on_done(void *user, struct llm_result *res);

/* Block until all n are done. */
void bench_tally_wait(struct bench_tally *t);

/* If any failed, say how many and the first failure on stderr.  Returns
 * true when all succeeded. */
bool bench_tally_report(const struct bench_tally *t);

#endif
