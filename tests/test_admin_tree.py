"""Arborescence: the SVG diagram, its nested-list twin and full texts, from the served YAML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from console import logged_in

from ivr.loading import load

NS = "{http://www.w3.org/2000/svg}"
SHIPPED = load(Path(__file__).resolve().parent.parent)


def svg_of(client) -> ET.Element:
    response = client.get("/admin/arborescence.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return ET.fromstring(response.get_data())


def groups(svg: ET.Element, kind: str) -> list[ET.Element]:
    return [g for g in svg.iter(f"{NS}g") if kind in g.get("class", "").split()]


def title_of(element: ET.Element) -> str:
    found = element.find(f"{NS}title")
    if found is None:
        found = element.find(f"{NS}a/{NS}title")
    assert found is not None
    return found.text or ""


def texts_of(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{NS}text")]


def rect_of(element: ET.Element) -> tuple[float, float, float, float]:
    rect = next(element.iter(f"{NS}rect"))
    return (float(rect.get("x")), float(rect.get("y")), float(rect.get("width")),
            float(rect.get("height")))


# --------------------------------------------------------------------------- the SVG


def test_every_node_is_drawn_once_with_its_title(console) -> None:
    svg = svg_of(console)
    nodes = groups(svg, "node")
    assert len(SHIPPED.nodes) == 46
    assert sorted(g.get("data-node") for g in nodes) == sorted(SHIPPED.nodes)
    for g in nodes:
        node = SHIPPED.nodes[g.get("data-node")]
        assert g.get("id") == f"n-{node.id}" and g.get("data-type") == node.type
        assert title_of(g).startswith(f"{node.title} (")  # the full title, in the tooltip
        drawn = texts_of(g)
        assert node.id in drawn[0] or node.id == drawn[1]  # the id, whole
        assert node.title.split()[0] in " ".join(drawn)
    accueil = next(g for g in nodes if g.get("data-node") == "accueil")
    # The full prompt is in the tooltip, its start in the box.
    assert "Bonjour, soutien technologique en télésanté du " \
           "CIUSSS de l'Est-de-l'Île-de-Montréal." in title_of(accueil)
    assert any(t.startswith("« Bonjour, soutien technologique") for t in texts_of(accueil))


def test_every_option_is_one_edge_with_its_key(console) -> None:
    svg = svg_of(console)
    edges = groups(svg, "option")
    expected = Counter((n.id, key, o.to) for n in SHIPPED.nodes.values()
                       for key, o in n.options.items())
    assert len(edges) == sum(len(n.options) for n in SHIPPED.nodes.values()) == 45
    drawn = Counter((g.get("data-from"), g.get("data-key"), g.get("data-to")) for g in edges)
    assert drawn == expected
    for g in edges:  # the key is written on the edge
        assert texts_of(g) == [g.get("data-key")]


def test_shortcuts_reserved_digit_and_fallbacks_are_marked(console) -> None:
    svg = svg_of(console)
    shortcuts = {(g.get("data-key"), g.get("data-to")) for g in groups(svg, "shortcut")}
    assert shortcuts == {("*11", "urgence_ti"), ("*21", "cssns"), ("*31", "vm_nouveau_projet"),
                         ("*90", "vm_telesante")}
    assert all(g.get("data-from") == "accueil" for g in groups(svg, "shortcut"))
    reserved = groups(svg, "reserved")
    assert [g.get("data-key") for g in reserved] == ["9", "9"]  # the edge and its box
    assert "service en anglais (prompts/en-CA.yaml)" in title_of(reserved[1])
    legend = " ".join(texts_of(groups(svg, "legend")[0]))
    assert "Après 3 essais manqués dans un menu : Boîte vocale de l'équipe télésanté " \
           "(vm_telesante)." in legend
    assert "Touche 9 à l'accueil (en français) : service en anglais" in legend
    assert "réservée" not in legend  # English is on: 9 is in use, not kept back
    assert "Après une panne technique" in legend
    boxes = {g.get("data-node"): " ".join(texts_of(g)) for g in groups(svg, "node")}
    assert "raccourci *11" in boxes["urgence_ti"] and "repli après une panne" in boxes[
        "urgence_ti"]
    assert "raccourci *90 · repli après 3 essais manqués" in boxes["vm_telesante"]
    # Destinations say what they do.
    assert "Compose CSI, puis CDA" in boxes["urgence_ti"]
    assert "Boîte « Équipe télésanté »" in boxes["vm_telesante"]
    assert {g.get("data-to") for g in groups(svg, "closed")} == {"cssns_ferme",
                                                                 "cssns_ferme_patients"}


def test_shared_destinations_are_drawn_once_and_referenced(console) -> None:
    svg = svg_of(console)
    ids = {g.get("id") for g in groups(svg, "node")}
    refs = groups(svg, "ref")
    for g in refs:
        link = g.find(f"{NS}a")
        assert link is not None and link.get("href") == f"#n-{g.get('data-ref')}"
        assert link.get("href")[1:] in ids
    # urgence_ti is reached by 4 options and a shortcut: drawn once, referenced 4 times.
    incoming = sum(1 for n in SHIPPED.nodes.values() for o in n.options.values()
                   if o.to == "urgence_ti") + 1
    assert incoming == 5
    assert sum(1 for g in refs if g.get("data-ref") == "urgence_ti") == incoming - 1
    assert sum(1 for g in groups(svg, "node") if g.get("data-node") == "urgence_ti") == 1
    # Every edge leads to a drawn box, main or reference.
    edges = [g for g in svg.iter(f"{NS}g") if "edge" in g.get("class", "").split()]
    assert len(edges) == len(groups(svg, "node")) - 1 + len(refs) + 1  # +1: the reserved 9


def test_the_layout_is_a_tidy_tree(console) -> None:
    svg = svg_of(console)
    width, height = float(svg.get("width")), float(svg.get("height"))
    assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}"
    boxes = [rect_of(g) for kind in ("node", "ref") for g in groups(svg, kind)]
    boxes.append(rect_of(groups(svg, "reserved")[1]))
    columns: dict[float, list[tuple[float, float]]] = {}
    for x, y, w, h in boxes:
        assert x >= 0 and x + w <= width and y >= 0 and y + h <= height
        columns.setdefault(x, []).append((y, y + h))
    assert len(columns) <= 7  # accueil + at most 6 levels, left to right
    for spans in columns.values():  # boxes of one column never overlap
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    root = next(g for g in groups(svg, "node") if g.get("data-node") == "accueil")
    x, y, _, _ = rect_of(root)
    assert x == min(columns) and y == min(b[1] for b in boxes)  # top left, where one starts
    assert width < 2600  # scrolls sideways on a tablet, but not endlessly


def test_texts_are_escaped_and_config_changes_show(make_app, config_copy: Path) -> None:
    ligne = config_copy / "menus" / "ligne.yaml"
    text = ligne.read_text(encoding="utf-8")
    second = '''      "2": {to: personnel, say: accueil.personnel}'''
    text = text.replace(second, second + '''
      "3": {to: fin_essai, say: accueil.patient}
  fin_essai:
    type: hangup
    title: "Fin <b>d'essai</b> & « test »"
    prompt: systeme.au_revoir''')
    text = text.replace("    title: Accueil\n", "    title: Accueil modifié\n")
    ligne.write_text(text, encoding="utf-8")
    client = logged_in(make_app(IVR_CONFIG_DIR=str(config_copy)))
    svg = svg_of(client)
    assert len(groups(svg, "option")) == 46
    boxes = {g.get("data-node"): g for g in groups(svg, "node")}
    assert title_of(boxes["fin_essai"]).startswith("Fin <b>d'essai</b> & « test » (fin d'appel")
    assert "Fin <b>d'essai</b> & « test »" in texts_of(boxes["fin_essai"])
    assert "Accueil modifié" in texts_of(boxes["accueil"])
    assert ("accueil", "3", "fin_essai") in {
        (g.get("data-from"), g.get("data-key"), g.get("data-to")) for g in groups(svg, "option")}
    html = client.get("/admin/arborescence").get_data(as_text=True)
    assert "<b>d'essai" not in html and "&lt;b&gt;d&#39;essai&lt;/b&gt; &amp;" in html
    assert "Fin &lt;b&gt;d'essai&lt;/b&gt; &amp; « test »" in html  # in the inline SVG


# --------------------------------------------------------------------------- the page


class Outline(HTMLParser):
    """The nested list (ul.tree-list): each item's depth, key and link."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.inside = False
        self.items: list[dict[str, object]] = []
        self._key = 0  # depth inside a span.key (it holds a visually-hidden span)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "ul" and "tree-list" in (a.get("class") or ""):
            self.inside = True
        if not self.inside:
            return
        if tag == "ul":
            self.depth += 1
        elif tag == "li":
            self.items.append({"depth": self.depth, "key": "", "href": None, "text": ""})
        elif tag == "span" and (self._key or "key" in (a.get("class") or "").split()):
            self._key += 1
        elif tag == "a" and self.items[-1]["href"] is None:
            self.items[-1]["href"] = a.get("href")

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "span" and self._key:
            self._key -= 1
        if tag == "ul":
            self.depth -= 1
            self.inside = self.depth > 0

    def handle_data(self, data):
        if self.inside and self.items:
            if self._key:
                self.items[-1]["key"] += data
            else:
                self.items[-1]["text"] += data


def test_page_has_the_diagram_a_nested_list_and_the_full_texts(console) -> None:
    response = console.get("/admin/arborescence")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    body = html.split("<body>")[1]
    # CSP: no inline script or style anywhere.
    assert not re.search(r"<script(?![^>]*\bsrc=)", body) and "<style" not in body
    assert not re.search(r"\sstyle=", body)
    assert '/admin/static/tree.js' in html and '/admin/static/tree.css' in html
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", body, re.S).group(0))
    assert len(groups(svg, "node")) == 46
    first_link = groups(svg, "node")[0].find(f"{NS}a")
    assert first_link is not None and first_link.get("href") == "#txt-accueil"
    outline = Outline()
    outline.feed(body)
    items = outline.items
    assert items[0] == {"depth": 1, "key": "", "href": "#txt-accueil",
                        "text": items[0]["text"]} and "Accueil" in items[0]["text"]
    keyed = [(i["depth"], i["key"].strip()) for i in items]
    assert (2, "Touche 1") in keyed and (2, "Touche 9") in keyed and (2, "Raccourci *11") in keyed
    option_items = [i for i in items if str(i["key"]).startswith("Touche ") and i["href"]]
    assert len(option_items) == 45  # every option once, reserved 9 has no link
    assert {i["href"] for i in items if i["href"]} == {f"#txt-{n}" for n in SHIPPED.nodes}
    assert max(i["depth"] for i in items) >= 5
    # Every node has its full text section, and every link in the page points somewhere.
    for node in SHIPPED.nodes.values():
        assert f'id="txt-{node.id}"' in html
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    for target in set(re.findall(r'href="#([^"]+)"', html)):
        assert target in ids, target
    section = html.split('id="txt-personnel_equipement_ciusss"')[1].split("</article>")[0]
    assert "Touche </span>1</span> « En cas d&#39;urgence, faites le 1. »" in section
    assert "texto envoyé à l'appelant : « " in section
    route = html.split('id="txt-urgence_ti"')[1].split("</article>")[0]
    assert "Compose Centre de services informatiques (CSI) de la DRT si l&#39;équipe est " \
           "ouverte" in route


def test_info_details_and_silence_are_in_the_full_texts(console) -> None:
    """An info node's ``details`` (said after its options) and where its silence goes are part
    of what the caller hears: the page's full texts show them."""
    html = console.get("/admin/arborescence").get_data(as_text=True)
    section = html.split('id="txt-personnel_equipement_ciusss"')[1].split("</article>")[0]
    assert "Sinon, faites une demande Octopus sous Informatique." in section
    assert "Déclarez tout incident sur l&#39;AH-233, mot-clé Télésanté." in section
    section = html.split('id="txt-personnel_question_plateformes"')[1].split("</article>")[0]
    assert "Consultez d&#39;abord la documentation du RQT : telesantequebec.ca." in section
    # Silence leads to the CSSNS too: named once for the option, once for the silence.
    assert "silence" in section.lower()
    assert section.count("CSSNS (plateformes provinciales)") == 2, section


def test_the_svg_download_matches_the_page(console) -> None:
    svg = svg_of(console)
    assert svg.tag == f"{NS}svg"
    assert svg.find(f"{NS}title").text.startswith("Arborescence de la ligne (version ")
    assert SHIPPED.version in svg.find(f"{NS}title").text
    # A file on its own: boxes do not link to the page's texts, references still link inside.
    assert all(g.find(f"{NS}a") is None for g in groups(svg, "node"))
    assert all(g.find(f"{NS}a") is not None for g in groups(svg, "ref"))


def test_the_tree_needs_a_session(app) -> None:
    client = app.test_client()
    for url in ("/admin/arborescence", "/admin/arborescence.svg"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/connexion" in response.headers["Location"]


def test_each_destination_shows_the_seconds_a_caller_listens_before_it(console) -> None:
    """ivr effort's figures on the diagram: what a longer prompt costs, before it goes live."""
    svg = ET.tostring(svg_of(console), encoding="unicode")
    assert re.search(r"Écoute \d+ s \(\*11\), budget 20 s<", svg)  # the box it reaches
    assert re.search(r"Écoute \d+ s \(1,2,2\), budget 40 s<", svg)
    assert re.search(r"Écoute \d+ s \(2,1,3\)<", svg)  # an information: no budget
    # urgence_ti is drawn once; the other paths to it are references, with their seconds.
    assert re.search(r"→ Urgence informatique[^<]* · \d+ s / 40 s<", svg)  # 2,1,1,1
    assert "TROP LONG" not in svg


# --------------------------------------------------------------------------- English (issue 18)


def test_a_french_only_line_has_no_language_selector(make_app, config_copy: Path) -> None:
    from test_english import set_languages

    set_languages(config_copy, "[fr-CA]")
    console = logged_in(make_app(IVR_CONFIG_DIR=str(config_copy)))
    html = console.get("/admin/arborescence").get_data(as_text=True)
    assert 'id="langues"' not in html and "prompts/fr-CA.yaml" in html
    # Asking for English there shows French.
    assert console.get("/admin/arborescence?langue=en").get_data(as_text=True).count(
        'id="langues"') == 0


def test_the_selector_shows_the_english_texts_on_the_same_tree(make_app,
                                                               config_copy: Path) -> None:
    from test_english import MARK, enable_english

    app = make_app(IVR_CONFIG_DIR=str(enable_english(config_copy)))
    client = logged_in(app)
    french = client.get("/admin/arborescence").get_data(as_text=True)
    assert re.search(r'<a id="langue-fr" lang="fr" href="/admin/arborescence" '
                     r'aria-current="page">Français</a>', french)
    assert 'id="langue-en" lang="en" href="/admin/arborescence?langue=en">English</a>' in french
    assert "Touche 9 à l'accueil (en français) : service en anglais" in french
    assert MARK not in french

    english = client.get("/admin/arborescence?langue=en").get_data(as_text=True)
    assert 'href="/admin/arborescence?langue=en" aria-current="page">English</a>' in english
    assert "prompts/en-CA.yaml" in english and 'id="langue-note"' in english
    welcome = " ".join(SHIPPED.prompts["accueil.bienvenue"].text.split())
    assert f'lang="en">« {MARK}' in english
    assert f"« {welcome}" in french.replace("&#39;", "'") and \
        f"« {welcome}" not in english.replace("&#39;", "'")
    # The same tree: every node drawn once, with the same titles.
    svg = ET.fromstring(client.get("/admin/arborescence.svg?langue=en").get_data())
    assert sorted(g.get("data-node") for g in groups(svg, "node")) == sorted(SHIPPED.nodes)
    drawn = " ".join(t for g in groups(svg, "node") for t in texts_of(g))
    assert MARK in drawn and "Écoute" not in drawn  # listening times: the French call's
    response = client.get("/admin/arborescence.svg?langue=en")
    assert response.headers["Content-Disposition"].endswith('-en.svg"')
    assert 'href="/admin/arborescence.svg?langue=en"' in english
    french_svg = ET.fromstring(client.get("/admin/arborescence.svg").get_data())
    assert MARK not in " ".join(t for g in groups(french_svg, "node") for t in texts_of(g))
