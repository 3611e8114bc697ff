"""The committed message classes are what proto/distcache.proto generates today, with
the pinned protoc (tests/cluster/protoc.py), and run on the oldest protobuf allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cluster.protoc import generate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)  # the pinned grpcio-tools is installed on the first run
def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    fresh_dir = generate(tmp_path)
    for name in ("distcache_pb2.py", "distcache_pb2.pyi"):
        fresh = (fresh_dir / name).read_bytes()
        committed = (ROOT / "distcache" / "cluster" / name).read_bytes()
        assert fresh == committed, f"distcache/cluster/{name} is stale: run `make proto`"


def test_the_committed_messages_run_on_the_oldest_protobuf_allowed() -> None:
    text = (ROOT / "distcache" / "cluster" / "distcache_pb2.py").read_text(encoding="utf-8")
    generated = re.search(r"^# Protobuf Python Version: (\d+)\.(\d+)\.(\d+)$", text, re.M)
    assert generated is not None, "no version in distcache_pb2.py's header"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floor = re.search(r'"protobuf>=(\d+)\.(\d+)\.(\d+),', pyproject)
    assert floor is not None, "no protobuf floor in pyproject.toml"
    # Newer gencode would refuse the floor at import (ValidateProtobufRuntimeVersion).
    assert tuple(map(int, generated.groups())) <= tuple(map(int, floor.groups()))


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
