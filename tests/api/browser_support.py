"""Real-browser test support: Debian's Chromium via Playwright, a real uvicorn server, axe-core, no outside requests.

Every browser test uses these so that each page is checked the same way: ``serve`` runs an app on a free
loopback port, ``open_browser`` launches Chromium with every non-loopback request blocked and recorded,
and ``serious_axe_violations`` runs axe-core (shipped inside the ``axe-playwright-python`` wheel, injected
from disk) and returns the serious and critical violations. Skips locally without Chromium or Playwright;
fails when ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from api_support import REPO_ROOT

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SERIOUS = frozenset({"serious", "critical"})


def unavailable(message: str) -> None:
    """Skip locally; fail in CI, where every browser test must run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def chromium_path() -> str:
    """Debian's Chromium (``SCREENING_TEST_CHROMIUM`` or ``chromium`` on the PATH)."""
    path = os.environ.get("SCREENING_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        unavailable(f"Chromium not found at {path} (apt-get install chromium, or set SCREENING_TEST_CHROMIUM)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app in a real uvicorn server on loopback (``port``, or a free one); yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300  # the first app of a session fits the rubrics' level models (slow on shared CPUs)
    while not server.started:
        assert thread.is_alive(), "the server stopped during start-up (see its log above)"
        assert time.monotonic() < deadline, "the server did not start in 240 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Browser:
    """A Chromium browser whose contexts refuse every request that would leave the host."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self.outside_requests: list[str] = []

    def new_page(self, javascript: bool = True, **options: Any) -> Any:
        context = self._browser.new_context(java_script_enabled=javascript, **options)
        context.route("**/*", self._only_loopback)
        return context.new_page()

    def _only_loopback(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in LOOPBACK_HOSTS:
            route.continue_()
            return
        self.outside_requests.append(url)
        route.abort()


@contextmanager
def open_browser() -> Iterator[Browser]:
    """Headless Chromium with outside requests blocked; ``browser.outside_requests`` lists any that were tried."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        try:
            yield Browser(browser)
        finally:
            browser.close()


def serious_axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, as ``rule: target`` lines (empty when clean)."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        unavailable("axe-playwright-python is not installed (pip install -e '.[dev]')")
    violations = Axe().run(page).response["violations"]
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']}"
        for violation in violations
        if violation["impact"] in SERIOUS
        for node in violation["nodes"]
    ]


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb(...)`` colours."""
    fg, bg = (tuple(int(v) for v in re.findall(r"\d+", c)[:3]) for c in (foreground, background))
    light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML)"""
UNNAMED_GRAPHICS_JS = """() => [...document.querySelectorAll('svg, img')]
  .filter(e => e.tagName === 'IMG' ? !e.hasAttribute('alt')
       : !(e.getAttribute('role') === 'img' && e.getAttribute('aria-label') && e.querySelector('title')))
  .map(e => e.outerHTML.slice(0, 120))"""
COLOURS_JS = """(selector) => { const s = getComputedStyle(document.querySelector(selector));
  return [s.color, s.backgroundColor]; }"""


def assert_accessible(page: Any) -> None:
    """Labels on every control, a name on every graphic, AAA body text and AA link contrast, no serious axe finding."""
    assert page.evaluate(UNLABELLED_JS) == [], "every form control has a label"
    assert page.evaluate(UNNAMED_GRAPHICS_JS) == [], "every image and SVG has a text alternative"
    text, background = page.evaluate(COLOURS_JS, "body")
    assert contrast(text, background) >= 7, (text, background)
    link = page.evaluate("() => getComputedStyle(document.querySelector('a')).color")
    assert contrast(link, background) >= 4.5, link
    assert serious_axe_violations(page) == []


WIDER_THAN_SCREEN_JS = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.closest('.table-scroll') === null && e.getBoundingClientRect().right > window.innerWidth + 1)
  .map(e => e.tagName + '.' + e.className)"""


def assert_fits_a_phone(page: Any) -> None:
    """At a phone's width (390 px), nothing but a scrollable table is wider than the screen."""
    page.set_viewport_size({"width": 390, "height": 844})
    too_wide = page.evaluate(WIDER_THAN_SCREEN_JS)
    assert too_wide == [], f"{too_wide}: nothing but a scrollable table is wider than a phone screen"
