"""A network that holds every write until told to deliver it: the replica model's peers.

A group's set and delete to a peer (a forwarded write, a replica push) become
a Message in a Mailbox; the test delivers them later, in any order, any
number of times. Calls whose answer the caller needs at once (a forwarded
get, a co-replica's cache-only ask) are answered on the spot by the other
node's current group. Keyword arguments are carried through unchanged, so a
write the group makes with a new keyword reaches the receiving group as it
would through a node's gRPC service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from distcache.group import new_group
from distcache.hlc import HybridClock
from distcache.peers import NotFound, Placement

START_MS = 1_700_000_000_000
# How long one flush of a group's push thread may take before it counts as a hang.
BOUND = 20.0


@dataclass
class Node:
    """One simulated node: the group it runs now (replaced on a restart)."""

    index: int
    group: Any = None


@dataclass(frozen=True)
class Message:
    """One set or delete a group sent to a peer, not delivered yet."""

    sender: int
    receiver: int
    method: str  # "set" or "delete": the receiving group's method of that name
    key: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(hash=False)

    @property
    def version(self) -> int:
        """The version the write carries (0: unversioned)."""
        return int(self.kwargs.get("version", 0))

    def __str__(self) -> str:
        what = f"{self.args[0]!r}" if self.method == "set" else "delete"
        return f"n{self.sender}->n{self.receiver} {self.key}={what} v={self.version}"


class Mailbox:
    """The messages in flight between the nodes, in the order they were sent."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        # Guards pending: a replica push is posted from the group's push thread.
        self._lock = threading.Lock()
        self.pending: list[Message] = []

    def post(self, message: Message) -> None:
        """Holds message until it is delivered."""
        with self._lock:
            self.pending.append(message)

    def take(self, index: int) -> Message:
        """Removes and returns the pending message at index."""
        with self._lock:
            return self.pending.pop(index)

    def take_all(self) -> list[Message]:
        """Removes and returns every pending message, oldest first."""
        with self._lock:
            taken, self.pending = self.pending, []
        return taken

    def deliver(self, message: Message) -> None:
        """Applies message to the receiver's current group, as its node's service would."""
        group = self.nodes[message.receiver].group
        if message.method == "set":
            group.set(message.key, *message.args, **message.kwargs)
        else:
            group.delete(message.key, *message.args, **message.kwargs)

    def drop_to(self, receiver: int) -> list[Message]:
        """Removes (and returns) every pending message to receiver: lost with its process."""
        with self._lock:
            lost = [m for m in self.pending if m.receiver == receiver]
            self.pending = [m for m in self.pending if m.receiver != receiver]
        return lost


class MailboxPeer:
    """What node `sender` calls to reach node `receiver`: writes are posted, reads answered."""

    def __init__(self, mailbox: Mailbox, sender: int, receiver: int) -> None:
        self.mailbox = mailbox
        self.sender = sender
        self.receiver = receiver

    def _target(self) -> Any:
        return self.mailbox.nodes[self.receiver].group

    def set(self, group: str, key: str, value: bytes, ttl: float | None = None,
            **kwargs: Any) -> None:
        self.mailbox.post(Message(self.sender, self.receiver, "set", key,
                                  (bytes(value), ttl), dict(kwargs)))

    def delete(self, group: str, key: str, **kwargs: Any) -> bool:
        self.mailbox.post(Message(self.sender, self.receiver, "delete", key, (), dict(kwargs)))
        return False  # not known until delivered; a broadcast ignores it

    def get(self, group: str, key: str, *, forwarded: bool = True) -> bytes:
        assert forwarded, "a group never asks a peer to forward"
        return self._target().get_local(key)  # type: ignore[no-any-return]

    def get_many(self, group: str, keys: Iterable[str], *, forwarded: bool = True
                 ) -> dict[str, bytes]:
        out = {}
        for key in keys:
            try:
                out[key] = self.get(group, key, forwarded=forwarded)
            except NotFound:
                pass
        return out

    def get_cached(self, group: str, key: str) -> tuple[bytes, int] | None:
        return self._target().cached(key)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<MailboxPeer n{self.sender}->n{self.receiver}>"


class EveryNodePicker:
    """Places every key on every node (ring order: node 0 first), with this node's clock."""

    def __init__(self, me: int, peers: dict[int, MailboxPeer], clock: HybridClock) -> None:
        self.me = me
        self.by_index = peers
        self.clock = clock
        self._order = sorted([me, *peers])

    def placement(self, key: str) -> Placement:
        return Placement(tuple(None if i == self.me else self.by_index[i] for i in self._order))

    def peers(self) -> tuple[MailboxPeer, ...]:
        return tuple(self.by_index[i] for i in self._order if i != self.me)


class ModelTime:
    """Real time in milliseconds, and each node's wall clock skewed from it."""

    def __init__(self, nodes: int) -> None:
        self.ms = START_MS
        self.skew = [0] * nodes

    def wall(self, node: int) -> Callable[[], float]:
        """Node's wall clock in seconds, as time.time gives it."""
        # +0.5 ms: HybridClock takes int(seconds * 1000), which must not round down.
        return lambda: (self.ms + self.skew[node] + 0.5) / 1000


class SimulatedNodes:
    """n nodes of one group, every key on all of them, their writes in one Mailbox."""

    def __init__(self, core: ModuleType, n: int, getter: Callable[[str], bytes]) -> None:
        self.core = core
        self.getter = getter
        self.time = ModelTime(n)
        self.nodes = [Node(i) for i in range(n)]
        self.mailbox = Mailbox(self.nodes)
        for i in range(n):
            self._start(i)

    def __getitem__(self, i: int) -> Any:
        return self.nodes[i].group

    def _start(self, i: int) -> None:
        """Starts node i: a new group and a new clock, as a new process has."""
        n = len(self.nodes)
        group = new_group(f"replica_model_n{i}", 1 << 20, self.getter, _core=self.core)
        peers = {j: MailboxPeer(self.mailbox, i, j) for j in range(n) if j != i}
        group.register_peers(EveryNodePicker(i, peers, HybridClock(i + 1, self.time.wall(i))))
        self.nodes[i].group = group

    def restart(self, i: int, downtime_ms: int) -> list[Message]:
        """Node i stops (its caches, tombstones and clock gone) and starts again after
        downtime_ms; the messages to it that were in flight, lost."""
        lost = self.mailbox.drop_to(i)
        self.nodes[i].group.close()
        self.time.ms += downtime_ms
        self._start(i)
        return lost

    def deliver(self, message: Message) -> None:
        """Delivers message, then lets the receiver's push thread post what it sends."""
        self.mailbox.deliver(message)
        assert self.nodes[message.receiver].group._pusher.flush(BOUND), "a push hung"

    def deliver_all(self, rounds: int = 8) -> None:
        """Delivers every pending message, oldest first, and what they send, for up to
        rounds rounds."""
        for _ in range(rounds):
            messages = self.mailbox.take_all()
            if not messages:
                return
            for message in messages:
                self.deliver(message)
        raise AssertionError(f"still sending after {rounds} rounds: {self.mailbox.pending}")

    def held(self, key: str) -> list[tuple[bytes, int] | None]:
        """(value, version) of key in each node's main cache, None where absent."""
        return [node.group.cached(key) for node in self.nodes]

    def close(self) -> None:
        """Closes every node's group."""
        for node in self.nodes:
            node.group.close()
