"""The soaks of tests/reliability/soak.py, short: `make soak` runs them at full length.

A real `distcache serve` node under mixed load for a few seconds, and a child
running the C core and a group through tens of thousands of cycles: each must
keep its RSS flat after warm-up, its fds and threads constant, answer every
request right, and (the child) grow no traced Python memory. The leak
detector is itself shown to fire on a leak of one small object per 20 cycles.
"""

from __future__ import annotations

from tests.reliability.soak import TRACED_SLACK_KIB, cycles_soak, node_soak


def test_a_node_under_mixed_load_keeps_its_memory_fds_and_threads() -> None:
    verdict = node_soak(8.0)
    print(verdict.report())
    assert verdict.ops > 0
    assert verdict.passed, verdict.report()


def test_core_cycles_and_group_loads_leak_nothing() -> None:
    verdict = cycles_soak(60_000)
    print(verdict.report())
    assert verdict.figures["ops"]["plain evictions"] > 0
    assert verdict.figures["ops"]["group loads"] > 0
    assert verdict.passed, verdict.report()


def test_the_leak_detector_sees_a_small_leak() -> None:
    """2,000 kept 133-byte objects after warm-up: ~260 KiB, 4x the bound."""
    verdict = cycles_soak(40_000, leak_every=15)
    failed = [(what, figure) for what, ok, figure in verdict.checks if not ok]
    assert len(failed) == 1, verdict.report()
    what, figure = failed[0]
    assert what.startswith("traced Python memory growth") and f"< {TRACED_SLACK_KIB}" in what
    assert "tests/reliability/soak.py" in figure.split("top growth:")[1].splitlines()[1], figure
