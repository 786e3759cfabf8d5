"""Loading a config folder: parse (``ivr.config``), build the schedule (``ivr.schedule``),
validate (``ivr.validate``). One ``load_all()`` for the app, the CLI and the tests, so what
``ivr check`` accepts is exactly what the line serves: one ``Config`` per language of
``line.languages`` (the same nodes, menus and schedules; each its prompts and lexicon)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from ivr.config import ENGLISH_OFFER, FIRST_LANGUAGE, Config, parse, parse_language
from ivr.schedule_build import build_schedule
from ivr.validate import validate
from ivr.yamlsource import ConfigInvalid, Problem, Where


def load_all(directory: Path | str) -> Mapping[str, Config]:
    """Every language's config, the first language's first; raise ``ConfigInvalid`` with every
    problem (any language's) if the line can't serve."""
    config, problems = parse(directory, FIRST_LANGUAGE)
    schedule, schedule_problems = build_schedule(config)
    problems += schedule_problems
    config = replace(config, schedule=schedule)
    problems += validate(config)
    configs = {FIRST_LANGUAGE: config}
    digest = hashlib.sha256(config.version.encode())
    for language in config.line.languages[1:]:
        translated, found, files = parse_language(config, language)
        digest.update(files.encode())
        problems += found
        if translated.prompts:
            problems += _missing(config, translated)
            seen = {str(p) for p in problems}
            # The same tree: only what differs (the prompts' fields, their recordings) is new;
            # a prompt without its translation is reported once, in the translation's file.
            untranslated = f"n'a pas de texte dans prompts/{language}.yaml"
            problems += [p for p in validate(translated)
                         if str(p) not in seen and not p.message.endswith(untranslated)]
        configs[language] = translated
    if problems:
        raise ConfigInvalid(problems)
    if len(configs) > 1:  # one version for them all: an English edit is a new version too
        version = digest.hexdigest()[:12]
        configs = {lang: replace(c, version=version) for lang, c in configs.items()}
    return MappingProxyType(configs)


def _missing(first: Config, translated: Config) -> list[Problem]:
    """A prompt of the first language without its translation (and the English offer)."""
    file = f"prompts/{translated.language}.yaml"
    line = 1  # where it goes: after the translation of the prompt before it
    problems = []
    wanted = list(first.prompts)
    if translated.language.startswith("en"):
        wanted.append(ENGLISH_OFFER)
    for prompt_id in wanted:
        if prompt_id in translated.prompts:
            line = translated.prompts[prompt_id].where.line
        else:
            source = first.prompts.get(prompt_id)
            said = f" (prompts/{first.language}.yaml:{source.where.line})" if source else ""
            problems.append(Problem(Where(file, line), f"prompts.{prompt_id}",
                                    f"manquant en {translated.language}{said}"))
    return problems


def load(directory: Path | str, language: str = FIRST_LANGUAGE) -> Config:
    """Parse and validate; raise ``ConfigInvalid`` with every problem if the line can't serve.
    The config of ``language`` (every language is loaded and checked)."""
    configs = load_all(directory)
    if language not in configs:
        raise ConfigInvalid([Problem(Where("menus/ligne.yaml", 1), "line.languages",
                                     f"la langue {language} n'est pas servie")])
    return configs[language]


def check(directory: Path | str, language: str = FIRST_LANGUAGE) -> list[Problem]:
    """Every problem of a config directory, sorted by file and line (empty: the line can serve)."""
    try:
        load(directory, language)
    except ConfigInvalid as exc:
        return exc.problems
    return []
