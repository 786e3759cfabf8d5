"""Faults injected for real while calls come in, end to end through the app.

The database stopped or read-only, the mail server or Twilio's API unreachable, a recorded prompt
deleted: calls are played through the real webhooks (signed requests, ``CallSimulator``) and the
worker is driven by hand (``run_once``/``drain``), so each test sees the fault, then the repair.
Three promises are checked every time: callers still reach the right destination, deferred work
is retried until it lands, and nothing already stored is lost.

Database faults run on SQLite and on the throwaway PostgreSQL server of ``tests/dbfixtures.py``,
stopped and restarted with ``pg_ctl`` (ids ``[sqlite]``/``[postgresql]``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbfixtures import Cluster
from flask import Flask
from smtp_server import SmtpServer
from sqlalchemy import event
from sqlalchemy.engine import make_url
from twiml_rules import problems

from ivr.notify import make_due
from ivr.services import services
from ivr.simulator import CallResult, CallSimulator
from ivr.store import Store
from ivr.worker import Worker

IT_LINE = "+15142514000"  # the CSI's number (schedules/providers.yaml), open on Tuesday at 10 h
CALLER = "+15145550123"  # a Montréal number that can take a text
TO_IT_LINE = "2,1,1,1"  # personnel → problème technique → équipement du CIUSSS → the CSI
TO_VOICEMAIL = "1,1,1"  # patient → problème technique → équipement prêté: the care team's box
SMS_KEY = "2,1,1,2"  # personnel → problème technique → équipement du CIUSSS, then "texto"
PATIENT_VOICEMAIL = ("accueil.patient.patient_technique.patient_equipement_prete.equipe_soins."
                     "vm_patients")
TEAM = "patients@example.org"  # a patient's message: the box « patients »
PUBLIC = "https://ligne.example.org"
WELCOME = "accueil.bienvenue"  # a prompt without fields: a recorded file may replace it


# ---------------------------------------------------------------------- calls


class FaultCall(CallSimulator):
    """A simulated call that checks each answer is valid TwiML, with a recording sid of its own.

    The stock simulator gives every recording one sid; Twilio never does, and two messages with
    one sid are one voicemail: the tests could not tell a message kept from a message replaced.
    """

    def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        if "RecordingSid" in params:
            sid = "RE" + self.call_sid[2:]
            params = {**params, "RecordingSid": sid,
                      "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC0/"
                                      f"Recordings/{sid}"}
        status, body = super().post(url, params)
        assert status in (200, 204), (url, status, body[:500])
        if status == 200:
            found = problems(body)
            assert not found, f"POST {url}:\n" + "\n".join(found) + "\n" + body
        return status, body


def play(app: Flask, keys: str, caller: str = CALLER) -> CallResult:
    return FaultCall(app, caller=caller).play(keys)


def prompt(app: Flask, prompt_id: str) -> str:
    return services(app).line.config.prompts[prompt_id].text


def recording_sid(result: CallResult) -> str:
    return "RE" + result.call_sid[2:]


def assert_reaches_it_line(result: CallResult) -> None:
    assert result.kind == "dial", result.to_dict()
    assert [d.number for d in result.dials] == [IT_LINE]


def assert_leaves_a_message(app: Flask, result: CallResult) -> None:
    assert result.kind == "record", result.to_dict()
    assert result.dials == []
    assert result.exchanges[-1].said == [prompt(app, "systeme.message_enregistre")]


def assert_gets_the_text_offer_then_the_menu(app: Flask, result: CallResult) -> None:
    """The SMS key answers "texto envoyé" and the same menu again, whatever happens after."""
    sent = prompt(app, "systeme.texto_envoye_cellulaire")
    [index] = [i for i, ex in enumerate(result.exchanges) if " ".join(ex.said).startswith(sent)]
    menu, answer = result.exchanges[index - 1], result.exchanges[index]
    assert answer.url.split("?")[0] == "/voice/input/personnel_equipement_ciusss", answer.url
    assert menu.pressed == "2"
    assert prompt(app, "systeme.offre_texto_cellulaire").replace("{touche}", "2") in \
        " ".join(menu.said)
    assert " ".join(answer.said) == " ".join([sent, *menu.said])  # then the same menu, in full
    assert answer.pressed == ""  # a <Gather> again: the caller could go on
    assert result.dials == []
    assert result.kind == "hangup"  # silence on an information node: goodbye
    assert result.exchanges[-1].said == [prompt(app, "systeme.au_revoir")]


def play_the_three_calls(app: Flask) -> tuple[CallResult, CallResult, CallResult]:
    """The IT line, a voicemail and a text: each must still end where it should."""
    dialled, recorded, texted = (play(app, keys) for keys in (TO_IT_LINE, TO_VOICEMAIL,
                                                              SMS_KEY))
    assert_reaches_it_line(dialled)
    assert_leaves_a_message(app, recorded)
    assert_gets_the_text_offer_then_the_menu(app, texted)
    return dialled, recorded, texted


def journal(store: Store, result: CallResult) -> tuple[Any, list[str]]:
    """The call's summary row and the kinds of its events."""
    [row] = [c for c in store.calls() if c.call_sid == result.call_sid]
    return row, [e.kind for e in store.events(result.call_sid)]


# ---------------------------------------------------------------------- the database


class Database:
    """The test's database (``database_url``), an app on it, and the faults it goes through."""

    def __init__(self, url: str, tmp_path: Path, cluster: Cluster | None) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        self.cluster = cluster
        self.file = Path(url.removeprefix("sqlite:///")) if not self.postgres else None
        self.moved = tmp_path / "moved-away.sqlite3"
        self.apps: list[Flask] = []
        self.down = self.read_only = self.frozen = False

    def app(self, make_app: Any, **settings: Any) -> Flask:
        app = make_app(DATABASE_URL=self.url, IVR_PUBLIC_URL=PUBLIC, **settings)
        self.apps.append(app)
        return app

    @property
    def store(self) -> Store:
        return services(self.apps[-1]).store

    # ------------------------------------------------------------------ stopped

    def stop(self) -> None:
        """PostgreSQL: ``pg_ctl stop``. SQLite: the file's path now names an empty directory."""
        self.down = True
        if self.postgres:
            assert self.cluster is not None
            self.cluster.pause()
            return
        assert self.file is not None
        # Open connections would go on writing to the moved file, as they would in production:
        # drop them so the next one meets the broken path (a pool recycling its connections).
        self.store.engine.dispose()
        self.file.rename(self.moved)
        self.file.mkdir()

    def start(self) -> None:
        if self.postgres:
            assert self.cluster is not None
            self.cluster.resume()
        else:
            assert self.file is not None
            self.file.rmdir()
            self.moved.rename(self.file)
        self.down = False

    # ------------------------------------------------------------------ read-only

    def set_read_only(self, on: bool) -> None:
        """PostgreSQL: ``ALTER SYSTEM`` + reload, seen by open sessions at their next transaction.

        SQLite: the file is opened through a read-only URI (``file:…?mode=ro``, the form of
        ``sqlite:///file:…?mode=ro&uri=true``); an open SQLite connection cannot change mode, so
        the pool is emptied at each switch.
        """
        self.read_only = on
        if self.postgres:
            statement = ("ALTER SYSTEM SET default_transaction_read_only = on" if on
                         else "ALTER SYSTEM RESET default_transaction_read_only")
            self._admin(statement, "SELECT pg_reload_conf()")
            self._wait_for_setting("on" if on else "off")
            return
        engine = self.store.engine
        if on:
            event.listen(engine, "do_connect", self._open_read_only)
        else:
            event.remove(engine, "do_connect", self._open_read_only)
        engine.dispose()

    def _open_read_only(self, dialect: Any, record: Any, cargs: list[Any],
                        cparams: dict[str, Any]) -> None:
        cargs[0] = f"file:{self.file}?mode=ro"
        cparams["uri"] = True

    def freeze(self, on: bool) -> None:
        """PostgreSQL only: ``ALTER DATABASE … default_transaction_read_only``, which sessions
        take when they connect. Freezing ends the open sessions, as a DBA enforcing it does;
        thawing leaves them be (nothing tells a session the database changed)."""
        name = make_url(self.url).database
        self.frozen = on
        if not on:
            self._admin(f"ALTER DATABASE {name} RESET default_transaction_read_only")
            return
        self._admin(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        others = f"FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        self._admin(f"SELECT pg_terminate_backend(pid) {others}")
        deadline = time.monotonic() + 60  # a server on a busy machine
        while self._admin(f"SELECT count(*) {others}")[0][0]:
            assert time.monotonic() < deadline, "sessions still open after pg_terminate_backend"
            time.sleep(0.02)

    def _admin(self, *statements: str) -> list[Any]:
        import psycopg

        assert self.cluster is not None
        url = f"postgresql://postgres@127.0.0.1:{self.cluster.port}/postgres"
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            cursors = [connection.execute(s) for s in statements]  # type: ignore[arg-type]
            return [c.fetchone() if c.description else None for c in cursors]

    def _wait_for_setting(self, expected: str) -> None:
        """pg_reload_conf only signals: wait until the server (and so its sessions) reloaded."""
        deadline = time.monotonic() + 60  # a server on a busy machine
        while self._admin("SHOW default_transaction_read_only")[0][0] != expected:
            assert time.monotonic() < deadline, f"default_transaction_read_only never {expected}"
            time.sleep(0.02)

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        try:
            if self.down:
                self.start()
            if self.read_only:
                self.set_read_only(False)
            if self.frozen:
                self.freeze(False)
        finally:
            for app in self.apps:
                services(app).store.engine.dispose()


@pytest.fixture
def database(request: pytest.FixtureRequest, database_url: str,
             tmp_path: Path) -> Iterator[Database]:
    """The parametrized database of ``dbfixtures``, with the means to break it and mend it."""
    cluster = None
    if database_url.startswith("postgresql"):
        cluster = request.getfixturevalue("postgres_cluster")
        if cluster is None:
            pytest.skip("IVR_TEST_POSTGRES_URL: an external server is not ours to stop or to "
                        "make read-only; the throwaway cluster is")
    database = Database(database_url, tmp_path, cluster)
    yield database
    database.close()


@pytest.fixture
def smtp_down(teams_config) -> Iterator[SmtpServer]:
    """A mail server that is not running yet (``start()`` brings it up on its port)."""
    server = SmtpServer()
    server.config_dir = str(teams_config)  # boxes with addresses, as the smtp fixture's
    yield server
    server.stop()


def worker_of(app: Flask) -> Worker:
    return services(app).worker


# ---------------------------------------------------------------------- 1. database stopped


def test_a_database_stopped_mid_run_routes_every_call_and_loses_nothing(database, make_app,
                                                                         twilio, smtp):
    """The database goes away between calls: callers still reach the CSI, leave a message, get
    their text; once it is back, the worker writes the message, the journal and the outbox, and
    the message stored before the stop is still there, unchanged."""
    app = database.app(make_app, **twilio.settings(), **smtp.settings())
    store, worker = database.store, worker_of(app)
    earlier = play(app, TO_VOICEMAIL)
    assert worker.drain(), worker.stats
    [kept] = store.voicemails()
    assert kept.recording_sid == recording_sid(earlier)
    assert len(smtp.received) == 1

    database.stop()
    dialled, recorded, texted = play_the_three_calls(app)

    failures = worker.stats.failures
    worker.run_once(force=True)
    assert worker.stats.failures > failures  # tried, failed, counted
    assert worker.stats.last_error is not None
    waiting = services(app).spool.claim(1000)
    services(app).spool.release(item.id for item in waiting)
    assert {item.kind for item in waiting} == {"notes", "voicemail", "sms"}  # on disk
    pending = worker.pending
    assert not worker.drain(timeout=0.3)  # still down: kept, not dropped
    assert worker.pending == pending
    assert len(smtp.received) == 1 and twilio.requests == []

    database.start()
    assert worker.drain(), worker.stats
    assert services(app).spool.backlog().quarantined == 0

    voicemails = {v.recording_sid: v for v in store.voicemails()}
    assert sorted(voicemails) == sorted([kept.recording_sid, recording_sid(recorded)])
    again = voicemails[kept.recording_sid]
    assert (again.id, again.call_sid, again.received_at, again.path, again.notified_at) == (
        kept.id, kept.call_sid, kept.received_at, kept.path, kept.notified_at)
    new = voicemails[recording_sid(recorded)]
    assert (new.box, new.caller, new.path, new.duration, new.call_sid) == (
        "patients", CALLER, PATIENT_VOICEMAIL, 17, recorded.call_sid)
    assert new.notified_at is not None

    row, kinds = journal(store, dialled)
    assert (row.destination, row.outcome, row.branch) == ("csi", "answered", "personnel")
    assert kinds[0] == "enter" and kinds[-1] == "status" and "dial" in kinds
    row, kinds = journal(store, recorded)
    assert (row.destination, row.outcome, row.branch) == ("voicemail:patients", "voicemail",
                                                          "patient")
    row, kinds = journal(store, texted)
    assert (row.outcome, row.branch, kinds.count("sms")) == ("info", "personnel", 1)
    assert len(store.calls()) == 4

    outbox = sorted((m.kind, m.recipient, m.status) for m in store.outbox())
    assert outbox == [("email", TEAM, "sent"), ("email", TEAM, "sent"), ("sms", CALLER, "sent")]
    assert len(smtp.received) == 2
    assert f"{PUBLIC}/admin/messagerie/{new.id}" in smtp.received[-1].body
    [text] = twilio.messages
    assert (text.form["To"], text.form["Body"]) == (CALLER,
                                                  prompt(app, "texto.octopus_informatique"))

    assert worker.drain()  # nothing is sent twice
    assert (len(smtp.received), len(twilio.messages)) == (2, 1)


# ---------------------------------------------------------------------- 2. database read-only


def test_a_read_only_database_routes_every_call_and_takes_the_writes_once_writable(
        database, make_app, twilio, smtp):
    """Writes are refused (a failover to a standby, a file opened read-only): calls route, the
    refusals are counted, what was stored reads as before; once writable, the writes land."""
    app = database.app(make_app, **twilio.settings(), **smtp.settings())
    store, worker = database.store, worker_of(app)
    earlier = play(app, TO_VOICEMAIL)
    assert worker.drain(), worker.stats

    database.set_read_only(True)
    [kept] = store.voicemails()  # reading still works
    assert kept.recording_sid == recording_sid(earlier)
    dialled, recorded, texted = play_the_three_calls(app)

    failures = worker.stats.failures
    assert not worker.drain(timeout=0.3)
    assert worker.stats.failures > failures
    assert re.search(r"read-?only", worker.stats.last_error or "", re.IGNORECASE), \
        worker.stats.last_error
    assert [v.recording_sid for v in store.voicemails()] == [kept.recording_sid]
    assert len(store.calls()) == 1  # the three calls wait in memory
    assert worker.pending > 0

    database.set_read_only(False)
    assert worker.drain(), worker.stats
    assert services(app).spool.backlog().quarantined == 0
    assert sorted(v.recording_sid for v in store.voicemails()) == sorted(
        [kept.recording_sid, recording_sid(recorded)])
    assert journal(store, dialled)[0].destination == "csi"
    assert journal(store, recorded)[0].outcome == "voicemail"
    assert journal(store, texted)[1].count("sms") == 1
    outbox = sorted((m.kind, m.status) for m in store.outbox())
    assert outbox == [("email", "sent"), ("email", "sent"), ("sms", "sent")]
    assert (len(smtp.received), len(twilio.messages)) == (2, 1)


class StillReadOnly(AssertionError):
    """The one failure the test below expects while the bug it documents is there."""


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_writes_land_once_a_database_freeze_is_lifted(database, make_app):
    """A maintenance freeze (``ALTER DATABASE … SET default_transaction_read_only``) is lifted:
    the deferred voicemail must land without restarting the app. Sessions keep the setting
    they connected with, so the pool's connections, opened during the freeze, go on refusing
    every write until they are replaced."""
    app = database.app(make_app)
    store, worker = database.store, worker_of(app)
    database.freeze(True)
    recorded = play(app, TO_VOICEMAIL)
    assert_leaves_a_message(app, recorded)
    assert not worker.drain(timeout=0.3)
    assert "read-only" in (worker.stats.last_error or ""), worker.stats.last_error

    database.freeze(False)
    if not worker.drain(timeout=0.5):
        raise StillReadOnly(worker.stats.last_error)
    assert [v.recording_sid for v in store.voicemails()] == [recording_sid(recorded)]
    assert journal(store, recorded)[0].outcome == "voicemail"


# ---------------------------------------------------------------------- 3. mail and database


def test_a_mail_server_down_while_the_database_restarts_sends_the_email_once(
        database, make_app, smtp_down):
    """tests/test_notify.py covers a mail server down on its own; here the database also stops
    during the call: the message is stored when it is back, its e-mail fails, is retried, and
    goes once when the mail server returns."""
    app = database.app(make_app, **smtp_down.settings())
    store, worker = database.store, worker_of(app)

    database.stop()
    recorded = play(app, TO_VOICEMAIL)
    assert_leaves_a_message(app, recorded)
    worker.run_once(force=True)
    assert worker.stats.failures > 0 and worker.pending > 0

    database.start()
    assert worker.drain(), worker.stats
    [voicemail] = store.voicemails()
    assert voicemail.recording_sid == recording_sid(recorded)
    [message] = store.outbox()
    assert (message.kind, message.recipient, message.status, message.attempts) == (
        "email", TEAM, "pending", 1)
    assert "Connection" in (message.last_error or "")

    smtp_down.start()
    assert make_due(store) == 1
    assert worker.drain()
    [message] = store.outbox()
    assert (message.status, message.attempts, message.last_error) == ("sent", 2, None)
    [mail] = smtp_down.received
    assert mail.rcpt_tos == [TEAM]
    assert f"{PUBLIC}/admin/messagerie/{voicemail.id}" in mail.body
    make_due(store)
    assert worker.drain()
    assert len(smtp_down.received) == 1


# ---------------------------------------------------------------------- 4. Twilio unreachable


def test_twilio_unreachable_during_the_call_the_text_waits_and_goes_once(make_app, twilio):
    """Twilio's REST API refuses connections when the caller asks for the text: the call goes on
    as usual ("texto envoyé", the menu again); the text stays queued and is sent once it is up."""
    app = make_app(**twilio.settings())
    store, worker = services(app).store, worker_of(app)
    twilio.down()
    texted = play(app, SMS_KEY)
    assert_gets_the_text_offer_then_the_menu(app, texted)

    assert worker.drain()
    [row] = store.outbox()
    assert (row.kind, row.recipient, row.status, row.attempts) == ("sms", CALLER, "pending", 1)
    assert "Connection" in (row.last_error or "")
    assert twilio.requests == []

    twilio.up()
    assert make_due(store) == 1
    assert worker.drain()
    [row] = store.outbox()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert row.external_id and row.external_id.startswith("SM")
    [text] = twilio.messages
    assert (text.form["To"], text.form["Body"]) == (CALLER,
                                                  prompt(app, "texto.octopus_informatique"))
    make_due(store)
    assert worker.drain()
    assert len(twilio.messages) == 1


# ---------------------------------------------------------------------- 5. a prompt's audio gone


@pytest.fixture
def recorded_welcome(config_copy: Path) -> tuple[Path, Path]:
    """A config copy where the welcome prompt has a recorded file (any bytes: never decoded)."""
    audio = config_copy / "prompts" / "audio" / "fr-CA" / f"{WELCOME}.mp3"
    audio.parent.mkdir(parents=True, exist_ok=True)
    audio.write_bytes(b"ID3\x04" + bytes(256))
    return config_copy, audio


def audio_url(filename: str) -> str:
    return f"/voice/audio/fr-CA/{filename}"


def test_a_deleted_prompt_file_is_a_404_and_calls_still_route(make_app, recorded_welcome):
    """The recorded welcome is played while it exists; deleted under the running app, its URL
    answers 404 (not a 500) and calls are still served valid TwiML and reach the CSI."""
    directory, audio = recorded_welcome
    app = make_app(IVR_CONFIG_DIR=str(directory))
    client = app.test_client()
    url = audio_url(audio.name)

    before = play(app, TO_IT_LINE)
    welcome = before.exchanges[0].said[0]
    assert welcome.startswith("[audio ") and welcome.endswith(f"{url}]")  # the file, not <Say>
    response = client.get(url)
    assert (response.status_code, response.get_data()) == (200, audio.read_bytes())
    response.close()

    audio.unlink()
    response = client.get(url)
    assert response.status_code == 404
    response.close()
    after = play(app, TO_IT_LINE)
    assert_reaches_it_line(after)
    assert play(app, TO_VOICEMAIL).kind == "record"


def test_a_deleted_prompt_file_falls_back_to_synthetic_speech(make_app, recorded_welcome):
    """A <Play> of a file that is gone would leave the caller in silence (or Twilio's error):
    the welcome must be spoken with <Say> instead, and the call go on to the CSI."""
    directory, audio = recorded_welcome
    app = make_app(IVR_CONFIG_DIR=str(directory))
    audio.unlink()

    result = play(app, TO_IT_LINE)
    assert result.exchanges[0].said[0].startswith(prompt(app, WELCOME))
    assert not [said for said in result.says if said.startswith("[audio")]
    assert_reaches_it_line(result)
