/* Price tables: the built-in list, LiteLLM files, lookup with snapshot and
 * provider-prefix normalisation, and cost arithmetic. */
#include "llmorch/pricing.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/util.h"

/* ---- the built-in table ------------------------------------------------------------
 *
 * USD per million tokens: input, output, cached input (cache read), cache
 * write.  A negative cell means "the provider lists no such rate".
 *
 * Sources, each with the date its rows were checked (llmorch/pricing.h
 * has the dates as macros; change both together):
 *  - OpenAI (LLM_PRICING_DATE): the Standard tier of the pricing page (developers.openai.com/
 *    api/docs/pricing) and the per-model pages, cross-checked against
 *    third-party copies of that page dated 2026-03 to 2026-11.  OpenAI has
 *    no cache-write charge (caching is automatic), hence -1.
 *  - Anthropic (LLM_PRICING_DATE): the "Model pricing" table of platform.claude.com/docs/en/
 *    about-claude/pricing and the per-model overview pages.  The cache-write
 *    rate is the 5-minute one (1.25x input), the default TTL; llm_usage does
 *    not split 1-hour writes (2x input), which are therefore under-billed.
 *  - Gemini (LLM_PRICING_DATE_GEMINI, 2025-12; Developer API, paid tier,
 *    prompts up to 200K tokens): the rates of
 *    ai.google.dev/gemini-api/docs/pricing; cached input is the context-caching read rate.
 *    Thinking tokens are billed as output (llm_usage.output_tokens
 *    includes them).
 *  - Amazon Bedrock (LLM_PRICING_DATE_BEDROCK, 2025-12; on-demand,
 *    us-east-1): aws.amazon.com/bedrock/pricing, under the model ids Bedrock
 *    uses ("anthropic.claude-3-5-haiku-20241022-v1:0").  Cross-region
 *    inference profiles ("us.", "eu.", "apac.", "global." + the id) are
 *    billed at the model's rate: the lookup strips that prefix.
 *  - Ollama: local models have no entry (no date); the engine prices them
 *    at zero with cost.known true and cost.local true (see llm_cost).
 * Not modelled: Batch / Flex / Priority tiers, long-context premiums (e.g.
 * prompts over 200K tokens), and models whose price depends on prompt
 * length or changed while this table was checked (Claude Haiku 5.5,
 * Sonnet 5.5, Opus 5.5): load a current LiteLLM file for those. */
struct builtin_price {
    const char *model;
    double input, output, cached_input, cache_write;
};

static const struct builtin_price builtin_prices[] = {
    /* OpenAI, as of LLM_PRICING_DATE */
    {"gpt-4o", 2.50, 10.00, 1.25, -1},
    {"gpt-4o-2024-05-13", 5.00, 15.00, -1, -1}, /* the first snapshot kept its launch price */
    {"gpt-4o-mini", 0.15, 0.60, 0.075, -1},
    {"gpt-4.1", 2.00, 8.00, 0.50, -1},
    {"gpt-4.1-mini", 0.40, 1.60, 0.10, -1},
    {"gpt-4.1-nano", 0.10, 0.40, 0.025, -1},
    {"o1", 15.00, 60.00, 7.50, -1},
    {"o1-mini", 1.10, 4.40, 0.55, -1},
    {"o3", 2.00, 8.00, 0.50, -1},
    {"o3-mini", 1.10, 4.40, 0.55, -1},
    {"o4-mini", 1.10, 4.40, 0.275, -1},
    {"gpt-5", 1.25, 10.00, 0.125, -1},
    {"gpt-5-mini", 0.25, 2.00, 0.025, -1},
    {"gpt-5-nano", 0.05, 0.40, 0.005, -1},
    {"gpt-5.1", 1.25, 10.00, 0.125, -1},
    {"gpt-5.2", 1.75, 14.00, 0.175, -1},
    {"gpt-5.4", 2.50, 15.00, 0.25, -1},
    {"gpt-5.4-mini", 0.75, 4.50, 0.075, -1},
    {"gpt-5.4-nano", 0.20, 1.25, 0.02, -1},
    {"gpt-5.5", 5.00, 30.00, 0.50, -1},
    /* Anthropic, as of LLM_PRICING_DATE */
    {"claude-3-haiku", 0.25, 1.25, 0.03, 0.30},
    {"claude-3-opus", 15.00, 75.00, 1.50, 18.75},
    {"claude-3-5-haiku", 0.80, 4.00, 0.08, 1.00},
    {"claude-3-5-sonnet", 3.00, 15.00, 0.30, 3.75},
    {"claude-3-7-sonnet", 3.00, 15.00, 0.30, 3.75},
    {"claude-sonnet-4", 3.00, 15.00, 0.30, 3.75},
    {"claude-opus-4", 15.00, 75.00, 1.50, 18.75},
    {"claude-opus-4-1", 15.00, 75.00, 1.50, 18.75},
    {"claude-sonnet-4-5", 3.00, 15.00, 0.30, 3.75},
    {"claude-haiku-4-5", 1.00, 5.00, 0.10, 1.25},
    {"claude-opus-4-5", 5.00, 25.00, 0.50, 6.25},
    {"claude-opus-4-6", 5.00, 25.00, 0.50, 6.25},
    {"claude-sonnet-4-6", 3.00, 15.00, 0.30, 3.75},
    {"claude-opus-4-7", 5.00, 25.00, 0.50, 6.25},
    {"claude-opus-4-8", 5.00, 25.00, 0.50, 6.25},
    {"claude-sonnet-5", 2.00, 10.00, 0.20, 2.50},
    {"claude-opus-5", 5.00, 25.00, 0.50, 6.25},
    /* Google Gemini, as of LLM_PRICING_DATE_GEMINI */
    {"gemini-3-pro-preview", 2.00, 12.00, 0.20, -1},
    {"gemini-2.5-pro", 1.25, 10.00, 0.125, -1},
    {"gemini-2.5-flash", 0.30, 2.50, 0.03, -1},
    {"gemini-2.5-flash-lite", 0.10, 0.40, 0.01, -1},
    {"gemini-2.0-flash", 0.10, 0.40, 0.025, -1},
    {"gemini-2.0-flash-lite", 0.075, 0.30, -1, -1},
    /* Amazon Bedrock, as of LLM_PRICING_DATE_BEDROCK: Anthropic */
    {"anthropic.claude-3-haiku-20240307-v1:0", 0.25, 1.25, -1, -1},
    {"anthropic.claude-3-5-haiku-20241022-v1:0", 0.80, 4.00, 0.08, 1.00},
    {"anthropic.claude-3-5-sonnet-20240620-v1:0", 3.00, 15.00, -1, -1},
    {"anthropic.claude-3-5-sonnet-20241022-v2:0", 3.00, 15.00, 0.30, 3.75},
    {"anthropic.claude-3-7-sonnet-20250219-v1:0", 3.00, 15.00, 0.30, 3.75},
    {"anthropic.claude-sonnet-4-20250514-v1:0", 3.00, 15.00, 0.30, 3.75},
    {"anthropic.claude-sonnet-4-5-20250929-v1:0", 3.00, 15.00, 0.30, 3.75},
    {"anthropic.claude-haiku-4-5-20251001-v1:0", 1.00, 5.00, 0.10, 1.25},
    {"anthropic.claude-opus-4-20250514-v1:0", 15.00, 75.00, 1.50, 18.75},
    {"anthropic.claude-opus-4-1-20250805-v1:0", 15.00, 75.00, 1.50, 18.75},
    /* Amazon Bedrock: Meta Llama */
    {"meta.llama3-1-8b-instruct-v1:0", 0.22, 0.22, -1, -1},
    {"meta.llama3-1-70b-instruct-v1:0", 0.72, 0.72, -1, -1},
    {"meta.llama3-2-1b-instruct-v1:0", 0.10, 0.10, -1, -1},
    {"meta.llama3-2-3b-instruct-v1:0", 0.15, 0.15, -1, -1},
    {"meta.llama3-3-70b-instruct-v1:0", 0.72, 0.72, -1, -1},
    /* Amazon Bedrock: Amazon Nova */
    {"amazon.nova-micro-v1:0", 0.035, 0.14, 0.00875, -1},
    {"amazon.nova-lite-v1:0", 0.06, 0.24, 0.015, -1},
    {"amazon.nova-pro-v1:0", 0.80, 3.20, 0.20, -1},
    /* Amazon Bedrock: Mistral */
    {"mistral.mistral-7b-instruct-v0:2", 0.15, 0.20, -1, -1},
    {"mistral.mixtral-8x7b-instruct-v0:1", 0.45, 0.70, -1, -1},
    {"mistral.mistral-small-2402-v1:0", 1.00, 3.00, -1, -1},
    {"mistral.mistral-large-2402-v1:0", 4.00, 12.00, -1, -1},
};

#define N_BUILTIN (sizeof(builtin_prices) / sizeof(builtin_prices[0]))

/* Longest model name accepted from a file; real names are under 100. */
#define MAX_MODEL_NAME 256

/* ---- the table ----------------------------------------------------------------------
 *
 * A sorted array (case-insensitive order) searched by bisection: a few
 * thousand entries at most, built once and then only read. */
struct entry {
    char *model;
    struct llm_price price;
};

struct llm_pricing {
    struct entry *entries;
    size_t n;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcasecmp(((const struct entry *)a)->model, ((const struct entry *)b)->model);
}

static const struct entry *find_exact(const struct llm_pricing *p, const char *model)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(model, p->entries[mid].model);
        if (c == 0)
            return &p->entries[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void free_entries(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n && e != NULL; i++)
        free(e[i].model);
    free(e);
}

/* Merge `add` (sorted, names unique, owned) into p, entries of `add` winning
 * on equal names.  All allocation happens before p changes; `add`'s array is
 * consumed (its names move into p) on success and left alone on failure. */
static enum llm_error merge_sorted(struct llm_pricing *p, struct entry *add, size_t n_add)
{
    if (n_add > SIZE_MAX / sizeof(struct entry) - p->n)
        return LLM_ERR_OUT_OF_MEMORY;
    struct entry *merged = malloc((p->n + n_add) * sizeof(*merged) + 1);
    if (merged == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    size_t i = 0, j = 0, k = 0;
    while (i < p->n || j < n_add) {
        int c = i == p->n ? 1 : j == n_add ? -1 : strcasecmp(p->entries[i].model, add[j].model);
        if (c < 0) {
            merged[k++] = p->entries[i++];
        } else {
            if (c == 0)
                free(p->entries[i++].model); /* replaced */
            merged[k++] = add[j++];
        }
    }
    free(p->entries);
    p->entries = merged;
    p->n = k;
    return LLM_OK;
}

/* The highest rate accepted, USD per million tokens (1 USD per token).  The
 * dearest models cost a few hundred; anything near this is a typo, and a
 * rate such as 1e305 per token would overflow to an infinite cost (shown as
 * null cost with known:true, or $-nan in a summary). */
#define MAX_PER_MTOK 1e6

static bool rate_ok(double v)
{
    return isfinite(v) && v >= 0 && v <= MAX_PER_MTOK;
}

static bool price_ok(const struct llm_price *pr)
{
    return rate_ok(pr->input_per_mtok) && rate_ok(pr->output_per_mtok) &&
           (!pr->has_cached_input || rate_ok(pr->cached_input_per_mtok)) &&
           (!pr->has_cache_write || rate_ok(pr->cache_write_per_mtok));
}

static enum llm_error new_table(struct llm_pricing **out)
{
    if (out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
}

enum llm_error llm_pricing_new_empty(struct llm_pricing **out)
{
    return new_table(out);
}

enum llm_error llm_pricing_new_builtin(struct llm_pricing **out)
{
    enum llm_error err = new_table(out);
    if (err != LLM_OK)
        return err;
    struct entry *e = calloc(N_BUILTIN, sizeof(*e));
    if (e == NULL)
        goto oom;
    for (size_t i = 0; i < N_BUILTIN; i++) {
        const struct builtin_price *b = &builtin_prices[i];
        e[i].model = strdup(b->model);
        if (e[i].model == NULL) {
            free_entries(e, N_BUILTIN);
            goto oom;
        }
        e[i].price = (struct llm_price){
            .input_per_mtok = b->input,
            .output_per_mtok = b->output,
            .cached_input_per_mtok = b->cached_input >= 0 ? b->cached_input : 0,
            .cache_write_per_mtok = b->cache_write >= 0 ? b->cache_write : 0,
            .has_cached_input = b->cached_input >= 0,
            .has_cache_write = b->cache_write >= 0,
        };
    }
    qsort(e, N_BUILTIN, sizeof(*e), entry_cmp);
    (*out)->entries = e;
    (*out)->n = N_BUILTIN;
    return LLM_OK;
oom:
    free(*out);
    *out = NULL;
    return LLM_ERR_OUT_OF_MEMORY;
}

void llm_pricing_free(struct llm_pricing *p)
{
    if (p == NULL)
        return;
    free_entries(p->entries, p->n);
    free(p);
}

size_t llm_pricing_count(const struct llm_pricing *p)
{
    return p != NULL ? p->n : 0;
}

enum llm_error llm_pricing_set(struct llm_pricing *p, const char *model,
                               const struct llm_price *price)
{
    if (p == NULL || model == NULL || model[0] == '\0' || price == NULL || !price_ok(price))
        return LLM_ERR_INVALID_ARGUMENT;
    struct entry one = {.model = strdup(model), .price = *price};
    if (one.model == NULL)
        return LLM_ERR_OUT_OF_MEMORY;
    if (!one.price.has_cached_input)
        one.price.cached_input_per_mtok = 0;
    if (!one.price.has_cache_write)
        one.price.cache_write_per_mtok = 0;
    enum llm_error err = merge_sorted(p, &one, 1);
    if (err != LLM_OK)
        free(one.model);
    return err;
}

/* ---- lookup -------------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Length of `name` (n bytes) without a trailing snapshot marker, or n if it
 * has none. */
static size_t base_len(const char *name, size_t n)
{
    static const char latest[] = "-latest";
    size_t ll = sizeof(latest) - 1;
    if (n > ll && strncasecmp(name + n - ll, latest, ll) == 0)
        return n - ll;
    /* -YYYY-MM-DD */
    if (n > 11 && name[n - 11] == '-' && all_digits(name + n - 10, 4) && name[n - 6] == '-' &&
        all_digits(name + n - 5, 2) && name[n - 3] == '-' && all_digits(name + n - 2, 2))
        return n - 11;
    /* -YYYYMMDD or @YYYYMMDD (Vertex AI) */
    if (n > 9 && (name[n - 9] == '-' || name[n - 9] == '@') && all_digits(name + n - 8, 8))
        return n - 9;
    return n;
}

/* Steps 1-2 of the lookup on one candidate name. */
static const struct entry *find_candidate(const struct llm_pricing *p, const char *name)
{
    const struct entry *e = find_exact(p, name);
    if (e != NULL)
        return e;
    size_t n = strlen(name);
    size_t b = base_len(name, n);
    if (b == n || b == 0 || b > MAX_MODEL_NAME)
        return NULL;
    char base[MAX_MODEL_NAME + 1];
    memcpy(base, name, b);
    base[b] = '\0';
    return find_exact(p, base);
}

/* Length of a Bedrock cross-region inference profile's geography prefix
 * ("us.", "eu.", "apac.", "global.", "us-gov." ...) before a model id
 * ("anthropic.claude-..."), or 0. */
static size_t region_prefix_len(const char *name)
{
    static const char *const geos[] = {"us.", "eu.", "apac.", "ap.", "ca.", "jp.", "au.",
                                       "global.", "us-gov."};
    for (size_t i = 0; i < sizeof(geos) / sizeof(geos[0]); i++) {
        size_t n = strlen(geos[i]);
        /* A model id follows: "<provider>.<model>". */
        if (strncasecmp(name, geos[i], n) == 0 && strchr(name + n, '.') != NULL)
            return n;
    }
    return 0;
}

enum llm_error llm_pricing_lookup(const struct llm_pricing *p, const char *model,
                                  struct llm_price *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (p == NULL || model == NULL || out == NULL)
        return LLM_ERR_INVALID_ARGUMENT;
    const char *name = model;
    for (;;) {
        const struct entry *e = find_candidate(p, name);
        size_t geo = e == NULL ? region_prefix_len(name) : 0;
        if (geo > 0)
            e = find_candidate(p, name + geo);
        if (e != NULL) {
            *out = e->price;
            return LLM_OK;
        }
        const char *slash = strchr(name, '/');
        if (slash == NULL || slash[1] == '\0')
            return LLM_ERR_NOT_FOUND;
        name = slash + 1;
    }
}

/* ---- cost ----------------------------------------------------------------------------- */

static double tokens(int64_t n)
{
    return n > 0 ? (double)n : 0.0;
}

void llm_cost_compute(const struct llm_price *price, const struct llm_usage *u,
                      struct llm_cost *out)
{
    memset(out, 0, sizeof(*out));
    if (price == NULL || u == NULL || !u->known)
        return;
    int64_t in = u->input_tokens > 0 ? u->input_tokens : 0;
    int64_t cached = u->cached_input_tokens > 0 ? u->cached_input_tokens : 0;
    int64_t write = u->cache_write_tokens > 0 ? u->cache_write_tokens : 0;
    /* Computed in steps so that no intermediate can overflow int64. */
    int64_t uncached = in - cached;
    uncached = uncached > write ? uncached - write : 0;

    double cached_rate = price->has_cached_input ? price->cached_input_per_mtok
                                                 : price->input_per_mtok;
    double write_rate = price->has_cache_write ? price->cache_write_per_mtok
                                               : price->input_per_mtok;
    /* One division per total: token counts times rates of a few decimals
     * are exact (or nearly) in double, so dividing once rounds once. */
    out->input_usd = (tokens(uncached) * price->input_per_mtok + tokens(cached) * cached_rate +
                      tokens(write) * write_rate) / 1e6;
    out->output_usd = tokens(u->output_tokens) * price->output_per_mtok / 1e6;
    out->total_usd = out->input_usd + out->output_usd;
    out->known = true;
}

/* ---- LiteLLM files ----------------------------------------------------------------------- */

/* A model name from an untrusted file, made printable for a message. */
static void name_for_message(const char *name, char out[80])
{
    char *ex = llm__excerpt(name, strlen(name), 60);
    snprintf(out, 80, "%s", ex != NULL ? ex : "?");
    free(ex);
}

/* USD per token -> per million, rounded to 12 significant digits. */
static double per_mtok(double per_token)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%.12g", per_token * 1e6);
    return strtod(buf, NULL);
}

/* Reads one cost field.  Returns 1 if present (value in *v), 0 if absent or
 * null, -1 (message written) if invalid. */
static int read_cost(const cJSON *obj, const char *entry, const char *field, double *v,
                     char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (it == NULL || cJSON_IsNull(it))
        return 0;
    char shown[80];
    if (!cJSON_IsNumber(it)) {
        name_for_message(entry, shown);
        llm__set_err(err, errlen, "entry '%s': %s is not a number", shown, field);
        return -1;
    }
    double d = it->valuedouble;
    if (!isfinite(d)) {
        name_for_message(entry, shown);
        llm__set_err(err, errlen, "entry '%s': %s is not finite", shown, field);
        return -1;
    }
    if (d < 0) {
        name_for_message(entry, shown);
        llm__set_err(err, errlen, "entry '%s': %s is negative (%g)", shown, field, d);
        return -1;
    }
    if (d > MAX_PER_MTOK / 1e6) {
        name_for_message(entry, shown);
        llm__set_err(err, errlen, "entry '%s': %s is absurd (%g USD per token; the limit is %g)",
                     shown, field, d, MAX_PER_MTOK / 1e6);
        return -1;
    }
    *v = per_mtok(d);
    return 1;
}

/* Validates one entry.  Returns 1 and fills *e (name not yet copied) when
 * it is priced per token, 0 when it is skipped, -1 on error (the message
 * names the first bad field). */
static int read_entry(const cJSON *item, struct entry *e, char *err, size_t errlen)
{
    const char *name = item->string;
    char shown[80];
    if (name == NULL || name[0] == '\0') {
        llm__set_err(err, errlen, "an entry has an empty model name");
        return -1;
    }
    if (strlen(name) > MAX_MODEL_NAME) {
        name_for_message(name, shown);
        llm__set_err(err, errlen, "entry '%s': model name longer than %d bytes", shown,
                     MAX_MODEL_NAME);
        return -1;
    }
    if (strcmp(name, "sample_spec") == 0)
        return 0;
    if (!cJSON_IsObject(item)) {
        name_for_message(name, shown);
        llm__set_err(err, errlen, "entry '%s': not an object", shown);
        return -1;
    }
    memset(e, 0, sizeof(*e));
    struct llm_price *pr = &e->price;
    int in, out, cr, cw;
    if ((in = read_cost(item, name, "input_cost_per_token", &pr->input_per_mtok, err,
                        errlen)) < 0 ||
        (out = read_cost(item, name, "output_cost_per_token", &pr->output_per_mtok, err,
                         errlen)) < 0 ||
        (cr = read_cost(item, name, "cache_read_input_token_cost", &pr->cached_input_per_mtok,
                        err, errlen)) < 0 ||
        (cw = read_cost(item, name, "cache_creation_input_token_cost",
                        &pr->cache_write_per_mtok, err, errlen)) < 0)
        return -1;
    (void)out;
    if (in == 0)
        return 0; /* not priced per token */
    pr->has_cached_input = cr == 1;
    pr->has_cache_write = cw == 1;
    return 1;
}

/* Line and column (1-based) of byte `off` of `s`, for parse errors. */
static void line_col(const char *s, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* Sort by name, then by position in the document so the later duplicate
 * can win. */
struct pending {
    struct entry e;
    size_t order;
};

static int pending_cmp(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    int c = strcasecmp(x->e.model, y->e.model);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

enum llm_error llm_pricing_load_litellm_json(struct llm_pricing *p, const char *json, size_t len,
                                             char *err, size_t errlen)
{
    llm__set_err(err, errlen, "%s", "");
    if (p == NULL || json == NULL) {
        llm__set_err(err, errlen, "no pricing table or document");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    const char *end = NULL;
    /* cJSON checks nothing after the value when not asked to, and asking
     * requires a NUL inside `len`; so the tail is checked here.  (On a
     * parse error cJSON also writes its process-wide last-error variable,
     * which nothing here reads: loads are meant for start-up, not for
     * racing threads.) */
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL || end == NULL || end < json || (size_t)(end - json) > len ||
        !only_space(end, len - (size_t)(end - json))) {
        size_t off = end != NULL && end >= json && (size_t)(end - json) <= len
                         ? (size_t)(end - json) : 0;
        size_t line, col;
        line_col(json, off, &line, &col);
        bool empty = only_space(json, len);
        llm__set_err(err, errlen, "pricing JSON: %s at line %zu, column %zu",
                     empty ? "empty document" : root == NULL ? "not valid JSON" : "unexpected data",
                     line, col);
        cJSON_Delete(root);
        return LLM_ERR_PARSE;
    }
    if (!cJSON_IsObject(root)) {
        llm__set_err(err, errlen, "pricing JSON: the top level is not an object of model entries");
        cJSON_Delete(root);
        return LLM_ERR_PARSE;
    }

    size_t n_items = 0;
    for (const cJSON *it = root->child; it != NULL; it = it->next)
        n_items++;
    struct pending *pend = calloc(n_items + 1, sizeof(*pend));
    if (pend == NULL) {
        cJSON_Delete(root);
        llm__set_err(err, errlen, "out of memory");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    enum llm_error rc = LLM_OK;
    size_t n = 0, order = 0;
    for (const cJSON *it = root->child; it != NULL; it = it->next, order++) {
        struct entry e;
        int r = read_entry(it, &e, err, errlen);
        if (r < 0) {
            rc = LLM_ERR_PARSE;
            break;
        }
        if (r == 0)
            continue;
        e.model = strdup(it->string);
        if (e.model == NULL) {
            rc = LLM_ERR_OUT_OF_MEMORY;
            llm__set_err(err, errlen, "out of memory");
            break;
        }
        pend[n].e = e;
        pend[n].order = order;
        n++;
    }
    cJSON_Delete(root);

    struct entry *add = NULL;
    size_t n_add = 0;
    if (rc == LLM_OK) {
        qsort(pend, n, sizeof(*pend), pending_cmp);
        add = malloc((n + 1) * sizeof(*add));
        if (add == NULL) {
            rc = LLM_ERR_OUT_OF_MEMORY;
            llm__set_err(err, errlen, "out of memory");
        }
    }
    if (rc == LLM_OK) {
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && strcasecmp(pend[i].e.model, pend[i + 1].e.model) == 0) {
                free(pend[i].e.model); /* a later entry of the same name wins */
                continue;
            }
            add[n_add++] = pend[i].e;
        }
        rc = merge_sorted(p, add, n_add);
        if (rc != LLM_OK) {
            llm__set_err(err, errlen, "out of memory");
            free_entries(add, n_add);
        } else {
            free(add);
        }
        free(pend);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        free(pend[i].e.model);
    free(pend);
    free(add);
    return rc;
}

enum llm_error llm_pricing_load_litellm_file(struct llm_pricing *p, const char *path, char *err,
                                             size_t errlen)
{
    llm__set_err(err, errlen, "%s", "");
    if (p == NULL || path == NULL) {
        llm__set_err(err, errlen, "no pricing table or path");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        llm__set_err(err, errlen, "pricing file '%s': %s", path, strerror(errno));
        return LLM_ERR_NOT_FOUND;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        llm__set_err(err, errlen, "pricing file '%s': not a regular file", path);
        fclose(f);
        return LLM_ERR_NOT_FOUND;
    }
    if ((uintmax_t)st.st_size > LLM_PRICING_MAX_FILE_BYTES) {
        llm__set_err(err, errlen, "pricing file '%s': larger than %zu bytes", path,
                     LLM_PRICING_MAX_FILE_BYTES);
        fclose(f);
        return LLM_ERR_RESPONSE_TOO_LARGE;
    }
    /* Read to EOF rather than trust st_size (the file may change), but
     * never past the bound. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap + 1);
    enum llm_error rc = buf != NULL ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
    while (rc == LLM_OK) {
        if (len == cap) {
            if (cap > LLM_PRICING_MAX_FILE_BYTES) {
                rc = LLM_ERR_RESPONSE_TOO_LARGE;
                break;
            }
            size_t ncap = cap > LLM_PRICING_MAX_FILE_BYTES / 2 ? LLM_PRICING_MAX_FILE_BYTES + 1
                                                              : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (nb == NULL) {
                rc = LLM_ERR_OUT_OF_MEMORY;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        if (got == 0) {
            if (ferror(f))
                rc = LLM_ERR_NOT_FOUND;
            break;
        }
        len += got;
    }
    int saved_errno = errno;
    fclose(f);
    if (rc != LLM_OK) {
        free(buf);
        if (rc == LLM_ERR_OUT_OF_MEMORY)
            llm__set_err(err, errlen, "pricing file '%s': out of memory", path);
        else if (rc == LLM_ERR_RESPONSE_TOO_LARGE)
            llm__set_err(err, errlen, "pricing file '%s': larger than %zu bytes", path,
                         LLM_PRICING_MAX_FILE_BYTES);
        else
            llm__set_err(err, errlen, "pricing file '%s': read error: %s", path,
                         strerror(saved_errno));
        return rc;
    }
    buf[len] = '\0';
    char inner[256] = "";
    rc = llm_pricing_load_litellm_json(p, buf, len, inner, sizeof(inner));
    free(buf);
    if (rc != LLM_OK)
        llm__set_err(err, errlen, "pricing file '%s': %s", path, inner);
    return rc;
}
