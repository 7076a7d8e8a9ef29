/* Admission control, one object (struct llm__admission): the RPM and TPM
 * gates (configured, or learned from the server's rate-limit headers), the
 * cooldown a 429 asks for, and the adaptive probe (one request at a time
 * until the first response's headers tell the limits).  Engine thread. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "engine/engine_internal.h"
#include "llmorch/ext/gate.h"
#include "llmorch/stats.h"
#include "metrics/stats_acc.h"

/* Tokens assumed for the reply when a request sets no max_tokens. */
#define DEFAULT_TPM_OUTPUT_TOKENS 1024
/* Window used for limits learned from headers: a short window tiles any
 * longer window the server may use, so bursts stay within its limit. */
#define ADAPTIVE_WINDOW_MS 1000

/* The sliding window for `per_minute` over `window_ms`: the limit scaled to
 * the window, or, below one per window, one per (60000 / rate) ms (at most
 * one per day); plus a small margin against the skew between our admission
 * time and the server's arrival time (a request admitted at the very end of
 * our window must not land inside the server's previous one). */
static void rate_window(double per_minute, int64_t window_ms, int64_t *limit, int64_t *window)
{
    *limit = (int64_t)(per_minute * (double)window_ms / 60000.0);
    if (*limit < 1) {
        *limit = 1;
        double w = 60000.0 / per_minute + 0.999;
        window_ms = w > 86400000.0 ? 86400000 : (int64_t)w;
    }
    int64_t margin = window_ms / 100 > 20 ? window_ms / 100 : 20;
    *window = window_ms + margin;
}

static enum llm_error make_rate_gate(const char *name, double per_minute, int64_t window_ms,
                                     struct llm_gate **out)
{
    struct llm_window_gate_options go = {.name = name};
    rate_window(per_minute, window_ms, &go.limit, &go.window_ms);
    return llm_gate_new_sliding_window(&go, out);
}

enum llm_error llm__adm_init(struct llm__admission *a, double rpm, double tpm)
{
    if ((rpm > 0 && make_rate_gate("rpm", rpm, a->window_ms, &a->rpm_gate) != LLM_OK) ||
        (tpm > 0 && make_rate_gate("tpm", tpm, a->window_ms, &a->tpm_gate) != LLM_OK))
        return LLM_ERR_OUT_OF_MEMORY;
    return LLM_OK;
}

void llm__adm_clear(struct llm_engine *e)
{
    llm_gate_free(e->adm.rpm_gate);
    llm_gate_free(e->adm.tpm_gate);
    e->adm.rpm_gate = e->adm.tpm_gate = NULL;
    llm__sg_free(e->adm.shared);
    e->adm.shared = NULL;
}

/* ---- asking the gates ----------------------------------------------------------- */

static int64_t estimate(struct llm__admission *a, struct ereq *r);

/* Ask every gate for `r`; all or nothing.  Returns 0 when admitted (debits
 * recorded in the ticket), else the monotonic µs at which to ask again. */
static int64_t gates_admit(struct llm__admission *a, struct ereq *r, int64_t now_us)
{
    struct llm__adm_ticket *t = &r->ticket;
    int64_t now_ms = now_us / 1000;
    t->rpm_debited = t->tpm_debited = false;
    if (a->rpm_gate) {
        int64_t wait = llm_gate_try_acquire(a->rpm_gate, now_ms, 1, &t->rpm_ticket);
        if (wait > 0) {
            a->blocked = LLM__ADM_RPM;
            return llm__ms_to_us_sat(wait);
        }
        t->rpm_debited = true;
    }
    if (a->tpm_gate) {
        if (t->tpm_amount < 0)
            t->tpm_amount = estimate(a, r);
        int64_t wait = llm_gate_try_acquire(a->tpm_gate, now_ms, t->tpm_amount, &t->tpm_ticket);
        if (wait > 0) {
            if (t->rpm_debited) {
                llm_gate_adjust(a->rpm_gate, t->rpm_ticket, 0, now_ms);
                t->rpm_debited = false;
            }
            a->blocked = LLM__ADM_TPM;
            return llm__ms_to_us_sat(wait);
        }
        t->tpm_debited = true;
    }
    a->blocked = LLM__ADM_OPEN;
    return 0;
}

static void on_admission_timer(struct llm__timer *t, void *user) { llm__eng_pump(user); }

/* ---- shared gates (Redis) ---------------------------------------------------------- */

static void wake_pump(struct llm_engine *e)
{
    struct llm__admission *a = &e->adm;
    int64_t now = llm__now_mono_us();
    if (!llm__timer_armed(&a->timer) || a->timer.due_us > now)
        llm__timer_start(e->loop, &a->timer, now, on_admission_timer, e);
}

/* The shared limiter's later answer for a request in ST_ADMITTING.  Called
 * on the engine thread from the limiter (a Redis reply, a timer), never
 * from inside llm__adm_admit. */
static void on_shared_answer(void *user, struct llm__sg_ticket *t, enum llm__sg_verdict v)
{
    struct ereq *r = user;
    struct llm_engine *e = r->eng;
    e->adm.n_admitting--;
    switch (v) {
    case LLM__SG_ADMIT:
        r->res->admission = t->via;
        llm__eng_admitted(r, llm__now_mono_us());
        break;
    case LLM__SG_FAIL:
        llm__eng_finish(r, LLM_ERR_LIMITER_UNAVAILABLE, t->fail_msg, 0, NULL, false);
        break;
    default:
        /* Redis went away while asked: back to the front, asked again
         * under the failure policy (answers come last-first, so pushing
         * each to the front keeps the order). */
        llm__eng_fifo_push(e, r, true, llm__now_mono_us());
        break;
    }
    wake_pump(e); /* slots may be free for the next ones */
}

static int64_t estimate(struct llm__admission *a, struct ereq *r)
{
    return llm__add_sat(a->estimate(a->estimate_user, &r->req),
                        r->req.max_tokens > 0 ? r->req.max_tokens : DEFAULT_TPM_OUTPUT_TOKENS);
}

static int64_t shared_admit(struct llm_engine *e, struct ereq *r, int64_t now_us)
{
    struct llm__admission *a = &e->adm;
    struct llm__adm_ticket *t = &r->ticket;
    if (t->tpm_amount < 0)
        t->tpm_amount = estimate(a, r);
    t->sg.tpm_amount = t->tpm_amount;
    int64_t again = 0;
    switch (llm__sg_admit(a->shared, &t->sg, now_us, on_shared_answer, r, &again)) {
    case LLM__SG_ADMIT:
        r->res->admission = t->sg.via;
        a->blocked = LLM__ADM_OPEN;
        return 0;
    case LLM__SG_PENDING:
        return LLM__ADM_PENDING;
    case LLM__SG_FAIL:
        llm__eng_finish(r, LLM_ERR_LIMITER_UNAVAILABLE, t->sg.fail_msg, 0, NULL, false);
        return LLM__ADM_GONE;
    default: /* WAIT: the local fallback gates */
        a->blocked = LLM__ADM_RPM;
        return again > now_us ? again : now_us + 1000;
    }
}

/* The limiter's log lines go through the engine's, which scrubs secrets
 * (the limiter never formats the password; this is the second lock). */
static void shared_log(void *user, enum llm_log_level level, const char *msg)
{
    llm__eng_log(user, level, "%s", msg);
}

enum llm_error llm__adm_init_shared(struct llm_engine *e, const struct llm_engine_options *o,
                                    char *errbuf, size_t errlen)
{
    struct llm__admission *a = &e->adm;
    struct llm__sg_options so = {
        .url = o->redis_url,
        .quota = o->quota_name,
        .provider = e->provider_name,
        .base_url = o->endpoint_url ? o->endpoint_url : o->base_url,
        .fail = o->redis_fail,
        .learned_window_ms = ADAPTIVE_WINDOW_MS,
        .timeout_ms = o->redis_timeout_ms,
        .log = e->log ? shared_log : NULL,
        .log_user = e,
        .log_level = e->log ? e->log_level : LLM_LOG_NONE,
    };
    if (o->rpm > 0) {
        rate_window(o->rpm, a->window_ms, &so.rpm_limit, &so.rpm_window_ms);
        so.rpm_window_ms += LLM__SHARED_SKEW_MS;
    }
    if (o->tpm > 0) {
        rate_window(o->tpm, a->window_ms, &so.tpm_limit, &so.tpm_window_ms);
        so.tpm_window_ms += LLM__SHARED_SKEW_MS;
    }
    if ((unsigned)o->redis_fail > LLM_SHARED_FAIL_FAIL) {
        llm__eng_set_err(errbuf, errlen, "redis_fail: %d is not a failure policy",
                         (int)o->redis_fail);
        return LLM_ERR_INVALID_ARGUMENT;
    }
    if (o->redis_timeout_ms < 0) {
        llm__eng_set_err(errbuf, errlen, "redis_timeout_ms: negative");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    char err[256] = "";
    enum llm_error rc = llm__sg_new(&so, e->loop, &a->shared, err, sizeof(err));
    if (rc != LLM_OK) {
        llm__eng_set_err(errbuf, errlen, "%s", err[0] ? err : llm_strerror(rc));
        return rc;
    }
    /* The Redis password joins the secrets scrubbed from everything the
     * engine stores or logs. */
    const char *pw = llm__sg_password(a->shared);
    if (!llm__secrets_add(&e->secrets, pw, pw ? strlen(pw) : 0)) {
        llm__eng_set_err(errbuf, errlen, "out of memory");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    return LLM_OK;
}

void llm__adm_withdraw(struct llm_engine *e, struct ereq *r)
{
    if (r->ticket.sg.queued) {
        llm__sg_cancel(e->adm.shared, &r->ticket.sg);
        e->adm.n_admitting--;
    }
}

int64_t llm__adm_admit(struct llm_engine *e, struct ereq *r, int64_t now_us)
{
    struct llm__admission *a = &e->adm;
    int64_t again;
    if (a->cooldown_until_us > now_us) {
        again = a->cooldown_until_us;
        a->blocked = LLM__ADM_COOLDOWN;
        r->gate_by_cooldown = true;
    } else if (a->shared) {
        again = shared_admit(e, r, now_us);
        if (again < 0)
            return again;
    } else {
        again = gates_admit(a, r, now_us);
        if (again == 0)
            r->res->admission = LLM_ADMISSION_LOCAL;
    }
    if (again && (!llm__timer_armed(&a->timer) || a->timer.due_us != again))
        llm__timer_start(e->loop, &a->timer, again, on_admission_timer, e);
    return again;
}

/* ---- learning from the server ----------------------------------------------------- */

static void learn_limit(struct llm_engine *e, struct llm_gate **gate, bool *learned,
                        const char *name, int64_t per_minute)
{
    if (per_minute <= 0 || (*gate && !*learned))
        return; /* nothing announced, or a configured limit wins */
    /* Servers announce "unlimited" as INT64_MAX or some other absurd
     * number: no gate (a gate of billions per second only costs time). */
    if ((double)per_minute > MAX_RATE_PER_MINUTE)
        return;
    int64_t limit, window;
    rate_window((double)per_minute, ADAPTIVE_WINDOW_MS, &limit, &window);
    if (*gate) {
        llm_gate_set_limit(*gate, limit, window);
        return;
    }
    struct llm_window_gate_options go = {.name = name, .limit = limit, .window_ms = window};
    if (llm_gate_new_sliding_window(&go, gate) == LLM_OK) {
        *learned = true;
        llm__eng_log(e, LLM_LOG_INFO,
                     "learned %s limit from server headers: %" PRId64 " per minute", name,
                     per_minute);
    }
}

/* Read the rate-limit headers into *rl and, when adapting, adopt the limits
 * they announce.  Returns whether any were present. */
static bool learn_from_headers(struct llm_engine *e, const struct llm_http_headers *h,
                               struct llm_rate_limit_info *rl)
{
    struct llm__admission *a = &e->adm;
    memset(rl, 0xff, sizeof(*rl)); /* every field -1 */
    bool have = false;
    if (h && e->provider->vtable->read_rate_limits) {
        e->provider->vtable->read_rate_limits(e->provider, h, rl);
        have = rl->limit_requests >= 0 || rl->limit_tokens >= 0 || rl->limit_input_tokens >= 0 ||
               rl->remaining_requests >= 0 || rl->remaining_tokens >= 0;
    }
    if (a->adaptive && have && a->shared) {
        /* Every member adopts them, through Redis. */
        llm__sg_learn(a->shared, rl->limit_requests,
                      rl->limit_tokens > 0 ? rl->limit_tokens : rl->limit_input_tokens);
        a->rpm_learned = a->tpm_learned = true;
    } else if (a->adaptive && have) {
        learn_limit(e, &a->rpm_gate, &a->rpm_learned, "rpm", rl->limit_requests);
        learn_limit(e, &a->tpm_gate, &a->tpm_learned, "tpm",
                    rl->limit_tokens > 0 ? rl->limit_tokens : rl->limit_input_tokens);
    }
    return have;
}

/* The first response's headers end the adaptive probe: the limits are known
 * (or known to be absent) long before a streamed reply finishes.  Called
 * inside the transport, so admission resumes from a timer, not from here. */
void llm__adm_on_headers(struct llm_engine *e, const struct llm_http_headers *h)
{
    struct llm__admission *a = &e->adm;
    if (!a->probing)
        return;
    struct llm_rate_limit_info rl;
    learn_from_headers(e, h, &rl);
    a->probing = false;
    llm__timer_start(e->loop, &a->timer, llm__now_mono_us(), on_admission_timer, e);
}

/* Give back what the server did not count: all of a refused request, the
 * estimate's excess once usage is known. */
static void reconcile(struct llm__admission *a, struct ereq *r, int status, int64_t now_ms)
{
    struct llm__adm_ticket *t = &r->ticket;
    if (a->shared) {
        /* Across every member: a 429 refunds, usage corrects the estimate. */
        llm__sg_settle(a->shared, &t->sg, status == 429,
                       status != 429 && r->parsed.usage.known
                           ? r->parsed.usage.input_tokens + r->parsed.usage.output_tokens
                           : -1);
        return;
    }
    if (status == 429) {
        if (t->rpm_debited && a->rpm_gate)
            llm_gate_adjust(a->rpm_gate, t->rpm_ticket, 0, now_ms);
        if (t->tpm_debited && a->tpm_gate)
            llm_gate_adjust(a->tpm_gate, t->tpm_ticket, 0, now_ms);
    } else if (t->tpm_debited && a->tpm_gate && r->parsed.usage.known) {
        llm_gate_adjust(a->tpm_gate, t->tpm_ticket,
                        llm__add_sat(r->parsed.usage.input_tokens, r->parsed.usage.output_tokens),
                        now_ms);
    }
    t->rpm_debited = t->tpm_debited = false;
}

/* The pause a 429 asks for, mono µs (0 = none): its Retry-After, else the
 * reset time of an exhausted limit; never longer than max_server_wait_ms. */
static int64_t cooldown_end(const struct llm__admission *a, int status, int64_t retry_after,
                            bool have, const struct llm_rate_limit_info *rl, int64_t now_us)
{
    if (status != 429)
        return 0;
    if (retry_after >= 0)
        return retry_after <= a->max_server_wait_ms
                   ? llm__add_sat(now_us, llm__ms_to_us_sat(retry_after)) : 0;
    if (!have)
        return 0;
    int64_t wait = -1;
    if (rl->remaining_requests == 0 && rl->reset_requests_ms > wait)
        wait = rl->reset_requests_ms;
    if (rl->remaining_tokens == 0 && rl->reset_tokens_ms > wait)
        wait = rl->reset_tokens_ms;
    return wait >= 0 && wait <= a->max_server_wait_ms
               ? llm__add_sat(now_us, llm__ms_to_us_sat(wait)) : 0;
}

void llm__adm_feedback(struct llm_engine *e, struct ereq *r, int status,
                       const struct llm_http_headers *h, int64_t retry_after, int64_t now_us)
{
    struct llm__admission *a = &e->adm;
    reconcile(a, r, status, now_us / 1000);

    /* Limits change rarely: re-read them on every 429, otherwise on one
     * response in 32 once learned, or once LLM__ADM_EAGER_READS reads in a
     * row taught nothing (a server that announces no limits, or only
     * "unlimited": reading every reply of it cost ~1,300 instructions per
     * request, the six header lookups, for nothing). */
    struct llm_rate_limit_info rl;
    memset(&rl, 0xff, sizeof(rl));
    bool have = false;
    bool learned = a->rpm_learned || a->tpm_learned;
    bool eager = !learned && a->fruitless_reads < LLM__ADM_EAGER_READS;
    if (status == 429 || (a->adaptive && (eager || (a->feedback_count++ & 31) == 0))) {
        have = learn_from_headers(e, h, &rl);
        if (a->rpm_learned || a->tpm_learned)
            a->fruitless_reads = 0;
        else if (a->fruitless_reads < LLM__ADM_EAGER_READS)
            a->fruitless_reads++;
    }
    a->probing = false;

    int64_t until = cooldown_end(a, status, retry_after, have, &rl, now_us);
    if (until > 0 && a->shared)
        llm__sg_cooldown(a->shared, (until - now_us) / 1000); /* pauses every member */
    if (until > a->cooldown_until_us) {
        a->cooldown_until_us = until;
        llm__eng_log(e, LLM_LOG_INFO,
                     "server asked for a pause: admission paused for %" PRId64 " ms",
                     (until - now_us) / 1000);
    }
}

/* ---- stats ---------------------------------------------------------------------- */

static enum llm_error report_shared(const struct llm__admission *a, struct llm_stats *s)
{
    struct llm__sg_figures f;
    llm__sg_figures(a->shared, &f);
    struct llm_stats_shared *sh = &s->shared;
    sh->enabled = true;
    sh->mode = llm__strdup(llm__sg_mode_name(f.mode));
    sh->quota = llm__strdup(f.quota);
    sh->redis = llm__strdup(f.redis); /* redacted: never the password */
    if (!sh->mode || !sh->quota || !sh->redis)
        return LLM_ERR_OUT_OF_MEMORY;
    sh->members = f.members;
    sh->redis_calls = f.commands;
    sh->redis_errors = f.replies_bad;
    sh->connects = f.connects;
    sh->script_loads = f.script_loads;
    sh->admitted_shared = f.admitted_shared;
    sh->admitted_local = f.admitted_local;
    sh->failed = f.failed;
    sh->round_trips_per_request =
        f.admitted_shared ? (double)f.commands / (double)f.admitted_shared : 0;
    sh->waiting = f.waiting;
    sh->rpm_used = f.rpm_used;
    sh->rpm_limit = f.rpm_limit;
    sh->tpm_used = f.tpm_used;
    sh->tpm_limit = f.tpm_limit;
    return LLM_OK;
}

enum llm_error llm__adm_report(struct llm_engine *e, struct llm_stats *s, int64_t now_us)
{
    const struct llm__admission *a = &e->adm;
    int64_t now_ms = now_us / 1000;
    struct { const char *name; struct llm_gate *g; enum llm__adm_block id; } gs[] = {
        {"rpm", a->rpm_gate, LLM__ADM_RPM}, {"tpm", a->tpm_gate, LLM__ADM_TPM}};
    enum llm_error rc = LLM_OK;
    for (size_t i = 0; i < 2 && rc == LLM_OK; i++) {
        if (!gs[i].g)
            continue;
        int64_t used = 0, limit = 0;
        llm_gate_usage(gs[i].g, now_ms, &used, &limit);
        rc = llm__stats_add_gate(s, gs[i].name,
                                 a->blocked == gs[i].id ? (int64_t)e->n_waiting : 0, used, limit);
    }
    if (rc == LLM_OK && a->cooldown_until_us > now_us)
        rc = llm__stats_add_gate(s, "server_cooldown", (int64_t)e->n_waiting, 0, 0);
    if (rc == LLM_OK && a->shared)
        rc = report_shared(a, s);
    return rc;
}
