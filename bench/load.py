"""Load test: N simultaneous calls through the real app under gunicorn, over real HTTP.

Why: the line must hold a burst of calls (200 by default) without a single failed webhook.
In-process tests cannot show that: only a real server, with its sockets, worker processes,
threads and the background journal writer sharing one database, can. So this script starts
gunicorn on a fresh SQLite database, plays every call the way Twilio would (signed POSTs,
TwiML followed verb by verb), released all at once by a barrier, and checks every answer;
then it waits for the journal to catch up, stops the server and checks what it wrote. Errors
are what a caller would suffer (non-2xx, connection error, timeout, bad TwiML, the app's
spoken apology, a call that never ends) plus ERROR lines in the server's log.

    .venv/bin/python bench/load.py [--calls 200] [--workers 2] [--threads 8] [--json]

Needs only the project's venv (``ivr`` installed in it, as ``make`` does). Exit status: 0 when
there were no errors, 1 when there were (or no journal was written), 2 when the server could
not be started.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import yaml
from _server import Server, ServerFailed, gunicorn, migrate, server_env  # bench/_server.py
from sqlalchemy import func, select

from ivr import REPO_ROOT
from ivr.loading import load
from ivr.security import sign
from ivr.simulator import DIAL_OUTCOMES, Keypad
from ivr.store import Call, CallEvent, OutboxMessage, Store, Voicemail

SCENARIOS = REPO_ROOT / "tests" / "data" / "scenarios.yaml"
# A Tuesday morning: every provider is open, so the burst exercises dials, not only voicemail.
DEFAULT_AT = "2026-12-01T10:00:00-05:00"
TWIML_VERBS = {"Say", "Play", "Pause", "Gather", "Dial", "Record", "Redirect", "Hangup"}
RANDOM_KEYS = "1111222233334445556789*#0"  # menu keys weighted like callers' (mostly low)
EXAMPLES = 5  # errors printed per kind of problem


# ---------------------------------------------------------------------- the server


def gunicorn_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Threaded workers: one process per core for CPU, threads to overlap SQLite and sockets."""
    return {
        "worker_class": "gthread",
        "workers": args.workers,
        "threads": args.threads,
        "keep_alive": 5,  # seconds; more than a busy client can take between two requests
        "timeout": 30,
        "graceful_timeout": 10,
        "backlog": 2048,  # the whole burst waits in the kernel's queue, never refused
    }


@contextlib.contextmanager
def running_server(args: argparse.Namespace, env: dict[str, str], log_path: Path,
                   token: str) -> Iterator[Server]:
    """gunicorn serving ``app:app`` on a free loopback port (bench/_server.py), stopped
    gracefully on the way out whatever happened."""
    with gunicorn("app:app", gunicorn_settings(args),
                  lambda base: {**env, "TWILIO_AUTH_TOKEN": token, "IVR_PUBLIC_URL": base},
                  log_path) as server:
        yield server


# ---------------------------------------------------------------------- one call


class CallFailed(Exception):
    """Something Twilio would choke on: the call is counted as an error and abandoned."""


@dataclass
class CallRun:
    sid: str
    keys: str
    kind: str = "unfinished"  # dial | record | hangup | end, as ivr.simulator names them
    requests: int = 0
    recorded: bool = False
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (webhook, seconds)
    errors: list[str] = field(default_factory=list)


class Caller:
    """One caller as Twilio plays it, on its own keep-alive HTTP connection."""

    def __init__(self, base: str, token: str, keys: str, rng: random.Random, *,
                 timeout: float, max_requests: int, apology: str) -> None:
        self.base = base
        self.token = token
        self.keypad = Keypad(keys)
        self.rng = rng
        self.max_requests = max_requests
        self.apology = apology.lower()
        self.number = f"+1514555{rng.randrange(10_000):04d}"
        self.run = CallRun("CA" + secrets.token_hex(16), keys)
        split = urlsplit(base)
        self.conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port,
                                               timeout=timeout)
        self.later: list[tuple[str, dict[str, str]]] = []  # callbacks due after the next turn

    def call_form(self, **params: str) -> dict[str, str]:
        """The parameters Twilio sends with every request about a call in progress."""
        return {
            "CallSid": self.run.sid, "AccountSid": "AC" + "0" * 32,
            "From": self.number, "To": "+15145550000", "Caller": self.number,
            "Called": "+15145550000", "CallStatus": "in-progress", "Direction": "inbound",
            "ApiVersion": "2010-04-01", **params,
        }

    def post(self, url: str, form: dict[str, str], *, callback: bool = False
             ) -> ET.Element | None:
        """One signed webhook request; its TwiML, or None for a callback's empty answer."""
        if not url.startswith(self.base + "/"):
            raise CallFailed(f"TwiML points outside the line: {url}")
        split = urlsplit(url)
        target = split.path + (f"?{split.query}" if split.query else "")
        headers = {"X-Twilio-Signature": sign(url, form, self.token),
                   "Content-Type": "application/x-www-form-urlencoded"}
        self.run.requests += 1
        started = time.perf_counter()
        try:
            self.conn.request("POST", target, body=urlencode(form), headers=headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            raise CallFailed(f"POST {split.path}: {type(exc).__name__}: {exc}") from exc
        finally:
            webhook = "/".join(split.path.split("/")[:3])  # /voice/input/<node> → /voice/input
            self.run.latencies.append((webhook, time.perf_counter() - started))
        allowed = (200, 204) if callback else (200,)
        if response.status not in allowed:
            raise CallFailed(f"POST {split.path}: HTTP {response.status} {excerpt(body)}")
        if response.status == 204 or (callback and not body.strip()):
            return None
        kind = response.getheader("Content-Type", "")
        if not kind.startswith(("text/xml", "application/xml")):
            raise CallFailed(f"POST {split.path}: Content-Type {kind!r}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise CallFailed(f"POST {split.path}: bad XML ({exc}): {excerpt(body)}") from exc
        if root.tag != "Response":
            raise CallFailed(f"POST {split.path}: root <{root.tag}>, not <Response>")
        return root

    def play(self) -> CallRun:
        """The whole call: /voice, each TwiML followed, then Twilio's status callback."""
        run = self.run
        try:
            url: str | None = self.base + "/voice"
            form = self.call_form()
            turns = 0
            hung_up = answered = False
            while url is not None:
                if turns >= self.max_requests:
                    raise CallFailed(f"call not ended after {turns} requests (keys {run.keys!r})")
                turns += 1
                root = self.post(url, form)
                self.send_later()
                if root is None:
                    raise CallFailed(f"POST {urlsplit(url).path}: empty answer mid-call")
                url, form, hung_up, dial_status = self.follow(root, url)
                answered = answered or dial_status == "completed"
            self.send_later()
            run.kind = ("dial" if answered else "record" if run.recorded
                        else "hangup" if hung_up else "end")
        except CallFailed as exc:
            self.failed(str(exc))
        except Exception as exc:  # a bug here must show up as an error, not a silent thread
            self.failed(f"load script: {type(exc).__name__}: {exc}")
        try:  # Twilio closes every call with this callback, however the call went
            self.post(self.base + "/voice/status",
                      self.call_form(CallStatus="completed",
                                     CallDuration=str(self.rng.randint(5, 600))),
                      callback=True)
        except CallFailed as exc:
            self.failed(f"status callback: {exc}")
        self.conn.close()
        return run

    def send_later(self) -> None:
        for url, form in self.later:
            self.post(url, form, callback=True)
        self.later.clear()

    def failed(self, error: str) -> None:
        self.run.kind = "error"
        self.run.errors.append(f"{self.run.sid[:10]}… {error}")

    def follow(self, root: ET.Element, url: str
               ) -> tuple[str | None, dict[str, str], bool, str | None]:
        """Run one TwiML document's verbs: (next URL, its form, hung up?, dial status)."""
        dial_status: str | None = None
        for verb in root:
            if verb.tag not in TWIML_VERBS:
                raise CallFailed(f"unexpected verb <{verb.tag}> from {urlsplit(url).path}")
            if verb.tag in ("Say", "Gather"):
                spoken = " ".join((verb.text or "", *((c.text or "") for c in verb)))
                if self.apology in spoken.lower():
                    raise CallFailed(f"the app apologised (it failed) at {urlsplit(url).path}")
            if verb.tag == "Gather":
                keys = self.keypad.press(int(verb.get("numDigits", "1") or 1),
                                         verb.get("finishOnKey", "#"))
                if keys:
                    return urljoin(url, verb.get("action", "")), self.call_form(Digits=keys), \
                        False, dial_status
                if verb.get("actionOnEmptyResult") == "true":
                    return urljoin(url, verb.get("action", "")), self.call_form(), False, \
                        dial_status
            elif verb.tag == "Dial":
                dial_status = self.rng.choice(DIAL_OUTCOMES)
                if verb.get("action"):
                    return urljoin(url, verb.get("action", "")), self.call_form(
                        DialCallStatus=dial_status, DialCallSid="CA" + secrets.token_hex(16),
                        DialCallDuration="42" if dial_status == "completed" else "0",
                    ), False, dial_status
            elif verb.tag == "Record":
                return self.record(verb, url) + (False, dial_status)
            elif verb.tag == "Redirect":
                return urljoin(url, (verb.text or "").strip()), self.call_form(), False, \
                    dial_status
            elif verb.tag == "Hangup":
                return None, {}, True, dial_status
        return None, {}, False, dial_status

    def record(self, verb: ET.Element, url: str) -> tuple[str | None, dict[str, str]]:
        """A message was left: the action and the recording callback, in either order."""
        self.run.recorded = True
        sid = "RE" + secrets.token_hex(16)
        recording = {
            "RecordingSid": sid,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}"
                            f"/Recordings/{sid}",
            "RecordingDuration": str(self.rng.randint(1, 180)),
        }
        callback = verb.get("recordingStatusCallback")
        if callback:
            # Twilio sends this one outside the call: no caller, no call status.
            form = {"AccountSid": "AC" + "0" * 32, "CallSid": self.run.sid,
                    "RecordingStatus": "completed", "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb", **recording}
            if self.rng.random() < 0.5:
                self.post(urljoin(url, callback), form, callback=True)
            else:
                self.later.append((urljoin(url, callback), form))
        if verb.get("action"):
            return urljoin(url, verb.get("action", "")), self.call_form(Digits="#", **recording)
        return None, {}


def excerpt(body: bytes) -> str:
    return repr(" ".join(body.decode(errors="replace").split())[:100])


# ---------------------------------------------------------------------- the burst


def key_strings(rng: random.Random, calls: int) -> list[str]:
    """Half the scenarios' key strings (known paths), half random presses (anything goes)."""
    scenario_keys = sorted({str(s["keys"]) for s in yaml.safe_load(SCENARIOS.read_text())
                            if s.get("keys") is not None})
    plans = []
    for _ in range(calls):
        if scenario_keys and rng.random() < 0.5:
            plans.append(rng.choice(scenario_keys))
            continue
        segments = []
        for _ in range(rng.randint(0, 7)):
            roll = rng.random()
            if roll < 0.08:
                segments.append(".")  # silence through one prompt
            elif roll < 0.15:
                segments.append("*" + "".join(rng.choices("0123456789", k=2)))  # shortcut
            else:
                segments.append(rng.choice(RANDOM_KEYS))
        plans.append(",".join(segments))
    return plans


def run_calls(server: Server, token: str, plans: Sequence[str], args: argparse.Namespace,
              apology: str) -> tuple[list[CallRun], float]:
    """Every call on its own thread, all released at once; their runs and the wall time."""
    barrier = threading.Barrier(len(plans) + 1)
    runs: list[CallRun | None] = [None] * len(plans)
    seeds = [random.Random(args.seed + i) for i in range(len(plans))]

    def one(i: int) -> None:
        caller = Caller(server.base, token, plans[i], seeds[i], timeout=args.timeout,
                        max_requests=args.max_requests, apology=apology)
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            caller.run.kind = "error"
            caller.run.errors.append("barrier broken: the calls did not all start")
            runs[i] = caller.run
            return
        runs[i] = caller.play()

    threads = [threading.Thread(target=one, args=(i,), daemon=True, name=f"call-{i}")
               for i in range(len(plans))]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return [r or CallRun("?", plans[i], "error", errors=["thread died"])
            for i, r in enumerate(runs)], wall


# ---------------------------------------------------------------------- after the burst


def read_journal(store: Store) -> dict[str, Any]:
    """What the server's worker threads wrote: the journal and the voicemails."""
    with store.session() as session:
        def count(model: Any, *where: Any) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        outcomes = session.execute(select(Call.outcome, func.count())
                                   .group_by(Call.outcome)).all()
        return {
            "calls": count(Call),
            "closed": count(Call, Call.ended_at.is_not(None)),
            "events": count(CallEvent),
            "voicemails": count(Voicemail),
            # the <Record> action's own save brings the caller (the callback has none)
            "voicemails_with_caller": count(Voicemail, Voicemail.caller.is_not(None)),
            "outbox": count(OutboxMessage),
            "outcomes": {str(o): n for o, n in sorted(outcomes, key=lambda r: -r[1])},
        }


def wait_for_journal(database_url: str, runs: Sequence[CallRun], limit: float,
                     settle: float = 1.0) -> float | None:
    """Seconds the journal took to catch up with the calls, or None if it had not by ``limit``.

    The journal and the voicemails are written by a background thread in each server process,
    after the webhooks have answered: how far that lags behind a burst is worth knowing.
    Caught up = every call closed, every message stored with its caller, and nothing changing
    for ``settle`` s (a call's events may sit in both processes). Stopping only then keeps the
    check from depending on the flush at shutdown (``--flush 0`` tests that one instead).
    """
    recorded = sum(run.recorded for run in runs)
    store = Store(database_url)
    started = time.monotonic()
    last: dict[str, Any] = {}
    changed = started
    try:
        while time.monotonic() - started < limit:
            journal = read_journal(store)
            now = time.monotonic()
            if journal != last:
                last, changed = journal, now
            done = (journal["closed"] >= len(runs) and journal["voicemails"] >= recorded
                    and journal["voicemails_with_caller"] >= recorded)
            if done and now - changed >= settle:
                return changed - started
            time.sleep(0.1)
        return None
    finally:
        store.engine.dispose()


def final_journal(database_url: str) -> dict[str, Any]:
    store = Store(database_url)
    try:
        return read_journal(store)
    finally:
        store.engine.dispose()


LOG_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback")
LOG_WARNING = re.compile(r"\bWARNING\b")


def scan_log(path: Path) -> dict[str, Any]:
    """The server's own complaints: an app error hidden from Twilio still shows here."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    errors = [line for line in lines if LOG_ERROR.search(line)]
    warnings = [line for line in lines if LOG_WARNING.search(line)]
    return {"errors": len(errors), "warnings": len(warnings),
            "examples": (errors + warnings)[:EXAMPLES]}


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def latency_ms(values: Sequence[float]) -> dict[str, float]:
    return {name: round(percentile(values, p) * 1000, 1)
            for name, p in (("p50", 50), ("p99", 99), ("max", 100))}


def build_report(runs: Sequence[CallRun], wall: float, server: Server, journal: dict[str, Any],
                 lag: float | None, log: dict[str, Any], at: str | None) -> dict[str, Any]:
    by_webhook: dict[str, list[float]] = {}
    for run in runs:
        for webhook, seconds in run.latencies:
            by_webhook.setdefault(webhook, []).append(seconds)
    latencies = [t for values in by_webhook.values() for t in values]
    call_errors = [e for run in runs for e in run.errors]
    requests = sum(run.requests for run in runs)
    return {
        "calls": len(runs),
        "requests": requests,
        "errors": len(call_errors) + log["errors"],
        "call_errors": len(call_errors),
        "error_examples": call_errors[:EXAMPLES],
        "outcomes": dict(Counter(run.kind for run in runs).most_common()),
        "wall_s": round(wall, 3),
        "requests_per_s": round(requests / wall, 1) if wall else 0.0,
        "latency_ms": latency_ms(latencies),
        "latency_ms_by_webhook": {webhook: {"requests": len(values), **latency_ms(values)}
                                  for webhook, values in sorted(by_webhook.items())},
        "journal": {**journal, "expected_calls": len(runs),
                    "expected_voicemails": sum(run.recorded for run in runs),
                    "caught_up_after_s": None if lag is None else round(lag, 2)},
        "server_log": log,
        "server": {**server.settings, "url": server.base, "IVR_NOW": at or "(real clock)"},
    }


def print_report(report: dict[str, Any]) -> None:
    s, j, lat, log = (report["server"], report["journal"], report["latency_ms"],
                      report["server_log"])
    outcomes = ", ".join(f"{kind} {n}" for kind, n in report["outcomes"].items())
    print(f"server      gunicorn {s['worker_class']} workers={s['workers']} "
          f"threads={s['threads']} keep-alive={s['keep_alive']}s at {s['url']}, "
          f"IVR_NOW={s['IVR_NOW']}")
    print(f"calls       {report['calls']} concurrent (released together by a barrier)")
    print(f"requests    {report['requests']}")
    print(f"errors      {report['errors']} ({report['call_errors']} seen by callers, "
          f"{log['errors']} error lines in the server log)")
    for example in report["error_examples"]:
        print(f"  - {example}")
    print(f"outcomes    {outcomes}")
    print(f"wall time   {report['wall_s']:.2f} s ({report['requests_per_s']:.0f} requests/s)")
    print(f"latency     p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms")
    for webhook, w in report["latency_ms_by_webhook"].items():
        print(f"  {webhook:<17} {w['requests']:>5} requests: p50 {w['p50']:.0f} ms, "
              f"p99 {w['p99']:.0f} ms, max {w['max']:.0f} ms")
    journal_outcomes = ", ".join(f"{o} {n}" for o, n in j["outcomes"].items()) or "(none)"
    lag = j["caught_up_after_s"]
    caught_up = (f"caught up {lag:.1f} s after the last call" if lag is not None
                 else "had not caught up when the server was stopped")
    print(f"journal     {j['calls']}/{j['expected_calls']} calls written "
          f"({j['closed']} closed), {j['events']} events, "
          f"{j['voicemails']}/{j['expected_voicemails']} voicemails; {caught_up}")
    print(f"            outcomes: {journal_outcomes}")
    print(f"server log  {log['errors']} error lines, {log['warnings']} warnings")
    for line in log["examples"]:
        print(f"  - {line}")


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="simultaneous calls (200)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes (2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per process (8)")
    parser.add_argument("--at", default=DEFAULT_AT,
                        help=f"IVR_NOW for the server, or 'now' for the real clock ({DEFAULT_AT})")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (30)")
    parser.add_argument("--max-requests", type=int, default=40,
                        help="a call not ended after this many turns is an error (40)")
    parser.add_argument("--flush", type=float, default=15.0,
                        help="at most this many seconds for the journal to catch up before the "
                             "server is stopped; 0 stops it at once, leaving the rest to the "
                             "shutdown flush (15)")
    parser.add_argument("--seed", type=int, default=None, help="for a reproducible key mix")
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = secrets.randbelow(2**31)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A plain `kill` must stop gunicorn too: SystemExit runs the `finally` that does it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    at = None if args.at == "now" else args.at
    token = secrets.token_hex(16)
    config = load(os.environ.get("IVR_CONFIG_DIR") or REPO_ROOT)
    apology = config.prompts["systeme.erreur"].text
    plans = key_strings(random.Random(args.seed), args.calls)
    tmp = Path(tempfile.mkdtemp(prefix="ivr-load-"))
    database_url = f"sqlite:///{tmp / 'ivr.sqlite3'}"
    log_path = tmp / "gunicorn.log"

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        migrate(database_url)
        with running_server(args, server_env(database_url, at), log_path, token) as server:
            say(f"gunicorn up: {server.settings['argv']}")
            say(f"playing {args.calls} calls at once (seed {args.seed})…")
            runs, wall = run_calls(server, token, plans, args, apology)
            say(f"calls done in {wall:.2f} s; waiting for the journal (at most {args.flush} s)…")
            lag = wait_for_journal(database_url, runs, args.flush) if args.flush > 0 else None
            say("stopping gunicorn (SIGTERM, graceful)…")
        journal = final_journal(database_url)
        report = build_report(runs, wall, server, journal, lag, scan_log(log_path), at)
    except ServerFailed as exc:
        say(f"the server could not be started: {exc}")
        return 2
    except KeyboardInterrupt:
        say("interrupted: gunicorn stopped")
        return 130
    finally:
        if args.keep:
            say(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(report)
    return 1 if report["errors"] or not report["journal"]["calls"] else 0


if __name__ == "__main__":
    sys.exit(main())
