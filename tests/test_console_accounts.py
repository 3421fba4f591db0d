"""The console's accounts and login: hashing, throttling, sessions, CSRF, cookies and headers.

Runs on SQLite and PostgreSQL (the `database_url` fixture); the HTTP tests drive a small Starlette
app with only the console routes, so no NLU model is loaded.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bot.cli import main
from bot.console.accounts import Accounts
from bot.console.errors import AccountLocked, InvalidAccount, LoginFailed
from bot.console.routes import SESSION_COOKIE, STATIC, console_routes
from bot.knowledge.content import Content
from bot.storage.tables import staff, staff_sessions

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
