"""`ivr holidays` and `ivr status`: let an administrator see what the line will decide.

An administrator who edits schedules/*.yaml checks the result here before a caller meets it:
the holidays of a year as the code computes them, and each provider's state at any instant.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import click

from ivr.schedule import DAY_NAMES, TZ, Schedule, overlapping

REPO_ROOT = Path(__file__).resolve().parent.parent


def _config() -> Any:
    """The running app's config when there is one, else the config directory's (validated)."""
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            config = getattr(current_app.extensions.get("ivr"), "config", None)
            if config is not None and getattr(config, "schedule", None) is not None:
                return config
    except ImportError:  # pragma: no cover - flask is a dependency
        pass
    from ivr.config import ConfigInvalid
    from ivr.loading import load

    directory = os.environ.get("IVR_CONFIG_DIR") or REPO_ROOT
    try:
        return load(directory)
    except ConfigInvalid as exc:
        raise click.ClickException(f"invalid configuration in {directory}:\n{exc}") from exc


def _parse_instant(text: str, source: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an ISO-8601 instant", param_hint=source) \
            from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise click.BadParameter(f"{text!r} needs an offset, e.g. 2027-03-15T07:30-04:00",
                                 param_hint=source)
    return value


def _now(at: str | None) -> dt.datetime:
    """--at, else IVR_NOW (frozen clock), else the real clock; always in Montréal time."""
    if at:
        return _parse_instant(at, "--at").astimezone(TZ)
    frozen = os.environ.get("IVR_NOW")
    if frozen:
        return _parse_instant(frozen, "IVR_NOW").astimezone(TZ)
    return dt.datetime.now(TZ)


def _stamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(TZ).isoformat(timespec="minutes")


@click.command("holidays")
@click.argument("year", type=int, required=False)
@click.option("--calendar", "calendar_id", default="rsss", show_default=True,
              help="Le calendrier (nom du fichier dans schedules/calendars/).")
@click.option("--json", "as_json", is_flag=True, help="En JSON.")
def holidays_command(year: int | None, calendar_id: str, as_json: bool) -> None:
    """Les jours fériés de ANNÉE (défaut : cette année), avec leur nom."""
    schedule: Schedule = _config().schedule
    if calendar_id not in schedule.calendar_ids():
        raise click.BadParameter(
            f"unknown calendar {calendar_id!r} (known: {', '.join(schedule.calendar_ids())})",
            param_hint="--calendar")
    year = year or _now(None).year
    days = schedule.holidays(calendar_id, year)
    closures = overlapping(schedule.closures(calendar_id), dt.datetime(year, 1, 1, tzinfo=TZ),
                           dt.datetime(year + 1, 1, 1, tzinfo=TZ))
    if as_json:
        click.echo(json.dumps({
            "calendar": calendar_id,
            "year": year,
            "holidays": [{"date": h.date.isoformat(), "name": h.name, "why": h.why,
                          "from": h.start.strftime("%H:%M") if h.start else None,
                          "calendar": h.calendar_id} for h in days],
            "closures": [{"from": _stamp(c.start), "to": _stamp(c.end), "name": c.name,
                          "why": c.why, "calendar": c.owner} for c in closures],
        }, ensure_ascii=False, indent=2))
        return
    click.echo(f"{schedule.calendar_name(calendar_id)} [{calendar_id}] — {year}")
    for h in days:
        partial = f" (à partir de {h.start:%H:%M})" if h.start else ""
        origin = f"  [{h.calendar_id}]" if h.calendar_id != calendar_id else ""
        click.echo(f"  {h.date.isoformat()}  {DAY_NAMES[h.date.weekday()]:<9} "
                   f"{h.name}{partial}{origin}")
    for c in closures:
        click.echo(f"  fermeture {_stamp(c.start)} → {_stamp(c.end)}  {c.name}  [{c.owner}]")
    click.echo(f"{len(days)} jour(s) férié(s)")


@click.command("status")
@click.option("--at", "at", metavar="ISO",
              help="Instant avec son fuseau (défaut : IVR_NOW, sinon maintenant).")
@click.option("--json", "as_json", is_flag=True, help="En JSON.")
def status_command(at: str | None, as_json: bool) -> None:
    """Chaque équipe ouverte ou fermée, jusqu'à quand, et sa prochaine ouverture."""
    config = _config()
    schedule: Schedule = config.schedule
    now = _now(at)
    rows = []
    for provider_id in config.providers:
        state = schedule.state(provider_id, now)
        rows.append({
            "provider": provider_id,
            "open": state.open,
            "until": _stamp(state.until),
            "next_open": _stamp(state.next_open),
            "reason": state.reason,
            "hours": schedule.hours_text(provider_id),
            "reopening": schedule.reopening_text(provider_id, now),
        })
    if as_json:
        click.echo(json.dumps({"at": _stamp(now), "providers": rows}, ensure_ascii=False,
                              indent=2))
        return
    click.echo(f"{DAY_NAMES[now.weekday()]} {now.isoformat(timespec='minutes')} "
               "(heure de Montréal)")
    width = max((len(r["provider"]) for r in rows), default=8)
    for r in rows:
        if r["open"]:
            detail = f"ouvert jusqu'au {r['until']}" if r["until"] else "ouvert en tout temps"
            if r["next_open"]:
                detail += f", réouverture {r['next_open']}"
        else:
            detail = "fermé"
            if r["reason"]:
                detail += f" ({r['reason']})"
            detail += (f", réouverture {r['reopening']} ({r['next_open']})" if r["next_open"]
                       else ", aucune ouverture dans les 60 prochains jours")
        click.echo(f"  {r['provider']:<{width}}  {detail}")
