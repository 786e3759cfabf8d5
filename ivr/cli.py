"""``ivr``: the administrators' commands (check, call, tree, holidays, status) and Flask's own.

Problems are exceptions everywhere else; here they become ``file:line: key: message`` lines
and exit codes.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import click
from flask.cli import FlaskGroup

from ivr import REPO_ROOT, create_app, migrations
from ivr.config import ConfigInvalid, check, load
from ivr.simulator import DIAL_OUTCOMES, CallSimulator
from ivr.validate import edges


def config_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("IVR_CONFIG_DIR") or REPO_ROOT)


config_option = click.option(
    "--config-dir", "config_dir_", metavar="DIR", default=None,
    help="Folder holding menus/, schedules/ and prompts/ (default: IVR_CONFIG_DIR or the repo).",
)


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def main() -> None:
    """Ligne de soutien technologique en télésanté: check, try and run the line."""


@main.command("check", with_appcontext=False)
@config_option
def check_command(config_dir_: str | None) -> None:
    """Validate every YAML file; print each problem as file:line: key: message."""
    directory = config_dir(config_dir_)
    problems = check(directory)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    config = load(directory)
    click.echo(f"OK: {len(config.nodes)} nodes, {len(config.prompts)} prompts, "
               f"{len(config.providers)} providers, {len(config.calendars)} calendars "
               f"(version {config.version})")


@main.command("call", with_appcontext=False)
@click.option("--at", "at", metavar="ISO", default=None,
              help="Instant of the call with its offset (default: IVR_NOW or now).")
@click.option("--from", "caller", default="+15145550123", show_default=True,
              help="The caller's number.")
@click.option("--to", "called", default="+15145550000", show_default=True)
@click.option("--keys", default="", help='Keys: "2,1,1,1"; "," waits for the next prompt, '
                                         '"." stays silent.')
@click.option("--dial", "dial_outcomes", default="",
              help=f"Result of each <Dial> in turn, comma-separated ({', '.join(DIAL_OUTCOMES)});"
                   " default: answered.")
@click.option("--json", "as_json", is_flag=True, help="Print the call as JSON.")
@config_option
def call_command(at: str | None, caller: str, called: str, keys: str, dial_outcomes: str,
                 as_json: bool, config_dir_: str | None) -> None:
    """Play a call through the real app in-process and print what the caller hears."""
    outcomes = [o.strip() for o in dial_outcomes.split(",") if o.strip()]
    for outcome in outcomes:
        if outcome not in DIAL_OUTCOMES:
            raise click.BadParameter(f"{outcome!r} (expected one of {', '.join(DIAL_OUTCOMES)})",
                                     param_hint="--dial")
    overrides = {
        "IVR_CONFIG_DIR": str(config_dir(config_dir_)),
        # A simulated call leaves no trace in the line's journal or voicemail boxes.
        "DATABASE_URL": "sqlite://",
        "IVR_WORKER": False,
        # The simulator signs its own requests; a throw-away token when none is configured.
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN") or secrets.token_hex(16),
        "TESTING": True,
    }
    if at or os.environ.get("IVR_NOW"):
        overrides["IVR_NOW"] = at or os.environ["IVR_NOW"]
    try:
        app = create_app(overrides)
    except ConfigInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    migrations.upgrade(app.extensions["ivr.store"].engine)
    result = CallSimulator(app, caller=caller, called=called, dial_outcomes=outcomes).play(keys)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    now = app.extensions["ivr.now"]
    when = now.strftime("%Y-%m-%d %H:%M %Z") if now else "now"
    click.echo(f"Call from {caller} at {when}")
    for exchange in result.exchanges:
        click.echo(click.style(f"  POST {exchange.url}", dim=True))
        for text in exchange.said:
            click.echo(f"    « {text} »")
        if exchange.dialled:
            d = exchange.dialled
            extra = f" then keys {d.send_digits}" if d.send_digits else ""
            click.echo(f"    ☎ dial {d.number}{extra} → {d.outcome}")
        if exchange.recorded:
            click.echo("    ● voicemail recorded")
        if exchange.pressed is not None:
            click.echo(f"    ⌨ {exchange.pressed or '(silence)'}")
    click.echo(f"End: {result.kind}")


@main.command("tree", with_appcontext=False)
@config_option
def tree_command(config_dir_: str | None) -> None:
    """Print the phone tree as an indented outline."""
    try:
        config = load(config_dir(config_dir_))
    except ConfigInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)

    shown: set[str] = set()

    def describe(node_id: str) -> str:
        node = config.nodes[node_id]
        detail = node.type
        if node.type == "route":
            detail = "route: " + " → ".join(
                f"{s.kind} {s.target}" for s in node.steps)
        elif node.type == "voicemail":
            detail = f"voicemail box {node.box}"
        if node.sms:
            detail += f"; {node.sms.key} = SMS"
        return f"{node.id} — {node.title} [{detail}]"

    def walk(node_id: str, label: str, depth: int) -> None:
        indent = "  " * depth
        if node_id in shown and any(True for _ in edges(config, config.nodes[node_id])):
            click.echo(f"{indent}{label} {node_id} (see above)")
            return
        shown.add(node_id)
        click.echo(f"{indent}{label} {describe(node_id)}")
        for edge_label, target in edges(config, config.nodes[node_id]):
            walk(target, edge_label, depth + 1)

    walk(config.line.root, "☎", 0)
    for key, target in sorted(config.line.shortcuts.items()):
        click.echo(f"*{key} → {target}")
    for key, what in sorted(config.line.reserved.items()):
        click.echo(f"{key} reserved: {what}")


@main.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (safe to run again)."""
    from flask import current_app

    store = current_app.extensions["ivr.store"]
    migrations.upgrade(store.engine)
    click.echo(f"Database at revision {migrations.current(store.engine)}: {_safe_url(store.url)}")


@db_group.command("current")
def db_current() -> None:
    """Print the schema's revision, and whether it is the latest."""
    from flask import current_app

    store = current_app.extensions["ivr.store"]
    state = "up to date" if migrations.is_current(store.engine) else "needs `ivr db upgrade`"
    click.echo(f"{migrations.current(store.engine)} ({state})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _register_schedule_commands() -> None:
    from ivr.cli_schedule import holidays_command, status_command

    main.add_command(holidays_command, "holidays")
    main.add_command(status_command, "status")


_register_schedule_commands()
