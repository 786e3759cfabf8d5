"""Twilio request signatures, checked on every webhook, and the start-up rule on the token.

Without a valid ``X-Twilio-Signature`` anyone could walk the tree or fake dial results; behind
a TLS-terminating proxy the URL Twilio signed is rebuilt from ``IVR_PUBLIC_URL``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, abort, current_app, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)

# Public on purpose: only for IVR_DEV, so `make run` works with no Twilio account.
DEV_TOKEN = "ivr-dev-token-not-secret"


class InsecureStart(RuntimeError):
    pass


def init_app(app: Flask) -> None:
    token = app.config.get("TWILIO_AUTH_TOKEN")
    if not token:
        if not app.config.get("IVR_DEV"):
            raise InsecureStart(
                "TWILIO_AUTH_TOKEN is not set: the line cannot check that requests come from "
                "Twilio. Set it, or set IVR_DEV=1 for development (requests are then signed "
                "with a public development token)."
            )
        log.warning("IVR_DEV: webhooks are checked against the public development token")
        app.config["TWILIO_AUTH_TOKEN"] = DEV_TOKEN
    app.extensions["ivr.validator"] = RequestValidator(app.config["TWILIO_AUTH_TOKEN"])
    shared_key = app.config.get("TWILIO_WEBHOOK_SHARED_KEY")
    app.extensions["ivr.shared_validator"] = RequestValidator(shared_key) if shared_key else None
    hops = int(app.config.get("IVR_TRUSTED_PROXIES") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops, x_prefix=hops)
    prefix = public_prefix(app.config.get("IVR_PUBLIC_URL"))
    if prefix:
        app.wsgi_app = PublicPrefix(app.wsgi_app, prefix)  # type: ignore[method-assign]


def public_prefix(public_url: str | None) -> str:
    """The path part of ``IVR_PUBLIC_URL`` ("/ligne" for https://host/ligne/), or ""."""
    return urlsplit(public_url or "").path.rstrip("/")


class PublicPrefix:
    """Serve the app under the public URL's path, whether or not the proxy strips it.

    Twilio resolves our root-relative action URLs against the public host, so they must carry
    the prefix: with SCRIPT_NAME set, ``url_for`` adds it.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], prefix: str) -> None:
        self.app, self.prefix = app, prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["PATH_INFO"] = path[len(self.prefix):]
        environ["SCRIPT_NAME"] = self.prefix
        return self.app(environ, start_response)


def absolute_url(path: str) -> str:
    """A URL for Twilio to call later on its own (status callbacks), on the public base."""
    public = current_app.config.get("IVR_PUBLIC_URL")
    if public:
        parts = urlsplit(public)
        return f"{parts.scheme}://{parts.netloc}{path}"
    return request.host_url.rstrip("/") + path


def signed_url() -> str:
    """The URL Twilio called, exactly as it signed it (escapes included)."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        query = request.query_string.decode("latin-1")
        raw = quote(request.script_root + request.path) + (f"?{query}" if query else "")
    public = current_app.config.get("IVR_PUBLIC_URL")
    if not public:
        base = f"{request.scheme}://{request.host}"
        raw = request.script_root + raw if not raw.startswith(request.script_root) else raw
        return base + raw
    parts = urlsplit(public)
    prefix = parts.path.rstrip("/")
    if prefix and not (raw == prefix or raw.startswith(prefix + "/")
                       or raw.startswith(prefix + "?")):
        raw = prefix + raw  # the proxy stripped the prefix before passing the request on
    return f"{parts.scheme}://{parts.netloc}{raw}"


def require_twilio_signature() -> None:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        abort(403)
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator = current_app.extensions["ivr.validator"]
    if request.headers.get(SIGNATURE_SETTINGS_HEADER):
        validator = current_app.extensions["ivr.shared_validator"] or validator
    url = signed_url()
    # Fast path: the URL exactly as rebuilt, one HMAC. The library's validate() always computes
    # two (with and without the default port); it is kept for the rare request that needs it.
    try:
        exact = validator.compute_signature(url, request.form, algorithm)
    except ValueError:  # an algorithm the library does not know: validate() logs and refuses
        exact = ""
    if not hmac.compare_digest(exact.encode(), signature.encode()) and \
            not validator.validate(url, request.form, signature, algorithm):
        log.warning("403: bad Twilio signature for %s", request.path)
        abort(403)


def sign(url: str, params: dict[str, str], token: str) -> str:
    """The signature Twilio would send; used by the simulator and the tests."""
    return RequestValidator(token).compute_signature(url, params)
