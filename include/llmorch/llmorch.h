/* libllmorch: call LLM providers the way production services must.
 * Umbrella header: include this one. */
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
