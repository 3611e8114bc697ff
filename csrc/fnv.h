/* FNV hashes and murmur3 finalizers.
 *
 * FNV-1a 32 picks a key's shard and, in the cluster, its ring position: it is
 * stable across processes and machines, unlike Python's hash(). fmix64 after
 * FNV-1a 64 feeds the bloom filter and the sketch: FNV's high bits are weak
 * for short keys, and double hashing needs two good 32-bit halves.
 */
#ifndef DC_FNV_H
#define DC_FNV_H

#include <stddef.h>
#include <stdint.h>

#define DC_FNV32_OFFSET 0x811c9dc5u
#define DC_FNV32_PRIME 0x01000193u
#define DC_FNV64_OFFSET 0xcbf29ce484222325ull
#define DC_FNV64_PRIME 0x00000100000001b3ull

static inline uint32_t dc_fnv32(const unsigned char *p, size_t n)
{
    uint32_t h = DC_FNV32_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h *= DC_FNV32_PRIME;
        h ^= p[i];
    }
    return h;
}

static inline uint32_t dc_fnv32a(const unsigned char *p, size_t n)
{
    uint32_t h = DC_FNV32_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= DC_FNV32_PRIME;
    }
    return h;
}

static inline uint64_t dc_fnv64a(const unsigned char *p, size_t n)
{
    uint64_t h = DC_FNV64_OFFSET;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= DC_FNV64_PRIME;
    }
    return h;
}

static inline uint64_t dc_fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* The one 64-bit hash that bloom filter and sketch positions derive from. */
static inline uint64_t dc_hash64(const unsigned char *p, size_t n)
{
    return dc_fmix64(dc_fnv64a(p, n));
}

#endif
