/* libFuzzer target: the AWS event-stream decoder (src/transport/
 * eventstream.c) and the Bedrock provider's stream slot on what it
 * delivers.  Whole and split feeds must agree exactly (messages, order,
 * verdict); both CRCs, the lengths and every header type are checked
 * against arbitrary bytes; nothing is delivered from a corrupt frame.  See
 * fuzz_framing.h for the input layout.  Random bytes rarely carry valid
 * CRCs, so when the stop_after byte has its high bit set the harness first
 * rewrites both CRCs of every frame it can walk: the header and payload
 * parsers then see mutated but well-framed messages.
 * fuzz-max-len: 8192 */
#include "fuzz_framing.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct llm_provider *prov;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct llm_provider_options o = {.base_url = "http://127.0.0.1:1", .api_key = ""};
    if (llm_provider_new_bedrock(&o, &prov) != LLM_OK)
        abort();
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_FRAMING_HEADER || size > FUZZ_FRAMING_MAX_INPUT)
        return 0;
    if ((data[1] & 0x80) == 0) {
        fuzz_framing_one(LLM_STREAM_AWS_EVENTSTREAM, prov, data, size);
        return 0;
    }
    uint8_t *fixed = malloc(size);
    if (fixed == NULL)
        return 0;
    memcpy(fixed, data, size);
    fixed[1] &= 0x7f;
    for (size_t o = FUZZ_FRAMING_HEADER; size - o >= 16;) {
        uint32_t total = be32(fixed + o);
        if (total < 16 || total > size - o)
            break;
        put32(fixed + o + 8, llm__crc32(0, fixed + o, 8));
        put32(fixed + o + total - 4, llm__crc32(0, fixed + o, total - 4));
        o += total;
    }
    fuzz_framing_one(LLM_STREAM_AWS_EVENTSTREAM, prov, fixed, size);
    free(fixed);
    return 0;
}
