"""The comparison runner (asv_bench.compare) end to end on tiny sizes, and its hit-ratio reference.

Only distcache and dict take part, so the test needs none of the bench extra;
libcachesim's columns are filled when it is installed and skipped with a note
when it is not (both paths are run). What it checks is the shape of the
results and the arithmetic, never a speed or a hit ratio's level.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest

import distcache
from asv_bench import hitratio
from asv_bench.compare.run import run
from asv_bench.compare.sizes import QUICK
from asv_bench.hitratio import ExactLRU, replay
from asv_bench.report import captions, figures, markdown, targets
from asv_bench.report.charts import write_hitratio_chart
from asv_bench.report.rows import rows
from asv_bench.workload import KEY_LEN, keys, value, zipf_ranks

HAVE_LCS = hitratio.load_libcachesim() is not None


@pytest.fixture(scope="module")
def result() -> dict:
    return run(quick=True, libraries=["distcache", "dict"])


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
    rounds = QUICK.rounds
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
    assert result["set_evict_entries"] == QUICK.set_budget // (
        KEY_LEN + 100 + distcache.ENTRY_OVERHEAD
    )
    # A cache that copies 100-byte values into C memory cannot cost less than the bytes.
    if distcache.IMPLEMENTATION == "c":
        assert by_id["rss"]["values"]["distcache"] > KEY_LEN + 100


def test_run_hit_ratios_and_targets(result: dict) -> None:
    z = result["zipf"]
    assert 0 < z["distcache"] < 1 and 0 < z["exact_lru"] < 1
    assert z["difference_points"] == pytest.approx(100 * (z["distcache"] - z["exact_lru"]))
    status = {t["target"]: t for t in result["peer_targets"]}
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
        assert "GIL study, distcache" in markdown.render(result)
    else:
        assert result["gil_skipped"] and "skipped" in markdown.render(result)


def test_render_and_write_docs(result: dict, tmp_path: Path) -> None:
    text = markdown.render(result)
    assert "| measurement" in text and "distcache/cachebox" in text
    assert "exact LRU" in text and "Peer targets, from" in text
    assert "Admission targets, from" in text
    doc = tmp_path / "performance.md"
    doc.write_text(f"# title\n\n{markdown.BEGIN}\nOLD BLOCK\n{markdown.END}\n\nafter\n")
    markdown.write_docs(result, doc)
    written = doc.read_text()
    assert "OLD BLOCK" not in written and text in written and written.endswith("after\n")
    doc.write_text("no markers\n")
    with pytest.raises(RuntimeError, match="no generated block"):
        markdown.write_docs(result, doc)


def test_the_page_has_the_generators_headings() -> None:
    # docs/performance.md's generated block is pasted by a full run; its
    # headings must be the ones the generator writes today.
    page = (Path(__file__).resolve().parents[1] / "docs" / "performance.md").read_text()
    block = page[page.index(markdown.BEGIN) : page.index(markdown.END)]
    for caption in (captions.PEER_TARGETS, captions.ADMISSION_TARGETS, captions.LEGEND):
        assert caption in block
    assert captions.HIT_RATIOS.split("{", 1)[0] in block


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
        "meta": {"sizes": {**asdict(QUICK)}},
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
    result["rows"] = rows(result)
    hot = next(r for r in result["rows"] if r["id"] == "get_hit_hot")
    assert hot["values"] == {"distcache": 300.0, "cachebox": 100.0}  # medians
    assert hot["ratio"] == 2.0  # the median of the per-round ratios, not 300 / 100
    assert hot["ratio_spread"] == pytest.approx(1.5)  # half of quartiles 1.0 .. 4.0
    met = {t["target"]: t for t in targets.peer_targets(result)}
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


def test_hit_ratio_tables(result: dict) -> None:
    hr = result["hitratio"]
    sizes = QUICK
    assert [(t["alpha"], t["budget_fraction"]) for t in hr["zipf"]] == [
        (a, b) for a in sizes.zipf_alphas for b in sizes.zipf_budgets
    ]
    assert hr["entry_size"] == KEY_LEN + 100 + distcache.ENTRY_OVERHEAD
    for t in hr["zipf"]:
        assert t["budget_bytes"] == t["budget_entries"] * hr["entry_size"]
        assert set(t["ratios"]) == set(hitratio.POLICIES)
        for policy, ratio in t["ratios"].items():
            if policy.startswith("sim:") and not HAVE_LCS:
                assert ratio is None
            else:
                assert 0 < ratio < 1, (policy, t)
        if HAVE_LCS:
            # Byte-bounded, equal sizes: libCacheSim's LRU is the exact LRU, request by request.
            assert t["ratios"]["sim:LRU"] == t["ratios"]["exact-lru"]
    assert (hr["libcachesim_skipped"] is None) == HAVE_LCS
    assert [s["budget_entries"] for s in hr["scan"]] == sorted(
        t["budget_entries"] for t in hr["zipf"][: len(sizes.zipf_budgets)]
    )
    for s in hr["scan"]:
        assert s["hot"] == s["budget_entries"] // 2 and s["cold"] == 10 * s["budget_entries"]
        assert s["before"]["exact-lru"] == 1.0
        assert s["kept"]["exact-lru"] == 0.0  # a pure LRU loses all of it to the scan
    # The peer target's hit-ratio figures come from the Zipf(0.99), 10% trace of the same table.
    z, t = result["zipf"], hr["zipf"][3]
    assert (t["alpha"], t["budget_fraction"]) == (0.99, 0.10)
    assert z["distcache"] == t["ratios"]["distcache"] and z["exact_lru"] == t["ratios"]["exact-lru"]


def test_admission_cost_and_targets(result: dict) -> None:
    adm = result["admission"]
    for group in ("get_hit_hot", "get_hit_wide", "set_evict"):
        assert sorted(adm["samples"][group]) == ["plain", "tinylfu"]
        assert all(len(v) == QUICK.rounds for v in adm["samples"][group].values())
    tally = adm["set_evict_tally"]
    # Warm-up pass + rounds, each of set_evict_ops sets of absent keys into a full cache.
    runs = QUICK.rounds + 1
    assert tally["plain"] == {"sets": runs * adm["set_evict_ops"]} | {
        "stored": runs * adm["set_evict_ops"],
        "evictions": runs * adm["set_evict_ops"],
    }
    # The harness exists to time admitted sets: nearly all of TinyLFU's must evict too.
    assert tally["tinylfu"]["evictions"] >= 0.9 * tally["tinylfu"]["sets"]
    judged = result["admission_targets"]
    n = len(result["hitratio"]["zipf"])
    assert len(judged) == 2 * n + n + len(result["hitratio"]["scan"]) + 2
    for t in judged:
        if "gap" in t["target"] and not HAVE_LCS:
            assert t["met"] is None and "libCacheSim" in t["status"]
        elif t["measured"] is not None:
            assert isinstance(t["met"], bool)
            assert t["status"].startswith("met" if t["met"] else "missed")
    assert "|" not in "".join(t["target"] for t in judged)  # markdown cells


def test_quick_run_without_libcachesim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hitratio, "load_libcachesim", lambda: None)
    sizes = replace(QUICK, zipf_alphas=(0.99,), zipf_requests=5000)
    # A full run must refuse to start without it, before measuring anything.
    with pytest.raises(RuntimeError, match="libcachesim"):
        run(quick=False, libraries=["distcache", "dict"], sizes=sizes)
    res = run(quick=True, libraries=["distcache", "dict"], sizes=sizes)
    hr = res["hitratio"]
    assert "not installed" in hr["libcachesim_skipped"]
    assert all(t["ratios"]["sim:W-TinyLFU"] is None for t in hr["zipf"])
    text = markdown.render(res)
    assert "Note: libcachesim is not installed" in text
    assert "not measured (libCacheSim not in this run)" in text


def test_gap_closure_and_scan_arithmetic() -> None:
    r = {"distcache-tinylfu": 0.58, "sim:LRU": 0.49, "exact-lru": 0.48, "sim:W-TinyLFU": 0.60}
    assert figures.gap_closure(r, "sim:LRU") == pytest.approx(0.09 / 0.11)
    assert figures.gap_closure(r, "exact-lru") == pytest.approx(0.10 / 0.12)
    assert figures.gap_closure({**r, "sim:W-TinyLFU": 0.49}, "sim:LRU") is None  # no gap
    assert figures.gap_closure({**r, "sim:W-TinyLFU": None}, "sim:LRU") is None
    scan = {"before": {"p": 0.8, "q": None}, "kept": {"p": 0.6, "q": None}}
    assert figures.scan_evicted(scan, "p") == pytest.approx(0.25)
    assert figures.scan_evicted(scan, "q") is None


def test_exact_lru_contains() -> None:
    lru = ExactLRU(max_bytes=4, overhead=0)
    lru.set("a", b"v")
    assert "a" in lru and b"a" in lru and "b" not in lru
    assert list(lru._entries) == [b"a"]


@pytest.mark.skipif(not HAVE_LCS, reason="libcachesim not installed")
def test_libcachesim_bulk_replay_matches_request_loop(tmp_path: Path) -> None:
    # The oracleGeneral file written for the bulk replay is read back as the same trace.
    lcs = hitratio.load_libcachesim()
    ids = zipf_ranks(20_000, 2000, s=0.9, seed=3)
    path = str(tmp_path / "t.oracleGeneral")
    hitratio.write_oracle_trace(path, ids, 180)
    for policy in hitratio.SIM_POLICIES:
        bulk = hitratio.sim_hit_ratio_bulk(
            lcs, hitratio.sim_cache(lcs, policy, 100, 180, 2000), path
        )
        hits, n = hitratio.sim_replay(
            lcs, hitratio.sim_cache(lcs, policy, 100, 180, 2000), ids, 180
        )
        assert bulk == pytest.approx(hits / n, abs=1e-9), policy
    exact = ExactLRU(100 * (KEY_LEN + 100 + 64), 64)
    universe = keys(2000, prefix="z")
    exact_hits, _ = replay(exact.get, exact.set, [universe[i] for i in ids], value(0))
    cache = hitratio.sim_cache(lcs, "LRU", 100, 180, 2000)
    assert hitratio.sim_replay(lcs, cache, ids, 180)[0] == exact_hits
    assert hitratio.sim_cached(lcs, cache, ids[-5:], 180) == 5  # the last ones are cached


def test_hitratio_chart(result: dict, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "hitratio.png"
    write_hitratio_chart(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cluster_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    missing = [t for t in ("redis-server", "memcached") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs them)")
    pytest.importorskip("redis")
    pytest.importorskip("pymemcache")
    from asv_bench import cluster

    assert cluster.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    for label in ("grpc echo (sync server)", "grpc echo (aio server)", "distcache Get",
                  "redis-py GET", "pymemcache get", "GetMany(100)", "3-node cluster",
                  "promoted remote key"):
        assert label in out


def test_monitoring_bench_measures_both_figures() -> None:
    from asv_bench import monitoring

    overhead = monitoring.hit_overhead(rounds=1, phase=0.05)
    for name in ("LRUCache.get", "Group.get"):
        assert overhead[name]["off_ns"] > 0 and overhead[name]["on_ns"] > 0
    scrape = monitoring.scrape_time(scrapes=2)
    assert set(scrape) == {"/metrics", "/stats"}
    assert all(s["scrapes"] == 2 and s["median_ms"] > 0 for s in scrape.values())


def test_asyncio_bench_measures_every_figure() -> None:
    # make bench-async on its smallest sizes: every figure is there and comes
    # from calls that worked (the remote gets all reached the owner); never a speed.
    from asv_bench import asyncio_bench

    result = asyncio_bench.run(asyncio_bench.SMOKE)
    hit = result["hit"]
    assert hit["get_ns"] > 0 and hit["aget_ns"] > 0 and hit["ratio"] > 0
    for form in ("group", "client"):
        r = result["remote"][form]
        assert r["aget_per_s"] > 0 and r["get_per_s"] > 0 and r["throughput_ratio"] > 0
        assert r["lag_samples"] > 0 and 0 <= r["lag_p50_ms"] <= r["lag_p99_ms"] <= r["lag_max_ms"]
        assert r["idle_lag_p99_ms"] >= 0
    counts = result["remote"]["group"]["counts"]
    assert counts["gets"] > 0 and counts["remote_hits"] == counts["gets"]
    assert counts["peer_errors"] == counts["degraded_loads"] == counts["local_hits"] == 0
    assert [t["met"] in (True, False) for t in result["targets"]] == [True] * 5
    text = asyncio_bench.render(result)
    assert "Group.aget / Group.get, a local hit" in text and "AsyncClient form" in text


def test_decorator_bench_measures_every_contender() -> None:
    from asv_bench import decorator

    result = decorator.run(rounds=2, passes=2)
    rows = {r["contender"]: r for r in result["rows"]}
    assert list(rows) == list(decorator.CONTENDERS)
    assert rows[decorator.SUBJECT]["ratio"] == 1.0  # each round's ratio to itself
    assert decorator.SUBJECT in result["samples"]  # distcache itself is never missing
    for label, row in rows.items():
        # A missing library (no bench extra) is a row without figures, never a guess.
        assert (row["ns_per_hit"] is None) == (label not in result["samples"]), label
        if row["ns_per_hit"] is not None:
            samples = result["samples"][label]
            assert len(samples) == 2 and min(samples) > 0
            assert row["ns_per_hit"] == pytest.approx(sum(samples) / 2)  # median of two
    assert set(result["steps"]) == {"key", "group.get", "loads", "key by bind()", "json.loads"}
    assert all(ns > 0 for ns in result["steps"].values())
    assert [t["target"] for t in result["targets"]] == [t[0] for t in decorator.TARGETS]
    samples = result["samples"]
    for t, (_, subject, other, bound) in zip(result["targets"], decorator.TARGETS, strict=True):
        if other not in samples:
            assert t["measured"] is None and t["met"] is None
            continue
        # The median of two per-round ratios is their mean.
        r = [a / b for a, b in zip(samples[subject], samples[other], strict=True)]
        assert t["measured"] == pytest.approx(sum(r) / 2) and t["bound"] == bound
        assert t["met"] is (t["measured"] <= bound)
    if "cachetools.cached (dict)" in samples:
        assert result["targets"][0]["measured"] == rows["cachetools.cached (dict)"]["ratio"]


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_hit_instructions_counts_every_variant() -> None:
    # The counts are exact, so the orderings that docs/optimization.md argues
    # from hold on a few thousand calls: a hit costs more than the loop's
    # floor, feeding the sketch costs more than not, a group more than the
    # cache that keeps the same frequencies.
    from asv_bench import hitinstructions

    names = ("dict.get (the loop floor)", "LRUCache.get", "LRUCache(track_frequency=True).get",
             "Group.get (admission=None)")
    n = hitinstructions.measure(5_000, names)
    assert n["dict.get (the loop floor)"] < n["LRUCache.get"]
    assert n["LRUCache.get"] < n["LRUCache(track_frequency=True).get"]
    assert n["LRUCache(track_frequency=True).get"] < n["Group.get (admission=None)"]
