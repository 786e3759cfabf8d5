"""Plays a call through the real app, the way Twilio would drive it: signed POSTs to the app's
own webhooks, the TwiML followed verb by verb (``ivr call``, ``ivr effort``, the tests, the
console). ``CallSimulator.play()`` answers every wait from a script; the console answers one move
per web request, ``CallSession.state()`` travelling through the browser in between (no secret:
each request is signed again here).
"""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
import wave
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask

from ivr.clock import REQUEST_INSTANT
from ivr.effects import SIMULATED
from ivr.flow import DTMF
from ivr.security import sign
from ivr.services import services
from ivr.speech import heard_seconds, seconds, words

DIAL_OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled")
WAITING_KINDS = ("keys", "dial", "record")
RECORDING_SID = "RE" + "1" * 32


@dataclass
class Dialled:
    number: str
    send_digits: str | None
    outcome: str


@dataclass(frozen=True)
class Said:
    """One thing the caller hears: synthetic text, or a recorded file (``audio``, its URL)."""

    text: str
    audio: str | None = None
    language: str | None = None  # the <Say>'s language attribute: which voice said it


@dataclass
class Exchange:
    """One webhook request and what the caller heard and did in answer to it."""

    url: str
    status: int
    said: list[str] = field(default_factory=list)  # recorded files as "[audio URL]"
    pressed: str | None = None  # keys sent to the next request; "" = silence
    dialled: Dialled | None = None
    recorded: bool = False
    hung_up: bool = False
    speech: list[Said] = field(default_factory=list)
    seconds: float = 0.0  # of speech before the caller could answer (ivr.speech's count)


@dataclass
class CallResult:
    kind: str  # dial | record | hangup | end | limit | error
    exchanges: list[Exchange]
    call_sid: str

    @property
    def says(self) -> list[str]:
        return [text for ex in self.exchanges for text in ex.said]

    @property
    def heard(self) -> str:
        return " ".join(self.says)

    @property
    def dials(self) -> list[Dialled]:
        return [ex.dialled for ex in self.exchanges if ex.dialled]

    @property
    def seconds(self) -> float:
        """Until the first transfer or beep (``ivr effort``'s count)."""
        total = 0.0
        for exchange in self.exchanges:
            total += exchange.seconds
            if exchange.dialled or exchange.recorded:
                break
        return round(total, 1)

    def to_dict(self) -> dict:
        first = self.dials[0] if self.dials else None
        digits = first.send_digits if first else None
        return {"kind": self.kind, "call_sid": self.call_sid,
                "dial": first.number if first else None,
                "send_digits": digits.replace("w", "") if digits else None,
                "dials": [d.number for d in self.dials], "says": self.says, "seconds": self.seconds,
                "exchanges": [{k: v for k, v in asdict(ex).items() if k != "speech"}
                              for ex in self.exchanges]}


@dataclass
class Awaiting:
    """How one TwiML document ends: a verb that waits (``WAITING_KINDS``), or where the call
    goes on its own (redirect, hangup, end). ``url`` and ``params``: the next request, to which
    the answer adds its own parameters; ``otherwise``: where Twilio goes when the verb posts
    nothing (the ``<Redirect>`` after it; None: the call ends)."""

    kind: str  # keys | dial | record | redirect | hangup | end
    url: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    num_digits: int = 1
    finish_on_key: str = ""
    timeout: int | None = None
    on_empty: bool = False  # <Gather actionOnEmptyResult>: silence is posted to url too
    otherwise: str | None = None
    callback: str | None = None  # <Record recordingStatusCallback>
    number: str | None = None  # <Dial><Number>
    send_digits: str | None = None


@dataclass(frozen=True)
class Choice:
    kind: str  # keys | silence | dial | record | hangup
    value: str = ""  # the keys, or the dial's result


@dataclass(frozen=True)
class Move:
    """One move of the caller: the verb it answered (in ``exchanges[exchange]``), and how."""

    exchange: int
    awaiting: Awaiting
    choice: Choice


class Keypad:
    """The caller's keys: ',' waits for the next prompt, '.' stays silent through one prompt."""

    def __init__(self, keys: str) -> None:
        keys = "".join(keys.split())
        self.segments = deque(keys.split(",")) if keys else deque()
        self.pending: deque[str] = deque()

    def press(self, num_digits: int, finish_on_key: str = "") -> str:
        """Keys typed into a ``<Gather>``; "" when the caller stays silent."""
        if not self.pending and self.segments:
            self.pending.extend(self.segments.popleft())
        if self.pending and self.pending[0] == ".":
            self.pending.popleft()
            return ""
        keys = ""
        while self.pending and len(keys) < num_digits and self.pending[0] != ".":
            key = self.pending.popleft()
            if key in finish_on_key:
                break
            keys += key
        return keys


class SessionError(ValueError):
    """A move the call cannot take now. ``reason``: "over" (the call has ended), "unexpected"
    (it awaits another move) or "invalid" (the move's value: keys, dial result, state)."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(eq=False)
class CallSimulator:
    """Signs and posts the webhooks of one call (``call_sid``) and reads Twilio's verbs.

    ``instant`` and ``simulated`` go to each request's WSGI environ (``ivr.clock``,
    ``ivr.effects``): the console plays a call at a chosen time that leaves no journal,
    voicemail or text. ``server``: a running line's URL to post to over HTTP instead (``ivr call
    --server``), signed with ``token``.
    """

    app: Flask
    _: KW_ONLY
    caller: str = "+15145550123"
    called: str = "+15145550000"
    dial_outcomes: Iterable[str] = ()
    max_requests: int = 60
    instant: datetime | None = None
    simulated: bool = False
    server: str | None = None
    token: str | None = None

    def __post_init__(self) -> None:
        self.client = self.app.test_client()
        self.outcomes = deque(self.dial_outcomes)
        self.token = self.token or self.app.config["TWILIO_AUTH_TOKEN"]
        self.call_sid = "CA" + secrets.token_hex(16)
        public = urlsplit(self.server or self.app.config.get("IVR_PUBLIC_URL")
                          or "http://localhost")
        self.origin = f"{public.scheme}://{public.netloc}"
        self.prefix = public.path.rstrip("/")  # the app served under a path of the public host

    def play(self, keys: str = "") -> CallResult:
        return CallSession(self, Keypad(keys)).start().result()

    def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        path = _path(url)
        if self.prefix and not path.startswith(self.prefix + "/"):
            path = self.prefix + path
        form = {"CallSid": self.call_sid, "AccountSid": "AC" + "0" * 32, "From": self.caller,
                "To": self.called, "Caller": self.caller, "Called": self.called,
                "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01",
                **params}
        headers = {"X-Twilio-Signature": sign(self.origin + path, form, self.token)}
        if self.server:
            request = urllib.request.Request(self.origin + path, data=urlencode(form).encode(),
                                             method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode(errors="replace")
        environ: dict[str, Any] = {}
        if self.instant is not None:
            environ[REQUEST_INSTANT] = self.instant
        if self.simulated:
            environ[SIMULATED] = True
        response = self.client.post(path, data=form, headers=headers,
                                    environ_overrides=environ or None)
        return response.status_code, response.get_data(as_text=True)

    def local(self, url: str | None) -> str | None:
        """``url`` as a path on the app: no origin, no public URL's path (``post`` adds both)."""
        if not url:
            return url
        path = _path(url)
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            path = path[len(self.prefix):]
        return path

    def _follow(self, root: ET.Element, exchange: Exchange,
                session: CallSession) -> tuple[str | None, dict[str, str]]:
        """Run the verbs of one TwiML document: the next request, or (None, {}) when the call
        ends or waits for a move (``session.choose`` answered None)."""
        awaiting = self._read(root, exchange)
        if awaiting.kind == "redirect":
            return awaiting.url, {}
        if awaiting.kind == "hangup":
            exchange.hung_up = True
        choice = session.choose(awaiting) if awaiting.kind in WAITING_KINDS else None
        if choice is None:
            return None, {}
        return self._answer(awaiting, exchange, choice)

    def _read(self, root: ET.Element, exchange: Exchange) -> Awaiting:
        """What the caller hears in one document, and the verb it ends on."""
        verbs = list(root)
        for index, verb in enumerate(verbs):
            after = _redirect_after(verbs[index + 1:])
            if verb.tag in ("Say", "Play", "Pause"):
                self._hear(exchange, verb)
            elif verb.tag == "Gather":
                for child in verb:
                    self._hear(exchange, child)
                timeout = verb.get("timeout", "")
                return Awaiting(
                    "keys", verb.get("action", ""),
                    num_digits=int(verb.get("numDigits", "1") or 1),
                    finish_on_key=verb.get("finishOnKey", "#"),
                    timeout=int(timeout) if timeout.isdigit() else None,
                    on_empty=verb.get("actionOnEmptyResult") == "true",
                    otherwise=after,
                )
            elif verb.tag == "Dial":
                number = verb.find("Number")
                return Awaiting(
                    "dial", verb.get("action") or None, otherwise=after,
                    number=(number.text or "").strip() if number is not None
                    else (verb.text or "").strip(),
                    send_digits=number.get("sendDigits") if number is not None else None,
                )
            elif verb.tag == "Record":
                return Awaiting("record", verb.get("action") or None, otherwise=after,
                                callback=verb.get("recordingStatusCallback") or None)
            elif verb.tag == "Redirect":
                return Awaiting("redirect", (verb.text or "").strip())
            elif verb.tag == "Hangup":
                return Awaiting("hangup")
        return Awaiting("end")

    def _hear(self, exchange: Exchange, verb: ET.Element) -> None:
        """What the caller hears of one verb, as written, and for how long."""
        if verb.tag == "Pause":
            exchange.seconds += heard_seconds(verb)
            return
        if verb.tag == "Play":
            audio = (verb.text or "").strip()
            exchange.speech.append(Said("", audio))
            exchange.said.append(f"[audio {audio}]")
            exchange.seconds += self._recording_seconds(audio)
            return
        text = " ".join("".join(verb.itertext()).split())
        exchange.speech.append(Said(text, language=verb.get("language")))
        exchange.said.append(text)
        exchange.seconds += heard_seconds(verb)

    def _recording_seconds(self, url: str) -> float:
        """A recorded prompt lasts as long as its file (WAV), or as its text would take."""
        config = services(self.app).line.config
        path = config.directory / "prompts" / "audio" / urlsplit(url).path.rsplit("/audio/")[-1]
        if path.suffix == ".wav":
            try:
                with wave.open(str(path)) as audio:
                    return audio.getnframes() / float(audio.getframerate())
            except (OSError, EOFError, wave.Error):
                pass
        prompt = config.prompts.get(path.stem)
        return seconds(words(config.lexicon.spoken(prompt.text)), config.language) \
            if prompt is not None else 0.0

    def _answer(self, awaiting: Awaiting, exchange: Exchange,
                choice: Choice) -> tuple[str | None, dict[str, str]]:
        """What Twilio does with the caller's answer: the next request, if any."""
        base = dict(awaiting.params)
        if choice.kind == "keys":
            exchange.pressed = choice.value
            return awaiting.url, {**base, "Digits": choice.value}
        if choice.kind == "silence":
            exchange.pressed = ""
            return (awaiting.url, base) if awaiting.on_empty else (awaiting.otherwise, {})
        if choice.kind == "dial":
            exchange.dialled = Dialled(awaiting.number or "", awaiting.send_digits, choice.value)
            answer = {"DialCallStatus": choice.value, "DialCallSid": "CA" + secrets.token_hex(16),
                      "DialCallDuration": "42" if choice.value == "completed" else "0"}
        elif choice.kind == "record":
            exchange.recorded = True
            answer = {"RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/"
                                      + RECORDING_SID,
                      "RecordingSid": RECORDING_SID, "RecordingDuration": "17", "Digits": "#"}
            if awaiting.callback:
                self.post(awaiting.callback, {**answer, "RecordingStatus": "completed"})
        else:  # the caller hangs up instead (at the beep: nothing recorded, no request)
            exchange.hung_up = True
            return None, {}
        return (awaiting.url, {**base, **answer}) if awaiting.url else (awaiting.otherwise, {})


def _redirect_after(verbs: list[ET.Element]) -> str | None:
    """Where Twilio goes after a verb that posts nothing: the next ``<Redirect>``, if any."""
    for verb in verbs:
        if verb.tag == "Redirect":
            return (verb.text or "").strip()
        if verb.tag not in ("Say", "Play", "Pause"):
            return None
    return None


class CallSession:
    """One call, from ``start()`` to its end, one move at a time.

    With a ``keypad`` (``play()``: its keys, the simulator's dial outcomes, a message at each
    beep) every wait is answered at once and ``start()`` runs the whole call. Without one, the
    session stops at each wait (``awaiting``) until ``press``, ``silence``, ``dial_result``,
    ``record`` or ``hang_up``; ``state()``/``restore()`` carry it between two web requests.
    """

    def __init__(self, simulator: CallSimulator, keypad: Keypad | None = None) -> None:
        self.simulator = simulator
        self.keypad = keypad
        self.awaiting: Awaiting | None = None
        self.exchanges: list[Exchange] = []
        self.answers: list[Move] = []
        self.kind: str | None = None  # set when the call is over
        self.transfer: Awaiting | None = None  # the <Dial> someone answered
        self.voicemail: Awaiting | None = None  # the <Record> that took a message

    @property
    def call_sid(self) -> str:
        return self.simulator.call_sid

    @property
    def ended(self) -> bool:
        return self.kind is not None

    def start(self) -> CallSession:
        if self.exchanges or self.awaiting is not None or self.ended:
            raise SessionError("the call has already started", "unexpected")
        self._go("/voice", {})
        return self

    def press(self, keys: str) -> CallSession:
        awaiting = self._expect("keys")
        if not keys or len(keys) > awaiting.num_digits or not set(keys) <= DTMF:
            raise SessionError(f"keys {keys!r}: 1 to {awaiting.num_digits} of 0-9, * and #")
        return self._move(Choice("keys", keys))

    def silence(self) -> CallSession:
        self._expect("keys")
        return self._move(Choice("silence"))

    def dial_result(self, status: str) -> CallSession:
        self._expect("dial")
        if status not in DIAL_OUTCOMES:
            raise SessionError(f"dial result {status!r}: one of {', '.join(DIAL_OUTCOMES)}")
        return self._move(Choice("dial", status))

    def record(self, message: bool) -> CallSession:
        """At the beep: leave a message, or hang up without one."""
        self._expect("record")
        return self._move(Choice("record" if message else "hangup"))

    def hang_up(self) -> CallSession:
        """The caller hangs up, whatever the call was waiting for."""
        if self.ended:
            raise SessionError("the call is over", "over")
        awaiting, self.awaiting = self.awaiting, None
        self._current().hung_up = True
        if awaiting is not None:
            self._chose(awaiting, Choice("hangup"))
        self._end("hangup")
        return self

    def state(self) -> dict[str, Any] | None:
        """The waiting call, for the browser to send back with the next move (None: over)."""
        if self.ended or self.awaiting is None:
            return None
        local, awaiting = self.simulator.local, self.awaiting
        details = {k: v for k, v in asdict(awaiting).items() if k not in ("url", "params")}
        details.update(otherwise=local(awaiting.otherwise), callback=local(awaiting.callback))
        return {"call_sid": self.call_sid, "url": local(awaiting.url),
                "params": dict(awaiting.params), "awaiting": details}

    @classmethod
    def restore(cls, simulator: CallSimulator, state: Mapping[str, Any]) -> CallSession:
        """A session waiting where ``state()`` left it (the caller checks ``state`` first)."""
        simulator.call_sid = state["call_sid"]
        session = cls(simulator)
        session.awaiting = Awaiting(url=state["url"], params=dict(state.get("params") or {}),
                                    **state["awaiting"])
        if session.awaiting.kind not in WAITING_KINDS:
            raise SessionError(f"nothing to answer in a {session.awaiting.kind!r} state")
        return session

    def result(self) -> CallResult:
        return CallResult(self.kind or "limit", self.exchanges, self.call_sid)

    def choose(self, awaiting: Awaiting) -> Choice | None:
        """``_follow`` asks at each verb that waits: the keypad's answer, or wait here."""
        if self.keypad is None:
            self.awaiting = awaiting
            return None
        outcomes = self.simulator.outcomes
        if awaiting.kind == "dial":
            choice = Choice("dial", outcomes.popleft() if outcomes else "completed")
        elif awaiting.kind == "record":
            choice = Choice("record")
        else:
            keys = self.keypad.press(awaiting.num_digits, awaiting.finish_on_key)
            choice = Choice("keys", keys) if keys else Choice("silence")
        self._chose(awaiting, choice)
        return choice

    def _chose(self, awaiting: Awaiting, choice: Choice) -> None:
        """Note the answer, against the exchange whose verb it answers."""
        self.answers.append(Move(len(self.exchanges) - 1, awaiting, choice))
        if choice.kind == "dial" and choice.value == "completed":
            self.transfer = awaiting
        elif choice.kind == "record":
            self.voicemail = awaiting

    def _expect(self, kind: str) -> Awaiting:
        if self.ended:
            raise SessionError("the call is over", "over")
        if self.awaiting is None or self.awaiting.kind != kind:
            waiting = self.awaiting.kind if self.awaiting else "nothing"
            raise SessionError(f"the call awaits {waiting}, not {kind}", "unexpected")
        return self.awaiting

    def _current(self) -> Exchange:
        """The exchange the waiting verb came in; a stand-in after ``restore()``."""
        if not self.exchanges:
            self.exchanges.append(Exchange(url="", status=200))
        return self.exchanges[-1]

    def _move(self, choice: Choice) -> CallSession:
        awaiting, self.awaiting = self.awaiting, None
        assert awaiting is not None
        exchange = self._current()
        self._chose(awaiting, choice)
        self._go(*self.simulator._answer(awaiting, exchange, choice))
        return self

    def _go(self, url: str | None, params: dict[str, str]) -> None:
        """Post requests until the call waits for the caller or ends."""
        while url is not None:
            if len(self.exchanges) >= self.simulator.max_requests:
                return self._end("limit")
            status, body = self.simulator.post(url, params)
            exchange = Exchange(url=url, status=status)
            self.exchanges.append(exchange)
            try:
                root = ET.fromstring(body) if status == 200 else None
            except ET.ParseError:
                root = None
            if root is None:
                return self._end("error")
            url, params = self.simulator._follow(root, exchange, self)
            if url is None and self.awaiting is not None:
                return  # waiting for the caller's next move
        self._end("hangup" if self.exchanges and self.exchanges[-1].hung_up else "end")

    def _end(self, kind: str) -> None:
        if self.ended:
            return
        self.awaiting = None
        if any(ex.dialled and ex.dialled.outcome == "completed" for ex in self.exchanges):
            kind = "dial"
        elif any(ex.recorded for ex in self.exchanges):
            kind = "record"
        self.kind = kind
        self.simulator.post("/voice/status", {"CallStatus": "completed", "CallDuration": "60"})
