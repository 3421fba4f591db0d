"""The editors' preview in a real browser: an Arabic answer reads right to left, as in the chat.

The console (its routes only, on a fresh SQLite database) is served by uvicorn in a thread of the
test; an editor logs in with Debian's Chromium through Playwright, opens the Arabic preview of the
Kita answer for Metzingen, taps a button, and the test checks what the browser computed. It writes
docs/screenshots/editor-preview-ar.png on every run. No NLU model is needed.

Playwright never downloads a browser here: it drives /usr/bin/chromium.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bot.config import Settings
from bot.console.accounts import Accounts
from bot.console.routes import STATIC, console_routes
from bot.handover.desk import Desk
from bot.i18n.catalogs import Catalogs, Translator
from bot.knowledge.content import Content
from bot.live.editions import Editions
from bot.storage.database import create_engine, upgrade
from bot.storage.handovers import Handovers
from bot.translation.service import MachineTranslation
from tests.harness import free_port
from tests.test_console_accounts import FAST, PASSWORD

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "screenshots" / "editor-preview-ar.png"
USERNAME = "redaktion"
ARABIC = re.compile(r"[\u0600-\u06FF]")


class ConsoleServer(threading.Thread):
    """The console alone, on its own event loop and port, until `stop`."""

    def __init__(self, settings: Settings, content: Content, catalogs: Catalogs, database_url: str) -> None:
        super().__init__(daemon=True)
        self.settings, self.content, self.catalogs, self.database_url = (
            settings,
            content,
            catalogs,
            database_url,
        )
        self.port = free_port()
        self.server: uvicorn.Server | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as exc:  # reported by wait_started in the test's thread
            self.error = exc

    async def serve(self) -> None:
        database = create_engine(self.database_url)
        await upgrade(database)
        accounts = Accounts(database, hasher=FAST)
        await accounts.create(USERNAME, PASSWORD, "editor", display_name="Frau Redakteurin")
        translation = MachineTranslation.from_settings(
            dataclasses.replace(self.settings, translation_provider="none")
        )
        desk = Desk(Handovers(database), Editions(self.content, self.catalogs), translation)
        app = Starlette(
            routes=[
                *console_routes(accounts, desk, locales_dir=self.settings.locales_dir),
                Mount("/static/console", StaticFiles(directory=str(STATIC))),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        try:
            await self.server.serve()
        finally:
            await database.dispose()

    def wait_started(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while not (self.server is not None and self.server.started):
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError("the console did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.join(timeout=10)


@pytest.fixture(scope="module")
def console_url(
    chromium: Path,
    settings: Settings,
    content: Content,
    catalogs: Catalogs,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    del chromium  # requested first, so that a missing browser skips before anything starts
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('editor') / 'lotse.db'}"
    server = ConsoleServer(settings, content, catalogs, database_url)
    server.start()
    try:
        yield server.wait_started()
    finally:
        server.stop()


def test_the_arabic_preview_reads_right_to_left_in_chromium(
    browser: Any, console_url: str, catalogs: Catalogs
) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="de-DE")
    page = context.new_page()
    try:
        page.goto(f"{console_url}/console/login")
        page.get_by_label("Benutzername").fill(USERNAME)
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.get_by_role("link", name="Vorschau").first.click()
        page.get_by_label("Antwort", exact=True).select_option("intent:kita_place")
        page.get_by_label("Sprache", exact=True).select_option("ar")
        page.get_by_label("Ort", exact=True).select_option("metzingen")
        page.get_by_role("button", name="Anzeigen").click()

        arabic = Translator(catalogs, "ar")
        question = arabic._("Wie alt ist Ihr Kind?")
        bubble = page.locator(".bubble.bot").filter(has_text=question)
        bubble.wait_for()
        assert ARABIC.search(question), "the Arabic catalog has no translation of the age question"
        assert bubble.evaluate("e => getComputedStyle(e).direction") == "rtl"
        assert bubble.get_attribute("lang") == "ar"
        chat = page.locator("section.chat")
        assert chat.evaluate("e => getComputedStyle(e).direction") == "rtl"
        # right to left: the answer starts at the right edge of the chat, as in a phone's chat
        box, frame = bubble.bounding_box(), chat.bounding_box()
        assert box is not None and frame is not None
        assert abs((box["x"] + box["width"]) - (frame["x"] + frame["width"])) < 40

        age = arabic._("1 bis 2 Jahre")
        bubble.get_by_role("link", name=age).click()
        pressed = page.locator(".bubble.user").filter(has_text=age)
        pressed.wait_for()
        assert pressed.evaluate("e => getComputedStyle(e).direction") == "rtl"
        assert (
            page.locator(".bubble.bot").filter(has_text=arabic._("Wo wohnt Ihre Familie gerade?")).count()
            == 1
        )
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        context.close()
