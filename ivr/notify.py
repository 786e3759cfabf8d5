"""Messages that leave the line: e-mails to a box's team, texts to callers. Sent off the call path.

Everything goes through the outbox table first (deduplicated), then the worker sends it with
SMTP or Twilio's REST client, retrying with back-off until it is sent or marked failed.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import phonenumbers
from flask import Flask

from ivr.config import Config
from ivr.schedule import TZ
from ivr.store import OutboxMessage, Store, Voicemail

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6

FRENCH_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
FRENCH_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                 "septembre", "octobre", "novembre", "décembre")


def mask_phone(number: str | None) -> str:
    """Logs never show a full phone number (Loi 25): keep the area code and last two digits."""
    if not number:
        return "?"
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 6:
        return "***"
    return f"+{digits[:4]}…{digits[-2:]}" if number.startswith("+") else f"{digits[:3]}…{digits[-2:]}"


def spoken_date(moment: datetime) -> str:
    local = moment.astimezone(TZ)
    minutes = f" {local.minute:02d}" if local.minute else ""
    return (f"{FRENCH_DAYS[local.weekday()]} {local.day} {FRENCH_MONTHS[local.month - 1]} "
            f"{local.year} à {local.hour} h{minutes}")


def can_text(number: str | None) -> bool:
    """A caller we may text: a real North-American number that is not toll-free or premium."""
    if not number or not number.startswith("+1"):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(parsed):
        return False
    kind = phonenumbers.number_type(parsed)
    return kind in (phonenumbers.PhoneNumberType.MOBILE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def sms_configured(settings: Mapping[str, Any]) -> bool:
    return bool(settings.get("TWILIO_ACCOUNT_SID") and settings.get("IVR_SMS_FROM")
                and settings.get("TWILIO_AUTH_TOKEN"))


def email_configured(settings: Mapping[str, Any]) -> bool:
    return bool(settings.get("SMTP_HOST"))


# ---------------------------------------------------------------------- composing


def voicemail_email(config: Config, voicemail: Voicemail, console_base: str | None
                    ) -> tuple[str, str]:
    """Subject and body, in French, of the e-mail telling a team a message is waiting."""
    box = config.boxes.get(voicemail.box)
    box_name = box.name if box else voicemail.box
    caller = voicemail.caller or "numéro masqué"
    path = " > ".join(config.nodes[n].title if n in config.nodes else n
                      for n in (voicemail.path or "").split(".") if n)
    duration = voicemail.duration or 0
    subject = f"Nouveau message vocal — {box_name} — {caller}"
    lines = [
        f"Un nouveau message vocal attend dans la boîte « {box_name} ».",
        "",
        f"Appelant : {caller}",
        f"Reçu le : {spoken_date(voicemail.received_at)}",
        f"Durée : {duration // 60} min {duration % 60:02d} s",
        f"Parcours dans le menu : {path or '(accès direct)'}",
    ]
    if console_base:
        lines += ["", f"Écouter et marquer comme traité : "
                      f"{console_base.rstrip('/')}/admin/messagerie/{voicemail.id}"]
    lines += ["", "Ce courriel est envoyé automatiquement par la ligne de soutien "
                  "technologique en télésanté. Le message n'y est pas joint, par confidentialité."]
    return subject, "\n".join(lines)


def queue_voicemail_emails(store: Store, config: Config, voicemail: Voicemail,
                           console_base: str | None) -> int:
    box = config.boxes.get(voicemail.box)
    if box is None or not voicemail.recording_url:
        return 0
    subject, body = voicemail_email(config, voicemail, console_base)
    for address in box.emails:
        store.enqueue(kind="email", recipient=address, subject=subject, body=body,
                      dedupe_key=f"vm:{voicemail.recording_sid}:{address}")
    store.mark_notified(voicemail.recording_sid)
    return len(box.emails)


# ---------------------------------------------------------------------- sending


def send_email(settings: Mapping[str, Any], message: OutboxMessage) -> str | None:
    email = EmailMessage()
    email["From"] = settings.get("IVR_MAIL_FROM") or "ligne-telesante@localhost"
    email["To"] = message.recipient
    email["Subject"] = message.subject or ""
    email.set_content(message.body)
    host = settings["SMTP_HOST"]
    port = int(settings.get("SMTP_PORT") or 25)
    timeout = float(settings.get("SMTP_TIMEOUT") or 10)
    if str(settings.get("SMTP_SSL") or "").lower() in ("1", "true", "yes"):
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if str(settings.get("SMTP_STARTTLS") or "").lower() in ("1", "true", "yes"):
            client.starttls(context=ssl.create_default_context())
        if settings.get("SMTP_USER"):
            client.login(settings["SMTP_USER"], settings.get("SMTP_PASSWORD") or "")
        client.send_message(email)
    return None


def twilio_client(settings: Mapping[str, Any]) -> Any:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"],
                    http_client=TwilioHttpClient(timeout=10))
    base = settings.get("TWILIO_API_BASE_URL")
    if base:  # a stand-in for Twilio's API (tests, staging)
        client.api.base_url = base.rstrip("/")
    return client


def send_sms(settings: Mapping[str, Any], message: OutboxMessage) -> str | None:
    client = twilio_client(settings)
    sent = client.messages.create(to=message.recipient, from_=settings["IVR_SMS_FROM"],
                                  body=message.body)
    return sent.sid


SENDERS = {"email": send_email, "sms": send_sms}


def send_due(store: Store, settings: Mapping[str, Any], limit: int = 20) -> int:
    """Send what is due; returns how many were sent. Failures are retried later."""
    sent = 0
    for message in store.due_messages(limit):
        configured = email_configured if message.kind == "email" else sms_configured
        if not configured(settings):
            store.message_failed(message.id, f"{message.kind} is not configured", MAX_ATTEMPTS)
            continue
        try:
            external_id = SENDERS[message.kind](settings, message)
        except Exception as exc:
            status = store.message_failed(message.id, f"{type(exc).__name__}: {exc}",
                                          MAX_ATTEMPTS)
            log.warning("outbox %s #%d to %s failed (%s): %s", message.kind, message.id,
                        mask_recipient(message), status, exc)
            continue
        store.message_sent(message.id, external_id)
        sent += 1
    return sent


def mask_recipient(message: OutboxMessage) -> str:
    return mask_phone(message.recipient) if message.kind == "sms" else message.recipient


def init_app(app: Flask) -> None:
    """Give the worker its outbox pass, with the app's settings."""
    from ivr import worker

    store: Store = app.extensions["ivr.store"]
    settings = app.config
    worker.init_app(app, outbox=lambda: send_due(store, settings))
