"""One structured line per webhook, logged on ``ivr.access``.

The webhook logs an :class:`AccessLine`; it becomes JSON (the caller's number masked) only
when a handler formats the record: in production on the log thread behind the root logger's
``QueueHandler`` (``ivr._log_off_the_call_path``), never on the call path.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ivr.notify import mask_phone

log = logging.getLogger("ivr.access")
OPTIONAL = ("keys", "dial", "error", "replay")  # written only when present: greppable lines

_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class AccessLine:
    """What one webhook did, as the request saw it; its text is made when it is written."""

    __slots__ = ("fields",)

    def __init__(self, **fields: Any) -> None:
        self.fields = fields

    def __str__(self) -> str:
        fields = dict(self.fields)
        caller = fields.pop("caller", None)
        line = {key: value for key, value in fields.items() if key not in OPTIONAL}
        line["from"] = mask_phone(caller) if caller else None
        line.update((key, fields[key]) for key in OPTIONAL if fields.get(key))
        return _to_json(line)


def enabled() -> bool:
    return log.isEnabledFor(logging.INFO)


def record(**fields: Any) -> None:
    """Log one webhook's line (formatted later, by whichever handler writes it)."""
    log.info(AccessLine(**fields))
