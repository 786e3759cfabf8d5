"""``GET /healthz``: which config is served, whether the last edit was refused (and why), whether
the database answers, how much deferred work waits, and how many of the day's changes
(announcements, closures, openings) are active.

It answers 200 whenever the line can take calls: a dead database degrades the journal, not the
routing, so an instance must not be pulled out of rotation for it. The database probe runs on
a side thread with a deadline, its result kept a few seconds: a hanging database never hangs it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from ivr.clock import now
from ivr.lines import current_line
from ivr.services import services
from ivr.store import Store
from ivr.worker import current_worker

bp = Blueprint("health", __name__)

PROBE_SECONDS = 2.0
CACHE_SECONDS = 5.0
# The spool is behind: "degraded" past this many rows waiting, or one waiting this long (the
# worker writes every second; a minute means the database has been away that long).
BACKLOG_ROWS = 10_000
BACKLOG_SECONDS = 60.0


class DatabaseProbe:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ivr-db-probe")
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._reachable = False

    def reachable(self) -> bool:
        with self._lock:
            if time.monotonic() - self._at < CACHE_SECONDS:
                return self._reachable
            try:
                self._reachable = self._pool.submit(self.store.ping).result(PROBE_SECONDS)
            except FutureTimeout:
                self._reachable = False
            self._at = time.monotonic()
            return self._reachable

    def stop(self) -> None:
        """End the probe's thread (a probe stuck on a hanging database is left to finish)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    line = current_line()
    worker = current_worker()
    database = services(current_app).db_probe.reachable()
    config = line.status()
    try:
        backlog = services(current_app).spool.backlog()
        spool = {"pending": backlog.pending, "quarantined": backlog.quarantined,
                 "oldest_seconds": None if backlog.oldest is None else
                 round(max(0.0, time.time() - backlog.oldest), 1)}
        behind = backlog.quarantined > 0 or backlog.pending > BACKLOG_ROWS or \
            (spool["oldest_seconds"] or 0) > BACKLOG_SECONDS
    except Exception as exc:  # the spool's file is unreadable: what is acknowledged may not be
        spool, behind = {"error": type(exc).__name__}, True
    degraded = not database or behind or config["last_reload_error"] is not None
    return jsonify(
        status="degraded" if degraded else "ok",
        config=config,
        database={"reachable": database,
                  "backend": services(current_app).store.engine.dialect.name},
        spool=spool,
        worker={"failures": worker.stats.failures},
        overrides=services(current_app).overrides.status(now()),
    ), 200, {"Cache-Control": "no-store"}


def init_app(app: Flask) -> None:
    services(app).db_probe = DatabaseProbe(services(app).store)
    app.register_blueprint(bp)
