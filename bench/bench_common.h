/* Helpers shared by the C benchmark clients in bench/: clocks, CPU and RSS
 * readings, the file-descriptor limit, and the request body exactly as the
 * OpenAI provider builds it.  Not part of the library. */
#ifndef LLMORCH_BENCH_COMMON_H
#define LLMORCH_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The prompt and model every overhead/peer client sends (bench/peer/
 * openai_node.mjs repeats them: keep them in step). */
#define BENCH_MODEL "gpt-4o-mini"
#define BENCH_PROMPT "Say hello in five words."
#define BENCH_MAX_TOKENS 16

/* Monotonic seconds. */
double bench_now_s(void);

/* This process's CPU time (every thread), user and system, in seconds. */
void bench_cpu_s(double *user_s, double *sys_s);

/* The calling thread's CPU time (user + sys), in seconds. */
double bench_thread_cpu_s(void);

/* VmRSS of this process in KiB (0 if unreadable). */
long bench_rss_kib(void);

/* Raise RLIMIT_NOFILE's soft limit to at least `want` (up to the hard
 * limit).  Returns the soft limit now in force. */
long bench_raise_nofile(long want);

/* Open sockets of this process (counted in /proc/self/fd). */
long bench_count_sockets(void);

/* Of those, the TCP ones (their inodes listed in /proc/self/net/tcp and
 * tcp6): connections, without the socketpairs libcurl makes per multi
 * handle.  -1 if unreadable. */
long bench_count_tcp_sockets(void);

/* The Chat Completions body the OpenAI provider sends for one user message
 * `prompt` with max_tokens `max_tokens` (and the stream fields when
 * `stream`), serialised the same way (cJSON, unformatted).  malloc'd. */
char *bench_openai_body(const char *model, const char *prompt, int max_tokens, bool stream);

/* Sort `us[0..n)` (latencies in µs) and print, as more fields of a JSON
 * object being written to stdout, ",\"lat_p50_us\":..,\"lat_p99_us\":..,
 * \"lat_mean_us\":..,\"lat_max_us\":..". */
void bench_print_latency(double *us, int n);

#endif
