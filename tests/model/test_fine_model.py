"""The finer-grained reservation model: the fix passes, the old protocol and planted bugs fail."""

from __future__ import annotations

import pytest

from tests.model.fine_model import CONFIGS, check, main


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fixed_protocol_has_no_violation(name: str) -> None:
    result = check(CONFIGS[name], "fixed")
    assert result.violation is None, "\n".join(result.trace)


def test_the_checker_finds_the_livelock_of_the_old_reservation() -> None:
    result = check(CONFIGS["mirror-2x2"], "buggy")
    assert result.violation is not None and result.violation.startswith("livelock")
    assert "T0 yields holding shard 0 (freed 6)" in result.trace


def test_retrying_with_the_freed_bytes_kept_still_livelocks() -> None:
    result = check(CONFIGS["mirror-2x2"], "no-giveback")
    assert result.violation is not None and result.violation.startswith("livelock")


def test_dropping_freed_on_retry_breaks_the_accounting() -> None:
    result = check(CONFIGS["mirror-2x2"], "leak")
    assert result.violation is not None and "linked" in result.violation


def test_waiting_with_the_own_lock_but_no_bytes_still_finishes() -> None:
    # The waiter's own shard is empty then, so no one needs its lock.
    assert all(check(cfg, "hold-lock").violation is None for cfg in CONFIGS.values())


def test_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "mirror-2x2"]) == 0
    assert main(["--protocol", "buggy", "--config", "mirror-2x2"]) == 1
    assert main(["--protocol", "buggy", "--expect-violation"]) == 0
    assert "livelock" in capsys.readouterr().out
