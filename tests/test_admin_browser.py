"""The console in a real browser: Debian's chromium, driven by Playwright, on a live server.

An administrator logs in, plays a call in the simulator with the on-screen keypad, plays a
voicemail (the audio comes through the app from a stand-in for Twilio's API) and marks it
handled, posts an announcement and closes a team for the afternoon, and every page is
captured under tests/artifacts/ at a tablet's size.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from browser import launch, require_chromium, screenshot, serve
from console import PASSWORD, create_user

from ivr import migrations
from ivr.services import services

pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

TABLET = {"width": 1024, "height": 768}
RECORDING = "RE" + "b2" * 16
CALL = "CA" + "c3" * 16


def silent_mp3(seconds: float = 1.0) -> bytes:
    """MPEG-1 layer III frames of silence (128 kb/s, 44.1 kHz, mono): a file browsers decode."""
    header = bytes([0xFF, 0xFB, 0x90, 0xC4])
    frame = header + bytes(417 - len(header))
    return frame * max(1, round(seconds * 44100 / 1152))


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def fake_twilio():
    from fake_twilio import FakeTwilio

    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def live(chromium, fake_twilio, tmp_path_factory):
    """The app on a SQLite file, a console account, one voicemail with its recording."""
    from ivr import create_app, stop_threads

    folder = tmp_path_factory.mktemp("live")
    with pytest.MonkeyPatch.context() as mp:
        from ivr import SETTINGS

        for name in SETTINGS:
            mp.delenv(name, raising=False)
        app = create_app({
            "TESTING": True, "IVR_WORKER": False, "IVR_RELOAD_SECONDS": 0,
            "DATABASE_URL": f"sqlite:///{folder}/ivr.sqlite3", "SECRET_KEY": "browser-test",
            "IVR_NOW": "2026-12-01T10:00:00-05:00",
            "IVR_SECURE_COOKIES": False,  # plain http on 127.0.0.1 in this test only
            **fake_twilio.settings(),
        })
    store = services(app).store
    migrations.upgrade(store.engine)
    create_user(app, password=PASSWORD)
    created = datetime(2026, 12, 1, 14, 5, tzinfo=UTC)
    fake_twilio.add_recording(RECORDING, CALL, created, duration=1)
    fake_twilio.add_media(RECORDING, silent_mp3())
    store.save_voicemail(
        recording_sid=RECORDING, call_sid=CALL, box="telesante", node="vm_telesante",
        caller="+15145550123", path="accueil.personnel.personnel_projets.vm_telesante",
        received_at=created, duration=1,
        recording_url=f"https://api.twilio.com/2010-04-01/Accounts/{fake_twilio.account_sid}"
                      f"/Recordings/{RECORDING}",
    )
    # A few real calls for the dashboard and the statistics.
    from ivr.simulator import CallSimulator

    for keys, dial in (("2,1,1,1", ["completed"]), ("1,1,2", []), ("2,1,1,1", ["no-answer"])):
        CallSimulator(app, dial_outcomes=dial).play(keys)
    services(app).worker.drain()
    yield from serve(app)
    stop_threads(app)


@pytest.fixture(scope="module")
def browser(chromium):
    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live):
    context = browser.new_context(viewport=TABLET, locale="fr-CA", base_url=live.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A refused login answers 401 on purpose; anything else in red is a failure.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "status of 401" not in msg.text else None)
    yield page
    context.close()
    assert not errors, f"errors in the browser: {errors}"


def log_in(page) -> None:
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/connexion"))
    page.get_by_label("Nom d'utilisateur").fill("admin")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_login_refuses_a_wrong_password_then_lets_in(page):
    page.goto("/admin/connexion")
    screenshot(page, "01-connexion")
    page.get_by_label("Nom d'utilisateur").fill("admin")
    page.get_by_label("Mot de passe").fill("pas le bon mot de passe")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_contain_text("incorrect")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_call_in_the_simulator(page):
    log_in(page)
    page.goto("/admin/simulateur")
    page.locator("#sim-instant").fill("2026-12-01T10:00")
    page.locator("#sim-caller").fill("+15145550123")
    page.locator("#sim-call").click()
    transcript = page.locator("#sim-transcript")
    expect(transcript).to_contain_text("Bonjour")
    page.locator("#sim-key-2").click()
    expect(transcript).to_contain_text("Problème technique, faites le 1")  # the staff menu
    page.keyboard.press("1")  # the physical keyboard works too
    page.locator("#sim-key-1").click()
    page.locator("#sim-key-1").click()
    expect(page.locator("#sim-dial")).to_be_visible()
    expect(page.locator("#sim-dial-text")).to_contain_text("5656")
    page.locator("#sim-dial-completed").click()
    ending = page.locator("#sim-ending")
    expect(ending).to_be_visible()
    expect(ending).to_contain_text("5656")
    screenshot(page, "05-simulateur")


def test_play_and_mark_a_voicemail(page, fake_twilio):
    log_in(page)
    page.goto("/admin/messagerie")
    expect(page.locator("table")).to_contain_text("514 555-0123")
    screenshot(page, "03-messagerie")
    page.get_by_role("link", name=re.compile("décembre 2026")).first.click()
    expect(page).to_have_url(re.compile(r"/admin/messagerie/\d+$"))
    audio = page.locator("audio.vm-audio").first
    before = len(fake_twilio.seen("GET", f"{RECORDING}.mp3"))
    played = audio.evaluate("""async (a) => {
        a.muted = true;
        await a.play();
        await new Promise((done) => {
            if (a.ended) { done(); return; }
            a.addEventListener('ended', done, {once: true});
            setTimeout(done, 5000);
        });
        return {error: a.error && a.error.code, time: a.currentTime, duration: a.duration};
    }""")
    assert played["error"] is None, played
    assert played["time"] > 0.5, played
    assert len(fake_twilio.seen("GET", f"{RECORDING}.mp3")) > before
    # The page never shows where the recording lives.
    html = page.content()
    assert "api.twilio.com" not in html and fake_twilio.base_url not in html
    page.get_by_role("button", name="Marquer comme traité").click()
    expect(page.locator("body")).to_contain_text("Agente Test")
    expect(page.get_by_role("button", name=re.compile("Remettre"))).to_be_visible()
    screenshot(page, "03b-message-traite")


@pytest.mark.parametrize(("path", "name", "heading"), [
    ("/admin/", "02-tableau-de-bord", "Tableau de bord"),
    ("/admin/horaires?a=2026-12-25T10:00", "04-horaires", "Horaires"),
    ("/admin/arborescence", "06-arborescence", "Arborescence"),
    ("/admin/statistiques", "07-statistiques", "Statistiques"),
    ("/admin/messagerie", "03-messagerie-liste", "Messagerie"),
    ("/admin/simulateur", "05-simulateur-vide", "Simulateur"),
    ("/admin/annonces", "08-annonces-page", "Annonces"),
])
def test_every_page_renders_and_is_captured(page, path, name, heading):
    log_in(page)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(heading, re.I))
    expect(page.get_by_role("navigation", name="Pages de la console")).to_contain_text(
        "Statistiques")
    # No horizontal overflow of the page itself at tablet width (wide content scrolls inside).
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{path} is {overflow}px wider than a tablet"
    screenshot(page, name)


def test_post_an_announcement_and_close_a_team(page):
    """« Jour de panne »: Teams is down, the staff branch hears it for two hours; the CSI is
    closed for a training afternoon. Each is listed, and the dashboard says what ends next."""
    log_in(page)
    page.get_by_role("navigation", name="Pages de la console").get_by_role(
        "link", name="Annonces").click()
    expect(page).to_have_url(re.compile(r"/admin/annonces$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Annonces")
    # The form is ready for now and two hours (the frozen clock: 1 December, 10 h).
    expect(page.get_by_label("Début (heure de Montréal)")).to_have_value("2026-12-01T10:00")
    expect(page.get_by_label("Fin (heure de Montréal)")).to_have_value("2026-12-01T12:00")
    page.get_by_label("Texte de l'annonce").fill(
        "Teams est présentement en panne. Nous travaillons à rétablir le service.")
    page.get_by_label("Où la dire").select_option(
        label="Intervenant, médecin ou agente administrative")
    page.get_by_role("button", name="Aperçu et durée").click()
    preview = page.locator("#annonce-apercu")
    expect(preview).to_contain_text("Tîmz")  # said with the line's lexicon
    expect(page.locator("#annonce-secondes")).to_contain_text("secondes")
    expect(page.get_by_label("Texte de l'annonce")).to_have_value(re.compile("^Teams est"))
    screenshot(page, "08-annonces-apercu")
    page.get_by_role("button", name="Publier l'annonce").click()
    expect(page.locator(".flash")).to_contain_text("Annonce ajoutée")
    row = page.locator("#table-annonces tbody tr").filter(has_text="Teams est présentement")
    expect(row).to_contain_text("en cours")
    expect(row).to_contain_text("Intervenant, médecin ou agente administrative")
    expect(row).to_contain_text("Agente Test")

    section = page.locator("#nouvelle-fermeture")
    section.get_by_label("Équipe", exact=True).select_option(value="csi")
    section.get_by_label("Raison", exact=True).fill("Formation du personnel")
    section.get_by_label("Du (heure de Montréal)").fill("2026-12-01T13:00")
    section.get_by_label("Au (heure de Montréal)").fill("2026-12-01T17:00")
    section.get_by_role("button", name="Enregistrer").click()
    closure = page.locator("#table-fermetures tbody tr").filter(has_text="Formation du personnel")
    expect(closure).to_contain_text("à venir")
    expect(page.locator("#table-journal")).to_contain_text("Agente Test")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a tablet"
    screenshot(page, "08-annonces")

    page.goto("/admin/")
    expect(page.locator("#prochaine-fin")).to_contain_text("Annonce")
    expect(page.locator("#a-venir")).to_contain_text("Formation du personnel")
    page.goto("/admin/horaires?a=2026-12-01T14:00")
    expect(page.locator("#avis-console")).to_contain_text("La console l'emporte")
    screenshot(page, "08-horaires-console")


def test_the_keyboard_alone_reaches_the_pages(page):
    log_in(page)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Aller au contenu"
    for _ in range(3):
        page.keyboard.press("Tab")
    href = page.evaluate("document.activeElement.getAttribute('href')")
    assert href and href.startswith("/admin/")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))


def test_without_a_session_the_browser_lands_on_the_login(browser, live):
    context = browser.new_context(viewport=TABLET, base_url=live.url)
    page = context.new_page()
    for path in ("/admin/", "/admin/messagerie", "/admin/simulateur", "/admin/statistiques"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/admin/connexion\?next="))
    context.close()


# ------------------------------------------------------------------ English (issue 18)


def serve_a_copy(tmp_path_factory, languages: str):
    """Another line: a copy of the shipped one with ``line.languages: {languages}``, with
    its own database, one English call played, served over HTTP."""
    import shutil
    from pathlib import Path

    from test_english import set_languages

    from ivr import SETTINGS, create_app, stop_threads

    folder = tmp_path_factory.mktemp("live-copy")
    shipped = Path(__file__).resolve().parent.parent
    for name in ("menus", "prompts", "schedules"):
        shutil.copytree(shipped / name, folder / "config" / name)
    set_languages(folder / "config", languages)
    with pytest.MonkeyPatch.context() as mp:
        for name in SETTINGS:
            mp.delenv(name, raising=False)
        app = create_app({
            "TESTING": True, "IVR_WORKER": False, "IVR_RELOAD_SECONDS": 0,
            "DATABASE_URL": f"sqlite:///{folder}/ivr.sqlite3", "SECRET_KEY": "browser-test",
            "IVR_NOW": "2026-12-01T10:00:00-05:00", "IVR_SECURE_COOKIES": False,
            "IVR_CONFIG_DIR": str(folder / "config"), "IVR_LOOKUP": False,
            "TWILIO_AUTH_TOKEN": "browser-test-token",
        })
    migrations.upgrade(services(app).store.engine)
    create_user(app, password=PASSWORD)
    from ivr.simulator import CallSimulator

    first = "9,1,1,2" if "en-CA" in languages else "1,1,2"
    CallSimulator(app).play(first)  # the line's threads start here, not in a test
    services(app).worker.drain()
    yield from serve(app)
    stop_threads(app)


@pytest.fixture(scope="module")
def live_english(chromium, tmp_path_factory):
    """The shipped line (English on), apart from ``live`` so its calls are its own."""
    yield from serve_a_copy(tmp_path_factory, "[fr-CA, en-CA]")


@pytest.fixture(scope="module")
def live_french(chromium, tmp_path_factory):
    """The shipped line with English turned off."""
    yield from serve_a_copy(tmp_path_factory, "[fr-CA]")


@pytest.fixture
def english_page(browser, live_english):
    context = browser.new_context(viewport=TABLET, locale="fr-CA", base_url=live_english.url)
    # What the browser is asked to say, and in which language (headless: no voice to hear).
    context.add_init_script("""
        window.__spoken = [];
        if (window.speechSynthesis) {
          window.speechSynthesis.speak = function (u) { window.__spoken.push([u.lang, u.text]); };
        }
    """)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert not errors, f"errors in the browser: {errors}"


def english_prompt(live, prompt_id: str) -> str:
    return services(live.app).line.configs["en-CA"].prompts[prompt_id].text


def test_an_english_call_in_the_simulator(english_page, live_english):
    page = english_page
    log_in(page)
    page.goto("/admin/simulateur")
    switch = page.get_by_role("group", name="Langue de l'appelant")
    expect(switch).to_be_visible()
    expect(page.get_by_role("radio", name="Français")).to_be_checked()
    page.get_by_role("radio", name="English").check()
    speak = page.locator("#sim-speak")
    if speak.is_visible():
        speak.check()
    page.locator("#sim-instant").fill("2026-12-01T10:00")
    page.locator("#sim-call").click()
    transcript = page.locator("#sim-transcript")
    # The English welcome, without key 9 nor the French welcome.
    expect(transcript).to_contain_text(english_prompt(live_english, "accueil.bienvenue"))
    expect(transcript).not_to_contain_text("Bonjour")
    expect(page.locator("#sim-now-text p").first).to_have_attribute("lang", "en-CA")
    expect(transcript).not_to_contain_text("For service in English, press 9.")
    for key in "2111":  # the same keys as in French, to the same team (CSI)
        page.locator(f"#sim-key-{key}").click()
    expect(page.locator("#sim-dial")).to_be_visible()
    page.locator("#sim-dial-completed").click()
    expect(page.locator("#sim-ending")).to_contain_text("5656")
    expect(page.locator("#sim-summary")).to_contain_text("en anglais")
    spoken = page.evaluate("window.__spoken")
    if speak.is_visible():
        assert spoken and all(lang == "en-CA" for lang, _ in spoken), spoken
    screenshot(page, "05b-simulateur-anglais")


def test_the_tree_in_english(english_page, live_english):
    page = english_page
    log_in(page)
    page.goto("/admin/arborescence")
    nav = page.get_by_role("navigation", name="Langue des messages")
    expect(nav.get_by_role("link", name="Français")).to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="English").click()
    expect(page).to_have_url(re.compile(r"langue=en"))
    expect(page.locator("#txt-accueil .prompt")).to_contain_text(
        english_prompt(live_english, "accueil.bienvenue"))
    screenshot(page, "06b-arborescence-anglais")


def test_a_french_only_line_hides_both_switches(browser, live_french):
    context = browser.new_context(viewport=TABLET, base_url=live_french.url)
    page = context.new_page()
    log_in(page)
    page.goto("/admin/simulateur")
    expect(page.locator("#sim-language")).to_have_count(0)
    page.goto("/admin/arborescence")
    expect(page.locator("#langues")).to_have_count(0)
    context.close()
