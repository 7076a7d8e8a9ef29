/* Clocks, the one timestamp function, and calendar arithmetic.  See
 * clock.h. */
#include "base/clock.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* ---- clocks ------------------------------------------------------------------ */

static int64_t timespec_us(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000;
}

int64_t llm__now_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return timespec_us(&ts);
}

int64_t llm__now_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return timespec_us(&ts);
}

/* ---- timestamps --------------------------------------------------------------- */

static int64_t wall_offset_us;
static pthread_once_t wall_once = PTHREAD_ONCE_INIT;
static void wall_init(void) { wall_offset_us = llm__now_wall_us() - llm__now_mono_us(); }

/* One offset per process keeps every stamp ordered like the monotonic
 * clock, whatever steps the wall clock takes meanwhile. */
int64_t llm__stamp_at(int64_t mono_us)
{
    pthread_once(&wall_once, wall_init);
    return mono_us + wall_offset_us;
}

int64_t llm__stamp_now(void) { return llm__stamp_at(llm__now_mono_us()); }

/* ---- calendar ------------------------------------------------------------------ */

int64_t llm__days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ---- ISO-8601 -------------------------------------------------------------- */

/* Write `v` (non-negative) as exactly `width` decimal digits. */
static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

void llm__format_iso8601_us(int64_t wall_us, char out[32])
{
    /* Floor division so that times before 1970 still get a non-negative
     * fraction. */
    int64_t sec = wall_us / 1000000;
    int64_t frac = wall_us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        /* Outside what four-digit years express. */
        memcpy(out, "invalid-time", sizeof("invalid-time"));
        return;
    }
    /* By hand rather than snprintf: fixed widths, no locale, and no
     * truncation to reason about. */
    char *p = out;
    p = put_digits(p, (unsigned)(tm.tm_year + 1900), 4);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)frac, 6);
    *p++ = 'Z';
    *p = '\0';
}
