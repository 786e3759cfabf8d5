"""Simulateur: a keypad in the browser that plays a call through the real line, move by move.

Each move is one POST (``admin.simulator_step``): the browser sends the instant, the caller's
number, the state the previous step returned and the caller's move; the server checks the state
strictly (it came from the browser), then plays the move with ``ivr.simulator.CallSession``, the
same engine as ``ivr call``: signed requests to the app's own webhooks, in-process. Requests
carry the chosen instant and the "simulated" flag, so the call leaves no journal, no voicemail
and sends no text. The browser holds no secret; the server keeps nothing between moves.

When the line serves English too (``line.languages``), the page has a language switch: an
English call starts at the welcome in English (``/voice/node/accueil?l=en``), as after key 9,
and every URL the line gives it carries ``l=en``; the prompts are shown, and spoken by the
browser's ``en-CA`` voice, in English.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from flask import Response, current_app, jsonify, render_template, request, url_for

from ivr import clock
from ivr.admin import bp
from ivr.config import ENGLISH_OFFER, FIRST_LANGUAGE, Config, language_code
from ivr.lines import current_config, line_of
from ivr.notify import HIDDEN_CALLERS
from ivr.schedule import DAY_NAMES, MONTH_NAMES, TZ
from ivr.simulator import (
    DIAL_OUTCOMES,
    DTMF,
    WAITING_KINDS,
    Awaiting,
    CallSession,
    CallSimulator,
    Move,
    SessionError,
)

log = logging.getLogger(__name__)

DEFAULT_CALLER = "+15145550123"
ACTIONS = ("start", "keys", "silence", "dial", "record", "hangup")
# The switch's labels, by language (each in its own language).
LANGUAGE_LABELS = {"fr-CA": "Français", "en-CA": "English"}
DIAL_LABELS = {"completed": "Répond", "no-answer": "Pas de réponse", "busy": "Occupé",
               "failed": "Échec", "canceled": "Annulé"}

# What a state may hold: the parameters Twilio sends back (bounded), and the TwiML details.
TWILIO_PARAMS = frozenset({
    "Digits", "DialCallStatus", "DialCallSid", "DialCallDuration", "RecordingUrl",
    "RecordingSid", "RecordingDuration", "RecordingStatus", "CallStatus", "CallDuration",
    "ErrorCode", "ErrorUrl",
})
MAX_PARAMS = 8
MAX_PARAM_LENGTH = 256
MAX_URL_LENGTH = 1024
MAX_MOVES = 200
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
VOICE_PATH = re.compile(r"/voice(?:/[A-Za-z0-9_%.\-/]*)?(?:\?[A-Za-z0-9_%.=&\-]*)?")
CALLER = re.compile(r"\+?[0-9]{2,15}")
DIALLED_NUMBER = re.compile(r"\+?[0-9]{2,15}")
SEND_DIGITS = re.compile(r"[0-9wW#*]{0,64}")
AWAITING_FIELDS = frozenset({"kind", "num_digits", "finish_on_key", "timeout", "on_empty",
                             "otherwise", "callback", "number", "send_digits"})


class BadStep(ValueError):
    """A step the server refuses; the message (French) goes back to the browser."""


# ---------------------------------------------------------------------- the page


@bp.get("/simulateur")
def simulator() -> str:
    """The keypad page, its instant prefilled from ``a=`` (an ISO instant) or now."""
    error = None
    instant = clock.now()
    asked = request.args.get("a") or request.args.get("instant")
    prefilled = False
    if asked:
        try:
            instant, prefilled = parse_instant(asked), True
        except BadStep as exc:
            error = f"{exc} L'heure actuelle est utilisée."
    caller = request.args.get("caller", DEFAULT_CALLER).strip()[:32]
    if not _valid_caller(caller):
        caller = DEFAULT_CALLER
    languages = served_languages()
    language = request.args.get("langue", "")
    if language not in dict(languages) or len(languages) < 2:
        language = language_code(FIRST_LANGUAGE) or "fr"
    return render_template(
        "admin/simulator.html",
        instant_value=instant.astimezone(TZ).strftime("%Y-%m-%dT%H:%M"),
        instant_text=french_instant(instant),
        caller=caller,
        default_caller=DEFAULT_CALLER,
        version=current_config().version,
        languages=languages,
        language=language,
        error=error,
        prefilled=prefilled,
        step_url=url_for("admin.simulator_step"),
    )


# ---------------------------------------------------------------------- one move


@bp.post("/simulateur/etape")
def simulator_step() -> tuple[Response, int] | Response:
    """Play the caller's move through the real line; JSON in, JSON out."""
    data = request.get_json(silent=True)
    try:
        if not isinstance(data, dict):
            raise BadStep("Requête invalide : un objet JSON est attendu.")
        unknown = set(data) - {"instant", "caller", "state", "action", "keys", "status",
                               "message", "moves", "language"}
        if unknown:
            raise BadStep("Requête invalide : champ inconnu « "
                          f"{_short(sorted(unknown)[0])} ».")
        instant = parse_instant(data.get("instant"))
        caller = data.get("caller")
        if not isinstance(caller, str) or not _valid_caller(caller.strip()):
            raise BadStep("Numéro de l'appelant invalide : un numéro comme +15145550123, "
                          "ou « anonymous » pour un numéro masqué.")
        caller = caller.strip()
        action = data.get("action")
        if action not in ACTIONS:
            raise BadStep("Geste inconnu : « " + _short(action) + " ».")
        moves = _moves(data.get("moves"))
        # The language is chosen at the start; then the line's URLs carry it (``l=en``).
        code = _language(data.get("language")) if action == "start" else ""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        simulator = CallSimulator(app, caller=caller, instant=instant, simulated=True)
        if action == "start":
            session = CallSession(simulator)
            play: Callable[[], Any] = _starter(session, code)
        else:
            state = check_state(data.get("state"))
            session = CallSession.restore(simulator, state)
            play = _move(session, action, data)
    except (BadStep, SessionError) as exc:
        return _error(str(exc) if isinstance(exc, BadStep) else _french(exc))
    try:
        # The webhooks run outside this request's contexts, as `ivr call` runs them: their
        # own app context and `g`, not the console's.
        contextvars.Context().run(play)
    except SessionError as exc:
        return _error(_french(exc))
    line = line_of(current_app)
    code = _spoken(session, code)
    answer = describe(session, line.config_for(code), instant, caller, moves, line.configs)
    answer["language"] = code or "fr"
    return jsonify(answer)


def served_languages() -> list[tuple[str, str]]:
    """(URL code, label) of each language the served config speaks, French first."""
    return [(language_code(lang) or "fr", LANGUAGE_LABELS.get(lang, lang))
            for lang in line_of(current_app).configs]


def _language(value: Any) -> str:
    """The call's URL code ("" for French, "en"), refused if the line does not speak it."""
    if value is None or value == "fr":
        return ""
    codes = {code for code, _ in served_languages()}
    if not isinstance(value, str) or value not in codes:
        if value == "en":
            raise BadStep("L'anglais n'est pas activé sur la ligne (line.languages dans "
                          "menus/ligne.yaml) : rechargez la page.")
        raise BadStep("Langue inconnue : « " + _short(value) + " ».")
    return value


def _spoken(session: CallSession, code: str) -> str:
    """The language the call speaks now, as the line's URLs carry it: the next request's
    (what the call awaits), else the last one's; key 9 at the welcome switches to English."""
    urls = [session.awaiting.url] if session.awaiting is not None else []
    urls += [exchange.url for exchange in reversed(session.exchanges)]
    for url in urls:
        if url:
            return parse_qs(urlsplit(url).query).get("l", [""])[0][:8]
    return code


def _starter(session: CallSession, code: str) -> Callable[[], Any]:
    """The call's first request: ``/voice``, or, for a caller who chose English, the welcome
    menu's node in English (``/voice/node/accueil?l=en``: the welcome as key 9 plays it).

    Not ``/voice?l=en``: the line reuses its answer to ``/voice`` whatever the query string
    (Twilio never adds one), so it could answer in French."""
    if not code:
        return session.start
    root = quote(current_config().line.root, safe="")

    def start() -> None:
        if session.exchanges or session.awaiting is not None or session.ended:
            raise SessionError("the call has already started", "unexpected")
        session._go(f"/voice/node/{root}?l={code}", {})

    return start


def _move(session: CallSession, action: str, data: Mapping[str, Any]) -> Callable[[], Any]:
    """The session method for ``action``, its argument checked."""
    if action == "keys":
        keys = data.get("keys")
        awaiting = session.awaiting
        limit = awaiting.num_digits if awaiting is not None else 1
        if not isinstance(keys, str) or not 1 <= len(keys) <= limit or not set(keys) <= DTMF:
            raise BadStep(f"Touches invalides : de 1 à {limit} touches parmi 0 à 9, * et #.")
        return lambda: session.press(keys)
    if action == "silence":
        return session.silence
    if action == "dial":
        status = data.get("status")
        if status not in DIAL_OUTCOMES:
            raise BadStep("Résultat du transfert invalide : « " + _short(status) + " ».")
        return lambda: session.dial_result(status)
    if action == "record":
        message = data.get("message")
        if not isinstance(message, bool):
            raise BadStep("Boîte vocale : indiquez si un message est laissé (vrai ou faux).")
        return lambda: session.record(message)
    return session.hang_up


def _french(exc: SessionError) -> str:
    """A move the call cannot take, said in French."""
    if exc.reason == "over":
        return "Cet appel est terminé : lancez un nouvel appel."
    if exc.reason == "unexpected":
        return "Ce geste ne correspond pas à ce que l'appel attend."
    return "Geste refusé : l'état de l'appel ne permet pas ce geste."


def _error(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify(error=message), status


@bp.after_request
def _step_errors_in_french(response: Response) -> Response:
    """Errors raised before the step's view (CSRF, body too large) answer in French JSON too."""
    if request.endpoint != "admin.simulator_step" or response.status_code < 400 or \
            response.mimetype == "application/json":
        return response
    messages = {
        400: "Requête refusée : jeton de sécurité (CSRF) absent ou périmé. Rechargez la page.",
        413: "Requête trop volumineuse.",
        500: "Erreur interne du simulateur : réessayez, ou lancez un nouvel appel.",
    }
    message = messages.get(response.status_code, "Requête refusée.")
    replacement = jsonify(error=message)
    replacement.status_code = response.status_code
    for name, value in response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            replacement.headers[name] = value
    return replacement


# ---------------------------------------------------------------------- checks


def parse_instant(value: Any) -> datetime:
    """A ``datetime-local`` value (Montréal time) or an ISO instant with its offset."""
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise BadStep("Moment de l'appel invalide : une date et une heure sont attendues.")
    try:
        instant = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadStep(f"Moment de l'appel invalide : « {_short(value)} ».") from None
    if not 2000 <= instant.year <= 2100:
        raise BadStep("Moment de l'appel invalide : choisissez une année entre 2000 et 2100.")
    if instant.tzinfo is None or instant.utcoffset() is None:
        return instant.replace(tzinfo=TZ)
    return instant.astimezone(TZ)


def _valid_caller(caller: str) -> bool:
    return bool(CALLER.fullmatch(caller)) or caller.lower() in HIDDEN_CALLERS


def _voice_path(value: Any, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or \
            not VOICE_PATH.fullmatch(value) or ".." in value or "//" in value:
        raise BadStep(f"État de l'appel invalide : {what} doit être une adresse sous /voice/.")
    return value


def check_state(state: Any) -> dict[str, Any]:
    """The state the browser sent back, field by field; anything unexpected is refused."""
    if not isinstance(state, dict):
        raise BadStep("État de l'appel manquant : lancez un nouvel appel.")
    if set(state) != {"call_sid", "url", "params", "awaiting"}:
        raise BadStep("État de l'appel invalide : champs inattendus.")
    call_sid = state["call_sid"]
    if not isinstance(call_sid, str) or not CALL_SID.fullmatch(call_sid):
        raise BadStep("État de l'appel invalide : identifiant d'appel incorrect.")
    url = _voice_path(state["url"], "l'adresse suivante")
    params = state["params"]
    if not isinstance(params, dict) or len(params) > MAX_PARAMS:
        raise BadStep("État de l'appel invalide : paramètres incorrects.")
    for name, value in params.items():
        if name not in TWILIO_PARAMS:
            raise BadStep(f"État de l'appel invalide : paramètre inconnu « {_short(name)} ».")
        if not isinstance(value, str) or len(value) > MAX_PARAM_LENGTH or \
                not value.isprintable():
            raise BadStep(f"État de l'appel invalide : valeur trop longue ou incorrecte pour "
                          f"« {name} ».")
    awaiting = state["awaiting"]
    if not isinstance(awaiting, dict) or set(awaiting) != AWAITING_FIELDS:
        raise BadStep("État de l'appel invalide : attente incorrecte.")
    if awaiting["kind"] not in WAITING_KINDS:
        raise BadStep("État de l'appel invalide : l'appel n'attend rien.")
    num_digits, timeout = awaiting["num_digits"], awaiting["timeout"]
    if type(num_digits) is not int or not 1 <= num_digits <= 20:
        raise BadStep("État de l'appel invalide : nombre de touches incorrect.")
    if timeout is not None and (type(timeout) is not int or not 0 <= timeout <= 600):
        raise BadStep("État de l'appel invalide : délai incorrect.")
    finish = awaiting["finish_on_key"]
    if not isinstance(finish, str) or len(finish) > 1 or not set(finish) <= DTMF:
        raise BadStep("État de l'appel invalide : touche de fin incorrecte.")
    if not isinstance(awaiting["on_empty"], bool):
        raise BadStep("État de l'appel invalide : attente incorrecte.")
    number, digits = awaiting["number"], awaiting["send_digits"]
    if number is not None and (not isinstance(number, str)
                               or not DIALLED_NUMBER.fullmatch(number)):
        raise BadStep("État de l'appel invalide : numéro transféré incorrect.")
    if digits is not None and (not isinstance(digits, str) or not SEND_DIGITS.fullmatch(digits)):
        raise BadStep("État de l'appel invalide : poste incorrect.")
    return {
        "call_sid": call_sid,
        "url": url,
        "params": dict(params),
        "awaiting": {
            **awaiting,
            "otherwise": _voice_path(awaiting["otherwise"], "la suite", optional=True),
            "callback": _voice_path(awaiting["callback"], "le rappel d'enregistrement",
                                    optional=True),
        },
    }


def _moves(value: Any) -> list[str]:
    """The caller's moves so far (shown again); short labels only."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_MOVES or \
            not all(isinstance(m, str) and 0 < len(m) <= 40 for m in value):
        raise BadStep("Historique des gestes invalide.")
    return list(value)


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


# ---------------------------------------------------------------------- the answer


def describe(session: CallSession, config: Config, instant: datetime, caller: str,
             moves: list[str], configs: Mapping[str, Config] | None = None) -> dict[str, Any]:
    """What the browser shows: what was said (each text with its language, for the browser's
    voice), what the call awaits, where it ended. ``config`` is the call's language's."""
    audio_texts = {p.audio: p.text for p in config.prompts.values() if p.audio}
    # In French, the welcome's offer of English (key 9) is said by the English voice.
    others = {lang: c for lang, c in (configs or {}).items() if lang != config.language}
    foreign = {" ".join(c.prompts[ENGLISH_OFFER].text.split()): lang
               for lang, c in others.items() if ENGLISH_OFFER in c.prompts}
    said: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    answers = {answer.exchange: answer for answer in session.answers}
    for index, exchange in enumerate(session.exchanges):
        for item in exchange.speech:
            if item.audio is not None:
                name = unquote(urlsplit(item.audio).path.rsplit("/", 1)[-1])
                entry = {"kind": "prompt", "text": audio_texts.get(name, "(enregistrement)"),
                         "audio": item.audio, "lang": config.language}
            else:
                entry = {"kind": "prompt", "text": item.text, "audio": None,
                         "lang": foreign.get(item.text, config.language)}
            said.append(entry)
            entries.append(entry)
        if index in answers:
            move, entry = _answer_entry(config, session, answers[index])
            moves.append(move)
            entries.append(entry)
    ending = _ending(session, config) if session.ended else None
    if ending:
        entries.append({"kind": "end", "text": ending})
    return {
        "said": said,
        "entries": entries,
        "moves": moves[-MAX_MOVES:],
        "awaiting": _awaiting(session.awaiting, config, session.simulator) if not session.ended
        else {"kind": "ended"},
        "ended": session.ended,
        "kind": session.kind,
        "ending": ending,
        "state": session.state(),
        "instant": french_instant(instant),
        "caller": caller_text(caller),
    }


def _answer_entry(config: Config, session: CallSession,
                  answer: Move) -> tuple[str, dict[str, Any]]:
    """One of the caller's moves: a short label, and its line in the transcript."""
    awaiting, choice = answer.awaiting, answer.choice
    if choice.kind == "keys":
        label = "Touche" if len(choice.value) == 1 else "Touches"
        return choice.value, {"kind": "keys", "text": f"{label} {choice.value}"}
    if choice.kind == "silence":
        return "silence", {"kind": "silence", "text": "Silence : aucune touche"}
    if choice.kind == "dial":
        result = DIAL_LABELS.get(choice.value, choice.value)
        target = _transfer_text(awaiting, config, session.simulator)
        return result, {"kind": "dial", "text": f"{target} : {result.lower()}"}
    if choice.kind == "record":
        return "message", {"kind": "record", "text": "Message laissé après le bip"}
    if awaiting.kind == "record":
        return "raccroché", {"kind": "hangup", "text": "Raccroché au bip, sans message"}
    return "raccroché", {"kind": "hangup", "text": "Raccroché"}


def _awaiting(awaiting: Awaiting | None, config: Config,
              simulator: CallSimulator) -> dict[str, Any]:
    if awaiting is None:
        return {"kind": "ended"}
    if awaiting.kind == "keys":
        return {"kind": "keys", "num_digits": awaiting.num_digits, "timeout": awaiting.timeout}
    if awaiting.kind == "dial":
        provider = _provider(awaiting, config, simulator)
        return {"kind": "dial", "number": awaiting.number,
                "number_text": phone_text(awaiting.number or ""),
                "extension": _extension(awaiting.send_digits),
                "provider": provider, "text": _transfer_text(awaiting, config, simulator)}
    return {"kind": "record", "box": _box(awaiting, config, simulator)}


def _ending(session: CallSession, config: Config) -> str:
    """Where the call ended, in French."""
    simulator = session.simulator
    if session.kind == "dial" and session.transfer is not None:
        return _transfer_text(session.transfer, config, simulator)
    if session.kind == "record" and session.voicemail is not None:
        box = _box(session.voicemail, config, simulator)
        return f"Message laissé dans la boîte « {box} »" if box else "Message laissé"
    last = session.answers[-1] if session.answers else None
    if last is not None and last.choice.kind == "hangup":
        if last.awaiting.kind == "record":
            return "Fin de l'appel : raccroché sans laisser de message"
        return "Fin de l'appel : vous avez raccroché"
    if session.kind == "error":
        failed = session.exchanges[-1] if session.exchanges else None
        where = f" (réponse {failed.status} de {failed.url})" if failed else ""
        return f"Fin de l'appel : erreur de la ligne{where}"
    if session.kind == "limit":
        return "Fin de l'appel : trop de requêtes sans réponse de l'appelant"
    return "Fin de l'appel"


def _route(url: str | None, simulator: CallSimulator) -> list[str]:
    """The path segments after /voice of a TwiML action URL."""
    path = urlsplit(simulator.local(url) or "").path
    parts = [unquote(p) for p in path.split("/") if p]
    return parts[1:] if parts[:1] == ["voice"] else []


def _provider(awaiting: Awaiting, config: Config, simulator: CallSimulator) -> str | None:
    """The team a <Dial> rings: its route step (/voice/dial/<node>/<step>), else its number."""
    parts = _route(awaiting.url, simulator)
    if len(parts) == 3 and parts[0] == "dial" and parts[2].isdigit():
        node = config.nodes.get(parts[1])
        step = int(parts[2])
        if node is not None and step < len(node.steps):
            provider = config.providers.get(node.steps[step].target)
            if provider is not None:
                return provider.name
    for provider in config.providers.values():
        if provider.phone and provider.phone == awaiting.number:
            return provider.name
    return None


def _box(awaiting: Awaiting, config: Config, simulator: CallSimulator) -> str | None:
    for url in (awaiting.url, awaiting.callback):
        parts = _route(url, simulator)
        if len(parts) == 2 and parts[0] in ("record", "recording"):
            node = config.nodes.get(parts[1])
            box = config.boxes.get(node.box or "") if node is not None else None
            if box is not None:
                return box.name
    return None


def _extension(send_digits: str | None) -> str | None:
    digits = (send_digits or "").replace("w", "").replace("W", "")
    return digits or None


def _transfer_text(awaiting: Awaiting, config: Config, simulator: CallSimulator) -> str:
    text = f"Transfert au {phone_text(awaiting.number or '')}"
    extension = _extension(awaiting.send_digits)
    if extension:
        text += f", poste {extension}"
    provider = _provider(awaiting, config, simulator)
    return f"{text} ({provider})" if provider else text


# ---------------------------------------------------------------------- French formats


def phone_text(number: str) -> str:
    """+15142514000 → "+1 514 251-4000" (North America); other numbers as they are."""
    digits = number[1:] if number.startswith("+") else number
    if number.startswith("+1") and len(digits) == 11 and digits.isdigit():
        return f"+1 {digits[1:4]} {digits[4:7]}-{digits[7:]}"
    return number


def caller_text(caller: str) -> str:
    if caller.lower() in HIDDEN_CALLERS:
        return "numéro masqué"
    return phone_text(caller)


def french_instant(instant: datetime) -> str:
    """ "mardi 1 décembre 2026, 10 h 05" (Montréal time)."""
    local = instant.astimezone(TZ)
    return (f"{DAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month - 1]} "
            f"{local.year}, {local.hour} h {local.minute:02d}")
