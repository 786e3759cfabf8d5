"""Messagerie vocale: the list by box and status, a message's page, "traité", and the audio proxy.

The recording is fetched from the fake Twilio (tests/fake_twilio.py) with the account's
credentials and streamed through the app; no page ever shows Twilio's URL or the token.
"""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser

import pytest
from console import PASSWORD, create_user, csrf_token
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN

from ivr.admin.voicemails import format_caller, local_when, media_url, mm_ss
from ivr.services import services
from ivr.store import Voicemail

LIST = "/admin/messagerie"
TWILIO = "https://api.twilio.com"


def sid(n: int, prefix: str = "RE") -> str:
    return f"{prefix}{n:032x}"


def recording_url(n: int, origin: str = TWILIO) -> str:
    return f"{origin}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid(n)}"


def seed(app, n: int, *, at: str, box: str = "telesante", caller: str | None = "+15145550123",
         path: str | None = "accueil.personnel.vm_telesante", duration: int | None = 65,
         url: str | None = "default") -> Voicemail:
    """A voicemail as the webhooks store it (``url="default"``: a Twilio recording URL)."""
    voicemail, _ = services(app).store.save_voicemail(
        recording_sid=sid(n), call_sid=sid(n, "CA"), box=box, node="vm_telesante",
        caller=caller, path=path, received_at=datetime.fromisoformat(at),
        recording_url=recording_url(n) if url == "default" else url, duration=duration)
    return voicemail


@pytest.fixture
def app(make_app, twilio):
    """The console's app, with the REST API (and the recordings) at the fake Twilio."""
    return make_app(**twilio.settings())


def log_in(app):
    """A logged-in client (landing on the messagerie, whatever other pages exist yet)."""
    create_user(app)
    client = app.test_client()
    response = client.post(f"/admin/connexion?next={LIST}", data={
        "username": "admin", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == LIST
    return client


@pytest.fixture
def admin(app):
    return log_in(app)


@pytest.fixture
def three(app):
    """Two messages in the team's box (one already handled), one in a box the config lost."""
    newest = seed(app, 1, at="2026-12-01T09:05:00-05:00")
    handled = seed(app, 2, at="2026-11-30T16:30:00-05:00", caller="anonymous",
                   path="accueil.patient.vm_telesante", duration=7)
    old = seed(app, 3, at="2026-11-29T08:00:00-05:00", box="ancienne", caller="+33142685300",
               path=None, duration=None, url=None)
    with app.app_context():
        services(app).store.mark_handled(handled.id, "Marie Tremblay")
    return newest, handled, old


# ---------------------------------------------------------------------- HTML readers


class ListPage(HTMLParser):
    """Rows of the list: box section → voicemail ids in order; id → text of each cell."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.sections: dict[str, list[int]] = {}
        self.cells: dict[int, dict[str, str]] = {}
        self.paths: dict[int, list[str]] = {}
        self._box: str | None = None
        self._row: int | None = None
        self._cell: str | None = None
        self._li: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and "vm-box" in (a.get("class") or ""):
            self._box = (a["aria-labelledby"] or "").removeprefix("boite-")
            self.sections[self._box] = []
        elif tag == "tr" and a.get("data-voicemail"):
            self._row = int(a["data-voicemail"] or 0)
            assert self._box is not None
            self.sections[self._box].append(self._row)
            self.cells[self._row], self.paths[self._row] = {}, []
        elif tag in ("td", "th") and self._row is not None and a.get("data-label"):
            self._cell = a["data-label"]
            self.cells[self._row][self._cell] = ""
        elif tag == "li" and self._row is not None:
            self._li = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "li" and self._li is not None and self._row is not None:
            self.paths[self._row].append("".join(self._li).strip())
            self._li = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            self.cells[self._row][self._cell] += data
        if self._li is not None:
            self._li.append(data)

    def text(self, voicemail_id: int, label: str) -> str:
        return " ".join(self.cells[voicemail_id][label].split())


class Facts(HTMLParser):
    """The detail page's <dl>: term → description text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.facts: dict[str, str] = {}
        self._term: str | None = None
        self._in: str | None = None
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("dt", "dd"):
            self._in, self._text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "dt" and self._in == "dt":
            self._term = " ".join("".join(self._text).split())
        elif tag == "dd" and self._in == "dd" and self._term:
            self.facts[self._term] = " ".join("".join(self._text).split())
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)


def flashes(html: str) -> list[str]:
    return [" ".join(m.split()) for m in re.findall(r'<p class="flash"[^>]*>(.*?)</p>', html,
                                                    re.S)]


def form_token(client, url: str) -> str:
    return csrf_token(client, url)


# ---------------------------------------------------------------------- pure helpers


def test_formatting_helpers():
    assert format_caller("+15145550123").label == "514 555-0123"
    assert format_caller("+15145550123").tel == "+15145550123"
    assert format_caller("anonymous").label == "numéro masqué"
    assert format_caller(None).tel is None
    assert format_caller("+33142685300").label == "+33 1 42 68 53 00"
    assert mm_ss(65) == "01:05" and mm_ss(7) == "00:07" and mm_ss(None) == "—"
    assert local_when(datetime.fromisoformat("2026-12-01T15:05:00+00:00")) == \
        "mardi 1 décembre 2026, 10 h 05"
    assert local_when(datetime.fromisoformat("2026-07-04T16:00:00+00:00")) == \
        "samedi 4 juillet 2026, 12 h"  # EDT in summer


def test_media_url_only_ever_points_at_twilio():
    base = "http://127.0.0.1:8123"
    settings = {"TWILIO_API_BASE_URL": base}
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid(5)}"
    # A callback's URL is rewritten to the configured API; reconcile's (on the base) kept.
    assert media_url(TWILIO + path, settings) == f"{base}{path}.mp3"
    assert media_url(base + path, settings) == f"{base}{path}.mp3"
    assert media_url(TWILIO + path + ".json", {}) == f"{TWILIO}{path}.mp3"
    for bad in (f"https://evil.example{path}", f"http://api.twilio.com{path}",
                f"https://api.twilio.com.evil.example{path}", f"{TWILIO}{path}?x=1",
                f"https://user:pw@api.twilio.com{path}", f"{TWILIO}/2010-04-01/Accounts/"
                f"{ACCOUNT_SID}/Calls/{sid(5, 'CA')}", f"{TWILIO}{path}/../../Messages",
                f"{base}{path}", "", None):
        assert media_url(bad, {}) is None, bad
    assert media_url(f"http://127.0.0.1:9999{path}", settings) is None


# ---------------------------------------------------------------------- the list


def test_list_newest_first_by_box_with_caller_time_path_duration_status(admin, three):
    newest, handled, old = three
    page = admin.get(LIST)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rows = ListPage(html)
    # Every box of the config has its section, even the patients' box with no message yet.
    assert rows.sections == {"telesante": [newest.id, handled.id], "patients": [],
                             "ancienne": [old.id]}
    assert rows.text(newest.id, "Reçu le") == "mardi 1 décembre 2026, 9 h 05"
    assert rows.text(newest.id, "Appelant") == "514 555-0123"
    assert rows.paths[newest.id] == ["Accueil", "Intervenant, médecin ou agente administrative",
                                     "Boîte vocale de l'équipe télésanté"]
    assert rows.text(newest.id, "Durée") == "01:05"
    assert rows.text(newest.id, "Statut").startswith("Nouveau")
    assert rows.text(handled.id, "Reçu le") == "lundi 30 novembre 2026, 16 h 30"
    assert rows.text(handled.id, "Appelant") == "numéro masqué"
    assert rows.paths[handled.id] == ["Accueil", "Patient ou proche aidant",
                                      "Boîte vocale de l'équipe télésanté"]
    assert rows.text(handled.id, "Durée") == "00:07"
    assert rows.text(handled.id, "Statut").startswith("Traité par Marie Tremblay")
    assert rows.text(old.id, "Appelant") == "+33 1 42 68 53 00"
    assert rows.text(old.id, "Parcours") == "accès direct"
    assert rows.text(old.id, "Durée") == "—"
    assert "Enregistrement en attente" in rows.text(old.id, "Écoute")
    # Box headings name the box (the config's name, or the id of a box it no longer has).
    assert re.search(r'<h2 id="boite-telesante">Équipe télésanté\s*<span class="badge new">'
                     r'1 nouveau</span>\s*<span class="badge open">1 traité</span>', html)
    assert '<h2 id="boite-ancienne">ancienne' in html
    assert re.search(r'<h2 id="boite-patients">Messages des patients pour leur service\s*'
                     r'<span class="badge new">0 nouveau</span>', html)
    assert "<strong>2 nouveaux messages</strong> à traiter" in html
    # A player per recording, through the app; a "traité" button only on new ones.
    assert f'src="/admin/messagerie/{newest.id}/audio"' in html
    assert f'src="/admin/messagerie/{old.id}/audio"' not in html
    assert f'action="/admin/messagerie/{newest.id}/traite"' in html
    assert f'action="/admin/messagerie/{handled.id}/traite"' not in html


FILTERS = [
    ("?boite=ancienne", {"ancienne": [3]}),
    ("?boite=telesante", {"telesante": [1, 2]}),
    ("?boite=patients", {"patients": []}),
    ("?statut=nouveau", {"telesante": [1], "patients": [], "ancienne": [3]}),
    ("?statut=traite", {"telesante": [2], "patients": [], "ancienne": []}),
    ("?boite=telesante&statut=nouveau", {"telesante": [1]}),
    ("?statut=tous", {"telesante": [1, 2], "patients": [], "ancienne": [3]}),
    ("", {"telesante": [1, 2], "patients": [], "ancienne": [3]}),
    ("?boite=inexistante&statut=n'importe", {"telesante": [1, 2], "patients": [],
                                              "ancienne": [3]}),
]


def test_filters_by_box_and_status(admin, three):
    ids = {n: v.id for n, v in zip((1, 2, 3), three, strict=True)}
    for query, expected in FILTERS:
        html = admin.get(LIST + query).get_data(as_text=True)
        assert ListPage(html).sections == {box: [ids[n] for n in numbers]
                                           for box, numbers in expected.items()}, query


def test_filter_form_keeps_the_choice(admin, three):
    html = admin.get(LIST + "?boite=telesante&statut=traite").get_data(as_text=True)
    assert '<option value="telesante" selected>Équipe télésanté (1 nouveau)</option>' in html
    assert '<option value="traite" selected>Traités seulement</option>' in html
    assert "Aucun message traité" not in html
    html = admin.get(LIST + "?boite=ancienne&statut=traite").get_data(as_text=True)
    assert "Aucun message traité dans cette boîte." in html


def test_list_needs_a_session(app, three):
    response = app.test_client().get(LIST)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/connexion")


# ---------------------------------------------------------------------- a message


def test_detail_page(admin, three):
    newest, _, _ = three
    html = admin.get(f"{LIST}/{newest.id}").get_data(as_text=True)
    facts = Facts(html).facts
    assert facts["Boîte vocale"] == "Équipe télésanté"
    assert facts["Appelant"] == "514 555-0123"
    assert facts["Reçu le"] == "mardi 1 décembre 2026, 9 h 05"
    assert facts["Durée"] == "01:05"
    assert facts["Parcours dans le menu"] == ("AccueilIntervenant, médecin ou agente "
                                             "administrativeBoîte vocale de l'équipe télésanté")
    assert facts["Statut"] == "Nouveau : personne ne l'a encore traité"
    assert facts["Conservation"] == "Effacé automatiquement vers le 1 mars 2027 (Loi 25)"
    assert '<a href="tel:+15145550123">514 555-0123</a>' in html
    audio = re.search(r"<audio [^>]*>", html)
    assert audio and f'src="/admin/messagerie/{newest.id}/audio"' in audio.group(0)
    assert 'preload="none"' in audio.group(0) and "controls" in audio.group(0)
    assert f'href="/admin/messagerie/{newest.id}/audio?telecharger=1" download' in html
    form = re.search(rf'<form method="post" action="/admin/messagerie/{newest.id}/traite">'
                     r'(.*?)</form>', html, re.S)
    assert form and 'name="csrf_token"' in form.group(1)
    assert "Marquer comme traité" in form.group(1)


def test_unknown_message_is_404_in_french(admin):
    response = admin.get(f"{LIST}/999")
    assert response.status_code == 404
    assert "Message introuvable" in response.get_data(as_text=True)


def test_message_without_recording_says_it_is_coming(admin, three):
    _, _, old = three
    html = admin.get(f"{LIST}/{old.id}").get_data(as_text=True)
    assert "<audio" not in html
    assert "L'enregistrement n'est pas encore arrivé de Twilio" in html
    assert Facts(html).facts["Boîte vocale"] == "ancienne"


# ---------------------------------------------------------------------- traité


def test_mark_handled_then_reopen(app, admin, three):
    newest, _, _ = three
    store = services(app).store
    page = f"{LIST}/{newest.id}"
    response = admin.post(f"{page}/traite", data={"csrf_token": form_token(admin, page)})
    assert response.status_code == 302 and response.headers["Location"] == page
    html = admin.get(page).get_data(as_text=True)
    assert flashes(html) == ["Message de 514 555-0123 marqué comme traité."]
    # Who and when: the account's display name, at the line's clock (frozen at 10:00).
    assert Facts(html).facts["Statut"] == \
        "Traité par Agente Test, le mardi 1 décembre 2026, 10 h"
    saved = store.voicemail(newest.id)
    assert (saved.status, saved.handled_by) == ("handled", "Agente Test")
    assert saved.handled_at == datetime.fromisoformat("2026-12-01T10:00:00-05:00")
    assert newest.id not in ListPage(admin.get(LIST + "?statut=nouveau")
                                     .get_data(as_text=True)).cells
    # Twice: nothing changes, and it says who did it.
    admin.post(f"{page}/traite", data={"csrf_token": form_token(admin, page)})
    assert flashes(admin.get(page).get_data(as_text=True)) == [
        "Ce message de 514 555-0123 était déjà traité par Agente Test "
        "(mardi 1 décembre 2026, 10 h)."]
    # Back to "nouveau": the button is there, and the who/when are cleared.
    html = admin.get(page).get_data(as_text=True)
    assert f'action="/admin/messagerie/{newest.id}/nouveau"' in html
    response = admin.post(f"{page}/nouveau", data={"csrf_token": form_token(admin, page)})
    assert response.status_code == 302
    html = admin.get(page).get_data(as_text=True)
    assert flashes(html) == ["Message de 514 555-0123 remis à « nouveau »."]
    assert Facts(html).facts["Statut"] == "Nouveau : personne ne l'a encore traité"
    saved = store.voicemail(newest.id)
    assert (saved.status, saved.handled_by, saved.handled_at) == ("new", None, None)


def test_mark_handled_from_the_list_returns_to_the_filtered_list(admin, three):
    newest, _, _ = three
    here = LIST + "?boite=telesante&statut=nouveau"
    html = admin.get(here).get_data(as_text=True)
    assert f'name="retour" value="{here.replace("&", "&amp;")}"' in html
    response = admin.post(f"{LIST}/{newest.id}/traite",
                          data={"csrf_token": form_token(admin, here), "retour": here})
    assert response.headers["Location"] == here
    html = admin.get(here).get_data(as_text=True)
    assert ListPage(html).sections == {"telesante": []}
    assert "Aucun nouveau message dans cette boîte." in html


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/admin/messagerie",
                                       "/admin/messagerie/../../voice", "/voice/incoming"])
def test_handled_never_redirects_off_the_messagerie(admin, three, elsewhere):
    newest, _, _ = three
    response = admin.post(f"{LIST}/{newest.id}/traite",
                          data={"csrf_token": form_token(admin, LIST), "retour": elsewhere})
    assert response.headers["Location"] == f"{LIST}/{newest.id}"


def test_post_without_csrf_token_is_refused(app, admin, three):
    newest, _, _ = three
    for action in ("traite", "nouveau"):
        response = admin.post(f"{LIST}/{newest.id}/{action}", data={})
        assert response.status_code == 400, action
        response = admin.post(f"{LIST}/{newest.id}/{action}", data={"csrf_token": "forged"})
        assert response.status_code == 400, action
    assert services(app).store.voicemail(newest.id).status == "new"


def test_handled_unknown_message_is_404(admin):
    assert admin.post(f"{LIST}/999/traite",
                      data={"csrf_token": form_token(admin, LIST)}).status_code == 404


# ---------------------------------------------------------------------- the recording


def test_audio_is_streamed_from_twilio_with_the_account_credentials(admin, twilio, three):
    newest, _, _ = three
    data = twilio.add_media(sid(1))
    response = admin.get(f"{LIST}/{newest.id}/audio")
    assert response.status_code == 200
    assert response.mimetype == "audio/mpeg"
    assert response.data == data and len(data) > 100_000  # several chunks
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert "no-store" in response.headers["Cache-Control"]
    fetched = twilio.seen("GET", ".mp3")
    assert len(fetched) == 1
    assert fetched[0].path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid(1)}.mp3"
    assert fetched[0].auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert "Content-Disposition" not in response.headers
    download = admin.get(f"{LIST}/{newest.id}/audio?telecharger=1")
    assert download.data == data
    assert download.headers["Content-Disposition"] == \
        f'attachment; filename="message-vocal-{newest.id}-2026-12-01-09h05.mp3"'


def test_no_page_shows_twilio_url_or_credentials(admin, twilio, three):
    pages = [LIST, LIST + "?statut=traite", *(f"{LIST}/{v.id}" for v in three)]
    for url in pages:
        html = admin.get(url).get_data(as_text=True)
        for secret in ("twilio.com", twilio.base_url, str(twilio.port), ACCOUNT_SID,
                       AUTH_TOKEN, sid(1), sid(2)):
            assert secret not in html, (url, secret)
    assert "<audio" in admin.get(f"{LIST}/{three[0].id}").get_data(as_text=True)


def test_range_request_gives_206_for_seeking(admin, twilio, three):
    newest, _, _ = three
    data = twilio.add_media(sid(1))
    response = admin.get(f"{LIST}/{newest.id}/audio", headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.data == data[1000:2000]
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert response.headers["Content-Length"] == "1000"
    assert twilio.seen("GET", ".mp3")[-1].headers.get("Range") == "bytes=1000-1999"
    tail = admin.get(f"{LIST}/{newest.id}/audio", headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.data) == (206, data[-10:])
    beyond = admin.get(f"{LIST}/{newest.id}/audio",
                       headers={"Range": f"bytes={len(data) + 5}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    # Anything but one byte range is not passed on: the whole file comes back.
    for odd in ("bytes=0-1,5-9", "items=0-5", "bytes=abc"):
        whole = admin.get(f"{LIST}/{newest.id}/audio", headers={"Range": odd})
        assert (whole.status_code, len(whole.data)) == (200, len(data)), odd
        assert "Range" not in twilio.seen("GET", ".mp3")[-1].headers


def test_unreachable_twilio_is_502_in_french(admin, twilio, three):
    newest, _, _ = three
    twilio.add_media(sid(1))
    twilio.down()
    response = admin.get(f"{LIST}/{newest.id}/audio")
    assert response.status_code == 502
    assert response.get_data(as_text=True).startswith("Twilio ne répond pas")
    twilio.up()
    assert admin.get(f"{LIST}/{newest.id}/audio").status_code == 200


def test_twilio_errors(admin, twilio, three):
    newest, _, _ = three
    gone = admin.get(f"{LIST}/{newest.id}/audio")  # Twilio has no media for it
    assert gone.status_code == 404
    assert "Twilio n'a plus cet enregistrement" in gone.get_data(as_text=True)
    twilio.add_media(sid(1))
    twilio.fail_next(status=500)
    failed = admin.get(f"{LIST}/{newest.id}/audio")
    assert failed.status_code == 502
    assert "erreur 500" in failed.get_data(as_text=True)


def test_wrong_credentials_are_a_502_not_a_login_prompt(make_app, twilio):
    app = make_app(**{**twilio.settings(), "TWILIO_AUTH_TOKEN": "not-the-token"})
    newest = seed(app, 1, at="2026-12-01T09:05:00-05:00")
    twilio.add_media(sid(1))
    response = log_in(app).get(f"{LIST}/{newest.id}/audio")
    assert response.status_code == 502
    assert "WWW-Authenticate" not in response.headers
    assert twilio.seen("GET", ".mp3")[0].auth == (ACCOUNT_SID, "not-the-token")


def test_no_recording_is_404(admin, twilio, three):
    _, _, old = three
    response = admin.get(f"{LIST}/{old.id}/audio")
    assert response.status_code == 404
    assert response.get_data(as_text=True).strip() == "Aucun enregistrement pour ce message."
    assert admin.get(f"{LIST}/999/audio").status_code == 404
    assert twilio.seen("GET", ".mp3") == []


def test_a_url_that_is_not_twilio_is_never_fetched(app, admin, twilio):
    foreign = seed(app, 7, at="2026-12-01T09:00:00-05:00",
                   url=recording_url(7, "https://evil.example"))
    twilio.add_media(sid(7))
    response = admin.get(f"{LIST}/{foreign.id}/audio")
    assert response.status_code == 404
    assert twilio.seen() == []


def test_without_twilio_account_the_page_says_so(make_app):
    app = make_app()  # no TWILIO_ACCOUNT_SID
    newest = seed(app, 1, at="2026-12-01T09:05:00-05:00")
    client = log_in(app)
    html = client.get(f"{LIST}/{newest.id}").get_data(as_text=True)
    assert "<audio" not in html
    assert "L'écoute des messages n'est pas configurée" in html
    assert client.get(f"{LIST}/{newest.id}/audio").status_code == 503
