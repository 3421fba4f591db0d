"""The monthly statistics report as a PDF, for the district's committee papers.

Drawn with matplotlib (it comes with Rasa), imported only when a report is asked for: the import
costs about a second and the server should not pay it at start-up. Only the object API is used
(`Figure` and `PdfPages`, never `pyplot`), so no global figure state is shared between two reports
drawn at once in server threads. The pages follow the console's page: a title page that says what
the numbers are and are not, then each table with its chart and its numbers; suppressed cells are
printed "< 5", never as zero, and are hatched grey in the charts, which read in black and white too.
"""

from __future__ import annotations

import datetime as dt
import io
import textwrap
from collections.abc import Sequence
from typing import Any

from bot.stats.charts import HIDDEN_NOTE, PALETTE, cell_text, hidden_text, is_share, number, shown
from bot.stats.figures import Report, StatsQuery, Table
from bot.stats.sheets import TOTAL

MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
HATCHES = ("", "//", "\\\\", "--", "||", "xx", "++", "..", "oo", "**")
LANDSCAPE = (11.69, 8.27)  # A4, inches
ROWS_PER_PAGE = 22


def period_text(query: StatsQuery) -> str:
    """'November 2026' for a calendar month, else '01.11.2026 – 15.11.2026' (the last day included)."""
    last = query.end - dt.timedelta(days=1)
    next_month = (query.start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    if query.start.day == 1 and query.end == next_month:
        return f"{MONTHS[query.start.month - 1]} {query.start.year}"
    return f"{query.start:%d.%m.%Y} – {last:%d.%m.%Y}"


def monthly_pdf(report: Report, district: str, filters: Sequence[tuple[str, str]] = ()) -> bytes:
    """The report as PDF bytes; `filters` are (label, shown value) pairs, e.g. ("Team", "IM Metzingen")."""
    import matplotlib  # type: ignore[import-untyped]

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages  # type: ignore[import-untyped]
    from matplotlib.figure import Figure  # type: ignore[import-untyped]

    period = period_text(report.query)
    buffer = io.BytesIO()
    metadata = {
        "Title": f"Lotse Statistik {district}, {period}",
        "Subject": f"Monatsbericht {period}: zusammengefasste Zahlen ohne personenbezogene Daten",
        "Creator": "Lotse",
        "CreationDate": None,  # the same report gives the same file
    }
    with PdfPages(buffer, metadata=metadata) as pages:
        title = Figure(figsize=LANDSCAPE)
        _title_page(title, report, district, period, filters)
        pages.savefig(title)
        for table in report.tables:
            for index, start in enumerate(range(0, max(len(table.rows), 1), ROWS_PER_PAGE)):
                figure = Figure(figsize=LANDSCAPE)
                _table_page(figure, table, report.threshold, start, index == 0)
                pages.savefig(figure)
    return buffer.getvalue()


def _title_page(
    figure: Any, report: Report, district: str, period: str, filters: Sequence[tuple[str, str]]
) -> None:
    last = report.query.end - dt.timedelta(days=1)
    lines = [
        (f"Zeitraum: {report.query.start:%d.%m.%Y} bis {last:%d.%m.%Y}", 13),
        *((f"{label}: {value}", 13) for label, value in filters),
        ("", 8),
        (f"Zellen mit weniger als {report.threshold} Fällen sind unterdrückt und als „< {report.threshold}“ gedruckt.", 12),
        ("Keine personenbezogenen Daten: nur zusammengefasste Zahlen, keine Nachrichtentexte.", 12),
    ]
    figure.text(0.08, 0.82, "Lotse – Statistik", fontsize=28, weight="bold")
    figure.text(0.08, 0.74, district, fontsize=20)
    figure.text(0.08, 0.67, period, fontsize=20)
    y = 0.56
    for text, size in lines:
        figure.text(0.08, y, text, fontsize=size)
        y -= 0.045 if text else 0.02


def _table_page(figure: Any, table: Table, threshold: int, start: int, with_chart: bool) -> None:
    rows = table.rows[start : start + ROWS_PER_PAGE]
    heading = table.title + (f" ({table.unit})" if table.unit else "") + ("" if with_chart else " – Fortsetzung")
    figure.text(0.05, 0.95, heading, fontsize=16, weight="bold")
    if table.note:
        figure.text(0.05, 0.915, table.note, fontsize=10)
    figure.text(0.05, 0.015, HIDDEN_NOTE.replace("{n}", str(threshold)), fontsize=8, wrap=True)
    table_box = [0.05, 0.06, 0.9, 0.38] if with_chart else [0.05, 0.06, 0.9, 0.82]
    if with_chart:
        if table.key == "topics_per_week":
            _weekly_chart(figure, table, threshold)
        else:
            _bar_panels(figure, table, threshold)
    _numbers(figure, table, range(start, start + len(rows)), threshold, table_box)


def _numbers(figure: Any, table: Table, rows: Sequence[int], threshold: int, box: list[float]) -> None:
    axes = figure.add_axes(box)
    axes.axis("off")
    if not rows:
        axes.text(0, 0.9, "Keine Daten im Zeitraum.", fontsize=11)
        return
    text = [[shown(table, r, c, threshold) for c in range(len(table.columns))] for r in rows]
    headers = [textwrap.fill(column, 14) for column in table.columns]
    lines = max(header.count("\n") + 1 for header in headers)
    drawn = axes.table(cellText=text, colLabels=headers, loc="upper center", cellLoc="right")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8 if len(table.columns) > 6 else 9)
    for (row, column), cell in drawn.get_celld().items():
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#EEEEEE")
            cell.set_height(cell.get_height() * lines)
        if column == 0:
            cell.set_text_props(ha="left")


def _suppressed_style() -> dict[str, Any]:
    return {"facecolor": "#DDDDDD", "hatch": "////", "edgecolor": "#333333", "linestyle": "--", "linewidth": 0.6}


def _weekly_chart(figure: Any, table: Table, threshold: int) -> None:
    from matplotlib.patches import Patch  # type: ignore[import-untyped]

    axes = figure.add_axes([0.07, 0.5, 0.68, 0.38])
    series = table.columns[1:]
    if not table.rows or not series:
        axes.axis("off")
        axes.text(0, 0.5, "Keine Daten im Zeitraum.", fontsize=11)
        return
    numbers = [v for row in table.rows for c in row[1:] if (v := number(c)) is not None]
    peak = max(numbers, default=1.0) or 1.0
    width = 0.85 / len(series)
    for s, name in enumerate(series):
        xs, heights, marked = [], [], []
        for r, row in enumerate(table.rows):
            cell = row[s + 1] if s + 1 < len(row) else 0
            x = r - 0.425 + s * width + width / 2
            if cell is None:
                marked.append((x, hidden_text(table, r, s + 1, threshold)))
            elif (value := number(cell)) is not None:
                xs.append(x)
                heights.append(value)
        axes.bar(
            xs, heights, width * 0.95, label=name, color=PALETTE[s % len(PALETTE)],
            hatch=HATCHES[s % len(HATCHES)], edgecolor="black", linewidth=0.5,
        )  # fmt: skip
        if marked:
            axes.bar([x for x, _ in marked], [peak * 0.05] * len(marked), width * 0.95, **_suppressed_style())
            for x, mark in marked:
                axes.text(x, peak * 0.06, mark, rotation=90, ha="center", va="bottom", fontsize=6)
    handles, _labels = axes.get_legend_handles_labels()
    handles.append(Patch(label=f"< {threshold} oder x: nicht gezeigt", **_suppressed_style()))
    axes.set_xticks(range(len(table.rows)))
    axes.set_xticklabels([str(row[0]) for row in table.rows], fontsize=8)
    axes.set_ylabel("Anzahl")
    axes.set_ylim(0, peak * 1.15)
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _bar_panels(figure: Any, table: Table, threshold: int) -> None:
    drawn = [r for r, row in enumerate(table.rows) if row and row[0] != TOTAL]  # the total dwarfs its parts
    columns = [
        j for j in range(1, len(table.columns))
        if drawn and all(table.rows[r][j] is None or number(table.rows[r][j]) is not None for r in drawn)
    ]  # fmt: skip
    if not columns:
        axes = figure.add_axes([0.07, 0.5, 0.86, 0.38])
        axes.axis("off")
        axes.text(0, 0.5, "Keine Daten im Zeitraum.", fontsize=11)
        return
    labels = [str(table.rows[r][0]) for r in drawn]
    left, room = 0.22, 0.74
    panel_w = room / len(columns)
    for p, j in enumerate(columns):
        axes = figure.add_axes([left + p * panel_w, 0.5, panel_w * 0.8, 0.38])
        cells = [table.rows[r][j] for r in drawn]
        numbers = [v for c in cells if (v := number(c)) is not None]
        peak = max(numbers, default=1.0) or 1.0
        if is_share(table, j):
            peak = max(peak, 100.0)
        ys = list(range(len(cells)))
        for y, r, cell in zip(ys, drawn, cells, strict=True):
            if cell is None:
                axes.barh(y, peak * 0.12, 0.6, **_suppressed_style())
                axes.text(peak * 0.14, y, hidden_text(table, r, j, threshold), va="center", fontsize=7)
            elif (value := number(cell)) is not None:
                axes.barh(y, value, 0.6, color=PALETTE[p % len(PALETTE)],
                          hatch=HATCHES[p % len(HATCHES)], edgecolor="black", linewidth=0.5)  # fmt: skip
                axes.text(value + peak * 0.02, y, cell_text(cell, threshold), va="center", fontsize=7)
        axes.set_yticks(ys)
        axes.set_yticklabels(labels if p == 0 else [""] * len(ys), fontsize=8)
        axes.invert_yaxis()
        axes.set_xlim(0, peak * 1.3)
        axes.set_title(table.columns[j], fontsize=9)
        axes.tick_params(axis="x", labelsize=7)
