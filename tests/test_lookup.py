"""Line types (issue 14): a text is offered only where it can arrive, and finding out never
holds up a call.

``LineTypes`` asks the fake Twilio's Lookup v2 (tests/fake_twilio.py) on its own thread; the
tests wait for it with conditions (``wait_idle``, ``wait_for_lookups``), move its answers' clock
by hand, and prove a hanging Lookup blocks nothing by holding the request while they go on.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from flask import Flask

from ivr import lookup
from ivr.lookup import (
    ANSWER_TTL,
    FAILURE_TTL,
    MAX_BODY,
    MOBILE,
    NO,
    UNKNOWN,
    WARN_EVERY,
    LineTypes,
    lookup_configured,
)
from ivr.services import services

CALLER = "+15145550123"
OTHER = "+14385550100"
HANG_GUARD = 60.0  # only so that a broken test fails instead of hanging


class Clock:
    """The answers' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_line_types(twilio: FakeTwilio, clock: Clock) -> Iterator[Callable[..., LineTypes]]:
    built: list[LineTypes] = []

    def build(auth_token: str = AUTH_TOKEN, **options: Any) -> LineTypes:
        line_types = LineTypes(ACCOUNT_SID, auth_token, base_url=twilio.base_url, clock=clock,
                               **options)
        built.append(line_types)
        return line_types

    yield build
    for line_types in built:
        line_types.stop()


@pytest.fixture
def line_types(make_line_types: Callable[..., LineTypes]) -> LineTypes:
    return make_line_types()


def looked_up(line_types: LineTypes, number: str) -> str:
    """Ask for ``number``'s line type and wait for the thread to be done."""
    line_types.look_up_later(number)
    assert line_types.wait_idle(HANG_GUARD)
    return line_types.textability(number)


def lookup_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ivr-lookup") and t.is_alive()]


def returns(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` on another thread and return their results: a call that blocked would
    fail the test (after HANG_GUARD) rather than hang it."""
    results: list[Any] = []
    done = threading.Event()

    def run() -> None:
        results.extend(call() for call in calls)
        done.set()

    threading.Thread(target=run, name="test-caller", daemon=True).start()
    assert done.wait(HANG_GUARD), "a call blocked on the lookup"
    return results


# ---------------------------------------------------------------------- answers


@pytest.mark.parametrize(("twilio_type", "expected"), [
    ("mobile", MOBILE),
    ("landline", NO),
    ("fixedVoip", NO),
    ("nonFixedVoip", NO),
    ("tollFree", NO),
    ("premium", NO),
    ("invalid", NO),  # valid: false
    ("unknown", UNKNOWN),  # Twilio cannot tell
    (None, UNKNOWN),  # line_type_intelligence.type null
    ("satellite", UNKNOWN),  # a type Twilio may add: not known to be mobile
])
def test_line_type_from_lookup(line_types, twilio, twilio_type, expected):
    twilio.line_types[CALLER] = twilio_type
    assert line_types.textability(CALLER) == UNKNOWN  # not asked yet
    assert looked_up(line_types, CALLER) == expected
    [request] = twilio.lookup_requests
    assert request.method == "GET"
    assert request.path == "/v2/PhoneNumbers/%2B15145550123"
    assert request.query == {"Fields": "line_type_intelligence"}
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert twilio.requests == []  # lookups are kept apart from the calls that act


def test_the_default_fake_line_is_a_landline(line_types):
    assert looked_up(line_types, CALLER) == NO


def test_a_number_given_otherwise_is_looked_up_in_e164(line_types, twilio):
    twilio.line_types[CALLER] = "mobile"
    assert looked_up(line_types, "+1 (514) 555-0123") == MOBILE
    assert line_types.textability(CALLER) == MOBILE
    assert twilio.looked_up == [CALLER]


@pytest.mark.parametrize("number", [
    None, "", "anonymous", "+18005550199", "+18885550100", "+19005550100", "+442071838750",
    "+1514555012", "5145550123",
])
def test_what_cannot_take_a_text_is_never_looked_up(line_types, twilio, number):
    assert line_types.textability(number) == NO
    line_types.look_up_later(number)
    # One thread, first come first served: a number queued before this one would be asked first.
    assert looked_up(line_types, CALLER) == NO
    assert twilio.looked_up == [CALLER]
    assert line_types.textability(number) == NO


def test_not_configured_never_looks_up(make_line_types, twilio):
    for line_types in (LineTypes(), make_line_types(enabled=False)):
        line_types.look_up_later(CALLER)
        assert line_types.textability(CALLER) == UNKNOWN
        assert line_types.textability("+18005550199") == NO
        assert line_types.wait_idle(0)
        line_types.stop()
    assert lookup_threads() == [] and twilio.lookup_requests == []


def test_an_answer_can_be_given_beforehand(line_types, twilio, clock):
    line_types.remember("+1 514 555 0123", MOBILE)
    line_types.remember("+18005550199", MOBILE)  # cannot take a text whatever one says
    assert line_types.textability(CALLER) == MOBILE
    assert line_types.textability("+18005550199") == NO
    line_types.look_up_later(CALLER)
    assert line_types.wait_idle(0) and twilio.lookup_requests == []
    with pytest.raises(ValueError):
        line_types.remember(CALLER, UNKNOWN)
    clock.advance(ANSWER_TTL)
    assert line_types.textability(CALLER) == UNKNOWN


# ---------------------------------------------------------------------- the cache


def test_an_answer_is_kept_thirty_days(line_types, twilio, clock):
    twilio.line_types[CALLER] = "mobile"
    assert looked_up(line_types, CALLER) == MOBILE
    for _ in range(3):  # the same caller calls back: no new lookup
        line_types.look_up_later(CALLER)
        assert line_types.wait_idle(0)
    clock.advance(ANSWER_TTL - 1)
    assert line_types.textability(CALLER) == MOBILE
    assert looked_up(line_types, CALLER) == MOBILE
    assert twilio.looked_up == [CALLER]
    clock.advance(1)  # expired: unknown until asked again
    twilio.line_types[CALLER] = "landline"
    assert line_types.textability(CALLER) == UNKNOWN
    assert looked_up(line_types, CALLER) == NO
    assert twilio.looked_up == [CALLER, CALLER]
    assert line_types.stats.lookups == 2 and line_types.stats.answers == 2


def test_the_cache_keeps_the_numbers_used_last(make_line_types, twilio):
    line_types = make_line_types(max_numbers=2)
    numbers = ["+15145550101", "+15145550102", "+15145550103"]
    for number in numbers:
        twilio.line_types[number] = "mobile"
    looked_up(line_types, numbers[0])
    looked_up(line_types, numbers[1])
    line_types.look_up_later(numbers[0])  # calls again: known, and now the latest used
    looked_up(line_types, numbers[2])
    assert [line_types.textability(n) for n in numbers] == [MOBILE, UNKNOWN, MOBILE]
    assert twilio.looked_up == numbers


@pytest.mark.parametrize("failure", ["http 500", "http 429", "refused", "wrong token"])
def test_a_failure_is_remembered_briefly(make_line_types, twilio, clock, failure):
    twilio.line_types[CALLER] = "mobile"
    line_types = make_line_types(auth_token="not-the-token" if failure == "wrong token"
                                 else AUTH_TOKEN)
    if failure == "refused":
        twilio.down()
    elif failure.startswith("http"):
        twilio.fail_lookups(1, int(failure.split()[1]))
    assert looked_up(line_types, CALLER) == UNKNOWN
    assert line_types.stats.failures == 1
    line_types.look_up_later(CALLER)  # a broken Lookup is not asked at every call
    assert line_types.wait_idle(0)
    clock.advance(FAILURE_TTL - 1)
    line_types.look_up_later(CALLER)
    assert line_types.wait_idle(0) and line_types.stats.lookups == 1
    assert line_types.textability(CALLER) == UNKNOWN
    clock.advance(1)  # asked again; answered once Lookup works again
    if failure == "refused":
        twilio.up()
    expected = UNKNOWN if failure == "wrong token" else MOBILE
    assert looked_up(line_types, CALLER) == expected
    assert line_types.stats.lookups == 2


def test_a_lookup_that_takes_too_long_is_a_failure(make_line_types, twilio, clock):
    line_types = make_line_types(timeout=0.2)
    twilio.hold_lookups()  # never answered: the client's deadline ends it
    assert looked_up(line_types, CALLER) == UNKNOWN
    assert line_types.stats.failures == 1
    twilio.release_lookups()
    clock.advance(FAILURE_TTL)
    twilio.line_types[CALLER] = "mobile"
    assert looked_up(line_types, CALLER) == MOBILE


@pytest.fixture
def raw_lookup(clock: Clock) -> Iterator[Callable[..., LineTypes]]:
    """LineTypes asking a one-answer server that sends ``head`` then ``chunks`` (no
    Content-Length: the body ends when the connection does)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(HANG_GUARD)
    threads: list[threading.Thread] = []
    built: list[LineTypes] = []

    def build(head: bytes, chunks: Iterator[bytes]) -> LineTypes:
        def answer() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                try:
                    connection.sendall(head + b"Content-Type: application/json\r\n\r\n")
                    for chunk in chunks:
                        connection.sendall(chunk)
                except OSError:  # the client gave up
                    pass

        threads.append(threading.Thread(target=answer, name="test-raw-lookup", daemon=True))
        threads[-1].start()
        built.append(LineTypes(ACCOUNT_SID, AUTH_TOKEN, timeout=HANG_GUARD, clock=clock,
                               base_url=f"http://127.0.0.1:{listener.getsockname()[1]}"))
        return built[-1]

    yield build
    for line_types in built:
        line_types.stop()
    for thread in threads:
        thread.join(HANG_GUARD)
    listener.close()


def test_a_long_answer_is_cut(raw_lookup, caplog):
    """A server that would answer 64 MB, each byte well within the timeout: the lookup reads
    MAX_BODY bytes, then gives up (the rest stays in the sockets' buffers, a few MB at most)."""
    sent, server_done = 0, threading.Event()

    def spaces() -> Iterator[bytes]:
        nonlocal sent
        try:
            for _ in range(16 * 1024):
                yield b" " * 4096
                sent += 4096
        finally:  # the server gave up or sent it all
            server_done.set()

    line_types = raw_lookup(b"HTTP/1.1 200 OK\r\n", spaces())
    with caplog.at_level(logging.WARNING, logger="ivr.lookup"):
        assert looked_up(line_types, CALLER) == UNKNOWN
    assert line_types.stats.failures == 1
    assert f"asked again in 10 min: Lookup answered more than {MAX_BODY} bytes" in caplog.text
    assert server_done.wait(HANG_GUARD) and sent < 32 * 1024 * 1024


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"line_type_intelligence": "mobile"}',
    b'{"line_type_intelligence": {"type": ["mobile"]}}',
])
def test_an_answer_not_as_expected_is_a_failure(raw_lookup, caplog, body):
    line_types = raw_lookup(b"HTTP/1.1 200 OK\r\n", iter([body]))
    with caplog.at_level(logging.WARNING, logger="ivr.lookup"):
        assert looked_up(line_types, CALLER) == UNKNOWN
    assert line_types.stats.failures == 1 and line_types.stats.answers == 0
    assert "unknown, asked again in 10 min" in caplog.text


def test_an_error_naming_the_number_is_logged_masked(raw_lookup, caplog):
    line_types = raw_lookup(b"HTTP/1.1 404 Not Found\r\n",
                            iter([b'{"code": 20404, "message": "+15145550123 not found"}']))
    with caplog.at_level(logging.WARNING, logger="ivr.lookup"):
        assert looked_up(line_types, CALLER) == UNKNOWN
    assert "Lookup answered HTTP 404" in caplog.text and "+1514…23 not found" in caplog.text
    assert "5550123" not in caplog.text


# ---------------------------------------------------------------------- never in the way


def test_a_hanging_lookup_blocks_no_call(line_types, twilio):
    twilio.line_types[CALLER] = "mobile"
    twilio.line_types[OTHER] = "mobile"
    twilio.hold_lookups()
    line_types.look_up_later(CALLER)
    assert twilio.wait_for_lookups(1)  # the lookup is in progress, and hangs
    results = returns(lambda: line_types.textability(CALLER),
                      lambda: line_types.look_up_later(CALLER),
                      lambda: line_types.look_up_later(OTHER),
                      lambda: line_types.textability(OTHER),
                      lambda: line_types.textability("+18005550199"))
    assert results == [UNKNOWN, None, None, UNKNOWN, NO]
    assert twilio.lookups_held == 1 and twilio.looked_up == [CALLER]  # still hanging
    twilio.release_lookups()
    assert line_types.wait_idle(HANG_GUARD)
    assert twilio.looked_up == [CALLER, OTHER]  # never two lookups of a number
    assert line_types.textability(CALLER) == line_types.textability(OTHER) == MOBILE


def test_the_queue_is_bounded(make_line_types, twilio, caplog):
    line_types = make_line_types(max_pending=3)
    numbers = [f"+151455501{i:02d}" for i in range(6)]
    twilio.hold_lookups()
    line_types.look_up_later(numbers[0])
    assert twilio.wait_for_lookups(1)  # in progress: one of the three
    with caplog.at_level(logging.WARNING, logger="ivr.lookup"):
        returns(*(lambda n=n: line_types.look_up_later(n) for n in numbers[1:]))
    assert line_types.stats.dropped == 3
    assert "line type lookups dropped (1 so far): 3 already waiting" in caplog.text
    twilio.release_lookups()
    assert line_types.wait_idle(HANG_GUARD)
    assert twilio.looked_up == numbers[:3]
    assert [line_types.textability(n) for n in numbers] == [NO] * 3 + [UNKNOWN] * 3


def test_stop_does_not_wait_for_a_hanging_lookup(make_line_types, twilio):
    line_types = make_line_types(timeout=1.0)
    twilio.hold_lookups()
    line_types.look_up_later(CALLER)
    line_types.look_up_later(OTHER)
    assert twilio.wait_for_lookups(1)
    assert len(lookup_threads()) == 1
    started = time.monotonic()
    returns(lambda: line_types.stop(wait=0.1))
    assert time.monotonic() - started < 0.9  # not the lookup's 1 s timeout
    for thread in lookup_threads():  # ended by the lookup's timeout; a hang guard here
        thread.join(HANG_GUARD)
    assert lookup_threads() == []
    assert line_types.stats.failures == 0  # stopping is not Lookup's failure
    line_types.look_up_later(OTHER)  # stopped: nothing more is asked, nothing fails
    assert line_types.textability(CALLER) == line_types.textability(OTHER) == UNKNOWN
    assert lookup_threads() == [] and twilio.looked_up == [CALLER]


def test_the_thread_starts_with_the_first_lookup(line_types):
    assert lookup_threads() == []
    line_types.textability(CALLER)
    line_types.look_up_later("+18005550199")
    assert lookup_threads() == []
    looked_up(line_types, CALLER)
    assert len(lookup_threads()) == 1


# ---------------------------------------------------------------------- logs and settings


def test_logs_show_no_phone_number(make_line_types, twilio, clock, caplog):
    twilio.line_types[CALLER] = "mobile"
    line_types = make_line_types()
    with caplog.at_level(logging.INFO, logger="ivr.lookup"):
        twilio.fail_lookups(1, 404)
        looked_up(line_types, CALLER)
        clock.advance(FAILURE_TTL)
        twilio.down()  # requests' error names the URL, and so the number
        looked_up(line_types, CALLER)
        clock.advance(FAILURE_TTL)
        twilio.up()
        looked_up(line_types, CALLER)
    assert "line type of +1514…23: mobile (mobile)" in caplog.text
    assert "unknown, asked again in 10 min: Lookup answered HTTP 404" in caplog.text
    assert "unknown, asked again in 10 min: ConnectionError" in caplog.text
    assert "5550123" not in caplog.text


def test_a_broken_lookup_warns_once_a_minute(make_line_types, twilio, clock, caplog):
    line_types = make_line_types()
    twilio.fail_lookups(3, 500)
    with caplog.at_level(logging.INFO, logger="ivr.lookup"):
        for number in ("+15145550101", "+15145550102"):
            looked_up(line_types, number)
        clock.advance(WARN_EVERY)
        looked_up(line_types, "+15145550103")
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING"]
    assert all("Lookup answered HTTP 500" in r.getMessage() for r in caplog.records)


def line_types_of(app: Flask) -> LineTypes:
    lookup.init_app(app)  # again, if create_app does it: a LineTypes starts no thread by itself
    return services(app).line_types


def test_init_app(make_app, twilio):
    def configured(**settings: Any) -> bool:
        return line_types_of(make_app(migrate=False, **settings)).configured

    assert configured(**twilio.settings(), IVR_LOOKUP=True)  # (tests' apps default to off)
    assert not configured(**twilio.settings(), IVR_LOOKUP=False)
    assert not configured(**twilio.settings(), IVR_LOOKUP="0")
    assert configured(**twilio.settings(), IVR_LOOKUP="oui")
    assert not configured(**twilio.settings(sms_from=None), IVR_LOOKUP=True)  # no text offered
    assert not configured(IVR_LOOKUP=True)
    assert lookup_configured({**twilio.settings(), "IVR_LOOKUP": "1"})
    with pytest.raises(ValueError, match="TWILIO_LOOKUP_BASE_URL"):
        line_types_of(make_app(migrate=False, **{**twilio.settings(), "IVR_LOOKUP": True,
                                                 "TWILIO_LOOKUP_BASE_URL": "lookups"}))


def test_init_app_from_the_environment(make_app, twilio, monkeypatch):
    settings = twilio.settings()
    monkeypatch.setenv("TWILIO_LOOKUP_BASE_URL", settings.pop("TWILIO_LOOKUP_BASE_URL") + "/")
    monkeypatch.setenv("IVR_LOOKUP", "0")
    assert not line_types_of(make_app(migrate=False, **settings)).configured
    monkeypatch.setenv("IVR_LOOKUP", "1")
    line_types = line_types_of(make_app(migrate=False, **settings, IVR_LOOKUP="1"))
    assert line_types.configured
    try:
        assert looked_up(line_types, CALLER) == NO
    finally:
        line_types.stop()
    assert twilio.looked_up == [CALLER]
