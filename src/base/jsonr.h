/* A strict, allocation-free JSON pull reader for the hot path: reading the
 * few fields of a successful reply (OpenAI's content, finish_reason, id,
 * model and usage) without building a tree.
 *
 * Why not cJSON here: cJSON builds a node per value and copies every key
 * and string, about 50 malloc/free pairs for a 364-byte reply; callgrind
 * put that at ~30,000 instructions of the ~141,000 the library spends per
 * request (bench/profile.sh).  None of the project's dependencies reads
 * JSON without allocating, so this reader does, and only this: it never
 * replaces cJSON as the arbiter.  It accepts a SUBSET of what cJSON
 * accepts -- RFC 8259 syntax, with these extra refusals: nesting deeper
 * than LLM__JR_MAX_DEPTH, numbers of 63 characters or more (cJSON's
 * number buffer), "\u0000", unpaired surrogates -- and whatever it refuses
 * (r->bad) the caller hands to cJSON, which then decides, with its own
 * error messages.  So a body is either read here exactly as cJSON would
 * read it, or read by cJSON.  tests/unit/test_jsonr.c, the differential
 * test in tests/unit/test_openai_read.c and tests/fuzz/ hold it to that.
 *
 * Header-only (static inline): the compiler inlines the small steps into
 * the caller's loop (a third less than calling them in a separate
 * translation unit, by callgrind).
 *
 * Usage: llm__jr_init, then llm__jr_peek / llm__jr_enter_object +
 * llm__jr_next_key / llm__jr_enter_array + llm__jr_next_item /
 * llm__jr_string / llm__jr_uint / llm__jr_skip, then llm__jr_finish.
 * Every call is a no-op returning false once r->bad is set.  Input is
 * (pointer, length); no NUL needed.  Not installed. */
#ifndef LLMORCH_JSONR_H
#define LLMORCH_JSONR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LLM__JR_MAX_DEPTH 64

struct llm__jr {
    const char *p;       /* next unread byte */
    const char *end;
    int depth;           /* open containers */
    uint64_t first;      /* bit d: container at depth d has no member yet */
    bool bad;            /* syntax error, or something this reader declines */
};

/* A string as it appears between its quotes (validated, not decoded). */
struct llm__jr_str {
    const char *raw;
    size_t len;
    bool escaped;        /* contains a backslash escape */
};

enum llm__jr_type {
    LLM__JR_BAD = 0,
    LLM__JR_OBJECT,
    LLM__JR_ARRAY,
    LLM__JR_STRING,
    LLM__JR_NUMBER,
    LLM__JR_TRUE,
    LLM__JR_FALSE,
    LLM__JR_NULL,
};

static inline void llm__jr_init(struct llm__jr *r, const char *s, size_t len);

/* The type of the next value, judged by its first byte (nothing consumed).
 * LLM__JR_BAD at the end of input or on a byte no value starts with (and
 * r->bad set). */
static inline enum llm__jr_type llm__jr_peek(struct llm__jr *r);

/* Consume '{' / '['.  False (r->bad) if the next value is not one. */
static inline bool llm__jr_enter_object(struct llm__jr *r);
static inline bool llm__jr_enter_array(struct llm__jr *r);

/* Inside an object: true with *key read and its ':' consumed, the reader
 * at the member's value, which the caller must consume (read or skip);
 * false when the closing '}' was consumed, or on error (r->bad). */
static inline bool llm__jr_next_key(struct llm__jr *r, struct llm__jr_str *key);

/* Inside an array: true when an element follows (to be consumed by the
 * caller); false when the closing ']' was consumed, or on error. */
static inline bool llm__jr_next_item(struct llm__jr *r);

/* Read a string value. */
static inline bool llm__jr_string(struct llm__jr *r, struct llm__jr_str *out);

/* Read a number that is a plain non-negative integer below 10^15 (token
 * counts).  Any other number -- a fraction, an exponent, a minus sign, more
 * digits -- is valid JSON this reader declines: false with r->bad. */
static inline bool llm__jr_uint(struct llm__jr *r, int64_t *out);

/* Consume one value of any type, validating it. */
static inline bool llm__jr_skip(struct llm__jr *r);

/* True if nothing but whitespace is left (and nothing went bad). */
static inline bool llm__jr_finish(struct llm__jr *r);

/* True if the unescaped string `s` is exactly `lit`.  An escaped string
 * never matches: callers decline escaped keys (cJSON compares decoded
 * keys).  `lit` must be a string literal (`"" lit` rejects anything else). */
#define llm__jr_str_is(s, lit) \
    (!(s)->escaped && (s)->len == sizeof("" lit) - 1 && memcmp((s)->raw, lit, sizeof(lit) - 1) == 0)

/* Decode `s` into dst, which must hold s->len bytes (decoding never
 * grows a string); no NUL is written.  Returns the decoded length.  `s`
 * must come from this reader (its escapes are already validated). */
static inline size_t llm__jr_decode(const struct llm__jr_str *s, char *dst);

/* ---- implementation (inline: the reader is on the hot path) ---------- */

/* cJSON copies a number into a 64-byte buffer; longer ones it cannot
 * read, so neither do we. */
#define LLM__JR_MAX_NUMBER_CHARS 63
/* Token counts: below 10^15, far from any overflow. */
#define LLM__JR_MAX_UINT_DIGITS 15

static inline void llm__jr_init(struct llm__jr *r, const char *s, size_t len)
{
    r->p = s;
    r->end = s != NULL ? s + len : s;
    r->depth = 0;
    r->first = 0;
    r->bad = s == NULL;
}

static inline bool llm__jr_fail(struct llm__jr *r)
{
    r->bad = true;
    return false;
}

static inline void llm__jr_skip_ws(struct llm__jr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static inline enum llm__jr_type llm__jr_peek(struct llm__jr *r)
{
    if (r->bad)
        return LLM__JR_BAD;
    llm__jr_skip_ws(r);
    if (r->p >= r->end) {
        r->bad = true;
        return LLM__JR_BAD;
    }
    switch (*r->p) {
    case '{': return LLM__JR_OBJECT;
    case '[': return LLM__JR_ARRAY;
    case '"': return LLM__JR_STRING;
    case 't': return LLM__JR_TRUE;
    case 'f': return LLM__JR_FALSE;
    case 'n': return LLM__JR_NULL;
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return LLM__JR_NUMBER;
        r->bad = true;
        return LLM__JR_BAD;
    }
}

static inline bool llm__jr_enter(struct llm__jr *r, enum llm__jr_type t)
{
    if (llm__jr_peek(r) != t)
        return llm__jr_fail(r);
    if (r->depth >= LLM__JR_MAX_DEPTH)
        return llm__jr_fail(r);
    r->p++;
    r->first |= (uint64_t)1 << r->depth;
    r->depth++;
    return true;
}

static inline bool llm__jr_enter_object(struct llm__jr *r)
{
    return llm__jr_enter(r, LLM__JR_OBJECT);
}

static inline bool llm__jr_enter_array(struct llm__jr *r)
{
    return llm__jr_enter(r, LLM__JR_ARRAY);
}

/* Before a member or element: the closing byte (consumed: false), or the
 * separating comma (consumed) unless this is the first; true if a member
 * or element follows. */
static inline bool llm__jr_next(struct llm__jr *r, char close)
{
    if (r->bad || r->depth == 0)
        return llm__jr_fail(r);
    llm__jr_skip_ws(r);
    if (r->p >= r->end)
        return llm__jr_fail(r);
    uint64_t bit = (uint64_t)1 << (r->depth - 1);
    bool first = (r->first & bit) != 0;
    if (*r->p == close) {
        r->p++;
        r->depth--;
        return false;
    }
    if (first) {
        r->first &= ~bit;
    } else {
        if (*r->p != ',')
            return llm__jr_fail(r);
        r->p++;
    }
    return true;
}

static inline int llm__jr_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Nonzero if any of the 8 bytes at p is '"', '\\' or below 0x20 (the
 * bytes that end a run of plain string bytes).  Word-at-a-time "has a zero
 * byte" tests: a flagged word always holds such a byte (flags may spill
 * past the first one, never precede it, and bytes >= 0x80 never flag), so
 * the caller finishes a flagged word byte by byte. */
static inline uint64_t llm__jr_special8(const char *p)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t v;
    memcpy(&v, p, 8);
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v);
    return t & highs;
}

static inline bool llm__jr_string(struct llm__jr *r, struct llm__jr_str *out)
{
    if (llm__jr_peek(r) != LLM__JR_STRING)
        return llm__jr_fail(r);
    const char *p = r->p + 1;
    const char *start = p;
    bool escaped = false;
    for (;;) {
        /* Plain bytes first, eight at a time: the common case is a run
         * without escapes. */
        while (r->end - p >= 8 && !llm__jr_special8(p))
            p += 8;
        while (p < r->end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            p++;
        if (p >= r->end || (unsigned char)*p < 0x20)
            return llm__jr_fail(r); /* unterminated, or a raw control byte */
        if (*p == '"')
            break;
        /* A backslash escape. */
        escaped = true;
        if (r->end - p < 2)
            return llm__jr_fail(r);
        char e = p[1];
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
            e == 't') {
            p += 2;
            continue;
        }
        if (e != 'u' || r->end - p < 6)
            return llm__jr_fail(r);
        int cp = llm__jr_hex4(p + 2);
        if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return llm__jr_fail(r); /* \u0000, bad hex, or a lone low surrogate */
        p += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            /* A high surrogate must be followed by an escaped low one. */
            if (r->end - p < 6 || p[0] != '\\' || p[1] != 'u')
                return llm__jr_fail(r);
            int lo = llm__jr_hex4(p + 2);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return llm__jr_fail(r);
            p += 6;
        }
    }
    out->raw = start;
    out->len = (size_t)(p - start);
    out->escaped = escaped;
    r->p = p + 1;
    return true;
}

/* Consume a number (RFC 8259 grammar); *digits_only set if it is a plain
 * non-negative integer. */
static inline bool llm__jr_number(struct llm__jr *r, bool *plain)
{
    if (llm__jr_peek(r) != LLM__JR_NUMBER)
        return llm__jr_fail(r);
    const char *p = r->p, *end = r->end;
    *plain = true;
    if (*p == '-') {
        *plain = false;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return llm__jr_fail(r);
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && *p == '.') {
        *plain = false;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return llm__jr_fail(r);
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *plain = false;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return llm__jr_fail(r);
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p - r->p >= LLM__JR_MAX_NUMBER_CHARS)
        return llm__jr_fail(r);
    r->p = p;
    return true;
}

static inline bool llm__jr_uint(struct llm__jr *r, int64_t *out)
{
    const char *start = r->p;
    bool plain;
    if (!llm__jr_number(r, &plain))
        return false;
    /* llm__jr_number() skipped leading whitespace: start again at the digits. */
    while (*start == ' ' || *start == '\n' || *start == '\r' || *start == '\t')
        start++;
    if (!plain || r->p - start > LLM__JR_MAX_UINT_DIGITS)
        return llm__jr_fail(r);
    int64_t v = 0;
    for (const char *p = start; p < r->p; p++)
        v = v * 10 + (*p - '0');
    *out = v;
    return true;
}

static inline bool llm__jr_literal(struct llm__jr *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return llm__jr_fail(r);
    r->p += n;
    return true;
}

static inline bool llm__jr_skip(struct llm__jr *r)
{
    struct llm__jr_str s;
    bool plain;
    switch (llm__jr_peek(r)) {
    case LLM__JR_OBJECT:
        if (!llm__jr_enter_object(r))
            return false;
        while (llm__jr_next_key(r, &s)) {
            if (!llm__jr_skip(r))
                return false;
        }
        return !r->bad;
    case LLM__JR_ARRAY:
        if (!llm__jr_enter_array(r))
            return false;
        while (llm__jr_next_item(r)) {
            if (!llm__jr_skip(r))
                return false;
        }
        return !r->bad;
    case LLM__JR_STRING: return llm__jr_string(r, &s);
    case LLM__JR_NUMBER: return llm__jr_number(r, &plain);
    case LLM__JR_TRUE: return llm__jr_literal(r, "true", 4);
    case LLM__JR_FALSE: return llm__jr_literal(r, "false", 5);
    case LLM__JR_NULL: return llm__jr_literal(r, "null", 4);
    default: return llm__jr_fail(r);
    }
}

static inline bool llm__jr_next_key(struct llm__jr *r, struct llm__jr_str *key)
{
    if (!llm__jr_next(r, '}'))
        return false;
    if (!llm__jr_string(r, key))
        return false;
    llm__jr_skip_ws(r);
    if (r->p >= r->end || *r->p != ':')
        return llm__jr_fail(r);
    r->p++;
    return true;
}

static inline bool llm__jr_next_item(struct llm__jr *r)
{
    return llm__jr_next(r, ']');
}

static inline bool llm__jr_finish(struct llm__jr *r)
{
    if (r->bad || r->depth != 0)
        return false;
    llm__jr_skip_ws(r);
    return r->p == r->end;
}

static inline size_t llm__jr_put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static inline size_t llm__jr_decode(const struct llm__jr_str *s, char *dst)
{
    if (!s->escaped) {
        memcpy(dst, s->raw, s->len);
        return s->len;
    }
    const char *p = s->raw, *end = s->raw + s->len;
    size_t n = 0;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t run = (size_t)((bs != NULL ? bs : end) - p);
        memcpy(dst + n, p, run);
        n += run;
        p += run;
        if (p >= end)
            break;
        char e = p[1];
        p += 2;
        switch (e) {
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            unsigned cp = (unsigned)llm__jr_hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo = (unsigned)llm__jr_hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += llm__jr_put_utf8(dst + n, cp);
            break;
        }
        default: dst[n++] = e; break; /* '"', '\\', '/' */
        }
    }
    return n;
}

#endif /* LLMORCH_JSONR_H */
