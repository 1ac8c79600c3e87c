"""What a scan learned about one file, kept by the file's content hash, so a rerun only does new files.

The cache holds biometric data (face crops and embeddings): it is created private (mode 0700), its
place is printed by the command, and ``--no-cache`` keeps it in a temporary folder deleted at exit.
Entries are ``.npz`` files read without pickle; a damaged entry is ignored and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from bioveil.media.atomic import atomic_path
from bioveil.types import Faces

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bioveil" / "scan"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Entry:
    """One scanned file: its faces (with quality and embeddings), metadata, thumbnail and face crops."""

    kind: str
    width: int
    height: int
    faces: Faces
    quality: list[dict[str, Any]]  # per face: height_px, sharpness, yaw_degrees, identifiability, frame
    embeddings: np.ndarray  # (n, d); NaN rows for faces too small or blurred to embed
    metadata: dict[str, Any] | None
    categories: list[str]
    risks: list[str]
    thumbnail: bytes | None = None
    crops: list[bytes] = field(default_factory=list)


def _text(value: object) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), np.uint8)


class ScanCache:
    """Entries under ``root/<settings key>/<sha[:2]>/<sha>.npz``; other settings never share entries."""

    def __init__(self, root: Path, settings: dict[str, object]) -> None:
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        self.root = Path(root)
        self.folder = self.root / key
        self.folder.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.folder):
            os.chmod(folder, 0o700)

    def _path(self, sha: str) -> Path:
        return self.folder / sha[:2] / f"{sha}.npz"

    def get(self, sha: str) -> Entry | None:
        path = self._path(sha)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                info = json.loads(saved["info"].tobytes())
                offsets = saved["crop_offsets"]
                blob = saved["crops"].tobytes()
                faces = Faces(saved["xyxy"], saved["score"], saved["landmarks"])
                thumbnail = saved["thumbnail"].tobytes() or None
                return Entry(info["kind"], info["width"], info["height"], faces, info["quality"], saved["embeddings"],
                             info["metadata"], info["categories"], info["risks"], thumbnail,
                             [blob[a:b] for a, b in pairwise(offsets.tolist())])
        except Exception as exc:  # a damaged or foreign entry: recompute rather than fail the scan
            log.warning("ignoring damaged cache entry %s (%s)", path, exc)
            return None

    def put(self, sha: str, entry: Entry) -> None:
        path = self._path(sha)
        path.parent.mkdir(exist_ok=True)
        info = {"kind": entry.kind, "width": entry.width, "height": entry.height, "quality": entry.quality,
                "metadata": entry.metadata, "categories": entry.categories, "risks": entry.risks}
        offsets = np.cumsum([0, *map(len, entry.crops)])
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            np.savez(stream, info=_text(info), xyxy=entry.faces.xyxy, score=entry.faces.score,
                     landmarks=entry.faces.landmarks, embeddings=entry.embeddings.astype(np.float32),
                     thumbnail=np.frombuffer(entry.thumbnail or b"", np.uint8),
                     crops=np.frombuffer(b"".join(entry.crops), np.uint8), crop_offsets=offsets)
