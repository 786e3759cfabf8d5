"""Answers reused between requests (``voice.Answer``, ``LineConfig.answers``): faster, never
different. A reused answer must be what deciding anew would give at that minute, and each
request must still leave its own journal notes and send its own texts."""

from __future__ import annotations

from datetime import datetime

from fake_twilio import SMS_FROM, play

from ivr.schedule import TZ
from ivr.services import services
from ivr.simulator import CallSimulator

IT_LINE = "2,1,1,1"  # personnel → problème technique → équipement du CIUSSS → urgent: the CSI
CSI, CDA = "+15142514000", "+15142513050"
SMS_KEY = "2,1,1,2"
STAFF, OTHER_STAFF = "+15145550123", "+15145550199"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(TZ)


def test_the_same_request_is_answered_alike_for_every_caller(app):
    first = CallSimulator(app, caller=STAFF).play(IT_LINE)
    second = CallSimulator(app, caller=OTHER_STAFF).play(IT_LINE)
    assert [ex.said for ex in second.exchanges] == [ex.said for ex in first.exchanges]
    assert [d.number for d in second.dials] == [CSI]
    assert len(services(app).line.answers) >= 4


def test_a_reused_answer_never_crosses_a_schedule_minute(app):
    """The CSI closes at 17:00: its route decided at 16:59 is not reused at 17:00."""
    before = CallSimulator(app, instant=at("2026-12-01T16:59:59.999-05:00")).play(IT_LINE)
    after = CallSimulator(app, instant=at("2026-12-01T17:00:00-05:00")).play(IT_LINE)
    again = CallSimulator(app, instant=at("2026-12-01T17:00:30-05:00")).play(IT_LINE)
    assert [d.number for d in before.dials] == [CSI]
    assert [d.number for d in after.dials] == [CDA]
    assert [d.number for d in again.dials] == [CDA]


def test_a_menu_is_the_same_at_every_minute(app):
    morning = CallSimulator(app, instant=at("2026-12-01T08:00:00-05:00")).play("2")
    evening = CallSimulator(app, instant=at("2026-12-01T21:30:00-05:00")).play("2")
    assert [ex.said for ex in morning.exchanges] == [ex.said for ex in evening.exchanges]


def test_each_call_leaves_its_own_journal_even_when_its_answers_are_reused(make_app):
    app = make_app()
    calls = [CallSimulator(app, caller=c).play(IT_LINE) for c in (STAFF, OTHER_STAFF, STAFF)]
    services(app).worker.drain()
    store = services(app).store
    kinds = [[e.kind for e in store.events(c.call_sid)] for c in calls]
    assert kinds[0] == kinds[1] == kinds[2]
    assert kinds[0].count("key") == 4 and "dial" in kinds[0]
    rows = {row.call_sid: row.caller for row in store.calls()}
    assert rows[calls[0].call_sid] == rows[calls[2].call_sid] != rows[calls[1].call_sid]


def test_each_caller_gets_their_own_text_from_a_reused_answer(make_app, twilio):
    first = play(make_app, SMS_KEY, caller=STAFF, **twilio.settings())
    second = CallSimulator(first.app, caller=OTHER_STAFF).play(SMS_KEY)
    assert "le message arrivera dans un instant." in second.heard
    first.drain()
    assert sorted(m.form["To"] for m in twilio.messages) == sorted([STAFF, OTHER_STAFF])
    assert {m.form["From"] for m in twilio.messages} == {SMS_FROM}


def test_a_caller_who_cannot_take_a_text_is_not_offered_one_from_a_reused_answer(make_app,
                                                                                 twilio):
    offer = "Si vous appelez d'un cellulaire, faites le 2 pour les recevoir par texto."
    texted = play(make_app, "2,1,1", caller=STAFF, **twilio.settings())
    landline = CallSimulator(texted.app, caller="+18005551234").play("2,1,1")  # toll-free
    assert offer in texted.heard
    assert offer not in landline.heard


def test_a_file_change_empties_the_answers(make_app, config_copy):
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    line = services(app).line
    CallSimulator(app).play(IT_LINE)
    assert len(line.answers)
    (config_copy / "prompts" / "notes.txt").write_text("une note\n")
    line.check()
    assert len(line.answers) == 0


def test_the_answers_are_bounded():
    from ivr.answers import Answers

    answers = Answers(size=3)
    for i in range(10):
        answers.put(i, str(i))
        assert len(answers) <= 3
    assert answers.get(9) == "9"
