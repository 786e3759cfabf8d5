"""Work that can wait, done off the call path by one background thread per process.

A webhook puts what it acknowledged (journal notes, a voicemail, texts) in the spool, on the
local disk, and answers at once; this thread writes the spool to the database, retrying while
it is away, sends the outbox and asks Twilio for recordings whose callbacks never came. A slow
or dead database therefore never delays a call, and a killed process loses nothing it answered.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Flask, current_app

from ivr.services import services
from ivr.spool import Item, Spool
from ivr.store import Store

log = logging.getLogger(__name__)

# One transaction per batch. Large batches matter on SQLite: 200 calls in progress put their
# events on ~200 pages of the (call_sid, at) index, rewritten once per transaction whatever
# the number of events on each.
ITEMS_PER_BATCH = 2_000
RETRY_SECONDS = 2.0  # after the database was unreachable
SHUTDOWN_DRAIN_SECONDS = 5.0  # at exit; what is left stays in the spool for the next start

# kind → how to write a list of the spool's items of that kind (in one transaction or not).
Handler = Callable[[Store, Sequence[Item]], None]


@dataclass
class WorkerStats:
    items_written: int = 0
    items_quarantined: int = 0
    failures: int = 0
    last_error: str | None = None


class Worker:
    def __init__(self, store: Store, spool: Spool, handlers: dict[str, Handler], *,
                 outbox: Callable[[], object] | None = None,
                 reconcile: Callable[[], object] | None = None,
                 threaded: bool = True, interval: float = 1.0, outbox_interval: float = 5.0,
                 reconcile_interval: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.spool = spool
        self.handlers = handlers
        self.outbox = outbox
        self.reconcile = reconcile
        self.threaded = threaded
        # The spool is written every second or so: the more a transaction holds, the less
        # each row costs, and waiting costs nothing (the rows are on disk).
        self.interval = interval
        self.outbox_interval = outbox_interval
        self.reconcile_interval = reconcile_interval
        # Seconds from an arbitrary origin (since boot, for time.monotonic): every "last
        # done at" starts at -inf, so a worker started seconds after boot is due at once.
        self.clock = clock
        self.stats = WorkerStats()
        self._lock = threading.Lock()
        self._pass = threading.Lock()  # one pass at a time: the thread, drain() or a test
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._last_outbox = float("-inf")
        self._last_reconcile = clock()  # the first, one interval after the start
        self._retry_at = float("-inf")
        self._logged_at: dict[str, float] = {}  # error -> when it was last logged
        self._passed = threading.Condition()  # notified after every pass

    # ------------------------------------------------------------------ producers (webhooks)

    def put(self, kind: str, body: dict, fingerprint: str | None = None) -> bool:
        """Keep ``body`` in the spool for the database; True once it is on disk."""
        kept = self.spool.put(kind, body, fingerprint)
        self._ensure_started()
        return kept

    def wake(self) -> None:
        self._last_outbox = float("-inf")
        self._wake.set()

    # ------------------------------------------------------------------ consumer

    def _ensure_started(self) -> None:
        if not self.threaded:
            return
        pid = os.getpid()  # after a fork (gunicorn), the parent's thread is not ours
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == pid and self._thread.is_alive():
                return
            self._pid = pid
            self._thread = threading.Thread(target=self._loop, name="ivr-worker", daemon=True)
            self._thread.start()

    def start(self) -> None:
        """Start the thread now: what an earlier process left in the spool is written."""
        self._ensure_started()

    def _loop(self) -> None:
        while not self._stopping:
            try:
                self.run_once()
            except Exception:  # the thread must survive anything
                log.exception("worker pass failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def run_once(self, *, force: bool = False) -> None:
        """One pass: write the spool, send due outbox messages, reconcile when due."""
        with self._pass:
            self._run_once(force)
        with self._passed:
            self._passed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds, checked now and after each pass; its last value.
        For whoever waits on the thread's work (tests, an operator's command), instead of
        polling with sleeps."""
        with self._passed:
            return self._passed.wait_for(predicate, timeout)

    def _run_once(self, force: bool) -> None:
        now = self.clock()
        if force or now >= self._retry_at:
            try:
                self._write_spool()
                self._retry_at = float("-inf")
            except Exception as exc:  # the database (or the spool) is away: all waits
                self._failed("spool", exc)
                self._retry_at = self.clock() + RETRY_SECONDS
        # A forced pass (drain) sends what is due; reconciling keeps to its own interval.
        for what, run, interval, attribute, forced in (
                ("outbox", self.outbox, self.outbox_interval, "_last_outbox", force),
                ("reconcile", self.reconcile, self.reconcile_interval, "_last_reconcile", False)):
            if run is not None and (forced or now - getattr(self, attribute) >= interval):
                setattr(self, attribute, now)
                try:
                    run()
                except Exception as exc:
                    self._failed(what, exc)

    def _write_spool(self) -> None:
        """Write what the spool holds, batch by batch; raises when the database is away (the
        batch is given back). Bounded by what was there when the pass began."""
        for _ in range(self.spool.backlog().pending // ITEMS_PER_BATCH + 1):
            items = self.spool.claim(ITEMS_PER_BATCH)
            if not items:
                return
            by_kind: dict[str, list[Item]] = {}
            for item in items:
                by_kind.setdefault(item.kind, []).append(item)
            try:
                for kind, group in by_kind.items():
                    self._write(kind, group)
            except Exception:
                self.spool.release(item.id for item in items)
                raise

    def _write(self, kind: str, items: list[Item]) -> None:
        """Write ``items`` and delete them from the spool; a row the database refuses for what
        it holds is found by halving and quarantined, the others are written."""
        handler = self.handlers.get(kind)
        try:
            if handler is None:
                raise ValueError(f"unknown spool item kind {kind!r}")
            handler(self.store, items)
        except Exception as exc:
            if unreachable(exc):
                raise
            if len(items) > 1:
                middle = len(items) // 2
                self._write(kind, items[:middle])
                self._write(kind, items[middle:])
                return
            error = f"{type(exc).__name__}: {exc}"
            self.spool.quarantine(items[0], error)
            self.stats.items_quarantined += 1
            log.error("spool item %d (%s) quarantined: %s", items[0].id, kind, error[:300])
            return
        self.spool.done(item.id for item in items)
        self.stats.items_written += len(items)

    def _failed(self, what: str, exc: Exception) -> None:
        self.stats.failures += 1
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        error = f"{what}: {type(exc).__name__}: {first_line}"
        now = self.clock()
        # One line per distinct error a minute: a dead database must not flood the log (the
        # spool and the outbox each fail, in turn, on every pass).
        if now - self._logged_at.get(error, float("-inf")) > 60:
            if len(self._logged_at) > 100:
                self._logged_at.clear()
            log.warning("deferred work failed (%d so far, will retry): %s",
                        self.stats.failures, error)
            self._logged_at[error] = now
        self.stats.last_error = error

    def drain(self, timeout: float = 10.0) -> bool:
        """Run passes until the spool is empty (tests, shutdown); False if time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.run_once(force=True)
            if not self.pending:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=5.0)  # let its pass finish before anyone drains

    def shutdown(self) -> None:
        """At exit: one short attempt to write what is pending; the rest waits in the spool."""
        if self._stopping:
            return
        self.stop()
        if self.pending and not self.drain(timeout=SHUTDOWN_DRAIN_SECONDS):
            log.warning("exiting with %d items in the spool, written at the next start",
                        self.pending)

    @property
    def pending(self) -> int:
        """Rows waiting in the spool (of every process of this instance)."""
        try:
            return self.spool.backlog().pending
        except Exception:
            return -1


def unreachable(exc: BaseException) -> bool:
    """The database is away (or busy past its timeout), as opposed to refusing a value."""
    from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError

    if isinstance(exc, TimeoutError | OperationalError):
        return True
    text = str(exc).lower()
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated) or \
        "connect" in text or "unable to open database file" in text or "locked" in text


def init_app(app: Flask, handlers: dict[str, Handler],
             outbox: Callable[[], object] | None = None,
             reconcile: Callable[[], object] | None = None) -> None:
    parts = services(app)
    worker = Worker(parts.store, parts.spool, handlers, outbox=outbox, reconcile=reconcile,
                    threaded=bool(app.config.get("IVR_WORKER", True)))
    parts.worker = worker
    if worker.threaded:
        atexit.register(worker.shutdown)


def current_worker() -> Worker:
    return services(current_app).worker
