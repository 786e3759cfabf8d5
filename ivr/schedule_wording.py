"""The schedule in words: weekly hours and the next opening (said to callers, in French or, for
an English call, in English), the local days still to list (shown to administrators, in
French). Pure functions of plain values; no import of ``ivr.schedule``, which uses them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
ENGLISH_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                     "Sunday")
ENGLISH_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July",
                       "August", "September", "October", "November", "December")
MONTH_NAMES = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
               "septembre", "octobre", "novembre", "décembre")

Ranges = tuple[tuple[int, int], ...]  # open ranges of a day, in minutes since midnight


def english(language: str | None) -> bool:
    """Whether ``language`` (a config's, "fr-CA" or "en-CA") is said in English."""
    return bool(language) and str(language).startswith("en")


def hours_text(always: bool, week: tuple[Ranges, ...], holidays: bool,
               language: str = "fr-CA") -> str:
    """Weekly hours (Monday first): "du lundi au vendredi, de 7 h à 17 h, sauf les jours fériés"
    (in English: "Monday to Friday, 7 a.m. to 5 p.m., except holidays")."""
    if english(language):
        return _hours(always, week, holidays, _english_days, _english_range, _english_join,
                      ("at all times", ", and ", ", except holidays"))
    return _hours(always, week, holidays, _days_text, _range_text, _join,
                  ("en tout temps", ", et ", ", sauf les jours fériés"))


def _hours(always: bool, week: tuple[Ranges, ...], holidays: bool,
           days_text: Callable[[list[int]], str], range_text: Callable[[tuple[int, int]], str],
           join: Callable[[list[str]], str], words: tuple[str, str, str]) -> str:
    """The days sharing the same hours together, in the order of their first day; ``words``:
    what "at all times", the last ", and " and ", except holidays" are in the language."""
    always_text, last_and, except_holidays = words
    if always or all(ranges == ((0, 24 * 60),) for ranges in week):
        return always_text
    groups: dict[Ranges, list[int]] = {}
    for index, ranges in enumerate(week):
        if ranges:
            groups.setdefault(ranges, []).append(index)
    if not groups:
        return ""
    parts = [f"{days_text(days)}, {join([range_text(r) for r in ranges])}"
             for ranges, days in groups.items()]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + last_and + parts[-1]
    return text + except_holidays if holidays else text


def reopening_text(opening: dt.datetime, today: dt.date, language: str = "fr-CA") -> str:
    """A local opening said from ``today``: "demain à 7 h", "le lundi 1er mars à 7 h" (in
    English: "tomorrow at 7 a.m.", "on Monday, March 1, at 7 a.m.")."""
    if english(language):
        return _english_reopening(opening, today)
    days = (opening.date() - today).days
    clock = _clock(opening.hour * 60 + opening.minute, midnight="0 h")
    if days == 0:
        return f"aujourd'hui à {clock}"
    if days == 1:
        return f"demain à {clock}"
    weekday = DAY_NAMES[opening.weekday()]
    if days <= 6:
        return f"{weekday} à {clock}"
    return f"le {weekday} {_day_month(opening)} à {clock}"


def missing_local_days_text(calendar_id: str, file: str, first: dt.date, end: dt.date,
                            needed: int, listed: list[dt.date]) -> str:
    """What to add to a calendar that lists too few local days in the period [first, end)."""
    last = end - dt.timedelta(days=1)
    period = f"du {_day_month(first)} {first.year} au {_day_month(last)} {last.year}"
    if not listed:
        expected = f"{needed} attendu" + ("s" if needed > 1 else "")
        them = "les" if needed > 1 else "le"
        return (f"{calendar_id} : aucun jour local inscrit pour la période {period} "
                f"({expected}) : ajoutez-{them} dans {file}")
    count, missing = len(listed), needed - len(listed)
    days = "jours locaux inscrits" if count > 1 else "jour local inscrit"
    dates = ", ".join(f"{_day_month(d)} {d.year}" for d in listed)
    add = "le jour manquant" if missing == 1 else f"les {missing} jours manquants"
    return (f"{calendar_id} : {count} {days} sur {needed} pour la période {period} "
            f"({dates}) : ajoutez {add} dans {file}")


def _clock(minutes: int, midnight: str = "minuit") -> str:
    if minutes in (0, 24 * 60):
        return midnight
    if minutes == 12 * 60:
        return "midi"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d}" if rest else f"{hours} h"


def _range_text(minutes: tuple[int, int]) -> str:
    start, end = minutes
    return "24 h sur 24" if minutes == (0, 24 * 60) else f"de {_clock(start)} à {_clock(end)}"


def _runs(days: list[int]) -> list[list[int]]:
    """Consecutive days together: [0, 1, 2, 4] → [[0, 1, 2], [4]]."""
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def _days_text(days: list[int]) -> str:
    if len(days) == 7:
        return "tous les jours"
    items: list[str] = []
    for run in _runs(days):
        if len(run) >= 3:
            items.append(f"du {DAY_NAMES[run[0]]} au {DAY_NAMES[run[-1]]}")
        else:
            items.extend(f"le {DAY_NAMES[d]}" for d in run)
    return _join(items)


def _day_month(day: dt.date) -> str:
    return f"{'1er' if day.day == 1 else day.day} {MONTH_NAMES[day.month - 1]}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " et " + items[-1]


# --------------------------------------------------------------------------- in English


def _english_reopening(opening: dt.datetime, today: dt.date) -> str:
    days = (opening.date() - today).days
    clock = _english_clock(opening.hour * 60 + opening.minute)
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    weekday = ENGLISH_DAY_NAMES[opening.weekday()]
    if days <= 6:
        return f"{weekday} at {clock}"
    month = ENGLISH_MONTH_NAMES[opening.month - 1]
    return f"on {weekday}, {month} {opening.day}, at {clock}"


def _english_clock(minutes: int) -> str:
    """"7 a.m.", "5:30 p.m.", "noon", "midnight"."""
    if minutes in (0, 24 * 60):
        return "midnight"
    if minutes == 12 * 60:
        return "noon"
    hours, rest = divmod(minutes, 60)
    half = "a.m." if hours < 12 else "p.m."
    shown = hours % 12 or 12
    return f"{shown}:{rest:02d} {half}" if rest else f"{shown} {half}"


def _english_range(minutes: tuple[int, int]) -> str:
    start, end = minutes
    if minutes == (0, 24 * 60):
        return "24 hours a day"
    return f"{_english_clock(start)} to {_english_clock(end)}"


def _english_days(days: list[int]) -> str:
    if len(days) == 7:
        return "every day"
    items: list[str] = []
    for run in _runs(days):
        if len(run) >= 3:
            items.append(f"{ENGLISH_DAY_NAMES[run[0]]} to {ENGLISH_DAY_NAMES[run[-1]]}")
        else:
            items.extend(ENGLISH_DAY_NAMES[d] for d in run)
    return _english_join(items)


def _english_join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
