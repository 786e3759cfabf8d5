"""Console login and sessions: scrypt-hashed passwords, login throttle, secure cookies.

Accounts are created with ``ivr admin create-user``; there is no sign-up page.

Sessions live on the server (``ivr.admin.accounts.SessionStore``): the cookie holds a random
token whose SHA-256 the user loader looks up, one indexed query per console request. Logout, a
password change and « déconnecter partout » revoke the row, so a copied cookie stops working.

Login tries are reserved atomically *before* a password is checked (``LoginThrottle.reserve``):
at most ``MAX_FAILURES`` wrong passwords per key and ``LOCK_MINUTES`` window, however many
requests run at once. The keys follow OWASP's "device cookies": a browser the account logged
in from before carries a signed device cookie and has its own counter; any other browser counts
against the account's shared counter and its source address's (``IP_MAX_FAILURES``, across
all accounts). An attacker can thus lock out unknown browsers, never the administrator's own.
Known and unknown names get the same answers, status and hash work.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
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
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.admin import bp
from ivr.admin.accounts import (
    LoginThrottle,
    SessionStore,
    address_key,
    device_key,
    untrusted_key,
)
from ivr.admin.models import AdminUser, AdminUsers
from ivr.services import services
from ivr.store import utcnow

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # per account from unknown browsers, and per known browser
IP_MAX_FAILURES = 20  # per source address, across all accounts, from unknown browsers
LOCK_MINUTES = 15  # the window these limits count in
MIN_PASSWORD_LENGTH = 12
SESSION_HOURS = 8
TOUCH_SECONDS = 300  # a session's "last seen" is written at most this often
DEVICE_COOKIE = "ivr_console_device"
DEVICE_DAYS = 365
MAX_DEVICE_ACCOUNTS = 8  # accounts one browser can be known for

WRONG = "Nom d'utilisateur ou mot de passe incorrect."
LOCKED = (f"Trop d'essais manqués : ce compte est verrouillé pour {LOCK_MINUTES} minutes sur "
          "ce navigateur. Le navigateur où vous vous connectez d'habitude n'est pas bloqué ; "
          "sinon, un autre administrateur peut lever le verrou (page « Comptes » ou "
          "« ivr admin unlock »).")
ADDRESS_LOCKED = (f"Trop d'essais manqués depuis votre adresse réseau : la connexion est "
                  f"verrouillée pour {LOCK_MINUTES} minutes, sauf sur le navigateur où vous "
                  "vous connectez d'habitude.")


_dummy_lock = threading.Lock()


@lru_cache(maxsize=1)
def _made_dummy_hash() -> str:
    return generate_password_hash("not a password, only a timing shield")


def _dummy_hash() -> str:
    """Checked against when the name is unknown or the try refused, so every answer takes the
    same time. Made on first use (scrypt takes 32 MiB for a moment, which every worker would
    carry from import), once even when a burst of tries comes first."""
    with _dummy_lock:
        return _made_dummy_hash()


class ConsoleUser(UserMixin):
    """The account behind one open server-side session; its id is the session's token."""

    def __init__(self, user: AdminUser, token: str, session_id: int) -> None:
        self.user_id = user.id
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.token = token
        self.session_id = session_id

    def get_id(self) -> str:
        return self.token


class PasswordTooWeak(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooWeak(f"au moins {MIN_PASSWORD_LENGTH} caractères")
    return generate_password_hash(password)  # scrypt, salted


def users() -> AdminUsers:
    return AdminUsers(services(current_app).store)


def sessions() -> SessionStore:
    return SessionStore(services(current_app).store)


@dataclass
class Device:
    """This browser, as its signed device cookie says: its id and the accounts it knows."""

    id: str
    accounts: list[int]


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="ivr-console-device")


def read_device() -> Device | None:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 1024:
        return None
    try:
        data = _device_signer().loads(raw, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str) \
            or not isinstance(data.get("u"), list) \
            or not all(isinstance(u, int) for u in data["u"]):
        return None
    return Device(data["d"][:43], data["u"][-MAX_DEVICE_ACCOUNTS:])


def remember_device(response: Response, device: Device | None, user_id: int) -> None:
    """After a successful login: this browser is known for this account from now on."""
    device = device or Device(secrets.token_urlsafe(16), [])
    known = [u for u in device.accounts if u != user_id] + [user_id]
    value = _device_signer().dumps({"d": device.id, "u": known[-MAX_DEVICE_ACCOUNTS:]})
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_DAYS * 86400,
                        path=f"{request.script_root}/admin", httponly=True,
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
                        samesite="Strict")


@dataclass
class Attempt:
    user: AdminUser | None
    error: str | None
    device: Device | None


def authenticate(username: str, password: str) -> Attempt:
    """The account, or None and the French reason to show (the same for a name that exists
    and one that does not). Tries are reserved before the password is checked."""
    name = username.strip()[:64]
    user = users().by_name(name) if name else None
    device = read_device()
    throttle = LoginThrottle(services(current_app).store)
    window = timedelta(minutes=LOCK_MINUTES)
    if user is not None and device is not None and user.id in device.accounts:
        keys = [(device_key(user.id, device.id), MAX_FAILURES, LOCKED)]
    else:  # from an unknown browser, or a name that does not exist: the same counters
        keys = [(address_key(request.remote_addr), IP_MAX_FAILURES, ADDRESS_LOCKED),
                (untrusted_key(name), MAX_FAILURES, LOCKED)]
    for key, limit, refusal in keys:
        if not throttle.reserve(key, limit, window):
            check_password_hash(_dummy_hash(), password)  # the same time as a real try
            log.warning("console: login refused, too many tries (%r) from %s", key,
                        request.remote_addr)
            return Attempt(None, refusal, device)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        log.warning("console: failed login for an unknown name from %s", request.remote_addr)
        return Attempt(None, WRONG, device)
    if not check_password_hash(user.password_hash, password):
        log.warning("console: failed login for %r from %s", user.username, request.remote_addr)
        return Attempt(None, WRONG, device)
    for key, _limit, _refusal in keys:  # not a failure: the try is given back
        throttle.give_back(key)
    users().succeeded(user.id)
    return Attempt(user, None, device)


def _safe_next(target: str | None) -> str:
    """Only a clean path inside the console: never an open redirect, never a header split."""
    if target and all(32 < ord(c) < 127 for c in target) and "\\" not in target:
        parts = urlsplit(target)
        segments = parts.path.split("/")
        if not parts.scheme and not parts.netloc and segments[:2] == ["", "admin"] \
                and ".." not in segments:
            return request.script_root + target  # under IVR_PUBLIC_URL's path, if any
    return url_for("admin.dashboard")


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    error = None
    status = 200
    if request.method == "POST":
        attempt = authenticate(request.form.get("username", ""),
                               request.form.get("password", ""))
        error = attempt.error
        if attempt.user is not None:
            user = attempt.user
            session.clear()  # nothing of the anonymous session is carried over
            token, session_id = sessions().open(
                user.id, timedelta(hours=SESSION_HOURS), request.remote_addr,
                request.headers.get("User-Agent"))
            login_user(ConsoleUser(user, token, session_id))
            session.permanent = True
            log.info("console: %r logged in", user.username)
            response = redirect(_safe_next(request.args.get("next")))
            remember_device(response, attempt.device, user.id)
            _tidy()
            return response
        status = 401
    return render_template("admin/login.html", error=error,
                           username=request.form.get("username", "")), status


def _tidy() -> None:
    """Forget sessions and counters long over (at each login: rare, and cheap)."""
    store = services(current_app).store
    try:
        sessions().purge()
        LoginThrottle(store).purge(timedelta(minutes=LOCK_MINUTES))
    except Exception:  # tidying must never cost a login
        log.exception("console: could not purge old sessions and counters")


@bp.post("/deconnexion")
def logout() -> Response:
    sessions().revoke(current_user.session_id)  # this cookie opens nothing any more
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.")
    return redirect(url_for("admin.login"))


def _load_user(token: str) -> ConsoleUser | None:
    """The open session of the cookie's token: one indexed query per console request."""
    if not token or len(token) > 64:
        return None
    found = sessions().lookup(token)
    if found is None:
        return None
    row, user = found
    if (utcnow() - row.last_seen_at).total_seconds() > TOUCH_SECONDS:
        sessions().touch(row.id)
    return ConsoleUser(user, token, row.id)


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
