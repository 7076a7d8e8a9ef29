/* struct llm_result: construction helpers, freeing, and the JSON form. */
#include "core/result_internal.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static const char *const timestamp_names[] = {
    [LLM_TS_REQUESTED] = "requested",
    [LLM_TS_ENQUEUED] = "enqueued",
    [LLM_TS_DEQUEUED] = "dequeued",
    [LLM_TS_GATES_ENTERED] = "gates_entered",
    [LLM_TS_GATES_PASSED] = "gates_passed",
    [LLM_TS_SLOT_ACQUIRED] = "slot_acquired",
    [LLM_TS_SLOT_RELEASED] = "slot_released",
    [LLM_TS_FIRST_ATTEMPT_STARTED] = "first_attempt_started",
    [LLM_TS_LAST_ATTEMPT_STARTED] = "last_attempt_started",
    [LLM_TS_DNS_DONE] = "dns_done",
    [LLM_TS_CONNECTED] = "connected",
    [LLM_TS_TLS_DONE] = "tls_done",
    [LLM_TS_REQUEST_SENT] = "request_sent",
    [LLM_TS_FIRST_BYTE] = "first_byte",
    [LLM_TS_FIRST_TOKEN] = "first_token",
    [LLM_TS_LAST_TOKEN] = "last_token",
    [LLM_TS_RESPONSE_RECEIVED] = "response_received",
    [LLM_TS_PARSED] = "parsed",
    [LLM_TS_POSTPROCESS_STARTED] = "postprocess_started",
    [LLM_TS_POSTPROCESS_ENDED] = "postprocess_ended",
    [LLM_TS_COMPLETED] = "completed",
};

_Static_assert(sizeof(timestamp_names) / sizeof(timestamp_names[0]) == LLM_TS_COUNT_,
               "timestamp_names must have one entry per enum llm_timestamp value");

const char *llm_timestamp_name(enum llm_timestamp ts)
{
    if ((unsigned)ts >= LLM_TS_COUNT_)
        return NULL;
    return timestamp_names[ts];
}

/* ---- construction ------------------------------------------------------------ */

struct llm_result *llm__result_new(void)
{
    struct llm_result *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->content = strdup("");
    if (r->content == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

/* Grow `*arr` (of `n` elements of `size` bytes) by one element. */
static void *grow_by_one(void *arr, size_t n, size_t size)
{
    if (n >= SIZE_MAX / size - 1)
        return NULL;
    return realloc(arr, (n + 1) * size);
}

enum llm_error llm__result_add_attempt(struct llm_result *r, const struct llm_attempt *a)
{
    if (r == NULL || a == NULL) {
        if (a != NULL)
            free(a->error_message);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    struct llm_attempt *arr = grow_by_one(r->attempts, r->n_attempts, sizeof(*arr));
    if (arr == NULL) {
        free(a->error_message);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    arr[r->n_attempts] = *a;
    r->attempts = arr;
    r->n_attempts++;
    return LLM_OK;
}

enum llm_error llm__result_add_step(struct llm_result *r, const struct llm_step_result *s)
{
    if (r == NULL || s == NULL) {
        if (s != NULL) {
            free(s->name);
            free(s->error);
        }
        return LLM_ERR_INVALID_ARGUMENT;
    }
    struct llm_step_result *arr = grow_by_one(r->pipeline, r->n_pipeline, sizeof(*arr));
    if (arr == NULL) {
        free(s->name);
        free(s->error);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    arr[r->n_pipeline] = *s;
    r->pipeline = arr;
    r->n_pipeline++;
    return LLM_OK;
}

/* ---- freeing ------------------------------------------------------------------- */

void llm_result_free(struct llm_result *res)
{
    if (res == NULL)
        return;
    free(res->content);
    free(res->finish_reason);
    free(res->error.message);
    free(res->error.provider_code);
    free(res->request_id);
    free(res->response_id);
    free(res->provider);
    free(res->model);
    for (size_t i = 0; i < res->n_attempts; i++)
        free(res->attempts[i].error_message);
    free(res->attempts);
    for (size_t i = 0; i < res->n_pipeline; i++) {
        free(res->pipeline[i].name);
        free(res->pipeline[i].error);
    }
    free(res->pipeline);
    free(res->raw_response);
    free(res->metadata_json);
    free(res);
}

void llm_free(void *p)
{
    free(p);
}

/* ---- JSON -------------------------------------------------------------------------- */

/* Builds the document and remembers whether any allocation failed, so the
 * serialiser reads straight through instead of checking every call. */
struct json {
    bool oom;
};

/* Keys are string literals or entries of static tables, so cJSON may keep
 * the pointer (the CS variant) instead of copying every key. */
static cJSON *add(struct json *j, cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL || obj == NULL || !cJSON_AddItemToObjectCS(obj, key, item)) {
        cJSON_Delete(item);
        j->oom = true;
        return NULL;
    }
    return item;
}

static void push(struct json *j, cJSON *arr, cJSON *item)
{
    if (item == NULL || arr == NULL || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        j->oom = true;
    }
}

static cJSON *str_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *num(double v)
{
    return cJSON_CreateNumber(v);
}

static cJSON *time_or_null(int64_t wall_us)
{
    if (wall_us == 0)
        return cJSON_CreateNull();
    char iso[32];
    llm__format_iso8601_us(wall_us, iso);
    return cJSON_CreateString(iso);
}

static cJSON *error_name_or_null(enum llm_error e)
{
    return e == LLM_OK ? cJSON_CreateNull() : cJSON_CreateString(llm_error_name(e));
}

static void add_error(struct json *j, cJSON *root, const struct llm_result_error *e)
{
    cJSON *o = add(j, root, "error", cJSON_CreateObject());
    add(j, o, "type", error_name_or_null(e->type));
    add(j, o, "message", str_or_null(e->message));
    add(j, o, "http_status", num(e->http_status));
    add(j, o, "retryable", cJSON_CreateBool(e->retryable));
    add(j, o, "provider_code", str_or_null(e->provider_code));
}

static void add_timestamps(struct json *j, cJSON *root, const int64_t *ts)
{
    cJSON *o = add(j, root, "timestamps", cJSON_CreateObject());
    for (int i = 0; i < LLM_TS_COUNT_; i++)
        add(j, o, timestamp_names[i], time_or_null(ts[i]));
}

static void add_attempts(struct json *j, cJSON *root, const struct llm_result *res)
{
    cJSON *arr = add(j, root, "attempts", cJSON_CreateArray());
    for (size_t i = 0; i < res->n_attempts && arr != NULL; i++) {
        const struct llm_attempt *a = &res->attempts[i];
        cJSON *o = cJSON_CreateObject();
        add(j, o, "start", time_or_null(a->start_us));
        add(j, o, "end", time_or_null(a->end_us));
        add(j, o, "http_status", num(a->http_status));
        add(j, o, "error", error_name_or_null(a->error));
        add(j, o, "error_message", str_or_null(a->error_message));
        add(j, o, "retry_after_ms",
            a->retry_after_ms < 0 ? cJSON_CreateNull() : num((double)a->retry_after_ms));
        add(j, o, "backoff_ms", num((double)a->backoff_ms));
        add(j, o, "bytes_sent", num((double)a->bytes_sent));
        add(j, o, "bytes_received", num((double)a->bytes_received));
        push(j, arr, o);
    }
}

static void add_usage(struct json *j, cJSON *root, const struct llm_usage *u)
{
    cJSON *o = add(j, root, "usage", cJSON_CreateObject());
    add(j, o, "input_tokens", num((double)u->input_tokens));
    add(j, o, "output_tokens", num((double)u->output_tokens));
    add(j, o, "cached_input_tokens", num((double)u->cached_input_tokens));
    add(j, o, "reasoning_tokens", num((double)u->reasoning_tokens));
    add(j, o, "cache_write_tokens", num((double)u->cache_write_tokens));
    add(j, o, "known", cJSON_CreateBool(u->known));
}

static void add_cost(struct json *j, cJSON *root, const struct llm_cost *c)
{
    cJSON *o = add(j, root, "cost", cJSON_CreateObject());
    add(j, o, "input_usd", num(c->input_usd));
    add(j, o, "output_usd", num(c->output_usd));
    add(j, o, "total_usd", num(c->total_usd));
    add(j, o, "known", cJSON_CreateBool(c->known));
}

static void add_backoff(struct json *j, cJSON *root, const struct llm_wait_stats *w)
{
    cJSON *o = add(j, root, "backoff", cJSON_CreateObject());
    add(j, o, "queue_wait_ms", num((double)w->queue_wait_ms));
    add(j, o, "gate_wait_ms", num((double)w->gate_wait_ms));
    add(j, o, "server_wait_ms", num((double)w->server_wait_ms));
    add(j, o, "backoff_ms", num((double)w->backoff_ms));
}

static void add_pipeline(struct json *j, cJSON *root, const struct llm_result *res)
{
    cJSON *arr = add(j, root, "pipeline", cJSON_CreateArray());
    for (size_t i = 0; i < res->n_pipeline && arr != NULL; i++) {
        const struct llm_step_result *s = &res->pipeline[i];
        cJSON *o = cJSON_CreateObject();
        add(j, o, "name", str_or_null(s->name));
        add(j, o, "success", cJSON_CreateBool(s->success));
        add(j, o, "error", str_or_null(s->error));
        add(j, o, "duration_us", num((double)s->duration_us));
        add(j, o, "bytes_in", num((double)s->bytes_in));
        add(j, o, "bytes_out", num((double)s->bytes_out));
        push(j, arr, o);
    }
}

/* The host's metadata is embedded as JSON when it is JSON; otherwise it is
 * kept, as a string, rather than dropped or allowed to corrupt the line. */
static cJSON *metadata_value(const char *metadata_json)
{
    if (metadata_json == NULL)
        return cJSON_CreateNull();
    cJSON *v = cJSON_ParseWithOpts(metadata_json, NULL, 1);
    return v != NULL ? v : cJSON_CreateString(metadata_json);
}

/* trace_id is an inline array: empty means the result never got one.  It is
 * copied so that an unterminated array cannot be read past its end. */
static cJSON *trace_id_value(const char trace_id[37])
{
    if (trace_id[0] == '\0')
        return cJSON_CreateNull();
    char id[37];
    memcpy(id, trace_id, sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    return cJSON_CreateString(id);
}

char *llm_result_to_json(const struct llm_result *res)
{
    if (res == NULL)
        return NULL;
    struct json j = {0};
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return NULL;

    add(&j, root, "success", cJSON_CreateBool(res->success));
    add(&j, root, "content", str_or_null(res->content));
    add(&j, root, "finish_reason", str_or_null(res->finish_reason));
    add_error(&j, root, &res->error);
    add(&j, root, "trace_id", trace_id_value(res->trace_id));
    add(&j, root, "request_id", str_or_null(res->request_id));
    add(&j, root, "response_id", str_or_null(res->response_id));
    add(&j, root, "provider", str_or_null(res->provider));
    add(&j, root, "model", str_or_null(res->model));
    add_timestamps(&j, root, res->timestamps);
    add_attempts(&j, root, res);
    add_usage(&j, root, &res->usage);
    add_cost(&j, root, &res->cost);
    add_backoff(&j, root, &res->backoff);
    add_pipeline(&j, root, res);
    add(&j, root, "metadata", metadata_value(res->metadata_json));

    char *printed = j.oom ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (printed == NULL)
        return NULL;
    /* Hand back memory from our own malloc so that llm_free() stays plain
     * free() even if the host installed cJSON allocation hooks. */
    char *out = strdup(printed);
    cJSON_free(printed);
    return out;
}
