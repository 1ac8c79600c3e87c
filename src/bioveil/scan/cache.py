"""What a scan learned about one file, kept by the file's content hash, so a rerun only does new files.

The cache holds biometric data (face crops and embeddings): it is created private (mode 0700), its
place is printed by the command, and ``--no-cache`` keeps it in a temporary folder deleted at exit.
Entries are ``.npz`` files read without pickle; a damaged entry is ignored and recomputed.

The cache is the scan's output folder: each entry is the output of the files with that content,
and the batch manifest (:mod:`bioveil.batch.manifest`) at ``<cache>/.bioveil/manifest.sqlite``
is its index, one row per scanned path: the path's content hash, the settings, the entry it points
at and that entry's hash. A rerun takes a file whose row is done and whose entry is intact from the
cache, and computes only the new and changed files.
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

from bioveil.batch.manifest import file_sha256 as file_sha256  # the one content hash of a batch
from bioveil.media.atomic import atomic_path
from bioveil.types import Faces

log = logging.getLogger(__name__)



def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bioveil" / "scan"


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
        (self.root / ".bioveil").mkdir(exist_ok=True)  # its manifest: the paths of what was scanned
        for folder in (self.root, self.folder, self.root / ".bioveil"):
            os.chmod(folder, 0o700)

    def path_for(self, sha: str) -> Path:
        """Where the entry of the content hashed ``sha`` is (or would be) kept."""
        return self.folder / sha[:2] / f"{sha}.npz"

    def get(self, sha: str) -> Entry | None:
        path = self.path_for(sha)
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
        path = self.path_for(sha)
        path.parent.mkdir(exist_ok=True)
        info = {"kind": entry.kind, "width": entry.width, "height": entry.height, "quality": entry.quality,
                "metadata": entry.metadata, "categories": entry.categories, "risks": entry.risks}
        offsets = np.cumsum([0, *map(len, entry.crops)])
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            np.savez(stream, info=_text(info), xyxy=entry.faces.xyxy, score=entry.faces.score,
                     landmarks=entry.faces.landmarks, embeddings=entry.embeddings.astype(np.float32),
                     thumbnail=np.frombuffer(entry.thumbnail or b"", np.uint8),
                     crops=np.frombuffer(b"".join(entry.crops), np.uint8), crop_offsets=offsets)
