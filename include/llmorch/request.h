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

/* One piece of a message's content (struct llm_message.parts). */
enum llm_part_type {
    LLM_PART_TEXT = 0,           /* `text` */
    LLM_PART_IMAGE_URL = 1,      /* `url`: an http(s) URL or a data: URL */
    LLM_PART_IMAGE_BASE64 = 2    /* `data` (base64, no "data:" prefix) + `media_type` */
};

/* A content part.  Grows only at its end; zero fields are defaults. */
struct llm_content_part {
    enum llm_part_type type;
    const char *text;            /* TEXT: UTF-8, required */
    const char *url;             /* IMAGE_URL: required */
    const char *data;            /* IMAGE_BASE64: required, base64 alphabet only */
    const char *media_type;      /* IMAGE_BASE64: required, "image/png", "image/jpeg", ... */
    const char *detail;          /* images, optional: OpenAI's "low" | "high" | "auto" */
};

/* A tool call: in a request, what an earlier assistant turn asked for (copy
 * them from llm_result.tool_calls); in a result, what the model asks for now.
 * `arguments` is JSON text holding an object ("{}" when there are none). */
struct llm_tool_call {
    const char *id;              /* provider's call id ("call_..", "toolu_..") */
    const char *name;            /* the tool's name */
    const char *arguments;       /* JSON object text */
};

/* One chat message.  `role` is "system", "developer", "user", "assistant"
 * or "tool"; anything else fails the request with LLM_ERR_INVALID_REQUEST.
 *
 * The content is either `content` (UTF-8 text) or `parts` (n_parts > 0, then
 * `content` MUST be NULL).  Every message needs one of the two except an
 * "assistant" turn that carries tool calls.  Images are accepted in "user"
 * turns only.
 *
 * An "assistant" turn may carry `tool_calls` (the calls the model made); the
 * answer to each call is a "tool" turn with `tool_call_id` set to the call's
 * id, `content` the tool's output (text, often JSON) and `name` the tool's
 * name (Gemini and Ollama need it; OpenAI and Anthropic ignore it).
 *
 * The struct grows only at its end (zero = absent): `{.role, .content}`
 * initialisers stay valid.  Zero it before filling it member by member (a
 * `struct llm_message m; m.role = ...;` left the later members undefined). */
struct llm_message {
    const char *role;
    const char *content;
    const struct llm_content_part *parts;
    size_t n_parts;
    const struct llm_tool_call *tool_calls; /* "assistant" only */
    size_t n_tool_calls;
    const char *tool_call_id;    /* "tool" only, required there */
    const char *name;            /* "tool": the tool's name (optional) */
};

/* A tool (function) the model may call. */
struct llm_tool {
    const char *name;            /* required: [A-Za-z0-9_-], 1..64 bytes */
    const char *description;     /* optional */
    /* JSON Schema of the arguments, a JSON object as text; NULL = no
     * arguments ({"type":"object","properties":{}}). */
    const char *parameters_json;
    bool strict;                 /* OpenAI structured-outputs strictness */
};

/* Which tool the model should call.  Zero = the provider's default (auto
 * when tools are given); nothing is sent. */
enum llm_tool_choice {
    LLM_TOOL_CHOICE_DEFAULT = 0,
    LLM_TOOL_CHOICE_AUTO = 1,     /* the model decides */
    LLM_TOOL_CHOICE_NONE = 2,     /* never call a tool */
    LLM_TOOL_CHOICE_REQUIRED = 3, /* call at least one tool (Anthropic "any") */
    LLM_TOOL_CHOICE_NAMED = 4     /* call llm_request.tool_choice_name */
};

/* Shape of the reply's text.  Zero = free text (nothing sent). */
enum llm_response_format_type {
    LLM_RESPONSE_TEXT = 0,
    LLM_RESPONSE_JSON_OBJECT = 1, /* any JSON object (OpenAI json_object) */
    LLM_RESPONSE_JSON_SCHEMA = 2  /* an instance of `schema_json` */
};

struct llm_response_format {
    enum llm_response_format_type type;
    const char *name;            /* JSON_SCHEMA: required, [A-Za-z0-9_-], 1..64 bytes */
    const char *schema_json;     /* JSON_SCHEMA: required, a JSON object as text */
    bool strict;                 /* JSON_SCHEMA: OpenAI strict mode */
};

/* Streaming delta callback: `text[0..len)` is the next piece of generated
 * text (not NUL-terminated; borrowed for the call).  Called on the engine
 * thread, in order, never after the request's result has been delivered.
 * MUST NOT block for long: it holds up every other request of the engine. */
typedef void llm_delta_fn(void *user, const char *text, size_t len);

/* What a stream event callback (llm_request.on_event) is told. */
enum llm_stream_event_type {
    LLM_STREAM_TEXT = 1,         /* text[0..len) is the next piece of the reply */
    LLM_STREAM_TOOL_CALL = 2,    /* a tool call began or its arguments grew */
    LLM_STREAM_REFUSAL = 3       /* text[0..len) is the next piece of a refusal */
};

/* One stream event; borrowed for the callback only. */
struct llm_stream_event {
    enum llm_stream_event_type type;
    const char *text;            /* TEXT/REFUSAL: the new text; TOOL_CALL: the
                                    new arguments fragment (may be empty) */
    size_t len;
    /* TOOL_CALL: position of the call in llm_result.tool_calls, and its id
     * and name (NUL-terminated, NULL while not yet known). */
    size_t tool_index;
    const char *tool_id;
    const char *tool_name;
};

/* Stream event callback.  Called on the engine thread, in order, never after
 * the result was delivered, with the same rules as llm_delta_fn.  Return 0 to
 * go on; any other value STOPS the request at once: the transfer is aborted,
 * nothing is retried, and the result fails with LLM_ERR_CANCELLED keeping
 * the content and tool calls received so far. */
typedef int llm_stream_event_fn(void *user, const struct llm_stream_event *ev);

/* A request.  Zero-initialise it; callers allocate it, so it only grows at
 * its end (see the ABI note in llmorch.h). */
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

    /* ---- tools, structured output, request control (appended; zero = default) ---- */

    /* Tools the model may call (at most 128), and which one it should. */
    const struct llm_tool *tools;
    size_t n_tools;
    enum llm_tool_choice tool_choice;
    const char *tool_choice_name; /* LLM_TOOL_CHOICE_NAMED: one of `tools` */
    /* Allow several tool calls in one reply; sent only when the has_ flag
     * is set (OpenAI parallel_tool_calls, Anthropic
     * disable_parallel_tool_use). */
    bool has_parallel_tool_calls;
    bool parallel_tool_calls;

    /* Reply shape: JSON object or JSON Schema instance. */
    struct llm_response_format response_format;

    /* Output token limit under the name newer OpenAI models require
     * (max_completion_tokens; reasoning tokens count against it); other
     * wire formats send it as their max_tokens.  Setting both this and
     * max_tokens fails the request. */
    int max_completion_tokens;

    /* Streaming events: text, refusal and tool-call deltas, with the power
     * to stop the request (see llm_stream_event_fn).  Works alongside
     * on_delta, which keeps receiving the text. */
    llm_stream_event_fn *on_event;
    void *event_user;

    /* Per-request overrides of the engine options; 0 = the engine's value.
     * max_attempts: total attempts including the first (1 = no retries). */
    int max_attempts;
    int64_t attempt_timeout_ms;
    /* Keep the last response body in llm_result.raw_response: >0 yes, <0 no,
     * 0 the engine's keep_raw_response. */
    int keep_raw_response;

    /* Extra HTTP headers, each "Name: value" (at most 64, 8 KiB each; no CR
     * or LF).  They are added after the engine's default headers and the
     * provider's own; a name already present (case-insensitive) is replaced,
     * so they can override e.g. the API key header.  Bedrock signing with
     * SigV4 signs the final header set (these included) and refuses, with
     * LLM_ERR_INVALID_REQUEST, a header its signature sets: Authorization,
     * Host, X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token. */
    const char *const *headers;
    size_t n_headers;
};

LLM_END_DECLS

#endif /* LLMORCH_REQUEST_H */
