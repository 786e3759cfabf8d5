"""Issue 18: the placeholders of an English call said in English (hours, reopening, retention,
keys, the box's team), ``--lang en`` for ``ivr call``, ``ivr tree`` and ``ivr effort``, and the
budgets of an English path (the French welcome and its key 9 counted, 2.8 words/s)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from test_check import ivr
from test_english import set_languages

from ivr import schedule_wording as wording
from ivr.effort import REFERENCE_INSTANT, budget_warnings, efforts
from ivr.flow import Turn
from ivr.loading import load_all
from ivr.schedule import TZ
from ivr.services import services
from ivr.speech import heard_seconds

WEEKDAYS = tuple(((7 * 60, 17 * 60),) for _ in range(5)) + ((), ())
SATURDAY = tuple(((7 * 60, 17 * 60),) for _ in range(5)) + (((9 * 60, 12 * 60),
                                                             (13 * 60, 16 * 60 + 30)), ())


@pytest.fixture
def english_dir(config_copy) -> Path:
    """The shipped config (its real prompts/en-CA.yaml) with English on."""
    set_languages(config_copy, "[fr-CA, en-CA]")
    return config_copy


# --------------------------------------------------------------------------- the wording


def test_hours_in_english():
    assert wording.hours_text(False, WEEKDAYS, True, "en-CA") == \
        "Monday to Friday, 7 a.m. to 5 p.m., except holidays"
    assert wording.hours_text(False, SATURDAY, False, "en-CA") == \
        "Monday to Friday, 7 a.m. to 5 p.m., and Saturday, 9 a.m. to noon and 1 p.m. to 4:30 p.m."
    assert wording.hours_text(True, (), True, "en-CA") == "at all times"
    assert wording.hours_text(False, ((),) * 7, False, "en-CA") == ""
    weekend = ((),) * 5 + (((0, 24 * 60),),) * 2
    assert wording.hours_text(False, weekend, False, "en-CA") == \
        "Saturday and Sunday, 24 hours a day"


def test_french_hours_are_unchanged():
    assert wording.hours_text(False, WEEKDAYS, True) == \
        "du lundi au vendredi, de 7 h à 17 h, sauf les jours fériés"
    assert wording.hours_text(False, WEEKDAYS, True, "fr-CA") == \
        wording.hours_text(False, WEEKDAYS, True)


def test_reopening_in_english_at_fixed_instants():
    today = dt.date(2026, 12, 4)  # a Friday
    at = dt.datetime
    assert wording.reopening_text(at(2026, 12, 4, 13, 0, tzinfo=TZ), today, "en-CA") == \
        "today at 1 p.m."
    assert wording.reopening_text(at(2026, 12, 5, 8, 0, tzinfo=TZ), today, "en-CA") == \
        "tomorrow at 8 a.m."
    assert wording.reopening_text(at(2026, 12, 7, 7, 30, tzinfo=TZ), today, "en-CA") == \
        "Monday at 7:30 a.m."
    assert wording.reopening_text(at(2027, 1, 4, 12, 0, tzinfo=TZ), today, "en-CA") == \
        "on Monday, January 4, at noon"
    assert wording.reopening_text(at(2026, 12, 5, 8, 0, tzinfo=TZ), today) == "demain à 8 h"


# --------------------------------------------------------------------------- in a call


def _turn(folder: Path, language: str, at: str) -> Turn:
    from ivr.voice import URLS

    configs = load_all(folder)
    return Turn(configs[language], dt.datetime.fromisoformat(at), URLS, languages=configs)


def test_english_call_fills_its_fields_in_english(english_dir, make_app):
    app = make_app(IVR_CONFIG_DIR=str(english_dir))
    with app.test_request_context():
        saturday = "2026-12-05T10:00:00-05:00"
        english, french = _turn(english_dir, "en-CA", saturday), \
            _turn(english_dir, "fr-CA", saturday)
        closed = english.say("cssns_ferme.message").text
        assert "open Monday to Friday, 7 a.m. to 6 p.m., except holidays" in closed, closed
        assert "reopens Monday at 7 a.m. " in closed + " " and "a.m.." not in closed, closed
        assert "rouvrira lundi à 7 h" in french.say("cssns_ferme.message").text
        box = english.config.boxes["telesante"]
        notice = english.notice(box).text
        assert notice == ("Your message is recorded, kept 90 days and sent to the "
                          "telehealth team."), notice
        assert french.notice(box).text == ("Votre message sera enregistré, conservé 90 jours "
                                           "et remis à l'équipe télésanté.")
        assert english.say("option.urgence_ti", "#").text == "If it's urgent, press pound."
        assert english.say("option.urgence_ti", "*").text == "If it's urgent, press star."
        assert english.say("option.urgence_ti", "1").text == "If it's urgent, press 1."
        assert french.say("option.urgence_ti", "1").text == "En cas d'urgence, faites le 1."
        reacts = english.say("personnel_reacts.message").text
        assert "support@reacts.com, " in reacts and "{" not in reacts and " h " not in reacts


def test_english_voicemail_notice_through_the_app(english_dir, make_app):
    from twiml_rules import assert_valid, signed_post

    client = make_app(IVR_CONFIG_DIR=str(english_dir)).test_client()
    root = assert_valid(signed_post(client, "/voice/node/vm_telesante?p=accueil&l=en"))
    said = " ".join(" ".join("".join(s.itertext()).split()) for s in root.iter("Say"))
    assert "kept 90 days and sent to the telehealth team." in said, said
    assert "jours" not in said


# --------------------------------------------------------------------------- the commands


def test_ivr_call_lang_en_presses_9_at_the_french_welcome(english_dir):
    result = ivr("call", "--lang", "en", "--at", REFERENCE_INSTANT, "--keys", "2,1,1,1",
                 "--config-dir", str(english_dir), "--json")
    assert result.exit_code == 0, result.output
    call = json.loads(result.output)
    exchanges = call["exchanges"]
    assert exchanges[0]["said"][-1] == "For service in English, press 9."
    assert exchanges[0]["pressed"] == "9"
    assert exchanges[1]["said"][0].startswith("Telehealth support")
    assert call["dials"] == ["+15142514000"]
    assert all("l=en" in ex["url"] for ex in exchanges[2:])


def test_ivr_call_lang_en_refused_on_a_french_only_line(config_copy):
    set_languages(config_copy, "[fr-CA]")
    result = ivr("call", "--lang", "en", "--keys", "1", "--config-dir", str(config_copy))
    assert result.exit_code != 0
    assert "la ligne ne sert pas en-CA" in result.output


def test_ivr_tree_lang_en_shows_the_english_texts(english_dir):
    result = ivr("tree", "--lang", "en", "--config-dir", str(english_dir))
    assert result.exit_code == 0, result.output
    assert "« Patient or caregiver, press 1; »" in result.output
    assert "« CIUSSS staff, press 2. »" in result.output
    french = ivr("tree", "--config-dir", str(english_dir))
    assert "«" not in french.output and "press" not in french.output
    assert "9 → service en anglais" in ivr("tree").output  # the shipped line


def test_ivr_effort_lang_en_counts_the_9_and_the_french_budgets(english_dir):
    result = ivr("effort", "--lang", "en", "--json", "--config-dir", str(english_dir))
    assert result.exit_code == 0, result.output
    paths = {p["keys"]: p for p in json.loads(result.output)}
    assert all(k.startswith("9") for k in paths)
    assert paths["9,2,1,1,1"]["budget"] == 40 and paths["9,*11"]["budget"] == 20
    assert paths["9,2,1,1,1"]["language"] == "en-CA"
    french = {p["keys"]: p for p in json.loads(
        ivr("effort", "--json", "--config-dir", str(english_dir)).output)}
    # The French welcome, heard in full with its offer, then the English one.
    assert paths["9,2,1,1,1"]["seconds"] > french["2,1,1,1"]["seconds"] * 0.8 + 5
    text = ivr("effort", "--lang", "en", "--config-dir", str(english_dir)).output
    assert any(line.startswith("9,2,1,1,1 ") and "/ 40 s" in line for line in text.splitlines())


def test_english_speech_is_counted_at_2_8_words_per_second():
    import xml.etree.ElementTree as ET

    seven = "one two three four five six seven"
    english = ET.fromstring(f'<Say voice="Polly.Joanna-Neural" language="en-US">{seven}</Say>')
    french = ET.fromstring(f'<Say language="fr-CA">{seven}</Say>')
    assert heard_seconds(english) == pytest.approx(7 / 2.8)
    assert heard_seconds(french) == pytest.approx(7 / 2.6)


def test_english_budget_warnings_name_the_french_budget(english_dir, make_app):
    app = make_app(IVR_CONFIG_DIR=str(english_dir), IVR_NOW=REFERENCE_INSTANT)
    config = services(app).line.configs["en-CA"]
    found = efforts(app, language="en-CA")
    assert {e.budget_keys for e in found} >= {"2,1,1,1", "*11", "2,2,2,."}
    urgent = next(e for e in found if e.keys == "9,2,1,1,1")
    assert urgent.ends == "dial" and urgent.budget == 40
    # Every English path's seconds hold both welcomes: never less than the key 9's exchange.
    first = [e for e in found if e.ends in ("dial", "record")]
    assert all(e.seconds > 10 for e in first)
    for warning in budget_warnings(config, found):
        assert "en anglais" in warning.message and warning.key.startswith("line.budgets.")
        assert not warning.key.startswith("line.budgets.9,")


def test_the_shipped_english_prompts_fill_every_field(english_dir, make_app):
    """Every prompt of an English call, at the reference instant and a closed one, without a
    French word from the code."""
    app = make_app(IVR_CONFIG_DIR=str(english_dir))
    with app.test_request_context():
        for at in (REFERENCE_INSTANT, "2026-12-25T10:00:00-05:00"):
            turn = _turn(english_dir, "en-CA", at)
            for prompt_id, prompt in turn.config.prompts.items():
                if prompt.fields - {"touche", "boite.jours", "boite.equipe"}:
                    text = turn.say(prompt_id).text
                    assert "{" not in text
                    for french in (" h ", "lundi", "jours fériés", "demain", "en tout temps"):
                        assert french not in text, (prompt_id, text)


def test_ivr_prompts_lang_en_shows_the_english_ssml_and_seconds(config_copy):
    result = ivr("prompts", "--spoken", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "accueil.english_offer (" in result.output
    assert 'choose « <lang xml:lang="fr-CA">Génie biomédical</lang> »' in result.output
    set_languages(config_copy, "[fr-CA]")
    refused = ivr("prompts", "--lang", "en", "--config-dir", str(config_copy))
    assert refused.exit_code != 0 and "la ligne ne sert pas en-CA" in refused.output
