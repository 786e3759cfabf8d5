"""``ivr``: the administrators' commands, in French (click's own words too, see ``FrenchHelp``).

Problems are exceptions everywhere else; here they become ``file:line: key: message`` lines
and exit codes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, NoAppException
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from ivr import REPO_ROOT, create_app, migrations
from ivr.admin.commands import admin_group
from ivr.cli_schedule import (
    announce_group,
    closure_group,
    echo_json,
    holidays_command,
    json_option,
    parse_at,
    status_command,
)
from ivr.clock import ClockError, parse_instant
from ivr.config import ENGLISH_KEY, FIRST_LANGUAGE, Config, ConfigInvalid, Problem, Where
from ivr.effort import REFERENCE_INSTANT, budget_warnings, efforts
from ivr.lint import config_warnings, placeholder_problems, spoken_prompts
from ivr.loading import check, load
from ivr.notify import make_due, mask_recipient, outbox_pass, scrub
from ivr.recordings import TwilioUnavailable, describe, parse_since, purge, reconcile
from ivr.schedule import TZ
from ivr.security import DEV_TOKEN, InsecureStart
from ivr.services import services
from ivr.simulator import DIAL_OUTCOMES, CallSimulator
from ivr.speech import seconds, words
from ivr.stats import node_title
from ivr.twiml import spoken_ssml
from ivr.validate import edges

# ---------------------------------------------------------------------- click in French

CLICK_ENGLISH = (  # click's own words (it speaks English only), as this program says them
    (r"Show this message and exit\.", "Afficher cette aide et quitter."),
    (r"\[default: (.*?)\]", r"[défaut : \1]"),
    (r"\[required\]", "[obligatoire]"),
    (r"Invalid value for '?([^':]+)'?: ", r"valeur invalide pour \1 : "),
    (r"No such option '(.+?)'\.", r"option inconnue « \1 »."),
    (r"No such command '(.+?)'\.", r"commande inconnue « \1 »."),
    (r"Missing argument '(.+?)'\.", r"argument manquant : \1."),
    (r"Missing option '(.+?)'\.", r"option manquante : \1."),
    (r"Option '(.+?)' requires an argument\.", r"l'option \1 demande une valeur."),
    (r"Option '(.+?)' does not take a value\.", r"l'option \1 ne prend pas de valeur."),
    (r"Got unexpected extra arguments? \((.*)\)", r"argument(s) en trop : \1"),
    (r"'(.*)' is not one of (.*)\.", r"« \1 » n'est pas parmi \2."),
    (r"'(.*)' is not a valid integer\.", r"« \1 » n'est pas un nombre entier."),
    (r"\(?Did you mean (?:one of: )?(.*?)\?\)?$", r"(vouliez-vous dire \1 ?)"),
)
HEADINGS = {"Commands": "Commandes", "Positional arguments": "Arguments"}


def in_french(text: str) -> str:
    for english, french in CLICK_ENGLISH:
        text = re.sub(english, french, text)
    return text


class FrenchHelp(click.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args.replace("COMMAND [ARGS]", "COMMANDE [ARGUMENTS]"),
                            "Utilisation : " if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{HEADINGS.get(heading, heading)} :\n")

    def write_dl(self, rows, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().write_dl([(term, in_french(text)) for term, text in rows], *args, **kwargs)


class FrenchContext(click.Context):
    formatter_class = FrenchHelp


@contextmanager
def errors_shown() -> Iterator[None]:
    """Click's errors, shown here in French instead of by click; a configuration's problems as
    ``file:line`` lines."""
    try:
        yield
    except ConfigInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    except click.exceptions.NoArgsIsHelpError:
        raise  # its message is the help, already in French
    except click.ClickException as exc:
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            click.echo(f"{exc.ctx.get_usage()}\nEssayez « {exc.ctx.command_path} --help » pour "
                       "l'aide.\n", err=True)
        click.echo(f"Erreur : {in_french(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt, EOFError):
        click.echo("\nInterrompu.", err=True)
        sys.exit(1)


# ---------------------------------------------------------------------- the group


config_option = click.option(
    "--config-dir", metavar="DOSSIER", default=None,
    callback=lambda _ctx, _param, value: Path(value or os.environ.get("IVR_CONFIG_DIR")
                                              or REPO_ROOT),
    help="Dossier qui contient menus/, schedules/ et prompts/ (défaut : IVR_CONFIG_DIR, sinon "
         "celui du dépôt).",
)


def _token() -> str:
    return os.environ.get("TWILIO_AUTH_TOKEN") or secrets.token_hex(16)


def _cli_app():
    """The app for the commands that need one, with a throw-away TWILIO_AUTH_TOKEN if none (a
    command answers no webhook); a refusal to start is one line, not a traceback."""
    try:
        return create_app({"IVR_CLI": True, "TWILIO_AUTH_TOKEN": _token()})
    except (InsecureStart, ConfigInvalid, ClockError, ValueError) as exc:
        raise NoAppException(str(exc)) from exc


class LineCommands(FlaskGroup):
    """The line's own commands only (``flask --app app run`` has Flask's); errors in French,
    a database missing or without its tables in one line."""

    list_commands = click.Group.list_commands
    get_command = click.Group.get_command

    def make_context(self, *args, **kwargs) -> click.Context:  # type: ignore[no-untyped-def]
        with errors_shown():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> object:
        with errors_shown():
            try:
                return super().invoke(ctx)
            except (OperationalError, ProgrammingError) as exc:
                reason = (str(exc.orig).strip().splitlines() or ["?"])[0][:200]
                raise click.ClickException(
                    f"base de données : {reason}. Une base neuve se prépare avec « ivr db "
                    "upgrade » (DATABASE_URL dit laquelle).") from exc


@click.group(cls=LineCommands, create_app=_cli_app, add_version_option=False,
             add_default_commands=False, load_dotenv=False, set_debug_flag=False)
def main() -> None:
    """Ligne de soutien technologique en télésanté : vérifier, essayer et exploiter la ligne.

    Sans TWILIO_AUTH_TOKEN, les commandes qui ne parlent pas à Twilio fonctionnent quand
    même ; IVR_DEV=1 n'est utile que pour servir la ligne en développement."""


main.params = []  # no --app, --env-file or --debug: the line is the app


def simulation_app(config_dir: Path, at: str | None = None):
    """The real app on a throw-away database, for calls played in-process (``ivr call``,
    ``ivr effort``, ``ivr check``): no journal, no voicemail, no text leaves it. Its clock:
    ``at``, else IVR_NOW (``create_app`` reads it), else the real one."""
    overrides = {"IVR_CONFIG_DIR": str(config_dir), "DATABASE_URL": "sqlite://",
                 "IVR_WORKER": False, "IVR_RELOAD_SECONDS": 0, "TESTING": True,
                 "TWILIO_AUTH_TOKEN": _token()}
    if at:
        overrides["IVR_NOW"] = at
    try:
        app = create_app(overrides)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    migrations.upgrade(services(app).store.engine)
    return app


# ---------------------------------------------------------------------- languages

LANGUAGES = {"fr": "fr-CA", "en": "en-CA"}  # --lang: the code a call's URL carries (l=en)


def lang_option(help_text: str):
    return click.option("--lang", "lang", type=click.Choice(sorted(LANGUAGES)), default="fr",
                        show_default=True, help=help_text)


def served_language(app, lang: str) -> str:
    """``--lang``'s language, if the line serves it (line.languages); a usage error if not."""
    language = LANGUAGES[lang]
    if language not in services(app).line.configs:
        raise click.UsageError(f"la ligne ne sert pas {language} : ajoutez-la à line.languages "
                               "(menus/ligne.yaml)")
    return language


def config_in(config_dir: Path, lang: str) -> Config:
    """The config of ``config_dir`` with the prompts of ``--lang``, if the line serves it."""
    language = LANGUAGES[lang]
    config = load(config_dir)
    if language == FIRST_LANGUAGE:
        return config
    if language not in config.line.languages:
        raise click.UsageError(f"la ligne ne sert pas {language} : ajoutez-la à "
                               "line.languages (menus/ligne.yaml)")
    return load(config_dir, language)


# ---------------------------------------------------------------------- the configuration


@main.command("check", with_appcontext=False)
@config_option
@click.option("--server", metavar="URL", default=None,
              help="Demander aussi à la ligne en service (son adresse) quelle version elle sert et "
                   "si elle a refusé la dernière modification.")
def check_command(config_dir: Path, server: str | None) -> None:
    """Valider tous les fichiers YAML ; chaque problème en fichier:ligne: clé: message."""
    if server:
        report_server(server)
    problems = check(config_dir) or placeholder_problems(load(config_dir))
    if not problems:  # the warnings: prompts, menus, boxes, local days, paths over budget
        app = simulation_app(config_dir, REFERENCE_INSTANT)
        config = services(app).line.config
        english = [budget_warnings(other, efforts(app, language=language))
                   for language, other in services(app).line.configs.items()
                   if language != FIRST_LANGUAGE]  # each path in English, from its key 9
        for warning in (config_warnings(config, datetime.now(TZ).date())
                        + budget_warnings(config, efforts(app))
                        + [w for found in english for w in found]):
            click.echo(f"avertissement : {warning}", err=True)
    if os.environ.get("IVR_NOW"):
        try:
            parse_instant(os.environ["IVR_NOW"])
        except ClockError as exc:
            problems.append(Problem(Where("(environnement)", 0), "IVR_NOW", str(exc)))
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo("Une ligne en service refuse cette version et garde la dernière bonne "
                   "(GET /healthz dit laquelle, et pourquoi).", err=True)
        click.echo(f"{len(problems)} problème(s) dans {config_dir}", err=True)
        sys.exit(1)
    config = load(config_dir)
    click.echo(f"OK : {len(config.nodes)} nœuds, {len(config.prompts)} messages, "
               f"{len(config.providers)} équipes, {len(config.calendars)} calendriers "
               f"(version {config.version})")


def report_server(base: str) -> None:
    """What the running line serves, from its /healthz (read-only, no secret needed)."""
    url = base.rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (admin's URL)
            health = json.load(response)
    except (OSError, ValueError) as exc:
        click.echo(f"{url} : injoignable ({exc})", err=True)
        return
    config = health.get("config", {})
    reachable = health.get("database", {}).get("reachable")
    click.echo(f"{url} : sert la version {config.get('version')} depuis "
               f"{config.get('loaded_at')} ({config.get('reloads', 0)} rechargement(s)) ; base "
               f"de données {'joignable' if reachable else 'INJOIGNABLE'}")
    error = config.get("last_reload_error")
    if error:
        click.echo(f"{url} : dernière modification REFUSÉE le {error.get('at')} :", err=True)
        for problem in error.get("problems", [])[:20]:
            click.echo(f"  {problem}", err=True)


KEY_CHARACTERS = frozenset("0123456789*#,. ")
ENDINGS = {"dial": "transfert", "record": "boîte vocale", "hangup": "raccroché",
           "end": "fin des instructions", "limit": "trop de requêtes", "error": "erreur"}


@main.command("call", with_appcontext=False)
@click.option("--at", metavar="ISO", help="Instant de l'appel, avec son fuseau, ex. "
              "2027-03-15T10:00:00-04:00 (défaut : IVR_NOW, sinon maintenant).")
@click.option("--from", "caller", metavar="NUMÉRO", default="+15145550123", show_default=True,
              help="Le numéro de l'appelant.")
@click.option("--to", "called", metavar="NUMÉRO", default="+15145550000", show_default=True)
@click.option("--keys", metavar="TOUCHES", default="",
              help='Touches : "2,1,1,1" ; "," attend le message suivant, "." reste silencieux, '
                   '"*11" un raccourci.')
@click.option("--dial", "dial_outcomes", metavar="RÉSULTATS", default="",
              help=f"Résultat de chaque transfert, dans l'ordre, séparés par des virgules "
                   f"({', '.join(DIAL_OUTCOMES)}) ; défaut : completed (on répond).")
@json_option("L'appel en JSON.")
@click.option("--server", metavar="URL", default=None,
              help="Jouer l'appel sur une ligne en service à cette adresse (ex. "
                   "http://127.0.0.1:5000), signé avec TWILIO_AUTH_TOKEN, ou le jeton public de "
                   "développement d'une ligne lancée avec IVR_DEV=1 ; l'heure est la sienne.")
@lang_option("Langue de l'appel : en = l'appelant fait le 9 à l'accueil en français (l'offre "
             "de service en anglais), puis les touches --keys dans le menu d'accueil anglais.")
@config_option
def call_command(at: str | None, caller: str, called: str, keys: str, dial_outcomes: str,
                 as_json: bool, server: str | None, lang: str, config_dir: Path) -> None:
    """Jouer un appel dans la vraie ligne et afficher ce que l'appelant entend."""
    outcomes = [o.strip() for o in dial_outcomes.split(",") if o.strip()]
    for outcome in outcomes:
        if outcome not in DIAL_OUTCOMES:
            raise click.BadParameter(f"« {outcome} » : attendu {', '.join(DIAL_OUTCOMES)}",
                                     param_hint="--dial")
    if not set(keys) <= KEY_CHARACTERS:
        wrong = "".join(sorted(set(keys) - KEY_CHARACTERS))
        raise click.BadParameter(f"« {wrong} » : une touche est 0-9, * ou # (« , » attend le "
                                 "message suivant, « . » reste silencieux)", param_hint="--keys")
    if at is not None:
        parse_at(at)
    app = simulation_app(config_dir, at)
    if lang != "fr":  # as a caller does: the French welcome, its key 9, then the keys
        if not server:
            served_language(app, lang)
        keys = f"{ENGLISH_KEY},{keys}" if keys else ENGLISH_KEY
    token = (os.environ.get("TWILIO_AUTH_TOKEN") or DEV_TOKEN) if server else None
    result = CallSimulator(app, caller=caller, called=called, dial_outcomes=outcomes,
                           server=server, token=token).play(keys)
    if as_json:
        return echo_json(result.to_dict())
    now = None if server else services(app).now
    click.echo(f"Appel de {caller}, {now.strftime('%Y-%m-%d %H:%M %Z') if now else 'maintenant'}")
    for exchange in result.exchanges:
        click.echo(click.style(f"  POST {exchange.url}", dim=True))
        if exchange.status not in (200, 204):
            why = " (signature : ce n'est pas son jeton)" if exchange.status == 403 else ""
            click.echo(f"    HTTP {exchange.status} : la ligne a refusé la requête{why}")
        for text in exchange.said:
            click.echo(f"    « {text} »")
        if d := exchange.dialled:
            extra = f" puis les touches {d.send_digits}" if d.send_digits else ""
            click.echo(f"    ☎ compose {d.number}{extra} → {d.outcome}")
        if exchange.recorded:
            click.echo("    ● message enregistré")
        if exchange.pressed is not None:
            click.echo(f"    ⌨ {exchange.pressed or '(silence)'}")
    click.echo(f"Fin : {ENDINGS.get(result.kind, result.kind)}")
    if result.kind == "error":
        sys.exit(1)


@main.command("effort", with_appcontext=False)
@click.option("--at", metavar="ISO",
              help="Instant des appels (défaut : un mardi à 10 h, toutes les équipes ouvertes).")
@json_option("Les chemins en JSON.")
@lang_option("Langue des chemins : en = chaque chemin commence à l'accueil en français, "
             "écouté en entier, par le 9 (compté), puis se poursuit en anglais.")
@config_option
def effort_command(at: str | None, as_json: bool, lang: str, config_dir: Path) -> None:
    """Secondes de messages jusqu'à chaque destination, menus écoutés en entier.

    Chaque chemin est joué dans la vraie ligne ; les mots que la voix reçoit sont comptés à
    2,6 par seconde en français, 2,8 en anglais (plus les pauses et, si l'appelant attend sans
    taper, le délai du menu). Les budgets sont dans menus/ligne.yaml (line.budgets) ; en
    anglais, ceux du même chemin en français, le 9 compris.
    """
    app = simulation_app(config_dir, at or REFERENCE_INSTANT)
    found = efforts(app, language=served_language(app, lang))
    if as_json:
        return echo_json([{**asdict(e), "over": e.over} for e in found])
    config = services(app).line.config
    width = max((len(e.keys) for e in found), default=4)
    for effort in found:
        person = effort.ends in ("dial", "record")
        budget = f"/ {effort.budget} s" if effort.budget and person else ""
        flag = "  AU-DELÀ DU BUDGET" if effort.over and person else ""
        ending = {"dial": "☎", "record": "●", "info": "ℹ"}.get(effort.ends, "✕")
        click.echo(f"{effort.keys:<{width}}  {effort.seconds:5.1f} s {budget:<7} {ending} "
                   f"{effort.destination} — {node_title(config, effort.node)}{flag}")


@main.command("prompts", with_appcontext=False)
@click.option("--spoken", is_flag=True,
              help="Chaque message tel que la voix le reçoit (SSML), avec ses secondes.")
@lang_option("Les messages de cette langue (en : prompts/en-CA.yaml et son lexique).")
@config_option
def prompts_command(spoken: bool, lang: str, config_dir: Path) -> None:
    """Les messages de la ligne, tels qu'écrits ou (--spoken) tels que dits."""
    config = config_in(config_dir, lang)
    for prompt_id in spoken_prompts(config):
        prompt = config.prompts[prompt_id]
        if not spoken:
            click.echo(f"{prompt.id}: {prompt.text}")
            continue
        said = config.lexicon.spoken(prompt.text)
        click.echo(f"{prompt.id} ({seconds(words(said), config.language):.1f} s)")
        click.echo(f"  {spoken_ssml(prompt.text, config.lexicon)}")


@main.command("tree", with_appcontext=False)
@lang_option("Avec en : sous chaque nœud, ses messages en anglais (prompts/en-CA.yaml).")
@config_option
def tree_command(lang: str, config_dir: Path) -> None:
    """L'arborescence téléphonique, en plan indenté."""
    language = LANGUAGES[lang]
    config = config_in(config_dir, lang)
    shown: set[str] = set()

    def texts(node_id: str, indent: str) -> None:
        """The node's prompts, options and details as written in ``language``."""
        if language == FIRST_LANGUAGE:
            return
        node = config.nodes[node_id]
        keyed = [(node.options[k].say, k) for k in sorted(node.options) if node.options[k].say]
        ids = [*node.prompt, *(prompt_id for prompt_id, _ in keyed), *node.details]
        keys = dict(keyed)
        if node.type == "voicemail" and not node.prompt and node.box in config.boxes:
            ids.append(config.boxes[node.box].greeting)
        if node.type == "route":
            ids += [p for step in node.steps for p in step.say]
        for prompt_id in ids:
            prompt = config.prompts.get(prompt_id or "")
            if prompt is not None:
                text = " ".join(prompt.text.split())
                if prompt_id in keys:
                    text = text.replace("{touche}", keys[prompt_id])
                click.echo(f"{indent}    « {text} »")

    def walk(node_id: str, label: str, depth: int) -> None:
        node, indent = config.nodes[node_id], "  " * depth
        if node_id in shown and any(True for _ in edges(config, node)):
            click.echo(f"{indent}{label} {node_id} (voir plus haut)")
            return
        shown.add(node_id)
        detail = node.type
        if node.type == "route":
            detail = "route: " + " → ".join(f"{s.kind} {s.target}" for s in node.steps)
        elif node.type == "voicemail":
            detail = f"boîte vocale {node.box}"
        if node.sms:
            detail += f"; {node.sms.key} = SMS"
        click.echo(f"{indent}{label} {node.id} — {node.title} [{detail}]")
        texts(node_id, indent)
        for edge_label, target in edges(config, node):
            walk(target, edge_label, depth + 1)

    walk(config.line.root, "☎", 0)
    for key, target in sorted(config.line.shortcuts.items()):
        click.echo(f"*{key} → {target}")
    for key, what in sorted(config.line.reserved.items()):
        if key == ENGLISH_KEY and len(config.line.languages) > 1:
            click.echo(f"{key} → service en anglais : la même arborescence, avec les messages "
                       "de prompts/en-CA.yaml")
        else:
            click.echo(f"{key} réservée : {what}")


@main.group("db")
def db_group() -> None:
    """Le schéma de la base de données (migrations Alembic)."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Créer ou mettre à jour le schéma (sans danger si on la relance)."""
    store = services(current_app).store
    migrations.upgrade(store.engine)
    click.echo(f"Base de données à la version {migrations.current(store.engine)} : "
               f"{make_url(store.url).render_as_string(hide_password=True)}")


@db_group.command("current")
def db_current() -> None:
    """La version du schéma, et si c'est la plus récente."""
    store = services(current_app).store
    state = "à jour" if migrations.is_current(store.engine) else "à mettre à jour : ivr db upgrade"
    click.echo(f"{migrations.current(store.engine)} ({state})")


# ---------------------------------------------------------------------- storage: voicemails,
# journal, outbox, retention and reconciliation (read the app's database: DATABASE_URL)


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    try:
        return None if value is None else parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def since_option(help_text: str, required: bool = False):
    return click.option("--since", metavar="DATE", required=required, callback=_since,
                        help=help_text + " AAAA-MM-JJ (heure de Montréal) ou ISO-8601.")


def _local(moment: datetime | None) -> str | None:
    return moment.astimezone(TZ).isoformat() if moment is not None else None


def _short(moment: datetime | None) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def _echo_rows(rows, names: str, **computed) -> None:
    """Each row's fields ``names``, instants in Montréal time, or ``computed`` from the row."""
    def value(row, name: str):
        if name in computed:
            return computed[name](row)
        found = getattr(row, name)
        return _local(found) if isinstance(found, datetime) else found

    echo_json([{name: value(row, name) for name in names.split()} for row in rows])


# What the lists show of a status or an outcome (the JSON and --status keep the identifiers).
VOICEMAIL_STATES = {"new": "nouveau", "handled": "traité"}
OUTCOMES = {"answered": "répondu", "voicemail": "boîte vocale", "no-answer": "sans réponse",
            "info": "renseigné", "hangup": "raccroché"}
OUTBOX_STATES = {"pending": "en attente", "sent": "envoyé", "failed": "abandonné"}
KINDS = {"email": "courriel", "sms": "texto"}


@main.command("voicemails")
@click.option("--box", metavar="BOÎTE", default=None, help="Seulement cette boîte.")
@click.option("--status", type=click.Choice(["new", "handled"]), default=None,
              help="Seulement les messages nouveaux (new) ou traités (handled).")
@json_option("Les messages en JSON.")
def voicemails_command(box: str | None, status: str | None, as_json: bool) -> None:
    """Les messages vocaux, du plus récent au plus ancien."""
    rows = services(current_app).store.voicemails(box=box, status=status)
    if as_json:
        return _echo_rows(rows, "id box caller received_at duration path status recording_sid "
                                "handled_by handled_at")
    if not rows:
        return click.echo("Aucun message vocal.")
    config = services(current_app).line.config
    for v in rows:
        duration = f"{(v.duration or 0) // 60}:{(v.duration or 0) % 60:02d}"
        state = (f"traité par {v.handled_by} le {_short(v.handled_at)}"
                 if v.status == "handled" else VOICEMAIL_STATES.get(v.status, v.status))
        click.echo(f"#{v.id:<5} {_short(v.received_at)}  {v.box:<12} "
                   f"{v.caller or 'numéro masqué':<16} {duration:>5}  {state}")
        if titles := [node_title(config, n) for n in (v.path or "").split(".") if n]:
            click.echo(f"       {' > '.join(titles)}")
    click.echo(f"{len(rows)} message(s)")


@main.command("calls")
@since_option("Seulement les appels commencés depuis")
@json_option("Les appels en JSON.")
def calls_command(since: datetime | None, as_json: bool) -> None:
    """Les appels du journal, du plus récent au plus ancien (numéros masqués)."""
    rows = services(current_app).store.calls(since=since)
    if as_json:
        return _echo_rows(rows, "call_sid started_at ended_at caller branch last_node "
                                "destination outcome duration")
    if not rows:
        return click.echo("Aucun appel.")
    for c in rows:
        duration = f"{c.duration} s" if c.duration is not None else "-"
        outcome = OUTCOMES.get(c.outcome, c.outcome) if c.outcome else "en cours"
        destination = f" ({c.destination})" if c.destination else ""
        click.echo(f"{_short(c.started_at)}  {c.call_sid}  {c.caller or '?':<10} {outcome:<12} "
                   f"{duration:>6}  {c.branch or '-'} → {c.last_node or '-'}{destination}")
    click.echo(f"{len(rows)} appel(s)")


@main.command("outbox")
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), default=None,
              help="Seulement les messages en attente (pending), envoyés (sent) ou abandonnés "
                   "(failed).")
@click.option("--send", is_flag=True, help="Envoyer maintenant ce qui est dû, puis lister.")
@click.option("--retry", is_flag=True,
              help="Avec --send : tout ce qui attend est dû maintenant (après avoir réparé "
                   "SMTP ou Twilio).")
@json_option("Les messages en JSON.")
def outbox_command(status: str | None, send: bool, retry: bool, as_json: bool) -> None:
    """Les courriels et textos à envoyer, envoyés ou abandonnés (numéros masqués)."""
    store = services(current_app).store
    if retry and not send:
        raise click.UsageError("--retry s'emploie avec --send")
    if send:
        if retry:
            make_due(store)
        sent = outbox_pass(current_app, limit=500)
        click.echo(f"{sent} message(s) envoyé(s).", err=as_json)
    rows = store.outbox(status=status)
    if as_json:
        return _echo_rows(
            rows, "id kind recipient subject status attempts created_at next_attempt_at sent_at "
                  "external_id last_error", recipient=mask_recipient,
            next_attempt_at=lambda m: _local(m.next_attempt_at) if m.status == "pending" else None,
            last_error=lambda m: scrub(m.last_error) if m.last_error else None)
    if not rows:
        return click.echo("Rien à envoyer.")
    for m in rows:
        when = (f"  le {_short(m.sent_at)}" if m.status == "sent" else
                f"  prochain essai le {_short(m.next_attempt_at)}" if m.status == "pending"
                else "")
        click.echo(f"#{m.id:<5} {KINDS.get(m.kind, m.kind):<8} {mask_recipient(m):<30} "
                   f"{OUTBOX_STATES.get(m.status, m.status):<10} essais {m.attempts}{when}")
        if m.last_error and m.status != "sent":
            click.echo(f"       dernière erreur : {scrub(m.last_error)[:200]}")
    click.echo(f"{len(rows)} message(s)")


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="Lister ce qui serait effacé, sans rien effacer.")
def purge_command(dry_run: bool) -> None:
    """Effacer les messages vocaux plus vieux que la conservation de leur boîte (chez Twilio
    aussi) et l'ancien journal."""
    try:
        report = purge(services(current_app).store, services(current_app).line.config,
                       current_app.config, dry_run=dry_run)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    journal = f"appels commencés avant le {_short(report.journal_before)}"
    if dry_run:
        for voicemail in report.expired:
            click.echo(f"effacerait le message {describe(voicemail)}")
        click.echo(f"retirerait {report.calls} appel(s) du journal ({journal})")
        click.echo(f"Essai : {len(report.expired)} message(s) et {report.calls} appel(s) "
                   "partiraient ; rien n'est effacé.")
        return
    for voicemail in report.deleted:
        click.echo(f"message effacé {describe(voicemail)}")
    for voicemail, reason in report.kept:
        click.echo(f"message GARDÉ {describe(voicemail)} : {reason}", err=True)
    click.echo(f"{report.calls} appel(s) retiré(s) du journal ({journal})")
    click.echo(f"Purge : {len(report.deleted)} message(s) effacé(s), {len(report.kept)} "
               f"gardé(s) pour la prochaine, {report.calls} appel(s).")
    if not report.ok:
        sys.exit(1)


@main.command("reconcile")
@since_option("Les enregistrements faits chez Twilio depuis", required=True)
def reconcile_command(since: datetime) -> None:
    """Ajouter les messages que Twilio a enregistrés sans que la ligne en soit avisée."""
    try:
        result = reconcile(services(current_app).store, services(current_app).line.config,
                           current_app.config, since, current_app.config.get("IVR_PUBLIC_URL"))
    except TwilioUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    except RuntimeError as exc:
        raise click.UsageError(str(exc)) from exc
    for voicemail in result.added:
        click.echo(f"message ajouté {describe(voicemail)}")
    for sid, why in result.skipped:
        click.echo(f"enregistrement {sid} laissé : {why}")
    for problem in result.problems:
        click.echo(f"avertissement : {problem}", err=True)
    click.echo(f"{len(result.added)} message(s) ajouté(s), {result.known} déjà connu(s), "
               f"{result.emails} courriel(s) en attente (enregistrements depuis le "
               f"{_short(result.since)}).")


main.add_command(admin_group)
main.add_command(holidays_command, "holidays")
main.add_command(status_command, "status")
main.add_command(announce_group)
main.add_command(closure_group)


def _in_french(command: click.Command) -> None:
    command.context_class = FrenchContext
    for sub in getattr(command, "commands", {}).values():
        _in_french(sub)


_in_french(main)
