/* The shared gate's insides, shared by shared_gate.c (queue, calls, the
 * internal API) and shared_conn.c (connection, failure policy).  Not
 * installed; gates/shared/ only. */
#ifndef LLMORCH_GATES_SHARED_INTERNAL_H
#define LLMORCH_GATES_SHARED_INTERNAL_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "base/loop.h"
#include "gates/shared/shared.h"
#include "llmorch/ext/gate.h"

#define MAX_BATCH 256         /* admissions per call */
#define MAX_ADJ 1024          /* adjustments per call */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define ADJ_COALESCE_US 2000  /* settlements wait this long for company */
#define NARGS_FIXED (3 + LLM__SHARED_NKEYS + 13)

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
    char fail_msg[384];         /* the last FAIL's message (llm__sg_fail_msg) */

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

/* shared_gate.c */
void llm__sg_log(struct llm__sg *sg, enum llm_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Server text we quote with the password blanked, should one echo it. */
void llm__sg_scrub(const struct llm__sg *sg, char *text);
void llm__sg_q_unlink(struct llm__sg *sg, struct llm__sg_ticket *t);
void llm__sg_q_push(struct llm__sg *sg, struct llm__sg_ticket *t, bool front);
void llm__sg_call_free(struct llm__sg_call *c);
/* The call in flight goes back to the queue (as far as we know Redis
 * admitted nothing of it). */
void llm__sg_call_abandon(struct llm__sg *sg);
/* Arm the timer for the next call, if one is due. */
void llm__sg_schedule(struct llm__sg *sg);
void llm__sg_kick_at(struct llm__sg *sg, int64_t due_us);

/* shared_conn.c */
/* Connect (asynchronously); failures go through llm__sg_conn_lost. */
void llm__sg_connect(struct llm__sg *sg);
/* The connection is gone or must go: apply the policy, reconnect later.
 * `free_ctx`: drop the context ourselves (not when hiredis frees it). */
void llm__sg_conn_lost(struct llm__sg *sg, bool free_ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void llm__sg_script_load(struct llm__sg *sg, void *privdata);
void llm__sg_on_deadline(struct llm__timer *tm, void *user);
void llm__sg_fail_msg(struct llm__sg *sg, struct llm__sg_ticket *t);

#endif
