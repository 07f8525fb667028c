"""Open a local page in Debian's headless Chromium with every network request blocked and logged.

Playwright drives the system browser (``/usr/bin/chromium``; ``playwright install`` is never
used). Requests other than ``file:``/``data:``/``blob:`` are aborted by a route handler and
recorded; the host resolver maps every name to nowhere and a dead proxy catches the rest, so a
page that needs the network fails loudly instead of quietly fetching.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
]


def chromium_path() -> str | None:
    """The system Chromium, or None ($CANRANK_CHROMIUM overrides)."""
    env = os.environ.get("CANRANK_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def why_unavailable() -> str | None:
    """None if a browser test can run, else the reason (used to skip outside CI)."""
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright)"
    return None


@dataclass
class PageLog:
    """What the page did: console messages, uncaught errors, dialogs and network attempts."""

    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]


@contextmanager
def open_page(
    path: Path,
    *,
    width: int = 1400,
    height: int = 1000,
    timeout_ms: int = 60_000,
    mobile: bool = False,
) -> Iterator[tuple[Any, PageLog]]:
    """Yield ``(page, log)`` with ``path`` loaded (the ``load`` event has fired).

    ``mobile`` emulates a phone (touch, and the viewport meta tag is honoured as on a phone).
    """
    from playwright.sync_api import sync_playwright

    log = PageLog()
    profile = tempfile.mkdtemp(prefix="canrank-chromium-")
    try:
        with sync_playwright() as pw:
            # A fresh --user-data-dir per page: no cache, cookies or extensions carried over.
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=chromium_path(),
                headless=True,
                args=FLAGS,
                chromium_sandbox=False,
                viewport={"width": width, "height": height},
                is_mobile=mobile,
                has_touch=mobile,
                device_scale_factor=2 if mobile else 1,
            )

            def route(r: Any) -> None:
                url = r.request.url
                log.requests.append(url)
                if url.startswith(("file:", "data:", "blob:")):
                    r.continue_()
                else:
                    log.blocked.append(url)
                    r.abort()

            context.route("**/*", route)
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(timeout_ms)
            page.on("console", lambda m: log.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: log.errors.append(str(e)))

            def dialog(d: Any) -> None:
                log.dialogs.append(f"{d.type}: {d.message}")
                d.dismiss()

            page.on("dialog", dialog)
            page.on("request", lambda req: log.requests.append(req.url))
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            try:
                yield page, log
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
