"""The console's accounts in the database: the account, session and login-throttle tables
(on ``ivr.store.Base``, so Alembic's metadata sees them) and ``AdminUsers``.

No page here: ``ivr/migrations/env.py`` and ``ivr admin …`` import it without the console's
routes; the sessions, the throttle and the « Comptes » page are in ``ivr.admin.accounts``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import generate_password_hash

from ivr.config import PHONE_ID_DIGITS
from ivr.store import Base, Store, UTCDateTime, utcnow

# The PIN of the announcements by phone (ivr.phone_admin), set with `ivr admin set-pin`.
PIN_MIN, PIN_MAX = 6, 12
PIN_MAX_FAILURES = 5  # wrong PINs per manager number, and per calling number…
PIN_LOCK_MINUTES = 15  # …then locked this long


class AdminUser(Base):
    """An administrator of the console; the password is stored as a salted scrypt hash."""

    __tablename__ = "admin_users"
    __table_args__ = (Index("ux_admin_users_phone_id", "phone_id", unique=True),)

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
    # Announcements by phone: the manager number typed first (not secret, like a username),
    # the PIN's salted hash (never the PIN), and when it was set (a change ends phone sessions).
    phone_id: Mapped[str | None] = mapped_column(String(8))
    pin_hash: Mapped[str | None] = mapped_column(String(256))
    pin_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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
    PIN_KEY = "pin:id:{phone_id}"  # wrong PINs typed after this manager number (ivr.phone_admin)

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

    def by_phone_id(self, phone_id: str) -> AdminUser | None:
        with self.store.session() as session:
            return session.scalars(select(AdminUser).where(AdminUser.phone_id == phone_id)
                                   ).one_or_none()

    def set_pin(self, username: str, pin_hash: str | None) -> AdminUser | None:
        """Store the PIN's hash (None: remove the PIN), give the account a manager number if it
        has none, lift its PIN lock; the account, or None if unknown."""
        with self.store.session() as session:
            user = session.scalars(select(AdminUser).where(AdminUser.username == username)
                                   ).one_or_none()
            if user is None:
                return None
            if pin_hash is not None and user.phone_id is None:
                taken = set(session.scalars(select(AdminUser.phone_id)
                                            .where(AdminUser.phone_id.is_not(None))))
                low, high = 10 ** (PHONE_ID_DIGITS - 1), 10 ** PHONE_ID_DIGITS
                free = [str(n) for n in range(low, high) if str(n) not in taken]
                user.phone_id = secrets.choice(free)
            user.pin_hash = pin_hash
            user.pin_set_at = utcnow() if pin_hash is not None else None
            if user.phone_id is not None:
                session.execute(delete(AdminLoginThrottle).where(
                    AdminLoginThrottle.key == self.PIN_KEY.format(phone_id=user.phone_id)))
            session.flush()
            return user

    def _clear_counters(self, session: Session, user: AdminUser) -> None:
        prefix = self.DEVICE_KEY_PREFIX.format(user_id=user.id)
        pin_key = self.PIN_KEY.format(phone_id=user.phone_id) if user.phone_id else None
        session.execute(delete(AdminLoginThrottle).where(
            (AdminLoginThrottle.key == self.UNTRUSTED_KEY.format(username=user.username))
            | (AdminLoginThrottle.key == pin_key)
            | AdminLoginThrottle.key.startswith(prefix, autoescape=True)))


# ---------------------------------------------------------------------- the PIN


class PinRefused(ValueError):
    """A PIN `ivr admin set-pin` refuses; the message says why, in French."""


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` cannot be a PIN (None: it can): 6 to 12 digits, none of the first ones a
    stranger would type (one digit repeated, a run up or down, a short group repeated)."""
    if not (pin.isascii() and pin.isdigit() and PIN_MIN <= len(pin) <= PIN_MAX):
        return f"de {PIN_MIN} à {PIN_MAX} chiffres, rien d'autre"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({1}, {9}):
        return "une suite de chiffres (123456, 987654) se devine : choisissez-en un autre"
    if re.fullmatch(rf"(\d{{1,{len(pin) // 2}}})\1+", pin):
        return ("un chiffre ou un groupe répété (000000, 121212, 123123) se devine : "
                "choisissez-en un autre")
    return None


def hash_pin(pin: str) -> str:
    """The PIN's salted hash (werkzeug's scrypt), or ``PinRefused``."""
    problem = pin_problem(pin)
    if problem is not None:
        raise PinRefused(problem)
    return generate_password_hash(pin)


class PinThrottle:
    """Wrong PINs per key (a manager number, whether an account has it or not; a calling
    number), in the console's counters table, shared by every instance.

    A try is *reserved* before the PIN is checked, by one conditional upsert, so concurrent
    calls never check more than ``PIN_MAX_FAILURES`` between them: each counted try moves the
    row's time to now; the fifth locks the key ``PIN_LOCK_MINUTES`` from then (tries refused
    meanwhile change nothing); a try more than that after the last one starts a new count. A
    right PIN clears the key (``clear``)."""

    def __init__(self, store: Store, limit: int = PIN_MAX_FAILURES,
                 minutes: int = PIN_LOCK_MINUTES) -> None:
        self.store = store
        self.limit = limit
        self.window = timedelta(minutes=minutes)

    def reserve(self, key: str) -> bool:
        now = utcnow()
        table = AdminLoginThrottle.__table__
        dialect = postgresql if self.store.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table).values(key=key, window_start=now, tries=1)
        over = table.c.window_start <= now - self.window  # the last try is long past
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"tries": case((over, 1), else_=table.c.tries + 1),
                  "window_start": stmt.excluded.window_start},
            where=over | (table.c.tries < self.limit)).returning(table.c.tries)
        with self.store.engine.begin() as connection:  # a row back: the try is granted
            return connection.execute(stmt).first() is not None

    def clear(self, key: str) -> None:
        with self.store.engine.begin() as connection:
            connection.execute(delete(AdminLoginThrottle).where(AdminLoginThrottle.key == key))

    def locked(self, key: str) -> bool:
        with self.store.session() as session:
            tries = session.scalar(select(AdminLoginThrottle.tries).where(
                AdminLoginThrottle.key == key,
                AdminLoginThrottle.window_start > utcnow() - self.window))
            return int(tries or 0) >= self.limit
