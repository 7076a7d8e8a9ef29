/* The Bedrock provider: Converse bodies and URLs (model ids encoded as the
 * AWS SDK sends them), SigV4 headers (session token signed), bearer
 * tokens, region and credential resolution, Converse replies and
 * ConverseStream events decoded from the binary framing, and the
 * exception table row by row (header, __type and stream spellings).
 * Credentials are AWS's documented examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "es_encode.h"
#include "llmorch/ext/provider.h"
#include "provider_helpers.h"
#include "providers/sigv4.h"
#include "transport/eventstream.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static void clear_env(void)
{
    static const char *const vars[] = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                       "AWS_BEARER_TOKEN_BEDROCK"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static struct llm_provider *new_bedrock(const struct llm_provider_options *opts)
{
    return prov_new(llm_provider_new_bedrock, opts);
}

static void bedrock_converse_body_and_url_match_the_sdk(void **state)
{
    (void)state;
    struct llm_provider_options o = {.base_url = "http://127.0.0.1:9", .region = "us-west-2",
                                     .aws_access_key_id = AKID, .aws_secret_access_key = SECRET};
    struct llm_provider *p = new_bedrock(&o);
    static const struct llm_message msgs[] = {
        {.role = "system", .content = "Be brief."},
        {.role = "user", .content = "Hi"},
        {.role = "assistant", .content = "Hello"},
        {.role = "user", .content = "2+2?"},
    };
    static const char *const stop[] = {"\n\nHuman:"};
    struct llm_request req = {0};
    req.model = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
    req.messages = msgs;
    req.n_messages = 4;
    req.max_tokens = 100;
    req.has_temperature = true;
    req.temperature = 0.2;
    req.stop = stop;
    req.n_stop = 1;
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "http://127.0.0.1:9/model/"
                               "us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse");
    assert_json_equal(r.body,
                      "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]},"
                      "{\"role\":\"assistant\",\"content\":[{\"text\":\"Hello\"}]},"
                      "{\"role\":\"user\",\"content\":[{\"text\":\"2+2?\"}]}],"
                      "\"system\":[{\"text\":\"Be brief.\"}],"
                      "\"inferenceConfig\":{\"maxTokens\":100,\"temperature\":0.2,"
                      "\"stopSequences\":[\"\\n\\nHuman:\"]}}");
    llm_http_request_clear(&r);
    req.stream = true;
    req.model = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3";
    prov_build(p, &req, &r);
    assert_string_equal(r.url, "http://127.0.0.1:9/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A"
                               "123456789012%3Ainference-profile%2Fus.meta.llama3/converse-stream");
    llm_http_request_clear(&r);
    llm_provider_free(p);
}

/* The signature headers are what llm__sigv4_sign_request adds (its own
 * test checks the signature against AWS's suite); here: that they are
 * there, scoped to the region and service, with the token signed. */
static void bedrock_requests_are_sigv4_signed_with_the_session_token(void **state)
{
    (void)state;
    struct llm_provider_options o = {.base_url = "http://127.0.0.1:9", .region = "eu-west-3",
                                     .aws_access_key_id = AKID, .aws_secret_access_key = SECRET,
                                     .aws_session_token = "session-token-example"};
    struct llm_provider *p = new_bedrock(&o);
    struct llm_request req = prov_minimal_request("amazon.nova-lite-v1:0");
    struct llm_http_request r;
    prov_build(p, &req, &r);
    const char *auth = prov_header(&r, "authorization");
    assert_non_null(auth);
    assert_true(strncmp(auth, "AWS4-HMAC-SHA256 Credential=" AKID "/", 36) == 0);
    assert_non_null(strstr(auth, "/eu-west-3/bedrock/aws4_request, SignedHeaders=content-type;"
                                 "host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
                                 "Signature="));
    assert_string_equal(prov_header(&r, "x-amz-security-token"), "session-token-example");
    char hash[65];
    llm__sha256_hex(r.body, r.body_len, hash);
    assert_string_equal(prov_header(&r, "x-amz-content-sha256"), hash);
    assert_non_null(prov_header(&r, "x-amz-date"));
    /* The secret itself never goes on the wire. */
    for (size_t i = 0; i < r.n_headers; i++)
        assert_null(strstr(r.headers[i].value, SECRET));
    llm_http_request_clear(&r);
    llm_provider_free(p);
}

static void bedrock_bearer_token_replaces_sigv4(void **state)
{
    (void)state;
    clear_env();
    setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-example", 1);
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_REGION", "ap-south-1", 1);
    struct llm_provider *p = new_bedrock(NULL);
    struct llm_request req = prov_minimal_request("amazon.nova-pro-v1:0");
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_string_equal(prov_header(&r, "authorization"), "Bearer bedrock-api-key-example");
    assert_null(prov_header(&r, "x-amz-date"));
    assert_string_equal(r.url, "https://bedrock-runtime.ap-south-1.amazonaws.com/model/"
                               "amazon.nova-pro-v1%3A0/converse");
    llm_http_request_clear(&r);
    llm_provider_free(p);
    clear_env();
}

static void bedrock_credentials_and_region_come_from_the_environment(void **state)
{
    (void)state;
    clear_env();
    setenv("AWS_DEFAULT_REGION", "ca-central-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    struct llm_provider *p = new_bedrock(NULL);
    struct llm_request req = prov_minimal_request("m");
    struct llm_http_request r;
    prov_build(p, &req, &r);
    assert_non_null(strstr(prov_header(&r, "authorization"), "Credential=AKIDENV/"));
    assert_non_null(strstr(prov_header(&r, "authorization"), "/ca-central-1/bedrock/"));
    assert_string_equal(prov_header(&r, "x-amz-security-token"), "tok");
    assert_true(strncmp(r.url, "https://bedrock-runtime.ca-central-1.amazonaws.com/", 51) == 0);
    llm_http_request_clear(&r);
    llm_provider_free(p);

    /* A key id without a secret, or a bad region, is refused at creation. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    struct llm_provider *q = NULL;
    assert_int_equal(llm_provider_new_bedrock(NULL, &q), LLM_ERR_INVALID_ARGUMENT);
    struct llm_provider_options bad = {.region = "us-east-1/../x"};
    assert_int_equal(llm_provider_new_bedrock(&bad, &q), LLM_ERR_INVALID_ARGUMENT);
    assert_null(q);
    clear_env();
}

static const char converse_reply[] =
    "{\"metrics\":{\"latencyMs\":421},\"output\":{\"message\":{\"content\":[{\"text\":\"Four\"},"
    "{\"text\":\".\"}],\"role\":\"assistant\"}},\"stopReason\":\"end_turn\",\"usage\":"
    "{\"inputTokens\":11,\"outputTokens\":2,\"totalTokens\":23,\"cacheReadInputTokens\":6,"
    "\"cacheWriteInputTokens\":4}}";

static void bedrock_converse_reply_gives_text_stop_reason_and_whole_prompt_usage(void **state)
{
    (void)state;
    struct llm_provider *p = new_bedrock(NULL);
    struct llm_parsed out = {0};
    assert_int_equal(prov_parse(p, converse_reply, &out), LLM_OK);
    assert_string_equal(out.content, "Four.");
    assert_string_equal(out.finish_reason, "end_turn");
    assert_true(out.usage.known);
    assert_int_equal(out.usage.input_tokens, 21);
    assert_int_equal(out.usage.cached_input_tokens, 6);
    assert_int_equal(out.usage.cache_write_tokens, 4);
    assert_int_equal(out.usage.output_tokens, 2);
    assert_true(out.server_timing.known);
    assert_int_equal(out.server_timing.total_us, 421000);
    llm_parsed_clear(&out);

    assert_int_equal(prov_parse(p, "{\"output\":{\"message\":{\"content\":[],\"role\":"
                                   "\"assistant\"}},\"stopReason\":\"guardrail_intervened\"}",
                                &out),
                     LLM_OK);
    assert_int_equal(out.error, LLM_ERR_CONTENT_FILTERED);
    llm_parsed_clear(&out);
    assert_int_equal(prov_parse(p, "{\"output\":{}}", &out), LLM_ERR_PARSE);
    llm_parsed_clear(&out);
    assert_int_equal(prov_parse(p, "{\"output\":", &out), LLM_ERR_PARSE);
    llm_parsed_clear(&out);
    llm_provider_free(p);
}

struct feed_ctx {
    struct llm_provider *p;
    struct llm_parsed *acc;
};

static int feed_event(void *user, const char *event, const char *data, size_t len)
{
    struct feed_ctx *c = user;
    return c->p->vtable->parse_stream_event(c->p, event, data, len, c->acc) == LLM_OK ? 0 : 1;
}

static size_t converse_stream(unsigned char *buf, size_t cap)
{
    size_t n = 0;
    es_event(buf, cap, &n, "messageStart", "{\"p\":\"abcd\",\"role\":\"assistant\"}");
    es_event(buf, cap, &n, "contentBlockDelta",
             "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hel\"},\"p\":\"ab\"}");
    es_event(buf, cap, &n, "contentBlockDelta",
             "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"lo\"},\"p\":\"ab\"}");
    es_event(buf, cap, &n, "contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abc\"}");
    es_event(buf, cap, &n, "messageStop", "{\"p\":\"ab\",\"stopReason\":\"max_tokens\"}");
    es_event(buf, cap, &n, "metadata",
             "{\"metrics\":{\"latencyMs\":312},\"p\":\"abcdef\",\"usage\":{\"inputTokens\":12,"
             "\"outputTokens\":5,\"totalTokens\":17}}");
    return n;
}

static void bedrock_converse_stream_split_anywhere_gives_the_same_reply(void **state)
{
    (void)state;
    struct llm_provider *p = new_bedrock(NULL);
    assert_int_equal(p->vtable->stream_framing, LLM_STREAM_AWS_EVENTSTREAM);
    unsigned char buf[4096];
    size_t n = converse_stream(buf, sizeof(buf));
    for (size_t cut = 0; cut <= n; cut++) {
        struct llm_parsed acc = {0};
        struct feed_ctx c = {p, &acc};
        struct llm__es d;
        llm__es_init(&d, 0);
        assert_int_equal(llm__es_feed(&d, buf, cut, feed_event, &c), 0);
        assert_int_equal(llm__es_feed(&d, buf + cut, n - cut, feed_event, &c), 0);
        assert_string_equal(acc.content, "Hello");
        assert_string_equal(acc.finish_reason, "max_tokens");
        assert_true(acc.done);
        assert_int_equal(acc.usage.input_tokens, 12);
        assert_int_equal(acc.usage.output_tokens, 5);
        llm__es_free(&d);
        llm_parsed_clear(&acc);
    }
    /* Without its metadata event the stream is not done (truncated). */
    struct llm_parsed acc = {0};
    struct feed_ctx c = {p, &acc};
    struct llm__es d;
    llm__es_init(&d, 0);
    size_t last = 0, m = 0;
    while (m < n) { /* find the start of the last message */
        last = m;
        m += (size_t)buf[m] << 24 | (size_t)buf[m + 1] << 16 | (size_t)buf[m + 2] << 8 | buf[m + 3];
    }
    assert_int_equal(llm__es_feed(&d, buf, last, feed_event, &c), 0);
    assert_false(acc.done);
    llm__es_free(&d);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void bedrock_stream_exceptions_are_classified_by_type(void **state)
{
    (void)state;
    static const struct {
        const char *event;
        enum llm_error type;
    } cases[] = {
        {"exception:throttlingException", LLM_ERR_RATE_LIMITED},
        {"exception:modelStreamErrorException", LLM_ERR_SERVER_ERROR},
        {"exception:validationException", LLM_ERR_INVALID_REQUEST},
        {"exception:internalServerException", LLM_ERR_SERVER_ERROR},
        {"exception:serviceUnavailableException", LLM_ERR_OVERLOADED},
        {"exception:modelTimeoutException", LLM_ERR_TIMEOUT},
    };
    struct llm_provider *p = new_bedrock(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct llm_parsed acc = {0};
        assert_int_equal(prov_feed(p, cases[i].event, "{\"message\":\"boom\"}", &acc), LLM_OK);
        assert_int_equal(acc.error, cases[i].type);
        assert_string_equal(acc.error_message, "boom");
        llm_parsed_clear(&acc);
    }
    struct llm_parsed acc = {0};
    assert_int_equal(prov_feed(p, "error:InternalFailure", "went wrong", &acc), LLM_OK);
    assert_int_equal(acc.error, LLM_ERR_SERVER_ERROR);
    assert_string_equal(acc.error_message, "went wrong");
    llm_parsed_clear(&acc);
    assert_int_equal(prov_feed(p, "contentBlockDelta", "{\"delta\":", &acc), LLM_ERR_PARSE);
    llm_parsed_clear(&acc);
    assert_int_equal(prov_feed(p, NULL, "{}", &acc), LLM_ERR_PARSE);
    llm_parsed_clear(&acc);
    llm_provider_free(p);
}

static void bedrock_classification_table_maps_every_row(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *header; /* x-amzn-ErrorType, or NULL: the body's __type */
        const char *type;
        const char *message;
        enum llm_error want;
        bool retryable;
    } cases[] = {
        {429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
         "ThrottlingException", "Too many requests, please wait before trying again.",
         LLM_ERR_RATE_LIMITED, true},
        {400, NULL, "ServiceQuotaExceededException", "quota", LLM_ERR_RATE_LIMITED, true},
        {408, NULL, "ModelTimeoutException", "timed out", LLM_ERR_TIMEOUT, true},
        {429, NULL, "ModelNotReadyException", "not ready", LLM_ERR_OVERLOADED, true},
        {503, NULL, "ServiceUnavailableException", "unavailable", LLM_ERR_OVERLOADED, true},
        {500, NULL, "InternalServerException", "internal", LLM_ERR_SERVER_ERROR, true},
        {424, NULL, "ModelErrorException", "model failed", LLM_ERR_SERVER_ERROR, true},
        {400, NULL, "ModelStreamErrorException", "stream failed", LLM_ERR_SERVER_ERROR, true},
        {400, NULL, "ValidationException", "Input is too long for requested model.",
         LLM_ERR_CONTEXT_LENGTH_EXCEEDED, false},
        {400, NULL, "ValidationException", "too many input tokens",
         LLM_ERR_CONTEXT_LENGTH_EXCEEDED, false},
        {400, "ValidationException", "ValidationException", "Malformed input request",
         LLM_ERR_INVALID_REQUEST, false},
        {403, NULL, "AccessDeniedException",
         "You don't have access to the model with the specified model ID.",
         LLM_ERR_PERMISSION_DENIED, false},
        {404, NULL, "ResourceNotFoundException", "Model not found", LLM_ERR_NOT_FOUND, false},
        {403, NULL, "UnrecognizedClientException", "The security token included in the request "
         "is invalid.", LLM_ERR_AUTHENTICATION, false},
        {403, "InvalidSignatureException", "InvalidSignatureException",
         "The request signature we calculated does not match the signature you provided.",
         LLM_ERR_AUTHENTICATION, false},
        {403, NULL, "IncompleteSignatureException", "x", LLM_ERR_AUTHENTICATION, false},
        {403, NULL, "MissingAuthenticationTokenException", "x", LLM_ERR_AUTHENTICATION, false},
        {403, NULL, "ExpiredTokenException", "The security token included in the request is "
         "expired", LLM_ERR_AUTHENTICATION, false},
        {403, NULL, "InvalidClientTokenId", "x", LLM_ERR_AUTHENTICATION, false},
        /* The Smithy spelling "namespace#Name". */
        {429, NULL, "com.amazon.bedrock#ThrottlingException", "x", LLM_ERR_RATE_LIMITED, true},
        /* Unknown names: the status decides. */
        {502, NULL, "FutureException", "x", LLM_ERR_SERVER_ERROR, true},
        {401, NULL, "FutureException", "x", LLM_ERR_AUTHENTICATION, false},
    };
    struct llm_provider *p = new_bedrock(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[512];
        if (cases[i].header)
            snprintf(body, sizeof(body), "{\"message\":\"%s\"}", cases[i].message);
        else
            snprintf(body, sizeof(body), "{\"__type\":\"%s\",\"message\":\"%s\"}", cases[i].type,
                     cases[i].message);
        struct llm_header h[] = {{(char *)"x-amzn-ErrorType", (char *)cases[i].header}};
        struct llm_http_headers hh = {h, cases[i].header ? 1 : 0};
        struct llm_error_info info = {0};
        prov_classify(p, cases[i].status, &hh, body, &info);
        if (info.type != cases[i].want || info.retryable != cases[i].retryable)
            fail_msg("row %zu (%s): got %s retryable=%d", i, cases[i].type,
                     llm_error_name(info.type), info.retryable);
        assert_string_equal(info.message, cases[i].message);
        assert_non_null(info.provider_code);
        assert_null(strchr(info.provider_code, ':'));
        assert_null(strchr(info.provider_code, '#'));
        llm_error_info_clear(&info);
    }
    struct llm_error_info info = {0};
    prov_classify(p, 502, NULL, "Bad Gateway", &info);
    assert_int_equal(info.type, LLM_ERR_SERVER_ERROR);
    assert_string_equal(info.message, "Bad Gateway");
    llm_error_info_clear(&info);
    llm_provider_free(p);
}

int main(void)
{
    clear_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bedrock_converse_body_and_url_match_the_sdk),
        cmocka_unit_test(bedrock_requests_are_sigv4_signed_with_the_session_token),
        cmocka_unit_test(bedrock_bearer_token_replaces_sigv4),
        cmocka_unit_test(bedrock_credentials_and_region_come_from_the_environment),
        cmocka_unit_test(bedrock_converse_reply_gives_text_stop_reason_and_whole_prompt_usage),
        cmocka_unit_test(bedrock_converse_stream_split_anywhere_gives_the_same_reply),
        cmocka_unit_test(bedrock_stream_exceptions_are_classified_by_type),
        cmocka_unit_test(bedrock_classification_table_maps_every_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
