# LRUCache: the object layer over csrc/lru.h (the contract is docs/internals.md).


# A single get copies values of this size or more with the GIL released: at
# 32 KiB the memcpy (~1-2 us) dwarfs the ~100 ns of dropping and retaking the
# GIL. Smaller values are copied with the GIL held (docs/optimization.md).
cdef enum:
    LARGE_VALUE = 32768
# get_many copies values of this size or more without the GIL (one hand-off
# per batch); smaller ones it copies at once, as get does.
cdef enum:
    BATCH_VALUE = 4096


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
        return self._lookup(key, k, default, 0.0, NULL, NULL)

    @cython.final
    cdef inline object _lookup(self, object key, View *k, object default, double window,
                               bint *stale, uint64_t *version):
        """get's lookup; with window > 0, *stale says whether the entry expires within it;
        with version, *version is the version of the entry whose value is returned."""
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
                    if version != NULL:
                        version[0] = dc_entry_version(e)
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
            return self._copy_large(k, h, n, default, version)
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
            v = self._lookup(key, &k, None, window, &stale, NULL)
        finally:
            _release(&k)
        return None if v is None else (v, stale)

    @cython.final
    cdef object _copy_large(self, View *k, uint32_t h, uint32_t n, object default,
                            uint64_t *version):
        """Copies a value of n bytes found a moment ago, with the GIL released (and
        its version into *version, read under the same lock, when version is given)."""
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
                        if version != NULL:
                            version[0] = dc_entry_version(e)
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
                return self._peek_copy(k, h, default, version)

    @cython.final
    cdef object _peek_copy(self, View *k, uint32_t h, object default, uint64_t *version):
        """The value (and, given version, its version) as it is now, without counting
        or touching (GIL held)."""
        cdef dc_shard *s = dc_cache_shard(&self.c, h)
        cdef dc_entry *gone = NULL
        cdef dc_entry *e
        cdef object result = default
        dc_lock(&s.lock)
        try:
            e = dc_shard_peek(&self.c, s, k.ptr, <uint32_t>k.len, h, &gone)
            if e != NULL:
                result = PyBytes_FromStringAndSize(<char *>dc_entry_value(e), e.vlen)
                if version != NULL:
                    version[0] = dc_entry_version(e)
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
            return self._copy_large(&k, h, n, default, NULL)
        finally:
            _release(&k)

    def get_versioned(self, key, default=None, /):
        """(value, version) of key as get reads it (version 0: unversioned), or default."""
        cdef View k
        cdef uint64_t version = 0
        _key_view(key, &k)
        try:
            result = self._lookup(key, &k, _MISSING, 0.0, NULL, &version)
        finally:
            _release(&k)
        if result is _MISSING:
            return default
        return (result, version)

    def version_of(self, key):
        """The version key holds (0: unversioned), or None; looks as `in` does."""
        cdef View k
        cdef uint64_t version = 0
        cdef double expires = 0.0
        cdef int found
        self._ready()
        _key_view(key, &k)
        try:
            found = dc_cache_entry_of(&self.c, k.ptr, <uint32_t>k.len,
                                      dc_memo_fnv32a(key, k.ptr, k.len), &version, &expires)
        finally:
            _release(&k)
        return version if found else None

    def ttl_of(self, key):
        """Seconds key has left (inf: no ttl), or None; looks as `in` does."""
        cdef View k
        cdef uint64_t version = 0
        cdef double expires = 0.0
        cdef int found
        self._ready()
        _key_view(key, &k)
        try:
            found = dc_cache_entry_of(&self.c, k.ptr, <uint32_t>k.len,
                                      dc_memo_fnv32a(key, k.ptr, k.len), &version, &expires)
        finally:
            _release(&k)
        if not found:
            return None
        if expires == 0.0:
            return _INF
        # A live entry: its expiry is still ahead, by however little.
        return max(expires - dc_now(), 1e-9)

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

    def keys(self, limit=None):
        """The keys of the live entries as UTF-8 bytes, at most limit of them, in no
        promised order. Each shard is read under its lock in turn (never two at
        once): a consistent view of each shard, not of the whole cache. Not an
        access: nothing moves, nothing is counted."""
        cdef Py_ssize_t cap = _contract.check_limit(limit)
        cdef list out = []
        cdef uint32_t i
        cdef dc_shard *s
        cdef dc_entry *e
        cdef dc_entry *lists[2]
        cdef int j
        cdef double now = 0.0
        self._ready()
        for i in range(self.c.nshards):
            if cap >= 0 and len(out) >= cap:
                break
            s = &self.c.shards[i]
            dc_lock(&s.lock)
            try:
                lists[0] = s.head
                lists[1] = s.phead
                for j in range(2):
                    e = lists[j]
                    while e != NULL and (cap < 0 or len(out) < cap):
                        if not dc_entry_expired(e, &now):
                            out.append(PyBytes_FromStringAndSize(<const char *>dc_entry_key(e),
                                                                 e.klen))
                        e = e.next
            finally:
                dc_unlock(&s.lock)
        return out

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
                        objs[i] = self._peek_copy(&views[i], hashes[i], None, NULL)
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
    cdef bint _store(self, object key, View *k, View *v, double expires, uint64_t version,
                     unsigned mode) except -1:
        cdef uint32_t h = dc_memo_peek_fnv32a(key, k.ptr, k.len)
        cdef dc_entry *e
        cdef int rc
        cdef uint64_t older_than = version if mode & DC_IF_NEWER else 0
        dc_cache_prefetch(&self.c, h)
        if dc_entry_size(<uint32_t>k.len, <uint64_t>v.len) > self.c.max_bytes:
            dc_cache_reject(&self.c, k.ptr, <uint32_t>k.len, h, older_than)
            return False
        e = NULL
        if v.len >= LARGE_VALUE:
            # A versioned write that will be refused builds nothing; the store
            # compares again under the lock, so this look only saves work.
            if older_than and dc_cache_holds_newer(&self.c, k.ptr, <uint32_t>k.len, h, version):
                return False
            with nogil:
                e = dc_entry_new(k.ptr, <uint32_t>k.len, h, v.ptr, <uint32_t>v.len, expires,
                                 version)
            if e == NULL:
                raise MemoryError()
        rc = dc_cache_store(&self.c, k.ptr, <uint32_t>k.len, h, v.ptr, <uint32_t>v.len, expires,
                            version, e, mode)
        if rc < 0:
            raise MemoryError()
        return rc == 0

    def set(self, key, value, ttl=None, *, force=False, version=0):
        """Stores a copy of value under key, with version (0: unversioned); False when not stored.

        False when the entry is larger than the whole budget, or when TinyLFU
        admission refused a new key; force=True stores past admission. The
        version held before is replaced, whatever it was.
        """
        cdef View k, v
        cdef double expires
        cdef uint64_t ver
        self._ready()
        _key_view(key, &k)
        try:
            _value_view(value, &v)
            try:
                expires = self._expires(ttl)
                ver = _version_arg(version, 0)
                return self._store(key, &k, &v, expires, ver, DC_FORCE if force else 0)
            finally:
                _release(&v)
        finally:
            _release(&k)

    def set_if_newer(self, key, value, version, ttl=None):
        """Stores value under key with version unless the key holds that or a newer one.

        True when stored: the key held no live entry, or an older version
        (unversioned is older than any); stored past admission, as
        set(force=True). False, changing nothing, when the key holds version or
        a newer one; False also when the entry is larger than the whole budget
        (then, as set does, an older entry is dropped and counted in rejected).
        version: an int in 1..2**64-1.
        """
        cdef View k, v
        cdef double expires
        cdef uint64_t ver
        self._ready()
        _key_view(key, &k)
        try:
            _value_view(value, &v)
            try:
                ver = _version_arg(version, 1)
                expires = self._expires(ttl)
                return self._store(key, &k, &v, expires, ver, DC_FORCE | DC_IF_NEWER)
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
        cdef unsigned mode = DC_FORCE if force else 0
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
                        dc_cache_reject(&self.c, kv[i].ptr, <uint32_t>kv[i].len, h, 0)
                        continue
                    rc = dc_cache_store(&self.c, kv[i].ptr, <uint32_t>kv[i].len, h, vv[i].ptr,
                                        <uint32_t>vv[i].len, expires, 0, NULL, mode)
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


cdef inline uint64_t _version_arg(object version, uint64_t least) except? 0:
    """A version argument as a uint64_t: an int in least..2**64-1, checked by
    _contract (whose errors the twin raises too) unless it is a plain int in range."""
    if type(version) is int and least <= version <= _MAX_VERSION:
        return <uint64_t>version
    return <uint64_t>_contract.check_version(version, least)
