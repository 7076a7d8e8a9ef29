/* Response headers while they arrive: raw header lines in, a borrowed
 * struct llm_http_headers view out.  One allocation holds every
 * "name\0value\0" pair; lines past the bounds are skipped, not kept.  No
 * curl here (the curl transport feeds it from its header callback).  Loop
 * thread only.  Not installed. */
#ifndef LLMORCH_TRANSPORT_HEADERS_H
#define LLMORCH_TRANSPORT_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "llmorch/ext/provider.h"

/* A header while it is collected: offsets into `buf`. */
struct llm__hdr_ref {
    uint32_t name;
    uint32_t value;
};

/* Zero-initialised means empty. */
struct llm__hdr_list {
    struct llm__buf buf;             /* "name\0value\0" pairs */
    struct llm__hdr_ref *refs;
    struct llm_header *view;         /* built from refs by llm__hdr_list_view */
    size_t n, cap;
    size_t bytes;                    /* raw bytes of the lines kept */
    bool view_ok;                    /* view holds the n headers as they are */
};

/* Forget the headers (a new response starts); memory is kept. */
void llm__hdr_list_reset(struct llm__hdr_list *l);

/* Keep one raw header line ("Name: value\r\n") if it has a colon and the
 * list stays within `max_headers` headers and `max_bytes` raw bytes; other
 * lines are skipped.  False only when memory ran out. */
bool llm__hdr_list_add_line(struct llm__hdr_list *l, const char *line, size_t len,
                            size_t max_headers, size_t max_bytes);

/* The headers kept, as a view valid until the next add, reset or free.
 * False (and an empty view) when memory ran out. */
bool llm__hdr_list_view(struct llm__hdr_list *l, struct llm_http_headers *out);

/* Reset, and give back memory above `keep_bytes` of pairs or 64 headers
 * (for a list pooled with its transfer). */
void llm__hdr_list_trim(struct llm__hdr_list *l, size_t keep_bytes);

void llm__hdr_list_free(struct llm__hdr_list *l);

/* One walk for a family of response headers named prefix + suffixes[j]
 * (ASCII case-insensitive): values[j] = the value of the first header of
 * that name, as llm_http_headers_get would return it, or NULL.  The
 * rate-limit readers want six or twelve such headers; one lookup each
 * walked every header six or twelve times.  `values` has n slots. */
void llm__http_headers_get_family(const struct llm_http_headers *h, const char *prefix,
                                  const char *const *suffixes, size_t n, const char **values);

/* llm_http_request_add_header for a name and value the caller has already
 * checked (name non-empty, neither holding CR or LF) and measured: a
 * provider's constant "Content-Type: application/json" skips the scans
 * (~60 instructions a string).  Both are copied, as by the public call. */
enum llm_error llm__http_request_add_header_n(struct llm_http_request *req, const char *name,
                                              size_t name_len, const char *value,
                                              size_t value_len);

/* Add a header whose name and value are string literals without CR or LF. */
#define llm__http_request_add_header_lit(req, name, value)                                \
    llm__http_request_add_header_n((req), "" name, sizeof(name) - 1, "" value,            \
                                   sizeof(value) - 1)

/* Drop every header of `req` named name[0..name_len) (ASCII
 * case-insensitive), freeing it.  (A request's headers, not a response's:
 * here beside the other header helpers.) */
void llm__http_request_remove_header(struct llm_http_request *req, const char *name,
                                     size_t name_len);

#endif /* LLMORCH_TRANSPORT_HEADERS_H */
