"""Building the schedule from the config's YAML: providers' hours, calendars (rules, dates,
local days), closures and openings, each value checked with its file and line. The result is
``ivr.schedule.Schedule``, whose queries the line asks (is a team open at this minute, until
when, in what words)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dateutil.rrule import rrulestr

from ivr.schedule import (
    _MONTH_DAY,
    _RANGE,
    _TIME,
    ALWAYS,
    CALENDAR_KEYS,
    DAY_MINUTES,
    HOLIDAY_KEYS,
    PERIOD_KEYS,
    TZ,
    WEEKDAYS,
    Period,
    Schedule,
    _Calendar,
    _Entry,
    _Provider,
)
from ivr.yamlsource import Problem, Where, YamlMap


class _Builder:
    """Reads the raw YAML into _Provider/_Calendar, turning every mistake into a Problem."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, where: Where, key: str, message: str) -> None:
        self.problems.append(Problem(where, key, message))

    def unknown_keys(self, m: YamlMap, allowed: tuple[str, ...], path: str) -> None:
        for key in m:
            if key not in allowed:
                self.problem(m.at(key), f"{path}.{key}",
                             f"réglage inconnu (attendu : {', '.join(allowed)})")

    def text(self, m: YamlMap, key: str, path: str, required: bool) -> str:
        value = m.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None or required:
            self.problem(m.at(key), f"{path}.{key}",
                         "manquant (un texte en français)" if value is None else "attendu : un "
                                                                                 "texte")
        return ""

    # ------------------------------------------------------------------ times

    def clock(self, value: Any, where: Where, key: str, *, end: bool = False) -> int | None:
        """Minutes since midnight of "HH:MM" ("24:00" only as an end)."""
        if isinstance(value, int) and not isinstance(value, bool):
            self.problem(where, key, "écrivez l'heure entre guillemets, ex. \"12:00\" "
                         "(YAML lit 12:00 comme un nombre)")
            return None
        match = _TIME.match(value) if isinstance(value, str) else None
        if match is None:
            self.problem(where, key, f"attendu : une heure \"HH:MM\", trouvé {value!r}")
            return None
        hours, minutes = int(match.group(1)), int(match.group(2))
        if (hours, minutes) == (24, 0) and end:
            return DAY_MINUTES
        if hours > 23 or minutes > 59:
            self.problem(where, key, f"{value!r} n'est pas une heure du jour (00:00 à 23:59"
                         + (", ou 24:00 pour une fin)" if end else ")"))
            return None
        return hours * 60 + minutes

    def instant(self, value: Any, where: Where, key: str, *, end: bool) -> dt.datetime | None:
        """A date (whole day: its start, or the next midnight as an end) or a date-time,
        local unless it carries an offset."""
        if isinstance(value, str):
            try:
                value = (dt.date.fromisoformat(value.strip()) if len(value.strip()) == 10
                         else dt.datetime.fromisoformat(value.strip()))
            except ValueError:
                self.problem(where, key, f"attendu : une date (2026-12-24) ou une date et une "
                                         "heure "
                             f"(2026-12-24T12:00), trouvé {value!r}")
                return None
        if isinstance(value, dt.datetime):
            if value.second or value.microsecond:
                # Every boundary on a whole minute: the line decides once per minute.
                self.problem(where, key, f"donnez l'heure à la minute (ex. "
                             f"{value:%Y-%m-%dT%H:%M}), trouvé {value.isoformat()!r}")
                return None
            if value.tzinfo is None:
                return value.replace(tzinfo=TZ)
            return value.astimezone(TZ)
        if isinstance(value, dt.date):
            day = value + dt.timedelta(days=1) if end else value
            return dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
        self.problem(where, key, "attendu : une date (2026-12-24) ou une date et une heure "
                     f"(2026-12-24T12:00), trouvé {value!r}")
        return None

    # ------------------------------------------------------------------ hours

    def days(self, spec: str, where: Where, key: str) -> list[int] | None:
        """"mon", "mon-fri", "sat,sun" -> weekday indexes (Monday = 0); a range may wrap."""
        result: list[int] = []
        for part in spec.lower().replace(" ", "").split(","):
            ends = part.split("-")
            if len(ends) > 2 or not all(ends):
                self.problem(where, key, f"{spec!r} : écrivez les jours mon, mon-fri ou sat,sun")
                return None
            unknown = [e for e in ends if e not in WEEKDAYS]
            if unknown:
                self.problem(where, key, f"jour inconnu {unknown[0]!r} "
                             f"(attendu : {', '.join(WEEKDAYS)})")
                return None
            first, last = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
            result.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        return result

    def hours(self, m: YamlMap, path: str) -> tuple[bool, tuple[tuple[tuple[int, int], ...], ...]]:
        raw = m.get("hours")
        empty: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7
        if raw is None:
            return False, empty
        if isinstance(raw, str) and raw.strip().lower() == ALWAYS:
            return True, empty
        if not isinstance(raw, YamlMap):
            self.problem(m.at("hours"), f"{path}.hours",
                         "attendu : « always » ou des jours et leurs plages, ex. mon-fri: "
                         "[\"07:00-17:00\"]")
            return False, empty
        week: list[list[tuple[int, int, str]]] = [[] for _ in range(7)]
        for spec, value in raw.items():
            where, key = raw.at(spec), f"{path}.hours.{spec}"
            days = self.days(str(spec), where, key)
            values = [value] if isinstance(value, str) else value
            if values is None:
                values = []
            if not isinstance(values, list):
                self.problem(where, key, "attendu : une liste de plages comme \"07:00-17:00\"")
                continue
            ranges: list[tuple[int, int]] = []
            for item in values:
                match = _RANGE.match(item) if isinstance(item, str) else None
                if match is None:
                    self.problem(where, key, f"attendu : une plage \"HH:MM-HH:MM\", trouvé "
                                             f"{item!r}")
                    continue
                start = self.clock(match.group(1), where, key)
                end = self.clock(match.group(2), where, key, end=True)
                if start is None or end is None:
                    continue
                if end <= start:
                    self.problem(where, key, f"{item!r} finit avant de commencer (une plage reste "
                                 "dans la journée : coupez-la à 24:00)")
                    continue
                ranges.append((start, end))
            for day in days or []:
                for start, end in ranges:
                    clash = next(((s, e, k) for s, e, k in week[day] if start < e and s < end),
                                 None)
                    if clash is not None:
                        self.problem(where, key, f"{_hhmm(start)}-{_hhmm(end)} chevauche "
                                     f"{_hhmm(clash[0])}-{_hhmm(clash[1])} le {WEEKDAYS[day]}"
                                     + (f" (de {clash[2]!r})" if clash[2] != spec else ""))
                        continue
                    week[day].append((start, end, str(spec)))
        return False, tuple(tuple((a, b) for a, b, _ in _merge_minutes(d)) for d in week)

    # ------------------------------------------------------------------ entries

    def periods(self, m: YamlMap, key: str, path: str, owner: str) -> tuple[Period, ...]:
        raw = m.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem(m.at(key), f"{path}.{key}",
                         "attendu : une liste de {from, to, name, why}")
            return ()
        result: list[Period] = []
        for i, item in enumerate(raw):
            ipath = f"{path}.{key}[{i}]"
            if not isinstance(item, YamlMap):
                self.problem(getattr(raw, "where", m.at(key)), ipath,
                             "attendu : {from, to, name, why}")
                continue
            self.unknown_keys(item, PERIOD_KEYS, ipath)
            name = self.text(item, "name", ipath, required=True)
            why = self.text(item, "why", ipath, required=False)
            start = end = None
            for bound in ("from", "to"):
                if bound not in item:
                    self.problem(item.where, f"{ipath}.{bound}", "manquant")
            if "from" in item:
                start = self.instant(item["from"], item.at("from"), f"{ipath}.from", end=False)
            if "to" in item:
                end = self.instant(item["to"], item.at("to"), f"{ipath}.to", end=True)
            if start is None or end is None:
                continue
            if end <= start:
                self.problem(item.at("to"), f"{ipath}.to",
                             f"finit ({end:%Y-%m-%d %H:%M}) avant de commencer "
                             f"({start:%Y-%m-%d %H:%M})")
                continue
            result.append(Period(start, end, name, why, owner, item.where))
        return tuple(result)

    def entry(self, item: Any, where: Where, ipath: str, calendar_id: str) -> _Entry | None:
        if not isinstance(item, YamlMap):
            self.problem(where, ipath, "attendu : {name, why, rule ou date, from}")
            return None
        self.unknown_keys(item, HOLIDAY_KEYS, ipath)
        name = self.text(item, "name", ipath, required=True)
        why = self.text(item, "why", ipath, required=False)
        start = None
        if "from" in item:
            start_min = self.clock(item["from"], item.at("from"), f"{ipath}.from")
            if start_min is None:
                return None
            start = dt.time(start_min // 60, start_min % 60)
        local = item.get("local", False)
        if not isinstance(local, bool):
            self.problem(item.at("local"), f"{ipath}.local",
                         f"attendu : true (un jour local) ou false, trouvé {local!r}")
            return None
        if ("rule" in item) == ("date" in item):
            self.problem(item.where, ipath, "un jour férié a exactement une « rule » ou une « "
                                            "date »")
            return None
        if "rule" in item:
            if local:
                self._local_needs_a_date(item, ipath)
                return None
            rule = self.rule(item["rule"], item.at("rule"), f"{ipath}.rule")
            return None if rule is None else _Entry(name, why, start, calendar_id, rule=rule)
        value = item["date"]
        where, key = item.at("date"), f"{ipath}.date"
        if isinstance(value, dt.datetime):
            self.problem(where, key, "un jour férié est une date ; « from » pour une partie de "
                                     "journée")
            return None
        if isinstance(value, dt.date):
            return _Entry(name, why, start, calendar_id, date=value, local=local)
        match = _MONTH_DAY.match(value) if isinstance(value, str) else None
        if match is not None:
            month, day = int(match.group(1)), int(match.group(2))
            try:
                dt.date(2000, month, day)  # a leap year: 02-29 is allowed
            except ValueError:
                self.problem(where, key, f"{value!r} n'est pas un mois-jour")
                return None
            if local:
                self._local_needs_a_date(item, ipath)
                return None
            return _Entry(name, why, start, calendar_id, month_day=(month, day))
        if isinstance(value, str):
            try:
                return _Entry(name, why, start, calendar_id,
                              date=dt.date.fromisoformat(value.strip()), local=local)
            except ValueError:
                pass
        self.problem(where, key, "attendu : une date (2026-12-31, une fois) ou un mois-jour "
                     f"(\"12-25\", chaque année), trouvé {value!r}")
        return None

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
                         f"attendu : un nombre de jours, ex. 2, trouvé {value!r}")
            return 0
        return value

    def rule(self, value: Any, where: Where, key: str) -> str | None:
        """Checks an RRULE once: parses, yields dates, and is not bound to its own DTSTART.

        Its first date is enough to know it gives one before 2040: listing them all took 1 ms a
        rule, a tenth of a 50-calendar load."""
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
            self.problem(where, key,
                         f"règle RRULE invalide {text!r} : {str(exc) or type(exc).__name__}{hint}")
            return None
        if found is None or found >= dt.datetime(2040, 1, 1):
            self.problem(where, key, f"la règle {text!r} ne donne aucune date de 2000 à 2039")
            return None
        return text

    # ------------------------------------------------------------------ sections

    def calendar(self, calendar_id: str, m: YamlMap) -> _Calendar:
        path = f"calendars.{calendar_id}"
        self.unknown_keys(m, CALENDAR_KEYS, path)
        extends = m.get("extends")
        if extends is not None and not isinstance(extends, str):
            self.problem(m.at("extends"), f"{path}.extends", "attendu : un identifiant de "
                                                             "calendrier")
            extends = None
        entries: list[_Entry] = []
        raw = m.get("holidays")
        if raw is not None and not isinstance(raw, list):
            self.problem(m.at("holidays"), f"{path}.holidays", "attendu : une liste")
            raw = None
        for i, item in enumerate(raw or []):
            entry = self.entry(item, getattr(raw, "where", m.at("holidays")),
                               f"{path}.holidays[{i}]", calendar_id)
            if entry is not None:
                entries.append(entry)
        return _Calendar(
            id=calendar_id,
            name=self.text(m, "name", path, required=False) or calendar_id,
            extends=extends,
            entries=tuple(entries),
            closures=self.periods(m, "closures", path, calendar_id),
            openings=self.periods(m, "openings", path, calendar_id),
            local_days_per_period=self.local_days_per_period(m, path),
            local_days_where=m.at("local_days_per_period"),
        )

    def provider(self, provider_id: str, m: YamlMap, calendars: Mapping[str, Any]) -> _Provider:
        path = f"providers.{provider_id}"
        always, week = self.hours(m, path)
        calendar = m.get("calendar")
        if calendar is not None and (not isinstance(calendar, str) or calendar not in calendars):
            known = ", ".join(sorted(calendars)) or "aucun"
            self.problem(m.at("calendar"), f"{path}.calendar",
                         f"calendrier inconnu {calendar!r} (connus : {known})")
            calendar = None
        return _Provider(provider_id, always, week, calendar,
                         self.periods(m, "closures", path, provider_id),
                         self.periods(m, "openings", path, provider_id))


def _merge_minutes(ranges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sort and join touching ranges (12:00-13:00 + 13:00-17:00 = 12:00-17:00)."""
    out: list[tuple[int, int, str]] = []
    for start, end, key in sorted(ranges):
        if out and start == out[-1][1]:
            out[-1] = (out[-1][0], end, out[-1][2])
        else:
            out.append((start, end, key))
    return out


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def build_schedule(config: Any) -> tuple[Schedule, list[Problem]]:
    """Parse provider hours and calendars of a parsed config; never raises on bad data."""
    b = _Builder()
    raw_calendars: Mapping[str, YamlMap] = getattr(config, "calendars", {}) or {}
    calendars: dict[str, _Calendar] = {}
    for calendar_id, m in raw_calendars.items():
        calendars[calendar_id] = b.calendar(calendar_id, m)
    for calendar_id, cal in list(calendars.items()):
        m = raw_calendars[calendar_id]
        if cal.extends is None:
            continue
        if cal.extends not in calendars:
            known = ", ".join(sorted(calendars))
            b.problem(m.at("extends"), f"calendars.{calendar_id}.extends",
                      f"calendrier inconnu {cal.extends!r} (connus : {known})")
            calendars[calendar_id] = _replace_extends(cal, None)
    for calendar_id in sorted(calendars):
        seen = [calendar_id]
        current = calendars[calendar_id].extends
        while current is not None and current in calendars:
            if current in seen:
                if current == calendar_id:
                    cycle = " -> ".join([*seen, current])
                    b.problem(raw_calendars[calendar_id].at("extends"),
                              f"calendars.{calendar_id}.extends", f"s'étend lui-même : {cycle}")
                    calendars[calendar_id] = _replace_extends(calendars[calendar_id], None)
                break
            seen.append(current)
            current = calendars[current].extends
    providers: dict[str, _Provider] = {}
    for provider_id, raw in (getattr(config, "provider_times", {}) or {}).items():
        if isinstance(raw, YamlMap):
            providers[provider_id] = b.provider(provider_id, raw, calendars)
    return Schedule(providers, calendars), b.problems


def _replace_extends(cal: _Calendar, extends: str | None) -> _Calendar:
    return replace(cal, extends=extends)
