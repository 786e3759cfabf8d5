"""Reading a config file: libyaml (PyYAML's CSafeLoader) composes the nodes with their marks,
and ivr/yamlsource.py builds mappings and lists that remember their file and line.

Every problem an administrator sees names a file and a line: values and their types, the line
of each mapping, list and key, duplicate and unquoted-boolean keys, and syntax errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr import REPO_ROOT
from ivr.yamlsource import YamlList, YamlMap, read_yaml

SHIPPED = sorted(p for folder in ("menus", "prompts", "schedules")
                 for p in (REPO_ROOT / folder).rglob("*.yaml"))


def read(tmp_path: Path, text: str) -> tuple[Any, list[str]]:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    problems: list[Any] = []
    return read_yaml(path, "menus/f.yaml", problems), [str(p) for p in problems]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shipped_files_read_as_yaml_reads_them(path: Path) -> None:
    problems: list[Any] = []
    value = read_yaml(path, str(path), problems)
    assert problems == []
    assert value == yaml.safe_load(path.read_text("utf-8"))


def test_mappings_lists_and_keys_know_their_lines(tmp_path: Path) -> None:
    value, problems = read(tmp_path, "nodes:\n  accueil:\n    type: menu\n"
                                     "    prompt: [a, b]\n    options:\n      - x\n")
    assert problems == []
    nodes = value["nodes"]
    assert isinstance(nodes, YamlMap) and nodes.where.line == 2 and nodes.at("accueil").line == 2
    accueil = nodes["accueil"]
    assert (accueil.at("type").line, accueil.at("prompt").line) == (3, 4)
    assert isinstance(accueil["options"], YamlList) and accueil["options"].where.line == 6
    assert accueil["prompt"] == ["a", "b"] and accueil.at("nope").line == accueil.where.line


def test_a_duplicate_key_is_reported_with_both_lines(tmp_path: Path) -> None:
    value, problems = read(tmp_path, "nodes:\n  accueil:\n    type: menu\n  accueil:\n"
                                     "    type: info\n")
    assert problems == ["menus/f.yaml:4: accueil: défini deux fois (d'abord à la ligne 2)"]
    assert value["nodes"]["accueil"] == {"type": "menu"}
    assert value["nodes"].at("accueil").line == 2


@pytest.mark.parametrize("key,kind", [("yes", "bool"), ("null", "NoneType"), ("~", "NoneType")])
def test_a_key_yaml_would_not_read_as_text_must_be_quoted(tmp_path: Path, key, kind) -> None:
    _, problems = read(tmp_path, f"shortcuts:\n  {key}: accueil\n")
    assert problems == [f"menus/f.yaml:2: {key}: écrivez cette clé entre guillemets (YAML la lit "
                        f"comme {kind})"]


@pytest.mark.parametrize("text,line", [
    ("a: 1\nb: [2\nc: 3\n", 3),
    ("a:\n  - x\n - y\n", 3),
    ("a: 'unterminated\n", 2),
    ("k" * 1100 + ": v\n", 1),  # a key whose ':' stands 1,024+ characters away: not YAML
])
def test_a_syntax_error_names_its_line(tmp_path: Path, text: str, line: int) -> None:
    value, problems = read(tmp_path, text)
    assert value is None
    [problem] = problems
    assert problem.startswith(f"menus/f.yaml:{line}: (syntaxe): "), problem


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a: \xe9t\xe9\n")  # Latin-1, not UTF-8
    problems: list[Any] = []
    assert read_yaml(path, "x.yaml", problems) is None
    assert "illisible" in str(problems[0])
    problems = []
    assert read_yaml(tmp_path / "missing.yaml", "missing.yaml", problems) is None
    assert "illisible" in str(problems[0])


def test_tags_that_build_objects_are_refused(tmp_path: Path) -> None:
    value, problems = read(tmp_path, "a: !!python/object/apply:os.system ['true']\n")
    assert value is None and problems and "(syntaxe)" in problems[0]


def test_an_impossible_date_is_a_problem_at_its_line(tmp_path: Path) -> None:
    value, problems = read(tmp_path, "holidays:\n  - name: x\n    date: 2027-02-30\n")
    assert value["holidays"][0]["date"] == "2027-02-30"
    [problem] = problems
    assert problem.startswith("menus/f.yaml:3: 2027-02-30: date impossible"), problem


def test_a_syntax_error_comes_before_what_follows_from_it(config_copy: Path) -> None:
    from ivr.loading import check

    (config_copy / "menus" / "patient.yaml").write_text("nodes:\n  patient: [\n", "utf-8")
    problems = check(config_copy)
    assert problems[0].key == "(syntaxe)" and problems[0].where.file == "menus/patient.yaml"
    assert len(problems) > 1  # the nodes other files lead to are now unknown
