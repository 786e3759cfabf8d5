"""ivr.store on SQLite and on PostgreSQL: migrations, idempotent upserts, outbox, retention.

Every test taking ``database_url``/``store`` runs twice, ids ``[sqlite]`` and ``[postgresql]``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

import ivr.admin.models  # noqa: F401  (the console's tables, in Base.metadata too)
import ivr.overrides_store  # noqa: F401  (the day's changes' tables too)
from ivr import migrations
from ivr.store import Base, Call, CallEvent, OutboxMessage, Store, Voicemail, utcnow

MONTREAL = timezone(timedelta(hours=-5))
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=MONTREAL)
URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
TABLES = {"voicemails", "calls", "call_events", "outbox", "alembic_version"}

# What the <Record action> webhook knows (the caller, the path) and what Twilio's recording
# status callback knows (no caller): both carry the recording once it is ready.
ACTION = {"recording_sid": "RE1", "call_sid": "CA1", "box": "soutien", "node": "vm",
          "caller": "+15145550123", "path": "accueil.soutien.vm", "received_at": T0,
          "recording_url": URL, "duration": 42}
CALLBACK = {**ACTION, "caller": None, "received_at": T0 + timedelta(seconds=5)}
ACTION_EARLY = {**ACTION, "recording_url": None, "duration": None}  # before the file is ready


def only_voicemail(store: Store) -> Voicemail:
    rows = store.voicemails()
    assert len(rows) == 1, rows
    return rows[0]


def assert_complete(row: Voicemail) -> None:
    assert (row.recording_sid, row.call_sid, row.box, row.node) == ("RE1", "CA1", "soutien", "vm")
    assert row.caller == "+15145550123"
    assert row.path == "accueil.soutien.vm"
    assert (row.recording_url, row.duration, row.status) == (URL, 42, "new")


# ---------------------------------------------------------------------- migrations


def test_migrations_create_the_schema_and_rerunning_is_a_no_op(database_url):
    store = Store(database_url)
    try:
        assert not migrations.is_current(store.engine)
        assert migrations.current(store.engine) is None
        migrations.upgrade(store.engine)
        assert migrations.is_current(store.engine)
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        head = migrations.current(store.engine)
        store.save_voicemail(**ACTION)
        migrations.upgrade(store.engine)  # again: nothing to do, nothing lost
        assert migrations.current(store.engine) == head
        assert migrations.is_current(store.engine)
        assert_complete(only_voicemail(store))
    finally:
        store.engine.dispose()


def test_migrations_match_the_models(store):
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_downgrade_to_base_then_upgrade_again(store):
    with store.engine.begin() as connection:
        config = migrations.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not migrations.is_current(store.engine)
    assert not ({"voicemails", "calls", "call_events", "outbox"}
                & set(inspect(store.engine).get_table_names()))
    migrations.upgrade(store.engine)
    assert migrations.is_current(store.engine)


# ---------------------------------------------------------------------- voicemails


@pytest.mark.parametrize("arrivals", [
    pytest.param([ACTION, CALLBACK], id="action-then-callback"),
    pytest.param([CALLBACK, ACTION], id="callback-then-action"),
    pytest.param([ACTION, CALLBACK, ACTION, CALLBACK], id="both-twice"),
    pytest.param([CALLBACK, CALLBACK, ACTION, ACTION], id="callback-twice-first"),
    pytest.param([ACTION_EARLY, CALLBACK], id="early-action-then-callback"),
    pytest.param([CALLBACK, ACTION_EARLY], id="callback-then-early-action"),
])
def test_voicemail_from_both_callbacks_in_any_order_is_one_complete_row(store, arrivals):
    completions = []
    for fields in arrivals:
        row, just_complete = store.save_voicemail(**fields)
        completions.append(just_complete)
        if any(a["recording_url"] for a in arrivals[:len(completions)]):
            assert (row.recording_url, row.duration) == (URL, 42)
    assert completions.count(True) == 1
    row = only_voicemail(store)
    assert (row.recording_url, row.duration) == (URL, 42)
    assert row.received_at == arrivals[0]["received_at"]  # the first arrival's time is kept
    if any(a["caller"] for a in arrivals):
        assert_complete(row)


def test_voicemail_with_only_one_callback(store):
    row, just_complete = store.save_voicemail(**CALLBACK)
    assert just_complete
    assert (row.recording_url, row.duration, row.caller) == (URL, 42, None)
    assert only_voicemail(store).path == "accueil.soutien.vm"

    store.save_voicemail(**{**ACTION, "recording_sid": "RE2"})
    second = next(v for v in store.voicemails() if v.recording_sid == "RE2")
    assert (second.recording_url, second.caller) == (URL, "+15145550123")


def test_voicemail_incomplete_until_the_recording_arrives(store):
    row, just_complete = store.save_voicemail(**ACTION_EARLY)
    assert (row.recording_url, row.duration, just_complete) == (None, None, False)
    row, just_complete = store.save_voicemail(**ACTION_EARLY)
    assert (row.recording_url, just_complete) == (None, False)
    row, just_complete = store.save_voicemail(**CALLBACK)
    assert just_complete
    assert_complete(row)
    row, just_complete = store.save_voicemail(**ACTION_EARLY)  # a late repeat erases nothing
    assert not just_complete
    assert_complete(row)


def test_voicemail_times_are_aware_utc_on_every_backend(store):
    row, _ = store.save_voicemail(**ACTION)
    stored = only_voicemail(store).received_at
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == T0  # the same instant, whatever zone it was given in
    assert row.received_at == T0


def test_concurrent_saves_of_one_recording_make_one_row(make_store):
    stores = [make_store() for _ in range(2)]  # two app instances on one database
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    completions: list[bool] = []

    def save(n: int) -> None:
        fields = (ACTION, CALLBACK, ACTION_EARLY)[n % 3]
        try:
            barrier.wait(timeout=10)
            completions.append(stores[n % 2].save_voicemail(**fields)[1])
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert completions.count(True) == 1  # one of them, and only one, notifies
    assert_complete(only_voicemail(stores[0]))


def test_mark_handled_and_notified(store):
    row, _ = store.save_voicemail(**ACTION)
    store.mark_handled(row.id, "agent@example.org")
    store.mark_notified("RE1")
    handled = store.voicemail(row.id)
    assert handled is not None
    assert (handled.status, handled.handled_by) == ("handled", "agent@example.org")
    assert handled.handled_at is not None and handled.notified_at is not None
    assert store.voicemails(status="new") == []
    assert [v.id for v in store.voicemails(status="handled")] == [row.id]
    store.save_voicemail(**CALLBACK)  # a late callback does not make it new again
    assert only_voicemail(store).status == "handled"
    _, just_complete = store.save_voicemail(**{**CALLBACK, "recording_sid": "RE9"})
    assert just_complete


def test_expired_voicemails_follow_each_boxs_retention(store):
    now = utcnow()
    for sid, box, age in [("RE1", "soutien", 10), ("RE2", "soutien", 40),
                          ("RE3", "urgent", 10), ("RE4", "urgent", 3), ("RE5", "autre", 100),
                          ("RE6", "autre", 20)]:
        store.save_voicemail(**{**ACTION, "recording_sid": sid, "box": box,
                                "received_at": now - timedelta(days=age)})
    expired = store.expired_voicemails({"soutien": 30, "urgent": 7}, default_days=90)
    assert sorted(v.recording_sid for v in expired) == ["RE2", "RE3", "RE5"]
    for voicemail in expired:
        store.delete_voicemail(voicemail.id)
    assert sorted(v.recording_sid for v in store.voicemails()) == ["RE1", "RE4", "RE6"]


# ---------------------------------------------------------------------- journal


def event(kind: str, at: datetime, call_sid: str = "CA1", **extra) -> dict:
    return {"call_sid": call_sid, "at": at, "kind": kind, **extra}


def test_write_events_creates_the_call_once_and_keeps_order(store):
    store.write_events([
        event("enter", T0, node="accueil", caller="+1514555****"),
        event("key", T0 + timedelta(seconds=3), node="accueil", detail="2",
              last_node="soutien"),
    ])
    store.write_events([
        event("dial", T0 + timedelta(seconds=5), node="soutien", detail="+15145550000",
              destination="equipe-a"),
        event("enter", T0 + timedelta(seconds=1), call_sid="CA2", node="accueil"),
        event("dial-result", T0 + timedelta(seconds=30), node="soutien", detail="no-answer",
              last_node="vm", outcome="no-answer"),
    ])
    store.write_events([event("recorded", T0 + timedelta(seconds=50), node="vm", detail="RE1"),
                        event("status", T0 + timedelta(seconds=60), detail="completed",
                              duration="60", caller="+1999")])

    calls = {c.call_sid: c for c in store.calls()}
    assert set(calls) == {"CA1", "CA2"}
    first = calls["CA1"]
    assert first.started_at == T0
    assert first.caller == "+1514555****"  # from the first event; later ones don't change it
    assert (first.last_node, first.destination, first.outcome) == ("vm", "equipe-a", "voicemail")
    assert (first.ended_at, first.duration) == (T0 + timedelta(seconds=60), 60)
    assert [e.kind for e in store.events("CA1")] == ["enter", "key", "dial", "dial-result",
                                                     "recorded", "status"]
    assert [e.detail for e in store.events("CA1")][1:3] == ["2", "+15145550000"]
    assert [e.kind for e in store.events("CA2")] == ["enter"]
    assert calls["CA2"].last_node is None
    assert [c.call_sid for c in store.calls(since=T0 + timedelta(seconds=1))] == ["CA2"]
    store.write_events([])  # nothing to do


def test_purge_journal_removes_old_calls_and_events_only(store):
    now = utcnow()
    old, recent = now - timedelta(days=100), now - timedelta(days=1)
    store.write_events([event("enter", old, call_sid="OLD"), event("key", old, call_sid="OLD"),
                        event("enter", recent, call_sid="NEW")])
    store.save_voicemail(**{**ACTION, "received_at": old})
    store.enqueue(kind="email", recipient="a@example.org", body="b", dedupe_key="pending")
    assert store.purge_journal(now - timedelta(days=30)) == 1
    assert [c.call_sid for c in store.calls()] == ["NEW"]
    assert store.events("OLD") == []
    assert [e.kind for e in store.events("NEW")] == ["enter"]
    assert len(store.voicemails()) == 1  # voicemails have their own retention
    assert [m.dedupe_key for m in store.outbox()] == ["pending"]  # never drop unsent mail
    with store.session() as session:
        assert session.scalars(select(CallEvent.call_sid)).all() == ["NEW"]
    assert store.purge_journal(now - timedelta(days=30)) == 0


def test_a_call_s_row_keeps_its_start_and_takes_the_latest_values(store):
    store.write_events([event("enter", T0, caller="+1514…23")])
    store.write_events([event("key", T0 + timedelta(seconds=1), last_node="vm")])
    (row,) = store.calls()
    assert (row.started_at, row.caller, row.last_node) == (T0, "+1514…23", "vm")


def test_a_known_call_deleted_meanwhile_is_created_again(make_store):
    """Retention run by another process (or a restored backup) removed a call this store had
    created: its next events would break the foreign key; the batch still lands."""
    store, other = make_store(), make_store()
    store.write_events([event("enter", T0, call_sid="CA1"), event("enter", T0, call_sid="CA2")])
    assert other.purge_journal(T0 + timedelta(days=1)) == 2
    later = T0 + timedelta(seconds=5)
    store.write_events([event("key", later, call_sid="CA1", caller="+1514…23", detail="2"),
                        event("dial", later, call_sid="CA1", destination="csi"),
                        event("key", later, call_sid="CA3")])
    assert {c.call_sid: (c.started_at, c.caller, c.destination) for c in store.calls()} == {
        "CA1": (later, "+1514…23", "csi"), "CA3": (later, None, None)}
    assert [(e.kind, e.detail) for e in store.events("CA1")] == [("key", "2"), ("dial", None)]


def test_a_failed_batch_writes_nothing_and_the_next_one_lands(store):
    store.write_events([event("enter", T0)])
    with pytest.raises(IntegrityError):  # kind is NOT NULL: the batch is refused as a whole
        store.write_events([event("key", T0 + timedelta(seconds=1), last_node="vm"),
                            event(None, T0 + timedelta(seconds=2))])  # type: ignore[arg-type]
    assert [e.kind for e in store.events("CA1")] == ["enter"]
    assert store.calls()[0].last_node is None
    store.write_events([event("key", T0 + timedelta(seconds=3))])
    assert [e.kind for e in store.events("CA1")] == ["enter", "key"]


def test_outcomes_of_the_closed_calls_of_a_batch_are_decided(store):
    end = T0 + timedelta(seconds=60)
    batch = [event("enter", T0, call_sid=sid, node="accueil")
             for sid in ("ANSWERED", "VOICEMAIL", "HANGUP", "OPEN")]
    batch += [event("dial", T0, call_sid="ANSWERED", destination="csi"),
              event("dial-result", end, call_sid="ANSWERED", detail="completed"),
              event("recorded", end, call_sid="VOICEMAIL", detail="RE1")]
    batch += [event("status", end, call_sid=sid, detail="completed", duration="60")
              for sid in ("ANSWERED", "VOICEMAIL", "HANGUP")]
    store.write_events(batch)
    calls = {c.call_sid: c for c in store.calls()}
    assert {sid: c.outcome for sid, c in calls.items()} == {
        "ANSWERED": "answered", "VOICEMAIL": "voicemail", "HANGUP": "hangup", "OPEN": None}
    assert (calls["ANSWERED"].ended_at, calls["ANSWERED"].duration) == (end, 60)
    assert calls["OPEN"].ended_at is None
    # Another instance writes the closed call's last words after its status: decided again.
    store.write_events([event("end", end, call_sid="HANGUP", node="info")])
    assert {c.call_sid: c.outcome for c in store.calls()}["HANGUP"] == "info"


def test_a_request_s_events_keep_their_order_within_one_instant(store):
    store.write_events([event(kind, T0, node=kind) for kind in ("key", "enter", "dial")])
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "dial"]


def test_notes_shared_by_several_requests_are_written_for_each(store):
    notes = ({"kind": "key", "node": "menu", "detail": "1"},
             {"kind": "enter", "node": "csi", "branch": "personnel", "last_node": "csi"})
    store.write_notes([("CA1", T0, "+1514…23", notes, None), ("CA2", T0, None, notes, None)])
    store.write_notes([("CA1", T0 + timedelta(seconds=4), None, notes, None)])
    store.write_notes([("CA3", T0, None, list(notes), None)])
    assert [(e.kind, e.detail) for e in store.events("CA1")] == [
        ("key", "1"), ("enter", None), ("key", "1"), ("enter", None)]
    calls = {c.call_sid: c for c in store.calls()}
    assert (calls["CA1"].caller, calls["CA1"].branch, calls["CA1"].last_node) == (
        "+1514…23", "personnel", "csi")
    assert calls["CA1"].started_at == T0  # the first request's time, not a later one
    assert set(calls) == {"CA1", "CA2", "CA3"}


def test_values_are_clamped_to_their_columns_and_cleaned(store):
    """A node id over VARCHAR(128) (a signed URL can carry one), a NUL byte (PostgreSQL
    refuses it in text) or a duration no integer column holds never stop the journal: the
    values are cut, cleaned or dropped, on both backends alike."""
    store.write_events([event("enter", T0, node="n" * 200, detail="1\x002",
                              branch="b\x00" * 100),
                        event("status", T0 + timedelta(seconds=9), detail="completed",
                              duration="1" * 23)])
    first = store.events("CA1")[0]
    assert (first.node, first.detail) == ("n" * 128, "12")
    call = store.calls()[0]
    assert call.branch == "b" * 100 and call.duration is None


def test_a_request_written_twice_adds_its_events_once(store):
    """The spool may hand a request over again (a crash between the commit and its delete),
    and a replay may reach another instance: the fingerprint makes the second a no-op."""
    notes = ({"kind": "key", "node": "menu", "detail": "1"},
             {"kind": "enter", "node": "csi"})
    for _ in range(2):
        store.write_notes([("CA1", T0, None, notes, "f" * 64)])
    store.write_notes([("CA1", T0, None, notes, "e" * 64)])  # another request, same content
    assert [e.kind for e in store.events("CA1")] == ["key", "enter", "key", "enter"]


# ---------------------------------------------------------------------- outbox


def test_enqueue_twice_with_one_dedupe_key_is_one_message(store):
    for _ in range(2):
        store.enqueue(kind="email", recipient="a@example.org", subject="S", body="B",
                      dedupe_key="voicemail:RE1:a@example.org")
    store.enqueue(kind="sms", recipient="+15145550123", body="B", dedupe_key="sms:RE1")
    messages = store.outbox()
    assert sorted(m.dedupe_key for m in messages) == ["sms:RE1", "voicemail:RE1:a@example.org"]
    assert {m.status for m in messages} == {"pending"}
    assert len(store.due_messages()) == 2


def test_outbox_backoff_then_final_failure(store):
    store.enqueue(kind="email", recipient="a@example.org", body="B", dedupe_key="k")
    (message,) = store.due_messages()
    assert message.attempts == 0
    before = utcnow()
    assert store.message_failed(message.id, "SMTP down", max_attempts=3) == "pending"
    assert store.due_messages() == []  # backing off
    (row,) = store.outbox()
    assert (row.attempts, row.last_error, row.status) == (1, "SMTP down", "pending")
    assert row.next_attempt_at >= before + timedelta(seconds=29)

    with store.session() as session:  # time passes
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    (message,) = store.due_messages()
    assert store.message_failed(message.id, "still down", max_attempts=3) == "pending"
    (row,) = store.outbox()
    assert row.next_attempt_at >= utcnow() + timedelta(seconds=55)  # doubled
    assert store.message_failed(message.id, "x" * 5000, max_attempts=3) == "failed"
    (row,) = store.outbox(status="failed")
    assert (row.attempts, len(row.last_error)) == (3, 2000)
    with store.session() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert store.due_messages() == []  # failed for good
    assert store.message_failed(12345, "no such message", max_attempts=3) == "missing"


def test_message_sent(store):
    store.enqueue(kind="sms", recipient="+15145550123", body="B", dedupe_key="k")
    (message,) = store.due_messages()
    store.message_failed(message.id, "timeout", max_attempts=5)
    store.message_sent(message.id, "SM123")
    (row,) = store.outbox(status="sent")
    assert (row.attempts, row.external_id, row.last_error) == (2, "SM123", None)
    assert row.sent_at is not None
    assert store.due_messages() == []


def test_a_due_message_is_handed_to_one_instance_only(make_store):
    first, second = make_store(), make_store()
    for n in range(3):
        first.enqueue(kind="email", recipient=f"{n}@example.org", body="B", dedupe_key=str(n))
    taken = [m.id for m in first.due_messages()] + [m.id for m in second.due_messages()]
    assert sorted(taken) == sorted(m.id for m in first.outbox())  # each one once


# ---------------------------------------------------------------------- several instances


def test_two_app_instances_see_each_others_writes(make_store):
    first, second = make_store(), make_store()
    first.save_voicemail(**ACTION_EARLY)
    second.save_voicemail(**CALLBACK)
    assert_complete(only_voicemail(first))
    assert_complete(only_voicemail(second))
    second.write_events([event("enter", T0)])
    first.write_events([event("key", T0 + timedelta(seconds=1), last_node="vm")])
    assert [e.kind for e in second.events("CA1")] == ["enter", "key"]
    assert second.calls()[0].last_node == "vm"
    first.enqueue(kind="email", recipient="a@example.org", body="B", dedupe_key="k")
    second.enqueue(kind="email", recipient="a@example.org", body="B", dedupe_key="k")
    assert len(first.outbox()) == len(second.outbox()) == 1
    with second.session() as session:
        assert session.scalar(select(Call.call_sid)) == "CA1"


def test_ping(store, tmp_path):
    assert store.ping()
    dead = Store(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.sqlite3'}")
    try:
        assert not dead.ping()
    finally:
        dead.engine.dispose()


def test_concurrent_claims_hand_out_each_message_once(make_store):
    stores = [make_store() for _ in range(2)]
    for n in range(30):
        stores[0].enqueue(kind="sms", recipient="+15145550123", body="B", dedupe_key=str(n))
    barrier = threading.Barrier(6)
    taken: list[int] = []
    errors: list[BaseException] = []

    def claim(store: Store) -> None:
        try:
            barrier.wait(timeout=10)
            while batch := store.due_messages(limit=4):
                taken.extend(m.id for m in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(stores[n % 2],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(taken) == sorted(m.id for m in stores[0].outbox())
