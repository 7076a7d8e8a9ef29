/* Secret redaction: the few secrets a component holds (API keys, the auth
 * header values it sends, AWS secret keys, Redis passwords) are scrubbed
 * from every string it stores or logs that may contain bytes from outside
 * (error messages, provider codes, request ids, raw bodies, log lines), so
 * a server that echoes a key back cannot make us print it.  Not installed. */
#ifndef LLMORCH_BASE_REDACT_H
#define LLMORCH_BASE_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* What a secret is replaced with. */
#define LLM__REDACTED "[REDACTED]"
/* Secrets shorter than this are not scrubbed: replacing every "abc" in an
 * error message would destroy it, and a key that short protects nothing. */
#define LLM__SECRET_MIN_LEN 8
#define LLM__MAX_SECRETS 8

/* A small set of secrets (copies).  Zero-initialised = empty.  Not
 * thread-safe: one owner adds; readers MUST NOT run concurrently with
 * llm__secrets_add. */
struct llm__secrets {
    char *s[LLM__MAX_SECRETS];
    size_t len[LLM__MAX_SECRETS];
    size_t n;
};

/* Remember a copy of `secret` (`len` bytes).  Ignored when NULL, shorter
 * than LLM__SECRET_MIN_LEN, already known, or when the set is full (the
 * oldest entries, the configured keys, are the ones kept).  Returns false
 * only when out of memory. */
bool llm__secrets_add(struct llm__secrets *set, const char *secret, size_t len);

/* Remember the credential in an HTTP request header we send, if the header
 * carries one (authorization, proxy-authorization, x-api-key, api-key,
 * x-goog-api-key, x-amz-security-token; not a SigV4 Authorization, a
 * per-request MAC): the whole value and, after an auth scheme ("Bearer "),
 * the token alone. */
bool llm__secrets_add_header(struct llm__secrets *set, const char *name, const char *value);

void llm__secrets_free(struct llm__secrets *set);

/* Whether `s` (`len` bytes) contains a secret. */
bool llm__secrets_found(const struct llm__secrets *set, const char *s, size_t len);

/* Scrub the malloc'd NUL-terminated string `s` (`*len` bytes when len is
 * non-NULL, else strlen): each occurrence of a secret becomes
 * LLM__REDACTED.  Returns `s` itself when nothing matched (the usual case:
 * no allocation), else a new string (s is freed) and updates *len.  Out of
 * memory: returns a copy of LLM__REDACTED alone (or NULL), never the
 * secret.  NULL-safe. */
char *llm__redact(const struct llm__secrets *set, char *s, size_t *len);

#endif
