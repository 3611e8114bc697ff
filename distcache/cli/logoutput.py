"""Where the ``distcache.*`` loggers write when the command line runs: stderr, as text or JSON.

The library only logs (one logger per subpackage: ``distcache.cluster``,
``distcache.cli``, ``distcache.monitoring``, ...) and configures nothing, as a
library should; ``distcache serve`` attaches one handler to the ``distcache``
logger for the life of the node, with the level and the format of its
``--log-level`` and ``--log-format``, and takes it off again when the node
stops (LogOutput.close) (a test that runs the command in-process leaves no handler behind).
"""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["FORMATS", "LEVELS", "JSONFormatter", "LogOutput", "TextFormatter", "install"]

LEVELS = ("debug", "info", "warning", "error")
"""The values of --log-level."""
FORMATS = ("text", "json")
"""The values of --log-format."""


def _timestamp(record: logging.LogRecord) -> str:
    """record's time in UTC, ISO 8601 with milliseconds (what log shippers parse)."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """One line a record: ``TIME LEVEL LOGGER: MESSAGE`` (a traceback follows on its lines)."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and exception when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": _timestamp(record), "level": record.levelname, "logger": record.name,
               "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


class LogOutput:
    """The handler install() attached to the ``distcache`` logger, and what it changed."""

    def __init__(self, handler: logging.Handler, level: int, propagate: bool) -> None:
        self.handler = handler
        self._before = (level, propagate)

    def close(self) -> None:
        """Takes the handler off and puts back the level and propagation it found."""
        root = logging.getLogger("distcache")
        root.removeHandler(self.handler)
        root.setLevel(self._before[0])
        root.propagate = self._before[1]
        self.handler.close()


def install(level: str = "info", fmt: str = "text") -> LogOutput:
    """Sends the ``distcache`` loggers' records at level and above to stderr in fmt."""
    if level not in LEVELS or fmt not in FORMATS:
        raise ValueError(f"log level {level!r} or format {fmt!r} unknown")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("distcache")
    output = LogOutput(handler, root.level, root.propagate)
    root.setLevel(level.upper())
    # The node's records go to its own stderr once, not again through a root
    # handler that a program embedding the command line set up.
    root.propagate = False
    root.addHandler(handler)
    return output
