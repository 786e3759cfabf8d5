"""The access line is queued by the webhook and logged by its own thread, in batches."""

from __future__ import annotations

import json
import logging
import os
import threading

from ivr import accesslog
from ivr.accesslog import AccessLog, Entry
from ivr.simulator import CallSimulator


def entry(**fields) -> Entry:
    values = dict(at=1_764_600_000.25, call="CA1", method="POST", path="/voice", node=None,
                  status=200, outcome="ask", ms=1.5, caller="+15145550123", keys=None,
                  dial=None, error=None, replay=False)
    return Entry(**{**values, **fields})


def access_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ivr.access"]


def test_a_webhook_only_queues_its_line(make_app, caplog):
    app = make_app()
    lines: AccessLog = app.extensions["ivr.access_log"]
    lines.threaded, lines._pid = True, -1  # production mode, its thread not started here
    lines._start = lambda: None  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        CallSimulator(app).play("2,1")
        assert access_records(caplog) == []
        queued = len(lines.pending)
        assert queued >= 3
        lines.flush()
    records = access_records(caplog)
    assert [json.loads(r.getMessage())["path"] for r in records][:3] == [
        "/voice", "/voice/input/accueil", "/voice/input/personnel"]
    assert len(records) == queued
    assert lines.pending == type(lines.pending)()


def test_a_line_keeps_the_time_of_the_answer_and_masks_the_number(caplog):
    lines = AccessLog(threaded=True)
    lines._start = lambda: None  # type: ignore[method-assign]
    lines.record(entry(keys="1", dial="completed", error="RuntimeError", replay=True))
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        lines.flush()
    [record] = access_records(caplog)
    assert record.created == 1_764_600_000.25 and round(record.msecs) == 250
    made_now = logging.LogRecord("x", logging.INFO, __file__, 0, "", None, None)
    assert abs((made_now.relativeCreated - record.relativeCreated) / 1000
               - (made_now.created - record.created)) < 0.5
    assert (record.levelname, record.name, record.process) == ("INFO", "ivr.access", os.getpid())
    line = json.loads(record.getMessage())
    assert line["from"] == "+1514…23" and "5550123" not in record.getMessage()
    assert (line["keys"], line["dial"], line["error"], line["replay"]) == (
        "1", "completed", "RuntimeError", True)


def test_lines_beyond_the_backlog_are_dropped_and_counted(monkeypatch, caplog):
    monkeypatch.setattr(accesslog, "MAX_PENDING", 5)
    lines = AccessLog(threaded=True)
    lines._start = lambda: None  # type: ignore[method-assign]
    for _ in range(8):
        lines.record(entry())
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        lines.flush()
    assert len(access_records(caplog)) == 6  # 5 lines, then the warning
    assert "3 access lines dropped" in caplog.text


def test_the_thread_writes_the_lines_and_stops():
    written = threading.Event()

    class Signal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.set()

    logger = logging.getLogger("ivr.access")
    signal, level = Signal(), logger.level
    logger.addHandler(signal)
    logger.setLevel(logging.INFO)
    lines = AccessLog(threaded=True, interval=0.01)
    try:
        lines.record(entry())
        assert written.wait(timeout=60)  # written by the thread: nobody flushed
    finally:
        lines.stop()
        logger.removeHandler(signal)
        logger.setLevel(level)
    assert lines._thread is not None and not lines._thread.is_alive()
    assert lines._thread.name == "ivr-access-log"


def test_the_lines_skip_the_log_queue_for_the_handlers_behind_it():
    """Off the call path already, the access thread hands its lines to the handlers the log
    thread writes with, instead of queueing each line a second time."""
    import queue
    from logging.handlers import QueueHandler

    written: list[logging.LogRecord] = []

    class Writer(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(record)

    queued: queue.SimpleQueue = queue.SimpleQueue()
    front = QueueHandler(queued)
    front.writers = [Writer()]  # type: ignore[attr-defined]
    logger = logging.getLogger("ivr.access")
    logger.addHandler(front)
    try:
        lines = AccessLog(threaded=True)
        lines._start = lambda: None  # type: ignore[method-assign]
        lines.record(entry())
        lines.flush()
    finally:
        logger.removeHandler(front)
    assert queued.empty()
    assert [json.loads(r.getMessage())["call"] for r in written] == ["CA1"]


class CountingStream:
    def __init__(self) -> None:
        self.writes: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        self.flushes += 1


def test_a_batch_is_one_write_to_a_stream_formatted_by_its_handler(tmp_path):
    """A write per line would hand the GIL over and wait to take it back once per line."""
    stream = CountingStream()
    plain = logging.StreamHandler(stream)  # type: ignore[arg-type]
    plain.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    to_file = logging.FileHandler(tmp_path / "access.log", delay=True, encoding="utf-8")
    quiet = logging.StreamHandler(CountingStream())  # type: ignore[arg-type]
    quiet.setLevel(logging.WARNING)  # access lines are INFO: none for it
    logger = logging.getLogger("ivr.access")
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in (plain, to_file, quiet):
        logger.addHandler(handler)
    try:
        lines = AccessLog(threaded=True)
        lines._start = lambda: None  # type: ignore[method-assign]
        for n in range(50):
            lines.record(entry(call=f"CA{n}"))
        lines.flush()
        lines.record(entry(call="CA50"))
        lines.flush()
    finally:
        for handler in (plain, to_file, quiet):
            logger.removeHandler(handler)
        logger.setLevel(level)
        to_file.close()
    assert len(stream.writes) == 2 and stream.flushes == 2
    written = "".join(stream.writes).splitlines()
    assert [json.loads(text.split(" ", 2)[2])["call"] for text in written] == [
        f"CA{n}" for n in range(51)]
    assert written[0].startswith("INFO ivr.access {")
    on_disk = (tmp_path / "access.log").read_text(encoding="utf-8").splitlines()
    assert [json.loads(text)["call"] for text in on_disk] == [f"CA{n}" for n in range(51)]
    assert "…" in on_disk[0]  # the masked number, in UTF-8
    assert quiet.stream.writes == []
