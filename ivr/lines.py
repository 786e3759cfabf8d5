"""The configuration the line serves now, and its hot reload with a last good version.

At start-up a config that fails validation stops the app (a line that would strand callers must
never go live). Afterwards administrators edit the YAML while calls go on: a watcher thread per
process notices changed files within ``IVR_RELOAD_SECONDS``, validates the new version off the
call path and swaps it in whole. A version that fails validation is refused: the line keeps
serving the last good one, and the error is logged and shown by ``GET /healthz``.

Requests read ``current_config()`` once, so a request is decided with one version from start to
end; a call that spans a reload meets the new version at its next request (voice.py sends a
caller whose node disappeared back to the welcome menu with an apology).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app

from ivr.answers import Answers
from ivr.config import FIRST_LANGUAGE, Config, ConfigInvalid, language_code
from ivr.loading import load_all
from ivr.services import services
from ivr.yamlsource import MAX_PROBLEMS

log = logging.getLogger(__name__)

WATCHED = ("menus", "prompts", "schedules")
SETTLE_SECONDS = 0.2  # an editor saving several files, or one file in two writes
# ``GET /healthz`` is public: it shows the first problems of a refused edit, not all of them
# (``ivr check`` and the console show up to ``MAX_PROBLEMS``).
HEALTH_PROBLEMS = 20
PROBLEM_CHARS = 1_000  # "file:line: key: message", each part bounded by ivr.yamlsource


@dataclass(frozen=True)
class ReloadError:
    at: datetime
    problems: tuple[str, ...]  # the first ones (ConfigInvalid keeps MAX_PROBLEMS)
    count: int = 0  # how many were found in all


Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(directory: Path) -> Snapshot:
    """Name, mtime and size of every file the config is made of (a missing folder counts)."""
    found: list[tuple[str, int, int]] = []
    for folder in WATCHED:
        root = directory / folder
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                found.append((os.path.relpath(path, directory), stat.st_mtime_ns, stat.st_size))
        if not root.is_dir():
            found.append((folder, -1, -1))
    return tuple(found)


class LineConfig:
    """Holds the served config; one object per app so tests can run several apps side by side."""

    def __init__(self, directory: Path | str, interval: float = 2.0) -> None:
        self.directory = Path(directory)
        self.interval = interval
        self._snapshot = snapshot(self.directory)
        # ConfigInvalid here: refuse to start
        self.configs: Mapping[str, Config] = load_all(self.directory)
        self.config: Config = self.configs[FIRST_LANGUAGE]  # the line's own language
        self.loaded_at = datetime.now(UTC)
        self.answers = Answers()
        self.reloads = 0
        self.last_error: ReloadError | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = threading.Event()

    def config_for(self, code: str | None) -> Config:
        """The config a call's URL code (``l=en``) speaks; the first language otherwise."""
        configs = self.configs
        if code:
            for language, config in configs.items():
                if language_code(language) == code:
                    return config
        return configs[FIRST_LANGUAGE]

    # ------------------------------------------------------------------ reload

    def check(self) -> bool:
        """Reload if a file changed; True when a new version is now served."""
        current = snapshot(self.directory)
        if current == self._snapshot:
            return False
        with self._lock:
            # Wait until the files stop changing, so a half-saved edit is not judged.
            deadline = time.monotonic() + 5 * SETTLE_SECONDS + 1
            while time.monotonic() < deadline:
                time.sleep(SETTLE_SECONDS if self.interval else 0)
                again = snapshot(self.directory)
                if again == current:
                    break
                current = again
            self._snapshot = current
            self.answers.clear()  # a prompt's recording may have come or gone, same version
            return self._reload()

    def _reload(self) -> bool:
        try:
            configs = load_all(self.directory)
            config = configs[FIRST_LANGUAGE]
        except ConfigInvalid as exc:
            self._refuse(tuple(str(p) for p in exc.problems), exc.total)
            return False
        except Exception as exc:  # unreadable folder, a bug in a validator: keep serving
            log.exception("config reload failed")
            self._refuse((f"{type(exc).__name__}: {exc}",), 1)
            return False
        changed = config.version != self.config.version
        if changed:
            previous = self.config
            self.configs, self.config = configs, config
            self.loaded_at = datetime.now(UTC)
            self.reloads += 1
            # Logged once served: whoever reads this line (a test, a monitor) sees the new one.
            log.info("config reloaded: version %s -> %s (%d nodes)", previous.version,
                     config.version, len(config.nodes))
        if self.last_error is not None:
            log.info("config on disk is valid again (version %s)", config.version)
            self.last_error = None
        return changed

    def _refuse(self, problems: tuple[str, ...], count: int) -> None:
        # Bounded here too: whatever raised, /healthz, the console and the log stay small.
        problems = tuple(p if len(p) <= PROBLEM_CHARS else p[:PROBLEM_CHARS - 2] + " …"
                         for p in problems[:MAX_PROBLEMS + 1])
        self.last_error = ReloadError(datetime.now(UTC), problems, max(count, len(problems)))
        log.error("config change refused, still serving version %s: %d problem(s):\n  %s",
                  self.config.version, self.last_error.count,
                  "\n  ".join(problems[:HEALTH_PROBLEMS]))

    # ------------------------------------------------------------------ watcher

    def ensure_watching(self) -> None:
        """Start this process's watcher (after a fork, the parent's thread is not ours)."""
        if not self.interval or self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stopping.clear()
            self._thread = threading.Thread(target=self._watch, name="ivr-config-watcher",
                                            daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise
                log.exception("config watcher")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pid = None

    def status(self) -> dict[str, object]:
        error = self.last_error
        return {
            "version": self.config.version,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "reloads": self.reloads,
            "directory": str(self.directory),
            "last_reload_error": None if error is None else {
                "at": error.at.isoformat(timespec="seconds"),
                "count": error.count,
                "problems": _first(error),
            },
        }


def _first(error: ReloadError) -> list[str]:
    """The problems /healthz shows: the first ``HEALTH_PROBLEMS``, then how many more."""
    shown = list(error.problems[:HEALTH_PROBLEMS])
    if error.count > len(shown):
        more = error.count - len(shown)
        shown.append(f"… et {more} autre{'s' if more > 1 else ''} problème"
                     f"{'s' if more > 1 else ''} (« ivr check » les liste)")
    return shown


def init_app(app: Flask) -> None:
    interval = float(app.config.get("IVR_RELOAD_SECONDS", 2.0) or 0)
    services(app).line = LineConfig(app.config["IVR_CONFIG_DIR"], interval)


def line_of(app: Flask) -> LineConfig:
    """The app's line, its watcher started in this process (the first request after a fork)."""
    line: LineConfig = services(app).line
    line.ensure_watching()
    return line


def current_line() -> LineConfig:
    return line_of(current_app)


def current_config() -> Config:
    return line_of(current_app).config
