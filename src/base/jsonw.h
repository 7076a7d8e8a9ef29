/* Building JSON documents with cJSON without checking every call: the
 * writer remembers whether any allocation failed, and finishing hands back
 * a string from our own malloc (so llm_free() stays plain free() whatever
 * allocation hooks the host gave cJSON).  Shared by the result and stats
 * serialisers and the CLI's batch lines.  Every string value MUST go
 * through llm__jw_strn / llm__jw_str_or_null (never cJSON_CreateString),
 * so that the documents are valid UTF-8.  Not installed. */
#ifndef LLMORCH_JSONW_H
#define LLMORCH_JSONW_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonout.h"

struct llm__jw {
    bool oom;
};

/* Add `item` under `key` (a literal or static string: cJSON keeps the
 * pointer).  Consumes `item`; returns it, or NULL after recording OOM. */
static inline cJSON *llm__jw_add(struct llm__jw *j, cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL || obj == NULL || !cJSON_AddItemToObjectCS(obj, key, item)) {
        cJSON_Delete(item);
        j->oom = true;
        return NULL;
    }
    return item;
}

/* Append `item` to an array.  Consumes `item`. */
static inline void llm__jw_push(struct llm__jw *j, cJSON *arr, cJSON *item)
{
    if (item == NULL || arr == NULL || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        j->oom = true;
    }
}

/* A string value for s[0..len), escaped by the one JSON string writer
 * (base/jsonout.h) in its utf8 mode: ill-formed UTF-8 becomes U+FFFD and
 * NUL is written as \u0000, so a document built from untrusted bytes (a
 * server's text, a host's id) is always valid UTF-8 JSON and keeps every
 * byte of the string.  (cJSON would copy the bytes as they are, and cut
 * the string at its first NUL.)  The item is a cJSON raw value, printed as
 * is.  NULL when out of memory. */
static inline cJSON *llm__jw_strn(const char *s, size_t len)
{
    struct llm__jo w = {0};
    w.utf8 = true;
    llm__jo_string_n(&w, s, len);
    size_t n;
    char *text = llm__jo_finish(&w, &n);
    if (text == NULL)
        return NULL;
    cJSON *item = cJSON_CreateRaw(text);
    free(text);
    return item;
}

/* As llm__jw_strn for a NUL-terminated string; NULL gives null. */
static inline cJSON *llm__jw_str_or_null(const char *s)
{
    return s != NULL ? llm__jw_strn(s, strlen(s)) : cJSON_CreateNull();
}

/* Print `root` compactly, delete it, and return a malloc'd copy (NULL if
 * anything failed along the way). */
static inline char *llm__jw_finish(struct llm__jw *j, cJSON *root)
{
    char *printed = j->oom ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (printed == NULL)
        return NULL;
    char *out = strdup(printed);
    cJSON_free(printed);
    return out;
}

#endif /* LLMORCH_JSONW_H */
