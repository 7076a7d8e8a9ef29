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
 * (r->bad, or NULL from the positional layer below) the caller hands to
 * cJSON, which then decides, with its own error messages.  So a body is
 * either read here exactly as cJSON would read it, or read by cJSON.
 * tests/unit/test_jsonr.c, the differential test in
 * tests/unit/test_openai_read.c and tests/fuzz/ hold it to that.
 *
 * Header-only (static inline): the compiler inlines the small steps into
 * the caller's loop (a third less than calling them in a separate
 * translation unit, by callgrind).
 *
 * Two layers over the same scanning code.  The reader (struct llm__jr):
 * llm__jr_init, then llm__jr_peek / llm__jr_enter_object +
 * llm__jr_next_key / llm__jr_enter_array + llm__jr_next_item /
 * llm__jr_string / llm__jr_uint / llm__jr_skip, then llm__jr_finish.
 * Every call is a no-op returning false once r->bad is set.  Under it, the
 * positional layer (llm__jr_ws, llm__jr_member, llm__jr_element,
 * llm__jr_scan_*, llm__jr_skip_value): functions of (position, end) that
 * return the position after what they read, or NULL for "bad".  A walker
 * that keeps its position in a local (openai_read.c) costs about half the
 * instructions of one going through the struct, which the compiler must
 * keep in memory and re-check (r->bad) at every step.
 * Input is (pointer, length); no NUL needed.  Not installed. */
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

/* ---- positional layer ------------------------------------------------
 * `p` is the next unread byte, `end` the end of input; every function
 * returns the position after what it read, or NULL if the input is bad
 * there (or declined, as the reader declines it).  Functions that start
 * at a value want `p` at its first byte (after whitespace: llm__jr_ws)
 * and p < end. */

/* The first byte at or after p that is not whitespace, or end. */
static inline const char *llm__jr_ws(const char *p, const char *end);

/* The string whose opening quote is at p, into *out. */
static inline const char *llm__jr_scan_string(const char *p, const char *end,
                                              struct llm__jr_str *out);

/* A plain non-negative integer below 10^15 at p, into *out; NULL for any
 * other number (as llm__jr_uint declines it) or a non-number.  The value
 * must be followed by a byte that may follow a value (checked by the
 * caller's next step, as always). */
static inline const char *llm__jr_scan_uint(const char *p, const char *end, int64_t *out);

/* `null` at p. */
static inline const char *llm__jr_scan_null(const char *p, const char *end);

/* Any value at p, validated and skipped; `depth` containers are open
 * around it (a container at depth LLM__JR_MAX_DEPTH is declined). */
static inline const char *llm__jr_skip_value(const char *p, const char *end, int depth);

/* Walking an object whose '{' was consumed: *first true before the first
 * member.  At `*pp` (after '{' or after a member's value): returns 1 with
 * *key read and *pp at the member's value (after whitespace, before end);
 * 0 when the closing '}' was consumed (*pp after it); -1 if bad. */
static inline int llm__jr_member(const char **pp, const char *end, bool *first,
                                 struct llm__jr_str *key);

/* The same for an array whose '[' was consumed: 1 with *pp at the next
 * element (after whitespace, before end), 0 after the closing ']', -1. */
static inline int llm__jr_element(const char **pp, const char *end, bool *first);

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

/* With SSE2 (every x86-64), strings are scanned sixteen bytes at a time:
 * about 12 instructions a block against 17 a word of eight for the
 * portable code below, which other machines run.  LLM__JR_NO_SIMD turns
 * it off (test_jsonr_swar tests that way). */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(LLM__JR_NO_SIMD)
#include <emmintrin.h>
#define LLM__JR_SSE2 1
#endif

/* On a little-endian machine the lowest flag of llm__jr_special8() is the
 * first special byte itself (see there), so a count of trailing zeros
 * finds it without a byte loop. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LLM__JR_FIRST_FLAG(t) ((size_t)__builtin_ctzll(t) >> 3)
#endif

/* Functions kept out of line: rare paths (COLD), and the recursion over
 * nested containers (OUTLINE), so that what is inlined into a walker is
 * the short common path only.  `unused`: a static function in a header
 * that a file does not call is no warning. */
#if defined(__GNUC__)
#define LLM__JR_COLD static __attribute__((noinline, cold, unused))
#define LLM__JR_OUTLINE static __attribute__((noinline, unused))
#else
#define LLM__JR_COLD static inline
#define LLM__JR_OUTLINE static inline
#endif

/* RFC 8259 whitespace as bits of a mask over the bytes 0..0x20. */
#define LLM__JR_WS_BITS \
    ((UINT64_C(1) << ' ') | (UINT64_C(1) << '\n') | (UINT64_C(1) << '\r') | (UINT64_C(1) << '\t'))

LLM__JR_OUTLINE const char *llm__jr_ws_run(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= ' ' && ((LLM__JR_WS_BITS >> (unsigned char)*p) & 1) != 0)
        p++;
    return p;
}

static inline const char *llm__jr_ws(const char *p, const char *end)
{
    /* Compact JSON has none: a load and two compares, inline, then. */
    if (p < end && (unsigned char)*p > ' ')
        return p;
    return llm__jr_ws_run(p, end);
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
 * byte" tests: a flagged word always holds such a byte, and flags may
 * spill past the first one, never precede it (a borrow only runs towards
 * later bytes; bytes >= 0x80 never flag), so the lowest flag marks the
 * first such byte on a little-endian machine. */
static inline uint64_t llm__jr_special8(const char *p)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t v;
    memcpy(&v, p, 8);
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v);
    return t & highs;
}

#ifdef LLM__JR_SSE2
/* Bit i set if byte i of `v` is '"', '\\' or below 0x20. */
static inline unsigned llm__jr_special_lanes(__m128i v)
{
    /* min(v, 0x1F) == v: the unsigned bytes <= 0x1F. */
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v));
    return (unsigned)_mm_movemask_epi8(hit);
}
#endif

/* The first byte in [p, end) that is '"', '\\' or a control byte, or end.
 * Sixteen bytes at a time while that many remain (SSE2), then 8 and 4
 * through the same compare (movq, movd: the zeroed upper lanes masked
 * off), then the last bytes one by one; without SSE2, eight at a time.
 * Most strings (keys, ids) end inside their first block, found without a
 * byte loop. */
static inline const char *llm__jr_plain(const char *p, const char *end)
{
#ifdef LLM__JR_SSE2
    unsigned mask;
    while (end - p >= 16) {
        mask = llm__jr_special_lanes(_mm_loadu_si128((const __m128i *)(const void *)p));
        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 16;
    }
    if (end - p >= 8) {
        mask = llm__jr_special_lanes(_mm_loadl_epi64((const __m128i *)(const void *)p)) & 0xFFu;
        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 8;
    }
    if (end - p >= 4) {
        int32_t v;
        memcpy(&v, p, sizeof(v));
        mask = llm__jr_special_lanes(_mm_cvtsi32_si128(v)) & 0xFu;
        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 4;
    }
#else
    while (end - p >= 8) {
        uint64_t t = llm__jr_special8(p);
        if (t != 0) {
#ifdef LLM__JR_FIRST_FLAG
            return p + LLM__JR_FIRST_FLAG(t);
#else
            break;
#endif
        }
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
        p++;
    return p;
}

/* The escape at p (a backslash): the byte after it, or NULL if it is
 * invalid or one this reader declines. */
static inline const char *llm__jr_escape(const char *p, const char *end)
{
    if (end - p < 2)
        return NULL;
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return p + 2;
    case 'u':
        break;
    default:
        return NULL;
    }
    if (end - p < 6)
        return NULL;
    int cp = llm__jr_hex4(p + 2);
    if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return NULL; /* \u0000, bad hex, or a lone low surrogate */
    p += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate must be followed by an escaped low one. */
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
            return NULL;
        int lo = llm__jr_hex4(p + 2);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return NULL;
        p += 6;
    }
    return p;
}

/* The rest of a string from its first escape at p: its closing quote, or
 * NULL.  Out of line: rare, and its code would crowd the common path's
 * registers (it takes no pointer to the caller's llm__jr_str either, so
 * that one stays in registers). */
LLM__JR_COLD const char *llm__jr_scan_escaped(const char *p, const char *end)
{
    while (p < end && *p == '\\') {
        if ((p = llm__jr_escape(p, end)) == NULL)
            return NULL;
        p = llm__jr_plain(p, end);
    }
    if (p >= end || *p != '"')
        return NULL; /* unterminated, or a raw control byte */
    return p;
}

static inline const char *llm__jr_scan_string(const char *p, const char *end,
                                              struct llm__jr_str *out)
{
    const char *start = p + 1;
    bool escaped = false;
    p = llm__jr_plain(start, end);
    if (p >= end || *p != '"') {
        if (p >= end || *p != '\\' || (p = llm__jr_scan_escaped(p, end)) == NULL)
            return NULL; /* unterminated, a raw control byte, or a bad escape */
        escaped = true;
    }
    out->raw = start;
    out->len = (size_t)(p - start);
    out->escaped = escaped;
    return p + 1;
}

static inline bool llm__jr_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* The end of the run of digits at p.  Eight bytes at a time where the
 * first flag of a word is its first byte (little-endian): a reply's
 * "created" is ten digits, ~60 instructions a byte at a time, ~20 so.  A
 * byte b is a digit iff its high nibble is 3 and b + 6's is too; the +6
 * carries only out of a non-digit byte, into the bytes after it, so the
 * lowest flag is still the first non-digit. */
static inline const char *llm__jr_digits(const char *p, const char *end)
{
#ifdef LLM__JR_FIRST_FLAG
    const uint64_t hi = 0xF0F0F0F0F0F0F0F0u, threes = 0x3030303030303030u;
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        uint64_t t = ((v & hi) ^ threes) | (((v + 0x0606060606060606u) & hi) ^ threes);
        if (t != 0)
            return p + LLM__JR_FIRST_FLAG(t);
        p += 8;
    }
#endif
    while (llm__jr_digit(p, end))
        p++;
    return p;
}

/* The number at p (RFC 8259 grammar): the byte after it, or NULL.  *plain
 * set if it is a non-negative integer. */
static inline const char *llm__jr_scan_number(const char *p, const char *end, bool *plain)
{
    const char *start = p;
    *plain = true;
    if (p < end && *p == '-') {
        *plain = false;
        p++;
    }
    if (!llm__jr_digit(p, end))
        return NULL;
    if (*p == '0')
        p++;
    else
        p = llm__jr_digits(p, end);
    if (p < end && *p == '.') {
        *plain = false;
        p++;
        if (!llm__jr_digit(p, end))
            return NULL;
        while (llm__jr_digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *plain = false;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!llm__jr_digit(p, end))
            return NULL;
        while (llm__jr_digit(p, end))
            p++;
    }
    if (p - start >= LLM__JR_MAX_NUMBER_CHARS)
        return NULL;
    return p;
}

static inline const char *llm__jr_scan_uint(const char *p, const char *end, int64_t *out)
{
    /* Declines exactly what llm__jr_scan_number() rejects or does not
     * call plain, and more than 15 digits; a leading zero followed by a
     * digit ("01") is invalid JSON either way. */
    const char *start = p;
    int64_t v = 0;
    while (llm__jr_digit(p, end)) {
        if (p - start >= LLM__JR_MAX_UINT_DIGITS)
            return NULL;
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p == start || (*start == '0' && p - start > 1))
        return NULL;
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
        return NULL;
    *out = v;
    return p;
}

static inline const char *llm__jr_scan_literal(const char *p, const char *end, const char *word,
                                               size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
        return NULL;
    return p + n;
}

static inline const char *llm__jr_scan_null(const char *p, const char *end)
{
    return llm__jr_scan_literal(p, end, "null", 4);
}

LLM__JR_OUTLINE const char *llm__jr_skip_container(const char *p, const char *end, int depth);

static inline const char *llm__jr_skip_value(const char *p, const char *end, int depth)
{
    struct llm__jr_str s;
    bool plain;
    switch (*p) {
    case '"': return llm__jr_scan_string(p, end, &s);
    case '{': case '[': return llm__jr_skip_container(p, end, depth);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return llm__jr_scan_number(p, end, &plain);
    case 't': return llm__jr_scan_literal(p, end, "true", 4);
    case 'f': return llm__jr_scan_literal(p, end, "false", 5);
    case 'n': return llm__jr_scan_literal(p, end, "null", 4);
    default: return NULL;
    }
}

static inline int llm__jr_member(const char **pp, const char *end, bool *first,
                                 struct llm__jr_str *key)
{
    const char *p = llm__jr_ws(*pp, end);
    if (p >= end)
        return -1;
    if (*p == '}') {
        *pp = p + 1;
        return 0;
    }
    if (!*first) {
        if (*p != ',')
            return -1;
        /* Compact JSON: the key's quote right after the comma. */
        if (++p >= end || *p != '"') {
            p = llm__jr_ws(p, end);
            if (p >= end)
                return -1;
        }
    }
    *first = false;
    if (*p != '"' || (p = llm__jr_scan_string(p, end, key)) == NULL)
        return -1;
    if (p >= end || *p != ':') {
        /* Compact JSON has the ':' right after the key. */
        p = llm__jr_ws(p, end);
        if (p >= end || *p != ':')
            return -1;
    }
    p = llm__jr_ws(p + 1, end);
    if (p >= end)
        return -1;
    *pp = p;
    return 1;
}

static inline int llm__jr_element(const char **pp, const char *end, bool *first)
{
    const char *p = llm__jr_ws(*pp, end);
    if (p >= end)
        return -1;
    if (*p == ']') {
        *pp = p + 1;
        return 0;
    }
    if (!*first) {
        if (*p != ',')
            return -1;
        p = llm__jr_ws(p + 1, end);
        if (p >= end)
            return -1;
    }
    *first = false;
    *pp = p;
    return 1;
}

/* The container whose '{' or '[' is at p, skipped. */
LLM__JR_OUTLINE const char *llm__jr_skip_container(const char *p, const char *end, int depth)
{
    if (depth >= LLM__JR_MAX_DEPTH)
        return NULL;
    bool object = *p == '{', first = true;
    struct llm__jr_str key;
    p++;
    for (;;) {
        int m = object ? llm__jr_member(&p, end, &first, &key) : llm__jr_element(&p, end, &first);
        if (m <= 0)
            return m == 0 ? p : NULL;
        if ((p = llm__jr_skip_value(p, end, depth + 1)) == NULL)
            return NULL;
    }
}

/* ---- the reader, over the positional layer ---- */

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

/* The next byte after whitespace, with r->p moved to it; -1 (and r->bad)
 * at the end of input, -1 once bad. */
static inline int llm__jr_byte(struct llm__jr *r)
{
    if (r->bad)
        return -1;
    const char *p = llm__jr_ws(r->p, r->end);
    r->p = p;
    if (p >= r->end) {
        r->bad = true;
        return -1;
    }
    return (unsigned char)*p;
}

/* r->p = p, or r->bad if p is NULL. */
static inline bool llm__jr_moved(struct llm__jr *r, const char *p)
{
    if (p == NULL)
        return llm__jr_fail(r);
    r->p = p;
    return true;
}

static inline enum llm__jr_type llm__jr_peek(struct llm__jr *r)
{
    switch (llm__jr_byte(r)) {
    case '{': return LLM__JR_OBJECT;
    case '[': return LLM__JR_ARRAY;
    case '"': return LLM__JR_STRING;
    case 't': return LLM__JR_TRUE;
    case 'f': return LLM__JR_FALSE;
    case 'n': return LLM__JR_NULL;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return LLM__JR_NUMBER;
    default:
        r->bad = true;
        return LLM__JR_BAD;
    }
}

static inline bool llm__jr_enter(struct llm__jr *r, int open)
{
    if (llm__jr_byte(r) != open || r->depth >= LLM__JR_MAX_DEPTH)
        return llm__jr_fail(r);
    r->p++;
    r->first |= (uint64_t)1 << r->depth;
    r->depth++;
    return true;
}

static inline bool llm__jr_enter_object(struct llm__jr *r)
{
    return llm__jr_enter(r, '{');
}

static inline bool llm__jr_enter_array(struct llm__jr *r)
{
    return llm__jr_enter(r, '[');
}

/* llm__jr_member / llm__jr_element with the first flag of the innermost
 * open container. */
static inline bool llm__jr_next(struct llm__jr *r, struct llm__jr_str *key)
{
    if (r->bad || r->depth == 0)
        return llm__jr_fail(r);
    uint64_t bit = (uint64_t)1 << (r->depth - 1);
    bool first = (r->first & bit) != 0;
    int m = key != NULL ? llm__jr_member(&r->p, r->end, &first, key)
                        : llm__jr_element(&r->p, r->end, &first);
    if (m < 0)
        return llm__jr_fail(r);
    if (m == 0) {
        r->depth--;
        return false;
    }
    r->first &= ~bit;
    return true;
}

static inline bool llm__jr_next_key(struct llm__jr *r, struct llm__jr_str *key)
{
    return llm__jr_next(r, key);
}

static inline bool llm__jr_next_item(struct llm__jr *r)
{
    return llm__jr_next(r, NULL);
}

static inline bool llm__jr_string(struct llm__jr *r, struct llm__jr_str *out)
{
    if (llm__jr_byte(r) != '"')
        return llm__jr_fail(r);
    return llm__jr_moved(r, llm__jr_scan_string(r->p, r->end, out));
}

static inline bool llm__jr_uint(struct llm__jr *r, int64_t *out)
{
    if (llm__jr_byte(r) < 0)
        return false;
    return llm__jr_moved(r, llm__jr_scan_uint(r->p, r->end, out));
}

static inline bool llm__jr_skip(struct llm__jr *r)
{
    if (llm__jr_byte(r) < 0)
        return false;
    return llm__jr_moved(r, llm__jr_skip_value(r->p, r->end, r->depth));
}

static inline bool llm__jr_finish(struct llm__jr *r)
{
    if (r->bad || r->depth != 0)
        return false;
    r->p = llm__jr_ws(r->p, r->end);
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
