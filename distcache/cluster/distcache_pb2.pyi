from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetRequest(_message.Message):
    __slots__ = ("group", "key", "forwarded", "ring_version", "cache_only")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    RING_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_ONLY_FIELD_NUMBER: _ClassVar[int]
    group: str
    key: str
    forwarded: bool
    ring_version: int
    cache_only: bool
    def __init__(self, group: _Optional[str] = ..., key: _Optional[str] = ..., forwarded: bool = ..., ring_version: _Optional[int] = ..., cache_only: bool = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("data", "found", "err", "version", "ttl")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    found: bool
    err: str
    version: int
    ttl: float
    def __init__(self, data: _Optional[bytes] = ..., found: bool = ..., err: _Optional[str] = ..., version: _Optional[int] = ..., ttl: _Optional[float] = ...) -> None: ...

class SetRequest(_message.Message):
    __slots__ = ("group", "key", "data", "ttl", "forwarded", "ring_version", "version", "coordinate")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    RING_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COORDINATE_FIELD_NUMBER: _ClassVar[int]
    group: str
    key: str
    data: bytes
    ttl: float
    forwarded: bool
    ring_version: int
    version: int
    coordinate: bool
    def __init__(self, group: _Optional[str] = ..., key: _Optional[str] = ..., data: _Optional[bytes] = ..., ttl: _Optional[float] = ..., forwarded: bool = ..., ring_version: _Optional[int] = ..., version: _Optional[int] = ..., coordinate: bool = ...) -> None: ...

class SetResponse(_message.Message):
    __slots__ = ("success", "err", "version", "missed")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MISSED_FIELD_NUMBER: _ClassVar[int]
    success: bool
    err: str
    version: int
    missed: int
    def __init__(self, success: bool = ..., err: _Optional[str] = ..., version: _Optional[int] = ..., missed: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("group", "key", "forwarded", "ring_version", "version", "coordinate")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    RING_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COORDINATE_FIELD_NUMBER: _ClassVar[int]
    group: str
    key: str
    forwarded: bool
    ring_version: int
    version: int
    coordinate: bool
    def __init__(self, group: _Optional[str] = ..., key: _Optional[str] = ..., forwarded: bool = ..., ring_version: _Optional[int] = ..., version: _Optional[int] = ..., coordinate: bool = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("success", "err", "version")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    success: bool
    err: str
    version: int
    def __init__(self, success: bool = ..., err: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetManyRequest(_message.Message):
    __slots__ = ("group", "keys", "forwarded", "ring_version")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    RING_VERSION_FIELD_NUMBER: _ClassVar[int]
    group: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    forwarded: bool
    ring_version: int
    def __init__(self, group: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ..., forwarded: bool = ..., ring_version: _Optional[int] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("key", "data", "version", "ttl")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    key: str
    data: bytes
    version: int
    ttl: float
    def __init__(self, key: _Optional[str] = ..., data: _Optional[bytes] = ..., version: _Optional[int] = ..., ttl: _Optional[float] = ...) -> None: ...

class GetManyResponse(_message.Message):
    __slots__ = ("entries", "err")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    err: str
    def __init__(self, entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ..., err: _Optional[str] = ...) -> None: ...
