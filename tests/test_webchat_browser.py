"""The web chat in a real browser: Debian's Chromium, driven by Playwright, against `lotse serve`.

The server runs as a subprocess with its own SQLite database, as a person would start it; the
browser gets a phone-sized viewport. The tests assert what a person sees and does: the direction
of the page, the greeting, typed questions and pressed buttons, answers, a reload.

Playwright never downloads a browser here: it drives /usr/bin/chromium.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.engine.understanding import Understanding
from bot.errors import LotseError
from tests.harness import ServeProcess, free_port

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
# The README's picture, regenerated on every run (as are the console's, by test_handover_browser.py).
SCREENSHOT = ROOT / "docs" / "screenshots" / "webchat-ar.png"
PHONE = {"width": 390, "height": 844}
ARABIC = re.compile(r"[\u0600-\u06FF]")
STARTUP_S = 90  # loading the NLU model takes a while
ANSWER_MS = 60_000  # answers take < 1 s normally; generous for a slow first parse


@pytest.fixture(scope="module")
def server(
    chromium: Path, understanding: Understanding, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`lotse serve` on a free port with a fresh database; the URL once /healthz answers 200."""
    # `understanding` is requested so that models/nlu.tar.gz is trained (once per run) before the server loads it.
    del understanding
    tmp = tmp_path_factory.mktemp("webchat")
    port = free_port()
    env = dict(os.environ)
    env.pop("TELEGRAM_TOKEN", None)
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'lotse.db'}",
        LOTSE_VAR_DIR=str(tmp),
        PYTHONUNBUFFERED="1",
    )
    server = ServeProcess(env, port, tmp / "server.log", startup=STARTUP_S)
    try:
        try:
            server.start()
        except LotseError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server.base_url
    finally:
        server.stop()


class Phone:
    """One person on a phone: a fresh browser context (own localStorage, so its own session)."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="ar"
        )
        self.context.set_default_timeout(ANSWER_MS)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.problems: list[str] = []  # uncaught errors and Content-Security-Policy violations
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(message.text)

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    def bot_bubbles(self) -> Any:
        return self.page.get_by_test_id("bubble-bot")

    def user_bubbles(self) -> Any:
        return self.page.get_by_test_id("bubble-user")

    def transcript(self) -> list[tuple[str, str]]:
        """Every bubble on the screen, in order, as (who, text)."""
        bubbles = self.page.get_by_test_id("log").locator("[data-testid^='bubble-']")
        return [(str(bubble.get_attribute("data-testid")), bubble.inner_text()) for bubble in bubbles.all()]

    def wait_for_bot(self, more_than: int) -> None:
        self.page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=bubble-bot]').length > n",
            arg=more_than,
            timeout=ANSWER_MS,
        )

    def settle(self, quiet_s: float = 2.0) -> int:
        """Wait until no further bot message arrives for `quiet_s` (a reply may be several messages)."""
        deadline = time.monotonic() + ANSWER_MS / 1000
        count, since = int(self.bot_bubbles().count()), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = int(self.bot_bubbles().count())
            if now != count:
                count, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return count
        return count

    def new_texts(self, before: int) -> str:
        return "\n".join(self.bot_bubbles().all_inner_texts()[before:])

    def say(self, text: str) -> None:
        field = self.page.get_by_test_id("input")
        field.fill(text)
        field.press("Enter")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def phone(browser: Any, server: str) -> Iterator[Phone]:
    person = Phone(browser, server)
    try:
        yield person
    finally:
        person.close()


def test_a_conversation_in_arabic_works_in_a_real_browser(phone: Phone) -> None:
    from playwright.sync_api import expect

    page = phone.page
    phone.open("/?lang=ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_test_id("input")).to_be_visible()

    # The greeting arrives by itself, in Arabic, with topic buttons; the /start behind it is not shown.
    phone.wait_for_bot(0)
    shown = phone.settle()
    greeting = phone.bot_bubbles().first
    assert ARABIC.search(greeting.inner_text()), greeting.inner_text()
    assert greeting.evaluate("e => getComputedStyle(e).direction") == "rtl"
    expect(page.get_by_test_id("bot-button").first).to_be_visible()
    expect(phone.user_bubbles()).to_have_count(0)

    # A typed question (counselling hours) and Enter: the question shows, the bot asks for the town.
    question = "متى مواعيد الاستشارة؟"
    phone.say(question)
    expect(phone.user_bubbles().last).to_have_text(question)
    expect(page.get_by_test_id("input")).to_have_value("")
    phone.wait_for_bot(shown)
    answered = phone.settle()
    assert ARABIC.search(phone.new_texts(shown)), phone.new_texts(shown)

    # Pressing a town button: its title becomes the user's bubble, the answer for that town follows.
    town = page.get_by_test_id("bot-button").filter(has_text="Pfullingen").last
    expect(town).to_be_visible()
    town.click()
    expect(phone.user_bubbles().last).to_have_text("Pfullingen")
    phone.wait_for_bot(answered)
    final = phone.settle()
    answer = phone.new_texts(answered)
    assert ARABIC.search(answer), answer
    expect(page.get_by_test_id("typing")).to_be_hidden()

    # The page shows a long answer from its beginning; for the picture, scroll up a little as a reader
    # would, so that the pressed town button and the start of the answer are both in view.
    phone.user_bubbles().last.evaluate("bubble => bubble.scrollIntoView({block: 'center'})")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # A reload keeps the transcript, and no message comes twice.
    before = phone.transcript()
    assert len(before) == final + 2  # the bot's messages and the two things the person said
    page.reload()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(phone.bot_bubbles()).to_have_count(final)
    time.sleep(3)  # a long poll that wrongly repeated messages would answer at once
    assert phone.transcript() == before

    assert phone.dialogs == []
    assert phone.problems == []


def test_markup_typed_by_a_user_shows_as_text(phone: Phone) -> None:
    from playwright.sync_api import expect

    page = phone.page
    phone.open("/?lang=ar")
    phone.wait_for_bot(0)
    shown = phone.settle()

    attack = "<img src=x onerror=alert(1)>"
    phone.say(attack)
    expect(phone.user_bubbles().last).to_have_text(attack)
    phone.wait_for_bot(shown)  # the reply too may quote the text
    phone.settle()

    expect(page.locator("img")).to_have_count(0)
    assert attack in phone.user_bubbles().all_inner_texts()
    assert phone.dialogs == []
    assert phone.problems == []
