/* Response header collection.  See headers.h. */
#include "transport/headers.h"

#include <stdlib.h>
#include <string.h>

void llm__hdr_list_reset(struct llm__hdr_list *l)
{
    l->view_ok = false;
    l->n = 0;
    l->bytes = 0;
    l->buf.len = 0;
}

static bool grow_refs(struct llm__hdr_list *l)
{
    size_t ncap = l->cap ? l->cap * 2 : 16;
    struct llm__hdr_ref *nr = realloc(l->refs, ncap * sizeof(*nr));
    if (!nr)
        return false;
    l->refs = nr;
    l->cap = ncap;
    free(l->view); /* sized by cap: remade by llm__hdr_list_view */
    l->view = NULL;
    return true;
}

bool llm__hdr_list_add_line(struct llm__hdr_list *l, const char *line, size_t len,
                            size_t max_headers, size_t max_bytes)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || l->n >= max_headers || l->bytes + len > max_bytes)
        return true; /* status line tail, blank line, or past our bounds: skip */
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    l->view_ok = false;
    if (l->n == l->cap && !grow_refs(l))
        return false;
    /* The line up to the end of the value in one copy, its colon and end
     * made NULs: "name\0 value\0" (four buffer appends cost ~500
     * instructions a line, callgrind).  No overflow: `keep` is at most
     * the line, and the bytes kept are capped by max_bytes. */
    size_t keep = (size_t)(end - line);
    size_t at = l->buf.len;
    if (at + keep + 2 > l->buf.cap && !llm__grow(&l->buf.data, &l->buf.cap, at + keep + 2, false))
        return false;
    char *d = l->buf.data + at;
    memcpy(d, line, keep);
    d[nlen] = '\0';
    d[keep] = '\0';
    l->buf.len = at + keep + 1;
    l->buf.data[l->buf.len] = '\0'; /* as llm__buf_append leaves it */
    /* Offsets fit in 32 bits when max_bytes does. */
    struct llm__hdr_ref ref = {.name = (uint32_t)at, .value = (uint32_t)(at + (size_t)(v - line))};
    l->refs[l->n++] = ref;
    l->bytes += len;
    return true;
}

bool llm__hdr_list_view(struct llm__hdr_list *l, struct llm_http_headers *out)
{
    out->items = NULL;
    out->n = 0;
    if (l->n == 0)
        return true;
    /* The view of a complete header block is asked for twice (on_headers,
     * then the outcome): made once. */
    if (l->view_ok) {
        out->items = l->view;
        out->n = l->n;
        return true;
    }
    /* The pairs no longer move once the headers are complete. */
    if (!l->view)
        l->view = malloc(l->cap * sizeof(*l->view));
    if (!l->view)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        l->view[i].name = l->buf.data + l->refs[i].name;
        l->view[i].value = l->buf.data + l->refs[i].value;
    }
    l->view_ok = true;
    out->items = l->view;
    out->n = l->n;
    return true;
}

void llm__hdr_list_trim(struct llm__hdr_list *l, size_t keep_bytes)
{
    llm__hdr_list_reset(l);
    if (l->buf.cap > keep_bytes)
        llm__buf_free(&l->buf);
    if (l->cap > 64) {
        free(l->refs);
        free(l->view);
        l->refs = NULL;
        l->view = NULL;
        l->cap = 0;
    }
}

void llm__hdr_list_free(struct llm__hdr_list *l)
{
    llm__buf_free(&l->buf);
    free(l->refs);
    free(l->view);
    memset(l, 0, sizeof(*l));
}
