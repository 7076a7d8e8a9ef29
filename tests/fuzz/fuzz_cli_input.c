/* libFuzzer target: one `llmorch batch` input line -> llm_request ->
 * request body (tools/cli/input.c, then each provider's build_request).
 *
 * Input: the line's bytes.  A line the CLI accepts and the engine's request
 * check passes is turned into an HTTP request by the OpenAI and the
 * Anthropic provider; each body must be one valid JSON object (cJSON must
 * parse all body_len bytes of it, NUL-terminated there, nothing after), as
 * a server would read it.  A refused line must come with a "line N: "
 * message.  Nothing may crash, leak or trip a sanitizer.
 * fuzz-sources: tools/cli/input.c
 * fuzz-max-len: 4096 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/request.h"
#include "llmorch/ext/provider.h"

/* Built once: a provider is immutable after creation (provider.h). */
static struct llm_provider *providers[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct llm_provider_options opts = {.base_url = "http://127.0.0.1:1",
                                              .api_key = "sk-fuzz"};
    if (llm_provider_new_openai(&opts, &providers[0]) != LLM_OK ||
        llm_provider_new_anthropic(&opts, &providers[1]) != LLM_OK)
        abort();
    return 0;
}

static void check_body(const struct llm_http_request *hr)
{
    if (hr->body == NULL || hr->body[hr->body_len] != '\0' || strlen(hr->body) != hr->body_len)
        abort();
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hr->body, hr->body_len + 1, &end, 1);
    if (!cJSON_IsObject(root) || end != hr->body + hr->body_len)
        abort();
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    /* An exact-size copy, not NUL-terminated (as the CLI's line reader
     * passes a line and its length). */
    char *line = malloc(size > 0 ? size : 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, size);

    struct cli_parsed_line pl;
    char err[256];
    err[0] = '\0';
    if (cli_parse_input_line(line, size, 7, "default-model", &pl, err, sizeof(err))) {
        char verr[256];
        if (llm__request_validate(&pl.req, verr, sizeof(verr)) == LLM_OK) {
            for (int k = 0; k < 2; k++) {
                struct llm_http_request hr;
                enum llm_error rc = providers[k]->vtable->build_request(
                    providers[k], &pl.req, "00000000-0000-4000-8000-000000000000", &hr);
                if (rc == LLM_OK)
                    check_body(&hr);
                else if (rc != LLM_ERR_INVALID_REQUEST && rc != LLM_ERR_OUT_OF_MEMORY)
                    abort();
                llm_http_request_clear(&hr);
            }
        }
    } else if (strncmp(err, "line 7: ", 8) != 0) {
        abort();
    }
    cli_parsed_line_free(&pl);
    free(line);
    return 0;
}
