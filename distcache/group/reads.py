"""A group's reads after the hit path: what a get does when the main cache misses.

The core's ``HitPath`` answers a main-cache hit (and a hot-cache hit) in C
and hands a miss to ``_get_slow(key, forward)``; ``aget`` takes its awaited
twin ``_aget_slow``. A miss asks, in order: the hot cache (copies of keys
owned elsewhere), the negative cache (keys known absent), the key's replicas
through the peer picker, then the getter under singleflight, and stores what
it loaded (unless a write came since: writefence.py). Hot keys are noted
here too: a miss feeds the tracker, and a replica's answer on a key hot
enough is copied into the hot cache. Entries past their ttl but within
stale_ttl are answered and refreshed once in the background.
"""

from __future__ import annotations

import inspect
import math
import time
from typing import TYPE_CHECKING, Any

from ..peers import NotFound, Peer, Placement
from . import offload
from .keys import key_str, str_keys
from .stats import ERROR, HOT, LOADED, LOCAL, NEGATIVE, NOT_FOUND, REMOTE

if TYPE_CHECKING:
    from .state import GroupState
else:
    GroupState = object

__all__ = ["Reads"]


class _RememberedAbsent(NotFound):
    """NotFound answered by the negative cache, without asking the source."""


class Reads(GroupState):
    """A Group's miss path, sync and async side by side, and aget (a mixin)."""

    # The hit path calls _get_slow(key, forward) with forward=False for
    # get_local, so that a forwarded request is never forwarded again and two
    # nodes that disagree about who owns a key cannot wait for each other.

    def _get_slow(self, key: Any, forward: bool = True) -> bytes:
        """Everything after a main-cache miss: hot cache, negative cache, owner, getter."""
        start = time.perf_counter_ns()
        key = key_str(key)
        outcome = ERROR
        try:
            estimate, value = self._before_load(key)
            if value is not None:
                outcome = HOT
                return value
            # Local-only loads fly apart from forwarding ones: joining a flight
            # that waits on a peer would bring back the cycle get_local avoids.
            (value, outcome), _ = self._flight.do(
                key if forward else (key,), lambda: self._load(key, estimate, forward)
            )
            return value
        except NotFound as exc:
            outcome = NEGATIVE if isinstance(exc, _RememberedAbsent) else NOT_FOUND
            raise
        finally:
            self._counts.add("slow_gets", outcome)
            self._miss_latency.record(time.perf_counter_ns() - start)

    async def aget(self, key: str) -> bytes:
        """get for asyncio: a hit is answered at once; a miss awaits the owner or the getter.

        Threads calling get and tasks calling aget for one cold key share one
        load. Cancelling a caller stops its wait only; the load goes on.
        """
        value = self._peek(key)
        if value is not None:
            return value  # type: ignore[no-any-return]
        return await self._aget_slow(key, True)

    async def _aget_slow(self, key: Any, forward: bool) -> bytes:
        """_get_slow for a task: the network and the getter are awaited, never waited on."""
        start = time.perf_counter_ns()
        key = key_str(key)
        outcome = ERROR
        try:
            estimate, value = self._before_load(key)
            if value is not None:
                outcome = HOT
                return value
            (value, outcome), _ = await self._flight.ado(
                key if forward else (key,), lambda: self._aload(key, estimate, forward)
            )
            return value
        except NotFound as exc:
            outcome = NEGATIVE if isinstance(exc, _RememberedAbsent) else NOT_FOUND
            raise
        finally:
            self._counts.add("slow_gets", outcome)
            self._miss_latency.record(time.perf_counter_ns() - start)

    def _before_load(self, key: str) -> tuple[int, bytes | None]:
        """A miss's steps before any load: its estimate, and the hot copy or None.

        Raises _RememberedAbsent when the negative cache knows key is absent.
        """
        estimate = self._observe(key)
        hot = self._hot
        if hot is not None:
            value = hot.get(key)
            if value is not None:
                if estimate < self._hot_keys.demote_below:
                    self._demote(key)
                return estimate, value
        negative = self._negative
        if negative is not None and key in negative:
            raise _RememberedAbsent(key)
        return estimate, None

    def _load(
        self, key: str, estimate: int, forward: bool, *, refresh: int | None = None
    ) -> tuple[bytes, str]:
        """The singleflight leader's work for key: (value, outcome).

        refresh: the write ticket taken when key was found stale; its entry
        is then replaced, not answered.
        """
        gen, cached, placement = self._load_start(key, refresh)
        if cached is not None:
            return cached, LOCAL
        if forward and placement is not None and not placement.local:
            return self._load_from_replicas(key, placement.others, estimate, gen)
        if refresh is None and placement is not None and placement.local and (
                placement.others or placement.previous):
            held = self._from_co_replicas(key, placement.others + placement.previous, gen)
            if held is not None:
                return held, REMOTE
        # Versioned before the getter is called: a write after this moment is
        # newer than what the getter returns, on every replica.
        version = self._clock.now() if self._clock is not None else 0
        try:
            value, ttl = self._call_getter(key)
        except NotFound:
            self._remember_absent(key, gen)
            raise
        self._loaded_here(key, value, ttl, gen, placement, version)
        return value, LOADED

    async def _aload(self, key: str, estimate: int, forward: bool) -> tuple[bytes, str]:
        """_load for a task."""
        gen, cached, placement = self._load_start(key, None)
        if cached is not None:
            return cached, LOCAL
        if forward and placement is not None and not placement.local:
            return await self._aload_from_replicas(key, placement.others, estimate, gen)
        if placement is not None and placement.local and (placement.others or placement.previous):
            held = await self._afrom_co_replicas(key, placement.others + placement.previous, gen)
            if held is not None:
                return held, REMOTE
        version = self._clock.now() if self._clock is not None else 0
        try:
            value, ttl = await self._acall_getter(key)
        except NotFound:
            self._remember_absent(key, gen)
            raise
        self._loaded_here(key, value, ttl, gen, placement, version)
        return value, LOADED

    def _load_start(
        self, key: str, refresh: int | None
    ) -> tuple[int, bytes | None, Placement | None]:
        """(write ticket, the value a finished flight left, placement) of a load of key."""
        # Taken before the recheck: a set() after it makes this load too old
        # to store; a set() before it is what the recheck finds. A refresh
        # took its ticket at the stale hit: a set() since then wins.
        gen = self._fence.ticket(key) if refresh is None else refresh
        # A flight for this key may have finished between our miss and do().
        # `in` first: a get would count this one request twice in the sketch.
        if refresh is None and key in self._main:
            value = self._main.get(key)
            if value is not None:
                return gen, value, None
        if self._negative is not None and key in self._negative:
            raise _RememberedAbsent(key)
        picker = self._picker
        return gen, None, picker.placement(key) if picker is not None else None

    def _loaded_here(
        self, key: str, value: bytes, ttl: float | None, gen: int, placement: Placement | None,
        version: int = 0,
    ) -> None:
        """Store what the getter gave (unless a write came since) and push it to the replica."""
        # This node is a replica of the key (or has no peers, or was asked by
        # a peer, which never forwards twice): the source of truth answered.
        with self._fence.current(key, gen) as current:
            if current:
                # Refused by admission or not, the caller gets the value.
                self._store(key, value, ttl, force=False, version=version)
        if current and placement is not None and placement.local:
            # The push carries the load's version: a replica that took a newer
            # write meanwhile keeps it (Writes._set_here).
            for peer in placement.others:
                self._pusher.offer(peer, key, value, version)

    def _load_from_replicas(
        self, key: str, replicas: tuple[Peer, ...], estimate: int, gen: int
    ) -> tuple[bytes, str]:
        """Asks the key's replicas in ring order; loads here (degraded) if none answers."""
        for i, peer in enumerate(replicas):
            self._counts.add("peer_loads")
            try:
                value, ttl = self._fetch(peer, key, estimate)
            except NotFound:
                self._remember_absent(key, gen)
                raise
            except Exception:
                self._replica_failed(i, len(replicas))
                continue
            return self._replica_answered(key, value, estimate, gen, ttl), REMOTE
        # No replica answered: load here so that the reader does not fail, but
        # cache nothing, so no copy outlives the replicas' return.
        self._counts.add("degraded_loads")
        return self._call_getter(key)[0], LOADED

    async def _aload_from_replicas(
        self, key: str, replicas: tuple[Peer, ...], estimate: int, gen: int
    ) -> tuple[bytes, str]:
        """_load_from_replicas for a task: each replica awaited (grpc.aio for gRPC peers)."""
        for i, peer in enumerate(replicas):
            self._counts.add("peer_loads")
            try:
                value, ttl = await self._afetch(peer, key, estimate)
            except NotFound:
                self._remember_absent(key, gen)
                raise
            except Exception:
                self._replica_failed(i, len(replicas))
                continue
            return self._replica_answered(key, value, estimate, gen, ttl), REMOTE
        self._counts.add("degraded_loads")
        return (await self._acall_getter(key))[0], LOADED

    # A replica that misses a key asks the key's other replicas for their
    # cached copy before it loads from the source: a replica that restarted
    # empty then takes the value the other one holds (a Set's, say) instead of
    # loading the source's and pushing it over that Set. The question is
    # answered from the cache only, never loaded or passed on (no cycles).

    def _from_co_replicas(self, key: str, others: tuple[Peer, ...], gen: int) -> bytes | None:
        """The newest cached value of key the other replicas hold (and, after a ring
        change, its replicas under the ring before), stored here; None when none has it."""
        newest: tuple[bytes, int] | None = None
        for peer in others:
            ask = getattr(peer, "get_cached", None)
            if ask is None:
                continue
            try:
                held = ask(self.name, key)
            except Exception:  # that replica is down or slow: the source answers
                self._counts.add("peer_errors")
                continue
            if held is not None and (newest is None or held[1] > newest[1]):
                newest = held
        if newest is not None and newest[1] > self._tombstones.version_of(key):
            return self._took_co_replica(key, newest, gen)
        return None

    async def _afrom_co_replicas(
        self, key: str, others: tuple[Peer, ...], gen: int
    ) -> bytes | None:
        """_from_co_replicas for a task."""
        newest: tuple[bytes, int] | None = None
        for peer in others:
            if getattr(peer, "get_cached", None) is None:
                continue
            try:
                held = await offload.ask(peer, "get_cached", self.name, key)
            except Exception:
                self._counts.add("peer_errors")
                continue
            if held is not None and (newest is None or held[1] > newest[1]):
                newest = held
        if newest is not None and newest[1] > self._tombstones.version_of(key):
            return self._took_co_replica(key, newest, gen)
        return None

    def _took_co_replica(self, key: str, held: tuple[bytes, int], gen: int) -> bytes:
        value, version = bytes(held[0]), held[1]
        self._counts.add("co_replica_hits")
        if version and self._clock is not None:
            self._clock.observe(version)  # this node's next writes come after the copy
        with self._fence.current(key, gen) as current:
            if current:
                if version:
                    self._main.set_if_newer(key, value, version, None)
                else:
                    self._store(key, value, None, force=True)
        return value

    def cached(self, key: str) -> tuple[bytes, int] | None:
        """(value, version) of key in the main cache, None when absent; nothing is loaded
        (a co-replica's question)."""
        held = self._main.get_versioned(key_str(key))
        return None if held is None else (held[0], held[1])

    def _replica_failed(self, i: int, n: int) -> None:
        self._counts.add("peer_errors")
        if i + 1 < n:
            self._counts.add("failovers")

    def _replica_answered(
        self, key: str, value: Any, estimate: int, gen: int, ttl: float | None = None
    ) -> bytes:
        value = bytes(value)
        if estimate >= self._hot_keys.promote_at:
            self._promote(key, value, gen, ttl)
        return value

    def _fetch(self, peer: Peer, key: str, estimate: int) -> tuple[Any, float | None]:
        """(value, seconds it has left on the replica or None) of a forwarded get.

        A key about to be copied into the hot cache is asked with its
        remaining ttl, so that the copy never outlives the replica's value.
        """
        if estimate >= self._hot_keys.promote_at and hasattr(peer, "get_entry"):
            value, _, ttl = peer.get_entry(self.name, key)
            return value, ttl
        return peer.get(self.name, key, forwarded=True), None

    async def _afetch(self, peer: Peer, key: str, estimate: int) -> tuple[Any, float | None]:
        """_fetch for a task (a plain get joins the loop's batch of gets)."""
        if estimate >= self._hot_keys.promote_at and hasattr(peer, "get_entry"):
            value, _, ttl = await offload.ask(peer, "get_entry", self.name, key)
            return value, ttl
        return await offload.ask(peer, "get", self.name, key, forwarded=True), None

    def entry_meta(self, key: str) -> tuple[int, float | None]:
        """(version, seconds left or None for no ttl) of key's main-cache entry; (0, None)
        when absent. What a replica tells the node that asked it for key."""
        name = key_str(key)
        version = self._main.version_of(name)
        ttl = self._main.ttl_of(name)
        return version or 0, None if ttl is None or ttl == math.inf else ttl

    def _store(
        self, key: str, value: Any, ttl: float | None, *, force: bool, version: int = 0
    ) -> None:
        """Set key in the main cache, counting a refusal by its admission policy.

        A load faces admission (force=False); an explicit write does not: after
        set(k, v) returns, get(k) is v until evicted or expired. With a
        stale_ttl the entry lives that much longer (stale at the end). The
        caller holds the key's write fence.
        """
        if ttl is not None and self._stale_ttl:
            ttl += self._stale_ttl
        if self._main.set(key, value, ttl, force=force, version=version) or (
                self.admission is None or force):
            return
        # set() also says False for an entry larger than the cache: not a refusal.
        size = len(key.encode("utf-8")) + memoryview(value).nbytes + self._core.ENTRY_OVERHEAD
        if size <= self._main.max_bytes:
            self._counts.add("admission_rejects")

    def _call_getter(self, key: str) -> tuple[bytes, float | None]:
        """(value, ttl) from the getter; an async getter runs on the background loop."""
        self._counts.add("getter_loads")
        value = self._getter(key)
        if inspect.isawaitable(value):
            value = offload.on_loop_thread(value)
        return self._checked(key, value)

    async def _acall_getter(self, key: str) -> tuple[bytes, float | None]:
        """(value, ttl) from the getter: an async one awaited here, a plain one in the pool."""
        self._counts.add("getter_loads")
        functions = self._functions
        if self._getter_async or (functions is not None and functions.is_async(key)):
            value = await self._getter(key)
        else:
            value = await offload.in_pool(self._getter, key)
            if inspect.isawaitable(value):
                value = await value
        return self._checked(key, value)

    def _checked(self, key: str, value: Any) -> tuple[bytes, float | None]:
        """The getter's value as bytes, and the ttl its @cached function declared."""
        ttl = self._functions.ttl(key) if self._functions is not None else None
        if type(value) is bytes:
            return value, ttl
        # The rule of every entry point: a C-contiguous bytes-like object.
        try:
            with memoryview(value) as view:
                if view.c_contiguous:
                    return view.tobytes(), ttl
        except TypeError:
            pass
        raise TypeError(
            f"getter {self._getter_name} returned {type(value).__name__}, "
            f"not a (C-contiguous) bytes-like object"
        )

    # ------------------------------------------------ stale-while-revalidate

    def _on_stale(self, key: Any, value: bytes, mode: int) -> bytes:
        """A hit on an entry past its ttl: answered now, refreshed once in the background."""
        self._counts.add("stale_hits")
        name = key_str(key)
        gen = self._fence.ticket(name)
        self._refresher.start(name, lambda: self._refresh(name, gen))
        return value

    def _refresh(self, key: str, gen: int) -> None:
        """Replace key's stale entry from its source; on an error the stale entry stays."""
        try:
            self._flight.do(key, lambda: self._load(key, 0, True, refresh=gen))
        except NotFound:
            # The source no longer has it: the stale copy must not outlive that.
            with self._fence.current(key, gen) as current:
                if current:  # else a set() since the stale hit holds a newer value
                    self._main.delete(key)
            self._counts.add("refreshes")
        except Exception:  # counted; the stale value is served until it expires
            self._counts.add("refresh_errors")
        else:
            self._counts.add("refreshes")

    def _remember_absent(self, key: str, gen: int) -> None:
        negative = self._negative
        if negative is None:
            return
        with self._fence.current(key, gen) as current:
            if current:
                negative.add(key)

    # ----------------------------------------------------------- hot keys

    def _observe(self, key: str) -> int:
        """Note a miss of key (and the sampled hits since the last one); its estimate."""
        self._drain_hits()
        estimate, cooled = self._hot_keys.missed(key)
        self._demote_all(cooled)
        return estimate

    def _drain_hits(self) -> None:
        """Move the hit path's samples into the latency record and the hot-key tracker."""
        times = self._drain_hit_times()
        if times:
            self._hit_latency.record_many(times)
        keys = self._drain_hit_keys()
        if keys:
            self._hot_keys.hit_samples(str_keys(keys), self._hits)

    def _promote(self, key: str, value: bytes, gen: int, ttl: float | None = None) -> None:
        # ttl: what the value has left on the replica that answered; the hot
        # copy expires no later (None: the hot cache's default ttl).
        hot = self._hot
        if hot is None:
            return
        with self._fence.current(key, gen) as current:
            if not current or not hot.set(key, value, ttl):
                return
        self._hot_keys.promoted(key, len(hot))
        self._counts.add("promotions")

    def _demote(self, key: str) -> None:
        self._hot_keys.forget(key)
        self._demote_all([key])

    def _demote_all(self, keys: list[str]) -> None:
        hot = self._hot
        for key in keys:
            if hot is not None and hot.delete(key):
                self._counts.add("demotions")
