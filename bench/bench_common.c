/* See bench_common.h. */
#include "bench_common.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_cpu_s(double *user_s, double *sys_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double bench_thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

long bench_rss_kib(void)
{
    /* statm is one short line (pages), cheaper to read than status. */
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    long size = 0, resident = 0;
    int n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    if (n != 2)
        return 0;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long bench_raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if ((long)rl.rlim_cur < want) {
        rlim_t target = (rlim_t)want;
        if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
            target = rl.rlim_max;
        rl.rlim_cur = target;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

long bench_count_sockets(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *de;
    char path[300], target[64];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len > 7 && memcmp(target, "socket:", 7) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int cmp_ulong(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return (x > y) - (x < y);
}

/* Append the inode column of /proc/self/net/FILE to *v (sorted later). */
static void tcp_inodes(const char *file, unsigned long **v, size_t *n, size_t *cap)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/self/net/%s", file);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(line, sizeof(line), f)) { /* header */
        fclose(f);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long inode = 0;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu", &inode) != 1)
            continue;
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 1024;
            unsigned long *nv = realloc(*v, ncap * sizeof(*nv));
            if (!nv)
                break;
            *v = nv;
            *cap = ncap;
        }
        (*v)[(*n)++] = inode;
    }
    fclose(f);
}

long bench_count_tcp_sockets(void)
{
    unsigned long *v = NULL;
    size_t n = 0, cap = 0;
    tcp_inodes("tcp", &v, &n, &cap);
    tcp_inodes("tcp6", &v, &n, &cap);
    if (n == 0) {
        free(v);
        return -1;
    }
    qsort(v, n, sizeof(*v), cmp_ulong);
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        free(v);
        return -1;
    }
    long count = 0;
    struct dirent *de;
    char path[300], target[64];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len <= 8 || memcmp(target, "socket:[", 8) != 0)
            continue;
        target[len] = '\0';
        unsigned long inode = strtoul(target + 8, NULL, 10);
        if (bsearch(&inode, v, n, sizeof(*v), cmp_ulong))
            count++;
    }
    closedir(d);
    free(v);
    return count;
}

char *bench_openai_body(const char *model, const char *prompt, int max_tokens, bool stream)
{
    /* Field order and types follow src/providers/openai.c build_body(). */
    cJSON *body = cJSON_CreateObject();
    cJSON *messages = NULL;
    char *out = NULL;
    if (!body || !cJSON_AddStringToObject(body, "model", model))
        goto done;
    messages = cJSON_AddArrayToObject(body, "messages");
    cJSON *m = cJSON_CreateObject();
    if (!messages || !m) {
        cJSON_Delete(m);
        goto done;
    }
    cJSON_AddItemToArray(messages, m);
    if (!cJSON_AddStringToObject(m, "role", "user") ||
        !cJSON_AddStringToObject(m, "content", prompt))
        goto done;
    if (max_tokens > 0 && !cJSON_AddNumberToObject(body, "max_tokens", max_tokens))
        goto done;
    if (stream) {
        cJSON *so;
        if (!cJSON_AddTrueToObject(body, "stream") ||
            !(so = cJSON_AddObjectToObject(body, "stream_options")) ||
            !cJSON_AddTrueToObject(so, "include_usage"))
            goto done;
    }
    out = cJSON_PrintUnformatted(body);
done:
    cJSON_Delete(body);
    return out;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_print_latency(double *us, int n)
{
    if (n <= 0)
        return;
    qsort(us, (size_t)n, sizeof(*us), cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += us[i];
    /* Nearest rank. */
    int i50 = (int)((n * 50 + 99) / 100) - 1, i99 = (int)((n * 99 + 99) / 100) - 1;
    printf(",\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_mean_us\":%.1f,\"lat_max_us\":%.1f",
           us[i50 < 0 ? 0 : i50], us[i99 < 0 ? 0 : i99], sum / n, us[n - 1]);
}
