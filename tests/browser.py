"""A real browser on the console: Debian's chromium driven by Playwright, against the app served
by a real HTTP server on loopback (threads, a SQLite file), with a stand-in for Twilio's API.

Without chromium the browser tests are skipped with a visible reason, unless
``IVR_REQUIRE_BROWSER`` is set (``.ci/run`` sets it on CI), where they fail instead.
Screenshots go to ``tests/artifacts/`` (ignored by Git).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-features=Translate,MediaRouter",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    found = chromium_path()
    if found:
        return found
    reason = "no chromium on this machine (apt-get install chromium; .ci/run does it)"
    if os.environ.get("IVR_REQUIRE_BROWSER"):
        pytest.fail(f"IVR_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


@dataclass
class LiveServer:
    app: object
    url: str


def serve(app) -> Iterator[LiveServer]:
    """The app on a free loopback port, in a thread, until the test module ends."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def launch(playwright, executable: str):
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS,
                                      headless=True)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
