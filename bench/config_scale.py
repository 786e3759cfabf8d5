"""Config at scale: a line of 1,000 menus and 50 calendars, loaded, validated and asked a year
of holiday decisions.

What it measures.

1. ``ivr.loading.load(dir)``, what the app does at start-up and on every hot reload (each
   process, off the call path): read every YAML file, parse, build the schedule (calendars,
   RRULEs checked), validate (references, prompts and their fields, reachability, the patients'
   branch). Timed ``--repeat`` times: best and median; then the share of each step (YAML
   reading, the rest of parsing, the schedule, validation) for one load. The first load of the
   process (``ivr.loading.check``, before the timed ones) is shown too: nothing cached yet (the
   YAML reader's typed plain scalars, phone-number metadata).
2. ``Schedule.is_open(provider, instant)``, what a route asks on every call: for every provider
   (the shipped ones and the generated ones), every ``--step`` minutes (default 5) of 2027, in
   Montréal time (as ``ivr.clock.now()`` gives it). First on a fresh schedule (cold: each
   calendar's holidays are computed once per year, each provider's day once), then the same
   decisions again (warm: the caches answer). The script counts the RRULE evaluations and the
   day computations of each pass: zero in the warm pass means the holiday look-ups are cached.

The config. The shipped files (menus, prompts, providers, the three calendars) are copied to a
temporary folder and generated files are added, in the same formats:

- ``menus/generated.yaml``: ``--menus`` menus (default 1,000) in a tree under a new option 3 of
  the welcome menu (and shortcut *77), three submenus per menu; each menu also offers an
  information node (some with a text-message offer, some reading a team's hours or next
  opening), a route (dial a generated team; when it is closed, an information node; then a
  voicemail) and every eighth a hangup node; 50 voicemail boxes (fewer for a small tree). All
  with their own prompts.
- ``prompts/fr-CA.yaml``: the shipped prompts plus one per generated menu, option, message
  and transfer.
- ``schedules/calendars/gen_NN.yaml``: ``--calendars`` calendars (default 50) extending quebec,
  rsss, gouvernement or an earlier generated calendar (chains up to four deep), each with its
  own holidays (RRULEs, yearly month-days, one-off dates, partial days) and some with closures
  and exceptional openings in 2027.
- ``schedules/providers.yaml``: the shipped teams plus one per calendar, with a phone, varied
  weekly hours (split days, Saturdays, some always open) and some closures and openings of
  their own.

``ivr.loading.check`` must report no problem before anything is timed.

    .venv/bin/python bench/config_scale.py [--menus 1000] [--calendars 50] [--repeat 3]
        [--step 5] [--json] [--strict] [--keep]

Target: load + validate of the 1,000-menu config under 2 s (best of the repeats). Exit status
0 (even when the target is missed, unless ``--strict``: then 1), 2 when the generated config is
invalid.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from ivr import REPO_ROOT
from ivr.loading import check, load
from ivr.schedule import TZ, Schedule, _Entry
from ivr.schedule_build import build_schedule

TARGET_LOAD_S = 2.0  # issue 15: libyaml does the reading (best ~0.45 s here)
YEAR = 2027
TOPICS = ("imprimante", "poste de travail", "tablette", "cellulaire", "caméra", "casque",
          "Teams", "Zoom Santé", "Reacts", "eClinibase", "Octopus", "courriel", "VPN",
          "jeton d'accès", "réseau sans fil", "numériseur", "téléphone IP", "licence")
WEEKLY_HOURS: tuple[Any, ...] = (
    {"mon-fri": ["08:00-16:00"]},
    {"mon-fri": ["07:00-12:00", "13:00-17:00"]},
    {"mon-thu": ["08:30-16:30"], "fri": ["08:30-12:00"]},
    {"mon-fri": ["07:00-19:00"], "sat": ["09:00-12:00", "13:00-16:00"]},
    {"mon,wed,fri": ["09:00-17:00"], "tue,thu": ["12:00-20:00"]},
    "always",
    {"mon-sun": ["00:00-24:00"]},
    {"sat-sun": ["10:00-14:00"]},
)


def dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100),
                    encoding="utf-8")


# ---------------------------------------------------------------------- generation


def calendars(count: int) -> dict[str, dict[str, Any]]:
    """``count`` holiday calendars: variants of the shipped ones, chained by ``extends``."""
    result: dict[str, dict[str, Any]] = {}
    for i in range(count):
        cid = f"gen_{i:02d}"
        parent = ("quebec", "rsss", "gouvernement")[i % 3] if i < 10 or i % 4 == 0 \
            else f"gen_{i - 5 - i % 5:02d}"  # chains: gen_15 -> gen_10 -> rsss -> quebec
        holidays: list[dict[str, Any]] = [
            {"name": f"Journée locale {i}", "date": f"{1 + i % 12:02d}-{10 + i % 15:02d}",
             "why": "Jour local de l'établissement (généré)."},
            {"name": f"Lundi de la rentrée {i}",
             "rule": f"FREQ=YEARLY;BYMONTH={1 + (i + 7) % 12};BYDAY=+{1 + i % 3}MO",
             "why": "Règle RRULE générée."},
            {"name": f"Veille de congé {i}", "date": f"{YEAR}-{1 + i % 12:02d}-{2 + i % 25:02d}",
             "from": "12:00", "why": "Journée écourtée, une seule fois (générée)."},
        ]
        if i % 5 == 0:
            holidays.append({"name": f"Pâques décalé {i}", "rule": f"FREQ=YEARLY;BYEASTER={i % 7}",
                             "why": "Règle BYEASTER générée."})
        calendar: dict[str, Any] = {"name": f"Calendrier généré {i}", "extends": parent,
                                    "holidays": holidays}
        if i % 3 == 0:
            month = 1 + i % 12
            calendar["closures"] = [
                {"from": f"{YEAR}-{month:02d}-{5 + i % 20:02d}T12:00",
                 "to": f"{YEAR}-{month:02d}-{5 + i % 20:02d}T16:00",
                 "name": "Panne du réseau", "why": "Fermeture temporaire (générée)."},
                {"from": f"{YEAR}-{month:02d}-{6 + i % 20:02d}",
                 "to": f"{YEAR}-{month:02d}-{7 + i % 20:02d}",
                 "name": "Déménagement", "why": "Deux jours entiers (générés)."},
            ]
        if i % 4 == 0:
            calendar["openings"] = [
                {"from": f"{YEAR}-{1 + i % 12:02d}-{10 + i % 15:02d}T09:00",
                 "to": f"{YEAR}-{1 + i % 12:02d}-{10 + i % 15:02d}T12:00",
                 "name": "Ouverture exceptionnelle", "why": "Le jour local (générée)."},
            ]
        result[cid] = calendar
    return result


def providers(calendar_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """One team per generated calendar."""
    result: dict[str, dict[str, Any]] = {}
    for i, cid in enumerate(calendar_ids):
        team: dict[str, Any] = {
            "name": f"Équipe générée {i}",
            "phone": f"+1514555{1000 + i:04d}",
            "ring_timeout": 15 + i % 20,
            "contact": f"equipe{i}@example.org",
            "calendar": cid,
            "hours": WEEKLY_HOURS[i % len(WEEKLY_HOURS)],
        }
        if i % 3 == 1:
            team["extension"] = f"{4000 + i}"
            team["extension_pause"] = 1.5
        if i % 6 == 0:
            team["closures"] = [{"from": f"{YEAR}-{1 + i % 12:02d}-15T13:00",
                                 "to": f"{YEAR}-{1 + i % 12:02d}-15T17:00",
                                 "name": "Formation", "why": "Générée."}]
        if i % 7 == 0:
            team["openings"] = [{"from": f"{YEAR}-{1 + i % 12:02d}-20T09:00",
                                 "to": f"{YEAR}-{1 + i % 12:02d}-20T12:00",
                                 "name": "Samedi de déploiement", "why": "Générée."}]
        result[f"gen_p{i:02d}"] = team
    return result


def menus(count: int, teams: Sequence[str], boxes: int
          ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(nodes, boxes, prompts) of ``count`` menus in a tree with three submenus each."""
    nodes: dict[str, Any] = {}
    prompts: dict[str, str] = {}
    box_ids = [f"gen_b{b:02d}" for b in range(boxes)]
    vm_ids = [f"gen_vm{b:02d}" for b in range(boxes)]
    for b, (box, vm) in enumerate(zip(box_ids, vm_ids, strict=True)):
        nodes[vm] = {"type": "voicemail", "title": f"Boîte vocale générée {b}", "box": box}
    for m in range(count):
        mid, topic = f"gen_m{m:04d}", TOPICS[m % len(TOPICS)]
        team = teams[m % len(teams)]
        prompts[f"{mid}.intro"] = f"Menu {m} : problèmes de {topic}."
        options: dict[str, Any] = {}
        for k, child in enumerate(range(3 * m + 1, min(3 * m + 4, count)), start=1):
            options[str(k)] = {"to": f"gen_m{child:04d}", "say": f"{mid}.sous_menu_{k}"}
            prompts[f"{mid}.sous_menu_{k}"] = (
                f"Pour le sous-menu {child}, {TOPICS[child % len(TOPICS)]}, faites le {{touche}}.")
        info, route, hangup = f"gen_i{m:04d}", f"gen_r{m:04d}", f"gen_h{m:04d}"
        options["4"] = {"to": info, "say": f"{mid}.info"}
        options["5"] = {"to": route, "say": f"{mid}.transfert"}
        options["6"] = {"to": vm_ids[m % boxes], "say": f"{mid}.message"}
        prompts[f"{mid}.info"] = f"Pour des renseignements sur {topic}, faites le {{touche}}."
        prompts[f"{mid}.transfert"] = f"Pour parler à l'équipe {team}, faites le {{touche}}."
        prompts[f"{mid}.message"] = "Pour laisser un message, faites le {touche}."
        if m % 8 == 0:
            options["7"] = {"to": hangup, "say": f"{mid}.fin"}
            prompts[f"{mid}.fin"] = "Pour terminer l'appel, faites le {touche}."
            nodes[hangup] = {"type": "hangup", "title": f"Fin {m}", "prompt": f"{hangup}.message"}
            prompts[f"{hangup}.message"] = "Merci d'avoir appelé la ligne de soutien."
        nodes[mid] = {"type": "menu", "title": f"Menu généré {m} ({topic})",
                      "prompt": f"{mid}.intro", "options": options}
        field = ("{" + team + ".heures}", "{" + team + ".reouverture}",
                 "le plus tôt possible")[m % 3]
        prompts[f"{info}.message"] = (
            f"Pour {topic}, faites une demande dans Octopus. L'équipe répond {field}.")
        info_node: dict[str, Any] = {"type": "info", "title": f"Renseignements {m}",
                                     "prompt": f"{info}.message",
                                     "options": {"1": {"to": route, "say": f"{info}.transfert"}}}
        prompts[f"{info}.transfert"] = "Pour être transféré, faites le {touche}."
        if m % 2 == 0:
            info_node["sms"] = {"key": "2", "text": f"{info}.texto"}
            prompts[f"{info}.texto"] = f"Octopus, {topic} : https://example.org/octopus/{m}"
        nodes[info] = info_node
        closed = f"gen_f{m:04d}"
        nodes[route] = {"type": "route", "title": f"Transfert {m} ({team})", "steps": [
            {"dial": team, "say": f"{route}.transfert", "closed": closed},
            {"goto": vm_ids[(m + 1) % boxes], "say": f"{route}.echec"},
        ]}
        prompts[f"{route}.transfert"] = f"Nous vous transférons à l'équipe {team}."
        prompts[f"{route}.echec"] = "Personne n'a pu répondre."
        nodes[closed] = {"type": "info", "title": f"Équipe fermée {m}",
                         "prompt": f"{closed}.message",
                         "options": {"1": {"to": vm_ids[m % boxes], "say": f"{mid}.message"}}}
        prompts[f"{closed}.message"] = (
            f"L'équipe est fermée. Elle est ouverte {{{team}.heures}} et rouvrira "
            f"{{{team}.reouverture}}.")
    box_map = {box: {"name": f"Boîte générée {b}", "greeting": f"{box}.accueil",
                     "emails": [f"boite{b}@example.org"], "retention_days": 30 + b}
               for b, box in enumerate(box_ids)}
    for box in box_ids:
        prompts[f"{box}.accueil"] = "Laissez votre message après le signal sonore."
    return nodes, box_map, prompts


def generate(target: Path, menu_count: int, calendar_count: int) -> dict[str, int]:
    """The shipped config plus the generated files, in ``target``; what was generated."""
    for folder in ("menus", "prompts", "schedules"):
        shutil.copytree(REPO_ROOT / folder, target / folder)
    cals = calendars(calendar_count)
    for cid, calendar in cals.items():
        dump(target / "schedules" / "calendars" / f"{cid}.yaml", calendar)
    teams = providers(list(cals))
    shipped = yaml.safe_load((REPO_ROOT / "schedules" / "providers.yaml").read_text())
    shipped["providers"].update(teams)
    dump(target / "schedules" / "providers.yaml", shipped)
    nodes, boxes, prompts = menus(menu_count, list(teams), max(1, min(50, menu_count)))
    dump(target / "menus" / "generated.yaml", {"nodes": nodes, "boxes": boxes})
    line = yaml.safe_load((REPO_ROOT / "menus" / "ligne.yaml").read_text())
    line["nodes"]["accueil"]["options"]["3"] = {"to": "gen_m0000", "say": "accueil.generes"}
    line["line"]["shortcuts"]["77"] = "gen_m0000"
    dump(target / "menus" / "ligne.yaml", line)
    texts = yaml.safe_load((REPO_ROOT / "prompts" / "fr-CA.yaml").read_text())
    texts["prompts"]["accueil.generes"] = "Pour les menus générés, faites le {touche}."
    texts["prompts"].update(prompts)
    dump(target / "prompts" / "fr-CA.yaml", texts)
    kinds: dict[str, int] = {}
    for node in nodes.values():
        kinds[node["type"]] = kinds.get(node["type"], 0) + 1
    return {"nodes": len(nodes), **{f"{k}_nodes": v for k, v in sorted(kinds.items())},
            "boxes": len(boxes), "prompts": len(texts["prompts"]),
            "providers": len(shipped["providers"]),
            "calendars": len(cals) + len(list((REPO_ROOT / "schedules" / "calendars")
                                              .glob("*.yaml"))),
            "yaml_bytes": sum(p.stat().st_size for p in target.rglob("*.yaml"))}


# ---------------------------------------------------------------------- timing


def timed_loads(directory: Path, repeat: int) -> tuple[list[dict[str, float]], Any]:
    """``repeat`` calls of ``ivr.loading.load``, each with the time of its steps (the module
    functions it calls, wrapped for the duration) and the share of CPU this process had."""
    import ivr.config
    import ivr.loading

    spent: dict[str, float] = {}

    def clocked(module: Any, name: str, label: str) -> tuple[Any, str, Any]:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started

        return module, name, wrapper

    patches = [clocked(ivr.config, "read_yaml", "yaml"), clocked(ivr.loading, "parse", "parse"),
               clocked(ivr.loading, "build_schedule", "schedule"),
               clocked(ivr.loading, "validate", "validate")]
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
    loads, config = [], None
    try:
        for module, name, wrapper in patches:
            setattr(module, name, wrapper)
        for _ in range(repeat):
            spent.clear()
            config = None  # freeing the last load's objects is not part of the next load
            started, cpu = time.perf_counter(), time.process_time()
            config = load(directory)
            wall = time.perf_counter() - started
            loads.append({
                "total_s": wall, "cpu_share": (time.process_time() - cpu) / wall,
                "yaml_reading_s": spent.get("yaml", 0.0),
                "parse_without_yaml_s": spent.get("parse", 0.0) - spent.get("yaml", 0.0),
                "build_schedule_s": spent.get("schedule", 0.0),
                "validate_s": spent.get("validate", 0.0)})
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
    return loads, config


@contextmanager
def counting(cls: type, name: str) -> Iterator[list[int]]:
    """Count the calls of ``cls.name`` inside the block."""
    original = getattr(cls, name)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(cls, name, wrapper)
    try:
        yield calls
    finally:
        setattr(cls, name, original)


def year_instants(step_minutes: int) -> list[dt.datetime]:
    """Every ``step_minutes`` of the year in Montréal time (through both DST changes)."""
    start = dt.datetime(YEAR, 1, 1, tzinfo=TZ).astimezone(dt.UTC)
    end = dt.datetime(YEAR + 1, 1, 1, tzinfo=TZ).astimezone(dt.UTC)
    step = dt.timedelta(minutes=step_minutes)
    instants, at = [], start
    while at < end:
        instants.append(at.astimezone(TZ))
        at += step
    return instants


def decisions(schedule: Schedule, provider_ids: Sequence[str],
              instants: Sequence[dt.datetime]) -> dict[str, Any]:
    """Every provider at every instant; time, open count and the computations it took."""
    with counting(_Entry, "dates") as rrules, counting(Schedule, "_compute_day") as days:
        started = time.perf_counter()
        opened = 0
        for provider_id in provider_ids:
            is_open = schedule.is_open
            for instant in instants:
                opened += is_open(provider_id, instant)
        seconds = time.perf_counter() - started
    count = len(provider_ids) * len(instants)
    return {"decisions": count, "seconds": round(seconds, 3),
            "us_per_decision": round(seconds / count * 1e6, 3), "open": opened,
            "holiday_evaluations": rrules[0], "day_computations": days[0]}


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--menus", type=int, default=1000, help="generated menus (1000)")
    parser.add_argument("--calendars", type=int, default=50, help="generated calendars (50)")
    parser.add_argument("--repeat", type=int, default=3, help="loads timed (3)")
    parser.add_argument("--step", type=int, default=5,
                        help="minutes between two decisions of the year sweep (5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the generated config")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ivr-config-scale-"))

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        say(f"generating {args.menus} menus and {args.calendars} calendars in {tmp}…")
        generated = generate(tmp, args.menus, args.calendars)
        started = time.perf_counter()
        problems = check(tmp)
        first_load = time.perf_counter() - started
        if problems:
            say(f"the generated config is invalid ({len(problems)} problems):")
            for problem in problems[:20]:
                say(f"  {problem}")
            return 2
        say(f"valid (ivr check: 0 problems); timing {args.repeat} loads…")
        loads, config = timed_loads(tmp, args.repeat)
        providers_ids = sorted(config.providers)
        instants = year_instants(args.step)
        say(f"{len(providers_ids)} providers × {len(instants)} instants of {YEAR}, cold…")
        fresh, _ = build_schedule(config)
        cold = decisions(fresh, providers_ids, instants)
        say("… and warm")
        warm = decisions(fresh, providers_ids, instants)
    finally:
        if args.keep:
            say(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    times = [entry["total_s"] for entry in loads]
    best, med = min(times), statistics.median(times)
    steps = min(loads, key=lambda entry: entry["total_s"])
    day_cost = ((cold["seconds"] - warm["seconds"]) / cold["day_computations"] * 1e6
                if cold["day_computations"] else 0.0)
    report = {
        "generated": generated,
        "load_s": {"best": round(best, 3), "median": round(med, 3),
                   "all": [round(t, 3) for t in times], "first": round(first_load, 3),
                   "cpu_share": round(min(entry["cpu_share"] for entry in loads), 2)},
        "load_steps_s": {k: round(v, 3) for k, v in steps.items()
                         if k not in ("total_s", "cpu_share")},
        "year_sweep": {"year": YEAR, "step_minutes": args.step, "providers": len(providers_ids),
                       "instants_per_provider": len(instants), "cold": cold, "warm": warm,
                       "us_per_day_computation": round(day_cost, 1),
                       "cached": warm["holiday_evaluations"] == 0
                       and warm["day_computations"] == 0},
        "targets": {"load_under_2_s": best < TARGET_LOAD_S},
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(report)
    if args.strict and not all(report["targets"].values()):
        return 1
    return 0


def print_report(report: dict[str, Any]) -> None:
    g, ld, st, ys = (report["generated"], report["load_s"], report["load_steps_s"],
                     report["year_sweep"])
    kinds = ", ".join(f"{v} {k.removesuffix('_nodes')}" for k, v in g.items()
                      if k.endswith("_nodes"))
    print(f"config    {g['nodes']} generated nodes ({kinds}) + the shipped tree; "
          f"{g['boxes']} generated boxes")
    print(f"          {g['prompts']} prompts, {g['providers']} providers, {g['calendars']} "
          f"calendars ({g['calendars'] - 3} generated), {g['yaml_bytes'] / 1024:.0f} KiB of "
          "YAML; ivr check: 0 problems")
    runs = ", ".join(f"{t:.3f}" for t in ld["all"])
    print(f"load      ivr.loading.load (parse + schedule + validate): best {ld['best']:.3f} s, "
          f"median {ld['median']:.3f} s  ({runs}); the process's first load (ivr check, "
          f"nothing cached yet): {ld['first']:.3f} s")
    print(f"          the best load: YAML reading {st['yaml_reading_s']:.3f} s, the rest of "
          f"parsing {st['parse_without_yaml_s']:.3f} s, schedule {st['build_schedule_s']:.3f} s, "
          f"validation {st['validate_s']:.3f} s")
    if ld["cpu_share"] < 0.9:
        print(f"WARNING   a load had the CPU only {ld['cpu_share']:.0%} of the time: another job "
              "was running; rerun on an idle machine")
    print(f"holidays  is_open for {ys['providers']} providers × every {ys['step_minutes']} min "
          f"of {ys['year']} ({ys['instants_per_provider']} instants each, Montréal time)")
    for name in ("cold", "warm"):
        r = ys[name]
        print(f"  {name:<5}   {r['decisions']} decisions in {r['seconds']:.2f} s = "
              f"{r['us_per_decision']:.2f} µs each; {r['holiday_evaluations']} holiday-rule "
              f"evaluations, {r['day_computations']} provider-days computed "
              f"({r['open']} open)")
    cold, warm = ys["cold"]["seconds"], ys["warm"]["seconds"]
    print(f"          cache: warm pass {cold / warm if warm else 0:.2f}× faster; a provider-day "
          f"costs ≈{ys['us_per_day_computation']:.0f} µs to compute, once; holiday look-ups "
          f"cached: {'yes' if ys['cached'] else 'NO'}")
    verdict = "PASS" if report["targets"]["load_under_2_s"] else "FAIL"
    print(f"target    {g['menu_nodes']:,}-menu config loaded and validated < {TARGET_LOAD_S} s: "
          f"{verdict} (best {ld['best']:.3f} s)")
    print(f"target    holiday look-ups cached: {'PASS' if ys['cached'] else 'FAIL'}")


if __name__ == "__main__":
    sys.exit(main())
