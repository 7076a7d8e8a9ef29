/* struct llm_result: construction helpers, freeing, and the JSON form. */
#include "core/result_internal.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "base/jsonw.h"

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

const char *llm_admission_name(enum llm_admission a)
{
    switch (a) {
    case LLM_ADMISSION_LOCAL: return "local";
    case LLM_ADMISSION_SHARED: return "shared";
    case LLM_ADMISSION_LOCAL_FALLBACK: return "local_fallback";
    default: return NULL;
    }
}

const char *llm_timestamp_name(enum llm_timestamp ts)
{
    if ((unsigned)ts >= LLM_TS_COUNT_)
        return NULL;
    return timestamp_names[ts];
}

/* ---- construction ------------------------------------------------------------ */

/* Every result the library makes is a box: the public struct first (a box
 * pointer IS the result pointer), then room for the first attempt and an
 * arena of strings that live and die with the result.  A request's result
 * used to take six allocations before its reply (the struct, "", the
 * provider and model names, the attempts array, the request id), each
 * freed one by one by llm_result_free; packed, it takes one.  Strings in
 * the arena are never freed on their own: llm_result_free and
 * llm__result_free_str tell them apart by address. */
struct result_box {
    struct llm_result pub;
    struct llm_attempt attempt0;  /* attempts[] until a second attempt */
    size_t arena_len;             /* bytes of arena[] */
    size_t arena_used;
    char arena[];
};

static struct result_box *box_of(const struct llm_result *r)
{
    return (struct result_box *)(uintptr_t)r;
}

static bool in_arena(const struct llm_result *r, const void *p)
{
    const struct result_box *b = box_of(r);
    uintptr_t a = (uintptr_t)b->arena, q = (uintptr_t)p;
    return q >= a && q - a < b->arena_len;
}

void llm__result_free_str(const struct llm_result *r, char *s)
{
    if (s != NULL && !in_arena(r, s))
        free(s);
}

struct llm_result *llm__result_new(void)
{
    struct result_box *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    /* Malloc'd, not in an arena: callers of this constructor (tests, the
     * pipeline's users) may free and replace it. */
    b->pub.content = strdup("");
    if (b->pub.content == NULL) {
        free(b);
        return NULL;
    }
    return &b->pub;
}

/* Bytes for a copy of `s` with its NUL (0 for NULL); false on overflow. */
static bool add_len(size_t *total, const char *s)
{
    size_t n = s != NULL ? strlen(s) + 1 : 0;
    if (n > SIZE_MAX - *total)
        return false;
    *total += n;
    return true;
}

/* A copy of `len` bytes of `s` (plus a NUL) carved from the arena; NULL
 * when it does not fit. */
static char *arena_put(struct result_box *b, const char *s, size_t len)
{
    if (len >= b->arena_len - b->arena_used)
        return NULL;
    char *dst = b->arena + b->arena_used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    b->arena_used += len + 1;
    return dst;
}

struct llm_result *llm__result_new_packed(const char *provider, const char *model,
                                          const char *metadata_json, size_t spare)
{
    size_t total = 1; /* content "" */
    if (!add_len(&total, provider) || !add_len(&total, model) ||
        !add_len(&total, metadata_json) || spare > SIZE_MAX - total ||
        total + spare > SIZE_MAX - sizeof(struct result_box))
        return NULL;
    total += spare;
    struct result_box *b = malloc(sizeof(*b) + total);
    if (b == NULL)
        return NULL;
    /* attempt0 is written whole when it is used. */
    llm__zero(&b->pub, sizeof(b->pub));
    b->arena_used = 0;
    b->arena_len = total;
    b->pub.content = arena_put(b, "", 0);
    if (provider != NULL)
        b->pub.provider = arena_put(b, provider, strlen(provider));
    if (model != NULL)
        b->pub.model = arena_put(b, model, strlen(model));
    if (metadata_json != NULL)
        b->pub.metadata_json = arena_put(b, metadata_json, strlen(metadata_json));
    return &b->pub;
}

char *llm__result_keep(struct llm_result *r, const char *s, size_t len)
{
    char *dst = arena_put(box_of(r), s, len);
    return dst != NULL ? dst : llm__strndup(s, len);
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
    struct result_box *b = box_of(r);
    struct llm_attempt *arr;
    if (r->n_attempts == 0) {
        /* Most requests take one attempt: it lives in the box. */
        arr = &b->attempt0;
    } else if (r->attempts == &b->attempt0) {
        arr = r->n_attempts < SIZE_MAX / sizeof(*arr) - 1
                  ? malloc((r->n_attempts + 1) * sizeof(*arr)) : NULL;
        if (arr != NULL)
            memcpy(arr, r->attempts, r->n_attempts * sizeof(*arr));
    } else {
        arr = grow_by_one(r->attempts, r->n_attempts, sizeof(*arr));
    }
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

enum llm_error llm__result_take_tools(struct llm_result *r, struct llm_parsed *p)
{
    if (p->n_tool_calls > 0) {
        struct llm_tool_call *calls = calloc(p->n_tool_calls, sizeof(*calls));
        if (calls == NULL)
            return LLM_ERR_OUT_OF_MEMORY;
        /* A call without arguments (Anthropic sends no input_json_delta
         * for an empty input) gets "{}", so that arguments always parse. */
        for (size_t i = 0; i < p->n_tool_calls; i++) {
            struct llm_parsed_tool_call *c = &p->tool_calls[i];
            if (c->arguments == NULL || c->arguments_len == 0) {
                free(c->arguments);
                c->arguments = strdup("{}");
                c->arguments_len = c->arguments != NULL ? 2 : 0;
            }
            if (c->id == NULL)
                c->id = strdup("");
            if (c->name == NULL)
                c->name = strdup("");
            if (c->arguments == NULL || c->id == NULL || c->name == NULL) {
                free(calls);
                return LLM_ERR_OUT_OF_MEMORY;
            }
        }
        for (size_t i = 0; i < p->n_tool_calls; i++) {
            struct llm_parsed_tool_call *c = &p->tool_calls[i];
            calls[i] = (struct llm_tool_call){.id = c->id, .name = c->name,
                                              .arguments = c->arguments};
            c->id = c->name = c->arguments = NULL;
            c->arguments_len = c->arguments_cap = 0;
        }
        r->tool_calls = calls;
        r->n_tool_calls = p->n_tool_calls;
    }
    if (p->refusal != NULL) {
        r->refusal = p->refusal;
        p->refusal = NULL;
        p->refusal_len = 0;
    }
    return LLM_OK;
}

/* ---- freeing ------------------------------------------------------------------- */

void llm_result_free(struct llm_result *res)
{
    if (res == NULL)
        return;
    llm__result_free_str(res, res->content);
    llm__result_free_str(res, res->finish_reason);
    llm__result_free_str(res, res->error.message);
    llm__result_free_str(res, res->error.provider_code);
    llm__result_free_str(res, res->request_id);
    llm__result_free_str(res, res->response_id);
    llm__result_free_str(res, res->provider);
    llm__result_free_str(res, res->model);
    for (size_t i = 0; i < res->n_attempts; i++)
        free(res->attempts[i].error_message);
    if (res->attempts != &box_of(res)->attempt0)
        free(res->attempts);
    for (size_t i = 0; i < res->n_pipeline; i++) {
        free(res->pipeline[i].name);
        free(res->pipeline[i].error);
    }
    free(res->pipeline);
    free(res->raw_response);
    llm__result_free_str(res, res->metadata_json);
    for (size_t i = 0; i < res->n_tool_calls; i++) {
        free((char *)res->tool_calls[i].id);
        free((char *)res->tool_calls[i].name);
        free((char *)res->tool_calls[i].arguments);
    }
    free(res->tool_calls);
    free(res->refusal);
    free(box_of(res));
}

void llm_free(void *p)
{
    free(p);
}

/* ---- JSON -------------------------------------------------------------------------- */

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
    return llm__jw_str_or_null(iso);
}

static cJSON *error_name_or_null(enum llm_error e)
{
    return e == LLM_OK ? cJSON_CreateNull() : llm__jw_str_or_null(llm_error_name(e));
}

static void add_error(struct llm__jw *j, cJSON *root, const struct llm_result_error *e)
{
    cJSON *o = llm__jw_add(j, root, "error", cJSON_CreateObject());
    llm__jw_add(j, o, "type", error_name_or_null(e->type));
    llm__jw_add(j, o, "message", llm__jw_str_or_null(e->message));
    llm__jw_add(j, o, "http_status", num(e->http_status));
    llm__jw_add(j, o, "retryable", cJSON_CreateBool(e->retryable));
    llm__jw_add(j, o, "provider_code", llm__jw_str_or_null(e->provider_code));
}

static void add_timestamps(struct llm__jw *j, cJSON *root, const int64_t *ts)
{
    cJSON *o = llm__jw_add(j, root, "timestamps", cJSON_CreateObject());
    for (int i = 0; i < LLM_TS_COUNT_; i++)
        llm__jw_add(j, o, timestamp_names[i], time_or_null(ts[i]));
}

static void add_attempts(struct llm__jw *j, cJSON *root, const struct llm_result *res)
{
    cJSON *arr = llm__jw_add(j, root, "attempts", cJSON_CreateArray());
    for (size_t i = 0; i < res->n_attempts && arr != NULL; i++) {
        const struct llm_attempt *a = &res->attempts[i];
        cJSON *o = cJSON_CreateObject();
        llm__jw_add(j, o, "start", time_or_null(a->start_us));
        llm__jw_add(j, o, "end", time_or_null(a->end_us));
        llm__jw_add(j, o, "http_status", num(a->http_status));
        llm__jw_add(j, o, "error", error_name_or_null(a->error));
        llm__jw_add(j, o, "error_message", llm__jw_str_or_null(a->error_message));
        llm__jw_add(j, o, "retry_after_ms",
            a->retry_after_ms < 0 ? cJSON_CreateNull() : num((double)a->retry_after_ms));
        llm__jw_add(j, o, "backoff_ms", num((double)a->backoff_ms));
        llm__jw_add(j, o, "bytes_sent", num((double)a->bytes_sent));
        llm__jw_add(j, o, "bytes_received", num((double)a->bytes_received));
        llm__jw_push(j, arr, o);
    }
}

static void add_usage(struct llm__jw *j, cJSON *root, const struct llm_usage *u)
{
    cJSON *o = llm__jw_add(j, root, "usage", cJSON_CreateObject());
    llm__jw_add(j, o, "input_tokens", num((double)u->input_tokens));
    llm__jw_add(j, o, "output_tokens", num((double)u->output_tokens));
    llm__jw_add(j, o, "cached_input_tokens", num((double)u->cached_input_tokens));
    llm__jw_add(j, o, "reasoning_tokens", num((double)u->reasoning_tokens));
    llm__jw_add(j, o, "cache_write_tokens", num((double)u->cache_write_tokens));
    llm__jw_add(j, o, "known", cJSON_CreateBool(u->known));
}

static void add_cost(struct llm__jw *j, cJSON *root, const struct llm_cost *c)
{
    cJSON *o = llm__jw_add(j, root, "cost", cJSON_CreateObject());
    llm__jw_add(j, o, "input_usd", num(c->input_usd));
    llm__jw_add(j, o, "output_usd", num(c->output_usd));
    llm__jw_add(j, o, "total_usd", num(c->total_usd));
    llm__jw_add(j, o, "known", cJSON_CreateBool(c->known));
    if (c->local)
        llm__jw_add(j, o, "local", cJSON_CreateBool(true));
}

static void add_server_timing(struct llm__jw *j, cJSON *root, const struct llm_server_timing *t)
{
    cJSON *o = llm__jw_add(j, root, "server_timing", cJSON_CreateObject());
    llm__jw_add(j, o, "total_us", num((double)t->total_us));
    llm__jw_add(j, o, "load_us", num((double)t->load_us));
    llm__jw_add(j, o, "prompt_eval_us", num((double)t->prompt_eval_us));
    llm__jw_add(j, o, "eval_us", num((double)t->eval_us));
}

static void add_backoff(struct llm__jw *j, cJSON *root, const struct llm_wait_stats *w)
{
    cJSON *o = llm__jw_add(j, root, "backoff", cJSON_CreateObject());
    llm__jw_add(j, o, "queue_wait_ms", num((double)w->queue_wait_ms));
    llm__jw_add(j, o, "gate_wait_ms", num((double)w->gate_wait_ms));
    llm__jw_add(j, o, "server_wait_ms", num((double)w->server_wait_ms));
    llm__jw_add(j, o, "backoff_ms", num((double)w->backoff_ms));
}

static void add_pipeline(struct llm__jw *j, cJSON *root, const struct llm_result *res)
{
    cJSON *arr = llm__jw_add(j, root, "pipeline", cJSON_CreateArray());
    for (size_t i = 0; i < res->n_pipeline && arr != NULL; i++) {
        const struct llm_step_result *s = &res->pipeline[i];
        cJSON *o = cJSON_CreateObject();
        llm__jw_add(j, o, "name", llm__jw_str_or_null(s->name));
        llm__jw_add(j, o, "success", cJSON_CreateBool(s->success));
        llm__jw_add(j, o, "error", llm__jw_str_or_null(s->error));
        llm__jw_add(j, o, "duration_us", num((double)s->duration_us));
        llm__jw_add(j, o, "bytes_in", num((double)s->bytes_in));
        llm__jw_add(j, o, "bytes_out", num((double)s->bytes_out));
        llm__jw_push(j, arr, o);
    }
}

/* In OpenAI's message.tool_calls shape, so that batch output and event
 * lines read like the API's own replies. */
static void add_tool_calls(struct llm__jw *j, cJSON *root, const struct llm_result *res)
{
    cJSON *arr = llm__jw_add(j, root, "tool_calls", cJSON_CreateArray());
    for (size_t i = 0; i < res->n_tool_calls && arr != NULL; i++) {
        const struct llm_tool_call *c = &res->tool_calls[i];
        cJSON *o = cJSON_CreateObject();
        llm__jw_add(j, o, "id", llm__jw_str_or_null(c->id));
        llm__jw_add(j, o, "type", llm__jw_str_or_null("function"));
        cJSON *fn = llm__jw_add(j, o, "function", cJSON_CreateObject());
        llm__jw_add(j, fn, "name", llm__jw_str_or_null(c->name));
        llm__jw_add(j, fn, "arguments", llm__jw_str_or_null(c->arguments));
        llm__jw_push(j, arr, o);
    }
}

/* The host's metadata is embedded as JSON when it is JSON; otherwise it is
 * kept, as a string, rather than dropped or allowed to corrupt the line.
 * cJSON's parser copies bytes as they are, so JSON that is not valid UTF-8
 * goes the string's way, which repairs it. */
static cJSON *metadata_value(const char *metadata_json)
{
    if (metadata_json == NULL)
        return cJSON_CreateNull();
    cJSON *v = llm__utf8_valid(metadata_json, strlen(metadata_json))
                   ? cJSON_ParseWithOpts(metadata_json, NULL, 1)
                   : NULL;
    return v != NULL ? v : llm__jw_str_or_null(metadata_json);
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
    return llm__jw_str_or_null(id);
}

char *llm_result_to_json(const struct llm_result *res)
{
    if (res == NULL)
        return NULL;
    struct llm__jw j = {0};
    cJSON *root = cJSON_CreateObject();
    if (root == NULL)
        return NULL;

    llm__jw_add(&j, root, "success", cJSON_CreateBool(res->success));
    /* content_len, not strlen: a reply may contain NUL bytes. */
    llm__jw_add(&j, root, "content",
                res->content != NULL ? llm__jw_strn(res->content, res->content_len)
                                     : cJSON_CreateNull());
    llm__jw_add(&j, root, "finish_reason", llm__jw_str_or_null(res->finish_reason));
    add_error(&j, root, &res->error);
    llm__jw_add(&j, root, "trace_id", trace_id_value(res->trace_id));
    llm__jw_add(&j, root, "request_id", llm__jw_str_or_null(res->request_id));
    llm__jw_add(&j, root, "response_id", llm__jw_str_or_null(res->response_id));
    llm__jw_add(&j, root, "provider", llm__jw_str_or_null(res->provider));
    llm__jw_add(&j, root, "model", llm__jw_str_or_null(res->model));
    add_timestamps(&j, root, res->timestamps);
    add_attempts(&j, root, res);
    add_usage(&j, root, &res->usage);
    add_cost(&j, root, &res->cost);
    if (res->server_timing.known)
        add_server_timing(&j, root, &res->server_timing);
    add_backoff(&j, root, &res->backoff);
    add_pipeline(&j, root, res);
    llm__jw_add(&j, root, "metadata", metadata_value(res->metadata_json));
    llm__jw_add(&j, root, "admission", llm__jw_str_or_null(llm_admission_name(res->admission)));
    if (res->n_tool_calls > 0)
        add_tool_calls(&j, root, res);
    if (res->refusal != NULL)
        llm__jw_add(&j, root, "refusal", llm__jw_str_or_null(res->refusal));

    return llm__jw_finish(&j, root);
}
