"""The storage commands: ivr voicemails, calls, outbox, reconcile (purge: test_retention.py).

Each runs ``ivr.cli.main`` against the test's app (``FlaskCliRunner`` hands it over with a
``ScriptInfo``), after calls played through the simulator.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from fake_twilio import HeldRecordingCall, new_call_sid, play

from ivr.cli import main
from ivr.notify import make_due
from ivr.schedule import TZ
from ivr.services import services
from ivr.store import utcnow

CALLER = "+15145550123"
PUBLIC = "https://ligne.example.org"
PATIENT_VOICEMAIL = ("accueil.patient.patient_technique.patient_equipement_prete.equipe_soins."
                     "vm_patients")
FIELDS = {"id", "box", "caller", "received_at", "duration", "path", "status", "recording_sid",
          "handled_by", "handled_at"}


def ivr(app, *args: str):
    return app.test_cli_runner().invoke(main, list(args))


def ivr_json(app, *args: str):
    result = ivr(app, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------------- voicemails


@pytest.mark.parametrize("order", [
    ["action"], ["callback"], ["action", "callback"], ["callback", "action"],
    ["action", "callback", "action", "callback"], ["callback", "action", "callback", "action"],
], ids="-".join)
def test_a_voicemail_recorded_once_is_listed_once(make_app, order):
    played = play(make_app, "1,1,1", simulator=HeldRecordingCall)
    for which in order:
        played.simulator.deliver(which, "RE" + "4" * 32)
    played.drain()
    [listed] = ivr_json(played.app, "voicemails")
    assert set(listed) == FIELDS
    assert listed["recording_sid"] == "RE" + "4" * 32
    assert (listed["box"], listed["duration"], listed["path"], listed["status"]) == (
        "patients", 17, PATIENT_VOICEMAIL, "new")
    assert listed["caller"] == (None if order == ["callback"] else CALLER)
    received = datetime.fromisoformat(listed["received_at"])
    assert received.tzinfo is not None and abs(received - utcnow()) < timedelta(minutes=1)
    assert (listed["handled_by"], listed["handled_at"]) == (None, None)


def test_voicemails_filters_and_text(make_app):
    app = make_app()
    store = services(app).store
    for n, (box, caller) in enumerate([("telesante", CALLER), ("autre", None)], start=1):
        store.save_voicemail(recording_sid=f"RE{n}", call_sid=f"CA{n}", box=box,
                             node="vm_telesante", caller=caller,
                             path="accueil.personnel.personnel_acquisitions.vm_nouveau_projet",
                             received_at=datetime(2026, 12, 1, 10, n, tzinfo=TZ),
                             recording_url=f"https://api.twilio.com/RE{n}", duration=65)
    store.mark_handled(1, "marie@example.org")

    assert [v["id"] for v in ivr_json(app, "voicemails")] == [2, 1]  # newest first
    assert [v["id"] for v in ivr_json(app, "voicemails", "--box", "telesante")] == [1]
    [handled] = ivr_json(app, "voicemails", "--status", "handled")
    assert handled["handled_by"] == "marie@example.org"
    assert datetime.fromisoformat(handled["handled_at"]).tzinfo is not None
    assert handled["received_at"] == "2026-12-01T10:01:00-05:00"
    assert [v["id"] for v in ivr_json(app, "voicemails", "--status", "new")] == [2]

    text = ivr(app, "voicemails").output
    assert "#1     2026-12-01 10:01  telesante    +15145550123      1:05  traité par " \
           "marie@example.org le " in text
    assert "1:05  nouveau" in text
    assert "numéro masqué" in text
    assert ("Accueil > Intervenant, médecin ou agente administrative > Personnel — acquisitions"
            in text)
    assert text.rstrip().endswith("2 message(s)")
    assert ivr(app, "voicemails", "--box", "nulle").output == "Aucun message vocal.\n"
    assert ivr(app, "voicemails", "--status", "lu").exit_code == 2


# ---------------------------------------------------------------------- calls


def test_calls_lists_the_journal_with_masked_callers(make_app):
    played = play(make_app, "1,1,1")
    played.drain()
    [call] = ivr_json(played.app, "calls")
    assert call["call_sid"] == played.result.call_sid
    assert call["caller"] == "+1514…23"
    assert (call["branch"], call["outcome"], call["duration"]) == ("patient", "voicemail", 60)
    assert call["destination"] == "voicemail:patients"
    assert datetime.fromisoformat(call["started_at"]).tzinfo is not None
    text = ivr(played.app, "calls").output
    assert played.result.call_sid in text and "boîte vocale" in text and CALLER not in text
    today = date.today()
    assert len(ivr_json(played.app, "calls", "--since", str(today - timedelta(days=1)))) == 1
    assert ivr_json(played.app, "calls", "--since", str(today + timedelta(days=2))) == []
    bad = ivr(played.app, "calls", "--since", "hier")
    assert bad.exit_code == 2 and "--since" in bad.output
    assert "« hier » : attendu AAAA-MM-JJ ou un instant ISO-8601" in bad.output


# ---------------------------------------------------------------------- outbox


def test_outbox_lists_and_sends(make_app, twilio, smtp):
    played = play(make_app, "2,1,1,2", caller=CALLER, **twilio.settings(), **smtp.settings())
    store = played.store
    worker = services(played.app).worker
    worker.outbox, outbox = None, worker.outbox
    assert worker.drain()  # the text queued in the outbox, not sent
    worker.outbox = outbox
    store.enqueue(kind="email", recipient="telesante@example.org", subject="Sujet", body="b",
                  dedupe_key="test:1")
    pending = ivr_json(played.app, "outbox", "--status", "pending")
    assert {(m["kind"], m["recipient"], m["status"]) for m in pending} == {
        ("sms", "+1514…23", "pending"), ("email", "telesante@example.org", "pending")}
    assert ivr(played.app, "outbox").output.count("en attente") == 2

    sent = ivr(played.app, "outbox", "--send")
    assert sent.exit_code == 0, sent.output
    assert "2 message(s) envoyé(s)." in sent.output
    assert CALLER not in sent.output
    assert len(twilio.messages) == 1 and len(smtp.received) == 1
    rows = ivr_json(played.app, "outbox", "--status", "sent")
    assert len(rows) == 2 and all(m["attempts"] == 1 and m["sent_at"] for m in rows)
    assert ivr_json(played.app, "outbox", "--status", "failed") == []


def test_outbox_send_retry_makes_pending_messages_due(make_app, twilio):
    played = play(make_app, "2,1,1,2", caller=CALLER, **twilio.settings())
    twilio.fail_next(1, status=400)
    played.drain()
    [row] = ivr_json(played.app, "outbox")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "+1514…23" in row["last_error"] and CALLER not in row["last_error"]
    assert "0 message(s) envoyé(s)." in ivr(played.app, "outbox", "--send").output  # backed off
    result = ivr(played.app, "outbox", "--send", "--retry")
    assert "1 message(s) envoyé(s)." in result.output
    assert ivr(played.app, "outbox", "--retry").exit_code == 2


# ---------------------------------------------------------------------- reconcile


def lost_call(make_app, twilio, keys: str = "1,1,1", **settings):
    """A call that reached the voicemail but whose two recording callbacks never came."""
    played = play(make_app, keys, simulator=HeldRecordingCall, IVR_PUBLIC_URL=PUBLIC,
                  **twilio.settings(), **settings)
    played.drain()
    assert played.store.voicemails() == []
    twilio.add_call(played.result.call_sid, CALLER)
    return played


def test_reconcile_adds_what_twilio_recorded_and_the_line_never_heard(make_app, twilio, smtp):
    played = lost_call(make_app, twilio, **smtp.settings())
    created = utcnow() - timedelta(hours=2)
    sid = "RE" + "3" * 32
    twilio.add_recording(sid, played.result.call_sid, created, duration=42)
    twilio.add_recording("RE" + "2" * 32, new_call_sid(), utcnow() - timedelta(days=9))  # older
    since = str(date.today() - timedelta(days=1))

    result = ivr(played.app, "reconcile", "--since", since)
    assert result.exit_code == 0, result.output
    assert f"message ajouté #1 {sid} boîte patients" in result.output
    assert "1 message(s) ajouté(s), 0 déjà connu(s), 1 courriel(s) en attente" in result.output
    assert CALLER not in result.output
    [listing] = twilio.seen("GET", "/Recordings.json")
    assert listing.query["DateCreated>"].endswith("Z")
    assert datetime.fromisoformat(listing.query["DateCreated>"].replace("Z", "+00:00")) == \
        datetime.fromisoformat(since).replace(tzinfo=TZ)
    [fetched] = twilio.seen("GET", f"/Calls/{played.result.call_sid}.json")
    assert fetched.auth == (twilio.account_sid, twilio.auth_token)

    [voicemail] = played.store.voicemails()
    assert (voicemail.recording_sid, voicemail.call_sid, voicemail.box, voicemail.node) == (
        sid, played.result.call_sid, "patients", "vm_patients")
    assert (voicemail.caller, voicemail.duration, voicemail.path) == (CALLER, 42,
                                                                      PATIENT_VOICEMAIL)
    assert abs(voicemail.received_at - created) < timedelta(seconds=1)
    assert voicemail.recording_url == (f"{twilio.base_url}/2010-04-01/Accounts/"
                                       f"{twilio.account_sid}/Recordings/{sid}")
    [email] = played.store.outbox()
    assert (email.kind, email.status) == ("email", "pending")
    played.drain()
    [mail] = smtp.received
    assert CALLER in mail.body and f"{PUBLIC}/admin/messagerie/{voicemail.id}" in mail.body

    again = ivr(played.app, "reconcile", "--since", since)
    assert again.exit_code == 0, again.output
    assert "0 message(s) ajouté(s), 1 déjà connu(s), 0 courriel(s) en attente" in again.output
    assert len(played.store.voicemails()) == 1 and len(played.store.outbox()) == 1

    # The callbacks turn up at last: still one message, one e-mail.
    played.simulator.deliver("callback", sid, duration=42)
    played.simulator.deliver("action", sid, duration=42)
    played.drain()
    assert len(ivr_json(played.app, "voicemails")) == 1
    assert len(smtp.received) == 1


def test_reconcile_keeps_an_english_callers_language(make_app, twilio, smtp):
    played = lost_call(make_app, twilio, "9,1,1,1", **smtp.settings())
    sid = "RE" + "4" * 32
    twilio.add_recording(sid, played.result.call_sid, utcnow() - timedelta(hours=1), duration=9)
    assert ivr(played.app, "reconcile", "--since", "2020-01-01").exit_code == 0
    [voicemail] = played.store.voicemails()
    assert (voicemail.box, voicemail.language) == ("patients", "en-CA")
    played.drain()
    [mail] = smtp.received
    assert "Message laissé en anglais" in mail.body


def test_reconcile_without_a_journal_uses_the_fallback_box(make_app, twilio):
    app = make_app(**twilio.settings())
    unknown, vanished = new_call_sid(), new_call_sid()
    twilio.add_call(unknown, CALLER)
    twilio.add_recording("RE" + "a" * 32, unknown, utcnow() - timedelta(hours=1))
    twilio.add_recording("RE" + "b" * 32, vanished, utcnow() - timedelta(hours=1))  # no Call
    twilio.add_recording("RE" + "c" * 32, unknown, utcnow(), status="processing")
    result = ivr(app, "reconcile", "--since", "2020-01-01")
    assert result.exit_code == 0, result.output
    assert f"enregistrement RE{'c' * 32} laissé : statut processing chez Twilio" in result.output
    assert f"appel {vanished} : appelant inconnu" in result.stderr
    assert "2 message(s) ajouté(s)" in result.output
    rows = {v["recording_sid"]: v for v in ivr_json(app, "voicemails")}
    assert set(rows) == {"RE" + "a" * 32, "RE" + "b" * 32}
    assert rows["RE" + "a" * 32]["caller"] == CALLER
    assert rows["RE" + "b" * 32]["caller"] is None
    assert {v["box"] for v in rows.values()} == {"telesante"}  # ligne: fallback vm_telesante


def test_reconcile_follows_pages(make_app, twilio):
    app = make_app(**twilio.settings())
    twilio.page_size = 2
    for n in range(5):
        call_sid = new_call_sid()
        twilio.add_call(call_sid, CALLER)
        twilio.add_recording(f"RE{n:032d}", call_sid, utcnow() - timedelta(minutes=n + 1))
    result = ivr(app, "reconcile", "--since", str(date.today() - timedelta(days=1)))
    assert "5 message(s) ajouté(s)" in result.output, result.output
    assert len(twilio.seen("GET", "/Recordings.json")) == 3


def test_reconcile_needs_the_rest_api_and_a_date(make_app, twilio):
    app = make_app()
    result = ivr(app, "reconcile", "--since", "2026-12-01")
    assert result.exit_code == 2 and "TWILIO_ACCOUNT_SID" in result.output
    assert ivr(make_app(**twilio.settings()), "reconcile").exit_code == 2  # --since required
    twilio.fail_always = 500
    failed = ivr(make_app(**twilio.settings()), "reconcile", "--since", "2026-12-01")
    assert failed.exit_code == 1
    assert "listing the recordings at Twilio failed" in failed.stderr
    assert "HTTP 500" in failed.stderr


def test_make_due_only_touches_pending(make_app):
    app = make_app()
    store = services(app).store
    store.enqueue(kind="email", recipient="a@example.org", body="b", dedupe_key="k1")
    [message] = store.due_messages()
    store.message_sent(message.id, None)
    store.enqueue(kind="email", recipient="a@example.org", body="b", dedupe_key="k2")
    store.due_messages()  # claimed: not due for a while
    assert make_due(store) == 1
    assert [m.dedupe_key for m in store.due_messages()] == ["k2"]


def test_the_worker_reconciles_by_itself(make_app, twilio):
    """With Twilio's REST API configured, the worker's own reconciliation (every 15 min)
    stores a recording whose callbacks never came; one younger than 10 minutes waits for
    them."""
    from ivr.recordings import reconcile_recent

    app = make_app(**twilio.settings())
    worker = services(app).worker
    assert worker.reconcile is not None and worker.reconcile_interval == 900
    old, young = new_call_sid(), new_call_sid()
    twilio.add_call(old, CALLER)
    twilio.add_recording("RE" + "d" * 32, old, utcnow() - timedelta(hours=3))
    twilio.add_recording("RE" + "e" * 32, young, utcnow() - timedelta(minutes=2))
    twilio.add_recording("RE" + "f" * 32, old, utcnow() - timedelta(hours=30))  # too old
    result = reconcile_recent(app)
    assert [v.recording_sid for v in result.added] == ["RE" + "d" * 32]
    assert [v.recording_sid for v in services(app).store.voicemails()] == ["RE" + "d" * 32]


def test_no_reconciliation_without_twilio_s_api(app):
    assert services(app).worker.reconcile is None
