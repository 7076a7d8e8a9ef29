/* Incremental decoder of AWS's binary event-stream framing
 * (`application/vnd.amazon.eventstream`, Bedrock's ConverseStream).  Each
 * message is
 *   [total length u32][headers length u32][prelude CRC32]
 *   [headers][payload][message CRC32]
 * big-endian; the prelude CRC covers the first 8 bytes, the message CRC
 * everything before it.  Both are checked.  A header is
 * [name length u8][name][value type u8][value] with value types 0-9
 * (bool true/false, byte, short, int, long, byte array, string,
 * timestamp, uuid); all are parsed (and bounds-checked), only the string
 * headers :message-type, :event-type, :exception-type, :error-code and
 * :error-message are used.
 *
 * Bytes go in as they arrive, split at any boundary; complete messages come
 * out through the SSE parser's callback type (transport/sse.h), so the
 * engine hands them to a provider's parse_stream_event like SSE events:
 *   - :message-type "event": `event` is the :event-type value
 *     ("contentBlockDelta"), `data` the payload;
 *   - "exception": `event` is "exception:" + :exception-type
 *     ("exception:throttlingException"), `data` the payload;
 *   - "error": `event` is "error:" + :error-code, `data` the :error-message.
 * A message without :message-type is taken as an event.  Memory is bounded
 * by max_message_bytes.  Not thread-safe: one decoder per stream. */
#ifndef LLMORCH_EVENTSTREAM_H
#define LLMORCH_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/sse.h"

/* Codes llm__es_feed returns besides 0 and the callback's own.  The first
 * two equal the SSE parser's so that one mapping serves both. */
#define LLM__ES_TOO_LARGE LLM__SSE_TOO_LARGE /* message over max_message_bytes */
#define LLM__ES_NOMEM LLM__SSE_NOMEM         /* buffer could not grow */
#define LLM__ES_CORRUPT (-3)                 /* bad CRC, length or header: LLM_ERR_PARSE */

/* Used when max_message_bytes is 0 (AWS caps a message at 16 MiB). */
#define LLM__ES_DEFAULT_MAX_MESSAGE_BYTES ((size_t)16 * 1024 * 1024 + 1024)

/* Smallest possible message: prelude and message CRC, no headers, no payload. */
#define LLM__ES_MIN_MESSAGE 16u

struct llm__es {
    unsigned char *buf;  /* the message being assembled */
    size_t cap;
    size_t len;          /* bytes of it received so far */
    size_t need;         /* its total length once the prelude is read, else 12 */
    size_t max_message_bytes;
    int status;          /* 0, or the code that stopped the decoder (sticky) */
    const char *detail;  /* why LLM__ES_CORRUPT (static string), else NULL */
};

void llm__es_init(struct llm__es *d, size_t max_message_bytes);

/* Feed the next `len` bytes; `cb` is called for each message they
 * complete.  Returns 0, the callback's non-zero return, LLM__ES_TOO_LARGE,
 * LLM__ES_NOMEM or LLM__ES_CORRUPT; after a non-zero return the decoder is
 * stopped and every later feed returns the same code.  The callback MUST
 * NOT call back into the same decoder. */
int llm__es_feed(struct llm__es *d, const void *buf, size_t len, llm__sse_event_fn *cb,
                 void *user);

/* True if no partial message is pending (a stream that ends otherwise was
 * cut short). */
bool llm__es_idle(const struct llm__es *d);

void llm__es_free(struct llm__es *d);

/* CRC-32 (IEEE 802.3, the one event-stream uses) of data[0..len),
 * continuing from `crc` (start with 0).  Hand-written: no approved
 * dependency exposes it (libcrypto has none; zlib is not ours to link). */
uint32_t llm__crc32(uint32_t crc, const void *data, size_t len);

#endif /* LLMORCH_EVENTSTREAM_H */
