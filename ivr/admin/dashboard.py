"""Tableau de bord: what the line does right now, at a glance.

Each provider open or closed now and until when (from the same Schedule the calls are routed
with), today's calls by branch and outcome, the voicemails waiting, the config version with
the last refused reload, and the local days still to list for the coming 12 months.
Everything is read at request time with ``clock.now()``, so a frozen ``IVR_NOW`` shows the
dashboard "as on" that instant.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import phonenumbers
from flask import current_app, render_template, url_for

from ivr import clock
from ivr.admin import bp
from ivr.admin.schedules import console_reason, console_state
from ivr.lines import current_config, current_line
from ivr.overrides import LINE, NONE, OPENING, Overrides
from ivr.overrides_store import OverrideStore
from ivr.schedule import TZ, missing_local_days
from ivr.services import services
from ivr.stats import (
    Period,
    branch_order,
    french_datetime,
    new_voicemails_by_box,
    node_title,
    outcome_label,
    summarize,
    until_text,
)
from ivr.store import Store

log = logging.getLogger(__name__)

LATEST_VOICEMAILS = 5


@dataclass(frozen=True)
class ProviderRow:
    id: str
    name: str
    open: bool
    when: str  # "jusqu'à 17 h", "rouvre demain, 7 h"…
    reason: str | None
    hours: str
    phone: str | None
    extension: str | None
    console: bool = False  # decided by a closure or an opening set in the console


def provider_rows(config: Any, now: dt.datetime,
                  overrides: Overrides = NONE) -> list[ProviderRow]:
    """Every provider's state now, in the order of the YAML file; a closure or an opening set
    in the console wins over the YAML's hours, as on the line."""
    rows = []
    schedule = config.schedule
    for provider_id, provider in config.providers.items():
        hours = schedule.hours_text(provider_id)
        console = console_state(config, overrides, provider_id, now)
        if console is not None:
            when = (until_text(console.until, now, opening=not console.open)
                    if console.until is not None else
                    "aucune fermeture prévue dans les 60 prochains jours" if console.open
                    else "aucune ouverture prévue dans les 60 prochains jours")
            rows.append(ProviderRow(provider_id, provider.name, console.open, when,
                                    _capital(console_reason(console.change)), hours,
                                    phone_text(provider.phone), provider.extension, True))
            continue
        state = schedule.state(provider_id, now)
        if state.open:
            when = (until_text(state.until, now, opening=False) if state.until is not None
                    else "en tout temps" if hours == "en tout temps"
                    else "aucune fermeture prévue dans les 60 prochains jours")
        elif state.until is not None:
            when = until_text(state.until, now, opening=True)
        else:
            when = ("aucune heure d'ouverture" if not hours
                    else "aucune ouverture prévue dans les 60 prochains jours")
        rows.append(ProviderRow(provider_id, provider.name, state.open, when, state.reason,
                                hours, phone_text(provider.phone), provider.extension))
    return rows


def phone_text(number: str | None) -> str | None:
    """+15142514000 → (514) 251-4000; anything else as it is."""
    if not number:
        return None
    try:
        return phonenumbers.format_number(phonenumbers.parse(number, None),
                                          phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return number


@dataclass(frozen=True)
class LatestVoicemail:
    id: int
    box: str
    received: str
    caller: str
    duration: int | None
    url: str | None


def _store() -> Store:
    return services(current_app).store


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------------- the day's changes

UPCOMING = 3  # entries to come shown


@dataclass(frozen=True)
class DayEntry:
    """An announcement, a closure or an opening set in the console, as the dashboard says it."""

    id: str  # "annonce-3", "changement-2": its row on the « Annonces » page
    kind: str  # « Annonce », « Fermeture », « Ouverture »
    what: str  # the text, or the team and the reason
    where: str  # the scope, or the team
    when: str  # « jusqu'à 12 h », « à partir de demain, 13 h »
    at: dt.datetime  # its end (active) or its start (to come)
    link: str | None


@dataclass
class DayChanges:
    active: list[DayEntry]
    upcoming: list[DayEntry]
    next_end: DayEntry | None
    unread: bool = False  # the database could not be read


def _starting(moment: dt.datetime, now: dt.datetime) -> str:
    """« à partir de 13 h », « à partir de demain, 13 h », « à partir du jeudi 3 décembre… »."""
    text = until_text(moment, now, opening=False)
    if text.startswith("jusqu'au "):
        return "à partir du " + text.removeprefix("jusqu'au ")
    return "à partir de " + text.removeprefix("jusqu'à ")


def day_changes(config: Any, overrides: Overrides | None, now: dt.datetime) -> DayChanges:
    """What the console set that is active now (the soonest to end first) and what comes next."""
    if overrides is None:
        return DayChanges([], [], None, unread=True)
    views = current_app.view_functions
    page = "admin.announcements" if "admin.announcements" in views else None

    def link(anchor: str) -> str | None:
        return url_for(page, _anchor=anchor) if page else None

    entries: list[tuple[DayEntry, bool]] = []
    for a in overrides.announcements:
        scope = "Toute la ligne" if a.scope == LINE else node_title(config, a.scope)
        what = f"« {a.text} »" if a.text else "enregistrement"
        if a.text_en:
            what += f" (en anglais : « {a.text_en} »)"
        anchor = f"annonce-{a.id}"
        if a.active(now):
            entries.append((DayEntry(anchor, "Annonce", what, scope,
                                     until_text(a.ends_at, now, opening=False), a.ends_at,
                                     link(anchor)), True))
        elif a.starts_at > now:
            entries.append((DayEntry(anchor, "Annonce", what, scope,
                                     _starting(a.starts_at, now), a.starts_at, link(anchor)),
                            False))
    for c in overrides.changes:
        provider = config.providers.get(c.provider)
        name = provider.name if provider is not None else c.provider
        kind = "Ouverture" if c.kind == OPENING else "Fermeture"
        anchor = f"changement-{c.id}"
        if c.active(now):
            entries.append((DayEntry(anchor, kind, c.reason, name,
                                     until_text(c.ends_at, now, opening=False), c.ends_at,
                                     link(anchor)), True))
        elif c.starts_at > now:
            entries.append((DayEntry(anchor, kind, c.reason, name,
                                     _starting(c.starts_at, now), c.starts_at, link(anchor)),
                            False))
    active = sorted((e for e, on in entries if on), key=lambda e: e.at)
    upcoming = sorted((e for e, on in entries if not on), key=lambda e: e.at)[:UPCOMING]
    return DayChanges(active, upcoming, active[0] if active else None)


def read_overrides(now: dt.datetime) -> Overrides | None:
    """The console's entries not ended at ``now``, from the database (the truth for every
    instance); None when it cannot be read."""
    try:
        return OverrideStore(_store()).snapshot(now)
    except Exception:
        log.exception("console: the day's changes could not be read")
        return None


@bp.get("/")
def dashboard() -> str:
    """The console's home page."""
    config = current_config()
    line = current_line()
    store = _store()
    now = clock.now()
    today = now.astimezone(TZ).date()
    overrides = read_overrides(now)
    summary = summarize(store, Period(today, today))
    branches = branch_order(config, summary.by_branch)
    waiting = new_voicemails_by_box(store)
    boxes = list(config.boxes) + sorted(b for b in waiting if b not in config.boxes)
    views = current_app.view_functions
    latest = [
        LatestVoicemail(
            v.id, config.boxes[v.box].name if v.box in config.boxes else v.box,
            french_datetime(v.received_at), phone_text(v.caller) or "Numéro masqué", v.duration,
            url_for("admin.voicemail", voicemail_id=v.id) if "admin.voicemail" in views
            else None)
        for v in store.voicemails(status="new", limit=LATEST_VOICEMAILS)
    ]
    box_links = {
        b: url_for("admin.voicemails", boite=b, statut="nouveau")
        if "admin.voicemails" in views else None for b in boxes}
    error = line.last_error
    return render_template(
        "admin/dashboard.html",
        now_text=french_datetime(now),
        providers=provider_rows(config, now, overrides or NONE),
        day=day_changes(config, overrides, now),
        announcements_link=url_for("admin.announcements")
        if "admin.announcements" in views else None,
        summary=summary,
        branches=[(b, node_title(config, b)) for b in branches],
        outcomes=[(o, outcome_label(o)) for o in summary.outcomes],
        boxes=[(b, config.boxes[b].name if b in config.boxes else b, waiting.get(b, 0),
                box_links[b]) for b in boxes],
        waiting_total=sum(waiting.values()),
        latest=latest,
        version=config.version,
        loaded_at=french_datetime(line.loaded_at),
        reloads=line.reloads,
        reload_error=error,
        reload_error_at=french_datetime(error.at) if error is not None else None,
        stats_today=url_for("admin.stats", du=today.isoformat(), au=today.isoformat())
        if "admin.stats" in views else None,
        local_warnings=missing_local_days(config, today),
        schedules_link=url_for("admin.schedules", _anchor="avis-jours-locaux")
        if "admin.schedules" in views else None,
    )
