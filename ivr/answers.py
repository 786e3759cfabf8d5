"""Answers reused: a webhook's decided TwiML, and the journal notes and texts it comes with.

A :class:`~ivr.flow.Turn` reads only the config, the URL, the keys, whether the caller can be
texted and (for schedules) the minute: every request asking the same thing gets the same
answer, so it is decided once and reused. **The key** (:func:`answer_key`, the only place it
is made) is: the config's version, the script root the app is served under, the host (only
when absolute URLs are built from the Host header), the caller's textability, and what the
view reads of the request (its route, its query string, the keys or the dial status). An
answer that read the clock holds within its minute only (the schedules change on whole
minutes); one that plays recordings, while they exist. The call's own data (SID, caller,
time) is added per request.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.flow import Acknowledge, Ask, Decision, Goodbye, Transfer, Turn, Voicemail
from ivr.twiml import Voice, render


def answer_key(version: str, script_root: str, host: str | None, textable: str,
               request_key: tuple[object, ...]) -> tuple[object, ...]:
    return (version, script_root, host, textable, *request_key)


@dataclass(frozen=True)
class Answer:
    """A decided webhook answer: the TwiML, and the journal notes and texts it comes with.

    A :class:`Turn` reads only the config, the URL, the keys, whether the caller can be texted
    and (for schedules) the minute: every request asking the same thing gets the same answer.
    So answers are kept (``LineConfig.answers``) and reused: one that read the clock, within
    its minute only (the schedules change on whole minutes); one that plays recordings, while
    they exist. The call's own data (SID, caller, time) is added per request.
    """

    decision: Decision
    body: bytes
    outcome: str
    notes: tuple[Mapping[str, str | None], ...]
    texts: tuple[tuple[str, str], ...]
    minute: datetime | None  # the minute it holds for, when the clock was read
    audio: tuple[Path, ...]

    @classmethod
    def of(cls, turn: Turn, decision: Decision, voice: Voice) -> Answer:
        if isinstance(decision, Goodbye):
            turn.note("end")
        body = b"" if isinstance(decision, Acknowledge) else \
            render(decision, voice, turn.config.lexicon).encode()
        return cls(decision, body, outcome_of(decision), tuple(turn.notes), tuple(turn.texts),
                   turn._now if turn.clock_read else None, tuple(turn.audio))

    def holds(self, minute: datetime) -> bool:
        return (self.minute is None or self.minute == minute) and \
            all(path.is_file() for path in self.audio)


def outcome_of(decision: Decision) -> str:
    """A short name for the access log: what the caller gets from this answer."""
    if isinstance(decision, Ask):
        return "ask"
    if isinstance(decision, Transfer):
        return "dial"
    if isinstance(decision, Voicemail):
        return "record"
    if isinstance(decision, Goodbye):
        return "hangup"
    return "ack"


class Answers:
    """Webhook answers already decided with this line's files (voice.py says which requests
    may share one). Emptied whenever a file changes; past ``size`` entries it starts over,
    which a minute of real traffic never reaches."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._answers: dict[Hashable, Any] = {}

    def get(self, key: Hashable) -> Any | None:
        return self._answers.get(key)

    def put(self, key: Hashable, answer: Any) -> None:
        if len(self._answers) >= self.size:
            self._answers.clear()
        self._answers[key] = answer

    def clear(self) -> None:
        self._answers.clear()

    def __len__(self) -> int:
        return len(self._answers)
