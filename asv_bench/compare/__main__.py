"""distcache.LRUCache beside dict, functools.lru_cache, cachebox, lru-dict and cachetools.

    python -m asv_bench.compare                  # full run (make bench): prints the
                                                 # tables, writes docs/performance.md,
                                                 # docs/performance.png, docs/hitratio.png
    python -m asv_bench.compare --quick --no-write

The hit-ratio tables put distcache (plain and admission="tinylfu") beside an
exact LRU and libCacheSim's LRU, W-TinyLFU and S3-FIFO: a full run needs
libcachesim (the bench extra) and stops without it; --quick skips those
columns, with a note, when it is missing.

Method: every library runs in this one process, in the same run, on the same
key and value objects; each measurement is a loop over a prebuilt list of
keys, repeated in rounds that interleave the libraries (the order rotates
every round), with the garbage collector off; a figure is the median of its
rounds. Memory is the exception: each library fills its cache in a process of
its own (asv_bench/rss.py). Targets are ratios against a peer measured in the
same run, never absolute times.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from asv_bench.compare.provenance import ROOT
from asv_bench.compare.run import DEFAULT_LIBRARIES, run
from asv_bench.compare.sizes import FULL, QUICK
from asv_bench.report.charts import write_chart, write_hitratio_chart
from asv_bench.report.markdown import render, write_docs


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: run, print the report, and write the page and charts unless told not to."""
    parser = argparse.ArgumentParser(
        prog="python -m asv_bench.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/performance.md, docs/performance.png and docs/hitratio.png "
        "(default: on, off with --quick)",
    )
    parser.add_argument(
        "--libraries",
        default=",".join(DEFAULT_LIBRARIES),
        help="comma-separated subset of: " + ", ".join(DEFAULT_LIBRARIES),
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 21, quick 3)")
    parser.add_argument("--json", type=Path, help="also dump the raw results to this file")
    parser.add_argument(
        "--docs",
        type=Path,
        default=ROOT / "docs" / "performance.md",
        help="page to write; the charts go beside it (PAGE.png and hitratio.png)",
    )
    args = parser.parse_args(argv)
    write = (not args.quick) if args.write is None else args.write
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = replace(sizes, rounds=args.rounds)
    try:
        result = run(
            quick=args.quick,
            libraries=args.libraries.split(","),
            sizes=sizes,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    except (RuntimeError, ValueError) as e:
        print(f"asv_bench.compare: {e}", file=sys.stderr)
        return 2
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    if write:
        write_docs(result, args.docs)
        chart = args.docs.with_suffix(".png")
        write_chart(result, chart)
        hit_chart = args.docs.with_name("hitratio.png")
        write_hitratio_chart(result, hit_chart)
        print(f"wrote {args.docs}, {chart} and {hit_chart}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
