"""SFace in PyTorch against onnxruntime on the same ONNX file, and against OpenCV's FaceRecognizerSF."""

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from bioveil.recognition.sface import (
    SFace,
    SFaceFileError,
    dequantize_linear,
    graph_tensors,
    model_path,
    onnx_reference_session,
    reference_model,
)

TOLERANCE = 1e-4  # largest absolute difference of a raw embedding (norms are about 10)


@pytest.fixture(scope="module")
def net():
    return SFace.load()


@pytest.fixture(scope="module")
def lfw_chips(data):
    """(N, 112, 112, 3) uint8 BGR: the centred 150 px of one LFW photo each of 8 people, resized to 112."""
    people = sorted(p for p in (data / "lfw" / "identities").iterdir() if p.is_dir())[::150][:8]
    chips = []
    for person in people:
        bgr = cv2.imread(str(sorted(person.glob("*.jpg"))[0]))
        assert bgr.shape == (250, 250, 3)
        chips.append(cv2.resize(bgr[50:200, 50:200], (112, 112), interpolation=cv2.INTER_LINEAR))
    return np.stack(chips)


def rgb_tensor(bgr_chips):
    return torch.from_numpy(np.ascontiguousarray(bgr_chips[..., ::-1])).permute(0, 3, 1, 2).float()


def ort_run(model, feeds, disable_optimizations=True):
    options = onnxruntime.SessionOptions()
    if disable_optimizations:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))


def test_matches_onnxruntime_on_lfw_faces(net, lfw_chips):
    session = onnx_reference_session()
    assert [i.name for i in session.get_inputs()] == ["data"]
    # The reference gets what FaceRecognizerSF.feature() feeds: blobFromImage of the BGR chip with swapRB.
    reference = np.concatenate(
        [session.run(None, {"data": cv2.dnn.blobFromImage(chip, 1.0, (112, 112), (0, 0, 0), True, False)})[0]
         for chip in lfw_chips]
    )
    with torch.no_grad():
        ours = net(rgb_tensor(lfw_chips)).numpy()
    assert ours.shape == reference.shape == (len(lfw_chips), SFace.embedding_size)
    assert ours.dtype == np.float32
    assert np.abs(ours - reference).max() <= TOLERANCE
    # Raw output, as the reference's: not unit length (callers normalise before a cosine).
    assert (np.linalg.norm(ours, axis=1) > 2).all()
    # Different people's chips give different embeddings (the test would pass on a constant otherwise).
    unit = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    assert (unit @ unit.T)[np.triu_indices(len(ours), 1)].max() < 0.9


def test_opencv_face_recognizer_feeds_rgb(net, lfw_chips):
    # OpenCV 5.0 loads the shipped file only once the unused inputs are gone: give it the fixed graph.
    buffer = np.frombuffer(reference_model().SerializeToString(), np.uint8)
    recognizer = cv2.FaceRecognizerSF.create("onnx", buffer, np.array([], np.uint8))
    chip = lfw_chips[:1]
    opencv = recognizer.feature(chip[0])
    with torch.no_grad():
        rgb = net(rgb_tensor(chip)).numpy()
        bgr = net(torch.from_numpy(chip.copy()).permute(0, 3, 1, 2).float()).numpy()
    assert np.abs(rgb - opencv).max() <= TOLERANCE
    assert np.abs(bgr - opencv).max() > 100 * TOLERANCE


def test_dequantized_weights_are_onnxruntimes_bit_for_bit(net):
    model = reference_model()
    names = [n.output[0] for n in model.graph.node if n.op_type == "Reshape"] + [
        "pre_fc1_weight_dequantized",
        "pre_fc1_bias_dequantized",
    ]
    assert len(names) == 29
    for name in names:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    outputs = ort_run(model, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    state = net.state_dict()
    ours = {n: t for n, t in graph_tensors(onnx.load(str(model_path()))).items() if n in outputs}
    for name in names:
        assert np.array_equal(outputs[name].view(np.uint32), ours[name].view(np.uint32)), name
    # ... and they are the ones in the module.
    assert np.array_equal(state["conv_1.conv.weight"].numpy(), ours["conv_1_conv2d_weight_reshaped"])
    assert np.array_equal(state["blocks.conv_14.dw.conv.weight"].numpy(), ours["conv_14_dw_conv2d_weight_reshaped"])
    assert np.array_equal(state["pre_fc1.weight"].numpy(), ours["pre_fc1_weight_dequantized"])


@pytest.mark.parametrize(
    ("shape", "scale_shape", "axis", "block_size"),
    [
        ((5, 7), (), 1, 0),  # per tensor
        ((5, 7), (5,), 0, 0),  # per axis
        ((4, 10), (4, 3), 1, 4),  # blocked, last block partial
        ((6, 3), (2, 3), 0, 3),  # blocked along axis 0
        ((130,), (3,), 0, 64),  # a blocked 1-D bias, as pre_fc1's
    ],
)
def test_dequantize_linear_is_onnxruntimes(shape, scale_shape, axis, block_size):
    rng = np.random.default_rng(sum(shape) + block_size)
    q = rng.integers(-128, 128, shape).astype(np.int8)
    scale = rng.uniform(1e-4, 1e-1, scale_shape).astype(np.float32)
    zero = rng.integers(-128, 128, scale_shape).astype(np.int8)
    attrs = {"axis": axis} | ({"block_size": block_size} if block_size else {})
    node = onnx.helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)
    graph = onnx.helper.make_graph(
        [node],
        "dq",
        [onnx.helper.make_tensor_value_info("q", onnx.TensorProto.INT8, shape)],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, shape)],
        [onnx.numpy_helper.from_array(scale, "s"), onnx.numpy_helper.from_array(zero, "z")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 21)], ir_version=10)
    expected = ort_run(model, {"q": q})["y"]
    got = dequantize_linear(q, scale, zero, axis, block_size)
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_gradients_reach_the_chips_and_weights_are_frozen(net):
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())
    chips = torch.full((2, 3, 112, 112), 128.0, requires_grad=True)
    with torch.no_grad():
        target = net(torch.rand(1, 3, 112, 112, generator=torch.Generator().manual_seed(0)) * 255)
    torch.nn.functional.cosine_similarity(net(chips), target).sum().backward()
    assert chips.grad is not None and torch.isfinite(chips.grad).all() and chips.grad.abs().sum() > 0


def test_reference_session_needs_only_the_image():
    # The file as shipped: onnxruntime demands its 29 unused weight inputs.
    shipped = onnxruntime.InferenceSession(str(model_path()), providers=["CPUExecutionProvider"])
    assert len(shipped.get_inputs()) == 30
    session = onnx_reference_session()
    (embedding,) = session.run(None, {"data": np.full((1, 3, 112, 112), 127.5, np.float32)})
    assert embedding.shape == (1, 128)


def test_wrong_chip_size_is_refused(net):
    with pytest.raises(ValueError, match="112"):
        net(torch.zeros(1, 3, 160, 160))


def test_a_different_graph_is_refused(tmp_path):
    model = onnx.load(str(model_path()))
    conv = next(n for n in model.graph.node if n.name == "conv_5_dw_conv2d")
    next(a for a in conv.attribute if a.name == "strides").ints[:] = [1, 1]
    path = tmp_path / "changed.onnx"
    onnx.save(model, str(path))
    with pytest.raises(SFaceFileError, match="conv_5_dw_conv2d"):
        SFace.load(path)
