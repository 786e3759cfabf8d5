"""``ivr holidays`` and ``ivr status``: what the line will decide, before a caller meets it —
a year's holidays as the code computes them, and each team's state at any instant (the day's
changes included). ``ivr announce`` and ``ivr closure``: the day's announcements and temporary
closures or openings (issue 17, ``ivr.overrides_store``). Also the helpers ``ivr.cli`` shares
with them: ``parse_at``, ``json_option`` and ``echo_json``."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo

from ivr import REPO_ROOT, loading
from ivr.clock import ClockError, parse_instant
from ivr.config import ConfigInvalid
from ivr.overrides import CLOSURE, CONTINUE, LINE, OPENING, Overrides, ScheduleChange
from ivr.overrides_store import (
    CLI,
    InvalidOverride,
    OverrideStore,
    describe_announcement,
    describe_change,
    for_app,
)
from ivr.schedule import DAY_NAMES, TZ, overlapping
from ivr.schedule_wording import reopening_text
from ivr.services import services


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
    """Chaque équipe ouverte ou fermée, jusqu'à quand, et sa prochaine ouverture ; les
    annonces, fermetures et ouvertures temporaires en cours."""
    config, now = _config(), _now(at)
    overrides, unread = _day_changes(now)
    rows = []
    for provider_id in config.providers:
        state = config.schedule.state(provider_id, now)
        row = {
            "provider": provider_id,
            "open": state.open,
            "until": _stamp(state.until),
            "next_open": _stamp(state.next_open),
            "reason": state.reason,
            "hours": config.schedule.hours_text(provider_id),
            "reopening": config.schedule.reopening_text(provider_id, now),
            "change": None,
        }
        change = overrides.change_at(provider_id, now) if overrides else None
        if change is not None:
            row.update(_changed_state(config.schedule, change, now))
        rows.append(row)
    announcements = [a for a in (overrides.announcements if overrides else ())
                     if a.active(now)]
    if as_json:
        return echo_json({"at": _stamp(now), "providers": rows, "announcements": [
            {"id": a.id, "scope": a.scope, "from": _stamp(a.starts_at), "to": _stamp(a.ends_at),
             "text": a.text, "text_en": a.text_en, "audio_url": a.audio_url, "then": a.then}
            for a in announcements],
            "overrides_error": unread})
    click.echo(f"{DAY_NAMES[now.weekday()]} {now.isoformat(timespec='minutes')} "
               "(heure de Montréal)")
    width = max((len(r["provider"]) for r in rows), default=8)
    for r in rows:
        if r["open"]:
            detail = f"ouvert jusqu'au {r['until']}" if r["until"] else "ouvert en tout temps"
            detail += f", réouverture {r['next_open']}" if r["next_open"] else ""
            detail += f" ({r['reason']})" if r["change"] else ""
        else:
            detail = "fermé" + (f" ({r['reason']})" if r["reason"] else "")
            detail += (f", réouverture {r['reopening']} ({r['next_open']})" if r["next_open"]
                       else ", aucune ouverture dans les 60 prochains jours")
        click.echo(f"  {r['provider']:<{width}}  {detail}")
    if unread:
        click.echo(f"Annonces et changements d'horaire : inconnus ({unread})")
        return
    if announcements:
        click.echo("Annonces en cours :")
    for a in announcements:
        click.echo(f"  #{a.id} {describe_announcement(a)}")
    changes = [r for r in rows if r["change"]]
    if not announcements and not changes:
        click.echo("Aucune annonce, fermeture ou ouverture temporaire en cours.")


def _day_changes(now: dt.datetime) -> tuple[Overrides | None, str | None]:
    """The day's changes in the line's database (DATABASE_URL), or why they could not be read:
    the teams' hours are shown all the same."""
    context = click.get_current_context(silent=True)
    info = context.find_object(ScriptInfo) if context is not None else None
    if info is None:
        return None, "pas de base de données"
    try:
        app = info.load_app()
        return OverrideStore(services(app).store).snapshot(now), None
    except Exception as exc:  # no database, no tables yet, unreachable: say so, go on
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"]
        return None, f"base de données : {reason[0][:200]}"


def _changed_state(schedule: Any, change: ScheduleChange, now: dt.datetime) -> dict[str, Any]:
    """A team's state while a temporary closure or opening holds (it wins over the hours)."""
    after = schedule.state(change.provider, change.ends_at)
    why = "fermeture temporaire" if change.kind == CLOSURE else "ouverture temporaire"
    why += f" : {change.reason}" if change.reason else ""
    found: dict[str, Any] = {"change": {
        "id": change.id, "kind": change.kind, "from": _stamp(change.starts_at),
        "to": _stamp(change.ends_at), "reason": change.reason, "who": change.who}}
    if change.kind == CLOSURE:
        opening = change.ends_at if after.open else after.next_open
        found.update(open=False, until=_stamp(change.ends_at), next_open=_stamp(opening),
                     reason=f"{why}, jusqu'au {_stamp(change.ends_at)}",
                     reopening=reopening_text(opening.astimezone(TZ), now.date())
                     if opening else "")
    else:
        found.update(open=True, reason=why,
                     until=_stamp(after.until if after.open else change.ends_at),
                     next_open=_stamp(after.next_open) if not after.open else None)
    return found


# ---------------------------------------------------------------------- the day's changes


def _when(text: str, now: dt.datetime, hint: str) -> dt.datetime:
    """An instant as an administrator types it: ISO-8601 with its offset, a date and time in
    Montréal time (2026-12-01 18:00), or a time today (18:00, 18h, 18h30)."""
    typed = text.strip()
    try:
        if clock := re.fullmatch(r"(\d{1,2})\s*[h:]\s*(\d{2})?", typed):
            return now.astimezone(TZ).replace(hour=int(clock[1]), minute=int(clock[2] or 0),
                                              second=0, microsecond=0)
        instant = dt.datetime.fromisoformat(typed.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"« {text} » : une date et heure (2026-12-01T18:00, heure de Montréal, ou avec son "
            "fuseau) ou une heure d'aujourd'hui (18:00, 18h30)", param_hint=hint) from None
    return (instant if instant.tzinfo else instant.replace(tzinfo=TZ)).astimezone(TZ)


DURATION = re.compile(r"(?:(?P<j>\d+)j(?:ours?)?)?(?:(?P<h>\d+)h(?P<hm>\d+)?)?"
                      r"(?:(?P<m>\d+)(?:min|m))?")


def parse_duration(text: str) -> dt.timedelta:
    """2h, 30min, 1h30, 1j, 1j12h: a duration as typed; ValueError otherwise."""
    found = DURATION.fullmatch(text.replace(" ", "").lower())
    if not text.strip() or found is None or not any(found.groups()):
        raise ValueError(f"« {text} » : une durée comme 2h, 30min, 1h30 ou 1j")
    parts = {k: int(v or 0) for k, v in found.groupdict().items()}
    return dt.timedelta(days=parts["j"], hours=parts["h"], minutes=parts["hm"] + parts["m"])


def _span(debut: str | None, fin: str | None, duree: str | None,
          now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    if (fin is None) == (duree is None):
        raise click.UsageError("dites quand cela finit : --fin ou --duree (l'un des deux)")
    start = _when(debut, now, "--debut") if debut else now
    if fin is not None:
        return start, _when(fin, now, "--fin")
    try:
        return start, start + parse_duration(duree or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duree") from None


def _app_now() -> dt.datetime:
    return (services(current_app).now or dt.datetime.now(TZ)).astimezone(TZ)


def _refused(what: str, exc: InvalidOverride) -> click.ClickException:
    return click.ClickException(f"{what} refusée :\n"
                                + "\n".join(f"  - {p}" for p in exc.problems))


def _list_entries(rows: list[Any], now: dt.datetime, as_json: bool,
                  describe: Callable[[Any], str], none: str, counted: str) -> None:
    """``ivr announce list`` and ``ivr closure list``: one line per entry, or JSON."""
    if as_json:
        return echo_json([{**{k: (_stamp(v) if isinstance(v, dt.datetime) else v)
                              for k, v in vars(row).items()}, "state": row.state(now)}
                          for row in rows])
    if not rows:
        return click.echo(none)
    for row in rows:
        click.echo(f"#{row.id:<4} {row.state(now):<9} {describe(row)}  "
                   f"[{row.updated_by or row.created_by}]")
    click.echo(f"{len(rows)} {counted}")


times = [
    click.option("--debut", metavar="QUAND", default=None,
                 help="Début : 2026-12-01T08:00 (heure de Montréal), avec un fuseau, ou 8:00 "
                      "aujourd'hui (défaut : maintenant)."),
    click.option("--fin", metavar="QUAND", default=None, help="Fin, écrite comme --debut."),
    click.option("--duree", metavar="DURÉE", default=None,
                 help="Ou la durée depuis le début : 2h, 30min, 1h30, 1j (au plus 14 jours)."),
]
by_option = click.option("--par", "who", metavar="NOM",
                         default=lambda: os.environ.get("USER") or os.environ.get("LOGNAME"),
                         help="Qui fait le changement, pour le journal (défaut : $USER).")
past_option = click.option("--tout", "include_past", is_flag=True,
                           help="Aussi celles qui sont terminées.")


def with_times(command: Any) -> Any:
    for option in reversed(times):
        command = option(command)
    return command


@click.group("announce", cls=AppGroup)
def announce_group() -> None:
    """Les annonces du jour : un message dit au début de la ligne ou d'une branche, jusqu'à
    une fin (au plus 14 jours)."""


@announce_group.command("list")
@past_option
@json_option("En JSON.")
def announce_list(include_past: bool, as_json: bool) -> None:
    """Les annonces en cours et à venir (--tout : aussi les terminées)."""

    store = for_app(current_app)
    _list_entries(store.announcements(include_past), store.clock(), as_json,
                  describe_announcement, "Aucune annonce en cours ou à venir.", "annonce(s)")


@announce_group.command("add")
@click.option("--texte", metavar="TEXTE", default=None, help="Ce que la voix dit.")
@click.option("--anglais", metavar="TEXTE", default=None,
              help="Facultatif, avec --texte : ce que la voix anglaise dit aux appelants qui ont "
                   "choisi l'anglais (touche 9) ; sans lui, ils entendent le texte en français.")
@click.option("--audio", metavar="URL", default=None,
              help="Ou l'adresse https:// d'un enregistrement à faire jouer.")
@click.option("--portee", metavar="NŒUD", default=LINE, show_default=True,
              help="« ligne » (à l'accueil) ou le nœud où l'annonce est dite (ivr tree).")
@with_times
@click.option("--ensuite", metavar="SUITE", default=CONTINUE, show_default=True,
              help="Après l'annonce : « continuer » (le menu), « raccrocher », ou un nœud où "
                   "aller (ivr tree).")
@by_option
def announce_add(texte: str | None, anglais: str | None, audio: str | None, portee: str,
                 debut: str | None, fin: str | None, duree: str | None, ensuite: str,
                 who: str | None) -> None:
    """Ajouter une annonce ; chaque instance de la ligne la sert en quelques secondes."""

    starts_at, ends_at = _span(debut, fin, duree, _app_now())
    store = for_app(current_app)
    try:
        new = store.add_announcement(scope=portee, starts_at=starts_at, ends_at=ends_at,
                                     text=texte, audio_url=audio, then=ensuite,
                                     text_en=anglais, who=who or "", via=CLI)
    except InvalidOverride as exc:
        raise _refused("annonce", exc) from None
    click.echo(f"Annonce n° {new} ajoutée : {describe_announcement(store.announcement(new))}.")


@announce_group.command("end")
@click.argument("announcement_id", metavar="N", type=int)
@by_option
def announce_end(announcement_id: int, who: str | None) -> None:
    """Terminer l'annonce N maintenant (une annonce à venir est annulée)."""

    try:
        ended = for_app(current_app).end_announcement(announcement_id, who=who or "", via=CLI)
    except InvalidOverride as exc:
        raise _refused("fin", exc) from None
    if not ended:
        raise click.ClickException(f"aucune annonce n° {announcement_id} en cours ou à venir "
                                   "(ivr announce list)")
    click.echo(f"Annonce n° {announcement_id} terminée.")


@click.group("closure", cls=AppGroup)
def closure_group() -> None:
    """Fermetures et ouvertures temporaires d'une équipe : elles l'emportent sur son horaire,
    jusqu'à leur fin (au plus 14 jours)."""


@closure_group.command("list")
@past_option
@json_option("En JSON.")
def closure_list(include_past: bool, as_json: bool) -> None:
    """Les fermetures et ouvertures temporaires en cours et à venir (--tout : aussi les
    terminées)."""

    store = for_app(current_app)
    _list_entries(store.changes(include_past), store.clock(), as_json, describe_change,
                  "Aucune fermeture ou ouverture temporaire en cours ou à venir.",
                  "changement(s) d'horaire")


@closure_group.command("add")
@click.option("--fournisseur", "provider", metavar="ÉQUIPE", required=True,
              help="L'équipe (schedules/providers.yaml), ex. csi.")
@click.option("--ouverture", "opening", is_flag=True,
              help="Une ouverture temporaire (défaut : une fermeture).")
@click.option("--raison", metavar="TEXTE", default="", help="Pourquoi (pour le journal).")
@with_times
@by_option
def closure_add(provider: str, opening: bool, raison: str, debut: str | None, fin: str | None,
                duree: str | None, who: str | None) -> None:
    """Fermer (ou ouvrir) une équipe pour un temps, quel que soit son horaire."""

    starts_at, ends_at = _span(debut, fin, duree, _app_now())
    store = for_app(current_app)
    kind = OPENING if opening else CLOSURE
    try:
        new = store.add_change(provider=provider, kind=kind, starts_at=starts_at,
                               ends_at=ends_at, reason=raison, who=who or "", via=CLI)
    except InvalidOverride as exc:
        raise _refused(kind, exc) from None
    click.echo(f"{kind.capitalize()} n° {new} ajoutée : {describe_change(store.change(new))}.")


@closure_group.command("end")
@click.argument("change_id", metavar="N", type=int)
@by_option
def closure_end(change_id: int, who: str | None) -> None:
    """Terminer maintenant la fermeture ou l'ouverture N (à venir : annulée) ; l'horaire
    reprend."""

    try:
        ended = for_app(current_app).end_change(change_id, who=who or "", via=CLI)
    except InvalidOverride as exc:
        raise _refused("fin", exc) from None
    if not ended:
        raise click.ClickException(f"aucune fermeture ou ouverture n° {change_id} en cours ou à "
                                   "venir (ivr closure list)")
    click.echo(f"Fermeture ou ouverture n° {change_id} terminée ; l'horaire reprend.")
