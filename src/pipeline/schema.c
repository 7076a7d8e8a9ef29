/* "validate_schema": the reply checked against a JSON Schema, with the
 * path of the first value that does not fit.  The schema is parsed once,
 * at creation, and only read afterwards (cJSON reads do not mutate), so one
 * step serves every thread.
 *
 * The subset (pipeline.h documents it for users): type (a name or a list),
 * properties, required, additionalProperties (false or a schema), items
 * (one schema), minItems/maxItems, enum, const, minimum/maximum,
 * exclusiveMinimum/exclusiveMaximum (numbers), minLength/maxLength (in
 * code points), anyOf, oneOf, allOf.  Other keywords ($ref, pattern,
 * format, ...) are ignored, so a schema written for an API passes through
 * without false failures. */
#include "pipeline/schema.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "llmorch/pipeline.h"

/* Nesting the checker follows (schema and instance together); deeper
 * fails rather than recursing without bound on a hostile schema. */
#define MAX_DEPTH 64
#define PATH_MAX_BYTES 256

struct checker {
    char path[PATH_MAX_BYTES];
    size_t path_len;
    char *err;                   /* malloc'd first error, or NULL */
    bool oom;
};

static const char *type_of(const cJSON *v)
{
    if (cJSON_IsObject(v))
        return "object";
    if (cJSON_IsArray(v))
        return "array";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsNumber(v))
        return v->valuedouble == floor(v->valuedouble) && isfinite(v->valuedouble) ? "integer"
                                                                                  : "number";
    return "invalid";
}

static bool type_matches(const cJSON *v, const char *want)
{
    const char *got = type_of(v);
    if (strcmp(want, got) == 0)
        return true;
    return strcmp(want, "number") == 0 && strcmp(got, "integer") == 0;
}

/* Record the first failure: "<path>: <why>". */
static bool failf(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool failf(struct checker *c, const char *fmt, ...)
{
    if (c->err != NULL || c->oom)
        return false;
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    c->err = llm__asprintf("%s: %s", c->path, why);
    if (c->err == NULL)
        c->oom = true;
    return false;
}

/* Push ".key" (or ["key"] for keys that are not identifiers) or "[i]";
 * returns the length to pop back to.  A path too long for the buffer ends
 * in "..." rather than being cut mid-way silently. */
static size_t push_key(struct checker *c, const char *key)
{
    size_t mark = c->path_len;
    bool ident = key[0] != '\0' && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "0123456789_") == strlen(key);
    int n = snprintf(c->path + mark, sizeof(c->path) - mark, ident ? ".%s" : "[\"%s\"]", key);
    if (n < 0 || (size_t)n >= sizeof(c->path) - mark) {
        snprintf(c->path + (mark < sizeof(c->path) - 4 ? mark : sizeof(c->path) - 4),
                 4, "...");
        c->path_len = strlen(c->path);
    } else {
        c->path_len = mark + (size_t)n;
    }
    return mark;
}

static size_t push_index(struct checker *c, size_t i)
{
    char key[32];
    size_t mark = c->path_len;
    snprintf(key, sizeof(key), "[%zu]", i);
    size_t n = strlen(key);
    if (mark + n < sizeof(c->path)) {
        memcpy(c->path + mark, key, n + 1);
        c->path_len = mark + n;
    }
    return mark;
}

static void pop(struct checker *c, size_t mark)
{
    c->path_len = mark;
    c->path[mark] = '\0';
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static bool check(struct checker *c, const cJSON *schema, const cJSON *v, int depth);

/* Run `sub` on `v` in a scratch checker (anyOf/oneOf branches must not
 * record their failures as the verdict). */
static bool quietly(struct checker *c, const cJSON *sub, const cJSON *v, int depth, char **why)
{
    struct checker t = {.path_len = c->path_len};
    memcpy(t.path, c->path, c->path_len + 1);
    bool ok = check(&t, sub, v, depth);
    if (t.oom)
        c->oom = true;
    if (why != NULL && *why == NULL)
        *why = t.err;
    else
        free(t.err);
    return ok;
}

static bool check_type(struct checker *c, const cJSON *type, const cJSON *v)
{
    if (cJSON_IsString(type)) {
        if (type_matches(v, type->valuestring))
            return true;
        return failf(c, "expected %s, got %s", type->valuestring, type_of(v));
    }
    if (cJSON_IsArray(type)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, type) {
            if (cJSON_IsString(t) && type_matches(v, t->valuestring))
                return true;
        }
        char *want = cJSON_PrintUnformatted(type);
        bool r = failf(c, "expected one of %s, got %s", want != NULL ? want : "the types",
                       type_of(v));
        cJSON_free(want);
        return r;
    }
    return true;
}

static bool check_object(struct checker *c, const cJSON *schema, const cJSON *v, int depth)
{
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
    if (!cJSON_IsArray(req))
        req = NULL;
    const cJSON *r;
    cJSON_ArrayForEach(r, req) {
        if (cJSON_IsString(r) && cJSON_GetObjectItemCaseSensitive(v, r->valuestring) == NULL)
            return failf(c, "missing required property \"%s\"", r->valuestring);
    }
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        const cJSON *sub = cJSON_IsObject(props)
                               ? cJSON_GetObjectItemCaseSensitive(props, m->string)
                               : NULL;
        size_t mark = push_key(c, m->string);
        bool ok = true;
        if (sub != NULL)
            ok = check(c, sub, m, depth + 1);
        else if (cJSON_IsFalse(extra))
            ok = failf(c, "property not allowed (additionalProperties is false)");
        else if (cJSON_IsObject(extra))
            ok = check(c, extra, m, depth + 1);
        pop(c, mark);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_array(struct checker *c, const cJSON *schema, const cJSON *v, int depth)
{
    size_t n = (size_t)cJSON_GetArraySize(v);
    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
    const cJSON *hi = cJSON_GetObjectItemCaseSensitive(schema, "maxItems");
    if (cJSON_IsNumber(lo) && (double)n < lo->valuedouble)
        return failf(c, "%zu items, fewer than minItems %g", n, lo->valuedouble);
    if (cJSON_IsNumber(hi) && (double)n > hi->valuedouble)
        return failf(c, "%zu items, more than maxItems %g", n, hi->valuedouble);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
    if (!cJSON_IsObject(items))
        return true;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        size_t mark = push_index(c, i++);
        bool ok = check(c, items, e, depth + 1);
        pop(c, mark);
        if (!ok)
            return false;
    }
    return true;
}

static bool check_scalar(struct checker *c, const cJSON *schema, const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        static const char *const keys[] = {"minimum", "maximum", "exclusiveMinimum",
                                           "exclusiveMaximum"};
        for (int k = 0; k < 4; k++) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(schema, keys[k]);
            if (!cJSON_IsNumber(b))
                continue;
            double x = v->valuedouble, y = b->valuedouble;
            bool ok = k == 0 ? x >= y : k == 1 ? x <= y : k == 2 ? x > y : x < y;
            if (!ok)
                return failf(c, "%g is %s %g", x,
                             k == 0 ? "less than minimum" : k == 1 ? "more than maximum"
                             : k == 2 ? "not more than exclusiveMinimum"
                                      : "not less than exclusiveMaximum",
                             y);
        }
    }
    if (cJSON_IsString(v)) {
        size_t n = utf8_chars(v->valuestring);
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
        const cJSON *hi = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
        if (cJSON_IsNumber(lo) && (double)n < lo->valuedouble)
            return failf(c, "string of %zu characters, shorter than minLength %g", n,
                         lo->valuedouble);
        if (cJSON_IsNumber(hi) && (double)n > hi->valuedouble)
            return failf(c, "string of %zu characters, longer than maxLength %g", n,
                         hi->valuedouble);
    }
    return true;
}

static bool check_combinators(struct checker *c, const cJSON *schema, const cJSON *v, int depth)
{
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(schema, "allOf");
    if (!cJSON_IsArray(all))
        all = NULL;
    const cJSON *s;
    cJSON_ArrayForEach(s, all) {
        if (!check(c, s, v, depth + 1))
            return false;
    }
    const cJSON *any = cJSON_GetObjectItemCaseSensitive(schema, "anyOf");
    if (cJSON_IsArray(any)) {
        char *first = NULL;
        bool ok = false;
        cJSON_ArrayForEach(s, any) {
            if ((ok = quietly(c, s, v, depth + 1, &first)))
                break;
        }
        if (!ok) {
            failf(c, "matches none of anyOf (first branch: %s)", first != NULL ? first : "?");
            free(first);
            return false;
        }
        free(first);
    }
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(schema, "oneOf");
    if (cJSON_IsArray(one)) {
        int matched = 0;
        cJSON_ArrayForEach(s, one) {
            if (quietly(c, s, v, depth + 1, NULL))
                matched++;
        }
        if (matched != 1)
            return failf(c, "matches %d branches of oneOf (exactly one required)", matched);
    }
    return true;
}

static bool check(struct checker *c, const cJSON *schema, const cJSON *v, int depth)
{
    if (c->oom)
        return false;
    if (depth > MAX_DEPTH)
        return failf(c, "schema nested deeper than %d levels", MAX_DEPTH);
    if (cJSON_IsTrue(schema))
        return true;
    if (cJSON_IsFalse(schema))
        return failf(c, "no value is allowed here (schema false)");
    if (!cJSON_IsObject(schema))
        return true;
    if (!check_type(c, cJSON_GetObjectItemCaseSensitive(schema, "type"), v))
        return false;
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(schema, "const");
    if (cst != NULL && !cJSON_Compare(cst, v, true))
        return failf(c, "not equal to the const value");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    if (cJSON_IsArray(en)) {
        bool found = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, en) {
            if ((found = cJSON_Compare(e, v, true)))
                break;
        }
        if (!found)
            return failf(c, "not one of the enum values");
    }
    if (cJSON_IsObject(v) && !check_object(c, schema, v, depth))
        return false;
    if (cJSON_IsArray(v) && !check_array(c, schema, v, depth))
        return false;
    if (!check_scalar(c, schema, v))
        return false;
    return check_combinators(c, schema, v, depth);
}

enum llm_error llm__schema_check(const void *schema_tree, const char *json, size_t len,
                                 char **err_msg)
{
    *err_msg = NULL;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(json, len, &end, false);
    /* One value and nothing after it but whitespace. */
    while (v != NULL && end != NULL && end < json + len &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (v != NULL && end != json + len) {
        cJSON_Delete(v);
        v = NULL;
    }
    if (v == NULL) {
        *err_msg = llm__strdup("not valid JSON (validate_schema needs one JSON value)");
        return *err_msg != NULL ? LLM_ERR_PARSE : LLM_ERR_OUT_OF_MEMORY;
    }
    struct checker c = {.path = "$", .path_len = 1};
    bool ok = check(&c, schema_tree, v, 0);
    cJSON_Delete(v);
    if (c.oom) {
        free(c.err);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    if (ok)
        return LLM_OK;
    *err_msg = c.err;
    return LLM_ERR_PARSE;
}

/* ---- the step ------------------------------------------------------------------ */

static enum llm_error schema_run(const void *impl, const char *in, size_t n, char **out,
                                 size_t *out_len, char **err_msg)
{
    enum llm_error e = llm__schema_check(impl, in, n, err_msg);
    if (e != LLM_OK)
        return e;
    *out = malloc(n + 1);
    if (*out == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    memcpy(*out, in, n);
    (*out)[n] = '\0';
    *out_len = n;
    return LLM_OK;
}

static void schema_destroy(void *impl)
{
    cJSON_Delete(impl);
}

static const struct llm_step_vtable schema_vt = {.run = schema_run, .destroy = schema_destroy};

enum llm_error llm_step_new_validate_schema(const char *schema_json, struct llm_step **out)
{
    if (out != NULL)
        *out = NULL;
    if (schema_json == NULL || out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    cJSON *tree = cJSON_ParseWithOpts(schema_json, NULL, true);
    if (tree == NULL || !(cJSON_IsObject(tree) || cJSON_IsBool(tree))) {
        cJSON_Delete(tree);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    enum llm_error err = llm_step_new(&schema_vt, tree, "validate_schema", out);
    if (err != LLM_OK)
        cJSON_Delete(tree);
    return err;
}
