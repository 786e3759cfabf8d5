"""Console accounts and sessions: scrypt-hashed passwords, lock-out, secure cookies.

Accounts are created with ``ivr admin create-user``; there is no sign-up page. After
``MAX_FAILURES`` wrong passwords in a row an account is locked for ``LOCK_MINUTES``, and an
unknown name costs the same hash as a known one, so the form tells an attacker nothing.
A session remembers the account's ``session_version``: changing the password ends every session
opened before.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Flask,
    Request,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.admin import bp
from ivr.services import services
from ivr.store import AdminUser, AdminUsers, utcnow

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 12
SESSION_HOURS = 8


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so both cases take the same time. Made on
    first use: scrypt takes 32 MiB for a moment, which every worker would carry from import."""
    return generate_password_hash("not a password, only a timing shield")


class ConsoleUser(UserMixin):
    def __init__(self, user: AdminUser) -> None:
        self.user_id = user.id
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.session_version = user.session_version

    def get_id(self) -> str:
        return f"{self.user_id}:{self.session_version}"


class PasswordTooWeak(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooWeak(f"at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password)  # scrypt, salted


def users() -> AdminUsers:
    return AdminUsers(services(current_app).store)


def authenticate(username: str, password: str) -> tuple[AdminUser | None, str | None]:
    """The account, or None and the French reason to show."""
    accounts = users()
    user = accounts.by_name(username.strip()[:64])
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None, "Nom d'utilisateur ou mot de passe incorrect."
    if user.locked_until is not None and user.locked_until > utcnow():
        check_password_hash(_dummy_hash(), password)
        return None, (f"Trop d'essais manqués : ce compte est verrouillé pour {LOCK_MINUTES} "
                      "minutes. Un autre administrateur peut le déverrouiller.")
    if not check_password_hash(user.password_hash, password):
        after = accounts.failed(user.id, MAX_FAILURES, timedelta(minutes=LOCK_MINUTES))
        log.warning("console: failed login for %r from %s", user.username, request.remote_addr)
        if after.locked_until is not None and after.locked_until > utcnow():
            log.warning("console: account %r locked for %d minutes", user.username,
                        LOCK_MINUTES)
            return None, (f"Trop d'essais manqués : ce compte est verrouillé pour "
                          f"{LOCK_MINUTES} minutes.")
        return None, "Nom d'utilisateur ou mot de passe incorrect."
    accounts.succeeded(user.id)
    return user, None


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/admin") \
                and "\\" not in target:
            return request.script_root + target  # under IVR_PUBLIC_URL's path, if any
    return url_for("admin.dashboard")


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    error = None
    status = 200
    if request.method == "POST":
        user, error = authenticate(request.form.get("username", ""),
                                   request.form.get("password", ""))
        if user is not None:
            session.clear()
            login_user(ConsoleUser(user))
            session.permanent = True
            log.info("console: %r logged in", user.username)
            return redirect(_safe_next(request.args.get("next")))
        status = 401
    return render_template("admin/login.html", error=error,
                           username=request.form.get("username", "")), status


@bp.post("/deconnexion")
def logout() -> Response:
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.")
    return redirect(url_for("admin.login"))


def _load_user(user_id: str) -> ConsoleUser | None:
    ident, _, version = user_id.partition(":")
    if not ident.isdigit():
        return None
    user = users().by_id(int(ident))
    if user is None or str(user.session_version) != version:
        return None
    return ConsoleUser(user)


def secret_key(app: Flask) -> str:
    """``SECRET_KEY``, or one made once and kept in the instance folder (one instance only:
    several instances must share a ``SECRET_KEY`` setting)."""
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    path = Path(app.instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


class ConsoleSessions(SecureCookieSessionInterface):
    """Sessions exist for the console only: a webhook (thousands a minute, never a cookie)
    skips building the cookie serializer on every request."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith("/admin"):
            return self.null_session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = ConsoleSessions()
    app.config["SECRET_KEY"] = secret_key(app)
    secure = app.config.get("IVR_SECURE_COOKIES")
    if secure is None:  # plain http only for development on the local machine
        secure = not app.config.get("IVR_DEV")
    app.config.update(
        SESSION_COOKIE_NAME="ivr_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=bool(secure),
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=bool(secure),
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
    )
    manager = LoginManager()
    manager.login_view = "admin.login"
    manager.login_message = "Connectez-vous pour accéder à la console."
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    manager.init_app(app)
