/* libFuzzer target: any bytes as a Gemini generateContent reply, as an SSE
 * event sequence and as a google.rpc.Status error body, through the
 * provider's vtable (src/providers/gemini.c).  See fuzz_provider.h for the
 * input layout and what is checked; a RetryInfo wait is never negative.
 * fuzz-max-len: 4096 */
#include "fuzz_provider.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_provider_init(llm_provider_new_gemini);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_provider_one(data, size);
    return 0;
}
