"""Fuzzing the CacheService: arbitrary bytes as each request, to a real server.

A node runs in this process on 127.0.0.1 (a GRPCPool serving a registered
group over a getter), beside a second one that demands a token; a channel
without serializers sends each input's bytes as the request of Get, Set,
Delete or GetMany, as any client on the network could. Half the inputs are
raw bytes; the other half build a valid request from fuzzed fields (group,
keys of every length, data up to 40 KiB, every float as a ttl, flags), then
may flip, cut or extend its bytes, so that the fuzzer also reaches what lies
past the parse.

Every answer must be OK with a response that parses (and a Set or Delete
that succeeded: a handler that caught a crash answers success=False), or one
of the statuses docs/grpc.md names for a bad request (INVALID_ARGUMENT,
NOT_FOUND, UNAUTHENTICATED, UNAVAILABLE carrying the getter's own error);
never UNKNOWN or INTERNAL (a handler's uncaught exception). After every
input a plain Get must still be answered, and found.

Run: ``python -m tests.fuzz.grpc_requests [libFuzzer flags] [corpus dirs]``.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass
from typing import Any

import atheris
import grpc

from distcache.cluster import GRPCPool
from distcache.cluster import distcache_pb2 as pb
from distcache.cluster.wire import SERVICE
from distcache.group import NotFound, get_group, new_group

GROUP = "fuzz-grpc"
TOKEN = "fuzz-token"
TIMEOUT = 10.0  # seconds per call: generous on a shared 2-core machine; a hang fails
METHODS = {
    "Get": (pb.GetRequest, pb.GetResponse),
    "Set": (pb.SetRequest, pb.SetResponse),
    "Delete": (pb.DeleteRequest, pb.DeleteResponse),
    "GetMany": (pb.GetManyRequest, pb.GetManyResponse),
}
# What a bad request may be answered with (docs/grpc.md); OK is checked apart.
CLEAR = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
         grpc.StatusCode.UNAUTHENTICATED}


def getter(key: str) -> bytes:
    """The group's source: a value for every key, but "absent…" is missing and "boom…" fails."""
    if key.startswith("absent"):
        raise NotFound(key)
    if key.startswith("boom"):
        raise RuntimeError("the source failed")
    return b"v:" + key.encode("utf-8", "surrogatepass")


@dataclass
class Node:
    """The two servers, their channels, and what the harness made (to stop it)."""

    open_pool: GRPCPool
    locked_pool: GRPCPool
    open_channel: grpc.Channel
    locked_channel: grpc.Channel
    group: Any


_node: Node | None = None
# Guards _node: made once, on the first input.
_node_lock = threading.Lock()


def node() -> Node:
    """The running node, started on the first call."""
    global _node
    with _node_lock:
        if _node is None:
            open_pool = GRPCPool("127.0.0.1:0", timeout=2.0, workers=4)
            locked_pool = GRPCPool("127.0.0.1:0", timeout=2.0, workers=4, token=TOKEN)
            group = get_group(GROUP) or new_group(GROUP, 1 << 20, getter)
            group.register_peers(open_pool)
            open_port = open_pool.start("127.0.0.1:0")
            locked_port = locked_pool.start("127.0.0.1:0")
            _node = Node(open_pool, locked_pool,
                         grpc.insecure_channel(f"127.0.0.1:{open_port}"),
                         grpc.insecure_channel(f"127.0.0.1:{locked_port}"), group)
        return _node


def stop() -> None:
    """Stops the node started by node(), if any (the replay test's teardown)."""
    global _node
    with _node_lock:
        n, _node = _node, None
    if n is None:
        return
    n.open_channel.close()
    n.locked_channel.close()
    n.open_pool.stop(0)
    n.locked_pool.stop(0)
    n.group.close()
    from distcache.group.registry import _groups, _groups_lock

    with _groups_lock:
        _groups.pop(GROUP, None)


# ------------------------------------------------------------------ inputs


def text(fdp: atheris.FuzzedDataProvider) -> str:
    """A key or group name: short fuzzed text, a name that means something here, or a long one."""
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind <= 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 16))
    if kind <= 7:
        return fdp.PickValueInList(["k", "boom", "absent", "", "é", "日本", GROUP, "k" * 300])
    n = fdp.PickValueInList([65535, 65536, 70000])
    return ("é" * (n // 2) + "x" * (n % 2)) if fdp.ConsumeBool() else "k" * n


def message(fdp: atheris.FuzzedDataProvider, request: Any) -> bytes:
    """A valid request built from fuzzed fields, serialized."""
    group = fdp.PickValueInList([GROUP, GROUP, GROUP, "nope", "", text(fdp)])
    fields: dict[str, Any] = {"group": group, "forwarded": fdp.ConsumeBool()}
    if fdp.ConsumeBool():
        fields["ring_version"] = fdp.ConsumeIntInRange(0, 2**64 - 1)
    if request is pb.GetManyRequest:
        fields["keys"] = [text(fdp) for _ in range(fdp.ConsumeIntInRange(0, 6))]
    else:
        fields["key"] = text(fdp)
    if request is pb.SetRequest:
        size = fdp.PickValueInList([0, 1, 100, 4096, 32768, 40000, fdp.ConsumeIntInRange(0, 500)])
        fields["data"] = bytes([fdp.ConsumeIntInRange(0, 255)]) * size
        fields["ttl"] = fdp.PickValueInList(
            [0.0, 0.0, 1e-9, 3600.0, math.inf, -1.0, -math.inf, math.nan, -0.0, 1e308, 5e-324,
             fdp.ConsumeFloat()])
    return request(**fields).SerializeToString()  # type: ignore[no-any-return]


def mutate(fdp: atheris.FuzzedDataProvider, raw: bytes) -> bytes:
    """raw with a few bytes flipped, cut short or extended (or as it is)."""
    data = bytearray(raw)
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        kind = fdp.ConsumeIntInRange(0, 3)
        if kind == 0 and data:
            data[fdp.ConsumeIntInRange(0, len(data) - 1)] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        elif kind == 1 and data:
            del data[fdp.ConsumeIntInRange(0, len(data)):]
        elif kind == 2:
            data += fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16))
        elif data:
            data[fdp.ConsumeIntInRange(0, len(data) - 1)] = fdp.ConsumeIntInRange(0, 255)
    return bytes(data)


# ------------------------------------------------------------------ checks


def call(channel: grpc.Channel, method: str, payload: bytes,
         metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, Any]:
    """(status, response bytes or details) of one raw call."""
    stub = channel.unary_unary(f"/{SERVICE}/{method}")
    try:
        return grpc.StatusCode.OK, stub(payload, timeout=TIMEOUT, metadata=metadata)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()


def check(method: str, locked: bool, authorised: bool, payload: bytes,
          status: grpc.StatusCode, answer: Any) -> None:
    """Raises AssertionError when the answer is not one a bad request may get."""
    where = f"{method}({payload[:200]!r}{'...' if len(payload) > 200 else ''})"
    if locked and not authorised:
        assert status == grpc.StatusCode.UNAUTHENTICATED, f"{where}: {status} {answer!r:.300}"
        return
    if status == grpc.StatusCode.OK:
        response = METHODS[method][1].FromString(answer)
        if method in ("Set", "Delete"):
            assert response.success, f"{where}: success=False, err={response.err!r}"
        return
    if status == grpc.StatusCode.UNAVAILABLE:
        # The getter's own failure, passed on by name (not the server going away).
        assert answer == "RuntimeError: the source failed", f"{where}: UNAVAILABLE {answer!r}"
        return
    assert status in CLEAR, f"{where}: {status} {answer!r:.500}"


def TestOneInput(data: bytes) -> None:  # noqa: N802 -- the name atheris and libFuzzer use
    """One request (raw or built, then mutated) to one method; checked; the node still answers."""
    fdp = atheris.FuzzedDataProvider(data)
    n = node()
    method = fdp.PickValueInList(list(METHODS))
    locked = fdp.ConsumeIntInRange(0, 7) == 0
    auth = fdp.PickValueInList([None, None, TOKEN, "wrong", ""])
    metadata = (("authorization", f"Bearer {auth}"),) if auth is not None else ()
    if fdp.ConsumeBool():
        payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        payload = mutate(fdp, message(fdp, METHODS[method][0]))
    channel = n.locked_channel if locked else n.open_channel
    status, answer = call(channel, method, payload, metadata)
    check(method, locked, auth == TOKEN, payload, status, answer)
    alive = pb.GetRequest(group=GROUP, key="alive").SerializeToString()
    status, answer = call(n.open_channel, "Get", alive, ())
    assert status == grpc.StatusCode.OK, f"after {method}({payload[:100]!r}): {status} {answer}"
    assert pb.GetResponse.FromString(answer).found, "the node lost its group"


if __name__ == "__main__":
    from tests.fuzz.engine import fuzz

    fuzz(TestOneInput)
    sys.exit(0)
