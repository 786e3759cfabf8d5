"""Console sessions kept on the server: logout, a password change and « déconnecter partout »
end them for good, even for a copy of the cookie used from elsewhere."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from console import PASSWORD, create_user, csrf_token, logged_in, login
from sqlalchemy import event, select, update

from ivr.admin.auth import SESSION_HOURS
from ivr.admin.models import AdminSession
from ivr.cli import main
from ivr.services import services
from ivr.store import utcnow

COOKIE = "ivr_console"


def saved_cookie(client) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def elsewhere(app, cookie: str):
    """Another browser, on another network, with a copy of the cookie."""
    thief = app.test_client()
    thief.environ_base.update(REMOTE_ADDR="203.0.113.66", HTTP_USER_AGENT="curl/8.0")
    thief.set_cookie(COOKIE, cookie)
    return thief


def opens(client, path: str = "/admin/messagerie") -> bool:
    response = client.get(path)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def sessions_of(app) -> list[AdminSession]:
    with services(app).store.session() as db:
        return list(db.scalars(select(AdminSession).order_by(AdminSession.id)))


def test_a_cookie_saved_before_logout_opens_nothing_after(app):
    client = logged_in(app)
    cookie = saved_cookie(client)
    assert opens(elsewhere(app, cookie))  # a copy works while the session is open…
    token = csrf_token(client, "/admin/")
    assert client.post("/admin/deconnexion", data={"csrf_token": token}).status_code == 302
    assert not opens(elsewhere(app, cookie))  # …and not after the logout
    assert not opens(client)
    [row] = sessions_of(app)
    assert row.revoked_at is not None


def test_the_database_keeps_only_the_token_s_hash(app):
    client = logged_in(app)
    token = app.session_interface.get_signing_serializer(app).loads(
        saved_cookie(client))["_user_id"]
    [row] = sessions_of(app)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert len(token) >= 40  # 32 random bytes
    assert row.ip == "127.0.0.1" and row.user_agent
    assert row.expires_at - row.created_at == timedelta(hours=SESSION_HOURS)


def test_a_session_ends_after_its_hours(app):
    client = logged_in(app)
    with services(app).store.session() as db:
        db.execute(update(AdminSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert not opens(client)


def test_set_password_ends_every_session_even_a_copied_cookie(app):
    client = logged_in(app)
    cookie = saved_cookie(client)
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["admin", "set-password", "admin", "--password-stdin"],
                           input="un tout nouveau mot de passe\n")
    assert result.exit_code == 0, result.output
    assert not opens(client) and not opens(elsewhere(app, cookie))


def test_cli_logout_all(app):
    first, second = logged_in(app), app.test_client()
    assert login(second).status_code == 302
    create_user(app, "marie", display_name="Marie")
    third = app.test_client()
    assert login(third, "marie").status_code == 302
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["admin", "logout-all", "admin"])
    assert result.exit_code == 0, result.output
    assert result.output == "2 session(s) de « admin » fermée(s).\n"
    assert not opens(first) and not opens(second)
    assert opens(third)  # another account's session stays open
    unknown = runner.invoke(main, ["admin", "logout-all", "personne"])
    assert unknown.exit_code != 0


def test_logout_everywhere_from_the_console_for_another_account(app):
    console = logged_in(app)
    create_user(app, "marie", display_name="Marie")
    marie = app.test_client()
    assert login(marie, "marie").status_code == 302
    page = console.get("/admin/comptes")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Déconnecter partout" in html and "marie" in html and "(cette session)" in html
    marie_id = next(s.user_id for s in sessions_of(app) if s.user_id != 1)
    token = csrf_token(console, "/admin/comptes")
    done = console.post(f"/admin/comptes/{marie_id}/deconnecter-partout",
                        data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/comptes"
    assert "Les sessions de marie sont fermées (1)." in console.get(
        "/admin/comptes").get_data(as_text=True)
    assert not opens(marie)
    assert opens(console)


def test_logout_everywhere_for_one_s_own_account(app):
    here = logged_in(app)
    there = app.test_client()
    there.environ_base.update(REMOTE_ADDR="198.51.100.7")
    assert login(there).status_code == 302
    cookie = saved_cookie(here)
    token = csrf_token(here, "/admin/comptes")
    done = here.post("/admin/comptes/1/deconnecter-partout", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/connexion"
    assert not opens(here) and not opens(there) and not opens(elsewhere(app, cookie))
    assert "sont fermées, sur tous les appareils" in here.get(
        "/admin/connexion").get_data(as_text=True)
    assert login(here).status_code == 302  # and one logs in again as usual


def test_logout_everywhere_needs_the_csrf_token(app):
    client = logged_in(app)
    assert client.post("/admin/comptes/1/deconnecter-partout", data={}).status_code == 400
    assert opens(client)


def test_a_console_request_looks_its_session_up_once(app):
    client = logged_in(app)
    client.get("/admin/messagerie")
    statements: list[str] = []

    def spy(conn, cursor, statement, *args):
        if "admin_sessions" in statement:
            statements.append(statement)

    engine = services(app).store.engine
    event.listen(engine, "before_cursor_execute", spy)
    try:
        assert opens(client)
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")


def test_old_sessions_are_forgotten(app):
    logged_in(app)
    with services(app).store.session() as db:
        db.execute(update(AdminSession).values(expires_at=utcnow() - timedelta(days=2)))
    client = app.test_client()
    assert login(client, "admin", PASSWORD).status_code == 302  # a login tidies up
    assert len(sessions_of(app)) == 1
