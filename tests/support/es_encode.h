/* Build AWS event-stream messages for tests (Bedrock ConverseStream). */
#ifndef LLM_TEST_ES_ENCODE_H
#define LLM_TEST_ES_ENCODE_H

#include <stddef.h>

/* Append to out[*len..cap) one message whose string headers are the
 * NULL-terminated name/value pairs `hdrs`, then `payload`.  Fails the test
 * if it does not fit. */
void es_encode(unsigned char *out, size_t cap, size_t *len, const char *const *hdrs,
               const char *payload);

/* An event message (:message-type event, :event-type type,
 * :content-type application/json) carrying `json`. */
void es_event(unsigned char *out, size_t cap, size_t *len, const char *type, const char *json);

/* An exception message (:message-type exception, :exception-type type). */
void es_exception(unsigned char *out, size_t cap, size_t *len, const char *type,
                  const char *json);

#endif
