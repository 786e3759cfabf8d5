"""Where the line spends its time on the benched webhook: in-process, no server, no network.

bench/webhook.py says how fast the line is under gunicorn; this says why. The production app
(``create_app()``, not in testing mode: the JSON access entries queued for their thread, the
config watcher on) answers the same request as webhook.py
(``--scenario``), called as a WSGI app with the environ gunicorn would build (``RAW_URI``,
keep-alive headers): no test client and no socket is measured. One difference: the journal is
written by this thread (a pass every 250 requests, like the writer's 0.2 s passes) rather than
by the writer thread, so that its cost shows where it is spent; the access lines likewise.
Three views:

1. CPU time per request of the line and of bench/bare_app.py, called the same way (CPU time of
   the whole process, the log thread included, the journal and log lines written);
2. what each piece costs, by switching it off alone, measured in alternation with the full line
   (ablation: the difference is what removing it would save): the journal, the access line,
   the signature check, the replay check; and the answer reuse, switched off: what every
   request would cost more if its answer were decided anew (a cache miss);
3. cProfile over ``--requests`` requests: the inclusive time of the main steps, per request
   (cProfile slows function-heavy code more than the rest: read its shares, not its µs), and
   the functions with the most time of their own.

The machine's speed drifts (a virtual CPU, other jobs): compare shares and ablations from the
same run rather than µs between runs.

    .venv/bin/python bench/profile_webhook.py [--scenario route] [--requests 5000] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from logging.handlers import QueueHandler
from pathlib import Path
from typing import Any

from _server import migrate
from webhook import DEFAULT_AT, SCENARIOS, Scenario, check_answer, signed_calls

from ivr.services import services

BASE = "http://127.0.0.1:8000"  # IVR_PUBLIC_URL: what the requests are signed over
FLUSH_EVERY = 1000  # requests between two journal passes (the writer writes about once a second)

# (label, file suffix, function name): the steps reported from the profile
STEPS = (
    ("Flask + werkzeug, whole request", "flask/app.py", "wsgi_app"),
    ("  request context push", "flask/ctx.py", "push"),
    ("  signature check", "ivr/security.py", "require_twilio_signature"),
    ("    form parsing (werkzeug)", "werkzeug/formparser.py", "parse"),
    ("    RequestValidator.validate (twilio)", "twilio/request_validator.py", "validate"),
    ("    signed_url", "ivr/security.py", "signed_url"),
    ("  view: gathered", "ivr/voice.py", "gathered"),
    ("    answer lookup and reuse", "ivr/voice.py", "_decided"),
    ("      decision (cache misses only)", "ivr/voice.py", "key_pressed"),
    ("      url_for (cache misses only)", "flask/helpers.py", "url_for"),
    ("      Schedule.is_open (cache misses only)", "ivr/schedule.py", "is_open"),
    ("      TwiML render (cache misses only)", "ivr/twiml.py", "render"),
    ("    _reply (replay check, journal, response)", "ivr/voice.py", "_reply"),
    ("      replay check", "ivr/replays.py", "replayed"),
    ("      journal notes queued", "ivr/effects.py", "journal"),
    ("  access line logged (queued)", "ivr/voice.py", "_access_log"),
    ("access lines formatted (log thread, per request)", "ivr/accesslog.py", "__str__"),
    ("journal pass (worker, per request)", "ivr/worker.py", "run_once"),
    ("  Store.write_notes (SQLAlchemy, SQLite)", "ivr/store.py", "write_notes"),
)


class Client:
    """Calls a WSGI app the way gunicorn does, with a fresh idempotency token each time."""

    def __init__(self, app: Callable[..., Any], scenario: Scenario,
                 calls: Sequence[tuple[str, str]]) -> None:
        self.app = app
        self.calls = [(body.encode(), sig) for body, sig in calls]
        self.count = 0
        self.status = ""
        self.base = {
            "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": scenario.path,
            "QUERY_STRING": scenario.query, "RAW_URI": f"{scenario.path}?{scenario.query}",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_CONNECTION": "keep-alive", "HTTP_USER_AGENT": "TwilioProxy/1.1",
            "HTTP_ACCEPT": "*/*", "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        }

    def _start(self, status: str, headers: Any, exc_info: Any = None) -> None:
        self.status = status

    def __call__(self) -> bytes:
        self.count += 1
        body, signature = self.calls[self.count % len(self.calls)]
        environ = dict(self.base)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["HTTP_X_TWILIO_SIGNATURE"] = signature
        environ["HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"] = f"profile-{self.count}"
        result = self.app(environ, self._start)
        try:
            return b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()


def batch_us(client: Client, requests: int, flush: Callable[[], Any]) -> float:
    """CPU time of this process (every thread) per request over one batch, the deferred work
    (journal, log lines) flushed within it."""
    started = time.process_time()
    for i in range(requests):
        client()
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            flush()
    flush()
    return (time.process_time() - started) / requests * 1e6


def compare(a: Callable[[], float], b: Callable[[], float], pairs: int = 6
            ) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` measured in alternation (a, b, a, b...): a drift of the
    machine (another job, the CPU's clock) then hits both alike."""
    a_runs, b_runs = [], []
    for _ in range(pairs):
        a_runs.append(a())
        b_runs.append(b())
    return statistics.median(a_runs), statistics.median(b_runs)


@contextmanager
def quiet(logger: logging.Logger) -> Iterator[None]:
    level = logger.level
    logger.setLevel(logging.WARNING)  # setLevel, not .level: it clears the enabled-for cache
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="route")
    parser.add_argument("--requests", type=int, default=5000, help="requests profiled (5000)")
    parser.add_argument("--top", type=int, default=25, help="functions by own time (25)")
    parser.add_argument("--at", default=DEFAULT_AT, help=f"IVR_NOW ({DEFAULT_AT})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ivr-profile-"))
    try:
        return profile(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def profile(args: argparse.Namespace, tmp: Path) -> int:
    scenario = SCENARIOS[args.scenario]
    database_url = f"sqlite:///{tmp / 'ivr.sqlite3'}"
    migrate(database_url)
    token = secrets.token_hex(16)
    os.environ.update(TWILIO_AUTH_TOKEN=token, IVR_PUBLIC_URL=BASE, DATABASE_URL=database_url,
                      IVR_NOW=args.at, SECRET_KEY=secrets.token_hex(16),
                      BENCH_BODY_FILE=str(tmp / "answer.xml"))
    for name in ("IVR_DEV", "IVR_RELOAD_SECONDS", "TWILIO_WEBHOOK_SHARED_KEY", "SMTP_HOST",
                 "IVR_SMS_FROM", "TWILIO_ACCOUNT_SID", "IVR_TRUSTED_PROXIES"):
        os.environ.pop(name, None)
    # Production logging (QueueHandler to a writer thread), written to /dev/null here.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"),  # noqa: SIM115
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from ivr import create_app, voice
    from ivr.loading import load

    # The journal is written in this thread (IVR_WORKER off, a pass every FLUSH_EVERY
    # requests) rather than by the writer thread: its cost then shows where it is spent, not
    # as GIL waits scattered over the request's code.
    app = create_app({"IVR_WORKER": False})
    calls = signed_calls(BASE, scenario, token, 200)
    line = Client(app, scenario, calls)
    answer = line()
    problem = check_answer(int(line.status.split()[0]), "text/xml", answer, scenario,
                           load(app.config["IVR_CONFIG_DIR"]).prompts["systeme.erreur"].text)
    if problem:
        print(f"the line's answer is wrong: {problem}", file=sys.stderr)
        return 3
    (tmp / "answer.xml").write_bytes(answer)
    import bare_app  # reads BENCH_BODY_FILE

    bare = Client(bare_app.app, scenario, calls)
    worker = services(app).worker
    log_queue = next((getattr(h, "queue", None) for h in logging.getLogger().handlers
                      if isinstance(h, QueueHandler)), None)

    def flush() -> None:
        """Write the spooled journal here; wait for the log thread to have written its lines."""
        while worker.pending > 0:
            worker.run_once(force=True)
        while log_queue is not None and not log_queue.empty():
            time.sleep(0.001)

    n = args.requests

    print(f"request   POST {scenario.path}?{scenario.query}  Digits={scenario.digits} "
          f"({args.scenario}): <{scenario.verb}>, {len(answer)} bytes; in-process WSGI calls")
    batch = max(100, n // 10)
    for client in (line, bare):  # warm-up
        batch_us(client, 300, flush)
    full, bare_us = compare(lambda: batch_us(line, batch, flush),
                            lambda: batch_us(bare, batch, flush))
    print(f"time      line {full:.0f} µs of CPU per request (journal and log lines written), "
          f"bare Flask {bare_us:.0f} µs: in-process ratio {bare_us / full:.2f}")

    access = logging.getLogger("ivr.access")
    line_config = services(app).line
    ablations: list[tuple[str, Callable[[], Any]]] = [
        ("journal (notes spooled, then written by the worker: SQLAlchemy, SQLite)",
         lambda: patched(worker, "put", lambda *args, **kwargs: True)),
        ("JSON access line (queued, then formatted and logged by its thread)",
         lambda: quiet(access)),
        ("signature check (the form is then parsed in the view)",
         lambda: patched(voice.security, "require_twilio_signature", lambda: None)),
        ("replay check (token or sha256, LRU under a lock)",
         lambda: patched(voice.replays, "replayed", lambda app, req: False)),
        ("answer reuse, negative: what each request would cost more if decided anew",
         lambda: patched(line_config.answers, "get", lambda key: None)),
    ]
    print("\nablation  each piece switched off alone, measured in alternation with the "
          "full line: what it costs (CPU µs per request)")
    for label, patch in ablations:

        def switched_off(patch: Callable[[], Any] = patch) -> float:
            with patch():
                return batch_us(line, batch, flush)

        base, without = compare(lambda: batch_us(line, batch, flush), switched_off)
        print(f"  {base - without:>6.0f} µs  {100 * (base - without) / base:4.0f} %  {label}")

    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        line()
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            flush()
    flush()
    profiler.disable()
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]

    def inclusive(suffix: str, name: str) -> float:
        return sum(v[3] for (file, _, func), v in table.items()
                   if func == name and file.replace(os.sep, "/").endswith(suffix))

    total = (inclusive("flask/app.py", "wsgi_app") + inclusive("ivr/worker.py", "run_once")
             or 1e-9)
    print(f"\nprofile   cProfile, {n} requests: inclusive time per step, as a share of the "
          f"request (× {full:.0f} µs)")
    for label, suffix, name in STEPS:
        seconds = inclusive(suffix, name)
        if seconds:
            share = seconds / total
            print(f"  {share * 100:5.1f} %  ≈{share * full:6.0f} µs  {label}")
    print(f"\n  own time, top {args.top} (cProfile µs per request, inflated by the profiler):")
    own = sorted(table.items(), key=lambda kv: -kv[1][2])[:args.top]
    for (file, lineno, func), v in own:
        where = "/".join(Path(file).parts[-2:]) if file != "~" else ""
        print(f"  {v[2] / n * 1e6:7.1f} µs {v[1] / n:6.1f} calls  {func} ({where}:{lineno})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
