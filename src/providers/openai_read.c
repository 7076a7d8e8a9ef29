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

/* True the first time `bit` is seen in `*seen`; a repeat declines. */
static bool once(struct llm__jr *r, unsigned *seen, unsigned bit)
{
    if (*seen & bit) {
        r->bad = true;
        return false;
    }
    *seen |= bit;
    return true;
}

/* A short string member: noted if a string, skipped otherwise. */
static void short_string(struct llm__jr *r, struct llm__jr_str *s, bool *has)
{
    if (llm__jr_peek(r) != LLM__JR_STRING) {
        llm__jr_skip(r);
        return;
    }
    if (llm__jr_string(r, s)) {
        if (s->len > SHORT_STRING_MAX)
            r->bad = true;
        *has = true;
    }
}

/* A token count: a number must be a plain integer; anything else leaves
 * the count as it was (the tree reader ignores non-numbers too). */
static void count(struct llm__jr *r, int64_t *slot)
{
    if (llm__jr_peek(r) == LLM__JR_NUMBER)
        llm__jr_uint(r, slot);
    else
        llm__jr_skip(r);
}

/* {"<name>": n, ...}: the one count wanted from a *_tokens_details object. */
static void details(struct llm__jr *r, const char *name, int64_t *slot)
{
    if (llm__jr_peek(r) != LLM__JR_OBJECT) {
        llm__jr_skip(r);
        return;
    }
    unsigned seen = 0;
    struct llm__jr_str key;
    llm__jr_enter_object(r);
    while (llm__jr_next_key(r, &key)) {
        if (key.escaped)
            r->bad = true;
        else if (key.len == strlen(name) && memcmp(key.raw, name, key.len) == 0 &&
                 once(r, &seen, 1))
            count(r, slot);
        else
            llm__jr_skip(r);
    }
}

static void usage(struct llm__jr *r, struct found *f)
{
    if (llm__jr_peek(r) != LLM__JR_OBJECT) {
        llm__jr_skip(r); /* streams send "usage": null on every chunk but the last */
        return;
    }
    f->has_usage = true;
    unsigned seen = 0;
    struct llm__jr_str key;
    llm__jr_enter_object(r);
    while (llm__jr_next_key(r, &key)) {
        if (key.escaped)
            r->bad = true;
        else if (llm__jr_str_is(&key, "prompt_tokens") && once(r, &seen, 1))
            count(r, &f->counts[PROMPT]);
        else if (llm__jr_str_is(&key, "completion_tokens") && once(r, &seen, 2))
            count(r, &f->counts[COMPLETION]);
        else if (llm__jr_str_is(&key, "prompt_tokens_details") && once(r, &seen, 4))
            details(r, "cached_tokens", &f->counts[CACHED]);
        else if (llm__jr_str_is(&key, "completion_tokens_details") && once(r, &seen, 8))
            details(r, "reasoning_tokens", &f->counts[REASONING]);
        else
            llm__jr_skip(r);
    }
}

/* message / delta: an object whose content is a string or null. */
static void message(struct llm__jr *r, struct found *f)
{
    if (!llm__jr_enter_object(r))
        return;
    f->has_message = true;
    unsigned seen = 0;
    struct llm__jr_str key;
    while (llm__jr_next_key(r, &key)) {
        if (key.escaped) {
            r->bad = true;
        } else if (llm__jr_str_is(&key, "content") && once(r, &seen, 1)) {
            enum llm__jr_type t = llm__jr_peek(r);
            if (t == LLM__JR_STRING)
                f->has_content = llm__jr_string(r, &f->content);
            else if (t == LLM__JR_NULL)
                llm__jr_skip(r);
            else
                r->bad = true; /* content parts, or not content at all */
        } else if (llm__jr_str_is(&key, "tool_calls") || llm__jr_str_is(&key, "refusal") ||
                   llm__jr_str_is(&key, "function_call")) {
            /* The tree reader reads tool calls and refusals; null is the
             * common "none" and stays on this path. */
            if (llm__jr_peek(r) == LLM__JR_NULL)
                llm__jr_skip(r);
            else
                r->bad = true;
        } else {
            llm__jr_skip(r);
        }
    }
}

static void choice(struct llm__jr *r, bool stream, struct found *f)
{
    if (!llm__jr_enter_object(r))
        return;
    f->has_choice = true;
    unsigned seen = 0;
    struct llm__jr_str key;
    while (llm__jr_next_key(r, &key)) {
        if (key.escaped)
            r->bad = true;
        else if ((stream ? llm__jr_str_is(&key, "delta") : llm__jr_str_is(&key, "message")) &&
                 once(r, &seen, 1))
            message(r, f);
        else if (llm__jr_str_is(&key, "finish_reason") && once(r, &seen, 2))
            short_string(r, &f->finish, &f->has_finish);
        else
            llm__jr_skip(r);
    }
}

static void choices(struct llm__jr *r, bool stream, struct found *f)
{
    if (llm__jr_peek(r) != LLM__JR_ARRAY) {
        /* A stream's usage chunk may carry "choices": null. */
        if (stream)
            llm__jr_skip(r);
        else
            r->bad = true;
        return;
    }
    int n = 0;
    llm__jr_enter_array(r);
    while (llm__jr_next_item(r)) {
        if (++n > 1) {
            r->bad = true; /* the tree reader picks "index": 0 among several */
            return;
        }
        choice(r, stream, f);
    }
}

static bool scan(const char *body, size_t len, bool stream, struct found *f)
{
    struct llm__jr r;
    llm__jr_init(&r, body, len);
    if (!llm__jr_enter_object(&r))
        return false;
    unsigned seen = 0;
    struct llm__jr_str key, s;
    while (llm__jr_next_key(&r, &key)) {
        if (key.escaped || llm__jr_str_is(&key, "error")) {
            return false;
        } else if (llm__jr_str_is(&key, "id") && once(&r, &seen, 1)) {
            short_string(&r, &f->id, &f->has_id);
        } else if (llm__jr_str_is(&key, "model") && once(&r, &seen, 2)) {
            short_string(&r, &f->model, &f->has_model);
        } else if (llm__jr_str_is(&key, "choices") && once(&r, &seen, 4)) {
            choices(&r, stream, f);
        } else if (llm__jr_str_is(&key, "usage") && once(&r, &seen, 8)) {
            usage(&r, f);
        } else if (llm__jr_str_is(&key, "object") && once(&r, &seen, 16)) {
            /* {"object": "error", "message": ...} is an older vLLM error. */
            if (llm__jr_peek(&r) != LLM__JR_STRING)
                llm__jr_skip(&r);
            else if (llm__jr_string(&r, &s) && (s.escaped || llm__jr_str_is(&s, "error")))
                return false;
        } else {
            llm__jr_skip(&r);
        }
        if (r.bad)
            return false;
    }
    if (!llm__jr_finish(&r))
        return false;
    /* A reply must have a choice with a message (the tree reader fails it
     * with its own words). */
    return stream || (f->has_choice && f->has_message);
}

/* *slot = the decoded `s`, unless it already holds that. */
static enum llm_error update(char **slot, const struct llm__jr_str *s)
{
    char buf[SHORT_STRING_MAX + 1];
    size_t n = llm__jr_decode(s, buf);
    buf[n] = '\0';
    return llm__parsed_update(slot, buf);
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
