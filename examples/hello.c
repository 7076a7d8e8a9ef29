/* hello: one request on the default engine (the in-process mock provider,
 * no key, no network) and its full result as JSON. */
#include <stdio.h>
#include <stdlib.h>

#include <llmorch/llmorch.h>

int main(int argc, char **argv)
{
    const char *prompt = argc > 1 ? argv[1] : "Say hello to libllmorch.";
    struct llm_engine *eng = NULL;
    char err[256];
    enum llm_error rc = llm_engine_new_ex(NULL, &eng, err, sizeof(err));
    if (rc != LLM_OK) {
        fprintf(stderr, "hello: %s\n", err);
        return 1;
    }
    struct llm_message msg = {.role = "user", .content = prompt};
    struct llm_request req = {.model = "gpt-4o-mini", .messages = &msg, .n_messages = 1};
    struct llm_result *res = llm_generate(eng, &req);
    if (!res) {
        fprintf(stderr, "hello: out of memory\n");
        llm_engine_free(eng);
        return 1;
    }
    char *json = llm_result_to_json(res);
    printf("%s\n", json ? json : "null");
    int status = res->success ? 0 : 1;
    llm_free(json);
    llm_result_free(res);
    llm_engine_free(eng);
    return status;
}
