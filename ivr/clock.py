"""The instant the line decides with: the real clock, or ``IVR_NOW`` frozen for simulation.

Freezing the clock app-wide lets an administrator hear the line "as on Christmas morning".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_request_context, request

from ivr.schedule import TZ
from ivr.services import services


class ClockError(ValueError):
    pass


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant that says its offset; a bare local time would be ambiguous at DST."""
    try:
        instant = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ClockError(f"IVR_NOW : « {text} » n'est pas un instant ISO-8601") from exc
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ClockError(f"IVR_NOW : « {text} » n'a pas de fuseau "
                         "(ex. 2026-12-25T10:00:00-05:00)")
    return instant.astimezone(TZ)


def init_app(app: Flask) -> None:
    frozen = app.config.get("IVR_NOW")
    services(app).now = parse_instant(frozen) if frozen else None


# WSGI environ key for one request's instant: the console's simulator plays a call "at" a
# chosen time. Only in-process callers can set environ keys; no HTTP header reaches it.
REQUEST_INSTANT = "ivr.now"


def now() -> datetime:
    return now_for(current_app, request.environ if has_request_context() else {})


def now_for(app: Flask, environ: Mapping[str, Any]) -> datetime:
    """The instant for one request: its own (simulator), the frozen one, or the real clock."""
    return environ.get(REQUEST_INSTANT) or services(app).now or datetime.now(TZ)
