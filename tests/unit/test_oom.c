/* OOM sweep on constructors (libuv's test-loop-oom.c style): fail the Nth
 * allocation made by the calling thread until the call succeeds; every
 * failing run must report OUT_OF_MEMORY (or, where the failure hit thread or
 * event-loop setup, INTERNAL) and leak nothing (ASan's leak checker runs
 * this suite).  The library's own allocations are redirected with
 * -Wl,--wrap (see tests/CMakeLists.txt); libc-internal ones are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/provider.h"
#include "llmorch/llmorch.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* Only the test's own thread is failed: the engine thread allocates too,
 * but the sweep is about the constructor's unwinding. */
static _Thread_local long countdown = -1; /* -1 = never fail */

static int should_fail(void)
{
    if (countdown < 0)
        return 0;
    if (countdown == 0)
        return 1;
    countdown--;
    return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return should_fail() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail() ? NULL : __real_strndup(s, n); }

typedef enum llm_error ctor_fn(void **out);

static void sweep(const char *what, ctor_fn *ctor, void (*dtor)(void *))
{
    for (long n = 0; n < 100000; n++) {
        void *obj = NULL;
        countdown = n;
        enum llm_error rc = ctor(&obj);
        countdown = -1;
        if (rc == LLM_OK) {
            assert_non_null(obj);
            dtor(obj);
            print_message("%s: succeeded after %ld failing runs\n", what, n);
            return;
        }
        if (rc != LLM_ERR_OUT_OF_MEMORY && rc != LLM_ERR_INTERNAL)
            fail_msg("%s: allocation %ld failed with %s", what, n, llm_error_name(rc));
        assert_null(obj);
    }
    fail_msg("%s never succeeded", what);
}

static enum llm_error new_engine(void **out)
{
    struct llm_engine *e = NULL;
    enum llm_error rc = llm_engine_new(NULL, &e);
    *out = e;
    return rc;
}
static void free_engine(void *p) { llm_engine_free(p); }

static enum llm_error new_gated_engine(void **out)
{
    struct llm_engine_options o = {0};
    o.rpm = 100;
    o.tpm = 10000;
    struct llm_engine *e = NULL;
    enum llm_error rc = llm_engine_new(&o, &e);
    *out = e;
    return rc;
}

static enum llm_error new_openai(void **out)
{
    struct llm_provider_options o = {0};
    o.api_key = "test-key-not-real";
    o.base_url = "http://127.0.0.1:1";
    struct llm_provider *p = NULL;
    enum llm_error rc = llm_provider_new_openai(&o, &p);
    *out = p;
    return rc;
}

static enum llm_error new_anthropic(void **out)
{
    struct llm_provider_options o = {0};
    o.api_key = "test-key-not-real";
    struct llm_provider *p = NULL;
    enum llm_error rc = llm_provider_new_anthropic(&o, &p);
    *out = p;
    return rc;
}

static enum llm_error new_mock(void **out)
{
    struct llm_mock_options o = {0};
    o.script = "429,500,ok";
    o.reply = "fixed";
    struct llm_provider *p = NULL;
    enum llm_error rc = llm_provider_new_mock(&o, &p);
    *out = p;
    return rc;
}
static void free_provider(void *p) { llm_provider_free(p); }

static enum llm_error new_pricing(void **out)
{
    struct llm_pricing *p = NULL;
    enum llm_error rc = llm_pricing_new_builtin(&p);
    *out = p;
    return rc;
}
static void free_pricing(void *p) { llm_pricing_free(p); }

static void engine_constructor_survives_every_allocation_failure(void **state)
{
    (void)state;
    sweep("llm_engine_new", new_engine, free_engine);
    sweep("llm_engine_new with gates", new_gated_engine, free_engine);
}

static void provider_constructors_survive_every_allocation_failure(void **state)
{
    (void)state;
    sweep("llm_provider_new_openai", new_openai, free_provider);
    sweep("llm_provider_new_anthropic", new_anthropic, free_provider);
    sweep("llm_provider_new_mock", new_mock, free_provider);
}

static void pricing_constructor_survives_every_allocation_failure(void **state)
{
    (void)state;
    sweep("llm_pricing_new_builtin", new_pricing, free_pricing);
}

/* The service boundary: a submission that cannot allocate its result says
 * so (NULL), any other failure is a result carrying the error. */
static void generate_under_allocation_failure_returns_null_or_a_result(void **state)
{
    (void)state;
    struct llm_engine *e = NULL;
    assert_int_equal(llm_engine_new(NULL, &e), LLM_OK);
    struct llm_message m = {.role = "user", .content = "oom"};
    struct llm_request req = {.model = "gpt-4o-mini", .messages = &m, .n_messages = 1};
    for (long n = 0; n < 200; n++) {
        countdown = n;
        struct llm_result *res = llm_generate(e, &req);
        countdown = -1;
        if (res) {
            if (res->success) {
                llm_result_free(res);
                break;
            }
            assert_true(res->error.type == LLM_ERR_OUT_OF_MEMORY ||
                        res->error.type == LLM_ERR_INTERNAL);
            llm_result_free(res);
        }
    }
    llm_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(engine_constructor_survives_every_allocation_failure),
        cmocka_unit_test(provider_constructors_survive_every_allocation_failure),
        cmocka_unit_test(pricing_constructor_survives_every_allocation_failure),
        cmocka_unit_test(generate_under_allocation_failure_returns_null_or_a_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
