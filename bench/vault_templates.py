"""Cancelable face templates on LFW: accuracy, unlinkability, irreversibility, size and speed; CKKS matching.

Every LFW identity photo (3,979 of 1,397 people) and distractor (690) is located with the ensemble
detector and embedded by each recognizer (cached in --cache as <recognizer>.npz, so reruns take seconds).
For each recognizer and template transform (``bioveil.vault.templates``):

- accuracy: LFW pairs.txt 10-fold accuracy (as ``bioveil evaluate pairs``) and TAR at FAR 1e-3 over ALL
  genuine and impostor pairs (distractors are impostors), unprotected and protected, in two scenarios:
  normal (each person's templates under their own key; impostors under theirs) and stolen key (every
  template under one key: the impostor holds the victim's key).
- unlinkability (Gomez-Barrero et al. 2018): each photo protected under two keys of its person, D<->sys
  for mated = same person, other photo (and same photo) vs non-mated = other people; 100 equal bins.
- irreversibility: for one photo each of up to --attack-targets people, the attacker holds the template
  and its key and inverts it (gradient descent on a hinge / cross-entropy loss through the known
  projection or network; the exact inverse for the rotation). Share of inverted embeddings accepted
  (i) by the protected system (same key) against another photo of the person, (ii) by the unprotected
  recognizer against that photo (at its FAR 1e-3 threshold, and at its authors' threshold),
  (iii) after revocation: the stolen template replayed against the person's new-key template, and the
  inverted embedding injected through the new key.
- size (bytes) and speed (microseconds per comparison; per 1:1 protect+compare, key expansion included).
- TenSEAL CKKS: encrypted inner product of an enrolled unit embedding with a probe, on pairs.txt pairs.

    python bench/vault_templates.py [--recognizers dlib,facenet,sface] [--transforms biohash,mlphash,iom,rotation]
    python bench/vault_templates.py --sweep      # sizes of each transform (stolen key), to choose defaults
    python bench/vault_templates.py --thresholds # THRESHOLDS for bioveil.vault.templates
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.evaluation.metrics import threshold_at_far, verify_folds
from bioveil.evaluation.pairs import read_pairs
from bioveil.vault.templates import (
    THRESHOLDS,
    BioHash,
    IndexOfMax,
    MLPHash,
    Rotation,
    get_transform,
    transform_names,
    unit_rows,
)
from bioveil.vault.unlinkability import DEFAULT_BINS, unlinkability
from wider_data import DATA

log = logging.getLogger("vault_templates")

CHUNK = 200  # photos read, located and embedded at a time (bounds memory)
DETECTOR = "ensemble"  # as ``bioveil evaluate pairs`` locates the subject
FAR = 1e-3
TARGET_POINTS = 1.0  # protected accuracy within this many points of unprotected
TARGET_DSYS = 0.05
TARGET_REVOKED = 0.01  # acceptance after revocation: "near the impostor rate" (FAR 1e-3), with a margin for few targets


@dataclass(frozen=True)
class Photos:
    """The LFW identity photos, then the distractors; ``person`` indexes ``names``."""

    paths: list[Path]
    person: np.ndarray
    names: list[str]
    distractor: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


def lfw_photos() -> Photos:
    identities = sorted((DATA / "lfw" / "identities").glob("*/*.jpg"))
    distractors = sorted((DATA / "lfw" / "distractors").glob("*.jpg"))
    labels = [p.parent.name for p in identities] + [f"distractor/{p.stem}" for p in distractors]
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    person = np.array([index[label] for label in labels])
    distractor = np.r_[np.zeros(len(identities), bool), np.ones(len(distractors), bool)]
    return Photos(identities + distractors, person, names, distractor)


def relative(paths: list[Path]) -> np.ndarray:
    return np.array([str(p.relative_to(DATA)) for p in paths])


def subjects(photos: Photos, cache: Path) -> list[Any]:
    """The subject's face in every photo (the ensemble detector), cached in ``subjects.npz``."""
    from bioveil.detection.base import get_detector
    from bioveil.evaluation.photos import locate_subjects, read_images
    from bioveil.types import Faces

    file = cache / "subjects.npz"
    names = relative(photos.paths)
    if file.exists():
        stored = np.load(file)
        if np.array_equal(stored["paths"], names):
            rows = zip(stored["xyxy"], stored["score"], stored["landmarks"], strict=True)
            return [Faces(xyxy[None], score[None], landmarks[None]) for xyxy, score, landmarks in rows]
    detector = get_detector(DETECTOR)
    xyxy, score, landmarks, found = [], [], [], []
    start = time.perf_counter()
    for offset in range(0, len(photos), CHUNK):
        for subject in locate_subjects(read_images(photos.paths[offset : offset + CHUNK]), detector):
            xyxy.append(subject.faces.xyxy[0])
            score.append(subject.faces.score[0])
            landmarks.append(subject.faces.landmarks[0])
            found.append(subject.found)
        log.info("located %d/%d subjects (%.0f s)", len(xyxy), len(photos), time.perf_counter() - start)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, paths=names, xyxy=np.array(xyxy), score=np.array(score), landmarks=np.array(landmarks), found=np.array(found))
    return subjects(photos, cache)


def embeddings(photos: Photos, recognizer_name: str, cache: Path) -> np.ndarray:
    """Embeddings (n, d) of every photo's subject by one recognizer, cached in ``<recognizer>.npz``."""
    file = cache / f"{recognizer_name}.npz"
    names = relative(photos.paths)
    if file.exists():
        stored = np.load(file)
        if np.array_equal(stored["paths"], names):
            return stored["embeddings"]
    from bioveil.evaluation.photos import embed_subjects, read_images
    from bioveil.recognition.base import get_recognizer

    faces = subjects(photos, cache)
    recognizer = get_recognizer(recognizer_name)
    out = []
    start = time.perf_counter()
    for offset in range(0, len(photos), CHUNK):
        images = read_images(photos.paths[offset : offset + CHUNK])
        out.append(embed_subjects(recognizer, images, faces[offset : offset + CHUNK]))
        log.info("%s: embedded %d/%d (%.0f s)", recognizer_name, offset + len(images), len(photos), time.perf_counter() - start)
    result = np.concatenate(out)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, paths=names, embeddings=result)
    return result


def bench_key(*parts: object) -> bytes:
    """A deterministic 32-byte key per label, so runs repeat exactly (a real vault draws them with ``secrets``)."""
    return hashlib.sha256(":".join(["bioveil-bench", *map(str, parts)]).encode()).digest()


# ---------------------------------------------------------------- pairs and scores


@dataclass
class Protocol:
    """Index pairs: every pair of photos (upper triangle), which are genuine, and LFW pairs.txt."""

    photos: Photos
    first: np.ndarray = field(init=False)
    second: np.ndarray = field(init=False)
    genuine: np.ndarray = field(init=False)
    lfw_a: np.ndarray = field(init=False)
    lfw_b: np.ndarray = field(init=False)
    lfw_same: np.ndarray = field(init=False)
    lfw_folds: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.first, self.second = np.triu_indices(len(self.photos), 1)
        self.genuine = self.photos.person[self.first] == self.photos.person[self.second]
        pairs = read_pairs(DATA / "lfw" / "pairs.txt", DATA / "lfw" / "identities")
        index = {path: i for i, path in enumerate(self.photos.paths)}
        self.lfw_a = np.array([index[p] for p in pairs.first])
        self.lfw_b = np.array([index[p] for p in pairs.second])
        self.lfw_same, self.lfw_folds = pairs.same, pairs.folds

    def split(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Genuine and impostor scores of all pairs from a full (n, n) score matrix."""
        values = scores[self.first, self.second]
        return values[self.genuine], values[~self.genuine]

    def verification(self, scores: np.ndarray) -> dict[str, float]:
        genuine, impostor = self.split(scores)
        threshold = threshold_at_far(impostor, FAR)
        lfw = verify_folds(scores[self.lfw_a, self.lfw_b], self.lfw_same, self.lfw_folds)
        return {"pairs_accuracy": lfw.accuracy, "tar": float((genuine > threshold).mean()), "threshold": threshold,
                "genuine": len(genuine), "impostor": len(impostor)}


def per_person(transform: Any, x: np.ndarray, person: np.ndarray, label: str) -> np.ndarray:
    """Templates of every embedding, each under its own person's key ``label``."""
    order = np.argsort(person, kind="stable")
    cuts = np.flatnonzero(np.diff(person[order])) + 1
    out: np.ndarray | None = None
    for group in np.split(order, cuts):
        templates = transform.protect_many(x[group], bench_key(label, person[group[0]]))
        if out is None:
            out = np.zeros((len(x), *templates.shape[1:]), templates.dtype)
        out[group] = templates
    assert out is not None
    return out


# ---------------------------------------------------------------- inversion attack


def attacker_prior(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What an attacker learns from public faces of other people: their mean and principal axes scaled by their spread."""
    mean = unit.mean(axis=0)
    _, spread, axes = np.linalg.svd(unit - mean, full_matrices=False)
    return mean, axes * (spread / np.sqrt(len(unit)))[:, None]


def invert(transform: Any, templates: np.ndarray, key: bytes, dim: int, steps: int,
           prior: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Unit embeddings whose templates under ``key`` reproduce ``templates``: the attacker knows the key.

    Gradient descent (Adam) in the prior's whitened coordinates, from the public mean face: the
    embedding nearest the population (in Mahalanobis terms) among those whose template matches.
    """
    if isinstance(transform, Rotation):
        return unit_rows(templates.astype(np.float64) @ transform.matrix(key, dim).T)
    import torch

    if isinstance(transform, BioHash):
        layers = [torch.from_numpy(transform.projection(key, dim))]
    elif isinstance(transform, MLPHash):
        layers = [torch.from_numpy(w) for w in transform.weights(key, dim)]
    elif isinstance(transform, IndexOfMax):
        layers = [torch.from_numpy(transform.projections(key, dim))]
    else:
        raise TypeError(f"no inversion for {type(transform).__name__}")
    mean, basis = (torch.from_numpy(a) for a in prior)

    def forward(v: torch.Tensor) -> torch.Tensor:
        v = v / v.norm(dim=1, keepdim=True)
        for w in layers[:-1]:
            v = torch.relu(v @ w)
        return v @ layers[-1]

    with torch.no_grad():
        scale = float(forward(mean + torch.randn(256, len(basis), dtype=torch.float64) @ basis).std())
    target = torch.from_numpy(templates.astype(np.int64))
    z = torch.zeros(len(templates), len(basis), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([z], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        out = forward(mean + z @ basis) / scale
        if isinstance(transform, IndexOfMax):
            logits = out.reshape(len(z), transform.hashes, transform.q) * 4.0
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, transform.q), target.reshape(-1))
        else:
            loss = torch.relu(1.0 - (2 * target - 1) * out).mean()
        loss.backward()
        optimizer.step()
    return unit_rows((mean + z @ basis).detach().numpy())


def attack_targets(photos: Photos, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(stolen photo, other photo) of up to ``count`` people with two or more identity photos, spread evenly."""
    firsts, seconds = [], []
    for p in np.unique(photos.person[~photos.distractor]):
        own = np.flatnonzero(photos.person == p)
        if len(own) >= 2:
            firsts.append(own[0])
            seconds.append(own[1])
    step = max(1, len(firsts) // count)
    return np.array(firsts[::step][:count]), np.array(seconds[::step][:count])


def similarity_rows(transform: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise similarities of two template sets."""
    return np.array([transform.similarity_matrix(u[None], v[None])[0, 0] for u, v in zip(a, b, strict=True)])


def irreversibility(transform: Any, recognizer: Any, x: np.ndarray, photos: Photos, threshold: float,
                    unprotected_threshold: float, targets: int, steps: int) -> dict[str, float]:
    stolen, other = attack_targets(photos, targets)
    dim = x.shape[1]
    key, new_key = bench_key("attack", "old"), bench_key("attack", "new")
    unit = unit_rows(x)
    stolen_templates = transform.protect_many(unit[stolen], key)
    start = time.perf_counter()
    inverted = invert(transform, stolen_templates, key, dim, steps, attacker_prior(unit[photos.distractor]))
    seconds = time.perf_counter() - start
    reproduced = transform.protect_many(inverted, key)
    # Raw-embedding recognizers (dlib: Euclidean) get the inverted direction at the population's mean norm.
    mean_norm = float(np.linalg.norm(x, axis=1).mean())
    raw = inverted * (mean_norm if recognizer.metric == "euclidean" else 1.0)
    cross = recognizer.pair_similarity(raw, x[other])
    genuine_unprotected = recognizer.pair_similarity(x[stolen], x[other])
    same_key = similarity_rows(transform, reproduced, transform.protect_many(unit[other], key))
    fresh_other = transform.protect_many(unit[other], new_key)
    replay = similarity_rows(transform, stolen_templates, fresh_other)
    injected = similarity_rows(transform, transform.protect_many(inverted, new_key), fresh_other)
    genuine_protected = similarity_rows(transform, stolen_templates, transform.protect_many(unit[other], key))
    return {
        "targets": len(stolen),
        "attack_seconds": seconds,
        "template_reproduced": float(np.mean([transform.similarity_matrix(a[None], b[None])[0, 0]
                                               for a, b in zip(reproduced, stolen_templates, strict=True)])),
        "cosine_to_stolen": float((inverted * unit[stolen]).sum(1).mean()),
        "genuine_protected": float((genuine_protected > threshold).mean()),
        "same_key": float((same_key > threshold).mean()),
        "genuine_unprotected": float((genuine_unprotected > unprotected_threshold).mean()),
        "unprotected": float((cross > unprotected_threshold).mean()),
        "unprotected_authors": float((cross > recognizer.threshold).mean()),
        "replay_new_key": float((replay > threshold).mean()),
        "inject_new_key": float((injected > threshold).mean()),
    }


# ---------------------------------------------------------------- size and speed


def per_call_us(function: Any, repeats: int) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return 1e6 * (time.perf_counter() - start) / repeats


def size_and_speed(transform: Any, x: np.ndarray) -> dict[str, float]:
    key = bench_key("speed")
    a, b = transform.protect(x[0], key), transform.protect(x[1], key)
    compare = per_call_us(lambda: transform.similarity(a, b), 2000)
    protect_compare = per_call_us(lambda: transform.similarity(transform.protect(x[1], key), a), 50)
    many = transform.protect_many(x[:1000], key)
    batch = per_call_us(lambda: transform.similarity_matrix(a[None], many), 50) / len(many)
    return {"bytes": len(transform.to_bytes(a)), "compare_us": compare, "compare_batched_us": batch,
            "protect_compare_us": protect_compare}


# ---------------------------------------------------------------- one recognizer x transform


def stolen_key(transform: Any, unit: np.ndarray, protocol: Protocol, keys: int) -> dict[str, Any]:
    """Every template under one key, for each of ``keys`` keys: mean figures, TAR's range, median threshold."""
    runs = []
    for k in range(keys):
        shared = transform.protect_many(unit, bench_key("shared", k))
        runs.append(protocol.verification(transform.similarity_matrix(shared, shared)))
    tars = [r["tar"] for r in runs]
    return {"pairs_accuracy": float(np.mean([r["pairs_accuracy"] for r in runs])), "tar": float(np.mean(tars)),
            "tar_min": float(min(tars)), "tar_max": float(max(tars)),
            "threshold": float(np.median([r["threshold"] for r in runs])), "keys": keys}


def evaluate(transform: Any, recognizer: Any, x: np.ndarray, photos: Photos, protocol: Protocol, args: argparse.Namespace,
             unprotected: dict[str, float], full: bool = True, attack: bool = True) -> dict[str, Any]:
    unit = unit_rows(x)
    start = time.perf_counter()
    stolen = stolen_key(transform, unit, protocol, args.keys)
    registered = transform.name in transform_names() and get_transform(transform.name) is transform
    threshold = THRESHOLDS.get((transform.name, recognizer.name), stolen["threshold"]) if registered else stolen["threshold"]
    out: dict[str, Any] = {"stolen": stolen, "threshold": threshold}
    if full:
        own = per_person(transform, unit, photos.person, "a")
        second = per_person(transform, unit, photos.person, "b")
        out["normal"] = protocol.verification(transform.similarity_matrix(own, own))
        cross = transform.similarity_matrix(own, second)
        same_person = photos.person[:, None] == photos.person[None, :]
        same_photo = np.eye(len(x), dtype=bool)
        non_mated = cross[~same_person]
        out["unlinkability"] = unlinkability(cross[same_person & ~same_photo], non_mated).to_dict()
        out["unlinkability_same_photo"] = unlinkability(cross[same_photo], non_mated).to_dict()
        del cross, same_person, same_photo, non_mated
        out["size_speed"] = size_and_speed(transform, x)
    if attack:
        out["attack"] = irreversibility(transform, recognizer, x, photos, threshold, unprotected["threshold"],
                                        args.attack_targets, args.attack_steps)
    log.info("%s/%s in %.0f s", recognizer.name, transform.name, time.perf_counter() - start)
    return out


# ---------------------------------------------------------------- CKKS


def homomorphic(recognizer: Any, x: np.ndarray, protocol: Protocol, count: int, plain_threshold: float) -> dict[str, float]:
    from bioveil.vault import homomorphic as he

    unit = unit_rows(x)
    chosen = np.linspace(0, len(protocol.lfw_a) - 1, count).astype(int)
    a, b, same = protocol.lfw_a[chosen], protocol.lfw_b[chosen], protocol.lfw_same[chosen]
    start = time.perf_counter()
    context = he.make_context()
    context_seconds = time.perf_counter() - start
    public = he.public_context(context)
    server = he.load_context(public)
    encrypt_s, match_s, decrypt_s, scores, sizes = [], [], [], [], []
    for i, j in zip(a, b, strict=True):
        t0 = time.perf_counter()
        enrolled = he.encrypt_template(context, unit[i])
        t1 = time.perf_counter()
        result = he.encrypted_score(server, enrolled, unit[j])
        t2 = time.perf_counter()
        scores.append(he.decrypt_score(context, result))
        t3 = time.perf_counter()
        encrypt_s.append(t1 - t0)
        match_s.append(t2 - t1)
        decrypt_s.append(t3 - t2)
        sizes.append(len(enrolled))
    scores_he = np.array(scores)
    plain = (unit[a] * unit[b]).sum(1)
    return {
        "pairs": count,
        "ciphertext_bytes": float(np.mean(sizes)),
        "public_context_bytes": len(public),
        "context_ms": 1e3 * context_seconds,
        "encrypt_ms": 1e3 * float(np.median(encrypt_s)),
        "match_ms": 1e3 * float(np.median(match_s)),
        "decrypt_ms": 1e3 * float(np.median(decrypt_s)),
        "max_abs_error": float(np.abs(scores_he - plain).max()),
        "decisions_agree": float(((scores_he > plain_threshold) == (plain > plain_threshold)).mean()),
        "accuracy_he": float(((scores_he > plain_threshold) == same).mean()),
        "accuracy_plain": float(((plain > plain_threshold) == same).mean()),
    }


# ---------------------------------------------------------------- sweep


SWEEP = {
    "biohash": [BioHash(bits) for bits in (128, 256, 512, 1024, 2048, 4096, 8192)],
    "mlphash": [MLPHash((512,), 512), MLPHash((1024,), 1024), MLPHash((2048,), 2048), MLPHash((1024, 1024), 1024),
                MLPHash((4096,), 4096)],
    "iom": [IndexOfMax(256, 16), IndexOfMax(512, 16), IndexOfMax(1024, 16), IndexOfMax(512, 4), IndexOfMax(1024, 4)],
}


def describe(transform: Any) -> str:
    if isinstance(transform, BioHash):
        return f"biohash bits={transform.bits}"
    if isinstance(transform, MLPHash):
        return f"mlphash hidden={'x'.join(map(str, transform.hidden))} bits={transform.bits}"
    if isinstance(transform, IndexOfMax):
        return f"iom hashes={transform.hashes} q={transform.q}"
    return transform.name


# ---------------------------------------------------------------- tables


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"\n### {title}\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: dict[str, Any], default: str) -> list[str]:
    out = []
    rows = []
    for rec, entry in results.items():
        u = entry["unprotected"]
        for name, r in entry["transforms"].items():
            rows.append([rec, name, pct(u["pairs_accuracy"]), pct(r["normal"]["pairs_accuracy"]),
                         pct(r["stolen"]["pairs_accuracy"]), pct(u["tar"]), pct(r["normal"]["tar"]),
                         f"{pct(r['stolen']['tar'])} ({pct(r['stolen']['tar_min'])}-{pct(r['stolen']['tar_max'])})",
                         f"{100 * (r['stolen']['tar'] - u['tar']):+.1f}", f"{r['threshold']:.4f}"])
    out.append(table("Verification (%): LFW pairs.txt 10-fold accuracy; TAR at FAR 1e-3 over all pairs",
                     ["recognizer", "transform", "acc unprot", "acc normal", "acc stolen key", "TAR unprot", "TAR normal",
                      "TAR stolen key (range over keys)", "ΔTAR stolen (pts)", "threshold"], rows))
    rows = []
    for rec, entry in results.items():
        for name, r in entry["transforms"].items():
            u, s = r["unlinkability"], r["unlinkability_same_photo"]
            rows.append([rec, name, f"{u['d_sys']:.3f}", f"{u['d_max']:.2f}", f"{u['d_max_supported']:.2f}", f"{s['d_sys']:.3f}",
                         f"{s['d_max']:.2f}", f"{s['d_max_supported']:.2f}", f"{u['mated']:,}/{s['mated']:,}/{u['non_mated']:,}"])
    out.append(table(f"Unlinkability D<->sys (two keys per person; {DEFAULT_BINS} equal-width bins over the score range)",
                     ["recognizer", "transform", "D sys (other photo)", "D max", "D max (bins >= 10)", "D sys (same photo)",
                      "D max", "D max (bins >= 10)", "mated / same-photo / non-mated"], rows))
    rows = []
    for rec, entry in results.items():
        for name, r in entry["transforms"].items():
            a = r["attack"]
            rows.append([rec, name, str(a["targets"]), pct(a["template_reproduced"]), f"{a['cosine_to_stolen']:.2f}",
                         pct(a["genuine_protected"]), pct(a["same_key"]), pct(a["genuine_unprotected"]), pct(a["unprotected"]),
                         pct(a["unprotected_authors"]), pct(a["replay_new_key"]), pct(a["inject_new_key"])])
    out.append(table("Irreversibility with the key known (%): inverted template vs another photo of the person",
                     ["recognizer", "transform", "targets", "template bits reproduced", "cos(inverted, true)",
                      "genuine baseline (protected)", "(i) same key", "genuine baseline (unprot)", "(ii) unprot FAR 1e-3",
                      "(ii) unprot authors' thr", "(iii) replay, new key", "(iii) injected, new key"], rows))
    rows = []
    for rec, entry in results.items():
        for name, r in entry["transforms"].items():
            s = r["size_speed"]
            rows.append([rec, name, str(s["bytes"]), f"{s['compare_us']:.1f}", f"{s['compare_batched_us']:.2f}",
                         f"{s['protect_compare_us']:.0f}"])
    out.append(table("Size and speed (2 shared cores)", ["recognizer", "transform", "template bytes", "compare µs",
                     "compare µs (batched 1:1000)", "protect+compare µs (key expansion included)"], rows))
    rows = []
    for rec, entry in results.items():
        h = entry.get("ckks")
        if h:
            rows.append([rec, str(h["pairs"]), f"{h['ciphertext_bytes'] / 1024:.0f}", f"{h['public_context_bytes'] / 1e6:.1f}",
                         f"{h['encrypt_ms']:.1f}", f"{h['match_ms']:.1f}", f"{h['decrypt_ms']:.1f}", f"{h['max_abs_error']:.1e}",
                         pct(h["decisions_agree"]), pct(h["accuracy_he"]), pct(h["accuracy_plain"])])
    if rows:
        out.append(table("TenSEAL CKKS encrypted cosine (N=8192), pairs.txt subset at the plain cosine FAR 1e-3 threshold",
                         ["recognizer", "pairs", "ciphertext KiB", "public context MB", "encrypt ms", "match ms", "decrypt ms",
                          "max |score error|", "decisions agree %", "acc HE %", "acc plain %"], rows))
    rows = []
    for rec, entry in results.items():
        r = entry["transforms"].get(default)
        if not r:
            continue
        u = entry["unprotected"]
        d_tar = 100 * (r["stolen"]["tar"] - u["tar"])
        d_acc = 100 * (r["stolen"]["pairs_accuracy"] - u["pairs_accuracy"])
        a = r["attack"]
        rows += [
            [f"{rec}/{default}: TAR@1e-3 within {TARGET_POINTS:g} pt (stolen key)", f"{d_tar:+.2f} pt",
             yes(d_tar >= -TARGET_POINTS)],
            [f"{rec}/{default}: pairs accuracy within {TARGET_POINTS:g} pt (stolen key)", f"{d_acc:+.2f} pt",
             yes(d_acc >= -TARGET_POINTS)],
            [f"{rec}/{default}: D<->sys <= {TARGET_DSYS}", f"{r['unlinkability']['d_sys']:.3f} (same photo "
             f"{r['unlinkability_same_photo']['d_sys']:.3f})",
             yes(max(r["unlinkability"]["d_sys"], r["unlinkability_same_photo"]["d_sys"]) <= TARGET_DSYS)],
            [f"{rec}/{default}: stolen template replayed after revocation <= {pct(TARGET_REVOKED)}%",
             f"{pct(a['replay_new_key'])}%", yes(a["replay_new_key"] <= TARGET_REVOKED)],
            [f"{rec}/{default}: inverted embedding injected after revocation <= {pct(TARGET_REVOKED)}%",
             f"{pct(a['inject_new_key'])}%", yes(a["inject_new_key"] <= TARGET_REVOKED)],
            [f"{rec}/{default}: inverted template rejected by the unprotected recognizer (<= {pct(TARGET_REVOKED)}%)",
             f"{pct(a['unprotected'])}%", yes(a["unprotected"] <= TARGET_REVOKED)],
        ]
    out.append(table(f"Targets (default transform: {default})", ["target", "figure", "met?"], rows))
    return out


def yes(value: bool) -> str:
    return "yes" if value else "**no**"


def sweep(recognizers: list[str], photos: Photos, protocol: Protocol, args: argparse.Namespace) -> dict[str, Any]:
    from bioveil.recognition.base import get_recognizer

    results: dict[str, Any] = {}
    rows = []
    for rec in recognizers:
        recognizer = get_recognizer(rec)
        x = embeddings(photos, rec, args.cache)
        unprotected = protocol.verification(recognizer.similarity(x, x))
        rows.append([rec, "unprotected", "", pct(unprotected["pairs_accuracy"]), pct(unprotected["tar"]), "", "", ""])
        for family in args.transforms.split(","):
            for transform in SWEEP.get(family, []):
                r = evaluate(transform, recognizer, x, photos, protocol, args, unprotected, full=False)
                results[f"{rec}/{describe(transform)}"] = r
                key = bench_key("size")
                size = len(transform.to_bytes(transform.protect(x[0], key)))
                rows.append([rec, describe(transform), str(size), pct(r["stolen"]["pairs_accuracy"]), pct(r["stolen"]["tar"]),
                             f"{pct(r['stolen']['tar_min'])}-{pct(r['stolen']['tar_max'])}", pct(r["attack"]["unprotected"]),
                             pct(r["attack"]["inject_new_key"])])
                print(rows[-1], flush=True)
    print(table(f"Sweep: stolen key (one key for all; mean of {args.keys} keys), LFW all pairs",
                ["recognizer", "transform", "bytes", "pairs acc %", "TAR@1e-3 %", "TAR range %", "inverted accepted unprot %",
                 "inverted injected new key %"], rows))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognizers", default="dlib,facenet,sface")
    parser.add_argument("--transforms", default=None, help="comma-separated (default: every registered transform)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bioveil-vault-bench"), help="embedding cache folder")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--attack-targets", type=int, default=200, help="people whose template is inverted")
    parser.add_argument("--attack-steps", type=int, default=300)
    parser.add_argument("--keys", type=int, default=3, help="shared keys the stolen-key figures are averaged over")
    parser.add_argument("--ckks-pairs", type=int, default=100, help="pairs.txt pairs matched under CKKS (0: skip)")
    parser.add_argument("--sweep", action="store_true", help="compare sizes of each transform (stolen key only)")
    parser.add_argument("--thresholds", action="store_true", help="print THRESHOLDS measured at FAR 1e-3 (stolen key)")
    parser.add_argument("--embed-only", action="store_true", help="only fill the embedding cache")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        # Key expansion is thousands of small QR factorisations: threaded OpenBLAS thrashes on them (15x slower
        # on a shared 2-core machine). numpy reads the variable at import, hence a restart.
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    level = logging.INFO if args.verbose or args.embed_only else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(2)
    from bioveil.recognition.base import get_recognizer, parse_recognizers
    from bioveil.vault.templates import DEFAULT_TRANSFORM

    recognizers = parse_recognizers(args.recognizers)
    photos = lfw_photos()
    if args.embed_only:
        for rec in recognizers:
            embeddings(photos, rec, args.cache)
        return 0
    protocol = Protocol(photos)
    print(f"LFW: {int((~photos.distractor).sum())} identity photos + {int(photos.distractor.sum())} distractors, "
          f"{len(protocol.first):,} pairs ({int(protocol.genuine.sum()):,} genuine), pairs.txt {len(protocol.lfw_a)} pairs")
    if args.sweep:
        args.transforms = args.transforms or "biohash,mlphash,iom"
        results = sweep(recognizers, photos, protocol, args)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=float))
        return 0
    transforms = (args.transforms or ",".join(transform_names())).split(",")
    results: dict[str, Any] = {}
    thresholds: dict[tuple[str, str], float] = {}
    for rec in recognizers:
        recognizer = get_recognizer(rec)
        x = embeddings(photos, rec, args.cache)
        unprotected = protocol.verification(recognizer.similarity(x, x))
        entry: dict[str, Any] = {"unprotected": unprotected, "transforms": {}}
        for name in transforms:
            r = evaluate(get_transform(name), recognizer, x, photos, protocol, args, unprotected, full=not args.thresholds,
                         attack=not args.thresholds)
            entry["transforms"][name] = r
            thresholds[(name, rec)] = r["stolen"]["threshold"]
            print(f"{rec}/{name}: TAR stolen {pct(r['stolen']['tar'])} (unprotected {pct(unprotected['tar'])})", flush=True)
        if args.ckks_pairs and not args.thresholds:
            plain = unit_rows(x)
            cosine_threshold = protocol.verification(plain @ plain.T)["threshold"]
            entry["ckks"] = homomorphic(recognizer, x, protocol, args.ckks_pairs, cosine_threshold)
        results[rec] = entry
    if args.thresholds:
        print("THRESHOLDS: dict[tuple[str, str], float] = {")
        for (name, rec), value in sorted(thresholds.items()):
            print(f"    ({name!r}, {rec!r}): {value!r},")
        print("}")
        return 0
    print("\n".join(report(results, DEFAULT_TRANSFORM)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
