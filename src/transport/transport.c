/* The transport wrappers: every transfer goes through these, whichever
 * implementation answers it.  See transport.h. */
#include "transport/transport.h"

#include <stdlib.h>

enum llm_error llm__transport_start(struct llm__transport *t, struct llm_http_request *req,
                                    const struct llm__xfer_opts *o,
                                    const struct llm__xfer_cbs *cbs, void *user,
                                    struct llm__xfer **out)
{
    return t->vt->start(t->impl, req, o, cbs, user, out);
}

void llm__transport_cancel(struct llm__transport *t, struct llm__xfer *x)
{
    t->vt->cancel(t->impl, x);
}

void llm__transport_fail(struct llm__transport *t, struct llm__xfer *x, enum llm_error err,
                         const char *message)
{
    t->vt->fail(x, err, message);
}

void llm__transport_progress(struct llm__transport *t, const struct llm__xfer *x, int *status,
                             uint64_t *sent, uint64_t *recv)
{
    *status = 0;
    *sent = *recv = 0;
    if (t->vt->progress)
        t->vt->progress(t->impl, x, status, sent, recv);
}

void llm__transport_free(struct llm__transport *t)
{
    if (!t)
        return;
    t->vt->destroy(t->impl);
    free(t);
}
