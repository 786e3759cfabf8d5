"""Helpers for console tests: an account, a logged-in test client, and CSRF tokens."""

from __future__ import annotations

import re

from ivr.admin.auth import hash_password
from ivr.admin.models import AdminUsers
from ivr.services import services

PASSWORD = "un mot de passe assez long"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_user(app, username: str = "admin", password: str = PASSWORD,
                display_name: str | None = "Agente Test") -> None:
    with app.app_context():
        AdminUsers(services(app).store).create(username, hash_password(password),
                                                       display_name)


def csrf_token(client, path: str = "/admin/connexion") -> str:
    """The CSRF token of the form on ``path`` (the session cookie ties it to this client)."""
    page = client.get(path).get_data(as_text=True)
    match = TOKEN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, username: str = "admin", password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/admin/connexion",
                       data={"username": username, "password": password, "csrf_token": token})


def logged_in(app, **kwargs):
    """A test client with an open console session."""
    create_user(app, **kwargs)
    client = app.test_client()
    response = login(client, kwargs.get("username", "admin"), kwargs.get("password", PASSWORD))
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
