"""The console's case pages over HTTP: guards, roles, teams, CSRF, the whole flow, English, the audit log.

Real handovers come from the real engine (an Arabic user in a town asks for a person and agrees);
the console is a small Starlette app with the console routes and a real `Desk` whose translations
come from the fake LibreTranslate server over real HTTP. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Route

from bot.config import Settings
from bot.console import cases, present, routes
from bot.console.accounts import Staff
from bot.console.routes import SECURITY_HEADERS, TEMPLATES
from bot.console.wording import ENGLISH
from bot.engine.engine import Engine
from bot.engine.messages import Inbound, Reply
from bot.handover.desk import Desk
from bot.storage.tables import audit_log, conversations, handover_notes, handovers, messages, outbox, users
from tests.console_app import ConsoleApp
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.harness import desk_for_tests
from tests.test_console_accounts import _csrf, _login

TUESDAY_MORNING = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
REUTLINGEN, METZINGEN, ERMSTAL = "im-stadt-reutlingen", "im-stadt-metzingen", "im-kreis-ermstal"
ASK = "أريد التحدث مع موظف من فضلك"
ASK_DE = "Ich möchte bitte mit einer Mitarbeiterin sprechen"
HELLO_DE = "Guten Tag, ich bin Frau Weber. Wie kann ich Ihnen helfen?"
HELLO_AR = "مرحبًا، أنا السيدة فيبر. كيف يمكنني مساعدتكم؟"
EDITED_AR = HELLO_AR.replace("مرحبًا", "أهلًا")
LATER = "عندي رسالة من المحكمة"
LATER_DE = "Ich habe einen Brief vom Gericht"
NOTE = "Hat einen Termin beim Anwalt am Freitag"
PUBLIC = {"/console/login", "/console/language"}  # reachable without a session by design
ACTIONS = ("claim", "assign", "transfer", "note", "preview", "reply", "close")


class Chat:
    """A user writing through Telegram, so that the console has a channel to name."""

    def __init__(self, engine: Engine, now: dt.datetime) -> None:
        self.engine = engine
        self.user = f"u-{uuid.uuid4().hex[:10]}"
        self.now = now

    async def say(self, text: str, **kwargs: Any) -> Reply:
        return await self.engine.handle(Inbound("telegram", self.user, text=text), now=self.now, **kwargs)

    async def press(self, payload: str) -> Reply:
        return await self.engine.handle(Inbound("telegram", self.user, payload=payload), now=self.now)


@pytest.fixture(scope="module")
def libre() -> Iterator[FakeLibreTranslate]:
    phrasebook = {("ar", "de", ASK): ASK_DE, ("de", "ar", HELLO_DE): HELLO_AR, ("ar", "de", LATER): LATER_DE}
    with FakeLibreTranslate(phrasebook) as fake:
        yield fake


def _database(engine: Engine) -> AsyncEngine:
    return engine.store.engine  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def desk(engine: Engine, settings: Settings, libre: FakeLibreTranslate) -> Desk:
    libre.heal()
    return desk_for_tests(engine, settings, libre.url, TUESDAY_MORNING + dt.timedelta(minutes=5))


@dataclass
class Browser:
    """One staff member's browser, logged in through the login form."""

    client: httpx.AsyncClient
    staff: Staff

    async def csrf(self) -> str:
        """The session's token, from the logout form of the role's first page."""
        page = await self.client.get("/console/", follow_redirects=True)
        assert page.status_code == 200, page.text
        return _csrf(page.text)

    async def post(self, path: str, csrf: str | None, **fields: str) -> httpx.Response:
        data = dict(fields) if csrf is None else {"csrf": csrf, **fields}
        return await self.client.post(path, data=data)


class Console(ConsoleApp):
    """The console app, and browsers logged into it."""

    async def login(self, role: str, *teams: str) -> Browser:
        return Browser(*await self.signed_in(role, *teams))


@pytest.fixture
async def console(engine: Engine, desk: Desk) -> AsyncIterator[Console]:
    console = Console(_database(engine), desk)
    yield console
    await console.close()


async def handover(engine: Engine, town: str = "reutlingen") -> tuple[Chat, int]:
    """An Arabic user in `town` asks for a person and agrees; the town decides the team."""
    chat = Chat(engine, TUESDAY_MORNING)
    await chat.say(ASK, town=town, language="ar")
    await chat.press("handover:yes")
    async with _database(engine).connect() as conn:
        case_id = (
            await conn.execute(
                sa.select(sa.func.max(handovers.c.id))
                .select_from(handovers.join(conversations, conversations.c.id == handovers.c.conversation_id))
                .where(
                    conversations.c.user_id.in_(sa.select(users.c.id).where(users.c.external_id == chat.user))
                )
            )
        ).scalar_one()
    assert case_id is not None, "no handover was created"
    return chat, int(case_id)


async def sent_to(engine: Engine, chat: Chat) -> list[str]:
    """The texts queued for delivery to the user, oldest first."""
    async with _database(engine).connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.body).where(outbox.c.chat_id == chat.user).order_by(outbox.c.id)
        )
        return [row.body["text"] for row in rows]


async def state(engine: Engine, chat: Chat, case_id: int) -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    async with _database(engine).connect() as conn:
        case = (await conn.execute(sa.select(handovers).where(handovers.c.id == case_id))).one()

        async def count(table: sa.Table, *where: Any) -> int:
            query = sa.select(sa.func.count()).select_from(table).where(*where)
            return int((await conn.execute(query)).scalar_one())

        return {
            "status": case.status,
            "assignee": case.assignee_id,
            "team": case.team_id,
            "due": case.due_at,
            "first_response": case.first_response_at,
            "conversation": (
                await conn.execute(
                    sa.select(conversations.c.status).where(conversations.c.id == case.conversation_id)
                )
            ).scalar_one(),
            "messages": await count(messages, messages.c.conversation_id == case.conversation_id),
            "outbox": await count(outbox, outbox.c.chat_id == chat.user),
            "notes": await count(handover_notes, handover_notes.c.handover_id == case_id),
            "audit": await count(audit_log, audit_log.c.handover_id == case_id),
        }


def row_of(html: str, case_id: int) -> str | None:
    """The queue's table row that links to the case, if any."""
    for row in re.findall(r"<tr\b.*?</tr>", html, re.S):
        if f'href="/console/cases/{case_id}"' in row:
            return str(row)
    return None


def lines_of(html: str) -> list[tuple[int, str]]:
    """(message id, row html) of the transcript rows."""
    return [(int(i), row) for row, i in re.findall(r'(<tr [^>]*data-id="(\d+)".*?</tr>)', html, re.S)]


def assert_done(response: httpx.Response, case_id: int, done: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/console/cases/{case_id}?done={done}#antwort"


def action_fields(action: str, staff: Staff) -> dict[str, str]:
    """A form for each action that would succeed if the request were allowed."""
    return {
        "assign": {"colleague": str(staff.id)},
        "transfer": {"team": ERMSTAL, "note": "Wohnt inzwischen in Bad Urach"},
        "note": {"note": NOTE},
        "preview": {"german": HELLO_DE},
        "reply": {"german": HELLO_DE, "text": EDITED_AR, "machine": "1", "translated": "1"},
    }.get(action, {})


# 1. the guard


async def test_no_console_route_answers_without_a_login(console: Console, engine: Engine) -> None:
    chat, case_id = await handover(engine)
    before = await state(engine, chat, case_id)
    anonymous = console.client()
    checked: set[tuple[str, str]] = set()
    for route in console.app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/console"):
            continue
        assert isinstance(route, Route), f"{path}: only plain routes under /console, each with its guard"
        if path in PUBLIC:
            continue
        url = path.format(**{name: str(case_id) for name in route.param_convertors})
        for method in sorted(route.methods or {"GET", "POST", "PUT", "DELETE"}):
            form = {"csrf": "x", "german": HELLO_DE, "text": "x", "note": "x", "team": METZINGEN}
            response = await anonymous.request(
                method, url, data=form if method in {"POST", "PUT", "DELETE"} else None
            )
            where = f"{method} {url}"
            if path == "/console":  # the bare prefix only points at the guarded start page
                assert response.status_code == 307, where
                assert response.headers["location"] == "/console/", where
            else:
                assert response.status_code == 303, where
                assert response.headers["location"] == "/console/login", where
            for secret in (ASK, ASK_DE, "Reutlingen", "Arabisch", "csrf"):
                assert secret not in response.text, where
            checked.add((method, path))
    expected = {("GET", "/console/queue"), ("GET", "/console/queue/rows"), ("GET", "/console/audit")}
    expected |= {("GET", "/console/cases/{case_id}"), ("GET", "/console/cases/{case_id}/lines")}
    expected |= {("POST", f"/console/cases/{{case_id}}/{action}") for action in ACTIONS}
    expected |= {("GET", "/console/"), ("HEAD", "/console/queue"), ("POST", "/console/logout")}
    assert expected <= checked
    assert await state(engine, chat, case_id) == before
    assert len(await sent_to(engine, chat)) == before["outbox"]


# 2. roles


async def test_each_role_sees_its_own_pages(console: Console, engine: Engine) -> None:
    chat, case_id = await handover(engine)
    caseworker = await console.login("caseworker", REUTLINGEN)
    lead = await console.login("lead")
    editor = await console.login("editor")
    admin = await console.login("admin")

    for browser in (caseworker, lead):
        start = await browser.client.get("/console/")
        assert start.status_code == 303 and start.headers["location"] == "/console/queue"
        queue = await browser.client.get("/console/queue")
        assert queue.status_code == 200 and row_of(queue.text, case_id) is not None
    assert (await caseworker.client.get("/console/audit")).status_code == 403
    audit = await lead.client.get("/console/audit")
    assert audit.status_code == 200 and "<h1>Protokoll" in audit.text

    start = await admin.client.get("/console/")
    assert start.status_code == 303 and start.headers["location"] == "/console/staff"  # accounts first
    assert (await admin.client.get("/console/audit")).status_code == 200
    start = await editor.client.get("/console/")
    assert start.status_code == 200
    assert f"Willkommen, {editor.staff.display_name}" in start.text and "Redaktion" in start.text

    before = await state(engine, chat, case_id)
    for browser in (editor, admin):
        csrf = await browser.csrf()
        for url in (
            "/console/queue",
            "/console/queue/rows",
            f"/console/cases/{case_id}",
            f"/console/cases/{case_id}/lines",
        ):
            response = await browser.client.get(url)
            assert response.status_code == 403, (browser.staff.role, url)
            assert "Für diese Seite fehlt Ihnen die Berechtigung." in response.text
            assert ASK not in response.text and ASK_DE not in response.text
        for action in ACTIONS:
            url = f"/console/cases/{case_id}/{action}"
            response = await browser.post(url, csrf, **action_fields(action, browser.staff))
            assert response.status_code == 403, (browser.staff.role, url)
    assert (await editor.client.get("/console/audit")).status_code == 403
    assert await state(engine, chat, case_id) == before


# 3. another team's chat


async def test_another_teams_chat_is_invisible_and_untouchable(
    console: Console, engine: Engine, libre: FakeLibreTranslate
) -> None:
    chat, case_id = await handover(engine, "metzingen")
    reutlingen = await console.login("caseworker", REUTLINGEN)
    metzingen = await console.staff("caseworker", METZINGEN)

    csrf = await reutlingen.csrf()
    queue = await reutlingen.client.get("/console/queue")
    assert queue.status_code == 200 and row_of(queue.text, case_id) is None
    rows = await reutlingen.client.get("/console/queue/rows")
    assert rows.status_code == 200 and row_of(rows.text, case_id) is None
    for url in (f"/console/queue?team={METZINGEN}", f"/console/queue/rows?team={METZINGEN}"):
        refused = await reutlingen.client.get(url)
        assert refused.status_code == 403 and "Dieses Team gehört nicht zu Ihren Teams." in refused.text
        assert row_of(refused.text, case_id) is None

    before = await state(engine, chat, case_id)
    translations = len(libre.translations())
    for url in (f"/console/cases/{case_id}", f"/console/cases/{case_id}/lines"):
        response = await reutlingen.client.get(url)
        assert response.status_code == 404, url
        assert ASK not in response.text and ASK_DE not in response.text
    forms = {action: action_fields(action, reutlingen.staff) for action in ACTIONS}
    forms["assign"] = {"colleague": str(metzingen.id)}  # even a colleague of the chat's own team
    forms["transfer"] = {"team": REUTLINGEN, "note": "Das nehmen wir"}
    for action in ACTIONS:
        response = await reutlingen.post(f"/console/cases/{case_id}/{action}", csrf, **forms[action])
        assert response.status_code == 404, (action, response.text)
        assert ASK not in response.text and HELLO_AR not in response.text
    assert await state(engine, chat, case_id) == before
    assert before["status"] == "waiting" and before["assignee"] is None and before["team"] == METZINGEN
    assert len(libre.translations()) == translations, "nothing of the chat went to the translator"


# 4. CSRF


async def test_every_post_needs_the_sessions_csrf_token(
    console: Console, engine: Engine, libre: FakeLibreTranslate
) -> None:
    chat, case_id = await handover(engine)
    weber = await console.login("caseworker", REUTLINGEN, ERMSTAL)
    other = await console.login("caseworker", REUTLINGEN)
    csrf, foreign = await weber.csrf(), await other.csrf()
    assert csrf != foreign
    base = f"/console/cases/{case_id}"

    for action in ("claim", "assign", "note", "preview", "reply", "transfer", "close"):
        url, fields = f"{base}/{action}", action_fields(action, weber.staff)
        before = await state(engine, chat, case_id)
        translations = len(libre.translations())
        for wrong in (None, "", "falsch", foreign):
            response = await weber.post(url, wrong, **fields)
            assert response.status_code == 403, (action, wrong)
            assert "Die Anfrage war ungültig. Bitte laden Sie die Seite neu." in response.text
        assert await state(engine, chat, case_id) == before, action
        assert len(libre.translations()) == translations, action

        response = await weber.post(url, csrf, **fields)
        if action == "preview":
            assert response.status_code == 200 and EDITED_AR not in response.text
            assert HELLO_AR in response.text
        else:
            assert_done(response, case_id, action)
    case = await state(engine, chat, case_id)
    assert (case["status"], case["team"], case["conversation"]) == ("closed", ERMSTAL, "bot")
    assert any(text.startswith(EDITED_AR) for text in await sent_to(engine, chat))

    for wrong in (None, "falsch", foreign):
        assert (await weber.post("/console/logout", wrong)).status_code == 403
        assert (await weber.client.get("/console/queue")).status_code == 200  # still logged in
    logout = await weber.post("/console/logout", csrf)
    assert logout.status_code == 303 and logout.headers["location"] == "/console/login"
    gone = await weber.client.get("/console/queue")
    assert gone.status_code == 303 and gone.headers["location"] == "/console/login"


async def test_no_post_route_of_the_app_works_without_the_token(console: Console, engine: Engine) -> None:
    """Enumerated: a POST route added later is covered too, whatever role it is meant for."""
    chat, case_id = await handover(engine)
    browsers = [await console.login("lead"), await console.login("admin")]
    tokens = [await browser.csrf() for browser in browsers]
    before = await state(engine, chat, case_id)
    staff_before = await console.accounts.list()
    posts = set()
    for route in console.app.routes:
        if not isinstance(route, Route) or "POST" not in (route.methods or ()) or route.path in PUBLIC:
            continue
        url = route.path.format(**{name: str(case_id) for name in route.param_convertors})
        form = {
            **action_fields(url.rsplit("/", 1)[-1], browsers[0].staff),
            "username": f"neu-{uuid.uuid4().hex[:8]}",
            "role": "caseworker",
            "teams": REUTLINGEN,
        }
        for browser, stolen in zip(browsers, reversed(tokens), strict=True):
            for wrong in (None, "", stolen):
                response = await browser.post(url, wrong, **form)
                assert response.status_code == 403, (browser.staff.role, url, wrong)
        posts.add(route.path)
    assert {f"/console/cases/{{case_id}}/{action}" for action in ACTIONS} | {"/console/logout"} <= posts
    assert await state(engine, chat, case_id) == before
    assert await console.accounts.list() == staff_before
    for browser in browsers:
        assert (await browser.client.get("/console/audit")).status_code == 200  # still logged in


# 5. the flow


async def test_the_whole_flow_over_http(console: Console, engine: Engine) -> None:
    chat, case_id = await handover(engine)
    weber = await console.login("caseworker", REUTLINGEN)
    client = weber.client

    queue = await client.get("/console/queue")
    assert queue.status_code == 200
    row = row_of(queue.text, case_id)
    assert row is not None
    for shown in ("Arabisch", "Telegram", ">Reutlingen<", "Integrationsmanagement der Stadt Reutlingen"):
        assert shown in row, shown
    assert "Normal" in row and "Wunsch nach einer Person" in row and "wartet" in row
    # 8 office hours from Tuesday 10:00: Tuesday 10-12 and 14-16:30, then Wednesday 8:30-12
    assert "Mi 25.11. 12:00" in row and "überfällig" not in row

    page = await client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert "Wunsch nach einer Person" in page.text
    asked = next(row for _, row in lines_of(page.text) if ASK in row)
    assert 'lang="ar" dir="rtl"' in asked and ASK_DE in asked and "maschinell" in asked
    csrf = _csrf(page.text)

    preview = await weber.post(f"/console/cases/{case_id}/preview", csrf, german=HELLO_DE)
    assert preview.status_code == 200
    textarea = re.search(r"<textarea id=\"text\"[^>]*>(.*?)</textarea>", preview.text, re.S)
    assert textarea is not None and textarea.group(1) == HELLO_AR
    assert 'dir="rtl"' in textarea.group(0) and 'lang="ar"' in textarea.group(0)
    assert f'name="german" value="{HELLO_DE}"' in preview.text

    sent = await weber.post(
        f"/console/cases/{case_id}/reply", csrf, german=HELLO_DE, text=EDITED_AR, machine="1", translated="1"
    )
    assert_done(sent, case_id, "reply")
    assert (await sent_to(engine, chat))[-1].startswith(EDITED_AR)  # what was approved, not the raw text
    page = await client.get(sent.headers["location"])
    assert "Die Antwort ist gesendet." in page.text and EDITED_AR in page.text

    noted = await weber.post(f"/console/cases/{case_id}/note", csrf, note=NOTE)
    assert_done(noted, case_id, "note")
    page = await client.get(noted.headers["location"])
    assert "Die Notiz ist gespeichert." in page.text and NOTE in page.text
    assert all(NOTE not in text for text in await sent_to(engine, chat))

    fragment = await client.get("/console/queue/rows")
    assert fragment.status_code == 200
    assert fragment.text.startswith('<tbody id="queue-rows"') and "<html" not in fragment.text
    assert row_of(fragment.text, case_id) is not None

    last = lines_of(page.text)[-1][0]
    nothing = await client.get(f"/console/cases/{case_id}/lines?after={last}")
    assert nothing.status_code == 200 and lines_of(nothing.text) == []
    await chat.say(LATER)
    newer = await client.get(f"/console/cases/{case_id}/lines?after={last}")
    assert newer.status_code == 200 and "<html" not in newer.text
    fresh = lines_of(newer.text)
    assert fresh and all(i > last for i, _ in fresh)
    assert ASK not in newer.text and EDITED_AR not in newer.text
    said = next(row for _, row in fresh if LATER in row)
    assert LATER_DE in said

    closed = await weber.post(f"/console/cases/{case_id}/close", csrf)
    assert_done(closed, case_id, "close")
    page = await client.get(closed.headers["location"])
    assert "Der Chat ist abgeschlossen. Lotse antwortet wieder." in page.text
    assert "<dt>Status</dt><dd>abgeschlossen" in page.text
    assert f"/console/cases/{case_id}/reply" not in page.text
    assert (await state(engine, chat, case_id))["conversation"] == "bot"
    assert "Lotse" in (await sent_to(engine, chat))[-1]
    assert (await chat.press("feedback:helped")).messages, "the bot answers again"


# 6. assign and transfer


async def test_assign_and_transfer_with_their_refusals(console: Console, engine: Engine) -> None:
    chat, case_id = await handover(engine)
    weber = await console.login("caseworker", REUTLINGEN)
    colleague = await console.staff("caseworker", REUTLINGEN)
    stranger = await console.staff("caseworker", METZINGEN)
    url = f"/console/cases/{case_id}"
    page = await weber.client.get(url)
    csrf = _csrf(page.text)
    assert colleague.display_name in page.text and stranger.display_name not in page.text

    before = await state(engine, chat, case_id)
    refusals = [
        ("assign", {"colleague": str(stranger.id)}, "Diese Person gehört nicht zum Team dieses Chats."),
        ("assign", {"colleague": "niemand"}, "Bitte wählen Sie eine Kollegin oder einen Kollegen."),
        ("assign", {"colleague": "99999999"}, "Diese Person gehört nicht zum Team dieses Chats."),
        (
            "transfer",
            {"team": ERMSTAL, "note": "   "},
            "Bitte schreiben Sie dazu, warum Sie den Chat weitergeben.",
        ),
        ("transfer", {"team": "mars", "note": "Umzug"}, "Dieses Team gibt es nicht."),
        ("transfer", {"team": REUTLINGEN, "note": "Umzug"}, "Der Chat ist schon bei diesem Team."),
    ]
    for action, fields, message in refusals:
        response = await weber.post(f"{url}/{action}", csrf, **fields)
        assert response.status_code == 400, (action, fields)
        assert f'<p class="error" role="alert">{message}</p>' in response.text
        assert ASK in response.text  # the case is shown again, with the reason
    after = await state(engine, chat, case_id)
    del before["audit"], after["audit"]  # showing the page again may log a read
    assert after == before

    assigned = await weber.post(f"{url}/assign", csrf, colleague=str(colleague.id))
    assert_done(assigned, case_id, "assign")
    page = await weber.client.get(assigned.headers["location"])
    assert "Der Chat ist zugewiesen." in page.text
    assert f"in Bearbeitung: {colleague.display_name}" in page.text
    assert f"Zugewiesen an {colleague.display_name}" in page.text  # as a note
    assert colleague.display_name in (await sent_to(engine, chat))[-1]  # the user learns who answers
    assert (await state(engine, chat, case_id))["assignee"] == colleague.id

    moved = await weber.post(f"{url}/transfer", csrf, team=ERMSTAL, note="Wohnt inzwischen in Bad Urach")
    # the chat is no longer this caseworker's to see: back to the queue, with the notice
    assert moved.status_code == 303 and moved.headers["location"] == "/console/queue?done=transfer"
    shown = await weber.client.get(moved.headers["location"])
    assert shown.status_code == 200 and "Der Chat ist an das andere Team weitergegeben." in shown.text
    assert row_of(shown.text, case_id) is None
    case = await state(engine, chat, case_id)
    assert (case["team"], case["status"], case["assignee"]) == (ERMSTAL, "waiting", None)
    assert "Ermstal" in (await sent_to(engine, chat))[-1]  # the user is told where the request is now
    assert (await weber.client.get(url)).status_code == 404  # no longer this caseworker's team

    ermstal = await console.login("caseworker", ERMSTAL)
    queue = await ermstal.client.get("/console/queue")
    assert row_of(queue.text, case_id) is not None
    page = await ermstal.client.get(url)
    assert page.status_code == 200 and "Wohnt inzwischen in Bad Urach" in page.text


async def test_ids_that_cannot_exist_are_not_found_rather_than_errors(
    console: Console, engine: Engine
) -> None:
    _chat, case_id = await handover(engine)
    lead = await console.login("lead")
    csrf = await lead.csrf()
    for bad in ("abc", "-5", "²", "0", "2147483648", "9" * 30):
        for url in (f"/console/cases/{bad}", f"/console/cases/{bad}/lines"):
            response = await lead.client.get(url)
            assert response.status_code == 404, url
        assert (await lead.post(f"/console/cases/{bad}/claim", csrf)).status_code == 404, bad
    for after in ("9" * 30, "-1", "x"):
        lines = await lead.client.get(f"/console/cases/{case_id}/lines", params={"after": after})
        assert lines.status_code == 200, after
    for case in ("²", "9" * 30, "x"):
        audit = await lead.client.get("/console/audit", params={"case": case})
        assert audit.status_code == 200 and "<h1>Protokoll</h1>" in audit.text, case


# 7. English


async def test_english_console_and_no_open_redirect(console: Console, engine: Engine) -> None:
    _chat, case_id = await handover(engine)
    weber = await console.login("caseworker", REUTLINGEN)
    switched = await weber.client.get("/console/language?lang=en&next=/console/queue")
    assert switched.status_code == 303 and switched.headers["location"] == "/console/queue"
    cookie = next(c for c in switched.headers.get_list("set-cookie") if c.startswith("lotse_console_lang="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert flags[0] == "lotse_console_lang=en"
    assert "path=/console" in flags and "samesite=strict" in flags and "httponly" in flags

    queue = await weber.client.get(switched.headers["location"])
    assert queue.status_code == 200 and '<html lang="en">' in queue.text
    assert "<h1>Queue</h1>" in queue.text and ">Priority<" in queue.text
    assert "Warteschlange" not in queue.text and "Priorität" not in queue.text
    row = row_of(queue.text, case_id)
    assert row is not None and "Arabic" in row and "Asked for a person" in row and "waiting" in row

    page = await weber.client.get(f"/console/cases/{case_id}")
    refused = await weber.post(f"/console/cases/{case_id}/note", _csrf(page.text), note=" ")
    assert refused.status_code == 400 and "The note is empty." in refused.text

    anonymous = console.client()
    for target in (
        "//evil.example",
        "https://evil.example",
        "/console//evil.example",
        "/console/\\evil.example",
        "/\\evil.example",
        "http://testserver/console/queue",
        "",
    ):
        response = await anonymous.get("/console/language", params={"lang": "en", "next": target})
        assert response.status_code == 303, target
        assert response.headers["location"] == "/console/", target


def test_every_console_label_has_an_english_entry() -> None:
    literal = re.compile(r"""\bt\(\s*(?:"([^"]*)"|'([^']*)')\s*\)""")
    labels: dict[str, str] = {}
    for template in sorted(Path(TEMPLATES).glob("*.html")):
        for double, single in literal.findall(template.read_text(encoding="utf-8")):
            labels[double or single] = template.name
    assert len(labels) > 50, "the templates' labels were not found"
    for names in (
        present.PRIORITY_NAMES,
        present.REASON_NAMES,
        present.STATUS_NAMES,
        present.CHANNEL_NAMES,
        present.LANGUAGE_NAMES,
        present.ACTION_NAMES,
        cases.NOTICES,
        routes.ROLE_NAMES,
    ):
        labels.update({value: "labels" for value in names.values()})
    missing = sorted(f"{where}: {text}" for text, where in labels.items() if text not in ENGLISH)
    assert missing == []


# 8. headers


async def test_security_headers_on_the_case_pages(console: Console, engine: Engine) -> None:
    _chat, case_id = await handover(engine)
    lead = await console.login("lead")
    caseworker = await console.login("caseworker", METZINGEN)
    page = await lead.client.get(f"/console/cases/{case_id}")
    responses = {
        "queue": await lead.client.get("/console/queue"),
        "case": page,
        "rows": await lead.client.get("/console/queue/rows"),
        "lines": await lead.client.get(f"/console/cases/{case_id}/lines?after=0"),
        "audit": await lead.client.get(f"/console/audit?case={case_id}"),
        "action": await lead.post(f"/console/cases/{case_id}/note", _csrf(page.text), note=NOTE),
        "refusal": await lead.post(f"/console/cases/{case_id}/note", _csrf(page.text), note=""),
        "not found": await caseworker.client.get(f"/console/cases/{case_id}"),
        "forbidden": await caseworker.client.get("/console/audit"),
    }
    for name, response in responses.items():
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
    assert [r.status_code for r in responses.values()] == [200, 200, 200, 200, 200, 303, 400, 404, 403]


# 9. audit


async def test_the_audit_log_names_who_did_what_without_the_texts(console: Console, engine: Engine) -> None:
    chat, case_id = await handover(engine)
    _other_chat, other_id = await handover(engine)
    weber = await console.login("caseworker", REUTLINGEN)
    lead = await console.login("lead")
    url = f"/console/cases/{case_id}"
    page = await weber.client.get(url)
    csrf = _csrf(page.text)
    await weber.client.get(f"/console/cases/{other_id}")
    sent = await weber.post(
        f"{url}/reply", csrf, german=HELLO_DE, text=EDITED_AR, machine="1", translated="1"
    )
    assert_done(sent, case_id, "reply")
    assert_done(await weber.post(f"{url}/close", csrf), case_id, "close")

    audit = await lead.client.get(f"/console/audit?case={case_id}")
    assert audit.status_code == 200 and f"Chat #{case_id}" in audit.text
    body = audit.text.split("<tbody>", 1)[1]
    rows = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    assert rows and all(len(cells) == 5 for cells in rows)
    assert {cells[3] for cells in rows} == {f"#{case_id}"}  # only this chat
    assert {cells[1] for cells in rows} == {weber.staff.username}
    actions = [cells[2] for cells in reversed(rows)]  # the log shows the newest first
    assert actions == ["gelesen", "übernommen", "geantwortet", "abgeschlossen"]
    for text in (HELLO_DE, EDITED_AR, HELLO_AR, ASK, ASK_DE, chat.user):
        assert text not in audit.text


async def test_admins_create_accounts_with_a_one_time_password_and_disable_them(console: Console) -> None:
    admin = await console.login("admin")
    caseworker = await console.login("caseworker", "im-stadt-reutlingen")
    assert (await caseworker.client.get("/console/staff")).status_code == 403
    token = await admin.csrf()
    name = f"neu-{uuid.uuid4().hex[:6]}"
    created = await admin.post(
        "/console/staff/add",
        token,
        username=name,
        display_name="Frau Neu",
        role="caseworker",
        teams="im-kreis-ermstal",
    )
    assert created.status_code == 200
    password = re.search(r"<code>([^<]+)</code>", created.text)
    assert password is not None and name in created.text
    assert "Team Ermstal" in created.text
    fresh = console.client()
    assert (await _login(fresh, name, password.group(1))).status_code == 303
    assert (await fresh.get("/console/queue")).status_code == 200
    again = await admin.client.get("/console/staff")
    assert password.group(1) not in again.text, "the password is shown once"
    refused = await admin.post("/console/staff/add", token, username=name, role="caseworker", teams="")
    assert refused.status_code == 400 and "exists already" in refused.text
    disabled = await admin.post("/console/staff/disable", token, username=name)
    assert disabled.status_code == 303
    assert (await fresh.get("/console/queue")).status_code == 303, "the disabled account's session ended"
    self_disable = await admin.post("/console/staff/disable", token, username=admin.staff.username)
    assert self_disable.status_code == 400
