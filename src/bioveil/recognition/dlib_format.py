"""A small reader of dlib's serialization format, for its DNN model files (``.dat``), without dlib.

dlib writes a network as nested objects, each in its own recursive binary format (``dlib/serialize.h``):

- integers: one control byte, whose low 4 bits count the little-endian magnitude bytes that follow
  (1 to 8) and whose high bit (0x80) marks a negative number; zero is ``01 00``;
- booleans: the ASCII character ``'0'`` or ``'1'``;
- floats and doubles: an integer mantissa then an integer exponent, the value being ``mantissa * 2**exponent``
  (dlib's ``float_details``; very old files wrote ASCII text instead, which this reader refuses);
- strings: their length as an integer, then the bytes;
- a tensor (``resizable_tensor``): version 2, then ``num_samples, k, nr, nc``, then raw little-endian float32
  data; an ``alias_tensor`` (a shape without data): version 1, then the same four integers.

A network (``dlib/dnn/core.h``) is ``add_loss_layer``: version 1, the loss layer's details, then the
network below it. Each node of that network writes its version, then *its sub-network first*, then its
own details, so layers come bottom-up, with the input layer innermost:

- ``add_layer`` version 2: sub-network, layer details, 3 booleans, 3 state tensors (empty in a saved model);
- ``add_layer`` version 2 or 3 over the input layer: input layer, layer details, 3 booleans, 3 state
  tensors, and (version 3) an integer;
- ``add_tag_layer`` and ``add_skip_layer`` (``tagN<...>``, ``skipN<...>``): version 1, then the
  sub-network, nothing else. Their ids are template arguments, not data: a tag and a skip look the same
  in the file, so both come out as one ``tag_or_skip`` marker, and which tag an ``add_prev`` or a skip
  refers to is known only from the network's C++ type (the port that reads the layers knows it).

Every layer's details start with a version string (``"con_4"``, ``"affine_"``...) followed by its own
fields; :data:`LAYER_READERS` reads the kinds that dlib's face models use. What sits below a node (a
sub-network or the input layer) is told apart by looking ahead: a version integer is followed by
control bytes, a version string by letters. Known limits, refused with :class:`DlibFormatError` rather
than misread: ``add_layer`` version 1 (dlib before 2016), ``repeat`` layers, and layer kinds without a
reader here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioveil.errors import ModelFileError

__all__ = ["LAYER_READERS", "TAG_OR_SKIP", "DlibFormatError", "DlibLayer", "DlibNetwork", "parse", "read_dat"]

TAG_OR_SKIP = "tag_or_skip"
_IS_INF = 32000  # float_details' exponent for +inf; +1 is -inf, +2 is NaN


class DlibFormatError(ModelFileError):
    """The bytes are not a dlib network this reader understands; ``offset`` is where reading stopped."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte {offset})")


@dataclass(frozen=True)
class DlibLayer:
    """One layer as dlib saved it.

    ``kind`` is the version string without its version suffix (``"con"``, ``"affine"``, ``"relu"``,
    ``"max_pool"``, ``"avg_pool"``, ``"add_prev"``, ``"fc"``, ``"input_rgb_image"``, ``"loss_metric"``) or
    :data:`TAG_OR_SKIP`; ``version`` is the string as written (``"con_4"``; empty for a tag or skip).
    ``attrs`` holds the layer's settings (ints, floats, bools, tuples) and ``params`` its weights as
    float32 numpy arrays, in dlib's own layouts (see each reader).
    """

    kind: str
    version: str = ""
    attrs: dict[str, object] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_params(self) -> int:
        return int(sum(array.size for array in self.params.values()))


@dataclass(frozen=True)
class DlibNetwork:
    """A whole saved network: ``layers`` in forward order (input first, the layer under the loss last)."""

    layers: list[DlibLayer]
    loss: DlibLayer

    @property
    def num_params(self) -> int:
        return sum(layer.num_params for layer in self.layers)

    def kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]


class _Reader:
    """dlib's primitive types, read from a byte buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, message: str) -> DlibFormatError:
        return DlibFormatError(message, self.pos)

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise self.fail(f"file ends inside a value: {count} bytes needed, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if control & 0x70 or not 1 <= size <= 8:
            self.pos -= 1
            raise self.fail(f"expected an integer, found control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def boolean(self) -> bool:
        char = self.take(1)
        if char not in (b"0", b"1"):
            self.pos -= 1
            raise self.fail(f"expected a boolean ('0' or '1'), found {char!r}")
        return char == b"1"

    def real(self) -> float:
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail("a floating point number in dlib's old ASCII format, which this reader does not read")
        mantissa = self.integer()
        exponent = self.integer()
        if exponent >= _IS_INF:
            return {_IS_INF: float("inf"), _IS_INF + 1: float("-inf")}.get(exponent, float("nan"))
        return math.ldexp(mantissa, exponent)

    def string(self) -> str:
        length = self.integer()
        if length < 0:
            raise self.fail(f"negative string length {length}")
        return self.take(length).decode("latin-1")

    def looks_like_string(self) -> bool:
        """Whether a version string (an identifier) starts here, rather than a version integer."""
        if self.pos >= len(self.data):
            return False
        control = self.data[self.pos]
        size = control & 0x0F
        if control & 0xF0 or not 1 <= size <= 8:
            return False
        start = self.pos + 1 + size
        length = int.from_bytes(self.data[self.pos + 1 : start], "little")
        text = self.data[start : start + length]
        return 1 <= length <= 64 and len(text) == length and text[:1].isalpha() and text.replace(b"_", b"").isalnum()

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise self.fail(f"expected a tensor (version 2), found version {version}")
        shape = tuple(self.integer() for _ in range(4))
        if min(shape) < 0:
            raise self.fail(f"negative tensor shape {shape}")
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise self.fail(f"expected a tensor shape (alias_tensor, version 1), found version {version}")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def _split(reader: _Reader, params: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Cut dlib's flat parameter tensor into named arrays, in order (dlib's ``alias_tensor`` views)."""
    flat = params.reshape(-1)
    needed = sum(_size(shape) for shape in shapes.values())
    if needed > flat.size:
        raise reader.fail(f"parameter tensor has {flat.size} values, its views need {needed}")
    out, start = {}, 0
    for name, shape in shapes.items():
        if _size(shape):
            out[name] = flat[start : start + _size(shape)].reshape(shape).copy()
        start += _size(shape)
    return out


# Each reader gets the version string already read and returns (attrs, params).
LayerReader = Callable[[_Reader, str], tuple[dict[str, object], dict[str, np.ndarray]]]


def _read_input_rgb_image(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """``input_rgb_image[_sized]``: per-channel means subtracted (then /256) from RGB pixels; the chip size."""
    attrs: dict[str, object] = {"mean_rgb": (reader.real(), reader.real(), reader.real())}
    if version == "input_rgb_image_sized":
        attrs["nr"], attrs["nc"] = reader.integer(), reader.integer()
    return attrs, {}


def _read_con(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """``con_``: ``weight`` (num_filters, k, nr, nc) cross-correlation filters, ``bias`` (num_filters,)."""
    params = reader.tensor()
    attrs: dict[str, object] = {
        "num_filters": reader.integer(),
        "kernel": (reader.integer(), reader.integer()),
        "stride": (reader.integer(), reader.integer()),
        "padding": (reader.integer(), reader.integer()),
    }
    filters, biases = reader.alias_tensor(), reader.alias_tensor()
    attrs["multipliers"] = tuple(reader.real() for _ in range(4))  # learning rate / weight decay, unused here
    attrs["use_bias"] = reader.boolean() if version in ("con_5", "con_6") else True
    attrs["use_relu"] = reader.boolean() if version == "con_6" else False
    split = _split(reader, params, {"weight": filters, "bias": biases})
    if "bias" in split:
        split["bias"] = split["bias"].reshape(-1)
    return attrs, split


def _read_affine(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """``affine_``: ``output = gamma * input + beta`` (batch norm folded), per channel in conv mode."""
    params = reader.tensor()
    gamma, beta = reader.alias_tensor(), reader.alias_tensor()
    mode = reader.integer()
    attrs: dict[str, object] = {"mode": {0: "conv", 1: "fc"}.get(mode, mode)}
    attrs["disabled"] = reader.boolean() if version == "affine_2" else False
    split = _split(reader, params, {"gamma": gamma, "beta": beta})
    if attrs["mode"] == "conv":
        split = {name: array.reshape(-1) for name, array in split.items()}
    return attrs, split


def _read_relu(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    return {"disabled": reader.boolean() if version == "relu_2" else False}, {}


def _read_pool(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """``max_pool_`` / ``avg_pool_``: a window of 0 rows/columns means the whole input."""
    attrs: dict[str, object] = {
        "kernel": (reader.integer(), reader.integer()),
        "stride": (reader.integer(), reader.integer()),
        "padding": (reader.integer(), reader.integer()),
    }
    return attrs, {}


def _read_add_prev(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """``add_prev_``: its input plus a tagged layer's output (which tag is not in the file)."""
    return {}, {}


def _read_fc(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """``fc_``: ``weight`` (num_inputs, num_outputs), so ``output = flatten(input) @ weight (+ bias)``."""
    num_outputs, num_inputs = reader.integer(), reader.integer()
    attrs: dict[str, object] = {"num_outputs": num_outputs, "num_inputs": num_inputs}
    params = reader.tensor()
    weights, biases = reader.alias_tensor(), reader.alias_tensor()
    bias_mode = reader.integer()
    attrs["multipliers"] = tuple(reader.real() for _ in range(4))
    attrs["use_bias"] = bias_mode == 0 and (reader.boolean() if version == "fc_3" else True)
    split = _split(reader, params, {"weight": weights, "bias": biases})
    if "weight" in split:
        split["weight"] = split["weight"].reshape(num_inputs, num_outputs)
    if "bias" in split:
        split["bias"] = split["bias"].reshape(-1)
    return attrs, split


def _read_loss_metric(reader: _Reader, version: str) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """``loss_metric_``: training-only margin and distance threshold (the first version hard-coded them)."""
    if version == "loss_metric_":
        return {"margin": 0.1, "distance_threshold": 0.75}, {}
    return {"margin": reader.real(), "distance_threshold": reader.real()}, {}


# Version string -> (kind, reader).
LAYER_READERS: dict[str, tuple[str, LayerReader]] = {
    "input_rgb_image": ("input_rgb_image", _read_input_rgb_image),
    "input_rgb_image_sized": ("input_rgb_image", _read_input_rgb_image),
    "con_4": ("con", _read_con),
    "con_5": ("con", _read_con),
    "con_6": ("con", _read_con),
    "affine_": ("affine", _read_affine),
    "affine_2": ("affine", _read_affine),
    "relu_": ("relu", _read_relu),
    "relu_2": ("relu", _read_relu),
    "max_pool_2": ("max_pool", _read_pool),
    "avg_pool_2": ("avg_pool", _read_pool),
    "add_prev_": ("add_prev", _read_add_prev),
    "fc_2": ("fc", _read_fc),
    "fc_3": ("fc", _read_fc),
    "loss_metric_": ("loss_metric", _read_loss_metric),
    "loss_metric_2": ("loss_metric", _read_loss_metric),
}


def _layer(reader: _Reader) -> DlibLayer:
    start = reader.pos
    version = reader.string()
    if version not in LAYER_READERS:
        raise DlibFormatError(f"layer {version!r} has no reader here; known: {', '.join(sorted(LAYER_READERS))}", start)
    kind, read = LAYER_READERS[version]
    attrs, params = read(reader, version)
    return DlibLayer(kind, version, attrs, params)


def _add_layer_state(reader: _Reader, version: int, over_input: bool) -> None:
    """Skip an ``add_layer``'s training state: 3 booleans, then tensors that a saved model leaves empty."""
    for _ in range(3):
        reader.boolean()
    for _ in range(3):  # x_grad, cached_output, then params_grad (grad_final over the input layer)
        reader.tensor()
    if over_input and version >= 3:
        reader.integer()  # _sample_expansion_factor


def parse(data: bytes) -> DlibNetwork:
    """Read a network that dlib serialized (an ``add_loss_layer`` over its layers) from ``data``."""
    reader = _Reader(bytes(data))
    version = reader.integer()
    if version != 1:
        raise reader.fail(f"expected a dlib network (add_loss_layer version 1), found version {version}")
    loss = _layer(reader)
    if not loss.kind.startswith("loss"):
        raise DlibFormatError(f"expected a loss layer at the top, found {loss.version!r}")

    # Walk down the nesting (node versions, outermost first) to the input layer, without recursion.
    versions = []
    while True:
        start = reader.pos
        node_version = reader.integer()
        if reader.looks_like_string():
            break
        if node_version not in (1, 2):
            raise DlibFormatError(f"a network node of version {node_version}, which this reader does not know", start)
        versions.append(node_version)

    # Innermost: the input layer, under an add_layer (version 2 or 3) or a tag (version 1 or 2).
    layers = [_layer(reader)]
    if layers[0].kind != "input_rgb_image":
        raise DlibFormatError(f"expected an input layer at the bottom, found {layers[0].version!r}")
    if reader.looks_like_string():
        if node_version not in (2, 3):
            raise DlibFormatError(f"an add_layer over the input of version {node_version}", start)
        layers.append(_layer(reader))
        _add_layer_state(reader, node_version, over_input=True)
    else:
        reader.tensor()  # cached_output
        reader.tensor()  # grad_final
        reader.boolean()
        if node_version >= 2:
            reader.integer()
        layers.append(DlibLayer(TAG_OR_SKIP))

    # Then back up: each add_layer's details follow its sub-network; tags and skips add nothing.
    for node_version in reversed(versions):
        if node_version == 1:
            layers.append(DlibLayer(TAG_OR_SKIP))
        else:
            layers.append(_layer(reader))
            _add_layer_state(reader, node_version, over_input=False)
    if reader.pos != len(reader.data):
        raise reader.fail(f"{len(reader.data) - reader.pos} bytes left after the network")
    return DlibNetwork(layers, loss)


def read_dat(path: str | Path) -> DlibNetwork:
    """Read a dlib DNN model file (``.dat``); errors name the file."""
    data = Path(path).read_bytes()
    try:
        return parse(data)
    except DlibFormatError as error:
        raise DlibFormatError(f"{path}: {error}") from error
