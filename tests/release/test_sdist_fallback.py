"""The sdist installs where the C core cannot build, and runs on the pure-Python twin.

A compiler that always fails (CC=false) stands for a machine without one:
pip builds the sdist as a user's would (build isolation, PyPI or pip's cache
for setuptools and Cython), setup.py says once why the C core is missing, and
the installed package passes the smoke check on the twin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.release.building import SMOKE, clean_env, make_venv, run, sdist


@pytest.mark.timeout(900)
def test_the_sdist_without_a_compiler_installs_the_pure_python_core(tmp_path: Path) -> None:
    archive = sdist(tmp_path)
    python = make_venv(tmp_path / "venv")
    install = run([python, "-m", "pip", "install", "-v", archive], cwd=tmp_path,
                  timeout=600, env=clean_env(CC="false"))
    assert install.stdout.count("could not be built") == 1, install.stdout[-6000:]
    assert "installed with its pure-Python core" in install.stdout
    site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages/distcache"))
    assert not list(site.glob("_core*.so")), "a C core was installed after all"
    smoke = run([python, SMOKE, "--core", "python"], cwd=tmp_path, timeout=120)
    assert "smoke: the python core runs" in smoke.stdout, smoke.stdout
