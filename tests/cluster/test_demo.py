"""The 3-node demo end to end, short: no failed read, every process it started is gone."""

from __future__ import annotations

import io
import os

from distcache.clusterdemo import ClusterDemoConfig, print_cluster_report, run_cluster_demo


def _children() -> set[int]:
    """Pids of this process's live children."""
    me = str(os.getpid())
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me and fields[0] != "Z":
                out.add(int(pid))
    return out


def test_the_demo_kills_a_node_and_fails_no_read() -> None:
    before = _children()
    err = io.StringIO()
    report = run_cluster_demo(
        ClusterDemoConfig(rows=500, seconds=4.5, threads=2, delay_ms=0.5, progress=False), err)
    assert _children() <= before  # every node was stopped
    assert report["errors"] == 0
    assert report["requests"] > 100
    assert [e.split(": ", 1)[1].split()[0] for e in report["events"]] == ["SIGKILL",
                                                                          report["killed"]]
    for phase in ("before", "during", "after"):
        assert report["latency"][phase]["requests"] > 0
    totals = report["node_totals"]
    assert totals["getter_loads"] > 0 and totals["gets"] >= report["requests"] / 2
    out = io.StringIO()
    print_cluster_report(report, out)
    text = out.getvalue()
    for label in ("client requests", "errors           0", "hit rate", "getter loads",
                  "failovers", "before the kill", "during the kill", "after the kill"):
        assert label in text
