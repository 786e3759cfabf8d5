"""Opening hours and holiday calendars: is a provider open at a given instant, and until when?

Decisions follow Montréal's wall clock (America/Toronto) whatever the server's zone, across
daylight-saving changes; every query is a pure function of an aware instant (``IVR_NOW`` freezes
the caller's clock). ``is_open`` runs on every webhook: the open intervals of a (provider, local
date) are computed once and kept as epoch seconds. Building: ``ivr.schedule_build``; the French
wording: ``ivr.schedule_wording``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from ivr import schedule_wording as wording
from ivr.schedule_wording import DAY_NAMES, MONTH_NAMES  # noqa: F401 (imported from here)
from ivr.yamlsource import Problem, Where

PROMPT_FIELDS = ("heures", "reouverture")  # {cssns.heures}, {cssns.reouverture} in prompts
TZ = ZoneInfo("America/Toronto")
HORIZON_DAYS = 60  # how far state() and reopening_text() look ahead
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
_CACHE_LIMIT = 50_000  # entries a cache keeps before it starts over

Interval = tuple[int, int]  # [start, end) in epoch seconds
Week = tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Monday first), minute ranges


@dataclass(frozen=True)
class Holiday:
    """One holiday of one year; ``start`` set = partial day, closed from that time."""

    date: dt.date
    name: str
    why: str
    start: dt.time | None
    calendar_id: str  # the calendar that defines it (an inherited day keeps its origin)
    local: bool = False  # one of the institution's local days (``local: true``)


@dataclass(frozen=True)
class ProviderState:
    """Open now? ``until``: when this state ends; ``next_open``: the next opening after now
    (after ``until`` when open); either ``None`` if not within 60 days. ``reason``: the holiday
    or closure that closes it."""

    open: bool
    until: dt.datetime | None
    next_open: dt.datetime | None
    reason: str | None


@dataclass(frozen=True)
class Period:
    """A temporary closure or opening an administrator set for a date/time range."""

    start: dt.datetime  # aware, America/Toronto
    end: dt.datetime
    name: str
    why: str
    owner: str  # calendar or provider id
    where: Where

    @property
    def span(self) -> Interval:
        return int(self.start.timestamp()), int(self.end.timestamp())


@dataclass(frozen=True)
class ProviderHours:
    """A provider's schedule as configured. ``days``: per weekday (Monday first), the open
    ranges in minutes since midnight (1440: the next midnight); ``always``: open at all hours,
    holidays included."""

    id: str
    always: bool
    days: Week
    calendar: str | None
    closures: tuple[Period, ...]
    openings: tuple[Period, ...]


@dataclass(frozen=True)
class LocalInstant:
    """A Montréal wall-clock time made an instant. ``kind``: "normal"; "gap" (skipped by the
    spring change: moved forward, 2:30 -> 3:30 EDT); "ambiguous" (repeated in the fall:
    ``instant`` is the first, daylight time, ``other`` the second). Compare them through
    ``timestamp()``: Python ignores ``fold`` between datetimes of one zone."""

    instant: dt.datetime
    kind: str
    other: dt.datetime | None = None


@dataclass(frozen=True)
class _Entry:
    """A holiday definition: an RRULE, a yearly month-day or a one-off date."""

    name: str
    why: str
    start: dt.time | None
    calendar_id: str
    rule: str | None = None
    month_day: tuple[int, int] | None = None
    date: dt.date | None = None
    local: bool = False

    def dates(self, year: int) -> list[dt.date]:
        if self.date is not None:
            return [self.date] if self.date.year == year else []
        if self.month_day is not None:
            try:
                return [dt.date(year, *self.month_day)]
            except ValueError:  # 29 February of a common year
                return []
        first = dt.datetime(year, 1, 1)
        rule = rrulestr(self.rule, dtstart=first)
        return [d.date() for d in rule.between(first, dt.datetime(year, 12, 31, 23, 59, 59),
                                               inc=True)]


@dataclass(frozen=True)
class _Calendar:
    id: str
    name: str
    extends: str | None
    entries: tuple[_Entry, ...]
    closures: tuple[Period, ...]
    openings: tuple[Period, ...]
    local_days_per_period: int = 0  # local days each 1 July-30 June needs; 0: not checked
    local_days_where: Where | None = None


@dataclass(frozen=True)
class _Day:
    """A provider's local day, precomputed: open intervals and the named closed ones."""

    open: tuple[Interval, ...]
    reasons: tuple[tuple[int, int, str], ...]  # first match wins


def _normalize(intervals: list[Interval]) -> list[Interval]:
    """Sorted, merged, non-empty intervals."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def _subtract(base: list[Interval], cut: list[Interval]) -> list[Interval]:
    """``base`` without ``cut`` (sorted by start)."""
    out: list[Interval] = []
    for start, end in base:
        for c_start, c_end in cut:
            if c_end <= start or c_start >= end:
                continue
            if start < c_start:
                out.append((start, c_start))
            start = c_end
        if start < end:
            out.append((start, end))
    return _normalize(out)


def _clip(spans: list[Interval], low: int, high: int) -> list[Interval]:
    return _normalize([(max(s, low), min(e, high)) for s, e in spans if s < high and e > low])


def _named(periods: tuple[Period, ...], low: int, high: int) -> list[tuple[int, int, str]]:
    return [(max(s, low), min(e, high), p.name) for p in periods for s, e in (p.span,)
            if s < high and e > low]


def _instant(day: dt.date, minutes: int) -> int:
    """Epoch seconds of a wall-clock minute of a local day (1440 = next midnight): adding to an
    aware datetime moves its wall clock."""
    midnight = dt.datetime.combine(day, dt.time(), TZ)
    return int((midnight + dt.timedelta(minutes=minutes)).timestamp())


def _local(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, TZ)


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"an aware datetime is required (with an offset), got {now!r}")


class Schedule:
    """Providers' weekly hours and holiday calendars; immutable, safe to share between threads."""

    def __init__(self, providers: Mapping[str, ProviderHours],
                 calendars: Mapping[str, _Calendar]) -> None:
        self._providers = dict(providers)
        self._calendars = dict(calendars)
        self._chains = {cid: self._chain(cid) for cid in self._calendars}
        self._cal_closures = {cid: tuple(p for c in chain for p in c.closures)
                              for cid, chain in self._chains.items()}
        self._cal_openings = {cid: tuple(p for c in chain for p in c.openings)
                              for cid, chain in self._chains.items()}
        self._plain_always = frozenset(
            pid for pid, p in self._providers.items()
            if p.always and not p.closures and not p.openings
            and not (p.calendar and self._cal_closures.get(p.calendar)))
        self._lock = threading.Lock()
        self._own_years: dict[tuple[str, int], tuple[Holiday, ...]] = {}
        self._by_date: dict[tuple[str, int], dict[dt.date, tuple[Holiday, ...]]] = {}
        self._days: dict[tuple[str, dt.date], _Day] = {}

    def _chain(self, calendar_id: str) -> tuple[_Calendar, ...]:
        """The calendar then its ancestors; build_schedule already broke any cycle."""
        ids: list[str] = []
        current: str | None = calendar_id
        while current in self._calendars and current not in ids:
            ids.append(current)
            current = self._calendars[current].extends
        return tuple(self._calendars[i] for i in ids)

    # ------------------------------------------------------------------ calendars

    def calendar_ids(self) -> list[str]:
        return sorted(self._calendars)

    def calendar_name(self, calendar_id: str) -> str:
        return self._calendars[calendar_id].name

    def holidays(self, calendar_id: str, year: int) -> list[Holiday]:
        """The holidays of a year, inherited ones included, sorted by date (KeyError if unknown)."""
        return [h for day in self._holidays(calendar_id, year).values() for h in day]

    def holidays_between(self, calendar_id: str, first: dt.date, end: dt.date) -> list[Holiday]:
        """The holidays from ``first`` (included) to ``end`` (excluded), across years."""
        return [h for year in range(first.year, end.year + 1)
                for h in self.holidays(calendar_id, year) if first <= h.date < end]

    def closures(self, calendar_id: str) -> list[Period]:
        """Temporary closures of a calendar, inherited ones included, by start."""
        return sorted(self._cal_closures[calendar_id], key=lambda p: p.start)

    def openings(self, calendar_id: str) -> list[Period]:
        """Exceptional openings of a calendar, inherited ones included, by start."""
        return sorted(self._cal_openings[calendar_id], key=lambda p: p.start)

    def provider_hours(self, provider_id: str) -> ProviderHours:
        """A provider's hours and exceptions as configured (KeyError if unknown)."""
        return self._providers[provider_id]

    def _cached(self, cache: dict[Any, Any], key: Any, compute: Callable[[], Any]) -> Any:
        found = cache.get(key)
        if found is None:
            found = compute()
            with self._lock:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[key] = found
        return found

    def _holidays(self, calendar_id: str, year: int) -> dict[dt.date, tuple[Holiday, ...]]:
        def compute() -> dict[dt.date, tuple[Holiday, ...]]:
            days = sorted((h for cal in self._chains[calendar_id] for h in self._own(cal, year)),
                          key=lambda h: (h.date, h.start or dt.time(0), h.name))
            return {day: tuple(hs) for day, hs in groupby(days, key=lambda h: h.date)}

        return self._cached(self._by_date, (calendar_id, year), compute)

    def _own(self, cal: _Calendar, year: int) -> tuple[Holiday, ...]:
        """A calendar's own days of a year (RRULEs evaluated once per calendar and year)."""
        return self._cached(self._own_years, (cal.id, year), lambda: tuple(
            Holiday(d, e.name, e.why, e.start, e.calendar_id, e.local)
            for e in cal.entries for d in e.dates(year)))

    # ------------------------------------------------------------------ days

    def _day(self, provider: ProviderHours, day: dt.date) -> _Day:
        return self._cached(self._days, (provider.id, day),
                            lambda: self._compute_day(provider, day))

    def _compute_day(self, p: ProviderHours, day: dt.date) -> _Day:
        """Weekly hours − (holidays ∪ calendar closures − calendar openings)
        − provider closures ∪ provider openings."""
        low, high = _instant(day, 0), _instant(day, DAY_MINUTES)
        base = [(low, high)] if p.always else _normalize(
            [(_instant(day, a), _instant(day, b)) for a, b in p.days[day.weekday()]])
        reasons = _named(p.closures, low, high)
        provider_closed = _normalize([(s, e) for s, e, _ in reasons])
        named_closed: list[tuple[int, int, str]] = []
        cal_open: list[Interval] = []
        if p.calendar in self._calendars:
            if not p.always:  # the on-call line ignores holidays
                for h in self._holidays(p.calendar, day.year).get(day, ()):
                    start = low if h.start is None else _instant(
                        day, h.start.hour * 60 + h.start.minute)
                    named_closed.append((start, high, h.name))
            named_closed += _named(self._cal_closures[p.calendar], low, high)
            cal_open = _clip([o.span for o in self._cal_openings[p.calendar]], low, high)
        reasons += [(*piece, name) for s, e, name in named_closed
                    for piece in _subtract([(s, e)], cal_open)]
        calendar_closed = _subtract(_normalize([(s, e) for s, e, _ in named_closed]), cal_open)
        result = _subtract(_subtract(base, calendar_closed), provider_closed)
        result = _normalize(result + _clip([o.span for o in p.openings], low, high))
        return _Day(tuple(result), tuple(reasons))

    def _periods(self, p: ProviderHours, first: dt.date) -> Iterator[tuple[int, int | None]]:
        """Open periods from the start of ``first`` on, merged across midnight; an end of
        ``None`` means the period runs past the horizon."""
        horizon = _instant(first + dt.timedelta(days=HORIZON_DAYS + 1), 0)
        current: list[int] | None = None
        for offset in range(HORIZON_DAYS + 1):
            for start, end in self._day(p, first + dt.timedelta(days=offset)).open:
                if current is not None and start <= current[1]:
                    current[1] = max(current[1], end)
                    continue
                if current is not None:
                    yield current[0], current[1]
                current = [start, end]
        if current is not None:
            yield current[0], (None if current[1] >= horizon else current[1])

    # ------------------------------------------------------------------ public queries

    def is_open(self, provider_id: str, now: dt.datetime) -> bool:
        """Whether the provider takes calls at ``now`` (unknown provider: never)."""
        _require_aware(now)
        if provider_id in self._plain_always:
            return True
        p = self._providers.get(provider_id)
        if p is None:
            return False
        ts = now.timestamp()
        for start, end in self._day(p, now.astimezone(TZ).date()).open:
            if start > ts:
                break
            if ts < end:
                return True
        return False

    def state(self, provider_id: str, now: dt.datetime) -> ProviderState:
        _require_aware(now)
        p = self._providers.get(provider_id)
        if p is None:
            return ProviderState(False, None, None, None)
        if provider_id in self._plain_always:
            return ProviderState(True, None, None, None)
        ts = now.timestamp()
        day = now.astimezone(TZ).date()
        periods = self._periods(p, day)
        for start, end in periods:
            if end is not None and end <= ts:
                continue
            if start > ts:
                return ProviderState(False, _local(start), _local(start), self._reason(p, day, ts))
            if end is None:
                return ProviderState(True, None, None, None)
            following = next(periods, None)
            return ProviderState(True, _local(end),
                                 None if following is None else _local(following[0]), None)
        return ProviderState(False, None, None, self._reason(p, day, ts))

    def _reason(self, p: ProviderHours, day: dt.date, ts: float) -> str | None:
        if not p.always and not any(p.days):  # never open anyway: no holiday is the reason
            return None
        return next((name for start, end, name in self._day(p, day).reasons
                     if start <= ts < end), None)

    def hours_text(self, provider_id: str, language: str = "fr-CA") -> str:
        """The weekly hours in natural French (or English: ``language``), for text-to-speech."""
        p = self._providers.get(provider_id)
        if p is None:
            return ""
        holidays = p.calendar in self._calendars and any(
            c.entries for c in self._chains[p.calendar])
        return wording.hours_text(p.always, p.days, holidays, language)

    def reopening_text(self, provider_id: str, now: dt.datetime,
                       language: str = "fr-CA") -> str:
        """When the provider next opens, in French (or English: ``language``) relative to
        ``now``: "demain à 7 h"."""
        opening = self.state(provider_id, now).next_open
        if opening is None:
            return ""
        return wording.reopening_text(opening, now.astimezone(TZ).date(), language)


def overlapping(periods: list[Period] | tuple[Period, ...], start: dt.datetime,
                end: dt.datetime) -> list[Period]:
    """The periods that overlap [start, end), by start. Compared as epoch seconds: datetimes of
    one zone compare by wall clock, which would confuse the two 1:30 of the autumn change."""
    low, high = start.timestamp(), end.timestamp()
    return sorted((p for p in periods if p.span[0] < high and p.span[1] > low),
                  key=lambda p: p.span[0])


def local_instant(wall: dt.datetime) -> LocalInstant:
    """A wall-clock time of Montréal (any tzinfo is ignored), as an administrator types it, made
    an aware instant; twice a year it does not exist or exists twice, and ``kind`` says so."""
    naive = wall.replace(tzinfo=None, fold=0)
    first = naive.replace(tzinfo=TZ)
    second = naive.replace(tzinfo=TZ, fold=1)
    if first.utcoffset() == second.utcoffset():
        return LocalInstant(first, "normal")
    moved = first.astimezone(dt.UTC).astimezone(TZ)
    if moved.replace(tzinfo=None, fold=0) != naive:
        return LocalInstant(moved, "gap")
    return LocalInstant(first, "ambiguous", second.astimezone(dt.UTC).astimezone(TZ))


def local_period(day: dt.date) -> tuple[dt.date, dt.date]:
    """The period over which the RSSS counts its local days (1 July to 30 June) holding ``day``:
    its first day and the day after its last."""
    year = day.year if day.month >= 7 else day.year - 1
    return dt.date(year, 7, 1), dt.date(year + 1, 7, 1)


def missing_local_days(config: Any, today: dt.date) -> list[Problem]:
    """Warnings, not problems: one per period overlapping the 12 months from ``today`` for which
    a calendar with ``local_days_per_period`` lists fewer local days. The line would stay open on
    days the institution closes; ``ivr check`` and the console remind the administrator."""
    schedule: Schedule | None = config.schedule
    if schedule is None:
        from ivr.schedule_build import build_schedule  # the builder needs this module first

        schedule = build_schedule(config)[0]
    periods = [local_period(today)]
    if today != periods[0][0]:  # the 12 months reach into the next period
        periods.append(local_period(periods[0][1]))
    warnings: list[Problem] = []
    for calendar_id, cal in sorted(schedule._calendars.items()):
        needed, where = cal.local_days_per_period, cal.local_days_where
        if needed <= 0 or where is None:
            continue
        for first, end in periods:
            listed = sorted({h.date for h in schedule.holidays_between(calendar_id, first, end)
                             if h.local})
            if len(listed) < needed:
                text = wording.missing_local_days_text(calendar_id, where.file, first, end,
                                                       needed, listed)
                warnings.append(
                    Problem(where, f"calendars.{calendar_id}.local_days_per_period", text))
    return warnings
