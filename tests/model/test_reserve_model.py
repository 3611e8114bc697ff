"""The reservation model: the fixed protocol passes, and the checker catches the livelock."""

from __future__ import annotations

import pytest

from tests.model.reserve_model import CONFIGS, check, main


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fixed_protocol_has_no_violation(name: str) -> None:
    result = check(CONFIGS[name], "fixed")
    assert result.violation is None, "\n".join(result.trace)
    assert result.states > 1


def test_the_checker_finds_the_livelock_of_the_old_reservation() -> None:
    result = check(CONFIGS["mirror-2x2"], "buggy")
    assert result.violation is not None and result.violation.startswith("livelock")
    assert "T0 finds no victim, yields holding shard 0" in result.trace


def test_keeping_the_freed_bytes_while_retrying_still_livelocks() -> None:
    result = check(CONFIGS["mirror-2x2"], "no-giveback")
    assert result.violation is not None and result.violation.startswith("livelock")


@pytest.mark.parametrize("name", ["three-threads-3-shards", "four-threads-2-shards"])
def test_the_buggy_protocol_livelocks_with_more_threads(name: str) -> None:
    assert check(CONFIGS[name], "buggy").violation is not None


def test_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "mirror-2x2"]) == 0
    assert main(["--protocol", "buggy", "--config", "mirror-2x2"]) == 1
    assert main(["--protocol", "buggy", "--expect-violation"]) == 0
    assert "livelock" in capsys.readouterr().out
