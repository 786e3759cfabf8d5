"""Voicemail notifications: one French e-mail per team address, through a real SMTP server.

The server is aiosmtpd on 127.0.0.1 (``tests/smtp_server.py``), started and stopped by the
tests; the e-mails leave through the outbox and the worker, as in production.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from fake_twilio import HeldRecordingCall, play
from smtp_server import SmtpServer

from ivr.notify import MAX_ATTEMPTS, caller_label, make_due, spoken_date, voicemail_email
from ivr.schedule import TZ
from ivr.services import services
from ivr.store import utcnow

PUBLIC = "https://ligne.example.org"
CALLER = "+15145550123"
PATIENT_VOICEMAIL = ("accueil.patient.patient_technique.patient_equipement_prete.equipe_soins."
                     "vm_patients")
TEAM = ("patients@example.org", "pilote.telesante@example.org")


@pytest.fixture
def smtp_down(teams_config):
    """A mail server that is not running yet (``start()`` brings it up on the same port)."""
    server = SmtpServer()
    server.config_dir = str(teams_config)  # boxes with addresses, as the smtp fixture's
    yield server
    server.stop()


@pytest.fixture
def two_addresses(config_copy):
    """The shipped configuration, with two addresses for the patients' messages box."""
    destinations = config_copy / "menus" / "destinations.yaml"
    text = destinations.read_text(encoding="utf-8")
    start = text.index("\n  patients:\n")
    at = text.index("emails: []", start)
    destinations.write_text(text[:at] + f"emails: [{', '.join(TEAM)}]"
                            + text[at + len("emails: []"):], encoding="utf-8")
    return config_copy


def test_a_recorded_call_emails_each_team_address_once_in_french(make_app, smtp, two_addresses):
    played = play(make_app, "1,1,1", IVR_PUBLIC_URL=PUBLIC,
                  **{**smtp.settings(), "IVR_CONFIG_DIR": str(two_addresses)})
    assert played.result.kind == "record"
    assert smtp.received == []  # nothing is sent on the call path
    played.drain()

    [voicemail] = played.store.voicemails()
    assert voicemail.path == PATIENT_VOICEMAIL
    config = services(played.app).line.config
    titles = " > ".join(config.nodes[n].title for n in PATIENT_VOICEMAIL.split("."))
    received = smtp.received
    assert sorted(rcpt for mail in received for rcpt in mail.rcpt_tos) == sorted(TEAM)
    assert len(received) == len(TEAM)
    local = voicemail.received_at.astimezone(TZ)
    for mail in received:
        assert mail.message["To"] == mail.rcpt_tos[0]
        assert mail.subject.startswith("Nouveau message vocal")
        assert CALLER in mail.subject
        assert "Messages des patients pour leur service" in mail.subject
        body = mail.body
        assert f"Appelant : {CALLER}" in body
        assert f"Reçu le : {spoken_date(voicemail.received_at)}" in body
        assert f"{local:%Y-%m-%d %H:%M}" in body
        assert f"Parcours dans le menu : {titles}" in body
        assert "Accueil > Patient ou proche aidant > Patient — problème technique" in body
        assert "Durée : 0 min 17 s" in body
        assert f"{PUBLIC}/admin/messagerie/{voicemail.id}" in body
        assert mail.message["Date"] and mail.message["Message-ID"]
    rows = played.store.outbox()
    assert {(m.kind, m.status, m.attempts) for m in rows} == {("email", "sent", 1)}
    assert played.store.voicemails()[0].notified_at is not None

    played.drain()  # later passes send nothing more
    assert len(smtp.received) == len(TEAM)


ORDERS = {
    "action-callback-twice": ["action", "callback", "action", "callback"],
    "callback-action-twice": ["callback", "action", "callback", "action"],
    "action-action-callback-callback": ["action", "action", "callback", "callback"],
    "callback-callback-action-action": ["callback", "callback", "action", "action"],
}


@pytest.mark.parametrize("drain_between", [False, True], ids=["drain-after", "drain-between"])
@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
def test_both_callbacks_in_any_order_twice_make_one_email(make_app, smtp, order, drain_between):
    played = play(make_app, "1,1,1", simulator=HeldRecordingCall, IVR_PUBLIC_URL=PUBLIC,
                  **smtp.settings())
    call = played.simulator
    assert call.held is not None and call.held.callback
    for which in order:
        assert call.deliver(which, "RE" + "7" * 32) in (200, 204)
        if drain_between:
            played.drain()
    played.drain()

    [voicemail] = played.store.voicemails()
    assert (voicemail.caller, voicemail.path, voicemail.duration) == (CALLER, PATIENT_VOICEMAIL,
                                                                       17)
    [mail] = smtp.received
    assert mail.rcpt_tos == ["patients@example.org"]
    assert f"{PUBLIC}/admin/messagerie/{voicemail.id}" in mail.body
    # The e-mail names the caller even when the callback without From came first.
    assert CALLER in mail.body
    assert [m.status for m in played.store.outbox()] == ["sent"]


def test_a_mail_server_down_is_retried_until_it_is_back(make_app, smtp_down):
    played = play(make_app, "1,1,1", IVR_PUBLIC_URL=PUBLIC, **smtp_down.settings())
    played.drain()
    store = played.store
    [message] = store.outbox()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "Connection" in (message.last_error or "")
    assert message.next_attempt_at > utcnow()  # backed off, not retried in a tight loop

    played.drain()  # not due yet: no new try
    assert store.outbox()[0].attempts == 1

    make_due(store)
    played.drain()
    [message] = store.outbox()
    assert (message.status, message.attempts) == ("pending", 2)

    smtp_down.start()
    make_due(store)
    played.drain()
    [message] = store.outbox()
    assert (message.status, message.attempts, message.last_error) == ("sent", 3, None)
    assert len(smtp_down.received) == 1
    played.drain()
    assert len(smtp_down.received) == 1


def test_a_mail_server_down_for_good_ends_in_failed(make_app, smtp_down):
    played = play(make_app, "1,1,1", IVR_PUBLIC_URL=PUBLIC, **smtp_down.settings())
    store = played.store
    for attempt in range(1, MAX_ATTEMPTS + 1):
        make_due(store)
        played.drain()
        [message] = store.outbox()
        assert message.attempts == attempt
        assert message.status == ("failed" if attempt == MAX_ATTEMPTS else "pending")

    smtp_down.start()  # too late: a failed message is not picked up again
    make_due(store)
    played.drain()
    assert store.outbox()[0].status == "failed"
    assert smtp_down.received == []


def test_a_call_without_a_message_sends_no_email(make_app, smtp):
    played = play(make_app, "2,1,3", **smtp.settings())  # an information node, then goodbye
    played.drain()
    assert played.store.voicemails() == []
    assert played.store.outbox() == []
    assert smtp.received == []


@pytest.mark.parametrize("number,label", [
    ("+15145550123", "+15145550123"), ("anonymous", "numéro masqué"), (None, "numéro masqué"),
    ("", "numéro masqué"), ("Restricted", "numéro masqué"),
])
def test_caller_label(number, label):
    assert caller_label(number) == label


def test_the_email_of_a_direct_message_from_a_hidden_number(app):
    from ivr.store import Voicemail

    config = services(app).line.config
    moment = datetime(2026, 12, 1, 15, 5, tzinfo=TZ)
    voicemail = Voicemail(id=9, recording_sid="RE9", call_sid="CA9", box="telesante",
                          node="vm_telesante", caller="anonymous", path="", received_at=moment,
                          recording_url="https://api.twilio.com/x", duration=75, status="new")
    subject, body = voicemail_email(config, voicemail, PUBLIC + "/")
    assert subject == "Nouveau message vocal — Équipe télésanté — numéro masqué"
    assert "Reçu le : mardi 1 décembre 2026 à 15 h 05 (2026-12-01 15:05)" in body
    assert "Durée : 1 min 15 s" in body
    assert "Parcours dans le menu : (accès direct)" in body
    assert f"{PUBLIC}/admin/messagerie/9" in body


def test_a_message_whose_action_never_comes_is_announced_after_the_grace(make_app, smtp,
                                                                         monkeypatch):
    from ivr import notify

    played = play(make_app, "1,1,1", simulator=HeldRecordingCall, IVR_PUBLIC_URL=PUBLIC,
                  **smtp.settings())
    assert played.simulator.deliver("callback", "RE" + "8" * 32) == 204
    played.drain()
    [voicemail] = played.store.voicemails()
    assert voicemail.caller is None and voicemail.notified_at is None
    assert smtp.received == []  # waiting for the <Record> action and its caller

    monkeypatch.setattr(notify, "CALLER_GRACE", notify.CALLER_GRACE * 0)  # time has passed
    played.drain()
    [mail] = smtp.received
    assert "Appelant : numéro masqué" in mail.body
    assert played.store.voicemails()[0].notified_at is not None


def test_the_outbox_pass_announces_recent_unannounced_messages_only(make_app, smtp):
    from datetime import timedelta

    app = make_app(**smtp.settings())
    store = services(app).store
    for sid, days in (("RErecent", 2), ("REold", 30)):
        store.save_voicemail(recording_sid=sid, call_sid="CA" + sid, box="telesante",
                             node="vm_telesante", caller=CALLER, path="accueil.vm_telesante",
                             received_at=utcnow() - timedelta(days=days),
                             recording_url=f"https://api.twilio.com/{sid}", duration=5)
    assert services(app).worker.drain()
    assert [m.dedupe_key for m in store.outbox()] == ["vm:RErecent:telesante@example.org"]
    assert len(smtp.received) == 1


@pytest.mark.parametrize("caller", ["+1514555\r\nBcc: x@evil.example", "+15145550123\n"])
def test_a_line_break_in_the_caller_field_never_stops_the_email(make_app, smtp, two_addresses,
                                                                 caller):
    """A ``From`` holding CR/LF (forged, or a carrier's oddity): the e-mail is sent, once per
    address, with the value cleaned; no header is injected, no retry fails on it."""
    played = play(make_app, "1,1,1", caller=caller,
                  **{**smtp.settings(), "IVR_CONFIG_DIR": str(two_addresses)})
    played.drain()
    assert sorted(rcpt for mail in smtp.received for rcpt in mail.rcpt_tos) == sorted(TEAM)
    assert all("\n" not in mail.subject and "Bcc" not in mail.message for mail in smtp.received)
    assert {(m.status, m.attempts) for m in played.store.outbox()} == {("sent", 1)}
