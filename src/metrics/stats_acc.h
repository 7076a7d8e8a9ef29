/* The statistics accumulator behind llm_engine_stats() (internal).
 *
 * The engine creates one, books every finished result into it and builds
 * snapshots from it.  Every function here is thread-safe: a mutex inside
 * (stats_lock) guards all the counters, so a host thread may snapshot while
 * the engine thread records.  Recording does no allocation except the first
 * time a model name is seen. */
#ifndef LLMORCH_METRICS_STATS_ACC_H
#define LLMORCH_METRICS_STATS_ACC_H

#include <stdint.h>

#include "llmorch/result.h"
#include "llmorch/stats.h"

struct llm__stats_acc;

/* Most distinct model names kept apart; later ones go to "other". */
#define LLM__STATS_MAX_MODELS 256

/* Create an accumulator.  `provider` is copied (NULL allowed); `window_ms`
 * is the sliding window for the per-window counts (<= 0: 60000, 1-second
 * buckets; see metrics/window.h for its accuracy); `now_ms` (monotonic ms,
 * the clock every later call uses) starts the uptime.  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT (NULL out) or LLM_ERR_OUT_OF_MEMORY (*out NULL). */
enum llm_error llm__stats_acc_new(const char *provider, int64_t window_ms, int64_t now_ms,
                                  struct llm__stats_acc **out);

/* NULL-safe.  No other call may be in progress or follow. */
void llm__stats_acc_free(struct llm__stats_acc *acc);

/* Count `n` accepted submissions (requests_submitted): the engine books a
 * batch of commands at once, one lock for all.  NULL-safe. */
void llm__stats_acc_note_submitted(struct llm__stats_acc *acc, uint64_t n);

/* Book a finished result at `now_ms`: outcome and failure type, retries
 * (n_attempts - 1), 429s (attempts with HTTP 429 or RATE_LIMITED), usage,
 * cost, the windows, the latency histograms (from r->timestamps:
 * REQUESTED to COMPLETED, FIRST_BYTE and FIRST_TOKEN; a latency whose
 * timestamps are missing or out of order is not recorded) and the model's
 * totals (r->model, "unknown" if NULL).  `r` is borrowed for the call.
 * NULL-safe (either argument). */
void llm__stats_acc_record_result(struct llm__stats_acc *acc, const struct llm_result *r,
                                  int64_t now_ms);

/* Build a snapshot at `now_ms`.  The gauges (in_flight, queue_depth, gates)
 * are left 0/empty for the engine to fill in: set the fields and add gates
 * with llm__stats_add_gate().  Returns LLM_OK and *out (free with
 * llm_stats_free()), LLM_ERR_INVALID_ARGUMENT or LLM_ERR_OUT_OF_MEMORY with
 * *out NULL. */
enum llm_error llm__stats_acc_snapshot(struct llm__stats_acc *acc, int64_t now_ms,
                                       struct llm_stats **out);

/* Append a gate to a snapshot being built (name copied).  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT or LLM_ERR_OUT_OF_MEMORY (s unchanged). */
enum llm_error llm__stats_add_gate(struct llm_stats *s, const char *name, int64_t waiting,
                                   int64_t used, int64_t limit);

#endif /* LLMORCH_METRICS_STATS_ACC_H */
