/* AWS event-stream decoder: a ConverseStream reply decoded whole, split at
 * every byte boundary and fed byte by byte (identical results), both CRCs
 * checked, every header value type parsed, malformed framing refused, and
 * memory bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "es_encode.h"
#include "transport/eventstream.h"

#define CAP 8192

/* What the callback saw: "name|data\n" per message. */
struct seen {
    char text[CAP];
    size_t len;
    int stop_after; /* return 7 after this many messages; 0 = never */
    int n;
};

static int collect(void *user, const char *event, const char *data, size_t len)
{
    struct seen *s = user;
    assert_int_equal(data[len], '\0');
    int w = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s|%.*s\n",
                     event ? event : "(null)", (int)len, data);
    assert_true(w > 0 && (size_t)w < sizeof(s->text) - s->len);
    s->len += (size_t)w;
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

/* A ConverseStream reply as Bedrock sends it (WIRE-NOTES.md). */
static size_t converse_stream(unsigned char *out)
{
    size_t n = 0;
    es_event(out, CAP, &n, "messageStart", "{\"p\":\"abcd\",\"role\":\"assistant\"}");
    es_event(out, CAP, &n, "contentBlockDelta",
             "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"},\"p\":\"ab\"}");
    es_event(out, CAP, &n, "contentBlockDelta",
             "{\"contentBlockIndex\":0,\"delta\":{\"text\":\", w\\u00f6rld\"},\"p\":\"a\"}");
    es_event(out, CAP, &n, "contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abc\"}");
    es_event(out, CAP, &n, "messageStop", "{\"p\":\"ab\",\"stopReason\":\"end_turn\"}");
    es_event(out, CAP, &n, "metadata",
             "{\"metrics\":{\"latencyMs\":312},\"p\":\"abcdef\",\"usage\":{\"inputTokens\":12,"
             "\"outputTokens\":5,\"totalTokens\":17}}");
    return n;
}

static const char converse_expected[] =
    "messageStart|{\"p\":\"abcd\",\"role\":\"assistant\"}\n"
    "contentBlockDelta|{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"},\"p\":\"ab\"}\n"
    "contentBlockDelta|{\"contentBlockIndex\":0,\"delta\":{\"text\":\", w\\u00f6rld\"},\"p\":\"a\"}\n"
    "contentBlockStop|{\"contentBlockIndex\":0,\"p\":\"abc\"}\n"
    "messageStop|{\"p\":\"ab\",\"stopReason\":\"end_turn\"}\n"
    "metadata|{\"metrics\":{\"latencyMs\":312},\"p\":\"abcdef\",\"usage\":{\"inputTokens\":12,"
    "\"outputTokens\":5,\"totalTokens\":17}}\n";

static void crc32_gives_the_standard_check_value(void **state)
{
    (void)state;
    assert_int_equal(llm__crc32(0, "123456789", 9), 0xCBF43926u);
    /* Continuing from a previous value equals one pass. */
    assert_int_equal(llm__crc32(llm__crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    assert_int_equal(llm__crc32(0, "", 0), 0u);
}

static void eventstream_decodes_a_converse_stream_fed_whole(void **state)
{
    (void)state;
    unsigned char buf[CAP];
    size_t n = converse_stream(buf);
    struct llm__es d;
    llm__es_init(&d, 0);
    struct seen s = {0};
    assert_int_equal(llm__es_feed(&d, buf, n, collect, &s), 0);
    assert_string_equal(s.text, converse_expected);
    assert_true(llm__es_idle(&d));
    llm__es_free(&d);
}

static void eventstream_split_at_every_byte_boundary_reassembles_identically(void **state)
{
    (void)state;
    unsigned char buf[CAP];
    size_t n = converse_stream(buf);
    for (size_t cut = 0; cut <= n; cut++) {
        struct llm__es d;
        llm__es_init(&d, 0);
        struct seen s = {0};
        assert_int_equal(llm__es_feed(&d, buf, cut, collect, &s), 0);
        assert_int_equal(llm__es_feed(&d, buf + cut, n - cut, collect, &s), 0);
        if (strcmp(s.text, converse_expected) != 0)
            fail_msg("split at %zu:\n%s", cut, s.text);
        assert_true(llm__es_idle(&d));
        llm__es_free(&d);
    }
    /* And one byte at a time. */
    struct llm__es d;
    llm__es_init(&d, 0);
    struct seen s = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(llm__es_feed(&d, buf + i, 1, collect, &s), 0);
        if (i + 1 < n && i > 12)
            assert_true(s.n < 6);
    }
    assert_string_equal(s.text, converse_expected);
    llm__es_free(&d);
}

static void eventstream_a_cut_stream_is_not_idle(void **state)
{
    (void)state;
    unsigned char buf[CAP];
    size_t n = converse_stream(buf);
    struct llm__es d;
    llm__es_init(&d, 0);
    struct seen s = {0};
    assert_int_equal(llm__es_feed(&d, buf, n - 3, collect, &s), 0);
    assert_int_equal(s.n, 5);
    assert_false(llm__es_idle(&d));
    llm__es_free(&d);
}

static int feed_corrupted(size_t flip, unsigned char mask, struct llm__es *d, struct seen *s)
{
    unsigned char buf[CAP];
    size_t n = converse_stream(buf);
    buf[flip] ^= mask;
    llm__es_init(d, 0);
    return llm__es_feed(d, buf, n, collect, s);
}

static void eventstream_a_corrupted_crc_or_byte_is_refused(void **state)
{
    (void)state;
    unsigned char buf[CAP];
    size_t n = converse_stream(buf);
    size_t first_len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    /* Every single byte of the first message flipped: the prelude CRC, the
     * lengths, the headers, the payload and the message CRC are all
     * covered; nothing of it is delivered. */
    for (size_t i = 0; i < first_len; i++) {
        struct llm__es d;
        struct seen s = {0};
        int rc = feed_corrupted(i, 0x20, &d, &s);
        if (rc != LLM__ES_CORRUPT && rc != LLM__ES_TOO_LARGE)
            fail_msg("byte %zu flipped: rc %d", i, rc);
        assert_int_equal(s.n, 0);
        assert_true(rc == LLM__ES_TOO_LARGE || d.detail != NULL);
        llm__es_free(&d);
    }
    /* A flipped byte of the last message's payload: the earlier ones are
     * delivered, then the decoder stops, for good. */
    struct llm__es d;
    struct seen s = {0};
    assert_int_equal(feed_corrupted(n - 10, 0x01, &d, &s), LLM__ES_CORRUPT);
    assert_int_equal(s.n, 5);
    assert_string_equal(d.detail, "event-stream message CRC mismatch");
    assert_int_equal(llm__es_feed(&d, buf, n, collect, &s), LLM__ES_CORRUPT);
    assert_int_equal(s.n, 5);
    llm__es_free(&d);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A message from raw header bytes, with correct CRCs. */
static size_t raw_message(unsigned char *m, const unsigned char *hdr, size_t hl,
                          const char *payload)
{
    size_t pl = strlen(payload), total = 12 + hl + pl + 4;
    put32(m, (uint32_t)total);
    put32(m + 4, (uint32_t)hl);
    put32(m + 8, llm__crc32(0, m, 8));
    memcpy(m + 12, hdr, hl);
    memcpy(m + 12 + hl, payload, pl);
    put32(m + total - 4, llm__crc32(0, m, total - 4));
    return total;
}

static void eventstream_parses_every_header_value_type(void **state)
{
    (void)state;
    static const unsigned char hdr[] = {
        1, 'a', 0,                               /* bool true */
        1, 'b', 1,                               /* bool false */
        1, 'c', 2, 0x7f,                         /* byte */
        1, 'd', 3, 0, 1,                         /* short */
        1, 'e', 4, 0, 0, 0, 1,                   /* int */
        1, 'f', 5, 0, 0, 0, 0, 0, 0, 0, 1,       /* long */
        1, 'g', 6, 0, 3, 0, ':', 0,              /* byte array (with a NUL) */
        1, 'h', 8, 0, 0, 1, 0x7f, 0, 0, 0, 0,    /* timestamp */
        1, 'i', 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* uuid */
        11, ':', 'e', 'v', 'e', 'n', 't', '-', 't', 'y', 'p', 'e', 7, 0, 4, 'p', 'i', 'n', 'g',
    };
    unsigned char m[256];
    size_t n = raw_message(m, hdr, sizeof(hdr), "{}");
    struct llm__es d;
    llm__es_init(&d, 0);
    struct seen s = {0};
    assert_int_equal(llm__es_feed(&d, m, n, collect, &s), 0);
    assert_string_equal(s.text, "ping|{}\n");
    llm__es_free(&d);
}

static void eventstream_malformed_headers_are_refused(void **state)
{
    (void)state;
    static const struct {
        unsigned char h[8];
        size_t n;
    } bad[] = {
        {{5, 'a', 'b'}, 3},              /* name overruns */
        {{0, 7, 0, 0}, 4},               /* empty name */
        {{1, 'a'}, 2},                   /* no value type */
        {{1, 'a', 10}, 3},               /* unknown type */
        {{1, 'a', 4, 0, 0}, 5},          /* int cut short */
        {{1, 'a', 7, 0, 9, 'x'}, 6},     /* string overruns */
        {{1, 'a', 6, 0}, 4},             /* length cut short */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char m[64];
        size_t n = raw_message(m, bad[i].h, bad[i].n, "{}");
        struct llm__es d;
        llm__es_init(&d, 0);
        struct seen s = {0};
        if (llm__es_feed(&d, m, n, collect, &s) != LLM__ES_CORRUPT)
            fail_msg("bad header %zu accepted", i);
        assert_int_equal(s.n, 0);
        llm__es_free(&d);
    }
    /* An unknown :message-type too. */
    unsigned char buf[256];
    size_t n = 0;
    const char *const h[] = {":message-type", "gossip", NULL};
    es_encode(buf, sizeof(buf), &n, h, "{}");
    struct llm__es d;
    llm__es_init(&d, 0);
    struct seen s = {0};
    assert_int_equal(llm__es_feed(&d, buf, n, collect, &s), LLM__ES_CORRUPT);
    llm__es_free(&d);
}

static void eventstream_exceptions_and_errors_are_named_by_their_type(void **state)
{
    (void)state;
    unsigned char buf[CAP];
    size_t n = 0;
    es_exception(buf, CAP, &n, "throttlingException", "{\"message\":\"Too many requests\"}");
    const char *const h[] = {":message-type", "error", ":error-code", "InternalFailure",
                             ":error-message", "boom", NULL};
    es_encode(buf, CAP, &n, h, "");
    const char *const none[] = {NULL};
    es_encode(buf, CAP, &n, none, "{\"x\":1}");
    struct llm__es d;
    llm__es_init(&d, 0);
    struct seen s = {0};
    assert_int_equal(llm__es_feed(&d, buf, n, collect, &s), 0);
    assert_string_equal(s.text, "exception:throttlingException|{\"message\":\"Too many requests\"}\n"
                                "error:InternalFailure|boom\n"
                                "(null)|{\"x\":1}\n");
    llm__es_free(&d);
}

static void eventstream_messages_over_the_limit_are_refused_before_buffering(void **state)
{
    (void)state;
    unsigned char buf[CAP];
    size_t n = converse_stream(buf);
    struct llm__es d;
    llm__es_init(&d, 64); /* every message here is longer */
    struct seen s = {0};
    assert_int_equal(llm__es_feed(&d, buf, 12, collect, &s), LLM__ES_TOO_LARGE);
    assert_true(d.cap <= 256);
    llm__es_free(&d);
    /* A prelude announcing 4 GiB is refused at once with the default limit. */
    unsigned char pre[12];
    put32(pre, 0xFFFFFFF0u);
    put32(pre + 4, 0);
    put32(pre + 8, llm__crc32(0, pre, 8));
    llm__es_init(&d, 0);
    assert_int_equal(llm__es_feed(&d, pre, 12, collect, &s), LLM__ES_TOO_LARGE);
    llm__es_free(&d);
    (void)n;
}

static void eventstream_callback_stop_is_sticky(void **state)
{
    (void)state;
    unsigned char buf[CAP];
    size_t n = converse_stream(buf);
    struct llm__es d;
    llm__es_init(&d, 0);
    struct seen s = {.stop_after = 2};
    assert_int_equal(llm__es_feed(&d, buf, n, collect, &s), 7);
    assert_int_equal(s.n, 2);
    assert_int_equal(llm__es_feed(&d, buf, n, collect, &s), 7);
    assert_int_equal(s.n, 2);
    llm__es_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32_gives_the_standard_check_value),
        cmocka_unit_test(eventstream_decodes_a_converse_stream_fed_whole),
        cmocka_unit_test(eventstream_split_at_every_byte_boundary_reassembles_identically),
        cmocka_unit_test(eventstream_a_cut_stream_is_not_idle),
        cmocka_unit_test(eventstream_a_corrupted_crc_or_byte_is_refused),
        cmocka_unit_test(eventstream_parses_every_header_value_type),
        cmocka_unit_test(eventstream_malformed_headers_are_refused),
        cmocka_unit_test(eventstream_exceptions_and_errors_are_named_by_their_type),
        cmocka_unit_test(eventstream_messages_over_the_limit_are_refused_before_buffering),
        cmocka_unit_test(eventstream_callback_stop_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
