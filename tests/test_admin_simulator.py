"""Simulateur: the browser's keypad plays calls through the real line, one move per request.

The step API is driven here as simulateur.js drives it (JSON, CSRF header, the state sent back);
the calls must end where ``ivr call`` ends them, and leave nothing in the store.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from console import logged_in
from sqlalchemy import func, select

from ivr.services import services
from ivr.simulator import CallSession, CallSimulator
from ivr.store import Call, CallEvent, OutboxMessage, Voicemail

STEP = "/admin/simulateur/etape"
TUESDAY = "2026-12-01T10:00"  # datetime-local, Montréal: every team open
CHRISTMAS = "2026-12-25T10:00"
CALLER = "+15145550123"
CSI = "Transfert au +1 514 251-4000, poste 5656 (Centre de services informatiques (CSI)"
CSI_TEXT = CSI + " de la DRT)"
CDA = "Transfert au +1 514 251-3050 (Centre d'appels d'urgence (CDA)"


class Page(HTMLParser):
    """Elements by id, buttons by accessible name, and the page's scripts and styles."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.scripts: list[dict[str, str | None]] = []
        self.inline_styles = 0
        self.style_blocks = 0
        self.buttons: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {"tag": tag, **dict(attrs)}
        if "id" in attributes:
            self.by_id[attributes["id"] or ""] = attributes
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style":
            self.style_blocks += 1
        if "style" in attributes:
            self.inline_styles += 1
        if tag == "button":
            self.buttons.append(attributes)
        if tag == "meta" and attributes.get("name"):
            self.meta[attributes["name"] or ""] = attributes.get("content")


class Console:
    """The logged-in client, stepping a call as the page's script does."""

    def __init__(self, client) -> None:
        self.client = client
        page = client.get("/admin/simulateur").get_data(as_text=True)
        self.token = Page(page).meta["csrf-token"]

    def post(self, body, csrf: bool = True):
        headers = {"X-CSRFToken": self.token} if csrf else {}
        return self.client.post(STEP, json=body, headers=headers)

    def start(self, instant: str = TUESDAY, caller: str = CALLER) -> Step:
        return Step(self, instant, caller).do("start")


class Step:
    """One call in progress: the last answer, and the moves that follow."""

    def __init__(self, console: Console, instant: str, caller: str) -> None:
        self.console, self.instant, self.caller = console, instant, caller
        self.data: dict = {}
        self.transcript: list[dict] = []

    def body(self, action: str, **extra) -> dict:
        body = {"instant": self.instant, "caller": self.caller, "action": action, **extra}
        if self.data.get("state"):
            body["state"] = self.data["state"]
            body["moves"] = self.data["moves"]
        return body

    def do(self, action: str, **extra) -> Step:
        response = self.console.post(self.body(action, **extra))
        assert response.status_code == 200, response.get_data(as_text=True)
        self.data = response.get_json()
        self.transcript += self.data["entries"]
        return self

    def keys(self, keys: str) -> Step:
        for key in keys.split(","):
            assert self.awaiting["kind"] == "keys", self.data
            self.do("keys", keys=key)
        return self

    @property
    def awaiting(self) -> dict:
        return self.data["awaiting"]

    @property
    def heard(self) -> list[str]:
        return [e["text"] for e in self.transcript if e["kind"] == "prompt"]


@pytest.fixture
def sim(console) -> Console:
    return Console(console)


def prompt(app, prompt_id: str) -> str:
    return services(app).line.config.prompts[prompt_id].text


def rows(app) -> dict[str, int]:
    store = services(app).store
    with store.session() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Voicemail, Call, CallEvent, OutboxMessage)}


# ---------------------------------------------------------------------- the page


def test_the_page_has_the_keypad_the_form_and_no_inline_script(console):
    response = console.get("/admin/simulateur")
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    instant = page.by_id["sim-instant"]
    assert (instant["type"], instant["value"]) == ("datetime-local", "2026-12-01T10:00")
    assert page.by_id["sim-caller"]["value"] == CALLER
    assert page.by_id["sim-preset-anonymous"]["data-number"] == "anonymous"
    assert page.by_id["sim-call"]["type"] == "submit"
    keys = {b["data-key"]: b["aria-label"] for b in page.buttons if b.get("data-key")}
    assert keys == {**{d: f"Touche {d}" for d in "0123456789"},
                    "*": "Touche étoile", "#": "Touche carré"}
    for name in ("star", "hash", *"0123456789"):
        assert page.by_id[f"sim-key-{name}"]["tag"] == "button"
    assert {page.by_id[f"sim-dial-{s}"]["data-status"]
            for s in ("completed", "no-answer", "busy", "failed")} == \
        {"completed", "no-answer", "busy", "failed"}
    assert page.by_id["sim-dial"]["hidden"] is not None or "hidden" in page.by_id["sim-dial"]
    assert page.by_id["sim-record-yes"]["data-message"] == "yes"
    assert page.by_id["sim-record-no"]["data-message"] == "no"
    for control in ("sim-silence", "sim-hangup", "sim-new", "sim-speak"):
        assert control in page.by_id
    assert page.by_id["sim-transcript"]["aria-live"] == "polite"
    assert page.by_id["simulateur"]["data-step-url"] == STEP
    # CSP: scripts only from files, no inline style.
    assert [s.get("src") for s in page.scripts] == ["/admin/static/simulateur.js"]
    assert page.inline_styles == 0 and page.style_blocks == 0
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    text = response.get_data(as_text=True)
    for label in ("Silence (attendre)", "Répond", "Pas de réponse", "Occupé", "Échec",
                  "Laisser un message", "Raccrocher sans message", "Raccrocher",
                  "Nouvel appel", "Entendre les messages", "Appeler"):
        assert f">{label}<" in text, label


def test_the_instant_is_prefilled_from_a(console):
    page = Page(console.get("/admin/simulateur?a=2026-12-25T10:00:00-05:00")
                .get_data(as_text=True))
    assert page.by_id["sim-instant"]["value"] == "2026-12-25T10:00"
    html = console.get("/admin/simulateur?a=2026-12-25T10:00:00-05:00").get_data(as_text=True)
    assert "Prérempli : vendredi 25 décembre 2026, 10 h 00." in html
    page = Page(console.get("/admin/simulateur?a=2026-07-01T14:30:00Z").get_data(as_text=True))
    assert page.by_id["sim-instant"]["value"] == "2026-07-01T10:30"  # EDT
    response = console.get("/admin/simulateur?a=demain")
    page = Page(response.get_data(as_text=True))
    assert page.by_id["sim-instant"]["value"] == "2026-12-01T10:00"
    assert "sim-page-error" in page.by_id
    assert "Moment de l&#39;appel invalide" in response.get_data(as_text=True)


def test_the_assets_are_served(console):
    with console.get("/admin/static/simulateur.js") as response:
        script = response.get_data(as_text=True)
    assert "X-CSRFToken" in script and "speechSynthesis" in script and "fr-CA" in script \
        and "en-CA" in script
    assert "http://" not in script and "https://" not in script  # no CDN, no library
    with console.get("/admin/static/simulateur.css") as response:
        assert ".keypad" in response.get_data(as_text=True)


# ---------------------------------------------------------------------- calls


def test_staff_urgent_on_a_tuesday_reaches_the_csi_extension_5656(app, sim):
    call = sim.start(TUESDAY)
    # The welcome, then its options, in one breath.
    assert call.heard[0] == prompt(app, "accueil.bienvenue") + \
        " Patient ou proche, faites le 1 ; personnel du CIUSSS, le 2."
    assert call.awaiting == {"kind": "keys", "num_digits": 1, "timeout": 6}
    call.keys("2,1,1,1")
    dial = call.awaiting
    assert dial["kind"] == "dial"
    assert (dial["number"], dial["extension"]) == ("+15142514000", "5656")
    assert dial["provider"].startswith("Centre de services informatiques")
    assert call.data["state"]["url"].startswith("/voice/dial/urgence_ti/0")
    call.do("dial", status="completed")
    assert call.data["ended"] is True and call.data["state"] is None
    assert call.data["kind"] == "dial"
    assert call.data["ending"].startswith(CSI)
    assert call.data["moves"] == ["2", "1", "1", "1", "Répond"]
    pressed = [e["text"] for e in call.transcript if e["kind"] == "keys"]
    assert pressed == ["Touche 2", "Touche 1", "Touche 1", "Touche 1"]
    assert call.transcript[-1] == {"kind": "end", "text": call.data["ending"]}


def test_the_same_keys_on_christmas_reach_the_cda(sim):
    """The instant is the step's, not the app's frozen clock (2026-12-01)."""
    call = sim.start(CHRISTMAS).keys("2,1,1,1")
    assert call.awaiting["number"] == "+15142513050"
    assert call.awaiting["extension"] is None
    call.do("dial", status="completed")
    assert call.data["ending"].startswith(CDA)
    assert call.data["instant"] == "vendredi 25 décembre 2026, 10 h 00"


def test_csi_no_answer_then_cda_busy_ends_in_the_voicemail(sim):
    call = sim.start().keys("2,1,1,1")
    call.do("dial", status="no-answer")
    assert call.awaiting["number"] == "+15142513050"
    dials = [e["text"] for e in call.transcript if e["kind"] == "dial"]
    assert dials == [CSI_TEXT + " : pas de réponse"]
    call.do("dial", status="busy")
    assert call.awaiting == {"kind": "record", "box": "Équipe télésanté"}


def test_silence_three_times_at_the_welcome_menu_ends_in_the_fallback_voicemail(app, sim):
    call = sim.start()
    call.do("silence").do("silence")
    assert call.awaiting["kind"] == "keys"
    call.do("silence")
    assert call.awaiting == {"kind": "record", "box": "Équipe télésanté"}
    # Too many tries, then the recording notice and the box's greeting.
    assert call.heard[-1] == prompt(app, "systeme.trop_d_essais") + " " + (
        "Votre message sera enregistré, conservé 90 jours et remis à l'équipe "
        "télésanté. ") + prompt(app, "vm_telesante.accueil")
    assert [e["kind"] for e in call.transcript].count("silence") == 3
    call.do("record", message=True)
    assert call.data["kind"] == "record"
    assert call.data["ending"] == "Message laissé dans la boîte « Équipe télésanté »"
    assert "message laissé" in call.data["ending"].lower()
    assert call.heard[-1] == prompt(app, "systeme.message_enregistre")


def test_a_simulated_call_leaves_no_voicemail_no_journal_no_text(app, sim):
    call = sim.start().keys("1,1,1")  # patient, lent equipment → voicemail
    assert call.awaiting["kind"] == "record"
    call.do("record", message=True)
    assert call.data["ending"].startswith("Message laissé")
    assert services(app).worker.drain()
    assert rows(app) == {"voicemails": 0, "calls": 0, "call_events": 0, "outbox": 0}
    # The same call played without the simulated flag (as Twilio would) is stored: the
    # counting above can see rows.
    CallSimulator(app).play("1,1,1")
    assert services(app).worker.drain()
    counted = rows(app)
    assert counted["voicemails"] == 1 and counted["calls"] == 1 and counted["call_events"] > 0


def test_a_text_offered_in_the_simulator_is_never_sent(make_app, twilio):
    app = make_app(**twilio.settings())
    sim = Console(logged_in(app))
    call = sim.start(caller=CALLER).keys("2,1,1")
    # The caller's line type is not looked up (IVR_LOOKUP off): the offer is for a cell phone.
    assert call.heard[-1].endswith(
        "Si vous appelez d'un cellulaire, faites le 2 pour les recevoir par texto.")
    call.keys("2")
    assert call.heard[-len(call.data["said"])].startswith(
        "Si votre numéro reçoit les textos, le message arrivera dans un instant.")
    assert services(app).worker.drain()
    assert rows(app)["outbox"] == 0 and rows(app)["call_events"] == 0
    assert twilio.requests == []


def test_hanging_up_without_a_message(sim):
    call = sim.start().keys("1,1,1")
    call.do("record", message=False)
    assert call.data["ended"] is True
    assert call.data["kind"] == "hangup"
    assert call.data["ending"] == "Fin de l'appel : raccroché sans laisser de message"


def test_hanging_up_in_a_menu_and_an_information_goodbye(app, sim):
    call = sim.start().keys("2")
    call.do("hangup")
    assert call.data["ending"] == "Fin de l'appel : vous avez raccroché"
    # Staff, personal equipment: an information message, then silence: goodbye.
    call = sim.start().keys("2,1,3")
    call.do("silence")
    assert call.data["ending"] == "Fin de l'appel"
    assert call.heard[-1] == prompt(app, "systeme.au_revoir")


def test_the_staff_shortcut_waits_for_two_keys(sim):
    call = sim.start().keys("*")
    assert call.awaiting["num_digits"] == 2
    response = sim.post(call.body("keys", keys="111"))
    assert response.status_code == 400
    assert "Touches invalides" in response.get_json()["error"]
    call.do("keys", keys="11")
    assert call.awaiting["number"] == "+15142514000"


def test_an_anonymous_caller_is_accepted(sim):
    call = sim.start(caller="anonymous")
    assert call.data["caller"] == "numéro masqué"
    assert call.awaiting["kind"] == "keys"


def test_the_step_api_and_ivr_call_play_the_same_call(app):
    """One engine: play() and a session moved by hand say the same things."""
    played = CallSimulator(app, dial_outcomes=["no-answer"]).play("2,1,1,1")
    session = CallSession(CallSimulator(app)).start()
    for key in "2111":
        session.press(key)
    session.dial_result("no-answer")
    session.dial_result("completed")
    result = session.result()
    assert result.says == played.says
    assert [d.number for d in result.dials] == [d.number for d in played.dials]
    assert result.kind == played.kind == "dial"


# ---------------------------------------------------------------------- refusals


def good_state(sim: Console) -> dict:
    return sim.start().data["state"]


TAMPERING = [
    (lambda s: s.update(url="/admin/utilisateurs"), "sous /voice/"),
    (lambda s: s.update(url="https://ailleurs.example/voice"), "sous /voice/"),
    (lambda s: s.update(url="/voice/../admin/"), "sous /voice/"),
    (lambda s: s.update(url="//ailleurs.example/voice/x"), "sous /voice/"),
    (lambda s: s.update(url="/voice/input/accueil?" + "p=" + "a" * 5000), "sous /voice/"),
    (lambda s: s.update(params={"Digits": "1" * 10_000}), "trop longue"),
    (lambda s: s.update(params={"X-Evil": "1"}), "paramètre inconnu"),
    (lambda s: s.update(params={f"Digits{i}": "1" for i in range(50)}), "paramètres"),
    (lambda s: s.update(params="Digits=1"), "paramètres"),
    (lambda s: s.update(call_sid="CA' OR 1=1"), "identifiant"),
    (lambda s: s.update(extra="x"), "champs inattendus"),
    (lambda s: s["awaiting"].update(kind="end"), "n'attend rien"),
    (lambda s: s["awaiting"].update(num_digits=10_000), "nombre de touches"),
    (lambda s: s["awaiting"].update(num_digits="1"), "nombre de touches"),
    (lambda s: s["awaiting"].update(callback="http://ailleurs.example/x"), "/voice/"),
    (lambda s: s["awaiting"].update(number="<script>"), "numéro"),
    (lambda s: s["awaiting"].update(evil=True), "attente"),
    (lambda s: s.clear(), "champs inattendus"),
]
TAMPERING_IDS = ["admin-url", "absolute-url", "dot-dot", "other-host", "long-url", "huge-param",
        "unknown-param", "many-params", "params-not-object", "bad-sid", "extra-field",
        "awaits-nothing", "many-digits", "digits-as-text", "foreign-callback", "bad-number",
        "unknown-awaiting", "empty"]


def test_a_tampered_state_is_refused_in_french(sim):
    """Every field of the state came from the browser: each is checked, none reaches the app."""
    start = good_state(sim)
    for (change, message), case in zip(TAMPERING, TAMPERING_IDS, strict=True):
        state = json.loads(json.dumps(start))
        change(state)
        response = sim.post({"instant": TUESDAY, "caller": CALLER, "action": "keys",
                             "keys": "1", "state": state})
        assert response.status_code == 400, (case, response.get_data(as_text=True))
        error = response.get_json()["error"]
        assert message in error and error.startswith("État de l'appel"), (case, error)
    # The untouched state still plays: the refusals above were the tampering's.
    response = sim.post({"instant": TUESDAY, "caller": CALLER, "action": "keys", "keys": "2",
                         "state": start})
    assert response.status_code == 200
    assert response.get_json()["moves"] == ["2"]


@pytest.mark.parametrize("body,message", [
    ({"instant": "demain", "action": "start"}, "Moment de l'appel invalide"),
    ({"instant": "", "action": "start"}, "Moment de l'appel invalide"),
    ({"instant": "1800-01-01T10:00", "action": "start"}, "entre 2000 et 2100"),
    ({"instant": ["2026"], "action": "start"}, "Moment de l'appel invalide"),
    ({"caller": "<b>moi</b>", "action": "start"}, "Numéro de l'appelant invalide"),
    ({"caller": "1" * 40, "action": "start"}, "Numéro de l'appelant invalide"),
    ({"action": "rm -rf"}, "Geste inconnu"),
    ({"action": "keys", "keys": "1"}, "État de l'appel manquant"),
    ({"action": "start", "moves": "x" * 10}, "Historique"),
    ({"action": "start", "debug": True}, "champ inconnu"),
], ids=["words", "empty", "too-old", "not-a-string", "markup-caller", "long-caller",
        "unknown-action", "no-state", "moves-not-list", "unknown-field"])
def test_bad_requests_are_refused_in_french(sim, body, message):
    response = sim.post({"instant": TUESDAY, "caller": CALLER, **body})
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_a_move_the_call_does_not_await_is_refused(sim):
    call = sim.start().keys("2,1,1,1")  # a transfer rings
    response = sim.post(call.body("keys", keys="1"))
    assert response.status_code == 400
    assert response.get_json()["error"] == \
        "Ce geste ne correspond pas à ce que l'appel attend."
    response = sim.post(call.body("dial", status="explosé"))
    assert response.status_code == 400
    assert "Résultat du transfert invalide" in response.get_json()["error"]
    response = sim.post(call.body("record", message="oui"))
    assert response.status_code == 400


def test_not_json_is_refused(sim):
    response = sim.client.post(STEP, data="instant=x", headers={"X-CSRFToken": sim.token},
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("Requête invalide")


def test_a_step_without_the_csrf_token_is_refused(sim, app):
    response = sim.post({"instant": TUESDAY, "caller": CALLER, "action": "start"}, csrf=False)
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]
    assert rows(app)["call_events"] == 0
    forged = sim.client.post(STEP, json={"instant": TUESDAY, "caller": CALLER,
                                         "action": "start"},
                             headers={"X-CSRFToken": "forged." + "x" * 40})
    assert forged.status_code == 400


def test_a_body_too_large_is_refused_in_french(sim):
    response = sim.post({"instant": TUESDAY, "caller": CALLER, "action": "start",
                         "moves": ["1"] * 40_000})
    assert response.status_code == 413
    assert response.get_json()["error"] == "Requête trop volumineuse."


def test_without_a_session_nothing_is_played(app):
    client = app.test_client()
    response = client.get("/admin/simulateur?a=2026-12-25T10:00:00-05:00")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/connexion")
    response = client.post(STEP, json={"instant": TUESDAY, "caller": CALLER, "action": "start"})
    # Refused: to the login page, or by the CSRF check that runs first (no session, no token).
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/admin/connexion")
    assert "said" not in (response.get_json(silent=True) or {})


def test_the_page_is_in_the_navigation(console):
    html = console.get("/admin/simulateur").get_data(as_text=True)
    assert re.search(r'<a href="/admin/simulateur" aria-current="page">Simulateur</a>', html)


# ---------------------------------------------------------------------- English (issue 18)


@pytest.fixture
def english_sim(make_app, config_copy):
    """The simulator on a copy of the line with English on (tests/test_english.py)."""
    from console import logged_in
    from test_english import enable_english

    app = make_app(IVR_CONFIG_DIR=str(enable_english(config_copy)))
    return app, Console(logged_in(app))


def test_a_french_only_line_has_no_language_switch(make_app, config_copy):
    from console import logged_in
    from test_english import set_languages

    set_languages(config_copy, "[fr-CA]")
    sim = Console(logged_in(make_app(IVR_CONFIG_DIR=str(config_copy))))
    page = Page(sim.client.get("/admin/simulateur").get_data(as_text=True))
    assert "sim-language" not in page.by_id and "sim-lang-en" not in page.by_id
    response = sim.post({"instant": TUESDAY, "caller": CALLER, "action": "start",
                         "language": "en"})
    assert response.status_code == 400
    assert "anglais n'est pas activé" in response.get_json()["error"]


def test_the_switch_offers_french_and_english_french_checked(english_sim):
    _, sim = english_sim
    page = Page(sim.client.get("/admin/simulateur").get_data(as_text=True))
    french, english = page.by_id["sim-lang-fr"], page.by_id["sim-lang-en"]
    assert (french["type"], french["name"], french["value"]) == ("radio", "langue", "fr")
    assert english["value"] == "en" and "checked" in french and "checked" not in english
    page = Page(sim.client.get("/admin/simulateur?langue=en").get_data(as_text=True))
    assert "checked" in page.by_id["sim-lang-en"]


def test_an_english_call_starts_in_english_without_key_9(english_sim):
    from test_english import MARK, OFFER

    app, sim = english_sim
    # A French call first: the line's answers are reused, never across languages.
    assert OFFER in Step(sim, TUESDAY, CALLER).do("start").heard
    call = Step(sim, TUESDAY, CALLER).do("start", language="en")
    assert call.data["language"] == "en"
    assert call.heard and all(text.startswith(MARK) for text in call.heard), call.heard
    assert OFFER not in call.heard
    assert {e["lang"] for e in call.transcript if e["kind"] == "prompt"} == {"en-CA"}
    assert "l=en" in call.data["state"]["url"]
    # The same keys as in French, to the same team (CSI), the prompts still in English.
    call.keys("2,1,1,1")
    assert call.awaiting["kind"] == "dial" and call.awaiting["text"].startswith(CSI)
    assert all(text.startswith(MARK) for text in call.heard)
    call.do("dial", status="completed")
    assert call.data["ended"] and call.data["ending"].startswith(CSI)
    french = CallSimulator(app, instant=_instant(TUESDAY)).play("9,2,1,1,1")
    assert french.kind == "dial"
    assert rows(app) == {"voicemails": 0, "calls": 0, "call_events": 0, "outbox": 0}


def test_a_french_call_offers_english_in_the_english_voice_and_9_switches(english_sim):
    from test_english import MARK, OFFER

    _, sim = english_sim
    call = Step(sim, TUESDAY, CALLER).do("start")
    assert call.data["language"] == "fr"
    prompts = [e for e in call.transcript if e["kind"] == "prompt"]
    assert prompts[-1] == {"kind": "prompt", "text": OFFER, "audio": None, "lang": "en-CA"}
    assert {e["lang"] for e in prompts[:-1]} == {"fr-CA"}
    before = len(call.transcript)
    call.keys("9")
    assert call.data["language"] == "en"
    said = [e for e in call.transcript[before:] if e["kind"] == "prompt"]
    assert said and all(e["text"].startswith(MARK) and e["lang"] == "en-CA" for e in said)


def test_an_unknown_language_is_refused(english_sim):
    _, sim = english_sim
    response = sim.post({"instant": TUESDAY, "caller": CALLER, "action": "start",
                         "language": "de"})
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("Langue inconnue")


def _instant(value: str):
    from ivr.admin.simulator import parse_instant

    return parse_instant(value)
