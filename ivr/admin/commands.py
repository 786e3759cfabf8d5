"""``ivr admin …``: the console's accounts from the command line (``ivr.cli`` adds the group).

Nothing of the console's pages is imported here: ``ivr --help`` stays fast and builds no app.
"""

from __future__ import annotations

import re
import sys

import click
from flask.cli import AppGroup

from ivr.admin.models import AdminUsers
from ivr.schedule import TZ
from ivr.store import current_store


@click.group("admin", cls=AppGroup)
def admin_group() -> None:
    """Les comptes de la console (la console est à /admin)."""


def _new_password(password_stdin: bool) -> str:
    from ivr.admin.auth import MIN_PASSWORD_LENGTH, PasswordTooWeak, hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        while True:
            password = click.prompt(f"Mot de passe (au moins {MIN_PASSWORD_LENGTH} caractères)",
                                    hide_input=True)
            if click.prompt("Le même, encore une fois", hide_input=True) == password:
                break
            click.echo("Erreur : les deux saisies diffèrent.", err=True)
    try:
        return hash_password(password)
    except PasswordTooWeak as exc:
        raise click.ClickException(f"mot de passe refusé : {exc}") from exc


username_argument = click.argument("username", metavar="IDENTIFIANT")
password_stdin_option = click.option("--password-stdin", is_flag=True,
                                     help="Lire le mot de passe sur l'entrée standard.")


@admin_group.command("create-user")
@username_argument
@click.option("--name", "display_name", metavar="NOM", default=None,
              help="Le nom affiché dans la console.")
@password_stdin_option
def admin_create_user(username: str, display_name: str | None, password_stdin: bool) -> None:
    """Créer un compte de la console ; le mot de passe est demandé deux fois, gardé haché."""
    if not re.fullmatch(r"[A-Za-z0-9._@-]{2,64}", username):
        raise click.ClickException("identifiant : de 2 à 64 lettres, chiffres ou . _ @ -")
    accounts = AdminUsers(current_store())
    if accounts.by_name(username) is not None:
        raise click.ClickException(f"le compte « {username} » existe déjà "
                                   "(ivr admin set-password)")
    accounts.create(username, _new_password(password_stdin), display_name)
    click.echo(f"Compte « {username} » créé.")


@admin_group.command("set-password")
@username_argument
@password_stdin_option
def admin_set_password(username: str, password_stdin: bool) -> None:
    """Changer un mot de passe ; les sessions du compte se terminent, le verrou est levé."""
    if not AdminUsers(current_store()).set_password(username, _new_password(password_stdin)):
        raise click.ClickException(f"aucun compte « {username} »")
    click.echo(f"Mot de passe de « {username} » changé.")


@admin_group.command("unlock")
@username_argument
def admin_unlock(username: str) -> None:
    """Lever le verrouillage après trop d'essais manqués."""
    if not AdminUsers(current_store()).unlock(username):
        raise click.ClickException(f"aucun compte « {username} »")
    click.echo(f"Compte « {username} » déverrouillé.")


@admin_group.command("logout-all")
@username_argument
def admin_logout_all(username: str) -> None:
    """Fermer toutes les sessions ouvertes du compte, sur tous les appareils."""
    from ivr.admin.accounts import SessionStore

    user = AdminUsers(current_store()).by_name(username)
    if user is None:
        raise click.ClickException(f"aucun compte « {username} »")
    closed = SessionStore(current_store()).revoke_all(user.id)
    click.echo(f"{closed} session(s) de « {username} » fermée(s).")


@admin_group.command("users")
def admin_users() -> None:
    """Les comptes de la console."""
    from ivr.admin.accounts import account_locked

    for user in AdminUsers(current_store()).all():
        locked = account_locked(current_store(), user.username)
        last = (user.last_login_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
                if user.last_login_at else "jamais")
        flag = "\tVERROUILLÉ" if locked else ""
        click.echo(f"{user.username}\t{user.display_name or ''}\tdernière connexion {last}{flag}")
