"""Opening hours and holidays as a caller meets them: exact minutes, DST, Québec's calendars."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from test_local_days import LOCAL_DAYS_2026

import ivr.schedule as schedule_module
from ivr import cli_schedule
from ivr.config import parse
from ivr.schedule import TZ, Holiday, ProviderState, Schedule
from ivr.schedule_build import build_schedule

REPO = Path(__file__).resolve().parent.parent


def _build(directory: Path) -> Schedule:
    config, _ = parse(directory)
    schedule, problems = build_schedule(config)
    assert problems == []
    return schedule


@pytest.fixture(scope="module")
def sched() -> Schedule:
    return _build(REPO)


RSSS_WITH_LOCAL_DAYS = (REPO / "schedules" / "calendars" / "rsss.yaml").read_text(
    encoding="utf-8") + LOCAL_DAYS_2026  # 24 December from noon, 31 December (2026-2027)


@pytest.fixture(scope="module")
def local_days(tmp_path_factory) -> Schedule:
    """The shipped schedule with two local days listed, as an administrator would add them
    (the shipped calendar lists none)."""
    return custom(tmp_path_factory.mktemp("local"),
                  (REPO / "schedules" / "providers.yaml").read_text(encoding="utf-8"),
                  {"rsss": RSSS_WITH_LOCAL_DAYS})


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def local(text: str) -> dt.datetime:
    """A Montréal wall-clock time, as the tests think about it."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


def custom(tmp_path: Path, providers: str, calendars: dict[str, str] | None = None) -> Schedule:
    """A schedule from YAML snippets, with the shipped calendars unless replaced."""
    (tmp_path / "schedules" / "calendars").mkdir(parents=True)
    (tmp_path / "schedules" / "providers.yaml").write_text(providers, encoding="utf-8")
    shipped = {p.stem: p.read_text(encoding="utf-8")
               for p in (REPO / "schedules" / "calendars").glob("*.yaml")}
    for cid, text in {**shipped, **(calendars or {})}.items():
        (tmp_path / "schedules" / "calendars" / f"{cid}.yaml").write_text(text, encoding="utf-8")
    return _build(tmp_path)


# --------------------------------------------------------------------------- open / closed

CASES = [
    # provider, instant, open, id
    # exact minutes (2027-03-16 is a Tuesday, EDT)
    ("csi", "2027-03-16T06:59:00-04:00", False, "csi-06h59-closed"),
    ("csi", "2027-03-16T07:00:00-04:00", True, "csi-07h00-open"),
    ("csi", "2027-03-16T16:59:59-04:00", True, "csi-16h59m59-open"),
    ("csi", "2027-03-16T17:00:00-04:00", False, "csi-17h00-closed"),
    ("gbm", "2027-03-16T07:00:00-04:00", True, "gbm-07h00-open"),
    ("gbm", "2027-03-16T17:00:00-04:00", False, "gbm-17h00-closed"),
    ("audiovisuel", "2027-03-16T07:59:00-04:00", False, "av-07h59-closed"),
    ("audiovisuel", "2027-03-16T08:00:00-04:00", True, "av-08h00-open"),
    ("audiovisuel", "2027-03-16T15:59:00-04:00", True, "av-15h59-open"),
    ("audiovisuel", "2027-03-16T16:00:00-04:00", False, "av-16h00-closed"),
    ("reacts", "2027-03-16T08:59:00-04:00", False, "reacts-08h59-closed"),
    ("reacts", "2027-03-16T09:00:00-04:00", True, "reacts-09h00-open"),
    ("reacts", "2027-03-16T17:00:00-04:00", False, "reacts-17h00-closed"),
    ("cssns", "2027-03-16T06:59:00-04:00", False, "cssns-06h59-closed"),
    ("cssns", "2027-03-16T17:30:00-04:00", True, "cssns-17h30-open"),
    ("cssns", "2027-03-16T17:59:00-04:00", True, "cssns-17h59-open"),
    ("cssns", "2027-03-16T18:00:00-04:00", False, "cssns-18h00-closed"),
    ("dsp", "2027-03-16T09:00:00-04:00", True, "dsp-09h00-open"),
    ("dsp", "2027-03-16T08:59:00-04:00", False, "dsp-08h59-closed"),
    # weekends
    ("csi", "2027-03-13T10:00:00-05:00", False, "csi-saturday-closed"),
    ("cssns", "2027-03-14T12:00:00-04:00", False, "cssns-sunday-closed"),
    # DST spring forward 2027-03-14: the same UTC time is an hour later on the wall clock
    ("csi", "2027-03-08T12:00:00+00:00", True, "dst-before-12utc-is-07h-est-open"),
    ("csi", "2027-03-08T11:30:00+00:00", False, "dst-before-1130utc-is-06h30-est-closed"),
    ("csi", "2027-03-15T11:30:00+00:00", True, "dst-after-1130utc-is-07h30-edt-open"),
    ("csi", "2027-03-15T10:59:00+00:00", False, "dst-after-1059utc-is-06h59-edt-closed"),
    ("csi", "2027-03-15T21:00:00+00:00", False, "dst-after-21utc-is-17h-edt-closed"),
    ("cda", "2027-03-14T07:30:00+00:00", True, "dst-gap-cda-open"),
    # DST fall back 2026-11-01
    ("csi", "2026-10-30T11:00:00+00:00", True, "dst-fall-before-11utc-is-07h-edt-open"),
    ("csi", "2026-11-02T11:59:00+00:00", False, "dst-fall-after-1159utc-is-06h59-est-closed"),
    ("csi", "2026-11-02T12:00:00+00:00", True, "dst-fall-after-12utc-is-07h-est-open"),
    ("csi", "2026-11-02T21:59:00+00:00", True, "dst-fall-after-2159utc-is-16h59-est-open"),
    ("csi", "2026-11-02T22:00:00+00:00", False, "dst-fall-after-22utc-is-17h-est-closed"),
    ("cda", "2026-11-01T05:30:00+00:00", True, "dst-repeated-hour-1st-cda-open"),
    ("cda", "2026-11-01T06:30:00+00:00", True, "dst-repeated-hour-2nd-cda-open"),
    # Christmas 2026 (a Friday)
    ("csi", "2026-12-25T10:00:00-05:00", False, "christmas-csi-closed"),
    ("cssns", "2026-12-25T10:00:00-05:00", False, "christmas-cssns-closed"),
    ("reacts", "2026-12-25T10:00:00-05:00", False, "christmas-reacts-closed"),
    ("cda", "2026-12-25T10:00:00-05:00", True, "christmas-cda-open"),
    # no local day is shipped: 24 and 31 December 2026 are working days
    ("csi", "2026-12-24T13:00:00-05:00", True, "dec24-13h-csi-open-without-local-days"),
    ("csi", "2026-12-31T10:00:00-05:00", True, "dec31-csi-open-without-local-days"),
    # 2 January: RSSS and government, not the law
    ("csi", "2026-01-02T10:00:00-05:00", False, "jan2-csi-closed"),
    ("cssns", "2026-01-02T10:00:00-05:00", False, "jan2-cssns-closed"),
    ("reacts", "2026-01-02T10:00:00-05:00", True, "jan2-reacts-open"),
    # 25 Dec 2027 is a Saturday: art. 60 moves nothing, so Monday the 27th is worked
    ("csi", "2027-12-27T10:00:00-05:00", True, "christmas-saturday-no-substitute-csi"),
    ("reacts", "2027-12-27T10:00:00-05:00", True, "christmas-saturday-no-substitute-reacts"),
    # Easter 2027
    ("csi", "2027-03-26T10:00:00-04:00", False, "good-friday-csi-closed"),
    ("cssns", "2027-03-26T10:00:00-04:00", False, "good-friday-cssns-closed"),
    ("reacts", "2027-03-26T10:00:00-04:00", False, "good-friday-reacts-closed"),
    ("csi", "2027-03-29T10:00:00-04:00", False, "easter-monday-csi-closed"),
    ("cssns", "2027-03-29T10:00:00-04:00", False, "easter-monday-cssns-closed"),
    ("reacts", "2027-03-29T10:00:00-04:00", True, "easter-monday-reacts-open"),
    # moved days of 2029: 24 June and 1 July are Sundays
    ("csi", "2029-06-22T10:00:00-04:00", True, "2029-jun22-friday-open"),
    ("csi", "2029-06-25T10:00:00-04:00", False, "2029-jun25-moved-csi-closed"),
    ("reacts", "2029-06-25T10:00:00-04:00", False, "2029-jun25-moved-reacts-closed"),
    ("csi", "2029-06-26T10:00:00-04:00", True, "2029-jun26-open"),
    ("csi", "2029-07-02T10:00:00-04:00", False, "2029-jul2-moved-csi-closed"),
    ("cssns", "2029-07-02T10:00:00-04:00", False, "2029-jul2-moved-cssns-closed"),
    ("csi", "2029-07-03T10:00:00-04:00", True, "2029-jul3-open"),
    # the usual days
    ("csi", "2027-05-24T10:00:00-04:00", False, "patriotes-2027-same-monday-as-victoria-day"),
    ("csi", "2026-05-18T10:00:00-04:00", False, "patriotes-2026"),
    ("csi", "2027-06-24T10:00:00-04:00", False, "fete-nationale-2027"),
    ("csi", "2027-07-01T10:00:00-04:00", False, "canada-day-2027"),
    ("csi", "2027-09-06T10:00:00-04:00", False, "labour-day-2027"),
    ("csi", "2027-10-11T10:00:00-04:00", False, "thanksgiving-2027"),
    ("csi", "2027-01-01T10:00:00-05:00", False, "new-year-2027"),
    # holidays elsewhere in Canada, working days in Québec
    ("csi", "2027-02-15T10:00:00-05:00", True, "family-day-not-in-quebec"),
    ("cssns", "2027-02-15T10:00:00-05:00", True, "family-day-not-in-quebec-cssns"),
    ("csi", "2027-08-02T10:00:00-04:00", True, "civic-holiday-not-in-quebec"),
    ("csi", "2026-11-11T10:00:00-05:00", True, "remembrance-day-not-in-quebec"),
    ("csi", "2026-09-30T10:00:00-04:00", True, "truth-reconciliation-not-in-quebec"),
    ("reacts", "2026-09-30T10:00:00-04:00", True, "truth-reconciliation-reacts"),
    # the CDA is always reachable; the teams without hours never are
    ("cda", "2027-03-13T03:00:00-05:00", True, "cda-saturday-night"),
    ("cda", "2027-03-16T12:00:00-04:00", True, "cda-weekday"),
    ("telesante", "2027-03-16T10:00:00-04:00", False, "telesante-no-hours"),
    ("equipe_soins", "2027-03-16T10:00:00-04:00", False, "equipe-soins-no-hours"),
    ("nobody", "2027-03-16T10:00:00-04:00", False, "unknown-provider"),
]


@pytest.mark.parametrize(("provider", "instant", "expected"),
                         [c[:3] for c in CASES], ids=[c[3] for c in CASES])
def test_is_open(sched: Schedule, provider: str, instant: str, expected: bool) -> None:
    now = at(instant)
    assert sched.is_open(provider, now) is expected
    assert sched.state(provider, now).open is expected


LOCAL_CASES = [
    # 2026-12-24: an RSSS local day from 12:00 only
    ("csi", "2026-12-24T11:00:00-05:00", True, "dec24-11h-csi-open"),
    ("csi", "2026-12-24T11:59:00-05:00", True, "dec24-11h59-csi-open"),
    ("csi", "2026-12-24T12:00:00-05:00", False, "dec24-12h-csi-closed"),
    ("csi", "2026-12-24T13:00:00-05:00", False, "dec24-13h-csi-closed"),
    ("cssns", "2026-12-24T13:00:00-05:00", True, "dec24-13h-cssns-open"),
    # 2026-12-31: an RSSS local day, not a government one
    ("csi", "2026-12-31T10:00:00-05:00", False, "dec31-csi-closed"),
    ("cssns", "2026-12-31T10:00:00-05:00", True, "dec31-cssns-open"),
    # a local day is for its period only
    ("csi", "2027-12-24T13:00:00-05:00", True, "dec24-2027-csi-open"),
    ("csi", "2027-12-31T10:00:00-05:00", True, "dec31-2027-csi-open"),
]


@pytest.mark.parametrize(("provider", "instant", "expected"),
                         [c[:3] for c in LOCAL_CASES], ids=[c[3] for c in LOCAL_CASES])
def test_is_open_on_local_days(local_days: Schedule, provider: str, instant: str,
                               expected: bool) -> None:
    now = at(instant)
    assert local_days.is_open(provider, now) is expected
    assert local_days.state(provider, now).open is expected


def test_naive_datetime_is_refused(sched: Schedule) -> None:
    naive = dt.datetime(2027, 3, 16, 10, 0)
    with pytest.raises(ValueError, match="aware"):
        sched.is_open("csi", naive)
    with pytest.raises(ValueError):
        sched.state("csi", naive)
    with pytest.raises(ValueError):
        sched.reopening_text("csi", naive)


def test_server_time_zone_does_not_matter(sched: Schedule, monkeypatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    instants = [c[:2] for c in CASES]
    expected = [sched.state(p, at(i)) for p, i in instants]
    fresh = _build(REPO)  # nothing cached yet: computed under the foreign zone
    try:
        for zone in ("Asia/Tokyo", "Pacific/Kiritimati", "America/Los_Angeles"):
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            assert [fresh.state(p, at(i)) for p, i in instants] == expected
            assert fresh.reopening_text("csi", at("2026-12-24T18:00:00-05:00")) == "lundi à 7 h"
    finally:
        monkeypatch.undo()
        time.tzset()


# --------------------------------------------------------------------------- state


def test_state_open_friday_afternoon(sched: Schedule) -> None:
    state = sched.state("csi", local("2027-03-19T16:00"))
    assert state == ProviderState(True, local("2027-03-19T17:00"), local("2027-03-22T07:00"),
                                  None)
    assert state.until is not None and state.until.tzinfo is TZ


def test_state_open_until_the_partial_holiday(local_days: Schedule) -> None:
    state = local_days.state("csi", local("2026-12-24T11:00"))
    assert state.open and state.until == local("2026-12-24T12:00")
    assert state.next_open == local("2026-12-28T07:00")


def test_state_closed_by_partial_holiday_names_it(local_days: Schedule) -> None:
    state = local_days.state("csi", local("2026-12-24T13:00"))
    assert state == ProviderState(False, local("2026-12-28T07:00"), local("2026-12-28T07:00"),
                                  "Veille de Noël")


def test_state_closed_by_whole_day_holiday(sched: Schedule) -> None:
    state = sched.state("cssns", local("2027-03-29T10:00"))
    assert not state.open
    assert state.reason == "Lundi de Pâques"
    assert state.until == state.next_open == local("2027-03-30T07:00")


def test_state_closed_evening_has_no_reason(sched: Schedule) -> None:
    state = sched.state("csi", local("2027-03-16T19:00"))
    assert state == ProviderState(False, local("2027-03-17T07:00"), local("2027-03-17T07:00"),
                                  None)


def test_state_across_new_year(local_days: Schedule, sched: Schedule) -> None:
    # 31 Dec (local day), 1 Jan (law), 2-3 Jan weekend: the CSI reopens Monday 4 January.
    state = local_days.state("csi", local("2026-12-30T18:00"))
    assert state.until == local("2027-01-04T07:00")
    # Without the local day, it opens on the 31st.
    assert sched.state("csi", local("2026-12-30T18:00")).until == local("2026-12-31T07:00")


def test_state_across_dst(sched: Schedule) -> None:
    state = sched.state("csi", local("2027-03-12T18:00"))  # Friday, EST
    assert state.until == local("2027-03-15T07:00")  # Monday, EDT
    assert state.until is not None and state.until.utcoffset() == dt.timedelta(hours=-4)
    assert state.until == at("2027-03-15T11:00:00+00:00")


def test_state_always_and_never(sched: Schedule) -> None:
    now = local("2026-12-25T03:00")
    assert sched.state("cda", now) == ProviderState(True, None, None, None)
    assert sched.state("telesante", now) == ProviderState(False, None, None, None)
    assert sched.state("nobody", now) == ProviderState(False, None, None, None)


PROVIDERS = ["csi", "gbm", "audiovisuel", "reacts", "cssns", "dsp", "cda", "telesante"]


@settings(max_examples=300, deadline=None, database=None)
@given(provider=st.sampled_from(PROVIDERS),
       now=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2035, 12, 31),
                        timezones=st.just(dt.UTC)))
def test_until_is_where_the_state_changes(sched: Schedule, provider: str,
                                          now: dt.datetime) -> None:
    state = sched.state(provider, now)
    assert state.open == sched.is_open(provider, now)
    if state.until is not None:
        assert state.until > now
        just_before = state.until - dt.timedelta(microseconds=1)
        assert sched.is_open(provider, just_before) == state.open
        assert sched.is_open(provider, state.until) != state.open
    if state.next_open is not None:
        assert state.next_open > now
        assert sched.is_open(provider, state.next_open)
        assert not sched.is_open(provider, state.next_open - dt.timedelta(seconds=1))
    if provider == "cda":
        assert state.open
    if provider == "telesante":
        assert not state.open and state.until is None


# --------------------------------------------------------------------------- texts


@pytest.mark.parametrize(("provider", "text"), [
    ("csi", "du lundi au vendredi, de 7 h à 17 h, sauf les jours fériés"),
    ("cssns", "du lundi au vendredi, de 7 h à 18 h, sauf les jours fériés"),
    ("audiovisuel", "du lundi au vendredi, de 8 h à 16 h, sauf les jours fériés"),
    ("reacts", "du lundi au vendredi, de 9 h à 17 h, sauf les jours fériés"),
    ("cda", "en tout temps"),
    ("telesante", ""),
    ("equipe_soins", ""),
    ("nobody", ""),
], ids=lambda v: v if len(v) < 20 else None)
def test_hours_text(sched: Schedule, provider: str, text: str) -> None:
    assert sched.hours_text(provider) == text


@pytest.mark.parametrize(("provider", "instant", "text"), [
    ("reacts", "2027-03-16T08:00", "aujourd'hui à 9 h"),
    ("cssns", "2027-03-16T19:00", "demain à 7 h"),
    ("cssns", "2027-03-16T03:00", "aujourd'hui à 7 h"),
    ("cssns", "2027-03-19T19:00", "lundi à 7 h"),
    ("csi", "2026-12-24T18:00", "lundi à 7 h"),  # Noël, then the weekend
    ("csi", "2026-12-30T18:00", "demain à 7 h"),  # no local day shipped
    ("audiovisuel", "2027-03-25T17:00", "mardi à 8 h"),  # Easter: Fri and Mon off
    ("csi", "2027-03-16T10:00", "demain à 7 h"),  # open: the opening after this one
    ("telesante", "2027-03-16T10:00", ""),
    ("cda", "2027-03-16T10:00", ""),
    ("nobody", "2027-03-16T10:00", ""),
], ids=lambda v: v if len(v) < 20 else None)
def test_reopening_text(sched: Schedule, provider: str, instant: str, text: str) -> None:
    assert sched.reopening_text(provider, local(instant)) == text


@pytest.mark.parametrize(("instant", "text"), [
    ("2026-12-24T13:00", "lundi à 7 h"),  # closed from noon, then Noël and the weekend
    ("2026-12-30T18:00", "lundi à 7 h"),  # the local day, the 1st and the weekend
])
def test_reopening_text_after_local_days(local_days: Schedule, instant: str, text: str) -> None:
    assert local_days.reopening_text("csi", local(instant)) == text


PROVIDERS_WITH_EXCEPTIONS = """\
providers:
  csi:
    name: CSI
    calendar: rsss
    hours:
      mon-fri: ["07:00-17:00"]
    closures:
      - {from: 2026-12-19, to: 2026-12-28, name: Fermeture des fêtes, why: test}
      - {from: 2027-05-17, to: 2027-05-31, name: Déménagement, why: test}
  lunch:
    name: Avec dîner
    calendar: rsss
    hours:
      mon-thu: ["08:30-12:00", "13:00-16:30"]
      fri: ["08:30-12:00"]
      sat: ["09:00-12:00"]
  weekend:
    name: Fins de semaine
    hours:
      sat,sun: ["00:00-24:00"]
      wed: ["22:00-24:00"]
  daily:
    name: Tous les jours
    calendar: quebec
    hours:
      mon-sun: ["08:00-20:00"]
  saturday:
    name: Samedi exceptionnel
    calendar: rsss
    hours:
      mon-fri: ["07:00-17:00"]
    openings:
      - {from: "2027-03-13T09:00", to: "2027-03-13T12:00", name: Samedi de déploiement,
         why: test}
      - {from: 2027-12-25T10:00:00-05:00, to: 2027-12-25T11:00:00-05:00, name: Noël de garde,
         why: test}
  oncall:
    name: Garde
    hours: always
    closures:
      - {from: "2027-03-16T02:00", to: "2027-03-16T03:00", name: Maintenance, why: test}
"""

RSSS_WITH_EXCEPTIONS = RSSS_WITH_LOCAL_DAYS + """
closures:
  - name: Panne du réseau
    why: test
    from: 2027-03-17T12:00
    to: 2027-03-17T14:00
openings:
  - name: Ouverture exceptionnelle le 31 décembre
    why: test
    from: 2026-12-31
    to: 2026-12-31
"""


@pytest.fixture
def exceptions(tmp_path: Path) -> Schedule:
    return custom(tmp_path, PROVIDERS_WITH_EXCEPTIONS, {"rsss": RSSS_WITH_EXCEPTIONS})


def test_reopening_text_far_and_first_of_month(exceptions: Schedule) -> None:
    assert exceptions.reopening_text("csi", local("2026-12-21T10:00")) == \
        "le mardi 29 décembre à 7 h"
    assert exceptions.state("csi", local("2026-12-21T10:00")).reason == "Fermeture des fêtes"
    assert exceptions.reopening_text("csi", local("2027-05-18T10:00")) == \
        "le mardi 1er juin à 7 h"


def test_reopening_text_minutes_and_lunch(exceptions: Schedule) -> None:
    assert exceptions.reopening_text("lunch", local("2027-03-16T07:00")) == \
        "aujourd'hui à 8 h 30"
    assert exceptions.reopening_text("lunch", local("2027-03-16T12:15")) == "aujourd'hui à 13 h"
    assert exceptions.reopening_text("lunch", local("2027-03-19T12:15")) == "demain à 9 h"
    assert exceptions.state("lunch", local("2027-03-16T11:00")).until == \
        local("2027-03-16T12:00")


def test_hours_text_shapes(exceptions: Schedule) -> None:
    assert exceptions.hours_text("lunch") == (
        "du lundi au jeudi, de 8 h 30 à midi et de 13 h à 16 h 30, "
        "le vendredi, de 8 h 30 à midi, et le samedi, de 9 h à midi, sauf les jours fériés")
    assert exceptions.hours_text("weekend") == (
        "le mercredi, de 22 h à minuit, et le samedi et le dimanche, 24 h sur 24")
    assert exceptions.hours_text("daily") == "tous les jours, de 8 h à 20 h, sauf les jours fériés"
    assert exceptions.hours_text("oncall") == "en tout temps"


def test_open_across_midnight(exceptions: Schedule) -> None:
    state = exceptions.state("weekend", local("2027-03-17T23:00"))  # Wednesday night
    assert state.open and state.until == local("2027-03-18T00:00")
    state = exceptions.state("weekend", local("2027-03-13T10:00"))  # Saturday
    assert state.open and state.until == local("2027-03-15T00:00")  # through Sunday
    assert state.next_open == local("2027-03-17T22:00")


def test_daily_provider_closes_on_weekend_holiday(exceptions: Schedule) -> None:
    assert not exceptions.is_open("daily", local("2027-12-25T10:00"))  # a Saturday
    assert exceptions.is_open("daily", local("2027-12-26T10:00"))  # quebec: no 26 Dec


def test_provider_openings(exceptions: Schedule) -> None:
    assert exceptions.is_open("saturday", local("2027-03-13T09:00"))
    assert not exceptions.is_open("saturday", local("2027-03-13T12:00"))
    state = exceptions.state("saturday", local("2027-03-13T08:00"))
    assert state.until == local("2027-03-13T09:00")
    assert exceptions.is_open("saturday", local("2027-12-25T10:30"))  # open on Christmas
    assert not exceptions.is_open("saturday", local("2027-12-25T11:00"))


def test_calendar_closure_closes_every_provider_of_the_calendar(exceptions: Schedule) -> None:
    now = local("2027-03-17T13:00")
    assert not exceptions.is_open("csi", now)
    assert exceptions.state("csi", now).reason == "Panne du réseau"
    assert exceptions.state("csi", now).until == local("2027-03-17T14:00")
    assert exceptions.is_open("daily", now)  # quebec calendar: not concerned
    assert exceptions.closures("rsss")[0].name == "Panne du réseau"


def test_calendar_opening_cancels_the_holiday(exceptions: Schedule) -> None:
    assert exceptions.is_open("csi", local("2026-12-31T10:00"))
    assert not exceptions.is_open("csi", local("2026-12-31T06:00"))  # weekly hours still apply
    assert not exceptions.is_open("lunch", local("2027-01-01T10:00"))  # outside the opening


def test_always_provider_with_closure(exceptions: Schedule) -> None:
    assert exceptions.is_open("oncall", local("2027-03-16T01:59"))
    assert not exceptions.is_open("oncall", local("2027-03-16T02:30"))
    state = exceptions.state("oncall", local("2027-03-16T01:00"))
    assert state.open and state.until == local("2027-03-16T02:00")
    assert state.next_open == local("2027-03-16T03:00")
    assert exceptions.state("oncall", local("2027-03-16T02:30")).reason == "Maintenance"
    assert exceptions.state("oncall", local("2027-03-16T04:00")).until is None


# --------------------------------------------------------------------------- holidays


def test_calendar_ids(sched: Schedule) -> None:
    assert sched.calendar_ids() == ["gouvernement", "quebec", "rsss"]


def _dates(sched: Schedule, calendar_id: str, year: int) -> list[str]:
    return [h.date.isoformat() for h in sched.holidays(calendar_id, year)]


def test_rsss_2026_has_thirteen_days_with_its_local_days(local_days: Schedule) -> None:
    assert _dates(local_days, "rsss", 2026) == [
        "2026-01-01", "2026-01-02", "2026-04-03", "2026-04-06", "2026-05-18", "2026-06-24",
        "2026-07-01", "2026-09-07", "2026-10-12", "2026-12-24", "2026-12-25", "2026-12-26",
        "2026-12-31"]
    eve = local_days.holidays("rsss", 2026)[9]
    assert eve == Holiday(dt.date(2026, 12, 24), "Veille de Noël", eve.why, dt.time(12, 0),
                          "rsss", local=True)
    assert eve.why


def test_rsss_ships_eleven_days_and_no_local_day(sched: Schedule) -> None:
    assert _dates(sched, "rsss", 2026) == [
        "2026-01-01", "2026-01-02", "2026-04-03", "2026-04-06", "2026-05-18", "2026-06-24",
        "2026-07-01", "2026-09-07", "2026-10-12", "2026-12-25", "2026-12-26"]
    assert not any(h.local for h in sched.holidays("rsss", 2026))


def test_local_days_are_per_year(local_days: Schedule) -> None:
    assert "2027-12-31" not in _dates(local_days, "rsss", 2027)
    assert "2027-12-24" not in _dates(local_days, "rsss", 2027)


def test_gouvernement_and_quebec(sched: Schedule) -> None:
    assert _dates(sched, "gouvernement", 2027) == [
        "2027-01-01", "2027-01-02", "2027-03-26", "2027-03-29", "2027-05-24", "2027-06-24",
        "2027-07-01", "2027-09-06", "2027-10-11", "2027-12-25", "2027-12-26"]
    assert _dates(sched, "quebec", 2029) == [
        "2029-01-01", "2029-03-30", "2029-05-21", "2029-06-25", "2029-07-02", "2029-09-03",
        "2029-10-08", "2029-12-25"]
    inherited = {h.name: h.calendar_id for h in sched.holidays("rsss", 2027)}
    assert inherited["Noël"] == "quebec" and inherited["Lundi de Pâques"] == "rsss"


def test_every_holiday_is_named_and_explained(sched: Schedule) -> None:
    for calendar_id in sched.calendar_ids():
        for h in sched.holidays(calendar_id, 2026):
            assert h.name and h.why, h


def test_unknown_calendar(sched: Schedule) -> None:
    with pytest.raises(KeyError):
        sched.holidays("ontario", 2027)


def test_holidays_are_computed_once_per_year(monkeypatch) -> None:
    fresh = _build(REPO)
    first = fresh.holidays("rsss", 2031)
    fresh.is_open("csi", local("2031-06-24T10:00"))

    def boom(*args, **kwargs):
        raise AssertionError("RRULE parsed again")

    monkeypatch.setattr(schedule_module, "rrulestr", boom)
    assert fresh.holidays("rsss", 2031) == first
    assert not fresh.is_open("csi", local("2031-06-24T10:00"))
    assert fresh.is_open("csi", local("2031-06-25T10:00"))


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_config(monkeypatch, config_copy: Path):
    """The shipped config with the 2026-2027 local days added."""
    rsss = config_copy / "schedules" / "calendars" / "rsss.yaml"
    rsss.write_text(RSSS_WITH_LOCAL_DAYS, encoding="utf-8")
    config, _ = parse(config_copy)
    config = replace(config, schedule=build_schedule(config)[0])
    monkeypatch.setattr(cli_schedule, "_config", lambda: config)
    monkeypatch.delenv("IVR_NOW", raising=False)
    return config


def test_cli_holidays(cli_config) -> None:
    result = CliRunner().invoke(cli_schedule.holidays_command, ["2029", "--calendar", "quebec"])
    assert result.exit_code == 0, result.output
    assert "2029-06-25  lundi" in result.output
    assert "2029-06-24" not in result.output
    result = CliRunner().invoke(cli_schedule.holidays_command, ["2026", "--json"])
    data = json.loads(result.output)
    assert data["calendar"] == "rsss"
    assert {"date": "2026-12-24", "name": "Veille de Noël", "from": "12:00",
            "calendar": "rsss"}.items() <= data["holidays"][9].items()


def test_cli_holidays_unknown_calendar(cli_config) -> None:
    result = CliRunner().invoke(cli_schedule.holidays_command, ["2027", "--calendar", "x"])
    assert result.exit_code != 0 and "calendrier inconnu « x » (connus : " in result.output


def test_cli_status(cli_config, monkeypatch) -> None:
    result = CliRunner().invoke(cli_schedule.status_command,
                                ["--at", "2026-12-24T13:00:00-05:00", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["provider"]: r for r in json.loads(result.output)["providers"]}
    assert rows["csi"]["open"] is False
    assert rows["csi"]["reason"] == "Veille de Noël"
    assert rows["csi"]["reopening"] == "lundi à 7 h"
    assert rows["cssns"]["until"] == "2026-12-24T18:00-05:00"
    assert rows["cda"]["open"] is True
    monkeypatch.setenv("IVR_NOW", "2027-03-16T10:00:00-04:00")
    result = CliRunner().invoke(cli_schedule.status_command, [])
    assert "csi" in result.output and "ouvert jusqu'au 2027-03-16T17:00-04:00" in result.output


def test_cli_status_needs_an_offset(cli_config) -> None:
    result = CliRunner().invoke(cli_schedule.status_command, ["--at", "2027-03-16T10:00"])
    assert result.exit_code != 0 and "offset" in result.output


def test_cli_config_uses_ivr_config_dir(monkeypatch, tmp_path: Path) -> None:
    seen = []
    monkeypatch.setenv("IVR_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr("ivr.loading.load", lambda directory: seen.append(directory) or "cfg")
    assert cli_schedule._config() == "cfg"
    assert seen == [str(tmp_path)]
