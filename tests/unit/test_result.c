/* struct llm_result: construction helpers, freeing, timestamp names and the
 * JSON form, read back with cJSON key by key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/result_internal.h"
#include "llmorch/result.h"

/* 2026-11-29T03:40:04.123456Z */
#define T0 INT64_C(1795923604123456)

static const char *const ts_names[LLM_TS_COUNT_] = {
    "requested", "enqueued", "dequeued", "gates_entered", "gates_passed", "slot_acquired",
    "slot_released", "first_attempt_started", "last_attempt_started", "dns_done", "connected",
    "tls_done", "request_sent", "first_byte", "first_token", "last_token", "response_received",
    "parsed", "postprocess_started", "postprocess_ended", "completed",
};

static const char tricky_content[] =
    "He said \"hi\"\n\tthen left\\ \r\n"
    "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 \x01\x1F </script> \xE2\x80\xA8 {\"x\":[1]}";

static struct llm_result *full_result(void)
{
    struct llm_result *r = llm__result_new();
    assert_non_null(r);
    free(r->content);
    r->content = strdup(tricky_content);
    r->content_len = strlen(tricky_content);
    r->success = false;
    r->admission = LLM_ADMISSION_LOCAL_FALLBACK;
    r->finish_reason = strdup("length");
    r->error.type = LLM_ERR_RATE_LIMITED;
    r->error.retryable = true;
    r->error.message = strdup("Rate limit reached for gpt-4o-mini");
    r->error.http_status = 429;
    r->error.provider_code = strdup("rate_limit_exceeded");
    memcpy(r->trace_id, "0193778a-1b2c-7d3e-8f40-123456789abc", 37);
    r->request_id = strdup("req_abc123");
    r->response_id = strdup("chatcmpl-xyz");
    r->provider = strdup("openai");
    r->model = strdup("gpt-4o-mini-2024-07-18");
    r->usage = (struct llm_usage){.input_tokens = 1200, .output_tokens = 345,
                                  .cached_input_tokens = 1024, .reasoning_tokens = 64,
                                  .cache_write_tokens = 7, .known = true};
    r->cost = (struct llm_cost){.input_usd = 0.00018, .output_usd = 0.000207,
                                .total_usd = 0.000387, .known = true};
    for (int i = 0; i < LLM_TS_COUNT_; i++)
        r->timestamps[i] = T0 + i * 1000;
    r->backoff = (struct llm_wait_stats){.queue_wait_ms = 5, .gate_wait_ms = 250,
                                         .server_wait_ms = 2000, .backoff_ms = 731};

    struct llm_attempt a1 = {.start_us = T0, .end_us = T0 + 150000, .http_status = 429,
                             .error = LLM_ERR_RATE_LIMITED,
                             .error_message = strdup("slow down"), .retry_after_ms = 2000,
                             .backoff_ms = 731, .bytes_sent = 512, .bytes_received = 210};
    struct llm_attempt a2 = {.start_us = T0 + 3000000, .end_us = 0, .http_status = 0,
                             .error = LLM_OK, .error_message = NULL, .retry_after_ms = -1,
                             .backoff_ms = 0, .bytes_sent = UINT64_C(4294967296),
                             .bytes_received = 0};
    assert_int_equal(llm__result_add_attempt(r, &a1), LLM_OK);
    assert_int_equal(llm__result_add_attempt(r, &a2), LLM_OK);

    struct llm_step_result s1 = {.name = strdup("strip_think"), .success = true, .error = NULL,
                                 .duration_us = 42, .bytes_in = 100, .bytes_out = 80};
    struct llm_step_result s2 = {.name = strdup("json_extract"), .success = false,
                                 .error = strdup("no JSON object found"), .duration_us = 7,
                                 .bytes_in = 80, .bytes_out = 80};
    assert_int_equal(llm__result_add_step(r, &s1), LLM_OK);
    assert_int_equal(llm__result_add_step(r, &s2), LLM_OK);

    r->raw_response = strdup("{\"raw\":true}");
    r->raw_response_len = strlen(r->raw_response);
    r->metadata_json = strdup("{\"custom_id\":\"row-17\",\"tags\":[\"a\",\"b\"]}");
    return r;
}

static cJSON *to_json_parsed(const struct llm_result *r)
{
    char *s = llm_result_to_json(r);
    assert_non_null(s);
    assert_null(strchr(s, '\n')); /* one line */
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    llm_free(s);
    return j;
}

static cJSON *get(const cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL)
        fail_msg("missing key \"%s\"", key);
    return v;
}

static void assert_str(const cJSON *o, const char *key, const char *want)
{
    cJSON *v = get(o, key);
    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, want);
}

static void assert_num(const cJSON *o, const char *key, double want)
{
    cJSON *v = get(o, key);
    assert_true(cJSON_IsNumber(v));
    assert_true(v->valuedouble == want);
}

static void assert_bool(const cJSON *o, const char *key, bool want)
{
    cJSON *v = get(o, key);
    assert_true(cJSON_IsBool(v));
    assert_int_equal(cJSON_IsTrue(v), want);
}

static void assert_null_key(const cJSON *o, const char *key)
{
    assert_true(cJSON_IsNull(get(o, key)));
}

static void assert_keys(const cJSON *o, const char *const *keys, size_t n)
{
    assert_true(cJSON_IsObject(o));
    size_t i = 0;
    for (const cJSON *c = o->child; c != NULL; c = c->next, i++) {
        assert_true(i < n);
        assert_string_equal(c->string, keys[i]);
    }
    assert_int_equal(i, n);
}

#define ASSERT_KEYS(o, ...)                                                                \
    do {                                                                                   \
        static const char *const k_[] = {__VA_ARGS__};                                     \
        assert_keys((o), k_, sizeof(k_) / sizeof(k_[0]));                                  \
    } while (0)

static void assert_all_object_keys(const cJSON *j)
{
    ASSERT_KEYS(j, "success", "content", "finish_reason", "error", "trace_id", "request_id",
                "response_id", "provider", "model", "timestamps", "attempts", "usage", "cost",
                "backoff", "pipeline", "metadata", "admission");
    ASSERT_KEYS(get(j, "error"), "type", "message", "http_status", "retryable", "provider_code");
    assert_keys(get(j, "timestamps"), ts_names, LLM_TS_COUNT_);
    ASSERT_KEYS(get(j, "usage"), "input_tokens", "output_tokens", "cached_input_tokens",
                "reasoning_tokens", "cache_write_tokens", "known");
    ASSERT_KEYS(get(j, "cost"), "input_usd", "output_usd", "total_usd", "known");
    ASSERT_KEYS(get(j, "backoff"), "queue_wait_ms", "gate_wait_ms", "server_wait_ms",
                "backoff_ms");
    const cJSON *a;
    cJSON_ArrayForEach(a, get(j, "attempts"))
        ASSERT_KEYS(a, "start", "end", "http_status", "error", "error_message", "retry_after_ms",
                    "backoff_ms", "bytes_sent", "bytes_received");
    const cJSON *s;
    cJSON_ArrayForEach(s, get(j, "pipeline"))
        ASSERT_KEYS(s, "name", "success", "error", "duration_us", "bytes_in", "bytes_out");
}

/* ---- tests --------------------------------------------------------------------------- */

static void result_to_json_of_a_full_result_carries_every_field(void **state)
{
    (void)state;
    struct llm_result *r = full_result();
    cJSON *j = to_json_parsed(r);
    assert_all_object_keys(j);

    assert_bool(j, "success", false);
    assert_str(j, "content", tricky_content);
    assert_str(j, "finish_reason", "length");
    assert_str(j, "admission", "local_fallback");
    cJSON *e = get(j, "error");
    assert_str(e, "type", "RATE_LIMITED");
    assert_str(e, "message", "Rate limit reached for gpt-4o-mini");
    assert_num(e, "http_status", 429);
    assert_bool(e, "retryable", true);
    assert_str(e, "provider_code", "rate_limit_exceeded");
    assert_str(j, "trace_id", "0193778a-1b2c-7d3e-8f40-123456789abc");
    assert_str(j, "request_id", "req_abc123");
    assert_str(j, "response_id", "chatcmpl-xyz");
    assert_str(j, "provider", "openai");
    assert_str(j, "model", "gpt-4o-mini-2024-07-18");

    cJSON *ts = get(j, "timestamps");
    assert_str(ts, "requested", "2026-11-29T03:40:04.123456Z");
    assert_str(ts, "enqueued", "2026-11-29T03:40:04.124456Z");
    assert_str(ts, "completed", "2026-11-29T03:40:04.143456Z");

    cJSON *atts = get(j, "attempts");
    assert_int_equal(cJSON_GetArraySize(atts), 2);
    cJSON *a1 = cJSON_GetArrayItem(atts, 0);
    assert_str(a1, "start", "2026-11-29T03:40:04.123456Z");
    assert_str(a1, "end", "2026-11-29T03:40:04.273456Z");
    assert_num(a1, "http_status", 429);
    assert_str(a1, "error", "RATE_LIMITED");
    assert_str(a1, "error_message", "slow down");
    assert_num(a1, "retry_after_ms", 2000);
    assert_num(a1, "backoff_ms", 731);
    assert_num(a1, "bytes_sent", 512);
    assert_num(a1, "bytes_received", 210);
    cJSON *a2 = cJSON_GetArrayItem(atts, 1);
    assert_str(a2, "start", "2026-11-29T03:40:07.123456Z");
    assert_null_key(a2, "end");
    assert_num(a2, "http_status", 0);
    assert_null_key(a2, "error");
    assert_null_key(a2, "error_message");
    assert_null_key(a2, "retry_after_ms");
    assert_num(a2, "backoff_ms", 0);
    assert_num(a2, "bytes_sent", 4294967296.0);
    assert_num(a2, "bytes_received", 0);

    cJSON *u = get(j, "usage");
    assert_num(u, "input_tokens", 1200);
    assert_num(u, "output_tokens", 345);
    assert_num(u, "cached_input_tokens", 1024);
    assert_num(u, "reasoning_tokens", 64);
    assert_num(u, "cache_write_tokens", 7);
    assert_bool(u, "known", true);

    cJSON *c = get(j, "cost");
    assert_num(c, "input_usd", 0.00018);
    assert_num(c, "output_usd", 0.000207);
    assert_num(c, "total_usd", 0.000387);
    assert_bool(c, "known", true);

    cJSON *b = get(j, "backoff");
    assert_num(b, "queue_wait_ms", 5);
    assert_num(b, "gate_wait_ms", 250);
    assert_num(b, "server_wait_ms", 2000);
    assert_num(b, "backoff_ms", 731);

    cJSON *pl = get(j, "pipeline");
    assert_int_equal(cJSON_GetArraySize(pl), 2);
    cJSON *s1 = cJSON_GetArrayItem(pl, 0);
    assert_str(s1, "name", "strip_think");
    assert_bool(s1, "success", true);
    assert_null_key(s1, "error");
    assert_num(s1, "duration_us", 42);
    assert_num(s1, "bytes_in", 100);
    assert_num(s1, "bytes_out", 80);
    cJSON *s2 = cJSON_GetArrayItem(pl, 1);
    assert_str(s2, "name", "json_extract");
    assert_bool(s2, "success", false);
    assert_str(s2, "error", "no JSON object found");

    cJSON *m = get(j, "metadata");
    assert_true(cJSON_IsObject(m));
    assert_str(m, "custom_id", "row-17");
    assert_int_equal(cJSON_GetArraySize(get(m, "tags")), 2);

    /* Neither the raw body nor the host's pointer is serialised. */
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "raw_response"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "user_data"));

    cJSON_Delete(j);
    llm_result_free(r);
}

static void result_to_json_is_one_compact_line(void **state)
{
    (void)state;
    struct llm_result *r = full_result();
    char *s = llm_result_to_json(r);
    assert_non_null(s);
    assert_int_equal(s[0], '{');
    assert_int_equal(s[strlen(s) - 1], '}');
    assert_null(strchr(s, '\n'));
    assert_null(strstr(s, ": "));
    assert_non_null(strstr(s, "{\"success\":false,\"content\":\"He said \\\"hi\\\"\\n\\t"));
    llm_free(s);
    llm_result_free(r);
}

static void result_to_json_of_a_zeroed_result_uses_nulls_and_zeros(void **state)
{
    (void)state;
    struct llm_result r;
    memset(&r, 0, sizeof(r));
    cJSON *j = to_json_parsed(&r);
    assert_all_object_keys(j);
    assert_bool(j, "success", false);
    assert_null_key(j, "content");
    assert_null_key(j, "finish_reason");
    cJSON *e = get(j, "error");
    assert_null_key(e, "type");
    assert_null_key(e, "message");
    assert_num(e, "http_status", 0);
    assert_bool(e, "retryable", false);
    assert_null_key(e, "provider_code");
    assert_null_key(j, "trace_id");
    assert_null_key(j, "request_id");
    assert_null_key(j, "response_id");
    assert_null_key(j, "provider");
    assert_null_key(j, "model");
    for (int i = 0; i < LLM_TS_COUNT_; i++)
        assert_null_key(get(j, "timestamps"), ts_names[i]);
    assert_int_equal(cJSON_GetArraySize(get(j, "attempts")), 0);
    assert_true(cJSON_IsArray(get(j, "attempts")));
    assert_num(get(j, "usage"), "input_tokens", 0);
    assert_bool(get(j, "usage"), "known", false);
    assert_num(get(j, "cost"), "total_usd", 0);
    assert_bool(get(j, "cost"), "known", false);
    assert_num(get(j, "backoff"), "gate_wait_ms", 0);
    assert_true(cJSON_IsArray(get(j, "pipeline")));
    assert_int_equal(cJSON_GetArraySize(get(j, "pipeline")), 0);
    assert_null_key(j, "metadata");
    assert_null_key(j, "admission");
    cJSON_Delete(j);
}

static void result_new_starts_successless_with_empty_content(void **state)
{
    (void)state;
    struct llm_result *r = llm__result_new();
    assert_non_null(r);
    assert_non_null(r->content);
    assert_string_equal(r->content, "");
    assert_int_equal(r->content_len, 0);
    assert_false(r->success);
    assert_int_equal(r->n_attempts, 0);
    cJSON *j = to_json_parsed(r);
    assert_str(j, "content", "");
    cJSON_Delete(j);
    llm_result_free(r);
}

static void result_content_with_quotes_newlines_and_utf8_round_trips_exactly(void **state)
{
    (void)state;
    static const char *const contents[] = {
        tricky_content,
        "",
        "\"",
        "\\",
        "\\u0041 is not A",
        "line\nline\n",
        "\x7f del and \xC2\xA0 nbsp",
        "emoji \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and RTL \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D",
    };
    for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
        struct llm_result *r = llm__result_new();
        free(r->content);
        r->content = strdup(contents[i]);
        r->content_len = strlen(contents[i]);
        cJSON *j = to_json_parsed(r);
        cJSON *c = get(j, "content");
        assert_true(cJSON_IsString(c));
        assert_int_equal(strlen(c->valuestring), strlen(contents[i]));
        assert_memory_equal(c->valuestring, contents[i], strlen(contents[i]));
        cJSON_Delete(j);
        llm_result_free(r);
    }
}

/* ---- issue 10 #8: valid UTF-8 whatever the bytes ----------------------------------- */

/* An oracle written apart from the library's: decode every code point and
 * reject what RFC 3629 forbids (overlongs, surrogates, > U+10FFFF, stray
 * or missing continuation bytes). */
static bool strict_utf8(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        size_t n;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

static const char ill_formed[] =
    "lead \x80\xBF\xC0\xC1\xF5\xFF|overlong \xC0\x80 \xE0\x80\x80 \xF0\x80\x80\x80|"
    "surrogate \xED\xA0\x80 \xED\xBF\xBF|above \xF4\x90\x80\x80|"
    "cut \xE2\x82|\xF0\x9F\x99|\xC3|ok \xC3\xA9\xF0\x9F\x99\x82|end \xE2";

static void result_json_is_valid_utf8_whatever_bytes_its_strings_hold(void **state)
{
    (void)state;
    char all[256];
    for (int b = 0; b < 256; b++)
        all[b] = (char)(255 - b); /* 0xFF .. 0x00: a NUL last */
    struct llm_result *r = llm__result_new();
    free(r->content);
    r->content_len = sizeof(all) + sizeof(ill_formed);
    r->content = malloc(r->content_len + 1);
    memcpy(r->content, all, sizeof(all));
    memcpy(r->content + sizeof(all), ill_formed, sizeof(ill_formed));
    r->content[r->content_len] = '\0';
    r->error.message = strdup(ill_formed);
    r->error.provider_code = strdup("\xFF\xFE");
    r->request_id = strdup("req_\xC0\x80");
    r->response_id = strdup("id_\xED\xA0\x80");
    r->model = strdup("model_\xF0\x9F\x99");
    r->finish_reason = strdup("\x80stop");
    r->metadata_json = strdup("{\"k\":\"\xFF\"}");
    struct llm_attempt a = {.error = LLM_ERR_SERVER_ERROR, .error_message = strdup(ill_formed)};
    assert_int_equal(llm__result_add_attempt(r, &a), LLM_OK);
    char *json = llm_result_to_json(r);
    assert_non_null(json);
    assert_true(strict_utf8(json, strlen(json)));
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    /* Every byte of the content is accounted for: the NUL is escaped, the
     * ill-formed text after it is still there. */
    assert_non_null(strstr(json, "\\u0001\\u0000lead \xEF\xBF\xBD"));
    assert_non_null(strstr(json, "ok \xC3\xA9\xF0\x9F\x99\x82|end \xEF\xBF\xBD\\u0000\""));
    /* Metadata that is not UTF-8 is kept as a (repaired) string. */
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "metadata")));
    cJSON_Delete(j);
    llm_free(json);
    llm_result_free(r);
}

/* One U+FFFD per maximal ill-formed subpart (the practice of WHATWG
 * decoders and Python's errors="replace"), well-formed text untouched. */
static void result_json_replaces_each_ill_formed_sequence_with_one_replacement_character(
    void **state)
{
    (void)state;
#define R "\xEF\xBF\xBD"
    static const struct {
        const char *in;
        const char *out; /* the JSON string literal, quotes included */
    } cases[] = {
        {"\x80", "\"" R "\""},
        {"a\xFF" "b", "\"a" R "b\""},
        {"\xC0\x80", "\"" R R "\""},                 /* overlong NUL */
        {"\xE0\x80\x80", "\"" R R R "\""},           /* overlong: E0 needs A0..BF */
        {"\xED\xA0\x80", "\"" R R R "\""},           /* surrogate: ED needs 80..9F */
        {"\xF4\x90\x80\x80", "\"" R R R R "\""},     /* above U+10FFFF */
        {"\xE2\x82", "\"" R "\""},                   /* cut: one subpart */
        {"\xE2\x82x", "\"" R "x\""},
        {"\xF0\x9F\x99\xF0\x9F\x99\x82", "\"" R "\xF0\x9F\x99\x82\""},
        {"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\""},
        {"\xEF\xBF\xBD", "\"\xEF\xBF\xBD\""},
    };
#undef R
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_result *r = llm__result_new();
        free(r->content);
        r->content = strdup(cases[i].in);
        r->content_len = strlen(cases[i].in);
        char *json = llm_result_to_json(r);
        assert_non_null(json);
        char want[64];
        snprintf(want, sizeof(want), "\"content\":%s,", cases[i].out);
        if (strstr(json, want) == NULL) {
            print_error("case %zu: %.120s\n", i, json);
            fail();
        }
        llm_free(json);
        llm_result_free(r);
    }
}

/* A NUL in the content used to cut it silently: content_len is what
 * counts, and the NUL is written as \u0000. */
static void result_json_keeps_content_after_a_nul(void **state)
{
    (void)state;
    struct llm_result *r = llm__result_new();
    free(r->content);
    r->content = malloc(6);
    memcpy(r->content, "ab\0cd", 6);
    r->content_len = 5;
    char *json = llm_result_to_json(r);
    assert_non_null(strstr(json, "\"content\":\"ab\\u0000cd\","));
    llm_free(json);
    llm_result_free(r);
}

static void result_timestamps_never_reached_are_null_and_others_iso8601(void **state)
{
    (void)state;
    struct llm_result *r = llm__result_new();
    r->timestamps[LLM_TS_REQUESTED] = T0;
    r->timestamps[LLM_TS_FIRST_TOKEN] = T0 + 1;
    r->timestamps[LLM_TS_COMPLETED] = T0 + 2000000;
    cJSON *j = to_json_parsed(r);
    cJSON *ts = get(j, "timestamps");
    for (int i = 0; i < LLM_TS_COUNT_; i++) {
        if (i == LLM_TS_REQUESTED)
            assert_str(ts, ts_names[i], "2026-11-29T03:40:04.123456Z");
        else if (i == LLM_TS_FIRST_TOKEN)
            assert_str(ts, ts_names[i], "2026-11-29T03:40:04.123457Z");
        else if (i == LLM_TS_COMPLETED)
            assert_str(ts, ts_names[i], "2026-11-29T03:40:06.123456Z");
        else
            assert_null_key(ts, ts_names[i]);
    }
    cJSON_Delete(j);
    llm_result_free(r);
}

static void result_metadata_that_is_not_json_is_kept_as_a_string(void **state)
{
    (void)state;
    static const char *const bad[] = {"not json", "{\"a\":1", "{\"a\":1} trailing", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct llm_result *r = llm__result_new();
        r->metadata_json = strdup(bad[i]);
        cJSON *j = to_json_parsed(r);
        assert_str(j, "metadata", bad[i]);
        cJSON_Delete(j);
        llm_result_free(r);
    }
    /* Valid JSON that is not an object is embedded as it is. */
    struct llm_result *r = llm__result_new();
    r->metadata_json = strdup(" [1, \"two\"] ");
    cJSON *j = to_json_parsed(r);
    cJSON *m = get(j, "metadata");
    assert_true(cJSON_IsArray(m));
    assert_int_equal(cJSON_GetArraySize(m), 2);
    cJSON_Delete(j);
    llm_result_free(r);
}

static void result_successful_attempt_and_error_type_ok_serialise_as_null(void **state)
{
    (void)state;
    struct llm_result *r = llm__result_new();
    r->success = true;
    r->error.type = LLM_OK;
    struct llm_attempt a = {.start_us = T0, .end_us = T0 + 1, .http_status = 200,
                            .error = LLM_OK, .retry_after_ms = 0};
    assert_int_equal(llm__result_add_attempt(r, &a), LLM_OK);
    cJSON *j = to_json_parsed(r);
    assert_bool(j, "success", true);
    assert_null_key(get(j, "error"), "type");
    cJSON *a0 = cJSON_GetArrayItem(get(j, "attempts"), 0);
    assert_null_key(a0, "error");
    assert_num(a0, "retry_after_ms", 0); /* 0 is a value; only negative means none */
    assert_num(a0, "http_status", 200);
    cJSON_Delete(j);
    llm_result_free(r);
}

static void result_to_json_of_null_is_null_and_free_accepts_null(void **state)
{
    (void)state;
    assert_null(llm_result_to_json(NULL));
    llm_result_free(NULL);
    llm_free(NULL);
}

static void result_add_helpers_take_ownership_even_on_bad_arguments(void **state)
{
    (void)state;
    /* Under ASan a leak here fails the run. */
    struct llm_attempt a = {.error_message = strdup("owned")};
    assert_int_equal(llm__result_add_attempt(NULL, &a), LLM_ERR_INVALID_ARGUMENT);
    struct llm_step_result s = {.name = strdup("n"), .error = strdup("e")};
    assert_int_equal(llm__result_add_step(NULL, &s), LLM_ERR_INVALID_ARGUMENT);

    struct llm_result *r = llm__result_new();
    assert_int_equal(llm__result_add_attempt(r, NULL), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm__result_add_step(r, NULL), LLM_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 50; i++) {
        struct llm_attempt ai = {.http_status = 500 + i, .error = LLM_ERR_SERVER_ERROR,
                                 .error_message = strdup("boom"), .retry_after_ms = -1};
        assert_int_equal(llm__result_add_attempt(r, &ai), LLM_OK);
    }
    assert_int_equal(r->n_attempts, 50);
    assert_int_equal(r->attempts[49].http_status, 549);
    assert_string_equal(r->attempts[49].error_message, "boom");
    llm_result_free(r);
}

/* The engine's results hold their first strings, the first attempt and
 * short later strings in their own block (core/result.c).  Every field must
 * read as if each had its own allocation, replacing one must work, and one
 * llm_result_free must free all (ASan fails the run on a leak, a double
 * free or a free of a pointer into the block). */
static void a_packed_result_reads_and_frees_like_one_with_separate_strings(void **state)
{
    (void)state;
    struct llm_result *r = llm__result_new_packed("openai", "gpt-4o-mini", "{\"k\":1}", 24);
    assert_non_null(r);
    assert_string_equal(r->content, "");
    assert_int_equal(r->content_len, 0);
    assert_false(r->success);
    assert_string_equal(r->provider, "openai");
    assert_string_equal(r->model, "gpt-4o-mini");
    assert_string_equal(r->metadata_json, "{\"k\":1}");
    assert_null(r->finish_reason);
    assert_null(r->attempts);
    assert_int_equal(r->n_attempts, 0);

    /* Kept copies: one that fits the spare bytes, one that does not. */
    const char *longer = "req_0123456789abcdef0123456789abcdef0123456789";
    char *a = llm__result_keep(r, "req_abc", 7);
    char *b = llm__result_keep(r, longer, strlen(longer));
    assert_string_equal(a, "req_abc");
    assert_string_equal(b, longer);
    r->request_id = a;
    r->response_id = b;
    /* Replacing fields, whether they live in the block or not. */
    llm__result_free_str(r, r->request_id);
    r->request_id = llm__result_keep(r, "req_x", 5);
    assert_string_equal(r->request_id, "req_x");
    llm__result_free_str(r, r->model);
    r->model = strdup("gpt-4o-mini-2024-07-18");
    llm__result_free_str(r, r->content);
    r->content = strdup("hello");
    r->content_len = 5;
    llm__result_free_str(r, r->response_id);
    r->response_id = strdup("chatcmpl-1");
    assert_string_equal(r->provider, "openai");
    assert_string_equal(r->metadata_json, "{\"k\":1}");

    /* Attempts: the first lives in the block, later ones move it out. */
    for (int i = 0; i < 5; i++) {
        struct llm_attempt at = {.http_status = 500 + i, .error = LLM_ERR_SERVER_ERROR,
                                 .error_message = strdup("boom"), .retry_after_ms = -1,
                                 .bytes_sent = (uint64_t)i};
        assert_int_equal(llm__result_add_attempt(r, &at), LLM_OK);
        assert_int_equal(r->n_attempts, (size_t)i + 1);
        for (int k = 0; k <= i; k++) {
            assert_int_equal(r->attempts[k].http_status, 500 + k);
            assert_int_equal(r->attempts[k].bytes_sent, (uint64_t)k);
            assert_string_equal(r->attempts[k].error_message, "boom");
        }
    }
    char *json = llm_result_to_json(r);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"provider\":\"openai\""));
    assert_non_null(strstr(json, "\"request_id\":\"req_x\""));
    llm_free(json);
    llm_result_free(r);

    /* One attempt only, and no optional strings. */
    r = llm__result_new_packed(NULL, NULL, NULL, 0);
    assert_non_null(r);
    assert_string_equal(r->content, "");
    assert_null(r->provider);
    assert_null(r->model);
    assert_null(r->metadata_json);
    char *c = llm__result_keep(r, "no room", 7); /* malloc'd: no spare bytes */
    assert_string_equal(c, "no room");
    r->finish_reason = c;
    struct llm_attempt ok = {.http_status = 200, .retry_after_ms = -1};
    assert_int_equal(llm__result_add_attempt(r, &ok), LLM_OK);
    assert_int_equal(r->attempts[0].http_status, 200);
    llm_result_free(r);
}

static void timestamp_names_are_the_documented_snake_case_keys(void **state)
{
    (void)state;
    for (int i = 0; i < LLM_TS_COUNT_; i++)
        assert_string_equal(llm_timestamp_name((enum llm_timestamp)i), ts_names[i]);
    assert_null(llm_timestamp_name(LLM_TS_COUNT_));
    assert_null(llm_timestamp_name((enum llm_timestamp)-1));
    assert_null(llm_timestamp_name((enum llm_timestamp)1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(result_to_json_of_a_full_result_carries_every_field),
        cmocka_unit_test(result_to_json_is_one_compact_line),
        cmocka_unit_test(result_to_json_of_a_zeroed_result_uses_nulls_and_zeros),
        cmocka_unit_test(result_new_starts_successless_with_empty_content),
        cmocka_unit_test(result_content_with_quotes_newlines_and_utf8_round_trips_exactly),
        cmocka_unit_test(result_json_is_valid_utf8_whatever_bytes_its_strings_hold),
        cmocka_unit_test(result_json_replaces_each_ill_formed_sequence_with_one_replacement_character),
        cmocka_unit_test(result_json_keeps_content_after_a_nul),
        cmocka_unit_test(result_timestamps_never_reached_are_null_and_others_iso8601),
        cmocka_unit_test(result_metadata_that_is_not_json_is_kept_as_a_string),
        cmocka_unit_test(result_successful_attempt_and_error_type_ok_serialise_as_null),
        cmocka_unit_test(result_to_json_of_null_is_null_and_free_accepts_null),
        cmocka_unit_test(result_add_helpers_take_ownership_even_on_bad_arguments),
        cmocka_unit_test(a_packed_result_reads_and_frees_like_one_with_separate_strings),
        cmocka_unit_test(timestamp_names_are_the_documented_snake_case_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
