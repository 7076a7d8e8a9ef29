/* An append-only JSON writer into one growable buffer, for documents built
 * on every request (provider request bodies), where a cJSON tree would cost
 * an allocation per node and a second pass to print.  Not installed.
 *
 * Output is byte-identical to cJSON_PrintUnformatted (cJSON 1.7.15) of the
 * same values: same string escaping, same number formatting.  The writer
 * records an allocation failure instead of failing each call: after one,
 * every call is a no-op and llm__jo_finish returns NULL, so a builder
 * checks once at the end.
 *
 * The writer does not check that calls nest correctly (a key before every
 * object member, balanced begin/end); builders are straight-line code.
 * A zeroed struct is an empty writer. */
#ifndef LLMORCH_JSONOUT_H
#define LLMORCH_JSONOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct llm__jo {
    char *data;  /* malloc'd; not NUL-terminated until llm__jo_finish */
    size_t len;
    size_t cap;
    bool oom;    /* an allocation failed: output is lost */
    bool comma;  /* the next key or value needs a ',' before it */
    /* Set by the owner before writing: strings come out as valid UTF-8,
     * each ill-formed sequence replaced by U+FFFD.  For documents we hand
     * to hosts and tools (results, batch lines).  Off (zero), bytes >= 0x80
     * pass as they are, as cJSON printed them (request bodies: their bytes
     * MUST stay the ones the cJSON tree gave). */
    bool utf8;
};

/* Room for `n` more bytes (and the final NUL): true, or false once out of
 * memory (recorded).  Inline: the writer checks before each store, and
 * the check is a compare; growing is out of line (llm__jo_grow). */
bool llm__jo_grow(struct llm__jo *w, size_t n);

static inline bool llm__jo_room(struct llm__jo *w, size_t n)
{
    /* cap > len whenever data is set, and an empty writer has cap 0. */
    if (n < w->cap - w->len && !w->oom)
        return true;
    return llm__jo_grow(w, n);
}

/* Make room for at least `n` more bytes now, so that a builder that knows
 * its size roughly allocates once.  Only a hint: writes grow as needed. */
void llm__jo_reserve(struct llm__jo *w, size_t n);

/* Record an allocation failure made outside the writer (the document is
 * then lost, as if the writer had failed itself). */
void llm__jo_set_oom(struct llm__jo *w);

/* '{' / '[' (after a ',' when one is due), '}' / ']'.  Inline: a body is
 * mostly these and keys, a call each cost as much as the store. */
static inline void llm__jo_open(struct llm__jo *w, char c)
{
    if (!llm__jo_room(w, 2))
        return;
    char *d = w->data + w->len;
    *d = ',';
    d += w->comma;
    *d++ = c;
    w->len = (size_t)(d - w->data);
    w->comma = false;
}

static inline void llm__jo_close(struct llm__jo *w, char c)
{
    if (llm__jo_room(w, 1))
        w->data[w->len++] = c;
    w->comma = true;
}

static inline void llm__jo_object_begin(struct llm__jo *w)
{
    llm__jo_open(w, '{');
}

static inline void llm__jo_object_end(struct llm__jo *w)
{
    llm__jo_close(w, '}');
}

static inline void llm__jo_array_begin(struct llm__jo *w)
{
    llm__jo_open(w, '[');
}

static inline void llm__jo_array_end(struct llm__jo *w)
{
    llm__jo_close(w, ']');
}

/* An object member's key (escaped as a string); the value comes next. */
void llm__jo_key(struct llm__jo *w, const char *key);

/* An object member's key that is a string literal needing no escape (no
 * '"', '\\' or byte below 0x20: the names of the wire formats), written
 * already quoted: what llm__jo_key writes, without the strlen and the
 * scan (callgrind: ~90 instructions a key less). */
#define llm__jo_key_lit(w, lit) llm__jo_key_quoted((w), "\"" lit "\":", sizeof("\"" lit "\":") - 1)

static inline void llm__jo_key_quoted(struct llm__jo *w, const char *quoted, size_t n)
{
    if (!llm__jo_room(w, n + 1))
        return;
    char *d = w->data + w->len;
    *d = ',';
    d += w->comma;
    memcpy(d, quoted, n);
    w->len = (size_t)(d + n - w->data);
    w->comma = false;
}

/* A string value: the bytes of `s` up to its NUL, escaped as cJSON does
 * (see jsonout.c).  NULL writes `null`. */
void llm__jo_string(struct llm__jo *w, const char *s);

/* A string value of exactly len bytes, which may include NUL (written as
 * \u0000, so nothing after it is lost). */
void llm__jo_string_n(struct llm__jo *w, const char *s, size_t len);

/* One string value written in pieces: begin, any number of parts (each
 * escaped up to its NUL), end.  Nothing else may be written in between. */
void llm__jo_string_begin(struct llm__jo *w);
void llm__jo_string_part(struct llm__jo *w, const char *s);
void llm__jo_string_end(struct llm__jo *w);

/* An integer in plain decimal.  Equals cJSON's output for the same value
 * as a double whenever |v| < 1e15 (so for every int). */
void llm__jo_int(struct llm__jo *w, int64_t v);

/* A number formatted as cJSON's print_number: `null` if not finite, else
 * "%1.15g", or "%1.17g" when the former does not read back as (nearly,
 * see jsonout.c) the same double.  Always '.' as the decimal point,
 * whatever the locale. */
void llm__jo_double(struct llm__jo *w, double d);

void llm__jo_bool(struct llm__jo *w, bool v);
void llm__jo_null(struct llm__jo *w);

/* An already-serialised JSON value, copied as is (json[0..len)). */
void llm__jo_raw(struct llm__jo *w, const char *json, size_t len);

/* The document: NUL-terminated, malloc'd (free with free()), its length in
 * *len_out.  NULL (and *len_out 0) after an allocation failure.  Either way
 * the writer is reset to empty. */
char *llm__jo_finish(struct llm__jo *w, size_t *len_out);

/* Discard the document.  Safe on a zeroed writer; the writer is reset. */
void llm__jo_free(struct llm__jo *w);

#endif /* LLMORCH_JSONOUT_H */
