/* The allocation-free JSON reader (src/base/jsonr.h): it accepts valid
 * JSON, rejects invalid JSON, never accepts what cJSON rejects, and
 * decodes strings exactly as cJSON does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "base/jsonr.h"
#include "providers/wire.h"

static bool reads_whole(const char *s, size_t len)
{
    struct llm__jr r;
    llm__jr_init(&r, s, len);
    return llm__jr_skip(&r) && llm__jr_finish(&r);
}

static void valid_json_is_read_whole(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{}", "[]", " { } ", "0", "-0", "1.5", "-12.5e+3", "1E-2", "true", "false", "null",
        "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\\u00e9\\uD83D\\uDE00\"",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}", "[[[[]]]]", "\t\r\n[1 , 2 ]\n",
        "{\"\":\"\"}", "\"caf\xc3\xa9\"",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!reads_whole(ok[i], strlen(ok[i])))
            fail_msg("rejected valid JSON: %s", ok[i]);
    }
}

static void invalid_json_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}",
        "[1 2]", "01", "1.", ".5", "-", "1e", "1e+", "+1", "tru", "nul", "True", "\"abc",
        "\"a\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"a\nb\"", "'a'", "[1]]", "{} {}", "1 2",
        "\xef\xbb\xbf{}", "[\"a\"\"b\"]", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "nan", "[-]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (reads_whole(bad[i], strlen(bad[i])))
            fail_msg("accepted invalid JSON: %s", bad[i]);
    }
}

/* What cJSON may read differently (or refuse) is declined, not read. */
static void what_cjson_may_read_otherwise_is_declined(void **state)
{
    (void)state;
    static const char *const declined[] = {
        "\"a\\u0000b\"",       /* cJSON's strings end at the NUL */
        "\"\\uDC00\"",         /* lone low surrogate: cJSON fails */
        "\"\\uD800\"",         /* high surrogate alone */
        "\"\\uD800\\u0041\"",  /* high surrogate + not a low one */
        "\"\\uD800x\"",
    };
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
        if (reads_whole(declined[i], strlen(declined[i])))
            fail_msg("read what cJSON may read otherwise: %s", declined[i]);
    }
    /* Numbers of 63 characters and more (cJSON's buffer). */
    char num[80];
    memset(num, '1', 62);
    num[62] = '\0';
    assert_true(reads_whole(num, 62));
    memset(num, '1', 63);
    num[63] = '\0';
    assert_false(reads_whole(num, 63));
    /* Nesting: 64 levels read, 65 declined. */
    char deep[200];
    for (int depth = 64; depth <= 65; depth++) {
        int n = 0;
        for (int i = 0; i < depth; i++)
            deep[n++] = '[';
        for (int i = 0; i < depth; i++)
            deep[n++] = ']';
        assert_int_equal(reads_whole(deep, (size_t)n), depth <= LLM__JR_MAX_DEPTH);
    }
}

/* Reads only (pointer, length): a valid prefix of a longer buffer is
 * read, and a document cut anywhere is refused. */
static void every_truncation_is_refused(void **state)
{
    (void)state;
    const char *doc = "{\"id\":\"x\",\"n\":[1,-2.5e3,true,false,null],\"s\":\"\\u00e9\\n\"}";
    size_t n = strlen(doc);
    assert_true(reads_whole(doc, n));
    for (size_t cut = 0; cut < n; cut++) {
        if (reads_whole(doc, cut))
            fail_msg("accepted a document cut at %zu", cut);
    }
}

/* Strings decode byte for byte as cJSON decodes them. */
static void strings_decode_as_cjson_decodes_them(void **state)
{
    (void)state;
    static const char *const strs[] = {
        "\"plain\"", "\"\\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"", "\"\\u0041\\u00e9\\u20AC\"",
        "\"\\ud83d\\ude00 smile\"", "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
        "\"raw \xe2\x82\xac and bad \xff bytes\"", "\"\\u0001\\u001F\"", "\"\"",
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        struct llm__jr r;
        struct llm__jr_str s = {0};
        llm__jr_init(&r, strs[i], strlen(strs[i]));
        assert_true(llm__jr_string(&r, &s));
        assert_true(llm__jr_finish(&r));
        char *dst = malloc(s.len + 1);
        size_t n = llm__jr_decode(&s, dst);
        assert_true(n <= s.len);
        cJSON *ref = cJSON_Parse(strs[i]);
        assert_non_null(ref);
        assert_int_equal(n, strlen(ref->valuestring));
        assert_memory_equal(dst, ref->valuestring, n);
        cJSON_Delete(ref);
        free(dst);
    }
}

/* Strings are scanned eight bytes at a time: a byte that ends the plain
 * run ('"', '\\', a control byte) is found at every offset, and bytes that
 * do not (0x20, 0x7F, 0x80-0xFF, '!', '#', '[', ']') are not taken for one. */
static void every_string_byte_is_classified_at_every_offset(void **state)
{
    (void)state;
    static const unsigned char plain[] = {0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xC3, 0xFF};
    static const unsigned char control[] = {0x00, 0x01, 0x0A, 0x1F};
    char buf[64];
    for (size_t len = 1; len <= 40; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            struct llm__jr r;
            struct llm__jr_str str = {0};
            /* "aaa<probe>aaa" */
            buf[0] = '"';
            memset(buf + 1, 'a', len);
            buf[len + 1] = '"';
            for (size_t i = 0; i < sizeof(plain); i++) {
                buf[1 + pos] = (char)plain[i];
                llm__jr_init(&r, buf, len + 2);
                assert_true(llm__jr_string(&r, &str));
                assert_int_equal(str.len, len);
                assert_false(str.escaped);
                assert_true(llm__jr_finish(&r));
            }
            for (size_t i = 0; i < sizeof(control); i++) {
                buf[1 + pos] = (char)control[i];
                llm__jr_init(&r, buf, len + 2);
                assert_false(llm__jr_string(&r, &str));
            }
            /* A quote ends the string there. */
            buf[1 + pos] = '"';
            llm__jr_init(&r, buf, len + 2);
            assert_true(llm__jr_string(&r, &str));
            assert_int_equal(str.len, pos);
            /* A backslash escapes the next byte ('a': invalid; '"': kept). */
            buf[1 + pos] = '\\';
            llm__jr_init(&r, buf, len + 2);
            if (pos + 1 < len) {
                assert_false(llm__jr_string(&r, &str));
                buf[2 + pos] = '"';
                llm__jr_init(&r, buf, len + 2);
                assert_true(llm__jr_string(&r, &str));
                assert_int_equal(str.len, len);
                assert_true(str.escaped);
            } else {
                assert_false(llm__jr_string(&r, &str)); /* escapes the closing quote */
            }
        }
    }
}

/* llm__jr_digits (eight bytes at a time) against a byte loop: every run
 * length up to 20 at every offset in a buffer, ended by every byte value
 * or by the end of input.  A word-wide carry or flag error shows as a
 * wrong end. */
static void digit_runs_end_where_a_byte_loop_ends_them(void **state)
{
    (void)state;
    char buf[48];
    for (int stop = -1; stop < 256; stop++) {
        for (size_t off = 0; off < 8; off++) {
            for (size_t run = 0; run <= 20; run++) {
                memset(buf, 'x', sizeof(buf));
                for (size_t i = 0; i < run; i++)
                    buf[off + i] = (char)('0' + (i * 7 + off) % 10);
                size_t len = off + run;
                if (stop >= 0) {
                    buf[len++] = (char)stop;
                    /* Digits after the stop byte must not be counted. */
                    buf[len++] = '5';
                    buf[len++] = '5';
                }
                const char *p = buf + off, *end = buf + len;
                const char *want = p;
                while (want < end && *want >= '0' && *want <= '9')
                    want++;
                assert_ptr_equal(llm__jr_digits(p, end), want);
            }
        }
    }
}

static void objects_arrays_and_counts_are_walked(void **state)
{
    (void)state;
    const char *doc = " {\"a\" : 12 , \"b\":[ 0, 999999999999999 ], \"c\":{}} ";
    struct llm__jr r;
    struct llm__jr_str key;
    int64_t v = -1;
    llm__jr_init(&r, doc, strlen(doc));
    assert_true(llm__jr_enter_object(&r));
    assert_true(llm__jr_next_key(&r, &key));
    assert_true(llm__jr_str_is(&key, "a"));
    assert_false(llm__jr_str_is(&key, "ab"));
    assert_true(llm__jr_uint(&r, &v));
    assert_int_equal(v, 12);
    assert_true(llm__jr_next_key(&r, &key));
    assert_true(llm__jr_str_is(&key, "b"));
    assert_true(llm__jr_enter_array(&r));
    assert_true(llm__jr_next_item(&r));
    assert_true(llm__jr_uint(&r, &v));
    assert_int_equal(v, 0);
    assert_true(llm__jr_next_item(&r));
    assert_true(llm__jr_uint(&r, &v));
    assert_int_equal(v, 999999999999999);
    assert_false(llm__jr_next_item(&r));
    assert_false(r.bad);
    assert_true(llm__jr_next_key(&r, &key));
    assert_true(llm__jr_str_is(&key, "c"));
    assert_int_equal(llm__jr_peek(&r), LLM__JR_OBJECT);
    assert_true(llm__jr_skip(&r));
    assert_false(llm__jr_next_key(&r, &key));
    assert_false(r.bad);
    assert_true(llm__jr_finish(&r));

    /* Counts that are not plain integers are declined. */
    static const char *const not_plain[] = {"-1", "1.0", "1e3", "1000000000000000", "\"1\""};
    for (size_t i = 0; i < sizeof(not_plain) / sizeof(not_plain[0]); i++) {
        llm__jr_init(&r, not_plain[i], strlen(not_plain[i]));
        assert_false(llm__jr_uint(&r, &v));
        assert_true(r.bad);
    }
    /* An escaped key never matches a literal. */
    llm__jr_init(&r, "{\"\\u0061\":1}", 12);
    assert_true(llm__jr_enter_object(&r));
    assert_true(llm__jr_next_key(&r, &key));
    assert_true(key.escaped);
    assert_false(llm__jr_str_is(&key, "a"));
}

/* Random mutations of valid documents: whatever the reader accepts,
 * cJSON accepts too. */
static void nothing_cjson_refuses_is_accepted(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hi \\\"there\\\"\\n\\u00e9\\ud83d\\ude00\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3.5e1,\"x\":[true,false,null,-0]}}",
        "[1,[2,[3,{\"a\":\"b\"}]],\"\\t\",-1.25E-3]",
    };
    static const char alphabet[] = "{}[]\":,\\ u0123456789abcdefADEF.-+eEtrunlsx\n\x01\xc3";
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int accepted = 0, total = 0;
    char buf[512];
    for (int iter = 0; iter < 60000; iter++) {
        const char *seed = seeds[iter % 2];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = 1 + (int)(iter % 3);
        for (int e = 0; e < edits; e++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(rng >> 33) % n;
            char c = alphabet[(rng >> 17) % (sizeof(alphabet) - 1)];
            switch ((rng >> 7) % 3) {
            case 0: buf[pos] = c; break;                                   /* replace */
            case 1: memmove(buf + pos, buf + pos + 1, n - pos - 1); n--; break; /* delete */
            default:                                                      /* insert */
                if (n + 1 < sizeof(buf)) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = c;
                    n++;
                }
            }
        }
        total++;
        if (reads_whole(buf, n)) {
            accepted++;
            cJSON *ref = llm__json_parse(buf, n);
            if (ref == NULL)
                fail_msg("accepted what cJSON refuses: %.*s", (int)n, buf);
            cJSON_Delete(ref);
        }
    }
    /* Not vacuous: a fair share of the mutants are still valid. */
    print_message("%d of %d mutants read whole, each also by cJSON\n", accepted, total);
    assert_true(accepted > total / 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_json_is_read_whole),
        cmocka_unit_test(invalid_json_is_refused),
        cmocka_unit_test(what_cjson_may_read_otherwise_is_declined),
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(strings_decode_as_cjson_decodes_them),
        cmocka_unit_test(every_string_byte_is_classified_at_every_offset),
        cmocka_unit_test(digit_runs_end_where_a_byte_loop_ends_them),
        cmocka_unit_test(objects_arrays_and_counts_are_walked),
        cmocka_unit_test(nothing_cjson_refuses_is_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
