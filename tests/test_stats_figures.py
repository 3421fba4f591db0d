"""The statistics equal what was put in: conversations with known outcomes through the real engine.

Every test has a database of its own (SQLite, and PostgreSQL where reachable), because the
figures count everything in it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Sequence

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.console.accounts import Accounts
from bot.engine.engine import Engine
from bot.engine.messages import Inbound
from bot.handover.desk import Desk
from bot.knowledge.content import Content
from bot.stats.errors import InvalidQuery
from bot.stats.figures import Report, StatsQuery, compute, hidden_kind, to_csv
from bot.stats.suppression import Line, protect
from bot.stats.topics import TOPIC_OF_INTENT, TOPICS, topic_of
from bot.storage.handovers import Handovers
from bot.translation.errors import TranslationUnavailable
from tests.conftest import ROOT, berlin

WEEK_A = "2026-W10"  # 2 to 8 March 2026
WEEK_B = "2026-W11"  # 9 to 15 March 2026
PERIOD = StatsQuery(dt.date(2026, 3, 2), dt.date(2026, 3, 16))


def at(*moment: int) -> dt.datetime:
    """A Berlin wall-clock moment in UTC, as the engine gets it in production (SQLite drops offsets)."""
    return berlin(*moment).astimezone(dt.timezone.utc)


class _NoTranslation:
    async def translate(self, text: str, source: str | None, target: str) -> object:
        raise TranslationUnavailable("not in this test")

    async def translate_many(self, texts: Sequence[str], source: str | None, target: str) -> list[None]:
        return [None for _ in texts]


async def _users_press(
    engine: Engine,
    count: int,
    payload: str,
    at: dt.datetime,
    channel: str = "telegram",
    town: str | None = None,
) -> None:
    for _ in range(count):
        user = f"s-{uuid.uuid4().hex[:10]}"
        await engine.handle(Inbound(channel, user, payload=payload), now=at, town=town, language="de")


async def _handovers(
    engine: Engine,
    own_database: AsyncEngine,
    content: Content,
    hours: Sequence[float],
    start: dt.datetime,
    feedback: str = "feedback:helped",
) -> None:
    """Users in Reutlingen ask for a person; a caseworker answers each after `hours`, then closes."""
    clock = [start]
    desk = Desk(Handovers(own_database), engine.editions, _NoTranslation(), clock=lambda: clock[0])
    team = content.team_for("reutlingen")
    assert team is not None
    worker = await Accounts(own_database).create(
        f"cw-{uuid.uuid4().hex[:6]}", "a long enough password", "caseworker", [team.id]
    )
    for delay in hours:
        user = f"h-{uuid.uuid4().hex[:10]}"
        await engine.handle(
            Inbound("telegram", user, payload="intent:human_handoff"),
            now=start,
            town="reutlingen",
            language="de",
        )
        await engine.handle(Inbound("telegram", user, payload="handover:yes"), now=start)
        case = next(c for c in await desk.store.queue(None) if c.chat_id == user)
        clock[0] = start + dt.timedelta(hours=delay)
        await desk.reply(worker, case.id, "Guten Tag!", "Guten Tag!", machine=False)
        clock[0] += dt.timedelta(hours=1)
        await desk.close(worker, case.id)
        later = clock[0] + dt.timedelta(minutes=5)  # after the close: back with the bot
        await engine.handle(Inbound("telegram", user, payload=feedback), now=later)


async def _known_traffic(engine: Engine, own_database: AsyncEngine, content: Content) -> None:
    """Week A: 12 Kita questions, 4 greetings. Week B: 7 sports, 3 asylum, 5 handovers.

    Each handover is 2 messages (asking for a person, agreeing) and one rating after the close.
    """
    await _users_press(engine, 12, "intent:kita_place", at(2026, 3, 3, 10, 0))
    await _users_press(engine, 4, "intent:greet", at(2026, 3, 5, 19, 30))
    await _users_press(engine, 7, "intent:sports_offers", at(2026, 3, 10, 9, 0), town="metzingen")
    await _users_press(engine, 3, "intent:asylum_procedure", at(2026, 3, 12, 11, 0), channel="whatsapp")
    await _handovers(engine, own_database, content, [1, 2, 3, 4, 5], at(2026, 3, 11, 9, 0))


def _cell(report: Report, key: str, row: str, column: str) -> object:
    table = report.table(key)
    return table.row(row)[table.columns.index(column)]


async def test_figures_equal_the_conversations_put_in(
    own_engine: Engine, own_database: AsyncEngine, content: Content
) -> None:
    await _known_traffic(own_engine, own_database, content)
    report = await compute(own_database, content, PERIOD)

    weeks = report.table("topics_per_week")
    assert [row[0] for row in weeks.rows] == [WEEK_A, WEEK_B]
    assert _cell(report, "topics_per_week", WEEK_A, "Kita") == 12
    assert _cell(report, "topics_per_week", WEEK_A, "Gespräch") is None  # 4 greetings: suppressed
    assert _cell(report, "topics_per_week", WEEK_B, "Sport") == 7
    assert _cell(report, "topics_per_week", WEEK_B, "Asyl und Aufenthalt") is None  # 3: suppressed
    assert _cell(report, "topics_per_week", WEEK_B, "Person gewünscht") == 10
    assert _cell(report, "topics_per_week", WEEK_B, "Kita") == 0
    assert _cell(report, "topics_per_week", WEEK_B, "Sonstiges") == 5  # the ratings
    assert not weeks.secondary  # two small cells protect each other

    assert _cell(report, "outcomes", "Aus Inhalten beantwortet", "Anzahl") == 22
    assert _cell(report, "outcomes", "An eine Person übergeben", "Anzahl") == 10
    assert _cell(report, "outcomes", "Nicht verstanden", "Anzahl") == 0
    assert _cell(report, "outcomes", "Sonstiges", "Anzahl") == 9  # greetings and ratings
    assert _cell(report, "outcomes", "Gesamt", "Anzahl") == 41
    assert _cell(report, "outcomes", "Aus Inhalten beantwortet", "Anteil (%)") == pytest.approx(53.7)

    assert _cell(report, "handovers_by_reason", "Wunsch nach einer Person", "Anzahl") == 5
    assert _cell(report, "handovers_by_priority", "Normal", "Anzahl") == 5
    assert _cell(report, "first_response", "Normal", "Beantwortet") == 5
    assert _cell(report, "first_response", "Normal", "Median (Std.)") == 3.0
    assert _cell(report, "first_response", "Normal", "90 % binnen (Std.)") == 5.0
    assert _cell(report, "first_response", "Normal", "In der Frist (%)") == 100.0
    assert _cell(report, "closed_chats", WEEK_B, "Abgeschlossen") == 5
    assert _cell(report, "ratings", "Wunsch nach einer Person", "Hilfreich") == 5
    assert _cell(report, "ratings", "Gesamt", "Anteil hilfreich (%)") == 100.0


async def test_filters_apply_to_every_table(own_engine: Engine, own_database: AsyncEngine, content: Content) -> None:
    await _known_traffic(own_engine, own_database, content)
    on_whatsapp = await compute(
        own_database, content, StatsQuery(PERIOD.start, PERIOD.end, channel="whatsapp"), threshold=1
    )
    assert _cell(on_whatsapp, "topics_per_week", WEEK_B, "Asyl und Aufenthalt") == 3
    assert _cell(on_whatsapp, "outcomes", "Gesamt", "Anzahl") == 3
    assert _cell(on_whatsapp, "handovers_by_reason", "Gesamt", "Anzahl") == 0

    metzingen = content.team_for("metzingen")
    assert metzingen is not None
    in_team = await compute(own_database, content, StatsQuery(PERIOD.start, PERIOD.end, team=metzingen.id))
    assert _cell(in_team, "topics_per_week", WEEK_B, "Sport") == 7
    assert _cell(in_team, "topics_per_week", WEEK_A, "Kita") == 0  # those users gave no town
    assert _cell(in_team, "closed_chats", "Gesamt", "Abgeschlossen") == 0  # Reutlingen's team closed them
    with pytest.raises(InvalidQuery, match="Team"):
        await compute(own_database, content, StatsQuery(PERIOD.start, PERIOD.end, team="no-such-team"))


async def test_one_small_cell_is_not_left_to_subtraction(
    own_engine: Engine, own_database: AsyncEngine, content: Content
) -> None:
    """With the total published, a single hidden cell could be computed: a second one is hidden too."""
    await _users_press(own_engine, 12, "intent:kita_place", at(2026, 3, 3, 10, 0))
    await _users_press(own_engine, 7, "intent:sports_offers", at(2026, 3, 10, 9, 0), town="metzingen")
    await _users_press(own_engine, 3, "intent:asylum_procedure", at(2026, 3, 12, 11, 0))
    report = await compute(own_database, content, PERIOD)
    weeks = report.table("topics_per_week")
    assert _cell(report, "outcomes", "Gesamt", "Anzahl") == 22
    assert _cell(report, "topics_per_week", WEEK_B, "Asyl und Aufenthalt") is None
    assert _cell(report, "topics_per_week", WEEK_B, "Sport") is None  # 22 - 12 would give the 3 away
    assert _cell(report, "topics_per_week", WEEK_A, "Kita") == 12
    assert weeks.secondary == {(1, weeks.columns.index("Sport"))}
    shown = [v for row in weeks.rows for v in row[1:] if isinstance(v, int)]
    assert sum(shown) != 22  # what is shown never adds up to reveal the hidden ones


def test_suppression_protects_every_published_total() -> None:
    values = {"a": 3, "b": 9, "c": 40, "t": 52, "x": 0, "u": 9}
    result = protect(values, [Line(("a", "b", "c"), "t"), Line(("b", "x"), "u")], threshold=5)
    assert result.primary == {"a"}
    # hiding b (smallest) would leave the line b + x = u with one hidden entry: c goes instead
    assert result.secondary == {"c"}


async def test_csv_carries_the_numbers_and_marks_suppressed_cells(
    own_engine: Engine, own_database: AsyncEngine, content: Content
) -> None:
    await _known_traffic(own_engine, own_database, content)
    report = await compute(own_database, content, PERIOD)
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert list(rows[0]) == ["table", "title", "row", "column", "value", "unit"]
    value = {(r["table"], r["row"], r["column"]): r["value"] for r in rows}
    assert value[("topics_per_week", WEEK_A, "Kita")] == "12"
    assert value[("topics_per_week", WEEK_B, "Asyl und Aufenthalt")] == "<5"
    assert value[("outcomes", "Gesamt", "Anzahl")] == "41"
    marks = {"small": "<5", "secondary": "x", "derived": "-"}
    for table in report.tables:  # every number of every table, and nothing else
        for r, row in enumerate(table.rows):
            for c, (column, cell) in enumerate(zip(table.columns[1:], row[1:], strict=True), start=1):
                written = value[(table.key, str(row[0]), column)]
                assert written == (marks[hidden_kind(table, r, c)] if cell is None else str(cell))
    assert len(rows) == sum(len(t.rows) * (len(t.columns) - 1) for t in report.tables)


def test_every_intent_of_the_nlu_data_has_a_topic() -> None:
    intents = {
        block["intent"]
        for path in sorted((ROOT / "nlu").glob("*.yml"))
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", [])
        if "intent" in block
    }
    assert intents, "no intents found in nlu/"
    assert sorted(intents - set(TOPIC_OF_INTENT)) == []
    assert all(topic_of(intent) in TOPICS for intent in intents)
    assert topic_of("nlu_fallback") == "Nicht verstanden"
    assert topic_of(None) == topic_of("feedback") == "Sonstiges"


def test_month_and_last_weeks_periods() -> None:
    december = StatsQuery.month(2026, 12, team="x")
    assert (december.start, december.end, december.team) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1), "x")
    weeks = StatsQuery.last_weeks(dt.date(2026, 11, 19))  # a Thursday
    assert (weeks.start, weeks.end) == (dt.date(2026, 10, 19), dt.date(2026, 11, 16))


async def test_a_chat_that_did_not_help_is_counted(own_engine: Engine, own_database: AsyncEngine, content: Content) -> None:
    """ "Nein" after a closed chat is stored and counted (the answer is "not_helped", 10 characters)."""
    await _handovers(
        own_engine, own_database, content, [1, 2, 3, 4, 5], at(2026, 3, 11, 9, 0), feedback="feedback:not_helped"
    )
    report = await compute(own_database, content, PERIOD)
    assert _cell(report, "ratings", "Wunsch nach einer Person", "Nicht hilfreich") == 5
    assert _cell(report, "ratings", "Gesamt", "Anteil hilfreich (%)") == 0.0
