/* The allocation-free reading of OpenAI replies (see openai_read.h).
 *
 * Two passes over nothing but the body: the first validates the whole
 * document and notes where the wanted values are, declining (before
 * touching `out`) whatever llm__openai_read_tree() might read differently;
 * the second copies the values into `out` in the order the tree reader
 * does.  What it reads, as the tree reader does:
 *   id, model                 strings (anything else ignored)
 *   choices[0]                the only choice; in it
 *     message | delta         an object (reply | stream chunk), in it
 *       content               a string, or null / absent (nothing)
 *       tool_calls, refusal   null / absent only (else declined: the tree
 *                             reader reads them)
 *     finish_reason           a string (anything else ignored)
 *   usage                     an object: prompt_tokens, completion_tokens,
 *                             prompt_tokens_details.cached_tokens,
 *                             completion_tokens_details.reasoning_tokens
 * Declined: a member named "error", "object": "error", escaped keys, a
 * member read twice (cJSON takes the first, we would not know which),
 * several choices, content parts (an array), counts that are not plain
 * integers, a reply without a choice or message, long id/model/finish
 * strings, and anything jsonr.h declines. */
#include "providers/openai_read.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonr.h"
#include "providers/wire.h"

/* id, model and finish_reason are decoded on the stack. */
#define SHORT_STRING_MAX 255

struct found {
    struct llm__jr_str id, model, finish, content;
    bool has_id, has_model, has_finish, has_content;
    bool has_choice, has_message, has_usage;
    int64_t counts[4];   /* prompt, completion, cached, reasoning; -1 = absent */
};

enum { PROMPT, COMPLETION, CACHED, REASONING };

/* The walk keeps its position in a local and goes through jsonr.h's
 * positional layer: each function below starts at a value (after
 * whitespace) and returns the position after it, or NULL to decline.
 * `depth` is the number of containers open around the value.  Keys are
 * told apart by length first, then bytes (llm__jr_str_is on a literal
 * compiles to a compare of constants).  Callgrind, the mock server's
 * 500-byte reply, the whole of llm__openai_read_fast: 7,690 instructions
 * through the struct reader, 3,640 this way (with jsonr.h's SSE2 strings
 * and inline whitespace test). */

/* True if `k` is the unescaped key `lit` seen for the first time (bit
 * `bit` of *seen); a repeat declines (cJSON takes the first of two
 * members of one name, we would not know which): *dup set. */
#define KEY_ONCE(k, lit, seen, bit, dup)                                          \
    (llm__jr_str_is(k, lit) &&                                                     \
     ((*(seen) & (bit)) != 0 ? (*(dup) = true, false) : (*(seen) |= (bit), true)))

/* A short string member: noted if a string, skipped otherwise. */
static const char *short_string(const char *p, const char *end, int depth,
                                struct llm__jr_str *s, bool *has)
{
    if (*p != '"')
        return llm__jr_skip_value(p, end, depth);
    p = llm__jr_scan_string(p, end, s);
    if (p == NULL || s->len > SHORT_STRING_MAX)
        return NULL;
    *has = true;
    return p;
}

/* A token count: a number must be a plain integer; anything else leaves
 * the count as it was (the tree reader ignores non-numbers too). */
static inline const char *count(const char *p, const char *end, int depth, int64_t *slot)
{
    if (*p == '-' || (*p >= '0' && *p <= '9'))
        return llm__jr_scan_uint(p, end, slot);
    return llm__jr_skip_value(p, end, depth);
}

#if defined(__GNUC__)
#define INLINE_HOT static inline __attribute__((always_inline))
#else
#define INLINE_HOT static inline
#endif

/* {"cached_tokens" | "reasoning_tokens": n, ...}: the one count wanted
 * from a *_tokens_details object (`reasoning` tells which).  Inlined into
 * usage() (two calls a reply): a call's register saves and restores were
 * ~20 instructions of the ~160 each took. */
INLINE_HOT const char *details(const char *p, const char *end, int depth, bool reasoning,
                               int64_t *slot)
{
    if (*p != '{')
        return llm__jr_skip_value(p, end, depth);
    if (depth >= LLM__JR_MAX_DEPTH)
        return NULL;
    unsigned seen = 0;
    bool first = true, dup = false;
    struct llm__jr_str key;
    int m;
    p++;
    while ((m = llm__jr_member(&p, end, &first, &key)) > 0) {
        if (key.escaped)
            return NULL;
        if (reasoning ? KEY_ONCE(&key, "reasoning_tokens", &seen, 1, &dup)
                      : KEY_ONCE(&key, "cached_tokens", &seen, 1, &dup))
            p = count(p, end, depth + 1, slot);
        else
            p = dup ? NULL : llm__jr_skip_value(p, end, depth + 1);
        if (p == NULL)
            return NULL;
    }
    return m == 0 ? p : NULL;
}

static const char *usage(const char *p, const char *end, int depth, struct found *f)
{
    if (*p != '{')
        return llm__jr_skip_value(p, end, depth); /* streams send "usage": null on every
                                                     chunk but the last */
    if (depth >= LLM__JR_MAX_DEPTH)
        return NULL;
    f->has_usage = true;
    unsigned seen = 0;
    bool first = true, dup = false;
    struct llm__jr_str key;
    int m;
    p++;
    while ((m = llm__jr_member(&p, end, &first, &key)) > 0) {
        if (key.escaped)
            return NULL;
        if (KEY_ONCE(&key, "prompt_tokens", &seen, 1, &dup))
            p = count(p, end, depth + 1, &f->counts[PROMPT]);
        else if (KEY_ONCE(&key, "completion_tokens", &seen, 2, &dup))
            p = count(p, end, depth + 1, &f->counts[COMPLETION]);
        else if (KEY_ONCE(&key, "prompt_tokens_details", &seen, 4, &dup))
            p = details(p, end, depth + 1, false, &f->counts[CACHED]);
        else if (KEY_ONCE(&key, "completion_tokens_details", &seen, 8, &dup))
            p = details(p, end, depth + 1, true, &f->counts[REASONING]);
        else
            p = dup ? NULL : llm__jr_skip_value(p, end, depth + 1);
        if (p == NULL)
            return NULL;
    }
    return m == 0 ? p : NULL;
}

/* message / delta: an object whose content is a string or null. */
static const char *message(const char *p, const char *end, int depth, struct found *f)
{
    if (*p != '{' || depth >= LLM__JR_MAX_DEPTH)
        return NULL;
    f->has_message = true;
    unsigned seen = 0;
    bool first = true, dup = false;
    struct llm__jr_str key;
    int m;
    p++;
    while ((m = llm__jr_member(&p, end, &first, &key)) > 0) {
        if (key.escaped)
            return NULL;
        if (KEY_ONCE(&key, "content", &seen, 1, &dup)) {
            if (*p == '"') {
                p = llm__jr_scan_string(p, end, &f->content);
                f->has_content = p != NULL;
            } else {
                p = llm__jr_scan_null(p, end); /* else content parts, or not content at all */
            }
        } else if (llm__jr_str_is(&key, "tool_calls") || llm__jr_str_is(&key, "refusal") ||
                   llm__jr_str_is(&key, "function_call")) {
            /* The tree reader reads tool calls and refusals; null is the
             * common "none" and stays on this path. */
            p = llm__jr_scan_null(p, end);
        } else {
            p = dup ? NULL : llm__jr_skip_value(p, end, depth + 1);
        }
        if (p == NULL)
            return NULL;
    }
    return m == 0 ? p : NULL;
}

static const char *choice(const char *p, const char *end, int depth, bool stream,
                          struct found *f)
{
    if (*p != '{' || depth >= LLM__JR_MAX_DEPTH)
        return NULL;
    f->has_choice = true;
    unsigned seen = 0;
    bool first = true, dup = false;
    struct llm__jr_str key;
    int m;
    p++;
    while ((m = llm__jr_member(&p, end, &first, &key)) > 0) {
        if (key.escaped)
            return NULL;
        if (stream ? KEY_ONCE(&key, "delta", &seen, 1, &dup)
                   : KEY_ONCE(&key, "message", &seen, 1, &dup))
            p = message(p, end, depth + 1, f);
        else if (KEY_ONCE(&key, "finish_reason", &seen, 2, &dup))
            p = short_string(p, end, depth + 1, &f->finish, &f->has_finish);
        else
            p = dup ? NULL : llm__jr_skip_value(p, end, depth + 1);
        if (p == NULL)
            return NULL;
    }
    return m == 0 ? p : NULL;
}

static const char *choices(const char *p, const char *end, int depth, bool stream,
                           struct found *f)
{
    if (*p != '[') {
        /* A stream's usage chunk may carry "choices": null. */
        return stream ? llm__jr_skip_value(p, end, depth) : NULL;
    }
    if (depth >= LLM__JR_MAX_DEPTH)
        return NULL;
    bool first = true;
    int m, n = 0;
    p++;
    while ((m = llm__jr_element(&p, end, &first)) > 0) {
        if (++n > 1)
            return NULL; /* the tree reader picks "index": 0 among several */
        if ((p = choice(p, end, depth + 1, stream, f)) == NULL)
            return NULL;
    }
    return m == 0 ? p : NULL;
}

static bool scan(const char *body, size_t len, bool stream, struct found *f)
{
    const char *p = llm__jr_ws(body, body + len), *end = body + len;
    if (p >= end || *p != '{')
        return false;
    unsigned seen = 0;
    bool first = true, dup = false;
    struct llm__jr_str key, s;
    int m;
    p++;
    while ((m = llm__jr_member(&p, end, &first, &key)) > 0) {
        if (key.escaped || llm__jr_str_is(&key, "error")) {
            return false;
        } else if (KEY_ONCE(&key, "id", &seen, 1, &dup)) {
            p = short_string(p, end, 1, &f->id, &f->has_id);
        } else if (KEY_ONCE(&key, "model", &seen, 2, &dup)) {
            p = short_string(p, end, 1, &f->model, &f->has_model);
        } else if (KEY_ONCE(&key, "choices", &seen, 4, &dup)) {
            p = choices(p, end, 1, stream, f);
        } else if (KEY_ONCE(&key, "usage", &seen, 8, &dup)) {
            p = usage(p, end, 1, f);
        } else if (KEY_ONCE(&key, "object", &seen, 16, &dup)) {
            /* {"object": "error", "message": ...} is an older vLLM error. */
            if (*p != '"')
                p = llm__jr_skip_value(p, end, 1);
            else if ((p = llm__jr_scan_string(p, end, &s)) != NULL &&
                     (s.escaped || llm__jr_str_is(&s, "error")))
                return false;
        } else {
            p = dup ? NULL : llm__jr_skip_value(p, end, 1);
        }
        if (p == NULL)
            return false;
    }
    if (m < 0 || llm__jr_ws(p, end) != end)
        return false;
    /* A reply must have a choice with a message (the tree reader fails it
     * with its own words). */
    return stream || (f->has_choice && f->has_message);
}

/* *slot = the decoded `s`, unless it already holds that (what
 * llm__parsed_update does, without the copy to the stack, the strlen and
 * the strcmp of an unescaped string: ~40 instructions each).  The decoded
 * string holds no NUL: \u0000 and raw control bytes are declined. */
LLM__JR_OUTLINE enum llm_error update_slow(char **slot, const struct llm__jr_str *s)
{
    char buf[SHORT_STRING_MAX + 1];
    const char *v = s->raw;
    size_t n = s->len;
    if (s->escaped) {
        n = llm__jr_decode(s, buf);
        v = buf;
    }
    if (*slot != NULL && strlen(*slot) == n && memcmp(*slot, v, n) == 0)
        return LLM_OK;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    memcpy(copy, v, n);
    copy[n] = '\0';
    free(*slot);
    *slot = copy;
    return LLM_OK;
}

/* The usual case, an empty slot and an unescaped string, without the
 * stack buffer (and its guard) and the compare: a copy straight from the
 * body (~15 instructions less each, three a reply). */
static inline enum llm_error update(char **slot, const struct llm__jr_str *s)
{
    if (*slot != NULL || s->escaped)
        return update_slow(slot, s);
    char *copy = malloc(s->len + 1); /* len <= SHORT_STRING_MAX */
    if (copy == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    memcpy(copy, s->raw, s->len);
    copy[s->len] = '\0';
    *slot = copy;
    return LLM_OK;
}

int llm__openai_read_fast(const char *body, size_t len, bool stream, struct llm_parsed *out)
{
    struct found f;
    memset(&f, 0, sizeof(f));
    for (int i = 0; i < 4; i++)
        f.counts[i] = -1;
    if (body == NULL || !scan(body, len, stream, &f))
        return LLM__READ_DECLINED;

    /* The tree reader's order: content (a reply's is never NULL), then
     * finish_reason, model, id, usage. */
    enum llm_error err = LLM_OK;
    if (!stream || f.has_content) {
        err = llm__parsed_reserve(out, f.has_content ? f.content.len : 0);
        /* The bound is checked on the decoded length (escapes make the
         * encoded one longer): decode in place, then take it back if the
         * reply went over. */
        size_t before = out->content_len;
        if (err == LLM_OK && f.has_content)
            out->content_len += llm__jr_decode(&f.content, out->content + out->content_len);
        if (err == LLM_OK && out->content_len > before) {
            size_t added = out->content_len - before;
            out->content_len = before;
            err = llm__parsed_room(out, added);
            if (err == LLM_OK)
                out->content_len += added;
        }
        if (err == LLM_OK || err == LLM_ERR_RESPONSE_TOO_LARGE)
            out->content[out->content_len] = '\0';
    }
    if (err == LLM_OK && f.has_finish)
        err = update(&out->finish_reason, &f.finish);
    if (err == LLM_OK && f.has_model)
        err = update(&out->model, &f.model);
    if (err == LLM_OK && f.has_id)
        err = update(&out->response_id, &f.id);
    if (err == LLM_OK && f.has_usage) {
        struct llm_usage *u = &out->usage;
        if (f.counts[PROMPT] >= 0)
            u->input_tokens = f.counts[PROMPT];
        if (f.counts[COMPLETION] >= 0)
            u->output_tokens = f.counts[COMPLETION];
        if (f.counts[CACHED] >= 0)
            u->cached_input_tokens = f.counts[CACHED];
        if (f.counts[REASONING] >= 0)
            u->reasoning_tokens = f.counts[REASONING];
        u->known = true;
    }
    return err;
}
