/* The mock's SigV4 verifier for Bedrock paths, written from AWS's
 * "Create a signed AWS API request" specification and kept apart from the
 * client's signer (src/providers/sigv4.c) so that each checks the other:
 *   1. Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
 *      SERVICE/aws4_request, SignedHeaders=h1;h2..., Signature=HEX
 *   2. canonical request = METHOD \n canonical URI \n canonical query \n
 *      (name:values\n for each signed header, in SignedHeaders order; a
 *      repeated header's values joined with ',') \n SignedHeaders \n
 *      hex(SHA-256(payload)); the canonical URI is the path as received,
 *      URI-encoded once more (every service but S3), so "%3A" on the wire
 *      is "%253A" here; the canonical query has each name and value
 *      encoded once, sorted by name then value
 *   3. string to sign = "AWS4-HMAC-SHA256" \n X-Amz-Date \n
 *      DATE/REGION/SERVICE/aws4_request \n hex(SHA-256(canonical request))
 *   4. kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, DATE), REGION),
 *      SERVICE), "aws4_request"); signature = hex(HMAC(kSigning, sts)).
 * The mock also insists that host, x-amz-date and (when sent)
 * x-amz-content-sha256 and x-amz-security-token are signed, that the
 * payload hash matches the body, and that the service is "bedrock".
 *
 * mocksrv__sigv4_check is the pure core (a request as data, the service to
 * expect), also run on AWS's SigV4 test suite (tests/unit/test_mock_sigv4.c):
 * that suite's paths carry no escapes, so "encode once more" is the single
 * encoding its canonical requests show, and one canonical-URI rule covers
 * both it and Bedrock. */
#include "mock_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void hexify(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[32];
    EVP_Digest(d, n, md, NULL, EVP_sha256(), NULL);
    hexify(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* Copy the value of `key=` up to ',' or the end from the Authorization
 * header's parameters. */
static bool param(const char *auth, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = auth; (p = strstr(p, key)) != NULL; p += kl) {
        if (p != auth && p[-1] != ' ' && p[-1] != ',')
            continue;
        if (p[kl] != '=')
            continue;
        const char *v = p + kl + 1;
        size_t n = strcspn(v, ",");
        if (n >= cap)
            return false;
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

static int refuse(char *why, size_t cap, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return -1;
}

static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

/* URI-encode bytes [s, s+n): unreserved bytes (and '/' when keep_slash)
 * as they are, every other byte as %XX in upper case. */
static void uri_encode(struct mocksrv__buf *b, const char *s, size_t n, bool keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (unreserved(ch) || (keep_slash && ch == '/'))
            mocksrv__buf_add(b, &ch, 1);
        else
            mocksrv__buf_printf(b, "%%%02X", ch);
    }
}

/* A query parameter's name or value, percent-decoded (a '%' not followed
 * by two hex digits kept as it is), then URI-encoded: the query is encoded
 * once whatever the client escaped. */
static void query_part(struct mocksrv__buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%' && i + 2 < n && mocksrv__hexval(s[i + 1]) >= 0 &&
            mocksrv__hexval(s[i + 2]) >= 0) {
            ch = (char)(mocksrv__hexval(s[i + 1]) * 16 + mocksrv__hexval(s[i + 2]));
            i += 2;
        }
        uri_encode(b, &ch, 1, false);
    }
}

struct qparam {
    char *name, *value; /* canonical (encoded) */
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* The canonical query string of `query` (as received, without '?'):
 * each parameter's name and value encoded (query_part), the parameters
 * sorted by name then value, joined "n=v&n=v".  False on out of memory. */
static bool canonical_query(struct mocksrv__buf *cr, const char *query)
{
    size_t n = 0;
    for (const char *p = query; *p; p++)
        n += *p == '&';
    struct qparam *ps = calloc(n + 1, sizeof(*ps));
    if (ps == NULL)
        return false;
    size_t k = 0;
    bool ok = true;
    for (const char *p = query; ok && *p;) {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nl = eq != NULL ? (size_t)(eq - p) : len;
            struct mocksrv__buf nb = {0}, vb = {0};
            query_part(&nb, p, nl);
            if (eq != NULL)
                query_part(&vb, eq + 1, len - nl - 1);
            /* Allocated even when empty; a failed buffer still owns its data. */
            mocksrv__buf_str(&nb, "");
            mocksrv__buf_str(&vb, "");
            ok = !nb.failed && !vb.failed;
            ps[k].name = mocksrv__buf_take(&nb, NULL);
            ps[k].value = mocksrv__buf_take(&vb, NULL);
            k++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    if (ok) {
        qsort(ps, k, sizeof(*ps), qparam_cmp);
        for (size_t i = 0; i < k; i++)
            mocksrv__buf_printf(cr, "%s%s=%s", i > 0 ? "&" : "", ps[i].name, ps[i].value);
    }
    for (size_t i = 0; i < k; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
    return ok;
}

/* Every value of header `name` (case-insensitive) in the order received,
 * each trimmed with inner runs of spaces collapsed, joined with ','.
 * False when the request has no such header. */
static bool header_values(struct mocksrv__buf *cr, const struct mocksrv__sigv4_request *q,
                          const char *name)
{
    bool found = false;
    for (size_t i = 0; i < q->n_headers; i++) {
        if (strcasecmp(q->headers[i].name, name) != 0)
            continue;
        if (found)
            mocksrv__buf_str(cr, ",");
        found = true;
        const char *v = q->headers[i].value != NULL ? q->headers[i].value : "";
        while (*v == ' ' || *v == '\t')
            v++;
        bool sp = false;
        for (; *v; v++) {
            if (*v == ' ' || *v == '\t') {
                sp = true;
                continue;
            }
            if (sp)
                mocksrv__buf_str(cr, " ");
            sp = false;
            mocksrv__buf_add(cr, v, 1);
        }
    }
    return found;
}

/* The first value of header `name`, NULL if none. */
static const char *header(const struct mocksrv__sigv4_request *q, const char *name)
{
    for (size_t i = 0; i < q->n_headers; i++)
        if (strcasecmp(q->headers[i].name, name) == 0)
            return q->headers[i].value != NULL ? q->headers[i].value : "";
    return NULL;
}

/* The canonical request's hex SHA-256 into out[65]; -1 with the reason
 * when a signed header is missing or memory runs out. */
static int canonical_request_hash(const struct mocksrv__sigv4_request *q,
                                  const char *signed_headers, const char *payload_hash,
                                  char out[65], char *why, size_t why_cap)
{
    struct mocksrv__buf cr = {0};
    mocksrv__buf_printf(&cr, "%s\n", q->method);
    /* The path as received encoded once more (every service but S3), '/'
     * kept: "%3A" on the wire is "%253A" here. */
    uri_encode(&cr, q->path, strlen(q->path), true);
    mocksrv__buf_str(&cr, "\n");
    if (!canonical_query(&cr, q->query != NULL ? q->query : "")) {
        mocksrv__buf_free(&cr);
        return refuse(why, why_cap, "out of memory");
    }
    mocksrv__buf_str(&cr, "\n");
    char names[1030];
    snprintf(names, sizeof(names), "%s", signed_headers);
    char *save = NULL;
    for (char *h = strtok_r(names, ";", &save); h != NULL; h = strtok_r(NULL, ";", &save)) {
        mocksrv__buf_printf(&cr, "%s:", h);
        if (!header_values(&cr, q, h)) {
            mocksrv__buf_free(&cr);
            return refuse(why, why_cap, "A signed header is missing from the request.");
        }
        mocksrv__buf_str(&cr, "\n");
    }
    mocksrv__buf_printf(&cr, "\n%s\n%s", signed_headers, payload_hash);
    if (cr.failed) {
        mocksrv__buf_free(&cr);
        return refuse(why, why_cap, "out of memory");
    }
    sha256_hex(cr.data, cr.len, out);
    mocksrv__buf_free(&cr);
    return 0;
}

int mocksrv__sigv4_check(const struct mocksrv__sigv4_request *q, const char *secret,
                         const char *service, char *why, size_t why_cap)
{
    const char *auth = header(q, "Authorization");
    static const char algo[] = "AWS4-HMAC-SHA256 ";
    if (auth == NULL || strncmp(auth, algo, sizeof(algo) - 1) != 0)
        return refuse(why, why_cap, "Missing Authentication Token");
    char cred[256], signed_headers[1024], signature[80];
    if (!param(auth, "Credential", cred, sizeof(cred)) ||
        !param(auth, "SignedHeaders", signed_headers, sizeof(signed_headers)) ||
        !param(auth, "Signature", signature, sizeof(signature)))
        return refuse(why, why_cap, "Authorization header requires 'Credential', "
                                    "'SignedHeaders' and 'Signature' parameters.");
    /* AKID/DATE/REGION/SERVICE/aws4_request */
    char *parts[5] = {0};
    char credcopy[256];
    snprintf(credcopy, sizeof(credcopy), "%s", cred);
    char *save = NULL;
    int np = 0;
    for (char *t = strtok_r(credcopy, "/", &save); t != NULL && np < 5;
         t = strtok_r(NULL, "/", &save))
        parts[np++] = t;
    if (np != 5 || strcmp(parts[4], "aws4_request") != 0 || strlen(parts[1]) != 8)
        return refuse(why, why_cap, "Credential should be scoped to a valid region.");
    if (strcmp(parts[3], service) != 0) {
        snprintf(why, why_cap, "Credential should be scoped to correct service: '%s'.", service);
        return -1;
    }
    const char *amz_date = header(q, "x-amz-date");
    if (amz_date == NULL || strlen(amz_date) != 16 || strncmp(amz_date, parts[1], 8) != 0)
        return refuse(why, why_cap, "Date in Credential scope does not match YYYYMMDD from "
                                    "ISO-8601 version of date from HTTP.");

    /* Headers the service requires to be signed. */
    char list[1030];
    snprintf(list, sizeof(list), ";%s;", signed_headers);
    const char *must[] = {"host", "x-amz-date", NULL, NULL};
    if (header(q, "x-amz-content-sha256") != NULL)
        must[2] = "x-amz-content-sha256";
    if (header(q, "x-amz-security-token") != NULL)
        must[3] = "x-amz-security-token";
    for (int i = 0; i < 4; i++) {
        char want[64];
        if (must[i] == NULL)
            continue;
        snprintf(want, sizeof(want), ";%s;", must[i]);
        if (strstr(list, want) == NULL)
            return refuse(why, why_cap, "'Host', 'X-Amz-Date' and the x-amz-* headers sent "
                                        "must be signed.");
    }

    char payload_hash[65];
    sha256_hex(q->body != NULL ? q->body : "", q->body_len, payload_hash);
    const char *sent_hash = header(q, "x-amz-content-sha256");
    if (sent_hash != NULL && strcmp(sent_hash, payload_hash) != 0)
        return refuse(why, why_cap, "The provided 'x-amz-content-sha256' header does not match "
                                    "what was computed.");

    char cr_hash[65];
    if (canonical_request_hash(q, signed_headers, payload_hash, cr_hash, why, why_cap) != 0)
        return -1;

    char sts[512];
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date,
             parts[1], parts[2], parts[3], cr_hash);
    size_t kl = strlen(secret) + 4;
    char *k = malloc(kl + 1);
    if (k == NULL)
        return refuse(why, why_cap, "out of memory");
    snprintf(k, kl + 1, "AWS4%s", secret);
    unsigned char k1[32], k2[32];
    hmac(k, kl, parts[1], k1);
    hmac(k1, 32, parts[2], k2);
    hmac(k2, 32, parts[3], k1);
    hmac(k1, 32, "aws4_request", k2);
    hmac(k2, 32, sts, k1);
    explicit_bzero(k, kl);
    free(k);
    char want[65];
    hexify(k1, 32, want);
    explicit_bzero(k1, sizeof(k1));
    explicit_bzero(k2, sizeof(k2));
    if (strlen(signature) != 64 || CRYPTO_memcmp(want, signature, 64) != 0)
        return refuse(why, why_cap, "The request signature we calculated does not match the "
                                    "signature you provided. Check your AWS Secret Access Key "
                                    "and signing method. Consult the service documentation for "
                                    "details.");
    return 0;
}

/* ---- from a libmicrohttpd connection ---------------------------------------- */

/* At most this many request headers are looked at (libmicrohttpd's memory
 * pool bounds them anyway). */
#define MAX_HEADERS 256

struct collected {
    struct mocksrv__sigv4_header h[MAX_HEADERS];
    size_t n;
    bool overflow;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct collected *c = cls;
    if (c->n == MAX_HEADERS) {
        c->overflow = true;
        return MHD_NO;
    }
    c->h[c->n].name = key;
    c->h[c->n++].value = value != NULL ? value : "";
    return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct mocksrv__buf *b = cls;
    mocksrv__buf_printf(b, b->len > 0 ? "&%s" : "%s", key);
    if (value != NULL)
        mocksrv__buf_printf(b, "=%s", value);
    return MHD_YES;
}

int mocksrv__sigv4_verify(struct MHD_Connection *c, const char *method, const char *raw_path,
                          const char *body, size_t len, const char *secret, char *why,
                          size_t why_cap)
{
    struct collected *hs = calloc(1, sizeof(*hs));
    if (hs == NULL)
        return refuse(why, why_cap, "out of memory");
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, hs);
    /* The server keeps escapes (its unescape callback), so the arguments
     * are as sent. */
    struct mocksrv__buf qb = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &qb);
    int rc;
    if (hs->overflow)
        rc = refuse(why, why_cap, "too many headers");
    else if (qb.failed)
        rc = refuse(why, why_cap, "out of memory");
    else {
        struct mocksrv__sigv4_request q = {
            .method = method,
            .path = raw_path,
            .query = qb.data != NULL ? qb.data : "",
            .headers = hs->h,
            .n_headers = hs->n,
            .body = body,
            .body_len = len,
        };
        rc = mocksrv__sigv4_check(&q, secret, "bedrock", why, why_cap);
    }
    mocksrv__buf_free(&qb);
    free(hs);
    return rc;
}
