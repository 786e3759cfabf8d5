"""The baseline for bench/webhook.py: a bare Flask app that answers Twilio's webhook URLs with a
constant TwiML document, doing nothing else (no signature check, no decision, no journal, no
log line). Served by gunicorn with the same settings as the line, it measures what Flask and
gunicorn cost alone, so ``IVR requests/s ÷ bare requests/s`` is the share the line keeps.

The document is read once from the file named by ``BENCH_BODY_FILE`` (webhook.py writes there
the line's own answer to the benched request, so both send exactly the same bytes).

    BENCH_BODY_FILE=answer.xml gunicorn --chdir bench bare_app:app
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response

BODY = Path(os.environ["BENCH_BODY_FILE"]).read_bytes() if os.environ.get("BENCH_BODY_FILE") \
    else b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'

app = Flask(__name__)


# The same URL rules as the line's webhooks, so routing costs the same.
@app.post("/voice")
@app.post("/voice/input/<node_id>")
@app.post("/voice/node/<node_id>")
def answer(node_id: str | None = None) -> Response:
    return Response(BODY, mimetype="text/xml")
