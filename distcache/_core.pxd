# Every C declaration of the core, in one place (the uvloop `includes/` habit):
# _core.pyx and its .pxi files never spell a raw C call that is not declared here.
from libc.stdint cimport uint16_t, uint32_t, uint64_t


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL


cdef extern from "fnv.h" nogil:
    uint32_t dc_fnv32(const unsigned char *p, size_t n)
    uint32_t dc_fnv32a(const unsigned char *p, size_t n)
    uint64_t dc_fnv64a(const unsigned char *p, size_t n)
    uint64_t dc_hash64(const unsigned char *p, size_t n)


cdef extern from "lock.h" nogil:
    ctypedef struct dc_lock_t:
        pass
    void dc_lock(dc_lock_t *l)
    void dc_unlock(dc_lock_t *l)


cdef extern from "clock.h" nogil:
    double dc_now()


cdef extern from "lru.h" nogil:
    enum:
        DC_ENTRY_OVERHEAD
        DC_MAX_KEY_LEN
        DC_FORCE
        DC_IF_NEWER
        DC_NOT_NEWER

    ctypedef struct dc_entry:
        dc_entry *next
        uint32_t hash
        uint32_t vlen
        uint16_t klen

    ctypedef struct dc_shard:
        dc_lock_t lock
        dc_entry *head
        dc_entry *phead
        uint32_t count
        uint64_t hits, misses, sets, deletes, evictions, expirations, rejected
        uint64_t admission_rejects

    ctypedef struct dc_cache:
        dc_shard *shards
        uint32_t nshards
        uint32_t mask
        uint64_t max_bytes
        uint64_t nbytes
        dc_tinylfu *freq
        int admit

    uint64_t dc_entry_size(uint32_t klen, uint64_t vlen)
    const unsigned char *dc_entry_value(const dc_entry *e)
    const unsigned char *dc_entry_key(const dc_entry *e)
    int dc_entry_expired(const dc_entry *e, double *now)
    double dc_entry_expires(const dc_entry *e)
    uint64_t dc_entry_version(const dc_entry *e)
    int dc_cache_init(dc_cache *c, uint64_t max_bytes, uint32_t nshards)
    int dc_cache_track(dc_cache *c, uint64_t entries, int admit)
    void dc_cache_record(dc_cache *c, uint32_t hash, uint32_t klen)
    uint64_t dc_cache_record_start(dc_cache *c, uint32_t hash, uint32_t klen)
    void dc_cache_record_finish(dc_cache *c, uint64_t fh, uint32_t hash, uint32_t klen)
    void dc_cache_record_hit(dc_cache *c, dc_entry *e, uint64_t fh)
    void dc_cache_record_count(dc_cache *c)
    void dc_cache_free(dc_cache *c)
    dc_shard *dc_cache_shard(dc_cache *c, uint32_t hash)
    dc_entry *dc_shard_find(const dc_cache *c, const dc_shard *s, const unsigned char *key,
                            uint32_t klen, uint32_t hash)
    dc_entry *dc_shard_get(dc_cache *c, dc_shard *s, const unsigned char *key, uint32_t klen,
                           uint32_t hash, dc_entry **reclaimed)
    dc_entry *dc_shard_peek(dc_cache *c, dc_shard *s, const unsigned char *key, uint32_t klen,
                            uint32_t hash, dc_entry **reclaimed)
    dc_entry *dc_entry_new(const unsigned char *key, uint32_t klen, uint32_t hash,
                           const unsigned char *value, uint32_t vlen, double expires,
                           uint64_t version)
    int dc_cache_store(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash,
                       const unsigned char *value, uint32_t vlen, double expires, uint64_t version,
                       dc_entry *built, unsigned mode)
    void dc_cache_prefetch(dc_cache *c, uint32_t hash)
    int dc_cache_reject(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash,
                        uint64_t if_older_than)
    int dc_cache_holds_newer(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash,
                             uint64_t version)
    int dc_cache_entry_of(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash,
                          uint64_t *version, double *expires)
    int dc_cache_delete(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash)
    int dc_cache_contains(dc_cache *c, const unsigned char *key, uint32_t klen, uint32_t hash)
    void dc_cache_clear(dc_cache *c)
    uint64_t dc_cache_count(dc_cache *c)
    uint64_t dc_cache_nbytes(dc_cache *c)
    const char *dc_cache_check(dc_cache *c)


cdef extern from "tinylfu.h" nogil:
    ctypedef struct dc_tinylfu:
        uint64_t nblocks
        uint64_t sample
        uint64_t additions
        uint64_t halvings
    uint64_t dc_freq_hash(uint32_t fnv, uint32_t klen)
    unsigned dc_tinylfu_estimate(const dc_tinylfu *t, uint64_t h)


cdef extern from "bloom.h" nogil:
    ctypedef struct dc_bloom:
        uint64_t *words
        uint64_t nbits
        uint32_t nhashes
    int dc_bloom_init(dc_bloom *b, uint64_t nbits, uint32_t nhashes)
    void dc_bloom_free(dc_bloom *b)
    int dc_bloom_add(dc_bloom *b, uint64_t h)
    int dc_bloom_contains(const dc_bloom *b, uint64_t h)
    void dc_bloom_clear(dc_bloom *b)
    uint64_t dc_bloom_bits_set(const dc_bloom *b)


cdef extern from "sketch.h" nogil:
    ctypedef struct dc_sketch:
        uint32_t *counters
        uint64_t width
        uint32_t depth
        uint64_t total
        uint64_t halve_every
        uint64_t halvings
    int dc_sketch_init(dc_sketch *s, uint64_t width, uint32_t depth, uint64_t halve_every)
    void dc_sketch_free(dc_sketch *s)
    uint32_t dc_sketch_estimate(const dc_sketch *s, uint64_t h)
    uint32_t dc_sketch_add(dc_sketch *s, uint64_t h, uint32_t count)
    void dc_sketch_halve(dc_sketch *s)
    void dc_sketch_clear(dc_sketch *s)


# Needs the GIL (it holds references to key objects), unlike the headers above.
cdef extern from "memo.h":
    uint32_t dc_memo_fnv32a(object key, const unsigned char *p, size_t n)
    uint32_t dc_memo_peek_fnv32a(object key, const unsigned char *p, size_t n)


cdef extern from "count.h":
    void DC_COUNT(uint64_t x) nogil
    bint DC_SAMPLING
