/* AWS SigV4 signer: AWS's published test suite (canonical request and
 * signature of each vector), the Bedrock double encoding of the path, and
 * the headers llm__sigv4_sign_request adds.
 *
 * The vectors' data (requests, canonical requests, signatures) is copied
 * from the AWS SigV4 test suite as shipped in awslabs/aws-c-auth,
 * tests/aws-signing-test-suite/v4/ (Apache License 2.0, Copyright
 * Amazon.com, Inc. or its affiliates).  Their credentials are AWS's
 * documented example keys, not secrets. */
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

#define EX_AKID "AKIDEXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EX_DATE "20150830T123600Z"

struct vector {
    const char *name;
    const char *method, *path, *query;
    struct {
        const char *name, *value;
    } headers[4];
    size_t n_headers;
    const char *body;
    bool sign_body;
    const char *token;
    const char *canonical;
    const char *signature;
};

static const struct vector vectors[] = {
    {
        .name = "get-vanilla",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    {
        .name = "post-vanilla",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    {
        .name = "get-utf8",
        .method = "GET", .path = "/\xe1""\x88""\xb4""", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/%E1%88%B4\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    },
    {
        .name = "get-unreserved",
        .method = "GET", .path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    },
    {
        .name = "get-space-unnormalized",
        .method = "GET", .path = "/example space/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/example%20space/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    },
    {
        .name = "get-vanilla-query-order-key-case",
        .method = "GET", .path = "/", .query = "Param2=value2&Param1=value1",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "Param1=value1&Param2=value2\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    {
        .name = "get-vanilla-query-unreserved",
        .method = "GET", .path = "/", .query = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    },
    {
        .name = "get-vanilla-utf8-query",
        .method = "GET", .path = "/", .query = "\xe1""\x88""\xb4""=bar",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "%E1%88%B4=bar\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    },
    {
        .name = "post-vanilla-query",
        .method = "POST", .path = "/", .query = "Param1=value1",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "Param1=value1\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    },
    {
        .name = "get-header-key-duplicate",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
        .n_headers = 4,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:value2,value2,value1\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    },
    {
        .name = "get-header-value-trim",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
        .n_headers = 3,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:value1\n"
        "my-header2:\"a b c\"\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;my-header2;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    {
        .name = "post-header-key-sort",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}},
        .n_headers = 2,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:value1\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    },
    {
        .name = "post-header-value-case",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}},
        .n_headers = 2,
        .body = "", .sign_body = false,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "my-header1:VALUE1\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "host;my-header1;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    },
    {
        .name = "post-x-www-form-urlencoded",
        .method = "POST", .path = "/", .query = "",
        .headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}},
        .n_headers = 3,
        .body = "Param1=value1", .sign_body = true,
        .token = NULL,
        .canonical = "POST\n"
        "/\n"
        "\n"
        "content-length:13\n"
        "content-type:application/x-www-form-urlencoded\n"
        "host:example.amazonaws.com\n"
        "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
        "x-amz-date:20150830T123600Z\n"
        "\n"
        "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        .signature = "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
    },
    {
        .name = "get-vanilla-with-session-token",
        .method = "GET", .path = "/", .query = "",
        .headers = {{"Host", "example.amazonaws.com"}},
        .n_headers = 1,
        .body = "", .sign_body = false,
        .token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
        .canonical = "GET\n"
        "/\n"
        "\n"
        "host:example.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n"
        "x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n"
        "\n"
        "host;x-amz-date;x-amz-security-token\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .signature = "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    },
};

#define N_VECTORS (sizeof(vectors) / sizeof(vectors[0]))

/* The headers a vector's request is signed with: its own, x-amz-date, and
 * (as the suite's context says) x-amz-content-sha256 and the session token. */
static size_t vector_headers(const struct vector *v, struct llm_header *hs, char hash[65])
{
    size_t n = 0;
    for (size_t i = 0; i < v->n_headers; i++) {
        hs[n].name = (char *)v->headers[i].name;
        hs[n++].value = (char *)v->headers[i].value;
    }
    hs[n].name = (char *)"X-Amz-Date";
    hs[n++].value = (char *)EX_DATE;
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
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vector *v = &vectors[i];
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
    for (size_t i = 0; i < N_VECTORS; i++) {
        const struct vector *v = &vectors[i];
        struct llm_header hs[8];
        char hash[65];
        size_t n = vector_headers(v, hs, hash);
        char *creq = NULL, *signed_headers = NULL;
        assert_int_equal(llm__sigv4_canonical_request(v->method, v->path, v->query, hs, n, hash,
                                                      &creq, &signed_headers),
                         LLM_OK);
        char sig[65];
        assert_int_equal(llm__sigv4_signature(EX_SECRET, EX_DATE, "us-east-1", "service", creq, sig),
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
    assert_int_equal(llm__sigv4_signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", EX_DATE,
                                          "us-east-1", "service", vectors[0].canonical, sig),
                     LLM_OK);
    assert_string_not_equal(sig, vectors[0].signature);
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
    assert_int_equal(llm__sigv4_signature(EX_SECRET, "2015-08-30T12:36", "us-east-1", "s", "x", sig),
                     LLM_ERR_INVALID_ARGUMENT);
    assert_int_equal(llm__sigv4_signature(NULL, EX_DATE, "us-east-1", "s", "x", sig),
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
    assert_string_equal(d, EX_DATE);
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
    struct llm__aws_credentials c = {EX_AKID, EX_SECRET, "session-token-example"};
    assert_int_equal(llm__sigv4_sign_request(&r, "POST", &c, "us-west-2", "bedrock", 1440938160),
                     LLM_OK);
    assert_string_equal(header(&r, "x-amz-date"), EX_DATE);
    char hash[65];
    llm__sha256_hex(r.body, r.body_len, hash);
    assert_string_equal(header(&r, "x-amz-content-sha256"), hash);
    assert_string_equal(header(&r, "x-amz-security-token"), "session-token-example");

    struct llm_header hs[] = {
        {(char *)"content-type", (char *)"application/json"},
        {(char *)"host", (char *)"127.0.0.1:8123"},
        {(char *)"x-amz-content-sha256", hash},
        {(char *)"x-amz-date", (char *)EX_DATE},
        {(char *)"x-amz-security-token", (char *)"session-token-example"},
    };
    char *creq = NULL, *sh = NULL;
    assert_int_equal(llm__sigv4_canonical_request(
                         "POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "",
                         hs, 5, hash, &creq, &sh),
                     LLM_OK);
    assert_non_null(strstr(creq, "v1%253A0"));
    char sig[65];
    assert_int_equal(llm__sigv4_signature(EX_SECRET, EX_DATE, "us-west-2", "bedrock", creq, sig),
                     LLM_OK);
    char want[512];
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=" EX_AKID "/20150830/us-west-2/bedrock/aws4_request, "
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
    struct llm__aws_credentials c = {EX_AKID, EX_SECRET, NULL};
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
