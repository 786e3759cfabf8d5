"""Which callers can take a text: the line type Twilio Lookup v2 gives, asked off the call path.

Only a number Lookup says is mobile is offered a text (issue 14). The incoming-call webhook
queues a lookup (``look_up_later``); one thread per process asks Lookup and keeps the answers in
memory, so that by the first menu offering a text ``textability`` (a dict read) usually knows.
Neither waits on the network nor raises: a slow, broken or missing Lookup only leaves "unknown".
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
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

MOBILE = "mobile"  # Lookup says mobile: a text will arrive
NO = "no"  # Lookup says not mobile, or not a textable North-American number at all
UNKNOWN = "unknown"  # may be mobile: no answer from Lookup (yet)

DEFAULT_BASE_URL = "https://lookups.twilio.com"
TIMEOUT = 3.0  # seconds to connect, and between two reads (no deadline for the whole request)
ANSWER_TTL = 30 * 24 * 3600.0  # a line type rarely changes (a number ported to a mobile)
FAILURE_TTL = 10 * 60.0  # a broken Lookup is asked again per number after this, not at each call
MAX_NUMBERS = 10_000  # answers kept, least recently used dropped first: about 1 MB
MAX_PENDING = 1_000  # numbers waiting for (or in) a lookup; more are dropped
MAX_BODY = 64 * 1024  # a Lookup answer is about 1 kB
WARN_EVERY = 60.0  # seconds: one failure a minute is a warning, the others are logged at INFO

# An app's number ("nonFixedVoip") often can take a text, but the rule is "known to be mobile".
# Twilio's "unknown", or a type it adds later, is no answer: asked again after FAILURE_TTL.
NOT_MOBILE = frozenset({"landline", "fixedVoip", "nonFixedVoip", "personal", "tollFree",
                        "premium", "sharedCost", "uan", "voicemail", "pager"})


@lru_cache(maxsize=4096)  # on every menu that may offer a text; a call's number repeats
def textable_e164(number: str | None) -> str | None:
    """The number in E.164 if it may take a text at all (else None: never looked up)."""
    if not (number and can_text(number)):
        return None
    return phonenumbers.format_number(phonenumbers.parse(number),
                                      phonenumbers.PhoneNumberFormat.E164)


@dataclass
class LookupStats:
    lookups: int = 0  # requests made to Lookup
    answers: int = 0  # line types learned
    failures: int = 0  # lookups that gave no line type (remembered for FAILURE_TTL)
    dropped: int = 0  # numbers not looked up: too many waiting


class LineTypes:
    """Callers' line types: answers kept in memory, looked up by one thread ``ivr-lookup…``."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None, *,
                 base_url: str = DEFAULT_BASE_URL, enabled: bool = True,
                 timeout: float = TIMEOUT, max_numbers: int = MAX_NUMBERS,
                 max_pending: int = MAX_PENDING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"TWILIO_LOOKUP_BASE_URL: {base_url!r} (expected https://host…)")
        self.configured = bool(enabled and account_sid and auth_token)
        self.timeout, self.max_numbers, self.max_pending = timeout, max_numbers, max_pending
        self.clock = clock  # for the answers' lifetimes (tests move it)
        self.stats = LookupStats()
        self._url = base_url.rstrip("/") + "/v2/PhoneNumbers/"
        self._auth = (account_sid or "", auth_token or "")
        # E.164 -> (kind, until); UNKNOWN for a failure. Written under _lock, read without it by
        # textability (one OrderedDict operation is atomic under the GIL).
        self._answers: OrderedDict[str, tuple[str, float]] = OrderedDict()
        # Held for a few set/dict operations, never a lookup; an RLock: a done callback may run
        # inside look_up_later.
        self._lock = threading.Condition()
        self._pending: set[str] = set()  # queued or in progress: never two lookups of a number
        self._pool: ThreadPoolExecutor | None = None  # made by the first lookup: after a fork
        self._stopped = False
        self._quiet_until = float("-inf")  # failures are logged at INFO until then

    def textability(self, number: str | None) -> str:
        """MOBILE, NO or UNKNOWN for this caller: a memory read, for the call path."""
        e164 = textable_e164(number)
        return NO if e164 is None else self._known(e164) or UNKNOWN

    def look_up_later(self, number: str | None) -> None:
        """Have this caller's line type looked up soon, unless known or it cannot take a text:
        on the call path, so never blocks on the network, never raises."""
        if not self.configured:
            return
        try:
            e164 = textable_e164(number)
            with self._lock:
                if e164 is None or self._stopped or e164 in self._pending:
                    return
                if self._known(e164):
                    self._answers.move_to_end(e164)  # recently used: dropped last
                elif len(self._pending) >= self.max_pending:
                    self.stats.dropped += 1
                    if self.stats.dropped % 1000 == 1:
                        log.warning("line type lookups dropped (%d so far): %d already waiting",
                                    self.stats.dropped, self.max_pending)
                else:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ivr-lookup")
                    self._pending.add(e164)
                    future = self._pool.submit(self._look_up, e164)
                    future.add_done_callback(lambda _: self._done(e164))  # also when cancelled
        except Exception:  # the call goes on; its caller's line type stays unknown
            log.exception("line type lookup of %s not scheduled", mask_phone(number))

    def remember(self, number: str, kind: str) -> None:
        """Take ``kind`` as this number's line type, as if Lookup had said so (for tests)."""
        if kind not in (MOBILE, NO):
            raise ValueError(f"line type {kind!r}: expected {MOBILE!r} or {NO!r}")
        if e164 := textable_e164(number):
            self._remember(e164, kind, ANSWER_TTL)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no lookup waits or is in progress; False if ``timeout`` ran out."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout)

    def stop(self, wait: float = 1.0) -> None:
        """Cancel the lookups waiting and give the one in progress up to ``wait`` seconds: past
        that it ends by its timeouts, and with it the thread; its answer is dropped."""
        with self._lock:
            self._stopped = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self.wait_idle(wait)

    def _known(self, e164: str) -> str | None:
        answer = self._answers.get(e164)
        return answer[0] if answer is not None and answer[1] > self.clock() else None

    def _remember(self, e164: str, kind: str, ttl: float) -> None:
        with self._lock:
            self._answers[e164] = (kind, self.clock() + ttl)
            self._answers.move_to_end(e164)
            if len(self._answers) > self.max_numbers:
                self._answers.popitem(last=False)

    def _done(self, e164: str) -> None:
        with self._lock:
            self._pending.discard(e164)
            self._lock.notify_all()

    def _look_up(self, e164: str) -> None:
        # The pool's thread is no daemon: at the process's exit, what still waits is not asked.
        if self._stopped or not threading.main_thread().is_alive():
            return
        self.stats.lookups += 1
        try:
            kind, detail = self._fetch(e164)
        except Exception as exc:  # refused, timed out, TLS, not JSON, not the expected JSON…
            # requests' messages hold the URL, and so the number (as %2B…): masked
            message = str(exc).replace(quote(e164, safe=""), mask_phone(e164))
            kind, detail = None, f"{type(exc).__name__}: {message}"
        if self._stopped:
            return
        if kind is not None:
            self.stats.answers += 1
            self._remember(e164, kind, ANSWER_TTL)
            log.info("line type of %s: %s (%s)", mask_phone(e164), detail, kind)
            return
        self.stats.failures += 1
        self._remember(e164, UNKNOWN, FAILURE_TTL)
        level, now = logging.INFO, self.clock()  # a broken Lookup must not flood the log
        if now >= self._quiet_until:
            level, self._quiet_until = logging.WARNING, now + WARN_EVERY
        log.log(level, "line type of %s unknown, asked again in %g min: %s", mask_phone(e164),
                FAILURE_TTL / 60, scrub(detail)[:300])  # Twilio's message may name the number

    def _fetch(self, e164: str) -> tuple[str | None, str]:
        """(MOBILE or NO, Twilio's line type), or (None, why not)."""
        with requests.get(self._url + quote(e164, safe=""), auth=self._auth,
                          params={"Fields": "line_type_intelligence"},
                          timeout=self.timeout, stream=True) as response:
            body = response.raw.read(MAX_BODY + 1, decode_content=True)
        if len(body) > MAX_BODY:
            return None, f"Lookup answered more than {MAX_BODY} bytes"
        if response.status_code != 200:
            why = body[:200].decode(errors="replace")  # Twilio's message
            return None, f"Lookup answered HTTP {response.status_code}: {why}"
        data = json.loads(body)
        if data.get("valid") is False:  # Twilio knows no such number: nothing will arrive
            return NO, "not a valid number"
        found = data.get("line_type_intelligence") or {}
        kind = found.get("type")
        if kind == "mobile" or kind in NOT_MOBILE:
            return (MOBILE if kind == "mobile" else NO), kind
        return None, f"line type {kind!r} (error {found.get('error_code')})"


def lookup_configured(settings: Mapping[str, Any]) -> bool:
    """Whether line types are looked up: where a text may be offered (texts set up, which
    needs the account and its token) and IVR_LOOKUP (on by default) is not turned off."""
    flag = settings.get("IVR_LOOKUP", True)
    if isinstance(flag, str):  # "0", "oui"…: not through create_app's environment reading
        flag = flag.strip().lower() in ("1", "true", "yes", "on", "oui")
    return bool(flag) and sms_configured(settings) and twilio_configured(settings)


def init_app(app: Flask) -> None:
    """The app's line types, in ``services(app).line_types`` (``stop`` ends their thread)."""
    settings = app.config
    services(app).line_types = LineTypes(
        settings.get("TWILIO_ACCOUNT_SID"), settings.get("TWILIO_AUTH_TOKEN"),
        base_url=settings.get("TWILIO_LOOKUP_BASE_URL") or DEFAULT_BASE_URL,
        enabled=lookup_configured(settings))
