"""Only Twilio can drive the line, and nothing a request says can break it or pick a number.

Signatures (HMAC-SHA1 with the auth token, HMAC-SHA256 with a shared key), the URL Twilio
signed behind a TLS proxy, the start-up rule on the token, and hostile input: extra or forged
parameters, garbage keys, unknown nodes and tampered call state. Every answer that is TwiML
must pass the checker of tests/twiml_rules.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import yaml
from flask import Flask
from twilio.request_validator import RequestValidator
from twiml_rules import (
    BASE,
    assert_valid,
    line_requests,
    make_line_app,
    node_requests,
    numbers,
    said,
    signed_post,
    twilio_form,
)

from ivr import REPO_ROOT, SETTINGS, create_app, migrations, stop_threads
from ivr.loading import load
from ivr.security import DEV_TOKEN, InsecureStart, sign
from ivr.services import services

TOKEN = "security-test-token"
AT = "2026-12-01T10:00:00-05:00"  # a Tuesday, 10:00: the CSI and the CSSNS are open
NIGHT = "2026-12-01T19:30:00-05:00"
PUBLIC = "https://ligne.example.org"
SHARED_KEY = "shared-key-secret"
SHA256_SETTINGS = "key=webhooks_sharedkey_0123456789abcdef,algorithm=HMAC_SHA256"
CONFIG = load(REPO_ROOT)
GATHERING = sorted(n.id for n in CONFIG.nodes.values() if n.gathers)
ROOT = CONFIG.line.root
PROVIDER_PHONES = {
    str(p["phone"])
    for p in yaml.safe_load((REPO_ROOT / "schedules" / "providers.yaml").read_text())[
        "providers"].values()
    if p.get("phone")
}

# Every webhook, with a form it accepts; all but the callbacks answer TwiML.
ENDPOINTS = [
    ("/voice", {}),
    (f"/voice/node/{ROOT}", {}),
    (f"/voice/input/{ROOT}", {"Digits": "1"}),
    ("/voice/shortcut", {"Digits": "11"}),
    ("/voice/dial/urgence_ti/0?p=accueil", {"DialCallStatus": "no-answer"}),
    ("/voice/record/vm_telesante", {"RecordingUrl": "https://api.twilio.com/RE1",
                                    "RecordingSid": "RE" + "1" * 32, "RecordingDuration": "5"}),
    ("/voice/recording/vm_telesante", {"RecordingUrl": "https://api.twilio.com/RE1",
                                       "RecordingSid": "RE" + "1" * 32,
                                       "RecordingStatus": "completed"}),
    ("/voice/status", {"CallStatus": "completed", "CallDuration": "60"}),
]
ENDPOINT_IDS = [path.split("?")[0] for path, _ in ENDPOINTS]


@pytest.fixture(scope="module")
def client():
    return make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=AT).test_client()


@pytest.fixture(scope="module")
def night_client():
    return make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=NIGHT).test_client()


def post(client, path: str, form: dict[str, str], signature: str, **headers: str):
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature, **headers})


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("path,extra", ENDPOINTS, ids=ENDPOINT_IDS)
def test_valid_signature_is_served(client, path, extra):
    response = signed_post(client, path, twilio_form(**extra))
    assert response.status_code in (200, 204), response.get_data()
    if response.status_code == 200:
        assert_valid(response, path)


@pytest.mark.parametrize("path,extra", ENDPOINTS, ids=ENDPOINT_IDS)
def test_no_signature_is_refused(client, path, extra):
    assert client.post(path, data=twilio_form(**extra)).status_code == 403
    assert post(client, path, twilio_form(**extra), "").status_code == 403


@pytest.mark.parametrize("path,extra", ENDPOINTS, ids=ENDPOINT_IDS)
def test_wrong_signature_is_refused(client, path, extra):
    form = twilio_form(**extra)
    good = sign(BASE + path, form, TOKEN)
    for bad in ("x", good[:-2] + "AA", good.lower(), sign(BASE + path, form, "another-token")):
        assert bad != good
        assert post(client, path, form, bad).status_code == 403, bad


def test_signature_for_another_url_is_refused(client):
    form = twilio_form(Digits="2")
    for signed_for, sent_to in [
        ("/voice/status", "/voice"),
        (f"/voice/input/{ROOT}", "/voice/input/patient"),
        (f"/voice/input/{ROOT}?p=a", f"/voice/input/{ROOT}?p=b"),  # the query is signed too
        (f"/voice/input/{ROOT}", f"/voice/input/{ROOT}?n=2"),
    ]:
        signature = sign(BASE + signed_for, form, TOKEN)
        assert post(client, sent_to, form, signature).status_code == 403, (signed_for, sent_to)
    signature = sign("https://localhost/voice", twilio_form(), TOKEN)  # another scheme
    assert post(client, "/voice", twilio_form(), signature).status_code == 403


def test_tampered_body_is_refused(client):
    path = f"/voice/input/{ROOT}"
    form = twilio_form(Digits="1")
    signature = sign(BASE + path, form, TOKEN)
    assert post(client, path, form, signature).status_code == 200
    assert post(client, path, {**form, "Digits": "2"}, signature).status_code == 403
    assert post(client, path, {**form, "To": "+15551234567"}, signature).status_code == 403
    assert post(client, path, {**form, "Extra": "x"}, signature).status_code == 403
    shorter = {k: v for k, v in form.items() if k != "Digits"}
    assert post(client, path, shorter, signature).status_code == 403


def test_default_port_may_be_in_the_signed_url(client):
    form = twilio_form()
    assert post(client, "/voice", form, sign("http://localhost:80/voice", form, TOKEN)) \
        .status_code == 200


# --------------------------------------------------------------------------- behind a proxy


@pytest.fixture(scope="module")
def public_client():
    return make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=AT, IVR_PUBLIC_URL=PUBLIC).test_client()


def test_public_url_is_what_twilio_signed(public_client):
    form = twilio_form()
    assert signed_post(public_client, "/voice", form, base=PUBLIC).status_code == 200
    assert signed_post(public_client, "/voice", form, base=PUBLIC + ":443").status_code == 200
    path = f"/voice/input/{ROOT}?p={ROOT}&n=1"
    assert_valid(signed_post(public_client, path, twilio_form(Digits="2"), base=PUBLIC))
    assert signed_post(public_client, "/voice", form, base="http://localhost").status_code == 403
    assert signed_post(public_client, "/voice", form, base="http://ligne.example.org") \
        .status_code == 403


def test_public_url_with_trailing_slash():
    client = make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=AT,
                           IVR_PUBLIC_URL=PUBLIC + "/").test_client()
    assert signed_post(client, "/voice", base=PUBLIC).status_code == 200


def test_recording_callback_is_the_public_url(public_client):
    root = assert_valid(signed_post(public_client, "/voice/node/vm_telesante", base=PUBLIC))
    callback = root.find("Record").get("recordingStatusCallback")
    assert callback.startswith(PUBLIC + "/voice/recording/"), callback


@pytest.fixture(scope="module")
def forwarded_client():
    return make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=AT,
                         IVR_TRUSTED_PROXIES="1").test_client()


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ligne.example.org",
             "X-Forwarded-For": "203.0.113.7"}


def test_trusted_proxy_headers_are_honoured(forwarded_client):
    ok = signed_post(forwarded_client, "/voice", base=PUBLIC, headers=FORWARDED)
    assert ok.status_code == 200
    wrong = signed_post(forwarded_client, "/voice", base="http://localhost", headers=FORWARDED)
    assert wrong.status_code == 403
    direct = signed_post(forwarded_client, "/voice", base="http://localhost")
    assert direct.status_code == 200
    root = assert_valid(signed_post(forwarded_client, "/voice/node/vm_telesante", base=PUBLIC,
                             headers=FORWARDED))
    assert root.find("Record").get("recordingStatusCallback", "").startswith(PUBLIC + "/")


def test_forwarded_headers_are_ignored_without_trusted_proxies(client):
    spoofed = signed_post(client, "/voice", base=PUBLIC, headers=FORWARDED)
    assert spoofed.status_code == 403
    assert signed_post(client, "/voice", base=BASE, headers=FORWARDED).status_code == 200


# --------------------------------------------------------------------------- start-up rule


@pytest.fixture
def clean_env(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


BARE = {"TESTING": True, "DATABASE_URL": "sqlite://", "IVR_WORKER": False}


STARTED: list[Flask] = []


@pytest.fixture(autouse=True)
def stop_started_apps():
    yield
    while STARTED:
        stop_threads(STARTED.pop())


def start(config: dict):
    """create_app with the environment as the test set it, on a migrated database (its
    threads stopped when the test ends)."""
    app = create_app(config)
    STARTED.append(app)
    migrations.upgrade(services(app).store.engine)
    return app


def test_refuses_to_start_without_a_token(clean_env):
    with pytest.raises(InsecureStart):
        create_app(BARE)
    with pytest.raises(InsecureStart):
        create_app({**BARE, "TWILIO_AUTH_TOKEN": ""})
    with pytest.raises(InsecureStart):
        create_app({**BARE, "IVR_DEV": False})
    clean_env.setenv("IVR_DEV", "0")
    with pytest.raises(InsecureStart):
        create_app(BARE)


@pytest.mark.parametrize("how", ["config", "env"])
def test_dev_mode_uses_the_public_dev_token(clean_env, how):
    if how == "env":
        clean_env.setenv("IVR_DEV", "1")
        app = start(BARE)
    else:
        app = start({**BARE, "IVR_DEV": True})
    assert app.config["TWILIO_AUTH_TOKEN"] == DEV_TOKEN
    client = app.test_client()
    assert signed_post(client, "/voice", token=DEV_TOKEN).status_code == 200
    assert signed_post(client, "/voice", token=TOKEN).status_code == 403


def test_dev_mode_never_replaces_a_real_token(clean_env):
    clean_env.setenv("IVR_DEV", "1")
    clean_env.setenv("TWILIO_AUTH_TOKEN", "real-token-from-env")
    app = start(BARE)
    assert app.config["TWILIO_AUTH_TOKEN"] == "real-token-from-env"
    client = app.test_client()
    assert signed_post(client, "/voice", token=DEV_TOKEN).status_code == 403


# --------------------------------------------------------------------------- HMAC-SHA256


@pytest.fixture(scope="module")
def shared_client():
    return make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=AT,
                         TWILIO_WEBHOOK_SHARED_KEY=SHARED_KEY).test_client()


def sha256_post(client, path: str, form: dict[str, str], key: str, *,
                algorithm: str = "HMAC_SHA256", settings: str = SHA256_SETTINGS):
    signature = RequestValidator(key).compute_signature(BASE + path, form, algorithm)
    return post(client, path, form, signature, **{"X-Twilio-Webhooks-Signature-Settings":
                                                  settings})


def test_hmac_sha256_with_the_shared_key(shared_client):
    form = twilio_form()
    assert_valid(sha256_post(shared_client, "/voice", form, SHARED_KEY))
    path = f"/voice/input/{ROOT}"
    assert_valid(sha256_post(shared_client, path, twilio_form(Digits="1"), SHARED_KEY))
    # the legacy auth-token signature still works alongside
    assert signed_post(shared_client, "/voice", form).status_code == 200


def test_hmac_sha256_refusals(shared_client):
    form = twilio_form()
    assert sha256_post(shared_client, "/voice", form, TOKEN).status_code == 403
    assert sha256_post(shared_client, "/voice", form, SHARED_KEY,
                       algorithm="HMAC_SHA1").status_code == 403
    assert sha256_post(shared_client, "/voice", form, "other-key").status_code == 403
    signature = RequestValidator(SHARED_KEY).compute_signature(BASE + "/voice", form,
                                                               "HMAC_SHA256")
    tampered = {**form, "From": "+15551234567"}
    assert post(shared_client, "/voice", tampered, signature, **{
        "X-Twilio-Webhooks-Signature-Settings": SHA256_SETTINGS}).status_code == 403
    unknown = "key=webhooks_sharedkey_x,algorithm=HMAC_MD5"
    assert post(shared_client, "/voice", form, signature, **{
        "X-Twilio-Webhooks-Signature-Settings": unknown}).status_code == 403


# --------------------------------------------------------------------------- methods, files


@pytest.mark.parametrize("path", ["/voice", f"/voice/input/{ROOT}", "/voice/status",
                                  "/voice/dial/urgence_ti/0"])
def test_get_is_405_not_500(client, path):
    assert client.get(path).status_code == 405
    signature = sign(BASE + path, {}, TOKEN)
    assert client.get(path, headers={"X-Twilio-Signature": signature}).status_code == 405
    assert client.put(path, data=twilio_form()).status_code in (403, 405)


@pytest.mark.parametrize("path", ["/voice/audio/..%2F..%2Fmenus%2Fligne.yaml",
                                  "/voice/audio/../../menus/ligne.yaml",
                                  "/voice/audio/%2Fetc%2Fpasswd", "/voice/audio/nope.mp3"])
def test_audio_files_stay_in_their_folder(client, path):
    response = client.get(path)
    assert response.status_code in (404, 308), (path, response.status_code)  # 308: '//' merged
    assert b"root:" not in response.get_data() and b"line:" not in response.get_data()


def test_oversized_request_is_a_client_error(client):
    form = twilio_form(Digits="1" * (70 * 1024))
    response = signed_post(client, f"/voice/input/{ROOT}", form)
    assert 400 <= response.status_code < 500


# --------------------------------------------------------------------------- numbers


FORGED = "+15551234567"
INJECTED = {"To": FORGED, "Called": FORGED, "Number": FORGED, "PhoneNumber": FORGED,
            "ForwardedFrom": FORGED, "Caller": FORGED, "From": FORGED, "DialNumber": FORGED,
            "CallerId": FORGED, "Dial": FORGED, "number": FORGED}


def test_provider_phones_are_known():
    assert {"+15142514000", "+15142513050", "+18335640404"} <= PROVIDER_PHONES


@pytest.mark.parametrize("when", ["day", "night"])
def test_no_number_dialled_comes_from_the_request(client, night_client, when):
    client = client if when == "day" else night_client
    requests = [r for n in sorted(CONFIG.nodes) for r in node_requests(CONFIG, n)]
    requests += list(line_requests(CONFIG))
    dialled: set[str] = set()
    for label, path, extra in requests:
        sep = "&" if "?" in path else "?"
        path = f"{path}{sep}number={FORGED}&to={FORGED}"
        form = {**twilio_form(**extra), **INJECTED}
        response = signed_post(client, path, form)
        if response.status_code == 204:
            continue
        root = assert_valid(response, f"{label} {path}")
        assert FORGED not in response.get_data(as_text=True), (label, path)
        for number in numbers(root):
            assert number in PROVIDER_PHONES, (label, path, number)
            dialled.add(number)
        for dial in root.iter("Dial"):
            assert dial.get("callerId") in (None, *PROVIDER_PHONES), dial.attrib
    assert dialled, "the walk dialled nobody: it proves nothing"


# --------------------------------------------------------------------------- garbage keys

GARBAGE = {
    "letters": "abc",
    "letter": "a",
    "two digits": "12",
    "ten kB": "1" * 10240,
    "markup": "<Say>x</Say>",
    "unicode digit": "١",
    "fullwidth one": "１",
    "emoji": "💥",
    "space": " ",
    "nul": "1\x00",
    "sql": "1' OR '1'='1",
    "star and digit": "*1",
    "hash twice": "##",
}


@pytest.mark.parametrize("node_id", GATHERING)
def test_garbage_keys_reprompt(client, node_id):
    path = f"/voice/input/{node_id}?p={ROOT}"
    for name, digits in GARBAGE.items():
        response = signed_post(client, path, twilio_form(Digits=digits))
        root = assert_valid(response, f"{node_id} {name}")
        assert root.find("Gather") is not None, (node_id, name)
        assert "Ce choix n'est pas offert" in said(root), (node_id, name, said(root))
        if len(digits) > 3:  # what the caller typed is never read back to them
            assert digits not in said(root), (node_id, name)


@pytest.mark.parametrize("node_id", GATHERING)
def test_empty_key_is_silence(client, node_id):
    """An empty Digits is the caller saying nothing: the menu again, or goodbye after a message
    (the spec's "no key before the timeout")."""
    path = f"/voice/input/{node_id}?p={ROOT}"
    root = assert_valid(signed_post(client, path, twilio_form(Digits="")), node_id)
    node = CONFIG.nodes[node_id]
    if node.type == "menu":
        assert root.find("Gather") is not None
    elif node.silence:  # an information that goes on when the caller stays on the line
        assert root.find("Dial") is not None or root.find("Gather") is not None
    else:
        assert root.find("Hangup") is not None and "au revoir" in said(root)


def test_garbage_shortcuts_reprompt(client):
    for name, digits in [*GARBAGE.items(), ("empty", ""), ("unknown", "77"), ("one", "1")]:
        response = signed_post(client, "/voice/shortcut", twilio_form(Digits=digits))
        root = assert_valid(response, name)
        assert root.find("Gather") is not None, name
        if digits:  # silence is not an unknown shortcut: the menu again, without the word
            assert "Ce raccourci n'existe pas" in said(root), (name, said(root))
        else:
            assert "Ce raccourci n'existe pas" not in said(root), (name, said(root))


# --------------------------------------------------------------------------- tampered URLs


def assert_welcome(root: ET.Element, label: str) -> None:
    gather = root.find("Gather")
    assert gather is not None, label
    assert gather.get("action", "").split("?")[0] == f"/voice/input/{ROOT}", (label, gather.attrib)
    assert "soutien technologique en télésanté" in said(root), (label, said(root))


@pytest.mark.parametrize("path,extra", [
    ("/voice/input/nope", {"Digits": "1"}),
    ("/voice/input/nope", {}),
    ("/voice/node/nope", {}),
    ("/voice/node/Say", {}),
    ("/voice/dial/nope/0", {"DialCallStatus": "no-answer"}),
    ("/voice/dial/nope/0", {"DialCallStatus": "busy"}),
    ("/voice/dial/nope/0", {}),
], ids=lambda v: str(v))
def test_unknown_node_goes_to_the_welcome_menu(client, path, extra):
    assert_welcome(assert_valid(signed_post(client, path, twilio_form(**extra)), path), path)


@pytest.mark.parametrize("path", [
    "/voice/dial/urgence_ti/99", "/voice/dial/accueil/0", "/voice/record/nope",
    "/voice/input/vm_telesante", "/voice/input/urgence_ti",
])
def test_odd_but_signed_urls_answer_valid_twiml(client, path):
    assert_valid(signed_post(client, path, twilio_form(DialCallStatus="failed", Digits="1")), path)


def test_negative_step_is_not_a_server_error(client):
    response = signed_post(client, "/voice/dial/urgence_ti/-1",
                           twilio_form(DialCallStatus="failed"))
    assert response.status_code < 500


STATES = ["p=garbage", "p=..", "p=" + "accueil." * 600, "p=" + "x" * 5000,
          "p=<Say>oops</Say>", "p=accueil&p=personnel", "n=999", "n=-5", "n=abc",
          "n=", "n=1e3", "n=%00", "n=2&n=0", "p=personnel.patient.accueil&n=2", "p=&n="]


@pytest.mark.parametrize("state", STATES)
def test_tampered_state_answers_valid_twiml(client, state):
    for path, extra in [(f"/voice/input/{ROOT}", {"Digits": "7"}),
                        ("/voice/input/personnel", {"Digits": "*"}),
                        ("/voice/input/personnel", {"Digits": "3"}),
                        ("/voice/input/patient_internet", {}),
                        ("/voice/node/personnel", {}),
                        ("/voice/dial/urgence_ti/0", {"DialCallStatus": "busy"}),
                        ("/voice/record/vm_telesante", {})]:
        full = f"{path}?{state}"
        root = assert_valid(signed_post(client, full, twilio_form(**extra)), full)
        for element in root.iter():
            for name in ("action", "recordingStatusCallback"):
                assert len(element.get(name, "")) < 1024, (full, name, len(element.get(name)))


# --------------------------------------------------------------------------- encoded URLs

ENCODED = [
    ("/voice/node/%C3%A9t%C3%A9", {}),  # an unknown node with an accent
    ("/voice/node/%3CSay%3E", {}),
    (f"/voice/input/{ROOT}?p=%C3%A9quipe", {"Digits": "1"}),
    (f"/voice/input/{ROOT}?p=a%2Fb", {"Digits": "1"}),
    (f"/voice/input/{ROOT}?p=%3CSay%3Eoops%3C%2FSay%3E", {"Digits": "1"}),
]


@pytest.mark.parametrize("path,extra", ENCODED, ids=[e[0] for e in ENCODED])
def test_percent_encoded_url_is_checked_as_twilio_signed_it(client, public_client, path, extra):
    """Twilio signs the URL exactly as it requests it, %-escapes included."""
    assert_valid(signed_post(client, path, twilio_form(**extra)), path)
    assert_valid(signed_post(public_client, path, twilio_form(**extra), base=PUBLIC), path)


def test_node_ids_with_accents_are_refused_or_served(config_copy):
    """An administrator may write node ids with accents: either ``ivr check`` refuses them,
    or the line serves them (Twilio calls back /voice/input/%C3%A9t%C3%A9, signed so)."""
    from ivr.config import ConfigInvalid
    from ivr.loading import check
    from ivr.simulator import CallSimulator

    menus = config_copy / "menus" / "patient.yaml"
    text = menus.read_text(encoding="utf-8")
    renamed = text.replace("  patient_question:\n", "  question_été:\n").replace(
        "{to: patient_question,", "{to: question_été,")
    assert renamed.count("question_été") == 2
    menus.write_text(renamed, encoding="utf-8")
    found = check(config_copy)
    if found:
        assert [p for p in found if "question_été" in str(p)] == found, found
        return
    try:
        app = make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=AT, IVR_CONFIG_DIR=str(config_copy))
    except ConfigInvalid as exc:  # pragma: no cover - check() and load() agree
        pytest.fail(str(exc))
    result = CallSimulator(app).play("1,2,1")
    assert [e.status for e in result.exchanges] == [200] * len(result.exchanges), \
        [(e.url, e.status) for e in result.exchanges]
    assert result.kind == "record", result.to_dict()


# --------------------------------------------------------------------------- callbacks, callers


@pytest.mark.parametrize("extra", [
    {"RecordingDuration": "abc", "RecordingSid": "RE1", "RecordingUrl": "x"},
    {"RecordingDuration": "-1", "RecordingSid": "RE" + "9" * 5000,
     "RecordingUrl": "javascript:alert(1)"},
    {"RecordingDuration": "9" * 40, "RecordingSid": "RE2", "RecordingUrl": ""},
    {"RecordingStatus": "absent", "RecordingSid": "RE3"},
    {},
], ids=["letters", "huge sid", "huge duration", "absent", "nothing"])
@pytest.mark.parametrize("node_id", ["vm_telesante", "nope", ROOT])
def test_odd_recording_callbacks(client, node_id, extra):
    for path in (f"/voice/record/{node_id}?p={ROOT}", f"/voice/recording/{node_id}"):
        response = signed_post(client, path, twilio_form(**extra))
        assert response.status_code in (200, 204), (path, response.status_code)
        if response.status_code == 200:
            assert_valid(response, path)


@pytest.mark.parametrize("extra", [{"CallStatus": "completed", "CallDuration": "abc"},
                                   {"CallStatus": "x" * 5000, "CallDuration": "-3"},
                                   {"CallSid": ""}, {"CallSid": "CA" + "1" * 5000}])
def test_odd_status_callbacks(client, extra):
    response = signed_post(client, "/voice/status", twilio_form(**extra))
    assert response.status_code in (200, 204), response.status_code


@pytest.fixture(scope="module")
def sms_client():
    return make_line_app(TWILIO_AUTH_TOKEN=TOKEN, IVR_NOW=AT, TWILIO_ACCOUNT_SID="AC" + "0" * 32,
                         IVR_SMS_FROM="+15145550000").test_client()


CALLERS = ["+15145550123", "anonymous", "", "+442071838750", "+18005551234", "1" * 5000,
           "<Say>x</Say>"]


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c[:16] or "empty")
def test_text_offer_only_when_it_can_be_sent(sms_client, caller):
    """The caller's number is untrusted: every node answers valid TwiML, and the SMS key is
    offered only when the text can be sent (then pressing it says the text was sent)."""
    offered = 0
    for node in (n for n in CONFIG.nodes.values() if n.sms is not None):
        form = twilio_form(From=caller, Caller=caller)
        offer = said(assert_valid(signed_post(sms_client, f"/voice/node/{node.id}?p={ROOT}", form),
                           node.id))
        pressed = said(assert_valid(signed_post(sms_client, f"/voice/input/{node.id}?p={ROOT}",
                                         {**form, "Digits": node.sms.key}), node.id))
        if "texto" in offer:
            offered += 1
            assert "le message arrivera dans un instant" in pressed, (node.id, caller, pressed)
        else:
            assert "Ce choix n'est pas offert" in pressed, (node.id, caller, pressed)
    if caller == CALLERS[0]:  # a Montréal number: texts can be sent to it
        assert offered, "no node offered a text: the test proves nothing"


def test_star_00_reads_the_shortcuts_then_takes_one(client):
    root = assert_valid(signed_post(client, "/voice/shortcut", twilio_form(Digits="00")), "*00")
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "2"
    assert gather.get("action", "").endswith("/voice/shortcut")
    for code in CONFIG.line.shortcuts:
        assert f"étoile {code[0]} {code[1]}" in said(root), code



def test_a_server_without_a_token_says_why_in_one_line_not_a_traceback():
    """``gunicorn app:app`` imports app.py: its refusal is one French line, exit 4 (gunicorn's
    "application failed to load", so it does not respawn workers in a loop)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    done = subprocess.run([sys.executable, "-c", "import app"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("La ligne refuse de démarrer : TWILIO_AUTH_TOKEN")
