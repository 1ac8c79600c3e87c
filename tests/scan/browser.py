"""Open a local HTML file in headless Chromium and record what it did: console errors, requests, images.

Debian's Chromium (``apt-get install chromium``) driven by Playwright for Python; Playwright's own browser
download is never used. Without Chromium or Playwright, :func:`require_browser` skips the test, or fails it
when BIOVEIL_REQUIRE_DATA=1 (as in CI), like the ``data`` fixture.

Every request the page makes is intercepted: the page itself and ``data:`` URIs are let through, anything
else is recorded in :attr:`Visit.blocked` and aborted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("BIOVEIL_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> None:
    """Skip the test without Chromium or Playwright; fail it instead under BIOVEIL_REQUIRE_DATA=1."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set BIOVEIL_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Playwright for Python is not installed (pip install playwright; never `playwright install`)")
    if problems:
        message = "; ".join(problems)
        if os.environ.get("BIOVEIL_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def chromium(*extra: str) -> Iterator[Browser]:
    """A headless Chromium for the length of the block; ``extra``: more command-line switches."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*ARGS, *extra])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """What the page did while it loaded."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def images(self) -> list[dict[str, Any]]:
        """Every <img>: whether it finished loading, its natural width and the start of its src."""
        return self.page.evaluate(
            "() => Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth,"
            " src: i.getAttribute('src').slice(0, 30)}))")

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()


@contextlib.contextmanager
def visit(browser: Browser, path: Path, *, bypass_csp: bool = False, width: int = 1200) -> Iterator[Visit]:
    """Load ``path`` (file://) in a fresh context; with ``bypass_csp`` the page's own CSP is ignored."""
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=bypass_csp,
                                  java_script_enabled=True, service_workers="block")
    page = context.new_page()
    url = path.resolve().as_uri()
    record = Visit(page)
    page.on("console", lambda message: record.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: record.console_errors.append(f"uncaught: {error}"))

    def allowed(target: str) -> bool:
        return target == url or target.startswith("data:")

    def route(route: Any) -> None:
        if allowed(route.request.url):
            route.continue_()
        else:
            route.abort()

    page.on("request", lambda request: None if allowed(request.url) else record.blocked.append(request.url))
    page.route("**/*", route)
    try:
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        yield record
    finally:
        context.close()
