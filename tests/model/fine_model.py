"""A finer-grained model of csrc/lru.h's reservation: keys, get/delete/clear, stale loads.

It differs from tests/model/reserve_model.py where that one fuses actions:
the load of nbytes is its own step (the decision to evict can use a stale
value; the CAS then fails, also spuriously, as a weak CAS may), the two
passes of dc_cache_evict_other are modelled (a trylock per sampled shard,
held for one step while its tail is peeked, so other threads' trylocks see
it busy; the victim shard chosen by any of the sampled ones, standing in for
the stamp comparison; the second trylock, which can fail or find the shard
emptied), a store finds and unlinks its key's old entry, get moves an entry
to the head, delete unlinks by key, and clear unlinks one entry per step.
Checked as there: nbytes <= max, bytes conserved, no key twice, no
deadlock, from every state some interleaving finishes every thread, and at
a final state no lock held and every store linked.

    python -m tests.model.fine_model [--protocol NAME] [--config NAME] [--expect-violation]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from tests.model.explore import explore

# fixed: lru.h now; buggy: before the fix of the livelock (commit 662ede6); the
# rest are planted bugs in the fix.
PROTOCOLS = ("fixed", "buggy", "leak", "no-giveback", "hold-lock")

Op = tuple  # ("store", key, size) | ("get", key) | ("delete", key) | ("clear",)
Entry = tuple[str, int]  # (key, size)


@dataclass(frozen=True)
class Config:
    """A starting cache, where each key lives, and each thread's operations."""

    max_bytes: int
    start: tuple[tuple[Entry, ...], ...]  # per shard, LRU tail first
    homes: tuple[tuple[str, int], ...]  # (key, shard)
    programs: tuple[tuple[Op, ...], ...]

    def shard_of(self, key: str) -> int:
        """The shard a key hashes to."""
        return dict(self.homes)[key]


def _homes(**keys: int) -> tuple[tuple[str, int], ...]:
    """A config's key -> shard table from keyword arguments."""
    return tuple(sorted(keys.items()))


CONFIGS = {
    # The livelock of two set_many threads (tests/core/test_gil_free_stress.py):
    # each thread's shard holds less than its store needs; the rest is in the
    # other's shard.
    "mirror-2x2": Config(
        10, ((("a", 3), ("b", 3)), (("c", 3),)), _homes(a=0, b=0, c=1, x=0, y=1),
        ((("store", "x", 8),), (("store", "y", 8),)),
    ),
    # Overwrites release the old entry's bytes first; get reorders the LRU list.
    "overwrite-get-2x2": Config(
        10, ((("a", 3), ("b", 3)), (("c", 3),)), _homes(a=0, b=0, c=1, y=1),
        ((("get", "a"), ("store", "b", 7)), (("store", "y", 8), ("store", "c", 2))),
    ),
    "same-key-3-threads-2-shards": Config(
        10, ((("a", 3),), (("c", 3), ("d", 3))), _homes(a=0, c=1, d=1, k=0, y=1),
        ((("store", "k", 8),), (("store", "k", 5), ("delete", "k")), (("store", "y", 8),)),
    ),
    "with-clear-3-threads-2-shards": Config(
        10, ((("a", 3), ("b", 3)), (("c", 3),)), _homes(a=0, b=0, c=1, x=0, y=1),
        ((("store", "x", 8),), (("store", "y", 8),), (("clear",),)),
    ),
    "three-threads-3-shards": Config(
        12, ((("a", 4),), (("b", 4),), (("c", 4),)), _homes(a=0, b=1, c=2, x=0, y=1, z=2),
        ((("store", "x", 9),), (("store", "y", 9),), (("store", "z", 9),)),
    ),
    "three-threads-3-shards-mixed": Config(
        14, ((("a", 4),), (("b", 4), ("e", 2)), (("c", 4),)),
        _homes(a=0, b=1, c=2, e=1, x=0, y=1, z=2),
        ((("store", "x", 10), ("get", "b")), (("store", "y", 10), ("delete", "a")),
         (("store", "z", 10),)),
    ),
    "two-stores-each-3-threads-2-shards": Config(
        10, ((("a", 3),), (("c", 3), ("d", 3))), _homes(a=0, c=1, d=1, k=0, m=1, y=1),
        ((("store", "k", 8), ("store", "m", 4)), (("store", "y", 8), ("get", "k")),
         (("store", "a", 6), ("clear",))),
    ),
    "four-threads-2-shards": Config(
        10, ((("a", 3),), (("c", 3), ("d", 3))), _homes(a=0, c=1, d=1, w=1, x=0, y=1, z=0),
        ((("store", "x", 8),), (("store", "y", 8),), (("store", "z", 4),), (("store", "w", 7),)),
    ),
    "two-stores-each-3-threads-3-shards": Config(
        12, ((("a", 4),), (("b", 4),), (("c", 4),)),
        _homes(a=0, b=1, c=2, u=1, v=2, w=0, x=0, y=1, z=2),
        ((("store", "x", 9), ("store", "u", 5)), (("store", "y", 9), ("store", "v", 5)),
         (("store", "z", 9), ("store", "w", 5))),
    ),
}

# pc values; a thread is (pc, op index, freed, cur, aux, links). aux: the
# sampling pass's (j, candidate bit mask), the victim shard, or clear's shard.
LOCK, FIND, LOAD, ACT, PROBE, PEEK, CHOOSE, TAKE, EVICT, NONE, LINK, DONE = (
    "lock", "find", "load", "act", "probe", "peek", "choose", "take", "evict", "none",
    "link", "done")
GET, DEL, CLEAR_LOCK, CLEAR = "get", "del", "clear-lock", "clear"
# pcs at which a thread holds its own shard's lock
HOLDS_OWN = {FIND, LOAD, ACT, PROBE, PEEK, CHOOSE, TAKE, EVICT, NONE, LINK, GET, DEL}

State = tuple  # (locks, shards, nbytes, threads)


def initial(cfg: Config) -> State:
    """The state before any thread has run."""
    threads = tuple(_begin(cfg, t, 0, 0) for t in range(len(cfg.programs)))
    return ((-1,) * len(cfg.start), cfg.start, sum(sz for s in cfg.start for _, sz in s), threads)


def _begin(cfg: Config, t: int, i: int, links: int) -> tuple:
    """A thread about to start its op i."""
    prog = cfg.programs[t]
    if i == len(prog):
        return (DONE, i, 0, None, None, links)
    return (CLEAR_LOCK if prog[i][0] == "clear" else LOCK, i, 0, None, 0, links)


def _set(tup: tuple, i: int, value: object) -> tuple:
    """tup with item i replaced."""
    return tup[:i] + (value,) + tup[i + 1 :]


def _without(shard: tuple[Entry, ...], key: str) -> tuple[tuple[Entry, ...], int]:
    """The shard without key's entry, and that entry's size (0 if absent)."""
    for n, (k, sz) in enumerate(shard):
        if k == key:
            return shard[:n] + shard[n + 1 :], sz
    return shard, 0


def successors(cfg: Config, state: State, protocol: str) -> list[tuple[str, State]]:
    """Every (step label, next state) of every thread that can move."""
    locks, shards, nbytes, threads = state
    n = len(shards)
    out: list[tuple[str, State]] = []
    for t, th in enumerate(threads):
        pc, i, freed, cur, aux, links = th
        if pc == DONE:
            continue
        op = cfg.programs[t][i]
        s = cfg.shard_of(op[1]) if op[0] != "clear" else aux

        def go(label: str, new: tuple, locks=locks, shards=shards, nbytes=nbytes, t=t) -> None:
            out.append((f"T{t} {label}", (locks, shards, nbytes, _set(threads, t, new))))

        if pc == LOCK:  # dc_lock: blocking, so not enabled while another holds it
            if locks[s] == -1:
                nxt = {"store": FIND, "get": GET, "delete": DEL}[op[0]]
                go(f"locks shard {s}", (nxt, i, freed, None, 0, links), locks=_set(locks, s, t))
        elif pc == FIND:
            rest, old = _without(shards[s], op[1])
            label = f"unlinks old {op[1]} ({old})" if old else f"finds no {op[1]}"
            go(label, (LOAD, i, freed, None, 0, links),
               shards=_set(shards, s, rest), nbytes=nbytes - old)
        elif pc == LOAD:
            go(f"loads nbytes {nbytes}", (ACT, i, freed, nbytes, 0, links))
        elif pc == ACT:
            size = op[2]
            if cur - freed + size <= cfg.max_bytes:
                if nbytes == cur:
                    go(f"CAS {cur}->{cur - freed + size} (reserves {size}, gives back {freed})",
                       (LINK, i, 0, None, 0, links), nbytes=cur - freed + size)
                # a weak CAS may fail even when nbytes == cur
                go(f"CAS {cur} fails (nbytes {nbytes})", (LOAD, i, freed, None, 0, links))
            elif shards[s]:
                (k, sz), rest = shards[s][0], shards[s][1:]
                go(f"detaches own tail {k} ({sz}; freed {freed + sz})",
                   (LOAD, i, freed + sz, None, 0, links), shards=_set(shards, s, rest))
            elif freed and protocol in ("fixed", "hold-lock"):
                go(f"gives back {freed}", (LOAD, i, 0, None, 0, links), nbytes=nbytes - freed)
            elif freed and protocol == "leak":  # DC_RETRY forgetting its local freed
                go(f"returns DC_RETRY, dropping freed {freed} unreleased",
                   (NONE, i, 0, None, 0, links))
            else:
                go("samples other shards", (PROBE, i, freed, None, (1, 0), links))
        elif pc == PROBE:
            j, cands = aux
            if j == n:
                go("has sampled", (CHOOSE, i, freed, None, cands, links))
            else:
                o = (s + j) % n
                if not shards[o] or locks[o] != -1:  # count == 0, or the trylock fails
                    why = "empty" if not shards[o] else f"busy (T{locks[o]})"
                    go(f"skips shard {o}: {why}", (PROBE, i, freed, None, (j + 1, cands), links))
                else:
                    go(f"trylocks shard {o} to peek", (PEEK, i, freed, None, (j, cands), links),
                       locks=_set(locks, o, t))
        elif pc == PEEK:
            j, cands = aux
            o = (s + j) % n
            if shards[o]:
                cands |= 1 << o
            go(f"peeks shard {o}, unlocks it", (PROBE, i, freed, None, (j + 1, cands), links),
               locks=_set(locks, o, -1))
        elif pc == CHOOSE:  # the oldest stamp wins; any sampled shard may be oldest
            chosen = [o for o in range(n) if aux >> o & 1]
            for o in chosen:
                go(f"picks shard {o}", (TAKE, i, freed, None, o, links))
            if not chosen:
                go("found no victim", (NONE, i, freed, None, 0, links))
        elif pc == TAKE:
            if locks[aux] != -1:
                go(f"trylock of shard {aux} fails", (NONE, i, freed, None, 0, links))
            else:
                go(f"trylocks shard {aux}", (EVICT, i, freed, None, aux, links),
                   locks=_set(locks, aux, t))
        elif pc == EVICT:
            if shards[aux]:
                (k, sz), rest = shards[aux][0], shards[aux][1:]
                go(f"evicts {k} ({sz}) from shard {aux}, unlocks it",
                   (LOAD, i, freed, None, 0, links), locks=_set(locks, aux, -1),
                   shards=_set(shards, aux, rest), nbytes=nbytes - sz)
            else:
                go(f"finds shard {aux} emptied, unlocks it", (NONE, i, freed, None, 0, links),
                   locks=_set(locks, aux, -1))
        elif pc == NONE:  # dc_cache_evict_other returned NULL
            if protocol in ("fixed", "leak", "no-giveback"):  # DC_RETRY
                go(f"unlocks shard {s} to retry (freed {freed})",
                   (LOCK, i, freed, None, 0, links), locks=_set(locks, s, -1))
            else:  # sched_yield(); continue -- still holding the lock (and freed)
                go(f"yields holding shard {s} (freed {freed})", (LOAD, i, freed, None, 0, links))
        elif pc == LINK:
            go(f"links {op[1]} ({op[2]}) into shard {s}, unlocks it",
               _begin(cfg, t, i + 1, links + 1), locks=_set(locks, s, -1),
               shards=_set(shards, s, shards[s] + ((op[1], op[2]),)))
        elif pc == GET:
            rest, sz = _without(shards[s], op[1])
            moved = rest + ((op[1], sz),) if sz else rest
            go(f"gets {op[1]} ({'hit' if sz else 'miss'}), unlocks shard {s}",
               _begin(cfg, t, i + 1, links), locks=_set(locks, s, -1),
               shards=_set(shards, s, moved))
        elif pc == DEL:
            rest, sz = _without(shards[s], op[1])
            go(f"deletes {op[1]} ({sz}), unlocks shard {s}", _begin(cfg, t, i + 1, links),
               locks=_set(locks, s, -1), shards=_set(shards, s, rest), nbytes=nbytes - sz)
        elif pc == CLEAR_LOCK:
            if locks[s] == -1:
                go(f"clear locks shard {s}", (CLEAR, i, 0, None, s, links), locks=_set(locks, s, t))
        elif pc == CLEAR:
            if shards[s]:
                (k, sz), rest = shards[s][0], shards[s][1:]
                go(f"clear unlinks {k} ({sz})", th, shards=_set(shards, s, rest),
                   nbytes=nbytes - sz)
            elif s + 1 < n:
                go(f"clear unlocks shard {s}", (CLEAR_LOCK, i, 0, None, s + 1, links),
                   locks=_set(locks, s, -1))
            else:
                go(f"clear unlocks shard {s}", _begin(cfg, t, i + 1, links),
                   locks=_set(locks, s, -1))
    return out


def invariant_error(cfg: Config, state: State) -> str | None:
    """What is wrong with a state, or None."""
    locks, shards, nbytes, threads = state
    if nbytes > cfg.max_bytes:
        return f"nbytes {nbytes} > max_bytes {cfg.max_bytes}"
    linked = sum(sz for s in shards for _, sz in s)
    reserved = sum(cfg.programs[t][i][2] for t, (pc, i, *_) in enumerate(threads) if pc == LINK)
    held = sum(th[2] for th in threads)
    if nbytes != linked + reserved + held:
        return f"nbytes {nbytes} != linked {linked} + reserved {reserved} + freed {held}"
    keys = [k for s in shards for k, _ in s]
    if len(keys) != len(set(keys)):
        return f"a key is cached twice: {sorted(keys)}"
    for t, (pc, i, *_) in enumerate(threads):
        op = cfg.programs[t][i] if pc != DONE else None
        if pc in HOLDS_OWN and locks[cfg.shard_of(op[1])] != t:
            return f"model error: T{t} at {pc} does not hold its shard's lock"
    return None


def final_error(cfg: Config, state: State) -> str | None:
    """What is wrong with a state where every thread has finished, or None."""
    locks, shards, nbytes, threads = state
    if any(owner != -1 for owner in locks):
        return f"locks still held at the end: {locks}"
    if nbytes != sum(sz for s in shards for _, sz in s):
        return f"final nbytes {nbytes} is not the linked bytes"
    for t, th in enumerate(threads):
        stores = sum(op[0] == "store" for op in cfg.programs[t])
        if th[5] != stores:
            return f"T{t} linked {th[5]} of its {stores} stores"
    return None


@dataclass
class Result:
    """What a run of the checker found."""

    states: int
    transitions: int
    seconds: float
    violation: str | None
    trace: list[str]


def check(cfg: Config, protocol: str, limit: int = 3_000_000) -> Result:
    """Explores every interleaving of cfg; the first violation found, with its path."""
    t0 = time.perf_counter()

    def finished(state: State) -> bool:
        return all(th[0] == DONE for th in state[3])

    def error(state: State) -> str | None:
        return invariant_error(cfg, state) or (
            final_error(cfg, state) if finished(state) else None)

    e = explore(initial(cfg), lambda st: successors(cfg, st, protocol), error, finished, limit)
    trace = [] if e.violation is None else e.path_to(e.at)
    if e.violation is not None and e.violation.startswith("livelock"):
        trace += _lasso(cfg, e.at, protocol)
    return Result(e.states, e.transitions, time.perf_counter() - t0, e.violation, trace)


def _lasso(cfg: Config, state: State, protocol: str) -> list[str]:
    """A run from a stuck state, round robin over threads, until it repeats a state."""
    # The stuck states are closed under successors and none is dead, so it cycles.
    trace = ["-- no interleaving finishes from here; round robin continues:"]
    seen: dict[State, int] = {}
    last = -1
    while state not in seen:
        seen[state] = len(trace)
        moves = successors(cfg, state, protocol)
        label, state = min(moves, key=lambda m: (int(m[0][1:].split()[0]) - last - 1) % 99)
        last = int(label[1:].split()[0])
        trace.append(label)
    trace.insert(seen[state], "-- cycle starts here:")
    return trace + ["-- ...and so on forever"]


def main(argv: list[str] | None = None) -> int:
    """Checks the configurations; exit 1 on a violation (0 with --expect-violation)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=PROTOCOLS, default="fixed")
    ap.add_argument("--config", choices=list(CONFIGS), action="append")
    ap.add_argument("--expect-violation", action="store_true",
                    help="succeed only if some configuration has a violation")
    args = ap.parse_args(argv)
    found = False
    for name in args.config or list(CONFIGS):
        r = check(CONFIGS[name], args.protocol)
        print(f"{args.protocol:11} {name:30} {r.states:8} states {r.transitions:9} transitions "
              f"{r.seconds:6.2f} s  {r.violation or 'ok'}")
        if r.violation:
            found = True
            print("\n".join(f"    {step}" for step in r.trace))
    return 0 if found == args.expect_violation else 1


if __name__ == "__main__":
    sys.exit(main())
