"""The day's changes on the call path (issue 17): announcements at the welcome or on entering
a node, in their time window only and once per call; temporary closures and openings that win
over the YAML's hours; answers reused never across a snapshot change or past an entry's end.

Snapshots are built here with ``Overrides(...)`` and handed to the app through its provider's
``current()``, whatever ``ivr.overrides_store`` does with the database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from twiml_rules import assert_valid, said, signed_post, twilio_form

from ivr import REPO_ROOT
from ivr.flow import CallState
from ivr.loading import load
from ivr.overrides import (
    CLOSURE,
    HANG_UP,
    LINE,
    NONE,
    OPENING,
    Announcement,
    Overrides,
    ScheduleChange,
)
from ivr.schedule import TZ
from ivr.services import services
from ivr.simulator import CallSimulator

CSI, CDA, CSSNS = "+15142514000", "+15142513050", "+18335640404"
TUESDAY = "2026-12-01T10:00:00-05:00"
GREETING = "Bonjour, soutien technologique en télésanté"
OPTIONS = "Patient ou proche, faites le 1"
NEWS = "Teams est en panne dans tout le réseau ; nous travaillons à le rétablir."


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(TZ)


def announcement(id: int = 1, scope: str = LINE, start: str = "2026-12-01T10:00:00-05:00",
                 end: str = "2026-12-01T11:00:00-05:00", text: str | None = NEWS,
                 **kw) -> Announcement:
    return Announcement(id, scope, at(start), at(end), text, **kw)


def change(provider: str, kind: str, start: str = "2026-12-01T09:00:00-05:00",
           end: str = "2026-12-01T14:00:00-05:00", id: int = 1) -> ScheduleChange:
    return ScheduleChange(id, provider, kind, at(start), at(end), "essai", "test")


class Snapshots:
    """Stands for the overrides store: ``current()`` hands out whatever the test set."""

    def __init__(self, snapshot: Overrides = NONE) -> None:
        self.snapshot = snapshot

    def current(self) -> Overrides:
        return self.snapshot

    def stop(self) -> None:
        pass


@pytest.fixture
def line(make_app, monkeypatch):
    """line(snapshot) → (app, snapshots): an app deciding with ``snapshots.snapshot``."""

    def build(snapshot: Overrides = NONE, **settings):
        app = make_app(**settings)
        snapshots = Snapshots(snapshot)
        parts = services(app)
        provider = getattr(parts, "overrides", None)
        if provider is not None:  # the store's watcher: only its snapshot is replaced
            monkeypatch.setattr(provider, "current", snapshots.current)
        else:
            monkeypatch.setattr(parts, "overrides", snapshots, raising=False)
        return app, snapshots

    return build


def play(app, keys: str = "", when: str = TUESDAY, dial=()):
    return CallSimulator(app, instant=at(when), dial_outcomes=dial).play(keys)


# --------------------------------------------------------------------------- announcements


def test_a_line_announcement_plays_at_the_welcome_in_its_window_only(line):
    app, _ = line(Overrides((announcement(),)))
    before = play(app, when="2026-12-01T09:59:59-05:00")
    during = play(app, when="2026-12-01T10:00:00-05:00")
    last_second = play(app, when="2026-12-01T10:59:59.900-05:00")
    after = play(app, when="2026-12-01T11:00:00-05:00")
    assert NEWS not in before.heard and NEWS not in after.heard
    assert NEWS in last_second.heard
    welcome = during.exchanges[0].said[0]
    # The greeting, then the announcement, then the menu's choices: one <Say>, one voice.
    assert welcome.index(GREETING) < welcome.index(NEWS) < welcome.index(OPTIONS)
    assert after.exchanges[0].said == before.exchanges[0].said


def test_an_announcement_ends_on_time_even_within_its_minute_with_no_one_acting(line):
    app, _ = line(Overrides((announcement(end="2026-12-01T10:30:20-05:00"),)))
    assert NEWS in play(app, when="2026-12-01T10:30:10-05:00").heard
    assert NEWS not in play(app, when="2026-12-01T10:30:20-05:00").heard  # same minute
    assert NEWS not in play(app, when="2026-12-01T10:30:50-05:00").heard


def test_an_announcement_starts_on_time_within_its_minute(line):
    app, _ = line(Overrides((announcement(start="2026-12-01T10:30:20-05:00"),)))
    assert NEWS not in play(app, when="2026-12-01T10:30:10-05:00").heard
    assert NEWS in play(app, when="2026-12-01T10:30:30-05:00").heard


def test_a_branch_announcement_plays_on_entering_the_branch_once_per_call(line):
    app, _ = line(Overrides((announcement(7, "personnel"),)))
    assert NEWS not in play(app, "1").heard  # the patients' branch
    result = play(app, "2,*,2,1")  # staff, back to the welcome, staff again, a menu
    assert result.heard.count(NEWS) == 1
    staff = result.exchanges[1]
    assert staff.said[0].startswith(NEWS)  # before the branch's choices
    assert "Problème technique, faites le 1" in staff.said[0]
    # Remembered in the call's URLs, as short as the other facts (a=7), to its last menu.
    assert all("a=7" in ex.url for ex in result.exchanges[2:] if "/input/" in ex.url)


def test_the_line_announcement_is_not_said_again_back_at_the_welcome(line):
    app, _ = line(Overrides((announcement(3),)))
    result = play(app, "2,*,1")  # staff, back to the welcome menu, then the patients
    assert result.heard.count(NEWS) == 1
    assert result.exchanges[2].said[0].startswith(GREETING)
    assert OPTIONS in result.exchanges[2].said[0]


def test_a_node_announcement_plays_before_the_transfer(line):
    app, _ = line(Overrides((announcement(4, "urgence_ti", text="Le CSI est très occupé."),)))
    result = play(app, "2,1,1,1")
    assert result.dials[0].number == CSI
    [last] = [" ".join(ex.said) for ex in result.exchanges if ex.dialled]
    assert last.index("Le CSI est très occupé.") < last.index("Je vous transfère")
    assert "Le CSI est très occupé." not in play(app, "*21").heard  # another node


def test_several_announcements_of_a_scope_play_oldest_first(line):
    first = announcement(1, text="Premier avis.")
    second = announcement(2, text="Deuxième avis.")
    app, _ = line(Overrides((first, second)))
    welcome = play(app).exchanges[0].said[0]
    assert welcome.index("Premier avis.") < welcome.index("Deuxième avis.")


def test_raccrocher_says_goodbye_and_hangs_up(line):
    app, _ = line(Overrides((announcement(then=HANG_UP, text="La ligne est fermée ce soir."),)))
    result = play(app, "2")
    assert result.kind == "hangup"
    [only] = result.exchanges
    assert only.hung_up and not only.pressed
    assert only.said[0].startswith(GREETING)
    assert only.said[0].endswith("La ligne est fermée ce soir. Merci de votre compréhension. "
                                 "Au revoir.")
    assert OPTIONS not in result.heard


def test_an_announcement_can_send_the_caller_to_a_node(line):
    to_urgent = announcement(5, "personnel", then="urgence_ti", text="Panne générale.")
    app, _ = line(Overrides((to_urgent,)))
    result = play(app, "2")
    assert result.kind == "dial" and result.dials[0].number == CSI
    assert "Panne générale. Je vous transfère au soutien informatique." in result.heard

    to_voicemail = announcement(6, then="vm_telesante", text="Nous sommes en formation.")
    app, _ = line(Overrides((to_voicemail,)))
    result = play(app)
    assert result.kind == "record"
    welcome = result.exchanges[0].said[0]
    assert welcome.index(GREETING) < welcome.index("Nous sommes en formation.") < \
        welcome.index("Votre message sera enregistré")


def test_a_goto_to_a_node_that_no_longer_exists_goes_on_as_usual(line):
    app, _ = line(Overrides((announcement(then="disparu"),)))
    result = play(app)
    assert NEWS in result.heard and OPTIONS in result.heard


def test_a_recorded_announcement_is_played_and_a_text_one_speaks_the_lexicon(line):
    audio = "https://medias.example.org/annonce-panne.mp3"
    app, snapshots = line(Overrides((announcement(text=None, audio_url=audio),)))
    client = app.test_client()
    root = assert_valid(signed_post(client, "/voice", twilio_form()))
    assert [p.text for p in root.iter("Play")] == [audio]
    assert GREETING in said(root) and OPTIONS in said(root)

    snapshots.snapshot = Overrides((announcement(text="Le CSI répond au poste 5656."),))
    root = assert_valid(signed_post(client, "/voice", twilio_form(CallSid="CA" + "2" * 32)))
    aliases = {s.text: s.get("alias") for s in root.iter("sub")}
    assert aliases["CSI"] == "C S I"  # the line's voice and lexicon, as for any prompt


def test_announcements_are_in_the_journal(line, written_events):
    app, _ = line(Overrides((announcement(11), announcement(12, "personnel"))))
    result = play(app, "2,1")
    events = [e for e in written_events(app) if e["call_sid"] == result.call_sid]
    assert [(e["node"], e["detail"]) for e in events if e["kind"] == "announcement"] == \
        [("accueil", "11"), ("personnel", "12")]


def test_the_played_announcements_in_a_url_are_bounded():
    config = load(REPO_ROOT)
    state = CallState.from_query({"a": "x.².-1." + ".".join(map(str, range(100)))}, config)
    assert len(state.played) == 16 and all(0 <= a < 100 for a in state.played)
    assert CallState.from_query({"a": "1.2", "h": "1"}, config).query() == {"h": "1", "a": "1.2"}


# --------------------------------------------------------------------------- closures, openings


def test_a_closure_of_the_csi_sends_the_urgent_line_to_the_cda(line):
    app, snapshots = line()
    assert play(app, "2,1,1,1").dials[0].number == CSI
    snapshots.snapshot = Overrides(changes=(change("csi", CLOSURE),))
    assert play(app, "2,1,1,1").dials[0].number == CDA  # the after-hours path
    assert play(app, "*11").dials[0].number == CDA
    # Both closed: the telehealth voicemail, as when nobody answers.
    snapshots.snapshot = Overrides(changes=(change("csi", CLOSURE), change("cda", CLOSURE, id=2)))
    assert play(app, "2,1,1,1").kind == "record"
    # Past the closure's end, the YAML's hours again.
    assert play(app, "2,1,1,1", when="2026-12-01T14:00:00-05:00").dials[0].number == CSI


def test_a_closed_cssns_says_when_it_reopens_after_the_closure(line):
    closed = Overrides(changes=(change("cssns", CLOSURE, end="2026-12-01T14:00:00-05:00"),))
    app, _ = line(closed)
    result = play(app, "2,1,5,2")
    assert not result.dials
    assert "Le CSSNS est fermé." in result.heard
    assert "rouvrira aujourd'hui à 14 h" in result.heard
    # Closed until after its day's hours (18 h): it reopens the next morning, by the YAML.
    app, _ = line(Overrides(changes=(change("cssns", CLOSURE, end="2026-12-01T20:00:00-05:00"),)))
    assert "rouvrira demain à 7 h" in play(app, "2,1,5,2").heard


def test_an_opening_wins_over_the_hours_and_the_holidays(line):
    evening, christmas = "2026-12-02T18:30:00-05:00", "2026-12-25T10:00:00-05:00"
    app, snapshots = line()
    assert not play(app, "1,1,4,2", when=evening).dials  # the CSSNS closes at 18 h
    assert play(app, "2,1,1,1", when=christmas).dials[0].number == CDA  # the CSI: a holiday
    snapshots.snapshot = Overrides(changes=(
        change("cssns", OPENING, "2026-12-02T18:00:00-05:00", "2026-12-02T20:00:00-05:00"),
        change("csi", OPENING, "2026-12-25T08:00:00-05:00", "2026-12-25T12:00:00-05:00", id=2)))
    assert play(app, "1,1,4,2", when=evening).dials[0].number == CSSNS
    assert play(app, "2,1,1,1", when=christmas).dials[0].number == CSI


def test_the_latest_change_wins_when_two_overlap(line):
    app, _ = line(Overrides(changes=(change("csi", CLOSURE, id=1), change("csi", OPENING, id=2))))
    assert play(app, "2,1,1,1").dials[0].number == CSI


def test_a_failing_provider_leaves_the_yaml_in_charge(line):
    app, snapshots = line()

    def broken():
        raise RuntimeError("database gone")

    snapshots.current = broken  # type: ignore[method-assign]
    provider = services(app).overrides
    if provider is not snapshots:
        provider.current = broken
    result = play(app, "2,1,1,1")
    assert result.dials[0].number == CSI


# --------------------------------------------------------------------------- answers reused


def test_no_reused_answer_survives_a_snapshot_change(line):
    app, snapshots = line()
    assert NEWS not in play(app).heard
    snapshots.snapshot = Overrides((announcement(),))
    assert NEWS in play(app).heard  # the same request, the same minute
    snapshots.snapshot = NONE
    assert NEWS not in play(app).heard


def test_a_reused_answer_stops_at_a_closure_that_starts_within_its_minute(line):
    closing = change("csi", CLOSURE, "2026-12-01T10:00:30-05:00", "2026-12-01T12:00:00-05:00")
    app, _ = line(Overrides(changes=(closing,)))
    assert play(app, "2,1,1,1", when="2026-12-01T10:00:10-05:00").dials[0].number == CSI
    assert play(app, "2,1,1,1", when="2026-12-01T10:00:40-05:00").dials[0].number == CDA


def test_answers_that_read_no_clock_are_still_reused_with_overrides(line):
    app, _ = line(Overrides((announcement(scope="patient"),), (change("cssns", CLOSURE),)))
    answers = services(app).line.answers
    play(app, "2,1", when="2026-12-01T08:00:00-05:00")
    kept = dict(answers)
    play(app, "2,1", when="2026-12-01T21:00:00-05:00")  # other minutes, same answers
    assert all(answers[key] is answer for key, answer in kept.items()
               if answer.minute is None)
    assert any(answer.minute is None for answer in kept.values())


def test_every_answer_with_announcements_and_changes_is_valid_twiml(line):
    audio = "https://medias.example.org/annonce.mp3"
    snapshot = Overrides(
        (announcement(1), announcement(2, "personnel", audio_url=audio, text=None),
         announcement(3, "vm_telesante", text="Réponse sous 48 heures."),
         announcement(4, "cssns", then=HANG_UP)),
        (change("csi", CLOSURE), change("cssns", OPENING, id=2)))
    app, _ = line(snapshot)
    client = app.test_client()
    for path in ("/voice", "/voice/node/personnel?p=accueil", "/voice/node/vm_telesante",
                 "/voice/node/cssns?p=accueil", "/voice/node/urgence_ti?p=accueil&a=1"):
        assert_valid(signed_post(client, path, twilio_form()), path)
    end = at("2026-12-01T11:00:00-05:00")
    assert snapshot.next_boundary(at(TUESDAY)) == end and end - at(TUESDAY) == timedelta(hours=1)
