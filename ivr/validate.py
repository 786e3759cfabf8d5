"""Cross-checks of a parsed configuration: what would trap, confuse or strand a caller.

Parsing (config.py) checks each value alone; this module checks how values refer to each other.
The app refuses a config with any problem, so a caller never meets one of these mistakes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator

from ivr.config import GLOBAL_KEYS, MENU_KEYS, SYSTEM_PROMPTS, Config, Node
from ivr.yamlsource import Problem, Where

KEY_FIELD = "touche"
SHORTCUT_LIST = "00"  # *00 at the welcome menu reads the shortcuts
BUDGET_PATH = re.compile(r"\*\d\d|[0-9#*.](?:,[0-9#*.]+)*")


def edges(config: Config, node: Node) -> Iterator[tuple[str, str]]:
    """(label, target node id) for every way out of ``node`` except its failure fallback."""
    for option in node.options.values():
        yield option.key, option.to
    if node.silence:
        yield "(silence)", node.silence
    for step in node.steps:
        if step.kind == "goto":
            yield "→", step.target
        elif step.closed:
            yield f"{step.target} closed →", step.closed


def targets(node: Node) -> list[str]:
    """The node ids of ``edges``, without their labels: what the graph walks need."""
    found = [option.to for option in node.options.values()]
    if node.silence:
        found.append(node.silence)
    for step in node.steps:
        if step.kind == "goto":
            found.append(step.target)
        elif step.closed:
            found.append(step.closed)
    return found


def allowed_fields(config: Config) -> set[str]:
    from ivr.schedule import PROMPT_FIELDS

    return {KEY_FIELD} | {f"{p}.{f}" for p in config.providers for f in PROMPT_FIELDS}


def validate(config: Config) -> list[Problem]:
    problems: list[Problem] = []

    def add(where: Where, key: str, message: str) -> None:
        problems.append(Problem(where, key, message))

    nodes, line = config.nodes, config.line
    prompt_refs: list[tuple[str, Where, str, bool]] = []  # id, where, key, needs {touche}

    if line.root not in nodes:
        add(line.where, "line.root", f"nœud inconnu « {line.root} »")
    elif nodes[line.root].type != "menu":
        add(line.where, "line.root", "le nœud d'accueil doit être un menu")
    if line.fallback not in nodes:
        add(line.where, "line.fallback", f"nœud inconnu « {line.fallback} »")
    elif nodes[line.fallback].gathers:
        add(line.where, "line.fallback",
            "le repli doit bien finir l'appel (une route, une boîte vocale ou un au revoir), pas "
            "un menu")
    for key, target in line.shortcuts.items():
        where = line.shortcut_where.get(key, line.where)
        if len(key) != 2 or not key.isdigit():
            add(where, f"line.shortcuts.{key}", "un raccourci est * suivi d'exactement deux "
                                                "chiffres")
        if target not in nodes:
            add(where, f"line.shortcuts.{key}", f"nœud inconnu « {target} »")
        elif target == line.root:
            add(where, f"line.shortcuts.{key}", "un raccourci vers le menu d'accueil ne sert à "
                                                "rien")
        if key == SHORTCUT_LIST:
            add(where, f"line.shortcuts.{key}",
                f"*{SHORTCUT_LIST} lit la liste des raccourcis : choisissez un autre code")
        if key in line.shortcut_say:
            prompt_refs.append((line.shortcut_say[key], where, f"line.shortcuts.{key}.say",
                                False))
    for path_keys in line.budgets:
        if path_keys != "default" and not BUDGET_PATH.fullmatch(path_keys):
            add(line.budgets_where or line.where, f"line.budgets.{path_keys}",
                "attendu : « default » ou des touches comme « 2,1,1,1 » ou « *11 »")
    for branch, target in line.on_error.items():
        if branch not in nodes:
            add(line.where, f"line.on_error.{branch}", f"nœud inconnu « {branch} »")
        if target not in nodes:
            add(line.where, f"line.on_error.{branch}", f"nœud inconnu « {target} »")
        elif nodes[target].gathers:
            add(line.where, f"line.on_error.{branch}",
                "après une panne, l'appelant doit joindre une personne ou une boîte vocale, pas "
                "un menu")
    for key in line.reserved:
        if key not in MENU_KEYS:
            add(line.where, f"line.reserved.{key}", "seul un chiffre peut être réservé")
        elif line.root in nodes and key in nodes[line.root].options:
            add(nodes[line.root].options[key].where, f"nodes.{line.root}.options.{key}",
                f"le chiffre {key} est réservé ({line.reserved[key]}) : prenez-en un autre")

    for node in nodes.values():
        path = f"nodes.{node.id}"
        for pid in node.prompt:
            prompt_refs.append((pid, node.prompt_where or node.where, f"{path}.prompt", False))
        for pid in node.details:
            prompt_refs.append((pid, node.where, f"{path}.details", False))
        if (node.details or node.silence is not None) and node.type != "info":
            add(node.where, path, "« details » et « silence » vont seulement dans un nœud info")
        if node.silence is not None:
            if node.silence not in nodes:
                add(node.where, f"{path}.silence", f"nœud inconnu « {node.silence} »")
            elif node.silence == node.id:
                add(node.where, f"{path}.silence", "le silence doit mener hors de ce nœud")
        if node.gathers:
            for key, option in node.options.items():
                okey = f"{path}.options.{key}"
                if key in GLOBAL_KEYS:
                    add(option.where, okey,
                        f"« {key} » est une touche de toute la ligne (# répète, * revient) : "
                        "prenez un chiffre")
                elif key not in MENU_KEYS:
                    add(option.where, okey, "la touche d'une option est un seul chiffre, de 0 à 9")
                if option.to not in nodes:
                    add(option.where, f"{okey}.to", f"nœud inconnu « {option.to} »")
                elif option.to == node.id:
                    add(option.where, f"{okey}.to", "une option qui ramène à son propre menu")
                if option.say is not None:
                    prompt_refs.append((option.say, option.where, f"{okey}.say", True))
                elif node.type == "menu":
                    add(option.where, f"{okey}.say", "une option de menu a besoin d'un message "
                                                     "(say:)")
            if node.type == "menu" and not node.options:
                add(node.where, path, "un menu sans option : aucune sortie")
            if node.steps:
                add(node.where, f"{path}.steps", f"un nœud {node.type} n'a pas d'étapes (steps)")
            if node.sms is not None:
                if node.sms.key in node.options:
                    add(node.sms.where, f"{path}.sms.key",
                        f"le chiffre {node.sms.key} est déjà une option de ce nœud")
                if node.sms.key not in MENU_KEYS:
                    add(node.sms.where, f"{path}.sms.key", "la touche du texto est un seul "
                                                           "chiffre, de 0 à 9")
                prompt_refs.append((node.sms.text, node.sms.where, f"{path}.sms.text", False))
                for offer in ("systeme.offre_texto", "systeme.offre_texto_cellulaire"):
                    prompt_refs.append((offer, node.sms.where, f"{path}.sms", True))
                for sent in ("systeme.texto_envoye", "systeme.texto_envoye_cellulaire"):
                    prompt_refs.append((sent, node.sms.where, f"{path}.sms", False))
        elif node.options:
            add(node.where, f"{path}.options", f"un nœud {node.type} ne prend pas de touche")
        if node.type == "route":
            if not node.steps:
                add(node.where, f"{path}.steps", "une route a besoin d'au moins une étape")
            elif node.steps[-1].kind != "goto":
                add(node.steps[-1].where, f"{path}.steps",
                    "la dernière étape doit être un goto : un dial peut être sauté ou rester sans "
                    "réponse")
            for i, step in enumerate(node.steps):
                skey = f"{path}.steps[{i}]"
                for pid in step.say:
                    prompt_refs.append((pid, step.where, f"{skey}.say", False))
                if step.kind == "dial" and step.target not in config.providers:
                    add(step.where, f"{skey}.dial", f"équipe inconnue « {step.target} »")
                if step.closed is not None and step.closed not in nodes:
                    add(step.where, f"{skey}.closed", f"nœud inconnu « {step.closed} »")
                if step.kind == "goto":
                    if step.target not in nodes:
                        add(step.where, f"{skey}.goto", f"nœud inconnu « {step.target} »")
                    elif step.target == node.id:
                        add(step.where, f"{skey}.goto", "une route qui mène à elle-même")
        if node.type == "voicemail":
            if node.box not in config.boxes:
                add(node.where, f"{path}.box", f"boîte vocale inconnue « {node.box} »")
        elif node.box is not None:
            add(node.where, f"{path}.box", "seul un nœud voicemail a une boîte (box)")
        if node.fallback is not None:
            if node.fallback not in nodes:
                add(node.where, f"{path}.fallback", f"nœud inconnu « {node.fallback} »")
            elif nodes[node.fallback].gathers:
                add(node.where, f"{path}.fallback", "un repli ne peut pas être un menu")

    for box in config.boxes.values():
        prompt_refs.append((box.greeting, box.where, f"boxes.{box.id}.greeting", False))
    for pid in SYSTEM_PROMPTS:
        prompt_refs.append((pid, Where(f"prompts/{config.language}.yaml", 1), pid, False))

    fields, prompt_of = allowed_fields(config), config.prompts.get
    for pid, where, key, needs_key in prompt_refs:
        prompt = prompt_of(pid)
        if prompt is None:
            add(where, key, f"le message « {pid} » n'a pas de texte dans "
                            f"prompts/{config.language}.yaml")
        elif needs_key and KEY_FIELD not in prompt.fields:
            add(prompt.where, f"prompts.{pid}",
                "le message d'une option doit dire sa touche : mettez {touche} là où le chiffre "
                "est dit")
    for prompt in config.prompts.values():
        if prompt.fields <= fields:
            continue
        for name in sorted(prompt.fields - fields):
            add(prompt.where, f"prompts.{prompt.id}",
                f"champ inconnu {{{name}}} (connus : {{touche}}, {{<équipe>.heures}}, "
                "{<équipe>.reouverture})")

    problems += _reachability(config)
    problems += _patients_branch(config)
    return problems


def _patients_branch(config: Config) -> list[Problem]:
    """The seed: "Le CSI ne supporte pas les patients" — no patient path may dial such a team."""
    nodes = config.nodes
    problems: list[Problem] = []
    seen: set[str] = set()
    queue = deque(n.id for n in nodes.values() if n.audience == "patients")
    while queue:
        current = queue.popleft()
        if current in seen or current not in nodes:
            continue
        seen.add(current)
        node = nodes[current]
        for i, step in enumerate(node.steps):
            provider = config.providers.get(step.target)
            if step.kind == "dial" and provider is not None and not provider.serves_patients:
                problems.append(Problem(step.where, f"nodes.{node.id}.steps[{i}].dial",
                                        f"{provider.id} ne dessert pas les patients "
                                        "(serves_patients: false), mais le chemin d'un patient "
                                        "mène ici"))
        queue.extend(targets(node))
    return problems


def _reachability(config: Config) -> list[Problem]:
    """Nodes no caller can reach, and menus from which no path ends the call: two walks of the
    graph, one forward from the entry points and one backward from the nodes that end a call."""
    nodes, line = config.nodes, config.line
    problems: list[Problem] = []
    ways_out = {node.id: targets(node) for node in nodes.values()}
    starts = [line.root, line.fallback, *line.shortcuts.values(), *line.on_error.values()]
    starts += [n.fallback for n in nodes.values() if n.fallback]
    seen: set[str] = set()
    queue = deque(s for s in starts if s in nodes)
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        queue.extend(t for t in ways_out[current] if t in nodes and t not in seen)
    for node in nodes.values():
        if node.id not in seen:
            problems.append(Problem(node.where, f"nodes.{node.id}",
                                    "inatteignable : aucun menu, raccourci ni repli ne mène ici"))

    # A node "ends" when it can finish the call without the failure fallback: it is a route,
    # voicemail, goodbye or information, or one of its ways out leads to a node that ends.
    leading_to: dict[str, list[str]] = {}
    for source, outs in ways_out.items():
        for target in outs:
            leading_to.setdefault(target, []).append(source)
    ends = {n.id for n in nodes.values() if n.type in ("route", "voicemail", "hangup", "info")}
    pending = list(ends)
    while pending:
        for source in leading_to.get(pending.pop(), ()):
            if source not in ends:
                ends.add(source)
                pending.append(source)
    for node in nodes.values():
        if node.id not in ends and node.options:
            problems.append(Problem(node.where, f"nodes.{node.id}",
                                    "aucune sortie : chaque option ne mène qu'à d'autres menus, "
                                    "en boucle"))
    return problems
