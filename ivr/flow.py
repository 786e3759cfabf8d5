"""The decision: what a caller hears and where the call goes, from the config, the node, the
keys, the instant and what is known of the caller. Pure: no Flask, no database, no TwiML.

``ivr.voice`` turns a request into a :class:`Turn` call and its :data:`Decision` into TwiML
(``ivr.twiml``); the URLs Twilio will call back come from a :class:`Urls` it provides, so a
decision can be made, and tested, with no request at all. The call's whole state (the menus
behind the caller, the failed tries in this menu, whether the navigation hints were said)
travels in those URLs: any instance can serve any request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ivr.config import Config, Node
from ivr.validate import SHORTCUT_LIST

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Speech:
    """One thing said: synthetic text, or a recorded file (``audio_url``) in its place."""

    text: str
    audio_url: str | None = None


@dataclass(frozen=True)
class Ask:
    """Speak (interruptible by any key), then collect up to ``num_digits`` keys."""

    speech: tuple[Speech, ...]
    action: str
    num_digits: int
    timeout: int


@dataclass(frozen=True)
class Transfer:
    speech: tuple[Speech, ...]
    number: str
    send_digits: str | None
    action: str
    ring_timeout: int


@dataclass(frozen=True)
class Voicemail:
    speech: tuple[Speech, ...]
    action: str
    status_callback: str
    no_message: tuple[Speech, ...]


@dataclass(frozen=True)
class Goodbye:
    speech: tuple[Speech, ...]


@dataclass(frozen=True)
class Acknowledge:
    """An empty answer, for callbacks Twilio sends outside the conversation."""


Decision = Ask | Transfer | Voicemail | Goodbye | Acknowledge


class Urls(Protocol):
    """The webhook URLs a decision points Twilio to (``ivr.voice`` builds them)."""

    def gathered(self, node_id: str, query: Mapping[str, str]) -> str: ...
    def dialled(self, node_id: str, step: int, query: Mapping[str, str]) -> str: ...
    def recorded(self, node_id: str, query: Mapping[str, str]) -> str: ...
    def recording_status(self, node_id: str, query: Mapping[str, str]) -> str: ...
    def shortcut(self, query: Mapping[str, str]) -> str: ...
    def audio(self, filename: str) -> str: ...


# --------------------------------------------------------------------------- the call


DTMF = frozenset("0123456789*#")
MAX_PATH = 24  # deeper than any sane tree; bounds URL length whatever a tampered URL says
MAX_GOTO = 12  # routes chained by goto in one response; bounds a loop a config might hide


@dataclass(frozen=True)
class CallState:
    """Where the caller came from (menus only), how many tries failed in the current one, and
    whether they heard how to navigate (said once per call)."""

    path: tuple[str, ...] = ()
    tries: int = 0
    hinted: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str], config: Config) -> CallState:
        """The state a (possibly tampered) URL query carries, kept within bounds."""
        raw_path = query.get("p", "")[:1024]
        path = tuple(p for p in raw_path.split(".") if p in config.nodes)[-MAX_PATH:]
        try:
            tries = min(max(int(query.get("n", "0")[:2]), 0), config.line.max_tries)
        except ValueError:
            tries = 0
        return cls(path, tries, query.get("h") == "1")

    def query(self) -> dict[str, str]:
        q = {"p": ".".join(self.path), "n": str(self.tries or ""), "h": "1" if self.hinted else ""}
        return {k: v for k, v in q.items() if v}

    def forward(self, node_id: str) -> CallState:
        return CallState((*self.path, node_id)[-MAX_PATH:], 0, self.hinted)

    def back(self) -> CallState:
        return CallState(self.path[:-1], 0, self.hinted)


class Turn:
    """One webhook request's decision: the config and minute it is decided with, and how to
    speak. It reads nothing else of the request, so its result can serve every request that
    asks the same thing (see :class:`Answer`); what is done for this caller (texts) is listed
    in ``texts`` and done by the view."""

    def __init__(self, config: Config, now: datetime, urls: Urls,
                 textable: str = "no") -> None:
        self.config = config
        self.urls = urls
        self._now = now
        # Whether texts are configured and this caller's line takes them: "mobile" (known),
        # "unknown" (the offer says « si vous appelez d'un cellulaire »), "no" (no offer).
        self.textable = textable
        self.clock_read = False
        self.audio: list[Path] = []  # recordings played: the answer holds while they exist
        self.notes: list[dict[str, str | None]] = []
        self.texts: list[tuple[str, str]] = []  # (node id, body) to text the caller

    @property
    def now(self) -> datetime:
        self.clock_read = True
        return self._now

    def note(self, kind: str, node: str | None = None, detail: str | None = None,
             **summary: str | None) -> None:
        """Something for the call journal; written later by the worker, never on the call path."""
        self.notes.append({"kind": kind, "node": node, "detail": detail, **summary})

    # ------------------------------------------------------------------ speech

    def say(self, prompt_id: str, key: str | None = None) -> Speech:
        prompt = self.config.prompts[prompt_id]
        if not prompt.fields:
            # A recorded file deleted since the config was loaded: speak the text instead.
            if prompt.audio:
                recording = self.config.directory / "prompts" / "audio" / prompt.audio
                if recording.is_file():
                    self.audio.append(recording)
                    return Speech(prompt.text, self.urls.audio(prompt.audio))
            return Speech(prompt.text)
        text = prompt.text
        for field in prompt.fields:
            text = text.replace("{" + field + "}", self._field(field, key))
        return Speech(text.replace("{{", "{").replace("}}", "}"))

    def _field(self, field: str, key: str | None) -> str:
        if field == "touche":
            return {"#": "le carré", "*": "l'étoile"}.get(key or "", key or "")
        provider, _, what = field.partition(".")
        schedule = self.config.schedule
        if what == "heures":
            return schedule.hours_text(provider)
        return schedule.reopening_text(provider, self.now)

    def says(self, prompt_ids: tuple[str, ...]) -> tuple[Speech, ...]:
        return tuple(self.say(p) for p in prompt_ids)

    # ------------------------------------------------------------------ nodes

    def enter(self, node_id: str, state: CallState, pre: tuple[Speech, ...] = (),
              depth: int = 0) -> Decision:
        """What the caller hears and does on arriving at ``node_id``."""
        config = self.config
        node = config.nodes.get(node_id)
        if node is None:
            return self.enter(config.line.root, CallState(), (self.say("systeme.menu_disparu"),))
        root = config.line.root
        branch = state.path[1] if len(state.path) > 1 and state.path[0] == root else (
            node_id if state.path[:1] == (root,) else None)
        self.note("enter", node_id, branch=branch, last_node=node_id)
        if node.gathers:
            return self.ask(node, state, pre)
        if node.type == "route":
            return self.route(node, 0, state, pre + self.says(node.prompt), depth)
        if node.type == "voicemail":
            box = config.boxes[node.box or ""]
            greeting = node.prompt or (box.greeting,)
            # The path the caller took, routes included, for the message's record.
            taken = [n["node"] for n in self.notes if n["kind"] == "enter"]
            trail = [*state.path, *(n for n in taken if n and n != node.id)][-MAX_PATH:]
            query = {"p": ".".join(trail)} if trail else {}
            self.note("voicemail", node.id, box.id, destination=f"voicemail:{box.id}")
            return Voicemail(
                speech=pre + self.says(greeting),
                action=self.urls.recorded(node.id, query),
                status_callback=self.urls.recording_status(node.id, query),
                no_message=(self.say("systeme.aucun_message"),),
            )
        return Goodbye(pre + self.says(node.prompt) + (self.say("systeme.au_revoir"),))

    def ask(self, node: Node, state: CallState, pre: tuple[Speech, ...]) -> Ask:
        """A menu or an information: its prompt, its options, then (information) its details,
        the text offer, and once per call how to repeat and go back."""
        speech = list(pre) + list(self.says(node.prompt))
        for key in sorted(node.options):
            option = node.options[key]
            if option.say:
                speech.append(self.say(option.say, key))
        speech += self.says(node.details)
        if node.sms is not None and self.sms_offered():
            offer = "systeme.offre_texto" if self.textable == "mobile" else \
                "systeme.offre_texto_cellulaire"
            speech.append(self.say(offer, node.sms.key))
        if not state.hinted and node.id != self.config.line.root:
            speech.append(self.say("systeme.navigation"))
            state = CallState(state.path, state.tries, True)
        return Ask(
            speech=tuple(speech),
            action=self.urls.gathered(node.id, state.query()),
            num_digits=1,
            timeout=self.config.line.timeout,
        )

    def route(self, node: Node, start: int, state: CallState, pre: tuple[Speech, ...],
              depth: int) -> Decision:
        """Try the route's steps from ``start``: the first open provider is dialled."""
        for index in range(start, len(node.steps)):
            step = node.steps[index]
            if step.kind == "goto":
                if depth >= MAX_GOTO:
                    log.error("route loop at %s", node.id)
                    break
                return self.enter(step.target, state, pre + self.says(step.say), depth + 1)
            provider = self.config.providers[step.target]
            is_open = self.config.schedule.is_open(provider.id, self.now)
            if not is_open and step.closed:
                return self.enter(step.closed, state, pre, depth + 1)
            if provider.phone and is_open:
                self.note("dial", node.id, provider.id, destination=provider.id)
                return Transfer(
                    speech=pre + self.says(step.say),
                    number=provider.phone,
                    # sendDigits: each "w" waits half a second before the next tone
                    send_digits="w" * round(provider.extension_pause * 2) + provider.extension
                    if provider.extension else None,
                    action=self.urls.dialled(node.id, index, state.query()),
                    ring_timeout=provider.ring_timeout,
                )
        return self.enter(self.config.line.fallback, state, pre, depth + 1)

    def after_failure(self, node_id: str | None, path: tuple[str, ...]) -> Decision:
        """A technical failure: apologise, then a person (staff) or a voicemail (others)."""
        line = self.config.line
        target = line.on_error.get(branch_of(self.config, node_id, path) or "", line.fallback)
        self.note("error", node_id)
        return self.enter(target, CallState((line.root,)), (self.say("systeme.erreur"),))

    def fallback(self, node: Node, state: CallState) -> Decision:
        target = node.fallback or self.config.line.fallback
        self.note("fallback", node.id)  # the statistics' "where callers fail"
        return self.enter(target, state, (self.say("systeme.trop_d_essais"),))

    def sms_offered(self) -> bool:
        return self.textable in ("mobile", "unknown")

    # ------------------------------------------------------------------ input

    def key_pressed(self, node: Node, digits: str | None, state: CallState) -> Decision:
        config = self.config
        if digits is None or digits == "":
            if node.type == "info" and node.silence:
                return self.enter(node.silence, state.forward(node.id))
            if node.type == "info":
                return Goodbye((self.say("systeme.au_revoir"),))
            return self.retry(node, state, ())
        key = digits if len(digits) == 1 and digits in DTMF else None
        if key == "#":
            return self.ask(node, state, ())
        if key == "*":
            if node.id == config.line.root:
                return Ask(
                    speech=(self.say("systeme.raccourci"),),
                    # The failed tries go along: "*00" typed again and again still counts.
                    action=self.urls.shortcut(state.query()),
                    num_digits=2,
                    timeout=config.line.shortcut_timeout,
                )
            previous = state.path[-1] if state.path else config.line.root
            return self.enter(previous, state.back())
        if key is not None and key in node.options:
            return self.enter(node.options[key].to, state.forward(node.id))
        if key is not None and node.sms is not None and key == node.sms.key and \
                self.sms_offered():
            # The view texts the caller after the answer.
            self.texts.append((node.id, self.say(node.sms.text).text))
            self.note("sms", node.id, node.sms.text)
            sent = "systeme.texto_envoye" if self.textable == "mobile" else \
                "systeme.texto_envoye_cellulaire"
            return self.ask(node, state, (self.say(sent),))
        return self.retry(node, state, (self.say("systeme.choix_invalide"),))

    def retry(self, node: Node, state: CallState, pre: tuple[Speech, ...]) -> Decision:
        tries = state.tries + 1
        if tries >= self.config.line.max_tries:
            return self.fallback(node, state)
        return self.ask(node, CallState(state.path, tries, state.hinted), pre)

    # ------------------------------------------------------------------ webhooks

    def gathered(self, node_id: str, digits: str | None, state: CallState) -> Decision:
        """The keys (or the silence) of a menu or an information."""
        current = self.config.nodes.get(node_id)
        if current is None or not current.gathers:  # the config changed under this call
            return self.enter("", CallState())
        self.note("key", node_id, digits if digits else "(silence)")
        return self.key_pressed(current, digits, state)

    def shortcut(self, digits: str, state: CallState) -> Decision:
        """The two digits typed after * at the welcome menu (*00: the list of shortcuts)."""
        line = self.config.line
        self.note("key", line.root, f"*{digits}")
        if digits == SHORTCUT_LIST:  # the list, then the two digits of the one they want
            listed = [self.say(line.shortcut_say[code]) for code in sorted(line.shortcut_say)]
            return Ask(speech=(self.say("systeme.raccourcis"), *listed),
                       action=self.urls.shortcut({}), num_digits=2, timeout=line.timeout)
        target = line.shortcuts.get(digits)
        if target is None:
            root = self.config.nodes[line.root]
            said = (self.say("systeme.raccourci_invalide"),) if digits else ()
            return self.retry(root, CallState((), state.tries), said)
        return self.enter(target, CallState((line.root,)))

    def dial_result(self, node_id: str, step: int, status: str, state: CallState) -> Decision:
        """A transfer ended: answered (goodbye), or the route's next step."""
        current = self.config.nodes.get(node_id)
        self.note("dial-result", node_id, status)
        if status == "completed":
            return Goodbye(())
        if current is None or current.type != "route":  # the config changed under this call
            return self.enter("", CallState())
        return self.route(current, step + 1, state, (self.say("systeme.pas_de_reponse"),), 0)


def branch_of(config: Config, node_id: str | None, path: tuple[str, ...]) -> str | None:
    """The welcome-menu choice a caller is under (e.g. "personnel"), from the URL state."""
    root = config.line.root
    trail = [p for p in (*path, node_id) if p and p in config.nodes]
    if trail[:1] == [root]:
        trail = trail[1:]
    return trail[0] if trail else None
