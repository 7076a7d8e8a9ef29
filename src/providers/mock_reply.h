/* The mock provider's in-process replies, for the engine's local
 * transport.  Not installed. */
#ifndef LLMORCH_PROVIDERS_MOCK_REPLY_H
#define LLMORCH_PROVIDERS_MOCK_REPLY_H

#include <stdbool.h>

#include "llmorch/ext/provider.h"
#include "transport/transport.h"

/* If `p` is a mock provider (llm_provider_new_mock): true, with the reply
 * source the local transport calls and its context (owned by `p`, valid
 * while `p` lives).  False for any other provider. */
bool llm__mock_reply(const struct llm_provider *p, llm__local_reply_fn **reply,
                     const void **ctx);

#endif /* LLMORCH_PROVIDERS_MOCK_REPLY_H */
