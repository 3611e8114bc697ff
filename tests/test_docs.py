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
    import distcache.group

    blocks = python_blocks(ROOT / "README.md")
    assert blocks, "the README has a Python example"
    try:
        printed = run(blocks[0], "README.md").splitlines()
    finally:
        distcache.group._reset_groups()
    assert "'hits': 1" in printed[0] and "'misses': 1" in printed[0]
    assert printed[1] == "1"  # one getter load for users.get("42")


def test_internals_example_prints_its_comment() -> None:
    code = python_blocks(ROOT / "docs" / "internals.md")[0]
    expected = re.search(r"# (.+)$", code.strip().splitlines()[-1]).group(1)  # type: ignore[union-attr]
    assert run(code, "internals.md").strip() == expected
