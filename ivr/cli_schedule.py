"""``ivr holidays`` and ``ivr status``: what the line will decide, before a caller meets it —
a year's holidays as the code computes them, and each team's state at any instant. Also the
helpers ``ivr.cli`` shares with them: ``parse_at``, ``json_option`` and ``echo_json``."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import click

from ivr import REPO_ROOT, loading
from ivr.clock import ClockError, parse_instant
from ivr.config import ConfigInvalid
from ivr.schedule import DAY_NAMES, TZ, overlapping


def json_option(help_text: str):
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _config() -> Any:
    """The configuration of IVR_CONFIG_DIR (else the repository's), validated."""
    directory = os.environ.get("IVR_CONFIG_DIR") or REPO_ROOT
    try:
        return loading.load(directory)
    except ConfigInvalid as exc:
        raise click.ClickException(f"configuration invalide dans {directory} :\n{exc}") from exc


def parse_at(text: str, hint: str = "--at") -> dt.datetime:
    """An ISO-8601 instant with its offset, in Montréal time; else a usage error."""
    try:
        return parse_instant(text)
    except ClockError as exc:
        raise click.BadParameter(f"« {text} » n'est pas un instant ISO-8601 avec son fuseau "
                                 "(offset), ex. 2027-03-15T10:00:00-04:00",
                                 param_hint=hint) from exc


def _now(at: str | None) -> dt.datetime:
    """--at, else IVR_NOW (frozen clock), else the real clock."""
    text, hint = (at, "--at") if at else (os.environ.get("IVR_NOW"), "IVR_NOW")
    return parse_at(text, hint) if text else dt.datetime.now(TZ)


def _stamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(TZ).isoformat(timespec="minutes")


@click.command("holidays")
@click.argument("year", type=int, required=False, metavar="[ANNÉE]")
@click.option("--calendar", "calendar_id", metavar="CALENDRIER", default="rsss",
              show_default=True, help="Le calendrier (nom du fichier dans schedules/calendars/).")
@json_option("En JSON.")
def holidays_command(year: int | None, calendar_id: str, as_json: bool) -> None:
    """Les jours fériés de ANNÉE (défaut : cette année), avec leur nom."""
    schedule = _config().schedule
    if calendar_id not in schedule.calendar_ids():
        raise click.BadParameter(f"calendrier inconnu « {calendar_id} » (connus : "
                                 f"{', '.join(schedule.calendar_ids())})", param_hint="--calendar")
    year = year or _now(None).year
    days = schedule.holidays(calendar_id, year)
    closures = overlapping(schedule.closures(calendar_id), dt.datetime(year, 1, 1, tzinfo=TZ),
                           dt.datetime(year + 1, 1, 1, tzinfo=TZ))
    if as_json:
        return echo_json({
            "calendar": calendar_id,
            "year": year,
            "holidays": [{"date": h.date.isoformat(), "name": h.name, "why": h.why,
                          "from": h.start.strftime("%H:%M") if h.start else None,
                          "calendar": h.calendar_id} for h in days],
            "closures": [{"from": _stamp(c.start), "to": _stamp(c.end), "name": c.name,
                          "why": c.why, "calendar": c.owner} for c in closures],
        })
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
@click.option("--at", metavar="ISO",
              help="Instant avec son fuseau (défaut : IVR_NOW, sinon maintenant).")
@json_option("En JSON.")
def status_command(at: str | None, as_json: bool) -> None:
    """Chaque équipe ouverte ou fermée, jusqu'à quand, et sa prochaine ouverture."""
    config, now = _config(), _now(at)
    rows = []
    for provider_id in config.providers:
        state = config.schedule.state(provider_id, now)
        rows.append({
            "provider": provider_id,
            "open": state.open,
            "until": _stamp(state.until),
            "next_open": _stamp(state.next_open),
            "reason": state.reason,
            "hours": config.schedule.hours_text(provider_id),
            "reopening": config.schedule.reopening_text(provider_id, now),
        })
    if as_json:
        return echo_json({"at": _stamp(now), "providers": rows})
    click.echo(f"{DAY_NAMES[now.weekday()]} {now.isoformat(timespec='minutes')} "
               "(heure de Montréal)")
    width = max((len(r["provider"]) for r in rows), default=8)
    for r in rows:
        if r["open"]:
            detail = f"ouvert jusqu'au {r['until']}" if r["until"] else "ouvert en tout temps"
            detail += f", réouverture {r['next_open']}" if r["next_open"] else ""
        else:
            detail = "fermé" + (f" ({r['reason']})" if r["reason"] else "")
            detail += (f", réouverture {r['reopening']} ({r['next_open']})" if r["next_open"]
                       else ", aucune ouverture dans les 60 prochains jours")
        click.echo(f"  {r['provider']:<{width}}  {detail}")
