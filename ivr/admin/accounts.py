"""Console sessions kept on the server, the login throttle, and the « Comptes » page.

A session cookie carries only a random token; ``admin_sessions`` keeps its SHA-256 with the
account, the times and the browser, so a session ends for good when it is revoked: at logout,
at a password change (``ivr admin set-password``), or with « déconnecter partout » (this page,
or ``ivr admin logout-all``).

Login tries are counted in ``admin_login_throttle``, per key, in windows of
``auth.LOCK_MINUTES``: a try is *reserved* by one conditional upsert before any password is
checked, so concurrent tries can never check more than the limit. Every instance shares the
counters through the database.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ivr.admin import bp
from ivr.admin.models import AdminLoginThrottle, AdminSession, AdminUser, AdminUsers
from ivr.services import services
from ivr.stats import french_datetime
from ivr.store import Store, utcnow

log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Server-side console sessions: open, look up (one indexed query), revoke."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self, user_id: int, lifetime: timedelta, ip: str | None,
             user_agent: str | None) -> tuple[str, int]:
        """A new session: its token (for the cookie only) and its id."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.store.session() as db:
            row = AdminSession(token_hash=token_hash(token), user_id=user_id, created_at=now,
                               last_seen_at=now, expires_at=now + lifetime,
                               ip=(ip or "")[:64] or None,
                               user_agent=(user_agent or "")[:256] or None)
            db.add(row)
            db.flush()
            return token, row.id

    def lookup(self, token: str) -> tuple[AdminSession, AdminUser] | None:
        """The open session of this token and its account, or None (unknown, revoked, over)."""
        with self.store.session() as db:
            found = db.execute(
                select(AdminSession, AdminUser)
                .join(AdminUser, AdminUser.id == AdminSession.user_id)
                .where(AdminSession.token_hash == token_hash(token),
                       AdminSession.revoked_at.is_(None),
                       AdminSession.expires_at > utcnow())).one_or_none()
            return (found[0], found[1]) if found is not None else None

    def touch(self, session_id: int) -> None:
        with self.store.session() as db:
            db.execute(update(AdminSession).where(AdminSession.id == session_id)
                       .values(last_seen_at=utcnow()))

    def revoke(self, session_id: int) -> None:
        with self.store.session() as db:
            db.execute(update(AdminSession).where(AdminSession.id == session_id,
                                                  AdminSession.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))

    def revoke_all(self, user_id: int) -> int:
        """End every open session of the account; how many were open."""
        now = utcnow()
        with self.store.session() as db:
            done = db.execute(update(AdminSession).where(
                AdminSession.user_id == user_id, AdminSession.revoked_at.is_(None),
                AdminSession.expires_at > now).values(revoked_at=now))
            return int(done.rowcount or 0)

    def active(self) -> Sequence[tuple[AdminSession, AdminUser]]:
        with self.store.session() as db:
            rows = db.execute(
                select(AdminSession, AdminUser)
                .join(AdminUser, AdminUser.id == AdminSession.user_id)
                .where(AdminSession.revoked_at.is_(None), AdminSession.expires_at > utcnow())
                .order_by(AdminUser.username, AdminSession.last_seen_at.desc())).all()
            return [(row[0], row[1]) for row in rows]

    def purge(self, keep: timedelta = timedelta(days=1)) -> int:
        """Forget sessions over or revoked more than ``keep`` ago."""
        cutoff = utcnow() - keep
        with self.store.session() as db:
            done = db.execute(delete(AdminSession).where(
                (AdminSession.expires_at < cutoff) | (AdminSession.revoked_at < cutoff)))
            return int(done.rowcount or 0)


class LoginThrottle:
    """Tries per key and window, shared by every instance through the database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def reserve(self, key: str, limit: int, window: timedelta) -> bool:
        """Take one try for ``key``, atomically: False when ``limit`` tries were already taken
        in its current window (then nothing changes). One conditional upsert (INSERT … ON
        CONFLICT DO UPDATE … WHERE, whose RETURNING row says whether the try was granted), so
        concurrent callers, on any instance, never get more than ``limit`` between them."""
        now = utcnow()
        table = AdminLoginThrottle.__table__
        dialect = postgresql if self.store.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table).values(key=key, window_start=now, tries=1)
        over = table.c.window_start <= now - window  # that window is over: a new one starts
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"tries": case((over, 1), else_=table.c.tries + 1),
                  "window_start": case((over, stmt.excluded.window_start),
                                       else_=table.c.window_start)},
            where=over | (table.c.tries < limit)).returning(table.c.tries)
        with self.store.engine.begin() as connection:  # a row back: inserted or counted
            return connection.execute(stmt).first() is not None

    def give_back(self, key: str) -> None:
        """A reserved try that turned out not to be a failure (the right password)."""
        with self.store.engine.begin() as connection:
            connection.execute(update(AdminLoginThrottle).where(
                AdminLoginThrottle.key == key, AdminLoginThrottle.tries > 0)
                .values(tries=AdminLoginThrottle.tries - 1))

    def tries(self, key: str, window: timedelta) -> int:
        with self.store.session() as db:
            found = db.scalar(select(AdminLoginThrottle.tries).where(
                AdminLoginThrottle.key == key,
                AdminLoginThrottle.window_start > utcnow() - window))
            return int(found or 0)

    def purge(self, window: timedelta) -> int:
        """Forget the counters whose window is over."""
        with self.store.engine.begin() as connection:
            done = connection.execute(delete(AdminLoginThrottle).where(
                AdminLoginThrottle.window_start <= utcnow() - window))
            return int(done.rowcount or 0)

    def count(self) -> int:
        with self.store.session() as db:
            return int(db.scalar(select(func.count()).select_from(AdminLoginThrottle)) or 0)


def untrusted_key(username: str) -> str:
    """Tries at an account (known or not) from browsers it never logged in from."""
    return AdminUsers.UNTRUSTED_KEY.format(username=username)


def device_key(user_id: int, device: str) -> str:
    """Tries at an account from one browser it logged in from before (its device cookie)."""
    return AdminUsers.DEVICE_KEY_PREFIX.format(user_id=user_id) + device


def address_key(address: str | None) -> str:
    """Tries from one source address (an IPv6 address counts by its /64)."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"ip:{(address or 'inconnue')[:64]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


def account_locked(store: Store, username: str) -> bool:
    """Whether tries at the account from unknown browsers are refused right now."""
    from ivr.admin.auth import LOCK_MINUTES, MAX_FAILURES

    window = timedelta(minutes=LOCK_MINUTES)
    return LoginThrottle(store).tries(untrusted_key(username), window) >= MAX_FAILURES


# ---------------------------------------------------------------------- the « Comptes » page


def _store() -> Store:
    return services(current_app).store


def _when(moment: datetime | None) -> str:
    return french_datetime(moment) if moment is not None else "jamais"


def _browser(user_agent: str | None) -> str:
    """A short name for the browser, from its user-agent (shown, never trusted)."""
    agent = user_agent or ""
    for marker, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                         ("Safari/", "Safari")):
        if marker in agent:
            system = next((s for s in ("Windows", "Android", "iPad", "iPhone", "Mac OS X",
                                       "Linux") if s in agent), None)
            return f"{name} ({system.replace('Mac OS X', 'macOS')})" if system else name
    return agent[:60] or "inconnu"


@bp.get("/comptes")
def accounts() -> ResponseReturnValue:
    store = _store()
    sessions = SessionStore(store).active()
    open_by_user: dict[int, int] = {}
    for row, _user in sessions:
        open_by_user[row.user_id] = open_by_user.get(row.user_id, 0) + 1
    people: list[dict[str, Any]] = [
        {"id": user.id, "username": user.username,
         "display_name": user.display_name or "", "last_login": _when(user.last_login_at),
         "sessions": open_by_user.get(user.id, 0),
         "locked": account_locked(store, user.username),
         "me": user.id == current_user.user_id}
        for user in AdminUsers(store).all()]
    rows = [{"username": user.username, "created": _when(row.created_at),
             "seen": _when(row.last_seen_at), "expires": _when(row.expires_at),
             "ip": row.ip or "inconnue", "browser": _browser(row.user_agent),
             "user_agent": row.user_agent or "",
             "current": row.id == current_user.session_id}
            for row, user in sessions]
    return render_template("admin/comptes.html", people=people, rows=rows)


def _account(user_id: int) -> AdminUser:
    user = AdminUsers(_store()).by_id(user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/comptes/<int:user_id>/deconnecter-partout")
def logout_everywhere(user_id: int) -> ResponseReturnValue:
    user = _account(user_id)
    closed = SessionStore(_store()).revoke_all(user.id)
    log.warning("console: %r closed every session of %r (%d)", current_user.username,
                user.username, closed)
    if user.id == current_user.user_id:  # this session too: back to the login page
        logout_user()
        session.clear()
        flash(f"Vos {closed} session(s) sont fermées, sur tous les appareils.")
        return redirect(url_for("admin.login"))
    flash(f"Les sessions de {user.username} sont fermées ({closed}).")
    return redirect(url_for("admin.accounts"))


@bp.post("/comptes/<int:user_id>/deverrouiller")
def unlock(user_id: int) -> ResponseReturnValue:
    user = _account(user_id)
    AdminUsers(_store()).unlock(user.username)
    log.warning("console: %r unlocked %r", current_user.username, user.username)
    flash(f"Le compte {user.username} est déverrouillé.")
    return redirect(url_for("admin.accounts"))
