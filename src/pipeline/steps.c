/* The step wrapper and the built-in steps: trim, strip_reasoning,
 * extract_json, validate_json, and custom functions. */
#include "llmorch/ext/step.h"
#include "llmorch/pipeline.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

struct llm_step {
    struct llm_step_vtable vt;   /* copied, destroy filled in */
    void *impl;
    char *name;
};

static void noop_destroy(void *impl)
{
    (void)impl;
}

enum llm_error llm_step_new(const struct llm_step_vtable *vt, void *impl, const char *name,
                            struct llm_step **out)
{
    if (out != NULL)
        *out = NULL;
    if (vt == NULL || vt->run == NULL || out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    struct llm_step *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    s->name = strdup(name != NULL ? name : "step");
    if (s->name == NULL) {
        free(s);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    s->vt = *vt;
    if (s->vt.destroy == NULL)
        s->vt.destroy = noop_destroy;
    s->impl = impl;
    *out = s;
    return LLM_OK;
}

const char *llm_step_name(const struct llm_step *s)
{
    return s != NULL ? s->name : "(null)";
}

void llm_step_free(struct llm_step *s)
{
    if (s == NULL)
        return;
    s->vt.destroy(s->impl);
    free(s->name);
    free(s);
}

enum llm_error llm_step_run(const struct llm_step *s, const char *in, size_t in_len, char **out,
                            size_t *out_len, char **err_msg)
{
    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (err_msg != NULL)
        *err_msg = NULL;
    if (s == NULL || in == NULL || out == NULL || out_len == NULL || err_msg == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    enum llm_error err = s->vt.run(s->impl, in, in_len, out, out_len, err_msg);
    if (err == LLM_OK && *out == NULL) {
        free(*err_msg);
        *err_msg = llm__strdup("step returned success without output");
        return LLM_ERR_INTERNAL;
    }
    if (err != LLM_OK) {
        /* The contract says *out stays NULL on failure; do not trust it. */
        free(*out);
        *out = NULL;
        *out_len = 0;
    }
    return err;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* Copy n bytes of s to a fresh NUL-terminated *out. */
static enum llm_error emit(const char *s, size_t n, char **out, size_t *out_len)
{
    if (n == SIZE_MAX)
        return LLM_ERR_OUT_OF_MEMORY;
    char *p = malloc(n + 1);
    if (p == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    *out = p;
    *out_len = n;
    return LLM_OK;
}

static enum llm_error fail(enum llm_error err, char **err_msg, const char *msg)
{
    *err_msg = llm__strdup(msg);
    return err;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* [*b, *e) narrowed to exclude whitespace at both ends. */
static void trim_range(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_space(s[*b]))
        (*b)++;
    while (*e > *b && is_space(s[*e - 1]))
        (*e)--;
}

static bool starts_with_ci(const char *s, size_t n, size_t at, const char *lit)
{
    size_t l = strlen(lit);
    return at <= n && n - at >= l && strncasecmp(s + at, lit, l) == 0;
}

/* ---- trim --------------------------------------------------------------------------------- */

static enum llm_error trim_run(const void *impl, const char *in, size_t in_len, char **out,
                               size_t *out_len, char **err_msg)
{
    (void)impl, (void)err_msg;
    size_t b = 0, e = in_len;
    trim_range(in, &b, &e);
    return emit(in + b, e - b, out, out_len);
}

static const struct llm_step_vtable trim_vt = {.run = trim_run};

enum llm_error llm_step_new_trim(struct llm_step **out)
{
    return llm_step_new(&trim_vt, NULL, "trim", out);
}

/* ---- strip_reasoning ---------------------------------------------------------------------- */

struct tag {
    const char *open;
    const char *close;
};

/* Longer names first, so "<thinking>" is not taken for "<think" + "ing>". */
static const struct tag reasoning_tags[] = {
    {"<thinking>", "</thinking>"},
    {"<think>", "</think>"},
};
#define N_TAGS (sizeof(reasoning_tags) / sizeof(reasoning_tags[0]))

/* First opening tag at or after `from`: its position (n if none) and kind. */
static size_t find_open_tag(const char *s, size_t n, size_t from, const struct tag **kind)
{
    for (size_t i = from; i < n; i++) {
        if (s[i] != '<')
            continue;
        for (size_t t = 0; t < N_TAGS; t++) {
            if (starts_with_ci(s, n, i, reasoning_tags[t].open)) {
                *kind = &reasoning_tags[t];
                return i;
            }
        }
    }
    return n;
}

/* First closing tag of any kind at or after `from`; n if none. */
static size_t find_any_close(const char *s, size_t n, size_t from, size_t *close_len)
{
    for (size_t i = from; i < n; i++) {
        if (s[i] != '<' || i + 1 >= n || s[i + 1] != '/')
            continue;
        for (size_t t = 0; t < N_TAGS; t++) {
            if (starts_with_ci(s, n, i, reasoning_tags[t].close)) {
                *close_len = strlen(reasoning_tags[t].close);
                return i;
            }
        }
    }
    return n;
}

static size_t find_close(const char *s, size_t n, size_t from, const char *close)
{
    for (size_t i = from; i < n; i++)
        if (s[i] == '<' && starts_with_ci(s, n, i, close))
            return i;
    return n;
}

static enum llm_error strip_reasoning_run(const void *impl, const char *in, size_t n,
                                          char **out, size_t *out_len, char **err_msg)
{
    (void)impl;
    struct llm__buf b = {0};
    size_t pos = 0;
    bool removed = false, unterminated = false;

    /* Output that begins inside the reasoning: a closing tag before any
     * opening one ends a block that started at the beginning. */
    const struct tag *kind = NULL;
    size_t open = find_open_tag(in, n, 0, &kind);
    size_t close_len = 0;
    size_t orphan = find_any_close(in, open, 0, &close_len);
    if (orphan < open) {
        pos = orphan + close_len;
        removed = true;
    }
    for (;;) {
        open = find_open_tag(in, n, pos, &kind);
        if (llm__buf_append(&b, in + pos, open - pos) != LLM_OK)
            goto oom;
        if (open == n)
            break;
        removed = true;
        size_t body = open + strlen(kind->open);
        size_t close = find_close(in, n, body, kind->close);
        if (close == n) {
            unterminated = true;
            break;
        }
        pos = close + strlen(kind->close);
    }
    if (removed) {
        size_t lo = 0, hi = b.len;
        trim_range(b.data != NULL ? b.data : "", &lo, &hi);
        if (lo == hi) {
            llm__buf_free(&b);
            return fail(LLM_ERR_PARSE, err_msg,
                        unterminated ? "unterminated <think> block: no answer after the reasoning"
                                     : "nothing but reasoning: no answer after the reasoning");
        }
    }
    if (b.data == NULL)
        return emit("", 0, out, out_len);
    *out_len = b.len;
    *out = llm__buf_steal(&b);
    return *out != NULL ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
oom:
    llm__buf_free(&b);
    return LLM_ERR_OUT_OF_MEMORY;
}

static const struct llm_step_vtable strip_reasoning_vt = {.run = strip_reasoning_run};

enum llm_error llm_step_new_strip_reasoning(struct llm_step **out)
{
    return llm_step_new(&strip_reasoning_vt, NULL, "strip_reasoning", out);
}

/* ---- extract_json ------------------------------------------------------------------------- */

static size_t find_lit(const char *s, size_t n, size_t from, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t i = from; i + l <= n; i++)
        if (memcmp(s + i, lit, l) == 0)
            return i;
    return n;
}

/* The first qualifying fenced block: ```json (any content) or ``` with no
 * info string whose content starts with { or [.  Sets [*b, *e) to the
 * trimmed content. */
static bool find_fence(const char *s, size_t n, size_t *b, size_t *e)
{
    size_t pos = 0;
    for (;;) {
        size_t f = find_lit(s, n, pos, "```");
        if (f == n)
            return false;
        size_t info_b = f + 3;
        size_t nl = info_b;
        while (nl < n && s[nl] != '\n')
            nl++;
        if (nl == n)
            return false; /* no body line */
        size_t info_e = nl;
        trim_range(s, &info_b, &info_e);
        size_t body = nl + 1;
        size_t close = find_lit(s, n, body, "```");
        if (close == n)
            return false; /* unterminated: no block */
        size_t cb = body, ce = close;
        trim_range(s, &cb, &ce);
        bool json_tag = info_e - info_b == 4 && strncasecmp(s + info_b, "json", 4) == 0;
        bool plain = info_e == info_b && cb < ce && (s[cb] == '{' || s[cb] == '[');
        if (json_tag || plain) {
            *b = cb;
            *e = ce;
            return true;
        }
        pos = close + 3;
    }
}

#define MAX_SCAN_DEPTH 512

/* The first balanced top-level {...} or [...]: see pipeline.h.  One pass:
 * a stack of open brackets; a bracket closed by the wrong kind, or nesting
 * deeper than MAX_SCAN_DEPTH, abandons the region and scanning goes on. */
static bool find_balanced(const char *s, size_t n, size_t *b, size_t *e)
{
    struct {
        size_t pos;
        char close;
    } st[MAX_SCAN_DEPTH];
    size_t depth = 0;
    bool in_str = false, esc = false;
    size_t best_b = n, best_e = n; /* earliest completed inner pair */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (depth == 0) {
            /* Quotes in the prose around the JSON mean nothing. */
            if (c == '{' || c == '[') {
                st[0].pos = i;
                st[0].close = c == '{' ? '}' : ']';
                depth = 1;
                in_str = false;
            }
            continue;
        }
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (depth == MAX_SCAN_DEPTH) {
                depth = 0;
                continue;
            }
            st[depth].pos = i;
            st[depth].close = c == '{' ? '}' : ']';
            depth++;
        } else if (c == '}' || c == ']') {
            if (c != st[depth - 1].close) {
                depth = 0; /* mismatched: not JSON here */
                continue;
            }
            depth--;
            size_t start = st[depth].pos;
            if (depth == 0) {
                /* A complete top-level value.  Only a pair completed in an
                 * earlier, abandoned region can start before it. */
                if (start < best_b) {
                    best_b = start;
                    best_e = i + 1;
                }
                break;
            }
            if (start < best_b) {
                /* Kept in case this region is never closed. */
                best_b = start;
                best_e = i + 1;
            }
        }
    }
    if (best_b == n)
        return false;
    *b = best_b;
    *e = best_e;
    return true;
}

static enum llm_error extract_json_run(const void *impl, const char *in, size_t n, char **out,
                                       size_t *out_len, char **err_msg)
{
    (void)impl;
    size_t b, e;
    if (find_fence(in, n, &b, &e) || find_balanced(in, n, &b, &e))
        return emit(in + b, e - b, out, out_len);
    return fail(LLM_ERR_PARSE, err_msg,
                "no JSON found: no ```json block and no balanced {...} or [...]");
}

static const struct llm_step_vtable extract_json_vt = {.run = extract_json_run};

enum llm_error llm_step_new_extract_json(struct llm_step **out)
{
    return llm_step_new(&extract_json_vt, NULL, "extract_json", out);
}

/* ---- validate_json ------------------------------------------------------------------------
 *
 * A strict RFC 8259 recogniser of our own rather than cJSON: it allocates
 * nothing, says where and why a text is invalid, rejects what cJSON lets
 * through (invalid UTF-8, trailing data after an embedded NUL), and shares
 * no global error state between threads. */

#define MAX_JSON_DEPTH 512

struct jv {
    const unsigned char *s;
    size_t n, i;
    int depth;
    const char *why;             /* first error */
};

static bool jv_fail(struct jv *v, const char *why)
{
    if (v->why == NULL)
        v->why = why;
    return false;
}

static void jv_ws(struct jv *v)
{
    while (v->i < v->n && (v->s[v->i] == ' ' || v->s[v->i] == '\t' || v->s[v->i] == '\n' ||
                           v->s[v->i] == '\r'))
        v->i++;
}

static bool jv_lit(struct jv *v, const char *lit)
{
    size_t l = strlen(lit);
    if (v->n - v->i < l || memcmp(v->s + v->i, lit, l) != 0)
        return jv_fail(v, "invalid literal");
    v->i += l;
    return true;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool jv_digits(struct jv *v)
{
    if (v->i >= v->n || !is_digit(v->s[v->i]))
        return jv_fail(v, "invalid number");
    while (v->i < v->n && is_digit(v->s[v->i]))
        v->i++;
    return true;
}

static bool jv_number(struct jv *v)
{
    if (v->s[v->i] == '-')
        v->i++;
    if (v->i < v->n && v->s[v->i] == '0') {
        v->i++;
        if (v->i < v->n && is_digit(v->s[v->i]))
            return jv_fail(v, "leading zero in number");
    } else if (!jv_digits(v)) {
        return false;
    }
    if (v->i < v->n && v->s[v->i] == '.') {
        v->i++;
        if (!jv_digits(v))
            return false;
    }
    if (v->i < v->n && (v->s[v->i] == 'e' || v->s[v->i] == 'E')) {
        v->i++;
        if (v->i < v->n && (v->s[v->i] == '+' || v->s[v->i] == '-'))
            v->i++;
        if (!jv_digits(v))
            return false;
    }
    return true;
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence starting at v->i (a byte >= 0x80): well-formed per
 * RFC 3629 (no overlongs, no surrogates, at most U+10FFFF). */
static bool jv_utf8(struct jv *v)
{
    const unsigned char *p = v->s + v->i;
    size_t left = v->n - v->i, len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        if (p[0] == 0xE0)
            lo = 0xA0;
        else if (p[0] == 0xED)
            hi = 0x9F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        if (p[0] == 0xF0)
            lo = 0x90;
        else if (p[0] == 0xF4)
            hi = 0x8F;
    } else {
        return jv_fail(v, "invalid UTF-8");
    }
    if (left < len || p[1] < lo || p[1] > hi)
        return jv_fail(v, "invalid UTF-8");
    for (size_t k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return jv_fail(v, "invalid UTF-8");
    v->i += len;
    return true;
}

static bool jv_string(struct jv *v)
{
    v->i++; /* opening quote */
    while (v->i < v->n) {
        unsigned char c = v->s[v->i];
        if (c == '"') {
            v->i++;
            return true;
        }
        if (c < 0x20)
            return jv_fail(v, "control character in string");
        if (c == '\\') {
            v->i++;
            if (v->i >= v->n)
                break;
            c = v->s[v->i];
            if (c == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (v->i + (size_t)k >= v->n || !is_hex(v->s[v->i + (size_t)k]))
                        return jv_fail(v, "invalid \\u escape");
                v->i += 5;
            } else if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
                v->i++;
            } else {
                return jv_fail(v, "invalid escape in string");
            }
        } else if (c >= 0x80) {
            if (!jv_utf8(v))
                return false;
        } else {
            v->i++;
        }
    }
    return jv_fail(v, "unterminated string");
}

static bool jv_value(struct jv *v);

static bool jv_container(struct jv *v, unsigned char close)
{
    if (++v->depth > MAX_JSON_DEPTH)
        return jv_fail(v, "nested too deeply");
    v->i++; /* opening bracket */
    jv_ws(v);
    if (v->i < v->n && v->s[v->i] == close) {
        v->i++;
        v->depth--;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (v->i >= v->n || v->s[v->i] != '"')
                return jv_fail(v, "expected a string key");
            if (!jv_string(v))
                return false;
            jv_ws(v);
            if (v->i >= v->n || v->s[v->i] != ':')
                return jv_fail(v, "expected ':'");
            v->i++;
            jv_ws(v);
        }
        if (!jv_value(v))
            return false;
        jv_ws(v);
        if (v->i < v->n && v->s[v->i] == ',') {
            v->i++;
            jv_ws(v);
            if (v->i < v->n && v->s[v->i] == close)
                return jv_fail(v, "trailing comma");
            continue;
        }
        if (v->i < v->n && v->s[v->i] == close) {
            v->i++;
            v->depth--;
            return true;
        }
        return jv_fail(v, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool jv_value(struct jv *v)
{
    if (v->i >= v->n)
        return jv_fail(v, "unexpected end of text");
    switch (v->s[v->i]) {
    case '{': return jv_container(v, '}');
    case '[': return jv_container(v, ']');
    case '"': return jv_string(v);
    case 't': return jv_lit(v, "true");
    case 'f': return jv_lit(v, "false");
    case 'n': return jv_lit(v, "null");
    default:
        if (v->s[v->i] == '-' || is_digit(v->s[v->i]))
            return jv_number(v);
        return jv_fail(v, "unexpected character");
    }
}

static enum llm_error validate_json_run(const void *impl, const char *in, size_t n, char **out,
                                        size_t *out_len, char **err_msg)
{
    (void)impl;
    struct jv v = {.s = (const unsigned char *)in, .n = n};
    jv_ws(&v);
    if (v.i == n) {
        *err_msg = llm__strdup("not valid JSON: empty text");
        return LLM_ERR_PARSE;
    }
    if (jv_value(&v)) {
        jv_ws(&v);
        if (v.i != n)
            jv_fail(&v, "unexpected data after the JSON value");
    }
    if (v.why != NULL) {
        *err_msg = llm__asprintf("not valid JSON at byte %zu: %s", v.i, v.why);
        return LLM_ERR_PARSE;
    }
    return emit(in, n, out, out_len);
}

static const struct llm_step_vtable validate_json_vt = {.run = validate_json_run};

enum llm_error llm_step_new_validate_json(struct llm_step **out)
{
    return llm_step_new(&validate_json_vt, NULL, "validate_json", out);
}

/* ---- custom functions ------------------------------------------------------------------- */

struct custom {
    llm_step_fn *fn;
    void *user;
};

static enum llm_error custom_run(const void *impl, const char *in, size_t in_len, char **out,
                                 size_t *out_len, char **err_msg)
{
    const struct custom *c = impl;
    return c->fn(c->user, in, in_len, out, out_len, err_msg);
}

static void custom_destroy(void *impl)
{
    free(impl);
}

static const struct llm_step_vtable custom_vt = {.run = custom_run, .destroy = custom_destroy};

enum llm_error llm_step_new_custom(const char *name, llm_step_fn *fn, void *user,
                                   struct llm_step **out)
{
    if (out != NULL)
        *out = NULL;
    if (fn == NULL || out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    struct custom *c = malloc(sizeof(*c));
    if (c == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    c->fn = fn;
    c->user = user;
    enum llm_error err = llm_step_new(&custom_vt, c, name != NULL ? name : "custom", out);
    if (err != LLM_OK)
        free(c);
    return err;
}
