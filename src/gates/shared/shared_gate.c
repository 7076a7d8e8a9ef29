/* The shared gate: admission through Redis, asynchronously, on the loop.
 *
 * One script call at a time carries everything this member has to say
 * (see redis_script.c): while it is in flight, new admissions, settlements
 * and cooldowns queue up and ride in the next one, so many waiting requests
 * cost one round trip, not one each.  Calls are sent from a timer, never
 * from inside llm__sg_admit(), so an admission's callback is always
 * asynchronous and a connection that breaks while sending cannot call back
 * into the caller's admit.
 *
 * Connection life: connect, then AUTH / SELECT / SCRIPT LOAD pipelined
 * (one round trip); "ready" when the script's SHA arrives.  Anything wrong
 * (refused, closed, an error or garbage reply, a call slower than
 * timeout_ms) drops the connection, applies the failure policy and
 * reconnects after a backoff (100 ms doubling to 2 s).  NOSCRIPT (Redis
 * restarted or SCRIPT FLUSH) reloads the script and resends the call.
 *
 * Callbacks of a context hiredis is freeing arrive with a NULL reply; each
 * one first checks that its context is still the current one (ac_cur), so
 * a stale one does nothing but free its own memory. */
#include "gates/shared/shared.h"

#include "base/clock.h"
#include "base/util.h"
#include "base/loop.h"
#include "llmorch/ext/gate.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256         /* admissions per call */
#define MAX_ADJ 1024          /* adjustments per call */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define ADJ_COALESCE_US 2000  /* settlements wait this long for company */
#define NARGS_FIXED (3 + LLM__SHARED_NKEYS + 13)

static const char *const key_suffix[LLM__SHARED_NKEYS] = {
    "rpm:z", "rpm:h", "rpm:s", "tpm:z", "tpm:h", "tpm:s", "cooldown", "learned", "members", "clock"};

struct adj {
    int64_t seq, rpm, tpm;
};

struct call_adm {
    struct llm__sg_ticket *t; /* NULL once cancelled */
    int64_t seq, tpm;
};

struct llm__sg_call {
    struct llm__sg *sg;
    redisAsyncContext *ac;    /* the context it was sent on */
    struct call_adm *adm;
    size_t n_adm;
    size_t n_adj;
    int argc;
    char **argv;
    size_t *argvlen;
    char *strbuf;
    bool reloaded;            /* sent again once after NOSCRIPT */
};

struct llm__sg {
    struct llm__loop *loop;
    struct llm__redis_url url;
    char *quota;
    char member[40];
    char keys[LLM__SHARED_NKEYS][96];
    enum llm_shared_fail fail;
    int64_t cfg_rpm_limit, cfg_rpm_window, cfg_tpm_limit, cfg_tpm_window;
    int64_t learned_window_ms;
    int64_t timeout_ms;
    int64_t ttl_ms;
    llm_log_fn *log;
    void *log_user;
    enum llm_log_level log_level;

    /* Connection. */
    struct llm__redis_events ev;
    redisAsyncContext *ac_cur;  /* the live context, NULL when down */
    bool ready;                 /* authenticated, script loaded */
    char sha[41];
    int64_t backoff_ms;
    bool freeing;
    struct llm__timer reconnect_timer;
    struct llm__timer deadline_timer; /* handshake or call in flight */
    struct llm__timer kick_timer;     /* next call */
    enum llm__sg_mode mode;
    char why_down[200];

    /* Work. */
    struct llm__sg_ticket *q_head, *q_tail;
    size_t q_len;
    struct llm__sg_call *call;  /* in flight */
    struct adj *adj;
    size_t n_adj, cap_adj;
    int64_t adj_since_us;
    int64_t cooldown_ms;        /* to send; -1 none */
    int64_t learn_rpm, learn_tpm, sent_rpm, sent_tpm;
    int64_t wait_until_us;      /* Redis said: nothing fits before */
    int64_t last_call_us;
    int64_t next_seq;

    /* Last seen. */
    struct llm__shared_reply last;
    bool have_last;

    /* Fallback (policy local). */
    struct llm_gate *local_rpm, *local_tpm;

    /* Figures. */
    uint64_t commands, replies_bad, connects, script_loads;
    uint64_t admitted_shared, admitted_local, failed;
};

const char *llm__sg_mode_name(enum llm__sg_mode m)
{
    switch (m) {
    case LLM__SG_CONNECTING: return "connecting";
    case LLM__SG_SHARED: return "shared";
    case LLM__SG_LOCAL: return "local";
    case LLM__SG_WAITING: return "waiting";
    case LLM__SG_FAILING: return "failing";
    }
    return "unknown";
}

static void slog(struct llm__sg *sg, enum llm_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slog(struct llm__sg *sg, enum llm_log_level lvl, const char *fmt, ...)
{
    if (!sg->log || lvl > sg->log_level)
        return;
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "shared limiter (quota \"%s\", Redis %s): ", sg->quota,
                     sg->url.redacted);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(msg))
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    sg->log(sg->log_user, lvl, msg);
}

/* Server text we quote (error replies) with the password blanked, should a
 * server ever echo it back. */
static void scrub(const struct llm__sg *sg, char *text)
{
    const char *pw = sg->url.password;
    size_t n = pw ? strlen(pw) : 0;
    if (n < 1)
        return;
    for (char *p = strstr(text, pw); p; p = strstr(p, pw))
        memset(p, '*', n);
}

/* ---- queue ------------------------------------------------------------------ */

static void q_unlink(struct llm__sg *sg, struct llm__sg_ticket *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        sg->q_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        sg->q_tail = t->prev;
    t->prev = t->next = NULL;
    sg->q_len--;
}

static void q_push(struct llm__sg *sg, struct llm__sg_ticket *t, bool front)
{
    if (front) {
        t->prev = NULL;
        t->next = sg->q_head;
        if (sg->q_head)
            sg->q_head->prev = t;
        else
            sg->q_tail = t;
        sg->q_head = t;
    } else {
        t->next = NULL;
        t->prev = sg->q_tail;
        if (sg->q_tail)
            sg->q_tail->next = t;
        else
            sg->q_head = t;
        sg->q_tail = t;
    }
    sg->q_len++;
}

static void call_free(struct llm__sg_call *c)
{
    if (!c)
        return;
    free(c->adm);
    free(c->argv);
    free(c->argvlen);
    free(c->strbuf);
    free(c);
}

/* The call in flight is abandoned: its admissions go back to the front of
 * the queue, in order (as far as we know Redis admitted none of them; if it
 * did and the reply was lost, the debit stays: conservative). */
static void call_abandon(struct llm__sg *sg)
{
    struct llm__sg_call *c = sg->call;
    if (!c)
        return;
    sg->call = NULL;
    for (size_t i = c->n_adm; i-- > 0;) {
        struct llm__sg_ticket *t = c->adm[i].t;
        if (!t)
            continue;
        t->call = NULL;
        q_push(sg, t, true);
    }
    c->n_adm = 0;
    c->sg = NULL; /* its callback, when hiredis runs it, only frees it */
    llm__timer_stop(sg->loop, &sg->deadline_timer);
}

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
    slog(sg, LLM_LOG_WARN, "admitting on local gates at this member's share (%" PRId64
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
        slog(sg, LLM_LOG_WARN, "mode %s -> shared: Redis answers, shared gates in force",
             llm__sg_mode_name(old));
    else
        slog(sg, m == LLM__SG_CONNECTING ? LLM_LOG_INFO : LLM_LOG_WARN,
             "mode %s -> %s: %s", llm__sg_mode_name(old), llm__sg_mode_name(m),
             sg->why_down[0] ? sg->why_down : "connecting");
    if (m == LLM__SG_LOCAL)
        local_gates_prepare(sg);
}

static void fail_msg(struct llm__sg *sg, struct llm__sg_ticket *t)
{
    int n = snprintf(t->fail_msg, sizeof(t->fail_msg), "shared limiter unavailable: Redis at %s: %s",
                     sg->url.redacted, sg->why_down[0] ? sg->why_down : "not connected");
    (void)n; /* truncation of a long URL is acceptable */
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
        q_unlink(sg, t);
        t->queued = false;
        if (m == LLM__SG_FAILING) {
            fail_msg(sg, t);
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
static void conn_lost(struct llm__sg *sg, bool free_ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_lost(struct llm__sg *sg, bool free_ctx, const char *fmt, ...)
{
    redisAsyncContext *ac = sg->ac_cur;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sg->why_down, sizeof(sg->why_down), fmt, ap);
    va_end(ap);
    scrub(sg, sg->why_down);
    sg->replies_bad++;
    sg->ac_cur = NULL;
    sg->ready = false;
    call_abandon(sg);
    llm__timer_stop(sg->loop, &sg->deadline_timer);
    llm__timer_stop(sg->loop, &sg->kick_timer);
    if (free_ctx && ac)
        redisAsyncFree(ac); /* deferred by hiredis when inside its callback */
    if (!sg->freeing) {
        int64_t b = sg->backoff_ms ? sg->backoff_ms : BACKOFF_MIN_MS;
        sg->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
        if (llm__timer_start(sg->loop, &sg->reconnect_timer, llm__now_mono_us() + b * 1000,
                             on_reconnect_timer, sg) != 0)
            slog(sg, LLM_LOG_ERROR, "out of memory arming the reconnect timer");
        apply_policy(sg);
    }
}

/* ---- calls ------------------------------------------------------------------- */

static void on_kick(struct llm__timer *tm, void *user);

static void kick_at(struct llm__sg *sg, int64_t due_us)
{
    if (llm__timer_armed(&sg->kick_timer) && sg->kick_timer.due_us <= due_us)
        return;
    if (llm__timer_start(sg->loop, &sg->kick_timer, due_us, on_kick, sg) != 0)
        slog(sg, LLM_LOG_ERROR, "out of memory arming a timer");
}

/* When the next call should go, if at all. */
static void schedule(struct llm__sg *sg)
{
    if (!sg->ready || sg->call || sg->freeing)
        return;
    int64_t now = llm__now_mono_us();
    int64_t due = sg->last_call_us + sg->ttl_ms * 1000 / 3; /* heartbeat */
    if (sg->q_head)
        due = sg->wait_until_us > now ? sg->wait_until_us : now;
    if (sg->cooldown_ms >= 0 || sg->learn_rpm > 0 || sg->learn_tpm > 0)
        due = now;
    if (sg->n_adj > 0 && sg->adj_since_us + ADJ_COALESCE_US < due)
        due = sg->adj_since_us + ADJ_COALESCE_US;
    kick_at(sg, due < now ? now : due);
}

static void on_call_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_deadline(struct llm__timer *tm, void *user);

static int send_argv(struct llm__sg *sg, struct llm__sg_call *c)
{
    c->ac = sg->ac_cur;
    if (redisAsyncCommandArgv(sg->ac_cur, on_call_reply, c, c->argc, (const char **)c->argv,
                              c->argvlen) != REDIS_OK)
        return -1;
    sg->commands++;
    sg->last_call_us = llm__now_mono_us();
    llm__timer_start(sg->loop, &sg->deadline_timer, sg->last_call_us + sg->timeout_ms * 1000,
                     on_deadline, sg);
    return 0;
}

/* Build the call from what is queued and send it. */
static void send_call(struct llm__sg *sg)
{
    size_t n_adm = sg->q_len < MAX_BATCH ? sg->q_len : MAX_BATCH;
    int64_t now = llm__now_mono_us();
    if (sg->wait_until_us > now)
        n_adm = 0; /* nothing fits yet; this call only tells */
    size_t n_adj = sg->n_adj < MAX_ADJ ? sg->n_adj : MAX_ADJ;
    struct llm__sg_call *c = calloc(1, sizeof(*c));
    size_t argc = NARGS_FIXED + 3 * n_adj + 2 * n_adm;
    if (!c || !(c->argv = calloc(argc, sizeof(char *))) ||
        !(c->argvlen = calloc(argc, sizeof(size_t))) || !(c->strbuf = malloc(argc * 24)) ||
        (n_adm && !(c->adm = calloc(n_adm, sizeof(*c->adm))))) {
        call_free(c);
        slog(sg, LLM_LOG_ERROR, "out of memory building a call; retrying");
        kick_at(sg, now + 10000);
        return;
    }
    c->sg = sg;
    char *sb = c->strbuf;
    int k = 0;
#define ARG_STR(s) (c->argv[k] = (char *)(s), c->argvlen[k] = strlen(s), k++)
#define ARG_NUM(v)                                                                             \
    (c->argv[k] = sb, c->argvlen[k] = (size_t)snprintf(sb, 24, "%" PRId64, (int64_t)(v)),      \
     sb += 24, k++)
    ARG_STR("EVALSHA");
    ARG_STR(sg->sha);
    ARG_NUM(LLM__SHARED_NKEYS);
    for (int i = 0; i < LLM__SHARED_NKEYS; i++)
        ARG_STR(sg->keys[i]);
    ARG_STR(sg->member);
    ARG_NUM(sg->cfg_rpm_limit);
    ARG_NUM(sg->cfg_rpm_window);
    ARG_NUM(sg->cfg_tpm_limit);
    ARG_NUM(sg->cfg_tpm_window);
    ARG_NUM(sg->learned_window_ms);
    ARG_NUM(sg->ttl_ms);
    ARG_NUM(sg->cooldown_ms);
    ARG_NUM(sg->learn_rpm > 0 ? sg->learn_rpm : -1);
    ARG_NUM(sg->learn_tpm > 0 ? sg->learn_tpm : -1);
    ARG_NUM(n_adj);
    ARG_NUM(n_adm);
    ARG_NUM(LLM__SHARED_SKEW_MS);
    for (size_t i = 0; i < n_adj; i++) {
        ARG_NUM(sg->adj[i].seq);
        ARG_NUM(sg->adj[i].rpm);
        ARG_NUM(sg->adj[i].tpm);
    }
    for (size_t i = 0; i < n_adm; i++) {
        struct llm__sg_ticket *t = sg->q_head;
        q_unlink(sg, t);
        t->seq = ++sg->next_seq;
        t->call = c;
        t->call_idx = i;
        c->adm[i] = (struct call_adm){.t = t, .seq = t->seq, .tpm = t->tpm_amount};
        ARG_NUM(t->seq);
        ARG_NUM(t->tpm_amount);
    }
#undef ARG_STR
#undef ARG_NUM
    c->argc = k;
    c->n_adm = n_adm;
    c->n_adj = n_adj;
    /* What rides in this call is no longer pending. */
    if (n_adj > 0) {
        memmove(sg->adj, sg->adj + n_adj, (sg->n_adj - n_adj) * sizeof(*sg->adj));
        sg->n_adj -= n_adj;
    }
    sg->adj_since_us = now;
    sg->cooldown_ms = -1;
    if (sg->learn_rpm > 0)
        sg->sent_rpm = sg->learn_rpm;
    if (sg->learn_tpm > 0)
        sg->sent_tpm = sg->learn_tpm;
    sg->learn_rpm = sg->learn_tpm = 0;
    sg->call = c;
    if (send_argv(sg, c) != 0) {
        /* hiredis refuses commands on a context going down. */
        conn_lost(sg, true, "could not send a command");
    }
}

static void on_kick(struct llm__timer *tm, void *user)
{
    struct llm__sg *sg = user;
    if (!sg->ready || sg->call)
        return;
    send_call(sg);
}

static void on_deadline(struct llm__timer *tm, void *user)
{
    struct llm__sg *sg = user;
    conn_lost(sg, true, "no answer within %" PRId64 " ms", sg->timeout_ms);
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *privdata);

static void request_script_load(struct llm__sg *sg, void *privdata)
{
    (void)redisAsyncCommand(sg->ac_cur, on_script_loaded, privdata, "SCRIPT LOAD %s",
                            llm__shared_script);
}

static void add_adj(struct llm__sg *sg, int64_t seq, int64_t rpm, int64_t tpm)
{
    if (sg->n_adj == sg->cap_adj) {
        size_t cap = sg->cap_adj ? sg->cap_adj * 2 : 64;
        struct adj *a = cap <= SIZE_MAX / sizeof(*a) ? realloc(sg->adj, cap * sizeof(*a)) : NULL;
        if (!a)
            return; /* dropped: the entry ages out anyway */
        sg->adj = a;
        sg->cap_adj = cap;
    }
    if (sg->n_adj == 0)
        sg->adj_since_us = llm__now_mono_us();
    sg->adj[sg->n_adj++] = (struct adj){seq, rpm, tpm};
}

static void on_call_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct llm__sg_call *c = privdata;
    struct llm__sg *sg = c->sg;
    if (!sg || sg->call != c || sg->ac_cur != ac || sg->freeing) {
        call_free(c);
        return;
    }
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        !c->reloaded) {
        /* Redis lost the script (restart, SCRIPT FLUSH): load it again and
         * resend this very call behind it (same connection, so in order). */
        c->reloaded = true;
        slog(sg, LLM_LOG_INFO, "script missing (NOSCRIPT): loading it again");
        request_script_load(sg, NULL);
        if (send_argv(sg, c) != 0)
            conn_lost(sg, true, "could not resend a command");
        return;
    }
    struct llm__shared_reply rep;
    char why[192];
    if (llm__shared_reply_read(r, (int64_t)c->n_adm, &rep, why, sizeof(why)) != 0) {
        bool gone = r == NULL;
        if (!gone)
            sg->call = c; /* conn_lost abandons it: tickets back to the queue */
        conn_lost(sg, !gone, "%s", why);
        call_free(c);
        return;
    }
    sg->call = NULL;
    llm__timer_stop(sg->loop, &sg->deadline_timer);
    sg->backoff_ms = 0;
    sg->last = rep;
    sg->have_last = true;
    int64_t now = llm__now_mono_us();
    sg->wait_until_us = rep.admitted < (int64_t)c->n_adm ? now + rep.wait_ms * 1000 : 0;
    /* Not admitted: back to the front, in order. */
    for (size_t i = c->n_adm; i-- > (size_t)rep.admitted;) {
        struct llm__sg_ticket *t = c->adm[i].t;
        if (t) {
            t->call = NULL;
            q_push(sg, t, true);
        }
    }
    /* Admitted: tell their owners, in order.  A ticket cancelled meanwhile
     * got a debit it will not use: refund it. */
    for (size_t i = 0; i < (size_t)rep.admitted; i++) {
        struct llm__sg_ticket *t = c->adm[i].t;
        if (!t) {
            add_adj(sg, c->adm[i].seq, 0, 0);
            continue;
        }
        t->call = NULL;
        t->queued = false;
        t->via = LLM_ADMISSION_SHARED;
        sg->admitted_shared++;
        c->adm[i].t = NULL;
        t->cb(t->user, t, LLM__SG_ADMIT);
    }
    call_free(c);
    schedule(sg);
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
        conn_lost(sg, false, "connection lost during %s", what);
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
        conn_lost(sg, true, "%s failed: %s", what, text);
    }
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct llm__sg *sg = ac->data;
    if (!sg || sg->freeing || sg->ac_cur != ac)
        return;
    redisReply *r = reply;
    if (!r) {
        conn_lost(sg, false, "connection lost while loading the script");
        return;
    }
    if (r->type != REDIS_REPLY_STRING || r->len != 40 || strspn(r->str, "0123456789abcdef") != 40) {
        char text[128] = "unexpected reply";
        if (r->type == REDIS_REPLY_ERROR && r->str)
            snprintf(text, sizeof(text), "%.*s", (int)(r->len < 120 ? r->len : 120), r->str);
        for (char *p = text; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        conn_lost(sg, true, "SCRIPT LOAD failed: %s", text);
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
    schedule(sg);
    if (!sg->q_head)
        kick_at(sg, llm__now_mono_us()); /* a first heartbeat: the member count */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct llm__sg *sg = ac->data;
    if (!sg || sg->freeing || sg->ac_cur != ac || status == REDIS_OK)
        return;
    /* hiredis frees the context right after this. */
    conn_lost(sg, false, "cannot connect: %s", ac->errstr[0] ? ac->errstr : "error");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct llm__sg *sg = ac->data;
    if (!sg || sg->freeing || sg->ac_cur != ac)
        return;
    conn_lost(sg, false, "connection closed%s%s", ac->errstr[0] ? ": " : "", ac->errstr);
}

static void do_connect(struct llm__sg *sg)
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
        conn_lost(sg, false, "out of memory connecting");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        conn_lost(sg, false, "cannot connect: %s", why);
        return;
    }
    if (llm__redis_attach(&sg->ev, sg->loop, ac) != 0) {
        redisAsyncFree(ac);
        conn_lost(sg, false, "cannot watch the connection");
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
        conn_lost(sg, true, "cannot send the handshake");
        return;
    }
    llm__timer_start(sg->loop, &sg->deadline_timer, llm__now_mono_us() + sg->timeout_ms * 1000,
                     on_deadline, sg);
}

static void on_reconnect_timer(struct llm__timer *tm, void *user)
{
    do_connect(user);
}

/* ---- public (internal) API ------------------------------------------------- */

enum llm_error llm__sg_new(const struct llm__sg_options *o, struct llm__loop *loop,
                           struct llm__sg **out, char *err, size_t err_len)
{
    *out = NULL;
    struct llm__sg *sg = calloc(1, sizeof(*sg));
    if (!sg)
        return LLM_ERR_OUT_OF_MEMORY;
    enum llm_error rc = llm__redis_url_parse(o->url, &sg->url, err, err_len);
    if (rc != LLM_OK) {
        free(sg);
        return rc;
    }
    const char *quota = o->quota && *o->quota ? o->quota : "default";
    char prefix[64];
    if (!(sg->quota = llm__strdup(quota)) ||
        llm__shared_key_prefix(o->provider, o->base_url, quota, prefix) != 0) {
        llm__redis_url_clear(&sg->url);
        free(sg->quota);
        free(sg);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    for (int i = 0; i < LLM__SHARED_NKEYS; i++)
        snprintf(sg->keys[i], sizeof(sg->keys[i]), "%s%s", prefix, key_suffix[i]);
    uint64_t rnd[2] = {0, 0};
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rnd[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        rnd[1] ^= (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)sg;
    }
    snprintf(sg->member, sizeof(sg->member), "%016" PRIx64 "%08" PRIx64, rnd[0],
             rnd[1] & 0xffffffffu);
    sg->loop = loop;
    sg->fail = o->fail;
    sg->cfg_rpm_limit = o->rpm_limit > 0 ? o->rpm_limit : 0;
    sg->cfg_rpm_window = o->rpm_window_ms > 0 ? o->rpm_window_ms : 60000;
    sg->cfg_tpm_limit = o->tpm_limit > 0 ? o->tpm_limit : 0;
    sg->cfg_tpm_window = o->tpm_window_ms > 0 ? o->tpm_window_ms : 60000;
    sg->learned_window_ms = o->learned_window_ms > 0 ? o->learned_window_ms : 10000;
    sg->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
    sg->ttl_ms = o->member_ttl_ms > 0 ? o->member_ttl_ms : 3000;
    sg->log = o->log;
    sg->log_user = o->log_user;
    sg->log_level = o->log_level;
    sg->ev.fd = -1;
    sg->cooldown_ms = -1;
    sg->mode = LLM__SG_CONNECTING;
    slog(sg, LLM_LOG_INFO, "connecting (failure policy %s)",
         sg->fail == LLM_SHARED_FAIL_WAIT ? "wait" : sg->fail == LLM_SHARED_FAIL_FAIL ? "fail" : "local");
    do_connect(sg);
    *out = sg;
    return LLM_OK;
}

void llm__sg_free(struct llm__sg *sg)
{
    if (!sg)
        return;
    sg->freeing = true;
    llm__timer_stop(sg->loop, &sg->reconnect_timer);
    llm__timer_stop(sg->loop, &sg->deadline_timer);
    llm__timer_stop(sg->loop, &sg->kick_timer);
    call_abandon(sg);
    while (sg->q_head) {
        struct llm__sg_ticket *t = sg->q_head;
        q_unlink(sg, t);
        t->queued = false;
    }
    if (sg->ev.ac)
        redisAsyncFree(sg->ev.ac); /* callbacks see `freeing` and only free memory */
    llm_gate_free(sg->local_rpm);
    llm_gate_free(sg->local_tpm);
    free(sg->adj);
    free(sg->quota);
    llm__redis_url_clear(&sg->url);
    free(sg);
}

static enum llm__sg_verdict admit_local(struct llm__sg *sg, struct llm__sg_ticket *t,
                                        int64_t now_us, int64_t *again_us)
{
    int64_t now_ms = now_us / 1000, tk = 0;
    if (sg->local_rpm) {
        int64_t w = llm_gate_try_acquire(sg->local_rpm, now_ms, 1, &tk);
        if (w > 0) {
            *again_us = w > INT64_MAX / 1000 ? INT64_MAX : w * 1000;
            return LLM__SG_WAIT;
        }
        t->local_rpm = true;
        t->local_rpm_ticket = tk;
    }
    if (sg->local_tpm) {
        int64_t w = llm_gate_try_acquire(sg->local_tpm, now_ms, t->tpm_amount, &tk);
        if (w > 0) {
            if (t->local_rpm)
                llm_gate_adjust(sg->local_rpm, t->local_rpm_ticket, 0, now_ms);
            t->local_rpm = false;
            *again_us = w > INT64_MAX / 1000 ? INT64_MAX : w * 1000;
            return LLM__SG_WAIT;
        }
        t->local_tpm = true;
        t->local_tpm_ticket = tk;
    }
    t->via = LLM_ADMISSION_LOCAL_FALLBACK;
    sg->admitted_local++;
    return LLM__SG_ADMIT;
}

enum llm__sg_verdict llm__sg_admit(struct llm__sg *sg, struct llm__sg_ticket *t,
                                   int64_t now_us, llm__sg_done_fn *cb, void *user,
                                   int64_t *again_us)
{
    if (t->queued)
        return LLM__SG_PENDING; /* asked already */
    t->seq = 0;
    t->via = LLM_ADMISSION_NONE;
    t->local_rpm = t->local_tpm = false;
    t->call = NULL;
    t->cb = cb;
    t->user = user;
    if (t->tpm_amount < 0)
        t->tpm_amount = 0;
    if (t->tpm_amount > LLM_GATE_MAX_AMOUNT)
        t->tpm_amount = LLM_GATE_MAX_AMOUNT;
    switch (sg->mode) {
    case LLM__SG_LOCAL:
        return admit_local(sg, t, now_us, again_us);
    case LLM__SG_FAILING:
        fail_msg(sg, t);
        sg->failed++;
        return LLM__SG_FAIL;
    default:
        break;
    }
    t->queued = true;
    q_push(sg, t, false);
    schedule(sg);
    return LLM__SG_PENDING;
}

void llm__sg_cancel(struct llm__sg *sg, struct llm__sg_ticket *t)
{
    if (!sg || !t->queued)
        return;
    if (t->call) {
        t->call->adm[t->call_idx].t = NULL;
        t->call = NULL;
    } else {
        q_unlink(sg, t);
    }
    t->queued = false;
}

void llm__sg_settle(struct llm__sg *sg, struct llm__sg_ticket *t, bool refund, int64_t tokens)
{
    if (!sg)
        return;
    int64_t now_ms = llm__now_mono_us() / 1000;
    if (tokens > LLM_GATE_MAX_AMOUNT)
        tokens = LLM_GATE_MAX_AMOUNT;
    if (t->via == LLM_ADMISSION_SHARED && t->seq > 0) {
        if (refund || tokens >= 0) {
            add_adj(sg, t->seq, refund ? 0 : -1, refund ? 0 : tokens);
            schedule(sg);
        }
    } else if (t->via == LLM_ADMISSION_LOCAL_FALLBACK) {
        if (t->local_rpm && refund)
            llm_gate_adjust(sg->local_rpm, t->local_rpm_ticket, 0, now_ms);
        if (t->local_tpm && (refund || tokens >= 0))
            llm_gate_adjust(sg->local_tpm, t->local_tpm_ticket, refund ? 0 : tokens, now_ms);
    }
    t->seq = 0;
    t->local_rpm = t->local_tpm = false;
}

void llm__sg_cooldown(struct llm__sg *sg, int64_t ms)
{
    if (!sg || ms < 0)
        return;
    if (ms > sg->cooldown_ms)
        sg->cooldown_ms = ms;
    if (sg->mode == LLM__SG_LOCAL) {
        int64_t until = llm__now_mono_us() / 1000 + ms;
        if (sg->local_rpm)
            llm_gate_block_until(sg->local_rpm, until);
        if (sg->local_tpm)
            llm_gate_block_until(sg->local_tpm, until);
    }
    schedule(sg);
}

void llm__sg_learn(struct llm__sg *sg, int64_t rpm, int64_t tpm)
{
    if (!sg)
        return;
    if (rpm > 0 && rpm != sg->sent_rpm)
        sg->learn_rpm = rpm;
    if (tpm > 0 && tpm != sg->sent_tpm)
        sg->learn_tpm = tpm;
    schedule(sg);
}

void llm__sg_figures(const struct llm__sg *sg, struct llm__sg_figures *f)
{
    memset(f, 0, sizeof(*f));
    if (!sg)
        return;
    f->mode = sg->mode;
    f->quota = sg->quota;
    f->redis = sg->url.redacted;
    f->members = sg->have_last ? sg->last.members : 0;
    f->commands = sg->commands;
    f->replies_bad = sg->replies_bad;
    f->connects = sg->connects;
    f->script_loads = sg->script_loads;
    f->admitted_shared = sg->admitted_shared;
    f->admitted_local = sg->admitted_local;
    f->failed = sg->failed;
    f->waiting = (int64_t)sg->q_len + (sg->call ? (int64_t)sg->call->n_adm : 0);
    if (sg->have_last) {
        f->rpm_used = sg->last.rpm_used;
        f->rpm_limit = sg->last.rpm_limit;
        f->tpm_used = sg->last.tpm_used;
        f->tpm_limit = sg->last.tpm_limit;
    }
}
