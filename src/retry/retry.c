/* Retry budget (token bucket), Retry-After parsing and the retry decision.
 *
 * The parsers are written by hand rather than with strtod/strptime: both of
 * those follow the process's C locale (a host that calls setlocale() for
 * German would read "1.5" as 1 and reject "Wed"), and timegm() is not
 * standard C. */
#include "llmorch/ext/retry.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/errors.h"
#include "base/util.h"
#include "retry/plan.h"

/* ---- retry budget ---------------------------------------------------------- */

#define DEFAULT_CAPACITY 500
#define DEFAULT_RETRY_COST 5
#define DEFAULT_TIMEOUT_RETRY_COST 10
#define DEFAULT_SUCCESS_REFUND 1

struct llm_retry_budget {
    int64_t capacity;
    int64_t retry_cost;
    int64_t timeout_retry_cost;
    int64_t success_refund;
    int64_t available;           /* 0..capacity */
};

enum llm_error llm_retry_budget_new(const struct llm_retry_budget_options *o,
                                    struct llm_retry_budget **out)
{
    if (out != NULL)
        *out = NULL;
    struct llm_retry_budget_options d = {0};
    if (o != NULL)
        d = *o;
    if (out == NULL || d.capacity < 0 || d.retry_cost < 0 || d.timeout_retry_cost < 0 ||
        d.success_refund < 0)
        return LLM_ERR_INVALID_ARGUMENT;
    struct llm_retry_budget *b = malloc(sizeof(*b));
    if (b == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    b->capacity = d.capacity > 0 ? d.capacity : DEFAULT_CAPACITY;
    b->retry_cost = d.retry_cost > 0 ? d.retry_cost : DEFAULT_RETRY_COST;
    b->timeout_retry_cost = d.timeout_retry_cost > 0 ? d.timeout_retry_cost
                                                     : DEFAULT_TIMEOUT_RETRY_COST;
    b->success_refund = d.success_refund > 0 ? d.success_refund : DEFAULT_SUCCESS_REFUND;
    b->available = b->capacity;
    *out = b;
    return LLM_OK;
}

bool llm_retry_budget_try_spend(struct llm_retry_budget *b, enum llm_error cause)
{
    if (b == NULL)
        return true;
    /* A timeout costs more (AWS: the server may still be working on the
     * request, so the retry adds load twice). */
    int64_t cost = cause == LLM_ERR_TIMEOUT ? b->timeout_retry_cost : b->retry_cost;
    if (b->available < cost)
        return false;
    b->available -= cost;
    return true;
}

void llm_retry_budget_refund_success(struct llm_retry_budget *b)
{
    if (b == NULL)
        return;
    b->available = b->capacity - b->available < b->success_refund ? b->capacity
                                                                  : b->available + b->success_refund;
}

int64_t llm_retry_budget_available(const struct llm_retry_budget *b)
{
    return b != NULL ? b->available : 0;
}

void llm_retry_budget_free(struct llm_retry_budget *b)
{
    free(b);
}

/* ---- Retry-After ------------------------------------------------------------ */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Trim optional whitespace; returns the length of s[*start..). */
static size_t trim(const char *s, size_t *start)
{
    size_t b = 0, e = strlen(s);
    while (b < e && is_ows(s[b]))
        b++;
    while (e > b && is_ows(s[e - 1]))
        e--;
    *start = b;
    return e - b;
}

/* A decimal number of units ("30", "1.5", "-2", ".25") converted to ms with
 * `ms_per_unit`, rounded up, negatives giving 0 and large values clamped
 * to LLM_RETRY_AFTER_MAX_MS.  Returns -1 unless the whole of s[0..n) is
 * such a number. */
static int64_t parse_number_ms(const char *s, size_t n, int64_t ms_per_unit)
{
    size_t i = 0;
    bool negative = false;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        negative = s[i++] == '-';
    /* Integer part, saturating: past the clamp the exact value is moot. */
    int64_t whole = 0;
    size_t digits = 0;
    for (; i < n && is_digit(s[i]); i++, digits++) {
        if (whole <= LLM_RETRY_AFTER_MAX_MS)
            whole = whole * 10 + (s[i] - '0');
    }
    /* Fraction: up to 9 digits kept exactly, any further non-zero digit
     * only forces rounding up. */
    int64_t frac = 0, scale = 1;
    bool more = false;
    if (i < n && s[i] == '.') {
        i++;
        for (; i < n && is_digit(s[i]); i++, digits++) {
            if (scale < 1000000000) {
                frac = frac * 10 + (s[i] - '0');
                scale *= 10;
            } else if (s[i] != '0') {
                more = true;
            }
        }
    }
    if (i != n || digits == 0)
        return -1;
    if (negative)
        return 0;
    if (whole > LLM_RETRY_AFTER_MAX_MS / ms_per_unit)
        return LLM_RETRY_AFTER_MAX_MS;
    /* frac * ms_per_unit <= 1e9 * 1000: no overflow. */
    int64_t part = frac * ms_per_unit;
    int64_t ms = whole * ms_per_unit + part / scale + (part % scale != 0 || more ? 1 : 0);
    return ms > LLM_RETRY_AFTER_MAX_MS ? LLM_RETRY_AFTER_MAX_MS : ms;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s starts with `lit` (ASCII case-insensitive). */
static bool starts_with(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (k > n)
        return false;
    for (size_t i = 0; i < k; i++) {
        if (lower(s[i]) != lit[i])
            return false;
    }
    return true;
}

static const char *const day_abbr[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const day_full[] = {"monday", "tuesday", "wednesday", "thursday",
                                       "friday", "saturday", "sunday"};
static const char *const month_abbr[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};

/* A cursor over the date text. */
struct cur {
    const char *s;
    size_t n, i;
};

static bool lit(struct cur *c, const char *l)
{
    size_t k = strlen(l);
    if (!starts_with(c->s + c->i, c->n - c->i, l))
        return false;
    c->i += k;
    return true;
}

/* Exactly `width` digits. */
static bool num(struct cur *c, size_t width, int *out)
{
    int v = 0;
    for (size_t k = 0; k < width; k++) {
        if (c->i >= c->n || !is_digit(c->s[c->i]))
            return false;
        v = v * 10 + (c->s[c->i++] - '0');
    }
    *out = v;
    return true;
}

static bool one_of(struct cur *c, const char *const *names, size_t count, int *index)
{
    for (size_t k = 0; k < count; k++) {
        if (lit(c, names[k])) {
            *index = (int)k;
            return true;
        }
    }
    return false;
}

/* "HH:MM:SS" */
static bool clock_time(struct cur *c, int *h, int *m, int *sec)
{
    return num(c, 2, h) && lit(c, ":") && num(c, 2, m) && lit(c, ":") && num(c, 2, sec);
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* An HTTP-date (RFC 9110 section 5.6.7) in any of its three forms, as ms
 * since the epoch.  The weekday is checked for spelling only. */
static bool parse_http_date(const char *s, size_t n, int64_t *out_ms)
{
    struct cur c = {s, n, 0};
    int wday, day = 0, mon = 0, year = 0, h = 0, m = 0, sec = 0;
    bool ok;
    if (one_of(&c, day_full, 7, &wday)) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        int yy = 0;
        ok = lit(&c, ", ") && num(&c, 2, &day) && lit(&c, "-") &&
             one_of(&c, month_abbr, 12, &mon) && lit(&c, "-") && num(&c, 2, &yy) &&
             lit(&c, " ") && clock_time(&c, &h, &m, &sec) && lit(&c, " gmt");
        /* Two-digit years: RFC 9110 wants the most recent past year with
         * those digits within 50 years; for waits, 2000-2069 / 1970-1999
         * is the same answer until 2050. */
        year = yy < 70 ? 2000 + yy : 1900 + yy;
    } else if (one_of(&c, day_abbr, 7, &wday)) {
        if (lit(&c, ", ")) {
            /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
            ok = num(&c, 2, &day) && lit(&c, " ") && one_of(&c, month_abbr, 12, &mon) &&
                 lit(&c, " ") && num(&c, 4, &year) && lit(&c, " ") &&
                 clock_time(&c, &h, &m, &sec) && lit(&c, " gmt");
        } else {
            /* asctime: "Sun Nov  6 08:49:37 1994" */
            ok = lit(&c, " ") && one_of(&c, month_abbr, 12, &mon) && lit(&c, " ");
            if (ok && c.i < c.n && c.s[c.i] == ' ') {
                c.i++;
                ok = num(&c, 1, &day);
            } else {
                ok = ok && num(&c, 2, &day);
            }
            ok = ok && lit(&c, " ") && clock_time(&c, &h, &m, &sec) && lit(&c, " ") &&
                 num(&c, 4, &year);
        }
    } else {
        return false;
    }
    if (!ok || c.i != c.n)
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int dim = mdays[mon] + (mon == 1 && leap(year));
    if (day < 1 || day > dim || h > 23 || m > 59 || sec > 60)
        return false;
    int64_t days = llm__days_from_civil(year, mon + 1, day);
    *out_ms = ((days * 24 + h) * 60 + m) * 60 * 1000 + (int64_t)sec * 1000;
    return true;
}

/* Wait until `when_ms` from `now_ms`: 0 if past, clamped, overflow-free
 * for any now_ms. */
static int64_t wait_until(int64_t when_ms, int64_t now_ms)
{
    if (now_ms >= when_ms)
        return 0;
    /* when_ms is within a few 10^14 of 0, so this subtraction is safe. */
    if (now_ms <= when_ms - LLM_RETRY_AFTER_MAX_MS)
        return LLM_RETRY_AFTER_MAX_MS;
    return when_ms - now_ms;
}

int64_t llm_parse_retry_after_ms(const char *retry_after_ms_hdr, const char *retry_after_hdr,
                                 int64_t now_wall_ms)
{
    size_t b, n;
    if (retry_after_ms_hdr != NULL) {
        n = trim(retry_after_ms_hdr, &b);
        int64_t ms = parse_number_ms(retry_after_ms_hdr + b, n, 1);
        if (ms >= 0)
            return ms;
    }
    if (retry_after_hdr != NULL) {
        n = trim(retry_after_hdr, &b);
        int64_t ms = parse_number_ms(retry_after_hdr + b, n, 1000);
        if (ms >= 0)
            return ms;
        int64_t when;
        if (parse_http_date(retry_after_hdr + b, n, &when))
            return wait_until(when, now_wall_ms);
    }
    return -1;
}

/* ASCII case-insensitive: s[0..n) equals the lowercase literal `lit`. */
static bool token_eq(const char *s, size_t n, const char *lit)
{
    if (n != strlen(lit))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != lit[i])
            return false;
    }
    return true;
}

/* The one parser of the server's own retry verdict (OpenAI and Anthropic
 * send it; their SDKs obey it over the status): exactly "true" or "false",
 * any case, surrounding spaces ignored. */
int llm__should_retry(const struct llm_http_headers *h)
{
    const char *v = llm_http_headers_get(h, "x-should-retry");
    if (v == NULL)
        return -1;
    size_t b, n = trim(v, &b);
    if (token_eq(v + b, n, "true"))
        return 1;
    if (token_eq(v + b, n, "false"))
        return 0;
    return -1;
}

int64_t llm__retry_after(const struct llm_http_headers *h, int64_t now_wall_ms)
{
    return llm_parse_retry_after_ms(llm_http_headers_get(h, "retry-after-ms"),
                                    llm_http_headers_get(h, "retry-after"), now_wall_ms);
}

/* ---- the decision ------------------------------------------------------------ */

#define DEFAULT_MAX_ATTEMPTS 3u
#define DEFAULT_MAX_SERVER_WAIT_MS 60000

bool llm_retry_classify(const struct llm_retry_policy *p, enum llm_error err, int http_status,
                        int should_retry)
{
    enum llm__retry_kind k = llm__error_retry_kind(err);
    if (k == LLM__RETRY_NEVER)
        return false;
    if (should_retry == 0 || should_retry == 1)
        return should_retry == 1;
    if (k == LLM__RETRY_BY_STATUS)
        return llm__status_retryable(http_status) || (p != NULL && p->retry_parse_errors);
    return k == LLM__RETRY_YES;
}

enum llm_retry_verdict llm_retry_decide(const struct llm_retry_policy *p,
                                        unsigned attempts_made, enum llm_error err,
                                        int http_status, int should_retry,
                                        int64_t server_wait_ms)
{
    unsigned max_attempts = p != NULL && p->max_attempts > 0 ? p->max_attempts
                                                             : DEFAULT_MAX_ATTEMPTS;
    int64_t max_wait = p != NULL && p->max_server_wait_ms != 0 ? p->max_server_wait_ms
                                                               : DEFAULT_MAX_SERVER_WAIT_MS;
    if (!llm_retry_classify(p, err, http_status, should_retry))
        return LLM_VERDICT_STOP_NOT_RETRYABLE;
    if (attempts_made >= max_attempts)
        return LLM_VERDICT_STOP_MAX_ATTEMPTS;
    if (max_wait >= 0 && server_wait_ms > max_wait)
        return LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG;
    return LLM_VERDICT_RETRY;
}

const char *llm_retry_verdict_name(enum llm_retry_verdict v)
{
    switch (v) {
    case LLM_VERDICT_RETRY:
        return "RETRY";
    case LLM_VERDICT_STOP_NOT_RETRYABLE:
        return "STOP_NOT_RETRYABLE";
    case LLM_VERDICT_STOP_MAX_ATTEMPTS:
        return "STOP_MAX_ATTEMPTS";
    case LLM_VERDICT_STOP_SERVER_WAIT_TOO_LONG:
        return "STOP_SERVER_WAIT_TOO_LONG";
    }
    return "UNKNOWN";
}
