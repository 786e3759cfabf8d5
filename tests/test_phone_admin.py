"""Announcements by phone (issue 17, ``ivr.phone_admin``): *99, the manager number, the PIN,
then record, listen, choose who hears it and for how long, publish; or end the ones in
progress. Every request is signed as Twilio signs it and every answer is checked as TwiML.

The ``make_app`` clock is frozen at Tuesday 1 December 2026, 10:00 in Montréal.
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from twiml_rules import assert_valid, said, signed_post, twilio_form
from werkzeug.security import check_password_hash

from ivr import phone_admin
from ivr.admin.models import (
    AdminLoginThrottle,
    AdminUsers,
    PinThrottle,
    hash_pin,
    pin_problem,
)
from ivr.cli import main
from ivr.effects import SIMULATED
from ivr.loading import check
from ivr.overrides_store import for_app
from ivr.services import services
from ivr.simulator import CallSimulator
from ivr.store import utcnow

MONTREAL = timezone(timedelta(hours=-5))  # December: EST
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=MONTREAL)
PIN = "482915"
CALLER = "+15145550123"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32 + "/Recordings/RE" + \
    "1" * 32
SECOND = RECORDING[:-1] + "2"
WRONG = "Numéro ou NIP incorrect."
REFUSED = "Accès refusé. Réessayez plus tard. Au revoir."


# --------------------------------------------------------------------------- helpers


def ivr(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(main, list(args), input=input)


def manager(app, username: str = "marie", pin: str = PIN) -> str:
    """An account with a PIN (through the command); its manager number."""
    AdminUsers(services(app).store).create(username, "x" * 20, username.title())
    result = ivr(app, "admin", "set-pin", username, "--pin-stdin", input=pin + "\n")
    assert result.exit_code == 0, result.output
    user = AdminUsers(services(app).store).by_name(username)
    assert user is not None and user.phone_id
    return user.phone_id


class Call:
    """One call through the real app: each answer checked as TwiML, its next URL kept."""

    def __init__(self, app, call_sid: str = "CA" + "a" * 32, caller: str = CALLER) -> None:
        self.client = app.test_client()
        self.call_sid, self.caller = call_sid, caller
        self.next: str | None = None
        self.root: ET.Element | None = None
        self.bodies: list[str] = []

    def post(self, path: str, **params: str) -> str:
        form = twilio_form(CallSid=self.call_sid, From=self.caller, Caller=self.caller,
                           **params)
        response = signed_post(self.client, path, form)
        self.root = assert_valid(response, path)
        self.bodies.append(response.get_data(as_text=True))
        gather, record = self.root.find("Gather"), self.root.find("Record")
        self.next = (gather.get("action") if gather is not None else
                     record.get("action") if record is not None else None)
        return said(self.root)

    def start(self) -> str:
        """The welcome, * and 99: the manager number is asked for."""
        self.post("/voice")
        self.post("/voice/input/accueil", Digits="*")
        heard = self.post("/voice/shortcut", Digits="99")
        assert heard == "Gestion des annonces. Entrez votre numéro de gestionnaire.", heard
        assert self.next == "/voice/gestion/numero"
        return heard

    def press(self, digits: str | None) -> str:
        assert self.next, "the call is over"
        return self.post(self.next, **({} if digits is None else {"Digits": digits}))

    def record(self, url: str = RECORDING, duration: str = "9") -> str:
        assert self.root is not None and self.root.find("Record") is not None
        return self.post(self.next or "", RecordingUrl=url, RecordingDuration=duration,
                         RecordingSid="RE" + "1" * 32, Digits="#")

    def login(self, phone_id: str, pin: str = PIN) -> str:
        self.start()
        assert self.press(phone_id) == "Entrez votre NIP, suivi du carré."
        gather = self.root.find("Gather")
        assert (gather.get("finishOnKey"), gather.get("numDigits")) == ("#", "12")
        return self.press(pin)

    @property
    def hung_up(self) -> bool:
        return self.root is not None and self.root.find("Hangup") is not None


MENU = ("Pour enregistrer une annonce, faites le 1 ; pour mettre fin à une annonce en cours, "
        "le 2.")


# --------------------------------------------------------------------------- the PIN


def test_set_pin_stores_a_salted_hash_and_gives_a_manager_number(make_app):
    app = make_app()
    AdminUsers(services(app).store).create("marie", "x" * 20, "Marie T.")
    result = ivr(app, "admin", "set-pin", "marie", "--pin-stdin", input=PIN + "\n")
    assert result.exit_code == 0, result.output
    user = AdminUsers(services(app).store).by_name("marie")
    assert user is not None and user.phone_id and len(user.phone_id) == 4
    assert user.phone_id.isdigit() and user.phone_id[0] != "0"
    assert f"Numéro de gestionnaire : {user.phone_id}." in result.output
    assert "faites *99, puis ce numéro, puis le NIP suivi du carré" in result.output
    assert PIN not in result.output
    assert PIN not in user.pin_hash and user.pin_hash.startswith("scrypt:")
    assert check_password_hash(user.pin_hash, PIN)
    assert user.pin_set_at is not None
    listed = ivr(app, "admin", "users").output
    assert f"marie\tMarie T.\tdernière connexion jamais\tNIP (gestionnaire {user.phone_id})\n" \
        in listed

    # A new PIN keeps the number, with a new salt; --remove takes the PIN away.
    again = ivr(app, "admin", "set-pin", "marie", "--pin-stdin", input="739104\n")
    assert again.exit_code == 0, again.output
    changed = AdminUsers(services(app).store).by_name("marie")
    assert changed.phone_id == user.phone_id and changed.pin_hash != user.pin_hash
    assert check_password_hash(changed.pin_hash, "739104")
    removed = ivr(app, "admin", "set-pin", "marie", "--remove")
    assert removed.exit_code == 0 and "NIP de « marie » retiré." in removed.output
    gone = AdminUsers(services(app).store).by_name("marie")
    assert gone.pin_hash is None and gone.pin_set_at is None
    assert "marie\tMarie T.\tdernière connexion jamais\n" in ivr(app, "admin", "users").output


def test_each_account_gets_its_own_manager_number(make_app):
    app = make_app()
    numbers = {manager(app, name) for name in ("marie", "paul", "lea")}
    assert len(numbers) == 3


@pytest.mark.parametrize("pin", ["000000", "111111111", "123456", "987654", "0123456789",
                                 "121212", "123123", "12341234", "12345", "1234567890123",
                                 "12a456", "48 2915", "٤٨٢٩١٥", ""])
def test_set_pin_refuses_malformed_and_trivial_pins(make_app, pin):
    app = make_app()
    AdminUsers(services(app).store).create("marie", "x" * 20)
    result = ivr(app, "admin", "set-pin", "marie", "--pin-stdin", input=pin + "\n")
    assert result.exit_code == 1, result.output
    assert "NIP refusé" in result.output
    assert AdminUsers(services(app).store).by_name("marie").pin_hash is None


def test_set_pin_asks_twice_hidden_and_knows_its_accounts(make_app):
    app = make_app()
    AdminUsers(services(app).store).create("marie", "x" * 20)
    result = ivr(app, "admin", "set-pin", "marie", input=f"{PIN}\n739104\n{PIN}\n{PIN}\n")
    assert result.exit_code == 0, result.output
    assert "les deux saisies diffèrent" in result.output
    assert PIN not in result.output  # hidden input is not echoed
    assert check_password_hash(AdminUsers(services(app).store).by_name("marie").pin_hash, PIN)
    unknown = ivr(app, "admin", "set-pin", "personne", "--pin-stdin", input=PIN + "\n")
    assert unknown.exit_code == 1 and "aucun compte « personne »" in unknown.output
    assert pin_problem("482915") is None and pin_problem("20190307") is None


# --------------------------------------------------------------------------- the flow


def test_a_manager_records_and_publishes_an_announcement_by_phone(make_app, written_events,
                                                                 caplog):
    caplog.set_level(logging.INFO, logger="ivr.access")
    app = make_app()
    phone_id = manager(app)
    call = Call(app)
    assert call.login(phone_id) == MENU
    heard = call.press("1")
    assert heard == ("Au signal sonore, dites votre annonce, puis faites le carré. Vous avez "
                     "une minute.")
    record = call.root.find("Record")
    assert (record.get("maxLength"), record.get("finishOnKey"), record.get("playBeep")) == (
        "60", "#", "true")
    assert call.root.find("Redirect").text == record.get("action")  # nothing said: asked again
    assert call.record() == "Voici votre annonce. Pour la garder, faites le 1 ; pour la " \
        "recommencer, le 2."
    assert [p.text for p in call.root.iter("Play")] == [RECORDING]
    assert call.press("2").startswith("Au signal sonore")  # record again
    call.record(SECOND)
    assert [p.text for p in call.root.iter("Play")] == [SECOND]
    assert call.press("1") == ("Qui doit l'entendre ? Toute la ligne, faites le 1 ; le "
                               "personnel, le 2 ; les patients, le 3.")
    assert call.press("2") == ("Pour combien de temps ? Une heure, faites le 1 ; deux heures, "
                               "le 2 ; quatre heures, le 3 ; jusqu'à demain, 8 h, le 4.")
    assert call.press("2") == ("Elle sera entendue par le personnel jusqu'à 12 h. Pour la "
                               "publier, faites le 1 ; pour annuler, le 2.")
    assert call.press("1") == "C'est fait, votre annonce est en ligne. Au revoir."
    assert call.hung_up

    store = for_app(app)
    [published] = store.announcements()
    assert (published.scope, published.audio_url, published.text, published.then) == (
        "personnel", SECOND, None, "continuer")
    assert (published.starts_at, published.ends_at) == (T0, T0 + timedelta(hours=2))
    assert published.created_by == "marie"
    [audit] = store.audit()
    assert (audit.via, audit.who, audit.action) == ("téléphone", "marie", "création")
    assert audit.source and audit.source != CALLER and CALLER[-2:] in audit.source  # masked

    # Staff callers hear it at once, the recording played with the line's other words.
    staff = CallSimulator(app).play("2")
    assert f"[audio {SECOND}]" in staff.exchanges[1].said

    # The journal says who did what; the PIN is nowhere: journal, URLs, access lines.
    details = [e["detail"] for e in written_events(app) if e["kind"] == "gestion"]
    assert details == ["identifié : marie", "annonce enregistrée", "annonce enregistrée",
                       f"annonce {published.id} publiée"]
    assert not any(PIN in body for body in call.bodies)
    access = [r.getMessage() for r in caplog.records if r.name == "ivr.access"]
    assert any("/voice/gestion/nip" in line for line in access)
    assert not any(PIN in line or phone_id in line for line in access)


@pytest.mark.parametrize(("key", "ends"), [("1", "11 h"), ("3", "14 h"),
                                           ("4", "demain, 8 h")])
def test_each_duration_and_scope(make_app, key, ends):
    app = make_app()
    call = Call(app)
    call.login(manager(app))
    call.press("1")
    call.record()
    call.press("1")
    call.press("1")  # the whole line
    assert call.press(key).startswith(f"Elle sera entendue par tous les appelants "
                                      f"jusqu'à {ends}.")
    call.press("1")
    [published] = for_app(app).announcements()
    expected = {"1": T0 + timedelta(hours=1), "3": T0 + timedelta(hours=4),
                "4": datetime(2026, 12, 2, 8, 0, tzinfo=MONTREAL)}[key]
    assert (published.scope, published.ends_at) == ("ligne", expected)


def test_a_request_twilio_sends_twice_publishes_once(make_app):
    app = make_app()
    call = Call(app)
    call.login(manager(app))
    for digits in ("1", None, "1", "3", "1"):
        if digits is None:
            call.record()
        else:
            call.press(digits)
    confirm = call.next
    assert confirm and "/voice/gestion/confirmation" in confirm
    assert call.press("1").startswith("C'est fait")
    call.next = confirm
    assert call.press("1").startswith("C'est fait")
    assert len(for_app(app).announcements()) == 1


def test_cancel_goes_back_to_the_menu(make_app):
    app = make_app()
    call = Call(app)
    call.login(manager(app))
    call.press("1")
    call.record()
    call.press("1")
    call.press("3")
    call.press("2")
    assert call.press("2") == f"Annonce annulée. {MENU}"
    assert for_app(app).announcements() == []


def test_ending_the_announcements_in_progress_each_confirmed(make_app):
    app = make_app()
    store = for_app(app)
    first = store.add_announcement(scope="ligne", starts_at=T0 - timedelta(hours=1),
                                   ends_at=T0 + timedelta(hours=3), text="Teams est en panne.",
                                   who="Marie T.", via="console")
    second = store.add_announcement(scope="patient", starts_at=T0,
                                    ends_at=T0 + timedelta(days=1), audio_url=RECORDING,
                                    who="Marie T.", via="console")
    store.add_announcement(scope="ligne", starts_at=T0 + timedelta(days=2),  # to come: kept
                           ends_at=T0 + timedelta(days=3), text="Plus tard.", who="Marie T.",
                           via="console")
    call = Call(app)
    call.login(manager(app))
    assert call.press("2") == ("Annonce pour tous les appelants, jusqu'à 13 h : Teams est en "
                               "panne. Pour y mettre fin, faites le 1 ; pour passer à la "
                               "suivante, le 2.")
    assert call.press("#").startswith("Annonce pour tous les appelants")  # # repeats
    heard = call.press("1")
    assert heard == ("Annonce terminée. Annonce pour les patients, jusqu'à demain, 10 h : "
                     "Pour y mettre fin, faites le 1 ; pour passer à la suivante, le 2.")
    assert [p.text for p in call.root.iter("Play")] == [RECORDING]
    assert call.press("2") == f"Il n'y a pas d'autre annonce en cours. {MENU}"

    assert {a.id for a in store.announcements() if a.active(T0)} == {second}
    ended = store.announcement(first)
    assert ended.ends_at == T0 and ended.updated_by == "marie"
    assert [(a.via, a.action, a.object_id) for a in store.audit()][0] == (
        "téléphone", "fin", first)
    call2 = Call(app, call_sid="CA" + "b" * 32)
    call2.login(AdminUsers(services(app).store).by_name("marie").phone_id)
    call2.press("2")
    call2.press("1")
    assert call2.root is not None and said(call2.root) == \
        f"Annonce terminée. Il n'y a pas d'autre annonce en cours. {MENU}"
    assert not any(a.active(T0) for a in store.announcements())


def test_no_announcement_in_progress(make_app):
    app = make_app()
    call = Call(app)
    call.login(manager(app))
    assert call.press("2") == f"Aucune annonce en cours. {MENU}"


def test_silence_and_wrong_keys_ask_again_then_goodbye(make_app):
    app = make_app()
    call = Call(app)
    call.login(manager(app))
    assert call.press(None) == MENU
    assert call.press("7") == f"Ce choix n'est pas offert. {MENU}"
    assert call.press("#") == MENU  # # repeats, and costs no try
    assert call.press(None) == "Désolé, nous n'avons pas pu traiter votre choix. Au revoir."
    assert call.hung_up

    # The same at the manager number, and when nothing is said at the beep.
    first = Call(app, call_sid="CA" + "c" * 32)
    first.start()
    assert first.press(None) == "Entrez votre numéro de gestionnaire."
    assert first.press("12") == f"{WRONG} Entrez votre numéro de gestionnaire."
    assert first.press(None).endswith("Au revoir.") and first.hung_up
    silent = Call(app, call_sid="CA" + "d" * 32)
    silent.login(AdminUsers(services(app).store).by_name("marie").phone_id)
    silent.press("1")
    assert silent.press(None).startswith("Nous n'avons rien entendu. Au signal sonore")
    assert silent.record(duration="0").startswith("Nous n'avons rien entendu.")
    assert silent.record(url="https://ailleurs.example.org/annonce.mp3").endswith("Au revoir.")
    assert silent.hung_up and for_app(app).announcements() == []


def test_star_goes_back_to_the_menu(make_app):
    app = make_app()
    call = Call(app)
    call.login(manager(app))
    call.press("1")
    call.record()
    call.press("1")
    assert call.press("*") == MENU


# --------------------------------------------------------------------------- lock-out


def test_five_wrong_pins_lock_the_manager_number_for_15_minutes(make_app):
    app = make_app()
    phone_id = manager(app)
    answers = []
    for attempt in range(5):  # each from its own number: the account's counter alone
        call = Call(app, call_sid=f"CA{attempt:032d}", caller=f"+1514555{attempt:04d}")
        call.start()
        call.press(phone_id)
        answers.append(call.press("000001"))
    assert answers == [f"{WRONG} Entrez votre numéro de gestionnaire."] * 5
    late = Call(app, call_sid="CA" + "e" * 32, caller="+15145559999")
    assert late.login(phone_id) == REFUSED  # the right PIN, but locked
    assert late.hung_up
    listed = ivr(app, "admin", "users").output
    assert f"NIP (gestionnaire {phone_id})\tNIP VERROUILLÉ" in listed

    # Still locked after 14 minutes, open after 15.
    throttle = PinThrottle(services(app).store)
    key = AdminUsers.PIN_KEY.format(phone_id=phone_id)
    assert throttle.locked(key)
    _age(app, key, minutes=14)
    assert Call(app, call_sid="CA" + "f" * 32, caller="+15145559998").login(phone_id) == REFUSED
    _age(app, key, minutes=16)
    assert Call(app, call_sid="CA" + "9" * 32, caller="+15145559997").login(phone_id) == MENU
    assert not throttle.locked(key)  # a right PIN clears the count


def _age(app, key: str, minutes: int) -> None:
    with services(app).store.session() as session:
        row = session.get(AdminLoginThrottle, key)
        row.window_start = utcnow() - timedelta(minutes=minutes)


def test_pin_tries_are_reserved_atomically(store):
    """40 concurrent tries at one number, on SQLite and PostgreSQL: 5 get checked."""
    throttle = PinThrottle(store)
    start = threading.Barrier(40)
    granted: list[bool] = []

    def try_once() -> None:
        start.wait()
        granted.append(throttle.reserve("pin:id:4821"))

    threads = [threading.Thread(target=try_once) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 5 and throttle.locked("pin:id:4821")
    throttle.clear("pin:id:4821")
    assert not throttle.locked("pin:id:4821") and throttle.reserve("pin:id:4821")


def test_manager_numbers_on_both_databases(store):
    users = AdminUsers(store)
    for name in ("marie", "paul"):
        users.create(name, "x")
    marie = users.set_pin("marie", hash_pin(PIN))
    paul = users.set_pin("paul", hash_pin("739104"))
    assert marie.phone_id != paul.phone_id
    assert users.by_phone_id(marie.phone_id).username == "marie"
    assert users.set_pin("personne", hash_pin(PIN)) is None


def test_unlock_lifts_the_pin_lock(make_app):
    app = make_app()
    phone_id = manager(app)
    throttle = PinThrottle(services(app).store)
    key = AdminUsers.PIN_KEY.format(phone_id=phone_id)
    for _ in range(5):
        assert throttle.reserve(key)
    assert not throttle.reserve(key)
    assert ivr(app, "admin", "unlock", "marie").exit_code == 0
    assert throttle.reserve(key)


def test_an_unknown_manager_number_gets_the_same_answers(make_app, written_events):
    """Wrong PINs after a number no account has: the same words, the same lock-out (and the
    journal never writes such a number down: it could be the start of a PIN)."""
    app = make_app()
    phone_id = manager(app)
    unknown = next(str(n) for n in range(1000, 10000) if str(n) != phone_id)

    def attempts(number: str, tag: str) -> list[str]:
        heard = []
        for attempt in range(6):
            call = Call(app, call_sid=f"CA{tag}{attempt:031d}", caller=f"+1438555{attempt:04d}")
            call.start()
            call.press(number)
            heard.append(call.press("000001"))
        return heard

    known, stranger = attempts(phone_id, "1"), attempts(unknown, "2")
    assert known == stranger == [f"{WRONG} Entrez votre numéro de gestionnaire."] * 5 + [REFUSED]
    details = [e["detail"] for e in written_events(app) if e["kind"] == "gestion"]
    assert details == [f"NIP refusé (gestionnaire {phone_id})"] * 5 + \
        [f"NIP verrouillé (gestionnaire {phone_id})"] + \
        ["NIP refusé (numéro inconnu)"] * 5 + ["NIP verrouillé (numéro inconnu)"]


def test_five_wrong_pins_from_one_number_lock_that_number(make_app):
    app = make_app()
    phone_id = manager(app)
    for attempt in range(5):  # five manager numbers, one calling number
        call = Call(app, call_sid=f"CA{attempt:032d}")
        call.start()
        call.press(f"{2000 + attempt}")
        assert call.press("000001") == f"{WRONG} Entrez votre numéro de gestionnaire."
    assert Call(app, call_sid="CA" + "e" * 32).login(phone_id) == REFUSED
    # From another number, the account itself is not locked.
    assert Call(app, call_sid="CA" + "f" * 32, caller="+15145550188").login(phone_id) == MENU


def test_three_wrong_pins_in_one_call_end_it(make_app):
    app = make_app()
    phone_id = manager(app)
    call = Call(app)
    call.start()
    for _ in range(2):
        call.press(phone_id)
        assert call.press("999999") == f"{WRONG} Entrez votre numéro de gestionnaire."
    call.press(phone_id)
    assert call.press("999999") == "Numéro ou NIP incorrect. Au revoir."
    assert call.hung_up


# --------------------------------------------------------------------------- the token


def _menu_call(app):
    call = Call(app)
    call.login(manager(app))
    assert call.next and "/voice/gestion/menu?t=" in call.next
    return call


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def _refused(call: Call, path: str, **params: str) -> None:
    heard = call.post(path, **params)
    assert heard == REFUSED, heard
    assert call.hung_up


def test_a_forged_altered_or_other_calls_token_is_refused(make_app):
    app = make_app()
    call = _menu_call(app)
    token = _token(call.next)
    other = Call(app, call_sid="CA" + "b" * 32)
    _refused(other, f"/voice/gestion/menu?t={token}", Digits="1")  # another call
    _refused(call, f"/voice/gestion/confirmation?t={token}", Digits="1")  # another step
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    _refused(call, f"/voice/gestion/menu?t={flipped}", Digits="1")  # altered
    _refused(call, "/voice/gestion/menu", Digits="1")  # none
    forged = phone_admin.URLSafeTimedSerializer("pas-la-cle", salt=phone_admin.SALT).dumps(
        {"c": call.call_sid, "s": "confirmation", "u": 1, "p": "x", "a": 0, "r": RECORDING,
         "o": "ligne", "e": 2e9})
    _refused(call, f"/voice/gestion/confirmation?t={forged}", Digits="1")  # not our key
    assert for_app(app).announcements() == []
    # The good token still works in its own call and step.
    call.post(f"/voice/gestion/menu?t={token}", Digits="1")
    assert call.root.find("Record") is not None


def test_an_expired_token_is_refused(make_app, monkeypatch):
    app = make_app()
    call = _menu_call(app)
    token = _token(call.next)
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 601)
    _refused(call, f"/voice/gestion/menu?t={token}", Digits="1")


def test_a_session_ends_30_minutes_after_the_pin_and_at_a_pin_change(make_app, monkeypatch):
    app = make_app()
    call = _menu_call(app)
    token = _token(call.next)
    real = phone_admin.clock_time.time
    monkeypatch.setattr(phone_admin.clock_time, "time", lambda: real() + 1801)
    _refused(call, f"/voice/gestion/menu?t={token}", Digits="1")
    monkeypatch.undo()

    fresh = Call(app, call_sid="CA" + "c" * 32)
    fresh.login(AdminUsers(services(app).store).by_name("marie").phone_id)
    token = _token(fresh.next)
    assert ivr(app, "admin", "set-pin", "marie", "--pin-stdin", input="739104\n").exit_code == 0
    _refused(fresh, f"/voice/gestion/menu?t={token}", Digits="1")


def test_unsigned_requests_are_refused(make_app):
    app = make_app()
    client = app.test_client()
    assert client.post("/voice/gestion/numero", data=twilio_form(Digits="1234")
                       ).status_code == 403
    bad = signed_post(client, "/voice/gestion/numero", twilio_form(Digits="1234"),
                      token="pas-le-bon-jeton")
    assert bad.status_code == 403
    assert signed_post(client, "/voice/gestion/inconnue").status_code == 404


# --------------------------------------------------------------------------- elsewhere


def test_the_console_simulator_cannot_manage(make_app):
    app = make_app()
    phone_id = manager(app)
    client = app.test_client()
    form = twilio_form(Digits=phone_id)
    from ivr.security import sign

    response = client.post("/voice/gestion/numero", data=form, environ_overrides={
        SIMULATED: True}, headers={"X-Twilio-Signature": sign(
            "http://localhost/voice/gestion/numero", form, app.config["TWILIO_AUTH_TOKEN"])})
    root = assert_valid(response)
    assert said(root) == "La gestion des annonces n'est pas offerte pour le moment. Au revoir."


def test_the_shortcut_is_not_in_the_staff_list_and_ivr_call_plays_it(make_app):
    app = make_app()
    listed = " ".join(CallSimulator(app).play("*00").says)
    assert "gestion" not in listed.lower() and "annonce" not in listed.lower()
    phone_id = manager(app)
    played = CallSimulator(app).play(f"*99,{phone_id},{PIN}#,1,1,1,1,1")
    assert played.says[-1] == "C'est fait, votre annonce est en ligne. Au revoir."
    assert len(for_app(app).announcements()) == 1


@pytest.mark.parametrize(("value", "words"), [
    ('"00"', "sert déjà"), ('"11"', "sert déjà"), ('"9"', "exactement deux chiffres"),
    ('"ab"', "exactement deux chiffres")])
def test_a_bad_staff_code_is_refused(config_copy, value, words):
    path = config_copy / "menus" / "ligne.yaml"
    path.write_text(path.read_text().replace('gestion: "99"', f"gestion: {value}"))
    found = [p for p in check(config_copy) if p.key == "line.gestion"]
    assert found and words in found[0].message, found


def test_its_prompts_are_required_only_when_it_is_on(config_copy):
    prompts = config_copy / "prompts" / "fr-CA.yaml"
    prompts.write_text(prompts.read_text().replace(
        "  gestion.voici: Voici votre annonce.\n", ""))
    assert [p.key for p in check(config_copy)] == ["line.gestion"]
    menus = config_copy / "menus" / "ligne.yaml"
    menus.write_text(menus.read_text().replace('  gestion: "99"', "  # gestion: off"))
    assert check(config_copy) == []


def test_reconcile_leaves_the_managers_recordings(make_app, twilio, written_events):
    app = make_app(**twilio.settings())
    call = Call(app)
    call.login(manager(app))
    call.press("1")
    call.record()
    written_events(app)  # the journal written
    twilio.add_call(call.call_sid, CALLER)
    twilio.add_recording("RE" + "1" * 32, call.call_sid, utcnow() - timedelta(hours=1))
    result = ivr(app, "reconcile", "--since", "2020-01-01")
    assert result.exit_code == 0, result.output
    assert "annonce enregistrée par un gestionnaire" in result.output
    assert services(app).store.voicemails() == []


def test_a_hung_database_costs_the_manager_an_apology_not_a_held_line(make_app):
    """These steps need the database (the PIN): a server that accepts and never answers gets
    the step an apology within ``DATABASE_SECONDS``, well inside Twilio's 15 s."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        app = make_app(DATABASE_URL=f"postgresql://ivr@127.0.0.1:{listener.getsockname()[1]}/x",
                       migrate=False)
        token = phone_admin.issue(app, phone_admin.State(call="CA" + "a" * 32, step="nip",
                                                         manager="1234"))
        response = signed_post(app.test_client(), f"/voice/gestion/nip?t={token}",
                               twilio_form(CallSid="CA" + "a" * 32, Digits=PIN))
        assert response.status_code == 200
        assert "problème technique" in said(ET.fromstring(response.data))
    finally:
        listener.close()  # the step's thread, still waiting, now fails and ends
