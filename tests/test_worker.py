"""ivr.worker: the call path only appends to the spool; the worker writes, retries, isolates a
poisoned row and survives.

Tests taking ``store`` run on SQLite and on PostgreSQL (ids ``[sqlite]``/``[postgresql]``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ivr import worker as worker_module
from ivr.effects import handlers
from ivr.spool import Spool
from ivr.store import Store
from ivr.worker import Worker

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
NOTES = [{"kind": "key", "node": "accueil", "detail": "2"}, {"kind": "enter", "node": "csi"},
         {"kind": "dial", "node": "csi", "destination": "csi"}]
VOICEMAIL = {"recording_sid": "RE1", "call_sid": "CA1", "box": "soutien", "node": "vm",
             "caller": "+15145550123", "path": "vm", "received_at": T0.timestamp(),
             "recording_url": "https://api.twilio.com/RE1", "duration": 7}


class FakeApp:
    """What the worker's handlers read of an app: the line's config and settings."""

    def __init__(self) -> None:
        from ivr import REPO_ROOT
        from ivr.loading import load
        from ivr.services import Services

        self.config: dict = {}
        self.extensions = {"ivr": Services()}
        self.extensions["ivr"].line = type("Line", (), {"config": load(REPO_ROOT)})()


def make_worker(store: Store, spool: Spool, **options) -> Worker:
    app = FakeApp()
    worker = Worker(store, spool, handlers(app), **{"threaded": False, **options})
    app.extensions["ivr"].worker = worker
    return worker


def put_notes(worker: Worker, call_sid: str = "CA1", notes=NOTES, fingerprint=None) -> None:
    assert worker.put("notes", {"call_sid": call_sid, "at": T0.timestamp(), "caller": None,
                                "notes": notes}, fingerprint)


@pytest.fixture
def spool(tmp_path) -> Spool:
    return Spool(tmp_path / "spool.sqlite3")


class BootClock:
    """A monotonic clock moved by hand, read a few seconds after the machine booted
    (``time.monotonic()`` counts from boot: near 0 on a machine just started)."""

    def __init__(self, now: float = 5.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers to stop (and whose threads to join) after the test."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
        if worker._thread is not None:
            worker._thread.join(timeout=5)
            assert not worker._thread.is_alive()


@pytest.fixture(params=["postgresql", "sqlite"], ids=["no-server", "no-file"])
def dead_store(request, tmp_path) -> Iterator[Store]:
    """A store whose database cannot be reached: nothing listens, or the file cannot be."""
    if request.param == "postgresql":
        url = "postgresql://postgres@127.0.0.1:1/x"
    else:
        url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'ivr.sqlite3'}"
    store = Store(url)
    yield store
    store.engine.dispose()


@pytest.fixture
def hanging_store() -> Iterator[tuple[Store, socket.socket]]:
    """A PostgreSQL URL whose server accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(60)  # accept(): a worker that never connects fails the test
    store = Store(f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/x")
    yield store, listener
    listener.close()
    store.engine.dispose()


# ---------------------------------------------------------------------- the happy path


def test_spooled_notes_voicemails_and_texts_are_written_by_drain(store, spool):
    worker = make_worker(store, spool)
    put_notes(worker)
    assert worker.put("voicemail", VOICEMAIL)
    assert worker.put("sms", {"recipient": "+15145550123", "body": "Octopus : …",
                              "dedupe_key": "sms:CA1:octopus"})
    assert worker.pending == 3
    assert worker.drain()
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "dial"]
    [voicemail] = store.voicemails()
    assert (voicemail.recording_sid, voicemail.duration) == ("RE1", 7)
    assert [m.recipient for m in store.outbox()] == ["+15145550123"]
    assert worker.pending == 0 and worker.stats.items_written == 3


def test_large_backlogs_are_written_in_batches_in_order(store, spool, monkeypatch):
    monkeypatch.setattr(worker_module, "ITEMS_PER_BATCH", 7)
    worker = make_worker(store, spool)
    for i in range(30):
        put_notes(worker, notes=[{"kind": "key", "node": "accueil", "detail": str(i)}])
    worker.run_once()  # one pass: the whole backlog, batch after batch
    assert worker.pending == 0
    assert [e.detail for e in store.events("CA1")] == [str(i) for i in range(30)]


def test_what_a_killed_process_spooled_is_written_by_the_next_one(store, tmp_path):
    """The spool is a file: a process killed after answering leaves its rows there, even in
    the middle of a batch it had claimed; the next process (or instance start) writes them."""
    path = tmp_path / "spool.sqlite3"
    put_notes(make_worker(store, Spool(path)))  # the answered request: on disk
    dead_pid = _a_finished_pid()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE items SET claimed_by = ?, claimed_at = ?",
                           (dead_pid, time.time()))  # claimed, then killed
    connection.close()
    worker = make_worker(store, Spool(path))
    assert worker.drain(timeout=5)  # not after the 60 s lease: its claimer is gone
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "dial"]


def _a_finished_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_row_written_twice_is_written_once(store, spool):
    worker = make_worker(store, spool)
    put_notes(worker, fingerprint="a" * 64)
    put_notes(worker, fingerprint="a" * 64)  # a replay, another process's copy
    assert worker.drain()
    assert len(store.events("CA1")) == 3


# ---------------------------------------------------------------------- poison


def test_a_poisoned_row_is_quarantined_and_the_others_written(store, spool, caplog):
    """One bad row among many: found by halving, kept aside with its error; every other row
    is written, and the journal goes on for the next calls."""
    worker = make_worker(store, spool)
    for n in range(10):
        put_notes(worker, call_sid=f"CA{n}")
        if n == 6:
            assert worker.put("notes", {"call_sid": "CAX", "at": T0.timestamp(),
                                        "caller": None, "notes": [{"node": "no kind"}]})
    worker.put("mystery", {"from": "a newer version"})
    assert worker.drain()
    assert len(store.calls()) == 10
    [(_, kind, error, _), (_, other, _, _)] = spool.quarantined()
    assert (kind, other) == ("notes", "mystery") and "KeyError" in error
    assert worker.stats.items_quarantined == 2
    assert any("quarantined" in r.getMessage() for r in caplog.records)
    put_notes(worker, call_sid="CA99")
    assert worker.drain() and len(store.calls()) == 11
    assert spool.requeue() == 2 and worker.pending == 2  # after a fix, tried again


def test_a_voicemail_is_kept_whatever_its_optional_fields_hold(store, spool):
    """A duration no integer column takes (a value that reached the spool unchecked): the
    message is stored without it, never quarantined, never dropped."""
    worker = make_worker(store, spool)
    worker.put("voicemail", {**VOICEMAIL, "duration": 10 ** 23})
    assert worker.drain()
    [voicemail] = store.voicemails()
    assert (voicemail.recording_sid, voicemail.duration) == ("RE1", None)
    assert spool.backlog().quarantined == 0


# ---------------------------------------------------------------------- a sick database


def test_a_dead_database_loses_nothing_and_is_caught_up_later(dead_store, store, spool):
    worker = make_worker(dead_store, spool)
    put_notes(worker)
    worker.put("voicemail", VOICEMAIL)
    assert not worker.drain(timeout=0.3)
    assert worker.stats.failures >= 1 and worker.pending == 2
    assert spool.backlog().quarantined == 0  # away is not poisoned
    assert make_worker(store, spool).drain()  # the database is back
    assert len(store.events("CA1")) == 3 and len(store.voicemails()) == 1


def test_the_call_path_never_waits_for_a_hanging_database(workers, hanging_store, spool):
    store, listener = hanging_store  # (torn down before ``workers``: the thread gets unstuck)
    worker = make_worker(store, spool, threaded=True, interval=0.01)
    workers.append(worker)
    put_notes(worker)  # the thread starts and blocks connecting
    server_side, _ = listener.accept()  # it is now inside the store, waiting for an answer

    queued = threading.Event()

    def call_path() -> None:
        for n in range(1000):
            put_notes(worker, call_sid=f"CA{n}")
        for _ in range(100):
            worker.put("voicemail", VOICEMAIL)
        queued.set()

    threading.Thread(target=call_path, name="test-call-path", daemon=True).start()
    # A call path that waited on the worker would wait as long as the server is silent:
    # for ever, here. 60 s only keeps a broken line from hanging the suite.
    assert queued.wait(timeout=60), "the call path waited on the hanging database"
    assert worker.stats.failures == 0  # all that time, the worker was still stuck in there
    assert worker.pending == 1101

    server_side.close()  # now the connection fails: counted, and nothing is lost
    listener.close()
    assert worker.wait_for(lambda: worker.stats.failures >= 1, timeout=60), worker.stats
    assert worker.pending == 1101


def test_a_dead_database_is_tried_again_after_its_back_off_not_before(dead_store, spool):
    clock = BootClock()
    worker = make_worker(dead_store, spool, clock=clock)
    put_notes(worker)
    worker.run_once()
    assert worker.stats.failures == 1
    clock.now += 1.9
    worker.run_once()
    assert worker.stats.failures == 1
    clock.now += 0.2
    worker.run_once()
    assert worker.stats.failures == 2 and worker.pending == 1


def test_a_dead_database_is_logged_once_a_minute_per_error(dead_store, spool, caplog):
    """Every pass fails: each error is one line a minute, not one per pass."""
    clock = BootClock()
    worker = make_worker(dead_store, spool, clock=clock)
    put_notes(worker)

    def warnings() -> list[str]:
        return [r.getMessage().split(": ", 1)[1].split(":")[0] for r in caplog.records
                if r.name == "ivr.worker" and "deferred work failed" in r.getMessage()]

    for _ in range(10):
        worker.run_once(force=True)
        clock.now += 1
    assert worker.stats.failures == 10
    assert warnings() == ["spool"]
    clock.now += 60
    worker.run_once(force=True)
    assert warnings() == ["spool", "spool"]


def test_an_unwritable_spool_says_so_and_the_request_decides(tmp_path, store):
    """A spool the disk refuses (here: a directory where the file should be) answers False
    at once; the webhook then chooses (the recording callback answers 503 for a retry)."""
    (tmp_path / "spool.sqlite3").mkdir()
    worker = make_worker(store, Spool(tmp_path / "spool.sqlite3"))
    assert worker.put("voicemail", VOICEMAIL) is False


# ---------------------------------------------------------------------- the outbox, reconciling


def test_the_outbox_pass_runs_and_its_failures_are_counted(store, spool):
    calls: list[int] = []

    def outbox() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("SMTP down")
        return 0

    worker = make_worker(store, spool, outbox=outbox, outbox_interval=1.0)
    worker.run_once(force=True)
    worker.run_once()  # not due yet
    assert len(calls) == 1
    worker.run_once(force=True)
    assert (len(calls), worker.stats.failures) == (2, 1)
    assert "outbox" in (worker.stats.last_error or "")
    worker.wake()  # e.g. a message was just queued
    worker.run_once()
    assert len(calls) == 3


def test_reconciling_runs_every_interval_by_itself(store, spool):
    """``ivr reconcile`` without anyone: a recording whose callbacks never came is fetched."""
    runs: list[float] = []
    clock = BootClock()
    worker = make_worker(store, spool, reconcile=lambda: runs.append(clock.now),
                         reconcile_interval=900, clock=clock)
    worker.run_once()
    assert runs == []  # not at start: the callbacks of the last minutes may be on their way
    clock.now += 900
    worker.run_once(force=True)
    worker.run_once()
    assert runs == [905.0]
    clock.now += 900
    worker.run_once()
    assert runs == [905.0, 1805.0]


# ---------------------------------------------------------------------- the thread


def test_a_threaded_worker_writes_in_the_background(store, spool, workers):
    worker = make_worker(store, spool, threaded=True, interval=0.05)
    workers.append(worker)
    put_notes(worker)
    worker.put("voicemail", VOICEMAIL)
    assert worker.wait_for(lambda: worker.stats.items_written == 2, timeout=60), worker.stats
    assert worker.pending == 0
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "dial"]
    assert [v.recording_sid for v in store.voicemails()] == ["RE1"]
    assert worker._thread is not None and worker._thread.name == "ivr-worker"


@pytest.mark.parametrize("seconds_since_boot", [0.5, 5.0, 59.0])
def test_a_worker_started_just_after_boot_does_its_first_pass_at_once(store, spool,
                                                                       seconds_since_boot):
    """Nothing is "last done" at time 0: on a machine up for less than an interval, the
    spool and the outbox are both due on the first pass."""
    sent: list[int] = []
    worker = make_worker(store, spool, outbox_interval=3600, outbox=lambda: sent.append(1) or 0,
                         clock=BootClock(seconds_since_boot))
    put_notes(worker)
    worker.run_once()
    assert (worker.pending, worker.stats.items_written) == (0, 1)
    assert sent == [1]


def test_a_threaded_worker_started_just_after_boot_writes_without_waiting(store, spool, workers):
    worker = make_worker(store, spool, threaded=True, interval=3600, clock=BootClock(5.0))
    workers.append(worker)
    put_notes(worker)
    assert worker.wait_for(lambda: worker.stats.items_written == 1, timeout=60), worker.stats
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "dial"]
