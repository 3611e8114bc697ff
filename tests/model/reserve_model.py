"""An exhaustive model of the byte-budget reservation in csrc/lru.h.

Every interleaving of a few threads storing into a few shards is explored
(explicit states, breadth first). Each step is one shared-memory action of
dc_cache_store / dc_cache_reserve / dc_cache_evict_other: taking the own
shard's lock (blocking), a compare-and-swap of the global nbytes, detaching
the own shard's tail, giving freed bytes back, a trylock-evict-unlock of
another shard, dropping the own lock to retry, linking. Checked in every
reachable state: nbytes <= max_bytes; bytes are conserved (nbytes equals the
linked entries plus the bytes reserved but not yet linked plus the bytes
detached but not yet given back); no deadlock; and no livelock: from every
reachable state some interleaving finishes every thread (a backward pass
over the explored graph). A violation is printed as the path that reaches it.

`--protocol buggy` models the reservation before the fix of its livelock
(commit 662ede6: wait for another shard while holding the own lock and the
freed bytes), which livelocks; two
planted variants of the fix ("no-giveback": keeps the freed bytes while it
looks elsewhere; "hold-lock": gives them back but waits holding its lock)
show what each half of the fix is for. They find that the freed bytes were
the cause: a thread that waits holds only the lock of an empty shard, which
no one needs, so "hold-lock" finishes too; dropping the lock is kept because
a get of that shard need not wait behind a store that cannot proceed.

    python -m tests.model.reserve_model [--protocol fixed|buggy] [--config NAME]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from tests.model.explore import explore

PROTOCOLS = ("fixed", "buggy", "no-giveback", "hold-lock")

# Thread program counters.
LOCK, RESERVE, OTHER, LINK, DONE = "lock", "reserve", "other", "link", "done"


@dataclass(frozen=True)
class Config:
    """A starting cache and the operations each thread runs, in order."""

    max_bytes: int
    shards: tuple[tuple[int, ...], ...]  # entry sizes per shard, LRU tail first
    programs: tuple[tuple[tuple[str, int, int], ...], ...]  # (op, shard, size) per thread


CONFIGS = {
    # The livelock of two set_many threads (tests/core/test_gil_free_stress.py):
    # each thread's own shard holds less than it needs, the rest is in the
    # other thread's shard.
    "mirror-2x2": Config(10, ((3, 3), (3,)), ((("store", 0, 8),), (("store", 1, 8),))),
    "two-stores-each-2x2": Config(
        10, ((3,), (3, 3)),
        ((("store", 0, 8), ("store", 1, 4)), (("store", 1, 8), ("store", 0, 3))),
    ),
    "with-delete-2x2": Config(
        10, ((3, 3), (3,)), ((("store", 0, 8), ("delete", 1, 0)), (("store", 1, 8),)),
    ),
    "three-threads-2-shards": Config(
        10, ((3,), (3, 3)),
        ((("store", 0, 8),), (("store", 1, 8),), (("store", 0, 4),)),
    ),
    "three-threads-3-shards": Config(
        12, ((4,), (4,), (4,)),
        ((("store", 0, 9),), (("store", 1, 9),), (("store", 2, 9),)),
    ),
    "three-threads-two-stores-3-shards": Config(
        14, ((4,), (4, 2), (4,)),
        ((("store", 0, 9), ("store", 2, 5)), (("store", 1, 9), ("delete", 0, 0)),
         (("store", 2, 9), ("store", 1, 6))),
    ),
    "four-threads-2-shards": Config(
        10, ((3,), (3, 3)),
        ((("store", 0, 8),), (("store", 1, 8),), (("store", 0, 4),), (("store", 1, 7),)),
    ),
    # The victims another thread needs stay in a shard whose owner waits.
    "held-victims-2x2": Config(
        10, ((2,), (3, 3)), ((("store", 0, 9),), (("store", 1, 9),)),
    ),
    "one-shard-3-threads": Config(
        10, ((3, 3, 3),), ((("store", 0, 8),), (("store", 0, 5),), (("store", 0, 10),)),
    ),
}

# A state: (locks, shards, nbytes, threads); locks[s] is the owner's index or
# -1; a thread is (pc, next op index, freed bytes).
State = tuple


def initial(cfg: Config) -> State:
    """The state before any thread has run."""
    nbytes = sum(sum(s) for s in cfg.shards)
    threads = tuple((LOCK if prog else DONE, 0, 0) for prog in cfg.programs)
    return ((-1,) * len(cfg.shards), cfg.shards, nbytes, threads)


def _next_op(cfg: Config, t: int, op_index: int) -> tuple[str, int, int]:
    """A thread's state after finishing op op_index - 1."""
    return (LOCK if op_index < len(cfg.programs[t]) else DONE, op_index, 0)


def successors(cfg: Config, state: State, protocol: str) -> list[tuple[str, State]]:
    """Every (step label, next state) of every thread that can move."""
    locks, shards, nbytes, threads = state
    out = []
    for t, (pc, i, freed) in enumerate(threads):
        if pc == DONE:
            continue
        op, s, size = cfg.programs[t][i]

        def with_thread(new: tuple, locks=locks, shards=shards, nbytes=nbytes, t=t) -> State:
            return (locks, shards, nbytes, threads[:t] + (new,) + threads[t + 1 :])

        if pc == LOCK:
            if locks[s] != -1:
                continue  # blocked on the lock
            if op == "delete":  # lock, unlink the tail, release, unlock: one step here
                shard = shards[s]
                if shard:
                    sh = shards[:s] + (shard[1:],) + shards[s + 1 :]
                    out.append((f"T{t} delete in shard {s}",
                                with_thread(_next_op(cfg, t, i + 1), shards=sh,
                                            nbytes=nbytes - shard[0])))
                else:
                    out.append((f"T{t} delete finds shard {s} empty",
                                with_thread(_next_op(cfg, t, i + 1))))
                continue
            lk = locks[:s] + (t,) + locks[s + 1 :]
            out.append((f"T{t} locks shard {s}", with_thread((RESERVE, i, freed), locks=lk)))
        elif pc == RESERVE:
            if nbytes - freed + size <= cfg.max_bytes:
                out.append((f"T{t} reserves {size} (CAS, gives back {freed})",
                            with_thread((LINK, i, 0), nbytes=nbytes - freed + size)))
            elif shards[s]:
                tail = shards[s][0]
                sh = shards[:s] + (shards[s][1:],) + shards[s + 1 :]
                out.append((f"T{t} detaches own tail {tail} (freed {freed + tail})",
                            with_thread((RESERVE, i, freed + tail), shards=sh)))
            elif freed and protocol in ("fixed", "hold-lock"):
                out.append((f"T{t} gives back {freed}",
                            with_thread((RESERVE, i, 0), nbytes=nbytes - freed)))
            else:
                out.append((f"T{t} looks at other shards", with_thread((OTHER, i, freed))))
        elif pc == OTHER:
            victims = [o for o in range(len(shards))
                       if o != s and shards[o] and locks[o] == -1]
            for o in victims:  # trylock, evict the tail, unlock: which one is the sample's
                tail = shards[o][0]
                sh = shards[:o] + (shards[o][1:],) + shards[o + 1 :]
                out.append((f"T{t} evicts {tail} from shard {o}",
                            with_thread((RESERVE, i, freed), shards=sh, nbytes=nbytes - tail)))
            if not victims:
                if protocol == "fixed":  # DC_RETRY: drop the own lock and start again
                    lk = locks[:s] + (-1,) + locks[s + 1 :]
                    out.append((f"T{t} finds no victim, unlocks shard {s} to retry",
                                with_thread((LOCK, i, 0), locks=lk)))
                elif protocol == "no-giveback":  # drops the lock, keeps the bytes
                    lk = locks[:s] + (-1,) + locks[s + 1 :]
                    out.append((f"T{t} finds no victim, unlocks shard {s} keeping {freed}",
                                with_thread((LOCK, i, freed), locks=lk)))
                else:  # sched_yield(); continue -- holding the lock and freed
                    out.append((f"T{t} finds no victim, yields holding shard {s}",
                                with_thread((RESERVE, i, freed))))
        elif pc == LINK:
            lk = locks[:s] + (-1,) + locks[s + 1 :]
            sh = shards[:s] + (shards[s] + (size,),) + shards[s + 1 :]
            out.append((f"T{t} links {size} into shard {s}, unlocks",
                        with_thread(_next_op(cfg, t, i + 1), locks=lk, shards=sh)))
    return out


def invariant_error(cfg: Config, state: State) -> str | None:
    """What is wrong with a state's byte accounting, or None."""
    locks, shards, nbytes, threads = state
    if nbytes > cfg.max_bytes:
        return f"nbytes {nbytes} > max_bytes {cfg.max_bytes}"
    reserved = sum(cfg.programs[t][i][2] for t, (pc, i, _) in enumerate(threads) if pc == LINK)
    held = sum(freed for _, _, freed in threads)
    linked = sum(sum(s) for s in shards)
    if nbytes != linked + reserved + held:
        return f"nbytes {nbytes} != linked {linked} + reserved {reserved} + freed {held}"
    return None


@dataclass
class Result:
    """What a run of the checker found."""

    states: int
    transitions: int
    violation: str | None
    trace: list[str]


def check(cfg: Config, protocol: str, limit: int = 2_000_000) -> Result:
    """Explores every interleaving of cfg; the first violation found, with its path."""

    def finished(state: State) -> bool:
        return all(pc == DONE for pc, _, _ in state[3])

    def error(state: State) -> str | None:
        err = invariant_error(cfg, state)
        if err is None and finished(state) and state[2] != sum(sum(x) for x in state[1]):
            err = "final nbytes wrong"
        return err

    e = explore(initial(cfg), lambda st: successors(cfg, st, protocol), error, finished, limit)
    if e.violation is None:
        return Result(e.states, e.transitions, None, [])
    trace = e.path_to(e.at)
    if e.violation.startswith("livelock"):
        trace.append("-- no interleaving finishes from here; one continues:")
        seen = {e.at}
        state = e.at
        for _ in range(12):  # follow one interleaving until it repeats a state
            label, state = successors(cfg, state, protocol)[0]
            trace.append(label)
            if state in seen:
                trace.append("-- ...and so on forever")
                break
            seen.add(state)
    return Result(e.states, e.transitions, e.violation, trace)


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
        verdict = r.violation or "ok: no violation, every interleaving can finish"
        print(f"{args.protocol:5} {name:24} {r.states:8} states {r.transitions:9} "
              f"transitions  {verdict}")
        if r.violation:
            found = True
            for step in r.trace:
                print(f"    {step}")
    return 0 if found == args.expect_violation else 1


if __name__ == "__main__":
    sys.exit(main())
