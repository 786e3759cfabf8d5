"""The fast YAML reader (ivr/yamlsource.py) reads exactly what libyaml reads, or leaves the file
to libyaml.

Every problem an administrator sees names a file and a line, so the fast reader must agree with
the libyaml path on everything: values and their types, the line of each mapping, list and key,
duplicate and unquoted-boolean keys, and which files are errors. The reference here is the
libyaml path itself (``_loader_for``). Random documents are built from the forms a config uses
and from forms that break them (colons and hashes in plain text, indicators, quotes over lines,
folded scalars, flow collections, wrong indentation, duplicated or dropped lines, tabs…): on
each, the fast reader either gives the libyaml result or declines.

``IVR_FUZZ_EXAMPLES=N`` runs N random documents per test (a few hundred by default).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ivr import REPO_ROOT
from ivr.yamlsource import YamlList, YamlMap, _loader_for, _read_fast, read_yaml

EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "").strip() or 400)
READER = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                  suppress_health_check=[HealthCheck.too_slow])


def libyaml(text: str, label: str = "f.yaml") -> tuple[Any, list[str], Exception | None]:
    """What the libyaml path reads: the value, the problems, the error it raises."""
    problems: list[Any] = []
    try:
        value = yaml.load(text, Loader=_loader_for(label, problems))  # noqa: S506
    except Exception as exc:  # noqa: BLE001 - any error: the fast reader must decline
        return None, [str(p) for p in problems], exc
    return value, [str(p) for p in problems], None


def difference(fast: Any, slow: Any, path: str = "$") -> str | None:
    """Where two read values differ (values, types, lines), or None."""
    if type(fast) is not type(slow):
        return f"{path}: {type(fast).__name__} {fast!r} vs {type(slow).__name__} {slow!r}"
    if isinstance(fast, YamlMap):
        if (fast.where, fast.key_lines, list(fast)) != (slow.where, slow.key_lines, list(slow)):
            return f"{path}: {fast.where} {fast.key_lines} vs {slow.where} {slow.key_lines}"
        return next((d for k in fast if (d := difference(fast[k], slow[k], f"{path}.{k}"))),
                    None)
    if isinstance(fast, YamlList):
        if (fast.where, len(fast)) != (slow.where, len(slow)):
            return f"{path}: {fast.where} ({len(fast)}) vs {slow.where} ({len(slow)})"
        return next((d for i, (a, b) in enumerate(zip(fast, slow, strict=True))
                     if (d := difference(a, b, f"{path}[{i}]"))), None)
    return None if fast == slow else f"{path}: {fast!r} vs {slow!r}"


def assert_agrees(text: str) -> bool:
    """The fast reader gives what libyaml gives, or declines; True when it read the text."""
    fast = _read_fast(text, "f.yaml")
    slow, slow_problems, error = libyaml(text)
    if fast is None:
        return False
    assert error is None, f"libyaml refuses what the fast reader read ({error}):\n{text}"
    value, problems = fast
    assert difference(value, slow) is None, f"{difference(value, slow)}\n{text}"
    assert [str(p) for p in problems] == slow_problems, text
    return True


# ------------------------------------------------------------------------- the shipped config


SHIPPED = sorted(p for folder in ("menus", "prompts", "schedules")
                 for p in (REPO_ROOT / folder).rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shipped_files_are_read_fast_and_the_same(path: Path) -> None:
    assert assert_agrees(path.read_text(encoding="utf-8")), f"{path} went to libyaml"


def test_yaml_safe_dump_output_is_read_fast() -> None:
    """What ``yaml.safe_dump`` writes (generated configs, bench/config_scale.py)."""
    data = {"nodes": {f"n{i}": {"type": "menu", "title": f"Menu {i} : à « voir »",
                                "prompt": f"n{i}.intro",
                                "options": {str(k): {"to": f"n{k}", "say": "x"}
                                            for k in range(1, 4)},
                                "steps": [{"dial": "csi", "say": ["a", "b"]}, {"goto": "vm"}],
                                "long": "mot " * 60, "quoted": "l'heure : " + "mot " * 40}
                      for i in range(20)},
            "hours": {"mon-fri": ["08:00-16:00"]}, "flag": True, "n": 3, "empty": {}}
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    assert assert_agrees(text)


# ------------------------------------------------------------------------- chosen cases


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",
    "nodes:\n  x:\n    a: 1\n  x:\n    b: 2\n    b: 3\n",
    "yes: 1\nnull: 2\n~: 3\n'yes': 4\n1: 5\n01: 6\n",
    "a: 'une\n  phrase  longue\n\n  et '' fin'\nb: x\n",
    'a: "deux\n   lignes"\n',
    "a: >-\n  plié\n  ici\n\n  et là\n    plus\n  fin\nb: |\n  un\n   deux\n\nc: x\n",
    "a: |\n  x\n",
    "a: |-\n  x\n  y",
    "a: plain\n  continued\n\n  after blank\nb: x\n",
    "a: {to: x, say: 'y z', n: 3}\nb: [a, 'b', \"c\", {d: e}]\nc: []\nd: {}\n",
    "# comment\n---\nlist:\n- a\n- b: c\n  d: e\n-\n- - x\n",
    "a: b # comment\nc: 'd' # comment\ne: C#\nf: http://x.org/a#b\n",
    "a: 12:00\nb: '12:00'\nc: 2027-01-01\nd: 2027-02-30\n",
    "a:\tb\n",
    "\ufeffa: b\n",
    "a: b\r\nc: d\r\n",
    "a: &x 1\nb: *x\n",
    "<<: {a: 1}\n",
    "a: b: c\n",
    "a: [b\n",
    "a:\n  - b\n  c: d\n",
    "  a: 1\n  b: 2\n",
    "a: 1\n b: 2\n",
    "a: 'x' y\n",
    "- a\n-b\n",
    "a:\n- b\n- c\nd: e\n",
    "",
    "# only a comment\n",
    "---\n",
    "---\na: 1\n---\nb: 2\n",
    "a: 1\n...\n",
])
def test_chosen_cases_agree(text: str) -> None:
    assert_agrees(text)


def test_a_duplicate_key_is_reported_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "menus.yaml"
    path.write_text("nodes:\n  accueil:\n    type: menu\n  accueil:\n    type: info\n",
                    encoding="utf-8")
    problems: list[Any] = []
    value = read_yaml(path, "menus/menus.yaml", problems)
    assert [str(p) for p in problems] == [
        "menus/menus.yaml:4: accueil: defined twice (first at line 2)"]
    assert value["nodes"]["accueil"] == {"type": "menu"}
    assert value["nodes"].at("accueil").line == 2


# ------------------------------------------------------------------------- random documents


SCALARS = ["menu", "gen_m0001.intro", "Bonjour, faites le {touche}.", "{touche}", "a: b", "a:b",
           "a #b", "a#b", "#x", "12:00", "08:00-16:00", "yes", "No", "on", "true", "null", "~",
           "", "0", "007", "0x1F", "1_000", "1.5", ".inf", "-5", "- x", "-", "2027-01-01",
           "2027-02-30", "2027-01-01T12:00", "<<", "=", "&a", "*a", "!x", "%x", "@x", "`x", "? x",
           ": x", "x:", "x :", "a - b", "l'heure", 'dit "oui"', "a\\b", "[x]", "{x}", "x]", "a, b",
           "é à « »", "\xa0x", "a  b", "---", "...", "|", ">", "x\ty", "lo" * 30]
KEYS = ["type", "title", "to", "say", "1", "01", "yes", "null", "a b", "a:b", "a#b", "-a", "?a",
        "é", "<<", "'q'", "k", "k", "x" * 5]


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Any:
    kind = draw(st.sampled_from(["scalar", "scalar", "map", "list"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return draw(st.sampled_from(SCALARS))
    if kind == "map":
        return {draw(st.sampled_from(KEYS)) + draw(st.sampled_from(["", "", "2"])):
                draw(trees(depth + 1)) for _ in range(draw(st.integers(0, 4)))}
    return [draw(trees(depth + 1)) for _ in range(draw(st.integers(0, 3)))]


@st.composite
def scalar_text(draw: st.DrawFn, value: str, indent: int) -> list[str]:
    """``value`` written plain (even where YAML reads it otherwise), quoted, over lines or as
    a block scalar: the first item continues the key's line."""
    style = draw(st.sampled_from(["plain", "plain", "single", "double", "wrapped", "block"]))
    pad = " " * (indent + draw(st.integers(0, 3)))
    if style == "single":
        return ["'" + value.replace("'", "''") + "'"]
    if style == "double":
        return ['"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"']
    if style == "wrapped":
        quote = draw(st.sampled_from(["", "'"]))
        words = (quote + value.replace("'", "''" if quote else "'") + quote).split(" ")
        cut = draw(st.integers(0, len(words)))
        rest = " ".join(words[cut:])
        gap = [""] * draw(st.integers(0, 1))
        return [" ".join(words[:cut])] + gap + ([pad + rest] if rest else [])
    if style == "block":
        header = draw(st.sampled_from(["|", ">", "|-", ">-", "|+", ">2"]))
        body = value.split(" ") if draw(st.booleans()) else [value]
        return [header] + [pad + (" " * draw(st.integers(0, 1))) + b for b in body]
    return [value]


@st.composite
def block(draw: st.DrawFn, value: Any, indent: int) -> list[str]:
    """Lines of ``value`` as a block collection at ``indent``."""
    pad = " " * indent
    lines: list[str] = []
    items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    for key, item in items:
        head = pad + ("- " if key is None else f"{key}:" + draw(st.sampled_from([" ", " ", "  "])))
        if draw(st.integers(0, 9)) == 0:
            lines.append(pad + draw(st.sampled_from(["# note", "", "  # deeper", "#"])))
        if isinstance(item, (dict, list)) and item and draw(st.integers(0, 3)):
            if key is None and isinstance(item, dict) and draw(st.booleans()):  # "- a: b"
                inner = draw(block(item, indent + 2))
                lines.append(head + inner[0][indent + 2:])
                lines.extend(inner[1:])
                continue
            step = draw(st.sampled_from([0, 1, 2, 2, 4])) if isinstance(item, list) \
                and key is not None else draw(st.sampled_from([1, 2, 2, 4]))
            lines.append(head.rstrip(" ") + draw(st.sampled_from(["", "", " # c"])))
            lines.extend(draw(block(item, indent + step)))
        elif isinstance(item, (dict, list)):
            lines.append(head + flow(item))
        else:
            text = draw(scalar_text(item, indent + 1))
            lines.append(head + text[0] + draw(st.sampled_from(["", "", " # c", "  "])))
            lines.extend(text[1:])
    return lines


def flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return str(value)


@st.composite
def documents(draw: st.DrawFn) -> str:
    tree = draw(trees())
    if not isinstance(tree, (dict, list)):
        tree = {"k": tree}
    lines = draw(block(tree, draw(st.sampled_from([0, 0, 2]))))
    for _ in range(draw(st.integers(0, 2))):  # break it a little
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        change = draw(st.sampled_from(["drop", "double", "indent", "dedent", "tab", "head"]))
        if change == "drop":
            del lines[at]
        elif change == "double":
            lines.insert(at, lines[at])
        elif change == "indent":
            lines[at] = " " + lines[at]
        elif change == "dedent":
            lines[at] = lines[at].removeprefix(" ")
        elif change == "tab":
            lines[at] = lines[at].replace(" ", "\t", 1)
        else:
            lines.insert(0, draw(st.sampled_from(["---", "# head", "", "---  "])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "\n", "", "\n\n"]))


@READER
@given(documents())
def test_random_documents_agree(text: str) -> None:
    event("read fast" if assert_agrees(text) else "left to libyaml")


@READER
@given(trees())
def test_random_safe_dumps_agree_and_are_read_fast(tree: Any) -> None:
    text = yaml.safe_dump({"root": tree}, allow_unicode=True, sort_keys=False,
                          width=40)
    event("read fast" if assert_agrees(text) else "left to libyaml")
