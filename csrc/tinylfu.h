/* TinyLFU: the frequency estimate behind admission and hot-key detection.
 *
 * A doorkeeper bloom filter absorbs each key's first sighting in a sample
 * period; later sightings go to a count-min sketch of 8-bit saturating
 * counters. After `sample` recorded accesses every counter is halved and the
 * doorkeeper cleared, so estimates follow the recent past (Einziger, Friedman
 * & Manes, "TinyLFU", 2017).
 *
 * Both structures are cache-line blocked so that recording an access touches
 * two cache lines, whatever the depth: a key's 4 counters (one per row) sit
 * in one 64-byte block, and its 3 doorkeeper bits in one 64-bit word. A
 * textbook layout (4 rows far apart, k bits spread over the filter) costs
 * 4 + k cache misses per get in a large cache.
 *
 * Counters are read and written with relaxed atomics: a race may lose an
 * increment, which an estimate tolerates; memory is never torn.
 * docs/internals.md gives the exact positions; distcache/_pycore.py
 * computes the same ones.
 */
#ifndef DC_TINYLFU_H
#define DC_TINYLFU_H

#include <stdint.h>
#include <stdlib.h>

#include "fnv.h"

typedef struct {
    uint8_t *blocks;  /* nblocks * 64 counters: row r of a key is bytes 16r..16r+15 */
    uint64_t *door;   /* doorkeeper words */
    uint64_t nblocks; /* power of two */
    uint64_t nwords;  /* power of two */
    uint64_t sample;  /* recorded accesses between halvings */
    uint64_t additions;
    uint64_t halvings;
    int halving; /* set by the one thread that halves */
} dc_tinylfu;

/* The 64-bit frequency hash of a key, from the FNV-1a the shard needs anyway
 * (a second pass over the key would cost as much as the first). */
static inline uint64_t dc_freq_hash(uint32_t fnv, uint32_t klen)
{
    return dc_fmix64(((uint64_t)klen << 32) | fnv);
}

static inline uint64_t dc_pow2_at_least(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* Sized for about `entries` keys (rounded up to a power of two): 8 bytes of
 * counters per key, i.e. two counters per key in each row, as Caffeine's
 * sketch. The doorkeeper sees every distinct key of a sample period (10x
 * entries accesses), so it gets 8 bits per access of the period: sized per
 * entry instead, it was over half full and let ~14% of first sightings
 * through as repeats. */
static inline int dc_tinylfu_init(dc_tinylfu *t, uint64_t entries)
{
    if (entries < 64)
        entries = 64;
    t->nblocks = dc_pow2_at_least(entries) / 8;
    t->sample = 10 * entries;
    t->nwords = dc_pow2_at_least(t->sample) / 8;
    t->additions = 0;
    t->halvings = 0;
    t->halving = 0;
    t->blocks = (uint8_t *)aligned_alloc(64, t->nblocks * 64);
    t->door = (uint64_t *)calloc(t->nwords, sizeof(uint64_t));
    if (!t->blocks || !t->door) {
        free(t->blocks);
        free(t->door);
        t->blocks = NULL;
        t->door = NULL;
        return -1;
    }
    for (uint64_t i = 0; i < t->nblocks * 64; i++)
        t->blocks[i] = 0;
    return 0;
}

static inline void dc_tinylfu_free(dc_tinylfu *t)
{
    free(t->blocks);
    free(t->door);
    t->blocks = NULL;
    t->door = NULL;
}

/* The doorkeeper word and its 3 bits for hash h. */
static inline uint64_t *dc_door_word(const dc_tinylfu *t, uint64_t h, uint64_t *bits)
{
    *bits = (1ull << ((h >> 40) & 63)) | (1ull << ((h >> 46) & 63)) | (1ull << ((h >> 52) & 63));
    return &t->door[(h >> 20) & (t->nwords - 1)];
}

/* Counter of row r for hash h (inside the key's block). */
static inline uint8_t *dc_freq_cell(const dc_tinylfu *t, uint64_t h, unsigned r)
{
    uint8_t *block = t->blocks + (h & (t->nblocks - 1)) * 64;
    return block + 16 * r + ((h >> (32 + 4 * r)) & 15);
}

static inline unsigned dc_sketch8_min(const dc_tinylfu *t, uint64_t h)
{
    unsigned m = 255;
    for (unsigned r = 0; r < 4; r++) {
        unsigned c = __atomic_load_n(dc_freq_cell(t, h, r), __ATOMIC_RELAXED);
        if (c < m)
            m = c;
    }
    return m;
}

/* The estimated frequency: sketch minimum, plus one if the doorkeeper has it. */
static inline unsigned dc_tinylfu_estimate(const dc_tinylfu *t, uint64_t h)
{
    uint64_t bits;
    uint64_t *w = dc_door_word(t, h, &bits);
    unsigned in_door = (__atomic_load_n(w, __ATOMIC_RELAXED) & bits) == bits;
    return dc_sketch8_min(t, h) + in_door;
}

static inline void dc_tinylfu_halve(dc_tinylfu *t)
{
    for (uint64_t i = 0; i < t->nblocks * 64; i++) {
        uint8_t c = __atomic_load_n(&t->blocks[i], __ATOMIC_RELAXED);
        __atomic_store_n(&t->blocks[i], (uint8_t)(c >> 1), __ATOMIC_RELAXED);
    }
    for (uint64_t i = 0; i < t->nwords; i++)
        __atomic_store_n(&t->door[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&t->additions, 0, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->halvings, 1, __ATOMIC_RELAXED);
}

/* Records one access. The first in a sample period only sets the doorkeeper
 * bits; later ones raise the key's minimal counters (conservative update). */
static inline void dc_tinylfu_record(dc_tinylfu *t, uint64_t h)
{
    uint64_t bits;
    uint64_t *w = dc_door_word(t, h, &bits);
    uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
    if ((old & bits) != bits) {
        __atomic_fetch_or(w, bits, __ATOMIC_RELAXED);
    } else {
        unsigned m = dc_sketch8_min(t, h);
        if (m < 255) {
            for (unsigned r = 0; r < 4; r++) {
                uint8_t *cell = dc_freq_cell(t, h, r);
                if (__atomic_load_n(cell, __ATOMIC_RELAXED) == m)
                    __atomic_store_n(cell, (uint8_t)(m + 1), __ATOMIC_RELAXED);
            }
        }
    }
    uint64_t n = __atomic_load_n(&t->additions, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(&t->additions, n, __ATOMIC_RELAXED);
    if (n >= t->sample && !__atomic_exchange_n(&t->halving, 1, __ATOMIC_ACQUIRE)) {
        dc_tinylfu_halve(t);
        __atomic_store_n(&t->halving, 0, __ATOMIC_RELEASE);
    }
}

static inline void dc_tinylfu_clear(dc_tinylfu *t)
{
    for (uint64_t i = 0; i < t->nblocks * 64; i++)
        __atomic_store_n(&t->blocks[i], 0, __ATOMIC_RELAXED);
    for (uint64_t i = 0; i < t->nwords; i++)
        __atomic_store_n(&t->door[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&t->additions, 0, __ATOMIC_RELAXED);
}

#endif
