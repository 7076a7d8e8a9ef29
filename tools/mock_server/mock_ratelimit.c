/* RPM / TPM sliding windows.  A true sliding log, not a token bucket: the
 * mock's job is to be an exact referee, so "at most N in any window_ms" is
 * checkable from the ledger afterwards.  Admitted requests are kept in a
 * ring (admission time, token cost), oldest first; entries leave when
 * window_ms has passed.  With an RPM limit the ring holds at most that
 * many entries; with only a TPM limit, zero-cost requests are not kept. */
#include "mock_internal.h"

#include <math.h>
#include <stdlib.h>

struct rl_entry {
    int64_t t_ms;
    int64_t cost;
};

struct mocksrv__rl {
    pthread_mutex_t lock; /* guards everything below */
    int64_t window_ms;
    int64_t rpm, tpm;         /* per-minute figures for the headers */
    int64_t lim_req, lim_tok; /* per window; 0 = unlimited */
    struct rl_entry *ring;
    size_t head, n, cap;
    int64_t tokens; /* sum of cost over the ring */
};

static int64_t scale(double per_min, int64_t window_ms)
{
    if (per_min <= 0)
        return 0;
    double w = floor(per_min * (double)window_ms / 60000.0);
    if (w < 1)
        return 1;
    return w > 9e15 ? (int64_t)9e15 : (int64_t)w;
}

int mocksrv__rl_new(double rpm, double tpm, int64_t window_ms, struct mocksrv__rl **out)
{
    struct mocksrv__rl *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return -1;
    if (pthread_mutex_init(&rl->lock, NULL) != 0) {
        free(rl);
        return -1;
    }
    rl->window_ms = window_ms;
    rl->rpm = rpm > 0 ? (int64_t)llround(rpm) : 0;
    rl->tpm = tpm > 0 ? (int64_t)llround(tpm) : 0;
    if (rpm > 0 && rl->rpm == 0)
        rl->rpm = 1; /* a sub-1 limit still reads as a limit */
    if (tpm > 0 && rl->tpm == 0)
        rl->tpm = 1;
    rl->lim_req = scale(rpm, window_ms);
    rl->lim_tok = scale(tpm, window_ms);
    *out = rl;
    return 0;
}

void mocksrv__rl_free(struct mocksrv__rl *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->ring);
    free(rl);
}

static struct rl_entry *at(struct mocksrv__rl *rl, size_t i)
{
    return &rl->ring[(rl->head + i) % rl->cap];
}

static void expire(struct mocksrv__rl *rl, int64_t now)
{
    while (rl->n > 0 && at(rl, 0)->t_ms + rl->window_ms <= now) {
        rl->tokens -= at(rl, 0)->cost;
        rl->head = (rl->head + 1) % rl->cap;
        rl->n--;
    }
}

static bool push(struct mocksrv__rl *rl, int64_t now, int64_t cost)
{
    if (rl->n == rl->cap) {
        size_t cap = rl->cap ? rl->cap * 2 : 64;
        struct rl_entry *r = malloc(cap * sizeof(*r));
        if (r == NULL)
            return false;
        for (size_t i = 0; i < rl->n; i++)
            r[i] = *at(rl, i);
        free(rl->ring);
        rl->ring = r;
        rl->head = 0;
        rl->cap = cap;
    }
    *at(rl, rl->n) = (struct rl_entry){.t_ms = now, .cost = cost};
    rl->n++;
    rl->tokens += cost;
    return true;
}

/* When the window becomes empty: its newest entry (with a cost, for the
 * token dimension) expires. */
static int64_t reset_ms(struct mocksrv__rl *rl, int64_t now, bool tokens)
{
    for (size_t i = rl->n; i > 0; i--) {
        const struct rl_entry *e = at(rl, i - 1);
        if (!tokens || e->cost > 0)
            return e->t_ms + rl->window_ms - now;
    }
    return 0;
}

void mocksrv__rl_check(struct mocksrv__rl *rl, int64_t now_ms, int64_t cost, bool consume,
                       struct mocksrv__rl_view *v)
{
    *v = (struct mocksrv__rl_view){.admitted = true, .cost = cost};
    if (cost < 0)
        cost = 0;
    pthread_mutex_lock(&rl->lock);
    if (rl->lim_req == 0 && rl->lim_tok == 0) {
        pthread_mutex_unlock(&rl->lock);
        return;
    }
    expire(rl, now_ms);
    if (consume) {
        if (rl->lim_req > 0 && (int64_t)rl->n + 1 > rl->lim_req) {
            /* Room comes when entry n - lim_req (0-based) expires. */
            v->admitted = false;
            v->cause = MOCKSRV__LIMIT_REQUESTS;
            v->retry_after_ms = at(rl, rl->n - (size_t)rl->lim_req)->t_ms + rl->window_ms - now_ms;
        } else if (rl->lim_tok > 0 && rl->tokens + cost > rl->lim_tok) {
            v->admitted = false;
            v->cause = MOCKSRV__LIMIT_TOKENS;
            if (cost > rl->lim_tok) {
                /* Never fits; tell the client when the window is empty,
                 * which is the best a retry can hope for. */
                v->too_large = true;
                v->retry_after_ms = rl->n > 0 ? reset_ms(rl, now_ms, true) : rl->window_ms;
            } else {
                int64_t left = rl->tokens;
                for (size_t i = 0; i < rl->n; i++) {
                    left -= at(rl, i)->cost;
                    if (left + cost <= rl->lim_tok) {
                        v->retry_after_ms = at(rl, i)->t_ms + rl->window_ms - now_ms;
                        break;
                    }
                }
            }
        } else if (rl->lim_req > 0 || cost > 0) {
            /* On OOM the request is still admitted, just not remembered:
             * better a lenient referee than a false 429. */
            (void)push(rl, now_ms, cost);
        }
        if (v->retry_after_ms < 1 && !v->admitted)
            v->retry_after_ms = 1;
    }
    v->has_requests = rl->lim_req > 0;
    v->has_tokens = rl->lim_tok > 0;
    v->requests_per_min = rl->rpm;
    v->tokens_per_min = rl->tpm;
    v->requests_window = rl->lim_req;
    v->tokens_window = rl->lim_tok;
    v->requests_remaining = rl->lim_req > (int64_t)rl->n ? rl->lim_req - (int64_t)rl->n : 0;
    v->tokens_remaining = rl->lim_tok > rl->tokens ? rl->lim_tok - rl->tokens : 0;
    v->requests_reset_ms = reset_ms(rl, now_ms, false);
    v->tokens_reset_ms = reset_ms(rl, now_ms, true);
    pthread_mutex_unlock(&rl->lock);
}
