"""``bioveil app`` in Debian's Chromium (Playwright, ``tests/scan/browser.py``): how long a drop takes to be
checked, what the tab's memory holds after 300 photos, and how fast the start page loads.

1. **Drop to every face shown.** 50 WIDER FACE photos (sorted paths, every k-th, so spread over the
   events). ``bioveil scan DIR --json OUT`` (CLI, subprocess, empty ``--cache`` folder, wall clock with
   start-up and model loading) against the app: a fresh ``running_app`` workspace, the page opened with
   its secret, timed from ``page.set_input_files("#pick-files", files)`` until every card is checked
   (``Tab.wait_checked`` of ``tests/app/test_browser.py``). The app's models load lazily at its first
   scan, so every app round runs in a fresh Python process (this file with ``--child``) and pays that
   load, as the CLI pays its own. Order scan, app, scan, app; ratio app/scan per round and best against
   best (target at most 1.25x). The app's time is split by the scan job's events (as the page hears them):
   the uploads until the job began, the job's start to its first file (the models load), first to last
   file, and the last file to every card checked. The faces each file got are compared between the two.
2. **The tab's JavaScript heap after 300 photos** (every k-th of the sorted paths) uploaded through the
   page and checked: ``HeapProfiler.collectGarbage`` then ``Performance.getMetrics`` over CDP,
   JSHeapUsedSize in MB (10^6 bytes; target under 150 MB); the <img> elements and whether each is a
   thumbnail (naturalWidth <= 320), read again after scrolling through the grid so every lazy thumbnail
   loads.
3. **First page load on loopback**: ``page.goto`` of the start page with the secret (its redirect to
   ``/`` included) until the ``load`` event, 5 times, each in a fresh browser context, on an empty
   workspace (and, for comparison, on the 300-photo one); median (target under 1 s).

The page is not routed through Playwright (as the tests do) so that no request pays a round trip to
this process; requests to anything but the app are only recorded.

    nice -n 5 .venv/bin/python bench/app.py [--drop 50] [--rounds 2] [--heap 300] [--loads 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.app.running, tests.app.test_browser, tests.scan.browser
sys.path.insert(0, str(Path(__file__).resolve().parent))

from wider_data import DATA

ROOT = Path(__file__).resolve().parents[1]

TARGET_RATIO = 1.25
TARGET_HEAP_MB = 150.0
TARGET_LOAD_S = 1.0
THUMBNAIL_SIDE = 320
WAIT_S = 3600  # the longest a child waits for its cards (Tab.wait_checked gives up after 300 s: it is called again)


def wider_photos(count: int) -> list[Path]:
    """``count`` WIDER FACE photos: the sorted paths, every k-th (k = all // count), the first ``count`` of those."""
    photos = sorted((DATA / "wider_face" / "images").glob("**/*.jpg"))
    if count >= len(photos):
        return photos
    return photos[:: len(photos) // count][:count]


# ------------------------------------------------------------------------------------------- the parent


def cli_scan(photos: list[Path]) -> dict[str, Any]:
    """``bioveil scan`` on a folder of ``photos`` (copied to a temporary folder, never into the repository)."""
    with tempfile.TemporaryDirectory(prefix="bench-app-scan-") as temporary:
        root = Path(temporary)
        folder = root / "photos"
        folder.mkdir()
        for photo in photos:
            shutil.copy(photo, folder / photo.name)
        command = [str(Path(sys.executable).parent / "bioveil"), "scan", str(folder), "--json", str(root / "scan.json"),
                   "--cache", str(root / "cache"), "--no-progress"]
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        if done.returncode not in (0, 1):  # 1: some files failed, the rest were scanned
            raise RuntimeError(f"bioveil scan exited {done.returncode}: {done.stderr[-2000:]}")
        report = json.loads((root / "scan.json").read_text())
    faces = {Path(record["path"]).name: len(record["faces"]) for record in report["files"]}
    failed = sum(record["status"] != "ok" for record in report["files"])
    return {"seconds": seconds, "faces": faces, "failed": failed, "exit": done.returncode}


def child(kind: str, photos: list[Path], loads: int) -> dict[str, Any]:
    """Run one app measurement in a fresh Python process (this file with ``--child``)."""
    with tempfile.TemporaryDirectory(prefix="bench-app-child-") as temporary:
        listing, out = Path(temporary) / "files.json", Path(temporary) / "out.json"
        listing.write_text(json.dumps([str(photo) for photo in photos]))
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind, "--files", str(listing),
                        "--out", str(out), "--loads", str(loads)], check=True)
        return json.loads(out.read_text())


# ------------------------------------------------------------------------------------------- the children


class Page:
    """A page on a running app (no request routing), with what it did: console errors, outside requests,
    thumbnail requests."""

    def __init__(self, browser: Any, app: Any) -> None:
        from tests.app.test_browser import Tab

        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        self.page = self.context.new_page()
        self.tab = Tab(self.page, app)
        self.thumbnails = 0
        self.page.on("console", lambda message: self.tab.console_errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.tab.console_errors.append(f"uncaught: {error}"))
        self.page.on("request", self._request)
        self.page.on("response", lambda response: self.tab.console_errors.append(f"{response.status} {response.url}")
                     if response.status >= 400 else None)
        self.page.goto(f"{app.base}/?token={app.secret}")
        assert self.page.url == app.base + "/", self.page.url

    def _request(self, request: Any) -> None:
        url = request.url
        if not url.startswith(self.tab.app.base + "/"):
            self.tab.outside.append(url)
        elif url.endswith("/thumbnail"):
            self.thumbnails += 1

    def drop(self, photos: list[Path]) -> float:
        """Seconds from handing ``photos`` to the file picker until every card is checked."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        started = time.perf_counter()
        self.page.set_input_files("#pick-files", [str(photo) for photo in photos])
        deadline = started + WAIT_S
        while True:
            try:
                self.tab.wait_checked(len(photos))
                break
            except PlaywrightTimeout:
                if time.perf_counter() > deadline:
                    raise
        return time.perf_counter() - started

    def cards(self) -> dict[str, int]:
        return self.page.evaluate("() => ({cards: document.querySelectorAll('.card').length, "
                                  "failed: document.querySelectorAll('.card.failed').length, "
                                  "faces: document.querySelectorAll('.card .face').length})")

    def heap(self) -> dict[str, float]:
        client = self.context.new_cdp_session(self.page)
        client.send("HeapProfiler.collectGarbage")
        client.send("Performance.enable")
        metrics = {entry["name"]: entry["value"] for entry in client.send("Performance.getMetrics")["metrics"]}
        client.detach()
        return {"js_heap_used_mb": metrics["JSHeapUsedSize"] / 1e6, "js_heap_total_mb": metrics["JSHeapTotalSize"] / 1e6,
                "nodes": metrics.get("Nodes", 0), "listeners": metrics.get("JSEventListeners", 0)}

    def images(self) -> dict[str, int]:
        """The cards' <img> elements (and every <img> of the page, the editor's empty one included)."""
        return self.page.evaluate(
            "() => { const images = [...document.querySelectorAll('.card img')]; return {count: images.length, "
            "all: document.images.length, "
            "loaded: images.filter(i => i.complete && i.naturalWidth > 0).length, "
            f"thumbnails: images.filter(i => i.naturalWidth > 0 && i.naturalWidth <= {THUMBNAIL_SIDE} "
            f"&& i.naturalHeight <= {THUMBNAIL_SIDE}).length, "
            "max_width: Math.max(0, ...images.map(i => i.naturalWidth)), "
            "max_height: Math.max(0, ...images.map(i => i.naturalHeight))}; }")

    def scroll_through(self) -> None:
        """Scroll down the grid a screen at a time so every lazy thumbnail loads, then wait for them."""
        y = 0  # the page grows as thumbnails load: scroll until the bottom stays the bottom
        while y < self.page.evaluate("() => document.documentElement.scrollHeight"):
            self.page.evaluate(f"() => window.scrollTo(0, {y})")
            self.page.wait_for_timeout(100)
            y += 600
        self.page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=120_000)


def page_loads(browser: Any, app: Any, count: int) -> list[dict[str, float]]:
    """``count`` loads of the start page with the secret, each in a fresh context: goto until ``load``."""
    out = []
    for _ in range(count):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        page = context.new_page()
        started = time.perf_counter()
        page.goto(f"{app.base}/?token={app.secret}", wait_until="load")
        seconds = time.perf_counter() - started
        navigation = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0]; "
                                   "return {load: n.loadEventEnd, redirects: n.redirectCount, url: location.href}; }")
        assert navigation["url"] == app.base + "/", navigation
        out.append({"goto_s": seconds, "navigation_load_s": navigation["load"] / 1000, "redirects": navigation["redirects"]})
        context.close()
    return out


class JobClock:
    """When the app's scan began and when its files came, heard as the page hears them (the jobs' events)."""

    def __init__(self, app: Any) -> None:
        self.jobs = app.state.jobs
        self.events = self.jobs.listen()
        self.begun: float | None = None
        self.files: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hear, daemon=True)
        self._thread.start()

    def _hear(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            if message["type"] == "file":
                self.files.append(time.monotonic())
            elif message["job"]["kind"] == "scan" and message["job"]["state"] == "running" and self.begun is None:
                self.begun = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.jobs.forget(self.events)

    def split(self, started: float, seconds: float) -> dict[str, float | None]:
        """Seconds from the drop until the scan job began (the uploads), from then to its first file (the models
        load), from its first to its last file, and from its last file until the page showed every card checked."""
        if self.begun is None or not self.files:
            return {"upload_s": None, "first_file_s": None, "files_s": None, "after_s": None}
        return {"upload_s": self.begun - started, "first_file_s": self.files[0] - self.begun,
                "files_s": self.files[-1] - self.files[0], "after_s": started + seconds - self.files[-1]}


def run_child(kind: str, photos: list[Path], loads: int) -> dict[str, Any]:
    from tests.app.running import running_app
    from tests.scan.browser import chromium

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-app-") as temporary, \
            running_app(Path(temporary) / "app") as app, chromium() as browser:
        if kind == "loads":
            result["loads"] = page_loads(browser, app, loads)
            return result
        page = Page(browser, app)
        clock = JobClock(app)
        started = time.monotonic()
        result["seconds"] = page.drop(photos)
        clock.stop()
        result.update(clock.split(started, result["seconds"]))
        result["scan_jobs"] = len([job for job in app.state.jobs.all() if job.kind == "scan"])
        names = {item.id: item.name for item in app.workspace.items()}
        result["faces"] = {names[item_id]: len(record["faces"]) for item_id, record in app.state.records.items()}
        result["failed"] = sum(record["status"] != "ok" for record in app.state.records.values())
        result["cards"] = page.cards()
        result["thumbnail_requests"] = page.thumbnails
        if kind == "heap":
            result["heap"] = page.heap()
            result["images"] = page.images()
            page.scroll_through()
            result["heap_scrolled"] = page.heap()
            result["images_scrolled"] = page.images()
            result["thumbnail_requests_scrolled"] = page.thumbnails
            result["loads_full"] = page_loads(browser, app, loads)
        result["console_errors"] = page.tab.console_errors
        result["outside"] = page.tab.outside
        page.context.close()
    return result


# ------------------------------------------------------------------------------------------- the report


def agreement(cli: dict[str, int], app: dict[str, int]) -> str:
    same = sum(cli.get(name) == count for name, count in app.items())
    differ = {name: (cli.get(name), count) for name, count in app.items() if cli.get(name) != count}
    return f"{same}/{len(cli)} files with the same faces" + (f"; differ (cli, app): {differ}" if differ else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drop", type=int, default=50, help="photos dropped for the time to checked")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of scan, app")
    parser.add_argument("--heap", type=int, default=300, help="photos uploaded before reading the heap")
    parser.add_argument("--loads", type=int, default=5, help="start page loads")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--child", choices=["drop", "heap", "loads"], help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        photos = [Path(path) for path in json.loads(args.files.read_text())]
        args.out.write_text(json.dumps(run_child(args.child, photos, args.loads)))
        return 0

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True).stdout)
    load_before = os.getloadavg()
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}, commit {commit}{' (src/ modified)' if dirty else ''}, "
          f"{os.cpu_count()} CPUs, load {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} before", flush=True)

    dropped = wider_photos(args.drop)
    print(f"\n1. Drop to every face shown: {len(dropped)} WIDER FACE photos", flush=True)
    rounds = []
    for number in range(1, args.rounds + 1):
        scan = cli_scan(dropped)
        print(f"round {number}: bioveil scan {scan['seconds']:.1f} s", flush=True)
        app = child("drop", dropped, 0)
        ratio = app["seconds"] / scan["seconds"]
        print(f"round {number}: app {app['seconds']:.1f} s ({_split(app)}, {app['thumbnail_requests']} thumbnail requests), "
              f"app/scan {ratio:.2f}x; "
              f"{agreement(scan['faces'], app['faces'])}", flush=True)
        rounds.append({"scan": scan, "app": app, "ratio": ratio})
    best_scan = min(entry["scan"]["seconds"] for entry in rounds)
    best_app = min(entry["app"]["seconds"] for entry in rounds)

    heaped = wider_photos(args.heap)
    print(f"\n2. Heap after {len(heaped)} photos", flush=True)
    heap = child("heap", heaped, args.loads)
    print(f"app {heap['seconds']:.1f} s to check {len(heaped)} photos ({_split(heap)}, "
          f"{heap['thumbnail_requests']} thumbnail requests); cards {heap['cards']}; heap {heap['heap']}; "
          f"images {heap['images']}; "
          f"after scrolling: heap {heap['heap_scrolled']}, images {heap['images_scrolled']}, "
          f"{heap['thumbnail_requests_scrolled']} thumbnail requests in all", flush=True)

    print(f"\n3. Start page loads ({args.loads}, fresh contexts)", flush=True)
    loads = child("loads", [], args.loads)["loads"]
    load_median = statistics.median(entry["goto_s"] for entry in loads)
    full_median = statistics.median(entry["goto_s"] for entry in heap["loads_full"])
    print("empty workspace, goto s: " + ", ".join(f"{entry['goto_s']:.3f}" for entry in loads)
          + "; navigation timing load s: " + ", ".join(f"{entry['navigation_load_s']:.3f}" for entry in loads))
    print(f"{len(heaped)}-photo workspace, goto s: " + ", ".join(f"{entry['goto_s']:.3f}" for entry in heap["loads_full"]))
    load_after = os.getloadavg()

    images = heap["images_scrolled"]
    rows = []
    for number, entry in enumerate(rounds, 1):
        rows.append((f"round {number}: `bioveil scan`, {len(dropped)} photos (CLI, empty cache)",
                     f"{entry['scan']['seconds']:.1f} s", ""))
        rows.append((f"round {number}: app, drop to every card checked", f"{entry['app']['seconds']:.1f} s", ""))
        rows.append((f"round {number}: app: uploads / scan job to its first file / first to last file / last file to checked",
                     "{upload_s:.1f} / {first_file_s:.1f} / {files_s:.1f} / {after_s:.2f} s".format(**entry["app"]), ""))
        rows.append((f"round {number}: app / scan", f"{entry['ratio']:.2f}x",
                     _met(entry["ratio"] <= TARGET_RATIO, f"<= {TARGET_RATIO}x")))
    rows.append(("best app / best scan", f"{best_app:.1f} / {best_scan:.1f} s = {best_app / best_scan:.2f}x",
                 _met(best_app / best_scan <= TARGET_RATIO, f"<= {TARGET_RATIO}x")))
    rows.append((f"app, {len(heaped)} photos: drop to every card checked", f"{heap['seconds']:.1f} s", ""))
    rows.append((f"JS heap used after {len(heaped)} photos checked (after GC)", f"{heap['heap']['js_heap_used_mb']:.1f} MB",
                 _met(heap["heap"]["js_heap_used_mb"] < TARGET_HEAP_MB, f"< {TARGET_HEAP_MB:.0f} MB")))
    rows.append(("JS heap used after scrolling through every thumbnail (after GC)",
                 f"{heap['heap_scrolled']['js_heap_used_mb']:.1f} MB",
                 _met(heap["heap_scrolled"]["js_heap_used_mb"] < TARGET_HEAP_MB, f"< {TARGET_HEAP_MB:.0f} MB")))
    rows.append(("cards' <img> elements after scrolling (loaded; thumbnails <= 320 px)",
                 f"{images['count']} ({images['loaded']}; {images['thumbnails']}), "
                 f"largest {images['max_width']}x{images['max_height']}",
                 _met(images["count"] == len(heaped) and images["thumbnails"] == images["count"], "all thumbnails")))
    rows.append((f"start page load, median of {len(loads)} (empty workspace)", f"{load_median * 1000:.0f} ms",
                 _met(load_median < TARGET_LOAD_S, f"< {TARGET_LOAD_S:.0f} s")))
    rows.append((f"start page load, median of {len(heap['loads_full'])} ({len(heaped)}-photo workspace)",
                 f"{full_median * 1000:.0f} ms",
                 _met(full_median < TARGET_LOAD_S, f"< {TARGET_LOAD_S:.0f} s")))
    print("\n| figure | value | target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    problems = {f"round {n}": (e["app"]["console_errors"], e["app"]["outside"]) for n, e in enumerate(rounds, 1)}
    problems["heap"] = (heap["console_errors"], heap["outside"])
    print(f"\nconsole errors and requests outside the app: {problems}")
    print(f"load {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} after")

    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "commit": commit, "src_modified": dirty,
            "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after,
            "drop": {"photos": [str(path.relative_to(DATA)) for path in dropped], "rounds": rounds,
                     "best_scan_s": best_scan, "best_app_s": best_app, "best_ratio": best_app / best_scan},
            "heap": {"photos": len(heaped), **heap},
            "loads": {"empty": loads, "median_s": load_median, "full_median_s": full_median},
        }, indent=1))
    return 0


def _split(app: dict[str, Any]) -> str:
    return ("uploads until the scan job began {upload_s:.1f} s, then its first file {first_file_s:.1f} s, first to last file "
            "{files_s:.1f} s, last file to every card checked {after_s:.2f} s").format(**app)


def _met(ok: bool, target: str) -> str:
    return f"{target}: {'met' if ok else 'NOT met'}"


if __name__ == "__main__":
    sys.exit(main())
