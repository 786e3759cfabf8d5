"""The day's changes in the database (issue 17): announcements, temporary closures and openings
of a team, and who changed what, from where (``override_audit``).

``OverrideStore`` reads and writes them; every change writes its audit row in the same
transaction. ``OverridesWatcher`` hands the call path an ``ivr.overrides.Overrides`` snapshot
read from memory (``current()``), refreshed by a thread (``ivr-overrides``) every
``IVR_OVERRIDES_SECONDS`` (2 s): a change made on one instance is served by every instance
within that delay. While the database is unreachable the last snapshot keeps serving; its
entries still end on time, since ``Overrides`` judges each by its own end.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.overrides import (
    CLOSURE,
    CONTINUE,
    HANG_UP,
    LINE,
    MAX_ANNOUNCEMENT,
    NONE,
    OPENING,
    Announcement,
    Overrides,
    ScheduleChange,
)
from ivr.schedule import TZ
from ivr.services import services
from ivr.store import Base, Store, UTCDateTime, utcnow

if TYPE_CHECKING:
    from flask import Flask

    from ivr.config import Config

log = logging.getLogger(__name__)

MAX_CHANGE = MAX_ANNOUNCEMENT  # a closure or an opening: at most 14 days too
MAX_TEXT = 1_000  # characters of an announcement's text
MAX_URL = 1_000
MAX_REASON = 500
MAX_WHO = 128
MAX_SUMMARY = 1_000

CONSOLE, CLI, PHONE = VIA = ("console", "cli", "téléphone")
CLI_SOURCE = "ligne de commande"  # the audit's source of a change made with `ivr …`
CREATED, MODIFIED, ENDED, DELETED = "création", "modification", "fin", "suppression"
ANNOUNCEMENT = "annonce"  # the audit's kind of an announcement (a change's: its own kind)
KINDS = (CLOSURE, OPENING)

REFRESH_SECONDS = 2.0  # IVR_OVERRIDES_SECONDS' default
LOG_EVERY_SECONDS = 60.0  # a dead database: one line a minute


# ---------------------------------------------------------------------- tables


class AnnouncementEntry(Base):
    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(128))  # "ligne" or a node id
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str | None] = mapped_column(Text)
    audio_url: Mapped[str | None] = mapped_column(Text)
    then: Mapped[str] = mapped_column(String(128))  # continuer | raccrocher | a node id
    text_en: Mapped[str | None] = mapped_column(Text)  # for English callers (issue 18)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScheduleChangeEntry(Base):
    __tablename__ = "schedule_changes"
    __table_args__ = (Index("ix_schedule_changes_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # fermeture | ouverture
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OverrideAuditEntry(Base):
    __tablename__ = "override_audit"
    __table_args__ = (Index("ix_override_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    who: Mapped[str] = mapped_column(String(128))
    via: Mapped[str] = mapped_column(String(16))  # console | cli | téléphone
    source: Mapped[str | None] = mapped_column(String(128))  # IP, CLI_SOURCE, masked number
    action: Mapped[str] = mapped_column(String(16))  # création | modification | fin | suppression
    kind: Mapped[str] = mapped_column(String(16))  # annonce | fermeture | ouverture
    object_id: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------------- rows as values


def _state(starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    return "à venir" if now < starts_at else "en cours" if now < ends_at else "terminée"


@dataclass(frozen=True)
class AnnouncementRow:
    id: int
    scope: str
    starts_at: datetime
    ends_at: datetime
    text: str | None
    audio_url: str | None
    then: str
    created_by: str
    created_at: datetime
    updated_by: str | None
    updated_at: datetime | None
    deleted_at: datetime | None
    text_en: str | None = None

    def value(self) -> Announcement:
        return Announcement(self.id, self.scope, self.starts_at, self.ends_at, self.text,
                            self.audio_url, self.then, self.text_en)

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> str:
        """« à venir », « en cours » or « terminée »."""
        return _state(self.starts_at, self.ends_at, now)


@dataclass(frozen=True)
class ChangeRow:
    id: int
    provider: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    updated_by: str | None
    updated_at: datetime | None
    deleted_at: datetime | None

    def value(self) -> ScheduleChange:
        return ScheduleChange(self.id, self.provider, self.kind, self.starts_at, self.ends_at,
                              self.reason, self.created_by)

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> str:
        return _state(self.starts_at, self.ends_at, now)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    who: str
    via: str
    source: str | None
    action: str
    kind: str
    object_id: int
    summary: str


def _row(cls: type, entry: Any) -> Any:
    return cls(**{f.name: getattr(entry, f.name) for f in fields(cls)})


# ---------------------------------------------------------------------- French wording


def when(moment: datetime) -> str:
    """An instant as the administrator reads it: Montréal time, to the minute."""
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def _quoted(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"« {text if len(text) <= limit else text[:limit - 1] + '…'} »"


def describe_announcement(a: Announcement | AnnouncementRow) -> str:
    where = "toute la ligne" if a.scope == LINE else f"nœud {a.scope}"
    said = _quoted(a.text) if a.text else f"enregistrement {a.audio_url}"
    if a.text_en:
        said += f" (en anglais : {_quoted(a.text_en)})"
    then = {CONTINUE: "puis le menu continue", HANG_UP: "puis l'appel se termine"}.get(
        a.then, f"puis vers {a.then}")
    return f"annonce ({where}) du {when(a.starts_at)} au {when(a.ends_at)} : {said}, {then}"


def describe_change(c: ScheduleChange | ChangeRow) -> str:
    reason = f" : {_quoted(c.reason)}" if c.reason else ""
    return f"{c.kind} de {c.provider} du {when(c.starts_at)} au {when(c.ends_at)}{reason}"


LABELS = {"scope": "portée", "starts_at": "début", "ends_at": "fin", "text": "texte",
          "audio_url": "enregistrement", "then": "ensuite", "text_en": "texte en anglais",
          "provider": "équipe",
          "kind": "type", "reason": "raison"}


def _differences(before: Any, after: dict[str, Any]) -> str:
    said = []
    for name, new in after.items():
        old = getattr(before, name)
        if old == new:
            continue
        if isinstance(new, datetime):
            said.append(f"{LABELS[name]} {when(old)} → {when(new)}")
        else:
            said.append(LABELS[name])
    return ", ".join(said)


# ---------------------------------------------------------------------- validation


class InvalidOverride(ValueError):
    """An announcement or a change refused; ``problems`` says why, in French."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__(" ; ".join(self.problems))


class OverrideNotFound(LookupError):
    """No such announcement or change (or it was deleted)."""


def _days(span: Any) -> str:
    """« 20 jours », « 14 jours et 1 h », « 14 jours et 0 h 30 »."""
    hours, minutes = divmod(span.seconds // 60, 60)
    days = f"{span.days} jour{'s' if span.days > 1 else ''}"
    if not hours and not minutes:
        return days
    return f"{days} et {hours} h" + (f" {minutes:02d}" if minutes else "")


def _times(starts_at: Any, ends_at: Any, longest: Any, what: str) -> list[str]:
    found = []
    for name, moment in (("le début", starts_at), ("la fin", ends_at)):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            found.append(f"{name} doit être une date et heure avec son fuseau")
    if found:
        return found
    if ends_at <= starts_at:
        found.append(f"la fin ({when(ends_at)}) doit venir après le début ({when(starts_at)})")
    elif ends_at - starts_at > longest:
        found.append(f"{what} dure au plus {longest.days} jours (ici "
                     f"{_days(ends_at - starts_at)}) : rien ne reste en place parce qu'on l'a "
                     "oublié")
    return found


def problems(config: Config | None, entry: Announcement | ScheduleChange) -> list[str]:
    """What is wrong with an announcement or a change, in French (empty: it can be saved).

    ``config`` is the configuration served: the scope, ``then`` and the team must exist in it.
    Without one (None) only what needs no configuration is checked.
    """
    found: list[str] = []
    if isinstance(entry, Announcement):
        text = (entry.text or "").strip()
        url = (entry.audio_url or "").strip()
        if not text and not url:
            found.append("une annonce a un texte ou un enregistrement (adresse audio)")
        elif text and url:
            found.append("une annonce a un texte ou un enregistrement, pas les deux")
        if len(text) > MAX_TEXT:
            found.append(f"le texte a {len(text)} caractères, au plus {MAX_TEXT}")
        english = (entry.text_en or "").strip()
        if english and url:
            found.append("le texte en anglais va avec un texte, pas avec un enregistrement : "
                         "l'enregistrement est joué tel quel à tous les appelants")
        elif english and not text:
            found.append("le texte en anglais accompagne le texte en français : écrivez "
                         "aussi celui-ci")
        if len(english) > MAX_TEXT:
            found.append(f"le texte en anglais a {len(english)} caractères, au plus {MAX_TEXT}")
        if url and (not url.startswith(("https://", "http://")) or len(url) > MAX_URL):
            found.append(f"l'enregistrement doit être une adresse https:// d'au plus {MAX_URL} "
                         "caractères")
        found += _times(entry.starts_at, entry.ends_at, MAX_ANNOUNCEMENT, "une annonce")
        nodes = config.nodes if config is not None else None
        if entry.scope != LINE and (nodes is None and not entry.scope or
                                    nodes is not None and entry.scope not in nodes):
            found.append(f"portée inconnue « {entry.scope} » : « {LINE} » (toute la ligne) ou "
                         "l'identifiant d'un nœud du menu (« ivr tree » les montre)")
        if entry.then not in (CONTINUE, HANG_UP) and (
                nodes is None and not entry.then or nodes is not None and entry.then not in nodes):
            found.append(f"ensuite inconnu « {entry.then} » : « {CONTINUE} », « {HANG_UP} » ou "
                         "l'identifiant d'un nœud du menu (« ivr tree » les montre)")
        return found
    providers = config.providers if config is not None else None
    if not entry.provider:
        found.append("l'équipe est obligatoire")
    elif providers is not None and entry.provider not in providers:
        found.append(f"équipe inconnue « {entry.provider} » (connues : {', '.join(providers)})")
    if entry.kind not in KINDS:
        found.append(f"type inconnu « {entry.kind} » : « {CLOSURE} » ou « {OPENING} »")
    if len(entry.reason or "") > MAX_REASON:
        found.append(f"la raison a {len(entry.reason)} caractères, au plus {MAX_REASON}")
    found += _times(entry.starts_at, entry.ends_at, MAX_CHANGE,
                    "une ouverture" if entry.kind == OPENING else "une fermeture")
    return found


def _author_problems(who: str, via: str) -> list[str]:
    found = []
    if not who:
        found.append("qui fait le changement : obligatoire (son nom)")
    elif len(who) > MAX_WHO:
        found.append(f"qui fait le changement : au plus {MAX_WHO} caractères")
    if via not in VIA:
        found.append(f"fait par « {via} » : « console », « cli » ou « téléphone »")
    return found


# ---------------------------------------------------------------------- the store


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # update_*: this field stays as it is


class OverrideStore:
    """Announcements and schedule changes in the database, each change audited.

    ``config``: the configuration to validate against (a ``Config`` or a function returning
    the one served); by default the current app's served one when there is an app context,
    else only what needs no configuration is checked. ``clock``: the instant "now" means for
    ``end_*`` and the listings (default: the real clock). ``after_change``: called after each
    committed change (``for_app`` refreshes the process's watcher with it).
    """

    def __init__(self, store: Store, *, config: Config | Callable[[], Config] | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 after_change: Callable[[], object] | None = None) -> None:
        self.store = store
        self._config = config
        self.clock = clock
        self.after_change = after_change

    def config(self) -> Config | None:
        if callable(self._config):
            return self._config()
        if self._config is not None:
            return self._config
        from flask import current_app, has_app_context

        if has_app_context():
            line = services(current_app).line
            return line.config if line is not None else None
        return None

    # ------------------------------------------------------------------ announcements

    def announcements(self, include_past: bool = False) -> list[AnnouncementRow]:
        """Not deleted, current and future ones (and ended ones with ``include_past``),
        by start."""
        return self._list(AnnouncementEntry, AnnouncementRow, include_past)

    def announcement(self, announcement_id: int) -> AnnouncementRow | None:
        return self._get(AnnouncementEntry, AnnouncementRow, announcement_id)

    def add_announcement(self, *, scope: str, starts_at: datetime, ends_at: datetime,
                         text: str | None = None, audio_url: str | None = None,
                         then: str = CONTINUE, text_en: str | None = None, who: str, via: str,
                         source: str | None = None) -> int:
        values = _announcement_values(scope=scope, starts_at=starts_at, ends_at=ends_at,
                                      text=text, audio_url=audio_url, then=then,
                                      text_en=text_en)
        self._check(Announcement(0, **values), who, via)
        return self._add(AnnouncementEntry, values, ANNOUNCEMENT,
                         describe_announcement(Announcement(0, **values)), who, via, source)

    def update_announcement(self, announcement_id: int, *, scope: str = KEEP,
                            starts_at: datetime = KEEP, ends_at: datetime = KEEP,
                            text: str | None = KEEP, audio_url: str | None = KEEP,
                            then: str = KEEP, text_en: str | None = KEEP, who: str, via: str,
                            source: str | None = None) -> AnnouncementRow:
        """Change the given fields (the others stay); the row as it is now. Raises
        ``InvalidOverride`` (the result would be invalid) or ``OverrideNotFound``."""
        given = {k: v for k, v in (("scope", scope), ("starts_at", starts_at),
                                   ("ends_at", ends_at), ("text", text),
                                   ("audio_url", audio_url), ("then", then),
                                   ("text_en", text_en)) if v is not KEEP}
        return self._update(AnnouncementEntry, AnnouncementRow, announcement_id, given,
                            who, via, source)

    def end_announcement(self, announcement_id: int, *, who: str, via: str,
                         source: str | None = None) -> bool:
        """End it now (one that had not started is cancelled); False when it was not running
        or to come (unknown, deleted or already over)."""
        return self._end(AnnouncementEntry, AnnouncementRow, announcement_id, who, via, source)

    def delete_announcement(self, announcement_id: int, *, who: str, via: str,
                            source: str | None = None) -> bool:
        """Delete it (the audit keeps what it was); False when unknown or already deleted."""
        return self._delete(AnnouncementEntry, AnnouncementRow, announcement_id, who, via,
                            source)

    # ------------------------------------------------------------------ schedule changes

    def changes(self, include_past: bool = False) -> list[ChangeRow]:
        return self._list(ScheduleChangeEntry, ChangeRow, include_past)

    def change(self, change_id: int) -> ChangeRow | None:
        return self._get(ScheduleChangeEntry, ChangeRow, change_id)

    def add_change(self, *, provider: str, kind: str, starts_at: datetime, ends_at: datetime,
                   reason: str, who: str, via: str, source: str | None = None) -> int:
        values = _change_values(provider=provider, kind=kind, starts_at=starts_at,
                                ends_at=ends_at, reason=reason)
        value = ScheduleChange(0, **values, who=who)
        self._check(value, who, via)
        return self._add(ScheduleChangeEntry, values, kind, describe_change(value), who, via,
                         source)

    def update_change(self, change_id: int, *, provider: str = KEEP, kind: str = KEEP,
                      starts_at: datetime = KEEP, ends_at: datetime = KEEP, reason: str = KEEP,
                      who: str, via: str, source: str | None = None) -> ChangeRow:
        given = {k: v for k, v in (("provider", provider), ("kind", kind),
                                   ("starts_at", starts_at), ("ends_at", ends_at),
                                   ("reason", reason)) if v is not KEEP}
        return self._update(ScheduleChangeEntry, ChangeRow, change_id, given, who, via, source)

    def end_change(self, change_id: int, *, who: str, via: str,
                   source: str | None = None) -> bool:
        return self._end(ScheduleChangeEntry, ChangeRow, change_id, who, via, source)

    def delete_change(self, change_id: int, *, who: str, via: str,
                      source: str | None = None) -> bool:
        return self._delete(ScheduleChangeEntry, ChangeRow, change_id, who, via, source)

    # ------------------------------------------------------------------ audit, snapshot

    def audit(self, limit: int = 200) -> list[AuditRow]:
        """Who changed what, from where: newest first."""
        query = (select(OverrideAuditEntry)
                 .order_by(OverrideAuditEntry.at.desc(), OverrideAuditEntry.id.desc())
                 .limit(limit))
        with self.store.session() as session:
            return [_row(AuditRow, e) for e in session.scalars(query)]

    def snapshot(self, now: datetime) -> Overrides:
        """What the line serves from ``now`` on: entries not deleted whose end is after
        ``now`` (those to come included), oldest first."""
        with self.store.session() as session:
            announcements = session.scalars(
                select(AnnouncementEntry).where(AnnouncementEntry.deleted_at.is_(None),
                                                AnnouncementEntry.ends_at > now)
                .order_by(AnnouncementEntry.id)).all()
            changes = session.scalars(
                select(ScheduleChangeEntry).where(ScheduleChangeEntry.deleted_at.is_(None),
                                                  ScheduleChangeEntry.ends_at > now)
                .order_by(ScheduleChangeEntry.id)).all()
            return Overrides(tuple(_row(AnnouncementRow, a).value() for a in announcements),
                             tuple(_row(ChangeRow, c).value() for c in changes))

    # ------------------------------------------------------------------ shared

    def _check(self, entry: Announcement | ScheduleChange, who: str, via: str) -> None:
        found = problems(self.config(), entry) + _author_problems((who or "").strip(), via)
        if found:
            raise InvalidOverride(found)

    def _list(self, model: Any, row: type, include_past: bool) -> list[Any]:
        query = select(model).where(model.deleted_at.is_(None))
        if not include_past:
            query = query.where(model.ends_at > self.clock())
        with self.store.session() as session:
            return [_row(row, e) for e in
                    session.scalars(query.order_by(model.starts_at, model.id))]

    def _get(self, model: Any, row: type, entry_id: int) -> Any:
        with self.store.session() as session:
            entry = session.get(model, entry_id)
            return _row(row, entry) if entry is not None and entry.deleted_at is None else None

    def _locked(self, session: Session, model: Any, entry_id: int) -> Any:
        query = select(model).where(model.id == entry_id, model.deleted_at.is_(None))
        if self.store.engine.dialect.name == "postgresql":
            query = query.with_for_update()
        return session.scalars(query).first()

    def _add(self, model: Any, values: dict[str, Any], kind: str, summary: str, who: str,
             via: str, source: str | None) -> int:
        now = utcnow()
        with self.store.session() as session:
            entry = model(**values, created_by=who.strip(), created_at=now)
            session.add(entry)
            session.flush()
            self._audit(session, now, who, via, source, CREATED, kind, entry.id, summary)
            entry_id = entry.id
        self._changed()
        return entry_id

    def _update(self, model: Any, row: type, entry_id: int, given: dict[str, Any], who: str,
                via: str, source: str | None) -> Any:
        now = utcnow()
        clean = _announcement_values if model is AnnouncementEntry else _change_values
        with self.store.session() as session:
            entry = self._locked(session, model, entry_id)
            if entry is None:
                raise OverrideNotFound(f"{_name(model)} n° {entry_id} introuvable "
                                       "(supprimée ?)")
            before = _row(row, entry)
            merged = clean(**{**{k: getattr(before, k) for k in LABELS if hasattr(before, k)},
                              **given})
            value = (Announcement(entry_id, **merged) if model is AnnouncementEntry
                     else ScheduleChange(entry_id, **merged, who=before.created_by))
            self._check(value, who, via)
            differences = _differences(before, merged)
            if not differences:
                return before
            for name, new in merged.items():
                setattr(entry, name, new)
            entry.updated_by, entry.updated_at = who.strip(), now
            session.flush()
            summary = (describe_announcement(value) if model is AnnouncementEntry
                       else describe_change(value))
            self._audit(session, now, who, via, source, MODIFIED, _kind(value), entry_id,
                        f"{summary} (changé : {differences})")
            after = _row(row, entry)
        self._changed()
        return after

    def _end(self, model: Any, row: type, entry_id: int, who: str, via: str,
             source: str | None) -> bool:
        found = _author_problems((who or "").strip(), via)
        if found:
            raise InvalidOverride(found)
        now, at = utcnow(), self.clock()
        with self.store.session() as session:
            entry = self._locked(session, model, entry_id)
            if entry is None or entry.ends_at <= at:
                return False
            before = _row(row, entry)
            started = min(entry.starts_at, at)  # one still to come: cancelled
            done = session.execute(
                update(model).where(model.id == entry_id, model.deleted_at.is_(None),
                                    model.ends_at > at)
                .values(starts_at=started, ends_at=at, updated_by=who.strip(), updated_at=now)
                .execution_options(synchronize_session=False))
            if not done.rowcount:
                return False
            what = "annulée (elle n'avait pas commencé)" if before.starts_at > at else \
                f"terminée le {when(at)} au lieu du {when(before.ends_at)}"
            self._audit(session, now, who, via, source, ENDED, _kind(before), entry_id,
                        f"{_describe(before)} — {what}")
        self._changed()
        return True

    def _delete(self, model: Any, row: type, entry_id: int, who: str, via: str,
                source: str | None) -> bool:
        found = _author_problems((who or "").strip(), via)
        if found:
            raise InvalidOverride(found)
        now = utcnow()
        with self.store.session() as session:
            entry = self._locked(session, model, entry_id)
            if entry is None:
                return False
            before = _row(row, entry)
            done = session.execute(
                update(model).where(model.id == entry_id, model.deleted_at.is_(None))
                .values(deleted_at=now, updated_by=who.strip(), updated_at=now)
                .execution_options(synchronize_session=False))
            if not done.rowcount:
                return False
            self._audit(session, now, who, via, source, DELETED, _kind(before), entry_id,
                        _describe(before))
        self._changed()
        return True

    def _audit(self, session: Session, at: datetime, who: str, via: str, source: str | None,
               action: str, kind: str, object_id: int, summary: str) -> None:
        if via == CLI and not source:
            source = CLI_SOURCE
        elif via == PHONE and source:
            from ivr.notify import mask_phone  # Loi 25: never a full number

            source = mask_phone(source)
        session.add(OverrideAuditEntry(
            at=at, who=who.strip()[:MAX_WHO], via=via, source=(source or None) and source[:128],
            action=action, kind=kind, object_id=object_id, summary=summary[:MAX_SUMMARY]))

    def _changed(self) -> None:
        if self.after_change is not None:
            try:
                self.after_change()
            except Exception:  # the change is committed; the watcher catches up by itself
                log.exception("overrides: refresh after a change failed")


def _announcement_values(*, scope: str, starts_at: datetime, ends_at: datetime,
                         text: str | None, audio_url: str | None, then: str,
                         text_en: str | None = None) -> dict[str, Any]:
    return {"scope": (scope or "").strip(), "starts_at": starts_at, "ends_at": ends_at,
            "text": (text or "").strip() or None, "audio_url": (audio_url or "").strip() or None,
            "then": (then or "").strip() or CONTINUE, "text_en": (text_en or "").strip() or None}


def _change_values(*, provider: str, kind: str, starts_at: datetime, ends_at: datetime,
                   reason: str | None) -> dict[str, Any]:
    return {"provider": (provider or "").strip(), "kind": (kind or "").strip(),
            "starts_at": starts_at, "ends_at": ends_at, "reason": (reason or "").strip()}


def _name(model: Any) -> str:
    return "annonce" if model is AnnouncementEntry else "fermeture ou ouverture"


def _kind(entry: Any) -> str:
    return entry.kind if isinstance(entry, ScheduleChange | ChangeRow) else ANNOUNCEMENT


def _describe(entry: Any) -> str:
    return (describe_change(entry) if isinstance(entry, ScheduleChange | ChangeRow)
            else describe_announcement(entry))


# ---------------------------------------------------------------------- serving


_WATCHERS: weakref.WeakSet[OverridesWatcher] = weakref.WeakSet()


class OverridesWatcher:
    """This process's snapshot of the day's changes, for the call path.

    ``current()`` reads an attribute (and, the first time in a process, starts the thread);
    the thread ``ivr-overrides`` refreshes it every ``interval`` seconds (0: no thread, call
    ``refresh()``). An unreachable database leaves the last snapshot in place, logged once a
    minute. ``clock`` gives the instant a snapshot is taken for (the app's: ``IVR_NOW``).
    """

    def __init__(self, store: Store, *, interval: float = REFRESH_SECONDS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.overrides = OverrideStore(store)
        self.interval = interval
        self.clock = clock
        self.refreshed_at: datetime | None = None  # the last snapshot read (real clock)
        self.last_error: str | None = None
        self.failures = 0
        self._snapshot: Overrides = NONE
        self._started = False  # this process's thread was started (or is not wanted)
        self._closed = False
        self._thread: threading.Thread | None = None
        self._logged_at = float("-inf")
        self._new_locks()
        _WATCHERS.add(self)

    def _new_locks(self) -> None:
        self._lock = threading.Lock()  # the order of refreshes; never held across I/O
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()
        self._asked = self._applied = 0

    def current(self) -> Overrides:
        """The snapshot to decide with: no I/O."""
        if not self._started:
            self._start()
        return self._snapshot

    def _start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            self._started = True
            if self.interval <= 0 or self._closed:
                return
            self._thread = threading.Thread(target=self._run, args=(self._stopping,),
                                            name="ivr-overrides", daemon=True)
            self._thread.start()

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self.refresh()
            except Exception:  # the thread must outlive any surprise
                log.exception("overrides refresh")
            stopping.wait(self.interval)

    def refresh(self) -> bool:
        """Read the snapshot now (the thread does; so does a change made in this process).
        False when the database could not be read: the last snapshot stays."""
        with self._lock:
            self._asked += 1
            asked = self._asked
        try:
            snapshot = self.overrides.snapshot(self.clock())
        except Exception as exc:
            self._failed(exc)
            return False
        with self._lock:
            if asked > self._applied:  # a refresh begun later has not been applied already
                self._applied = asked
                if snapshot != self._snapshot:
                    self._snapshot = snapshot
                self.refreshed_at = utcnow()
        if self.last_error is not None:
            log.info("overrides: database readable again (%d announcement(s), %d change(s))",
                     len(snapshot.announcements), len(snapshot.changes))
            self.last_error = None
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: " + (
            str(exc).strip().splitlines() or [""])[0][:200]
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            log.warning("overrides: database unreadable (%d failure(s)); still serving the "
                        "snapshot read at %s: %s", self.failures,
                        self.refreshed_at.isoformat(timespec="seconds")
                        if self.refreshed_at else "never", self.last_error)

    def stop(self) -> None:
        """End the thread; ``current()`` starts none afterwards."""
        self._closed = True
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=5)

    def status(self, now: datetime) -> dict[str, Any]:
        """For ``/healthz``: how many entries are active at ``now``, the next end of one."""
        snapshot = self.current()
        announcements = [a for a in snapshot.announcements if a.active(now)]
        changes = [c for c in snapshot.changes if c.active(now)]
        ends = [e.ends_at for e in (*announcements, *changes)]
        return {
            "announcements": len(announcements),
            "changes": len(changes),
            "next_end": min(ends).astimezone(TZ).isoformat() if ends else None,
            "refreshed_at": (self.refreshed_at.isoformat(timespec="seconds")
                             if self.refreshed_at else None),
            "database_error": self.last_error is not None,
        }

    def _forked(self) -> None:
        """In a forked child: the parent's thread did not follow (its snapshot did)."""
        self._new_locks()
        self._thread = None
        self._started = False


def _after_fork_in_child() -> None:
    for watcher in list(_WATCHERS):
        watcher._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------- the app


def in_memory(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///:memory:")


def init_app(app: Flask) -> None:
    parts = services(app)
    interval = float(app.config.get("IVR_OVERRIDES_SECONDS", REFRESH_SECONDS) or 0)
    if in_memory(parts.store.url):
        # One shared connection (StaticPool): a second thread's transactions would mix with
        # the requests'. Whoever changes it refreshes (for_app), or call refresh().
        interval = 0
    parts.overrides = OverridesWatcher(parts.store, interval=interval,
                                       clock=lambda: parts.now or utcnow())


def for_app(app: Flask | None = None) -> OverrideStore:
    """The app's ``OverrideStore`` for a change (console, CLI): validated against the config
    served, "now" by the app's clock, and this process's snapshot refreshed right after each
    change (other processes and instances within ``IVR_OVERRIDES_SECONDS``)."""
    if app is None:
        from flask import current_app

        app = current_app._get_current_object()  # type: ignore[attr-defined]
    parts = services(app)
    return OverrideStore(parts.store, config=lambda: parts.line.config,
                         clock=lambda: parts.now or utcnow(),
                         after_change=parts.overrides.refresh)


def current_overrides() -> Overrides:
    """The snapshot for the current request (no I/O)."""
    from flask import current_app

    return services(current_app).overrides.current()
