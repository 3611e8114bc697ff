"""Fuzzing the command line: any argv parses, or fails with one clear error.

Each input is an argv (raw bytes split at NUL and decoded as the OS decodes
argv, or a list assembled from the options of `distcache demo` and
`distcache serve`, their values and fuzzed text), given to the real parser
(distcache.cli.build_parser) in this process. It must end in a
namespace, in argparse's exit 2 with its ``error:`` message (or exit 0 for
--help). A `serve` namespace then goes through what `distcache serve` does
with its strings before it starts anything (distcache/cli/serve.py): the
NAME:SIZE groups and parse_size, the sqlite:PATH:TABLE loader (opening a
real database read-only when named), --peers-dns, the --addr check and the
pool from --peers, each of which may only succeed or raise StartupError with
a one-line message. Nothing listens, no request is sent and no name is
resolved: --addr is bound (and closed) only for a loopback IP address and a
port that no other program here would be handed, and the pool is built only
for loopback peers. parse_size is also called on fuzzed text directly.

Run: ``python -m tests.fuzz.cli_args [libFuzzer flags] [corpus dirs]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import ipaddress
import math
import os
import sqlite3
import sys
import tempfile
from typing import Any

import atheris

from distcache.cli import build_parser, parse_size, serve

_DB_DIR = tempfile.TemporaryDirectory(prefix="distcache-fuzz-cli-")
DB = os.path.join(_DB_DIR.name, "source.db")
with contextlib.closing(sqlite3.connect(DB)) as _conn, _conn:
    _conn.execute("CREATE TABLE things (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    _conn.execute("INSERT INTO things VALUES ('k', x'7631')")

WORDS = [
    "serve", "demo", "--addr", "--peers", "--peers-dns", "--group", "--loader",
    "--loader-delay-ms", "--replicas", "--timeout", "--token", "--token-file", "--metrics",
    "--tls-cert", "--tls-key", "--tls-client-ca", "--local", "--rows", "--threads", "--zipf",
    "--seconds", "--requests", "--delay-ms", "--absent", "--cache-size", "--admission", "--seed",
    "--no-progress", "-h", "--", "-", "=", "127.0.0.1:7000", "127.0.0.1:0", "127.0.0.1:99999",
    "[::1]:7001", "localhost:7000", "users:64MiB", "a:1", ":1", "users:", "x:0", "db.local:7000",
    "sqlite:@DB@:things", "sqlite:@DB@:missing", "sqlite:/nonexistent.db:t", "sqlite::",
    "nan", "inf", "-inf", "-1", "0", "1", "2", "1e309", "0.5", "64MiB", "1.5GiB", "9" * 5000,
    "tinylfu", "none", "\n", "é", "٣", "²",
]


def argv(fdp: atheris.FuzzedDataProvider) -> list[str]:
    """An argv: raw bytes as the OS would decode them, or words and fuzzed text.

    @DB@ stands for the path of this process's SQLite database (a temporary
    file), so that saved inputs name it too.
    """
    if fdp.ConsumeIntInRange(0, 3) == 0:
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
        out = [os.fsdecode(part) for part in raw.split(b"\0")] if raw else []
        return [arg.replace("@DB@", DB) for arg in out]
    out = []
    for _ in range(fdp.ConsumeIntInRange(0, 14)):
        kind = fdp.ConsumeIntInRange(0, 9)
        if kind <= 5:
            out.append(fdp.PickValueInList(WORDS))
        elif kind <= 7:
            out.append(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 24)))
        elif kind == 8:
            out.append(fdp.PickValueInList(WORDS) + fdp.PickValueInList([":", "=", ",", ""])
                       + fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 12)))
        else:
            out.append(fdp.PickValueInList(WORDS) + "," + fdp.PickValueInList(WORDS))
    return [arg.replace("@DB@", DB) for arg in out]


def one_line(exc: serve.StartupError, where: str) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, f"{where}: {text!r} is not one line"


def startup_step(where: str, fn: Any) -> Any:
    """fn(), or None when it raised a one-line StartupError; any other exception escapes."""
    try:
        return fn()
    except serve.StartupError as exc:
        one_line(exc, where)
        return None


def loopback(addr: str) -> bool:
    host = addr.rpartition(":")[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_serve(args: argparse.Namespace) -> None:
    """What `distcache serve` does with its strings before it starts anything."""
    where = f"serve {vars(args)!r:.300}"
    groups = startup_step(where, lambda: serve._groups(args.group, args.parse_size))
    if groups is not None:
        for name, size in groups:
            assert isinstance(size, int) and size > 0, f"{where}: group {name!r} of {size!r}"
    getter = startup_step(where, lambda: serve._loader(args.loader, args.loader_delay_ms))
    if getter is not None:
        try:
            # A node whose every read would sleep NaN or forever must not start.
            assert 0.0 <= getter.delay < math.inf, f"{where}: a delay of {getter.delay!r} s"
            if getter.delay == 0.0:
                assert getter("k") == b"v1"
        finally:
            getter.close()
    dns = startup_step(where, lambda: serve._dns(args, object()))
    if dns is not None:
        assert 0 < dns._port < 65536, f"{where}: --peers-dns port {dns._port}"
    port = args.addr.rpartition(":")[2]
    # Ports from 1024 are others' (tests pick free ones): only odd ones are bound.
    if loopback(args.addr) and not (port.isascii() and port.isdigit() and 1024 <= int(port)):
        startup_step(where, lambda: serve._check_free(args.addr))
    peers = [p.strip() for p in (args.peers or args.addr).split(",") if p.strip()]
    if all(loopback(p) for p in peers) and args.token_file is None and not (
        args.tls_cert or args.tls_key or args.tls_client_ca
    ):
        pool = startup_step(where, lambda: serve._pool(args))
        if pool is not None:
            pool.stop(0)


def TestOneInput(data: bytes) -> None:  # noqa: N802 -- the name atheris and libFuzzer use
    """One argv through the parser (and serve's startup parsing), one size string."""
    fdp = atheris.FuzzedDataProvider(data)
    size_text = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))
    try:
        size = parse_size(size_text)
        assert isinstance(size, int) and size > 0, f"parse_size({size_text!r}) = {size!r}"
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc), f"parse_size({size_text!r}): {exc}"
    args = argv(fdp)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            namespace = build_parser().parse_args(args)
    except SystemExit as exc:
        if exc.code == 0:
            assert "usage:" in out.getvalue(), f"{args!r}: exit 0 without help"
            return
        # argparse's own message quotes the argv as given, newlines and all.
        assert exc.code == 2 and "distcache" in err.getvalue() and ": error: " in err.getvalue(), (
            f"{args!r}: exit {exc.code!r}, stderr {err.getvalue()!r:.500}"
        )
        return
    if namespace.command == "serve":
        check_serve(namespace)


if __name__ == "__main__":
    from tests.fuzz.engine import fuzz

    fuzz(TestOneInput)
    sys.exit(0)
