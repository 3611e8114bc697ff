# HitPath: a group's hit path in C (docs/internals.md, docs/optimization.md).
# DC_COUNT and DC_SAMPLING are csrc/count.h's, which says why free-threaded
# builds count atomically and do not sample.


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
                    v = fast._lookup(key, &k, None, self._window, &stale, NULL)
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
