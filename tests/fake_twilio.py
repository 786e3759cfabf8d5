"""Stand-ins for Twilio in the tests.

``FakeTwilio`` is a threaded ``http.server`` on 127.0.0.1 answering the REST API calls the line
makes (texts, recordings, calls) the way api.twilio.com does, and keeping every request it got.
Point the app at it with ``TWILIO_API_BASE_URL``; make it fail with ``fail_next``/``fail_always``
(HTTP errors) or ``down``/``up`` (connection refused, on the same port). It also serves recording
media (``add_media``: ``GET …/Recordings/RE….mp3``, behind HTTP basic auth, with byte ranges), as
Twilio does when "HTTP Basic Authentication for media" is on.

It answers Lookup v2 too (``GET /v2/PhoneNumbers/{number}?Fields=line_type_intelligence``, sent
there by ``TWILIO_LOOKUP_BASE_URL``): each number's line type from ``line_types`` (else
``default_line_type``), failures with ``fail_lookups``, a Lookup that hangs with
``hold_lookups``/``release_lookups``. Lookups are kept apart (``lookup_requests``,
``looked_up``), so ``requests`` and ``seen`` remain the calls that act (texts, recordings).

``play`` runs a call through the real app and keeps the app; ``HeldRecordingCall`` stops at the
``<Record>`` and lets the test deliver Twilio's two recording callbacks when and as it likes.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from flask import Flask

from ivr.security import sign
from ivr.services import services
from ivr.simulator import CallResult, CallSimulator
from ivr.store import Store

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "fake-twilio-auth-token"
SMS_FROM = "+15145550000"
API = "/2010-04-01"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _set(event: threading.Event) -> threading.Event:
    """An event already set (lookups flow until ``hold_lookups`` clears it)."""
    event.set()
    return event


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: ``Tue, 01 Dec 2026 15:00:00 +0000``."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _parse_when(value: str) -> datetime:
    """A date (``YYYY-MM-DD``) or a date-time (``…T…Z``), as Twilio's filters take them."""
    value = value.strip()
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    auth: tuple[str, str] | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    port: int = field(default_factory=free_port)
    page_size: int | None = None  # force small pages (default: the client's PageSize)
    requests: list[Seen] = field(default_factory=list)
    recordings: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, bytes] = field(default_factory=dict)  # recording SID -> its MP3 bytes
    fail_always: int | None = None  # answer every request with this HTTP status
    # Lookup v2: E.164 number -> Twilio's line type ("mobile", "landline", "tollFree",
    # "unknown"…); None: Twilio could not tell (line_type_intelligence.type null); "invalid":
    # Twilio knows no such number (valid: false).
    line_types: dict[str, str | None] = field(default_factory=dict)
    default_line_type: str | None = "landline"
    lookup_requests: list[Seen] = field(default_factory=list)
    _lookup_failures: list[int] = field(default_factory=list)
    _lookups_flow: threading.Event = field(default_factory=lambda: _set(threading.Event()))
    _lookups_held: int = 0
    _lookup_seen: threading.Condition = field(default_factory=threading.Condition)
    _fail_next: list[int] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    # ------------------------------------------------------------------ set-up

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, sms_from: str | None = SMS_FROM) -> dict[str, Any]:
        """App settings that send the REST calls and lookups here (and texts from ``sms_from``).

        The line's auth token signs the webhooks and authenticates the REST calls alike.
        """
        settings: dict[str, Any] = {"TWILIO_ACCOUNT_SID": self.account_sid,
                                    "TWILIO_AUTH_TOKEN": self.auth_token,
                                    "TWILIO_API_BASE_URL": self.base_url,
                                    "TWILIO_LOOKUP_BASE_URL": self.base_url}
        if sms_from:
            settings["IVR_SMS_FROM"] = sms_from
        return settings

    def add_recording(self, sid: str, call_sid: str, created: datetime, duration: int = 17,
                      status: str = "completed") -> dict[str, Any]:
        uri = f"{API}/Accounts/{self.account_sid}/Recordings/{sid}.json"
        resource = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "call_sid": call_sid,
            "conference_sid": None, "date_created": rfc2822(created),
            "date_updated": rfc2822(created), "start_time": rfc2822(created),
            "duration": str(duration), "sid": sid, "price": None, "price_unit": "USD",
            "status": status, "channels": 1, "source": "RecordVerb", "error_code": None,
            "uri": uri, "encryption_details": None, "media_url": f"{self.base_url}{uri[:-5]}",
            "subresource_uris": {
                "add_on_results": uri.replace(".json", "/AddOnResults.json"),
                "transcriptions": uri.replace(".json", "/Transcriptions.json"),
            },
        }
        self.recordings[sid] = resource
        return resource

    def add_call(self, call_sid: str, caller: str, to: str = "+15145550000") -> None:
        now = rfc2822(datetime.now(UTC))
        self.calls[call_sid] = {
            "sid": call_sid, "account_sid": self.account_sid, "parent_call_sid": None,
            "date_created": now, "date_updated": now, "start_time": now, "end_time": now,
            "to": to, "to_formatted": to, "from": caller, "from_formatted": caller,
            "phone_number_sid": "PN" + "0" * 32, "status": "completed", "duration": "60",
            "price": None, "price_unit": "USD", "direction": "inbound", "answered_by": None,
            "api_version": "2010-04-01", "forwarded_from": None, "group_sid": None,
            "caller_name": None, "queue_time": "0", "trunk_sid": None,
            "uri": f"{API}/Accounts/{self.account_sid}/Calls/{call_sid}.json",
            "subresource_uris": {},
        }

    def add_media(self, sid: str, data: bytes | None = None) -> bytes:
        """Give recording ``sid`` an audio file (by default ~200 kB of fake MP3 frames)."""
        if data is None:
            frame = b"\xff\xfb\x90\x64" + bytes(range(256)) * 4  # an MPEG-1 layer III header
            data = b"ID3\x04\x00\x00\x00\x00\x00\x00" + frame * 200
        self.media[sid] = data
        return data

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status`` (then behave again)."""
        with self._lock:
            self._fail_next.extend([status] * count)

    def fail_lookups(self, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` lookups with ``status`` (other requests are not affected)."""
        with self._lock:
            self._lookup_failures.extend([status] * count)

    def hold_lookups(self) -> None:
        """Lookups received from now on get no answer until ``release_lookups`` (or ``stop``)."""
        self._lookups_flow.clear()

    def release_lookups(self) -> None:
        self._lookups_flow.set()

    @property
    def lookups_held(self) -> int:
        """Lookups received and not answered yet (held)."""
        with self._lock:
            return self._lookups_held

    def wait_for_lookups(self, count: int, timeout: float = 60.0) -> bool:
        """Wait until ``count`` lookups have been received (answered or held)."""
        with self._lookup_seen:
            return self._lookup_seen.wait_for(lambda: len(self.lookup_requests) >= count,
                                              timeout)

    @property
    def looked_up(self) -> list[str]:
        """The numbers looked up, in order."""
        with self._lock:
            return [unquote(r.path.rsplit("/", 1)[-1]) for r in self.lookup_requests]

    # ------------------------------------------------------------------ what it saw

    def seen(self, method: str | None = None, endswith: str | None = None) -> list[Seen]:
        with self._lock:
            requests = list(self.requests)
        return [r for r in requests if (method is None or r.method == method)
                and (endswith is None or r.path.endswith(endswith))]

    @property
    def messages(self) -> list[Seen]:
        """The texts Twilio was asked to send (POST …/Messages.json)."""
        return self.seen("POST", "/Messages.json")

    # ------------------------------------------------------------------ life cycle

    def start(self) -> FakeTwilio:
        if self._server is None:
            fake = self

            class Handler(_Handler):
                twilio = fake

            server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            server.daemon_threads = True
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="fake-twilio", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self.release_lookups()  # a held lookup's thread ends (its client may be gone)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = self._thread = None

    down = stop  # nothing listens: the client's connection is refused
    up = start

    # ------------------------------------------------------------------ answers

    def answer(self, seen: Seen) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            self.requests.append(seen)
            forced = self._fail_next.pop(0) if self._fail_next else self.fail_always
        if forced == 400 and seen.form.get("To"):  # as Twilio does, it names the number
            return 400, self.error(400, f"The 'To' number {seen.form['To']} is not a valid "
                                        "phone number.", code=21211)
        if forced:
            return forced, self.error(forced, "Injected failure")
        if seen.auth != (self.account_sid, self.auth_token):
            return 401, self.error(401, "Authenticate", code=20003)
        match = re.fullmatch(rf"{API}/Accounts/(?P<account>\w+)/(?P<rest>.+)", seen.path)
        if not match or match["account"] != self.account_sid:
            return 404, self.error(404, "The requested resource was not found", code=20404)
        rest = match["rest"]
        if rest == "Messages.json" and seen.method == "POST":
            return self.create_message(seen)
        if rest == "Recordings.json" and seen.method == "GET":
            return 200, self.list_recordings(seen)
        found = re.fullmatch(r"Recordings/(RE\w+)\.json", rest)
        if found and seen.method == "DELETE":
            with self._lock:
                gone = self.recordings.pop(found[1], None)
            if gone is None:
                return 404, self.error(404, "The requested resource was not found", 20404)
            return 204, None
        if found and seen.method == "GET" and found[1] in self.recordings:
            return 200, self.recordings[found[1]]
        found = re.fullmatch(r"Calls/(CA\w+)\.json", rest)
        if found and seen.method == "GET" and found[1] in self.calls:
            return 200, self.calls[found[1]]
        return 404, self.error(404, "The requested resource was not found", code=20404)

    def answer_lookup(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        """Lookup v2's answer for one number, after any hold."""
        number = unquote(seen.path.rsplit("/", 1)[-1])
        with self._lookup_seen:
            with self._lock:
                self.lookup_requests.append(seen)
                forced = self._lookup_failures.pop(0) if self._lookup_failures else None
                self._lookups_held += 1
            self._lookup_seen.notify_all()
        try:
            self._lookups_flow.wait(timeout=60)  # a hang guard: the test releases it sooner
        finally:
            with self._lock:
                self._lookups_held -= 1
        if forced:
            return forced, self.error(forced, "Injected failure")
        if seen.auth != (self.account_sid, self.auth_token):
            return 401, self.error(401, "Authenticate", code=20003)
        if seen.query.get("Fields") != "line_type_intelligence" or not number.startswith("+"):
            return 400, self.error(400, "Invalid request", code=60200)
        kind = self.line_types.get(number, self.default_line_type)
        valid = kind != "invalid"
        intelligence = None if not valid else {
            "error_code": None if kind else 60601, "mobile_country_code": None,
            "mobile_network_code": None, "carrier_name": "Fake Telecom" if kind else None,
            "type": kind,
        }
        return 200, {
            "calling_country_code": "1", "country_code": "CA", "phone_number": number,
            "national_format": number, "valid": valid,
            "validation_errors": None if valid else ["NOT_A_NUMBER"], "caller_name": None,
            "sim_swap": None, "call_forwarding": None, "line_status": None,
            "line_type_intelligence": intelligence, "identity_match": None,
            "reassigned_number": None, "sms_pumping_risk": None,
            "phone_number_quality_score": None, "pre_fill": None,
            "url": f"{self.base_url}{seen.path}",
        }

    def answer_media(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        """A recording's audio (``GET …/Recordings/RE….mp3``), whole or a byte range of it."""
        status, payload = self._media_checks(seen)
        if payload is not None:
            return status, JSON_HEADERS, json.dumps(payload).encode()
        sid = seen.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        data = self.media[sid]
        headers = {"Content-Type": "audio/mpeg", "Accept-Ranges": "bytes"}
        wanted = seen.headers.get("Range")
        if not wanted:
            return 200, headers, data
        span = _byte_range(wanted, len(data))
        if span is None:
            return 416, {**headers, "Content-Range": f"bytes */{len(data)}"}, b""
        first, last = span
        return 206, {**headers, "Content-Range": f"bytes {first}-{last}/{len(data)}"}, \
            data[first:last + 1]

    def _media_checks(self, seen: Seen) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            self.requests.append(seen)
            forced = self._fail_next.pop(0) if self._fail_next else self.fail_always
        if forced:
            return forced, self.error(forced, "Injected failure")
        if seen.auth != (self.account_sid, self.auth_token):
            return 401, self.error(401, "Authenticate", code=20003)
        match = re.fullmatch(rf"{API}/Accounts/(\w+)/Recordings/(RE\w+)\.mp3", seen.path)
        if not match or match[1] != self.account_sid or match[2] not in self.media:
            return 404, self.error(404, "The requested resource was not found", code=20404)
        return 200, None

    def error(self, status: int, message: str, code: int | None = None) -> dict[str, Any]:
        return {"code": code or 20500, "message": message, "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code or 20500}"}

    def create_message(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        form = seen.form
        if not form.get("To") or not (form.get("Body") or form.get("MediaUrl")):
            return 400, self.error(400, "A 'To' phone number and a 'Body' are required", 21604)
        with self._lock:
            self._count += 1
            sid = "SM" + f"{self._count:032x}"
        now = rfc2822(datetime.now(UTC))
        return 201, {
            "account_sid": self.account_sid, "api_version": "2010-04-01",
            "body": form["Body"], "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": None, "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
            "status": "queued", "subresource_uris": {
                "media": f"{API}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": form["To"], "uri": f"{API}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    def list_recordings(self, seen: Seen) -> dict[str, Any]:
        q = seen.query
        with self._lock:
            rows = sorted(self.recordings.values(), key=lambda r: _parse_rfc(r["date_created"]))
        for name, keep in (("DateCreated>", lambda a, b: a >= b),
                           ("DateCreated<", lambda a, b: a <= b)):
            if name in q:
                bound = _parse_when(q[name])
                rows = [r for r in rows if keep(_parse_rfc(r["date_created"]), bound)]
        if "CallSid" in q:
            rows = [r for r in rows if r["call_sid"] == q["CallSid"]]
        size = self.page_size or int(q.get("PageSize", "50"))
        page = int(q.get("Page", "0"))
        chunk = rows[page * size:(page + 1) * size]
        base = f"{API}/Accounts/{self.account_sid}/Recordings.json"
        filters = {k: v for k, v in q.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(number: int) -> str:
            return f"{base}?{urlencode({**filters, 'PageSize': size, 'Page': number})}"

        more = (page + 1) * size < len(rows)
        return {
            "recordings": chunk, "page": page, "page_size": size, "start": page * size,
            "end": page * size + max(len(chunk) - 1, 0), "uri": uri(page),
            "first_page_uri": uri(0), "next_page_uri": uri(page + 1) if more else None,
            "previous_page_uri": uri(page - 1) if page else None,
        }


def _parse_rfc(value: str) -> datetime:
    return datetime.strptime(value, "%a, %d %b %Y %H:%M:%S %z")


JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes of a single ``Range: bytes=…`` (RFC 9110), or None: unsatisfiable."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:  # the last N bytes
        suffix = int(match[2])
        return (max(size - suffix, 0), size - 1) if suffix and size else None
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    return (first, last) if first < size and first <= last else None


class _Handler(BaseHTTPRequestHandler):
    twilio: FakeTwilio
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        auth = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            auth = (user, password)
        seen = Seen(self.command, parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k: v[-1] for k, v in parse_qs(raw).items()}, auth,
                    {k: v for k, v in self.headers.items() if k.lower() != "authorization"})
        if self.command == "GET" and parts.path.endswith(".mp3"):
            status, headers, body = self.twilio.answer_media(seen)
        elif self.command == "GET" and parts.path.startswith("/v2/PhoneNumbers/"):
            status, payload = self.twilio.answer_lookup(seen)
            body, headers = json.dumps(payload).encode(), JSON_HEADERS
        else:
            status, payload = self.twilio.answer(seen)
            body = json.dumps(payload).encode() if payload is not None else b""
            headers = JSON_HEADERS if payload is not None else {}
        self.close_connection = True
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a held lookup)
            pass

    do_GET = do_POST = do_DELETE = _handle  # noqa: N815 (http.server's names)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no stderr noise
        pass


# ---------------------------------------------------------------------- calls through the app


@dataclass
class Played:
    """A call played through a real app, with the app kept for what follows."""

    app: Flask
    result: CallResult
    simulator: CallSimulator

    @property
    def store(self) -> Store:
        return services(self.app).store

    @property
    def says(self) -> list[str]:
        return self.result.says

    @property
    def heard(self) -> str:
        return self.result.heard

    def drain(self) -> None:
        assert services(self.app).worker.drain()


@dataclass
class HeldRecording:
    action: str
    callback: str | None


class HeldRecordingCall(CallSimulator):
    """A call that stops at its ``<Record>``: the test then sends Twilio's recording callbacks."""

    held: HeldRecording | None = None

    def _follow(self, root: ET.Element, exchange: Any, keypad: Any):
        record = root.find("Record")
        if record is None:
            return super()._follow(root, exchange, keypad)
        for verb in root:
            if verb is record:
                break
            if verb.tag == "Say":
                exchange.said.append((verb.text or "").strip())
        exchange.recorded = True
        self.held = HeldRecording(record.get("action", ""),
                                  record.get("recordingStatusCallback"))
        return None, {}

    def recording(self, sid: str, duration: int = 17) -> dict[str, str]:
        return {
            "RecordingSid": sid,
            "RecordingUrl": f"https://api.twilio.com{API}/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
            "RecordingDuration": str(duration),
        }

    def deliver(self, which: str, sid: str, duration: int = 17) -> int:
        """Send the ``<Record action>`` ("action") or ``recordingStatusCallback`` ("callback")."""
        assert self.held is not None, "the call never reached a <Record>"
        if which == "action":  # within the call: the usual call parameters, and the keys
            status, _ = self.post(self.held.action, {**self.recording(sid, duration),
                                                     "Digits": "#"})
            return status
        assert self.held.callback, "no recordingStatusCallback"
        # Outside the call: Twilio sends no From/To here.
        form = {"AccountSid": ACCOUNT_SID, "CallSid": self.call_sid,
                **self.recording(sid, duration), "RecordingStatus": "completed",
                "RecordingChannels": "1", "RecordingSource": "RecordVerb",
                "RecordingStartTime": rfc2822(datetime.now(UTC))}
        parts = urlsplit(self.held.callback)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        signature = sign(self.origin + path, form, self.app.config["TWILIO_AUTH_TOKEN"])
        response = self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        return response.status_code


def play(make_app, keys: str = "", *, caller: str = "+15145550123",
         at: str = "2026-12-01T10:00:00-05:00", dial: Iterable[str] = (),
         simulator: type[CallSimulator] = CallSimulator, **overrides: Any) -> Played:
    """Like conftest's ``call``, but keeps the app (to drain its worker, read its store)."""
    app = make_app(IVR_NOW=at, **overrides)
    sim = simulator(app, caller=caller, dial_outcomes=dial)
    return Played(app, sim.play(keys), sim)


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)
