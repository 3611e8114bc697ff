/* The hit path's counters (HitPath in distcache/_core_hitpath.pxi).
 *
 * Under the GIL a counter is a plain increment: an atomic read-modify-write
 * would cost a locked instruction on every hit for nothing. With the GIL
 * disabled the increments are atomic (relaxed: they are statistics, ordered
 * with nothing), and the hit sampling is off: its rings and their positions
 * are updated with plain stores, safe only while the GIL serialises them.
 */
#ifndef DC_COUNT_H
#define DC_COUNT_H

#include <Python.h> /* pyconfig.h's Py_GIL_DISABLED */

#ifdef Py_GIL_DISABLED
#define DC_COUNT(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)
#define DC_SAMPLING 0
#else
#define DC_COUNT(x) ((x)++)
#define DC_SAMPLING 1
#endif

#endif
