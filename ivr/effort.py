"""Seconds of speech a caller listens to, menus heard in full, before each destination.

Every path is played through the real app (``ivr.simulator``), so the figure is what the line
says at that instant, counted by ``ivr.speech``. Read by ``ivr effort``, ``ivr check`` (budgets
in ``menus/ligne.yaml``) and the console's tree diagram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Flask

from ivr.config import ENGLISH_KEY, FIRST_LANGUAGE, Config
from ivr.services import services
from ivr.simulator import CallSession, CallSimulator, SessionError
from ivr.yamlsource import Problem

MAX_DEPTH = 12  # keys in one path; deeper than any sane tree
REFERENCE_INSTANT = "2026-12-01T10:00:00-05:00"  # a Tuesday morning: every team open
# Counted as a caller whose line takes no text (a desk phone): the budgets are the same for
# everyone, and a mobile caller hears one offer more (« … par texto, faites le 2 »).
CALLER = "anonymous"


@dataclass(frozen=True)
class PathEffort:
    keys: str  # as ``ivr call --keys`` takes them: "2,1,1,1", "*11", "2,2,2,."
    ends: str  # "dial" | "record" | "info" | "hangup" | "end" | "error"
    node: str  # the last node the caller chose in (its title names the path)
    destination: str  # the number rung, the voicemail box, or how the call ended
    seconds: float
    budget: int | None
    # "en-CA": the path is taken in English, from the French welcome by its key 9 (``keys``
    # starts with "9,", counted in ``seconds``); its budget is its French path's.
    language: str = FIRST_LANGUAGE

    @property
    def budget_keys(self) -> str:
        """The path as ``line.budgets`` names it: without the key 9 of an English call."""
        if self.language != FIRST_LANGUAGE:
            return self.keys.removeprefix(ENGLISH_KEY).removeprefix(",")
        return self.keys

    @property
    def over(self) -> bool:
        return self.budget is not None and self.seconds > self.budget


def efforts(app: Flask, at: datetime | None = None,
            language: str = FIRST_LANGUAGE) -> list[PathEffort]:
    """Every way from the welcome menu to a person, a voicemail or a goodbye, with its seconds
    (played at ``at``, default the app's clock). Paths that only lead back (``*``, ``#``) and
    the failure fallback are left out: no caller takes them to reach someone.

    In another ``language`` (en-CA; the line must serve it), each path starts at the French
    welcome, heard in full with its English offer, and its key 9: the English welcome follows.
    """
    line = services(app).line
    if language not in line.configs:
        raise ValueError(f"la ligne ne sert pas {language} (line.languages)")
    config: Config = line.configs[language]
    prefix = () if language == FIRST_LANGUAGE else (ENGLISH_KEY,)
    found: list[PathEffort] = []
    pending: list[tuple[str, ...]] = [()]
    seen_paths: set[tuple[str, ...]] = set()
    while pending:
        keys = pending.pop()
        if keys in seen_paths:
            continue
        seen_paths.add(keys)
        session, node_id = _play(app, prefix + keys, at)
        if session is None:
            continue
        if session.awaiting is not None and session.awaiting.kind == "keys" and node_id:
            node = config.nodes.get(node_id)
            if node is None or len(keys) >= MAX_DEPTH:
                continue
            visited = _nodes_on(session)
            choices = [key for key in sorted(node.options) if node.options[key].to not in
                       visited or not config.nodes[node.options[key].to].gathers]
            if node.type == "info" and node.silence:
                choices.append(".")
            if node.type == "info":  # an information is a destination of its own
                found.append(_effort(config, keys, session, node_id, prefix))
            if not keys:  # the welcome menu: the staff shortcuts too
                pending.extend(("*" + code,) for code in sorted(config.line.shortcuts,
                                                                reverse=True))
            pending.extend(keys + (key,) for key in reversed(choices))
            continue
        found.append(_effort(config, keys, session, node_id, prefix))
    return sorted(found, key=lambda e: (e.budget_keys.startswith("*"), e.keys))


def _play(app: Flask, keys: tuple[str, ...], at: datetime | None
          ) -> tuple[CallSession | None, str | None]:
    """The call after ``keys``, stopped at its next wait; and the node it waits in."""
    session = CallSession(CallSimulator(app, caller=CALLER, instant=at, simulated=True)).start()
    last_node = _waiting_node(session)
    try:
        for key in keys:
            if session.awaiting is None or session.awaiting.kind != "keys":
                return None, None
            last_node = _waiting_node(session)
            if key == ".":
                session.silence()
            elif key.startswith("*") and len(key) == 3:
                session.press("*")
                session.press(key[1:])
            else:
                session.press(key)
    except SessionError:
        return None, None
    in_menu = session.awaiting is not None and session.awaiting.kind == "keys"
    return session, _waiting_node(session) if in_menu else last_node


def _segments(url: str | None) -> list[str]:
    return urlsplit(url or "").path.rstrip("/").split("/")


def _input_node(url: str | None) -> str | None:
    """``menu`` in ``…/input/menu``: the node whose keys the request carries."""
    segments = _segments(url)
    return segments[-1] if len(segments) >= 2 and segments[-2] == "input" else None


def _waiting_node(session: CallSession) -> str | None:
    return _input_node(session.awaiting.url) if session.awaiting is not None else None


def _nodes_on(session: CallSession) -> set[str]:
    urls = [exchange.url for exchange in session.exchanges] + [
        session.awaiting.url if session.awaiting is not None else None]
    return {node for url in urls if (node := _input_node(url))}


def _effort(config: Config, keys: tuple[str, ...], session: CallSession,
            node_id: str | None, prefix: tuple[str, ...] = ()) -> PathEffort:
    awaiting = session.awaiting
    kind = awaiting.kind if awaiting is not None else None
    seconds = 0.0
    for exchange in session.exchanges:
        seconds += exchange.seconds
        if exchange.pressed == "" and exchange is not session.exchanges[-1]:
            seconds += config.line.timeout  # the caller waited the menu out
    if kind == "dial":
        ends, destination = "dial", awaiting.number or ""
    elif kind == "record":
        node = config.nodes.get(_segments(awaiting.url)[-1])
        ends, destination = "record", f"boîte {node.box}" if node and node.box else "boîte"
    elif kind == "keys":
        ends, destination = "info", "renseignements"
    else:
        ends, destination = session.kind or "end", "fin de l'appel"
    label, budgets = ",".join(keys), config.line.budgets
    return PathEffort(",".join(prefix + keys), ends, node_id or "", destination,
                      round(seconds, 1), budgets.get(label, budgets.get("default")),
                      config.language)


def budget_warnings(config: Config, found: list[PathEffort]) -> list[Problem]:
    """One warning per path to a person or a voicemail that takes longer than its budget."""
    where = config.line.budgets_where or config.line.where
    warnings = []
    for effort in found:
        if effort.ends in ("dial", "record") and effort.over:
            node = config.nodes.get(effort.node)
            title = node.title if node is not None else effort.node
            reached = "le signal sonore" if effort.ends == "record" else "la sonnerie"
            english = " en anglais" if effort.language != FIRST_LANGUAGE else ""
            warnings.append(Problem(
                where, f"line.budgets.{effort.budget_keys}",
                f"{effort.keys} ({title}){english} : {effort.seconds:.0f} s de messages avant "
                f"{reached}, au-delà du budget de {effort.budget} s"))
    return warnings
