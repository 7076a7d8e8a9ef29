/* The llmorch-mock-server command line (also `llmorch mock-server`).
 * The flags are a contract that scripts and CI rely on: add, never
 * rename. */
#include "mock_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char usage[] =
    "usage: llmorch-mock-server [options]\n"
    "\n"
    "A fault-injecting mock of the OpenAI, Anthropic, Azure OpenAI, Gemini,\n"
    "Bedrock and Ollama HTTP APIs for tests and benchmarks.  Serves POST\n"
    "/v1/chat/completions, /v1/messages, /openai/deployments/D/chat/completions,\n"
    "/v1beta/models/M:generateContent (and :streamGenerateContent),\n"
    "/model/ID/converse (and /converse-stream), /api/chat (plain and streamed,\n"
    "each in its own framing) and GET /health; prints \"listening on URL\" and runs until\n"
    "SIGINT or SIGTERM.  Replies are deterministic: \"mock reply to: <last user\n"
    "message, first 200 bytes>\", or N bytes of filler for a prompt \"ECHO_LEN:N\".\n"
    "\n"
    "options (every value is a plain decimal number unless noted):\n"
    "  --host H             bind address (default 127.0.0.1)\n"
    "  --port N             port, 0 = ephemeral (default 0)\n"
    "  --rpm N              requests per minute, 0 = unlimited (may be fractional)\n"
    "  --tpm N              tokens per minute, 0 = unlimited; a request costs\n"
    "                       input tokens + max_tokens (or + output tokens)\n"
    "  --window-ms MS       sliding window; limits scale to it (default 60000)\n"
    "  --latency-ms N       delay before the response headers\n"
    "  --jitter-ms N        + uniform random [0, N] ms on top of --latency-ms\n"
    "  --ttft-ms N          streams: headers to first token\n"
    "  --inter-token-ms N   streams: between token chunks\n"
    "  --hold-ms N          streams: extra hold before the first token (adds to\n"
    "                       --ttft-ms; for holding thousands of streams open)\n"
    "  --fail-rate P        probability 0..1 of a random 429/500/503 (OpenAI) or\n"
    "                       429/500/529 (Anthropic)\n"
    "  --script LIST        faults for successive requests, comma separated;\n"
    "                       requests succeed after the list\n"
    "  --ledger FILE        append one JSON line per request\n"
    "  --seed N             RNG seed for jitter and --fail-rate (default 0)\n"
    "  --stall-ms N         how long a \"stall\" holds the connection (default 30000)\n"
    "  --max-connections N  simultaneous connections (default 20000)\n"
    "  --retry-after-ms N   Retry-After of injected 429/503 (default 1000)\n"
    "  --aws-secret-key S   Bedrock paths verify the request's SigV4 signature\n"
    "                       with this secret; 403 InvalidSignatureException if\n"
    "                       it does not match (default: not checked)\n"
    "  --verbose            print libmicrohttpd's messages\n"
    "  --help               this text\n"
    "\n"
    "fault tokens (--script entries, or the x-mock-fault request header for one\n"
    "request, which then leaves the script alone):\n"
    "  ok, 200             a normal answer (still rate limited)\n"
    "  429                 rate limit error + retry-after / retry-after-ms\n"
    "  500                 server error\n"
    "  503                 unavailable + retry-after / retry-after-ms (Anthropic:\n"
    "                      api_error; it documents no 503)\n"
    "  529                 Anthropic overloaded_error; OpenAI, which never sends\n"
    "                      529, answers its overload 503 instead\n"
    "  504                 timeout_error (Anthropic) / server_error (OpenAI)\n"
    "  billing             Anthropic 402 billing_error; OpenAI 429 insufficient_quota\n"
    "  insufficient_quota  OpenAI 429 insufficient_quota; Anthropic 400 \"credit\n"
    "                      balance is too low\" (what the real API sends)\n"
    "  region              403 unsupported_country_region_territory (OpenAI) /\n"
    "                      403 forbidden \"Request not allowed\" (Anthropic)\n"
    "  reset               200 headers and half the body, then the connection drops\n"
    "  stall               no answer for --stall-ms, then the connection drops\n"
    "  truncated_sse       a stream ends cleanly after 2 chunks, without [DONE] /\n"
    "                      message_stop (plain: half the JSON body)\n"
    "  malformed_json      a 200 whose JSON (first chunk, for streams) is invalid\n"
    "\n"
    "Rate-limit headers (x-ratelimit-* / anthropic-ratelimit-*) are sent for each\n"
    "limit that is set; a 429 from a full window carries retry-after and\n"
    "retry-after-ms.  Ledger lines: t_ms, id, path, status, input_tokens,\n"
    "output_tokens, stream, fault, limit, trace (X-Client-Request-Id), dur_ms, end.\n"
    "See tools/mock_server/mock_server.h for the exact bodies.\n"
    "\n"
    "exit status: 0 after SIGINT/SIGTERM, 1 if the server cannot start, 2 for a\n"
    "bad command line.\n";

static int bad_value(const char *flag, const char *v, const char *want)
{
    fprintf(stderr, "llmorch-mock-server: bad value '%s' for %s (want %s)\n", v, flag, want);
    return 2;
}

static bool parse_i64(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    /* strtoll would skip leading blanks and take a '+': a contract is
     * stricter than that.  A '-' fails the range check. */
    if (v[0] == '\0' || v[0] == ' ' || v[0] == '\t' || v[0] == '+')
        return false;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || end == v || x < lo || x > hi)
        return false;
    *out = x;
    return true;
}

static bool parse_double(const char *v, double lo, double hi, double *out)
{
    if (v[0] == '\0' || v[0] == ' ' || v[0] == '\t' || v[0] == '+')
        return false;
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    if (errno != 0 || *end != '\0' || end == v || !isfinite(x) || x < lo || x > hi)
        return false;
    *out = x;
    return true;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort; the limit shows in errors */
    }
}

int mocksrv_main(int argc, char **argv)
{
    struct mocksrv_options o = {0};
    const int64_t max_ms = INT64_C(365) * 24 * 3600 * 1000; /* a year is "forever" */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--verbose") == 0) {
            o.verbose = 1;
            continue;
        }
        /* Every other flag takes a value: "--flag V" or "--flag=V". */
        const char *eq = strchr(a, '=');
        char name[64];
        const char *v;
        if (strncmp(a, "--", 2) == 0 && eq != NULL && (size_t)(eq - a) < sizeof(name)) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            v = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a);
            v = NULL;
        }
        static const char *const known[] = {
            "--host", "--port", "--rpm", "--tpm", "--window-ms", "--latency-ms", "--jitter-ms",
            "--ttft-ms", "--inter-token-ms", "--hold-ms", "--fail-rate", "--script", "--ledger",
            "--seed", "--stall-ms", "--max-connections", "--retry-after-ms", "--aws-secret-key"};
        bool found = false;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            found = found || strcmp(name, known[k]) == 0;
        if (!found) {
            fprintf(stderr, "llmorch-mock-server: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (v == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "llmorch-mock-server: %s needs a value\n", name);
                return 2;
            }
            v = argv[++i];
        }
        int64_t n;
        double d;
        if (strcmp(name, "--host") == 0) {
            if (v[0] == '\0')
                return bad_value(name, v, "an address");
            o.host = v;
        } else if (strcmp(name, "--port") == 0) {
            if (!parse_i64(v, 0, 65535, &n))
                return bad_value(name, v, "0..65535");
            o.port = (int)n;
        } else if (strcmp(name, "--rpm") == 0 || strcmp(name, "--tpm") == 0) {
            if (!parse_double(v, 0, 1e15, &d))
                return bad_value(name, v, "a number >= 0");
            *(strcmp(name, "--rpm") == 0 ? &o.rpm : &o.tpm) = d;
        } else if (strcmp(name, "--fail-rate") == 0) {
            if (!parse_double(v, 0, 1, &d))
                return bad_value(name, v, "a probability 0..1");
            o.fail_rate = d;
        } else if (strcmp(name, "--script") == 0) {
            /* Checked here so a typo is a bad command line (2), not a
             * failed start (1). */
            enum mocksrv__fault *faults;
            size_t nf;
            if (mocksrv__script_parse(v, &faults, &nf) != 0)
                return 2;
            free(faults);
            o.script = v;
        } else if (strcmp(name, "--aws-secret-key") == 0) {
            if (v[0] == '\0')
                return bad_value(name, v, "a secret access key");
            o.aws_secret_key = v;
        } else if (strcmp(name, "--ledger") == 0) {
            if (v[0] == '\0')
                return bad_value(name, v, "a file name");
            o.ledger_path = v;
        } else if (strcmp(name, "--seed") == 0) {
            if (!parse_i64(v, 0, UINT_MAX, &n))
                return bad_value(name, v, "0..4294967295");
            o.seed = (unsigned)n;
        } else if (strcmp(name, "--max-connections") == 0) {
            if (!parse_i64(v, 1, 1000000, &n))
                return bad_value(name, v, "1..1000000");
            o.max_connections = (unsigned)n;
        } else if (strcmp(name, "--window-ms") == 0) {
            if (!parse_i64(v, 1, max_ms, &n))
                return bad_value(name, v, "milliseconds >= 1");
            o.window_ms = n;
        } else {
            const struct {
                const char *flag;
                int64_t *field;
            } ms_flags[] = {
                {"--latency-ms", &o.latency_ms},   {"--jitter-ms", &o.latency_jitter_ms},
                {"--ttft-ms", &o.ttft_ms},         {"--inter-token-ms", &o.inter_token_ms},
                {"--hold-ms", &o.hold_ms},         {"--stall-ms", &o.stall_ms},
                {"--retry-after-ms", &o.retry_after_ms},
            };
            if (!parse_i64(v, 0, max_ms, &n))
                return bad_value(name, v, "milliseconds >= 0");
            for (size_t k = 0; k < sizeof(ms_flags) / sizeof(ms_flags[0]); k++) {
                if (strcmp(name, ms_flags[k].flag) == 0)
                    *ms_flags[k].field = n;
            }
        }
    }

    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    /* Block the stop signals before any thread exists, so every thread
     * inherits the mask and sigwait() below is the only taker. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    struct mocksrv *s;
    if (mocksrv_start(&o, &s) != 0)
        return 1;
    printf("listening on %s\n", mocksrv_url(s));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    struct mocksrv_counters c;
    mocksrv__halt(s);
    mocksrv_stats(s, &c);
    mocksrv_stop(s);
    fprintf(stderr,
            "mock-server: %s: requests=%" PRIu64 " 2xx=%" PRIu64 " 4xx=%" PRIu64 " 5xx=%" PRIu64
            " other=%" PRIu64 " 429=%" PRIu64 " rate_limited=%" PRIu64 " faults=%" PRIu64
            " streams=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64
            " peak_connections=%" PRIu64 "\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", c.requests, c.status_2xx, c.status_4xx,
            c.status_5xx, c.status_other, c.sent_429, c.rate_limited, c.faults, c.streams,
            c.bytes_in, c.bytes_out, c.connections_peak);
    return 0;
}
