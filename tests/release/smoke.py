"""What an installed distcache must do: run as a script by the interpreter it is installed in.

    python tests/release/smoke.py [--core c|python]

Run from outside the checkout (make wheel, the sdist test, cibuildwheel's
test-command), so that ``import distcache`` finds the installed package and
not the source tree. Checks the import, an LRUCache round trip, which core
runs (``--core``, default c: a wheel must carry the C core), a group load,
``distcache --version`` and the /status page; prints one line per check and
exits 1 on the first that fails.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Runs each check in order; 0 when all pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--core", choices=("c", "python"), default="c",
                        help="the core that must be in use")
    args = parser.parse_args()

    import distcache
    from distcache._backend import core

    here = Path(__file__).resolve().parents[2]
    where = Path(distcache.__file__).resolve()
    if here in where.parents:
        print(f"smoke: distcache imported from the checkout ({where}), not installed")
        return 1
    print(f"smoke: import distcache {distcache.__version__} from {where.parent}")

    if (distcache.IMPLEMENTATION, core.IMPLEMENTATION) != (args.core, args.core):
        print(f"smoke: the {distcache.IMPLEMENTATION} core runs, not the {args.core} one "
              f"({core.__file__})")
        return 1
    print(f"smoke: the {args.core} core runs ({Path(str(core.__file__)).name})")

    cache = distcache.LRUCache(max_bytes=1 << 20)
    cache.set("user:1", b"alice", ttl=30.0)
    if cache.get("user:1") != b"alice" or cache.get("nope", b"fallback") != b"fallback":
        print("smoke: LRUCache round trip failed")
        return 1
    print("smoke: LRUCache round trip")

    group = distcache.new_group("smoke", 1 << 20, lambda key: f"value {key}".encode())
    if group.get("7") != b"value 7":
        print("smoke: a group did not load")
        return 1
    print("smoke: group load")

    # The console script beside this interpreter, as pip installed it.
    script = shutil.which("distcache", path=str(Path(sys.executable).parent))
    if script is None:
        print(f"smoke: no distcache script beside {sys.executable}")
        return 1
    out = subprocess.run([script, "--version"], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0 or out.stdout.strip() != f"distcache {distcache.__version__}":
        print(f"smoke: `distcache --version` said {out.stdout!r} {out.stderr!r}")
        return 1
    print(f"smoke: {out.stdout.strip()}")

    # The dashboard's page is package data: a wheel without it serves a 404.
    import urllib.request

    from distcache.metrics import start_metrics_server

    server = start_metrics_server("127.0.0.1:0")
    try:
        with urllib.request.urlopen(server.url + "/status", timeout=30) as answer:
            page = answer.read()
    finally:
        server.stop()
    if b"</html>" not in page:
        print("smoke: /status served no page")
        return 1
    print(f"smoke: /status serves {len(page)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
