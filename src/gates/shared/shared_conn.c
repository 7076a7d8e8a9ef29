/* The shared gate's connection to Redis and its failure policy.
 *
 * Connection life: connect, then AUTH / SELECT / SCRIPT LOAD pipelined
 * (one round trip); "ready" when the script's SHA arrives.  Anything wrong
 * (refused, closed, an error or garbage reply, a call slower than
 * timeout_ms) drops the connection, applies the failure policy and
 * reconnects after a backoff (100 ms doubling to 2 s).
 *
 * Callbacks of a context hiredis is freeing arrive with a NULL reply; each
 * one first checks that its context is still the current one (ac_cur), so
 * a stale one does nothing. */
#include "gates/shared/shared_internal.h"

#include "base/clock.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- modes and the failure policy ----------------------------------------- */

static int64_t share(int64_t limit, int64_t members)
{
    if (limit <= 0)
        return 0;
    int64_t s = limit / (members > 1 ? members : 1);
    return s < 1 ? 1 : s;
}

/* Local gates at this member's share of the last limits seen. */
static void local_gates_prepare(struct llm__sg *sg)
{
    int64_t members = sg->have_last ? sg->last.members : 1;
    int64_t rl = sg->cfg_rpm_limit, rw = sg->cfg_rpm_window;
    int64_t tl = sg->cfg_tpm_limit, tw = sg->cfg_tpm_window;
    /* Learned limits' windows as the script makes them. */
    int64_t lw = sg->learned_window_ms;
    lw += (lw / 100 > 20 ? lw / 100 : 20) + LLM__SHARED_SKEW_MS;
    if (rl <= 0 && sg->have_last && sg->last.rpm_limit > 0) {
        rl = sg->last.rpm_limit;
        rw = lw;
    }
    if (tl <= 0 && sg->have_last && sg->last.tpm_limit > 0) {
        tl = sg->last.tpm_limit;
        tw = lw;
    }
    /* What the shared window held when last seen, this member's share of
     * it: debited now, so that the local gates do not admit on top of the
     * requests still inside the server's window (conservative: it ages out
     * a little later than the real entries). */
    int64_t held[2] = {sg->have_last ? sg->last.rpm_used : 0, sg->have_last ? sg->last.tpm_used : 0};
    struct { struct llm_gate **g; const char *name; int64_t lim, win; } gs[2] = {
        {&sg->local_rpm, "rpm", share(rl, members), rw},
        {&sg->local_tpm, "tpm", share(tl, members), tw}};
    int64_t now_ms = llm__now_mono_us() / 1000;
    for (int i = 0; i < 2; i++) {
        if (gs[i].lim <= 0)
            continue;
        if (*gs[i].g) {
            llm_gate_set_limit(*gs[i].g, gs[i].lim, gs[i].win);
        } else {
            struct llm_window_gate_options go = {.name = gs[i].name, .limit = gs[i].lim,
                                                 .window_ms = gs[i].win};
            (void)llm_gate_new_sliding_window(&go, gs[i].g);
        }
        int64_t mine = (held[i] + members - 1) / (members > 1 ? members : 1), tk;
        if (*gs[i].g && mine > 0)
            (void)llm_gate_try_acquire(*gs[i].g, now_ms, mine, &tk);
    }
    llm__sg_log(sg, LLM_LOG_WARN, "admitting on local gates at this member's share (%" PRId64
         " of %" PRId64 " members): rpm %" PRId64 ", tpm %" PRId64 " per window",
         (int64_t)1, members, share(rl, members), share(tl, members));
}

static void set_mode(struct llm__sg *sg, enum llm__sg_mode m)
{
    if (sg->mode == m)
        return;
    enum llm__sg_mode old = sg->mode;
    sg->mode = m;
    if (m == LLM__SG_SHARED)
        llm__sg_log(sg, LLM_LOG_WARN, "mode %s -> shared: Redis answers, shared gates in force",
             llm__sg_mode_name(old));
    else
        llm__sg_log(sg, m == LLM__SG_CONNECTING ? LLM_LOG_INFO : LLM_LOG_WARN,
             "mode %s -> %s: %s", llm__sg_mode_name(old), llm__sg_mode_name(m),
             sg->why_down[0] ? sg->why_down : "connecting");
    if (m == LLM__SG_LOCAL)
        local_gates_prepare(sg);
}

void llm__sg_fail_msg(struct llm__sg *sg, struct llm__sg_ticket *t)
{
    int n = snprintf(sg->fail_msg, sizeof(sg->fail_msg), "shared limiter unavailable: Redis at %s: %s",
                     sg->url.redacted, sg->why_down[0] ? sg->why_down : "not connected");
    (void)n; /* truncation of a long URL is acceptable */
    t->fail_msg = sg->fail_msg;
}

/* Redis is unreachable: apply the policy to everything queued. */
static void apply_policy(struct llm__sg *sg)
{
    enum llm__sg_mode m = sg->fail == LLM_SHARED_FAIL_WAIT ? LLM__SG_WAITING
                        : sg->fail == LLM_SHARED_FAIL_FAIL ? LLM__SG_FAILING
                                                           : LLM__SG_LOCAL;
    set_mode(sg, m);
    if (m == LLM__SG_WAITING)
        return; /* held until Redis is back or their deadline */
    /* Hand every queued ticket back, each popped before its callback (which
     * may admit, cancel or free other tickets).  Last first: an owner that
     * pushes each back to the front of its own FIFO keeps the order. */
    while (sg->q_tail) {
        struct llm__sg_ticket *t = sg->q_tail;
        llm__sg_q_unlink(sg, t);
        t->queued = false;
        if (m == LLM__SG_FAILING) {
            llm__sg_fail_msg(sg, t);
            sg->failed++;
            t->cb(t->user, t, LLM__SG_FAIL);
        } else {
            t->cb(t->user, t, LLM__SG_RETRY);
        }
    }
}

static void on_reconnect_timer(struct llm__timer *tm, void *user);

/* The connection is gone (or must go).  `free_ctx`: we drop it ourselves
 * (not when hiredis is already freeing it). */
void llm__sg_conn_lost(struct llm__sg *sg, bool free_ctx, const char *fmt, ...)
{
    redisAsyncContext *ac = sg->ac_cur;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sg->why_down, sizeof(sg->why_down), fmt, ap);
    va_end(ap);
    llm__sg_scrub(sg, sg->why_down);
    sg->replies_bad++;
    sg->ac_cur = NULL;
    sg->ready = false;
    llm__sg_call_abandon(sg);
    llm__timer_stop(sg->loop, &sg->deadline_timer);
    llm__timer_stop(sg->loop, &sg->kick_timer);
    if (free_ctx && ac)
        redisAsyncFree(ac); /* deferred by hiredis when inside its callback */
    if (!sg->freeing) {
        int64_t b = sg->backoff_ms ? sg->backoff_ms : BACKOFF_MIN_MS;
        sg->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
        if (llm__timer_start(sg->loop, &sg->reconnect_timer, llm__now_mono_us() + b * 1000,
                             on_reconnect_timer, sg) != 0)
            llm__sg_log(sg, LLM_LOG_ERROR, "out of memory arming the reconnect timer");
        apply_policy(sg);
    }
}

void llm__sg_on_deadline(struct llm__timer *tm, void *user)
{
    struct llm__sg *sg = user;
    llm__sg_conn_lost(sg, true, "no answer within %" PRId64 " ms", sg->timeout_ms);
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *privdata);

void llm__sg_script_load(struct llm__sg *sg, void *privdata)
{
    (void)redisAsyncCommand(sg->ac_cur, on_script_loaded, privdata, "SCRIPT LOAD %s",
                            llm__shared_script);
}

/* ---- connecting ------------------------------------------------------------ */

static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct llm__sg *sg = ac->data;
    if (!sg || sg->freeing || sg->ac_cur != ac)
        return;
    redisReply *r = reply;
    const char *what = privdata;
    if (!r) {
        llm__sg_conn_lost(sg, false, "connection lost during %s", what);
        return;
    }
    if (r->type != REDIS_REPLY_STATUS) {
        char text[128] = "unexpected reply";
        if (r->type == REDIS_REPLY_ERROR && r->str) {
            size_t n = r->len < sizeof(text) - 1 ? r->len : sizeof(text) - 1;
            memcpy(text, r->str, n);
            text[n] = '\0';
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)text[i] < 0x20)
                    text[i] = '?';
        }
        llm__sg_conn_lost(sg, true, "%s failed: %s", what, text);
    }
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct llm__sg *sg = ac->data;
    if (!sg || sg->freeing || sg->ac_cur != ac)
        return;
    redisReply *r = reply;
    if (!r) {
        llm__sg_conn_lost(sg, false, "connection lost while loading the script");
        return;
    }
    if (r->type != REDIS_REPLY_STRING || r->len != 40 || strspn(r->str, "0123456789abcdef") != 40) {
        char text[128] = "unexpected reply";
        if (r->type == REDIS_REPLY_ERROR && r->str)
            snprintf(text, sizeof(text), "%.*s", (int)(r->len < 120 ? r->len : 120), r->str);
        for (char *p = text; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        llm__sg_conn_lost(sg, true, "SCRIPT LOAD failed: %s", text);
        return;
    }
    memcpy(sg->sha, r->str, 40);
    sg->sha[40] = '\0';
    sg->script_loads++;
    if (sg->ready)
        return; /* a reload after NOSCRIPT: the call rides behind it */
    sg->ready = true;
    sg->connects++;
    sg->why_down[0] = '\0';
    llm__timer_stop(sg->loop, &sg->deadline_timer);
    set_mode(sg, LLM__SG_SHARED);
    /* Tickets admitted locally meanwhile keep their local debit; queued
     * ones (policy wait, or the first connection) go out now. */
    llm__sg_schedule(sg);
    if (!sg->q_head)
        llm__sg_kick_at(sg, llm__now_mono_us()); /* a first heartbeat: the member count */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct llm__sg *sg = ac->data;
    if (!sg || sg->freeing || sg->ac_cur != ac || status == REDIS_OK)
        return;
    /* hiredis frees the context right after this. */
    llm__sg_conn_lost(sg, false, "cannot connect: %s", ac->errstr[0] ? ac->errstr : "error");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct llm__sg *sg = ac->data;
    if (!sg || sg->freeing || sg->ac_cur != ac)
        return;
    llm__sg_conn_lost(sg, false, "connection closed%s%s", ac->errstr[0] ? ": " : "", ac->errstr);
}

void llm__sg_connect(struct llm__sg *sg)
{
    if (sg->ev.ac) {
        /* The old context is still being torn down: try again shortly. */
        llm__timer_start(sg->loop, &sg->reconnect_timer, llm__now_mono_us() + 10000,
                         on_reconnect_timer, sg);
        return;
    }
    redisAsyncContext *ac = sg->url.path ? redisAsyncConnectUnix(sg->url.path)
                                         : redisAsyncConnect(sg->url.host, sg->url.port);
    if (!ac) {
        llm__sg_conn_lost(sg, false, "out of memory connecting");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        llm__sg_conn_lost(sg, false, "cannot connect: %s", why);
        return;
    }
    if (llm__redis_attach(&sg->ev, sg->loop, ac) != 0) {
        redisAsyncFree(ac);
        llm__sg_conn_lost(sg, false, "cannot watch the connection");
        return;
    }
    ac->data = sg;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    sg->ac_cur = ac;
    int rc = REDIS_OK;
    if (sg->url.password) {
        if (sg->url.user)
            rc = redisAsyncCommand(ac, on_handshake, (void *)"AUTH", "AUTH %s %s", sg->url.user,
                                   sg->url.password);
        else
            rc = redisAsyncCommand(ac, on_handshake, (void *)"AUTH", "AUTH %s", sg->url.password);
    }
    if (rc == REDIS_OK && sg->url.db > 0)
        rc = redisAsyncCommand(ac, on_handshake, (void *)"SELECT", "SELECT %d", sg->url.db);
    if (rc == REDIS_OK) {
        rc = redisAsyncCommand(ac, on_script_loaded, NULL, "SCRIPT LOAD %s", llm__shared_script);
    }
    if (rc != REDIS_OK) {
        llm__sg_conn_lost(sg, true, "cannot send the handshake");
        return;
    }
    llm__timer_start(sg->loop, &sg->deadline_timer, llm__now_mono_us() + sg->timeout_ms * 1000,
                     llm__sg_on_deadline, sg);
}

static void on_reconnect_timer(struct llm__timer *tm, void *user)
{
    llm__sg_connect(user);
}
