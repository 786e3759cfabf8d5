"""How prompts are spoken: the lexicon, phone numbers, SSML, and how long a caller listens."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import yaml
from twiml_rules import problems

from ivr import REPO_ROOT
from ivr.flow import Ask, Speech
from ivr.loading import load
from ivr.speech import Lexicon, heard_seconds, parse_lexicon, words
from ivr.twiml import Voice, render, spoken_ssml
from ivr.yamlsource import Problem, read_yaml

CONFIG = load(REPO_ROOT)
LEXICON = CONFIG.lexicon


def say(xml: str) -> ET.Element:
    return ET.fromstring(f'<Say language="fr-CA">{xml}</Say>')


@pytest.mark.parametrize("text,expected", [
    ("le CIUSSS de l'Est", [("text", "le "), ("word", "CIUSSS"), ("text", " de l'Est")]),
    ("au 1 833 564-0404.", [("text", "au "), ("telephone", "1 833 564-0404"), ("text", ".")]),
    ("514 251-4000, poste 5656", [("telephone", "514 251-4000"), ("text", ", "),
                                  ("word", "poste 5656")]),
    ("sur l'AH-233, mot-clé", [("text", "sur l'"), ("word", "AH-233"), ("text", ", mot-clé")]),
    ("Office 365 et Teams", [("word", "Office 365"), ("text", " et "), ("word", "Teams")]),
    ("à support@reacts.com.", [("text", "à "), ("word", "support@reacts.com"), ("text", ".")]),
    ("CSIS et ACSI", [("text", "CSIS et ACSI")]),  # whole words only
    ("Reactsville", [("text", "Reactsville")]),
])
def test_a_prompt_is_cut_into_what_the_voice_says_as_written_and_otherwise(text, expected):
    assert [(p.kind, p.written) for p in LEXICON.pieces(text)] == expected


def test_addresses_are_spelled_to_be_written_down_not_read_letter_by_letter():
    spoken = LEXICON.spoken("Écrivez à soutienrqt@ssss.gouv.qc.ca.")
    assert "quatre s" in spoken and "s s s s" not in spoken and "arobase" in spoken
    [address] = [p for p in LEXICON.pieces("soutienrqt@ssss.gouv.qc.ca") if p.kind == "word"]
    assert address.slow


def test_the_lexicon_becomes_ssml_built_by_the_twilio_library():
    ssml = spoken_ssml("Le CIUSSS : 1 833 564-0404, poste 5656 ou support@reacts.com.", LEXICON)
    root = say(ssml)
    assert root.find("sub").get("alias") == "ciousse" and root.find("sub").text == "CIUSSS"
    assert root.find("say-as").get("interpret-as") == "telephone"
    assert root.find("say-as").text == "1 833 564-0404"
    assert root.find("prosody").get("rate") == "85%"
    assert root.find("prosody/sub").get("alias").startswith("support, arobase")
    assert "".join(root.itertext()).startswith("Le CIUSSS : 1 833 564-0404, poste 5656")


def test_a_menu_is_one_say_with_its_ssml_valid_for_twilio():
    speech = (Speech("Problème technique, faites le 1 ;"), Speech("CSSNS, le 2."))
    xml = render(Ask(speech, "/voice/input/x", 1, 6), Voice("Polly.Gabrielle-Neural", "fr-CA"),
                 LEXICON)
    assert problems(xml) == []
    [say_element] = ET.fromstring(xml).iter("Say")
    assert "".join(say_element.itertext()) == "Problème technique, faites le 1 ; CSSNS, le 2."
    assert say_element.find("sub").get("alias") == "C S S N S"


@pytest.mark.parametrize("xml,seconds", [
    ("un deux trois quatre cinq six sept huit neuf dix onze douze treize", 5.0),
    ("faites le 1 ; l'étoile : « retour »", 5 / 2.6),  # lone punctuation is no word
    ('le <sub alias="ciousse">CIUSSS</sub>', 2 / 2.6),
    ('<say-as interpret-as="telephone">1 833 564-0404</say-as>', 11 / 2.6),
    ('un <break time="500ms"/> deux <break time="1s"/>', 2 / 2.6 + 1.5),
    ('<prosody rate="50%">un deux</prosody> trois', 2 / 1.3 + 1 / 2.6),
])
def test_seconds_heard_count_the_words_the_voice_receives(xml, seconds):
    assert heard_seconds(say(xml)) == pytest.approx(seconds)


def test_a_pause_lasts_its_length_and_english_is_counted_at_its_own_rate():
    assert heard_seconds(ET.fromstring('<Pause length="3"/>')) == 3
    english = ET.fromstring('<Say language="en-CA">one two three four five six seven</Say>')
    assert heard_seconds(english) == pytest.approx(7 / 2.8)
    assert words("« — ; »") == 0


@pytest.mark.parametrize("text,message", [
    ("mots:\n  CSI: ''\n", "dites comment prononcer"),
    ("mots:\n  CSI: C S I\nadresses:\n  CSI: c s i\n", "déjà dans le lexique"),
    ("mots:\n  CSI: cinq mille six cent 5656\n", "sans adresse ni long nombre"),
    ("lettres:\n  CSI: C S I\n", "section inconnue (attendu : mots, adresses, français)"),
    ("mots: [CSI]\n", "attendu : une liste"),
])
def test_a_broken_lexicon_is_a_problem_at_its_line(tmp_path, text, message):
    path = tmp_path / "lexique.fr-CA.yaml"
    path.write_text(text, "utf-8")
    found: list[Problem] = []
    lexicon = parse_lexicon(read_yaml(path, "prompts/lexique.fr-CA.yaml", found), "x", found)
    assert any(message in p.message and p.where.file == "prompts/lexique.fr-CA.yaml"
               and p.where.line >= 1 for p in found), found
    assert isinstance(lexicon, Lexicon)


def test_the_shipped_lexicon_covers_what_the_offer_of_service_names():
    written = {e.written for e in LEXICON.entries}
    assert {"Reacts", "Teams", "eClinibase", "M365", "Office 365", "CIUSSS", "CSI", "CSSNS",
            "DSP", "MPOC", "poste 5656", "support@reacts.com",
            "soutienrqt@ssss.gouv.qc.ca"} <= written
    raw = yaml.safe_load((REPO_ROOT / "prompts" / "lexique.fr-CA.yaml").read_text("utf-8"))
    assert set(raw) == {"mots", "adresses"}


def test_the_english_voice_says_french_labels_the_french_way(client):
    """lexique.en-CA.yaml's « français » section: an Octopus label is said inside
    <lang xml:lang="fr-CA">, not respelled; the seconds count its words."""
    from twiml_rules import assert_valid, signed_post, twilio_form

    from ivr.loading import load_all

    english = load_all(REPO_ROOT)["en-CA"].lexicon
    pieces = english.pieces("In Octopus, choose « Informatique ».")
    [label] = [p for p in pieces if p.kind == "word"]
    assert (label.written, label.spoken, label.language) == ("Informatique", "Informatique",
                                                             "fr-CA")
    ssml = say(spoken_ssml("Choose « Génie biomédical », then call.", english))
    assert [(e.get("{http://www.w3.org/XML/1998/namespace}lang"), e.text)
            for e in ssml.iter("lang")] == [("fr-CA", "Génie biomédical")]
    heard = f'<Say language="en-US">{spoken_ssml("« Informatique »", english)}</Say>'
    assert heard_seconds(ET.fromstring(heard)) == pytest.approx(1 / 2.8)
    root = assert_valid(signed_post(client, "/voice/input/personnel_technique?p=accueil.personnel"
                                    "&h=1&l=en", twilio_form(Digits="2")))
    labels = [e.text for e in root.iter("lang")]
    assert "Génie biomédical" in labels, ET.tostring(root, encoding="unicode")
