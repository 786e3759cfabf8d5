"""Plays a call through the real app in-process, the way Twilio would drive it.

``ivr call``, the tests and the console's simulator all use this one path: signed POSTs to the
app's own webhooks, TwiML parsed and followed verb by verb, keys fed to each ``<Gather>``.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from flask import Flask

from ivr.security import sign

DIAL_OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled")


@dataclass
class Dialled:
    number: str
    send_digits: str | None
    outcome: str


@dataclass
class Exchange:
    """One webhook request and what the caller heard and did in answer to it."""

    url: str
    status: int
    said: list[str] = field(default_factory=list)
    pressed: str | None = None  # keys sent to the next request; "" = silence
    dialled: Dialled | None = None
    recorded: bool = False
    hung_up: bool = False


@dataclass
class CallResult:
    kind: str  # dial | record | hangup | end | limit | error
    exchanges: list[Exchange]
    call_sid: str

    @property
    def says(self) -> list[str]:
        return [text for ex in self.exchanges for text in ex.said]

    @property
    def dials(self) -> list[Dialled]:
        return [ex.dialled for ex in self.exchanges if ex.dialled]

    def to_dict(self) -> dict:
        first = self.dials[0] if self.dials else None
        return {
            "kind": self.kind,
            "call_sid": self.call_sid,
            "dial": first.number if first else None,
            "send_digits": first.send_digits.replace("w", "") if first and first.send_digits
            else None,
            "dials": [d.number for d in self.dials],
            "says": self.says,
            "exchanges": [asdict(ex) for ex in self.exchanges],
        }


class Keypad:
    """The caller's keys: ',' waits for the next prompt, '.' stays silent through one prompt."""

    def __init__(self, keys: str) -> None:
        keys = "".join(keys.split())
        self.segments = deque(keys.split(",")) if keys else deque()
        self.pending: deque[str] = deque()

    def press(self, num_digits: int, finish_on_key: str = "") -> str | None:
        """Keys typed into a ``<Gather>``; None when the caller stays silent."""
        if not self.pending:
            if not self.segments:
                return None
            self.pending.extend(self.segments.popleft())
        if not self.pending or self.pending[0] == ".":
            if self.pending:
                self.pending.popleft()
            return None
        taken: list[str] = []
        while self.pending and len(taken) < num_digits and self.pending[0] != ".":
            key = self.pending.popleft()
            if finish_on_key and key in finish_on_key:
                break
            taken.append(key)
        return "".join(taken)


class CallSimulator:
    def __init__(self, app: Flask, *, caller: str = "+15145550123", called: str = "+15145550000",
                 dial_outcomes: Iterable[str] = (), max_requests: int = 60) -> None:
        self.app = app
        self.client = app.test_client()
        self.caller = caller
        self.called = called
        self.outcomes = deque(dial_outcomes)
        self.max_requests = max_requests
        self.call_sid = "CA" + secrets.token_hex(16)
        public = urlsplit(app.config.get("IVR_PUBLIC_URL") or "http://localhost")
        self.origin = f"{public.scheme}://{public.netloc}"
        self.prefix = public.path.rstrip("/")  # the app served under a path of the public host

    def post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if self.prefix and not path.startswith(self.prefix + "/"):
            path = self.prefix + path
        form = {
            "CallSid": self.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.caller,
            "To": self.called,
            "Caller": self.caller,
            "Called": self.called,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **params,
        }
        signature = sign(self.origin + path, form, self.app.config["TWILIO_AUTH_TOKEN"])
        response = self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        return response.status_code, response.get_data(as_text=True)

    def play(self, keys: str = "") -> CallResult:
        keypad = Keypad(keys)
        exchanges: list[Exchange] = []
        url: str | None = "/voice"
        params: dict[str, str] = {}
        kind = "limit"
        answered = recorded = False
        while url is not None and len(exchanges) < self.max_requests:
            status, body = self.post(url, params)
            exchange = Exchange(url=url, status=status)
            exchanges.append(exchange)
            if status != 200:
                kind = "error"
                break
            url, params = self._follow(ET.fromstring(body), exchange, keypad)
            dialled = exchange.dialled
            answered = answered or bool(dialled and dialled.outcome == "completed")
            recorded = recorded or exchange.recorded
            if url is None:
                kind = "hangup" if exchange.hung_up else "end"
        if answered:
            kind = "dial"
        elif recorded:
            kind = "record"
        self.post("/voice/status", {"CallStatus": "completed", "CallDuration": "60"})
        return CallResult(kind, exchanges, self.call_sid)

    def _follow(self, root: ET.Element, exchange: Exchange,
                keypad: Keypad) -> tuple[str | None, dict[str, str]]:
        """Run the verbs of one TwiML document; the next request to make, if any."""
        for verb in root:
            if verb.tag in ("Say", "Play"):
                exchange.said.append(_speech(verb))
            elif verb.tag == "Gather":
                exchange.said.extend(_speech(child) for child in verb)
                keys = keypad.press(int(verb.get("numDigits", "1") or 1),
                                    verb.get("finishOnKey", "#"))
                exchange.pressed = keys or ""
                if keys:
                    return verb.get("action", ""), {"Digits": keys}
                if verb.get("actionOnEmptyResult") == "true":
                    return verb.get("action", ""), {}
            elif verb.tag == "Dial":
                number = verb.find("Number")
                outcome = self.outcomes.popleft() if self.outcomes else "completed"
                exchange.dialled = Dialled(
                    (number.text or "").strip() if number is not None else (verb.text or ""),
                    number.get("sendDigits") if number is not None else None,
                    outcome,
                )
                if verb.get("action"):
                    return verb.get("action", ""), {
                        "DialCallStatus": outcome,
                        "DialCallSid": "CA" + secrets.token_hex(16),
                        "DialCallDuration": "42" if outcome == "completed" else "0",
                    }
            elif verb.tag == "Record":
                exchange.recorded = True
                recording = {
                    "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/"
                                    "RE" + "1" * 32,
                    "RecordingSid": "RE" + "1" * 32,
                    "RecordingDuration": "17",
                    "Digits": "#",
                }
                callback = verb.get("recordingStatusCallback")
                if callback:
                    self.post(callback, {**recording, "RecordingStatus": "completed"})
                if verb.get("action"):
                    return verb.get("action", ""), recording
            elif verb.tag == "Redirect":
                return (verb.text or "").strip(), {}
            elif verb.tag == "Hangup":
                exchange.hung_up = True
                return None, {}
        return None, {}


def _speech(verb: ET.Element) -> str:
    if verb.tag == "Play":
        return f"[audio {(verb.text or '').strip()}]"
    return (verb.text or "").strip()
