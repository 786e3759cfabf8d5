"""A TwiML checker built from Twilio's own definitions, plus the line's value rules.

The grammar (which verbs exist, which attributes each takes, what nests in what) is read from
the installed ``twilio`` library: every builder method of ``VoiceResponse``, ``Gather`` and
``Dial`` is called once with a marker in each parameter, and the element it builds says its tag,
the attribute names (converted by the library's own ``lower_camel``/``TwiML.MAP``) and which
parameter is the element's text. The values are then checked against twilio-notes.md and
Twilio's documented ranges. ``problems(xml)`` lists everything wrong; an empty list is valid.

The line uses a small vocabulary (VERBS below). A tag that Twilio knows but the vocabulary does
not is reported too: whoever makes the line use it adds its rules here first.
"""

from __future__ import annotations

import inspect
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers
import pytest
from twilio.twiml import TwiML
from twilio.twiml import voice_response as vr

from ivr.config import EN_VOICE_PREFIXES, EN_VOICES
from ivr.security import sign
from ivr.services import services

MAX_BYTES = 64 * 1024  # twilio-notes.md: TwiML responses are capped at 64 kB
XML_NAMESPACE = "{http://www.w3.org/XML/1998/namespace}"

# --------------------------------------------------------------------------- grammar (library)

# The verbs this line may answer with, as VoiceResponse builder methods, and what it nests.
VERBS = ("say", "play", "gather", "dial", "record", "redirect", "hangup", "pause")
NESTED = {vr.Gather: ("say", "play", "pause"), vr.Dial: ("number",)}
# SSML inside <Say> (twilio-notes.md), as the library builds it: the line's vocabulary.
SSML = {"Say": (vr.Say, ("say_as", "sub", "break_", "prosody", "lang")),
        "prosody": (vr.SsmlProsody, ("say_as", "sub", "break_"))}
MIXED_TEXT = ("Say", "prosody")  # text may stand between their children
_BASE_METHODS = frozenset(name for name, _ in inspect.getmembers(TwiML, inspect.isfunction))


@dataclass(frozen=True)
class ElementDef:
    tag: str
    attributes: frozenset[str]
    has_text: bool  # one of the builder's parameters becomes the element's text
    cls: type


def derive(owner: type[TwiML], method_name: str) -> ElementDef:
    """What ``owner().<method_name>(...)`` builds, according to the library itself."""
    method = getattr(owner, method_name)
    params = [p for p in inspect.signature(method).parameters.values()
              if p.name != "self" and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    markers = {p.name: f"<<{p.name}>>" for p in params}
    child = method(owner(), **markers)
    assert isinstance(child, TwiML), f"{owner.__name__}.{method_name} builds no element"
    assert set(map(str, child.attrs.values())) <= set(markers.values()), child.attrs
    has_text = child.value is not None and child.value in markers.values()
    return ElementDef(child.name, frozenset(child.attrs), has_text, type(child))


def library_children(owner: type[TwiML]) -> frozenset[str]:
    """Every tag the library lets ``owner`` contain (all its builder methods)."""
    tags = set()
    for name, _ in inspect.getmembers(owner, inspect.isfunction):
        if name.startswith("_") or name in _BASE_METHODS:
            continue
        try:
            tags.add(derive(owner, name).tag)
        except TypeError:  # a builder that needs more than markers (none today)
            tags.add(name)
    return frozenset(tags)


def _grammar() -> dict[str, dict[str, ElementDef]]:
    """parent tag -> {child tag -> definition}, for the line's vocabulary."""
    grammar: dict[str, dict[str, ElementDef]] = {"Response": {}}
    for name in VERBS:
        element = derive(vr.VoiceResponse, name)
        grammar["Response"][element.tag] = element
        grammar.setdefault(element.tag, {})
    for owner, names in NESTED.items():
        parent = derive(vr.VoiceResponse, owner.__name__.lower()).tag
        for name in names:
            element = derive(owner, name)
            grammar[parent][element.tag] = element
            grammar.setdefault(element.tag, {})
    for parent, (owner, names) in SSML.items():
        for name in names:
            element = derive(owner, name)
            grammar.setdefault(parent, {})[element.tag] = element
            grammar.setdefault(element.tag, {})
    return grammar


GRAMMAR = _grammar()
LIBRARY_CHILDREN = {"Response": library_children(vr.VoiceResponse),
                    "Gather": library_children(vr.Gather), "Dial": library_children(vr.Dial)}

# --------------------------------------------------------------------------- values (notes)

FR_CA_VOICES = frozenset(
    ["Polly.Gabrielle-Neural", "Polly.Liam-Neural", "Polly.Chantal"]
    + [f"Google.fr-CA-{kind}-{v}" for kind in ("Neural2", "Wavenet", "Standard") for v in "ABCD"]
)
CHIRP3 = re.compile(r"^Google\.fr-CA-Chirp3-HD-[A-Za-z0-9]+$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
DTMF = set("0123456789#*")
# English a caller must never hear on a French line (stock phrases, Twilio's own error, None).
ENGLISH = re.compile(
    r"\b(please|goodbye|good bye|press|thank you|thanks|sorry|welcome|hello|error|invalid|"
    r"an application error has occurred|the|you|your|none|null|undefined)\b",
    re.IGNORECASE,
)

Rule = Callable[[str], str | None]


def integer(low: int, high: int | None = None) -> Rule:
    def rule(value: str) -> str | None:
        if not re.fullmatch(r"\d+", value):
            return f"{value!r} is not a whole number"
        if int(value) < low or (high is not None and int(value) > high):
            return f"{value} is outside {low}..{high if high is not None else '∞'}"
        return None

    return rule


def one_of(*allowed: str) -> Rule:
    return lambda value: None if value in allowed else f"{value!r} not in {allowed}"


def events(*allowed: str) -> Rule:
    def rule(value: str) -> str | None:
        words = value.split()
        if not words or not set(words) <= set(allowed):
            return f"{value!r}: each event must be one of {allowed}"
        return None

    return rule


def chars(allowed: str, *, empty: bool, single: bool = False) -> Rule:
    def rule(value: str) -> str | None:
        if not value:
            return None if empty else "empty"
        if single and len(value) != 1:
            return f"{value!r}: one key only"
        bad = set(value) - set(allowed)
        return f"{value!r}: {''.join(sorted(bad))!r} not allowed (only {allowed})" if bad else None

    return rule


def url(value: str) -> str | None:
    """An absolute http(s) URL, or a path Twilio resolves against the document's URL."""
    if not value or any(c.isspace() for c in value):
        return f"{value!r} is not a URL"
    parts = urlsplit(value)
    if parts.scheme:
        return None if parts.scheme in ("http", "https") and parts.netloc else \
            f"{value!r}: only http(s) URLs"
    return None if value.startswith("/") else f"{value!r}: a relative URL must start with '/'"


def e164(value: str) -> str | None:
    if not E164.match(value):
        return f"{value!r} is not E.164"
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        valid = False
    return None if valid else f"{value!r} is not a valid number"


def fr_ca_voice(value: str) -> str | None:
    if value in FR_CA_VOICES or CHIRP3.match(value):
        return None
    return f"{value!r} is not a fr-CA voice"


BOOL = one_of("true", "false")
METHOD = one_of("GET", "POST")
FR_CA = one_of("fr-CA")
RECORDING_EVENTS = events("in-progress", "completed", "absent")

VALUES: dict[str, dict[str, Rule]] = {
    "Say": {"voice": fr_ca_voice, "language": FR_CA, "loop": integer(0, 1000)},
    "Play": {"loop": integer(0, 1000), "digits": chars("0123456789#*w", empty=False)},
    "Pause": {"length": integer(1, 600)},
    "Gather": {
        "input": one_of("dtmf", "speech", "dtmf speech", "speech dtmf"),
        "action": url, "method": METHOD,
        "timeout": integer(1, 600), "numDigits": integer(1, 100),
        "finishOnKey": chars("0123456789#*", empty=True, single=True),
        "actionOnEmptyResult": BOOL, "bargeIn": BOOL, "debug": BOOL, "enhanced": BOOL,
        "profanityFilter": BOOL, "language": FR_CA,
        "speechTimeout": lambda v: None if v == "auto" else integer(1, 600)(v),
        "maxSpeechTime": integer(1, 60),
        "partialResultCallback": url, "partialResultCallbackMethod": METHOD,
    },
    "Dial": {
        "action": url, "method": METHOD, "timeout": integer(5, 600),
        "timeLimit": integer(1, 14400), "answerOnBridge": BOOL, "hangupOnStar": BOOL,
        "callerId": e164, "sequential": BOOL,
        "record": one_of("do-not-record", "record-from-answer", "record-from-ringing",
                         "record-from-answer-dual", "record-from-ringing-dual"),
        "trim": one_of("trim-silence", "do-not-trim"),
        "recordingStatusCallback": url, "recordingStatusCallbackMethod": METHOD,
        "recordingStatusCallbackEvent": RECORDING_EVENTS,
    },
    "Number": {
        "sendDigits": chars("0123456789#*w", empty=False), "url": url, "method": METHOD,
        "statusCallback": url, "statusCallbackMethod": METHOD,
        "statusCallbackEvent": events("initiated", "ringing", "answered", "completed"),
    },
    "Record": {
        "action": url, "method": METHOD, "timeout": integer(1, 3600),
        "finishOnKey": chars("0123456789#*", empty=True),
        "maxLength": integer(1, 14400), "playBeep": BOOL,
        "trim": one_of("trim-silence", "do-not-trim"),
        "recordingStatusCallback": url, "recordingStatusCallbackMethod": METHOD,
        "recordingStatusCallbackEvent": RECORDING_EVENTS,
        "transcribe": BOOL, "transcribeCallback": url,
    },
    "Redirect": {"method": METHOD},
    "sub": {"alias": lambda v: None if v.strip() else "an empty alias says nothing"},
    "lang": {"xml:lang": one_of("fr-CA")},  # French names in the English voice's mouth
    "say-as": {"interpret-as": one_of("telephone", "characters", "digits", "cardinal", "date")},
    "break": {"time": lambda v: None if re.fullmatch(r"\d+m?s", v) else f"{v!r}: 300ms, 1s"},
    "prosody": {"rate": lambda v: None if re.fullmatch(r"\d{2,3}%|x-slow|slow|medium|fast",
                                                       v) else f"{v!r}: a rate like 85%"},
}
REQUIRED = {"Say": ("voice", "language")}


def english_voice(value: str) -> str | None:
    if value in EN_VOICES or value.startswith(EN_VOICE_PREFIXES):
        return None
    return f"{value!r} is not an English voice"


# A <Say> in English (issue 18): an English voice, and the language that voice speaks.
ENGLISH_SAY: dict[str, Rule] = {**VALUES["Say"], "voice": english_voice,
                                "language": one_of("en-US")}
TEXT_RULES: dict[str, Rule] = {"Play": url, "Redirect": url, "Number": e164, "Dial": e164}


def spoken(text: str, english: bool = False) -> str | None:
    if not text.strip():
        return "says nothing"
    if "{" in text or "}" in text:
        return f"a field was not filled in: {text!r}"
    if english:  # a <Say> in English (issue 18): English is what it should say
        return None
    english = ENGLISH.search(text)
    return f"English ({english.group(0)!r}) on a French line: {text!r}" if english else None


# --------------------------------------------------------------------------- the checker


def problems(document: str | bytes) -> list[str]:
    """Everything in ``document`` that Twilio would reject or a caller should not hear."""
    raw = document.encode() if isinstance(document, str) else document
    found: list[str] = []
    if len(raw) > MAX_BYTES:
        found.append(f"document is {len(raw)} bytes (> {MAX_BYTES})")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        return [*found, f"not XML: {exc}"]
    if root.tag != "Response":
        return [*found, f"root is <{root.tag}>, not <Response>"]
    if root.attrib:
        found.append(f"<Response> takes no attribute: {sorted(root.attrib)}")
    if (root.text or "").strip():
        found.append(f"<Response> takes no text ({root.text.strip()!r})")
    _check_children(root, "Response", found)
    verbs = list(root)
    for index, verb in enumerate(verbs):
        if verb.tag in ("Hangup", "Redirect") and index + 1 < len(verbs):
            found.append(f"<{verbs[index + 1].tag}> after <{verb.tag}> is never reached")
        if verb.tag == "Gather":
            before = [v.tag for v in verbs[:index] if v.tag in ("Say", "Play")]
            if before:
                found.append(f"<{before[-1]}> before <Gather>: a caller cannot barge in on it; "
                             "nest the prompt inside <Gather>")
    return found


def _check_children(element: ET.Element, path: str, found: list[str]) -> None:
    allowed = GRAMMAR.get(element.tag, {})
    for child in element:
        where = f"{path}/{child.tag}"
        if (child.tail or "").strip() and element.tag not in MIXED_TEXT:
            found.append(f"{path}: stray text {child.tail.strip()!r}")
        definition = allowed.get(child.tag)
        if definition is None:
            known = LIBRARY_CHILDREN.get(element.tag, frozenset())
            why = "no rules for it here" if child.tag in known else "Twilio has no such child"
            found.append(f"{where}: <{child.tag}> not allowed in <{element.tag}> ({why}; "
                         f"allowed: {', '.join(sorted(allowed)) or 'nothing'})")
            continue
        _check_element(child, definition, where, found)


def _check_element(element: ET.Element, definition: ElementDef, where: str,
                   found: list[str]) -> None:
    tag = element.tag
    english = tag == "Say" and element.get("language", "").startswith("en")
    for name, value in element.attrib.items():
        name = name.replace(XML_NAMESPACE, "xml:")  # ElementTree's {…}lang: the library's xml:lang
        if name not in definition.attributes:
            found.append(f"{where}: Twilio's <{tag}> has no attribute {name!r}")
            continue
        rule = (ENGLISH_SAY if english else VALUES.get(tag, {})).get(name)
        message = rule(value) if rule else None
        if message:
            found.append(f"{where}@{name}: {message}")
    for name in REQUIRED.get(tag, ()):
        if name not in element.attrib:
            found.append(f"{where}: {name!r} is required")
    text = (element.text or "").strip()
    if definition.has_text:
        if tag == "Say":
            message = spoken("".join(element.itertext()), english)
        elif tag == "Dial" or (tag == "Play" and "digits" in element.attrib):
            message = TEXT_RULES[tag](text) if text else None
        else:
            message = TEXT_RULES[tag](text) if tag in TEXT_RULES else None
        if message:
            found.append(f"{where}: {message}")
    elif text and tag not in MIXED_TEXT:
        found.append(f"{where}: <{tag}> takes no text ({text!r})")
    _check_children(element, where, found)
    if tag == "Gather" and not any(c.tag in ("Say", "Play") for c in element):
        found.append(f"{where}: <Gather> without a prompt inside (no barge-in)")
    if tag == "Dial":
        targets = len(list(element)) + (1 if text else 0)
        if targets != 1:
            found.append(f"{where}: the line dials one number at a time, not {targets}")


def assert_valid(response, label: str = "") -> ET.Element:
    """The response is 200 text/xml TwiML with no problem; its parsed root."""
    body = response.get_data()
    assert response.status_code == 200, (label, response.status_code, body[:300])
    assert response.mimetype == "text/xml", (label, response.mimetype)
    found = problems(body)
    assert not found, f"{label}:\n" + "\n".join(found) + "\n" + body.decode("utf-8", "replace")
    return ET.fromstring(body)


def said(root: ET.Element) -> str:
    """What the caller hears, as written (SSML's written words, not their aliases)."""
    return " ".join(" ".join("".join(e.itertext()).split()) for e in root.iter("Say"))


def numbers(root: ET.Element) -> list[str]:
    """Every number a document dials (Number children, and a Dial's own text)."""
    found = [(n.text or "").strip() for n in root.iter("Number")]
    found += [(d.text or "").strip() for d in root.iter("Dial") if (d.text or "").strip()]
    return found


# --------------------------------------------------------------------------- apps and requests

def make_line_app(**overrides):
    """``create_app`` as production builds it (no background worker), on a migrated in-memory
    database, whatever the environment of the test run says."""
    from ivr import SETTINGS, create_app, migrations

    with pytest.MonkeyPatch.context() as mp:
        for name in SETTINGS:
            mp.delenv(name, raising=False)
        app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "IVR_WORKER": False,
                          "IVR_RELOAD_SECONDS": 0, "SECRET_KEY": "test-secret-key",
                          "IVR_LOOKUP": False,  # no line type asked of Twilio from a test
                          **overrides})
    migrations.upgrade(services(app).store.engine)
    return app


BASE = "http://localhost"
CALL_SID = "CA" + "f" * 32


def twilio_form(**params: str) -> dict[str, str]:
    """The parameters Twilio sends with every voice webhook (see CallSimulator.post)."""
    return {
        "CallSid": CALL_SID, "AccountSid": "AC" + "0" * 32,
        "From": "+15145550123", "To": "+15145550000",
        "Caller": "+15145550123", "Called": "+15145550000",
        "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01",
        **params,
    }


def signed_post(client, path: str, form: dict[str, str] | None = None, *, base: str = BASE,
                token: str | None = None, headers: dict[str, str] | None = None):
    """POST ``path`` (with its query) signed as Twilio signs it for ``base + path``."""
    form = twilio_form() if form is None else form
    token = token or client.application.config["TWILIO_AUTH_TOKEN"]
    signature = sign(base + path, form, token)
    return client.post(path, data=form,
                       headers={"X-Twilio-Signature": signature, **(headers or {})})


# --------------------------------------------------------------------------- every request

DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


def node_requests(config, node_id: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(label, path, extra form) for every webhook a call can make about ``node_id``."""
    node = config.nodes[node_id]
    root = config.line.root
    yield "enter", f"/voice/node/{node_id}?p={root}", {}
    if node.gathers:
        keys = set(node.options)
        if node.sms is not None:
            keys.add(node.sms.key)
        invalid = next(d for d in "0123456789" if d not in keys)
        for key in sorted(keys) + ["#", "*", invalid]:
            yield f"key {key}", f"/voice/input/{node_id}?p={root}", {"Digits": key}
        yield "star at top", f"/voice/input/{node_id}", {"Digits": "*"}
        yield "silence", f"/voice/input/{node_id}?p={root}", {}
        yield "last try", f"/voice/input/{node_id}?p={root}&n={config.line.max_tries - 1}", \
            {"Digits": invalid}
        yield "last silence", f"/voice/input/{node_id}?n={config.line.max_tries - 1}", {}
    if node.type == "route":
        for index, step in enumerate(node.steps):
            if step.kind != "dial":
                continue
            for status in DIAL_STATUSES:
                yield f"dial {index} {status}", f"/voice/dial/{node_id}/{index}?p={root}", {
                    "DialCallStatus": status, "DialCallSid": "CA" + "1" * 32,
                    "DialCallDuration": "42" if status == "completed" else "0"}
    if node.type == "voicemail":
        recording = {"RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/"
                                     "Recordings/RE" + "1" * 32,
                     "RecordingSid": "RE" + "1" * 32, "RecordingDuration": "17", "Digits": "#"}
        yield "recorded", f"/voice/record/{node_id}?p={root}", recording
        yield "nothing recorded", f"/voice/record/{node_id}", {**recording,
                                                              "RecordingDuration": "0"}
        yield "no recording", f"/voice/record/{node_id}", {"Digits": "hangup"}


def line_requests(config) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(label, path, extra form) for the webhooks that belong to no node."""
    yield "incoming", "/voice", {}
    for key in sorted(config.line.shortcuts):
        yield f"shortcut {key}", "/voice/shortcut", {"Digits": key}
    yield "unknown shortcut", "/voice/shortcut", {"Digits": "00"}
    yield "shortcut silence", "/voice/shortcut", {}
