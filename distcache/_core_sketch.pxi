# CountMinSketch: the object layer over csrc/sketch.h.


cdef class CountMinSketch(_CoreObject):
    """A count-min sketch (conservative update, periodic halving); thread-safe."""

    # s.counters is NULL until __init__ has run (see LRUCache in _core_lru.pxi).
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
