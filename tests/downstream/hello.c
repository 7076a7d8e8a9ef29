/* Downstream check (C): an installed libllmorch found through
 * find_package(llmorch) or pkg-config.  One request on the default engine
 * (the in-process mock provider: no key, no network); prints the reply. */
#include <stdio.h>
#include <string.h>

#include <llmorch/llmorch.h>

#if !defined(LLM_VERSION_NUM) || LLM_VERSION_NUM < 0x000100
#error "llmorch/version.h is missing or too old"
#endif

int main(void)
{
    struct llm_engine *eng = NULL;
    char err[256];
    if (llm_engine_new_ex(NULL, &eng, err, sizeof(err)) != LLM_OK) {
        fprintf(stderr, "hello_c: %s\n", err);
        return 1;
    }
    struct llm_message msg = {.role = "user", .content = "hello from C"};
    struct llm_request req = {.model = "gpt-4o-mini", .messages = &msg, .n_messages = 1};
    struct llm_result *res = llm_generate(eng, &req);
    int status = 1;
    if (res == NULL) {
        fprintf(stderr, "hello_c: out of memory\n");
    } else if (!res->success) {
        fprintf(stderr, "hello_c: %s: %s\n", llm_error_name(res->error.type),
                res->error.message ? res->error.message : "");
    } else {
        printf("llmorch %s (C): %s\n", LLM_VERSION_STRING, res->content);
        status = strstr(res->content, "hello from C") != NULL ? 0 : 1;
    }
    llm_result_free(res);
    llm_engine_free(eng);
    return status;
}
