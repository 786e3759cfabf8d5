"""What the line acknowledged survives (issue 16): a sick database never holds a webhook, a
killed process loses no answered request, a bad value never stops the journal, a voicemail is
kept whatever its optional fields hold.

Tests taking ``database_url`` run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from dbfixtures import connections_tried_by_this_thread
from twiml_rules import CALL_SID, said, signed_post, twilio_form

from ivr import REPO_ROOT, migrations
from ivr.services import services
from ivr.simulator import CallSimulator
from ivr.store import Store

RECORDING = {"RecordingSid": "RE" + "1" * 32, "RecordingUrl": "https://api.twilio.com/RE1",
             "RecordingDuration": "12", "RecordingStatus": "completed"}
SAVED = "votre message est enregistré"


def record(client, path: str = "/voice/record/vm_telesante", **fields: str):
    return signed_post(client, path, twilio_form(**{**RECORDING, **fields}))


# ---------------------------------------------------------------------- a hung database


@pytest.mark.parametrize("how", ["postgresql-silent", "sqlite-locked"])
def test_no_webhook_waits_on_a_hung_database(make_app, tmp_path, how):
    """PostgreSQL frozen (a server that accepts and never answers) or SQLite write-locked from
    outside: every webhook, the recording callbacks included, answers without opening a
    database connection; the worker writes it all once the database is back."""
    import socket

    listener = None
    if how == "postgresql-silent":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"postgresql://ivr@127.0.0.1:{listener.getsockname()[1]}/x"
        app = make_app(DATABASE_URL=url, migrate=False)
    else:
        url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
        app = make_app(DATABASE_URL=url)
        locker = sqlite3.connect(tmp_path / "ivr.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
    client = app.test_client()
    try:
        with connections_tried_by_this_thread(services(app).store) as tried:
            CallSimulator(app).play("2,1,1,1")
            assert record(client).status_code == 200
            assert record(client, "/voice/recording/vm_telesante").status_code == 204
            assert signed_post(client, "/voice/status", twilio_form(
                CallStatus="completed", CallDuration="30")).status_code == 204
        assert tried == []
        assert services(app).worker.pending >= 4  # on disk, waiting for the database
    finally:
        if listener is not None:
            listener.close()
        else:
            locker.rollback()
            locker.close()
    if how == "sqlite-locked":
        assert services(app).worker.drain()
        assert len(services(app).store.voicemails()) == 1


# ---------------------------------------------------------------------- the recording callbacks


def test_a_refused_spool_makes_twilio_retry_the_recording_callback(make_app, tmp_path):
    """The disk refuses the message (here the spool's path is a directory): the recording
    callback answers 503, which Twilio retries (the URL's connection overrides); the caller,
    who already heard the thanks, is not involved."""
    (tmp_path / "spool").mkdir()
    app = make_app(IVR_SPOOL=str(tmp_path / "spool"))
    response = record(app.test_client(), "/voice/recording/vm_telesante")
    assert response.status_code == 503


def test_the_recording_callback_carries_retry_overrides_and_is_accepted(app):
    from ivr.security import RETRY_OVERRIDES, sign

    client = app.test_client()
    body = signed_post(client, "/voice/node/vm_telesante", twilio_form()).get_data(as_text=True)
    assert f"{RETRY_OVERRIDES}\"" in body.replace("&amp;", "&")
    # Signed with the fragment (should Twilio sign the URL as given): still accepted.
    form = twilio_form(**RECORDING)
    url = "http://localhost/voice/recording/vm_telesante"
    signature = sign(url + RETRY_OVERRIDES, form, app.config["TWILIO_AUTH_TOKEN"])
    response = client.post("/voice/recording/vm_telesante", data=form,
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 204


@pytest.mark.parametrize("duration", ["²", "1" * 23, "1e20", "-3", ""])
def test_odd_recording_values_never_lose_the_message(app, duration):
    """``RecordingDuration`` is optional detail: whatever it holds, the caller hears that the
    message is saved and it is stored (without a duration)."""
    answer = record(app.test_client(), RecordingDuration=duration)
    assert SAVED in said(ET.fromstring(answer.data))
    record(app.test_client(), "/voice/recording/vm_telesante", RecordingDuration=duration)
    assert services(app).worker.drain()
    [voicemail] = services(app).store.voicemails()
    assert (voicemail.recording_sid, voicemail.duration) == (RECORDING["RecordingSid"], None)


# ---------------------------------------------------------------------- poison values


def test_bad_values_never_stop_the_journal(make_app, database_url, written_events):
    """``CallDuration=1e20`` or ``²``, a NUL byte in ``Digits`` or ``From`` (PostgreSQL refuses
    it in text), a node id of 300 characters: clamped or cleaned at the edge, the journal goes
    on, nothing is quarantined and ``/healthz`` stays ``ok``."""
    app = make_app(DATABASE_URL=database_url)
    client = app.test_client()
    for duration in ("1" * 21, "²"):
        signed_post(client, "/voice/status", twilio_form(CallStatus="completed",
                                                         CallDuration=duration))
    signed_post(client, "/voice/input/accueil", twilio_form(Digits="2\x00",
                                                            From="+1514555\x000123"))
    signed_post(client, "/voice/node/" + "n" * 300, twilio_form())
    signed_post(client, "/voice", twilio_form(CallSid="CA" + "2" * 32))
    events = written_events(app)
    assert services(app).spool.backlog().quarantined == 0
    assert {e["call_sid"] for e in events} == {CALL_SID, "CA" + "2" * 32}
    assert all("\x00" not in (e["detail"] or "") for e in events)
    assert all(len(e["node"] or "") <= 128 for e in events)
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_a_quarantined_row_makes_healthz_degraded(app):
    services(app).worker.put("notes", {"call_sid": "CA1", "at": 0, "caller": None,
                                       "notes": [{"no": "kind"}]})
    assert services(app).worker.drain()
    health = app.test_client().get("/healthz").get_json()
    assert health["status"] == "degraded"
    assert health["spool"]["quarantined"] == 1


# ---------------------------------------------------------------------- kill -9


KILLED = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from twiml_rules import signed_post, twilio_form
    from ivr import create_app
    app = create_app({settings})
    client = app.test_client()
    for n in range({calls}):
        sid = "CA%032d" % n
        signed_post(client, "/voice", twilio_form(CallSid=sid))
        signed_post(client, "/voice/input/accueil", twilio_form(CallSid=sid, Digits="2"))
    print("answered", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no drain: as kill -9 under load
""")


def test_a_process_killed_after_answering_loses_no_journal_event(tmp_path, database_url):
    """Every answered request's events survive a SIGKILL of the process that answered: the
    next process writes them from the spool."""
    store = Store(database_url)
    migrations.upgrade(store.engine)
    settings = {"TESTING": True, "TWILIO_AUTH_TOKEN": "test-auth-token",
                "DATABASE_URL": database_url, "IVR_WORKER": False, "IVR_LOOKUP": False,
                "IVR_SPOOL": str(tmp_path / "spool.sqlite3"), "IVR_RELOAD_SECONDS": 0,
                "SECRET_KEY": "x", "IVR_NOW": "2026-12-01T10:00:00-05:00"}
    code = KILLED.format(tests=str(REPO_ROOT / "tests"), settings=repr(settings), calls=25)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": ""})
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert "answered" in run.stdout
    assert store.calls() == []  # nothing reached the database before the kill

    from ivr import create_app, stop_threads

    app = create_app(settings)
    try:
        assert services(app).worker.drain()
        calls = services(app).store.calls()
        assert len(calls) == 25
        assert all(len(services(app).store.events(c.call_sid)) >= 2 for c in calls)
    finally:
        stop_threads(app)
        services(app).store.engine.dispose()
        store.engine.dispose()


# ---------------------------------------------------------------------- replays


def test_a_replay_to_another_process_is_journaled_once(make_app, tmp_path, written_events):
    """Two processes (each its own memory, here each its own spool too) get the same signed
    request: the journal has its events once."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = make_app(DATABASE_URL=url), make_app(DATABASE_URL=url, migrate=False)
    form = twilio_form(Digits="2")
    for app in (first, second):
        signed_post(app.test_client(), "/voice/input/accueil", form)
    assert services(second).worker.drain()
    keys = [e for e in written_events(first) if e["kind"] == "key"]
    assert len(keys) == 1


def test_the_spool_file_is_private(app):
    signed_post(app.test_client(), "/voice", twilio_form())
    path = services(app).spool.path
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    rows = sqlite3.connect(path).execute("SELECT kind, body FROM items").fetchall()
    assert [kind for kind, _ in rows] == ["notes"]
    assert "+15145550123" not in json.loads(rows[0][1])["caller"]  # masked in the journal


def test_a_graceful_stop_during_an_outage_keeps_everything_for_the_next_start(make_app,
                                                                              tmp_path):
    """The database is away when the process exits (gunicorn's graceful restart): nothing is
    dropped; the next process writes it once the database is back."""
    database = tmp_path / "db" / "ivr.sqlite3"
    spool = str(tmp_path / "spool.sqlite3")
    app = make_app(DATABASE_URL=f"sqlite:///{database}", IVR_SPOOL=spool, migrate=False)
    CallSimulator(app).play("1,1,1")  # the folder does not exist: the database is away
    worker = services(app).worker
    pending = worker.pending
    worker.shutdown()  # what atexit does: one short try, then leave it in the spool
    assert pending > 0 and worker.pending == pending
    database.parent.mkdir()
    later = make_app(DATABASE_URL=f"sqlite:///{database}", IVR_SPOOL=spool)
    assert services(later).worker.drain()
    assert len(services(later).store.voicemails()) == 1
