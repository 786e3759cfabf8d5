"""Messages that leave the line: e-mails to a box's team, texts to callers. Sent off the call path.

Everything goes through the outbox table first (deduplicated), then the worker sends it with
SMTP or Twilio's REST client, retrying with back-off until it is sent or marked failed.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from typing import Any

import phonenumbers
from flask import Flask

from ivr.config import Box, Config
from ivr.schedule import TZ
from ivr.schedule_wording import DAY_NAMES, MONTH_NAMES
from ivr.services import services
from ivr.store import OutboxMessage, Store, Voicemail, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


@lru_cache(maxsize=4096)  # on every webhook's journal and access line; a call's number repeats
def mask_phone(number: str | None) -> str:
    """Logs never show a full phone number (Loi 25): keep the area code and last two digits."""
    if not number:
        return "?"
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 6:
        return "***"
    if number.startswith("+"):
        return f"+{digits[:4]}…{digits[-2:]}"
    return f"{digits[:3]}…{digits[-2:]}"


# E.164 numbers, and bare 10- or 11-digit North-American ones (not inside a SID or a date).
_NUMBER = re.compile(r"\+\d{7,15}(?!\d)|(?<![\w+-])1?\d{10}(?![\w-])")


def scrub(text: str) -> str:
    """``text`` with anything that looks like a phone number masked (errors may echo one)."""
    return _NUMBER.sub(lambda m: mask_phone(m.group(0)), text)


class ScrubPhoneNumbers(logging.Filter):
    """Masks phone numbers in the records of a logger that may print data (SQL rows, params)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's problem, not ours
            return True
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def protect_logs() -> None:
    """Loi 25: no full phone number in the logs, even with SQL logging turned on."""
    logger = logging.getLogger("sqlalchemy.engine.Engine")  # prints rows at INFO/DEBUG
    if not any(isinstance(f, ScrubPhoneNumbers) for f in logger.filters):
        logger.addFilter(ScrubPhoneNumbers())


HIDDEN_CALLERS = ("anonymous", "restricted", "unknown", "private", "blocked", "unavailable")


def caller_label(number: str | None) -> str:
    """The caller as a team reads it: the number, or "numéro masqué"."""
    return "numéro masqué" if not number or number.strip().lower() in HIDDEN_CALLERS else number


def spoken_date(moment: datetime) -> str:
    """« lundi 2 mars 2026 à 12 h »: plainer than schedule_wording's (no « 1er », no « midi »)."""
    local = moment.astimezone(TZ)
    minutes = f" {local.minute:02d}" if local.minute else ""
    return (f"{DAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month - 1]} "
            f"{local.year} à {local.hour} h{minutes}")


def can_text(number: str | None) -> bool:
    """A caller we may text: a real North-American number that is not toll-free or premium."""
    if not number or not number.startswith("+1"):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def sms_configured(settings: Mapping[str, Any]) -> bool:
    return twilio_configured(settings) and bool(settings.get("IVR_SMS_FROM"))


def voicemail_email(config: Config, voicemail: Voicemail, console_base: str | None
                    ) -> tuple[str, str]:
    """Subject and body, in French, of the e-mail telling a team a message is waiting."""
    box = config.boxes.get(voicemail.box)
    box_name = box.name if box else voicemail.box
    caller = caller_label(voicemail.caller)
    path = " > ".join(config.nodes[n].title if n in config.nodes else n
                      for n in (voicemail.path or "").split(".") if n)
    duration = voicemail.duration or 0
    # A header takes no line break: a caller field that carried one (stored before the spool
    # cleaned it, or from elsewhere) must not make every retry fail.
    english = (voicemail.language or "").startswith("en")
    subject = " ".join(f"Nouveau message vocal — {box_name} — {caller}"
                       f"{' — en anglais' if english else ''}".split())
    lines = [
        f"Un nouveau message vocal attend dans la boîte « {box_name} ».",
        "",
        f"Appelant : {caller}",
        f"Reçu le : {spoken_date(voicemail.received_at)} "
        f"({voicemail.received_at.astimezone(TZ):%Y-%m-%d %H:%M})",
        f"Durée : {duration // 60} min {duration % 60:02d} s",
        f"Parcours dans le menu : {path or '(accès direct)'}",
    ]
    if english:
        lines += ["", "Message laissé en anglais : l'appelant a choisi le service en anglais."]
    if console_base:
        lines += ["", f"Écouter et marquer comme traité : "
                      f"{console_base.rstrip('/')}/admin/messagerie/{voicemail.id}"]
    lines += ["", "Ce courriel est envoyé automatiquement par la ligne de soutien "
                  "technologique en télésanté. Le message n'y est pas joint, par confidentialité."]
    return subject, "\n".join(lines)


# The recording callback carries no caller: wait this long for the <Record> action, which does,
# before telling the team "numéro masqué".
CALLER_GRACE = timedelta(seconds=60)
# Older unannounced messages are not announced by the regular pass (``ivr reconcile`` does it
# for the ones it adds).
NOTIFY_HORIZON = timedelta(days=7)


def team_box(config: Config, voicemail: Voicemail) -> Box | None:
    """The voicemail's box, or the line fallback's when the config no longer has it."""
    box = config.boxes.get(voicemail.box)
    if box is None:
        fallback = config.nodes.get(config.line.fallback)
        box = config.boxes.get(fallback.box or "") if fallback is not None else None
    return box


def queue_voicemail_emails(store: Store, config: Config, voicemail: Voicemail,
                           console_base: str | None) -> int:
    """Queue one e-mail per address of the box's team (once: deduplicated), then mark it notified.

    Returns how many were queued; 0 while the recording or the caller's number is still to come
    (``notify_waiting`` catches up once ``CALLER_GRACE`` has passed).
    """
    if not voicemail.recording_url or (
            voicemail.caller is None and utcnow() - voicemail.received_at < CALLER_GRACE):
        return 0
    box = team_box(config, voicemail)
    addresses = box.emails if box is not None else ()
    if addresses:
        subject, body = voicemail_email(config, voicemail, console_base)
        for address in addresses:
            store.enqueue(kind="email", recipient=address, subject=subject, body=body,
                          dedupe_key=f"vm:{voicemail.recording_sid}:{address}")
    else:
        log.warning("voicemail %s: box %r has no e-mail address to notify",
                    voicemail.recording_sid, voicemail.box)
    store.mark_notified(voicemail.recording_sid)
    return len(addresses)


def notify_waiting(store: Store, config: Config, console_base: str | None,
                   limit: int = 100) -> int:
    """Queue the e-mails of complete voicemails no one has notified yet; returns how many.

    Run with every outbox pass: a voicemail whose caller never came, or whose notification
    could not be queued when it was stored, is announced all the same.
    """
    from sqlalchemy import select

    with store.session() as session:
        waiting = session.scalars(
            select(Voicemail).where(Voicemail.notified_at.is_(None),
                                    Voicemail.recording_url.is_not(None),
                                    Voicemail.received_at >= utcnow() - NOTIFY_HORIZON)
            .order_by(Voicemail.received_at).limit(limit)).all()
    return sum(queue_voicemail_emails(store, config, v, console_base) for v in waiting)


def send_email(settings: Mapping[str, Any], message: OutboxMessage) -> str | None:
    email = EmailMessage()
    email["From"] = settings.get("IVR_MAIL_FROM") or "ligne-telesante@localhost"
    email["To"] = message.recipient
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = make_msgid(idstring=f"outbox{message.id}", domain="ivr.local")
    email.set_content(message.body)
    address = (settings["SMTP_HOST"], int(settings.get("SMTP_PORT") or 25))
    timeout = float(settings.get("SMTP_TIMEOUT") or 10)
    if _on(settings, "SMTP_SSL"):
        client: smtplib.SMTP = smtplib.SMTP_SSL(*address, timeout=timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(*address, timeout=timeout)
    with client:
        if _on(settings, "SMTP_STARTTLS"):
            client.starttls(context=ssl.create_default_context())
        if settings.get("SMTP_USER"):
            client.login(settings["SMTP_USER"], settings.get("SMTP_PASSWORD") or "")
        client.send_message(email)
    return None  # the e-mail's Message-ID is ours; no external id to keep


def _on(settings: Mapping[str, Any], name: str) -> bool:
    return str(settings.get(name) or "").lower() in ("1", "true", "yes")


def twilio_configured(settings: Mapping[str, Any]) -> bool:
    """Whether the REST API can be called (texts, recordings): an account and its token."""
    return bool(settings.get("TWILIO_ACCOUNT_SID") and settings.get("TWILIO_AUTH_TOKEN"))


@contextmanager
def twilio_api(settings: Mapping[str, Any]) -> Iterator[Any]:
    """A REST client whose pooled connections are closed once the work is done."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"],
                    http_client=TwilioHttpClient(timeout=10))
    if settings.get("TWILIO_API_BASE_URL"):  # a stand-in for Twilio's API (tests, staging)
        client.api.base_url = settings["TWILIO_API_BASE_URL"].rstrip("/")
    try:
        yield client
    finally:
        session = getattr(client.http_client, "session", None)
        if session is not None:
            session.close()


def send_sms(settings: Mapping[str, Any], message: OutboxMessage) -> str | None:
    with twilio_api(settings) as client:
        sent = client.messages.create(to=message.recipient, from_=settings["IVR_SMS_FROM"],
                                      body=message.body)
    return sent.sid


SENDERS = {"email": send_email, "sms": send_sms}


def send_due(store: Store, settings: Mapping[str, Any], limit: int = 20) -> int:
    """Send what is due; returns how many were sent. Failures are retried later."""
    sent = 0
    for message in store.due_messages(limit):
        if not (settings.get("SMTP_HOST") if message.kind == "email" else sms_configured(settings)):
            store.message_failed(message.id, f"{message.kind} is not configured", MAX_ATTEMPTS)
            continue
        try:
            external_id = SENDERS[message.kind](settings, message)
        except Exception as exc:
            error = scrub(f"{type(exc).__name__}: {exc}")
            status = store.message_failed(message.id, error, MAX_ATTEMPTS)
            log.warning("outbox %s #%d to %s failed (%s, try %d of %d): %s", message.kind,
                        message.id, mask_recipient(message), status, message.attempts + 1,
                        MAX_ATTEMPTS, error)
            continue
        store.message_sent(message.id, external_id)
        log.info("outbox %s #%d sent to %s", message.kind, message.id, mask_recipient(message))
        sent += 1
    return sent


def make_due(store: Store, kind: str | None = None) -> int:
    """Make every pending message due now (after fixing SMTP or Twilio); returns how many."""
    from sqlalchemy import update

    query = update(OutboxMessage).where(OutboxMessage.status == "pending")
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    with store.session() as session:
        return session.execute(query.values(next_attempt_at=utcnow())).rowcount or 0


def mask_recipient(message: OutboxMessage) -> str:
    return mask_phone(message.recipient) if message.kind == "sms" else message.recipient


def outbox_pass(app: Flask, limit: int = 20) -> int:
    """The worker's regular pass (and `ivr outbox --send`): announce waiting voicemails, then
    send what is due."""
    store: Store = services(app).store
    notify_waiting(store, services(app).line.config, app.config.get("IVR_PUBLIC_URL"))
    return send_due(store, app.config, limit=limit)


def init_app(app: Flask) -> None:
    from ivr import worker
    from ivr.effects import handlers
    from ivr.recordings import reconcile_recent

    # Loi 25: SQL logged at INFO/DEBUG, and database errors, must not show callers' numbers.
    services(app).store.engine.hide_parameters = True
    protect_logs()
    worker.init_app(app, handlers(app), outbox=lambda: outbox_pass(app),
                    reconcile=(lambda: reconcile_recent(app)) if twilio_configured(app.config)
                    else None)
