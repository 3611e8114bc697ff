"""The rules of the package's layout (docs/internals.md, "The map"), checked on the source.

An AST walk over distcache/: who may import grpc and prometheus_client, that
imports point down the layers and never reach the package's own __init__,
module sizes, the extension as a list of includes with its C in csrc/, sync
and async twins kept together, and code that cites only what the repository
holds. Each rule fails with the places that break it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "distcache"

# Each top-level part of the package and its layer: a module may import the
# parts of lower layers and its own part, nothing above or beside it.
LAYERS = {
    "_contract": 0,
    "_version": 0,
    "_core": 1,
    "_pycore": 1,
    "_backend": 2,
    "peers": 3,
    "singleflight": 3,
    "serializers": 3,
    "callkeys": 3,
    "hlc": 3,
    "group": 4,
    "sqlite_getter": 4,
    "decorator": 5,
    "cluster": 5,
    "monitoring": 5,
    "grpcpool": 6,  # documented import path: names distcache.cluster's public classes
    "metrics": 6,  # documented import path: names distcache.monitoring's server
    "cli": 7,
    "__main__": 8,
    "__init__": 9,
}
# Imports allowed only inside one subpackage.
CONFINED = {
    "grpc": "cluster",
    "grpc_health": "cluster",
    "prometheus_client": "monitoring",
}
MAX_LINES = 500
GENERATED = re.compile(r"_pb2\.pyi?$")


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if not GENERATED.search(p.name))


def part_of(path: Path) -> str:
    """The top-level part of the package a file belongs to ("group", "_backend", ...)."""
    first = path.relative_to(PACKAGE).parts[0]
    return first[:-3] if first.endswith(".py") else first


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, absolute module, names) for every import of the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target, [a.name for a in node.names]


def is_submodule(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").exists() or any(
        path.parent.glob(path.name + ".*.so")) or path.with_suffix(".pyx").exists()


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(p) for p in modules()}
    parts |= {p.stem for p in PACKAGE.glob("*.pyx")}
    unknown = sorted(parts - set(LAYERS))
    assert not unknown, f"place these in LAYERS (and in docs/internals.md's map): {unknown}"


def test_network_and_metrics_libraries_stay_in_their_subpackages() -> None:
    wrong = []
    for path in modules():
        for line, target, _ in imported(path):
            top = target.split(".")[0]
            home = CONFINED.get(top)
            if home is not None and part_of(path) != home:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} (only in {home}/)")
            if target.endswith("_pb2") or target.split(".")[-1].endswith("_pb2"):
                if part_of(path) != "cluster":
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} "
                                 "(only in cluster/)")
    assert not wrong, "\n".join(wrong)


def test_imports_point_down_and_never_reach_the_package_init() -> None:
    wrong = []
    for path in modules():
        here = part_of(path)
        where = f"{path.relative_to(ROOT)}"
        for line, target, names in imported(path):
            if target.split(".")[0] != "distcache":
                continue
            if here == "__init__":
                continue  # the public names: it may gather from everywhere
            if target == "distcache":
                # `from . import x` is fine when x is a module; a name of __init__ is not
                names_of_init = [n for n in names if not is_submodule(f"distcache.{n}")]
                if names_of_init or not names:
                    wrong.append(f"{where}:{line} imports the package __init__ ({names_of_init})")
                    continue
                targets = [f"distcache.{n}" for n in names]
            else:
                targets = [target]
            for t in targets:
                there = t.split(".")[1]
                if there == here:
                    continue
                if LAYERS.get(there, 99) >= LAYERS.get(here, -1):
                    wrong.append(f"{where}:{line} ({here}, layer {LAYERS.get(here)}) imports {t} "
                                 f"({there}, layer {LAYERS.get(there)}): imports point down")
    assert not wrong, "\n".join(wrong)


def test_no_absolute_import_of_the_package_from_inside() -> None:
    # `import distcache.x` inside the package runs the package __init__ first
    # and hides the real dependency; inside, imports are relative.
    wrong = []
    for path in list(modules()) + sorted(PACKAGE.glob("*.pyx")) + sorted(PACKAGE.glob("*.pxi")):
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if re.match(r"\s*(import distcache\b|from distcache\b)", line):
                wrong.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_no_module_over_500_lines() -> None:
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in modules()}
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sizes.items() if n > MAX_LINES]
    assert not big, "split by concern:\n" + "\n".join(big)


def test_the_extension_is_a_list_of_includes_and_its_c_lives_in_csrc() -> None:
    pyx = (PACKAGE / "_core.pyx").read_text(encoding="utf-8")
    assert len(pyx.splitlines()) < 200
    assert not re.search(r"^\s*(cdef class|class |def |cpdef )", pyx, re.M), (
        "_core.pyx holds directives, cimports, constants and includes; "
        "the types live in .pxi files")
    assert re.search(r"^include \"_core_\w+\.pxi\"", pyx, re.M)
    inline_c = [p.name for p in [PACKAGE / "_core.pyx", *PACKAGE.glob("*.pxi"),
                                 PACKAGE / "_core.pxd"]
                if re.search(r"cdef extern from \*", p.read_text(encoding="utf-8"))]
    assert not inline_c, f"C written inline (it belongs in a csrc/ header): {inline_c}"


def _methods(cls: ast.ClassDef) -> dict[str, bool]:
    """name -> is a coroutine, for the methods a class body defines."""
    return {n.name: isinstance(n, ast.AsyncFunctionDef) for n in cls.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_sync_and_async_twins_stay_together() -> None:
    # A coroutine aX whose sync twin X exists must find X in its own class or
    # in a sibling class of the same module (Client and AsyncClient, as httpx):
    # a split by sync/async puts one concern in two places.
    classes: dict[Path, list[ast.ClassDef]] = {}
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes[path] = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    sync_names_anywhere = {name for cs in classes.values() for c in cs
                           for name, coro in _methods(c).items() if not coro}
    # A class over the core's HitPath, and the group's concern mixins that
    # Group puts beside it (group/group.py), have their get from C: the
    # twin's HitPath (distcache/_pycore) says which methods that base brings.
    hit_path = {name for p, cs in classes.items() if part_of(p) == "_pycore" for c in cs
                if c.name == "HitPath" for name in _methods(c)}
    apart = []
    for path, cs in classes.items():
        here = {name for c in cs for name, coro in _methods(c).items() if not coro}
        for c in cs:
            over_hit_path = part_of(path) == "group" or any("HitPath" in ast.unparse(b)
                                                            for b in c.bases)
            inherited = hit_path if over_hit_path else set()
            for name, coro in _methods(c).items():
                if not (coro and name.startswith("a") and len(name) > 1):
                    continue
                twin = name[1:]
                if (twin in sync_names_anywhere and twin not in here | inherited
                        and twin != "enter__"):
                    apart.append(f"{path.relative_to(ROOT)}: {c.name}.{name} (its twin "
                                 f"{twin} is defined in another module)")
    assert not apart, "\n".join(apart)


# A citation of a document the repository does not hold. Written in pieces so
# that this file does not match itself.
_CITATION = re.compile("|".join([r"\bSPEC\b", r"\b[Ii]ssue[ -]?#?[0-9]+", r"\b[Ii]ssue's\b"]))
_CITED_PATH = re.compile(r"\b((?:docs|tests|asv_bench|csrc|proto)/[\w./-]*\w)")


def _texts() -> Iterator[Path]:
    for folder, patterns in [
        (PACKAGE, ["**/*.py", "**/*.pyx", "**/*.pxi", "**/*.pxd", "**/*.pyi", "**/*.html"]),
        (ROOT / "csrc", ["*.h"]),
        (ROOT / "tests", ["**/*.py"]),
        (ROOT / "asv_bench", ["**/*.py", "*.md"]),
        (ROOT / "docs", ["*.md"]),
    ]:
        for pattern in patterns:
            yield from (p for p in folder.glob(pattern) if not GENERATED.search(p.name)
                        and p.name != "test_layout.py")
    top = ("Makefile", "README.md", ".ci/run", "setup.py", "pyproject.toml")
    yield from (ROOT / n for n in top)


def test_code_cites_only_what_the_repository_holds() -> None:
    cites = []
    for path in _texts():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _CITATION.search(line):
                cites.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not cites, "say what is meant, or name a page of docs/:\n" + "\n".join(cites)


@pytest.mark.parametrize("folder", ["distcache", "csrc"])
def test_the_paths_code_names_exist(folder: str) -> None:
    missing = []
    for path in sorted((ROOT / folder).rglob("*")):
        if path.suffix not in {".py", ".pyx", ".pxi", ".pxd", ".pyi", ".h", ".html"}:
            continue
        if GENERATED.search(path.name):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for cited in _CITED_PATH.findall(line):
                cited = cited.rstrip(".")
                if not (ROOT / cited).exists() and not list(ROOT.glob(cited)):
                    missing.append(f"{path.relative_to(ROOT)}:{n}: {cited}")
    assert not missing, "these paths are not in the repository:\n" + "\n".join(missing)


def test_no_group_method_shadows_an_attribute_of_the_twin_s_hit_path() -> None:
    # Group's base is the core's HitPath: the C one keeps its state in C
    # fields, the twin in instance attributes. A mixin method named like one
    # of those (_calls, say) is replaced by the twin's int at run time, and
    # only the twin's run fails ("'int' object is not callable").
    from distcache.group import Group

    tree = ast.parse((PACKAGE / "_pycore" / "hitpath.py").read_text())
    assigned = {t.attr for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for t in node.targets
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                and t.value.id == "self"}
    assert assigned, "no attribute of the twin's HitPath found"
    clashes = sorted(name for name in assigned
                     if any(name in vars(cls) for cls in Group.__mro__
                            if cls.__module__.startswith("distcache.group")))
    assert clashes == [], clashes
