/* The mock server's SigV4 verifier (tools/mock_server/mock_sigv4.c, its
 * pure core mocksrv__sigv4_check) on AWS's published SigV4 test suite, the
 * same vectors the client's signer passes (tests/support/sigv4_vectors.c):
 * each vector's own signature is accepted, and a signature, signed header,
 * body, query, secret or scope that differs is refused.  The request, the
 * signed-header list and the payload hash all come from the vector's data,
 * never from the client's signer.  Also one Bedrock request signed by the
 * AWS SDK for JavaScript, for the twice-encoded path. */
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

#include "mock_internal.h"
#include "sigv4_vectors.h"

#define MISMATCH "The request signature we calculated does not match"

/* A vector's request as the mock server would receive it, with storage. */
struct wire {
    struct mocksrv__sigv4_header h[10];
    struct mocksrv__sigv4_request q;
    char auth[512];
    char payload_hash[65];
    char signed_headers[256];
};

/* Line `from_end` (1 = last) of the vector's canonical request into out. */
static void canonical_line(const struct sigv4_vector *v, int from_end, char *out, size_t cap)
{
    const char *s = v->canonical;
    const char *end = s + strlen(s), *start = end;
    for (int i = 0; i < from_end; i++) {
        if (i > 0)
            end = start - 1; /* the '\n' before the line found last */
        start = end;
        while (start > s && start[-1] != '\n')
            start--;
    }
    size_t n = (size_t)(end - start);
    assert_true(n < cap);
    memcpy(out, start, n);
    out[n] = '\0';
}

/* Fill w from vector v: its headers, X-Amz-Date, X-Amz-Content-Sha256 and
 * X-Amz-Security-Token as the suite sends them, and an Authorization with
 * the vector's signed-header list and `signature`. */
static void wire_of(const struct sigv4_vector *v, const char *signature, struct wire *w)
{
    memset(w, 0, sizeof(*w));
    /* The canonical request ends "\n<signed headers>\n<payload hash>". */
    canonical_line(v, 1, w->payload_hash, sizeof(w->payload_hash));
    canonical_line(v, 2, w->signed_headers, sizeof(w->signed_headers));
    assert_int_equal(strlen(w->payload_hash), 64);
    size_t n = 0;
    for (size_t i = 0; i < v->n_headers; i++) {
        w->h[n].name = v->headers[i].name;
        w->h[n++].value = v->headers[i].value;
    }
    w->h[n].name = "X-Amz-Date";
    w->h[n++].value = SIGV4_EX_DATE;
    if (v->sign_body) {
        w->h[n].name = "X-Amz-Content-Sha256";
        w->h[n++].value = w->payload_hash;
    }
    if (v->token != NULL) {
        w->h[n].name = "X-Amz-Security-Token";
        w->h[n++].value = v->token;
    }
    snprintf(w->auth, sizeof(w->auth),
             "AWS4-HMAC-SHA256 Credential=" SIGV4_EX_AKID "/%.8s/" SIGV4_EX_REGION
             "/" SIGV4_EX_SERVICE "/aws4_request, SignedHeaders=%s, Signature=%s",
             SIGV4_EX_DATE, w->signed_headers, signature);
    w->h[n].name = "Authorization";
    w->h[n++].value = w->auth;
    w->q = (struct mocksrv__sigv4_request){
        .method = v->method,
        .path = v->path,
        .query = v->query,
        .headers = w->h,
        .n_headers = n,
        .body = v->body,
        .body_len = strlen(v->body),
    };
}

/* The verifier's answer for w with the AWS example secret; *why filled. */
static int check(const struct wire *w, const char *service, char *why, size_t cap)
{
    why[0] = '\0';
    return mocksrv__sigv4_check(&w->q, SIGV4_EX_SECRET, service, why, cap);
}

/* Fail unless w is refused because the signature does not match. */
static void assert_mismatch(const struct sigv4_vector *v, const struct wire *w, const char *what)
{
    char why[256];
    if (check(w, SIGV4_EX_SERVICE, why, sizeof(why)) == 0)
        fail_msg("%s: accepted with %s", v->name, what);
    if (strstr(why, MISMATCH) == NULL)
        fail_msg("%s with %s: refused for another reason: %s", v->name, what, why);
}

static void the_mock_verifier_accepts_every_signature_of_the_aws_test_suite(void **state)
{
    (void)state;
    assert_int_equal(sigv4_n_vectors, 15);
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        struct wire w;
        wire_of(v, v->signature, &w);
        char why[256];
        if (check(&w, SIGV4_EX_SERVICE, why, sizeof(why)) != 0)
            fail_msg("%s: refused: %s", v->name, why);
    }
}

static void the_mock_verifier_refuses_a_signature_with_one_hex_digit_changed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        /* First, a middle and the last digit. */
        const size_t at[] = {0, 31, 63};
        for (size_t k = 0; k < 3; k++) {
            char sig[65];
            snprintf(sig, sizeof(sig), "%s", v->signature);
            sig[at[k]] = sig[at[k]] == '0' ? '1' : '0';
            struct wire w;
            wire_of(v, sig, &w);
            assert_mismatch(v, &w, "one hex digit of the signature changed");
        }
    }
}

static void the_mock_verifier_refuses_a_changed_signed_header(void **state)
{
    (void)state;
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        struct wire w;
        wire_of(v, v->signature, &w);
        /* Every vector signs Host. */
        for (size_t k = 0; k < w.q.n_headers; k++)
            if (strcasecmp(w.h[k].name, "Host") == 0)
                w.h[k].value = "example.amazonaws.org";
        assert_mismatch(v, &w, "another Host");
        /* The time of day (the date stays that of the scope). */
        wire_of(v, v->signature, &w);
        for (size_t k = 0; k < w.q.n_headers; k++)
            if (strcasecmp(w.h[k].name, "X-Amz-Date") == 0)
                w.h[k].value = "20150830T123601Z";
        assert_mismatch(v, &w, "another X-Amz-Date");
        /* A vector's own header with another value. */
        if (v->n_headers > 1) {
            wire_of(v, v->signature, &w);
            w.h[1].value = "changed";
            assert_mismatch(v, &w, "another value of a signed header of its own");
        }
    }
}

static void the_mock_verifier_refuses_a_changed_body(void **state)
{
    (void)state;
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        struct wire w;
        wire_of(v, v->signature, &w);
        w.q.body = "Param1=value2";
        w.q.body_len = strlen(w.q.body);
        char why[256];
        if (check(&w, SIGV4_EX_SERVICE, why, sizeof(why)) == 0)
            fail_msg("%s: accepted with another body", v->name);
        /* With x-amz-content-sha256 sent, the hash no longer matches the
         * body; without it, the payload hash in the signature differs. */
        if (v->sign_body)
            assert_non_null(strstr(why, "x-amz-content-sha256"));
        else
            assert_non_null(strstr(why, MISMATCH));
    }
}

static void the_mock_verifier_refuses_a_changed_query_path_or_method(void **state)
{
    (void)state;
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        struct wire w;
        wire_of(v, v->signature, &w);
        w.q.query = v->query[0] != '\0' ? "Param1=value3" : "a=b";
        assert_mismatch(v, &w, "another query");
        wire_of(v, v->signature, &w);
        w.q.path = "/other";
        assert_mismatch(v, &w, "another path");
        wire_of(v, v->signature, &w);
        w.q.method = strcmp(v->method, "GET") == 0 ? "POST" : "GET";
        assert_mismatch(v, &w, "another method");
    }
}

/* The canonical query encodes each name and value once, whatever the
 * client escaped, and sorts the parameters. */
static void the_mock_verifier_encodes_the_query_once_and_sorts_it(void **state)
{
    (void)state;
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        const char *q = NULL;
        if (strcmp(v->name, "get-vanilla-utf8-query") == 0)
            q = "%E1%88%b4=bar"; /* as a client escapes it (hex case free) */
        else if (strcmp(v->name, "get-vanilla-query-order-key-case") == 0)
            q = "Param1=value1&Param2=value2";
        else
            continue;
        struct wire w;
        wire_of(v, v->signature, &w);
        w.q.query = q;
        char why[256];
        if (check(&w, SIGV4_EX_SERVICE, why, sizeof(why)) != 0)
            fail_msg("%s with query %s: refused: %s", v->name, q, why);
    }
}

static void the_mock_verifier_refuses_another_secret_and_another_service(void **state)
{
    (void)state;
    const struct sigv4_vector *v = &sigv4_vectors[0];
    struct wire w;
    wire_of(v, v->signature, &w);
    char why[256];
    why[0] = '\0';
    assert_int_equal(mocksrv__sigv4_check(&w.q, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
                                          SIGV4_EX_SERVICE, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, MISMATCH));
    /* The server itself expects "bedrock" in the scope. */
    assert_int_equal(check(&w, "bedrock", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "correct service: 'bedrock'"));
}

static void the_mock_verifier_requires_host_and_the_sent_amz_headers_signed(void **state)
{
    (void)state;
    /* get-vanilla-with-session-token with the token header left out of
     * SignedHeaders (the signature is then irrelevant). */
    for (size_t i = 0; i < sigv4_n_vectors; i++) {
        const struct sigv4_vector *v = &sigv4_vectors[i];
        if (v->token == NULL)
            continue;
        struct wire w;
        wire_of(v, v->signature, &w);
        snprintf(w.auth, sizeof(w.auth),
                 "AWS4-HMAC-SHA256 Credential=" SIGV4_EX_AKID "/20150830/" SIGV4_EX_REGION
                 "/" SIGV4_EX_SERVICE "/aws4_request, SignedHeaders=host;x-amz-date, "
                 "Signature=%s",
                 v->signature);
        char why[256];
        assert_int_equal(check(&w, SIGV4_EX_SERVICE, why, sizeof(why)), -1);
        assert_non_null(strstr(why, "must be signed"));
        return;
    }
    fail_msg("no vector with a session token");
}

/* A Bedrock Converse request as the AWS SDK for JavaScript v3 signs it
 * (@smithy/signature-v4 5.7.5, service "bedrock", AWS's example keys, a
 * session token, signing date 2015-08-30T12:36:00Z): the model id's ':'
 * goes on the wire as %3A and the SDK's canonical URI has it as %253A,
 * the rule the verifier applies to every path. */
static void the_mock_verifier_accepts_a_bedrock_request_signed_by_the_aws_sdk(void **state)
{
    (void)state;
    static const char body[] = "{\"messages\":[{\"role\":\"user\",\"content\":"
                               "[{\"text\":\"hi\"}]}]}";
    struct mocksrv__sigv4_header h[] = {
        {"host", "bedrock-runtime.us-east-1.amazonaws.com"},
        {"content-type", "application/json"},
        {"x-amz-date", "20150830T123600Z"},
        {"x-amz-security-token", "session-token-example"},
        {"x-amz-content-sha256",
         "c3335e07d6e89650bf94cb98664be69f8774dbc3198df221f113db0a59ea14f0"},
        {"authorization",
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
         "Signature=54e1ccbb5d0da29789532539e154e061a8b2e705df9dd6351ecaed0dc14f0e13"},
    };
    struct mocksrv__sigv4_request q = {
        .method = "POST",
        .path = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
        .query = "",
        .headers = h,
        .n_headers = sizeof(h) / sizeof(h[0]),
        .body = body,
        .body_len = sizeof(body) - 1,
    };
    char why[256] = "";
    if (mocksrv__sigv4_check(&q, SIGV4_EX_SECRET, "bedrock", why, sizeof(why)) != 0)
        fail_msg("refused: %s", why);
    /* The same request with the ':' sent unescaped is another canonical
     * URI: refused. */
    q.path = "/model/us.anthropic.claude-3-5-haiku-20241022-v1:0/converse";
    assert_int_equal(mocksrv__sigv4_check(&q, SIGV4_EX_SECRET, "bedrock", why, sizeof(why)), -1);
    assert_non_null(strstr(why, MISMATCH));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_mock_verifier_accepts_every_signature_of_the_aws_test_suite),
        cmocka_unit_test(the_mock_verifier_refuses_a_signature_with_one_hex_digit_changed),
        cmocka_unit_test(the_mock_verifier_refuses_a_changed_signed_header),
        cmocka_unit_test(the_mock_verifier_refuses_a_changed_body),
        cmocka_unit_test(the_mock_verifier_refuses_a_changed_query_path_or_method),
        cmocka_unit_test(the_mock_verifier_encodes_the_query_once_and_sorts_it),
        cmocka_unit_test(the_mock_verifier_refuses_another_secret_and_another_service),
        cmocka_unit_test(the_mock_verifier_requires_host_and_the_sent_amz_headers_signed),
        cmocka_unit_test(the_mock_verifier_accepts_a_bedrock_request_signed_by_the_aws_sdk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
