"""The line's configuration: its YAML files read once into frozen, typed objects, each value
checked alone (``ivr.validate`` checks how they refer to each other; ``ivr.loading`` does both).
Every object remembers its ``Where``, so a problem names its file and line."""

from __future__ import annotations

import hashlib
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import phonenumbers

from ivr.speech import Lexicon, parse_lexicon
from ivr.yamlsource import ConfigInvalid, Problem, Where, YamlMap, read_file, read_yaml

NODE_ID = re.compile(r"[a-z0-9_]{1,64}")
NODE_TYPES = ("menu", "info", "route", "voicemail", "hangup")
MENU_KEYS = tuple("0123456789")
GLOBAL_KEYS = ("#", "*")  # repeat, back or shortcut, everywhere: never an option
AUDIO_SUFFIXES = (".mp3", ".wav")
# Shared by every prompt without a field and every node without an option (thousands of
# objects the cycle collector would otherwise walk).
NO_FIELDS: frozenset[str] = frozenset()
NO_OPTIONS: Mapping[str, Option] = MappingProxyType({})

# fr-CA voices Twilio's <Say> accepts (twilio-notes.md); a mismatch makes <Say> fail at Twilio.
FR_CA_VOICES = frozenset(
    ["Polly.Gabrielle-Neural", "Polly.Liam-Neural", "Polly.Chantal"]
    + [f"Google.fr-CA-{kind}-{v}" for kind in ("Neural2", "Wavenet", "Standard") for v in "ABCD"]
)
FR_CA_VOICE_PREFIXES = ("Google.fr-CA-Chirp3-HD-",)
# English voices for ``IVR_VOICE_EN`` (twilio-notes.md), each said with its own language.
EN_VOICES = frozenset(
    ["Polly.Joanna-Neural", "Polly.Matthew-Neural", "Polly.Joanna", "Polly.Matthew"]
    + [f"Google.{lang}-{kind}-{v}" for lang in ("en-US",) for kind in ("Neural2", "Wavenet",
                                                                        "Standard")
       for v in "ACDEFGHIJ"]
)
EN_VOICE_PREFIXES = ("Google.en-US-Chirp3-HD-",)
DEFAULT_EN_VOICE = "Polly.Joanna-Neural"
# Twilio has no en-CA voice: the English ones speak en-US, and a <Say>'s language must be its
# voice's (a mismatch makes <Say> fail at Twilio).
EN_POLLY_LANGUAGE = "en-US"
# The languages a line may serve; the first is the line's own, and every caller starts in it.
LANGUAGES = ("fr-CA", "en-CA")
FIRST_LANGUAGE = "fr-CA"
ENGLISH_OFFER = "accueil.english_offer"  # en-CA prompt said at the French welcome (key 9)
ENGLISH_KEY = "9"


def language_code(language: str) -> str:
    """The short code a call's URL carries (``l=en``); "" for the line's first language."""
    return "" if language == FIRST_LANGUAGE else language.split("-")[0]


def voice_language(voice: str, language: str) -> str:
    """The ``language`` attribute of a ``<Say>`` by ``voice``: a Google voice names its own."""
    match = re.match(r"Google\.([a-z]{2}-[A-Z]{2})-", voice)
    if match:
        return match.group(1)
    return EN_POLLY_LANGUAGE if voice in EN_VOICES else language

# Prompts the code itself speaks; each must have a text in prompts/<language>.yaml.
SYSTEM_PROMPTS = ("systeme.choix_invalide", "systeme.trop_d_essais", "systeme.au_revoir",
                  "systeme.raccourci", "systeme.raccourci_invalide", "systeme.message_enregistre",
                  "systeme.navigation", "systeme.raccourcis", "systeme.erreur",
                  "systeme.menu_disparu", "systeme.avis_enregistrement",
                  "systeme.annonce_fin")
# The announcements managed by phone (``ivr.phone_admin``), when ``line.gestion`` sets its staff
# shortcut: a manager number of PHONE_ID_DIGITS digits, then a personal PIN. Its prompts; those
# ending in "_option" name a key ({touche}) the code chooses.
PHONE_ID_DIGITS = 4
ADMIN_PROMPTS = (
    "gestion.accueil", "gestion.numero", "gestion.nip", "gestion.incorrect", "gestion.refus",
    "gestion.indisponible", "gestion.au_revoir", "gestion.enregistrer_option",
    "gestion.terminer_option", "gestion.consigne", "gestion.rien_entendu", "gestion.voici",
    "gestion.garder_option", "gestion.recommencer_option", "gestion.portee",
    "gestion.portee_ligne_option", "gestion.portee_personnel_option",
    "gestion.portee_patients_option", "gestion.duree", "gestion.duree_1h_option",
    "gestion.duree_2h_option", "gestion.duree_4h_option", "gestion.duree_demain_option",
    "gestion.publier_option", "gestion.annuler_option", "gestion.publiee", "gestion.annulee",
    "gestion.aucune", "gestion.fin_option", "gestion.suivante_option", "gestion.terminee",
    "gestion.derniere",
)


@dataclass(frozen=True)
class Prompt:
    """A text a caller hears; ``audio`` is a recorded file that replaces the synthetic voice."""

    id: str
    text: str
    audio: str | None
    fields: frozenset[str]
    where: Where


@dataclass(frozen=True)
class Option:
    key: str
    to: str
    say: str | None
    where: Where


@dataclass(frozen=True)
class Step:
    """One attempt of a route: dial a provider (skipped when closed or without a line) or go on."""

    kind: str  # "dial" | "goto"
    target: str
    say: tuple[str, ...]
    where: Where
    closed: str | None = None  # dial only: where to go when the provider is closed now


@dataclass(frozen=True)
class SmsOffer:
    key: str
    text: str  # prompt id of the message body
    where: Where


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    title: str
    prompt: tuple[str, ...]
    options: Mapping[str, Option]
    steps: tuple[Step, ...]
    box: str | None
    fallback: str | None
    sms: SmsOffer | None
    where: Where
    audience: str | None = None  # "patients": no step below may dial a staff-only provider
    prompt_where: Where | None = None
    details: tuple[str, ...] = ()  # info nodes: said after the options (the longer part)
    silence: str | None = None  # info nodes: where a caller who presses nothing goes

    @property
    def gathers(self) -> bool:
        return self.type in ("menu", "info")


@dataclass(frozen=True)
class Box:
    """A voicemail box: who is told of a new message and how long it is kept (Loi 25)."""

    id: str
    name: str
    owner: str  # prompt id: who listens to the messages, as a caller hears it in the notice
    greeting: str
    emails: tuple[str, ...]
    retention_days: int
    where: Where


@dataclass(frozen=True)
class Provider:
    """A support team. Only those with a ``phone`` are ever dialled."""

    id: str
    name: str
    phone: str | None
    extension: str | None
    extension_pause: float
    ring_timeout: int
    serves_patients: bool
    where: Where


@dataclass(frozen=True)
class Line:
    root: str
    fallback: str
    max_tries: int
    timeout: int
    shortcut_timeout: int
    shortcuts: Mapping[str, str]
    reserved: Mapping[str, str]
    where: Where
    shortcut_where: Mapping[str, Where] = field(default_factory=dict)
    # After a technical failure: welcome-menu branch -> where its callers go (others: fallback)
    on_error: Mapping[str, str] = field(default_factory=dict)
    shortcut_say: Mapping[str, str] = field(default_factory=dict)  # code -> its prompt, for *00
    # Keys ("2,1,1,1") or "default" -> seconds of speech before a person or a beep (ivr effort)
    budgets: Mapping[str, int] = field(default_factory=dict)
    budgets_where: Where | None = None
    # The staff shortcut (two digits after *) to manage announcements by phone; None: off.
    admin_shortcut: str | None = None
    languages: tuple[str, ...] = (FIRST_LANGUAGE,)  # fr-CA first; en-CA: key 9 at the welcome


@dataclass(frozen=True)
class Config:
    directory: Path
    version: str
    line: Line
    nodes: Mapping[str, Node]
    boxes: Mapping[str, Box]
    providers: Mapping[str, Provider]
    prompts: Mapping[str, Prompt]
    # Raw, read by ivr.schedule_build: the calendars, and each provider's entry of
    # providers.yaml (its hours, calendar, closures and openings).
    calendars: Mapping[str, YamlMap]
    provider_times: Mapping[str, YamlMap] = field(default_factory=dict)
    language: str = "fr-CA"
    lexicon: Lexicon = field(default_factory=Lexicon)
    schedule: Any = None  # ivr.schedule.Schedule, built by ivr.loading.load()


# --------------------------------------------------------------------------- parsing helpers


class _Reader:
    """Turns loose YAML values into typed values, recording a problem instead of raising."""

    def __init__(self, problems: list[Problem] | None = None) -> None:
        self.problems = [] if problems is None else problems

    def problem(self, where: Where, key: str, message: str) -> None:
        self.problems.append(Problem(where, key, message))

    def mapping(self, value: Any, where: Where, key: str) -> YamlMap:
        if isinstance(value, YamlMap):
            return value
        if value is not None:
            self.problem(where, key, f"attendu : des clés et leurs valeurs, trouvé {_kind(value)}")
        empty = YamlMap()
        empty.file, empty.line, empty.key_lines = where.file, where.line, {}
        return empty

    def text(self, m: YamlMap, key: str, path: str, *, required: bool = True,
             default: str | None = None) -> str | None:
        value = m.get(key)
        if isinstance(value, str):
            return value
        if value is None:
            if required:
                self.problem(m.where, f"{path}.{key}", "manquant")
            return default
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        self.problem(m.at(key), f"{path}.{key}", "attendu : un texte")
        return default

    def integer(self, m: YamlMap, key: str, path: str, default: int, low: int, high: int) -> int:
        value = m.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(m.at(key), f"{path}.{key}",
                         f"attendu : un nombre entier de {low} à {high}")
            return default
        return value

    def texts(self, value: Any, where: Where, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.problem(where, path,
                     "attendu : un identifiant de message, ou une liste d'identifiants")
        return ()

    def unknown_keys(self, m: YamlMap, allowed: tuple[str, ...], path: str) -> None:
        for key in m:
            if key not in allowed:
                self.problem(m.at(key), f"{path}.{key}",
                             f"réglage inconnu (attendu : {', '.join(allowed)})")


def _kind(value: Any) -> str:
    """What an administrator wrote, in their words (YamlList is a list, True a bool…)."""
    for kind, said in ((bool, "true ou false"), (str, "un texte"), (list, "une liste"),
                       (dict, "des clés et leurs valeurs"), (int, "un nombre"),
                       (float, "un nombre")):
        if isinstance(value, kind):
            return said
    return "rien" if value is None else type(value).__name__


def _files(directory: Path, folder: str) -> list[Path]:
    base = directory / folder
    return sorted(p for p in base.glob("*.yaml") if p.is_file()) if base.is_dir() else []


# --------------------------------------------------------------------------- sections


def _parse_line(r: _Reader, m: YamlMap) -> Line:
    r.unknown_keys(m, ("root", "fallback", "max_tries", "timeout", "shortcut_timeout",
                       "shortcuts", "reserved", "on_error", "budgets", "gestion", "languages"),
                  "line")
    shortcuts = r.mapping(m.get("shortcuts"), m.at("shortcuts"), "line.shortcuts")
    targets: dict[str, str] = {}
    says: dict[str, str] = {}
    for code, value in shortcuts.items():
        if isinstance(value, YamlMap):  # {to: node, say: prompt}
            r.unknown_keys(value, ("to", "say"), f"line.shortcuts.{code}")
            targets[str(code)] = r.text(value, "to", f"line.shortcuts.{code}") or ""
            say = r.text(value, "say", f"line.shortcuts.{code}", required=False)
            if say:
                says[str(code)] = say
        else:
            targets[str(code)] = str(value)
    budgets_map = r.mapping(m.get("budgets"), m.at("budgets"), "line.budgets")
    budgets = {str(keys): r.integer(budgets_map, keys, f"line.budgets.{keys}", 45, 5, 600)
               for keys in budgets_map}
    on_error = r.mapping(m.get("on_error"), m.at("on_error"), "line.on_error")
    reserved = r.mapping(m.get("reserved"), m.at("reserved"), "line.reserved")
    languages = _parse_languages(r, m)
    return Line(
        root=r.text(m, "root", "line") or "accueil",
        fallback=r.text(m, "fallback", "line") or "",
        max_tries=r.integer(m, "max_tries", "line", 3, 1, 9),
        timeout=r.integer(m, "timeout", "line", 6, 1, 30),
        shortcut_timeout=r.integer(m, "shortcut_timeout", "line", 4, 1, 30),
        shortcuts=MappingProxyType(targets),
        reserved=MappingProxyType({k: str(v) for k, v in reserved.items()}),
        where=m.where,
        shortcut_where=MappingProxyType({k: shortcuts.at(k) for k in shortcuts}),
        on_error=MappingProxyType({str(k): str(v) for k, v in on_error.items()}),
        shortcut_say=MappingProxyType(says),
        budgets=MappingProxyType(budgets),
        budgets_where=m.at("budgets") if "budgets" in m else None,
        admin_shortcut=r.text(m, "gestion", "line", required=False) or None,
        languages=languages,
    )


def _parse_languages(r: _Reader, m: YamlMap) -> tuple[str, ...]:
    raw = m.get("languages", [FIRST_LANGUAGE])
    where = m.at("languages")
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw) or not raw:
        r.problem(where, "line.languages", f"attendu : une liste de langues ({FIRST_LANGUAGE} "
                  "d'abord)")
        return (FIRST_LANGUAGE,)
    languages: list[str] = []
    for value in raw:
        if value not in LANGUAGES:
            r.problem(where, "line.languages",
                      f"langue inconnue « {value} » (connues : {', '.join(LANGUAGES)})")
        elif value in languages:
            r.problem(where, "line.languages", f"« {value} » est en double")
        else:
            languages.append(value)
    if languages[:1] != [FIRST_LANGUAGE]:
        r.problem(where, "line.languages", f"la première langue est {FIRST_LANGUAGE} "
                  "(la ligne répond dans cette langue)")
        languages = [FIRST_LANGUAGE, *(v for v in languages if v != FIRST_LANGUAGE)]
    return tuple(languages)


def _parse_node(r: _Reader, node_id: str, m: YamlMap, where: Where) -> Node:
    path = f"nodes.{node_id}"
    if not NODE_ID.fullmatch(node_id):
        r.problem(m.where, path, "un identifiant de nœud n'a que des minuscules, des chiffres et "
                  "des _ (il voyage dans les adresses de Twilio)")
    r.unknown_keys(m, ("type", "title", "prompt", "options", "steps", "box", "fallback", "sms",
                       "audience", "details", "silence"), path)
    audience = r.text(m, "audience", path, required=False)
    if audience not in (None, "patients", "staff"):
        r.problem(m.at("audience"), f"{path}.audience", "attendu : « patients » ou « staff »")
        audience = None
    node_type = r.text(m, "type", path) or "menu"
    if node_type not in NODE_TYPES:
        r.problem(m.at("type"), f"{path}.type",
                  f"type inconnu « {node_type} » (attendu : {', '.join(NODE_TYPES)})")
    options: dict[str, Option] = {}
    raw_options = m.get("options")
    if not isinstance(raw_options, YamlMap):
        raw_options = r.mapping(raw_options, m.at("options"), f"{path}.options")
    file, key_lines = raw_options.file, raw_options.key_lines
    for key, value in raw_options.items():
        option_where = Where(file, key_lines[key])
        if isinstance(value, str):
            options[key] = Option(key, value, None, option_where)
            continue
        if isinstance(value, YamlMap) and len(value) == 2 and type(value.get("to")) is str \
                and type(value.get("say")) is str:  # {to, say}: most options, nothing to report
            options[key] = Option(key, value["to"], value["say"], option_where)
            continue
        opath = f"{path}.options.{key}"
        opt = r.mapping(value, option_where, opath)
        r.unknown_keys(opt, ("to", "say"), opath)
        to = r.text(opt, "to", opath) or ""
        say = r.text(opt, "say", opath, required=False)
        options[key] = Option(key, to, say, option_where)
    steps: list[Step] = []
    raw_steps = m.get("steps")
    if raw_steps is not None and not isinstance(raw_steps, list):
        r.problem(m.at("steps"), f"{path}.steps", "attendu : une liste")
        raw_steps = []
    for i, value in enumerate(raw_steps or []):
        spath = f"{path}.steps[{i}]"
        step = r.mapping(value, getattr(raw_steps, "where", m.where), spath)
        r.unknown_keys(step, ("dial", "goto", "say", "closed"), spath)
        kinds = [k for k in ("dial", "goto") if k in step]
        if len(kinds) != 1:
            r.problem(step.where, spath, "une étape a exactement un « dial » ou un « goto »")
            continue
        target = r.text(step, kinds[0], spath) or ""
        says = r.texts(step.get("say"), step.at("say"), f"{spath}.say")
        closed = r.text(step, "closed", spath, required=False)
        if closed is not None and kinds[0] != "dial":
            r.problem(step.at("closed"), f"{spath}.closed",
                      "seule une étape « dial » a un « closed »")
        steps.append(Step(kinds[0], target, says, step.at(kinds[0]), closed))
    sms = None
    if "sms" in m:
        raw = r.mapping(m.get("sms"), m.at("sms"), f"{path}.sms")
        r.unknown_keys(raw, ("key", "text"), f"{path}.sms")
        sms = SmsOffer(r.text(raw, "key", f"{path}.sms", required=False, default="1") or "1",
                       r.text(raw, "text", f"{path}.sms") or "", m.at("sms"))
    prompt_where = m.at("prompt")
    return Node(
        id=node_id,
        type=node_type,
        title=r.text(m, "title", path, required=False, default=node_id) or node_id,
        prompt=r.texts(m.get("prompt"), prompt_where, f"{path}.prompt"),
        options=MappingProxyType(options) if options else NO_OPTIONS,
        steps=tuple(steps),
        box=r.text(m, "box", path, required=False),
        fallback=r.text(m, "fallback", path, required=False),
        sms=sms,
        where=where,
        audience=audience,
        prompt_where=prompt_where,
        details=r.texts(m.get("details"), m.at("details"), f"{path}.details"),
        silence=r.text(m, "silence", path, required=False),
    )


def _parse_box(r: _Reader, box_id: str, m: YamlMap, where: Where) -> Box:
    path = f"boxes.{box_id}"
    r.unknown_keys(m, ("name", "owner", "greeting", "emails", "retention_days"), path)
    emails = m.get("emails") or []
    if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
        r.problem(m.at("emails"), f"{path}.emails", "attendu : une liste d'adresses courriel")
        emails = []
    return Box(
        id=box_id,
        name=r.text(m, "name", path) or box_id,
        owner=r.text(m, "owner", path) or "",
        greeting=r.text(m, "greeting", path) or "",
        emails=tuple(emails),
        retention_days=r.integer(m, "retention_days", path, 90, 1, 3650),
        where=where,
    )


PROVIDER_KEYS = ("name", "phone", "extension", "extension_pause", "ring_timeout",
                 "serves_patients", "contact", "hours", "calendar", "closures", "openings")


def _parse_provider(r: _Reader, provider_id: str, m: YamlMap) -> Provider:
    path = f"providers.{provider_id}"
    r.unknown_keys(m, PROVIDER_KEYS, path)
    phone = r.text(m, "phone", path, required=False)
    if phone is not None and not is_e164(phone):
        r.problem(m.at("phone"), f"{path}.phone",
                  f"« {phone} » n'est pas un numéro E.164 valide (ex. \"+15142514000\")")
    extension = r.text(m, "extension", path, required=False)
    if extension is not None and not extension.isdigit():
        r.problem(m.at("extension"), f"{path}.extension", "un poste n'a que des chiffres")
        extension = None
    pause = m.get("extension_pause", 2)
    if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not 0 <= pause <= 10:
        r.problem(m.at("extension_pause"), f"{path}.extension_pause",
                  "attendu : des secondes, de 0 à 10")
        pause = 2
    serves = m.get("serves_patients", True)
    if not isinstance(serves, bool):
        r.problem(m.at("serves_patients"), f"{path}.serves_patients", "attendu : true ou false")
        serves = True
    return Provider(
        id=provider_id,
        name=r.text(m, "name", path) or provider_id,
        phone=phone,
        extension=extension,
        extension_pause=float(pause),
        ring_timeout=r.integer(m, "ring_timeout", path, 20, 5, 120),
        serves_patients=serves,
        where=m.where,
    )


def is_e164(number: str) -> bool:
    """A dialable number in E.164 form: '+', country code, and a number valid for its plan."""
    if not number.startswith("+") or not number[1:].isdigit():
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def _parse_prompts(r: _Reader, directory: Path, language: str, top: YamlMap) -> dict[str, Prompt]:
    raw = r.mapping(top.get("prompts"), top.at("prompts"), "prompts")
    audio_dir = directory / "prompts" / "audio"
    recorded = _audio_files(audio_dir / language)
    prompts: dict[str, Prompt] = {}
    same_fields: dict[frozenset[str], frozenset[str]] = {}  # one {touche} for all prompts
    file, key_lines = raw.file, raw.key_lines
    for prompt_id, text in raw.items():
        where = Where(file, key_lines[prompt_id])
        if not isinstance(text, str) or not text.strip():
            r.problem(where, f"prompts.{prompt_id}", "un message a besoin d'un texte")
            text = ""
        text = " ".join(text.split())
        fields = NO_FIELDS
        if "{" in text or "}" in text:
            try:
                fields = frozenset(f for _, f, _, _ in string.Formatter().parse(text)
                                   if f is not None)
            except ValueError:
                r.problem(where, f"prompts.{prompt_id}", "accolades mal fermées : écrivez "
                          "{touche} pour un champ, {{ pour une accolade")
        fields = same_fields.setdefault(fields, fields)
        audio = None
        for suffix in AUDIO_SUFFIXES if recorded or "/" in prompt_id else ():
            name = f"{prompt_id}{suffix}"
            # An id with "/" names a file in a subfolder, which the listing does not hold.
            if (audio_dir / language / name).is_file() if "/" in name else name in recorded:
                audio = f"{language}/{name}"
                break
        prompts[prompt_id] = Prompt(prompt_id, text, audio, fields, where)
    return prompts


class _Files:
    """Reads the config's files, each into the version's digest; its problems recorded."""

    def __init__(self, directory: Path, r: _Reader, digest: Any) -> None:
        self.directory, self.r, self.digest = directory, r, digest

    def read(self, path: Path) -> tuple[Any, str]:
        label = str(path.relative_to(self.directory))
        self.digest.update(label.encode() + b"\0")
        problems = self.r.problems
        content = read_file(path, label, problems)  # None: unreadable or too big, reported
        if content is None:
            return None, label
        self.digest.update(content)
        return read_yaml(path, label, problems, content), label

    def read_top(self, path: Path, keys: tuple[str, ...] | None) -> YamlMap:
        """The file's top mapping, its unknown keys reported (unless ``keys`` is None)."""
        data, label = self.read(path)
        top = self.r.mapping(data, Where(label, 1), "(file)")
        if keys is not None:
            self.r.unknown_keys(top, keys, "(file)")
        return top


def parse_language(config: Config, language: str) -> tuple[Config, list[Problem], str]:
    """``config`` (parsed in the line's first language) speaking ``language``: the same nodes,
    menus and schedules, that language's prompts and lexicon. Also the digest of its files."""
    problems: list[Problem] = []
    r = _Reader(problems)
    digest = hashlib.sha256()
    files = _Files(config.directory, r, digest)
    prompts, lexicon = _read_language(r, config.directory, language, files.read_top,
                                      files.read)
    translated = replace(config, prompts=MappingProxyType(prompts), lexicon=lexicon,
                         language=language)
    return translated, problems, digest.hexdigest()


def _read_language(r: _Reader, directory: Path, language: str, read_top: Any, read: Any
                   ) -> tuple[dict[str, Prompt], Lexicon]:
    """A language's prompts and lexicon (``prompts/<language>.yaml``, ``lexique.<language>``)."""
    prompts: dict[str, Prompt] = {}
    prompts_path = directory / "prompts" / f"{language}.yaml"
    if prompts_path.is_file():
        prompts = _parse_prompts(r, directory, language, read_top(prompts_path, ("prompts",)))
    else:
        r.problem(Where(f"prompts/{language}.yaml", 1), "(fichier)", "manquant")
    lexicon_path = directory / "prompts" / f"lexique.{language}.yaml"
    lexicon = parse_lexicon(*read(lexicon_path), problems=r.problems) \
        if lexicon_path.is_file() else Lexicon()
    return prompts, lexicon


def _audio_files(folder: Path) -> frozenset[str]:
    """The files of ``folder``, listed once: a stat per prompt and suffix cost 0.3 s at 10,000
    prompts."""
    try:
        with os.scandir(folder) as entries:
            return frozenset(entry.name for entry in entries if _is_file(entry))
    except OSError:
        return frozenset()


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


# --------------------------------------------------------------------------- loading


def parse(directory: Path | str, language: str = "fr-CA") -> tuple[Config, list[Problem]]:
    """Read every YAML file of the config directory; returns the config and the parse problems."""
    directory = Path(directory)
    problems: list[Problem] = []
    r = _Reader(problems)
    digest = hashlib.sha256()
    line: Line | None = None
    nodes: dict[str, Node] = {}
    boxes: dict[str, Box] = {}
    providers: dict[str, Provider] = {}
    provider_times: dict[str, YamlMap] = {}
    prompts: dict[str, Prompt] = {}

    files = _Files(directory, r, digest)
    read, read_top = files.read, files.read_top

    menu_files = _files(directory, "menus")
    if not menu_files:
        r.problem(Where("menus/", 1), "(folder)", "aucun fichier de menus (*.yaml)")
    for path in menu_files:
        top = read_top(path, ("line", "nodes", "boxes"))
        if "line" in top:
            if line is not None:
                r.problem(top.at("line"), "line",
                          f"défini deux fois (d'abord dans {line.where.file})")
            line = _parse_line(r, r.mapping(top["line"], top.at("line"), "line"))
        for section, parse_one, target in (("nodes", _parse_node, nodes),
                                           ("boxes", _parse_box, boxes)):
            raw = r.mapping(top.get(section), top.at(section), section)
            for item_id, value in raw.items():
                if item_id in target:
                    r.problem(raw.at(item_id), f"{section}.{item_id}",
                              f"défini deux fois (d'abord à {target[item_id].where})")
                    continue
                where = raw.at(item_id)  # the id's line, not its first setting's
                target[item_id] = parse_one(r, item_id, r.mapping(value, where,
                                                                  f"{section}.{item_id}"), where)
    if line is None:
        r.problem(Where("menus/", 1), "line",
                  "aucune section « line: » (menu d'accueil, repli, raccourcis)")
        line = Line("accueil", "", 3, 6, 4, MappingProxyType({}), MappingProxyType({}),
                    Where("menus/", 1))

    providers_path = directory / "schedules" / "providers.yaml"
    if providers_path.is_file():
        top = read_top(providers_path, ("providers",))
        raw = r.mapping(top.get("providers"), top.at("providers"), "providers")
        for provider_id, value in raw.items():
            entry = r.mapping(value, raw.at(provider_id), f"providers.{provider_id}")
            providers[provider_id] = _parse_provider(r, provider_id, entry)
            provider_times[provider_id] = entry
    else:
        r.problem(Where("schedules/providers.yaml", 1), "(fichier)", "manquant")

    calendars: dict[str, YamlMap] = {}
    for path in _files(directory, "schedules/calendars"):
        calendars[path.stem] = read_top(path, None)  # keys checked by ivr.schedule_build

    prompts, lexicon = _read_language(r, directory, language, read_top, read)

    config = Config(
        directory=directory,
        version=digest.hexdigest()[:12],
        line=line,
        nodes=MappingProxyType(nodes),
        boxes=MappingProxyType(boxes),
        providers=MappingProxyType(providers),
        prompts=MappingProxyType(prompts),
        calendars=MappingProxyType(calendars),
        provider_times=MappingProxyType(provider_times),
        language=language,
        lexicon=lexicon,
    )
    return config, problems


__all__ = ["Config", "ConfigInvalid", "Problem", "Where", "parse"]
