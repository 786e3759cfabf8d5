"""The app's parts, one typed object (``services(app)``): each concern's ``init_app`` sets its
own, the views and commands read them. Instead of string keys in ``app.extensions``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twilio.request_validator import RequestValidator

    from ivr.health import DatabaseProbe
    from ivr.lines import LineConfig
    from ivr.lookup import LineTypes
    from ivr.overrides_store import OverridesWatcher
    from ivr.replays import RecentRequests
    from ivr.security import PublicURL
    from ivr.spool import Spool
    from ivr.store import Store
    from ivr.twiml import Voice
    from ivr.worker import Worker

KEY = "ivr"


@dataclass
class Services:
    store: Store = None  # type: ignore[assignment]  # each set by its init_app, in order
    spool: Spool = None  # type: ignore[assignment]
    line: LineConfig = None  # type: ignore[assignment]
    worker: Worker = None  # type: ignore[assignment]
    line_types: LineTypes = None  # type: ignore[assignment]
    db_probe: DatabaseProbe = None  # type: ignore[assignment]
    voice: Voice = None  # type: ignore[assignment]
    recent: RecentRequests = None  # type: ignore[assignment]
    validator: RequestValidator = None  # type: ignore[assignment]
    shared_validator: RequestValidator | None = None
    public_url: PublicURL | None = None
    now: datetime | None = None  # IVR_NOW, parsed: the frozen clock
    overrides: OverridesWatcher = None  # type: ignore[assignment]  # the day's changes


def services(app: Any) -> Services:
    """The app's parts (made on first use: ``create_app`` makes them before any request)."""
    found = app.extensions.get(KEY)
    if found is None:
        found = app.extensions[KEY] = Services()
    return found
