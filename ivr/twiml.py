"""The only place TwiML is built: decisions (what the caller hears and where the call goes) in,
Twilio's VoiceResponse XML out.

Keeping the Twilio vocabulary here means the routing code never thinks about attributes, and
every menu gets the same barge-in, timeout and no-input behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from twilio.twiml.voice_response import Dial, Gather, Say, VoiceResponse

from ivr.flow import Ask, Decision, Goodbye, Recording, Speech, Transfer, Voicemail
from ivr.speech import SLOW_RATE, Lexicon

RECORD_MAX_SECONDS = 180  # spec: voicemail up to 3 minutes
RECORD_SILENCE_SECONDS = 8


class Voice:
    """How ``<Say>`` speaks: one voice for the whole line, and the lexicon's pronunciations as
    SSML (``<sub>`` for a listed word, ``<say-as interpret-as="telephone">`` for a phone number,
    ``<prosody>`` to slow down an address a caller may write down, ``<lang>`` for a French
    name in the English voice)."""

    def __init__(self, voice: str, language: str, lexicon: Lexicon | None = None,
                 others: Mapping[str, tuple[str, str, Lexicon]] | None = None) -> None:
        self.voice = voice
        self.language = language
        self.lexicon = lexicon or Lexicon()
        # The line's other languages (a Speech's ``language``): its voice, the <Say>'s
        # language attribute, its lexicon.
        self.others = dict(others or {})

    def with_lexicons(self, lexicons: Mapping[str, Lexicon]) -> tuple[tuple[str, str, str,
                                                                             Lexicon], ...]:
        """The other languages as ``_render`` takes them, with the config's lexicons."""
        return tuple((lang, name, attribute, lexicons.get(lang, lexicon))
                     for lang, (name, attribute, lexicon) in sorted(self.others.items()))

    def speak(self, parent: VoiceResponse | Gather, speech: tuple[Speech, ...]) -> None:
        """Texts in a row make one ``<Say>``: a menu's options are one sentence to the voice,
        with one intonation, not fragments synthesised apart."""
        texts: list[str] = []
        language: str | None = None
        for item in speech:
            if item.audio_url:
                self._say(parent, texts, language)
                texts = []
                parent.play(item.audio_url)
            elif item.text:
                if item.language != language and texts:
                    self._say(parent, texts, language)
                    texts = []
                language = item.language
                texts.append(item.text)
        self._say(parent, texts, language)

    def _say(self, parent: VoiceResponse | Gather, texts: list[str],
             language: str | None = None) -> None:
        if not texts:
            return
        voice, attribute, lexicon = self.voice, self.language, self.lexicon
        if language is not None and language in self.others:
            voice, attribute, lexicon = self.others[language]
        _add(parent.say(voice=voice, language=attribute), " ".join(texts), lexicon)


def _add(say: Say, text: str, lexicon: Lexicon) -> Say:
    for piece in lexicon.pieces(text):
        if piece.kind == "telephone":
            say.say_as(piece.written, interpret_as="telephone")
        elif piece.kind == "word" and piece.language:
            say.lang(piece.spoken, xml_lang=piece.language)
        elif piece.kind == "word" and piece.slow:
            say.prosody(rate=SLOW_RATE).sub(piece.written, alias=piece.spoken)
        elif piece.kind == "word":
            say.sub(piece.written, alias=piece.spoken)
        else:
            say.append(piece.written)
    return say


def render(decision: Decision, voice: Voice, lexicon: Lexicon | None = None,
           lexicons: Mapping[str, Lexicon] | None = None) -> str:
    """The TwiML document, spoken with ``lexicon`` (the config's; default: the voice's) and,
    for speech in another language, ``lexicons`` (by language); decisions are frozen values,
    so each is built once and reused."""
    return _render(decision, voice.voice, voice.language, lexicon or voice.lexicon,
                   voice.with_lexicons(lexicons or {}) if voice.others else ())


@lru_cache(maxsize=4096)
def _render(decision: Decision, voice_name: str, language: str, lexicon: Lexicon,
            others: tuple[tuple[str, str, str, Lexicon], ...] = ()) -> str:
    voice = Voice(voice_name, language, lexicon,
                  {lang: (name, attribute, lex) for lang, name, attribute, lex in others})
    response = VoiceResponse()
    if isinstance(decision, Ask):
        gather = Gather(input="dtmf", num_digits=decision.num_digits, timeout=decision.timeout,
                        # '#' is a menu key (repeat), a terminator only after a PIN
                        finish_on_key=decision.finish_on_key,
                        action=decision.action, method="POST", action_on_empty_result=True)
        voice.speak(gather, decision.speech)
        response.append(gather)
        # Reached only if a platform ignores actionOnEmptyResult: silence goes to the same place.
        response.redirect(decision.action, method="POST")
    elif isinstance(decision, Transfer):
        voice.speak(response, decision.speech)
        dial = Dial(action=decision.action, method="POST", timeout=decision.ring_timeout,
                    answer_on_bridge=True)
        dial.number(decision.number, send_digits=decision.send_digits or None)
        response.append(dial)
    elif isinstance(decision, Voicemail):
        voice.speak(response, decision.speech)
        response.record(action=decision.action, method="POST", max_length=RECORD_MAX_SECONDS,
                        timeout=RECORD_SILENCE_SECONDS, play_beep=True, finish_on_key="#",
                        trim="trim-silence", recording_status_callback=decision.status_callback,
                        recording_status_callback_method="POST",
                        recording_status_callback_event="completed")
        # Twilio goes on here when nothing was recorded.
        voice.speak(response, decision.no_message)
        response.hangup()
    elif isinstance(decision, Recording):
        voice.speak(response, decision.speech)
        response.record(action=decision.action, method="POST", max_length=decision.max_length,
                        timeout=RECORD_SILENCE_SECONDS, play_beep=True, finish_on_key="#",
                        trim="trim-silence")
        response.redirect(decision.empty, method="POST")  # Twilio goes on here on silence
    elif isinstance(decision, Goodbye):
        voice.speak(response, decision.speech)
        response.hangup()
    return str(response)


def spoken_ssml(text: str, lexicon: Lexicon) -> str:
    """One prompt as the voice receives it: the ``<Say>`` body, SSML included (for
    ``ivr prompts --spoken``)."""
    xml = _add(Say(), text, lexicon).to_xml(xml_declaration=False)
    return xml.removeprefix("<Say>").removesuffix("</Say>") if xml != "<Say />" else ""
