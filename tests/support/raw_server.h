/* A hostile HTTP server for tests: a plain socket on 127.0.0.1 (ephemeral
 * port) that reads each request and lets a test-supplied handler write
 * whatever bytes it likes (bad headers, redirects, silence, echoed keys).
 * One connection at a time, each closed after its handler returns. */
#ifndef LLM_TEST_RAW_SERVER_H
#define LLM_TEST_RAW_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct raw_server;

/* Called on the server thread for each request; `req` (headers and body,
 * NUL-terminated) is borrowed for the call.  Write the reply to `fd`. */
typedef void raw_handler_fn(struct raw_server *s, int fd, const char *req, size_t len);

struct raw_server {
    int lfd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int n_requests;
    raw_handler_fn *handler;
    void *user;
    char url[64]; /* "http://127.0.0.1:PORT/v1" */
};

/* Start listening (fails the test on error). */
void raw_server_start(struct raw_server *s, raw_handler_fn *handler, void *user);
/* Stop the thread and close the socket. */
void raw_server_stop(struct raw_server *s);

/* Write all of `len` bytes (best effort: the peer may have gone). */
void raw_write(int fd, const char *data, size_t len);
void raw_write_str(int fd, const char *s);
/* Hold the connection open, sending nothing, until the peer closes it or
 * the server stops. */
void raw_hold_silent(struct raw_server *s, int fd);

#endif
