"""Horaires et jours fériés: what the line decides by date and hour, and "what happens at…".

Everything comes from the served config's Schedule, the object the webhooks ask, and the route
walk below mirrors ``ivr.flow.Turn.route``: an administrator who checks Christmas morning here
sees what a caller will get, before a caller gets it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

from flask import current_app, render_template, request, url_for

from ivr import clock
from ivr.admin import bp
from ivr.config import Config, Node, Provider
from ivr.flow import MAX_GOTO
from ivr.lines import current_config
from ivr.overrides import NONE, OPENING, Overrides, ScheduleChange
from ivr.schedule import (
    DAY_NAMES,
    MONTH_NAMES,
    TZ,
    LocalInstant,
    Period,
    Schedule,
    local_instant,
    missing_local_days,
    overlapping,
)

PLAN_LIMIT = 60  # steps described for one route; a looping config stops being described here
YEARS = (2000, 2100)  # instants outside are refused (the schedule looks 60 days ahead)
log = logging.getLogger(__name__)
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?"
                      r"(Z|[+-]\d{2}:?\d{2})?")


# --------------------------------------------------------------------------- French formats


def fr_clock(minutes: int) -> str:
    """Minutes since midnight as written in Québec: "7 h", "9 h 30", "24 h"."""
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d}" if rest else f"{hours} h"


def fr_date(day: dt.date) -> str:
    """"vendredi 25 décembre 2026", "1er janvier"."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{DAY_NAMES[day.weekday()]} {number} {MONTH_NAMES[day.month - 1]} {day.year}"


def fr_datetime(instant: dt.datetime) -> str:
    """"vendredi 25 décembre 2026, 10 h", always on Montréal's wall clock."""
    local = instant.astimezone(TZ)
    return f"{fr_date(local.date())}, {fr_clock(local.hour * 60 + local.minute)}"


def fr_offset(instant: dt.datetime) -> str:
    """"UTC−05:00, heure normale de l'Est" — says which side of a DST change was used."""
    local = instant.astimezone(TZ)
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "−" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    season = "heure avancée de l'Est" if local.dst() else "heure normale de l'Est"
    return f"UTC{sign}{hours:02d}:{rest:02d}, {season}"


def fr_phone(number: str | None) -> str:
    """North-American E.164 as dialled here: "+15142514000" -> "514 251-4000"."""
    if not number:
        return ""
    digits = number.lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        area, local = digits[1:4], digits[4:]
        prefix = "1 " if area.startswith("8") else ""  # toll-free numbers are dialled with 1
        return f"{prefix}{area} {local[:3]}-{local[3:]}"
    return number


def iso_minutes(instant: dt.datetime) -> str:
    return instant.astimezone(TZ).isoformat(timespec="minutes")


def _add_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28) + dt.timedelta(days=1)


# --------------------------------------------------------------------------- the chosen instant


@dataclass(frozen=True)
class Choice:
    """The instant of "what happens at…", with what the page must say about it."""

    instant: dt.datetime
    kind: str  # "now", "normal", "gap", "ambiguous"
    other: dt.datetime | None = None

    @property
    def field_value(self) -> str:
        """The datetime-local value: Montréal's wall clock, no offset."""
        return self.instant.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")


class ChoiceError(ValueError):
    """A French message for the administrator: the form is shown again with it."""


def parse_choice(text: str) -> Choice:
    """An instant typed in the form (Montréal time) or carried by a link (with an offset)."""
    text = text.strip()
    example = "Exemple attendu : 2026-12-25 10:00."
    if len(text) > 40 or not _INSTANT.fullmatch(text):
        raise ChoiceError(f"« {text[:40]} » n'est pas une date et une heure valide. {example}")
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ChoiceError(f"« {text} » n'existe pas au calendrier. {example}") from None
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ChoiceError(f"Choisissez une date entre {YEARS[0]} et {YEARS[1]}.")
    if value.tzinfo is None:
        found: LocalInstant = local_instant(value)
        return Choice(found.instant, found.kind, found.other)
    instant = value.astimezone(TZ)
    wall = local_instant(instant)
    if wall.kind == "ambiguous":  # a link to the "other" occurrence carries its offset
        assert wall.other is not None
        other = wall.other if instant.utcoffset() == wall.instant.utcoffset() else wall.instant
        return Choice(instant, "ambiguous", other)
    return Choice(instant, "normal")


# --------------------------------------------------------------------------- the console's entries


@dataclass(frozen=True)
class ConsoleState:
    """A team's state set in the console at an instant: it wins over the YAML's hours then.
    ``until``: when the team's state changes (the console's entries back to back, then its
    hours), None if not within the schedule's 60 days; ``yaml_open``: what the files alone
    would say at that instant."""

    change: ScheduleChange
    open: bool
    until: dt.datetime | None
    yaml_open: bool


def console_state(config: Config, overrides: Overrides, provider_id: str,
                  at: dt.datetime) -> ConsoleState | None:
    change = overrides.change_at(provider_id, at)
    if change is None:
        return None
    schedule = config.schedule
    is_open = change.kind == OPENING
    yaml_open = schedule.is_open(provider_id, at)
    end = change.ends_at
    for _ in range(MAX_GOTO):  # entries set back to back
        following = overrides.change_at(provider_id, end)
        if following is None:
            break
        if (following.kind == OPENING) != is_open:
            return ConsoleState(change, is_open, end, yaml_open)
        end = following.ends_at
    if schedule.is_open(provider_id, end) != is_open:
        return ConsoleState(change, is_open, end, yaml_open)
    state = schedule.state(provider_id, end)
    return ConsoleState(change, is_open, state.until if is_open else state.next_open, yaml_open)


def console_reason(change: ScheduleChange) -> str:
    """« fermeture temporaire (console) : Formation du personnel »."""
    kind = "ouverture" if change.kind == OPENING else "fermeture"
    return f"{kind} temporaire (console)" + (f" : {change.reason}" if change.reason else "")


def is_open_at(config: Config, overrides: Overrides, provider_id: str,
               at: dt.datetime) -> bool:
    """Open at ``at`` as the line decides it: a console entry wins over the YAML's hours."""
    change = overrides.change_at(provider_id, at)
    if change is not None:
        return change.kind == OPENING
    return bool(config.schedule.is_open(provider_id, at))


# --------------------------------------------------------------------------- providers


@dataclass(frozen=True)
class ProviderNow:
    id: str
    name: str
    open: bool
    why: str
    until: str
    phone: str
    console: str | None = None  # a console entry decides at this instant: what it overrides
    files: str | None = None  # then: what the files alone would say, « ouverte » or « fermée »


def closed_why(config: Config, provider_id: str, at: dt.datetime,
               overrides: Overrides = NONE) -> str:
    """Why a provider is closed at ``at``: the console, a holiday, a closure, or its hours."""
    change = overrides.change_at(provider_id, at)
    if change is not None:
        return console_reason(change)
    schedule: Schedule = config.schedule
    state = schedule.state(provider_id, at)
    hours = schedule.provider_hours(provider_id)
    if state.reason:
        day = at.astimezone(TZ).date()
        if hours.calendar and any(
                h.name == state.reason
                for h in schedule.holidays_between(hours.calendar, day,
                                                   day + dt.timedelta(days=1))):
            return f"jour férié : {state.reason}"
        return f"fermeture : {state.reason}"
    if not hours.always and not any(hours.days):
        return "aucune heure d'ouverture"
    return "hors des heures d'ouverture"


def _open_why(config: Config, provider_id: str, at: dt.datetime) -> str:
    schedule: Schedule = config.schedule
    hours = schedule.provider_hours(provider_id)
    openings = list(hours.openings)
    if hours.calendar:
        openings += schedule.openings(hours.calendar)
    active = overlapping(openings, at, at + dt.timedelta(seconds=1))
    if active:
        return f"ouverture exceptionnelle : {active[0].name}"
    return "en tout temps" if hours.always else "selon ses heures"


def provider_now(config: Config, provider: Provider, at: dt.datetime,
                 overrides: Overrides = NONE) -> ProviderNow:
    phone = fr_phone(provider.phone)
    if phone and provider.extension:
        phone += f", poste {provider.extension}"
    console = console_state(config, overrides, provider.id, at)
    if console is not None:
        change = console.change
        if console.open:
            until = (f"jusqu'au {fr_datetime(console.until)}" if console.until
                     else "sans fermeture dans les 60 prochains jours")
        else:
            until = (f"réouverture le {fr_datetime(console.until)}" if console.until
                     else "aucune ouverture dans les 60 prochains jours")
        files = "ouverte" if console.yaml_open else "fermée"
        note = (f"Entrée de la console ({change.who or 'auteur inconnu'}), du "
                f"{fr_datetime(change.starts_at)} au {fr_datetime(change.ends_at)} : elle "
                f"l'emporte à cet instant sur les horaires des fichiers, qui diraient "
                f"« {files} ».")
        return ProviderNow(provider.id, provider.name, console.open, console_reason(change),
                           until, phone, note, files)
    state = config.schedule.state(provider.id, at)
    if state.open:
        why = _open_why(config, provider.id, at)
        until = (f"jusqu'au {fr_datetime(state.until)}" if state.until
                 else "sans fermeture dans les 60 prochains jours")
    else:
        why = closed_why(config, provider.id, at)
        until = (f"réouverture le {fr_datetime(state.next_open)}" if state.next_open
                 else "aucune ouverture dans les 60 prochains jours")
    return ProviderNow(provider.id, provider.name, state.open, why, until, phone)


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class PlanStep:
    """One thing a route does at an instant, in the order the call meets them."""

    kind: str  # dial | skip | closed | goto | fallback | loop
    node: str  # the route whose step this is
    provider: str | None = None
    target: str | None = None
    reason: str | None = None
    retry: bool = False  # only if the dial just before is not answered (or busy)


def route_plan(config: Config, node_id: str, at: dt.datetime,
               overrides: Overrides = NONE) -> list[PlanStep]:
    """What entering ``node_id`` at ``at`` does: the dial, then each fallback, to the end
    (the last step's ``target`` is where the caller ends up when nobody answers).

    Mirrors Turn.route: a closed provider with ``closed:`` sends the caller there; the first
    open provider with a line is dialled; a goto enters its node; past the last step, the
    line's fallback. After a dial, the steps that follow run if nobody answers. A closure or
    an opening set in the console wins over the YAML's hours, as in Turn.is_open.
    """
    out: list[PlanStep] = []
    _enter(config, node_id, at, 0, out, set(), overrides)
    return out


def _enter(config: Config, node_id: str, at: dt.datetime, depth: int, out: list[PlanStep],
           dialled: set[tuple[str, int]], overrides: Overrides) -> None:
    node = config.nodes.get(node_id)
    if len(out) >= PLAN_LIMIT:
        out.append(PlanStep("loop", node_id))
    elif node is not None and node.type == "route":
        _walk(config, node, 0, at, depth, out, dialled, overrides, retry=False)
    # Anything else ends the walk: the step before names it as its target.


def _walk(config: Config, node: Node, start: int, at: dt.datetime, depth: int,
          out: list[PlanStep], dialled: set[tuple[str, int]], overrides: Overrides,
          retry: bool) -> None:
    for index in range(start, len(node.steps)):
        step = node.steps[index]
        if step.kind == "goto":
            if depth >= MAX_GOTO:
                out.append(PlanStep("loop", node.id, retry=retry))
                retry = False
                break
            out.append(PlanStep("goto", node.id, target=step.target, retry=retry))
            _enter(config, step.target, at, depth + 1, out, dialled, overrides)
            return
        provider = config.providers[step.target]
        is_open = is_open_at(config, overrides, provider.id, at)
        if not is_open and step.closed:
            out.append(PlanStep("closed", node.id, provider.id, step.closed,
                                closed_why(config, provider.id, at, overrides), retry))
            _enter(config, step.closed, at, depth + 1, out, dialled, overrides)
            return
        if provider.phone and is_open:
            if (node.id, index) in dialled:  # a config that loops back to a dial
                out.append(PlanStep("loop", node.id, retry=retry))
                return
            dialled.add((node.id, index))
            out.append(PlanStep("dial", node.id, provider.id, retry=retry))
            _walk(config, node, index + 1, at, 0, out, dialled, overrides, retry=True)
            return
        reason = (closed_why(config, provider.id, at, overrides) if not is_open
                  else "aucune ligne téléphonique")
        out.append(PlanStep("skip", node.id, provider.id, reason=reason, retry=retry))
        retry = False
    out.append(PlanStep("fallback", node.id, target=config.line.fallback, retry=retry))
    _enter(config, config.line.fallback, at, depth + 1, out, dialled, overrides)


_KINDS = {  # node type -> (label, "to the …" preposition and article)
    "voicemail": ("boîte vocale", "à la"),
    "info": ("message", "au"),
    "menu": ("menu", "au"),
    "route": ("transfert", "au"),
    "hangup": ("fin d'appel", "à la"),
}


def node_label(config: Config, node_id: str, *, to: bool = False) -> str:
    """How a destination reads: "boîte vocale « Équipe télésanté »", or with ``to``
    "à la boîte vocale « … »", "au message « CSSNS fermé »"."""
    node = config.nodes.get(node_id)
    if node is None:
        return ("à un " if to else "") + f"nœud inconnu « {node_id} » (retour à l'accueil)"
    label, article = _KINDS.get(node.type, (node.type, "à"))
    name = node.title
    if node.type == "voicemail":
        box = config.boxes.get(node.box or "")
        name = box.name if box else str(node.box)
    return f"{article + ' ' if to else ''}{label} « {name} »"


def step_text(config: Config, step: PlanStep) -> str:
    """One plan step in French, for the page."""
    provider = config.providers.get(step.provider or "")
    name = provider.name if provider else step.provider
    target = node_label(config, step.target or "", to=True)
    if step.kind == "dial":
        assert provider is not None
        extension = f", poste {provider.extension}" if provider.extension else ""
        text = f"compose {name} ({fr_phone(provider.phone)}{extension})"
    elif step.kind == "skip":
        text = f"étape sautée : {name} ({step.reason})"
    elif step.kind == "closed":
        text = f"renvoi pour fermeture : {name} ({step.reason}), l'appelant va {target}"
    elif step.kind == "goto":
        text = f"l'appelant passe {target}"
    elif step.kind == "fallback":
        text = f"aucune équipe jointe : repli de la ligne, l'appelant va {target}"
    else:
        text = "la configuration tourne en boucle : l'appel finit au repli de la ligne"
    if step.retry:
        text = "si personne ne répond ou si c'est occupé : " + text
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class RouteNow:
    id: str
    title: str
    summary: str
    summary_kind: str  # "dial" (a person answers) or "end" (a message or voicemail)
    steps: tuple[tuple[PlanStep, str], ...]


def route_now(config: Config, node: Node, at: dt.datetime,
              overrides: Overrides = NONE) -> RouteNow:
    plan = route_plan(config, node.id, at, overrides)
    texts = tuple((s, step_text(config, s)) for s in plan)
    dial = next((s for s in plan if s.kind == "dial"), None)
    if dial is not None:
        summary, kind = f"Compose {config.providers[dial.provider or ''].name}", "dial"
    elif plan and plan[-1].kind != "loop":
        label = node_label(config, plan[-1].target or "")
        summary, kind = label[0].upper() + label[1:], "end"
    else:
        summary, kind = "Boucle dans la configuration", "end"
    return RouteNow(node.id, node.title, summary, kind, texts)


# --------------------------------------------------------------------------- the year ahead


@dataclass(frozen=True)
class HolidayRow:
    date: dt.date
    date_text: str
    name: str
    why: str
    partial: str | None  # "à partir de 12 h"
    origin: str | None  # the inherited calendar's name
    at: str  # a "what happens" instant that day, while it is closed
    local: bool = False  # one of the institution's local days


@dataclass(frozen=True)
class CalendarView:
    id: str
    name: str
    providers: tuple[str, ...]
    holidays: tuple[HolidayRow, ...]


@dataclass(frozen=True)
class HoursRow:
    id: str
    name: str
    phone: str
    calendar: str
    always: bool
    days: tuple[tuple[str, ...], ...]  # Monday first; () = fermé
    text: str


@dataclass(frozen=True)
class PeriodRow:
    kind: str  # "Fermeture" | "Ouverture exceptionnelle"
    name: str
    why: str
    owner: str  # "calendrier « … »" or "équipe « … »"
    start: str
    end: str
    providers: tuple[str, ...]
    ongoing: bool


def calendars_view(config: Config, today: dt.date) -> list[CalendarView]:
    schedule: Schedule = config.schedule
    end = _add_year(today)
    users: dict[str, list[str]] = {}
    for provider in config.providers.values():
        calendar = schedule.provider_hours(provider.id).calendar
        if calendar:
            users.setdefault(calendar, []).append(provider.name)
    views = []
    for calendar_id in schedule.calendar_ids():
        rows = []
        for h in schedule.holidays_between(calendar_id, today, end):
            start = h.start or dt.time(10, 0)
            at = dt.datetime.combine(h.date, start) + (
                dt.timedelta(hours=1) if h.start else dt.timedelta(0))
            rows.append(HolidayRow(
                h.date, fr_date(h.date), h.name, h.why,
                f"à partir de {fr_clock(h.start.hour * 60 + h.start.minute)}" if h.start
                else None,
                schedule.calendar_name(h.calendar_id) if h.calendar_id != calendar_id else None,
                at.strftime("%Y-%m-%dT%H:%M"), h.local))
        views.append(CalendarView(calendar_id, schedule.calendar_name(calendar_id),
                                  tuple(users.get(calendar_id, ())), tuple(rows)))
    return views


def hours_view(config: Config) -> list[HoursRow]:
    schedule: Schedule = config.schedule
    rows = []
    for provider in config.providers.values():
        hours = schedule.provider_hours(provider.id)
        phone = fr_phone(provider.phone)
        if phone and provider.extension:
            phone += f", poste {provider.extension}"
        rows.append(HoursRow(
            provider.id, provider.name, phone,
            schedule.calendar_name(hours.calendar) if hours.calendar else "",
            hours.always,
            tuple(tuple(f"{fr_clock(a)} à {fr_clock(b)}" for a, b in day) for day in hours.days),
            schedule.hours_text(provider.id)))
    return rows


def periods_view(config: Config, now: dt.datetime) -> list[PeriodRow]:
    """Closures and exceptional openings overlapping the next 12 months, each listed once,
    with the providers they affect (a calendar's reach every provider that follows it)."""
    schedule: Schedule = config.schedule
    end = dt.datetime.combine(_add_year(now.astimezone(TZ).date()), dt.time(0), tzinfo=TZ)
    found: dict[tuple[str, str, dt.datetime, dt.datetime, str], tuple[Period, str]] = {}
    affected: dict[tuple[str, str, dt.datetime, dt.datetime, str], list[str]] = {}

    def add(periods: list[Period], kind: str, provider: Provider | None, owner: str) -> None:
        for p in overlapping(periods, now, end):
            key = (kind, p.owner, p.start, p.end, p.name)
            found.setdefault(key, (p, owner or
                                   f"calendrier « {schedule.calendar_name(p.owner)} »"))
            names = affected.setdefault(key, [])
            if provider is not None and provider.name not in names:
                names.append(provider.name)

    for calendar_id in schedule.calendar_ids():
        add(schedule.closures(calendar_id), "Fermeture", None, "")
        add(schedule.openings(calendar_id), "Ouverture exceptionnelle", None, "")
    for provider in config.providers.values():
        hours = schedule.provider_hours(provider.id)
        own = f"équipe « {provider.name} »"
        add(list(hours.closures), "Fermeture", provider, own)
        add(list(hours.openings), "Ouverture exceptionnelle", provider, own)
        if hours.calendar:
            add(schedule.closures(hours.calendar), "Fermeture", provider, "")
            add(schedule.openings(hours.calendar), "Ouverture exceptionnelle", provider, "")
    rows = []
    for key, (p, owner) in sorted(found.items(), key=lambda item: (item[1][0].start, item[0])):
        rows.append(PeriodRow(key[0], p.name, p.why, owner, fr_datetime(p.start),
                              fr_datetime(p.end), tuple(affected[key]), p.start <= now))
    return rows


# --------------------------------------------------------------------------- the page


@dataclass
class WhatHappens:
    choice: Choice
    when: str
    offset: str
    providers: list[ProviderNow] = field(default_factory=list)
    routes: list[RouteNow] = field(default_factory=list)
    simulator: str | None = None
    other_link: str | None = None
    other_text: str = ""
    # The console's announcements said at that instant: (where, text, until, then).
    announcements: list[AnnouncementNow] = field(default_factory=list)
    console_link: str | None = None
    console_unread: bool = False  # the database could not be read: the files alone are shown


@dataclass(frozen=True)
class AnnouncementNow:
    id: int
    scope: str
    text: str
    ends: str
    then: str


def announcements_now(config: Config, overrides: Overrides,
                      at: dt.datetime) -> list[AnnouncementNow]:
    from ivr.overrides import CONTINUE, HANG_UP, LINE

    found = []
    for a in overrides.announcements:
        if not a.active(at):
            continue
        scope = ("toute la ligne, à l'accueil" if a.scope == LINE else
                 config.nodes[a.scope].title if a.scope in config.nodes else a.scope)
        then = ("le menu continue" if a.then == CONTINUE else
                "l'appel se termine poliment" if a.then == HANG_UP else
                "l'appelant va " + node_label(config, a.then, to=True))
        said = a.text or "(enregistrement)"
        if a.text_en:
            said += f" — en anglais : {a.text_en}"
        found.append(AnnouncementNow(a.id, scope, said, fr_datetime(a.ends_at), then))
    return found


def read_overrides(at: dt.datetime) -> Overrides | None:
    """The console's entries not ended at ``at``, from the database (None if unreadable:
    the page still shows what the files say)."""
    from ivr.overrides_store import OverrideStore
    from ivr.services import services

    try:
        return OverrideStore(services(current_app).store).snapshot(at)
    except Exception:
        log.exception("console: the day's changes could not be read")
        return None


def what_happens(config: Config, choice: Choice,
                 overrides: Overrides | None = NONE) -> WhatHappens:
    at = choice.instant
    result = WhatHappens(choice, fr_datetime(at), fr_offset(at))
    if overrides is None:
        result.console_unread, overrides = True, NONE
    result.providers = [provider_now(config, p, at, overrides)
                        for p in config.providers.values()]
    result.routes = [route_now(config, n, at, overrides) for n in config.nodes.values()
                     if n.type == "route"]
    result.announcements = announcements_now(config, overrides, at)
    if "admin.announcements" in current_app.view_functions:
        result.console_link = url_for("admin.announcements", _anchor="fermetures")
    if "admin.simulator" in current_app.view_functions:
        result.simulator = url_for("admin.simulator", a=iso_minutes(at))
    if choice.other is not None:
        result.other_link = url_for("admin.schedules", a=iso_minutes(choice.other),
                                    _anchor="que-se-passe-t-il")
        result.other_text = fr_offset(choice.other)
    return result


@bp.get("/horaires")
def schedules() -> tuple[str, int]:
    """Holidays, hours, closures of the next 12 months, and the line at a chosen instant."""
    config = current_config()
    now = clock.now().astimezone(TZ)
    raw = request.args.get("a", "").strip()
    error = None
    choice = Choice(now, "now")
    if raw:
        try:
            choice = parse_choice(raw)
        except ChoiceError as exc:
            error = str(exc)
    today = now.date()
    page = render_template(
        "admin/schedules.html",
        now=now,
        now_text=fr_datetime(now),
        window=(fr_date(today), fr_date(_add_year(today) - dt.timedelta(days=1))),
        raw=raw,
        error=error,
        result=None if error else what_happens(config, choice, read_overrides(choice.instant)),
        field_value=choice.field_value,
        calendars=calendars_view(config, today),
        hours=hours_view(config),
        periods=periods_view(config, now),
        local_warnings=missing_local_days(config, today),
        day_names=DAY_NAMES,
    )
    return page, 400 if error else 200
