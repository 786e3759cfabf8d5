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
from flask import Request, current_app
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.utils import cached_property

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

    @cached_property
    def fields(self) -> dict[str, str]:
        """The form's first value of each field, as a plain dict: what a webhook reads
        (``form.get`` costs a MultiDict lookup, and an exception for a missing field)."""
        form = self.form  # parsing it here may have set the dict already
        return self.__dict__.get("fields") or dict(form.items())

    def parsed_fields(self) -> dict[str, str]:
        """:attr:`fields` if the form was parsed, else {} (never reads the body)."""
        if "form" not in self.__dict__:
            return {}
        return self.fields

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        content_type = self.environ.get("CONTENT_TYPE", "")
        if self.method != "POST" or content_type.partition(";")[0].strip().lower() != FORM_TYPE:
            super()._load_form_data()
            return
        max_length, max_fields = self._limits()
        pairs = parse_form(self._body(max_length), max_fields or MAX_FIELDS)
        self.form_pairs = pairs
        lists: dict[str, list[str]] = {}
        first: dict[str, str] = {}
        for name, value in pairs:
            values = lists.get(name)
            if values is None:
                lists[name] = [value]
                first[name] = value
            else:
                values.append(value)
        form: ImmutableMultiDict[str, str] = ImmutableMultiDict()
        dict.update(form, lists)  # a MultiDict is a dict of lists; built at once, not per field
        self.__dict__["form"] = form
        self.__dict__["fields"] = first
        self.__dict__["files"] = ImmutableMultiDict()

    def _limits(self) -> tuple[int | None, int | None]:
        """(MAX_CONTENT_LENGTH, MAX_FORM_PARTS) as Flask's properties give them, with one
        look-up of the app rather than two of each."""
        # Per-request limits exist since Flask 3.1; before, the config alone set them.
        max_length = getattr(self, "_max_content_length", None)
        max_parts = getattr(self, "_max_form_parts", None)
        if max_length is None or max_parts is None:
            app = current_app._get_current_object() if current_app else None  # type: ignore[attr-defined]
            if app is not None:
                config = app.config
                if max_length is None:
                    max_length = config["MAX_CONTENT_LENGTH"]
                if max_parts is None:
                    max_parts = config["MAX_FORM_PARTS"]
            else:
                max_length = super().max_content_length if max_length is None else max_length
                max_parts = super().max_form_parts if max_parts is None else max_parts
        return max_length, max_parts

    def _body(self, limit: int | None) -> bytes:
        """The body, kept for ``get_data()``; read straight from the server when its length
        is declared (werkzeug's stream wrappers cost more than the read)."""
        environ = self.environ
        declared = environ.get("CONTENT_LENGTH", "")
        if not declared.isdigit() or environ.get("HTTP_TRANSFER_ENCODING", "").lower() \
                == "chunked" or self.__dict__.get("_cached_data") is not None:
            return self.get_data(cache=True)  # werkzeug's limits apply
        length = int(declared)
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        body: bytes = environ["wsgi.input"].read(length) if length else b""
        self._cached_data = body
        return body
