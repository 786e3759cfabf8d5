"""Two app instances sharing one database serve alternate requests of the same call."""

from __future__ import annotations

import itertools

import pytest
from conftest import TOKEN

from ivr import create_app, stop_threads
from ivr.services import services
from ivr.simulator import CallSimulator


class AlternatingSimulator(CallSimulator):
    """Each webhook request goes to the next instance, as behind a load balancer."""

    def __init__(self, apps, **kwargs) -> None:
        super().__init__(apps[0], **kwargs)
        self.clients = itertools.cycle([app.test_client() for app in apps])

    def post(self, url, params):
        self.client = next(self.clients)
        return super().post(url, params)


@pytest.fixture
def instances(database_url, tmp_path):
    """Two instances of the line on one database, as two servers would run it (each with
    its own spool, on its own disk)."""
    settings = {"TESTING": True, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_WORKER": False,
                "DATABASE_URL": database_url, "IVR_NOW": "2026-12-01T10:00:00-05:00"}
    apps = [create_app({**settings, "IVR_SPOOL": str(tmp_path / f"spool{n}.sqlite3")})
            for n in (1, 2)]
    yield apps
    for app in apps:
        stop_threads(app)
        services(app).store.engine.dispose()


def test_alternate_instances_route_and_store_one_voicemail(instances):
    apps = instances
    from ivr import migrations

    migrations.upgrade(services(apps[0]).store.engine)
    staff = AlternatingSimulator(apps, dial_outcomes=["no-answer", "completed"]).play("2,1,1,1")
    assert [d.number for d in staff.dials] == ["+15142514000", "+15142513050"]
    patient = AlternatingSimulator(apps).play("1,1,1")
    assert patient.kind == "record"
    for app in apps:
        assert services(app).worker.drain()
    for app in apps:
        voicemails = services(app).store.voicemails()
        assert [v.call_sid for v in voicemails] == [patient.call_sid]
        calls = {c.call_sid: c for c in services(app).store.calls()}
        assert calls[staff.call_sid].outcome == "answered"
        assert calls[patient.call_sid].outcome == "voicemail"
