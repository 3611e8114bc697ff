"""The oldest protobuf, grpcio, grpcio-health-checking and prometheus-client
pyproject.toml allows run a node and its client.

Each is installed at its floor (read from pyproject.toml, so a floor moved
without this test passing cannot stay) into a fresh venv; this checkout is put
on its PYTHONPATH (the same interpreter, so the C core built in place loads).
There: every module of the package imports with warnings as errors, a
`distcache serve` node starts, a client sets and gets a key through it (and
one from the node's SQLite source), and the node's /metrics answers.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from distcache.cli.nodes import SERVING, Process, free_port
from distcache.sqlite_getter import create_table
from tests.release.building import ROOT, clean_env, make_venv, run

FLOORED = ("protobuf", "grpcio", "grpcio-health-checking", "prometheus-client")

IMPORT_ALL = """
import importlib, pkgutil, warnings
warnings.simplefilter("error")
import distcache, google.protobuf, grpc, prometheus_client
names = [m.name for m in pkgutil.walk_packages(distcache.__path__, "distcache.")]
for name in names:
    importlib.import_module(name)
print("imported", len(names), "modules on protobuf", google.protobuf.__version__,
      "grpcio", grpc.__version__)
"""

CLIENT = """
import sys, warnings
warnings.simplefilter("error")
from distcache.grpcpool import connect
client = connect(sys.argv[1], timeout=10.0)
client.set("items", "new", b"written")
assert client.get("items", "new") == b"written"
assert client.get("items", "k1") == b"value-1"
client.close()
print("set and get through the node")
"""


def floors() -> dict[str, str]:
    """{distribution: its lowest allowed version}, from pyproject.toml's dependencies."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    deps = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    found = dict(re.findall(r'"([a-z-]+)>=([0-9.]+)', deps))
    assert set(FLOORED) <= set(found), f"no floor for {set(FLOORED) - set(found)}"
    return {name: found[name] for name in FLOORED}


@pytest.mark.timeout(900)
def test_the_lowest_allowed_dependencies_run_a_node(tmp_path: Path) -> None:
    pins = [f"{name}=={version}" for name, version in floors().items()]
    python = make_venv(tmp_path / "venv")
    run([python, "-m", "pip", "install", "-q", "--only-binary", ":all:", *pins],
        cwd=tmp_path, timeout=600)
    env = clean_env(PYTHONPATH=str(ROOT))
    imported = run([python, "-c", IMPORT_ALL], cwd=tmp_path, timeout=120, env=env)
    assert f"on protobuf {floors()['protobuf']} grpcio {floors()['grpcio']}" in imported.stdout

    db = tmp_path / "source.db"
    create_table(db, "items", {f"k{i}": b"value-%d" % i for i in range(10)})
    addr, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    node = Process([str(python), "-m", "distcache", "serve", "--addr", addr,
                    "--group", "items:1MiB", "--loader", f"sqlite:{db}:items",
                    "--metrics", metrics],
                   env=env, cwd=tmp_path, name=f"node {addr} on the lowest dependencies")
    node.ready = lambda: SERVING in node.logs[-1].read_bytes()
    with node:
        node.start()
        client = run([python, "-c", CLIENT, addr], cwd=tmp_path, timeout=120, env=env)
        assert "set and get through the node" in client.stdout
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=30) as answer:
            assert b"distcache_" in answer.read()
    assert "Traceback" not in node.output(), node.output()
