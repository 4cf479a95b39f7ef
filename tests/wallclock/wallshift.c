/*
 * Moves the machine's wall clock (CLOCK_REALTIME) by $TAPCARD_WALL_SHIFT_S seconds for a
 * process and every process it starts, and leaves the monotonic clock and every timed wait
 * alone. scripts/date-check preloads it to run the tests on days far apart.
 *
 * Why not libfaketime: it moves CLOCK_MONOTONIC too, and Python's timed lock waits (a
 * monotonic deadline handed to the kernel) then wait for the whole shift; with
 * FAKETIME_DONT_FAKE_MONOTONIC its clock_nanosleep fails with EINVAL (0.9.10).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long shift_s(void) {
    static long long shift;
    static int read;
    if (!read) {
        const char *text = getenv("TAPCARD_WALL_SHIFT_S");
        shift = text ? atoll(text) : 0;
        read = 1;
    }
    return shift;
}

static int is_wall(clockid_t id) {
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && is_wall(id)) ts->tv_sec += shift_s();
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    static int (*real)(struct timeval *restrict, void *restrict);
    if (!real) real = (int (*)(struct timeval *restrict, void *restrict))dlsym(RTLD_NEXT, "gettimeofday");
    int rc = real(tv, tz);
    if (rc == 0) tv->tv_sec += shift_s();
    return rc;
}

time_t time(time_t *out) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (out) *out = now.tv_sec;
    return now.tv_sec;
}
