/* libFuzzer target: the incremental SSE parser (src/transport/sse.c).
 *
 * Property: the events and the verdict are a function of the bytes alone,
 * never of where the network cut them.  The same stream is fed once whole
 * and once in pieces whose sizes come from the input; both runs must call
 * back with the same events in the same order and end with the same return
 * code.  After a stop, a further feed must return the same code without
 * calling back (the parser is sticky).  This property found issue 10 #13
 * (an over-long non-data field line accepted whole, RESPONSE_TOO_LARGE when
 * split; a data line near the limit stopping earlier split than whole);
 * both inputs are in the seeds.
 *
 * Input layout: [limit][stop_after][seed0][seed1][seed2][seed3][stream...]
 *   limit       max_event_bytes: 0 = the default (16 MiB), else 2 * limit,
 *               so the size limit is hit often
 *   stop_after  0 = the callback never stops; k = it returns 7 on event k
 *   seed0..3    seed of the split points (seed0 == 0xff: one byte a feed) */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/sse.h"

#define MAX_INPUT 65536
#define HEADER 6

/* Events recorded as [has_name][name_len u32][name][data_len u32][data]. */
struct log {
    unsigned char *b;
    size_t len, cap;
    unsigned events, stop_after;
};

static void put(struct log *l, const void *p, size_t n)
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

static void put_u32(struct log *l, size_t v)
{
    uint32_t u = (uint32_t)v;
    put(l, &u, sizeof(u));
}

static int on_event(void *user, const char *event, const char *data, size_t data_len)
{
    struct log *l = user;
    /* Contract of sse.h: data is non-NULL and NUL-terminated at data_len.
     * (A name is NUL-terminated; `event:` followed by NUL bytes gives a name
     * that reads as "" rather than NULL: consumers treat both alike.) */
    if (data == NULL || data[data_len] != '\0')
        abort();
    unsigned char has = event != NULL;
    put(l, &has, 1);
    size_t elen = event != NULL ? strlen(event) : 0;
    put_u32(l, elen);
    put(l, event != NULL ? event : "", elen);
    put_u32(l, data_len);
    put(l, data, data_len);
    l->events++;
    return l->stop_after != 0 && l->events == l->stop_after ? 7 : 0;
}

static uint32_t next(uint32_t *s)
{
    /* xorshift32; never 0 once seeded non-zero. */
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Feed again after a stop: same code, no event. */
static void check_sticky(struct llm__sse *p, int rc, struct log *l)
{
    if (rc == 0)
        return;
    size_t before = l->len;
    static const char more[] = "data: after\n\n";
    if (llm__sse_feed(p, more, sizeof(more) - 1, on_event, l) != rc || l->len != before)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER || size > MAX_INPUT)
        return 0;
    size_t limit = data[0] == 0 ? 0 : (size_t)data[0] * 2;
    unsigned stop_after = data[1];
    uint32_t seed = (uint32_t)data[2] | (uint32_t)data[3] << 8 | (uint32_t)data[4] << 16 |
                    (uint32_t)data[5] << 24;
    bool bytewise = data[2] == 0xff;
    size_t n = size - HEADER;
    /* An exact-size copy: a read past the stream is caught by ASan. */
    char *s = malloc(n > 0 ? n : 1);
    if (s == NULL)
        return 0;
    memcpy(s, data + HEADER, n);

    struct log whole = {.stop_after = stop_after}, split = {.stop_after = stop_after};
    struct llm__sse p;

    llm__sse_init(&p, limit);
    int rc_whole = llm__sse_feed(&p, s, n, on_event, &whole);
    check_sticky(&p, rc_whole, &whole);
    llm__sse_free(&p);

    llm__sse_init(&p, limit);
    int rc_split = 0;
    uint32_t st = seed != 0 ? seed : 0x9e3779b9u;
    /* Piece sizes up to 1, 4, 16 or 64 bytes (chosen by the seed), with
     * empty feeds in between now and then. */
    uint32_t span = bytewise ? 1 : 1u << (2 * (seed & 3));
    for (size_t off = 0; off < n && rc_split == 0;) {
        size_t k = bytewise ? 1 : next(&st) % (span + 1);
        if (k > n - off)
            k = n - off;
        rc_split = llm__sse_feed(&p, s + off, k, on_event, &split);
        off += k;
    }
    check_sticky(&p, rc_split, &split);
    llm__sse_free(&p);

    if (rc_whole != rc_split || whole.len != split.len ||
        (whole.len != 0 && memcmp(whole.b, split.b, whole.len) != 0))
        abort();
    if (rc_whole != 0 && rc_whole != 7 && rc_whole != LLM__SSE_TOO_LARGE)
        abort();

    free(whole.b);
    free(split.b);
    free(s);
    return 0;
}
