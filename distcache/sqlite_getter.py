"""A getter over an SQLite table ``(key TEXT PRIMARY KEY, value BLOB)``.

Used by ``distcache demo`` and the ``--loader sqlite:PATH:TABLE`` option of the
command line. Read-only: a group never writes to its source of truth.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from pathlib import Path

from .peers import NotFound

__all__ = ["SQLiteGetter", "create_table"]

_log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _check_table(table: str) -> str:
    # The table name is spliced into the SQL text (it cannot be a parameter).
    if not isinstance(table, str) or _IDENTIFIER.fullmatch(table) is None:
        raise ValueError(f"table name must match [A-Za-z_][A-Za-z0-9_]{{0,63}}, not {table!r}")
    return table


class SQLiteGetter:
    """The getter ``key -> SELECT value FROM table WHERE key = ?``; a missing row is NotFound."""

    def __init__(self, path: str | Path, table: str, *, delay: float = 0.0) -> None:
        self.path = Path(path)
        self.table = _check_table(table)
        if delay < 0:
            raise ValueError(f"delay must be >= 0, not {delay!r}")
        self.delay = delay
        """Seconds slept before each query, to play a source across a network."""
        if not self.path.is_file():
            raise FileNotFoundError(f"SQLite database not found: {self.path}")
        self._sql = f"SELECT value FROM {self.table} WHERE key = ?"
        self._local = threading.local()  # one connection per thread
        # Guards _connections (every thread's connection, by its thread, for
        # close() and for closing those of threads that have ended).
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        try:
            self._connection().execute(self._sql, ("",)).fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise ValueError(f"cannot read table {table!r} of {self.path}: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so that close() may close it from
            # another thread; queries stay on the thread that opened it.
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            self._local.conn = conn
            with self._lock:
                # A thread that ended leaves its connection (and its fd) here:
                # closed now, or short-lived threads would leak one each.
                ended = [t for t in self._connections if not t.is_alive()]
                closing = [self._connections.pop(t) for t in ended]
                self._connections[threading.current_thread()] = conn
            for old in closing:
                old.close()
        return conn

    def close(self) -> None:
        """Close every thread's connection (a later call opens a new one)."""
        with self._lock:
            connections, self._connections = self._connections, {}
        for conn in connections.values():
            conn.close()
        self._local = threading.local()

    def __call__(self, key: str) -> bytes:
        if self.delay:
            time.sleep(self.delay)
        try:
            row = self._connection().execute(self._sql, (key,)).fetchone()
        except sqlite3.Error as exc:  # the group answers the caller; the node's log keeps it
            _log.debug("getter %s failed for key %r: %s", self, key, exc)
            raise
        if row is None:
            raise NotFound(key)
        value = row[0]
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode()
        # SQLite keeps whatever a column is given. A number is served as the
        # text sqlite3 prints for it (bytes(5) would be five zero bytes); a
        # NULL is no value at all, and an error rather than an empty one.
        if isinstance(value, (int, float)):
            return repr(value).encode()
        raise ValueError(f"{self.table}.value is NULL for key {key!r}")

    def __repr__(self) -> str:
        return f"SQLiteGetter({str(self.path)!r}, {self.table!r}, delay={self.delay})"


def create_table(path: str | Path, table: str, rows: dict[str, bytes]) -> None:
    """Create (or replace) table in the database at path, holding rows."""
    table = _check_table(table)
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        conn.executemany(f"INSERT INTO {table} (key, value) VALUES (?, ?)", rows.items())
    conn.close()
