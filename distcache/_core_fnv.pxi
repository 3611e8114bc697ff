# The FNV hashes of csrc/fnv.h for Python callers. The cluster's ring places
# keys by fnv32a (distcache/hashring.py), so it must equal the twin's.


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
