"""The statistics page for team leads and administrators, and its CSV and PDF exports.

Only aggregates reach this page: `bot.stats.figures` counts, suppresses every cell below the
threshold and hands over tables of numbers, never a text or an id. So the page, unlike the chats,
needs no audit entry, and it shows no message text at all; the grouped questions Lotse did not
understand stay on the editors' page, linked from here for those allowed to open it. Every filter
arrives in the query string (a GET form, so a view can be bookmarked and shared); a value the
console does not know is answered with the page and a German sentence saying what to fix, never
with a server error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bot.console.accounts import Session
from bot.console.present import BERLIN, CHANNEL_NAMES, LANGUAGE_NAMES
from bot.handover.desk import Desk
from bot.i18n.languages import LANGUAGES
from bot.knowledge.content import Content
from bot.stats.charts import HIDDEN_NOTE, chart, shown
from bot.stats.errors import InvalidQuery
from bot.stats.figures import SUPPRESSION_THRESHOLD, Report, StatsQuery, compute, hidden_kind, to_csv
from bot.stats.pdf import MONTHS, monthly_pdf

Handler = Callable[[Request, Session], Awaitable[Response]]
Guard = Callable[..., Callable[[Handler], Callable[[Request], Awaitable[Response]]]]
PREFIX = "/console/stats"
STATS_ROLES = ("lead", "admin")
FALLBACKS_ROLES = ("editor", "admin")  # who may open the editors' page of questions not understood
MAX_DAYS = 366
DEFAULT_WEEKS = 4
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FILTER_NAMES = ("team", "town", "language", "channel")
REFUSALS = {
    "month": "Bitte geben Sie den Monat in der Form JJJJ-MM an, zum Beispiel 2026-11.",
    "from": "Das Anfangsdatum ist kein gültiges Datum (JJJJ-MM-TT).",
    "to": "Das Enddatum ist kein gültiges Datum (JJJJ-MM-TT).",
    "order": "Das Enddatum liegt vor dem Anfangsdatum.",
    "span": "Der Zeitraum darf höchstens 366 Tage lang sein.",
    "team": "Dieses Team gibt es nicht.",
    "town": "Diesen Ort gibt es nicht.",
    "language": "Diese Sprache gibt es nicht.",
    "channel": "Diesen Kanal gibt es nicht.",
    "pdf": "Für den PDF-Bericht wählen Sie bitte einen Monat.",
}
HIDDEN_TITLES = {  # why a cell is not shown, as the page explains it on hovering; "{n}" is the threshold
    "small": "weniger als {n}, unterdrückt",
    "secondary": "verborgen, damit sich eine kleine Zahl nicht ausrechnen lässt",
    "derived": "aus weniger als {n} Fällen, nicht gezeigt",
}


@dataclass(frozen=True)
class Selection:
    """What the form asked for: the query if it makes sense, else the sentences saying what to fix."""

    query: StatsQuery | None
    values: Mapping[str, str]  # as typed, to fill the form in again
    errors: tuple[str, ...] = ()
    month: tuple[int, int] | None = None


@dataclass(frozen=True)
class ShownTable:
    key: str
    title: str
    unit: str
    note: str
    columns: tuple[str, ...]
    rows: tuple[tuple[tuple[str, str], ...], ...]  # (text, kind): kind "" for a number, else why hidden
    svg: Markup
    suppressed: bool = field(default=False)


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last four full weeks, Monday to Sunday, before this one (`end` exclusive)."""
    monday = today - dt.timedelta(days=today.weekday())
    return monday - dt.timedelta(weeks=DEFAULT_WEEKS), monday


def _month(raw: str) -> tuple[int, int] | None:
    match = _MONTH.match(raw)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return (year, month) if 2000 <= year <= 2100 and 1 <= month <= 12 else None


def _date(raw: str) -> dt.date | None:
    if not _DATE.match(raw):
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    start = dt.date(year, month, 1)
    return start, (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def read_selection(params: Mapping[str, str], content: Content, today: dt.date) -> Selection:
    """The filters from the query string, checked against the content and the known languages."""
    values = {name: params.get(name, "").strip()[:40] for name in ("month", "from", "to", *FILTER_NAMES)}
    errors: list[str] = []
    month = None
    start, end = default_period(today)
    if values["month"]:
        month = _month(values["month"])
        if month is None:
            errors.append(REFUSALS["month"])
        else:
            start, end = month_bounds(*month)
    else:
        if values["from"]:
            chosen = _date(values["from"])
            if chosen is None:
                errors.append(REFUSALS["from"])
            else:
                start = chosen
        if values["to"]:
            last = _date(values["to"])
            if last is None:
                errors.append(REFUSALS["to"])
            else:
                end = last + dt.timedelta(days=1)
        if not errors and end <= start:
            errors.append(REFUSALS["order"])
        elif not errors and (end - start).days > MAX_DAYS:
            errors.append(REFUSALS["span"])
    known: dict[str, Mapping[str, object]] = {
        "team": content.teams,
        "town": content.towns,
        "language": LANGUAGES,
        "channel": CHANNEL_NAMES,
    }
    for name in FILTER_NAMES:
        if values[name] and values[name] not in known[name]:
            errors.append(REFUSALS[name])
    if errors:
        return Selection(None, values, tuple(errors), month)
    filters = {name: values[name] or None for name in FILTER_NAMES}
    if not values["month"]:
        values["from"], values["to"] = start.isoformat(), (end - dt.timedelta(days=1)).isoformat()
    return Selection(StatsQuery(start, end, **filters), values, (), month)


def filter_labels(query: StatsQuery, content: Content) -> list[tuple[str, str]]:
    """The filters as a reader of the report names them: 'Team: IM Metzingen', 'Sprache: alle'."""
    team = content.teams.get(query.team) if query.team else None
    town = content.towns.get(query.town) if query.town else None
    return [
        ("Team", team.name if team else "alle"),
        ("Ort", town.name if town else "alle"),
        ("Sprache", LANGUAGE_NAMES.get(query.language, query.language) if query.language else "alle"),
        ("Kanal", CHANNEL_NAMES.get(query.channel, query.channel) if query.channel else "alle"),
    ]


def shown_tables(report: Report) -> list[ShownTable]:
    result = []
    for table in report.tables:
        rows = tuple(
            tuple(
                (shown(table, r, c, report.threshold), hidden_kind(table, r, c) if cell is None else "")
                for c, cell in enumerate(row)
            )
            for r, row in enumerate(table.rows)
        )
        result.append(
            ShownTable(
                key=table.key,
                title=table.title,
                unit=table.unit,
                note=table.note,
                columns=table.columns,
                rows=rows,
                svg=Markup(chart(table, report.threshold)),  # built from escaped parts only
                suppressed=any(kind for row in rows for _text, kind in row),
            )
        )
    return result


def csv_filename(query: StatsQuery) -> str:
    last = query.end - dt.timedelta(days=1)
    return f"lotse-statistik-{query.start.isoformat()}_{last.isoformat()}.csv"


def stats_routes(
    desk: Desk,
    templates: Jinja2Templates,
    require: Guard,
    *,
    fallbacks_page: bool = False,
    threshold: int = SUPPRESSION_THRESHOLD,
) -> list[BaseRoute]:
    """`/console/stats` and its exports, for leads and administrators; `fallbacks_page` says whether
    the editors' page of questions not understood exists, so that it can be linked."""

    def today() -> dt.date:
        return desk.clock().astimezone(BERLIN).date()

    def previous_month() -> tuple[int, int]:
        first = today().replace(day=1) - dt.timedelta(days=1)
        return first.year, first.month

    def page(
        request: Request, session: Session, selection: Selection, report: Report | None, status: int = 200
    ) -> Response:
        content = desk.content
        month = selection.month or previous_month()
        query_filters = {name: selection.values[name] for name in FILTER_NAMES if selection.values[name]}
        export = {key: value for key, value in selection.values.items() if value}
        context: dict[str, Any] = {
            "session": session,
            "values": selection.values,
            "errors": selection.errors,
            "tables": shown_tables(report) if report else [],
            "threshold": report.threshold if report else threshold,
            "teams": sorted(content.teams.values(), key=lambda team: team.name),
            "towns": sorted(content.towns.values(), key=lambda town: town.name),
            "languages": list(LANGUAGES),
            "channels": CHANNEL_NAMES,
            "csv_url": f"{PREFIX}.csv?{urlencode(export)}",
            "pdf_url": f"{PREFIX}.pdf?{urlencode({'month': f'{month[0]:04d}-{month[1]:02d}', **query_filters})}",
            "pdf_month": f"{MONTHS[month[1] - 1]} {month[0]}",
            "fallbacks_url": (
                "/console/editor/fallbacks"
                if fallbacks_page and session.staff.role in FALLBACKS_ROLES
                else None
            ),
            "filters": filter_labels(report.query, content) if report else [],
            "period": (report.query.start, report.query.end - dt.timedelta(days=1)) if report else None,
            "hidden_note": HIDDEN_NOTE,
            "hidden_titles": HIDDEN_TITLES,
        }
        return templates.TemplateResponse(request, "stats.html", context, status_code=status)

    async def report_for(request: Request, session: Session) -> tuple[Selection, Report | Response]:
        """The report the query string asks for, or the page saying what is wrong with it."""
        selection = read_selection(request.query_params, desk.content, today())
        if selection.query is None:
            return selection, page(request, session, selection, None, 400)
        try:
            return selection, await compute(desk.store.engine, desk.content, selection.query, threshold)
        except InvalidQuery as refused:  # the content changed between reading the form and counting
            refusal = Selection(None, selection.values, (str(refused),), selection.month)
            return selection, page(request, session, refusal, None, 400)

    @require(*STATS_ROLES)
    async def overview(request: Request, session: Session) -> Response:
        selection, report = await report_for(request, session)
        if isinstance(report, Response):
            return report
        return page(request, session, selection, report)

    @require(*STATS_ROLES)
    async def as_csv(request: Request, session: Session) -> Response:
        selection, report = await report_for(request, session)
        if isinstance(report, Response):
            return report
        assert selection.query is not None
        return Response(
            to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{csv_filename(selection.query)}"'},
        )

    @require(*STATS_ROLES)
    async def as_pdf(request: Request, session: Session) -> Response:
        if not request.query_params.get("month"):
            selection = read_selection(request.query_params, desk.content, today())
            errors = (REFUSALS["pdf"], *selection.errors)
            return page(request, session, Selection(None, selection.values, errors), None, 400)
        selection, report = await report_for(request, session)
        if isinstance(report, Response):
            return report
        assert selection.query is not None and selection.month is not None
        content = desk.content
        # matplotlib draws for a second or two: in a thread, so that chats are answered meanwhile
        body = await run_in_threadpool(
            monthly_pdf, report, content.region.name, filter_labels(selection.query, content)
        )
        year, month = selection.month
        return Response(
            body,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="lotse-statistik-{year:04d}-{month:02d}.pdf"'},
        )

    return [
        Route(PREFIX, overview, methods=["GET"]),
        Route(f"{PREFIX}.csv", as_csv, methods=["GET"]),
        Route(f"{PREFIX}.pdf", as_pdf, methods=["GET"]),
    ]
