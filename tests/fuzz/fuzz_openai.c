/* libFuzzer target: any bytes as an OpenAI Chat Completions reply, as an
 * SSE stream of chunks and as an error body, through the provider's vtable
 * (src/providers/openai.c: the fast reader with its cJSON fallback, [DONE],
 * keep-alives, the error table).  fuzz_openai_read.c holds the fast reader
 * to the cJSON one; this one drives the slots as the engine does.  See
 * fuzz_provider.h for the input layout and what is checked.
 * fuzz-max-len: 4096 */
#include "fuzz_provider.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_provider_init(llm_provider_new_openai);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_provider_one(data, size);
    return 0;
}
