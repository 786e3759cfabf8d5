"""SMS follow-up: offered on info nodes to callers who can take a text, sent off the call path.

Twilio's REST API is ``tests/fake_twilio.py``, a local HTTP server; the assertions are on the
requests it received, as api.twilio.com would have received them.
"""

from __future__ import annotations

import pytest
from fake_twilio import SMS_FROM, play

from ivr.notify import MAX_ATTEMPTS, make_due
from ivr.services import services
from ivr.simulator import CallSimulator

STAFF = "+15145550123"
OCTOPUS = "2,1,1"  # personnel → problème technique → équipement du CIUSSS (SMS key 2)
# The tests' apps look up no line type: a number that may be mobile hears the offer « si vous
# appelez d'un cellulaire » (test_a_known_mobile_… and test_a_known_landline_… look them up).
OFFER = "Si vous appelez d'un cellulaire, faites le 2 pour les recevoir par texto."
SENT = "Si votre numéro reçoit les textos, le message arrivera dans un instant."
INVALID = "Ce choix n'est pas offert."


def octopus_text(app) -> str:
    return services(app).line.config.prompts["texto.octopus_informatique"].text


def test_a_staff_caller_gets_the_octopus_link_by_text(make_app, twilio):
    played = play(make_app, f"{OCTOPUS},2", caller=STAFF, **twilio.settings())
    assert OFFER in played.heard
    assert SENT in played.heard
    assert played.heard.index(OFFER) < played.heard.index(SENT)
    assert twilio.requests == []  # nothing leaves during the call

    played.drain()
    [post] = twilio.messages
    assert post.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert post.auth == (twilio.account_sid, twilio.auth_token)
    assert post.form["To"] == STAFF
    assert post.form["From"] == SMS_FROM
    assert post.form["Body"] == octopus_text(played.app)
    assert "https://cemtl.octopus-itsm.com" in post.form["Body"]
    [row] = played.store.outbox()
    assert (row.kind, row.recipient, row.status, row.attempts) == ("sms", STAFF, "sent", 1)
    assert row.external_id and row.external_id.startswith("SM")
    assert [e.kind for e in played.store.events(played.result.call_sid)].count("sms") == 1

    played.drain()
    assert len(twilio.messages) == 1


@pytest.mark.parametrize("caller,without", [
    ("anonymous", ()),
    ("", ()),
    ("+18005551234", ()),  # toll-free: cannot take a text
    ("+441632960961", ()),  # not North American
    (STAFF, ("TWILIO_ACCOUNT_SID",)),
    (STAFF, ("IVR_SMS_FROM",)),
], ids=["anonymous", "empty", "toll-free", "uk", "no-account", "no-sender"])
def test_no_offer_when_the_caller_or_the_line_cannot_text(make_app, twilio, caller, without):
    settings = twilio.settings()
    for name in without:
        settings[name] = ""
    played = play(make_app, f"{OCTOPUS},2", caller=caller, **settings)
    assert OFFER not in played.heard
    assert SENT not in played.heard
    assert INVALID in played.heard
    played.drain()
    assert played.store.outbox() == []
    assert twilio.requests == []


def test_pressing_the_sms_key_twice_sends_one_text(make_app, twilio):
    played = play(make_app, f"{OCTOPUS},2,2", caller=STAFF, **twilio.settings())
    assert played.heard.count(SENT) == 2
    played.drain()
    assert len(twilio.messages) == 1
    assert len(played.store.outbox()) == 1


def test_another_call_gets_its_own_text(make_app, twilio):
    first = play(make_app, f"{OCTOPUS},2", caller=STAFF, **twilio.settings())
    first.drain()
    second = play(make_app, f"{OCTOPUS},2", caller=STAFF, **twilio.settings())
    second.drain()
    assert len(twilio.messages) == 2


def test_an_api_error_is_retried_then_sent(make_app, twilio):
    played = play(make_app, f"{OCTOPUS},2", caller=STAFF, **twilio.settings())
    twilio.fail_next(1, status=500)
    played.drain()
    [row] = played.store.outbox()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "500" in (row.last_error or "")

    played.drain()  # backed off: no new try yet
    assert len(twilio.messages) == 1

    make_due(played.store)
    played.drain()
    [row] = played.store.outbox()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(twilio.messages) == 2  # the failed try, then the text that went
    assert twilio.messages[-1].form["To"] == STAFF


def test_an_unreachable_api_ends_in_failed_after_max_attempts(make_app, twilio):
    played = play(make_app, f"{OCTOPUS},2", caller=STAFF, **twilio.settings())
    twilio.down()  # connection refused
    for attempt in range(1, MAX_ATTEMPTS + 1):
        make_due(played.store)
        played.drain()
        [row] = played.store.outbox()
        assert row.attempts == attempt
        assert row.status == ("failed" if attempt == MAX_ATTEMPTS else "pending")
        assert "Connection" in (row.last_error or "")

    twilio.up()  # a failed text is final
    make_due(played.store)
    played.drain()
    assert played.store.outbox()[0].status == "failed"
    assert twilio.requests == []


def test_an_api_refusing_the_text_fails_it_for_good(make_app, twilio):
    played = play(make_app, f"{OCTOPUS},2", caller=STAFF, **twilio.settings())
    twilio.fail_always = 400
    for _ in range(MAX_ATTEMPTS):
        make_due(played.store)
        played.drain()
    [row] = played.store.outbox()
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert len(twilio.messages) == MAX_ATTEMPTS


def test_the_cssns_closed_node_offers_its_address_with_key_1(make_app, twilio):
    # Saturday: the CSSNS is closed; patient → question → provincial platforms → CSSNS closed.
    played = play(make_app, "1,2,2,1", caller=STAFF, at="2026-12-05T10:00:00-05:00",
                  **twilio.settings())
    assert "Si vous appelez d'un cellulaire, faites le 1 pour les recevoir par texto." in \
        played.heard
    assert SENT in played.heard
    played.drain()
    [post] = twilio.messages
    assert "soutienrqt@ssss.gouv.qc.ca" in post.form["Body"]


@pytest.mark.parametrize("line_type,offer,sent", [
    ("mobile", "Pour recevoir ces renseignements par texto, faites le 2.", "Le texto est envoyé."),
    ("landline", None, None),
    ("tollFree", None, None),
])
def test_the_caller_s_line_type_decides_the_offer(make_app, twilio, line_type, offer, sent):
    """Twilio Lookup, asked when the call starts (off the call path): a known mobile hears a
    plain offer and confirmation, a desk phone none — never « envoyé » for a text that cannot
    arrive."""
    twilio.line_types[STAFF] = line_type
    app = make_app(**twilio.settings(), IVR_LOOKUP=True)
    line_types = services(app).line_types
    CallSimulator(app, caller=STAFF).play("")  # the call's start asks Twilio
    assert line_types.wait_idle(60)
    assert twilio.looked_up == [STAFF]
    heard = CallSimulator(app, caller=STAFF).play(f"{OCTOPUS},2").heard
    assert twilio.looked_up == [STAFF]  # known: not asked again
    if offer is None:
        assert "texto" not in heard
        assert INVALID in heard
    else:
        assert offer in heard and sent in heard
        assert OFFER not in heard and SENT not in heard

