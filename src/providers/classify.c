/* Error classification shared by the HTTP wire-format providers (see
 * wire.h): find the error object in a body, match it against a provider's
 * table, report the retry verdict of retry/ for it, and parse failures. */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "llmorch/ext/retry.h"
#include "providers/wire.h"
#include "retry/plan.h"

/* ---- parse failures ------------------------------------------------------------ */

enum llm_error llm__parse_failure(struct llm_parsed *out, const char *what, const char *data,
                                  size_t len)
{
    char *ex = llm__excerpt(data, len, LLM__EXCERPT_CHARS);
    char *msg = ex != NULL ? llm__asprintf("%s: %s", what, ex) : NULL;
    /* Without memory for the excerpt, still say what went wrong. */
    enum llm_error err = llm_parsed_set_error(out, LLM_ERR_PARSE, NULL, msg != NULL ? msg : what);
    free(ex);
    free(msg);
    return err == LLM_OK ? LLM_ERR_PARSE : err;
}

/* ---- error classification ------------------------------------------------------ */

bool llm__wire_error_find(const cJSON *root, struct llm__wire_error *out)
{
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(root))
        return false;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(err)) {
        /* Ollama: {"error":"model 'x' not found"}.  Generic web servers
         * (Fastify, Express apps, mock-llm): {"error":"SyntaxError",
         * "message":"Expected ','..."}, where "error" names the kind and
         * the words are in "message". */
        const char *message = llm__json_string(root, "message");
        if (message != NULL) {
            out->type = err->valuestring;
            out->message = message;
        } else {
            out->message = err->valuestring;
        }
        return true;
    }
    if (!cJSON_IsObject(err)) {
        const char *object = llm__json_string(root, "object");
        if (object == NULL || strcmp(object, "error") != 0)
            return false;
        err = root;
    }
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (cJSON_IsString(code))
        out->code = code->valuestring;
    else if (cJSON_IsNumber(code) && code->valuedouble >= 100 && code->valuedouble < 1000)
        out->numeric_code = (int)code->valuedouble;
    out->type = llm__json_string(err, "type");
    out->message = llm__json_string(err, "message");
    return true;
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The first n bytes of `s` equal `lit`, ASCII case-insensitively (not
 * strncasecmp: locale-dependent). */
static bool ascii_prefix_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || ascii_lower(s[i]) != ascii_lower(lit[i]))
            return false;
    }
    return true;
}

static bool ascii_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return true;
    for (; *hay; hay++) {
        if (ascii_prefix_eq(hay, needle, n))
            return true;
    }
    return false;
}

static bool eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool rule_matches(const struct llm__error_rule *r, int status,
                         const struct llm__wire_error *e)
{
    if (status < r->status_lo || status > r->status_hi)
        return false;
    if (r->code != NULL && (e == NULL || (!eq(e->code, r->code) && !eq(e->type, r->code))))
        return false;
    if (r->message_contains != NULL &&
        (e == NULL || e->message == NULL || !ascii_contains(e->message, r->message_contains)))
        return false;
    return true;
}

void llm__classify(const struct llm__error_rule *rules, size_t n_rules, int status,
                   const struct llm__wire_error *e, const char *fallback_message,
                   struct llm_error_info *out)
{
    memset(out, 0, sizeof(*out));
    out->type = LLM_ERR_SERVER_ERROR; /* unreachable with a catch-all row */
    for (size_t i = 0; i < n_rules; i++) {
        if (rule_matches(&rules[i], status, e)) {
            out->type = rules[i].type;
            break;
        }
    }
    out->retryable = llm_retry_classify(NULL, out->type, status, -1);
    if (e != NULL) {
        out->provider_code = llm__strdup(e->code != NULL ? e->code : e->type);
        out->message = llm__strdup(e->message);
    }
    if (out->message == NULL)
        out->message = llm__strdup(fallback_message);
}

void llm__classify_body(const struct llm__error_rule *rules, size_t n_rules, int status,
                        const struct llm__wire_error *e, const char *body, size_t len,
                        struct llm_error_info *out)
{
    /* A body we do not understand (a proxy's HTML 502 page) still says
     * something: quote the start of it. */
    char *excerpt = e == NULL && len > 0 ? llm__excerpt(body, len, LLM__EXCERPT_CHARS) : NULL;
    llm__classify(rules, n_rules, status, e, excerpt, out);
    free(excerpt);
}

void llm__classify_http_error(const struct llm__error_rule *rules, size_t n_rules, int status,
                              const struct llm_http_headers *headers, const char *body,
                              size_t len, struct llm_error_info *out)
{
    cJSON *root = llm__json_parse(body, len);
    struct llm__wire_error e;
    bool found = llm__wire_error_find(root, &e);
    llm__classify_body(rules, n_rules, status, found ? &e : NULL, body, len, out);
    cJSON_Delete(root);
    /* Whether to retry is retry/'s decision; the verdict is reported here
     * as the engine will take it (the server's x-should-retry included). */
    out->retryable = llm_retry_classify(NULL, out->type, status, llm__should_retry(headers));
}

enum llm_error llm__parsed_set_wire_error(struct llm_parsed *out,
                                          const struct llm__error_rule *rules, size_t n_rules,
                                          const struct llm__wire_error *e)
{
    int status = e->numeric_code >= 400 && e->numeric_code <= 599 ? e->numeric_code : 0;
    struct llm_error_info info;
    llm__classify(rules, n_rules, status, e, "error reported in response body", &info);
    enum llm_error err = llm_parsed_set_error(out, info.type, info.provider_code, info.message);
    llm_error_info_clear(&info);
    return err;
}
