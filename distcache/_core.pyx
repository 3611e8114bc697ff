# cython: freethreading_compatible=True
"""The C core of distcache: LRUCache, BloomFilter, CountMinSketch, FNV hashes.

A thin object layer over csrc/*.h (declared in _core.pxd). The contract is
docs/internals.md; distcache/_pycore.py is the pure-Python twin.
"""

import math

from distcache import _contract

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_CheckBuffer, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_Check, PyUnicode_CheckExact, PyUnicode_DecodeUTF8
from libc.stdint cimport uint32_t, uint64_t, UINT32_MAX
from libc.stdlib cimport free
from libc.string cimport memcpy, memset


ENTRY_OVERHEAD = DC_ENTRY_OVERHEAD
MAX_KEY_LEN = DC_MAX_KEY_LEN
IMPLEMENTATION = "c"

# A single get copies values of this size or more with the GIL released: at
# 32 KiB the memcpy (~1-2 us) dwarfs the ~100 ns of dropping and retaking the
# GIL. Smaller values are copied with the GIL held (docs/optimization.md).
cdef enum:
    LARGE_VALUE = 32768
# get_many copies values of this size or more without the GIL (one hand-off
# per batch); smaller ones it copies at once, as get does.
cdef enum:
    BATCH_VALUE = 4096

cdef double _INF = float("inf")

cimport cython
from cpython.ref cimport PyObject

# The FNV-1a of a key object seen a moment ago. FNV's byte-serial multiply
# chain is ~17 ns of a ~50 ns hit for a 16-byte key; when the caller passes
# the same str or bytes object again (a key held in a variable, a constant, an
# interned name), the memo answers from a 1024-slot table indexed by the
# object's address. It holds a strong reference to each remembered key, so an
# identity match is exact: the object cannot have been freed and its address
# reused, and exact str/bytes are immutable. With the GIL disabled the table
# would be a data race, so free-threaded builds hash every time.
cdef extern from *:
    """
    #include <Python.h>
    #include <stdint.h>
    #include "fnv.h"
    typedef struct { PyObject *key; uint32_t hash; } dc_memo_slot;
    static dc_memo_slot dc_memo[1024];
    static inline uint32_t dc_memo_fnv32a_(PyObject *key, const unsigned char *p, size_t n, int remember)
    {
    #ifdef Py_GIL_DISABLED
        (void)key;
        return dc_fnv32a(p, n);
    #else
        /* Only short keys: the memo pins its keys, and 1024 keys of up to
         * 256 bytes pin at most 256 KiB (64 KiB keys could pin 64 MiB). */
        if (n > 256 || (!PyUnicode_CheckExact(key) && !PyBytes_CheckExact(key)))
            return dc_fnv32a(p, n);
        /* Fibonacci hashing of the address: pymalloc places same-size
         * objects at the same offsets in every 16 KiB pool, so low bits
         * alone would use a fifth of the slots. */
        dc_memo_slot *m = &dc_memo[((uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull) >> 54];
        if (m->key == key)
            return m->hash;
        uint32_t h = dc_fnv32a(p, n);
        if (!remember)
            return h;
        PyObject *old = m->key;
        Py_INCREF(key);
        m->key = key;
        m->hash = h;
        Py_XDECREF(old);
        return h;
    #endif
    }
    /* Reads remember what they hash; writes only look: a set's key object is
     * rarely passed again, and replacing a slot costs a DECREF of an old key
     * (a cache miss) on every set of a fresh key. */
    #define dc_memo_fnv32a(key, p, n) dc_memo_fnv32a_((key), (p), (n), 1)
    #define dc_memo_peek_fnv32a(key, p, n) dc_memo_fnv32a_((key), (p), (n), 0)
    """
    uint32_t dc_memo_fnv32a(object key, const unsigned char *p, size_t n)
    uint32_t dc_memo_peek_fnv32a(object key, const unsigned char *p, size_t n)




cdef struct View:
    const unsigned char *ptr
    Py_ssize_t len
    bint has_buf
    Py_buffer buf


cdef inline int _key_view(object key, View *v) except -1:
    """Points v at the key's bytes: UTF-8 of a str, or a bytes-like buffer."""
    v.has_buf = False
    if PyBytes_CheckExact(key):
        v.ptr = <const unsigned char *>PyBytes_AS_STRING(key)
        v.len = PyBytes_GET_SIZE(key)
    elif PyUnicode_Check(key):
        v.ptr = <const unsigned char *>PyUnicode_AsUTF8AndSize(key, &v.len)
    elif PyObject_CheckBuffer(key):
        _get_buffer(key, v, "key must be str or bytes-like")
    else:
        raise TypeError(f"key must be str or bytes-like, not {type(key).__name__}")
    if v.len > DC_MAX_KEY_LEN:
        _release(v)
        raise ValueError(f"key is {v.len} bytes; the limit is {DC_MAX_KEY_LEN}")
    return 0


cdef inline int _text_key(object key, View *k) except -1:
    """A bytes key (k its view) must be UTF-8, as a hit path's miss path is given
    text: UnicodeDecodeError before the lookup, so that nothing is counted."""
    if not PyUnicode_Check(key):
        PyUnicode_DecodeUTF8(<const char *>k.ptr, k.len, NULL)
    return 0


cdef inline int _value_view(object value, View *v) except -1:
    """Points v at a bytes-like value's bytes."""
    v.has_buf = False
    if PyBytes_CheckExact(value):
        v.ptr = <const unsigned char *>PyBytes_AS_STRING(value)
        v.len = PyBytes_GET_SIZE(value)
    elif PyObject_CheckBuffer(value) and not PyUnicode_Check(value):
        _get_buffer(value, v, "value must be bytes-like")
    else:
        raise TypeError(f"value must be bytes-like, not {type(value).__name__}")
    if <uint64_t>v.len > UINT32_MAX:
        _release(v)
        raise ValueError(f"value is {v.len} bytes; the limit is {UINT32_MAX}")
    return 0


cdef int _get_buffer(object obj, View *v, str what) except -1:
    """Points v at a C-contiguous buffer; any other buffer is a TypeError."""
    try:
        PyObject_GetBuffer(obj, &v.buf, PyBUF_SIMPLE)
    except BufferError:
        raise TypeError(f"{what} (C-contiguous), not a non-contiguous "
                        f"{type(obj).__name__}") from None
    v.has_buf = True
    v.ptr = <const unsigned char *>v.buf.buf
    v.len = v.buf.len
    return 0


cdef inline void _release(View *v) noexcept:
    if v.has_buf:
        PyBuffer_Release(&v.buf)
        v.has_buf = False


cdef inline double _ttl_seconds(object ttl, str what) except -1.0:
    """A validated ttl: seconds > 0, or 0.0 for no expiry (None or inf)."""
    if ttl is None:
        return 0.0
    cdef double t
    # Floats and small ints are checked inline (a set with a ttl is common);
    # anything else, and every error, goes through the shared rule.
    if type(ttl) is float:
        t = ttl
    elif type(ttl) is int and 0 < ttl < 2**53:
        t = ttl
    else:
        t = _contract.check_ttl(ttl, what)
    if not t > 0.0:  # zero, negative or NaN
        _contract.check_ttl(ttl, what)
    if t == _INF:
        return 0.0
    return t


_default_shards = _contract.default_shards


cdef class _CoreObject:
    """What every core type shares: it owns C memory and locks, so no copies or pickles."""

    def __copy__(self):
        _contract.refuse_copy(self)

    def __deepcopy__(self, memo):
        _contract.refuse_copy(self)

    def __reduce_ex__(self, protocol):
        _contract.refuse_copy(self)


cdef class LRUCache(_CoreObject):
    """A byte-budgeted LRU cache of bytes values in C memory, split into shards."""

    # c.shards is NULL until __init__ has run: every method checks it
    # (_ready), so an instance made by __new__ alone raises instead of
    # dereferencing it.
    cdef dc_cache c
    cdef double _default_ttl  # 0.0 = no expiry
    cdef readonly object default_ttl
    cdef readonly object admission

    def __cinit__(self, *args, **kwargs):
        # Construction is __init__'s, so that subclasses may have signatures
        # of their own and call super().__init__() as with any class.
        memset(&self.c, 0, sizeof(dc_cache))

    def __init__(self, max_bytes, default_ttl=None, *, shards=None, admission=None,
                 track_frequency=False):
        if self.c.shards != NULL:
            _contract.already_initialised(self)
        max_bytes = _contract.check_max_bytes(max_bytes)
        shards = _contract.check_shards(shards, max_bytes)
        cdef double default_seconds = _ttl_seconds(default_ttl, "default_ttl")
        _contract.check_admission(admission)
        cdef dc_cache c
        if dc_cache_init(&c, <uint64_t>max_bytes, <uint32_t>shards) < 0:
            dc_cache_free(&c)
            raise MemoryError()
        if admission is not None or track_frequency:
            if dc_cache_track(&c, _contract.tracked_entries(max_bytes), admission is not None) < 0:
                dc_cache_free(&c)
                raise MemoryError()
        self._default_ttl = default_seconds
        self.default_ttl = default_ttl
        self.admission = admission
        self.c = c

    def __dealloc__(self):
        dc_cache_free(&self.c)

    @cython.final
    cdef inline int _ready(self) except -1:
        if self.c.shards == NULL:
            _contract.not_initialised(self)
        return 0

    def __iter__(self):
        _contract.refuse_iter(self)


    @cython.final
    cdef inline double _expires(self, object ttl) except -1.0:
        cdef double t = self._default_ttl if ttl is None else _ttl_seconds(ttl, "ttl")
        return dc_now() + t if t > 0.0 else 0.0

    # ------------------------------------------------------------- reads

    @cython.final
    cdef object _get(self, object key, View *k, object default):
        return self._lookup(key, k, default, 0.0, NULL)

    @cython.final
    cdef inline object _lookup(self, object key, View *k, object default, double window,
                               bint *stale):
        """get's lookup; with window > 0, *stale says whether the entry expires within it."""
        self._ready()
        cdef uint32_t h = dc_memo_fnv32a(key, k.ptr, k.len)
        cdef dc_shard *s = dc_cache_shard(&self.c, h)
        cdef dc_entry *gone = NULL
        cdef dc_entry *e
        cdef object result = default
        cdef uint32_t n = 0
        cdef double expires
        cdef bint hit = False
        cdef uint64_t fh = dc_cache_record_start(&self.c, h, <uint32_t>k.len)
        dc_lock(&s.lock)
        try:
            e = dc_shard_get(&self.c, s, k.ptr, <uint32_t>k.len, h, &gone)
            if e != NULL:
                hit = True
                dc_cache_record_hit(&self.c, e, fh)
                if window > 0.0:
                    expires = dc_entry_expires(e)
                    stale[0] = expires != 0.0 and dc_now() >= expires - window
                if e.vlen < LARGE_VALUE:
                    result = PyBytes_FromStringAndSize(<char *>dc_entry_value(e), e.vlen)
                else:
                    n = e.vlen
        finally:
            dc_unlock(&s.lock)
        if hit:
            dc_cache_record_count(&self.c)
        else:
            dc_cache_record_finish(&self.c, fh, h, <uint32_t>k.len)
        free(gone)
        if n:
            return self._copy_large(k, h, n, default)
        return result

    def _get_aged(self, key, double window):
        """(value, stale) of key, or None; stale: it expires within window seconds.

        What a stale-while-revalidate hit path reads: the entry of a group
        with stale_ttl lives ttl + stale_ttl, and its last window is stale.
        """
        cdef View k
        cdef bint stale = False
        if not window > 0.0:
            raise ValueError(f"window must be > 0, not {window!r}")
        _key_view(key, &k)
        try:
            v = self._lookup(key, &k, None, window, &stale)
        finally:
            _release(&k)
        return None if v is None else (v, stale)

    @cython.final
    cdef object _copy_large(self, View *k, uint32_t h, uint32_t n, object default):
        """Copies a value of n bytes found a moment ago, with the GIL released."""
        cdef dc_shard *s = dc_cache_shard(&self.c, h)
        cdef dc_entry *gone = NULL
        cdef dc_entry *e
        cdef bint copied = False
        cdef object result
        cdef char *dst
        while True:
            result = PyBytes_FromStringAndSize(NULL, n)
            dst = PyBytes_AS_STRING(result)
            with nogil:
                dc_lock(&s.lock)
                # A raw find: the hit was counted a moment ago, when the entry
                # was live; it is copied even if it expired since.
                e = dc_shard_find(&self.c, s, k.ptr, <uint32_t>k.len, h)
                if e != NULL:
                    if e.vlen == n:
                        memcpy(dst, dc_entry_value(e), n)
                        copied = True
                    else:
                        n = e.vlen
                dc_unlock(&s.lock)
                free(gone)
                gone = NULL
            if copied:
                return result
            if e == NULL:  # deleted meanwhile: absent now
                return default
            if n < LARGE_VALUE:  # replaced by a small value: copy under the lock
                return self._peek_copy(k, h, default)

    @cython.final
    cdef object _peek_copy(self, View *k, uint32_t h, object default):
        """The value as it is now, without counting or touching (GIL held)."""
        cdef dc_shard *s = dc_cache_shard(&self.c, h)
        cdef dc_entry *gone = NULL
        cdef dc_entry *e
        cdef object result = default
        dc_lock(&s.lock)
        try:
            e = dc_shard_peek(&self.c, s, k.ptr, <uint32_t>k.len, h, &gone)
            if e != NULL:
                result = PyBytes_FromStringAndSize(<char *>dc_entry_value(e), e.vlen)
        finally:
            dc_unlock(&s.lock)
        free(gone)
        return result

    def get(self, key, default=None, /):
        """The value of key as bytes, or default."""
        cdef View k
        _key_view(key, &k)
        if not k.has_buf:
            return self._get(key, &k, default)
        try:
            return self._get(key, &k, default)
        finally:
            _release(&k)

    def _get_nogil(self, key, default=None):
        """get, with the GIL released around the lookup and the copy.

        Kept for the measurement in docs/optimization.md: single-key gets hold
        the GIL because releasing it per ~50 ns operation costs more.
        """
        cdef View k
        cdef uint32_t h
        cdef dc_shard *s
        cdef dc_entry *gone = NULL
        cdef dc_entry *e
        cdef uint32_t n = 0
        cdef bint found = False
        self._ready()
        _key_view(key, &k)
        try:
            with nogil:
                h = dc_fnv32a(k.ptr, k.len)
                s = dc_cache_shard(&self.c, h)
                dc_cache_record(&self.c, h, <uint32_t>k.len)
                dc_lock(&s.lock)
                e = dc_shard_get(&self.c, s, k.ptr, <uint32_t>k.len, h, &gone)
                if e != NULL:
                    found = True
                    n = e.vlen
                dc_unlock(&s.lock)
                free(gone)
            if not found:
                return default
            return self._copy_large(&k, h, n, default)
        finally:
            _release(&k)

    def __getitem__(self, key):
        cdef View k
        _key_view(key, &k)
        try:
            result = self._get(key, &k, _MISSING)
        finally:
            _release(&k)
        if result is _MISSING:
            raise KeyError(key)
        return result

    def __contains__(self, key):
        cdef View k
        self._ready()
        _key_view(key, &k)
        try:
            return bool(dc_cache_contains(&self.c, k.ptr, <uint32_t>k.len,
                                          dc_memo_fnv32a(key, k.ptr, k.len)))
        finally:
            _release(&k)

    def get_many(self, keys):
        """A dict of the keys found, keyed by the key objects as given."""
        self._ready()
        cdef list ks = list(keys)
        cdef Py_ssize_t n = len(ks), i, nviews = 0
        cdef dict out = {}
        if n == 0:
            return out
        cdef View *views = <View *>PyMem_Malloc(n * sizeof(View))
        cdef uint32_t *hashes = <uint32_t *>PyMem_Malloc(n * sizeof(uint32_t))
        cdef long long *vlens = <long long *>PyMem_Malloc(n * sizeof(long long))
        cdef char **dsts = <char **>PyMem_Malloc(n * sizeof(char *))
        cdef list objs = [None] * n
        cdef dc_shard *s
        cdef dc_entry *e
        cdef dc_entry *gone
        cdef uint64_t pending = 0
        try:
            if not views or not hashes or not vlens or not dsts:
                raise MemoryError()
            # Every key is checked before any is looked up: a key that cannot
            # key the result dict (a bytearray) must not count a hit first.
            for i in range(n):
                _key_view(ks[i], &views[i])
                nviews += 1
                if not PyBytes_CheckExact(ks[i]) and not PyUnicode_Check(ks[i]):
                    try:
                        hash(ks[i])
                    except (TypeError, ValueError):  # ValueError: a writable memoryview
                        _contract.unhashable_key(ks[i])
            # Pass 1, GIL held: what get does for each key, copying values
            # under BATCH_VALUE at once; larger ones are only sized here.
            for i in range(n):
                hashes[i] = dc_memo_fnv32a(ks[i], views[i].ptr, views[i].len)
                s = dc_cache_shard(&self.c, hashes[i])
                dc_cache_record(&self.c, hashes[i], <uint32_t>views[i].len)
                gone = NULL
                vlens[i] = -1
                dc_lock(&s.lock)
                try:
                    e = dc_shard_get(&self.c, s, views[i].ptr, <uint32_t>views[i].len, hashes[i], &gone)
                    if e != NULL:
                        if e.vlen < BATCH_VALUE:
                            objs[i] = PyBytes_FromStringAndSize(<char *>dc_entry_value(e), e.vlen)
                        else:
                            vlens[i] = e.vlen
                            pending += e.vlen
                finally:
                    dc_unlock(&s.lock)
                free(gone)
            if pending:
                # Pass 2: allocate the large results with the GIL, then copy
                # into them without it: one GIL hand-off per batch, however
                # many values (four hand-offs made two threads a convoy).
                for i in range(n):
                    if vlens[i] >= 0:
                        objs[i] = PyBytes_FromStringAndSize(NULL, vlens[i])
                        dsts[i] = PyBytes_AS_STRING(objs[i])
                with nogil:
                    for i in range(n):
                        if vlens[i] < 0:
                            continue
                        s = dc_cache_shard(&self.c, hashes[i])
                        gone = NULL
                        dc_lock(&s.lock)
                        # A raw find: the hit was counted in pass 1, when the
                        # entry was live; it is copied even if it expired since.
                        e = dc_shard_find(&self.c, s, views[i].ptr, <uint32_t>views[i].len, hashes[i])
                        if e != NULL and e.vlen == vlens[i]:
                            memcpy(dsts[i], dc_entry_value(e), e.vlen)
                        else:
                            vlens[i] = -2  # changed meanwhile: take it as it is now
                        dc_unlock(&s.lock)
                        free(gone)
                for i in range(n):
                    if vlens[i] == -2:
                        objs[i] = self._peek_copy(&views[i], hashes[i], None)
            for i in range(n):
                if objs[i] is not None:
                    out[ks[i]] = objs[i]
            return out
        finally:
            for i in range(nviews):
                _release(&views[i])
            PyMem_Free(views)
            PyMem_Free(hashes)
            PyMem_Free(vlens)
            PyMem_Free(dsts)

    # ------------------------------------------------------------ writes

    @cython.final
    cdef bint _store(self, object key, View *k, View *v, double expires, bint force) except -1:
        cdef uint32_t h = dc_memo_peek_fnv32a(key, k.ptr, k.len)
        cdef dc_entry *e
        cdef int rc
        dc_cache_prefetch(&self.c, h)
        if dc_entry_size(<uint32_t>k.len, <uint64_t>v.len) > self.c.max_bytes:
            dc_cache_reject(&self.c, k.ptr, <uint32_t>k.len, h)
            return False
        e = NULL
        if v.len >= LARGE_VALUE:
            with nogil:
                e = dc_entry_new(k.ptr, <uint32_t>k.len, h, v.ptr, <uint32_t>v.len, expires)
            if e == NULL:
                raise MemoryError()
        rc = dc_cache_store(&self.c, k.ptr, <uint32_t>k.len, h, v.ptr, <uint32_t>v.len, expires, e,
                            force)
        if rc < 0:
            raise MemoryError()
        return rc == 0

    def set(self, key, value, ttl=None, *, force=False):
        """Stores a copy of value under key; False when not stored.

        False when the entry is larger than the whole budget, or when TinyLFU
        admission refused a new key; force=True stores past admission.
        """
        cdef View k, v
        cdef double expires
        self._ready()
        _key_view(key, &k)
        try:
            _value_view(value, &v)
            try:
                expires = self._expires(ttl)
                return self._store(key, &k, &v, expires, force)
            finally:
                _release(&v)
        finally:
            _release(&k)

    def __setitem__(self, key, value):
        self.set(key, value)

    def set_many(self, mapping, ttl=None, *, force=False):
        """set for every item; validates every item before storing any."""
        self._ready()
        cdef list items = _contract.items_of(mapping)
        cdef bint forced = force
        cdef Py_ssize_t n = len(items), i, nk = 0, nv = 0
        cdef double expires
        if n == 0:
            self._expires(ttl)  # still validated
            return
        cdef View *kv = <View *>PyMem_Malloc(n * sizeof(View))
        cdef View *vv = <View *>PyMem_Malloc(n * sizeof(View))
        cdef uint32_t h
        cdef dc_entry *e
        cdef int rc
        cdef bint oom = False
        try:
            if not kv or not vv:
                raise MemoryError()
            for i in range(n):
                _key_view(items[i][0], &kv[i])
                nk += 1
                _value_view(items[i][1], &vv[i])
                nv += 1
            expires = self._expires(ttl)
            with nogil:
                for i in range(n):
                    h = dc_fnv32a(kv[i].ptr, kv[i].len)
                    if dc_entry_size(<uint32_t>kv[i].len, <uint64_t>vv[i].len) > self.c.max_bytes:
                        dc_cache_reject(&self.c, kv[i].ptr, <uint32_t>kv[i].len, h)
                        continue
                    rc = dc_cache_store(&self.c, kv[i].ptr, <uint32_t>kv[i].len, h, vv[i].ptr,
                                        <uint32_t>vv[i].len, expires, NULL, forced)
                    if rc < 0:
                        oom = True
                        break
            if oom:
                raise MemoryError()
        finally:
            for i in range(nk):
                _release(&kv[i])
            for i in range(nv):
                _release(&vv[i])
            PyMem_Free(kv)
            PyMem_Free(vv)

    def delete(self, key):
        """Removes key; True when a live entry was there."""
        cdef View k
        self._ready()
        _key_view(key, &k)
        try:
            return bool(dc_cache_delete(&self.c, k.ptr, <uint32_t>k.len,
                                        dc_memo_fnv32a(key, k.ptr, k.len)))
        finally:
            _release(&k)

    def __delitem__(self, key):
        if not self.delete(key):
            raise KeyError(key)

    def clear(self):
        """Removes every entry; the counters stay."""
        self._ready()
        with nogil:
            dc_cache_clear(&self.c)

    # ------------------------------------------------------------ figures

    def __len__(self):
        self._ready()
        return dc_cache_count(&self.c)

    @property
    def nbytes(self):
        """Bytes charged for the stored entries (key + value + ENTRY_OVERHEAD each)."""
        self._ready()
        return dc_cache_nbytes(&self.c)

    @property
    def max_bytes(self):
        """The byte budget."""
        self._ready()
        return self.c.max_bytes

    @property
    def shards(self):
        """The number of shards."""
        self._ready()
        return self.c.nshards

    def stats(self):
        """Counters and sizes as a dict."""
        cdef uint64_t t[8]
        cdef uint64_t items = 0
        cdef uint32_t i
        cdef dc_shard *s
        self._ready()
        memset(t, 0, sizeof(t))
        for i in range(self.c.nshards):
            s = &self.c.shards[i]
            dc_lock(&s.lock)
            t[0] += s.hits
            t[1] += s.misses
            t[2] += s.sets
            t[3] += s.deletes
            t[4] += s.evictions
            t[5] += s.expirations
            t[6] += s.rejected
            t[7] += s.admission_rejects
            items += s.count
            dc_unlock(&s.lock)
        return {
            "hits": t[0], "misses": t[1], "sets": t[2], "deletes": t[3],
            "evictions": t[4], "expirations": t[5], "rejected": t[6],
            "admission_rejects": t[7],
            "items": items, "nbytes": dc_cache_nbytes(&self.c), "max_bytes": self.c.max_bytes,
        }

    def frequency(self, key):
        """The estimated recent access count of key (TinyLFU's estimate)."""
        cdef View k
        self._ready()
        if self.c.freq == NULL:
            raise ValueError("this cache tracks no frequencies: create it with "
                             "admission='tinylfu' or track_frequency=True")
        _key_view(key, &k)
        try:
            return dc_tinylfu_estimate(self.c.freq, dc_freq_hash(dc_fnv32a(k.ptr, k.len), <uint32_t>k.len))
        finally:
            _release(&k)

    @property
    def tracks_frequency(self):
        """Whether every get and set feeds a frequency estimate."""
        self._ready()
        return self.c.freq != NULL

    def frequency_stats(self):
        """The frequency estimate's figures (sample, additions, halvings), or None."""
        self._ready()
        if self.c.freq == NULL:
            return None
        return {"sample": self.c.freq.sample, "additions": self.c.freq.additions,
                "halvings": self.c.freq.halvings}

    def _check_invariants(self):
        """Verifies index, lists and byte counts (debug; quiescent caches)."""
        self._ready()
        cdef const char *err = dc_cache_check(&self.c)
        if err != NULL:
            raise AssertionError((<bytes>err).decode())

    def __repr__(self):
        if self.c.shards == NULL:
            return "<LRUCache (not initialised)>"
        return (f"<LRUCache items={len(self)} nbytes={self.nbytes} "
                f"max_bytes={self.max_bytes} shards={self.shards}>")


cdef object _MISSING = object()


# ------------------------------------------------------------------ bloom


cdef class BloomFilter(_CoreObject):
    """A bloom filter of bytes keys with bits in C memory; thread-safe."""

    # b.words is NULL until __init__ has run (see LRUCache).
    cdef dc_bloom b
    cdef readonly object capacity
    cdef readonly double error_rate

    def __cinit__(self, *args, **kwargs):
        self.b.words = NULL

    def __init__(self, capacity, error_rate=0.01):
        if self.b.words != NULL:
            _contract.already_initialised(self)
        nbits, nhashes, rate = _contract.bloom_geometry(capacity, error_rate)
        if dc_bloom_init(&self.b, nbits, nhashes) < 0:
            raise MemoryError()
        self.capacity = capacity
        self.error_rate = rate

    def __dealloc__(self):
        dc_bloom_free(&self.b)

    @cython.final
    cdef inline int _ready(self) except -1:
        if self.b.words == NULL:
            _contract.not_initialised(self)
        return 0


    def add(self, key):
        """Adds key; True when it was (possibly) there already."""
        cdef View k
        self._ready()
        _key_view(key, &k)
        try:
            return bool(dc_bloom_add(&self.b, dc_hash64(k.ptr, k.len)))
        finally:
            _release(&k)

    def __contains__(self, key):
        cdef View k
        self._ready()
        _key_view(key, &k)
        try:
            return bool(dc_bloom_contains(&self.b, dc_hash64(k.ptr, k.len)))
        finally:
            _release(&k)

    def add_many(self, keys):
        """Adds every key; validates them all first, so a bad one adds none."""
        self._ready()
        cdef list ks = list(keys)
        cdef Py_ssize_t n = len(ks), i, nviews = 0
        if n == 0:
            return
        cdef View *views = <View *>PyMem_Malloc(n * sizeof(View))
        try:
            if not views:
                raise MemoryError()
            for i in range(n):
                _key_view(ks[i], &views[i])
                nviews += 1
            with nogil:
                for i in range(n):
                    dc_bloom_add(&self.b, dc_hash64(views[i].ptr, views[i].len))
        finally:
            for i in range(nviews):
                _release(&views[i])
            PyMem_Free(views)

    def clear(self):
        """Unsets every bit."""
        self._ready()
        dc_bloom_clear(&self.b)

    @property
    def nbits(self):
        """Size of the bit array."""
        self._ready()
        return self.b.nbits

    @property
    def nhashes(self):
        """Bits set per key."""
        self._ready()
        return self.b.nhashes

    @property
    def bits_set(self):
        """Bits currently set."""
        self._ready()
        return dc_bloom_bits_set(&self.b)

    @property
    def approx_count(self):
        """Estimated number of distinct keys added."""
        self._ready()
        cdef uint64_t x = dc_bloom_bits_set(&self.b)
        if x >= self.b.nbits:
            return self.b.nbits
        nbits = float(self.b.nbits)
        return round(-(nbits / self.b.nhashes) * math.log(1 - x / nbits))

    @property
    def estimated_fp_rate(self):
        """The false-positive rate at the current fill."""
        self._ready()
        return (dc_bloom_bits_set(&self.b) / float(self.b.nbits)) ** self.b.nhashes

    def __repr__(self):
        if self.b.words == NULL:
            return "<BloomFilter (not initialised)>"
        return f"<BloomFilter capacity={self.capacity} nbits={self.nbits} nhashes={self.nhashes}>"


# ----------------------------------------------------------------- sketch


cdef class CountMinSketch(_CoreObject):
    """A count-min sketch (conservative update, periodic halving); thread-safe."""

    # s.counters is NULL until __init__ has run (see LRUCache).
    cdef dc_sketch s

    def __cinit__(self, *args, **kwargs):
        self.s.counters = NULL

    def __init__(self, width, depth=4, *, halve_every=0):
        if self.s.counters != NULL:
            _contract.already_initialised(self)
        w, d, every = _contract.sketch_geometry(width, depth, halve_every)
        if dc_sketch_init(&self.s, w, d, every) < 0:
            raise MemoryError()

    def __dealloc__(self):
        dc_sketch_free(&self.s)

    @cython.final
    cdef inline int _ready(self) except -1:
        if self.s.counters == NULL:
            _contract.not_initialised(self)
        return 0


    def add(self, key, count=1):
        """Adds count to key; returns its estimate afterwards."""
        cdef View k
        self._ready()
        _contract.check_count(count)
        _key_view(key, &k)
        try:
            return dc_sketch_add(&self.s, dc_hash64(k.ptr, k.len), <uint32_t>count)
        finally:
            _release(&k)

    def estimate(self, key):
        """The estimated count of key (never below the true count)."""
        cdef View k
        self._ready()
        _key_view(key, &k)
        try:
            return dc_sketch_estimate(&self.s, dc_hash64(k.ptr, k.len))
        finally:
            _release(&k)

    def halve(self):
        """Halves every counter (ageing)."""
        self._ready()
        dc_sketch_halve(&self.s)

    def clear(self):
        """Zeroes every counter."""
        self._ready()
        dc_sketch_clear(&self.s)

    @property
    def width(self):
        """Counters per row (a power of two)."""
        self._ready()
        return self.s.width

    @property
    def depth(self):
        """Rows."""
        self._ready()
        return self.s.depth

    @property
    def total(self):
        """Additions since the last halving."""
        self._ready()
        return self.s.total

    @property
    def halvings(self):
        """Halvings so far."""
        self._ready()
        return self.s.halvings

    @property
    def halve_every(self):
        """Additions between halvings (0 = never)."""
        self._ready()
        return self.s.halve_every

    def __repr__(self):
        if self.s.counters == NULL:
            return "<CountMinSketch (not initialised)>"
        return f"<CountMinSketch width={self.width} depth={self.depth} total={self.total}>"


# ----------------------------------------------------------------- hashes


cdef inline int _key_view_any(object data, View *v) except -1:
    """Like _key_view, without the key-length limit."""
    v.has_buf = False
    if PyBytes_CheckExact(data):
        v.ptr = <const unsigned char *>PyBytes_AS_STRING(data)
        v.len = PyBytes_GET_SIZE(data)
    elif PyUnicode_Check(data):
        v.ptr = <const unsigned char *>PyUnicode_AsUTF8AndSize(data, &v.len)
    elif PyObject_CheckBuffer(data):
        _get_buffer(data, v, "data must be str or bytes-like")
    else:
        raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")
    return 0


def fnv32(data):
    """FNV-1 32-bit hash of data (str as UTF-8, or bytes-like)."""
    cdef View v
    _key_view_any(data, &v)
    try:
        return dc_fnv32(v.ptr, v.len)
    finally:
        _release(&v)


def fnv32a(data):
    """FNV-1a 32-bit hash of data (str as UTF-8, or bytes-like)."""
    cdef View v
    _key_view_any(data, &v)
    try:
        return dc_fnv32a(v.ptr, v.len)
    finally:
        _release(&v)


def fnv64a(data):
    """FNV-1a 64-bit hash of data (str as UTF-8, or bytes-like)."""
    cdef View v
    _key_view_any(data, &v)
    try:
        return dc_fnv64a(v.ptr, v.len)
    finally:
        _release(&v)


# ------------------------------------------------------------- group core

# One hit in HIT_SAMPLE is timed (two clock reads cost as much as the lookup)
# and offered, by its key, to the hot-key candidates; both go to small rings
# that the Python side drains on a miss or on stats(). One rate for both, so
# that a hit path tests one counter once. A sample costs ~20 ns (the ring's
# reference swap, a mispredicted branch): keys sampled 1 in 8 were 2.5 ns of
# every hit, a tenth of a group's hit; heavy hitters still leave many samples
# at 1 in 64, each weighted by the hits it stands for.
cdef enum:
    HIT_SAMPLE = 64
    RING = 1024

# Counters of the hit path: plain increments under the GIL, atomic without it.
cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define DC_COUNT(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)
    #define DC_SAMPLING 0
    #else
    #define DC_COUNT(x) ((x)++)
    #define DC_SAMPLING 1
    #endif
    """
    void DC_COUNT(uint64_t x) nogil
    bint DC_SAMPLING


cdef class HitPath(_CoreObject):
    """A cache's hit path for a composer: the lookup, hit counting and sampling in C.

    get(key) answers a hit from the cache; a miss returns miss(key, True)
    (get_local: miss(key, False)). A bytes-like key must be UTF-8, else
    UnicodeDecodeError before any lookup. It knows nothing of groups: a group hands
    it its main cache and its miss path (docs/internals.md). The cache is
    any object with get(key) -> value or None; a C LRUCache is read without
    a Python call.
    """

    cdef object _cache  # None until __init__ has run
    cdef LRUCache _fast  # _cache when it is a C LRUCache, else None
    cdef object _miss
    # A second cache looked in after a main-cache miss (a group's hot cache of
    # keys owned elsewhere), so that its hits cost no Python call either.
    cdef object _hot_obj  # the hot cache, or None
    cdef LRUCache _hot_c  # _hot_obj when it is a C LRUCache, else None
    cdef uint64_t _nhits
    cdef uint64_t _nhot
    cdef uint64_t _calls
    # Stale-while-revalidate: with _window > 0, a main-cache hit on an entry
    # that expires within _window seconds is answered, then handed to
    # _stale_call(key, value, mode), whose return is the answer.
    cdef double _window
    cdef object _stale_call
    cdef list _key_ring
    cdef uint32_t _key_pos
    cdef uint32_t _key_count
    cdef uint32_t _time_ring[RING]
    cdef uint32_t _time_pos
    cdef uint32_t _time_count

    def __cinit__(self, *args, **kwargs):
        self._key_ring = [None] * RING

    def __init__(self, cache, miss):
        if self._cache is not None:
            _contract.already_initialised(self)
        if not callable(miss):
            raise TypeError(f"miss must be callable, not {type(miss).__name__}")
        self._miss = miss
        self._set_cache(cache)

    @cython.final
    cdef int _set_cache(self, object cache) except -1:
        if cache is None or not callable(getattr(cache, "get", None)):
            raise TypeError(f"cache must have a get method, not {type(cache).__name__}")
        self._fast = cache if isinstance(cache, LRUCache) else None
        self._cache = cache
        return 0


    @property
    def _main(self):
        """The main cache: hits are answered from it (settable)."""
        if self._cache is None:
            _contract.not_initialised(self)
        return self._cache

    @_main.setter
    def _main(self, cache):
        if self._cache is None:
            _contract.not_initialised(self)
        self._set_cache(cache)

    @property
    def _hot(self):
        """The second cache (or None), looked in after a main-cache miss."""
        return self._hot_obj

    @_hot.setter
    def _hot(self, cache):
        if cache is not None and not callable(getattr(cache, "get", None)):
            raise TypeError(f"the hot cache must have a get method, not {type(cache).__name__}")
        self._hot_c = cache if isinstance(cache, LRUCache) else None
        self._hot_obj = cache

    @property
    def _hot_hits(self):
        """Hits answered by the hot cache."""
        return self._nhot

    @cython.final
    cdef inline object _hit(self, object key, int mode):
        # The common call in one small function: a str key over a C main
        # cache, no stale window, not a sampled call. Any other call takes
        # _hit_full: one function holding every case spilled registers and
        # checked flags that cost a group's hit a tenth of a plain
        # LRUCache.get. self._fast is read in place, not into a local: a local
        # is a new reference, two writes to the cache's refcount a call.
        cdef uint64_t n = self._calls
        cdef View k
        cdef object v
        if (self._fast is None or self._window > 0.0 or not PyUnicode_CheckExact(key)
                or (DC_SAMPLING and n % HIT_SAMPLE == 0)):
            return self._hit_full(key, mode)
        _key_view(key, &k)  # a str: no buffer to release
        v = self._fast._get(key, &k, None)
        self._calls = n + 1
        if v is None:
            return self._main_missed(key, &k, mode)
        DC_COUNT(self._nhits)
        return v

    @cython.final
    cdef object _main_missed(self, object key, View *k, int mode):
        # After a main-cache miss: the hot cache, then the miss callback. k is
        # the key's view, or NULL when the main cache is not a C one.
        cdef object v = None
        if self._hot_c is not None and k != NULL:
            v = self._hot_c._get(key, k, None)
        elif self._hot_obj is not None:
            v = self._hot_obj.get(key)
        if v is not None:
            DC_COUNT(self._nhot)
            return v
        return None if mode == 2 else self._miss(key, mode == 1)

    @cython.final
    cdef object _hit_full(self, object key, int mode):
        # mode: 1 get (a miss goes to miss(key, True)), 0 get_local (miss(key,
        # False)), 2 _peek (a miss returns None: aget's awaited path follows).
        cdef View k
        cdef LRUCache fast = self._fast
        if self._cache is None:
            _contract.not_initialised(self)
        cdef uint64_t n = self._calls
        cdef double t0 = 0.0
        cdef object v, aged
        cdef bint stale = False
        self._calls = n + 1
        if DC_SAMPLING and n % HIT_SAMPLE == 0:
            t0 = dc_now()
        if fast is not None:
            _key_view(key, &k)
            try:
                _text_key(key, &k)
                if self._window > 0.0:
                    v = fast._lookup(key, &k, None, self._window, &stale)
                else:
                    v = fast._get(key, &k, None)
                if v is None:
                    return self._main_missed(key, &k, mode)
            finally:
                _release(&k)
        else:
            if not PyUnicode_Check(key):  # any other cache: the same check
                _key_view(key, &k)
                try:
                    _text_key(key, &k)
                finally:
                    _release(&k)
            if self._window > 0.0:
                aged = self._cache._get_aged(key, self._window)
                v = None if aged is None else aged[0]
                stale = aged is not None and aged[1]
            else:
                v = self._cache.get(key)
            if v is None:
                return self._main_missed(key, NULL, mode)
        DC_COUNT(self._nhits)
        if DC_SAMPLING and n % HIT_SAMPLE == 0:
            self._time_ring[self._time_pos] = <uint32_t>min((dc_now() - t0) * 1e9, 4e9)
            self._time_pos = (self._time_pos + 1) % RING
            if self._time_count < <uint32_t>RING:
                self._time_count += 1
            self._key_ring[self._key_pos] = key
            self._key_pos = (self._key_pos + 1) % RING
            if self._key_count < <uint32_t>RING:
                self._key_count += 1
        if stale:
            return self._stale_call(key, v, mode)
        return v

    def _set_stale(self, double window, on_stale):
        """Serve entries in their last window seconds as stale, through on_stale(key, value, mode).

        mode is 1 for get, 0 for get_local, 2 for _peek. window 0 turns it off.
        """
        if self._cache is None:
            _contract.not_initialised(self)
        if not window >= 0.0 or (window > 0.0 and not callable(on_stale)):
            raise ValueError(f"a stale window needs window >= 0 and a callable, not {window!r}")
        self._stale_call = on_stale
        self._window = window

    def get(self, key, /):
        """The cached value of key, else what miss(key, True) returns."""
        return self._hit(key, True)

    def get_local(self, key, /):
        """The cached value of key, else what miss(key, False) returns."""
        return self._hit(key, False)

    def _peek(self, key, /):
        """The cached value of key, counted as a hit, or None (miss not called)."""
        return self._hit(key, 2)

    @property
    def _hits(self):
        """Hits answered here."""
        if self._cache is None:
            _contract.not_initialised(self)
        return self._nhits

    def _drain_hit_keys(self):
        """The sampled keys of recent hits, oldest first; empties the ring."""
        if self._cache is None:
            _contract.not_initialised(self)
        cdef uint32_t n = self._key_count, start = (self._key_pos + RING - n) % RING, i
        if n == 0:
            return []  # every miss drains: no new ring then (3 us each, in aget's profile)
        out = [self._key_ring[(start + i) % RING] for i in range(n)]
        for i in range(n):  # the references go, so that the ring keeps no key alive
            self._key_ring[(start + i) % RING] = None
        self._key_count = 0
        return out

    def _drain_hit_times(self):
        """The sampled hit durations in ns, oldest first; empties the ring."""
        if self._cache is None:
            _contract.not_initialised(self)
        cdef uint32_t n = self._time_count, start = (self._time_pos + RING - n) % RING, i
        out = [self._time_ring[(start + i) % RING] for i in range(n)]
        self._time_count = 0
        return out

