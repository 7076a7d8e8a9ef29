/* Append-only JSON writer (see jsonout.h).  The formatting rules copy
 * cJSON 1.7.15's printer so that bodies written here are byte-identical
 * to the cJSON trees they replace; tests/unit/test_jsonout.c checks every
 * rule against the linked cJSON. */
#include "base/jsonout.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* Room for `n` more bytes plus the NUL that llm__jo_finish adds.  `exact`
 * (a reservation) allocates just that; appends double, so that a document
 * grows in O(log n) reallocations. */
static bool grow(struct llm__jo *w, size_t n, bool exact)
{
    if (n > SIZE_MAX - 1 - w->len)
        return false;
    return llm__grow(&w->data, &w->cap, w->len + n + 1, exact);
}

static void put(struct llm__jo *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    /* cap > len whenever data is set (grow keeps room for the NUL). */
    if (n >= w->cap - w->len && !grow(w, n, false)) {
        w->oom = true;
        return;
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void put_char(struct llm__jo *w, char c)
{
    /* The common case without a call: room for c and the final NUL. */
    if (!w->oom && w->cap - w->len >= 2) {
        w->data[w->len++] = c;
        return;
    }
    put(w, &c, 1);
}

/* Before a key, a value, or the start of a container. */
static void separate(struct llm__jo *w)
{
    if (w->comma)
        put_char(w, ',');
}

static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

#define BYTES(b) ((uint64_t)0x0101010101010101u * (b))

/* True if any byte of `v` needs escaping.  Exact as a yes/no answer (the
 * "has a byte less than n" and "has a zero byte" tests of Bit Twiddling
 * Hacks, with n = 0x20 <= 128), though not as to which byte. */
static bool word_needs_escape(uint64_t v)
{
    uint64_t q = v ^ BYTES('"');
    uint64_t b = v ^ BYTES('\\');
    uint64_t hits = ((v - BYTES(0x20)) & ~v) | ((q - BYTES(1)) & ~q) | ((b - BYTES(1)) & ~b);
    return (hits & BYTES(0x80)) != 0;
}

/* The first byte in [p, end) that needs escaping (with `stop_high`, or is
 * not ASCII), or end.  Eight bytes at a time, every read within the string
 * (prompts are long; this is most of the work of writing a body). */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end,
                                       bool stop_high)
{
    const uint64_t high = stop_high ? BYTES(0x80) : 0;
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        if (word_needs_escape(v) || (v & high) != 0)
            break;
        p += 8;
    }
    while (p < end && !needs_escape(*p) && !(stop_high && *p >= 0x80))
        p++;
    return p;
}

/* cJSON's print_string_ptr: '"' and '\\' and the five short escapes,
 * every other byte below 0x20 (NUL included) as \u00xx (lower-case hex),
 * everything else (DEL, '/', UTF-8 or not) as is.  In the writer's utf8
 * mode, well-formed UTF-8 is kept and each ill-formed sequence becomes
 * U+FFFD (base/util.h, llm__utf8_bad_len), so the output is valid
 * UTF-8 whatever the input bytes. */
static void put_escaped(struct llm__jo *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    while (p < end) {
        const unsigned char *run = p;
        p = skip_plain(p, end, w->utf8);
        if (p > run)
            put(w, run, (size_t)(p - run));
        if (p == end)
            return;
        if (*p >= 0x80) {
            /* Only in utf8 mode does skip_plain stop here. */
            size_t n = llm__utf8_seq_len(p, (size_t)(end - p));
            if (n > 0) {
                put(w, p, n);
            } else {
                put(w, "\xEF\xBF\xBD", 3);
                n = llm__utf8_bad_len(p, (size_t)(end - p));
            }
            p += n;
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xF];
            n = 6;
            break;
        }
        put(w, esc, n);
        p++;
    }
}

void llm__jo_reserve(struct llm__jo *w, size_t n)
{
    /* A hint: if it cannot be had, appends still try for what they need. */
    if (!w->oom)
        (void)grow(w, n, true);
}

void llm__jo_set_oom(struct llm__jo *w)
{
    w->oom = true;
}

void llm__jo_object_begin(struct llm__jo *w)
{
    separate(w);
    put_char(w, '{');
    w->comma = false;
}

void llm__jo_object_end(struct llm__jo *w)
{
    put_char(w, '}');
    w->comma = true;
}

void llm__jo_array_begin(struct llm__jo *w)
{
    separate(w);
    put_char(w, '[');
    w->comma = false;
}

void llm__jo_array_end(struct llm__jo *w)
{
    put_char(w, ']');
    w->comma = true;
}

void llm__jo_key(struct llm__jo *w, const char *key)
{
    separate(w);
    put_char(w, '"');
    put_escaped(w, key, strlen(key));
    put(w, "\":", 2);
    w->comma = false;
}

void llm__jo_string(struct llm__jo *w, const char *s)
{
    if (s == NULL) {
        llm__jo_null(w);
        return;
    }
    llm__jo_string_n(w, s, strlen(s));
}

void llm__jo_string_n(struct llm__jo *w, const char *s, size_t len)
{
    llm__jo_string_begin(w);
    put_escaped(w, s, len);
    llm__jo_string_end(w);
}

void llm__jo_string_begin(struct llm__jo *w)
{
    separate(w);
    put_char(w, '"');
    w->comma = false;
}

void llm__jo_string_part(struct llm__jo *w, const char *s)
{
    put_escaped(w, s, strlen(s));
}

void llm__jo_string_end(struct llm__jo *w)
{
    put_char(w, '"');
    w->comma = true;
}

void llm__jo_int(struct llm__jo *w, int64_t v)
{
    /* cJSON prints every number with "%1.15g", which for an integer below
     * 1e15 in magnitude is its plain decimal digits. */
    char buf[24];
    char *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    separate(w);
    put(w, p, (size_t)(buf + sizeof(buf) - p));
    w->comma = true;
}

/* cJSON's compare_double: equal within a relative DBL_EPSILON.  Not ==:
 * cJSON 1.7.15 accepts "%1.15g" when it reads back within one ulp or so
 * (0.1 + 0.2 prints as 0.3), and identical bytes mean the same test. */
static bool nearly_equal(double a, double b)
{
    double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= max * DBL_EPSILON;
}

static bool is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e';
}

void llm__jo_double(struct llm__jo *w, double d)
{
    if (!isfinite(d)) {
        llm__jo_null(w);
        return;
    }
    /* snprintf and strtod both follow LC_NUMERIC, so the read-back test is
     * consistent with itself in any locale; the locale's decimal point
     * (',' in de_DE, possibly several bytes elsewhere) is then replaced by
     * '.' on the way out, as cJSON does (it replaces the first byte
     * only).  "%g" of a finite double has no other bytes but digits, sign
     * and 'e'. */
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%1.15g", d);
    if (n > 0 && (size_t)n < sizeof(buf) && !nearly_equal(strtod(buf, NULL), d))
        n = snprintf(buf, sizeof(buf), "%1.17g", d);
    if (n <= 0 || (size_t)n >= sizeof(buf)) {
        w->oom = true; /* cannot happen: at most 24 bytes */
        return;
    }
    char out[sizeof(buf)];
    size_t k = 0;
    for (int i = 0; i < n;) {
        if (is_number_char(buf[i])) {
            out[k++] = buf[i++];
        } else {
            out[k++] = '.';
            while (i < n && !is_number_char(buf[i]))
                i++;
        }
    }
    separate(w);
    put(w, out, k);
    w->comma = true;
}

void llm__jo_bool(struct llm__jo *w, bool v)
{
    separate(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
    w->comma = true;
}

void llm__jo_null(struct llm__jo *w)
{
    separate(w);
    put(w, "null", 4);
    w->comma = true;
}

void llm__jo_raw(struct llm__jo *w, const char *json, size_t len)
{
    separate(w);
    put(w, json, len);
    w->comma = true;
}

char *llm__jo_finish(struct llm__jo *w, size_t *len_out)
{
    *len_out = 0;
    if (!w->oom && !grow(w, 0, true))
        w->oom = true;
    if (w->oom) {
        llm__jo_free(w);
        return NULL;
    }
    char *d = w->data;
    d[w->len] = '\0';
    *len_out = w->len;
    memset(w, 0, sizeof(*w));
    return d;
}

void llm__jo_free(struct llm__jo *w)
{
    free(w->data);
    memset(w, 0, sizeof(*w));
}
