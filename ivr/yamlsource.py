"""YAML reading that remembers where every key stands, so each problem names its file and line.

PyYAML's ``safe_load`` drops positions and silently keeps the last of two duplicate keys (two
options on the same digit); administrators need both reported, so mappings are built here.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import reprlib
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


# What a config file (an administrator's, or anyone's who can write one) may cost to read and
# to report: a problem goes to ``ivr check``, the console, the log and the public
# ``GET /healthz`` (an alias bomb of 1 kB once made a 312 MB message).
MAX_FILE_BYTES = 2 * 1024 * 1024  # per file; the 1,000-menu bench's largest file is 0.95 MB
MAX_ALIASES = 1_000  # alias uses (*name) per file; the shipped config uses none
MAX_ALIAS_CHARS = 100_000  # what the aliases of a file add once expanded (see _check_aliases)
MAX_PROBLEMS = 100  # problems kept, per file read and per config; then « … et N autres »
MAX_KEY_CHARS = 200
MAX_MESSAGE_CHARS = 500
MAX_VALUE_CHARS = 200  # a value quoted in a message: see shown()


def _cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters: its start and its end, « … » between (the end of a
    message often says what is wrong with the value quoted before it)."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return f"{text[:limit - tail - 3]} … {text[len(text) - tail:]}"


_REPR = reprlib.Repr()  # Python 3.11: no keyword arguments
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 10, 10, 10, 10
_REPR.maxstring = _REPR.maxother = MAX_VALUE_CHARS
# reprlib knows a type by its name: without these, the reader's lists and mappings would be
# written out whole by repr() before being cut.
_REPR.repr_YamlList = _REPR.repr_list


def _repr_map(x: dict[Any, Any], level: int) -> str:
    """reprlib's repr of a dict, its keys in their order rather than sorted."""
    if level <= 0 and x:
        return "{...}"
    pieces = [f"{_REPR.repr1(k, level - 1)}: {_REPR.repr1(v, level - 1)}"
              for k, v in itertools.islice(x.items(), _REPR.maxdict)]
    return "{" + ", ".join(pieces + ["..."] * (len(x) > _REPR.maxdict)) + "}"


_REPR.repr_YamlMap = _repr_map


def shown(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters, built without writing out
    a large value first (``{value!r}`` of a big list costs its whole size)."""
    return _cut(_REPR.repr(value), limit)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the configuration, reported as ``file:line: key: message``; the key
    and the message are cut to a bounded length (a value quoted in either may be huge)."""

    where: Where
    key: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _cut(self.key, MAX_KEY_CHARS))
        object.__setattr__(self, "message", _cut(self.message, MAX_MESSAGE_CHARS))

    def __str__(self) -> str:
        return f"{self.where}: {self.key}: {self.message}"


SYNTAX = "(syntaxe)"
FILE = "(fichier)"
_FIRST = frozenset((SYNTAX, FILE))  # a file that could not be read: the rest is knock-on


def more_problems(where: Where, hidden: int, scope: str = "") -> Problem:
    """The line that stands for ``hidden`` problems left out."""
    s = "s" if hidden > 1 else ""
    return Problem(where, "(suite)", f"… et {hidden} autre{s} problème{s}{scope} non affiché{s} "
                                     "(corrigez d'abord ceux-ci)")


class ConfigInvalid(Exception):
    """The configuration cannot be served. ``problems``: the first ``MAX_PROBLEMS`` found, a
    file that could not be read first (what follows is its knock-on), then by file and line;
    then one line for the others. ``total``: how many were found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.total = len(problems)
        # = sorted(...)[:MAX_PROBLEMS], without sorting them all
        self.problems = heapq.nsmallest(MAX_PROBLEMS, problems,
                                        key=lambda p: (p.key not in _FIRST, p.where, p.key))
        if self.total > MAX_PROBLEMS:
            self.problems.append(more_problems(Where("(configuration)", 0),
                                               self.total - MAX_PROBLEMS))
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

    def at(self, key: str) -> Where:
        return Where(self.file, self.key_lines.get(key, self.line))


class YamlList(list):
    __slots__ = ("where",)
    where: Where


# libyaml's parser when PyYAML was built with it (its wheels are): about ten times faster on a
# large tree, with the same marks, so lines are reported the same.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE_LOADER):  # type: ignore[valid-type,misc]
    """Builds YamlMap and YamlList; duplicate keys, keys YAML does not read as text and
    impossible dates are problems: the first ``MAX_PROBLEMS`` kept, the others counted (10,000
    duplicate keys make one line, not 10,000)."""

    def __init__(self, text: str, file: str, problems: list[Problem]) -> None:
        super().__init__(text)
        self.file, self.problems = file, problems
        self.hidden, self.first_hidden = 0, Where(file, 0)

    def report(self, line: int, key: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(Where(self.file, line), key, message))
        else:
            if not self.hidden:
                self.first_hidden = Where(self.file, line)
            self.hidden += 1

    def mapping(self, node: yaml.MappingNode) -> YamlMap:
        self.flatten_mapping(node)
        result = YamlMap()
        result.file, result.line, result.key_lines = self.file, node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            raw = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(raw, bool) or raw is None or isinstance(raw, (list, dict)):
                self.report(line, (str(key_node.value) if isinstance(key_node, yaml.ScalarNode)
                                   else shown(raw)),  # a node's repr is its whole subtree
                            f"écrivez cette clé entre guillemets (YAML la lit comme "
                            f"{type(raw).__name__})")
            key = str(raw)
            if key in result:
                self.report(line, key,
                            f"défini deux fois (d'abord à la ligne {result.key_lines[key]})")
                continue
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def sequence(self, node: yaml.SequenceNode) -> YamlList:
        result = YamlList(self.construct_object(child, deep=True) for child in node.value)
        result.where = Where(self.file, node.start_mark.line + 1)
        return result

    def timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError as exc:  # 2027-02-30: a problem at its line, the text kept
            self.report(node.start_mark.line + 1, str(node.value), f"date impossible ({exc})")
            return node.value


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.timestamp)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.sequence)


def read_file(path: Path, label: str, problems: list[Problem]) -> bytes | None:
    """The bytes of a file, or None and a problem: unreadable, or larger than
    ``MAX_FILE_BYTES`` (then it is not read)."""
    try:
        size = path.stat().st_size
        if size <= MAX_FILE_BYTES:
            with path.open("rb") as f:  # no more than the limit, should it have grown since
                return f.read(MAX_FILE_BYTES + 1)
        problems.append(_too_big(label, size))
    except OSError as exc:
        problems.append(Problem(Where(label, 1), FILE, f"illisible : {exc}"))
    return None


def read_yaml(path: Path, label: str, problems: list[Problem],
              content: bytes | None = None) -> Any:
    """Parse one file (``content``: its bytes, when the caller has read them already); syntax
    errors and duplicate keys go to ``problems`` with their line (at most ``MAX_PROBLEMS``,
    then one line for the others). A file larger than ``MAX_FILE_BYTES``, or whose aliases
    would expand past ``MAX_ALIASES`` / ``MAX_ALIAS_CHARS``, is refused whole (``None``)."""
    if content is None and (content := read_file(path, label, problems)) is None:
        return None
    if len(content) > MAX_FILE_BYTES:
        problems.append(_too_big(label, len(content)))
        return None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(Where(label, 1), FILE, f"illisible : {exc}"))
        return None
    if "\r" in text:  # line breaks as Path.read_text gives them
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    found: list[Problem] = []
    loader = None
    try:
        # Aliases (*name) need an anchor (&name): a text without both has none to check.
        if "*" in text and "&" in text and (refused := _check_aliases(text, label)):
            found.append(refused)
            return None
        loader = _Loader(text, label, found)
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        found.append(_syntax_problem(text, label, exc))
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer of over 4,300 digits
        found.append(Problem(Where(label, 1), SYNTAX, f"YAML illisible : {exc}"))
    except RecursionError:  # libyaml nests up to 1,000 levels; building them takes a frame each
        found.append(_too_deep(text, label))
    finally:
        problems += found
        if loader is not None and loader.hidden:
            problems.append(more_problems(loader.first_hidden, loader.hidden, " dans ce fichier"))
    return None


def _too_big(label: str, size: int) -> Problem:
    megabytes = f"{size / 1_048_576:.1f}".replace(".", ",")
    return Problem(Where(label, 1), FILE,
                   f"fichier trop volumineux : {megabytes} Mo (limite "
                   f"{MAX_FILE_BYTES // 1_048_576} Mo par fichier) ; il n'est pas lu")


def _check_aliases(text: str, label: str) -> Problem | None:
    """A problem at the alias (``*name``) past the limits, or None.

    The reader shares an anchored value between its aliases, but whatever walks or quotes the
    value expands it: nine aliases of nine aliases of … eight levels deep are 43 million
    strings in 1 kB of YAML. So each alias counts for its anchor's size once expanded: one per
    node plus the characters of its scalars, its own aliases expanded. The events are read once
    more for this (libyaml composes nodes out of reach), only for a text that may hold an
    alias."""
    sizes: dict[str, int] = {}  # anchor -> its value's size, aliases expanded
    open_: list[list[Any]] = []  # collections being read: [size so far, anchor]
    uses = expanded = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            open_.append([1, event.anchor])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            size, anchor = open_.pop()
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1 + len(event.value), event.anchor
        elif isinstance(event, yaml.AliasEvent):
            where, name = Where(label, event.start_mark.line + 1), _cut(event.anchor, 40)
            if any(anchor == event.anchor for _, anchor in open_):
                return Problem(where, SYNTAX, f"alias récursif *{name} : la valeur ancrée "
                                              f"&{name} se contient elle-même")
            if event.anchor not in sizes:
                return None  # an unknown alias: the reader says so, at its line
            size, anchor = sizes[event.anchor], None
            uses += 1
            expanded += size
            if uses > MAX_ALIASES:
                return Problem(where, SYNTAX, f"trop d'alias (*{name}) : plus de {MAX_ALIASES} "
                                              f"dans ce fichier (limite {MAX_ALIASES}) ; "
                                              "écrivez les valeurs sans alias")
            if expanded > MAX_ALIAS_CHARS:
                return Problem(where, SYNTAX, f"trop d'alias : développés, ceux de ce fichier "
                                              f"dépassent {MAX_ALIAS_CHARS} caractères à "
                                              f"*{name} (limite {MAX_ALIAS_CHARS}) ; écrivez "
                                              "les valeurs sans alias")
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if open_:
            open_[-1][0] += size
    return None


def _too_deep(text: str, label: str) -> Problem:
    """The line where the text's nesting is deepest (found from the events once more)."""
    depth = deepest = 0
    line = 1
    with contextlib.suppress(yaml.YAMLError):
        for event in yaml.parse(text, Loader=_SAFE_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > deepest:
                    deepest, line = depth, event.start_mark.line + 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    return Problem(Where(label, line), SYNTAX,
                   f"valeurs imbriquées trop profondément ({deepest} niveaux) ; simplifiez")


def _syntax_problem(text: str, label: str, exc: yaml.MarkedYAMLError) -> Problem:
    """libyaml may point past the last line; the pure-Python parser says where and what more
    plainly, and a syntax error is rare enough to parse the file twice."""
    if _SAFE_LOADER is not yaml.SafeLoader:
        try:
            yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506
        except yaml.MarkedYAMLError as plainer:
            exc = plainer
        except (yaml.YAMLError, ValueError, RecursionError):  # past libyaml's 1,000 levels
            pass
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    return Problem(Where(label, line), SYNTAX, f"erreur de syntaxe YAML : {exc.problem or exc}")
