"""The history checker of the chaos scenarios (history.py) on hand-made histories, no nodes.

One history per rule that the checker must flag, and the ones it must pass:
the checker is what makes the chaos table's "diverged keys" and "stale
reads" columns mean something, so each rule is shown able to fail.
"""

from __future__ import annotations

from tests.reliability.history import (
    ACKED,
    FAILED,
    UNKNOWN,
    Copy,
    History,
    ReadOp,
    Verdict,
    WriteOp,
    check,
)

NODES = ("n0", "n1", "n2")


def source(key: str) -> bytes | None:
    return b"value-" + key[1:].encode() if key.startswith("k") else None


def history() -> History:
    return History(lambda: 0.0)


def write(h: History, value: bytes, version: int, start: float, end: float,
          outcome: str = ACKED, key: str = "k1", node: str = "n0") -> WriteOp:
    op = WriteOp(value.split(b"-")[0].decode(), key, value, node, start, end, outcome,
                 version if outcome == ACKED else 0)
    h.write(op)
    return op


def read(h: History, value: bytes | None, start: float, key: str = "k1", node: str = "n1",
         version: int = 0) -> ReadOp:
    op = ReadOp("r0", key, node, start, start + 0.01, value, version)
    h.read(op)
    return op


def sweep(h: History, value: bytes, version: int, key: str = "k1",
          cached: dict[str, tuple[bytes, int]] | None = None) -> None:
    """Every node answers value; the nodes in cached hold that copy (default n0 and n1
    hold value)."""
    held = cached if cached is not None else {"n0": (value, version), "n1": (value, version)}
    for n in NODES:
        c, cv = held.get(n, (None, 0))
        h.final(Copy(key, n, c, cv, value, version if n in held else 0))


def verdict(h: History, **kw: object) -> Verdict:
    return check(h, source, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------ passing histories


def test_two_writers_in_order_and_fresh_reads_pass() -> None:
    h = history()
    read(h, b"value-1", 0.0)  # the source's value before any write
    write(h, b"w0-0", 100, 1.0, 1.1, node="n0")
    read(h, b"w0-0", 1.05)  # concurrent with the write: either value is fine
    read(h, b"value-1", 1.09)
    write(h, b"w1-0", 200, 2.0, 2.1, node="n1")
    read(h, b"w1-0", 2.2)
    sweep(h, b"w1-0", 200)
    v = verdict(h)
    assert (v.diverged_keys, v.stale_reads, v.phantom_reads, v.problems) == (0, 0, 0, [])


def test_a_read_that_started_before_the_ack_may_be_old() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.5)
    read(h, b"value-1", 1.4)
    sweep(h, b"w0-0", 100)
    assert verdict(h).problems == []


def test_a_newer_unknown_write_may_win_and_an_unapplied_one_may_not() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w1-0", 0, 1.2, 3.0, outcome=UNKNOWN)
    sweep(h, b"w1-0", 150)  # it was applied, with a version the sweep tells
    assert verdict(h).problems == []
    h2 = history()
    write(h2, b"w0-0", 100, 1.0, 1.1)
    write(h2, b"w1-0", 0, 1.2, 3.0, outcome=UNKNOWN)
    sweep(h2, b"w0-0", 100)  # it never reached a replica
    assert verdict(h2).problems == []


def test_a_failed_write_newer_than_every_acked_one_may_have_been_applied() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w1-0", 0, 1.2, 1.9, outcome=FAILED)
    sweep(h, b"w1-0", 120)
    assert verdict(h).problems == []


def test_without_an_acked_write_the_source_value_may_stay() -> None:
    h = history()
    write(h, b"w0-0", 0, 1.0, 2.0, outcome=UNKNOWN)
    read(h, b"value-1", 2.5)
    sweep(h, b"value-1", 300)
    assert verdict(h).problems == []


def test_a_lost_write_learned_from_a_read_orders_that_read() -> None:
    h = history()
    write(h, b"w0-0", 0, 1.0, 2.0, outcome=UNKNOWN)
    write(h, b"w1-0", 100, 1.5, 1.6)
    read(h, b"w0-0", 2.1, version=150, node="n2")  # newer than w1-0: fine
    sweep(h, b"w0-0", 150)
    v = verdict(h)
    assert (v.stale_reads, v.unjudged_reads, v.problems) == (0, 0, [])


# ------------------------------------------------------------ failing histories


def test_a_stale_read_is_flagged() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w1-0", 200, 2.0, 2.1, node="n1")
    read(h, b"w0-0", 2.2, node="n2")  # started after w1-0's ack, returned the older
    sweep(h, b"w1-0", 200)
    v = verdict(h)
    assert v.stale_reads == 1 and v.diverged_keys == 0
    assert "stale reads" in v.problems[0] and "via n2" in v.problems[0]


def test_the_source_value_after_an_acked_write_is_stale() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    read(h, b"value-1", 1.2)
    sweep(h, b"w0-0", 100)
    assert verdict(h).stale_reads == 1


def test_an_excuse_is_counted_apart_and_only_where_it_applies() -> None:
    h = history()
    w = write(h, b"w0-0", 100, 1.0, 1.1)
    read(h, b"value-1", 1.2, node="n2")
    read(h, b"value-1", 1.3, node="n1")
    sweep(h, b"w0-0", 100)
    v = verdict(h, excused=lambda r, missed: r.node == "n2" and missed is w)
    assert (v.stale_reads, v.excused_reads) == (1, 1)


def test_a_phantom_value_is_flagged() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    read(h, b"value-2", 0.5)  # the source's value of another key
    read(h, b"w0-0", 0.6, key="k3")  # a write of another key
    sweep(h, b"w0-0", 100)
    v = verdict(h)
    assert v.phantom_reads == 2 and "never written" in v.problems[0]


def test_nodes_that_answer_different_values_diverge() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w1-0", 200, 1.0, 1.1)
    h.final(Copy("k1", "n0", b"w1-0", 200, b"w1-0", 200))
    h.final(Copy("k1", "n1", b"w0-0", 100, b"w0-0", 100))
    h.final(Copy("k1", "n2", None, 0, b"w1-0", 0))
    v = verdict(h)
    assert v.diverged_keys == 1 and "different values" in v.problems[0]


def test_every_node_agreeing_on_an_older_acked_value_diverges() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w1-0", 200, 1.5, 1.6)
    sweep(h, b"w0-0", 100)
    v = verdict(h)
    assert v.diverged_keys == 1 and "not the newest acknowledged write" in v.problems[0]


def test_the_source_value_over_an_acked_write_diverges() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    sweep(h, b"value-1", 300)  # a replica reloaded the source and pushed it over the Set
    assert verdict(h).diverged_keys == 1


def test_an_unknown_write_older_than_the_newest_acked_one_may_not_win() -> None:
    h = history()
    write(h, b"w1-0", 0, 0.5, 2.0, outcome=UNKNOWN)
    write(h, b"w0-0", 100, 1.0, 1.1)
    sweep(h, b"w1-0", 50)
    assert verdict(h).diverged_keys == 1


def test_a_replica_caching_another_value_diverges_even_when_reads_agree() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w1-0", 200, 1.5, 1.6)
    sweep(h, b"w1-0", 200, cached={"n0": (b"w1-0", 200), "n1": (b"w0-0", 100)})
    v = verdict(h)
    assert v.diverged_keys == 1 and "n1 caches" in v.problems[0]


def test_a_failed_final_read_or_a_key_never_swept_diverges() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w0-1", 101, 1.0, 1.1, key="k2")
    for n in NODES:
        h.final(Copy("k1", n, None, 0, None if n == "n2" else b"w0-0", 0,
                     "UNAVAILABLE" if n == "n2" else ""))
    v = verdict(h)
    assert v.diverged_keys == 2
    assert "failed via n2" in v.problems[0] and "never read" in v.problems[0]


def test_a_value_written_twice_is_refused() -> None:
    h = history()
    write(h, b"w0-0", 100, 1.0, 1.1)
    write(h, b"w0-0", 101, 1.2, 1.3)
    try:
        verdict(h)
    except ValueError as exc:
        assert "written twice" in str(exc)
    else:
        raise AssertionError("a repeated value was taken")


def test_a_set_a_replica_missed_holds_reads_only_after_the_repair() -> None:
    h = history()
    h.write(WriteOp("w0", "k1", b"w0-0", "n0", 1.0, 1.1, ACKED, 100, "", missed=1))
    read(h, b"value-1", 1.5)  # through the replica that missed it, before the repair
    read(h, b"value-1", 3.5)  # after the repair: stale
    sweep(h, b"w0-0", 100)
    v = verdict(h, repaired_at=3.0)
    assert (v.stale_reads, v.missed_reads) == (1, 1), v.problems
    assert "t=3.50" in v.problems[0]
    # With every replica taking it (missed = 0), the first read is stale too.
    h2 = history()
    write(h2, b"w0-0", 100, 1.0, 1.1)
    read(h2, b"value-1", 1.5)
    sweep(h2, b"w0-0", 100)
    assert verdict(h2, repaired_at=3.0).stale_reads == 1
