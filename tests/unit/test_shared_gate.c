/* The shared gate on its own: the loop adapter, the script, membership,
 * settlements, cooldown, NOSCRIPT reload, garbage replies and the failure
 * policies, against a private redis-server (skipped, said so, when
 * redis-server is not installed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/util.h"
#include "base/loop.h"
#include "gates/shared/shared.h"
#include "redis_helpers.h"

#define PASSWORD "canary-redis-pw-4242"

struct fixture {
    struct test_redis redis;
    struct llm__loop *loop;
    char logs[16384];
    size_t logs_len;
};

struct slot {
    struct llm__sg_ticket t;
    int verdicts;                /* callbacks received */
    enum llm__sg_verdict last;
    int64_t at_us;
};

static void log_fn(void *user, enum llm_log_level level, const char *msg)
{
    struct fixture *f = user;
    int n = snprintf(f->logs + f->logs_len, sizeof(f->logs) - f->logs_len, "%s\n", msg);
    if (n > 0 && f->logs_len + (size_t)n < sizeof(f->logs))
        f->logs_len += (size_t)n;
}

static void on_done(void *user, struct llm__sg_ticket *t, enum llm__sg_verdict v)
{
    struct slot *s = user;
    assert_ptr_equal(&s->t, t);
    s->verdicts++;
    s->last = v;
    s->at_us = llm__now_mono_us();
}

static int setup(void **state)
{
    if (!test_redis_available()) {
        fprintf(stderr, "SKIP: redis-server not installed (scripts/install-deps.sh installs it)\n");
        *state = NULL;
        return 0;
    }
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(test_redis_start(&f->redis, PASSWORD), 0);
    assert_int_equal(llm__loop_new(&f->loop), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    llm__loop_free(f->loop);
    test_redis_stop(&f->redis);
    /* The canary: whatever happened, no log line carried the password. */
    assert_null(strstr(f->logs, PASSWORD));
    free(f);
    return 0;
}

#define NEED_REDIS(f)                                                                          \
    struct fixture *f = *state;                                                                \
    if (!f) {                                                                                  \
        skip();                                                                                \
        return;                                                                                \
    }

static struct llm__sg *make_sg(struct fixture *f, const char *url, enum llm_shared_fail fail,
                               int64_t rpm, int64_t tpm)
{
    struct llm__sg_options o = {
        .url = url, .quota = "unit", .provider = "openai", .base_url = "http://x",
        .fail = fail, .rpm_limit = rpm, .rpm_window_ms = 1000, .tpm_limit = tpm,
        .tpm_window_ms = 1000, .timeout_ms = 2000, .member_ttl_ms = 3000,
        .log = log_fn, .log_user = f, .log_level = LLM_LOG_DEBUG,
    };
    struct llm__sg *sg = NULL;
    char err[256];
    assert_int_equal(llm__sg_new(&o, f->loop, &sg, err, sizeof(err)), LLM_OK);
    return sg;
}

/* Run the loop until `done(arg)` or a generous cap (a hang guard, not a
 * timing assertion). */
static bool run_until(struct fixture *f, bool (*done)(void *), void *arg)
{
    int64_t end = llm__now_mono_us() + 20 * 1000000;
    while (!done(arg)) {
        if (llm__now_mono_us() > end)
            return false;
        llm__loop_run_once(f->loop, 20);
    }
    return true;
}

struct count_arg {
    struct slot *slots;
    size_t n;
    int want;
};

static bool count_done(void *p)
{
    struct count_arg *a = p;
    int c = 0;
    for (size_t i = 0; i < a->n; i++)
        c += a->slots[i].verdicts > 0;
    return c >= a->want;
}

static void run_for(struct fixture *f, int64_t ms)
{
    int64_t end = llm__now_mono_us() + ms * 1000;
    while (llm__now_mono_us() < end)
        llm__loop_run_once(f->loop, 10);
}

static bool mode_is(struct llm__sg *sg, enum llm__sg_mode m)
{
    struct llm__sg_figures fig;
    llm__sg_figures(sg, &fig);
    return fig.mode == m;
}

struct mode_arg {
    struct llm__sg *sg;
    enum llm__sg_mode m;
};
static bool mode_done(void *p)
{
    struct mode_arg *a = p;
    return mode_is(a->sg, a->m);
}

static void shared_window_admits_exactly_the_limit_then_the_rest_later_in_order(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *sg = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 5, 0);
    struct slot s[8];
    memset(s, 0, sizeof(s));
    int64_t again;
    for (int i = 0; i < 8; i++)
        assert_int_equal(llm__sg_admit(sg, &s[i].t, llm__now_mono_us(), on_done, &s[i], &again),
                         LLM__SG_PENDING);
    /* Nothing is answered from inside admit. */
    for (int i = 0; i < 8; i++)
        assert_int_equal(s[i].verdicts, 0);
    struct count_arg a = {s, 8, 5};
    assert_true(run_until(f, count_done, &a));
    int admitted = 0;
    for (int i = 0; i < 8; i++)
        admitted += s[i].verdicts;
    assert_int_equal(admitted, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s[i].last, LLM__SG_ADMIT);
        assert_int_equal(s[i].t.via, LLM_ADMISSION_SHARED);
    }
    int64_t first = s[4].at_us;
    a.want = 8;
    assert_true(run_until(f, count_done, &a));
    /* The rest only when the first ones aged out of the 1 s window, in FIFO order. */
    for (int i = 5; i < 8; i++) {
        assert_int_equal(s[i].last, LLM__SG_ADMIT);
        assert_true(s[i].at_us - first >= 900 * 1000);
        assert_true(s[i].at_us >= s[i - 1].at_us);
    }
    struct llm__sg_figures fig;
    llm__sg_figures(sg, &fig);
    assert_int_equal(fig.mode, LLM__SG_SHARED);
    assert_int_equal(fig.admitted_shared, 8);
    assert_int_equal(fig.rpm_limit, 5);
    assert_null(strstr(fig.redis, PASSWORD));
    assert_non_null(strstr(fig.redis, "***"));
    /* Batching: far fewer calls than admissions plus refusals. */
    assert_true(fig.commands <= 6);
    llm__sg_free(sg);
}

static void two_members_share_one_window_and_count_each_other(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *a = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 6, 0);
    struct llm__sg *b = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 6, 0);
    struct slot s[10];
    memset(s, 0, sizeof(s));
    int64_t again;
    for (int i = 0; i < 10; i++)
        llm__sg_admit(i % 2 ? b : a, &s[i].t, llm__now_mono_us(), on_done, &s[i], &again);
    struct count_arg ca = {s, 10, 6};
    assert_true(run_until(f, count_done, &ca));
    run_for(f, 100);
    int admitted = 0;
    for (int i = 0; i < 10; i++)
        admitted += s[i].verdicts;
    assert_int_equal(admitted, 6); /* one window for both, not 6 each */
    assert_int_equal(test_redis_cmd(&f->redis, "EVAL %s 0", "return #redis.call('KEYS','*')") > 0,
                     1);
    struct llm__sg_figures fa, fb;
    llm__sg_figures(a, &fa);
    llm__sg_figures(b, &fb);
    assert_int_equal(fa.members > 1 ? fa.members : fb.members, 2);
    llm__sg_free(a);
    llm__sg_free(b);
}

static void a_refund_frees_capacity_for_every_member(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *a = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 0, 100);
    struct slot s[3];
    memset(s, 0, sizeof(s));
    int64_t again;
    s[0].t.tpm_amount = 60;
    s[1].t.tpm_amount = 60;
    llm__sg_admit(a, &s[0].t, llm__now_mono_us(), on_done, &s[0], &again);
    struct count_arg ca = {s, 1, 1};
    assert_true(run_until(f, count_done, &ca));
    llm__sg_admit(a, &s[1].t, llm__now_mono_us(), on_done, &s[1], &again);
    run_for(f, 100);
    assert_int_equal(s[1].verdicts, 0); /* 60 + 60 > 100 */
    /* Real usage was 10: the correction lets the second in at once. */
    llm__sg_settle(a, &s[0].t, false, 10);
    ca = (struct count_arg){s, 2, 2};
    assert_true(run_until(f, count_done, &ca));
    assert_true(s[1].at_us - s[0].at_us < 900 * 1000);
    struct llm__sg_figures fig;
    llm__sg_figures(a, &fig);
    assert_int_equal(fig.tpm_used, 70);
    /* A 429 refunds the whole debit. */
    llm__sg_settle(a, &s[1].t, true, -1);
    s[2].t.tpm_amount = 90;
    llm__sg_admit(a, &s[2].t, llm__now_mono_us(), on_done, &s[2], &again);
    ca = (struct count_arg){s, 3, 3};
    assert_true(run_until(f, count_done, &ca));
    llm__sg_figures(a, &fig);
    assert_int_equal(fig.tpm_used, 100);
    llm__sg_free(a);
}

static void one_members_cooldown_pauses_the_other(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *a = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 100, 0);
    struct llm__sg *b = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 100, 0);
    struct mode_arg ma = {a, LLM__SG_SHARED};
    assert_true(run_until(f, mode_done, &ma));
    int64_t t0 = llm__now_mono_us();
    llm__sg_cooldown(a, 700);
    run_for(f, 50);
    struct slot s;
    memset(&s, 0, sizeof(s));
    int64_t again;
    llm__sg_admit(b, &s.t, llm__now_mono_us(), on_done, &s, &again);
    struct count_arg ca = {&s, 1, 1};
    assert_true(run_until(f, count_done, &ca));
    assert_int_equal(s.last, LLM__SG_ADMIT);
    assert_true(s.at_us - t0 >= 600 * 1000);
    llm__sg_free(a);
    llm__sg_free(b);
}

static void learned_limits_apply_to_members_without_configured_ones(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *a = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 0, 0);
    struct llm__sg *b = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 0, 0);
    llm__sg_learn(a, 60, -1); /* 60 per minute: 10 per learned 10 s window */
    struct slot s[12];
    memset(s, 0, sizeof(s));
    run_for(f, 100);
    int64_t again;
    for (int i = 0; i < 12; i++)
        llm__sg_admit(b, &s[i].t, llm__now_mono_us(), on_done, &s[i], &again);
    struct count_arg ca = {s, 12, 10};
    assert_true(run_until(f, count_done, &ca));
    run_for(f, 100);
    int admitted = 0;
    for (int i = 0; i < 12; i++)
        admitted += s[i].verdicts;
    assert_int_equal(admitted, 10);
    struct llm__sg_figures fig;
    llm__sg_figures(b, &fig);
    assert_int_equal(fig.rpm_limit, 10);
    llm__sg_free(a); /* b's last two are forgotten with it */
    llm__sg_free(b);
}

static void script_flushed_from_redis_is_loaded_again_after_noscript(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *sg = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 100, 0);
    struct slot s[2];
    memset(s, 0, sizeof(s));
    int64_t again;
    llm__sg_admit(sg, &s[0].t, llm__now_mono_us(), on_done, &s[0], &again);
    struct count_arg ca = {s, 1, 1};
    assert_true(run_until(f, count_done, &ca));
    assert_int_equal(test_redis_cmd(&f->redis, "SCRIPT FLUSH"), 2);
    llm__sg_admit(sg, &s[1].t, llm__now_mono_us(), on_done, &s[1], &again);
    ca.n = 2;
    ca.want = 2;
    assert_true(run_until(f, count_done, &ca));
    assert_int_equal(s[1].last, LLM__SG_ADMIT);
    assert_int_equal(s[1].t.via, LLM_ADMISSION_SHARED);
    struct llm__sg_figures fig;
    llm__sg_figures(sg, &fig);
    assert_int_equal(fig.script_loads, 2);
    assert_int_equal(fig.connects, 1); /* same connection */
    assert_int_equal(fig.replies_bad, 0);
    llm__sg_free(sg);
}

static void policy_fail_fails_fast_naming_redis_and_recovers_after_restart(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *sg = make_sg(f, f->redis.url, LLM_SHARED_FAIL_FAIL, 100, 0);
    struct mode_arg ma = {sg, LLM__SG_SHARED};
    assert_true(run_until(f, mode_done, &ma));
    test_redis_kill(&f->redis);
    ma.m = LLM__SG_FAILING;
    assert_true(run_until(f, mode_done, &ma));
    struct slot s[2];
    memset(s, 0, sizeof(s));
    int64_t again;
    assert_int_equal(llm__sg_admit(sg, &s[0].t, llm__now_mono_us(), on_done, &s[0], &again),
                     LLM__SG_FAIL);
    assert_non_null(strstr(s[0].t.fail_msg, "Redis at redis://:***@127.0.0.1:"));
    assert_null(strstr(s[0].t.fail_msg, PASSWORD));
    assert_int_equal(test_redis_restart(&f->redis), 0);
    ma.m = LLM__SG_SHARED;
    assert_true(run_until(f, mode_done, &ma));
    assert_int_equal(llm__sg_admit(sg, &s[1].t, llm__now_mono_us(), on_done, &s[1], &again),
                     LLM__SG_PENDING);
    struct count_arg ca = {&s[1], 1, 1};
    assert_true(run_until(f, count_done, &ca));
    assert_int_equal(s[1].last, LLM__SG_ADMIT);
    assert_non_null(strstr(f->logs, "mode shared -> failing"));
    assert_non_null(strstr(f->logs, "mode failing -> shared"));
    llm__sg_free(sg);
}

static void policy_local_admits_at_the_members_share_while_redis_is_down(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *a = make_sg(f, f->redis.url, LLM_SHARED_FAIL_LOCAL, 8, 0);
    struct llm__sg *b = make_sg(f, f->redis.url, LLM_SHARED_FAIL_LOCAL, 8, 0);
    /* Let both heartbeat so each has seen two members. */
    run_for(f, 1300);
    struct llm__sg_figures fig;
    llm__sg_figures(a, &fig);
    assert_int_equal(fig.members, 2);
    test_redis_kill(&f->redis);
    struct mode_arg ma = {a, LLM__SG_LOCAL};
    assert_true(run_until(f, mode_done, &ma));
    struct slot s[6];
    memset(s, 0, sizeof(s));
    int admitted = 0;
    int64_t again;
    for (int i = 0; i < 6; i++) {
        enum llm__sg_verdict v = llm__sg_admit(a, &s[i].t, llm__now_mono_us(), on_done, &s[i], &again);
        assert_true(v == LLM__SG_ADMIT || v == LLM__SG_WAIT);
        if (v == LLM__SG_ADMIT) {
            admitted++;
            assert_int_equal(s[i].t.via, LLM_ADMISSION_LOCAL_FALLBACK);
        }
    }
    assert_int_equal(admitted, 4); /* 8 / 2 members */
    llm__sg_figures(a, &fig);
    assert_int_equal(fig.admitted_local, 4);
    assert_non_null(strstr(f->logs, "mode shared -> local"));
    assert_int_equal(test_redis_restart(&f->redis), 0);
    ma.m = LLM__SG_SHARED;
    assert_true(run_until(f, mode_done, &ma));
    llm__sg_free(a);
    llm__sg_free(b);
}

static void policy_wait_holds_admissions_until_redis_returns(void **state)
{
    NEED_REDIS(f);
    struct llm__sg *sg = make_sg(f, f->redis.url, LLM_SHARED_FAIL_WAIT, 100, 0);
    struct mode_arg ma = {sg, LLM__SG_SHARED};
    assert_true(run_until(f, mode_done, &ma));
    test_redis_kill(&f->redis);
    ma.m = LLM__SG_WAITING;
    assert_true(run_until(f, mode_done, &ma));
    struct slot s[3];
    memset(s, 0, sizeof(s));
    int64_t again;
    for (int i = 0; i < 3; i++)
        assert_int_equal(llm__sg_admit(sg, &s[i].t, llm__now_mono_us(), on_done, &s[i], &again),
                         LLM__SG_PENDING);
    run_for(f, 300);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s[i].verdicts, 0);
    llm__sg_cancel(sg, &s[1].t); /* a deadline passing meanwhile */
    assert_int_equal(test_redis_restart(&f->redis), 0);
    struct count_arg ca = {s, 3, 2};
    assert_true(run_until(f, count_done, &ca));
    assert_int_equal(s[0].last, LLM__SG_ADMIT);
    assert_int_equal(s[1].verdicts, 0);
    assert_int_equal(s[2].last, LLM__SG_ADMIT);
    assert_int_equal(s[2].t.via, LLM_ADMISSION_SHARED);
    llm__sg_free(sg);
}

static void redis_absent_at_start_applies_the_policy_to_queued_admissions(void **state)
{
    NEED_REDIS(f);
    char url[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", f->redis.port);
    test_redis_kill(&f->redis);
    struct llm__sg *sg = make_sg(f, url, LLM_SHARED_FAIL_LOCAL, 3, 0);
    struct slot s;
    memset(&s, 0, sizeof(s));
    int64_t again;
    assert_int_equal(llm__sg_admit(sg, &s.t, llm__now_mono_us(), on_done, &s, &again),
                     LLM__SG_PENDING);
    struct count_arg ca = {&s, 1, 1};
    assert_true(run_until(f, count_done, &ca));
    assert_int_equal(s.last, LLM__SG_RETRY);
    /* Asked again: the local gate at the whole limit (no member seen). */
    assert_int_equal(llm__sg_admit(sg, &s.t, llm__now_mono_us(), on_done, &s, &again),
                     LLM__SG_ADMIT);
    assert_int_equal(s.t.via, LLM_ADMISSION_LOCAL_FALLBACK);
    assert_non_null(strstr(f->logs, "cannot connect"));
    llm__sg_free(sg);
}

static void wrong_password_is_a_clear_error_naming_redis_not_the_password(void **state)
{
    NEED_REDIS(f);
    char url[128];
    snprintf(url, sizeof(url), "redis://:wrong-%s@127.0.0.1:%d", PASSWORD, f->redis.port);
    struct llm__sg *sg = make_sg(f, url, LLM_SHARED_FAIL_FAIL, 3, 0);
    struct slot s;
    memset(&s, 0, sizeof(s));
    int64_t again;
    llm__sg_admit(sg, &s.t, llm__now_mono_us(), on_done, &s, &again);
    struct count_arg ca = {&s, 1, 1};
    assert_true(run_until(f, count_done, &ca));
    assert_int_equal(s.last, LLM__SG_FAIL);
    assert_non_null(strstr(s.t.fail_msg, "Redis"));
    assert_non_null(strstr(s.t.fail_msg, "AUTH failed"));
    assert_null(strstr(s.t.fail_msg, PASSWORD));
    assert_null(strstr(s.t.fail_msg, "wrong-"));
    assert_null(strstr(f->logs, "wrong-"));
    llm__sg_free(sg);
}

/* ---- a hostile server ---------------------------------------------------- */

struct fake {
    int lfd;
    int port;
    const char *after_load; /* what to answer to the call */
    pthread_t th;
};

static void *fake_main(void *p)
{
    struct fake *fk = p;
    int c = accept(fk->lfd, NULL, NULL);
    if (c < 0)
        return NULL;
    char buf[65536];
    int n_read = 0;
    for (;;) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0)
            break;
        const char *ans = n_read++ == 0 ? "$40\r\n0123456789abcdef0123456789abcdef01234567\r\n"
                                        : fk->after_load;
        if (write(c, ans, strlen(ans)) < 0)
            break;
    }
    close(c);
    return NULL;
}

static void garbage_replies_are_errors_not_crashes(void **state)
{
    NEED_REDIS(f);
    const char *garbage[] = {
        "+OK\r\n",
        "*2\r\n:1\r\n:2\r\n",
        "*9\r\n:1\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n$3\r\nabc\r\n:0\r\n",
        "*9\r\n:5\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:1\r\n:0\r\n", /* admits more than asked */
        "*9\r\n:1\r\n:0\r\n:-7\r\n:0\r\n:0\r\n:0\r\n:0\r\n:1\r\n:0\r\n",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
    };
    for (size_t g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++) {
        struct fake fk = {.after_load = garbage[g]};
        fk.lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        assert_int_equal(bind(fk.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fk.lfd, 4), 0);
        assert_int_equal(getsockname(fk.lfd, (struct sockaddr *)&a, &len), 0);
        fk.port = ntohs(a.sin_port);
        assert_int_equal(pthread_create(&fk.th, NULL, fake_main, &fk), 0);
        char url[64];
        snprintf(url, sizeof(url), "redis://127.0.0.1:%d", fk.port);
        struct llm__sg *sg = make_sg(f, url, LLM_SHARED_FAIL_FAIL, 3, 0);
        struct slot s;
        memset(&s, 0, sizeof(s));
        int64_t again;
        llm__sg_admit(sg, &s.t, llm__now_mono_us(), on_done, &s, &again);
        struct count_arg ca = {&s, 1, 1};
        assert_true(run_until(f, count_done, &ca));
        assert_int_equal(s.last, LLM__SG_FAIL);
        struct llm__sg_figures fig;
        llm__sg_figures(sg, &fig);
        assert_true(fig.replies_bad >= 1);
        assert_int_equal(fig.admitted_shared, 0);
        llm__sg_free(sg);
        shutdown(fk.lfd, SHUT_RDWR);
        close(fk.lfd);
        pthread_join(fk.th, NULL);
    }
}

int main(void)
{
    /* A write to a Redis that was just killed must not kill the test (the
     * engine blocks SIGPIPE in its own thread; here the loop is ours). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            shared_window_admits_exactly_the_limit_then_the_rest_later_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(two_members_share_one_window_and_count_each_other, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_refund_frees_capacity_for_every_member, setup, teardown),
        cmocka_unit_test_setup_teardown(one_members_cooldown_pauses_the_other, setup, teardown),
        cmocka_unit_test_setup_teardown(learned_limits_apply_to_members_without_configured_ones,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(script_flushed_from_redis_is_loaded_again_after_noscript,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            policy_fail_fails_fast_naming_redis_and_recovers_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(
            policy_local_admits_at_the_members_share_while_redis_is_down, setup, teardown),
        cmocka_unit_test_setup_teardown(policy_wait_holds_admissions_until_redis_returns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            redis_absent_at_start_applies_the_policy_to_queued_admissions, setup, teardown),
        cmocka_unit_test_setup_teardown(
            wrong_password_is_a_clear_error_naming_redis_not_the_password, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_replies_are_errors_not_crashes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
