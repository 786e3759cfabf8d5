"""The console's accounts in the database: the account, session and login-throttle tables
(on ``ivr.store.Base``, so Alembic's metadata sees them) and ``AdminUsers``.

No page here: ``ivr/migrations/env.py`` and ``ivr admin …`` import it without the console's
routes; the sessions, the throttle and the « Comptes » page are in ``ivr.admin.accounts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from ivr.store import Base, Store, UTCDateTime, utcnow


class AdminUser(Base):
    """An administrator of the console; the password is stored as a salted scrypt hash."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped when the password changes: sessions opened before stop being valid.
    session_version: Mapped[int] = mapped_column(Integer, default=1)


class AdminSession(Base):
    """One console session: the cookie holds a random token, the table only its SHA-256.
    Revoked at logout, at a password change or by « déconnecter partout » (ivr.admin.accounts).
    """

    __tablename__ = "admin_sessions"
    __table_args__ = (Index("ux_admin_sessions_token_hash", "token_hash", unique=True),
                      Index("ix_admin_sessions_user_id", "user_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("admin_users.id",
                                                             ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))


class AdminLoginThrottle(Base):
    """Login tries per key (a source address, an account from unknown browsers, an account
    from one trusted browser) in the current window, shared by every instance."""

    __tablename__ = "admin_login_throttle"
    __table_args__ = (Index("ix_admin_login_throttle_window_start", "window_start"),)

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    tries: Mapped[int] = mapped_column(Integer)


class AdminUsers:
    """Console accounts: creation, look-up, password changes and unlocking. Sessions and the
    login-throttle counters themselves are in ``ivr.admin.accounts``."""

    # Throttle keys of one account (see ivr.admin.accounts): tries from browsers it does not
    # know, and tries from each browser it logged in from before.
    UNTRUSTED_KEY = "user:{username}"
    DEVICE_KEY_PREFIX = "device:{user_id}:"

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, username: str, password_hash: str, display_name: str | None = None
               ) -> AdminUser:
        with self.store.session() as session:
            user = AdminUser(username=username, display_name=display_name,
                             password_hash=password_hash, created_at=utcnow(),
                             failed_logins=0, session_version=1)
            session.add(user)
            session.flush()
            return user

    def by_name(self, username: str) -> AdminUser | None:
        with self.store.session() as session:
            return session.scalars(select(AdminUser).where(AdminUser.username == username)
                                   ).one_or_none()

    def by_id(self, user_id: int) -> AdminUser | None:
        with self.store.session() as session:
            return session.get(AdminUser, user_id)

    def all(self) -> Sequence[AdminUser]:
        with self.store.session() as session:
            return session.scalars(select(AdminUser).order_by(AdminUser.username)).all()

    def succeeded(self, user_id: int) -> None:
        with self.store.session() as session:
            session.execute(update(AdminUser).where(AdminUser.id == user_id).values(
                failed_logins=0, locked_until=None, last_login_at=utcnow()))

    def set_password(self, username: str, password_hash: str) -> bool:
        with self.store.session() as session:
            user = session.scalars(select(AdminUser).where(AdminUser.username == username)
                                   ).one_or_none()
            if user is None:
                return False
            user.password_hash = password_hash
            user.session_version = (user.session_version or 1) + 1
            user.failed_logins, user.locked_until = 0, None
            self._clear_counters(session, user)
            session.execute(update(AdminSession).where(
                AdminSession.user_id == user.id, AdminSession.revoked_at.is_(None))
                .values(revoked_at=utcnow()))  # every open session ends
            return True

    def unlock(self, username: str) -> bool:
        """Clear the account's login-throttle counters (not its source addresses')."""
        with self.store.session() as session:
            user = session.scalars(select(AdminUser).where(AdminUser.username == username)
                                   ).one_or_none()
            if user is None:
                return False
            user.failed_logins, user.locked_until = 0, None
            self._clear_counters(session, user)
            return True

    def _clear_counters(self, session: Session, user: AdminUser) -> None:
        prefix = self.DEVICE_KEY_PREFIX.format(user_id=user.id)
        session.execute(delete(AdminLoginThrottle).where(
            (AdminLoginThrottle.key == self.UNTRUSTED_KEY.format(username=user.username))
            | AdminLoginThrottle.key.startswith(prefix, autoescape=True)))
