"""Schedule mistakes an administrator can make, each reported with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.config import parse
from ivr.loading import check
from ivr.schedule_build import build_schedule
from ivr.yamlsource import Problem

REPO = Path(__file__).resolve().parent.parent
PROVIDERS = "schedules/providers.yaml"
AUDIOVISUEL = '\n      mon-fri: ["08:00-16:00"]'  # its hours line, unique in the file
RSSS = "schedules/calendars/rsss.yaml"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for folder in ("menus", "prompts", "schedules"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def edit(directory: Path, relative: str, old: str, new: str) -> int:
    """Replace ``old`` (once) in a copied file; returns the 1-based line where ``new`` starts."""
    path = directory / relative
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} in {relative}"
    before = text.index(old)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text.count("\n", 0, before) + 1 + new[: len(new) - len(new.lstrip("\n"))].count("\n")


def append(directory: Path, relative: str, extra: str) -> int:
    """Append to a copied file; returns the line of the first appended line."""
    path = directory / relative
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + extra, encoding="utf-8")
    return text.count("\n") + 1


def schedule_problems(directory: Path) -> list[Problem]:
    config, _ = parse(directory)
    return build_schedule(config)[1]


def assert_reported(directory: Path, file: str, line: int, *words: str) -> None:
    """The schedule builder reports it, and so does ``ivr check`` (the whole pipeline)."""
    for problems in (schedule_problems(directory), check(directory)):
        matching = [p for p in problems if p.where.file == file and p.where.line == line
                    and all(w in f"{p.key}: {p.message}" for w in words)]
        assert matching, "\n".join(str(p) for p in problems) or "no problem"


def test_shipped_schedule_has_no_problem() -> None:
    assert schedule_problems(REPO) == []
    schedule_files = [p for p in check(REPO) if p.where.file.startswith("schedules/")]
    assert schedule_files == []


def test_bad_rrule(copy: Path) -> None:
    line = edit(copy, "schedules/calendars/quebec.yaml", '"FREQ=YEARLY;BYEASTER=-2"',
                '"FREQ=YEARLY;BYEASTR=-2"')
    assert_reported(copy, "schedules/calendars/quebec.yaml", line, "rule", "règle RRULE invalide")


def test_rrule_that_never_happens(copy: Path) -> None:
    line = edit(copy, "schedules/calendars/quebec.yaml", '"FREQ=YEARLY;BYMONTH=9;BYDAY=+1MO"',
                '"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"')
    assert_reported(copy, "schedules/calendars/quebec.yaml", line, "rule", "aucune date")


def test_rrule_with_count(copy: Path) -> None:
    line = edit(copy, "schedules/calendars/quebec.yaml", '"FREQ=YEARLY;BYMONTH=10;BYDAY=+2MO"',
                '"FREQ=YEARLY;BYMONTH=10;BYDAY=+2MO;COUNT=3"')
    assert_reported(copy, "schedules/calendars/quebec.yaml", line, "COUNT")


def test_range_that_ends_before_it_starts(copy: Path) -> None:
    line = edit(copy, PROVIDERS, 'mon-fri: ["07:00-18:00"]', 'mon-fri: ["18:00-07:00"]')
    assert_reported(copy, PROVIDERS, line, "providers.cssns.hours.mon-fri", "finit avant")


def test_overlapping_ranges_in_one_list(copy: Path) -> None:
    line = edit(copy, PROVIDERS, AUDIOVISUEL,
                '\n      mon-fri: ["08:00-12:00", "11:00-16:00"]')
    assert_reported(copy, PROVIDERS, line, "providers.audiovisuel.hours", "chevauche")


def test_overlapping_ranges_across_day_keys(copy: Path) -> None:
    line = edit(copy, PROVIDERS, '      mon-fri: ["09:00-17:00"]\n\n  dsp:',
                '      mon-fri: ["09:00-17:00"]\n      wed: ["16:00-19:00"]\n\n  dsp:') + 1
    assert_reported(copy, PROVIDERS, line, "providers.reacts.hours.wed", "chevauche", "wed")


def test_touching_ranges_are_fine(copy: Path) -> None:
    edit(copy, PROVIDERS, AUDIOVISUEL, '\n      mon-fri: ["08:00-12:00", "12:00-16:00"]')
    assert schedule_problems(copy) == []


def test_unknown_weekday(copy: Path) -> None:
    line = edit(copy, PROVIDERS, AUDIOVISUEL, '\n      lun-ven: ["08:00-16:00"]')
    assert_reported(copy, PROVIDERS, line, "jour inconnu 'lun'")


@pytest.mark.parametrize("bad", ["25:00", "07:60", "24:00"])
def test_bad_time(copy: Path, bad: str) -> None:
    line = edit(copy, PROVIDERS, AUDIOVISUEL, f'\n      mon-fri: ["{bad}-16:00"]')
    assert_reported(copy, PROVIDERS, line, "pas une heure du jour")


LOCAL_DAY = """  - name: Veille de Noël
    date: 2026-12-24
    from: "12:00"
    local: true
    why: essai
"""


def test_unquoted_partial_day_time(copy: Path) -> None:
    line = append(copy, RSSS, LOCAL_DAY.replace('"12:00"', "12:00")) + 2
    assert_reported(copy, RSSS, line, "entre guillemets")


def test_unknown_calendar_of_a_provider(copy: Path) -> None:
    line = edit(copy, PROVIDERS, "calendar: gouvernement", "calendar: gouvernment")
    assert_reported(copy, PROVIDERS, line, "providers.cssns.calendar", "calendrier inconnu")


def test_unknown_calendar_extended(copy: Path) -> None:
    line = edit(copy, RSSS, "extends: quebec", "extends: qc")
    assert_reported(copy, RSSS, line, "extends", "calendrier inconnu 'qc'")


def test_extends_cycle(copy: Path) -> None:
    edit(copy, "schedules/calendars/quebec.yaml", "holidays:\n", "extends: rsss\nholidays:\n")
    problems = schedule_problems(copy)
    cycles = [p for p in problems if "s'étend lui-même" in p.message]
    assert len(cycles) == 1, problems
    assert cycles[0].where.file in (RSSS, "schedules/calendars/quebec.yaml")


def test_closure_that_ends_before_it_starts(copy: Path) -> None:
    line = append(copy, RSSS, "closures:\n  - name: Panne\n    why: essai\n"
                  "    from: 2027-03-10T14:00\n    to: 2027-03-10T12:00\n") + 4
    assert_reported(copy, RSSS, line, "closures[0].to", "avant de commencer")


def test_provider_opening_with_bad_date(copy: Path) -> None:
    line = edit(copy, PROVIDERS, "\n    hours: always\n",
                "\n    hours: always\n    openings:\n"
                "      - {from: '2027-02-30', to: 2027-03-01, name: Essai, why: essai}\n") + 2
    assert_reported(copy, PROVIDERS, line, "providers.cda.openings[0].from")


def test_holiday_without_name_or_date(copy: Path) -> None:
    line = append(copy, RSSS, "  - why: oubli du nom et de la date\n")
    assert_reported(copy, RSSS, line, "holidays[3].name", "manquant")
    assert_reported(copy, RSSS, line, "holidays[3]", "exactement une « rule » ou une « date »")


def test_bad_month_day(copy: Path) -> None:
    line = edit(copy, RSSS, 'date: "12-26"', 'date: "12-32"')
    assert_reported(copy, RSSS, line, "date", "mois-jour")


def test_unknown_key_in_a_holiday(copy: Path) -> None:
    line = append(copy, RSSS, LOCAL_DAY.replace("from:", "start:")) + 2
    assert_reported(copy, RSSS, line, "holidays[3].start", "réglage inconnu")


def test_a_local_day_is_accepted(copy: Path) -> None:
    append(copy, RSSS, LOCAL_DAY)
    assert schedule_problems(copy) == []


@pytest.mark.parametrize(("old", "new", "words"), [
    ("local: true", "local: oui", ("holidays[3].local", "attendu : true")),
    ("local: true", "local: 1", ("holidays[3].local", "attendu : true")),
    ("date: 2026-12-24", 'date: "12-24"', ("holidays[3].local", "date complète")),
    ("date: 2026-12-24", 'rule: "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24"',
     ("holidays[3].local", "date complète")),
], ids=["not-a-boolean", "a-number", "month-day", "rule"])
def test_bad_local_day(copy: Path, old: str, new: str, words: tuple[str, ...]) -> None:
    """A local day is decided for one period: a yearly one would close the line every year
    without anyone deciding it again."""
    first = append(copy, RSSS, LOCAL_DAY.replace(old, new))
    assert_reported(copy, RSSS, first + 3, *words)


@pytest.mark.parametrize("bad", ["deux", "true", "-1", "2.5", "[2]"])
def test_bad_local_days_per_period(copy: Path, bad: str) -> None:
    line = edit(copy, RSSS, "local_days_per_period: 2", f"local_days_per_period: {bad}")
    assert_reported(copy, RSSS, line, "calendars.rsss.local_days_per_period",
                    "attendu : un nombre de jours")


def test_unknown_key_in_a_calendar(copy: Path) -> None:
    line = edit(copy, RSSS, "local_days_per_period: 2", "jours_locaux: 2")
    assert_reported(copy, RSSS, line, "calendars.rsss.jours_locaux", "réglage inconnu")


def test_hours_not_a_mapping(copy: Path) -> None:
    line = edit(copy, PROVIDERS, "\n    hours: always", "\n    hours: toujours")
    assert_reported(copy, PROVIDERS, line, "providers.cda.hours", "always")


def test_builder_never_raises_on_garbage(copy: Path) -> None:
    (copy / RSSS).write_text("holidays: 3\nclosures: {a: b}\nextends: [x]\n", encoding="utf-8")
    edit(copy, PROVIDERS, AUDIOVISUEL, "\n      mon-fri: 8")
    problems = schedule_problems(copy)
    assert {p.where.file for p in problems} == {RSSS, PROVIDERS}


def test_a_closure_to_the_second_is_refused(copy: Path) -> None:
    """Schedules change on whole minutes only, which lets the line reuse a decision for the
    rest of its minute (voice.Answer)."""
    line = edit(copy, PROVIDERS, '    serves_patients: false     #',
                '    closures:\n      - {from: "2027-03-10T12:00:30", to: 2027-03-10T17:00, '
                'name: Formation, why: essai}\n    serves_patients: false     #')
    assert_reported(copy, PROVIDERS, line + 1, "à la minute")
