"""Twilio's webhooks: request → decision → TwiML.

The call's whole state (the menus behind the caller and the failed tries in this menu) travels
in the URLs Twilio calls back, so any instance can serve any request and nothing is kept here.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Flask, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from ivr import accesslog, clock, security
from ivr.config import Config, Node
from ivr.lines import current_config, line_of
from ivr.notify import can_text, mask_phone, queue_voicemail_emails, sms_configured
from ivr.request import LineRequest
from ivr.store import Store, utcnow
from ivr.twiml import (
    Acknowledge,
    Ask,
    Decision,
    Goodbye,
    Speech,
    Transfer,
    Voice,
    Voicemail,
    dtmf_wait,
    render,
)
from ivr.validate import SHORTCUT_LIST
from ivr.worker import Worker, current_worker

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

DTMF = frozenset("0123456789*#")
MAX_PATH = 24  # deeper than any sane tree; bounds URL length whatever a tampered URL says
MAX_GOTO = 12  # routes chained by goto in one response; bounds a loop a config might hide


@dataclass(frozen=True)
class CallState:
    """Where the caller came from (menus only), how many tries failed in the current one, and
    whether they heard how to navigate (said once per call)."""

    path: tuple[str, ...] = ()
    tries: int = 0
    hinted: bool = False

    @classmethod
    def from_request(cls, config: Config) -> CallState:
        raw_path = request.args.get("p", "")[:1024]
        path = tuple(p for p in raw_path.split(".") if p in config.nodes)[-MAX_PATH:]
        try:
            tries = min(max(int(request.args.get("n", "0")[:2]), 0), config.line.max_tries)
        except ValueError:
            tries = 0
        return cls(path, tries, request.args.get("h") == "1")

    def query(self) -> dict[str, str]:
        q = {}
        if self.path:
            q["p"] = ".".join(self.path)
        if self.tries:
            q["n"] = str(self.tries)
        if self.hinted:
            q["h"] = "1"
        return q

    def forward(self, node_id: str) -> CallState:
        return CallState((*self.path, node_id)[-MAX_PATH:], 0, self.hinted)

    def back(self) -> CallState:
        return CallState(self.path[:-1], 0, self.hinted)


class Turn:
    """One webhook request's decision: the config and minute it is decided with, and how to
    speak. It reads nothing else of the request, so its result can serve every request that
    asks the same thing (see :class:`Answer`); what is done for this caller (texts) is listed
    in ``texts`` and done by the view."""

    def __init__(self, config: Config, now: datetime, textable: str = "no") -> None:
        self.config = config
        self._now = now
        # Whether texts are configured and this caller's line takes them: "mobile" (known),
        # "unknown" (the offer says « si vous appelez d'un cellulaire »), "no" (no offer).
        self.textable = textable
        self.clock_read = False
        self.audio: list[Path] = []  # recordings played: the answer holds while they exist
        self.notes: list[dict[str, str | None]] = []
        self.texts: list[tuple[str, str]] = []  # (node id, body) to text the caller

    @property
    def now(self) -> datetime:
        self.clock_read = True
        return self._now

    def note(self, kind: str, node: str | None = None, detail: str | None = None,
             **summary: str | None) -> None:
        """Something for the call journal; written later by the worker, never on the call path."""
        self.notes.append({"kind": kind, "node": node, "detail": detail, **summary})

    # ------------------------------------------------------------------ speech

    def say(self, prompt_id: str, key: str | None = None) -> Speech:
        prompt = self.config.prompts[prompt_id]
        if not prompt.fields:
            # A recorded file deleted since the config was loaded: speak the text instead.
            if prompt.audio:
                recording = self.config.directory / "prompts" / "audio" / prompt.audio
                if recording.is_file():
                    self.audio.append(recording)
                    return Speech(prompt.text, url_for("voice.audio", filename=prompt.audio))
            return Speech(prompt.text)
        text = prompt.text
        for field in prompt.fields:
            text = text.replace("{" + field + "}", self._field(field, key))
        return Speech(text.replace("{{", "{").replace("}}", "}"))

    def _field(self, field: str, key: str | None) -> str:
        if field == "touche":
            return spoken_key(key or "")
        provider, _, what = field.partition(".")
        schedule = self.config.schedule
        if what == "heures":
            return schedule.hours_text(provider)
        return schedule.reopening_text(provider, self.now)

    def says(self, prompt_ids: tuple[str, ...]) -> tuple[Speech, ...]:
        return tuple(self.say(p) for p in prompt_ids)

    # ------------------------------------------------------------------ nodes

    def enter(self, node_id: str, state: CallState, pre: tuple[Speech, ...] = (),
              depth: int = 0) -> Decision:
        """What the caller hears and does on arriving at ``node_id``."""
        config = self.config
        node = config.nodes.get(node_id)
        if node is None:
            return self.enter(config.line.root, CallState(), (self.say("systeme.menu_disparu"),))
        root = config.line.root
        branch = state.path[1] if len(state.path) > 1 and state.path[0] == root else (
            node_id if state.path[:1] == (root,) else None)
        self.note("enter", node_id, branch=branch, last_node=node_id)
        if node.gathers:
            return self.ask(node, state, pre)
        if node.type == "route":
            return self.route(node, 0, state, pre + self.says(node.prompt), depth)
        if node.type == "voicemail":
            box = config.boxes[node.box or ""]
            greeting = node.prompt or (box.greeting,)
            # The path the caller took, routes included, for the message's record.
            taken = [n["node"] for n in self.notes if n["kind"] == "enter"]
            trail = [*state.path, *(n for n in taken if n and n != node.id)][-MAX_PATH:]
            query = {"p": ".".join(trail)} if trail else {}
            self.note("voicemail", node.id, box.id, destination=f"voicemail:{box.id}")
            return Voicemail(
                speech=pre + self.says(greeting),
                action=url_for("voice.recorded", node_id=node.id, **query),
                status_callback=self.absolute(url_for("voice.recording_status", node_id=node.id,
                                                      **query)),
                no_message=(self.say("systeme.aucun_message"),),
            )
        return Goodbye(pre + self.says(node.prompt) + (self.say("systeme.au_revoir"),))

    def ask(self, node: Node, state: CallState, pre: tuple[Speech, ...]) -> Ask:
        """A menu or an information: its prompt, its options, then (information) its details,
        the text offer, and once per call how to repeat and go back."""
        speech = list(pre) + list(self.says(node.prompt))
        for key in sorted(node.options):
            option = node.options[key]
            if option.say:
                speech.append(self.say(option.say, key))
        speech += self.says(node.details)
        if node.sms is not None and self.sms_offered():
            offer = "systeme.offre_texto" if self.textable == "mobile" else \
                "systeme.offre_texto_cellulaire"
            speech.append(self.say(offer, node.sms.key))
        if not state.hinted and node.id != self.config.line.root:
            speech.append(self.say("systeme.navigation"))
            state = CallState(state.path, state.tries, True)
        return Ask(
            speech=tuple(speech),
            action=url_for("voice.gathered", node_id=node.id, **state.query()),
            num_digits=1,
            timeout=self.config.line.timeout,
        )

    def route(self, node: Node, start: int, state: CallState, pre: tuple[Speech, ...],
              depth: int) -> Decision:
        """Try the route's steps from ``start``: the first open provider is dialled."""
        for index in range(start, len(node.steps)):
            step = node.steps[index]
            if step.kind == "goto":
                if depth >= MAX_GOTO:
                    log.error("route loop at %s", node.id)
                    break
                return self.enter(step.target, state, pre + self.says(step.say), depth + 1)
            provider = self.config.providers[step.target]
            is_open = self.config.schedule.is_open(provider.id, self.now)
            if not is_open and step.closed:
                return self.enter(step.closed, state, pre, depth + 1)
            if provider.phone and is_open:
                self.note("dial", node.id, provider.id, destination=provider.id)
                digits = None
                if provider.extension:
                    digits = dtmf_wait(provider.extension_pause) + provider.extension
                return Transfer(
                    speech=pre + self.says(step.say),
                    number=provider.phone,
                    send_digits=digits,
                    action=url_for("voice.dialled", node_id=node.id, step=index,
                                   **state.query()),
                    ring_timeout=provider.ring_timeout,
                )
        return self.enter(self.config.line.fallback, state, pre, depth + 1)

    def after_failure(self, node_id: str | None, path: tuple[str, ...]) -> Decision:
        """A technical failure: apologise, then a person (staff) or a voicemail (others)."""
        line = self.config.line
        target = line.on_error.get(branch_of(self.config, node_id, path) or "", line.fallback)
        self.note("error", node_id)
        return self.enter(target, CallState((line.root,)), (self.say("systeme.erreur"),))

    def fallback(self, node: Node, state: CallState) -> Decision:
        target = node.fallback or self.config.line.fallback
        self.note("fallback", node.id)  # the statistics' "where callers fail"
        return self.enter(target, state, (self.say("systeme.trop_d_essais"),))

    def absolute(self, path: str) -> str:
        return security.absolute_url(path)

    def sms_offered(self) -> bool:
        return self.textable in ("mobile", "unknown")

    # ------------------------------------------------------------------ input

    def key_pressed(self, node: Node, digits: str | None, state: CallState) -> Decision:
        config = self.config
        if digits is None or digits == "":
            if node.type == "info" and node.silence:
                return self.enter(node.silence, state.forward(node.id))
            if node.type == "info":
                return Goodbye((self.say("systeme.au_revoir"),))
            return self.retry(node, state, ())
        key = digits if len(digits) == 1 and digits in DTMF else None
        if key == "#":
            return self.ask(node, state, ())
        if key == "*":
            if node.id == config.line.root:
                return Ask(
                    speech=(self.say("systeme.raccourci"),),
                    # The failed tries go along: "*00" typed again and again still counts.
                    action=url_for("voice.shortcut", **state.query()),
                    num_digits=2,
                    timeout=config.line.shortcut_timeout,
                )
            previous = state.path[-1] if state.path else config.line.root
            return self.enter(previous, state.back())
        if key is not None and key in node.options:
            return self.enter(node.options[key].to, state.forward(node.id))
        if key is not None and node.sms is not None and key == node.sms.key and \
                self.sms_offered():
            self.send_text(node)
            sent = "systeme.texto_envoye" if self.textable == "mobile" else \
                "systeme.texto_envoye_cellulaire"
            return self.ask(node, state, (self.say(sent),))
        return self.retry(node, state, (self.say("systeme.choix_invalide"),))

    def send_text(self, node: Node) -> None:
        """Text the node's message to the caller: the view queues it after the answer."""
        assert node.sms is not None
        self.texts.append((node.id, self.say(node.sms.text).text))
        self.note("sms", node.id, node.sms.text)

    def retry(self, node: Node, state: CallState, pre: tuple[Speech, ...]) -> Decision:
        tries = state.tries + 1
        if tries >= self.config.line.max_tries:
            return self.fallback(node, state)
        return self.ask(node, CallState(state.path, tries, state.hinted), pre)


def branch_of(config: Config, node_id: str | None, path: tuple[str, ...]) -> str | None:
    """The welcome-menu choice a caller is under (e.g. "personnel"), from the URL state."""
    root = config.line.root
    trail = [p for p in (*path, node_id) if p and p in config.nodes]
    if trail[:1] == [root]:
        trail = trail[1:]
    return trail[0] if trail else None


def spoken_key(key: str) -> str:
    return {"#": "le carré", "*": "l'étoile"}.get(key, key)


@dataclass(frozen=True)
class Answer:
    """A decided webhook answer: the TwiML, and the journal notes and texts it comes with.

    A :class:`Turn` reads only the config, the URL, the keys, whether the caller can be texted
    and (for schedules) the minute: every request asking the same thing gets the same answer.
    So answers are kept (``LineConfig.answers``) and reused: one that read the clock, within
    its minute only (the schedules change on whole minutes); one that plays recordings, while
    they exist. The call's own data (SID, caller, time) is added per request.
    """

    decision: Decision
    body: bytes
    outcome: str
    notes: tuple[Mapping[str, str | None], ...]
    texts: tuple[tuple[str, str], ...]
    minute: datetime | None  # the minute it holds for, when the clock was read
    audio: tuple[Path, ...]

    @classmethod
    def of(cls, turn: Turn, decision: Decision) -> Answer:
        if isinstance(decision, Goodbye):
            turn.note("end")
        body = b"" if isinstance(decision, Acknowledge) else \
            render(decision, current_app.extensions["ivr.voice"], turn.config.lexicon).encode()
        return cls(decision, body, _outcome(decision), tuple(turn.notes), tuple(turn.texts),
                   turn._now if turn.clock_read else None, tuple(turn.audio))

    def holds(self, minute: datetime) -> bool:
        return (self.minute is None or self.minute == minute) and \
            all(path.is_file() for path in self.audio)


def _minute(app: Flask, req: LineRequest) -> datetime:
    """The instant decisions are made at: the current minute (every schedule boundary is one)."""
    return clock.now_for(app, req.environ).replace(second=0, microsecond=0)


def _textable(app: Flask, req: LineRequest) -> str:
    """"mobile", "unknown" or "no": may the line offer this caller a text, and how (a memory
    read: the line type is looked up at the call's start, off the call path)."""
    if not sms_configured(app.config):
        return "no"
    number = req.form.get("From") or None
    line_types = app.extensions.get("ivr.line_types")
    if line_types is not None:
        return line_types.textability(number)
    return "unknown" if _can_text(number) else "no"


_can_text = lru_cache(maxsize=4096)(can_text)


def _turn() -> Turn:
    app, req = _objects()
    return Turn(line_of(app).config, _minute(app, req), _textable(app, req))


def _objects() -> tuple[Flask, LineRequest]:
    """The app and the request behind Flask's proxies, looked up once for the hot path."""
    return current_app._get_current_object(), request._get_current_object()  # type: ignore[attr-defined,return-value]


def _decided(key: tuple[object, ...], decide: Callable[[Turn], Decision]) -> Response:
    """The answer to a conversational request: reused if this one was decided already.

    ``key`` names what the view's ``decide`` reads of the request besides the config, the
    minute and the caller's textability.
    """
    app, req = _objects()
    line = line_of(app)
    config = line.config
    minute = _minute(app, req)
    textable = _textable(app, req)
    full_key = (config.version, req.script_root, textable, *key)
    if app.extensions["ivr.public_url"] is None:  # absolute URLs use the Host header
        full_key += (req.host_url,)
    answer = line.answers.get(full_key)
    if answer is None or not answer.holds(minute):
        turn = Turn(config, minute, textable)
        answer = Answer.of(turn, decide(turn))
        line.answers.put(full_key, answer)
    return _reply(answer, app, req)


def _respond(turn: Turn, decision: Decision) -> Response:
    """The answer to a request that is decided every time (callbacks, failures)."""
    return _reply(Answer.of(turn, decision), *_objects())


def _reply(answer: Answer, app: Flask, req: LineRequest) -> Response:
    req.outcome = answer.outcome
    if answer.notes and not _replayed(app, req):
        _journal(answer.notes, app, req)
    if answer.texts:
        _send_texts(answer.texts)
    if isinstance(answer.decision, Acknowledge):
        return Response(b"", status=204)
    return Response(answer.body, mimetype="text/xml")


# WSGI environ key set by the console's simulator: the call is played through the real
# webhooks, but leaves no journal, no voicemail and sends no text.
SIMULATED = "ivr.simulated"


def simulated() -> bool:
    return bool(request.environ.get(SIMULATED))


def _journal(notes: tuple[Mapping[str, str | None], ...], app: Flask, req: LineRequest) -> None:
    fields = req.form
    call_sid = fields.get("CallSid")
    if not call_sid or req.environ.get(SIMULATED):
        return
    worker: Worker = app.extensions["ivr.worker"]
    worker.record_notes(call_sid[:64], utcnow(), mask_phone(fields.get("From") or None), notes)


def _send_texts(texts: tuple[tuple[str, str], ...]) -> None:
    """Queue the answer's texts for this caller; the worker sends them after the request."""
    if simulated():
        return
    form = request.form
    recipient, call_sid = form.get("From", ""), form.get("CallSid", "")
    worker = current_worker()
    for node_id, body in texts:

        def queue(store: Store, node_id: str = node_id, body: str = body) -> None:
            store.enqueue(kind="sms", recipient=recipient, body=body,
                          dedupe_key=f"sms:{call_sid}:{node_id}")

        worker.defer(f"text for {mask_phone(recipient)}", queue)
    worker.wake()


def _outcome(decision: Decision) -> str:
    """A short name for the access log: what the caller gets from this answer."""
    if isinstance(decision, Ask):
        return "ask"
    if isinstance(decision, Transfer):
        return "dial"
    if isinstance(decision, Voicemail):
        return "record"
    if isinstance(decision, Goodbye):
        return "hangup"
    return "ack"


class RecentRequests:
    """Fingerprints of the requests this process answered lately, to spot replays.

    A replay (the same signed request sent again: Twilio retrying through a connection override,
    or someone who captured it) gets the same answer, but its journal notes are not written
    twice. SMS, voicemails and e-mails are idempotent on their own keys in the store.
    """

    def __init__(self, size: int = 10_000, ttl: float = 3600.0) -> None:
        self.size, self.ttl = size, ttl
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, fingerprint: str) -> bool:
        now = time.monotonic()
        with self._lock:
            at = self._seen.get(fingerprint)
            self._seen[fingerprint] = now
            self._seen.move_to_end(fingerprint)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return at is not None and now - at < self.ttl


def _replayed(app: Flask, req: LineRequest) -> bool:
    if req.replayed is None:
        environ = req.environ
        token = environ.get("HTTP_I_TWILIO_IDEMPOTENCY_TOKEN", "")[:128]
        fingerprint = token or hashlib.sha256(
            (environ.get("HTTP_X_TWILIO_SIGNATURE", "") + req.full_path).encode()
        ).hexdigest()
        req.replayed = app.extensions["ivr.recent"].seen(fingerprint)
    return req.replayed


def _digits() -> str | None:
    digits = request.form.get("Digits")  # type: ignore[attr-defined]
    return None if digits is None else digits[:64]


# ---------------------------------------------------------------------- routes


@bp.post("")
def incoming() -> Response:
    line_types = current_app.extensions.get("ivr.line_types")
    if line_types is not None and sms_configured(current_app.config):
        line_types.look_up_later(request.form.get("From") or None)  # type: ignore[attr-defined]
    return _decided(("incoming",), lambda turn: turn.enter(turn.config.line.root, CallState()))


@bp.post("/node/<node_id>")
def node(node_id: str) -> Response:
    return _decided(("node", node_id, request.query_string),
                    lambda turn: turn.enter(node_id, CallState.from_request(turn.config)))


@bp.post("/input/<node_id>")
def gathered(node_id: str) -> Response:
    digits = _digits()

    def decide(turn: Turn) -> Decision:
        current = turn.config.nodes.get(node_id)
        if current is None or not current.gathers:
            return turn.enter("", CallState())
        turn.note("key", node_id, digits if digits else "(silence)")
        return turn.key_pressed(current, digits, CallState.from_request(turn.config))

    return _decided(("input", node_id, request.query_string, digits), decide)


@bp.post("/shortcut")
def shortcut() -> Response:
    digits = _digits() or ""

    def decide(turn: Turn) -> Decision:
        line = turn.config.line
        turn.note("key", line.root, f"*{digits}")
        if digits == SHORTCUT_LIST:  # the list, then the two digits of the one they want
            listed = [turn.say(line.shortcut_say[code]) for code in sorted(line.shortcut_say)]
            return Ask(speech=(turn.say("systeme.raccourcis"), *listed),
                       action=url_for("voice.shortcut"), num_digits=2, timeout=line.timeout)
        target = line.shortcuts.get(digits)
        if target is None:
            root = turn.config.nodes[line.root]
            state = CallState((), CallState.from_request(turn.config).tries)
            said = (turn.say("systeme.raccourci_invalide"),) if digits else ()
            return turn.retry(root, state, said)
        return turn.enter(target, CallState((line.root,)))

    return _decided(("shortcut", request.query_string, digits), decide)


@bp.post("/dial/<node_id>/<int:step>")
def dialled(node_id: str, step: int) -> Response:
    status = request.form.get("DialCallStatus", "")[:32]

    def decide(turn: Turn) -> Decision:
        current = turn.config.nodes.get(node_id)
        turn.note("dial-result", node_id, status)
        if status == "completed":
            return Goodbye(())
        if current is None or current.type != "route":  # the config changed under this call
            return turn.enter("", CallState())
        state = CallState.from_request(turn.config)
        return turn.route(current, step + 1, state, (turn.say("systeme.pas_de_reponse"),), 0)

    return _decided(("dial", node_id, step, request.query_string, status), decide)


@bp.post("/record/<node_id>")
def recorded(node_id: str) -> Response:
    """The caller finished recording: thank them now, store the message just after."""
    turn = _turn()
    duration = request.form.get("RecordingDuration", "0")
    has_message = bool(request.form.get("RecordingUrl")) and duration not in ("", "0")
    prompt = "systeme.message_enregistre" if has_message else "systeme.aucun_message"
    if request.form.get("RecordingSid") and not simulated():
        current_worker().defer("voicemail", _voicemail_saver(turn.config, node_id))
        turn.note("recorded" if has_message else "empty-recording", node_id,
                  request.form.get("RecordingSid"))
    return _respond(turn, Goodbye((turn.say(prompt),)))


@bp.post("/recording/<node_id>")
def recording_status(node_id: str) -> Response:
    """Twilio's recording callback, outside the conversation: store it now, or soon."""
    if request.form.get("RecordingSid") and not simulated() and \
            request.form.get("RecordingStatus", "completed") == "completed":
        save = _voicemail_saver(current_config(), node_id)
        worker = current_worker()
        try:
            save(worker.store)
        except Exception as exc:
            log.warning("voicemail callback: storing later (%s)", type(exc).__name__)
            worker.defer("voicemail", save)
    request.outcome = "ack"  # type: ignore[attr-defined]
    return Response(b"", status=204)


def _voicemail_saver(config: Config, node_id: str):
    """An idempotent store-and-notify for the recording in this request (either callback)."""
    form = request.form
    node = config.nodes.get(node_id)
    box = node.box if node is not None and node.box else None
    if box is None:
        fallback = config.nodes.get(config.line.fallback)
        box = fallback.box if fallback is not None and fallback.box else "inconnue"
    path = request.args.get("p", "")[:1024]
    duration = form.get("RecordingDuration", "")
    fields = {
        "recording_sid": form.get("RecordingSid", "")[:64],
        "call_sid": form.get("CallSid", "")[:64],
        "box": box,
        "node": node_id[:128],
        "caller": (form.get("From") or None) and form.get("From", "")[:32],
        "path": ".".join(p for p in (*path.split("."), node_id) if p),
        "received_at": utcnow(),
        "recording_url": form.get("RecordingUrl") or None,
        "duration": int(duration) if duration.isdigit() else None,
    }
    console = current_app.config.get("IVR_PUBLIC_URL")
    wake = current_worker().wake

    def save(store: Store) -> None:
        voicemail, _ = store.save_voicemail(**fields)
        if voicemail.recording_url and voicemail.notified_at is None and \
                queue_voicemail_emails(store, config, voicemail, console):
            wake()

    return save


@bp.post("/fallback")
def fallback() -> Response:
    """Twilio's fallback URL: our answer failed or came too late (``ErrorCode``, ``ErrorUrl``).

    The caller is still on the line: apologise and send them where a failure sends them, by the
    branch the failed URL says they were in. A failure after a recording thanks them instead,
    since the message exists at Twilio (``ivr reconcile`` stores it if no callback came).
    """
    turn = _turn()
    error_url = request.form.get("ErrorUrl", "")[:2048]
    parts = urlsplit(error_url)
    log.warning("fallback URL called: ErrorCode=%s for %s (CallSid=%s)",
                request.form.get("ErrorCode", "?")[:16], parts.path[:200],
                request.form.get("CallSid", "?")[:64])
    segments = parts.path.rstrip("/").split("/")
    if "record" in segments:
        return _respond(turn, Goodbye((turn.say("systeme.message_enregistre"),)))
    node_id = segments[-1] if len(segments) > 3 and segments[-3] == "voice" else None
    if len(segments) > 4 and segments[-4] == "voice" and segments[-3] == "dial":
        node_id = segments[-2]
    path = tuple(parse_qs(parts.query).get("p", [""])[0][:1024].split("."))
    return _respond(turn, turn.after_failure(node_id, path))


@bp.post("/status")
def status() -> Response:
    """Twilio's call-status callback closes the call in the journal."""
    turn = _turn()
    call_status = request.form.get("CallStatus", "")[:32]
    duration = request.form.get("CallDuration", "")
    turn.note("status", None, call_status,
              duration=duration if duration.isdigit() else None)
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
    voice = current_app.extensions.get("ivr.voice") or Voice("Polly.Gabrielle-Neural", "fr-CA")
    sorry = Speech("Désolé, un problème technique est survenu.")
    try:
        box = current_config().line.fallback
        decision: Decision = Voicemail(
            speech=(sorry, Speech("Laissez votre nom, votre numéro et votre message après le "
                                  "signal sonore. Nous vous rappellerons.")),
            action=url_for("voice.recorded", node_id=box),
            status_callback=security.absolute_url(url_for("voice.recording_status",
                                                          node_id=box)),
            no_message=(Speech("Au revoir."),),
        )
    except Exception:
        decision = Goodbye((sorry, Speech("Veuillez rappeler plus tard.")))
    request.outcome = _outcome(decision)  # type: ignore[attr-defined]
    return Response(render(decision, voice), mimetype="text/xml")


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
    app.extensions["ivr.voice"] = Voice(app.config["IVR_VOICE"], "fr-CA")
    app.extensions["ivr.recent"] = RecentRequests()
    app.register_blueprint(bp)
