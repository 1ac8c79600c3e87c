"""Cancelable templates on real LFW faces (SFace), and the unlinkability measure on synthetic scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bioveil.errors import InvalidOptionError, UnknownNameError
from bioveil.vault.templates import (
    DEFAULT_TRANSFORM,
    THRESHOLDS,
    CancelableTransform,
    get_transform,
    matches,
    threshold,
    transform_names,
)
from bioveil.vault.unlinkability import unlinkability

RECOGNIZER = "sface"
PEOPLE = ("Amelie_Mauresmo", "Colin_Powell", "Gloria_Macapagal_Arroyo", "Hans_Blix", "Junichiro_Koizumi")
PHOTOS_EACH = 2
KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


@pytest.fixture(scope="module")
def faces(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """SFace embeddings (10, 128) of two photos each of five LFW people, and each photo's person."""
    from bioveil.detection.base import get_detector
    from bioveil.evaluation.photos import embed_subjects, locate_subjects, read_images
    from bioveil.recognition.base import get_recognizer

    paths = [p for name in PEOPLE for p in sorted((data / "lfw" / "identities" / name).glob("*.jpg"))[:PHOTOS_EACH]]
    images = read_images(paths)
    subjects = locate_subjects(images, get_detector("ensemble"))
    assert all(s.found for s in subjects)
    x = embed_subjects(get_recognizer(RECOGNIZER), images, [s.faces for s in subjects])
    return x, np.repeat(np.arange(len(PEOPLE)), PHOTOS_EACH)


def test_registry_and_thresholds() -> None:
    assert DEFAULT_TRANSFORM in transform_names()
    for name in transform_names():
        assert isinstance(get_transform(name), CancelableTransform)
        for recognizer in ("dlib", "facenet", "sface"):
            assert (name, recognizer) in THRESHOLDS
    with pytest.raises(UnknownNameError, match="biohash"):
        get_transform("polyprotect")
    with pytest.raises(UnknownNameError):
        threshold(DEFAULT_TRANSFORM, "arcface")


@pytest.mark.data
@pytest.mark.parametrize("name", transform_names())
def test_same_key_matches_the_same_person_only(faces: tuple[np.ndarray, np.ndarray], name: str) -> None:
    x, person = faces
    transform = get_transform(name)
    templates = [transform.protect(e, KEY_A) for e in x]
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            same = bool(person[i] == person[j])
            assert matches(name, RECOGNIZER, templates[i], templates[j]) == same, (name, i, j)


@pytest.mark.data
@pytest.mark.parametrize("name", transform_names())
def test_templates_under_different_keys_never_match(faces: tuple[np.ndarray, np.ndarray], name: str) -> None:
    """Unlinkable across verifiers, and revocation: a new key makes every old template useless, same photo included."""
    x, _ = faces
    transform = get_transform(name)
    old = [transform.protect(e, KEY_A) for e in x]
    new = [transform.protect(e, KEY_B) for e in x]
    assert not any(matches(name, RECOGNIZER, a, b) for a in old for b in new)


@pytest.mark.data
@pytest.mark.parametrize("name", transform_names())
def test_protect_is_deterministic_and_round_trips(faces: tuple[np.ndarray, np.ndarray], name: str) -> None:
    x, _ = faces
    transform = get_transform(name)
    template = transform.protect(x[0], KEY_A)
    assert np.array_equal(template, transform.protect(x[0].copy(), bytes(KEY_A)))
    assert transform.similarity(template, transform.protect(x[0] * 3.0, bytearray(KEY_A))) == pytest.approx(1.0, abs=1e-3)
    assert not np.array_equal(template, transform.protect(x[0], KEY_B))
    data = transform.to_bytes(template)
    assert isinstance(data, bytes)
    assert np.array_equal(transform.from_bytes(data), template)
    assert transform.similarity(transform.from_bytes(data), template) == pytest.approx(1.0)


def test_bit_templates_are_packed() -> None:
    transform = get_transform("biohash")
    template = transform.protect(np.random.default_rng(0).normal(size=128), KEY_A)
    assert set(np.unique(template)) <= {0, 1}
    assert len(transform.to_bytes(template)) == len(template) // 8
    with pytest.raises(InvalidOptionError):
        transform.from_bytes(b"\x00" * 3)


@pytest.mark.parametrize(
    ("embedding", "key"),
    [
        (np.ones(128), b"short"),  # keys need 16 random bytes or more
        (np.ones(128), "a string key, not bytes"),
        (np.zeros(128), KEY_A),  # no face
        (np.full(128, np.nan), KEY_A),
        (np.ones((2, 128)), KEY_A),  # one embedding at a time
    ],
)
def test_bad_inputs_are_named_errors(embedding: np.ndarray, key: bytes) -> None:
    with pytest.raises(InvalidOptionError):
        get_transform(DEFAULT_TRANSFORM).protect(embedding, key)


@pytest.mark.parametrize(
    ("shift", "low", "high"),
    [
        (0.0, 0.0, 0.05),  # identical distributions: unlinkable
        (20.0, 0.99, 1.0),  # disjoint: fully linkable
        (1.0, 0.2, 0.5),  # overlapping
    ],
)
def test_unlinkability_on_synthetic_scores(shift: float, low: float, high: float) -> None:
    rng = np.random.default_rng(0)
    result = unlinkability(rng.normal(shift, 1.0, 20_000), rng.normal(0.0, 1.0, 200_000))
    assert low <= result.d_sys <= high
    assert result.d_sys <= result.d_max <= 1.0


def test_unlinkability_needs_scores() -> None:
    with pytest.raises(InvalidOptionError):
        unlinkability(np.array([]), np.ones(3))


@pytest.mark.data
def test_encrypted_score_matches_the_plain_cosine(faces: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("tenseal")
    from bioveil.vault import homomorphic

    x, _ = faces
    context = homomorphic.make_context()
    server = homomorphic.load_context(homomorphic.public_context(context))
    enrolled = homomorphic.encrypt_template(context, x[0])
    for probe in x[1:4]:
        score = homomorphic.decrypt_score(context, homomorphic.encrypted_score(server, enrolled, probe))
        plain = float(x[0] @ probe / np.linalg.norm(x[0]) / np.linalg.norm(probe))
        assert score == pytest.approx(plain, abs=1e-4)
