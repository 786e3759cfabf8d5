"""The line's request class: werkzeug's request, with the few facts a webhook notes for its
access line (attributes rather than ``g``: set and read once per request)."""

from __future__ import annotations

from flask import Request

FORM_TYPE = "application/x-www-form-urlencoded"


class LineRequest(Request):
    started: float | None = None  # time.perf_counter() when the webhook's hook ran
    outcome: str | None = None  # what the caller gets: ask, dial, record, hangup, ack
    replayed: bool | None = None  # None: not checked yet
    failure: str | None = None  # the exception a webhook turned into an apology

    def parsed_form(self) -> dict[str, str]:
        """The form's first values if it was parsed, else {}: never reads the body (an
        access line after a refusal must not)."""
        form = self.__dict__.get("form")
        return form.to_dict() if form is not None else {}
