/* The JSON writer (src/base/jsonout.h) and the provider request bodies
 * written with it.  The bodies used to be cJSON trees printed with
 * cJSON_PrintUnformatted, and hosts and proxies may depend on their exact
 * bytes (caches keyed on the body, golden files), so every check here is
 * against the linked cJSON's own output: string escaping for every byte,
 * number formatting, and whole bodies built by a copy of the old
 * cJSON-based builders (the reference section below) for many requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/jsonout.h"
#include "llmorch/ext/provider.h"
#include "provider_helpers.h"
#include "providers/wire.h"

/* ---- helpers ------------------------------------------------------------------- */

/* cJSON_PrintUnformatted of `item` (deleted) as a malloc'd string. */
static char *cjson_text(cJSON *item)
{
    assert_non_null(item);
    char *printed = cJSON_PrintUnformatted(item);
    cJSON_Delete(item);
    assert_non_null(printed);
    char *copy = strdup(printed);
    cJSON_free(printed);
    assert_non_null(copy);
    return copy;
}

static char *jo_text(struct llm__jo *w)
{
    size_t len = 0;
    char *s = llm__jo_finish(w, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    return s;
}

/* Fail with both texts shown (escaped, so that control bytes are visible). */
static void assert_same_bytes(const char *got, size_t got_len, const char *want,
                              const char *what)
{
    size_t want_len = strlen(want);
    if (got_len == want_len && memcmp(got, want, want_len) == 0)
        return;
    char *g = llm__excerpt(got, got_len, 400);
    char *w = llm__excerpt(want, want_len, 400);
    print_error("%s: bytes differ (%zu vs %zu)\n got: %s\nwant: %s\n", what, got_len, want_len,
                g, w);
    free(g);
    free(w);
    fail();
}

static char *jo_string_text(const char *s)
{
    struct llm__jo w = {0};
    llm__jo_string(&w, s);
    return jo_text(&w);
}

static char *jo_double_text(double d)
{
    struct llm__jo w = {0};
    llm__jo_double(&w, d);
    return jo_text(&w);
}

static void assert_double_like_cjson(double d)
{
    char *got = jo_double_text(d);
    char *want = cjson_text(cJSON_CreateNumber(d));
    char what[64];
    snprintf(what, sizeof(what), "double %.17g", d);
    assert_same_bytes(got, strlen(got), want, what);
    free(got);
    free(want);
}

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static size_t pick(size_t n)
{
    return (size_t)(rng() % n);
}

/* ---- the writer ------------------------------------------------------------------ */

static void string_escaping_matches_cjson_for_every_byte(void **state)
{
    (void)state;
    /* Each byte alone between two letters, as a value and as a key. */
    for (int b = 1; b < 256; b++) {
        char s[4] = {'a', (char)b, 'z', '\0'};
        char what[32];
        snprintf(what, sizeof(what), "byte 0x%02x", b);

        char *got = jo_string_text(s);
        char *want = cjson_text(cJSON_CreateString(s));
        assert_same_bytes(got, strlen(got), want, what);
        free(got);
        free(want);

        struct llm__jo w = {0};
        llm__jo_object_begin(&w);
        llm__jo_key(&w, s);
        llm__jo_int(&w, 1);
        llm__jo_object_end(&w);
        got = jo_text(&w);
        cJSON *obj = cJSON_CreateObject();
        assert_non_null(cJSON_AddNumberToObject(obj, s, 1));
        want = cjson_text(obj);
        assert_same_bytes(got, strlen(got), want, what);
        free(got);
        free(want);
    }

    /* Every byte 0x01..0xFF in one string, and runs of escapes. */
    char all[256];
    for (int b = 1; b < 256; b++)
        all[b - 1] = (char)b;
    all[255] = '\0';
    char *got = jo_string_text(all);
    char *want = cjson_text(cJSON_CreateString(all));
    assert_same_bytes(got, strlen(got), want, "bytes 0x01..0xff");
    free(got);
    free(want);

    static const char *const specials[] = {
        "", "\"", "\\", "\"\"\\\\", "\n\n\r\t\b\f", "\x01\x1f\x7f\x80\xff", "/", "\xc3\xa9",
        "\xf0\x9f\x99\x82", "end\\",
    };
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
        got = jo_string_text(specials[i]);
        want = cjson_text(cJSON_CreateString(specials[i]));
        assert_same_bytes(got, strlen(got), want, "special string");
        free(got);
        free(want);
    }
}

/* The writer scans eight bytes at a time: put each byte that needs
 * escaping, and each byte next to those values, at every offset of
 * strings up to 40 bytes long. */
static void string_escaping_is_the_same_at_every_offset(void **state)
{
    (void)state;
    static const unsigned char probes[] = {0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, 0x20,
                                           0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80,
                                           0xa0, 0xa2, 0xdc, 0xe0, 0xff};
    char s[41];
    for (size_t len = 1; len < sizeof(s); len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof(probes); k++) {
                memset(s, 'x', len);
                s[len] = '\0';
                s[at] = (char)probes[k];
                char *got = jo_string_text(s);
                char *want = cjson_text(cJSON_CreateString(s));
                char what[64];
                snprintf(what, sizeof(what), "byte 0x%02x at %zu of %zu", probes[k], at, len);
                assert_same_bytes(got, strlen(got), want, what);
                free(got);
                free(want);
            }
        }
    }
}

/* Strings are scanned sixteen bytes at a time (SSE2) or eight, the last
 * block read overlapping the one before: two bytes that need escaping, at
 * every pair of offsets of strings up to 40 bytes (both in one block, in
 * a block and the overlapping last one, in the last alone), come out as
 * cJSON writes them, as a value and as a key. */
static void two_escapes_at_every_pair_of_offsets_match_cjson(void **state)
{
    (void)state;
    static const unsigned char firsts[] = {0x22, 0x5c, 0x01, 0x1f};
    static const unsigned char seconds[] = {0x0a, 0x22, 0xff};
    char s[41];
    for (size_t len = 2; len < sizeof(s); len++) {
        for (size_t a = 0; a < len; a++) {
            for (size_t b = a + 1; b < len; b++) {
                memset(s, 'x', len);
                s[len] = '\0';
                s[a] = (char)firsts[(a + b) % sizeof(firsts)];
                s[b] = (char)seconds[(len + b) % sizeof(seconds)];
                char what[64];
                snprintf(what, sizeof(what), "bytes at %zu and %zu of %zu", a, b, len);
                char *got = jo_string_text(s);
                char *want = cjson_text(cJSON_CreateString(s));
                assert_same_bytes(got, strlen(got), want, what);
                free(got);
                free(want);
                struct llm__jo w = {0};
                llm__jo_object_begin(&w);
                llm__jo_key(&w, s);
                llm__jo_null(&w);
                llm__jo_object_end(&w);
                got = jo_text(&w);
                cJSON *obj = cJSON_CreateObject();
                assert_non_null(cJSON_AddNullToObject(obj, s));
                want = cjson_text(obj);
                assert_same_bytes(got, strlen(got), want, what);
                free(got);
                free(want);
            }
        }
    }
}

/* A key given as a literal (llm__jo_key_lit) is written as llm__jo_key
 * writes it, first in an object or after another member. */
static void literal_keys_are_written_as_keys_are(void **state)
{
    (void)state;
    struct llm__jo a = {0}, b = {0};
    llm__jo_object_begin(&a);
    llm__jo_key_lit(&a, "model");
    llm__jo_string(&a, "m");
    llm__jo_key_lit(&a, "max_completion_tokens");
    llm__jo_int(&a, 3);
    llm__jo_key_lit(&a, "o");
    llm__jo_object_begin(&a);
    llm__jo_key_lit(&a, "");
    llm__jo_null(&a);
    llm__jo_object_end(&a);
    llm__jo_object_end(&a);
    llm__jo_object_begin(&b);
    llm__jo_key(&b, "model");
    llm__jo_string(&b, "m");
    llm__jo_key(&b, "max_completion_tokens");
    llm__jo_int(&b, 3);
    llm__jo_key(&b, "o");
    llm__jo_object_begin(&b);
    llm__jo_key(&b, "");
    llm__jo_null(&b);
    llm__jo_object_end(&b);
    llm__jo_object_end(&b);
    char *got = jo_text(&a), *want = jo_text(&b);
    assert_string_equal(got, want);
    assert_string_equal(got, "{\"model\":\"m\",\"max_completion_tokens\":3,\"o\":{\"\":null}}");
    free(got);
    free(want);
}

/* The writer's utf8 mode (issue 10 #8: documents for hosts and tools
 * must be valid UTF-8): at every offset of the eight-byte scan, a string
 * holding a well-formed or ill-formed sequence comes out as the default
 * mode writes the string with each ill-formed sequence replaced by U+FFFD
 * (llm__utf8_sanitize), and a NUL inside the length is \u0000. */
static void utf8_mode_replaces_ill_formed_sequences_at_every_offset(void **state)
{
    (void)state;
    static const char *const probes[] = {
        "\x80", "\xff", "\xc0\x80", "\xc3", "\xc3\xa9", "\xe2\x82", "\xe2\x82\xac",
        "\xed\xa0\x80", "\xf0\x9f\x99", "\xf0\x9f\x99\x82", "\xf4\x90\x80\x80", "\x01",
    };
    char s[64];
    for (size_t len = 1; len < 40; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
                size_t pl = strlen(probes[k]);
                memset(s, 'x', len);
                memcpy(s + at, probes[k], pl);
                size_t n = len > at + pl ? len : at + pl;
                struct llm__jo w = {0};
                w.utf8 = true;
                llm__jo_string_n(&w, s, n);
                char *got = jo_text(&w);
                size_t clean_len;
                char *clean = llm__utf8_sanitize(s, n, &clean_len);
                assert_int_equal(clean_len, strlen(clean));
                char *want = jo_string_text(clean);
                char what[64];
                snprintf(what, sizeof(what), "probe %zu at %zu of %zu", k, at, n);
                assert_same_bytes(got, strlen(got), want, what);
                assert_true(llm__utf8_valid(got, strlen(got)));
                free(got);
                free(clean);
                free(want);
            }
        }
    }
    struct llm__jo w = {0};
    w.utf8 = true;
    llm__jo_string_n(&w, "a\0\xff", 3);
    char *got = jo_text(&w);
    assert_string_equal(got, "\"a\\u0000\xef\xbf\xbd\"");
    free(got);
}

static void string_written_in_parts_equals_the_whole_string(void **state)
{
    (void)state;
    struct llm__jo w = {0};
    llm__jo_string_begin(&w);
    llm__jo_string_part(&w, "a\"b");
    llm__jo_string_part(&w, "");
    llm__jo_string_part(&w, "\n\n");
    llm__jo_string_part(&w, "\x01z");
    llm__jo_string_end(&w);
    char *got = jo_text(&w);
    char *want = cjson_text(cJSON_CreateString("a\"b\n\n\x01z"));
    assert_same_bytes(got, strlen(got), want, "string in parts");
    free(got);
    free(want);
}

static void doubles_are_formatted_as_cjson_formats_them(void **state)
{
    (void)state;
    static const double values[] = {
        0.7, 1, 0.1 + 0.2, 1e300, -0.0, 0.0, 123456789.123, 2147483648.0, 2147483647.0,
        -2147483648.0, -2147483649.0, 0.9, 2.5, -1.5, 1e-7, 1e-300, 5e-324, 2.2250738585072014e-308,
        1e15, 1e16, 1e17, 1e21, 1e22, 123456789012345678.0, 0.30000000000000004,
        1.0000000000000002, 0.99999999999999989, 3.0000000000000004, 1.7976931348623157e308,
        -1.7976931348623157e308, 0.1, 0.2, 1.0 / 3.0, 2.0 / 3.0, 100, 1234567.0, 4503599627370496.5,
        9007199254740993.0, 0.000123, 12345678.9, 1e-5, 1.5e-10,
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_double_like_cjson(values[i]);
        assert_double_like_cjson(-values[i]);
    }
    /* Random bit patterns (every exponent), and short decimals k / 10^j as
     * sampling parameters are usually written. */
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (isfinite(d))
            assert_double_like_cjson(d);
    }
    for (int k = -2000; k <= 2000; k++) {
        for (int j = 0; j <= 6; j++)
            assert_double_like_cjson((double)k / pow(10, j));
    }
}

static void non_finite_doubles_are_written_as_null(void **state)
{
    (void)state;
    static const double values[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        char *got = jo_double_text(values[i]);
        assert_string_equal(got, "null");
        free(got);
        assert_double_like_cjson(values[i]);
    }
}

static void integers_match_cjson_numbers(void **state)
{
    (void)state;
    static const int64_t values[] = {
        0, 1, -1, 7, 10, 99, 100, 1024, INT_MAX, INT_MIN, (int64_t)INT_MAX + 1,
        (int64_t)INT_MIN - 1, 999999999999999, -999999999999999,
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct llm__jo w = {0};
        llm__jo_int(&w, values[i]);
        char *got = jo_text(&w);
        char *want = cjson_text(cJSON_CreateNumber((double)values[i]));
        assert_same_bytes(got, strlen(got), want, "integer");
        free(got);
        free(want);
    }
    for (int i = 0; i < 20000; i++) {
        int v = (int)(uint32_t)rng();
        struct llm__jo w = {0};
        llm__jo_int(&w, v);
        char *got = jo_text(&w);
        char *want = cjson_text(cJSON_CreateNumber(v));
        assert_same_bytes(got, strlen(got), want, "random int");
        free(got);
        free(want);
    }
    /* The extremes are plain digits too (no claim to match cJSON there). */
    struct llm__jo w = {0};
    llm__jo_array_begin(&w);
    llm__jo_int(&w, INT64_MIN);
    llm__jo_int(&w, INT64_MAX);
    llm__jo_array_end(&w);
    char *got = jo_text(&w);
    assert_string_equal(got, "[-9223372036854775808,9223372036854775807]");
    free(got);
}

static void containers_commas_and_raw_values_match_cjson(void **state)
{
    (void)state;
    struct llm__jo w = {0};
    llm__jo_object_begin(&w);
    llm__jo_key(&w, "empty_obj");
    llm__jo_object_begin(&w);
    llm__jo_object_end(&w);
    llm__jo_key(&w, "empty_arr");
    llm__jo_array_begin(&w);
    llm__jo_array_end(&w);
    llm__jo_key(&w, "arr");
    llm__jo_array_begin(&w);
    llm__jo_int(&w, 1);
    llm__jo_string(&w, "two");
    llm__jo_bool(&w, true);
    llm__jo_bool(&w, false);
    llm__jo_null(&w);
    llm__jo_string(&w, NULL);
    llm__jo_object_begin(&w);
    llm__jo_key(&w, "k");
    llm__jo_double(&w, 0.5);
    llm__jo_object_end(&w);
    llm__jo_array_begin(&w);
    llm__jo_array_begin(&w);
    llm__jo_array_end(&w);
    llm__jo_array_end(&w);
    llm__jo_array_end(&w);
    llm__jo_key(&w, "raw");
    llm__jo_raw(&w, "{\"x\":[1,2]}", 11);
    llm__jo_key(&w, "after");
    llm__jo_int(&w, -3);
    llm__jo_object_end(&w);
    char *got = jo_text(&w);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddObjectToObject(root, "empty_obj");
    cJSON_AddArrayToObject(root, "empty_arr");
    cJSON *arr = cJSON_AddArrayToObject(root, "arr");
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(arr, cJSON_CreateString("two"));
    cJSON_AddItemToArray(arr, cJSON_CreateTrue());
    cJSON_AddItemToArray(arr, cJSON_CreateFalse());
    cJSON_AddItemToArray(arr, cJSON_CreateNull());
    cJSON_AddItemToArray(arr, cJSON_CreateNull());
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "k", 0.5);
    cJSON_AddItemToArray(arr, o);
    cJSON *outer = cJSON_CreateArray();
    cJSON_AddItemToArray(outer, cJSON_CreateArray());
    cJSON_AddItemToArray(arr, outer);
    cJSON_AddItemToObject(root, "raw", cJSON_Parse("{\"x\":[1,2]}"));
    cJSON_AddNumberToObject(root, "after", -3);
    char *want = cjson_text(root);
    assert_same_bytes(got, strlen(got), want, "containers");
    free(got);
    free(want);
}

/* A host that called setlocale() or uselocale() (as here: thread-local,
 * and undone before any assertion) must still send '.'.  Skipped where no
 * locale with a decimal comma is installed.  (LOCPATH may point at one
 * made with localedef, but glibc's newlocale then leaks the path it
 * builds, in every program: no leak checking in such a run.) */
static void decimal_point_is_a_dot_in_any_locale(void **state)
{
    (void)state;
    static const char *const comma_locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                                "fr_FR.utf8", "ru_RU.UTF-8", "ru_RU.utf8"};
    locale_t loc = (locale_t)0;
    for (size_t i = 0; i < sizeof(comma_locales) / sizeof(comma_locales[0]) && !loc; i++)
        loc = newlocale(LC_NUMERIC_MASK, comma_locales[i], (locale_t)0);
    if (!loc) {
        print_message("no locale with a decimal comma installed: skipped\n");
        skip();
    }
    locale_t old = uselocale(loc);
    char probe[16];
    snprintf(probe, sizeof(probe), "%.1f", 0.5);
    bool comma = strcmp(probe, "0,5") == 0; /* the locale is in force */
    static const double values[] = {0.5, 0.7, 0.1 + 0.2, 123456789.123, 1e-7, 1.5e300, -2.25};
    static const char *const want[] = {"0.5", "0.7", "0.3", "123456789.123", "1e-07",
                                       "1.5e+300", "-2.25"};
    char *got[sizeof(values) / sizeof(values[0])];
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        got[i] = jo_double_text(values[i]);
    /* cJSON replaces the comma too: still the same bytes. */
    char *cj = cjson_text(cJSON_CreateNumber(0.7));
    uselocale(old);
    freelocale(loc);

    assert_true(comma);
    assert_string_equal(cj, "0.7");
    free(cj);
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_string_equal(got[i], want[i]);
        free(got[i]);
    }
}

static void allocation_failure_loses_the_document(void **state)
{
    (void)state;
    struct llm__jo w = {0};
    llm__jo_object_begin(&w);
    llm__jo_key(&w, "a");
    llm__jo_set_oom(&w);
    llm__jo_string(&w, "lost");
    llm__jo_object_end(&w);
    size_t len = 99;
    assert_null(llm__jo_finish(&w, &len));
    assert_int_equal(len, 0);
    assert_null(w.data); /* freed and reset */
    assert_false(w.oom);

    /* An empty writer finishes as "", and llm__jo_free is safe on it. */
    char *empty = llm__jo_finish(&w, &len);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    assert_int_equal(len, 0);
    free(empty);
    llm__jo_free(&w);
}

static void reservation_is_only_a_hint(void **state)
{
    (void)state;
    struct llm__jo w = {0};
    llm__jo_reserve(&w, 4);
    llm__jo_string(&w, "much longer than four bytes, so the buffer grows");
    char *got = jo_text(&w);
    assert_string_equal(got, "\"much longer than four bytes, so the buffer grows\"");
    free(got);

    /* A reservation that cannot be had is dropped, not a failure. */
    llm__jo_reserve(&w, SIZE_MAX);
    llm__jo_int(&w, 5);
    got = jo_text(&w);
    assert_string_equal(got, "5");
    free(got);
}

/* ---- reference: the request bodies as the cJSON-based builders made them ------- */

/* What follows is the old code of src/providers/{openai,anthropic}.c
 * build_body() and src/providers/wire.c llm__json_merge_extra() /
 * llm__json_set_body(), kept verbatim but for names: the bodies they print
 * are what the providers MUST keep sending, byte for byte. */

static enum llm_error ref_merge_extra(cJSON *body, const char *extra_json)
{
    if (extra_json == NULL)
        return LLM_OK;
    cJSON *extra = llm__json_parse(extra_json, strlen(extra_json));
    if (!cJSON_IsObject(extra)) {
        cJSON_Delete(extra);
        return LLM_ERR_INVALID_REQUEST;
    }
    enum llm_error err = LLM_OK;
    while (extra->child != NULL) {
        cJSON *item = cJSON_DetachItemViaPointer(extra, extra->child);
        cJSON *old = cJSON_GetObjectItemCaseSensitive(body, item->string);
        bool ok;
        if (old != NULL) {
            ok = cJSON_ReplaceItemViaPointer(body, old, item);
        } else {
            char *key = llm__strdup(item->string);
            ok = key != NULL && cJSON_AddItemToObject(body, key, item);
            free(key);
        }
        if (!ok) {
            cJSON_Delete(item);
            err = LLM_ERR_OUT_OF_MEMORY;
            break;
        }
    }
    cJSON_Delete(extra);
    return err;
}

static bool ref_add_message(cJSON *messages, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (m == NULL)
        return false;
    if (cJSON_AddStringToObject(m, "role", role) == NULL ||
        cJSON_AddStringToObject(m, "content", content) == NULL ||
        !cJSON_AddItemToArray(messages, m)) {
        cJSON_Delete(m);
        return false;
    }
    return true;
}

static cJSON *ref_openai_body(const struct llm_request *req, enum llm_error *err)
{
    *err = LLM_ERR_OUT_OF_MEMORY;
    /* Both providers now refuse a negative max_tokens (one shared check,
     * llm__body_begin); the cJSON builder of the openai provider ignored it. */
    if (req->model == NULL || (req->n_messages > 0 && req->messages == NULL) ||
        (req->n_stop > 0 && req->stop == NULL) || req->max_tokens < 0 ||
        (req->has_temperature && !isfinite(req->temperature)) ||
        (req->has_top_p && !isfinite(req->top_p))) {
        *err = LLM_ERR_INVALID_REQUEST;
        return NULL;
    }
    for (size_t i = 0; i < req->n_messages; i++) {
        if (req->messages[i].role == NULL || req->messages[i].content == NULL) {
            *err = LLM_ERR_INVALID_REQUEST;
            return NULL;
        }
    }
    for (size_t i = 0; i < req->n_stop; i++) {
        if (req->stop[i] == NULL) {
            *err = LLM_ERR_INVALID_REQUEST;
            return NULL;
        }
    }

    cJSON *body = cJSON_CreateObject();
    if (body == NULL || cJSON_AddStringToObject(body, "model", req->model) == NULL)
        goto fail;
    cJSON *messages = cJSON_AddArrayToObject(body, "messages");
    if (messages == NULL)
        goto fail;
    if (req->system != NULL && req->system[0] != '\0' &&
        !ref_add_message(messages, "system", req->system))
        goto fail;
    for (size_t i = 0; i < req->n_messages; i++) {
        if (!ref_add_message(messages, req->messages[i].role, req->messages[i].content))
            goto fail;
    }
    if (req->max_tokens > 0 &&
        cJSON_AddNumberToObject(body, "max_tokens", req->max_tokens) == NULL)
        goto fail;
    if (req->has_temperature &&
        cJSON_AddNumberToObject(body, "temperature", req->temperature) == NULL)
        goto fail;
    if (req->has_top_p && cJSON_AddNumberToObject(body, "top_p", req->top_p) == NULL)
        goto fail;
    if (req->n_stop > 0) {
        cJSON *stop = cJSON_AddArrayToObject(body, "stop");
        if (stop == NULL)
            goto fail;
        for (size_t i = 0; i < req->n_stop; i++) {
            cJSON *s = cJSON_CreateString(req->stop[i]);
            if (s == NULL || !cJSON_AddItemToArray(stop, s)) {
                cJSON_Delete(s);
                goto fail;
            }
        }
    }
    if (req->stream) {
        cJSON *so;
        if (cJSON_AddTrueToObject(body, "stream") == NULL ||
            (so = cJSON_AddObjectToObject(body, "stream_options")) == NULL ||
            cJSON_AddTrueToObject(so, "include_usage") == NULL)
            goto fail;
    }
    *err = ref_merge_extra(body, req->extra_json);
    if (*err != LLM_OK)
        goto fail;
    return body;

fail:
    cJSON_Delete(body);
    return NULL;
}

static bool ref_is_system_role(const char *role)
{
    return strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
}

static enum llm_error ref_join_system(const struct llm_request *req, char **out)
{
    *out = NULL;
    struct llm__buf b = {0};
    enum llm_error err = LLM_OK;
    if (req->system != NULL && req->system[0] != '\0')
        err = llm__buf_append(&b, req->system, strlen(req->system));
    for (size_t i = 0; i < req->n_messages && err == LLM_OK; i++) {
        const struct llm_message *m = &req->messages[i];
        if (!ref_is_system_role(m->role) || m->content[0] == '\0')
            continue;
        if (b.len > 0)
            err = llm__buf_append(&b, "\n\n", 2);
        if (err == LLM_OK)
            err = llm__buf_append(&b, m->content, strlen(m->content));
    }
    if (err != LLM_OK) {
        llm__buf_free(&b);
        return err;
    }
    if (b.len > 0 && (*out = llm__buf_steal(&b)) == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    llm__buf_free(&b);
    return LLM_OK;
}

static cJSON *ref_anthropic_body(const struct llm_request *req, enum llm_error *err)
{
    *err = LLM_ERR_OUT_OF_MEMORY;
    if (req->model == NULL || (req->n_messages > 0 && req->messages == NULL) ||
        (req->n_stop > 0 && req->stop == NULL) || req->max_tokens < 0 ||
        (req->has_temperature && !isfinite(req->temperature)) ||
        (req->has_top_p && !isfinite(req->top_p))) {
        *err = LLM_ERR_INVALID_REQUEST;
        return NULL;
    }
    for (size_t i = 0; i < req->n_messages; i++) {
        if (req->messages[i].role == NULL || req->messages[i].content == NULL) {
            *err = LLM_ERR_INVALID_REQUEST;
            return NULL;
        }
    }
    for (size_t i = 0; i < req->n_stop; i++) {
        if (req->stop[i] == NULL) {
            *err = LLM_ERR_INVALID_REQUEST;
            return NULL;
        }
    }

    char *system = NULL;
    *err = ref_join_system(req, &system);
    if (*err != LLM_OK)
        return NULL;
    *err = LLM_ERR_OUT_OF_MEMORY;

    cJSON *body = cJSON_CreateObject();
    cJSON *messages;
    if (body == NULL || cJSON_AddStringToObject(body, "model", req->model) == NULL ||
        cJSON_AddNumberToObject(body, "max_tokens",
                                req->max_tokens > 0 ? req->max_tokens : 1024) == NULL ||
        (system != NULL && cJSON_AddStringToObject(body, "system", system) == NULL) ||
        (messages = cJSON_AddArrayToObject(body, "messages")) == NULL)
        goto fail;
    for (size_t i = 0; i < req->n_messages; i++) {
        const struct llm_message *m = &req->messages[i];
        if (!ref_is_system_role(m->role) && !ref_add_message(messages, m->role, m->content))
            goto fail;
    }
    if (req->has_temperature &&
        cJSON_AddNumberToObject(body, "temperature", req->temperature) == NULL)
        goto fail;
    if (req->has_top_p && cJSON_AddNumberToObject(body, "top_p", req->top_p) == NULL)
        goto fail;
    if (req->n_stop > 0) {
        cJSON *stop = cJSON_AddArrayToObject(body, "stop_sequences");
        if (stop == NULL)
            goto fail;
        for (size_t i = 0; i < req->n_stop; i++) {
            cJSON *s = cJSON_CreateString(req->stop[i]);
            if (s == NULL || !cJSON_AddItemToArray(stop, s)) {
                cJSON_Delete(s);
                goto fail;
            }
        }
    }
    if (req->stream && cJSON_AddTrueToObject(body, "stream") == NULL)
        goto fail;
    *err = ref_merge_extra(body, req->extra_json);
    if (*err != LLM_OK)
        goto fail;
    free(system);
    return body;

fail:
    free(system);
    cJSON_Delete(body);
    return NULL;
}

typedef cJSON *ref_body_fn(const struct llm_request *req, enum llm_error *err);

/* The old body (malloc'd, as ref_set_body printed it) or NULL with *err. */
static char *ref_body(ref_body_fn *fn, const struct llm_request *req, enum llm_error *err)
{
    cJSON *body = fn(req, err);
    if (body == NULL)
        return NULL;
    char *s = cjson_text(body);
    *err = LLM_OK;
    return s;
}

/* ---- provider bodies against the reference ----------------------------------- */

static const char long_content_seed[] = "A long prompt with \"quotes\", a\ttab and \x01 ";

/* Build `req` with the provider and with the reference; same status, and
 * on success the same bytes. */
static void assert_body_like_reference(struct llm_provider *p, ref_body_fn *ref,
                                       const struct llm_request *req, const char *what)
{
    enum llm_error want_err = LLM_OK;
    char *want = ref_body(ref, req, &want_err);
    struct llm_http_request out;
    memset(&out, 0xA5, sizeof(out));
    enum llm_error got_err = p->vtable->build_request(p, req, TEST_TRACE_ID, &out);
    if (got_err != want_err) {
        print_error("%s: %s, the reference gave %s (extra_json %s)\n", what,
                    llm_error_name(got_err), llm_error_name(want_err),
                    req->extra_json != NULL ? req->extra_json : "(none)");
        fail();
    }
    if (got_err == LLM_OK) {
        assert_non_null(out.body);
        assert_int_equal(out.body[out.body_len], '\0');
        assert_same_bytes(out.body, out.body_len, want, what);
        llm_http_request_clear(&out);
    } else {
        /* Nothing is left allocated: the slot zeroes `out` first. */
        assert_null(out.body);
        assert_null(out.url);
        assert_int_equal(out.n_headers, 0);
    }
    free(want);
}

static const char *const extra_variants[] = {
    NULL,
    "{}",
    "{\"seed\":7}",
    "{\"model\":\"override-model\"}",
    "{\"max_tokens\":64000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048}}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"replaced\"}]}",
    "{\"stream\":false}",
    "{\"stream_options\":{\"include_usage\":false}}",
    "{\"temperature\":0.30000000000000004,\"top_p\":1e400}",
    "{\"a\":1,\"a\":2}",
    "{\"seed\":1,\"model\":\"m2\",\"seed\":3,\"model\":\"m3\",\"seed\":{\"n\":4}}",
    "{\"system\":\"extra system\",\"stop\":null,\"stop_sequences\":[\"X\"]}",
    "{\"response_format\":{\"type\":\"json_object\"},\"n\":2,\"logit_bias\":{\"50256\":-100}}",
    " { \"x\" : [1, 2.50, -0, 1E3, 0.1, \"\\u0001\\u00e9\\ud83d\\ude00\\/\"] } \n",
    "{\"k\\\"ey\\u0000z\":true,\"\":1,\"\\u00e9\":\"\\n\"}",
    "{\"max_tokens\":12,\"max_tokens\":-1,\"user\":\"u\",\"user\":\"v\"}",
    "{\"messages\":\"not even an array\",\"model\":[]}",
    /* Not JSON objects: LLM_ERR_INVALID_REQUEST. */
    "[]",
    "[{\"seed\":7}]",
    "\"string\"",
    "null",
    "123",
    "",
    "   ",
    "{",
    "{\"a\":1}x",
    "{\"a\":1}{\"b\":2}",
    "{\"a\":}",
    "{\"a\":1,}",
    "{'a':1}",
};

#define N_EXTRA (sizeof(extra_variants) / sizeof(extra_variants[0]))

static const char *const models[] = {"gpt-4o-mini", "claude-sonnet-4-5", "",
                                     "m\xc3\xb6\x64\x65l/\"x\"", "m\x01\x7f"};
static const char *const systems[] = {
    NULL, "", "You are terse.",
    "Sys with \"quotes\", \\ and \n\t\x01 and \xc3\xa9\xe6\xbc\xa2\xf0\x9f\x99\x82", "\x1f"};
/* "function": a role the builders pass through unchecked ("tool" turns now
 * map to tool_result blocks for Anthropic, tested in test_anthropic.c). */
static const char *const roles[] = {"user", "assistant", "system", "developer", "user", "function"};
static const char *contents[] = {
    "Hello",
    "",
    "line1\nline2\r\n\ttab\b\f",
    "\"quoted\" \\back\\ /slash/ </script>",
    "control \x01\x02\x1b\x1f\x7f end",
    "unicode \xc3\xa9 \xc3\xbc \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x99\x82 \xe2\x80\xa8",
    "invalid utf-8 \xff\xfe\xc0\x80\xed\xa0\x80",
    NULL, /* every byte 0x01..0xff: filled in by fill_pools */
    NULL, /* long, with escapes, past the size hint: filled in by fill_pools */
};
static const char *const stops[] = {"END", "###", "\n\n", "\"", "\xc3\xbc", ""};
static const int max_tokens[] = {0, 1, 256, 1024, INT_MAX, -1, -5};
static const double numbers[] = {0, 0.7, 1, 2, 0.1 + 0.2, -0.0, 1e-7, 1.0000000000000002,
                                 5e-324, 1e300, 123456789.123, 2147483648.0, 0.95, 0.9,
                                 0.12345678901234568, 1.0 / 3.0};

static char all_bytes[256];
static char *long_content;

static void fill_pools(void)
{
    for (int b = 1; b < 256; b++)
        all_bytes[b - 1] = (char)b;
    all_bytes[255] = '\0';
    contents[7] = all_bytes;
    if (long_content == NULL) {
        size_t seed = sizeof(long_content_seed) - 1;
        size_t n = 3000 * seed;
        long_content = malloc(n + 1);
        assert_non_null(long_content);
        for (size_t i = 0; i < n; i += seed)
            memcpy(long_content + i, long_content_seed, seed);
        long_content[n] = '\0';
    }
    contents[8] = long_content;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A random request over the pools (messages and stop point into `msgs` and
 * `stop`, which hold at least 6 and 4 entries). */
static struct llm_request random_request(struct llm_message *msgs, const char **stop)
{
    struct llm_request req = {0};
    req.model = models[pick(COUNT(models))];
    req.system = systems[pick(COUNT(systems))];
    req.n_messages = pick(7);
    for (size_t i = 0; i < req.n_messages; i++) {
        msgs[i].role = roles[pick(COUNT(roles))];
        msgs[i].content = contents[pick(COUNT(contents))];
    }
    req.messages = req.n_messages > 0 || pick(2) ? msgs : NULL;
    req.n_stop = pick(3) == 0 ? 0 : pick(5);
    for (size_t i = 0; i < req.n_stop; i++)
        stop[i] = stops[pick(COUNT(stops))];
    req.stop = req.n_stop > 0 ? stop : NULL;
    req.stream = pick(2);
    req.max_tokens = max_tokens[pick(COUNT(max_tokens))];
    req.has_temperature = pick(2);
    req.temperature = numbers[pick(COUNT(numbers))];
    req.has_top_p = pick(3) == 0;
    req.top_p = numbers[pick(COUNT(numbers))];
    req.extra_json = pick(3) == 0 ? extra_variants[pick(N_EXTRA)] : NULL;
    return req;
}

static void bodies_match_reference(struct llm_provider *p, ref_body_fn *ref, const char *name)
{
    fill_pools();
    char what[64];
    struct llm_message msgs[8] = {{0}};
    const char *stop[8];

    /* Every extra_json variant on a few fixed requests. */
    static const struct llm_message conv[] = {
        {.role = "system", .content = "Be brief."}, {.role = "user", .content = "Hi \"there\"\n"}, {.role = "assistant", .content = "Hello."},
        {.role = "developer", .content = "Use JSON."}, {.role = "user", .content = "\xf0\x9f\x99\x82?"}};
    static const char *const conv_stop[] = {"END", "\n"};
    for (size_t e = 0; e < N_EXTRA; e++) {
        for (int shape = 0; shape < 4; shape++) {
            struct llm_request req = {0};
            req.model = "gpt-4o-mini";
            req.messages = conv;
            req.n_messages = shape == 0 ? 1 : COUNT(conv);
            req.system = shape >= 2 ? "System prompt." : NULL;
            req.max_tokens = shape == 1 ? 0 : 300;
            req.stream = shape & 1;
            req.has_temperature = shape >= 1;
            req.temperature = 0.7;
            req.has_top_p = shape == 3;
            req.top_p = 0.9;
            req.stop = conv_stop;
            req.n_stop = shape >= 2 ? 2 : 0;
            req.extra_json = extra_variants[e];
            snprintf(what, sizeof(what), "%s extra #%zu shape %d", name, e, shape);
            assert_body_like_reference(p, ref, &req, what);
        }
    }

    /* bench/bench_common.c's bench_openai_body() request. */
    for (int stream = 0; stream < 2; stream++) {
        struct llm_message m = {.role = "user", .content = "Say hello in five words."};
        struct llm_request req = {0};
        req.model = "gpt-4o-mini";
        req.messages = &m;
        req.n_messages = 1;
        req.max_tokens = 16;
        req.stream = stream;
        assert_body_like_reference(p, ref, &req, "bench request");
    }

    /* Requests the providers refuse. */
    struct llm_message bad_role = {.role = NULL, .content = "x"}, bad_content = {.role = "user", .content = NULL};
    const char *null_stop[] = {"END", NULL};
    for (int k = 0; k < 9; k++) {
        struct llm_message ok = {.role = "user", .content = "x"};
        struct llm_request req = {0};
        req.model = "m";
        req.messages = &ok;
        req.n_messages = 1;
        switch (k) {
        case 0: req.model = NULL; break;
        case 1: req.messages = NULL; break;
        case 2: req.messages = &bad_role; break;
        case 3: req.messages = &bad_content; break;
        case 4: req.stop = NULL; req.n_stop = 1; break;
        case 5: req.stop = null_stop; req.n_stop = 2; break;
        case 6: req.has_temperature = true; req.temperature = NAN; break;
        case 7: req.has_top_p = true; req.top_p = INFINITY; break;
        case 8: req.max_tokens = -1; break;
        }
        snprintf(what, sizeof(what), "%s invalid #%d", name, k);
        assert_body_like_reference(p, ref, &req, what);
    }

    /* And many random ones. */
    for (int i = 0; i < 4000; i++) {
        struct llm_request req = random_request(msgs, stop);
        snprintf(what, sizeof(what), "%s random #%d", name, i);
        assert_body_like_reference(p, ref, &req, what);
    }
}

static void openai_bodies_are_byte_identical_to_the_cjson_builder(void **state)
{
    (void)state;
    struct llm_provider *p = NULL;
    assert_int_equal(llm_provider_new_openai(NULL, &p), LLM_OK);
    bodies_match_reference(p, ref_openai_body, "openai");
    llm_provider_free(p);
}

static void anthropic_bodies_are_byte_identical_to_the_cjson_builder(void **state)
{
    (void)state;
    struct llm_provider *p = NULL;
    assert_int_equal(llm_provider_new_anthropic(NULL, &p), LLM_OK);
    bodies_match_reference(p, ref_anthropic_body, "anthropic");
    llm_provider_free(p);
}

/* ---- no cJSON on the hot path ----------------------------------------------------- */

static long cjson_allocs;

static void *counting_malloc(size_t n)
{
    cjson_allocs++;
    return malloc(n);
}

static void counting_free(void *p)
{
    free(p);
}

/* Without extra_json a body costs no cJSON allocation (cJSON_InitHooks
 * counts them); with it, it does (so the count is not vacuous).  The body
 * is ours either way: llm_http_request_clear frees it with free(), which
 * was wrong for a cJSON-printed body when the host had given cJSON
 * other allocation hooks. */
static void body_without_extra_json_makes_no_cjson_allocation(void **state)
{
    (void)state;
    struct llm_provider *provs[2] = {NULL, NULL};
    assert_int_equal(llm_provider_new_openai(NULL, &provs[0]), LLM_OK);
    assert_int_equal(llm_provider_new_anthropic(NULL, &provs[1]), LLM_OK);
    static const struct llm_message msgs[] = {{.role = "system", .content = "S"}, {.role = "user", .content = "Hi"}};
    static const char *const stop[] = {"END"};
    struct llm_request req = {0};
    req.model = "gpt-4o-mini";
    req.system = "sys";
    req.messages = msgs;
    req.n_messages = 2;
    req.max_tokens = 100;
    req.has_temperature = true;
    req.temperature = 0.7;
    req.has_top_p = true;
    req.top_p = 0.9;
    req.stop = stop;
    req.n_stop = 1;
    req.stream = true;

    cJSON_Hooks hooks = {counting_malloc, counting_free};
    for (int i = 0; i < 2; i++) {
        cJSON_InitHooks(&hooks);
        cjson_allocs = 0;
        req.extra_json = NULL;
        struct llm_http_request out;
        enum llm_error err = provs[i]->vtable->build_request(provs[i], &req, NULL, &out);
        long without = cjson_allocs;
        if (err == LLM_OK)
            llm_http_request_clear(&out);
        req.extra_json = "{\"seed\":1}";
        cjson_allocs = 0;
        enum llm_error err2 = provs[i]->vtable->build_request(provs[i], &req, NULL, &out);
        long with = cjson_allocs;
        if (err2 == LLM_OK)
            llm_http_request_clear(&out);
        cJSON_InitHooks(NULL);
        assert_int_equal(err, LLM_OK);
        assert_int_equal(err2, LLM_OK);
        assert_int_equal(without, 0);
        assert_true(with > 0);
    }
    llm_provider_free(provs[0]);
    llm_provider_free(provs[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(string_escaping_matches_cjson_for_every_byte),
        cmocka_unit_test(string_escaping_is_the_same_at_every_offset),
        cmocka_unit_test(two_escapes_at_every_pair_of_offsets_match_cjson),
        cmocka_unit_test(literal_keys_are_written_as_keys_are),
        cmocka_unit_test(utf8_mode_replaces_ill_formed_sequences_at_every_offset),
        cmocka_unit_test(string_written_in_parts_equals_the_whole_string),
        cmocka_unit_test(doubles_are_formatted_as_cjson_formats_them),
        cmocka_unit_test(non_finite_doubles_are_written_as_null),
        cmocka_unit_test(integers_match_cjson_numbers),
        cmocka_unit_test(containers_commas_and_raw_values_match_cjson),
        cmocka_unit_test(decimal_point_is_a_dot_in_any_locale),
        cmocka_unit_test(allocation_failure_loses_the_document),
        cmocka_unit_test(reservation_is_only_a_hint),
        cmocka_unit_test(openai_bodies_are_byte_identical_to_the_cjson_builder),
        cmocka_unit_test(anthropic_bodies_are_byte_identical_to_the_cjson_builder),
        cmocka_unit_test(body_without_extra_json_makes_no_cjson_allocation),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(long_content);
    return rc;
}
