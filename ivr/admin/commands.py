"""``ivr admin …``: the console's accounts from the command line (``ivr.cli`` adds the group).

Nothing of the console's pages is imported here: ``ivr --help`` stays fast and builds no app.
"""

from __future__ import annotations

import re
import sys

import click
from flask.cli import AppGroup

from ivr.admin.models import PIN_MAX, PIN_MIN, AdminUsers, PinRefused, PinThrottle, hash_pin
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
    """Lever le verrouillage après trop d'essais manqués (mot de passe et NIP)."""
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


def _new_pin(pin_stdin: bool) -> str:
    if pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        while True:
            pin = click.prompt(f"NIP ({PIN_MIN} à {PIN_MAX} chiffres)", hide_input=True).strip()
            if click.prompt("Le même, encore une fois", hide_input=True).strip() == pin:
                break
            click.echo("Erreur : les deux saisies diffèrent.", err=True)
    try:
        return hash_pin(pin)
    except PinRefused as exc:
        raise click.ClickException(f"NIP refusé : {exc}") from exc


@admin_group.command("set-pin")
@username_argument
@click.option("--pin-stdin", is_flag=True, help="Lire le NIP sur l'entrée standard.")
@click.option("--remove", is_flag=True, help="Retirer le NIP : plus de gestion par téléphone.")
def admin_set_pin(username: str, pin_stdin: bool, remove: bool) -> None:
    """Le NIP de la gestion des annonces par téléphone ; demandé deux fois, gardé haché.

    Le compte reçoit aussi un numéro de gestionnaire (4 chiffres, le même à chaque changement
    de NIP), à taper avant le NIP. Un nouveau NIP lève le verrou des essais manqués."""
    accounts = AdminUsers(current_store())
    if accounts.by_name(username) is None:
        raise click.ClickException(f"aucun compte « {username} »")
    user = accounts.set_pin(username, None if remove else _new_pin(pin_stdin))
    if user is None:
        raise click.ClickException(f"aucun compte « {username} »")
    if remove:
        click.echo(f"NIP de « {username} » retiré.")
        return
    from flask import current_app

    from ivr.services import services

    code = services(current_app).line.config.line.admin_shortcut
    click.echo(f"NIP de « {username} » enregistré. Numéro de gestionnaire : {user.phone_id}.")
    if code:
        click.echo(f"Par téléphone : à l'accueil, faites *{code}, puis ce numéro, puis le NIP "
                   "suivi du carré.")
    else:
        click.echo("La gestion par téléphone est fermée : ajoutez « gestion » à "
                   "menus/ligne.yaml.")


@admin_group.command("users")
def admin_users() -> None:
    """Les comptes de la console ; « NIP » : la gestion par téléphone (numéro de gestionnaire)."""
    from ivr.admin.accounts import account_locked

    pins = PinThrottle(current_store())
    for user in AdminUsers(current_store()).all():
        locked = account_locked(current_store(), user.username)
        last = (user.last_login_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
                if user.last_login_at else "jamais")
        flag = "\tVERROUILLÉ" if locked else ""
        if user.pin_hash and user.phone_id:
            flag += f"\tNIP (gestionnaire {user.phone_id})"
            if pins.locked(AdminUsers.PIN_KEY.format(phone_id=user.phone_id)):
                flag += "\tNIP VERROUILLÉ"
        click.echo(f"{user.username}\t{user.display_name or ''}\tdernière connexion {last}{flag}")
