/* The validate_schema step: each keyword of the documented subset accepts
 * what fits and rejects what does not, naming the failing path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmorch/pipeline.h"

#define PERSON                                                                         \
    "{\"type\":\"object\",\"properties\":{\"person\":{\"type\":\"object\",\"properties\":" \
    "{\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":5},"                    \
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"                       \
    "\"role\":{\"enum\":[\"admin\",\"user\"]},"                                            \
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"                      \
    "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}},"                   \
    "\"required\":[\"person\"]}"

/* The step's verdict on `json`: NULL if it passes, else the message
 * (static buffer). */
static const char *verdict(const char *schema, const char *json)
{
    static char msg[512];
    struct llm_step *s = NULL;
    assert_int_equal(llm_step_new_validate_schema(schema, &s), LLM_OK);
    char *out = NULL, *err = NULL;
    size_t out_len = 0;
    enum llm_error e = llm_step_run(s, json, strlen(json), &out, &out_len, &err);
    llm_step_free(s);
    if (e == LLM_OK) {
        assert_null(err);
        assert_string_equal(out, json); /* the text passes through unchanged */
        free(out);
        return NULL;
    }
    assert_int_equal(e, LLM_ERR_PARSE);
    assert_non_null(err);
    snprintf(msg, sizeof(msg), "%s", err);
    free(err);
    free(out);
    return msg;
}

static void expect_fail(const char *schema, const char *json, const char *want)
{
    const char *got = verdict(schema, json);
    if (got == NULL)
        fail_msg("%s passed, expected \"%s\"", json, want);
    if (strcmp(got, want) != 0)
        fail_msg("got \"%s\", expected \"%s\"", got, want);
}

static void a_fitting_instance_passes_unchanged(void **state)
{
    (void)state;
    assert_null(verdict(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":36,\"role\":\"admin\","
                                "\"tags\":[\"x\"]}}"));
    assert_null(verdict(PERSON, "  {\"person\":{\"name\":\"Ada\",\"age\":36.0}}\n"));
}

static void failures_name_the_path_of_the_bad_value(void **state)
{
    (void)state;
    expect_fail(PERSON, "{\"nom\":\"Ada\"}", "$: missing required property \"person\"");
    expect_fail(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":\"36\"}}",
                "$.person.age: expected integer, got string");
    expect_fail(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":36.5}}",
                "$.person.age: expected integer, got number");
    expect_fail(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":-1}}",
                "$.person.age: -1 is less than minimum 0");
    expect_fail(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":151}}",
                "$.person.age: 151 is more than maximum 150");
    expect_fail(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":3,\"role\":\"root\"}}",
                "$.person.role: not one of the enum values");
    expect_fail(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":3,\"tags\":[\"a\",2]}}",
                "$.person.tags[1]: expected string, got integer");
    expect_fail(PERSON, "{\"person\":{\"name\":\"Ada\",\"age\":3,\"x y\":1}}",
                "$.person[\"x y\"]: property not allowed (additionalProperties is false)");
    expect_fail(PERSON, "{\"person\":{\"name\":\"\",\"age\":3}}",
                "$.person.name: string of 0 characters, shorter than minLength 1");
    /* maxLength counts code points, not bytes: five two-byte letters fit. */
    assert_null(verdict(PERSON, "{\"person\":{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"age\":3}}"));
    expect_fail(PERSON, "{\"person\":{\"name\":\"abcdef\",\"age\":3}}",
                "$.person.name: string of 6 characters, longer than maxLength 5");
}

static void const_type_lists_and_combinators_are_checked(void **state)
{
    (void)state;
    const char *s = "{\"properties\":{\"v\":{\"const\":{\"a\":[1,2]}},"
                    "\"t\":{\"type\":[\"string\",\"null\"]},"
                    "\"any\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
                    "\"one\":{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}}}";
    assert_null(verdict(s, "{\"v\":{\"a\":[1,2]},\"t\":null,\"any\":3,\"one\":1.5}"));
    expect_fail(s, "{\"v\":{\"a\":[2,1]}}", "$.v: not equal to the const value");
    expect_fail(s, "{\"t\":1}", "$.t: expected one of [\"string\",\"null\"], got integer");
    expect_fail(s, "{\"any\":true}",
                "$.any: matches none of anyOf (first branch: $.any: expected string, got boolean)");
    /* An integer is a number too: both branches match. */
    expect_fail(s, "{\"one\":2}", "$.one: matches 2 branches of oneOf (exactly one required)");
}

static void text_that_is_not_json_fails_and_bad_schemas_are_refused(void **state)
{
    (void)state;
    assert_non_null(strstr(verdict(PERSON, "{\"person\": "), "not valid JSON"));
    struct llm_step *s = NULL;
    assert_int_equal(llm_step_new_validate_schema("{nope", &s), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_step_new_validate_schema("[1]", &s), LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm_step_new_validate_schema(NULL, &s), LLM_ERR_INVALID_ARGUMENT);
    assert_null(s);
}

static void deeply_nested_schemas_fail_instead_of_recursing_forever(void **state)
{
    (void)state;
    /* 100 levels of {"items": ...} against 100 nested arrays. */
    char schema[2048] = "", json[512] = "";
    for (int i = 0; i < 100; i++)
        strcat(schema, "{\"items\":");
    strcat(schema, "{}");
    for (int i = 0; i < 100; i++)
        strcat(schema, "}");
    for (int i = 0; i < 100; i++)
        strcat(json, "[");
    for (int i = 0; i < 100; i++)
        strcat(json, "]");
    assert_non_null(strstr(verdict(schema, "[[[]]]") == NULL ? "ok" : "bad", "ok"));
    const char *v = verdict(schema, json);
    assert_non_null(v);
    assert_non_null(strstr(v, "schema nested deeper than 64 levels"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_fitting_instance_passes_unchanged),
        cmocka_unit_test(failures_name_the_path_of_the_bad_value),
        cmocka_unit_test(const_type_lists_and_combinators_are_checked),
        cmocka_unit_test(text_that_is_not_json_fails_and_bad_schemas_are_refused),
        cmocka_unit_test(deeply_nested_schemas_fail_instead_of_recursing_forever),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
