"""The day's changes (issue 17): announcements and temporary closures or openings in the
database, their audit, their validation, and how every instance serves them — within seconds of
a change, and through a dead database.

Tests taking ``database_url`` run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from ivr import REPO_ROOT
from ivr.cli import main
from ivr.cli_schedule import parse_duration
from ivr.loading import load
from ivr.overrides import (
    CLOSURE,
    CONTINUE,
    HANG_UP,
    LINE,
    MAX_ANNOUNCEMENT,
    OPENING,
    Announcement,
    ScheduleChange,
)
from ivr.overrides_store import (
    CLI_SOURCE,
    REFRESH_SECONDS,
    InvalidOverride,
    OverrideNotFound,
    OverrideStore,
    for_app,
    problems,
)
from ivr.schedule import TZ
from ivr.services import services
from ivr.store import Store

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)  # make_app's IVR_NOW
HOUR = timedelta(hours=1)
WHO = {"who": "alice", "via": "console", "source": "203.0.113.7"}


@pytest.fixture(scope="module")
def config():
    return load(REPO_ROOT)


@pytest.fixture
def overrides(store, config) -> OverrideStore:
    return OverrideStore(store, config=config, clock=lambda: NOW)


def announce(overrides: OverrideStore, **fields) -> int:
    values = {"scope": LINE, "starts_at": NOW, "ends_at": NOW + 2 * HOUR,
              "text": "Le réseau Octopus est en panne ce matin.", **WHO, **fields}
    return overrides.add_announcement(**values)


def close(overrides: OverrideStore, **fields) -> int:
    values = {"provider": "csi", "kind": CLOSURE, "starts_at": NOW, "ends_at": NOW + 4 * HOUR,
              "reason": "formation de l'équipe", **WHO, **fields}
    return overrides.add_change(**values)


# ---------------------------------------------------------------------- storage and audit


def test_announcements_added_changed_ended_and_deleted_each_leave_an_audit_row(overrides):
    first = announce(overrides)
    second = announce(overrides, scope="personnel", starts_at=NOW + HOUR, ends_at=NOW + 3 * HOUR,
                      text=None, audio_url="https://example.org/panne.mp3", then=HANG_UP,
                      who="bob", via="cli", source=None)
    [a, b] = overrides.announcements()
    assert (a.id, a.scope, a.starts_at, a.ends_at, a.then, a.created_by) == (
        first, LINE, NOW, NOW + 2 * HOUR, CONTINUE, "alice")
    assert a.text == "Le réseau Octopus est en panne ce matin." and a.audio_url is None
    assert a.starts_at.utcoffset() == timedelta(0)  # aware, UTC, on both backends
    assert (b.id, b.scope, b.text, b.audio_url, b.then) == (
        second, "personnel", None, "https://example.org/panne.mp3", HANG_UP)
    assert (a.state(NOW), b.state(NOW)) == ("en cours", "à venir")

    changed = overrides.update_announcement(first, text="Panne réglée vers midi.",
                                            ends_at=NOW + 3 * HOUR, who="carole", via="console")
    assert (changed.text, changed.ends_at, changed.updated_by) == (
        "Panne réglée vers midi.", NOW + 3 * HOUR, "carole")
    assert changed.scope == LINE and changed.created_by == "alice"  # the rest stays
    assert overrides.end_announcement(first, **WHO)
    assert overrides.announcement(first).ends_at == NOW
    assert not overrides.end_announcement(first, **WHO)  # already over: nothing to end
    assert [r.id for r in overrides.announcements()] == [second]
    assert [r.id for r in overrides.announcements(include_past=True)] == [first, second]
    assert overrides.delete_announcement(second, who="bob", via="cli")
    assert not overrides.delete_announcement(second, who="bob", via="cli")
    assert overrides.announcement(second) is None
    assert overrides.announcements(include_past=True)[0].id == first

    audit = overrides.audit()
    assert [(r.action, r.kind, r.object_id, r.who, r.via, r.source) for r in audit] == [
        ("suppression", "annonce", second, "bob", "cli", CLI_SOURCE),
        ("fin", "annonce", first, "alice", "console", "203.0.113.7"),
        ("modification", "annonce", first, "carole", "console", None),
        ("création", "annonce", second, "bob", "cli", CLI_SOURCE),
        ("création", "annonce", first, "alice", "console", "203.0.113.7"),
    ]
    assert "« Le réseau Octopus est en panne ce matin. »" in audit[-1].summary
    assert "toute la ligne" in audit[-1].summary and "2026-12-01 10:00" in audit[-1].summary
    assert "changé : fin 2026-12-01 12:00 → 2026-12-01 13:00, texte" in audit[2].summary
    assert "terminée le 2026-12-01 10:00" in audit[1].summary
    assert "nœud personnel" in audit[0].summary and "l'appel se termine" in audit[0].summary
    assert len(overrides.audit(limit=2)) == 2


def test_closures_and_openings_added_changed_ended_and_deleted(overrides):
    closure = close(overrides)
    opening = close(overrides, provider="gbm", kind=OPENING, reason="", starts_at=NOW + HOUR,
                    ends_at=NOW + 5 * HOUR, who="bob", via="téléphone", source="+15145550123")
    [c, o] = overrides.changes()
    assert (c.id, c.provider, c.kind, c.reason, c.created_by) == (
        closure, "csi", CLOSURE, "formation de l'équipe", "alice")
    assert (o.id, o.provider, o.kind, o.reason) == (opening, "gbm", OPENING, "")
    assert c.value() == ScheduleChange(closure, "csi", CLOSURE, NOW, NOW + 4 * HOUR,
                                       "formation de l'équipe", "alice")
    changed = overrides.update_change(closure, kind=OPENING, who="alice", via="console")
    assert (changed.kind, changed.provider, changed.updated_by) == (OPENING, "csi", "alice")
    assert overrides.end_change(opening, who="bob", via="cli")  # not started: cancelled
    cancelled = overrides.change(opening)
    assert cancelled.starts_at == cancelled.ends_at == NOW and not cancelled.active(NOW)
    assert overrides.delete_change(closure, **WHO)
    assert overrides.changes() == [] and overrides.change(closure) is None
    audit = overrides.audit()
    assert [(r.action, r.kind, r.object_id, r.via) for r in audit] == [
        ("suppression", OPENING, closure, "console"),
        ("fin", OPENING, opening, "cli"),
        ("modification", OPENING, closure, "console"),
        ("création", OPENING, opening, "téléphone"),
        ("création", CLOSURE, closure, "console"),
    ]
    assert audit[-2].source == "+1514…23"  # Loi 25: a caller's number is never kept whole
    assert "annulée" in audit[1].summary
    assert audit[-1].summary.startswith("fermeture de csi du 2026-12-01 10:00 au 2026-12-01 "
                                        "14:00 : « formation de l'équipe »")


def test_a_change_and_its_audit_row_are_one_transaction(overrides, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("audit refused")

    monkeypatch.setattr(OverrideStore, "_audit", broken)
    with pytest.raises(RuntimeError):
        announce(overrides)
    with pytest.raises(RuntimeError):
        close(overrides)
    monkeypatch.undo()
    assert overrides.announcements(include_past=True) == []
    assert overrides.changes(include_past=True) == []
    first = announce(overrides)
    monkeypatch.setattr(OverrideStore, "_audit", broken)
    with pytest.raises(RuntimeError):
        overrides.end_announcement(first, **WHO)
    assert overrides.announcement(first).ends_at == NOW + 2 * HOUR


def test_unknown_or_deleted_entries_cannot_be_changed(overrides):
    with pytest.raises(OverrideNotFound):
        overrides.update_announcement(99, text="x", **WHO)
    first = announce(overrides)
    overrides.delete_announcement(first, **WHO)
    with pytest.raises(OverrideNotFound, match="introuvable"):
        overrides.update_announcement(first, text="x", **WHO)
    assert not overrides.end_announcement(first, **WHO)
    assert not overrides.end_change(42, **WHO)


# ---------------------------------------------------------------------- validation


def a(**fields) -> Announcement:
    return Announcement(**{"id": 0, "scope": LINE, "starts_at": NOW, "ends_at": NOW + HOUR,
                           "text": "Bonjour.", **fields})


def c(**fields) -> ScheduleChange:
    return ScheduleChange(**{"id": 0, "provider": "csi", "kind": CLOSURE, "starts_at": NOW,
                             "ends_at": NOW + HOUR, **fields})


@pytest.mark.parametrize(("entry", "expected"), [
    (a(), []),
    (a(scope="personnel", then="raccrocher"), []),
    (a(text=None, audio_url="https://example.org/a.mp3", then="vm_patients"), []),
    (a(ends_at=NOW + MAX_ANNOUNCEMENT), []),
    (a(text=None), ["une annonce a un texte ou un enregistrement (adresse audio)"]),
    (a(text="  "), ["une annonce a un texte ou un enregistrement (adresse audio)"]),
    (a(audio_url="https://example.org/a.mp3"),
     ["une annonce a un texte ou un enregistrement, pas les deux"]),
    (a(text=None, audio_url="ftp://example.org/a.mp3"),
     ["l'enregistrement doit être une adresse https:// d'au plus 1000 caractères"]),
    (a(ends_at=NOW), ["la fin (2026-12-01 10:00) doit venir après le début (2026-12-01 10:00)"]),
    (a(ends_at=NOW - HOUR),
     ["la fin (2026-12-01 09:00) doit venir après le début (2026-12-01 10:00)"]),
    (a(ends_at=NOW + MAX_ANNOUNCEMENT + HOUR),
     ["une annonce dure au plus 14 jours (ici 14 jours et 1 h) : rien ne reste en place parce "
      "qu'on l'a oublié"]),
    (a(ends_at=datetime(2026, 12, 1, 12, 0)), ["la fin doit être une date et heure avec son "
                                                "fuseau"]),
    (a(scope="nulle_part"), ["portée inconnue « nulle_part » : « ligne » (toute la ligne) ou "
                             "l'identifiant d'un nœud du menu (« ivr tree » les montre)"]),
    (a(then="ailleurs"), ["ensuite inconnu « ailleurs » : « continuer », « raccrocher » ou "
                          "l'identifiant d'un nœud du menu (« ivr tree » les montre)"]),
    (a(text="x" * 1001), ["le texte a 1001 caractères, au plus 1000"]),
    (c(), []),
    (c(kind=OPENING, ends_at=NOW + MAX_ANNOUNCEMENT), []),
    (c(provider="nasa"), ["équipe inconnue « nasa » (connues : csi, cda, cssns, equipe_soins, "
                          "telesante, gbm, audiovisuel, reacts, dsp)"]),
    (c(kind="vacances"), ["type inconnu « vacances » : « fermeture » ou « ouverture »"]),
    (c(ends_at=NOW - HOUR),
     ["la fin (2026-12-01 09:00) doit venir après le début (2026-12-01 10:00)"]),
    (c(kind=OPENING, ends_at=NOW + timedelta(days=15)),
     ["une ouverture dure au plus 14 jours (ici 15 jours) : rien ne reste en place parce qu'on "
      "l'a oublié"]),
], ids=lambda value: "" if isinstance(value, list) else None)
def test_problems_are_said_in_french(config, entry, expected):
    assert problems(config, entry) == expected


def test_without_a_config_only_what_needs_none_is_checked():
    assert problems(None, a(scope="personnel", then="vm_patients")) == []
    assert problems(None, c(provider="nasa")) == []
    assert problems(None, c(provider="")) == ["l'équipe est obligatoire"]
    assert len(problems(None, a(text=None, ends_at=NOW))) == 2


def test_an_invalid_entry_is_refused_with_its_problems_and_nothing_is_written(overrides):
    with pytest.raises(InvalidOverride) as refused:
        announce(overrides, scope="nulle_part", text=None, who=" ", via="courriel")
    assert isinstance(refused.value, ValueError)
    assert refused.value.problems == (
        "une annonce a un texte ou un enregistrement (adresse audio)",
        "portée inconnue « nulle_part » : « ligne » (toute la ligne) ou l'identifiant d'un nœud "
        "du menu (« ivr tree » les montre)",
        "qui fait le changement : obligatoire (son nom)",
        "fait par « courriel » : « console », « cli » ou « téléphone »")
    with pytest.raises(InvalidOverride, match="équipe inconnue « nasa »"):
        close(overrides, provider="nasa")
    first = announce(overrides)
    with pytest.raises(InvalidOverride, match="pas les deux"):
        overrides.update_announcement(first, audio_url="https://example.org/a.mp3", **WHO)
    with pytest.raises(InvalidOverride, match="au plus 14 jours"):
        overrides.update_announcement(first, ends_at=NOW + timedelta(days=20), **WHO)
    assert overrides.announcement(first).ends_at == NOW + 2 * HOUR
    assert [r.action for r in overrides.audit()] == ["création"]
    assert overrides.changes() == []


def test_validated_against_the_served_config_in_an_app(make_app):
    app = make_app()
    with app.app_context(), pytest.raises(InvalidOverride, match="équipe inconnue"):
        OverrideStore(services(app).store).add_change(
            provider="nasa", kind=CLOSURE, starts_at=NOW, ends_at=NOW + HOUR, reason="", **WHO)


# ---------------------------------------------------------------------- expiry


def test_entries_end_by_themselves_without_anyone_acting(overrides):
    now_on = announce(overrides)
    later = announce(overrides, starts_at=NOW + 3 * HOUR, ends_at=NOW + 5 * HOUR)
    closure = close(overrides)
    snapshot = overrides.snapshot(NOW)
    assert [x.id for x in snapshot.announcements] == [now_on, later]  # to come included
    assert [x.id for x in snapshot.announcements_at(LINE, NOW)] == [now_on]
    assert snapshot.change_at("csi", NOW).id == closure
    # The same snapshot, kept by a process that could not read it again: it still ends on time.
    assert snapshot.announcements_at(LINE, NOW + 2 * HOUR) == ()
    assert [x.id for x in snapshot.announcements_at(LINE, NOW + 3 * HOUR)] == [later]
    assert snapshot.change_at("csi", NOW + 4 * HOUR) is None
    assert snapshot.next_boundary(NOW) == NOW + 2 * HOUR
    # Read again later: what ended is no longer there at all.
    assert [x.id for x in overrides.snapshot(NOW + 2 * HOUR).announcements] == [later]
    assert overrides.snapshot(NOW + 5 * HOUR).announcements == ()
    assert overrides.snapshot(NOW + 4 * HOUR).changes == ()


# ---------------------------------------------------------------------- instances


def test_a_change_on_one_instance_is_served_by_another_at_its_next_refresh(make_app,
                                                                         database_url):
    one, two = (make_app(DATABASE_URL=database_url, IVR_OVERRIDES_SECONDS=0) for _ in "12")
    assert REFRESH_SECONDS <= 5  # each instance's thread refreshes at least this often
    for app in (one, two):
        services(app).overrides.refresh()
    first = for_app(one).add_announcement(scope=LINE, starts_at=NOW, ends_at=NOW + HOUR,
                                          text="Panne.", **WHO)
    # The instance that made it serves it at once; the other at its next refresh.
    assert [x.id for x in services(one).overrides.current().announcements_at(LINE, NOW)] == [
        first]
    assert services(two).overrides.current().announcements == ()
    assert services(two).overrides.refresh()
    assert [x.id for x in services(two).overrides.current().announcements_at(LINE, NOW)] == [
        first]
    closure = for_app(two).add_change(provider="csi", kind=CLOSURE, starts_at=NOW,
                                      ends_at=NOW + HOUR, reason="", **WHO)
    assert for_app(two).end_announcement(first, **WHO)
    services(one).overrides.refresh()
    served = services(one).overrides.current()
    assert served.announcements_at(LINE, NOW) == ()
    assert served.change_at("csi", NOW).id == closure
    assert served.version == services(two).overrides.current().version


def test_the_watcher_thread_refreshes_starts_lazily_and_again_after_a_fork(make_app,
                                                                         database_url):
    app = make_app(DATABASE_URL=database_url, IVR_OVERRIDES_SECONDS=0.02)
    watcher = services(app).overrides
    assert watcher._thread is None  # nothing until the first caller
    watcher.current()
    thread = watcher._thread
    assert thread is not None and thread.name == "ivr-overrides" and thread.is_alive()
    # Added behind this process's back (another instance): the thread picks it up.
    added = OverrideStore(services(app).store).add_announcement(
        scope=LINE, starts_at=NOW, ends_at=NOW + HOUR, text="Panne.", **WHO)
    seen = threading.Event()
    for _ in range(500):
        if watcher.current().announcements:
            seen.set()
            break
        watcher._stopping.wait(0.02)
    assert seen.is_set() and watcher.current().announcements[0].id == added
    # After a fork the parent's thread is not the child's: the first caller starts one.
    watcher._stopping.set()
    thread.join(5)
    watcher._forked()
    watcher.current()
    assert watcher._thread is not thread and watcher._thread.is_alive()
    watcher.stop()
    assert not watcher._thread.is_alive()
    watcher.current()  # stopped for good: no thread comes back
    assert not watcher._thread.is_alive()


def test_an_in_memory_database_gets_no_thread(make_app):
    app = make_app(IVR_OVERRIDES_SECONDS=2)  # sqlite://: one connection for every thread
    services(app).overrides.current()
    assert services(app).overrides._thread is None


# ---------------------------------------------------------------------- a dead database


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def database_down(store: Store) -> Iterator[None]:
    """PostgreSQL: every new connection goes to a port nothing listens on. SQLite: the file's
    path names an empty directory. Pooled connections are dropped first."""
    engine = store.engine
    if engine.dialect.name == "postgresql":
        port = _closed_port()

        def elsewhere(_dialect, _record, _cargs, cparams) -> None:
            cparams["port"] = port

        event.listen(engine, "do_connect", elsewhere)
        engine.dispose()
        try:
            yield
        finally:
            event.remove(engine, "do_connect", elsewhere)
            engine.dispose()
        return
    path = Path(engine.url.database)
    moved = path.with_name("moved-away.sqlite3")
    engine.dispose()
    path.rename(moved)
    path.mkdir()
    try:
        yield
    finally:
        engine.dispose()
        path.rmdir()
        moved.rename(path)


def test_a_dead_database_leaves_the_last_snapshot_serving_and_entries_end_on_time(
        make_app, database_url, caplog):
    app = make_app(DATABASE_URL=database_url, IVR_OVERRIDES_SECONDS=0)
    watcher = services(app).overrides
    store = for_app(app)
    first = store.add_announcement(scope=LINE, starts_at=NOW, ends_at=NOW + HOUR,
                                   text="Panne.", **WHO)
    store.add_change(provider="csi", kind=CLOSURE, starts_at=NOW, ends_at=NOW + 2 * HOUR,
                     reason="", **WHO)
    served = watcher.current()
    assert len(served.announcements) == 1 and watcher.last_error is None
    caplog.set_level(logging.WARNING, logger="ivr.overrides_store")
    with database_down(services(app).store):
        assert not watcher.refresh()
        assert not watcher.refresh()
        assert watcher.current() is served
        assert [x.id for x in watcher.current().announcements_at(LINE, NOW)] == [first]
        assert watcher.current().announcements_at(LINE, NOW + HOUR) == ()  # ends on time
        assert watcher.current().change_at("csi", NOW + 2 * HOUR) is None
        health = app.test_client().get("/healthz").get_json()["overrides"]
        assert (health["announcements"], health["changes"], health["database_error"]) == (
            1, 1, True)
        with pytest.raises(Exception):  # noqa: B017  (whatever the driver raises)
            store.add_announcement(scope=LINE, starts_at=NOW, ends_at=NOW + HOUR,
                                   text="Non.", **WHO)
    warnings = [r for r in caplog.records if "database unreadable" in r.getMessage()]
    assert len(warnings) == 1  # once a minute, not once a refresh
    assert watcher.refresh() and watcher.last_error is None


# ---------------------------------------------------------------------- /healthz


def test_healthz_counts_what_is_active(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, IVR_OVERRIDES_SECONDS=0)
    store = for_app(app)
    store.add_announcement(scope=LINE, starts_at=NOW - HOUR, ends_at=NOW + HOUR, text="a", **WHO)
    store.add_announcement(scope=LINE, starts_at=NOW + HOUR, ends_at=NOW + 2 * HOUR, text="b",
                           **WHO)
    store.add_change(provider="csi", kind=CLOSURE, starts_at=NOW, ends_at=NOW + 30 * HOUR / 60,
                     reason="", **WHO)
    health = app.test_client().get("/healthz").get_json()
    assert health["overrides"]["announcements"] == 1
    assert health["overrides"]["changes"] == 1
    assert health["overrides"]["next_end"] == "2026-12-01T10:30:00-05:00"
    assert health["overrides"]["refreshed_at"] is not None


# ---------------------------------------------------------------------- the commands


def ivr(app, *args: str):
    return app.test_cli_runner().invoke(main, list(args), env={"USER": "alice"})


def test_cli_announce_add_list_and_end(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, IVR_OVERRIDES_SECONDS=0)
    added = ivr(app, "announce", "add", "--texte", "Panne du réseau.", "--duree", "1h30")
    assert added.exit_code == 0, added.output
    assert added.output.startswith("Annonce n° 1 ajoutée : annonce (toute la ligne) du "
                                   "2026-12-01 10:00 au 2026-12-01 11:30 : « Panne du réseau. »")
    later = ivr(app, "announce", "add", "--texte", "Demain.", "--portee", "personnel",
                "--debut", "2026-12-02 08:00", "--fin", "2026-12-02T12:00-05:00",
                "--ensuite", "raccrocher", "--par", "bob")
    assert later.exit_code == 0, later.output
    listed = ivr(app, "announce", "list")
    assert listed.output.splitlines() == [
        "#1    en cours  annonce (toute la ligne) du 2026-12-01 10:00 au 2026-12-01 11:30 : "
        "« Panne du réseau. », puis le menu continue  [alice]",
        "#2    à venir   annonce (nœud personnel) du 2026-12-02 08:00 au 2026-12-02 12:00 : "
        "« Demain. », puis l'appel se termine  [bob]",
        "2 annonce(s)"]
    assert services(app).overrides.current().announcements_at(LINE, NOW)[0].id == 1
    ended = ivr(app, "announce", "end", "1")
    assert (ended.exit_code, ended.output) == (0, "Annonce n° 1 terminée.\n")
    assert services(app).overrides.current().announcements_at(LINE, NOW) == ()
    again = ivr(app, "announce", "end", "1")
    assert again.exit_code == 1
    assert "aucune annonce n° 1 en cours ou à venir" in again.output
    rows = json.loads(ivr(app, "announce", "list", "--tout", "--json").output)
    assert [(r["id"], r["state"], r["ends_at"]) for r in rows] == [
        (1, "terminée", "2026-12-01T10:00-05:00"), (2, "à venir", "2026-12-02T12:00-05:00")]
    audit = for_app(app).audit()
    assert [(r.action, r.who, r.via, r.source) for r in audit] == [
        ("fin", "alice", "cli", CLI_SOURCE), ("création", "bob", "cli", CLI_SOURCE),
        ("création", "alice", "cli", CLI_SOURCE)]


def test_cli_refusals_are_in_french(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, IVR_OVERRIDES_SECONDS=0)
    refused = ivr(app, "announce", "add", "--texte", "x", "--portee", "nulle_part",
                  "--duree", "20j")
    assert refused.exit_code == 1
    assert refused.output.splitlines()[:3] == [
        "Erreur : annonce refusée :",
        "  - une annonce dure au plus 14 jours (ici 20 jours) : rien ne reste en place parce "
        "qu'on l'a oublié",
        "  - portée inconnue « nulle_part » : « ligne » (toute la ligne) ou l'identifiant d'un "
        "nœud du menu (« ivr tree » les montre)"]
    neither = ivr(app, "announce", "add", "--texte", "x")
    assert neither.exit_code == 2 and "--fin ou --duree" in neither.output
    bad = ivr(app, "closure", "add", "--fournisseur", "csi", "--duree", "deux heures")
    assert bad.exit_code == 2 and "une durée comme 2h" in bad.output
    bad = ivr(app, "closure", "add", "--fournisseur", "csi", "--fin", "bientôt")
    assert bad.exit_code == 2 and "« bientôt » : une date et heure" in bad.output
    nobody = app.test_cli_runner().invoke(main, ["closure", "add", "--fournisseur", "csi",
                                                 "--duree", "1h"], env={"USER": "",
                                                                        "LOGNAME": ""})
    assert nobody.exit_code == 1 and "qui fait le changement : obligatoire" in nobody.output
    assert for_app(app).changes() == [] and for_app(app).announcements() == []


def test_cli_closure_add_list_end_and_status(make_app, database_url):
    app = make_app(DATABASE_URL=database_url, IVR_OVERRIDES_SECONDS=0)
    added = ivr(app, "closure", "add", "--fournisseur", "csi", "--raison", "formation",
                "--fin", "14:00")
    assert added.exit_code == 0, added.output
    assert added.output == ("Fermeture n° 1 ajoutée : fermeture de csi du 2026-12-01 10:00 au "
                            "2026-12-01 14:00 : « formation ».\n")
    opened = ivr(app, "closure", "add", "--fournisseur", "gbm", "--ouverture", "--debut",
                 "9h", "--duree", "1j")
    assert opened.exit_code == 0, opened.output
    ivr(app, "announce", "add", "--texte", "Panne.", "--duree", "2h")
    listed = ivr(app, "closure", "list").output.splitlines()
    assert listed[0].startswith("#2    en cours  ouverture de gbm du 2026-12-01 09:00 au "
                                "2026-12-02 09:00")  # by start
    assert listed[1].startswith("#1    en cours  fermeture de csi du 2026-12-01 10:00")
    at = NOW.isoformat()
    status = ivr(app, "status", "--at", at)
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert any(line.split()[:2] == ["csi", "fermé"] and "fermeture temporaire : formation"
               in line and "réouverture aujourd'hui à 14 h" in line for line in lines)
    assert any(line.split()[:2] == ["gbm", "ouvert"] and "ouverture temporaire" in line
               for line in lines)
    assert "Annonces en cours :" in lines
    report = json.loads(ivr(app, "status", "--json", "--at", at).output)
    csi = next(p for p in report["providers"] if p["provider"] == "csi")
    assert (csi["open"], csi["change"]["kind"], csi["next_open"]) == (
        False, CLOSURE, "2026-12-01T14:00-05:00")
    assert [a["text"] for a in report["announcements"]] == ["Panne."]
    ended = ivr(app, "closure", "end", "1")
    assert ended.exit_code == 0, ended.output
    assert "#1" not in ivr(app, "closure", "list").output
    quiet = ivr(app, "status", "--at", "2026-12-03T10:00:00-05:00").output
    assert "Aucune annonce, fermeture ou ouverture temporaire en cours." in quiet


def test_status_without_the_tables_still_shows_the_hours(make_app):
    app = make_app(migrate=False)
    status = ivr(app, "status")
    assert status.exit_code == 0, status.output
    assert "Annonces et changements d'horaire : inconnus (base de données :" in status.output


@pytest.mark.parametrize(("typed", "expected"), [
    ("2h", timedelta(hours=2)), ("30min", timedelta(minutes=30)), ("45m", timedelta(minutes=45)),
    ("1h30", timedelta(hours=1, minutes=30)), ("1j", timedelta(days=1)),
    ("1 j 12 h", timedelta(days=1, hours=12)), ("2jours", timedelta(days=2)),
])
def test_durations_as_typed(typed, expected):
    assert parse_duration(typed) == expected


@pytest.mark.parametrize("typed", ["", "2", "h", "deux heures", "-1h", "1.5h"])
def test_durations_refused(typed):
    with pytest.raises(ValueError, match="une durée comme 2h"):
        parse_duration(typed)


def test_the_audit_is_kept_in_utc(overrides):
    announce(overrides)
    [row] = overrides.audit()
    assert row.at.tzinfo is not None and abs(row.at - datetime.now(UTC)) < timedelta(minutes=1)
