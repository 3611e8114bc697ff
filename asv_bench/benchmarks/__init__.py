"""The asv suite of distcache's local core (``cd asv_bench && asv run --python=same``).

The repository root goes at the END of sys.path: an installed distcache (the
one asv builds per commit, or an editable install) wins, and a bare checkout
with the extension built in place (``make build``) still imports; the
benchmarks share asv_bench/workload.py with the comparison runner.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
