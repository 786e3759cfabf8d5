"""``ivr check`` names the file and line of each mistake an administrator can make; ``ivr tree``
and ``ivr call`` show the line as it is.

Each broken copy is made by editing the shipped YAML (fixture ``config_copy``); the expected line
is found by searching the text written, never hard-coded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr import SETTINGS
from ivr.cli import main

PROBLEM_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<key>\S+): (?P<message>.+)$")


def ivr(*args: str, **env: str):
    """Run ``ivr <args>`` in-process, in an environment with none of the line's settings."""
    clean: dict[str, str | None] = dict.fromkeys(SETTINGS)
    clean.update(env)
    return CliRunner().invoke(main, list(args), env=clean, catch_exceptions=False)


@dataclass
class Edit:
    """One change to a file of the config copy; remembers where its marker line landed."""

    file: str  # e.g. "menus/patient.yaml"
    old: str
    new: str

    def apply(self, directory: Path) -> None:
        path = directory / self.file
        text = path.read_text(encoding="utf-8")
        assert text.count(self.old) == 1, f"{self.old!r} is not once in {self.file}"
        path.write_text(text.replace(self.old, self.new), encoding="utf-8")


def line_of(directory: Path, file: str, marker: str) -> int:
    """1-based number of the only line of ``file`` that contains ``marker``."""
    lines = (directory / file).read_text(encoding="utf-8").splitlines()
    found = [i for i, line in enumerate(lines, 1) if marker in line]
    assert len(found) == 1, (file, marker, found)
    return found[0]


def broken(directory: Path, *edits: Edit) -> list[str]:
    """Apply ``edits``, run ``ivr check --config-dir``: it must fail; its output lines."""
    for edit in edits:
        edit.apply(directory)
    result = ivr("check", "--config-dir", str(directory))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    problems = [line for line in lines if PROBLEM_LINE.match(line)]
    assert problems, result.output
    return lines


def assert_reported(lines: list[str], file: str, line: int, *words: str) -> None:
    prefix = f"{file}:{line}: "
    hits = [text for text in lines if text.startswith(prefix)]
    assert hits, f"nothing reported at {prefix!r}:\n" + "\n".join(lines)
    assert any(all(w.lower() in h.lower() for w in words) for h in hits), (words, hits)


PATIENT = "menus/patient.yaml"
PERSONNEL = "menus/personnel.yaml"
LIGNE = "menus/ligne.yaml"
PROVIDERS = "schedules/providers.yaml"
PROMPTS = "prompts/fr-CA.yaml"
DESTINATIONS = "menus/destinations.yaml"
PATIENT_OPTION_1 = '      "1": {to: patient_technique, say: patient.technique}\n'
PATIENT_OPTION_2 = '      "2": {to: patient_question, say: patient.question}\n'
SHORTCUT_90 = '    "90": {to: vm_telesante, say: raccourci.telesante}'
ACCUEIL_OPTION_2 = '      "2": {to: personnel, say: accueil.personnel}\n'
PERSONNEL_OPTION_3 = '      "3": {to: personnel_acquisitions, say: personnel.acquisitions}\n'


# --------------------------------------------------------------------------- the shipped line


def test_shipped_configuration_is_valid():
    result = ivr("check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK : "), result.output
    # What it only warns about goes to stderr, in French, one line each.
    for line in result.stderr.splitlines():
        assert line.startswith("avertissement : "), result.stderr


def test_copy_is_valid_before_it_is_broken(config_copy):
    result = ivr("check", "--config-dir", str(config_copy))
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- broken copies


def test_unknown_node_in_an_option(config_copy):
    lines = broken(config_copy, Edit(PATIENT, "{to: patient_technique, say: patient.technique}",
                                     "{to: nulle_part, say: patient.technique}"))
    assert_reported(lines, PATIENT, line_of(config_copy, PATIENT, "nulle_part"), "nulle_part")


def test_same_digit_twice_in_a_menu(config_copy):
    duplicate = '      "2": {to: patient_technique, say: patient.technique}  # en double\n'
    lines = broken(config_copy, Edit(PATIENT, PATIENT_OPTION_2, PATIENT_OPTION_2 + duplicate))
    assert_reported(lines, PATIENT, line_of(config_copy, PATIENT, "en double"), "deux fois")


@pytest.mark.parametrize("shortcut,marker,words", [
    ('    "111": urgence_ti  # trois chiffres', "trois chiffres", ("111", "deux chiffres")),
    ('    "1": urgence_ti  # un chiffre', "un chiffre", ("deux chiffres",)),
    ('    "12": nulle_part', "nulle_part", ("nulle_part",)),
    ('    "11": cssns  # en double', "en double", ("deux fois",)),
    ('    "22": accueil  # le menu d\'accueil', "le menu d'accueil", ("accueil",)),
    ('    "12": {to: nulle_part, say: raccourci.cssns}', "nulle_part", ("nulle_part",)),
    ('    "12": {to: cssns, say: raccourci.sans_texte}', "sans_texte", ("raccourci.sans_texte",)),
], ids=["three digits", "one digit", "unknown node", "twice", "to the root",
        "mapping to an unknown node", "mapping with a prompt with no text"])
def test_bad_shortcut(config_copy, shortcut, marker, words):
    lines = broken(config_copy, Edit(LIGNE, SHORTCUT_90, f"{shortcut}\n{SHORTCUT_90}"))
    assert_reported(lines, LIGNE, line_of(config_copy, LIGNE, marker), *words)


def test_node_prompt_with_no_text(config_copy):
    lines = broken(config_copy, Edit(PATIENT, "    prompt: patient_internet.message\n",
                                     "    prompt: patient.sans_texte\n"))
    assert_reported(lines, PATIENT, line_of(config_copy, PATIENT, "patient.sans_texte"),
                    "patient.sans_texte")


def test_option_prompt_with_no_text(config_copy):
    lines = broken(config_copy, Edit(PATIENT, PATIENT_OPTION_1,
                                     PATIENT_OPTION_1.replace("say: patient.technique",
                                                              "say: patient.sans_texte")))
    assert_reported(lines, PATIENT, line_of(config_copy, PATIENT, "patient.sans_texte"),
                    "patient.sans_texte")


def test_prompt_with_empty_text(config_copy):
    text = "  patient_teams.message: Votre intervenant ou votre médecin peut vous aider.\n"
    lines = broken(config_copy, Edit(PROMPTS, text, '  patient_teams.message: ""\n'))
    assert_reported(lines, PROMPTS, line_of(config_copy, PROMPTS, "patient_teams.message:"),
                    "patient_teams.message")


ORPHAN = """
  orphelin:
    type: info
    title: Personne ne mène ici
    prompt: patient_internet.message
"""


def test_unreachable_node(config_copy):
    path = config_copy / PATIENT
    path.write_text(path.read_text(encoding="utf-8") + ORPHAN, encoding="utf-8")
    lines = broken(config_copy)
    assert_reported(lines, PATIENT, line_of(config_copy, PATIENT, "  orphelin:"),
                    "orphelin", "inatteignable")


DEAD_END = """
  cul_de_sac:
    type: menu
    title: Un menu sans issue
"""
LOOP = """
  boucle_a:
    type: menu
    title: Boucle A
    options:
      "1": {to: boucle_b, say: personnel.technique}

  boucle_b:
    type: menu
    title: Boucle B
    options:
      "1": {to: boucle_a, say: personnel.technique}
"""


def test_menu_with_no_option(config_copy):
    Edit(PERSONNEL, PERSONNEL_OPTION_3,
         PERSONNEL_OPTION_3 + '      "4": {to: cul_de_sac, say: personnel.technique}\n'
         ).apply(config_copy)
    path = config_copy / PERSONNEL
    path.write_text(path.read_text(encoding="utf-8") + DEAD_END, encoding="utf-8")
    lines = broken(config_copy)
    assert_reported(lines, PERSONNEL, line_of(config_copy, PERSONNEL, "  cul_de_sac:"),
                    "cul_de_sac")


def test_two_menus_that_only_lead_to_each_other(config_copy):
    Edit(PERSONNEL, PERSONNEL_OPTION_3,
         PERSONNEL_OPTION_3 + '      "4": {to: boucle_a, say: personnel.technique}\n'
         ).apply(config_copy)
    path = config_copy / PERSONNEL
    path.write_text(path.read_text(encoding="utf-8") + LOOP, encoding="utf-8")
    lines = broken(config_copy)
    for node in ("boucle_a", "boucle_b"):
        assert_reported(lines, PERSONNEL, line_of(config_copy, PERSONNEL, f"  {node}:"),
                        node, "aucune sortie")


def test_phone_numbers_not_e164(config_copy):
    lines = broken(config_copy,
                   Edit(PROVIDERS, 'phone: "+15142514000"', 'phone: "514-251-4000"'),
                   Edit(PROVIDERS, 'phone: "+15142513050"', 'phone: "+1555"'))
    assert_reported(lines, PROVIDERS, line_of(config_copy, PROVIDERS, "514-251-4000"),
                    "providers.csi.phone", "E.164")
    assert_reported(lines, PROVIDERS, line_of(config_copy, PROVIDERS, '"+1555"'),
                    "providers.cda.phone", "E.164")


def test_yaml_syntax_error(config_copy):
    lines = broken(config_copy, Edit(PATIENT, "    title: Patient ou proche aidant\n",
                                     "    title: Patient: ou proche aidant\n"))
    assert_reported(lines, PATIENT, line_of(config_copy, PATIENT, "Patient: ou proche"))


@pytest.mark.parametrize("key", ["#", "*"])
def test_global_key_as_an_option(config_copy, key):
    option = f'      "{key}": {{to: patient_technique, say: patient.technique}}  # touche globale\n'
    lines = broken(config_copy, Edit(PATIENT, PATIENT_OPTION_2, PATIENT_OPTION_2 + option))
    assert_reported(lines, PATIENT, line_of(config_copy, PATIENT, "touche globale"), key)


def test_reserved_digit_at_the_welcome_menu(config_copy):
    option = '      "9": {to: personnel, say: accueil.personnel}  # réservé\n'
    lines = broken(config_copy, Edit(LIGNE, ACCUEIL_OPTION_2, ACCUEIL_OPTION_2 + option))
    assert_reported(lines, LIGNE, line_of(config_copy, LIGNE, "# réservé"), "9", "réservé")


def test_example_addresses_only_in_development(config_copy):
    """A box that would notify example.org notifies nobody: refused unless IVR_DEV=1."""
    Edit(DESTINATIONS, "(ivr check le rappelle).\n    emails: []\n",
         "(ivr check le rappelle).\n    emails: [telesante@example.org]\n").apply(config_copy)
    lines = broken(config_copy)
    assert_reported(lines, DESTINATIONS, line_of(config_copy, DESTINATIONS, "  telesante:"),
                    "boxes.telesante.emails", "telesante@example.org", "IVR_DEV")
    result = ivr("check", "--config-dir", str(config_copy), IVR_DEV="1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK : "), result.output


@pytest.mark.parametrize("value", ["demain matin", "2026-12-25T10:00:00", "2026-13-01T10:00-05:00"])
def test_bad_ivr_now(value):
    result = ivr("check", IVR_NOW=value)
    assert result.exit_code == 1, result.output
    assert "IVR_NOW" in result.output, result.output


def test_every_problem_line_has_the_format(config_copy):
    lines = broken(config_copy,
                   Edit(PATIENT, "{to: patient_technique, say: patient.technique}",
                        "{to: nulle_part, say: patient.technique}"),
                   Edit(PROVIDERS, 'phone: "+15142513050"', 'phone: "+1555"'))
    problems = [line for line in lines if PROBLEM_LINE.match(line)]
    for line in problems:
        match = PROBLEM_LINE.match(line)
        assert (config_copy / match["file"]).is_file(), line
    summary = [line for line in lines if not PROBLEM_LINE.match(line)]
    assert summary and str(len(problems)) in summary[-1], lines


# --------------------------------------------------------------------------- tree and call


def test_tree_prints_the_root_and_the_shortcuts():
    result = ivr("tree")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "accueil" in lines[0], lines[0]
    for key, target in (("11", "urgence_ti"), ("21", "cssns"), ("31", "vm_nouveau_projet"),
                        ("90", "vm_telesante")):
        assert any(line.startswith(f"*{key}") and target in line for line in lines), key
    assert any("personnel_equipement_ciusss" in line for line in lines)


def test_call_as_json():
    result = ivr("call", "--at", "2026-12-01T10:00:00-05:00", "--keys", "2,1,1,1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["kind"] == "dial", summary
    assert summary["dial"] == "+15142514000", summary
    assert summary["send_digits"] == "5656", summary


def test_call_with_a_bogus_dial_outcome_is_a_usage_error():
    result = CliRunner().invoke(main, ["call", "--keys", "2,1,1,1", "--dial", "bogus"],
                                env=dict.fromkeys(SETTINGS))
    assert result.exit_code == 2, result.output
    assert "bogus" in result.output


def test_call_with_a_bad_instant_is_a_usage_error():
    result = CliRunner().invoke(main, ["call", "--at", "demain", "--keys", "1"],
                                env=dict.fromkeys(SETTINGS))
    assert result.exit_code == 2, result.output
    assert "--at" in result.output and "« demain » n'est pas un instant" in result.output
    assert "IVR_NOW" not in result.output


def test_call_refuses_keys_a_keypad_does_not_have():
    result = ivr("call", "--keys", "2,a,1")
    assert result.exit_code == 2
    assert "--keys" in result.output and "« a »" in result.output


def test_the_dial_option_s_default_is_one_it_accepts():
    help_text = " ".join(ivr("call", "--help").output.split())
    assert "défaut : completed" in help_text
    assert ivr("call", "--keys", "2,1,1,1", "--dial", "completed").exit_code == 0


def test_help_needs_no_token_and_lists_the_line_s_commands_only():
    result = ivr("--help")
    assert result.exit_code == 0, result.output
    assert "TWILIO_AUTH_TOKEN" not in result.output.split("Options :")[1]
    assert "Traceback" not in result.output
    commands = result.output.split("Commandes :")[1]
    for name in ("check", "call", "effort", "tree", "voicemails", "calls", "admin"):
        assert f"  {name} " in commands, name
    for flask_own in ("run", "shell", "routes"):
        assert f"  {flask_own} " not in commands, flask_own


def test_database_commands_need_neither_a_token_nor_dev_mode(tmp_path):
    url = f"sqlite:///{tmp_path / 'ivr.sqlite3'}"
    assert ivr("db", "upgrade", DATABASE_URL=url).exit_code == 0
    result = ivr("calls", DATABASE_URL=url)
    assert result.exit_code == 0, result.output
    assert "Aucun appel." in result.output


def test_call_plays_against_a_running_line_signed_with_its_token(make_app):
    """``ivr call --server``: the same call, over HTTP, to a line started with IVR_DEV=1 (the
    public development token signs it)."""
    from browser import serve

    from ivr.security import DEV_TOKEN

    app = make_app(TWILIO_AUTH_TOKEN=DEV_TOKEN)
    served = serve(app)
    live = next(served)
    try:
        result = ivr("call", "--server", live.url, "--keys", "2,1,1,1", "--json")
        assert result.exit_code == 0, result.output
        call = json.loads(result.stdout)
        assert call["kind"] == "dial" and call["dial"] == "+15142514000"  # IVR_NOW: Tuesday
        wrong = ivr("call", "--server", live.url, "--keys", "2",
                    TWILIO_AUTH_TOKEN="not-the-line-s-token")
        assert "403" in wrong.output or wrong.exit_code != 0
    finally:
        served.close()


def test_a_list_where_keys_are_expected_is_called_a_list(config_copy):
    lines = broken(config_copy, Edit(LIGNE, '  reserved:\n    "9": For service in English',
                                     '  reserved: ["9"]\n  reserved_was: For service in English'))
    assert any("line.reserved" in text and "trouvé une liste" in text for text in lines), lines
    assert not any("YamlList" in text for text in lines), lines
