"""ivr.worker: the call path only appends to memory; the worker writes, retries and survives.

Tests taking ``store`` run on SQLite and on PostgreSQL (ids ``[sqlite]``/``[postgresql]``).
"""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
from dbfixtures import connections_tried_by_this_thread

from ivr import worker as worker_module
from ivr.store import Store
from ivr.worker import Worker

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
VOICEMAIL = {"recording_sid": "RE1", "call_sid": "CA1", "box": "soutien", "node": "vm",
             "caller": None, "path": "vm", "received_at": T0,
             "recording_url": "https://api.twilio.com/RE1", "duration": 7}


def events(n: int, call_sid: str = "CA1") -> list[dict]:
    return [{"call_sid": call_sid, "at": T0 + timedelta(milliseconds=i), "kind": "key",
             "node": "accueil", "detail": str(i)} for i in range(n)]


def save_voicemail(store: Store) -> None:
    store.save_voicemail(**VOICEMAIL)


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


def test_recorded_events_are_written_by_drain(store):
    worker = Worker(store, threaded=False)
    for e in events(3):
        worker.record(e)
    assert worker.pending == 3
    assert store.calls() == []  # nothing touched the database on the call path
    assert worker.drain()
    assert worker.pending == 0
    assert [e.detail for e in store.events("CA1")] == ["0", "1", "2"]
    assert (worker.stats.events_written, worker.stats.failures) == (3, 0)


def test_deferred_work_runs_on_drain(store):
    worker = Worker(store, threaded=False)
    worker.defer("voicemail", save_voicemail)
    assert store.voicemails() == []
    assert worker.drain()
    assert [v.recording_sid for v in store.voicemails()] == ["RE1"]
    assert worker.stats.tasks_done == 1


def test_large_batches_are_written_in_order(store):
    worker = Worker(store, threaded=False)
    for e in events(1200):
        worker.record(e)
    assert worker.drain()
    assert [int(e.detail) for e in store.events("CA1")] == list(range(1200))


# ---------------------------------------------------------------------- a request's notes

# One request's notes as Turn.note makes them, shared by every request (a cached tuple):
# read-only, so that any change made to them fails the test.
NOTES = tuple(MappingProxyType(note) for note in (
    {"kind": "key", "node": "personnel", "detail": "1"},
    {"kind": "enter", "node": "urgence_ti", "detail": None, "branch": "personnel",
     "last_node": "urgence_ti"},
    {"kind": "dial", "node": "urgence_ti", "detail": "csi", "destination": "csi"},
))


def test_a_request_s_notes_are_one_entry_made_into_events_by_the_writer(store):
    before = copy.deepcopy([dict(note) for note in NOTES])
    worker = Worker(store, threaded=False)
    worker.record(events(1, "CA2")[0])
    worker.record_notes("CA1", T0, "+1514…23", NOTES)
    worker.record_notes("CA2", T0 + timedelta(seconds=1), "+1438…99", NOTES)
    assert (len(worker.events), worker.pending) == (3, 7)  # one entry per request
    assert [(e["call_sid"], e["kind"]) for e in worker.queued_events()] == [
        ("CA2", "key"), ("CA1", "key"), ("CA1", "enter"), ("CA1", "dial"),
        ("CA2", "key"), ("CA2", "enter"), ("CA2", "dial")]
    assert store.calls() == []

    assert worker.drain()
    assert (worker.pending, worker.stats.events_written) == (0, 7)
    assert [(e.kind, e.node, e.detail, e.at) for e in store.events("CA1")] == [
        ("key", "personnel", "1", T0), ("enter", "urgence_ti", None, T0),
        ("dial", "urgence_ti", "csi", T0)]
    assert [e.kind for e in store.events("CA2")] == ["key", "key", "enter", "dial"]
    calls = {c.call_sid: c for c in store.calls()}
    assert (calls["CA1"].caller, calls["CA1"].branch, calls["CA1"].last_node,
            calls["CA1"].destination) == ("+1514…23", "personnel", "urgence_ti", "csi")
    assert [dict(note) for note in NOTES] == before


def test_a_batch_holds_whole_requests_within_its_size(store, monkeypatch):
    monkeypatch.setattr(worker_module, "EVENTS_PER_BATCH", 5)
    sizes: list[int] = []
    write_notes = store.write_notes
    monkeypatch.setattr(store, "write_notes", lambda batch: (
        sizes.append(sum(len(notes) for *_, notes in batch)), write_notes(batch)))
    worker = Worker(store, threaded=False)
    for n in range(3):
        worker.record_notes(f"CA{n}", T0, None, NOTES)
    for e in events(4, "CA9"):
        worker.record(e)
    assert worker.drain()
    assert sizes == [3, 3, 5, 2]  # 3 + 3 > 5: a request's notes are never split
    assert worker.stats.events_written == 13


def test_notes_count_against_the_limit_by_event(dead_store, monkeypatch):
    monkeypatch.setattr(worker_module, "MAX_PENDING_EVENTS", 10)
    worker = Worker(dead_store, threaded=False)
    for n in range(5):
        worker.record_notes(f"CA{n}", T0, None, NOTES)
    # Checked before queueing: the fourth request goes over (12), the fifth is refused.
    assert (worker.pending, worker.stats.events_lost) == (12, 3)
    worker.run_once(force=True)  # fails: the batch goes back as events, up to the limit
    assert (worker.pending, worker.stats.events_lost) == (10, 5)
    assert [e["call_sid"] for e in worker.queued_events()] == ["CA0"] + ["CA1"] * 3 + [
        "CA2"] * 3 + ["CA3"] * 3
    worker.record_notes("CA9", T0, None, NOTES)
    assert (worker.pending, worker.stats.events_lost) == (10, 8)


def test_a_cleared_queue_counts_from_zero(store):
    worker = Worker(store, threaded=False)  # never runs, as for `ivr call`: its queue is cleared
    worker.record_notes("CA1", T0, None, NOTES)
    worker.events.clear()
    worker.record_notes("CA2", T0, None, NOTES)
    assert worker.pending == 3


def test_record_notes_never_raises(store, caplog):
    worker = Worker(store, threaded=False)
    worker.record_notes("CA1", T0, None, None)  # type: ignore[arg-type]
    worker.record_notes("CA1", T0, None, ())
    assert worker.pending == 0
    assert "journal notes dropped" in caplog.text


# ---------------------------------------------------------------------- a dead database


def test_a_dead_database_loses_nothing_and_is_caught_up_later(dead_store, store):
    worker = Worker(dead_store, threaded=False)
    with connections_tried_by_this_thread(dead_store) as tried:
        for e in events(1000):
            worker.record(e)
        worker.defer("voicemail", save_voicemail)
    assert tried == []  # the call path only queued: it never went near the database

    worker.run_once(force=True)  # both fail: counted, kept
    assert worker.stats.failures == 2
    assert worker.stats.last_error is not None
    assert worker.pending == 1001
    assert (worker.stats.events_written, worker.stats.events_lost) == (0, 0)
    assert not worker.drain(timeout=0.2)  # still down: nothing is dropped
    assert worker.pending == 1001

    worker.store = store  # the database is back
    assert worker.drain()
    assert [int(e.detail) for e in store.events("CA1")] == list(range(1000))
    assert [v.recording_sid for v in store.voicemails()] == ["RE1"]
    assert (worker.stats.events_written, worker.stats.tasks_done) == (1000, 1)
    assert (worker.stats.events_lost, worker.stats.tasks_lost) == (0, 0)


def test_pending_events_are_bounded(dead_store, monkeypatch):
    monkeypatch.setattr(worker_module, "MAX_PENDING_EVENTS", 10)
    monkeypatch.setattr(worker_module, "MAX_PENDING_TASKS", 2)
    worker = Worker(dead_store, threaded=False)
    for e in events(15):
        worker.record(e)
    for _ in range(3):
        worker.defer("voicemail", save_voicemail)
    assert (len(worker.events), worker.stats.events_lost) == (10, 5)
    assert (len(worker.tasks), worker.stats.tasks_lost) == (2, 1)
    worker.run_once(force=True)
    assert len(worker.events) == 10  # a failed batch goes back, up to the limit
    assert [e["detail"] for e in worker.events] == [str(i) for i in range(10)]


def test_the_call_path_never_waits_for_a_hanging_database(workers, hanging_store):
    store, listener = hanging_store  # (torn down before ``workers``: the thread gets unstuck)
    worker = Worker(store, threaded=True, interval=0.01)
    workers.append(worker)
    worker.record(events(1)[0])  # the thread starts and blocks connecting
    server_side, _ = listener.accept()  # it is now inside the store, waiting for an answer

    queued = threading.Event()

    def call_path() -> None:
        for e in events(1000):
            worker.record(e)
        for _ in range(100):
            worker.defer("voicemail", save_voicemail)
        queued.set()

    threading.Thread(target=call_path, name="test-call-path", daemon=True).start()
    # A call path that waited on the worker would wait as long as the server is silent:
    # for ever, here. 60 s only keeps a broken line from hanging the suite.
    assert queued.wait(timeout=60), "the call path waited on the hanging database"
    assert worker.stats.failures == 0  # all that time, the worker was still stuck in there
    assert worker.pending == 1101

    server_side.close()  # now the connection fails: counted, and nothing is lost
    listener.close()
    assert worker.wait_for(lambda: worker.stats.failures >= 1 and len(worker.events) == 1001,
                           timeout=60), worker.stats
    assert worker.stats.events_lost == 0


# ---------------------------------------------------------------------- retries


def test_a_failing_deferred_task_is_retried_later_and_succeeds(store):
    tries: list[int] = []

    def flaky(s: Store) -> None:
        tries.append(len(tries))
        if len(tries) < 3:
            raise ConnectionError("database restarting")
        save_voicemail(s)

    clock = BootClock()
    worker = Worker(store, threaded=False, clock=clock)
    worker.defer("voicemail", flaky)
    worker.run_once()
    assert (len(tries), worker.stats.failures) == (1, 1)
    (task,) = worker.tasks
    assert task.attempts == 1 and task.not_before > clock.now  # backing off
    worker.run_once()
    assert len(tries) == 1  # not yet

    clock.now = task.not_before  # time passes
    worker.run_once()
    assert (len(tries), worker.stats.failures, task.attempts) == (2, 2, 2)
    assert "ConnectionError: database restarting" in (worker.stats.last_error or "")
    assert worker.drain()
    assert len(tries) == 3
    assert (worker.stats.tasks_done, worker.stats.tasks_lost) == (1, 0)
    assert [v.recording_sid for v in store.voicemails()] == ["RE1"]


def test_a_deferred_task_older_than_a_day_is_given_up(store, monkeypatch):
    def broken(s: Store) -> None:
        raise RuntimeError("bug")

    clock = BootClock()
    worker = Worker(store, threaded=False, clock=clock)
    worker.defer("broken", broken)
    worker.run_once(force=True)
    assert (worker.pending, worker.stats.tasks_lost) == (1, 0)  # retried later
    clock.now += worker_module.TASK_MAX_AGE + 1
    worker.run_once(force=True)
    assert (worker.pending, worker.stats.tasks_lost, worker.stats.failures) == (0, 1, 2)


def test_the_outbox_pass_runs_and_its_failures_are_counted(store):
    calls: list[int] = []

    def outbox() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("SMTP down")
        return 0

    worker = Worker(store, outbox=outbox, threaded=False, outbox_interval=1.0)
    worker.run_once(force=True)
    worker.run_once()  # not due yet
    assert len(calls) == 1
    worker.run_once(force=True)
    assert (len(calls), worker.stats.failures) == (2, 1)
    assert "outbox" in (worker.stats.last_error or "")
    worker.wake()  # e.g. a message was just queued
    worker.run_once()
    assert len(calls) == 3


# ---------------------------------------------------------------------- the thread


def test_a_threaded_worker_writes_in_the_background(store, workers):
    worker = Worker(store, threaded=True, interval=0.05)
    workers.append(worker)
    for e in events(5):
        worker.record(e)
    worker.defer("voicemail", save_voicemail)
    assert worker.wait_for(lambda: worker.stats.tasks_done == 1
                           and worker.stats.events_written == 5, timeout=60), worker.stats
    assert worker.pending == 0
    assert [e.detail for e in store.events("CA1")] == ["0", "1", "2", "3", "4"]
    assert [v.recording_sid for v in store.voicemails()] == ["RE1"]
    assert worker._thread is not None and worker._thread.name == "ivr-worker"


@pytest.mark.parametrize("seconds_since_boot", [0.5, 5.0, 59.0])
def test_a_worker_started_just_after_boot_does_its_first_pass_at_once(store, seconds_since_boot):
    """Nothing is "last done" at time 0: on a machine up for less than an interval, the
    journal, the deferred work and the outbox are all due on the first pass."""
    sent: list[int] = []
    worker = Worker(store, threaded=False, journal_interval=3600, outbox_interval=3600,
                    outbox=lambda: sent.append(1) or 0, clock=BootClock(seconds_since_boot))
    worker.record_notes("CA1", T0, None, NOTES)
    worker.defer("voicemail", save_voicemail)
    worker.run_once()
    assert (worker.pending, worker.stats.events_written, worker.stats.tasks_done) == (0, 3, 1)
    assert sent == [1]
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "dial"]


def test_a_threaded_worker_started_just_after_boot_writes_without_waiting(store, workers):
    worker = Worker(store, threaded=True, interval=0.01, journal_interval=3600,
                    clock=BootClock(5.0))
    workers.append(worker)
    worker.record_notes("CA1", T0, None, NOTES)
    assert worker.wait_for(lambda: worker.stats.events_written == 3, timeout=60), worker.stats
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "dial"]


def test_a_dead_database_is_tried_again_after_its_back_off_not_before(dead_store):
    clock = BootClock()
    worker = Worker(dead_store, threaded=False, journal_interval=0, clock=clock)
    worker.record(events(1)[0])
    worker.run_once()
    assert worker.stats.failures == 1
    clock.now += 1.9
    worker.run_once()
    assert worker.stats.failures == 1
    clock.now += 0.2
    worker.run_once()
    assert worker.stats.failures == 2 and worker.pending == 1


def test_one_pass_writes_the_whole_queue_about_once_a_journal_interval(store, monkeypatch):
    """The journal is written in large transactions (cheaper per event), every
    ``journal_interval``: one pass takes everything queued, batch after batch."""
    monkeypatch.setattr(worker_module, "EVENTS_PER_BATCH", 5)
    sizes: list[int] = []
    write_notes = store.write_notes
    monkeypatch.setattr(store, "write_notes", lambda batch: (
        sizes.append(sum(len(notes) for *_, notes in batch)), write_notes(batch)))
    clock = BootClock(5.0)  # whatever the machine's uptime
    worker = Worker(store, threaded=False, journal_interval=3600, clock=clock)
    for n in range(4):
        worker.record_notes(f"CA{n}", T0, None, NOTES)
    worker.run_once()
    assert sizes == [3, 3, 3, 3] and worker.pending == 0  # the first pass: all of it
    worker.record_notes("CA9", T0, None, NOTES)
    worker.run_once()
    assert sizes == [3, 3, 3, 3] and worker.pending == 3  # within the interval: waits
    clock.now += 3600  # an interval later: due
    worker.run_once()
    assert sizes == [3, 3, 3, 3, 3] and worker.pending == 0
    worker.record_notes("CA10", T0, None, NOTES)
    worker.run_once(force=True)  # drain(), shutdown: now, whatever the interval
    assert sizes == [3, 3, 3, 3, 3, 3] and worker.pending == 0


def test_a_dead_database_is_logged_once_a_minute_per_error(dead_store, caplog):
    """The journal and a voicemail fail in turn on every pass: each error is one line a
    minute, not one per pass."""
    clock = BootClock()
    worker = Worker(dead_store, threaded=False, clock=clock)
    worker.record(events(1)[0])
    worker.defer("voicemail", save_voicemail)

    def warnings() -> list[str]:
        return [r.getMessage().split(": ", 1)[1].split(":")[0] for r in caplog.records
                if r.name == "ivr.worker" and "deferred work failed" in r.getMessage()]

    for _ in range(10):
        worker.run_once(force=True)
        clock.now += 1
    assert worker.stats.failures == 20
    assert warnings() == ["journal", "voicemail"]
    clock.now += 60
    worker.run_once(force=True)
    assert warnings() == ["journal", "voicemail", "journal", "voicemail"]
