"""An announcement's optional English text (issues 17 and 18): English callers hear it in the
English voice; without one they hear the French text in the French voice; French callers
never hear it. A recording is played as is to everyone, so it takes no English text. The
console shows the field only when the line serves English; ``ivr announce add --anglais``;
migration 0008 adds the column."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from console import logged_in
from sqlalchemy import MetaData, Table, inspect
from test_admin_announcements import announce, audit, field_error, root, store, token
from test_admin_schedules import Dom, element
from test_announcements_flow import Snapshots, announcement
from test_english import says, set_languages
from twiml_rules import assert_valid, signed_post, twilio_form

from ivr import migrations
from ivr.cli import main
from ivr.overrides import LINE, Announcement, Overrides
from ivr.overrides_store import MAX_TEXT, InvalidOverride, OverrideStore, for_app, problems
from ivr.services import services
from ivr.store import Store

MONTREAL = timezone(timedelta(hours=-5))
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=MONTREAL)
HOUR = timedelta(hours=1)
WHO = {"who": "alice", "via": "cli"}
FRENCH = "Teams est en panne dans tout le réseau."
ENGLISH = "Teams is down across the network."
AUDIO = "https://medias.example.org/annonce-panne.mp3"
FRENCH_VOICE, ENGLISH_VOICE = ("fr-CA", "Polly.Gabrielle-Neural"), ("en-US", "Polly.Joanna-Neural")


@pytest.fixture
def line(make_app, monkeypatch):
    """line(*announcements) → a client of the shipped line (English on) serving them."""

    def build(*announcements: Announcement):
        app = make_app()
        snapshots = Snapshots(Overrides(announcements))
        monkeypatch.setattr(services(app).overrides, "current", snapshots.current)
        return app.test_client()

    return build


def follow(client, root, digits: str, sid: str):
    action = root.find("Gather").get("action")
    parts = urlsplit(action)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return assert_valid(signed_post(client, path, twilio_form(Digits=digits, CallSid=sid)),
                        f"{digits} on {path}")


def call(client, *keys: str, sid: str = "CA" + "1" * 32):
    """The TwiML of each step: the welcome, then each key pressed."""
    step = assert_valid(signed_post(client, "/voice", twilio_form(CallSid=sid)), "welcome")
    steps = [step]
    for key in keys:
        step = follow(client, step, key, sid)
        steps.append(step)
    return steps


def voices(root, words: str) -> list[tuple[str | None, str | None]]:
    """The (language, voice) of each <Say> saying ``words``."""
    return [(s.get("language"), s.get("voice")) for s in root.iter("Say")
            if words in " ".join("".join(s.itertext()).split())]


# --------------------------------------------------------------------------- the call


def test_an_english_caller_hears_the_english_text_in_the_english_voice(line):
    client = line(announcement(scope="personnel", text=FRENCH, text_en=ENGLISH))
    *_, staff = call(client, "9", "2")
    assert voices(staff, ENGLISH) == [ENGLISH_VOICE]
    assert FRENCH not in " ".join(says(staff, "fr-CA") + says(staff, "en-US"))
    # The English menu of the branch follows, in the same voice.
    assert any(s.startswith(ENGLISH) for s in says(staff, "en-US"))


def test_an_english_caller_without_an_english_text_hears_the_french_one_in_french(line):
    client = line(announcement(scope="personnel", text=FRENCH))
    *_, staff = call(client, "9", "2")
    assert voices(staff, FRENCH) == [FRENCH_VOICE]
    assert says(staff, "fr-CA") == [FRENCH]  # only the announcement is in French
    assert says(staff, "en-US")  # the rest of the branch is in English


def test_a_french_caller_never_hears_the_english_text(line):
    client = line(announcement(text=FRENCH, text_en=ENGLISH),
                  announcement(2, scope="personnel", text=FRENCH + " Personnel.",
                               text_en=ENGLISH + " Staff."))
    welcome, staff = call(client, "2")
    for step in (welcome, staff):
        assert ENGLISH not in " ".join("".join(s.itertext()) for s in step.iter("Say"))
    assert voices(welcome, FRENCH) == [FRENCH_VOICE]
    assert voices(staff, FRENCH + " Personnel.") == [FRENCH_VOICE]


def test_a_recording_is_played_to_english_callers_too(line):
    client = line(announcement(scope="personnel", text=None, audio_url=AUDIO))
    *_, staff = call(client, "9", "2")
    assert [p.text for p in staff.iter("Play")] == [AUDIO]


def test_an_english_text_changes_the_snapshot_version():
    plain = Overrides((announcement(text=FRENCH),))
    english = Overrides((announcement(text=FRENCH, text_en=ENGLISH),))
    assert plain.version != english.version


# --------------------------------------------------------------------------- validation


def test_an_english_text_goes_with_a_french_text_only():
    def said(**fields) -> list[str]:
        return problems(None, Announcement(1, LINE, NOW, NOW + HOUR, **fields))

    assert said(text=FRENCH, text_en=ENGLISH) == []
    assert said(audio_url=AUDIO, text_en=ENGLISH) == [
        "le texte en anglais va avec un texte, pas avec un enregistrement : l'enregistrement "
        "est joué tel quel à tous les appelants"]
    assert said(text=" ", text_en=ENGLISH)[-1] == (
        "le texte en anglais accompagne le texte en français : écrivez aussi celui-ci")
    assert said(text=FRENCH, text_en="x" * (MAX_TEXT + 1)) == [
        f"le texte en anglais a {MAX_TEXT + 1} caractères, au plus {MAX_TEXT}"]


def test_the_store_keeps_the_english_text_and_audits_it(make_app):
    app = make_app(IVR_OVERRIDES_SECONDS=0)
    overrides = for_app(app)
    with pytest.raises(InvalidOverride) as refused:
        overrides.add_announcement(scope=LINE, starts_at=NOW, ends_at=NOW + HOUR,
                                   audio_url=AUDIO, text_en=ENGLISH, **WHO)
    assert "pas avec un enregistrement" in str(refused.value)
    new = overrides.add_announcement(scope=LINE, starts_at=NOW, ends_at=NOW + HOUR,
                                     text=FRENCH, text_en=f"  {ENGLISH} ", **WHO)
    assert overrides.announcement(new).text_en == ENGLISH
    assert services(app).overrides.current().announcements[0].text_en == ENGLISH
    assert f"(en anglais : « {ENGLISH} »)" in audit(app)[0].summary
    overrides.update_announcement(new, text_en="Teams is back.", **WHO)
    changed = audit(app)[0]
    assert "(en anglais : « Teams is back. »)" in changed.summary
    assert changed.summary.endswith("(changé : texte en anglais)")
    overrides.update_announcement(new, scope="personnel", **WHO)  # the English text stays
    assert overrides.announcement(new).text_en == "Teams is back."
    overrides.update_announcement(new, text_en="", **WHO)
    assert overrides.announcement(new).text_en is None


# --------------------------------------------------------------------------- the console


def test_the_console_field_shows_when_english_is_on_and_saves_the_english_text(app, console):
    page = root(console)
    assert element(page, "annonce-anglais").attrs["name"] == "anglais"
    assert "Texte en anglais (facultatif)" in page.text()
    announce(console, texte=FRENCH, anglais=ENGLISH)
    rows = store(app).announcements()
    assert [(r.text, r.text_en) for r in rows] == [(FRENCH, ENGLISH)]
    listed = element(root(console), f"annonce-{rows[0].id}").text()
    assert f"En anglais : « {ENGLISH} »" in listed
    assert f"(en anglais : « {ENGLISH} »)" in audit(app)[0].summary
    edit = root(console, f"/admin/annonces/{rows[0].id}")
    assert element(edit, "annonce-anglais").text() == ENGLISH
    dashboard = console.get("/admin/").get_data(as_text=True)
    assert f"(en anglais : « {ENGLISH} »)" in html.unescape(dashboard)


def test_the_console_previews_the_english_text_in_english(console):
    response = console.post("/admin/annonces", data={
        "csrf_token": token(console), "texte": FRENCH, "anglais": "Call 514 251-4000.",
        "portee": "personnel", "debut": "2026-12-01T10:00", "fin": "2026-12-01T12:00",
        "ensuite": "raccrocher", "action": "apercu"})
    assert response.status_code == 200
    page = Dom(response.get_data(as_text=True)).root
    preview = element(page, "annonce-apercu-anglais").text()
    assert "« Call 514 251-4000. »" in preview
    assert "say-as" in preview  # the phone number, digit by digit, as the line says it
    seconds = float(element(page, "annonce-secondes-anglais").attrs["data-seconds"])
    assert seconds > 0
    assert store(console.application).announcements() == []  # a preview saves nothing


def test_the_console_refuses_an_english_text_without_a_french_one(app, console):
    response = announce(console, status=400, texte="", anglais=ENGLISH)
    page = Dom(response.get_data(as_text=True)).root
    assert "Écrivez aussi le texte en français" in field_error(page, "annonce-anglais")
    assert store(app).announcements() == []


def test_the_console_refuses_an_english_text_with_a_recording(app, console):
    new = for_app(app).add_announcement(scope=LINE, starts_at=NOW, ends_at=NOW + HOUR,
                                        audio_url=AUDIO, **WHO)
    path = f"/admin/annonces/{new}"
    response = console.post(path, data={
        "csrf_token": token(console, path), "texte": "", "anglais": ENGLISH, "portee": LINE,
        "debut": "2026-12-01T10:00", "fin": "2026-12-01T11:00", "ensuite": "continuer",
        "action": "enregistrer"})
    assert response.status_code == 400
    page = Dom(response.get_data(as_text=True)).root
    assert "un enregistrement est joué tel quel" in field_error(page, "annonce-anglais")
    assert store(app).announcement(new).text_en is None


def test_no_english_field_when_the_line_serves_french_only(make_app, config_copy):
    set_languages(config_copy, "[fr-CA]")
    app = make_app(IVR_CONFIG_DIR=str(config_copy))
    console = logged_in(app)
    page = root(console)
    assert "annonce-anglais" not in {e.attrs.get("id") for e in page.iter("textarea")}
    assert "Texte en anglais" not in page.text()
    # An English text set meanwhile (command line) stays through a console change.
    new = for_app(app).add_announcement(scope=LINE, starts_at=NOW, ends_at=NOW + HOUR,
                                        text=FRENCH, text_en=ENGLISH, **WHO)
    path = f"/admin/annonces/{new}"
    response = console.post(path, data={
        "csrf_token": token(console, path), "texte": FRENCH + " Merci.", "portee": LINE,
        "debut": "2026-12-01T10:00", "fin": "2026-12-01T11:00", "ensuite": "continuer",
        "action": "enregistrer"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert (store(app).announcement(new).text, store(app).announcement(new).text_en) == (
        FRENCH + " Merci.", ENGLISH)


# --------------------------------------------------------------------------- the command line


def ivr(app, *args: str):
    return app.test_cli_runner().invoke(main, list(args), env={"USER": "alice"})


def test_cli_announce_add_with_an_english_text(make_app):
    app = make_app(IVR_OVERRIDES_SECONDS=0)
    added = ivr(app, "announce", "add", "--texte", FRENCH, "--anglais", ENGLISH,
                "--duree", "1h")
    assert added.exit_code == 0, added.output
    assert f"(en anglais : « {ENGLISH} »)" in added.output
    assert for_app(app).announcement(1).text_en == ENGLISH
    assert audit(app)[0].source == "ligne de commande"
    refused = ivr(app, "announce", "add", "--audio", AUDIO, "--anglais", ENGLISH,
                  "--duree", "1h")
    assert refused.exit_code != 0
    assert "pas avec un enregistrement" in refused.output
    assert "--anglais" in ivr(app, "announce", "add", "--help").output


# --------------------------------------------------------------------------- migration 0008


def test_migration_0008_adds_the_english_text_to_existing_announcements(database_url):
    store_ = Store(database_url)
    try:
        migrations.upgrade(store_.engine, "0007")
        columns = {c["name"] for c in inspect(store_.engine).get_columns("announcements")}
        assert "text_en" not in columns
        table = Table("announcements", MetaData(), autoload_with=store_.engine)
        start = NOW.astimezone(UTC)
        with store_.engine.begin() as connection:  # written before 0008: no English text
            connection.execute(table.insert().values(
                scope=LINE, starts_at=start, ends_at=start + HOUR, text=FRENCH,
                then="continuer", created_by="alice", created_at=start))
        migrations.upgrade(store_.engine)
        assert migrations.is_current(store_.engine)
        columns = {c["name"] for c in inspect(store_.engine).get_columns("announcements")}
        assert "text_en" in columns
        snapshot = OverrideStore(store_).snapshot(NOW)
        assert [(a.text, a.text_en) for a in snapshot.announcements] == [(FRENCH, None)]
    finally:
        store_.engine.dispose()


def test_what_happens_at_an_instant_shows_the_english_text_too():
    from ivr import REPO_ROOT
    from ivr.admin.schedules import announcements_now
    from ivr.loading import load

    both = announcement(text=FRENCH, text_en=ENGLISH)
    [shown] = announcements_now(load(REPO_ROOT), Overrides((both,)), both.starts_at)
    assert FRENCH in shown.text and f"en anglais : {ENGLISH}" in shown.text
