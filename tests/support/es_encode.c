#include "es_encode.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transport/eventstream.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void es_encode(unsigned char *out, size_t cap, size_t *len, const char *const *hdrs,
               const char *payload)
{
    size_t hl = 0;
    for (size_t i = 0; hdrs[i] != NULL; i += 2)
        hl += 1 + strlen(hdrs[i]) + 1 + 2 + strlen(hdrs[i + 1]);
    size_t pl = strlen(payload);
    size_t total = 12 + hl + pl + 4;
    assert_true(cap - *len >= total);
    unsigned char *m = out + *len;
    put32(m, (uint32_t)total);
    put32(m + 4, (uint32_t)hl);
    put32(m + 8, llm__crc32(0, m, 8));
    unsigned char *h = m + 12;
    for (size_t i = 0; hdrs[i] != NULL; i += 2) {
        size_t nl = strlen(hdrs[i]), vl = strlen(hdrs[i + 1]);
        *h++ = (unsigned char)nl;
        memcpy(h, hdrs[i], nl);
        h += nl;
        *h++ = 7;
        *h++ = (unsigned char)(vl >> 8);
        *h++ = (unsigned char)vl;
        memcpy(h, hdrs[i + 1], vl);
        h += vl;
    }
    memcpy(h, payload, pl);
    put32(m + total - 4, llm__crc32(0, m, total - 4));
    *len += total;
}

void es_event(unsigned char *out, size_t cap, size_t *len, const char *type, const char *json)
{
    const char *const h[] = {":event-type", type, ":content-type", "application/json",
                             ":message-type", "event", NULL};
    es_encode(out, cap, len, h, json);
}

void es_exception(unsigned char *out, size_t cap, size_t *len, const char *type,
                  const char *json)
{
    const char *const h[] = {":exception-type", type, ":content-type", "application/json",
                             ":message-type", "exception", NULL};
    es_encode(out, cap, len, h, json);
}
