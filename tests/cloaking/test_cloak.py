"""`bioveil cloak` on real LFW faces: it fools every recognizer of the ensemble, within its budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

import bioveil
from bioveil.cli.main import EXIT_FAILURES, main
from bioveil.cloaking.budget import crop_quad, region_mask
from bioveil.cloaking.decoys import assign_decoys, group_people
from bioveil.cloaking.photo import clean_embeddings, load_recognizers
from bioveil.cloaking.quality import ssim
from bioveil.media.image import read_image
from tests.media.metadata import metadata_left

PERSON = "Vladimir_Putin"


@pytest.fixture(scope="module")
def recognizers():
    return load_recognizers(None)


@pytest.fixture(scope="module")
def photos(data) -> list[Path]:
    return sorted((data / "lfw" / "identities" / PERSON).glob("*.jpg"))[:2]


@pytest.fixture(scope="module")
def cloaked(photos, recognizers):
    image = read_image(photos[0]).pixels
    faces = bioveil.detect(image)
    faces = faces[np.argsort(-faces.size_wh.prod(1))[:1]]
    out, result = bioveil.cloak(image, faces, mode="fast", seed=1)
    return image, faces, out, result


@pytest.mark.data
def test_every_ensemble_recognizer_is_fooled(cloaked, recognizers):
    image, faces, out, result = cloaked
    _, clean = clean_embeddings(image, faces, recognizers)
    _, after = clean_embeddings(out, faces, recognizers)  # landmarks and MTCNN run again on the cloaked photo
    for r in recognizers:
        similarity = float(r.pair_similarity(clean[r.name], after[r.name])[0])
        assert similarity < r.threshold, (r.name, similarity)
        assert result.per_face[0].fooled[r.name]
    assert result.success


@pytest.mark.data
def test_fooled_after_detecting_and_aligning_the_cloaked_photo_again(cloaked, recognizers):
    image, faces, out, _ = cloaked
    found = bioveil.detect(out)
    assert len(found) >= 1
    for r in recognizers:
        if r.name not in ("sface", "dlib"):
            continue
        clean = r.embed(image, faces)
        again = r.embed(out, found)
        assert r.similarity(clean, again).max() < r.threshold, r.name


@pytest.mark.data
def test_whole_image_ssim_budget(cloaked):
    image, _, out, result = cloaked
    reference = structural_similarity(image, out, channel_axis=2, data_range=255)
    assert reference >= 0.95
    assert result.ssim == pytest.approx(reference, abs=1e-6)
    assert ssim(image, out) == pytest.approx(reference, abs=1e-9)


@pytest.mark.data
def test_pixels_outside_the_face_region_are_untouched(cloaked, recognizers):
    image, faces, out, _ = cloaked
    maps, _ = clean_embeddings(image, faces, recognizers)
    region = region_mask(image.shape[:2], [crop_quad(maps[r.name][0], r.input_size) for r in recognizers])
    changed = (image != out).any(axis=2)
    assert changed.any()
    assert not (changed & ~region).any()


@pytest.mark.data
def test_the_same_person_gets_the_same_decoy(data, photos, recognizers):
    other = sorted((data / "lfw" / "identities" / "Colin_Powell").glob("*.jpg"))[0]
    embeddings: dict[str, list[np.ndarray]] = {r.name: [] for r in recognizers}
    for path in [*photos, other]:
        image = read_image(path).pixels
        faces = bioveil.detect(image)
        faces = faces[np.argsort(-faces.size_wh.prod(1))[:1]]
        _, clean = clean_embeddings(image, faces, recognizers)
        for name in embeddings:
            embeddings[name].append(clean[name][0])
    stacked = {name: np.stack(vectors) for name, vectors in embeddings.items()}
    groups = group_people(stacked, {r.name: r.threshold for r in recognizers}, {r.name: r.similarity for r in recognizers})
    assert groups[0] == groups[1] != groups[2]
    decoys = assign_decoys(stacked, groups, seed=0)
    for r in recognizers:
        np.testing.assert_array_equal(decoys[r.name][0], decoys[r.name][1])
        assert float(decoys[r.name][0] @ decoys[r.name][2]) < 0.9
        owner = stacked[r.name][0] / np.linalg.norm(stacked[r.name][0])
        assert float(decoys[r.name][0] @ owner) < 0  # away from the owner
    # Cloaked separately (no batch), the two photos still get decoys nearer each other than another person's.
    separate = [assign_decoys({n: v[i : i + 1] for n, v in stacked.items()}, [0], seed=0) for i in range(3)]
    for r in recognizers:
        same = float(separate[0][r.name][0] @ separate[1][r.name][0])
        assert same > float(separate[0][r.name][0] @ separate[2][r.name][0]) and same > 0.3


@pytest.mark.data
def test_cli_cloaks_the_batch_strips_metadata_and_names_errors(photos, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    with Image.open(photos[0]) as picture:
        exif = Image.Exif()
        exif[0x010F] = "SecretCam"  # Make
        exif[0x0131] = "bioveil-test"  # Software
        picture.save(inputs / "with_exif.jpg", exif=exif.tobytes(), quality=95)
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    report = tmp_path / "report.json"
    code = main(["cloak", "--no-progress", "--mode", "fast", "--json", str(report), str(inputs), "-o", str(tmp_path / "out")])
    assert code == EXIT_FAILURES
    files = {Path(f["input"]).name: f for f in json.loads(report.read_text())["files"]}
    assert files["broken.jpg"]["status"] == "failed"
    assert files["broken.jpg"]["error"] in ("CorruptMediaError", "UnsupportedFormatError")
    good = files["with_exif.jpg"]
    assert good["status"] == "ok"
    output = Path(good["output"])
    assert output.is_file() and metadata_left(output) == []
    face = good["faces"][0]
    assert set(face["recognizers"]) == {"dlib", "facenet", "sface"}
    for figures in face["recognizers"].values():
        assert {"similarity_before", "similarity_after", "threshold", "fooled"} <= set(figures)
    assert good["ssim"] >= 0.95 and good["psnr"] > 30


def test_random_decoys_differ_per_face_and_follow_the_seed():
    owners = {"sface": np.tile(np.eye(128)[:1], (3, 1))}  # three faces of one person
    decoys = assign_decoys(owners, [0, 0, 0], seed=0, kind="random", rng=np.random.default_rng(5))
    again = assign_decoys(owners, [0, 0, 0], seed=0, kind="random", rng=np.random.default_rng(5))
    np.testing.assert_array_equal(decoys["sface"], again["sface"])
    assert float(decoys["sface"][0] @ decoys["sface"][1]) < 0.5
    consistent = assign_decoys(owners, [0, 0, 0], seed=0)
    np.testing.assert_array_equal(consistent["sface"][0], consistent["sface"][2])


def test_an_unknown_mode_is_named():
    from bioveil.cloaking.attack import get_mode
    from bioveil.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="balanced"):
        get_mode("gentle")
