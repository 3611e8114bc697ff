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
 * docs/internals.md is the contract; distcache/_pycore.py implements the same.
 */
#ifndef DC_LRU_H
#define DC_LRU_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fnv.h"
#include "lock.h"

/* Bytes charged per entry on top of key and value: the 48-byte header, the
 * allocator's chunk overhead and rounding, and the index slot. */
#define DC_ENTRY_OVERHEAD 64
#define DC_MAX_KEY_LEN 65535
/* Cross-shard eviction compares the tails of this many non-empty shards. */
#define DC_VICTIM_SAMPLE 8

typedef struct dc_entry {
    struct dc_entry *prev;  /* towards the head (more recent) */
    struct dc_entry *next;  /* towards the tail (less recent) */
    struct dc_entry *hnext; /* hash chain */
    double expires;         /* monotonic seconds; 0 = never */
    uint32_t hash;          /* fnv32a of the key */
    uint32_t vlen;
    uint32_t stamp; /* the cache tick at the last set or hit */
    uint16_t klen;
    uint16_t flags;
    unsigned char data[]; /* key bytes, then value bytes */
} dc_entry;

typedef struct {
    dc_lock_t lock; /* guards every field below and the entries linked here */
    dc_entry *head, *tail;
    dc_entry **buckets;
    uint32_t bmask; /* number of buckets - 1 */
    uint32_t count;
    uint64_t bytes; /* sum of entry sizes in this shard (for invariants) */
    uint64_t hits, misses, sets, deletes, evictions, expirations, rejected;
} dc_shard;

typedef struct {
    dc_shard *shards;
    uint32_t nshards;
    uint32_t mask;
    uint32_t shard_bits;
    uint64_t max_bytes;
    uint64_t nbytes; /* atomic: reserved by CAS, released on unlink */
    uint32_t tick;   /* relaxed: a lost increment only blurs recency */
} dc_cache;

static inline uint64_t dc_entry_size(uint32_t klen, uint64_t vlen)
{
    return (uint64_t)klen + vlen + DC_ENTRY_OVERHEAD;
}

static inline uint64_t dc_entry_bytes(const dc_entry *e)
{
    return dc_entry_size(e->klen, e->vlen);
}

static inline const unsigned char *dc_entry_value(const dc_entry *e)
{
    return e->data + e->klen;
}

/* Expired at `now`; `*now` is read from the clock once, on first need. */
static inline int dc_entry_expired(const dc_entry *e, double *now)
{
    if (e->expires == 0.0)
        return 0;
    if (*now == 0.0)
        *now = dc_now();
    return *now >= e->expires;
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
        s->buckets = (dc_entry **)calloc(8, sizeof(dc_entry *));
        if (!s->buckets)
            return -1;
        s->bmask = 7;
    }
    return 0;
}

static inline dc_shard *dc_cache_shard(dc_cache *c, uint32_t hash)
{
    return &c->shards[hash & c->mask];
}

/* The bucket uses the hash bits the shard did not: rotate them to the bottom. */
static inline uint32_t dc_bucket_of(const dc_cache *c, uint32_t hash, uint32_t bmask)
{
    uint32_t b = c->shard_bits;
    uint32_t r = b ? (hash >> b) | (hash << (32 - b)) : hash;
    return r & bmask;
}

/* ------------------------------------------------ shard (lock held) */

static inline dc_entry *dc_shard_find(const dc_cache *c, const dc_shard *s, const unsigned char *key,
                                      uint32_t klen, uint32_t hash)
{
    dc_entry *e = s->buckets[dc_bucket_of(c, hash, s->bmask)];
    for (; e; e = e->hnext) {
        if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0)
            return e;
    }
    return NULL;
}

static inline void dc_shard_grow(const dc_cache *c, dc_shard *s)
{
    uint32_t nb = (s->bmask + 1) * 2;
    dc_entry **nbk = (dc_entry **)calloc(nb, sizeof(dc_entry *));
    if (!nbk)
        return; /* keep the old index: longer chains, still correct */
    for (uint32_t i = 0; i <= s->bmask; i++) {
        dc_entry *e = s->buckets[i];
        while (e) {
            dc_entry *nx = e->hnext;
            uint32_t b = dc_bucket_of(c, e->hash, nb - 1);
            e->hnext = nbk[b];
            nbk[b] = e;
            e = nx;
        }
    }
    free(s->buckets);
    s->buckets = nbk;
    s->bmask = nb - 1;
}

static inline void dc_list_unlink(dc_shard *s, dc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static inline void dc_list_push_head(dc_shard *s, dc_entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    else
        s->tail = e;
    s->head = e;
}

/* Makes `e` the most recent entry of its shard. */
static inline void dc_shard_touch(dc_cache *c, dc_shard *s, dc_entry *e)
{
    if (s->head != e) {
        dc_list_unlink(s, e);
        dc_list_push_head(s, e);
    }
    e->stamp = dc_cache_next_tick(c);
}

/* Removes `e` from index and list and releases its bytes; the caller frees
 * it (after unlocking, where it can). */
static inline void dc_shard_unlink(dc_cache *c, dc_shard *s, dc_entry *e)
{
    dc_entry **pp = &s->buckets[dc_bucket_of(c, e->hash, s->bmask)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    dc_list_unlink(s, e);
    s->count--;
    uint64_t sz = dc_entry_bytes(e);
    s->bytes -= sz;
    __atomic_fetch_sub(&c->nbytes, sz, __ATOMIC_RELAXED);
}

static inline void dc_shard_link(dc_cache *c, dc_shard *s, dc_entry *e)
{
    if (s->count >= s->bmask + 1)
        dc_shard_grow(c, s);
    uint32_t b = dc_bucket_of(c, e->hash, s->bmask);
    e->hnext = s->buckets[b];
    s->buckets[b] = e;
    dc_list_push_head(s, e);
    s->count++;
    s->bytes += dc_entry_bytes(e);
    e->stamp = dc_cache_next_tick(c);
}

/* Looks a key up as `get` does: counts a hit or a miss, reclaims an expired
 * entry (returned through *reclaimed for the caller to free), and makes a
 * hit the most recent entry. */
static inline dc_entry *dc_shard_get(dc_cache *c, dc_shard *s, const unsigned char *key, uint32_t klen,
                                     uint32_t hash, dc_entry **reclaimed)
{
    dc_entry *e = dc_shard_find(c, s, key, klen, hash);
    double now = 0.0;
    if (e && dc_entry_expired(e, &now)) {
        dc_shard_unlink(c, s, e);
        s->expirations++;
        *reclaimed = e;
        e = NULL;
    }
    if (!e) {
        s->misses++;
        return NULL;
    }
    s->hits++;
    dc_shard_touch(c, s, e);
    return e;
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

/* ------------------------------------------------ eviction and insert */

/* Evicts the oldest tail among the first DC_VICTIM_SAMPLE non-empty shards
 * after `own` (own's lock is held). Busy shards are skipped, never waited
 * for, so two inserting threads cannot deadlock. Returns the evicted entry
 * or NULL when nothing could be evicted right now. */
static inline dc_entry *dc_cache_evict_other(dc_cache *c, uint32_t own)
{
    uint32_t best = own, seen = 0;
    uint32_t best_stamp = 0;
    for (uint32_t j = 1; j < c->nshards && seen < DC_VICTIM_SAMPLE; j++) {
        uint32_t i = (own + j) & c->mask;
        dc_shard *o = &c->shards[i];
        if (__atomic_load_n(&o->count, __ATOMIC_RELAXED) == 0 || !dc_trylock(&o->lock))
            continue;
        if (o->tail) {
            uint32_t st = o->tail->stamp;
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
    dc_entry *v = o->tail;
    if (v) {
        dc_shard_unlink(c, o, v);
        o->evictions++;
    }
    dc_unlock(&o->lock);
    return v;
}

/* Reserves `size` bytes of the global budget, evicting as docs/internals.md
 * says; the lock of shard `si` is held. Evicted entries are chained through
 * hnext onto *freelist for the caller to free after unlocking. */
static inline void dc_cache_reserve(dc_cache *c, uint32_t si, uint64_t size, dc_entry **freelist)
{
    dc_shard *s = &c->shards[si];
    for (;;) {
        uint64_t cur = __atomic_load_n(&c->nbytes, __ATOMIC_RELAXED);
        if (cur + size <= c->max_bytes) {
            if (__atomic_compare_exchange_n(&c->nbytes, &cur, cur + size, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
                return;
            continue;
        }
        dc_entry *v;
        if (s->tail) {
            v = s->tail;
            dc_shard_unlink(c, s, v);
            s->evictions++;
        } else {
            v = dc_cache_evict_other(c, si);
            if (!v) {
                /* Other shards are busy (their owners are inserting and will
                 * evict from their own lists) or bytes are in flight. */
                sched_yield();
                continue;
            }
        }
        v->hnext = *freelist;
        *freelist = v;
    }
}

static inline void dc_free_chain(dc_entry *e)
{
    while (e) {
        dc_entry *nx = e->hnext;
        free(e);
        e = nx;
    }
}

/* Builds an entry outside any lock (malloc and copy are the slow part). */
static inline dc_entry *dc_entry_new(const unsigned char *key, uint32_t klen, uint32_t hash,
                                     const unsigned char *value, uint32_t vlen, double expires)
{
    dc_entry *e = (dc_entry *)malloc(sizeof(dc_entry) + (size_t)klen + vlen);
    if (!e)
        return NULL;
    e->prev = e->next = e->hnext = NULL;
    e->expires = expires;
    e->hash = hash;
    e->vlen = vlen;
    e->stamp = 0;
    e->klen = (uint16_t)klen;
    e->flags = 0;
    memcpy(e->data, key, klen);
    if (vlen)
        memcpy(e->data + klen, value, vlen);
    return e;
}

/* Stores a built entry (ownership passes to the cache). Returns 1. */
static inline int dc_cache_insert(dc_cache *c, dc_entry *e)
{
    uint32_t si = e->hash & c->mask;
    dc_shard *s = &c->shards[si];
    dc_entry *freelist = NULL;
    uint64_t size = dc_entry_bytes(e);
    dc_lock(&s->lock);
    dc_entry *old = dc_shard_find(c, s, e->data, e->klen, e->hash);
    if (old) {
        dc_shard_unlink(c, s, old);
        old->hnext = freelist;
        freelist = old;
    }
    dc_cache_reserve(c, si, size, &freelist);
    dc_shard_link(c, s, e);
    s->sets++;
    dc_unlock(&s->lock);
    dc_free_chain(freelist);
    return 1;
}

/* A set whose entry can never fit: drop the key's old value, count it. */
static inline void dc_cache_reject(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash)
{
    dc_shard *s = dc_cache_shard(c, hash);
    dc_lock(&s->lock);
    dc_entry *old = dc_shard_find(c, s, key, klen, hash);
    if (old)
        dc_shard_unlink(c, s, old);
    s->rejected++;
    dc_unlock(&s->lock);
    free(old);
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
        while (s->tail) {
            dc_entry *e = s->tail;
            dc_shard_unlink(c, s, e);
            e->hnext = freelist;
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
        dc_entry *e = s->head;
        while (e) {
            dc_entry *nx = e->next;
            free(e);
            e = nx;
        }
        free(s->buckets);
    }
    free(c->shards);
    c->shards = NULL;
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
        uint64_t n = 0, bytes = 0;
        dc_entry *prev = NULL;
        for (dc_entry *e = s->head; e; e = e->next) {
            if (e->prev != prev) { err = "list: prev link broken"; break; }
            if ((e->hash & c->mask) != i) { err = "entry in the wrong shard"; break; }
            if (e->hash != dc_fnv32a(e->data, e->klen)) { err = "entry hash is not fnv32a(key)"; break; }
            if (dc_shard_find(c, s, e->data, e->klen, e->hash) != e) { err = "list entry missing from index"; break; }
            n++;
            bytes += dc_entry_bytes(e);
            prev = e;
            if (n > s->count) { err = "list longer than count"; break; }
        }
        if (!err && s->tail != prev) err = "tail is not the last entry";
        if (!err && n != s->count) err = "count differs from list length";
        if (!err && bytes != s->bytes) err = "shard bytes differ from entry sizes";
        if (!err) {
            uint64_t indexed = 0;
            for (uint32_t b = 0; b <= s->bmask; b++)
                for (dc_entry *e = s->buckets[b]; e; e = e->hnext) {
                    if (dc_bucket_of(c, e->hash, s->bmask) != b) err = "entry in the wrong bucket";
                    indexed++;
                }
            if (!err && indexed != n) err = "index size differs from list length";
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
