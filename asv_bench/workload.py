"""The workload every comparison shares: 16-byte str keys, 100-byte values, Zipf traces.

Everything here is deterministic (fixed seeds, pure Python), so a trace is the
same on every machine, with or without numpy.
"""

from __future__ import annotations

import random
from itertools import accumulate

KEY_LEN = 16
VALUE_LEN = 100
SEED = 20240601


def key(i: int, prefix: str = "k") -> str:
    """The i-th key: a 16-character ASCII str (16 bytes in UTF-8)."""
    return f"{prefix}{i:0{KEY_LEN - len(prefix)}d}"


def keys(n: int, prefix: str = "k", start: int = 0) -> list[str]:
    """n distinct keys; a different prefix gives keys disjoint from the default ones."""
    return [key(i, prefix) for i in range(start, start + n)]


def value(i: int, size: int = VALUE_LEN) -> bytes:
    """A value of `size` bytes whose content depends on i (distinct objects, distinct bytes)."""
    stamp = b"%016d" % i
    return (stamp * (size // len(stamp) + 1))[:size]


def values(n: int, size: int = VALUE_LEN) -> list[bytes]:
    """n distinct value objects of `size` bytes."""
    return [value(i, size) for i in range(n)]


def shuffled(items: list, seed: int = SEED) -> list:
    """A copy of items in a fixed pseudo-random order."""
    out = list(items)
    random.Random(seed).shuffle(out)
    return out


def zipf_ranks(n_requests: int, n_keys: int, s: float = 0.99, seed: int = SEED) -> list[int]:
    """n_requests ranks in [0, n_keys) drawn from Zipf(s): P(rank r) ~ 1 / (r + 1) ** s.

    Inverse-CDF sampling: random.choices bisects the cumulative weights, which
    works for any s (numpy's zipf needs s > 1) and is reproducible across
    Python versions.
    """
    cdf = list(accumulate(1.0 / (r + 1) ** s for r in range(n_keys)))
    return random.Random(seed).choices(range(n_keys), cum_weights=cdf, k=n_requests)
