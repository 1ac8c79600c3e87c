"""A small reader for TensorFlow frozen graphs (``GraphDef`` .pb files), without TensorFlow or protobuf.

It decodes the protobuf wire format by hand, and only the fields a frozen inference graph needs:

- ``GraphDef``: ``node`` (1).
- ``NodeDef``: ``name`` (1), ``op`` (2), ``input`` (3), ``device`` (4), ``attr`` (5, a map of string to ``AttrValue``).
- ``AttrValue``: ``list`` (1), ``s`` (2), ``i`` (3), ``f`` (4), ``b`` (5), ``type`` (6), ``shape`` (7), ``tensor`` (8).
- ``TensorProto``: ``dtype`` (1), ``tensor_shape`` (2), ``tensor_content`` (4) and the typed ``*_val`` fields.
- ``TensorShapeProto``: ``dim`` (2, each with ``size`` 1), ``unknown_rank`` (3).

Unknown fields are skipped by their wire type, so newer graphs with extra fields still read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.errors import ModelFileError

# Wire types.
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5

# TensorFlow's DataType enum (types.proto) -> numpy dtype, for the types a frozen vision graph holds.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
DT_STRING = 7


class GraphDefError(ModelFileError):
    """The bytes are not a GraphDef this reader understands."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise GraphDefError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise GraphDefError("varint longer than 10 bytes")


def _signed64(value: int) -> int:
    """A varint read as int64 (protobuf encodes negative int32/int64 as 10-byte two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(buf: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field_number, wire_type, value)`` for each field of one message.

    ``value`` is an int for varints, the raw little-endian bytes for fixed 32/64-bit fields and a
    memoryview slice for length-delimited fields (sub-messages, strings, packed arrays).
    """
    data = buf if isinstance(buf, bytes) else bytes(buf)
    view = memoryview(data)
    pos = start
    end = len(data) if end is None else end
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LEN:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise GraphDefError(f"field {number}: length {length} runs past the message")
            value = view[pos : pos + length]
            pos += length
        elif wire == _I32:
            value = data[pos : pos + 4]
            pos += 4
        elif wire == _I64:
            value = data[pos : pos + 8]
            pos += 8
        elif wire in (_SGROUP, _EGROUP):
            raise GraphDefError(f"field {number}: groups (wire type {wire}) are not supported")
        else:
            raise GraphDefError(f"field {number}: unknown wire type {wire}")
        if pos > end:
            raise GraphDefError(f"field {number} runs past the message")
        yield number, wire, value


def _packed_varints(value: Any, wire: int) -> list[int]:
    if wire == _VARINT:
        return [value]
    data = bytes(value)
    out = []
    pos = 0
    while pos < len(data):
        item, pos = _varint(data, pos)
        out.append(item)
    return out


def _packed_fixed(value: Any, wire: int, fmt: str) -> list[Any]:
    data = bytes(value)
    size = struct.calcsize(fmt)
    return list(struct.unpack(f"<{len(data) // size}{fmt}", data))


@dataclass(frozen=True)
class TensorShape:
    dims: tuple[int, ...] | None  # None: unknown rank; -1 for an unknown dimension


def parse_shape(buf: Any) -> TensorShape:
    dims: list[int] = []
    unknown_rank = False
    for number, _wire, value in fields(buf):
        if number == 2:
            size = 0
            for dnum, _dwire, dvalue in fields(value):
                if dnum == 1:
                    size = _signed64(dvalue)
            dims.append(size)
        elif number == 3:
            unknown_rank = bool(value)
    return TensorShape(None if unknown_rank else tuple(dims))


def parse_tensor(buf: Any) -> np.ndarray:
    """A ``TensorProto`` as a numpy array (its declared shape; short ``*_val`` lists repeat their last value)."""
    dtype_enum = 0
    shape: tuple[int, ...] = ()
    content: bytes | None = None
    values: list[Any] = []
    for number, wire, value in fields(buf):
        if number == 1:
            dtype_enum = value
        elif number == 2:
            dims = parse_shape(value).dims
            shape = dims or ()
        elif number == 4:
            content = bytes(value)
        elif number == 5:  # float_val
            values += _packed_fixed(value, wire, "f")
        elif number == 6:  # double_val
            values += _packed_fixed(value, wire, "d")
        elif number in (7, 13, 16):  # int_val (int32, int16, int8, uint8, uint16), half_val, uint32_val
            values += [_signed64(v) for v in _packed_varints(value, wire)]
        elif number in (10, 17):  # int64_val, uint64_val
            values += [_signed64(v) if number == 10 else v for v in _packed_varints(value, wire)]
        elif number == 11:  # bool_val
            values += [bool(v) for v in _packed_varints(value, wire)]
        elif number == 8:  # string_val
            values.append(bytes(value))
    if dtype_enum == DT_STRING:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape) if values and int(np.prod(shape)) == len(values) else array
    if dtype_enum not in DTYPES:
        raise GraphDefError(f"tensor dtype {dtype_enum} is not supported")
    dtype = DTYPES[dtype_enum]
    count = int(np.prod(shape)) if shape else 1
    if content is not None:
        array = np.frombuffer(content, dtype=dtype)
        if array.size != count:
            raise GraphDefError(f"tensor_content has {array.size} values for shape {shape}")
        return array.reshape(shape).copy()
    # half_val holds the raw 16-bit patterns
    array = np.array(values, dtype="<u2").view(dtype) if dtype_enum == 19 else np.array(values, dtype=dtype)
    if array.size == count:
        return array.reshape(shape)
    if array.size == 0:
        return np.zeros(shape, dtype=dtype)
    if array.size > count:
        raise GraphDefError(f"tensor has {array.size} values for shape {shape}")
    filled = np.full(count, array[-1], dtype=dtype)
    filled[: array.size] = array
    return filled.reshape(shape)


def parse_attr(buf: Any) -> Any:
    """An ``AttrValue``: str for ``s`` (decoded when it is UTF-8), int, float, bool, a dtype enum int,
    a :class:`TensorShape`, a numpy array for ``tensor``, or a list for ``list``."""
    result: Any = None
    for number, _wire, value in fields(buf):
        if number == 1:
            result = _parse_list(value)
        elif number == 2:
            result = _text(value)
        elif number == 3:
            result = _signed64(value)
        elif number == 4:
            result = struct.unpack("<f", value)[0]
        elif number == 5:
            result = bool(value)
        elif number == 6:
            result = value
        elif number == 7:
            result = parse_shape(value)
        elif number == 8:
            result = parse_tensor(value)
        elif number == 9:
            result = _text(value)
    return result


def _parse_list(buf: Any) -> list[Any]:
    out: list[Any] = []
    for number, wire, value in fields(buf):
        if number == 2:
            out.append(_text(value))
        elif number == 3:
            out += [_signed64(v) for v in _packed_varints(value, wire)]
        elif number == 4:
            out += _packed_fixed(value, wire, "f")
        elif number == 5:
            out += [bool(v) for v in _packed_varints(value, wire)]
        elif number == 6:
            out += _packed_varints(value, wire)
        elif number == 7:
            out.append(parse_shape(value))
        elif number == 8:
            out.append(parse_tensor(value))
    return out


def _text(value: Any) -> str | bytes:
    raw = bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


@dataclass
class Node:
    """One ``NodeDef``. ``inputs`` keep TensorFlow's spelling: ``name``, ``name:1``, or ``^name`` for control."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    device: str = ""

    @property
    def value(self) -> np.ndarray:
        """The tensor of a ``Const`` node."""
        if self.op != "Const" or "value" not in self.attrs:
            raise GraphDefError(f"node {self.name!r} ({self.op}) is not a constant")
        return self.attrs["value"]

    @property
    def data_inputs(self) -> list[str]:
        """Inputs without control dependencies, each as the producing node's name (``:0`` dropped)."""
        return [source_name(i) for i in self.inputs if not i.startswith("^")]


def source_name(tensor: str) -> str:
    """``"scope/op:1"`` -> ``"scope/op"``; ``"^scope/op"`` -> ``"scope/op"``."""
    name = tensor.lstrip("^")
    head, sep, tail = name.rpartition(":")
    return head if sep and tail.isdigit() else name


def _name(value: Any) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as error:
        raise GraphDefError(f"a node's name, op or input is not UTF-8: {bytes(value)[:40]!r}") from error


def parse_node(buf: Any) -> Node:
    node = Node(name="", op="")
    for number, _wire, value in fields(buf):
        if number == 1:
            node.name = _name(value)
        elif number == 2:
            node.op = _name(value)
        elif number == 3:
            node.inputs.append(_name(value))
        elif number == 4:
            node.device = _name(value)
        elif number == 5:
            key, attr = "", None
            for enum, _ewire, evalue in fields(value):
                if enum == 1:
                    key = _name(evalue)
                elif enum == 2:
                    attr = parse_attr(evalue)
            node.attrs[key] = attr
    return node


class Graph:
    """The nodes of a GraphDef, in file order and by name."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.by_name: dict[str, Node] = {}
        for node in nodes:
            if node.name in self.by_name:
                raise GraphDefError(f"node name {node.name!r} appears twice")
            self.by_name[node.name] = node

    def __getitem__(self, name: str) -> Node:
        try:
            return self.by_name[source_name(name)]
        except KeyError:
            raise KeyError(f"the graph has no node {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return source_name(name) in self.by_name

    def __len__(self) -> int:
        return len(self.nodes)

    def const(self, name: str) -> np.ndarray:
        """The value of a constant, following ``Identity`` nodes (frozen variables read through ``/read``)."""
        node = self[name]
        while node.op == "Identity":
            node = self[node.data_inputs[0]]
        return node.value

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.data_inputs]


def parse_graph(data: bytes) -> Graph:
    nodes = [parse_node(value) for number, _wire, value in fields(data) if number == 1]
    if not nodes:
        raise GraphDefError("no nodes: not a GraphDef")
    return Graph(nodes)


def read_graph(path: str | Path) -> Graph:
    """Read a frozen ``GraphDef`` file."""
    return parse_graph(Path(path).read_bytes())
