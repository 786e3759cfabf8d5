"""A config file written to hurt: what reading and reporting it may cost stays bounded.

A security test found that 1 kB of YAML (nine aliases of nine aliases of …, eight levels deep)
made a 312 MB problem message, workers of about 1 GB and 312 MB bodies from the public
``GET /healthz``; a 50 MB file made it list 405,008 problems. Each test here failed then.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ivr import SETTINGS
from ivr.cli import main
from ivr.loading import check
from ivr.services import services
from ivr.yamlsource import (
    MAX_ALIASES,
    MAX_FILE_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_PROBLEMS,
    ConfigInvalid,
    Problem,
    Where,
    read_yaml,
    shown,
)

CALENDAR = "schedules/calendars/quebec.yaml"
SMALL = 4_000  # characters: a problem line, or what all of them add up to, stays under this


def alias_bomb(levels: int = 8) -> str:
    """1 kB of YAML; its last value, written out, is 9**levels strings."""
    names = "abcdefghijklmnop"[:levels]
    lines = [f'{names[0]}: &{names[0]} ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{cur}: &{cur} [{','.join([f'*{prev}'] * 9)}]"
              for prev, cur in zip(names, names[1:], strict=False)]
    lines += ["name: Bombe", "holidays:", "  - name: Jour", f"    date: *{names[-1]}"]
    return "\n".join(lines) + "\n"


def read(tmp_path: Path, text: str, label: str = "menus/f.yaml") -> tuple[Any, list[str]]:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    problems: list[Problem] = []
    return read_yaml(path, label, problems), [str(p) for p in problems]


def ivr(*args: str):
    env: dict[str, str | None] = dict.fromkeys(SETTINGS)
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def alias_line(text: str, problem: str, label: str) -> str:
    """The line of ``text`` the problem names (it must name ``label`` and a line)."""
    match = re.match(rf"{re.escape(label)}:(\d+): ", problem)
    assert match, problem
    return text.splitlines()[int(match.group(1)) - 1]


# --------------------------------------------------------------------------- aliases


def test_an_alias_bomb_is_refused_at_an_alias_with_a_short_message(tmp_path: Path) -> None:
    text = alias_bomb()
    assert len(text) < 1_100
    value, problems = read(tmp_path, text, CALENDAR)
    assert value is None
    [problem] = problems
    assert len(problem) < 500
    assert "trop d'alias" in problem and "limite" in problem, problem
    assert "*" in alias_line(text, problem, CALENDAR)  # at an alias, not at line 1


def test_an_alias_bomb_in_a_calendar_is_reported_by_ivr_check(config_copy: Path) -> None:
    text = alias_bomb()
    (config_copy / CALENDAR).write_text(text, encoding="utf-8")
    problems = check(config_copy)
    assert problems[0].where.file == CALENDAR and "trop d'alias" in problems[0].message
    assert sum(len(str(p)) for p in problems) < SMALL * 10
    result = ivr("check", "--config-dir", str(config_copy))
    assert result.exit_code == 1
    assert len(result.output) < SMALL * 10
    assert f"{CALENDAR}:" in result.output and "trop d'alias" in result.output


def test_a_hot_reload_of_the_bomb_leaves_healthz_small(make_app, config_copy: Path) -> None:
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    line = services(app).line
    good = line.config.version
    text = alias_bomb()
    (config_copy / CALENDAR).write_text(text, encoding="utf-8")
    assert line.check() is False
    assert line.config.version == good
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert len(response.data) < SMALL * 4
    error = response.get_json()["config"]["last_reload_error"]
    first = error["problems"][0]
    assert "trop d'alias" in first and "*" in alias_line(text, first, CALENDAR)


@pytest.mark.parametrize("text", ["a: &a [1, *a]\n", "a: &a {b: {c: *a}}\n"])
def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path, text: str) -> None:
    value, problems = read(tmp_path, text)
    assert value is None
    assert problems == ["menus/f.yaml:1: (syntaxe): alias récursif *a : la valeur ancrée &a se "
                        "contient elle-même"]


def test_too_many_aliases_are_refused_at_the_first_past_the_limit(tmp_path: Path) -> None:
    text = "a: &a 1\nb:\n" + "".join(f"  - *a  # {i + 1}\n" for i in range(MAX_ALIASES + 5))
    value, problems = read(tmp_path, text)
    assert value is None
    assert problems == [f"menus/f.yaml:{3 + MAX_ALIASES}: (syntaxe): trop d'alias (*a) : plus de "
                        f"{MAX_ALIASES} dans ce fichier (limite {MAX_ALIASES}) ; écrivez les "
                        "valeurs sans alias"]


def test_ordinary_anchors_and_aliases_still_read(tmp_path: Path) -> None:
    text = ("base: &base {type: menu, prompt: accueil}\n"
            "a: {<<: *base, say: a}\n"
            "hours: &h [\"08:00-12:00\", \"13:00-17:00\"]\n"
            "b: {mon: *h, tue: *h, wed: *h, note: \"* & *\"}\n")
    value, problems = read(tmp_path, text)
    assert problems == []
    assert value["a"] == {"type": "menu", "prompt": "accueil", "say": "a"}
    assert value["b"]["wed"] == ["08:00-12:00", "13:00-17:00"]


def test_deep_nesting_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    value, problems = read(tmp_path, "a:\n  b: " + "[" * 900 + "]" * 900 + "\n")
    assert value is None
    assert problems == ["menus/f.yaml:2: (syntaxe): valeurs imbriquées trop profondément "
                        "(902 niveaux) ; simplifiez"]


def test_nesting_past_libyamls_limit_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    value, problems = read(tmp_path, "a:\n  b: " + "[" * 1200 + "]" * 1200 + "\n")
    assert value is None
    assert problems == ["menus/f.yaml:2: (syntaxe): erreur de syntaxe YAML : exceeded maximum "
                        "nesting depth"]


# --------------------------------------------------------------------------- size


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w", encoding="utf-8") as f:
        f.write("prompts:\n")
        f.writelines(f"  p{i}: {'x' * 90}\n" for i in range(MAX_FILE_BYTES // 90))
    assert path.stat().st_size > MAX_FILE_BYTES
    for content in (None, path.read_bytes()):
        problems: list[Problem] = []
        assert read_yaml(path, "prompts/fr-CA.yaml", problems, content) is None
        [problem] = [str(p) for p in problems]
        assert re.fullmatch(r"prompts/fr-CA\.yaml:1: \(fichier\): fichier trop volumineux : "
                            r"2,\d Mo \(limite 2 Mo par fichier\) ; il n'est pas lu", problem)


def test_a_big_menu_file_fails_ivr_check_with_few_problems(config_copy: Path) -> None:
    path = config_copy / "menus" / "big.yaml"
    with path.open("w", encoding="utf-8") as f:
        f.write("nodes:\n")
        f.writelines(f"  n{i}: {{type: menu, prompt: nope}}\n" for i in range(80_000))
    assert path.stat().st_size > MAX_FILE_BYTES
    problems = check(config_copy)
    assert str(problems[0]).startswith("menus/big.yaml:1: (fichier): fichier trop volumineux")
    assert len(problems) <= MAX_PROBLEMS + 1


def test_ivr_check_refuses_a_big_file_without_opening_it(config_copy: Path, monkeypatch) -> None:
    path = config_copy / "menus" / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    opened: list[str] = []
    for name in ("open", "read_bytes", "read_text"):
        original = getattr(Path, name)

        def spy(self: Path, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            opened.append(self.name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Path, name, spy)
    problems = check(config_copy)
    assert str(problems[0]) == ("menus/big.yaml:1: (fichier): fichier trop volumineux : 2,0 Mo "
                                "(limite 2 Mo par fichier) ; il n'est pas lu")
    assert "big.yaml" not in opened and "ligne.yaml" in opened


# --------------------------------------------------------------------------- many problems


def test_ten_thousand_bad_holidays_make_at_most_the_cap(config_copy: Path) -> None:
    holidays = "".join(f"  - {{name: Jour {i}, date: \"pas une date {i}\"}}\n"
                       for i in range(10_000))
    (config_copy / CALENDAR).write_text(f"name: Québec\nholidays:\n{holidays}", "utf-8")
    problems = check(config_copy)
    assert len(problems) == MAX_PROBLEMS + 1
    assert all(p.where.file == CALENDAR for p in problems[:-1])
    assert str(problems[-1]) == ("(configuration):0: (suite): … et 9900 autres problèmes non "
                                 "affichés (corrigez d'abord ceux-ci)")


def test_ten_thousand_duplicate_keys_in_one_file_make_at_most_the_cap(tmp_path: Path) -> None:
    value, problems = read(tmp_path, "a: 1\n" * 10_000)
    assert value == {"a": 1}
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == (f"menus/f.yaml:{MAX_PROBLEMS + 2}: (suite): … et 9899 autres "
                            "problèmes dans ce fichier non affichés (corrigez d'abord ceux-ci)")


def test_many_problems_after_a_hot_reload_show_few_in_healthz(make_app, config_copy) -> None:
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    holidays = "".join(f"  - {{name: J{i}, date: \"{'z' * 5000}\"}}\n" for i in range(300))
    (config_copy / CALENDAR).write_text(f"name: Québec\nholidays:\n{holidays}", "utf-8")
    line = services(app).line
    assert line.check() is False
    assert len(line.last_error.problems) == MAX_PROBLEMS + 1  # the console's
    response = app.test_client().get("/healthz")
    error = response.get_json()["config"]["last_reload_error"]
    assert error["count"] == 300
    assert len(error["problems"]) == 21
    assert error["problems"][-1] == "… et 280 autres problèmes (« ivr check » les liste)"
    assert len(response.data) < SMALL * 4


# --------------------------------------------------------------------------- messages


def test_a_problem_message_and_key_are_cut(tmp_path: Path) -> None:
    problem = Problem(Where("menus/f.yaml", 3), "k" * 10_000, f"trouvé {'v' * 10**6!r} : faux")
    assert len(problem.key) <= 200 and len(problem.message) <= MAX_MESSAGE_CHARS
    assert problem.message.startswith("trouvé 'vvv") and problem.message.endswith("' : faux")
    assert " … " in problem.message
    assert len(str(ConfigInvalid([problem] * 1_000))) < (MAX_PROBLEMS + 1) * 800


def test_shown_quotes_a_value_without_writing_it_all_out() -> None:
    inner = ["x"] * 9
    for _ in range(7):
        inner = [inner] * 9  # 9**8 strings once written out, as the alias bomb
    assert len(shown(inner)) <= 200
    assert shown("abc") == "'abc'"
    assert len(shown("y" * 10**6)) <= 200
