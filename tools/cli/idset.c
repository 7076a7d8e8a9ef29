/* A set of strings with a small tag each: the custom_ids a batch has
 * written (from an earlier run) or submitted (in this one).  Open
 * addressing with linear probing; the table doubles at half full. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    char *id;
    uint64_t hash;
    int tag;
};

struct cli_idset {
    struct slot *slots;
    size_t cap;     /* power of two */
    size_t count;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct cli_idset *cli_idset_new(void)
{
    struct cli_idset *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (s->slots == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void cli_idset_free(struct cli_idset *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].id);
    free(s->slots);
    free(s);
}

static struct slot *find(const struct cli_idset *s, const char *id, uint64_t h)
{
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct slot *sl = &s->slots[i];
        if (sl->id == NULL || (sl->hash == h && strcmp(sl->id, id) == 0))
            return sl;
    }
}

int cli_idset_get(const struct cli_idset *s, const char *id)
{
    struct slot *sl = find(s, id, hash_str(id));
    return sl->id != NULL ? sl->tag : 0;
}

static int grow(struct cli_idset *s)
{
    if (s->cap > SIZE_MAX / 2 / sizeof(struct slot))
        return -1;
    struct cli_idset n = {.cap = s->cap * 2};
    n.slots = calloc(n.cap, sizeof(*n.slots));
    if (n.slots == NULL)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].id != NULL)
            *find(&n, s->slots[i].id, s->slots[i].hash) = s->slots[i];
    free(s->slots);
    s->slots = n.slots;
    s->cap = n.cap;
    return 0;
}

int cli_idset_add(struct cli_idset *s, const char *id, int tag)
{
    uint64_t h = hash_str(id);
    struct slot *sl = find(s, id, h);
    if (sl->id != NULL)
        return 0;
    if ((s->count + 1) * 2 > s->cap) {
        if (grow(s) != 0)
            return -1;
        sl = find(s, id, h);
    }
    sl->id = strdup(id);
    if (sl->id == NULL)
        return -1;
    sl->hash = h;
    sl->tag = tag;
    s->count++;
    return 0;
}

size_t cli_idset_count(const struct cli_idset *s)
{
    return s->count;
}
