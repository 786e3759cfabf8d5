"""Voicemail recordings over time: retention (Loi 25) and reconciliation with Twilio.

``purge`` deletes the voicemails kept longer than their box allows, at Twilio first (the
recording itself) and then here; the journal goes after ``IVR_JOURNAL_RETENTION_DAYS``.
``reconcile`` asks Twilio for the recordings it holds and adds the voicemails whose callbacks
never reached the line, so no message is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from ivr.config import Config
from ivr.notify import (
    mask_phone,
    queue_voicemail_emails,
    scrub,
    twilio_api,
    twilio_configured,
)
from ivr.schedule import TZ
from ivr.store import Call, OutboxMessage, Store, Voicemail, utcnow

log = logging.getLogger(__name__)

DEFAULT_JOURNAL_DAYS = 365
DEFAULT_BOX_DAYS = 90
TWILIO_API = "https://api.twilio.com"
MAX_PATH = 24


def parse_since(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight, Montréal time) or an ISO-8601 instant (naive = Montréal)."""
    value = value.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), TZ)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"« {value} » : attendu AAAA-MM-JJ ou un instant ISO-8601") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ)


# ---------------------------------------------------------------------- retention


def journal_days(settings: Mapping[str, Any]) -> int:
    raw = settings.get("IVR_JOURNAL_RETENTION_DAYS")
    if raw in (None, ""):
        return DEFAULT_JOURNAL_DAYS
    days = int(raw)
    if days < 1:
        raise ValueError(f"IVR_JOURNAL_RETENTION_DAYS: {raw!r} (expected a number of days ≥ 1)")
    return days


def box_days(config: Config) -> tuple[dict[str, int], int]:
    """Each box's retention, and the one for a box the config no longer has (the fallback's)."""
    days = {box_id: box.retention_days for box_id, box in config.boxes.items()}
    fallback = config.nodes.get(config.line.fallback)
    default = days.get(fallback.box or "", DEFAULT_BOX_DAYS) if fallback else DEFAULT_BOX_DAYS
    return days, default


@dataclass
class PurgeReport:
    dry_run: bool
    expired: list[Voicemail]  # past their box's retention (deleted, or would be)
    journal_before: datetime
    calls: int  # calls removed from the journal (or that would be)
    deleted: list[Voicemail] = field(default_factory=list)
    kept: list[tuple[Voicemail, str]] = field(default_factory=list)  # Twilio refused: why

    @property
    def ok(self) -> bool:
        return not self.kept


def purge(store: Store, config: Config, settings: Mapping[str, Any], *,
          dry_run: bool = False) -> PurgeReport:
    """Delete what is kept past its retention; a recording Twilio still holds keeps its row."""
    days, default = box_days(config)
    expired = sorted(store.expired_voicemails(days, default), key=lambda v: v.received_at)
    before = utcnow() - timedelta(days=journal_days(settings))
    report = PurgeReport(dry_run, list(expired), before, 0)
    if dry_run:
        with store.session() as session:
            report.calls = session.scalar(select(func.count()).select_from(Call)
                                          .where(Call.started_at < before)) or 0
        return report
    if expired and not twilio_configured(settings):
        reason = "Twilio REST API not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)"
        report.kept = [(v, reason) for v in expired]
    elif expired:
        with twilio_api(settings) as client:
            for voicemail in expired:
                problem = _delete_at_twilio(client, voicemail.recording_sid)
                if problem:
                    report.kept.append((voicemail, problem))
                    log.warning("purge: recording %s kept: %s", voicemail.recording_sid,
                                problem)
                    continue
                _forget(store, voicemail)
                report.deleted.append(voicemail)
    report.calls = store.purge_journal(before)
    log.info("purge: %d voicemail(s) deleted, %d kept, %d call(s) removed from the journal",
             len(report.deleted), len(report.kept), report.calls)
    return report


def _delete_at_twilio(client: Any, recording_sid: str) -> str | None:
    """None once Twilio no longer holds the recording; otherwise why it could not say so."""
    from twilio.base.exceptions import TwilioRestException

    try:
        client.recordings(recording_sid).delete()
    except TwilioRestException as exc:
        if exc.status == 404:  # already gone (an earlier purge, or deleted by hand)
            return None
        return scrub(f"Twilio answered HTTP {exc.status}: {exc.msg}")
    except Exception as exc:  # network: try again at the next purge
        return scrub(f"{type(exc).__name__}: {exc}")[:300]
    return None


def _forget(store: Store, voicemail: Voicemail) -> None:
    """The row and the e-mails that described it (they carry the caller's number)."""
    with store.session() as session:
        session.execute(delete(OutboxMessage).where(
            OutboxMessage.dedupe_key.like(f"vm:{voicemail.recording_sid}:%")))
        session.execute(delete(Voicemail).where(Voicemail.id == voicemail.id))


# ---------------------------------------------------------------------- reconciliation


class TwilioUnavailable(Exception):
    """Twilio's REST API could not be asked (down, refused, credentials)."""


@dataclass
class Reconciliation:
    since: datetime
    added: list[Voicemail] = field(default_factory=list)
    known: int = 0  # recordings the line already had
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (recording SID, why)
    emails: int = 0  # notifications queued for the added ones
    problems: list[str] = field(default_factory=list)


def reconcile(store: Store, config: Config, settings: Mapping[str, Any], since: datetime,
              console_base: str | None = None, until: datetime | None = None
              ) -> Reconciliation:
    """Add the voicemails Twilio recorded since ``since`` (and before ``until``) whose
    callbacks never arrived."""
    if not twilio_configured(settings):
        raise RuntimeError("Twilio REST API not configured (TWILIO_ACCOUNT_SID, "
                           "TWILIO_AUTH_TOKEN)")
    result = Reconciliation(since)
    # twilio-python writes the instant as given, with a "Z": give it in UTC.
    after = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with twilio_api(settings) as client:
        try:
            recordings = list(client.recordings.list(date_created_after=after))
        except Exception as exc:
            raise TwilioUnavailable(scrub(f"listing the recordings at Twilio failed: "
                                          f"{type(exc).__name__}: {exc}")[:500]) from exc
        sids = [r.sid for r in recordings if r.sid]
        with store.session() as session:
            stored = set(session.scalars(select(Voicemail.recording_sid)
                                         .where(Voicemail.recording_sid.in_(sids))).all())
        base = (settings.get("TWILIO_API_BASE_URL") or TWILIO_API).rstrip("/")
        for recording in sorted(recordings, key=lambda r: (r.date_created or since, r.sid)):
            if until is not None and recording.date_created and recording.date_created > until:
                continue  # its callbacks may still be on their way
            if recording.sid in stored:
                result.known += 1
                continue
            if recording.status != "completed":
                result.skipped.append((recording.sid, f"statut {recording.status} chez Twilio"))
                continue
            if not recording.call_sid:
                result.skipped.append((recording.sid, "aucun appel"))
                continue
            events = store.events(recording.call_sid)
            kinds = {e.kind for e in events}
            if "gestion" in kinds and "voicemail" not in kinds:  # ivr.phone_admin's
                result.skipped.append((recording.sid, "annonce enregistrée par un gestionnaire"))
                continue
            caller = _caller(client, recording.call_sid, result)
            box, node, path = _where(store, config, recording.call_sid)
            uri = (recording.uri or "").removesuffix(".json")
            duration = str(recording.duration or "")
            voicemail, _ = store.save_voicemail(
                recording_sid=recording.sid, call_sid=recording.call_sid, box=box, node=node,
                caller=caller, path=path, received_at=recording.date_created or utcnow(),
                recording_url=f"{base}{uri}" if uri else None,
                duration=int(duration) if duration.isdigit() else None,
                # key 9's event: the box's e-mail says the message is in English
                language=next((e.detail for e in events if e.kind == "language"), None),
            )
            if voicemail.notified_at is None:
                result.emails += queue_voicemail_emails(store, config, voicemail, console_base)
            result.added.append(voicemail)
            stored.add(recording.sid)
            log.info("reconcile: added voicemail %s (box %s, caller %s)", recording.sid, box,
                     mask_phone(caller))
    return result


AUTO_RECONCILE_HOURS = 26  # the worker's look-back, every RECONCILE interval: a day, and more
AUTO_RECONCILE_QUIET = timedelta(minutes=10)  # younger recordings wait for their callbacks


def reconcile_recent(app: Any) -> Reconciliation:
    """The worker's regular ``ivr reconcile`` (when Twilio's REST API is configured): a
    recording whose callbacks never came still becomes a voicemail, with no one acting."""
    from ivr.services import services

    now = utcnow()
    result = reconcile(services(app).store, services(app).line.config, app.config,
                       now - timedelta(hours=AUTO_RECONCILE_HOURS),
                       app.config.get("IVR_PUBLIC_URL"), until=now - AUTO_RECONCILE_QUIET)
    if result.added:
        log.warning("reconcile: %d voicemail(s) whose callbacks never came were added",
                    len(result.added))
        services(app).worker.wake()
    return result


def _caller(client: Any, call_sid: str, result: Reconciliation) -> str | None:
    """The caller's number, from Twilio's Call resource (the journal keeps it masked)."""
    try:
        call = client.calls(call_sid).fetch()
    except Exception as exc:
        result.problems.append(scrub(f"appel {call_sid} : appelant inconnu "
                                     f"({type(exc).__name__} : {str(exc)[:200]})"))
        return None
    number = getattr(call, "_from", None) or getattr(call, "from_", None)
    return str(number)[:32] if number else None


def _where(store: Store, config: Config, call_sid: str) -> tuple[str, str | None, str | None]:
    """Box, voicemail node and path from the call's journal; else the line fallback's box."""
    events = store.events(call_sid)
    reached = [e for e in events if e.kind == "voicemail" and e.node]
    if reached:
        last = reached[-1]
        node = config.nodes.get(last.node or "")
        box = last.detail if last.detail in config.boxes else (node.box if node else None)
        if box:
            trail: list[str] = []
            for event in events:
                if event.id == last.id:
                    break
                if event.kind == "enter" and event.node and event.node != last.node and (
                        not trail or trail[-1] != event.node):
                    trail.append(event.node)
            trail.append(last.node or "")
            return box, last.node, ".".join(trail[-MAX_PATH:])
    fallback = config.nodes.get(config.line.fallback)
    box = fallback.box if fallback is not None and fallback.box else "inconnue"
    return box, None, None


def describe(voicemail: Voicemail) -> str:
    """One line for a report: no full phone number (the output may end up in a log)."""
    when = voicemail.received_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    return (f"#{voicemail.id} {voicemail.recording_sid} boîte {voicemail.box}, {when}, "
            f"appelant {mask_phone(voicemail.caller)}")
