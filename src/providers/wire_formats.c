/* Helpers shared by the wire formats beyond OpenAI's (anthropic.c,
 * gemini.c, bedrock.c, ollama.c): the joined system text, nested sampling
 * objects, model ids as URL path segments, JSON texts written as strings,
 * and whole tool calls read from replies.  Declared in wire.h. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "providers/wire.h"

bool llm__is_system_role(const char *role)
{
    return strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
}

bool llm__message_text_empty(const struct llm_message *m)
{
    if (m->content != NULL)
        return m->content[0] == '\0';
    for (size_t k = 0; k < m->n_parts; k++)
        if (m->parts[k].type == LLM_PART_TEXT && m->parts[k].text[0] != '\0')
            return false;
    return true;
}

void llm__put_message_text_parts(struct llm__jo *w, const struct llm_message *m)
{
    if (m->content != NULL) {
        llm__jo_string_part(w, m->content);
        return;
    }
    for (size_t k = 0; k < m->n_parts; k++)
        if (m->parts[k].type == LLM_PART_TEXT)
            llm__jo_string_part(w, m->parts[k].text);
}

bool llm__has_system(const struct llm_request *req)
{
    if (req->system != NULL && req->system[0] != '\0')
        return true;
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct llm_message *m = &req->messages[i];
        if (llm__is_system_role(m->role) && !llm__message_text_empty(m))
            return true;
    }
    return false;
}

void llm__put_system(struct llm__jo *w, const struct llm_request *req)
{
    bool any = false;
    llm__jo_string_begin(w);
    if (req->system != NULL && req->system[0] != '\0') {
        llm__jo_string_part(w, req->system);
        any = true;
    }
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct llm_message *m = &req->messages[i];
        if (!llm__is_system_role(m->role) || llm__message_text_empty(m))
            continue;
        if (any)
            llm__jo_string_part(w, "\n\n");
        llm__put_message_text_parts(w, m);
        any = true;
    }
    llm__jo_string_end(w);
}

void llm__put_sampling_object(struct llm__jo *w, const struct llm_request *req,
                              const struct llm__sampling_keys *k)
{
    llm__jo_object_begin(w);
    llm__put_sampling_members(w, req, k);
    llm__jo_object_end(w);
}

void llm__put_sampling_members(struct llm__jo *w, const struct llm_request *req,
                               const struct llm__sampling_keys *k)
{
    /* max_completion_tokens is the same limit under OpenAI's newer name. */
    int limit = req->max_tokens > 0 ? req->max_tokens : req->max_completion_tokens;
    if (limit > 0 && k->max_tokens != NULL) {
        llm__jo_key(w, k->max_tokens);
        llm__jo_int(w, limit);
    }
    if (req->has_temperature) {
        llm__jo_key(w, k->temperature);
        llm__jo_double(w, req->temperature);
    }
    if (req->has_top_p) {
        llm__jo_key(w, k->top_p);
        llm__jo_double(w, req->top_p);
    }
    if (req->n_stop > 0) {
        llm__jo_key(w, k->stop);
        llm__jo_array_begin(w);
        for (size_t i = 0; i < req->n_stop; i++)
            llm__jo_string(w, req->stop[i]);
        llm__jo_array_end(w);
    }
}

bool llm__has_sampling(const struct llm_request *req, bool with_max_tokens)
{
    return (with_max_tokens && (req->max_tokens > 0 || req->max_completion_tokens > 0)) ||
           req->has_temperature || req->has_top_p || req->n_stop > 0;
}

char *llm__url_segment(const char *s)
{
    static const char HX[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = HX[c >> 4];
            out[o++] = HX[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

void llm__body_put_json_text_as_string(struct llm__body *b, const char *json)
{
    cJSON *v = cJSON_Parse(json != NULL ? json : "{}");
    char *s = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
    if (s == NULL) {
        b->bad = v == NULL;
        if (v != NULL)
            llm__jo_set_oom(&b->w);
        llm__jo_null(&b->w);
    } else {
        llm__jo_string(&b->w, s);
    }
    cJSON_free(s);
    cJSON_Delete(v);
}

enum llm_error llm__parsed_tool_from_json(struct llm_parsed *p, const char *id, const char *name,
                                          const cJSON *args)
{
    struct llm_parsed_tool_call *call;
    enum llm_error err = llm_parsed_tool_call(p, -1, &call);
    if (err != LLM_OK)
        return err;
    if ((id != NULL && (call->id = llm__strdup(id)) == NULL) ||
        (name != NULL && (call->name = llm__strdup(name)) == NULL))
        return LLM_ERR_OUT_OF_MEMORY;
    char *text = args != NULL ? cJSON_PrintUnformatted(args) : NULL;
    if (args != NULL && text == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    err = llm__parsed_tool_append(p, call, text != NULL ? text : "{}",
                                  text != NULL ? strlen(text) : 2);
    cJSON_free(text);
    return err;
}


enum llm_error llm__add_bearer(struct llm_http_request *out, const char *token)
{
    char *auth = llm__asprintf("Bearer %s", token);
    if (auth == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    enum llm_error err = llm_http_request_add_header(out, "Authorization", auth);
    explicit_bzero(auth, strlen(auth));
    free(auth);
    return err;
}

enum llm_error llm__request_built(struct llm_http_request *out, enum llm_error err)
{
    if (err == LLM_OK)
        return LLM_OK;
    llm_http_request_clear(out);
    /* A trace id with CR/LF is the caller's bad argument, not ours. */
    return err == LLM_ERR_INVALID_ARGUMENT ? LLM_ERR_INVALID_REQUEST : err;
}

void llm__endpoint_provider_destroy(struct llm_provider *p)
{
    struct llm__endpoint *ep = p->impl;
    if (ep == NULL)
        return;
    llm__endpoint_clear(ep);
    free(ep);
    p->impl = NULL;
}

void llm__body_put_function_tools(struct llm__body *b, const struct llm_request *req,
                                  bool with_strict)
{
    struct llm__jo *w = &b->w;
    llm__jo_array_begin(w);
    for (size_t i = 0; i < req->n_tools; i++) {
        const struct llm_tool *t = &req->tools[i];
        llm__jo_object_begin(w);
        llm__jo_key(w, "type");
        llm__jo_string(w, "function");
        llm__jo_key(w, "function");
        llm__jo_object_begin(w);
        llm__jo_key(w, "name");
        llm__jo_string(w, t->name);
        if (t->description != NULL) {
            llm__jo_key(w, "description");
            llm__jo_string(w, t->description);
        }
        llm__jo_key(w, "parameters");
        llm__body_put_json_text(b, t->parameters_json, "{\"type\":\"object\",\"properties\":{}}");
        if (with_strict && t->strict) {
            llm__jo_key(w, "strict");
            llm__jo_bool(w, true);
        }
        llm__jo_object_end(w);
        llm__jo_object_end(w);
    }
    llm__jo_array_end(w);
}
