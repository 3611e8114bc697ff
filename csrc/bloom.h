/* A bloom filter: bits in C memory, k positions by double hashing of one
 * 64-bit hash (Kirsch & Mitzenmacher), updated with relaxed atomic ORs so
 * that any number of threads may add and test at once without a lock.
 */
#ifndef DC_BLOOM_H
#define DC_BLOOM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t *words;
    uint64_t nbits; /* a multiple of 64 */
    uint32_t nhashes;
} dc_bloom;

static inline int dc_bloom_init(dc_bloom *b, uint64_t nbits, uint32_t nhashes)
{
    b->nbits = nbits;
    b->nhashes = nhashes;
    b->words = NULL;
    if (nbits < 64 || nbits % 64 || nhashes == 0)
        return -1;
    /* calloc checks nbits / 64 * 8 for overflow itself. */
    b->words = (uint64_t *)calloc((size_t)(nbits / 64), sizeof(uint64_t));
    return b->words ? 0 : -1;
}

static inline void dc_bloom_free(dc_bloom *b)
{
    free(b->words);
    b->words = NULL;
}

/* Sets the key's bits; returns 1 when every one of them was already set. */
static inline int dc_bloom_add(dc_bloom *b, uint64_t h)
{
    uint64_t h1 = h & 0xffffffffu, h2 = (h >> 32) | 1u;
    int present = 1;
    for (uint32_t i = 0; i < b->nhashes; i++) {
        uint64_t bit = (h1 + (uint64_t)i * h2) % b->nbits;
        uint64_t mask = 1ull << (bit & 63);
        uint64_t *w = &b->words[bit >> 6];
        if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & mask)) {
            present = 0;
            __atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
        }
    }
    return present;
}

static inline int dc_bloom_contains(const dc_bloom *b, uint64_t h)
{
    uint64_t h1 = h & 0xffffffffu, h2 = (h >> 32) | 1u;
    for (uint32_t i = 0; i < b->nhashes; i++) {
        uint64_t bit = (h1 + (uint64_t)i * h2) % b->nbits;
        if (!(__atomic_load_n(&b->words[bit >> 6], __ATOMIC_RELAXED) & (1ull << (bit & 63))))
            return 0;
    }
    return 1;
}

static inline void dc_bloom_clear(dc_bloom *b)
{
    for (uint64_t i = 0; i < b->nbits / 64; i++)
        __atomic_store_n(&b->words[i], 0, __ATOMIC_RELAXED);
}

static inline uint64_t dc_bloom_bits_set(const dc_bloom *b)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < b->nbits / 64; i++)
        n += (uint64_t)__builtin_popcountll(__atomic_load_n(&b->words[i], __ATOMIC_RELAXED));
    return n;
}

#endif
