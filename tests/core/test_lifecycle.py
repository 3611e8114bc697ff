"""Every core type survives being made without __init__, __init__ twice, copies and subclassing.

`GroupCore().get("k")` (the hit path, now `HitPath`) and
`Group.__new__(Group).get("k")` segfaulted before commit 662ede6: the C hit
path dereferenced a main cache that __init__ never set. The walk below calls
every public method and property of every core type on an instance that
__new__ made alone, in a child process, so that a crash fails the test
instead of ending the run.
"""

from __future__ import annotations

import copy
import json
import pickle
from types import ModuleType

import pytest

from tests.isolated import run_python

WALK = r'''
import json, inspect
import distcache.{module} as core
from distcache.group import Group, new_group

ARGS = {{  # plausible arguments for each method name
    "get": ("k",), "get_local": ("k",), "get_many": (["k"],), "set": ("k", b"v"),
    "set_many": ({{"k": b"v"}},), "delete": ("k",), "add": ("k",), "add_many": (["k"],),
    "estimate": ("k",), "frequency": ("k",), "__contains__": ("k",), "__getitem__": ("k",),
    "__setitem__": ("k", b"v"), "__delitem__": ("k",), "_get_nogil": ("k",),
    "get_versioned": ("k",), "version_of": ("k",), "ttl_of": ("k",), "set_if_newer": ("k", b"v", 1),
}}
# Public names, the protocol methods, and the private ones tests and
# the group call.
EXTRA = {{"__contains__", "__getitem__", "__setitem__", "__delitem__", "__len__", "__repr__",
         "_get_nogil", "_check_invariants", "_main"}}
SKIP = {{"__init__", "__new__", "__init_subclass__", "__subclasshook__", "__class__",
        "__dir__", "__format__", "__reduce__", "__reduce_ex__", "__sizeof__", "__getattribute__",
        "__setattr__", "__delattr__", "__getstate__", "__setstate__", "__eq__", "__ne__",
        "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__str__", "__doc__", "__module__",
        "__slots__", "__weakref__", "__dict__", "__getattr__", "__pyx_vtable__",
        "__setstate_cython__", "__reduce_cython__", "__copy__", "__deepcopy__", "__iter__",
        "__annotations__"}}

results = []
def walk(label, obj):
    for name in sorted(dir(type(obj))):
        if name in SKIP or (name.startswith("_") and name not in EXTRA):
            continue
        try:
            attr = getattr(obj, name)
            if callable(attr):
                attr(*ARGS.get(name, ()))
            outcome = "ok"
        except Exception as exc:
            outcome = type(exc).__name__ + ": " + str(exc)
        results.append([label, name, outcome])

for cls in (core.LRUCache, core.BloomFilter, core.CountMinSketch, core.HitPath, Group):
    walk(cls.__name__, cls.__new__(cls))
print(json.dumps(results))
'''

NOT_INITIALISED = "RuntimeError: this {} is not initialised: its __init__ was not called"
# What an instance without __init__ may answer instead of the error.
HARMLESS = {"__repr__"}


@pytest.mark.parametrize("module", ["_core", "_pycore"])
def test_every_method_of_an_instance_without_init_raises(module: str) -> None:
    outcome = run_python(WALK.format(module=module), quiet=30.0, limit=60.0)
    assert outcome.returncode == 0, outcome.describe()
    results = json.loads(outcome.stdout.strip().splitlines()[-1])
    names = {(label, name) for label, name, _ in results}
    for label, name in [("LRUCache", "get"), ("BloomFilter", "__contains__"),
                        ("CountMinSketch", "add")]:
        assert (label, name) in names
    assert ("HitPath", "get") in names and ("Group", "get_local") in names
    for label, name, result in results:
        if name in HARMLESS:
            continue
        if label == "Group" and name not in ("get", "get_local", "_main"):
            # Group's own methods read attributes __init__ sets: any clear
            # exception will do, as long as the process lives.
            assert result == "ok" or ": " in result, (label, name, result)
            continue
        if result == "ok" and name in ("admission", "default_ttl", "capacity", "error_rate"):
            continue  # read-only data that defaults to None/0 on C
        expected = NOT_INITIALISED.format(label)
        assert result == expected, (label, name, result)


@pytest.mark.parametrize(
    ("cls_name", "args"),
    [("LRUCache", (1000,)), ("BloomFilter", (100,)), ("CountMinSketch", (64,))],
)
def test_init_twice_is_refused(core: ModuleType, cls_name: str, args: tuple) -> None:
    obj = getattr(core, cls_name)(*args)
    with pytest.raises(RuntimeError, match=f"^this {cls_name} is already initialised"):
        obj.__init__(*args)
    with pytest.raises(RuntimeError, match="already initialised"):
        obj.__init__(5)  # was a silent no-op on C
    if cls_name == "LRUCache":
        obj.set("k", b"v")
        assert obj.get("k") == b"v"
        obj._check_invariants()


def test_subclass_calling_super_init(core: ModuleType) -> None:
    class Named(core.LRUCache):  # type: ignore[name-defined, misc]
        def __init__(self, mb: int) -> None:
            super().__init__(mb)
            self.label = "mine"

    c = Named(1000)
    c.set("k", b"v")
    assert (c.get("k"), c.label, c.max_bytes) == (b"v", "mine", 1000)


def test_subclass_with_its_own_signature(core: ModuleType) -> None:
    class Sized(core.LRUCache):  # type: ignore[name-defined, misc]
        def __init__(self, *, megabytes: int, note: str) -> None:
            super().__init__(megabytes << 20, shards=4)
            self.note = note

    c = Sized(megabytes=2, note="x")
    assert (c.max_bytes, c.shards, c.note) == (2 << 20, 4, "x")

    class Forgetful(core.LRUCache):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            pass  # never calls LRUCache.__init__

    with pytest.raises(RuntimeError, match="^this Forgetful is not initialised"):
        Forgetful().get("k")


LAZY = r'''
import distcache.{module} as core
from distcache.group import Group

class Lazy(Group):
    def __init__(self):
        pass  # never calls Group.__init__

for method in ("get", "get_local"):
    try:
        getattr(Lazy(), method)("k")
    except RuntimeError as exc:
        print(method, exc)
'''


@pytest.mark.parametrize("module", ["_core", "_pycore"])
def test_group_subclass_without_parent_init(module: str) -> None:
    outcome = run_python(LAZY.format(module=module), quiet=30.0, limit=60.0)
    assert outcome.returncode == 0, outcome.describe()
    assert outcome.stdout.splitlines() == [
        f"{method} this Lazy is not initialised: its __init__ was not called"
        for method in ("get", "get_local")
    ]


COPIERS = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.dumps(obj),
}


@pytest.mark.parametrize("how", list(COPIERS))
@pytest.mark.parametrize("cls_name", ["LRUCache", "BloomFilter", "CountMinSketch"])
def test_copy_and_pickle_are_refused(core: ModuleType, cls_name: str, how: str) -> None:
    obj = getattr(core, cls_name)(1000)
    message = (f"^{cls_name} objects cannot be copied or pickled: each owns its entries and "
               f"locks; create a new one and fill it$")
    with pytest.raises(TypeError, match=message):
        COPIERS[how](obj)
    if cls_name == "LRUCache":  # before commit 662ede6 the twin's copy shared shards
        obj.set("k", b"v")
        obj._check_invariants()


@pytest.mark.parametrize("how", list(COPIERS))
def test_groups_are_not_copied(core: ModuleType, how: str) -> None:
    from distcache.group import new_group

    g = new_group(f"copied-{how}", 1 << 20, lambda k: b"v", _core=core)
    with pytest.raises(TypeError, match="^Group objects cannot be copied or pickled"):
        COPIERS[how](g)
    assert g.get("k") == b"v"
    g._main._check_invariants()
    g.close()
