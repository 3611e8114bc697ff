"""docs/grpc.md's example runs as written and prints what the page says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "grpc.md"


def test_grpc_page_example_prints_what_it_says() -> None:
    text = DOC.read_text(encoding="utf-8")
    code = re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)[0]
    expected = re.findall(r"^prints\n\n```\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "grpc_doc"})
    assert out.getvalue() == expected
