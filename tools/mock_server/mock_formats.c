/* Routing of the paths of the formats beyond OpenAI and Anthropic, and what
 * they share (see mock_internal.h). */
#include "mock_internal.h"

#include <stdlib.h>
#include <string.h>

const struct mocksrv__format *mocksrv__format_of(enum mocksrv__api api)
{
    switch (api) {
    case MOCKSRV__API_GEMINI:
        return &mocksrv__gemini_format;
    case MOCKSRV__API_BEDROCK:
        return &mocksrv__bedrock_format;
    case MOCKSRV__API_OLLAMA:
        return &mocksrv__ollama_format;
    default:
        return NULL;
    }
}

int mocksrv__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* s[0..n) percent-decoded, malloc'd; NULL if empty or out of memory. */
static char *decode(const char *s, size_t n)
{
    if (n == 0)
        return NULL;
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && n - i > 2 && (hi = mocksrv__hexval(s[i + 1])) >= 0 &&
            (lo = mocksrv__hexval(s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static bool ends_with(const char *s, size_t n, const char *suffix, size_t *stem)
{
    size_t k = strlen(suffix);
    if (n < k || memcmp(s + n - k, suffix, k) != 0)
        return false;
    *stem = n - k;
    return true;
}

bool mocksrv__route(const char *path, enum mocksrv__api *api, char **model, int *stream)
{
    *model = NULL;
    *stream = -1;
    size_t n = strlen(path), stem;
    if (strcmp(path, "/api/chat") == 0) {
        *api = MOCKSRV__API_OLLAMA;
        return true;
    }
    if (strcmp(path, "/openai/v1/chat/completions") == 0) {
        *api = MOCKSRV__API_OPENAI;
        return true;
    }
    static const char dep[] = "/openai/deployments/";
    if (strncmp(path, dep, sizeof(dep) - 1) == 0 &&
        ends_with(path, n, "/chat/completions", &stem) && stem > sizeof(dep) - 1 &&
        memchr(path + sizeof(dep) - 1, '/', stem - (sizeof(dep) - 1)) == NULL) {
        *api = MOCKSRV__API_OPENAI;
        *model = decode(path + sizeof(dep) - 1, stem - (sizeof(dep) - 1));
        return true;
    }
    /* Gemini: the model and the method in the last segment, ':' as is. */
    static const char *const gem[] = {"/v1beta/models/", "/v1/models/"};
    for (size_t g = 0; g < 2; g++) {
        size_t pl = strlen(gem[g]);
        if (strncmp(path, gem[g], pl) != 0)
            continue;
        bool s = ends_with(path, n, ":streamGenerateContent", &stem);
        if (!s && !ends_with(path, n, ":generateContent", &stem))
            return false;
        if (stem <= pl || memchr(path + pl, '/', stem - pl) != NULL)
            return false;
        *api = MOCKSRV__API_GEMINI;
        *model = decode(path + pl, stem - pl);
        *stream = s;
        return true;
    }
    /* Bedrock: the model id is one (percent-encoded) segment. */
    static const char mdl[] = "/model/";
    if (strncmp(path, mdl, sizeof(mdl) - 1) == 0) {
        bool s = ends_with(path, n, "/converse-stream", &stem);
        if (!s && !ends_with(path, n, "/converse", &stem))
            return false;
        size_t pl = sizeof(mdl) - 1;
        if (stem <= pl || memchr(path + pl, '/', stem - pl) != NULL)
            return false;
        *api = MOCKSRV__API_BEDROCK;
        *model = decode(path + pl, stem - pl);
        *stream = s;
        return true;
    }
    return false;
}

uint32_t mocksrv__crc32(const void *data, size_t len)
{
    /* Bit at a time: the mock's frames are small, and this stays apart from
     * the library's table-driven decoder it is checked against. */
    const unsigned char *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}
