/* The gate wrapper: a copied vtable with no-op defaults, the name, and the
 * NULL-tolerant public entry points every gate strategy is called through. */
#include "llmorch/ext/gate.h"

#include <stdlib.h>

#include "base/util.h"

struct llm_gate {
    struct llm_gate_vtable vt;   /* copied, optional slots filled in */
    void *impl;
    char *name;
};

static void noop_adjust(void *impl, int64_t ticket, int64_t actual_amount, int64_t now_ms)
{
    (void)impl, (void)ticket, (void)actual_amount, (void)now_ms;
}

static void noop_set_limit(void *impl, int64_t limit, int64_t window_ms)
{
    (void)impl, (void)limit, (void)window_ms;
}

static void noop_block_until(void *impl, int64_t until_ms)
{
    (void)impl, (void)until_ms;
}

static void noop_usage(void *impl, int64_t now_ms, int64_t *used, int64_t *limit)
{
    (void)impl, (void)now_ms;
    *used = 0;
    *limit = 0;
}

static void noop_destroy(void *impl)
{
    (void)impl;
}

enum llm_error llm_gate_new(const struct llm_gate_vtable *vt, void *impl, const char *name,
                            struct llm_gate **out)
{
    if (out != NULL)
        *out = NULL;
    if (vt == NULL || vt->try_acquire == NULL || out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    struct llm_gate *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    g->name = llm__strdup(name != NULL ? name : "gate");
    if (g->name == NULL) {
        free(g);
        return LLM_ERR_OUT_OF_MEMORY;
    }
    g->vt = *vt;
    if (g->vt.adjust == NULL)
        g->vt.adjust = noop_adjust;
    if (g->vt.set_limit == NULL)
        g->vt.set_limit = noop_set_limit;
    if (g->vt.block_until == NULL)
        g->vt.block_until = noop_block_until;
    if (g->vt.usage == NULL)
        g->vt.usage = noop_usage;
    if (g->vt.destroy == NULL)
        g->vt.destroy = noop_destroy;
    g->impl = impl;
    *out = g;
    return LLM_OK;
}

const char *llm_gate_name(const struct llm_gate *g)
{
    return g != NULL ? g->name : "(null)";
}

int64_t llm_gate_try_acquire(struct llm_gate *g, int64_t now_ms, int64_t amount,
                             int64_t *ticket)
{
    if (g == NULL) {
        if (ticket != NULL)
            *ticket = 0;
        return 0;
    }
    int64_t unused;
    return g->vt.try_acquire(g->impl, now_ms, amount, ticket != NULL ? ticket : &unused);
}

void llm_gate_adjust(struct llm_gate *g, int64_t ticket, int64_t actual_amount, int64_t now_ms)
{
    if (g != NULL)
        g->vt.adjust(g->impl, ticket, actual_amount, now_ms);
}

void llm_gate_set_limit(struct llm_gate *g, int64_t limit, int64_t window_ms)
{
    if (g != NULL)
        g->vt.set_limit(g->impl, limit, window_ms);
}

void llm_gate_block_until(struct llm_gate *g, int64_t until_ms)
{
    if (g != NULL)
        g->vt.block_until(g->impl, until_ms);
}

void llm_gate_usage(struct llm_gate *g, int64_t now_ms, int64_t *used, int64_t *limit)
{
    int64_t u = 0, l = 0;
    if (g != NULL)
        g->vt.usage(g->impl, now_ms, &u, &l);
    if (used != NULL)
        *used = u;
    if (limit != NULL)
        *limit = l;
}

void llm_gate_free(struct llm_gate *g)
{
    if (g == NULL)
        return;
    g->vt.destroy(g->impl);
    free(g->name);
    free(g);
}
