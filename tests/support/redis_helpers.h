/* A private redis-server for a test: started on a free 127.0.0.1 port and a
 * Unix socket in a temporary directory, with persistence off
 * (--save '' --appendonly no), stopped (or killed and restarted on the same
 * port) by the test. */
#ifndef LLM_TEST_REDIS_HELPERS_H
#define LLM_TEST_REDIS_HELPERS_H

#include <stdbool.h>
#include <sys/types.h>

struct test_redis {
    pid_t pid;                   /* 0 when not running */
    int port;
    char dir[128];               /* temporary directory (socket, log) */
    char sock[192];
    char password[64];           /* "" = none */
    char url[256];               /* redis://[:password@]127.0.0.1:port */
};

/* Whether redis-server can be run (on PATH).  Tests skip when not. */
bool test_redis_available(void);

/* Start a server (password may be NULL) on a free port; waits until it
 * answers PING.  Returns 0, or -1 (message on stderr). */
int test_redis_start(struct test_redis *r, const char *password);
/* Start again on the same port and socket (after a kill). */
int test_redis_restart(struct test_redis *r);
/* SIGKILL the server and reap it (the data is gone: no persistence). */
void test_redis_kill(struct test_redis *r);
/* Stop the server and remove its directory.  Safe on a stopped server. */
void test_redis_stop(struct test_redis *r);

/* Run one command synchronously (printf-style, hiredis format) and return
 * its integer reply, the length of a string/array reply, or -1 on error. */
long long test_redis_cmd(struct test_redis *r, const char *fmt, ...);

#endif
