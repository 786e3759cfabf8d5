"""Cross-checks of a parsed configuration: what would trap, confuse or strand a caller.

``ivr.config`` checks each value alone; this module checks how values refer to each other.
The app refuses a config with any problem, so a caller never meets one of these mistakes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping

from ivr.config import ADMIN_PROMPTS, GLOBAL_KEYS, MENU_KEYS, SYSTEM_PROMPTS, Config, Node
from ivr.schedule import PROMPT_FIELDS
from ivr.yamlsource import Problem, Where

KEY_FIELD = "touche"
# The recording notice said before a voicemail's beep: who gets the message (the box's owner
# prompt) and how long it is kept (its retention_days, as said: « 90 jours », « un an »).
BOX_FIELDS = ("boite.equipe", "boite.jours")
SHORTCUT_LIST = "00"  # *00 at the welcome menu reads the shortcuts
BUDGET_PATH = re.compile(r"\*\d\d|[0-9#*.](?:,[0-9#*.]+)*")


def edges(config: Config, node: Node) -> Iterator[tuple[str, str]]:
    """(label, target node id) for every way out of ``node`` except its failure fallback
    (``config`` is not used)."""
    for option in node.options.values():
        yield option.key, option.to
    if node.silence:
        yield "(silence)", node.silence
    for step in node.steps:
        if step.kind == "goto":
            yield "→", step.target
        elif step.closed:
            yield f"{step.target} closed →", step.closed


def validate(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    nodes, line = config.nodes, config.line
    prompt_refs: list[tuple[str, Where, str, bool]] = []  # id, where, key, needs {touche}

    def add(where: Where, key: str, message: str) -> None:
        problems.append(Problem(where, key, message))

    def known(target: str | None, where: Where, key: str) -> bool:
        """Whether ``target`` is a node; a problem if not."""
        if target in nodes:
            return True
        add(where, key, f"nœud inconnu « {target} »")
        return False

    if known(line.root, line.where, "line.root") and nodes[line.root].type != "menu":
        add(line.where, "line.root", "le nœud d'accueil doit être un menu")
    if known(line.fallback, line.where, "line.fallback") and nodes[line.fallback].gathers:
        add(line.where, "line.fallback", "le repli doit bien finir l'appel (une route, une boîte "
            "vocale ou un au revoir), pas un menu")
    for key, target in line.shortcuts.items():
        where, skey = line.shortcut_where.get(key, line.where), f"line.shortcuts.{key}"
        if len(key) != 2 or not key.isdigit():
            add(where, skey, "un raccourci est * suivi d'exactement deux chiffres")
        if known(target, where, skey) and target == line.root:
            add(where, skey, "un raccourci vers le menu d'accueil ne sert à rien")
        if key == SHORTCUT_LIST:
            add(where, skey, f"*{SHORTCUT_LIST} lit la liste des raccourcis : choisissez un autre "
                "code")
        if key in line.shortcut_say:
            prompt_refs.append((line.shortcut_say[key], where, f"{skey}.say", False))
    if line.admin_shortcut is not None:
        code, gkey = line.admin_shortcut, "line.gestion"
        if len(code) != 2 or not code.isascii() or not code.isdigit():
            add(line.where, gkey, "le raccourci de gestion est * suivi d'exactement deux chiffres")
        elif code == SHORTCUT_LIST or code in line.shortcuts:
            add(line.where, gkey, f"*{code} sert déjà (liste des raccourcis ou line.shortcuts) : "
                "choisissez un autre code")
        for pid in ADMIN_PROMPTS:
            prompt_refs.append((pid, line.where, gkey, pid.endswith("_option")))
    for keys in line.budgets:
        if keys != "default" and not BUDGET_PATH.fullmatch(keys):
            add(line.budgets_where or line.where, f"line.budgets.{keys}",
                "attendu : « default » ou des touches comme « 2,1,1,1 » ou « *11 »")
    for branch, target in line.on_error.items():
        known(branch, line.where, f"line.on_error.{branch}")
        if known(target, line.where, f"line.on_error.{branch}") and nodes[target].gathers:
            add(line.where, f"line.on_error.{branch}", "après une panne, l'appelant doit joindre "
                "une personne ou une boîte vocale, pas un menu")
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
        if node.silence is not None and known(node.silence, node.where, f"{path}.silence") \
                and node.silence == node.id:
            add(node.where, f"{path}.silence", "le silence doit mener hors de ce nœud")
        if node.gathers:
            for key, option in node.options.items():
                okey = f"{path}.options.{key}"
                if key in GLOBAL_KEYS:
                    add(option.where, okey, f"« {key} » est une touche de toute la ligne "
                        "(# répète, * revient) : prenez un chiffre")
                elif key not in MENU_KEYS:
                    add(option.where, okey, "la touche d'une option est un seul chiffre, de 0 à 9")
                if known(option.to, option.where, f"{okey}.to") and option.to == node.id:
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
                    add(node.sms.where, f"{path}.sms.key",
                        "la touche du texto est un seul chiffre, de 0 à 9")
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
                add(node.steps[-1].where, f"{path}.steps", "la dernière étape doit être un goto "
                    ": un dial peut être sauté ou rester sans réponse")
            for i, step in enumerate(node.steps):
                skey = f"{path}.steps[{i}]"
                for pid in step.say:
                    prompt_refs.append((pid, step.where, f"{skey}.say", False))
                if step.kind == "dial" and step.target not in config.providers:
                    add(step.where, f"{skey}.dial", f"équipe inconnue « {step.target} »")
                if step.closed is not None:
                    known(step.closed, step.where, f"{skey}.closed")
                if step.kind == "goto" and known(step.target, step.where, f"{skey}.goto") \
                        and step.target == node.id:
                    add(step.where, f"{skey}.goto", "une route qui mène à elle-même")
        if node.type == "voicemail":
            if node.box not in config.boxes:
                add(node.where, f"{path}.box", f"boîte vocale inconnue « {node.box} »")
        elif node.box is not None:
            add(node.where, f"{path}.box", "seul un nœud voicemail a une boîte (box)")
        if node.fallback is not None and known(node.fallback, node.where, f"{path}.fallback") \
                and nodes[node.fallback].gathers:
            add(node.where, f"{path}.fallback", "un repli ne peut pas être un menu")

    for box in config.boxes.values():
        prompt_refs.append((box.owner, box.where, f"boxes.{box.id}.owner", False))
        prompt_refs.append((box.greeting, box.where, f"boxes.{box.id}.greeting", False))
    for pid in SYSTEM_PROMPTS:
        prompt_refs.append((pid, Where(f"prompts/{config.language}.yaml", 1), pid, False))

    fields = {KEY_FIELD, *BOX_FIELDS} | {f"{p}.{f}" for p in config.providers
                                         for f in PROMPT_FIELDS}
    prompt_of = config.prompts.get
    for pid, where, key, needs_key in prompt_refs:
        prompt = prompt_of(pid)
        if prompt is None:
            add(where, key, f"le message « {pid} » n'a pas de texte dans "
                f"prompts/{config.language}.yaml")
        elif needs_key and KEY_FIELD not in prompt.fields:
            add(prompt.where, f"prompts.{pid}", "le message d'une option doit dire sa touche : "
                "mettez {touche} là où le chiffre est dit")
    for prompt in config.prompts.values():
        for name in sorted(prompt.fields - fields):
            add(prompt.where, f"prompts.{prompt.id}", f"champ inconnu {{{name}}} (connus : "
                "{touche}, {<équipe>.heures}, {<équipe>.reouverture}, {boite.equipe}, "
                "{boite.jours})")

    ways_out = {node.id: [target for _, target in edges(config, node)] for node in nodes.values()}
    problems += _reachability(config, ways_out)
    problems += _patients_branch(config, ways_out)
    return problems


def _walk(config: Config, starts: Iterable[str], ways: Mapping[str, list[str]]) -> dict[str, None]:
    """The nodes reached from ``starts`` along ``ways``, breadth first, in the order met."""
    seen: dict[str, None] = {}
    queue = deque(starts)
    while queue:
        current = queue.popleft()
        if current in config.nodes and current not in seen:
            seen[current] = None
            queue.extend(ways.get(current, ()))
    return seen


def _patients_branch(config: Config, ways_out: Mapping[str, list[str]]) -> list[Problem]:
    """The seed: "Le CSI ne supporte pas les patients" — no patient path may dial such a team."""
    problems: list[Problem] = []
    patients = (n.id for n in config.nodes.values() if n.audience == "patients")
    for node_id in _walk(config, patients, ways_out):
        for i, step in enumerate(config.nodes[node_id].steps):
            provider = config.providers.get(step.target)
            if step.kind == "dial" and provider is not None and not provider.serves_patients:
                problems.append(Problem(step.where, f"nodes.{node_id}.steps[{i}].dial",
                                        f"{provider.id} ne dessert pas les patients "
                                        "(serves_patients: false), mais le chemin d'un patient "
                                        "mène ici"))
    return problems


def _reachability(config: Config, ways_out: Mapping[str, list[str]]) -> list[Problem]:
    """Nodes no caller can reach, and menus from which no path ends the call: two walks of the
    graph, one forward from the entry points and one backward from the nodes that end a call."""
    nodes, line = config.nodes, config.line
    starts = [line.root, line.fallback, *line.shortcuts.values(), *line.on_error.values()]
    seen = _walk(config, starts + [n.fallback for n in nodes.values() if n.fallback], ways_out)
    problems = [Problem(node.where, f"nodes.{node.id}",
                        "inatteignable : aucun menu, raccourci ni repli ne mène ici")
                for node in nodes.values() if node.id not in seen]

    # A node "ends" when it can finish the call without the failure fallback: it is a route,
    # voicemail, goodbye or information, or one of its ways out leads to a node that ends.
    leading_to: dict[str, list[str]] = {}
    for source, outs in ways_out.items():
        for target in outs:
            leading_to.setdefault(target, []).append(source)
    ends = _walk(config, (n.id for n in nodes.values()
                          if n.type in ("route", "voicemail", "hangup", "info")), leading_to)
    problems += [Problem(node.where, f"nodes.{node.id}",
                         "aucune sortie : chaque option ne mène qu'à d'autres menus, en boucle")
                 for node in nodes.values() if node.id not in ends and node.options]
    return problems
