"""docs/monitoring.md's example runs as written and prints what its comments say."""

from __future__ import annotations

import re

from tests.test_docs import ROOT, python_blocks, run


def test_monitoring_example_prints_its_comments() -> None:
    code = python_blocks(ROOT / "docs" / "monitoring.md")[0]
    printed = run(code, "monitoring.md").splitlines()
    expected = []
    for line in code.splitlines():
        m = re.search(r"# (.+)$", line)
        if m and ("print(" in line or line.startswith("# ")) and "would bind" not in line:
            expected.append(m.group(1))
    assert printed == expected
