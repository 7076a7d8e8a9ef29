/* Internal interfaces of the `llmorch` command-line tool.  Nothing here is
 * part of the library's API: the CLI is a client of <llmorch/llmorch.h>
 * like any host program. */
#ifndef LLMORCH_CLI_H
#define LLMORCH_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <llmorch/llmorch.h>

/* Exit statuses shared by every subcommand (documented in `llmorch --help`). */
enum {
    CLI_EXIT_OK = 0,        /* everything succeeded */
    CLI_EXIT_FAILURE = 1,   /* a request failed, or a runtime error (I/O, engine) */
    CLI_EXIT_USAGE = 2,     /* bad command line: unknown option, bad value */
    CLI_EXIT_PARTIAL = 3,   /* batch finished, but some lines failed or were invalid */
    CLI_EXIT_SIGINT = 130,  /* batch interrupted by SIGINT */
    CLI_EXIT_SIGTERM = 143  /* batch interrupted by SIGTERM */
};

/* Largest prompt read from standard input and default largest batch input
 * line: bigger inputs are refused without being read into memory. */
#define CLI_MAX_INPUT_BYTES ((size_t)16 * 1024 * 1024)

/* ---- options shared by generate and batch ------------------------------------ */

/* --header may be given this many times (the engine's limit). */
#define CLI_MAX_HEADERS 64

/* Long-option values of the common options (outside the char range so they
 * never clash with short options). */
enum {
    OPT_PROVIDER = 1000,
    OPT_MODEL,
    OPT_BASE_URL,
    OPT_API_KEY_ENV,
    OPT_RPM,
    OPT_TPM,
    OPT_WINDOW_MS,
    OPT_CONCURRENCY,
    OPT_MAX_ATTEMPTS,
    OPT_TIMEOUT_MS,
    OPT_DEADLINE_MS,
    OPT_RETRY_BUDGET,
    OPT_PRICING,
    OPT_VERBOSE,
    OPT_MOCK_LATENCY_MS,
    OPT_MOCK_SCRIPT,
    OPT_MOCK_REPLY,
    OPT_REGION,
    OPT_API_VERSION,
    OPT_DEPLOYMENT,
    OPT_HEADER,
    OPT_ENDPOINT,
    OPT_HELP,
    OPT_REDIS,
    OPT_QUOTA,
    OPT_REDIS_FAIL,
    OPT_USER_AGENT,
    OPT_COMMON_END_ /* first value free for subcommand options */
};

/* Initialisers for `struct option` arrays: every subcommand that calls a
 * provider embeds these. */
#define CLI_COMMON_LONG_OPTIONS                                           \
    {"provider", required_argument, NULL, OPT_PROVIDER},                  \
    {"model", required_argument, NULL, OPT_MODEL},                        \
    {"base-url", required_argument, NULL, OPT_BASE_URL},                  \
    {"api-key-env", required_argument, NULL, OPT_API_KEY_ENV},            \
    {"rpm", required_argument, NULL, OPT_RPM},                            \
    {"tpm", required_argument, NULL, OPT_TPM},                            \
    {"window-ms", required_argument, NULL, OPT_WINDOW_MS},                \
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},            \
    {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},          \
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},              \
    {"deadline-ms", required_argument, NULL, OPT_DEADLINE_MS},            \
    {"retry-budget", required_argument, NULL, OPT_RETRY_BUDGET},          \
    {"pricing", required_argument, NULL, OPT_PRICING},                    \
    {"verbose", no_argument, NULL, OPT_VERBOSE},                          \
    {"mock-latency-ms", required_argument, NULL, OPT_MOCK_LATENCY_MS},    \
    {"mock-script", required_argument, NULL, OPT_MOCK_SCRIPT},            \
    {"mock-reply", required_argument, NULL, OPT_MOCK_REPLY},              \
    {"region", required_argument, NULL, OPT_REGION},                      \
    {"api-version", required_argument, NULL, OPT_API_VERSION},            \
    {"deployment", required_argument, NULL, OPT_DEPLOYMENT},              \
    {"header", required_argument, NULL, OPT_HEADER},                      \
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},                  \
    {"help", no_argument, NULL, OPT_HELP},                                \
    {"redis", required_argument, NULL, OPT_REDIS},                        \
    {"quota", required_argument, NULL, OPT_QUOTA},                        \
    {"redis-fail", required_argument, NULL, OPT_REDIS_FAIL},              \
    {"user-agent", required_argument, NULL, OPT_USER_AGENT}

/* Help text of the common options, printed by each subcommand's --help. */
extern const char cli_common_help[];

struct cli_common {
    const char *provider;       /* as given; resolved by cli_common_resolve() */
    const char *model;          /* NULL: default for the provider */
    const char *base_url;
    const char *api_key_env;
    const char *region;         /* bedrock */
    const char *api_version;    /* azure */
    const char *deployment;     /* azure */
    double rpm;
    double tpm;
    int64_t window_ms;
    int concurrency;            /* 0: engine default (64) */
    int max_attempts;
    int64_t timeout_ms;
    int64_t deadline_ms;
    bool has_retry_budget;
    int retry_budget;
    const char *pricing_file;
    bool verbose;
    bool mock_given;            /* any --mock-* option */
    const char *redis_url;      /* --redis: share the limits through Redis */
    const char *quota;          /* --quota */
    enum llm_shared_fail redis_fail;
    struct llm_mock_options mock;
    const char *headers[CLI_MAX_HEADERS]; /* --header 'Name: value' */
    size_t n_headers;
    const char *endpoint;       /* --endpoint URL, used as given */
    /* --user-agent: "" = none; NULL (not given) = "llmorch/<version>" */
    const char *user_agent;
};

/* Handle option `opt` (with argument `arg`) if it is a common one.  Returns
 * 1 if handled, 0 if `opt` is not a common option, or -1 after printing a
 * one-line usage error for a bad value. */
int cli_common_option(struct cli_common *c, const char *cmd, int opt, const char *arg);

/* Pick the provider when none was named (see `llmorch --help`), reject
 * contradictions.  Prints what it decided when it falls back on the mock
 * provider.  Returns 0, or CLI_EXIT_USAGE after printing the error. */
int cli_common_resolve(struct cli_common *c, const char *cmd);

/* The model to use when the request names none. */
const char *cli_default_model(const struct cli_common *c);

/* Create the engine described by `c`.  `keep_raw` keeps provider bodies.
 * Returns 0, or an exit status after printing a one-line error. */
int cli_engine_new(const struct cli_common *c, bool keep_raw, struct llm_engine **out);

/* ---- command-line helpers ---------------------------------------------------- */

/* Print "llmorch CMD: <message> (see 'llmorch CMD --help')" and return
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Report a getopt_long failure ('?' or ':') for argv as one line; returns
 * CLI_EXIT_USAGE. */
int cli_getopt_error(const char *cmd, int ret, char **argv);

/* Strict numeric parsing: the whole string, no trailing garbage, within
 * [min, max]; doubles must be finite. */
bool cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
bool cli_parse_double(const char *s, double min, double max, double *out);

/* Read all of `fd` into a NUL-terminated malloc'd buffer of at most `max`
 * bytes.  Returns 0, -1 on I/O error (errno set), or -2 if the input is
 * longer than `max` (reading stops there). */
int cli_read_all(int fd, size_t max, char **out, size_t *out_len);

/* a + b for token counts, saturating at INT64_MIN/INT64_MAX: counts come
 * from servers, and a server may say INT64_MAX. */
static inline int64_t cli_sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* Monotonic clock in microseconds. */
int64_t cli_now_us(void);

/* ---- subcommands ------------------------------------------------------------- */

int cli_generate_main(int argc, char **argv);
int cli_batch_main(int argc, char **argv);

/* ---- set of strings (batch custom_ids) --------------------------------------- */

struct cli_idset;

/* Origin tags stored with each id. */
enum { IDSET_FROM_OUTPUT = 1, IDSET_FROM_RUN = 2 };

struct cli_idset *cli_idset_new(void);
void cli_idset_free(struct cli_idset *s);
/* 0 if absent, else the tag stored with `id`. */
int cli_idset_get(const struct cli_idset *s, const char *id);
/* Add `id` (copied) with `tag`; an existing id keeps its first tag.
 * Returns 0 or -1 when out of memory. */
int cli_idset_add(struct cli_idset *s, const char *id, int tag);
size_t cli_idset_count(const struct cli_idset *s);

/* ---- bounded line reader ----------------------------------------------------- */

enum cli_line_status {
    LINE_OK,        /* *line holds one line (without its '\n'), NUL-terminated */
    LINE_TOO_LONG,  /* a line longer than the bound was skipped unread (with
                     * keep_prefix: *line holds its first max_line bytes) */
    LINE_AGAIN,     /* no complete line available yet (pipes only) */
    LINE_EOF,
    LINE_ERROR      /* read error, errno set */
};

struct cli_line_reader {
    int fd;
    size_t max_line;            /* 0: unbounded */
    char *buf;                  /* read buffer */
    size_t buf_pos, buf_len;
    char *line;                 /* current line being assembled */
    size_t line_len, line_cap;
    bool keep_prefix;           /* LINE_TOO_LONG hands out the first max_line bytes */
    bool skipping;              /* discarding the rest of an over-long line */
    uint64_t skipped_bytes;
    bool eof;
    bool had_newline;           /* the last line returned ended with '\n' */
    uint64_t line_no;           /* 1-based number of the last line returned */
    uint64_t offset;            /* bytes consumed through the last line returned */
    uint64_t line_start;        /* file offset where that line started */
};

int cli_line_reader_init(struct cli_line_reader *r, int fd, size_t max_line);
void cli_line_reader_free(struct cli_line_reader *r);
/* Next line.  `timeout_ms` bounds the wait for data on pipes and terminals
 * (0 = do not wait); regular files never wait.  On LINE_OK the line stays
 * valid until the next call. */
enum cli_line_status cli_line_next(struct cli_line_reader *r, int timeout_ms, char **line,
                                   size_t *len);

/* ---- batch input lines -> requests ------------------------------------------- */

/* A request built from one input line; owns what the llm_request points to. */
struct cli_parsed_line {
    char *custom_id;            /* always set when the line had a usable id */
    struct llm_request req;
    struct llm_message *messages;
    char **owned;               /* strings to free */
    size_t n_owned;
    char *extra_json;
    char *metadata_json;
    const char **stop;
    void *json;                 /* the parsed cJSON tree the request borrows from */
};

/* Parse input line `line_no`.  Returns true with `out` filled, or false with
 * `err` holding "line N: ..." (and out->custom_id set if the line named
 * one).  Either way call cli_parsed_line_free(). */
bool cli_parse_input_line(const char *line, size_t len, uint64_t line_no,
                          const char *default_model, struct cli_parsed_line *out, char *err,
                          size_t err_len);
void cli_parsed_line_free(struct cli_parsed_line *p);

/* ---- batch output lines ------------------------------------------------------ */

/* One output line (no newline) for a finished request; malloc'd. */
char *cli_output_result_line(const char *custom_id, const struct llm_result *res);
/* One output line for an input line that could not be turned into a request. */
char *cli_output_error_line(const char *custom_id, uint64_t line_no, const char *code,
                            const char *message);
/* custom_id of an output line, copied; NULL if the line is not a batch
 * output line (a JSON object with string id and custom_id, and response and
 * error members). */
char *cli_output_line_custom_id(const char *line, size_t len);
/* custom_id of an output line known only by its first bytes (a line too
 * long to hold): they must read {"id":"...","custom_id":"..." as every
 * line we write does.  Copied; NULL if they do not. */
char *cli_output_prefix_custom_id(const char *prefix, size_t len);
/* True if an unterminated last line could be the start of a batch output
 * line cut by a crash mid-write (so it may be removed). */
bool cli_output_line_may_be_cut(const char *line, size_t len);

/* ---- batch statistics, progress and summary ---------------------------------- */

/* What the CLI counts itself: the lines it wrote, skipped or refused.
 * Everything the engine measures (retries, 429s, tokens, cost, latency
 * percentiles) comes from the engine's own snapshot (llm_engine_stats),
 * kept in `engine` and refreshed with cli_stats_snapshot(). */
struct cli_stats {
    uint64_t total;             /* non-blank input lines, 0 if unknown */
    bool total_known;
    uint64_t skipped;           /* already in the output file */
    uint64_t succeeded;
    uint64_t failed;            /* requests that completed with an error */
    uint64_t invalid;           /* malformed input lines */
    uint64_t discarded;         /* cancelled at shutdown, not written */
    uint64_t in_flight;
    uint64_t by_error[LLM_ERROR_COUNT + 1]; /* last slot: unknown values */
    uint64_t usage_unknown;     /* successes whose usage the server did not report */
    struct llm_stats *engine;   /* the latest engine snapshot, or NULL */
    int64_t start_us;           /* monotonic */
};

void cli_stats_init(struct cli_stats *s);
void cli_stats_free(struct cli_stats *s);
void cli_stats_add_result(struct cli_stats *s, const struct llm_result *res);
/* Replace s->engine with a fresh snapshot of `eng` (kept as it was if
 * `eng` is NULL or the snapshot fails).  Take one before freeing the
 * engine: the summary reads the last one. */
void cli_stats_snapshot(struct cli_stats *s, struct llm_engine *eng);
/* Requests finished in this run (written results and invalid lines). */
uint64_t cli_stats_done(const struct cli_stats *s);
/* Print the final table. */
void cli_stats_print_summary(const struct cli_stats *s, FILE *f, const char *out_path,
                             bool interrupted);

struct cli_progress {
    bool enabled;
    bool tty;
    int64_t interval_us;
    int64_t last_us;
    bool drawn;                 /* a TTY line is on screen */
};

void cli_progress_init(struct cli_progress *p, bool quiet);
/* Redraw (TTY) or print a line (otherwise) if the interval has passed, or
 * always with `force`; a line shows a fresh snapshot of `eng` (may be
 * NULL: the last one). */
void cli_progress_tick(struct cli_progress *p, struct cli_stats *s, struct llm_engine *eng,
                       bool force);
/* Clear the TTY line before other output. */
void cli_progress_clear(struct cli_progress *p);

/* A stats snapshot of `eng` if it shares its limits through Redis, else
 * NULL (free with llm_stats_free). */
struct llm_stats *cli_shared_snapshot(struct llm_engine *eng);
/* The shared-quota lines of a summary (nothing for NULL). */
void cli_print_shared(FILE *f, const struct llm_stats *snap);

/* Append one metrics JSON line to `f` (and flush), with a fresh snapshot of
 * `eng` (may be NULL: the last one). */
void cli_metrics_write(FILE *f, struct cli_stats *s, struct llm_engine *eng);

#endif /* LLMORCH_CLI_H */
