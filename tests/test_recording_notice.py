"""The recording notice (issue 17, Loi 25): before any voicemail's beep, one sentence says
that the message is recorded, who receives it (the box's team) and how long it is kept (the
box's ``retention_days``); every path still within its budget."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from test_check import ivr
from twiml_rules import assert_valid, said, signed_post, twilio_form

from ivr import REPO_ROOT, voice
from ivr.effort import REFERENCE_INSTANT, efforts
from ivr.flow import kept_for
from ivr.loading import load
from ivr.simulator import CallSimulator

CONFIG = load(REPO_ROOT)
VOICEMAILS = sorted(n.id for n in CONFIG.nodes.values() if n.type == "voicemail")
SORRY = "Désolé, un problème technique est survenu."


def notice(owner: str, kept: str = "90 jours") -> str:
    return f"Votre message sera enregistré, conservé {kept} et remis à {owner}."


TELESANTE = notice("l'équipe télésanté")
PATIENTS = notice("l'équipe qui le transmet au service qui vous suit")


def before_the_beep(root: ET.Element) -> str:
    """What is said before ``<Record>`` (its beep), as written."""
    children = list(root)
    record = next(i for i, child in enumerate(children) if child.tag == "Record")
    before = ET.Element("Response")
    before.extend(children[:record])
    return said(before)


@pytest.mark.parametrize("node_id", VOICEMAILS)
def test_every_voicemail_says_the_notice_before_its_greeting_and_beep(client, node_id):
    node = CONFIG.nodes[node_id]
    box = CONFIG.boxes[node.box]
    root = assert_valid(signed_post(client, f"/voice/node/{node_id}?p=accueil", twilio_form()),
                        node_id)
    heard = before_the_beep(root)
    expected = notice(CONFIG.prompts[box.owner].text, f"{box.retention_days} jours")
    assert heard.startswith(expected), heard
    greeting = CONFIG.prompts[node.prompt[0] if node.prompt else box.greeting].text
    assert heard.endswith(greeting)  # the greeting's cue (« Au signal sonore… ») comes last


@pytest.mark.parametrize(("keys", "dial", "expected"), [
    ("2,3,1", (), TELESANTE),                               # new project
    ("*90", (), TELESANTE),
    ("1,1,1", (), PATIENTS),                                # lent equipment: the patients' box
    ("1,1,2,1", (), PATIENTS),
    ("7,7,7", (), TELESANTE),                               # three wrong keys: the fallback
    ("2,1,1,1", ("no-answer", "no-answer"), TELESANTE),     # nobody answers the urgent line
])
def test_the_notice_precedes_every_beep_of_a_call(call, keys, dial, expected):
    result = call(keys, dial=dial)
    assert result.kind == "record"
    [beep] = [ex for ex in result.exchanges if ex.recorded]
    assert expected in " ".join(beep.said)
    assert result.heard.count("Votre message sera enregistré") == 1


def test_the_notice_says_each_boxs_own_retention_and_team(make_app, config_copy):
    destinations = config_copy / "menus" / "destinations.yaml"
    text = destinations.read_text("utf-8")
    text = text.replace("retention_days: 90                 # Loi 25",
                        "retention_days: 30                 # Loi 25", 1)
    text = re.sub(r"(owner: vm_patients.equipe\n(?:.*\n)*?    retention_days: )90",
                  r"\g<1>365", text)
    destinations.write_text(text, "utf-8")
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    client = app.test_client()
    telesante = before_the_beep(assert_valid(signed_post(client, "/voice/node/vm_telesante",
                                                         twilio_form())))
    patients = before_the_beep(assert_valid(signed_post(client, "/voice/node/vm_patients",
                                                        twilio_form())))
    assert telesante.startswith(notice("l'équipe télésanté", "30 jours"))
    assert patients.startswith(notice("l'équipe qui le transmet au service qui vous suit", "un an"))


def test_retention_is_said_as_a_caller_hears_it():
    assert [kept_for(d) for d in (1, 2, 30, 90, 365, 730, 400)] == [
        "un jour", "2 jours", "30 jours", "90 jours", "un an", "2 ans", "400 jours"]


def test_a_boxs_owner_is_a_prompt_in_every_language(config_copy):
    """Who listens is said to the caller, so it is a prompt (in French and in English), not a
    name in destinations.yaml; check refuses a box without it, or a language without its text."""
    destinations = config_copy / "menus" / "destinations.yaml"
    text = destinations.read_text("utf-8")
    owner = re.search(r"(?m)^    owner: vm_telesante\.equipe.*\n", text).group(0)
    destinations.write_text(text.replace(owner, ""), "utf-8")
    refused = ivr("check", "--config-dir", str(config_copy))
    assert refused.exit_code == 1
    assert "boxes.telesante.owner" in refused.output + refused.stderr
    destinations.write_text(text, "utf-8")
    english = config_copy / "prompts" / "en-CA.yaml"
    english.write_text(re.sub(r"(?m)^  vm_telesante\.equipe:.*\n", "",
                              english.read_text("utf-8")), "utf-8")
    refused = ivr("check", "--config-dir", str(config_copy))
    assert refused.exit_code == 1
    assert "vm_telesante.equipe" in refused.output + refused.stderr


def test_english_callers_hear_the_notice_with_the_english_owner(client):
    root = assert_valid(signed_post(client, "/voice/node/vm_patients?l=en", twilio_form()))
    assert before_the_beep(root).startswith(
        "Your message is recorded, kept 90 days and sent to the team that forwards it to your "
        "care team.")


def test_the_last_resort_says_the_notice_too(client, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(voice.Turn, "key_pressed", explode)
    monkeypatch.setattr(voice.Turn, "after_failure", explode)
    root = assert_valid(signed_post(client, "/voice/input/accueil", twilio_form(Digits="1")))
    heard = before_the_beep(root)
    assert heard.startswith(f"{SORRY} {TELESANTE}")
    monkeypatch.setattr(voice.Turn, "notice", explode)  # even that: a plain notice
    root = assert_valid(signed_post(client, "/voice/input/accueil", twilio_form(Digits="2")))
    assert before_the_beep(root).startswith(f"{SORRY} Votre message sera enregistré.")


def test_the_notice_prompt_is_checked_and_can_be_reworded(config_copy, make_app):
    prompts = config_copy / "prompts" / "fr-CA.yaml"
    text = prompts.read_text("utf-8")
    reworded = text.replace(
        "Votre message sera enregistré, conservé {boite.jours} et remis à {boite.equipe}.",
        "Ce message, transmis à {boite.equipe}, est conservé {boite.jours}.")
    assert reworded != text
    prompts.write_text(reworded, "utf-8")
    assert ivr("check", "--config-dir", str(config_copy)).exit_code == 0
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    heard = before_the_beep(assert_valid(signed_post(app.test_client(), "/voice/node/vm_telesante",
                                                     twilio_form())))
    assert heard.startswith("Ce message, transmis à l'équipe télésanté, est conservé 90 jours.")
    prompts.write_text(text.replace("{boite.jours}", "{boite.duree}"), "utf-8")
    refused = ivr("check", "--config-dir", str(config_copy))
    assert refused.exit_code == 1
    assert "champ inconnu {boite.duree}" in refused.output + refused.stderr


@pytest.fixture(scope="module")
def reference_app():
    from twiml_rules import make_line_app

    from ivr import stop_threads

    app = make_line_app(TWILIO_AUTH_TOKEN="t", IVR_NOW=REFERENCE_INSTANT)
    yield app
    stop_threads(app)


def test_every_path_to_a_beep_says_the_notice_and_stays_within_its_budget(reference_app):
    found = [e for e in efforts(reference_app) if e.ends == "record"]
    assert {"1,1,1", "1,1,2,1", "1,1,4,1", "1,2,1", "2,3,1", "*31", "*90"} <= \
        {e.keys for e in found}
    for effort in found:
        assert effort.budget is not None and effort.seconds <= effort.budget, effort
        keys = effort.keys.replace("*", "*,") if effort.keys.startswith("*") else effort.keys
        result = CallSimulator(reference_app).play(keys)
        assert result.kind == "record", effort
        assert "Votre message sera enregistré, conservé 90 jours" in result.heard, effort
