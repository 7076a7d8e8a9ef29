/* Shared limits across processes: the Redis backend of the admission gates.
 *
 * Internal to the library.  Pieces, each with its own file and tests:
 *   redis_url.c     parse redis://[user:password@]host:port[/db] or a Unix
 *                   socket path; a redacted form for every message
 *   redis_loop.c    hiredis's async context driven by the engine's epoll
 *                   loop (the adapter hiredis ships for libuv/libevent/ae,
 *                   written for src/base/loop.h)
 *   redis_script.c  the Lua script (one script, run with EVALSHA) and the
 *                   bounded, type-checked reading of its reply
 *   shared_gate.c   the shared-gate object: asynchronous admission,
 *                   adjustments, cooldown, learned limits, membership,
 *                   failure policy, reconnection
 *
 * Threading: everything here runs on the one loop thread that owns the
 * loop (the engine thread), except llm__redis_url_* which are pure. */
#ifndef LLMORCH_GATES_SHARED_H
#define LLMORCH_GATES_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmorch/engine.h"
#include "llmorch/error.h"

struct llm__loop;
struct redisAsyncContext;
struct redisReply;

/* ---- URL ------------------------------------------------------------------ */

struct llm__redis_url {
    char *host;          /* NULL for a Unix socket */
    int port;            /* 6379 by default */
    char *path;          /* Unix socket path, NULL for TCP */
    char *user;          /* NULL = none (AUTH with the password only) */
    char *password;      /* NULL = no AUTH.  NEVER printed anywhere. */
    int db;              /* SELECT db when > 0 */
    char *redacted;      /* the URL with the password replaced by "***" */
};

/* Parse `s`: "redis://[[user]:password@]host[:port][/db]" (host may be an
 * IPv4 address, a name, or [IPv6]), "unix://PATH[?db=N]" or an absolute
 * path "/run/redis.sock".  Percent-escapes are decoded in user and
 * password.  Returns LLM_OK, LLM_ERR_INVALID_ARGUMENT (with a message in
 * `err` that never contains the password) or LLM_ERR_OUT_OF_MEMORY.  On
 * error *u is zeroed and owns nothing. */
enum llm_error llm__redis_url_parse(const char *s, struct llm__redis_url *u, char *err,
                                    size_t err_len);
void llm__redis_url_clear(struct llm__redis_url *u);

/* ---- loop adapter -------------------------------------------------------- */

/* Embedded in its owner, which outlives every context attached to it, so an
 * I/O callback can tell that the context it was serving went away (ac NULL)
 * while hiredis was running callbacks. */
struct llm__redis_events {
    struct llm__loop *loop;
    struct redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    int fd;
    uint32_t mask;                /* EPOLLIN | EPOLLOUT currently wanted */
};

/* Attach `ac` (just created, fd open) to the loop.  Returns 0, or -1 if
 * the fd cannot be watched (the caller then frees the context). */
int llm__redis_attach(struct llm__redis_events *ev, struct llm__loop *loop,
                      struct redisAsyncContext *ac);

/* ---- script ---------------------------------------------------------------- */

/* The Lua source of the one script (see redis_script.c for its contract). */
extern const char llm__shared_script[];
#define LLM__SHARED_NKEYS 10
#define LLM__SHARED_NREPLY 9

/* The script's reply, checked: an array of exactly LLM__SHARED_NREPLY
 * integers within range. */
struct llm__shared_reply {
    int64_t admitted;    /* how many of the admissions sent were admitted (a prefix) */
    int64_t wait_ms;     /* when the next could fit (0 if all admitted) */
    int64_t reason;      /* 0 none, 1 rpm, 2 tpm, 3 cooldown */
    int64_t rpm_used, rpm_limit;
    int64_t tpm_used, tpm_limit;
    int64_t members;
    int64_t cooldown_ms; /* shared cooldown still in force */
};

/* Check and read a reply.  Returns 0, or -1 with a short reason in `why`
 * (a Redis error reply's text is copied, bounded, with control bytes
 * replaced).  `n_sent` bounds `admitted`. */
int llm__shared_reply_read(const struct redisReply *r, int64_t n_sent,
                           struct llm__shared_reply *out, char *why, size_t why_len);

/* Keys: "llmorch:{" + 16 hex digits of SHA-256(provider NUL base_url NUL
 * quota) + "}:" + suffix.  The API key never enters them.  Returns 0, or -1
 * (out of memory, absurd lengths). */
int llm__shared_key_prefix(const char *provider, const char *base_url, const char *quota,
                           char out[64]);

/* ---- the shared gate ------------------------------------------------------ */

/* Added to every shared window on top of the local gates' margin (1 %, at
 * least 20 ms).  Why: an admission is stamped with Redis's time, and the
 * request reaches the server after a delay that differs between members
 * (the reply's way back, each process's scheduling).  Four batch processes
 * on a loaded 2-core machine spread a window's arrivals by over 20 ms
 * (measured 0-2 ms idle); a window longer by the worst spread keeps the
 * server's count under the limit.  Costs 1 % of throughput at 2 s windows,
 * 0.03 % at 60 s. */
#define LLM__SHARED_SKEW_MS 20

/* The mode in force. */
enum llm__sg_mode {
    LLM__SG_CONNECTING = 0, /* first connection not settled yet: admissions wait */
    LLM__SG_SHARED,         /* Redis answers: the shared windows admit */
    LLM__SG_LOCAL,          /* Redis unreachable, policy local: local gates at the member's share */
    LLM__SG_WAITING,        /* Redis unreachable, policy wait: admissions held */
    LLM__SG_FAILING         /* Redis unreachable, policy fail: admissions fail */
};
const char *llm__sg_mode_name(enum llm__sg_mode m);

struct llm__sg;
struct llm__sg_ticket;
struct llm__sg_call;

/* Outcomes of an admission. */
enum llm__sg_verdict {
    LLM__SG_ADMIT,   /* admitted (ticket->via says by what) */
    LLM__SG_PENDING, /* asked Redis: the callback will answer, later */
    LLM__SG_WAIT,    /* not before *again_us (local gates only) */
    LLM__SG_RETRY,   /* (callback only) Redis went away while asked: ask again now */
    LLM__SG_FAIL     /* policy fail: Redis is unavailable; message in the ticket */
};

/* Called on the loop thread, never from inside llm__sg_admit(), once per
 * PENDING answer: ADMIT, RETRY or FAIL.  ADMITs come in queue order;
 * RETRYs and FAILs of one outage last first (so that pushing each back to
 * the front of a FIFO keeps the order). */
typedef void llm__sg_done_fn(void *user, struct llm__sg_ticket *t, enum llm__sg_verdict v);

/* One request's admission state; embedded in the request, zeroed before
 * the first llm__sg_admit(). */
struct llm__sg_ticket {
    int64_t tpm_amount;          /* set by the caller before admit */
    int64_t seq;                 /* this member's id of the admission; 0 = none */
    enum llm_admission via;      /* who admitted the current debit */
    bool local_rpm, local_tpm;   /* debited from the local fallback gates */
    bool queued;                 /* in sg's queue or in a call in flight */
    int64_t local_rpm_ticket, local_tpm_ticket;
    struct llm__sg_ticket *prev, *next;
    struct llm__sg_call *call;   /* the call it travels in, if any */
    size_t call_idx;
    llm__sg_done_fn *cb;
    void *user;
    /* With a FAIL: the message, kept by the limiter (same for every ticket
     * of an outage) and valid until the next call into it.  A buffer here
     * made every request's block 384 bytes bigger, past glibc's tcache
     * sizes, for a message only a Redis outage under policy fail writes. */
    const char *fail_msg;
};

struct llm__sg_options {
    const char *url;             /* required */
    const char *quota;           /* NULL = "default" */
    const char *provider;        /* for the key hash */
    const char *base_url;        /* for the key hash; NULL = "" */
    enum llm_shared_fail fail;
    /* Limits per window; 0 = none configured (learned ones apply). */
    int64_t rpm_limit, rpm_window_ms;
    int64_t tpm_limit, tpm_window_ms;
    int64_t learned_window_ms;   /* window for limits learned from headers */
    int64_t timeout_ms;          /* a command slower than this = Redis unavailable */
    int64_t member_ttl_ms;       /* heartbeat entries expire after this */
    llm_log_fn *log;
    void *log_user;
    enum llm_log_level log_level;
};

enum llm_error llm__sg_new(const struct llm__sg_options *o, struct llm__loop *loop,
                           struct llm__sg **out, char *err, size_t err_len);
/* Drop the connection and free; pending tickets are forgotten (their
 * callbacks are not called: the owner is shutting down). */
void llm__sg_free(struct llm__sg *sg);

/* Ask for one request (1 of RPM, t->tpm_amount of TPM).  ADMIT and WAIT
 * and FAIL are answered now; PENDING later through `cb`. */
enum llm__sg_verdict llm__sg_admit(struct llm__sg *sg, struct llm__sg_ticket *t,
                                   int64_t now_us, llm__sg_done_fn *cb, void *user,
                                   int64_t *again_us);
/* Withdraw a ticket (cancel, deadline): its callback will not be called; if
 * it was already admitted by Redis meanwhile, the debit is refunded. */
void llm__sg_cancel(struct llm__sg *sg, struct llm__sg_ticket *t);
/* Settle an admitted ticket: `refund` (a 429: the server counted nothing)
 * or the real token usage (tokens >= 0), or nothing known (tokens < 0). */
void llm__sg_settle(struct llm__sg *sg, struct llm__sg_ticket *t, bool refund, int64_t tokens);
/* One replica's 429 pauses every member for `ms`. */
void llm__sg_cooldown(struct llm__sg *sg, int64_t ms);
/* Limits read from rate-limit headers (per minute; <= 0 = not announced). */
void llm__sg_learn(struct llm__sg *sg, int64_t rpm, int64_t tpm);

/* The password of the URL (for the owner's secret scrubbing), or NULL. */
const char *llm__sg_password(const struct llm__sg *sg);

/* Figures for stats. */
struct llm__sg_figures {
    enum llm__sg_mode mode;
    const char *quota;
    const char *redis;           /* redacted URL */
    int64_t members;
    uint64_t commands;           /* script calls sent */
    uint64_t replies_bad;        /* errors, garbage, timeouts */
    uint64_t connects, script_loads; /* established; scripts loaded (replies) */
    uint64_t admitted_shared, admitted_local, failed;
    int64_t waiting;             /* tickets queued */
    int64_t rpm_used, rpm_limit, tpm_used, tpm_limit;
};
void llm__sg_figures(const struct llm__sg *sg, struct llm__sg_figures *f);

#endif /* LLMORCH_GATES_SHARED_H */
