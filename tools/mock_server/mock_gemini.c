/* Gemini's native API on the mock (see mock_internal.h):
 *   plain  {"candidates":[{"content":{"parts":[{"text":T}],"role":"model"},
 *           "finishReason":"STOP"|"MAX_TOKENS","index":0}],
 *           "usageMetadata":{"promptTokenCount","candidatesTokenCount",
 *           "totalTokenCount"},"modelVersion":M,"responseId":"mock-N"}
 *   stream SSE "data: <GenerateContentResponse>\r\n\r\n" per delta, each
 *          with only the new text (no event: lines), the last one with the
 *          finishReason and the whole usageMetadata.
 *   errors google.rpc.Status {"error":{"code","message","status"}}; a 429
 *          or 503 carries its wait as a RetryInfo detail (retryDelay) and
 *          NO Retry-After header, as Google does. */
#include "mock_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *status_name(unsigned status)
{
    switch (status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 405: return "NOT_FOUND";
    case 409: return "ABORTED";
    case 413: return "INVALID_ARGUMENT";
    case 429: return "RESOURCE_EXHAUSTED";
    case 499: return "CANCELLED";
    case 500: return "INTERNAL";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    case 529: return "UNAVAILABLE";
    default: return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

static void gemini_error(struct mocksrv__buf *b, unsigned status, const char *type,
                         const char *message, int64_t retry_ms, const char **hdr_name,
                         char *hdr_value, size_t hdr_cap)
{
    (void)hdr_value;
    (void)hdr_cap;
    *hdr_name = NULL;
    mocksrv__buf_printf(b, "{\"error\":{\"code\":%u,\"message\":", status);
    mocksrv__buf_json_str(b, message, strlen(message));
    mocksrv__buf_printf(b, ",\"status\":\"%s\"", type != NULL ? type : status_name(status));
    if (retry_ms > 0) {
        /* protobuf Duration JSON: seconds with up to 9 decimals. */
        mocksrv__buf_printf(b,
                            ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
                            "\"retryDelay\":\"%lld.%03llds\"}]",
                            (long long)(retry_ms / 1000), (long long)(retry_ms % 1000));
    }
    mocksrv__buf_str(b, "}}");
}

/* contents[].parts[].text joined per turn; systemInstruction first. */
static bool add_turn(cJSON *msgs, const char *role, const cJSON *parts)
{
    if (!cJSON_IsArray(parts))
        return false;
    size_t n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, parts) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t))
            n += strlen(t->valuestring);
    }
    char *text = malloc(n + 1);
    if (text == NULL)
        return false;
    size_t o = 0;
    cJSON_ArrayForEach(p, parts) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t)) {
            size_t k = strlen(t->valuestring);
            memcpy(text + o, t->valuestring, k);
            o += k;
        }
    }
    text[o] = '\0';
    cJSON *m = cJSON_CreateObject();
    bool ok = m != NULL && cJSON_AddStringToObject(m, "role", role) != NULL &&
              cJSON_AddStringToObject(m, "content", text) != NULL;
    free(text);
    if (m != NULL)
        cJSON_AddItemToArray(msgs, m);
    return ok;
}

static cJSON *gemini_normalise(const cJSON *root, const char *path_model, int path_stream,
                               const char **err)
{
    *err = NULL;
    if (!cJSON_IsObject(root)) {
        *err = "Invalid JSON payload received. Expected an object.";
        return NULL;
    }
    const cJSON *contents = cJSON_GetObjectItemCaseSensitive(root, "contents");
    if (!cJSON_IsArray(contents) || cJSON_GetArraySize(contents) == 0) {
        *err = "* GenerateContentRequest.contents: contents is not specified";
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON *msgs = cJSON_CreateArray();
    if (out == NULL || msgs == NULL) {
        cJSON_Delete(out);
        cJSON_Delete(msgs);
        return NULL;
    }
    cJSON_AddItemToObject(out, "messages", msgs);
    bool ok = cJSON_AddStringToObject(out, "model", path_model ? path_model : "") != NULL;
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(root, "systemInstruction");
    if (ok && sys != NULL)
        ok = add_turn(msgs, "system", cJSON_GetObjectItemCaseSensitive(sys, "parts"));
    const cJSON *c;
    cJSON_ArrayForEach(c, contents) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
        const char *r = cJSON_IsString(role) && strcmp(role->valuestring, "model") == 0
                            ? "assistant"
                            : "user";
        if (ok && !add_turn(msgs, r, cJSON_GetObjectItemCaseSensitive(c, "parts"))) {
            *err = "* GenerateContentRequest.contents[].parts: parts must be an array";
            ok = false;
        }
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "generationConfig"), "maxOutputTokens");
    if (ok && mt != NULL)
        ok = cJSON_AddItemToObject(out, "max_tokens", cJSON_Duplicate(mt, true));
    if (ok)
        ok = cJSON_AddBoolToObject(out, "stream", path_stream == 1) != NULL;
    if (!ok) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static const char *finish(const struct mocksrv__reply *r)
{
    return r->cut ? "MAX_TOKENS" : "STOP";
}

static void usage(struct mocksrv__buf *b, const struct mocksrv__reply *r, bool whole)
{
    if (whole)
        mocksrv__buf_printf(b,
                            "\"usageMetadata\":{\"promptTokenCount\":%lld,"
                            "\"candidatesTokenCount\":%lld,\"totalTokenCount\":%lld}",
                            (long long)r->input_tokens, (long long)r->output_tokens,
                            (long long)(r->input_tokens + r->output_tokens));
    else
        mocksrv__buf_printf(b, "\"usageMetadata\":{\"promptTokenCount\":%lld,"
                               "\"totalTokenCount\":%lld}",
                            (long long)r->input_tokens, (long long)r->input_tokens);
}

static void response(struct mocksrv__buf *b, const struct mocksrv__reply *r, const char *text,
                     size_t n, bool last)
{
    mocksrv__buf_str(b, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":");
    mocksrv__buf_json_str(b, text, n);
    mocksrv__buf_str(b, "}],\"role\":\"model\"},");
    if (last)
        mocksrv__buf_printf(b, "\"finishReason\":\"%s\",", finish(r));
    mocksrv__buf_str(b, "\"index\":0}],");
    usage(b, r, last);
    mocksrv__buf_str(b, ",\"modelVersion\":");
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_printf(b, ",\"responseId\":\"mock-%llu\"}", (unsigned long long)r->id);
}

static void gemini_completion(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    response(b, r, r->text, r->text_len, true);
}

static void gemini_preamble(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    (void)b;
    (void)r;
}

static void gemini_delta(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t off,
                         size_t n, bool malformed)
{
    mocksrv__buf_str(b, "data: ");
    response(b, r, r->text + off, n, false);
    if (malformed) {
        b->len--; /* the final '}' */
        mocksrv__buf_str(b, ",<<mock malformed>>");
    }
    mocksrv__buf_str(b, "\r\n\r\n");
}

static void gemini_tail(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_str(b, "data: ");
    response(b, r, "", 0, true);
    mocksrv__buf_str(b, "\r\n\r\n");
}

const struct mocksrv__format mocksrv__gemini_format = {
    .api = MOCKSRV__API_GEMINI,
    .stream_content_type = "text/event-stream",
    .request_id_header = NULL,
    .retry_after_headers = false,
    .normalise = gemini_normalise,
    .error = gemini_error,
    .completion = gemini_completion,
    .preamble = gemini_preamble,
    .delta = gemini_delta,
    .tail = gemini_tail,
};
