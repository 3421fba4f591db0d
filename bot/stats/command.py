"""`lotse stats`: the figures of the console's statistics page, for scripts and the terminal."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from bot.errors import LotseError

if TYPE_CHECKING:  # imported when a command runs: `lotse` starts without the statistics
    from bot.stats.figures import Report, StatsQuery


def register(sub: Any) -> None:
    stats = sub.add_parser("stats", help="the statistics (aggregates only, small cells suppressed)")
    stats.add_argument("--from", dest="start", help="first day YYYY-MM-DD (default: 4 full weeks back)")
    stats.add_argument("--to", dest="end", help="last day YYYY-MM-DD, inclusive")
    stats.add_argument("--month", help="a calendar month YYYY-MM instead of --from/--to")
    stats.add_argument("--team", help="team id from content/teams.yml")
    stats.add_argument("--town", help="town id from content/towns.yml")
    stats.add_argument("--language", help="language code: de, en, ar, fa, uk, ru, tr")
    stats.add_argument("--channel", choices=["telegram", "whatsapp", "web"])
    out = stats.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="CSV, one value per line")
    out.add_argument("--json", action="store_true", help="JSON, suppressed cells as null")
    stats.add_argument("--min-cell", type=int, help="suppress counts below this (default 5)")
    stats.set_defaults(func=_stats, is_async=True)


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise LotseError(f"{option} {value!r}: expected YYYY-MM-DD") from None


def query_from(args: argparse.Namespace, today: dt.date) -> StatsQuery:
    from bot.stats.figures import StatsQuery

    filters = {"team": args.team, "town": args.town, "language": args.language, "channel": args.channel}
    if args.month:
        if args.start or args.end:
            raise LotseError("use either --month or --from/--to")
        try:
            year, month = (int(part) for part in args.month.split("-"))
            return StatsQuery.month(year, month, **filters)
        except ValueError:
            raise LotseError(f"--month {args.month!r}: expected YYYY-MM") from None
    if args.start or args.end:
        if not (args.start and args.end):
            raise LotseError("--from and --to go together")
        end = _date(args.end, "--to") + dt.timedelta(days=1)
        return StatsQuery(_date(args.start, "--from"), end, **filters)
    return StatsQuery.last_weeks(today, **filters)


async def _stats(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from bot.config import Settings
    from bot.knowledge.content import load_content
    from bot.stats.figures import SUPPRESSION_THRESHOLD, compute, to_csv
    from bot.storage.database import create_engine, upgrade

    settings = Settings()
    content = load_content(settings.content_dir)
    query = query_from(args, dt.datetime.now(ZoneInfo(content.region.timezone)).date())
    threshold = args.min_cell if args.min_cell is not None else SUPPRESSION_THRESHOLD
    database = create_engine(settings.resolved_database_url())
    try:
        await upgrade(database)
        report = await compute(database, content, query, threshold)
    finally:
        await database.dispose()
    if args.csv:
        print(to_csv(report), end="")
    elif args.json:
        print(json.dumps(as_json(report), ensure_ascii=False, indent=1))
    else:
        print(as_text(report))
    return 0


def as_json(report: Report) -> dict[str, Any]:
    query = report.query
    return {
        "period": {"from": query.start.isoformat(), "to_exclusive": query.end.isoformat()},
        "filters": {k: getattr(query, k) for k in ("team", "town", "language", "channel")},
        "threshold": report.threshold,
        "tables": [
            {
                "key": t.key,
                "title": t.title,
                "unit": t.unit,
                "note": t.note,
                "columns": list(t.columns),
                "rows": [list(row) for row in t.rows],
                "secondary": sorted([list(cell) for cell in t.secondary]),
            }
            for t in report.tables
        ],
    }


def as_text(report: Report) -> str:
    from bot.stats.figures import hidden_kind

    query = report.query
    last = query.end - dt.timedelta(days=1)
    filters = ", ".join(
        f"{k} {getattr(query, k)}" for k in ("team", "town", "language", "channel") if getattr(query, k)
    )
    lines = [
        f"Lotse-Statistik {query.start:%d.%m.%Y} bis {last:%d.%m.%Y}" + (f" ({filters})" if filters else ""),
        f"Zellen unter {report.threshold} sind unterdrückt (< {report.threshold}); "
        "x: ausgeblendet, damit eine kleine Zahl nicht errechnet werden kann; "
        f"-: Anteil oder Zeit aus weniger als {report.threshold} Fällen.",
    ]
    for table in report.tables:
        cells = [list(table.columns)] + [
            [_cell(v, report.threshold, hidden_kind(table, r, c)) for c, v in enumerate(row)]
            for r, row in enumerate(table.rows)
        ]
        widths = [max(len(str(row[i])) for row in cells) for i in range(len(table.columns))]
        lines += ["", f"{table.title}" + (f" ({table.unit})" if table.unit else "")]
        for row in cells:
            first, *rest = (str(v) for v in row)
            lines.append(
                "  "
                + first.ljust(widths[0])
                + "".join("  " + v.rjust(w) for v, w in zip(rest, widths[1:], strict=True))
            )
        if table.note:
            lines.append(f"  {table.note}")
    return "\n".join(lines)


def _cell(value: Any, threshold: int, hidden: str) -> str:
    if value is None:
        return {"secondary": "x", "small": f"<{threshold}"}.get(hidden, "-")
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
