"""The command line (python -m distcache), the SQLite getter and the demo's load."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import distcache.cli.demo
from distcache._version import __version__
from distcache.cli import main, parse_size
from distcache.cli.demo import DemoConfig, _fixed_stream, run_demo
from distcache.group import NotFound
from distcache.sqlite_getter import SQLiteGetter, create_table


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1 << 20),
        ("64MiB", 64 << 20),
        ("1GiB", 1 << 30),
        ("512k", 512 << 10),
        ("500MB", 500_000_000),
        ("2 g", 2 << 30),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5MiB", "64 MiBs", "lots"])
def test_bad_size_exits_2_with_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--local", "--cache-size", text])
    assert exc.value.code == 2
    assert "invalid size" in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_demo_prints_what_the_cache_saved(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "demo",
        "--local",
        "--rows",
        "300",
        "--requests",
        "3000",
        "--threads",
        "3",
        "--delay-ms",
        "0",
        "--absent",
        "0.05",
        "--no-progress",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    for label in (
        "requests",
        "hit rate",
        "getter loads",
        "singleflight",
        "negative hits",
        "latency",
    ):
        assert label in out
    assert "3,000" in out


def test_demo_admission_knob(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def report(cfg: DemoConfig, err: object = None) -> dict[str, object]:
        seen.append(cfg.extra["admission"])
        return {}

    monkeypatch.setattr(distcache.cli.demo, "run_demo", report)
    monkeypatch.setattr(distcache.cli.demo, "print_report", lambda report: None)
    assert main(["demo", "--local", "--no-progress"]) == 0
    assert main(["demo", "--local", "--no-progress", "--admission", "none"]) == 0
    assert seen == ["tinylfu", None]
    with pytest.raises(SystemExit):
        main(["demo", "--local", "--admission", "lru"])


def test_demo_accounting() -> None:
    cfg = DemoConfig(
        rows=200,
        requests=4000,
        threads=4,
        delay=0.0,
        absent=0.05,
        progress=False,
        seed=7,
        extra={"negative_ttl": 600.0},  # however slow the machine, no absent key expires
    )
    report = run_demo(cfg)
    st = report["stats"]
    stream = _fixed_stream(cfg, cfg.requests or 0)
    absent = [k for k in stream if int(k.split(":")[1]) >= cfg.rows]
    assert report["requests"] == st["gets"] == 4000
    assert report["errors"] == 0
    assert report["not_found"] == len(absent) == st["not_found"] + st["negative_hits"]
    # Every row fits in the cache and no negative entry expires: each distinct
    # key reaches the getter exactly once, whatever the threads.
    assert st["getter_loads"] == len(set(stream))


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "distcache", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--requests" in proc.stdout


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "distcache"], [str(Path(sys.executable).with_name("distcache"))]],
    ids=["python -m distcache", "distcache"],
)
def test_version_prints_the_version_and_exits_0(command: list[str]) -> None:
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed beside this interpreter")
    proc = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"distcache {__version__}\n"


# ------------------------------------------------------------ SQLite getter


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "src.db"
    create_table(path, "users", {"42": b"alice", "43": b"bob"})
    return path


def test_sqlite_getter_reads_rows(db: Path) -> None:
    getter = SQLiteGetter(db, "users")
    try:
        assert getter("42") == b"alice"
        with pytest.raises(NotFound):
            getter("44")
    finally:
        getter.close()


def test_sqlite_getter_is_read_only(db: Path) -> None:
    getter = SQLiteGetter(db, "users")
    try:
        with pytest.raises(sqlite3.OperationalError):
            getter._connection().execute("DELETE FROM users")
    finally:
        getter.close()


def test_sqlite_getter_bad_inputs(tmp_path: Path, db: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        SQLiteGetter(tmp_path / "missing.db", "users")
    with pytest.raises(ValueError, match="table name"):
        SQLiteGetter(db, "users; DROP TABLE users")
    with pytest.raises(ValueError, match="cannot read table"):
        SQLiteGetter(db, "orders")
    with pytest.raises(ValueError, match="delay"):
        SQLiteGetter(db, "users", delay=-1)


def test_sqlite_getter_serves_any_column_type_as_its_text(tmp_path: Path) -> None:
    """SQLite keeps what a column is given: numbers come back as sqlite3 prints them,
    text as UTF-8, and a NULL is an error naming the key, not an empty value."""
    path = tmp_path / "mixed.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (key TEXT PRIMARY KEY, value)")
        conn.executemany("INSERT INTO items VALUES (?, ?)",
                         [("int", 5), ("real", 1.5), ("text", "grüße"), ("blob", b"\x00\xff"),
                          ("null", None)])
    conn.close()
    getter = SQLiteGetter(path, "items")
    try:
        assert getter("int") == b"5"  # not bytes(5), five zero bytes
        assert getter("real") == b"1.5"
        assert getter("text") == "grüße".encode()
        assert getter("blob") == b"\x00\xff"
        with pytest.raises(ValueError, match=r"^items.value is NULL for key 'null'$"):
            getter("null")
    finally:
        getter.close()


def test_sqlite_getter_closes_the_connections_of_threads_that_ended(db: Path) -> None:
    """One connection per thread: 50 short-lived threads must not leave 50 open fds."""
    import os
    import threading

    getter = SQLiteGetter(db, "users")
    try:
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(50):
            t = threading.Thread(target=getter, args=("42",))
            t.start()
            t.join()
        assert len(os.listdir("/proc/self/fd")) <= before + 2
        assert len(getter._connections) <= 2  # this thread's and the last one's
        assert getter("42") == b"alice"
    finally:
        getter.close()
