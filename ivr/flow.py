"""The decision: what a caller hears and where the call goes, from the config, the node, the
keys, the instant and what is known of the caller. Pure: no Flask, no database, no TwiML.

``ivr.voice`` turns a request into a :class:`Turn` call and its :data:`Decision` into TwiML
(``ivr.twiml``); the URLs Twilio will call back come from a :class:`Urls` it provides, so a
decision can be made, and tested, with no request at all. The call's whole state (the menus
behind the caller, the failed tries in this menu, whether the navigation hints were said)
travels in those URLs: any instance can serve any request.

The day's :class:`~ivr.overrides.Overrides` (announcements, temporary closures and openings an
administrator set in the console) are a snapshot the view hands the :class:`Turn`: they win
over the YAML's hours, and the announcements a caller heard travel in the URL too (``a=``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ivr import schedule_wording
from ivr.config import (
    ENGLISH_KEY,
    ENGLISH_OFFER,
    FIRST_LANGUAGE,
    PHONE_ID_DIGITS,
    Box,
    Config,
    Node,
    language_code,
)
from ivr.overrides import (
    CLOSURE,
    CONTINUE,
    HANG_UP,
    LINE,
    NONE,
    OPENING,
    Announcement,
    Overrides,
    ScheduleChange,
)
from ivr.schedule import TZ
from ivr.validate import SHORTCUT_LIST

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Speech:
    """One thing said: synthetic text, or a recorded file (``audio_url``) in its place."""

    text: str
    audio_url: str | None = None
    language: str | None = None  # None: the line's first language (fr-CA)


@dataclass(frozen=True)
class Ask:
    """Speak (interruptible by any key), then collect up to ``num_digits`` keys."""

    speech: tuple[Speech, ...]
    action: str
    num_digits: int
    timeout: int
    finish_on_key: str = ""  # "#" ends a code of varying length (the managers' PIN)


@dataclass(frozen=True)
class Recording:
    """Speak, then record after a beep until # or ``max_length`` seconds (the managers'
    announcements, ``ivr.phone_admin``); ``empty``: where the call goes if nothing was said."""

    speech: tuple[Speech, ...]
    action: str
    max_length: int
    empty: str


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


Decision = Ask | Transfer | Voicemail | Recording | Goodbye | Acknowledge


class Urls(Protocol):
    """The webhook URLs a decision points Twilio to (``ivr.voice`` builds them)."""

    def gathered(self, node_id: str, query: Mapping[str, str]) -> str: ...
    def dialled(self, node_id: str, step: int, query: Mapping[str, str]) -> str: ...
    def recorded(self, node_id: str, query: Mapping[str, str]) -> str: ...
    def recording_status(self, node_id: str, query: Mapping[str, str]) -> str: ...
    def shortcut(self, query: Mapping[str, str]) -> str: ...
    def audio(self, filename: str) -> str: ...
    def phone_admin(self) -> str: ...


# --------------------------------------------------------------------------- the call


DTMF = frozenset("0123456789*#")
MAX_PATH = 24  # deeper than any sane tree; bounds URL length whatever a tampered URL says
MAX_GOTO = 12  # routes chained by goto in one response; bounds a loop a config might hide
MAX_PLAYED = 16  # announcements remembered per call; bounds the URL whatever it says
NOTICE = "systeme.avis_enregistrement"  # said before every voicemail beep (Loi 25)
CLOSING = "systeme.annonce_fin"  # after an announcement that ends the call


@dataclass(frozen=True)
class CallState:
    """Where the caller came from (menus only), how many tries failed in the current one,
    whether they heard how to navigate (said once per call), and which announcements they
    heard (their ids, each played once per call)."""

    path: tuple[str, ...] = ()
    tries: int = 0
    hinted: bool = False
    played: tuple[int, ...] = ()

    @classmethod
    def from_query(cls, query: Mapping[str, str], config: Config) -> CallState:
        """The state a (possibly tampered) URL query carries, kept within bounds."""
        raw_path = query.get("p", "")[:1024]
        path = tuple(p for p in raw_path.split(".") if p in config.nodes)[-MAX_PATH:]
        try:
            tries = min(max(int(query.get("n", "0")[:2]), 0), config.line.max_tries)
        except ValueError:
            tries = 0
        played = tuple(int(a) for a in query.get("a", "")[:256].split(".")
                       if a.isascii() and a.isdigit() and len(a) <= 12)
        return cls(path, tries, query.get("h") == "1", played[-MAX_PLAYED:])

    def query(self) -> dict[str, str]:
        q = {"p": ".".join(self.path), "n": str(self.tries or ""), "h": "1" if self.hinted else "",
             "a": ".".join(map(str, self.played))}
        return {k: v for k, v in q.items() if v}

    def forward(self, node_id: str) -> CallState:
        return CallState((*self.path, node_id)[-MAX_PATH:], 0, self.hinted, self.played)

    def back(self) -> CallState:
        return CallState(self.path[:-1], 0, self.hinted, self.played)

    def heard(self, ids: tuple[int, ...]) -> CallState:
        return replace(self, played=(*self.played, *ids)[-MAX_PLAYED:])


class _Speaking:
    """The URLs of a call in another language than the line's first: each carries ``l=``."""

    def __init__(self, urls: Urls, code: str) -> None:
        self.inner, self.code = urls, code

    def _q(self, query: Mapping[str, str]) -> dict[str, str]:
        return {**query, "l": self.code}

    def gathered(self, node_id: str, query: Mapping[str, str]) -> str:
        return self.inner.gathered(node_id, self._q(query))

    def dialled(self, node_id: str, step: int, query: Mapping[str, str]) -> str:
        return self.inner.dialled(node_id, step, self._q(query))

    def recorded(self, node_id: str, query: Mapping[str, str]) -> str:
        return self.inner.recorded(node_id, self._q(query))

    def recording_status(self, node_id: str, query: Mapping[str, str]) -> str:
        return self.inner.recording_status(node_id, self._q(query))

    def shortcut(self, query: Mapping[str, str]) -> str:
        return self.inner.shortcut(self._q(query))

    def audio(self, filename: str) -> str:
        return self.inner.audio(filename)

    def phone_admin(self) -> str:
        return self.inner.phone_admin()  # the managers' menus are in French


class Turn:
    """One webhook request's decision: the config, the overrides snapshot and the minute it is
    decided with, and how to speak. It reads nothing else of the request, so its result can
    serve every request that asks the same thing (see :class:`Answer`); what is done for this
    caller (texts) is listed in ``texts`` and done by the view.

    ``now`` is the minute schedules are read at; ``instant`` (default: ``now``) the exact time
    the overrides are read at, so that an announcement ends on time, not at its minute's end."""

    def __init__(self, config: Config, now: datetime, urls: Urls,
                 textable: str = "no", overrides: Overrides = NONE,
                 instant: datetime | None = None,
                 languages: Mapping[str, Config] | None = None) -> None:
        self.config = config
        # The line's languages (``LineConfig.configs``): the welcome offers English on key 9.
        self.languages = languages or {config.language: config}
        code = language_code(config.language)
        # Speech in another language than the line's first is said by that language's voice,
        # and the call's URLs carry it (``l=en``) from request to request.
        self.language = None if config.language == FIRST_LANGUAGE else config.language
        self.urls: Urls = _Speaking(urls, code) if code else urls
        self.overrides = overrides
        self._now = now
        self._instant = now if instant is None else instant
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

    @property
    def instant(self) -> datetime:
        self.clock_read = True
        return self._instant

    def note(self, kind: str, node: str | None = None, detail: str | None = None,
             **summary: str | None) -> None:
        """Something for the call journal; written later by the worker, never on the call path."""
        self.notes.append({"kind": kind, "node": node, "detail": detail, **summary})

    # ------------------------------------------------------------------ speech

    def say(self, prompt_id: str, key: str | None = None, box: Box | None = None) -> Speech:
        prompt = self.config.prompts[prompt_id]
        if not prompt.fields:
            # A recorded file deleted since the config was loaded: speak the text instead.
            if prompt.audio:
                recording = self.config.directory / "prompts" / "audio" / prompt.audio
                if recording.is_file():
                    self.audio.append(recording)
                    return Speech(prompt.text, self.urls.audio(prompt.audio), self.language)
            return Speech(prompt.text, None, self.language)
        return self._filled(prompt.text, prompt.fields, key, box)

    def _filled(self, text: str, fields: frozenset[str], key: str | None,
                box: Box | None) -> Speech:
        for field in fields:
            value = self._field(field, key, box)
            if value.endswith("."):  # "… at 7 a.m." ending a sentence: one period
                text = text.replace("{" + field + "}.", value)
            text = text.replace("{" + field + "}", value)
        return Speech(text.replace("{{", "{").replace("}}", "}"), None, self.language)

    def _field(self, field: str, key: str | None, box: Box | None = None) -> str:
        if field == "touche":
            names = ENGLISH_KEYS if self.language and self.language.startswith("en") else \
                FRENCH_KEYS
            return names.get(key or "", key or "")
        provider, _, what = field.partition(".")
        if provider == "boite":  # the recording notice: who gets the message, for how long
            if box is None:
                return ""
            if what == "jours":
                return kept_for(box.retention_days, self.config.language)
            return self.config.prompts[box.owner].text
        schedule = self.config.schedule
        if what == "heures":
            return schedule.hours_text(provider, self.config.language)
        return self.reopening(provider)

    def notice(self, box: Box) -> Speech:
        """The sentence before a voicemail's beep: recorded, kept so long, heard by whom."""
        return self.say(NOTICE, box=box)

    def optional(self, prompt_id: str, text: str) -> Speech:
        """A prompt a config may lack (the phone management's, when it is off)."""
        if prompt_id in self.config.prompts:
            return self.say(prompt_id)
        return Speech(text, None, self.language)

    # ------------------------------------------------------------------ schedules

    def _change(self, provider_id: str, at: datetime | None = None) -> ScheduleChange | None:
        """The console's closure or opening of a provider at ``at`` (default: now), if any."""
        changes = self.overrides.changes
        if not any(c.provider == provider_id for c in changes):
            return None  # no clock read: the answer holds across minutes
        return self.overrides.change_at(provider_id, self.instant if at is None else at)

    def is_open(self, provider_id: str) -> bool:
        """Open now: a closure or an opening set in the console wins over the YAML's hours."""
        change = self._change(provider_id)
        if change is not None:
            return change.kind == OPENING
        return self.config.schedule.is_open(provider_id, self.now)

    def reopening(self, provider_id: str) -> str:
        """When the provider next opens, said from now: after a console closure if one holds."""
        schedule, now = self.config.schedule, self.now
        change = self._change(provider_id)
        language = self.config.language
        if change is None or change.kind != CLOSURE:
            return schedule.reopening_text(provider_id, now, language)
        at = change.ends_at
        following = self._change(provider_id, at)
        for _ in range(MAX_GOTO):  # closures set back to back
            if following is None or following.kind != CLOSURE:
                break
            at = following.ends_at
            following = self._change(provider_id, at)
        opening: datetime | None = at
        if following is None and not schedule.is_open(provider_id, at):  # the YAML's hours
            opening = schedule.state(provider_id, at).next_open
        if opening is None:
            return ""
        return schedule_wording.reopening_text(opening.astimezone(TZ), now.astimezone(TZ).date(),
                                               language)

    def says(self, prompt_ids: tuple[str, ...]) -> tuple[Speech, ...]:
        return tuple(self.say(p) for p in prompt_ids)

    # ------------------------------------------------------------------ nodes

    def enter(self, node_id: str, state: CallState, pre: tuple[Speech, ...] = (),
              depth: int = 0) -> Decision:
        """What the caller hears and does on arriving at ``node_id``."""
        config = self.config
        node = config.nodes.get(node_id)
        if node is None:
            return self.enter(config.line.root, CallState(played=state.played),
                              (self.say("systeme.menu_disparu"),))
        root = config.line.root
        branch = state.path[1] if len(state.path) > 1 and state.path[0] == root else (
            node_id if state.path[:1] == (root,) else None)
        if self.language:  # the journal knows a call in another language than the first
            self.note("enter", node_id, branch=branch, last_node=node_id,
                      language=self.language)
        else:
            self.note("enter", node_id, branch=branch, last_node=node_id)
        heard = self.announcements(node_id, state)
        if heard:
            state = state.heard(tuple(a.id for a in heard))
            said = tuple(self.announced(a) for a in heard)
            # The welcome's greeting first, then the announcement, then the menu's options.
            intro = self.says(node.prompt) if node.type == "menu" else ()
            then = heard[-1].then
            if then == HANG_UP:
                return Goodbye(pre + intro + said + (self.say(CLOSING),))
            if then != CONTINUE and then in config.nodes and then != node_id and depth < MAX_GOTO:
                onward = state.forward(node_id) if node.gathers else state
                return self.enter(then, onward, pre + intro + said, depth + 1)
            if node.type == "menu":
                return self.ask(node, state, pre + intro + said, intro_said=True)
            pre += said
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
                # The notice first (Loi 25), then the greeting, which ends on the beep's cue.
                speech=pre + (self.notice(box),) + self.says(greeting),
                action=self.urls.recorded(node.id, query),
                status_callback=self.urls.recording_status(node.id, query),
                no_message=(self.say("systeme.aucun_message"),),
            )
        return Goodbye(pre + self.says(node.prompt) + (self.say("systeme.au_revoir"),))

    def announcements(self, node_id: str, state: CallState) -> tuple[Announcement, ...]:
        """The announcements a caller entering ``node_id`` has not heard yet in this call:
        the line's at the welcome menu, and the node's own."""
        scopes = (LINE, node_id) if node_id == self.config.line.root else (node_id,)
        if not any(a.scope in scopes for a in self.overrides.announcements):
            return ()  # no clock read: the answer holds across minutes
        instant = self.instant
        found = [a for scope in scopes for a in self.overrides.announcements_at(scope, instant)
                 if a.id not in state.played]
        for index, announcement in enumerate(found):  # one that ends the call or leaves the
            if announcement.then != CONTINUE:  # node is the last one heard here
                found = found[:index + 1]
                break
        for announcement in found:
            self.note("announcement", node_id, str(announcement.id))
        return tuple(found)

    def announced(self, announcement: Announcement) -> Speech:
        """A text said with the line's voice and lexicon, or a recording played. An English
        caller hears its English text in the English voice; without one, the French text in
        the French voice."""
        text = " ".join((announcement.text or "").split())
        if announcement.audio_url:
            return Speech(text, announcement.audio_url)
        english = schedule_wording.english(self.language)
        if english and announcement.text_en:
            return Speech(" ".join(announcement.text_en.split()), None, self.language)
        return Speech(text, None, FIRST_LANGUAGE if english else None)

    def ask(self, node: Node, state: CallState, pre: tuple[Speech, ...],
            intro_said: bool = False) -> Ask:
        """A menu or an information: its prompt, its options, then (information) its details,
        the text offer, and once per call how to repeat and go back."""
        speech = list(pre) + ([] if intro_said else list(self.says(node.prompt)))
        for key in sorted(node.options):
            option = node.options[key]
            if option.say:
                speech.append(self.say(option.say, key))
        speech += self.says(node.details)
        if node.id == self.config.line.root and self.offers_english():
            speech.append(self.in_english().say(ENGLISH_OFFER))
        if node.sms is not None and self.sms_offered():
            offer = "systeme.offre_texto" if self.textable == "mobile" else \
                "systeme.offre_texto_cellulaire"
            speech.append(self.say(offer, node.sms.key))
        if not state.hinted and node.id != self.config.line.root:
            speech.append(self.say("systeme.navigation"))
            state = replace(state, hinted=True)
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
            is_open = self.is_open(provider.id)
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

    def offers_english(self) -> bool:
        """At the welcome in the line's first language, whether key 9 switches to English."""
        return self.language is None and ENGLISH_LANGUAGE in self.languages

    def in_english(self) -> Turn:
        """This request's turn in English: its notes, texts, recordings and clock are this
        turn's (one answer, one journal)."""
        english = Turn(self.languages[ENGLISH_LANGUAGE], self._now, self.urls, self.textable,
                       self.overrides, self._instant, self.languages)
        english.notes, english.texts, english.audio = self.notes, self.texts, self.audio
        return english

    def to_english(self, state: CallState) -> Decision:
        """Key 9 at the welcome: the same welcome menu, in English, from the start."""
        english = self.in_english()
        self.note("language", self.config.line.root, ENGLISH_LANGUAGE)
        decision = english.enter(self.config.line.root, CallState(played=state.played))
        self.clock_read = self.clock_read or english.clock_read
        return decision

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
        if key == ENGLISH_KEY and node.id == config.line.root and self.offers_english():
            return self.to_english(state)
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
        return self.ask(node, replace(state, tries=tries), pre)

    # ------------------------------------------------------------------ webhooks

    def gathered(self, node_id: str, digits: str | None, state: CallState) -> Decision:
        """The keys (or the silence) of a menu or an information."""
        current = self.config.nodes.get(node_id)
        if current is None or not current.gathers:  # the config changed under this call
            return self.enter("", CallState(played=state.played))
        self.note("key", node_id, digits if digits else "(silence)")
        return self.key_pressed(current, digits, state)

    def shortcut(self, digits: str, state: CallState) -> Decision:
        """The two digits typed after * at the welcome menu (*00: the list of shortcuts)."""
        line = self.config.line
        self.note("key", line.root, f"*{digits}")
        if digits == SHORTCUT_LIST:  # the list, then the two digits of the one they want
            listed = [self.say(line.shortcut_say[code]) for code in sorted(line.shortcut_say)]
            return Ask(speech=(self.say("systeme.raccourcis"), *listed),
                       action=self.urls.shortcut(CallState(played=state.played).query()),
                       num_digits=2, timeout=line.timeout)
        if digits and digits == line.admin_shortcut:  # the managers' announcements by phone
            return Ask(speech=self.says(("gestion.accueil", "gestion.numero")),
                       action=self.urls.phone_admin(), num_digits=PHONE_ID_DIGITS,
                       timeout=line.timeout)
        target = line.shortcuts.get(digits)
        if target is None:
            root = self.config.nodes[line.root]
            said = (self.say("systeme.raccourci_invalide"),) if digits else ()
            return self.retry(root, CallState((), state.tries, played=state.played), said)
        return self.enter(target, CallState((line.root,), played=state.played))

    def dial_result(self, node_id: str, step: int, status: str, state: CallState) -> Decision:
        """A transfer ended: answered (goodbye), or the route's next step."""
        current = self.config.nodes.get(node_id)
        self.note("dial-result", node_id, status)
        if status == "completed":
            return Goodbye(())
        if current is None or current.type != "route":  # the config changed under this call
            return self.enter("", CallState(played=state.played))
        return self.route(current, step + 1, state, (self.say("systeme.pas_de_reponse"),), 0)


def branch_of(config: Config, node_id: str | None, path: tuple[str, ...]) -> str | None:
    """The welcome-menu choice a caller is under (e.g. "personnel"), from the URL state."""
    root = config.line.root
    trail = [p for p in (*path, node_id) if p and p in config.nodes]
    if trail[:1] == [root]:
        trail = trail[1:]
    return trail[0] if trail else None


ENGLISH_LANGUAGE = "en-CA"
FRENCH_KEYS = {"#": "le carré", "*": "l'étoile"}
ENGLISH_KEYS = {"#": "pound", "*": "star"}  # "press pound", "press star"


def kept_for(days: int, language: str = FIRST_LANGUAGE) -> str:
    """A retention said as a caller hears it: « un jour », « 90 jours », « un an », « 2 ans »
    (in English: "one day", "90 days", "one year", "2 years")."""
    if language.startswith("en"):
        if days % 365 == 0:
            years = days // 365
            return "one year" if years == 1 else f"{years} years"
        return "one day" if days == 1 else f"{days} days"
    if days % 365 == 0:
        years = days // 365
        return "un an" if years == 1 else f"{years} ans"
    return "un jour" if days == 1 else f"{days} jours"
