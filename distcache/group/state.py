"""What a group's concerns share, declared for type checkers only.

``Reads``, ``BatchReads``, ``Writes`` and ``Stats`` are mixins of ``Group``:
each reads the attributes ``Group.__init__`` sets (group.py) and the ones the
core's ``HitPath`` gives, and calls a few methods of another concern. Their
modules name ``GroupState`` as their base under ``TYPE_CHECKING`` only; at
run time their base is ``object``. So nothing here reaches ``Group``: no
slots, no attributes, no stub in its MRO that could shadow the core's hit
path, and nothing that differs between the C core and the twin.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from ..peers import PeerPicker, Placement
from ..singleflight import SingleFlight
from .functiontable import FunctionTable
from .hints import Hints
from .hotkeys import HotKeys
from .latency import LatencyHistogram
from .negative import NegativeCache
from .refresh import Refresher
from .replicapush import ReplicaPusher
from .stats import GroupCounters
from .writefence import WriteFence

__all__ = ["GroupState"]


class GroupState(Protocol):
    """The attributes and cross-concern methods of a Group, as its mixins see them."""

    # Set by Group.__init__ (group.py), where each one's comment is.
    name: str
    max_bytes: int
    admission: str | None
    _core: ModuleType
    _getter: Callable[[str], Any]
    _getter_name: str
    _functions: FunctionTable | None
    _getter_async: bool
    _stale_ttl: float
    _picker: PeerPicker | None
    _clock: Any
    _tombstones: Any
    _flight: SingleFlight[tuple[bytes, str]]
    _negative: NegativeCache | None
    _hit_latency: LatencyHistogram
    _miss_latency: LatencyHistogram
    _hot_keys: HotKeys
    _fence: WriteFence
    _counts: GroupCounters
    _pusher: ReplicaPusher
    _hints: Hints
    _refresher: Refresher

    # The core's HitPath (_core.pyx, or _pycore.py's twin).
    _main: Any
    _hot: Any

    @property
    def _hits(self) -> int: ...
    @property
    def _hot_hits(self) -> int: ...
    def get(self, key: Any, /) -> Any: ...
    def get_local(self, key: Any, /) -> Any: ...
    def _peek(self, key: Any, /) -> Any: ...
    def _drain_hit_times(self) -> list[int]: ...
    def _drain_hit_keys(self) -> list[Any]: ...

    # One concern's, called by another: group.py's, then reads.py's.
    def _placement(self, key: str) -> Placement | None: ...
    def _peers_now(self) -> tuple[Any, ...]: ...
    def _store(
        self, key: str, value: Any, ttl: float | None, *, force: bool, version: int = 0
    ) -> None: ...
    def _drain_hits(self) -> None: ...
    def _demote_all(self, keys: list[str]) -> None: ...
    async def _aget_slow(self, key: Any, forward: bool) -> bytes: ...
    def _on_stale(self, key: Any, value: bytes, mode: int) -> bytes: ...
