/* A count-min sketch with conservative update and periodic halving.
 *
 * depth rows of width 32-bit saturating counters; row i uses the i-th double
 * hash position. Conservative update (raise only the counters that hold the
 * minimum) cuts the overestimate of heavy hitters, which is what hot-key
 * detection and TinyLFU compare. Halving every `halve_every` additions makes
 * counts age. Counters are read and written with relaxed atomics: a race may
 * lose an increment (the sketch is an estimate) but never tears memory.
 */
#ifndef DC_SKETCH_H
#define DC_SKETCH_H

#include <stdint.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    uint32_t *counters; /* depth rows of width */
    uint64_t width;     /* a power of two */
    uint32_t depth;
    uint64_t total;       /* additions since the last halving (atomic) */
    uint64_t halve_every; /* 0 = never */
    uint64_t halvings;
    int halving; /* set by the one thread that halves; others skip */
} dc_sketch;

static inline int dc_sketch_init(dc_sketch *s, uint64_t width, uint32_t depth, uint64_t halve_every)
{
    s->width = width;
    s->depth = depth;
    s->total = 0;
    s->halve_every = halve_every;
    s->halvings = 0;
    s->halving = 0;
    s->counters = NULL;
    /* width * depth * 4 must not wrap: 2**62 counters of 4 bytes is 2**64
     * bytes, which wrapped to a tiny block that the first add overran. */
    if (width == 0 || depth == 0 || width > SIZE_MAX / sizeof(uint32_t) / depth)
        return -1;
    s->counters = (uint32_t *)calloc((size_t)(width * depth), sizeof(uint32_t));
    return s->counters ? 0 : -1;
}

static inline void dc_sketch_free(dc_sketch *s)
{
    free(s->counters);
    s->counters = NULL;
}

static inline uint32_t *dc_sketch_cell(const dc_sketch *s, uint64_t h, uint32_t row)
{
    uint64_t h1 = h & 0xffffffffu, h2 = (h >> 32) | 1u;
    return &s->counters[(uint64_t)row * s->width + ((h1 + (uint64_t)row * h2) & (s->width - 1))];
}

static inline uint32_t dc_sketch_estimate(const dc_sketch *s, uint64_t h)
{
    uint32_t est = UINT32_MAX;
    for (uint32_t i = 0; i < s->depth; i++) {
        uint32_t c = __atomic_load_n(dc_sketch_cell(s, h, i), __ATOMIC_RELAXED);
        if (c < est)
            est = c;
    }
    return est;
}

static inline void dc_sketch_halve(dc_sketch *s)
{
    for (uint64_t i = 0; i < s->width * s->depth; i++) {
        uint32_t c = __atomic_load_n(&s->counters[i], __ATOMIC_RELAXED);
        __atomic_store_n(&s->counters[i], c >> 1, __ATOMIC_RELAXED);
    }
    uint64_t t = __atomic_load_n(&s->total, __ATOMIC_RELAXED);
    __atomic_store_n(&s->total, t / 2, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->halvings, 1, __ATOMIC_RELAXED);
}

/* Adds `count` to the key; returns its estimate afterwards. */
static inline uint32_t dc_sketch_add(dc_sketch *s, uint64_t h, uint32_t count)
{
    uint32_t est = dc_sketch_estimate(s, h);
    uint32_t target = (UINT32_MAX - est < count) ? UINT32_MAX : est + count;
    for (uint32_t i = 0; i < s->depth; i++) {
        uint32_t *cell = dc_sketch_cell(s, h, i);
        if (__atomic_load_n(cell, __ATOMIC_RELAXED) < target)
            __atomic_store_n(cell, target, __ATOMIC_RELAXED);
    }
    uint64_t t = __atomic_add_fetch(&s->total, count, __ATOMIC_RELAXED);
    if (s->halve_every && t >= s->halve_every &&
        !__atomic_exchange_n(&s->halving, 1, __ATOMIC_ACQUIRE)) {
        dc_sketch_halve(s);
        __atomic_store_n(&s->halving, 0, __ATOMIC_RELEASE);
    }
    return dc_sketch_estimate(s, h);
}

static inline void dc_sketch_clear(dc_sketch *s)
{
    for (uint64_t i = 0; i < s->width * s->depth; i++)
        __atomic_store_n(&s->counters[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->total, 0, __ATOMIC_RELAXED);
}

#endif
