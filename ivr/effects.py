"""What a webhook's answer sets off beside the TwiML: the call journal's notes, the texts to
the caller, the voicemail stored and its team told. Each is put in the spool before the answer
leaves (``ivr.spool``), written to the database by the worker, and idempotent on its own key;
none is done for a call played in the console's simulator (``SIMULATED``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from flask import Flask, current_app, request

from ivr import replays
from ivr.config import FIRST_LANGUAGE, Config
from ivr.notify import mask_phone, queue_voicemail_emails
from ivr.request import LineRequest, clean, seconds
from ivr.services import services
from ivr.spool import Item
from ivr.store import Store
from ivr.worker import Handler, current_worker, unreachable

log = logging.getLogger(__name__)

# WSGI environ key set by the console's simulator: the call is played through the real
# webhooks, but leaves no journal, no voicemail and sends no text.
SIMULATED = "ivr.simulated"


def simulated() -> bool:
    return bool(request.environ.get(SIMULATED))


def journal(notes: tuple[Mapping[str, str | None], ...], app: Flask, req: LineRequest) -> None:
    """Spool the request's journal notes (lost, and logged, only if the disk refuses)."""
    fields = req.form
    call_sid = fields.get("CallSid")
    if not call_sid or req.environ.get(SIMULATED):
        return
    services(app).worker.put(
        "notes", {"call_sid": call_sid, "at": time.time(),
                  "caller": mask_phone(fields.get("From") or None), "notes": notes},
        replays.fingerprint(req))


def send_texts(texts: tuple[tuple[str, str], ...]) -> None:
    """Spool the answer's texts for this caller; the worker queues them in the outbox."""
    if simulated():
        return
    form = request.form
    recipient, call_sid = form.get("From", ""), form.get("CallSid", "")
    worker = current_worker()
    for node_id, body in texts:
        worker.put("sms", {"recipient": recipient, "body": body,
                           "dedupe_key": f"sms:{call_sid}:{node_id}"})
    worker.wake()


def spool_voicemail(config: Config, node_id: str) -> bool:
    """Spool the recording this request reports (either callback); True once on disk."""
    form = request.form
    node = config.nodes.get(node_id)
    box = node.box if node is not None and node.box else None
    if box is None:
        fallback = config.nodes.get(config.line.fallback)
        box = fallback.box if fallback is not None and fallback.box else "inconnue"
    path = ".".join(p for p in (*request.args.get("p", "")[:1024].split("."), node_id) if p)
    fields = {
        "recording_sid": clean(form.get("RecordingSid", ""), 64),
        "call_sid": clean(form.get("CallSid", ""), 64),
        "box": box,
        "node": clean(node_id, 128),
        "caller": clean(form.get("From") or None, 32),
        "path": clean(path, 2048),
        "received_at": time.time(),
        "recording_url": clean(form.get("RecordingUrl") or None, 2048),
        "duration": seconds(form.get("RecordingDuration")),
        "language": call_language(config),
    }
    worker = current_worker()
    kept = worker.put("voicemail", fields)
    worker.wake()
    return kept


def call_language(config: Config) -> str:
    """The caller's language: ``config``'s, or else the one the request's URL carries (``l=en``:
    the recording callback is answered with the line's first config)."""
    if config.language != FIRST_LANGUAGE:
        return config.language
    code = request.args.get("l", "")[:8]
    return services(current_app).line.config_for(code).language if code else FIRST_LANGUAGE


# ---------------------------------------------------------------------- the worker's side

OPTIONAL = ("node", "caller", "path", "duration")  # a voicemail is kept without them


def handlers(app: Flask) -> dict[str, Handler]:
    """How the worker writes each kind of spooled item, with this app's config."""

    def notes(store: Store, items: Sequence[Item]) -> None:
        store.write_notes([(b["call_sid"], datetime.fromtimestamp(b["at"], UTC), b["caller"],
                            b["notes"], item.fingerprint)
                           for item in items for b in (item.body,)])

    def voicemails(store: Store, items: Sequence[Item]) -> None:
        config = services(app).line.config
        console = app.config.get("IVR_PUBLIC_URL")
        for item in items:
            fields = {**item.body,
                      "received_at": datetime.fromtimestamp(item.body["received_at"], UTC)}
            try:
                voicemail, _ = store.save_voicemail(**fields)
            except Exception as exc:
                if unreachable(exc):
                    raise
                # Whatever the optional fields hold, the message is kept without them.
                log.warning("voicemail %s: kept without its optional fields (%s)",
                            fields["recording_sid"], type(exc).__name__)
                voicemail, _ = store.save_voicemail(**{**fields, **dict.fromkeys(OPTIONAL)})
            if voicemail.recording_url and voicemail.notified_at is None and \
                    queue_voicemail_emails(store, config, voicemail, console):
                services(app).worker.wake()

    def texts(store: Store, items: Sequence[Item]) -> None:
        for item in items:
            store.enqueue(kind="sms", **item.body)

    return {"notes": notes, "voicemail": voicemails, "sms": texts}

