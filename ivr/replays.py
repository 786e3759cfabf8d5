"""Replays: the same signed request seen again (Twilio retrying through a connection
override, or someone who captured it) gets the same answer, but its journal notes are not
written twice. Texts, voicemails and e-mails are idempotent on their own keys in the store.
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


def replayed(app: Flask, req: LineRequest) -> bool:
    if req.replayed is None:
        environ = req.environ
        token = environ.get("HTTP_I_TWILIO_IDEMPOTENCY_TOKEN", "")[:128]
        fingerprint = token or hashlib.sha256(
            (environ.get("HTTP_X_TWILIO_SIGNATURE", "") + req.full_path).encode()
        ).hexdigest()
        req.replayed = services(app).recent.seen(fingerprint)
    return req.replayed
