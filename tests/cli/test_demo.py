"""The 3-node demo end to end, short: no failed read, every process it started is gone."""

from __future__ import annotations

import io
import os

from distcache.cli.clusterdemo import ClusterDemoConfig, print_cluster_report, run_cluster_demo


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


def test_the_dashboards_show_the_traffic_and_the_killed_node_live() -> None:
    import json
    import re
    import threading
    import time
    import urllib.request

    err = io.StringIO()
    result: dict = {}
    demo = threading.Thread(target=lambda: result.update(run_cluster_demo(
        ClusterDemoConfig(rows=500, seconds=6.0, threads=2, delay_ms=0.5, progress=False), err)))
    demo.start()
    seen_gets: list[int] = []
    seen_states: list[str] = []  # the killed node's state, as the first node shows it
    try:
        deadline = time.monotonic() + 60
        found: list[tuple[str, str]] = []
        while len(found) < 3 and time.monotonic() < deadline and demo.is_alive():
            found = re.findall(r"dashboard of (\S+): (http://\S+)/status", err.getvalue())
            time.sleep(0.05)
        assert len(found) == 3, err.getvalue()
        addrs, urls = [a for a, _ in found], [u for _, u in found]
        while demo.is_alive() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(urls[0] + "/stats", timeout=2) as r:
                    doc = json.load(r)
            except OSError:
                break  # the demo is over and has stopped its nodes
            seen_gets.append(doc["groups"][0]["gets"])
            seen_states += [p["state"] for p in doc["peers"] if p["addr"] == addrs[2]]
            time.sleep(0.2)
    finally:
        demo.join(60)
    assert not demo.is_alive()
    assert result["errors"] == 0
    assert result["dashboards"] == [u + "/status" for u in urls]
    assert len(seen_gets) > 3 and seen_gets[-1] > seen_gets[0]  # the traffic, live
    assert result["killed"] == addrs[2]
    # The kill, live: up, down while it is dead, up again after its restart.
    # A leading "down" is the start: node 0 can probe node 2 before it listens.
    start = seen_states.index("up") if "up" in seen_states else len(seen_states)
    live = seen_states[start:]
    states = [s for i, s in enumerate(live) if i == 0 or s != live[i - 1]]
    assert states == ["up", "down", "up"], seen_states
