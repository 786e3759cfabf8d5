"""The call journal: each call's nodes, keys, destination and outcome, written off the call path."""

from __future__ import annotations

import pytest
from dbfixtures import connections_tried_by_this_thread

from ivr.services import services
from ivr.simulator import CallSimulator


def play(app, keys, dial=()):
    result = CallSimulator(app, dial_outcomes=dial).play(keys)
    worker = services(app).worker
    assert worker.drain(), worker.stats
    store = services(app).store
    [row] = [c for c in store.calls() if c.call_sid == result.call_sid]
    return result, row, store.events(result.call_sid)


@pytest.mark.parametrize("keys,dial,outcome,destination,branch", [
    ("2,1,1,1", (), "answered", "csi", "personnel"),
    ("2,1,1,1", ("no-answer", "busy"), "voicemail", "voicemail:telesante", "personnel"),
    ("2,1,3", (), "info", None, "personnel"),
    ("1,1,1", (), "voicemail", "voicemail:patients", "patient"),
    ("*11", (), "answered", "csi", "urgence_ti"),
], ids=["answered", "no-answer-then-voicemail", "info-goodbye", "patient-voicemail", "shortcut"])
def test_outcomes(app, keys, dial, outcome, destination, branch):
    result, row, events = play(app, keys, dial)
    assert row.outcome == outcome
    assert row.destination == destination
    assert row.branch == branch
    assert row.ended_at is not None and row.duration == 60
    assert row.caller == "+1514…23"  # masked: the journal keeps no phone number
    kinds = [e.kind for e in events]
    assert kinds[0] == "enter" and kinds[-1] == "status"
    pressed = [e.detail for e in events if e.kind == "key"]
    expected = ["*", "*11"] if keys.startswith("*") else keys.split(",")
    assert pressed[:len(expected)] == expected
    assert all(p == "(silence)" for p in pressed[len(expected):])  # then waited: goodbye


def test_hung_up_in_a_menu(app):
    """A caller who hangs up mid-menu: the status callback closes the call where they were."""
    sim = CallSimulator(app)
    sim.post("/voice", {})
    sim.post("/voice/input/accueil", {"Digits": "2"})
    sim.post("/voice/status", {"CallStatus": "completed", "CallDuration": "9"})
    services(app).worker.drain()
    [row] = services(app).store.calls()
    assert (row.outcome, row.last_node, row.duration) == ("hangup", "personnel", 9)


def test_dead_database_never_breaks_or_delays_a_call(make_app):
    """DATABASE_URL points at nothing: every call still routes without trying the database
    (the worker's thread does, later); the loss is counted."""
    app = make_app(DATABASE_URL="postgresql://ivr@127.0.0.1:1/nowhere", migrate=False,
                   IVR_WORKER=True)
    worker = services(app).worker
    with connections_tried_by_this_thread(services(app).store) as tried:
        results = [CallSimulator(app).play("2,1,1,1") for _ in range(3)]
    assert tried == []  # the webhooks only queued: no call waited on the dead server
    results.append(CallSimulator(app).play("1,1,1"))  # its voicemail is stored later
    assert [r.kind for r in results] == ["dial", "dial", "dial", "record"]
    assert results[0].dials[0].number == "+15142514000"
    assert worker.wait_for(lambda: worker.stats.failures > 0, timeout=60), worker.stats
    assert worker.pending > 0  # kept for later, not thrown away
