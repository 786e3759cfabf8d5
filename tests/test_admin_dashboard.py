"""Tableau de bord: providers open now, today's calls, new voicemails, the config and its errors.

The ``app`` fixture freezes the clock at Tuesday 1 December 2026, 10:00 in Montréal.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from console import logged_in
from test_local_days import add_local_days

from ivr.services import services

MONTREAL = timezone(timedelta(hours=-5))  # December: EST
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=MONTREAL)


# ---------------------------------------------------------------------- helpers (shared)


class _Tables(HTMLParser):
    """Collects the rows of every <table id=…> as lists of cell texts (th and td)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def table(html: str, table_id: str) -> dict[str, list[str]]:
    """A table's body rows keyed by their first cell (the row header)."""
    rows = tables(html)[table_id]
    return {row[0]: row[1:] for row in rows[1:]}


def element_text(html: str, element_id: str) -> str:
    """The text of the element with this id (no nesting of the same tag inside)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id}"
    text = re.sub(r"<[^>]+>", " ", match.group(2))
    return " ".join(text.replace("&#39;", "'").replace("&amp;", "&").split())


def call_events(sid: str, at: datetime, *, branch: str | None, nodes: tuple[str, ...] = (),
                result: str = "hangup", destination: str | None = None,
                failures: tuple[tuple[str, str], ...] = (), duration: int = 60) -> list[dict]:
    """Journal events of one call, shaped as voice.py writes them (see tests/test_journal.py).

    ``result``: answered | voicemail | no-answer | info | hangup — the store derives the
    outcome from these events. ``failures``: (kind, node) with kind fallback or error.
    """
    base = {"call_sid": sid, "caller": "+1514…23"}
    events = [{**base, "at": at, "kind": "enter", "node": "accueil", "last_node": "accueil"}]
    trail = ([branch] if branch else []) + list(nodes)
    for i, node in enumerate(trail):
        events.append({**base, "at": at + timedelta(seconds=5 + i), "kind": "enter", "node": node,
                       "branch": branch, "last_node": node})
    for i, (kind, node) in enumerate(failures):
        events.append({**base, "at": at + timedelta(seconds=20 + i), "kind": kind, "node": node})
    later = at + timedelta(seconds=30)
    if result == "answered":
        events.append({**base, "at": later, "kind": "dial-result", "node": trail[-1],
                       "detail": "completed", "destination": destination})
    elif result == "no-answer":
        events.append({**base, "at": later, "kind": "dial-result", "node": trail[-1],
                       "detail": "no-answer", "destination": destination})
    elif result == "voicemail":
        events.append({**base, "at": later, "kind": "recorded", "node": trail[-1],
                       "destination": destination})
    elif result == "info":
        events.append({**base, "at": later, "kind": "end", "node": trail[-1]})
    events.append({**base, "at": at + timedelta(seconds=duration), "kind": "status",
                   "detail": "completed", "duration": str(duration)})
    return events


def write(app, *calls: list[dict]) -> None:
    services(app).store.write_events([e for c in calls for e in c])


def page(client, path: str = "/admin/") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


# ---------------------------------------------------------------------- providers


def test_providers_open_or_closed_now_and_until_when(console):
    html = page(console)
    providers = table(html, "equipes")
    csi = providers["Centre de services informatiques (CSI) de la DRT"]
    assert csi[0] == "Ouvert" and csi[1] == "jusqu'à 17 h"
    assert csi[3] == "(514) 251-4000, poste 5656"
    assert providers["Centre d'appels d'urgence (CDA), garde informatique"][:2] == [
        "Ouvert", "en tout temps"]
    cssns = providers["Centre de soutien des services numériques en santé (CSSNS) du MSSS"]
    assert cssns[:2] == ["Ouvert", "jusqu'à 18 h"]
    # A team without a phone is never dialled: said so, and it has no hours here.
    soins = providers["Équipe de soins (Direction-Programme-Service)"]
    assert soins[0] == "Fermé" and soins[3] == "pas de ligne directe"
    assert providers["Génie biomédical (GBM)"][3] == "pas de ligne directe"
    assert 'class="badge open"' in html and 'class="badge closed"' in html


@pytest.mark.parametrize("now,csi_state,csi_when", [
    ("2026-12-01T18:30:00-05:00", "Fermé", "rouvre demain, 7 h"),
    ("2026-12-01T06:15:00-05:00", "Fermé", "rouvre à 7 h"),
    ("2026-12-25T10:00:00-05:00", "Fermé", "rouvre le lundi 28 décembre, 7 h Motif : Noël"),
    ("2026-12-31T16:00:00-05:00", "Fermé",
     "rouvre le lundi 4 janvier 2027, 7 h Motif : Veille du jour de l'An"),
    ("2026-12-04T16:30:00-05:00", "Ouvert", "jusqu'à 17 h"),
])
def test_the_state_follows_the_clock_and_holidays(make_app, config_copy, now, csi_state,
                                                  csi_when):
    # The 2026-2027 local days (24 December from noon, 31 December) on a copy: none shipped.
    app = make_app(IVR_NOW=now, IVR_CONFIG_DIR=str(add_local_days(config_copy)))
    html = page(logged_in(app))
    csi = table(html, "equipes")["Centre de services informatiques (CSI) de la DRT"]
    assert csi[:2] == [csi_state, csi_when]


def test_a_working_31_december_without_local_days(make_app):
    html = page(logged_in(make_app(IVR_NOW="2026-12-31T16:00:00-05:00")))
    csi = table(html, "equipes")["Centre de services informatiques (CSI) de la DRT"]
    assert csi[:2] == ["Ouvert", "jusqu'à 17 h"]


# ---------------------------------------------------------------------- local days


def test_missing_local_days_are_a_visible_notice(console):
    html = page(console)  # 1 December 2026; the shipped calendar lists no local day
    notice = re.search(r'<section class="card" id="avis-jours-locaux" role="status".*?</section>',
                       html, re.S)
    assert notice, "no notice for the missing local days"
    items = [" ".join(re.sub(r"<[^>]+>", " ", i).split())
             for i in re.findall(r"<li>(.*?)</li>", notice.group(0), re.S)]
    assert [i.split(" (2 attendus)")[0] for i in items] == [
        "rsss : aucun jour local inscrit pour la période du 1er juillet 2026 au 30 juin 2027",
        "rsss : aucun jour local inscrit pour la période du 1er juillet 2027 au 30 juin 2028"]
    assert all(re.search(r"dans schedules/calendars/rsss\.yaml \(ligne \d+\)$", i)
               for i in items)
    assert 'href="/admin/horaires#avis-jours-locaux"' in notice.group(0)


def test_the_notice_follows_the_clock_and_the_calendar(make_app, config_copy):
    add_local_days(config_copy)  # 2026-2027 only
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    text = element_text(page(logged_in(app)), "avis-jours-locaux")
    assert "1er juillet 2027 au 30 juin 2028" in text and "1er juillet 2026" not in text
    # Before 1 July 2026, the coming 12 months are within 2025-2026 and 2026-2027.
    app = make_app(IVR_CONFIG_DIR=str(config_copy), IVR_NOW="2026-06-30T12:00:00-04:00")
    text = element_text(page(logged_in(app)), "avis-jours-locaux")
    assert "1er juillet 2025 au 30 juin 2026" in text and "2027 au 30 juin 2028" not in text
    add_local_days(config_copy, """
  - {name: Jour local, date: 2025-12-24, local: true, why: essai}
  - {name: Jour local, date: 2025-12-31, local: true, why: essai}
""")
    app = make_app(IVR_CONFIG_DIR=str(config_copy), IVR_NOW="2026-06-30T12:00:00-04:00")
    assert "avis-jours-locaux" not in page(logged_in(app))


# ---------------------------------------------------------------------- today's calls


def test_todays_calls_by_branch_and_outcome(app, console):
    yesterday_late = datetime(2026, 11, 30, 23, 30, tzinfo=MONTREAL)  # 04:30 UTC on Dec 1
    write(
        app,
        call_events("CA1", T0 - timedelta(hours=2), branch="personnel",
                    nodes=("personnel_technique", "urgence_ti"), result="answered",
                    destination="csi"),
        call_events("CA2", T0 - timedelta(hours=1), branch="personnel",
                    nodes=("personnel_technique",), result="hangup"),
        call_events("CA3", T0 - timedelta(minutes=30), branch="patient",
                    nodes=("patient_technique", "vm_telesante"), result="voicemail",
                    destination="voicemail:telesante"),
        call_events("CA4", datetime(2026, 12, 1, 0, 15, tzinfo=MONTREAL), branch="patient",
                    nodes=("patient_internet",), result="info"),
        call_events("CA5", T0 - timedelta(minutes=5), branch=None, result="hangup"),
        call_events("CA6", yesterday_late, branch="personnel", result="answered",
                    destination="csi"),  # yesterday in Montréal: not today's
    )
    html = page(console)
    assert element_text(html, "appels-total").startswith("5 appels depuis minuit.")
    rows = tables(html)["appels-du-jour"]
    assert rows[0] == ["Branche", "Répondu", "Message laissé", "Sans réponse",
                       "Information donnée", "Raccroché", "Total"]
    body = {row[0]: row[1:] for row in rows[1:]}
    # Welcome-menu order (1 patient, 2 staff), then callers who chose nothing.
    assert list(body) == ["Patient ou proche aidant",
                          "Intervenant, médecin ou agente administrative",
                          "Accueil (aucun choix)", "Total"]
    assert body["Patient ou proche aidant"] == ["0", "1", "0", "1", "0", "2"]
    assert body["Intervenant, médecin ou agente administrative"] == ["1", "0", "0", "0", "1", "2"]
    assert body["Accueil (aucun choix)"] == ["0", "0", "0", "0", "1", "1"]
    assert body["Total"] == ["1", "1", "0", "1", "2", "5"]
    assert 'href="/admin/statistiques?du=2026-12-01&amp;au=2026-12-01"' in html


def test_a_quiet_day_says_so(console):
    html = page(console)
    assert element_text(html, "appels-total").startswith("0 appel depuis minuit.")
    assert "Aucun appel aujourd'hui pour l'instant." in html
    assert "appels-du-jour" not in html


# ---------------------------------------------------------------------- voicemails


def save_voicemail(app, n: int, box: str = "telesante", minutes_ago: int = 0) -> int:
    voicemail, _ = services(app).store.save_voicemail(
        recording_sid=f"RE{n}", call_sid=f"CA{n}", box=box, node="vm_telesante",
        caller="+15145550123", path="accueil.patient.vm_telesante",
        received_at=T0 - timedelta(minutes=minutes_ago),
        recording_url=f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE{n}",
        duration=30 + n)
    return voicemail.id


def test_new_voicemails_per_box_and_the_latest_with_links(app, console):
    ids = [save_voicemail(app, n, minutes_ago=10 * n) for n in range(1, 8)]
    old_box = save_voicemail(app, 20, box="ancienne", minutes_ago=500)  # box since removed
    services(app).store.mark_handled(ids[0], "admin")
    html = page(console)
    assert element_text(html, "messages-total") == "7 messages à traiter."
    assert element_text(html, "boite-telesante") == "Équipe télésanté : 6 nouveaux"
    assert element_text(html, "boite-ancienne") == "ancienne : 1 nouveau"
    if "admin.voicemails" in app.view_functions:
        assert 'href="/admin/messagerie?boite=telesante&amp;statut=nouveau"' in html
    latest = re.search(r'<ul class="latest" id="derniers-messages">(.*?)</ul>', html, re.S)
    assert latest
    items = re.findall(r"<li>(.*?)</li>", latest.group(1), re.S)
    assert len(items) == 5  # the newest five new ones; the handled one is not there
    first = " ".join(re.sub(r"<[^>]+>", "", items[0]).split())
    assert first == ("mardi 1er décembre 2026, 9 h 40 — Équipe télésanté — (514) 555-0123 "
                     "— 32 s")
    if "admin.voicemail" in app.view_functions:
        hrefs = re.findall(r'href="/admin/messagerie/(\d+)"', latest.group(1))
        assert [int(h) for h in hrefs] == ids[1:6]
    assert f"/admin/messagerie/{old_box}\"" not in html


def test_no_link_when_the_voicemail_page_is_missing(app, console, monkeypatch):
    save_voicemail(app, 1)
    monkeypatch.delitem(app.view_functions, "admin.voicemail", raising=False)
    monkeypatch.delitem(app.view_functions, "admin.voicemails", raising=False)
    html = page(console)
    assert "/admin/messagerie" not in html.split("</nav>", 1)[1]
    assert "mardi 1er décembre 2026, 10 h — Équipe télésanté" in element_text(
        html, "derniers-messages")


# ---------------------------------------------------------------------- config


def test_config_version_and_no_error(app, console):
    html = page(console)
    facts = element_text(html, "configuration")
    line = services(app).line
    assert f"Version servie {line.config.version}" in facts
    assert "Rechargements 0" in facts and "aucune erreur" in facts
    assert "erreur-configuration" not in html


def test_a_refused_reload_is_shown_with_its_problems(make_app, config_copy):
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    line = services(app).line
    good = line.config.version
    ligne = config_copy / "menus" / "ligne.yaml"
    text = ligne.read_text(encoding="utf-8")
    ligne.write_text(text.replace('"2": {to: personnel,', '"2": {to: personel,', 1), "utf-8")
    assert line.check() is False
    client = logged_in(app)
    html = page(client)
    alert = re.search(r'<section class="card alert" id="erreur-configuration" role="alert"'
                      r'.*?</section>', html, re.S)
    assert alert, "the refused reload is not highlighted"
    problems = re.findall(r"<li><code>(.*?)</code></li>", alert.group(0), re.S)
    assert problems and any(p.startswith("menus/ligne.yaml:") and "personel" in p
                            for p in problems)
    assert f"<code>{good}</code>" in alert.group(0)
    assert "refusé le" in element_text(html, "configuration")
    # Fixed on disk: the error goes away and the reload is counted if the version changed.
    ligne.write_text(text.replace("title: Accueil", "title: Accueil principal", 1), "utf-8")
    assert line.check() is True
    html = page(client)
    assert "erreur-configuration" not in html
    facts = element_text(html, "configuration")
    assert "Rechargements 1" in facts and line.config.version in facts and good not in facts


def test_the_page_obeys_the_content_security_policy(app, console):
    write(app, call_events("CA1", T0, branch="patient", result="info",
                           nodes=("patient_internet",)))
    html = page(console)
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert "/admin/static/stats.css" in html
    with console.get("/admin/static/stats.css") as css:
        assert css.status_code == 200 and b".alert" in css.data
