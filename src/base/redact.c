/* See redact.h.  The common case is a string without any secret: one
 * memmem per secret, no allocation. */
#include "base/redact.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

bool llm__secrets_add(struct llm__secrets *set, const char *secret, size_t len)
{
    if (!secret || len < LLM__SECRET_MIN_LEN || set->n >= LLM__MAX_SECRETS)
        return true;
    for (size_t i = 0; i < set->n; i++)
        if (set->len[i] == len && memcmp(set->s[i], secret, len) == 0)
            return true;
    char *copy = llm__strndup(secret, len);
    if (!copy)
        return false;
    set->s[set->n] = copy;
    set->len[set->n] = len;
    set->n++;
    return true;
}

bool llm__secrets_add_header(struct llm__secrets *set, const char *name, const char *value)
{
#define NAME(s) {s, sizeof(s) - 1}
    static const struct {
        const char *s;
        size_t len;
    } names[] = {NAME("authorization"), NAME("proxy-authorization"), NAME("x-api-key"),
                 NAME("api-key"), NAME("x-goog-api-key"), NAME("x-amz-security-token")};
#undef NAME
    if (!name || !value)
        return true;
    /* Most headers are no credential, and their length alone says so: a
     * compare of each name only when the lengths agree. */
    size_t nl = strlen(name);
    bool secret = false;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !secret; i++)
        secret = nl == names[i].len && llm__strcaseeq(name, names[i].s);
    if (!secret)
        return true;
    /* A SigV4 Authorization is a per-request MAC (new each attempt) over a
     * public key id, not a reusable credential: remembering each one would
     * only fill the set. */
    if (strncmp(value, "AWS4-HMAC-SHA256 ", 17) == 0)
        return true;
    bool ok = llm__secrets_add(set, value, strlen(value));
    /* "Bearer <token>", "Basic <b64>": the token alone is the secret. */
    const char *sp = strchr(value, ' ');
    if (sp) {
        while (*sp == ' ')
            sp++;
        ok = llm__secrets_add(set, sp, strlen(sp)) && ok;
    }
    return ok;
}

void llm__secrets_free(struct llm__secrets *set)
{
    for (size_t i = 0; i < set->n; i++) {
        /* The copies held keys: leave no trace in freed memory. */
        volatile char *p = set->s[i];
        for (size_t j = 0; j < set->len[i]; j++)
            p[j] = 0;
        free(set->s[i]);
    }
    set->n = 0;
}

bool llm__secrets_found(const struct llm__secrets *set, const char *s, size_t len)
{
    if (!s)
        return false;
    for (size_t i = 0; i < set->n; i++)
        if (memmem(s, len, set->s[i], set->len[i]))
            return true;
    return false;
}

/* One pass for one secret: a new string, or NULL when out of memory. */
static char *replace_all(const char *s, size_t len, const char *secret, size_t slen, size_t *out_len)
{
    struct llm__buf b = {0};
    const char *p = s, *end = s + len;
    for (;;) {
        const char *hit = memmem(p, (size_t)(end - p), secret, slen);
        if (!hit)
            break;
        if (llm__buf_append(&b, p, (size_t)(hit - p)) != LLM_OK ||
            llm__buf_append(&b, LLM__REDACTED, sizeof(LLM__REDACTED) - 1) != LLM_OK) {
            llm__buf_free(&b);
            return NULL;
        }
        p = hit + slen;
    }
    if (llm__buf_append(&b, p, (size_t)(end - p)) != LLM_OK) {
        llm__buf_free(&b);
        return NULL;
    }
    *out_len = b.len;
    return llm__buf_steal(&b);
}

char *llm__redact(const struct llm__secrets *set, char *s, size_t *len)
{
    if (!s || !set || set->n == 0)
        return s;
    size_t n = len ? *len : strlen(s);
    for (size_t i = 0; i < set->n; i++) {
        if (!memmem(s, n, set->s[i], set->len[i]))
            continue;
        size_t nlen = 0;
        char *r = replace_all(s, n, set->s[i], set->len[i], &nlen);
        free(s);
        if (!r) {
            /* Never hand back the secret: lose the message instead. */
            s = llm__strdup(LLM__REDACTED);
            n = s ? strlen(s) : 0;
            break;
        }
        s = r;
        n = nlen;
    }
    if (len)
        *len = n;
    return s;
}
