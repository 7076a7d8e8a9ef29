/* Tool calls, tool results, structured output and refusals in the mock
 * server: a deterministic answer for every request that carries tools, a
 * tool turn, a response format or the refusal trigger, in each API's own
 * wire shape (WIRE-NOTES.md), plain and streamed.  mock_server.h documents
 * the behaviour for test writers. */
#include "mock_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define INSTANCE_MAX_DEPTH 16
#define INSTANCE_MAX_ITEMS 16
#define INSTANCE_MAX_STRING 64
#define ARG_FRAGMENTS 3

static const char refusal_text[] = "I'm sorry, but I can't help with that.";

void mocksrv__tools_free(struct mocksrv__tools *t)
{
    for (size_t i = 0; i < t->n_calls; i++) {
        free(t->calls[i].name);
        free(t->calls[i].args);
    }
    free(t->text);
    memset(t, 0, sizeof(*t));
}

/* ---- deterministic instances of a schema ---------------------------------------- */

static const char *first_type(const cJSON *schema)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (cJSON_IsString(type))
        return type->valuestring;
    const cJSON *list = cJSON_IsArray(type) ? type : NULL;
    const cJSON *t;
    cJSON_ArrayForEach(t, list) {
        if (cJSON_IsString(t) && strcmp(t->valuestring, "null") != 0)
            return t->valuestring;
    }
    if (cJSON_GetObjectItemCaseSensitive(schema, "properties") != NULL)
        return "object";
    if (cJSON_GetObjectItemCaseSensitive(schema, "items") != NULL)
        return "array";
    return "string";
}

static double number_in_range(const cJSON *schema, double want)
{
    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
    const cJSON *hi = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
    if (cJSON_IsNumber(lo) && want < lo->valuedouble)
        want = lo->valuedouble;
    if (cJSON_IsNumber(hi) && want > hi->valuedouble)
        want = hi->valuedouble;
    return want;
}

/* string "x" (repeated up to minLength), number/integer 1 (moved into
 * [minimum, maximum]), boolean true, first enum value, const, the first
 * anyOf/oneOf branch, arrays of minItems instances (else []), objects with
 * every required property filled (else {}). */
static cJSON *instance(const cJSON *schema, int depth)
{
    if (!cJSON_IsObject(schema) || depth > INSTANCE_MAX_DEPTH)
        return cJSON_CreateNull();
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(schema, "const");
    if (c != NULL)
        return cJSON_Duplicate(c, true);
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    if (cJSON_IsArray(en) && cJSON_GetArraySize(en) > 0)
        return cJSON_Duplicate(cJSON_GetArrayItem(en, 0), true);
    static const char *const branches[] = {"anyOf", "oneOf", "allOf"};
    for (int i = 0; i < 3; i++) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(schema, branches[i]);
        if (cJSON_IsArray(b) && cJSON_GetArraySize(b) > 0 &&
            cJSON_GetObjectItemCaseSensitive(schema, "type") == NULL)
            return instance(cJSON_GetArrayItem(b, 0), depth + 1);
    }
    const char *type = first_type(schema);
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return cJSON_CreateNumber(number_in_range(schema, 1));
    if (strcmp(type, "boolean") == 0)
        return cJSON_CreateTrue();
    if (strcmp(type, "null") == 0)
        return cJSON_CreateNull();
    if (strcmp(type, "array") == 0) {
        cJSON *arr = cJSON_CreateArray();
        const cJSON *mi = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
        int n = cJSON_IsNumber(mi) && mi->valuedouble > 0
                    ? (mi->valuedouble > INSTANCE_MAX_ITEMS ? INSTANCE_MAX_ITEMS
                                                            : (int)mi->valuedouble)
                    : 0;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
        for (int i = 0; arr != NULL && i < n; i++)
            cJSON_AddItemToArray(arr, instance(items, depth + 1));
        return arr;
    }
    if (strcmp(type, "object") == 0) {
        cJSON *obj = cJSON_CreateObject();
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
        if (!cJSON_IsArray(req))
            req = NULL;
        const cJSON *r;
        cJSON_ArrayForEach(r, req) {
            if (obj == NULL || !cJSON_IsString(r) ||
                cJSON_GetObjectItemCaseSensitive(obj, r->valuestring) != NULL)
                continue;
            cJSON_AddItemToObject(obj, r->valuestring,
                                  instance(cJSON_GetObjectItemCaseSensitive(props, r->valuestring),
                                           depth + 1));
        }
        return obj;
    }
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
    size_t n = cJSON_IsNumber(ml) && ml->valuedouble > 1
                   ? (ml->valuedouble > INSTANCE_MAX_STRING ? INSTANCE_MAX_STRING
                                                            : (size_t)ml->valuedouble)
                   : 1;
    char s[INSTANCE_MAX_STRING + 1];
    memset(s, 'x', n);
    s[n] = '\0';
    return cJSON_CreateString(s);
}

/* The instance printed compactly (malloc'd), NULL on OOM. */
static char *instance_text(const cJSON *schema)
{
    cJSON *v = instance(schema, 0);
    char *s = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    if (s == NULL)
        return NULL;
    char *copy = strdup(s); /* free() for everything the mock hands out */
    cJSON_free(s);
    return copy;
}

/* ---- reading the request -------------------------------------------------------- */

/* Append the text of a content value (string, or text blocks). */
static void text_of(const cJSON *content, struct mocksrv__buf *b)
{
    if (cJSON_IsString(content)) {
        mocksrv__buf_str(b, content->valuestring);
        return;
    }
    if (!cJSON_IsArray(content))
        return;
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(blk, "text");
        if (cJSON_IsString(text))
            mocksrv__buf_str(b, text->valuestring);
    }
}

/* "tool result: <content>" for the tool results that end the conversation
 * (OpenAI trailing "tool" turns; Anthropic tool_result blocks in the last
 * user turn), contents joined by "; ".  False if there are none. */
static bool tool_results(const cJSON *msgs, bool anth, struct mocksrv__buf *b)
{
    int n = cJSON_GetArraySize(msgs);
    bool any = false;
    mocksrv__buf_str(b, "tool result: ");
    if (!anth) {
        int first = n;
        while (first > 0) {
            const cJSON *role =
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, first - 1), "role");
            if (!cJSON_IsString(role) || strcmp(role->valuestring, "tool") != 0)
                break;
            first--;
        }
        for (int i = first; i < n; i++) {
            if (any)
                mocksrv__buf_str(b, "; ");
            text_of(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, i), "content"), b);
            any = true;
        }
        return any;
    }
    const cJSON *last = cJSON_GetArrayItem(msgs, n - 1);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
    if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") != 0 || !cJSON_IsArray(content))
        return false;
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(blk, "type");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "tool_result") != 0)
            continue;
        if (any)
            mocksrv__buf_str(b, "; ");
        text_of(cJSON_GetObjectItemCaseSensitive(blk, "content"), b);
        any = true;
    }
    return any;
}

enum choice { CH_AUTO, CH_NONE, CH_REQUIRED, CH_NAMED };

/* Name and schema of tool i in either API's tools array. */
static const char *tool_name(const cJSON *tool, bool anth, const cJSON **schema)
{
    const cJSON *fn = anth ? tool : cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    *schema = cJSON_GetObjectItemCaseSensitive(fn, anth ? "input_schema" : "parameters");
    return cJSON_IsString(name) ? name->valuestring : NULL;
}

static bool add_call(struct mocksrv__tools *t, const char *name, const cJSON *schema)
{
    if (t->n_calls >= MOCKSRV__MAX_TOOL_CALLS)
        return true;
    struct mocksrv__tool_call *c = &t->calls[t->n_calls];
    c->name = strdup(name);
    c->args = instance_text(cJSON_IsObject(schema) ? schema : NULL);
    if (c->args != NULL && strcmp(c->args, "null") == 0) {
        free(c->args);
        c->args = strdup("{}");
    }
    t->n_calls++;
    return c->name != NULL && c->args != NULL;
}

const char *mocksrv__tools_decide(const cJSON *root, enum mocksrv__api api, const char *last_user,
                                  struct mocksrv__tools *t)
{
    bool anth = api == MOCKSRV__API_ANTHROPIC;
    memset(t, 0, sizeof(*t));
    /* The formats of mock_formats.c (Gemini, Bedrock, Ollama) answer text
     * only: a call written in OpenAI's shape on their paths would be a lie. */
    if (api != MOCKSRV__API_OPENAI && api != MOCKSRV__API_ANTHROPIC)
        return NULL;
    if (last_user != NULL && strstr(last_user, MOCKSRV_REFUSE_TRIGGER) != NULL) {
        t->refusal = true;
        return NULL;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    struct mocksrv__buf b = {.max = (size_t)MOCKSRV_MAX_BODY_BYTES};
    if (tool_results(msgs, anth, &b)) {
        if (b.failed) {
            mocksrv__buf_free(&b);
            t->oom = true;
            return NULL;
        }
        t->text = mocksrv__buf_take(&b, &t->text_len);
        return NULL;
    }
    mocksrv__buf_free(&b);

    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        enum choice ch = CH_AUTO;
        const char *named = NULL;
        bool parallel = true;
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
        if (anth) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(tc, "type");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(tc, "name");
            if (cJSON_IsString(type)) {
                ch = strcmp(type->valuestring, "none") == 0   ? CH_NONE
                     : strcmp(type->valuestring, "any") == 0  ? CH_REQUIRED
                     : strcmp(type->valuestring, "tool") == 0 ? CH_NAMED
                                                              : CH_AUTO;
            }
            named = cJSON_IsString(name) ? name->valuestring : NULL;
            parallel = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use"));
        } else {
            if (cJSON_IsString(tc)) {
                ch = strcmp(tc->valuestring, "none") == 0       ? CH_NONE
                     : strcmp(tc->valuestring, "required") == 0 ? CH_REQUIRED
                                                                : CH_AUTO;
            } else if (cJSON_IsObject(tc)) {
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
                ch = CH_NAMED;
                named = cJSON_IsString(name) ? name->valuestring : NULL;
            }
            parallel = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "parallel_tool_calls"));
        }
        const cJSON *tool;
        if (ch == CH_NAMED) {
            cJSON_ArrayForEach(tool, tools) {
                const cJSON *schema;
                const char *name = tool_name(tool, anth, &schema);
                if (name != NULL && named != NULL && strcmp(name, named) == 0) {
                    t->oom = !add_call(t, name, schema);
                    return NULL;
                }
            }
            return anth ? "tool_choice: tool not found in tools"
                        : "Invalid value for 'tool_choice': the named function is not in 'tools'.";
        }
        if (ch != CH_NONE) {
            /* Every tool the last user message names, in tools order. */
            cJSON_ArrayForEach(tool, tools) {
                const cJSON *schema;
                const char *name = tool_name(tool, anth, &schema);
                if (name != NULL && name[0] != '\0' && last_user != NULL &&
                    strstr(last_user, name) != NULL && (parallel || t->n_calls == 0))
                    t->oom |= !add_call(t, name, schema);
            }
            if (t->n_calls == 0 && ch == CH_REQUIRED) {
                const cJSON *schema;
                const char *name = tool_name(cJSON_GetArrayItem(tools, 0), anth, &schema);
                if (name != NULL)
                    t->oom = !add_call(t, name, schema);
            }
            if (t->n_calls > 0)
                return NULL;
        }
    }

    /* Structured output: the same deterministic instance as content. */
    const cJSON *schema = NULL;
    bool json = false;
    if (anth) {
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "output_config"), "format");
        schema = cJSON_GetObjectItemCaseSensitive(fmt, "schema");
        json = schema != NULL;
    } else {
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "json_schema") == 0) {
            schema = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
            json = true;
        } else if (cJSON_IsString(type) && strcmp(type->valuestring, "json_object") == 0) {
            json = true;
        }
    }
    if (json) {
        t->text = cJSON_IsObject(schema) ? instance_text(schema) : strdup("{}");
        if (t->text == NULL)
            t->oom = true;
        else
            t->text_len = strlen(t->text);
    }
    return NULL;
}

/* ---- answers ---------------------------------------------------------------------- */

int64_t mocksrv__tools_output_tokens(const struct mocksrv__tools *t)
{
    size_t n = t->refusal ? sizeof(refusal_text) - 1 : 0;
    for (size_t i = 0; i < t->n_calls; i++)
        n += strlen(t->calls[i].name) + strlen(t->calls[i].args);
    return (int64_t)((n + 3) / 4);
}

static void call_id(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t i)
{
    mocksrv__buf_printf(b, r->api == MOCKSRV__API_ANTHROPIC ? "\"toolu_mock_%llu_%zu\""
                                                            : "\"call_mock_%llu_%zu\"",
                        (unsigned long long)r->id, i);
}

static void openai_plain(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                         const struct mocksrv__tools *t)
{
    mocksrv__buf_printf(b,
                        "{\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion\","
                        "\"created\":%lld,\"model\":",
                        (unsigned long long)r->id, (long long)r->created);
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_str(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":null,\"refusal\":");
    if (t->refusal)
        mocksrv__buf_json_str(b, refusal_text, sizeof(refusal_text) - 1);
    else
        mocksrv__buf_str(b, "null");
    if (t->n_calls > 0) {
        mocksrv__buf_str(b, ",\"tool_calls\":[");
        for (size_t i = 0; i < t->n_calls; i++) {
            mocksrv__buf_str(b, i > 0 ? ",{\"id\":" : "{\"id\":");
            call_id(b, r, i);
            mocksrv__buf_str(b, ",\"type\":\"function\",\"function\":{\"name\":");
            mocksrv__buf_json_str(b, t->calls[i].name, strlen(t->calls[i].name));
            mocksrv__buf_str(b, ",\"arguments\":");
            mocksrv__buf_json_str(b, t->calls[i].args, strlen(t->calls[i].args));
            mocksrv__buf_str(b, "}}");
        }
        mocksrv__buf_str(b, "]");
    }
    mocksrv__buf_printf(b,
                        ",\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"%s\"}],"
                        "\"usage\":",
                        t->n_calls > 0 ? "tool_calls" : "stop");
    mocksrv__openai_usage(b, r);
    mocksrv__buf_str(b, ",\"service_tier\":\"default\",\"system_fingerprint\":\""
                        MOCKSRV__FINGERPRINT "\"}");
}

static void anthropic_plain(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                            const struct mocksrv__tools *t)
{
    mocksrv__buf_printf(b,
                        "{\"id\":\"msg_mock_%llu\",\"type\":\"message\",\"role\":\"assistant\","
                        "\"model\":",
                        (unsigned long long)r->id);
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_str(b, ",\"content\":[");
    for (size_t i = 0; i < t->n_calls; i++) {
        mocksrv__buf_str(b, i > 0 ? ",{\"type\":\"tool_use\",\"id\":" : "{\"type\":\"tool_use\",\"id\":");
        call_id(b, r, i);
        mocksrv__buf_str(b, ",\"name\":");
        mocksrv__buf_json_str(b, t->calls[i].name, strlen(t->calls[i].name));
        mocksrv__buf_str(b, ",\"input\":");
        mocksrv__buf_str(b, t->calls[i].args); /* compact JSON already */
        mocksrv__buf_str(b, "}");
    }
    mocksrv__buf_printf(b,
                        "],\"stop_reason\":\"%s\",\"stop_sequence\":null,"
                        "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld,"
                        "\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}",
                        t->n_calls > 0 ? "tool_use" : "refusal", (long long)r->input_tokens,
                        (long long)r->output_tokens);
}

/* Cut s into ARG_FRAGMENTS pieces (never inside a UTF-8 character) and
 * call emit for each, so that clients must join fragments. */
static void fragments(const char *s, void (*emit)(struct mocksrv__buf *, const struct mocksrv__reply *,
                                                  size_t, const char *, size_t),
                      struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t idx)
{
    size_t len = strlen(s), off = 0;
    size_t step = len / ARG_FRAGMENTS > 0 ? len / ARG_FRAGMENTS : 1;
    while (off < len) {
        size_t n = mocksrv__utf8_floor(s + off, len - off, step);
        if (n == 0)
            n = len - off < 4 ? len - off : 4;
        emit(b, r, idx, s + off, n);
        off += n;
    }
}

/* A chunk up to its first choice's delta value. */
static void openai_head(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__openai_chunk_head(b, r);
    mocksrv__buf_str(b, "[{\"index\":0,\"delta\":");
}

static void openai_tail(struct mocksrv__buf *b, const struct mocksrv__reply *r, const char *finish)
{
    if (finish != NULL)
        mocksrv__buf_printf(b, ",\"logprobs\":null,\"finish_reason\":\"%s\"}]", finish);
    else
        mocksrv__buf_str(b, ",\"logprobs\":null,\"finish_reason\":null}]");
    mocksrv__buf_str(b, r->include_usage ? ",\"usage\":null}\n\n" : "}\n\n");
}

static void openai_arg_chunk(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t idx,
                             const char *s, size_t n)
{
    openai_head(b, r);
    mocksrv__buf_printf(b, "{\"tool_calls\":[{\"index\":%zu,\"function\":{\"arguments\":", idx);
    mocksrv__buf_json_str(b, s, n);
    mocksrv__buf_str(b, "}}]}");
    openai_tail(b, r, NULL);
}

static void openai_refusal_chunk(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                                 size_t idx, const char *s, size_t n)
{
    (void)idx;
    openai_head(b, r);
    mocksrv__buf_str(b, "{\"refusal\":");
    mocksrv__buf_json_str(b, s, n);
    mocksrv__buf_str(b, "}");
    openai_tail(b, r, NULL);
}

static void openai_stream(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                          const struct mocksrv__tools *t)
{
    openai_head(b, r);
    mocksrv__buf_str(b, t->refusal ? "{\"role\":\"assistant\",\"content\":null,\"refusal\":\"\"}"
                                   : "{\"role\":\"assistant\",\"content\":null}");
    openai_tail(b, r, NULL);
    if (t->refusal)
        fragments(refusal_text, openai_refusal_chunk, b, r, 0);
    for (size_t i = 0; i < t->n_calls; i++) {
        /* The first chunk of a call names it, with empty arguments. */
        openai_head(b, r);
        mocksrv__buf_printf(b, "{\"tool_calls\":[{\"index\":%zu,\"id\":", i);
        call_id(b, r, i);
        mocksrv__buf_str(b, ",\"type\":\"function\",\"function\":{\"name\":");
        mocksrv__buf_json_str(b, t->calls[i].name, strlen(t->calls[i].name));
        mocksrv__buf_str(b, ",\"arguments\":\"\"}}]}");
        openai_tail(b, r, NULL);
        fragments(t->calls[i].args, openai_arg_chunk, b, r, i);
    }
    openai_head(b, r);
    mocksrv__buf_str(b, "{}");
    openai_tail(b, r, t->n_calls > 0 ? "tool_calls" : "stop");
    if (r->include_usage) {
        mocksrv__openai_chunk_head(b, r);
        mocksrv__buf_str(b, "[],\"usage\":");
        mocksrv__openai_usage(b, r);
        mocksrv__buf_str(b, "}\n\n");
    }
    mocksrv__buf_str(b, "data: [DONE]\n\n");
}

static void anthropic_arg_chunk(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                                size_t idx, const char *s, size_t n)
{
    (void)r;
    mocksrv__buf_printf(b,
                        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                        "\"index\":%zu,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":",
                        idx);
    mocksrv__buf_json_str(b, s, n);
    mocksrv__buf_str(b, "}}\n\n");
}

static void anthropic_stream(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                             const struct mocksrv__tools *t)
{
    mocksrv__anthropic_message_start(b, r);
    for (size_t i = 0; i < t->n_calls; i++) {
        mocksrv__buf_printf(b,
                            "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                            "\"index\":%zu,\"content_block\":{\"type\":\"tool_use\",\"id\":",
                            i);
        call_id(b, r, i);
        mocksrv__buf_str(b, ",\"name\":");
        mocksrv__buf_json_str(b, t->calls[i].name, strlen(t->calls[i].name));
        mocksrv__buf_str(b, ",\"input\":{}}}\n\n");
        if (i == 0)
            mocksrv__buf_str(b, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
        /* An empty input sends no input_json_delta, as the API does. */
        if (strcmp(t->calls[i].args, "{}") != 0)
            fragments(t->calls[i].args, anthropic_arg_chunk, b, r, i);
        mocksrv__buf_printf(b,
                            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                            "\"index\":%zu}\n\n",
                            i);
    }
    mocksrv__buf_printf(b,
                        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                        "{\"stop_reason\":\"%s\",\"stop_sequence\":null},\"usage\":"
                        "{\"output_tokens\":%lld}}\n\n",
                        t->n_calls > 0 ? "tool_use" : "refusal", (long long)r->output_tokens);
    mocksrv__buf_str(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

void mocksrv__tools_answer(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                           const struct mocksrv__tools *t, bool stream)
{
    bool anth = r->api == MOCKSRV__API_ANTHROPIC;
    if (stream)
        (anth ? anthropic_stream : openai_stream)(b, r, t);
    else
        (anth ? anthropic_plain : openai_plain)(b, r, t);
}
