"""One structured line per webhook, made and written off the call path.

The request thread only appends a tuple; a thread per process turns the tuples into JSON log
records a few times a second. A line per request through ``logging`` costs a log record,
a JSON encoding and a wake-up of the log thread, all competing with the calls for the CPU:
batching leaves the call path one append and the log thread one wake-up per batch.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Iterable
from contextlib import nullcontext
from typing import NamedTuple

from flask import Flask

from ivr.notify import mask_phone

log = logging.getLogger("ivr.access")

MAX_PENDING = 50_000  # lines kept while the log thread is behind; older ones are dropped


class Entry(NamedTuple):
    """What one webhook did, as the request saw it; formatted later."""

    at: float  # time.time() when the answer was ready
    call: str | None
    method: str
    path: str
    node: str | None
    status: int
    outcome: str | None
    ms: float | None
    caller: str | None  # the full number: masked when the line is made, off the call path
    keys: str | None
    dial: str | None
    error: str | None
    replay: bool


def line(entry: Entry) -> str:
    """The JSON of one entry; optional fields only when present (the file stays greppable)."""
    fields: dict[str, object] = {
        "call": entry.call, "method": entry.method, "path": entry.path, "node": entry.node,
        "status": entry.status, "outcome": entry.outcome, "ms": entry.ms,
        "from": mask_phone(entry.caller) if entry.caller else None,
    }
    if entry.keys is not None:
        fields["keys"] = entry.keys
    if entry.dial is not None:
        fields["dial"] = entry.dial
    if entry.error:
        fields["error"] = entry.error
    if entry.replay:
        fields["replay"] = True
    return _to_json(fields)


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _writers(logger: logging.Logger) -> list[logging.Handler]:
    """The handlers a record of ``logger`` reaches, a queue's handler replaced by the ones its
    log thread writes with (``writers``): this thread is off the call path already, and
    queueing each line again would wake the log thread once per line."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            found.extend(getattr(handler, "writers", None) or (handler,))
        current = current.parent if current.propagate else None
    return found


def _records(entries: Iterable[Entry]) -> list[logging.LogRecord]:
    """The log records of ``entries``, each timed when its call was answered, not when its
    line is written. One record is made by the logger (its factory, this thread, this
    process); the others are copies of it with their own message and times, which spares
    each line the making of a record (the thread's and the process's names, the file's)."""
    template = log.makeRecord(log.name, logging.INFO, __file__, 0, "", None, None)
    cls, fields = type(template), template.__dict__
    created, relative = template.created, template.relativeCreated
    records = []
    for entry in entries:
        record = cls.__new__(cls)
        record.__dict__.update(fields)
        at = entry.at
        record.msg = line(entry)
        record.created = at
        record.msecs = (at - int(at)) * 1000
        record.relativeCreated = relative + (at - created) * 1000
        records.append(record)
    return records


_PLAIN_EMITS = (logging.StreamHandler.emit, logging.FileHandler.emit)


def _write(handler: logging.Handler, records: list[logging.LogRecord]) -> None:
    """Hand ``records`` to ``handler``: to a stream, as one write and one flush.

    A write per line would make this thread give up the GIL and wait to take it back once
    per line, competing with the request threads each time.
    """
    records = [r for r in records if r.levelno >= handler.level]
    if type(handler).emit not in _PLAIN_EMITS:  # a rotating file, a socket…: its own way
        for record in records:
            handler.handle(record)
        return
    lines, kept = [], []
    for record in records:
        try:
            if handler.filter(record):
                lines.append(handler.format(record) + handler.terminator)
                kept.append(record)
        except Exception:
            handler.handleError(record)
    if not lines:
        return
    stream = getattr(handler, "stream", None)
    with handler.lock or nullcontext():
        try:
            if stream is not None:  # a FileHandler with delay=True opens on its first emit
                stream.write("".join(lines))
                handler.flush()
            else:
                for record in kept:
                    handler.emit(record)
        except Exception:
            handler.handleError(kept[-1])


class AccessLog:
    """Access lines queued by requests, logged by a thread per process (or at once, in tests)."""

    def __init__(self, *, threaded: bool = True, interval: float = 0.2) -> None:
        self.threaded = threaded
        self.interval = interval
        self.pending: deque[Entry] = deque()
        self.dropped = 0
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def enabled(self) -> bool:
        return log.isEnabledFor(logging.INFO)

    def record(self, entry: Entry) -> None:
        """Queue one line; never blocks, never raises."""
        if not self.threaded:
            self._emit(entry)
            return
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append(entry)
        if self._pid != os.getpid():
            self._start()

    def flush(self) -> None:
        """Log every queued line now (the thread's pass; also at exit and in tests)."""
        with self._lock:
            if self.pending:
                entries = []
                while self.pending:
                    entries.append(self.pending.popleft())
                records = [r for r in _records(entries) if not log.disabled and log.filter(r)]
                for handler in _writers(log):
                    _write(handler, records)
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                log.warning("%d access lines dropped: the log could not keep up", dropped)

    def _emit(self, entry: Entry) -> None:
        [record] = _records((entry,))
        if not log.disabled and log.filter(record):
            for handler in _writers(log):
                _write(handler, [record])

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()  # after a fork (gunicorn), the parent's thread is not ours
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="ivr-access-log",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the thread must outlive a broken handler
                logging.getLogger(__name__).exception("access log")

    def stop(self) -> None:
        """End this process's thread, then log what it left."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self._pid = None
        self.flush()


def init_app(app: Flask) -> None:
    access = AccessLog(threaded=not app.testing)
    app.extensions["ivr.access_log"] = access
    if access.threaded:
        atexit.register(access.stop)
