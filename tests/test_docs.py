"""The README's and docs/internals.md's examples run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def run(code: str, name: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), {"__name__": name})
    return out.getvalue()


def test_readme_example_runs() -> None:
    import distcache.group.registry

    blocks = python_blocks(ROOT / "README.md")
    assert blocks, "the README has a Python example"
    try:
        printed = run(blocks[0], "README.md").splitlines()
    finally:
        distcache.group.registry._reset_groups()
    assert "'hits': 1" in printed[0] and "'misses': 1" in printed[0]
    assert printed[1] == "1"  # one getter load for users.get("42")


def test_internals_example_prints_its_comment() -> None:
    code = python_blocks(ROOT / "docs" / "internals.md")[0]
    expected = re.search(r"# (.+)$", code.strip().splitlines()[-1]).group(1)  # type: ignore[union-attr]
    assert run(code, "internals.md").strip() == expected


def test_async_examples_run_as_written() -> None:
    """docs/async.md: the Starlette example, the asyncio example, the stale one, in order."""
    import distcache.group.registry

    blocks = python_blocks(ROOT / "docs" / "async.md")
    assert len(blocks) >= 3
    try:
        web = run(blocks[0], "async.md").splitlines()
        assert web[:3] == ["{'id': 42, 'name': 'user 42'}"] * 3
        assert web[3] == "source queries: 1"
        assert web[4].startswith("key: ") and "load_user" in web[4]
        printed = run(blocks[1], "async.md").splitlines()
        assert printed[0] == "b'ABC' b'cba'" and printed[1] == "1000 2"
        stale = run(blocks[2], "async.md").splitlines()
        assert stale[:3] == ["b'price-1'", "b'price-1'", "b'price-2'"]
        assert stale[3] == "{'stale_hits': 1, 'refreshes': 1, 'refresh_errors': 0}"
        for i, block in enumerate(blocks[3:], 3):  # the decorator's and the rest
            distcache.group.registry._reset_groups()
            run(block, f"async.md block {i}")
    finally:
        distcache.group.registry._reset_groups()


def test_reliability_example_prints_what_it_says() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    code = python_blocks(ROOT / "docs" / "reliability.md")[0]
    expected = re.search(r"prints\n\n```\n(.*?)```", text, flags=re.DOTALL)
    assert expected is not None
    assert run(code, "reliability.md") == expected.group(1)
