/* `llmorch generate`: one request, its reply on stdout. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    OPT_SYSTEM = OPT_COMMON_END_,
    OPT_MAX_TOKENS,
    OPT_TEMPERATURE,
    OPT_TOP_P,
    OPT_STOP,
    OPT_STREAM,
    OPT_JSON
};

#define MAX_STOP 16

static const char generate_usage[] =
    "Usage: llmorch generate [options] PROMPT...\n"
    "       llmorch generate [options] -        (the prompt is read from stdin)\n"
    "\n"
    "Send one request and print the reply on stdout.  Several PROMPT words are\n"
    "joined with spaces; put -- before a prompt that starts with '-'.  On\n"
    "failure, prints \"error: <ERROR_TYPE>: <message>\" on stderr and exits 1.\n"
    "\n"
    "Request options:\n"
    "  --system TEXT          system prompt\n"
    "  --max-tokens N         most tokens to generate\n"
    "  --temperature X        sampling temperature (0..2)\n"
    "  --top-p X              nucleus sampling (0..1)\n"
    "  --stop TEXT            stop sequence (repeatable, up to 16)\n"
    "  --stream               print the reply as it arrives\n"
    "  --json                 print the full result as JSON (timestamps,\n"
    "                         attempts, usage, cost) instead of the text\n"
    "\n";

struct stream_state {
    bool wrote;
    char last;
};

/* Engine thread: print each piece as it comes. */
static void on_delta(void *user, const char *text, size_t len)
{
    struct stream_state *s = user;
    if (len == 0)
        return;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    s->wrote = true;
    s->last = text[len - 1];
}

static char *join_words(int n, char **words)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(words[i]) + 1;
    char *s = malloc(total);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            s[off++] = ' ';
        size_t l = strlen(words[i]);
        memcpy(s + off, words[i], l);
        off += l;
    }
    s[off] = '\0';
    return s;
}

int cli_generate_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"system", required_argument, NULL, OPT_SYSTEM},
        {"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
        {"temperature", required_argument, NULL, OPT_TEMPERATURE},
        {"top-p", required_argument, NULL, OPT_TOP_P},
        {"stop", required_argument, NULL, OPT_STOP},
        {"stream", no_argument, NULL, OPT_STREAM},
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    struct cli_common c = {0};
    struct llm_request req = {0};
    const char *stop[MAX_STOP];
    bool json = false;
    int opt;
    int64_t v;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":hvm:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
        case OPT_HELP:
            fputs(generate_usage, stdout);
            fputs(cli_common_help, stdout);
            return CLI_EXIT_OK;
        case 'v': opt = OPT_VERBOSE; break;
        case 'm': opt = OPT_MODEL; break;
        case '?':
        case ':':
            return cli_getopt_error("generate", opt, argv);
        default:
            break;
        }
        int r = cli_common_option(&c, "generate", opt, optarg);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_SYSTEM:
            req.system = optarg;
            break;
        case OPT_MAX_TOKENS:
            if (!cli_parse_i64(optarg, 1, 1000000000, &v))
                return cli_usage_error("generate", "--max-tokens: '%s' is not a whole number "
                                       ">= 1", optarg);
            req.max_tokens = (int)v;
            break;
        case OPT_TEMPERATURE:
            if (!cli_parse_double(optarg, 0, 2, &req.temperature))
                return cli_usage_error("generate", "--temperature: '%s' is not a number in "
                                       "0..2", optarg);
            req.has_temperature = true;
            break;
        case OPT_TOP_P:
            if (!cli_parse_double(optarg, 0, 1, &req.top_p))
                return cli_usage_error("generate", "--top-p: '%s' is not a number in 0..1",
                                       optarg);
            req.has_top_p = true;
            break;
        case OPT_STOP:
            if (req.n_stop == MAX_STOP)
                return cli_usage_error("generate", "--stop: at most %d stop sequences",
                                       MAX_STOP);
            stop[req.n_stop++] = optarg;
            break;
        case OPT_STREAM:
            req.stream = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        default:
            return cli_usage_error("generate", "unknown option");
        }
    }
    if (optind >= argc)
        return cli_usage_error("generate", "missing PROMPT (or - to read it from stdin)");

    char *prompt = NULL;
    if (argc - optind == 1 && strcmp(argv[optind], "-") == 0) {
        size_t len;
        int r = cli_read_all(STDIN_FILENO, CLI_MAX_INPUT_BYTES, &prompt, &len);
        if (r == -2)
            return cli_usage_error("generate", "the prompt on stdin is longer than %zu bytes",
                                   CLI_MAX_INPUT_BYTES);
        if (r != 0) {
            perror("llmorch generate: reading stdin");
            return CLI_EXIT_FAILURE;
        }
        /* A trailing newline is how files and `echo` end; not part of it. */
        while (len > 0 && (prompt[len - 1] == '\n' || prompt[len - 1] == '\r'))
            prompt[--len] = '\0';
    } else {
        prompt = join_words(argc - optind, argv + optind);
        if (prompt == NULL) {
            fputs("llmorch generate: out of memory\n", stderr);
            return CLI_EXIT_FAILURE;
        }
    }
    if (prompt[0] == '\0') {
        free(prompt);
        return cli_usage_error("generate", "empty prompt");
    }

    int rc = cli_common_resolve(&c, "generate");
    struct llm_engine *eng = NULL;
    if (rc == 0)
        rc = cli_engine_new(&c, false, &eng);
    if (rc != 0) {
        free(prompt);
        return rc;
    }

    struct llm_message msg = {.role = "user", .content = prompt};
    struct stream_state ss = {0};
    req.model = cli_default_model(&c);
    req.messages = &msg;
    req.n_messages = 1;
    req.stop = req.n_stop ? stop : NULL;
    req.deadline_ms = c.deadline_ms;
    if (req.stream && !json) {
        req.on_delta = on_delta;
        req.delta_user = &ss;
    }
    struct llm_result *res = llm_generate(eng, &req);
    struct llm_stats *shared = cli_shared_snapshot(eng);
    llm_engine_free(eng);
    cli_print_shared(stderr, shared);
    llm_stats_free(shared);
    free(prompt);
    if (res == NULL) {
        fputs("error: OUT_OF_MEMORY: the result could not be allocated\n", stderr);
        return CLI_EXIT_FAILURE;
    }

    if (json) {
        char *j = llm_result_to_json(res);
        if (j == NULL) {
            fputs("error: OUT_OF_MEMORY: the result could not be serialised\n", stderr);
            llm_result_free(res);
            return CLI_EXIT_FAILURE;
        }
        puts(j);
        llm_free(j);
    } else if (res->success) {
        if (req.stream) {
            /* Deltas are what was shown; the result's text is the fallback
             * for a provider that sent none. */
            if (!ss.wrote && res->content_len > 0) {
                fwrite(res->content, 1, res->content_len, stdout);
                ss.last = res->content[res->content_len - 1];
                ss.wrote = true;
            }
            if (ss.wrote && ss.last != '\n')
                putchar('\n');
        } else {
            fwrite(res->content, 1, res->content_len, stdout);
            if (res->content_len == 0 || res->content[res->content_len - 1] != '\n')
                putchar('\n');
        }
    } else if (req.stream && ss.wrote) {
        putchar('\n'); /* end the partial reply before the error */
    }
    fflush(stdout);

    rc = CLI_EXIT_OK;
    if (!res->success) {
        /* One line, whatever the server put in its message. */
        const char *m = res->error.message ? res->error.message : llm_strerror(res->error.type);
        fprintf(stderr, "error: %s: ", llm_error_name(res->error.type));
        for (; *m; m++)
            fputc(*m == '\n' || *m == '\r' ? ' ' : *m, stderr);
        fputc('\n', stderr);
        rc = CLI_EXIT_FAILURE;
    }
    llm_result_free(res);
    return rc;
}
