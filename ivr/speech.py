"""How a prompt's written text is spoken, and how long a caller listens to it.

Prompts are written as an administrator reads them (« support@reacts.com », « CIUSSS »); the
lexicon (``prompts/lexique.<langue>.yaml``) says how the voice must say the words it lists, and
phone numbers are read as phone numbers. ``ivr.twiml`` turns the pieces into SSML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ivr.yamlsource import Problem, Where, YamlMap

WORDS_PER_SECOND = {"fr-CA": 2.6, "en-CA": 2.8}  # a neural voice, measured by ear


def words_per_second(language: str) -> float:
    """The rate of ``language``: a ``<Say>``'s English is its voice's ("en-US"), said at
    en-CA's rate; anything else unknown at fr-CA's."""
    if language in WORDS_PER_SECOND:
        return WORDS_PER_SECOND[language]
    return WORDS_PER_SECOND["en-CA"] if language.startswith("en") else WORDS_PER_SECOND["fr-CA"]

SLOW_RATE = "85%"  # e-mail addresses and links, so that a caller can write them down

# North-American numbers as written in prompts: « 514 251-4000 », « 1 833 564-0404 ».
TELEPHONE = re.compile(r"(?<![\d-])(?:1[ -])?\d{3}[ -]\d{3}-\d{4}(?![\d-])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"\bhttps?://\S+|\b(?:[\w-]+\.)+(?:ca|com|org|net|qc\.ca)(?:/\S*)?\b")
LONG_NUMBER = re.compile(r"(?<![\d-])\d{4,}(?![\d])")
SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+")


@dataclass(frozen=True)
class Entry:
    """One word of the lexicon: as written in prompts, as the voice must say it."""

    written: str
    spoken: str
    slow: bool  # an address or a link: said slowly, to be written down
    where: Where
    language: str | None = None  # said in this language (SSML <lang>), not the voice's


@dataclass(frozen=True)
class Piece:
    """A run of a prompt: plain text, a lexicon word (``spoken`` in its place) or a phone
    number (read digit by digit as a phone number)."""

    kind: str  # "text" | "word" | "telephone"
    written: str
    spoken: str = ""
    slow: bool = False
    language: str | None = None


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[Entry, ...] = ()
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False, hash=False)
    _by_written: dict[str, Entry] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Longest first, so « Office 365 » wins over « Office »; whole words only.
        words = sorted((e.written for e in self.entries), key=len, reverse=True)
        alternatives = [rf"(?<![\w@.-]){re.escape(w)}(?![\w@-]|\.\w)" for w in words]
        alternatives.append(f"(?P<telephone>{TELEPHONE.pattern})")
        object.__setattr__(self, "_pattern", re.compile("|".join(alternatives)))
        object.__setattr__(self, "_by_written", {e.written: e for e in self.entries})

    def pieces(self, text: str) -> tuple[Piece, ...]:
        """``text`` cut into what the voice says as written and what it says otherwise."""
        found: list[Piece] = []
        last = 0
        for match in self._pattern.finditer(text):
            if match.start() > last:
                found.append(Piece("text", text[last:match.start()]))
            written = match.group(0)
            if match.group("telephone"):
                found.append(Piece("telephone", written))
            else:
                entry = self._by_written[written]
                found.append(Piece("word", written, entry.spoken, entry.slow, entry.language))
            last = match.end()
        if last < len(text):
            found.append(Piece("text", text[last:]))
        return tuple(found)

    def spoken(self, text: str) -> str:
        """What the voice says, as text: lexicon words replaced, phone numbers digit by digit."""
        return "".join(spoken_text(piece) for piece in self.pieces(text))

    def used(self, texts: list[str]) -> set[str]:
        return {p.written for text in texts for p in self.pieces(text) if p.kind == "word"}


def spoken_text(piece: Piece) -> str:
    if piece.kind == "word":
        return piece.spoken
    if piece.kind == "telephone":
        return " ".join(c for c in piece.written if c.isdigit())
    return piece.written


def words(text: str) -> int:
    """Words the voice says: punctuation standing alone (« ; », « : », « » ») is not one."""
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def seconds(word_count: int, language: str = "fr-CA") -> float:
    return word_count / words_per_second(language)


# --------------------------------------------------------------------------- the lexicon file

# section -> (said slowly, said in another language than the voice's)
LEXICON_SECTIONS: dict[str, tuple[bool, str | None]] = {
    "mots": (False, None), "adresses": (True, None), "français": (False, "fr-CA")}


def parse_lexicon(data: Any, label: str, problems: list[Problem]) -> Lexicon:
    """``prompts/lexique.<langue>.yaml``: ``mots`` (said in place of the written word),
    ``adresses`` (e-mail addresses and links, said slowly) and ``français`` (French names and
    labels the English voice says the French way, with SSML ``<lang xml:lang="fr-CA">``)."""
    if data is None:
        return Lexicon()
    if not isinstance(data, YamlMap):
        problems.append(Problem(Where(label, 1), "(fichier)",
                                "attendu : les sections « mots », « adresses » et « français »"))
        return Lexicon()
    entries: list[Entry] = []
    seen: dict[str, Where] = {}
    for section, value in data.items():
        if section not in LEXICON_SECTIONS:
            problems.append(Problem(data.at(section), str(section),
                                    "section inconnue (attendu : mots, adresses, français)"))
        elif value is not None and not isinstance(value, YamlMap):
            problems.append(Problem(data.at(section), str(section),
                                    "attendu : une liste « mot écrit: comment le dire »"))
        else:
            for written, spoken in (value or {}).items():
                where = value.at(written)
                if not isinstance(written, str) or not written.strip():
                    problem = "un mot écrit ne peut être vide"
                elif not isinstance(spoken, str) or not spoken.strip():
                    problem = "dites comment prononcer ce mot (texte non vide)"
                elif written in seen:
                    problem = f"déjà dans le lexique (ligne {seen[written].line})"
                elif LONG_NUMBER.search(spoken) or EMAIL.search(spoken):
                    problem = "la prononciation doit être dite en mots, sans adresse ni long nombre"
                else:
                    seen[written] = where
                    slow, language = LEXICON_SECTIONS[section]
                    entries.append(Entry(written, " ".join(spoken.split()), slow, where,
                                         language))
                    continue
                problems.append(Problem(where, f"{section}.{written}", problem))
    return Lexicon(tuple(entries))


# --------------------------------------------------------------------------- TwiML, heard


def heard_seconds(element: Any, default_language: str = "fr-CA") -> float:
    """Seconds a caller listens to one ``<Say>`` or ``<Pause>`` as TwiML (an ElementTree
    element): the words the voice receives (lexicon aliases, phone numbers digit by digit) at
    the language's rate, slowed by ``<prosody rate>``, plus ``<break>`` and ``<Pause>``."""
    if element.tag == "Pause":
        return float(element.get("length") or 1)
    if element.tag != "Say":
        return 0.0
    rate = words_per_second(element.get("language") or default_language)
    return _ssml_seconds(element, rate, include_tail=False)


def _ssml_seconds(element: Any, rate: float, include_tail: bool = True) -> float:
    total = 0.0
    tag = element.tag
    if tag == "sub":
        total += words(element.get("alias") or "") / rate
    elif tag == "say-as" and element.get("interpret-as") == "telephone":
        total += sum(c.isdigit() for c in element.text or "") / rate
    elif tag == "break":
        total += _milliseconds(element.get("time") or "") / 1000
    else:
        inner = rate * _rate_factor(element.get("rate") or "") if tag == "prosody" else rate
        total += words(element.text or "") / inner
        for child in element:
            total += _ssml_seconds(child, inner)
    if include_tail:  # what follows the element is said at the outer rate
        total += words(element.tail or "") / rate
    return total


def _milliseconds(value: str) -> float:
    value = value.strip()
    try:
        if value.endswith("ms"):
            return float(value[:-2])
        if value.endswith("s"):
            return float(value[:-1]) * 1000
    except ValueError:
        pass
    return 0.0


NAMED_RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "fast": 1.2, "x-fast": 1.4}


def _rate_factor(value: str) -> float:
    if value in NAMED_RATES:
        return NAMED_RATES[value]
    try:
        return max(float(value.rstrip("%")) / 100, 0.2) if value.endswith("%") else 1.0
    except ValueError:
        return 1.0
