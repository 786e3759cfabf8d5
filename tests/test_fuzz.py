"""Thousands of random calls through the real app: the line never goes dead.

Each example plays one whole call in-process, the way Twilio drives it: signed POSTs made by
``CallSimulator.post`` itself, the TwiML of each answer parsed and followed verb by verb. What
is random: the caller's key stream (keys, silences, garbage ``Digits``), the instant (2024-2035,
America/Toronto), every ``<Dial>`` result, the ``<Record>`` result and its callback, the caller's
number, and where the call starts (``/voice``, any ``/voice/node/<id>``, or Twilio's fallback
URL ``/voice/fallback`` after an error), and in which language: the line runs with English on
(``line.languages: [fr-CA, en-CA]`` in a copy of the shipped config), calls start in French or
in English (``l=en`` in the URL), and key 9 at the French welcome switches. Every call must:

* get 200 + valid TwiML (tests/twiml_rules.py) on every request, 204 or valid TwiML on the
  callbacks; each answer in one language (fr-CA, or the English voice's en-US), the French
  welcome's English offer aside, and in English whenever its URL carries ``l=en``;
* end by a transfer a person answers, a voicemail ``<Record>``, or a goodbye and ``<Hangup>``,
  never silently unless a person answered;
* end within the bound ``Bounds.total`` computed from the config below (and within
  ``Bounds.silent`` requests once the caller stops pressing keys).

Besides the fuzzing, two plain tests walk every node of the config: silence alone ends the call
from each node within that node's bound, and each node can reach a person or a voicemail.

Examples: a few hundred by default (fast); ``IVR_FUZZ_EXAMPLES=10000 .venv/bin/pytest
tests/test_fuzz.py`` for a long run (the variable's value is the number of examples per test).
A failure prints the whole call (URLs, keys, what was said) and an ``ivr call`` command.
"""

from __future__ import annotations

import functools
import itertools
import os
import shlex
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from urllib.parse import urlencode, urlsplit

import pytest
from flask.testing import FlaskClient
from hypothesis import event, given, settings
from hypothesis import strategies as st
from twiml_rules import make_line_app, problems

from ivr import REPO_ROOT
from ivr.config import ENGLISH_OFFER, Config
from ivr.loading import load, load_all
from ivr.schedule import TZ
from ivr.services import services
from ivr.simulator import DIAL_OUTCOMES, CallSimulator

# --------------------------------------------------------------------------- settings

DEFAULT_EXAMPLES = 250  # the whole file then takes ~15 s on two idle cores
FALLBACK_EXAMPLES = 100  # calls that start at Twilio's fallback URL: one entry point of many
LONG_EXAMPLES = 10_000


def long_run_examples() -> int | None:
    """IVR_FUZZ_EXAMPLES=N: N examples per fuzz test (10 000 if the value is not a number)."""
    raw = os.environ.get("IVR_FUZZ_EXAMPLES", "").strip()
    if not raw:
        return None
    return int(raw) if raw.isdigit() and int(raw) > 0 else LONG_EXAMPLES


# deadline=None: a call is 1 to ~100 requests, its time varies with its length, not with a bug.
# print_blob: a failure also prints @reproduce_failure(...) to replay that exact example.
settings.register_profile("ivr-fuzz", max_examples=DEFAULT_EXAMPLES, deadline=None,
                          print_blob=True)
settings.register_profile("ivr-fuzz-fallback", settings.get_profile("ivr-fuzz"),
                          max_examples=FALLBACK_EXAMPLES)
settings.register_profile("ivr-fuzz-long", settings.get_profile("ivr-fuzz"),
                          max_examples=long_run_examples() or LONG_EXAMPLES)
LONG = long_run_examples() is not None
FUZZ = settings.get_profile("ivr-fuzz-long" if LONG else "ivr-fuzz")
FUZZ_FALLBACK = settings.get_profile("ivr-fuzz-long" if LONG else "ivr-fuzz-fallback")

TOKEN = "fuzz-auth-token"
CONFIG = load(REPO_ROOT)  # the shipped config, which the app below serves too
NODE_IDS = tuple(sorted(CONFIG.nodes))
ROOT = CONFIG.line.root
DTMF = frozenset("0123456789*#")
FRENCH, ENGLISH = "fr-CA", "en-US"  # a <Say>'s language: the French voice's, the English one's
LANGUAGE_CODES = ("", "en")  # a call's URL: French (no ``l``), English (``l=en``)
SIDS = itertools.count(1)  # one CallSid per call, as Twilio does


# --------------------------------------------------------------------------- the bound


class Trap(AssertionError):
    """A loop in the config that a silent caller (and failing transfers) would never leave."""


@dataclass(frozen=True)
class Bounds:
    """How many webhook requests a call may take, derived from the config alone.

    ``silent_from[n]``: requests Twilio makes after the answer that enters node ``n``, until the
    call ends, if the caller stays silent and, in the worst case, every transfer fails (a
    transfer that is answered ends the call sooner), at whatever instant (a dial step counts
    both ways: open and dialled, or closed). By node type:

    * menu: ``max_tries`` silences (one request each); the last answer enters the menu's
      fallback, so ``max_tries + silent_from[fallback]``;
    * info: one silence, answered by a goodbye: 1;
    * voicemail: the ``<Record>`` action: 1 (nothing recorded: 0);
    * hangup: 0;
    * route: each dial step is one request (its ``<Dial>`` action) then the next step, or,
      closed, its ``closed`` node or the next step; a ``goto`` costs nothing more than its
      target; after the last step, the line's fallback.

    A cycle in that recursion is a trap (a silent caller would loop for ever): ``Trap``.

    ``dials_from[n]``: likewise, but counting only the ``<Dial>`` requests made before the next
    prompt (a menu or info node), i.e. the transfers one key can set off.

    Any state a call can be in after a request is "node n entered", or a menu with some tries
    already used (fewer requests left than entering it fresh), or the staff-shortcut prompt
    (its silence comes back to the welcome menu with one try used: at most
    ``silent_from[root]``), or an apology that enters a node (errors, Twilio's fallback URL).
    Hence:

    * after the last request that carries one of the caller's key stream entries (or after the
      first request, if none does) at most ``silent = max(silent_from)`` requests follow;
    * each entry of a stream of K entries is carried by at most one prompt's request, and
      between two prompts (and before the first) at most ``dials = max(dials_from)``
      transfers are tried, so a call takes at most ``1 + K * (1 + dials) + silent`` requests.

    The shipped tree: silent = 4 (three silences at a menu, then the voicemail's action), dials
    = 2 (CSI, then CDA), so a call with K entries makes at most 5 + 3K requests, and at most 4
    once the caller stops pressing keys.

    Callbacks outside the conversation (recording status, call status) are not counted.
    """

    max_tries: int
    silent_from: dict[str, int]
    dials_from: dict[str, int]

    @property
    def silent(self) -> int:
        return max(self.silent_from.values())

    @property
    def dials(self) -> int:
        return max(self.dials_from.values())

    def total(self, entries: int) -> int:
        return 1 + entries * (1 + self.dials) + self.silent


def compute_bounds(config: Config) -> Bounds:
    line = config.line

    def longest(node_id: str, count_silence: bool, seen: tuple[str, ...]) -> int:
        if node_id in seen:
            raise Trap(f"loop a silent caller never leaves: {' -> '.join((*seen, node_id))}")
        seen = (*seen, node_id)
        node = config.nodes[node_id]
        if node.type == "route":
            return route(node.steps, 0, count_silence, seen)
        if not count_silence:
            return 0  # a prompt comes (menu, info), or the call ends (voicemail, hangup)
        if node.type == "menu":
            return line.max_tries + longest(node.fallback or line.fallback, True, seen)
        if node.type == "info" and node.silence:  # silence there goes on, once
            return 1 + longest(node.silence, True, seen)
        return 1 if node.type in ("info", "voicemail") else 0

    def route(steps, index: int, count_silence: bool, seen: tuple[str, ...]) -> int:
        if index == len(steps):
            return longest(line.fallback, count_silence, seen)
        step = steps[index]
        if step.kind == "goto":
            return longest(step.target, count_silence, seen)
        rest = route(steps, index + 1, count_silence, seen)
        closed = longest(step.closed, count_silence, seen) if step.closed else rest
        dialled = 1 + rest if config.providers[step.target].phone else rest
        return max(closed, dialled)

    return Bounds(
        max_tries=line.max_tries,
        silent_from={n: longest(n, True, ()) for n in config.nodes},
        dials_from={n: longest(n, False, ()) for n in config.nodes},
    )


@functools.cache
def bounds() -> Bounds:
    """The shipped config's bounds (raises Trap in every test that needs them, if it has one)."""
    return compute_bounds(CONFIG)


# --------------------------------------------------------------------------- the app


SMS_SETTINGS = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "IVR_SMS_FROM": "+15145550000"}


class WatchedClient(FlaskClient):
    """The test client ``CallSimulator.post`` uses, keeping the last response (headers too)."""

    response = None

    def open(self, *args, **kwargs):
        self.response = super().open(*args, **kwargs)
        return self.response


# The offer the French welcome ends with, in the English voice (set by ``line_app``).
_OFFER: list[str] = []


@pytest.fixture(scope="module")
def line_app():
    """ONE app for the whole module, built like production (see make_line_app), serving the
    shipped tree in French and in English.

    Building an app per example would load the config each time (~1 s). The instant a call is
    decided with is the frozen clock IVR_NOW, which ivr/clock.py keeps, parsed, in
    ``services(app).now``: each example sets that (see ``play``) instead of building an
    app with ``make_app(IVR_NOW=...)``. Nothing else about the app changes between examples.
    SMS is configured (nothing is sent: the worker is off) so the text offers are played too.
    """
    folder = REPO_ROOT
    configs = load_all(folder)
    assert list(configs) == ["fr-CA", "en-CA"] and configs["en-CA"].nodes is not None
    _OFFER[:] = [" ".join(configs["en-CA"].prompts[ENGLISH_OFFER].text.split())]
    app = make_line_app(
        IVR_CONFIG_DIR=str(folder),
        TWILIO_AUTH_TOKEN=TOKEN,
        IVR_NOW="2026-12-01T10:00:00-05:00",
        IVR_RELOAD_SECONDS=0,  # no config watcher: the shipped config, the whole time
        **SMS_SETTINGS,
        TWILIO_API_BASE_URL="http://127.0.0.1:9",  # never reached; nothing is sent
        IVR_LOOKUP=False,  # line types unknown: the offers say « si vous appelez d'un cellulaire »
    )
    app.test_client_class = WatchedClient
    return app


# --------------------------------------------------------------------------- one call


@dataclass(frozen=True)
class Recording:
    """What Twilio does with a ``<Record>``."""

    kind: str  # message | empty (duration 0) | no-url (no RecordingUrl) | nothing (no action)
    duration: int = 17
    digits: str = "#"  # how it ended: "#" pressed, or "hangup"
    callback: str = "before"  # recordingStatusCallback: before | after the action, or none


@dataclass(frozen=True)
class Script:
    """Everything random about one call."""

    start: str  # the first URL Twilio requests
    presses: tuple[str | None, ...] = ()  # per prompt: key(s), None = silence, or garbage
    at: datetime = datetime(2026, 12, 1, 10, tzinfo=TZ)
    dials: tuple[str, ...] = ()  # each <Dial>'s result in turn, then ``dial_after``
    dial_after: str = "no-answer"  # the worst case: the line keeps not answering
    recording: Recording = Recording("message")
    caller: str = "+15145550123"
    silence: str = "absent"  # how a silent <Gather> comes back: absent | empty | redirect
    start_params: tuple[tuple[str, str], ...] = ()


@dataclass
class Exchange:
    url: str
    params: dict[str, str]
    status: int
    mimetype: str | None
    body: str
    root: ET.Element | None = None
    problems: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    did: list[str] = field(default_factory=list)  # what the caller/Twilio did next
    carries_key: bool = False  # this request carries an entry of the key stream


@dataclass
class Call:
    script: Script
    exchanges: list[Exchange] = field(default_factory=list)
    callbacks: list[Exchange] = field(default_factory=list)
    end: str = "limit"  # dial | record | hangup | end (document ran out) | error | limit
    answered: bool = False
    recorded: bool = False
    keypad: list[str | None] = field(default_factory=list)  # per prompt, for `ivr call --keys`
    dialled: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> int:
        """Index of the last request that carried a key-stream entry (0: the first request)."""
        return max((i for i, ex in enumerate(self.exchanges) if ex.carries_key), default=0)

    def trace(self) -> str:
        s = self.script
        lines = [f"Call from {s.caller!r} at {s.at.isoformat()} ({s.at:%a}), "
                 f"keys {list(s.presses)!r}, silence={s.silence}, dials {list(s.dials)!r} "
                 f"then {s.dial_after}, recording {s.recording}"]
        for number, ex in enumerate(self.exchanges, 1):
            lines.append(f"  {number:>2}. POST {ex.url}  {ex.params or ''}")
            lines.append(f"      -> {ex.status} {ex.mimetype}")
            lines += [f"      « {text[:110]} »" for text in ex.said]
            lines += [f"      {what}" for what in ex.did]
            lines += [f"      PROBLEM {p}" for p in ex.problems]
            if ex.problems or ex.status != 200:
                lines.append(f"      body: {ex.body[:600]}")
        for ex in self.callbacks:
            lines.append(f"  callback POST {ex.url} -> {ex.status} {ex.body[:200]}")
        lines.append(f"End: {self.end} after {len(self.exchanges)} requests, "
                     f"{len(self.exchanges) - 1 - self.anchor} after the last key")
        lines.append(self.reproduce())
        return "\n".join(lines)

    def reproduce(self) -> str:
        s = self.script
        keys = ",".join("." if k is None else k for k in self.keypad if k != "")
        command = ["ivr", "call", "--at", s.at.isoformat(), "--from", s.caller, "--keys", keys]
        if self.dialled:
            command += ["--dial", ",".join(self.dialled)]
        notes = []
        if s.start != "/voice":
            notes.append(f"ivr call starts at /voice, this call at {s.start}")
        if any(k == "" for k in self.keypad):
            notes.append("garbage Digits cannot be typed")
        if self.recorded and s.recording != Recording("message"):
            notes.append(f"ivr call always records 17 s, here: {s.recording}")
        sms = " ".join(f"{name}={SMS_SETTINGS[name]}" for name in SMS_SETTINGS)  # as line_app
        return f"Reproduce: {sms} {shlex.join(command)}" + \
            (f"  ({'; '.join(notes)})" if notes else "")


def take(presses: deque[str | None], num_digits: int, finish_on_key: str) -> str | None:
    """What one ``<Gather>`` collects: up to ``num_digits`` keys, or one silence (None) or one
    garbage entry, alone. An exhausted stream is silence."""
    if not presses:
        return None
    head = presses[0]
    if head is None or head not in DTMF:
        return presses.popleft()
    keys = ""
    while presses and len(keys) < num_digits and presses[0] is not None and presses[0] in DTMF:
        key = presses.popleft()
        if key in finish_on_key:
            break
        keys += key
    return keys


def speech(verb: ET.Element) -> str:
    return f"[audio {(verb.text or '').strip()}]" if verb.tag == "Play" else \
        " ".join("".join(verb.itertext()).split())  # SSML's written words


def play(app, script: Script, limit: int) -> Call:
    """Play ``script`` through ``app`` until the call ends or ``limit`` requests were made."""
    services(app).now = script.at  # the frozen clock (IVR_NOW), see line_app
    simulator = CallSimulator(app, caller=script.caller)
    simulator.call_sid = f"CA{next(SIDS):032x}"
    call = Call(script)
    presses, dials = deque(script.presses), deque(script.dials)
    later: list[tuple[str, dict[str, str]]] = []  # recording callbacks after the action
    url: str | None = script.start
    params, carries_key = dict(script.start_params), False
    while url is not None and len(call.exchanges) < limit:
        status, body = simulator.post(url, params)
        response = simulator.client.response
        exchange = Exchange(url, params, status, response.mimetype, body,
                            carries_key=carries_key)
        call.exchanges.append(exchange)
        exchange.problems = problems(body) if status == 200 else [f"HTTP {status}"]
        if exchange.problems:
            call.end = "error"
            break
        exchange.root = ET.fromstring(body)
        url, params, carries_key = follow(call, exchange, simulator, presses, dials, later)
    for callback, extra in later:
        call.callbacks.append(post_callback(simulator, callback, extra))
    call.callbacks.append(post_callback(simulator, "/voice/status",
                                        {"CallStatus": "completed", "CallDuration": "60"}))
    return call  # (its journal stays in the spool: the worker is off, as for `ivr call`)


def post_callback(simulator: CallSimulator, url: str, params: dict[str, str]) -> Exchange:
    status, body = simulator.post(url, params)
    exchange = Exchange(url, params, status, simulator.client.response.mimetype, body)
    if status == 200:
        exchange.problems = problems(body)
    elif status != 204 or body.strip():
        exchange.problems = [f"HTTP {status} (a callback answers 204 or TwiML)"]
    return exchange


def follow(call: Call, exchange: Exchange, simulator: CallSimulator,
           presses: deque[str | None], dials: deque[str],
           later: list[tuple[str, dict[str, str]]]) -> tuple[str | None, dict[str, str], bool]:
    """Run the verbs of one answer as Twilio would: the next request (url, form, carries a key)
    or None when the call is over."""
    script = call.script
    redirect_carries_key = False
    assert exchange.root is not None
    for verb in exchange.root:
        if verb.get("method", "POST") != "POST":
            exchange.problems.append(f"<{verb.tag} method={verb.get('method')}>: the line's "
                                     "webhooks take POST only")
        if verb.tag in ("Say", "Play"):
            exchange.said.append(speech(verb))
        elif verb.tag == "Gather":
            exchange.said.extend(speech(child) for child in verb)
            carries_key = bool(presses)
            garbage = carries_key and presses[0] is not None and presses[0] not in DTMF
            got = take(presses, int(verb.get("numDigits", "1")), verb.get("finishOnKey", "#"))
            call.keypad.append("" if garbage else got or None)
            if got:
                exchange.did.append(f"keys {got!r}")
                return verb.get("action", ""), {"Digits": got}, carries_key
            exchange.did.append(f"silence ({script.silence})")
            if verb.get("actionOnEmptyResult") == "true" and script.silence != "redirect":
                form = {"Digits": ""} if script.silence == "empty" else {}
                return verb.get("action", ""), form, carries_key
            # Twilio goes on with the next verb (the line's <Redirect>), with this silence.
            redirect_carries_key = carries_key
        elif verb.tag == "Dial":
            number = verb.find("Number")
            outcome = dials.popleft() if dials else script.dial_after
            call.dialled.append(outcome)
            call.answered = call.answered or outcome == "completed"
            target = (number.text or "").strip() if number is not None else (verb.text or "")
            digits = number.get("sendDigits") if number is not None else None
            exchange.did.append(f"dial {target}" + (f" then {digits}" if digits else "") +
                                f" -> {outcome}")
            if verb.get("action"):
                return verb.get("action", ""), {
                    "DialCallStatus": outcome,
                    "DialCallSid": f"CA{next(SIDS):032x}",
                    "DialCallDuration": "42" if outcome == "completed" else "0",
                }, False
        elif verb.tag == "Record":
            call.recorded = True
            recording = script.recording
            exchange.did.append(f"record: {recording}")
            if recording.kind == "nothing":
                continue  # Twilio requests no action after an empty recording: next verb
            sid = f"RE{next(SIDS):032x}"
            form = {"RecordingSid": sid, "RecordingDuration": str(recording.duration),
                    "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/"
                                    f"Recordings/{sid}",
                    "Digits": recording.digits}
            if recording.kind == "empty":
                form["RecordingDuration"] = "0"
            elif recording.kind == "no-url":
                form = {"Digits": recording.digits}
            callback = verb.get("recordingStatusCallback")
            if callback and recording.callback != "none" and "RecordingUrl" in form:
                status = {**form, "RecordingStatus": "completed"}
                if recording.callback == "before":
                    call.callbacks.append(post_callback(simulator, callback, status))
                else:
                    later.append((callback, status))
            if verb.get("action"):
                return verb.get("action", ""), form, False
        elif verb.tag == "Redirect":
            exchange.did.append("redirect")
            return (verb.text or "").strip(), {}, redirect_carries_key
        elif verb.tag == "Hangup":
            call.end = "hangup"
            exchange.did.append("hangup")
            return None, {}, False
    call.end = "end"
    return None, {}, False


# --------------------------------------------------------------------------- the properties


def check(call: Call, entries: int) -> None:
    """Every property of one call; a failure shows the whole call."""

    def require(ok: bool, message: str) -> None:
        if not ok:
            raise AssertionError(f"{message}\n{call.trace()}")

    for number, ex in enumerate(call.exchanges, 1):
        where = f"request {number} (POST {ex.url})"
        require(ex.status == 200, f"{where}: HTTP {ex.status}, the caller hears Twilio's error")
        require(ex.mimetype == "text/xml", f"{where}: content type {ex.mimetype}")
        require(not ex.problems, f"{where}: invalid TwiML")
        assert ex.root is not None
        said: dict[str, list[str]] = {FRENCH: [], ENGLISH: []}
        for element in ex.root.iter():
            if element.tag in ("Say", "Gather") and "language" in element.attrib:
                require(element.get("language") in said,
                        f"{where}: <{element.tag} language={element.get('language')}>")
            if element.tag == "Say":
                require(element.get("language") in said, f"{where}: <Say> not in fr-CA/en-US")
                said[element.get("language", "")].append(speech(element))
        if language_of(ex.url) == "en":
            require(not said[FRENCH], f"{where}: French speech in a call in English")
        if said[FRENCH]:
            require(all(text == _OFFER[0] for text in said[ENGLISH]),
                    f"{where}: English speech in French (other than the offer of key 9)")
    limits = bounds()
    for ex in call.callbacks:
        require(not ex.problems, f"callback POST {ex.url}: {ex.problems}")
    require(call.end in ("hangup", "end"), f"the call did not end ({call.end}) within "
                                           f"{limits.total(entries)} requests")
    if not call.answered:
        final = call.exchanges[-1]
        require(bool(final.said), "the call ends without a word (no person answered)")
    requests, after = len(call.exchanges), len(call.exchanges) - 1 - call.anchor
    require(requests <= limits.total(entries),
            f"{requests} requests > bound 1 + K(1 + dials) + silent = {limits.total(entries)}")
    require(after <= limits.silent,
            f"{after} requests after the caller's last key > bound {limits.silent}")


def language_of(url: str) -> str:
    """The language code a webhook URL carries (``l=en``), "" for French."""
    from urllib.parse import parse_qs

    return parse_qs(urlsplit(url).query).get("l", [""])[0]


def tally(call: Call) -> None:
    """What the calls did, for ``pytest --hypothesis-show-statistics``."""
    event("language: " + ("English" if any(language_of(ex.url) == "en"
                                            for ex in call.exchanges) else "French only"))
    event("end: " + ("person" if call.answered else "voicemail" if call.recorded else "goodbye"))
    event(f"requests: {min(len(call.exchanges), 10)}{'+' if len(call.exchanges) >= 10 else ''}")
    if call.dialled:
        event("a transfer was tried")
    if any("par texto" in text for ex in call.exchanges for text in ex.said):
        event("a text message was offered")


# --------------------------------------------------------------------------- strategies

GARBAGE = st.one_of(  # Digits no keypad sends into a one-key prompt
    st.sampled_from(["a", "é", " ", "٣", "\x00", "12", "1#", "**", "0" * 80, "<Hangup/>",
                     "&amp;", "hangup", "None", "1\n2"]),
    st.text(min_size=2, max_size=6),
)
PRESS = {
    "menu choice": st.sampled_from("1212345"),  # every menu has 1 and 2: calls go deep
    "any key": st.sampled_from(sorted(DTMF)),
    "silence": st.none(),
    "garbage": GARBAGE,
    "english": st.just("9"),  # key 9 at the French welcome: the call goes on in English
}
# Mostly keys, so calls get somewhere; a silence or garbage about one entry in five. Any length
# up to 30 equally likely (st.lists alone favours short lists, which stop at the first menus).
ONE_PRESS = st.sampled_from(["menu choice"] * 5 + ["any key"] * 3 +
                            ["silence", "garbage", "english"]) \
    .flatmap(PRESS.__getitem__)
PRESSES = st.integers(0, 30).flatmap(lambda n: st.lists(ONE_PRESS, min_size=n, max_size=n))

EDGES = [time(h, m) for h, m in ((0, 0), (6, 59), (7, 0), (7, 59), (8, 0), (11, 59), (12, 0),
                                 (15, 59), (16, 0), (16, 59), (17, 0), (17, 59), (18, 0),
                                 (23, 59))]
INSTANTS = st.one_of(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2035, 12, 31, 23, 59, 59),
                 timezones=st.just(TZ), allow_imaginary=False),
    # the minutes when teams open and close, any day (holidays included)
    st.builds(lambda day, at: datetime.combine(day, at, TZ),
              st.dates(date(2024, 1, 1), date(2035, 12, 31)), st.sampled_from(EDGES)),
)
DIALS = st.lists(st.sampled_from(DIAL_OUTCOMES), max_size=4)
RECORDINGS = st.one_of(
    st.builds(Recording, st.just("message"), st.integers(1, 180),
              st.sampled_from(["#", "hangup"]), st.sampled_from(["before", "after", "none"])),
    st.builds(Recording, st.sampled_from(["empty", "no-url", "nothing"]),
              digits=st.sampled_from(["#", "hangup"])),
)
NANP = st.builds(lambda area, exchange, number: f"+1{area}{exchange}{number:04d}",
                 st.sampled_from(["514", "438", "450", "418", "819", "613", "416", "212"]),
                 st.integers(200, 999), st.integers(0, 9999))
CALLERS = st.one_of(
    NANP,
    st.sampled_from(["anonymous", "Anonymous", "+266696687", "restricted", ""]),
    st.sampled_from(["+33142685300", "+442079460000", "+5215555555555", "+4915112345678",
                     "client:alice", "sip:bob@example.org", "0123", "+1", "+1514"]),
)
SILENCE = st.sampled_from(["absent", "empty", "redirect"])


def webhook_url(kind: str, node_id: str, path: list[str], extra: int,
                tries: str | None = None, language: str = "") -> str:
    """One of the line's webhook URLs, with the call state (menus behind, tries, language) it
    carries."""
    query = {"p": ".".join(path)} if path else {}
    if tries is not None:
        query["n"] = tries
    if language:
        query["l"] = language
    query_string = f"?{urlencode(query)}" if query else ""
    return {
        "voice": "/voice",
        "node": f"/voice/node/{node_id}{query_string}",
        "input": f"/voice/input/{node_id}{query_string}",
        "dial": f"/voice/dial/{node_id}/{extra}{query_string}",
        "record": f"/voice/record/{node_id}{query_string}",
        "recording": f"/voice/recording/{node_id}{query_string}",
        "shortcut": "/voice/shortcut",
        "status": "/voice/status",
        "fallback": "/voice/fallback",
    }[kind]


ANY_NODE = st.sampled_from([*NODE_IDS, "inconnu"])  # also a node a config reload removed
PATHS = st.lists(st.sampled_from(NODE_IDS), max_size=4)
TRIES = st.none() | st.integers(0, CONFIG.line.max_tries).map(str) | \
    st.sampled_from(["-1", "99", "x", ""])  # and URLs someone tampered with
# French or English, and now and then a code the line does not serve (heard in French)
URL_LANGUAGES = st.sampled_from([*LANGUAGE_CODES * 4, "fr", "zz", "EN", "en" * 40])
STARTS = st.one_of(
    st.just("/voice"),
    st.builds(webhook_url, st.just("node"), ANY_NODE, PATHS, st.just(0), TRIES,
              URL_LANGUAGES),
    # a transfer: random keys seldom get that far, and dial results are worth shaking
    st.builds(webhook_url, st.just("node"),
              st.sampled_from([n for n in NODE_IDS if CONFIG.nodes[n].type == "route"]),
              PATHS, st.just(0), TRIES, URL_LANGUAGES),
    # a request of a call already under way (say, across a config change), with no key and
    # no result: a silence, a transfer that ended without a status, a recording without one
    st.builds(webhook_url, st.sampled_from(["input", "dial", "shortcut", "record"]), ANY_NODE,
              PATHS, st.integers(0, 3), TRIES, URL_LANGUAGES),
)
ERROR_URLS = st.one_of(
    st.builds(lambda path: "http://localhost" + path, st.builds(
        webhook_url,
        st.sampled_from(["voice", "node", "input", "dial", "record", "recording", "shortcut",
                         "status", "fallback"]),
        ANY_NODE, PATHS, st.integers(0, 3), TRIES, URL_LANGUAGES,
    )),
    st.sampled_from(["", "pas une URL", "https://autre.example.org/voice/input/personnel",
                     "http://localhost/voice/input/", "http://localhost/"]),
)


# --------------------------------------------------------------------------- fuzz tests


def test_the_config_has_no_trap_and_small_bounds():
    """No loop a silent caller never leaves (compute_bounds raises Trap), and the bounds of the
    shipped tree: a menu is max_tries silences then the voicemail's <Record> action, the
    longest chain of transfers one key sets off is CSI then CDA."""
    found = bounds()
    line = CONFIG.line
    assert found.silent == line.max_tries + found.silent_from[line.fallback], found
    assert found.silent_from[line.root] == found.silent
    assert found.dials == 2, found


def test_each_example_decides_with_its_own_instant(line_app):
    """The per-example clock (``services(app).now``) is the one the line decides with:
    the urgent line dials the CSI on a weekday morning and the CDA at night."""
    numbers = {}
    for label in ("tuesday-10h", "tuesday-19h30"):
        call = play(line_app, Script("/voice/node/urgence_ti", at=WALK_INSTANTS[label],
                                     dial_after="completed"), limit=3)
        numbers[label] = ET.fromstring(call.exchanges[0].body).findtext("Dial/Number")
    assert numbers == {"tuesday-10h": "+15142514000", "tuesday-19h30": "+15142513050"}


def test_a_loop_in_the_config_is_found():
    """compute_bounds itself: a menu whose fallback is itself traps a silent caller."""
    root = CONFIG.nodes[ROOT]
    looped = replace(CONFIG, nodes={**CONFIG.nodes, ROOT: replace(root, fallback=ROOT)})
    with pytest.raises(Trap, match=f"{ROOT} -> {ROOT}"):
        compute_bounds(looped)


@FUZZ
@given(start=STARTS, presses=PRESSES, at=INSTANTS, dials=DIALS, recording=RECORDINGS,
       caller=CALLERS, silence=SILENCE)
def test_random_calls_never_go_dead(line_app, start, presses, at, dials, recording, caller,
                                    silence):
    script = Script(start, tuple(presses), at, tuple(dials), recording=recording, caller=caller,
                    silence=silence)
    call = play(line_app, script, bounds().total(len(presses)) + 1)
    check(call, len(presses))
    tally(call)


@FUZZ_FALLBACK
@given(error_url=ERROR_URLS, code=st.sampled_from(["11200", "11205", "12100", "12300"]),
       presses=PRESSES, at=INSTANTS, dials=DIALS, recording=RECORDINGS, caller=CALLERS,
       silence=SILENCE)
def fuzz_fallback(line_app, error_url, code, presses, at, dials, recording, caller, silence):
    script = Script("/voice/fallback", tuple(presses), at, tuple(dials), recording=recording,
                    caller=caller, silence=silence,
                    start_params=(("ErrorCode", code), ("ErrorUrl", error_url)))
    call = play(line_app, script, bounds().total(len(presses)) + 1)
    check(call, len(presses))
    tally(call)


def test_calls_after_twilio_falls_back_never_go_dead(line_app):
    """Twilio's fallback URL (our answer failed or was late): the call goes on and ends."""
    probe = CallSimulator(line_app)
    status, _ = probe.post("/voice/fallback", {"ErrorCode": "11200",
                                               "ErrorUrl": "http://localhost/voice"})
    if status == 404:
        pytest.skip("POST /voice/fallback not built yet")
    fuzz_fallback(line_app)


# --------------------------------------------------------------------------- every node

WALK_INSTANTS = {
    "tuesday-10h": datetime(2026, 12, 1, 10, tzinfo=TZ),  # every team open
    "tuesday-17h30": datetime(2026, 12, 1, 17, 30, tzinfo=TZ),  # CSI closed, CSSNS open
    "tuesday-19h30": datetime(2026, 12, 1, 19, 30, tzinfo=TZ),  # all closed, CDA on call
    "sunday-3h": datetime(2026, 12, 6, 3, tzinfo=TZ),
    "christmas": datetime(2026, 12, 25, 10, tzinfo=TZ),
}


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_silence_alone_ends_the_call_from_every_node(line_app, node_id):
    """From each node, a silent caller's call ends within 1 + Bounds.silent_from[node] requests,
    at any of the instants, whatever each transfer's result."""
    bound = 1 + bounds().silent_from[node_id]
    for at in WALK_INSTANTS.values():
        for outcome in DIAL_OUTCOMES:
            script = Script(f"/voice/node/{node_id}", at=at, dial_after=outcome)
            call = play(line_app, script, bound + 1)
            check(call, 0)
            assert len(call.exchanges) <= bound, call.trace()
            if not call.dialled:
                break  # no transfer on the way: the other results change nothing


def keys_worth_trying(gather: ET.Element) -> list[str | None]:
    """At a menu: its options (and text offer), back, one wrong key and silence; at the staff
    shortcut prompt: each shortcut, a wrong one and silence. (Fewer branches than every key;
    a path found among them is still a path.)"""
    if gather.get("numDigits") == "2":
        return [*sorted(CONFIG.line.shortcuts), "00", None]
    node = CONFIG.nodes.get(urlsplit(gather.get("action", "")).path.rsplit("/", 1)[-1])
    keys = [*sorted(node.options), *([node.sms.key] if node.sms else [])] if node else []
    wrong = next(d for d in "0123456789" if d not in keys)
    return [*keys, "*", wrong, None]


def path_to_person_or_voicemail(app, start: str, at: datetime, depth: int) -> list[str] | None:
    """Keys (breadth first, at most ``depth`` requests) that take a call from ``start`` to a
    ``<Dial>`` or a ``<Record>``; None if there are none."""
    services(app).now = at
    simulator = CallSimulator(app)
    frontier: list[tuple[list[str], str, dict[str, str]]] = [([], start, {})]
    seen: set[tuple[str, str | None]] = set()
    for _ in range(depth):
        following = []
        for keys, url, form in frontier:
            if (url, form.get("Digits")) in seen:
                continue
            seen.add((url, form.get("Digits")))
            status, body = simulator.post(url, form)
            assert status == 200 and not problems(body), (url, form, status, body)
            root = ET.fromstring(body)
            if root.find("Dial") is not None or root.find("Record") is not None:
                return keys
            gather = root.find("Gather")
            if gather is not None:
                following += [([*keys, key or "."], gather.get("action", ""),
                               {"Digits": key} if key else {})
                              for key in keys_worth_trying(gather)]
        frontier = following
    return None


@pytest.mark.parametrize("at", ["tuesday-10h", "tuesday-19h30"])
def test_every_node_can_reach_a_person_or_a_voicemail(line_app, at):
    """Through the app: from each node, some keys lead to a transfer or a voicemail."""
    stuck = [node_id for node_id in NODE_IDS
             if path_to_person_or_voicemail(line_app, f"/voice/node/{node_id}",
                                            WALK_INSTANTS[at], depth=5) is None]
    assert not stuck, f"no person and no voicemail within 5 requests from {stuck}"
