/* Memory of a hostile stream (issue 10 #1): a server on 127.0.0.1 streams
 * MiB mebibytes (default 200) of small, valid OpenAI deltas; the engine
 * runs with its defaults (max_response_bytes 16 MiB).  Prints the verdict,
 * the content kept, the bytes read and the peak RSS; exits 1 if the
 * request did not fail with RESPONSE_TOO_LARGE or the peak RSS reached
 * 64 MiB.  Not a test (it moves hundreds of MiB); run by hand:
 *
 *     build/dev/bench/bench_stream_cap_rss [MiB]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llmorch/llmorch.h"

#define DELTA                                                                                 \
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","   \
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"0123456789abcdef\"},"                \
    "\"finish_reason\":null}]}\n\n"

struct server {
    int lfd;
    size_t total;       /* bytes of events to send */
    size_t sent;
};

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *serve(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char req[65536];
    if (recv(fd, req, sizeof(req), 0) <= 0) {
        close(fd);
        return NULL;
    }
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    /* One chunk of many events, sent again and again. */
    size_t dl = strlen(DELTA), per = 4096, blen = dl * per;
    char *chunk = malloc(blen + 32);
    int hl = snprintf(chunk, 32, "%zx\r\n", blen);
    for (size_t i = 0; i < per; i++)
        memcpy(chunk + hl + i * dl, DELTA, dl);
    memcpy(chunk + hl + blen, "\r\n", 2);
    if (send_all(fd, head, sizeof(head) - 1) == 0) {
        while (s->sent < s->total && send_all(fd, chunk, (size_t)hl + blen + 2) == 0)
            s->sent += blen;
        if (s->sent >= s->total) {
            static const char tail[] = "1a\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
            send_all(fd, tail, sizeof(tail) - 1);
        }
    }
    free(chunk);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
    struct server s = {.total = mib * 1024 * 1024};
    s.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(s.lfd, (struct sockaddr *)&a, &al) != 0 || listen(s.lfd, 1) != 0) {
        perror("listen");
        return 2;
    }
    pthread_t th;
    pthread_create(&th, NULL, serve, &s);

    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    struct llm_engine_options o = {0};
    o.provider = "openai";
    o.base_url = url;
    o.api_key = "";
    o.max_attempts = 1;
    struct llm_engine *e = NULL;
    if (llm_engine_new(&o, &e) != LLM_OK)
        return 2;
    struct llm_message m = {.role = "user", .content = "stream a lot"};
    struct llm_request r = {.model = "gpt-4o-mini", .messages = &m, .n_messages = 1,
                            .stream = true};
    struct llm_result *res = llm_generate(e, &r);
    llm_engine_free(e);
    pthread_join(th, NULL);
    close(s.lfd);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mib = (double)ru.ru_maxrss / 1024.0;
    printf("stream of %zu MiB of deltas: %s, content returned %zu bytes, %llu bytes read, "
           "server sent %zu MiB, peak RSS %.1f MiB\n",
           mib, res->success ? "success" : llm_error_name(res->error.type), res->content_len,
           res->n_attempts > 0 ? (unsigned long long)res->attempts[0].bytes_received : 0ULL,
           s.sent >> 20, rss_mib);
    int bad = res->success || res->error.type != LLM_ERR_RESPONSE_TOO_LARGE || rss_mib >= 64.0;
    llm_result_free(res);
    return bad;
}
