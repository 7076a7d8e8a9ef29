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
 * The connection and the failure policy live in shared_conn.c.  NOSCRIPT
 * (Redis restarted or SCRIPT FLUSH) reloads the script and resends the call
 * behind it.  A call's reply callback first checks that the call is still
 * the current one on the current context: a stale one only frees itself. */
#include "gates/shared/shared_internal.h"

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

static const char *const key_suffix[LLM__SHARED_NKEYS] = {
    "rpm:z", "rpm:h", "rpm:s", "tpm:z", "tpm:h", "tpm:s", "cooldown", "learned", "members", "clock"};


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

void llm__sg_log(struct llm__sg *sg, enum llm_log_level lvl, const char *fmt, ...)
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
void llm__sg_scrub(const struct llm__sg *sg, char *text)
{
    const char *pw = sg->url.password;
    size_t n = pw ? strlen(pw) : 0;
    if (n < 1)
        return;
    for (char *p = strstr(text, pw); p; p = strstr(p, pw))
        memset(p, '*', n);
}

/* ---- queue ------------------------------------------------------------------ */

void llm__sg_q_unlink(struct llm__sg *sg, struct llm__sg_ticket *t)
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

void llm__sg_q_push(struct llm__sg *sg, struct llm__sg_ticket *t, bool front)
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

void llm__sg_call_free(struct llm__sg_call *c)
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
void llm__sg_call_abandon(struct llm__sg *sg)
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
        llm__sg_q_push(sg, t, true);
    }
    c->n_adm = 0;
    c->sg = NULL; /* its callback, when hiredis runs it, only frees it */
    llm__timer_stop(sg->loop, &sg->deadline_timer);
}


/* ---- calls ------------------------------------------------------------------- */

static void on_kick(struct llm__timer *tm, void *user);

void llm__sg_kick_at(struct llm__sg *sg, int64_t due_us)
{
    if (llm__timer_armed(&sg->kick_timer) && sg->kick_timer.due_us <= due_us)
        return;
    if (llm__timer_start(sg->loop, &sg->kick_timer, due_us, on_kick, sg) != 0)
        llm__sg_log(sg, LLM_LOG_ERROR, "out of memory arming a timer");
}

/* When the next call should go, if at all. */
void llm__sg_schedule(struct llm__sg *sg)
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
    llm__sg_kick_at(sg, due < now ? now : due);
}

static void on_call_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int send_argv(struct llm__sg *sg, struct llm__sg_call *c)
{
    c->ac = sg->ac_cur;
    if (redisAsyncCommandArgv(sg->ac_cur, on_call_reply, c, c->argc, (const char **)c->argv,
                              c->argvlen) != REDIS_OK)
        return -1;
    sg->commands++;
    sg->last_call_us = llm__now_mono_us();
    llm__timer_start(sg->loop, &sg->deadline_timer, sg->last_call_us + sg->timeout_ms * 1000,
                     llm__sg_on_deadline, sg);
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
        llm__sg_call_free(c);
        llm__sg_log(sg, LLM_LOG_ERROR, "out of memory building a call; retrying");
        llm__sg_kick_at(sg, now + 10000);
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
        llm__sg_q_unlink(sg, t);
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
        llm__sg_conn_lost(sg, true, "could not send a command");
    }
}

static void on_kick(struct llm__timer *tm, void *user)
{
    struct llm__sg *sg = user;
    if (!sg->ready || sg->call)
        return;
    send_call(sg);
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
        llm__sg_call_free(c);
        return;
    }
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        !c->reloaded) {
        /* Redis lost the script (restart, SCRIPT FLUSH): load it again and
         * resend this very call behind it (same connection, so in order). */
        c->reloaded = true;
        llm__sg_log(sg, LLM_LOG_INFO, "script missing (NOSCRIPT): loading it again");
        llm__sg_script_load(sg, NULL);
        if (send_argv(sg, c) != 0)
            llm__sg_conn_lost(sg, true, "could not resend a command");
        return;
    }
    struct llm__shared_reply rep;
    char why[192];
    if (llm__shared_reply_read(r, (int64_t)c->n_adm, &rep, why, sizeof(why)) != 0) {
        bool gone = r == NULL;
        if (!gone)
            sg->call = c; /* conn_lost abandons it: tickets back to the queue */
        llm__sg_conn_lost(sg, !gone, "%s", why);
        llm__sg_call_free(c);
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
            llm__sg_q_push(sg, t, true);
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
    llm__sg_call_free(c);
    llm__sg_schedule(sg);
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
    llm__sg_log(sg, LLM_LOG_INFO, "connecting (failure policy %s)",
         sg->fail == LLM_SHARED_FAIL_WAIT ? "wait" : sg->fail == LLM_SHARED_FAIL_FAIL ? "fail" : "local");
    llm__sg_connect(sg);
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
    llm__sg_call_abandon(sg);
    while (sg->q_head) {
        struct llm__sg_ticket *t = sg->q_head;
        llm__sg_q_unlink(sg, t);
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
        llm__sg_fail_msg(sg, t);
        sg->failed++;
        return LLM__SG_FAIL;
    default:
        break;
    }
    t->queued = true;
    llm__sg_q_push(sg, t, false);
    llm__sg_schedule(sg);
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
        llm__sg_q_unlink(sg, t);
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
            llm__sg_schedule(sg);
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
    llm__sg_schedule(sg);
}

void llm__sg_learn(struct llm__sg *sg, int64_t rpm, int64_t tpm)
{
    if (!sg)
        return;
    if (rpm > 0 && rpm != sg->sent_rpm)
        sg->learn_rpm = rpm;
    if (tpm > 0 && tpm != sg->sent_tpm)
        sg->learn_tpm = tpm;
    llm__sg_schedule(sg);
}

const char *llm__sg_password(const struct llm__sg *sg)
{
    return sg ? sg->url.password : NULL;
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
