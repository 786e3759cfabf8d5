"""Arborescence: the whole phone tree as an SVG diagram, drawn from the served config.

The diagram is laid out here, in Python, as a left-to-right tidy tree, so the page needs no
script and the same SVG can be downloaded. A node reached from several places (a shared
destination such as ``urgence_ti``) is drawn once, where it is reached first (breadth first:
the shallowest), and every other reference is a small "→ destination" leaf linking to it.
Every text goes through ElementTree, which escapes it. The same tree is given as nested lists
and as the full texts, for keyboards and screen readers.

When the line serves English too (``line.languages``), ``?langue=en`` shows the same tree with
the texts of ``prompts/en-CA.yaml`` (the tree, its titles and its rules are the same in every
language: only the prompts are translated).
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Response, current_app, render_template, request
from markupsafe import Markup

from ivr import clock
from ivr.admin import bp
from ivr.config import ENGLISH_KEY, FIRST_LANGUAGE, Config, Node
from ivr.effort import REFERENCE_INSTANT, PathEffort, efforts
from ivr.flow import Turn
from ivr.lines import line_of
from ivr.voice import URLS

# Layout, in SVG user units (px at 100 %).
BOX_W = 260
COL_W = 380  # a box and the gap where the edge and its key label run
TRUNK = 16  # from a box's right side to the vertical line its children hang from
GAP = 14  # between two stacked subtrees
REF_H = 30
MARGIN = 16
PAD = 9
TAG_LINE, TITLE_LINE, SMALL_LINE = 15, 16, 14
# Rough line lengths (no font metrics here): 10.5 px bold, 12.5 px bold, 11 px regular.
TAG_CHARS, TITLE_CHARS, SMALL_CHARS = 36, 31, 40

# Node type -> (fill, stroke, tag, legend label).
KINDS = {
    "menu": ("#e8f0fb", "#0b5cad", "MENU", "Menu (choix au clavier)"),
    "info": ("#f1f3f6", "#5a6675", "MESSAGE", "Message (renseignements)"),
    "route": ("#e3f4e8", "#1d7a3a", "☎ TRANSFERT", "Transfert vers une équipe"),
    "voicemail": ("#fff2da", "#8a5a00", "✉ BOÎTE VOCALE", "Boîte vocale"),
    "hangup": ("#fbe9ea", "#a3262a", "✕ FIN D'APPEL", "Fin de l'appel"),
}
TYPE_NAMES = {"menu": "menu", "info": "message", "route": "transfert",
              "voicemail": "boîte vocale", "hangup": "fin d'appel"}
DESTINATIONS = ("route", "voicemail", "hangup")
# Edge kind -> (line colour, dashed, label fill, label stroke).
EDGES = {
    "option": ("#5a6675", False, "#ffffff", "#1b2430"),
    "shortcut": ("#6b2fa3", True, "#f3e8fb", "#6b2fa3"),
    "step": ("#1d7a3a", False, "#e3f4e8", "#1d7a3a"),
    "closed": ("#a3262a", True, "#fbe9ea", "#a3262a"),
    "fallback": ("#8a5a00", True, "#fff2da", "#8a5a00"),
    "reserved": ("#8a94a3", True, "#f1f3f6", "#8a94a3"),
}
INK, MUTED, MARK = "#1b2430", "#4a5565", "#6b2fa3"
_ACRONYM = re.compile(r"\(([A-ZÉÈ]{2,8})\)")


# --------------------------------------------------------------------------- the tree


@dataclass
class Item:
    """One drawn box: a node (or a reference to one drawn elsewhere) and the edge into it."""

    node_id: str
    label: str | None = None  # on the edge from the parent: "1", "*11", "sinon", "si fermé"
    edge: str = "root"  # option | shortcut | step | closed | fallback | reserved | root
    ref: bool = False  # drawn elsewhere: a "→ destination" leaf
    note: str = ""  # reserved digit: what it is kept for
    children: list[Item] = field(default_factory=list)
    keys: tuple[str, ...] = ()  # what a caller presses to get here from the welcome
    effort: str = ""  # "Écoute 36 s (2,1,1,1), budget 40 s" when a path ends here (ivr.effort)
    effort_short: str = ""  # "36 s / 40 s", on a reference
    # Layout, filled by _measure/_place.
    # Text lines of the box: (text, font size, fill, weight).
    lines: list[tuple[str, float, str, str]] = field(default_factory=list)
    height: float = 0.0
    extent: float = 0.0
    x: float = 0.0
    y: float = 0.0

    @property
    def center(self) -> float:
        return self.y + self.height / 2

    def walk(self) -> Iterator[Item]:
        yield self
        for child in self.children:
            yield from child.walk()


def out_edges(config: Config, node: Node) -> list[tuple[str, str, str]]:
    """(edge kind, label, target) of every way out of a node, in the order they are drawn."""
    edges = [("option", key, node.options[key].to) for key in sorted(node.options)]
    dialled = False
    for step in node.steps:
        if step.kind == "goto":
            edges.append(("step", "sinon" if dialled else "ensuite", step.target))
        else:
            dialled = True
            if step.closed:
                edges.append(("closed", "si fermé", step.closed))
    if node.silence:
        edges.append(("step", "silence", node.silence))
    if node.fallback:
        edges.append(("fallback", "échecs", node.fallback))
    if node.id == config.line.root:
        edges += [("shortcut", f"*{key}", target)
                  for key, target in sorted(config.line.shortcuts.items())]
    return edges


def build_tree(config: Config) -> list[Item]:
    """The trees to draw: the welcome menu's, then any node no menu leads to (a fallback)."""
    nodes, line = config.nodes, config.line
    main: dict[str, tuple[str, int]] = {}  # node -> (parent, edge index) where it is drawn
    roots: list[str] = []
    starts = [line.root, line.fallback, *line.on_error.values(),
              *(n.fallback for n in nodes.values() if n.fallback), *nodes]
    for start in starts:
        if start not in nodes or start in main or start in roots:
            continue
        roots.append(start)
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for index, (_, _, target) in enumerate(out_edges(config, nodes[current])):
                if target in nodes and target not in main and target not in roots:
                    main[target] = (current, index)
                    queue.append(target)

    def build(node_id: str, label: str | None, edge: str, seen: frozenset[str],
              keys: tuple[str, ...] = ()) -> Item:
        item = Item(node_id, label, edge, keys=keys)
        node = nodes[node_id]
        edges = out_edges(config, node)
        options = sum(1 for kind, _, _ in edges if kind == "option")
        for index, (kind, key, target) in enumerate(edges):
            if index == options and node_id == line.root:
                item.children += [Item(line.root, digit, "reserved", note=reserved_for(
                    config, digit, meaning)) for digit, meaning in sorted(line.reserved.items())]
            pressed = keys + ((key,) if kind in ("option", "shortcut") else
                              (".",) if key == "silence" else ())
            if target in nodes and main.get(target) == (node_id, index) and target not in seen:
                item.children.append(build(target, key, kind, seen | {target}, pressed))
            else:
                item.children.append(Item(target, key, kind, ref=True, keys=pressed))
        if options == len(edges) and node_id == line.root:
            item.children += [Item(line.root, digit, "reserved", note=meaning)
                              for digit, meaning in sorted(line.reserved.items())]
        return item

    return [build(root, None, "root", frozenset({root})) for root in roots]


def mark_efforts(trees: list[Item], found: list[PathEffort]) -> None:
    """Put each path's seconds (``ivr effort``) on the box or reference it ends at: the key
    that reaches it is the path's last, so a route's steps are not marked again."""
    by_keys = {tuple(e.keys.split(",")): e for e in found}
    for tree in trees:
        for item in tree.walk():
            effort = by_keys.get(item.keys) if item.edge in ("option", "shortcut", "step") \
                and item.keys and (item.edge != "step" or item.keys[-1] == ".") else None
            if effort is None:
                continue
            text = f"Écoute {effort.seconds:.0f} s ({','.join(item.keys)})"
            short = f"{effort.seconds:.0f} s"
            if effort.budget is not None and effort.ends in ("dial", "record"):
                text += f", budget {effort.budget} s"
                short += f" / {effort.budget} s"
                if effort.over:
                    text += " : TROP LONG"
                    short += " TROP LONG"
            item.effort, item.effort_short = text, short


# --------------------------------------------------------------------------- texts


def short_name(config: Config, provider_id: str) -> str:
    """"CSI" for "Centre de services informatiques (CSI) de la DRT", else the name's start."""
    provider = config.providers.get(provider_id)
    if provider is None:
        return provider_id
    match = _ACRONYM.search(provider.name)
    return match.group(1) if match else provider.name.split(" (")[0]


def node_title(config: Config, node_id: str) -> str:
    node = config.nodes.get(node_id)
    return node.title if node is not None else f"nœud inconnu « {node_id} »"


def spoken(turn: Turn, prompt_id: str, key: str | None = None) -> str:
    """The text a caller hears for a prompt, fields filled as the line fills them now."""
    if prompt_id not in turn.config.prompts:
        return f"[texte manquant : {prompt_id}]"
    return turn.say(prompt_id, key).text


def prompt_text(turn: Turn, node: Node) -> str:
    """The node's own message and details (a voicemail without one plays its box's
    greeting)."""
    ids = (*node.prompt, *node.details)
    if not ids and node.type == "voicemail":
        box = turn.config.boxes.get(node.box or "")
        ids = (box.greeting,) if box is not None and box.greeting else ()
    return " ".join(spoken(turn, p) for p in ids)


def route_text(config: Config, node: Node) -> str:
    """"Compose CSI, puis CDA" — who a route dials, in order (when open)."""
    dials = []
    for step in node.steps:
        if step.kind == "dial":
            provider = config.providers.get(step.target)
            name = short_name(config, step.target)
            dials.append(name if provider is not None and provider.phone
                         else f"{name} (sans ligne)")
    return ("Compose " + ", puis ".join(dials)) if dials else "Renvoi"


def marks(config: Config, node_id: str) -> list[str]:
    """What makes a node special for the line: shortcut target, failure fallback…"""
    line = config.line
    found = [f"raccourci *{key}" for key, target in sorted(line.shortcuts.items())
             if target == node_id]
    if line.fallback == node_id:
        found.append(f"repli après {line.max_tries} essais manqués")
    for branch, target in sorted(line.on_error.items()):
        if target == node_id:
            found.append(f"repli après une panne ({branch})")
    node = config.nodes.get(node_id)
    if node is not None and node.sms is not None:
        found.append(f"texto : touche {node.sms.key}")
    return found


def _box_lines(config: Config, turn: Turn, item: Item) -> list[tuple[str, float, str, str]]:
    node = config.nodes[item.node_id]
    fill, stroke, tag, _ = KINDS.get(node.type, KINDS["info"])
    if len(tag) + 3 + len(node.id) <= TAG_CHARS:
        lines = [(f"{tag} · {node.id}", 10.5, stroke, "bold")]
    else:  # a long id gets its own line: it is what the administrator looks for in the YAML
        lines = [(tag, 10.5, stroke, "bold"), (node.id, 10.5, stroke, "bold")]
    for text in textwrap.wrap(node.title, TITLE_CHARS, max_lines=3, placeholder=" …"):
        lines.append((text, 12.5, INK, "bold"))
    if node.type == "route" and any(s.kind == "dial" for s in node.steps):
        detail = route_text(config, node)
    elif node.type == "voicemail":
        box = config.boxes.get(node.box or "")
        detail = f"Boîte « {box.name if box else node.box} »"
    elif node.type == "hangup":
        detail = "Raccroche après le message"
    else:
        detail = prompt_text(turn, node)
        detail = f"« {detail} »" if detail else ""
    for text in textwrap.wrap(detail, SMALL_CHARS, max_lines=2, placeholder=" …"):
        lines.append((text, 11.0, MUTED, "normal"))
    for text in textwrap.wrap(" · ".join(marks(config, node.id)), SMALL_CHARS, max_lines=2,
                              placeholder=" …"):
        lines.append((text, 11.0, MARK, "bold"))
    if item.effort:
        lines.append((item.effort, 11.0, MARK if "TROP LONG" in item.effort else MUTED, "bold"))
    return lines


# --------------------------------------------------------------------------- layout


def _measure(config: Config, turn: Turn, item: Item) -> None:
    if item.edge == "reserved":
        item.lines = [(f"Réservé : {item.note}"[:SMALL_CHARS], 11.0, MUTED, "normal")]
        item.height = REF_H
    elif item.ref:
        title = f"→ {node_title(config, item.node_id)}"
        if item.effort_short:
            room = SMALL_CHARS - len(item.effort_short) - 3
            title = f"{textwrap.shorten(title, room, placeholder=' …')} · {item.effort_short}"
        item.lines = [(textwrap.shorten(title, SMALL_CHARS, placeholder=" …"), 11.0, INK,
                       "normal")]
        item.height = REF_H
    else:
        item.lines = _box_lines(config, turn, item)
        size = {10.5: TAG_LINE, 12.5: TITLE_LINE, 11.0: SMALL_LINE}
        item.height = 2 * PAD + sum(size[s] for _, s, _, _ in item.lines) - 2
    for child in item.children:
        _measure(config, turn, child)
    own = item.height + GAP
    item.extent = max(own, sum(c.extent for c in item.children))


def _place(item: Item, top: float, depth: int, left: float) -> None:
    """Each box at the top of its subtree, level with its first child: read like an outline,
    the welcome menu is at the top left, where the page opens."""
    item.x = left + depth * COL_W
    offset = top
    for child in item.children:
        _place(child, offset, depth + 1, left)
        offset += child.extent
    item.y = top
    if item.children and item.children[0].height < item.height:
        item.y = item.children[0].center - item.height / 2
        if item.y < top:
            item.y = top


# --------------------------------------------------------------------------- SVG


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_").replace("_", "-"): str(v)
                                          for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _legend(config: Config, svg: ET.Element, width: float) -> float:
    """The key of the drawing and the line's rules; returns its height."""
    group = _el(svg, "g", class_="legend")
    x, y = MARGIN, MARGIN + 14
    _el(group, "text", "Légende", x=x, y=y, font_size=13, font_weight="bold", fill=INK)
    y += 12
    entries: list[tuple[str, str, str, bool, str]] = [
        (fill, stroke, label, False, "box") for fill, stroke, _, label in KINDS.values()]
    entries += [
        ("#ffffff", INK, "Renvoi : dessiné ailleurs", True, "box"),
        ("#ffffff", INK, "Touche du clavier", False, "key"),
        ("#f3e8fb", MARK, "Raccourci du personnel", True, "key"),
        ("#e3f4e8", "#1d7a3a", "Étape suivante d'un transfert", False, "key"),
        ("#fbe9ea", "#a3262a", "Si l'équipe est fermée", True, "key"),
    ]
    item_w = 250
    per_row = max(1, int((width - 2 * MARGIN) // item_w))
    for index, (fill, stroke, label, dashed, shape) in enumerate(entries):
        ex = x + (index % per_row) * item_w
        ey = y + (index // per_row) * 24
        swatch = {"x": ex, "y": ey, "width": 26 if shape == "box" else 20, "height": 16,
                  "rx": 3 if shape == "box" else 8, "fill": fill, "stroke": stroke,
                  "stroke_width": 2}
        if dashed:
            swatch["stroke_dasharray"] = "4 3"
        _el(group, "rect", **swatch)
        _el(group, "text", label, x=ex + 34, y=ey + 12.5, font_size=12, fill=INK)
    y += ((len(entries) - 1) // per_row + 1) * 24 + 8
    for note in line_rules(config):
        _el(group, "text", note, x=x, y=y + 4, font_size=12, fill=INK)
        y += 18
    return y + 10


def reserved_for(config: Config, digit: str, meaning: str) -> str:
    """What a reserved digit is for; the English key says so once English is on."""
    if digit == ENGLISH_KEY and len(config.line.languages) > 1:
        return "service en anglais (prompts/en-CA.yaml)"
    return meaning


def line_rules(config: Config) -> list[str]:
    """The rules no edge shows: failures, keys valid everywhere, reserved digits."""
    line = config.line
    rules = [f"Après {line.max_tries} essais manqués dans un menu : "
             f"{node_title(config, line.fallback)} ({line.fallback})."]
    if line.on_error:
        branches = " ; ".join(f"branche {node_title(config, b)} → {node_title(config, t)}"
                              for b, t in sorted(line.on_error.items()))
        rules.append(f"Après une panne technique : {branches} ; les autres → "
                     f"{node_title(config, line.fallback)}.")
    rules.append("Partout : # répète le menu, * revient au menu précédent ; à l'accueil, "
                 "* suivi de deux chiffres est un raccourci du personnel.")
    rules += [f"Touche {digit} réservée à l'accueil : {meaning}."
              for digit, meaning in sorted(line.reserved.items())
              if not (digit == ENGLISH_KEY and len(line.languages) > 1)]
    if len(line.languages) > 1:
        rules.append(f"Touche {ENGLISH_KEY} à l'accueil (en français) : service en anglais, "
                     "la même arborescence avec les messages de prompts/en-CA.yaml.")
    return rules


def _edge(svg: ET.Element, parent: Item, child: Item) -> None:
    colour, dashed, label_fill, label_stroke = EDGES.get(child.edge, EDGES["option"])
    group = _el(svg, "g", class_=f"edge {child.edge}", data_key=child.label or "",
                data_from=parent.node_id, data_to="" if child.edge == "reserved"
                else child.node_id)
    # An elbow: out of the parent, down a trunk shared by its children, across to the child.
    x1, y1 = parent.x + BOX_W, min(parent.center, parent.y + 22)
    x2, y2 = child.x, child.center
    trunk = x1 + TRUNK
    path = {"d": f"M{_num(x1)},{_num(y1)} H{_num(trunk)} V{_num(y2)} H{_num(x2 - 2)}",
            "fill": "none", "stroke": colour, "stroke_width": 1.6,
            "marker_end": "url(#fleche)"}
    if dashed:
        path["stroke_dasharray"] = "5 4"
    _el(group, "path", **path)
    if child.label:
        width = 12 + 7.5 * len(child.label)
        cx = x2 - 16 - width / 2
        _el(group, "rect", x=_num(cx - width / 2), y=_num(y2 - 10), width=_num(width),
            height=20, rx=10, fill=label_fill, stroke=label_stroke, stroke_width=1.4)
        _el(group, "text", child.label, x=_num(cx), y=_num(y2 + 4.5), font_size=12.5,
            font_weight="bold", text_anchor="middle", fill=INK)


def _box(config: Config, turn: Turn, svg: ET.Element, item: Item, links: bool) -> None:
    if item.edge == "reserved":
        group = _el(svg, "g", class_="reserved", data_key=item.label or "")
        _el(group, "title", f"Touche {item.label} réservée : {item.note}")
        _el(group, "rect", x=_num(item.x), y=_num(item.y), width=BOX_W, height=REF_H, rx=6,
            fill="#f1f3f6", stroke="#8a94a3", stroke_width=1.4, stroke_dasharray="4 3")
        _el(group, "text", item.lines[0][0], x=_num(item.x + PAD), y=_num(item.y + 19.5),
            font_size=11, fill=MUTED)
        return
    node = config.nodes.get(item.node_id)
    fill, stroke, _, _ = KINDS.get(node.type if node else "info", KINDS["info"])
    if item.ref:
        group = _el(svg, "g", class_="ref", data_ref=item.node_id)
        target = _el(group, "a", href=f"#n-{item.node_id}")
        _el(target, "title", f"Renvoi vers « {node_title(config, item.node_id)} » "
                             f"({item.node_id}), dessiné ailleurs dans le schéma")
        _el(target, "rect", x=_num(item.x), y=_num(item.y), width=BOX_W, height=REF_H, rx=6,
            fill="#ffffff", stroke=stroke, stroke_width=1.6, stroke_dasharray="4 3")
        _el(target, "text", item.lines[0][0], x=_num(item.x + PAD), y=_num(item.y + 19.5),
            font_size=11, fill=INK)
        return
    assert node is not None
    group = _el(svg, "g", class_=f"node {node.type}", id=f"n-{node.id}", data_node=node.id,
                data_type=node.type)
    holder = _el(group, "a", href=f"#txt-{node.id}") if links else group
    full = prompt_text(turn, node)
    tooltip = f"{node.title} ({TYPE_NAMES.get(node.type, node.type)}, {node.id})"
    if node.type == "route":
        tooltip += f"\n{route_text(config, node)}"
    if full:
        tooltip += f"\n« {full} »"
    _el(holder, "title", tooltip)
    _el(holder, "rect", x=_num(item.x), y=_num(item.y), width=BOX_W, height=_num(item.height),
        rx=8, fill=fill, stroke=stroke, stroke_width=3 if node.type in DESTINATIONS else 1.6)
    y = item.y + PAD
    step = {10.5: TAG_LINE, 12.5: TITLE_LINE, 11.0: SMALL_LINE}
    for text, size, colour, weight in item.lines:
        y += step[size]
        attrs: dict[str, object] = {"x": _num(item.x + PAD), "y": _num(y - 4),
                                    "font_size": size, "fill": colour}
        if weight != "normal":
            attrs["font_weight"] = weight
        _el(holder, "text", text, **attrs)


def render_svg(config: Config, turn: Turn, *, links: bool = True,
               efforts: list[PathEffort] | None = None) -> str:
    """The diagram as an SVG document (``links``: boxes link to the page's full texts;
    ``efforts``: each path's seconds, on the box it ends at)."""
    trees = build_tree(config)
    if efforts:
        mark_efforts(trees, efforts)
    for tree in trees:
        _measure(config, turn, tree)
    depth = max((_depth(t) for t in trees), default=0)
    width = 2 * MARGIN + depth * COL_W + BOX_W
    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "tree",
                             "role": "group", "aria-labelledby": "arbre-titre arbre-desc",
                             "font-family": "DejaVu Sans, Verdana, sans-serif"})
    in_language = "" if config.language == FIRST_LANGUAGE else f", messages en {config.language}"
    _el(svg, "title", f"Arborescence de la ligne (version {config.version}{in_language})",
        id="arbre-titre")
    _el(svg, "desc", f"{len(config.nodes)} nœuds, de gauche à droite à partir de "
                     f"« {node_title(config, config.line.root)} ». La même arborescence est "
                     "donnée en liste sous le schéma.", id="arbre-desc")
    defs = _el(svg, "defs")
    marker = _el(defs, "marker", id="fleche", viewBox="0 0 8 8", refX=7, refY=4,
                 markerWidth=7, markerHeight=7, orient="auto")
    _el(marker, "path", d="M0,0 L8,4 L0,8 z", fill="#5a6675")
    top = _legend(config, svg, max(width, 1000))
    edges, boxes = _el(svg, "g", class_="edges"), _el(svg, "g", class_="boxes")
    for tree in trees:
        _place(tree, top, 0, MARGIN)
        top += tree.extent + GAP
        for item in tree.walk():
            for child in item.children:
                _edge(edges, item, child)
            _box(config, turn, boxes, item, links)
    width = max(width, 1000)
    height = top + MARGIN
    svg.set("viewBox", f"0 0 {_num(width)} {_num(height)}")
    svg.set("width", _num(width))
    svg.set("height", _num(height))
    return ET.tostring(svg, encoding="unicode")


def _depth(item: Item) -> int:
    return 1 + max((_depth(c) for c in item.children), default=-1)


# --------------------------------------------------------------------------- page data


@dataclass(frozen=True)
class NodeText:
    """Everything a caller can hear and do at one node, for the text list."""

    id: str
    title: str
    type: str
    type_name: str
    prompt: str
    choices: tuple[tuple[str, str, str, str], ...]  # key, spoken text, target id, target title
    steps: tuple[str, ...]
    box: str
    sms: tuple[str, str] | None  # key, text sent
    marks: tuple[str, ...]


def node_texts(config: Config, turn: Turn, order: list[str]) -> list[NodeText]:
    result = []
    for node_id in order:
        node = config.nodes[node_id]
        choices = tuple(
            (key, spoken(turn, node.options[key].say, key) if node.options[key].say else "",
             node.options[key].to, node_title(config, node.options[key].to))
            for key in sorted(node.options))
        if node.silence:
            choices += (("silence", "L'appelant reste en ligne sans rien taper.", node.silence,
                         node_title(config, node.silence)),)
        steps = []
        for step in node.steps:
            if step.kind == "goto":
                steps.append(f"Passe à « {node_title(config, step.target)} » ({step.target})")
                continue
            provider = config.providers.get(step.target)
            name = provider.name if provider else step.target
            if provider is not None and provider.phone:
                text = f"Compose {name} si l'équipe est ouverte"
            else:
                text = f"{name} : aucune ligne, jamais composée"
            if step.closed:
                text += (f" ; si elle est fermée : « {node_title(config, step.closed)} » "
                         f"({step.closed})")
            steps.append(text)
        if node.type == "route":
            steps.append("Si personne ne répond à la dernière équipe composée et qu'il n'y a "
                         f"plus d'étape : « {node_title(config, config.line.fallback)} »")
        box = ""
        if node.type == "voicemail":
            found = config.boxes.get(node.box or "")
            box = f"{found.name} ({found.id})" if found else str(node.box)
        sms = (node.sms.key, spoken(turn, node.sms.text)) if node.sms else None
        result.append(NodeText(node.id, node.title, node.type,
                               TYPE_NAMES.get(node.type, node.type), prompt_text(turn, node),
                               choices, tuple(steps), box, sms, tuple(marks(config, node.id))))
    return result


def _turn(config: Config) -> Turn:
    return Turn(config, clock.now(), URLS)


_EFFORTS: dict[tuple[int, str], list[PathEffort]] = {}


def line_efforts(config: Config) -> list[PathEffort]:
    """Every path's seconds at the reference instant (a weekday morning), played once per
    served version: a longer prompt shows its cost here before it goes live."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    key = (id(app), config.version)
    found = _EFFORTS.get(key)
    if found is None:
        found = efforts(app, clock.parse_instant(REFERENCE_INSTANT))
        if len(_EFFORTS) > 8:
            _EFFORTS.clear()
        _EFFORTS[key] = found
    return found


def chosen_language() -> tuple[Config, list[tuple[str, str]], str]:
    """The config in the language ``?langue=`` asks for (French unless the line serves it),
    the languages to choose from (none when the line speaks French only), the chosen code."""
    from ivr.admin.simulator import served_languages

    line = line_of(current_app)
    languages = served_languages()
    code = request.args.get("langue", "fr")
    if len(languages) < 2 or code not in dict(languages):
        return line.config, [], "fr"
    return line.config_for("" if code == "fr" else code), languages, code


def _efforts(config: Config) -> list[PathEffort] | None:
    """The listening times (``ivr effort``) are a French call's: not shown on the English
    texts."""
    return line_efforts(config) if config.language == FIRST_LANGUAGE else None


@bp.get("/arborescence")
def tree() -> str:
    """The diagram, its nested-list twin and every node's full text."""
    config, languages, code = chosen_language()
    turn = _turn(config)
    trees = build_tree(config)
    order = [i.node_id for t in trees for i in t.walk()
             if not i.ref and i.edge != "reserved"]
    return render_template(
        "admin/tree.html",
        config=config,
        # built by ElementTree: every text escaped
        svg=Markup(render_svg(config, turn, efforts=_efforts(config))),
        languages=languages,
        language=code,
        prompts_file=f"prompts/{config.language}.yaml",
        trees=trees,
        texts=node_texts(config, turn, order),
        rules=line_rules(config),
        titles={n.id: n.title for n in config.nodes.values()},
        type_names={n.id: TYPE_NAMES.get(n.type, n.type) for n in config.nodes.values()},
        option_count=sum(len(n.options) for n in config.nodes.values()),
    )


@bp.get("/arborescence.svg")
def tree_svg() -> Response:
    """The same diagram as a file, to print or to attach to a change request."""
    config, _, code = chosen_language()
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + render_svg(config, _turn(config), links=False, efforts=_efforts(config)))
    response = Response(body, mimetype="image/svg+xml")
    suffix = "" if code == "fr" else f"-{code}"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="arborescence-{config.version}{suffix}.svg"')
    return response
