"""The app's HTTP side: the page, its static files, and the JSON API the page uses (``/api/openapi.json``).

Everything is behind :class:`bioveil.app.security.Guard`. Long work (scanning, masking, cloaking, the zip)
runs as background jobs (:mod:`bioveil.app.jobs`) through the batch runner the CLI uses; the page hears
of their progress over server-sent events (``/api/events``).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import queue
import secrets
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from bioveil import __version__
from bioveil.app.exports import AppSettings, export_all, preview_masked
from bioveil.app.jobs import Jobs, Progress
from bioveil.app.security import Guard
from bioveil.app.workspace import Edits, Item, UploadTooLargeError, Workspace
from bioveil.errors import BioveilError, MediaError
from bioveil.media.image import read_image
from bioveil.scan.cache import ScanCache
from bioveil.scan.collection import ScanSettings, file_record, scan_collection
from bioveil.scan.words import PROBLEMS, RECOGNISABLE, describe_categories

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 320
PREVIEW_SIDE = 1600  # the editor's picture: sharp on a laptop screen, a fraction of a 12 MP photo
IMMUTABLE = "private, max-age=86400, immutable"  # an item id names one upload's content for the app's life
STATIC = resources.files("bioveil.app") / "static"


class EditsIn(BaseModel):
    keep: list[list[float]] = Field(default_factory=list, description="boxes (x1, y1, x2, y2) of faces left unmasked")
    draw: list[list[float]] = Field(default_factory=list, description="boxes drawn over faces the detector missed")
    cloak: bool = Field(False, description="cloak this photo instead of masking it")


class SettingsIn(BaseModel):
    method: Literal["blur", "pixelate", "solid"] = "blur"
    shape: Literal["ellipse", "box"] = "ellipse"


class ScanIn(BaseModel):
    ids: list[str] | None = Field(None, description="items to scan (default: every item not scanned yet)")


class State:
    """What the app knows: the workspace, the jobs, the latest scan's records by item, the settings."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.jobs = Jobs()
        self.records: dict[str, dict[str, Any]] = {}
        self.persons: list[dict[str, Any]] = []
        self.settings = AppSettings()
        self.outputs: dict[str, tuple[Path, str]] = {}  # item id: its masked or cloaked file, and its download name
        self.scan_settings = ScanSettings(cache_dir=workspace.folder("scan"))
        self.scan_cache = ScanCache(workspace.folder("scan"), self.scan_settings.key())

    def item(self, item_id: str) -> Item:
        item = self.workspace.item(item_id)
        if item is None:
            raise HTTPException(404, f"no item {item_id!r}")
        return item

    def scan_thumbnail(self, item: Item) -> bytes | None:
        """The thumbnail the scan made of ``item`` (from the scan's cache), if it is scanned."""
        sha = (self.records.get(item.id) or {}).get("sha256")
        entry = self.scan_cache.get(sha) if sha else None
        return entry.thumbnail if entry is not None else None

    def item_view(self, item: Item) -> dict[str, Any]:
        record = self.records.get(item.id)
        view = item.to_dict()
        view["scanned"] = record is not None
        if record is not None:
            error = record.get("error") or {}
            view.update({
                "status": record["status"], "kind": record["kind"], "width": record["width"], "height": record["height"],
                "faces": [{**face, "recognisable": RECOGNISABLE.get(str(face.get("identifiability")), "")}
                          for face in record["faces"]],
                "found": describe_categories([key for key in record["categories"] if key != "faces"]),
                "risks": record["risks"],
                "error": None if not error else {"type": error.get("type"),
                                                 "message": self.workspace.in_users_words(item, error.get("message")),
                                                 "plain": PROBLEMS.get(str(error.get("type")), "Could not be checked")},
            })
        return view

    def scan(self, ids: list[str], progress: Progress) -> dict[str, Any]:
        """Scan ``ids`` with every item already scanned, so people are linked across all of them (the runner's
        manifest skips what is done: only the new files are computed)."""
        items = [item for item in self.workspace.items() if item.id in set(ids) or item.id in self.records]
        by_source = self.workspace.by_source()
        progress.step(0, len(items), "scanning")
        done = 0

        def each(scan: Any) -> None:
            nonlocal done
            done += 1
            item = by_source.get(Path(scan.path).resolve())
            if item is not None:
                self.records[item.id] = file_record(scan)
                progress.step(done, event={"item": self.item_view(item)})
            else:
                progress.step(done)

        result = scan_collection([self.workspace.source(item) for item in items], self.scan_settings, progress=each)
        try:
            for record in result.report["files"]:
                item = by_source.get(Path(record["path"]).resolve())
                if item is not None:
                    self.records[item.id] = record
            names = {str(self.workspace.source(item)): item.id for item in items}
            self.persons = [{**person, "items": [names[path] for path in person["files"] if path in names]}
                            for person in result.report["persons"]]
        finally:
            result.close()
        return {"summary": result.report["summary"]}


def create_app(workspace: Workspace, secret: str, port: int) -> tuple[Any, State]:
    """The ASGI app (FastAPI inside its guard) and its state; ``port`` is the one the server listens on."""
    state = State(workspace)
    api = FastAPI(title="bioveil app", version=__version__, openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None, description="The local API of `bioveil app`. Every request needs the app's secret.")

    @api.get("/", include_in_schema=False)
    def page() -> Response:
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-store"})

    @api.get("/api/state")
    def get_state() -> dict[str, Any]:
        """Every item with its scan record, the people linked across them, the settings and the jobs."""
        return {"version": __version__, "items": [state.item_view(item) for item in workspace.items()],
                "persons": state.persons, "settings": state.settings.to_dict(),
                "jobs": [job.to_dict() for job in state.jobs.all()]}

    @api.put("/api/items")
    async def upload(request: Request, name: str) -> dict[str, Any]:
        """Stream one file (the request body) into the workspace; ``name`` is the user's file name."""
        try:
            item = await workspace.receive(name, request.stream())
        except UploadTooLargeError as exc:
            raise HTTPException(413, str(exc)) from exc
        except BioveilError as exc:
            raise HTTPException(415, f"{type(exc).__name__}: {exc}") from exc
        return state.item_view(item)

    @api.delete("/api/items/{item_id}")
    def remove(item_id: str) -> dict[str, bool]:
        state.item(item_id)
        workspace.remove(item_id)
        state.records.pop(item_id, None)
        return {"removed": True}

    @api.put("/api/items/{item_id}/edits")
    def set_edits(item_id: str, edits: EditsIn) -> dict[str, Any]:
        """The hand edits of one photo: faces kept unmasked, boxes drawn, cloaked instead of masked."""
        item = state.item(item_id)
        workspace.set_edits(item.id, Edits(edits.keep, edits.draw, edits.cloak))
        return state.item_view(item)

    @api.put("/api/settings")
    def set_settings(settings: SettingsIn) -> dict[str, Any]:
        state.settings = AppSettings(settings.method, settings.shape)
        return state.settings.to_dict()

    @api.post("/api/scan")
    def scan(request: ScanIn) -> dict[str, Any]:
        """Scan the new items (faces, people, metadata) as a background job."""
        ids = request.ids if request.ids is not None else [item.id for item in workspace.items() if item.id not in state.records]
        job = state.jobs.submit("scan", lambda progress: state.scan(ids, progress))
        return job.to_dict()

    @api.post("/api/export")
    def export() -> dict[str, Any]:
        """Mask (or cloak) every item with its edits, then zip the results, as a background job."""
        job = state.jobs.submit("export", lambda progress: export_all(workspace, state.settings, state.records,
                                                                        state.outputs, progress))
        return job.to_dict()

    @api.get("/api/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        job = state.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.to_dict()

    @api.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, bool]:
        return {"cancelled": state.jobs.cancel(job_id)}

    @api.get("/api/events", include_in_schema=False)
    async def events(request: Request) -> StreamingResponse:
        """Server-sent events: every job's progress and every file's result as it comes."""
        listener = state.jobs.listen()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                while not await request.is_disconnected():
                    try:
                        message = await asyncio.to_thread(listener.get, True, 1.0)
                    except queue.Empty:
                        yield b": keep-alive\n\n"
                        continue
                    yield f"data: {json.dumps(message)}\n\n".encode()
            finally:
                state.jobs.forget(listener)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    @api.get("/api/items/{item_id}/thumbnail")
    def thumbnail(item_id: str) -> Response:
        """A thumbnail (longest side 320 px) made from the file's pixels, never from its embedded preview: the scan's
        own once the file is scanned. An item's content never changes, so the browser may keep it."""
        item = state.item(item_id)
        return _jpeg(state.scan_thumbnail(item) or _preview(workspace.source(item), THUMBNAIL_SIDE, workspace), IMMUTABLE)

    @api.get("/api/items/{item_id}/preview")
    def preview(item_id: str, masked: bool = False, full: bool = False) -> Response:
        """The photo as the editor shows it (longest side 1,600 px; ``full``: its own size), before or after masking."""
        item = state.item(item_id)
        side = None if full else PREVIEW_SIDE
        if not masked:
            return _jpeg(_preview(workspace.source(item), side, workspace))
        try:
            output = preview_masked(workspace, item, state.settings)
        except BioveilError as exc:
            raise HTTPException(422, f"{type(exc).__name__}: {exc}") from exc
        return _jpeg(_preview(output, side, workspace))

    @api.get("/api/items/{item_id}/download")
    def download_item(item_id: str) -> FileResponse:
        """One item's masked (or cloaked) file, under its own name, once an export made it."""
        item = state.item(item_id)
        done = state.outputs.get(item.id)
        if done is None:
            raise HTTPException(409, "not exported yet: press Download all first")
        path, name = done
        return FileResponse(path, filename=name)

    @api.get("/api/downloads/{job_id}.zip")
    def download_zip(job_id: str) -> FileResponse:
        job = state.jobs.get(job_id)
        if job is None or job.state != "done" or "zip" not in job.result:
            raise HTTPException(404, "no finished export of that name")
        return FileResponse(job.result["zip"], filename="bioveil-masked.zip", media_type="application/zip")

    api.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return Guard(api, secret, port), state


def _jpeg(data: bytes, cache: str = "no-store") -> Response:
    return Response(data, media_type="image/jpeg", headers={"cache-control": cache})


def _preview(path: Path, side: int | None, workspace: Workspace) -> bytes:
    """A JPEG of ``path`` with its longest side at most ``side`` (cached in the workspace by file, version and size)."""
    import cv2
    from PIL import Image

    found = path.stat()  # uploads never change; a masked output changes with its edits, and its size or time with it
    key = f"{path.parent.name}-{path.name}-{found.st_size}-{found.st_mtime_ns}-{side or 'full'}.jpg"
    cached = workspace.folder("previews") / key
    if cached.exists():
        return cached.read_bytes()
    try:
        pixels = read_image(path).pixels
    except MediaError:
        pixels = _video_frame(path)
    height, width = pixels.shape[:2]
    scale = 1.0 if side is None else min(1.0, side / max(height, width))
    if scale < 1:
        pixels = cv2.resize(pixels, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=88)
    cached.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _video_frame(path: Path) -> Any:
    from bioveil.media.video import Frame, VideoReader

    try:
        with VideoReader(path) as reader:
            for item in reader.read():
                if isinstance(item, Frame):
                    return item.rgb()
    except BioveilError as exc:
        raise HTTPException(422, f"{type(exc).__name__}: {exc}") from exc
    raise HTTPException(422, "no picture in this file")


def new_secret() -> str:
    return secrets.token_urlsafe(32)
