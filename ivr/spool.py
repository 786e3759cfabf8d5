"""The spool: what the line acknowledged, on the local disk before the answer leaves.

A webhook never writes to the database: a hung or dead database would hold the caller (issue
16). It appends one row to this SQLite file in the instance folder instead (~10 µs: WAL,
``synchronous=NORMAL``, so a committed row survives a kill of the process; an OS crash may lose
the last ones) and answers. The worker thread of any process of the instance claims rows,
writes them to the database and deletes them; rows claimed by a process that died are taken
again. Writing twice is harmless: every kind is idempotent on its own key (journal events on
their ``uid``, voicemails on the recording, texts on their dedupe key).

A row the database refuses for what it holds (not for being away) is moved to ``quarantine``
with the error, so it never blocks the rows behind it; ``/healthz`` then says ``degraded``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT = 1.0  # seconds a webhook may wait for the file (someone else's lock): then it gives up
LEASE = 60.0  # a claimed row not deleted after this is taken again (its claimer died)

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, fingerprint TEXT, body TEXT NOT NULL,
    queued_at REAL NOT NULL, claimed_by INTEGER, claimed_at REAL);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, fingerprint TEXT, body TEXT NOT NULL,
    queued_at REAL NOT NULL, error TEXT NOT NULL, at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Item:
    id: int
    kind: str  # notes | voicemail | sms
    fingerprint: str | None  # the request's, for journal events written once
    body: dict[str, Any]
    queued_at: float  # epoch seconds


@dataclass(frozen=True)
class Backlog:
    pending: int
    quarantined: int
    oldest: float | None  # epoch seconds of the oldest pending row


class Spool:
    """One SQLite file shared by the processes of an instance; one connection per thread."""

    def __init__(self, path: str | Path, timeout: float = TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a fork's child opens its own
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))  # callers' numbers
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA secure_delete=ON")  # a written row leaves no trace
            connection.executescript(SCHEMA)
            local.connection, local.pid = connection, os.getpid()
        return local.connection

    def put(self, kind: str, body: dict[str, Any], fingerprint: str | None = None) -> bool:
        """Append a row, durable when this returns True; False (logged) if the file refused
        within ``timeout``: the caller decides what the request answers then."""
        try:
            self._connection().execute(
                "INSERT INTO items (kind, fingerprint, body, queued_at) VALUES (?, ?, ?, ?)",
                (kind, fingerprint, json.dumps(body, ensure_ascii=False), time.time()))
            return True
        except (sqlite3.Error, OSError, TypeError, ValueError) as exc:
            log.error("spool: %s not kept (%s: %s)", kind, type(exc).__name__, exc)
            return False

    def claim(self, limit: int) -> list[Item]:
        """Rows for this process to write, oldest first: unclaimed, or left by a dead claimer."""
        now, pid = time.time(), os.getpid()
        connection = self._connection()
        self._release_dead(connection)
        rows = connection.execute(
            "UPDATE items SET claimed_by = ?, claimed_at = ? WHERE id IN ("
            " SELECT id FROM items WHERE claimed_at IS NULL OR claimed_at < ?"
            " ORDER BY id LIMIT ?) RETURNING id, kind, fingerprint, body, queued_at",
            (pid, now, now - LEASE, limit)).fetchall()
        return sorted((Item(id_, kind, fp, json.loads(body), at)
                       for id_, kind, fp, body, at in rows), key=lambda item: item.id)

    def _release_dead(self, connection: sqlite3.Connection) -> None:
        """Rows claimed by a process that no longer exists are free again at once (a worker
        killed in the middle of a batch): no need to wait for the lease."""
        pids = [pid for (pid,) in connection.execute(
            "SELECT DISTINCT claimed_by FROM items WHERE claimed_by IS NOT NULL")]
        dead = [pid for pid in pids if pid != os.getpid() and not _alive(pid)]
        if dead:
            connection.executemany("UPDATE items SET claimed_by = NULL, claimed_at = NULL "
                                   "WHERE claimed_by = ?", [(pid,) for pid in dead])

    def done(self, ids: Iterable[int]) -> None:
        self._connection().execute("DELETE FROM items WHERE id IN (SELECT value FROM json_each(?))",
                                   (json.dumps(list(ids)),))

    def release(self, ids: Iterable[int]) -> None:
        """Give rows back (the database is away): the next pass claims them again."""
        self._connection().execute(
            "UPDATE items SET claimed_by = NULL, claimed_at = NULL "
            "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(list(ids)),))

    def quarantine(self, item: Item, error: str) -> None:
        connection = self._connection()
        with connection:  # one transaction: the row is in exactly one table
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO quarantine (id, kind, fingerprint, body, queued_at, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.id, item.kind, item.fingerprint, json.dumps(item.body, ensure_ascii=False),
                 item.queued_at, error[:2000], time.time()))
            connection.execute("DELETE FROM items WHERE id = ?", (item.id,))

    def quarantined(self) -> Sequence[tuple[int, str, str, float]]:
        """(id, kind, error, at) of each quarantined row."""
        return self._connection().execute(
            "SELECT id, kind, error, at FROM quarantine ORDER BY id").fetchall()

    def requeue(self) -> int:
        """Put the quarantined rows back in the queue (after a fix): how many."""
        connection = self._connection()
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            moved = connection.execute(
                "INSERT INTO items (kind, fingerprint, body, queued_at) "
                "SELECT kind, fingerprint, body, queued_at FROM quarantine ORDER BY id").rowcount
            connection.execute("DELETE FROM quarantine")
        return moved

    def backlog(self) -> Backlog:
        connection = self._connection()
        pending, oldest = connection.execute(
            "SELECT count(*), min(queued_at) FROM items").fetchone()
        (quarantined,) = connection.execute("SELECT count(*) FROM quarantine").fetchone()
        return Backlog(pending, quarantined, oldest)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
