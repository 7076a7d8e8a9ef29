/* Options shared by the subcommands that call a provider, strict value
 * parsing, and engine creation. */
#include "cli.h"

#include <llmorch/ext/provider.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char cli_common_help[] =
    "Provider options:\n"
    "  --provider NAME        openai, anthropic, gemini, azure, bedrock, ollama or\n"
    "                         mock.  Default: openai if\n"
    "                         OPENAI_API_KEY is set, else anthropic if\n"
    "                         ANTHROPIC_API_KEY is set, else the in-process mock\n"
    "                         provider (no network, no key; said on stderr).\n"
    "                         --base-url, --endpoint or --api-key-env without\n"
    "                         --provider mean openai (an OpenAI-compatible server).\n"
    "  -m, --model NAME       model (default gpt-4o-mini; claude-3-5-haiku-latest\n"
    "                         with anthropic, gemini-2.5-flash with gemini,\n"
    "                         us.anthropic.claude-3-5-haiku-20241022-v1:0 with\n"
    "                         bedrock, llama3.2 with ollama; with azure: the\n"
    "                         deployment unless --deployment names it)\n"
    "  --base-url URL         provider base URL, e.g. http://127.0.0.1:8080\n"
    "  --api-key-env VAR      read the API key from $VAR (default OPENAI_API_KEY\n"
    "                         or ANTHROPIC_API_KEY, GEMINI_API_KEY then\n"
    "                         GOOGLE_API_KEY, AZURE_OPENAI_API_KEY,\n"
    "                         AWS_BEARER_TOKEN_BEDROCK); keys are never printed.\n"
    "                         Bedrock otherwise signs with AWS_ACCESS_KEY_ID,\n"
    "                         AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; azure's\n"
    "                         endpoint defaults to AZURE_OPENAI_ENDPOINT, ollama's\n"
    "                         to OLLAMA_HOST\n"
    "  --region NAME          bedrock: AWS region (default AWS_REGION, else\n"
    "                         us-east-1)\n"
    "  --api-version V        azure: api-version (default 2024-10-21; v1 = the\n"
    "                         /openai/v1 route)\n"
    "  --deployment NAME      azure: deployment (default: the model)\n"
    "Limits and retries:\n"
    "  --rpm N                requests per minute (default: adopt the server's)\n"
    "  --tpm N                tokens per minute (default: adopt the server's)\n"
    "  --window-ms MS         sliding window the limits are enforced over\n"
    "                         (default 60000; the limit is scaled to it)\n"
    "  --concurrency N        requests on the wire at once (default 64)\n"
    "  --max-attempts N       attempts per request, first included (default 3)\n"
    "  --timeout-ms MS        timeout of one attempt (default 600000)\n"
    "  --deadline-ms MS       total deadline per request, queueing and retries\n"
    "                         included (default none)\n"
    "  --retry-budget N       engine-wide retry budget (default 500, -1 = off)\n"
    "  --pricing FILE         prices in LiteLLM's model_prices JSON format\n"
    "Shared limits (several processes or hosts, one provider quota):\n"
    "  --redis URL            share the RPM/TPM windows, the 429 cooldown and the\n"
    "                         learned limits through Redis: redis://[[user]:password@]\n"
    "                         host[:port][/db] or a Unix socket path.  Every member\n"
    "                         gives the same --rpm/--tpm/--window-ms.  The password\n"
    "                         is never printed.\n"
    "  --quota NAME           name of the shared quota (default \"default\")\n"
    "  --redis-fail POLICY    while Redis is unreachable: local (default: local gates\n"
    "                         at this process's share of the limits), wait (hold\n"
    "                         requests until Redis is back or their deadline) or\n"
    "                         fail (fail them with LIMITER_UNAVAILABLE)\n"
    "Mock provider (imply --provider mock when no provider is named):\n"
    "  --mock-latency-ms MS   simulated latency of each attempt\n"
    "  --mock-script LIST     outcome of each attempt, e.g. 429,503,ok\n"
    "  --mock-reply TEXT      reply text instead of the echo of the prompt\n"
    "Other:\n"
    "  --user-agent TEXT      User-Agent header of every request (default\n"
    "                         \"llmorch/" LLM_VERSION_STRING "\"; \"\" = send none)\n"
    "  -v, --verbose          log the engine's activity on stderr (debug level)\n"
    "  -h, --help             this help\n";

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, "llmorch %s: %s (see 'llmorch %s --help')\n", cmd, msg, cmd);
    else
        fprintf(stderr, "llmorch: %s (see 'llmorch --help')\n", msg);
    return CLI_EXIT_USAGE;
}

int cli_getopt_error(const char *cmd, int ret, char **argv)
{
    /* getopt_long leaves the offending word at argv[optind - 1], except for
     * an unknown letter inside a cluster such as -xq. */
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    char shown[64];
    if (optopt > 0 && optopt < 256 && (word[0] != '-' || word[1] == '-' ||
                                        strchr(word, optopt) == NULL || strlen(word) > 2))
        snprintf(shown, sizeof(shown), "-%c", optopt);
    else
        snprintf(shown, sizeof(shown), "%.*s", (int)strcspn(word, "="), word);
    if (ret == ':')
        return cli_usage_error(cmd, "option '%s' needs a value", shown);
    return cli_usage_error(cmd, "unknown option '%s'", shown);
}

bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
        return false;
    *out = (int64_t)v;
    return true;
}

bool cli_parse_double(const char *s, double min, double max, double *out)
{
    if (s == NULL || *s == '\0')
        return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || end == s || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int64_t cli_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int cli_read_all(int fd, size_t max, char **out, size_t *out_len)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        return -1;
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                free(buf);
                return -2;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (nb == NULL) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        free(buf);
        return -2;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

/* Values of the numeric options: generous ceilings that only catch typos
 * (a window of a year, ten million in flight). */
#define MAX_MS ((int64_t)365 * 24 * 3600 * 1000)

int cli_common_option(struct cli_common *c, const char *cmd, int opt, const char *arg)
{
    int64_t v;
    switch (opt) {
    case OPT_PROVIDER:
    {
        static const char *const names[] = {"openai", "anthropic", "gemini", "azure",
                                            "bedrock", "ollama", "mock"};
        bool known = false;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            known = known || strcmp(arg, names[i]) == 0;
        if (!known)
            return cli_usage_error(cmd, "--provider: '%s' is not one of openai, anthropic, "
                                        "gemini, azure, bedrock, ollama, mock",
                                   arg), -1;
        c->provider = arg;
        return 1;
    }
    case OPT_REGION:
    case OPT_API_VERSION:
    case OPT_DEPLOYMENT:
        if (*arg == '\0' || strpbrk(arg, " /?&#\r\n") != NULL)
            return cli_usage_error(cmd, "--%s: '%s' is not a valid value",
                                   opt == OPT_REGION        ? "region"
                                   : opt == OPT_API_VERSION ? "api-version"
                                                            : "deployment",
                                   arg), -1;
        *(opt == OPT_REGION ? &c->region : opt == OPT_API_VERSION ? &c->api_version
                                                                 : &c->deployment) = arg;
        return 1;
    case OPT_MODEL:
        if (*arg == '\0')
            return cli_usage_error(cmd, "--model: empty model name"), -1;
        c->model = arg;
        return 1;
    case OPT_BASE_URL:
        if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
            return cli_usage_error(cmd, "--base-url: '%s' is not an http:// or https:// URL",
                                   arg), -1;
        c->base_url = arg;
        return 1;
    case OPT_API_KEY_ENV:
        if (*arg == '\0' || strchr(arg, '=') != NULL)
            return cli_usage_error(cmd, "--api-key-env: '%s' is not a variable name", arg), -1;
        c->api_key_env = arg;
        return 1;
    case OPT_RPM:
        if (!cli_parse_double(arg, 0, 1e9, &c->rpm))
            return cli_usage_error(cmd, "--rpm: '%s' is not a number >= 0", arg), -1;
        return 1;
    case OPT_TPM:
        if (!cli_parse_double(arg, 0, 1e12, &c->tpm))
            return cli_usage_error(cmd, "--tpm: '%s' is not a number >= 0", arg), -1;
        return 1;
    case OPT_WINDOW_MS:
        if (!cli_parse_i64(arg, 1, MAX_MS, &c->window_ms))
            return cli_usage_error(cmd, "--window-ms: '%s' is not a whole number of ms > 0",
                                   arg), -1;
        return 1;
    case OPT_CONCURRENCY:
        if (!cli_parse_i64(arg, 1, 1000000, &v))
            return cli_usage_error(cmd, "--concurrency: '%s' is not a whole number in 1..1000000",
                                   arg), -1;
        c->concurrency = (int)v;
        return 1;
    case OPT_MAX_ATTEMPTS:
        if (!cli_parse_i64(arg, 1, 1000, &v))
            return cli_usage_error(cmd, "--max-attempts: '%s' is not a whole number in 1..1000",
                                   arg), -1;
        c->max_attempts = (int)v;
        return 1;
    case OPT_TIMEOUT_MS:
        if (!cli_parse_i64(arg, 1, MAX_MS, &c->timeout_ms))
            return cli_usage_error(cmd, "--timeout-ms: '%s' is not a whole number of ms > 0",
                                   arg), -1;
        return 1;
    case OPT_DEADLINE_MS:
        if (!cli_parse_i64(arg, 1, MAX_MS, &c->deadline_ms))
            return cli_usage_error(cmd, "--deadline-ms: '%s' is not a whole number of ms > 0",
                                   arg), -1;
        return 1;
    case OPT_RETRY_BUDGET:
        /* The engine reads 0 as "default", so a zero budget is spelled
         * --max-attempts 1 instead. */
        if (!cli_parse_i64(arg, -1, 1000000000, &v) || v == 0)
            return cli_usage_error(cmd, "--retry-budget: '%s' is not -1 (off) or a whole number "
                                        ">= 1 (use --max-attempts 1 for no retries)", arg), -1;
        c->has_retry_budget = true;
        c->retry_budget = (int)v;
        return 1;
    case OPT_PRICING:
        if (*arg == '\0')
            return cli_usage_error(cmd, "--pricing: empty file name"), -1;
        c->pricing_file = arg;
        return 1;
    case OPT_VERBOSE:
        c->verbose = true;
        return 1;
    case OPT_REDIS:
        if (*arg == '\0')
            return cli_usage_error(cmd, "--redis: empty URL"), -1;
        c->redis_url = arg;
        return 1;
    case OPT_QUOTA:
        if (*arg == '\0' || strlen(arg) > 200)
            return cli_usage_error(cmd, "--quota: the name must have 1 to 200 characters"), -1;
        c->quota = arg;
        return 1;
    case OPT_REDIS_FAIL:
        if (strcmp(arg, "local") == 0)
            c->redis_fail = LLM_SHARED_FAIL_LOCAL;
        else if (strcmp(arg, "wait") == 0)
            c->redis_fail = LLM_SHARED_FAIL_WAIT;
        else if (strcmp(arg, "fail") == 0)
            c->redis_fail = LLM_SHARED_FAIL_FAIL;
        else
            return cli_usage_error(cmd, "--redis-fail: '%s' is not one of local, wait, fail",
                                   arg), -1;
        return 1;
    case OPT_MOCK_LATENCY_MS:
        if (!cli_parse_i64(arg, 0, MAX_MS, &c->mock.latency_ms))
            return cli_usage_error(cmd, "--mock-latency-ms: '%s' is not a whole number of ms >= 0",
                                   arg), -1;
        c->mock_given = true;
        return 1;
    case OPT_MOCK_SCRIPT: {
        /* Validate now so a typo is a usage error, not an engine failure. */
        struct llm_provider *p = NULL;
        struct llm_mock_options mo = {.script = arg};
        if (llm_provider_new_mock(&mo, &p) != LLM_OK)
            return cli_usage_error(cmd, "--mock-script: cannot parse '%s' (expected e.g. 429,503,ok)",
                                   arg), -1;
        llm_provider_free(p);
        c->mock.script = arg;
        c->mock_given = true;
        return 1;
    }
    case OPT_MOCK_REPLY:
        c->mock.reply = arg;
        c->mock_given = true;
        return 1;
    case OPT_HEADER: {
        const char *colon = strchr(arg, ':');
        if (colon == NULL || colon == arg || strpbrk(arg, "\r\n") != NULL ||
            strcspn(arg, " \t") < (size_t)(colon - arg))
            return cli_usage_error(cmd, "--header: '%s' is not 'Name: value'", arg), -1;
        if (c->n_headers == CLI_MAX_HEADERS)
            return cli_usage_error(cmd, "--header: at most %d headers", CLI_MAX_HEADERS), -1;
        c->headers[c->n_headers++] = arg;
        return 1;
    }
    case OPT_USER_AGENT:
        if (strpbrk(arg, "\r\n") != NULL)
            return cli_usage_error(cmd, "--user-agent: contains CR or LF"), -1;
        c->user_agent = arg;
        return 1;
    case OPT_ENDPOINT:
        if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
            return cli_usage_error(cmd, "--endpoint: '%s' is not an http:// or https:// URL",
                                   arg), -1;
        c->endpoint = arg;
        return 1;
    default:
        return 0;
    }
}

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0';
}

int cli_common_resolve(struct cli_common *c, const char *cmd)
{
    if (c->provider != NULL) {
        if (c->mock_given && strcmp(c->provider, "mock") != 0)
            return cli_usage_error(cmd, "--mock-* options need the mock provider, not %s",
                                   c->provider);
        if (strcmp(c->provider, "mock") == 0 &&
            (c->base_url != NULL || c->api_key_env != NULL || c->endpoint != NULL))
            return cli_usage_error(cmd, "--base-url, --endpoint and --api-key-env do not apply "
                                        "to the mock provider");
        return 0;
    }
    if (c->mock_given) {
        if (c->base_url != NULL || c->api_key_env != NULL)
            return cli_usage_error(cmd, "--mock-* options cannot be combined with --base-url or "
                                        "--api-key-env");
        c->provider = "mock";
    } else if (c->base_url != NULL || c->api_key_env != NULL || c->endpoint != NULL) {
        c->provider = "openai";
    } else if (env_set("OPENAI_API_KEY")) {
        c->provider = "openai";
    } else if (env_set("ANTHROPIC_API_KEY")) {
        c->provider = "anthropic";
    } else {
        c->provider = "mock";
        fprintf(stderr, "llmorch: no provider given and no API key found; using the in-process "
                        "mock provider\n");
    }
    return 0;
}

const char *cli_default_model(const struct cli_common *c)
{
    if (c->model != NULL)
        return c->model;
    static const struct {
        const char *provider, *model;
    } defaults[] = {
        {"anthropic", "claude-3-5-haiku-latest"},
        {"gemini", "gemini-2.5-flash"},
        {"bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0"},
        {"ollama", "llama3.2"},
        {"azure", "gpt-4o-mini"},
    };
    for (size_t i = 0; c->provider != NULL && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (strcmp(c->provider, defaults[i].provider) == 0)
            return defaults[i].model;
    return "gpt-4o-mini";
}

int cli_engine_new(const struct cli_common *c, bool keep_raw, struct llm_engine **out)
{
    /* All of an HTTP provider's options, the provider-specific ones
     * included (the engine's shorthand members cover only the first four). */
    struct llm_provider_options po = {
        .base_url = c->base_url,
        .api_key_env = c->api_key_env,
        .region = c->region,
        .api_version = c->api_version,
        .deployment = c->deployment,
        .endpoint_url = c->endpoint,
    };
    struct llm_engine_options o = {
        .provider = c->provider,
        .provider_options = strcmp(c->provider, "mock") == 0 ? NULL : &po,
        .base_url = c->base_url,
        .headers = c->n_headers > 0 ? c->headers : NULL,
        .n_headers = c->n_headers,
        .api_key_env = c->api_key_env,
        .mock = strcmp(c->provider, "mock") == 0 ? &c->mock : NULL,
        .max_in_flight = c->concurrency,
        .rpm = c->rpm,
        .tpm = c->tpm,
        .window_ms = c->window_ms,
        .retry_budget = c->has_retry_budget ? c->retry_budget : 0,
        .pricing_file = c->pricing_file,
        .max_attempts = c->max_attempts,
        .attempt_timeout_ms = c->timeout_ms,
        .keep_raw_response = keep_raw,
        /* With --redis, the shared limiter's changes of mode (warnings)
         * are worth a line on stderr even when not verbose. */
        .log_stderr = c->verbose || c->redis_url != NULL,
        .log_level = c->verbose ? LLM_LOG_DEBUG : c->redis_url ? LLM_LOG_WARN : LLM_LOG_NONE,
        .redis_url = c->redis_url,
        .quota_name = c->quota,
        .redis_fail = c->redis_fail,
        .user_agent = c->user_agent == NULL    ? "llmorch/" LLM_VERSION_STRING
                      : c->user_agent[0] == '\0' ? NULL
                                                 : c->user_agent,
    };
    char err[512] = "";
    enum llm_error rc = llm_engine_new_ex(&o, out, err, sizeof(err));
    if (rc == LLM_OK)
        return 0;
    fprintf(stderr, "llmorch: cannot start the engine: %s\n", err[0] ? err : llm_strerror(rc));
    /* Anything but a resource or internal failure is the options' fault:
     * a bad option, or a bad --pricing file (the engine passes on the
     * loader's PARSE / NOT_FOUND / RESPONSE_TOO_LARGE and its message,
     * naming the entry and field). */
    return rc == LLM_ERR_OUT_OF_MEMORY || rc == LLM_ERR_INTERNAL ? CLI_EXIT_FAILURE
                                                                 : CLI_EXIT_USAGE;
}
