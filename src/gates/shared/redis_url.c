/* Redis URLs.  The password is kept for AUTH only: every message, log line
 * and stats field uses `redacted`, built here once, so no other code ever
 * has to remember to hide it. */
#include "gates/shared/shared.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URL 4096

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n) into a new string; NULL on a bad escape or an
 * encoded NUL (*bad set) or on allocation failure (*bad clear). */
static char *decode(const char *s, size_t n, bool *bad)
{
    *bad = false;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (n - i < 3) {
                free(out);
                *bad = true;
                return NULL;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                free(out);
                *bad = true;
                return NULL;
            }
            out[j++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

static enum llm_error fail(struct llm__redis_url *u, char *err, size_t err_len, const char *why)
{
    llm__redis_url_clear(u);
    if (err && err_len)
        snprintf(err, err_len, "bad Redis URL: %s", why);
    return LLM_ERR_INVALID_ARGUMENT;
}

static enum llm_error oom(struct llm__redis_url *u, char *err, size_t err_len)
{
    llm__redis_url_clear(u);
    if (err && err_len)
        snprintf(err, err_len, "out of memory parsing the Redis URL");
    return LLM_ERR_OUT_OF_MEMORY;
}

/* A decimal in [lo, hi] filling [s, s+n) exactly. */
static bool parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
    if (n == 0 || n > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static enum llm_error make_redacted(struct llm__redis_url *u)
{
    char buf[MAX_URL + 64];
    if (u->path) {
        if (u->password)
            snprintf(buf, sizeof(buf), "unix://%s%s***@%s", u->user ? u->user : "",
                     u->user ? ":" : ":", u->path);
        else
            snprintf(buf, sizeof(buf), "unix://%s", u->path);
    } else {
        bool v6 = strchr(u->host, ':') != NULL;
        int n = snprintf(buf, sizeof(buf), "redis://");
        if (u->password)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s:***@", u->user ? u->user : "");
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s%s%s:%d", v6 ? "[" : "", u->host,
                      v6 ? "]" : "", u->port);
        if (u->db > 0)
            snprintf(buf + n, sizeof(buf) - (size_t)n, "/%d", u->db);
    }
    if (u->path && u->db > 0) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, "?db=%d", u->db);
    }
    u->redacted = strdup(buf);
    return u->redacted ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
}

enum llm_error llm__redis_url_parse(const char *s, struct llm__redis_url *u, char *err,
                                    size_t err_len)
{
    memset(u, 0, sizeof(*u));
    if (err && err_len)
        err[0] = '\0';
    if (!s || !*s)
        return fail(u, err, err_len, "empty");
    size_t len = strlen(s);
    if (len > MAX_URL)
        return fail(u, err, err_len, "longer than 4096 bytes");
    if (has_ctl(s))
        return fail(u, err, err_len, "control characters");
    u->port = 6379;

    if (s[0] == '/' || strncmp(s, "unix://", 7) == 0) {
        const char *p = s[0] == '/' ? s : s + 7;
        const char *at = strchr(p, '@');
        if (at && p[0] != '/') {
            /* unix://[user]:password@/path */
            const char *colon = memchr(p, ':', (size_t)(at - p));
            bool bad = false;
            if (colon) {
                if (colon > p && !(u->user = decode(p, (size_t)(colon - p), &bad)))
                    return bad ? fail(u, err, err_len, "bad %-escape in the user name")
                               : oom(u, err, err_len);
                if (!(u->password = decode(colon + 1, (size_t)(at - colon - 1), &bad)))
                    return bad ? fail(u, err, err_len, "bad %-escape in the password")
                               : oom(u, err, err_len);
            } else if (!(u->password = decode(p, (size_t)(at - p), &bad))) {
                return bad ? fail(u, err, err_len, "bad %-escape in the password")
                           : oom(u, err, err_len);
            }
            p = at + 1;
        }
        if (p[0] != '/')
            return fail(u, err, err_len, "a Unix socket path must be absolute");
        size_t plen = strcspn(p, "?");
        if (p[plen] == '?') {
            if (strncmp(p + plen, "?db=", 4) != 0 ||
                !parse_int(p + plen + 4, strlen(p + plen + 4), 0, 1000000, &u->db))
                return fail(u, err, err_len, "only ?db=N may follow a socket path");
        }
        if (plen >= 108)
            return fail(u, err, err_len, "socket path longer than 107 bytes");
        if (!(u->path = dup_n(p, plen)))
            return oom(u, err, err_len);
    } else {
        if (strncmp(s, "redis://", 8) != 0)
            return fail(u, err, err_len, "expected redis://host:port, unix:///path or /path");
        const char *p = s + 8;
        const char *end = p + strcspn(p, "/?#");
        if (*end == '?' || *end == '#')
            return fail(u, err, err_len, "query strings and fragments are not supported");
        /* userinfo: up to the LAST '@' of the authority, so a password may
         * contain an unescaped '@'. */
        const char *at = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == '@')
                at = q;
        if (at) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            bool bad = false;
            const char *uend = colon ? colon : at;
            if (uend > p && !(u->user = decode(p, (size_t)(uend - p), &bad)))
                return bad ? fail(u, err, err_len, "bad %-escape in the user name")
                           : oom(u, err, err_len);
            if (colon && !(u->password = decode(colon + 1, (size_t)(at - colon - 1), &bad)))
                return bad ? fail(u, err, err_len, "bad %-escape in the password")
                           : oom(u, err, err_len);
            if (!colon) {
                /* redis://secret@host: the one field is the password (as
                 * redis-cli -u reads it), never shown. */
                u->password = u->user;
                u->user = NULL;
            }
            if (u->password && !*u->password) {
                free(u->password);
                u->password = NULL;
            }
            p = at + 1;
        }
        const char *hend, *host = p;
        size_t hlen;
        if (*p == '[') {
            const char *rb = memchr(p, ']', (size_t)(end - p));
            if (!rb)
                return fail(u, err, err_len, "unclosed [ in the host");
            host = p + 1;
            hlen = (size_t)(rb - host);
            hend = rb + 1;
        } else {
            hend = p;
            while (hend < end && *hend != ':')
                hend++;
            hlen = (size_t)(hend - p);
        }
        if (hlen == 0)
            return fail(u, err, err_len, "no host");
        if (hend < end) {
            if (*hend != ':' || !parse_int(hend + 1, (size_t)(end - hend - 1), 1, 65535, &u->port))
                return fail(u, err, err_len, "the port must be a number from 1 to 65535");
        }
        if (*end == '/' && end[1] != '\0' &&
            !parse_int(end + 1, strlen(end + 1), 0, 1000000, &u->db))
            return fail(u, err, err_len, "the database must be a number (redis://host:port/N)");
        if (!(u->host = dup_n(host, hlen)))
            return oom(u, err, err_len);
    }
    if (make_redacted(u) != LLM_OK)
        return oom(u, err, err_len);
    return LLM_OK;
}

void llm__redis_url_clear(struct llm__redis_url *u)
{
    if (!u)
        return;
    free(u->host);
    free(u->path);
    free(u->user);
    if (u->password) {
        /* Not left behind in freed memory. */
        volatile char *p = u->password;
        while (*p)
            *p++ = 0;
        free(u->password);
    }
    free(u->redacted);
    memset(u, 0, sizeof(*u));
}
