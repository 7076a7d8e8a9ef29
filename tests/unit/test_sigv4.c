/* AWS SigV4 signer: AWS's published test suite (canonical request and
 * signature of each vector), the Bedrock double encoding of the path, and
 * the headers llm__sigv4_sign_request adds.
 *
 * The vectors (tests/support/sigv4_vectors.c) are copied from the AWS
 * SigV4 test suite as shipped in awslabs/aws-c-auth (Apache License 2.0);
 * the mock server's verifier is checked on them too (test_mock_sigv4.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "providers/sigv4.h"
#include "sigv4_vectors.h"

/* The headers a vector's request is signed with: its own, x-amz-date, and
 * (as the suite's context says) x-amz-content-sha256 and the session token. */
static size_t vector_headers(const struct sigv4_vector *v, struct llm_header *hs, char hash[65])
{
    size_t n = 0;
    for (size_t i = 0; i < v->n_headers; i++) {
        hs[n].name = (char *)v->headers[i].name;
        hs[n++].value = (char *)v->headers[i].value;
    }
    hs[n].name = (char *)"X-Amz-Date";
    hs[n++].value = (char *)SIGV4_EX_DATE;
    llm__sha256_hex(v->body, strlen(v->body), hash);
    if (v->sign_body) {
        hs[n].name = (char *)"X-Amz-Content-Sha256";
        hs[n++].value = hash;
    }
    if (v->token) {
        hs[n].name = (char *)"X-Amz-Security-Token";
        hs[n++].value = (char *)v->token;
    }
    return n;
}

static void sigv4_canonical_requests_match_the_aws_test_suite(void **state)
{
    (void)state;
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        struct llm_header hs[8];
        char hash[65];
        size_t n = vector_headers(v, hs, hash);
        char *creq = NULL, *signed_headers = NULL;
        assert_int_equal(llm__sigv4_canonical_request(v->method, v->path, v->query, hs, n, hash,
                                                      &creq, &signed_headers),
                         LLM_OK);
        if (strcmp(creq, v->canonical) != 0)
            fail_msg("%s: canonical request\n%s\n--- want\n%s", v->name, creq, v->canonical);
        free(creq);
        free(signed_headers);
    }
}

static void sigv4_signatures_match_the_aws_test_suite(void **state)
{
    (void)state;
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        struct llm_header hs[8];
        char hash[65];
        size_t n = vector_headers(v, hs, hash);
        char *creq = NULL, *signed_headers = NULL;
        assert_int_equal(llm__sigv4_canonical_request(v->method, v->path, v->query, hs, n, hash,
                                                      &creq, &signed_headers),
                         LLM_OK);
        char sig[65];
        assert_int_equal(llm__sigv4_signature(SIGV4_EX_SECRET, SIGV4_EX_DATE, SIGV4_EX_REGION,
                                              SIGV4_EX_SERVICE, creq, sig),
                         LLM_OK);
        if (strcmp(sig, v->signature) != 0)
            fail_msg("%s: signature %s, want %s", v->name, sig, v->signature);
        free(creq);
        free(signed_headers);
    }
}

static void sigv4_a_different_secret_gives_a_different_signature(void **state)
{
    (void)state;
    char sig[65];
    assert_int_equal(llm__sigv4_signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", SIGV4_EX_DATE,
                                          "us-east-1", "service", sigv4_vectors[0].canonical, sig),
                     LLM_OK);
    assert_string_not_equal(sig, sigv4_vectors[0].signature);
}

static void sigv4_canonical_uri_encodes_the_wire_path_a_second_time(void **state)
{
    (void)state;
    struct llm_header h = {(char *)"host", (char *)"bedrock-runtime.us-east-1.amazonaws.com"};
    char *creq = NULL, *sh = NULL;
    assert_int_equal(llm__sigv4_canonical_request(
                         "POST", "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
                         NULL, &h, 1, "e3b0", &creq, &sh),
                     LLM_OK);
    assert_non_null(strstr(creq, "\n/model/us.anthropic.claude-3-5-sonnet-20241022-v2%253A0/"
                                 "converse\n"));
    assert_string_equal(sh, "host");
    free(creq);
    free(sh);
}

static void sigv4_rejects_a_malformed_date_and_missing_inputs(void **state)
{
    (void)state;
    char sig[65];
    assert_int_equal(
        llm__sigv4_signature(SIGV4_EX_SECRET, "2015-08-30T12:36", "us-east-1", "s", "x", sig),
        LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm__sigv4_signature(NULL, SIGV4_EX_DATE, "us-east-1", "s", "x", sig),
                     LLM_ERR_INVALID_ARGUMENT);
    char *creq = NULL, *sh = NULL;
    assert_int_equal(llm__sigv4_canonical_request("POST", "", NULL, NULL, 0, "e3", &creq, &sh),
                     LLM_ERR_INVALID_ARGUMENT);
    assert_null(creq);
}

static void sigv4_amz_date_formats_utc_seconds(void **state)
{
    (void)state;
    char d[17];
    llm__amz_date(1440938160, d); /* 2015-08-30T12:36:00Z */
    assert_string_equal(d, SIGV4_EX_DATE);
}

static const char *header(const struct llm_http_request *r, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0) {
            assert_null(found);
            found = r->headers[i].value;
        }
    return found;
}

/* Bedrock's request, signed: the added headers, and an Authorization whose
 * signature is the one of the canonical request built from what goes on
 * the wire (host with its port, the twice-encoded path). */
static void sigv4_sign_request_adds_date_payload_hash_token_and_authorization(void **state)
{
    (void)state;
    struct llm_http_request r = {0};
    r.url = strdup("http://127.0.0.1:8123/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    r.body = strdup("{\"messages\":[]}");
    r.body_len = strlen(r.body);
    assert_int_equal(llm_http_request_add_header(&r, "Content-Type", "application/json"), LLM_OK);
    struct llm__aws_credentials c = {SIGV4_EX_AKID, SIGV4_EX_SECRET, "session-token-example"};
    assert_int_equal(llm__sigv4_sign_request(&r, "POST", &c, "us-west-2", "bedrock", 1440938160),
                     LLM_OK);
    assert_string_equal(header(&r, "x-amz-date"), SIGV4_EX_DATE);
    char hash[65];
    llm__sha256_hex(r.body, r.body_len, hash);
    assert_string_equal(header(&r, "x-amz-content-sha256"), hash);
    assert_string_equal(header(&r, "x-amz-security-token"), "session-token-example");

    struct llm_header hs[] = {
        {(char *)"content-type", (char *)"application/json"},
        {(char *)"host", (char *)"127.0.0.1:8123"},
        {(char *)"x-amz-content-sha256", hash},
        {(char *)"x-amz-date", (char *)SIGV4_EX_DATE},
        {(char *)"x-amz-security-token", (char *)"session-token-example"},
    };
    char *creq = NULL, *sh = NULL;
    assert_int_equal(llm__sigv4_canonical_request(
                         "POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "",
                         hs, 5, hash, &creq, &sh),
                     LLM_OK);
    assert_non_null(strstr(creq, "v1%253A0"));
    char sig[65];
    assert_int_equal(
        llm__sigv4_signature(SIGV4_EX_SECRET, SIGV4_EX_DATE, "us-west-2", "bedrock", creq, sig),
        LLM_OK);
    char want[512];
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=" SIGV4_EX_AKID
             "/20150830/us-west-2/bedrock/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
             "x-amz-security-token, Signature=%s",
             sig);
    assert_string_equal(header(&r, "authorization"), want);
    free(creq);
    free(sh);
    llm_http_request_clear(&r);
}

static void sigv4_host_drops_the_default_port_and_keeps_others(void **state)
{
    (void)state;
    struct llm__aws_credentials c = {SIGV4_EX_AKID, SIGV4_EX_SECRET, NULL};
    const char *urls[] = {"https://bedrock-runtime.us-east-1.amazonaws.com:443/model/m/converse",
                          "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse"};
    char auth[2][512];
    for (int i = 0; i < 2; i++) {
        struct llm_http_request r = {0};
        r.url = strdup(urls[i]);
        assert_int_equal(llm__sigv4_sign_request(&r, "POST", &c, "us-east-1", "bedrock", 0),
                         LLM_OK);
        assert_null(header(&r, "x-amz-security-token"));
        snprintf(auth[i], sizeof(auth[i]), "%s", header(&r, "authorization"));
        llm_http_request_clear(&r);
    }
    assert_string_equal(auth[0], auth[1]);

    struct llm_http_request r = {0};
    r.url = strdup("ftp://example.com/x");
    assert_int_equal(llm__sigv4_sign_request(&r, "POST", &c, "us-east-1", "bedrock", 0),
                     LLM_ERR_INVALID_ARGUMENT);
    llm_http_request_clear(&r);
}

/* A request whose headers changed after signing is signed again by
 * signing it again: the earlier signature's headers are replaced, not
 * repeated, and the new header is signed. */
static void sigv4_signing_again_replaces_the_earlier_signature(void **state)
{
    (void)state;
    struct llm_http_request r = {0};
    r.url = strdup("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse");
    struct llm__aws_credentials c = {SIGV4_EX_AKID, SIGV4_EX_SECRET, "token"};
    assert_int_equal(llm__sigv4_sign_request(&r, "POST", &c, "us-east-1", "bedrock", 0), LLM_OK);
    char first[512];
    snprintf(first, sizeof(first), "%s", header(&r, "authorization"));
    assert_int_equal(llm_http_request_add_header(&r, "X-Later", "1"), LLM_OK);
    assert_int_equal(llm__sigv4_sign_request(&r, "POST", &c, "us-east-1", "bedrock", 0), LLM_OK);
    /* header() fails the test on a repeated name. */
    assert_non_null(header(&r, "x-amz-date"));
    assert_non_null(header(&r, "x-amz-content-sha256"));
    assert_string_equal(header(&r, "x-amz-security-token"), "token");
    const char *auth = header(&r, "authorization");
    assert_string_not_equal(auth, first);
    assert_non_null(strstr(auth, "x-amz-security-token;x-later, Signature="));
    assert_int_equal(r.n_headers, 5);
    llm_http_request_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigv4_canonical_requests_match_the_aws_test_suite),
        cmocka_unit_test(sigv4_signatures_match_the_aws_test_suite),
        cmocka_unit_test(sigv4_a_different_secret_gives_a_different_signature),
        cmocka_unit_test(sigv4_canonical_uri_encodes_the_wire_path_a_second_time),
        cmocka_unit_test(sigv4_rejects_a_malformed_date_and_missing_inputs),
        cmocka_unit_test(sigv4_amz_date_formats_utc_seconds),
        cmocka_unit_test(sigv4_sign_request_adds_date_payload_hash_token_and_authorization),
        cmocka_unit_test(sigv4_host_drops_the_default_port_and_keeps_others),
        cmocka_unit_test(sigv4_signing_again_replaces_the_earlier_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
