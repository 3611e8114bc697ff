# Key and value views, the ttl rule and the base every core type shares.
#
# A View points at the bytes of a key or value without copying them: the
# UTF-8 of a str (cached in the str), a bytes object's storage, or a buffer
# held until _release. Its checks (key length, value size, C-contiguous
# buffers, ttl) raise what docs/internals.md says ("Keys and values", "TTL"
# under LRUCache), as the pure-Python twin's do; the rules both cores share
# are in _contract.py.


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


cdef class _CoreObject:
    """What every core type shares: it owns C memory and locks, so no copies or pickles."""

    def __copy__(self):
        _contract.refuse_copy(self)

    def __deepcopy__(self, memo):
        _contract.refuse_copy(self)

    def __reduce_ex__(self, protocol):
        _contract.refuse_copy(self)
