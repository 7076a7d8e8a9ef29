/* libFuzzer target: the server's "wait this long" headers and the retry
 * decision (src/retry/retry.c, public API in llmorch/ext/retry.h).
 *
 * Input layout: [now 6 bytes][max_attempts][max_wait 2][flags][err]
 *               [status 2][attempts][retry-after-ms '\n' retry-after]
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
 * x-should-retry, and LLM_OK never is.
 * fuzz-max-len: 512 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmorch/ext/retry.h"

#define HEADER 15

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

    /* The two header values, NUL-terminated copies. */
    const char *text = (const char *)data + HEADER - 1;
    size_t n = size - HEADER;
    const char *nl = memchr(text, '\n', n);
    size_t n1 = nl != NULL ? (size_t)(nl - text) : n;
    size_t n2 = nl != NULL ? n - n1 - 1 : 0;
    char *h1 = malloc(n1 + 1), *h2 = malloc(n2 + 1);
    if (h1 == NULL || h2 == NULL)
        abort();
    memcpy(h1, text, n1);
    h1[n1] = '\0';
    memcpy(h2, nl != NULL ? nl + 1 : "", n2);
    h2[n2] = '\0';
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

    free(h1);
    free(h2);
    return 0;
}
