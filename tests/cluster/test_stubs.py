"""The committed message classes are what proto/distcache.proto generates today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Idistcache=proto",
         f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", "proto/distcache.proto"],
        cwd=ROOT, check=True,
    )
    for name in ("distcache_pb2.py", "distcache_pb2.pyi"):
        fresh = (tmp_path / "distcache" / name).read_bytes()
        committed = (ROOT / "distcache" / "cluster" / name).read_bytes()
        assert fresh == committed, f"distcache/cluster/{name} is stale: run `make proto`"


def test_the_original_fields_keep_their_numbers() -> None:
    from distcache.cluster import distcache_pb2 as pb

    def numbers(message: type) -> dict[str, int]:
        return {f.name: f.number for f in message.DESCRIPTOR.fields}

    assert numbers(pb.GetRequest)["group"] == 1 and numbers(pb.GetRequest)["key"] == 2
    assert {k: v for k, v in numbers(pb.GetResponse).items() if v <= 3} == {
        "data": 1, "found": 2, "err": 3}
    assert {k: v for k, v in numbers(pb.SetRequest).items() if v <= 3} == {
        "group": 1, "key": 2, "data": 3}
    assert {k: v for k, v in numbers(pb.SetResponse).items() if v <= 2} == {
        "success": 1, "err": 2}
    assert {k: v for k, v in numbers(pb.DeleteRequest).items() if v <= 2} == {
        "group": 1, "key": 2}
    assert {k: v for k, v in numbers(pb.DeleteResponse).items() if v <= 2} == {
        "success": 1, "err": 2}
    service = pb.DESCRIPTOR.services_by_name["CacheService"]
    assert [m.name for m in service.methods] == ["Get", "Set", "Delete", "GetMany"]
