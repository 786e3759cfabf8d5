"""Warnings about a configuration the line can serve, but that sounds or works worse than it
should: what a caller would mishear, wait through, or what nobody would be told.

Problems (``ivr.validate``) stop a config; these do not. ``ivr check`` prints both, the
console shows them, and each names the file and line to change.
"""

from __future__ import annotations

import os
from datetime import date

from ivr.config import Config
from ivr.schedule import missing_local_days
from ivr.speech import EMAIL, LONG_NUMBER, SENTENCE_END, URL, spoken_text, words
from ivr.yamlsource import Problem

MAX_SENTENCE_WORDS = 25
MAX_MENU_CHOICES = 5
PLACEHOLDER_DOMAINS = ("example.org", "example.com", "example.net")


def config_warnings(config: Config, today: date | None = None) -> list[Problem]:
    found = _prompt_warnings(config) + _menu_warnings(config) + _box_warnings(config)
    if today is not None:
        found += missing_local_days(config, today)
    return sorted(found, key=lambda p: (p.where, p.key))


def spoken_prompts(config: Config) -> list[str]:
    """The ids of the prompts a caller hears (not the texts sent by SMS)."""
    texts = {node.sms.text for node in config.nodes.values() if node.sms}
    return [pid for pid in config.prompts if pid not in texts]


def _prompt_warnings(config: Config) -> list[Problem]:
    warnings: list[Problem] = []
    lexicon = config.lexicon
    heard = spoken_prompts(config)
    for pid in heard:
        prompt, key = config.prompts[pid], f"prompts.{pid}"
        pieces = lexicon.pieces(prompt.text)
        plain = " ".join(p.written for p in pieces if p.kind == "text")
        for number in LONG_NUMBER.findall(plain):
            warnings.append(Problem(prompt.where, key, f"le nombre {number} sera lu comme un "
                                    "grand nombre : ajoutez-le au lexique (ex. « poste 5656 ») "
                                    "ou écrivez-le comme on le dit"))
        for address in EMAIL.findall(plain):
            warnings.append(Problem(prompt.where, key, f"l'adresse {address} n'est pas dans "
                                    "prompts/lexique : dites comment l'épeler (section adresses)"))
        for link in URL.findall(EMAIL.sub(" ", plain)):
            warnings.append(Problem(prompt.where, key, f"le lien {link} n'est pas dans "
                                    "prompts/lexique : dites comment le lire (section adresses)"))
        spoken = "".join(spoken_text(p) for p in pieces)
        for sentence in SENTENCE_END.split(spoken):
            if words(sentence) > MAX_SENTENCE_WORDS:
                start = " ".join(sentence.split()[:6])
                warnings.append(Problem(prompt.where, key,
                                        f"phrase de {words(sentence)} mots (« {start}… ») : "
                                        f"coupez-la, au-delà de {MAX_SENTENCE_WORDS} mots "
                                        "l'appelant décroche"))
    used = lexicon.used([config.prompts[pid].text for pid in heard])
    for entry in lexicon.entries:
        if entry.written not in used:
            warnings.append(Problem(entry.where, entry.written,
                                    "ce mot du lexique n'apparaît dans aucun message"))
    return warnings


def _menu_warnings(config: Config) -> list[Problem]:
    warnings = []
    for node in config.nodes.values():
        choices = len(node.options) + (1 if node.sms is not None else 0)
        if node.gathers and choices > MAX_MENU_CHOICES:
            warnings.append(Problem(node.where, f"nodes.{node.id}",
                                    f"{choices} choix : au-delà de {MAX_MENU_CHOICES}, "
                                    "l'appelant oublie les premiers ; regroupez-en"))
    return warnings


def _box_warnings(config: Config) -> list[Problem]:
    return [Problem(box.where, f"boxes.{box.id}.emails",
                    "aucune adresse : personne n'est avisé des nouveaux messages (ils "
                    "attendent dans la console)")
            for box in config.boxes.values() if not box.emails]


def placeholder_problems(config: Config, settings: dict[str, str] | None = None
                         ) -> list[Problem]:
    """Example addresses (``example.org``) are for development only: outside it (``IVR_DEV``
    not set), ``ivr check`` refuses them, so no message is sent to nobody."""
    settings = os.environ if settings is None else settings
    if settings.get("IVR_DEV", "").strip().lower() in ("1", "true", "yes", "on", "oui"):
        return []
    return [Problem(box.where, f"boxes.{box.id}.emails", f"{email} est une adresse d'exemple : "
                    "mettez celle de l'équipe (permise seulement avec IVR_DEV=1)")
            for box in config.boxes.values() for email in box.emails
            if email.lower().rsplit("@", 1)[-1] in PLACEHOLDER_DOMAINS]
