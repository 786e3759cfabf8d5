"""Safe failure: whatever breaks inside a webhook, the caller hears an apology and reaches a
person (staff) or a voicemail (everyone else), never silence or Twilio's stock error.

Also: Twilio's fallback URL, the per-request log line, replays, and an ``IVR_PUBLIC_URL`` with a
path (the app behind a proxy at ``https://host/ligne``).
"""

from __future__ import annotations

import json
import logging

import pytest
from twiml_rules import assert_valid, said, signed_post, twilio_form

from ivr import voice
from ivr.services import services
from ivr.simulator import CallSimulator

CSI = "+15142514000"
SORRY = "Désolé, un problème technique est survenu."


@pytest.fixture
def broken(monkeypatch):
    """Every key press raises, as a bug or a dead dependency would."""

    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(voice.Turn, "key_pressed", explode)


def first(root, tag):
    found = root.find(tag)
    assert found is not None, f"no <{tag}> in the answer"
    return found


@pytest.mark.parametrize(("path", "expect"), [
    ("/voice/input/personnel_technique?p=accueil.personnel", "dial"),    # staff: urgent line
    ("/voice/input/personnel?p=accueil", "dial"),
    ("/voice/input/patient_technique?p=accueil.patient", "record"),      # patients: voicemail
    ("/voice/input/accueil", "record"),                                 # no branch yet
])
def test_an_exception_becomes_an_apology_and_a_route(client, broken, caplog, path, expect):
    with caplog.at_level(logging.ERROR, logger="ivr.voice"):
        response = signed_post(client, path, twilio_form(Digits="1"))
    assert response.status_code == 200
    root = assert_valid(response)
    assert said(root).startswith(SORRY)
    if expect == "dial":
        assert first(root, "Dial").findtext("Number").strip() == CSI
    else:
        assert first(root, "Record").get("action").startswith("/voice/record/vm_telesante")
    assert "CA" + "f" * 32 in caplog.text  # logged with the call SID
    assert "RuntimeError: boom" in caplog.text


def test_at_night_the_staff_failure_route_is_the_on_call_line(make_app, broken):
    app = make_app(IVR_NOW="2026-12-05T23:30:00-05:00")  # Saturday night: CSI closed
    root = assert_valid(signed_post(app.test_client(),
                                    "/voice/input/personnel?p=accueil",
                                    twilio_form(Digits="1")))
    cda = services(app).line.config.providers["cda"].phone
    assert first(root, "Dial").findtext("Number").strip() == cda


def test_when_the_failure_route_fails_too_the_last_resort_records(client, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(voice.Turn, "key_pressed", explode)
    monkeypatch.setattr(voice.Turn, "after_failure", explode)
    response = signed_post(client, "/voice/input/accueil", twilio_form(Digits="1"))
    assert response.status_code == 200
    root = assert_valid(response)
    assert said(root).startswith(SORRY)
    assert first(root, "Record").get("action") == "/voice/record/vm_telesante"


@pytest.mark.parametrize(("error_url", "expect"), [
    ("https://ligne.example.org/voice/input/personnel_technique?p=accueil.personnel", "dial"),
    ("https://ligne.example.org/voice/dial/urgence_ti/0?p=accueil.personnel", "dial"),
    ("https://ligne.example.org/voice/input/patient?p=accueil", "record"),
    ("https://ligne.example.org/voice", "record"),
    ("", "record"),
    ("not a url at all %%%", "record"),
])
def test_twilio_fallback_url(client, caplog, error_url, expect):
    form = twilio_form(ErrorCode="11200", ErrorUrl=error_url)
    with caplog.at_level(logging.WARNING, logger="ivr.voice"):
        response = signed_post(client, "/voice/fallback", form)
    root = assert_valid(response)
    assert said(root).startswith(SORRY)
    if expect == "dial":
        assert first(root, "Dial").findtext("Number").strip() == CSI
    else:
        assert first(root, "Record") is not None
    assert "ErrorCode=11200" in caplog.text


def test_fallback_after_a_recording_thanks_the_caller(client):
    form = twilio_form(ErrorCode="11205",
                       ErrorUrl="https://ligne.example.org/voice/record/vm_telesante?p=accueil")
    root = assert_valid(signed_post(client, "/voice/fallback", form))
    assert "votre message est enregistré" in said(root)
    assert root.find("Record") is None and root.find("Hangup") is not None


def test_the_fallback_url_needs_a_signature_too(client):
    assert client.post("/voice/fallback", data=twilio_form(ErrorCode="11200")).status_code == 403


# ---------------------------------------------------------------------- the log line


def access_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "ivr.access"]


def test_one_structured_line_per_request_with_the_number_masked(app, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        result = CallSimulator(app, caller="+15145550123").play("2,1,1,1")
    lines = access_lines(caplog)
    assert len(lines) == len(result.exchanges) + 1  # + the status callback
    for line in lines:
        assert line["call"] == result.call_sid
        assert line["status"] in (200, 204)
        assert isinstance(line["ms"], float) and line["ms"] >= 0
        assert line["from"] != "+15145550123" and line["from"].endswith("23")
    assert [line["outcome"] for line in lines] == ["ask"] * 4 + ["dial", "hangup", "ack"]
    assert lines[1]["node"] == "accueil" and lines[1]["keys"] == "2"
    assert "5550123" not in caplog.text


def test_refused_requests_are_logged_too(client, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        client.post("/voice", data=twilio_form())
    (line,) = access_lines(caplog)
    assert line["status"] == 403 and line["outcome"] is None


# ---------------------------------------------------------------------- replays


def test_a_replayed_request_gets_the_same_answer_and_is_journaled_once(app, written_events):
    client = app.test_client()
    form = twilio_form(Digits="2")
    first_answer = signed_post(client, "/voice/input/accueil", form).get_data()
    again = signed_post(client, "/voice/input/accueil", form).get_data()
    assert first_answer == again
    keys = [e for e in written_events(app) if e["kind"] == "key"]
    assert len(keys) == 1


def test_twilio_idempotency_token_tells_a_retry_from_a_repeated_key(app, written_events):
    """Pressing # twice sends two identical signed requests: with distinct tokens, both count."""
    client = app.test_client()
    form = twilio_form(Digits="#")
    for token in ("tok-1", "tok-2", "tok-2"):
        signed_post(client, "/voice/input/personnel?p=accueil", form,
                    headers={"I-Twilio-Idempotency-Token": token})
    assert len([e for e in written_events(app) if e["kind"] == "key"]) == 2


# ---------------------------------------------------------------------- a path prefix


@pytest.mark.parametrize("proxy_strips_prefix", [True, False])
def test_public_url_with_a_path(make_app, proxy_strips_prefix):
    """Twilio calls https://ligne.example.org/ligne/voice…; the proxy may or may not strip
    /ligne. Either way signatures hold and every URL we give Twilio keeps the prefix."""
    public = "https://ligne.example.org/ligne"
    app = make_app(IVR_PUBLIC_URL=public)
    client = app.test_client()
    sent_path = "/ligne/voice" if not proxy_strips_prefix else "/voice"
    form = twilio_form()
    from ivr.security import sign

    signature = sign(public + "/voice", form, app.config["TWILIO_AUTH_TOKEN"])
    response = client.post(sent_path, data=form, headers={"X-Twilio-Signature": signature})
    root = assert_valid(response)
    assert first(root, "Gather").get("action").startswith("/ligne/voice/input/accueil")
    result = CallSimulator(app).play("1,1,1")
    assert result.kind == "record"
    record = [ex for ex in result.exchanges if ex.recorded]
    assert record
    vm = assert_valid(signed_post(client, "/ligne/voice/node/vm_telesante",
                                  base="https://ligne.example.org"))
    assert first(vm, "Record").get("recordingStatusCallback").startswith(
        "https://ligne.example.org/ligne/voice/recording/vm_telesante")


def test_unknown_shortcuts_count_as_failed_tries(client):
    """'*77' again and again is three failed tries like any other: then the fallback."""
    path = "/voice/input/accueil"
    for attempt in range(1, 4):
        star = assert_valid(signed_post(client, path, twilio_form(Digits="*")))
        shortcut = first(star, "Gather").get("action")
        answer = assert_valid(signed_post(client, shortcut, twilio_form(Digits="77")))
        if attempt < 3:
            assert "Ce raccourci n'existe pas" in said(answer) or "inconnu" in said(answer)
            path = first(answer, "Gather").get("action")
            assert path.endswith(f"n={attempt}")
        else:
            assert first(answer, "Record").get("action").startswith("/voice/record/vm_telesante")


def test_silence_at_the_shortcut_prompt_is_not_an_unknown_shortcut(client):
    star = assert_valid(signed_post(client, "/voice/input/accueil", twilio_form(Digits="*")))
    answer = assert_valid(signed_post(client, first(star, "Gather").get("action"),
                                      twilio_form()))
    assert "inconnu" not in said(answer)
    assert first(answer, "Gather").get("action").endswith("n=1")


def test_a_failure_is_journaled_where_it_happened(app, monkeypatch, written_events):
    """The statistics' "where calls fail" counts technical errors by node."""

    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(voice.Turn, "key_pressed", explode)
    signed_post(app.test_client(), "/voice/input/personnel?p=accueil", twilio_form(Digits="1"))
    events = written_events(app)
    assert ("error", "personnel") in [(e["kind"], e["node"]) for e in events]
    assert any(e["kind"] == "dial" for e in events)  # then the urgent line
