/* See redis_helpers.h. */
#include "redis_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool test_redis_available(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char f[4200];
        snprintf(f, sizeof(f), "%s/redis-server", d);
        if (access(f, X_OK) == 0)
            return true;
    }
    return false;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static redisContext *connect_sync(struct test_redis *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (r->password[0]) {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        bool ok = rep && rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static int spawn(struct test_redis *r)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", r->port);
    char log[256];
    snprintf(log, sizeof(log), "%s/redis.log", r->dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Dies with the test, even one killed by a timeout. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        const char *argv[32];
        int k = 0;
        argv[k++] = "redis-server";
        argv[k++] = "--port";
        argv[k++] = port;
        argv[k++] = "--bind";
        argv[k++] = "127.0.0.1";
        argv[k++] = "--save";
        argv[k++] = "";
        argv[k++] = "--appendonly";
        argv[k++] = "no";
        argv[k++] = "--dir";
        argv[k++] = r->dir;
        argv[k++] = "--unixsocket";
        argv[k++] = r->sock;
        argv[k++] = "--unixsocketperm";
        argv[k++] = "700";
        argv[k++] = "--logfile";
        argv[k++] = log;
        if (r->password[0]) {
            argv[k++] = "--requirepass";
            argv[k++] = r->password;
        }
        argv[k] = NULL;
        execvp("redis-server", (char **)argv);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 200; i++) {
        redisContext *c = connect_sync(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            bool ok = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            fprintf(stderr, "redis-server exited at start (see %s)\n", log);
            return -1;
        }
        sleep_ms(25);
    }
    fprintf(stderr, "redis-server did not answer within 5 s\n");
    test_redis_kill(r);
    return -1;
}

int test_redis_start(struct test_redis *r, const char *password)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s/llmorch-redis.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
    snprintf(r->password, sizeof(r->password), "%s", password ? password : "");
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = free_port();
        if (r->port <= 0)
            return -1;
        if (r->password[0])
            snprintf(r->url, sizeof(r->url), "redis://:%s@127.0.0.1:%d", r->password, r->port);
        else
            snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
        if (spawn(r) == 0)
            return 0; /* else: the port was taken meanwhile; another */
    }
    return -1;
}

int test_redis_restart(struct test_redis *r)
{
    if (r->pid)
        return 0;
    unlink(r->sock);
    for (int attempt = 0; attempt < 40; attempt++) {
        if (spawn(r) == 0)
            return 0;
        sleep_ms(50); /* the old listener's port may linger briefly */
    }
    return -1;
}

void test_redis_kill(struct test_redis *r)
{
    if (!r->pid)
        return;
    kill(r->pid, SIGKILL);
    int st;
    while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR) {
    }
    r->pid = 0;
}

void test_redis_stop(struct test_redis *r)
{
    test_redis_kill(r);
    if (r->dir[0]) {
        char f[300];
        snprintf(f, sizeof(f), "%s/redis.log", r->dir);
        unlink(f);
        unlink(r->sock);
        rmdir(r->dir);
        r->dir[0] = '\0';
    }
}

long long test_redis_cmd(struct test_redis *r, const char *fmt, ...)
{
    redisContext *c = connect_sync(r);
    if (!c)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = -1;
    if (rep) {
        if (rep->type == REDIS_REPLY_INTEGER)
            v = rep->integer;
        else if (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS)
            v = (long long)rep->len;
        else if (rep->type == REDIS_REPLY_ARRAY)
            v = (long long)rep->elements;
        else if (rep->type == REDIS_REPLY_NIL)
            v = 0;
    }
    freeReplyObject(rep);
    redisFree(c);
    return v;
}
