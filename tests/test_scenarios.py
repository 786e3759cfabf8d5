"""The spec's calls (tests/data/scenarios.yaml, copied from shared/spec) end as they must."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml

SCENARIOS = yaml.safe_load((Path(__file__).parent / "data" / "scenarios.yaml").read_text())


def fold(text: str) -> str:
    """Case and accents ignored, as the scenarios say."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def check_expectations(result, expect: dict) -> None:
    summary = result.to_dict()
    dialled = summary["dials"]
    if "kind" in expect:
        assert result.kind in expect["kind"].split("|"), summary
    if "dial" in expect:
        assert dialled and dialled[0] == expect["dial"], summary
    if "send_digits" in expect:
        assert summary["send_digits"] == expect["send_digits"], summary
    if "dials" in expect:
        assert dialled == expect["dials"], summary
    for number in expect.get("never_dial", []):
        assert number not in dialled, summary
    heard = fold(" ".join(result.says))
    for words in expect.get("says", []):
        assert fold(str(words)) in heard, (words, result.says)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario(call, scenario):
    result = call(scenario["keys"], at=scenario["at"], dial=scenario.get("dial_outcome", ()))
    check_expectations(result, scenario["expect"])
    assert all(ex.status == 200 for ex in result.exchanges)


# What a scenario expects to hear, as an English caller hears it.
IN_ENGLISH = {"18": "6 p.m.", "reacts": "reacts"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario_in_english(call, scenario):
    """The same call after 9 at the French welcome ends the same way, and everything after
    the welcome is said in the English voice."""
    expect = dict(scenario["expect"])
    expect["says"] = [IN_ENGLISH[str(words)] for words in expect.get("says", [])]
    keys = f"9,{scenario['keys']}" if scenario["keys"] else "9"
    result = call(keys, at=scenario["at"], dial=scenario.get("dial_outcome", ()))
    check_expectations(result, expect)
    assert all(ex.status == 200 for ex in result.exchanges)
    welcome, *after = result.exchanges
    assert [s.language for s in welcome.speech][-1:] == ["en-US"]  # « press 9 »
    voices = {s.language for ex in after for s in ex.speech if not s.audio}
    assert voices == {"en-US"}, [s for ex in after for s in ex.speech]


# More calls of the same form, for the tree's other branches.
MORE = [
    ("staff, CIUSSS Internet on site, urgent -> CSI", "2,1,4,1,1",
     {"kind": "dial", "dial": "+15142514000", "send_digits": "5656"}),
    ("staff, Teams problem, urgent at night -> CDA", "2,1,5,1,1",
     {"kind": "dial", "dial": "+15142513050"}),
    ("staff, biomedical -> Octopus, no phone", "2,1,2",
     {"kind": "hangup", "never_dial": ["+15142514000", "+15142513050", "+18335640404"],
      "says": ["genie biomedical", "octopus"]}),
    ("staff, new telehealth project -> voicemail", "2,3,1", {"kind": "record"}),
    ("staff, Zoom -> Audiovisuel email", "2,3,2", {"kind": "hangup", "says": ["audiov"]}),
    ("patient, personal equipment, leave a message -> voicemail", "1,1,2,1",
     {"kind": "record", "never_dial": ["+15142514000"]}),
    ("patient, Teams question -> care team voicemail", "1,2,1", {"kind": "record"}),
    ("patient, provincial question on a weekday -> CSSNS", "1,2,2",
     {"kind": "dial", "dial": "+18335640404"}),
    ("staff shortcut *21 -> CSSNS", "*21", {"kind": "dial", "dial": "+18335640404"}),
    ("staff shortcut *90 -> voicemail", "*90", {"kind": "record"}),
    ("unknown shortcut three times -> voicemail", "*55,*55,*55", {"kind": "record"}),
    ("silence at the welcome menu -> voicemail after three prompts", ".,.,.",
     {"kind": "record"}),
    ("9 is English, and not a choice in English", "9,9,9,9", {"kind": "record"}),
    ("star goes back: patient then back to welcome then staff", "1,*,2,1,1,1",
     {"kind": "dial", "dial": "+15142514000"}),
    ("CSSNS no answer -> closed message, then voicemail", "2,1,5,2,2",
     {"kind": "record", "dials": ["+18335640404"], "says": ["18"]}),
]


@pytest.mark.parametrize("name,keys,expect", MORE, ids=[m[0] for m in MORE])
def test_more_calls(call, name, keys, expect):
    at = "2026-12-01T19:30:00-05:00" if "night" in name else "2026-12-01T10:00:00-05:00"
    dial = ["no-answer"] if "no answer" in name else ()
    result = call(keys, at=at, dial=dial)
    check_expectations(result, expect)


def test_cda_fails_too_goes_to_voicemail(call):
    result = call("2,1,1,1", dial=["no-answer", "busy"])
    assert [d.number for d in result.dials] == ["+15142514000", "+15142513050"]
    assert result.kind == "record"


def test_type_ahead_in_one_breath(call):
    """Staff type the whole path without waiting for prompts."""
    result = call("2111")
    assert result.kind == "dial"
    assert result.dials[0].number == "+15142514000"
