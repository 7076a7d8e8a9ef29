/* SSE parser: recorded provider streams, every way of cutting them into
 * feeds, and the WHATWG line/field rules one by one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/sse.h"

/* ---- recorded streams ------------------------------------------------------ */

/* OpenAI chat.completions with stream_options.include_usage: a role chunk,
 * content deltas, the finish chunk, the usage chunk with empty choices, and
 * the [DONE] sentinel. */
#define OA_ID "\"id\":\"chatcmpl-AYr3kD9vQf2xLm7TqNn0bZc1pWs8E\",\"object\":\"chat.completion.chunk\"," \
              "\"created\":1732851604,\"model\":\"gpt-4o-mini-2024-07-18\","                       \
              "\"system_fingerprint\":\"fp_0ba0d124f1\""
static const char openai_stream[] =
    "data: {" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, \\\"wörld\\\"\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\\n\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: {" OA_ID ",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,"
    "\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n"
    "data: [DONE]\n\n";

static const char *const openai_expected_data[] = {
    "{" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    "{" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}",
    "{" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, \\\"wörld\\\"\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
    "{" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\\n\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}",
    "{" OA_ID ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":null}",
    "{" OA_ID ",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,"
    "\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}",
    "[DONE]",
};

/* Anthropic Messages streaming: message_start, a text block with deltas, a
 * ping in between, message_delta with stop_reason and output usage, and
 * message_stop. */
#define AN_START                                                                              \
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","      \
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"                             \
    "\"model\":\"claude-3-5-sonnet-20241022\",\"stop_reason\":null,\"stop_sequence\":null,"   \
    "\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,"                       \
    "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}"
#define AN_BLOCK_START \
    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
#define AN_PING "{\"type\": \"ping\"}"
#define AN_DELTA1                                                                 \
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\"," \
    "\"text\":\"Hello\"}}"
#define AN_DELTA2                                                                 \
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\"," \
    "\"text\":\" there: \\u00e9\\n\\\"ok\\\"\"}}"
#define AN_BLOCK_STOP "{\"type\":\"content_block_stop\",\"index\":0}"
#define AN_MSG_DELTA                                                                     \
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","               \
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}"
#define AN_MSG_STOP "{\"type\":\"message_stop\"}"

static const char anthropic_stream[] =
    "event: message_start\ndata: " AN_START "\n\n"
    "event: content_block_start\ndata: " AN_BLOCK_START "\n\n"
    "event: ping\ndata: " AN_PING "\n\n"
    "event: content_block_delta\ndata: " AN_DELTA1 "\n\n"
    "event: content_block_delta\ndata: " AN_DELTA2 "\n\n"
    "event: content_block_stop\ndata: " AN_BLOCK_STOP "\n\n"
    "event: message_delta\ndata: " AN_MSG_DELTA "\n\n"
    "event: message_stop\ndata: " AN_MSG_STOP "\n\n";

struct expected {
    const char *event;
    const char *data;
};

static const struct expected anthropic_expected[] = {
    {"message_start", AN_START},
    {"content_block_start", AN_BLOCK_START},
    {"ping", AN_PING},
    {"content_block_delta", AN_DELTA1},
    {"content_block_delta", AN_DELTA2},
    {"content_block_stop", AN_BLOCK_STOP},
    {"message_delta", AN_MSG_DELTA},
    {"message_stop", AN_MSG_STOP},
};

/* Exercises the rarer paths (event after data, multi-line data, comments,
 * ignored fields, CR and CRLF endings, empty data, an event with no data)
 * so that the split tests cover them too. */
static const char tricky_stream[] =
    "\xEF\xBB\xBF: leading comment after a BOM\r\n"
    "data: first\r\n"
    "data:second\r"
    "data\n"
    "event: late-name\n"
    "id: 42\n"
    "retry: 1000\n"
    "\n"
    "event: no-data\n"
    "\r\n"
    "data: x\n"
    "event: a\n"
    "event: replaced\n"
    "custom: whatever\n"
    "\r"
    "event:\n"
    "data: :not a comment\n"
    "\n"
    "data:\n"
    "\n"
    "event: trailing\n"
    "data: never dispatched";

static const struct expected tricky_expected[] = {
    {"late-name", "first\nsecond\n"},
    {"replaced", "x"},
    {NULL, ":not a comment"},
    {NULL, ""},
};

/* ---- recording callback -------------------------------------------------------- */

#define MAX_EVENTS 64

struct rec {
    size_t n;
    char *event[MAX_EVENTS];
    char *data[MAX_EVENTS];
    size_t len[MAX_EVENTS];
    int stop_at;                 /* return 7 from the callback on this event (1-based) */
};

static int record(void *user, const char *event, const char *data, size_t data_len)
{
    struct rec *r = user;
    assert_true(r->n < MAX_EVENTS);
    assert_non_null(data);
    assert_int_equal(data[data_len], '\0');
    r->event[r->n] = event != NULL ? strdup(event) : NULL;
    r->data[r->n] = malloc(data_len + 1);
    assert_non_null(r->data[r->n]);
    memcpy(r->data[r->n], data, data_len + 1);
    r->len[r->n] = data_len;
    r->n++;
    return r->stop_at != 0 && (int)r->n == r->stop_at ? 7 : 0;
}

static void rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->event[i]);
        free(r->data[i]);
    }
    memset(r, 0, sizeof(*r));
}

static void assert_events(const struct rec *r, const struct expected *want, size_t n)
{
    assert_int_equal(r->n, n);
    for (size_t i = 0; i < n; i++) {
        if (want[i].event == NULL)
            assert_null(r->event[i]);
        else
            assert_string_equal(r->event[i], want[i].event);
        assert_int_equal(r->len[i], strlen(want[i].data));
        assert_memory_equal(r->data[i], want[i].data, r->len[i] + 1);
    }
}

static void assert_same_events(const struct rec *a, const struct rec *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        if (a->event[i] == NULL)
            assert_null(b->event[i]);
        else
            assert_string_equal(a->event[i], b->event[i]);
        assert_int_equal(a->len[i], b->len[i]);
        assert_memory_equal(a->data[i], b->data[i], a->len[i]);
    }
}

/* Parse `s` cut into feeds at the given positions (sorted, within len). */
static void parse_cut(const char *s, size_t len, const size_t *cuts, size_t n_cuts,
                      struct rec *out)
{
    struct llm__sse p;
    llm__sse_init(&p, 0);
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        assert_int_equal(llm__sse_feed(&p, s + at, end - at, record, out), 0);
        at = end;
    }
    llm__sse_free(&p);
}

static void parse_whole(const char *s, size_t len, struct rec *out)
{
    parse_cut(s, len, NULL, 0, out);
}

/* Replace every "\n" of `s` with `eol`. */
static char *with_line_endings(const char *s, const char *eol, size_t *out_len)
{
    size_t el = strlen(eol), n = 0;
    char *out = malloc(strlen(s) * el + 1);
    assert_non_null(out);
    for (; *s != '\0'; s++) {
        if (*s == '\n') {
            memcpy(out + n, eol, el);
            n += el;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

static const struct expected *openai_expected(void)
{
    static struct expected e[sizeof(openai_expected_data) / sizeof(openai_expected_data[0])];
    for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
        e[i].event = NULL;
        e[i].data = openai_expected_data[i];
    }
    return e;
}
#define OPENAI_N (sizeof(openai_expected_data) / sizeof(openai_expected_data[0]))
#define ANTHROPIC_N (sizeof(anthropic_expected) / sizeof(anthropic_expected[0]))
#define TRICKY_N (sizeof(tricky_expected) / sizeof(tricky_expected[0]))

/* Every two-feed split and the one-byte-at-a-time feed give exactly what one
 * feed gives. */
static void assert_split_invariant(const char *s, size_t len)
{
    struct rec whole = {0};
    parse_whole(s, len, &whole);

    for (size_t cut = 0; cut <= len; cut++) {
        struct rec r = {0};
        parse_cut(s, len, &cut, 1, &r);
        assert_same_events(&whole, &r);
        rec_free(&r);
    }

    struct rec bytes = {0};
    struct llm__sse p;
    llm__sse_init(&p, 0);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(llm__sse_feed(&p, s + i, 1, record, &bytes), 0);
    llm__sse_free(&p);
    assert_same_events(&whole, &bytes);
    rec_free(&bytes);
    rec_free(&whole);
}

/* ---- recorded streams ------------------------------------------------------------ */

static void sse_openai_stream_in_one_feed_yields_every_chunk_then_done(void **state)
{
    (void)state;
    struct rec r = {0};
    parse_whole(openai_stream, strlen(openai_stream), &r);
    assert_events(&r, openai_expected(), OPENAI_N);
    rec_free(&r);
}

static void sse_anthropic_stream_in_one_feed_yields_named_events_including_ping(void **state)
{
    (void)state;
    struct rec r = {0};
    parse_whole(anthropic_stream, strlen(anthropic_stream), &r);
    assert_events(&r, anthropic_expected, ANTHROPIC_N);
    rec_free(&r);
}

static void sse_event_split_at_every_byte_boundary_reassembles_identically(void **state)
{
    (void)state;
    assert_split_invariant(openai_stream, strlen(openai_stream));
    assert_split_invariant(anthropic_stream, strlen(anthropic_stream));
    assert_split_invariant(tricky_stream, strlen(tricky_stream));
}

static void sse_recorded_streams_fed_one_byte_at_a_time_match_expected_events(void **state)
{
    (void)state;
    struct rec r = {0};
    struct llm__sse p;
    llm__sse_init(&p, 0);
    for (size_t i = 0; anthropic_stream[i] != '\0'; i++)
        assert_int_equal(llm__sse_feed(&p, &anthropic_stream[i], 1, record, &r), 0);
    llm__sse_free(&p);
    assert_events(&r, anthropic_expected, ANTHROPIC_N);
    rec_free(&r);

    llm__sse_init(&p, 0);
    for (size_t i = 0; openai_stream[i] != '\0'; i++)
        assert_int_equal(llm__sse_feed(&p, &openai_stream[i], 1, record, &r), 0);
    llm__sse_free(&p);
    assert_events(&r, openai_expected(), OPENAI_N);
    rec_free(&r);
}

static void sse_rare_paths_stream_yields_expected_events(void **state)
{
    (void)state;
    struct rec r = {0};
    parse_whole(tricky_stream, strlen(tricky_stream), &r);
    assert_events(&r, tricky_expected, TRICKY_N);
    rec_free(&r);
}

static void sse_random_multi_feed_splits_reassemble_identically(void **state)
{
    (void)state;
    const char *streams[] = {openai_stream, anthropic_stream, tricky_stream};
    uint64_t x = 0x2545F4914F6CDD1Du; /* fixed seed: reproducible */
    for (size_t s = 0; s < 3; s++) {
        size_t len = strlen(streams[s]);
        struct rec whole = {0};
        parse_whole(streams[s], len, &whole);
        for (int round = 0; round < 200; round++) {
            size_t cuts[16];
            size_t n = 0, at = 0;
            while (n < 16) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                at += 1 + (size_t)(x % 97);
                if (at >= len)
                    break;
                cuts[n++] = at;
            }
            struct rec r = {0};
            parse_cut(streams[s], len, cuts, n, &r);
            assert_same_events(&whole, &r);
            rec_free(&r);
        }
        rec_free(&whole);
    }
}

/* ---- line endings ------------------------------------------------------------------- */

static void sse_crlf_line_endings_parse_like_lf(void **state)
{
    (void)state;
    size_t len;
    char *crlf = with_line_endings(anthropic_stream, "\r\n", &len);
    struct rec r = {0};
    parse_whole(crlf, len, &r);
    assert_events(&r, anthropic_expected, ANTHROPIC_N);
    rec_free(&r);
    assert_split_invariant(crlf, len);
    free(crlf);
}

static void sse_cr_only_line_endings_parse_like_lf(void **state)
{
    (void)state;
    size_t len;
    char *cr = with_line_endings(openai_stream, "\r", &len);
    struct rec r = {0};
    parse_whole(cr, len, &r);
    assert_events(&r, openai_expected(), OPENAI_N);
    rec_free(&r);
    assert_split_invariant(cr, len);
    free(cr);
}

static void sse_cr_ending_one_feed_and_lf_starting_the_next_are_one_line_ending(void **state)
{
    (void)state;
    /* Were the LF taken as a second line ending, the blank line would
     * dispatch "a" and "b" as two events. */
    struct rec r = {0};
    struct llm__sse p;
    llm__sse_init(&p, 0);
    assert_int_equal(llm__sse_feed(&p, "data: a\r", 8, record, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(llm__sse_feed(&p, "\ndata: b\r", 9, record, &r), 0);
    assert_int_equal(llm__sse_feed(&p, "\n", 1, record, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(llm__sse_feed(&p, "\r\n", 2, record, &r), 0);
    llm__sse_free(&p);
    static const struct expected want[] = {{NULL, "a\nb"}};
    assert_events(&r, want, 1);
    rec_free(&r);
}

static void sse_empty_feed_keeps_a_pending_cr(void **state)
{
    (void)state;
    struct rec r = {0};
    struct llm__sse p;
    llm__sse_init(&p, 0);
    assert_int_equal(llm__sse_feed(&p, "data: a\r", 8, record, &r), 0);
    assert_int_equal(llm__sse_feed(&p, "", 0, record, &r), 0);
    assert_int_equal(llm__sse_feed(&p, "\ndata: b\n\n", 10, record, &r), 0);
    llm__sse_free(&p);
    static const struct expected want[] = {{NULL, "a\nb"}};
    assert_events(&r, want, 1);
    rec_free(&r);
}

/* ---- fields ------------------------------------------------------------------------------ */

static void parse_string_expect(const char *s, const struct expected *want, size_t n)
{
    struct rec r = {0};
    parse_whole(s, strlen(s), &r);
    assert_events(&r, want, n);
    rec_free(&r);
    assert_split_invariant(s, strlen(s));
}

static void sse_multiline_data_is_joined_with_newlines(void **state)
{
    (void)state;
    static const struct expected want[] = {{NULL, "line one\nline two\n\nline four"}};
    parse_string_expect("data: line one\ndata: line two\ndata:\ndata: line four\n\n", want, 1);
}

static void sse_data_without_space_after_colon_keeps_its_value(void **state)
{
    (void)state;
    /* Only one leading space is part of the syntax; a second is data. */
    static const struct expected want[] = {{NULL, "{\"a\":1}"}, {NULL, "  two spaces"},
                                           {NULL, "tab\tkept"}};
    parse_string_expect("data:{\"a\":1}\n\ndata:   two spaces\n\ndata:tab\tkept\n\n", want, 3);
}

static void sse_field_name_alone_on_a_line_has_an_empty_value(void **state)
{
    (void)state;
    static const struct expected want[] = {{NULL, ""}, {NULL, "\nx"}};
    parse_string_expect("data\n\ndata\ndata: x\n\n", want, 2);
}

static void sse_comment_lines_are_ignored(void **state)
{
    (void)state;
    static const struct expected want[] = {{"e", "kept"}};
    parse_string_expect(": OPENROUTER PROCESSING\n:\nevent: e\n: comment: with colon\n"
                        "data: kept\n:data: not data\n\n",
                        want, 1);
}

static void sse_comment_lines_longer_than_the_limit_are_skipped_without_buffering(void **state)
{
    (void)state;
    struct rec r = {0};
    struct llm__sse p;
    llm__sse_init(&p, 16);
    assert_int_equal(llm__sse_feed(&p, ": keep-alive ", 13, record, &r), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(llm__sse_feed(&p, "padding padding ", 16, record, &r), 0);
    assert_int_equal(llm__sse_feed(&p, "\ndata: ok\n\n", 11, record, &r), 0);
    assert_true(p.cap <= 17);
    llm__sse_free(&p);
    static const struct expected want[] = {{NULL, "ok"}};
    assert_events(&r, want, 1);
    rec_free(&r);
}

static void sse_id_retry_and_unknown_fields_are_ignored(void **state)
{
    (void)state;
    static const struct expected want[] = {{NULL, "d"}};
    parse_string_expect("id: 7\nretry: 3000\nfoo: bar\nDATA: upper-case is another field\n"
                        "data : space before colon is another field\ndata: d\n\n",
                        want, 1);
}

static void sse_event_without_data_is_not_dispatched_and_its_name_is_forgotten(void **state)
{
    (void)state;
    static const struct expected want[] = {{NULL, "after"}};
    parse_string_expect("event: orphan\n\n\n\ndata: after\n\n", want, 1);
}

static void sse_event_name_after_its_data_still_names_that_event(void **state)
{
    (void)state;
    static const struct expected want[] = {{"late", "one\ntwo"}, {"b", "z"}, {NULL, "plain"}};
    parse_string_expect("data: one\ndata: two\nevent: late\n\n"
                        "event: aaaaaaaaaaaaaaaaaaaaaaaa\ndata: z\nevent: b\n\n"
                        "data: plain\n\n",
                        want, 3);
}

static void sse_empty_event_name_means_no_event_name(void **state)
{
    (void)state;
    static const struct expected want[] = {{NULL, "x"}, {NULL, "y"}};
    parse_string_expect("event: named\nevent:\ndata: x\n\nevent\ndata: y\n\n", want, 2);
}

static void sse_incomplete_event_at_end_of_stream_is_not_dispatched(void **state)
{
    (void)state;
    static const struct expected want[] = {{NULL, "done"}};
    parse_string_expect("data: done\n\ndata: cut off\n", want, 1);
}

static void sse_leading_bom_is_stripped_once_even_split_across_feeds(void **state)
{
    (void)state;
    static const struct expected want[] = {{"e", "x"}};
    parse_string_expect("\xEF\xBB\xBF" "event: e\ndata: x\n\n", want, 1);
    /* A second BOM is not stripped: it makes the field name unknown. */
    static const struct expected none[] = {{NULL, "y"}};
    parse_string_expect("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\ndata: y\n\n", none, 1);
    /* A BOM prefix that turns out not to be one is part of the line. */
    static const struct expected partial[] = {{NULL, "y"}};
    parse_string_expect("\xEF\xBB" "data: x\n\ndata: y\n\n", partial, 1);
}

static void sse_data_is_nul_terminated_and_may_contain_nul_bytes(void **state)
{
    (void)state;
    static const char s[] = "data: a\0b\n\n";
    struct rec r = {0};
    parse_whole(s, sizeof(s) - 1, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.len[0], 3);
    assert_memory_equal(r.data[0], "a\0b", 4);
    rec_free(&r);
}

/* ---- limits and stopping ---------------------------------------------------------------- */

static void sse_oversized_line_is_rejected_and_the_parser_stays_stopped(void **state)
{
    (void)state;
    struct rec r = {0};
    struct llm__sse p;
    llm__sse_init(&p, 32);
    assert_int_equal(llm__sse_feed(&p, "data: 0123456789", 16, record, &r), 0);
    assert_int_equal(llm__sse_feed(&p, "0123456789abcdefXYZ", 19, record, &r), LLM__SSE_TOO_LARGE);
    assert_true(p.cap <= 33);
    assert_int_equal(llm__sse_feed(&p, "\n\ndata: ok\n\n", 12, record, &r), LLM__SSE_TOO_LARGE);
    assert_int_equal(r.n, 0);
    llm__sse_free(&p);
}

static void sse_oversized_line_within_one_feed_is_rejected(void **state)
{
    (void)state;
    struct rec r = {0};
    struct llm__sse p;
    llm__sse_init(&p, 32);
    static const char s[] = "data: this single line is longer than thirty-two bytes\n\n";
    assert_int_equal(llm__sse_feed(&p, s, sizeof(s) - 1, record, &r), LLM__SSE_TOO_LARGE);
    assert_int_equal(r.n, 0);
    llm__sse_free(&p);
}

static void sse_oversized_event_from_many_short_data_lines_is_rejected(void **state)
{
    (void)state;
    struct rec r = {0};
    struct llm__sse p;
    llm__sse_init(&p, 64);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = llm__sse_feed(&p, "data: 0123456789\n", 17, record, &r);
    assert_int_equal(rc, LLM__SSE_TOO_LARGE);
    assert_true(p.cap <= 65);
    assert_int_equal(r.n, 0);
    llm__sse_free(&p);
}

/* Feed `s` whole or one byte at a time under `limit`; return the first
 * non-zero feed result (0 if none). */
static int feed_with_limit(const char *s, size_t limit, bool bytewise, struct rec *r)
{
    struct llm__sse p;
    llm__sse_init(&p, limit);
    size_t len = strlen(s);
    int rc = 0;
    if (!bytewise)
        rc = llm__sse_feed(&p, s, len, record, r);
    for (size_t i = 0; bytewise && i < len && rc == 0; i++)
        rc = llm__sse_feed(&p, &s[i], 1, record, r);
    llm__sse_free(&p);
    return rc;
}

static void sse_limit_bounds_the_pending_event_plus_any_incomplete_line(void **state)
{
    (void)state;
    /* The pending event "e" + NUL (2) next to the line "data: 0123456789"
     * (16): 18 at the peak, whether the line is parsed in place (one feed)
     * or held while incomplete (byte by byte).  (Before issue 10 #13 one
     * feed needed only 13: the verdict depended on the read boundaries.) */
    static const char s[] = "event: e\ndata: 0123456789\n\n";
    static const struct expected want[] = {{"e", "0123456789"}};
    struct rec r = {0};
    assert_int_equal(feed_with_limit(s, 18, false, &r), 0);
    assert_events(&r, want, 1);
    rec_free(&r);
    assert_int_equal(feed_with_limit(s, 17, false, &r), LLM__SSE_TOO_LARGE);
    assert_int_equal(r.n, 0);

    assert_int_equal(feed_with_limit(s, 18, true, &r), 0);
    assert_events(&r, want, 1);
    rec_free(&r);
    assert_int_equal(feed_with_limit(s, 17, true, &r), LLM__SSE_TOO_LARGE);
    assert_int_equal(r.n, 0);
}

/* Feed s[0..len) under `limit`, cut at `cut` (len: one feed; SIZE_MAX:
 * byte by byte).  Returns the first non-zero feed result, or 0. */
static int feed_cut_with_limit(const char *s, size_t len, size_t limit, size_t cut, struct rec *r)
{
    struct llm__sse p;
    llm__sse_init(&p, limit);
    int rc = 0;
    if (cut == SIZE_MAX) {
        for (size_t i = 0; i < len && rc == 0; i++)
            rc = llm__sse_feed(&p, s + i, 1, record, r);
    } else {
        rc = llm__sse_feed(&p, s, cut, record, r);
        if (rc == 0)
            rc = llm__sse_feed(&p, s + cut, len - cut, record, r);
    }
    llm__sse_free(&p);
    return rc;
}

/* Issue 10 #13: an over-long id: (or event:, retry:, unknown field) line
 * was accepted in one read but RESPONSE_TOO_LARGE when split.  For every
 * limit around the lengths involved, the same bytes get the same verdict
 * and the same events whole, cut at every boundary, and byte by byte. */
static void sse_size_verdict_is_the_same_for_every_split_of_the_same_bytes(void **state)
{
    (void)state;
    static const char *const streams[] = {
        "id: 0123456789012345678901234567890123456789\ndata: a\n\ndata: b\n\n",
        "data: a\n\nretry: 0123456789012345678901234567890123456789\ndata: b\n\n",
        "data: a\n\nx-custom-field: 0123456789012345678901234567890123456789\n\n",
        "data: a\n\nevent: 0123456789012345678901234567890123456789\ndata: b\n\n",
        "event: e\ndata: 0123456789\ndata: 0123456789\n\nid\n\n",
        ": a comment that is longer than every limit tried here, by far\ndata: a\n\n",
        "data: a\r\n\r\nid: 01234567890123456789\rdata: b\r\rdata: c\n\n",
    };
    for (size_t k = 0; k < sizeof(streams) / sizeof(streams[0]); k++) {
        const char *s = streams[k];
        size_t len = strlen(s);
        for (size_t limit = 4; limit <= 64; limit++) {
            struct rec whole = {0};
            int want = feed_cut_with_limit(s, len, limit, len, &whole);
            for (size_t cut = 0; cut <= len + 1; cut++) {
                struct rec r = {0};
                size_t c = cut <= len ? cut : SIZE_MAX;
                int got = feed_cut_with_limit(s, len, limit, c, &r);
                if (got != want) {
                    print_error("stream %zu, limit %zu, cut %zu: %d, one feed: %d\n", k, limit,
                                cut, got, want);
                    fail();
                }
                assert_same_events(&whole, &r);
                rec_free(&r);
            }
            rec_free(&whole);
        }
    }
}

static void sse_callback_stop_returns_its_code_and_dispatches_nothing_more(void **state)
{
    (void)state;
    struct rec r = {.stop_at = 2};
    struct llm__sse p;
    llm__sse_init(&p, 0);
    assert_int_equal(llm__sse_feed(&p, anthropic_stream, strlen(anthropic_stream), record, &r), 7);
    assert_int_equal(r.n, 2);
    assert_int_equal(llm__sse_feed(&p, "data: more\n\n", 12, record, &r), 7);
    assert_int_equal(r.n, 2);
    llm__sse_free(&p);
    assert_events(&r, anthropic_expected, 2);
    rec_free(&r);
}

static void sse_free_is_null_safe_and_parser_can_be_reinitialised(void **state)
{
    (void)state;
    llm__sse_free(NULL);
    struct llm__sse p;
    llm__sse_init(&p, 0);
    struct rec r = {0};
    assert_int_equal(llm__sse_feed(&p, "data: half", 10, record, &r), 0);
    llm__sse_free(&p);
    llm__sse_free(&p);
    llm__sse_init(&p, 0);
    assert_int_equal(llm__sse_feed(&p, "data: whole\n\n", 13, record, &r), 0);
    llm__sse_free(&p);
    static const struct expected want[] = {{NULL, "whole"}};
    assert_events(&r, want, 1);
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sse_openai_stream_in_one_feed_yields_every_chunk_then_done),
        cmocka_unit_test(sse_anthropic_stream_in_one_feed_yields_named_events_including_ping),
        cmocka_unit_test(sse_event_split_at_every_byte_boundary_reassembles_identically),
        cmocka_unit_test(sse_recorded_streams_fed_one_byte_at_a_time_match_expected_events),
        cmocka_unit_test(sse_rare_paths_stream_yields_expected_events),
        cmocka_unit_test(sse_random_multi_feed_splits_reassemble_identically),
        cmocka_unit_test(sse_crlf_line_endings_parse_like_lf),
        cmocka_unit_test(sse_cr_only_line_endings_parse_like_lf),
        cmocka_unit_test(sse_cr_ending_one_feed_and_lf_starting_the_next_are_one_line_ending),
        cmocka_unit_test(sse_empty_feed_keeps_a_pending_cr),
        cmocka_unit_test(sse_multiline_data_is_joined_with_newlines),
        cmocka_unit_test(sse_data_without_space_after_colon_keeps_its_value),
        cmocka_unit_test(sse_field_name_alone_on_a_line_has_an_empty_value),
        cmocka_unit_test(sse_comment_lines_are_ignored),
        cmocka_unit_test(sse_comment_lines_longer_than_the_limit_are_skipped_without_buffering),
        cmocka_unit_test(sse_id_retry_and_unknown_fields_are_ignored),
        cmocka_unit_test(sse_event_without_data_is_not_dispatched_and_its_name_is_forgotten),
        cmocka_unit_test(sse_event_name_after_its_data_still_names_that_event),
        cmocka_unit_test(sse_empty_event_name_means_no_event_name),
        cmocka_unit_test(sse_incomplete_event_at_end_of_stream_is_not_dispatched),
        cmocka_unit_test(sse_leading_bom_is_stripped_once_even_split_across_feeds),
        cmocka_unit_test(sse_data_is_nul_terminated_and_may_contain_nul_bytes),
        cmocka_unit_test(sse_oversized_line_is_rejected_and_the_parser_stays_stopped),
        cmocka_unit_test(sse_oversized_line_within_one_feed_is_rejected),
        cmocka_unit_test(sse_oversized_event_from_many_short_data_lines_is_rejected),
        cmocka_unit_test(sse_limit_bounds_the_pending_event_plus_any_incomplete_line),
        cmocka_unit_test(sse_size_verdict_is_the_same_for_every_split_of_the_same_bytes),
        cmocka_unit_test(sse_callback_stop_returns_its_code_and_dispatches_nothing_more),
        cmocka_unit_test(sse_free_is_null_safe_and_parser_can_be_reinitialised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
