# BloomFilter: the object layer over csrc/bloom.h.


cdef class BloomFilter(_CoreObject):
    """A bloom filter of bytes keys with bits in C memory; thread-safe."""

    # b.words is NULL until __init__ has run (see LRUCache in _core_lru.pxi).
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
