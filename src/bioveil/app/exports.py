"""What the app hands back: every item masked (or cloaked) with its edits, and one zip of them all.

Photos and videos go through ``mask``'s own job with the user's edits (:mod:`bioveil.app.masking`),
photos marked for cloaking through ``cloak``'s batch; both are resumable, so a second download after
one edit redoes only the photo edited. The zip holds the outputs under the names the user gave (with
the suffix of the written format where it differs) and is renamed into place only when complete.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bioveil.app.jobs import Progress
from bioveil.app.masking import mask_edited
from bioveil.app.workspace import Item, Workspace
from bioveil.batch.runner import BatchResult
from bioveil.errors import BioveilError
from bioveil.masking.batch import MaskSettings
from bioveil.media.atomic import atomic_path
from bioveil.scan.words import PROBLEMS, describe_categories

log = logging.getLogger(__name__)


@dataclass
class AppSettings:
    """How the app masks, for the whole batch (the page's choices)."""

    method: str = "blur"
    shape: str = "ellipse"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def mask(self) -> MaskSettings:
        return MaskSettings(method=self.method, shape=self.shape)


class PreviewError(BioveilError):
    """The masked preview of a photo could not be made (the message says why)."""


def preview_masked(workspace: Workspace, item: Item, settings: AppSettings) -> Path:
    """``item`` masked as the download will be (into a folder of previews, so an export running meanwhile
    is not disturbed); the masked file's path."""
    source = workspace.source(item)
    batch = mask_edited([source], workspace.folder("previews") / "masked", settings.mask(), {source: item.edits})
    for task, row in batch.done:
        if row.output is not None:
            return Path(row.output)
        log.debug("preview of %s done before without an output", task.source)
    for result in batch.results:
        if result.ok and result.output is not None:
            return result.output
        raise PreviewError(f"{result.error}: {result.message}")
    raise PreviewError(f"{item.name} could not be masked")


def _download_name(item: Item, output: Path, taken: set[str]) -> str:
    """The user's name for ``item``, with ``output``'s suffix where the format differs, made unique in the zip."""
    stem = Path(item.name).stem or item.id
    suffix = output.suffix if output.suffix.lower() != Path(item.name).suffix.lower() else Path(item.name).suffix
    name, number = f"{stem}{suffix}", 2
    while name.lower() in taken:
        name, number = f"{stem} ({number}){suffix}", number + 1
    taken.add(name.lower())
    return name


def export_all(workspace: Workspace, settings: AppSettings, records: dict[str, dict[str, Any]],
               outputs: dict[str, tuple[Path, str]], progress: Progress) -> dict[str, Any]:
    """Mask or cloak every item, then zip the outputs; ``outputs`` gets each item's file and download name."""
    items = workspace.items()
    by_source = {workspace.source(item).resolve(): item for item in items}
    cloaked = [item for item in items if item.edits.cloak and records.get(item.id, {}).get("kind") != "video"]
    masked = [item for item in items if item not in cloaked]
    progress.job.frames_total = _frames(workspace, masked)
    progress.step(0, len(items), "masking")
    results: dict[str, Any] = {}

    def each(result: Any) -> None:
        item = by_source.get(Path(result.input).resolve())
        if item is not None:
            results[item.id] = result
            progress.step(len(results), event={"export": _entry(workspace, item, result, records.get(item.id), None)})

    if masked:
        batch = mask_edited([workspace.source(item) for item in masked], workspace.folder("masked"), settings.mask(),
                            {workspace.source(item): item.edits for item in masked}, on_result=each, on_frame=progress.frame)
        _resumed(batch, by_source, results)
    if cloaked:
        from bioveil.cloaking.batch import CloakSettings, cloak_batch

        progress.step(message="cloaking (seconds a face)")
        batch = cloak_batch([workspace.source(item) for item in cloaked], workspace.folder("cloaked"), CloakSettings(),
                            on_result=each)
        _resumed(batch, by_source, results)
    progress.step(len(results), message="zipping")
    taken: set[str] = set()
    files = []
    target = workspace.folder("downloads") / f"{progress.job.id}.zip"
    with atomic_path(target) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
        for item in items:
            result = results.get(item.id)
            name = None
            if result is not None and result.ok and result.output is not None:
                progress.check()
                name = _download_name(item, Path(result.output), taken)
                archive.write(result.output, name)
                outputs[item.id] = (Path(result.output), name)
            files.append(_entry(workspace, item, result, records.get(item.id), name))
    return {"zip": str(target), "download": f"/api/downloads/{progress.job.id}.zip", "files": files,
            "failed": sum(entry["status"] != "ok" for entry in files)}


def _resumed(batch: BatchResult[Any], by_source: dict[Path, Item], results: dict[str, Any]) -> None:
    """Items an earlier export made with the same edits were not run again: take their outputs."""
    from bioveil.masking.photo import FileResult

    for task, row in batch.done:
        item = by_source.get(task.source.resolve())
        if item is not None and row.output is not None:
            results[item.id] = FileResult(task.source, Path(row.output), "ok")


def _entry(workspace: Workspace, item: Item, result: Any, record: dict[str, Any] | None, name: str | None) -> dict[str, Any]:
    ok = result is not None and result.ok
    found = describe_categories([key for key in (record or {}).get("categories", []) if key != "faces"])
    return {"item": item.id, "name": item.name, "download_name": name, "status": "ok" if ok else "failed",
            "error": None if ok or result is None else result.error,
            "plain": None if ok or result is None else PROBLEMS.get(str(result.error), "Could not be processed"),
            "message": None if ok or result is None else workspace.in_users_words(item, result.message),
            "notes": [] if result is None else list(result.notes),
            "removed": [entry["label"] for entry in found] if ok else []}


def _frames(workspace: Workspace, items: list[Item]) -> int:
    """Frames in the videos among ``items`` (as their containers declare them), for the progress bar."""
    from bioveil.media.video import VIDEO_SUFFIXES, VideoReader

    total = 0
    for item in items:
        if item.suffix in VIDEO_SUFFIXES:
            try:
                with VideoReader(workspace.source(item)) as reader:
                    total += reader.declared_frames
            except BioveilError:
                continue  # a broken video fails in the batch with its named error
    return total
