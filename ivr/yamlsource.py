"""YAML reading that remembers where every key stands, so each problem names its file and line.

PyYAML's ``safe_load`` drops positions and silently keeps the last of two duplicate keys (two
options on the same digit); administrators need both reported, so mappings are built here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, order=True, slots=True)
class Where:
    """A place in a config file: what every problem and every config object points back to."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the configuration, reported as ``file:line: key: message``."""

    where: Where
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.key}: {self.message}"


SYNTAX = "(syntaxe)"


class ConfigInvalid(Exception):
    """The configuration cannot be served; carries every problem found, not just the first.
    Syntax errors come first: what follows from a file that could not be read is their
    knock-on."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.key != SYNTAX, p.where, p.key))
        super().__init__("\n".join(str(p) for p in self.problems))


class YamlMap(dict):
    """A dict that knows the line of the mapping and of each of its keys."""

    # ``where`` is made when asked (for a problem, mostly): a large config has 17,000 mappings.
    __slots__ = ("file", "line", "key_lines")
    file: str
    line: int
    key_lines: dict[str, int]

    @property
    def where(self) -> Where:
        return Where(self.file, self.line)

    @where.setter
    def where(self, where: Where) -> None:
        self.file, self.line = where.file, where.line

    def at(self, key: str) -> Where:
        return Where(self.file, self.key_lines.get(key, self.line))


class YamlList(list):
    __slots__ = ("where",)
    where: Where


# libyaml's parser when PyYAML was built with it (its wheels are): about ten times faster on a
# large tree, with the same marks, so lines are reported the same.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _loader_for(file: str, problems: list[Problem]) -> type[yaml.SafeLoader]:
    class Loader(_SAFE_LOADER):  # type: ignore[valid-type,misc]
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> YamlMap:
        loader.flatten_mapping(node)
        result = YamlMap()
        result.where = Where(file, node.start_mark.line + 1)
        result.key_lines = {}
        for key_node, value_node in node.value:
            raw = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(raw, bool) or raw is None or isinstance(raw, (list, dict)):
                problems.append(
                    Problem(Where(file, line), str(key_node.value),
                            "écrivez cette clé entre guillemets (YAML la lit comme "
                            f"{type(raw).__name__})")
                )
            key = str(raw)
            if key in result:
                problems.append(
                    Problem(Where(file, line), key,
                            f"défini deux fois (d'abord à la ligne {result.key_lines[key]})")
                )
                continue
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> YamlList:
        result = YamlList(loader.construct_object(child, deep=True) for child in node.value)
        result.where = Where(file, node.start_mark.line + 1)
        return result

    def construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
        except ValueError as exc:  # 2027-02-30: a problem at its line, the text kept
            problems.append(Problem(Where(file, node.start_mark.line + 1), str(node.value),
                                    f"date impossible ({exc})"))
            return node.value

    Loader.add_constructor("tag:yaml.org,2002:timestamp", construct_timestamp)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return Loader


def read_yaml(path: Path, label: str, problems: list[Problem],
              content: bytes | None = None) -> Any:
    """Parse one file (``content``: its bytes, when the caller has read them already); syntax
    errors and duplicate keys go to ``problems`` with their line."""
    text = None
    if content is not None:
        with contextlib.suppress(UnicodeDecodeError):  # read again below, for its message
            text = _text(content)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(Where(label, 1), "(fichier)", f"illisible : {exc}"))
            return None
    try:
        return yaml.load(text, Loader=_loader_for(label, problems))  # noqa: S506 (SafeLoader)
    except yaml.MarkedYAMLError as exc:
        problems.append(_syntax_problem(text, label, exc))
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date like 2027-02-30
        problems.append(Problem(Where(label, 1), SYNTAX, f"YAML illisible : {exc}"))
    return None


def _text(content: bytes) -> str:
    """``content`` as ``Path.read_text`` gives it: UTF-8, every line break a "\\n"."""
    text = content.decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _syntax_problem(text: str, label: str, exc: yaml.MarkedYAMLError) -> Problem:
    """libyaml may point past the last line; the pure-Python parser says where and what more
    plainly, and a syntax error is rare enough to parse the file twice."""
    if _SAFE_LOADER is not yaml.SafeLoader:
        try:
            yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506
        except yaml.MarkedYAMLError as plainer:
            exc = plainer
        except (yaml.YAMLError, ValueError):
            pass
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    return Problem(Where(label, line), SYNTAX, f"erreur de syntaxe YAML : {exc.problem or exc}")
