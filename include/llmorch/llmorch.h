/* libllmorch: call LLM providers the way production services must.
 * Umbrella header: include this one (ext/ holds the headers for writing
 * providers, gates, backoff strategies and pipeline steps).
 *
 * ABI: the public structs callers allocate (options, requests, vtables)
 * only grow at their end, and zero is the default of every member, so
 * `{0}` stays valid.  Until 1.0 any minor release may grow them, so the
 * SONAME carries the minor (libllmorch.so.0.MINOR): a program never runs
 * against a library whose structs it does not know. */
#ifndef LLMORCH_H
#define LLMORCH_H

#include "version.h"
#include "common.h"
#include "error.h"
#include "request.h"
#include "result.h"
#include "mock.h"
#include "engine.h"
#include "stats.h"
#include "pricing.h"
#include "pipeline.h"

#endif /* LLMORCH_H */
