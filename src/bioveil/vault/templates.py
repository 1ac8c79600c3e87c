"""Keyed cancelable transforms of face embeddings: the raw layer under the vault. Dangerous; read this first.

A transform maps an embedding and a secret key to a protected template. Templates made with the same
key compare like the embeddings they came from; templates made with different keys do not compare at
all (unlinkable), so a leaked template is revoked by issuing a new key. What this module does NOT give:

- Secrecy against a key holder. With the key, every transform here can be inverted to an embedding
  close enough to pass the unprotected recognizer (measured: ``bench/vault_templates.py``, inversion
  attack). A template and its key must never be stored together; "protected" means "useless without
  the key", not "useless".
- Key handling. Keys are raw bytes (at least 16, uniformly random: ``secrets.token_bytes(32)``); this
  module neither stores, derives nor rotates them. One key per verifier grant, never reused.
- Liveness, replay protection or consent: those belong to the vault layer above.

Candidates, each a keyed random map followed by a fixed comparison (higher similarity = more alike):

- ``biohash`` (Teoh et al. 2004): a key-seeded random orthonormal projection to ``bits`` directions
  (independent orthonormal blocks of the embedding's size when ``bits`` exceeds it), signs kept as
  bits; normalised Hamming similarity.
- ``mlphash`` (Shahreza et al., EUSIPCO 2023): a key-seeded random MLP (Gaussian weights, ReLU hidden
  layers), its output binarised at 0; Hamming similarity.
- ``iom`` (Index-of-Max, Gaussian random projection; Jin et al., IEEE TIFS 2018): ``hashes`` groups of
  ``q`` key-seeded Gaussian projections, each group's template entry the index of its largest one;
  similarity is the share of equal entries.
- ``rotation``: a key-seeded random rotation kept real-valued, compared by cosine. Lossless, so it
  costs no accuracy, but anyone with the key inverts it exactly: a baseline, not a protection.

PolyProtect is deliberately absent (patented).

Defaults, chosen by measurement (``bench/vault_templates.py --sweep``: all 10.9 million LFW pairs,
stolen-key case, mean of 3 keys). ``biohash`` with 4,096 bits (512-byte templates) is
the default: the smallest size whose TAR at FAR 1e-3 is within 1 point of the unprotected recognizer
for all of dlib (89.0 vs 88.1: cosine on unit dlib embeddings beats its Euclidean rule), FaceNet (91.2
vs 91.4) and SFace (99.0 vs 99.1); 2,048 bits loses 1.5 points on dlib, whose embeddings fill a narrow
cone (mean unit vector of length 0.91), so angles are small and sign bits resolve them slowly. At equal
size (512 bytes) ``iom`` (1,024 hashes of q = 16) is 0.2 to 1.6 points below it and ``mlphash`` (4,096
wide, 4,096 bits) 0.5 to 0.8 points below, with ten times the key expansion; ``mlphash`` is registered
at one 2,048-wide hidden layer and 2,048 bits (256 bytes), its largest affordable size.
More bits never buy irreversibility: with the key, every size that keeps accuracy inverts to an
embedding the unprotected recognizer accepts (the bench's attack), which is why keys and templates must
live apart.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
from typing import Protocol, runtime_checkable

import numpy as np

from bioveil.errors import InvalidOptionError, UnknownNameError
from bioveil.registry import Registry

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 16


@runtime_checkable
class CancelableTransform(Protocol):
    """A keyed, revocable transform of face embeddings, and how its templates compare."""

    name: str

    def protect(self, embedding: np.ndarray, key: bytes) -> np.ndarray:
        """The template of a 1-D embedding (any norm) under ``key``; the same key gives the same template."""
        ...

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """How alike two templates are (higher = more alike); meaningful only for templates of the same key."""
        ...

    def to_bytes(self, template: np.ndarray) -> bytes:
        """A compact serialisation of a template."""
        ...

    def from_bytes(self, data: bytes) -> np.ndarray:
        """The template :meth:`to_bytes` wrote."""
        ...


def key_rng(key: bytes, name: str, dim: int) -> np.random.Generator:
    """The random generator a transform draws its parameters from: a function of the key alone (per transform and size)."""
    if not isinstance(key, bytes | bytearray):
        raise InvalidOptionError(f"a template key must be bytes, got {type(key).__name__}; use secrets.token_bytes(32)")
    if len(key) < MIN_KEY_BYTES:
        raise InvalidOptionError(f"a template key needs at least {MIN_KEY_BYTES} random bytes, got {len(key)}; "
                                 "use secrets.token_bytes(32)")
    context = b"bioveil-template\x00" + name.encode() + b"\x00" + dim.to_bytes(4, "big")
    seed = int.from_bytes(hashlib.sha256(context + bytes(key)).digest(), "big")
    return np.random.Generator(np.random.PCG64(seed))


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """Embeddings (n, d) float64 scaled to unit length; raises on non-finite or zero rows."""
    x = np.asarray(embeddings, np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise InvalidOptionError(f"expected embeddings of shape (n, d) with d >= 2, got {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.isfinite(x).all() or (norms == 0).any():
        raise InvalidOptionError("an embedding is zero or not finite; embed a detected face first")
    return x / norms


def _one_embedding(embedding: np.ndarray) -> np.ndarray:
    x = np.asarray(embedding)
    if x.ndim != 1:
        raise InvalidOptionError(f"expected one 1-D embedding, got shape {x.shape}; use protect_many for several")
    return x[None]


def orthonormal_columns(rng: np.random.Generator, dim: int, count: int) -> np.ndarray:
    """(dim, count) columns uniformly distributed orthonormal directions; independent blocks of ``dim`` beyond ``dim``."""
    blocks = []
    for start in range(0, count, dim):
        width = min(dim, count - start)
        q, r = np.linalg.qr(rng.standard_normal((dim, width)))
        blocks.append(q * np.sign(np.diag(r)))  # sign fix: Haar-distributed, not biased by QR's convention
    return np.concatenate(blocks, axis=1)


class BitTransform:
    """Base of the transforms whose templates are bit strings (uint8 0/1), compared by Hamming similarity."""

    name: str
    bits: int

    def real_output(self, embeddings: np.ndarray, key: bytes) -> np.ndarray:
        """The real values (n, bits) whose signs are the bits. Dangerous: with the key, this is what an inversion targets."""
        raise NotImplementedError

    def protect_many(self, embeddings: np.ndarray, key: bytes) -> np.ndarray:
        """Templates (n, bits) uint8 of embeddings (n, d), all under ``key``."""
        return (self.real_output(unit_rows(embeddings), key) > 0).astype(np.uint8)

    def protect(self, embedding: np.ndarray, key: bytes) -> np.ndarray:
        return self.protect_many(_one_embedding(embedding), key)[0]

    def similarity_matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hamming similarities (len(a), len(b)): 1 - differing bits / bits."""
        a = np.atleast_2d(a).astype(np.float32) * 2 - 1
        b = np.atleast_2d(b).astype(np.float32) * 2 - 1
        self._check_width(a.shape[1], b.shape[1])
        return (1 + (a @ b.T).astype(np.float64) / a.shape[1]) / 2

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.similarity_matrix(a, b)[0, 0])

    def to_bytes(self, template: np.ndarray) -> bytes:
        bits = np.asarray(template, np.uint8).reshape(-1)
        self._check_width(len(bits), self.bits)
        return np.packbits(bits).tobytes()

    def from_bytes(self, data: bytes) -> np.ndarray:
        expected = (self.bits + 7) // 8
        if len(data) != expected:
            raise InvalidOptionError(f"a {self.name} template is {expected} bytes, got {len(data)}")
        return np.unpackbits(np.frombuffer(data, np.uint8))[: self.bits]

    def _check_width(self, a: int, b: int) -> None:
        if a != b:
            raise InvalidOptionError(f"{self.name} templates of different sizes ({a} and {b}); "
                                     "compare templates of one transform")


def _key_bytes(key: object) -> bytes:
    if not isinstance(key, bytearray):
        raise InvalidOptionError(f"a template key must be bytes, got {type(key).__name__}; use secrets.token_bytes(32)")
    return bytes(key)


@functools.lru_cache(maxsize=16)
def _biohash_projection(name: str, bits: int, key: bytes, dim: int) -> np.ndarray:
    """Expanding a key costs about 20 ms (QR factorisations); a service checking under one grant again and
    again expands it once. The cache lives in memory only, like the key while a check runs."""
    projection = orthonormal_columns(key_rng(key, name, dim), dim, bits)
    projection.flags.writeable = False
    return projection


class BioHash(BitTransform):
    """BioHashing: signs of a key-seeded random orthonormal projection."""

    def __init__(self, bits: int, name: str = "biohash") -> None:
        self.name, self.bits = name, bits

    def projection(self, key: bytes, dim: int) -> np.ndarray:
        """The secret (dim, bits) projection. Dangerous: it is the key in the clear."""
        return _biohash_projection(self.name, self.bits, key if isinstance(key, bytes) else _key_bytes(key), dim)

    def real_output(self, embeddings: np.ndarray, key: bytes) -> np.ndarray:
        return embeddings @ self.projection(key, embeddings.shape[1])


class MLPHash(BitTransform):
    """MLP-Hash: a key-seeded random ReLU network, its output binarised at 0."""

    def __init__(self, hidden: tuple[int, ...], bits: int, name: str = "mlphash") -> None:
        self.name, self.hidden, self.bits = name, hidden, bits

    def weights(self, key: bytes, dim: int) -> list[np.ndarray]:
        """The secret layers (fan_in, fan_out), Gaussian N(0, 1/fan_in). Dangerous: the key in the clear."""
        rng = key_rng(key, self.name, dim)
        sizes = [dim, *self.hidden, self.bits]
        return [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in itertools.pairwise(sizes)]

    def real_output(self, embeddings: np.ndarray, key: bytes) -> np.ndarray:
        *hidden, last = self.weights(key, embeddings.shape[1])
        x = embeddings
        for w in hidden:
            x = np.maximum(x @ w, 0.0)
        return x @ last


class IndexOfMax:
    """Index-of-Max hashing with Gaussian random projections (IoM-GRP): per group, the index of the largest projection."""

    def __init__(self, hashes: int, q: int, name: str = "iom") -> None:
        if not 2 <= q <= 256:
            raise InvalidOptionError(f"IoM needs 2 <= q <= 256 projections per hash, got {q}")
        self.name, self.hashes, self.q = name, hashes, q
        self.index_bits = int(np.ceil(np.log2(q)))

    def projections(self, key: bytes, dim: int) -> np.ndarray:
        """The secret (dim, hashes * q) Gaussian projections. Dangerous: the key in the clear."""
        return key_rng(key, self.name, dim).standard_normal((dim, self.hashes * self.q))

    def real_output(self, embeddings: np.ndarray, key: bytes) -> np.ndarray:
        """Projections (n, hashes, q); the template is their argmax over q."""
        return (embeddings @ self.projections(key, embeddings.shape[1])).reshape(len(embeddings), self.hashes, self.q)

    def protect_many(self, embeddings: np.ndarray, key: bytes) -> np.ndarray:
        return self.real_output(unit_rows(embeddings), key).argmax(axis=2).astype(np.uint8)

    def protect(self, embedding: np.ndarray, key: bytes) -> np.ndarray:
        return self.protect_many(_one_embedding(embedding), key)[0]

    def similarity_matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Share of equal indices (len(a), len(b))."""
        a, b = np.atleast_2d(a), np.atleast_2d(b)
        if a.shape[1] != self.hashes or b.shape[1] != self.hashes:
            raise InvalidOptionError(f"{self.name} templates have {self.hashes} entries, got {a.shape[1]} and {b.shape[1]}")
        eye = np.eye(self.q, dtype=np.float32)
        one_a = eye[a].reshape(len(a), -1)
        one_b = eye[b].reshape(len(b), -1)
        return (one_a @ one_b.T).astype(np.float64) / self.hashes

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.similarity_matrix(a, b)[0, 0])

    def to_bytes(self, template: np.ndarray) -> bytes:
        index = np.asarray(template, np.uint8).reshape(-1)
        if len(index) != self.hashes:
            raise InvalidOptionError(f"a {self.name} template has {self.hashes} entries, got {len(index)}")
        bits = (index[:, None] >> np.arange(self.index_bits, dtype=np.uint8)) & 1
        return np.packbits(bits.reshape(-1)).tobytes()

    def from_bytes(self, data: bytes) -> np.ndarray:
        expected = (self.hashes * self.index_bits + 7) // 8
        if len(data) != expected:
            raise InvalidOptionError(f"a {self.name} template is {expected} bytes, got {len(data)}")
        bits = np.unpackbits(np.frombuffer(data, np.uint8))[: self.hashes * self.index_bits].reshape(self.hashes, -1)
        return (bits << np.arange(self.index_bits, dtype=np.uint8)).sum(axis=1).astype(np.uint8)


class Rotation:
    """A key-seeded random rotation, real-valued, cosine similarity. Invertible by anyone with the key: a baseline."""

    def __init__(self, name: str = "rotation") -> None:
        self.name = name

    def matrix(self, key: bytes, dim: int) -> np.ndarray:
        """The secret (dim, dim) rotation. Dangerous: its transpose undoes the protection."""
        return orthonormal_columns(key_rng(key, self.name, dim), dim, dim)

    def protect_many(self, embeddings: np.ndarray, key: bytes) -> np.ndarray:
        x = unit_rows(embeddings)
        return (x @ self.matrix(key, x.shape[1])).astype(np.float32)

    def protect(self, embedding: np.ndarray, key: bytes) -> np.ndarray:
        return self.protect_many(_one_embedding(embedding), key)[0]

    def similarity_matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.atleast_2d(np.asarray(a, np.float64))
        b = np.atleast_2d(np.asarray(b, np.float64))
        return a @ b.T

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.similarity_matrix(a, b)[0, 0])

    def to_bytes(self, template: np.ndarray) -> bytes:
        return np.asarray(template, "<f4").reshape(-1).tobytes()

    def from_bytes(self, data: bytes) -> np.ndarray:
        if len(data) % 4:
            raise InvalidOptionError(f"a {self.name} template is float32s, got {len(data)} bytes")
        return np.frombuffer(data, "<f4").copy()


def _no_builtin() -> None:
    """The built-in transforms are registered below, in this module."""


TRANSFORMS = Registry[CancelableTransform]("template transform", _no_builtin)
transform_names = TRANSFORMS.names
get_transform = TRANSFORMS.get


@TRANSFORMS.register("biohash")
def _biohash() -> CancelableTransform:
    return BioHash(bits=BIOHASH_BITS)


@TRANSFORMS.register("mlphash")
def _mlphash() -> CancelableTransform:
    return MLPHash(hidden=MLP_HIDDEN, bits=MLP_BITS)


@TRANSFORMS.register("iom")
def _iom() -> CancelableTransform:
    return IndexOfMax(hashes=IOM_HASHES, q=IOM_Q)


@TRANSFORMS.register("rotation")
def _rotation() -> CancelableTransform:
    return Rotation()


BIOHASH_BITS = 4096
MLP_HIDDEN = (2048,)
MLP_BITS = 2048
IOM_HASHES = 1024
IOM_Q = 16

DEFAULT_TRANSFORM = "biohash"

# (transform, recognizer) -> similarity above which two templates of one key are the same person: FAR 1e-3
# over all 10.9 million impostor pairs of LFW's identity photos and distractors, every template under one
# key (the stolen-key case, the worst), median over 3 keys: ``bench/vault_templates.py --thresholds``.
# Hamming similarities are multiples of 1/bits, so the bit transforms' values are exact scores.
THRESHOLDS: dict[tuple[str, str], float] = {
    ("biohash", "dlib"): 0.878662109375,
    ("biohash", "facenet"): 0.671630859375,
    ("biohash", "sface"): 0.619140625,
    ("iom", "dlib"): 0.6650390625,
    ("iom", "facenet"): 0.2451171875,
    ("iom", "sface"): 0.177734375,
    ("mlphash", "dlib"): 0.88720703125,
    ("mlphash", "facenet"): 0.71826171875,
    ("mlphash", "sface"): 0.68310546875,
    ("rotation", "dlib"): 0.9277,
    ("rotation", "facenet"): 0.5112,
    ("rotation", "sface"): 0.3605,
}


def threshold(transform: str, recognizer: str) -> float:
    """The operating similarity threshold of ``transform`` on ``recognizer``'s embeddings (FAR 1e-3)."""
    try:
        return THRESHOLDS[(transform, recognizer)]
    except KeyError:
        raise UnknownNameError("template transform and recognizer", f"{transform}/{recognizer}",
                               [f"{t}/{r}" for t, r in THRESHOLDS]) from None


def matches(transform_name: str, recognizer_name: str, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two templates (one transform, one key, one recognizer's embeddings) are the same person."""
    limit = threshold(transform_name, recognizer_name)
    return get_transform(transform_name).similarity(a, b) > limit
