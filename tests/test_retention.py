"""Privacy (Loi 25): ``ivr purge`` deletes what is kept too long, at Twilio too; logs hide numbers.

Twilio's REST API is ``tests/fake_twilio.py``; the commands run through ``ivr.cli.main`` with the
test's app.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fake_twilio import FakeTwilio, HeldRecordingCall, new_call_sid, play
from sqlalchemy import select

from ivr.cli import main
from ivr.notify import MAX_ATTEMPTS, make_due
from ivr.services import services
from ivr.store import CallEvent, Store, utcnow

CALLER = "+15145550123"


def ivr(app, *args: str):
    """Run ``ivr ARGS`` against ``app`` (its database, its settings)."""
    return app.test_cli_runner().invoke(main, list(args))


def voicemail(store: Store, twilio: FakeTwilio | None, days: float, box: str = "telesante",
              sid: str | None = None) -> str:
    """A voicemail received ``days`` ago, that Twilio (the fake) still holds."""
    sid = sid or "RE" + new_call_sid()[2:]
    received = utcnow() - timedelta(days=days)
    store.save_voicemail(recording_sid=sid, call_sid=new_call_sid(), box=box,
                         node="vm_telesante", caller=CALLER, path="accueil.vm_telesante",
                         received_at=received, recording_url=f"https://api.twilio.com/{sid}",
                         duration=12)
    store.enqueue(kind="email", recipient="telesante@example.org", subject="s", body=CALLER,
                  dedupe_key=f"vm:{sid}:telesante@example.org")
    if twilio is not None:
        twilio.add_recording(sid, new_call_sid(), received)
    return sid


def journal(store: Store, days: float) -> str:
    call_sid = new_call_sid()
    at = utcnow() - timedelta(days=days)
    store.write_events([
        {"call_sid": call_sid, "at": at, "caller": "+1514…23", "kind": "enter",
         "node": "accueil"},
        {"call_sid": call_sid, "at": at + timedelta(seconds=30), "kind": "status",
         "detail": "completed", "duration": "30"},
    ])
    return call_sid


def sids(store: Store) -> set[str]:
    return {v.recording_sid for v in store.voicemails()}


def call_sids(store: Store) -> set[str]:
    return {c.call_sid for c in store.calls()}


@pytest.fixture
def line(make_app, twilio):
    """An app whose REST calls go to the fake, with one old and one recent of everything."""
    app = make_app(**twilio.settings())
    store = services(app).store
    old, recent = voicemail(store, twilio, 91), voicemail(store, twilio, 89)
    old_call, recent_call = journal(store, 366), journal(store, 364)
    return app, store, old, recent, old_call, recent_call


def test_dry_run_lists_what_would_go_and_deletes_nothing(line, twilio):
    app, store, old, recent, old_call, recent_call = line
    result = ivr(app, "purge", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"effacerait le message #1 {old} boîte telesante" in result.output
    assert recent not in result.output
    assert "retirerait 1 appel(s) du journal" in result.output
    assert "Essai : 1 message(s) et 1 appel(s) partiraient ; rien n'est effacé." in result.output
    assert CALLER not in result.output  # a purge report may end up in a log
    assert sids(store) == {old, recent}
    assert call_sids(store) == {old_call, recent_call}
    assert twilio.seen("DELETE") == []


def test_purge_deletes_at_twilio_then_here(line, twilio):
    app, store, old, recent, old_call, recent_call = line
    result = ivr(app, "purge")
    assert result.exit_code == 0, result.output
    [deleted] = twilio.seen("DELETE")
    assert deleted.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Recordings/{old}.json"
    assert deleted.auth == (twilio.account_sid, twilio.auth_token)
    assert f"message effacé #1 {old}" in result.output
    assert "Purge : 1 message(s) effacé(s), 0 gardé(s) pour la prochaine, 1 appel(s)." in \
        result.output
    assert sids(store) == {recent}
    assert old not in twilio.recordings and recent in twilio.recordings
    assert call_sids(store) == {recent_call}
    with store.session() as session:
        assert session.scalars(select(CallEvent.call_sid)).all() == [recent_call] * 2
    # The e-mail that described the deleted message (with the caller's number) went with it.
    assert [m.dedupe_key for m in store.outbox()] == [f"vm:{recent}:telesante@example.org"]

    again = ivr(app, "purge")
    assert again.exit_code == 0
    assert "Purge : 0 message(s)" in again.output
    assert len(twilio.seen("DELETE")) == 1


@pytest.mark.parametrize("failure", ["http-500", "refused"])
def test_a_recording_twilio_keeps_keeps_its_row_for_the_next_purge(line, twilio, failure):
    app, store, old, recent, old_call, recent_call = line
    if failure == "refused":
        twilio.down()
    else:
        twilio.fail_always = 500
    result = ivr(app, "purge")
    assert result.exit_code == 1
    assert f"message GARDÉ #1 {old}" in result.stderr
    assert ("HTTP 500" if failure == "http-500" else "Connection") in result.stderr
    assert "1 gardé(s) pour la prochaine" in result.output
    assert sids(store) == {old, recent}
    assert call_sids(store) == {recent_call}  # the journal is purged all the same

    twilio.up()
    twilio.fail_always = None
    result = ivr(app, "purge")
    assert result.exit_code == 0, result.output
    assert sids(store) == {recent}
    assert old not in twilio.recordings


def test_a_recording_already_gone_at_twilio_is_deleted_here(make_app, twilio):
    app = make_app(**twilio.settings())
    store = services(app).store
    voicemail(store, None, 200)  # Twilio answers 404 for it
    result = ivr(app, "purge")
    assert result.exit_code == 0, result.output
    assert sids(store) == set()
    assert len(twilio.seen("DELETE")) == 1


def test_without_the_rest_api_nothing_is_deleted_and_it_says_so(make_app):
    app = make_app()
    store = services(app).store
    old = voicemail(store, None, 100)
    result = ivr(app, "purge")
    assert result.exit_code == 1
    assert "TWILIO_ACCOUNT_SID" in result.stderr
    assert sids(store) == {old}


def test_each_box_and_the_journal_have_their_own_retention(make_app, twilio, config_copy):
    destinations = config_copy / "menus" / "destinations.yaml"
    text = destinations.read_text(encoding="utf-8")
    destinations.write_text(text.replace("retention_days: 90", "retention_days: 7"),
                            encoding="utf-8")
    app = make_app(IVR_CONFIG_DIR=str(config_copy), IVR_JOURNAL_RETENTION_DAYS="30",
                   **twilio.settings())
    store = services(app).store
    week_old, fresh = voicemail(store, twilio, 8), voicemail(store, twilio, 6)
    # A box the configuration no longer has: the line fallback's box's retention.
    orphan = voicemail(store, twilio, 8, box="ancienne_boite")
    month_old, recent_call = journal(store, 31), journal(store, 29)
    result = ivr(app, "purge")
    assert result.exit_code == 0, result.output
    assert sids(store) == {fresh}
    assert {week_old, orphan} == {r.path.split("/")[-1][:-5] for r in twilio.seen("DELETE")}
    assert call_sids(store) == {recent_call}
    assert month_old not in result.output


def test_journal_retention_defaults_to_a_year(make_app, twilio):
    app = make_app(**twilio.settings())
    store = services(app).store
    year_old, recent = journal(store, 366), journal(store, 364)
    result = ivr(app, "purge")
    assert result.exit_code == 0, result.output
    assert call_sids(store) == {recent}
    assert year_old not in call_sids(store)


def test_a_bad_journal_retention_is_a_usage_error(make_app, twilio):
    app = make_app(IVR_JOURNAL_RETENTION_DAYS="0", **twilio.settings())
    result = ivr(app, "purge", "--dry-run")
    assert result.exit_code == 2
    assert "IVR_JOURNAL_RETENTION_DAYS" in result.output


# ---------------------------------------------------------------------- logs


def test_no_log_record_ever_shows_the_callers_full_number(make_app, twilio, smtp, caplog):
    """A whole call at DEBUG: text (refused once), voicemail, e-mails, reconcile, purge."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy caps itself at WARNING
    settings = {**twilio.settings(), **smtp.settings(),
                "IVR_PUBLIC_URL": "https://ligne.example.org"}
    # Staff: équipement du CIUSSS, text (2), then urgent (1): the CSI and the CDA do not
    # answer, so the telehealth voicemail.
    played = play(make_app, "2,1,1,2,1", caller=CALLER, dial=["no-answer", "no-answer"],
                  simulator=HeldRecordingCall, **settings)
    assert "le message arrivera dans un instant." in played.heard
    call = played.simulator
    twilio.fail_next(1, status=400)  # Twilio's error may echo the number: it is scrubbed
    call.deliver("callback", "RE" + "5" * 32)
    call.deliver("action", "RE" + "5" * 32)
    played.drain()
    make_due(played.store)
    played.drain()
    assert len(smtp.received) == 1
    assert [m.status for m in played.store.outbox() if m.kind == "sms"] == ["sent"]

    # A call whose callbacks never came, found again through the REST API; then deleted.
    lost = play(make_app, "1,1,1", caller=CALLER, simulator=HeldRecordingCall, **settings)
    lost.drain()
    twilio.add_call(lost.result.call_sid, CALLER)
    twilio.add_recording("RE" + "6" * 32, lost.result.call_sid, utcnow() - timedelta(days=120))
    assert ivr(lost.app, "reconcile", "--since", "2020-01-01").exit_code == 0
    assert ivr(lost.app, "purge").exit_code == 0
    for _ in range(MAX_ATTEMPTS):  # and a text that fails for good, warning each time
        lost.store.enqueue(kind="sms", recipient=CALLER, body="x", dedupe_key="sms:x")
        twilio.fail_always = 400
        make_due(lost.store)
        lost.drain()

    digits = CALLER.lstrip("+")
    ours = [r for r in caplog.records
            # aiosmtpd is the stand-in mail server, not the line: its logs are not ours.
            if not r.name.startswith(("mail.log", "asyncio"))]
    assert any(r.name.startswith("ivr") for r in ours)
    assert any(r.levelno >= logging.WARNING for r in ours)  # failures were logged
    for record in ours:
        text = record.getMessage() + (record.exc_text or "")
        assert digits[1:] not in text, (record.name, text)
    assert any("The 'To' number +1514…23" in r.getMessage() for r in ours)  # scrubbed
