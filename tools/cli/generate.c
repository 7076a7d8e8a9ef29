/* `llmorch generate`: one request, its reply on stdout. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum {
    OPT_SYSTEM = OPT_COMMON_END_,
    OPT_MAX_TOKENS,
    OPT_TEMPERATURE,
    OPT_TOP_P,
    OPT_STOP,
    OPT_STREAM,
    OPT_JSON,
    OPT_TOOLS,
    OPT_TOOL_CHOICE,
    OPT_JSON_SCHEMA,
    OPT_IMAGE
};

#define MAX_STOP 16
#define MAX_IMAGES 8
/* Tool and schema files, images: read whole, bounded. */
#define MAX_FILE_BYTES ((size_t)20 * 1024 * 1024)

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
    "                         attempts, usage, cost, tool_calls) instead of the text\n"
    "  --tools FILE           tools the model may call: a JSON array in OpenAI's\n"
    "                         format [{\"type\":\"function\",\"function\":{\"name\",\n"
    "                         \"description\",\"parameters\"}}] (or just the\n"
    "                         function objects); works with every provider.  Tool\n"
    "                         calls are printed as 'tool_call ID NAME ARGUMENTS'\n"
    "  --tool-choice X        auto, none, required, or a tool's name\n"
    "  --json-schema FILE     ask for JSON fitting this JSON Schema (structured\n"
    "                         output; named after the schema's \"title\", else\n"
    "                         \"response\")\n"
    "  --image PATH|URL       attach an image (repeatable, up to 8): a local PNG,\n"
    "                         JPEG, GIF or WebP file (sent as base64), or an\n"
    "                         http(s):// or data: URL\n"
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

/* Memory behind the request's tools, schema and images. */
struct extras {
    char *tools_text;
    cJSON *tools_json;
    struct llm_tool *tools;
    char *schema_text;
    const char *images[MAX_IMAGES];
    size_t n_images;
    char *image_data[MAX_IMAGES];
    struct llm_content_part parts[MAX_IMAGES + 1];
};

static void extras_free(struct extras *x)
{
    free(x->tools_text);
    cJSON_Delete(x->tools_json);
    free(x->tools);
    free(x->schema_text);
    for (size_t i = 0; i < MAX_IMAGES; i++)
        free(x->image_data[i]);
}

/* A whole file, NUL-terminated; NULL with a usage message printed. */
static char *read_file(const char *opt, const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_usage_error("generate", "%s: cannot open '%s': %s", opt, path, strerror(errno));
        return NULL;
    }
    char *data = NULL;
    int r = cli_read_all(fd, MAX_FILE_BYTES, &data, len);
    close(fd);
    if (r != 0) {
        cli_usage_error("generate", "%s: cannot read '%s'%s", opt, path,
                        r == -2 ? " (larger than 20 MiB)" : "");
        return NULL;
    }
    return data;
}

/* --tools: an array of {"type":"function","function":{...}} or of the
 * function objects themselves. */
static int load_tools(struct extras *x, const char *path, struct llm_request *req)
{
    size_t len;
    if ((x->tools_text = read_file("--tools", path, &len)) == NULL)
        return CLI_EXIT_USAGE;
    x->tools_json = cJSON_Parse(x->tools_text);
    int n = cJSON_GetArraySize(x->tools_json);
    if (!cJSON_IsArray(x->tools_json) || n == 0)
        return cli_usage_error("generate", "--tools: '%s' is not a non-empty JSON array", path);
    x->tools = calloc((size_t)n, sizeof(*x->tools));
    if (x->tools == NULL)
        return CLI_EXIT_FAILURE;
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, x->tools_json) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!cJSON_IsObject(fn))
            fn = t;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
        cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        if (!cJSON_IsString(name))
            return cli_usage_error("generate", "--tools: element %d has no \"name\"", i);
        x->tools[i].name = name->valuestring;
        x->tools[i].description = cJSON_IsString(desc) ? desc->valuestring : NULL;
        x->tools[i].strict = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fn, "strict"));
        if (cJSON_IsObject(params)) {
            /* Printed in place of the value so the tree owns the text. */
            char *text = cJSON_PrintUnformatted(params);
            cJSON *str = text != NULL ? cJSON_CreateString(text) : NULL;
            cJSON_free(text);
            if (str == NULL || !cJSON_ReplaceItemViaPointer((cJSON *)fn, params, str)) {
                cJSON_Delete(str);
                return CLI_EXIT_FAILURE;
            }
            x->tools[i].parameters_json = str->valuestring;
        }
        i++;
    }
    req->tools = x->tools;
    req->n_tools = (size_t)n;
    return 0;
}

static const char *media_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL)
        return NULL;
    static const char *const map[][2] = {{".png", "image/png"},   {".jpg", "image/jpeg"},
                                         {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
                                         {".webp", "image/webp"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(dot, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static char *base64(const unsigned char *in, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* The images as content parts after the prompt's text part. */
static int load_images(struct extras *x, const char *prompt, struct llm_message *msg)
{
    x->parts[0] = (struct llm_content_part){.type = LLM_PART_TEXT, .text = prompt};
    for (size_t i = 0; i < x->n_images; i++) {
        const char *src = x->images[i];
        struct llm_content_part *pt = &x->parts[i + 1];
        if (strncmp(src, "http://", 7) == 0 || strncmp(src, "https://", 8) == 0 ||
            strncmp(src, "data:", 5) == 0) {
            *pt = (struct llm_content_part){.type = LLM_PART_IMAGE_URL, .url = src};
            continue;
        }
        const char *mt = media_type_of(src);
        if (mt == NULL)
            return cli_usage_error("generate", "--image: '%s' is not a .png, .jpg, .jpeg, .gif "
                                   "or .webp file, nor an http(s):// or data: URL", src);
        size_t len;
        char *raw = read_file("--image", src, &len);
        if (raw == NULL)
            return CLI_EXIT_USAGE;
        x->image_data[i] = base64((const unsigned char *)raw, len);
        free(raw);
        if (x->image_data[i] == NULL)
            return CLI_EXIT_FAILURE;
        *pt = (struct llm_content_part){
            .type = LLM_PART_IMAGE_BASE64, .data = x->image_data[i], .media_type = mt};
    }
    msg->content = NULL;
    msg->parts = x->parts;
    msg->n_parts = x->n_images + 1;
    return 0;
}

static int load_schema(struct extras *x, const char *path, struct llm_request *req)
{
    size_t len;
    if ((x->schema_text = read_file("--json-schema", path, &len)) == NULL)
        return CLI_EXIT_USAGE;
    cJSON *s = cJSON_Parse(x->schema_text);
    if (!cJSON_IsObject(s)) {
        cJSON_Delete(s);
        return cli_usage_error("generate", "--json-schema: '%s' is not a JSON object", path);
    }
    /* The format's name: the schema's title when it is a valid name. */
    static char name[65];
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(s, "title");
    snprintf(name, sizeof(name), "%s", "response");
    if (cJSON_IsString(title) && title->valuestring[0] != '\0' && strlen(title->valuestring) <= 64 &&
        strspn(title->valuestring, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_-") == strlen(title->valuestring))
        snprintf(name, sizeof(name), "%s", title->valuestring);
    cJSON_Delete(s);
    req->response_format = (struct llm_response_format){
        .type = LLM_RESPONSE_JSON_SCHEMA, .name = name, .schema_json = x->schema_text};
    return 0;
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
        {"tools", required_argument, NULL, OPT_TOOLS},
        {"tool-choice", required_argument, NULL, OPT_TOOL_CHOICE},
        {"json-schema", required_argument, NULL, OPT_JSON_SCHEMA},
        {"image", required_argument, NULL, OPT_IMAGE},
        {NULL, 0, NULL, 0},
    };
    struct cli_common c = {0};
    struct llm_request req = {0};
    const char *stop[MAX_STOP];
    bool json = false;
    const char *tools_file = NULL, *schema_file = NULL, *choice = NULL;
    struct extras x = {0};
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
        case OPT_TOOLS:
            tools_file = optarg;
            break;
        case OPT_TOOL_CHOICE:
            if (*optarg == '\0')
                return cli_usage_error("generate", "--tool-choice: empty value");
            choice = optarg;
            break;
        case OPT_JSON_SCHEMA:
            schema_file = optarg;
            break;
        case OPT_IMAGE:
            if (x.n_images == MAX_IMAGES)
                return cli_usage_error("generate", "--image: at most %d images", MAX_IMAGES);
            x.images[x.n_images++] = optarg;
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

    struct llm_message msg = {.role = "user", .content = prompt};
    int rc = 0;
    if (choice != NULL && tools_file == NULL)
        rc = cli_usage_error("generate", "--tool-choice needs --tools");
    if (rc == 0 && tools_file != NULL)
        rc = load_tools(&x, tools_file, &req);
    if (rc == 0 && choice != NULL) {
        req.tool_choice = strcmp(choice, "auto") == 0       ? LLM_TOOL_CHOICE_AUTO
                          : strcmp(choice, "none") == 0     ? LLM_TOOL_CHOICE_NONE
                          : strcmp(choice, "required") == 0 ? LLM_TOOL_CHOICE_REQUIRED
                                                            : LLM_TOOL_CHOICE_NAMED;
        if (req.tool_choice == LLM_TOOL_CHOICE_NAMED)
            req.tool_choice_name = choice;
    }
    if (rc == 0 && schema_file != NULL)
        rc = load_schema(&x, schema_file, &req);
    if (rc == 0 && x.n_images > 0)
        rc = load_images(&x, prompt, &msg);
    if (rc == 0)
        rc = cli_common_resolve(&c, "generate");
    struct llm_engine *eng = NULL;
    if (rc == 0)
        rc = cli_engine_new(&c, false, &eng);
    if (rc != 0) {
        extras_free(&x);
        free(prompt);
        return rc;
    }

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
    extras_free(&x);
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
        } else if (res->content_len > 0 || res->n_tool_calls == 0) {
            fwrite(res->content, 1, res->content_len, stdout);
            if (res->content_len == 0 || res->content[res->content_len - 1] != '\n')
                putchar('\n');
        }
        for (size_t i = 0; i < res->n_tool_calls; i++)
            printf("tool_call %s %s %s\n", res->tool_calls[i].id, res->tool_calls[i].name,
                   res->tool_calls[i].arguments);
        if (res->refusal != NULL)
            printf("refusal: %s\n", res->refusal);
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
