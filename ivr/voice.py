"""Twilio's webhooks: request → decision (ivr.flow) → TwiML (ivr.twiml).

Here: the routes, the signature check, the adapters from a request to a ``Turn`` (its minute,
the caller's textability, the URLs) and from a decision to a response. Elsewhere, one home
each: the decision (``ivr.flow``), answer reuse and its key (``ivr.answers``), replays
(``ivr.replays``), the journal, texts and voicemails a request sets off (``ivr.effects``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Flask, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from ivr import accesslog, clock, effects, replays, security
from ivr.answers import Answer, answer_key, outcome_of
from ivr.config import Config, voice_language
from ivr.flow import (
    Acknowledge,
    CallState,
    Decision,
    Goodbye,
    Speech,
    Turn,
    Voicemail,
)
from ivr.lines import current_config, line_of
from ivr.notify import sms_configured
from ivr.overrides import NONE, Overrides
from ivr.request import LineRequest, seconds
from ivr.services import services
from ivr.speech import Lexicon
from ivr.twiml import Voice, render

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")


class FlaskUrls:
    """The decisions' webhook URLs, as Flask routes them (``ivr.flow.Urls``): paths Twilio
    resolves against the request's URL, and absolute ones for the callbacks it makes on its
    own (the recording's), on the line's public base."""

    def gathered(self, node_id: str, query: Mapping[str, str]) -> str:
        return url_for("voice.gathered", node_id=node_id, **query)

    def dialled(self, node_id: str, step: int, query: Mapping[str, str]) -> str:
        return url_for("voice.dialled", node_id=node_id, step=step, **query)

    def recorded(self, node_id: str, query: Mapping[str, str]) -> str:
        return url_for("voice.recorded", node_id=node_id, **query)

    def recording_status(self, node_id: str, query: Mapping[str, str]) -> str:
        return security.absolute_url(url_for("voice.recording_status", node_id=node_id,
                                             **query)) + security.RETRY_OVERRIDES

    def shortcut(self, query: Mapping[str, str]) -> str:
        return url_for("voice.shortcut", **query)

    def audio(self, filename: str) -> str:
        return url_for("voice.audio", filename=filename)

    def phone_admin(self) -> str:
        return url_for("gestion.step", step="numero")  # ivr.phone_admin


URLS = FlaskUrls()


def _minute(instant: datetime) -> datetime:
    """The minute schedules are read at (every schedule boundary is one)."""
    return instant.replace(second=0, microsecond=0)


def _overrides(app: Flask) -> Overrides:
    """The day's announcements, closures and openings (``ivr.overrides_store``), as a snapshot
    in memory; none when the store is not set up or fails (the YAML decides alone)."""
    provider = getattr(services(app), "overrides", None)
    if provider is None:
        return NONE
    try:
        return provider.current()
    except Exception:
        log.exception("overrides unavailable: the YAML's hours alone decide")
        return NONE


_last_version: tuple[Overrides, str] = (NONE, NONE.version)


def _version(overrides: Overrides) -> str:
    """The snapshot's version (a hash of its entries, ~35 µs), once per snapshot: the store
    hands every request the same object until something changes."""
    global _last_version
    snapshot, version = _last_version
    if snapshot is not overrides:
        version = overrides.version
        _last_version = (overrides, version)
    return version


def _textable(app: Flask, req: LineRequest) -> str:
    """"mobile", "unknown" or "no": may the line offer this caller a text, and how (a memory
    read: the line type is looked up at the call's start, off the call path)."""
    if not sms_configured(app.config):
        return "no"
    number = req.form.get("From") or None
    return services(app).line_types.textability(number)  # the static checks included


def _turn(code: str | None = None) -> Turn:
    """A turn decided every time, in the language the request's URL carries (or ``code``)."""
    app, req = _objects()
    instant = clock.now_for(app, req.environ)
    line = line_of(app)
    configs = line.configs
    return Turn(line.config_for(req.args.get("l") if code is None else code),
                _minute(instant), URLS, _textable(app, req), _overrides(app), instant, configs)


def _objects() -> tuple[Flask, LineRequest]:
    """The app and the request behind Flask's proxies, looked up once for the hot path."""
    return current_app._get_current_object(), request._get_current_object()  # type: ignore[attr-defined,return-value]


def _decided(key: tuple[object, ...], decide: Callable[[Turn], Decision]) -> Response:
    """The answer to a conversational request: reused if this one was decided already.

    ``key`` names what the view's ``decide`` reads of the request besides the config, the
    overrides, the minute and the caller's textability.
    """
    app, req = _objects()
    line = line_of(app)
    configs = line.configs
    # The call's language, from its URL (``l=en``: the query string is in ``key`` too).
    config = line.config_for(req.args.get("l"))
    instant = clock.now_for(app, req.environ)
    minute = _minute(instant)
    textable = _textable(app, req)
    overrides = _overrides(app)
    host = req.host_url if services(app).public_url is None else None
    full_key = answer_key(config.version, _version(overrides), req.script_root, host, textable,
                          key)
    answer = line.answers.get(full_key)
    if answer is None or not answer.holds(minute, instant):
        turn = Turn(config, minute, URLS, textable, overrides, instant, configs)
        answer = Answer.of(turn, decide(turn), services(app).voice)
        line.answers.put(full_key, answer)
    return _reply(answer, app, req)


def _respond(turn: Turn, decision: Decision) -> Response:
    """The answer to a request that is decided every time (callbacks, failures)."""
    return _reply(Answer.of(turn, decision, services(current_app).voice), *_objects())


def _reply(answer: Answer, app: Flask, req: LineRequest) -> Response:
    req.outcome = answer.outcome
    if answer.notes and not replays.replayed(app, req):
        effects.journal(answer.notes, app, req)
    if answer.texts:
        effects.send_texts(answer.texts)
    if isinstance(answer.decision, Acknowledge):
        return Response(b"", status=204)
    return Response(answer.body, mimetype="text/xml")


def _digits() -> str | None:
    digits = request.form.get("Digits")  # type: ignore[attr-defined]
    return None if digits is None else digits[:64]


# ---------------------------------------------------------------------- routes


@bp.post("")
def incoming() -> Response:
    if sms_configured(current_app.config):
        services(current_app).line_types.look_up_later(request.form.get("From") or None)  # type: ignore[attr-defined]
    return _decided(("incoming", request.query_string),  # l=en: the same call, in English
                    lambda turn: turn.enter(turn.config.line.root, CallState()))


@bp.post("/node/<node_id>")
def node(node_id: str) -> Response:
    return _decided(("node", node_id, request.query_string),
                    lambda turn: turn.enter(node_id, _state(turn)))


@bp.post("/input/<node_id>")
def gathered(node_id: str) -> Response:
    digits = _digits()
    return _decided(("input", node_id, request.query_string, digits),
                    lambda turn: turn.gathered(node_id, digits, _state(turn)))


@bp.post("/shortcut")
def shortcut() -> Response:
    digits = _digits() or ""
    return _decided(("shortcut", request.query_string, digits),
                    lambda turn: turn.shortcut(digits, _state(turn)))


@bp.post("/dial/<node_id>/<int:step>")
def dialled(node_id: str, step: int) -> Response:
    status = request.form.get("DialCallStatus", "")[:32]
    return _decided(("dial", node_id, step, request.query_string, status),
                    lambda turn: turn.dial_result(node_id, step, status, _state(turn)))


def _state(turn: Turn) -> CallState:
    return CallState.from_query(request.args, turn.config)


@bp.post("/record/<node_id>")
def recorded(node_id: str) -> Response:
    """The caller finished recording: spool the message, thank them.

    Should the spool refuse it (a full disk), the recording callback, which Twilio retries,
    and the worker's reconciliation with Twilio still store it: the thanks hold."""
    turn = _turn()
    form = request.form
    has_message = bool(form.get("RecordingUrl")) and seconds(form.get("RecordingDuration")) != 0
    prompt = "systeme.message_enregistre" if has_message else "systeme.aucun_message"
    if form.get("RecordingSid") and not effects.simulated():
        effects.spool_voicemail(turn.config, node_id)
        turn.note("recorded" if has_message else "empty-recording", node_id,
                  form.get("RecordingSid"))
    return _respond(turn, Goodbye((turn.say(prompt),)))


@bp.post("/recording/<node_id>")
def recording_status(node_id: str) -> Response:
    """Twilio's recording callback, outside the conversation: 204 once the message is in the
    spool; 503 if the disk refused it, which Twilio retries (``security.RETRY_OVERRIDES`` on
    this URL: the only webhook allowed a 5xx, since no caller hears it)."""
    if request.form.get("RecordingSid") and not effects.simulated() and \
            request.form.get("RecordingStatus", "completed") == "completed" and \
            not effects.spool_voicemail(current_config(), node_id):
        request.outcome = "retry"  # type: ignore[attr-defined]
        return Response(b"", status=503)
    request.outcome = "ack"  # type: ignore[attr-defined]
    return Response(b"", status=204)


@bp.post("/fallback")
def fallback() -> Response:
    """Twilio's fallback URL: our answer failed or came too late (``ErrorCode``, ``ErrorUrl``).

    The caller is still on the line: apologise and send them where a failure sends them, by the
    branch the failed URL says they were in. A failure after a recording thanks them instead,
    since the message exists at Twilio (``ivr reconcile`` stores it if no callback came).
    """
    error_url = request.form.get("ErrorUrl", "")[:2048]
    parts = urlsplit(error_url)
    query = parse_qs(parts.query)
    turn = _turn(query.get("l", [""])[0][:8])  # the failed request's language
    log.warning("fallback URL called: ErrorCode=%s for %s (CallSid=%s)",
                request.form.get("ErrorCode", "?")[:16], parts.path[:200],
                request.form.get("CallSid", "?")[:64])
    segments = parts.path.rstrip("/").split("/")
    if "record" in segments:
        return _respond(turn, Goodbye((turn.say("systeme.message_enregistre"),)))
    node_id = segments[-1] if len(segments) > 3 and segments[-3] == "voice" else None
    if len(segments) > 4 and segments[-4] == "voice" and segments[-3] == "dial":
        node_id = segments[-2]
    path = tuple(query.get("p", [""])[0][:1024].split("."))
    return _respond(turn, turn.after_failure(node_id, path))


@bp.post("/status")
def status() -> Response:
    """Twilio's call-status callback closes the call in the journal."""
    turn = _turn()
    call_status = request.form.get("CallStatus", "")[:32]
    duration = seconds(request.form.get("CallDuration"))
    turn.note("status", None, call_status,
              duration=None if duration is None else str(duration))
    return _respond(turn, Acknowledge())


@bp.get("/audio/<path:filename>")
def audio(filename: str) -> Response:
    from flask import send_from_directory

    return send_from_directory(current_config().directory / "prompts" / "audio", filename)


@bp.errorhandler(Exception)
def apologise(exc: Exception) -> Response | HTTPException:
    """Never a 5xx to Twilio: a spoken apology, then a person or a voicemail."""
    if isinstance(exc, HTTPException):
        return exc
    log.exception("webhook failed (CallSid=%s)", request.form.get("CallSid", "?")[:64])
    request.failure = type(exc).__name__  # type: ignore[attr-defined]
    try:
        turn = _turn()
        node_id = (request.view_args or {}).get("node_id")
        path = tuple(request.args.get("p", "")[:1024].split("."))
        return _respond(turn, turn.after_failure(node_id, path))
    except Exception:  # even the failure route failed: a fixed message to the voicemail
        log.exception("failure route failed too (CallSid=%s)", request.form.get("CallSid", "?"))
        return _last_resort()


def _last_resort() -> Response:
    """No config, no prompt lookups: an apology and the fallback voicemail, from constants."""
    voice = services(current_app).voice or Voice("Polly.Gabrielle-Neural", "fr-CA")
    sorry = Speech("Désolé, un problème technique est survenu.")
    try:
        config = current_config()
        box = config.line.fallback
        decision: Decision = Voicemail(
            speech=(sorry, _notice(config, box),
                    Speech("Laissez votre nom, votre numéro et votre message après le "
                           "signal sonore. Nous vous rappellerons.")),
            action=url_for("voice.recorded", node_id=box),
            status_callback=security.absolute_url(url_for("voice.recording_status",
                                                          node_id=box)) + security.RETRY_OVERRIDES,
            no_message=(Speech("Au revoir."),),
        )
    except Exception:
        decision = Goodbye((sorry, Speech("Veuillez rappeler plus tard.")))
    request.outcome = outcome_of(decision)  # type: ignore[attr-defined]
    return Response(render(decision, voice), mimetype="text/xml")


def _notice(config: Config, node_id: str) -> Speech:
    """The recording notice of the last resort's box; a plain one if even that fails."""
    try:
        node = config.nodes[node_id]
        return Turn(config, clock.now(), URLS).notice(config.boxes[node.box or ""])
    except Exception:
        return Speech("Votre message sera enregistré.")


@bp.after_request
def _access_log(response: Response) -> Response:
    """One structured line per webhook: who, where, what they got, how fast."""
    if accesslog.enabled():
        req: LineRequest = request._get_current_object()  # type: ignore[attr-defined]
        fields = req.parsed_form()  # not parsed: a GET, or a body refused unread
        started = req.started
        keys, dial = fields.get("Digits"), fields.get("DialCallStatus")
        accesslog.record(
            call=fields.get("CallSid", "")[:64] or None,
            method=req.method,
            path=req.path[:200],
            node=(req.view_args or {}).get("node_id"),
            status=response.status_code,
            outcome=req.outcome,
            ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
            caller=fields.get("From"),
            keys=None if keys is None else keys[:8],
            dial=None if dial is None else dial[:16],
            error=req.failure,
            replay=bool(req.replayed),
        )
    return response


@bp.before_request
def _signed_by_twilio() -> None:
    req: LineRequest = request._get_current_object()  # type: ignore[attr-defined]
    req.started = time.perf_counter()  # for the access line (one hook, not two)
    if req.endpoint != "voice.audio":  # Twilio fetches <Play> files with a plain GET
        security.require_twilio_signature()


def init_app(app: Flask) -> None:
    english = app.config["IVR_VOICE_EN"]
    services(app).voice = Voice(app.config["IVR_VOICE"], "fr-CA", others={
        "en-CA": (english, voice_language(english, "en-CA"), Lexicon())})
    services(app).recent = replays.RecentRequests()
    app.register_blueprint(bp)
