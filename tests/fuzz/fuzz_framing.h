/* Shared body of the stream-framing fuzz targets (fuzz_eventstream.c,
 * fuzz_ndjson.c), as fuzz_sse.c checks the SSE parser: the same stream is
 * fed once whole and once in pieces chosen by the input; both runs must
 * deliver the same messages in the same order and end with the same
 * verdict, and after a stop a further feed returns the same code without
 * delivering anything.  Each delivered message is also applied to a
 * provider's parse_stream_event (as the engine does) and the accumulated
 * reply checked for consistency.  Header only (static functions).
 *
 * Input layout: [limit][stop_after][seed0][seed1][seed2][seed3][stream...]
 *   limit       max bytes per message/line: 0 = the default, else 4 * limit
 *   stop_after  0 = never stop; k = the callback returns 7 at message k
 *   seed0..3    seed of the split points (seed0 == 0xff: one byte a feed) */
#ifndef FUZZ_FRAMING_H
#define FUZZ_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/provider.h"
#include "transport/framing.h"

#define FUZZ_FRAMING_MAX_INPUT 65536
#define FUZZ_FRAMING_HEADER 6

struct fuzz_log {
    unsigned char *b;
    size_t len, cap;
    unsigned events, stop_after;
    const struct llm_provider *prov;
    struct llm_parsed acc;
    bool acc_failed;
};

static void fuzz_put(struct fuzz_log *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n)
            cap *= 2;
        unsigned char *nb = realloc(l->b, cap);
        if (nb == NULL)
            abort();
        l->b = nb;
        l->cap = cap;
    }
    memcpy(l->b + l->len, p, n);
    l->len += n;
}

static void fuzz_check_acc(const struct llm_parsed *p, enum llm_error rc)
{
    if (rc != LLM_OK && rc != LLM_ERR_PARSE && rc != LLM_ERR_OUT_OF_MEMORY &&
        rc != LLM_ERR_RESPONSE_TOO_LARGE)
        abort();
    if (p->content != NULL && (p->content_len >= p->content_cap || p->content[p->content_len] != '\0'))
        abort();
    if (p->content == NULL && p->content_len != 0)
        abort();
    if (rc == LLM_ERR_PARSE && p->error_message == NULL)
        abort();
    if (p->usage.input_tokens < 0 || p->usage.output_tokens < 0 ||
        p->usage.cached_input_tokens < 0 || p->usage.cache_write_tokens < 0 ||
        p->usage.reasoning_tokens < 0)
        abort();
}

static int fuzz_on_message(void *user, const char *event, const char *data, size_t len)
{
    struct fuzz_log *l = user;
    /* The callback contract (sse.h): data NUL-terminated at len. */
    if (data == NULL || data[len] != '\0')
        abort();
    unsigned char has = event != NULL;
    size_t elen = event != NULL ? strlen(event) : 0;
    uint32_t u = (uint32_t)elen, v = (uint32_t)len;
    fuzz_put(l, &has, 1);
    fuzz_put(l, &u, sizeof(u));
    fuzz_put(l, event != NULL ? event : "", elen);
    fuzz_put(l, &v, sizeof(v));
    fuzz_put(l, data, len);
    if (l->prov != NULL && !l->acc_failed) {
        char *copy = malloc(len > 0 ? len : 1);
        if (copy == NULL)
            abort();
        memcpy(copy, data, len);
        enum llm_error rc = l->prov->vtable->parse_stream_event(l->prov, event, copy, len, &l->acc);
        free(copy);
        fuzz_check_acc(&l->acc, rc);
        l->acc_failed = rc != LLM_OK;
    }
    l->events++;
    return l->stop_after != 0 && l->events == l->stop_after ? 7 : 0;
}

static uint32_t fuzz_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void fuzz_check_sticky(struct llm__framer *f, int rc, struct fuzz_log *l)
{
    if (rc == 0)
        return;
    size_t before = l->len;
    static const char more[] = "{}\n";
    if (llm__framer_feed(f, more, sizeof(more) - 1, fuzz_on_message, l) != rc || l->len != before)
        abort();
}

/* Run one input through `kind` (messages applied to `prov`, may be NULL). */
static void fuzz_framing_one(enum llm_stream_framing kind, const struct llm_provider *prov,
                             const uint8_t *data, size_t size)
{
    if (size < FUZZ_FRAMING_HEADER || size > FUZZ_FRAMING_MAX_INPUT)
        return;
    size_t limit = data[0] == 0 ? 0 : (size_t)data[0] * 4;
    unsigned stop_after = data[1];
    uint32_t seed = (uint32_t)data[2] | (uint32_t)data[3] << 8 | (uint32_t)data[4] << 16 |
                    (uint32_t)data[5] << 24;
    bool bytewise = data[2] == 0xff;
    size_t n = size - FUZZ_FRAMING_HEADER;
    char *s = malloc(n > 0 ? n : 1);
    if (s == NULL)
        return;
    memcpy(s, data + FUZZ_FRAMING_HEADER, n);

    struct fuzz_log whole = {.stop_after = stop_after, .prov = prov};
    struct fuzz_log split = {.stop_after = stop_after, .prov = prov};
    struct llm__framer f;

    llm__framer_init(&f, kind, limit);
    int rc_whole = llm__framer_feed(&f, s, n, fuzz_on_message, &whole);
    if (rc_whole == 0)
        rc_whole = llm__framer_finish(&f, fuzz_on_message, &whole);
    fuzz_check_sticky(&f, rc_whole, &whole);
    llm__framer_free(&f);

    llm__framer_init(&f, kind, limit);
    int rc_split = 0;
    uint32_t st = seed != 0 ? seed : 0x9e3779b9u;
    uint32_t span = bytewise ? 1 : 1u << (2 * (seed & 3));
    for (size_t off = 0; off < n && rc_split == 0;) {
        size_t k = bytewise ? 1 : fuzz_next(&st) % (span + 1);
        if (k > n - off)
            k = n - off;
        rc_split = llm__framer_feed(&f, s + off, k, fuzz_on_message, &split);
        off += k;
    }
    if (rc_split == 0)
        rc_split = llm__framer_finish(&f, fuzz_on_message, &split);
    fuzz_check_sticky(&f, rc_split, &split);
    llm__framer_free(&f);

    if (rc_whole != rc_split || whole.len != split.len ||
        (whole.len != 0 && memcmp(whole.b, split.b, whole.len) != 0))
        abort();
    if (rc_whole != 0 && rc_whole != 7 && rc_whole != LLM__SSE_TOO_LARGE &&
        rc_whole != LLM__ES_CORRUPT)
        abort();

    llm_parsed_clear(&whole.acc);
    llm_parsed_clear(&split.acc);
    free(whole.b);
    free(split.b);
    free(s);
}

#endif /* FUZZ_FRAMING_H */
