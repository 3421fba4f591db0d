"""The statistics of issue 9: what refugees ask, what works, what is missing, without any person.

`compute` reads aggregates for a period and filters and returns `Table`s whose cells are numbers
or None (suppressed: fewer than `threshold`, or hidden so that such a count cannot be recovered
by subtraction, see `bot.stats.suppression`). Renderers (console, charts, PDF, `lotse stats`)
format these tables and never see a message, a user or an id.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.i18n.languages import LANGUAGES
from bot.knowledge.content import Content
from bot.stats.errors import InvalidQuery
from bot.stats.facts import Window, case_facts, message_facts, window_towns

SUPPRESSION_THRESHOLD = 5
CHANNELS: tuple[str, ...] = ("telegram", "whatsapp", "web")
MAX_DAYS = 732  # two years of weekly rows is as much as a table or chart can show

Cell = int | float | str | None  # None = suppressed


@dataclass(frozen=True)
class StatsQuery:
    start: dt.date  # first day, inclusive (the district's calendar days, Europe/Berlin)
    end: dt.date  # last day, exclusive
    team: str | None = None  # team id (content/teams.yml), None = all
    town: str | None = None  # town id, None = all
    language: str | None = None
    channel: str | None = None  # telegram | whatsapp | web

    @classmethod
    def month(cls, year: int, month: int, **filters: Any) -> StatsQuery:
        start = dt.date(year, month, 1)
        end = dt.date(year + month // 12, month % 12 + 1, 1)
        return cls(start, end, **filters)

    @classmethod
    def last_weeks(cls, today: dt.date, weeks: int = 4, **filters: Any) -> StatsQuery:
        """The last `weeks` full calendar weeks (Monday to Sunday) before the current one."""
        end = today - dt.timedelta(days=today.weekday())
        return cls(end - dt.timedelta(weeks=weeks), end, **filters)

    def check(self, content: Content) -> None:
        """Raise InvalidQuery, in German, for a period or filter that cannot be answered."""
        if self.end <= self.start:
            raise InvalidQuery("Der Zeitraum ist leer: Das Ende muss nach dem Anfang liegen.")
        if (self.end - self.start).days > MAX_DAYS:
            raise InvalidQuery("Der Zeitraum ist zu lang: höchstens zwei Jahre.")
        if self.team is not None and self.team not in content.teams:
            raise InvalidQuery(f"Das Team „{self.team}“ gibt es nicht.")
        if self.town is not None and self.town not in content.towns:
            raise InvalidQuery(f"Den Ort „{self.town}“ gibt es nicht.")
        if self.language is not None and self.language not in LANGUAGES:
            raise InvalidQuery(f"Die Sprache „{self.language}“ gibt es nicht.")
        if self.channel is not None and self.channel not in CHANNELS:
            raise InvalidQuery(f"Den Kanal „{self.channel}“ gibt es nicht.")


@dataclass(frozen=True)
class Table:
    key: str  # topics_per_week, outcomes, handovers_by_reason, handovers_by_priority, first_response, closed_chats, ratings
    title: str  # German, for the console and the PDF
    columns: tuple[str, ...]  # the first column is the row label
    rows: tuple[tuple[Cell, ...], ...]
    unit: str = ""  # e.g. "Anzahl", "%", "Stunden"
    note: str = ""  # German, one line: how it is counted
    # (row, column) of suppressed cells that are not small themselves but would give a small one
    # away by subtraction; renderers may mark them differently from "< 5".
    secondary: frozenset[tuple[int, int]] = field(default_factory=frozenset)

    def column(self, name: str) -> tuple[Cell, ...]:
        index = self.columns.index(name)
        return tuple(row[index] for row in self.rows)

    def row(self, label: str) -> tuple[Cell, ...]:
        for row in self.rows:
            if row[0] == label:
                return row
        raise KeyError(label)


@dataclass(frozen=True)
class Report:
    query: StatsQuery
    tables: tuple[Table, ...]
    threshold: int

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)


async def compute(
    database: AsyncEngine, content: Content, query: StatsQuery, threshold: int = SUPPRESSION_THRESHOLD
) -> Report:
    from bot.stats.sheets import Sheets

    query.check(content)
    if threshold < 1:
        raise InvalidQuery("Die Mindestgröße einer Zelle muss mindestens 1 sein.")
    zone = ZoneInfo(content.region.timezone)
    window = Window(
        start=_midnight(query.start, zone),
        end=_midnight(query.end, zone),
        towns=window_towns(content, query.team, query.town),
        team=query.team,
        town=query.town,
        language=query.language,
        channel=query.channel,
    )
    async with database.connect() as conn:
        said = await message_facts(conn, window, zone)
        cases = await case_facts(conn, window)
    sheets = Sheets(query, zone, threshold, dt.datetime.now(dt.timezone.utc))
    return Report(query, sheets.build(said, cases), threshold)


def _midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.timezone.utc)


def is_count(table: Table, column: int) -> bool:
    """A column of counts (its small cells are suppressed), not a share or a time in hours."""
    name = table.columns[column]
    return not ("%" in name or "Std" in name or table.unit in ("%", "Stunden"))


def hidden_kind(table: Table, row: int, column: int) -> str:
    """Why a cell is hidden: "secondary" (a count hidden so that a small one cannot be worked out by
    subtraction), "small" (a count under the threshold) or "derived" (a share or time from too few cases).
    """
    if (row, column) in table.secondary:
        return "secondary"
    return "small" if is_count(table, column) else "derived"


def to_csv(report: Report) -> str:
    """One CSV for all tables, one value per line ("long" form: easy to filter and pivot).

    Columns: table, title, row, column, value, unit. A suppressed count is "<5" (the threshold), a
    count hidden only to protect another one "x", a share or time from too few cases "-" (a hidden
    median written "<5" would read as "under five hours").
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("table", "title", "row", "column", "value", "unit"))
    small = f"<{report.threshold}"
    for table in report.tables:
        for r, row in enumerate(table.rows):
            for c, value in enumerate(row[1:], start=1):
                shown: Cell = value
                if value is None:
                    shown = {"secondary": "x", "small": small}.get(hidden_kind(table, r, c), "-")
                writer.writerow((table.key, table.title, row[0], table.columns[c], shown, table.unit))
    return out.getvalue()
