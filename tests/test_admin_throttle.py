"""The login throttle: tries reserved atomically before any password is checked, per browser
known to the account, per account from unknown browsers, and per source address; the same
answers for real and unknown accounts; ``ivr admin unlock``."""

from __future__ import annotations

import html
import re
import threading
import time
from datetime import timedelta

import pytest
from console import PASSWORD, create_user, csrf_token, login
from sqlalchemy import select, update

import ivr.admin.auth as auth
from ivr.admin.accounts import LoginThrottle, address_key
from ivr.admin.auth import DEVICE_COOKIE, IP_MAX_FAILURES, LOCK_MINUTES, MAX_FAILURES
from ivr.admin.models import AdminLoginThrottle
from ivr.cli import main
from ivr.services import services
from ivr.store import utcnow

WRONG = "un mauvais mot de passe"
ERROR = re.compile(r'<p class="error" role="alert" id="erreur">([^<]*)</p>')


def browser(app, ip: str = "127.0.0.1", agent: str = "Navigateur de test"):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)
    return client


def message(response) -> str:
    found = ERROR.search(response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else ""


@pytest.fixture
def checks(monkeypatch):
    """The passwords checked against an account's real hash (not the dummy one)."""
    seen: list[str] = []
    lock = threading.Lock()
    real = auth.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        if pwhash != auth._dummy_hash():
            with lock:
                seen.append(password)
        return real(pwhash, password)

    monkeypatch.setattr(auth, "check_password_hash", counting)
    return seen


# ---------------------------------------------------------------------- atomic reservation


def test_reserve_is_atomic_across_threads(store):
    throttle = LoginThrottle(store)
    window = timedelta(minutes=LOCK_MINUTES)
    start = threading.Barrier(40)
    granted: list[bool] = []

    def try_once() -> None:
        start.wait()
        granted.append(throttle.reserve("user:admin", MAX_FAILURES, window))

    threads = [threading.Thread(target=try_once) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == MAX_FAILURES
    assert throttle.tries("user:admin", window) == MAX_FAILURES
    # Once the window is over, a new one starts with one try.
    with store.session() as db:
        db.execute(update(AdminLoginThrottle).values(
            window_start=utcnow() - window - timedelta(seconds=1)))
    assert throttle.reserve("user:admin", MAX_FAILURES, window)
    assert throttle.tries("user:admin", window) == 1


def test_concurrent_logins_check_at_most_the_limit(make_app, database_url, monkeypatch):
    """40 wrong passwords and the right one in one burst, each from its own address: at most
    MAX_FAILURES wrong ones are ever checked. The hash is a stand-in that takes 50 ms without
    the CPU (scrypt's time, while the tries race), so the burst really overlaps."""
    app = make_app(DATABASE_URL=database_url)
    try:
        create_user(app)
        with app.app_context():
            real_hash = auth.users().by_name("admin").password_hash
        checked: list[str] = []

        def slow_check(pwhash: str, password: str) -> bool:
            time.sleep(0.05)
            if pwhash != real_hash:
                return False  # the dummy hash
            checked.append(password)
            return password == PASSWORD

        monkeypatch.setattr(auth, "check_password_hash", slow_check)
        statuses = burst(app, [PASSWORD if i == 20 else f"{WRONG} {i}" for i in range(41)])
        wrong = [p for p in checked if p != PASSWORD]
        assert len(wrong) <= MAX_FAILURES, len(wrong)
        assert sorted(set(statuses)) in ([401], [302, 401])
        assert statuses.count(302) == (1 if PASSWORD in checked else 0)
        # The burst used the account's tries: the next one from a new browser is refused.
        assert message(login(browser(app, ip="192.0.2.200"), password=WRONG)) in (
            auth.LOCKED, auth.WRONG)
    finally:
        services(app).store.engine.dispose()  # its pool's connections closed, not collected


def burst(app, passwords: list[str]) -> list[int]:
    """Each password posted at once by its own browser, from its own address."""
    clients = []
    for index, password in enumerate(passwords):
        client = browser(app, ip=f"192.0.2.{index + 1}")
        clients.append((client, csrf_token(client), password))
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def post(client, token: str, password: str) -> None:
        start.wait()
        response = client.post("/admin/connexion", data={
            "username": "admin", "password": password, "csrf_token": token})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=args) for args in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == len(passwords)  # every request answered
    return statuses


# ---------------------------------------------------------------------- who is locked out


def log_in_once(app, ip: str = "10.0.0.5"):
    """The administrator's usual browser: it logged in once, and so got its device cookie."""
    client = browser(app, ip=ip)
    response = login(client)
    assert response.status_code == 302
    assert DEVICE_COOKIE in response.headers.get("Set-Cookie", "") or any(
        DEVICE_COOKIE in h for h in response.headers.getlist("Set-Cookie"))
    token = csrf_token(client, "/admin/")
    client.post("/admin/deconnexion", data={"csrf_token": token})
    return client


def test_an_attacker_cannot_lock_the_administrator_out_of_their_browser(app, checks):
    create_user(app)
    usual = log_in_once(app)
    for index in range(3 * MAX_FAILURES):  # from many addresses, again and again
        attacker = browser(app, ip=f"198.51.100.{index + 1}", agent="attaque")
        response = login(attacker, password=WRONG)
        assert response.status_code == 401
    assert len([p for p in checks if p == WRONG]) == MAX_FAILURES
    assert "verrouillé" in message(login(browser(app, ip="198.51.100.250")))  # a new browser
    assert login(usual).status_code == 302  # the usual one gets in


def test_the_usual_browser_has_its_own_limit(app):
    create_user(app)
    usual = log_in_once(app)
    for _ in range(MAX_FAILURES):
        assert login(usual, password=WRONG).status_code == 401
    refused = login(usual)
    assert refused.status_code == 401 and "verrouillé" in message(refused)
    assert login(browser(app, ip="10.9.9.9")).status_code == 302  # others are not touched


def test_a_device_cookie_is_for_its_account_only(app):
    create_user(app)
    create_user(app, "marie")
    usual = log_in_once(app)  # known for admin, not for marie
    for _ in range(MAX_FAILURES):
        login(browser(app, ip="203.0.113.1"), "marie", WRONG)
    assert "verrouillé" in message(login(usual, "marie"))
    forged = browser(app)
    forged.set_cookie(DEVICE_COOKIE, "eyJkIjoieCIsInUiOlsxXX0.forged", path="/admin")
    for _ in range(MAX_FAILURES):
        login(browser(app, ip="203.0.113.2"), "admin", WRONG)
    assert "verrouillé" in message(login(forged))  # an unsigned cookie counts for nothing


def test_a_source_address_is_limited_across_accounts(app, checks):
    create_user(app)
    client = browser(app, ip="203.0.113.9")
    for index in range(IP_MAX_FAILURES):
        assert message(login(client, f"nom{index}", WRONG)) == auth.WRONG
    refused = login(client, "admin", PASSWORD)
    assert refused.status_code == 401 and message(refused) == auth.ADDRESS_LOCKED
    assert checks == []  # the right password was not even checked
    assert login(browser(app, ip="203.0.113.10")).status_code == 302


def test_successful_logins_do_not_use_up_the_address_s_tries(app):
    create_user(app)
    for _ in range(IP_MAX_FAILURES + 5):
        assert login(browser(app)).status_code == 302  # a new browser each time


def test_real_and_unknown_accounts_get_the_same_answers(app, checks, monkeypatch):
    create_user(app)
    hashes: list[str] = []
    real = auth.check_password_hash
    monkeypatch.setattr(auth, "check_password_hash",
                        lambda h, p: hashes.append(h) or real(h, p))
    answers = {}
    for name in ("admin", "personne"):
        client = browser(app, ip=f"203.0.113.{len(answers) + 20}")
        seen = []
        for _ in range(MAX_FAILURES + 2):
            response = login(client, name, WRONG)
            seen.append((response.status_code, message(response)))
        answers[name] = seen
    assert answers["admin"] == answers["personne"]
    assert answers["admin"][0] == (401, auth.WRONG)
    assert answers["admin"][-1] == (401, auth.LOCKED)
    assert f"verrouillé pour {LOCK_MINUTES} minutes" in auth.LOCKED
    # Every answer cost one scrypt hash: the real one, or the dummy one.
    assert len(hashes) == 2 * (MAX_FAILURES + 2)
    assert all(h.startswith("scrypt:") for h in hashes)


def test_unlock_clears_the_account_s_counters(app):
    create_user(app)
    usual = log_in_once(app)
    for _ in range(MAX_FAILURES):
        login(usual, password=WRONG)
        login(browser(app, ip="203.0.113.30"), password=WRONG)
    runner = app.test_cli_runner()
    listed = runner.invoke(main, ["admin", "users"])
    assert "admin\tAgente Test\tdernière connexion " in listed.output
    assert listed.output.rstrip().endswith("\tVERROUILLÉ")
    result = runner.invoke(main, ["admin", "unlock", "admin"])
    assert result.exit_code == 0, result.output
    assert login(usual).status_code == 302
    assert login(browser(app, ip="203.0.113.31")).status_code == 302
    assert result.output == "Compte « admin » déverrouillé.\n"
    unknown = runner.invoke(main, ["admin", "unlock", "personne"])
    assert unknown.exit_code != 0 and "aucun compte « personne »" in unknown.output


def test_unlock_from_the_console(app):
    create_user(app)
    create_user(app, "marie")
    for _ in range(MAX_FAILURES):
        login(browser(app, ip="203.0.113.40"), "marie", WRONG)
    console = browser(app)
    assert login(console).status_code == 302
    page = console.get("/admin/comptes").get_data(as_text=True)
    assert "verrouillé depuis les navigateurs inconnus" in page
    token = csrf_token(console, "/admin/comptes")
    assert console.post("/admin/comptes/2/deverrouiller",
                        data={"csrf_token": token}).status_code == 302
    assert login(browser(app, ip="203.0.113.41"), "marie").status_code == 302


def test_old_counters_are_cleaned(app):
    create_user(app)
    for index in range(3):
        login(browser(app, ip=f"203.0.113.{50 + index}"), f"nom{index}", WRONG)
    store = services(app).store
    with store.session() as db:
        db.execute(update(AdminLoginThrottle).values(
            window_start=utcnow() - timedelta(minutes=LOCK_MINUTES + 1)))
    assert login(browser(app)).status_code == 302  # a login tidies up
    with store.session() as db:
        left = set(db.scalars(select(AdminLoginThrottle.key)))
    assert left == {"ip:127.0.0.1", "user:admin"}  # the login's own, given back


def test_ipv6_addresses_count_by_their_64():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1") == "ip:192.0.2.1"
    assert address_key(None) == "ip:inconnue"
