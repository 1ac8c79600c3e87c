"""FaceNet's PyTorch port against OpenCV DNN running the same frozen graph, on real LFW faces.

OpenCV takes the graph's NHWC input as an NCHW blob (1, 3, 160, 160) and runs one face at a time (the
graph reshapes to a batch of 1 before the bottleneck). Both get the same ``(x - 127.5) / 128`` input.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bioveil.recognition import graphdef
from bioveil.recognition.facenet import EMBEDDING_SIZE, INPUT_SIZE, FaceNet, model_path, normalize
from bioveil.recognition.graphdef import Graph, GraphDefError, Node

# Intermediate tensors compared besides the output: after reduction A, after the last block8 (no
# activation), and the bottleneck after its batch norm but before the L2 normalisation.
PROBES = {
    "InceptionResnetV1/Mixed_6a/concat": "mixed6a",
    "InceptionResnetV1/Block8/add": "block8",
    "InceptionResnetV1/Bottleneck/BatchNorm/Reshape_1": "bottleneck",
}


# --- the wire-format reader, on messages encoded here ------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _shape(*dims: int) -> bytes:
    return b"".join(_len(2, _int(1, d)) for d in dims)


def test_reader_decodes_nodes_attrs_and_tensors() -> None:
    weights = np.arange(6, dtype="<f4").reshape(2, 3)
    content_tensor = _int(1, 1) + _len(2, _shape(2, 3)) + _len(4, weights.tobytes())
    packed_ints = _int(1, 3) + _len(2, _shape(4)) + _len(7, b"".join(_varint(v) for v in (1, -2)))  # last value repeats
    scalar_float = _int(1, 1) + _len(5, struct.pack("<f", 0.17))  # packed float_val, scalar shape
    attr = lambda payload: payload  # noqa: E731
    entries = [
        ("value", attr(_len(8, content_tensor))),
        ("strides", attr(_len(1, _len(3, b"".join(_varint(v) for v in (1, 2, 2, 1)))))),
        ("padding", attr(_len(2, b"SAME"))),
        ("epsilon", attr(_key(4, 5) + struct.pack("<f", 1e-3))),
        ("is_training", attr(_int(5, 0))),
        ("axis", attr(_int(3, -1))),
        ("shape", attr(_len(7, _shape(-1, 160, 160, 3)))),
        ("ints", attr(_len(8, packed_ints))),
        ("scale", attr(_len(8, scalar_float))),
    ]
    node = _len(1, b"scope/w") + _len(2, b"Const") + _len(3, b"a:1") + _len(3, b"^b")
    node += b"".join(_len(5, _len(1, k.encode()) + _len(2, v)) for k, v in entries)
    node += _int(99, 7)  # an unknown field is skipped
    data = _len(1, node) + _len(1, _len(1, b"b") + _len(2, b"NoOp")) + _len(4, _int(1, 27))  # versions: skipped

    graph = graphdef.parse_graph(data)
    assert len(graph) == 2
    w = graph["scope/w:0"]
    assert (w.op, w.inputs, w.data_inputs) == ("Const", ["a:1", "^b"], ["a"])
    np.testing.assert_array_equal(w.value, weights)
    assert w.value.dtype == np.float32
    assert w.attrs["strides"] == [1, 2, 2, 1]
    assert w.attrs["padding"] == "SAME"
    assert w.attrs["epsilon"] == pytest.approx(1e-3)
    assert w.attrs["is_training"] is False
    assert w.attrs["axis"] == -1
    assert w.attrs["shape"].dims == (-1, 160, 160, 3)
    np.testing.assert_array_equal(w.attrs["ints"], [1, -2, -2, -2])
    assert w.attrs["scale"].shape == () and float(w.attrs["scale"]) == pytest.approx(0.17)
    assert graphdef.source_name("^x/y:2") == "x/y"

    with pytest.raises(GraphDefError, match="runs past"):
        graphdef.parse_graph(data[:-1])  # truncated
    with pytest.raises(GraphDefError, match="UTF-8"):
        graphdef.parse_graph(_len(1, _len(1, b"\xff\xfe")))
    with pytest.raises(GraphDefError):
        graphdef.parse_graph(b"")


# --- the real graph ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Graph:
    return graphdef.read_graph(model_path())


@pytest.fixture(scope="module")
def model(graph: Graph) -> FaceNet:
    net = FaceNet()
    net.load_graph(graph)
    return net.eval()


@pytest.fixture(scope="module")
def opencv_net() -> cv2.dnn.Net:
    return cv2.dnn.readNetFromTensorflow(str(model_path()), "", cv2.dnn.ENGINE_AUTO, list(PROBES))


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _centre(image: np.ndarray) -> np.ndarray:
    """The central 160x160 of a 250x250 deep-funneled LFW photo."""
    top, left = (image.shape[0] - INPUT_SIZE) // 2, (image.shape[1] - INPUT_SIZE) // 2
    return np.ascontiguousarray(image[top : top + INPUT_SIZE, left : left + INPUT_SIZE])


def _centre_resized(image: np.ndarray, side: int = 200) -> np.ndarray:
    """A centred side x side crop resized to 160 (a face with more margin)."""
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    crop = image[top : top + side, left : left + side]
    return cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


@pytest.fixture(scope="module")
def lfw_faces(data: Path) -> np.ndarray:
    """12 faces of 12 people (the first photo of every 100th identity), half of each crop kind."""
    people = sorted(p for p in (data / "lfw" / "identities").iterdir() if p.is_dir())[::100][:12]
    faces = []
    for i, person in enumerate(people):
        image = _rgb(sorted(person.glob("*.jpg"))[0])
        faces.append(_centre(image) if i % 2 == 0 else _centre_resized(image))
    return np.stack(faces)


def _opencv_outputs(net: cv2.dnn.Net, blob: np.ndarray) -> dict[str, np.ndarray]:
    net.setInput(blob)
    values = net.forward(["embeddings", *PROBES])
    return {name: np.array(v) for name, v in zip(["embeddings", *PROBES], values, strict=True)}


def _torch_outputs(model: FaceNet, x: torch.Tensor) -> dict[str, np.ndarray]:
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        getattr(model, attr).register_forward_hook(lambda _m, _i, out, key=key: captured.__setitem__(key, out.clone()))
        for key, attr in PROBES.items()
    ]
    try:
        with torch.inference_mode():
            embeddings = model.forward_normalized(x)
    finally:
        for hook in hooks:
            hook.remove()
    return {"embeddings": embeddings.numpy(), **{k: v.numpy() for k, v in captured.items()}}


@pytest.mark.data
def test_matches_opencv_on_lfw_faces(model: FaceNet, opencv_net: cv2.dnn.Net, lfw_faces: np.ndarray) -> None:
    x = normalize(lfw_faces)
    assert x.shape == (len(lfw_faces), 3, INPUT_SIZE, INPUT_SIZE)
    assert float(x.min()) >= -127.5 / 128 and float(x.max()) <= 127.5 / 128
    ours = _torch_outputs(model, x)  # the whole batch at once
    for i in range(len(lfw_faces)):
        theirs = _opencv_outputs(opencv_net, np.ascontiguousarray(x[i : i + 1].numpy()))  # NCHW, one face
        for name, expected in theirs.items():
            got = ours[name][i : i + 1]
            assert got.shape == expected.shape, name
            scale = float(np.abs(expected).max())
            assert float(np.abs(got - expected).max()) <= 2e-5 * max(scale, 1.0), (name, i)
        assert float(np.sum(ours["embeddings"][i] * theirs["embeddings"][0])) > 0.99999
    np.testing.assert_allclose(np.linalg.norm(ours["embeddings"], axis=1), 1.0, atol=1e-5)
    assert ours["embeddings"].shape == (len(lfw_faces), EMBEDDING_SIZE)


@pytest.mark.data
def test_embed_is_batch_independent(model: FaceNet, lfw_faces: np.ndarray) -> None:
    together = model.embed(lfw_faces, batch_size=32)
    alone = np.concatenate([model.embed(face) for face in lfw_faces])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert together.dtype == np.float32


def _pairs(data: Path, fold: int = 0) -> list[tuple[Path, Path, bool]]:
    lines = (data / "lfw" / "pairs.txt").read_text().splitlines()
    per_fold = 2 * int(lines[0].split()[1])
    ident = data / "lfw" / "identities"

    def photo(name: str, number: str) -> Path:
        return ident / name / f"{name}_{int(number):04d}.jpg"

    pairs = []
    for line in lines[1 + fold * per_fold : 1 + (fold + 1) * per_fold]:
        parts = line.split("\t")
        if len(parts) == 3:
            pairs.append((photo(parts[0], parts[1]), photo(parts[0], parts[2]), True))
        else:
            pairs.append((photo(parts[0], parts[1]), photo(parts[2], parts[3]), False))
    return pairs


@pytest.mark.data
def test_embeddings_tell_people_apart(model: FaceNet, data: Path) -> None:
    """The weights are the trained ones: one LFW fold (unaligned central crops) is verified well above chance."""
    pairs = _pairs(data)
    a = model.embed(np.stack([_centre(_rgb(p)) for p, _, _ in pairs]))
    b = model.embed(np.stack([_centre(_rgb(q)) for _, q, _ in pairs]))
    same = np.array([s for _, _, s in pairs])
    similarity = np.sum(a * b, axis=1)
    assert similarity[same].mean() - similarity[~same].mean() > 0.3
    best = max(float(np.mean((similarity > t) == same)) for t in np.linspace(-1, 1, 201))
    assert best >= 0.9


# --- what the graph holds, and how the port reads it ---------------------------------------------------


def test_graph_is_an_inference_graph_without_normalisation(graph: Graph) -> None:
    placeholders = [n for n in graph.nodes if n.op == "Placeholder"]
    assert [p.name for p in placeholders] == ["input"]  # no phase_train switch
    assert placeholders[0].attrs["shape"].dims == (1, INPUT_SIZE, INPUT_SIZE, 3)  # NHWC
    assert not any(n.op in ("Switch", "Merge", "Sub", "RealDiv") for n in graph.nodes)
    assert [c.name for c in graph.consumers("input")] == ["InceptionResnetV1/Conv2d_1a_3x3/Conv2D"]
    batch_norms = [n for n in graph.nodes if n.op.startswith("FusedBatchNorm")]
    assert [n.name for n in batch_norms] == ["InceptionResnetV1/Bottleneck/BatchNorm/cond/FusedBatchNorm_1"]
    assert batch_norms[0].attrs["is_training"] is False
    assert sum(n.op == "Conv2D" for n in graph.nodes) == 132
    assert sum(isinstance(m, torch.nn.Conv2d) for m in FaceNet().modules()) == 132


def test_untouched_weights_are_the_graphs(model: FaceNet, graph: Graph) -> None:
    kernel = graph.const("InceptionResnetV1/Block8/Conv2d_1x1/weights")  # HWIO, no batch norm
    np.testing.assert_array_equal(model.block8.up.weight.detach().numpy(), kernel.transpose(3, 2, 0, 1))
    biases = graph.const("InceptionResnetV1/Block8/Conv2d_1x1/biases")
    np.testing.assert_array_equal(model.block8.up.bias.detach().numpy(), biases)
    assert model.l2_eps == pytest.approx(1e-10)


def _replace(graph: Graph, *nodes: Node) -> Graph:
    by_name = {n.name: n for n in nodes}
    return Graph([by_name.pop(n.name, n) for n in graph.nodes] + list(by_name.values()))


def test_a_batch_norm_after_a_convolution_is_folded(model: FaceNet, graph: Graph) -> None:
    """The same first layer written as conv + FusedBatchNorm (unfolded) gives the same network."""
    scope = "InceptionResnetV1/Conv2d_1a_3x3"
    bias_add = graph[f"{scope}/BatchNorm/cond/FusedBatchNorm_1"]
    offset = graph.const(f"{scope}/Conv2D_bn_offset")
    rng = np.random.default_rng(0)
    gamma = rng.uniform(0.5, 2.0, offset.shape).astype(np.float32)
    mean = rng.normal(0, 1, offset.shape).astype(np.float32)
    eps = 1e-3
    var = (rng.uniform(0.5, 2.0, offset.shape) ** 2).astype(np.float32)
    factor = gamma / np.sqrt(var + eps)
    const = lambda name, value: Node(name, "Const", attrs={"value": np.asarray(value, np.float32)})  # noqa: E731
    unfolded = _replace(
        graph,
        const(f"{scope}/weights", graph.const(f"{scope}/weights") / factor),
        const(f"{scope}/gamma", gamma),
        const(f"{scope}/beta", offset + mean * factor),
        const(f"{scope}/mean", mean),
        const(f"{scope}/var", var),
        dataclasses.replace(
            bias_add,
            op="FusedBatchNorm",
            inputs=[f"{scope}/Conv2D", f"{scope}/gamma", f"{scope}/beta", f"{scope}/mean", f"{scope}/var"],
            attrs={"epsilon": eps, "is_training": False, "data_format": "NHWC"},
        ),
    )
    net = FaceNet()
    net.load_graph(unfolded)
    x = torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        np.testing.assert_allclose(net.eval().forward_normalized(x).numpy(), model.forward_normalized(x).numpy(), atol=1e-5)


def test_graphs_it_cannot_reproduce_are_refused(graph: Graph) -> None:
    with pytest.raises(GraphDefError, match="phase_train"):
        FaceNet().load_graph(_replace(graph, Node("phase_train", "Placeholder", attrs={"dtype": 10})))
    conv = graph["InceptionResnetV1/Conv2d_1a_3x3/Conv2D"]
    standardised = _replace(
        graph,
        Node("scaled", "Mul", inputs=["input", "k"]),
        Node("k", "Const", attrs={"value": np.float32(1 / 128)}),
        dataclasses.replace(conv, inputs=["scaled", *conv.inputs[1:]]),
    )
    with pytest.raises(GraphDefError, match="not the first convolution"):
        FaceNet().load_graph(standardised)


def test_input_shape_is_checked(model: FaceNet) -> None:
    with pytest.raises(ValueError):
        model(torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError):
        normalize(np.zeros((160, 160), np.uint8))
