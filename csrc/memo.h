/* The FNV-1a of a key object seen a moment ago.
 *
 * FNV's byte-serial multiply chain is ~17 ns of a ~50 ns hit for a 16-byte
 * key; when the caller passes the same str or bytes object again (a key held
 * in a variable, a constant, an interned name), the memo answers from a
 * 1024-slot table indexed by the object's address. It holds a strong
 * reference to each remembered key, so an identity match is exact: the object
 * cannot have been freed and its address reused, and exact str/bytes are
 * immutable. With the GIL disabled the table would be a data race, so
 * free-threaded builds hash every time. docs/optimization.md measures it.
 *
 * Unlike the other headers this one touches Python objects: call it with the
 * GIL held.
 */
#ifndef DC_MEMO_H
#define DC_MEMO_H

#include <Python.h>
#include <stdint.h>

#include "fnv.h"

typedef struct {
    PyObject *key;
    uint32_t hash;
} dc_memo_slot;

static dc_memo_slot dc_memo[1024];

static inline uint32_t dc_memo_fnv32a_(PyObject *key, const unsigned char *p, size_t n,
                                       int remember)
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

#endif
