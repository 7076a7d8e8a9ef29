/* AWS Signature Version 4 with OpenSSL's SHA-256 and HMAC (libcrypto, which
 * libcurl already pulls in).  See sigv4.h for why not CURLOPT_AWS_SIGV4. */
#include "providers/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "transport/headers.h"

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void llm__sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(len ? data : (const void *)"", len, md);
    to_hex(md, sizeof(md), out);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static enum llm_error uri_encode(struct llm__buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char HX[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        enum llm_error err;
        if (unreserved(c) || (keep_slash && c == '/')) {
            err = llm__buf_append(b, &s[i], 1);
        } else {
            char e[3] = {'%', HX[c >> 4], HX[c & 15]};
            err = llm__buf_append(b, e, 3);
        }
        if (err != LLM_OK)
            return err;
    }
    return LLM_OK;
}

/* ---- canonical headers ---------------------------------------------------------- */

struct canon_header {
    char *name;  /* lowercase */
    char *value; /* trimmed, spaces collapsed */
    size_t order;
};

static char *canon_value(const char *v)
{
    size_t n = strlen(v);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == ' ' || c == '\t') {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

static int cmp_header(const void *a, const void *b)
{
    const struct canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* ---- canonical query ------------------------------------------------------------ */

struct qparam {
    char *name;  /* URI-encoded */
    char *value; /* URI-encoded */
};

static int cmp_qparam(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* s[0..n) percent-decoded, then URI-encoded: the same canonical form
 * whether the query was sent encoded or raw (AWS's SDKs decode first). */
static char *reencode(const char *s, size_t n)
{
    struct llm__buf dec = {0}, enc = {0};
    enum llm_error err = llm__buf_append(&dec, "", 0);
    for (size_t i = 0; i < n && err == LLM_OK; i++) {
        char c = s[i];
        int hi, lo;
        if (c == '%' && n - i > 2 && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        err = llm__buf_append(&dec, &c, 1);
    }
    if (err == LLM_OK)
        err = llm__buf_append(&enc, "", 0);
    if (err == LLM_OK)
        err = uri_encode(&enc, dec.data, dec.len, false);
    llm__buf_free(&dec);
    if (err != LLM_OK) {
        llm__buf_free(&enc);
        return NULL;
    }
    return llm__buf_steal(&enc);
}

/* The query's parameters, names and values in canonical encoding, sorted
 * by name then value, each "name=value" (a bare name gets "="). */
static enum llm_error canon_query(struct llm__buf *b, const char *query)
{
    if (query == NULL || *query == '\0')
        return LLM_OK;
    size_t n = 1;
    for (const char *q = query; *q; q++)
        n += *q == '&';
    struct qparam *ps = calloc(n, sizeof(*ps));
    if (ps == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    size_t k = 0;
    enum llm_error err = LLM_OK;
    const char *s = query;
    for (;;) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len > 0) {
            const char *eq = memchr(s, '=', len);
            size_t nl = eq ? (size_t)(eq - s) : len;
            ps[k].name = reencode(s, nl);
            ps[k].value = eq ? reencode(eq + 1, len - nl - 1) : llm__strdup("");
            k++;
            if (ps[k - 1].name == NULL || ps[k - 1].value == NULL) {
                err = LLM_ERR_OUT_OF_MEMORY;
                break;
            }
        }
        if (amp == NULL)
            break;
        s = amp + 1;
    }
    if (err == LLM_OK)
        qsort(ps, k, sizeof(*ps), cmp_qparam);
    for (size_t i = 0; i < k && err == LLM_OK; i++)
        err = llm__buf_appendf(b, "%s%s=%s", i > 0 ? "&" : "", ps[i].name, ps[i].value);
    for (size_t i = 0; i < k; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
    return err;
}

enum llm_error llm__sigv4_canonical_request(const char *method, const char *path,
                                            const char *query, const struct llm_header *headers,
                                            size_t n_headers, const char *payload_sha256_hex,
                                            char **out, char **signed_headers)
{
    *out = NULL;
    *signed_headers = NULL;
    if (method == NULL || *method == '\0' || path == NULL || *path == '\0' ||
        payload_sha256_hex == NULL || (n_headers > 0 && headers == NULL))
        return LLM_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_headers; i++)
        if (headers[i].name == NULL || headers[i].name[0] == '\0' || headers[i].value == NULL)
            return LLM_ERR_INVALID_ARGUMENT;

    struct canon_header *hs = n_headers ? calloc(n_headers, sizeof(*hs)) : NULL;
    if (n_headers > 0 && hs == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    enum llm_error err = LLM_OK;
    for (size_t i = 0; i < n_headers && err == LLM_OK; i++) {
        hs[i].order = i;
        hs[i].name = llm__strdup(headers[i].name);
        hs[i].value = canon_value(headers[i].value);
        if (hs[i].name == NULL || hs[i].value == NULL)
            err = LLM_ERR_OUT_OF_MEMORY;
        else
            for (char *c = hs[i].name; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
    }
    if (err == LLM_OK && n_headers > 1)
        qsort(hs, n_headers, sizeof(*hs), cmp_header);

    struct llm__buf b = {0}, sh = {0};
    if (err == LLM_OK)
        err = llm__buf_appendf(&b, "%s\n", method);
    if (err == LLM_OK)
        err = uri_encode(&b, path, strlen(path), true);
    if (err == LLM_OK)
        err = llm__buf_append(&b, "\n", 1);
    if (err == LLM_OK)
        err = canon_query(&b, query);
    if (err == LLM_OK)
        err = llm__buf_append(&b, "\n", 1);
    for (size_t i = 0; i < n_headers && err == LLM_OK; i++) {
        bool same_as_prev = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
        bool same_as_next = i + 1 < n_headers && strcmp(hs[i].name, hs[i + 1].name) == 0;
        if (!same_as_prev) {
            err = llm__buf_appendf(&b, "%s:", hs[i].name);
            if (err == LLM_OK)
                err = llm__buf_appendf(&sh, "%s%s", sh.len ? ";" : "", hs[i].name);
        }
        if (err == LLM_OK)
            err = llm__buf_appendf(&b, "%s%s", hs[i].value, same_as_next ? "," : "\n");
    }
    if (err == LLM_OK)
        err = llm__buf_appendf(&b, "\n%s\n%s", sh.len ? sh.data : "", payload_sha256_hex);

    for (size_t i = 0; i < n_headers && hs != NULL; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(hs);
    if (err != LLM_OK) {
        llm__buf_free(&b);
        llm__buf_free(&sh);
        return err;
    }
    *signed_headers = llm__buf_steal(&sh);
    *out = llm__buf_steal(&b);
    if (*out == NULL || *signed_headers == NULL) {
        free(*out);
        free(*signed_headers);
        *out = *signed_headers = NULL;
        return LLM_ERR_OUT_OF_MEMORY;
    }
    return LLM_OK;
}

static bool amz_date_ok(const char *d)
{
    if (d == NULL || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return false;
    return true;
}

static bool hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
                &n) != NULL &&
           n == 32;
}

enum llm_error llm__sigv4_signature(const char *secret_access_key, const char *amz_date,
                                    const char *region, const char *service,
                                    const char *canonical_request, char out[65])
{
    out[0] = '\0';
    if (secret_access_key == NULL || region == NULL || service == NULL ||
        canonical_request == NULL || !amz_date_ok(amz_date))
        return LLM_ERR_INVALID_ARGUMENT;
    char date[9];
    memcpy(date, amz_date, 8);
    date[8] = '\0';

    char creq_hash[65];
    llm__sha256_hex(canonical_request, strlen(canonical_request), creq_hash);
    char *sts = llm__asprintf("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date,
                              region, service, creq_hash);
    char *k0 = llm__asprintf("AWS4%s", secret_access_key);
    enum llm_error err = LLM_OK;
    unsigned char k[32], k2[32];
    if (sts == NULL || k0 == NULL)
        err = LLM_ERR_OUT_OF_MEMORY;
    else if (!hmac(k0, strlen(k0), date, k) || !hmac(k, 32, region, k2) ||
             !hmac(k2, 32, service, k) || !hmac(k, 32, "aws4_request", k2) ||
             !hmac(k2, 32, sts, k))
        err = LLM_ERR_OUT_OF_MEMORY; /* libcrypto fails only when it cannot allocate */
    else
        to_hex(k, 32, out);
    if (k0 != NULL) {
        explicit_bzero(k0, strlen(k0));
        free(k0);
    }
    explicit_bzero(k, sizeof(k));
    explicit_bzero(k2, sizeof(k2));
    free(sts);
    return err;
}

void llm__amz_date(int64_t epoch_s, char out[17])
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 70 || tm.tm_year > 9999 - 1900) {
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = 70;
        tm.tm_mday = 1;
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, buf, 16);
    out[16] = '\0';
}

/* Split an absolute http(s) URL into host[:port], path and query
 * (malloc'd).  The port is kept only when it is not the scheme's default,
 * as the Host header curl sends. */
static enum llm_error split_url(const char *url, char **host, char **path, char **query)
{
    *host = *path = *query = NULL;
    const char *p;
    const char *dflt;
    if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        dflt = ":443";
    } else if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        dflt = ":80";
    } else {
        return LLM_ERR_INVALID_ARGUMENT;
    }
    size_t alen = strcspn(p, "/?#");
    const char *at = memchr(p, '@', alen);
    if (at != NULL) {
        alen -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (alen == 0)
        return LLM_ERR_INVALID_ARGUMENT;
    size_t dl = strlen(dflt);
    size_t hlen = alen;
    if (alen > dl && memcmp(p + alen - dl, dflt, dl) == 0 && p[alen - dl - 1] != ']')
        hlen = alen - dl;
    const char *rest = p + alen;
    size_t plen = strcspn(rest, "?#");
    const char *q = rest[plen] == '?' ? rest + plen + 1 : NULL;
    size_t qlen = q ? strcspn(q, "#") : 0;
    *host = llm__strndup(p, hlen);
    *path = plen ? llm__strndup(rest, plen) : llm__strdup("/");
    *query = llm__strndup(q ? q : "", qlen);
    if (*host == NULL || *path == NULL || *query == NULL) {
        free(*host);
        free(*path);
        free(*query);
        *host = *path = *query = NULL;
        return LLM_ERR_OUT_OF_MEMORY;
    }
    return LLM_OK;
}

enum llm_error llm__sigv4_sign_request(struct llm_http_request *req, const char *method,
                                       const struct llm__aws_credentials *creds,
                                       const char *region, const char *service, int64_t epoch_s)
{
    if (req == NULL || req->url == NULL || creds == NULL || creds->access_key_id == NULL ||
        creds->secret_access_key == NULL || region == NULL || service == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    char *host, *path, *query;
    enum llm_error err = split_url(req->url, &host, &path, &query);
    if (err != LLM_OK)
        return err;

    /* Signing again replaces what an earlier signature added. */
    static const char *const own[] = {"X-Amz-Date", "X-Amz-Content-Sha256",
                                      "X-Amz-Security-Token", "Authorization"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        llm__http_request_remove_header(req, own[i], strlen(own[i]));

    char amz_date[17], payload_hash[65];
    llm__amz_date(epoch_s, amz_date);
    llm__sha256_hex(req->body, req->body ? req->body_len : 0, payload_hash);
    err = llm_http_request_add_header(req, "X-Amz-Date", amz_date);
    if (err == LLM_OK)
        err = llm_http_request_add_header(req, "X-Amz-Content-Sha256", payload_hash);
    if (err == LLM_OK && creds->session_token != NULL && creds->session_token[0] != '\0')
        err = llm_http_request_add_header(req, "X-Amz-Security-Token", creds->session_token);

    /* Sign every header the request carries, plus host. */
    struct llm_header *hs = NULL;
    char *creq = NULL, *signed_headers = NULL;
    if (err == LLM_OK) {
        hs = calloc(req->n_headers + 1, sizeof(*hs));
        if (hs == NULL)
            err = LLM_ERR_OUT_OF_MEMORY;
    }
    if (err == LLM_OK) {
        memcpy(hs, req->headers, req->n_headers * sizeof(*hs));
        hs[req->n_headers].name = (char *)"host";
        hs[req->n_headers].value = host;
        err = llm__sigv4_canonical_request(method, path, query, hs, req->n_headers + 1,
                                           payload_hash, &creq, &signed_headers);
    }
    char sig[65];
    if (err == LLM_OK)
        err = llm__sigv4_signature(creds->secret_access_key, amz_date, region, service, creq,
                                   sig);
    if (err == LLM_OK) {
        char *auth = llm__asprintf("AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, "
                                   "SignedHeaders=%s, Signature=%s",
                                   creds->access_key_id, amz_date, region, service,
                                   signed_headers, sig);
        err = auth ? llm_http_request_add_header(req, "Authorization", auth)
                   : LLM_ERR_OUT_OF_MEMORY;
        free(auth);
    }
    free(hs);
    free(creq);
    free(signed_headers);
    free(host);
    free(path);
    free(query);
    return err;
}
