"""The editors' console pages over HTTP: who may see them, translation coverage, stale entries,
the preview of answers, and the questions Lotse did not understand.

A small Starlette app with the console routes and a real `Desk`, on SQLite and PostgreSQL. The
catalogs are a copy of `locales/` in a temporary folder, so a test can change a German source as
`lotse i18n update` would and watch the console follow without a restart. Fallback messages are
stored by the real engine (with an understanding that understands nothing), so no NLU model is
needed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.console import editor_pages
from bot.console.routes import SECURITY_HEADERS
from bot.console.similar import THRESHOLD, group_questions, jaccard, normalise, trigrams
from bot.console.wording import ENGLISH
from bot.engine.engine import Engine
from bot.engine.messages import Inbound
from bot.engine.preview import MAX_STEPS
from bot.engine.render import Renderer
from bot.engine.understanding import FALLBACK_INTENT, Parse
from bot.handover.desk import Desk
from bot.i18n.catalogs import Catalogs, Translator
from bot.i18n.coverage import STATES, catalog_path, coverage
from bot.i18n.langid import LanguageIdentifier
from bot.knowledge.content import Content
from bot.live.editions import Editions
from bot.storage.handovers import Handovers
from bot.storage.repository import SqlConversationStore
from bot.storage.tables import audit_log
from bot.translation.service import MachineTranslation
from tests.console_app import ConsoleApp

# Far from the dates other tests write with, so that their messages stay out of the 30-day window.
NOW = dt.datetime(2031, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
PAGES = ("/console/editor", "/console/editor/entries", "/console/editor/preview", "/console/editor/fallbacks")
CONTEXT, OLD_GERMAN, NEW_GERMAN = "topic:kita.place:title", "Kita-Platz finden", "Einen Kita-Platz finden"
CHESS = ("كيف أسجل ابني في نادي الشطرنج؟", "كيف اسجل ابني في نادي الشطرنج", "كيف أسجل إبني في نادي الشطرنج ؟")
CHESS_CALL = "اتصلوا بي على 0176 1234567 كيف أسجل ابني في نادي الشطرنج"
OTHER_AR = "أين أجد طبيب أسنان يتكلم العربية؟"
GERMAN = ("Wo kann ich Schach spielen?", "wo kann ich schach spielen")
OLD = "Ich suche einen Schachclub für Erwachsene"  # 40 days ago: outside the window


@pytest.fixture
def locales(settings: Settings, tmp_path: Path) -> Path:
    target = tmp_path / "locales"
    shutil.copytree(settings.locales_dir, target)
    return target


@pytest.fixture
def desk(database: AsyncEngine, content: Content, catalogs: Catalogs, settings: Settings) -> Desk:
    translation = MachineTranslation.from_settings(dataclasses.replace(settings, translation_provider="none"))
    return Desk(Handovers(database), Editions(content, catalogs), translation, clock=lambda: NOW)


class Misunderstood:
    """An understanding that never knows what is meant: every text ends in the fallback."""

    async def parse(self, text: str) -> Parse:
        return Parse(FALLBACK_INTENT, 0.1)


@pytest.fixture
async def console(database: AsyncEngine, desk: Desk, locales: Path) -> AsyncIterator[ConsoleApp]:
    console = ConsoleApp(database, desk, locales)
    yield console
    await console.close()


def coverage_on_page(html: str) -> dict[str, dict[str, int]]:
    """The overview's numbers: language -> state -> count, read from the first table's data cells."""
    table = html.split('<table class="coverage">', 1)[1].split("</table>", 1)[0]
    found: dict[str, dict[str, int]] = {}
    for language, row in re.findall(r'<tr data-language="(\w+)">(.*?)</tr>', table, re.S):
        cells = re.findall(r'data-state="(\w+)">(?:<a [^>]*>)?(\d+)', row)
        found[language] = {state: int(number) for state, number in cells}
    return found


def make_stale(locales: Path, language: str) -> int:
    """Reword one German source as `lotse i18n update` records it; the line of the new msgid.

    Edited as text, so that nothing else in the file changes: the entry gets `fuzzy` and keeps the
    German it was translated from as `#| msgid`.
    """
    path = catalog_path(locales, language, "content")
    lines = path.read_text(encoding="utf-8").split("\n")
    at = lines.index(f'msgctxt "{CONTEXT}"')
    assert lines[at + 1] == f'msgid "{OLD_GERMAN}"', "the example catalog lost the entry this test rewords"
    start = at
    while lines[start - 1].startswith("#"):
        start -= 1
    comments = [line for line in lines[start:at] if not line.startswith("#|")]
    flags = next((i for i, line in enumerate(comments) if line.startswith("#,")), None)
    if flags is None:
        comments.append("#, fuzzy")
    elif "fuzzy" not in comments[flags]:
        comments[flags] = comments[flags].replace("#,", "#, fuzzy,", 1)
    lines[start : at + 2] = [
        *comments,
        f'#| msgid "{OLD_GERMAN}"',
        f'msgctxt "{CONTEXT}"',
        f'msgid "{NEW_GERMAN}"',
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return lines.index(f'msgid "{NEW_GERMAN}"') + 1


def cell_text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def group_of(row: str) -> tuple[int, str, list[str]]:
    """(count, representative, examples) of one row of the fallbacks table."""
    count = re.search(r'class="number count">(\d+)<', row)
    question = re.search(r'<td class="question"[^>]*>(.*?)</td>', row, re.S)
    assert count is not None and question is not None, row
    examples = [cell_text(item) for item in re.findall(r"<li[^>]*>(.*?)</li>", row, re.S)]
    return int(count.group(1)), cell_text(question.group(1)), examples


# 1. who may see the pages


async def test_only_editors_and_admins_see_the_editor_pages(console: ConsoleApp) -> None:
    anonymous = console.client()
    for page in PAGES:
        response = await anonymous.get(page)
        assert response.status_code == 303 and response.headers["location"] == "/console/login", page
    for role, teams in (("caseworker", ("im-stadt-reutlingen",)), ("lead", ())):
        client, _staff = await console.signed_in(role, *teams)
        for page in PAGES:
            response = await client.get(page)
            assert response.status_code == 403, (role, page)
            assert "Für diese Seite fehlt Ihnen die Berechtigung." in response.text
    for role in ("editor", "admin"):
        client, _staff = await console.signed_in(role)
        for page in PAGES:
            response = await client.get(page)
            assert response.status_code == 200, (role, page)
            for header, value in SECURITY_HEADERS.items():
                assert response.headers.get(header) == value, (role, page, header)
            assert "<script" not in response.text.split("</head>", 1)[1]  # only base.html's own script

    editor, _staff = await console.signed_in("editor")
    start = await editor.get("/console/")
    assert start.status_code == 200
    for page in PAGES:
        assert f'href="{page}' in start.text


# 2. coverage, read from the files at each request


async def test_coverage_matches_the_catalogs_and_follows_a_changed_source(
    console: ConsoleApp, locales: Path
) -> None:
    editor, _staff = await console.signed_in("editor")
    expected = {row.language: row for row in coverage(locales) if row.domain == "all"}
    shown = coverage_on_page((await editor.get("/console/editor")).text)
    assert set(shown) == set(expected) == {"en", "ar", "fa", "uk", "ru", "tr"}
    for language, row in expected.items():
        share = int(100 * row.usable / row.total + 0.5)  # Jinja's round: halves up
        numbers = {**{s: getattr(row, s) for s in STATES}, "total": row.total, "usable": share}
        assert shown[language] == numbers, language

    before = shown["ar"]
    make_stale(locales, "ar")
    after = coverage_on_page((await editor.get("/console/editor")).text)  # no restart, no reload
    assert after["ar"]["stale"] == before["stale"] + 1
    assert after["ar"]["total"] == before["total"]
    assert after["fa"] == shown["fa"]


# 3. a changed German source: stale, with the old and the new German and where to find it


async def test_a_reworded_german_source_is_listed_as_stale_with_old_and_new_german(
    console: ConsoleApp, locales: Path
) -> None:
    line = make_stale(locales, "ar")
    editor, _staff = await console.signed_in("editor")
    page = await editor.get("/console/editor/entries", params={"language": "ar", "state": "stale"})
    assert page.status_code == 200
    rows = re.findall(r'<tr data-state="(\w+)" data-language="ar">(.*?)</tr>', page.text, re.S)
    assert rows and {state for state, _row in rows} == {"stale"}
    ours = [row for _state, row in rows if f"<code>locales/ar/LC_MESSAGES/content.po:{line}</code>" in row]
    assert len(ours) == 1, page.text
    cells = re.findall(r"<td[^>]*>(.*?)</td>", ours[0], re.S)
    where, _state, old, new, translation = cells
    assert CONTEXT in where and "step=topic%3Akita.place" in where  # a link to the answer's preview
    assert cell_text(old) == OLD_GERMAN
    assert cell_text(new) == NEW_GERMAN and "<ins>Einen </ins>" in new  # what changed is marked
    assert re.search(r"[\u0600-\u06FF]", translation)  # the Arabic to check against the new German

    everywhere = await editor.get("/console/editor/entries", params={"state": "stale"})
    assert f"locales/ar/LC_MESSAGES/content.po:{line}" in everywhere.text
    other = await editor.get("/console/editor/entries", params={"language": "fa", "state": "stale"})
    assert NEW_GERMAN not in other.text  # only Arabic was reworded in this copy


# 4. the preview: exactly what the bot sends, right-to-left where the language is


async def test_the_preview_shows_the_bots_own_answer_in_arabic_right_to_left_and_in_german(
    console: ConsoleApp, content: Content, catalogs: Catalogs
) -> None:
    editor, _staff = await console.signed_in("editor")
    arabic = Translator(catalogs, "ar")
    expected = Renderer(content, arabic).topic("kita.place")
    if arabic.unreviewed_used:
        expected += "\n\n" + arabic._("(automatische Übersetzung)")
    assert re.search(r"[\u0600-\u06FF]", expected), "the example catalog has no Arabic for kita.place"

    page = await editor.get("/console/editor/preview", params={"language": "ar", "step": "topic:kita.place"})
    assert page.status_code == 200
    bubble = re.search(
        r'<div class="bubble bot" dir="(\w+)" lang="(\w+)">\s*<p class="text">(.*?)</p>', page.text, re.S
    )
    assert bubble is not None, page.text
    assert bubble.group(1) == "rtl" and bubble.group(2) == "ar"
    assert bubble.group(3) == str(escape(expected.strip()))
    assert '<section class="chat" aria-label="Chat" dir="rtl" lang="ar">' in page.text

    german = await editor.get(
        "/console/editor/preview", params={"language": "de", "answer": "topic:kita.place"}
    )
    bubble = re.search(
        r'<div class="bubble bot" dir="(\w+)" lang="(\w+)">\s*<p class="text">(.*?)</p>', german.text, re.S
    )
    assert bubble is not None and bubble.group(1) == "ltr" and bubble.group(2) == "de"
    topic = content.topic("kita.place")
    assert bubble.group(3) == str(escape(f"{topic.title}\n\n{topic.text.strip()}"))
    assert "automatische Übersetzung" not in bubble.group(3)


async def test_the_preview_follows_the_buttons_with_the_editors_town(
    console: ConsoleApp, content: Content
) -> None:
    editor, _staff = await console.signed_in("editor")
    page = await editor.get(
        "/console/editor/preview", params={"language": "de", "town": "metzingen", "step": "intent:kita_place"}
    )
    link = re.search(r'<a href="([^"]*step=age%3Au3)">([^<]+)</a>', page.text)
    assert link is not None, page.text
    assert link.group(1).startswith(
        "/console/editor/preview?language=de&amp;town=metzingen&amp;step=intent%3Akita_place"
    )
    then = await editor.get(link.group(1).replace("&amp;", "&"))
    assert f'<p class="bubble user" dir="ltr" lang="de">{link.group(2)}</p>' in then.text
    status = re.search(r'<a href="([^"]*step=status%3Amunicipality)">', then.text)
    assert status is not None
    last = await editor.get(status.group(1).replace("&amp;", "&"))
    registration = [p for p in content.places_for("kita_registration", "metzingen") if p.town == "metzingen"]
    assert registration and "Anmeldung in Metzingen:" in last.text
    assert str(escape(registration[0].name)) in last.text

    # every answer of the list, in every language, renders
    for group in editor_pages.preview_choices(content):
        for choice in group.choices:
            for language in ("de", "ar", "fa", "uk"):
                shown = await editor.get(
                    "/console/editor/preview", params={"language": language, "answer": choice.payload}
                )
                assert shown.status_code == 200 and 'class="bubble bot"' in shown.text, (choice, language)


# 5. questions Lotse did not understand


async def test_fallbacks_are_grouped_by_language_and_similarity_and_reading_them_is_audited(
    console: ConsoleApp, desk: Desk, database: AsyncEngine, langid: LanguageIdentifier
) -> None:
    engine = Engine(desk.editions, Misunderstood(), SqlConversationStore(database), langid)
    yesterday = NOW - dt.timedelta(days=1)

    async def ask(text: str, language: str, when: dt.datetime = yesterday) -> None:
        inbound = Inbound("telegram", f"u-{uuid.uuid4().hex[:10]}", text=text)
        reply = await engine.handle(inbound, now=when, language=language)
        assert reply.intent == FALLBACK_INTENT

    for text in CHESS:
        await ask(text, "ar")
    await ask(CHESS_CALL, "ar")
    await ask(OTHER_AR, "ar")
    for text in GERMAN:
        await ask(text, "de")
    await ask(OLD, "de", NOW - dt.timedelta(days=40))

    editor, staff = await console.signed_in("editor")
    page = await editor.get("/console/editor/fallbacks")
    assert page.status_code == 200
    sections = dict(
        re.findall(r'<section aria-labelledby="h-\w+" data-language="(\w+)">(.*?)</section>', page.text, re.S)
    )
    assert {"ar", "de"} <= set(sections)
    arabic = re.findall(r'<tr class="group">(.*?)</tr>', sections["ar"], re.S)
    groups = [group_of(row) for row in arabic]
    assert [count for count, _text, _examples in groups] == [3, 1, 1]  # largest first
    _count, text, examples = groups[0]
    assert {text, *examples} == set(CHESS)  # three spellings of one question: one group of 3
    rest = {text for _count, text, _examples in groups[1:]}
    assert rest == {OTHER_AR, CHESS_CALL.replace("0176 1234567", "[Nummer]")}  # more words: its own group
    assert "0176" not in page.text and "1234567" not in page.text and "[Nummer]" in page.text
    german = re.findall(r'<tr class="group">(.*?)</tr>', sections["de"], re.S)
    assert [group_of(row)[0] for row in german] == [2]
    assert OLD not in page.text  # older than 30 days

    longer = await editor.get("/console/editor/fallbacks", params={"days": "60", "language": "de"})
    assert OLD in longer.text and "الشطرنج" not in longer.text

    async with database.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log.c.action, audit_log.c.detail, audit_log.c.handover_id)
                .where(audit_log.c.username == staff.username)
                .order_by(audit_log.c.id)
            )
        ).all()
    assert [row.action for row in rows] == ["read", "read"]
    assert all(row.handover_id is None and "Unverstandene Fragen" in row.detail for row in rows)
    assert "30 Tage" in rows[0].detail and "60 Tage, de" in rows[1].detail
    for row in rows:
        assert "الشطرنج" not in row.detail and "Schach" not in row.detail  # the log holds no texts


def test_the_similarity_threshold_separates_variants_from_different_questions() -> None:
    def score(a: str, b: str) -> float:
        return jaccard(trigrams(normalise(a)), trigrams(normalise(b)))

    same = [
        ("Wo bekomme ich eine Steuer-ID?", "wo bekome ich eine steuer id"),
        ("كيف أسجل ابني في الروضة؟", "كيف يمكنني أن أسجل ابني في الروضة؟"),
        ("Wie beantrage ich Kindergeld?", "Kindergeld beantragen"),
        ("چطور گواهینامه بگیرم؟", "چطور گواهی نامه بگیرم"),
        ("ehliyet nasıl alırım", "Ehliyet nasil alirim?"),
    ]
    different = [
        ("Wie finde ich eine Wohnung?", "Wie finde ich einen Job?"),
        ("Wie beantrage ich Kindergeld?", "Wie beantrage ich Elterngeld?"),
        ("Wo ist die Kita?", "Wann ist die Kita offen?"),
    ]
    for a, b in same:
        assert score(a, b) >= THRESHOLD, (a, b, score(a, b))
    for a, b in different:
        assert score(a, b) < THRESHOLD, (a, b, score(a, b))


def test_grouping_is_deterministic_and_largest_first() -> None:
    @dataclasses.dataclass(frozen=True)
    class Asked:
        text: str
        language: str | None
        created_at: dt.datetime

    asked = [
        Asked("Wie finde ich eine Wohnung?", "de", NOW),
        Asked("Wie finde ich einen Job?", "de", NOW),
        Asked("wie finde ich eine wohnung", "de", NOW),
        Asked("Wie finde ich eine Wohnung", "de", NOW - dt.timedelta(hours=1)),
        Asked("?!", "de", NOW),  # nothing to group
    ]
    first = group_questions(asked)
    assert first == group_questions(list(reversed(asked)))
    (german,) = first
    assert german.language == "de" and german.count == 4
    assert [g.count for g in german.groups] == [3, 1]
    assert german.groups[0].representative in {"Wie finde ich eine Wohnung?", "Wie finde ich eine Wohnung"}
    assert len(german.groups[0].examples) == 2


def test_every_editor_label_has_an_english_entry() -> None:
    labels = {*editor_pages.STATE_NAMES.values(), *editor_pages.TOPIC_GROUPS.values(), "Menü"}
    labels |= {label for _payload, label in editor_pages.MENU_ENTRIES}
    assert sorted(label for label in labels if label not in ENGLISH) == []


async def test_nonsense_in_the_query_falls_back_to_defaults(console: ConsoleApp) -> None:
    editor, _staff = await console.signed_in("editor")
    entries = await editor.get(
        "/console/editor/entries", params={"language": "xx", "state": "evil", "domain": "../../etc"}
    )
    assert entries.status_code == 200 and "Einträge: " in entries.text  # every language, every open state
    script = "<script>alert(1)</script>"
    preview = await editor.get(
        "/console/editor/preview",
        params=[("language", "xx"), ("town", "atlantis"), *[("step", script)] * 20],
    )
    assert preview.status_code == 200 and script not in preview.text
    assert preview.text.count('class="bubble bot" dir="ltr" lang="de"') == MAX_STEPS  # German, cut at 8
    for days in ("abc", "9" * 5000, "-3", "0"):
        page = await editor.get("/console/editor/fallbacks", params={"days": days})
        assert page.status_code == 200, days
