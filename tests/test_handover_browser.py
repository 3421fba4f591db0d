"""The handover in two real browsers: a refugee in the web chat, a caseworker in the console.

`lotse serve` runs as a subprocess with a fresh SQLite database (as in tests/test_webchat_browser.py)
and translates through the fake LibreTranslate over real HTTP. Both people use Debian's Chromium
through Playwright: the refugee on a phone in Arabic, Frau Weber of the Reutlingen team at a desk
in the console. The test asserts what each of them sees and does, and writes the README's two
pictures of the console on every run (docs/screenshots/console-*.png).

Playwright never downloads a browser here: it drives /usr/bin/chromium.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.engine.render import Renderer
from bot.engine.understanding import Understanding
from bot.errors import LotseError
from bot.handover import notices
from bot.i18n.catalogs import DOMAINS, Catalogs, Translator
from bot.i18n.coverage import USED_STATES, catalog_entries, catalog_path
from bot.knowledge.content import Content
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.harness import ServeProcess, free_port
from tests.test_webchat_browser import ANSWER_MS, ARABIC, STARTUP_S, Phone

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
QUEUE_MS = 30_000  # the queue page refreshes itself every 5 s, the open chat every 3 s
TEAM = "im-stadt-reutlingen"
TEAM_NAME = "Integrationsmanagement der Stadt Reutlingen"
USERNAME = "weber"
PASSWORD = "Reutlingen-Konsole-2026"

# The story's sentences and their translations, as a good translation service would give them.
ASK = "أريد التحدث مع موظف من فضلك"
ASK_DE = "Ich möchte bitte mit einem Mitarbeiter sprechen."
REPLY_DE = "Guten Tag, ich bin Frau Weber vom Integrationsmanagement. Wie kann ich Ihnen helfen?"
REPLY_AR = "مرحبًا، أنا السيدة فيبر من إدارة الاندماج. كيف يمكنني مساعدتكم؟"
LETTER = "شكرًا. وصلتني رسالة من مكتب الأجانب ولا أفهمها."
LETTER_DE = "Danke. Ich habe einen Brief von der Ausländerbehörde bekommen und verstehe ihn nicht."
HOURS = "متى مواعيد الاستشارة؟"
HOURS_DE = "Wann sind die Beratungszeiten?"
PHRASEBOOK = {
    ("ar", "de", ASK): ASK_DE,
    ("ar", "de", LETTER): LETTER_DE,
    ("ar", "de", HOURS): HOURS_DE,
    ("de", "ar", REPLY_DE): REPLY_AR,
    # the titles of the pressed buttons (commands such as "/start ar" are not translated)
    ("ar", "de", "نعم، من فضلك"): "Ja, bitte",
    ("ar", "de", "Reutlingen"): "Reutlingen",
}
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")  # Python's {name}, not WhatsApp's {{1}}


class StoryTranslator(FakeLibreTranslate):
    """The fake LibreTranslate with the story's phrasebook, and fair German for the bot's own words.

    Lotse writes to the refugee from its gettext catalogs, and the console shows every line with a
    machine translation into German. A real service would give fair German for those lines too; the
    fake gets it by reading the Arabic catalog backwards (placeholders included, with the times of the
    teams' next office hours), so that the console and its screenshot do not show the fake's
    "[ar→de] …" markers. Whatever it cannot turn into German completely gets the usual marker.
    """

    def __init__(self, phrasebook: Mapping[tuple[str, str, str], str], content: Content, catalogs: Catalogs):
        super().__init__(phrasebook)
        self.content, self.catalogs = content, catalogs
        self.backwards = _catalog_backwards(Settings().locales_dir, "ar")

    def _one(self, text: str, source: str, target: str) -> str:
        if (source, target, text) not in self.phrasebook and (source, target) == ("ar", "de"):
            german = self._bot_words(text)
            if german is not None:
                return german
        return super()._one(text, source, target)

    def _bot_words(self, text: str) -> str | None:
        times = self._next_office_hours()

        def fill(german: str, match: re.Match[str]) -> str:
            values = {name: times.get(value, value) for name, value in match.groupdict().items()}
            try:
                return german.format(**values)
            except (KeyError, IndexError, ValueError):  # braces in the German that are no placeholders
                return match.group(0)

        result = text
        for pattern, german in self.backwards:
            result = pattern.sub(functools.partial(fill, german), result)
        return None if result == text or ARABIC.search(result) else result

    def _next_office_hours(self) -> dict[str, str]:
        """Arabic → German for the start of each team's next office hours, as the bot words them."""
        now = dt.datetime.now(dt.timezone.utc)
        arabic = Renderer(self.content, Translator(self.catalogs, "ar"))
        german = Renderer(self.content, Translator(self.catalogs, "de"))
        times = {}
        for team in self.content.teams.values():
            upcoming = self.content.calendar.next_opening(team, now)
            if upcoming is not None:
                times[arabic.when(upcoming.start)] = german.when(upcoming.start)
        return times


def _catalog_backwards(locales: Path, language: str) -> list[tuple[re.Pattern[str], str]]:
    """(pattern of a translation, its German source), longest translations first."""
    pairs: dict[str, str] = {}
    for domain in DOMAINS:
        for entry in catalog_entries(catalog_path(locales, language, domain), language, domain):
            if entry.state in USED_STATES:  # what the bot sends; stale entries it does not
                pairs[entry.translation] = entry.source
    backwards = []
    for translation in sorted(pairs, key=len, reverse=True):
        if set(_PLACEHOLDER.findall(translation)) != set(_PLACEHOLDER.findall(pairs[translation])):
            continue
        parts = _PLACEHOLDER.split(translation)  # literal, name, literal, name, …
        if len(set(parts[1::2])) != len(parts[1::2]):
            continue  # a placeholder used twice cannot be one named group
        pattern = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        backwards.append((re.compile(pattern), pairs[translation]))
    return backwards


@dataclass
class Lotse:
    base: str
    libre: StoryTranslator


@pytest.fixture(scope="module")
def lotse(
    chromium: Path,
    understanding: Understanding,
    content: Content,
    catalogs: Catalogs,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lotse]:
    """The fake LibreTranslate, `lotse serve` translating through it, and Frau Weber's account."""
    del understanding  # requested so that the NLU model is trained before the server loads it
    tmp = tmp_path_factory.mktemp("handover")
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_TOKEN", "LIBRETRANSLATE_API_KEY")}
    libre = StoryTranslator(PHRASEBOOK, content, catalogs)
    with libre:
        env.update(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'lotse.db'}",
            LOTSE_VAR_DIR=str(tmp),
            LOTSE_TRANSLATION="libre",
            LIBRETRANSLATE_URL=libre.url,
            PYTHONUNBUFFERED="1",
        )
        server = ServeProcess(env, free_port(), tmp / "server.log", startup=STARTUP_S)
        try:
            try:
                server.start()
            except LotseError as exc:
                pytest.fail(str(exc), pytrace=False)
            # as an administrator would do it: `lotse staff add`, the password on stdin
            added = subprocess.run(
                [sys.executable, "-m", "bot.cli", "staff", "add", USERNAME, "--role", "caseworker",
                 "--team", TEAM, "--name", "Frau Weber", "--password-stdin"],
                cwd=ROOT, env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert added.returncode == 0, added.stdout + added.stderr
            yield Lotse(server.base_url, libre)
        finally:
            server.stop()


@pytest.fixture
def expect() -> Iterator[Any]:
    """Playwright's `expect`, patient: answers, polls and translations take their time."""
    from playwright.sync_api import expect

    expect.set_options(timeout=ANSWER_MS)
    try:
        yield expect
    finally:
        expect.set_options(timeout=None)  # back to Playwright's default for other tests


class Caseworker:
    """Frau Weber at her desk: a desktop browser context with its own cookies."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport=DESKTOP, locale="de-DE")
        self.context.set_default_timeout(ANSWER_MS)
        self.page = self.context.new_page()
        self.problems: list[str] = []  # uncaught errors, failed requests, CSP violations
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # The console has no icon, so Chromium's own request for /favicon.ico is answered 404: no fault.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.problems.append(f"{message.text} ({message.location.get('url')})")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} {response.url}")

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    def focused(self, target: Any) -> bool:
        return bool(target.evaluate("element => element === document.activeElement"))

    def tab_to(self, target: Any, limit: int) -> None:
        """Press Tab, at most `limit` times, until `target` has the focus, as a keyboard user would."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            if self.focused(target):
                return
        raise AssertionError(f"{limit} presses of Tab do not reach {target}")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def refugee(browser: Any, lotse: Lotse) -> Iterator[Phone]:
    person = Phone(browser, lotse.base)
    try:
        yield person
    finally:
        person.close()


@pytest.fixture
def weber(browser: Any, lotse: Lotse) -> Iterator[Caseworker]:
    person = Caseworker(browser, lotse.base)
    try:
        yield person
    finally:
        person.close()


def test_a_caseworker_answers_an_arabic_chat_in_german(
    lotse: Lotse, refugee: Phone, weber: Caseworker, catalogs: Catalogs, expect: Any
) -> None:
    phone, desk = refugee.page, weber.page
    arabic = Translator(catalogs, "ar")
    arrived = arabic._(
        "Ihre Nachricht ist angekommen. Eine Mitarbeiterin oder ein Mitarbeiter antwortet Ihnen hier."
    )

    # Frau Weber logs in; her queue is empty.
    weber.open("/console/login")
    desk.get_by_label("Benutzername").fill(USERNAME)
    desk.get_by_label("Passwort").fill(PASSWORD)
    desk.get_by_role("button", name="Anmelden").click()
    expect(desk).to_have_url(re.compile(r"/console/queue$"))
    expect(desk.get_by_text("Frau Weber (Fallbearbeitung)")).to_be_visible()
    expect(desk.get_by_text("Keine offenen Chats.")).to_be_visible()

    # The refugee asks in Arabic for a person, agrees, and names the town when asked.
    refugee.open("/?lang=ar")
    refugee.wait_for_bot(0)
    shown = refugee.settle()
    refugee.say(ASK)
    refugee.wait_for_bot(shown)
    shown = refugee.settle()
    phone.get_by_test_id("bot-button").filter(has_text=arabic._("Ja, bitte")).last.click()
    refugee.wait_for_bot(shown)
    shown = refugee.settle()
    town = phone.get_by_test_id("bot-button").filter(has_text="Reutlingen")
    if town.count():
        town.last.click()
        refugee.wait_for_bot(shown)
        shown = refugee.settle()
    # The bot says, in Arabic, that the Reutlingen team has the request and when it answers.
    routed = refugee.bot_bubbles().last.inner_text()
    assert TEAM_NAME in routed and ARABIC.search(routed), routed
    assert any(
        sentence.split("{")[0] in routed
        for sentence in (
            arabic._("Das Team ist gerade im Dienst und meldet sich so bald wie möglich."),
            arabic._("Das Team ist gerade nicht im Dienst. Die nächste Sprechzeit beginnt {when}."),
            arabic._("Das Team meldet sich so bald wie möglich."),
        )
    ), routed

    # The queue refreshes itself: the chat appears without a reload, with all a caseworker sorts by.
    row = desk.locator("#queue-rows tr").filter(has_text="Wunsch nach einer Person")
    expect(row).to_have_count(1, timeout=QUEUE_MS)
    cells = row.locator("td")
    expect(cells).to_have_text(
        ["Normal", re.compile("#1 Wunsch nach einer Person"), re.compile(r"\d+ Min"), re.compile(r"\d\d:\d\d"),
         "Arabisch", "Web-Chat", "Reutlingen", TEAM_NAME, "wartet"]
    )  # fmt: skip
    weber.screenshot("console-queue.png")

    # The conversation: each Arabic original beside its German translation.
    row.get_by_role("link").click()
    expect(desk.get_by_role("heading", name="Chat #1: Wunsch nach einer Person")).to_be_visible()
    asked = desk.locator("table.transcript tr.in").filter(has_text=ASK)
    expect(asked.locator("td.original")).to_have_attribute("dir", "rtl")
    expect(asked.locator("td.german")).to_contain_text(ASK_DE)
    expect(asked.locator("td.german")).to_contain_text("maschinell")
    expect(desk.locator("table.transcript tr.out td.german").last).to_contain_text(TEAM_NAME)
    expect(desk.get_by_text("[ar→de]")).to_have_count(0)
    # a line in Latin letters keeps its own direction in an Arabic chat: "/start ar", not "start ar/"
    command = desk.locator("table.transcript td.original bdi").filter(has_text="/start ar")
    assert command.evaluate("bdi => getComputedStyle(bdi).direction") == "ltr"
    assert asked.locator("bdi").evaluate("bdi => getComputedStyle(bdi).direction") == "rtl"

    desk.get_by_role("button", name="Übernehmen").click()
    expect(desk.get_by_text("Sie haben den Chat übernommen.")).to_be_visible()
    taken = notices.taken_over(arabic, "Frau Weber").text
    expect(refugee.bot_bubbles().filter(has_text=taken)).to_have_count(1)

    # The reply by keyboard only. Taking over lands on the reply section (#antwort), so the first Tab
    # reaches the German field; then type, Tab past the canned replies to the button, Enter.
    weber.tab_to(desk.get_by_label("Ihre Antwort auf Deutsch"), limit=1)
    desk.keyboard.type(REPLY_DE)
    weber.tab_to(desk.get_by_role("button", name="Übersetzung ansehen"), limit=2)
    desk.keyboard.press("Enter")

    # The preview, again at the reply section: the German, and the Arabic in an editable field.
    expect(desk).to_have_url(re.compile(r"/preview#antwort$"))
    expect(desk.locator("blockquote")).to_have_text(REPLY_DE)
    translation = desk.get_by_label(re.compile("So geht die Nachricht an den Menschen"))
    expect(translation).to_have_value(REPLY_AR)
    expect(translation).to_be_editable()
    expect(translation).to_have_attribute("dir", "rtl")
    expect(desk.get_by_text("Maschinell übersetzt.")).to_be_visible()
    weber.screenshot("console-conversation.png")

    # The next Tab is the Arabic text, the one after it the send button; Enter sends.
    weber.tab_to(translation, limit=1)
    weber.tab_to(desk.get_by_role("button", name="Senden"), limit=1)
    desk.keyboard.press("Enter")
    expect(desk.get_by_text("Die Antwort ist gesendet.")).to_be_visible()

    # The refugee's page shows the Arabic reply, marked as machine-translated.
    answer = refugee.bot_bubbles().filter(has_text=REPLY_AR)
    expect(answer).to_have_count(1)
    expect(answer).to_contain_text(notices.machine_translated(arabic))
    expect(answer).to_have_attribute("dir", "rtl")

    # The refugee writes again; the open conversation shows it, translated, without a reload.
    desk.evaluate("() => { window.stillTheSamePage = true; }")
    staff_rows = desk.locator("table.transcript tr.staff")
    expect(staff_rows.filter(has_text=REPLY_AR)).to_have_count(1)
    expect(staff_rows.filter(has_text=REPLY_AR).locator("td.german")).to_contain_text(REPLY_DE)
    shown = refugee.bot_bubbles().count()
    refugee.say(LETTER)
    letter = desk.locator("table.transcript tr.in").filter(has_text=LETTER)
    expect(letter.locator("td.german")).to_contain_text(LETTER_DE, timeout=QUEUE_MS)
    assert desk.evaluate("() => window.stillTheSamePage === true"), "the page was reloaded"
    refugee.wait_for_bot(shown)  # the bot keeps quiet, and only confirms that the message arrived
    assert refugee.new_texts(shown) == arrived
    shown = refugee.settle()

    # Frau Weber hands the chat back to Lotse; the refugee is told and asked whether it helped.
    desk.get_by_role("button", name="Abschließen und an Lotse zurückgeben").click()
    expect(desk.get_by_text("Der Chat ist abgeschlossen. Lotse antwortet wieder.")).to_be_visible()
    expect(desk.get_by_label("Ihre Antwort auf Deutsch")).to_have_count(0)
    back = notices.bot_is_back(arabic)
    expect(refugee.bot_bubbles().filter(has_text=back.text)).to_have_count(1)
    feedback = phone.get_by_test_id("bot-button").filter(has_text=back.buttons[0].title).last
    expect(feedback).to_be_visible()
    expect(phone.get_by_test_id("bot-button").filter(has_text=back.buttons[1].title).last).to_be_visible()
    shown = refugee.bot_bubbles().count()
    feedback.click()
    refugee.wait_for_bot(shown)
    shown = refugee.settle()

    # The bot answers again: counselling hours, for the town it knows now.
    refugee.say(HOURS)
    refugee.wait_for_bot(shown)
    refugee.settle()
    hours = refugee.new_texts(shown)
    assert ARABIC.search(hours) and TEAM_NAME in hours, hours
    assert arrived not in hours, hours

    # Every translation went through LibreTranslate's protocol to the fake, none was refused.
    asked_for = [q for r in lotse.libre.translations() for q in (r.q if isinstance(r.q, list) else [r.q])]
    assert REPLY_DE in asked_for and ASK in asked_for and LETTER in asked_for, asked_for
    assert all(r.status == 200 for r in lotse.libre.requests)

    assert refugee.dialogs == [] and refugee.problems == []
    assert weber.problems == [], weber.problems
