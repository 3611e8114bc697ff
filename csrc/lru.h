/* The byte-budgeted, sharded LRU cache.
 *
 * Keys and values live inline in one malloc'd block per entry; no Python
 * object is referenced from here, so every function below runs without the
 * GIL. The cache is split into a power-of-two number of shards chosen by
 * FNV-1a; each shard has its own spinlock, a chained hash index and an
 * intrusive doubly linked LRU list. One global byte budget covers all shards
 * (the Go project's per-shard budget made small caches unbounded and values
 * larger than 1/256 of the budget uncacheable): `nbytes` is reserved with a
 * compare-and-swap before an entry is linked, so `nbytes <= max_bytes` holds
 * at every instant, for any number of threads.
 *
 * docs/internals.md is the contract; distcache/_pycore/ implements the same.
 */
#ifndef DC_LRU_H
#define DC_LRU_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "clock.h"
#include "fnv.h"
#include "lock.h"
#include "tinylfu.h"

/* Bytes charged per entry on top of key and value: the 32-byte header (8
 * more with an expiry, 8 more with a version), the allocator's chunk
 * overhead and rounding, and the index slots (12 bytes per slot, 40-80%
 * full). */
#define DC_ENTRY_OVERHEAD 64
#define DC_MAX_KEY_LEN 65535
/* Cross-shard eviction compares the tails of this many non-empty shards. */
#define DC_VICTIM_SAMPLE 8

/* An entry is one malloc'd block: this 32-byte header, then the expiry (a
 * double, only when flags has DC_HAS_EXPIRY), the key, the value and the
 * version (a uint64_t, only when flags has DC_HAS_VERSION). Keeping the
 * expiry out of entries without a TTL puts a 16-byte key with a 100-byte
 * value in glibc's 160-byte chunk instead of the 176-byte one (measured: RSS
 * per entry 200.7 -> see docs/performance.md). The version goes after the
 * value, not beside the expiry, so that the key and value offsets, which
 * every hit computes, depend on the one flag they did before versions. */
typedef struct dc_entry {
    struct dc_entry *prev; /* towards the head (more recent) */
    struct dc_entry *next; /* towards the tail (less recent); also chains freed entries */
    uint32_t hash;         /* fnv32a of the key */
    uint32_t vlen;
    uint32_t stamp; /* the cache tick at the last set or hit */
    uint16_t klen;
    uint16_t flags;
    unsigned char data[]; /* [expiry], key bytes, value bytes, [version] */
} dc_entry;

#define DC_HAS_EXPIRY 2u  /* entry flag: data starts with a double expiry */
#define DC_HAS_VERSION 4u /* entry flag: data ends with a uint64_t version */

/* The index is open addressing with linear probing over two arrays: tags
 * (0 = empty, else dc_tag(hash)) and entry pointers. A probe scans the dense
 * tag array (16 per cache line) and dereferences an entry only on a tag
 * match: with hash chains, every miss and every unlink walked entries
 * scattered over the heap, one cache miss each (measured: 45% of a set with
 * eviction at 64k entries). Deletion shifts later entries back (Knuth's
 * algorithm R) instead of leaving tombstones, computing their home slots from
 * the tags alone, so removing an entry never touches another entry. */
#define DC_TAG_EMPTY 0u

/* entry flags */
#define DC_PROTECTED 1u /* in the protected segment (admission mode) */
/* DC_HAS_EXPIRY is 2u, DC_HAS_VERSION 4u; the 13 bits above the flags hold
 * the entry's saturation tag (tinylfu.h's sat_tag, 0: none). The header's
 * other fields have no spare bit (klen spans DC_MAX_KEY_LEN, vlen a value's
 * limit), so the version's flag took one of the tag's. */
#define DC_FLAG_BITS 7u
#define DC_SAT_SHIFT 3
_Static_assert((DC_SAT_TAGS << DC_SAT_SHIFT) <= 0xffffu, "a saturation tag must fit the flags");

/* With admission on, a shard's list is segmented (SLRU, as W-TinyLFU's main
 * space): new keys enter the probation list; a hit moves a key to the
 * protected list, which holds at most DC_PROTECTED_PCT percent of the
 * shard's share of the budget (its least recent entries go back to
 * probation's head). The cap is on the share, not on the shard's current
 * bytes, as Caffeine caps against the maximum: capped against current
 * bytes, an under-full cache demoted an entry on every probation hit.
 * Victims come from probation's tail first, so a key asked for twice
 * outlives one-hit wonders. Plain mode uses the probation list alone. */
#define DC_PROTECTED_PCT 80

typedef struct {
    dc_lock_t lock; /* guards every field below and the entries linked here */
    dc_entry *head, *tail;   /* probation (the whole LRU in plain mode) */
    dc_entry *phead, *ptail; /* protected (admission mode) */
    uint64_t pbytes;         /* bytes of the protected entries */
    uint32_t *tags;
    dc_entry **slots;
    uint32_t smask; /* number of slots - 1 */
    uint32_t count;
    uint64_t bytes; /* sum of entry sizes in this shard (for invariants) */
    uint64_t hits, misses, sets, deletes, evictions, expirations, rejected;
    uint64_t admission_rejects;
} dc_shard;

typedef struct {
    dc_shard *shards;
    uint32_t nshards;
    uint32_t mask;
    uint32_t shard_bits;
    uint64_t max_bytes;
    uint64_t nbytes; /* atomic: reserved by CAS, released on unlink */
    uint32_t tick;   /* relaxed: a lost increment only blurs recency */
    /* Frequency estimate fed by every get and set (NULL: not tracked), and
     * whether eviction consults it (TinyLFU admission). */
    dc_tinylfu *freq;
    int admit;
} dc_cache;

/* Records an access to a key for the frequency estimate, if tracked. */
static inline void dc_cache_record(dc_cache *c, uint32_t hash, uint32_t klen)
{
    if (c->freq)
        dc_tinylfu_record(c->freq, dc_freq_hash(hash, klen));
}

/* The read path's split of dc_cache_record: start loading the key's sketch
 * block before the shard lookup, record after it, so that the two cache
 * misses overlap (the block load alone was a fifth of an admission-mode
 * hit in a 64 MiB cache). A sketch of at most DC_SKETCH_NEAR bytes stays in
 * the core's caches: no prefetch then, and the frequency hash is left to
 * the record, which a hit of a saturated key skips. Returns the frequency
 * hash, or 0 when it is left for later (or frequencies are not tracked). */
#define DC_SKETCH_NEAR (256u * 1024u)

static inline uint64_t dc_cache_record_start(dc_cache *c, uint32_t hash, uint32_t klen)
{
    if (!c->freq || c->freq->nblocks * 64 <= DC_SKETCH_NEAR)
        return 0;
    uint64_t fh = dc_freq_hash(hash, klen);
    __builtin_prefetch(dc_freq_block(c->freq, fh));
    return fh;
}

/* A miss's record (fh from dc_cache_record_start; 0: computed here, which
 * for a hash that is 0 indeed gives 0 again). */
static inline void dc_cache_record_finish(dc_cache *c, uint64_t fh, uint32_t hash, uint32_t klen)
{
    if (c->freq)
        dc_tinylfu_record(c->freq, fh ? fh : dc_freq_hash(hash, klen));
}

/* The read path's record of a hit, under the shard lock (the entry must stay
 * put): the sketch half, skipped while the entry's tag says its key is
 * saturated in this sample period; dc_cache_record_count does the count
 * after the unlock, so that a halving never runs under a shard lock. */
static inline void dc_cache_record_hit(dc_cache *c, dc_entry *e, uint64_t fh)
{
    dc_tinylfu *t = c->freq;
    if (!t)
        return;
    unsigned tag = e->flags >> DC_SAT_SHIFT;
    if (tag != __atomic_load_n(&t->sat_tag, __ATOMIC_RELAXED)) {
        tag = dc_tinylfu_touch(t, fh ? fh : dc_freq_hash(e->hash, e->klen));
        e->flags = (uint16_t)((e->flags & DC_FLAG_BITS) | (tag << DC_SAT_SHIFT));
    }
}

static inline void dc_cache_record_count(dc_cache *c)
{
    if (c->freq)
        dc_tinylfu_count(c->freq);
}

/* TinyLFU's rule: a newcomer displaces a victim only when it is estimated to
 * be asked for more often. */
static inline int dc_cache_admits(const dc_cache *c, uint64_t newcomer_fh, const dc_entry *victim)
{
    return dc_tinylfu_estimate(c->freq, newcomer_fh) >
           dc_tinylfu_estimate(c->freq, dc_freq_hash(victim->hash, victim->klen));
}


static inline uint64_t dc_entry_size(uint32_t klen, uint64_t vlen)
{
    return (uint64_t)klen + vlen + DC_ENTRY_OVERHEAD;
}

static inline uint64_t dc_entry_bytes(const dc_entry *e)
{
    return dc_entry_size(e->klen, e->vlen);
}

static inline const unsigned char *dc_entry_key(const dc_entry *e)
{
    return e->data + ((e->flags & DC_HAS_EXPIRY) ? sizeof(double) : 0);
}

static inline const unsigned char *dc_entry_value(const dc_entry *e)
{
    return dc_entry_key(e) + e->klen;
}

/* The entry's version; 0 = unversioned (no DC_HAS_VERSION, no bytes). */
static inline uint64_t dc_entry_version(const dc_entry *e)
{
    uint64_t v = 0;
    if (e->flags & DC_HAS_VERSION)
        memcpy(&v, dc_entry_value(e) + e->vlen, sizeof v);
    return v;
}

/* Monotonic seconds at which the entry expires; 0 = never. */
static inline double dc_entry_expires(const dc_entry *e)
{
    double t = 0.0;
    if (e->flags & DC_HAS_EXPIRY)
        memcpy(&t, e->data, sizeof t);
    return t;
}

/* Bytes of the block for an entry. */
static inline size_t dc_entry_block(uint32_t klen, uint32_t vlen, double expires, uint64_t version)
{
    return sizeof(dc_entry) + (expires != 0.0 ? sizeof(double) : 0) + (size_t)klen + vlen +
           (version ? sizeof(uint64_t) : 0);
}

/* Expired at `now`; `*now` is read from the clock once, on first need. */
/* The tag of a hash: never 0 (empty); home slots derive from it. */
static inline uint32_t dc_tag(uint32_t hash)
{
    return hash ? hash : 1u;
}

static inline int dc_entry_expired(const dc_entry *e, double *now)
{
    if (!(e->flags & DC_HAS_EXPIRY))
        return 0;
    if (*now == 0.0)
        *now = dc_now();
    return *now >= dc_entry_expires(e);
}

static inline uint32_t dc_cache_next_tick(dc_cache *c)
{
    uint32_t t = __atomic_load_n(&c->tick, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(&c->tick, t, __ATOMIC_RELAXED);
    return t;
}

/* ---------------------------------------------------------------- setup */

static inline int dc_cache_init(dc_cache *c, uint64_t max_bytes, uint32_t nshards)
{
    memset(c, 0, sizeof(*c));
    if (nshards == 0 || (nshards & (nshards - 1)) || nshards > 65536)
        return -1;
    c->shards = (dc_shard *)calloc(nshards, sizeof(dc_shard));
    if (!c->shards)
        return -1;
    c->nshards = nshards;
    c->mask = nshards - 1;
    while ((1u << c->shard_bits) < nshards)
        c->shard_bits++;
    c->max_bytes = max_bytes;
    for (uint32_t i = 0; i < nshards; i++) {
        dc_shard *s = &c->shards[i];
        s->tags = (uint32_t *)calloc(8, sizeof(uint32_t));
        s->slots = (dc_entry **)calloc(8, sizeof(dc_entry *));
        if (!s->tags || !s->slots)
            return -1;
        s->smask = 7;
    }
    return 0;
}

/* Turns on frequency tracking for about `entries` keys, with or without
 * TinyLFU admission. Call before first use. */
static inline int dc_cache_track(dc_cache *c, uint64_t entries, int admit)
{
    c->freq = (dc_tinylfu *)calloc(1, sizeof(dc_tinylfu));
    if (!c->freq || dc_tinylfu_init(c->freq, entries) < 0) {
        free(c->freq);
        c->freq = NULL;
        return -1;
    }
    c->admit = admit;
    return 0;
}

static inline dc_shard *dc_cache_shard(dc_cache *c, uint32_t hash)
{
    return &c->shards[hash & c->mask];
}

/* A key's home slot in an index of smask + 1 slots: Fibonacci hashing takes
 * the top bits of hash * 2^32/phi, which depend on every bit of the hash, so
 * keys of one shard (equal low bits) still spread, and linear probing does
 * not cluster on similar keys. */
static inline uint32_t dc_bucket_of(const dc_cache *c, uint32_t hash, uint32_t smask)
{
    (void)c;
    uint32_t bits = 32u - (uint32_t)__builtin_clz(smask); /* log2(smask + 1), smask >= 7 */
    return (uint32_t)((hash * 0x9E3779B1u) >> (32u - bits));
}

/* ------------------------------------------------ shard (lock held) */

/* Key equality; keys are short, and a call to libc memcmp costs more than
 * comparing them 8 bytes at a time inline. */
static inline int dc_key_eq(const unsigned char *a, const unsigned char *b, uint32_t n)
{
    while (n >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n--) {
        if (*a++ != *b++)
            return 0;
    }
    return 1;
}

static inline dc_entry *dc_shard_find(const dc_cache *c, const dc_shard *s, const unsigned char *key,
                                      uint32_t klen, uint32_t hash)
{
    uint32_t t = dc_tag(hash), i = dc_bucket_of(c, t, s->smask);
    for (;;) {
        uint32_t g = s->tags[i];
        if (g == DC_TAG_EMPTY)
            return NULL;
        if (g == t) {
            dc_entry *e = s->slots[i];
            if (e->hash == hash && e->klen == klen && dc_key_eq(dc_entry_key(e), key, klen))
                return e;
        }
        i = (i + 1) & s->smask;
    }
}

/* Doubles the index. Returns -1 (index unchanged) when memory is short. */
static inline int dc_shard_grow(const dc_cache *c, dc_shard *s)
{
    /* The index size is a uint32_t power of two: 2**31 slots at most. */
    if (s->smask >= (UINT32_C(1) << 30))
        return -1;
    uint32_t n = (s->smask + 1) * 2;
    uint32_t *tags = (uint32_t *)calloc(n, sizeof(uint32_t));
    dc_entry **slots = (dc_entry **)malloc((size_t)n * sizeof(dc_entry *));
    if (!tags || !slots) {
        free(tags);
        free(slots);
        return -1;
    }
    for (uint32_t i = 0; i <= s->smask; i++) {
        uint32_t g = s->tags[i];
        if (g == DC_TAG_EMPTY)
            continue;
        uint32_t j = dc_bucket_of(c, g, n - 1);
        while (tags[j] != DC_TAG_EMPTY)
            j = (j + 1) & (n - 1);
        tags[j] = g;
        slots[j] = s->slots[i];
    }
    free(s->tags);
    free(s->slots);
    s->tags = tags;
    s->slots = slots;
    s->smask = n - 1;
    return 0;
}

/* Empties index slot i and shifts the rest of its probe run back so that
 * every entry stays reachable from its home slot. */
static inline void dc_index_remove(const dc_cache *c, dc_shard *s, uint32_t i)
{
    uint32_t m = s->smask;
    for (uint32_t j = i;;) {
        j = (j + 1) & m;
        uint32_t g = s->tags[j];
        if (g == DC_TAG_EMPTY)
            break;
        uint32_t home = dc_bucket_of(c, g, m);
        /* The entry at j may fill the hole at i unless its home lies
         * cyclically in (i, j]. */
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        s->tags[i] = g;
        s->slots[i] = s->slots[j];
        i = j;
    }
    s->tags[i] = DC_TAG_EMPTY;
    s->slots[i] = NULL;
}

static inline void dc_list_unlink(dc_entry **head, dc_entry **tail, dc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        *head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        *tail = e->prev;
    e->prev = e->next = NULL;
}

static inline void dc_list_push_head(dc_entry **head, dc_entry **tail, dc_entry *e)
{
    e->prev = NULL;
    e->next = *head;
    if (*head)
        (*head)->prev = e;
    else
        *tail = e;
    *head = e;
}

/* Takes e out of whichever segment holds it. */
static inline void dc_shard_list_unlink(dc_shard *s, dc_entry *e)
{
    if (e->flags & DC_PROTECTED) {
        dc_list_unlink(&s->phead, &s->ptail, e);
        s->pbytes -= dc_entry_bytes(e);
        e->flags &= (uint16_t)~DC_PROTECTED;
    } else {
        dc_list_unlink(&s->head, &s->tail, e);
    }
}

/* The shard's eviction candidate: probation's tail, else protected's. */
static inline dc_entry *dc_shard_victim(const dc_shard *s)
{
    return s->tail ? s->tail : s->ptail;
}

/* Makes `e` the most recent entry of its shard (in admission mode: of the
 * protected segment, demoting protected overflow to probation). */
static inline void dc_shard_touch(dc_cache *c, dc_shard *s, dc_entry *e)
{
    if (!c->admit) {
        if (s->head != e) {
            dc_list_unlink(&s->head, &s->tail, e);
            dc_list_push_head(&s->head, &s->tail, e);
        }
    } else if (e->flags & DC_PROTECTED) {
        if (s->phead != e) {
            dc_list_unlink(&s->phead, &s->ptail, e);
            dc_list_push_head(&s->phead, &s->ptail, e);
        }
    } else {
        dc_list_unlink(&s->head, &s->tail, e);
        dc_list_push_head(&s->phead, &s->ptail, e);
        e->flags |= DC_PROTECTED;
        s->pbytes += dc_entry_bytes(e);
        /* 128-bit: budgets near 2**63 bytes would overflow the products. */
        while ((unsigned __int128)s->pbytes * 100 >
               (unsigned __int128)(c->max_bytes / c->nshards) * DC_PROTECTED_PCT) {
            dc_entry *d = s->ptail;
            dc_list_unlink(&s->phead, &s->ptail, d);
            s->pbytes -= dc_entry_bytes(d);
            d->flags &= (uint16_t)~DC_PROTECTED;
            dc_list_push_head(&s->head, &s->tail, d);
        }
    }
    e->stamp = dc_cache_next_tick(c);
}

/* Removes `e` from index and list; returns its size, which the caller must
 * release from the global nbytes. */
static inline uint64_t dc_shard_detach(dc_cache *c, dc_shard *s, dc_entry *e)
{
    uint32_t t = dc_tag(e->hash), i = dc_bucket_of(c, t, s->smask);
    while (s->slots[i] != e)
        i = (i + 1) & s->smask;
    dc_index_remove(c, s, i);
    dc_shard_list_unlink(s, e);
    s->count--;
    uint64_t sz = dc_entry_bytes(e);
    s->bytes -= sz;
    return sz;
}

/* Removes `e` from index and list and releases its bytes; the caller frees
 * it (after unlocking, where it can). */
static inline void dc_shard_unlink(dc_cache *c, dc_shard *s, dc_entry *e)
{
    __atomic_fetch_sub(&c->nbytes, dc_shard_detach(c, s, e), __ATOMIC_RELAXED);
}

/* Links `e` (its key absent) at the head. Returns -1, linking nothing, only
 * when the index is full and cannot grow for lack of memory. */
static inline int dc_shard_link(dc_cache *c, dc_shard *s, dc_entry *e)
{
    /* At most 80% full: probes stay short and always end at an empty slot. */
    if (((uint64_t)s->count + 1) * 5 > ((uint64_t)s->smask + 1) * 4) {
        if (dc_shard_grow(c, s) < 0 && (uint64_t)s->count + 1 >= s->smask)
            return -1;
    }
    uint32_t t = dc_tag(e->hash), i = dc_bucket_of(c, t, s->smask);
    while (s->tags[i] != DC_TAG_EMPTY)
        i = (i + 1) & s->smask;
    s->tags[i] = t;
    s->slots[i] = e;
    e->flags &= (uint16_t)~DC_PROTECTED;
    dc_list_push_head(&s->head, &s->tail, e);
    s->count++;
    s->bytes += dc_entry_bytes(e);
    e->stamp = dc_cache_next_tick(c);
    return 0;
}

/* Finds a live entry without counting or touching; reclaims an expired one. */
static inline dc_entry *dc_shard_peek(dc_cache *c, dc_shard *s, const unsigned char *key, uint32_t klen,
                                      uint32_t hash, dc_entry **reclaimed)
{
    dc_entry *e = dc_shard_find(c, s, key, klen, hash);
    double now = 0.0;
    if (e && dc_entry_expired(e, &now)) {
        dc_shard_unlink(c, s, e);
        s->expirations++;
        *reclaimed = e;
        return NULL;
    }
    return e;
}

/* Looks a key up as `get` does: counts a hit or a miss, reclaims an expired
 * entry (returned through *reclaimed for the caller to free), and makes a
 * hit the most recent entry. */
static inline dc_entry *dc_shard_get(dc_cache *c, dc_shard *s, const unsigned char *key, uint32_t klen,
                                     uint32_t hash, dc_entry **reclaimed)
{
    dc_entry *e = dc_shard_peek(c, s, key, klen, hash, reclaimed);
    if (!e) {
        s->misses++;
        return NULL;
    }
    s->hits++;
    dc_shard_touch(c, s, e);
    return e;
}

/* ------------------------------------------------ eviction and insert */

/* Evicts the oldest tail among the first DC_VICTIM_SAMPLE non-empty shards
 * after `own` (own's lock is held). Busy shards are skipped, never waited
 * for, so two inserting threads cannot deadlock. Returns the evicted entry
 * or NULL when nothing could be evicted right now. */
static inline dc_entry *dc_cache_evict_other(dc_cache *c, uint32_t own, const uint64_t *newcomer,
                                             int *refused)
{
    uint32_t best = own, seen = 0;
    uint32_t best_stamp = 0;
    for (uint32_t j = 1; j < c->nshards && seen < DC_VICTIM_SAMPLE; j++) {
        uint32_t i = (own + j) & c->mask;
        dc_shard *o = &c->shards[i];
        if (__atomic_load_n(&o->count, __ATOMIC_RELAXED) == 0 || !dc_trylock(&o->lock))
            continue;
        if (dc_shard_victim(o)) {
            uint32_t st = dc_shard_victim(o)->stamp;
            if (seen == 0 || (int32_t)(st - best_stamp) < 0) {
                best = i;
                best_stamp = st;
            }
            seen++;
        }
        dc_unlock(&o->lock);
    }
    if (best == own)
        return NULL;
    dc_shard *o = &c->shards[best];
    if (!dc_trylock(&o->lock))
        return NULL;
    dc_entry *v = dc_shard_victim(o);
    if (v && newcomer && !dc_cache_admits(c, *newcomer, v)) {
        *refused = 1;
        v = NULL;
    } else if (v) {
        dc_shard_unlink(c, o, v);
        o->evictions++;
    }
    dc_unlock(&o->lock);
    return v;
}

/* dc_cache_reserve's results. */
#define DC_RESERVED 0
#define DC_REFUSED -1 /* TinyLFU: the newcomer is rarer than the first victim */
#define DC_RETRY 1    /* other shards busy: drop the own lock, yield, start again */

/* Reserves `size` bytes of the global budget, evicting as docs/internals.md
 * says; the lock of shard `si` is held. While *screen is set (admission on
 * and a new key), the first victim must be estimated rarer than the
 * newcomer `fh`, else nothing is reserved and DC_REFUSED returned; the first
 * eviction clears *screen. Evicted entries are chained through next onto
 * *freelist for the caller to free after unlocking.
 *
 * Bytes of victims from the own shard are released in the same atomic
 * operation that reserves the new entry's (one locked instruction instead of
 * one per victim); until then nbytes over-counts, which keeps nbytes <=
 * max_bytes. They are given back before any other shard is looked at, and
 * the function never waits: when the victims it needs are in shards locked
 * by other threads it returns DC_RETRY holding no bytes, and the caller
 * drops its own lock before trying again. Waiting here with the own lock
 * and the freed bytes held livelocked two threads whose shards were each
 * other's only victims (each held what the other needed);
 * tests/model/reserve_model.py checks every interleaving of the protocol. */
static inline int dc_cache_reserve(dc_cache *c, uint32_t si, uint64_t size, dc_entry **freelist,
                                   uint64_t fh, int *screen)
{
    dc_shard *s = &c->shards[si];
    uint64_t freed = 0;
    for (;;) {
        uint64_t cur = __atomic_load_n(&c->nbytes, __ATOMIC_RELAXED);
        if (cur - freed + size <= c->max_bytes) {
            if (__atomic_compare_exchange_n(&c->nbytes, &cur, cur - freed + size, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
                return DC_RESERVED;
            continue;
        }
        dc_entry *v;
        if ((v = dc_shard_victim(s)) != NULL) {
            if (*screen && !dc_cache_admits(c, fh, v))
                return DC_REFUSED; /* nothing evicted yet: freed == 0 */
            freed += dc_shard_detach(c, s, v);
            s->evictions++;
        } else if (freed) {
            __atomic_fetch_sub(&c->nbytes, freed, __ATOMIC_RELAXED);
            freed = 0;
            continue;
        } else {
            int refused = 0;
            v = dc_cache_evict_other(c, si, *screen ? &fh : NULL, &refused);
            if (refused)
                return DC_REFUSED;
            if (!v)
                return DC_RETRY; /* other shards busy, or bytes in flight */
        }
        /* Admission compares the newcomer with the first victim only. */
        *screen = 0;
        v->next = *freelist;
        *freelist = v;
    }
}

static inline void dc_free_chain(dc_entry *e)
{
    while (e) {
        dc_entry *nx = e->next;
        free(e);
        e = nx;
    }
}

/* Starts loading what an insert of `hash` will touch (its home index slot
 * and the shard's LRU tail, the likely victim) while the caller allocates
 * and copies the entry: both are cache misses in a large cache. Reads
 * without the lock; a prefetch of a stale address is harmless. */
static inline void dc_cache_prefetch(dc_cache *c, uint32_t hash)
{
    dc_shard *s = &c->shards[hash & c->mask];
    uint32_t *tags = __atomic_load_n(&s->tags, __ATOMIC_RELAXED);
    uint32_t smask = __atomic_load_n(&s->smask, __ATOMIC_RELAXED);
    dc_entry *tail = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
    __builtin_prefetch(&tags[dc_bucket_of(c, dc_tag(hash), smask)]);
    if (tail)
        __builtin_prefetch(tail);
}

/* Fills a block (fresh or reused) as the entry for key and value. */
static inline void dc_entry_fill(dc_entry *e, const unsigned char *key, uint32_t klen, uint32_t hash,
                                 const unsigned char *value, uint32_t vlen, double expires,
                                 uint64_t version)
{
    unsigned char *p = e->data;
    e->prev = e->next = NULL;
    e->hash = hash;
    e->vlen = vlen;
    e->stamp = 0;
    e->klen = (uint16_t)klen;
    e->flags = 0;
    if (expires != 0.0) {
        e->flags = DC_HAS_EXPIRY;
        memcpy(p, &expires, sizeof expires);
        p += sizeof expires;
    }
    memcpy(p, key, klen);
    if (vlen)
        memcpy(p + klen, value, vlen);
    if (version) {
        e->flags |= DC_HAS_VERSION;
        memcpy(p + klen + vlen, &version, sizeof version);
    }
}

/* Builds an entry outside any lock (malloc and copy are the slow part). */
static inline dc_entry *dc_entry_new(const unsigned char *key, uint32_t klen, uint32_t hash,
                                     const unsigned char *value, uint32_t vlen, double expires,
                                     uint64_t version)
{
    dc_entry *e = (dc_entry *)malloc(dc_entry_block(klen, vlen, expires, version));
    if (e)
        dc_entry_fill(e, key, klen, hash, value, vlen, expires, version);
    return e;
}

/* Takes from the freed chain a block that can hold `need` bytes without
 * wasting more than half of it, or NULL. */
static inline dc_entry *dc_take_reusable(dc_entry **freelist, size_t need)
{
#ifdef __GLIBC__
    for (dc_entry **pp = freelist; *pp; pp = &(*pp)->next) {
        size_t have = malloc_usable_size(*pp);
        if (have >= need && have <= 2 * need) {
            dc_entry *e = *pp;
            *pp = e->next;
            return e;
        }
    }
#endif
    return NULL;
}

/* A live entry of the key holds `version` or a newer one (lock held). An
 * expired entry is left in place: the caller replaces or reclaims it. */
static inline int dc_shard_holds_newer(const dc_entry *old, uint64_t version)
{
    double now = 0.0;
    return old && dc_entry_version(old) >= version && !dc_entry_expired(old, &now);
}

/* dc_cache_store's modes and its result for a write refused as not newer. */
#define DC_FORCE 1u    /* past admission: an explicit write, not a load */
#define DC_IF_NEWER 2u /* only over an absent, expired or older-versioned entry */
#define DC_NOT_NEWER 2

/* set: stores key -> value with `version` (0: unversioned). `built`, when
 * given, is the entry already built outside the lock (large values: the copy
 * is the slow part) and passes to the cache. Otherwise the entry is built
 * under the shard lock after eviction, in the block of an evicted or
 * replaced entry when one fits (a set with eviction then costs no malloc
 * and no free), else in a new one. `mode` is 0 or DC_FORCE, with
 * DC_IF_NEWER for a versioned write that replaces only an older version:
 * the comparison and the store are made under one hold of the shard lock,
 * again on every attempt, and a refused write changes nothing (not even the
 * frequency estimate, so it records after storing; with DC_FORCE no
 * admission comparison can see the difference). Returns 0 when stored, 1
 * when TinyLFU refused it, DC_NOT_NEWER, or -1 out of memory. */
static inline int dc_cache_store(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash,
                                 const unsigned char *value, uint32_t vlen, double expires,
                                 uint64_t version, dc_entry *built, unsigned mode)
{
    uint32_t si = hash & c->mask;
    dc_shard *s = &c->shards[si];
    uint64_t size = dc_entry_size(klen, vlen);
    uint64_t fh = dc_freq_hash(hash, klen);
    int if_newer = (mode & DC_IF_NEWER) != 0;
    /* Only new keys face admission: an update is not a newcomer. Cleared
     * for good by the first eviction or by finding the key present. */
    int screen = c->admit && !(mode & DC_FORCE);
    if (!if_newer)
        dc_cache_record(c, hash, klen);
    for (;;) {
        dc_entry *freelist = NULL;
        int rc = 0;
        dc_lock(&s->lock);
        dc_entry *old = dc_shard_find(c, s, key, klen, hash);
        if (if_newer && dc_shard_holds_newer(old, version)) {
            dc_unlock(&s->lock);
            free(built);
            return DC_NOT_NEWER;
        }
        if (old) {
            dc_shard_unlink(c, s, old);
            old->next = freelist;
            freelist = old;
            screen = 0;
        }
        dc_entry *e = built;
        int r = dc_cache_reserve(c, si, size, &freelist, fh, &screen);
        if (r == DC_RETRY) {
            dc_unlock(&s->lock);
            dc_free_chain(freelist);
            sched_yield();
            continue;
        }
        if (r == DC_REFUSED) {
            s->admission_rejects++;
            rc = 1;
        } else {
            if (!e) {
                size_t need = dc_entry_block(klen, vlen, expires, version);
                e = dc_take_reusable(&freelist, need);
                if (!e)
                    e = (dc_entry *)malloc(need);
                if (e)
                    dc_entry_fill(e, key, klen, hash, value, vlen, expires, version);
            }
            if (e && dc_shard_link(c, s, e) == 0) {
                s->sets++;
                e = NULL;
            } else {
                __atomic_fetch_sub(&c->nbytes, size, __ATOMIC_RELAXED);
                rc = -1;
            }
        }
        if (e) { /* not stored */
            e->next = freelist;
            freelist = e;
        }
        dc_unlock(&s->lock);
        dc_free_chain(freelist);
        if (if_newer && rc == 0)
            dc_cache_record(c, hash, klen);
        return rc;
    }
}

/* A set whose entry can never fit: drop the key's old value, count it.
 * With if_older_than (a version; 0: any), a live entry holding that version
 * or a newer one stays and nothing is counted: returns 0 then, else 1. */
static inline int dc_cache_reject(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash,
                                  uint64_t if_older_than)
{
    dc_shard *s = dc_cache_shard(c, hash);
    dc_lock(&s->lock);
    dc_entry *old = dc_shard_find(c, s, key, klen, hash);
    if (if_older_than && dc_shard_holds_newer(old, if_older_than)) {
        dc_unlock(&s->lock);
        return 0;
    }
    if (old)
        dc_shard_unlink(c, s, old);
    s->rejected++;
    dc_unlock(&s->lock);
    free(old);
    return 1;
}

/* Whether a live entry of the key holds `version` or a newer one; touches
 * nothing (an expired entry is left for the write that follows). Lets a
 * versioned write skip building a large entry that would be refused. */
static inline int dc_cache_holds_newer(dc_cache *c, const unsigned char *key, uint32_t klen,
                                       uint32_t hash, uint64_t version)
{
    dc_shard *s = dc_cache_shard(c, hash);
    dc_lock(&s->lock);
    int held = dc_shard_holds_newer(dc_shard_find(c, s, key, klen, hash), version);
    dc_unlock(&s->lock);
    return held;
}

/* The version (0: unversioned) and the expiry (monotonic seconds, 0: never)
 * of the key's live entry, as `in` looks: no recency, no hit or miss, no
 * frequency record; an expired entry is reclaimed. Returns 1 when found
 * live, else 0. */
static inline int dc_cache_entry_of(dc_cache *c, const unsigned char *key, uint32_t klen,
                                    uint32_t hash, uint64_t *version, double *expires)
{
    dc_shard *s = dc_cache_shard(c, hash);
    dc_entry *gone = NULL;
    dc_lock(&s->lock);
    dc_entry *e = dc_shard_peek(c, s, key, klen, hash, &gone);
    if (e) {
        *version = dc_entry_version(e);
        *expires = dc_entry_expires(e);
    }
    dc_unlock(&s->lock);
    free(gone);
    return e != NULL;
}

/* delete: 1 when a live entry was removed. */
static inline int dc_cache_delete(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash)
{
    dc_shard *s = dc_cache_shard(c, hash);
    dc_entry *gone = NULL;
    int removed = 0;
    dc_lock(&s->lock);
    dc_entry *e = dc_shard_peek(c, s, key, klen, hash, &gone);
    if (e) {
        dc_shard_unlink(c, s, e);
        s->deletes++;
        gone = e;
        removed = 1;
    }
    dc_unlock(&s->lock);
    free(gone);
    return removed;
}

static inline int dc_cache_contains(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash)
{
    dc_shard *s = dc_cache_shard(c, hash);
    dc_entry *gone = NULL;
    dc_lock(&s->lock);
    int found = dc_shard_peek(c, s, key, klen, hash, &gone) != NULL;
    dc_unlock(&s->lock);
    free(gone);
    return found;
}

static inline void dc_cache_clear(dc_cache *c)
{
    for (uint32_t i = 0; i < c->nshards; i++) {
        dc_shard *s = &c->shards[i];
        dc_entry *freelist = NULL;
        dc_lock(&s->lock);
        dc_entry *e;
        while ((e = dc_shard_victim(s)) != NULL) {
            dc_shard_unlink(c, s, e);
            e->next = freelist;
            freelist = e;
        }
        dc_unlock(&s->lock);
        dc_free_chain(freelist);
    }
}

static inline void dc_cache_free(dc_cache *c)
{
    if (!c->shards)
        return;
    for (uint32_t i = 0; i < c->nshards; i++) {
        dc_shard *s = &c->shards[i];
        dc_free_chain(s->head);
        dc_free_chain(s->phead);
        free(s->tags);
        free(s->slots);
    }
    free(c->shards);
    c->shards = NULL;
    if (c->freq) {
        dc_tinylfu_free(c->freq);
        free(c->freq);
        c->freq = NULL;
    }
}

static inline uint64_t dc_cache_count(dc_cache *c)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < c->nshards; i++)
        n += __atomic_load_n(&c->shards[i].count, __ATOMIC_RELAXED);
    return n;
}

static inline uint64_t dc_cache_nbytes(dc_cache *c)
{
    return __atomic_load_n(&c->nbytes, __ATOMIC_RELAXED);
}

/* Verifies index, lists and byte counts; returns NULL or what is broken.
 * Meant for quiescent caches (tests); takes each shard's lock in turn. */
static inline const char *dc_cache_check(dc_cache *c)
{
    uint64_t total = 0;
    const char *err = NULL;
    for (uint32_t i = 0; i < c->nshards && !err; i++) {
        dc_shard *s = &c->shards[i];
        dc_lock(&s->lock);
        uint64_t n = 0, bytes = 0, pbytes = 0;
        for (int seg = 0; seg < 2 && !err; seg++) {
            dc_entry *prev = NULL;
            uint16_t want = seg ? DC_PROTECTED : 0;
            if (seg && !c->admit && s->phead) { err = "protected entries in plain mode"; break; }
            for (dc_entry *e = seg ? s->phead : s->head; e; e = e->next) {
                if (e->prev != prev) { err = "list: prev link broken"; break; }
                if ((e->flags & DC_PROTECTED) != want) { err = "entry flag differs from its segment"; break; }
                if ((e->hash & c->mask) != i) { err = "entry in the wrong shard"; break; }
                if ((e->flags & DC_HAS_VERSION) && dc_entry_version(e) == 0) { err = "versioned entry holds version 0"; break; }
                if (e->hash != dc_fnv32a(dc_entry_key(e), e->klen)) { err = "entry hash is not fnv32a(key)"; break; }
                if (dc_shard_find(c, s, dc_entry_key(e), e->klen, e->hash) != e) { err = "list entry missing from index"; break; }
                n++;
                bytes += dc_entry_bytes(e);
                if (seg)
                    pbytes += dc_entry_bytes(e);
                prev = e;
                if (n > s->count) { err = "list longer than count"; break; }
            }
            if (!err && (seg ? s->ptail : s->tail) != prev) err = "tail is not the last entry";
        }
        if (!err && pbytes != s->pbytes) err = "protected bytes differ from entry sizes";
        if (!err && n != s->count) err = "count differs from list length";
        if (!err && bytes != s->bytes) err = "shard bytes differ from entry sizes";
        if (!err) {
            uint64_t live = 0;
            for (uint32_t j = 0; j <= s->smask && !err; j++) {
                uint32_t g = s->tags[j];
                if (g == DC_TAG_EMPTY)
                    continue;
                dc_entry *e = s->slots[j];
                if (dc_tag(e->hash) != g) err = "index tag differs from the entry's hash";
                /* every slot from the home up to j must be occupied */
                for (uint32_t k = dc_bucket_of(c, g, s->smask); !err && k != j; k = (k + 1) & s->smask)
                    if (s->tags[k] == DC_TAG_EMPTY) err = "entry unreachable from its home slot";
                live++;
            }
            if (!err && live != n) err = "index size differs from list length";
            if (!err && (uint64_t)s->count >= (uint64_t)s->smask + 1) err = "index has no empty slot";
        }
        total += bytes;
        dc_unlock(&s->lock);
    }
    if (!err && total != __atomic_load_n(&c->nbytes, __ATOMIC_RELAXED))
        err = "nbytes differs from the sum of entry sizes";
    if (!err && __atomic_load_n(&c->nbytes, __ATOMIC_RELAXED) > c->max_bytes)
        err = "nbytes exceeds max_bytes";
    return err;
}

#endif
