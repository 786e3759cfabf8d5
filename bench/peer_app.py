"""The peer: the benched request's work done the way Twilio's and Flask's guides show it.

A Flask view behind a ``validate_twilio_request`` decorator (twilio's ``RequestValidator`` on
``request.url`` and ``request.form``), the Québec holidays from the ``holidays`` package (with
the RSSS's Easter Monday, 2 January and 26 December added), the CSI's hours checked on every
request, the answer built with ``VoiceResponse``, three journal rows and the call's summary
committed to SQLite (WAL) before answering, and a JSON access line logged. What a competent
team would write without the line's design (decisions reused, the journal written off the
call path). ``bench/webhook.py`` runs it beside the line, the floor and the bare app:

    TWILIO_AUTH_TOKEN=… IVR_PUBLIC_URL=http://127.0.0.1:8000 \\
        DATABASE_URL=sqlite:///ivr.sqlite3 gunicorn --chdir bench peer_app:app
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from datetime import date, datetime, timedelta
from functools import wraps
from zoneinfo import ZoneInfo

import holidays
from dateutil.easter import easter
from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

TZ = ZoneInfo("America/Toronto")
TOKEN = os.environ["TWILIO_AUTH_TOKEN"]
BASE = os.environ["IVR_PUBLIC_URL"].rstrip("/")  # what Twilio signed: the line's public URL
DATABASE = os.environ["DATABASE_URL"].removeprefix("sqlite:///")
NOW = os.environ.get("IVR_NOW")  # the same frozen instant as the line's

app = Flask(__name__)
validator = RequestValidator(TOKEN)
log = logging.getLogger("ivr.access")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
local = threading.local()


def validate_twilio_request(view):
    """Twilio's guide: 403 unless the signature of the URL and the form is Twilio's."""
    @wraps(view)
    def checked(*args, **kwargs):
        url = BASE + request.full_path.rstrip("?")
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature",
                                                                         "")):
            abort(403)
        return view(*args, **kwargs)
    return checked


def rsss_holiday(day: date) -> bool:
    quebec = holidays.country_holidays("CA", subdiv="QC", years=day.year)
    extra = {easter(day.year) + timedelta(days=1), date(day.year, 1, 2),
             date(day.year, 12, 26)}
    return day in quebec or day in extra


def csi_open(now: datetime) -> bool:
    return now.weekday() < 5 and 7 <= now.hour < 17 and not rsss_holiday(now.date())


def database() -> sqlite3.Connection:
    connection = getattr(local, "connection", None)
    if connection is None:
        connection = local.connection = sqlite3.connect(DATABASE, timeout=5)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
    return connection


@app.post("/voice/input/<node_id>")
@validate_twilio_request
def gathered(node_id: str) -> Response:
    now = datetime.fromisoformat(NOW).astimezone(TZ) if NOW else datetime.now(TZ)
    call_sid, caller = request.form["CallSid"], request.form.get("From", "")
    response = VoiceResponse()
    response.say("Je vous transfère au soutien informatique.", voice="Polly.Gabrielle-Neural",
                 language="fr-CA")
    dial = Dial(action=f"/voice/dial/urgence_ti/0?{request.query_string.decode()}",
                method="POST", timeout=20, answer_on_bridge=True)
    if csi_open(now):
        dial.number("+15142514000", send_digits="wwww5656")
    else:
        dial.number("+15142513050")
    response.append(dial)
    at = datetime.now(TZ).isoformat()
    with database() as connection:  # the journal, committed before answering
        connection.execute("INSERT INTO calls (call_sid, started_at, caller) VALUES (?, ?, ?) "
                           "ON CONFLICT (call_sid) DO NOTHING", (call_sid, at, caller[-2:]))
        connection.executemany(
            "INSERT INTO call_events (call_sid, at, kind, node, detail) VALUES (?, ?, ?, ?, ?)",
            [(call_sid, at, "key", node_id, request.form.get("Digits")),
             (call_sid, at, "enter", "urgence_ti", None), (call_sid, at, "dial", "urgence_ti",
                                                         "csi")])
        connection.execute("UPDATE calls SET branch = 'personnel', last_node = 'urgence_ti', "
                           "destination = 'csi' WHERE call_sid = ?", (call_sid,))
    log.info(json.dumps({"call": call_sid, "method": "POST", "path": request.path,
                         "status": 200, "outcome": "dial", "from": caller[:5] + "…"},
                        ensure_ascii=False))
    return Response(str(response), mimetype="text/xml")
