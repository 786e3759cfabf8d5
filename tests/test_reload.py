"""Hot reload: administrators edit YAML while the line runs; a bad edit never reaches a caller.

The line checks its files (``LineConfig.check``, run every ``IVR_RELOAD_SECONDS`` by a watcher
thread), validates a new version off the call path and swaps it in whole; a version that fails
validation is refused and the last good one goes on serving, with the error in the log and in
``GET /healthz``.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path

import pytest
from twiml_rules import assert_valid, said, signed_post, twilio_form

from ivr.services import services
from ivr.simulator import CallSimulator

WELCOME = "Bonjour, soutien technologique en télésanté"
NEW_WELCOME = "Bonjour et bienvenue au soutien technologique en télésanté"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def live(make_app, config_copy):
    """An app serving a writable copy of the config, reloaded by hand with ``line.check()``."""
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    return app, services(app).line, config_copy


def welcome(app) -> str:
    return said(assert_valid(signed_post(app.test_client(), "/voice")))


def health(app) -> dict:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    return response.get_json()


def test_a_valid_edit_is_served_without_a_restart(live):
    app, line, directory = live
    before = line.config.version
    assert WELCOME in welcome(app)
    edit(directory / "prompts" / "fr-CA.yaml", "Bonjour, soutien",
         "Bonjour et bienvenue au soutien")
    assert line.check() is True
    assert NEW_WELCOME in welcome(app)
    status = health(app)
    assert status["config"]["version"] == line.config.version != before
    assert status["config"]["reloads"] == 1
    assert status["config"]["last_reload_error"] is None


def test_an_invalid_edit_is_refused_and_the_last_good_version_serves(live, caplog):
    app, line, directory = live
    good = line.config.version
    edit(directory / "menus" / "ligne.yaml", '"2": {to: personnel,', '"2": {to: personel,')
    with caplog.at_level(logging.ERROR, logger="ivr.lines"):
        assert line.check() is False
    assert line.config.version == good
    # The error names file, line and key, in the log and in /healthz.
    assert "menus/ligne.yaml:" in caplog.text and "personel" in caplog.text
    status = health(app)
    assert status["status"] == "degraded"
    problems = status["config"]["last_reload_error"]["problems"]
    assert any(p.startswith("menus/ligne.yaml:") and "personel" in p for p in problems)
    # Callers are served by the last good version: 2 still leads to the staff menu.
    staff_menu = said(assert_valid(signed_post(app.test_client(), "/voice/input/accueil",
                                               twilio_form(Digits="2"))))
    assert "Problème technique, faites le 1" in staff_menu
    # The administrator fixes it: the error clears and the fix is served.
    edit(directory / "menus" / "ligne.yaml", '"2": {to: personel,', '"2": {to: personnel,')
    line.check()
    assert health(app)["config"]["last_reload_error"] is None
    assert health(app)["status"] == "ok"


def test_yaml_that_does_not_parse_is_refused(live):
    app, line, directory = live
    good = line.config.version
    (directory / "schedules" / "providers.yaml").write_text("providers: [\n  oops: {", "utf-8")
    assert line.check() is False
    assert line.config.version == good
    problems = health(app)["config"]["last_reload_error"]["problems"]
    assert any(p.startswith("schedules/providers.yaml:2: (syntaxe)") for p in problems)
    assert CallSimulator(app).play("2,1,1,1").kind == "dial"


@pytest.mark.parametrize("what", ["menus/patient.yaml", "prompts/fr-CA.yaml", "menus"])
def test_files_deleted_mid_run_keep_the_last_good_version(live, what):
    app, line, directory = live
    good = line.config.version
    target = directory / what
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    assert line.check() is False
    assert line.config.version == good
    assert health(app)["config"]["last_reload_error"] is not None
    # Both branches still end where they should.
    assert CallSimulator(app).play("2,1,1,1").dials[0].number == "+15142514000"
    assert CallSimulator(app).play("1,1,1").kind == "record"


def test_a_call_that_spans_a_reload_finishes_sensibly(live):
    """The caller is in a menu that an administrator removes: back to the welcome menu, with an
    apology, never an error."""
    app, line, directory = live
    client = app.test_client()
    menu = assert_valid(signed_post(client, "/voice/input/patient?p=accueil",
                                    twilio_form(Digits="2")))
    action = menu.find("Gather").get("action")
    assert action.startswith("/voice/input/patient_question")
    # Remove the node (and the options that led to it) so the new version is valid.
    edit(directory / "menus" / "patient.yaml", "  patient_question:", "  patient_question_v2:")
    edit(directory / "menus" / "patient.yaml", "to: patient_question,", "to: patient_question_v2,")
    assert line.check() is True
    assert "patient_question" not in line.config.nodes
    root = assert_valid(signed_post(client, action, twilio_form(Digits="1")))
    text = said(root)
    assert "ce menu a changé" in text
    assert WELCOME in text
    assert root.find("Gather").get("action").startswith("/voice/input/accueil")


def test_a_dial_result_for_a_route_that_changed_goes_on(live):
    app, line, directory = live
    client = app.test_client()
    for path in directory.joinpath("menus").glob("*.yaml"):
        text = re.sub(r"(?<!option\.)(?<!raccourci\.)\burgence_ti\b", "urgence_info",
                      path.read_text("utf-8"))
        path.write_text(text, "utf-8")
    assert line.check() is True, line.last_error
    root = assert_valid(signed_post(client, "/voice/dial/urgence_ti/0?p=accueil.personnel",
                                    twilio_form(DialCallStatus="no-answer")))
    assert WELCOME in said(root)


def test_reverting_to_the_served_files_clears_the_error(live):
    app, line, directory = live
    path = directory / "menus" / "ligne.yaml"
    original = path.read_text("utf-8")
    path.write_text(original.replace("root: accueil", "root: nulle_part"), "utf-8")
    assert line.check() is False
    path.write_text(original, "utf-8")
    assert line.check() is False  # same version as served: nothing to swap…
    assert line.last_error is None  # …but the refusal is over


def test_the_watcher_picks_up_changes_by_itself(make_app, config_copy):
    app = make_app(IVR_CONFIG_DIR=str(config_copy), IVR_RELOAD_SECONDS=0.2)
    line = services(app).line
    reloaded = threading.Event()

    class Reloads(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("config reloaded"):
                reloaded.set()

    logger = logging.getLogger("ivr.lines")
    handler, level = Reloads(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert WELCOME in welcome(app)  # the first request starts this process's watcher
        edit(config_copy / "prompts" / "fr-CA.yaml", "Bonjour, soutien",
             "Bonjour et bienvenue au soutien")
        assert reloaded.wait(timeout=60)  # nobody asked: the watcher's thread saw it
        assert line.reloads == 1
        assert NEW_WELCOME in welcome(app)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        line.stop()


def test_healthz_reports_an_unreachable_database(make_app, tmp_path):
    app = make_app(migrate=False, DATABASE_URL=f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    status = health(app)
    assert status["database"] == {"reachable": False, "backend": "sqlite"}
    assert status["status"] == "degraded"
    assert health(app)["config"]["version"] == services(app).line.config.version


def test_healthz_ok(app):
    status = health(app)
    assert status["status"] == "ok"
    assert status["database"]["reachable"] is True
    assert status["spool"] == {"pending": 0, "quarantined": 0, "oldest_seconds": None}
    assert set(status["worker"]) == {"failures"}


def test_a_broken_config_still_refuses_to_start(make_app, config_copy):
    from ivr.config import ConfigInvalid

    edit(config_copy / "menus" / "ligne.yaml", "root: accueil", "root: nulle_part")
    with pytest.raises(ConfigInvalid, match="menus/ligne.yaml"):
        make_app(IVR_CONFIG_DIR=str(config_copy))


def test_ivr_check_reports_what_the_running_line_serves(live, monkeypatch):
    """`ivr check --server URL`: the files' problems, and the running line's refusal."""
    import threading

    from click.testing import CliRunner
    from werkzeug.serving import make_server

    from ivr.cli import main

    app, line, directory = live
    edit(directory / "menus" / "ligne.yaml", "root: accueil", "root: nulle_part")
    line.check()
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("IVR_CONFIG_DIR", str(directory))
        result = CliRunner().invoke(main, ["check", "--server",
                                           f"http://127.0.0.1:{server.server_port}"])
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert result.exit_code == 1
    assert f"sert la version {line.config.version}" in result.output
    assert "dernière modification REFUSÉE" in result.output
    assert result.output.count("menus/ligne.yaml:") >= 2  # on disk, and as the line refused it
