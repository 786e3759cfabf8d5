"""Annonces, fermetures et ouvertures temporaires, et le journal des modifications (issue 17).

What an administrator changes for the day without touching the YAML: an announcement said at
the welcome or when a caller enters a node (« Teams est en panne… »), a team closed or opened
for a few hours. Everything goes through ``ivr.overrides_store`` (validated against the config
served, audited with who, when and from where) and this process serves the change at once; the
other processes and instances within ``IVR_OVERRIDES_SECONDS``. Every entry has an end: the
form asks for one, at most 14 days after the start, and nothing stays on because it was forgotten.

The preview says what the voice will say and for how long, with the line's own code: the SSML
of ``ivr.twiml.spoken_ssml`` with the config's lexicon, counted by ``ivr.speech.heard_seconds``.
"""

from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ivr import clock
from ivr.admin import bp
from ivr.admin.schedules import ChoiceError, node_label, parse_choice
from ivr.admin.tree import build_tree
from ivr.config import Config
from ivr.flow import CLOSING, ENGLISH_LANGUAGE
from ivr.lines import current_config, current_line
from ivr.overrides import (
    CLOSURE,
    CONTINUE,
    HANG_UP,
    LINE,
    MAX_ANNOUNCEMENT,
    OPENING,
)
from ivr.overrides_store import (
    CLI,
    CONSOLE,
    MAX_REASON,
    MAX_TEXT,
    PHONE,
    AnnouncementRow,
    AuditRow,
    ChangeRow,
    InvalidOverride,
    OverrideNotFound,
    OverrideStore,
    for_app,
)
from ivr.schedule import TZ
from ivr.speech import heard_seconds
from ivr.stats import french_datetime
from ivr.twiml import spoken_ssml

log = logging.getLogger(__name__)

DEFAULT_LENGTH = dt.timedelta(hours=2)  # a new entry: from now, for two hours
RECENT = dt.timedelta(days=7)  # ended entries still listed (the journal keeps them all)
AUDIT_LIMIT = 200
MAX_DAYS = MAX_ANNOUNCEMENT.days
# Where a caller may be sent after an announcement: a transfer, a voicemail box, a message.
THEN_TYPES = ("route", "voicemail", "info", "menu")
VIA_LABELS = {CONSOLE: "console", CLI: "ligne de commande", PHONE: "téléphone"}
KIND_LABELS = {CLOSURE: "Fermeture", OPENING: "Ouverture"}
STATE_KEYS = {"en cours": "active", "à venir": "upcoming", "terminée": "ended"}


# --------------------------------------------------------------------------- wording


def _local_field(instant: dt.datetime) -> str:
    """An instant as a datetime-local value: Montréal's wall clock, to the minute."""
    return instant.astimezone(TZ).strftime("%Y-%m-%dT%H:%M")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def scope_choices(config: Config) -> list[tuple[str, str]]:
    """« toute la ligne », then every node of the tree by title, in the tree's order."""
    seen: list[str] = []
    for tree in build_tree(config):
        for item in tree.walk():
            if not item.ref and item.edge != "reserved" and item.node_id not in seen:
                seen.append(item.node_id)
    seen += [n for n in config.nodes if n not in seen]
    choices = [(LINE, "Toute la ligne (dès l'accueil)")]
    for node_id in seen:
        node = config.nodes[node_id]
        suffix = " (menu d'accueil)" if node_id == config.line.root else ""
        choices.append((node_id, f"{node.title}{suffix}"))
    return choices


def then_choices(config: Config) -> list[tuple[str, str]]:
    choices = [(CONTINUE, "Continuer : le menu suit normalement"),
               (HANG_UP, "Raccrocher poliment")]
    for node in sorted(config.nodes.values(), key=lambda n: (THEN_TYPES.index(n.type)
                                                             if n.type in THEN_TYPES else 9,
                                                             n.title.lower())):
        if node.type in THEN_TYPES:
            choices.append((node.id, f"Aller {node_label(config, node.id, to=True)}"))
    return choices


def scope_text(config: Config, scope: str) -> str:
    if scope == LINE:
        return "Toute la ligne"
    node = config.nodes.get(scope)
    return node.title if node is not None else f"« {scope} » (nœud retiré de la configuration)"


def then_text(config: Config, then: str) -> str:
    if then == CONTINUE:
        return "le menu continue"
    if then == HANG_UP:
        return "l'appel se termine poliment"
    return "l'appelant va " + node_label(config, then, to=True)


def provider_name(config: Config, provider_id: str) -> str:
    provider = config.providers.get(provider_id)
    return provider.name if provider is not None else f"« {provider_id} » (équipe retirée)"


def length_text(span: dt.timedelta) -> str:
    """« 2 h », « 1 h 30 », « 3 jours et 4 h »."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} jour{'s' if days > 1 else ''}")
    if hours or minutes or not days:
        parts.append(f"{hours} h {minutes:02d}" if minutes and hours else
                     f"{minutes} min" if minutes else f"{hours} h")
    return " et ".join(parts)


# --------------------------------------------------------------------------- the preview


@dataclass(frozen=True)
class Preview:
    """What the voice says and how long a caller listens, counted like the line counts."""

    text: str
    spoken: str  # the words the voice receives (lexicon, phone numbers digit by digit)
    ssml: str
    seconds: float
    closing: str | None = None  # after an announcement that hangs up
    closing_seconds: float = 0.0

    @property
    def total(self) -> float:
        return self.seconds + self.closing_seconds


def seconds_of(text: str, config: Config) -> tuple[str, float]:
    """The ``<Say>`` body of ``text`` as the line speaks it, and its seconds."""
    ssml = spoken_ssml(text, config.lexicon)
    element = ET.fromstring(f'<Say language="{config.language}">{ssml}</Say>')
    return ssml, heard_seconds(element, config.language)


def preview(config: Config, text: str, then: str = CONTINUE) -> Preview | None:
    text = " ".join(text.split())
    if not text:
        return None
    ssml, seconds = seconds_of(text, config)
    closing, closing_seconds = None, 0.0
    if then == HANG_UP:
        closing = config.prompts[CLOSING].text
        closing_seconds = seconds_of(closing, config)[1]
    return Preview(text, config.lexicon.spoken(text), ssml, seconds, closing, closing_seconds)


def english_config(config: Config) -> Config | None:
    """The line's English configuration (its voice's language, its lexicon, its closing) when
    the line serves English (key 9); None otherwise: the form then has no English field."""
    if len(config.line.languages) < 2 or ENGLISH_LANGUAGE not in config.line.languages:
        return None
    return current_line().configs.get(ENGLISH_LANGUAGE)


def seconds_text(seconds: float) -> str:
    """« 7 secondes », « 1,4 seconde »: a decimal comma, as read here."""
    shown = f"{seconds:.1f}".replace(".", ",").removesuffix(",0")
    return f"{shown} seconde{'s' if seconds >= 2 else ''}"


# --------------------------------------------------------------------------- forms


class FormProblems(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()))


# Which field a problem of the store's speaks of (its French wording starts so).
_STORE_FIELDS = (("le début", "debut"), ("la fin", "fin"), ("une annonce dure", "fin"),
                 ("une fermeture dure", "fin"), ("une ouverture dure", "fin"),
                 ("portée", "portee"), ("ensuite", "ensuite"),
                 ("le texte en anglais", "anglais"), ("le texte", "texte"),
                 ("une annonce a", "texte"), ("l'enregistrement", "texte"),
                 ("équipe", "equipe"), ("type", "type"), ("la raison", "raison"))


def store_errors(exc: InvalidOverride) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in exc.problems:
        name = next((f for prefix, f in _STORE_FIELDS if problem.startswith(prefix)), "_")
        said = _capital(problem.rstrip(".")) + "."
        errors[name] = f"{errors[name]} {said}" if name in errors else said
    return errors


def _instant(raw: str, name: str, label: str, errors: dict[str, str]) -> dt.datetime | None:
    if not raw.strip():
        errors[name] = f"Indiquez {label} (date et heure de Montréal)."
        return None
    try:
        return parse_choice(raw).instant
    except ChoiceError as exc:
        errors[name] = str(exc)
        return None


def _period(form: dict[str, str], errors: dict[str, str], what: str, now: dt.datetime,
            new: bool) -> tuple[dt.datetime | None, dt.datetime | None]:
    starts = _instant(form["debut"], "debut", "le début", errors)
    ends = _instant(form["fin"], "fin", "la fin", errors)
    if starts is None or ends is None:
        return starts, ends
    if ends <= starts:
        errors["fin"] = (f"La fin ({french_datetime(ends)}) doit venir après le début "
                         f"({french_datetime(starts)}).")
    elif ends - starts > MAX_ANNOUNCEMENT:
        errors["fin"] = (f"{_capital(what)} dure au plus {MAX_DAYS} jours : ici "
                         f"{length_text(ends - starts)}. Rien ne doit rester en place parce "
                         "qu'on l'a oublié ; recommencez-en une autre au besoin.")
    elif ends <= now:
        errors["fin"] = (f"La fin ({french_datetime(ends)}) est déjà passée : "
                         f"{what} ne servirait jamais.")
    elif new and starts < now - dt.timedelta(minutes=5):
        errors["debut"] = (f"Le début ({french_datetime(starts)}) est passé : commencez "
                           "maintenant ou plus tard.")
    return starts, ends


@dataclass
class AnnouncementForm:
    """The form's values as typed (strings), its problems by field, and its preview."""

    texte: str = ""
    portee: str = LINE
    debut: str = ""
    fin: str = ""
    ensuite: str = CONTINUE
    audio_url: str | None = None  # kept as it is (set from the command line)
    anglais: str = ""  # for English callers (optional; the field shows when English is on)
    errors: dict[str, str] = field(default_factory=dict)
    preview: Preview | None = None
    preview_en: Preview | None = None  # the English text, in the English voice

    @classmethod
    def blank(cls, now: dt.datetime) -> AnnouncementForm:
        start = now.replace(second=0, microsecond=0)
        return cls(debut=_local_field(start), fin=_local_field(start + DEFAULT_LENGTH))

    @classmethod
    def of(cls, row: AnnouncementRow) -> AnnouncementForm:
        return cls(row.text or "", row.scope, _local_field(row.starts_at),
                   _local_field(row.ends_at), row.then, row.audio_url, row.text_en or "")

    @classmethod
    def read(cls, form: Any, audio_url: str | None = None,
             text_en: str | None = None) -> AnnouncementForm:
        """What was posted; ``text_en`` (the row's) stays when the form had no English field
        (English turned off meanwhile)."""
        def get(name: str, default: str = "") -> str:
            return str(form.get(name, default))[:MAX_TEXT * 2]

        english = get("anglais").strip() if "anglais" in form else (text_en or "")
        return cls(get("texte").strip(), get("portee", LINE).strip(), get("debut").strip(),
                   get("fin").strip(), get("ensuite", CONTINUE).strip(), audio_url, english)

    def previewed(self, config: Config) -> AnnouncementForm:
        """With the preview of what the voice says: the French text and, when the line
        serves English, the English one in the English voice."""
        self.preview = preview(config, self.texte, self.ensuite)
        english = english_config(config)
        self.preview_en = preview(english, self.anglais, self.ensuite) if english else None
        return self

    def values(self, config: Config, now: dt.datetime, new: bool) -> dict[str, Any]:
        """The store's keyword arguments; ``FormProblems`` with each field's French problem."""
        errors: dict[str, str] = {}
        text = " ".join(self.texte.split())
        if not text and not self.audio_url:
            errors["texte"] = "Écrivez ce que la ligne doit dire."
        elif len(text) > MAX_TEXT:
            errors["texte"] = (f"Le texte a {len(text)} caractères ; au plus {MAX_TEXT}. "
                               "Une annonce courte est mieux comprise.")
        english = " ".join(self.anglais.split())
        if english and not text:
            errors["anglais"] = (
                "Le texte en anglais va avec un texte en français : un enregistrement est joué "
                "tel quel à tous les appelants." if self.audio_url else
                "Écrivez aussi le texte en français : le texte en anglais l'accompagne.")
        elif len(english) > MAX_TEXT:
            errors["anglais"] = (f"Le texte en anglais a {len(english)} caractères ; au plus "
                                 f"{MAX_TEXT}.")
        if self.portee != LINE and self.portee not in config.nodes:
            errors["portee"] = (f"Portée inconnue « {self.portee[:60]} » : choisissez « toute "
                                "la ligne » ou un nœud de l'arborescence dans la liste.")
        if self.ensuite not in (CONTINUE, HANG_UP) and self.ensuite not in config.nodes:
            errors["ensuite"] = (f"« {self.ensuite[:60]} » n'est pas dans l'arborescence : "
                                 "choisissez quoi faire après l'annonce dans la liste.")
        elif self.ensuite == self.portee:
            errors["ensuite"] = "L'annonce ne peut pas renvoyer au nœud même où elle est dite."
        starts, ends = _period({"debut": self.debut, "fin": self.fin}, errors, "une annonce",
                               now, new)
        if errors:
            raise FormProblems(errors)
        values = {"scope": self.portee, "starts_at": starts, "ends_at": ends,
                  "text": text or None, "then": self.ensuite, "text_en": english or None}
        if self.audio_url and not text:
            values["audio_url"] = self.audio_url
        else:
            values["audio_url"] = None
        return values


@dataclass
class ChangeForm:
    equipe: str = ""
    type: str = CLOSURE
    raison: str = ""
    debut: str = ""
    fin: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls, now: dt.datetime) -> ChangeForm:
        start = now.replace(second=0, microsecond=0)
        return cls(debut=_local_field(start), fin=_local_field(start + DEFAULT_LENGTH))

    @classmethod
    def read(cls, form: Any) -> ChangeForm:
        def get(name: str, default: str = "") -> str:
            return str(form.get(name, default))[:MAX_REASON * 2].strip()

        return cls(get("equipe"), get("type", CLOSURE), get("raison"), get("debut"),
                   get("fin"))

    def values(self, config: Config, now: dt.datetime) -> dict[str, Any]:
        errors: dict[str, str] = {}
        if self.equipe not in config.providers:
            errors["equipe"] = ("Choisissez l'équipe dans la liste." if not self.equipe else
                                f"Équipe inconnue « {self.equipe[:60]} » : choisissez-la dans "
                                "la liste.")
        if self.type not in (CLOSURE, OPENING):
            errors["type"] = "Choisissez « fermeture » ou « ouverture »."
        reason = " ".join(self.raison.split())
        if not reason:
            errors["raison"] = ("Donnez la raison (ex. « Formation du personnel ») : elle est "
                                "affichée dans la console et le journal.")
        elif len(reason) > MAX_REASON:
            errors["raison"] = f"La raison a {len(reason)} caractères ; au plus {MAX_REASON}."
        what = "une ouverture" if self.type == OPENING else "une fermeture"
        starts, ends = _period({"debut": self.debut, "fin": self.fin}, errors, what, now, True)
        if errors:
            raise FormProblems(errors)
        return {"provider": self.equipe, "kind": self.type, "starts_at": starts,
                "ends_at": ends, "reason": reason}


# --------------------------------------------------------------------------- listings


@dataclass(frozen=True)
class AnnouncementView:
    id: int
    state: str  # « en cours », « à venir », « terminée »
    state_key: str
    scope: str
    text: str | None
    audio: bool
    starts: str
    ends: str
    length: str
    then: str
    then_key: str
    created: str  # « Agente Test, mardi 1er décembre 2026, 10 h »
    updated: str | None
    seconds: str | None
    ends_at: dt.datetime
    text_en: str | None = None  # what English callers hear instead of ``text``
    seconds_en: str | None = None


@dataclass(frozen=True)
class ChangeView:
    id: int
    state: str
    state_key: str
    provider: str
    kind: str
    kind_key: str
    reason: str
    starts: str
    ends: str
    length: str
    created: str
    updated: str | None
    ends_at: dt.datetime


@dataclass(frozen=True)
class AuditView:
    at: str
    who: str
    via: str
    source: str
    action: str
    kind: str
    summary: str


def _by(who: str | None, at: dt.datetime | None) -> str:
    return f"{who or 'inconnu'}, {french_datetime(at)}" if at is not None else (who or "")


def announcement_view(config: Config, row: AnnouncementRow,
                      now: dt.datetime) -> AnnouncementView:
    state = row.state(now)
    said = preview(config, row.text or "")
    english = english_config(config) if row.text_en else None
    said_en = preview(english, row.text_en or "") if english else None
    return AnnouncementView(
        row.id, state, STATE_KEYS.get(state, "ended"), scope_text(config, row.scope), row.text,
        bool(row.audio_url), french_datetime(row.starts_at), french_datetime(row.ends_at),
        length_text(row.ends_at - row.starts_at), then_text(config, row.then), row.then,
        _by(row.created_by, row.created_at),
        _by(row.updated_by, row.updated_at) if row.updated_at else None,
        seconds_text(said.seconds) if said else None, row.ends_at, row.text_en,
        seconds_text(said_en.seconds) if said_en else None)


def change_view(config: Config, row: ChangeRow, now: dt.datetime) -> ChangeView:
    state = row.state(now)
    return ChangeView(
        row.id, state, STATE_KEYS.get(state, "ended"), provider_name(config, row.provider),
        KIND_LABELS.get(row.kind, row.kind), row.kind, row.reason,
        french_datetime(row.starts_at), french_datetime(row.ends_at),
        length_text(row.ends_at - row.starts_at), _by(row.created_by, row.created_at),
        _by(row.updated_by, row.updated_at) if row.updated_at else None, row.ends_at)


def audit_view(row: AuditRow) -> AuditView:
    kind = {"annonce": "Annonce"}.get(row.kind, KIND_LABELS.get(row.kind, row.kind))
    return AuditView(french_datetime(row.at), row.who, VIA_LABELS.get(row.via, row.via),
                     row.source or "", _capital(row.action), kind, row.summary)


def _recent(rows: list[Any], now: dt.datetime) -> list[Any]:
    """Current ones (ending soonest first), then upcoming ones, then those ended in the last
    days (latest first)."""
    kept = [r for r in rows if r.ends_at > now - RECENT]
    current = sorted((r for r in kept if r.active(now)), key=lambda r: r.ends_at)
    upcoming = sorted((r for r in kept if now < r.starts_at), key=lambda r: r.starts_at)
    ended = sorted((r for r in kept if r.ends_at <= now), key=lambda r: r.ends_at,
                   reverse=True)
    return current + upcoming + ended


# --------------------------------------------------------------------------- what the pages share


def overrides_store() -> OverrideStore:
    """The app's store: validated against the config served, "now" by the app's clock
    (``IVR_NOW`` when frozen), and this process's snapshot refreshed after each change."""
    return for_app(current_app._get_current_object())  # type: ignore[attr-defined]


def who() -> str:
    return str(current_user.display_name)


def source() -> str | None:
    return request.remote_addr


# --------------------------------------------------------------------------- the page


def _page(config: Config, *, form: AnnouncementForm | None = None,
          change_form: ChangeForm | None = None, status: int = 200) -> ResponseReturnValue:
    now = clock.now()
    store = overrides_store()
    announcements = [announcement_view(config, r, now)
                     for r in _recent(store.announcements(include_past=True), now)]
    changes = [change_view(config, r, now) for r in _recent(store.changes(include_past=True), now)]
    journal = [audit_view(r) for r in store.audit(limit=AUDIT_LIMIT)]
    page = render_template(
        "admin/annonces.html",
        now_text=french_datetime(now),
        announcements=announcements,
        changes=changes,
        journal=journal,
        audit_limit=AUDIT_LIMIT,
        form=form or AnnouncementForm.blank(now),
        change_form=change_form or ChangeForm.blank(now),
        scopes=scope_choices(config),
        thens=then_choices(config),
        providers=[(p.id, p.name) for p in config.providers.values()],
        max_days=MAX_DAYS,
        recent_days=RECENT.days,
        seconds_text=seconds_text,
        english=english_config(config) is not None,
        editing=None,
    )
    return page, status


@bp.get("/annonces")
def announcements() -> ResponseReturnValue:
    """The day's announcements, closures and openings, a form for each, and the journal."""
    config = current_config()
    form = None
    again = request.args.get("reprendre", "")
    if again.isdigit() and len(again) <= 12:  # a past announcement as the start of a new one
        row = overrides_store().announcement(int(again))
        if row is not None:
            form = AnnouncementForm.blank(clock.now())
            form.texte, form.portee, form.ensuite = row.text or "", row.scope, row.then
            form.anglais = row.text_en or ""
            form.previewed(config)
    return _page(config, form=form)


@bp.post("/annonces")
def announcement_create() -> ResponseReturnValue:
    config = current_config()
    form = AnnouncementForm.read(request.form).previewed(config)
    if request.form.get("action") == "apercu":
        return _page(config, form=form)
    try:
        values = form.values(config, clock.now(), new=True)
        new_id = overrides_store().add_announcement(**values, who=who(), via=CONSOLE,
                                                    source=source())
    except FormProblems as exc:
        form.errors = exc.errors
        return _page(config, form=form, status=400)
    except InvalidOverride as exc:
        form.errors = store_errors(exc)
        return _page(config, form=form, status=400)
    log.warning("console: %r added announcement %d", who(), new_id)
    flash(f"Annonce ajoutée ({scope_text(config, values['scope']).lower()}), du "
          f"{french_datetime(values['starts_at'])} au {french_datetime(values['ends_at'])}. "
          "La ligne la dit dès maintenant à l'heure prévue.")
    return redirect(url_for("admin.announcements", _anchor=f"annonce-{new_id}"))


def _announcement(announcement_id: int) -> AnnouncementRow:
    row = overrides_store().announcement(announcement_id)
    if row is None:
        abort(404)
    return row


def _edit_page(config: Config, row: AnnouncementRow, form: AnnouncementForm,
               status: int = 200) -> ResponseReturnValue:
    now = clock.now()
    page = render_template(
        "admin/annonce.html",
        row=announcement_view(config, row, now),
        form=form,
        scopes=scope_choices(config),
        thens=then_choices(config),
        max_days=MAX_DAYS,
        seconds_text=seconds_text,
        english=english_config(config) is not None,
        now_text=french_datetime(now),
    )
    return page, status


@bp.route("/annonces/<int:announcement_id>", methods=["GET", "POST"])
def announcement_edit(announcement_id: int) -> ResponseReturnValue:
    config = current_config()
    row = _announcement(announcement_id)
    if request.method == "GET":
        form = AnnouncementForm.of(row).previewed(config)
        return _edit_page(config, row, form)
    form = AnnouncementForm.read(request.form, audio_url=row.audio_url,
                                 text_en=row.text_en).previewed(config)
    if request.form.get("action") == "apercu":
        return _edit_page(config, row, form)
    try:
        values = form.values(config, clock.now(), new=False)
        overrides_store().update_announcement(announcement_id, **values, who=who(),
                                              via=CONSOLE, source=source())
    except FormProblems as exc:
        form.errors = exc.errors
        return _edit_page(config, row, form, 400)
    except InvalidOverride as exc:
        form.errors = store_errors(exc)
        return _edit_page(config, row, form, 400)
    except OverrideNotFound:
        abort(404)
    log.warning("console: %r changed announcement %d", who(), announcement_id)
    flash("Annonce modifiée. La ligne sert la nouvelle version dès maintenant.")
    return redirect(url_for("admin.announcements", _anchor=f"annonce-{announcement_id}"))


@bp.post("/annonces/<int:announcement_id>/terminer")
def announcement_end(announcement_id: int) -> ResponseReturnValue:
    row = _announcement(announcement_id)
    upcoming = row.state(clock.now()) == "à venir"
    if overrides_store().end_announcement(announcement_id, who=who(), via=CONSOLE,
                                          source=source()):
        log.warning("console: %r ended announcement %d", who(), announcement_id)
        flash("Annonce annulée : elle ne sera pas dite." if upcoming
              else "Annonce terminée : les appelants ne l'entendent plus.")
    else:
        flash("Cette annonce était déjà terminée.")
    return redirect(url_for("admin.announcements", _anchor=f"annonce-{announcement_id}"))


@bp.route("/annonces/<int:announcement_id>/supprimer", methods=["GET", "POST"])
def announcement_delete(announcement_id: int) -> ResponseReturnValue:
    config = current_config()
    row = _announcement(announcement_id)
    if request.method == "GET":
        view = announcement_view(config, row, clock.now())
        details = [("Portée", view.scope), ("Texte", view.text or "enregistrement"),
                   *([("Texte en anglais", view.text_en)] if view.text_en else []),
                   ("Du", view.starts), ("Au", view.ends), ("Ensuite", view.then),
                   ("Créée par", view.created)]
        return render_template(
            "admin/supprimer.html", what="cette annonce", title="Supprimer une annonce",
            details=details, action=url_for("admin.announcement_delete",
                                            announcement_id=announcement_id),
            back=url_for("admin.announcements", _anchor=f"annonce-{announcement_id}"),
            active=view.state_key == "active",
            end_action=url_for("admin.announcement_end", announcement_id=announcement_id))
    if overrides_store().delete_announcement(announcement_id, who=who(), via=CONSOLE,
                                             source=source()):
        log.warning("console: %r deleted announcement %d", who(), announcement_id)
        flash("Annonce supprimée. Le journal des modifications garde ce qu'elle disait.")
    return redirect(url_for("admin.announcements", _anchor="annonces"))


# --------------------------------------------------------------------------- closures, openings


@bp.post("/annonces/fermetures")
def change_create() -> ResponseReturnValue:
    config = current_config()
    form = ChangeForm.read(request.form)
    try:
        values = form.values(config, clock.now())
        new_id = overrides_store().add_change(**values, who=who(), via=CONSOLE,
                                              source=source())
    except FormProblems as exc:
        form.errors = exc.errors
        return _page(config, change_form=form, status=400)
    except InvalidOverride as exc:
        form.errors = store_errors(exc)
        return _page(config, change_form=form, status=400)
    log.warning("console: %r added a %s of %s (%d)", who(), values["kind"], values["provider"],
                new_id)
    kind = "Fermeture" if values["kind"] == CLOSURE else "Ouverture"
    flash(f"{kind} de {provider_name(config, values['provider'])} ajoutée, du "
          f"{french_datetime(values['starts_at'])} au {french_datetime(values['ends_at'])}. "
          "Elle l'emporte sur les horaires des fichiers pendant cette période.")
    return redirect(url_for("admin.announcements", _anchor=f"changement-{new_id}"))


def _change(change_id: int) -> ChangeRow:
    row = overrides_store().change(change_id)
    if row is None:
        abort(404)
    return row


@bp.post("/annonces/fermetures/<int:change_id>/terminer")
def change_end(change_id: int) -> ResponseReturnValue:
    config = current_config()
    row = _change(change_id)
    upcoming = row.state(clock.now()) == "à venir"
    if overrides_store().end_change(change_id, who=who(), via=CONSOLE, source=source()):
        log.warning("console: %r ended schedule change %d", who(), change_id)
        what = f"{KIND_LABELS.get(row.kind, row.kind)} de {provider_name(config, row.provider)}"
        flash(f"{what} annulée : elle ne s'appliquera pas." if upcoming else
              f"{what} terminée : les horaires des fichiers s'appliquent de nouveau.")
    else:
        flash("Cette fermeture ou ouverture était déjà terminée.")
    return redirect(url_for("admin.announcements", _anchor=f"changement-{change_id}"))


@bp.route("/annonces/fermetures/<int:change_id>/supprimer", methods=["GET", "POST"])
def change_delete(change_id: int) -> ResponseReturnValue:
    config = current_config()
    row = _change(change_id)
    if request.method == "GET":
        view = change_view(config, row, clock.now())
        details = [("Équipe", view.provider), ("Type", view.kind), ("Raison", view.reason),
                   ("Du", view.starts), ("Au", view.ends), ("Créée par", view.created)]
        what = "cette fermeture" if row.kind == CLOSURE else "cette ouverture"
        return render_template(
            "admin/supprimer.html", what=what, title=f"Supprimer {what}", details=details,
            action=url_for("admin.change_delete", change_id=change_id),
            back=url_for("admin.announcements", _anchor=f"changement-{change_id}"),
            active=view.state_key == "active",
            end_action=url_for("admin.change_end", change_id=change_id))
    if overrides_store().delete_change(change_id, who=who(), via=CONSOLE, source=source()):
        log.warning("console: %r deleted schedule change %d", who(), change_id)
        flash(f"{KIND_LABELS.get(row.kind, row.kind)} de {provider_name(config, row.provider)} "
              "supprimée. Le journal des modifications la garde.")
    return redirect(url_for("admin.announcements", _anchor="fermetures"))
