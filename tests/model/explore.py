"""The exhaustive search both reservation models share.

Breadth first over every interleaving, with a visited set: the first state
that breaks an invariant, or that no thread can leave though one is
unfinished, is a violation; so is, after the search, a state from which no
path reaches a finished state (a livelock), found by a backward pass over the
explored graph. The models supply the states, the steps and the checks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

State = Hashable


@dataclass
class Exploration:
    """What the search found: counts, the first violation and the state it is in."""

    states: int
    transitions: int
    violation: str | None
    at: Any  # the violating (or first stuck) state, or None
    parent: dict[Any, tuple[Any, str]]

    def path_to(self, state: Any) -> list[str]:
        """The step labels from the start to state."""
        steps = []
        while state is not None:
            state, label = self.parent[state]
            steps.append(label)
        return steps[::-1]


def explore(start: State, successors: Callable[[Any], list[tuple[str, Any]]],
            error: Callable[[Any], str | None], finished: Callable[[Any], bool],
            limit: int) -> Exploration:
    """Every state reachable from start; stops at the first violation."""
    parent: dict[Any, tuple[Any, str]] = {start: (None, "start")}
    edges: dict[Any, list[Any]] = {}
    queue = deque([start])
    transitions = 0

    def found(violation: str | None, at: Any) -> Exploration:
        return Exploration(len(parent), transitions, violation, at, parent)

    while queue:
        state = queue.popleft()
        err = error(state)
        if err:
            return found(err, state)
        nexts = successors(state)
        transitions += len(nexts)
        if not nexts and not finished(state):
            return found("deadlock: no thread can move", state)
        edges[state] = [n for _, n in nexts]
        for label, nxt in nexts:
            if nxt not in parent:
                if len(parent) >= limit:
                    raise RuntimeError(f"more than {limit} states: make the configuration smaller")
                parent[nxt] = (state, label)
                queue.append(nxt)

    reverse: dict[Any, list[Any]] = {s: [] for s in edges}
    for s, nexts in edges.items():
        for n in nexts:
            reverse[n].append(s)
    can_finish = {s for s in edges if finished(s)}
    work = deque(can_finish)
    while work:
        for prev in reverse[work.popleft()]:
            if prev not in can_finish:
                can_finish.add(prev)
                work.append(prev)
    stuck = [s for s in edges if s not in can_finish]
    if not stuck:
        return found(None, None)
    result = found("livelock: from here no interleaving finishes every thread", None)
    result.at = min(stuck, key=lambda s: len(result.path_to(s)))  # BFS: the shortest way in
    return result
