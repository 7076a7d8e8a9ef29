/* stats: a few requests through the default (mock) engine with a
 * post-processing pipeline, then the engine's stats as JSON and as
 * Prometheus text. */
#include <stdio.h>
#include <stdlib.h>

#include <llmorch/ext/step.h>
#include <llmorch/llmorch.h>

int main(void)
{
    /* trim, then drop <think> blocks: a failing step keeps the previous text. */
    struct llm_step *steps[2];
    struct llm_pipeline *pipe = NULL;
    if (llm_step_new_trim(&steps[0]) != LLM_OK || llm_step_new_strip_reasoning(&steps[1]) != LLM_OK ||
        llm_pipeline_new(NULL, steps, 2, &pipe) != LLM_OK) {
        fprintf(stderr, "stats: could not build the pipeline\n");
        return 1;
    }
    struct llm_mock_options mock = {0};
    mock.latency_ms = 20;
    mock.script = "429,ok"; /* every request is rate limited once, then succeeds */
    mock.retry_after_ms = 10;
    struct llm_engine_options o = {0};
    o.mock = &mock;
    o.pipeline = pipe; /* the engine owns it now */
    struct llm_engine *eng = NULL;
    char err[256];
    if (llm_engine_new_ex(&o, &eng, err, sizeof(err)) != LLM_OK) {
        fprintf(stderr, "stats: %s\n", err);
        llm_pipeline_free(pipe);
        return 1;
    }
    const char *models[] = {"gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "my-finetune"};
    for (int i = 0; i < 8; i++) {
        struct llm_message m = {.role = "user", .content = "  <think>hmm</think> tell me something  "};
        struct llm_request req = {.model = models[i % 4], .messages = &m, .n_messages = 1};
        struct llm_result *res = llm_generate(eng, &req);
        if (res)
            printf("%-18s %-7s attempts=%zu cost=%s$%.6f  \"%s\"\n", models[i % 4],
                   res->success ? "ok" : llm_error_name(res->error.type), res->n_attempts,
                   res->cost.known ? "" : "unknown ", res->cost.total_usd, res->content);
        llm_result_free(res);
    }
    struct llm_stats *st = NULL;
    if (llm_engine_stats(eng, &st) == LLM_OK) {
        char *json = llm_stats_to_json(st);
        char *prom = llm_stats_to_prometheus(st, "mock");
        printf("\n-- stats JSON --\n%s\n\n-- Prometheus --\n%s", json ? json : "", prom ? prom : "");
        llm_free(json);
        llm_free(prom);
        llm_stats_free(st);
    }
    llm_engine_free(eng);
    return 0;
}
