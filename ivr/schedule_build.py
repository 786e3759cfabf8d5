"""Building ``ivr.schedule.Schedule`` from the config's YAML: providers' hours, calendars (rules,
dates, local days), closures and openings, each mistake reported at its file and line."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dateutil.rrule import rrulestr

from ivr.config import Config, _Reader
from ivr.schedule import (
    DAY_MINUTES,
    TZ,
    WEEKDAYS,
    Period,
    ProviderHours,
    Schedule,
    Week,
    _Calendar,
    _Entry,
    _normalize,
)
from ivr.yamlsource import Problem, Where, YamlMap, shown

CALENDAR_KEYS = ("name", "why", "extends", "local_days_per_period", "holidays", "closures",
                 "openings")
HOLIDAY_KEYS = ("name", "why", "rule", "date", "from", "local")
PERIOD_KEYS = ("name", "why", "from", "to")
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_MONTH_DAY = re.compile(r"^\s*(\d{1,2})-(\d{1,2})\s*$")
_DATE_OR_TIME = "attendu : une date (2026-12-24) ou une date et une heure (2026-12-24T12:00)"


class _Builder(_Reader):
    """Reads the raw YAML into providers' hours and calendars, each mistake made a Problem."""

    def item(self, value: Any, where: Where, path: str, keys: tuple[str, ...], shape: str) -> bool:
        """Whether ``value`` is a mapping (its unknown keys reported); a problem if not."""
        if not isinstance(value, YamlMap):
            self.problem(where, path, f"attendu : {shape}")
            return False
        self.unknown_keys(value, keys, path)
        return True

    def stripped(self, m: YamlMap, key: str, path: str, required: bool) -> str:
        value = m.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None or required:
            self.problem(m.at(key), f"{path}.{key}", "manquant (un texte en français)"
                         if value is None else "attendu : un texte")
        return ""

    def clock(self, value: Any, where: Where, key: str, *, end: bool = False) -> int | None:
        """Minutes since midnight of "HH:MM" ("24:00" only as an end)."""
        if isinstance(value, int) and not isinstance(value, bool):
            self.problem(where, key, "écrivez l'heure entre guillemets, ex. \"12:00\" "
                         "(YAML lit 12:00 comme un nombre)")
            return None
        match = _TIME.match(value) if isinstance(value, str) else None
        if match is None:
            self.problem(where, key, f"attendu : une heure \"HH:MM\", trouvé {shown(value)}")
            return None
        hours, minutes = int(match.group(1)), int(match.group(2))
        if (hours, minutes) == (24, 0) and end:
            return DAY_MINUTES
        if hours > 23 or minutes > 59:
            self.problem(where, key, f"{shown(value)} n'est pas une heure du jour (00:00 à 23:59"
                         + (", ou 24:00 pour une fin)" if end else ")"))
            return None
        return hours * 60 + minutes

    def instant(self, value: Any, where: Where, key: str, *, end: bool) -> dt.datetime | None:
        """A date (whole day: its start, or the next midnight as an end) or a date-time,
        local unless it carries an offset."""
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                text = value.strip()
                value = (dt.date.fromisoformat(text) if len(text) == 10
                         else dt.datetime.fromisoformat(text))
        if isinstance(value, dt.datetime):
            if value.second or value.microsecond:  # the line decides once per minute
                self.problem(where, key, f"donnez l'heure à la minute (ex. "
                             f"{value:%Y-%m-%dT%H:%M}), trouvé {shown(value.isoformat())}")
                return None
            return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)
        if isinstance(value, dt.date):
            day = value + dt.timedelta(days=1) if end else value
            return dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
        self.problem(where, key, f"{_DATE_OR_TIME}, trouvé {shown(value)}")
        return None

    def days(self, spec: str, where: Where, key: str) -> list[int] | None:
        """"mon", "mon-fri", "sat,sun" -> weekday indexes (Monday = 0); a range may wrap."""
        result: list[int] = []
        for part in spec.lower().replace(" ", "").split(","):
            ends = part.split("-")
            if len(ends) > 2 or not all(ends):
                self.problem(where, key,
                             f"{shown(spec)} : écrivez les jours mon, mon-fri ou sat,sun")
                return None
            unknown = [e for e in ends if e not in WEEKDAYS]
            if unknown:
                self.problem(where, key, f"jour inconnu {shown(unknown[0])} "
                             f"(attendu : {', '.join(WEEKDAYS)})")
                return None
            first, last = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
            result.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        return result

    def hours(self, m: YamlMap, path: str) -> tuple[bool, Week]:
        raw = m.get("hours")
        empty: Week = ((),) * 7
        if raw is None:
            return False, empty
        if isinstance(raw, str) and raw.strip().lower() == "always":
            return True, empty
        if not isinstance(raw, YamlMap):
            self.problem(m.at("hours"), f"{path}.hours", "attendu : « always » ou des jours et "
                         "leurs plages, ex. mon-fri: [\"07:00-17:00\"]")
            return False, empty
        week: list[list[tuple[int, int, str]]] = [[] for _ in range(7)]
        for spec, value in raw.items():
            where, key = raw.at(spec), f"{path}.hours.{spec}"
            days = self.days(str(spec), where, key)
            values = [value] if isinstance(value, str) else [] if value is None else value
            if not isinstance(values, list):
                self.problem(where, key, "attendu : une liste de plages comme \"07:00-17:00\"")
                continue
            ranges: list[tuple[int, int]] = []
            for item in values:
                match = _RANGE.match(item) if isinstance(item, str) else None
                if match is None:
                    self.problem(where, key,
                                 f"attendu : une plage \"HH:MM-HH:MM\", trouvé {shown(item)}")
                    continue
                start = self.clock(match.group(1), where, key)
                end = self.clock(match.group(2), where, key, end=True)
                if start is None or end is None:
                    continue
                if end <= start:
                    self.problem(where, key, f"{shown(item)} finit avant de commencer (une plage "
                                 "reste dans la journée : coupez-la à 24:00)")
                    continue
                ranges.append((start, end))
            for day in days or []:
                for start, end in ranges:
                    clash = next(((s, e, k) for s, e, k in week[day] if start < e and s < end),
                                 None)
                    if clash is None:
                        week[day].append((start, end, str(spec)))
                        continue
                    self.problem(where, key, f"{_hhmm(start)}-{_hhmm(end)} chevauche "
                                 f"{_hhmm(clash[0])}-{_hhmm(clash[1])} le {WEEKDAYS[day]}"
                                 + (f" (de {shown(clash[2])})" if clash[2] != spec else ""))
        # Overlaps were refused: this sorts and joins touching ranges (12:00-13:00, 13:00-17:00).
        return False, tuple(tuple(_normalize([(s, e) for s, e, _ in day])) for day in week)

    def periods(self, m: YamlMap, key: str, path: str, owner: str) -> tuple[Period, ...]:
        raw = m.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem(m.at(key), f"{path}.{key}", "attendu : une liste de {from, to, name, why}")
            return ()
        result: list[Period] = []
        for i, item in enumerate(raw):
            ipath = f"{path}.{key}[{i}]"
            if not self.item(item, getattr(raw, "where", m.at(key)), ipath, PERIOD_KEYS,
                             "{from, to, name, why}"):
                continue
            name = self.stripped(item, "name", ipath, required=True)
            why = self.stripped(item, "why", ipath, required=False)
            for bound in ("from", "to"):
                if bound not in item:
                    self.problem(item.where, f"{ipath}.{bound}", "manquant")
            start, end = (self.instant(item[b], item.at(b), f"{ipath}.{b}", end=b == "to")
                          if b in item else None for b in ("from", "to"))
            if start is None or end is None:
                continue
            if end <= start:
                self.problem(item.at("to"), f"{ipath}.to", f"finit ({end:%Y-%m-%d %H:%M}) "
                             f"avant de commencer ({start:%Y-%m-%d %H:%M})")
                continue
            result.append(Period(start, end, name, why, owner, item.where))
        return tuple(result)

    def entry(self, item: Any, where: Where, ipath: str, calendar_id: str) -> _Entry | None:
        if not self.item(item, where, ipath, HOLIDAY_KEYS, "{name, why, rule ou date, from}"):
            return None
        name = self.stripped(item, "name", ipath, required=True)
        why = self.stripped(item, "why", ipath, required=False)
        start = None
        if "from" in item:
            start_min = self.clock(item["from"], item.at("from"), f"{ipath}.from")
            if start_min is None:
                return None
            start = dt.time(start_min // 60, start_min % 60)
        local = item.get("local", False)
        if not isinstance(local, bool):
            self.problem(item.at("local"), f"{ipath}.local",
                         f"attendu : true (un jour local) ou false, trouvé {shown(local)}")
            return None
        if ("rule" in item) == ("date" in item):
            self.problem(item.where, ipath,
                         "un jour férié a exactement une « rule » ou une « date »")
            return None
        if "rule" in item:
            if local:
                return self._local_needs_a_date(item, ipath)
            rule = self.rule(item["rule"], item.at("rule"), f"{ipath}.rule")
            return None if rule is None else _Entry(name, why, start, calendar_id, rule=rule)
        value = item["date"]
        where, key = item.at("date"), f"{ipath}.date"
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not "12-25": that is a month-day
                value = dt.date.fromisoformat(value.strip())
        if isinstance(value, dt.datetime):
            self.problem(where, key, "un jour férié est une date ; « from » pour une partie de "
                         "journée")
            return None
        if isinstance(value, dt.date):
            return _Entry(name, why, start, calendar_id, date=value, local=local)
        match = _MONTH_DAY.match(value) if isinstance(value, str) else None
        if match is None:
            self.problem(where, key, "attendu : une date (2026-12-31, une fois) ou un mois-jour "
                         f"(\"12-25\", chaque année), trouvé {shown(value)}")
            return None
        month, day = int(match.group(1)), int(match.group(2))
        try:
            dt.date(2000, month, day)  # a leap year: 02-29 is allowed
        except ValueError:
            self.problem(where, key, f"{shown(value)} n'est pas un mois-jour")
            return None
        if local:
            return self._local_needs_a_date(item, ipath)
        return _Entry(name, why, start, calendar_id, month_day=(month, day))

    def _local_needs_a_date(self, item: YamlMap, ipath: str) -> None:
        """A local day counts for one period only: a yearly rule would close the line every
        year without anyone deciding it again."""
        self.problem(item.at("local"), f"{ipath}.local",
                     "un jour local est fixé pour une période (1er juillet au 30 juin) : donnez sa "
                     "date complète, ex. date: 2027-12-24, pas une règle ni un mois-jour")

    def local_days_per_period(self, m: YamlMap, path: str) -> int:
        value = m.get("local_days_per_period")
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
            self.problem(m.at("local_days_per_period"), f"{path}.local_days_per_period",
                         f"attendu : un nombre de jours, ex. 2, trouvé {shown(value)}")
            return 0
        return value

    def rule(self, value: Any, where: Where, key: str) -> str | None:
        """Checks an RRULE once: it parses, is not bound to its own DTSTART, and gives a date
        from 2000 to 2039 (its first is enough: listing them all cost 1 ms a rule)."""
        if not isinstance(value, str) or not value.strip():
            self.problem(where, key, "attendu : une règle RRULE, ex. \"FREQ=YEARLY;BYEASTER=-2\"")
            return None
        text = value.strip()
        upper = text.upper()
        if "DTSTART" in upper or "COUNT=" in upper:
            self.problem(where, key, "ni DTSTART ni COUNT : la règle s'applique à chaque année "
                         "(UNTIL pour la terminer)")
            return None
        try:
            first = dt.datetime(2000, 1, 1)
            found = rrulestr(text, dtstart=first).after(first)
        except Exception as exc:  # dateutil raises ValueError, TypeError, KeyError...
            hint = (" (écrivez UNTIL comme une date locale, ex. UNTIL=20301231)"
                    if "UNTIL" in upper else "")
            self.problem(where, key, f"règle RRULE invalide {shown(text)} : "
                         f"{str(exc) or type(exc).__name__}{hint}")
            return None
        if found is None or found >= dt.datetime(2040, 1, 1):
            self.problem(where, key, f"la règle {shown(text)} ne donne aucune date de 2000 à 2039")
            return None
        return text

    def calendar(self, calendar_id: str, m: YamlMap) -> _Calendar:
        path = f"calendars.{calendar_id}"
        self.unknown_keys(m, CALENDAR_KEYS, path)
        extends = m.get("extends")
        if extends is not None and not isinstance(extends, str):
            self.problem(m.at("extends"), f"{path}.extends", "attendu : un identifiant de "
                         "calendrier")
            extends = None
        raw = m.get("holidays")
        if raw is not None and not isinstance(raw, list):
            self.problem(m.at("holidays"), f"{path}.holidays", "attendu : une liste")
            raw = None
        entries = [self.entry(item, getattr(raw, "where", m.at("holidays")),
                              f"{path}.holidays[{i}]", calendar_id)
                   for i, item in enumerate(raw or [])]
        return _Calendar(
            id=calendar_id,
            name=self.stripped(m, "name", path, required=False) or calendar_id,
            extends=extends,
            entries=tuple(e for e in entries if e is not None),
            closures=self.periods(m, "closures", path, calendar_id),
            openings=self.periods(m, "openings", path, calendar_id),
            local_days_per_period=self.local_days_per_period(m, path),
            local_days_where=m.at("local_days_per_period"),
        )

    def provider(self, provider_id: str, m: YamlMap,
                 calendars: Mapping[str, Any]) -> ProviderHours:
        path = f"providers.{provider_id}"
        always, week = self.hours(m, path)
        calendar = m.get("calendar")
        if calendar is not None and (not isinstance(calendar, str) or calendar not in calendars):
            known = ", ".join(sorted(calendars)) or "aucun"
            self.problem(m.at("calendar"), f"{path}.calendar",
                         f"calendrier inconnu {shown(calendar)} (connus : {known})")
            calendar = None
        return ProviderHours(provider_id, always, week, calendar,
                             self.periods(m, "closures", path, provider_id),
                             self.periods(m, "openings", path, provider_id))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def build_schedule(config: Config) -> tuple[Schedule, list[Problem]]:
    """Parse provider hours and calendars of a parsed config; never raises on bad data."""
    b = _Builder()
    raw_calendars = config.calendars
    calendars = {cid: b.calendar(cid, m) for cid, m in raw_calendars.items()}
    known = ", ".join(sorted(calendars))
    for calendar_id, cal in list(calendars.items()):
        if cal.extends is not None and cal.extends not in calendars:
            b.problem(raw_calendars[calendar_id].at("extends"), f"calendars.{calendar_id}.extends",
                      f"calendrier inconnu {shown(cal.extends)} (connus : {known})")
            calendars[calendar_id] = replace(cal, extends=None)
    for calendar_id in sorted(calendars):  # a cycle is broken at its first calendar
        seen = [calendar_id]
        current = calendars[calendar_id].extends
        while current in calendars and current not in seen:
            seen.append(current)
            current = calendars[current].extends
        if current == calendar_id:
            b.problem(raw_calendars[calendar_id].at("extends"), f"calendars.{calendar_id}.extends",
                      f"s'étend lui-même : {' -> '.join([*seen, current])}")
            calendars[calendar_id] = replace(calendars[calendar_id], extends=None)
    providers = {pid: b.provider(pid, raw, calendars) for pid, raw in config.provider_times.items()}
    return Schedule(providers, calendars), b.problems
