"""Twilio request signatures, checked on every webhook, and the start-up rule on the token.

Without a valid ``X-Twilio-Signature`` anyone could walk the tree or fake dial results; behind
a TLS-terminating proxy the URL Twilio signed is rebuilt from ``IVR_PUBLIC_URL``.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

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


def signed_url() -> str:
    """The URL Twilio called, exactly as it signed it (escapes included)."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        query = request.query_string.decode("latin-1")
        raw = quote(request.script_root + request.path) + (f"?{query}" if query else "")
    base = current_app.config.get("IVR_PUBLIC_URL")
    if not base:
        base = f"{request.scheme}://{request.host}"
        raw = request.script_root + raw if not raw.startswith(request.script_root) else raw
    return base.rstrip("/") + raw


def require_twilio_signature() -> None:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        abort(403)
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator = current_app.extensions["ivr.validator"]
    if request.headers.get(SIGNATURE_SETTINGS_HEADER):
        validator = current_app.extensions["ivr.shared_validator"] or validator
    if not validator.validate(signed_url(), request.form, signature, algorithm):
        log.warning("403: bad Twilio signature for %s", request.path)
        abort(403)


def sign(url: str, params: dict[str, str], token: str) -> str:
    """The signature Twilio would send; used by the simulator and the tests."""
    return RequestValidator(token).compute_signature(url, params)
