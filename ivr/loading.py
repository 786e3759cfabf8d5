"""Loading a config folder: parse (``ivr.config``), build the schedule (``ivr.schedule``),
validate (``ivr.validate``). One ``load()`` for the app, the CLI and the tests, so what
``ivr check`` accepts is exactly what the line serves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ivr.config import Config, parse
from ivr.schedule_build import build_schedule
from ivr.validate import validate
from ivr.yamlsource import ConfigInvalid, Problem


def load(directory: Path | str, language: str = "fr-CA") -> Config:
    """Parse and validate; raise ``ConfigInvalid`` with every problem if the line can't serve."""
    config, problems = parse(directory, language)
    schedule, schedule_problems = build_schedule(config)
    problems += schedule_problems
    config = replace(config, schedule=schedule)
    problems += validate(config)
    if problems:
        raise ConfigInvalid(problems)
    return config


def check(directory: Path | str, language: str = "fr-CA") -> list[Problem]:
    """Every problem of a config directory, sorted by file and line (empty: the line can serve)."""
    try:
        load(directory, language)
    except ConfigInvalid as exc:
        return exc.problems
    return []
