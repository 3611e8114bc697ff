/* TinyLFU: the frequency estimate behind admission and hot-key detection.
 *
 * A doorkeeper bloom filter absorbs each key's first sighting in a sample
 * period; later sightings go to a count-min sketch of 8-bit saturating
 * counters. After `sample` recorded accesses every counter is halved and the
 * doorkeeper cleared, so estimates follow the recent past (Einziger, Friedman
 * & Manes, "TinyLFU", 2017).
 *
 * Both live in one array of 64-byte blocks so that recording an access
 * touches one cache line, whatever the depth: a block holds 4 rows of 14
 * one-byte counters (bytes 0..55) and a 64-bit doorkeeper word (bytes
 * 56..63); a key's 4 counters and its 3 doorkeeper bits are all in its
 * block. A textbook layout (4 rows far apart, k bits spread over a separate
 * filter) costs 4 + k cache misses per get in a large cache; a separate
 * doorkeeper array cost 2 misses and made an admission-mode hit 1.22x a
 * plain one.
 *
 * Counters are read and written with relaxed atomics: a race may lose an
 * increment, which an estimate tolerates; memory is never torn.
 * docs/internals.md gives the exact positions; distcache/_pycore/
 * computes the same ones.
 */
#ifndef DC_TINYLFU_H
#define DC_TINYLFU_H

#include <stdint.h>
#include <stdlib.h>

#include "fnv.h"

#define DC_ROW_COUNTERS 14

typedef struct {
    uint8_t *blocks;  /* nblocks * 64 bytes: 4 rows of 14 counters, a doorkeeper word */
    uint64_t nblocks; /* power of two */
    uint64_t sample;  /* recorded accesses between halvings */
    uint64_t additions;
    uint64_t halvings;
    int halving; /* set by the one thread that halves */
    /* Names the current sample period, 1..DC_SAT_TAGS, cycling at each
     * halving. An entry that saw its key saturated (see dc_tinylfu_touch)
     * keeps the tag: while it matches, a record of that key would change
     * nothing but the access count, so a hit skips the block (a hot key's
     * record was 1.12x a whole plain hit). */
    uint16_t sat_tag;
} dc_tinylfu;

/* Tags fit the 13 upper bits of an entry's flags. A tag repeats after
 * DC_SAT_TAGS halvings: an entry tagged then and not hit since is taken as
 * saturated while its counters have decayed to 0 (one access unrecorded). */
#define DC_SAT_TAGS 8191u

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

/* Sized for about `entries` keys (rounded up to a power of two): one block
 * per 8 keys, i.e. 8 bytes per key, as Caffeine's sketch. */
static inline int dc_tinylfu_init(dc_tinylfu *t, uint64_t entries)
{
    t->blocks = NULL;
    /* Bounds every product below (callers size for at most 2**24 keys);
     * dc_pow2_at_least would loop forever past 2**63. */
    if (entries > (UINT64_MAX >> 8))
        return -1;
    if (entries < 64)
        entries = 64;
    t->nblocks = dc_pow2_at_least(entries) / 8;
    t->sample = 10 * entries;
    t->additions = 0;
    t->halvings = 0;
    t->halving = 0;
    t->sat_tag = 1;
    t->blocks = (uint8_t *)aligned_alloc(64, t->nblocks * 64);
    if (!t->blocks)
        return -1;
    for (uint64_t i = 0; i < t->nblocks * 64; i++)
        t->blocks[i] = 0;
    return 0;
}

static inline void dc_tinylfu_free(dc_tinylfu *t)
{
    free(t->blocks);
    t->blocks = NULL;
}

static inline uint8_t *dc_freq_block(const dc_tinylfu *t, uint64_t h)
{
    return t->blocks + (h & (t->nblocks - 1)) * 64;
}

/* The block's doorkeeper word and the key's 3 bits in it (from a
 * multiplicative remix, since the low bits of h chose the block). */
static inline uint64_t *dc_door_word(uint8_t *block, uint64_t h, uint64_t *bits)
{
    uint64_t g = h * 0x9E3779B97F4A7C15ull;
    *bits = (1ull << (g >> 58)) | (1ull << ((g >> 52) & 63)) | (1ull << ((g >> 46) & 63));
    return (uint64_t *)(block + 56);
}

/* Counter of row r (0..3) in the key's block: one of 14, by multiply-shift
 * of a byte of h's upper half. */
static inline uint8_t *dc_freq_cell(uint8_t *block, uint64_t h, unsigned r)
{
    unsigned x = (unsigned)((h >> (32 + 8 * r)) & 0xff);
    return block + DC_ROW_COUNTERS * r + ((x * DC_ROW_COUNTERS) >> 8);
}

static inline unsigned dc_sketch8_min(uint8_t *block, uint64_t h)
{
    unsigned m = 255;
    for (unsigned r = 0; r < 4; r++) {
        unsigned c = __atomic_load_n(dc_freq_cell(block, h, r), __ATOMIC_RELAXED);
        if (c < m)
            m = c;
    }
    return m;
}

/* The estimated frequency: sketch minimum, plus one if the doorkeeper has it. */
static inline unsigned dc_tinylfu_estimate(const dc_tinylfu *t, uint64_t h)
{
    uint8_t *block = dc_freq_block(t, h);
    uint64_t bits;
    uint64_t *w = dc_door_word(block, h, &bits);
    unsigned in_door = (__atomic_load_n(w, __ATOMIC_RELAXED) & bits) == bits;
    return dc_sketch8_min(block, h) + in_door;
}

/* Halves every counter and clears every doorkeeper word. */
static inline void dc_tinylfu_halve(dc_tinylfu *t)
{
    /* Eight counters at a time: (x >> 1) & 0x7f.. halves each byte of a word. */
    for (uint64_t b = 0; b < t->nblocks; b++) {
        uint64_t *word = (uint64_t *)(t->blocks + b * 64);
        for (unsigned i = 0; i < 7; i++) {
            uint64_t x = __atomic_load_n(&word[i], __ATOMIC_RELAXED);
            __atomic_store_n(&word[i], (x >> 1) & 0x7f7f7f7f7f7f7f7full, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&word[7], 0, __ATOMIC_RELAXED); /* the doorkeeper */
    }
    __atomic_store_n(&t->additions, 0, __ATOMIC_RELAXED);
    __atomic_fetch_add(&t->halvings, 1, __ATOMIC_RELAXED);
    uint16_t tag = __atomic_load_n(&t->sat_tag, __ATOMIC_RELAXED);
    __atomic_store_n(&t->sat_tag, (uint16_t)(tag % DC_SAT_TAGS + 1), __ATOMIC_RELAXED);
}

/* The sketch's half of recording an access: the first in a sample period
 * only sets the doorkeeper bits; later ones raise the key's minimal counters
 * (conservative update). Returns the current sat_tag when the key is now
 * saturated (doorkeeper set, every counter 255: a later record of it in this
 * period changes no counter), else 0. */
static inline unsigned dc_tinylfu_touch(dc_tinylfu *t, uint64_t h)
{
    uint8_t *block = dc_freq_block(t, h);
    uint64_t bits;
    uint64_t *w = dc_door_word(block, h, &bits);
    uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
    if ((old & bits) != bits) {
        __atomic_fetch_or(w, bits, __ATOMIC_RELAXED);
        return 0;
    }
    unsigned m = dc_sketch8_min(block, h);
    if (m < 255) {
        for (unsigned r = 0; r < 4; r++) {
            uint8_t *cell = dc_freq_cell(block, h, r);
            if (__atomic_load_n(cell, __ATOMIC_RELAXED) == m)
                __atomic_store_n(cell, (uint8_t)(m + 1), __ATOMIC_RELAXED);
        }
    }
    return m >= 254 ? __atomic_load_n(&t->sat_tag, __ATOMIC_RELAXED) : 0;
}

/* The count's half: one more access in the sample period, halving at its end. */
static inline void dc_tinylfu_count(dc_tinylfu *t)
{
    uint64_t n = __atomic_load_n(&t->additions, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(&t->additions, n, __ATOMIC_RELAXED);
    if (n >= t->sample && !__atomic_exchange_n(&t->halving, 1, __ATOMIC_ACQUIRE)) {
        dc_tinylfu_halve(t);
        __atomic_store_n(&t->halving, 0, __ATOMIC_RELEASE);
    }
}

/* Records one access. */
static inline void dc_tinylfu_record(dc_tinylfu *t, uint64_t h)
{
    dc_tinylfu_touch(t, h);
    dc_tinylfu_count(t);
}

#endif
