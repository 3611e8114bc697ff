"""`distcache serve`: one cluster node, assembled from its command-line options.

Groups over an SQLite source of truth, registered with a GRPCPool that serves
them. Every startup error (a port in use, a missing database or table, a bad
size, this node's address missing from --peers) is one line on stderr and
exit status 2; SIGTERM and SIGINT stop the node gracefully (exit 0).
What it prints on stdout (the serving line, the dashboard's address, the
stats on the way out) is for whoever started it and stays as it is; its log
(``--log-level``, ``--log-format``; logoutput.py) goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from ..monitoring.http import port_number
from . import logoutput

__all__ = ["add_arguments", "run"]

_log = logging.getLogger(__package__)


class StartupError(Exception):
    """What stops a node from starting: printed as one line, exit status 2."""


def add_arguments(p: argparse.ArgumentParser, parse_size: Any) -> None:
    """The options of `distcache serve`."""
    p.add_argument("--addr", required=True, help="this node's HOST:PORT, as named in --peers")
    members = p.add_mutually_exclusive_group()
    members.add_argument("--peers", default=None,
                         help="every node's HOST:PORT, comma-separated, this one included "
                              "(default: this node alone)")
    members.add_argument("--peers-dns", default=None, metavar="NAME:PORT",
                         help="the nodes are NAME's addresses (re-resolved every few "
                              "seconds, e.g. a Kubernetes headless service), each on PORT")
    p.add_argument("--group", action="append", required=True, metavar="NAME:SIZE",
                   help="a group and its budget, e.g. users:64MiB (repeatable)")
    p.add_argument("--loader", required=True, metavar="sqlite:PATH:TABLE",
                   help="the source of truth: SELECT value FROM TABLE WHERE key = ?")
    p.add_argument("--loader-delay-ms", type=float, default=0.0,
                   help="milliseconds each source read sleeps first (a remote database)")
    p.add_argument("--replicas", type=int, default=2, help="nodes that keep each key")
    p.add_argument("--timeout", type=float, default=0.5, help="seconds per call to a peer")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="shared secret every CacheService call must carry")
    auth.add_argument("--token-file", help="a file holding the token")
    p.add_argument("--metrics", default=None, metavar="HOST:PORT",
                   help="serve /metrics, /stats, /status and /health here (\":PORT\" binds "
                        "127.0.0.1; docs/monitoring.md)")
    p.add_argument("--tls-cert", help="PEM certificate of this node")
    p.add_argument("--tls-key", help="PEM private key of this node")
    p.add_argument("--tls-client-ca", help="PEM CA: require and verify client certificates")
    p.add_argument("--log-level", choices=logoutput.LEVELS, default="info",
                   help="the least severe log records written to stderr (default: info)")
    p.add_argument("--log-format", choices=logoutput.FORMATS, default="text",
                   help="text: TIME LEVEL LOGGER: MESSAGE; json: one object a line with "
                        "time, level, logger, message (default: text)")
    p.set_defaults(parse_size=parse_size)


def _groups(specs: list[str], parse_size: Any) -> list[tuple[str, int]]:
    out = []
    for spec in specs:
        name, sep, size = spec.rpartition(":")
        if not sep or not name:
            raise StartupError(f"--group takes NAME:SIZE (e.g. users:64MiB), not {spec!r}")
        try:
            out.append((name, parse_size(size)))
        except argparse.ArgumentTypeError as exc:
            raise StartupError(f"--group {spec}: {exc}") from None
    return out


def _loader(spec: str, delay_ms: float = 0.0) -> Any:
    from ..sqlite_getter import SQLiteGetter

    # nan or inf would start a node whose every load fails (time.sleep refuses them).
    if not 0.0 <= delay_ms < float("inf"):
        raise StartupError(
            f"--loader-delay-ms takes a number of milliseconds >= 0, not {delay_ms!r}")
    kind, _, rest = spec.partition(":")
    path, sep, table = rest.rpartition(":")
    if kind != "sqlite" or not sep or not path or not table:
        raise StartupError(f"--loader takes sqlite:PATH:TABLE, not {spec!r}")
    try:
        return SQLiteGetter(path, table, delay=delay_ms / 1000.0)
    except (OSError, ValueError) as exc:
        raise StartupError(str(exc)) from None


def _read(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read {what} {path}: {exc.strerror}") from None


def _pool(args: argparse.Namespace) -> Any:
    from ..cluster import GRPCPool, TLSConfig

    token = args.token
    if token is not None and not token.strip():
        # "" would silently turn authentication off (`--token "$UNSET_VARIABLE"`).
        raise StartupError("--token is empty")
    if args.token_file is not None:
        token = (_read(args.token_file, "--token-file") or b"").decode().strip()
        if not token:
            raise StartupError(f"--token-file {args.token_file} is empty")
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise StartupError("--tls-cert and --tls-key go together")
        ca = _read(args.tls_client_ca, "--tls-client-ca")
        cert = _read(args.tls_cert, "--tls-cert") or b""
        key = _read(args.tls_key, "--tls-key") or b""
        # Checked here: gRPC would log its own lines and then fail to bind.
        for flag, path, data, marker in (
                ("--tls-cert", args.tls_cert, cert, b"-----BEGIN CERTIFICATE-----"),
                ("--tls-key", args.tls_key, key, b"PRIVATE KEY-----"),
                ("--tls-client-ca", args.tls_client_ca, ca, b"-----BEGIN CERTIFICATE-----")):
            if data is not None and marker not in data:
                what = "private key" if flag == "--tls-key" else "certificate"
                raise StartupError(f"{flag} {path} holds no PEM {what}")
        tls = TLSConfig(cert, key, ca=ca, require_client_cert=ca is not None)
    elif args.tls_client_ca:
        raise StartupError("--tls-client-ca needs --tls-cert and --tls-key")
    peers = [p.strip() for p in (args.peers or args.addr).split(",") if p.strip()]
    try:
        pool = GRPCPool(args.addr, replicas=args.replicas, timeout=args.timeout,
                        token=token, tls=tls)
        pool.set_peers(*peers)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    return pool


def _one_line(text: str) -> str:
    """text with its unprintable characters escaped: a path given with a newline in
    it still makes one line on stderr."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _dns(args: argparse.Namespace, pool: Any) -> Any:
    if args.peers_dns is None:
        return None
    from ..cluster.membership import DNSMembership

    name, sep, text = args.peers_dns.rpartition(":")
    port = port_number(text)
    if not sep or not name or not port:
        raise StartupError(f"--peers-dns takes NAME:PORT, not {args.peers_dns!r}")
    return DNSMembership(pool, name, port)


def _metrics(addr: str | None) -> Any:
    if addr is None:
        return None
    from ..monitoring.server import start_metrics_server

    try:
        return start_metrics_server(addr)
    except (OSError, ValueError) as exc:
        raise StartupError(f"--metrics: {exc}") from None


def _check_free(addr: str) -> None:
    """Fails as a StartupError when addr cannot be listened on; gRPC would also say
    so, but in a log line of its own before ours."""
    host, _, text = addr.rpartition(":")
    host = host.strip("[]")
    number = port_number(text)
    if number is None:
        raise StartupError(f"--addr takes HOST:PORT, not {addr!r}")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            # As gRPC binds: a port whose old connections linger in TIME_WAIT
            # (a node restarted after a crash) is free; one with a listener is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, number))
    except ValueError:  # a host bind() cannot take (a NUL in it)
        raise StartupError(f"--addr takes HOST:PORT, not {addr!r}") from None
    except OSError as exc:
        raise StartupError(f"cannot listen on {addr}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    """Runs one node until SIGTERM or SIGINT; 2 on a startup error."""
    output = logoutput.install(args.log_level, args.log_format)
    try:
        return _serve(args)
    finally:
        output.close()


def _serve(args: argparse.Namespace) -> int:
    from ..cluster.peerwatch import PeerWatch
    from ..group import new_group

    try:
        groups = _groups(args.group, args.parse_size)
        _check_free(args.addr)
        pool = _pool(args)
        getter = _loader(args.loader, args.loader_delay_ms)
        made = []
        for name, size in groups:
            try:
                made.append(new_group(name, size, getter))
                made[-1].register_peers(pool)
            except ValueError as exc:
                raise StartupError(f"--group {name}: {exc}") from None
        dns = _dns(args, pool)
        metrics = _metrics(args.metrics)
        try:
            pool.start()
        except OSError as exc:
            if metrics is not None:
                metrics.stop()
            raise StartupError(str(exc)) from None
        if dns is not None:
            dns.start()
    except StartupError as exc:
        print(f"distcache serve: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    received: list[int] = []  # the signal that stops the node (logged outside the handler)

    def stop(signum: int, frame: Any) -> None:
        received.append(signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"distcache serve: {args.addr} serving {', '.join(n for n, _ in groups)} "
          f"(peers: {len(pool.peers())}, replicas: {pool.key_replicas})", flush=True)
    if metrics is not None:
        print(f"distcache serve: dashboard {metrics.url}/status (metrics {metrics.url}/metrics)",
              flush=True)
    _log.info("node %s started: groups %s, peers %s, replicas %d%s", args.addr,
              ", ".join(n for n, _ in groups), ", ".join(p.addr for p in pool.peers()) or "none",
              pool.key_replicas, f", metrics {metrics.url}" if metrics is not None else "")
    watch = PeerWatch(pool)
    watch.start()
    stopping.wait()
    _log.info("node %s stopping on %s", args.addr, signal.Signals(received[0]).name)
    watch.stop()
    if dns is not None:
        dns.stop()
    pool.stop(grace=1.0)
    if metrics is not None:
        metrics.stop()
    _log.info("node %s stopped", args.addr)
    # The counters of this life of the node, for whoever started it (the demo).
    final = {g.name: {k: v for k, v in g.stats().items() if isinstance(v, int)} for g in made}
    print(f"distcache serve: stats {json.dumps(final)}", flush=True)
    return 0
