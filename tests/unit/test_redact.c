/* The secret scrubber (src/core/redact.c): what every layer uses to keep
 * keys a server echoes back out of stored strings and logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/redact.h"

static void every_occurrence_of_a_secret_is_replaced(void **state)
{
    (void)state;
    struct llm__secrets set = {0};
    assert_true(llm__secrets_add(&set, "sk-ABCDEFGH12", 13));
    size_t len = 0;
    char *s = llm__strdup("bad key sk-ABCDEFGH12, Bearer sk-ABCDEFGH12sk-ABCDEFGH12!");
    len = strlen(s);
    s = llm__redact(&set, s, &len);
    assert_string_equal(s, "bad key [REDACTED], Bearer [REDACTED][REDACTED]!");
    assert_int_equal(len, strlen(s));
    free(s);
    llm__secrets_free(&set);
}

static void a_string_without_secrets_is_returned_as_is(void **state)
{
    (void)state;
    struct llm__secrets set = {0};
    assert_true(llm__secrets_add(&set, "sk-ABCDEFGH12", 13));
    char *s = llm__strdup("nothing to see: sk-ABCDEFGH1");
    char *r = llm__redact(&set, s, NULL);
    assert_ptr_equal(r, s);
    assert_false(llm__secrets_found(&set, r, strlen(r)));
    free(r);
    assert_null(llm__redact(&set, NULL, NULL));
    llm__secrets_free(&set);
}

static void short_empty_and_duplicate_secrets_are_not_kept(void **state)
{
    (void)state;
    struct llm__secrets set = {0};
    assert_true(llm__secrets_add(&set, "", 0));
    assert_true(llm__secrets_add(&set, NULL, 0));
    assert_true(llm__secrets_add(&set, "short", 5));
    assert_int_equal(set.n, 0);
    assert_true(llm__secrets_add(&set, "long-enough", 11));
    assert_true(llm__secrets_add(&set, "long-enough", 11));
    assert_int_equal(set.n, 1);
    llm__secrets_free(&set);
}

static void auth_headers_register_their_token_and_others_do_not(void **state)
{
    (void)state;
    struct llm__secrets set = {0};
    assert_true(llm__secrets_add_header(&set, "Authorization", "Bearer tok-12345678"));
    assert_true(llm__secrets_add_header(&set, "x-api-key", "ant-key-12345678"));
    assert_true(llm__secrets_add_header(&set, "content-type", "application/json"));
    assert_int_equal(set.n, 3); /* "Bearer tok-...", "tok-...", "ant-key-..." */
    char *s = llm__redact(&set, llm__strdup("tok-12345678 / ant-key-12345678 / application/json"),
                          NULL);
    assert_string_equal(s, "[REDACTED] / [REDACTED] / application/json");
    free(s);
    llm__secrets_free(&set);
}

/* Credential headers are recognised by name whatever its case (the check
 * compares lengths first); names of the same lengths that are not
 * credential headers register nothing. */
static void every_credential_header_name_in_any_case_registers_its_value(void **state)
{
    (void)state;
    static const char *const creds[] = {"authorization", "PROXY-AUTHORIZATION", "X-Api-Key",
                                        "api-KEY", "x-goog-api-key", "X-Amz-Security-Token"};
    static const char *const others[] = {"authorisation", "x-client-request-id", "x-api-kez",
                                         "api-ke", "api-keys", "x-goog-api-kex",
                                         "x-amz-security-tokens", "Content-Type", ""};
    for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
        struct llm__secrets set = {0};
        assert_true(llm__secrets_add_header(&set, creds[i], "secret-value-123"));
        assert_int_equal(set.n, 1);
        assert_true(llm__secrets_found(&set, "x secret-value-123 y", 20));
        llm__secrets_free(&set);
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        struct llm__secrets set = {0};
        assert_true(llm__secrets_add_header(&set, others[i], "secret-value-123"));
        assert_int_equal(set.n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_occurrence_of_a_secret_is_replaced),
        cmocka_unit_test(a_string_without_secrets_is_returned_as_is),
        cmocka_unit_test(short_empty_and_duplicate_secrets_are_not_kept),
        cmocka_unit_test(auth_headers_register_their_token_and_others_do_not),
        cmocka_unit_test(every_credential_header_name_in_any_case_registers_its_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
