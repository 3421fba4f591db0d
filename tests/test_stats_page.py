"""The statistics page, its charts and its CSV and PDF exports, over HTTP as leads and others use them.

Most tests give the page a report built by hand (so each shows one thing: a hidden cell, an escaped
label, a table with nothing in it); the last ones count real conversations through the engine, with
an understanding that knows what each text means, so no NLU model is needed. On SQLite and
PostgreSQL, in March 2036, far from the dates other tests write with.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import io
import re
import uuid
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.console import stats_pages
from bot.engine.engine import Engine
from bot.engine.messages import Inbound
from bot.engine.understanding import Parse
from bot.handover.desk import Desk
from bot.i18n.catalogs import Catalogs
from bot.i18n.langid import LanguageIdentifier
from bot.knowledge.content import Content
from bot.live.editions import Editions
from bot.stats.charts import chart
from bot.stats.figures import Report, StatsQuery, Table
from bot.stats.pdf import monthly_pdf
from bot.storage.handovers import Handovers
from bot.storage.repository import SqlConversationStore
from bot.translation.service import MachineTranslation
from tests.console_app import ConsoleApp

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2036, 4, 2, 10, 0, tzinfo=BERLIN)
ASKED = dt.datetime(2036, 3, 12, 10, 0, tzinfo=BERLIN)  # a Wednesday of ISO week 2036-W11
WEEK = "2036-W11"
PAGES = ("/console/stats", "/console/stats.csv", "/console/stats.pdf?month=2036-03")
MEANING = {  # text -> intent, as a trained model would understand them
    "Wie bekomme ich einen Kita-Platz?": "kita_place",
    "Wo gibt es einen Deutschkurs?": "german_course",
    "Gibt es Fußball für Kinder?": "sports_offers",
}


def hand_made() -> Report:
    """A report as `compute` gives one, with small cells hidden: each marker kind once."""
    topics = Table(
        "topics_per_week",
        "Fragen nach Thema und Woche",
        ("Woche", "Kita", "Sport", "Deutschkurse"),
        (("2036-W10", 12, None, 0), ("2036-W11", 31, 7, None)),
        "Anzahl",
        "Eingehende Nachrichten je Kalenderwoche.",
    )
    outcomes = Table(
        "outcomes",
        "Was aus den Fragen wurde",
        ("Ergebnis", "Anzahl", "Anteil (%)"),
        (("Aus Inhalten beantwortet", 41, 78.8), ("Nicht verstanden", None, None), ("Sonstiges", None, None),
         ("Gesamt", 52, 100.0)),
        "",
        "Je eingehende Nachricht.",
        frozenset({(2, 1)}),
    )  # fmt: skip
    response = Table(
        "first_response",
        "Zeit bis zur ersten Antwort",
        ("Dringlichkeit", "Angefragt", "Median (Std.)"),
        (("Normal", 6, None),),
    )
    return Report(StatsQuery(dt.date(2036, 3, 1), dt.date(2036, 4, 1)), (topics, outcomes, response), 5)


def cells_of(html: str, key: str) -> dict[str, list[str]]:
    """One table of the page: row label -> the texts of its cells."""
    section = html.split(f'data-table="{key}"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', section, re.S)
    return {
        label: re.findall(r"<td[^>]*>(?:<abbr[^>]*>)?(.*?)(?:</abbr>)?</td>", rest, re.S) for label, rest in rows
    }


def pdf_title(body: bytes) -> str:
    """The PDF's document title (its Info dictionary), as a PDF viewer shows it."""
    match = re.search(rb"/Title\s*(\((?:[^()\\]|\\.)*\)|<[0-9A-Fa-f]+>)", body)
    assert match, "the PDF has no title"
    raw = match.group(1)
    if raw.startswith(b"<"):
        data = bytes.fromhex(raw[1:-1].decode("ascii"))
        return data[2:].decode("utf-16-be") if data.startswith(codecs.BOM_UTF16_BE) else data.decode("latin-1")
    text = raw[1:-1]
    if text.startswith(codecs.BOM_UTF16_BE):
        return text[2:].decode("utf-16-be")
    return text.decode("latin-1")


@pytest.fixture
def desk(database: AsyncEngine, content: Content, catalogs: Catalogs, settings: Settings) -> Desk:
    translation = MachineTranslation.from_settings(dataclasses.replace(settings, translation_provider="none"))
    return Desk(Handovers(database), Editions(content, catalogs), translation, clock=lambda: NOW)


@pytest.fixture
async def console(database: AsyncEngine, desk: Desk, settings: Settings) -> AsyncIterator[ConsoleApp]:
    console = ConsoleApp(database, desk, settings.locales_dir)
    yield console
    await console.close()


@pytest.fixture
def hand_made_report(monkeypatch: pytest.MonkeyPatch) -> list[StatsQuery]:
    """The page gets `hand_made()` instead of counting; the list collects the queries it asked for."""
    asked: list[StatsQuery] = []

    async def compute(_database: AsyncEngine, _content: Content, query: StatsQuery, threshold: int = 5) -> Report:
        asked.append(query)
        return dataclasses.replace(hand_made(), query=query)

    monkeypatch.setattr(stats_pages, "compute", compute)
    return asked


# 1. who may see it


@pytest.mark.parametrize("role", ["lead", "admin"])
async def test_leads_and_admins_see_every_table_as_chart_and_numbers(
    console: ConsoleApp, role: str, hand_made_report: list[StatsQuery]
) -> None:
    browser, _staff = await console.signed_in(role)
    page = await browser.get("/console/stats", params={"month": "2036-03"})
    assert page.status_code == 200, page.text
    assert '<a href="/console/stats" aria-current="page">Statistik</a>' in page.text  # in the navigation
    assert hand_made_report == [StatsQuery(dt.date(2036, 3, 1), dt.date(2036, 4, 1))]
    assert page.text.count("<svg") == 3 and page.text.count('role="img"') == 3
    for title in ("Fragen nach Thema und Woche", "Was aus den Fragen wurde", "Zeit bis zur ersten Antwort"):
        assert f'-title">{title}</title>' in page.text  # each chart is named for screen readers
    assert cells_of(page.text, "topics_per_week")["2036-W10"] == ["12", "&lt; 5", "0"]
    assert cells_of(page.text, "outcomes")["Aus Inhalten beantwortet"] == ["41", "78,8"]
    assert '<th scope="col">Woche</th>' in page.text
    assert "Eingehende Nachrichten je Kalenderwoche." in page.text  # the table's note
    # no script may run in the console, not even inside a chart
    assert "<script" not in page.text.split("</head>", 1)[1]


async def test_others_are_refused_and_strangers_sent_to_the_login(
    console: ConsoleApp, hand_made_report: list[StatsQuery]
) -> None:
    for role in ("caseworker", "editor"):
        browser, _staff = await console.signed_in(role)
        start = await browser.get("/console/", follow_redirects=True)
        assert 'href="/console/stats"' not in start.text, role  # no link to a page they may not open
        for path in PAGES:
            refused = await browser.get(path)
            assert refused.status_code == 403, (role, path)
            assert "Für diese Seite fehlt Ihnen die Berechtigung." in refused.text
    stranger = console.client()
    for path in PAGES:
        response = await stranger.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/console/login", path
    assert hand_made_report == []  # nothing was counted for any of them


async def test_the_unanswered_questions_are_linked_only_for_who_may_open_them(
    console: ConsoleApp, hand_made_report: list[StatsQuery]
) -> None:
    admin, _staff = await console.signed_in("admin")
    lead, _staff = await console.signed_in("lead")
    assert 'href="/console/editor/fallbacks"' in (await admin.get("/console/stats")).text
    assert 'href="/console/editor/fallbacks"' not in (await lead.get("/console/stats")).text


# 2. no person in the numbers


async def test_hidden_cells_say_why_and_never_look_like_numbers(
    console: ConsoleApp, hand_made_report: list[StatsQuery]
) -> None:
    lead, _staff = await console.signed_in("lead")
    page = (await lead.get("/console/stats")).text
    outcomes = cells_of(page, "outcomes")
    assert outcomes["Nicht verstanden"] == ["&lt; 5", "–"]  # a small count; a share of too few
    assert outcomes["Sonstiges"] == ["x", "–"]  # hidden so that the small one cannot be subtracted
    assert cells_of(page, "first_response")["Normal"] == ["6", "–"]  # a median of 6 hours is not "< 5"
    assert 'data-hidden="small"' in page and 'data-hidden="secondary"' in page and 'data-hidden="derived"' in page
    assert "zum Schutz der Personen nicht gezeigt (nicht null)" in page  # the explanation beside the tables


def test_a_chart_escapes_every_label() -> None:
    hostile = '<script>alert("x")</script>'
    for key in ("topics_per_week", "outcomes"):
        table = Table(key, f"Titel {hostile}", ("Woche", hostile), ((hostile, 3), ("2036-W11", None)))
        svg = chart(table, 5)
        assert "<script" not in svg and "&lt;script&gt;" in svg, key
        assert svg.startswith("<svg") and 'role="img"' in svg and "<desc" in svg


def test_a_table_with_every_cell_hidden_is_drawn_as_hidden_not_as_zero() -> None:
    weekly = Table("topics_per_week", "Themen", ("Woche", "Kita", "Sport"), (("2036-W10", None, None),))
    closed = Table("closed_chats", "Abgeschlossen", ("Woche", "Abgeschlossen"), (("2036-W10", None),))
    for table in (weekly, closed):
        svg = chart(table, 5)
        assert svg.count("&lt; 5</text>") == len(table.columns) - 1, table.key
    report = Report(StatsQuery(dt.date(2036, 3, 1), dt.date(2036, 4, 1)), (weekly, closed), 5)
    assert monthly_pdf(report, "Landkreis Reutlingen").startswith(b"%PDF")


# 3. exports


async def test_the_csv_has_every_number_of_the_page(console: ConsoleApp, hand_made_report: list[StatsQuery]) -> None:
    lead, _staff = await console.signed_in("lead")
    response = await lead.get("/console/stats.csv", params={"from": "2036-03-02", "to": "2036-03-15", "language": "ar"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="lotse-statistik-2036-03-02_2036-03-15.csv"'
    assert hand_made_report == [StatsQuery(dt.date(2036, 3, 2), dt.date(2036, 3, 16), language="ar")]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    found = {(r["table"], r["row"], r["column"]): r["value"] for r in rows}
    assert found[("topics_per_week", "2036-W11", "Kita")] == "31"
    assert found[("topics_per_week", "2036-W10", "Sport")] == "<5"
    assert found[("outcomes", "Aus Inhalten beantwortet", "Anzahl")] == "41"


async def test_the_pdf_report_is_a_pdf_of_the_month(console: ConsoleApp, hand_made_report: list[StatsQuery]) -> None:
    lead, _staff = await console.signed_in("lead")
    response = await lead.get("/console/stats.pdf", params={"month": "2036-03", "team": "im-stadt-metzingen"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert pdf_title(response.content) == "Lotse Statistik Landkreis Reutlingen, März 2036"
    assert hand_made_report == [StatsQuery(dt.date(2036, 3, 1), dt.date(2036, 4, 1), team="im-stadt-metzingen")]
    pages = re.findall(rb"/Type\s*/Page\b", response.content)
    assert len(pages) == 4  # the title page and one page per table


# 4. what a lead may type


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"month": "2036-13"}, "Bitte geben Sie den Monat in der Form JJJJ-MM an"),
        ({"month": "März"}, "Bitte geben Sie den Monat in der Form JJJJ-MM an"),
        ({"from": "32.03.2036"}, "Das Anfangsdatum ist kein gültiges Datum"),
        ({"to": "2036-02-30"}, "Das Enddatum ist kein gültiges Datum"),
        ({"from": "2036-03-10", "to": "2036-03-01"}, "Das Enddatum liegt vor dem Anfangsdatum."),
        ({"from": "2030-01-01", "to": "2036-03-01"}, "Der Zeitraum darf höchstens 366 Tage lang sein."),
        ({"team": "<b>nope</b>"}, "Dieses Team gibt es nicht."),
        ({"town": "atlantis"}, "Diesen Ort gibt es nicht."),
        ({"language": "xx"}, "Diese Sprache gibt es nicht."),
        ({"channel": "fax"}, "Diesen Kanal gibt es nicht."),
    ],
)
async def test_a_wrong_filter_gets_the_page_with_a_german_sentence(
    console: ConsoleApp, hand_made_report: list[StatsQuery], params: dict[str, str], message: str
) -> None:
    lead, _staff = await console.signed_in("lead")
    paths = ["/console/stats", "/console/stats.csv"]
    if "from" not in params and "to" not in params:  # the PDF is for a month: "from" and "to" do not count
        paths.append("/console/stats.pdf")
    for path in paths:
        response = await lead.get(path, params={"month": "2036-03", **params} if path.endswith(".pdf") else params)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert message in response.text, path
        assert "<b>nope</b>" not in response.text  # what was typed comes back escaped
    assert hand_made_report == []


async def test_the_pdf_needs_a_month(console: ConsoleApp, hand_made_report: list[StatsQuery]) -> None:
    lead, _staff = await console.signed_in("lead")
    response = await lead.get("/console/stats.pdf", params={"from": "2036-03-01", "to": "2036-03-31"})
    assert response.status_code == 400
    assert "Für den PDF-Bericht wählen Sie bitte einen Monat." in response.text


# 5. real conversations, really counted


class Knowing:
    """An understanding that knows what each test text means."""

    async def parse(self, text: str) -> Parse:
        return Parse(MEANING[text], 0.99)


async def ask(engine: Engine, text: str, times: int) -> None:
    for _ in range(times):
        inbound = Inbound("telegram", f"u-{uuid.uuid4().hex[:10]}", text=text)
        await engine.handle(inbound, now=ASKED, language="de")


@pytest.fixture
async def counted(desk: Desk, database: AsyncEngine, langid: LanguageIdentifier) -> None:
    """In week 11 of 2036: 8 Kita questions, 6 about German courses, 2 about sports."""
    engine = Engine(desk.editions, Knowing(), SqlConversationStore(database), langid)
    await ask(engine, "Wie bekomme ich einen Kita-Platz?", 8)
    await ask(engine, "Wo gibt es einen Deutschkurs?", 6)
    await ask(engine, "Gibt es Fußball für Kinder?", 2)


async def test_the_page_and_the_exports_count_real_conversations(console: ConsoleApp, counted: None) -> None:
    lead, _staff = await console.signed_in("lead")
    page = await lead.get("/console/stats", params={"month": "2036-03", "channel": "telegram"})
    assert page.status_code == 200, page.text
    topics = page.text.split('data-table="topics_per_week"', 1)[1].split("</section>", 1)[0]
    header = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', topics)
    week = dict(zip(header[1:], cells_of(page.text, "topics_per_week")[WEEK], strict=True))
    assert week["Kita"] == "8"
    assert week["Sport"] == "&lt; 5"  # 2 people: never shown
    assert week["Deutschkurse"] == "x"  # 6, hidden so that the 2 cannot be worked out from the total
    assert page.text.count("<svg") == 7

    exported = await lead.get("/console/stats.csv", params={"month": "2036-03", "channel": "telegram"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    sport = [r["value"] for r in rows if r["table"] == "topics_per_week" and r["row"] == WEEK and r["column"] == "Sport"]
    assert sport == ["<5"]
    assert exported.headers["content-disposition"].endswith('"lotse-statistik-2036-03-01_2036-03-31.csv"')

    report = await lead.get("/console/stats.pdf", params={"month": "2036-03"})
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    assert "März 2036" in pdf_title(report.content)


async def test_a_filter_that_matches_nobody_shows_zeros_not_hidden_cells(console: ConsoleApp, counted: None) -> None:
    lead, _staff = await console.signed_in("lead")
    page = await lead.get("/console/stats", params={"month": "2036-03", "channel": "whatsapp"})
    assert page.status_code == 200
    assert set(cells_of(page.text, "topics_per_week")[WEEK]) == {"0"}
