"""Which callers can take a text: the line type Twilio Lookup gives, asked off the call path.

A desk phone cannot take a text, so the line offers one only to a number Twilio Lookup says is
mobile (issue 14). The incoming-call webhook asks for the number's line type with
``look_up_later`` (a queue append); one background thread per process asks Lookup, and the
answer is kept in memory, so that by the first menu offering a text ``textability`` (a dict
read) usually knows. Neither ever waits on the network nor raises: a slow, broken or missing
Lookup only leaves the answer "unknown".

A lookup is one ``requests.get``: connecting and each wait for the answer's bytes last at most
``timeout``, and at most ``MAX_BODY`` bytes are read. There is no deadline for the whole request
(a server sending a byte just within each timeout holds the lookup thread longer, never a
call), and ``stop`` does not cut a lookup in progress: the daemon thread drops its answer.
The thread starts with the first lookup, which only a webhook asks for: under gunicorn that is
in a worker, after any fork.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import phonenumbers
import requests
from flask import Flask

from ivr.notify import can_text, mask_phone, scrub, sms_configured, twilio_configured
from ivr.services import services

log = logging.getLogger(__name__)

# What ``textability`` answers.
MOBILE = "mobile"  # Lookup says mobile: a text will arrive
NO = "no"  # cannot take a text: Lookup says so, or not a textable North-American number at all
UNKNOWN = "unknown"  # may be mobile: no answer from Lookup (yet)

DEFAULT_BASE_URL = "https://lookups.twilio.com"
TIMEOUT = 3.0  # seconds to connect, and at most between two reads of the answer
ANSWER_TTL = 30 * 24 * 3600.0  # a line type rarely changes (a number ported to a mobile)
FAILURE_TTL = 10 * 60.0  # a broken Lookup is asked again per number after this, not at each call
MAX_NUMBERS = 10_000  # answers kept (least recently used dropped first): about 1 MB
MAX_PENDING = 1_000  # numbers waiting for (or in) a lookup; more are dropped
MAX_BODY = 64 * 1024  # a Lookup answer is about 1 kB
WARN_EVERY = 60.0  # seconds: one failure a minute is a warning, the others are logged at INFO

# Twilio's line_type_intelligence.type values that cannot take a text from the line. A
# "nonFixedVoip" number (an app's number) often can, but "known to be mobile" is the rule.
# Twilio's "unknown", or a type it adds later, is not an answer: asked again after FAILURE_TTL.
NOT_MOBILE = frozenset({"landline", "fixedVoip", "nonFixedVoip", "personal", "tollFree",
                        "premium", "sharedCost", "uan", "voicemail", "pager"})


@lru_cache(maxsize=4096)  # on every menu that may offer a text; a call's number repeats
def textable_e164(number: str | None) -> str | None:
    """The number in E.164 when it may take a text at all (``can_text``: a valid North-American
    number, not toll-free or premium), else None: such a number is never looked up."""
    if not can_text(number):
        return None
    assert number is not None
    return phonenumbers.format_number(phonenumbers.parse(number, None),
                                      phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class _Answer:
    kind: str  # MOBILE or NO; UNKNOWN: the lookup failed (remembered briefly)
    until: float  # on the instance's clock


@dataclass
class LookupStats:
    lookups: int = 0  # requests made to Lookup
    answers: int = 0  # line types learned
    failures: int = 0  # lookups that gave no line type (remembered for FAILURE_TTL)
    dropped: int = 0  # numbers not looked up: too many waiting


class LineTypes:
    """Callers' line types: answers kept in memory, lookups made by one thread ``ivr-lookup``."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None, *,
                 base_url: str = DEFAULT_BASE_URL, enabled: bool = True,
                 timeout: float = TIMEOUT, answer_ttl: float = ANSWER_TTL,
                 failure_ttl: float = FAILURE_TTL, max_numbers: int = MAX_NUMBERS,
                 max_pending: int = MAX_PENDING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"TWILIO_LOOKUP_BASE_URL: {base_url!r} (expected "
                             "https://host[:port][/path])")
        self.configured = bool(enabled and account_sid and auth_token)
        self.timeout = timeout
        self.answer_ttl = answer_ttl
        self.failure_ttl = failure_ttl
        self.max_numbers = max_numbers
        self.max_pending = max_pending
        self.clock = clock  # for the answers' lifetimes (tests move it)
        self.stats = LookupStats()
        self._url = base_url.rstrip("/") + "/v2/PhoneNumbers/"
        self._auth = (account_sid or "", auth_token or "")
        # Written under _lock; read without it by textability (one OrderedDict operation is
        # atomic under the GIL).
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._lock = threading.Condition()  # held for a few dict operations, never a lookup
        self._queue: deque[str] = deque()
        self._wanted: set[str] = set()  # queued or being looked up: never two at once
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._quiet_until = float("-inf")  # failures are logged at INFO until then

    # ------------------------------------------------------------------ webhooks

    def textability(self, number: str | None) -> str:
        """MOBILE, NO or UNKNOWN for this caller: a memory read, never blocks, never raises."""
        try:
            e164 = textable_e164(number)
            if e164 is None:
                return NO
            answer = self._answers.get(e164)
            if answer is None or answer.until <= self.clock():
                return UNKNOWN
            return answer.kind
        except Exception:  # unforeseen: offer no text rather than one that may not arrive
            log.exception("line type of %s not read", mask_phone(number))
            return NO

    def look_up_later(self, number: str | None) -> None:
        """Have this caller's line type looked up soon, unless known already (or it cannot
        take a text anyway): a queue append, never blocks on the network, never raises."""
        if not self.configured:
            return
        try:
            e164 = textable_e164(number)
            if e164 is None:
                return
            with self._lock:
                if self._stopping or e164 in self._wanted:
                    return
                answer = self._answers.get(e164)
                if answer is not None and answer.until > self.clock():
                    self._answers.move_to_end(e164)  # recently used: dropped last
                    return
                if len(self._wanted) >= self.max_pending:
                    self.stats.dropped += 1
                    if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                        log.warning("line type lookups dropped (%d so far): %d already waiting",
                                    self.stats.dropped, self.max_pending)
                    return
                self._wanted.add(e164)
                self._queue.append(e164)
                self._lock.notify_all()
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="ivr-lookup",
                                                    daemon=True)
                    self._thread.start()
        except Exception:  # the call goes on; its caller's line type stays unknown
            log.exception("line type lookup of %s not scheduled", mask_phone(number))

    def remember(self, number: str, kind: str) -> None:
        """Take ``kind`` (MOBILE or NO) as this number's line type for ``answer_ttl``, as if
        Lookup had said so: for a test that needs it known before the call's first menu."""
        if kind not in (MOBILE, NO):
            raise ValueError(f"line type {kind!r}: expected {MOBILE!r} or {NO!r}")
        e164 = textable_e164(number)
        if e164 is not None:
            self._remember(e164, _Answer(kind, self.clock() + self.answer_ttl))

    # ------------------------------------------------------------------ life cycle

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no lookup is waiting or in progress; False if ``timeout`` ran out.
        For whoever waits on the thread's work (tests, an operator's command)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._wanted, timeout)

    def stop(self, wait: float = 1.0) -> None:
        """End the thread: forget what waits, then give a lookup in progress up to ``wait``
        seconds (past that, it ends with its timeouts and its answer is dropped)."""
        with self._lock:
            self._stopping = True
            self._queue.clear()
            self._wanted.clear()
            self._lock.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=wait)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                e164 = self._queue.popleft()
            try:
                self._look_up(e164)
            except Exception:  # the thread must outlive anything
                log.exception("line type lookup of %s failed", mask_phone(e164))
            finally:
                with self._lock:
                    self._wanted.discard(e164)
                    self._lock.notify_all()

    # ------------------------------------------------------------------ the lookup

    def _look_up(self, e164: str) -> None:
        self.stats.lookups += 1
        try:
            kind, detail = self._fetch(e164)
        except Exception as exc:  # refused, timed out, TLS, not JSON…
            # requests' messages hold the URL, and so the number (as %2B…): masked
            message = str(exc).replace(quote(e164, safe=""), mask_phone(e164))
            kind, detail = None, f"{type(exc).__name__}: {message}"
        if self._stopping:
            return
        now = self.clock()
        if kind is not None:
            self.stats.answers += 1
            self._remember(e164, _Answer(kind, now + self.answer_ttl))
            log.info("line type of %s: %s (%s)", mask_phone(e164), detail, kind)
            return
        self.stats.failures += 1
        self._remember(e164, _Answer(UNKNOWN, now + self.failure_ttl))
        level = logging.INFO  # a broken Lookup must not flood the log
        if now >= self._quiet_until:
            level, self._quiet_until = logging.WARNING, now + WARN_EVERY
        log.log(level, "line type of %s unknown, asked again in %g min: %s", mask_phone(e164),
                self.failure_ttl / 60, scrub(detail)[:300])

    def _remember(self, e164: str, answer: _Answer) -> None:
        with self._lock:
            self._answers[e164] = answer
            self._answers.move_to_end(e164)
            while len(self._answers) > self.max_numbers:
                self._answers.popitem(last=False)

    def _fetch(self, e164: str) -> tuple[str | None, str]:
        """(MOBILE or NO, Twilio's line type), or (None, why not)."""
        with requests.get(self._url + quote(e164, safe=""), auth=self._auth,
                          params={"Fields": "line_type_intelligence"},
                          timeout=self.timeout, stream=True) as response:
            body = response.raw.read(MAX_BODY + 1, decode_content=True)
        if len(body) > MAX_BODY:
            return None, f"Lookup answered more than {MAX_BODY} bytes"
        if response.status_code != 200:
            return None, f"Lookup answered HTTP {response.status_code}: {_message(body)}"
        return _line_type(json.loads(body))


def _line_type(data: Any) -> tuple[str | None, str]:
    if not isinstance(data, dict):
        return None, "Lookup answered something else than an object"
    if data.get("valid") is False:  # Twilio knows no such number: nothing will arrive
        return NO, "not a valid number"
    found = data.get("line_type_intelligence")
    if not isinstance(found, dict):
        found = {}
    kind = found.get("type")
    if kind == "mobile":
        return MOBILE, kind
    if kind in NOT_MOBILE:
        return NO, str(kind)
    error = found.get("error_code")
    return None, f"line type {kind!r}" + (f" (error {error})" if error else "")


def _message(body: bytes) -> str:
    """Twilio's error message (it may name the number: scrubbed by the caller)."""
    try:
        data = json.loads(body)
        return f"{data.get('message')} (code {data.get('code')})"
    except Exception:
        return body[:200].decode("utf-8", "replace")


def _flag(value: Any, default: bool) -> bool:
    """A boolean setting, from the environment ("0", "oui"…) or a mapping (True, 0…)."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "oui")
    return bool(value)


def lookup_configured(settings: Mapping[str, Any]) -> bool:
    """Whether line types are looked up: only where a text may be offered (texts set up,
    which needs the account and its token) and IVR_LOOKUP is not turned off."""
    return (sms_configured(settings) and twilio_configured(settings)
            and _flag(settings.get("IVR_LOOKUP"), True))


def init_app(app: Flask) -> None:
    """The app's line types, in ``services(app).line_types``; its thread starts with
    the first lookup (``stop`` ends it)."""
    settings = app.config
    services(app).line_types = LineTypes(
        settings.get("TWILIO_ACCOUNT_SID"), settings.get("TWILIO_AUTH_TOKEN"),
        base_url=settings.get("TWILIO_LOOKUP_BASE_URL") or DEFAULT_BASE_URL,
        enabled=lookup_configured(settings))
