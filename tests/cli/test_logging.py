"""`distcache serve --log-level --log-format`: what a node's log says, on real nodes.

Two `distcache serve` processes on loopback; the second is killed (a dead
peer) and started again, and the first must log it seen down and up again,
as JSON lines of time, level, logger and message, beside the lines it always
printed (serving, stats). A node at --log-level warning logs a peer that
never came up and nothing at info. Every wait is bounded; every node is
stopped by its pid (Node's context manager), also on failure.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from distcache.cli import logoutput, main
from tests.cluster.nodes import Node, free_port, make_source

WAIT = 30.0  # seconds a node has to log what a test waits for


def wait_for(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {WAIT:g} s"
        time.sleep(0.05)


def json_lines(node: Node) -> list[dict[str, str]]:
    return [json.loads(line) for line in node.output().splitlines() if line.startswith("{")]


def test_a_node_logs_its_life_and_a_dead_peer_as_json_lines(tmp_path: Path) -> None:
    db = make_source(tmp_path / "s.db", rows=10)
    a, b = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    common = ["--peers", f"{a},{b}", "--group", "items:1MiB", "--loader", f"sqlite:{db}:items"]
    with Node(a, [*common, "--log-format", "json"]) as first, Node(b, common) as second:
        first.start()
        second.start()
        second.kill()
        wait_for("peer down line", lambda: any(
            r["level"] == "WARNING" and f"peer {b} seen down" in r["message"]
            for r in json_lines(first)))
        second.start()
        wait_for("peer up line", lambda: any(
            r["message"] == f"peer {b} up again" for r in json_lines(first)))
        first.stop()
    records = json_lines(first)
    assert records, first.output()
    for r in records:
        assert set(r) == {"time", "level", "logger", "message"}, r
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]), r
        assert r["logger"].startswith("distcache."), r
    messages = [(r["level"], r["logger"], r["message"]) for r in records]
    assert ("INFO", "distcache.cli", f"node {a} stopping on SIGTERM") in messages
    assert ("INFO", "distcache.cli", f"node {a} stopped") in messages
    assert any(m.startswith(f"node {a} started: groups items, peers {b}, replicas 2")
               for _, _, m in messages), messages
    assert any(logger == "distcache.cluster" for _, logger, _ in messages), messages
    # What serve printed before it logged stays, for whoever reads it.
    assert f"distcache serve: {a} serving items (peers: 1, replicas: 2)" in first.output()
    assert "items" in first.stats()


def test_at_warning_a_node_logs_a_peer_that_never_came_up_and_no_info(tmp_path: Path) -> None:
    db = make_source(tmp_path / "s.db", rows=10)
    a, absent = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    args = ["--peers", f"{a},{absent}", "--group", "items:1MiB",
            "--loader", f"sqlite:{db}:items", "--log-level", "warning"]
    down = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING distcache\.cluster: "
                      rf"peer {re.escape(absent)} seen down: ", re.MULTILINE)
    with Node(a, args) as node:
        node.start()
        wait_for("peer down line", lambda: down.search(node.output()) is not None)
        node.stop()
    assert " INFO " not in node.output(), node.output()
    assert " serving items " in node.output() and node.stats()


@pytest.mark.parametrize("option", [["--log-level", "verbose"], ["--log-format", "xml"]])
def test_an_unknown_level_or_format_is_a_usage_error(
        option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--addr", "127.0.0.1:1", "--group", "g:1MiB", "--loader", "sqlite:x:t",
              *option])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_serve_in_process_leaves_the_loggers_as_it_found_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger("distcache")
    before = (list(root.handlers), root.level, root.propagate)
    # A startup error: the node logs nothing and says it in its one line.
    status = main(["serve", "--addr", f"127.0.0.1:{free_port()}", "--group", "g:1MiB",
                   "--loader", f"sqlite:{tmp_path / 'missing.db'}:t", "--log-level", "debug"])
    assert status == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert (list(root.handlers), root.level, root.propagate) == before


def test_a_json_line_carries_the_exception() -> None:
    try:
        raise ValueError("the source is gone")
    except ValueError:
        record = logging.getLogger("distcache.group").makeRecord(
            "distcache.group", logging.ERROR, __file__, 1, "load of %r failed", ("k",),
            exc_info=sys.exc_info())
    doc = json.loads(logoutput.JSONFormatter().format(record))
    assert (doc["level"], doc["logger"], doc["message"]) == ("ERROR", "distcache.group",
                                                             "load of 'k' failed")
    assert "ValueError: the source is gone" in doc["exception"]
