"""Horaires et jours fériés: the year ahead, weekly hours, and "what happens at…" an instant.

The clock is frozen at 2026-12-01T10:00-05:00 (conftest). The route walk is checked against
the line itself (ivr.voice.Turn), so the page cannot drift from what callers get.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from click.testing import CliRunner
from console import logged_in
from test_local_days import add_local_days

from ivr import REPO_ROOT, cli_schedule
from ivr.admin.schedules import fr_date, fr_offset, fr_phone, route_plan
from ivr.flow import CallState, Transfer, Turn
from ivr.lines import current_config
from ivr.schedule import TZ, WEEKDAYS, Period, local_instant, overlapping
from ivr.voice import URLS
from ivr.yamlsource import Where

VOID = {"br", "img", "input", "meta", "link", "hr", "col", "source", "wbr"}


# --------------------------------------------------------------------------- a tiny DOM


class El:
    def __init__(self, tag: str, attrs: dict[str, str], parent: El | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[El | str] = []

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return re.sub(r"\s+", " ", " ".join(parts)).strip()

    def iter(self, tag: str | None = None):
        for child in self.children:
            if isinstance(child, El):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def find_id(self, element_id: str) -> El | None:
        return next((e for e in self.iter() if e.attrs.get("id") == element_id), None)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Dom(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = El("#root", {}, None)
        self.current = self.root
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = El(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def page(client, query: str = "", status: int = 200) -> El:
    response = client.get(f"/admin/horaires{query}")
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return Dom(response.get_data(as_text=True)).root


def element(root: El, element_id: str) -> El:
    found = root.find_id(element_id)
    assert found is not None, f"no #{element_id}"
    return found


def holidays(root: El, calendar_id: str) -> dict[str, tuple[str, str, str]]:
    """date -> (name cell, reason, date text) of a calendar's table."""
    section = element(root, f"calendrier-{calendar_id}")
    rows = {}
    for tr in section.iter("tr"):
        if "data-date" in tr.attrs:
            cells = list(tr.iter("td"))
            rows[tr.attrs["data-date"]] = (cells[1].text(), cells[2].text(), cells[0].text())
    return rows


def plan_items(root: El, node_id: str) -> list[dict[str, str]]:
    row = element(root, f"route-{node_id}")
    return [{**li.attrs, "text": li.text()} for li in row.iter("li")]


def outcome(root: El, node_id: str) -> str:
    row = element(root, f"route-{node_id}")
    return next(td for td in row.iter("td") if "outcome" in td.classes()).text()


# --------------------------------------------------------------------------- the year ahead


@pytest.fixture
def with_local_days(make_app, config_copy: Path):
    """A console on a copy of the config with the 2026-2027 local days listed (24 December
    from noon, 31 December): the shipped calendar lists none."""
    return logged_in(make_app(IVR_CONFIG_DIR=str(add_local_days(config_copy))))


def test_holidays_of_the_next_twelve_months_with_names_and_reasons(with_local_days) -> None:
    root = page(with_local_days)
    rsss = holidays(root, "rsss")
    assert rsss["2026-12-25"][0].startswith("Noël")
    assert rsss["2026-12-25"][2] == "vendredi 25 décembre 2026"
    assert rsss["2027-01-01"][0].startswith("Jour de l'An")
    assert rsss["2027-01-01"][2] == "vendredi 1er janvier 2027"
    assert rsss["2027-01-01"][1] == "LNT art. 60, 1° — le 1er janvier."
    # Good Friday 2027: Easter is 28 March.
    assert rsss["2027-03-26"][0].startswith("Vendredi saint")
    assert rsss["2027-03-29"][0].startswith("Lundi de Pâques")
    # The partial day says so, a local day too; inherited days say where they come from.
    assert "Veille de Noël à partir de 12 h jour local" in rsss["2026-12-24"][0]
    assert "à partir de" not in rsss["2026-12-31"][0]
    assert "jour local" in rsss["2026-12-31"][0] and "jour local" not in rsss["2026-12-25"][0]
    assert "du calendrier « Jours fériés du Québec" in rsss["2026-12-25"][0]
    assert "du calendrier" not in rsss["2026-12-26"][0]
    # Exactly the window [2026-12-01, 2027-12-01): Noël 2027 is not yet listed.
    assert min(rsss) >= "2026-12-01" and max(rsss) < "2027-12-01"
    assert "2027-12-25" not in rsss and "2027-09-06" in rsss  # Fête du Travail 2027
    assert len(rsss) == 13  # the RSSS's 13 days
    quebec = holidays(root, "quebec")
    assert "2027-03-29" not in quebec and "2026-12-26" not in quebec
    assert quebec["2027-06-24"][0].startswith("Fête nationale du Québec")
    gouvernement = holidays(root, "gouvernement")
    assert gouvernement["2027-01-02"][0].startswith("Lendemain du jour de l'An")
    assert "2026-12-24" not in gouvernement
    # 2027-2028's local days are not listed yet: the page says so.
    notice = element(root, "avis-jours-locaux").text()
    assert "1er juillet 2027 au 30 juin 2028" in notice
    assert "1er juillet 2026" not in notice


def test_the_shipped_calendar_has_no_local_day(console) -> None:
    rsss = holidays(page(console), "rsss")
    assert len(rsss) == 11  # 13 once the 2 local days are listed
    assert "2026-12-24" not in rsss and "2026-12-31" not in rsss
    assert not any("jour local" in row[0] for row in rsss.values())


def test_missing_local_days_are_a_visible_notice(console) -> None:
    notice = element(page(console), "avis-jours-locaux")
    assert notice.attrs.get("role") == "status"
    items = [li.text() for li in notice.iter("li")]
    assert len(items) == 2
    assert items[0].startswith("rsss : aucun jour local inscrit pour la période du "
                               "1er juillet 2026 au 30 juin 2027 (2 attendus)")
    assert "1er juillet 2027 au 30 juin 2028" in items[1]
    line = next(i for i, text in enumerate(
        (REPO_ROOT / "schedules/calendars/rsss.yaml").read_text(encoding="utf-8").splitlines(),
        1) if text.startswith("local_days_per_period:"))
    assert all(item.endswith(f"dans schedules/calendars/rsss.yaml (ligne {line})")
               for item in items)


def test_no_notice_once_the_local_days_are_listed(make_app, config_copy: Path) -> None:
    add_local_days(config_copy, """
  - {name: Veille de Noël, date: 2026-12-24, from: "12:00", local: true, why: essai}
  - {name: Veille du jour de l'An, date: 2026-12-31, local: true, why: essai}
  - {name: Veille de Noël, date: 2027-12-24, from: "12:00", local: true, why: essai}
  - {name: Veille du jour de l'An, date: 2027-12-31, local: true, why: essai}
""")
    root = page(logged_in(make_app(IVR_CONFIG_DIR=str(config_copy))))
    assert root.find_id("avis-jours-locaux") is None
    assert "jour local" in holidays(root, "rsss")["2026-12-24"][0]


def test_the_window_follows_the_clock(make_app) -> None:
    client = logged_in(make_app(IVR_NOW="2027-06-30T09:00:00-04:00"))
    rsss = holidays(page(client), "rsss")
    assert min(rsss) == "2027-07-01" and "2028-04-14" in rsss  # Good Friday 2028
    assert "2026-12-25" not in rsss and "2027-12-25" in rsss


def test_a_holiday_links_to_what_happens_that_day(with_local_days) -> None:
    section = element(page(with_local_days), "calendrier-rsss")
    row = next(tr for tr in section.iter("tr") if tr.attrs.get("data-date") == "2026-12-24")
    href = next(row.iter("a")).attrs["href"]
    assert parse_qs(urlsplit(href).query)["a"] == ["2026-12-24T13:00"]  # while closed
    root = page(with_local_days, "?" + urlsplit(href).query)
    assert "jour férié : Veille de Noël" in element(root, "etat-csi").text()


# --------------------------------------------------------------------------- weekly hours


def expected_week(hours) -> list[list[str]] | str:
    """providers.yaml's hours as the table writes them ("07:00-17:00" -> "7 h à 17 h")."""
    if hours == "always":
        return "always"

    def clock(text: str) -> str:
        h, m = (int(x) for x in text.split(":"))
        return f"{h} h {m:02d}" if m else f"{h} h"

    week: list[list[str]] = [[] for _ in WEEKDAYS]
    for spec, ranges in (hours or {}).items():
        first, _, last = spec.partition("-")
        days = range(WEEKDAYS.index(first), WEEKDAYS.index(last or first) + 1)
        for day in days:
            week[day] += [" à ".join(clock(t) for t in r.split("-")) for r in ranges]
    return week


def hours_row(root: El, provider_id: str) -> list[str]:
    return [td.text() for td in element(root, f"heures-{provider_id}").iter("td")]


def test_hours_table_matches_providers_yaml(console) -> None:
    providers = yaml.safe_load((REPO_ROOT / "schedules" / "providers.yaml").read_text(
        encoding="utf-8"))["providers"]
    root = page(console)
    headers = [th.text() for th in element(root, "table-heures").iter("th")][1:9]
    assert headers == ["Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche",
                       "Calendrier"]
    for provider_id in ("csi", "cssns", "gbm", "reacts", "equipe_soins"):
        cells = hours_row(root, provider_id)
        week = expected_week(providers[provider_id]["hours"])
        assert cells[:7] == [" ".join(day) or "fermé" for day in week], provider_id
    assert hours_row(root, "csi")[:7] == ["7 h à 17 h"] * 5 + ["fermé", "fermé"]
    assert hours_row(root, "cssns")[:5] == ["7 h à 18 h"] * 5
    assert hours_row(root, "csi")[7] == "Jours fériés du réseau de la santé (RSSS)"
    assert hours_row(root, "cssns")[7] == "Jours fériés du gouvernement du Québec"
    assert hours_row(root, "cda") == ["en tout temps (jours fériés compris)", "aucun"]
    assert "514 251-4000, poste 5656" in element(root, "heures-csi").text()


def test_several_ranges_a_day_and_a_changed_file(make_app, config_copy: Path) -> None:
    path = config_copy / "schedules" / "providers.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('''      mon-fri: ["07:00-17:00"]

  cda:''', '''      mon-fri: ["07:00-17:00"]
      sat: ["09:00-12:00", "13:00-16:30"]

  cda:''')
    path.write_text(text, encoding="utf-8")
    root = page(logged_in(make_app(IVR_CONFIG_DIR=str(config_copy))))
    cells = element(root, "heures-csi").iter("td")
    saturday = list(cells)[5]
    assert [s.text() for s in saturday.iter("span")] == ["9 h à 12 h", "13 h à 16 h 30"]


# --------------------------------------------------------------------------- what happens at…


def test_christmas_morning(console) -> None:
    root = page(console, "?a=2026-12-25T10:00")
    assert "vendredi 25 décembre 2026, 10 h" in element(root, "instant-choisi").text()
    assert "UTC−05:00, heure normale de l'Est" in element(root, "instant-choisi").text()
    csi = element(root, "etat-csi")
    assert csi.attrs["data-open"] == "non"
    assert "jour férié : Noël" in csi.text()
    assert "réouverture le lundi 28 décembre 2026, 7 h" in csi.text()
    assert element(root, "etat-cda").attrs["data-open"] == "oui"
    # urgence_ti: CSI skipped (Noël), CDA dialled, then the voicemail if nobody answers.
    assert "(CDA)" in outcome(root, "urgence_ti")
    steps = plan_items(root, "urgence_ti")
    assert [(s["data-kind"], s.get("data-provider")) for s in steps] == [
        ("skip", "csi"), ("dial", "cda"), ("goto", None)]
    assert "Noël" in steps[0]["text"]
    assert "514 251-3050" in steps[1]["text"]
    assert steps[2]["data-target"] == "vm_telesante"
    assert steps[2]["text"].startswith("Si personne ne répond")
    # The CSSNS is closed: its closed: node, not a dial.
    cssns = plan_items(root, "cssns")
    assert [(s["data-kind"], s.get("data-target")) for s in cssns] == [("closed", "cssns_ferme")]
    assert outcome(root, "cssns") == "Message « CSSNS fermé »"
    # Patients reach the CSSNS through their own route, and its own closed message.
    patients = plan_items(root, "cssns_patients")
    assert [(s["data-kind"], s.get("data-target")) for s in patients] == [
        ("closed", "cssns_ferme_patients")]
    assert outcome(root, "cssns_patients") == "Message « CSSNS fermé (patient) »"
    assert outcome(root, "patient_plateformes") == "Message « CSSNS fermé (patient) »"


def test_a_weekday_morning_dials_the_csi(console) -> None:
    for query in ("?a=2026-12-01T10:00", ""):
        root = page(console, query)
        assert element(root, "etat-csi").attrs["data-open"] == "oui"
        assert "jusqu'au mardi 1er décembre 2026, 17 h" in element(root, "etat-csi").text()
        assert "(CSI)" in outcome(root, "urgence_ti")
        steps = plan_items(root, "urgence_ti")
        assert [(s["data-kind"], s.get("data-provider")) for s in steps] == [
            ("dial", "csi"), ("dial", "cda"), ("goto", None)]
        assert "poste 5656" in steps[0]["text"]
        assert "(CSSNS)" in outcome(root, "cssns")
        # The care team has no line: its route ends at the patients' voicemail.
        assert outcome(root, "equipe_soins") == \
            "Boîte vocale « Messages des patients pour leur service »"
    assert "maintenant" in element(page(console), "instant-choisi").text()


def test_link_to_the_simulator_at_that_instant(console, app) -> None:
    if "admin.simulator" not in app.view_functions:
        pytest.skip("the simulator page is not part of this build")
    href = element(page(console, "?a=2026-12-25T10:00"), "lien-simulateur").attrs["href"]
    parts = urlsplit(href)
    assert parts.path == "/admin/simulateur"
    assert parse_qs(parts.query)["a"] == ["2026-12-25T10:00-05:00"]


@pytest.mark.parametrize(("value", "message"), [
    ("demain matin", "n'est pas une date et une heure valide"),
    ("2026-02-30T10:00", "n'existe pas au calendrier"),
    ("9999-01-01T10:00", "Choisissez une date entre 2000 et 2100."),
    ("2026-12-25T10:00'><script>", "n'est pas une date et une heure valide"),
])
def test_a_bad_instant_is_explained_in_french(console, value: str, message: str) -> None:
    response = console.get("/admin/horaires", query_string={"a": value})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<script>" not in html.split("</head>")[1]
    root = Dom(html).root
    error = element(root, "erreur-instant")
    assert message in error.text() and error.attrs["role"] == "alert"
    assert element(root, "a").attrs["aria-invalid"] == "true"
    assert root.find_id("routes-instant") is None
    assert hours_row(root, "csi")[0] == "7 h à 17 h"  # the rest of the page is still there


def test_a_time_skipped_by_daylight_saving(console) -> None:
    root = page(console, "?a=2027-03-14T02:30")
    chosen = element(root, "instant-choisi").text()
    assert "dimanche 14 mars 2027, 3 h 30" in chosen and "UTC−04:00" in chosen
    assert "n'existe pas" in element(root, "avis-heure").text()
    assert element(root, "a").attrs["value"] == "2027-03-14T03:30"


def test_a_time_that_happens_twice(console) -> None:
    root = page(console, "?a=2026-11-01T01:30")
    assert "UTC−04:00, heure avancée" in element(root, "instant-choisi").text()
    notice = element(root, "avis-heure")
    assert "arrive deux fois" in notice.text()
    other = next(notice.iter("a")).attrs["href"]
    assert parse_qs(urlsplit(other).query)["a"] == ["2026-11-01T01:30-05:00"]
    second = page(console, "?" + urlsplit(other).query)
    assert "UTC−05:00, heure normale" in element(second, "instant-choisi").text()
    assert "UTC−04:00" in element(second, "avis-heure").text()


def test_local_instant() -> None:
    assert local_instant(dt.datetime(2026, 12, 25, 10)).kind == "normal"
    gap = local_instant(dt.datetime(2027, 3, 14, 2, 30))
    assert gap.kind == "gap" and gap.instant.isoformat() == "2027-03-14T03:30:00-04:00"
    twice = local_instant(dt.datetime(2026, 11, 1, 1, 30))
    assert twice.kind == "ambiguous"
    assert twice.instant.isoformat() == "2026-11-01T01:30:00-04:00"
    assert twice.other is not None and twice.other.isoformat() == "2026-11-01T01:30:00-05:00"
    assert twice.other.timestamp() - twice.instant.timestamp() == 3600


def test_french_formats() -> None:
    assert fr_date(dt.date(2027, 1, 1)) == "vendredi 1er janvier 2027"
    assert fr_phone("+15142514000") == "514 251-4000"
    assert fr_phone("+18335640404") == "1 833 564-0404"
    assert fr_offset(dt.datetime(2027, 7, 1, 12, tzinfo=TZ)) == "UTC−04:00, heure avancée de l'Est"


# --------------------------------------------------------------------------- agrees with the line


INSTANTS = ["2026-12-01T10:00-05:00", "2026-12-01T20:00-05:00", "2026-12-05T10:00-05:00",
            "2026-12-25T10:00-05:00", "2026-12-24T13:00-05:00", "2027-03-29T10:00-04:00",
            "2026-12-01T17:30-05:00"]


def line_says(app, node_id: str, at: dt.datetime) -> tuple[list[str], str | None]:
    """What the real webhooks do: numbers dialled while nobody answers, then the node the call
    ends on (None when the last dial would be answered... never: we keep refusing)."""
    numbers: list[str] = []
    with app.test_request_context("/voice"):
        config = current_config()
        turn = Turn(config, at, URLS)
        decision = turn.enter(node_id, CallState())
        while isinstance(decision, Transfer):
            numbers.append(decision.number)
            route, step = urlsplit(decision.action).path.split("/")[-2:]
            turn = Turn(config, at, URLS)
            decision = turn.route(config.nodes[route], int(step) + 1, CallState(), (), 0)
        entered = [n["node"] for n in turn.notes if n["kind"] == "enter"]
        return numbers, entered[-1] if entered else None


@pytest.mark.parametrize("instant", INSTANTS)
def test_route_plan_agrees_with_the_line(app, instant: str) -> None:
    at = dt.datetime.fromisoformat(instant).astimezone(TZ)
    with app.app_context():
        config = current_config()
        routes = [n.id for n in config.nodes.values() if n.type == "route"]
        assert len(routes) >= 10
        for node_id in routes:
            plan = route_plan(config, node_id, at)
            numbers, last = line_says(app, node_id, at)
            dialled = [config.providers[s.provider].phone for s in plan if s.kind == "dial"]
            assert dialled == numbers, (node_id, instant)
            assert plan[-1].target == last, (node_id, instant)


# --------------------------------------------------------------------------- exceptions


def test_closures_and_openings_of_the_next_twelve_months(make_app, config_copy: Path) -> None:
    rsss = config_copy / "schedules" / "calendars" / "rsss.yaml"
    rsss.write_text(rsss.read_text(encoding="utf-8") + """
closures:
  - {from: 2027-02-15T12:00, to: 2027-02-15T16:00, name: Panne du réseau, why: Essai de panne}
  - {from: 2026-11-02, to: 2026-11-02, name: Fermeture passée, why: déjà finie}
  - {from: 2028-01-10, to: 2028-01-10, name: Fermeture lointaine, why: dans plus d'un an}
""", encoding="utf-8")
    providers = config_copy / "schedules" / "providers.yaml"
    text = providers.read_text(encoding="utf-8").replace('''      mon-fri: ["07:00-17:00"]

  cda:''', '''      mon-fri: ["07:00-17:00"]
    closures:
      - {from: 2027-03-10T12:00, to: 2027-03-10T17:00, name: Formation du CSI, why: Formation}
    openings:
      - {from: 2027-03-13T09:00, to: 2027-03-13T12:00, name: Samedi de déploiement,
         why: Déploiement}

  cda:''')
    providers.write_text(text, encoding="utf-8")
    client = logged_in(make_app(IVR_CONFIG_DIR=str(config_copy)))
    root = page(client)
    rows = [[c.text() for c in tr.iter() if c.tag in ("td", "th")]
            for tr in element(root, "table-exceptions").iter("tr")][1:]
    names = [row[1] for row in rows]
    assert [n.split(" calendrier")[0].split(" équipe")[0] for n in names] == [
        "Panne du réseau", "Formation du CSI", "Samedi de déploiement"]
    outage, training, saturday = rows
    assert outage[0] == "Fermeture"
    assert "calendrier « Jours fériés du réseau de la santé (RSSS) »" in outage[1]
    assert outage[2] == "lundi 15 février 2027, 12 h" and outage[3] == "lundi 15 février 2027, 16 h"
    assert "Centre de services informatiques (CSI) de la DRT" in outage[4]
    assert "Génie biomédical (GBM)" in outage[4] and "CSSNS" not in outage[4]
    assert outage[5] == "Essai de panne"
    assert "équipe « Centre de services informatiques (CSI) de la DRT »" in training[1]
    assert saturday[0] == "Ouverture exceptionnelle"
    # And the line at those instants.
    during = page(client, "?a=2027-02-15T13:00")
    assert "fermeture : Panne du réseau" in element(during, "etat-csi").text()
    assert "(CDA)" in outcome(during, "urgence_ti")
    opened = page(client, "?a=2027-03-13T10:00")
    assert element(opened, "etat-csi").attrs["data-open"] == "oui"
    assert "ouverture exceptionnelle : Samedi de déploiement" in element(opened, "etat-csi").text()
    assert "(CSI)" in outcome(opened, "urgence_ti")


def test_no_exception_says_so(console) -> None:
    root = page(console)
    assert "Aucune fermeture ni ouverture exceptionnelle" in element(root,
                                                                     "aucune-exception").text()


# --------------------------------------------------------------------------- shared with the CLI


def test_overlapping_bounds() -> None:
    def period(start: str, end: str) -> Period:
        return Period(dt.datetime.fromisoformat(start).replace(tzinfo=TZ),
                      dt.datetime.fromisoformat(end).replace(tzinfo=TZ), start, "", "x",
                      Where("x", 1))

    year = (dt.datetime(2027, 1, 1, tzinfo=TZ), dt.datetime(2028, 1, 1, tzinfo=TZ))
    ends_at_new_year = period("2026-12-31T12:00", "2027-01-01T00:00")
    across = period("2026-12-31T23:00", "2027-01-01T01:00")
    inside = period("2027-05-01T00:00", "2027-05-02T00:00")
    assert overlapping([inside, across, ends_at_new_year], *year) == [across, inside]


def test_cli_holidays_lists_a_year_s_closures(monkeypatch, config_copy: Path) -> None:
    rsss = config_copy / "schedules" / "calendars" / "rsss.yaml"
    rsss.write_text(rsss.read_text(encoding="utf-8") + """
closures:
  - {from: 2026-12-31T12:00, to: 2027-01-01T00:00, name: Avant l'An, why: test}
  - {from: 2027-12-31T23:00, to: 2028-01-01T01:00, name: Nuit du réveillon, why: test}
""", encoding="utf-8")
    monkeypatch.setenv("IVR_CONFIG_DIR", str(config_copy))
    result = CliRunner().invoke(cli_schedule.holidays_command, ["2027"])
    assert result.exit_code == 0, result.output
    assert "Avant l'An" not in result.output
    assert ("  fermeture 2027-12-31T23:00-05:00 → 2028-01-01T01:00-05:00  Nuit du réveillon"
            "  [rsss]") in result.output
