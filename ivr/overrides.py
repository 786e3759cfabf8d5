"""What administrators changed for the day, without editing YAML (issue 17): announcements at
the front of the line or of a branch, and temporary closures or openings of a support team.

These are plain values: ``ivr.overrides_store`` keeps them in the database (with who changed
what, and from where) and hands every process a fresh ``Overrides`` snapshot every couple of
seconds; ``ivr.flow`` reads the snapshot it is given. Each entry has an end, so nothing stays
on because someone forgot it: an entry past its end is simply no longer active.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_ANNOUNCEMENT = timedelta(days=14)  # an announcement's start and end: at most this apart

LINE = "ligne"  # scope: the whole line (played at the welcome)
CONTINUE = "continuer"  # after an announcement: the menu goes on (the default)
HANG_UP = "raccrocher"  # after an announcement: a polite goodbye
CLOSURE, OPENING = "fermeture", "ouverture"


@dataclass(frozen=True)
class Announcement:
    id: int
    scope: str  # LINE, or a node id (e.g. "patient", "personnel", "personnel_application_teams")
    starts_at: datetime  # aware
    ends_at: datetime  # aware; at most MAX_ANNOUNCEMENT after starts_at
    text: str | None = None  # spoken with the line's voice and lexicon…
    audio_url: str | None = None  # …or a recording played instead
    then: str = CONTINUE  # CONTINUE, HANG_UP, or a node id to go to (urgent line, voicemail)
    # What an English caller hears instead of ``text`` (with the English voice and lexicon);
    # None: the French text, in the French voice. Only with a text: a recording is for all.
    text_en: str | None = None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class ScheduleChange:
    """A provider closed (or open) from ``starts_at`` to ``ends_at``, whatever its hours say;
    it wins over the YAML's closures and openings for the same instant."""

    id: int
    provider: str
    kind: str  # CLOSURE or OPENING
    starts_at: datetime
    ends_at: datetime
    reason: str = ""
    who: str = ""

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class Overrides:
    """One snapshot of the day's changes, as a process serves them."""

    announcements: tuple[Announcement, ...] = ()
    changes: tuple[ScheduleChange, ...] = ()

    @property
    def version(self) -> str:
        """Changes when anything in the snapshot does: part of the answer-reuse key."""
        return hashlib.sha256(repr((self.announcements, self.changes)).encode()).hexdigest()[:16]

    def announcements_at(self, scope: str, now: datetime) -> tuple[Announcement, ...]:
        """The announcements active at ``now`` for ``scope``, oldest first."""
        return tuple(a for a in self.announcements if a.scope == scope and a.active(now))

    def change_at(self, provider: str, now: datetime) -> ScheduleChange | None:
        """The console's closure or opening of ``provider`` at ``now``, the latest created
        winning when several overlap; None when the YAML's hours decide."""
        found = [c for c in self.changes if c.provider == provider and c.active(now)]
        return max(found, key=lambda c: c.id) if found else None

    def next_boundary(self, now: datetime) -> datetime | None:
        """The next instant an entry starts or ends: an answer decided now holds until then."""
        edges = [t for entry in (*self.announcements, *self.changes)
                 for t in (entry.starts_at, entry.ends_at) if t > now]
        return min(edges) if edges else None


NONE = Overrides()
