/* clock.h - the monotonic clock, in the units callers count in, and the
 * wall clock in unix ms (what replicas and the state store agree on). */
#ifndef WRIT_UTIL_CLOCK_H
#define WRIT_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t wr_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int64_t wr_mono_ms(void) { return (int64_t)(wr_mono_ns() / 1000000u); }

static inline int64_t wr_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
