/* libFuzzer target: rate-limit response headers of both providers
 * (src/providers/ratelimit.c and each provider's read_rate_limits slot).
 *
 * Input: header values separated by '\n'.  Value i goes to header name
 * i % N of the OpenAI x-ratelimit-* and Anthropic anthropic-ratelimit-*
 * names, and every value also goes straight to each parser of
 * ratelimit.h.
 *
 * Checked: every slot output is -1 or >= 0; llm__parse_header_int equals a
 * plain reference (digits with optional spaces/tabs around, within
 * int64); llm__parse_go_duration_ms is exact on "<n>s" / "<n>ms" / "0";
 * llm__parse_rfc3339_ms equals timegm() on the plain
 * "YYYY-MM-DDTHH:MM:SSZ" form and rejects impossible dates;
 * llm__rfc3339_ms_from_now is max(0, t - now) or -1.
 *
 * The same lines are also header NAMES of a second set: the one-walk
 * family reader (llm__http_headers_get_family, which the read_rate_limits
 * slots use) equals one llm_http_headers_get per name, and
 * llm_http_headers_get equals a plain ASCII case-insensitive reference.
 * fuzz-max-len: 2048 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmorch/ext/provider.h"
#include "providers/ratelimit.h"
#include "transport/headers.h"

static const char *const names[] = {
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset",
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))
#define MAX_VALUES 64

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* [b, e) of s without surrounding spaces and tabs. */
static void trim(const char *s, size_t *b, size_t *e)
{
    *b = 0;
    *e = strlen(s);
    while (*b < *e && is_ows(s[*b]))
        (*b)++;
    while (*e > *b && is_ows(s[*e - 1]))
        (*e)--;
}

static int64_t ref_int(const char *s)
{
    size_t b, e;
    trim(s, &b, &e);
    if (b == e)
        return -1;
    int64_t v = 0;
    for (size_t i = b; i < e; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    return v;
}

/* "<digits>s", "<digits>ms" or "0" (at most 9 digits), else -2. */
static int64_t ref_duration(const char *s)
{
    size_t b, e;
    trim(s, &b, &e);
    size_t i = b;
    int64_t v = 0;
    while (i < e && i - b < 10 && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (s[i++] - '0');
    if (i == b || i - b > 9)
        return -2;
    if (i == e)
        return e - b == 1 && s[b] == '0' ? 0 : -2;
    if (e - i == 1 && s[i] == 's')
        return v * 1000;
    if (e - i == 2 && s[i] == 'm' && s[i + 1] == 's')
        return v;
    return -2;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The plain "YYYY-MM-DDTHH:MM:SSZ" form: -2 if s is not of that shape,
 * -1 if it is but names an impossible time or one before 1970, else ms. */
static int64_t ref_rfc3339(const char *s)
{
    size_t b, e;
    trim(s, &b, &e);
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (e - b != sizeof(shape) - 1)
        return -2;
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        char c = s[b + i];
        if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i])
            return -2;
    }
    int y, mo, d, h, mi, se;
    if (sscanf(s + b, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
        return -2;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 ||
        mi > 59 || se > 60 || y < 1970)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = se};
    return (int64_t)timegm(&tm) * 1000;
}

/* ASCII case-insensitive equality, the obvious way. */
static bool ref_name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = *a >= 'A' && *a <= 'Z' ? *a + 32 : (unsigned char)*a;
        int cb = *b >= 'A' && *b <= 'Z' ? *b + 32 : (unsigned char)*b;
        if (ca != cb)
            return false;
        if (ca == 0)
            return true;
    }
}

static const char *ref_get(const struct llm_header *hs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (ref_name_eq(hs[i].name, name))
            return hs[i].value;
    return NULL;
}

/* The family reader against single lookups, for `prefix` + names[from..to). */
static void check_family(const struct llm_http_headers *h, const char *prefix, size_t from,
                         size_t to)
{
    const char *suffixes[N_NAMES], *got[N_NAMES];
    size_t plen = strlen(prefix);
    for (size_t j = from; j < to; j++)
        suffixes[j - from] = names[j] + plen;
    llm__http_headers_get_family(h, prefix, suffixes, to - from, got);
    for (size_t j = from; j < to; j++) {
        const char *want = ref_get(h->items, h->n, names[j]);
        if (got[j - from] != want || llm_http_headers_get(h, names[j]) != want)
            abort();
    }
}

static void check_info(const struct llm_rate_limit_info *r)
{
    const int64_t *f = &r->limit_requests;
    for (size_t i = 0; i < sizeof(*r) / sizeof(int64_t); i++)
        if (f[i] < -1)
            abort();
}

/* Built once: a provider is immutable after creation (provider.h), so
 * sharing it between inputs carries no state from one to the next. */
static struct llm_provider *providers[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const struct llm_provider_options opts = {.base_url = "http://127.0.0.1:1", .api_key = ""};
    if (llm_provider_new_openai(&opts, &providers[0]) != LLM_OK ||
        llm_provider_new_anthropic(&opts, &providers[1]) != LLM_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    struct llm_header hdrs[MAX_VALUES];
    size_t n = 0;
    for (char *line = text; line != NULL && n < MAX_VALUES;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        hdrs[n].name = (char *)names[n % N_NAMES];
        hdrs[n].value = line;
        n++;
        line = nl != NULL ? nl + 1 : NULL;
    }
    const int64_t now = 1736950000000; /* 2025-01-15T14:06:40Z */
    for (size_t i = 0; i < n; i++) {
        const char *v = hdrs[i].value;
        int64_t got = llm__parse_header_int(v);
        if (got != ref_int(v))
            abort();
        got = llm__parse_go_duration_ms(v);
        int64_t want = ref_duration(v);
        if (got < -1 || (want != -2 && got != want))
            abort();
        got = llm__parse_rfc3339_ms(v);
        want = ref_rfc3339(v);
        if (got < -1 || (want != -2 && got != want))
            abort();
        int64_t rel = llm__rfc3339_ms_from_now(v, now);
        if (rel != (got < 0 ? -1 : got > now ? got - now : 0))
            abort();
    }

    const struct llm_http_headers h = {hdrs, n};
    for (int k = 0; k < 2; k++) {
        const struct llm_provider *p = providers[k];
        struct llm_rate_limit_info info;
        memset(&info, 0xff, sizeof(info)); /* every field -1, as the engine presets */
        p->vtable->read_rate_limits(p, &h, &info);
        check_info(&info);
    }

    /* The lines as names; each value distinct (results compare by address). */
    struct llm_header named[MAX_VALUES];
    char vals[MAX_VALUES][4];
    for (size_t i = 0; i < n; i++) {
        snprintf(vals[i], sizeof(vals[i]), "%zu", i);
        named[i] = (struct llm_header){.name = hdrs[i].value, .value = vals[i]};
    }
    const struct llm_http_headers h2 = {named, n};
    check_family(&h2, "x-ratelimit-", 0, 6);
    check_family(&h2, "anthropic-ratelimit-", 6, N_NAMES);
    for (size_t i = 0; i < n; i++)
        if (llm_http_headers_get(&h2, named[i].name) != ref_get(named, n, named[i].name))
            abort();
    free(text);
    return 0;
}
