"""In-process stand-ins for the network: fake peers, pickers, a cluster and a clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from distcache import fnv32a
from distcache.peers import NotFound, Placement


class FakePeer:
    """A peer that answers from a dict, counts its calls and can be made to fail."""

    def __init__(self, data: dict[str, bytes] | None = None) -> None:
        # Guards calls.
        self._lock = threading.Lock()
        self.data = dict(data or {})
        self.calls: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str, str]] = []  # (method, group, key)
        self.error: Exception | None = None

    def _called(self, entry: tuple[str, str]) -> None:
        with self._lock:
            self.calls.append(entry)
        if self.error is not None:
            raise self.error

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        assert forwarded, "a group never asks a peer to forward"
        self._called((group, key))
        try:
            return self.data[key]
        except KeyError:
            raise NotFound(key) from None

    def get_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                 ) -> dict[str, bytes]:
        return {k: self.data[k] for k in keys if k in self.data}

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            *, forwarded: bool = True, version: int = 0) -> None:
        assert forwarded
        with self._lock:
            self.writes.append(("set", group, key))
        if self.error is not None:
            raise self.error
        self.data[key] = value

    def delete(self, group: str, key: str, *, forwarded: bool = True, version: int = 0) -> bool:
        assert forwarded
        with self._lock:
            self.writes.append(("delete", group, key))
        if self.error is not None:
            raise self.error
        return self.data.pop(key, None) is not None


class FakePicker:
    """Owns the keys for which owned_here(key) is true; every other key belongs to peer."""

    def __init__(self, peer: FakePeer, owned_here: Callable[[str], bool]) -> None:
        self.peer = peer
        self.owned_here = owned_here

    def placement(self, key: str) -> Placement:
        return Placement((None,) if self.owned_here(key) else (self.peer,))

    def peers(self) -> tuple[FakePeer, ...]:
        return (self.peer,)


class GroupPeer:
    """A peer that is another in-process group: what a gRPC call would reach."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.group: Any = None
        self.down = False
        # Guards calls.
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []  # (method, key)

    def _enter(self, method: str, key: str, forwarded: bool) -> Any:
        assert forwarded, "a group never asks a peer to forward"
        with self._lock:
            self.calls.append((method, key))
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        return self.group

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        return self._enter("get", key, forwarded).get_local(key)  # type: ignore[no-any-return]

    def get_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                 ) -> dict[str, bytes]:
        g = self._enter("get_many", ",".join(keys), forwarded)
        out = {}
        for k in keys:
            try:
                out[k] = g.get_local(k)
            except NotFound:
                pass
        return out

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            *, forwarded: bool = True, version: int = 0) -> int:
        return self._enter("set", key, forwarded).set(  # type: ignore[no-any-return]
            key, value, ttl, forwarded=True, version=version)

    def delete(self, group: str, key: str, *, forwarded: bool = True, version: int = 0) -> bool:
        group = self._enter("delete", key, forwarded)
        return group.delete(key, forwarded=True, version=version)  # type: ignore[no-any-return]

    def order_set(self, group: str, key: str, value: bytes, ttl: float | None = None) -> int:
        return self._enter("order_set", key, True).order_set(  # type: ignore[no-any-return]
            key, value, ttl)

    def order_delete(self, group: str, key: str) -> int:
        return self._enter("order_delete", key, True).order_delete(key)  # type: ignore[no-any-return]

    def get_cached(self, group: str, key: str) -> tuple[bytes, int] | None:
        return self._enter("get_cached", key, True).cached(key)  # type: ignore[no-any-return]


class RingPicker:
    """Placement by rendezvous hashing of node names: the same in every fake node."""

    def __init__(self, me: str, peers: dict[str, GroupPeer], replicas: int = 2) -> None:
        self.me = me
        self.nodes = sorted([me, *peers])
        self.by_name = peers
        self.replicas = replicas

    def owners(self, key: str) -> list[str]:
        ranked = sorted(self.nodes, key=lambda n: (fnv32a(f"{n}/{key}"), n))
        return ranked[: self.replicas]

    def placement(self, key: str) -> Placement:
        return Placement(tuple(None if n == self.me else self.by_name[n]
                               for n in self.owners(key)))

    def peers(self) -> tuple[GroupPeer, ...]:
        return tuple(self.by_name[n] for n in self.nodes if n != self.me)


class FakeCluster:
    """Groups named the same on n in-process nodes, wired through GroupPeer."""

    def __init__(self, make_group: Callable[[str], Any], n: int = 3, replicas: int = 2) -> None:
        self.names = [f"node{i}" for i in range(n)]
        # What node i calls to reach node j: one GroupPeer per (caller, callee).
        self.links = {a: {b: GroupPeer(b) for b in self.names if b != a} for a in self.names}
        self.groups = {name: make_group(name) for name in self.names}
        for a in self.names:
            for b, link in self.links[a].items():
                link.group = self.groups[b]
            self.groups[a].register_peers(RingPicker(a, self.links[a], replicas))

    def picker(self, name: str) -> RingPicker:
        return self.groups[name]._picker  # type: ignore[no-any-return]

    def set_down(self, name: str, down: bool = True) -> None:
        """Every link to node `name` fails (or works again)."""
        for a in self.names:
            if name in self.links[a]:
                self.links[a][name].down = down

    def calls_to(self, name: str) -> list[tuple[str, str]]:
        return [c for a in self.names if name in self.links[a] for c in self.links[a][name].calls]

    def close(self) -> None:
        for g in self.groups.values():
            g.close()


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
