/* The secret scrubber and AWS credentials: a session token sent in
 * x-amz-security-token is remembered as a secret (and scrubbed from what a
 * server echoes), a SigV4 Authorization (a per-request MAC) is not, so
 * retries do not fill the small secret set with one-off signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/redact.h"
#include "base/util.h"

static void session_token_header_is_a_secret_and_is_scrubbed(void **state)
{
    (void)state;
    struct llm__secrets set = {0};
    assert_true(llm__secrets_add_header(&set, "X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLE-token"));
    assert_int_equal(set.n, 1);
    char *echo = llm__strdup("invalid token FwoGZXIvYXdzEXAMPLE-token in request");
    echo = llm__redact(&set, echo, NULL);
    assert_string_equal(echo, "invalid token " LLM__REDACTED " in request");
    free(echo);
    llm__secrets_free(&set);
}

static void sigv4_authorization_values_are_not_remembered(void **state)
{
    (void)state;
    struct llm__secrets set = {0};
    for (int i = 0; i < 20; i++) {
        char v[200];
        snprintf(v, sizeof(v),
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/bedrock/"
                 "aws4_request, SignedHeaders=host;x-amz-date, Signature=%064d", i);
        assert_true(llm__secrets_add_header(&set, "Authorization", v));
    }
    assert_int_equal(set.n, 0);
    /* A bearer token still is one. */
    assert_true(llm__secrets_add_header(&set, "Authorization", "Bearer bedrock-api-key-example"));
    assert_true(llm__secrets_found(&set, "x bedrock-api-key-example y", 27));
    llm__secrets_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_token_header_is_a_secret_and_is_scrubbed),
        cmocka_unit_test(sigv4_authorization_values_are_not_remembered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
