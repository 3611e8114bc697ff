"""Every committed fuzz input replayed through its harness, on the in-tree extension.

tests/fuzz/seeds/<harness> are the starting corpora; tests/fuzz/regressions/<harness>
are the inputs that once found a bug (each file named after it). A harness's
TestOneInput raises on any disagreement or broken rule, so a bug that comes back
fails here without libFuzzer, in every `make test` and in the twin run. Each
input runs under a watchdog thread: a hang fails the test instead of stopping it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
HARNESSES = ("core_diff", "grpc_requests", "cli_args")
WATCHDOG = 60.0  # seconds per input; one takes well under one


def _inputs() -> list[Any]:
    params = []
    for harness in HARNESSES:
        for kind in ("regressions", "seeds"):
            folder = HERE / kind / harness
            for path in sorted(folder.glob("*")) if folder.is_dir() else []:
                params.append(pytest.param(harness, path, id=f"{harness}/{kind}/{path.name}"))
    return params


INPUTS = _inputs()


def replay(test_one_input: Callable[[bytes], None], data: bytes) -> None:
    """test_one_input(data) in a thread; its exception re-raised here, a hang failed."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            test_one_input(data)
        except BaseException as exc:  # re-raised in the test's thread
            raised.append(exc)

    thread = threading.Thread(target=target, name="fuzz-replay", daemon=True)
    thread.start()
    thread.join(WATCHDOG)
    if thread.is_alive():
        pytest.fail(f"the input still runs after {WATCHDOG} s")
    if raised:
        raise raised[0]


@pytest.fixture(scope="module")
def harnesses() -> Iterator[dict[str, Any]]:
    modules = {name: importlib.import_module(f"tests.fuzz.{name}") for name in HARNESSES}
    try:
        yield modules
    finally:
        modules["grpc_requests"].stop()  # the node its first input started


def test_every_harness_has_seeds_and_the_fixed_bugs_have_inputs() -> None:
    """An empty or misnamed folder would make the replay below pass on nothing."""
    for harness in HARNESSES:
        assert any((HERE / "seeds" / harness).glob("*")), harness
    for harness in ("core_diff", "grpc_requests"):
        assert any((HERE / "regressions" / harness).glob("*")), harness


@pytest.mark.parametrize(("harness", "path"), INPUTS)
def test_input_passes_its_harness(harnesses: dict[str, Any], harness: str, path: Path) -> None:
    replay(harnesses[harness].TestOneInput, path.read_bytes())


# The replay can fail: put back a bug an input was committed for, and it does.


def test_the_twin_repr_input_fails_when_the_twin_repr_differs(
    harnesses: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from distcache import _pycore

    monkeypatch.setattr(_pycore.BloomFilter, "__repr__", lambda self: "<BloomFilter>")
    data = (HERE / "regressions/core_diff/twin-repr-bloom").read_bytes()
    with pytest.raises(AssertionError):
        replay(harnesses["core_diff"].TestOneInput, data)


def test_the_long_details_input_fails_when_details_echo_the_request(
    harnesses: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from distcache.cluster import errors

    monkeypatch.setattr(errors, "_capped", lambda text: text)
    data = (HERE / "regressions/grpc_requests/long-group-name-in-details").read_bytes()
    with pytest.raises(AssertionError):
        replay(harnesses["grpc_requests"].TestOneInput, data)
