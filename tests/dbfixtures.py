"""Database fixtures: every storage test runs on SQLite and on a real PostgreSQL.

Loaded by ``tests/conftest.py`` (``pytest_plugins = ["dbfixtures"]``).

PostgreSQL comes from ``IVR_TEST_POSTGRES_URL`` when set (a database whose name contains
"test": every test drops all its tables), otherwise from a throwaway cluster this module starts
once per session with Debian's ``initdb``/``pg_ctl`` (``apt-get install postgresql``;
``.ci/run`` does it). Without those binaries the PostgreSQL half is skipped with a visible
reason, unless ``IVR_REQUIRE_POSTGRES`` is set (CI), where it fails instead. The terminal
summary says how each backend fared. ``postgres_cluster`` hands that throwaway server to the
fault tests (``tests/test_faults.py``), which stop and restart it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

BACKENDS = ("sqlite", "postgresql")
NO_POSTGRES = ("PostgreSQL not installed (apt-get install postgresql): "
               "storage tests ran on SQLite only")
PG_TABLE_RESET_TIMEOUT = "5s"


# ---------------------------------------------------------------------- a throwaway cluster


def _pg_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl, else PATH."""

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.split("/postgresql/")[1])[:2])

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if os.access(Path(candidate) / "initdb", os.X_OK) and os.access(
                Path(candidate) / "pg_ctl", os.X_OK):
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A private PostgreSQL server in a temporary directory, trusting local connections."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        root = os.geteuid() == 0
        # As root the server runs as postgres, who must reach the directory: /tmp, not $TMPDIR.
        self.dir = Path(tempfile.mkdtemp(prefix="ivr-pg-", dir="/tmp" if root else None))
        self.data = self.dir / "data"
        self.port = 0
        # initdb refuses to run as root: run the server as the postgres user then.
        self.as_user: list[str] = []
        if root:
            runuser = shutil.which("runuser")
            self.as_user = [runuser, "-u", "postgres", "--"] if runuser else []
            if not self.as_user:
                raise RuntimeError("running as root without runuser: cannot start PostgreSQL")
            shutil.chown(self.dir, user="postgres")

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [*self.as_user, *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, cwd=self.dir)
        if result.returncode:
            log = self.dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}{tail}")
        return result

    def start(self) -> str:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        for attempt in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port()
            try:
                self._start_server()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _start_server(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                   f"-c unix_socket_directories={self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=100 -c TimeZone=UTC")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.dir / "server.log"), "-o", options, "-w", "-t", "30", "start")

    def pause(self) -> None:
        """Stop the server as an outage would (its clients are cut off); its data is kept.

        A fast shutdown, not an immediate one: with ``synchronous_commit=off`` a crash may lose
        the last commits, a choice of this test server, not something the application did.
        """
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                  "-t", "30", "stop", timeout=60)

    def resume(self) -> None:
        """Start a paused server again, on the same port and with the same data."""
        if not (self.data / "postmaster.pid").exists():
            self._start_server()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop", timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def _psycopg_url(url: str) -> str:
    """A libpq URL (no ``+psycopg`` driver suffix) for psycopg.connect."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _admin_execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(url), autocommit=True, connect_timeout=5) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster | None]:
    """The throwaway server behind ``postgres_url``, None with ``IVR_TEST_POSTGRES_URL``.

    Fault tests stop and restart it (``pause``/``resume``); an external server is not theirs to.
    """
    if os.environ.get("IVR_TEST_POSTGRES_URL"):
        yield None
        return
    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("IVR_REQUIRE_POSTGRES"):
            pytest.fail(f"IVR_REQUIRE_POSTGRES is set but {NO_POSTGRES}")
        pytest.skip(NO_POSTGRES)
    cluster = Cluster(bindir)
    try:
        server = cluster.start()
        _admin_execute(server, "CREATE DATABASE ivr_test TEMPLATE template0")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: Cluster | None) -> str:
    """The URL of an empty PostgreSQL database for this session (skips if none can be had)."""
    external = os.environ.get("IVR_TEST_POSTGRES_URL")
    if external:
        if "test" not in (make_url(external).database or ""):
            pytest.fail("IVR_TEST_POSTGRES_URL must name a database with 'test' in its name: "
                        "every test drops all of its tables")
        return external
    assert postgres_cluster is not None
    return f"postgresql://postgres@127.0.0.1:{postgres_cluster.port}/ivr_test"


def reset_postgres(url: str) -> None:
    """Drop every table of the database's current schema: each test starts from nothing."""
    import psycopg

    with psycopg.connect(_psycopg_url(url), autocommit=True, connect_timeout=5) as connection:
        connection.execute(f"SET lock_timeout = '{PG_TABLE_RESET_TIMEOUT}'")
        tables = [row[0] for row in connection.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()")]
        if tables:
            connection.execute(f"DROP TABLE {', '.join(tables)} CASCADE")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- per-test fixtures


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once on SQLite (a file) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    url = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return url


@pytest.fixture
def make_store(database_url: str) -> Iterator:
    """make_store() → a new migrated ``Store`` on the test's database; all disposed after."""
    from ivr import migrations
    from ivr.store import Store

    stores: list[Store] = []

    def build(url: str | None = None) -> Store:
        store = Store(url or database_url)
        stores.append(store)
        migrations.upgrade(store.engine)
        return store

    yield build
    for store in stores:
        store.engine.dispose()


@pytest.fixture
def store(make_store):
    """A migrated ``ivr.store.Store`` (the parametrized backend), disposed after the test."""
    return make_store()


# ---------------------------------------------------------------------- the summary


_outcomes: dict[str, Counter[str]] = {name: Counter() for name in BACKENDS}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("database_url") if callspec is not None else None
    if backend in _outcomes:
        counts = _outcomes[backend]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            counts["error" if report.when == "setup" and report.failed else report.outcome] += 1
        elif report.when == "teardown" and report.failed:
            counts["error"] += 1
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if not any(_outcomes.values()):
        return
    terminalreporter.section("storage backends")
    for name in BACKENDS:
        counts = _outcomes[name]
        summary = (", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
                   or "not run")
        terminalreporter.write_line(f"{name}: {summary}")


# ---------------------------------------------------------------------- the call path


@contextlib.contextmanager
def connections_tried_by_this_thread(store: Any) -> Iterator[list[str]]:
    """The database connections this thread tries to open while inside: the call path's.
    With a database that cannot be reached, any use of it starts with such a try."""
    me = threading.current_thread()
    tried: list[str] = []

    def spy(dialect, connection_record, cargs, cparams) -> None:
        if threading.current_thread() is me:
            tried.append(str(store.engine.url))

    event.listen(store.engine, "do_connect", spy)
    try:
        yield tried
    finally:
        event.remove(store.engine, "do_connect", spy)
