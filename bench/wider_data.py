"""WIDER FACE validation boxes from ``../shared/data/wider_face`` (the official text format)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("BIOVEIL_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@dataclass
class Annotated:
    path: Path
    xyxy: np.ndarray  # (n, 4) valid faces
    invalid: np.ndarray  # (m, 4) faces flagged invalid


def load_wider(root: Path | None = None) -> list[Annotated]:
    root = root or DATA / "wider_face"
    lines = (root / "wider_face_val_bbx_gt.txt").read_text().split("\n")
    images = root / "images"
    out: list[Annotated] = []
    i = 0
    while i < len(lines) and lines[i].strip():
        name, count = lines[i].strip(), int(lines[i + 1])
        rows = [list(map(int, line.split()[:10])) for line in lines[i + 2 : i + 2 + max(count, 1)]]
        i += 2 + max(count, 1)
        if not (images / name).exists():
            continue
        rows = [r for r in rows[:count] if r[2] > 0 and r[3] > 0]
        arr = np.array(rows, dtype=np.float32).reshape(-1, 10)
        xyxy = np.concatenate([arr[:, :2], arr[:, :2] + arr[:, 2:4]], axis=1)
        invalid = arr[:, 7] > 0
        out.append(Annotated(images / name, xyxy[~invalid], xyxy[invalid]))
    return out


def select(photos: list[Annotated], limit: int | None) -> list[Annotated]:
    """``limit`` photos spread evenly over the list (all of them when ``limit`` is None or too large)."""
    if not limit or limit >= len(photos):
        return photos
    step = len(photos) / limit
    return [photos[int(i * step)] for i in range(limit)]
