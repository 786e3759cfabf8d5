"""Announcements by phone (issue 17): a manager away from a computer records an announcement,
hears it, chooses who hears it and for how long, and publishes it; or ends one in progress.

The staff shortcut ``line.gestion`` (*99, ``ivr.flow``) sends the call to
``/voice/gestion/numero``. Then, one webhook per step (``/voice/gestion/<step>``):

* ``numero``: the manager number (4 digits, shown by ``ivr admin set-pin``);
* ``nip``: the PIN followed by #;
* ``menu``: 1 record an announcement, 2 end the ones in progress (each confirmed: ``fin``);
* ``enregistrement`` (the ``<Record>``'s action), ``ecoute`` (1 keep, 2 record again),
  ``portee`` (1 the whole line, 2 staff, 3 patients), ``duree`` (1, 2 or 4 hours, or until
  8 h tomorrow), ``confirmation`` (1 publish, 2 cancel).

At each step # repeats, * goes back to the menu (once identified), and silence or a wrong key
asks again up to the line's ``max_tries``, then goodbye.

Security:

* every request is signed by Twilio (``ivr.security``), like every webhook;
* the PIN is checked against its salted hash (``ivr.admin.models``); each try is reserved in the
  database before it is checked, per manager number (whether an account has it or not) and per
  calling number: the fifth wrong one locks for 15 minutes. A locked number hears the same
  refusal whether an account has it or not, and an unknown number costs the same hash check;
* what a step knows (the manager number typed, then the account, the recording, the choices)
  travels in the URL as a token signed with ``SECRET_KEY`` (itsdangerous), bound to the
  ``CallSid`` and to its step, valid 10 minutes per step and 30 minutes after the PIN; a PIN
  changed or removed since ends it;
* the PIN is never in a URL, the journal or the access line (no keys are logged here).

Unlike the line's other webhooks these read and write the database (accounts, announcements):
only managers reach them, and a failure apologises and hangs up.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time as clock_time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    copy_current_request_context,
    current_app,
    request,
    url_for,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash

from ivr import accesslog, clock, effects, replays, security
from ivr.admin.models import PIN_MAX, AdminUser, AdminUsers, PinThrottle
from ivr.answers import Answer
from ivr.config import PHONE_ID_DIGITS
from ivr.flow import DTMF, Ask, Decision, Goodbye, Recording, Speech, Turn
from ivr.lines import line_of
from ivr.notify import mask_phone
from ivr.overrides import LINE
from ivr.overrides_store import PHONE, AnnouncementRow, InvalidOverride, for_app
from ivr.request import LineRequest, seconds
from ivr.schedule import TZ
from ivr.services import services
from ivr.stats import until_text
from ivr.twiml import Voice, render
from ivr.voice import URLS

log = logging.getLogger(__name__)
bp = Blueprint("gestion", __name__, url_prefix="/voice/gestion")

STEPS = ("numero", "nip", "menu", "enregistrement", "ecoute", "portee", "duree",
         "confirmation", "fin")
SALT = "ivr-gestion-telephone"
STEP_SECONDS = 600  # a token is good this long after the answer that carried it…
SESSION_SECONDS = 1800  # …and never longer than this after the right PIN
MAX_TOKEN = 2048
RECORD_SECONDS = 60
MAX_RECORDING_URL = 1000

# key -> (the announcement's scope, its option's prompt); a node the tree lacks is not offered
SCOPES = {"1": (LINE, "gestion.portee_ligne_option"),
          "2": ("personnel", "gestion.portee_personnel_option"),
          "3": ("patient", "gestion.portee_patients_option")}
AUDIENCES = {LINE: "tous les appelants", "personnel": "le personnel", "patient": "les patients"}
# key -> (hours, its option's prompt); None: until 8 h tomorrow (Montréal time)
DURATIONS = {"1": (1, "gestion.duree_1h_option"), "2": (2, "gestion.duree_2h_option"),
             "3": (4, "gestion.duree_4h_option"), "4": (None, "gestion.duree_demain_option")}
TOMORROW_AT = time(8)

UNAVAILABLE_TEXT = "La gestion des annonces n'est pas offerte pour le moment. Au revoir."
REFUSED_TEXT = "Accès refusé. Réessayez plus tard. Au revoir."


# ---------------------------------------------------------------------- the signed state


@dataclass(frozen=True)
class State:
    """What one step knows, carried to the next in a signed token (``issue``/``read``)."""

    call: str  # the CallSid it is bound to
    step: str  # the only step that accepts it
    tries: int = 0  # failed tries at this step (before the PIN: at the number and the PIN)
    manager: str | None = None  # the manager number typed before the PIN
    user: int | None = None  # once the PIN was right: the account…
    pin_set: str | None = None  # …when its PIN was set (a new PIN ends this session)…
    since: float | None = None  # …and when (epoch seconds)
    recording: str | None = None  # the recording's URL at Twilio
    scope: str | None = None
    ends: float | None = None  # the announcement's end (epoch seconds)
    current: int | None = None  # the announcement offered to end

    def to(self, step: str, **changes: Any) -> State:
        """The state of the next step: its tries start over."""
        return replace(self, step=step, tries=0, **changes)


SHORT = {"call": "c", "step": "s", "tries": "n", "manager": "g", "user": "u", "pin_set": "p",
         "since": "a", "recording": "r", "scope": "o", "ends": "e", "current": "i"}
LONG = {short: name for name, short in SHORT.items()}


def _signer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.secret_key or "", salt=SALT)


def issue(app: Flask, state: State) -> str:
    """The token of ``state``: signed with ``SECRET_KEY``, timestamped."""
    data = {SHORT[k]: v for k, v in asdict(state).items() if v is not None and v != 0 or
            k in ("call", "step")}
    return _signer(app).dumps(data)


def read(app: Flask, token: str | None, step: str, call_sid: str) -> State | None:
    """The state ``token`` carries, if it is ours, recent, of this call and of this step."""
    if not token or len(token) > MAX_TOKEN:
        return None
    try:
        data = _signer(app).loads(token, max_age=STEP_SECONDS)
    except BadSignature:  # forged, altered or expired (SignatureExpired is one)
        return None
    if not isinstance(data, dict) or not set(data) <= set(LONG):
        return None
    try:
        state = State(**{LONG[k]: v for k, v in data.items()})
    except TypeError:
        return None
    if not isinstance(state.call, str) or not hmac.compare_digest(state.call, call_sid) or \
            state.step != step or not isinstance(state.tries, int):
        return None
    if state.user is not None and not (
            isinstance(state.since, int | float) and
            0 <= clock_time.time() - state.since <= SESSION_SECONDS):
        return None
    return state


# ---------------------------------------------------------------------- the PIN


_dummy_lock = threading.Lock()


@lru_cache(maxsize=1)
def _made_dummy_hash() -> str:
    return generate_password_hash("not a PIN, only a timing shield")


def _dummy_hash() -> str:
    """Checked against when no account has the number or the try is refused: every answer
    costs one hash check."""
    with _dummy_lock:
        return _made_dummy_hash()


def caller_key(app: Flask, caller: str | None) -> str:
    """The throttle's key of a calling number: a keyed hash, never the number (Loi 25)."""
    digest = hmac.new(str(app.secret_key or "").encode(), (caller or "anonyme").encode(),
                      hashlib.sha256).hexdigest()
    return f"pin:tel:{digest[:32]}"


@dataclass(frozen=True)
class Attempt:
    user: AdminUser | None  # the PIN was right
    locked: bool = False  # too many wrong tries: not checked
    known: bool = False  # an account has this manager number (for the journal only)


def authenticate(app: Flask, manager: str, pin: str, caller: str | None) -> Attempt:
    """Whose manager number and PIN these are. Tries are reserved before the PIN is checked,
    by the calling number first, then by the manager number."""
    store = services(app).store
    throttle = PinThrottle(store)
    keys = (caller_key(app, caller), AdminUsers.PIN_KEY.format(phone_id=manager))
    user = AdminUsers(store).by_phone_id(manager) if manager else None
    known = user is not None and bool(user.pin_hash)
    for key in keys:
        if not throttle.reserve(key):
            check_password_hash(_dummy_hash(), pin)
            return Attempt(None, locked=True, known=known)
    if user is None or not user.pin_hash:
        check_password_hash(_dummy_hash(), pin)
        return Attempt(None)
    if not check_password_hash(user.pin_hash, pin):
        return Attempt(None, known=True)
    for key in keys:
        throttle.clear(key)
    return Attempt(user, known=True)


# ---------------------------------------------------------------------- one request


def _objects() -> tuple[Flask, LineRequest]:
    return current_app._get_current_object(), request._get_current_object()  # type: ignore[attr-defined,return-value]


def _turn(app: Flask, req: LineRequest) -> Turn:
    instant = clock.now_for(app, req.environ)
    return Turn(line_of(app).config, instant.replace(second=0, microsecond=0), URLS,
                instant=instant)


def _twilio_recording(app: Flask, url: str) -> bool:
    """A recording's URL at Twilio (or the API base set for tests): nothing else is played."""
    if not url or len(url) > MAX_RECORDING_URL or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
        return True
    base = urlsplit(app.config.get("TWILIO_API_BASE_URL") or "")
    return bool(base.netloc) and (parts.scheme, parts.netloc) == (base.scheme, base.netloc)


class Management:
    """One request of the managers' flow: the step's answer, from the keys and the state."""

    def __init__(self, app: Flask, req: LineRequest) -> None:
        self.app, self.req = app, req
        self.turn = _turn(app, req)
        self.config = self.turn.config
        self.call_sid = req.form.get("CallSid", "")[:64]
        self.caller = req.form.get("From", "")[:32] or None
        self.user: AdminUser | None = None

    # ------------------------------------------------------------------ speech

    def say(self, prompt_id: str, key: str | None = None) -> Speech:
        return self.turn.say(prompt_id, key)

    def note(self, detail: str) -> None:
        self.turn.note("gestion", None, detail)

    def goodbye(self, *prompt_ids: str) -> Goodbye:
        return Goodbye(tuple(self.say(p) for p in prompt_ids))

    def url(self, state: State) -> str:
        if state.step == "numero":  # the first step: nothing to carry but the tries
            return url_for("gestion.step", step="numero", **({"n": str(state.tries)}
                                                              if state.tries else {}))
        return url_for("gestion.step", step=state.step, t=issue(self.app, state))

    def ask(self, state: State, speech: tuple[Speech, ...], num_digits: int = 1,
            finish_on_key: str = "") -> Ask:
        return Ask(speech, self.url(state), num_digits, self.config.line.timeout, finish_on_key)

    # ------------------------------------------------------------------ each step's question

    def question(self, state: State, pre: tuple[Speech, ...] = ()) -> Decision:
        say, step = self.say, state.step
        if step == "numero":
            return self.ask(state, (*pre, say("gestion.numero")), PHONE_ID_DIGITS)
        if step == "nip":
            return self.ask(state, (*pre, say("gestion.nip")), PIN_MAX, "#")
        if step == "menu":
            return self.ask(state, (*pre, say("gestion.enregistrer_option", "1"),
                                    say("gestion.terminer_option", "2")))
        if step == "enregistrement":
            return Recording((*pre, say("gestion.consigne")), self.url(state), RECORD_SECONDS,
                             self.url(state))
        if step == "ecoute":
            return self.ask(state, (*pre, say("gestion.voici"), Speech("", state.recording),
                                    say("gestion.garder_option", "1"),
                                    say("gestion.recommencer_option", "2")))
        if step == "portee":
            return self.ask(state, (*pre, say("gestion.portee"),
                                    *(say(prompt, key) for key, (_, prompt) in self.scopes())))
        if step == "duree":
            return self.ask(state, (*pre, say("gestion.duree"),
                                    *(say(prompt, key) for key, (_, prompt) in DURATIONS.items())))
        if step == "confirmation":
            ends = datetime.fromtimestamp(state.ends or 0, TZ)
            summary = (f"Elle sera entendue par {self.audience(state.scope or LINE)} "
                       f"{until_text(ends, self.turn.instant, opening=False)}.")
            return self.ask(state, (*pre, Speech(summary), say("gestion.publier_option", "1"),
                                    say("gestion.annuler_option", "2")))
        if step == "fin":
            row = for_app(self.app).announcement(state.current or 0)
            if row is None or not row.active(self.turn.instant):  # ended meanwhile
                return self.offer(state, state.current, pre)
            return self.ask(state, (*pre, *self.described(row), say("gestion.fin_option", "1"),
                                    say("gestion.suivante_option", "2")))
        raise ValueError(step)

    def retry(self, state: State, pre: tuple[Speech, ...] = ()) -> Decision:
        tries = state.tries + 1
        if tries >= self.config.line.max_tries:
            self.note(f"trop d'essais ({state.step})")
            return self.goodbye("systeme.trop_d_essais", "gestion.au_revoir")
        return self.question(replace(state, tries=tries), pre)

    def scopes(self) -> list[tuple[str, tuple[str, str]]]:
        return [(key, value) for key, value in SCOPES.items()
                if value[0] == LINE or value[0] in self.config.nodes]

    def audience(self, scope: str) -> str:
        if scope in AUDIENCES:
            return AUDIENCES[scope]
        node = self.config.nodes.get(scope)
        return f"les appelants du menu {node.title if node and node.title else scope}"

    def described(self, row: AnnouncementRow) -> tuple[Speech, ...]:
        until = until_text(row.ends_at, self.turn.instant, opening=False)
        return (Speech(f"Annonce pour {self.audience(row.scope)}, {until} :"),
                self.turn.announced(row.value()))

    # ------------------------------------------------------------------ the request

    def decide(self, step: str) -> Decision:
        if not self.config.line.admin_shortcut or effects.simulated():
            # Off in this config, or played in the console's simulator (which leaves nothing).
            return Goodbye((self.turn.optional("gestion.indisponible", UNAVAILABLE_TEXT),))
        digits = self.req.form.get("Digits")
        digits = None if digits is None else digits[:64]
        if step == "numero":
            return self.number(digits, _tries(self.req.args.get("n", "")))
        state = read(self.app, self.req.args.get("t"), step, self.call_sid)
        if state is None:
            self.note(f"jeton refusé ({step})")
            log.warning("phone admin: token refused at %s (CallSid=%s)", step, self.call_sid)
            return self.goodbye("gestion.refus")
        if step == "nip":
            return self.pin(state, digits)
        self.user = self.account(state)
        if self.user is None:
            self.note("session terminée (NIP changé ou retiré)")
            return self.goodbye("gestion.refus")
        if step == "enregistrement":
            return self.recorded(state)
        key = digits if digits and len(digits) == 1 and digits in DTMF else None
        if not digits:
            return self.retry(state)
        if key == "#":
            return self.question(state)
        if key == "*" and step != "menu":
            return self.question(state.to("menu"))
        chosen = getattr(self, f"chose_{step}")(state, key) if key is not None else None
        return chosen if chosen is not None else \
            self.retry(state, (self.say("systeme.choix_invalide"),))

    def account(self, state: State) -> AdminUser | None:
        """The identified account, if its PIN is still the one typed."""
        user = AdminUsers(services(self.app).store).by_id(state.user or 0)
        if user is None or not user.pin_hash or user.pin_set_at is None or \
                user.pin_set_at.isoformat() != state.pin_set:
            return None
        return user

    # ------------------------------------------------------------------ before the PIN

    def number(self, digits: str | None, tries: int) -> Decision:
        state = State(self.call_sid, "numero", tries)
        if digits and len(digits) == PHONE_ID_DIGITS and digits.isascii() and digits.isdigit():
            return self.question(State(self.call_sid, "nip", tries, manager=digits))
        return self.retry(state, (self.say("gestion.incorrect"),) if digits else ())

    def pin(self, state: State, digits: str | None) -> Decision:
        pin = (digits or "").removesuffix("#")
        if not pin:
            return self.retry(state)
        manager = state.manager or ""
        attempt = authenticate(self.app, manager, pin, self.caller)
        # Numbers no account has are not written down: a PIN typed too soon could be one.
        who = f"gestionnaire {manager}" if attempt.known else "numéro inconnu"
        if attempt.locked:
            self.note(f"NIP verrouillé ({who})")
            log.warning("phone admin: locked (%s) from %s", who, mask_phone(self.caller))
            return self.goodbye("gestion.refus")
        found = attempt.user
        if found is None:
            self.note(f"NIP refusé ({who})")
            log.warning("phone admin: wrong PIN (%s) from %s", who, mask_phone(self.caller))
            tries = state.tries + 1
            if tries >= self.config.line.max_tries:
                return self.goodbye("gestion.incorrect", "gestion.au_revoir")
            return self.question(State(self.call_sid, "numero", tries),
                                 (self.say("gestion.incorrect"),))
        self.note(f"identifié : {found.username}")
        log.info("phone admin: %r identified from %s", found.username, mask_phone(self.caller))
        pin_set = found.pin_set_at.isoformat() if found.pin_set_at else None
        return self.question(State(self.call_sid, "menu", user=found.id, pin_set=pin_set,
                                   since=clock_time.time()))

    # ------------------------------------------------------------------ once identified

    def chose_menu(self, state: State, key: str) -> Decision | None:
        if key == "1":
            return self.question(state.to("enregistrement", recording=None))
        if key == "2":
            return self.offer(state, None)
        return None

    def recorded(self, state: State) -> Decision:
        """The ``<Record>``'s action, or its ``<Redirect>`` when nothing was said."""
        form = self.req.form
        url = form.get("RecordingUrl", "")
        if _twilio_recording(self.app, url) and seconds(form.get("RecordingDuration")) != 0:
            self.note("annonce enregistrée")
            return self.question(state.to("ecoute", recording=url))
        return self.retry(state, (self.say("gestion.rien_entendu"),))

    def chose_ecoute(self, state: State, key: str) -> Decision | None:
        if key == "1":
            return self.question(state.to("portee"))
        if key == "2":
            return self.question(state.to("enregistrement", recording=None))
        return None

    def chose_portee(self, state: State, key: str) -> Decision | None:
        scope = dict(self.scopes()).get(key)
        return self.question(state.to("duree", scope=scope[0])) if scope else None

    def chose_duree(self, state: State, key: str) -> Decision | None:
        if key not in DURATIONS:
            return None
        return self.question(state.to("confirmation",
                                      ends=ends_at(self.turn.instant, DURATIONS[key][0])))

    def chose_confirmation(self, state: State, key: str) -> Decision | None:
        if key == "1":
            return self.publish(state)
        if key == "2":
            self.note("annonce annulée")
            return self.question(state.to("menu", recording=None, scope=None, ends=None),
                                 (self.say("gestion.annulee"),))
        return None

    def publish(self, state: State) -> Decision:
        assert self.user is not None
        store = for_app(self.app)
        url = state.recording or ""
        # A request Twilio sends again publishes nothing more: one announcement per recording.
        found = next((a.id for a in store.announcements(include_past=True)
                      if a.audio_url == url), None)
        if found is None:
            try:
                found = store.add_announcement(
                    scope=state.scope or LINE, starts_at=self.turn.instant,
                    ends_at=datetime.fromtimestamp(state.ends or 0, UTC), audio_url=url,
                    via=PHONE, source=self.caller, who=self.user.username)
            except InvalidOverride as exc:
                log.error("phone admin: announcement refused: %s", exc)
                self.note("annonce refusée")
                return self.goodbye("systeme.erreur", "gestion.au_revoir")
        self.note(f"annonce {found} publiée")
        log.warning("phone admin: %r published announcement %s", self.user.username, found)
        return self.goodbye("gestion.publiee")

    def offer(self, state: State, after: int | None, pre: tuple[Speech, ...] = ()
              ) -> Decision:
        """The next announcement in progress to end (the first one: ``after`` None)."""
        now = self.turn.instant
        rows = sorted((r for r in for_app(self.app).announcements() if r.active(now)),
                      key=lambda r: r.id)
        following = [r for r in rows if after is None or r.id > after]
        if not following:
            last = "gestion.aucune" if after is None else "gestion.derniere"
            return self.question(state.to("menu", current=None), (*pre, self.say(last)))
        return self.question(state.to("fin", current=following[0].id), pre)

    def chose_fin(self, state: State, key: str) -> Decision | None:
        assert self.user is not None
        current = state.current or 0
        if key == "1":
            if for_app(self.app).end_announcement(current, who=self.user.username, via=PHONE,
                                                  source=self.caller):
                self.note(f"annonce {current} terminée")
                log.warning("phone admin: %r ended announcement %s", self.user.username,
                            current)
            return self.offer(state, current, (self.say("gestion.terminee"),))
        if key == "2":
            return self.offer(state, current)
        return None


def ends_at(now: datetime, hours: int | None) -> float:
    """When an announcement made at ``now`` ends: so many hours later (to the minute), or
    tomorrow at 8 h, Montréal time; epoch seconds."""
    if hours is not None:
        end = (now.astimezone(UTC) + timedelta(hours=hours)).replace(second=0, microsecond=0)
        return end.timestamp()
    tomorrow = now.astimezone(TZ).date() + timedelta(days=1)
    return datetime.combine(tomorrow, TOMORROW_AT, TZ).timestamp()


def _tries(raw: str) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) == 1 else 0


# ---------------------------------------------------------------------- routes


DATABASE_SECONDS = 3.0  # the most a step waits on the database (PIN, publishing): then sorry


class DatabaseTooSlow(RuntimeError):
    pass


@bp.post("/<step>")
def step(step: str) -> Response:
    """Unlike the line's webhooks, these steps read and write the database (the PIN, the
    announcements): each is decided on a thread of its own and given ``DATABASE_SECONDS``, so
    a hung database costs the manager an apology, never Twilio's timeout or a held worker."""
    if step not in STEPS:
        abort(404)
    app, req = _objects()
    manage = Management(app, req)
    outcome: dict[str, Any] = {}

    def decide() -> None:
        try:
            outcome["decision"] = manage.decide(step)
        except Exception as exc:  # raised again below, for the apology handler
            outcome["error"] = exc

    worker = threading.Thread(target=copy_current_request_context(decide), name="ivr-gestion",
                              daemon=True)
    worker.start()
    worker.join(DATABASE_SECONDS)
    if worker.is_alive():
        raise DatabaseTooSlow(f"step {step!r} still waiting after {DATABASE_SECONDS} s")
    if "error" in outcome:
        raise outcome["error"]
    return _respond(manage.turn, outcome["decision"])


def _respond(turn: Turn, decision: Decision) -> Response:
    app, req = _objects()
    answer = Answer.of(turn, decision, services(app).voice)
    req.outcome = answer.outcome
    if answer.notes and not replays.replayed(app, req):
        effects.journal(answer.notes, app, req)
    return Response(answer.body, mimetype="text/xml")


@bp.errorhandler(Exception)
def apologise(exc: Exception) -> Response | HTTPException:
    """Never a 5xx to Twilio: an apology, then goodbye (the manager calls again)."""
    if isinstance(exc, HTTPException):
        return exc
    log.exception("phone admin failed (CallSid=%s)", request.form.get("CallSid", "?")[:64])
    request.failure = type(exc).__name__  # type: ignore[attr-defined]
    try:
        turn = _turn(*_objects())
        return _respond(turn, Goodbye((turn.say("systeme.erreur"),
                                       turn.optional("gestion.au_revoir", "Au revoir."))))
    except Exception:
        log.exception("phone admin: even the apology failed")
        voice = services(current_app).voice or Voice("Polly.Gabrielle-Neural", "fr-CA")
        sorry = Goodbye((Speech("Désolé, un problème technique est survenu. Au revoir."),))
        return Response(render(sorry, voice), mimetype="text/xml")


@bp.before_request
def _signed_by_twilio() -> None:
    req: LineRequest = request._get_current_object()  # type: ignore[attr-defined]
    req.started = clock_time.perf_counter()
    security.require_twilio_signature()


@bp.after_request
def _access_log(response: Response) -> Response:
    """The webhook's access line, without its keys: a manager number or a PIN."""
    if accesslog.enabled():
        req: LineRequest = request._get_current_object()  # type: ignore[attr-defined]
        form = req.parsed_form()
        accesslog.record(
            call=form.get("CallSid", "")[:64] or None, method=req.method,
            path=req.path[:200], node="gestion", status=response.status_code,
            outcome=req.outcome,
            ms=round((clock_time.perf_counter() - req.started) * 1000, 2)
            if req.started else None,
            caller=form.get("From"), error=req.failure, replay=bool(req.replayed))
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
