"""The console's accounts and login: hashing, throttling, sessions, CSRF, cookies and headers.

Runs on SQLite and PostgreSQL (the `database_url` fixture); most HTTP tests drive a small Starlette
app with only the console routes, so no NLU model is loaded. Two tests need the whole service: the
login form's key shared by the workers of one installation, and a real `lotse serve` on an empty
database (the first accounts).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import os
import re
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bot.app import build
from bot.cli import main
from bot.config import Settings
from bot.console.accounts import Accounts
from bot.console.errors import AccountLocked, InvalidAccount, LoginFailed
from bot.console.first_start import PASSWORD_FILE
from bot.console.routes import SESSION_COOKIE, STATIC, console_routes
from bot.engine.understanding import Understanding
from bot.handover.desk import Desk
from bot.i18n.catalogs import Catalogs
from bot.keys import KeyFileError, installation_key
from bot.knowledge.content import Content
from bot.live.editions import Editions
from bot.storage.database import create_engine
from bot.storage.handovers import Handovers
from bot.storage.tables import audit_log, staff, staff_sessions
from bot.translation.service import MachineTranslation
from bot.web.server import SECRET_KEY_FILE, build_service, create_app
from tests.harness import ServeProcess, free_port

PASSWORD = "korrekt-pferd-batterie-42"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # still argon2id, just cheaper


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(database: AsyncEngine, clock: Clock) -> Accounts:
    return Accounts(database, hasher=FAST, clock=clock)


def _name() -> str:
    return f"cw-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(accounts: Accounts) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(
        routes=[*console_routes(accounts), Mount("/static/console", StaticFiles(directory=str(STATIC)))]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def _login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/console/login")
    return await client.post(
        "/console/login", data={"csrf": _csrf(page.text), "username": username, "password": password}
    )


# accounts


async def test_passwords_are_stored_as_argon2id_hashes(accounts: Accounts, database: AsyncEngine) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker", display_name="Anna Beispiel")
    async with database.connect() as conn:
        stored = (
            await conn.execute(sa.select(staff.c.password_hash).where(staff.c.username == name))
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_right_and_wrong_password(accounts: Accounts) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "lead")
    assert (await accounts.authenticate(name, PASSWORD)).role == "lead"
    with pytest.raises(LoginFailed):
        await accounts.authenticate(name, "falsch-falsch-falsch")
    with pytest.raises(LoginFailed):
        await accounts.authenticate("niemand-" + name, PASSWORD)


async def test_five_failures_lock_the_account_for_fifteen_minutes(accounts: Accounts, clock: Clock) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    for _ in range(5):
        with pytest.raises(LoginFailed):
            await accounts.authenticate(name, "falsch-falsch-falsch")
    with pytest.raises(AccountLocked):
        await accounts.authenticate(name, PASSWORD)  # even the right password
    clock.now += dt.timedelta(minutes=14)
    with pytest.raises(AccountLocked):
        await accounts.authenticate(name, PASSWORD)
    clock.now += dt.timedelta(minutes=2)
    assert (await accounts.authenticate(name, PASSWORD)).username == name


async def test_invalid_role_team_and_short_password_are_refused(accounts: Accounts) -> None:
    with pytest.raises(InvalidAccount, match="unknown role"):
        await accounts.create(_name(), PASSWORD, "boss")
    with pytest.raises(InvalidAccount, match="unknown team 'mars'"):
        await accounts.create(_name(), PASSWORD, "caseworker", ["mars"], known_teams=["team-a"])
    with pytest.raises(InvalidAccount, match="at least 12"):
        await accounts.create(_name(), "kurz", "caseworker")
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    with pytest.raises(InvalidAccount, match="exists already"):
        await accounts.create(name, PASSWORD, "caseworker")


async def test_sessions_store_only_the_token_hash(accounts: Accounts, database: AsyncEngine) -> None:
    account = await accounts.create(_name(), PASSWORD, "editor")
    token, session = await accounts.create_session(account.id)
    async with database.connect() as conn:
        ids = (
            (
                await conn.execute(
                    sa.select(staff_sessions.c.id).where(staff_sessions.c.staff_id == account.id)
                )
            )
            .scalars()
            .all()
        )
    assert token not in ids and len(ids) == 1
    found = await accounts.session(token)
    assert found is not None and found.staff.id == account.id and found.csrf_token == session.csrf_token


async def test_password_change_ends_the_other_sessions(accounts: Accounts) -> None:
    account = await accounts.create(_name(), PASSWORD, "caseworker")
    mine, _ = await accounts.create_session(account.id)
    other, _ = await accounts.create_session(account.id)
    await accounts.set_password(account.username, "ein-ganz-neues-passwort", keep_session=mine)
    assert await accounts.session(mine) is not None
    assert await accounts.session(other) is None
    await accounts.set_password(account.username, "noch-ein-neues-passwort")
    assert await accounts.session(mine) is None
    with pytest.raises(LoginFailed):
        await accounts.authenticate(account.username, PASSWORD)


async def test_disabled_account_cannot_log_in_and_its_sessions_end(accounts: Accounts) -> None:
    account = await accounts.create(_name(), PASSWORD, "caseworker")
    token, _ = await accounts.create_session(account.id)
    await accounts.disable(account.username)
    assert await accounts.session(token) is None
    with pytest.raises(LoginFailed):
        await accounts.authenticate(account.username, PASSWORD)


async def test_sessions_expire(accounts: Accounts, clock: Clock) -> None:
    account = await accounts.create(_name(), PASSWORD, "caseworker")
    token, _ = await accounts.create_session(account.id)
    clock.now += dt.timedelta(hours=8, seconds=1)
    assert await accounts.session(token) is None


# the web pages


async def test_login_sets_a_strict_httponly_cookie_and_shows_the_start_page(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "lead", display_name="Bernd Beispiel")
    response = await _login(client, name)
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
    assert "secure" not in flags  # plain http in the test; https below
    start = await client.get("/console/")
    assert start.status_code == 200
    assert "Willkommen, Bernd Beispiel" in start.text and "Teamleitung" in start.text


async def test_cookies_are_secure_over_https(client: httpx.AsyncClient, accounts: Accounts) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    page = await client.get("/console/login", headers={"X-Forwarded-Proto": "https"})  # behind a proxy
    assert "secure" in page.headers["set-cookie"].lower()
    async with httpx.AsyncClient(transport=client._transport, base_url="https://testserver") as https:
        response = await _login(https, name)
        assert response.status_code == 303
        assert "secure" in response.headers["set-cookie"].lower()


async def test_wrong_password_stays_on_the_login_page(client: httpx.AsyncClient, accounts: Accounts) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    response = await _login(client, name, "falsch-falsch-falsch")
    assert response.status_code == 401
    assert "Anmeldung fehlgeschlagen" in response.text
    assert SESSION_COOKIE not in response.cookies
    assert (await client.get("/console/")).status_code == 303


async def test_lockout_through_the_login_form(client: httpx.AsyncClient, accounts: Accounts) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    for _ in range(5):
        assert (await _login(client, name, "falsch-falsch-falsch")).status_code == 401
    assert (await _login(client, name)).status_code == 401


async def test_logout_invalidates_the_session(client: httpx.AsyncClient, accounts: Accounts) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    await _login(client, name)
    old = client.cookies[SESSION_COOKIE]
    start = await client.get("/console/")
    response = await client.post("/console/logout", data={"csrf": _csrf(start.text)})
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    client.cookies.clear()
    again = await client.get("/console/", cookies={SESSION_COOKIE: old})
    assert again.status_code == 303 and again.headers["location"] == "/console/login"


async def test_post_without_csrf_token_is_forbidden(client: httpx.AsyncClient, accounts: Accounts) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    await _login(client, name)
    assert (await client.post("/console/logout")).status_code == 403
    assert (await client.post("/console/logout", data={"csrf": "falsch"})).status_code == 403
    assert (await client.get("/console/")).status_code == 200  # still logged in
    # the login form has its own token
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with fresh:
        page = await fresh.get("/console/login")
        assert (
            await fresh.post("/console/login", data={"username": name, "password": PASSWORD})
        ).status_code == 403
        fresh.cookies.clear()
        forged = {"csrf": _csrf(page.text), "username": name, "password": PASSWORD}
        assert (
            await fresh.post("/console/login", data=forged)
        ).status_code == 403  # token without its cookie


async def test_password_change_and_disable_end_browser_sessions(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    await _login(client, name)
    await accounts.set_password(name, "ein-ganz-neues-passwort")
    assert (await client.get("/console/")).status_code == 303
    await _login(client, name, "ein-ganz-neues-passwort")
    assert (await client.get("/console/")).status_code == 200
    await accounts.disable(name)
    assert (await client.get("/console/")).status_code == 303
    assert (await _login(client, name, "ein-ganz-neues-passwort")).status_code == 401


async def test_security_headers_on_console_pages(client: httpx.AsyncClient, accounts: Accounts) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "admin")
    responses = [
        await client.get("/console/login"),
        await _login(client, name),
        await client.get("/console/"),
    ]
    for response in responses:
        headers = response.headers
        assert (
            headers["content-security-policy"]
            == "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        )
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
    css = await client.get("/static/console/console.css")
    assert css.status_code == 200 and ":focus-visible" in css.text
    assert 'href="#inhalt"' in responses[0].text  # skip link


# the command line


def test_staff_commands(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], content: Content
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/staff.db")
    team = next(iter(content.teams))
    assert main(["staff", "add", "anna", "--role", "caseworker", "--team", team, "--name", "Anna B."]) == 0
    out = capsys.readouterr().out
    password = re.search(r"password: (\S+)", out)
    assert password and len(password.group(1)) >= 20
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("mein-eigenes-passwort\n"))
    assert main(["staff", "add", "bernd", "--role", "lead", "--password-stdin"]) == 0
    assert "password:" not in capsys.readouterr().out

    assert main(["staff", "add", "carla", "--role", "caseworker", "--team", "mars"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lotse: unknown team 'mars'") and team in err
    assert main(["staff", "add", "carla", "--role", "chef"]) == 2
    assert "unknown role 'chef'" in capsys.readouterr().err

    assert main(["staff", "disable", "bernd"]) == 0
    assert main(["staff", "disable", "niemand"]) == 2
    assert "no staff account 'niemand'" in capsys.readouterr().err
    assert main(["staff", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["username", "name", "role", "teams", "active"]
    assert lines[1].split() == ["anna", "Anna", "B.", "caseworker", team, "yes"]
    assert lines[2].split() == ["bernd", "bernd", "lead", "-", "no"]


# changing and resetting passwords (threat model C5)

NEW_PASSWORD = "ein-ganz-neues-passwort-7"


async def _audit_rows(database: AsyncEngine, username: str) -> list[tuple[str, str, str | None]]:
    """(actor, action, detail) of the audit rows by or about `username`, oldest first."""
    query = sa.select(audit_log.c.username, audit_log.c.action, audit_log.c.detail).order_by(audit_log.c.id)
    async with database.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        (row.username, row.action, row.detail)
        for row in rows
        if username in (row.username, row.detail) or (row.detail or "").startswith(f"{username} (")
    ]


async def _change(
    client: httpx.AsyncClient, current: str, new: str, repeat: str | None = None
) -> httpx.Response:
    page = await client.get("/console/password")
    assert page.status_code == 200, page.text
    return await client.post(
        "/console/password",
        data={
            "csrf": _csrf(page.text),
            "current": current,
            "new": new,
            "repeat": new if repeat is None else repeat,
        },
    )


async def test_password_change_in_the_console_ends_the_other_sessions(
    client: httpx.AsyncClient, accounts: Accounts, database: AsyncEngine
) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    await _login(client, name)
    before = client.cookies[SESSION_COOKIE]
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as laptop:
        await _login(laptop, name)  # the same person, logged in on a second computer
        assert (await laptop.get("/console/")).status_code == 200
        start = await client.get("/console/")
        assert 'href="/console/password"' in start.text  # every page links to it

        changed = await _change(client, PASSWORD, NEW_PASSWORD)
        assert changed.status_code == 303 and changed.headers["location"] == "/console/password?done=1"
        after = client.cookies[SESSION_COOKIE]
        assert after != before, "a new session id after the change"
        done = await client.get("/console/password?done=1")
        assert done.status_code == 200 and "Ihr Passwort ist geändert" in done.text
        assert (await client.get("/console/")).status_code == 200, "this browser stays logged in"

        ended = await laptop.get("/console/")
        assert ended.status_code == 303 and ended.headers["location"] == "/console/login"
        old_cookie = await laptop.get("/console/", cookies={SESSION_COOKIE: before})
        assert old_cookie.status_code == 303, "the old session id is worth nothing"
        laptop.cookies.clear()
        assert (await _login(laptop, name, PASSWORD)).status_code == 401
        assert (await _login(laptop, name, NEW_PASSWORD)).status_code == 303

    rows = await _audit_rows(database, name)
    assert [(actor, action) for actor, action, _detail in rows] == [(name, "password_change")]
    assert all(NEW_PASSWORD not in (detail or "") and PASSWORD not in (detail or "") for *_, detail in rows)


async def test_a_wrong_current_password_or_a_bad_new_one_changes_nothing(
    client: httpx.AsyncClient, accounts: Accounts, database: AsyncEngine
) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "editor")
    await _login(client, name)
    session = client.cookies[SESSION_COOKIE]
    refusals = {
        "Das bisherige Passwort ist falsch.": ("falsch-falsch-falsch", NEW_PASSWORD, None),
        "Die beiden neuen Passwörter stimmen nicht überein.": (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x"),
        "mindestens 12 Zeichen": (PASSWORD, "kurz", None),
        "sich vom bisherigen unterscheiden": (PASSWORD, PASSWORD, None),
    }
    for message, (current, new, repeat) in refusals.items():
        response = await _change(client, current, new, repeat)
        assert response.status_code == 400 and message in response.text, message
        assert NEW_PASSWORD not in response.text and PASSWORD not in response.text, "no password echoed"
        assert client.cookies[SESSION_COOKIE] == session
    page = await client.get("/console/password")
    no_token = await client.post(
        "/console/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert no_token.status_code == 403 and _csrf(page.text)
    assert (await client.get("/console/")).status_code == 200, "still logged in"
    assert (await accounts.authenticate(name, PASSWORD)).username == name, "the old password still works"
    assert await _audit_rows(database, name) == []


async def test_guessing_the_current_password_locks_the_account(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    name = _name()
    await accounts.create(name, PASSWORD, "caseworker")
    await _login(client, name)
    for _ in range(5):
        assert (await _change(client, f"geraten-{uuid.uuid4().hex}", NEW_PASSWORD)).status_code == 400
    locked = await _change(client, PASSWORD, NEW_PASSWORD)
    assert locked.status_code == 400 and "vorübergehend gesperrt" in locked.text
    with pytest.raises(AccountLocked):
        await accounts.authenticate(name, PASSWORD)


@pytest.fixture
def desk(database: AsyncEngine, content: Content, catalogs: Catalogs, settings: Settings) -> Desk:
    translation = MachineTranslation.from_settings(dataclasses.replace(settings, translation_provider="none"))
    return Desk(Handovers(database), Editions(content, catalogs), translation)


async def test_an_admin_resets_a_password_and_enables_an_account_again(
    database: AsyncEngine, desk: Desk
) -> None:
    from tests.console_app import ConsoleApp  # it imports this module's helpers

    console = ConsoleApp(database, desk)
    try:
        admin, admin_staff = await console.signed_in("admin")
        colleague, colleague_staff = await console.signed_in("caseworker")
        name = colleague_staff.username
        token = _csrf((await admin.get("/console/staff")).text)

        reset = await admin.post("/console/staff/password", data={"csrf": token, "username": name})
        assert reset.status_code == 200 and name in reset.text
        shown = re.search(r"<code>([^<]+)</code>", reset.text)
        assert shown is not None
        assert (await colleague.get("/console/")).status_code == 303, "the colleague's session ended"
        assert (await _login(colleague, name, PASSWORD)).status_code == 401
        assert (await _login(colleague, name, shown.group(1))).status_code == 303
        assert shown.group(1) not in (await admin.get("/console/staff")).text, "shown once"

        own = await admin.post(
            "/console/staff/password", data={"csrf": token, "username": admin_staff.username}
        )
        assert own.status_code == 400 and "Passwort ändern" in own.text  # with the current password instead

        assert (
            await admin.post("/console/staff/disable", data={"csrf": token, "username": name})
        ).status_code == 303
        assert (await _login(colleague, name, shown.group(1))).status_code == 401
        enabled = await admin.post("/console/staff/enable", data={"csrf": token, "username": name})
        assert enabled.status_code == 303 and enabled.headers["location"] == "/console/staff?done=enable"
        assert "wieder aktiv" in (await admin.get(enabled.headers["location"])).text
        assert (await _login(colleague, name, shown.group(1))).status_code == 303

        forged = await colleague.post(
            "/console/staff/password", data={"csrf": token, "username": admin_staff.username}
        )
        assert forged.status_code == 403, "only admins, and only with their own session's token"

        rows = await _audit_rows(database, name)
        assert [(actor, action) for actor, action, _ in rows] == [
            (admin_staff.username, "staff_password"),
            (admin_staff.username, "staff_disable"),
            (admin_staff.username, "staff_enable"),
        ]
        assert all(shown.group(1) not in (detail or "") for *_, detail in rows)
    finally:
        await console.close()


def test_staff_password_and_enable_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/staff.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["staff", "add", "dora", "--role", "caseworker", "--password-stdin"]) == 0
    capsys.readouterr()

    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    assert main(["staff", "password", "dora"]) == 0
    out = capsys.readouterr().out
    assert "new password set for dora" in out and NEW_PASSWORD not in out

    monkeypatch.setattr("sys.stdin", io.StringIO("kurz\n"))
    assert main(["staff", "password", "dora"]) == 2
    assert "at least 12" in capsys.readouterr().err
    assert main(["staff", "password", "niemand"]) == 2
    assert "no staff account 'niemand'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # never a password as an argument
        main(["staff", "password", "dora", NEW_PASSWORD])
    capsys.readouterr()

    assert main(["staff", "disable", "dora"]) == 0
    assert main(["staff", "enable", "dora"]) == 0
    assert "enabled dora" in capsys.readouterr().out
    assert main(["staff", "password", "dora", "--generate"]) == 0
    generated = re.search(r"password: (\S+)", capsys.readouterr().out)
    assert generated is not None

    async def check() -> list[tuple[str, str, str | None]]:
        database = create_engine(url)
        try:
            accounts = Accounts(database, hasher=FAST)
            with pytest.raises(LoginFailed):
                await accounts.authenticate("dora", NEW_PASSWORD)
            assert (await accounts.authenticate("dora", generated.group(1))).active
            return await _audit_rows(database, "dora")
        finally:
            await database.dispose()

    rows = asyncio.run(check())
    assert [action for _, action, _ in rows] == [
        "staff_add",
        "staff_password",
        "staff_disable",
        "staff_enable",
        "staff_password",
    ]
    assert all(actor.startswith("cli:") for actor, _, _ in rows)
    assert all(NEW_PASSWORD not in (detail or "") for *_, detail in rows)


# the login form's key (C8) and the first start (C1)


def _service_settings(tmp_path: Path, var_dir: Path, secret_key: str = "") -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/shared.db",
        var_dir=var_dir,
        secret_key=secret_key,
        telegram_token="",
        whatsapp_token="",
        whatsapp_phone_number_id="",
        whatsapp_app_secret="",
        whatsapp_verify_token="",
        reload_interval=0,
        translation_provider="none",
    )


async def test_workers_of_one_installation_accept_each_others_login_forms(
    tmp_path: Path, understanding: Understanding
) -> None:
    """Two `lotse serve` workers behind one address: a login form from one is good at the other."""
    var = tmp_path / "var"
    configured = "k" * 40
    built = [
        build_service(await build(settings, understanding))
        for settings in (
            _service_settings(tmp_path, var),
            _service_settings(tmp_path, var),  # same installation: the key file the first one created
            _service_settings(tmp_path, tmp_path / "elsewhere"),  # another installation
            _service_settings(tmp_path, tmp_path / "a", configured),  # LOTSE_SECRET_KEY ...
            _service_settings(tmp_path, tmp_path / "b", configured),  # ... the same in both
        )
    ]
    try:
        assert built[0].accounts is not None
        name = _name()
        await built[0].accounts.create(name, PASSWORD, "editor")
        key_file = var / SECRET_KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert not (tmp_path / "a" / SECRET_KEY_FILE).exists(), "a configured key needs no file"

        async def login_across(form_from: int, posted_to: int) -> int:
            transports = [httpx.ASGITransport(app=create_app(built[i])) for i in (form_from, posted_to)]
            async with httpx.AsyncClient(transport=transports[0], base_url="http://testserver") as first:
                page = await first.get("/console/login")
                assert page.status_code == 200
                async with httpx.AsyncClient(
                    transport=transports[1], base_url="http://testserver", cookies=first.cookies
                ) as second:
                    data = {"csrf": _csrf(page.text), "username": name, "password": PASSWORD}
                    return (await second.post("/console/login", data=data)).status_code

        assert await login_across(0, 1) == 303
        assert await login_across(1, 0) == 303
        assert await login_across(3, 4) == 303
        assert await login_across(0, 2) == 403, "a form of another installation is refused"
        assert await login_across(0, 3) == 403
    finally:
        for service in built:
            if service.translation is not None:
                service.translation.close()
            await service.lotse.close()


def test_a_short_configured_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="LOTSE_SECRET_KEY"):
        installation_key("kurz", tmp_path, SECRET_KEY_FILE, "LOTSE_SECRET_KEY")
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_the_first_start_writes_the_passwords_to_a_private_file_not_to_stdout(tmp_path: Path) -> None:
    """A real `lotse serve` on an empty database: the console can be used at once, and the log holds no password."""
    var = tmp_path / "var"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "WHATSAPP_", "LOTSE_SECRET_KEY"))
    }
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/first.db",
        LOTSE_VAR_DIR=str(var),
        LOTSE_RELOAD_INTERVAL="0",
        LOTSE_TRANSLATION="none",
    )
    server = ServeProcess(env, free_port(), tmp_path / "server.log", startup=300)
    try:
        server.start()
        passwords = var / PASSWORD_FILE
        assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
        found = dict(re.findall(r"^(admin|leitung)  (\S+)", passwords.read_text(), re.M))
        assert set(found) == {"admin", "leitung"}
        with httpx.Client(base_url=server.base_url) as browser:
            page = browser.get("/console/login")
            data = {"csrf": _csrf(page.text), "username": "admin", "password": found["admin"]}
            assert browser.post("/console/login", data=data).status_code == 303
            assert browser.get("/console/staff").status_code == 200
        server.stop()
        log = server.log_path.read_text(errors="replace")
        assert str(passwords) in log, "the operator is told where the passwords are"
        for password in found.values():
            assert password not in log
    finally:
        server.stop()
