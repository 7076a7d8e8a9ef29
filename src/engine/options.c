/* llm_engine_new_ex: engine options (zero means default) -> a running
 * engine.  Ownership of the provider instance, backoff and pipeline passes
 * to the engine on success only; every failure goes through one path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/util.h"
#include "core/request.h"
#include "engine/engine_internal.h"
#include "llmorch/ext/backoff.h"
#include "providers/mock_reply.h"

static enum llm_error check_timeouts(const struct llm_engine_options *o, char *errbuf,
                                     size_t errlen)
{
    if (o->max_in_flight < 0 || o->max_attempts < 0 || o->base_backoff_ms < 0 ||
        o->max_backoff_ms < 0 || o->max_server_wait_ms < 0 || o->attempt_timeout_ms < 0 ||
        o->connect_timeout_ms < 0 || o->default_deadline_ms < 0 || o->first_byte_timeout_ms < 0 ||
        o->stream_idle_timeout_ms < 0) {
        llm__eng_set_err(errbuf, errlen, "engine options: negative limit or timeout");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    return LLM_OK;
}

static enum llm_error check_rates(const struct llm_engine_options *o, char *errbuf, size_t errlen)
{
    if (o->rpm < 0 || o->tpm < 0 || o->window_ms < 0 || o->retry_budget < -1) {
        llm__eng_set_err(errbuf, errlen,
                         "engine options: negative rpm, tpm, window_ms or retry_budget");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    /* NaN passes every comparison above, and a float -> int64 cast of
     * 1e300 or inf is undefined: refuse what is not a usable rate. */
    if (!isfinite(o->rpm) || !isfinite(o->tpm) || o->rpm > MAX_RATE_PER_MINUTE ||
        o->tpm > MAX_RATE_PER_MINUTE || o->window_ms > MAX_WINDOW_MS) {
        llm__eng_set_err(errbuf, errlen,
                         "engine options: rpm and tpm must be finite and at most 1e12 per "
                         "minute, window_ms at most one year");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    return LLM_OK;
}

/* A provider by name, from the registry. */
static enum llm_error make_provider(const struct llm_engine_options *o, struct llm_provider **out,
                                    char *errbuf, size_t errlen)
{
    struct llm_provider_options shorthand = {
        .base_url = o->base_url,
        .api_key = o->api_key,
        .api_key_env = o->api_key_env,
        .trace_header = o->trace_header,
        .endpoint_url = o->endpoint_url,
    };
    return llm_provider_new_by_name(o->provider ? o->provider : "mock",
                                    o->provider_options ? o->provider_options : &shorthand, o->mock,
                                    out, errbuf, errlen);
}

/* A custom provider answering in-process through its execute_local slot. */
static enum llm_error slot_reply(const void *ctx, const struct llm_request *req, unsigned attempt,
                                 struct llm_local_response *out)
{
    const struct llm_provider *p = ctx;
    return p->vtable->execute_local(p, req, attempt, out);
}

/* Whether `p` is answered in-process (the mock, or a provider with an
 * execute_local slot), and by what. */
static bool local_replies(const struct llm_provider *p, llm__local_reply_fn **reply,
                          const void **ctx)
{
    if (llm__mock_reply(p, reply, ctx))
        return true;
    *reply = slot_reply;
    *ctx = p;
    return p->vtable->execute_local != NULL;
}

#define MAX_DEFAULT_HEADERS 64

/* Default headers, proxy and trust store: checked (CR/LF would inject
 * header lines) and copied. */
static enum llm_error copy_http_control(struct llm_engine *e, const struct llm_engine_options *o,
                                        char *errbuf, size_t errlen)
{
    if ((o->n_headers > 0 && o->headers == NULL) || o->n_headers > MAX_DEFAULT_HEADERS) {
        llm__eng_set_err(errbuf, errlen, "headers: %zu given %s", o->n_headers,
                         o->headers == NULL ? "but the array is NULL" : "(at most 64)");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < o->n_headers; i++) {
        char why[80];
        if (llm__header_line_check(o->headers[i], why, sizeof(why)) != LLM_OK) {
            llm__eng_set_err(errbuf, errlen, "headers[%zu]: %s", i, why);
            return LLM_ERR_INVALID_ARGUMENT;
        }
    }
    const char *strs[4] = {o->proxy, o->ca_file, o->ca_path, o->user_agent};
    static const char *const names[4] = {"proxy", "ca_file", "ca_path", "user_agent"};
    for (int i = 0; i < 4; i++) {
        if (strs[i] != NULL && strpbrk(strs[i], "\r\n") != NULL) {
            llm__eng_set_err(errbuf, errlen, "%s: contains CR or LF", names[i]);
            return LLM_ERR_INVALID_ARGUMENT;
        }
    }
    if (o->n_headers > 0 && (e->headers = calloc(o->n_headers, sizeof(char *))) == NULL)
        goto oom;
    for (; e->n_headers < o->n_headers; e->n_headers++)
        if ((e->headers[e->n_headers] = llm__strdup(o->headers[e->n_headers])) == NULL)
            goto oom;
    if ((o->proxy && !(e->proxy = llm__strdup(o->proxy))) ||
        (o->ca_file && !(e->ca_file = llm__strdup(o->ca_file))) ||
        (o->ca_path && !(e->ca_path = llm__strdup(o->ca_path))))
        goto oom;
    return LLM_OK;
oom:
    llm__eng_set_err(errbuf, errlen, "out of memory");
    return LLM_ERR_OUT_OF_MEMORY;
}

/* Plain settings: defaults for zeros. */
static void apply_settings(struct llm_engine *e, const struct llm_engine_options *o)
{
    e->max_in_flight = o->max_in_flight ? o->max_in_flight : DEFAULT_MAX_IN_FLIGHT;
    e->max_queue = o->max_queue ? o->max_queue : DEFAULT_MAX_QUEUE;
    e->max_attempts = o->max_attempts ? o->max_attempts : DEFAULT_MAX_ATTEMPTS;
    e->base_backoff_ms = o->base_backoff_ms ? o->base_backoff_ms : DEFAULT_BASE_BACKOFF_MS;
    e->max_backoff_ms = o->max_backoff_ms ? o->max_backoff_ms : DEFAULT_MAX_BACKOFF_MS;
    e->max_server_wait_ms = o->max_server_wait_ms ? o->max_server_wait_ms : DEFAULT_MAX_SERVER_WAIT_MS;
    e->attempt_timeout_ms = o->attempt_timeout_ms ? o->attempt_timeout_ms : DEFAULT_ATTEMPT_TIMEOUT_MS;
    e->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    e->default_deadline_ms = o->default_deadline_ms;
    e->first_byte_timeout_ms =
        o->first_byte_timeout_ms ? o->first_byte_timeout_ms : DEFAULT_FIRST_BYTE_TIMEOUT_MS;
    e->stream_idle_timeout_ms =
        o->stream_idle_timeout_ms ? o->stream_idle_timeout_ms : DEFAULT_STREAM_IDLE_TIMEOUT_MS;
    e->max_response_bytes = o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE_BYTES;
    e->keep_raw = o->keep_raw_response;
    e->log = o->log ? o->log : (o->log_stderr ? llm__eng_log_stderr : NULL);
    e->log_user = o->log_user;
    e->log_level = o->log_level ? o->log_level : LLM_LOG_INFO;
    e->retry.rng = (uint64_t)llm__now_mono_us() * 0x9E3779B97F4A7C15ULL | 1;
    e->retry.policy.max_attempts = (unsigned)e->max_attempts;
    e->retry.policy.max_server_wait_ms = e->max_server_wait_ms;

    struct llm__admission *a = &e->adm;
    a->window_ms = o->window_ms ? o->window_ms : DEFAULT_WINDOW_MS;
    a->adaptive = !o->no_adaptive_limits && (o->rpm <= 0 || o->tpm <= 0);
    /* The probe learns limits from the first response's headers; a local
     * transport sends none. */
    llm__local_reply_fn *reply;
    const void *ctx;
    a->probing = a->adaptive && o->rpm <= 0 && !local_replies(e->provider, &reply, &ctx);
    a->max_server_wait_ms = e->max_server_wait_ms;
    a->estimate = o->estimate_tokens ? o->estimate_tokens : llm_token_estimate_default_fn;
    a->estimate_user = o->estimate_user;
}

/* Register the password of proxy URL `url` (scheme://user:password@host;
 * NULL or none: nothing).  False when out of memory. */
static bool add_proxy_password(struct llm__secrets *secrets, const char *url)
{
    if (!url)
        return true;
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *at = strchr(auth, '@');
    const char *slash = strchr(auth, '/');
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!at || (slash && at > slash) || !colon)
        return true;
    return llm__secrets_add(secrets, colon + 1, (size_t)(at - colon - 1));
}

/* The configured key is a secret before any request (the provider may also
 * send it in a header, registered per attempt). */
static enum llm_error note_secrets(struct llm_engine *e, const struct llm_engine_options *o,
                                   char *errbuf, size_t errlen)
{
    const struct llm_provider_options *po = o->provider_options;
    /* Bedrock's credentials: the secret key never travels (it signs), but
     * it and the session token are secrets all the same, from the options
     * or the environment the provider read them from. */
    bool aws = strcmp(e->provider->vtable->name, "bedrock") == 0;
    const char *keys[] = {o->api_key, o->api_key_env ? getenv(o->api_key_env) : NULL,
                          po ? po->api_key : NULL,
                          po && po->api_key_env ? getenv(po->api_key_env) : NULL,
                          aws && po ? po->aws_secret_access_key : NULL,
                          aws && po ? po->aws_session_token : NULL,
                          aws ? getenv("AWS_SECRET_ACCESS_KEY") : NULL,
                          aws ? getenv("AWS_SESSION_TOKEN") : NULL,
                          aws ? getenv("AWS_BEARER_TOKEN_BEDROCK") : NULL};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!llm__secrets_add(&e->secrets, keys[i], keys[i] ? strlen(keys[i]) : 0)) {
            llm__eng_set_err(errbuf, errlen, "out of memory");
            return LLM_ERR_OUT_OF_MEMORY;
        }
    }
    /* A proxy URL may carry credentials (scheme://user:password@host): the
     * password is a secret too, whatever a proxy or curl echoes back.  With
     * no proxy option, the environment's proxies (the transport reads them,
     * http.c read_proxy_env) are the ones that may carry one. */
    static const char *const proxy_env[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
                                            "all_proxy", "ALL_PROXY"};
    size_t n_proxies = o->proxy ? 1 : sizeof(proxy_env) / sizeof(proxy_env[0]);
    for (size_t i = 0; i < n_proxies; i++) {
        if (!add_proxy_password(&e->secrets, o->proxy ? o->proxy : getenv(proxy_env[i]))) {
            llm__eng_set_err(errbuf, errlen, "out of memory");
            return LLM_ERR_OUT_OF_MEMORY;
        }
    }
    return LLM_OK;
}

/* Gates, retry budget and backoff. */
static enum llm_error make_strategies(struct llm_engine *e, const struct llm_engine_options *o,
                                      char *errbuf, size_t errlen)
{
    struct llm_retry_budget_options bo = {.capacity = o->retry_budget > 0 ? o->retry_budget : 0};
    struct llm_backoff_options xo = {.base_ms = e->base_backoff_ms,
                                     .cap_ms = e->max_backoff_ms > e->base_backoff_ms
                                                   ? e->max_backoff_ms : e->base_backoff_ms};
    /* With a shared limiter the limits live in Redis (its own local
     * fallback gates aside): no local gates here. */
    bool shared = o->redis_url != NULL;
    if (llm__adm_init(&e->adm, shared ? 0 : o->rpm, shared ? 0 : o->tpm) != LLM_OK ||
        (o->retry_budget != -1 && llm_retry_budget_new(&bo, &e->retry.budget) != LLM_OK) ||
        (!o->backoff && llm_backoff_new_exponential(&xo, &e->retry.backoff) != LLM_OK)) {
        llm__eng_set_err(errbuf, errlen, "could not create the rate gates, retry budget or backoff");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    return LLM_OK;
}

/* Event loop, transport (local when the provider answers in-process) and
 * observability.  Each step reports its own failure: a bad pricing file is
 * the loader's code and message (naming the entry), not a loop failure. */
static enum llm_error make_machinery(struct llm_engine *e, const struct llm_engine_options *o,
                                     char *errbuf, size_t errlen)
{
    if (!e->provider_name) {
        llm__eng_set_err(errbuf, errlen, "out of memory");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    llm__local_reply_fn *reply;
    const void *ctx;
    bool local = local_replies(e->provider, &reply, &ctx);
    if (llm__loop_new(&e->loop) != 0 ||
        (local ? llm__transport_new_local(e->loop, reply, ctx, &e->transport)
               : llm__transport_new_curl(e->loop, o->user_agent, &e->transport)) != LLM_OK) {
        llm__eng_set_err(errbuf, errlen, "could not initialise the event loop or libcurl");
        return LLM_ERR_INTERNAL;
    }
    return llm__eng_observe_init(e, o, errbuf, errlen);
}

enum llm_error llm_engine_new(const struct llm_engine_options *opts, struct llm_engine **out)
{
    return llm_engine_new_ex(opts, out, NULL, 0);
}

enum llm_error llm_engine_new_ex(const struct llm_engine_options *opts, struct llm_engine **out,
                                 char *errbuf, size_t errlen)
{
    if (!out) {
        llm__eng_set_err(errbuf, errlen, "out: is NULL");
        return LLM_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    struct llm_engine_options zero = {0};
    const struct llm_engine_options *o = opts ? opts : &zero;
    enum llm_error rc = check_timeouts(o, errbuf, errlen);
    if (rc != LLM_OK)
        return rc;
    struct llm_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        llm__eng_set_err(errbuf, errlen, "out of memory");
        return LLM_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&e->submit_mu, NULL);
    e->provider = o->provider_instance;
    e->retry.backoff = o->backoff;
    if ((!e->provider && (rc = make_provider(o, &e->provider, errbuf, errlen)) != LLM_OK) ||
        (rc = check_rates(o, errbuf, errlen)) != LLM_OK ||
        (rc = copy_http_control(e, o, errbuf, errlen)) != LLM_OK)
        goto fail;
    e->provider_name = llm__strdup(llm_provider_name(e->provider));
    apply_settings(e, o);
    if ((rc = note_secrets(e, o, errbuf, errlen)) != LLM_OK ||
        (rc = make_strategies(e, o, errbuf, errlen)) != LLM_OK ||
        (rc = make_machinery(e, o, errbuf, errlen)) != LLM_OK ||
        (o->redis_url && (rc = llm__adm_init_shared(e, o, errbuf, errlen)) != LLM_OK))
        goto fail;
    e->pipeline = o->pipeline;
    if ((rc = llm__eng_start(e)) != LLM_OK) {
        llm__eng_set_err(errbuf, errlen, "could not start the engine thread");
        goto fail;
    }
    llm__eng_log(e, LLM_LOG_INFO, "engine started: provider=%s max_in_flight=%d max_attempts=%d",
                 e->provider_name, e->max_in_flight, e->max_attempts);
    *out = e;
    return LLM_OK;

fail:
    /* What the caller handed in stays the caller's. */
    if (o->provider_instance)
        e->provider = NULL;
    if (o->backoff)
        e->retry.backoff = NULL;
    e->pipeline = NULL;
    llm__eng_destroy(e);
    return rc;
}
