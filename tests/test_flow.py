"""The decision alone: ``ivr.flow`` needs no app, no request and no database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from ivr import REPO_ROOT
from ivr.flow import Ask, CallState, Goodbye, Transfer, Turn, Voicemail
from ivr.loading import load

CONFIG = load(REPO_ROOT)
TUESDAY = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("America/Toronto"))
NIGHT = datetime(2026, 12, 1, 19, 30, tzinfo=ZoneInfo("America/Toronto"))


class Urls:
    def gathered(self, node_id: str, query: Mapping[str, str]) -> str:
        return f"gathered:{node_id}:{dict(query)}"

    def dialled(self, node_id: str, step: int, query: Mapping[str, str]) -> str:
        return f"dialled:{node_id}:{step}"

    def recorded(self, node_id: str, query: Mapping[str, str]) -> str:
        return f"recorded:{node_id}"

    def recording_status(self, node_id: str, query: Mapping[str, str]) -> str:
        return f"https://line/recording/{node_id}"

    def shortcut(self, query: Mapping[str, str]) -> str:
        return "shortcut"

    def audio(self, filename: str) -> str:
        return f"audio:{filename}"


def press(keys: str, at: datetime = TUESDAY):
    """The decisions a caller meets pressing ``keys`` one menu after the other."""
    turn = Turn(CONFIG, at, Urls())
    decision = turn.enter(CONFIG.line.root, CallState())
    state = CallState()
    node = CONFIG.line.root
    for key in keys.split(","):
        assert isinstance(decision, Ask), decision
        state = CallState.from_query(_query(decision.action), CONFIG)
        turn = Turn(CONFIG, at, Urls())
        decision = turn.gathered(node, key, state)
        if isinstance(decision, Ask):
            node = decision.action.split(":")[1]
    return decision, turn


def _query(action: str) -> dict[str, str]:
    return eval(action.split(":", 2)[2])  # noqa: S307 (our own Urls' repr of a dict)


def test_the_urgent_line_dials_the_csi_by_day_and_the_cda_by_night():
    day, turn = press("2,1,1,1")
    assert isinstance(day, Transfer) and day.number == "+15142514000"
    assert day.send_digits and day.send_digits.endswith("5656")
    assert day.action == "dialled:urgence_ti:0"
    assert [n["kind"] for n in turn.notes] == ["key", "enter", "dial"]
    night, _ = press("2,1,1,1", NIGHT)
    assert isinstance(night, Transfer) and night.number == "+15142513050"


def test_a_patient_s_lent_equipment_ends_at_the_patients_box():
    decision, _ = press("1,1,1")
    assert isinstance(decision, Voicemail)
    assert decision.action == "recorded:vm_patients"
    assert decision.status_callback == "https://line/recording/vm_patients"


def test_the_state_in_a_tampered_query_stays_within_bounds():
    state = CallState.from_query({"p": "accueil.inconnu." + "personnel." * 100, "n": "99",
                                  "h": "1"}, CONFIG)
    assert set(state.path) <= {"accueil", "personnel"} and len(state.path) <= 24
    assert state.tries == CONFIG.line.max_tries and state.hinted


def test_silence_after_an_information_says_goodbye():
    turn = Turn(CONFIG, TUESDAY, Urls())
    decision = turn.gathered("personnel_biomedical", "", CallState(("accueil",), 0, True))
    assert isinstance(decision, Goodbye)


def test_the_decision_module_imports_nothing_of_flask_the_store_or_twiml():
    code = ("import sys, ivr.flow; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('flask', 'werkzeug', 'sqlalchemy', 'twilio') or m in ('ivr.store', 'ivr.twiml')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout
