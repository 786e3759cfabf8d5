"""What an administrator reads from ``ivr`` is French, click's own words (help, errors) too."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from ivr import SETTINGS
from ivr.cli import main

ENGLISH = ("Usage:", "Options:", "Commands:", "Error:", "Show this message", "Try '",
           "for help", "No such option", "No such command", "Missing argument", "[default:",
           "Invalid value", " TEXT ", "USERNAME", "YEAR")


def ivr(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), prog_name="ivr", env=dict.fromkeys(SETTINGS),
                              catch_exceptions=False)


def in_french(text: str) -> None:
    for english in ENGLISH:
        assert english not in text, (english, text)


@pytest.mark.parametrize("args", [["--help"], ["call", "--help"], ["admin", "--help"],
                                  ["admin", "create-user", "--help"], ["holidays", "--help"]])
def test_help_is_in_french(args):
    result = ivr(*args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Utilisation : ivr {' '.join(args[:-1])}".rstrip() + " ")
    assert "Options :" in result.output and "Afficher cette aide et quitter." in result.output
    in_french(result.output)


def test_the_group_s_help_lists_commandes_and_shows_defaults_in_french():
    assert "Commandes :" in ivr("--help").output
    assert "COMMANDE [ARGUMENTS]..." in ivr("--help").output
    assert "[défaut : +15145550123]" in ivr("call", "--help").output


@pytest.mark.parametrize("args,message", [
    (["call", "--jsn"], "Erreur : option inconnue « --jsn ». (vouliez-vous dire '--json' ?)"),
    (["nope"], "Erreur : commande inconnue « nope »."),
    (["admin", "create-user"], "Erreur : argument manquant : IDENTIFIANT."),
    (["call", "--keys"], "Erreur : l'option --keys demande une valeur."),
    (["tree", "de", "trop"], "Erreur : argument(s) en trop : de trop"),
    (["holidays", "deux-mille"],
     "Erreur : valeur invalide pour [ANNÉE] : « deux-mille » n'est pas un nombre entier."),
    (["voicemails", "--status", "lu"],
     "Erreur : valeur invalide pour --status : « lu » n'est pas parmi 'new', 'handled'."),
    (["call", "--at", "demain"], "Erreur : valeur invalide pour --at : « demain » n'est pas"),
])
def test_usage_errors_are_in_french(args, message):
    result = ivr(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    in_french(result.output)


def test_an_unknown_option_shows_the_usage_and_the_error_in_french():
    result = ivr("--bogus")
    assert result.exit_code == 2
    assert result.output == ("Utilisation : ivr [OPTIONS] COMMANDE [ARGUMENTS]...\n"
                             "Essayez « ivr --help » pour l'aide.\n\n"
                             "Erreur : option inconnue « --bogus ».\n")
