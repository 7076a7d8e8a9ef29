/* Amazon Bedrock Runtime's Converse API on the mock (see mock_internal.h):
 *   plain  {"metrics":{"latencyMs"},"output":{"message":{"content":
 *           [{"text":T}],"role":"assistant"}},"stopReason":"end_turn"|
 *           "max_tokens","usage":{"inputTokens","outputTokens","totalTokens"}}
 *   stream application/vnd.amazon.eventstream: binary frames
 *          [total][headers len][prelude CRC][headers][payload][CRC] with
 *          string headers :event-type, :content-type application/json,
 *          :message-type event: messageStart, contentBlockDelta per delta,
 *          contentBlockStop, messageStop{stopReason}, metadata{usage,metrics}.
 *          The malformed_json fault corrupts the first delta's message CRC.
 *   errors {"message": M} with x-amzn-ErrorType: Name:http://internal.
 *          amazon.com/coral/com.amazon.bedrock/ (ThrottlingException 429,
 *          ValidationException 400, AccessDeniedException 403, ...); no
 *          Retry-After (the AWS SDK backs off on its own).
 *   A request id in x-amzn-RequestId. */
#include "mock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_for(unsigned status)
{
    switch (status) {
    case 400: return "ValidationException";
    case 403: return "AccessDeniedException";
    case 404: return "ResourceNotFoundException";
    case 405: return "UnknownOperationException";
    case 408: return "ModelTimeoutException";
    case 413: return "ValidationException";
    case 424: return "ModelErrorException";
    case 429: return "ThrottlingException";
    case 503: return "ServiceUnavailableException";
    case 529: return "ServiceUnavailableException";
    default: return status >= 500 ? "InternalServerException" : "ValidationException";
    }
}

static void bedrock_error(struct mocksrv__buf *b, unsigned status, const char *type,
                          const char *message, int64_t retry_ms, const char **hdr_name,
                          char *hdr_value, size_t hdr_cap)
{
    (void)retry_ms;
    *hdr_name = "x-amzn-ErrorType";
    snprintf(hdr_value, hdr_cap, "%s:http://internal.amazon.com/coral/com.amazon.bedrock/",
             type != NULL ? type : type_for(status));
    mocksrv__buf_str(b, "{\"message\":");
    mocksrv__buf_json_str(b, message, strlen(message));
    mocksrv__buf_str(b, "}");
}

/* content[].text of a message joined. */
static char *join_text(const cJSON *content)
{
    size_t n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (cJSON_IsString(t))
            n += strlen(t->valuestring);
    }
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    size_t o = 0;
    cJSON_ArrayForEach(c, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (cJSON_IsString(t)) {
            memcpy(s + o, t->valuestring, strlen(t->valuestring));
            o += strlen(t->valuestring);
        }
    }
    s[o] = '\0';
    return s;
}

static bool add_msg(cJSON *msgs, const char *role, const cJSON *content)
{
    char *text = join_text(content);
    cJSON *m = cJSON_CreateObject();
    bool ok = text != NULL && m != NULL && cJSON_AddStringToObject(m, "role", role) != NULL &&
              cJSON_AddStringToObject(m, "content", text) != NULL;
    free(text);
    if (m != NULL)
        cJSON_AddItemToArray(msgs, m);
    return ok;
}

static cJSON *bedrock_normalise(const cJSON *root, const char *path_model, int path_stream,
                                const char **err)
{
    *err = NULL;
    if (!cJSON_IsObject(root)) {
        *err = "Malformed input request, please reformat your input and try again.";
        return NULL;
    }
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        *err = "A conversation must start with a user message. Try again with a conversation "
               "that starts with a user message.";
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
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(root, "system");
    if (ok && cJSON_IsArray(sys))
        ok = add_msg(msgs, "system", sys);
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || !cJSON_IsArray(content)) {
            *err = "1 validation error detected: messages must have a role and a content list";
            ok = false;
            break;
        }
        if (ok)
            ok = add_msg(msgs, role->valuestring, content);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "inferenceConfig"), "maxTokens");
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

static const char *stop_reason(const struct mocksrv__reply *r)
{
    return r->cut ? "max_tokens" : "end_turn";
}

static void usage(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_printf(b, "\"usage\":{\"inputTokens\":%lld,\"outputTokens\":%lld,"
                           "\"totalTokens\":%lld}",
                        (long long)r->input_tokens, (long long)r->output_tokens,
                        (long long)(r->input_tokens + r->output_tokens));
}

static void bedrock_completion(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_str(b, "{\"metrics\":{\"latencyMs\":1},\"output\":{\"message\":{\"content\":"
                        "[{\"text\":");
    mocksrv__buf_json_str(b, r->text, r->text_len);
    mocksrv__buf_printf(b, "}],\"role\":\"assistant\"}},\"stopReason\":\"%s\",", stop_reason(r));
    usage(b, r);
    mocksrv__buf_str(b, "}");
}

/* ---- event-stream frames ----------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put_header(struct mocksrv__buf *h, const char *name, const char *value)
{
    unsigned char nl = (unsigned char)strlen(name);
    size_t vl = strlen(value);
    unsigned char v[3] = {7, (unsigned char)(vl >> 8), (unsigned char)vl};
    mocksrv__buf_add(h, &nl, 1);
    mocksrv__buf_add(h, name, nl);
    mocksrv__buf_add(h, v, 3);
    mocksrv__buf_add(h, value, vl);
}

/* One event message whose payload is json[0..n). */
static void frame(struct mocksrv__buf *b, const char *event, const char *json, size_t n)
{
    struct mocksrv__buf h = {0};
    put_header(&h, ":event-type", event);
    put_header(&h, ":content-type", "application/json");
    put_header(&h, ":message-type", "event");
    if (h.failed) {
        b->failed = true;
        mocksrv__buf_free(&h);
        return;
    }
    size_t total = 12 + h.len + n + 4;
    unsigned char pre[12];
    put32(pre, (uint32_t)total);
    put32(pre + 4, (uint32_t)h.len);
    put32(pre + 8, mocksrv__crc32(pre, 8));
    size_t start = b->len;
    mocksrv__buf_add(b, pre, 12);
    mocksrv__buf_add(b, h.data, h.len);
    mocksrv__buf_add(b, json, n);
    mocksrv__buf_free(&h);
    if (b->failed)
        return;
    unsigned char crc[4];
    put32(crc, mocksrv__crc32(b->data + start, total - 4));
    mocksrv__buf_add(b, crc, 4);
}

/* Frame the JSON built in `j`. */
static void frame_json(struct mocksrv__buf *b, const char *event, struct mocksrv__buf *j)
{
    if (j->failed)
        b->failed = true;
    else
        frame(b, event, j->data, j->len);
    mocksrv__buf_free(j);
}

static void bedrock_preamble(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    (void)r;
    static const char start[] = "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ\","
                                "\"role\":\"assistant\"}";
    frame(b, "messageStart", start, sizeof(start) - 1);
}

static void bedrock_delta(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t off,
                          size_t n, bool malformed)
{
    struct mocksrv__buf j = {0};
    mocksrv__buf_str(&j, "{\"contentBlockIndex\":0,\"delta\":{\"text\":");
    mocksrv__buf_json_str(&j, r->text + off, n);
    mocksrv__buf_str(&j, "},\"p\":\"abcd\"}");
    size_t start = b->len;
    frame_json(b, "contentBlockDelta", &j);
    /* malformed_json on a binary stream: the frame's message CRC is wrong
     * (the corruption a proxy or a broken connection would cause). */
    if (malformed && !b->failed && b->len > start)
        b->data[b->len - 1] ^= 0x5a;
}

static void bedrock_tail(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    static const char stop[] = "{\"contentBlockIndex\":0,\"p\":\"abcdefghij\"}";
    frame(b, "contentBlockStop", stop, sizeof(stop) - 1);
    struct mocksrv__buf j = {0};
    mocksrv__buf_printf(&j, "{\"p\":\"abc\",\"stopReason\":\"%s\"}", stop_reason(r));
    frame_json(b, "messageStop", &j);
    mocksrv__buf_str(&j, "{\"metrics\":{\"latencyMs\":1},\"p\":\"abcdefgh\",");
    usage(&j, r);
    mocksrv__buf_str(&j, "}");
    frame_json(b, "metadata", &j);
}

const struct mocksrv__format mocksrv__bedrock_format = {
    .api = MOCKSRV__API_BEDROCK,
    .stream_content_type = "application/vnd.amazon.eventstream",
    .request_id_header = "x-amzn-RequestId",
    .retry_after_headers = false,
    .normalise = bedrock_normalise,
    .error = bedrock_error,
    .completion = bedrock_completion,
    .preamble = bedrock_preamble,
    .delta = bedrock_delta,
    .tail = bedrock_tail,
};
