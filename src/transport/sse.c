/* Incremental SSE parser.  See sse.h for the contract.
 *
 * Lines that arrive whole inside one feed are parsed in place, straight out
 * of the caller's bytes; only a line cut by a feed boundary is copied, into
 * the tail of the one buffer that also holds the pending event.  Layout:
 *
 *     buf: [event name '\0'][data line '\n' ...][incomplete line]
 *           event_len        data_len             line_len
 *
 * Fields are moved inside the buffer (never into a second allocation), so
 * the buffer's size is the whole memory cost and max_event_bytes bounds it.
 *
 * Deliberate departures from a browser's EventSource: bytes are passed
 * through rather than decoded (providers send UTF-8 JSON; the consumer parses
 * it), and `id`/`retry` are ignored because nothing here reconnects. */
#include "transport/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

void llm__sse_init(struct llm__sse *p, size_t max_event_bytes)
{
    memset(p, 0, sizeof(*p));
    p->max_event_bytes = max_event_bytes != 0 ? max_event_bytes : LLM__SSE_DEFAULT_MAX_EVENT_BYTES;
}

void llm__sse_free(struct llm__sse *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    p->buf = NULL;
    p->cap = 0;
    p->event_len = p->data_len = p->line_len = 0;
}

/* Make room for `total` bytes of content (event + data + line) and a NUL. */
static int reserve(struct llm__sse *p, size_t total)
{
    if (total > p->max_event_bytes || total == SIZE_MAX)
        return LLM__SSE_TOO_LARGE;
    if (total < p->cap)
        return 0;
    size_t need = total + 1;
    size_t cap = p->cap != 0 ? p->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Doubling never takes the buffer past the bound plus its NUL. */
    if (p->max_event_bytes < SIZE_MAX && cap > p->max_event_bytes + 1)
        cap = p->max_event_bytes + 1;
    char *b = realloc(p->buf, cap);
    if (b == NULL)
        return LLM__SSE_NOMEM;
    p->buf = b;
    p->cap = cap;
    return 0;
}

static int line_append(struct llm__sse *p, const void *bytes, size_t n)
{
    size_t used = p->event_len + p->data_len + p->line_len;
    if (n > SIZE_MAX - 1 - used)
        return LLM__SSE_TOO_LARGE;
    int rc = reserve(p, used + n);
    if (rc != 0)
        return rc;
    memcpy(p->buf + used, bytes, n);
    p->line_len += n;
    return 0;
}

static void reverse(char *s, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        char t = s[i];
        s[i] = s[j - 1];
        s[j - 1] = t;
    }
}

/* Drop the pending event name, sliding data (and any buffered line) down. */
static void drop_event(struct llm__sse *p)
{
    if (p->event_len == 0)
        return;
    memmove(p->buf, p->buf + p->event_len, p->data_len + p->line_len);
    p->event_len = 0;
}

static int set_event(struct llm__sse *p, bool in_buf, const char *value, size_t vlen)
{
    /* Where the value starts once drop_event has slid everything down. */
    size_t voff = in_buf ? (size_t)(value - p->buf) - p->event_len : 0;
    drop_event(p);
    /* An empty `event:` means the stream's default type: same as none. */
    if (vlen == 0)
        return 0;
    size_t d = p->data_len;
    if (in_buf) {
        /* The value sits in the line region, after the data.  Bring it next
         * to the data and terminate it, then turn [data][value\0] into
         * [value\0][data] with three reversals.  The line held at least
         * "event:" and the value, so all of this fits where it was. */
        memmove(p->buf + d, p->buf + voff, vlen);
        p->buf[d + vlen] = '\0';
        reverse(p->buf, d);
        reverse(p->buf + d, vlen + 1);
        reverse(p->buf, d + vlen + 1);
    } else {
        if (vlen > SIZE_MAX - 2 - d)
            return LLM__SSE_TOO_LARGE;
        int rc = reserve(p, vlen + 1 + d);
        if (rc != 0)
            return rc;
        memmove(p->buf + vlen + 1, p->buf, d);
        memcpy(p->buf, value, vlen);
        p->buf[vlen] = '\0';
    }
    p->event_len = vlen + 1;
    return 0;
}

static int add_data(struct llm__sse *p, bool in_buf, const char *value, size_t vlen)
{
    size_t end = p->event_len + p->data_len;
    if (!in_buf) {
        if (vlen > SIZE_MAX - 2 - end)
            return LLM__SSE_TOO_LARGE;
        int rc = reserve(p, end + vlen + 1);
        if (rc != 0)
            return rc;
    }
    /* In the buffer the value lies after `end` at a distance of at least
     * "data:", so moving it down and adding '\n' stays inside the line. */
    if (vlen > 0)
        memmove(p->buf + end, value, vlen);
    p->buf[end + vlen] = '\n';
    p->data_len += vlen + 1;
    return 0;
}

static int dispatch(struct llm__sse *p, llm__sse_event_fn *cb, void *user)
{
    size_t e = p->event_len, d = p->data_len;
    p->event_len = p->data_len = 0;
    /* No data field: nothing to dispatch, and the event name is forgotten. */
    if (d == 0)
        return 0;
    /* The last data line's '\n' is the one the spec strips; it becomes the
     * NUL the callback is promised. */
    p->buf[e + d - 1] = '\0';
    return cb(user, e != 0 ? p->buf : NULL, p->buf + e, d - 1);
}

/* One complete line (without its terminator), either in the buffer's line
 * region (in_buf) or in the caller's bytes. */
static int process_line(struct llm__sse *p, bool in_buf, const char *line, size_t n,
                        llm__sse_event_fn *cb, void *user)
{
    if (n == 0)
        return dispatch(p, cb, user);
    if (line[0] == ':')
        return 0;
    /* The bound is a property of the bytes, not of where the reads split
     * them: a line parsed in place counts as if it had been buffered (the
     * pending event plus the whole line), so an over-long id: or unknown
     * field gets the same verdict in one read as cut across several.  A
     * buffered line was counted by line_append. */
    if (!in_buf && n > p->max_event_bytes - (p->event_len + p->data_len))
        return LLM__SSE_TOO_LARGE;
    const char *colon = memchr(line, ':', n);
    size_t flen = colon != NULL ? (size_t)(colon - line) : n;
    const char *value = colon != NULL ? colon + 1 : line + n;
    size_t vlen = colon != NULL ? n - flen - 1 : 0;
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0)
        return add_data(p, in_buf, value, vlen);
    if (flen == 5 && memcmp(line, "event", 5) == 0)
        return set_event(p, in_buf, value, vlen);
    /* id, retry and unknown fields: nothing to do. */
    return 0;
}

static int stop(struct llm__sse *p, int rc)
{
    p->status = rc;
    return rc;
}

static size_t find_eol(const char *s, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++) {
        if (s[i] == '\n' || s[i] == '\r')
            return i;
    }
    return len;
}

int llm__sse_feed(struct llm__sse *p, const char *buf, size_t len, llm__sse_event_fn *cb,
                  void *user)
{
    if (p->status != 0)
        return p->status;
    if (len == 0)
        return 0;
    size_t i = 0;
    int rc;

    /* A UTF-8 byte order mark is allowed once, at the very start, and may
     * itself be split across feeds. */
    while (!p->bom_done && i < len) {
        if ((unsigned char)buf[i] == utf8_bom[p->bom_seen]) {
            i++;
            if (++p->bom_seen == sizeof(utf8_bom))
                p->bom_done = true;
        } else {
            p->bom_done = true;
            /* Not a BOM after all: the bytes held back start the first line. */
            if (p->bom_seen > 0 && (rc = line_append(p, utf8_bom, p->bom_seen)) != 0)
                return stop(p, rc);
        }
    }

    /* A CR ended the previous feed: an LF here completes the same CRLF. */
    if (p->cr_pending && i < len) {
        p->cr_pending = false;
        if (buf[i] == '\n')
            i++;
    }

    while (i < len) {
        size_t eol = find_eol(buf, i, len);
        if (eol == len) {
            /* Incomplete line: keep it for the next feed, except comments,
             * which are only ever skipped (so keep-alive comments of any
             * length cost nothing). */
            if (!p->in_comment && p->line_len == 0 && buf[i] == ':')
                p->in_comment = true;
            if (!p->in_comment && (rc = line_append(p, buf + i, len - i)) != 0)
                return stop(p, rc);
            break;
        }

        size_t next = eol + 1;
        if (buf[eol] == '\r') {
            if (next < len) {
                if (buf[next] == '\n')
                    next++;
            } else {
                p->cr_pending = true;
            }
        }

        if (p->in_comment) {
            p->in_comment = false;
            rc = 0;
        } else if (p->line_len > 0) {
            if ((rc = line_append(p, buf + i, eol - i)) != 0)
                return stop(p, rc);
            const char *line = p->buf + p->event_len + p->data_len;
            size_t n = p->line_len;
            rc = process_line(p, true, line, n, cb, user);
            p->line_len = 0;
        } else {
            rc = process_line(p, false, buf + i, eol - i, cb, user);
        }
        if (rc != 0)
            return stop(p, rc);
        i = next;
    }
    return 0;
}
