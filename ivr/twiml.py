"""The only place TwiML is built: decisions (what the caller hears and where the call goes) in,
Twilio's VoiceResponse XML out.

Keeping the Twilio vocabulary here means the routing code never thinks about attributes, and
every menu gets the same barge-in, timeout and no-input behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

RECORD_MAX_SECONDS = 180  # spec: voicemail up to 3 minutes
RECORD_SILENCE_SECONDS = 8
MAX_TWIML_BYTES = 64 * 1024  # Twilio's reported cap on a TwiML document


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


class Voice:
    """How ``<Say>`` speaks: one fr-CA voice for the whole line."""

    def __init__(self, voice: str, language: str) -> None:
        self.voice = voice
        self.language = language

    def speak(self, parent: VoiceResponse | Gather, speech: tuple[Speech, ...]) -> None:
        for item in speech:
            if item.audio_url:
                parent.play(item.audio_url)
            elif item.text:
                parent.say(item.text, voice=self.voice, language=self.language)


def render(decision: Decision, voice: Voice) -> str:
    """The TwiML document; decisions are frozen values, so each is built once and reused."""
    return _render(decision, voice.voice, voice.language)


@lru_cache(maxsize=4096)
def _render(decision: Decision, voice_name: str, language: str) -> str:
    voice = Voice(voice_name, language)
    response = VoiceResponse()
    if isinstance(decision, Ask):
        gather = Gather(
            input="dtmf",
            num_digits=decision.num_digits,
            timeout=decision.timeout,
            finish_on_key="",  # '#' is a menu key (repeat), never a terminator
            action=decision.action,
            method="POST",
            action_on_empty_result=True,
        )
        voice.speak(gather, decision.speech)
        response.append(gather)
        # Reached only if a platform ignores actionOnEmptyResult: silence goes to the same place.
        response.redirect(decision.action, method="POST")
    elif isinstance(decision, Transfer):
        voice.speak(response, decision.speech)
        dial = Dial(
            action=decision.action,
            method="POST",
            timeout=decision.ring_timeout,
            answer_on_bridge=True,
        )
        if decision.send_digits:
            dial.number(decision.number, send_digits=decision.send_digits)
        else:
            dial.number(decision.number)
        response.append(dial)
    elif isinstance(decision, Voicemail):
        voice.speak(response, decision.speech)
        response.record(
            action=decision.action,
            method="POST",
            max_length=RECORD_MAX_SECONDS,
            timeout=RECORD_SILENCE_SECONDS,
            play_beep=True,
            finish_on_key="#",
            trim="trim-silence",
            recording_status_callback=decision.status_callback,
            recording_status_callback_method="POST",
            recording_status_callback_event="completed",
        )
        # Twilio goes on here when nothing was recorded.
        voice.speak(response, decision.no_message)
        response.hangup()
    elif isinstance(decision, Goodbye):
        voice.speak(response, decision.speech)
        response.hangup()
    return str(response)


def dtmf_wait(seconds: float) -> str:
    """``sendDigits`` pause: each 'w' waits half a second before the next tone."""
    return "w" * round(seconds * 2)
