/* `llmorch batch`: run a JSONL file of requests through one engine, writing
 * one output line per request as it completes.
 *
 * Threads: the main thread reads input, submits with llm_generate_async()
 * and writes every output line; the engine thread only hands finished
 * results over through a mutex-protected list (its callbacks must stay
 * short).  At most `window` requests are read ahead of their results, so
 * memory is bounded whatever the size of the input.
 *
 * Resume: every line written names its custom_id.  At start the output file
 * is scanned (it must be a regular file of batch output lines, else it is
 * refused untouched; a partial last line left by a crash is cut off once
 * the scan has checked the rest) and every custom_id found is skipped.  Failed requests are written too, with
 * their error, and so are NOT retried by a rerun: a rerun finishes a batch,
 * it does not second-guess results (filter the failed lines out of the
 * output to redo them).  Requests cancelled at shutdown are never written,
 * so a rerun does them. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    OPT_INPUT = OPT_COMMON_END_,
    OPT_OUTPUT,
    OPT_METRICS_LOG,
    OPT_METRICS_INTERVAL_MS,
    OPT_FSYNC,
    OPT_QUIET,
    OPT_MAX_LINE_BYTES
};

static const char batch_usage[] =
    "Usage: llmorch batch -i IN.jsonl -o OUT.jsonl [options]\n"
    "\n"
    "Run every request of IN.jsonl (or - for standard input) and append one\n"
    "result line per request to OUT.jsonl as it completes.\n"
    "\n"
    "Input, one JSON object per line (blank lines are ignored):\n"
    "  {\"custom_id\":\"r1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\n"
    "   \"body\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}}\n"
    "  (the OpenAI Batch API format), or a bare request body, whose custom_id is\n"
    "  then \"line-N\" (N = its line number).  Body keys model, messages (string\n"
    "  content or content parts: text, image_url; assistant tool_calls; tool turns\n"
    "  with tool_call_id), tools, tool_choice, parallel_tool_calls,\n"
    "  response_format (json_object, json_schema), max_tokens,\n"
    "  max_completion_tokens, temperature, top_p, stop, stream and system are\n"
    "  understood and sent in each provider's own format (the same file works\n"
    "  with every --provider); any other key is passed through to the provider.\n"
    "  --model is the model of bodies that name none.\n"
    "\n"
    "Output, one line per request in completion order (OpenAI Batch output):\n"
    "  {\"id\":\"batch_req_...\",\"custom_id\":\"r1\",\"response\":{\"status_code\":200,\n"
    "   \"request_id\":...,\"body\":{...chat.completion...}},\"error\":null,\n"
    "   \"llmorch\":{...the full result: timestamps, attempts, usage, cost...}}\n"
    "  Tool calls come back as message.tool_calls with finish_reason \"tool_calls\",\n"
    "  whatever the provider.\n"
    "  A failed request has \"error\":{\"code\",\"message\"}; a malformed input line\n"
    "  gives {\"custom_id\":\"line-N\" (or its custom_id),\"response\":null,\n"
    "  \"error\":{\"code\":\"invalid_input\",\"message\":\"line N: ...\"}} and the batch\n"
    "  goes on.  A custom_id used twice gives an error line for the later one,\n"
    "  under \"line-N\" (code duplicate_custom_id).\n"
    "\n"
    "Resuming: run the same command again.  custom_ids already in OUT.jsonl are\n"
    "skipped, a partial last line left by a crash is removed first, and no\n"
    "custom_id is ever written twice.  An existing OUT.jsonl must be a regular\n"
    "file of batch output lines: anything else (an input file, a device, a FIFO)\n"
    "is refused untouched, with exit status 2.\n"
    "Failed requests are written with their error and are not retried by a\n"
    "rerun; to redo them, remove their lines, e.g.\n"
    "  jq -c 'select(.error == null)' OUT.jsonl > ok && mv ok OUT.jsonl\n"
    "Ctrl-C (SIGINT) or SIGTERM stops reading input and waits for the requests\n"
    "in flight; a second one cancels them (they are not written; a rerun does\n"
    "them).\n"
    "\n"
    "Batch options:\n"
    "  -i, --input FILE           requests, JSONL (- = standard input)\n"
    "  -o, --output FILE          results, JSONL, appended to (required)\n"
    "  -q, --quiet                no progress line\n"
    "  --metrics-log FILE         append a JSON line of figures every interval\n"
    "  --metrics-interval-ms MS   interval of --metrics-log (default 5000)\n"
    "  --fsync                    fsync OUT after every line (slower, safer)\n"
    "  --max-line-bytes N         longest input line accepted (default 16777216);\n"
    "                             longer lines are invalid and skipped unread\n"
    "\n"
    "Progress: on a terminal, one redrawn line on stderr (done/total, rate, ETA,\n"
    "in flight, retries, 429s, tokens, cost); otherwise a plain line every 5 s.\n"
    "A summary table is printed on stderr at the end.\n"
    "\n"
    "Exit status: 0 every request of this run succeeded; 3 finished, but some\n"
    "requests failed or some lines were invalid; 1 runtime error; 2 usage error;\n"
    "130 (SIGINT) or 143 (SIGTERM) interrupted.\n"
    "\n";

/* Signals only set flags; the main loop polls them (every 100 ms at most). */
static volatile sig_atomic_t g_signals;
static volatile sig_atomic_t g_first_signal;

static void on_signal(int sig)
{
    if (g_first_signal == 0)
        g_first_signal = sig;
    g_signals++;
}

struct job;

struct batch {
    struct cli_common common;
    const char *in_path;
    const char *out_path;
    const char *metrics_path;
    int64_t metrics_interval_ms;
    bool quiet;
    bool fsync_each;
    size_t max_line;

    struct llm_engine *eng;
    const char *default_model;
    int in_fd;
    int out_fd;
    FILE *metrics;
    struct cli_idset *ids;
    struct cli_stats st;
    struct cli_progress prog;
    struct cli_line_reader rd;
    size_t window;              /* most requests submitted and not yet written */
    uint64_t outstanding;
    bool stopping;              /* no more admissions */
    bool input_done;
    bool fatal;

    /* Finished requests handed over by the engine thread. */
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;
    struct job *done_head;
    struct job *done_tail;
};

struct job {
    struct job *next;
    struct batch *b;
    struct llm_result *res;
    char *custom_id;
    uint64_t line_no;
};

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    llm_result_free(j->res);
    free(j->custom_id);
    free(j);
}

/* Engine thread: hand the result over and return at once. */
static void on_done(void *user, struct llm_result *res)
{
    struct job *j = user;
    struct batch *b = j->b;
    j->res = res;
    pthread_mutex_lock(&b->done_mu);
    if (b->done_tail)
        b->done_tail->next = j;
    else
        b->done_head = j;
    b->done_tail = j;
    pthread_cond_signal(&b->done_cv);
    pthread_mutex_unlock(&b->done_mu);
}

static void fatal(struct batch *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fatal(struct batch *b, const char *fmt, ...)
{
    cli_progress_clear(&b->prog);
    va_list ap;
    va_start(ap, fmt);
    fputs("llmorch batch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    b->fatal = true;
    b->stopping = true;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Append `line` (malloc'd, consumed) plus a newline to OUT in one write, so
 * that a crash leaves at most one partial line, at the end. */
static bool write_line(struct batch *b, char *line)
{
    if (line == NULL) {
        fatal(b, "out of memory while building an output line");
        return false;
    }
    size_t n = strlen(line);
    char *nl = realloc(line, n + 2);
    if (nl == NULL) {
        free(line);
        fatal(b, "out of memory while building an output line");
        return false;
    }
    nl[n] = '\n';
    int rc = write_all(b->out_fd, nl, n + 1);
    free(nl);
    if (rc != 0 || (b->fsync_each && fsync(b->out_fd) != 0)) {
        fatal(b, "cannot write %s: %s", b->out_path, strerror(errno));
        return false;
    }
    return true;
}

static void write_invalid(struct batch *b, const char *id, uint64_t line_no, const char *code,
                          const char *msg)
{
    if (!write_line(b, cli_output_error_line(id, line_no, code, msg)))
        return;
    if (cli_idset_add(b->ids, id, IDSET_FROM_RUN) != 0)
        fatal(b, "out of memory");
    b->st.invalid++;
}

/* Write every finished request handed over so far. */
static void drain(struct batch *b)
{
    pthread_mutex_lock(&b->done_mu);
    struct job *j = b->done_head;
    b->done_head = b->done_tail = NULL;
    pthread_mutex_unlock(&b->done_mu);
    while (j != NULL) {
        struct job *next = j->next;
        b->outstanding--;
        if (j->res == NULL) {
            fatal(b, "out of memory (a result could not be allocated)");
        } else if (j->res->error.type == LLM_ERR_CANCELLED) {
            /* Only shutdown cancels: not written, so a rerun redoes it. */
            b->st.discarded++;
        } else if (!b->fatal) {
            if (write_line(b, cli_output_result_line(j->custom_id, j->res)))
                cli_stats_add_result(&b->st, j->res);
        }
        job_free(j);
        j = next;
    }
    b->st.in_flight = b->outstanding;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static void handle_line(struct batch *b, const char *line, size_t len, uint64_t line_no)
{
    if (blank(line, len))
        return;
    struct cli_parsed_line pl;
    char err[512];
    bool ok = cli_parse_input_line(line, len, line_no, b->default_model, &pl, err, sizeof(err));
    char fallback[40];
    snprintf(fallback, sizeof(fallback), "line-%llu", (unsigned long long)line_no);
    const char *id = pl.custom_id != NULL ? pl.custom_id : fallback;

    int tag = cli_idset_get(b->ids, id);
    if (tag == IDSET_FROM_OUTPUT) {
        b->st.skipped++;
    } else if (tag == IDSET_FROM_RUN) {
        /* The same custom_id twice in the input: the later line is reported
         * under its line number, so no custom_id is ever written twice. */
        if (cli_idset_get(b->ids, fallback) != 0) {
            b->st.skipped++;
        } else {
            char msg[600];
            snprintf(msg, sizeof(msg), "line %llu: custom_id \"%.200s\" is already used by an "
                     "earlier line", (unsigned long long)line_no, id);
            write_invalid(b, fallback, line_no, "duplicate_custom_id", msg);
        }
    } else if (!ok) {
        write_invalid(b, id, line_no, "invalid_input", err);
    } else {
        struct job *j = calloc(1, sizeof(*j));
        if (j == NULL || cli_idset_add(b->ids, id, IDSET_FROM_RUN) != 0) {
            free(j);
            fatal(b, "out of memory");
        } else {
            j->b = b;
            j->custom_id = pl.custom_id;
            pl.custom_id = NULL;
            j->line_no = line_no;
            pl.req.deadline_ms = b->common.deadline_ms;
            pl.req.user_data = j;
            enum llm_error rc = llm_generate_async(b->eng, &pl.req, on_done, j);
            if (rc != LLM_OK) {
                fatal(b, "cannot submit line %llu: %s", (unsigned long long)line_no,
                      llm_strerror(rc));
                job_free(j);
            } else {
                b->outstanding++;
                b->st.in_flight = b->outstanding;
            }
        }
    }
    cli_parsed_line_free(&pl);
}

/* Read and submit lines until the window is full, the input ends or has
 * nothing yet (pipes). */
static void admit(struct batch *b)
{
    while (!b->stopping && !b->input_done && b->outstanding < b->window) {
        if (g_signals)
            return;
        char *line;
        size_t len;
        enum cli_line_status st = cli_line_next(&b->rd, b->outstanding ? 20 : 100, &line, &len);
        switch (st) {
        case LINE_AGAIN:
            return;
        case LINE_EOF:
            b->input_done = true;
            return;
        case LINE_ERROR:
            fatal(b, "cannot read %s: %s", b->in_path, strerror(errno));
            b->input_done = true;
            return;
        case LINE_TOO_LONG: {
            char id[40], msg[160];
            snprintf(id, sizeof(id), "line-%llu", (unsigned long long)b->rd.line_no);
            snprintf(msg, sizeof(msg), "line %llu: longer than %zu bytes (--max-line-bytes); "
                     "not read", (unsigned long long)b->rd.line_no, b->max_line);
            if (cli_idset_get(b->ids, id) == IDSET_FROM_OUTPUT)
                b->st.skipped++;
            else
                write_invalid(b, id, b->rd.line_no, "invalid_input", msg);
            break;
        }
        case LINE_OK:
            handle_line(b, line, len, b->rd.line_no);
            break;
        }
        cli_progress_tick(&b->prog, &b->st, b->eng, false);
    }
}

/* Non-blank lines of a regular file, for the progress total. */
static bool count_lines(const char *path, uint64_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char *buf = malloc(1 << 20);
    if (buf == NULL) {
        close(fd);
        return false;
    }
    uint64_t n = 0;
    bool content = false;
    ssize_t r;
    while ((r = read(fd, buf, 1 << 20)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            char c = buf[i];
            if (c == '\n') {
                n += content;
                content = false;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                content = true;
            }
        }
    }
    n += content;
    free(buf);
    close(fd);
    *out = n;
    return r == 0;
}

/* Longest output line held whole by the resume scan; longer lines are
 * known by their start, which names the custom_id (see output.c). */
#define RESUME_LINE_BYTES ((size_t)1 << 20)

static int refuse_output(const struct batch *b, const char *why)
{
    fprintf(stderr, "llmorch batch: refusing to use %s as the output: %s; nothing was changed "
            "(give -o a new file or an earlier batch output)\n", b->out_path, why);
    return CLI_EXIT_USAGE;
}

/* Open OUT, lock it, collect its custom_ids and cut off a partial last
 * line.  Nothing is written to OUT unless every line of it is a batch
 * output line: an input file given as -o by mistake, a device or a FIFO is
 * refused untouched (exit 2).  Memory: the custom_ids and one bounded line.
 * Returns 0 or an exit status. */
static int open_output(struct batch *b)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; the type is
     * checked before anything is read. */
    b->out_fd = open(b->out_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (b->out_fd < 0) {
        if (errno == EISDIR)
            return refuse_output(b, "it is a directory");
        fprintf(stderr, "llmorch batch: cannot open %s: %s\n", b->out_path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    struct stat so, si;
    if (fstat(b->out_fd, &so) != 0) {
        fprintf(stderr, "llmorch batch: cannot stat %s: %s\n", b->out_path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (!S_ISREG(so.st_mode))
        return refuse_output(b, S_ISFIFO(so.st_mode) ? "it is a FIFO, not a regular file"
                                : S_ISCHR(so.st_mode) || S_ISBLK(so.st_mode)
                                    ? "it is a device, not a regular file"
                                    : "it is not a regular file");
    if (fstat(b->in_fd, &si) == 0 && so.st_dev == si.st_dev && so.st_ino == si.st_ino)
        return cli_usage_error("batch", "the input and the output are the same file");
    /* Two runs appending to one file would write duplicates.  (A file
     * system without flock support is not a reason to refuse the job.) */
    if (flock(b->out_fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        fprintf(stderr, "llmorch batch: %s is in use by another llmorch batch\n", b->out_path);
        return CLI_EXIT_FAILURE;
    }
    struct cli_line_reader r;
    if (cli_line_reader_init(&r, b->out_fd, RESUME_LINE_BYTES) != 0) {
        fprintf(stderr, "llmorch batch: out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    r.keep_prefix = true;
    uint64_t found = 0;
    int status = 0;
    bool cut = false, terminate = false;
    off_t cut_at = 0;
    size_t cut_len = 0;
    for (;;) {
        char *line;
        size_t len;
        enum cli_line_status st = cli_line_next(&r, 0, &line, &len);
        if (st == LINE_EOF)
            break;
        if (st != LINE_OK && st != LINE_TOO_LONG) {
            fprintf(stderr, "llmorch batch: cannot read %s: %s\n", b->out_path, strerror(errno));
            status = CLI_EXIT_FAILURE;
            break;
        }
        if (st == LINE_OK && blank(line, len))
            continue;
        char *id = st == LINE_OK ? cli_output_line_custom_id(line, len)
                                 : cli_output_prefix_custom_id(line, len);
        if (!r.had_newline) {
            /* Every line is written with its newline in one write(): a line
             * without one is what a crash or kill left mid-write, if it
             * starts like one of ours.  A whole line is kept (and ended). */
            if (id != NULL && st == LINE_OK) {
                terminate = true;
            } else if (cli_output_line_may_be_cut(line, len)) {
                free(id);
                id = NULL;
                cut = true;
                cut_at = (off_t)r.line_start;
                cut_len = (size_t)(r.offset - r.line_start);
                break;
            }
        }
        if (id == NULL) {
            char why[160];
            snprintf(why, sizeof(why), "line %llu is not a batch output line (an input file?)",
                     (unsigned long long)r.line_no);
            status = refuse_output(b, why);
            break;
        }
        if (cli_idset_add(b->ids, id, IDSET_FROM_OUTPUT) != 0) {
            free(id);
            fprintf(stderr, "llmorch batch: out of memory\n");
            status = CLI_EXIT_FAILURE;
            break;
        }
        free(id);
        found++;
    }
    cli_line_reader_free(&r);
    if (status != 0)
        return status;
    /* Only now, with every line checked, is the file changed. */
    if (cut) {
        if (ftruncate(b->out_fd, cut_at) != 0) {
            fprintf(stderr, "llmorch batch: cannot repair %s: %s\n", b->out_path,
                    strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        if (!b->quiet)
            fprintf(stderr, "llmorch batch: removed a partial last line (%zu bytes) from %s "
                    "left by an interrupted run\n", cut_len, b->out_path);
    }
    int fl = fcntl(b->out_fd, F_GETFL);
    if (lseek(b->out_fd, 0, SEEK_END) < 0 || fl < 0 ||
        fcntl(b->out_fd, F_SETFL, (fl & ~O_NONBLOCK) | O_APPEND) != 0 ||
        (terminate && write_all(b->out_fd, "\n", 1) != 0)) {
        fprintf(stderr, "llmorch batch: cannot append to %s: %s\n", b->out_path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (found > 0 && !b->quiet)
        fprintf(stderr, "llmorch batch: resuming: %s already holds %llu results; their "
                "custom_ids are skipped\n", b->out_path, (unsigned long long)found);
    return 0;
}

static int parse_args(struct batch *b, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"input", required_argument, NULL, OPT_INPUT},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"metrics-log", required_argument, NULL, OPT_METRICS_LOG},
        {"metrics-interval-ms", required_argument, NULL, OPT_METRICS_INTERVAL_MS},
        {"fsync", no_argument, NULL, OPT_FSYNC},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"max-line-bytes", required_argument, NULL, OPT_MAX_LINE_BYTES},
        {NULL, 0, NULL, 0},
    };
    int opt;
    int64_t v;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":hvqm:i:o:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
        case OPT_HELP:
            fputs(batch_usage, stdout);
            fputs(cli_common_help, stdout);
            return -1;
        case 'v': opt = OPT_VERBOSE; break;
        case 'm': opt = OPT_MODEL; break;
        case 'q': opt = OPT_QUIET; break;
        case 'i': opt = OPT_INPUT; break;
        case 'o': opt = OPT_OUTPUT; break;
        case '?':
        case ':':
            return cli_getopt_error("batch", opt, argv);
        default:
            break;
        }
        int c = cli_common_option(&b->common, "batch", opt, optarg);
        if (c < 0)
            return CLI_EXIT_USAGE;
        if (c > 0)
            continue;
        switch (opt) {
        case OPT_INPUT:
            b->in_path = optarg;
            break;
        case OPT_OUTPUT:
            b->out_path = optarg;
            break;
        case OPT_METRICS_LOG:
            b->metrics_path = optarg;
            break;
        case OPT_METRICS_INTERVAL_MS:
            if (!cli_parse_i64(optarg, 10, 86400000, &b->metrics_interval_ms))
                return cli_usage_error("batch", "--metrics-interval-ms: '%s' is not a whole "
                                       "number of ms in 10..86400000", optarg);
            break;
        case OPT_FSYNC:
            b->fsync_each = true;
            break;
        case OPT_QUIET:
            b->quiet = true;
            break;
        case OPT_MAX_LINE_BYTES:
            if (!cli_parse_i64(optarg, 64, (int64_t)1 << 30, &v))
                return cli_usage_error("batch", "--max-line-bytes: '%s' is not a whole number "
                                       "in 64..1073741824", optarg);
            b->max_line = (size_t)v;
            break;
        default:
            return cli_usage_error("batch", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("batch", "unexpected argument '%s'", argv[optind]);
    if (b->in_path == NULL)
        return cli_usage_error("batch", "missing -i IN.jsonl");
    if (b->out_path == NULL)
        return cli_usage_error("batch", "missing -o OUT.jsonl");
    if (strcmp(b->out_path, "-") == 0)
        return cli_usage_error("batch", "-o needs a file (it is appended to and resumed from)");
    return 0;
}

/* The main loop: admit, write, report, until the input is done and every
 * admitted request is written, or a signal says stop. */
static void run(struct batch *b)
{
    int64_t metrics_every = b->metrics_interval_ms * 1000;
    int64_t next_metrics = cli_now_us() + metrics_every;
    bool announced = false;
    for (;;) {
        int sigs = g_signals;
        if (sigs >= 1 && !announced) {
            announced = true;
            b->stopping = true;
            cli_progress_clear(&b->prog);
            if (b->outstanding > 0)
                fprintf(stderr, "llmorch batch: interrupted: no new requests; waiting for %llu "
                        "in flight (interrupt again to cancel them)\n",
                        (unsigned long long)b->outstanding);
        }
        if (sigs >= 2 && b->outstanding > 0) {
            cli_progress_clear(&b->prog);
            fprintf(stderr, "llmorch batch: cancelling %llu requests in flight (not written; a "
                    "rerun does them)\n", (unsigned long long)b->outstanding);
            /* Completes every request; the cancelled ones are dropped by
             * drain(), the ones that finished first are written. */
            cli_stats_snapshot(&b->st, b->eng); /* what the summary shows */
            llm_engine_free(b->eng);
            b->eng = NULL;
            drain(b);
            break;
        }
        drain(b);
        admit(b);
        drain(b);
        if ((b->stopping || b->input_done) && b->outstanding == 0)
            break;
        cli_progress_tick(&b->prog, &b->st, b->eng, false);
        if (b->metrics && cli_now_us() >= next_metrics) {
            cli_metrics_write(b->metrics, &b->st, b->eng);
            next_metrics = cli_now_us() + metrics_every;
        }
        /* Decide on the state after the last drain(), never on what admit()
         * saw: results that arrived in between may have emptied the window,
         * and sleeping then stalls the batch until the timeout (at low
         * concurrency on a busy machine that was most rounds: ~30 ms per
         * request instead of well under 1). */
        bool full = b->outstanding >= b->window;
        if (b->outstanding > 0 && (full || b->stopping || b->input_done)) {
            pthread_mutex_lock(&b->done_mu);
            if (b->done_head == NULL) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_nsec += 100 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&b->done_cv, &b->done_mu, &ts);
            }
            pthread_mutex_unlock(&b->done_mu);
        }
    }
}

int cli_batch_main(int argc, char **argv)
{
    struct batch b = {
        .metrics_interval_ms = 5000,
        .max_line = CLI_MAX_INPUT_BYTES,
        .in_fd = -1,
        .out_fd = -1,
    };
    int rc = parse_args(&b, argc, argv);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if ((rc = cli_common_resolve(&b.common, "batch")) != 0)
        return rc;
    b.default_model = cli_default_model(&b.common);

    cli_stats_init(&b.st);
    cli_progress_init(&b.prog, b.quiet);
    pthread_mutex_init(&b.done_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b.done_cv, &ca);
    pthread_condattr_destroy(&ca);
    b.ids = cli_idset_new();
    if (b.ids == NULL) {
        fprintf(stderr, "llmorch batch: out of memory\n");
        rc = CLI_EXIT_FAILURE;
        goto out;
    }

    if (strcmp(b.in_path, "-") == 0) {
        b.in_fd = STDIN_FILENO;
        b.in_path = "standard input";
    } else {
        b.in_fd = open(b.in_path, O_RDONLY | O_CLOEXEC);
        if (b.in_fd < 0) {
            fprintf(stderr, "llmorch batch: cannot open %s: %s\n", b.in_path, strerror(errno));
            rc = CLI_EXIT_FAILURE;
            goto out;
        }
        struct stat st;
        if (fstat(b.in_fd, &st) == 0 && S_ISREG(st.st_mode))
            b.st.total_known = count_lines(b.in_path, &b.st.total);
    }
    if (cli_line_reader_init(&b.rd, b.in_fd, b.max_line) != 0) {
        fprintf(stderr, "llmorch batch: out of memory\n");
        rc = CLI_EXIT_FAILURE;
        goto out;
    }
    if ((rc = open_output(&b)) != 0)
        goto out;
    if (b.metrics_path != NULL) {
        b.metrics = fopen(b.metrics_path, "ae");
        if (b.metrics == NULL) {
            fprintf(stderr, "llmorch batch: cannot open %s: %s\n", b.metrics_path,
                    strerror(errno));
            rc = CLI_EXIT_FAILURE;
            goto out;
        }
    }

    /* The engine thread inherits a mask with SIGINT/SIGTERM blocked, so the
     * signals are taken by this thread only. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    rc = cli_engine_new(&b.common, strcmp(b.common.provider, "openai") == 0, &b.eng);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto out;
    b.window = 2 * (size_t)(b.common.concurrency > 0 ? b.common.concurrency : 64);

    b.st.start_us = cli_now_us();
    run(&b);
    cli_stats_snapshot(&b.st, b.eng); /* the summary's figures (no-op if run() freed it) */
    if (b.metrics)
        cli_metrics_write(b.metrics, &b.st, b.eng); /* the final figures */
    struct llm_stats *shared = cli_shared_snapshot(b.eng);
    llm_engine_free(b.eng);
    b.eng = NULL;
    drain(&b); /* nothing is left in practice; keeps the accounting exact */

    bool complete = b.input_done && b.st.discarded == 0 && !b.fatal;
    cli_progress_clear(&b.prog);
    cli_stats_print_summary(&b.st, stderr, b.out_path, !complete && g_signals > 0);
    cli_print_shared(stderr, shared);
    llm_stats_free(shared);
    if (b.fatal)
        rc = CLI_EXIT_FAILURE;
    else if (!complete)
        rc = g_first_signal == SIGTERM ? CLI_EXIT_SIGTERM : CLI_EXIT_SIGINT;
    else if (b.st.failed || b.st.invalid)
        rc = CLI_EXIT_PARTIAL;
    else
        rc = CLI_EXIT_OK;
out:
    llm_engine_free(b.eng);
    cli_line_reader_free(&b.rd);
    if (b.in_fd > STDIN_FILENO)
        close(b.in_fd);
    if (b.out_fd >= 0)
        close(b.out_fd);
    if (b.metrics)
        fclose(b.metrics);
    cli_idset_free(b.ids);
    cli_stats_free(&b.st);
    pthread_cond_destroy(&b.done_cv);
    pthread_mutex_destroy(&b.done_mu);
    return rc;
}
