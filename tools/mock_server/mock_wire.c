/* Wire formats of the mock server: OpenAI and Anthropic bodies, SSE
 * frames, rate-limit header values, plus the small buffer they are written
 * into.  Output is assembled by hand rather than through cJSON: the reply
 * text can be 64 MiB and cJSON would hold it twice more (tree + print). */
#include "mock_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(sizeof(MOCKSRV_ECHO_PATTERN) - 1 == 64, "ECHO pattern is 64 bytes");

int64_t mocksrv__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- buffer ------------------------------------------------------------ */

static bool buf_reserve(struct mocksrv__buf *b, size_t extra)
{
    if (b->failed)
        return false;
    size_t max = b->max ? b->max : MOCKSRV__BUF_DEFAULT_MAX;
    if (extra > max || b->len > max - extra) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void mocksrv__buf_add(struct mocksrv__buf *b, const void *p, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mocksrv__buf_str(struct mocksrv__buf *b, const char *s)
{
    mocksrv__buf_add(b, s, strlen(s));
}

void mocksrv__buf_printf(struct mocksrv__buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        mocksrv__buf_add(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void mocksrv__buf_json_str(struct mocksrv__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case 6 bytes per input byte; reserve per run, not per byte. */
    mocksrv__buf_add(b, "\"", 1);
    size_t i = 0;
    while (i < n && !b->failed) {
        size_t run = i;
        while (run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')
            run++;
        mocksrv__buf_add(b, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i++];
        char esc[7];
        size_t m = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            m = 6;
        }
        mocksrv__buf_add(b, esc, m);
    }
    mocksrv__buf_add(b, "\"", 1);
}

char *mocksrv__buf_take(struct mocksrv__buf *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
    return p;
}

void mocksrv__buf_free(struct mocksrv__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

size_t mocksrv__utf8_floor(const char *s, size_t len, size_t n)
{
    if (n >= len)
        return len;
    /* Back off over continuation bytes (10xxxxxx): s[n] must start a
     * character.  At most 3 steps for valid UTF-8; stop there anyway so
     * binary junk cannot walk us back to 0. */
    size_t m = n;
    for (int k = 0; k < 3 && m > 0 && ((unsigned char)s[m] & 0xC0) == 0x80; k++)
        m--;
    return ((unsigned char)s[m] & 0xC0) == 0x80 ? n : m;
}

/* ---- faults --------------------------------------------------------------- */

static const struct {
    const char *name;
    enum mocksrv__fault fault;
} fault_names[] = {
    {"ok", MOCKSRV__F_OK},
    {"200", MOCKSRV__F_OK},
    {"429", MOCKSRV__F_429},
    {"500", MOCKSRV__F_500},
    {"503", MOCKSRV__F_503},
    {"529", MOCKSRV__F_529},
    {"insufficient_quota", MOCKSRV__F_QUOTA},
    {"region", MOCKSRV__F_REGION},
    {"reset", MOCKSRV__F_RESET},
    {"stall", MOCKSRV__F_STALL},
    {"truncated_sse", MOCKSRV__F_TRUNCATED_SSE},
    {"malformed_json", MOCKSRV__F_MALFORMED_JSON},
    {"504", MOCKSRV__F_504},
    {"billing", MOCKSRV__F_BILLING},
};

bool mocksrv__fault_parse(const char *tok, size_t n, enum mocksrv__fault *out)
{
    for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++) {
        if (strlen(fault_names[i].name) == n && memcmp(fault_names[i].name, tok, n) == 0) {
            *out = fault_names[i].fault;
            return true;
        }
    }
    return false;
}

const char *mocksrv__fault_name(enum mocksrv__fault f)
{
    if (f == MOCKSRV__F_NONE || f == MOCKSRV__F_OK)
        return NULL;
    for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++) {
        if (fault_names[i].fault == f)
            return fault_names[i].name;
    }
    return NULL;
}

/* ---- header values -------------------------------------------------------- */

void mocksrv__go_duration(char out[MOCKSRV__TIMEBUF], int64_t ms)
{
    if (ms <= 0) {
        snprintf(out, MOCKSRV__TIMEBUF, "0s");
        return;
    }
    if (ms < 1000) {
        snprintf(out, MOCKSRV__TIMEBUF, "%lldms", (long long)ms);
        return;
    }
    long long h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, f = ms % 1000;
    char secs[48];
    if (f == 0) {
        snprintf(secs, sizeof(secs), "%lld", s);
    } else {
        /* Go prints the fraction without trailing zeros: 1.5s, 1.25s. */
        char frac[4];
        snprintf(frac, sizeof(frac), "%03lld", f);
        for (int i = 2; i > 0 && frac[i] == '0'; i--)
            frac[i] = '\0';
        snprintf(secs, sizeof(secs), "%lld.%s", s, frac);
    }
    if (h > 0)
        snprintf(out, MOCKSRV__TIMEBUF, "%lldh%lldm%ss", h, m, secs);
    else if (m > 0)
        snprintf(out, MOCKSRV__TIMEBUF, "%lldm%ss", m, secs);
    else
        snprintf(out, MOCKSRV__TIMEBUF, "%ss", secs);
}

void mocksrv__rfc3339_in(char out[MOCKSRV__TIMEBUF], int64_t ms)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t at_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + (ms > 0 ? ms : 0);
    time_t secs = (time_t)((at_ms + 999) / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL || strftime(out, MOCKSRV__TIMEBUF, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, MOCKSRV__TIMEBUF, "1970-01-01T00:00:00Z");
}

/* ---- error bodies ----------------------------------------------------------- */

void mocksrv__openai_error(struct mocksrv__buf *b, const char *message, const char *type,
                           const char *code)
{
    mocksrv__buf_str(b, "{\"error\":{\"message\":");
    mocksrv__buf_json_str(b, message, strlen(message));
    mocksrv__buf_str(b, ",\"type\":");
    mocksrv__buf_json_str(b, type, strlen(type));
    mocksrv__buf_str(b, ",\"param\":null,\"code\":");
    if (code != NULL)
        mocksrv__buf_json_str(b, code, strlen(code));
    else
        mocksrv__buf_str(b, "null");
    mocksrv__buf_str(b, "}}");
}

void mocksrv__anthropic_error(struct mocksrv__buf *b, const char *type, const char *message,
                              const char *request_id)
{
    mocksrv__buf_str(b, "{\"type\":\"error\",\"error\":{\"type\":");
    mocksrv__buf_json_str(b, type, strlen(type));
    mocksrv__buf_str(b, ",\"message\":");
    mocksrv__buf_json_str(b, message, strlen(message));
    /* The API repeats the request-id header in the body (ErrorResponse's
     * request_id, string or null). */
    mocksrv__buf_str(b, "},\"request_id\":");
    if (request_id != NULL)
        mocksrv__buf_json_str(b, request_id, strlen(request_id));
    else
        mocksrv__buf_str(b, "null");
    mocksrv__buf_str(b, "}");
}

/* ---- successful bodies ------------------------------------------------------ */

void mocksrv__openai_usage(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_printf(b,
                        "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                        "\"total_tokens\":%lld,"
                        "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                        "\"completion_tokens_details\":{\"reasoning_tokens\":0}}",
                        (long long)r->input_tokens, (long long)r->output_tokens,
                        (long long)(r->input_tokens + r->output_tokens));
}

static const char *openai_finish(const struct mocksrv__reply *r)
{
    return r->cut ? "length" : "stop";
}

static const char *anthropic_stop(const struct mocksrv__reply *r)
{
    return r->cut ? "max_tokens" : "end_turn";
}

void mocksrv__openai_completion(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_printf(b,
                        "{\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion\","
                        "\"created\":%lld,\"model\":",
                        (unsigned long long)r->id, (long long)r->created);
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_str(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":");
    mocksrv__buf_json_str(b, r->text, r->text_len);
    mocksrv__buf_printf(b,
                        ",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
                        "\"finish_reason\":\"%s\"}],\"usage\":",
                        openai_finish(r));
    mocksrv__openai_usage(b, r);
    mocksrv__buf_str(b, ",\"service_tier\":\"default\",\"system_fingerprint\":\""
                        MOCKSRV__FINGERPRINT "\"}");
}

void mocksrv__anthropic_message(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_printf(b,
                        "{\"id\":\"msg_mock_%llu\",\"type\":\"message\",\"role\":\"assistant\","
                        "\"model\":",
                        (unsigned long long)r->id);
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_str(b, ",\"content\":[{\"type\":\"text\",\"text\":");
    mocksrv__buf_json_str(b, r->text, r->text_len);
    mocksrv__buf_printf(b,
                        "}],\"stop_reason\":\"%s\",\"stop_sequence\":null,"
                        "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld,"
                        "\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}",
                        anthropic_stop(r), (long long)r->input_tokens,
                        (long long)r->output_tokens);
}

/* ---- SSE ------------------------------------------------------------------ */

/* OpenAI chunk up to and including `"choices":`. */
void mocksrv__openai_chunk_head(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    mocksrv__buf_printf(b,
                        "data: {\"id\":\"chatcmpl-mock-%llu\",\"object\":\"chat.completion.chunk\","
                        "\"created\":%lld,\"model\":",
                        (unsigned long long)r->id, (long long)r->created);
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_str(b, ",\"service_tier\":\"default\",\"system_fingerprint\":\""
                        MOCKSRV__FINGERPRINT "\",\"choices\":");
}

/* The chunk's closing: "usage":null while include_usage, as OpenAI does. */
static void openai_chunk_end(struct mocksrv__buf *b, const struct mocksrv__reply *r,
                             bool malformed)
{
    if (r->include_usage)
        mocksrv__buf_str(b, ",\"usage\":null");
    mocksrv__buf_str(b, malformed ? ",<<mock malformed>>\n\n" : "}\n\n");
}

static void anthropic_event(struct mocksrv__buf *b, const char *name)
{
    mocksrv__buf_printf(b, "event: %s\ndata: ", name);
}

void mocksrv__anthropic_message_start(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    anthropic_event(b, "message_start");
    mocksrv__buf_printf(b,
                        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock_%llu\","
                        "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":",
                        (unsigned long long)r->id);
    mocksrv__buf_json_str(b, r->model, strlen(r->model));
    mocksrv__buf_printf(b,
                        ",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{"
                        "\"input_tokens\":%lld,\"output_tokens\":1,"
                        "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}}\n\n",
                        (long long)r->input_tokens);
}

void mocksrv__sse_preamble(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    const struct mocksrv__format *f = mocksrv__format_of(r->api);
    if (f != NULL) {
        f->preamble(b, r);
        return;
    }
    if (r->api == MOCKSRV__API_OPENAI) {
        mocksrv__openai_chunk_head(b, r);
        mocksrv__buf_str(b, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                            "\"logprobs\":null,\"finish_reason\":null}]");
        openai_chunk_end(b, r, false);
        return;
    }
    mocksrv__anthropic_message_start(b, r);
    anthropic_event(b, "content_block_start");
    mocksrv__buf_str(b, "{\"type\":\"content_block_start\",\"index\":0,"
                        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    anthropic_event(b, "ping");
    mocksrv__buf_str(b, "{\"type\":\"ping\"}\n\n");
}

void mocksrv__sse_delta(struct mocksrv__buf *b, const struct mocksrv__reply *r, size_t off,
                        size_t n, bool malformed)
{
    const struct mocksrv__format *f = mocksrv__format_of(r->api);
    if (f != NULL) {
        f->delta(b, r, off, n, malformed);
        return;
    }
    if (r->api == MOCKSRV__API_OPENAI) {
        mocksrv__openai_chunk_head(b, r);
        mocksrv__buf_str(b, "[{\"index\":0,\"delta\":{\"content\":");
        mocksrv__buf_json_str(b, r->text + off, n);
        mocksrv__buf_str(b, "},\"logprobs\":null,\"finish_reason\":null}]");
        openai_chunk_end(b, r, malformed);
        return;
    }
    anthropic_event(b, "content_block_delta");
    mocksrv__buf_str(b, "{\"type\":\"content_block_delta\",\"index\":0,"
                        "\"delta\":{\"type\":\"text_delta\",\"text\":");
    mocksrv__buf_json_str(b, r->text + off, n);
    mocksrv__buf_str(b, malformed ? "},<<mock malformed>>\n\n" : "}}\n\n");
}

void mocksrv__sse_tail(struct mocksrv__buf *b, const struct mocksrv__reply *r)
{
    const struct mocksrv__format *f = mocksrv__format_of(r->api);
    if (f != NULL) {
        f->tail(b, r);
        return;
    }
    if (r->api == MOCKSRV__API_OPENAI) {
        mocksrv__openai_chunk_head(b, r);
        mocksrv__buf_printf(b,
                            "[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                            "\"finish_reason\":\"%s\"}]",
                            openai_finish(r));
        openai_chunk_end(b, r, false);
        if (r->include_usage) {
            mocksrv__openai_chunk_head(b, r);
            mocksrv__buf_str(b, "[],\"usage\":");
            mocksrv__openai_usage(b, r);
            mocksrv__buf_str(b, "}\n\n");
        }
        mocksrv__buf_str(b, "data: [DONE]\n\n");
        return;
    }
    anthropic_event(b, "content_block_stop");
    mocksrv__buf_str(b, "{\"type\":\"content_block_stop\",\"index\":0}\n\n");
    anthropic_event(b, "message_delta");
    mocksrv__buf_printf(b,
                        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
                        "\"stop_sequence\":null},\"usage\":{\"output_tokens\":%lld}}\n\n",
                        anthropic_stop(r), (long long)r->output_tokens);
    anthropic_event(b, "message_stop");
    mocksrv__buf_str(b, "{\"type\":\"message_stop\"}\n\n");
}

size_t mocksrv__next_delta_len(const char *text, size_t len, size_t off)
{
    enum { MAX_WORDS = 3, MAX_BYTES = 64 };
    size_t end = off, words = 0;
    while (end < len && end - off < MAX_BYTES && words < MAX_WORDS) {
        if (text[end++] == ' ')
            words++;
    }
    size_t n = mocksrv__utf8_floor(text + off, len - off, end - off);
    /* A lone multi-byte character longer than the budget cannot occur
     * (MAX_BYTES > 4), but never return 0 while text remains. */
    return n > 0 ? n : end - off;
}

/* ---- model lists ------------------------------------------------------------- */

static const struct {
    const char *id;
    int64_t created; /* Unix seconds */
} openai_models[] = {
    {"gpt-4o-mini", 1721172741},
    {"gpt-4o", 1715367049},
    {"gpt-4.1-mini", 1744318173},
};

static const struct {
    const char *id, *display_name, *created_at;
} anthropic_models[] = {
    {"claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"},
    {"claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"},
    {"claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"},
};

void mocksrv__openai_models(struct mocksrv__buf *b)
{
    mocksrv__buf_str(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < sizeof(openai_models) / sizeof(openai_models[0]); i++)
        mocksrv__buf_printf(b, "%s{\"id\":\"%s\",\"object\":\"model\",\"created\":%lld,"
                               "\"owned_by\":\"system\"}",
                            i ? "," : "", openai_models[i].id,
                            (long long)openai_models[i].created);
    mocksrv__buf_str(b, "]}");
}

void mocksrv__anthropic_models(struct mocksrv__buf *b)
{
    size_t n = sizeof(anthropic_models) / sizeof(anthropic_models[0]);
    mocksrv__buf_str(b, "{\"data\":[");
    for (size_t i = 0; i < n; i++)
        mocksrv__buf_printf(b, "%s{\"type\":\"model\",\"id\":\"%s\",\"display_name\":\"%s\","
                               "\"created_at\":\"%s\"}",
                            i ? "," : "", anthropic_models[i].id,
                            anthropic_models[i].display_name, anthropic_models[i].created_at);
    mocksrv__buf_printf(b, "],\"has_more\":false,\"first_id\":\"%s\",\"last_id\":\"%s\"}",
                        anthropic_models[0].id, anthropic_models[n - 1].id);
}
