/* The mock server's wire fidelity (issue 10, "Mock server fidelity"): what
 * it sends must be what the real OpenAI and Anthropic APIs send, since it is
 * the oracle of every other integration test.  Plain libcurl requests
 * against the server started in-process on 127.0.0.1; the bodies are read
 * with cJSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock_server.h"

struct reply {
    long status;
    char *body;
    size_t len;
    char headers[16384];
    size_t hlen;
    cJSON *json;
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct reply *r = user;
    size_t add = size * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, p, add);
    r->body = nb;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    struct reply *r = user;
    size_t add = size * n;
    if (r->hlen + add + 1 < sizeof(r->headers)) {
        memcpy(r->headers + r->hlen, p, add);
        r->hlen += add;
        r->headers[r->hlen] = '\0';
    }
    return add;
}

/* One request.  `body` NULL: a GET.  `hdr`: one extra header line or NULL. */
static void http(struct mocksrv *s, const char *path, const char *body, const char *hdr,
                 const char *hdr2, struct reply *out)
{
    memset(out, 0, sizeof(*out));
    char url[256];
    snprintf(url, sizeof(url), "%s%s", mocksrv_url(s), path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (hdr != NULL)
        h = curl_slist_append(h, hdr);
    if (hdr2 != NULL)
        h = curl_slist_append(h, hdr2);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    out->json = out->body != NULL ? cJSON_ParseWithLength(out->body, out->len) : NULL;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    cJSON_Delete(r->json);
}

/* The value of header `name` (copied into out), or NULL. */
static const char *header(const struct reply *r, const char *name, char *out, size_t n)
{
    size_t k = strlen(name);
    for (const char *l = r->headers; *l;) {
        const char *e = strstr(l, "\r\n");
        if (e == NULL)
            break;
        if ((size_t)(e - l) > k + 1 && strncasecmp(l, name, k) == 0 && l[k] == ':') {
            const char *v = l + k + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(e - v), v);
            return out;
        }
        l = e + 2;
    }
    return NULL;
}

/* Dotted path into r->json ("error.type", "choices.0.logprobs"). */
static const cJSON *at(const struct reply *r, const char *path)
{
    const cJSON *j = r->json;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && j;
         tok = strtok_r(NULL, ".", &save)) {
        if (*tok >= '0' && *tok <= '9')
            j = cJSON_GetArrayItem(j, atoi(tok));
        else
            j = cJSON_GetObjectItemCaseSensitive(j, tok);
    }
    return j;
}

static const char *str_at(const struct reply *r, const char *path)
{
    const cJSON *j = at(r, path);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

static struct mocksrv *start(const struct mocksrv_options *o)
{
    struct mocksrv_options def = {0};
    struct mocksrv *s = NULL;
    assert_int_equal(mocksrv_start(o ? o : &def, &s), 0);
    return s;
}

#define OPENAI_BODY \
    "{\"model\":\"gpt-4o-mini\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":\"abcd\"}]}"
#define ANTHROPIC_BODY \
    "{\"model\":\"claude-3-5-haiku-20241022\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\"," \
    "\"content\":\"abcd\"}]}"

static void anthropic_messages_without_max_tokens_answer_400_field_required(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    struct reply r;
    http(s, "/v1/messages",
         "{\"model\":\"claude-3-5-haiku-20241022\",\"messages\":[{\"role\":\"user\",\"content\":"
         "\"hi\"}]}",
         NULL, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(str_at(&r, "type"), "error");
    assert_string_equal(str_at(&r, "error.type"), "invalid_request_error");
    assert_string_equal(str_at(&r, "error.message"), "max_tokens: Field required");
    reply_free(&r);
    /* OpenAI's max_tokens stays optional. */
    http(s, "/v1/chat/completions",
         "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
         NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    mocksrv_stop(s);
}

static void the_openai_path_never_sends_529_or_overloaded_error(void **state)
{
    (void)state;
    /* Asked for a 529 by name, OpenAI answers its own overload: a 503. */
    struct mocksrv_options o = {.script = "529"};
    struct mocksrv *s = start(&o);
    struct reply r;
    http(s, "/v1/chat/completions", OPENAI_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(str_at(&r, "error.type"), "server_error");
    assert_null(strstr(r.body, "overloaded_error"));
    reply_free(&r);
    mocksrv_stop(s);
    /* Random faults on each path: only statuses that API documents. */
    struct mocksrv_options all = {.fail_rate = 1.0, .seed = 7};
    s = start(&all);
    int seen[600] = {0};
    for (int i = 0; i < 60; i++) {
        http(s, "/v1/chat/completions", OPENAI_BODY, NULL, NULL, &r);
        assert_true(r.status == 429 || r.status == 500 || r.status == 503);
        assert_null(strstr(r.body, "overloaded_error"));
        seen[r.status]++;
        reply_free(&r);
        http(s, "/v1/messages", ANTHROPIC_BODY, NULL, NULL, &r);
        assert_true(r.status == 429 || r.status == 500 || r.status == 529);
        seen[r.status]++;
        reply_free(&r);
    }
    assert_true(seen[503] > 0 && seen[529] > 0);
    mocksrv_stop(s);
}

static void anthropic_error_bodies_carry_the_request_id_of_the_header(void **state)
{
    (void)state;
    struct mocksrv_options o = {.script = "429"};
    struct mocksrv *s = start(&o);
    struct reply r;
    char hv[128];
    /* A fault after admission, and a bad body answered before it. */
    const char *bodies[] = {ANTHROPIC_BODY, "{not json"};
    for (int i = 0; i < 2; i++) {
        http(s, "/v1/messages", bodies[i], NULL, NULL, &r);
        assert_int_equal(r.status, i == 0 ? 429 : 400);
        assert_non_null(header(&r, "request-id", hv, sizeof(hv)));
        const char *rid = str_at(&r, "request_id");
        assert_non_null(rid);
        assert_string_equal(rid, hv);
        assert_non_null(strstr(rid, "req_mock_"));
        reply_free(&r);
    }
    /* OpenAI answers carry x-request-id, errors included. */
    http(s, "/v1/chat/completions", "{not json", NULL, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(header(&r, "x-request-id", hv, sizeof(hv)));
    reply_free(&r);
    mocksrv_stop(s);
}

static void timeout_and_billing_faults_use_each_apis_error_types(void **state)
{
    (void)state;
    struct mocksrv_options o = {.script = "504,billing,504,billing,503"};
    struct mocksrv *s = start(&o);
    struct reply r;
    http(s, "/v1/messages", ANTHROPIC_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 504);
    assert_string_equal(str_at(&r, "error.type"), "timeout_error");
    reply_free(&r);
    http(s, "/v1/messages", ANTHROPIC_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 402);
    assert_string_equal(str_at(&r, "error.type"), "billing_error");
    reply_free(&r);
    http(s, "/v1/chat/completions", OPENAI_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 504);
    assert_string_equal(str_at(&r, "error.type"), "server_error");
    reply_free(&r);
    http(s, "/v1/chat/completions", OPENAI_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(str_at(&r, "error.code"), "insufficient_quota");
    reply_free(&r);
    /* Anthropic documents no 503: one is not labelled overloaded_error. */
    http(s, "/v1/messages", ANTHROPIC_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(str_at(&r, "error.type"), "api_error");
    reply_free(&r);
    /* The header names the new tokens too. */
    http(s, "/v1/messages", ANTHROPIC_BODY, "x-mock-fault: billing", NULL, &r);
    assert_int_equal(r.status, 402);
    reply_free(&r);
    mocksrv_stop(s);
}

static long long header_ll(const struct reply *r, const char *name)
{
    char hv[64];
    assert_non_null(header(r, name, hv, sizeof(hv)));
    return atoll(hv);
}

static void rate_limit_limit_and_remaining_are_in_the_same_units(void **state)
{
    (void)state;
    /* 600 RPM and 60,000 TPM over a 30 s window: the window admits 300
     * requests and 30,000 tokens.  The headers say per minute, so what is
     * left must be per minute too (it used to be the window's count). */
    struct mocksrv_options o = {.rpm = 600, .tpm = 60000, .window_ms = 30000};
    struct mocksrv *s = start(&o);
    struct reply r;
    http(s, "/v1/chat/completions", OPENAI_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(header_ll(&r, "x-ratelimit-limit-requests"), 600);
    assert_int_equal(header_ll(&r, "x-ratelimit-remaining-requests"), 598); /* 299 of 300 */
    assert_int_equal(header_ll(&r, "x-ratelimit-limit-tokens"), 60000);
    /* cost = 1 input token + max_tokens 9 = 10: 29,990 of 30,000 left. */
    assert_int_equal(header_ll(&r, "x-ratelimit-remaining-tokens"), 59980);
    reply_free(&r);
    http(s, "/v1/messages", ANTHROPIC_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(header_ll(&r, "anthropic-ratelimit-requests-limit"), 600);
    assert_int_equal(header_ll(&r, "anthropic-ratelimit-requests-remaining"), 596);
    assert_int_equal(header_ll(&r, "anthropic-ratelimit-tokens-remaining"), 59960);
    reply_free(&r);
    mocksrv_stop(s);
    /* A full window says 0 remaining, whatever the units. */
    struct mocksrv_options one = {.rpm = 2, .window_ms = 30000}; /* 1 per window */
    s = start(&one);
    http(s, "/v1/chat/completions", OPENAI_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(header_ll(&r, "x-ratelimit-remaining-requests"), 0);
    assert_true(header_ll(&r, "x-ratelimit-limit-requests") == 2);
    reply_free(&r);
    mocksrv_stop(s);
}

static void openai_replies_carry_logprobs_refusal_and_a_system_fingerprint(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    struct reply r;
    http(s, "/v1/chat/completions", OPENAI_BODY, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsNull(at(&r, "choices.0.logprobs")));
    assert_true(cJSON_IsNull(at(&r, "choices.0.message.refusal")));
    assert_non_null(str_at(&r, "system_fingerprint"));
    assert_string_equal(str_at(&r, "choices.0.message.content"), "mock reply to: abcd");
    reply_free(&r);
    /* Every stream chunk names it too. */
    http(s, "/v1/chat/completions",
         "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"one two three four five six seven\"}]}",
         NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    int chunks = 0, with = 0;
    for (const char *p = r.body; (p = strstr(p, "data: {")) != NULL; p++) {
        chunks++;
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        const char *fp = strstr(p, "\"system_fingerprint\":\"");
        if (fp != NULL && fp < end)
            with++;
    }
    assert_true(chunks >= 3);
    assert_int_equal(with, chunks);
    reply_free(&r);
    mocksrv_stop(s);
}

static void get_models_answers_in_the_format_of_the_asking_api(void **state)
{
    (void)state;
    struct mocksrv *s = start(NULL);
    struct reply r;
    http(s, "/v1/models", NULL, "Authorization: Bearer sk-x", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(str_at(&r, "object"), "list");
    assert_true(cJSON_GetArraySize(at(&r, "data")) > 0);
    assert_string_equal(str_at(&r, "data.0.object"), "model");
    assert_non_null(str_at(&r, "data.0.id"));
    assert_true(cJSON_IsNumber(at(&r, "data.0.created")));
    assert_non_null(str_at(&r, "data.0.owned_by"));
    reply_free(&r);
    /* An Anthropic SDK sends anthropic-version. */
    http(s, "/v1/models", NULL, "x-api-key: sk-ant-x", "anthropic-version: 2023-06-01", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(str_at(&r, "data.0.type"), "model");
    assert_non_null(str_at(&r, "data.0.display_name"));
    assert_non_null(str_at(&r, "data.0.created_at"));
    assert_true(cJSON_IsFalse(at(&r, "has_more")));
    assert_string_equal(str_at(&r, "first_id"), str_at(&r, "data.0.id"));
    reply_free(&r);
    /* Not a POST path. */
    http(s, "/v1/models", "{}", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    mocksrv_stop(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anthropic_messages_without_max_tokens_answer_400_field_required),
        cmocka_unit_test(the_openai_path_never_sends_529_or_overloaded_error),
        cmocka_unit_test(anthropic_error_bodies_carry_the_request_id_of_the_header),
        cmocka_unit_test(timeout_and_billing_faults_use_each_apis_error_types),
        cmocka_unit_test(rate_limit_limit_and_remaining_are_in_the_same_units),
        cmocka_unit_test(openai_replies_carry_logprobs_refusal_and_a_system_fingerprint),
        cmocka_unit_test(get_models_answers_in_the_format_of_the_asking_api),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
