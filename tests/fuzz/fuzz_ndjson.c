/* libFuzzer target: the NDJSON reader (src/transport/ndjson.c) and the
 * Ollama provider's stream slot on each line.  Whole and split feeds
 * (with the end-of-stream flush) must agree exactly; lines are bounded.
 * See fuzz_framing.h for the input layout.
 * fuzz-max-len: 8192 */
#include "fuzz_framing.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct llm_provider *prov;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct llm_provider_options o = {.base_url = "http://127.0.0.1:1", .api_key = ""};
    if (llm_provider_new_ollama(&o, &prov) != LLM_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_framing_one(LLM_STREAM_NDJSON, prov, data, size);
    return 0;
}
