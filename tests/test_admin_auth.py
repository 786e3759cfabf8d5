"""The console's door: login, lock-out, CSRF, cookies, and no page without a session."""

from __future__ import annotations

import re

import pytest
from console import PASSWORD, create_user, csrf_token, logged_in, login

from ivr.admin import PUBLIC_ENDPOINTS
from ivr.admin.auth import LOCK_MINUTES, MAX_FAILURES
from ivr.cli import main
from ivr.services import services


def admin_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            yield rule


def sample_url(rule) -> str:
    values = {arg: 1 if "int" in str(rule._converters.get(arg, "")).lower() else "x"
              for arg in rule.arguments}
    url = rule.rule
    for arg, value in values.items():
        url = re.sub(rf"<(?:[^:>]+:)?{arg}>", str(value), url)
    return url


def test_every_admin_url_needs_a_session(app):
    client = app.test_client()
    checked = 0
    for rule in admin_rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = sample_url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/admin/connexion"), (method, url)
            checked += 1
    # The six pages exist and were walked (plus their sub-routes).
    assert checked >= 6
    endpoints = {rule.endpoint for rule in admin_rules(app)}
    assert {"admin.dashboard", "admin.login", "admin.logout"} <= endpoints


def test_public_endpoints_are_only_the_login_and_static_assets(app):
    assert {"admin.login", "admin.static"} == PUBLIC_ENDPOINTS
    client = app.test_client()
    assert client.get("/admin/connexion").status_code == 200
    with client.get("/admin/static/admin.css") as css:
        assert css.status_code == 200


def test_login_then_logout(app):
    create_user(app)
    client = app.test_client()
    response = login(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Agente Test" in page.get_data(as_text=True)
    token = csrf_token(client, "/admin/")
    assert client.post("/admin/deconnexion", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_wrong_password_and_unknown_user_say_the_same_thing(app):
    create_user(app)
    client = app.test_client()
    wrong = login(client, password="pas le bon mot de passe")
    unknown = login(client, username="personne")
    assert wrong.status_code == unknown.status_code == 401
    text = "Nom d&#39;utilisateur ou mot de passe incorrect."
    assert text in wrong.get_data(as_text=True) and text in unknown.get_data(as_text=True)


def test_lock_out_after_repeated_failures(app):
    create_user(app)
    client = app.test_client()
    for _ in range(MAX_FAILURES):
        login(client, password="mauvais mot de passe")
    locked = login(client)  # even the right password is refused now
    assert locked.status_code == 401
    assert f"verrouillé pour {LOCK_MINUTES} minutes" in locked.get_data(as_text=True)
    runner = app.test_cli_runner()
    assert runner.invoke(main, ["admin", "unlock", "admin"]).exit_code == 0
    assert login(client).status_code == 302


def test_a_forged_form_post_is_refused(app):
    """No CSRF token (a form posted from another site): refused, even with a session."""
    client = logged_in(app)
    response = client.post("/admin/deconnexion", data={})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 200  # still logged in
    stranger = app.test_client()
    assert stranger.post("/admin/connexion",
                         data={"username": "admin", "password": PASSWORD}).status_code == 400


def test_webhooks_need_no_csrf_token(client):
    from twiml_rules import signed_post

    assert signed_post(client, "/voice").status_code == 200


def test_session_cookie_flags(make_app):
    app = make_app()
    create_user(app)
    response = login(app.test_client())
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    cookie = cookies["ivr_console"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    device = cookies["ivr_console_device"]  # the browser is known to the account from now on
    assert "HttpOnly" in device and "Secure" in device and "SameSite=Strict" in device
    assert "Path=/admin" in device
    dev = make_app(IVR_DEV=True, TWILIO_AUTH_TOKEN=None)
    assert dev.config["SESSION_COOKIE_SECURE"] is False  # http://127.0.0.1 in development


def test_a_password_change_ends_open_sessions(app):
    client = logged_in(app)
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["admin", "set-password", "admin", "--password-stdin"],
                           input="un tout nouveau mot de passe\n")
    assert result.exit_code == 0, result.output
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin",
                                    "/voice", "/admin\\@evil.example"])
def test_no_open_redirect_after_login(app, target):
    create_user(app)
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/admin/connexion", query_string={"next": target},
                           data={"username": "admin", "password": PASSWORD,
                                 "csrf_token": token})
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("target", ["/admin%0d%0aSet-Cookie:x", "/admin/%0aLocation:x",
                                    "/admin/%09x", "/admin/../voice", "/administration"])
def test_a_next_with_control_characters_goes_to_the_dashboard(app, target):
    """A CRLF in ``next`` (a header split) once answered 500: now the dashboard."""
    create_user(app)
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(f"/admin/connexion?next={target}",
                           data={"username": "admin", "password": PASSWORD,
                                 "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    again = client.get(f"/admin/connexion?next={target}")  # logged in already
    assert again.status_code == 302 and again.headers["Location"] == "/admin/"
    assert client.get_cookie("x") is None


def test_next_brings_back_to_the_page_asked_for(app):
    create_user(app)
    client = app.test_client()
    first = client.get("/admin/horaires?a=2026-12-25T10:00")
    assert first.status_code == 302
    location = first.headers["Location"]
    token = csrf_token(client)
    response = client.post(location, data={"username": "admin", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.headers["Location"] == "/admin/horaires?a=2026-12-25T10:00"


def test_create_user_cli(app):
    runner = app.test_cli_runner()
    short = runner.invoke(main, ["admin", "create-user", "marie", "--password-stdin"],
                          input="court\n")
    assert short.exit_code != 0 and "mot de passe refusé : au moins 12 caractères" in short.output
    made = runner.invoke(main, ["admin", "create-user", "marie", "--name", "Marie T.",
                               "--password-stdin"], input="un mot de passe correct\n")
    assert made.exit_code == 0, made.output
    assert made.output == "Compte « marie » créé.\n"
    again = runner.invoke(main, ["admin", "create-user", "marie", "--password-stdin"],
                          input="un mot de passe correct\n")
    assert again.exit_code != 0 and "le compte « marie » existe déjà" in again.output
    listed = runner.invoke(main, ["admin", "users"])
    assert "marie\tMarie T.\tdernière connexion jamais\n" in listed.output
    with app.app_context():
        from ivr.admin.models import AdminUsers

        stored = AdminUsers(services(app).store).by_name("marie").password_hash
    assert "un mot de passe correct" not in stored and stored.startswith("scrypt:")


def test_console_pages_send_strict_headers(app):
    client = logged_in(app)
    response = client.get("/admin/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_console_behind_a_path_prefix(make_app):
    """IVR_PUBLIC_URL=https://host/ligne: redirects and links keep /ligne."""
    app = make_app(IVR_PUBLIC_URL="https://ligne.example.org/ligne")
    create_user(app)
    client = app.test_client()
    first = client.get("/ligne/admin/messagerie")
    assert first.headers["Location"].startswith("/ligne/admin/connexion?next=")
    page = client.get("/ligne/admin/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(first.headers["Location"],
                           data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/ligne/admin/messagerie"
    assert 'href="/ligne/admin/static/admin.css"' in client.get("/ligne/admin/").get_data(
        as_text=True)


def test_webhooks_get_no_cookie_and_need_no_csrf_token(app):
    """The console's sessions and forms are its own: a webhook answers without a session
    cookie, and Twilio's signed posts carry no CSRF token."""
    from twiml_rules import signed_post, twilio_form

    response = signed_post(app.test_client(), "/voice", twilio_form())
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    form = app.test_client().post("/admin/connexion", data={"username": "x", "password": "y"})
    assert form.status_code == 400  # the console's form without its token: refused


def test_the_console_s_error_pages_are_in_french(console):
    missing = console.get("/admin/nulle-part")
    assert missing.status_code == 404
    page = missing.get_data(as_text=True)
    assert "Page introuvable" in page and "Not Found" not in page
    refused = console.post("/admin/messagerie/1/traite", data={})  # no CSRF token
    assert refused.status_code == 400
    assert "Requête refusée" in refused.get_data(as_text=True)
    webhook = console.post("/voice")  # not signed: Twilio's status, no console page
    assert webhook.status_code == 403 and "Accès refusé" not in webhook.get_data(as_text=True)
