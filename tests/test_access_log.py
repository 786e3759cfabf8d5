"""One access line per webhook on ``ivr.access``: JSON made when the record is written, the
caller's number masked."""

from __future__ import annotations

import json
import logging
import queue
from logging.handlers import QueueHandler

from ivr.accesslog import AccessLine
from ivr.simulator import CallSimulator


def access_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ivr.access"]


def test_each_webhook_logs_one_line(make_app, caplog):
    app = make_app()
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        result = CallSimulator(app, caller="+15145550123").play("2,1")
    lines = [json.loads(r.getMessage()) for r in access_records(caplog)]
    assert [line["path"] for line in lines][:3] == [
        "/voice", "/voice/input/accueil", "/voice/input/personnel"]
    assert all(line["call"] == result.call_sid for line in lines)
    assert {line["status"] for line in lines} <= {200, 204}
    assert lines[1]["keys"] == "2" and lines[1]["node"] == "accueil"
    assert lines[0]["from"] == "+1514…23"
    assert "5550123" not in caplog.text
    assert "keys" not in lines[0] and "replay" not in lines[0]  # only when present


def test_the_line_is_made_when_written_not_when_logged():
    """Behind the root's QueueHandler the record waits with its AccessLine: the JSON and the
    masking happen on the thread that writes it."""
    waiting: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()

    class Later(QueueHandler):
        def prepare(self, record):
            return record

    logger = logging.getLogger("ivr.access")
    handler, level = Later(waiting), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info(AccessLine(call="CA1", method="POST", path="/voice", node=None,
                               status=200, outcome="ask", ms=1.5, caller="+15145550123",
                               keys="1", dial=None, error="RuntimeError", replay=True))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    record = waiting.get_nowait()
    assert isinstance(record.msg, AccessLine)  # not formatted yet
    line = json.loads(record.getMessage())
    assert line == {"call": "CA1", "method": "POST", "path": "/voice", "node": None,
                    "status": 200, "outcome": "ask", "ms": 1.5, "from": "+1514…23",
                    "keys": "1", "error": "RuntimeError", "replay": True}


def test_a_refused_request_is_logged_without_reading_its_body(make_app, caplog):
    app = make_app()
    with caplog.at_level(logging.INFO, logger="ivr.access"):
        response = app.test_client().post("/voice", data={"From": "+15145550123"})
    assert response.status_code == 403
    [record] = access_records(caplog)
    line = json.loads(record.getMessage())
    assert (line["status"], line["from"], line["call"]) == (403, None, None)
