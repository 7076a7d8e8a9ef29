/* Building JSON documents with cJSON without checking every call: the
 * writer remembers whether any allocation failed, and finishing hands back
 * a string from our own malloc (so llm_free() stays plain free() whatever
 * allocation hooks the host gave cJSON).  Shared by result and stats
 * serialisers.  Not installed. */
#ifndef LLMORCH_JSONW_H
#define LLMORCH_JSONW_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

static inline cJSON *llm__jw_str_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
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
