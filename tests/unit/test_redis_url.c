/* Redis URL parsing and the redacted form used in every message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "gates/shared/shared.h"

static void tcp_url_with_user_password_and_db_is_parsed_and_redacted(void **state)
{
    (void)state;
    struct llm__redis_url u;
    char err[128];
    assert_int_equal(llm__redis_url_parse("redis://alice:s3cr%40t@10.0.0.5:6380/2", &u, err,
                                          sizeof(err)),
                     LLM_OK);
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "s3cr@t");
    assert_int_equal(u.db, 2);
    assert_null(u.path);
    assert_string_equal(u.redacted, "redis://alice:***@10.0.0.5:6380/2");
    llm__redis_url_clear(&u);
}

static void password_only_forms_mean_the_default_user(void **state)
{
    (void)state;
    struct llm__redis_url u;
    assert_int_equal(llm__redis_url_parse("redis://:pw@localhost", &u, NULL, 0), LLM_OK);
    assert_null(u.user);
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.redacted, "redis://:***@localhost:6379");
    llm__redis_url_clear(&u);
    /* redis://secret@host: one field is the password, as redis-cli -u reads it. */
    assert_int_equal(llm__redis_url_parse("redis://topsecret@h:1", &u, NULL, 0), LLM_OK);
    assert_null(u.user);
    assert_string_equal(u.password, "topsecret");
    assert_null(strstr(u.redacted, "topsecret"));
    llm__redis_url_clear(&u);
}

static void a_password_containing_at_signs_is_split_at_the_last_one(void **state)
{
    (void)state;
    struct llm__redis_url u;
    assert_int_equal(llm__redis_url_parse("redis://u:p@ss@w0rd@127.0.0.1:7000", &u, NULL, 0),
                     LLM_OK);
    assert_string_equal(u.password, "p@ss@w0rd");
    assert_string_equal(u.host, "127.0.0.1");
    assert_null(strstr(u.redacted, "w0rd"));
    llm__redis_url_clear(&u);
}

static void ipv6_hosts_are_bracketed(void **state)
{
    (void)state;
    struct llm__redis_url u;
    assert_int_equal(llm__redis_url_parse("redis://[::1]:6390", &u, NULL, 0), LLM_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_string_equal(u.redacted, "redis://[::1]:6390");
    llm__redis_url_clear(&u);
}

static void unix_socket_paths_are_accepted_in_both_spellings(void **state)
{
    (void)state;
    struct llm__redis_url u;
    assert_int_equal(llm__redis_url_parse("/run/redis/redis.sock", &u, NULL, 0), LLM_OK);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_null(u.host);
    llm__redis_url_clear(&u);
    assert_int_equal(llm__redis_url_parse("unix://:pw9@/tmp/r.sock?db=3", &u, NULL, 0), LLM_OK);
    assert_string_equal(u.path, "/tmp/r.sock");
    assert_string_equal(u.password, "pw9");
    assert_int_equal(u.db, 3);
    assert_null(strstr(u.redacted, "pw9"));
    llm__redis_url_clear(&u);
}

static void bad_urls_are_refused_without_echoing_the_password(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "http://h:1", "redis://", "redis://:pw@", "redis://h:0", "redis://h:65536",
        "redis://h:12x", "redis://h/x", "redis://h:1?x=1", "redis://[::1", "unix://relative.sock",
        "redis://u:%zzpw@h", "redis://u:%00@h", "redis://h:1/\x01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct llm__redis_url u;
        char err[256];
        assert_int_equal(llm__redis_url_parse(bad[i], &u, err, sizeof(err)),
                         LLM_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "Redis URL"));
        assert_null(strstr(err, "pw"));
        assert_null(u.host);
        assert_null(u.password);
    }
}

static void key_prefix_hashes_provider_url_and_quota_only(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    assert_int_equal(llm__shared_key_prefix("openai", "https://api.openai.com/v1", "team-a", a), 0);
    assert_int_equal(llm__shared_key_prefix("openai", "https://api.openai.com/v1", "team-b", b), 0);
    assert_int_equal(llm__shared_key_prefix("openai", "https://api.openai.com/v1", "team-a", c), 0);
    assert_string_equal(a, c);
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(a, "llmorch:{", 9), 0);
    assert_int_equal(strlen(a), strlen("llmorch:{0123456789abcdef}:"));
    assert_null(strstr(a, "team"));
    assert_null(strstr(a, "openai"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_url_with_user_password_and_db_is_parsed_and_redacted),
        cmocka_unit_test(password_only_forms_mean_the_default_user),
        cmocka_unit_test(a_password_containing_at_signs_is_split_at_the_last_one),
        cmocka_unit_test(ipv6_hosts_are_bracketed),
        cmocka_unit_test(unix_socket_paths_are_accepted_in_both_spellings),
        cmocka_unit_test(bad_urls_are_refused_without_echoing_the_password),
        cmocka_unit_test(key_prefix_hashes_provider_url_and_quota_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
