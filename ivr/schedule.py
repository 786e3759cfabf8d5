"""Opening hours and holiday calendars: is a provider open at a given instant, and until when?

Every decision is made on the wall clock of America/Toronto (Montréal's time), whatever the
server's time zone, so a route behaves the same on a laptop in Tokyo and on the server, across
daylight-saving changes. Everything is a pure function of an aware instant: the clock is the
caller's business (``IVR_NOW`` freezes it for simulations and tests).

Speed: ``is_open`` runs on every webhook. RRULEs are parsed at build time (to report errors) and
once per (calendar, year); the open intervals of a (provider, local date) are computed once and
kept as integer epoch seconds, so a call is a dict lookup and a few comparisons.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from ivr.yamlsource import Problem, Where

PROMPT_FIELDS = ("heures", "reouverture")  # {cssns.heures}, {cssns.reouverture} in prompts
TZ = ZoneInfo("America/Toronto")
HORIZON_DAYS = 60  # how far state() and reopening_text() look ahead

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTH_NAMES = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
               "septembre", "octobre", "novembre", "décembre")
ALWAYS = "always"
DAY_MINUTES = 24 * 60

CALENDAR_KEYS = ("name", "why", "extends", "local_days_per_period", "holidays", "closures",
                 "openings")
HOLIDAY_KEYS = ("name", "why", "rule", "date", "from", "local")
LOCAL_PERIOD_START = (7, 1)  # the RSSS counts its holidays from 1 July to 30 June
PERIOD_KEYS = ("name", "why", "from", "to")

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_MONTH_DAY = re.compile(r"^\s*(\d{1,2})-(\d{1,2})\s*$")
_CACHE_LIMIT = 50_000  # (provider, date) entries kept before the cache starts over

Interval = tuple[int, int]  # [start, end) in epoch seconds


# --------------------------------------------------------------------------- public values


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
    """What a caller needs: open now? until when? when does it open next? why closed?

    ``until``: when the current state ends (local aware), ``None`` if not within 60 days.
    ``next_open``: the next opening after now (after ``until`` when open), ``None`` if none
    within 60 days. ``reason``: when closed by a holiday or a closure, its French name.
    """

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
    """A provider's schedule as written, for display: weekly ranges, calendar, exceptions.

    ``days``: per weekday (Monday first), the open ranges in minutes since midnight (1440 =
    midnight at the end of the day). ``always``: open at all hours, holidays included.
    """

    always: bool
    days: tuple[tuple[tuple[int, int], ...], ...]
    calendar: str | None
    closures: tuple[Period, ...]
    openings: tuple[Period, ...]


@dataclass(frozen=True)
class LocalInstant:
    """A Montréal wall-clock time made an instant, saying how daylight saving was handled.

    ``kind``: "normal"; "gap" (the time does not exist: the spring change skips it, so it is
    moved forward by the gap, 2:30 -> 3:30 EDT); "ambiguous" (the fall change repeats it:
    ``instant`` is the first occurrence, in daylight time, and ``other`` the second, fold=1).
    Compare or subtract them through ``timestamp()``: Python ignores ``fold`` between two
    datetimes of the same zone.
    """

    instant: dt.datetime
    kind: str
    other: dt.datetime | None = None


# --------------------------------------------------------------------------- parsed config


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
            month, day = self.month_day
            try:
                return [dt.date(year, month, day)]
            except ValueError:  # 29 February of a common year
                return []
        assert self.rule is not None
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
    # How many local days each period (1 July to 30 June) needs; 0: not checked.
    local_days_per_period: int = 0
    local_days_where: Where | None = None  # where local_days_per_period is, for warnings


@dataclass(frozen=True)
class _Provider:
    id: str
    always: bool
    week: tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Monday first), minute ranges
    calendar: str | None
    closures: tuple[Period, ...]
    openings: tuple[Period, ...]


@dataclass(frozen=True)
class _Day:
    """A provider's local day, precomputed: open intervals and the named closed ones."""

    open: tuple[Interval, ...]
    reasons: tuple[tuple[int, int, str], ...]  # first match wins


# --------------------------------------------------------------------------- interval helpers


def _normalize(intervals: list[Interval]) -> list[Interval]:
    """Sorted, merged, non-empty intervals."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _subtract(base: list[Interval], cut: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in base:
        pieces = [(start, end)]
        for c_start, c_end in cut:
            next_pieces: list[Interval] = []
            for p_start, p_end in pieces:
                if c_end <= p_start or c_start >= p_end:
                    next_pieces.append((p_start, p_end))
                    continue
                if p_start < c_start:
                    next_pieces.append((p_start, c_start))
                if c_end < p_end:
                    next_pieces.append((c_end, p_end))
            pieces = next_pieces
        out.extend(pieces)
    return _normalize(out)


def _clip(spans: list[Interval], low: int, high: int) -> list[Interval]:
    return _normalize([(max(s, low), min(e, high)) for s, e in spans if s < high and e > low])


def _instant(day: dt.date, minutes: int) -> int:
    """Epoch seconds of a wall-clock minute of a local day (1440 = next midnight)."""
    day = day + dt.timedelta(days=minutes // DAY_MINUTES)
    minutes %= DAY_MINUTES
    local = dt.datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=TZ)
    return int(local.timestamp())


def _local(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, TZ)


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"an aware datetime is required (with an offset), got {now!r}")


# --------------------------------------------------------------------------- the schedule


class Schedule:
    """Providers' weekly hours and holiday calendars; immutable, safe to share between threads."""

    def __init__(self, providers: Mapping[str, _Provider],
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
        self._years: dict[tuple[str, int], tuple[Holiday, ...]] = {}
        self._by_date: dict[tuple[str, int], dict[dt.date, tuple[Holiday, ...]]] = {}
        self._days: dict[tuple[str, dt.date], _Day] = {}

    def _chain(self, calendar_id: str) -> tuple[_Calendar, ...]:
        """The calendar then its ancestors; build_schedule already broke any cycle."""
        chain: list[_Calendar] = []
        current: str | None = calendar_id
        while current is not None and current in self._calendars and all(
                c.id != current for c in chain):
            chain.append(self._calendars[current])
            current = self._calendars[current].extends
        return tuple(chain)

    # ------------------------------------------------------------------ holidays

    def calendar_ids(self) -> list[str]:
        return sorted(self._calendars)

    def calendar_name(self, calendar_id: str) -> str:
        return self._calendars[calendar_id].name

    def holidays(self, calendar_id: str, year: int) -> list[Holiday]:
        """The holidays of a year, inherited ones included, sorted by date (KeyError if unknown)."""
        return list(self._holidays(calendar_id, year))

    def closures(self, calendar_id: str) -> list[Period]:
        """Temporary closures of a calendar, inherited ones included, by start."""
        if calendar_id not in self._calendars:
            raise KeyError(calendar_id)
        return sorted(self._cal_closures[calendar_id], key=lambda p: p.start)

    def openings(self, calendar_id: str) -> list[Period]:
        """Exceptional openings of a calendar, inherited ones included, by start."""
        if calendar_id not in self._calendars:
            raise KeyError(calendar_id)
        return sorted(self._cal_openings[calendar_id], key=lambda p: p.start)

    def holidays_between(self, calendar_id: str, first: dt.date, end: dt.date) -> list[Holiday]:
        """The holidays from ``first`` (included) to ``end`` (excluded), across years."""
        return [h for year in range(first.year, end.year + 1)
                for h in self._holidays(calendar_id, year) if first <= h.date < end]

    def local_days_needed(self, calendar_id: str) -> tuple[int, Where | None]:
        """How many local days each period of the calendar needs (0: not checked), and the
        line that says so (KeyError if unknown)."""
        cal = self._calendars[calendar_id]
        return cal.local_days_per_period, cal.local_days_where

    def provider_hours(self, provider_id: str) -> ProviderHours:
        """A provider's hours and exceptions as configured (KeyError if unknown)."""
        p = self._providers[provider_id]
        return ProviderHours(p.always, p.week, p.calendar, p.closures, p.openings)

    def _holidays(self, calendar_id: str, year: int) -> tuple[Holiday, ...]:
        key = (calendar_id, year)
        found = self._years.get(key)
        if found is not None:
            return found
        if calendar_id not in self._calendars:
            raise KeyError(calendar_id)
        days = [h for cal in self._chains[calendar_id] for h in self._own(cal, year)]
        days.sort(key=lambda h: (h.date, h.start or dt.time(0), h.name))
        result = tuple(days)
        by_date: dict[dt.date, list[Holiday]] = {}
        for h in result:
            by_date.setdefault(h.date, []).append(h)
        with self._lock:  # _by_date first: readers that see _years rely on it
            self._by_date[key] = {d: tuple(hs) for d, hs in by_date.items()}
            self._years[key] = result
        return result

    def _own(self, cal: _Calendar, year: int) -> tuple[Holiday, ...]:
        """A calendar's own days of a year (RRULEs evaluated once per calendar and year)."""
        key = (cal.id, year)
        found = self._own_years.get(key)
        if found is None:
            found = tuple(Holiday(d, e.name, e.why, e.start, e.calendar_id, e.local)
                          for e in cal.entries for d in e.dates(year))
            with self._lock:
                self._own_years[key] = found
        return found

    def _holidays_on(self, calendar_id: str, day: dt.date) -> tuple[Holiday, ...]:
        key = (calendar_id, day.year)
        if key not in self._by_date:
            self._holidays(calendar_id, day.year)
        return self._by_date[key].get(day, ())

    # ------------------------------------------------------------------ days

    def _day(self, provider: _Provider, day: dt.date) -> _Day:
        key = (provider.id, day)
        found = self._days.get(key)
        if found is not None:
            return found
        found = self._compute_day(provider, day)
        with self._lock:
            if len(self._days) >= _CACHE_LIMIT:
                self._days.clear()
            self._days[key] = found
        return found

    def _compute_day(self, p: _Provider, day: dt.date) -> _Day:
        """Weekly hours − (holidays ∪ calendar closures − calendar openings)
        − provider closures ∪ provider openings."""
        low, high = _instant(day, 0), _instant(day, DAY_MINUTES)
        if p.always:
            base = [(low, high)]
        else:
            base = _normalize([(_instant(day, a), _instant(day, b))
                               for a, b in p.week[day.weekday()]])
        named_closed: list[tuple[int, int, str]] = []
        cal_open: list[Interval] = []
        if p.calendar in self._calendars:
            if not p.always:  # the on-call line ignores holidays
                for h in self._holidays_on(p.calendar, day):
                    start = low if h.start is None else _instant(
                        day, h.start.hour * 60 + h.start.minute)
                    named_closed.append((start, high, h.name))
            for period in self._cal_closures[p.calendar]:
                for s, e in _clip([period.span], low, high):
                    named_closed.append((s, e, period.name))
            cal_open = _clip([o.span for o in self._cal_openings[p.calendar]], low, high)
        reasons: list[tuple[int, int, str]] = []
        for period in p.closures:
            for s, e in _clip([period.span], low, high):
                reasons.append((s, e, period.name))
        provider_closed = [(s, e) for s, e, _ in reasons]
        for s, e, name in named_closed:
            for piece in _subtract([(s, e)], cal_open):
                reasons.append((*piece, name))
        calendar_closed = _subtract(_normalize([(s, e) for s, e, _ in named_closed]), cal_open)
        result = _subtract(base, calendar_closed)
        result = _subtract(result, _normalize(provider_closed))
        result = _normalize(result + _clip([o.span for o in p.openings], low, high))
        return _Day(tuple(result), tuple(reasons))

    def _periods(self, p: _Provider, first: dt.date) -> Iterator[tuple[int, int | None]]:
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
        current_end: int | None = None
        is_open = False
        for start, end in self._periods(p, day):
            if end is not None and end <= ts:
                continue
            if start <= ts:
                is_open, current_end = True, end
                if end is None:
                    return ProviderState(True, None, None, None)
                continue
            opening = _local(start)
            if is_open:
                assert current_end is not None
                return ProviderState(True, _local(current_end), opening, None)
            return ProviderState(False, opening, opening, self._reason(p, day, ts))
        if is_open:
            assert current_end is not None
            return ProviderState(True, _local(current_end), None, None)
        return ProviderState(False, None, None, self._reason(p, day, ts))

    def _reason(self, p: _Provider, day: dt.date, ts: float) -> str | None:
        if not p.always and not any(p.week):  # never open anyway: no holiday is the reason
            return None
        for start, end, name in self._day(p, day).reasons:
            if start <= ts < end:
                return name
        return None

    def hours_text(self, provider_id: str) -> str:
        """The weekly hours in natural French, for text-to-speech."""
        p = self._providers.get(provider_id)
        if p is None:
            return ""
        if p.always or all(r == ((0, DAY_MINUTES),) for r in p.week):
            return "en tout temps"
        groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for index, ranges in enumerate(p.week):
            if ranges:
                groups.setdefault(ranges, []).append(index)
        if not groups:
            return ""
        parts = [f"{_days_text(days)}, {_ranges_text(ranges)}"
                 for ranges, days in sorted(groups.items(), key=lambda g: g[1][0])]
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + ", et " + parts[-1]
        if p.calendar in self._calendars and any(c.entries for c in self._chains[p.calendar]):
            text += ", sauf les jours fériés"
        return text

    def reopening_text(self, provider_id: str, now: dt.datetime) -> str:
        """When the provider next opens, in French relative to ``now``: "demain à 7 h"."""
        _require_aware(now)
        opening = self.state(provider_id, now).next_open
        if opening is None:
            return ""
        days = (opening.date() - now.astimezone(TZ).date()).days
        clock = _clock(opening.hour * 60 + opening.minute, midnight="0 h")
        if days == 0:
            return f"aujourd'hui à {clock}"
        if days == 1:
            return f"demain à {clock}"
        weekday = DAY_NAMES[opening.weekday()]
        if days <= 6:
            return f"{weekday} à {clock}"
        number = "1er" if opening.day == 1 else str(opening.day)
        return f"le {weekday} {number} {MONTH_NAMES[opening.month - 1]} à {clock}"


# --------------------------------------------------------------------------- instants


def overlapping(periods: list[Period] | tuple[Period, ...], start: dt.datetime,
                end: dt.datetime) -> list[Period]:
    """The periods that overlap [start, end), by start (e.g. a year's, or the next 12 months').

    Compared as epoch seconds: two datetimes of one zone compare by wall clock in Python,
    which would confuse the two 1:30 of the autumn change.
    """
    low, high = start.timestamp(), end.timestamp()
    return sorted((p for p in periods if p.span[0] < high and p.span[1] > low),
                  key=lambda p: p.span[0])


def local_instant(wall: dt.datetime) -> LocalInstant:
    """A wall-clock time of Montréal (any tzinfo is ignored) as an aware instant.

    An administrator types a local time (a form's datetime-local has no offset); twice a year
    it does not exist or exists twice, and the answer must say which instant was used.
    """
    naive = wall.replace(tzinfo=None, fold=0)
    first = naive.replace(tzinfo=TZ)
    second = naive.replace(tzinfo=TZ, fold=1)
    if first.utcoffset() == second.utcoffset():
        return LocalInstant(first, "normal")
    moved = first.astimezone(dt.UTC).astimezone(TZ)
    if moved.replace(tzinfo=None, fold=0) != naive:
        return LocalInstant(moved, "gap")
    return LocalInstant(first, "ambiguous", second.astimezone(dt.UTC).astimezone(TZ))


# --------------------------------------------------------------------------- French texts


def _clock(minutes: int, midnight: str = "minuit") -> str:
    if minutes in (0, DAY_MINUTES):
        return midnight
    if minutes == 12 * 60:
        return "midi"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d}" if rest else f"{hours} h"


def _ranges_text(ranges: tuple[tuple[int, int], ...]) -> str:
    texts = ["24 h sur 24" if (a, b) == (0, DAY_MINUTES) else f"de {_clock(a)} à {_clock(b)}"
             for a, b in ranges]
    return _join(texts)


def _days_text(days: list[int]) -> str:
    if len(days) == 7:
        return "tous les jours"
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    items: list[str] = []
    for run in runs:
        if len(run) >= 3:
            items.append(f"du {DAY_NAMES[run[0]]} au {DAY_NAMES[run[-1]]}")
        else:
            items.extend(f"le {DAY_NAMES[d]}" for d in run)
    return _join(items)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " et " + items[-1]


# --------------------------------------------------------------------------- local days


def local_period(day: dt.date) -> tuple[dt.date, dt.date]:
    """The period (1 July to 30 June) that holds ``day``: its first day and the day after its
    last, the span the RSSS counts its local days on."""
    month, first_day = LOCAL_PERIOD_START
    year = day.year if (day.month, day.day) >= (month, first_day) else day.year - 1
    return dt.date(year, month, first_day), dt.date(year + 1, month, first_day)


def _one_year_later(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return dt.date(day.year + 1, 3, 1)


def _period_text(first: dt.date, end: dt.date) -> str:
    last = end - dt.timedelta(days=1)
    return f"du {_day_month(first)} {first.year} au {_day_month(last)} {last.year}"


def _day_month(day: dt.date) -> str:
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTH_NAMES[day.month - 1]}"


def missing_local_days(config: Any, today: dt.date) -> list[Problem]:
    """Warnings, not problems: one per period (1 July to 30 June) overlapping the 12 months
    from ``today`` for which a calendar with ``local_days_per_period`` lists fewer local days.

    The line serves without them, but it would stay open on days the institution closes: the
    administrator must add them each year, and ``ivr check`` and the console remind them.
    Pure: ``today`` is the caller's (Montréal's date from the app's clock).
    """
    schedule: Schedule | None = getattr(config, "schedule", None)
    if schedule is None:
        from ivr.schedule_build import build_schedule  # the builder needs this module first

        schedule = build_schedule(config)[0]
    last_day = _one_year_later(today) - dt.timedelta(days=1)
    periods: list[tuple[dt.date, dt.date]] = []
    first, end = local_period(today)
    while first <= last_day:
        periods.append((first, end))
        first, end = end, local_period(end)[1]
    warnings: list[Problem] = []
    for calendar_id in schedule.calendar_ids():
        needed, where = schedule.local_days_needed(calendar_id)
        if needed <= 0 or where is None:
            continue
        for first, end in periods:
            listed = sorted({h.date for h in schedule.holidays_between(calendar_id, first, end)
                             if h.local})
            if len(listed) >= needed:
                continue
            warnings.append(Problem(where, f"calendars.{calendar_id}.local_days_per_period",
                                    _missing_text(calendar_id, where.file, first, end, needed,
                                                  listed)))
    return warnings


def _missing_text(calendar_id: str, file: str, first: dt.date, end: dt.date, needed: int,
                  listed: list[dt.date]) -> str:
    period = _period_text(first, end)
    if not listed:
        expected = f"{needed} attendu" + ("s" if needed > 1 else "")
        them = "les" if needed > 1 else "le"
        return (f"{calendar_id} : aucun jour local inscrit pour la période {period} "
                f"({expected}) : ajoutez-{them} dans {file}")
    count = len(listed)
    days = "jours locaux inscrits" if count > 1 else "jour local inscrit"
    dates = ", ".join(f"{_day_month(d)} {d.year}" for d in listed)
    missing = needed - count
    add = "le jour manquant" if missing == 1 else f"les {missing} jours manquants"
    return (f"{calendar_id} : {count} {days} sur {needed} pour la période {period} "
            f"({dates}) : ajoutez {add} dans {file}")


__all__ = ["HORIZON_DAYS", "PROMPT_FIELDS", "TZ", "Holiday", "LocalInstant", "Period",
           "ProviderHours", "ProviderState", "Schedule", "local_instant",
           "local_period", "missing_local_days", "overlapping"]
