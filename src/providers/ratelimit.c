/* Parsers for rate-limit header values (see ratelimit.h).  Hand-written
 * rather than sscanf/strptime: those skip leading whitespace inside the
 * value, accept signs where the grammar has none, depend on the locale and
 * the TZ environment (timegm is not C11), and report overflow poorly. */
#include "providers/ratelimit.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"

#define NS_PER_MS INT64_C(1000000)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* [*begin, *end) without the optional whitespace around a field value. */
static void trim(const char *s, const char **begin, const char **end)
{
    while (is_ows(*s))
        s++;
    const char *e = s + strlen(s);
    while (e > s && is_ows(e[-1]))
        e--;
    *begin = s;
    *end = e;
}

/* ---- Go durations ----------------------------------------------------------- */

struct go_unit {
    const char *name;
    uint64_t ns;
};

/* As in Go's time.ParseDuration (unitMap), including both spellings of the
 * micro sign: U+00B5 and U+03BC. */
static const struct go_unit go_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xC2\xB5s", 1000},
    {"\xCE\xBCs", 1000},
    {"ms", 1000000},
    {"s", UINT64_C(1000000000)},
    {"m", UINT64_C(60) * 1000000000},
    {"h", UINT64_C(3600) * 1000000000},
};

static const struct go_unit *find_unit(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof(go_units) / sizeof(go_units[0]); i++) {
        if (strlen(go_units[i].name) == n && memcmp(go_units[i].name, p, n) == 0)
            return &go_units[i];
    }
    return NULL;
}

int64_t llm__parse_go_duration_ms(const char *s)
{
    if (s == NULL)
        return -1;
    const char *p, *end;
    trim(s, &p, &end);
    if (p < end && *p == '+')
        p++;
    /* A negative reset time means nothing to a caller, and -1 is the
     * "invalid" sentinel: reject the sign outright. */
    if (p == end || *p == '-')
        return -1;
    /* Go's one unit-less form. */
    if (end - p == 1 && *p == '0')
        return 0;

    const uint64_t max_ns = (uint64_t)INT64_MAX;
    uint64_t total_ns = 0;
    while (p < end) {
        /* [0-9]*(\.[0-9]*)?  with at least one digit overall. */
        uint64_t whole = 0;
        bool any_digit = false, overflow = false;
        while (p < end && is_digit(*p)) {
            unsigned d = (unsigned)(*p - '0');
            if (whole > (max_ns - d) / 10)
                overflow = true;
            else
                whole = whole * 10 + d;
            any_digit = true;
            p++;
        }
        uint64_t frac = 0;
        double scale = 1.0;
        if (p < end && *p == '.') {
            p++;
            while (p < end && is_digit(*p)) {
                /* Digits past what 64 bits hold add nothing a millisecond
                 * result could show; keep consuming them. */
                if (frac < UINT64_C(100000000000000000)) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10.0;
                }
                any_digit = true;
                p++;
            }
        }
        if (!any_digit || overflow)
            return -1;

        const char *u = p;
        while (p < end && *p != '.' && !is_digit(*p))
            p++;
        const struct go_unit *unit = find_unit(u, (size_t)(p - u));
        if (unit == NULL)
            return -1;

        if (whole > max_ns / unit->ns)
            return -1;
        uint64_t v = whole * unit->ns;
        if (frac > 0) {
            /* Float for the fraction, as Go does: exact for every value a
             * server realistically sends, and bounded below. */
            double f = (double)frac * ((double)unit->ns / scale);
            if (f >= (double)(max_ns - v))
                return -1;
            v += (uint64_t)f;
        }
        if (v > max_ns - total_ns)
            return -1;
        total_ns += v;
    }
    return (int64_t)((total_ns + (uint64_t)NS_PER_MS - 1) / (uint64_t)NS_PER_MS);
}

/* ---- RFC 3339 ------------------------------------------------------------------ */

/* Read exactly n digits at *p (advancing it); -1 if they are not there. */
static int read_digits(const char **p, const char *end, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || !is_digit(**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

static bool expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return false;
    (*p)++;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int64_t llm__parse_rfc3339_ms(const char *s)
{
    if (s == NULL)
        return -1;
    const char *p, *end;
    trim(s, &p, &end);

    int year = read_digits(&p, end, 4);
    if (year < 0 || !expect(&p, end, '-'))
        return -1;
    int month = read_digits(&p, end, 2);
    if (month < 1 || month > 12 || !expect(&p, end, '-'))
        return -1;
    int day = read_digits(&p, end, 2);
    if (day < 1 || day > days_in_month(year, month))
        return -1;
    if (p >= end || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    int hour = read_digits(&p, end, 2);
    if (hour < 0 || hour > 23 || !expect(&p, end, ':'))
        return -1;
    int minute = read_digits(&p, end, 2);
    if (minute < 0 || minute > 59 || !expect(&p, end, ':'))
        return -1;
    int second = read_digits(&p, end, 2);
    if (second < 0 || second > 60)
        return -1;

    int ms = 0;
    if (p < end && *p == '.') {
        p++;
        int n = 0;
        while (p < end && is_digit(*p)) {
            if (n < 3)
                ms = ms * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }

    int offset_min = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh = read_digits(&p, end, 2);
        if (oh < 0 || oh > 23 || !expect(&p, end, ':'))
            return -1;
        int om = read_digits(&p, end, 2);
        if (om < 0 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1; /* RFC 3339 requires an offset */
    }
    if (p != end)
        return -1;

    int64_t secs = llm__days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 +
                   (int64_t)minute * 60 + second - (int64_t)offset_min * 60;
    if (secs < 0)
        return -1;
    return secs * 1000 + ms;
}

int64_t llm__rfc3339_ms_from_now(const char *s, int64_t now_ms)
{
    int64_t t = llm__parse_rfc3339_ms(s);
    if (t < 0)
        return -1;
    if (now_ms < 0)
        now_ms = 0; /* a broken clock; also keeps t - now_ms from overflowing */
    return t > now_ms ? t - now_ms : 0;
}

/* ---- integers ------------------------------------------------------------------- */

int64_t llm__parse_header_int(const char *s)
{
    if (s == NULL)
        return -1;
    const char *p, *end;
    trim(s, &p, &end);
    if (p == end)
        return -1;
    int64_t v = 0;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return -1;
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    return v;
}
