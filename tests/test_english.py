"""Issue 18: service in English on request (key 9 at the welcome), the whole tree, French first.

The shipped line serves French only until ``prompts/en-CA.yaml`` exists: these tests turn
English on in a copy, with a stand-in translation (each French text, marked as English)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from test_scenarios import SCENARIOS
from twiml_rules import assert_valid, make_line_app, node_requests, signed_post, twilio_form

from ivr import stop_threads
from ivr.loading import check, load_all
from ivr.services import services
from ivr.simulator import CallSimulator

OFFER = "For service in English, press 9."
MARK = "In English:"


def enable_english(folder: Path, skip: tuple[str, ...] = ()) -> Path:
    """``folder``'s line with en-CA on, and a stand-in en-CA translation."""
    french = yaml.safe_load((folder / "prompts" / "fr-CA.yaml").read_text("utf-8"))["prompts"]
    english = {pid: f"{MARK} {text}" for pid, text in french.items() if pid not in skip}
    english["accueil.english_offer"] = OFFER
    (folder / "prompts" / "en-CA.yaml").write_text(
        yaml.safe_dump({"prompts": english}, allow_unicode=True, width=1000), "utf-8")
    set_languages(folder, "[fr-CA, en-CA]")
    return folder


def set_languages(folder: Path, languages: str) -> None:
    ligne = folder / "menus" / "ligne.yaml"
    text, found = re.subn(r"(?m)^  languages: \[[^]]*\]", f"  languages: {languages}",
                          ligne.read_text("utf-8"), count=1)
    assert found == 1
    ligne.write_text(text, "utf-8")


@pytest.fixture
def english_dir(config_copy) -> Path:
    return enable_english(config_copy)


@pytest.fixture
def build(make_app, english_dir):
    def make(**overrides):
        return make_app(IVR_CONFIG_DIR=str(english_dir), **overrides)
    return make


def says(root, language: str) -> list[str]:
    return [" ".join("".join(s.itertext()).split()) for s in root.iter("Say")
            if s.get("language") == language]


def test_the_french_welcome_offers_english_in_the_english_voice(build):
    client = build().test_client()
    root = assert_valid(signed_post(client, "/voice"), "welcome")
    sayers = list(root.iter("Say"))
    assert sayers[0].get("language") == "fr-CA"
    last = sayers[-1]
    assert (last.get("language"), last.get("voice")) == ("en-US", "Polly.Joanna-Neural")
    assert "".join(last.itertext()).strip() == OFFER


def test_key_9_plays_the_english_welcome(build):
    client = build().test_client()
    root = assert_valid(signed_post(client, "/voice/input/accueil",
                                    twilio_form(Digits="9")), "key 9")
    assert not says(root, "fr-CA")
    heard = says(root, "en-US")
    assert heard and heard[0].startswith(MARK)
    assert OFFER not in " ".join(heard)
    gather = root.find("Gather")
    assert gather is not None and "l=en" in gather.get("action")
    # The English welcome's keys work: 1 goes on in English.
    root = assert_valid(signed_post(client, gather.get("action"), twilio_form(Digits="1")))
    assert says(root, "en-US") and not says(root, "fr-CA")
    assert "l=en" in root.find("Gather").get("action")


def test_the_shipped_line_offers_english_after_the_french_options(make_app):
    root = assert_valid(signed_post(make_app().test_client(), "/voice"))
    voiced = [(s.get("language"), " ".join("".join(s.itertext()).split()))
              for s in root.iter("Say")]
    assert voiced[-1] == ("en-US", "For service in English, press 9.")
    assert all(language == "fr-CA" for language, _ in voiced[:-1])
    assert "personnel du CIUSSS, le 2." in voiced[-2][1]


def test_a_french_only_line_has_no_offer_and_9_is_invalid(make_app, config_copy):
    set_languages(config_copy, "[fr-CA]")
    client = make_app(IVR_CONFIG_DIR=str(config_copy)).test_client()
    root = assert_valid(signed_post(client, "/voice"))
    assert OFFER not in " ".join(says(root, "fr-CA"))
    assert not list(s for s in root.iter("Say") if s.get("language") != "fr-CA")
    pressed = assert_valid(signed_post(client, "/voice/input/accueil", twilio_form(Digits="9")))
    assert "Ce choix n'est pas offert." in " ".join(says(pressed, "fr-CA"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_english_calls_end_where_french_ones_do(build, scenario):
    app = build()
    outcomes = scenario.get("dial_outcome", ())
    at = scenario["at"]
    french = CallSimulator(make := app, dial_outcomes=outcomes,
                           instant=_instant(at)).play(scenario["keys"])
    english = CallSimulator(make, dial_outcomes=outcomes,
                            instant=_instant(at)).play("9," + scenario["keys"])
    assert english.kind == french.kind, (english.to_dict(), french.to_dict())
    assert english.to_dict()["dials"] == french.to_dict()["dials"]
    assert english.to_dict()["send_digits"] == french.to_dict()["send_digits"]
    assert all(ex.status == 200 for ex in english.exchanges)
    after = [said for ex in english.exchanges[1:] for said in ex.said]
    assert after and all(said.startswith(MARK) for said in after if not said.startswith("[")), \
        after


def _instant(at: str):
    from datetime import datetime
    return datetime.fromisoformat(at)


def test_voicemail_in_english_keeps_the_language_to_the_end(build):
    client = build().test_client()
    root = assert_valid(signed_post(client, "/voice/node/vm_telesante?p=accueil&l=en"))
    record = root.find("Record")
    assert "l=en" in record.get("action") and "l=en" in record.get("recordingStatusCallback")
    assert says(root, "en-US") and not says(root, "fr-CA")
    done = assert_valid(signed_post(client, record.get("action").replace("http://localhost", ""),
                                    twilio_form(RecordingUrl="https://api.twilio.com/x",
                                                RecordingDuration="5")))
    assert says(done, "en-US") and not says(done, "fr-CA")


def test_failure_apology_in_english(build):
    client = build().test_client()
    form = twilio_form(ErrorCode="11200",
                       ErrorUrl="http://localhost/voice/input/personnel?p=accueil&l=en")
    root = assert_valid(signed_post(client, "/voice/fallback", form))
    assert says(root, "en-US") and not says(root, "fr-CA")


def test_the_welcome_answer_is_not_shared_between_languages(build):
    """/voice answered in French first, then /voice?l=en: each its own answer."""
    client = build().test_client()
    french = assert_valid(signed_post(client, "/voice", twilio_form()))
    english = assert_valid(signed_post(client, "/voice?l=en", twilio_form()))
    assert says(french, "fr-CA") and not says(english, "fr-CA")


def test_a_failed_english_recording_is_thanked_in_english(build):
    client = build().test_client()
    form = twilio_form(ErrorCode="11200",
                       ErrorUrl="http://localhost/voice/record/vm_telesante?p=accueil&l=en")
    root = assert_valid(signed_post(client, "/voice/fallback", form))
    assert says(root, "en-US") and not says(root, "fr-CA")


def test_every_english_webhook_is_valid_twiml(build):
    app = build()
    config = services(app).line.configs["en-CA"]
    client = app.test_client()
    for node_id in config.nodes:
        for label, path, extra in node_requests(config, node_id):
            path += ("&" if "?" in path else "?") + "l=en"
            root = assert_valid(signed_post(client, path, twilio_form(**extra)),
                                f"{node_id} {label}")
            assert not says(root, "fr-CA"), (node_id, label)


def test_answers_are_not_shared_between_languages(build):
    client = build().test_client()
    french = signed_post(client, "/voice/input/accueil?p=accueil", twilio_form(Digits="1"))
    english = signed_post(client, "/voice/input/accueil?p=accueil&l=en",
                          twilio_form(Digits="1"))
    again = signed_post(client, "/voice/input/accueil?p=accueil", twilio_form(Digits="1"))
    assert french.get_data() == again.get_data() != english.get_data()


def test_journal_notes_carry_the_language(build):
    from ivr.flow import CallState, Turn
    from ivr.voice import URLS

    app = build()
    configs = services(app).line.configs
    with app.test_request_context():
        turn = Turn(configs["fr-CA"], _instant("2026-12-01T10:00:00-05:00"), URLS,
                    languages=configs)
        turn.gathered("accueil", "9", CallState(("accueil",)))
    assert ("language", "accueil", "en-CA") in [(n["kind"], n["node"], n["detail"])
                                                for n in turn.notes]
    assert any(n["kind"] == "enter" and n.get("language") == "en-CA" for n in turn.notes)


def test_check_reports_a_missing_english_prompt_with_its_file_and_line(config_copy):
    enable_english(config_copy, skip=("systeme.au_revoir",))
    found = [str(p) for p in check(config_copy)]
    assert any(p.startswith("prompts/en-CA.yaml:") and "prompts.systeme.au_revoir" in p
               and "manquant en en-CA" in p for p in found), found
    assert all(":0:" not in p for p in found)


def test_check_reports_the_missing_english_file(config_copy):
    (config_copy / "prompts" / "en-CA.yaml").unlink(missing_ok=True)
    set_languages(config_copy, "[fr-CA, en-CA]")
    found = [str(p) for p in check(config_copy)]
    assert any(p.startswith("prompts/en-CA.yaml:1:") for p in found), found


def test_french_must_come_first(config_copy):
    set_languages(config_copy, "[en-CA]")
    assert any("line.languages" in str(p) for p in check(config_copy))


def test_one_load_for_every_language(english_dir):
    configs = load_all(english_dir)
    assert list(configs) == ["fr-CA", "en-CA"]
    french, english = configs["fr-CA"], configs["en-CA"]
    assert french.nodes is english.nodes and french.schedule is english.schedule
    assert french.version == english.version


def test_english_voice_setting(english_dir):
    with pytest.raises(ValueError, match="IVR_VOICE_EN"):
        make_line_app(IVR_CONFIG_DIR=str(english_dir), IVR_VOICE_EN="Polly.Gabrielle-Neural",
                      TWILIO_AUTH_TOKEN="t")
    app = make_line_app(IVR_CONFIG_DIR=str(english_dir), TWILIO_AUTH_TOKEN="t",
                        IVR_VOICE_EN="Google.en-US-Neural2-C")
    try:
        root = assert_valid(signed_post(app.test_client(), "/voice"))
        last = list(root.iter("Say"))[-1]
        assert (last.get("voice"), last.get("language")) == ("Google.en-US-Neural2-C", "en-US")
    finally:
        stop_threads(app)
