"""Work that can wait, done off the call path by one background thread per process.

A webhook only appends to memory (journal events, deferred writes) and answers at once; this
thread writes them to the database, retrying while it is down, and sends the outbox. A slow or
dead database therefore never delays a call: at worst journal events are dropped and counted.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app

from ivr.services import services
from ivr.store import Store

log = logging.getLogger(__name__)

MAX_PENDING_EVENTS = 50_000
# One transaction per batch. Large batches matter on SQLite: 200 calls in progress put their
# events on ~200 pages of the (call_sid, at) index, rewritten once per transaction whatever
# the number of events on each.
EVENTS_PER_BATCH = 5_000
MAX_PENDING_TASKS = 5_000
TASK_MAX_AGE = 24 * 3600.0
# At exit: within gunicorn's graceful timeout (30 s by default), with room to spare.
SHUTDOWN_DRAIN_SECONDS = 15.0  # a deferred write retried this long is given up (and counted)


Notes = Sequence[Mapping[str, str | None]]
# One request's journal notes, queued as they are: (call_sid, at, caller, notes).
QueuedNotes = tuple[str, datetime, str | None, Notes]


def events_of(entry: dict[str, Any] | QueuedNotes) -> list[dict[str, Any]]:
    """The journal events an entry of ``Worker.events`` stands for (the notes are not changed:
    a request's notes may be shared with others)."""
    if not isinstance(entry, tuple):
        return [entry]
    call_sid, at, caller, notes = entry
    return [{"call_sid": call_sid, "at": at, "caller": caller, **note} for note in notes]


@dataclass
class Task:
    what: str
    run: Callable[[Store], None]
    created: float  # the worker's clock
    attempts: int = 0
    not_before: float = float("-inf")


@dataclass
class WorkerStats:
    events_written: int = 0
    events_lost: int = 0
    tasks_done: int = 0
    tasks_lost: int = 0
    failures: int = 0
    last_error: str | None = None


class Worker:
    def __init__(self, store: Store, *, outbox: Callable[[], int] | None = None,
                 threaded: bool = True, interval: float = 0.2,
                 outbox_interval: float = 5.0, journal_interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        # Seconds from an arbitrary origin (since boot, for time.monotonic): every "last
        # done at" starts at -inf, so a worker started seconds after boot is due at once.
        self.clock = clock
        self.outbox = outbox
        self.threaded = threaded
        self.interval = interval
        self.outbox_interval = outbox_interval
        # The journal is written every second or so (deferred tasks: every pass): the more
        # events a transaction holds, the less each costs.
        self.journal_interval = 5 * interval if journal_interval is None else journal_interval
        self._last_journal = float("-inf")
        # Journal events (record) and requests' notes (record_notes), in the order queued.
        self.events: deque[dict[str, Any] | QueuedNotes] = deque()
        # Events queued beyond one per entry (a request's notes are one entry): len(events) +
        # this is the number of events waiting. Kept by +=/-= from several threads, so it may
        # be off by a request's notes (it only bounds the queue and is reported), and set back
        # to 0 whenever the queue is seen empty.
        self._notes_surplus = 0
        self.tasks: deque[Task] = deque()
        self.stats = WorkerStats()
        self._lock = threading.Lock()
        self._pass = threading.Lock()  # one pass at a time: the thread, drain() or a test
        self._running = 0  # items taken out of the queues by the pass in progress
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._last_outbox = float("-inf")
        self._event_retry_at = float("-inf")
        self._logged_at: dict[str, float] = {}  # error -> when it was last logged
        self._passed = threading.Condition()  # notified after every pass

    # ------------------------------------------------------------------ producers (webhooks)

    def record(self, event: dict[str, Any]) -> None:
        """Queue one journal event; never blocks, never raises."""
        if len(self.events) + self._notes_surplus >= MAX_PENDING_EVENTS:
            self.stats.events_lost += 1
            return
        self.events.append(event)
        self._ensure_started()

    def record_notes(self, call_sid: str, at: datetime, caller: str | None,
                     notes: Notes) -> None:
        """Queue a request's journal notes as events of ``call_sid`` at ``at``: one append on
        the call path, made into events by the writer thread. Never blocks, never raises; the
        notes are kept as they are (never modified), until written."""
        try:
            count = len(notes)
            if not count:
                return
            queued = len(self.events)
            if not queued:  # nothing queued, nothing beyond (say, after an events.clear())
                self._notes_surplus = 0
            elif queued + self._notes_surplus >= MAX_PENDING_EVENTS:
                self.stats.events_lost += count
                return
            self.events.append((call_sid, at, caller, notes))
            self._notes_surplus += count - 1
            self._ensure_started()
        except Exception:  # the call goes on without its journal lines
            log.exception("journal notes dropped")

    def queued_events(self) -> list[dict[str, Any]]:
        """The events waiting to be written, as the store will get them (tests, debugging)."""
        return [event for entry in list(self.events) for event in events_of(entry)]

    def defer(self, what: str, run: Callable[[Store], None]) -> None:
        """Run ``run(store)`` soon, retried until it succeeds; must be idempotent."""
        if len(self.tasks) >= MAX_PENDING_TASKS:
            self.stats.tasks_lost += 1
            log.error("deferred work dropped (queue full): %s", what)
            return
        self.tasks.append(Task(what, run, created=self.clock()))
        self._ensure_started()
        self._wake.set()

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
        self._ensure_started()

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.run_once()
            except Exception:  # the thread must survive anything
                log.exception("worker pass failed")

    def run_once(self, *, force: bool = False) -> None:
        """One pass: write events, run due tasks, send due outbox messages."""
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
        if self.events and (force or now >= self._event_retry_at
                            and now - self._last_journal >= self.journal_interval):
            self._last_journal = now
            # Everything queued when the pass began, in batches (each takes one entry at
            # least); bounded by that count, so a pass ends even under a flood.
            for _ in range(len(self.events)):
                if not self.events or not self._write_events():
                    break
        self._run_tasks(force)
        if self.outbox is not None and (force or now - self._last_outbox >= self.outbox_interval):
            self._last_outbox = now
            try:
                self.outbox()
            except Exception as exc:
                self._failed("outbox", exc)

    def _write_events(self) -> bool:
        """Write one batch; False when it failed (it is queued again)."""
        batch: list[QueuedNotes] = []
        count = 0  # events in the batch
        queue = self.events
        while queue and count < EVENTS_PER_BATCH:
            entry = queue[0]  # only this pass takes from the left: it stays the first
            if isinstance(entry, tuple):
                size = len(entry[3])
                if batch and count + size > EVENTS_PER_BATCH:
                    break
                queue.popleft()
                self._notes_surplus -= size - 1
                batch.append(entry)
                count += size
            else:  # one event (record): the notes of a request of its own
                queue.popleft()
                batch.append((entry["call_sid"], entry["at"], entry.get("caller"), [entry]))
                count += 1
        if not queue:  # nothing queued, nothing beyond: undo any drift (or a clear())
            self._notes_surplus = 0
        self._running = count
        try:
            self.store.write_notes(batch)
            self.stats.events_written += count
            self._event_retry_at = float("-inf")
            return True
        except Exception as exc:
            self._failed("journal", exc)
            self._event_retry_at = self.clock() + 2.0
            room = MAX_PENDING_EVENTS - len(self.events) - self._notes_surplus
            events = [event for entry in batch for event in events_of(entry)]
            keep = events[-room:] if room > 0 else []
            self.stats.events_lost += len(events) - len(keep)
            self.events.extendleft(reversed(keep))  # as events: the last ones fit
            return False
        finally:
            self._running = 0

    def _run_tasks(self, force: bool) -> None:
        for _ in range(len(self.tasks)):
            if not self.tasks:
                break
            task = self.tasks.popleft()
            now = self.clock()
            if not force and task.not_before > now:
                self.tasks.append(task)
                continue
            self._running = 1
            try:
                task.run(self.store)
                self.stats.tasks_done += 1
            except Exception as exc:
                task.attempts += 1
                self._failed(task.what, exc)
                if _unreachable(exc):  # the others would wait on the same dead database
                    task.not_before = now + 2.0
                    self.tasks.append(task)
                    break
                if now - task.created > TASK_MAX_AGE:
                    self.stats.tasks_lost += 1
                    log.error("deferred work given up after %d tries: %s", task.attempts,
                              task.what)
                else:
                    task.not_before = now + min(2.0 * 2 ** min(task.attempts, 8), 300.0)
                    self.tasks.append(task)
            finally:
                self._running = 0

    def _failed(self, what: str, exc: Exception) -> None:
        self.stats.failures += 1
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        error = f"{what}: {type(exc).__name__}: {first_line}"
        now = self.clock()
        # One line per distinct error a minute: a dead database must not flood the log (the
        # journal, a voicemail and the outbox each fail, in turn, on every pass).
        if now - self._logged_at.get(error, float("-inf")) > 60:
            if len(self._logged_at) > 100:
                self._logged_at.clear()
            log.warning("deferred work failed (%d so far, will retry): %s",
                        self.stats.failures, error)
            self._logged_at[error] = now
        self.stats.last_error = error

    def drain(self, timeout: float = 10.0) -> bool:
        """Run passes until nothing is pending (tests, shutdown); False if time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.run_once(force=True)
            if not self.events and not self.tasks:
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
        """At exit: one last short attempt to write what is pending."""
        if self._stopping:
            return
        self.stop()
        if self.pending and not self.drain(timeout=SHUTDOWN_DRAIN_SECONDS):
            log.error("exiting with %d journal events/tasks unwritten", self.pending)

    @property
    def pending(self) -> int:
        """Events and tasks not written yet, including the batch being written now."""
        return len(self.events) + self._notes_surplus + len(self.tasks) + self._running


def _unreachable(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError

    text = str(exc).lower()
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated) or \
        "connect" in text or "unable to open database file" in text


def init_app(app: Flask, outbox: Callable[[], int] | None = None) -> None:

    store: Store = services(app).store
    worker = Worker(store, outbox=outbox, threaded=bool(app.config.get("IVR_WORKER", True)))
    services(app).worker = worker
    if worker.threaded:
        atexit.register(worker.shutdown)


def current_worker() -> Worker:
    return services(current_app).worker
