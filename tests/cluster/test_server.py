"""One node's server in this process: getter errors, malformed bytes, limits."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from distcache.cluster import GRPCPool, connect
from distcache.cluster import distcache_pb2 as pb
from distcache.group import NotFound, new_group
from distcache.group.registry import _reset_groups

from .nodes import free_port


def getter(key: str) -> bytes:
    if key == "boom":
        raise RuntimeError("the database is on fire")
    if key == "unparsable":  # the getter's own ValueError: no fault of the client's
        raise ValueError("invalid literal for int() with base 10: 'x'")
    if key == "returns-str":  # the group refuses it with a TypeError
        return "text"  # type: ignore[return-value]
    if key == "absent":
        raise NotFound(key)
    return b"v:" + key.encode()


@pytest.fixture
def node() -> Iterator[tuple[str, grpc.Channel]]:
    addr = f"127.0.0.1:{free_port()}"
    pool = GRPCPool(addr)
    g = new_group("things", 1 << 20, getter)
    g.register_peers(pool)
    pool.start()
    channel = grpc.insecure_channel(addr)
    try:
        yield addr, channel
    finally:
        channel.close()
        pool.stop(0)
        g.close()
        _reset_groups()


def raw_call(channel: grpc.Channel, method: str, payload: bytes) -> bytes:
    call = channel.unary_unary(f"/distcache.CacheService/{method}")
    return call(payload, timeout=2.0)  # type: ignore[no-any-return]


def test_a_getter_error_is_unavailable_with_its_text(node) -> None:
    addr, _ = node
    with connect(addr, timeout=2.0) as c:
        assert c.get("things", "x") == b"v:x"
        with pytest.raises(NotFound):
            c.get("things", "absent")
    channel = grpc.insecure_channel(addr)
    stub = channel.unary_unary("/distcache.CacheService/Get",
                               request_serializer=pb.GetRequest.SerializeToString,
                               response_deserializer=pb.GetResponse.FromString)
    with pytest.raises(grpc.RpcError) as info:
        stub(pb.GetRequest(group="things", key="boom"), timeout=2.0)
    err = info.value
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert err.details() == "RuntimeError: the database is on fire"
    assert dict(err.trailing_metadata())["err"] == err.details()
    channel.close()
    with connect(addr, timeout=2.0) as c:  # the node lives on
        assert c.get("things", "y") == b"v:y"


@pytest.mark.parametrize(("key", "text"), [
    ("unparsable", "ValueError: invalid literal for int() with base 10: 'x'"),
    ("returns-str",
     "TypeError: getter getter returned str, not a (C-contiguous) bytes-like object"),
])
def test_a_getter_value_or_type_error_is_unavailable_not_invalid_argument(
    node, key: str, text: str
) -> None:
    """The request is valid: a TypeError or ValueError from behind it is the getter's."""
    _, channel = node
    for method, request in [("Get", pb.GetRequest(group="things", key=key)),
                            ("GetMany", pb.GetManyRequest(group="things", keys=["y", key]))]:
        with pytest.raises(grpc.RpcError) as info:
            raw_call(channel, method, request.SerializeToString())
        err = info.value
        assert err.code() == grpc.StatusCode.UNAVAILABLE, method
        assert err.details() == text, method
        assert dict(err.trailing_metadata())["err"] == text, method
    reply = pb.GetResponse.FromString(raw_call(channel, "Get", pb.GetRequest(
        group="things", key="y").SerializeToString()))
    assert reply.data == b"v:y"


@pytest.mark.parametrize("method", ["Get", "Set", "Delete", "GetMany"])
@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x12\x02\xc3\x28", b"\x0a\x05ab"])
def test_bytes_that_are_no_message_are_invalid_argument(node, method: str, payload: bytes
                                                        ) -> None:
    _, channel = node
    with pytest.raises(grpc.RpcError) as info:
        raw_call(channel, method, payload)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a distcache." in info.value.details()


def test_an_empty_request_is_a_missing_group(node) -> None:
    _, channel = node
    with pytest.raises(grpc.RpcError) as info:
        raw_call(channel, "Get", b"")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_value_over_the_limit_is_refused_before_it_is_sent(node) -> None:
    addr, _ = node
    with connect(addr, timeout=10.0) as c:
        with pytest.raises(ValueError, match="over gRPC a value is at most 67108864 bytes"):
            c.set("things", "big", bytes(65 << 20))
        assert c.get("things", "big") == b"v:big"  # nothing was stored
