"""Messagerie vocale: the voicemails by box, their recordings, and who handled them.

Recordings stay at Twilio. The console fetches one with the account's credentials when an
administrator presses play and streams it through, byte ranges included so the player can seek:
neither the Twilio URL nor the token ever reaches a page or a browser. Only a URL on Twilio's
API host (or the configured stand-in) with a recording's path is ever fetched, whatever the
database says.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
import requests
from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from ivr import clock
from ivr.admin import bp
from ivr.config import Config
from ivr.lines import current_config
from ivr.notify import caller_label, twilio_configured
from ivr.schedule import DAY_NAMES, MONTH_NAMES, TZ
from ivr.services import services
from ivr.store import Store, Voicemail

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
# The only path a stored recording URL may have: one recording of one account.
RECORDING_PATH = re.compile(
    r"/2010-04-01/Accounts/AC[0-9a-fA-F]{32}/Recordings/RE[0-9a-fA-F]{32}")
# One byte range, as browsers ask for them (``bytes=0-``, ``bytes=100-199``, ``bytes=-500``).
RANGE = re.compile(r"bytes=(\d{1,15}-\d{0,15}|-\d{1,15})")
# Twilio answers in well under a second; a stuck player is worse than a clear error.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
CHUNK = 64 * 1024
LIST_LIMIT = 500

# ?statut= values → stored status (None: both).
STATUSES: dict[str, str | None] = {"tous": None, "nouveau": "new", "traite": "handled"}
STATUS_LABELS = (("tous", "Nouveaux et traités"), ("nouveau", "Nouveaux seulement"),
                 ("traite", "Traités seulement"))


# ---------------------------------------------------------------------- formatting


def local_when(moment: datetime | None) -> str:
    """An instant as Québec reads it: « mardi 1 décembre 2026, 10 h 05 » (Toronto time)."""
    if moment is None:
        return ""
    local = moment.astimezone(TZ)
    minutes = f" {local.minute:02d}" if local.minute else ""
    return (f"{DAY_NAMES[local.weekday()]} {local.day} {MONTH_NAMES[local.month - 1]} "
            f"{local.year}, {local.hour} h{minutes}")


def local_date(moment: datetime) -> str:
    local = moment.astimezone(TZ)
    return f"{local.day} {MONTH_NAMES[local.month - 1]} {local.year}"


def mm_ss(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def spoken_duration(seconds: int | None) -> str:
    """The duration for screen readers (« 1 minute 5 secondes »)."""
    if seconds is None:
        return "durée inconnue"
    minutes, rest = divmod(seconds, 60)
    parts = []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes > 1 else ''}")
    if rest or not minutes:
        parts.append(f"{rest} seconde{'s' if rest > 1 else ''}")
    return " ".join(parts)


@dataclass(frozen=True)
class Caller:
    label: str
    tel: str | None  # E.164 for a tel: link (call back from a tablet), None when hidden


def format_caller(number: str | None) -> Caller:
    """The caller's number written the Québec way (514 555-0123), or « numéro masqué »."""
    label = caller_label(number)
    if number is None or label == "numéro masqué":
        return Caller("numéro masqué", None)
    try:
        parsed = phonenumbers.parse(number, "CA")
    except phonenumbers.NumberParseException:
        return Caller(number, None)
    if not phonenumbers.is_possible_number(parsed):
        return Caller(number, None)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    national = str(parsed.national_number)
    if parsed.country_code == 1 and len(national) == 10:
        return Caller(f"{national[:3]} {national[3:6]}-{national[6:]}", e164)
    return Caller(phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL), e164)


def path_titles(config: Config, path: str | None) -> list[str]:
    """The menu path (dot-separated node ids) as the titles the team knows the nodes by."""
    return [config.nodes[n].title if n in config.nodes else n
            for n in (path or "").split(".") if n]


def box_name(config: Config, box: str) -> str:
    found = config.boxes.get(box)
    return found.name if found is not None else box


@dataclass
class Row:
    """One voicemail as the pages show it."""

    id: int
    box: str
    box_name: str
    caller: Caller
    received: str
    received_iso: str
    path: list[str]
    duration: str
    duration_iso: str
    duration_spoken: str
    status: str  # new | handled
    handled_by: str | None
    handled_at: str
    has_recording: bool
    deleted_at_twilio: str
    notified_at: str
    deleted_after: str


def row(config: Config, voicemail: Voicemail) -> Row:
    box = config.boxes.get(voicemail.box)
    deleted_after = (local_date(voicemail.received_at + timedelta(days=box.retention_days))
                     if box is not None else "")
    seconds = voicemail.duration
    return Row(
        id=voicemail.id, box=voicemail.box, box_name=box_name(config, voicemail.box),
        caller=format_caller(voicemail.caller), received=local_when(voicemail.received_at),
        received_iso=voicemail.received_at.astimezone(TZ).isoformat(timespec="minutes"),
        path=path_titles(config, voicemail.path), duration=mm_ss(seconds),
        duration_iso=f"PT{seconds}S" if seconds is not None else "",
        duration_spoken=spoken_duration(seconds), status=voicemail.status,
        handled_by=voicemail.handled_by, handled_at=local_when(voicemail.handled_at),
        has_recording=bool(voicemail.recording_url) and voicemail.deleted_at_twilio is None,
        deleted_at_twilio=local_when(voicemail.deleted_at_twilio),
        notified_at=local_when(voicemail.notified_at), deleted_after=deleted_after,
    )


# ---------------------------------------------------------------------- data


def _store() -> Store:
    return services(current_app).store


def _counts(store: Store) -> dict[str, dict[str, int]]:
    """Messages per box and status, over the whole table (the list itself is capped)."""
    with store.session() as session:
        rows = session.execute(select(Voicemail.box, Voicemail.status, func.count())
                               .group_by(Voicemail.box, Voicemail.status)).all()
    counts: dict[str, dict[str, int]] = {}
    for box, status, count in rows:
        counts.setdefault(box, {"new": 0, "handled": 0})[status] = count
    return counts


@dataclass
class Group:
    box: str
    name: str
    new: int
    handled: int
    rows: list[Row] = field(default_factory=list)


# ---------------------------------------------------------------------- pages


@bp.get("/messagerie")
def voicemails() -> str:
    """All voicemails, newest first, in one table per box; filter by box and status."""
    config = current_config()
    store = _store()
    counts = _counts(store)
    boxes = list(config.boxes) + sorted(b for b in counts if b not in config.boxes)
    box = request.args.get("boite", "")
    box = box if box in boxes else ""
    status = request.args.get("statut", "tous")
    status = status if status in STATUSES else "tous"
    found = store.voicemails(box or None, STATUSES[status], limit=LIST_LIMIT)
    groups = {b: Group(b, box_name(config, b), counts.get(b, {}).get("new", 0),
                       counts.get(b, {}).get("handled", 0))
              for b in ([box] if box else boxes)}
    for voicemail in found:
        groups[voicemail.box].rows.append(row(config, voicemail))
    total_new = sum(c["new"] for c in counts.values())
    return render_template(
        "admin/voicemails.html", groups=list(groups.values()), boxes=boxes,
        box_names={b: box_name(config, b) for b in boxes}, counts=counts, box=box,
        status=status, statuses=STATUS_LABELS, shown=len(found), total_new=total_new,
        capped=len(found) >= LIST_LIMIT, limit=LIST_LIMIT, here=request.full_path.rstrip("?"),
        playable=twilio_configured(current_app.config),
    )


@bp.get("/messagerie/<int:voicemail_id>")
def voicemail(voicemail_id: int) -> str | tuple[str, int]:
    """One message: who, when, the path through the menu, the player, and "traité"."""
    config = current_config()
    found = _store().voicemail(voicemail_id)
    if found is None:
        return render_template("admin/voicemail.html", vm=None), 404
    return render_template("admin/voicemail.html", vm=row(config, found),
                           playable=twilio_configured(current_app.config))


def _back(voicemail_id: int) -> str:
    """Where a form asked to go back to: a page of the voicemails, else the message itself."""
    target = request.form.get("retour", "")
    if (target.startswith(url_for("admin.voicemails")) and "//" not in target
            and ".." not in target and "\\" not in target
            and not any(c.isspace() for c in target)):
        return target
    return url_for("admin.voicemail", voicemail_id=voicemail_id)


@bp.post("/messagerie/<int:voicemail_id>/traite")
def voicemail_handled(voicemail_id: int) -> Response | tuple[str, int]:
    # The line's clock (IVR_NOW when frozen for a demo): never handled before it arrived.
    return _change_status(voicemail_id, "handled", current_user.display_name, clock.now())


@bp.post("/messagerie/<int:voicemail_id>/nouveau")
def voicemail_reopen(voicemail_id: int) -> Response | tuple[str, int]:
    return _change_status(voicemail_id, "new", None, None)


def _change_status(voicemail_id: int, status: str, by: str | None,
                   at: datetime | None) -> Response | tuple[str, int]:
    store = _store()
    found = store.voicemail(voicemail_id)
    if found is None:
        return render_template("admin/voicemail.html", vm=None), 404
    caller = format_caller(found.caller).label
    if store.set_status(voicemail_id, status, by, at):
        flash(f"Message de {caller} marqué comme traité." if status == "handled"
              else f"Message de {caller} remis à « nouveau ».")
    elif status == "handled":
        now = store.voicemail(voicemail_id)
        assert now is not None
        flash(f"Ce message de {caller} était déjà traité par {now.handled_by or 'quelqu’un'} "
              f"({local_when(now.handled_at)}).")
    else:
        flash(f"Ce message de {caller} était déjà marqué « nouveau ».")
    return redirect(_back(voicemail_id))


# ---------------------------------------------------------------------- audio


def media_url(recording_url: str | None, settings: Mapping[str, Any]) -> str | None:
    """The MP3 to fetch for a stored recording URL, or None when it is not one of Twilio's.

    Twilio's callbacks give ``https://api.twilio.com/2010-04-01/Accounts/AC…/Recordings/RE…``;
    ``ivr reconcile`` stores the same on the configured API base. With ``TWILIO_API_BASE_URL``
    set (a stand-in for Twilio) the request goes there instead.
    """
    if not recording_url:
        return None
    parts = urlsplit(recording_url.strip())
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    base = (settings.get("TWILIO_API_BASE_URL") or "").rstrip("/")
    origins = [TWILIO_API, *([base] if base else [])]
    path = None
    for origin in origins:
        allowed = urlsplit(origin)
        prefix = allowed.path.rstrip("/")
        if ((parts.scheme, parts.netloc.lower()) == (allowed.scheme, allowed.netloc.lower())
                and parts.path.startswith(prefix + "/")):
            path = parts.path[len(prefix):]
            break
    if path is None:
        return None
    path = re.sub(r"\.(json|mp3|wav)$", "", path)
    if not RECORDING_PATH.fullmatch(path):
        return None
    return f"{base or TWILIO_API}{path}.mp3"


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


@bp.get("/messagerie/<int:voicemail_id>/audio")
def voicemail_audio(voicemail_id: int) -> Response:
    """The recording, fetched from Twilio with the account's credentials and streamed through."""
    found = _store().voicemail(voicemail_id)
    if found is None or not found.recording_url or found.deleted_at_twilio is not None:
        return _text("Aucun enregistrement pour ce message.", 404)
    settings = current_app.config
    if not twilio_configured(settings):
        return _text("L'écoute des messages n'est pas configurée (compte Twilio manquant).", 503)
    url = media_url(found.recording_url, settings)
    if url is None:
        log.warning("voicemail %d: recording URL is not Twilio's; not fetched", voicemail_id)
        return _text("L'adresse de cet enregistrement n'est pas celle de Twilio : "
                     "il n'est pas lu.", 404)
    headers = {"Accept": "audio/mpeg", "Accept-Encoding": "identity"}
    wanted = request.headers.get("Range", "").strip()
    if RANGE.fullmatch(wanted):
        headers["Range"] = wanted
    session = requests.Session()
    session.max_redirects = 3
    try:
        upstream = session.get(url, headers=headers, stream=True,
                               auth=(settings["TWILIO_ACCOUNT_SID"],
                                     settings["TWILIO_AUTH_TOKEN"]),
                               timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    except requests.RequestException as exc:
        session.close()
        log.warning("voicemail %d: Twilio unreachable (%s)", voicemail_id, type(exc).__name__)
        return _text("Twilio ne répond pas : l'enregistrement ne peut pas être écouté pour "
                     "l'instant. Réessayez dans quelques minutes.", 502)

    def close() -> None:
        upstream.close()
        session.close()

    if upstream.status_code == 404:
        close()
        return _text("Twilio n'a plus cet enregistrement (il a peut-être été effacé).", 404)
    if upstream.status_code == 416:
        close()
        response = _text("Cette partie de l'enregistrement n'existe pas.", 416)
        if upstream.headers.get("Content-Range"):
            response.headers["Content-Range"] = upstream.headers["Content-Range"]
        return response
    if upstream.status_code not in (200, 206):
        close()
        log.warning("voicemail %d: Twilio answered %d", voicemail_id, upstream.status_code)
        return _text(f"Twilio a refusé de fournir l'enregistrement (erreur "
                     f"{upstream.status_code}). Réessayez plus tard ou avisez le soutien "
                     "technique.", 502)

    def chunks() -> Iterator[bytes]:
        try:
            yield from upstream.iter_content(CHUNK)
        except requests.RequestException as exc:  # cut mid-stream: the player shows an error
            log.warning("voicemail %d: recording stream cut (%s)", voicemail_id,
                        type(exc).__name__)
        finally:  # also on_close below: a response never iterated (HEAD) closes there
            close()

    response = Response(chunks(), status=upstream.status_code, mimetype="audio/mpeg",
                        direct_passthrough=True)
    for name in ("Content-Length", "Content-Range", "Accept-Ranges"):
        if upstream.headers.get(name):
            response.headers[name] = upstream.headers[name]
    response.headers["Cache-Control"] = "private, no-store"
    if request.args.get("telecharger"):
        day = found.received_at.astimezone(TZ).strftime("%Y-%m-%d-%Hh%M")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="message-vocal-{voicemail_id}-{day}.mp3"')
    response.call_on_close(close)
    return response

