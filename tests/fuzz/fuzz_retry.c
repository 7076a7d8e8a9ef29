/* libFuzzer target: the server's "wait this long" headers and the retry
 * decision (src/retry/retry.c, public API in llmorch/ext/retry.h) and the
 * engine's retry plan (src/retry/plan.c, llm__retry_plan).
 *
 * Input layout: [now 6 bytes][max_attempts][max_wait 2][flags][err]
 *               [status 2][attempts][later][mono_now 8][deadline 8]
 *               [prev_backoff 4][base 2][cap 2][jitter]
 *               [retry-after-ms '\n' retry-after '\n' x-should-retry]
 * flags: bit0 retry-after-ms absent (NULL), bit1 retry-after absent,
 *        bit2 retry_parse_errors, bit3 max_wait negative (no cap),
 *        bits4-5 x-should-retry absent / false / true.
 *
 * Checked: a wait is -1 or within [0, LLM_RETRY_AFTER_MAX_MS];
 * retry-after-ms wins whenever it parses on its own, otherwise the answer is
 * retry-after's; plain integers give exactly their value (x1000 for
 * seconds, clamped); whether a value parses does not depend on the clock,
 * and a later clock never gives a longer wait; the verdict follows the
 * documented order (classify -> attempts -> server wait -> retry), the
 * bill-only and client-side errors never become retryable through
 * x-should-retry, and LLM_OK never is.  The plan agrees with the decision;
 * a RETRY plan waits the server's time when there is one, never a negative
 * time, and never past the deadline; a stop carries an error.
 * fuzz-max-len: 512 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/backoff.h"
#include "llmorch/ext/retry.h"
#include "retry/plan.h"

#define HEADER 40

static int64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n; i-- > 0;)
        v = v << 8 | p[i];
    return (int64_t)(v & (uint64_t)INT64_MAX);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Value of a header that is only digits (with optional spaces/tabs around,
 * at most 15 digits), else -1. */
static int64_t plain_int(const char *s)
{
    if (s == NULL)
        return -1;
    size_t b = 0, e = strlen(s);
    while (b < e && is_ows(s[b]))
        b++;
    while (e > b && is_ows(s[e - 1]))
        e--;
    if (e == b || e - b > 15)
        return -1;
    int64_t v = 0;
    for (size_t i = b; i < e; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int64_t clamp(int64_t v)
{
    return v > LLM_RETRY_AFTER_MAX_MS ? LLM_RETRY_AFTER_MAX_MS : v;
}

static void check_wait(int64_t w)
{
    if (w < -1 || w > LLM_RETRY_AFTER_MAX_MS)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER || size > 4096)
        return 0;
    /* A wall clock from 1970 to ~10900: 48 bits of ms. */
    int64_t now = 0;
    for (int i = 0; i < 6; i++)
        now = now << 8 | data[i];
    data++; /* the fields below, as numbered for a 5-byte clock */
    unsigned max_attempts = data[5] % 12;
    int64_t max_wait = (int64_t)(data[6] | data[7] << 8) * 16;
    unsigned flags = data[8];
    if (flags & 8)
        max_wait = -1 - max_wait;
    enum llm_error err = (enum llm_error)(data[9] % 30);
    int status = (data[10] | data[11] << 8) % 700;
    unsigned attempts = 1 + data[12] % 12;
    int should_retry = (int)((flags >> 4) & 3) % 3 - 1;

    const uint8_t *q = data + 14; /* past the fields above (data was advanced by one) */
    int64_t mono_now = le(q, 8);
    int64_t deadline = (q[8] & 1) ? le(q + 8, 8) : 0;
    int64_t prev_backoff = le(q + 16, 4);
    int64_t base_ms = le(q + 20, 2), cap_ms = le(q + 22, 2);
    enum llm_jitter jitter = (enum llm_jitter)(q[24] % 4);

    /* The three header values, NUL-terminated copies of the lines of the
     * rest (a NUL inside a line ends that header early, as in C). */
    const char *text = (const char *)data + HEADER - 1;
    size_t n = size - HEADER;
    char *h[3];
    for (int k = 0; k < 3; k++) {
        const char *nl = memchr(text, '\n', n);
        size_t len = nl != NULL ? (size_t)(nl - text) : n;
        if ((h[k] = malloc(len + 1)) == NULL)
            abort();
        memcpy(h[k], text, len);
        h[k][len] = '\0';
        text += len < n ? len + 1 : len;
        n -= len < n ? len + 1 : len;
    }
    char *h1 = h[0], *h2 = h[1];
    const char *ms_hdr = (flags & 1) ? NULL : h1;
    const char *ra_hdr = (flags & 2) ? NULL : h2;

    int64_t w = llm_parse_retry_after_ms(ms_hdr, ra_hdr, now);
    int64_t w_ms = llm_parse_retry_after_ms(ms_hdr, NULL, now);
    int64_t w_ra = llm_parse_retry_after_ms(NULL, ra_hdr, now);
    check_wait(w);
    check_wait(w_ms);
    check_wait(w_ra);
    if (w != (w_ms >= 0 ? w_ms : w_ra))
        abort();
    int64_t v = plain_int(ms_hdr);
    if (v >= 0 && w_ms != clamp(v))
        abort();
    v = plain_int(ra_hdr);
    if (v >= 0 && w_ra != clamp(v * 1000))
        abort();
    /* Later clock: parses alike, never waits longer. */
    int64_t later = now + 1 + (int64_t)(data[13]) * 997;
    int64_t w_later = llm_parse_retry_after_ms(NULL, ra_hdr, later);
    if ((w_later >= 0) != (w_ra >= 0) || w_later > w_ra)
        abort();

    struct llm_retry_policy pol = {
        .max_attempts = max_attempts, .max_server_wait_ms = max_wait,
        .retry_parse_errors = (flags & 4) != 0};
    bool cls = llm_retry_classify(&pol, err, status, should_retry);
    enum llm_retry_verdict vd = llm_retry_decide(&pol, attempts, err, status, should_retry, w);
    unsigned eff_attempts = max_attempts > 0 ? max_attempts : 3;
    int64_t cap = max_wait != 0 ? max_wait : 60000;
    enum llm_retry_verdict want =
        !cls ? LLM_VERDICT_STOP_NOT_RETRYABLE
        : attempts >= eff_attempts ? LLM_VERDICT_STOP_MAX_ATTEMPTS
        : cap >= 0 && w > cap ? LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG
        : LLM_VERDICT_RETRY;
    if (vd != want)
        abort();
    if (cls && (err == LLM_OK || err == LLM_ERR_INSUFFICIENT_QUOTA || err == LLM_ERR_CANCELLED ||
                err == LLM_ERR_DEADLINE_EXCEEDED || err == LLM_ERR_QUEUE_FULL ||
                err == LLM_ERR_RETRY_BUDGET_EXHAUSTED || err == LLM_ERR_SERVER_WAIT_TOO_LONG ||
                err == LLM_ERR_OUT_OF_MEMORY || err == LLM_ERR_INTERNAL ||
                err == LLM_ERR_INVALID_ARGUMENT))
        abort();
    if (llm_retry_verdict_name(vd) == NULL)
        abort();
    /* The same decision without a policy is the defaults'. */
    struct llm_retry_policy def = {0};
    if (llm_retry_decide(NULL, attempts, err, status, should_retry, w) !=
        llm_retry_decide(&def, attempts, err, status, should_retry, w))
        abort();

    /* The engine's plan on the same failure, headers as received. */
    struct llm_header hv[3];
    size_t nh = 0;
    if (ms_hdr != NULL)
        hv[nh++] = (struct llm_header){"retry-after-ms", (char *)ms_hdr};
    if (ra_hdr != NULL)
        hv[nh++] = (struct llm_header){"Retry-After", (char *)ra_hdr};
    if (should_retry >= 0)
        hv[nh++] = (struct llm_header){"x-should-retry", h[2]};
    const struct llm_http_headers hh = {hv, nh};
    int sr = llm__should_retry(&hh);
    if (sr < -1 || sr > 1 || llm__retry_after(&hh, now) != w)
        abort();
    struct llm__retry_strategy st = {.policy = pol, .rng = (uint64_t)mono_now | 1};
    const struct llm_backoff_options bo = {.base_ms = base_ms, .cap_ms = base_ms + cap_ms,
                                           .jitter = jitter};
    /* Options the constructor refuses (a cap below the default base): the
     * defaults. */
    if ((llm_backoff_new_exponential(&bo, &st.backoff) != LLM_OK &&
         llm_backoff_new_exponential(NULL, &st.backoff) != LLM_OK) ||
        llm_retry_budget_new(NULL, &st.budget) != LLM_OK)
        abort();
    const struct llm__retry_input in = {
        .attempt = attempts, .err = err != LLM_OK ? err : LLM_ERR_SERVER_ERROR, .status = status,
        .headers = &hh, .server_wait_ms = w, .prev_backoff_ms = prev_backoff,
        .now_mono_us = mono_now, .deadline_mono_us = deadline,
        .delivered_delta = (flags & 0x40) != 0};
    struct llm__retry_plan plan;
    llm__retry_plan(&st, &in, &plan);
    if ((unsigned)plan.verdict > LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG)
        abort();
    enum llm_retry_verdict dv =
        in.delivered_delta ? LLM_VERDICT_STOP_NOT_RETRYABLE
                           : llm_retry_decide(&pol, attempts, in.err, status, sr, w);
    if (dv != LLM_VERDICT_RETRY && plan.verdict != dv)
        abort();
    if (plan.verdict == LLM_VERDICT_RETRY) {
        if (plan.delay_ms < 0 || plan.server_directed != (w >= 0) ||
            (w >= 0 && plan.delay_ms != w) || plan.final_message != NULL ||
            (deadline != 0 &&
             (__int128)mono_now + (__int128)plan.delay_ms * 1000 >= (__int128)deadline))
            abort();
    } else if (plan.final_error == LLM_OK) {
        abort();
    }
    free(plan.final_message);
    llm__retry_strategy_clear(&st);

    for (int k = 0; k < 3; k++)
        free(h[k]);
    return 0;
}
