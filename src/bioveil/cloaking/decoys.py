"""Decoy identities: where in each recognizer's embedding space a cloaked face is pushed.

bioveil ships no face images, so a decoy is not another person's photo but a direction in each
recognizer's embedding space, derived deterministically:

- ``consistent`` (the default): a seeded random rotation of the embedding space (the same for
  everyone with the same seed) maps the person's clean embedding to a direction, which is made
  orthogonal to the embedding and tilted a little further away. The map is continuous and
  preserves angles, so two photos of the same person land on nearby decoys even when cloaked on
  different days (as near as their clean embeddings are), and different people get decoys as
  different as they are; within one batch, faces of the same person (clean similarity above the
  recognizers' thresholds for most recognizers) share one group embedding, hence exactly one decoy.
- ``random``: a fresh direction per face from the caller's generator.

Trade-off. Consistent decoys poison a scraper's gallery coherently: all of a person's cloaked
photos cluster around one false identity, so a tracker that enrols them learns the wrong person
(the Fawkes threat model), and the decoy does not change from photo to photo. The price is that
the decoy is linkable: someone holding several cloaked photos can see that they share a target,
and if the seed becomes known the decoy of a given person can be predicted. Random decoys scatter
a person's cloaked photos, which defeats that linking and still gives evasion (each cloaked photo
is pushed away from its owner), but they poison a gallery incoherently: the cloaked photos do not
form one false identity, so a tracker that clusters them finds no consistent person, and a
tracker with even one clean photo of the owner is not misled towards anyone in particular.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from enum import StrEnum

import numpy as np

TILT = 0.25  # the decoy's cosine with the owner is -TILT / sqrt(1 + TILT^2): a little beyond orthogonal


class DecoyKind(StrEnum):
    CONSISTENT = "consistent"
    RANDOM = "random"


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


@functools.cache
def seeded_rotation(seed: int, recognizer: str, dim: int) -> np.ndarray:
    """A random orthogonal matrix (dim, dim) fixed by the seed and the recognizer's name."""
    rng = np.random.default_rng([seed, zlib.crc32(recognizer.encode())])
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def decoy_from(owner: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """A unit decoy: ``direction`` made orthogonal to the owner's unit embedding, tilted away from it."""
    owner = _unit(owner)
    perpendicular = _unit(direction - (direction @ owner) * owner)
    return _unit(perpendicular - TILT * owner)


def consistent_decoy(owner: np.ndarray, seed: int, recognizer: str) -> np.ndarray:
    """The person's decoy (unit) in ``recognizer``'s space: the seeded rotation of ``owner``, pushed off it."""
    owner = _unit(np.asarray(owner, np.float64))
    return decoy_from(owner, seeded_rotation(seed, recognizer, owner.shape[0]) @ owner)


def random_decoy(owner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fresh random decoy (unit) for one face."""
    owner = np.asarray(owner, np.float64)
    return decoy_from(owner, rng.standard_normal(owner.shape[0]))


def group_people(embeddings: dict[str, np.ndarray], thresholds: dict[str, float],
                 similarity: dict[str, object]) -> np.ndarray:
    """A group label (n,) per face: faces whose clean embeddings match for a majority of recognizers.

    ``embeddings`` maps recognizer name -> (n, d) clean embeddings; ``similarity`` maps name -> the
    recognizer's ``similarity(a, b)`` function; ``thresholds`` its threshold. Matches are joined
    transitively (union-find).
    """
    names = list(embeddings)
    n = len(next(iter(embeddings.values()))) if names else 0
    votes = np.zeros((n, n), np.int32)
    for name in names:
        scores = np.asarray(similarity[name](embeddings[name], embeddings[name]))  # type: ignore[operator]
        votes += (scores >= thresholds[name]).astype(np.int32)
    same = votes * 2 > len(names)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if same[i, j]:
                parent[root(j)] = root(i)
    roots = [root(i) for i in range(n)]
    labels = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return np.array([labels[r] for r in roots], np.int64)


def assign_decoys(embeddings: dict[str, np.ndarray], groups: Sequence[int] | np.ndarray, seed: int,
                  kind: DecoyKind | str = DecoyKind.CONSISTENT, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Unit decoys per recognizer (n, d): one per group (consistent) or one per face (random)."""
    kind = DecoyKind(kind)
    groups = np.asarray(groups)
    rng = rng or np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, vectors in embeddings.items():
        vectors = np.asarray(vectors, np.float64)
        units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        decoys = np.zeros_like(units)
        for label in np.unique(groups):
            members = groups == label
            if kind is DecoyKind.CONSISTENT:
                decoys[members] = consistent_decoy(units[members].mean(0), seed, name)
            else:
                for i in np.nonzero(members)[0]:
                    decoys[i] = random_decoy(units[i], rng)
        out[name] = decoys
    return out
