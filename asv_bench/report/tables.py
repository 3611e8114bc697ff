"""Markdown tables that also read as plain text, and the number formats of their cells."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def mib(n: int) -> str:
    """A byte count in MiB, or KiB under one MiB ("10 MiB", "256 KiB")."""
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"


def pct(v: float | None, digits: int = 2) -> str:
    """A fraction in percent; "—" for None."""
    return "—" if v is None else f"{100 * v:.{digits}f}%"


def fmt(v: float | None, unit: str, spread: float | None = None, digits: int = 2) -> str:
    """A figure in its unit ("x", " points", "%" or a time), with ±spread for a ratio."""
    if v is None:
        return "—"
    if unit == "x":
        return f"{v:.{digits}f}x" + (f" ±{spread:.{digits}f}" if spread is not None else "")
    if unit == " points":
        return f"{v:+.2f} points"
    if unit == "%":
        return f"{100 * v:.1f}%"
    return f"{v:.1f}" if v < 1000 else f"{v:,.0f}"


def table(header: Sequence[str], body: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A markdown table padded so that it also reads as plain text."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if r else ("-" * (w + 2))
            for w, r in zip(widths, right, strict=True)
        )
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def target_table(targets_: Sequence[dict[str, Any]]) -> str:
    """Judged targets (report/targets.py) as a table: target, bound, measured, status."""
    return table(
        ["target", "bound", "measured", "status"],
        [
            [
                t["target"],
                f"{t['op']} {fmt(t['bound'], t['unit'], digits=1 if t['unit'] == '%' else 2)}",
                fmt(t["measured"], t["unit"], t["spread"], digits=3),
                t["status"],
            ]
            for t in targets_
        ],
        [False, True, True, False],
    )
