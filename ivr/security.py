"""Twilio request signatures, checked on every webhook, and the start-up rule on the token.

Without a valid ``X-Twilio-Signature`` anyone could walk the tree or fake dial results; behind
a TLS-terminating proxy the URL Twilio signed is rebuilt from ``IVR_PUBLIC_URL``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, Request, abort, current_app, request
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    RequestValidator,
    compare,
    get_signature_algorithm,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.request import FORM_TYPE
from ivr.services import services

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
                "TWILIO_AUTH_TOKEN n'est pas défini : la ligne ne peut pas vérifier que les "
                "requêtes viennent de Twilio. Définissez-le, ou IVR_DEV=1 en développement "
                "(les requêtes sont alors signées avec un jeton public de développement)."
            )
        log.warning("IVR_DEV: webhooks are checked against the public development token")
        app.config["TWILIO_AUTH_TOKEN"] = DEV_TOKEN
    services(app).validator = RequestValidator(app.config["TWILIO_AUTH_TOKEN"])
    shared_key = app.config.get("TWILIO_WEBHOOK_SHARED_KEY")
    services(app).shared_validator = RequestValidator(shared_key) if shared_key else None
    hops = int(app.config.get("IVR_TRUSTED_PROXIES") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops, x_prefix=hops)
    services(app).public_url = PublicURL.parse(app.config.get("IVR_PUBLIC_URL"))
    prefix = public_prefix(app.config.get("IVR_PUBLIC_URL"))
    if prefix:
        app.wsgi_app = PublicPrefix(app.wsgi_app, prefix)  # type: ignore[method-assign]


# On the recording callback's URL: Twilio retries it up to 5 times within its 15 s when it
# gets a 5xx (the spool refused the message), cannot connect or times out. A fragment: it
# never reaches the server.
RETRY_OVERRIDES = "#rc=5&rp=5xx,ct,rt"


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


@dataclass(frozen=True)
class PublicURL:
    """``IVR_PUBLIC_URL`` split once: what Twilio signs and calls back is built on it."""

    origin: str  # "https://host"
    prefix: str  # "/ligne", or ""

    @classmethod
    def parse(cls, public_url: str | None) -> PublicURL | None:
        if not public_url:
            return None
        parts = urlsplit(public_url)
        return cls(f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/"))


def absolute_url(path: str) -> str:
    """A URL for Twilio to call later on its own (status callbacks), on the public base."""
    public: PublicURL | None = services(current_app).public_url
    if public is not None:
        return public.origin + path
    return request.host_url.rstrip("/") + path


def signed_url(app: Flask | None = None, req: Request | None = None) -> str:
    """The URL Twilio called, exactly as it signed it (escapes included)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    req = req or request._get_current_object()  # type: ignore[attr-defined]
    environ = req.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        query = req.query_string.decode("latin-1")
        raw = quote(req.script_root + req.path) + (f"?{query}" if query else "")
    public: PublicURL | None = services(app).public_url
    if public is None:
        base = f"{req.scheme}://{req.host}"
        raw = req.script_root + raw if not raw.startswith(req.script_root) else raw
        return base + raw
    prefix = public.prefix
    if prefix and not (raw == prefix or raw.startswith(prefix + "/")
                       or raw.startswith(prefix + "?")):
        raw = prefix + raw  # the proxy stripped the prefix before passing the request on
    return public.origin + raw


def require_twilio_signature() -> None:
    """403 unless the request carries Twilio's signature of its URL and form."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    environ = req.environ
    signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
    if not signature:
        abort(403)
    settings = environ.get("HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS")
    algorithm = get_signature_algorithm(settings)
    validator = services(app).validator
    if settings:
        validator = services(app).shared_validator or validator
    url = signed_url(app, req)
    content_type = req.mimetype
    if not content_type or content_type == FORM_TYPE:
        # The URL as Twilio signed it is rebuilt exactly (signed_url): one signature first;
        # validate()'s two (with and without a default port) only when that one differs.
        valid = algorithm.upper() in (HMAC_SHA1, HMAC_SHA256) and compare(
            validator.compute_signature(url, req.form, algorithm), signature) or \
            validator.validate(url, req.form, signature, algorithm) or \
            req.endpoint == "voice.recording_status" and validator.validate(
                url + RETRY_OVERRIDES, req.form, signature, algorithm)  # if signed with it
    elif "bodySHA256" in req.args:  # Twilio signs other bodies by a hash in the URL
        valid = validator.validate(url, req.get_data(as_text=True), signature, algorithm)
    else:  # a body the signature does not cover: refused, whatever the URL's signature
        valid = False
    if not valid:
        log.warning("403: bad Twilio signature for %s", req.path)
        abort(403)


def sign(url: str, params: dict[str, str], token: str) -> str:
    """The signature Twilio would send; used by the simulator and the tests."""
    return RequestValidator(token).compute_signature(url, params)
