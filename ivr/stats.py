"""Aggregates over the call journal for the console, and its French dates and times.

Counts that need no local time are a SQL ``GROUP BY``; counts by local day and hour are made in
Python over the period's start times, streamed, as turning a UTC instant into a Montréal day is
not portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import distinct, func, select

from ivr.schedule import DAY_NAMES, MONTH_NAMES, TZ
from ivr.store import Call, CallEvent, Store, Voicemail

MAX_DAYS = 366  # the longest period the statistics page accepts
DEFAULT_DAYS = 30

OUTCOMES = ("answered", "voicemail", "no-answer", "info", "hangup")
OUTCOME_LABELS: Mapping[str | None, str] = {
    "answered": "Répondu",
    "voicemail": "Message laissé",
    "no-answer": "Sans réponse",
    "info": "Information donnée",
    "hangup": "Raccroché",
    None: "En cours ou inconnu",  # no status callback (yet)
}
FAILURE_KINDS = ("fallback", "error")
FAILURE_LABELS: Mapping[str, str] = {
    "fallback": "Trop d'essais manqués",
    "error": "Erreur technique",
}
NO_BRANCH = "Accueil (aucun choix)"
# The caller's language (issue 18); a call whose journal names none was in the first (fr-CA).
DEFAULT_LANGUAGE = "fr-CA"
LANGUAGES = ("fr-CA", "en-CA")
LANGUAGE_LABELS: Mapping[str, str] = {"fr-CA": "Français", "en-CA": "Anglais"}
MONTH_ABBR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
              "nov.", "déc.")


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """Whole local days, ``first`` to ``last`` included."""

    first: dt.date
    last: dt.date

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(0), TZ)

    @property
    def end(self) -> dt.datetime:
        """Midnight after the last day (exclusive); zoneinfo makes DST days 23 or 25 hours."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(0), TZ)

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def parse_period(first: str | None, last: str | None, today: dt.date) -> tuple[Period, list[str]]:
    """The period asked for by ``du``/``au`` (YYYY-MM-DD), and what had to be corrected: a bad
    date is replaced by its default (the 30 days ending today), reversed bounds are swapped, a
    period longer than ``MAX_DAYS`` is shortened."""
    errors: list[str] = []

    def parse(text: str | None, fallback: dt.date) -> dt.date:
        if not text or not text.strip():
            return fallback
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            errors.append(f"Date invalide : « {text.strip()[:40]} ». "
                          "Le format attendu est AAAA-MM-JJ.")
            return fallback

    end = parse(last, today)
    start = parse(first, end - dt.timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        start, end = end, start
        errors.append("La date de début était après la date de fin : elles ont été inversées.")
    if (end - start).days + 1 > MAX_DAYS:
        start = end - dt.timedelta(days=MAX_DAYS - 1)
        errors.append(f"La période est limitée à {MAX_DAYS} jours : "
                      f"elle commence maintenant le {french_date(start)}.")
    return Period(start, end), errors


# --------------------------------------------------------------------------- summary


@dataclass
class Summary:
    """Everything the statistics page and the dashboard count for a period."""

    period: Period
    by_branch_outcome: Counter[tuple[str | None, str | None]] = field(default_factory=Counter)
    by_day: dict[dt.date, Counter[str | None]] = field(default_factory=dict)
    # [weekday 0 = Monday][hour 0-23], local time
    hours: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    hangups: list[tuple[str | None, int]] = field(default_factory=list)
    # (node, kind, events, distinct calls)
    failures: list[tuple[str | None, str, int, int]] = field(default_factory=list)
    by_language: Counter[str] = field(default_factory=Counter)  # fr-CA for calls without one

    @property
    def languages(self) -> list[str]:
        """The line's languages in their order (French first), then any other one found."""
        extra = sorted(lang for lang in self.by_language if lang not in LANGUAGES)
        return [*LANGUAGES, *extra]

    @property
    def total(self) -> int:
        return sum(self.by_branch_outcome.values())

    def _sum_by(self, index: int) -> Counter[str | None]:
        counts: Counter[str | None] = Counter()
        for key, n in self.by_branch_outcome.items():
            counts[key[index]] += n
        return counts

    @property
    def by_branch(self) -> Counter[str | None]:
        return self._sum_by(0)

    @property
    def by_outcome(self) -> Counter[str | None]:
        return self._sum_by(1)

    @property
    def outcomes(self) -> list[str | None]:
        """The known outcomes in their usual order, then "unknown" if any call has none."""
        present = self.by_outcome
        extra = sorted(o for o in present if o is not None and o not in OUTCOMES)
        tail: list[str | None] = [None] if present.get(None) else []
        return [*OUTCOMES, *extra, *tail]

    def busiest(self) -> tuple[int, int, int] | None:
        """(weekday, hour, calls) of the busiest hour of the week, or None without calls."""
        best = max(((d, h, n) for d, row in enumerate(self.hours) for h, n in enumerate(row)),
                   key=lambda cell: cell[2])  # the first of equals: the earliest in the week
        return best if best[2] else None


def _within(period: Period) -> tuple[Any, Any]:  # for ``where``
    return Call.started_at >= period.start, Call.started_at < period.end


def summarize(store: Store, period: Period) -> Summary:
    """Count the calls that started within ``period`` (local days)."""
    summary = Summary(period, by_day={day: Counter() for day in period.days})
    window = _within(period)
    count = func.count()
    with store.session() as session:
        for branch, outcome, n in session.execute(
                select(Call.branch, Call.outcome, count).where(*window)
                .group_by(Call.branch, Call.outcome)):
            summary.by_branch_outcome[(branch, outcome)] += n
        for language, n in session.execute(
                select(Call.language, count).where(*window).group_by(Call.language)):
            summary.by_language[language or DEFAULT_LANGUAGE] += n
        summary.hangups = [(node, n) for node, n in session.execute(
            select(Call.last_node, count).where(*window, Call.outcome == "hangup")
            .group_by(Call.last_node).order_by(count.desc(), Call.last_node))]
        summary.failures = [(node, kind, n, calls) for node, kind, n, calls in session.execute(
            select(CallEvent.node, CallEvent.kind, count, func.count(distinct(CallEvent.call_sid)))
            .join(Call, Call.call_sid == CallEvent.call_sid)
            .where(*window, CallEvent.kind.in_(FAILURE_KINDS))
            .group_by(CallEvent.node, CallEvent.kind)
            .order_by(count.desc(), CallEvent.node, CallEvent.kind))]
        rows = session.execute(select(Call.started_at, Call.branch).where(*window)
                               .execution_options(yield_per=2000))
        for started_at, branch in rows:
            local = started_at.astimezone(TZ)
            summary.by_day[local.date()][branch] += 1
            summary.hours[local.weekday()][local.hour] += 1
    return summary


@dataclass(frozen=True)
class CallRow:
    started_at: dt.datetime  # local
    branch: str | None
    outcome: str | None
    last_node: str | None
    destination: str | None
    duration: int | None
    language: str = DEFAULT_LANGUAGE


def calls_in(store: Store, period: Period) -> list[CallRow]:
    """Every call of the period, oldest first, for the CSV export (bounded by ``MAX_DAYS``)."""
    query = (select(Call.started_at, Call.branch, Call.outcome, Call.last_node,
                    Call.destination, Call.duration, Call.language)
             .where(*_within(period))
             .order_by(Call.started_at, Call.call_sid))
    with store.session() as session:
        return [CallRow(started.astimezone(TZ), *rest, language or DEFAULT_LANGUAGE)
                for started, *rest, language in session.execute(query)]


def new_voicemails_by_box(store: Store) -> Counter[str]:
    with store.session() as session:
        return Counter({box: n for box, n in session.execute(
            select(Voicemail.box, func.count()).where(Voicemail.status == "new")
            .group_by(Voicemail.box))})


# --------------------------------------------------------------------------- labels


def node_title(config: Any, node_id: str | None, none: str = NO_BRANCH) -> str:
    """A node's title from the config; its id when the node has since been removed."""
    if node_id is None:
        return none
    node = config.nodes.get(node_id)
    return node.title if node is not None else node_id


def branch_order(config: Any, branches: Iterable[str | None]) -> list[str | None]:
    """Branches in the welcome menu's key order, then the others by title, "no choice" last."""
    root = config.nodes.get(config.line.root)
    menu = [opt.to for _, opt in sorted(root.options.items())] if root is not None else []
    present = set(branches)
    known = [b for b in menu if b in present]
    others = sorted((b for b in present if b is not None and b not in menu),
                    key=lambda b: node_title(config, b).lower())
    return [*known, *others, *([None] if None in present else [])]


def destination_label(config: Any, destination: str | None) -> str:
    """``csi`` → the provider's name; ``voicemail:telesante`` → the box's name."""
    if not destination:
        return ""
    kind, _, box = destination.partition(":")
    if kind == "voicemail" and box:
        found = config.boxes.get(box)
        return f"Boîte vocale : {found.name if found is not None else box}"
    provider = config.providers.get(destination)
    return provider.name if provider is not None else destination


def outcome_label(outcome: str | None) -> str:
    return OUTCOME_LABELS.get(outcome, outcome or OUTCOME_LABELS[None])


def language_label(language: str | None) -> str:
    """« Français », « Anglais »; a language the console has no name for shows its code."""
    language = language or DEFAULT_LANGUAGE
    return LANGUAGE_LABELS.get(language, language)


# --------------------------------------------------------------------------- French dates


def french_clock(moment: dt.datetime | dt.time) -> str:
    """10 h 05, 17 h."""
    return f"{moment.hour} h {moment.minute:02d}" if moment.minute else f"{moment.hour} h"


def french_date(day: dt.date, weekday: bool = True, year: bool = True) -> str:
    """mardi 1er décembre 2026."""
    text = f"{'1er' if day.day == 1 else day.day} {MONTH_NAMES[day.month - 1]}"
    if year:
        text += f" {day.year}"
    return f"{DAY_NAMES[day.weekday()]} {text}" if weekday else text


def french_datetime(moment: dt.datetime) -> str:
    """mardi 1er décembre 2026, 10 h 05 (heure de Montréal)."""
    local = moment.astimezone(TZ)
    return f"{french_date(local.date())}, {french_clock(local)}"


def until_text(moment: dt.datetime, now: dt.datetime, opening: bool) -> str:
    """When a provider's state changes, relative to now: "jusqu'à 17 h", "rouvre demain, 7 h"."""
    local, today = moment.astimezone(TZ), now.astimezone(TZ).date()
    days = (local.date() - today).days
    clock = french_clock(local)
    if days == 0:
        return f"rouvre à {clock}" if opening else f"jusqu'à {clock}"
    if days == 1:
        return f"rouvre demain, {clock}" if opening else f"jusqu'à demain, {clock}"
    date = french_date(local.date(), year=local.year != today.year)
    return f"rouvre le {date}, {clock}" if opening else f"jusqu'au {date}, {clock}"


def hour_range(hour: int) -> str:
    return f"{hour} h à {hour + 1} h"


def percent(part: int, whole: int) -> str:
    """12,5 % — French decimal comma."""
    if not whole:
        return "—"
    text = f"{100 * part / whole:.1f}".replace(".", ",").removesuffix(",0")
    return f"{text}\u00a0%"

