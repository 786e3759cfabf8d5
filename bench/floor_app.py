"""The floor for bench/webhook.py: the least code that does the benched request's work, in the
same stack, each step at its cheapest. It measures how much of the bare app's throughput any
line doing this work could keep here, so the line is judged against what is possible, not
only against an app that does nothing.

Per request, what the line must do and nothing else: read the 28-field form (the line's own
parser), check Twilio's signature (the line's own HMAC over the sorted fields), drop a replayed
request (a dict of idempotency tokens), then answer the constant TwiML of the benched request,
with no decision (the line reuses its decided answers, so neither does it decide here). Off the
call path, as the line: the request's three journal events and its call summary, written once a
second by a thread per process with plain ``sqlite3`` (one transaction, executemany, no
SQLAlchemy) into the line's schema (its indexes included); and a JSON access line, formatted by
the root handler in batches and written once per batch. No Flask hook, no blueprint, no
context-local lookups beyond ``request``.

    BENCH_BODY_FILE=answer.xml TWILIO_AUTH_TOKEN=… IVR_PUBLIC_URL=http://127.0.0.1:8000 \\
        DATABASE_URL=sqlite:///ivr.sqlite3 gunicorn --chdir bench floor_app:app
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

from flask import Flask, Response, request

from ivr.notify import mask_phone

BODY = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
TOKEN = os.environ["TWILIO_AUTH_TOKEN"].encode()
BASE = os.environ["IVR_PUBLIC_URL"].rstrip("/")  # what Twilio signed: the line's public URL
DATABASE = os.environ["DATABASE_URL"].removeprefix("sqlite:///")
# The benched request's notes (webhook.py's route scenario): key, enter, dial.
EVENTS = (("key", "personnel_equipement_ciusss", "1"), ("enter", "urgence_ti", None),
          ("dial", "urgence_ti", "csi"))

app = Flask(__name__)
journal: deque[tuple[str, float, str | None]] = deque()
access: deque[tuple[float, str | None, str, str | None, str | None, float]] = deque()
recent: dict[str, float] = {}
recent_lock = threading.Lock()
_started: set[int] = set()
access_log = logging.getLogger("ivr.access")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _signature(url: str, pairs: list[tuple[str, str]]) -> str:
    """Twilio's HMAC-SHA1 of the URL and the sorted pairs, in one OpenSSL call."""
    signed = url + "".join(map("".join, sorted(set(pairs))))
    return base64.b64encode(hmac.digest(TOKEN, signed.encode(), "sha1")).decode()


def _write_journal(connection: sqlite3.Connection) -> None:
    rows, calls = [], {}
    while journal:
        call_sid, at, caller = journal.popleft()
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.extend((call_sid, when, *event) for event in EVENTS)
        calls[call_sid] = (call_sid, when, caller)
    if not rows:
        return
    with connection:  # one transaction
        connection.executemany("INSERT INTO calls (call_sid, started_at, caller) VALUES "
                               "(?, ?, ?) ON CONFLICT (call_sid) DO NOTHING", calls.values())
        connection.executemany("INSERT INTO call_events (call_sid, at, kind, node, detail) "
                               "VALUES (?, ?, ?, ?, ?)", rows)
        connection.executemany("UPDATE calls SET branch = 'personnel', last_node = "
                               "'urgence_ti', destination = 'csi' WHERE call_sid = ?",
                               [(call_sid,) for call_sid in calls])


def _write_access_lines() -> None:
    handler = logging.getLogger().handlers[0]
    template = access_log.makeRecord(access_log.name, logging.INFO, __file__, 0, "", None, None)
    lines = []
    while access:
        at, call_sid, path, caller, digits, ms = access.popleft()
        record = logging.LogRecord.__new__(logging.LogRecord)
        record.__dict__.update(template.__dict__)
        record.msg = json.dumps({"call": call_sid, "method": "POST", "path": path,
                                 "status": 200, "outcome": "dial", "ms": ms, "from": caller,
                                 "keys": digits}, ensure_ascii=False, separators=(",", ":"))
        record.created = at
        lines.append(handler.format(record) + "\n")
    if lines:
        handler.stream.write("".join(lines))
        handler.flush()


def _writer() -> None:
    connection = sqlite3.connect(DATABASE, timeout=5, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    last_journal = float("-inf")  # due at once, however long the machine has been up
    while True:
        time.sleep(0.2)
        _write_access_lines()
        if time.monotonic() - last_journal >= 1.0:
            last_journal = time.monotonic()
            _write_journal(connection)


@app.post("/voice")
@app.post("/voice/input/<node_id>")
@app.post("/voice/node/<node_id>")
def answer(node_id: str | None = None) -> Response:
    started = time.perf_counter()
    if os.getpid() not in _started:  # after gunicorn's fork
        _started.add(os.getpid())
        threading.Thread(target=_writer, daemon=True).start()
    environ = request.environ
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    fields = dict(pairs)
    url = BASE + environ["RAW_URI"]
    if not hmac.compare_digest(_signature(url, pairs),
                               environ.get("HTTP_X_TWILIO_SIGNATURE", "")):
        return Response(b"", status=403)
    token = environ.get("HTTP_I_TWILIO_IDEMPOTENCY_TOKEN", "")
    now = time.time()
    with recent_lock:
        replayed = token in recent
        recent[token] = now
        if len(recent) > 10_000:
            del recent[next(iter(recent))]
    call_sid, caller = fields.get("CallSid"), fields.get("From")
    masked = caller and mask_phone(caller)
    if call_sid and not replayed:
        journal.append((call_sid, now, masked))
    access.append((now, call_sid, request.path, masked, fields.get("Digits"),
                   round((time.perf_counter() - started) * 1000, 2)))
    return Response(BODY, mimetype="text/xml")
