"""Seconds of speech from the welcome to each destination: what a caller listens to, menus heard
in full, before a person rings or the voicemail beeps.

Every path is played through the real app (``ivr.simulator``), so the figure is what the line
says at that instant, hours and pronunciations included, counted by ``ivr.speech`` (words the
voice receives at a fixed rate per language, plus pauses). A caller who waits out a menu's
silence also waits its timeout. ``ivr effort``, ``ivr check`` (budgets in ``menus/ligne.yaml``)
and the console's tree diagram all read these figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Flask

from ivr.config import Config
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
    ends: str  # "dial" | "record" | "hangup" | "end" | "error"
    node: str  # the last node the caller chose in (its title names the path)
    destination: str  # the number rung, the voicemail box, or how the call ended
    seconds: float
    budget: int | None

    @property
    def over(self) -> bool:
        return self.budget is not None and self.seconds > self.budget


def budget_for(config: Config, keys: str) -> int | None:
    budgets = config.line.budgets
    return budgets.get(keys, budgets.get("default"))


def efforts(app: Flask, at: datetime | None = None) -> list[PathEffort]:
    """Every way from the welcome menu to a person, a voicemail or a goodbye, with its seconds
    (played at ``at``, default the app's clock). Paths that only lead back (``*``, ``#``) and
    the failure fallback are left out: no caller takes them to reach someone."""
    config: Config = services(app).line.config
    found: list[PathEffort] = []
    pending: list[tuple[str, ...]] = [()]
    seen_paths: set[tuple[str, ...]] = set()
    while pending:
        keys = pending.pop()
        if keys in seen_paths:
            continue
        seen_paths.add(keys)
        session, node_id = _play(app, keys, at)
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
                found.append(_effort(config, keys, session, node_id))
            if not keys:  # the welcome menu: the staff shortcuts too
                pending.extend(("*" + code,) for code in sorted(config.line.shortcuts,
                                                                reverse=True))
            pending.extend(keys + (key,) for key in reversed(choices))
            continue
        found.append(_effort(config, keys, session, node_id))
    return sorted(found, key=lambda e: _order(e.keys))


def _play(app: Flask, keys: tuple[str, ...], at: datetime | None
          ) -> tuple[CallSession | None, str | None]:
    """The call after ``keys``, stopped at its next wait; and the node it waits in."""
    session = CallSession(CallSimulator(app, caller=CALLER, instant=at,
                                        simulated=True)).start()
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
    if session.awaiting is not None and session.awaiting.kind == "keys":
        return session, _waiting_node(session)
    return session, last_node


def _waiting_node(session: CallSession) -> str | None:
    awaiting = session.awaiting
    if awaiting is None or not awaiting.url:
        return None
    segments = urlsplit(awaiting.url).path.rstrip("/").split("/")
    return segments[-1] if len(segments) >= 2 and segments[-2] == "input" else None


def _nodes_on(session: CallSession) -> set[str]:
    nodes = set()
    for exchange in session.exchanges:
        segments = urlsplit(exchange.url).path.rstrip("/").split("/")
        if len(segments) >= 2 and segments[-2] == "input":
            nodes.add(segments[-1])
    waiting = _waiting_node(session)
    if waiting:
        nodes.add(waiting)
    return nodes


def _effort(config: Config, keys: tuple[str, ...], session: CallSession,
            node_id: str | None) -> PathEffort:
    awaiting = session.awaiting
    seconds = 0.0
    for exchange in session.exchanges:
        seconds += exchange.seconds
        if exchange.pressed == "" and exchange is not session.exchanges[-1]:
            seconds += config.line.timeout  # the caller waited the menu out
    if awaiting is not None and awaiting.kind == "dial":
        ends, destination = "dial", awaiting.number or ""
    elif awaiting is not None and awaiting.kind == "record":
        node = config.nodes.get(_record_node(awaiting.url or ""))
        ends, destination = "record", f"boîte {node.box}" if node and node.box else "boîte"
    elif awaiting is not None and awaiting.kind == "keys":
        ends, destination = "info", "renseignements"
    else:
        ends, destination = session.kind or "end", "fin de l'appel"
    label = ",".join(keys)
    return PathEffort(label, ends, node_id or "", destination, round(seconds, 1),
                      budget_for(config, label))


def _record_node(url: str) -> str:
    segments = urlsplit(url).path.rstrip("/").split("/")
    return segments[-1] if segments else ""


def _order(keys: str) -> tuple[int, str]:
    return (1 if keys.startswith("*") else 0, keys)


def budget_warnings(config: Config, found: list[PathEffort]) -> list[Problem]:
    """One warning per path to a person or a voicemail that takes longer than its budget."""
    where = config.line.budgets_where or config.line.where
    warnings = []
    for effort in found:
        if effort.ends in ("dial", "record") and effort.over:
            node = config.nodes.get(effort.node)
            title = node.title if node is not None else effort.node
            warnings.append(Problem(
                where, f"line.budgets.{effort.keys}",
                f"{effort.keys} ({title}) : {effort.seconds:.0f} s de messages avant "
                f"{_reached(effort)}, au-delà du budget de {effort.budget} s"))
    return warnings


def _reached(effort: PathEffort) -> str:
    return "le signal sonore" if effort.ends == "record" else "la sonnerie"


__all__ = ["PathEffort", "budget_warnings", "efforts"]
