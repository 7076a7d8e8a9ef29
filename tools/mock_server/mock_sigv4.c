/* The mock's SigV4 verifier for Bedrock paths, written from AWS's
 * "Create a signed AWS API request" specification and kept apart from the
 * client's signer (src/providers/sigv4.c) so that each checks the other:
 *   1. Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
 *      SERVICE/aws4_request, SignedHeaders=h1;h2..., Signature=HEX
 *   2. canonical request = METHOD \n canonical URI \n canonical query \n
 *      (name:value\n for each signed header, in SignedHeaders order) \n
 *      SignedHeaders \n hex(SHA-256(payload)); the canonical URI is the
 *      path as received, URI-encoded once more (every service but S3), so
 *      "%3A" on the wire is "%253A" here
 *   3. string to sign = "AWS4-HMAC-SHA256" \n X-Amz-Date \n
 *      DATE/REGION/SERVICE/aws4_request \n hex(SHA-256(canonical request))
 *   4. kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, DATE), REGION),
 *      SERVICE), "aws4_request"); signature = hex(HMAC(kSigning, sts)).
 * The mock also insists that host, x-amz-date and (when sent)
 * x-amz-content-sha256 and x-amz-security-token are signed, that the
 * payload hash matches the body, and that the service is "bedrock". */
#include "mock_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int mocksrv__sigv4_verify(struct MHD_Connection *c, const char *method, const char *raw_path,
                          const char *body, size_t len, const char *secret, char *why,
                          size_t why_cap)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
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
    if (strcmp(parts[3], "bedrock") != 0)
        return refuse(why, why_cap, "Credential should be scoped to correct service: 'bedrock'.");
    const char *amz_date = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-date");
    if (amz_date == NULL || strlen(amz_date) != 16 || strncmp(amz_date, parts[1], 8) != 0)
        return refuse(why, why_cap, "Date in Credential scope does not match YYYYMMDD from "
                                    "ISO-8601 version of date from HTTP.");

    /* Headers the service requires to be signed. */
    char list[1030];
    snprintf(list, sizeof(list), ";%s;", signed_headers);
    const char *must[] = {"host", "x-amz-date", NULL, NULL};
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-content-sha256") != NULL)
        must[2] = "x-amz-content-sha256";
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-security-token") != NULL)
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
    sha256_hex(body != NULL ? body : "", len, payload_hash);
    const char *sent_hash = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                        "x-amz-content-sha256");
    if (sent_hash != NULL && strcmp(sent_hash, payload_hash) != 0)
        return refuse(why, why_cap, "The provided 'x-amz-content-sha256' header does not match "
                                    "what was computed.");

    /* The canonical request. */
    struct mocksrv__buf cr = {0};
    mocksrv__buf_printf(&cr, "%s\n", method);
    for (const unsigned char *p = (const unsigned char *)raw_path; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '/')
            mocksrv__buf_add(&cr, p, 1);
        else
            mocksrv__buf_printf(&cr, "%%%02X", *p);
    }
    /* Bedrock's Converse paths carry no query. */
    mocksrv__buf_str(&cr, "\n\n");
    char names[1030];
    snprintf(names, sizeof(names), "%s", signed_headers);
    save = NULL;
    for (char *h = strtok_r(names, ";", &save); h != NULL; h = strtok_r(NULL, ";", &save)) {
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, h);
        if (v == NULL) {
            mocksrv__buf_free(&cr);
            return refuse(why, why_cap, "A signed header is missing from the request.");
        }
        mocksrv__buf_printf(&cr, "%s:", h);
        /* Trimmed, inner runs of spaces collapsed. */
        while (*v == ' ' || *v == '\t')
            v++;
        bool sp = false;
        for (; *v; v++) {
            if (*v == ' ' || *v == '\t') {
                sp = true;
                continue;
            }
            if (sp)
                mocksrv__buf_str(&cr, " ");
            sp = false;
            mocksrv__buf_add(&cr, v, 1);
        }
        mocksrv__buf_str(&cr, "\n");
    }
    mocksrv__buf_printf(&cr, "\n%s\n%s", signed_headers, payload_hash);
    if (cr.failed) {
        mocksrv__buf_free(&cr);
        return refuse(why, why_cap, "out of memory");
    }
    char cr_hash[65];
    sha256_hex(cr.data, cr.len, cr_hash);
    mocksrv__buf_free(&cr);

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
    free(k);
    char want[65];
    hexify(k1, 32, want);
    if (strlen(signature) != 64 || CRYPTO_memcmp(want, signature, 64) != 0)
        return refuse(why, why_cap, "The request signature we calculated does not match the "
                                    "signature you provided. Check your AWS Secret Access Key "
                                    "and signing method. Consult the service documentation for "
                                    "details.");
    return 0;
}
