/* Small shared internals: growable buffer, string helpers, excerpts of
 * untrusted bytes, UUIDv7. */
#include "base/clock.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- growable buffer ----------------------------------------------------- */

size_t llm__grow_cap(size_t cap, size_t need)
{
    if (cap < 64)
        cap = 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    return cap;
}

bool llm__grow(char **data, size_t *cap, size_t need, bool exact)
{
    if (*data != NULL && need <= *cap)
        return true;
    size_t ncap = exact ? need : llm__grow_cap(*cap, need);
    /* A first block by malloc: realloc(NULL) takes a longer way to the
     * same call (~25 instructions; a reply's content starts here). */
    char *d = *data == NULL ? malloc(ncap) : realloc(*data, ncap);
    if (d == NULL)
        return false;
    *data = d;
    *cap = ncap;
    return true;
}

/* Make room for `extra` more bytes plus the NUL. */
static enum llm_error buf_reserve(struct llm__buf *b, size_t extra)
{
    if (extra > SIZE_MAX - 1 - b->len)
        return LLM_ERR_OUT_OF_MEMORY;
    return llm__grow(&b->data, &b->cap, b->len + extra + 1, false) ? LLM_OK
                                                                    : LLM_ERR_OUT_OF_MEMORY;
}

enum llm_error llm__buf_append(struct llm__buf *b, const void *p, size_t n)
{
    if (b == NULL || (p == NULL && n > 0))
        return LLM_ERR_INVALID_ARGUMENT;
    enum llm_error err = buf_reserve(b, n);
    if (err != LLM_OK)
        return err;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return LLM_OK;
}

enum llm_error llm__buf_appendf(struct llm__buf *b, const char *fmt, ...)
{
    if (b == NULL || fmt == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return LLM_ERR_INTERNAL;
    enum llm_error err = buf_reserve(b, (size_t)n);
    if (err != LLM_OK)
        return err;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return LLM_OK;
}

char *llm__buf_steal(struct llm__buf *b)
{
    if (b == NULL)
        return NULL;
    char *d = b->data;
    if (d == NULL)
        d = strdup("");
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

void llm__buf_free(struct llm__buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* ---- strings --------------------------------------------------------------- */

void llm__set_err(char *buf, size_t len, const char *fmt, ...)
{
    if (buf == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void llm__zero(void *p, size_t n)
{
    memset(p, 0, n);
}

char *llm__strdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

char *llm__strndup(const char *s, size_t n)
{
    return s != NULL ? strndup(s, n) : NULL;
}

char *llm__asprintf(const char *fmt, ...)
{
    if (fmt == NULL)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : out;
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool llm__strcaseeq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    /* Not strcasecmp: its result depends on the locale, HTTP header names
     * are ASCII.  Only a differing pair of bytes is folded: equal bytes
     * cost one compare (this runs for every header of every request). */
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca != cb) {
            ca = ascii_lower(ca);
            if (ca != ascii_lower(cb))
                return false;
        } else if (ca == 0) {
            return true;
        }
    }
}

/* What a lead byte announces: the length of its sequence (0 for a byte that
 * cannot lead one) and the range its second byte must lie in (narrower than
 * 0x80..0xBF after E0, ED, F0 and F4: no overlongs, surrogates or code
 * points past U+10FFFF). */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            *lo = 0xA0;
        else if (c == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            *lo = 0x90;
        else if (c == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0;
}

size_t llm__utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char lo, hi;
    size_t n = utf8_lead(s[0], &lo, &hi);
    if (n == 0)
        return 0;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

size_t llm__utf8_bad_len(const unsigned char *s, size_t len)
{
    unsigned char lo, hi;
    size_t n = utf8_lead(s[0], &lo, &hi);
    if (n == 0)
        return 1;
    /* The lead and every continuation byte that could still have made a
     * character with it; the byte that broke the sequence is not part of
     * it (it starts whatever comes next). */
    size_t i = 1;
    while (i < n && i < len && s[i] >= lo && s[i] <= hi) {
        lo = 0x80;
        hi = 0xBF;
        i++;
    }
    return i;
}

bool llm__utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = u[i] < 0x80 ? 1 : llm__utf8_seq_len(u + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

char *llm__utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    struct llm__buf b = {0};
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    enum llm_error err = llm__buf_append(&b, "", 0);
    while (err == LLM_OK && i < len) {
        size_t run = i;
        while (i < len && u[i] < 0x80)
            i++;
        size_t n;
        while (i < len && u[i] >= 0x80 && (n = llm__utf8_seq_len(u + i, len - i)) > 0)
            i += n;
        if (i > run)
            err = llm__buf_append(&b, s + run, i - run);
        else {
            err = llm__buf_append(&b, replacement, 3);
            i += llm__utf8_bad_len(u + i, len - i);
        }
    }
    if (err != LLM_OK) {
        llm__buf_free(&b);
        return NULL;
    }
    if (out_len != NULL)
        *out_len = b.len;
    return llm__buf_steal(&b);
}

/* max_chars counts characters of the input kept (a multi-byte UTF-8
 * character counts once); the "..." marker comes on top.  Well-formed UTF-8
 * is kept so that a server's message in any language stays readable, and
 * everything else that could corrupt a log line or JSON (control bytes,
 * stray or truncated UTF-8) becomes '?'. */
char *llm__excerpt(const char *s, size_t len, size_t max_chars)
{
    if (s == NULL)
        len = 0;
    struct llm__buf b = {0};
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, chars = 0;
    bool cut = false;
    while (i < len) {
        if (chars == max_chars) {
            cut = true;
            break;
        }
        size_t n = 1;
        enum llm_error err;
        if (u[i] < 0x20 || u[i] == 0x7F) {
            err = llm__buf_append(&b, "?", 1);
        } else if (u[i] < 0x80) {
            err = llm__buf_append(&b, &u[i], 1);
        } else if ((n = llm__utf8_seq_len(u + i, len - i)) > 0) {
            err = llm__buf_append(&b, &u[i], n);
        } else {
            n = 1;
            err = llm__buf_append(&b, "?", 1);
        }
        if (err != LLM_OK) {
            llm__buf_free(&b);
            return NULL;
        }
        i += n;
        chars++;
    }
    if (cut && llm__buf_append(&b, "...", 3) != LLM_OK) {
        llm__buf_free(&b);
        return NULL;
    }
    return llm__buf_steal(&b);
}

/* ---- UUIDv7 ------------------------------------------------------------------- */

static void fill_random(void *out, size_t len)
{
    unsigned char *p = out;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    if (got == len)
        return;
    /* getrandom() unavailable (old kernel, seccomp): /dev/urandom, and as a
     * last resort a counter mixed with the clock, which keeps ids unique in
     * this process even though they are then guessable. */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (got < len) {
            ssize_t n = read(fd, p + got, len - got);
            if (n > 0)
                got += (size_t)n;
            else if (!(n < 0 && errno == EINTR))
                break;
        }
        close(fd);
    }
    static atomic_uint_fast64_t fallback_counter;
    uint64_t x = (uint64_t)llm__now_mono_us() ^ ((uint64_t)llm__now_wall_us() << 17) ^
                 (atomic_fetch_add(&fallback_counter, 1) * 0x9E3779B97F4A7C15u);
    while (got < len) {
        /* splitmix64 */
        x += 0x9E3779B97F4A7C15u;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        z ^= z >> 31;
        p[got++] = (unsigned char)z;
    }
}

/* Upper 60 bits of the last id handed out: 48-bit ms timestamp, 12-bit
 * sequence in rand_a (RFC 9562 §6.2 method 1, "fixed-length dedicated
 * counter").  Ids from one process are strictly increasing even within a
 * millisecond or when the wall clock steps back. */
static _Atomic uint64_t uuid_last;

/* Random bytes for ids come from a small per-thread pool refilled by one
 * getrandom() call, instead of a system call per id.  The pool is dropped
 * in a forked child so parent and child never share bytes. */
#define RANDOM_POOL_BYTES 320
/* One thread-local object, not three: each access to a thread-local of a
 * shared library is a __tls_get_addr call (~11 instructions). */
struct random_pool {
    unsigned char bytes[RANDOM_POOL_BYTES];
    size_t pos;
    unsigned gen;
};
static _Thread_local struct random_pool random_pool = {.pos = RANDOM_POOL_BYTES};
/* Bumped in every forked child (getpid() is a system call on current glibc,
 * which would defeat the pool). */
static atomic_uint fork_generation = 1;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { atomic_fetch_add(&fork_generation, 1); }
static void install_fork_hook(void) { pthread_atfork(NULL, NULL, on_fork_child); }

static void pooled_random(unsigned char *out, size_t len)
{
    pthread_once(&fork_hook_once, install_fork_hook);
    unsigned gen = atomic_load(&fork_generation);
    struct random_pool *rp = &random_pool;
    if (rp->pos + len > RANDOM_POOL_BYTES || rp->gen != gen) {
        fill_random(rp->bytes, RANDOM_POOL_BYTES);
        rp->pos = 0;
        rp->gen = gen;
    }
    memcpy(out, rp->bytes + rp->pos, len);
    /* Never hand the same bytes out twice. */
    memset(rp->bytes + rp->pos, 0, len);
    rp->pos += len;
}

void llm__uuid_v7(char out[37])
{
    unsigned char rnd[10];
    pooled_random(rnd, sizeof(rnd));

    int64_t now_us = llm__now_wall_us();
    uint64_t ms = now_us > 0 ? (uint64_t)now_us / 1000 : 0;
    ms &= 0xFFFFFFFFFFFFu;
    /* A fresh millisecond starts its counter at a random value with the top
     * bit clear, leaving at least 2048 increments before it borrows from
     * the next millisecond. */
    uint64_t seq = (((uint64_t)rnd[0] << 8) | rnd[1]) & 0x7FF;
    uint64_t want = (ms << 12) | seq;
    uint64_t last = atomic_load(&uuid_last);
    uint64_t next;
    do {
        next = want > last ? want : last + 1;
    } while (!atomic_compare_exchange_weak(&uuid_last, &last, next));

    unsigned char u[16];
    uint64_t ts = next >> 12;
    uint64_t rand_a = next & 0xFFF;
    for (int i = 0; i < 6; i++)
        u[i] = (unsigned char)(ts >> (8 * (5 - i)));
    u[6] = (unsigned char)(0x70 | (rand_a >> 8));  /* version 7 */
    u[7] = (unsigned char)(rand_a & 0xFF);
    u[8] = (unsigned char)(0x80 | (rnd[2] & 0x3F)); /* variant 10 */
    memcpy(&u[9], &rnd[3], 7);

    /* Two digits per byte from a table, unrolled, each byte at its place in
     * 8-4-4-4-12: the digit loop was about half the id's cost (callgrind:
     * ~150 of ~300 instructions). */
    static const char pairs[513] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
#define PUT(i, at) memcpy(out + (at), pairs + 2 * u[i], 2)
    PUT(0, 0), PUT(1, 2), PUT(2, 4), PUT(3, 6), PUT(4, 9), PUT(5, 11), PUT(6, 14), PUT(7, 16);
    PUT(8, 19), PUT(9, 21), PUT(10, 24), PUT(11, 26), PUT(12, 28), PUT(13, 30), PUT(14, 32);
    PUT(15, 34);
#undef PUT
    out[8] = out[13] = out[18] = out[23] = '-';
    out[36] = '\0';
}
