"""What the batch tests share: small real photo folders, the manifest's rows, the outputs' digests."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from bioveil.batch.manifest import manifest_path

PHOTOS = "wider_face/images/0--Parade"


def copy_photos(data: Path, folder: Path, count: int, source: str = PHOTOS) -> list[Path]:
    """The first ``count`` photos of a real data folder, copied (sorted by name) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for photo in sorted((data / source).glob("*.jpg"))[:count]:
        copies.append(Path(shutil.copy(photo, folder / photo.name)))
        copies[-1].chmod(0o644)
    assert len(copies) == count, f"{data / source} has fewer than {count} photos"
    return copies


def outputs(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` but the manifest: relative path -> SHA-256."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and ".bioveil" not in path.parts}


def rows(outdir: Path, manifest: Path | None = None) -> dict[str, dict]:
    """The manifest's rows by input file name (read with sqlite3 itself, not through bioveil)."""
    db = sqlite3.connect(manifest or manifest_path(outdir), timeout=30)
    try:
        db.row_factory = sqlite3.Row
        return {Path(row["input"]).name: dict(row) for row in db.execute("SELECT * FROM files")}
    finally:
        db.close()


def partials(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if ".part" in path.name]
