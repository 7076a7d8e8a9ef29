/* struct llm_request: what to generate.
 *
 * Every pointer in a request is BORROWED for the duration of the submitting
 * call only: llm_generate(), llm_generate_async() and llm_submit() copy
 * everything they keep before returning, so the caller may free or reuse the
 * request (and the strings it points to) as soon as the call returns.
 * Zero-initialise and fill in what you need: `{0}` plus a model and one
 * message is a valid request. */
#ifndef LLMORCH_REQUEST_H
#define LLMORCH_REQUEST_H

#include "common.h"

LLM_BEGIN_DECLS

/* One chat message.  `role` is "system", "developer", "user" or "assistant";
 * anything else fails the request with LLM_ERR_INVALID_REQUEST.  `content`
 * is UTF-8 text and MUST NOT be NULL (it may be empty only for an
 * "assistant" turn). */
struct llm_message {
    const char *role;
    const char *content;
};

/* Streaming delta callback: `text[0..len)` is the next piece of generated
 * text (not NUL-terminated; borrowed for the call).  Called on the engine
 * thread, in order, never after the request's result has been delivered.
 * MUST NOT block for long: it holds up every other request of the engine. */
typedef void llm_delta_fn(void *user, const char *text, size_t len);

struct llm_request {
    /* Model name as the provider knows it ("gpt-4o-mini").  Required. */
    const char *model;

    /* The conversation, oldest first.  Required: at least one message. */
    const struct llm_message *messages;
    size_t n_messages;

    /* Optional system prompt.  OpenAI-style providers send it as a leading
     * "system" message; Anthropic as the top-level `system` field. */
    const char *system;

    /* Maximum tokens to generate; 0 = provider default (the Anthropic
     * provider, which requires the field, then sends 1024). */
    int max_tokens;

    /* Sampling parameters, sent only when their has_ flag is set (so that a
     * zeroed request does not silently ask for temperature 0). */
    bool has_temperature;
    double temperature;
    bool has_top_p;
    double top_p;

    /* Stop sequences (up to 16). */
    const char *const *stop;
    size_t n_stop;

    /* Stream the reply.  With `on_delta` set, each piece of text is handed to
     * it as it arrives; the result still holds the whole text and usage. */
    bool stream;
    llm_delta_fn *on_delta;
    void *delta_user;

    /* Optional JSON object whose members are merged into the provider's
     * request body (overriding what the library set), e.g.
     * "{\"seed\": 7, \"response_format\": {\"type\": \"json_object\"}}".
     * Anything but a JSON object fails with LLM_ERR_INVALID_REQUEST. */
    const char *extra_json;

    /* Total deadline for this request in milliseconds, counted from
     * submission and covering queueing, gates, attempts and backoff.
     * 0 = none beyond the engine's default_deadline_ms. */
    int64_t deadline_ms;

    /* Optional JSON object carried through to the result (`metadata` in
     * llm_result_to_json()), e.g. a batch job's custom_id.  Not sent to the
     * provider. */
    const char *metadata_json;

    /* Opaque host pointer copied into llm_result.user_data. */
    void *user_data;
};

LLM_END_DECLS

#endif /* LLMORCH_REQUEST_H */
