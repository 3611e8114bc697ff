"""A history of the chaos clients' operations, and the checker that judges it from outside.

The chaos scenarios (chaos.py) record every Set and Get their client threads
make into one ``History``: when it started and ended on the test's clock,
which node was asked, what came back (the value, the version, or the error).
After the faults stop and a repair window passes, every key that was written
is read once more from every live node (the final sweep: the node's own
cached copy, asked with ``cache_only``, then an ordinary Get). ``check``
then applies three rules (docs/reliability.md, "Faults on a real cluster"):

- diverged keys: at the end, every node answers the same value for a key,
  and it is the value of the acknowledged write with the highest version, or
  of a newer write whose outcome the client does not know (it timed out or
  failed after the node may have passed it on: it may or may not have been
  applied); no node's cache holds another value of it;
- stale reads: a Get that started after a Set of its key was acknowledged
  by every replica (SetResponse.missed = 0) returns a value at least as new
  as that Set's; after the scenario's repair time (its faults healed and
  the hints replayed), so does a Get after any acknowledged Set;
- no phantom values: a Get returns a value some Set of that key wrote, or
  the source's value of that key.

Every written value is unique (``b"w<writer>-<seq>"``), so the value a Get
returns names the write it came from, and that write's version orders it. A
value the source holds is older than any write (the scenarios never write a
source value). The version of a write whose answer was lost is learned from
any node that answered that value with its version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ACKED", "FAILED", "UNKNOWN", "Copy", "History", "ReadOp", "Verdict", "WriteOp",
           "check"]

ACKED = "acked"  # the node answered success: the write took `version`
FAILED = "failed"  # the node answered success = false (no replica took it, it says)
UNKNOWN = "unknown"  # no answer (a deadline, a broken connection): applied or not


@dataclass(frozen=True)
class WriteOp:
    """One Set a client made."""

    writer: str  # the thread that made it
    key: str
    value: bytes
    node: str  # the node asked
    start: float  # seconds on the history's clock
    end: float
    outcome: str  # ACKED, FAILED or UNKNOWN
    version: int = 0  # SetResponse.version when acked, else 0
    error: str = ""
    missed: int = 0  # SetResponse.missed: replicas that had not taken it when acked


@dataclass(frozen=True)
class ReadOp:
    """One Get a client made; value None when it failed or found nothing."""

    reader: str
    key: str
    node: str
    start: float
    end: float
    value: bytes | None
    version: int = 0  # GetResponse.version: 0 when the node answered from no copy of its own
    error: str = ""


@dataclass(frozen=True)
class Copy:
    """What one node answered for one key in the final sweep."""

    key: str
    node: str
    cached: bytes | None  # its own main-cache copy (cache_only), None when it holds none
    cached_version: int
    value: bytes | None  # an ordinary Get through it; None when that failed
    version: int
    error: str = ""


@dataclass
class Verdict:
    """What check() found: the problems, and the two figures of the chaos table."""

    diverged_keys: int = 0
    stale_reads: int = 0
    excused_reads: int = 0  # stale, but excused by the scenario (kept narrow; see chaos.py)
    # Older than a Set a replica had missed, before the repair time: allowed.
    missed_reads: int = 0
    unjudged_reads: int = 0  # returned a lost write whose version no node ever told
    phantom_reads: int = 0
    stale: list[ReadOp] = field(default_factory=list)  # the stale reads themselves
    problems: list[str] = field(default_factory=list)


class History:
    """Every operation of one scenario's clients, recorded from many threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        # Guards writes, reads and sweep: appended by the load's threads,
        # read by check() after they stopped.
        self._lock = threading.Lock()
        self.writes: list[WriteOp] = []
        self.reads: list[ReadOp] = []
        self.sweep: list[Copy] = []

    def write(self, op: WriteOp) -> None:
        """Records a Set."""
        with self._lock:
            self.writes.append(op)

    def read(self, op: ReadOp) -> None:
        """Records a Get."""
        with self._lock:
            self.reads.append(op)

    def final(self, copy: Copy) -> None:
        """Records one node's answer for one key in the final sweep."""
        with self._lock:
            self.sweep.append(copy)

    def written_keys(self) -> list[str]:
        """Every key some Set was sent for, in the order first written."""
        with self._lock:
            return list(dict.fromkeys(w.key for w in self.writes))


def _examples(lines: list[str]) -> str:
    return "; ".join(lines[:3]) + (f" (and {len(lines) - 3} more)" if len(lines) > 3 else "")


def check(history: History, source: Callable[[str], bytes | None], *,
          excused: Callable[[ReadOp, WriteOp], bool] = lambda read, write: False,
          repaired_at: float = 0.0) -> Verdict:
    """Judges history by the three rules of this module's docstring.

    source(key) is the source of truth's value of key (None when it has none).
    excused(read, write) says that read may return a value older than write,
    the newest acknowledged write of its key before it started (a scenario's
    documented exception: keep it narrow). repaired_at: when the scenario's
    faults were over and a repair window had passed; before it a Get is not
    held to a Set that a replica missed (it reaches that replica as a hint).
    """
    with history._lock:
        writes, reads, sweep = list(history.writes), list(history.reads), list(history.sweep)
    verdict = Verdict()
    by_value: dict[bytes, WriteOp] = {}
    for w in writes:
        if w.value in by_value:
            raise ValueError(f"the value {w.value!r} was written twice: values must be unique")
        by_value[w.value] = w
    # A write whose answer was lost has the version of the copies made of it.
    learned: dict[bytes, int] = {w.value: w.version for w in writes if w.outcome == ACKED}
    told = [(r.value, r.version) for r in reads] + [(c.cached, c.cached_version) for c in sweep]
    told += [(c.value, c.version) for c in sweep]
    for value, version in told:
        if value is not None and version and value in by_value:
            learned.setdefault(value, version)
    acked: dict[str, list[WriteOp]] = {}
    for w in writes:
        if w.outcome == ACKED:
            acked.setdefault(w.key, []).append(w)

    def version_of(key: str, value: bytes) -> int | None:
        """The version a value read for key stands for: 0 for the source's,
        None when unknown; raises KeyError for a phantom."""
        w = by_value.get(value)
        if w is not None and w.key == key:
            return learned.get(value)
        if value == source(key):
            return 0
        raise KeyError(value)

    phantoms: list[str] = []
    stale: list[str] = []
    for r in reads:
        if r.value is None:
            continue
        try:
            got = version_of(r.key, r.value)
        except KeyError:
            phantoms.append(f"{r.key} via {r.node} at t={r.start:.2f}: {r.value[:40]!r}")
            continue
        done = [w for w in acked.get(r.key, ()) if w.end < r.start]
        before = [w for w in done if w.missed == 0 or r.start >= repaired_at]
        if got is not None and len(before) < len(done) and any(got < w.version for w in done) \
                and not any(got < w.version for w in before):
            verdict.missed_reads += 1
        if not before:
            continue
        newest = max(before, key=lambda w: w.version)
        if got is None:
            verdict.unjudged_reads += 1
        elif got < newest.version:
            if excused(r, newest):
                verdict.excused_reads += 1
            else:
                verdict.stale.append(r)
                stale.append(f"{r.key} via {r.node} at t={r.start:.2f} got {r.value[:24]!r} "
                             f"(v{got}; the node said v{r.version}), but {newest.value!r} "
                             f"(v{newest.version}) was acked via {newest.node} at "
                             f"t={newest.end:.2f}")
    verdict.stale_reads = len(stale)
    verdict.phantom_reads = len(phantoms)

    copies: dict[str, list[Copy]] = {}
    for c in sweep:
        copies.setdefault(c.key, []).append(c)
    diverged: list[str] = []
    for key in dict.fromkeys(w.key for w in writes):
        why = _diverged(key, copies.get(key, []), acked.get(key, []),
                        [w for w in writes if w.key == key and w.outcome != ACKED],
                        learned, source(key))
        if why:
            diverged.append(f"{key}: {why}")
    verdict.diverged_keys = len(diverged)

    if phantoms:
        verdict.problems.append(f"{len(phantoms)} reads returned a value never written nor "
                                f"the source's: {_examples(phantoms)}")
    if stale:
        verdict.problems.append(f"{len(stale)} stale reads: {_examples(stale)}")
    if diverged:
        verdict.problems.append(f"{len(diverged)} diverged keys after the repair window: "
                                f"{_examples(diverged)}")
    return verdict


def _diverged(key: str, copies: list[Copy], acked: list[WriteOp], others: list[WriteOp],
              learned: dict[bytes, int], source: bytes | None) -> str:
    """Why the final sweep of key breaks the rule (empty when it holds)."""
    if not copies:
        return "never read in the final sweep"
    failed = [c for c in copies if c.value is None]
    if failed:
        return "the final Get failed via " + ", ".join(f"{c.node} ({c.error})" for c in failed)
    answers = {c.value for c in copies}
    if len(answers) > 1:
        return "nodes answer different values: " + ", ".join(
            f"{c.node} {c.value[:24]!r}" for c in copies if c.value is not None)
    final = next(iter(answers))
    assert final is not None
    newest = max((w.version for w in acked), default=0)
    # What may be there at the end: the newest acknowledged write, or a newer
    # one whose outcome is not known; with no write acknowledged, also the source's.
    allowed = {w.value for w in acked if w.version == newest}
    allowed |= {w.value for w in others if learned.get(w.value, 0) > newest}
    if not acked:
        allowed |= {w.value for w in others if w.value not in learned}
        if source is not None:
            allowed.add(source)
    if final not in allowed:
        what = "the source's value" if final == source else repr(final[:24])
        told = f" (v{learned[final]})" if final in learned else ""
        return (f"every node answers {what}{told}, not the newest acknowledged write "
                f"{next(iter(w.value for w in acked if w.version == newest), None)!r} "
                f"(v{newest}) or a newer unacknowledged one")
    wrong = [c for c in copies if c.cached is not None and c.cached != final]
    if wrong:
        return f"every node answers {final[:24]!r}, but " + ", ".join(
            f"{c.node} caches {c.cached[:24]!r} (v{c.cached_version})" for c in wrong)
    return ""
