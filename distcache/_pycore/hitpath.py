"""HitPath: a cache's hit path for a composer (the group), as distcache/_core.pyx has it.

The lookup, hit counting, sampling of hit keys and durations, the hot cache
looked in after a miss, and stale-while-revalidate; a miss is handed to the
composer's miss callable. It knows nothing of groups.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import _contract
from .coreobject import _CoreObject, _initialised
from .views import _key_bytes

_perf_ns = time.perf_counter_ns

_HIT_SAMPLE = 64  # hits timed and keys sampled, as the C core's HIT_SAMPLE (its comment says why)
_RING = 1024


def _check_cache(cache: Any) -> Any:
    """cache if it has a get method, else TypeError."""
    if cache is None or not callable(getattr(cache, "get", None)):
        raise TypeError(f"cache must have a get method, not {type(cache).__name__}")
    return cache


class HitPath(_CoreObject):
    """A cache's hit path for a composer: the lookup, hit counting and sampling.

    get(key) answers a hit from the cache; a miss returns miss(key, True)
    (get_local: miss(key, False)). A bytes-like key must be UTF-8, else
    UnicodeDecodeError before any lookup. It knows nothing of groups. The cache is
    any object with get(key) -> value or None.
    """

    __slots__ = ("_cache", "_miss", "_calls", "_nhits", "_keys", "_times", "_hot_c", "_nhot",
                 "_window", "_stale_call")

    def __init__(self, cache: Any, miss: Callable[[Any, bool], Any]) -> None:
        if _initialised(self, "_cache"):
            _contract.already_initialised(self)
        _check_cache(cache)
        if not callable(miss):
            raise TypeError(f"miss must be callable, not {type(miss).__name__}")
        self._miss = miss
        self._calls = 0
        self._nhits = 0
        # A second cache looked in after a main-cache miss (a group's hot cache).
        self._hot_c: Any = None
        self._nhot = 0
        # Sampled keys and durations of recent hits; bounded, oldest dropped.
        self._keys: deque[Any] = deque(maxlen=_RING)
        self._times: deque[int] = deque(maxlen=_RING)
        # Stale-while-revalidate: see _set_stale.
        self._window = 0.0
        self._stale_call: Any = None
        self._cache = cache

    @property
    def _main(self) -> Any:
        """The main cache: hits are answered from it (settable)."""
        return self._cache

    @_main.setter
    def _main(self, cache: Any) -> None:
        self._cache  # noqa: B018 -- raises when not initialised
        self._cache = _check_cache(cache)

    def _hit(self, key: Any, mode: int) -> Any:
        # mode: 1 get (a miss goes to miss(key, True)), 0 get_local (miss(key,
        # False)), 2 _peek (a miss returns None).
        cache = self._cache
        if type(key) is not str:
            # A bytes key must be UTF-8 (the miss path is given text): refused
            # before the lookup, so that nothing is counted.
            _key_bytes(key).decode("utf-8")
        n = self._calls
        self._calls = n + 1
        start = _perf_ns() if n % _HIT_SAMPLE == 0 else 0
        stale = False
        if self._window > 0.0:
            aged = cache._get_aged(key, self._window)
            value, stale = (None, False) if aged is None else aged
        else:
            value = cache.get(key)
        if value is None:
            hot = self._hot_c
            if hot is not None:
                value = hot.get(key)
                if value is not None:
                    self._nhot += 1
                    return value
            return None if mode == 2 else self._miss(key, mode == 1)
        self._nhits += 1
        if start:
            self._times.append(min(_perf_ns() - start, 4_000_000_000))
        if n % _HIT_SAMPLE == 0:
            self._keys.append(key)
        if stale:
            return self._stale_call(key, value, mode)
        return value

    def _set_stale(self, window: float, on_stale: Callable[[Any, Any, int], Any] | None) -> None:
        """Serve entries in their last window seconds as stale, through on_stale(key, value, mode).

        mode is 1 for get, 0 for get_local, 2 for _peek. window 0 turns it off.
        """
        self._cache  # noqa: B018 -- raises when not initialised
        if not window >= 0.0 or (window > 0.0 and not callable(on_stale)):
            raise ValueError(f"a stale window needs window >= 0 and a callable, not {window!r}")
        self._stale_call = on_stale
        self._window = float(window)

    def get(self, key: Any, /) -> Any:
        """The cached value of key, else what miss(key, True) returns."""
        return self._hit(key, True)

    def get_local(self, key: Any, /) -> Any:
        """The cached value of key, else what miss(key, False) returns."""
        return self._hit(key, False)

    def _peek(self, key: Any, /) -> Any:
        """The cached value of key, counted as a hit, or None (miss not called)."""
        return self._hit(key, 2)

    @property
    def _hot(self) -> Any:
        """The second cache (an LRUCache, or None), looked in after a main-cache miss."""
        return self._hot_c

    @_hot.setter
    def _hot(self, cache: Any) -> None:
        if cache is not None and not callable(getattr(cache, "get", None)):
            raise TypeError(f"the hot cache must have a get method, not {type(cache).__name__}")
        self._hot_c = cache

    @property
    def _hot_hits(self) -> int:
        """Hits answered by the hot cache."""
        return self._nhot

    @property
    def _hits(self) -> int:
        """Hits answered here."""
        return self._nhits

    def _drain_hit_keys(self) -> list[Any]:
        """The sampled keys of recent hits, oldest first; empties the ring."""
        out = list(self._keys)
        self._keys.clear()
        return out

    def _drain_hit_times(self) -> list[int]:
        """The sampled hit durations in ns, oldest first; empties the ring."""
        out = list(self._times)
        self._times.clear()
        return out
