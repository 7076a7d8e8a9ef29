/* AWS Signature Version 4 (the published algorithm: canonical request,
 * string to sign, HMAC-SHA256 key derivation), for Bedrock.  Internal.
 *
 * Why not libcurl's CURLOPT_AWS_SIGV4: Debian's libcurl 7.88 signs the path
 * exactly as sent (".../v1%3A0/converse"), but AWS's canonical URI for every
 * service except S3 is the wire path URI-encoded a second time
 * (".../v1%253A0/converse"), so its signature is refused for every model id
 * with a ':'.  It also omits x-amz-content-sha256, which Bedrock's SDK signs.
 *
 * Pure functions of their arguments (the time is passed in), so they are
 * checked against AWS's SigV4 test suite. */
#ifndef LLMORCH_PROVIDERS_SIGV4_H
#define LLMORCH_PROVIDERS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmorch/ext/provider.h"

/* Hex SHA-256 of data[0..len) into out[65] (NUL-terminated). */
void llm__sha256_hex(const void *data, size_t len, char out[65]);

/* The canonical request for `method`, the path and query exactly as they
 * go on the wire (path: "/model/a%3A0/converse"; query without '?', NULL
 * or "" for none), every header to sign (names any case, values trimmed
 * and inner runs of spaces collapsed; repeated names joined with ','), and
 * the payload's hex SHA-256.  The canonical URI is the wire path
 * URI-encoded once more (unreserved bytes and '/' kept), as AWS does for
 * every service but S3; query parameters are sorted by name, then value.
 * On success *out is the malloc'd canonical request and *signed_headers
 * the malloc'd "a;b;c" list (sorted, lowercase).  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT (NULL or empty method/path, a header with no
 * name) or LLM_ERR_OUT_OF_MEMORY (nothing allocated). */
enum llm_error llm__sigv4_canonical_request(const char *method, const char *path,
                                            const char *query, const struct llm_header *headers,
                                            size_t n_headers, const char *payload_sha256_hex,
                                            char **out, char **signed_headers);

/* The hex signature (out[65]) of `canonical_request` at `amz_date`
 * ("YYYYMMDDTHHMMSSZ"), for `region` and `service`, with the secret key:
 * string to sign "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of
 * the canonical request>", key HMAC chain "AWS4"+secret -> date -> region
 * -> service -> "aws4_request".  The derived keys are wiped.  Returns
 * LLM_OK, LLM_ERR_INVALID_ARGUMENT (a malformed amz_date or NULL input)
 * or LLM_ERR_OUT_OF_MEMORY. */
enum llm_error llm__sigv4_signature(const char *secret_access_key, const char *amz_date,
                                    const char *region, const char *service,
                                    const char *canonical_request, char out[65]);

/* Credentials; the strings are borrowed.  session_token NULL: none. */
struct llm__aws_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
};

/* "YYYYMMDDTHHMMSSZ" of a wall time in seconds since the epoch, into out[17]. */
void llm__amz_date(int64_t epoch_s, char out[17]);

/* Sign `req` (URL, headers and body already built) as the AWS SDK does:
 * add x-amz-date, x-amz-content-sha256 (hex SHA-256 of the body),
 * x-amz-security-token when there is a session token, then Authorization:
 * AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=..., Signature=...  Every header of `req` is signed, and
 * host (taken from the URL, with a non-default port).  Those four headers
 * already in `req` (an earlier signature) are replaced, so a request whose
 * headers changed after signing is signed again by calling this again.  `method` is the
 * HTTP method the transport will use.  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT (URL not absolute http(s), bad credentials) or
 * LLM_ERR_OUT_OF_MEMORY; `req` may then hold some of the added headers
 * (callers clear it on error). */
enum llm_error llm__sigv4_sign_request(struct llm_http_request *req, const char *method,
                                       const struct llm__aws_credentials *creds,
                                       const char *region, const char *service, int64_t epoch_s);

#endif /* LLMORCH_PROVIDERS_SIGV4_H */
