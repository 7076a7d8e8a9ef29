/* NDJSON reader; see ndjson.h. */
#include "transport/ndjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void llm__ndjson_init(struct llm__ndjson *r, size_t max_line_bytes)
{
    memset(r, 0, sizeof(*r));
    r->max_line_bytes = max_line_bytes ? max_line_bytes : LLM__NDJSON_DEFAULT_MAX_LINE_BYTES;
}

void llm__ndjson_free(struct llm__ndjson *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    r->buf = NULL;
    r->cap = r->len = 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Hand on line s[0..n) (CR stripped), copied so that it is NUL-terminated
 * as the callback's contract requires. */
static int emit(struct llm__ndjson *r, const char *s, size_t n, llm__sse_event_fn *cb, void *user)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (blank(s, n))
        return 0;
    if (s != r->buf) {
        if (n + 1 > r->cap) {
            char *b = realloc(r->buf, n + 1);
            if (b == NULL)
                return LLM__NDJSON_NOMEM;
            r->buf = b;
            r->cap = n + 1;
        }
        memcpy(r->buf, s, n);
    }
    r->buf[n] = '\0';
    return cb(user, NULL, r->buf, n);
}

static int append(struct llm__ndjson *r, const char *s, size_t n)
{
    if (n > r->max_line_bytes - r->len)
        return LLM__NDJSON_TOO_LARGE;
    size_t need = r->len + n + 1;
    if (need > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        char *b = realloc(r->buf, cap);
        if (b == NULL)
            return LLM__NDJSON_NOMEM;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    return 0;
}

int llm__ndjson_feed(struct llm__ndjson *r, const char *buf, size_t len, llm__sse_event_fn *cb,
                     void *user)
{
    while (r->status == 0 && len > 0) {
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        int rc;
        if (nl != NULL && r->len == 0) {
            /* Whole line in this feed (the common case): no copy to the
             * buffer first; still bounded. */
            rc = n > r->max_line_bytes ? LLM__NDJSON_TOO_LARGE : emit(r, buf, n, cb, user);
        } else {
            rc = append(r, buf, n);
            if (rc == 0 && nl != NULL) {
                size_t l = r->len;
                r->len = 0;
                rc = emit(r, r->buf, l, cb, user);
            }
        }
        if (rc != 0) {
            r->status = rc;
            break;
        }
        if (nl == NULL)
            break;
        buf += n + 1;
        len -= n + 1;
    }
    return r->status;
}

int llm__ndjson_finish(struct llm__ndjson *r, llm__sse_event_fn *cb, void *user)
{
    if (r->status != 0 || r->len == 0)
        return r->status;
    size_t l = r->len;
    r->len = 0;
    int rc = emit(r, r->buf, l, cb, user);
    if (rc != 0)
        r->status = rc;
    return r->status;
}
