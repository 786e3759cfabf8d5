"""What a caller hears and how long it takes: the paths' budgets, the order of what is said,
and what the offer of service says (issue « the caller's ear »)."""

from __future__ import annotations

import json
import re

import pytest
from test_check import ivr
from twiml_rules import assert_valid, said, signed_post, twilio_form

from ivr import REPO_ROOT
from ivr.effort import REFERENCE_INSTANT, efforts
from ivr.loading import load
from ivr.speech import seconds, words

CONFIG = load(REPO_ROOT)
HINT = CONFIG.prompts["systeme.navigation"].text
URGENT = "En cas d'urgence, faites le 1."

# The ten paths of the issue, with their budgets (seconds of speech, heard in full, before a
# person rings or the voicemail beeps). 2,2,2 is taken with its 1 (the CSSNS): the node first
# offers the documentation; staying on the line also leads there, after the menu's timeout.
BUDGETS = {
    "2,1,1,1": 40, "2,1,5,1,1": 45, "2,1,4,1,1": 45, "2,1,5,2": 45, "2,2,2,1": 40,
    "2,3,1": 45, "1,1,1": 45, "1,1,4,2": 45, "1,2,2": 40, "*11": 20,
}


@pytest.fixture(scope="module")
def found(reference_app):
    return {e.keys: e for e in efforts(reference_app)}


def test_the_ten_paths_reach_a_person_or_a_beep_within_their_budget(found):
    for keys, budget in BUDGETS.items():
        effort = found[keys]
        assert effort.ends in ("dial", "record"), effort
        assert effort.seconds <= budget, effort
        assert effort.budget == budget, effort  # the same budgets are in menus/ligne.yaml


def test_every_path_to_a_person_or_a_voicemail_is_within_its_budget(found):
    over = [e for e in found.values() if e.ends in ("dial", "record") and e.over]
    assert over == []
    assert {"2,1,4,3,1", "2,2,2,.", "*31", "*90"} <= set(found)


@pytest.fixture(scope="module")
def reference_app():
    """One app at the reference instant for the module (the efforts are played once)."""
    from twiml_rules import make_line_app

    from ivr import stop_threads

    app = make_line_app(TWILIO_AUTH_TOKEN="t", IVR_NOW=REFERENCE_INSTANT)
    yield app
    stop_threads(app)


def test_a_longer_prompt_shows_its_cost_in_ivr_effort_and_ivr_check(config_copy):
    path = config_copy / "prompts" / "fr-CA.yaml"
    text = path.read_text("utf-8")
    longer = ("En cas d'urgence, et seulement en cas d'urgence, si rien d'autre ne fonctionne "
              "et que vos patients attendent, faites le {touche}.")
    path.write_text(text.replace("En cas d'urgence, faites le {touche}.", longer), "utf-8")
    result = ivr("effort", "--json", "--config-dir", str(config_copy))
    assert result.exit_code == 0, result.output
    paths = {p["keys"]: p for p in json.loads(result.output)}
    assert paths["2,1,5,1,1"]["over"] and paths["2,1,5,1,1"]["seconds"] > 45
    checked = ivr("check", "--config-dir", str(config_copy))
    assert checked.exit_code == 0  # a warning, not a refusal: the line still serves
    assert re.search(r"menus/ligne\.yaml:\d+: line\.budgets\.2,1,5,1,1: 2,1,5,1,1 \(.+\) : "
                     r"\d+ s de messages avant la sonnerie, au-delà du budget de 45 s",
                     checked.stderr), checked.stderr


def test_ivr_effort_lists_every_destination_with_its_seconds():
    result = ivr("effort")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    [urgent] = [line for line in lines if line.startswith("2,1,1,1 ")]
    assert re.match(r"2,1,1,1\s+\d+\.\d s / 40 s\s+☎ \+15142514000 — ", urgent), urgent
    assert "AU-DELÀ" not in result.output
    assert any(line.startswith("2,1,3 ") and "ℹ" in line for line in lines)  # information


def test_ivr_call_json_gives_the_seconds_heard():
    result = ivr("call", "--at", REFERENCE_INSTANT, "--keys", "2,1,1,1", "--json")
    call = json.loads(result.output)
    assert 0 < call["seconds"] <= 40
    assert call["seconds"] == pytest.approx(sum(e["seconds"] for e in call["exchanges"]), 0.1)


# --------------------------------------------------------------------------- what is said


def test_the_navigation_hints_are_said_once_per_call(call):
    result = call("2,1,5,#,1,#")  # menus, an information, and two repeats
    assert result.heard.count(HINT) == 1
    assert [HINT in " ".join(ex.said) for ex in result.exchanges].index(True) == 1  # 1st menu


def test_the_urgent_option_comes_first_in_the_staff_technical_nodes(call):
    for keys in ("2,1,1", "2,1,4,1", "2,1,4,3", "2,1,5,1"):
        last = call(keys).exchanges[-2]  # the information (then silence: goodbye)
        assert " ".join(last.said).startswith(URGENT), (keys, last.said)
        assert "AH-233" in " ".join(last.said)


def test_the_welcome_is_short(call):
    """The greeting and both choices in French under 8 s; then, with English on (issue 18),
    one short sentence in the English voice, which a French caller need not wait for."""
    [first, *_] = call("").exchanges
    french, offer = first.said
    assert offer == "For service in English, press 9."
    assert seconds(words(french), "fr-CA") < 8
    assert seconds(words(offer), "en-CA") < 2.5
    assert first.seconds < 8 + 2.5


def test_star_00_reads_the_staff_shortcuts_and_star_31_leaves_a_new_project_message(call):
    [listed] = [ex for ex in call("*00").exchanges if ex.pressed == "00"]
    assert listed.said == ["Tapez le raccourci."]
    heard = call("*00").heard
    for code in ("1 1", "2 1", "3 1", "9 0"):
        assert f"étoile {code}" in heard
    project = call("*31")
    assert project.kind == "record"
    assert "nouveau projet" in project.heard


def test_a_cissss_tablet_on_lte_reaches_the_it_centre(call):
    result = call("2,1,4,3,1")
    assert result.kind == "dial" and result.dials[0].number == "+15142514000"


def test_a_staff_question_on_a_provincial_platform_offers_the_documentation_first(call):
    stayed = call("2,2,2,.")
    assert "documentation du RQT" in stayed.heard
    assert stayed.kind == "dial" and stayed.dials[0].number == "+18335640404"
    pressed = call("2,2,2,1")
    assert pressed.dials[0].number == "+18335640404"


def test_a_closed_cssns_speaks_its_number_and_address(client):
    root = assert_valid(signed_post(client, "/voice/node/cssns_ferme", twilio_form()))
    text = said(root)
    assert "1 833 564-0404" in text and "soutienrqt@ssss.gouv.qc.ca" in text
    assert root.find(".//say-as").get("interpret-as") == "telephone"


def test_patients_are_told_the_truth_of_the_offer_of_service(call):
    internet = call("1,1,3").heard
    assert "vous appellera" not in internet and "rappellera" not in internet
    lent = call("1,1,1")
    assert lent.kind == "record"
    assert "service qui vous suit" in lent.heard and "équipe télésanté" not in lent.heard
    texts = CONFIG.prompts
    assert "https://telesantequebec.ca/patient/cssns-soutien/" in \
        texts["texto.cssns_patients"].text
    assert "/professionnel/" not in texts["texto.cssns_patients"].text
    assert CONFIG.nodes["cssns_ferme_patients"].sms.text == "texto.cssns_patients"


def test_no_invented_local_day_ships_and_no_example_address_outside_development():
    rsss = (REPO_ROOT / "schedules" / "calendars" / "rsss.yaml").read_text("utf-8")
    assert "exemple" not in re.sub(r"#.*", "", rsss).lower()
    for box in CONFIG.boxes.values():
        assert not any(e.endswith("example.org") for e in box.emails)


# --------------------------------------------------------------------------- ivr check warns


def test_ivr_check_warns_about_what_a_caller_would_mishear(config_copy):
    prompts = config_copy / "prompts" / "fr-CA.yaml"
    text = prompts.read_text("utf-8")
    text = text.replace("  transfert.echec: Le soutien informatique ne répond pas.",
                        "  transfert.echec: >-\n    Le soutien informatique ne répond pas :"
                        " écrivez à aide@cemtl.ca ou au poste 4321, et lisez"
                        " www.exemple.com pour la suite des choses, car il faut bien que"
                        " quelqu'un vous réponde un jour ou l'autre dans ce vaste monde.")
    prompts.write_text(text, "utf-8")
    menu = config_copy / "menus" / "personnel.yaml"
    menu.write_text(menu.read_text("utf-8").replace(
        '      "4": {to: personnel_autres_applications, say: personnel_application.autres}',
        '      "4": {to: personnel_autres_applications, say: personnel_application.autres}\n'
        '      "6": {to: personnel_teams, say: personnel_application.teams}\n'
        '      "7": {to: personnel_reacts, say: personnel_application.reacts}'), "utf-8")
    result = ivr("check", "--config-dir", str(config_copy))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "transfert.echec" in line]
    assert any("le nombre 4321 sera lu comme un grand nombre" in w for w in warnings)
    assert any("l'adresse aide@cemtl.ca n'est pas dans prompts/lexique" in w for w in warnings)
    assert any("le lien www.exemple.com n'est pas dans" in w for w in warnings)
    assert any("phrase de" in w and "coupez-la" in w for w in warnings)
    assert all(w.startswith("avertissement : prompts/fr-CA.yaml:") for w in warnings)
    assert re.search(r"menus/personnel\.yaml:\d+: nodes\.personnel_application: 6 choix : "
                     r"au-delà de 5", result.stderr)
    assert "boxes.telesante.emails: aucune adresse" in result.stderr


def test_the_shipped_config_has_no_warning_about_its_prompts():
    result = ivr("check")
    assert result.exit_code == 0, result.output
    about_prompts = [line for line in result.stderr.splitlines()
                     if "prompts/" in line or "nodes." in line or "budgets" in line]
    assert about_prompts == []
