"""Groups on both cores: lookup order, singleflight, getter contract, negative caching, writes."""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any

import pytest

from distcache.group import Group, NotFound, get_group, new_group

from .fakes import FakeClock, FakePeer, FakePicker
from .test_singleflight import WAIT, wait_until


def doubled(key: str) -> bytes:
    return key.encode() * 2


def make(
    core: ModuleType, getter: Any = doubled, name: str = "g", max_bytes: int = 1 << 20, **kw: Any
) -> Group:
    return new_group(name, max_bytes, getter, _core=core, **kw)


class Source:
    """A getter over a dict that counts its calls; absent keys raise NotFound."""

    def __init__(self, data: dict[str, bytes] | None = None) -> None:
        # Guards calls.
        self.lock = threading.Lock()
        self.data = dict(data or {})
        self.calls: list[str] = []

    def __call__(self, key: str) -> bytes:
        with self.lock:
            self.calls.append(key)
        try:
            return self.data[key]
        except KeyError:
            raise NotFound(key) from None


# ------------------------------------------------------------------ basics


def test_get_loads_once_then_hits(core: ModuleType) -> None:
    src = Source({"42": b"alice"})
    users = make(core, src)
    assert users.get("42") == b"alice"
    assert users.get("42") == b"alice"
    assert src.calls == ["42"]
    st = users.stats()
    assert (st["gets"], st["local_hits"], st["loaded"], st["getter_loads"]) == (2, 1, 1, 1)
    assert st["hit_rate"] == 0.5


def test_registry(core: ModuleType) -> None:
    users = make(core, name="users")
    assert get_group("users") is users
    assert get_group("nobody") is None
    users.close()
    assert get_group("users") is None
    assert make(core, name="users") is get_group("users")


def test_not_found_is_a_key_error(core: ModuleType) -> None:
    users = make(core, Source())
    with pytest.raises(KeyError):
        users.get("missing")


def test_bytes_key_is_the_str_key(core: ModuleType) -> None:
    src = Source({"k": b"v"})
    g = make(core, src)
    assert g.get(b"k") == b"v"
    assert g.get("k") == b"v"
    assert src.calls == ["k"]


def test_outcomes_add_up_to_gets(core: ModuleType) -> None:
    clock = FakeClock()
    src = Source({f"k{i}": b"v" for i in range(10)})
    g = make(core, src, _clock=clock)
    for i in range(200):
        try:
            g.get(f"k{i % 13}")
        except NotFound:
            pass
    st = g.stats()
    outcomes = (
        "local_hits",
        "hot_hits",
        "remote_hits",
        "loaded",
        "negative_hits",
        "not_found",
        "errors",
    )
    assert sum(st[o] for o in outcomes) == st["gets"] == 200
    assert st["loaded"] == 10 and st["not_found"] == 3 and st["negative_hits"] > 0
    lat = st["latency"]
    assert lat["count"] > 0 and 0 < lat["p50"] <= lat["p95"] <= lat["p99"]


# ------------------------------------------------------------- singleflight


def test_hundred_threads_one_cold_key_one_getter_call(core: ModuleType) -> None:
    release = threading.Event()
    calls = []

    def slow(key: str) -> bytes:
        calls.append(key)
        assert release.wait(WAIT)
        return b"value"

    g = make(core, slow)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(g.get("cold"))) for _ in range(100)]
    for t in threads:
        t.start()
    wait_until(lambda: g.stats()["loads_deduplicated"] == 99)
    release.set()
    for t in threads:
        t.join(WAIT)
    assert calls == ["cold"]
    assert results == [b"value"] * 100
    st = g.stats()
    assert (st["getter_loads"], st["loads_deduplicated"], st["loaded"]) == (1, 99, 100)


def test_getter_error_reaches_every_waiter_and_is_not_cached(core: ModuleType) -> None:
    release = threading.Event()
    boom = ConnectionError("database down")
    calls = []

    def failing(key: str) -> bytes:
        calls.append(key)
        assert release.wait(WAIT)
        raise boom

    g = make(core, failing)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            g.get("k")
        except ConnectionError as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    wait_until(lambda: g.stats()["loads_deduplicated"] == 9)
    release.set()
    for t in threads:
        t.join(WAIT)
    assert len(errors) == 10 and all(e is boom for e in errors)
    assert calls == ["k"]
    with pytest.raises(ConnectionError):
        g.get("k")  # not cached: the getter runs again
    assert calls == ["k", "k"]
    assert g.stats()["errors"] == 11


def test_keyboard_interrupt_in_getter_leaves_nothing_behind(core: ModuleType) -> None:
    state = {"interrupt": True}

    def getter(key: str) -> bytes:
        if state["interrupt"]:
            raise KeyboardInterrupt
        return b"fine"

    g = make(core, getter)
    with pytest.raises(KeyboardInterrupt):
        g.get("k")
    assert g._flight.in_flight() == 0
    state["interrupt"] = False
    assert g.get("k") == b"fine"


# ----------------------------------------------------------- getter contract


@pytest.mark.parametrize("bad", [None, "text", 42], ids=["None", "str", "int"])
def test_getter_returning_non_bytes_is_a_type_error(core: ModuleType, bad: object) -> None:
    def load_user(key: str) -> object:
        return bad

    g = make(core, load_user)
    with pytest.raises(TypeError, match=rf"load_user.*\b{type(bad).__name__}\b"):
        g.get("k")
    with pytest.raises(TypeError):
        g.get("k")  # nothing cached, negatively or otherwise
    assert g.stats()["getter_loads"] == 2


def test_getter_may_return_any_bytes_like(core: ModuleType) -> None:
    values = {"a": bytearray(b"ba"), "m": memoryview(b"mv")}
    g = make(core, values.__getitem__)
    assert g.get("a") == b"ba" and type(g.get("a")) is bytes
    assert g.get("m") == b"mv"


def test_callable_object_getter_is_named_in_the_error(core: ModuleType) -> None:
    class Loader:
        def __call__(self, key: str) -> object:
            return None

    g = make(core, Loader())
    with pytest.raises(TypeError, match="Loader.*NoneType"):
        g.get("k")


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "é", "a/b", None, 5])
def test_invalid_group_name(core: ModuleType, name: object) -> None:
    with pytest.raises(ValueError, match="group name"):
        new_group(name, 1024, bytes, _core=core)  # type: ignore[arg-type]


def test_longest_valid_name(core: ModuleType) -> None:
    assert make(core, name="A-z_0.9" + "x" * 57).name == "A-z_0.9" + "x" * 57


def test_duplicate_group_name(core: ModuleType) -> None:
    make(core, name="users")
    with pytest.raises(ValueError, match="already exists"):
        make(core, name="users")


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, True, None])
def test_invalid_max_bytes(core: ModuleType, max_bytes: object) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        make(core, max_bytes=max_bytes)  # type: ignore[arg-type]


@pytest.mark.parametrize("fraction", [-0.01, 0.51, 1.0, float("nan"), "0.1"])
def test_invalid_hot_fraction(core: ModuleType, fraction: object) -> None:
    with pytest.raises(ValueError, match="hot_fraction"):
        make(core, hot_fraction=fraction)


@pytest.mark.parametrize("fraction", [0, 0.5])
def test_hot_fraction_bounds_are_valid(core: ModuleType, fraction: float) -> None:
    assert make(core, hot_fraction=fraction).hot_fraction == fraction


@pytest.mark.parametrize("ttl", [-1.0, float("inf"), float("nan")])
def test_invalid_negative_ttl(core: ModuleType, ttl: float) -> None:
    with pytest.raises(ValueError, match="negative_ttl"):
        make(core, negative_ttl=ttl)


def test_getter_must_be_callable(core: ModuleType) -> None:
    with pytest.raises(TypeError, match="callable"):
        new_group("g", 1024, b"not a function", _core=core)  # type: ignore[arg-type]


def test_key_over_the_limit(core: ModuleType) -> None:
    g = make(core)
    with pytest.raises(ValueError):
        g.get("k" * (core.MAX_KEY_LEN + 1))
    with pytest.raises(ValueError):
        g.set("k" * (core.MAX_KEY_LEN + 1), b"v")


def test_key_of_the_wrong_type(core: ModuleType) -> None:
    with pytest.raises(TypeError):
        make(core).get(42)  # type: ignore[arg-type]


def test_set_of_a_str_value_is_a_type_error(core: ModuleType) -> None:
    with pytest.raises(TypeError, match="str"):
        make(core).set("k", "text")  # type: ignore[arg-type]


def test_top_hot_keys_rejects_negative_n(core: ModuleType) -> None:
    with pytest.raises(ValueError):
        make(core).top_hot_keys(-1)


# ------------------------------------------------------------------ writes


def test_set_and_delete(core: ModuleType) -> None:
    src = Source({"k": b"from source"})
    g = make(core, src)
    g.set("k", b"written")
    assert g.get("k") == b"written"
    assert g.delete("k") is True
    assert g.delete("k") is False
    assert g.get("k") == b"from source"  # delete drops the cache only
    assert src.calls == ["k"]


def test_set_with_ttl(core: ModuleType) -> None:
    g = make(core)
    g.set("k", b"v", ttl=60)
    assert g.get("k") == b"v"
    with pytest.raises(ValueError):
        g.set("k", b"v", ttl=-1)


def test_load_overtaken_by_a_set_does_not_overwrite_it(core: ModuleType) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(key: str) -> bytes:
        entered.set()
        assert release.wait(WAIT)
        return b"old"

    g = make(core, slow)
    out: list[bytes] = []
    t = threading.Thread(target=lambda: out.append(g.get("k")))
    t.start()
    assert entered.wait(WAIT)
    g.set("k", b"new")
    release.set()
    t.join(WAIT)
    assert out == [b"old"]  # the reader that started first sees its load...
    assert g.get("k") == b"new"  # ...but the cache keeps the write


# --------------------------------------------------------- negative caching


def test_absent_key_hits_the_getter_once_per_negative_ttl(core: ModuleType) -> None:
    clock = FakeClock()
    src = Source()
    g = make(core, src, negative_ttl=1.0, _clock=clock)
    for _ in range(50):
        with pytest.raises(NotFound):
            g.get("ghost")
        clock.advance(0.01)  # 50 gets over 0.5 s
    assert src.calls == ["ghost"]
    clock.advance(0.6)
    with pytest.raises(NotFound):
        g.get("ghost")
    assert src.calls == ["ghost", "ghost"]
    st = g.stats()
    assert (st["not_found"], st["negative_hits"]) == (2, 49)
    assert st["negative"]["bloom_positive"] == 49


def test_key_created_later_is_visible_within_negative_ttl(core: ModuleType) -> None:
    clock = FakeClock()
    src = Source()
    g = make(core, src, negative_ttl=2.0, _clock=clock)
    with pytest.raises(NotFound):
        g.get("new-user")
    src.data["new-user"] = b"hello"  # created in the source, not through the cache
    clock.advance(1.0)
    with pytest.raises(NotFound):
        g.get("new-user")  # still remembered as absent
    clock.advance(1.0)
    assert g.get("new-user") == b"hello"


def test_negative_entry_survives_a_rotation_for_its_whole_ttl(core: ModuleType) -> None:
    clock = FakeClock()
    src = Source()
    g = make(core, src, negative_ttl=1.0, _clock=clock)
    clock.advance(0.99)  # just before the first rotation of the bloom pair
    with pytest.raises(NotFound):
        g.get("k")
    for _ in range(9):
        clock.advance(0.1)  # crosses the rotation, stays within 1 s of the load
        with pytest.raises(NotFound):
            g.get("k")
    assert src.calls == ["k"]


def test_set_clears_the_negative_entry_at_once(core: ModuleType) -> None:
    clock = FakeClock()
    g = make(core, Source(), negative_ttl=60.0, _clock=clock)
    with pytest.raises(NotFound):
        g.get("k")
    g.set("k", b"now here")
    assert g.get("k") == b"now here"
    g.delete("k")  # delete forgets the negative entry too: the source decides again
    with pytest.raises(NotFound):
        g.get("k")


def test_negative_ttl_zero_disables_negative_caching(core: ModuleType) -> None:
    src = Source()
    g = make(core, src, negative_ttl=0)
    for _ in range(3):
        with pytest.raises(NotFound):
            g.get("k")
    assert src.calls == ["k"] * 3
    assert g.stats()["negative"] is None


def test_bloom_false_positives_are_confirmed_not_trusted(core: ModuleType) -> None:
    # A 16-key bloom pair saturated by 2,000 absent keys says "maybe" to nearly
    # everything; the exact table must still let present keys through.
    clock = FakeClock()
    src = Source({f"present{i}": b"v" for i in range(200)})
    g = make(core, src, _negative_capacity=16, _clock=clock)
    for i in range(2000):
        with pytest.raises(NotFound):
            g.get(f"absent{i}")
    for i in range(200):
        assert g.get(f"present{i}") == b"v"
    st = g.stats()["negative"]
    assert st["entries"] <= 16
    assert st["bloom_false_positive"] > 0


def test_exceptions_are_not_cached_negatively(core: ModuleType) -> None:
    calls = []

    def flaky(key: str) -> bytes:
        calls.append(key)
        if len(calls) == 1:
            raise TimeoutError("slow source")
        return b"ok"

    g = make(core, flaky)
    with pytest.raises(TimeoutError):
        g.get("k")
    assert g.get("k") == b"ok"


# ------------------------------------------------------------------ peers


def remote_group(core: ModuleType, **kw):
    """A group whose keys starting with "r" belong to a fake peer."""
    peer = FakePeer({f"r{i}": b"remote-%d" % i for i in range(1000)})
    src = Source({f"l{i}": b"local-%d" % i for i in range(1000)})
    g = make(core, src, **kw)
    g.register_peers(FakePicker(peer, lambda key: not key.startswith("r")))
    return g, peer, src


def test_remote_key_comes_from_its_owner_and_is_not_kept(core: ModuleType) -> None:
    g, peer, src = remote_group(core)
    assert g.get("r1") == b"remote-1"
    assert g.get("l1") == b"local-1"
    assert peer.calls == [("g", "r1")] and src.calls == ["l1"]
    assert g.get("r1") == b"remote-1"  # not in the main cache: asked again
    assert len(peer.calls) == 2
    st = g.stats()
    assert (st["remote_hits"], st["loaded"], st["peer_loads"]) == (2, 1, 2)


def test_hot_remote_key_is_promoted_then_served_locally(core: ModuleType) -> None:
    g, peer, _ = remote_group(core, _promote_at=4)
    for _ in range(10):
        assert g.get("r7") == b"remote-7"
    # Each get is counted by the main cache's sketch: the 4th has estimate 4.
    assert len(peer.calls) == 4
    st = g.stats()
    assert (st["promotions"], st["hot_hits"], st["remote_hits"]) == (1, 6, 4)
    assert g.top_hot_keys(1)[0] == ("r7", 10)


def test_hot_cache_lives_inside_the_budget(core: ModuleType) -> None:
    budget = 64 * 1024
    peer = FakePeer({f"r{i}": bytes(900) for i in range(500)})
    g = make(core, lambda k: bytes(900), max_bytes=budget, hot_fraction=0.25, _promote_at=1)
    assert g.stats()["main"]["max_bytes"] == budget  # no peers yet: all of it is main
    g.register_peers(FakePicker(peer, lambda key: not key.startswith("r")))
    st = g.stats()
    assert st["hot"]["max_bytes"] == budget // 4
    assert st["main"]["max_bytes"] + st["hot"]["max_bytes"] == budget
    for _ in range(3):
        for i in range(500):
            g.get(f"r{i}")
            g.get(f"l{i}")
            if i % 50 == 0:
                st = g.stats()
                assert st["main"]["nbytes"] + st["hot"]["nbytes"] <= budget
                assert st["hot"]["nbytes"] <= budget // 4
    st = g.stats()
    assert st["promotions"] > 0 and st["hot"]["evictions"] > 0
    assert st["nbytes"] == st["main"]["nbytes"] + st["hot"]["nbytes"] <= budget


# A 256 KiB group: its main cache's sketch (224 KiB, 896 entries) halves every
# 8,960 recordings (docs/internals.md, Sizing), and 100 keys spread over its
# 128 blocks barely collide.
DECAY_BYTES = 256 << 10


def test_hot_key_is_demoted_when_its_frequency_decays(core: ModuleType) -> None:
    g, peer, _ = remote_group(core, max_bytes=DECAY_BYTES, _promote_at=4)
    for _ in range(20):
        g.get("r7")
    assert g.stats()["promotions"] == 1
    assert g.get("r7") == b"remote-7" and g.stats()["hot_hits"] > 0
    # Traffic on other keys: each halving cuts r7's estimate (21, 10, 5, 2, 1)
    # until it falls below the demotion mark and the halving sweep drops it.
    for i in range(45_000):
        g.get(f"l{i % 100}")
    st = g.stats()
    assert st["sketch"]["halvings"] >= 4
    assert g._main.frequency("r7") < 2
    assert st["demotions"] == 1
    assert st["hot"]["items"] == 0
    before = len(peer.calls)
    assert g.get("r7") == b"remote-7"
    assert len(peer.calls) == before + 1  # back to the owner


def test_key_still_requested_stays_hot_across_halvings(core: ModuleType) -> None:
    g, peer, _ = remote_group(core, max_bytes=DECAY_BYTES, _promote_at=4)
    for _ in range(10):
        g.get("r7")
    calls = len(peer.calls)
    for i in range(30_000):
        g.get(f"l{i % 100}")
        if i % 20 == 0:
            assert g.get("r7") == b"remote-7"
    st = g.stats()
    assert st["sketch"]["halvings"] >= 3
    assert (st["promotions"], st["demotions"]) == (1, 0)
    assert len(peer.calls) == calls


def test_set_and_delete_drop_hot_copies(core: ModuleType) -> None:
    g, peer, _ = remote_group(core, _promote_at=1)
    for _ in range(3):
        g.get("r3")
    assert g.stats()["promotions"] == 1
    assert g.delete("r3") is True
    assert g.stats()["hot"]["items"] == 0


def test_peer_not_found_is_not_found_and_cached_negatively(core: ModuleType) -> None:
    clock = FakeClock()
    g, peer, src = remote_group(core, _clock=clock)
    for _ in range(3):
        with pytest.raises(NotFound):
            g.get("r-missing")
    assert peer.calls == [("g", "r-missing")]
    assert src.calls == []


def test_unreachable_owner_falls_back_to_the_getter(core: ModuleType) -> None:
    g, peer, src = remote_group(core)
    src.data["r5"] = b"from source"
    peer.error = ConnectionError("peer down")
    assert g.get("r5") == b"from source"
    assert g.get("r5") == b"from source"  # degraded loads are not cached
    st = g.stats()
    assert (st["peer_errors"], st["degraded_loads"], st["getter_loads"]) == (2, 2, 2)


def test_get_local_never_asks_a_peer(core: ModuleType) -> None:
    g, peer, src = remote_group(core)
    src.data["r9"] = b"from my source"
    assert g.get_local("r9") == b"from my source"
    assert g.get_local("r9") == b"from my source"  # the owner's share is cached here
    assert peer.calls == [] and src.calls == ["r9"]
    assert g.get("r8") == b"remote-8"  # a client get still goes to the owner
    assert peer.calls == [("g", "r8")]


def test_register_peers_twice(core: ModuleType) -> None:
    g, _, _ = remote_group(core)
    with pytest.raises(RuntimeError):
        g.register_peers(FakePicker(FakePeer(), lambda key: True))


def test_register_peers_needs_a_picker(core: ModuleType) -> None:
    with pytest.raises(TypeError, match="placement and peers"):
        make(core).register_peers(object())  # type: ignore[arg-type]


# --------------------------------------------------- admission and the sketch


def test_group_default_admission_is_tinylfu(core: ModuleType) -> None:
    g = make(core)
    assert g.admission == "tinylfu" == g.stats()["admission"]
    assert g._main.admission == "tinylfu" and g._main.tracks_frequency
    g.register_peers(FakePicker(FakePeer(), lambda key: True))
    assert g._main.admission == "tinylfu"  # the rebuilt main cache keeps the policy
    assert g._hot.admission is None and not g._hot.tracks_frequency  # one sketch


def test_admission_none_is_plain_lru_still_tracking_frequency(core: ModuleType) -> None:
    g = make(core, admission=None)
    assert g.admission is None
    assert g._main.admission is None and g._main.tracks_frequency
    for _ in range(3):
        g.get("k")
    assert g.top_hot_keys(1) == [("k", g._main.frequency("k"))]


def test_bad_admission(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="tinylfu"):
        make(core, admission="bogus")
    assert get_group("g") is None


def test_group_composes_the_cores_hit_path(core: ModuleType) -> None:
    import distcache

    g = make(core)
    assert type(g) is Group is distcache.Group  # one class, whatever the core
    assert isinstance(g, distcache._impl.HitPath) and isinstance(g._main, core.LRUCache)
    assert g.get("k") == b"kk"  # a miss: the getter
    assert g.get("k") == b"kk" and g._hits == 1
    g.attribute_of_my_own = 1  # no slot list to keep in step


def test_hit_path_takes_its_key_positionally_on_both_cores(core: ModuleType) -> None:
    # The C hit path is METH_O (docs/optimization.md); the twin matches it.
    cache = core.LRUCache(1 << 20)
    cache.set("k", b"v")
    path = core.HitPath(cache, lambda key, forward: None)
    assert path.get("k") == b"v" and path.get_local("k") == b"v" and path._peek("k") == b"v"
    for method in (path.get, path.get_local, path._peek):
        with pytest.raises(TypeError):
            method(key="k")
    assert path._hits == 3  # the refused calls counted nothing


def test_hit_key_samples_drain_once_and_keep_no_key_alive(core: ModuleType) -> None:
    cache = core.LRUCache(1 << 20)
    path = core.HitPath(cache, lambda key, forward: None)
    key = "".join(["sampled-", "key"])  # a str of its own, so its references can be counted
    cache.set(key, b"v")
    assert path._drain_hit_keys() == []  # nothing sampled yet
    assert path.get(key) == b"v"  # the first hit is sampled
    assert path._drain_hit_keys() == [key]
    before = sys.getrefcount(key)  # the C core's hash memo holds it too, from now on
    for _ in range(512):  # one hit in 64 is sampled
        assert path.get(key) == b"v"
    assert sys.getrefcount(key) > before  # the ring holds the samples
    assert path._drain_hit_keys() == [key] * 8
    assert sys.getrefcount(key) == before  # ... and no longer after the drain
    assert path._drain_hit_keys() == []
    for _ in range(64):
        path.get(key)
    assert path._drain_hit_keys() == [key]  # the ring fills again after a drain


def test_hot_keys_read_the_main_caches_sketch(core: ModuleType) -> None:
    g = make(core, admission=None)
    for i in range(300):
        g.get(f"k{i % 7}")
        g.get("hot")
    # No sketch or doorkeeper of the group's own: only the negative cache's
    # bloom pair, which holds absent keys, not counts.
    negative = g._negative
    own = [
        name
        for name in vars(g)
        if isinstance(getattr(g, name, None), (core.CountMinSketch, core.BloomFilter))
    ]
    assert own == [] and negative is not None
    top = g.top_hot_keys(8)
    assert top[0][0] == "hot"
    assert all(estimate == g._main.frequency(key) for key, estimate in top)
    g._main.get("k3")  # the sketch is the main cache's: its own gets count
    assert dict(g.top_hot_keys(8))["k3"] == g._main.frequency("k3")


def test_refused_admission_still_answers_the_load(core: ModuleType) -> None:
    # 4 KiB hold four 900-byte values: a full main cache of keys asked for
    # again and again, then a newcomer seen once, rarer than any victim.
    src = Source({f"k{i}": bytes(900) for i in range(5)})
    g = make(core, src, max_bytes=4096)
    for _ in range(10):
        for i in range(4):
            assert g.get(f"k{i}") == bytes(900)
    assert src.calls == ["k0", "k1", "k2", "k3"]
    assert g.get("k4") == bytes(900)  # loaded, refused by admission, returned
    assert g.get("k4") == bytes(900)
    assert src.calls[4:] == ["k4", "k4"]  # not cached: loaded again
    st = g.stats()
    assert st["admission_rejects"] == 2 == st["main"]["admission_rejects"]
    assert st["loaded"] == 6 and st["errors"] == 0
    assert all(f"k{i}" in g._main for i in range(4))


def test_set_is_not_refused_by_admission(core: ModuleType) -> None:
    # Before commit 662ede6, on a full TinyLFU group, set() of a rare new key
    # was refused and the next get() called the getter for the source's value.
    src = Source({f"k{i}": bytes(900) for i in range(4)} | {"43": b"from source"})
    g = make(core, src, max_bytes=4096)
    for _ in range(10):
        for i in range(4):
            g.get(f"k{i}")
    g.set("43", b"bob" + bytes(900))
    assert g.get("43") == b"bob" + bytes(900)
    assert "43" not in src.calls
    st = g.stats()
    assert st["admission_rejects"] == 0 == st["main"]["admission_rejects"]
    assert st["main"]["evictions"] == 1  # the write displaced a frequent key


def test_oversized_value_is_not_an_admission_reject(core: ModuleType) -> None:
    g = make(core, lambda key: bytes(5000), max_bytes=4096)
    assert g.get("big") == bytes(5000)
    st = g.stats()
    assert st["admission_rejects"] == 0 and st["main"]["rejected"] == 1
