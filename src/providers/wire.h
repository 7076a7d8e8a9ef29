/* Helpers shared by the HTTP wire-format providers (openai.c, anthropic.c):
 * option checks, endpoint URLs, strict JSON parsing, the extra_json merge,
 * and table-driven error classification.  Internal (llm__), not installed.
 *
 * Every function here is a pure function of its arguments (only
 * llm__resolve_api_key reads the environment), so a provider built on them
 * stays safe to share between threads. */
#ifndef LLMORCH_PROVIDERS_WIRE_H
#define LLMORCH_PROVIDERS_WIRE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/jsonout.h"
#include "llmorch/ext/provider.h"

/* Characters of untrusted bytes quoted in an error message. */
#define LLM__EXCERPT_CHARS 120

/* ---- options ----------------------------------------------------------------- */

/* True if `s` may go into a header value or URL: no control bytes (CR and
 * LF would let it inject header lines). */
bool llm__option_value_ok(const char *s);

/* True if `s` is a non-empty HTTP header name (RFC 9110 token). */
bool llm__header_name_ok(const char *s);

/* The endpoint URL for `base` (NULL = `default_base`): trailing '/'
 * stripped, then "/<path>" appended if the base already ends in "/v1",
 * else "/v1/<path>" (so "http://host:8080" and "http://host:11434/v1" both
 * work).  A NULL `path` gives the cleaned base alone (providers whose
 * paths name the model: Gemini, Bedrock, Azure, Ollama).  On success *out
 * is malloc'd.  Returns LLM_ERR_INVALID_ARGUMENT for
 * an empty base or one with spaces or control bytes, LLM_ERR_OUT_OF_MEMORY. */
enum llm_error llm__endpoint_url(const char *base, const char *default_base,
                                 const char *path, char **out);

/* The API key: a copy of `key`; when `key` is NULL, of getenv(env, or
 * default_env when env is NULL or ""); NULL (no key: local servers need
 * none) when that is unset or empty, or when `key` is "" (an explicit "no
 * key", which does not fall back on the environment).  Returns LLM_ERR_INVALID_ARGUMENT if the
 * key has control bytes (never quoting it), LLM_ERR_OUT_OF_MEMORY. */
enum llm_error llm__resolve_api_key(const char *key, const char *env, const char *default_env,
                                    char **out);

/* What every HTTP provider keeps from its options: the endpoint URL, the
 * API key (NULL: send none) and the trace header name (NULL: send none). */
struct llm__endpoint {
    char *url;
    char *api_key;
    char *trace_header;
};

/* Fill `ep` from `opts`: URL from base_url (see llm__endpoint_url), key
 * (see llm__resolve_api_key), and a copy of `trace` unless it is "".
 * Returns LLM_OK, LLM_ERR_INVALID_ARGUMENT (bad URL, key or trace header
 * name) or LLM_ERR_OUT_OF_MEMORY; on error call llm__endpoint_clear. */
enum llm_error llm__endpoint_init(struct llm__endpoint *ep, const struct llm_provider_options *opts,
                                  const char *default_base, const char *path,
                                  const char *default_key_env, const char *trace);

/* Free what `ep` holds, wiping the key first.  Safe on a zeroed `ep`. */
void llm__endpoint_clear(struct llm__endpoint *ep);

/* Allocate an HTTP provider: `vtable`, and a zeroed impl of impl_size
 * bytes whose FIRST member is a struct llm__endpoint, filled as
 * llm__endpoint_init does.  On error nothing is left allocated (the
 * vtable's destroy is called on the half-made impl) and *out is NULL. */
enum llm_error llm__http_provider_new(const struct llm_provider_vtable *vtable, size_t impl_size,
                                      const struct llm_provider_options *opts,
                                      const char *default_base, const char *path,
                                      const char *default_key_env, const char *trace,
                                      struct llm_provider **out);

/* Add `Authorization: Bearer <token>` to `out` (the joined value wiped
 * after the copy).  Returns as llm_http_request_add_header. */
enum llm_error llm__add_bearer(struct llm_http_request *out, const char *token);

/* The end of a build_request slot: on error `out` is cleared and the
 * error returned, LLM_ERR_INVALID_ARGUMENT (a header value with CR/LF:
 * the caller's trace id or option) as LLM_ERR_INVALID_REQUEST. */
enum llm_error llm__request_built(struct llm_http_request *out, enum llm_error err);

/* The destroy slot of a provider whose impl is a bare struct
 * llm__endpoint (or starts with one and owns nothing else). */
void llm__endpoint_provider_destroy(struct llm_provider *p);

/* Start `out`: a copy of the URL, then the trace header when configured
 * and a trace id is given.  Returns LLM_OK or an llm_http_request error. */
enum llm_error llm__endpoint_begin(const struct llm__endpoint *ep, const char *trace_id,
                                   struct llm_http_request *out);

/* ---- JSON ---------------------------------------------------------------------- */

/* Parse s[0..len) (not NUL-terminated) as exactly one JSON value, allowing
 * surrounding whitespace.  NULL if malformed, truncated, followed by
 * anything else, or out of memory. */
cJSON *llm__json_parse(const char *s, size_t len);

/* obj[key] if it is a string, else NULL.  Borrowed from `obj`. */
const char *llm__json_string(const cJSON *obj, const char *key);

/* obj[key] if it is an object, else NULL. */
const cJSON *llm__json_object(const cJSON *obj, const char *key);

/* Read obj[key] as a token count: true and *out set if it is a finite,
 * non-negative number (truncated to an integer, capped at INT64_MAX / 2);
 * false otherwise, *out unchanged. */
bool llm__json_count(const cJSON *obj, const char *key, int64_t *out);

/* Make room in p->content for n more bytes and the NUL (content_len
 * unchanged), so that a reader can write the content in place.  Returns
 * LLM_OK or LLM_ERR_OUT_OF_MEMORY.  (llm_parsed_append grows the same way.) */
enum llm_error llm__parsed_reserve(struct llm_parsed *p, size_t n);

/* LLM_OK if the reply may keep n more bytes under p->max_bytes (see
 * llmorch/ext/provider.h): content, refusal and tool-call arguments count
 * together.  Else LLM_ERR_RESPONSE_TOO_LARGE, recorded in p with a
 * message naming the limit. */
enum llm_error llm__parsed_room(struct llm_parsed *p, size_t n);

/* llm_parsed_tool_append(call, ...) within p's bound (llm__parsed_room):
 * how providers append tool-call arguments. */
enum llm_error llm__parsed_tool_append(struct llm_parsed *p, struct llm_parsed_tool_call *call,
                                       const char *text, size_t len);

/* Call when the reply is complete (end of parse_response, the stream's
 * final event): a reply with output (text, refusal or tool calls) whose usage
 * says 0 output tokens did not really count them -- a proxy's stream
 * carried usage 0/0 -- so usage becomes unknown (known = false, the
 * counts left as the server sent them) rather than a known zero that
 * would make the cost 0 and refund the TPM gate. */
void llm__parsed_settle_usage(struct llm_parsed *p);

/* A whole tool call read from a reply (Gemini functionCall, Bedrock
 * toolUse, Ollama tool_calls): appended with its id and name (either may
 * be NULL) and `args` (NULL: "{}") compacted as its arguments.  Returns
 * as llm_parsed_tool_call / llm__parsed_tool_append. */
enum llm_error llm__parsed_tool_from_json(struct llm_parsed *p, const char *id, const char *name,
                                          const cJSON *args);

/* Set *slot to a copy of `s` unless it already holds an equal string (a
 * stream repeats id and model in every chunk).  NULL `s` is a no-op. */
enum llm_error llm__parsed_update(char **slot, const char *s);

/* ---- request bodies ------------------------------------------------------------ */

/* A request's extra_json, merged into the body while the body is written
 * with base/jsonout.h.  A member whose name the body also has replaces the
 * body's value in place (the body keeps its field order); the others come
 * after the body's own fields, in extra_json's order.  A name repeated in
 * extra_json takes its last value, at the place of its first.  (This is
 * what replacing and adding extra_json's members one by one on a cJSON
 * tree of the body gave.) */
struct llm__extra {
    cJSON *obj; /* parsed extra_json; NULL when there is none */
};

/* Parse `extra_json` (NULL: none) into `x`.  Returns LLM_OK, or
 * LLM_ERR_INVALID_REQUEST if it is not exactly one JSON object (also when
 * parsing ran out of memory: cJSON does not tell the two apart); `x` then
 * holds nothing. */
enum llm_error llm__extra_init(struct llm__extra *x, const char *extra_json);

/* Write the key of the body's member `key` into `w`.  Returns true if the
 * caller MUST now write the member's value; false if extra_json has a
 * member of that name, whose value has then been written instead. */
bool llm__extra_member(struct llm__extra *x, struct llm__jo *w, const char *key);

/* llm__extra_member for a key that is a string literal needing no escape
 * (llm__jo_key_lit): without extra_json, the quoted key is stored inline. */
#define llm__extra_member_lit(x, w, lit) \
    ((x)->obj == NULL ? (llm__jo_key_lit((w), lit), true) : llm__extra_member((x), (w), lit))

/* Write the members of extra_json the body did not have.  Call once, after
 * the body's last member and before closing the object. */
void llm__extra_finish(struct llm__extra *x, struct llm__jo *w);

/* Free what `x` holds.  Safe after a failed llm__extra_init. */
void llm__extra_clear(struct llm__extra *x);

/* A request body being written: the writer and extra_json's members.
 * Every member goes through llm__extra_member(&b.x, &b.w, name), which
 * writes extra_json's value instead when it has one. */
struct llm__body {
    struct llm__jo w;
    struct llm__extra x;
    bool bad; /* a JSON text of the request did not parse: INVALID_REQUEST */
};

/* Check what every provider needs of `req` -- a model; messages and stop
 * arrays when counted, without NULL strings; max_tokens >= 0; finite
 * temperature and top_p -- then parse extra_json and open the body's
 * object.  (The engine validates requests before; these checks keep a
 * provider safe when called directly.)  Returns LLM_OK, or
 * LLM_ERR_INVALID_REQUEST with nothing held. */
enum llm_error llm__body_begin(struct llm__body *b, const struct llm_request *req);

/* Write extra_json's remaining members, close the object, and hand the
 * document to out->body / out->body_len (malloc'd, as
 * llm_http_request_clear expects).  Returns LLM_OK or
 * LLM_ERR_OUT_OF_MEMORY; `b` holds nothing afterwards either way. */
enum llm_error llm__body_end(struct llm__body *b, struct llm_http_request *out);

/* Write the members both wire formats share, in this order, each when
 * set: temperature, top_p, and the stop strings under `stop_key` ("stop",
 * Anthropic's "stop_sequences"). */
void llm__body_put_sampling(struct llm__body *b, const struct llm_request *req,
                            const char *stop_key);

/* Write the JSON text `json` (a schema, tool-call arguments) as a value,
 * compacted by cJSON; NULL writes `fallback` (a JSON text the caller
 * trusts) instead.  Text that does not parse marks the body bad, so that
 * llm__body_end fails with LLM_ERR_INVALID_REQUEST. */
void llm__body_put_json_text(struct llm__body *b, const char *json, const char *fallback);
/* As llm__body_put_json_text, with `fix` (may be NULL) applied to the
 * parsed value before it is written (Gemini's schema dialect). */
void llm__body_put_json_text_fixed(struct llm__body *b, const char *json, const char *fallback,
                                   void (*fix)(cJSON *));
/* The JSON text `json` (NULL: "{}") compacted and written as a JSON
 * string (Bedrock wants its output schema as a string). */
void llm__body_put_json_text_as_string(struct llm__body *b, const char *json);
/* The request's tools as an OpenAI-style array of {type:"function",
 * function:{name, description, parameters[, strict]}} (OpenAI, Azure and
 * Ollama declare them alike; Ollama takes no `strict`). */
void llm__body_put_function_tools(struct llm__body *b, const struct llm_request *req,
                                  bool with_strict);

/* The text of a message: `content`, else its text parts joined (images
 * skipped) written as one string value. */
void llm__put_message_text(struct llm__jo *w, const struct llm_message *m);

/* An image part's URL: `url` as given, base64 data as a data: URL
 * ("data:<media_type>;base64,<data>"), written as one string value. */
void llm__put_image_url(struct llm__jo *w, const struct llm_content_part *pt);

/* Split a data: URL ("data:image/png;base64,AAAA") into its media type and
 * base64 payload (borrowed from `url`).  False if `url` is not one. */
bool llm__data_url_split(const char *url, const char **media, size_t *media_len,
                         const char **data);

/* Write {"role": role, "content": content}. */
void llm__put_message(struct llm__jo *w, const char *role, const char *content);

/* System and developer turns: wire formats without a system role inside
 * their messages (Anthropic, Gemini, Bedrock) send the request's system
 * prompt and every system/developer message, in order, joined by blank
 * lines, as one top-level text.  llm__has_system: true if that text is not
 * empty; llm__put_system writes it as one JSON string (in pieces, no
 * joined copy). */
bool llm__is_system_role(const char *role);
bool llm__has_system(const struct llm_request *req);
/* True if a message has no text (no content, no non-empty text part). */
bool llm__message_text_empty(const struct llm_message *m);
/* Write a message's text (content, else its text parts joined) as parts
 * of a JSON string being written (between llm__jo_string_begin/end). */
void llm__put_message_text_parts(struct llm__jo *w, const struct llm_message *m);
void llm__put_system(struct llm__jo *w, const struct llm_request *req);

/* Member names of a nested sampling object (Gemini's generationConfig,
 * Bedrock's inferenceConfig, Ollama's options).  max_tokens NULL: not
 * written. */
struct llm__sampling_keys {
    const char *max_tokens, *temperature, *top_p, *stop;
};

/* True if `req` sets anything such an object would carry. */
bool llm__has_sampling(const struct llm_request *req, bool with_max_tokens);

/* Write the object: each member only when the request sets it. */
void llm__put_sampling_object(struct llm__jo *w, const struct llm_request *req,
                              const struct llm__sampling_keys *k);
/* The same members without the braces (to share an object with others). */
void llm__put_sampling_members(struct llm__jo *w, const struct llm_request *req,
                               const struct llm__sampling_keys *k);

/* `s` percent-encoded as one URL path segment (every byte but RFC 3986's
 * unreserved ones: a model id's ':' and '/' become %3A and %2F, as the AWS
 * SDK sends them).  malloc'd; NULL when out of memory. */
char *llm__url_segment(const char *s);

/* Room for a body of `req` when nothing needs escaping, with slack for the
 * field names, so that writing it takes one allocation.  `req` MUST have
 * passed the provider's checks (no NULL strings). */
size_t llm__body_size_hint(const struct llm_request *req);

/* ---- parse failures ------------------------------------------------------------ */

/* Record "<what>: <excerpt of data>" as an LLM_ERR_PARSE in `out` and
 * return LLM_ERR_PARSE (or LLM_ERR_OUT_OF_MEMORY if even that failed). */
enum llm_error llm__parse_failure(struct llm_parsed *out, const char *what, const char *data,
                                  size_t len);

/* ---- error classification ------------------------------------------------------ */

/* The error object of a provider body, borrowed from the parsed tree. */
struct llm__wire_error {
    const char *code;       /* error.code when a string */
    int numeric_code;       /* error.code when a number (llama.cpp and vLLM put
                               the HTTP status there), else 0 */
    const char *type;       /* error.type */
    const char *message;    /* error.message, or error itself when a string */
};

/* Find the error in a response body: {"error": {...}} (OpenAI, Anthropic,
 * llama.cpp, newer vLLM), {"error": "text"} (Ollama), or a top-level
 * {"object": "error", "message": ...} (older vLLM).  True if found. */
bool llm__wire_error_find(const cJSON *root, struct llm__wire_error *out);

/* Any status, for llm__error_rule.status_lo/hi. */
#define LLM__ANY_STATUS 0, 999

/* The status rows every provider's table has after its refinements: 402
 * (Payment Required, Anthropic's billing_error) is a quota, any 4xx not
 * listed is the request's fault, any other 5xx the server's.  Whether a
 * type is retried is not the table's business (base/errors.h).
 *
 * The rule for every table: the HTTP status class decides.  A body's
 * error.type or code only refines the verdict within the status it is
 * documented with (rows with that status range, before these), because
 * proxies and gateways wrap any upstream error in a body of their own
 * ({"error":{"type":"api_error"}} on a 429 or a 403).  The rows after
 * these are reached only without an HTTP error status (an error inside a
 * 2xx body or a stream): there the body is all there is. */
#define LLM__STATUS_RULES                               \
    {400, 400, NULL, NULL, LLM_ERR_INVALID_REQUEST},    \
    {401, 401, NULL, NULL, LLM_ERR_AUTHENTICATION},     \
    {402, 402, NULL, NULL, LLM_ERR_INSUFFICIENT_QUOTA}, \
    {403, 403, NULL, NULL, LLM_ERR_PERMISSION_DENIED},  \
    {404, 404, NULL, NULL, LLM_ERR_NOT_FOUND},          \
    {408, 408, NULL, NULL, LLM_ERR_TIMEOUT},            \
    {409, 409, NULL, NULL, LLM_ERR_SERVER_ERROR},       \
    {413, 413, NULL, NULL, LLM_ERR_INVALID_REQUEST},    \
    {422, 422, NULL, NULL, LLM_ERR_INVALID_REQUEST},    \
    {429, 429, NULL, NULL, LLM_ERR_RATE_LIMITED},       \
    {500, 500, NULL, NULL, LLM_ERR_SERVER_ERROR},       \
    {502, 502, NULL, NULL, LLM_ERR_SERVER_ERROR},       \
    {503, 503, NULL, NULL, LLM_ERR_OVERLOADED},         \
    {504, 504, NULL, NULL, LLM_ERR_SERVER_ERROR},       \
    {529, 529, NULL, NULL, LLM_ERR_OVERLOADED},         \
    {500, 599, NULL, NULL, LLM_ERR_SERVER_ERROR},       \
    {400, 499, NULL, NULL, LLM_ERR_INVALID_REQUEST}

/* One row of a provider's classification table.  Rows are tried in order;
 * the first whose every non-NULL condition holds wins.  A table MUST end
 * with a row that matches everything. */
struct llm__error_rule {
    int status_lo, status_hi;      /* inclusive HTTP status range */
    const char *code;              /* equals error.code or error.type; NULL = any */
    const char *message_contains;  /* ASCII case-insensitive substring of
                                      error.message; NULL = any */
    enum llm_error type;
};

/* Fill `out` from the first matching rule: type, provider_code
 * (error.code, else error.type) and message (error.message, else
 * `fallback_message`), all copied.  `e` may be NULL (no understood body).
 * Allocation failures leave the strings NULL; the verdict is always set. */
void llm__classify(const struct llm__error_rule *rules, size_t n_rules, int status,
                   const struct llm__wire_error *e, const char *fallback_message,
                   struct llm_error_info *out);

/* llm__classify with, when `e` is NULL (no error understood in the body),
 * an excerpt of the body as the message. */
void llm__classify_body(const struct llm__error_rule *rules, size_t n_rules, int status,
                        const struct llm__wire_error *e, const char *body, size_t len,
                        struct llm_error_info *out);

/* The whole classify_error slot for a provider whose errors follow the
 * shapes above: parse the body, classify with the table, take an excerpt
 * of a body that is not understood as the message, and report the retry
 * verdict (llm_retry_classify, with the server's x-should-retry). */
void llm__classify_http_error(const struct llm__error_rule *rules, size_t n_rules, int status,
                              const struct llm_http_headers *headers, const char *body,
                              size_t len, struct llm_error_info *out);

/* Record an error found inside a 2xx body or a stream in `out`,
 * classified with the table.  No HTTP status applies; a numeric error.code
 * between 400 and 599 is taken as one. */
enum llm_error llm__parsed_set_wire_error(struct llm_parsed *out,
                                          const struct llm__error_rule *rules, size_t n_rules,
                                          const struct llm__wire_error *e);

#endif /* LLMORCH_PROVIDERS_WIRE_H */
