/* See raw_server.h. */
#include "raw_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST_BYTES (1024 * 1024)

void raw_write(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

void raw_write_str(int fd, const char *s) { raw_write(fd, s, strlen(s)); }

void raw_hold_silent(struct raw_server *s, int fd)
{
    char buf[512];
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, 50);
        if (rc < 0 && errno != EINTR)
            return;
        if (rc > 0 && recv(fd, buf, sizeof(buf), 0) <= 0)
            return; /* the client closed (or reset) the connection */
    }
}

/* Read one request: headers, then Content-Length bytes of body.  Returns a
 * malloc'd NUL-terminated copy, or NULL if the client went away. */
static char *read_request(struct raw_server *s, int fd, size_t *len_out)
{
    char *buf = malloc(MAX_REQUEST_BYTES + 1);
    size_t len = 0;
    size_t want = 0; /* total once the headers are in */
    while (buf && len < MAX_REQUEST_BYTES && !atomic_load(&s->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, 50);
        if (rc == 0 || (rc < 0 && errno == EINTR))
            continue;
        ssize_t n = recv(fd, buf + len, MAX_REQUEST_BYTES - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (!want) {
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            size_t cl = 0;
            for (char *h = buf; h && h < end; h = strstr(h, "\r\n")) {
                if (*h == '\r')
                    h += 2;
                if (strncasecmp(h, "content-length:", 15) == 0)
                    cl = strtoul(h + 15, NULL, 10);
            }
            want = (size_t)(end + 4 - buf) + cl;
        }
        if (len >= want) {
            *len_out = len;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

static void *serve(void *arg)
{
    struct raw_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        size_t len = 0;
        char *req = read_request(s, fd, &len);
        if (req) {
            atomic_fetch_add(&s->n_requests, 1);
            s->handler(s, fd, req, len);
        }
        free(req);
        close(fd);
    }
    return NULL;
}

void raw_server_start(struct raw_server *s, raw_handler_fn *handler, void *user)
{
    memset(s, 0, sizeof(*s));
    s->handler = handler;
    s->user = user;
    atomic_init(&s->stop, false);
    atomic_init(&s->n_requests, 0);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d/v1", s->port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

void raw_server_stop(struct raw_server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->lfd);
}
