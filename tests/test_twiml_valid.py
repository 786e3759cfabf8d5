"""Every TwiML response is valid against Twilio's own TwiML definitions (verbs, attributes, voices).

The checker (tests/twiml_rules.py) is derived from the installed twilio library; the walk below
asks the app for every node, every key at every menu, every dial result and every recording
callback, at instants that open and close the teams, and checks each answer.
"""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Dial, Gather, Hangup, Record, VoiceResponse
from twiml_rules import (
    GRAMMAR,
    MAX_BYTES,
    assert_valid,
    line_requests,
    make_line_app,
    node_requests,
    problems,
    said,
    signed_post,
    twilio_form,
)

import ivr.voice
from ivr import REPO_ROOT
from ivr.flow import Ask, Goodbye, Speech, Transfer, Voicemail
from ivr.loading import load
from ivr.twiml import Voice, render

TOKEN = "twiml-valid-token"
INSTANTS = {
    "weekday-10h": "2026-12-01T10:00:00-05:00",  # a Tuesday: CSI, CSSNS open
    "weekday-19h30": "2026-12-01T19:30:00-05:00",  # CSI and CSSNS closed, CDA on call
    "saturday": "2026-12-05T10:00:00-05:00",
    "christmas": "2026-12-25T10:00:00-05:00",
    "christmas-eve-13h": "2026-12-24T13:00:00-05:00",  # no longer a local day (none ship)
}
FIRST = next(iter(INSTANTS))
CONFIG = load(REPO_ROOT)
NODES = sorted(CONFIG.nodes)


@pytest.fixture(scope="module")
def build():
    """build(**overrides) → an app on its own database (see make_line_app)."""
    return lambda **overrides: make_line_app(TWILIO_AUTH_TOKEN=TOKEN, **overrides)


SMS = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "IVR_SMS_FROM": "+15145550000"}
SETUPS = {**{label: {"IVR_NOW": at} for label, at in INSTANTS.items()},
          "weekday-10h-sms": {"IVR_NOW": INSTANTS["weekday-10h"], **SMS}}


@pytest.fixture(scope="module")
def clients(build):
    return {label: build(**settings).test_client() for label, settings in SETUPS.items()}


# --------------------------------------------------------------------------- the walk


TAGS_SEEN: dict[str, set[str]] = {}  # node id -> tags answered at the first instant


def walk_node(client, instant: str, node_id: str) -> set[str]:
    tags: set[str] = set()
    for label, path, extra in node_requests(CONFIG, node_id):
        response = signed_post(client, path, twilio_form(**extra))
        root = assert_valid(response, f"{instant} {node_id} {label}: POST {path}")
        tags |= {e.tag for e in root.iter()}
    return tags


@pytest.mark.parametrize("instant", SETUPS)
@pytest.mark.parametrize("node_id", NODES)
def test_every_webhook_of_every_node(clients, instant, node_id):
    tags = walk_node(clients[instant], instant, node_id)
    if instant == FIRST:
        TAGS_SEEN[node_id] = tags


@pytest.mark.parametrize("instant", SETUPS)
def test_every_line_webhook(clients, instant):
    client = clients[instant]
    for label, path, extra in line_requests(CONFIG):
        assert_valid(signed_post(client, path, twilio_form(**extra)), f"{instant} {label}")


def test_walk_covers_every_kind_of_answer(clients):
    """The walk meets every verb the line uses, so the checks above check something."""
    for node_id in set(NODES) - set(TAGS_SEEN):  # when run alone
        TAGS_SEEN[node_id] = walk_node(clients[FIRST], FIRST, node_id)
    seen = set().union(*TAGS_SEEN.values())
    assert {"Gather", "Say", "Dial", "Number", "Record", "Redirect", "Hangup"} <= seen


def test_callbacks_outside_the_call_are_empty_or_valid(clients):
    client = clients["weekday-10h"]
    voicemails = [n for n in NODES if CONFIG.nodes[n].type == "voicemail"]
    calls = [("/voice/status", {"CallStatus": "completed", "CallDuration": "60"})]
    calls += [(f"/voice/recording/{n}", {"RecordingStatus": "completed",
                                         "RecordingUrl": "https://api.twilio.com/RE1",
                                         "RecordingDuration": "17"}) for n in voicemails]
    for path, extra in calls:
        response = signed_post(client, path, twilio_form(**extra))
        assert response.status_code in (200, 204), (path, response.status_code)
        if response.get_data().strip():
            assert_valid(response, path)


@pytest.mark.parametrize("voice", ["Polly.Liam-Neural", "Google.fr-CA-Neural2-B",
                                   "Google.fr-CA-Chirp3-HD-Aoede"])
def test_other_fr_ca_voices(build, voice):
    client = build(IVR_NOW=INSTANTS["weekday-10h"], IVR_VOICE=voice).test_client()
    root = assert_valid(signed_post(client, "/voice"), voice)
    assert {s.get("voice") for s in root.iter("Say") if s.get("language") == "fr-CA"} == {voice}


def test_recorded_prompt_plays_inside_the_gather(build, config_copy):
    audio = config_copy / "prompts" / "audio" / "fr-CA"
    audio.mkdir(parents=True, exist_ok=True)
    (audio / "accueil.bienvenue.mp3").write_bytes(b"ID3")
    client = build(IVR_NOW=INSTANTS["weekday-10h"], IVR_CONFIG_DIR=str(config_copy)).test_client()
    root = assert_valid(signed_post(client, "/voice"), "recorded prompt")
    plays = root.findall("Gather/Play")
    assert [p.text for p in plays] == ["/voice/audio/fr-CA/accueil.bienvenue.mp3"]


def test_apology_when_a_webhook_fails(clients, monkeypatch):
    """An exception inside a webhook: the apology and the fallback are valid TwiML too."""

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    client = clients["weekday-10h"]
    monkeypatch.setattr(ivr.voice.Turn, "key_pressed", broken)
    root = assert_valid(signed_post(client, "/voice/input/accueil", twilio_form(Digits="1")),
                        "apology")
    assert "problème technique" in said(root)
    monkeypatch.setattr(ivr.voice, "_turn", broken)
    root = assert_valid(signed_post(client, "/voice/input/accueil", twilio_form(Digits="1")),
                        "apology without config")
    assert "problème technique" in said(root)


def test_every_decision_renders_valid():
    """ivr.twiml.render, straight: each decision with long and odd-but-legal content."""
    voice = Voice("Polly.Gabrielle-Neural", "fr-CA")
    speech = (Speech("Bonjour « à » tous & <bienvenue>"), Speech("x", "/voice/audio/fr-CA/a.mp3"))
    decisions = [
        Ask(speech, "/voice/input/accueil?p=a.b&n=1", 1, 6),
        Ask(speech, "/voice/shortcut", 2, 4),
        Transfer(speech, "+15142514000", "wwww5656", "/voice/dial/urgence_ti/0", 20),
        Transfer((), "+18335640404", None, "/voice/dial/cssns/0", 25),
        Voicemail(speech, "/voice/record/vm", "https://ligne.example.org/voice/recording/vm",
                  (Speech("Au revoir."),)),
        Goodbye(speech),
        Goodbye(()),
    ]
    for decision in decisions:
        document = render(decision, voice)
        assert problems(document) == [], (decision, document)


# --------------------------------------------------------------------------- the checker


def test_grammar_comes_from_the_library():
    assert {"numDigits", "finishOnKey", "actionOnEmptyResult", "timeout"} <= \
        GRAMMAR["Response"]["Gather"].attributes
    assert "sendDigits" in GRAMMAR["Dial"]["Number"].attributes
    assert {"maxLength", "playBeep", "trim", "recordingStatusCallbackEvent"} <= \
        GRAMMAR["Response"]["Record"].attributes
    assert set(GRAMMAR["Gather"]) == {"Say", "Play", "Pause"}
    assert set(GRAMMAR["Dial"]) == {"Number"}
    for children in GRAMMAR.values():
        for definition in children.values():
            assert not any("_" in name for name in definition.attributes), definition


def _doc(*verbs) -> str:
    response = VoiceResponse()
    for verb in verbs:
        response.append(verb)
    return str(response)


def _gather(**attrs) -> Gather:
    gather = Gather(**{"input": "dtmf", "action": "/voice/input/accueil", "num_digits": 1,
                       "timeout": 6, "finish_on_key": "", **attrs})
    gather.say("Faites le 1.", voice="Polly.Gabrielle-Neural", language="fr-CA")
    return gather


def _say(text="Bonjour.", **attrs) -> VoiceResponse:
    response = VoiceResponse()
    response.say(text, **{"voice": "Polly.Gabrielle-Neural", "language": "fr-CA", **attrs})
    return response


def _record(**attrs) -> Record:
    return Record(**{"action": "/voice/record/vm", "max_length": 180, **attrs})


def _dial(number="+15142514000", **attrs) -> Dial:
    dial = Dial(action="/voice/dial/x/0", timeout=20, answer_on_bridge=True)
    dial.number(number, **attrs)
    return dial


GOOD = [
    str(_say()),
    _doc(_gather()),
    _doc(_dial(send_digits="wwww5656")),
    _doc(*_say("Au revoir.").verbs, Hangup()),
]

BAD = [
    ("voice without -Neural", str(_say(voice="Polly.Gabrielle")), "not a fr-CA voice"),
    ("English voice", str(_say(voice="Polly.Joanna")), "not a fr-CA voice"),
    ("fr-FR", str(_say(language="fr-FR")), "fr-CA"),
    ("no voice", '<Response><Say language="fr-CA">Bonjour.</Say></Response>', "required"),
    ("English text", str(_say("Please press 1.")), "English"),
    ("Goodbye", str(_say("Goodbye.")), "English"),
    ("empty Say", str(_say(" ")), "says nothing"),
    ("unfilled field", str(_say("Faites le {touche}.")), "field"),
    ("unknown Gather attribute", _doc(_gather(colour="blue")), "no attribute 'colour'"),
    ("snake_case attribute", '<Response><Gather num_digits="1"><Say voice="Polly.Chantal" '
     'language="fr-CA">a</Say></Gather></Response>', "no attribute 'num_digits'"),
    ("numDigits 0", _doc(_gather(num_digits=0)), "numDigits"),
    ("timeout text", _doc(_gather(timeout="six")), "timeout"),
    ("boolean True", _doc(_gather(action_on_empty_result="True")), "actionOnEmptyResult"),
    ("finishOnKey letter", _doc(_gather(finish_on_key="a")), "finishOnKey"),
    ("method PUT", _doc(_gather(method="PUT")), "method"),
    ("Gather without prompt", _doc(Gather(action="/a", num_digits=1)), "without a prompt"),
    ("Say before Gather", str(_say().append(_gather())), "barge in"),
    ("Dial inside Gather", '<Response><Gather><Say voice="Polly.Chantal" language="fr-CA">a'
     '</Say><Dial>+15142514000</Dial></Gather></Response>', "not allowed in <Gather>"),
    ("unknown verb", "<Response><Speak>a</Speak></Response>", "no such child"),
    ("verb outside the vocabulary", "<Response><Reject/></Response>", "no rules"),
    ("Number not E.164", _doc(_dial("514-251-4000")), "E.164"),
    ("Number too short", _doc(_dial("+1555")), "not a valid number"),
    ("sendDigits letters", _doc(_dial(send_digits="ww5656x")), "sendDigits"),
    ("Dial timeout 2", _doc(Dial("+15142514000", timeout=2)), "timeout"),
    ("Record trim", _doc(_record(trim="silence")), "trim"),
    ("Record maxLength", _doc(_record(max_length=20000)), "maxLength"),
    ("Record event", _doc(_record(recording_status_callback_event="done")),
     "recordingStatusCallbackEvent"),
    ("ftp status callback", _doc(_record(recording_status_callback="ftp://x.org/r")),
     "http(s)"),
    ("relative URL without slash", _doc(_record(action="voice/record")), "start with '/'"),
    ("verb after Hangup", _doc(Hangup(), *_say().verbs), "never reached"),
    ("not Response", "<Reponse/>", "not <Response>"),
    ("not XML", "<Response>", "not XML"),
    ("too big", str(_say("Bonjour. " * 9000)), "bytes"),
]


@pytest.mark.parametrize("document", GOOD)
def test_checker_accepts_good_twiml(document):
    assert problems(document) == []


@pytest.mark.parametrize("name,document,expected", BAD, ids=[b[0] for b in BAD])
def test_checker_rejects_bad_twiml(name, document, expected):
    found = problems(document)
    assert found, f"{name}: accepted\n{document}"
    assert any(expected in p for p in found), found


def test_size_limit_is_twilios():
    assert MAX_BYTES == 64 * 1024
