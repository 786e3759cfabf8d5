"""The line's request class: werkzeug's request, with the few facts a webhook notes for its
access line (attributes rather than ``g``: set and read once per request)."""

from __future__ import annotations

from flask import Request

FORM_TYPE = "application/x-www-form-urlencoded"


class LineRequest(Request):
    started: float | None = None  # time.perf_counter() when the webhook's hook ran
    outcome: str | None = None  # what the caller gets: ask, dial, record, hangup, ack
    replayed: bool | None = None  # None: not checked yet
    fingerprint: str | None = None  # ivr.replays.fingerprint, once computed
    failure: str | None = None  # the exception a webhook turned into an apology

    def parsed_form(self) -> dict[str, str]:
        """The form's first values if it was parsed, else {}: never reads the body (an
        access line after a refusal must not)."""
        form = self.__dict__.get("form")
        return form.to_dict() if form is not None else {}


_CONTROL = dict.fromkeys([*range(32), 127])


def clean(value: str | None, limit: int) -> str | None:
    """A value a caller (or anyone) sent, as the database and an e-mail take it: no control
    characters (NUL, CR, LF…), at most ``limit`` characters."""
    if value is None:
        return None
    return (value if value.isprintable() else value.translate(_CONTROL))[:limit]


def seconds(value: str | None) -> int | None:
    """A duration Twilio sends (``CallDuration``, ``RecordingDuration``): up to six ASCII
    digits (11 days); anything else (``²``, ``1e20``, 23 digits) is no duration."""
    if value and len(value) <= 6 and value.isascii() and value.isdigit():
        return int(value)
    return None
