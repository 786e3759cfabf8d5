"""YAML reading that remembers where every key stands, so each problem names its file and line.

PyYAML's ``safe_load`` drops positions and silently keeps the last of two duplicate keys (two
options on the same digit); administrators need both reported, so mappings are built here.
"""

from __future__ import annotations

import contextlib
import re
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


class ConfigInvalid(Exception):
    """The configuration cannot be served; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.where, p.key))
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
                            "write this key between quotes (YAML reads it as "
                            f"{type(raw).__name__})")
                )
            key = str(raw)
            if key in result:
                problems.append(
                    Problem(Where(file, line), key,
                            f"defined twice (first at line {result.key_lines[key]})")
                )
                continue
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> YamlList:
        result = YamlList(loader.construct_object(child, deep=True) for child in node.value)
        result.where = Where(file, node.start_mark.line + 1)
        return result

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
            problems.append(Problem(Where(label, 1), "(file)", f"cannot read: {exc}"))
            return None
    fast = _read_fast(text, label)
    if fast is not None:
        value, found = fast
        problems += found
        return value
    try:
        return yaml.load(text, Loader=_loader_for(label, problems))  # noqa: S506 (SafeLoader)
    except yaml.MarkedYAMLError as exc:
        problems.append(_syntax_problem(text, label, exc))
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date like 2027-02-30
        problems.append(Problem(Where(label, 1), "(syntax)", str(exc)))
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
    return Problem(Where(label, line), "(syntax)", f"{exc.problem or exc}")


# ---------------------------------------------------------------------- the fast reader
#
# libyaml hands every scalar to Python as an event or a node, then PyYAML's Python constructors
# build the values: about 1.5 s for a 1,000-menu line (1.8 MB of YAML), most of a load. The
# config is written in a small, regular part of YAML, which a reader of lines builds directly,
# about ten times faster. It reads only what it is sure of, exactly as libyaml does (values and
# their types, the lines of mappings, lists and keys, the same problems); anything else in a
# file (anchors, tags, escapes, tabs, a syntax error…) sends that whole file to the libyaml
# reader above. tests/test_yaml_reader.py compares the two on random documents.


class _Unsupported(Exception):
    """The fast reader met YAML it does not read itself: the file goes to libyaml."""


# Characters that cannot start a plain scalar (or do only in ways the fast reader leaves alone).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# What libyaml refuses or reads as a line break, a byte-order mark, and tabs (forbidden in
# indentation): all go to libyaml, which reads or reports them.
_UNUSUAL = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
                      "\U00010000-\U0010ffff]")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\n"
_DOCUMENT_MARK = re.compile(r"^(?:---|\.\.\.)", re.MULTILINE)
# A mapping key and what follows its colon: plain, 'single-quoted' or "double-quoted" without
# escapes. A plain key with ":" or "#" in it goes to libyaml.
_PLAIN_START = r"""[^\s'"#,\[\]{}&*!|>%@`?:-]"""
_KEY = re.compile(rf"""(?:({_PLAIN_START}[^:#]*?)|'((?:[^']|'')*)'|"([^"\\]*)")[ ]*:"""
                  r"(?:[ ]+(.*))?$")
# The text of a quoted scalar on one line, and its closing quote if it closes there.
_SINGLE_PART = re.compile(r"((?:[^']|'')*)(')?")
_DOUBLE_PART = re.compile(r'([^"\\]*)(")?')
_AFTER_SCALAR = re.compile(r"[ ]*(?:(?<= )#.*)?$")
_BLOCK_HEADER = re.compile(r"([|>])(-?)[ ]*(?:(?<= )#.*)?$")
_FLOW_TOKEN = re.compile(rf"""[ ]*(?:([\[\]{{}},]|:(?= ))|'((?:[^']|'')*)'|"([^"\\]*)"|"""
                         rf"({_PLAIN_START}[^,\[\]{{}}#:]*))")

# How libyaml's PyYAML binding types a plain scalar: its resolvers (by first character), then
# the safe constructor of the tag found.
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR_TAG = "tag:yaml.org,2002:str"
_TYPED_TAGS = frozenset(f"tag:yaml.org,2002:{name}"
                        for name in ("null", "bool", "int", "float", "timestamp"))
# A plain scalar whose first character has no resolver is text (the fast reader is off when a
# resolver applies to any first character).
_RESOLVED_FIRST = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k)
_PLAIN_CACHE: dict[str, Any] = {}
_MISSING = object()


def _plain(text: str) -> Any:
    """The value of a plain scalar, typed as libyaml's loader types it (cached: keys repeat)."""
    if text and text[0] not in _RESOLVED_FIRST:
        return text
    try:
        return _PLAIN_CACHE[text]
    except KeyError:
        pass
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR_TAG:
        value: Any = text
    elif tag in _TYPED_TAGS:
        value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    else:  # a merge key "<<", "=", ...
        raise _Unsupported(text)
    if len(text) <= 64 and len(_PLAIN_CACHE) < 50_000:
        _PLAIN_CACHE[text] = value
    return value


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_entry(line: str, column: int) -> bool:
    """``line`` has a block sequence entry ("- ") at ``column``."""
    return line.startswith("-", column) and (len(line) == column + 1 or line[column + 1] == " ")


class _FastReader:
    """Reads block YAML as people and ``yaml.safe_dump`` write it: block mappings and lists,
    plain and quoted scalars (also over several lines), folded and literal block scalars,
    one-line flow collections. Raises ``_Unsupported`` for anything else."""

    def __init__(self, text: str, file: str) -> None:
        self.lines = text.split("\n")
        marked = text.startswith(("---", "...")) or "\n---" in text or "\n..." in text
        self.marked_lines = [text.count("\n", 0, m.start())
                             for m in _DOCUMENT_MARK.finditer(text)] if marked else []
        self.file = file
        self.problems: list[Problem] = []

    def document(self) -> Any:
        lines = self.lines
        first = self._skip(0)
        if self.marked_lines:  # only "---" alone, on the first line that is not a comment
            if self.marked_lines != [first] or lines[first].rstrip(" ") != "---":
                raise _Unsupported("document marks")
            first = self._skip(first + 1)
        if first == len(lines):
            return None
        value, end = self._block(first, _indent(lines[first]))
        if self._skip(end) != len(lines):
            raise _Unsupported("more after the document")
        return value

    def _skip(self, i: int) -> int:
        """The first line from ``i`` on with more than blanks or a comment (or the end)."""
        lines = self.lines
        end = len(lines)
        while i < end:
            stripped = lines[i].lstrip(" ")
            if stripped and stripped[0] != "#":
                return i
            i += 1
        return end

    def _block(self, i: int, column: int) -> tuple[Any, int]:
        """The block collection starting at line ``i``, ``column``; and the line after it."""
        if _is_entry(self.lines[i], column):
            return self._sequence(i, column)
        return self._mapping(i, column)  # or _Unsupported: a scalar alone on its line

    def _key(self, result: YamlMap, raw: Any, text: str, line: int) -> str | None:
        """The key to store ``raw`` under, or None for a duplicate; problems as libyaml's
        path reports them."""
        if isinstance(raw, bool) or raw is None:
            self.problems.append(Problem(Where(self.file, line), text,
                                         "write this key between quotes (YAML reads it as "
                                         f"{type(raw).__name__})"))
        key = raw if type(raw) is str else str(raw)
        if key in result:
            self.problems.append(Problem(Where(self.file, line), key,
                                         f"defined twice (first at line {result.key_lines[key]})"))
            return None
        return key

    def _mapping(self, i: int, column: int) -> tuple[YamlMap, int]:
        """The block mapping whose first key is at line ``i``, ``column``; and the line after
        it. Plain keys and values are cut with string methods: a regular expression per line
        cost twice as much."""
        lines, end, typed, cache = self.lines, len(self.lines), _RESOLVED_FIRST, _PLAIN_CACHE
        result = YamlMap()
        result.file, result.line = self.file, i + 1
        key_lines: dict[str, int] = {}
        result.key_lines = key_lines
        while True:
            line = lines[i]
            first = line[column]
            if first in "'\"":
                close = line.find(first, column + 1)
                if close > 0 and line.startswith(":", close + 1) \
                        and line[close + 2:close + 3] in ("", " ") \
                        and "\\" not in (text := line[column + 1:close]):  # '1': the usual
                    raw, rest = text, line[close + 2:].lstrip(" ")
                else:
                    found = _KEY.match(line, column)
                    if found is None:
                        raise _Unsupported("not a key")
                    single, double, rest = found.group(2, 3, 4)
                    text = raw = double if single is None else single.replace("''", "'")
                if len(text if first == '"' else text.replace("'", "''")) > 1000:
                    raise _Unsupported("a key longer than libyaml reads")
            else:
                colon = line.find(":", column)
                if colon < 0 or colon + 1 < len(line) and line[colon + 1] != " ":
                    raise _Unsupported("not a key")
                text = line[column:colon].rstrip(" ")
                if first in _INDICATORS or first.isspace() or "#" in text or len(text) > 1000:
                    raise _Unsupported("a key the fast reader leaves to libyaml")
                raw = text if first not in typed else cache.get(text, _MISSING)
                if raw is _MISSING:
                    raw = _plain(text)
                rest = line[colon + 2:].lstrip(" ")
            key = raw if type(raw) is str and raw not in result else \
                self._key(result, raw, text, i + 1)
            # The two most common values, read here: one line of plain text (the next line no
            # deeper than the key), and a block collection on the next lines.
            line, nested = i + 1, False
            if key is not None and line < end:
                after = lines[line]
                stripped = after.lstrip(" ")
                indent = len(after) - len(stripped)
                if stripped and stripped[0] != "#":
                    if indent <= column and rest and rest[0] not in _INDICATORS \
                            and ": " not in rest and " #" not in rest and rest[-1] != ":":
                        rest = rest.rstrip(" ")
                        result[key] = rest if rest[0] not in typed else _plain(rest)
                        key_lines[key] = line
                        if indent < column:
                            return result, line
                        i = line
                        continue
                    nested = not rest and indent > column
            if nested:  # a collection ends on a line with content, or at the end
                result[key], i = (self._sequence if _is_entry(stripped, 0) else self._mapping)(
                    line, indent)
                key_lines[key] = line
            else:
                if key is None:  # libyaml's path never builds a duplicate's value, nor reports
                    kept, self.problems = self.problems, []  # its problems
                    _, i = self._value(rest, i, column)
                    self.problems = kept
                else:
                    result[key], i = self._value(rest, i, column)
                    key_lines[key] = line
                i = self._skip(i)
            if i == end:
                return result, i
            after = lines[i]
            indent = len(after) - len(after.lstrip(" "))
            if indent < column:
                return result, i
            if indent > column:
                raise _Unsupported("indentation")

    def _sequence(self, i: int, column: int) -> tuple[YamlList, int]:
        lines, end = self.lines, len(self.lines)
        result = YamlList()
        result.where = Where(self.file, i + 1)
        while True:
            line = lines[i]
            rest = line[column + 1:].lstrip(" ")
            if not rest or rest[0] == "#":
                value, i = self._nested(i, column)
            elif _is_entry(rest, 0):
                raise _Unsupported("a list in a list entry")
            elif _KEY.match(line, len(line) - len(rest)):
                value, i = self._mapping(i, len(line) - len(rest))
            else:
                value, i = self._inline(rest, i, column)
            result.append(value)
            i = self._skip(i)
            if i == end:
                return result, i
            line = lines[i]
            indent = _indent(line)
            if indent > column:
                raise _Unsupported("indentation")
            if indent < column or not _is_entry(line, column):
                return result, i

    def _value(self, rest: str | None, i: int, column: int) -> tuple[Any, int]:
        """The value after a key at ``column`` on line ``i``; and the line after it."""
        if not rest or rest[0] == "#":
            return self._nested(i, column, indentless=True)
        return self._inline(rest, i, column)

    def _nested(self, i: int, column: int, *, indentless: bool = False) -> tuple[Any, int]:
        """A value on the lines after line ``i`` (more indented than ``column``, or a list at
        ``column`` after a key), else null."""
        j = self._skip(i + 1)
        if j < len(self.lines):
            indent = _indent(self.lines[j])
            if indent > column:
                return self._block(j, indent)
            if indentless and indent == column and _is_entry(self.lines[j], column):
                return self._sequence(j, column)
        return _plain(""), i + 1

    def _inline(self, rest: str, i: int, column: int) -> tuple[Any, int]:
        """A scalar or flow collection starting on line ``i`` (its parent at ``column``)."""
        first = rest[0]
        if first in "'\"":
            return self._quoted(rest, i, column)
        if first in "|>":
            return self._block_scalar(rest, i, column)
        if first in "[{":
            return self._flow(rest, i)
        if first in _INDICATORS and not (first == "-" and rest[1:2] not in ("", " ")):
            raise _Unsupported("an indicator")
        text = rest
        comment = text.find(" #")
        if comment >= 0:
            text = text[:comment]
        text = text.rstrip(" ")
        if ": " in text or text.endswith(":"):
            raise _Unsupported("a colon in a plain scalar")
        if comment >= 0:
            return _plain(text), i + 1
        # Folded continuation lines: deeper than the parent; a blank line is a line break.
        lines, end = self.lines, len(self.lines)
        parts, j, last, breaks = [text], i + 1, i, 0
        while j < end:
            line = lines[j]
            stripped = line.strip(" ")
            if not stripped:
                breaks += 1
            elif _indent(line) <= column:
                break
            else:
                if stripped[0] in _INDICATORS or ": " in stripped or stripped.endswith(":") \
                        or " #" in stripped:
                    raise _Unsupported("a continuation line libyaml may read otherwise")
                parts.append("\n" * breaks if breaks else " ")
                parts.append(stripped)
                last, breaks = j, 0
            j += 1
        return _plain("".join(parts) if len(parts) > 1 else text), last + 1

    def _quoted(self, rest: str, i: int, column: int) -> tuple[str, int]:
        """A 'single-quoted' or "double-quoted" (no escape) scalar, folded over its lines:
        a line break is a space, a blank line a line break, blanks around breaks dropped."""
        single = rest[0] == "'"
        part = _SINGLE_PART if single else _DOUBLE_PART
        lines, end = self.lines, len(self.lines)
        found = part.match(rest, 1)
        chunks, text, j, breaks = [], found.group(1), i, 0
        while found.group(2) is None:
            if found.end() != len(found.string):
                raise _Unsupported("an escape in a double-quoted scalar")
            chunks.append(text.rstrip(" "))
            j += 1
            while j < end and not lines[j].strip(" "):
                breaks, j = breaks + 1, j + 1
            if j == end or _indent(lines[j]) <= column:
                raise _Unsupported("a quoted scalar that does not close")
            chunks.append("\n" * breaks if breaks else " ")
            found = part.match(lines[j], _indent(lines[j]))
            text, breaks = found.group(1), 0
        if not _AFTER_SCALAR.match(found.string, found.end()):
            raise _Unsupported("more after a quoted scalar")
        chunks.append(text)
        value = "".join(chunks)
        return (value.replace("''", "'") if single else value), j + 1

    def _block_scalar(self, rest: str, i: int, column: int) -> tuple[str, int]:
        """A literal (|) or folded (>) scalar, clipped or stripped (-) of its final break."""
        header = _BLOCK_HEADER.match(rest)
        if header is None:
            raise _Unsupported("an indentation indicator or keep (+)")
        folded, strip = header.group(1) == ">", header.group(2) == "-"
        lines, end = self.lines, len(self.lines)
        j = i + 1
        if j == end or not lines[j].strip(" "):
            raise _Unsupported("a block scalar that starts with a blank line")
        indent = _indent(lines[j])
        if indent <= column:
            raise _Unsupported("an empty block scalar")
        chunks: list[str] = []
        line_break, breaks, leading_blank = "", 0, False
        while True:
            content = lines[j][indent:]
            trailing_blank = content[:1] == " "
            if folded and line_break == "\n" and not leading_blank and not trailing_blank:
                if not breaks:
                    chunks.append(" ")
            else:
                chunks.append(line_break)
            chunks.append("\n" * breaks)
            leading_blank = trailing_blank
            chunks.append(content)
            j += 1
            line_break, breaks = ("\n" if j < end else ""), 0
            while j < end and not lines[j].strip(" "):
                if len(lines[j]) > indent:
                    raise _Unsupported("a blank line with spaces past the indentation")
                breaks, j = breaks + 1, j + 1
            if j == end or _indent(lines[j]) < indent:
                break
        if not strip:
            chunks.append(line_break)
        return "".join(chunks), j

    def _flow(self, rest: str, i: int) -> tuple[Any, int]:
        """A flow mapping or list that closes on its line: scalars, nested flow collections."""
        tokens: list[tuple[str | None, Any]] = []
        position = depth = 0
        while True:
            token = _FLOW_TOKEN.match(rest, position)
            if token is None:
                raise _Unsupported("flow content the fast reader does not read")
            indicator, single, double, plain = token.groups()
            if indicator is not None:
                tokens.append((indicator, None))
                depth += 1 if indicator in "[{" else -1 if indicator in "]}" else 0
            elif plain is not None:
                tokens.append((None, (_plain(plain.rstrip(" ")), plain.rstrip(" "))))
            else:
                text = double if single is None else single.replace("''", "'")
                tokens.append((None, (text, text)))
            position = token.end()
            if depth == 0:
                break
        if not _AFTER_SCALAR.match(rest, position):
            raise _Unsupported("more after a flow collection")
        value, used = self._flow_node(tokens, 0, i + 1)
        if used != len(tokens):
            raise _Unsupported("flow")
        return value, i + 1

    def _flow_node(self, tokens: list[tuple[str | None, Any]], k: int,
                   line: int) -> tuple[Any, int]:
        kind, scalar = tokens[k]
        if kind is None:
            return scalar[0], k + 1
        if kind == "[":
            items = YamlList()
            items.where = Where(self.file, line)
            k += 1
            while tokens[k][0] != "]":
                value, k = self._flow_node(tokens, k, line)
                items.append(value)
                if tokens[k][0] == ",":
                    k += 1
                elif tokens[k][0] != "]":
                    raise _Unsupported("flow list")
            return items, k + 1
        if kind != "{":
            raise _Unsupported("flow")
        result = YamlMap()
        result.where = Where(self.file, line)
        result.key_lines = {}
        k += 1
        while tokens[k][0] != "}":
            key_kind, key_scalar = tokens[k]
            if key_kind is not None or tokens[k + 1][0] != ":":
                raise _Unsupported("flow mapping")
            key = self._key(result, key_scalar[0], key_scalar[1], line)
            if key is None:
                kept, self.problems = self.problems, []
                _, k = self._flow_node(tokens, k + 2, line)
                self.problems = kept
            else:
                result[key], k = self._flow_node(tokens, k + 2, line)
                result.key_lines[key] = line
            if tokens[k][0] == ",":
                k += 1
            elif tokens[k][0] != "}":
                raise _Unsupported("flow mapping")
        return result, k + 1


def _read_fast(text: str, label: str) -> tuple[Any, list[Problem]] | None:
    """The fast reader's value and problems, or None when libyaml must read the file."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    if None in _RESOLVER.yaml_implicit_resolvers:
        return None
    try:
        # Printable ASCII and line breaks are never unusual: the rest is a short string.
        if _UNUSUAL.search(text.encode().translate(None, _PRINTABLE_ASCII).decode()):
            return None
        reader = _FastReader(text, label)
        return reader.document(), reader.problems
    except Exception:  # _Unsupported, and whatever libyaml's path would report: it will
        return None
