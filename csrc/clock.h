/* Monotonic seconds, the same clock as Python's time.monotonic() on Linux. */
#ifndef DC_CLOCK_H
#define DC_CLOCK_H

#include <time.h>

static inline double dc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
