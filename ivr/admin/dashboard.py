"""Tableau de bord: what the line does right now, at a glance.

Each provider open or closed now and until when (from the same Schedule the calls are routed
with), today's calls by branch and outcome, the voicemails waiting, the config version with
the last refused reload, and the local days still to list for the coming 12 months.
Everything is read at request time with ``clock.now()``, so a frozen ``IVR_NOW`` shows the
dashboard "as on" that instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import phonenumbers
from flask import current_app, render_template, url_for

from ivr import clock
from ivr.admin import bp
from ivr.lines import current_config, current_line
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


def provider_rows(config: Any, now: dt.datetime) -> list[ProviderRow]:
    """Every provider's state now, in the order of the YAML file."""
    rows = []
    schedule = config.schedule
    for provider_id, provider in config.providers.items():
        state = schedule.state(provider_id, now)
        hours = schedule.hours_text(provider_id)
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


@bp.get("/")
def dashboard() -> str:
    """The console's home page."""
    config = current_config()
    line = current_line()
    store = _store()
    now = clock.now()
    today = now.astimezone(TZ).date()
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
        providers=provider_rows(config, now),
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
