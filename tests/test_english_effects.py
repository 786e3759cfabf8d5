"""Issue 18: the caller's language follows the call beyond the TwiML: the texts sent, the
voicemail and its e-mail to the team (in French, saying the message is in English), the
journal's ``calls.language`` and the statistics (calls by language, page and CSV).

English is on in a copy of the shipped line (``line.languages: [fr-CA, en-CA]``) with the
shipped ``prompts/en-CA.yaml``."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fake_twilio import HeldRecordingCall, play
from test_english import set_languages

from ivr.notify import voicemail_email
from ivr.services import services
from ivr.stats import Period, calls_in, summarize
from ivr.store import Voicemail, prepare_notes

PUBLIC = "https://ligne.example.org"
STAFF = "+15145550123"
OCTOPUS = "2,1,1"  # personnel → problème technique → équipement du CIUSSS (SMS key 2)
PATIENT_VOICEMAIL = "1,1,1"  # patient → technique → équipement prêté → équipe de soins (record)


@pytest.fixture
def english_teams(teams_config, tmp_path) -> Path:
    """The shipped line with team addresses and English on."""
    folder = tmp_path / "line"
    for name in ("menus", "prompts", "schedules"):
        shutil.copytree(teams_config / name, folder / name)
    set_languages(folder, "[fr-CA, en-CA]")
    return folder


def english_prompt(app, prompt_id: str) -> str:
    return services(app).line.configs["en-CA"].prompts[prompt_id].text


# --------------------------------------------------------------------------- texts


def test_an_english_caller_gets_the_english_text(make_app, twilio, english_teams):
    played = play(make_app, f"9,{OCTOPUS},2", caller=STAFF, **twilio.settings(),
                  IVR_CONFIG_DIR=str(english_teams))
    played.drain()
    [post] = twilio.messages
    body = english_prompt(played.app, "texto.octopus_informatique")
    assert post.form["Body"] == body
    assert body != services(played.app).line.config.prompts["texto.octopus_informatique"].text


def test_a_french_caller_still_gets_the_french_text(make_app, twilio, english_teams):
    played = play(make_app, f"{OCTOPUS},2", caller=STAFF, **twilio.settings(),
                  IVR_CONFIG_DIR=str(english_teams))
    played.drain()
    [post] = twilio.messages
    assert post.form["Body"] == \
        services(played.app).line.config.prompts["texto.octopus_informatique"].text


# --------------------------------------------------------------------------- voicemails


def test_an_english_voicemail_keeps_its_language_and_the_email_says_so(make_app, smtp,
                                                                        english_teams):
    played = play(make_app, f"9,{PATIENT_VOICEMAIL}", IVR_PUBLIC_URL=PUBLIC,
                  **{**smtp.settings(), "IVR_CONFIG_DIR": str(english_teams)})
    assert played.result.kind == "record"
    played.drain()
    [voicemail] = played.store.voicemails()
    assert voicemail.language == "en-CA"
    [mail] = smtp.received
    assert mail.subject.startswith("Nouveau message vocal") and "en anglais" in mail.subject
    assert "Message laissé en anglais" in mail.body
    assert "Un nouveau message vocal attend" in mail.body  # the team reads French


def test_a_french_voicemail_says_nothing_of_english(make_app, smtp, english_teams):
    played = play(make_app, PATIENT_VOICEMAIL, IVR_PUBLIC_URL=PUBLIC,
                  **{**smtp.settings(), "IVR_CONFIG_DIR": str(english_teams)})
    played.drain()
    [voicemail] = played.store.voicemails()
    assert voicemail.language == "fr-CA"
    [mail] = smtp.received
    assert "anglais" not in mail.subject and "anglais" not in mail.body


@pytest.mark.parametrize("order", [["callback", "action"], ["callback"], ["action"]])
def test_the_recording_callback_alone_knows_the_language(make_app, smtp, english_teams, order):
    """The recording status callback is answered with the French config: its URL's ``l=en``
    still names the caller's language."""
    played = play(make_app, f"9,{PATIENT_VOICEMAIL}", simulator=HeldRecordingCall,
                  IVR_PUBLIC_URL=PUBLIC,
                  **{**smtp.settings(), "IVR_CONFIG_DIR": str(english_teams)})
    call = played.simulator
    assert call.held is not None and "l=en" in (call.held.callback or "")
    for which in order:
        assert call.deliver(which, "RE" + "8" * 32) in (200, 204)
    played.drain()
    [voicemail] = played.store.voicemails()
    assert voicemail.language == "en-CA"


def test_the_email_wording_by_language(app):
    config = services(app).line.config
    base = {"id": 3, "recording_sid": "RE1", "call_sid": "CA1", "box": "telesante",
            "caller": STAFF, "path": "", "received_at": datetime(2026, 12, 1, 15, tzinfo=UTC),
            "recording_url": "https://x", "duration": 5}
    _, french = voicemail_email(config, Voicemail(**base), None)
    _, unknown = voicemail_email(config, Voicemail(**base, language=None), None)
    subject, english = voicemail_email(config, Voicemail(**base, language="en-CA"), None)
    assert "anglais" not in french and french == unknown
    assert "Message laissé en anglais" in english and subject.endswith("— en anglais")


# --------------------------------------------------------------------------- journal


def test_prepare_notes_takes_the_language():
    assert prepare_notes([{"kind": "enter", "node": "a"}]).changes.get("language") is None
    assert prepare_notes([{"kind": "enter", "node": "a", "language": "en-CA"}]) \
        .changes["language"] == "en-CA"
    assert prepare_notes([{"kind": "language", "node": "accueil", "detail": "en-CA"}]) \
        .changes["language"] == "en-CA"


def test_the_journal_records_the_call_language(make_app, english_teams):
    english = play(make_app, "9,1,1", IVR_CONFIG_DIR=str(english_teams))
    english.drain()
    [call] = english.store.calls()
    assert call.language == "en-CA"
    french = play(make_app, "1,1", IVR_CONFIG_DIR=str(english_teams))
    french.drain()
    [call] = french.store.calls()
    assert call.language is None  # read as fr-CA


# --------------------------------------------------------------------------- statistics

DAY = datetime(2026, 12, 1, 15, tzinfo=UTC)  # 10 h in Montréal


def seed(app) -> None:
    store = services(app).store
    store.write_notes([
        ("CA1", DAY, "+1514…23", [{"kind": "enter", "node": "accueil", "last_node": "accueil"}],
         None),
        ("CA2", DAY, "+1514…24", [{"kind": "language", "node": "accueil", "detail": "en-CA"},
                                  {"kind": "enter", "node": "accueil", "language": "en-CA"}],
         None),
        ("CA3", DAY, "+1514…25", [{"kind": "enter", "node": "accueil", "language": "en-CA"}],
         None),
    ])


def test_calls_by_language(app):
    seed(app)
    day = DAY.date()
    summary = summarize(services(app).store, Period(day, day))
    assert summary.by_language == {"fr-CA": 1, "en-CA": 2}
    assert summary.languages == ["fr-CA", "en-CA"]
    assert sorted(row.language for row in calls_in(services(app).store, Period(day, day))) == \
        ["en-CA", "en-CA", "fr-CA"]


def test_the_statistics_page_and_csv_show_the_languages(app, console):
    seed(app)
    html = console.get("/admin/statistiques?du=2026-12-01&au=2026-12-01").get_data(as_text=True)
    assert 'id="tableau-langues"' in html
    table = html[html.index('id="tableau-langues"'):]
    table = table[:table.index("</table>")]
    assert '<tr data-language="fr-CA"><th scope="row">Français</th><td class="num">1</td>' \
        in table
    assert '<tr data-language="en-CA"><th scope="row">Anglais</th><td class="num">2</td>' \
        in table
    raw = console.get("/admin/statistiques.csv?du=2026-12-01&au=2026-12-01").get_data()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][-1] == "Langue"
    assert sorted(row[-1] for row in rows[1:]) == ["Anglais", "Anglais", "Français"]
