"""The sentences of the report around its tables, as templates that report/markdown.py fills.

Wording lives here, apart from the code that computes the figures: change a
sentence here, not in markdown.py. A {field} is a figure of the run; what the
measurements are and why they are made so is in docs/performance.md.
"""

HEADER = (
    "Measured {date} on {cpu} ({cores} cores), {python} ({gil}), {platform}.  \n"
    "Versions: {versions}; distcache at commit {commit}.  \n"
    "Medians of {rounds} interleaved rounds{quick}; whole run {seconds} s; 1-minute load "
    "average {load_before:.2f} before, {load_after:.2f} after."
)
"""When, where and what the run measured; {gil} is GIL or FREE_THREADED, {quick} QUICK or ""."""
GIL = "GIL"
"""The interpreter of HEADER runs with the GIL."""
FREE_THREADED = "free-threaded"
"""The interpreter of HEADER runs without the GIL."""
QUICK = " (--quick sizes)"
"""Said of the rounds in HEADER when the run took --quick sizes."""

LEGEND = (
    "Lower is better for ns/op and B/entry, higher for the thread ratios. The last column "
    "is distcache's figure over cachebox's, the median of the per-round ratios ± half "
    "their interquartile range (thread ratio row: distcache's scaling over cachebox's). "
    "— : does not apply, or not in this run."
)
"""How to read the main table."""

FLOOR = "Loop-and-call floor (the same loop calling the builtin `id`): {floor:.1f} ns/op."
"""The cost of the timed loop itself, under every get."""

PEER_TARGETS = (
    "Peer targets, from the ratios above (the hit ratio: Zipf(0.99), 10% budget, "
    "in the hit-ratio table below):"
)
"""Heads the table of report/targets.py PEER_TARGETS."""

GET_MANY = (
    "distcache's batch get on 1 and 2 threads, aggregate ns per key (per buffer for the "
    "reference, which shows what a second thread can gain on this machine during this run):"
)
"""Heads the get_many table."""

GIL_STUDY = (
    "GIL study, distcache single-key gets of the hot keys, aggregate operations "
    "per second (medians):"
)
"""Heads the table of get against _get_nogil."""
GIL_STUDY_SKIPPED = "GIL study (get vs _get_nogil): skipped: {reason}."
"""Stands for the GIL study when the build has no _get_nogil."""

HIT_RATIOS = (
    "Hit ratios: read-through replay of Zipf traces of {requests:,} requests over {keys:,} "
    "keys (fixed seed), each on a fresh cache; a budget of N entries is N x {entry_size} "
    "bytes (key + value + ENTRY_OVERHEAD {entry_overhead}) for every cache, distcache with "
    "its default shard count. (lCS): libCacheSim {libcachesim}, byte-bounded caches of "
    "N x {entry_size} bytes, every object {entry_size} bytes. Gap closed: "
    "(tinylfu - LRU) / (W-TinyLFU - LRU), with libCacheSim's LRU, then with the exact LRU."
)
"""Heads the hit-ratio table."""
LIBCACHESIM_SKIPPED = "Note: {reason}."
"""Says why libCacheSim's columns are empty."""
LRUS_AGREE = "libCacheSim's LRU and the exact LRU: the same hit ratio on every trace."
"""The two LRUs gave the same hits on every trace."""
LRUS_DIFFER = "libCacheSim's LRU and the exact LRU: differ by up to {points:.3f} points."
"""The two LRUs differ on some trace."""

SCAN = (
    "Scan resistance: a hot set of half the budget's entries, each key read {passes} times "
    "(shuffled passes), then one pass over 10x the budget's entries of cold keys, each read "
    "once (read-through). The figures are the share of the hot set still cached after the "
    "scan (all policies held all of it before, unless the before column says otherwise)."
)
"""Heads the scan table."""

ADMISSION_COST = (
    'Cost of admission: distcache `LRUCache(admission=None)` and `admission="tinylfu"` '
    "in the same interleaved rounds, ns per operation (medians) and the median of the "
    "per-round ratios. Set with eviction: each pass fills a fresh cache (untimed), "
    "misses each new key {warm_gets} times (untimed), then times one set of each new key."
)
"""Heads the admission-cost table."""
EVICTIONS = "Timed sets that stored their key and evicted an entry: {tallies}."
"""Follows the admission-cost table; {tallies}: EVICTION_TALLY per mode, joined by "; "."""
EVICTION_TALLY = "{name} {evictions:,} evictions and {stored:,} stored of {sets:,} sets"
"""One mode's count of stored and evicting sets."""

ADMISSION_TARGETS = "Admission targets, from the tables above:"
"""Heads the table of report/targets.py ADMISSION_TARGETS."""
