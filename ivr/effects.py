"""What a webhook's answer sets off beside the TwiML: the call journal's notes, the texts to
the caller, the voicemail stored and its team told. Each is queued for the worker (written
after the answer, retried while the database is away) and idempotent on its own key; none is
done for a call played in the console's simulator (``SIMULATED``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Flask, current_app, request

from ivr.config import Config
from ivr.notify import mask_phone, queue_voicemail_emails
from ivr.request import LineRequest
from ivr.services import services
from ivr.store import Store, utcnow
from ivr.worker import Worker, current_worker

# WSGI environ key set by the console's simulator: the call is played through the real
# webhooks, but leaves no journal, no voicemail and sends no text.
SIMULATED = "ivr.simulated"


def simulated() -> bool:
    return bool(request.environ.get(SIMULATED))


def journal(notes: tuple[Mapping[str, str | None], ...], app: Flask, req: LineRequest) -> None:
    fields = req.form
    call_sid = fields.get("CallSid")
    if not call_sid or req.environ.get(SIMULATED):
        return
    worker: Worker = services(app).worker
    worker.record_notes(call_sid[:64], utcnow(), mask_phone(fields.get("From") or None), notes)


def send_texts(texts: tuple[tuple[str, str], ...]) -> None:
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


def voicemail_saver(config: Config, node_id: str) -> Callable[[Store], None]:
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
