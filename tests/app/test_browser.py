"""``bioveil app`` driven as a user drives it, in Debian's Chromium (Playwright, see ``tests/scan/browser.py``).

Real files go in through the page's file picker; the zip the page offers is downloaded and read back pixel
by pixel and for its metadata. Every request the page makes is watched: anything not to the app's own
address is recorded and aborted. Screenshots of the main screens go to ``test-artifacts/app_*.png``.
"""

from __future__ import annotations

import contextlib
import io
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bioveil.detection.boxes import iou_matrix
from bioveil.media.image import read_image
from tests.app.running import Running, running_app
from tests.scan.browser import chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# A WIDER FACE photo with three faces the audit's detector finds and one, cut by the left edge, it misses.
GROUP = "wider_face/images/12--Group/12_Group_Team_Organized_Group_12_Group_Team_Organized_Group_12_850.jpg"
KEPT_FACE = [471.0, 167.0, 599.0, 328.0]  # annotated boxes of that photo: the face the user keeps unmasked
OTHER_FACE = [269.0, 234.0, 406.0, 376.0]
MISSED_FACE = [0.0, 93.0, 50.0, 302.0]  # the face the user draws a box over
HEIC = "exif_samples/heic/mobile/iphone_13_pro_max.HEIC"
WITH_GPS = "exif_samples/jpg/gps/DSCN0010.jpg"
LOADED = "() => { const image = document.getElementById('stage-img'); return image.complete && image.naturalWidth > 0; }"


@dataclass
class Tab:
    page: Any
    app: Running
    console_errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def wait_checked(self, count: int) -> None:
        """Until ``count`` cards are there and none is still uploading or waiting for the scan."""
        self.page.wait_for_function(
            "n => { const cards = [...document.querySelectorAll('.card')]; return cards.length === n && "
            "!cards.some(c => /uploading|waiting/.test(c.textContent)); }", arg=count, timeout=300_000)

    def card(self, name: str) -> Any:
        return self.page.locator(f'.card[data-name="{name}"]')

    def face_boxes(self, name: str, width: int, height: int) -> np.ndarray:
        """The face buttons of a card, as boxes in the photo's pixels (from their place on the thumbnail)."""
        styles = self.card(name).locator(".face").evaluate_all(
            "nodes => nodes.map(n => [n.style.left, n.style.top, n.style.width, n.style.height].map(parseFloat))")
        boxes = [[x * width / 100, y * height / 100, (x + w) * width / 100, (y + h) * height / 100] for x, y, w, h in styles]
        return np.array(boxes, np.float32).reshape(-1, 4)

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"app_{name}.png"), full_page=True)

    def download_zip(self, tmp_path: Path) -> zipfile.ZipFile:
        self.page.click("#export")
        self.page.wait_for_selector("#zip:not([hidden])", timeout=600_000)
        with self.page.expect_download() as info:
            self.page.click("#zip")
        target = tmp_path / "download.zip"
        info.value.save_as(target)
        return zipfile.ZipFile(target)


@contextlib.contextmanager
def tab(tmp_path: Path, *switches: str, permissions: tuple[str, ...] = ()) -> Iterator[Tab]:
    with running_app(tmp_path / "app") as app, chromium(*switches) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, service_workers="block",
                                      permissions=list(permissions))
        page = context.new_page()
        seen = Tab(page, app)
        page.on("console", lambda message: seen.console_errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: seen.console_errors.append(f"uncaught: {error}"))

        def route(route: Any) -> None:
            if route.request.url.startswith(app.base + "/"):
                route.continue_()
            else:
                seen.outside.append(route.request.url)
                route.abort()

        page.route("**/*", route)
        page.goto(f"{app.base}/?token={app.secret}")
        assert page.url == app.base + "/"  # the secret left the address bar for a cookie
        try:
            yield seen
        finally:
            context.close()


def _patch(path_or_bytes: Any, box: list[float]) -> np.ndarray:
    pixels = np.asarray(Image.open(path_or_bytes).convert("RGB"), np.float32)
    x1, y1, x2, y2 = (round(v) for v in box)
    return pixels[y1:y2, x1:x2]


def _detail(patch: np.ndarray) -> float:
    """Fine detail of a patch: the mean absolute difference between neighbouring pixels."""
    grey = patch.mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def test_a_user_checks_edits_and_downloads_a_batch(data: Path, tmp_path: Path) -> None:
    group, heic, gps = data / GROUP, data / HEIC, data / WITH_GPS
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(group.read_bytes()[:3000])  # a download cut short
    with tab(tmp_path) as seen:
        page = seen.page
        page.set_input_files("#pick-files", [str(group), str(heic), str(gps), str(broken)])
        seen.wait_checked(4)
        page.wait_for_selector("#progress", state="hidden")  # the scan's bar goes once it is done
        seen.screenshot("checked")

        # The faces are shown where the annotations say.
        shown = seen.face_boxes(group.name, 1024, 678)
        annotated = np.array([KEPT_FACE, OTHER_FACE, [670.0, 266.0, 703.0, 313.0]], np.float32)
        assert len(shown) == 3
        assert (iou_matrix(annotated, shown).max(axis=1) > 0.5).all()
        assert iou_matrix(np.array([MISSED_FACE], np.float32), shown).max() < 0.1
        # The broken file says what it is, in words, and the rest went on.
        broken_card = seen.card("broken.jpg")
        assert "CorruptMediaError" in broken_card.inner_text() and "Damaged" in broken_card.inner_text()
        assert str(seen.app.workspace.path) not in broken_card.inner_text()  # the name the user knows, not our path
        assert "Location" in seen.card(gps.name).inner_text()

        # Keep one face unmasked from the grid; draw over the missed face in the editor.
        kept_index = int(iou_matrix(np.array([KEPT_FACE], np.float32), shown)[0].argmax())
        face = seen.card(group.name).locator(f'.face[data-face="{kept_index}"]')
        face.click()
        page.wait_for_selector(f'.card[data-name="{group.name}"] .face[data-face="{kept_index}"][aria-pressed="true"]')
        seen.card(group.name).get_by_role("button", name="Open and edit").click()
        page.click("#draw")
        image = page.locator("#stage-img")
        image.wait_for()
        page.wait_for_function(LOADED)
        rect = image.bounding_box()
        scale = rect["width"] / 1024
        x1, y1, x2, y2 = MISSED_FACE
        page.mouse.move(rect["x"] + (x1 + 1) * scale, rect["y"] + (y1 - 4) * scale)
        page.mouse.down()
        page.mouse.move(rect["x"] + (x2 + 4) * scale, rect["y"] + (y2 + 4) * scale, steps=5)
        page.mouse.up()
        page.wait_for_selector("#stage-boxes .face.drawn")
        page.click("#show-after")
        page.wait_for_function(f"() => document.getElementById('stage-img').src.includes('masked') && ({LOADED})()")
        seen.screenshot("editor")
        page.click("#editor-close")

        archive = seen.download_zip(tmp_path)
        seen.screenshot("downloaded")
        names = sorted(archive.namelist())
        assert names == sorted([group.name, heic.name, gps.name]), names  # the user's names, the broken file left out
        assert "broken.jpg" in page.locator("#result-files").inner_text()

        masked = io.BytesIO(archive.read(group.name))
        original_kept, after_kept = _patch(group, KEPT_FACE), _patch(masked, KEPT_FACE)
        assert np.abs(after_kept - original_kept).mean() < 3  # the kept face: untouched but for JPEG re-encoding
        for box in (OTHER_FACE, MISSED_FACE):  # the masked face and the drawn box: their detail is gone
            before, after = _patch(group, box), _patch(masked, box)
            assert np.abs(after - before).mean() > 8, box
            assert _detail(after) < 0.35 * _detail(before), box

        for name in names:  # no metadata left: no EXIF (GPS, time, camera), no XMP
            image_file = Image.open(io.BytesIO(archive.read(name)))
            assert not image_file.getexif(), name
            assert not image_file.info.get("xmp") and not image_file.info.get("exif"), name
        gps_before = read_image(gps)
        gps_after = np.asarray(Image.open(io.BytesIO(archive.read(gps.name))).convert("RGB"))
        assert gps_after.shape == gps_before.pixels.shape
        heic_out = Image.open(io.BytesIO(archive.read(heic.name)))
        assert heic_out.format == "HEIF"  # the same file type back

        assert seen.outside == []
        assert seen.console_errors == []


def test_a_video_keeps_its_sound_through_the_download(data: Path, tmp_path: Path) -> None:
    import av

    video = data / "video" / "street_faces.mp4"
    with tab(tmp_path) as seen:
        seen.page.set_input_files("#pick-files", [str(video)])
        seen.wait_checked(1)
        assert "video" in seen.card(video.name).inner_text()
        archive = seen.download_zip(tmp_path)
        assert archive.namelist() == [video.name]
        target = tmp_path / "masked.mp4"
        target.write_bytes(archive.read(video.name))
        with av.open(str(target)) as container, av.open(str(video)) as source:
            assert len(container.streams.audio) == 1
            assert container.streams.video[0].frames == source.streams.video[0].frames
        assert seen.outside == [] and seen.console_errors == []


def test_a_photo_taken_with_the_camera_is_checked(tmp_path: Path) -> None:
    # Chromium's fake camera: a moving test pattern, given without asking (a real one asks the user).
    fake = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
    with tab(tmp_path, *fake, permissions=("camera",)) as seen:
        page = seen.page
        page.click("#camera")
        page.wait_for_function("() => document.getElementById('camera-video').videoWidth > 0", timeout=30_000)
        page.click("#camera-shoot")
        seen.wait_checked(1)
        name = page.locator(".card").get_attribute("data-name")
        assert name is not None and name.startswith("camera-") and name.endswith(".jpg")
        assert "0 faces" in page.locator(".card").inner_text()  # a test pattern has none
        assert not page.locator("#camera-dialog").evaluate("dialog => dialog.open")
        (item,) = seen.app.workspace.items()
        assert read_image(seen.app.workspace.source(item)).pixels.shape[0] > 0
        assert seen.outside == [] and seen.console_errors == []


def test_every_control_is_reached_with_the_keyboard(data: Path, tmp_path: Path) -> None:
    with tab(tmp_path) as seen:
        page = seen.page
        page.set_input_files("#pick-files", [str(data / GROUP)])
        seen.wait_checked(1)
        controls = page.evaluate(
            "() => [...document.querySelectorAll('button, input, select, a[href]')]"
            ".filter(n => n.offsetParent !== null || n.type === 'file').filter(n => !n.closest('dialog'))"
            ".map(n => n.id || n.getAttribute('aria-label') || n.textContent.trim())")
        reached = []
        for _ in range(len(controls) * 2 + 5):
            page.keyboard.press("Tab")
            reached.append(page.evaluate("() => { const n = document.activeElement; "
                                         "return n.id || n.getAttribute('aria-label') || n.textContent.trim(); }"))
        missing = [control for control in controls if control not in reached]
        assert not missing, missing
        # The editor's controls too, once it is open.
        page.locator(".card").get_by_role("button", name="Open and edit").press("Enter")
        page.wait_for_selector("#editor[open]")
        inside = []
        for _ in range(12):
            page.keyboard.press("Tab")
            inside.append(page.evaluate("() => document.activeElement.id"))
        assert {"show-after", "draw", "cloak", "editor-close"} <= set(inside), inside
        assert seen.console_errors == []


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("the app's workspace lock is POSIX flock")
