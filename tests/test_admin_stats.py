"""Statistiques: the journal's aggregates (ivr.stats, on SQLite and PostgreSQL), the page with its
SVG charts and their tables, and the CSV export.

The ``app`` fixture freezes the clock at Tuesday 1 December 2026, 10:00 in Montréal.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone
from html import unescape

import pytest
from console import logged_in
from test_admin_dashboard import call_events, element_text, page, table, tables, write

from ivr.admin.charts import Column, Series, hbars, heatmap, nice_step, stacked_bars
from ivr.admin.stats import _cell
from ivr.schedule import TZ
from ivr.services import services
from ivr.simulator import CallSimulator
from ivr.stats import MAX_DAYS, Period, calls_in, parse_period, percent, summarize

EST = timezone(timedelta(hours=-5))
EDT = timezone(timedelta(hours=-4))


def seed(write_events) -> None:
    """A small month: calls on several days, branches and outcomes, hang-ups and failures."""
    calls = [
        # Tuesday 1 December (today), 9 h: two staff calls answered, one patient voicemail.
        call_events("CA01", datetime(2026, 12, 1, 9, 5, tzinfo=EST), branch="personnel",
                    nodes=("personnel_technique", "urgence_ti"), result="answered",
                    destination="csi", duration=125),
        call_events("CA02", datetime(2026, 12, 1, 9, 40, tzinfo=EST), branch="personnel",
                    nodes=("personnel_technique", "urgence_ti"), result="answered",
                    destination="cda"),
        call_events("CA03", datetime(2026, 12, 1, 9, 50, tzinfo=EST), branch="patient",
                    nodes=("patient_technique", "vm_telesante"), result="voicemail",
                    destination="voicemail:telesante",
                    failures=(("fallback", "patient_technique"),)),
        # Monday 30 November: hang-ups in the patient menus, an error, a shortcut.
        call_events("CA04", datetime(2026, 11, 30, 14, 10, tzinfo=EST), branch="patient",
                    nodes=("patient_technique",)),
        call_events("CA05", datetime(2026, 11, 30, 14, 20, tzinfo=EST), branch="patient",
                    nodes=("patient_technique",)),
        call_events("CA06", datetime(2026, 11, 30, 23, 59, tzinfo=EST), branch="patient",
                    nodes=("patient_application",),
                    failures=(("error", "patient_application"),)),
        call_events("CA07", datetime(2026, 11, 30, 8, 0, tzinfo=EST), branch="urgence_ti",
                    result="no-answer", destination="csi"),
        # Sunday 15 November: hung up at the welcome menu after three wrong keys.
        call_events("CA08", datetime(2026, 11, 15, 11, 30, tzinfo=EST), branch=None,
                    failures=(("fallback", "accueil"), ("fallback", "accueil"))),
        # Outside the default window (30 days ending 1 December = from 2 November).
        call_events("CA09", datetime(2026, 11, 1, 12, 0, tzinfo=EST), branch="personnel",
                    result="info", nodes=("personnel_question",)),
        call_events("CA10", datetime(2026, 12, 2, 0, 5, tzinfo=EST), branch="personnel",
                    result="info", nodes=("personnel_question",)),
    ]
    write_events([e for c in calls for e in c])


# ---------------------------------------------------------------------- ivr.stats


def test_summary_counts_local_days_branches_outcomes_and_failures(store):
    seed(store.write_events)
    summary = summarize(store, Period(date(2026, 11, 2), date(2026, 12, 1)))
    assert summary.total == 8
    assert summary.by_outcome == {"answered": 2, "voicemail": 1, "hangup": 4, "no-answer": 1}
    assert summary.by_branch == {"personnel": 2, "patient": 4, "urgence_ti": 1, None: 1}
    assert summary.by_branch_outcome[("patient", "hangup")] == 3
    assert len(summary.by_day) == 30
    # 23:59 on 30 November in Montréal is 04:59 UTC on 1 December: still the 30th here.
    assert summary.by_day[date(2026, 11, 30)] == {"patient": 3, "urgence_ti": 1}
    assert summary.by_day[date(2026, 12, 1)] == {"personnel": 2, "patient": 1}
    assert summary.by_day[date(2026, 11, 15)] == {None: 1}
    assert sum(sum(c.values()) for c in summary.by_day.values()) == 8
    assert summary.hours[1][9] == 3  # Tuesday, 9 h
    assert summary.hours[0][23] == 1 and summary.hours[0][14] == 2 and summary.hours[6][11] == 1
    assert summary.busiest() == (1, 9, 3)
    assert summary.hangups == [("patient_technique", 2), ("accueil", 1),
                               ("patient_application", 1)]
    # Two fallbacks on one call count as two failures of one call.
    assert summary.failures == [("accueil", "fallback", 2, 1),
                                ("patient_application", "error", 1, 1),
                                ("patient_technique", "fallback", 1, 1)]


def test_local_days_across_the_end_of_daylight_saving_time(store):
    """1 November 2026 lasts 25 hours in Montréal; each call lands on its local day."""
    store.write_events([
        *call_events("D1", datetime(2026, 10, 31, 23, 30, tzinfo=EDT), branch="patient"),
        *call_events("D2", datetime(2026, 11, 1, 0, 30, tzinfo=EDT), branch="patient"),
        # The second 1:30 of the night, once the clocks went back.
        *call_events("D3", datetime(2026, 11, 1, 1, 30, tzinfo=EST), branch="patient"),
        *call_events("D4", datetime(2026, 11, 1, 23, 30, tzinfo=EST), branch="patient"),
        *call_events("D5", datetime(2026, 11, 2, 0, 0, tzinfo=EST), branch="patient"),
    ])
    day = Period(date(2026, 11, 1), date(2026, 11, 1))
    assert day.end.timestamp() - day.start.timestamp() == 25 * 3600
    summary = summarize(store, day)
    assert summary.total == 3 and summary.by_day[date(2026, 11, 1)]["patient"] == 3
    assert summary.hours[6][1] == 1 and summary.hours[6][0] == 1 and summary.hours[6][23] == 1
    rows = calls_in(store, Period(date(2026, 10, 31), date(2026, 11, 2)))
    assert [r.started_at.strftime("%d %H:%M %z") for r in rows] == [
        "31 23:30 -0400", "01 00:30 -0400", "01 01:30 -0500", "01 23:30 -0500", "02 00:00 -0500"]


def test_an_empty_journal_gives_zeros(store):
    summary = summarize(store, Period(date(2026, 12, 1), date(2026, 12, 1)))
    assert summary.total == 0 and summary.busiest() is None
    assert summary.hangups == [] and summary.failures == []
    assert summary.outcomes == ["answered", "voicemail", "no-answer", "info", "hangup"]


@pytest.mark.parametrize("du,au,first,last,errors", [
    (None, None, date(2026, 11, 2), date(2026, 12, 1), 0),
    ("2026-11-01", "2026-11-30", date(2026, 11, 1), date(2026, 11, 30), 0),
    ("", "2026-06-30", date(2026, 6, 1), date(2026, 6, 30), 0),
    ("2026-11-30", "2026-11-01", date(2026, 11, 1), date(2026, 11, 30), 1),
    ("hier", "2026-11-30", date(2026, 11, 1), date(2026, 11, 30), 1),
    ("2020-01-01", "2026-12-01", date(2025, 12, 1), date(2026, 12, 1), 1),
])
def test_parse_period(du, au, first, last, errors):
    period, problems = parse_period(du, au, date(2026, 12, 1))
    assert (period.first, period.last) == (first, last)
    assert len(problems) == errors
    assert len(period.days) <= MAX_DAYS


def test_percent_is_french():
    assert percent(1, 8) == "12,5\u00a0%"
    assert percent(2, 4) == "50\u00a0%"
    assert percent(0, 0) == "—"


# ---------------------------------------------------------------------- charts


def test_stacked_bars_scale_and_label_each_mark():
    svg = str(stacked_bars(
        [Column("1", "mardi 1er décembre 2026", {"a": 3, "b": 1}, "déc."),
         Column("2", "mercredi 2 décembre 2026", {"b": 8})],
        [Series("a", "Patients & <proches>", "s0"), Series("b", "Personnel", "s1")],
        chart_id="c", title="Appels", desc="Deux jours"))
    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-labelledby="c-t c-d"' in svg
    assert '<title id="c-t">Appels</title>' in svg
    assert "Patients &amp; &lt;proches&gt;" in svg and "<proches>" not in svg
    assert "<title>mardi 1er décembre 2026 — Personnel : 1 appel</title>" in svg
    assert "<title>mercredi 2 décembre 2026 — Personnel : 8 appels</title>" in svg
    assert re.search(r'<g class="column" data-label="mardi 1er décembre 2026" data-total="4">'
                     r'<rect class="s0" [^>]*data-value="3">', svg)
    bars = [(float(h), int(v)) for h, v in re.findall(
        r'height="([\d.]+)" data-series="[^"]+" data-value="(\d+)"', svg)]
    per_unit = {round(h / v, 3) for h, v in bars}
    assert len(per_unit) == 1  # every bar on the same scale
    assert "style=" not in svg


def test_hbars_and_heatmap():
    svg = str(hbars([("Accueil", 4), ("Patient", 2)], chart_id="h", title="T", desc="D"))
    widths = [float(w) for w in re.findall(r'<rect class="s0" x="8" y="[\d.]+" width="([\d.]+)"',
                                           svg)]
    assert len(widths) == 2 and widths[0] == pytest.approx(2 * widths[1])
    grid = [[0] * 24 for _ in range(7)]
    grid[1][9], grid[0][14] = 10, 1
    svg = str(heatmap(grid, ["Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi",
                             "Dimanche"], chart_id="g", title="T", desc="D"))
    assert svg.count("<rect ") == 7 * 24
    assert '<rect class="h5" x="' in svg and 'data-day="1" data-hour="9" data-value="10"' in svg
    assert "<title>Mardi, 9 h à 10 h : 10 appels</title>" in svg
    assert re.search(r'class="h1"[^>]*data-day="0" data-hour="14" data-value="1"', svg)


@pytest.mark.parametrize("maximum,step", [(0, 1), (3, 1), (7, 2), (40, 10), (97, 25),
                                          (9, 5), (1234, 500)])
def test_nice_step(maximum, step):
    assert nice_step(maximum) == step


# ---------------------------------------------------------------------- the page


def test_stats_page_defaults_to_the_last_30_days(app, console):
    seed(lambda events: write(app, events))
    html = page(console, "/admin/statistiques")
    assert 'value="2026-11-02"' in html and 'value="2026-12-01"' in html
    summary = element_text(html, "resume")
    assert summary.startswith("Du lundi 2 novembre 2026 au mardi 1er décembre 2026 : 8 appels.")
    assert "le mardi, de 9 h à 10 h (3 appels)" in summary

    # (the table helper folds the no-break space before "%" into a space)
    assert table(html, "tableau-branches") == {
        "Patient ou proche aidant": ["4", "50 %"],
        "Intervenant, médecin ou agente administrative": ["2", "25 %"],
        "Urgence informatique (CSI, poste 5656, ou CDA)": ["1", "12,5 %"],
        "Accueil (aucun choix)": ["1", "12,5 %"],
        "Total": ["8", ""],
    }
    assert table(html, "tableau-resultats") == {
        "Répondu": ["2", "25 %"], "Message laissé": ["1", "12,5 %"],
        "Sans réponse": ["1", "12,5 %"], "Information donnée": ["0", "0 %"],
        "Raccroché": ["4", "50 %"],
    }
    assert table(html, "tableau-raccrochages") == {
        "Patient — problème technique": ["2"], "Accueil": ["1"],
        "Patient — problème avec une application": ["1"]}
    assert tables(html)["tableau-echecs"][0] == ["Étape", "Trop d'essais manqués",
                                                 "Erreur technique", "Total"]
    assert table(html, "tableau-echecs") == {
        "Accueil": ["2", "0", "2"],
        "Patient — problème avec une application": ["0", "1", "1"],
        "Patient — problème technique": ["1", "0", "1"]}

    days = table(html, "tableau-jours")
    assert len(days) == 30
    assert days["lundi 30 novembre 2026"] == ["3", "0", "1", "0", "4"]
    assert days["mardi 1er décembre 2026"] == ["1", "2", "0", "0", "3"]
    assert days["dimanche 15 novembre 2026"] == ["0", "0", "0", "1", "1"]
    assert days["lundi 2 novembre 2026"] == ["0", "0", "0", "0", "0"]
    hours = table(html, "tableau-heures")
    assert hours["9 h à 10 h"] == ["0", "3", "0", "0", "0", "0", "0", "3"]
    assert hours["23 h à 24 h"] == ["1", "0", "0", "0", "0", "0", "0", "1"]


def test_charts_are_inline_svg_with_titles_and_the_same_numbers(app, console):
    seed(lambda events: write(app, events))
    html = page(console, "/admin/statistiques")
    charts = re.findall(r'<svg [^>]*id="(graphique-[a-z]+)"[^>]*role="img"', html)
    assert charts == ["graphique-jours", "graphique-resultats", "graphique-raccrochages",
                      "graphique-echecs", "graphique-heures"]
    days = re.search(r'<svg [^>]*id="graphique-jours".*?</svg>', html, re.S).group(0)
    assert days.count('<g class="column"') == 30
    monday = re.search(r'<g class="column" data-label="lundi 30 novembre 2026" '
                       r'data-total="(\d+)">(.*?)</g>', days, re.S)
    assert monday and monday.group(1) == "4"
    assert re.findall(r'data-series="([^"]+)" data-value="(\d+)"', monday.group(2)) == [
        ("Patient ou proche aidant", "3"),
        ("Urgence informatique (CSI, poste 5656, ou CDA)", "1")]
    assert "lundi 30 novembre 2026 — Patient ou proche aidant : 3 appels" in days
    outcomes = re.search(r'<svg [^>]*id="graphique-resultats".*?</svg>', html, re.S).group(0)
    assert re.findall(r'data-label="([^"]+)" data-value="(\d+)"', outcomes) == [
        ("Répondu", "2"), ("Message laissé", "1"), ("Sans réponse", "1"),
        ("Information donnée", "0"), ("Raccroché", "4")]
    heat = re.search(r'<svg [^>]*id="graphique-heures".*?</svg>', html, re.S).group(0)
    assert 'data-day="1" data-hour="9" data-value="3"' in heat
    # The legend uses the same colour classes as the bars.
    assert re.search(r'<span class="swatch s0" aria-hidden="true"></span>Patient ou proche '
                     r'aidant', html)
    # The CSP allows no inline script or style, and nothing from elsewhere.
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


def test_a_chosen_period_and_an_empty_one(app, console):
    seed(lambda events: write(app, events))
    html = page(console, "/admin/statistiques?du=2026-11-30&au=2026-11-30")
    assert element_text(html, "resume").startswith("Du lundi 30 novembre 2026 au lundi "
                                                   "30 novembre 2026 : 4 appels.")
    assert list(table(html, "tableau-jours")) == ["lundi 30 novembre 2026"]
    assert 'href="/admin/statistiques.csv?du=2026-11-30&amp;au=2026-11-30"' in html
    html = page(console, "/admin/statistiques?du=2026-06-01&au=2026-06-30")
    assert element_text(html, "aucun-appel") == "Aucun appel pendant cette période."
    assert "<svg" not in html


def test_a_long_period_gets_one_bar_per_week(app, console):
    seed(lambda events: write(app, events))
    html = page(console, "/admin/statistiques?du=2026-01-01&au=2026-12-01")
    assert element_text(html, "jours-titre") == "Appels par semaine et par branche"
    days = re.search(r'<svg [^>]*id="graphique-jours".*?</svg>', html, re.S).group(0)
    weeks = re.findall(r'<g class="column" data-label="([^"]+)" data-total="(\d+)"', days)
    assert len(weeks) == 49  # the weeks starting 29 December 2025 … 30 November 2026
    assert weeks[0] == ("semaine du lundi 29 décembre 2025", "0")
    assert weeks[-1] == ("semaine du lundi 30 novembre 2026", "7")  # 30 Nov + 1 Dec
    assert ("semaine du lundi 26 octobre 2026", "1") in weeks  # 1 November, a Sunday
    assert len(table(html, "tableau-jours")) == 335  # the table still has every day


def test_bad_dates_are_explained_not_fatal(app, console):
    html = page(console, "/admin/statistiques?du=2026-13-01&au=2026-12-01")
    errors = re.findall(r'<p class="error" role="alert">(.*?)</p>', html)
    assert errors == ["Date invalide : « 2026-13-01 ». Le format attendu est AAAA-MM-JJ."]
    assert 'value="2026-11-02"' in html
    html = page(console, "/admin/statistiques?du=2026-12-01&au=2026-11-01")
    assert "inversées" in html and 'value="2026-11-01"' in html


def test_quick_periods(console):
    html = page(console, "/admin/statistiques")
    links = dict((unescape(label), unescape(href)) for href, label in re.findall(
        r'<li><a class="button" href="([^"]+)"[^>]*>([^<]+)</a></li>', html))
    assert links["Aujourd'hui"] == "/admin/statistiques?du=2026-12-01&au=2026-12-01"
    assert links["7 derniers jours"] == "/admin/statistiques?du=2026-11-25&au=2026-12-01"
    assert links["Mois précédent"] == "/admin/statistiques?du=2026-11-01&au=2026-11-30"
    assert re.search(r'href="/admin/statistiques\?du=2026-11-02&amp;au=2026-12-01" '
                     r'aria-current="true">30 derniers jours', html)


# ---------------------------------------------------------------------- CSV


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))


def test_csv_one_row_per_call_in_local_time(app, console):
    seed(lambda events: write(app, events))
    response = console.get("/admin/statistiques.csv?du=2026-11-30&au=2026-12-01")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="appels-2026-11-30-au-2026-12-01.csv"')
    rows = read_csv(response)
    assert rows[0] == ["Date", "Heure", "Jour", "Branche", "Résultat", "Dernière étape",
                       "Destination", "Durée (secondes)", "Langue"]
    assert len(rows) == 1 + 7
    assert rows[1] == ["2026-11-30", "08:00:00", "lundi",
                       "Urgence informatique (CSI, poste 5656, ou CDA)", "Sans réponse",
                       "Urgence informatique (CSI, poste 5656, ou CDA)",
                       "Centre de services informatiques (CSI) de la DRT", "60", "Français"]
    assert rows[4] == ["2026-11-30", "23:59:00", "lundi", "Patient ou proche aidant",
                       "Raccroché", "Patient — problème avec une application", "", "60",
                       "Français"]
    assert rows[5] == ["2026-12-01", "09:05:00", "mardi",
                       "Intervenant, médecin ou agente administrative", "Répondu",
                       "Urgence informatique (CSI, poste 5656, ou CDA)",
                       "Centre de services informatiques (CSI) de la DRT", "125", "Français"]
    assert rows[7][4:7] == ["Message laissé", "Boîte vocale de l'équipe télésanté",
                            "Boîte vocale : Équipe télésanté"]
    # The default period matches the page's.
    assert len(read_csv(console.get("/admin/statistiques.csv"))) == 1 + 8


def test_csv_cells_never_run_as_formulas():
    assert _cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert _cell("+1514") == "'+1514" and _cell("@x") == "'@x" and _cell("-2") == "'-2"
    assert _cell("Accueil") == "Accueil" and _cell(None) == "" and _cell(60) == "60"


# ---------------------------------------------------------------------- through the line


def test_calls_played_through_the_line_show_up(make_app):
    """Real webhooks and the real worker: the journal stamps real time, so ask for today."""
    app = make_app()
    CallSimulator(app).play("2,1,1,1")  # staff, answered by the CSI
    CallSimulator(app).play("5,5,5")  # three wrong keys at the welcome menu: voicemail
    assert services(app).worker.drain()
    today = datetime.now(TZ).date()
    around = f"du={today - timedelta(days=1)}&au={today + timedelta(days=1)}"
    client = logged_in(app)
    html = page(client, f"/admin/statistiques?{around}")
    assert table(html, "tableau-resultats")["Répondu"][0] == "1"
    assert table(html, "tableau-resultats")["Message laissé"][0] == "1"
    assert table(html, "tableau-echecs")["Accueil"] == ["1", "0", "1"]
    assert table(html, "tableau-branches")[
        "Intervenant, médecin ou agente administrative"][0] == "1"
    rows = read_csv(client.get(f"/admin/statistiques.csv?{around}"))
    assert sorted(r[4] for r in rows[1:]) == ["Message laissé", "Répondu"]
