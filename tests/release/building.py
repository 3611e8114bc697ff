"""What the release tests share: a fresh venv outside the checkout, pip run in it, bounded.

Each step is a subprocess with a timeout (pip reaches PyPI, or its cache, for
the build requirements and the dependencies); the environment of each is this
one without the DISTCACHE_* switches, so that neither CI's DISTCACHE_WERROR nor
make test-pure's DISTCACHE_PURE_PYTHON changes what is checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ROOT", "SMOKE", "clean_env", "make_venv", "run", "sdist"]

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "tests" / "release" / "smoke.py"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the DISTCACHE_* switches, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTCACHE_")}
    env.update(extra)
    return env


def run(args: Sequence[str | Path], *, cwd: Path, timeout: float,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """args run to the end (stdout and stderr together); fails the test on a non-zero status."""
    out = subprocess.run([str(a) for a in args], cwd=cwd, env=dict(env or clean_env()),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, args))}: status {out.returncode}\n" + \
        out.stdout[-6000:]
    return out


def sdist(out: Path) -> Path:
    """The sdist of this checkout, built into out with this interpreter's setuptools."""
    run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", out, ROOT],
        cwd=out, timeout=300)
    (made,) = out.glob("pydistcache-*.tar.gz")
    return made


def make_venv(where: Path) -> Path:
    """A fresh venv at where; its python."""
    run([sys.executable, "-m", "venv", where], cwd=where.parent, timeout=120)
    return where / "bin" / "python"
