"""« Annonces » (issue 17): announcements, temporary closures and openings set in the console,
the journal of who changed what, and what the dashboard and « Que se passe-t-il le… » say.

The ``app`` fixture freezes the clock at Tuesday 1 December 2026, 10:00 in Montréal; the
store's "now" is the app's clock, so entries start and end by that clock.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
from console import TOKEN
from test_admin_schedules import Dom, El, element, plan_items

from ivr.admin.announcements import preview, seconds_text, store_errors
from ivr.flow import Goodbye, Speech
from ivr.lines import current_config
from ivr.overrides_store import InvalidOverride, OverrideStore, for_app
from ivr.services import services
from ivr.simulator import CallSimulator
from ivr.speech import heard_seconds
from ivr.twiml import Voice, render

MONTREAL = timezone(timedelta(hours=-5))  # December: EST
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=MONTREAL)
TEXT = "Teams est en panne. Écrivez à support@reacts.com ou appelez le 514 251-4000."


# --------------------------------------------------------------------------- helpers


def token(client, path: str = "/admin/annonces") -> str:
    match = TOKEN.search(client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def root(client, path: str = "/admin/annonces", status: int = 200) -> El:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return Dom(response.get_data(as_text=True)).root


def announce(client, status: int = 302, **fields):
    data = {"texte": "Teams est en panne.", "portee": "personnel",
            "debut": "2026-12-01T10:00", "fin": "2026-12-01T12:00", "ensuite": "continuer",
            "action": "enregistrer", **fields}
    response = client.post("/admin/annonces", data={"csrf_token": token(client), **data})
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response


def close(client, status: int = 302, **fields):
    data = {"equipe": "csi", "type": "fermeture", "raison": "Formation du personnel",
            "debut": "2026-12-01T13:00", "fin": "2026-12-01T17:00", **fields}
    response = client.post("/admin/annonces/fermetures",
                           data={"csrf_token": token(client), **data})
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response


def store(app) -> OverrideStore:
    with app.app_context():
        return for_app(app)


def audit(app):
    return OverrideStore(services(app).store).audit()


def field_error(page: El, field_id: str) -> str:
    """The problem shown next to a field, which says it is invalid and points to it."""
    control = element(page, field_id)
    assert control.attrs.get("aria-invalid") == "true", field_id
    assert f"{field_id}-erreur" in control.attrs.get("aria-describedby", "").split()
    return element(page, f"{field_id}-erreur").text()


# --------------------------------------------------------------------------- the page


def test_the_page_is_in_the_navigation_with_a_form_ready_for_two_hours(console):
    page = root(console)
    nav = next(n for n in page.iter("nav") if n.attrs.get("aria-label") == "Pages de la console")
    assert "Annonces" in nav.text()
    assert element(page, "annonce-debut").attrs["value"] == "2026-12-01T10:00"  # now
    assert element(page, "annonce-fin").attrs["value"] == "2026-12-01T12:00"  # in 2 hours
    scopes = [(o.attrs["value"], o.text()) for o in element(page, "annonce-portee").iter("option")]
    assert scopes[0] == ("ligne", "Toute la ligne (dès l'accueil)")
    assert ("personnel", "Intervenant, médecin ou agente administrative") in scopes
    thens = {o.attrs["value"]: o.text() for o in element(page, "annonce-ensuite").iter("option")}
    assert thens["continuer"].startswith("Continuer") and thens["raccrocher"].startswith("Racc")
    assert "urgence_ti" in thens and "vm_telesante" in thens
    providers = [o.attrs["value"] for o in element(page, "fermeture-equipe").iter("option")]
    assert {"csi", "cda", "cssns"} <= set(providers)
    # Every form carries its CSRF token; every field has its label.
    forms = list(page.iter("form"))
    assert forms and all(any(i.attrs.get("name") == "csrf_token" for i in f.iter("input"))
                         for f in forms)
    labelled = {lab.attrs.get("for") for lab in page.iter("label")}
    for field_id in ("annonce-texte", "annonce-portee", "annonce-debut", "annonce-fin",
                     "annonce-ensuite", "fermeture-equipe", "fermeture-raison",
                     "fermeture-debut", "fermeture-fin"):
        assert field_id in labelled, field_id
    assert element(page, "aucune-annonce") and element(page, "journal-vide")


def test_a_post_without_its_token_is_refused_in_french(console, app):
    response = console.post("/admin/annonces", data={"texte": "x", "portee": "ligne",
                                                     "debut": "2026-12-01T10:00",
                                                     "fin": "2026-12-01T12:00"})
    assert response.status_code == 400
    assert "Requête refusée" in response.get_data(as_text=True)
    assert store(app).announcements(include_past=True) == []


def test_an_unknown_announcement_is_a_french_404(console):
    for path in ("/admin/annonces/99", "/admin/annonces/99/supprimer",
                 "/admin/annonces/fermetures/99/supprimer"):
        response = console.get(path)
        assert response.status_code == 404, path
        assert "Page introuvable" in response.get_data(as_text=True)


# --------------------------------------------------------------------------- create, audit


def test_create_lists_it_audits_it_and_the_line_says_it_at_once(console, app):
    response = announce(console)
    assert response.headers["Location"].endswith("/admin/annonces#annonce-1")
    (row,) = store(app).announcements()
    assert (row.scope, row.text, row.then) == ("personnel", "Teams est en panne.", "continuer")
    assert (row.starts_at, row.ends_at) == (T0, T0 + timedelta(hours=2))
    assert row.created_by == "Agente Test"
    (entry,) = audit(app)
    assert (entry.who, entry.via, entry.source, entry.action, entry.kind, entry.object_id) == (
        "Agente Test", "console", "127.0.0.1", "création", "annonce", 1)
    page = root(console)
    listed = element(page, "annonce-1")
    assert listed.attrs["data-state"] == "active"
    assert "en cours" in listed.text() and "Teams est en panne." in listed.text()
    assert "Agente Test" in listed.text()
    journal = element(page, "table-journal").text()
    assert "Agente Test" in journal and "console" in journal and "127.0.0.1" in journal
    # This process serves it now, without waiting for the watcher's next pass.
    served = services(app).overrides.current()
    assert [a.id for a in served.announcements_at("personnel", T0)] == [1]
    heard = CallSimulator(app).play("2").heard
    assert "Teams est en panne." in heard


@pytest.mark.parametrize(("fields", "field_id", "says"), [
    ({"fin": "2026-12-16T10:01"}, "annonce-fin", "au plus 14 jours"),
    ({"debut": "2026-12-01T12:00", "fin": "2026-12-01T11:00"}, "annonce-fin",
     "doit venir après le début"),
    ({"portee": "nulle_part"}, "annonce-portee", "Portée inconnue « nulle_part »"),
    ({"ensuite": "nulle_part"}, "annonce-ensuite", "n'est pas dans l'arborescence"),
    ({"texte": "   "}, "annonce-texte", "Écrivez ce que la ligne doit dire"),
    ({"texte": "x" * 1001}, "annonce-texte", "au plus 1000"),
    ({"fin": ""}, "annonce-fin", "Indiquez la fin"),
    ({"debut": "demain"}, "annonce-debut", "n'est pas une date et une heure valide"),
    ({"debut": "2026-11-30T08:00", "fin": "2026-11-30T09:00"}, "annonce-fin", "déjà passée"),
])
def test_form_problems_are_shown_in_french_next_to_their_field(console, app, fields, field_id,
                                                                says):
    response = announce(console, status=400, **fields)
    page = Dom(response.get_data(as_text=True)).root
    assert says in field_error(page, field_id)
    summary = element(page, "annonce-problemes")
    assert summary.attrs["role"] == "alert" and says in summary.text()
    # What was typed stays in the form; nothing was saved or audited.
    assert element(page, "annonce-debut").attrs["value"] == fields.get("debut",
                                                                      "2026-12-01T10:00")
    assert store(app).announcements(include_past=True) == []
    assert audit(app) == []


def test_fourteen_days_exactly_is_accepted(console, app):
    announce(console, fin="2026-12-15T10:00")
    (row,) = store(app).announcements()
    assert row.ends_at - row.starts_at == timedelta(days=14)


def test_the_store_s_problems_land_next_to_their_fields():
    errors = store_errors(InvalidOverride([
        "la fin (2026-12-01 09:00) doit venir après le début (2026-12-01 10:00)",
        "portée inconnue « x » : « ligne » (toute la ligne) ou l'identifiant d'un nœud",
        "qui fait le changement : obligatoire (son nom)"]))
    assert errors["fin"].startswith("La fin (2026-12-01 09:00)")
    assert errors["portee"].startswith("Portée inconnue")
    assert errors["_"].startswith("Qui fait le changement")


# --------------------------------------------------------------------------- the preview


def said_seconds(app, text: str) -> float:
    """How long the line itself takes to say ``text``: its TwiML, counted like ``ivr call``."""
    config = current_config()
    voice = services(app).voice
    twiml = render(Goodbye((Speech(text),)), Voice(voice.voice, voice.language, config.lexicon))
    (say,) = [e for e in ET.fromstring(twiml) if e.tag == "Say"]
    return heard_seconds(say, config.language)


def test_the_preview_says_the_spoken_text_and_its_seconds_without_saving(console, app):
    response = console.post("/admin/annonces", data={
        "csrf_token": token(console), "texte": TEXT, "portee": "ligne",
        "debut": "2026-12-01T10:00", "fin": "2026-12-01T12:00", "ensuite": "continuer",
        "action": "apercu"})
    assert response.status_code == 200
    page = Dom(response.get_data(as_text=True)).root
    shown = element(page, "annonce-apercu")
    with app.test_request_context():
        expected = said_seconds(app, TEXT)
        said = preview(current_config(), TEXT)
    assert said is not None and said.seconds == pytest.approx(expected)
    assert 5 < expected < 20
    seconds = element(page, "annonce-secondes")
    assert float(seconds.attrs["data-seconds"]) == pytest.approx(expected, abs=0.05)
    assert seconds.text() == seconds_text(expected)
    # The lexicon's pronunciation and the phone number read digit by digit.
    assert "Tîmz" in shown.text() and "5 1 4 2 5 1 4 0 0 0" in shown.text()
    assert "&lt;say-as" in response.get_data(as_text=True)  # the SSML, shown as text
    assert element(page, "annonce-texte").text() == TEXT  # kept in the form
    assert store(app).announcements(include_past=True) == [] and audit(app) == []


def test_the_preview_of_a_polite_hang_up_adds_the_closing_words(console, app):
    response = console.post("/admin/annonces", data={
        "csrf_token": token(console), "texte": "La ligne est fermée aujourd'hui.",
        "portee": "ligne", "debut": "2026-12-01T10:00", "fin": "2026-12-01T12:00",
        "ensuite": "raccrocher", "action": "apercu"})
    text = element(Dom(response.get_data(as_text=True)).root, "annonce-apercu").text()
    assert "Au revoir" in text and "en tout" in text


def test_each_listed_announcement_says_its_seconds(console, app):
    announce(console, texte=TEXT)
    with app.test_request_context():
        expected = said_seconds(app, TEXT)
    assert seconds_text(expected) in element(root(console), "annonce-1").text()


# --------------------------------------------------------------------------- edit, end, delete


def test_edit_changes_it_and_the_journal_says_what_changed(console, app):
    announce(console)
    page = root(console, "/admin/annonces/1")
    assert element(page, "annonce-texte").text() == "Teams est en panne."
    assert element(page, "annonce-fin").attrs["value"] == "2026-12-01T12:00"
    response = console.post("/admin/annonces/1", data={
        "csrf_token": token(console, "/admin/annonces/1"), "texte": "Teams est rétabli.",
        "portee": "personnel", "debut": "2026-12-01T10:00", "fin": "2026-12-01T14:00",
        "ensuite": "continuer", "action": "enregistrer"})
    assert response.status_code == 302
    (row,) = store(app).announcements()
    assert row.text == "Teams est rétabli." and row.ends_at == T0 + timedelta(hours=4)
    assert row.updated_by == "Agente Test"
    latest = audit(app)[0]
    assert latest.action == "modification" and "fin 2026-12-01 12:00 → 2026-12-01 14:00" in \
        latest.summary
    # A bad edit is shown again with its problem, and changes nothing.
    response = console.post("/admin/annonces/1", data={
        "csrf_token": token(console, "/admin/annonces/1"), "texte": "x",
        "portee": "personnel", "debut": "2026-12-01T10:00", "fin": "2026-12-20T10:00",
        "ensuite": "continuer", "action": "enregistrer"})
    assert response.status_code == 400
    assert "au plus 14 jours" in field_error(Dom(response.get_data(as_text=True)).root,
                                             "annonce-fin")
    assert store(app).announcement(1).text == "Teams est rétabli."


def test_end_now_stops_it_for_callers_and_audits_it(console, app):
    announce(console)
    response = console.post("/admin/annonces/1/terminer", data={"csrf_token": token(console)})
    assert response.status_code == 302
    row = store(app).announcement(1)
    assert row is not None and row.ends_at == T0  # the app's clock
    assert store(app).announcements() == []  # no longer current
    assert [e.action for e in audit(app)] == ["fin", "création"]
    listed = element(root(console), "annonce-1")
    assert listed.attrs["data-state"] == "ended" and "terminée" in listed.text()
    assert "Reprendre" in listed.text()
    assert not services(app).overrides.current().announcements_at("personnel", T0)
    assert "Teams est en panne." not in CallSimulator(app).play("2").heard
    # Once more: nothing to end.
    console.post("/admin/annonces/1/terminer", data={"csrf_token": token(console)})
    assert len(audit(app)) == 2


def test_an_ended_announcement_can_be_taken_up_again(console, app):
    announce(console, texte=TEXT, ensuite="raccrocher")
    console.post("/admin/annonces/1/terminer", data={"csrf_token": token(console)})
    page = root(console, "/admin/annonces?reprendre=1")
    assert element(page, "annonce-texte").text() == TEXT
    assert element(page, "annonce-debut").attrs["value"] == "2026-12-01T10:00"
    selected = [o.attrs["value"] for o in element(page, "annonce-ensuite").iter("option")
                if "selected" in o.attrs]
    assert selected == ["raccrocher"]


def test_delete_asks_first_then_deletes_and_audits(console, app):
    announce(console)
    page = root(console, "/admin/annonces/1/supprimer")
    assert "Voulez-vous vraiment supprimer cette annonce" in page.text()
    assert "Teams est en panne." in page.text()
    assert store(app).announcement(1) is not None  # the question deleted nothing
    response = console.post("/admin/annonces/1/supprimer",
                            data={"csrf_token": token(console, "/admin/annonces/1/supprimer")})
    assert response.status_code == 302
    assert store(app).announcement(1) is None
    assert store(app).announcements(include_past=True) == []
    deleted = audit(app)[0]
    assert (deleted.action, deleted.who, deleted.via) == ("suppression", "Agente Test",
                                                          "console")
    assert "Teams est en panne." in deleted.summary
    page = root(console)
    assert page.find_id("annonce-1") is None
    assert "suppression" in element(page, "table-journal").text().lower()


# --------------------------------------------------------------------------- closures, openings


def test_a_temporary_closure_is_created_listed_ended_and_deleted(console, app):
    response = close(console, debut="2026-12-01T10:00", fin="2026-12-01T16:00")
    assert response.headers["Location"].endswith("#changement-1")
    (row,) = store(app).changes()
    assert (row.provider, row.kind, row.reason) == ("csi", "fermeture", "Formation du personnel")
    listed = element(root(console), "changement-1")
    assert "Centre de services informatiques" in listed.text()
    assert "Fermeture" in listed.text() and "Agente Test" in listed.text()  # who and when
    assert "en cours" in listed.text()
    # The line routes with it: the emergency line skips the CSI for the CDA.
    call = CallSimulator(app).play("*11")
    assert call.dials and "3050" in call.dials[0].number
    console.post("/admin/annonces/fermetures/1/terminer", data={"csrf_token": token(console)})
    assert store(app).changes() == []
    assert "5656" in (CallSimulator(app).play("*11").dials[0].send_digits or "")
    console.post("/admin/annonces/fermetures/1/supprimer",
                 data={"csrf_token": token(console, "/admin/annonces/fermetures/1/supprimer")})
    assert store(app).change(1) is None
    assert [(e.action, e.kind) for e in audit(app)] == [
        ("suppression", "fermeture"), ("fin", "fermeture"), ("création", "fermeture")]


@pytest.mark.parametrize(("fields", "field_id", "says"), [
    ({"equipe": "personne"}, "fermeture-equipe", "Équipe inconnue"),
    ({"raison": ""}, "fermeture-raison", "Donnez la raison"),
    ({"fin": "2026-12-20T17:00"}, "fermeture-fin", "au plus 14 jours"),
    ({"debut": "2026-12-01T17:00", "fin": "2026-12-01T13:00"}, "fermeture-fin",
     "doit venir après le début"),
])
def test_closure_problems_are_shown_next_to_their_field(console, app, fields, field_id, says):
    response = close(console, status=400, **fields)
    page = Dom(response.get_data(as_text=True)).root
    assert says in field_error(page, field_id)
    assert store(app).changes(include_past=True) == []


def test_what_happens_shows_the_console_closure_winning_over_the_files(console, app):
    close(console)  # the CSI closed from 13 h to 17 h; its hours say open
    page = root(console, "/admin/horaires?a=2026-12-01T14:00")
    csi = element(page, "etat-csi")
    assert csi.attrs["data-open"] == "non" and csi.attrs["data-console"] == "oui"
    assert "fermeture temporaire (console) : Formation du personnel" in csi.text()
    assert "l'emporte sur les fichiers" in csi.text() and "« ouverte »" in csi.text()
    notice = element(page, "avis-console").text()
    assert "La console l'emporte sur les fichiers à cet instant" in notice
    assert "Agente Test" in notice
    steps = plan_items(page, "urgence_ti")
    assert steps[0]["data-kind"] == "skip" and "console" in steps[0]["text"]
    assert steps[1]["data-kind"] == "dial" and steps[1]["data-provider"] == "cda"
    # Before it starts, the files decide.
    before = root(console, "/admin/horaires?a=2026-12-01T12:00")
    assert element(before, "etat-csi").attrs["data-open"] == "oui"
    assert before.find_id("avis-console") is None


def test_what_happens_shows_a_console_opening_and_the_announcements_then(console, app):
    close(console, type="ouverture", raison="Samedi de déploiement",
          debut="2026-12-05T08:00", fin="2026-12-05T12:00")
    announce(console, texte="Déploiement en cours.", portee="ligne",
             debut="2026-12-05T08:00", fin="2026-12-05T12:00")
    page = root(console, "/admin/horaires?a=2026-12-05T09:00")  # a Saturday
    csi = element(page, "etat-csi")
    assert csi.attrs["data-open"] == "oui" and "ouverture temporaire (console)" in csi.text()
    assert "« fermée »" in csi.text()
    said = element(page, "annonces-instant").text()
    assert "toute la ligne" in said and "Déploiement en cours." in said


# --------------------------------------------------------------------------- the dashboard


def test_the_dashboard_lists_what_is_active_and_what_ends_next(console, app):
    announce(console, fin="2026-12-01T12:00")
    close(console, debut="2026-12-01T10:00", fin="2026-12-01T16:00")
    close(console, equipe="cssns", type="ouverture", raison="Déploiement",
          debut="2026-12-02T09:00", fin="2026-12-02T16:00")
    page = root(console, "/admin/")
    active = element(page, "en-cours")
    rows = [tr.text() for tr in active.iter("tr")][1:]
    assert len(rows) == 2
    assert rows[0].startswith("Annonce") and "jusqu'à 12 h" in rows[0]
    assert rows[1].startswith("Fermeture") and "jusqu'à 16 h" in rows[1]
    next_end = element(page, "prochaine-fin").text()
    assert "Annonce" in next_end and "jusqu'à 12 h" in next_end
    upcoming = element(page, "a-venir").text()
    assert "Ouverture" in upcoming and "à partir de demain, 9 h" in upcoming
    # The team's row says the console decides.
    csi = element(page, "equipe-csi").text()
    assert "Fermé" in csi and "Fermeture temporaire (console)" in csi and "rouvre à 16 h" in csi


def test_the_dashboard_says_when_nothing_is_set(console):
    assert "la ligne suit ses fichiers" in element(root(console, "/admin/"),
                                                   "rien-en-cours").text()


def test_the_journal_shows_changes_made_from_the_command_line(console, app):
    store(app).add_announcement(scope="ligne", starts_at=T0, ends_at=T0 + timedelta(hours=1),
                                text="Panne générale.", who="mtremblay", via="cli")
    journal = element(root(console), "table-journal")
    (row,) = [tr for tr in journal.iter("tr")][1:]
    text = row.text()
    assert "mtremblay" in text and "ligne de commande" in text and "Création" in text
    assert re.search(r"décembre 2026", text)
