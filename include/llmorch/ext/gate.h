/* Writing or configuring an admission gate: the strategy that answers
 * "admit this request now, or not before time T" for one rate limit
 * (requests per minute, tokens per minute, requests per day, ...).
 *
 * A gate is small and pure: it never sleeps, starts no thread and does no
 * I/O.  Time is passed in by the caller (`now_ms`, milliseconds on a
 * monotonic clock of the caller's choosing, never negative), so a gate runs
 * the same on the engine's clock as on a test's fake clock.
 *
 * Threading: a gate is NOT thread-safe and needs no lock.  The engine calls
 * every slot of its gates from its one event-loop thread; a host that drives
 * a gate itself MUST likewise call it from one thread at a time.
 *
 * Time MUST NOT go backwards between calls to one gate; if it does, the gate
 * treats `now_ms` as the latest time it has seen (so an earlier clock reading
 * can never admit more than a later one would). */
#ifndef LLMORCH_EXT_GATE_H
#define LLMORCH_EXT_GATE_H

#include "../common.h"
#include "../error.h"

LLM_BEGIN_DECLS

/* An admission gate.  Opaque: create with a factory (or llm_gate_new() for
 * your own strategy), call through the llm_gate_* wrappers, free with
 * llm_gate_free() unless ownership was transferred to an engine. */
struct llm_gate;

/* Every slot's contract.  `impl` is the pointer given to llm_gate_new().
 * Only `try_acquire` is required; llm_gate_new() replaces NULL optional
 * slots with no-ops, so the wrappers never test for NULL. */
struct llm_gate_vtable {
    /* Admit `amount` units (>= 0) at `now_ms`, or refuse.
     * Returns 0 when admitted: the amount is debited and *ticket receives a
     * handle for a later `adjust` (any value; it is only handed back).
     * Returns T > 0 when refused: nothing is debited, *ticket is untouched,
     * and T is the earliest absolute time (ms, same clock as now_ms, T >
     * now_ms) at which this amount could be admitted if nothing else is
     * admitted meanwhile.  T is a hint, not a reservation: the caller asks
     * again at T.  MUST admit an amount larger than the whole limit
     * eventually (rather than refuse it forever).  `ticket` is never NULL. */
    int64_t (*try_acquire)(void *impl, int64_t now_ms, int64_t amount, int64_t *ticket);

    /* Optional.  Correct the amount debited under `ticket` to
     * `actual_amount` (>= 0): a refund if smaller, an extra charge if
     * larger (TPM reconciliation once the response's usage is known).
     * MUST be harmless for a ticket whose entry has aged out of the window
     * or that was never issued. */
    void (*adjust)(void *impl, int64_t ticket, int64_t actual_amount, int64_t now_ms);

    /* Optional.  Change the limit (> 0) and, when `window_ms` > 0, the
     * window length; values <= 0 leave the respective setting unchanged.
     * Called when a server announces its real limits. */
    void (*set_limit)(void *impl, int64_t limit, int64_t window_ms);

    /* Optional.  Admit nothing before `until_ms` (a server-directed
     * cooldown).  An earlier time than a block already in force is
     * ignored: blocks only ever extend. */
    void (*block_until)(void *impl, int64_t until_ms);

    /* Optional.  Units debited within the window ending at `now_ms` and the
     * current limit, for statistics; neither pointer is NULL.  The default
     * reports 0 and 0. */
    void (*usage)(void *impl, int64_t now_ms, int64_t *used, int64_t *limit);

    /* Optional.  Free `impl`.  Called once, by llm_gate_free(). */
    void (*destroy)(void *impl);
};

/* Wrap your own strategy in a gate.  `vt` is copied (it may live on the
 * stack); `vt->try_acquire` MUST be set.  `name` ("rpm") is copied; NULL
 * gives "gate".  Ownership of `impl` passes to the gate on LLM_OK only
 * (vt->destroy frees it in llm_gate_free()); on error *out is NULL and
 * `impl` still belongs to the caller.  Returns LLM_OK,
 * LLM_ERR_INVALID_ARGUMENT (NULL `vt`, `try_acquire` or `out`) or
 * LLM_ERR_OUT_OF_MEMORY.  Any thread. */
LLM_API enum llm_error llm_gate_new(const struct llm_gate_vtable *vt, void *impl,
                                    const char *name, struct llm_gate **out);

/* Bounds that keep the sliding-window gate's sums free of overflow:
 * amounts (and adjusted amounts) above LLM_GATE_MAX_AMOUNT (2^40, about
 * 1.1e12) count as LLM_GATE_MAX_AMOUNT, limits above LLM_GATE_MAX_LIMIT
 * (2^62) as LLM_GATE_MAX_LIMIT, and at most LLM_GATE_MAX_ENTRIES (2^22)
 * admissions are held, so a window's total never exceeds 2^62. */
#define LLM_GATE_MAX_AMOUNT ((int64_t)1 << 40)
#define LLM_GATE_MAX_LIMIT ((int64_t)1 << 62)
#define LLM_GATE_MAX_ENTRIES ((size_t)1 << 22)

/* Options of the sliding-window gate.  Zero means default, except `limit`,
 * which has none and MUST be > 0.  Strings are copied. */
struct llm_window_gate_options {
    /* Short name for logs and stats ("rpm", "tpm", "rpd"); NULL = "window". */
    const char *name;

    /* Units admitted per window: requests, tokens, ...  Required, > 0.
     * A per-minute rate that does not divide evenly into the window
     * (0.5 rpm) is best expressed with a longer window (limit 1 per
     * 120000 ms) rather than rounded up, which would overshoot. */
    int64_t limit;

    /* Window length in ms; default 60000. */
    int64_t window_ms;

    /* Most admissions remembered at once (each costs 16 bytes); default
     * 262144 (4 MiB at most), larger values are reduced to
     * LLM_GATE_MAX_ENTRIES.  When the log is full the gate refuses until its
     * oldest entry ages out, so memory stays bounded and the limit is never
     * exceeded; only a gate admitting more than this many requests per
     * window needs a larger value. */
    size_t max_entries;
};

/* A gate that never admits more than `limit` units within any window of
 * `window_ms` milliseconds: at time now it admits `amount` iff the units
 * admitted at times t with now - window_ms < t <= now, plus `amount`, do
 * not exceed the limit.  This is exact (an exact log of admissions, not
 * approximate buckets), so a server enforcing the same sliding window sees
 * no excess from this client.  Refusals answer with the exact earliest time
 * at which the amount would fit.
 *
 * An amount larger than the whole limit is admitted when the window holds
 * nothing (nothing debited within the last window_ms) and no block is in
 * force; it then occupies the window alone until it ages out.  So a huge
 * request waits, but never starves.  A negative amount counts as 0; an
 * amount of 0 is admitted unless blocked, the window is already over its
 * limit, or the log is full, and it still gets a ticket, so an estimate of
 * 0 can be corrected later.  When the log is full (max_entries) or cannot
 * grow for lack of memory, the gate refuses with T = the time its oldest
 * entry ages out: it never admits what it cannot record.
 *
 * adjust() books the correction at the time of the original admission
 * (when the server counted the request), so an extra charge can push the
 * window over its limit; later admissions then wait until it drains.
 * Tickets are sequence numbers from 1 (0 is never a live ticket): a ticket whose entry has aged out, or one
 * never issued, is ignored.
 *
 * set_limit() applies from the next call.  Lowering the limit below what
 * the window holds admits nothing until enough ages out; raising it admits
 * more at once.  Growing window_ms cannot recall admissions already
 * forgotten (older than the previous window), so for one window after
 * the change the gate may count less than the new window holds.
 *
 * Memory: 16 bytes per admission still inside the window, never more
 * than 16 * max_entries (a ring buffer that doubles as needed up to
 * max_entries, is pruned as entries age out and halves when mostly empty);
 * every slot runs in amortised O(1) except try_acquire's refusal,
 * which walks the log (O(entries in the window)) to find T.
 *
 * Returns LLM_OK and sets *out, or LLM_ERR_INVALID_ARGUMENT (NULL `o` or
 * `out`, limit <= 0, window_ms negative) or
 * LLM_ERR_OUT_OF_MEMORY, with *out NULL.  Any thread; the gate itself is
 * then used from one thread at a time. */
LLM_API enum llm_error llm_gate_new_sliding_window(const struct llm_window_gate_options *o,
                                                   struct llm_gate **out);

/* The gate's name as given at creation (borrowed; valid until the gate is
 * freed).  Never NULL for a non-NULL gate. */
LLM_API const char *llm_gate_name(const struct llm_gate *g);

/* Wrappers over the vtable; see struct llm_gate_vtable for each contract.
 * `ticket` may be NULL if the caller does not need one.  A NULL gate admits
 * everything (try_acquire returns 0 with ticket 0) and ignores the other
 * calls.  Same thread rule as the gate: one thread at a time. */
LLM_API int64_t llm_gate_try_acquire(struct llm_gate *g, int64_t now_ms, int64_t amount,
                                     int64_t *ticket);
LLM_API void llm_gate_adjust(struct llm_gate *g, int64_t ticket, int64_t actual_amount,
                             int64_t now_ms);
LLM_API void llm_gate_set_limit(struct llm_gate *g, int64_t limit, int64_t window_ms);
LLM_API void llm_gate_block_until(struct llm_gate *g, int64_t until_ms);
/* `used` and `limit` may each be NULL.  A NULL gate reports 0 and 0. */
LLM_API void llm_gate_usage(struct llm_gate *g, int64_t now_ms, int64_t *used, int64_t *limit);

/* Free a gate (calling its destroy slot).  NULL-safe. */
LLM_API void llm_gate_free(struct llm_gate *g);

LLM_END_DECLS

#endif /* LLMORCH_EXT_GATE_H */
