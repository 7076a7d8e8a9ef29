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

/* Strings are scanned with SSE2 where the compiler has it (every x86-64);
 * LLM__JO_NO_SIMD keeps the portable word-at-a-time code (test_jsonout_swar
 * tests that way). */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(LLM__JO_NO_SIMD)
#include <emmintrin.h>
#define JO_SSE2 1
#endif

#include "base/util.h"

/* Room for `n` more bytes plus the NUL that llm__jo_finish adds.  `exact`
 * (a reservation) allocates just that; appends double, so that a document
 * grows in O(log n) reallocations. */
static bool grow(struct llm__jo *w, size_t n, bool exact)
{
    if (n > SIZE_MAX - 1 - w->len)
        return false;
    if (w->data == NULL) {
        /* The first allocation (a body's reservation): malloc, not the
         * longer way through realloc(NULL). */
        size_t need = w->len + n + 1;
        size_t cap = exact ? need : llm__grow_cap(0, need);
        if ((w->data = malloc(cap)) == NULL)
            return false;
        w->cap = cap;
        return true;
    }
    return llm__grow(&w->data, &w->cap, w->len + n + 1, exact);
}

bool llm__jo_grow(struct llm__jo *w, size_t n)
{
    if (w->oom)
        return false;
    if (!grow(w, n, false)) {
        w->oom = true;
        return false;
    }
    return true;
}

/* memcpy for the short runs most of a body is made of (keys, roles, model
 * names): a few moves inline instead of a call into libc. */
static inline void copy(char *d, const unsigned char *s, size_t n)
{
    if (n > 32) {
        memcpy(d, s, n);
    } else if (n >= 16) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = (char)s[0];
        d[n / 2] = (char)s[n / 2];
        d[n - 1] = (char)s[n - 1];
    }
}

static void put(struct llm__jo *w, const void *p, size_t n)
{
    if (!llm__jo_room(w, n))
        return;
    copy(w->data + w->len, p, n);
    w->len += n;
}

static void put_char(struct llm__jo *w, char c)
{
    if (llm__jo_room(w, 1))
        w->data[w->len++] = c;
}

/* Before a value that is not a string or container. */
static void separate(struct llm__jo *w)
{
    if (w->comma)
        put_char(w, ',');
}

/* The separating ',' if one is due, and `c`. */
static void open_with(struct llm__jo *w, char c)
{
    if (!llm__jo_room(w, 2))
        return;
    char *d = w->data + w->len;
    *d = ',';
    d += w->comma;
    *d++ = c;
    w->len = (size_t)(d - w->data);
}

static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

#ifndef JO_SSE2
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
#endif

#ifdef JO_SSE2
/* Bit i set if byte i of `v` needs escaping (or, with `high` 0xFFFF, is
 * not ASCII). */
static inline unsigned special_lanes(__m128i v, unsigned high)
{
    /* min(v, 0x1F) == v: the unsigned bytes <= 0x1F. */
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v));
    return (unsigned)_mm_movemask_epi8(hit) | ((unsigned)_mm_movemask_epi8(v) & high);
}

static inline unsigned special16(const unsigned char *p, unsigned high)
{
    return special_lanes(_mm_loadu_si128((const __m128i *)(const void *)p), high);
}

/* The 8 bytes at p only (movq): the zeroed upper lanes are masked off. */
static inline unsigned special8(const unsigned char *p, unsigned high)
{
    return special_lanes(_mm_loadl_epi64((const __m128i *)(const void *)p), high) & 0xFFu;
}

/* The 4 bytes at p only. */
static inline unsigned special4(const unsigned char *p, unsigned high)
{
    int32_t v;
    memcpy(&v, p, sizeof(v));
    return special_lanes(_mm_cvtsi32_si128(v), high) & 0xFu;
}
#endif

/* The first byte in [p, end) that needs escaping (with `stop_high`, or is
 * not ASCII), or end.  Sixteen bytes at a time with SSE2 (every x86-64),
 * then one check of 8 or 4; else eight bytes at a time; every read within
 * the string (prompts are long; this is most of the work of writing a
 * body).  The last block is read overlapping the one before, whose bytes
 * are known plain, so that its first flagged byte is the first after p:
 * no byte loop for the tail of a string of 4 (SSE2) or 8 bytes or more. */
static inline const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end,
                                              bool stop_high)
{
#ifdef JO_SSE2
    const unsigned high = stop_high ? 0xFFFFu : 0;
    unsigned mask;
    if (end - p >= 16) {
        for (;;) {
            if ((mask = special16(p, high)) != 0)
                return p + __builtin_ctz(mask);
            p += 16;
            if (end - p < 16)
                break;
        }
        if (p == end)
            return end;
        const unsigned char *last = end - 16;
        mask = special16(last, high);
        return mask != 0 ? last + __builtin_ctz(mask) : end;
    }
    if (end - p >= 8) {
        if ((mask = special8(p, high)) != 0)
            return p + __builtin_ctz(mask);
        mask = special8(end - 8, high);
        return mask != 0 ? end - 8 + __builtin_ctz(mask) : end;
    }
    if (end - p >= 4) {
        if ((mask = special4(p, high)) != 0)
            return p + __builtin_ctz(mask);
        mask = special4(end - 4, high);
        return mask != 0 ? end - 4 + __builtin_ctz(mask) : end;
    }
#else
    const uint64_t high = stop_high ? BYTES(0x80) : 0;
    if (end - p >= 8) {
        for (;;) {
            uint64_t v;
            memcpy(&v, p, sizeof(v));
            if (word_needs_escape(v) || (v & high) != 0)
                break;
            p += 8;
            if (end - p < 8) {
                if (p == end)
                    return end;
                memcpy(&v, end - 8, sizeof(v));
                if (!word_needs_escape(v) && (v & high) == 0)
                    return end;
                break;
            }
        }
    }
#endif
    while (p < end && !needs_escape(*p) && !(stop_high && *p >= 0x80))
        p++;
    return p;
}

/* cJSON's print_string_ptr: '"' and '\\' and the five short escapes,
 * every other byte below 0x20 (NUL included) as \u00xx (lower-case hex),
 * everything else (DEL, '/', UTF-8 or not) as is.  In the writer's utf8
 * mode, well-formed UTF-8 is kept and each ill-formed sequence becomes
 * U+FFFD (base/util.h, llm__utf8_bad_len), so the output is valid
 * UTF-8 whatever the input bytes.
 *
 * One room check per run of plain bytes, for the run and what may follow
 * it (an escape, a UTF-8 sequence or U+FFFD: at most 6 bytes; or the
 * closing quote), then plain stores. */
static __attribute__((noinline)) void put_escaped_from(struct llm__jo *w, const unsigned char *p,
                                                       const unsigned char *run,
                                                       const unsigned char *end);

static void put_escaped(struct llm__jo *w, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    const unsigned char *run = skip_plain(p, end, w->utf8);
    if (run == end) {
        /* Nothing to escape, the common case: one check, one copy (and
         * room for the closing quote that usually follows). */
        if (len < SIZE_MAX - 1 && llm__jo_room(w, len + 1)) {
            copy(w->data + w->len, p, len);
            w->len += len;
        }
        return;
    }
    put_escaped_from(w, p, run, end);
}

/* The rest of put_escaped, from `p` whose plain bytes end at `run`. */
static void put_escaped_from(struct llm__jo *w, const unsigned char *p, const unsigned char *run,
                             const unsigned char *end)
{
    static const char hex[] = "0123456789abcdef";
    for (;;) {
        size_t n = (size_t)(run - p);
        if (n > SIZE_MAX - 6 || !llm__jo_room(w, n + 6))
            return;
        char *d = w->data + w->len;
        copy(d, p, n);
        d += n;
        p = run;
        if (p == end) {
            w->len = (size_t)(d - w->data);
            return;
        }
        if (*p >= 0x80) {
            /* Only in utf8 mode does skip_plain stop here. */
            size_t k = llm__utf8_seq_len(p, (size_t)(end - p));
            if (k > 0) {
                memcpy(d, p, k);
                d += k;
            } else {
                memcpy(d, "\xEF\xBF\xBD", 3);
                d += 3;
                k = llm__utf8_bad_len(p, (size_t)(end - p));
            }
            p += k;
            w->len = (size_t)(d - w->data);
            run = skip_plain(p, end, w->utf8);
            continue;
        }
        *d++ = '\\';
        switch (*p) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = hex[*p >> 4];
            *d++ = hex[*p & 0xF];
            break;
        }
        p++;
        w->len = (size_t)(d - w->data);
        run = skip_plain(p, end, w->utf8);
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

void llm__jo_key(struct llm__jo *w, const char *key)
{
    open_with(w, '"');
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
    open_with(w, '"');
    put_escaped(w, s, len);
    put_char(w, '"');
    w->comma = true;
}

void llm__jo_string_begin(struct llm__jo *w)
{
    open_with(w, '"');
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
    /* Room for the NUL: there always is once anything was written. */
    if (!w->oom && w->len >= w->cap && !grow(w, 0, true))
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
