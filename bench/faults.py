"""Faults under load: calls through gunicorn while a worker dies, the database locks or goes.

Why: the line promises that no webhook waits for the database and that nothing it acknowledged
is lost (every webhook puts what it answered in the spool, a local SQLite file, before the
answer leaves; a worker thread per process writes the spool to the database). Only a real
server with real faults shows it. Each fault is a separate run on a fresh database and spool:
gunicorn (2 workers × 8 threads, as bench/load.py) takes a steady stream of signed calls played
the way Twilio does (bench/load.py's ``Caller``) while the fault is injected, ``/healthz`` is
polled throughout, then the server is stopped and what the database holds is compared with
what was acknowledged:

* every answered request's journal events (each event's ``uid`` is the request's fingerprint,
  computed here the way ``ivr.replays`` does), every answered call, every voicemail the caller
  was thanked for (« message enregistré ») or whose recording callback got its 204;
* webhook latency (p99, max) and the errors a caller would suffer (as bench/load.py counts
  them: non-2xx, connection error, timeout, bad TwiML, the app's apology);
* recovery: seconds from the end of the fault until ``/healthz`` shows that everything
  acknowledged before that end is written (spool ``pending`` 0, or its oldest row queued after
  the fault ended: new calls keep coming).

Faults (``--faults kill9,sqlite-lock``; default all):

    kill9             SIGKILL one gunicorn worker (not the arbiter) mid-load; gunicorn starts
                      another. Only requests the dead worker held may fail (in flight, or sent
                      on a keep-alive connection it owned); nothing answered is lost.
    sqlite-lock       another process holds an exclusive lock on the SQLite database for 10 s:
                      no webhook slower than --max-latency, everything written after.
    postgres-outage   PostgreSQL stopped at 5 s, a worker SIGKILLed at 15 s, PostgreSQL started
                      again at 27 s: every acknowledged voicemail stored, no journal loss.
    postgres-freeze   the postmaster and its backends SIGSTOPped for 20 s (a hung server: no
                      TCP error ever comes), then SIGCONT: no webhook slower than
                      --max-latency, /healthz within its own probe bound.

The PostgreSQL faults need Debian's ``initdb``/``pg_ctl`` (``apt-get install postgresql``); a
throwaway cluster is started as tests/dbfixtures.py does, else they are skipped with the
reason. ``--faults none`` plays the same load without a fault (a control run).

    .venv/bin/python bench/faults.py [--faults kill9,sqlite-lock] [--callers 24] [--keep]

Exit status: 0 when every expectation held, 1 when one did not (each is printed), 2 when a
server could not be started.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from _server import Server, ServerFailed, gunicorn, migrate, server_env, worker_pids
from load import (  # bench/load.py: the caller Twilio plays, the key mix, the server's settings
    DEFAULT_AT,
    Caller,
    CallFailed,
    gunicorn_settings,
    key_strings,
    percentile,
    scan_log,
)
from sqlalchemy import select

from ivr import REPO_ROOT
from ivr.loading import load
from ivr.security import sign
from ivr.store import Call, CallEvent, Store, Voicemail

try:  # /healthz's own bound on its database probe
    from ivr.health import PROBE_SECONDS
except ImportError:  # pragma: no cover - the module is being edited
    PROBE_SECONDS = 2.0

TESTS = REPO_ROOT / "tests"
HEALTH_EVERY = 0.25  # seconds between two /healthz polls
DRAIN_LIMIT = 20.0  # seconds after the load for the spool to empty before the server is stopped
EXAMPLES = 3  # unexpected errors printed per fault
# What a lost connection looks like to the caller, when the worker that held it is killed.
CUT = (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead,
       http.client.BadStatusLine)


# ---------------------------------------------------------------------- what the callers saw


@dataclass
class Sent:
    """One webhook request as the caller saw it."""

    webhook: str  # /voice, /voice/input, … (as bench/load.py groups them)
    call_sid: str
    started: float  # time.monotonic()
    ended: float
    ok: bool
    error: str | None = None
    cut: bool = False  # a connection error (no answer), not an answer Twilio would refuse
    reused: bool = False  # sent on a keep-alive connection, last answered at ``idle_since``
    idle_since: float | None = None
    fingerprint: str | None = None  # ivr.replays.fingerprint of the request, if it has notes


@dataclass
class Book:
    """Everything the callers saw, appended from their threads (list.append is atomic)."""

    sent: list[Sent] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)  # recording SIDs: thanked, or 204
    answered_calls: set[str] = field(default_factory=set)  # CallSids whose /voice got 200
    played: list[str] = field(default_factory=list)  # CallSids of the calls played

    @property
    def calls(self) -> int:
        return len(self.played)


def fingerprint(signature: str, url: str) -> str:
    """``ivr.replays.fingerprint`` of a request without an idempotency token: its signature
    and Flask's ``full_path`` (the decoded path, "?", the raw query string)."""
    split = urlsplit(url)
    return hashlib.sha256((signature + unquote(split.path) + "?" + split.query).encode()
                          ).hexdigest()


class FaultCaller(Caller):
    """bench/load.py's caller, with a pause between turns (a caller listening) and a record of
    every request: when, how it ended, and what the line promised in its answer."""

    def __init__(self, *args: Any, book: Book, pause: float, thanks: str, **kwargs: Any
                 ) -> None:
        super().__init__(*args, **kwargs)
        self.book = book
        self.pause = pause
        self.thanks = " ".join(thanks.lower().split())
        self.last_answer: float | None = None  # when this connection last got an answer

    def post(self, url: str, form: dict[str, str], *, callback: bool = False
             ) -> ET.Element | None:
        if self.run.requests and self.pause:
            time.sleep(self.pause * random.uniform(0.5, 1.5))
        path = urlsplit(url).path
        webhook = "/".join(path.split("/")[:3])
        # The recording callback is acknowledged without journal notes; every other webhook
        # of a call writes at least one event (enter, key, dial-result, recorded, status…).
        fp = None if webhook == "/voice/recording" else \
            fingerprint(sign(url, form, self.token), url)
        reused = self.conn.sock is not None
        record = Sent(webhook, self.run.sid, time.monotonic(), 0.0, False, reused=reused,
                      idle_since=self.last_answer if reused else None, fingerprint=fp)
        try:
            root = super().post(url, form, callback=callback)
        except CallFailed as exc:
            record.ended = time.monotonic()
            record.error = str(exc)
            record.cut = isinstance(exc.__cause__, CUT)
            self.last_answer = None  # the connection is closed after a failure
            self.book.sent.append(record)
            raise
        record.ended = self.last_answer = time.monotonic()
        record.ok = True
        self.book.sent.append(record)
        sid = form.get("RecordingSid")
        if webhook == "/voice" and root is not None:
            self.book.answered_calls.add(self.run.sid)
        elif webhook == "/voice/recording" and sid:
            self.book.acknowledged.add(sid)  # 204: Twilio will not send it again
        elif webhook == "/voice/record" and sid and root is not None and self.heard_thanks(root):
            self.book.acknowledged.add(sid)
        return root

    def heard_thanks(self, root: ET.Element) -> bool:
        spoken = " ".join(" ".join((v.text or "", *((c.text or "") for c in v))) for v in root
                          if v.tag in ("Say", "Gather"))
        return self.thanks in " ".join(spoken.lower().split())


def play_calls(server: Server, token: str, args: argparse.Namespace, until: float, book: Book,
               plans: Sequence[str], apology: str, thanks: str) -> list[threading.Thread]:
    """``args.callers`` callers, each playing calls back to back until ``until`` (monotonic);
    the threads, to join."""
    counter = itertools.count()

    def caller_loop(index: int) -> None:
        rng = random.Random(args.seed * 1000 + index)
        while time.monotonic() < until:
            n = next(counter)
            caller = FaultCaller(server.base, token, plans[n % len(plans)], rng,
                                 timeout=args.timeout, max_requests=40, apology=apology,
                                 book=book, pause=args.pause, thanks=thanks)
            book.played.append(caller.play().sid)

    threads = [threading.Thread(target=caller_loop, args=(i,), daemon=True, name=f"caller-{i}")
               for i in range(args.callers)]
    for thread in threads:
        thread.start()
    return threads


# ---------------------------------------------------------------------- /healthz


@dataclass
class Poll:
    sent: float  # time.monotonic()
    at: float  # time.time() when answered (the spool's ages are in epoch seconds)
    seconds: float
    status: int | None = None
    body: dict[str, Any] | None = None
    error: str | None = None


class HealthPoller:
    """GET /healthz every HEALTH_EVERY s on a fresh connection, until stopped."""

    def __init__(self, base: str) -> None:
        split = urlsplit(base)
        self.host, self.port = split.hostname or "127.0.0.1", split.port
        self.polls: list[Poll] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="healthz")

    def start(self) -> HealthPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.polls.append(self.poll())
            self._stop.wait(HEALTH_EVERY)

    def poll(self) -> Poll:
        started = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            raw = response.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            return Poll(started, time.time(), time.monotonic() - started, response.status, body)
        except (OSError, http.client.HTTPException) as exc:
            return Poll(started, time.time(), time.monotonic() - started,
                        error=f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()


def spool_of(poll: Poll) -> tuple[int, float | None] | None:
    """(pending, oldest_seconds) from a /healthz answer, None if it has no spool figures."""
    spool = (poll.body or {}).get("spool")
    if not isinstance(spool, dict) or not isinstance(spool.get("pending"), int):
        return None
    oldest = spool.get("oldest_seconds")
    return spool["pending"], oldest if isinstance(oldest, (int, float)) else None


def caught_up(poll: Poll, since_epoch: float) -> bool:
    """Everything acknowledged before ``since_epoch`` is written: nothing pending, or the oldest
    pending row was queued after it (0.1 s: oldest_seconds is rounded to a tenth)."""
    figures = spool_of(poll)
    if figures is None:
        return False
    pending, oldest = figures
    return pending == 0 or (oldest is not None and poll.at - oldest >= since_epoch - 0.05)


# ---------------------------------------------------------------------- faults


@dataclass
class Fault:
    name: str
    what: str
    duration: float  # seconds of load
    postgres: bool
    may_cut: bool  # a worker is killed: requests it held may fail
    max_latency: bool  # no webhook slower than --max-latency
    healthz_bound: bool  # /healthz within its probe bound
    # (seconds after the load starts, action(run) → what it did, for the timeline)
    steps: list[tuple[float, Callable[[Run], str]]]


@dataclass
class Run:
    """One fault's run: its server, its database, what happened when."""

    fault: Fault
    server: Server
    sqlite_path: Path | None
    cluster: Any  # tests/dbfixtures.Cluster for the PostgreSQL faults
    start: float  # time.monotonic() when the load started
    fault_end: float | None = None  # time.monotonic() when the last step was done
    fault_end_epoch: float | None = None  # the same, time.time()
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (s after start, what)
    kills: list[float] = field(default_factory=list)  # time.monotonic() of each SIGKILL
    frozen: list[int] = field(default_factory=list)
    lock: sqlite3.Connection | None = None

    def note(self, what: str) -> None:
        self.timeline.append((time.monotonic() - self.start, what))


def kill_worker(run: Run) -> str:
    workers = worker_pids(run.server.proc.pid)
    if not workers:
        raise RuntimeError("no gunicorn worker to kill")
    victim = random.choice(workers)
    os.kill(victim, signal.SIGKILL)
    run.kills.append(time.monotonic())
    threading.Thread(target=note_restart, args=(run, set(workers)), daemon=True).start()
    return f"SIGKILL worker {victim}"


def note_restart(run: Run, before: set[int]) -> None:
    """Note when gunicorn has started a worker in place of the killed one."""
    started = time.monotonic()
    while time.monotonic() - started < 15:
        new = set(worker_pids(run.server.proc.pid)) - before
        if new:
            run.note(f"worker {min(new)} started by gunicorn")
            return
        time.sleep(0.05)
    run.note("no new worker within 15 s")


def lock_sqlite(run: Run) -> str:
    assert run.sqlite_path is not None
    connection = sqlite3.connect(run.sqlite_path, timeout=10, isolation_level=None,
                                 check_same_thread=False)
    connection.execute("BEGIN EXCLUSIVE")
    run.lock = connection
    return "BEGIN EXCLUSIVE on the database, held"


def unlock_sqlite(run: Run) -> str:
    if run.lock is not None:
        run.lock.execute("ROLLBACK")
        run.lock.close()
        run.lock = None
    return "lock released"


def stop_postgres(run: Run) -> str:
    run.cluster.pause()
    return "PostgreSQL stopped (pg_ctl stop -m fast)"


def start_postgres(run: Run) -> str:
    run.cluster.resume()
    return "PostgreSQL started again"


def postgres_pids(cluster: Any) -> list[int]:
    """The postmaster and every process it started (backends, checkpointer, …)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    return [postmaster, *worker_pids(postmaster)]


def freeze_postgres(run: Run) -> str:
    postmaster = postgres_pids(run.cluster)[0]
    os.kill(postmaster, signal.SIGSTOP)  # first: it forks no new backend while we stop them
    run.frozen.append(postmaster)
    for _ in range(2):  # one forked while we listed is caught the second time
        for pid in worker_pids(postmaster):
            if pid not in run.frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                    run.frozen.append(pid)
    return f"SIGSTOP the postmaster and {len(run.frozen) - 1} backends"


def thaw_postgres(run: Run) -> str:
    for pid in reversed(run.frozen):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    count, run.frozen = len(run.frozen), []
    return f"SIGCONT ({count} processes)"


FAULTS = {f.name: f for f in (
    Fault("none", "no fault (control run)", 12, False, False, True, True, []),
    Fault("kill9", "SIGKILL one gunicorn worker mid-load", 16, False, True, False, False,
          [(6, kill_worker)]),
    Fault("sqlite-lock", "exclusive lock on the SQLite database for 10 s", 18, False, False,
          True, False, [(4, lock_sqlite), (14, unlock_sqlite)]),
    Fault("postgres-outage", "PostgreSQL down 5→27 s, a worker SIGKILLed at 15 s", 30, True,
          True, False, False, [(5, stop_postgres), (15, kill_worker), (27, start_postgres)]),
    Fault("postgres-freeze", "PostgreSQL SIGSTOPped for 20 s", 28, True, False, True, True,
          [(4, freeze_postgres), (24, thaw_postgres)]),
)}
DEFAULT_FAULTS = ("kill9", "sqlite-lock", "postgres-outage", "postgres-freeze")


# ---------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A throwaway cluster shared by the PostgreSQL faults (tests/dbfixtures.py's), started at
    the first one; ``skip`` says why there is none."""

    def __init__(self) -> None:
        self.cluster: Any = None
        self.skip: str | None = None
        self.admin_url: str | None = None
        self._tried = False

    def get(self) -> Any:
        if self._tried:
            return self.cluster
        self._tried = True
        try:
            sys.path.insert(0, str(TESTS))
            import dbfixtures  # tests/dbfixtures.py: how the tests find and start PostgreSQL
        except ImportError as exc:
            self.skip = f"tests/dbfixtures.py could not be imported ({exc})"
            return None
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(TESTS))
        bindir = dbfixtures._pg_bindir()
        if bindir is None:
            self.skip = "PostgreSQL not installed (no initdb/pg_ctl under " \
                        "/usr/lib/postgresql/*/bin or on PATH; apt-get install postgresql)"
            return None
        try:
            cluster = dbfixtures.Cluster(bindir)
            self.admin_url = cluster.start()
        except Exception as exc:
            self.skip = f"a throwaway PostgreSQL could not be started: " \
                        f"{' '.join(str(exc).split())[:300]}"
            return None
        self.cluster = cluster
        self._execute = dbfixtures._admin_execute
        return cluster

    def new_database(self, name: str) -> str:
        assert self.cluster is not None and self.admin_url is not None
        self._execute(self.admin_url, f"CREATE DATABASE {name} TEMPLATE template0")
        return f"postgresql://postgres@127.0.0.1:{self.cluster.port}/{name}"

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


# ---------------------------------------------------------------------- one run


@dataclass
class Result:
    fault: Fault
    skipped: str | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)
    requests: int = 0
    answered: int = 0
    errors: int = 0
    cut: int = 0  # of the errors: requests the killed worker held (in flight at the kill)
    cut_idle: int = 0  # of those: sent after the kill on a connection it had kept alive
    unexpected: list[str] = field(default_factory=list)
    p99: float = 0.0
    max: float = 0.0
    slowest: str = ""
    healthz_max: float = 0.0
    healthz_errors: int = 0
    degraded_seen: bool = False
    backlog: tuple[int, float] = (0, 0.0)  # the spool's largest pending and oldest_seconds
    acknowledged: int = 0
    voicemails_stored: int = 0
    voicemails_missing: int = 0
    calls: int = 0
    calls_answered: int = 0
    calls_in_journal: int = 0
    requests_journaled: int = 0
    requests_missing: int = 0
    recovery: float | None = None
    spool_left: int | None = None
    quarantined: int | None = None
    log_errors: int = 0
    failures: list[str] = field(default_factory=list)


def run_fault(fault: Fault, args: argparse.Namespace, postgres: Postgres, token: str,
              plans: Sequence[str], apology: str, thanks: str, say: Callable[[str], None]
              ) -> Result:
    result = Result(fault)
    cluster = None
    if fault.postgres:
        cluster = postgres.get()
        if cluster is None:
            result.skipped = postgres.skip
            return result
    tmp = Path(tempfile.mkdtemp(prefix=f"ivr-fault-{fault.name}-"))
    sqlite_path = None
    if cluster is not None:
        database_url = postgres.new_database("ivr_fault_" + fault.name.replace("-", "_"))
    else:
        sqlite_path = tmp / "ivr.sqlite3"
        database_url = f"sqlite:///{sqlite_path}"
    spool_path = tmp / "spool.sqlite3"  # a fresh spool, not the repository's instance/ one
    log_path = tmp / "gunicorn.log"
    env = {**server_env(database_url, args.at), "IVR_SPOOL": str(spool_path)}
    settings = gunicorn_settings(argparse.Namespace(workers=2, threads=8))
    book = Book()
    try:
        migrate(database_url)
        with gunicorn("app:app", settings,
                      lambda base: {**env, "TWILIO_AUTH_TOKEN": token, "IVR_PUBLIC_URL": base},
                      log_path) as server:
            run = Run(fault, server, sqlite_path, cluster, time.monotonic())
            poller = HealthPoller(server.base).start()
            try:
                say(f"[{fault.name}] gunicorn up at {server.base}; {args.callers} callers for "
                    f"{fault.duration:.0f} s: {fault.what}")
                callers = play_calls(server, token, args, run.start + fault.duration, book,
                                     plans, apology, thanks)
                for offset, action in fault.steps:
                    time.sleep(max(0.0, run.start + offset - time.monotonic()))
                    note = action(run)
                    run.fault_end, run.fault_end_epoch = time.monotonic(), time.time()
                    run.note(note)
                    say(f"[{fault.name}] {run.fault_end - run.start:5.1f} s  {note}")
                for thread in callers:
                    thread.join()
                say(f"[{fault.name}] load done ({book.calls} calls, {len(book.sent)} requests)"
                    f"; waiting for the spool to empty (at most {DRAIN_LIMIT:.0f} s)…")
                wait_for_spool(poller, DRAIN_LIMIT)
            finally:
                if run.frozen:  # never leave PostgreSQL frozen, whatever happened
                    thaw_postgres(run)
                if run.lock is not None:
                    unlock_sqlite(run)
                poller.stop()
            say(f"[{fault.name}] stopping gunicorn (SIGTERM, graceful)…")
        result.timeline = sorted(run.timeline)
        judge(result, args, book, poller.polls, run, final_state(database_url),
              spool_left(spool_path))
        result.log_errors = scan_log(log_path)["errors"]
    finally:
        if args.keep:
            say(f"[{fault.name}] kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def wait_for_spool(poller: HealthPoller, limit: float) -> None:
    """Until a /healthz answered after now says the spool is empty (or ``limit`` s)."""
    since = time.monotonic()
    while time.monotonic() - since < limit:
        for poll in reversed(poller.polls):
            if poll.sent < since:
                break
            figures = spool_of(poll)
            if figures is not None and figures[0] == 0:
                return
        time.sleep(HEALTH_EVERY)


def final_state(database_url: str) -> dict[str, set[str]]:
    """What the database holds once the server is stopped."""
    store = Store(database_url)
    try:
        with store.engine.connect() as connection:
            return {
                "calls": set(connection.scalars(select(Call.call_sid))),
                "fingerprints": {uid.split(":")[0] for uid in
                                 connection.scalars(select(CallEvent.uid)) if uid},
                "voicemails": set(connection.scalars(select(Voicemail.recording_sid))),
            }
    finally:
        store.engine.dispose()


def spool_left(path: Path) -> tuple[int, int] | None:
    """(pending, quarantined) rows in the spool file after the server stopped."""
    if not path.exists():
        return 0, 0
    try:
        connection = sqlite3.connect(path, timeout=5)
        try:
            return (connection.execute("SELECT count(*) FROM items").fetchone()[0],
                    connection.execute("SELECT count(*) FROM quarantine").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:
        return None


def judge(result: Result, args: argparse.Namespace, book: Book, polls: Sequence[Poll],
          run: Run, final: dict[str, set[str]], left: tuple[int, int] | None) -> None:
    """Fill ``result`` from what the callers saw and what was written; its failed
    expectations in ``result.failures``."""
    fault, failures, kills, start = result.fault, result.failures, run.kills, run.start
    sent = book.sent
    result.requests = len(sent)
    result.answered = sum(s.ok for s in sent)
    failed = [s for s in sent if not s.ok]
    result.errors = len(failed)

    def in_flight(s: Sent) -> bool:
        return any(s.started <= kill <= s.ended + 0.05 for kill in kills)

    def on_its_connection(s: Sent) -> bool:
        """Sent after a kill on a keep-alive connection answered before it, and cut with no
        answer: the connection was the killed worker's (Twilio would see the same)."""
        return s.cut and s.reused and s.idle_since is not None and \
            any(s.idle_since <= kill <= s.started + 0.05 for kill in kills)

    cut = [s for s in failed if fault.may_cut and (in_flight(s) or on_its_connection(s))]
    result.cut = len(cut)
    result.cut_idle = sum(not in_flight(s) for s in cut)
    result.unexpected = [f"{s.started - start:.1f} s {s.error}" for s in failed
                         if s not in cut]
    if result.unexpected:
        failures.append(f"{len(result.unexpected)} caller error(s) "
                        + ("besides the requests the killed worker held"
                           if fault.may_cut else "(none expected)"))

    latencies = [s.ended - s.started for s in sent]
    result.p99 = percentile(latencies, 99)
    result.max = max(latencies, default=0.0)
    if sent:
        worst = max(sent, key=lambda s: s.ended - s.started)
        result.slowest = f"{worst.webhook} at {worst.started - start:.1f} s"
    if fault.max_latency and result.max > args.max_latency:
        failures.append(f"a webhook took {result.max:.2f} s ({result.slowest}), more than "
                        f"{args.max_latency:.1f} s")

    answered_polls = [p for p in polls if p.status is not None]
    result.healthz_errors = sum(p.status != 200 for p in polls)
    result.healthz_max = max((p.seconds for p in polls), default=0.0)
    result.degraded_seen = any((p.body or {}).get("status") == "degraded" for p in polls)
    figures = [f for f in map(spool_of, polls) if f is not None]
    result.backlog = (max((f[0] for f in figures), default=0),
                      max((f[1] or 0.0 for f in figures), default=0.0))
    if fault.healthz_bound:
        bound = PROBE_SECONDS + 0.5
        if result.healthz_max > bound:
            failures.append(f"/healthz took {result.healthz_max:.2f} s (its probe bound: "
                            f"{PROBE_SECONDS:.0f} s)")
        if result.healthz_errors:
            failures.append(f"/healthz failed {result.healthz_errors} time(s)")
    if answered_polls and all(spool_of(p) is None for p in answered_polls):
        failures.append("/healthz has no spool figures (spool.pending)")

    result.acknowledged = len(book.acknowledged)
    result.voicemails_stored = len(book.acknowledged & final["voicemails"])
    result.voicemails_missing = result.acknowledged - result.voicemails_stored
    if result.voicemails_missing:
        failures.append(f"{result.voicemails_missing} acknowledged voicemail(s) not stored")
    result.calls = book.calls
    result.calls_answered = len(book.answered_calls)
    result.calls_in_journal = len(book.answered_calls & final["calls"])
    if result.calls_in_journal < result.calls_answered:
        failures.append(f"{result.calls_answered - result.calls_in_journal} answered call(s) "
                        "missing from the journal")
    journaled = [s for s in sent if s.ok and s.fingerprint]
    result.requests_journaled = len(journaled)
    result.requests_missing = sum(s.fingerprint not in final["fingerprints"] for s in journaled)
    if result.requests_missing:
        failures.append(f"{result.requests_missing} answered request(s) with no journal event")

    if run.fault_end is not None and run.fault_end_epoch is not None:
        since = run.fault_end_epoch
        recovered = next((p for p in polls if p.sent >= run.fault_end and caught_up(p, since)),
                         None)
        if recovered is not None:
            result.recovery = recovered.at - since
        else:
            failures.append("the spool did not catch up with the fault's backlog before the "
                            "server was stopped")
    if left is None:
        failures.append("the spool file could not be read after the run")
    else:
        result.spool_left, result.quarantined = left
        if result.spool_left:
            failures.append(f"{result.spool_left} row(s) still in the spool after the server "
                            "stopped")
        if result.quarantined:
            failures.append(f"{result.quarantined} row(s) quarantined")
    if not result.calls_answered:
        failures.append("no call was answered")


# ---------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def print_result(result: Result) -> None:
    f = result.fault
    print(f"\n{f.name}: {f.what}")
    if result.skipped:
        print(f"  skipped: {result.skipped}")
        return
    rows = [("timeline", "; ".join(f"{t:.1f} s {n}" for t, n in result.timeline) or "-")]
    errors = f"{result.errors} errors"
    if f.may_cut:
        errors += (f" ({result.cut} held by the killed worker: {result.cut - result.cut_idle} "
                   f"in flight, {result.cut_idle} on its kept-alive connections; "
                   f"{len(result.unexpected)} other)")
    rows += [
        ("requests", f"{result.answered} answered (2xx) of {result.requests}, {errors}"),
        ("latency", f"p99 {ms(result.p99)}, max {ms(result.max)} ({result.slowest}); "
                    f"/healthz max {ms(result.healthz_max)}"
                    + (", said degraded" if result.degraded_seen else "")),
        ("voicemails", f"{result.acknowledged} acknowledged, {result.voicemails_stored} stored"
                       + (f", {result.voicemails_missing} MISSING"
                          if result.voicemails_missing else "")),
        ("calls", f"{result.calls_answered} answered, {result.calls_in_journal} in the journal; "
                  f"answered requests with their events: "
                  f"{result.requests_journaled - result.requests_missing}/"
                  f"{result.requests_journaled}"),
        ("spool", f"at most {result.backlog[0]} rows pending, the oldest "
                  f"{result.backlog[1]:.1f} s old (/healthz)"),
        ("recovery", ("no fault" if not f.steps else f"{result.recovery:.1f} s"
                      if result.recovery is not None else "never")
         + " from the fault's end to everything written; spool after stop: "
         + (f"{result.spool_left} pending, {result.quarantined} quarantined"
            if result.spool_left is not None else "unreadable")),
        ("server log", f"{result.log_errors} error lines"),
        ("result", "ok" if not result.failures else "FAILED: " + "; ".join(result.failures)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for example in result.unexpected[:EXAMPLES]:
        print(f"    - {example}")


def summary(results: Sequence[Result]) -> list[str]:
    lines = ["| fault | caller hears | kept | recovery |", "|---|---|---|---|"]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.fault.name} | skipped: {r.skipped} | | |")
            continue
        hears = f"{r.errors} errors in {r.requests} requests"
        if r.fault.may_cut and r.errors:
            hears += f" ({r.cut} held by the killed worker)"
        hears += f"; p99 {ms(r.p99)}, max {ms(r.max)}"
        kept = (f"{r.voicemails_stored}/{r.acknowledged} voicemails, "
                f"{r.calls_in_journal}/{r.calls_answered} calls, "
                f"{r.requests_missing} events lost")
        recovery = f"{r.recovery:.1f} s" if r.recovery is not None else "—"
        if r.failures:
            recovery += " (FAILED)"
        lines.append(f"| {r.fault.name} | {hears} | {kept} | {recovery} |")
    return lines


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(DEFAULT_FAULTS),
                        help=f"comma-separated, among {', '.join(FAULTS)} "
                             f"(default: {','.join(DEFAULT_FAULTS)})")
    parser.add_argument("--callers", type=int, default=24,
                        help="simultaneous callers, each playing calls back to back (24)")
    parser.add_argument("--pause", type=float, default=0.1,
                        help="seconds a caller waits between two turns, ±50%% (0.1)")
    parser.add_argument("--max-latency", type=float, default=1.5,
                        help="seconds no webhook may exceed under sqlite-lock and "
                             "postgres-freeze (1.5)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (10)")
    parser.add_argument("--at", default=DEFAULT_AT,
                        help=f"IVR_NOW for the server, or 'now' for the real clock ({DEFAULT_AT})")
    parser.add_argument("--seed", type=int, default=None, help="for a reproducible key mix")
    parser.add_argument("--keep", action="store_true", help="keep each run's database and log")
    args = parser.parse_args(argv)
    args.faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in args.faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
    if args.seed is None:
        args.seed = secrets.randbelow(2**31)
    if args.at == "now":
        args.at = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A plain `kill` must stop gunicorn (and thaw PostgreSQL): SystemExit runs the `finally`s.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    token = secrets.token_hex(16)
    config = load(os.environ.get("IVR_CONFIG_DIR") or REPO_ROOT)
    apology = config.prompts["systeme.erreur"].text
    thanks = config.prompts["systeme.message_enregistre"].text
    plans = key_strings(random.Random(args.seed), 4000)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    say(f"faults: {', '.join(args.faults)} (seed {args.seed})")
    postgres = Postgres()
    results: list[Result] = []
    began = time.monotonic()
    try:
        for name in args.faults:
            result = run_fault(FAULTS[name], args, postgres, token, plans, apology, thanks, say)
            results.append(result)
            print_result(result)
            sys.stdout.flush()
    except ServerFailed as exc:
        say(f"the server could not be started: {exc}")
        return 2
    except KeyboardInterrupt:
        say("interrupted: gunicorn stopped")
        return 130
    finally:
        postgres.close()
    print(f"\nSummary ({len(results)} fault runs in {time.monotonic() - began:.0f} s; "
          f"gunicorn gthread 2 workers × 8 threads, {args.callers} callers, SQLite unless "
          "the fault says PostgreSQL):\n")
    print("\n".join(summary(results)))
    failed = [r for r in results if r.failures]
    for r in failed:
        print(f"\nFAILED {r.fault.name}: " + "; ".join(r.failures))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
