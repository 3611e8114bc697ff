/* A test-and-test-and-set spinlock for the shard and its friends.
 *
 * Critical sections are a probe and a list move (tens of ns) or one value
 * copy; an uncontended pthread mutex costs about as much as the probe itself,
 * this costs one exchange. A waiter yields the CPU after a short spin so that
 * a preempted holder on a 2-core machine gets to run.
 */
#ifndef DC_LOCK_H
#define DC_LOCK_H

#include <sched.h>

typedef struct {
    int held;
} dc_lock_t;

static inline void dc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int dc_trylock(dc_lock_t *l)
{
    return __atomic_load_n(&l->held, __ATOMIC_RELAXED) == 0 &&
           __atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE) == 0;
}

static inline void dc_lock(dc_lock_t *l)
{
    unsigned spins = 0;
    while (__atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&l->held, __ATOMIC_RELAXED)) {
            if (++spins < 64)
                dc_cpu_relax();
            else
                sched_yield();
        }
    }
}

static inline void dc_unlock(dc_lock_t *l)
{
    __atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
}

#endif
