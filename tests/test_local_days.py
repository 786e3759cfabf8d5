"""The institution's local days: none shipped, and a warning for each period (1 July to
30 June) of the coming 12 months that lacks them.

``missing_local_days`` is pure: every case gives its own ``today`` and its own calendar.
Other test files import ``LOCAL_DAYS_2026`` and ``add_local_days`` to test partial-day local
closures on a copy of the configuration, never on the shipped files.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from ivr.config import parse
from ivr.schedule import local_period, missing_local_days
from ivr.schedule_build import build_schedule
from ivr.yamlsource import Problem

REPO = Path(__file__).resolve().parent.parent
RSSS = "schedules/calendars/rsss.yaml"

# Appended to rsss.yaml, these go at the end of its ``holidays:`` list.
LOCAL_DAYS_2026 = """
  - name: Veille de Noël
    date: 2026-12-24
    from: "12:00"
    local: true
    why: Jour local 2026-2027 de l'établissement (essai).

  - name: Veille du jour de l'An
    date: 2026-12-31
    local: true
    why: Jour local 2026-2027 de l'établissement (essai).
"""


def add_local_days(directory: Path, snippet: str = LOCAL_DAYS_2026) -> Path:
    """Append local days to the rsss calendar of a config copy; returns the directory."""
    path = directory / RSSS
    text = path.read_text(encoding="utf-8")
    path.write_text(text.rstrip("\n") + "\n" + snippet, encoding="utf-8")
    return directory


def local_day(day: str, name: str = "Jour local", local: str = "true") -> str:
    return f"\n  - name: {name}\n    date: {day}\n    local: {local}\n    why: essai\n"


def config_with(tmp_path: Path, *days: str, rsss_edit: tuple[str, str] | None = None):
    """The shipped calendars, with ``days`` (YAML items) appended to rsss; no providers."""
    calendars = tmp_path / "schedules" / "calendars"
    shutil.copytree(REPO / "schedules" / "calendars", calendars)
    (tmp_path / "schedules" / "providers.yaml").write_text("providers: {}\n", encoding="utf-8")
    if rsss_edit is not None:
        path = tmp_path / RSSS
        text = path.read_text(encoding="utf-8")
        assert text.count(rsss_edit[0]) == 1
        path.write_text(text.replace(*rsss_edit), encoding="utf-8")
    add_local_days(tmp_path, "".join(days))
    config, _ = parse(tmp_path)
    schedule, problems = build_schedule(config)
    assert problems == []
    return config, schedule


def line_of(directory: Path, marker: str) -> int:
    lines = (directory / RSSS).read_text(encoding="utf-8").splitlines()
    found = [i for i, line in enumerate(lines, 1) if line.startswith(marker)]
    assert len(found) == 1, found
    return found[0]


def periods(warnings: list[Problem]) -> list[str]:
    """"2026-2027" for each warning, from the French period it names."""
    out = []
    for w in warnings:
        start = w.message.split("période du 1er juillet ")[1][:4]
        out.append(f"{start}-{int(start) + 1}")
    return out


# --------------------------------------------------------------------------- the table

DEC24, DEC31 = local_day("2026-12-24"), local_day("2026-12-31")
NEXT24, NEXT31 = local_day("2027-12-24"), local_day("2027-12-31")

CASES = [
    # today, local days listed, periods warned about, id
    ("2026-07-01", (DEC24, DEC31), [], "a-period-fully-listed"),
    ("2026-07-01", (DEC31,), ["2026-2027"], "one-day-listed"),
    ("2026-07-01", (), ["2026-2027"], "none-listed-1-july-one-period"),
    ("2027-06-30", (), ["2026-2027", "2027-2028"], "none-listed-30-june-two-periods"),
    ("2027-07-01", (), ["2027-2028"], "none-listed-1-july-the-next-period-only"),
    ("2027-06-30", (DEC24, DEC31), ["2027-2028"], "30-june-this-period-listed-not-the-next"),
    ("2027-07-01", (DEC24, DEC31), ["2027-2028"], "1-july-last-period-no-longer-counts"),
    ("2026-12-01", (DEC24, DEC31, NEXT24, NEXT31), [], "both-periods-fully-listed"),
    ("2026-12-01", (DEC24, DEC31, NEXT24), ["2027-2028"], "next-period-one-day-short"),
    ("2027-01-15", (DEC24, DEC31), ["2027-2028"], "days-already-past-still-count"),
    ("2026-07-01", (local_day("2026-07-01"), local_day("2027-06-30")), [],
     "the-first-and-last-day-of-a-period-count"),
    ("2026-07-01", (local_day("2026-06-30"), local_day("2027-07-01")), ["2026-2027"],
     "the-days-just-outside-do-not"),
    ("2026-07-01", (DEC24, DEC24.replace("Jour local", "Autre nom")), ["2026-2027"],
     "the-same-date-twice-counts-once"),
    ("2026-07-01", (DEC24, local_day("2026-12-31", local="false")), ["2026-2027"],
     "a-one-off-holiday-without-local-true-is-not-a-local-day"),
    ("2028-02-29", (), ["2027-2028", "2028-2029"], "29-february"),
]


@pytest.mark.parametrize(("today", "days", "warned"), [c[:3] for c in CASES],
                         ids=[c[3] for c in CASES])
def test_missing_local_days(tmp_path: Path, today: str, days: tuple[str, ...],
                            warned: list[str]) -> None:
    config, _ = config_with(tmp_path, *days)
    warnings = missing_local_days(config, dt.date.fromisoformat(today))
    assert periods(warnings) == warned
    line = line_of(tmp_path, "local_days_per_period:")
    for w in warnings:
        assert (w.where.file, w.where.line) == (RSSS, line)
        assert w.key == "calendars.rsss.local_days_per_period"


def test_the_messages_say_what_to_do_in_french(tmp_path: Path) -> None:
    config, _ = config_with(tmp_path, DEC31)
    none, one = (missing_local_days(config, dt.date(2027, 6, 30)))[::-1]
    assert none.message == (
        "rsss : aucun jour local inscrit pour la période du 1er juillet 2027 au 30 juin 2028 "
        "(2 attendus) : ajoutez-les dans schedules/calendars/rsss.yaml")
    assert one.message == (
        "rsss : 1 jour local inscrit sur 2 pour la période du 1er juillet 2026 au 30 juin 2027 "
        "(31 décembre 2026) : ajoutez le jour manquant dans schedules/calendars/rsss.yaml")
    assert str(none).startswith(f"{RSSS}:{line_of(tmp_path, 'local_days_per_period:')}: "
                                "calendars.rsss.local_days_per_period: rsss : aucun")


def test_the_number_of_days_is_the_calendar_s(tmp_path: Path) -> None:
    config, _ = config_with(tmp_path, DEC24,
                            rsss_edit=("local_days_per_period: 2", "local_days_per_period: 3"))
    [warning] = missing_local_days(config, dt.date(2026, 7, 1))
    assert "1 jour local inscrit sur 3" in warning.message
    assert "ajoutez les 2 jours manquants" in warning.message
    config, _ = config_with(tmp_path / "one", rsss_edit=("local_days_per_period: 2",
                                                         "local_days_per_period: 1"))
    [warning] = missing_local_days(config, dt.date(2026, 7, 1))
    assert "(1 attendu) : ajoutez-le dans" in warning.message


def test_a_calendar_that_declares_no_local_days_is_not_checked(tmp_path: Path) -> None:
    config, _ = config_with(tmp_path, rsss_edit=("local_days_per_period: 2\n", ""))
    assert missing_local_days(config, dt.date(2026, 7, 1)) == []
    config, _ = config_with(tmp_path / "zero", rsss_edit=("local_days_per_period: 2",
                                                          "local_days_per_period: 0"))
    assert missing_local_days(config, dt.date(2026, 7, 1)) == []


def test_a_calendar_counts_the_local_days_it_inherits(tmp_path: Path) -> None:
    """A calendar that extends rsss counts rsss's local days with its own; rsss does not
    count those of the calendars that extend it."""
    config_with(tmp_path, DEC24)
    (tmp_path / "schedules" / "calendars" / "site.yaml").write_text(
        "name: Site\nextends: rsss\nlocal_days_per_period: 2\nholidays:" + DEC31,
        encoding="utf-8")
    config, _ = parse(tmp_path)
    assert config.schedule is None  # parse() only: the function builds the schedule itself
    warnings = missing_local_days(config, dt.date(2026, 7, 1))
    assert [w.key for w in warnings] == ["calendars.rsss.local_days_per_period"]
    assert "1 jour local inscrit sur 2" in warnings[0].message


def test_a_local_day_closes_like_any_holiday(tmp_path: Path) -> None:
    _, schedule = config_with(tmp_path, LOCAL_DAYS_2026)
    [eve] = [h for h in schedule.holidays("rsss", 2026) if h.date == dt.date(2026, 12, 24)]
    assert eve.local and eve.start == dt.time(12, 0) and eve.name == "Veille de Noël"
    assert not any(h.local for h in schedule.holidays("gouvernement", 2026))


@pytest.mark.parametrize(("day", "first"), [
    ("2026-06-30", "2025-07-01"), ("2026-07-01", "2026-07-01"), ("2026-12-31", "2026-07-01"),
    ("2027-01-01", "2026-07-01"), ("2028-02-29", "2027-07-01"),
])
def test_local_period(day: str, first: str) -> None:
    start, end = local_period(dt.date.fromisoformat(day))
    assert start == dt.date.fromisoformat(first)
    assert end == start.replace(year=start.year + 1)


# --------------------------------------------------------------------------- what is shipped


def test_no_invented_local_day_is_shipped() -> None:
    config, _ = parse(REPO)
    schedule, problems = build_schedule(config)
    assert problems == []
    for year in range(2025, 2031):
        days = schedule.holidays("rsss", year)
        assert not [h for h in days if h.local or h.start is not None], year
        law = {h.date for h in schedule.holidays("gouvernement", year)}
        assert {h.date for h in days} == law, year  # the 11 days, no local one
    assert "local: true" not in "\n".join(
        line for line in (REPO / RSSS).read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#"))


def test_the_shipped_line_warns_until_the_days_are_listed() -> None:
    config, _ = parse(REPO)
    warnings = missing_local_days(config, dt.date(2026, 12, 1))
    assert periods(warnings) == ["2026-2027", "2027-2028"]
    assert {w.where.file for w in warnings} == {RSSS}
