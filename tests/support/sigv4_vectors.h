/* AWS's SigV4 test suite: the vectors both the client's signer
 * (tests/unit/test_sigv4.c) and the mock server's verifier
 * (tests/unit/test_mock_sigv4.c) are checked on.
 *
 * The vectors' data (requests, canonical requests, signatures) is copied
 * from the AWS SigV4 test suite as shipped in awslabs/aws-c-auth,
 * tests/aws-signing-test-suite/v4/ (Apache License 2.0, Copyright
 * Amazon.com, Inc. or its affiliates).  Their credentials are AWS's
 * documented example keys, not secrets.  Every vector is signed at
 * SIGV4_EX_DATE for region "us-east-1", service "service". */
#ifndef LLM_TEST_SIGV4_VECTORS_H
#define LLM_TEST_SIGV4_VECTORS_H

#include <stdbool.h>
#include <stddef.h>

#define SIGV4_EX_AKID "AKIDEXAMPLE"
#define SIGV4_EX_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SIGV4_EX_DATE "20150830T123600Z"
#define SIGV4_EX_REGION "us-east-1"
#define SIGV4_EX_SERVICE "service"

struct sigv4_vector {
    const char *name;
    const char *method, *path, *query; /* path and query as the suite gives them */
    struct {
        const char *name, *value;
    } headers[4]; /* the request's own; X-Amz-Date and the rest are added */
    size_t n_headers;
    const char *body;
    bool sign_body;    /* X-Amz-Content-Sha256 is sent and signed */
    const char *token; /* X-Amz-Security-Token, signed; NULL: none */
    const char *canonical; /* the expected canonical request */
    const char *signature; /* the expected hex signature */
};

extern const struct sigv4_vector sigv4_vectors[];
extern const size_t sigv4_n_vectors;

#endif /* LLM_TEST_SIGV4_VECTORS_H */
