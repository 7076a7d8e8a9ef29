/* A line reader over a file descriptor that never holds more than one
 * bounded line in memory: an over-long line is skipped as it streams past
 * and reported as LINE_TOO_LONG.  On pipes it can poll, so the batch loop
 * keeps writing results while stdin is quiet. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)

int cli_line_reader_init(struct cli_line_reader *r, int fd, size_t max_line)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max_line = max_line;
    r->buf = malloc(READ_CHUNK);
    return r->buf != NULL ? 0 : -1;
}

void cli_line_reader_free(struct cli_line_reader *r)
{
    free(r->buf);
    free(r->line);
    r->buf = NULL;
    r->line = NULL;
}

static int append(struct cli_line_reader *r, const char *p, size_t n)
{
    if (r->line_len + n + 1 > r->line_cap) {
        size_t cap = r->line_cap ? r->line_cap : 256;
        while (cap < r->line_len + n + 1) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        char *nl = realloc(r->line, cap);
        if (nl == NULL)
            return -1;
        r->line = nl;
        r->line_cap = cap;
    }
    memcpy(r->line + r->line_len, p, n);
    r->line_len += n;
    return 0;
}

/* Wait for input on a non-regular descriptor.  Returns 1 when readable. */
static int ready(int fd, int timeout_ms)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return 1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    return n > 0 ? 1 : 0;
}

/* Hand out the assembled line. */
static enum cli_line_status finish(struct cli_line_reader *r, bool newline, char **line,
                                   size_t *len)
{
    r->line_no++;
    r->had_newline = newline;
    r->line_start = r->offset;
    r->offset += r->skipped_bytes + r->line_len + (newline ? 1 : 0);
    if (r->skipping && !r->keep_prefix) {
        r->skipping = false;
        r->skipped_bytes = 0;
        r->line_len = 0;
        return LINE_TOO_LONG;
    }
    bool too_long = r->skipping;
    r->skipping = false;
    r->skipped_bytes = 0;
    if (append(r, "", 0) != 0) {
        errno = ENOMEM;
        return LINE_ERROR;
    }
    r->line[r->line_len] = '\0';
    *line = r->line;
    *len = r->line_len;
    r->line_len = 0;
    return too_long ? LINE_TOO_LONG : LINE_OK;
}

enum cli_line_status cli_line_next(struct cli_line_reader *r, int timeout_ms, char **line,
                                   size_t *len)
{
    for (;;) {
        if (r->buf_pos < r->buf_len) {
            char *start = r->buf + r->buf_pos;
            size_t avail = r->buf_len - r->buf_pos;
            char *nl = memchr(start, '\n', avail);
            size_t take = nl ? (size_t)(nl - start) : avail;
            r->buf_pos += take + (nl ? 1 : 0);
            if (!r->skipping && r->max_line != 0 && r->line_len + take > r->max_line) {
                /* Past the bound: keep the first max_line bytes (keep_prefix)
                 * or forget what we have, and count the rest. */
                r->skipping = true;
                size_t head = 0;
                if (r->keep_prefix) {
                    head = r->max_line - r->line_len;
                } else {
                    r->skipped_bytes = r->line_len;
                    r->line_len = 0;
                }
                if (head > 0 && append(r, start, head) != 0) {
                    errno = ENOMEM;
                    return LINE_ERROR;
                }
                r->skipped_bytes += take - head;
            } else if (r->skipping) {
                r->skipped_bytes += take;
            } else if (append(r, start, take) != 0) {
                errno = ENOMEM;
                return LINE_ERROR;
            }
            if (nl)
                return finish(r, true, line, len);
            continue;
        }
        if (r->eof) {
            if (r->line_len > 0 || r->skipping)
                return finish(r, false, line, len);
            return LINE_EOF;
        }
        if (!ready(r->fd, timeout_ms))
            return LINE_AGAIN;
        ssize_t n = read(r->fd, r->buf, READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return LINE_AGAIN;
            return LINE_ERROR;
        }
        r->buf_pos = 0;
        r->buf_len = (size_t)n;
        if (n == 0)
            r->eof = true;
    }
}
