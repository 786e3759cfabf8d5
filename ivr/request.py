"""The line's request class: form posts parsed fast, and what the access line reports.

Every webhook is a form post of some thirty fields, and the signature check reads all of
them. Werkzeug's general form parser (stream limits, a parser object, a MultiDict built
field by field) costs more than the rest of the webhook put together; this one gives the same
``request.form`` with a split and a cached unescape, since most values (the numbers, the call
status, the cities) repeat from request to request.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote

import werkzeug.urls  # noqa: F401  registers the "werkzeug.url_quote" error handler
from flask import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # werkzeug's max_form_parts: a body of 64 kB of "&" is not a form


@lru_cache(maxsize=8192)
def _unescape(text: str) -> str:
    # As werkzeug: invalid UTF-8 escapes are kept escaped rather than replaced.
    return unquote(text.replace("+", " "), errors="werkzeug.url_quote")


def parse_form(body: bytes, max_fields: int = MAX_FIELDS) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)`` in werkzeug's flavour,
    faster: fields that need no unescaping (most of Twilio's) are taken as they are."""
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise BadRequest("the form is not UTF-8") from exc
    if text.count("&") >= max_fields:
        raise RequestEntityTooLarge(f"more than {max_fields} form fields")
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = _unescape(name)
        if "%" in value or "+" in value:
            value = _unescape(value) if len(value) <= 256 else _unescape.__wrapped__(value)
        pairs.append((name, value))
    return pairs


class LineRequest(Request):
    """Flask's request, with url-encoded bodies parsed by :func:`parse_form`, and the few facts
    a webhook notes for its access line (attributes rather than ``g``: read once per request
    on the hot path, without a context-local lookup each)."""

    started: float | None = None  # time.perf_counter() when the webhook's hook ran
    outcome: str | None = None  # what the caller gets: ask, dial, record, hangup, ack
    replayed: bool | None = None  # None: not checked yet
    failure: str | None = None  # the exception a webhook turned into an apology

    form_pairs: list[tuple[str, str]] | None = None  # the form in body order (signatures)

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        content_type = self.environ.get("CONTENT_TYPE", "")
        if self.method != "POST" or content_type.partition(";")[0].strip().lower() != FORM_TYPE:
            super()._load_form_data()
            return
        pairs = parse_form(self._body(), self.max_form_parts or MAX_FIELDS)
        self.form_pairs = pairs
        self.__dict__["form"] = ImmutableMultiDict(pairs)
        self.__dict__["files"] = ImmutableMultiDict()

    def _body(self) -> bytes:
        """The body, kept for ``get_data()``; read straight from the server when its length
        is declared (werkzeug's stream wrappers cost more than the read)."""
        environ = self.environ
        declared = environ.get("CONTENT_LENGTH", "")
        if not declared.isdigit() or environ.get("HTTP_TRANSFER_ENCODING", "").lower() \
                == "chunked" or self.__dict__.get("_cached_data") is not None:
            return self.get_data(cache=True)  # werkzeug's limits apply
        length = int(declared)
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        body: bytes = environ["wsgi.input"].read(length) if length else b""
        self._cached_data = body
        return body
