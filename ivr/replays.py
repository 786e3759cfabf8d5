"""Replays: the same signed request seen again (Twilio retrying through a connection
override, or someone who captured it) gets the same answer, but its journal notes are not
written twice: each event's ``uid`` in the journal is the request's fingerprint and its index,
so a replay adds nothing, whichever process or instance gets it. This process also remembers
the requests it answered lately, for the access line's ``replay`` and to skip the spool. Texts,
voicemails and e-mails are idempotent on their own keys in the store.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from flask import Flask

from ivr.request import LineRequest
from ivr.services import services


class RecentRequests:
    """Fingerprints of the requests this process answered lately."""

    def __init__(self, size: int = 10_000, ttl: float = 3600.0) -> None:
        self.size, self.ttl = size, ttl
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, fingerprint: str) -> bool:
        now = time.monotonic()
        with self._lock:
            at = self._seen.get(fingerprint)
            self._seen[fingerprint] = now
            self._seen.move_to_end(fingerprint)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return at is not None and now - at < self.ttl


def fingerprint(req: LineRequest) -> str:
    """The request's identity: Twilio's idempotency token (the same on its retries), else its
    signature (of the URL and every parameter) and path."""
    if req.fingerprint is None:
        environ = req.environ
        token = environ.get("HTTP_I_TWILIO_IDEMPOTENCY_TOKEN", "")[:128]
        req.fingerprint = hashlib.sha256(
            (f"token:{token}" if token else
             environ.get("HTTP_X_TWILIO_SIGNATURE", "") + req.full_path).encode()).hexdigest()
    return req.fingerprint


def replayed(app: Flask, req: LineRequest) -> bool:
    if req.replayed is None:
        req.replayed = services(app).recent.seen(fingerprint(req))
    return req.replayed
