/* AWS event-stream decoder; see eventstream.h. */
#include "transport/eventstream.h"

#include <stdlib.h>
#include <string.h>

#define PRELUDE 12u

uint32_t llm__crc32(uint32_t crc, const void *data, size_t len)
{
    /* Nibble-at-a-time table for the reflected polynomial 0xEDB88320:
     * 64 bytes of table instead of 1 KiB, fast enough for LLM streams. */
    static const uint32_t t[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return ~crc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void llm__es_init(struct llm__es *d, size_t max_message_bytes)
{
    memset(d, 0, sizeof(*d));
    d->need = PRELUDE;
    d->max_message_bytes = max_message_bytes ? max_message_bytes
                                             : LLM__ES_DEFAULT_MAX_MESSAGE_BYTES;
    if (d->max_message_bytes < LLM__ES_MIN_MESSAGE)
        d->max_message_bytes = LLM__ES_MIN_MESSAGE;
}

void llm__es_free(struct llm__es *d)
{
    if (d == NULL)
        return;
    free(d->buf);
    d->buf = NULL;
    d->cap = d->len = 0;
}

bool llm__es_idle(const struct llm__es *d)
{
    return d->len == 0;
}

static int corrupt(struct llm__es *d, const char *why)
{
    d->detail = why;
    return LLM__ES_CORRUPT;
}

/* The string headers the callback needs, borrowed from the message. */
struct es_headers {
    const char *message_type, *event_type, *exception_type, *error_code, *error_message;
    size_t message_type_len, event_type_len, exception_type_len, error_code_len,
        error_message_len;
};

static bool name_is(const unsigned char *n, size_t nl, const char *want)
{
    return nl == strlen(want) && memcmp(n, want, nl) == 0;
}

static int parse_headers(struct llm__es *d, const unsigned char *h, size_t n,
                         struct es_headers *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    while (i < n) {
        size_t nl = h[i++];
        if (nl == 0 || nl > n - i)
            return corrupt(d, "event-stream header name overruns the headers");
        const unsigned char *name = h + i;
        i += nl;
        if (i >= n)
            return corrupt(d, "event-stream header has no value type");
        unsigned type = h[i++];
        size_t vl;
        switch (type) {
        case 0: /* bool true */
        case 1: /* bool false */
            vl = 0;
            break;
        case 2: vl = 1; break;  /* byte */
        case 3: vl = 2; break;  /* short */
        case 4: vl = 4; break;  /* int */
        case 5: vl = 8; break;  /* long */
        case 8: vl = 8; break;  /* timestamp (ms) */
        case 9: vl = 16; break; /* uuid */
        case 6:                 /* byte array */
        case 7:                 /* string */
            if (n - i < 2)
                return corrupt(d, "event-stream header value length overruns the headers");
            vl = (size_t)h[i] << 8 | h[i + 1];
            i += 2;
            break;
        default:
            return corrupt(d, "event-stream header has an unknown value type");
        }
        if (vl > n - i)
            return corrupt(d, "event-stream header value overruns the headers");
        if (type == 7) {
            const char *v = (const char *)(h + i);
            if (name_is(name, nl, ":message-type")) {
                out->message_type = v;
                out->message_type_len = vl;
            } else if (name_is(name, nl, ":event-type")) {
                out->event_type = v;
                out->event_type_len = vl;
            } else if (name_is(name, nl, ":exception-type")) {
                out->exception_type = v;
                out->exception_type_len = vl;
            } else if (name_is(name, nl, ":error-code")) {
                out->error_code = v;
                out->error_code_len = vl;
            } else if (name_is(name, nl, ":error-message")) {
                out->error_message = v;
                out->error_message_len = vl;
            }
        }
        i += vl;
    }
    return 0;
}

static bool is(const char *s, size_t n, const char *want)
{
    return s != NULL && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* A whole message sits in d->buf[0..d->need): check it and hand it on. */
static int deliver(struct llm__es *d, llm__sse_event_fn *cb, void *user)
{
    const unsigned char *m = d->buf;
    size_t total = d->need;
    if (llm__crc32(0, m, total - 4) != be32(m + total - 4))
        return corrupt(d, "event-stream message CRC mismatch");
    size_t hlen = be32(m + 4);
    struct es_headers h;
    int rc = parse_headers(d, m + PRELUDE, hlen, &h);
    if (rc != 0)
        return rc;
    const unsigned char *payload = m + PRELUDE + hlen;
    size_t plen = total - PRELUDE - hlen - 4;

    /* The event name, NUL-terminated: "<type>", "exception:<type>" or
     * "error:<code>".  Header strings are at most 65535 bytes. */
    char name[80];
    const char *prefix = "", *v = NULL;
    size_t vl = 0;
    const char *data = (const char *)payload;
    size_t data_len = plen;
    if (h.message_type == NULL || is(h.message_type, h.message_type_len, "event")) {
        v = h.event_type;
        vl = h.event_type_len;
    } else if (is(h.message_type, h.message_type_len, "exception")) {
        prefix = "exception:";
        v = h.exception_type;
        vl = h.exception_type_len;
    } else if (is(h.message_type, h.message_type_len, "error")) {
        prefix = "error:";
        v = h.error_code;
        vl = h.error_code_len;
        data = h.error_message ? h.error_message : "";
        data_len = h.error_message ? h.error_message_len : 0;
    } else {
        return corrupt(d, "event-stream message has an unknown :message-type");
    }
    size_t pl = strlen(prefix);
    if (vl > sizeof(name) - 1 - pl)
        vl = sizeof(name) - 1 - pl; /* no event or exception name is that long */
    memcpy(name, prefix, pl);
    if (vl > 0)
        memcpy(name + pl, v, vl);
    name[pl + vl] = '\0';

    /* The callback's contract (sse.h) wants data NUL-terminated at
     * data[len]: copy it out (the message CRC sits right after the payload
     * and may not be overwritten before the check above, which is done). */
    char *copy = malloc(data_len + 1);
    if (copy == NULL)
        return LLM__ES_NOMEM;
    if (data_len > 0)
        memcpy(copy, data, data_len);
    copy[data_len] = '\0';
    rc = cb(user, name[0] ? name : NULL, copy, data_len);
    free(copy);
    return rc;
}

static int reserve(struct llm__es *d, size_t n)
{
    if (n <= d->cap)
        return 0;
    size_t cap = d->cap ? d->cap : 256;
    while (cap < n)
        cap = cap > SIZE_MAX / 2 ? n : cap * 2;
    unsigned char *b = realloc(d->buf, cap);
    if (b == NULL)
        return LLM__ES_NOMEM;
    d->buf = b;
    d->cap = cap;
    return 0;
}

int llm__es_feed(struct llm__es *d, const void *buf, size_t len, llm__sse_event_fn *cb,
                 void *user)
{
    const unsigned char *p = buf;
    while (d->status == 0 && len > 0) {
        size_t take = d->need - d->len;
        if (take > len)
            take = len;
        int rc = reserve(d, d->len + take);
        if (rc != 0) {
            d->status = rc;
            break;
        }
        memcpy(d->buf + d->len, p, take);
        d->len += take;
        p += take;
        len -= take;
        if (d->len < d->need)
            break;
        if (d->need == PRELUDE) {
            uint32_t total = be32(d->buf), hlen = be32(d->buf + 4);
            if (llm__crc32(0, d->buf, 8) != be32(d->buf + 8))
                rc = corrupt(d, "event-stream prelude CRC mismatch");
            else if (total < LLM__ES_MIN_MESSAGE || hlen > total - LLM__ES_MIN_MESSAGE)
                rc = corrupt(d, "event-stream message lengths are inconsistent");
            else if (total > d->max_message_bytes)
                rc = LLM__ES_TOO_LARGE;
            if (rc != 0) {
                d->status = rc;
                break;
            }
            d->need = total;
            continue;
        }
        rc = deliver(d, cb, user);
        d->len = 0;
        d->need = PRELUDE;
        if (rc != 0)
            d->status = rc;
    }
    return d->status;
}
