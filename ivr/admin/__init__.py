"""The administrators' console: a French web app behind a login, on the same app as the line.

It reads the same config, schedule and store the webhooks use, so what it shows is what callers
get. Every page is in this blueprint and every route but the login page and the static assets
requires a session (``_login_required``; a test walks the URL map to prove it). Forms carry a
CSRF token (Flask-WTF); pages send a strict Content-Security-Policy (no inline script, no CDN).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static")

# Reachable without a session: the login form and the CSS/JS it needs.
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})

# The navigation, in order: (endpoint, label).
PAGES = (
    ("admin.dashboard", "Tableau de bord"),
    ("admin.announcements", "Annonces"),
    ("admin.voicemails", "Messagerie vocale"),
    ("admin.schedules", "Horaires et jours fériés"),
    ("admin.tree", "Arborescence"),
    ("admin.simulator", "Simulateur"),
    ("admin.stats", "Statistiques"),
    ("admin.accounts", "Comptes"),
)

CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")

csrf = CSRFProtect()


@bp.before_request
def _login_required() -> Response | None:
    """No session: to the login page, whatever the method. Then every POST needs its token
    (checked here rather than app-wide, so that a stranger is sent to the login first)."""
    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        target = request.full_path if request.method == "GET" else request.path
        return redirect(url_for("admin.login", next=target.rstrip("?")))
    csrf.protect()
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "admin.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# The console's error pages, in French (werkzeug's are in English).
ERRORS = {
    400: ("Requête refusée", "La requête est incomplète ou son jeton de sécurité a expiré : "
                             "rechargez la page, puis recommencez."),
    403: ("Accès refusé", "Cette page ne vous est pas permise."),
    404: ("Page introuvable", "Cette adresse ne correspond à aucune page de la console."),
    405: ("Action impossible", "Cette page ne s'utilise pas de cette façon."),
    413: ("Envoi trop volumineux", "Ce que vous avez envoyé dépasse la taille permise."),
    500: ("Erreur de la console", "Une erreur est survenue ; la ligne téléphonique, elle, "
                                  "continue de répondre. Réessayez dans un instant."),
}


def error_page(exc: HTTPException) -> Response | HTTPException:
    """The console's errors as French pages; the webhooks' and /healthz's as they are (Twilio
    and monitors read the status, not the page)."""
    if not request.path.startswith(bp.url_prefix or "/admin") or exc.code not in ERRORS:
        return exc
    title, explanation = ERRORS[exc.code or 500]
    page = render_template("admin/erreur.html", title=title, explanation=explanation)
    return Response(page, status=exc.code, mimetype="text/html")


@bp.app_template_global()
def admin_pages() -> list[tuple[str, str]]:
    from flask import current_app

    return [(e, label) for e, label in PAGES if e in current_app.view_functions]


def init_app(app: Flask) -> None:
    from ivr.admin import (  # noqa: F401  (each module adds its routes to bp)
        accounts,
        announcements,
        auth,
        dashboard,
        schedules,
        simulator,
        stats,
        tree,
        voicemails,
    )

    auth.init_app(app)  # Flask-Login
    # Checked by the console's own before_request; Twilio's webhooks are signed instead.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, error_page)
