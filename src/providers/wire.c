/* Helpers shared by the HTTP wire-format providers (see wire.h). */
#include "providers/wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "transport/headers.h"

/* ---- options ----------------------------------------------------------------- */

bool llm__option_value_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7F)
            return false;
    }
    return true;
}

bool llm__header_name_ok(const char *s)
{
    static const char tchar_punct[] = "!#$%&'*+-.^_`|~";
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  strchr(tchar_punct, c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

enum llm_error llm__endpoint_url(const char *base, const char *default_base, const char *path,
                                 char **out)
{
    *out = NULL;
    if (base == NULL)
        base = default_base;
    if (!llm__option_value_ok(base) || strchr(base, ' ') != NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n == 0)
        return LLM_ERR_INVALID_ARGUMENT;
    bool has_v1 = n >= 3 && memcmp(base + n - 3, "/v1", 3) == 0;
    if (path == NULL)
        *out = llm__strndup(base, n);
    else
        *out = llm__asprintf("%.*s%s/%s", (int)n, base, has_v1 ? "" : "/v1", path);
    return *out != NULL ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
}

enum llm_error llm__resolve_api_key(const char *key, const char *env, const char *default_env,
                                    char **out)
{
    *out = NULL;
    /* "" is an explicit "no key", as "" disables the trace header: a local
     * server must not receive the OpenAI key that happens to be in the
     * environment. */
    if (key == NULL)
        key = getenv(env != NULL && *env != '\0' ? env : default_env);
    if (key == NULL || *key == '\0')
        return LLM_OK;
    if (!llm__option_value_ok(key))
        return LLM_ERR_INVALID_ARGUMENT;
    *out = llm__strdup(key);
    return *out != NULL ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
}

/* ---- JSON ---------------------------------------------------------------------- */

static bool is_json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cJSON *llm__json_parse(const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return NULL;
    /* Not cJSON's require_null_terminated: it wants the NUL inside
     * buffer_length, and bodies arrive as (pointer, length). */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root == NULL)
        return NULL;
    size_t off = end != NULL && end >= s ? (size_t)(end - s) : len;
    while (off < len && is_json_ws(s[off]))
        off++;
    if (off != len) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

const char *llm__json_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *llm__json_object(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsObject(v) ? v : NULL;
}

bool llm__json_count(const cJSON *obj, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return false;
    /* Capped so that sums of a few counts (Anthropic's input total) cannot
     * overflow; no real count comes near it. */
    const double cap = (double)(INT64_MAX / 2);
    *out = v->valuedouble >= cap ? INT64_MAX / 2 : (int64_t)v->valuedouble;
    return true;
}

enum llm_error llm__parsed_update(char **slot, const char *s)
{
    if (s == NULL || (*slot != NULL && strcmp(*slot, s) == 0))
        return LLM_OK;
    return llm_parsed_set(slot, s);
}

/* ---- request bodies ------------------------------------------------------------ */

enum llm_error llm__extra_init(struct llm__extra *x, const char *extra_json)
{
    x->obj = NULL;
    if (extra_json == NULL)
        return LLM_OK;
    cJSON *obj = llm__json_parse(extra_json, strlen(extra_json));
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return LLM_ERR_INVALID_REQUEST;
    }
    x->obj = obj;
    return LLM_OK;
}

/* The last member named `key` (a repeated name's last value wins, as each
 * member replaced the one before it). */
static const cJSON *last_named(const cJSON *obj, const char *key)
{
    const cJSON *found = NULL;
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        if (c->string != NULL && strcmp(c->string, key) == 0)
            found = c;
    }
    return found;
}

/* Write v's value, printed by cJSON itself so that extra_json reads as it
 * always did (extra_json is rare: this is not the hot path). */
static void put_extra_value(struct llm__jo *w, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s == NULL) {
        llm__jo_set_oom(w);
        return;
    }
    llm__jo_raw(w, s, strlen(s));
    cJSON_free(s);
}

bool llm__extra_member(struct llm__extra *x, struct llm__jo *w, const char *key)
{
    llm__jo_key(w, key);
    const cJSON *v = x->obj != NULL ? last_named(x->obj, key) : NULL;
    if (v == NULL)
        return true;
    put_extra_value(w, v);
    /* Used up: drop every member of that name, so that what is left for
     * llm__extra_finish is only what the body does not have. */
    cJSON *c = x->obj->child;
    while (c != NULL) {
        cJSON *next = c->next;
        if (c->string != NULL && strcmp(c->string, key) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(x->obj, c));
        c = next;
    }
    return false;
}

void llm__extra_finish(struct llm__extra *x, struct llm__jo *w)
{
    if (x->obj == NULL)
        return;
    for (const cJSON *c = x->obj->child; c != NULL; c = c->next) {
        if (c->string == NULL)
            continue;
        /* A repeated name goes where it first appeared. */
        const cJSON *first = x->obj->child;
        while (first != c && (first->string == NULL || strcmp(first->string, c->string) != 0))
            first = first->next;
        if (first != c)
            continue;
        llm__jo_key(w, c->string);
        put_extra_value(w, last_named(x->obj, c->string));
    }
}

void llm__extra_clear(struct llm__extra *x)
{
    cJSON_Delete(x->obj);
    x->obj = NULL;
}

void llm__put_message(struct llm__jo *w, const char *role, const char *content)
{
    llm__jo_object_begin(w);
    llm__jo_key_lit(w, "role");
    llm__jo_string(w, role);
    llm__jo_key_lit(w, "content");
    llm__jo_string(w, content);
    llm__jo_object_end(w);
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* What a provider dereferences in a message: no NULL where it writes a
 * string.  (llm__request_validate checks the rest.) */
static bool message_shape_ok(const struct llm_message *m)
{
    if (m->role == NULL || (m->n_parts > 0 && m->parts == NULL) ||
        (m->n_tool_calls > 0 && m->tool_calls == NULL))
        return false;
    if (m->content == NULL && m->n_parts == 0 && m->n_tool_calls == 0)
        return false;
    for (size_t k = 0; k < m->n_parts; k++) {
        const struct llm_content_part *pt = &m->parts[k];
        if ((pt->type == LLM_PART_TEXT && pt->text == NULL) ||
            (pt->type == LLM_PART_IMAGE_URL && pt->url == NULL) ||
            (pt->type == LLM_PART_IMAGE_BASE64 && (pt->data == NULL || pt->media_type == NULL)) ||
            (unsigned)pt->type > LLM_PART_IMAGE_BASE64)
            return false;
    }
    for (size_t k = 0; k < m->n_tool_calls; k++) {
        if (m->tool_calls[k].id == NULL || m->tool_calls[k].name == NULL)
            return false;
    }
    return true;
}

void llm__body_put_json_text(struct llm__body *b, const char *json, const char *fallback)
{
    llm__body_put_json_text_fixed(b, json, fallback, NULL);
}

void llm__body_put_json_text_fixed(struct llm__body *b, const char *json, const char *fallback,
                                   void (*fix)(cJSON *))
{
    if (json == NULL && fix == NULL) {
        llm__jo_raw(&b->w, fallback, strlen(fallback));
        return;
    }
    cJSON *v = cJSON_Parse(json != NULL ? json : fallback);
    if (v == NULL) {
        /* cJSON does not tell a syntax error from running out of memory;
         * the engine validated the text before, so blame the text. */
        b->bad = true;
        llm__jo_null(&b->w);
        return;
    }
    if (fix != NULL)
        fix(v);
    put_extra_value(&b->w, v);
    cJSON_Delete(v);
}

void llm__put_message_text(struct llm__jo *w, const struct llm_message *m)
{
    if (m->content != NULL || m->n_parts == 0) {
        llm__jo_string(w, m->content != NULL ? m->content : "");
        return;
    }
    llm__jo_string_begin(w);
    for (size_t k = 0; k < m->n_parts; k++) {
        if (m->parts[k].type == LLM_PART_TEXT)
            llm__jo_string_part(w, m->parts[k].text);
    }
    llm__jo_string_end(w);
}

void llm__put_image_url(struct llm__jo *w, const struct llm_content_part *pt)
{
    if (pt->type == LLM_PART_IMAGE_URL) {
        llm__jo_string(w, pt->url);
        return;
    }
    llm__jo_string_begin(w);
    llm__jo_string_part(w, "data:");
    llm__jo_string_part(w, pt->media_type);
    llm__jo_string_part(w, ";base64,");
    llm__jo_string_part(w, pt->data);
    llm__jo_string_end(w);
}

bool llm__data_url_split(const char *url, const char **media, size_t *media_len,
                         const char **data)
{
    if (strncmp(url, "data:", 5) != 0)
        return false;
    const char *m = url + 5;
    const char *b64 = strstr(m, ";base64,");
    if (b64 == NULL || b64 == m || memchr(m, ',', (size_t)(b64 - m)) != NULL)
        return false;
    *media = m;
    *media_len = (size_t)(b64 - m);
    *data = b64 + 8;
    return true;
}

enum llm_error llm__body_begin(struct llm__body *b, const struct llm_request *req)
{
    memset(b, 0, sizeof(*b));
    if (req->model == NULL || (req->n_messages > 0 && req->messages == NULL) ||
        (req->n_stop > 0 && req->stop == NULL) || req->max_tokens < 0 ||
        (req->has_temperature && !isfinite(req->temperature)) ||
        (req->has_top_p && !isfinite(req->top_p)))
        return LLM_ERR_INVALID_REQUEST;
    for (size_t i = 0; i < req->n_messages; i++) {
        if (!message_shape_ok(&req->messages[i]))
            return LLM_ERR_INVALID_REQUEST;
    }
    if (req->n_tools > 0 && req->tools == NULL)
        return LLM_ERR_INVALID_REQUEST;
    for (size_t i = 0; i < req->n_tools; i++) {
        if (req->tools[i].name == NULL)
            return LLM_ERR_INVALID_REQUEST;
    }
    if ((req->tool_choice == LLM_TOOL_CHOICE_NAMED && req->tool_choice_name == NULL) ||
        (req->response_format.type == LLM_RESPONSE_JSON_SCHEMA &&
         (req->response_format.name == NULL || req->response_format.schema_json == NULL)))
        return LLM_ERR_INVALID_REQUEST;
    for (size_t i = 0; i < req->n_stop; i++) {
        if (req->stop[i] == NULL)
            return LLM_ERR_INVALID_REQUEST;
    }
    if (req->extra_json != NULL) {
        enum llm_error err = llm__extra_init(&b->x, req->extra_json);
        if (err != LLM_OK)
            return err;
    }
    llm__jo_reserve(&b->w, llm__body_size_hint(req));
    llm__jo_object_begin(&b->w);
    return LLM_OK;
}

enum llm_error llm__body_end(struct llm__body *b, struct llm_http_request *out)
{
    /* Without extra_json (the usual request) no call into cJSON. */
    if (b->x.obj != NULL)
        llm__extra_finish(&b->x, &b->w);
    llm__jo_object_end(&b->w);
    if (b->x.obj != NULL)
        llm__extra_clear(&b->x);
    if (b->bad) {
        llm__jo_free(&b->w);
        return LLM_ERR_INVALID_REQUEST;
    }
    out->body = llm__jo_finish(&b->w, &out->body_len);
    return out->body != NULL ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
}

void llm__body_put_sampling(struct llm__body *b, const struct llm_request *req,
                            const char *stop_key)
{
    if (req->has_temperature && llm__extra_member(&b->x, &b->w, "temperature"))
        llm__jo_double(&b->w, req->temperature);
    if (req->has_top_p && llm__extra_member(&b->x, &b->w, "top_p"))
        llm__jo_double(&b->w, req->top_p);
    if (req->n_stop > 0 && llm__extra_member(&b->x, &b->w, stop_key)) {
        llm__jo_array_begin(&b->w);
        for (size_t i = 0; i < req->n_stop; i++)
            llm__jo_string(&b->w, req->stop[i]);
        llm__jo_array_end(&b->w);
    }
}

size_t llm__body_size_hint(const struct llm_request *req)
{
    /* Only a hint: saturating, and the writer grows past it if escapes
     * make the body longer. */
    size_t n = add_sat(192, strlen(req->model));
    if (req->system != NULL)
        n = add_sat(n, add_sat(40, strlen(req->system)));
    for (size_t i = 0; i < req->n_stop; i++)
        n = add_sat(n, add_sat(3, strlen(req->stop[i])));
    /* A message's role is not measured: the usual ones are at most nine
     * bytes ("assistant"), within the 48 allowed for it and its keys (a
     * longer one only grows the body once); its content is.  One walk of
     * the messages (the sum saturates, so the order does not matter). */
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct llm_message *m = &req->messages[i];
        n = add_sat(n, 48);
        if (m->content != NULL)
            n = add_sat(n, strlen(m->content));
        for (size_t k = 0; k < m->n_parts; k++) {
            const struct llm_content_part *pt = &m->parts[k];
            const char *big = pt->type == LLM_PART_TEXT        ? pt->text
                              : pt->type == LLM_PART_IMAGE_URL ? pt->url
                                                               : pt->data;
            n = add_sat(n, add_sat(64, big != NULL ? strlen(big) : 0));
        }
        for (size_t k = 0; k < m->n_tool_calls; k++) {
            const char *a = m->tool_calls[k].arguments;
            n = add_sat(n, add_sat(96, a != NULL ? strlen(a) : 0));
        }
    }
    for (size_t i = 0; i < req->n_tools; i++) {
        const struct llm_tool *t = &req->tools[i];
        n = add_sat(n, add_sat(64, strlen(t->name)));
        if (t->description != NULL)
            n = add_sat(n, strlen(t->description));
        if (t->parameters_json != NULL)
            n = add_sat(n, strlen(t->parameters_json));
    }
    if (req->response_format.schema_json != NULL)
        n = add_sat(n, add_sat(96, strlen(req->response_format.schema_json)));
    return n;
}

/* ---- endpoint ------------------------------------------------------------------ */

enum llm_error llm__endpoint_init(struct llm__endpoint *ep, const struct llm_provider_options *opts,
                                  const char *default_base, const char *path,
                                  const char *default_key_env, const char *trace)
{
    if (trace[0] != '\0' && !llm__header_name_ok(trace))
        return LLM_ERR_INVALID_ARGUMENT;
    enum llm_error err;
    if (opts->endpoint_url != NULL) {
        /* Used as given, query string and all: only what could break the
         * request line is refused. */
        const char *u = opts->endpoint_url;
        bool ok = llm__option_value_ok(u) && strchr(u, ' ') == NULL &&
                  (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
        err = !ok ? LLM_ERR_INVALID_ARGUMENT
                  : (ep->url = llm__strdup(u)) == NULL ? LLM_ERR_OUT_OF_MEMORY : LLM_OK;
    } else {
        err = llm__endpoint_url(opts->base_url, default_base, path, &ep->url);
    }
    if (err == LLM_OK)
        err = llm__resolve_api_key(opts->api_key, opts->api_key_env, default_key_env,
                                   &ep->api_key);
    if (err == LLM_OK && trace[0] != '\0' && (ep->trace_header = llm__strdup(trace)) == NULL)
        err = LLM_ERR_OUT_OF_MEMORY;
    return err;
}

void llm__endpoint_clear(struct llm__endpoint *ep)
{
    if (ep->api_key != NULL)
        explicit_bzero(ep->api_key, strlen(ep->api_key));
    free(ep->api_key);
    free(ep->url);
    free(ep->trace_header);
    memset(ep, 0, sizeof(*ep));
}

enum llm_error llm__http_provider_new(const struct llm_provider_vtable *vtable, size_t impl_size,
                                      const struct llm_provider_options *opts,
                                      const char *default_base, const char *path,
                                      const char *default_key_env, const char *trace,
                                      struct llm_provider **out)
{
    *out = NULL;
    struct llm_provider *p = NULL;
    void *impl = calloc(1, impl_size);
    if (impl == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    enum llm_error err = llm_provider_new(vtable, impl, &p);
    if (err != LLM_OK) {
        free(impl);
        return err;
    }
    err =
        llm__endpoint_init(impl, opts, default_base, path, default_key_env, trace);
    if (err != LLM_OK) {
        llm_provider_free(p);
        return err;
    }
    *out = p;
    return LLM_OK;
}

enum llm_error llm__endpoint_begin(const struct llm__endpoint *ep, const char *trace_id,
                                   struct llm_http_request *out)
{
    if ((out->url = llm__strdup(ep->url)) == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    if (ep->trace_header == NULL || trace_id == NULL || trace_id[0] == '\0')
        return LLM_OK;
    /* The name was checked by llm__endpoint_init; the id is the caller's:
     * checked here, measured by the same scan. */
    size_t id_len = strcspn(trace_id, "\r\n");
    if (trace_id[id_len] != '\0')
        return LLM_ERR_INVALID_ARGUMENT;
    return llm__http_request_add_header_n(out, ep->trace_header, strlen(ep->trace_header),
                                          trace_id, id_len);
}
