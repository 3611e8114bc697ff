"""The command line: ``python -m distcache COMMAND`` (installed as ``distcache``).

Commands: ``demo`` (a 3-node cluster on loopback with a node killed part-way,
clusterdemo.py; ``--local``: one group in one process, demo.py) and ``serve``
(one cluster node, serve.py); ``--version`` prints
``distcache VERSION`` from distcache/_version.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["build_parser", "main", "parse_size"]

# ASCII digits only, at most 20 (10**20 B is past any budget, which new_group
# then names): int() of a 5,000-digit string is a ValueError of its own.
_SIZE = re.compile(r"([0-9]{1,20})\s*(B|KB|KIB|K|MB|MIB|M|GB|GIB|G|TB|TIB|T)?", re.IGNORECASE)
_UNITS = {
    "B": 1,
    "K": 1 << 10,
    "KIB": 1 << 10,
    "KB": 1000,
    "M": 1 << 20,
    "MIB": 1 << 20,
    "MB": 1000**2,
    "G": 1 << 30,
    "GIB": 1 << 30,
    "GB": 1000**3,
    "T": 1 << 40,
    "TIB": 1 << 40,
    "TB": 1000**4,
}


def parse_size(text: str) -> int:
    """Bytes from "1048576", "64MiB", "1GiB", "500MB" (IEC suffixes are powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None or int(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use a positive number of bytes or a suffix like 64MiB, 1GiB"
        )
    return int(m.group(1)) * _UNITS[(m.group(2) or "B").upper()]


def _positive_int(text: str) -> int:
    try:
        value = int(text) if text.isascii() else 0
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, not {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="distcache",
        description="distcache: a distributed cache in the groupcache family.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="a local group over a slow SQLite source under a Zipf read load",
        description=(
            "Create an SQLite database in a temporary directory, put a group in front of "
            "it and read from it with a Zipf-shaped load; print what the cache saved."
        ),
    )
    demo.add_argument("--local", action="store_true",
                      help="one process, one group, no cluster (the local core's demo)")
    demo.add_argument("--rows", type=_positive_int, default=10_000, help="rows in the source")
    demo.add_argument("--threads", type=_positive_int, default=4, help="reader threads")
    demo.add_argument("--zipf", type=_non_negative_float, default=1.0, help="Zipf exponent s")
    demo.add_argument(
        "--seconds", type=_non_negative_float, default=None,
        help="duration of the load (default 12 s; 10 s with --local)"
    )
    demo.add_argument(
        "--requests",
        type=_positive_int,
        default=None,
        help="send exactly this many requests (deterministic stream) instead of --seconds",
    )
    demo.add_argument(
        "--delay-ms",
        type=_non_negative_float,
        default=1.0,
        help="milliseconds the getter sleeps before each query (a remote database)",
    )
    demo.add_argument(
        "--absent", type=_fraction, default=0.02, help="share of requests for missing keys"
    )
    demo.add_argument(
        "--cache-size", type=parse_size, default=None,
        help="group budget per node (e.g. 64MiB; default 32MiB, 64MiB with --local)"
    )
    demo.add_argument(
        "--admission",
        choices=("tinylfu", "none"),
        default="tinylfu",
        help="admission policy of the group's main cache (none: plain LRU)",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the key stream")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=_cmd_demo)

    from . import serve as _serve

    serve = commands.add_parser(
        "serve", help="one cluster node over gRPC",
        description="Serve groups over an SQLite source as one node of a cluster.")
    _serve.add_arguments(serve, parse_size)
    serve.set_defaults(func=_serve.run)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    if not args.local:
        return _cmd_cluster_demo(args)
    from .demo import DemoConfig, print_report, run_demo

    cfg = DemoConfig(
        rows=args.rows,
        zipf=args.zipf,
        threads=args.threads,
        seconds=10.0 if args.seconds is None else args.seconds,
        requests=args.requests,
        delay=args.delay_ms / 1000.0,
        absent=args.absent,
        cache_bytes=64 << 20 if args.cache_size is None else args.cache_size,
        seed=args.seed,
        progress=not args.no_progress,
        extra={"admission": None if args.admission == "none" else args.admission},
    )
    print_report(run_demo(cfg))
    return 0


def _cmd_cluster_demo(args: argparse.Namespace) -> int:
    from .clusterdemo import ClusterDemoConfig, print_cluster_report, run_cluster_demo

    if args.requests is not None:
        print("distcache demo: --requests needs --local", file=sys.stderr)
        return 2
    cfg = ClusterDemoConfig(
        rows=args.rows,
        zipf=args.zipf,
        threads=args.threads,
        seconds=12.0 if args.seconds is None else max(args.seconds, 3.0),
        delay_ms=args.delay_ms,
        absent=args.absent,
        cache_bytes=32 << 20 if args.cache_size is None else args.cache_size,
        seed=args.seed,
        progress=not args.no_progress,
    )
    report = run_cluster_demo(cfg)
    print_cluster_report(report)
    return 0 if report["errors"] == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("distcache: interrupted", file=sys.stderr)
        return 130

