"""The write fence: a load stores only if no write to its key came after its ticket."""

from __future__ import annotations

import threading

import pytest

from distcache.group.writefence import WriteFence


def test_a_write_makes_an_older_ticket_stale() -> None:
    fence = WriteFence()
    ticket = fence.ticket("k")
    with fence.current("k", ticket) as current:
        assert current
    with fence.write("k"):
        pass
    with fence.current("k", ticket) as current:
        assert not current
    with fence.current("k", fence.ticket("k")) as current:
        assert current


def test_writes_to_other_stripes_do_not_matter() -> None:
    fence = WriteFence(stripes=1 << 16)
    others = [k for k in (f"o{i}" for i in range(100)) if hash(k) & 0xFFFF != hash("k") & 0xFFFF]
    ticket = fence.ticket("k")
    for other in others:
        with fence.write(other):
            pass
    with fence.current("k", ticket) as current:
        assert current


def test_check_and_store_exclude_a_write() -> None:
    fence = WriteFence()
    ticket = fence.ticket("k")
    entered = threading.Event()
    written = threading.Event()

    def writer() -> None:
        entered.wait(5)
        with fence.write("k"):
            written.set()

    t = threading.Thread(target=writer)
    t.start()
    with fence.current("k", ticket) as current:
        entered.set()
        assert current
        assert not written.wait(0.05)  # the write waits for the store to finish
    t.join(5)
    assert written.is_set()


def test_stripes_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        WriteFence(stripes=3)
