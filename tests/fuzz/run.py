"""`make fuzz`: every harness for a bounded time under libFuzzer, then one summary.

Each harness runs in its own process on the extension built out of tree with
clang's fuzzer coverage and AddressSanitizer + UBSan (``DISTCACHE_FUZZ=1``,
into build/fuzz by the Makefile): the package's other files are linked beside
that build, and ``PYTHONSAFEPATH`` keeps the source tree's own
``distcache/_core*.so`` off the path, so the harnesses import the
instrumented one (each prints which). atheris's ``asan_with_fuzzer.so`` is
preloaded: python itself is not instrumented, and libFuzzer must own the
coverage callbacks (atheris's native_extension_fuzzing.md). Without that build
the harnesses still run, on the in-tree extension, with Python coverage only.

Corpora grow in build/fuzz-corpus/<harness>, seeded from tests/fuzz/seeds and
tests/fuzz/regressions; a crash's input is left in build/fuzz-crashes/<harness>
and the run fails. Figures (executions, exec/s, coverage) are libFuzzer's own
final lines, printed per harness and kept with the full logs in build/fuzz-logs.

Run: ``python -m tests.fuzz.run [--seconds N] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HARNESSES = ("core_diff", "grpc_requests", "cli_args")
# Longest input: a CLI argv may hold a 5000-digit size; the others use less.
MAX_LEN = 8192


@dataclass
class Result:
    """What one harness's run printed: libFuzzer's final figures, and any crash."""

    name: str
    status: int
    instrumented: bool
    c_counters: int = 0  # inline 8-bit counters (edges) of the C extension
    executions: int = 0
    exec_per_sec: int = 0
    cov: int = 0
    ft: int = 0
    corpus: str = ""
    crashes: list[str] = field(default_factory=list)


def link_package(build: Path) -> bool:
    """Links the package's files beside build's _core; False when there is no such build."""
    pkg = build / "distcache"
    if not any(pkg.glob("_core*.so")):
        return False
    for old in pkg.iterdir():
        if old.is_symlink():
            old.unlink()
    for src in (ROOT / "distcache").iterdir():
        compiled = src.name.startswith("_core") and src.suffix in (".so", ".c")
        if compiled or src.name == "__pycache__":
            continue
        (pkg / src.name).symlink_to(src)
    return True


def environment(build: Path, instrumented: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISTCACHE_PURE_PYTHON"}
    env["PYTHONSAFEPATH"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        ([str(build)] if instrumented else []) + [str(ROOT)])
    if instrumented:
        env["LD_PRELOAD"] = str(Path(atheris.path()) / "asan_with_fuzzer.so")
        # Python leaks by design at exit; a failed huge allocation must come
        # back as NULL (a MemoryError), as it does without ASan.
        env["ASAN_OPTIONS"] = "detect_leaks=0:allocator_may_return_null=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
        # Every PyMem allocation through malloc, so that ASan sees the bounds
        # of get_many's and set_many's small view arrays too.
        env["PYTHONMALLOC"] = "malloc"
    return env


def run_one(name: str, seconds: int, build: Path, instrumented: bool) -> Result:
    corpus = ROOT / "build" / "fuzz-corpus" / name
    crashes = ROOT / "build" / "fuzz-crashes" / name
    logs = ROOT / "build" / "fuzz-logs"
    for d in (corpus, crashes, logs):
        d.mkdir(parents=True, exist_ok=True)
    seed_dirs = [str(d) for d in (HERE / "seeds" / name, HERE / "regressions" / name)
                 if d.is_dir()]
    cmd = [sys.executable, "-m", f"tests.fuzz.{name}", str(corpus), *seed_dirs,
           f"-max_total_time={seconds}", f"-max_len={MAX_LEN}", "-timeout=60",
           "-rss_limit_mb=6144", "-detect_leaks=0", "-print_final_stats=1",
           f"-artifact_prefix={crashes}/"]
    log = logs / f"{name}.log"
    print(f"fuzz: {name} for {seconds} s: {' '.join(cmd[1:])}", flush=True)
    with log.open("w") as out:
        status = subprocess.run(cmd, cwd=ROOT, env=environment(build, instrumented),
                                stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    text = log.read_text(errors="replace")
    result = Result(name, status, "(fuzz build: yes)" in text)
    if m := re.search(r"Loaded \d+ modules\s+\((\d+) inline 8-bit counters\)", text):
        result.c_counters = int(m.group(1))
    if m := re.search(r"stat::number_of_executed_units: (\d+)", text):
        result.executions = int(m.group(1))
    if m := re.search(r"stat::average_exec_per_sec:\s+(\d+)", text):
        result.exec_per_sec = int(m.group(1))
    progress = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\S+)", text, re.M)
    if progress:
        last = progress[-1]
        result.cov, result.ft, result.corpus = int(last[1]), int(last[2]), last[3]
        result.executions = result.executions or int(last[0])
    result.crashes = re.findall(r"Test unit written to (\S+)", text)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120, help="per harness")
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "fuzz",
                        help="the out-of-tree DISTCACHE_FUZZ=1 build")
    parser.add_argument("--only", nargs="*", choices=HARNESSES, default=list(HARNESSES))
    args = parser.parse_args(argv)
    instrumented = link_package(args.build)
    if not instrumented:
        print(f"fuzz: no instrumented build in {args.build} (make fuzz makes it): "
              "the C extension runs without coverage or sanitizers", flush=True)
    results = [run_one(name, args.seconds, args.build, instrumented) for name in args.only]
    print("\nharness        status  C build  C counters  executions  exec/s    cov     ft  "
          "corpus")
    for r in results:
        print(f"{r.name:<14} {r.status:>6}  {'yes' if r.instrumented else 'no':<7}  "
              f"{r.c_counters:>10}  {r.executions:>10}  {r.exec_per_sec:>6}  {r.cov:>5}  "
              f"{r.ft:>5}  {r.corpus}")
    failed = [r for r in results if r.status != 0]
    for r in failed:
        inputs = ", ".join(r.crashes) or "no input written"
        print(f"fuzz: {r.name} FAILED (exit {r.status}): {inputs}; "
              f"log build/fuzz-logs/{r.name}.log")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
