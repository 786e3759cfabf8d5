from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr import REPO_ROOT, create_app, migrations, stop_threads
from ivr.services import services
from ivr.simulator import CallSimulator

pytest_plugins = ["dbfixtures"]  # database_url / make_store / store on SQLite and PostgreSQL

TOKEN = "test-auth-token"


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Every thread of the line's (``ivr-…``) that a test starts is over when the test and
    its fixtures end: a thread left running would work on, and fail, in later tests."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate()
            if t not in before and t.name.startswith("ivr-") and t.is_alive()]
    for thread in left:
        thread.join(timeout=10)  # told to stop already: only let it finish its pass
    running = [t.name for t in left if t.is_alive()]
    assert not running, f"threads still running after the test: {running}"


@pytest.fixture
def make_app(monkeypatch, tmp_path_factory):
    """An app built like production, with the test token and any overrides (a spool of its
    own); its threads are stopped when the test ends."""
    built = []
    for name in ("TWILIO_AUTH_TOKEN", "IVR_PUBLIC_URL", "IVR_NOW", "IVR_DEV", "IVR_CONFIG_DIR",
                 "DATABASE_URL", "IVR_TRUSTED_PROXIES", "IVR_VOICE"):
        monkeypatch.delenv(name, raising=False)

    def build(migrate: bool = True, **overrides):
        config = {"TESTING": True, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_WORKER": False,
                  "DATABASE_URL": "sqlite://", "IVR_NOW": "2026-12-01T10:00:00-05:00",
                  "IVR_RELOAD_SECONDS": 0, "SECRET_KEY": "test-secret-key",
                  "IVR_LOOKUP": False,  # no caller's line type asked of Twilio unless a test does
                  "IVR_SPOOL": str(tmp_path_factory.mktemp("spool") / "spool.sqlite3"),
                  **overrides}
        app = create_app(config)
        built.append(app)
        if migrate:
            migrations.upgrade(services(app).store.engine)
        return app

    yield build
    for app in built:
        stop_threads(app)
        services(app).store.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def call(make_app):
    """call(keys, at=..., dial=[...], caller=...) → CallResult through the real app."""

    def play(keys: str = "", *, at: str = "2026-12-01T10:00:00-05:00", dial=(),
             caller: str = "+15145550123", **overrides):
        app = make_app(IVR_NOW=at, **overrides)
        return CallSimulator(app, caller=caller, dial_outcomes=dial).play(keys)

    return play


@pytest.fixture
def config_copy(tmp_path) -> Path:
    """A writable copy of the shipped configuration, to break on purpose."""
    import shutil

    for folder in ("menus", "prompts", "schedules"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture
def twilio():
    """A local stand-in for Twilio's REST API that records what it receives."""
    from fake_twilio import FakeTwilio

    fake = FakeTwilio().start()
    yield fake
    fake.stop()


TEAM_ADDRESSES = {"telesante": "telesante@example.org", "patients": "patients@example.org"}


@pytest.fixture(scope="session")
def teams_config(tmp_path_factory) -> Path:
    """The shipped configuration with an address for each voicemail box's team."""
    import shutil

    folder = tmp_path_factory.mktemp("teams")
    for name in ("menus", "prompts", "schedules"):
        shutil.copytree(REPO_ROOT / name, folder / name)
    path = folder / "menus" / "destinations.yaml"
    text = path.read_text("utf-8")
    for box, address in TEAM_ADDRESSES.items():
        start = text.index(f"\n  {box}:\n")
        at = text.index("emails: []", start)
        text = text[:at] + f"emails: [{address}]" + text[at + len("emails: []"):]
    path.write_text(text, "utf-8")
    return folder


@pytest.fixture
def smtp(teams_config):
    """A real SMTP server (aiosmtpd) on 127.0.0.1, collecting the messages it gets; its
    settings() use ``teams_config``, whose boxes have addresses."""
    from smtp_server import SmtpServer

    server = SmtpServer().start()
    server.config_dir = str(teams_config)
    yield server
    server.stop()


@pytest.fixture
def console(app):
    """A test client logged in to the console as ``admin`` (see tests/console.py)."""
    from console import logged_in

    return logged_in(app)


@pytest.fixture
def written_events():
    """written_events(app) → the journal events the app's worker wrote from its spool, as
    dicts (call_sid, kind, node, detail), in order."""
    from ivr.store import CallEvent

    def read(app) -> list[dict]:
        parts = services(app)
        assert parts.worker.drain(), "the spool was not written"
        with parts.store.session() as session:
            rows = session.query(CallEvent).order_by(CallEvent.id).all()
            return [{"call_sid": e.call_sid, "kind": e.kind, "node": e.node,
                     "detail": e.detail} for e in rows]

    return read
