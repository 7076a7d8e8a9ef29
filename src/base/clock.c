/* Clocks, the one timestamp function, and calendar arithmetic.  See
 * clock.h. */
#include "base/clock.h"

#include <stdatomic.h>
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

/* The offset (clock.h), set once: the first writer wins; 0 = not yet.  An
 * atomic load in an inline function instead of pthread_once in a call: a
 * request takes about nine stamps, at ~19 instructions each before
 * (callgrind), ~4 now. */
_Atomic int64_t llm__wall_offset_us;

int64_t llm__stamp_init(void)
{
    int64_t mine = llm__now_wall_us() - llm__now_mono_us();
    if (mine == 0)
        mine = 1; /* 0 means unset; a microsecond off is nothing */
    int64_t seen = 0;
    return atomic_compare_exchange_strong(&llm__wall_offset_us, &seen, mine) ? mine : seen;
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
