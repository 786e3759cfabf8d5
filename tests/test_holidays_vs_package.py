"""Our `quebec` calendar against the `holidays` package, with every difference spelled out.

The package is an independent reading of the same law, so agreement is evidence; where it
differs, the difference is listed here with the rule that explains it, rather than hidden.
A new package version that changes its Québec rules makes this test fail on purpose.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import holidays
import pytest
from dateutil.easter import easter

from ivr.config import parse
from ivr.schedule import Schedule
from ivr.schedule_build import build_schedule

REPO = Path(__file__).resolve().parent.parent
YEARS = range(2024, 2041)
SATURDAY, SUNDAY = 5, 6


@pytest.fixture(scope="module")
def sched() -> Schedule:
    config, _ = parse(REPO)
    schedule, problems = build_schedule(config)
    assert problems == []
    return schedule


@pytest.fixture(scope="module")
def package() -> holidays.HolidayBase:
    return holidays.country_holidays("CA", subdiv="QC", years=YEARS,
                                     categories=("public", "optional"), language="fr")


def expected_package_only(year: int) -> set[dt.date]:
    """Dates the package lists for QC that art. 60 does not make holidays, by rule."""
    extra: set[dt.date] = set()
    # Easter Monday: the package's QC "optional" category. Art. 60 lets the employer choose
    # Good Friday *or* Easter Monday; our `quebec` calendar keeps Good Friday (rsss and
    # gouvernement add Easter Monday themselves).
    extra.add(easter(year) + dt.timedelta(days=1))
    # 24 June on a Sunday: the package keeps the Sunday and adds 25 June "(observé)"; the law
    # (Loi sur la fête nationale) makes 25 June the holiday instead, so we list only the 25th.
    if dt.date(year, 6, 24).weekday() == SUNDAY:
        extra.add(dt.date(year, 6, 24))
    # 1 July on a Sunday: same shape, art. 60 4° says "le 2 juillet" instead.
    if dt.date(year, 7, 1).weekday() == SUNDAY:
        extra.add(dt.date(year, 7, 1))
    # 1 January on a weekend: the package applies Canada's federal substitution (next Monday);
    # art. 60 moves nothing, the day off is simply lost.
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() == SATURDAY:
        extra.add(dt.date(year, 1, 3))
    elif new_year.weekday() == SUNDAY:
        extra.add(dt.date(year, 1, 2))
    # 25 December on a weekend: the package substitutes twice (its "public" rule moves a
    # weekend Christmas to the next Monday, its "optional" rule to Monday or Tuesday); art. 60
    # moves nothing. Saturday -> 27 Dec (both rules agree); Sunday -> 26 and 27 Dec.
    christmas = dt.date(year, 12, 25)
    if christmas.weekday() == SATURDAY:
        extra.add(dt.date(year, 12, 27))
    elif christmas.weekday() == SUNDAY:
        extra |= {dt.date(year, 12, 26), dt.date(year, 12, 27)}
    return extra


def test_quebec_calendar_matches_the_package_but_for_documented_rules(
        sched: Schedule, package: holidays.HolidayBase) -> None:
    ours = {h.date for year in YEARS for h in sched.holidays("quebec", year)}
    theirs = set(package.keys())
    expected = set().union(*(expected_package_only(year) for year in YEARS))
    assert theirs - ours == expected
    assert ours - theirs == set()  # nothing of ours is unknown to the package


def test_the_documented_differences_do_happen(package: holidays.HolidayBase) -> None:
    """Guard against a vacuous comparison: 2024-2040 exercises every rule above."""
    assert dt.date(2029, 6, 24) in package and dt.date(2029, 6, 25) in package
    assert dt.date(2029, 7, 1) in package and dt.date(2029, 7, 2) in package
    assert dt.date(2034, 1, 2) in package  # 1 Jan 2034 is a Sunday
    assert dt.date(2028, 1, 3) in package  # 1 Jan 2028 is a Saturday
    assert dt.date(2027, 12, 27) in package  # 25 Dec 2027 is a Saturday
    assert {dt.date(2033, 12, 26), dt.date(2033, 12, 27)} <= set(package)  # a Sunday


@pytest.mark.parametrize("year", list(YEARS))
def test_eight_days_a_year_and_none_on_sunday(sched: Schedule, year: int) -> None:
    days = sched.holidays("quebec", year)
    assert len(days) == 8
    moved = [h for h in days if h.date.month in (6, 7)]
    assert all(h.date.weekday() != SUNDAY for h in moved)


def test_names_agree_on_shared_days(sched: Schedule, package: holidays.HolidayBase) -> None:
    """Same day, same holiday: compare loosely (our names are the institution's wording)."""
    keywords = {"Jour de l'An": "an", "Vendredi saint": "vendredi saint",
                "Journée nationale des patriotes": "patriotes",
                "Fête nationale du Québec": "fête nationale",
                "Fête du Canada": "canada", "Fête du Travail": "travail",
                "Action de grâce": "action de grâce", "Noël": "noël"}
    for year in YEARS:
        for h in sched.holidays("quebec", year):
            base = h.name.split(" (")[0]
            assert keywords[base] in package[h.date].lower(), (h, package[h.date])
