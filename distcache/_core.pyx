# cython: freethreading_compatible=True
"""The C core of distcache: LRUCache, BloomFilter, CountMinSketch, FNV hashes, HitPath.

A thin object layer over csrc/*.h (declared in _core.pxd). The contract is
docs/internals.md; distcache/_pycore.py is the pure-Python twin.
"""

# One extension module, its types in the included .pxi files (msgpack's
# _cmsgpack.pyx layout): an include is textual, so the hit path's cdef inline
# calls across files stay inline calls in one C file. No C is written inline
# in them: what they call is declared in _core.pxd and lives in csrc/*.h.

import math

# Relative: a module of the package never names the package (its __init__).
from . import _contract

cimport cython
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

cdef double _INF = float("inf")
# The largest entry version, as a Python int for _version_arg's range check.
cdef object _MAX_VERSION = _contract.MAX_VERSION

_default_shards = _contract.default_shards


# The order matters: each file uses what the ones before it define.
include "_core_views.pxi"
include "_core_lru.pxi"
include "_core_bloom.pxi"
include "_core_sketch.pxi"
include "_core_fnv.pxi"
include "_core_hitpath.pxi"
