/* clock.h - the monotonic clock, in the units callers count in. */
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

#endif
