"""The comparison runner (asv_bench.compare) end to end on tiny sizes, and its hit-ratio reference.

Only distcache and dict take part, so the test needs none of the bench extra;
what it checks is the shape of the results and the arithmetic, never a speed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import distcache
from asv_bench import compare, report
from asv_bench.hitratio import ExactLRU, replay
from asv_bench.workload import KEY_LEN, keys, value, zipf_ranks


@pytest.fixture(scope="module")
def result() -> dict:
    return compare.run(quick=True, libraries=["distcache", "dict"])


def test_run_measures_every_row(result: dict) -> None:
    ids = [r["id"] for r in result["rows"]]
    assert ids == [
        "get_hit_hot",
        "get_hit_fresh",
        "get_hit_wide",
        "get_miss",
        "set_evict",
        "threads_1",
        "threads_2",
        "threads_ratio",
        "get_many_100",
        f"get_many_{16 << 10}",
        "rss",
    ]
    rounds = compare.QUICK.rounds
    for group in result["samples"].values():
        assert all(len(v) == rounds and min(v) > 0 for v in group.values())
    for row in result["rows"]:
        assert set(row["values"]) == {"distcache", "dict"}
        assert row["values"]["distcache"] > 0, row
        assert row["ratio"] is None  # cachebox is not in this run
    by_id = {r["id"]: r for r in result["rows"]}
    assert by_id["set_evict"]["values"]["dict"] is None  # a dict never evicts
    assert by_id["get_many_100"]["values"]["dict"] is None  # distcache only
    assert by_id["get_miss"]["values"]["dict"] > 0
    assert result["set_evict_entries"] == compare.QUICK.set_budget // (
        KEY_LEN + 100 + distcache.ENTRY_OVERHEAD
    )
    # A cache that copies 100-byte values into C memory cannot cost less than the bytes.
    if distcache.IMPLEMENTATION == "c":
        assert by_id["rss"]["values"]["distcache"] > KEY_LEN + 100


def test_run_hit_ratios_and_targets(result: dict) -> None:
    z = result["zipf"]
    assert 0 < z["distcache"] < 1 and 0 < z["exact_lru"] < 1
    assert z["difference_points"] == pytest.approx(100 * (z["distcache"] - z["exact_lru"]))
    status = {t["target"]: t for t in result["targets"]}
    assert len(status) == 8
    for t in status.values():
        if "cachebox" in t["target"]:
            assert t["met"] is None and t["measured"] is None
        else:
            assert isinstance(t["met"], bool)
    if hasattr(distcache.LRUCache, "_get_nogil"):
        assert sorted(result["samples"]["gil"]) == sorted(
            f"{m}@{v}@{n}" for m in ("get", "_get_nogil") for v in (100, 16 << 10) for n in (1, 2)
        )
        assert "GIL study, distcache" in report.render(result)
    else:
        assert result["gil_skipped"] and "skipped" in report.render(result)


def test_render_and_write_docs(result: dict, tmp_path: Path) -> None:
    text = report.render(result)
    assert "| measurement" in text and "distcache/cachebox" in text
    assert "exact global LRU" in text
    doc = tmp_path / "performance.md"
    doc.write_text(f"# title\n\n{report.BEGIN}\nold\n{report.END}\n\nafter\n")
    report.write_docs(result, doc)
    written = doc.read_text()
    assert "old" not in written and text in written and written.endswith("after\n")
    doc.write_text("no markers\n")
    with pytest.raises(RuntimeError, match="no generated block"):
        report.write_docs(result, doc)


def test_exact_lru_by_hand() -> None:
    # Entries of 1-byte keys and values, no overhead: 2 bytes each, room for 2.
    lru = ExactLRU(max_bytes=4, overhead=0)
    trace = ["a", "b", "a", "c", "b", "a", "b"]
    # a miss [a]; b miss [a b]; a hit [b a]; c miss, evicts b [a c];
    # b miss, evicts a [c b]; a miss, evicts c [b a]; b hit [a b].
    assert replay(lru.get, lru.set, trace, b"v") == (2, 7)
    assert list(lru._entries) == [b"a", b"b"] and lru.nbytes == 4
    assert lru.set("x", b"too big") is False  # 1 + 7 > 4: never stored
    assert len(lru) == 2
    lru.set("a", b"vvv")  # overwrite to 4 bytes: b goes, a stays alone
    assert list(lru._entries) == [b"a"] and lru.nbytes == 4


def test_exact_lru_matches_a_one_shard_distcache() -> None:
    # With one shard, distcache's LRU is exact (docs/internals.md): same hits, request by request.
    overhead = distcache.ENTRY_OVERHEAD
    universe = keys(300, prefix="z")
    trace = [universe[r] for r in zipf_ranks(5000, len(universe), seed=7)]
    budget = 40 * (KEY_LEN + 100 + overhead)
    one = distcache.LRUCache(max_bytes=budget, shards=1)
    exact = ExactLRU(budget, overhead)
    v = value(1)
    for k in trace:
        hit = exact.get(k) is not None
        assert (one.get(k) is not None) == hit, k
        if not hit:
            one.set(k, v)
            exact.set(k, v)
    assert len(one) == len(exact) == 40


def test_zipf_trace_is_fixed_and_skewed() -> None:
    a = zipf_ranks(20_000, 1000)
    assert a == zipf_ranks(20_000, 1000)
    assert min(a) >= 0 and max(a) < 1000
    counts = [0] * 1000
    for r in a:
        counts[r] += 1
    # Zipf(0.99) over 1000 keys: rank 1 carries ~13% of requests, about 2x rank 2.
    assert counts[0] / len(a) == pytest.approx(0.133, abs=0.01)
    assert 1.7 < counts[0] / counts[1] < 2.3


def test_ratios_are_medians_of_per_round_ratios() -> None:
    # Synthetic rounds: distcache / cachebox is 1, 2, 3, 1, 5 round by round.
    dc, cb = [100.0, 200.0, 300.0, 400.0, 500.0], [100.0, 100.0, 100.0, 400.0, 100.0]
    group = {"distcache": dc, "cachebox": cb}
    result = {
        "meta": {"sizes": {**compare.asdict(compare.QUICK)}},
        "libraries": ["distcache", "cachebox"],
        "set_evict_entries": 10,
        "samples": {
            **{
                g: group
                for g in ("get_hit_hot", "get_hit_fresh", "get_hit_wide", "get_miss", "set_evict")
            },
            "threads": {
                "distcache@1": [100.0] * 5,
                "distcache@2": [125.0] * 5,
                "cachebox@1": [100.0] * 5,
                "cachebox@2": [100.0] * 5,
            },
            "get_many": {
                f"{v}@{n}": [100.0 / n] * 5 for v in (100, 16 << 10, "sha256") for n in (1, 2)
            },
        },
        "rss": {"distcache": {"bytes_per_entry": 150.0}, "cachebox": {"bytes_per_entry": 300.0}},
        "zipf": {"difference_points": -1.5},
    }
    result["rows"] = report.rows(result)
    hot = next(r for r in result["rows"] if r["id"] == "get_hit_hot")
    assert hot["values"] == {"distcache": 300.0, "cachebox": 100.0}  # medians
    assert hot["ratio"] == 2.0  # the median of the per-round ratios, not 300 / 100
    assert hot["ratio_spread"] == pytest.approx(1.5)  # half of quartiles 1.0 .. 4.0
    met = {t["target"]: t for t in report.targets(result)}
    assert met["get hit, 1k hot keys: distcache / cachebox"]["met"] is False
    assert met["RSS per entry: distcache / cachebox"]["measured"] == 0.5
    assert met["RSS per entry: distcache / cachebox"]["met"] is True
    assert met["set with eviction, ~10 MiB: distcache / cachebox"]["status"].startswith(
        "missed by 1.200x (150.0% of the bound)"
    )
    threads = met["single-key gets: 2 threads / 1 thread"]
    assert threads["measured"] == 0.8 and threads["met"] is False
    assert met["get_many(100), 16 KiB values: 2 threads / 1 thread"]["measured"] == 2.0
    assert met["Zipf(0.99) hit ratio: distcache - exact LRU"]["status"] == "missed by 0.50 points"
