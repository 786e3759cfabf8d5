"""Answers reused: a webhook's decided TwiML, and the journal notes and texts it comes with.

A :class:`~ivr.flow.Turn` reads only the config, the overrides snapshot, the URL, the keys,
whether the caller can be texted and (for schedules and overrides) the clock, so every request
asking the same thing gets the same answer. :func:`answer_key` is the only place the key is
made: the config's version, the overrides' version, the script root, the host (when absolute
URLs come from the Host header), the caller's textability, and what the view reads of the
request (its query string included, which carries the call's language: ``l=en``). An
answer that read the clock holds within its minute only (schedules change on whole
minutes), and not past the overrides' next start or end (an announcement ends on time); one
that plays recordings, while they exist. The call's own data (SID, caller, time) is added per
request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.config import FIRST_LANGUAGE
from ivr.flow import Acknowledge, Ask, Decision, Goodbye, Recording, Transfer, Turn, Voicemail
from ivr.twiml import Voice, render


def answer_key(version: str, overrides_version: str, script_root: str, host: str | None,
               textable: str, request_key: tuple[object, ...]) -> tuple[object, ...]:
    return (version, overrides_version, script_root, host, textable, *request_key)


@dataclass(frozen=True)
class Answer:
    """One decided webhook answer, kept in ``LineConfig.answers`` while it :meth:`holds`."""

    decision: Decision
    body: bytes
    outcome: str
    notes: tuple[Mapping[str, str | None], ...]
    texts: tuple[tuple[str, str], ...]
    minute: datetime | None  # the minute it holds for, when the clock was read
    audio: tuple[Path, ...]
    until: datetime | None = None  # when the clock was read: the overrides' next boundary

    @classmethod
    def of(cls, turn: Turn, decision: Decision, voice: Voice) -> Answer:
        if isinstance(decision, Goodbye):
            turn.note("end")
        body = b"" if isinstance(decision, Acknowledge) else \
            render(decision, voice, turn.languages.get(FIRST_LANGUAGE, turn.config).lexicon,
                   {lang: config.lexicon for lang, config in turn.languages.items()}).encode()
        clock_read = turn.clock_read
        return cls(decision, body, outcome_of(decision), tuple(turn.notes), tuple(turn.texts),
                   turn._now if clock_read else None, tuple(turn.audio),
                   turn.overrides.next_boundary(turn._instant) if clock_read else None)

    def holds(self, minute: datetime, instant: datetime | None = None) -> bool:
        """Whether the answer still stands at ``minute`` (and at the exact ``instant``)."""
        if self.minute is not None and (self.minute != minute or self.until is not None and (
                instant or minute) >= self.until):
            return False
        return all(path.is_file() for path in self.audio)


def outcome_of(decision: Decision) -> str:
    """A short name for the access log: what the caller gets from this answer."""
    return OUTCOMES.get(type(decision), "ack")


OUTCOMES = {Ask: "ask", Transfer: "dial", Voicemail: "record", Recording: "record",
            Goodbye: "hangup"}


class Answers(dict[Any, Any]):
    """The answers decided with this line's files, emptied whenever a file changes. Past
    ``size`` entries it starts over, which a minute of real traffic never reaches."""

    def __init__(self, size: int = 4096) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, answer: Any) -> None:
        if len(self) >= self.size:
            self.clear()
        self[key] = answer
