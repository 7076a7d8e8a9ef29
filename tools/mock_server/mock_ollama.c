/* Ollama's native chat API on the mock (see mock_internal.h):
 *   plain  {"model","created_at","message":{"role":"assistant","content":T},
 *           "done_reason":"stop"|"length","done":true,"total_duration",
 *           "load_duration","prompt_eval_count":I,"prompt_eval_duration",
 *           "eval_count":O,"eval_duration"}
 *   stream NDJSON (application/x-ndjson): one such object per delta with
 *          "done":false and only the new text, then the done:true line.
 *          "stream" absent means true (Ollama's default).
 *   errors {"error": M}. */
#include "mock_internal.h"

#include <string.h>
#include <time.h>

static void ollama_error(struct mocksrv__buf *b, unsigned status, const char *type,
                         const char *message, int64_t retry_ms, const char **hdr_name,
                         char *hdr_value, size_t hdr_cap)
{
    (void)status;
    (void)type;
    (void)retry_ms;
    (void)hdr_value;
    (void)hdr_cap;
    *hdr_name = NULL;
    mocksrv__buf_str(b, "{\"error\":");
    mocksrv__buf_json_str(b, message, strlen(message));
    mocksrv__buf_str(b, "}");
}

static cJSON *ollama_normalise(const cJSON *root, const char *path_model, int path_stream,
                               const char **err)
{
    (void)path_model;
    (void)path_stream;
    *err = NULL;
    if (!cJSON_IsObject(root)) {
        *err = "invalid request body";
        return NULL;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(model) || model->valuestring[0] == '\0') {
        *err = "model is required";
        return NULL;
    }
    cJSON *out = cJSON_Duplicate(root, true);
    if (out == NULL)
        return NULL;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "stream");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "max_tokens");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "max_completion_tokens");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "stream_options");
    bool ok = cJSON_AddBoolToObject(out, "stream", stream == NULL || cJSON_IsTrue(stream)) != NULL;
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "options"), "num_predict");
    if (ok && np != NULL)
        ok = cJSON_AddItemToObject(out, "max_tokens", cJSON_Duplicate(np, true));
    if (!ok) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static void head(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    char when[64];
    time_t t = (time_t)r->created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000000000Z", &tm);
    mocksrv__buf_str(b, "{\"model\":");
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_printf(b, ",\"created_at\":\"%s\",\"message\":{\"role\":\"assistant\","
                           "\"content\":",
                        when);
}

static void done_fields(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_printf(b,
                        "},\"done_reason\":\"%s\",\"done\":true,\"total_duration\":%lld,"
                        "\"load_duration\":1000000,\"prompt_eval_count\":%lld,"
                        "\"prompt_eval_duration\":%lld,\"eval_count\":%lld,"
                        "\"eval_duration\":%lld}",
                        r->cut ? "length" : "stop",
                        (long long)(r->input_tokens + r->output_tokens) * 1000000 + 1000000,
                        (long long)r->input_tokens, (long long)r->input_tokens * 1000000,
                        (long long)r->output_tokens, (long long)r->output_tokens * 1000000);
}

static void ollama_completion(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    head(b, r);
    mocksrv__buf_json_str(b, r->text, r->text_len);
    done_fields(b, r);
}

static void ollama_preamble(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    (void)b;
    (void)r;
}

static void ollama_delta(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t off,
                         size_t n, bool malformed)
{
    head(b, r);
    mocksrv__buf_json_str(b, r->text + off, n);
    mocksrv__buf_str(b, malformed ? "},<<mock malformed>>\n" : "},\"done\":false}\n");
}

static void ollama_tail(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    head(b, r);
    mocksrv__buf_str(b, "\"\"");
    done_fields(b, r);
    mocksrv__buf_str(b, "\n");
}

const struct mocksrv__format mocksrv__ollama_format = {
    .api = MOCKSRV__API_OLLAMA,
    .stream_content_type = "application/x-ndjson",
    .request_id_header = NULL,
    .retry_after_headers = false,
    .normalise = ollama_normalise,
    .error = ollama_error,
    .completion = ollama_completion,
    .preamble = ollama_preamble,
    .delta = ollama_delta,
    .tail = ollama_tail,
};
