"""The statistics' charts as SVG text, drawn on the server.

The console forbids scripts and inline styles (its Content-Security-Policy), and leads print the
page for meetings, so a chart is plain markup with presentation attributes only: no JavaScript, no
external file, every label escaped. Each series has its own colour from Paul Tol's colour-blind safe
"muted" scheme *and* its own line pattern, and every horizontal bar carries its number, so a chart
still reads on a black-and-white printout. A suppressed cell (fewer people than the threshold) is
never drawn as zero: it gets a hatched grey marker labelled "< 5", so nobody mistakes "too few to
show" for "none".
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from bot.stats.figures import Cell, Table, hidden_kind
from bot.stats.sheets import TOTAL

WIDTH = 720
PALETTE = (
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
    "#777777",
)  # fmt: skip
# One overlay per series (path in a 6×6 tile), so that series differ in grey too.
OVERLAYS = (
    "",
    "M0,6 L6,0",
    "M0,0 L6,6",
    "M0,3 L6,3",
    "M3,0 L3,6",
    "M0,6 L6,0 M0,0 L6,6",
    "M0,3 L6,3 M3,0 L3,6",
    "M1.5,1.5 h0.1 M4.5,4.5 h0.1",
    "M0,1.5 L6,1.5 M0,4.5 L6,4.5",
    "M0,0 L6,6 M0,3 L3,6 M3,0 L6,3",
)
SUPPRESSED_FILL = "#DDDDDD"
MAX_LABEL = 30
FONT = 'font-family="system-ui, sans-serif"'
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def number(cell: Cell) -> float | None:
    """The cell as a number to draw, or None for a hidden cell or a word."""
    return float(cell) if isinstance(cell, int | float) and not isinstance(cell, bool) else None


def cell_text(cell: Cell, threshold: int) -> str:
    """A cell as the page, the chart and the PDF print it: German decimal comma, '< 5' when suppressed."""
    if cell is None:
        return f"< {threshold}"
    if isinstance(cell, bool | str):
        return str(cell)
    if isinstance(cell, int):
        return f"{cell:,}".replace(",", ".")
    return f"{cell:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def hidden_text(table: Table, row: int, column: int, threshold: int) -> str:
    """What stands for a hidden cell: '< 5' for a small count, 'x' for a count hidden only so that a
    small one cannot be worked out by subtraction, '–' for a share or time based on too few cases.

    A median of 12 hours hidden as "< 5" would read as "under five hours": so only counts say "< 5".
    """
    return {"secondary": "x", "small": f"< {threshold}"}.get(hidden_kind(table, row, column), "–")


def shown(table: Table, row: int, column: int, threshold: int) -> str:
    """The cell as the page and the PDF print it."""
    cell = table.rows[row][column] if column < len(table.rows[row]) else None
    return hidden_text(table, row, column, threshold) if cell is None else cell_text(cell, threshold)


HIDDEN_NOTE = (
    "„< {n}“: weniger als {n}, zum Schutz der Personen nicht gezeigt (nicht null). "
    "„x“: verborgen, damit sich eine kleine Zahl nicht aus der Summe ausrechnen lässt. "
    "„–“: Anteil oder Zeit aus weniger als {n} Fällen, nicht gezeigt."
)


def is_share(table: Table, column: int) -> bool:
    """A percentage column: drawn against 100 %, so that 70 % never looks like a full bar."""
    return "%" in table.columns[column] or table.unit == "%"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _nice_ceiling(value: float) -> float:
    """The axis' end: 1, 2 or 5 times a power of ten, at least the largest value and at least 5."""
    if value <= 5:
        return 5.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value:
        step /= 10
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return factor * step
    return 10 * step  # pragma: no cover - the loop always returns


def _defs(prefix: str, count: int) -> str:
    parts = [
        f'<pattern id="{prefix}-sup" patternUnits="userSpaceOnUse" width="6" height="6">'
        f'<rect width="6" height="6" fill="{SUPPRESSED_FILL}"/>'
        '<path d="M0,6 L6,0 M-1,1 L1,-1 M5,7 L7,5" stroke="#333" stroke-width="1"/></pattern>'
    ]
    for index in range(count):
        colour = PALETTE[index % len(PALETTE)]
        overlay = OVERLAYS[index % len(OVERLAYS)]
        stroke = f'<path d="{overlay}" stroke="#000" stroke-opacity="0.55" stroke-width="1"/>' if overlay else ""
        parts.append(
            f'<pattern id="{prefix}-s{index}" patternUnits="userSpaceOnUse" width="6" height="6">'
            f'<rect width="6" height="6" fill="{colour}"/>{stroke}</pattern>'
        )
    return f"<defs>{''.join(parts)}</defs>"


def _frame(table: Table, height: int, description: str, body: Sequence[str]) -> str:
    ident = _ID_UNSAFE.sub("-", table.key) or "chart"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-labelledby="{ident}-title {ident}-desc" class="chart">'
        f'<title id="{ident}-title">{esc(table.title)}</title>'
        f'<desc id="{ident}-desc">{esc(description)}</desc>' + "".join(body) + "</svg>"
    )


def _suppressed_note(threshold: int) -> str:
    return "Schraffiert grau: nicht gezeigt. " + HIDDEN_NOTE.replace("{n}", str(threshold))


def _empty(table: Table, threshold: int) -> str:
    body = [f'<text x="{WIDTH // 2}" y="40" text-anchor="middle" font-size="14" {FONT}>Keine Daten im Zeitraum</text>']
    return _frame(table, 64, "Keine Daten im Zeitraum.", body)


def chart(table: Table, threshold: int) -> str:
    """The table's chart: grouped bars per week for the topics, horizontal bars for everything else."""
    if table.key == "topics_per_week":
        return weekly_bars(table, threshold)
    return horizontal_bars(table, threshold)


def weekly_bars(table: Table, threshold: int) -> str:
    """Weeks along the x axis, one bar per topic in each week, the legend below."""
    series = list(table.columns[1:])
    if not table.rows or not series:
        return _empty(table, threshold)
    prefix = _ID_UNSAFE.sub("-", table.key)
    left, right, top, plot_h = 48, 12, 16, 220
    plot_w = WIDTH - left - right
    values = [v for row in table.rows for c in row[1:] if (v := number(c)) is not None]
    peak = _nice_ceiling(max(values, default=0.0))
    rotate = len(table.rows) > 6
    axis_h = 56 if rotate else 24
    body: list[str] = [_defs(prefix, len(series))]
    steps = 4 if str(int(peak)).startswith("2") else 5  # ticks at round numbers: 0, 5, 10, 15, 20
    for step in range(steps + 1):
        value = peak * step / steps
        y = top + plot_h - plot_h * step / steps
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#BBBBBB" stroke-width="1"/>')
        label = cell_text(int(value) if value == int(value) else value, threshold)
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" {FONT}>{esc(label)}</text>')
    group_w = plot_w / len(table.rows)
    slot = group_w * 0.85 / len(series)
    baseline = top + plot_h
    for r, row in enumerate(table.rows):
        x0 = left + r * group_w + group_w * 0.075
        week = str(row[0])
        for s, name in enumerate(series):
            cell = row[s + 1] if s + 1 < len(row) else 0
            x = x0 + s * slot
            mark = hidden_text(table, r, s + 1, threshold)
            tip = f"{name}, {week}: {mark if cell is None else cell_text(cell, threshold)}"
            if cell is None:
                mark_h = 14
                body.append(
                    f'<g><title>{esc(tip)} (nicht gezeigt)</title>'
                    f'<rect x="{x:.1f}" y="{baseline - mark_h}" width="{max(slot - 1, 1):.1f}" height="{mark_h}" '
                    f'fill="url(#{prefix}-sup)" stroke="#333" stroke-width="0.5" stroke-dasharray="2 1"/>'
                    f'<text transform="translate({x + slot / 2 + 3:.1f},{baseline - mark_h - 3}) rotate(-90)" '
                    f'font-size="9" {FONT}>{esc(mark)}</text></g>'
                )
            elif (amount := number(cell)) is not None:
                height = plot_h * max(amount, 0.0) / peak
                body.append(
                    f'<rect x="{x:.1f}" y="{baseline - height:.1f}" width="{max(slot - 1, 1):.1f}" '
                    f'height="{height:.1f}" fill="url(#{prefix}-s{s})" stroke="#000" stroke-width="0.5">'
                    f"<title>{esc(tip)}</title></rect>"
                )
        cx = left + r * group_w + group_w / 2
        if rotate:
            body.append(
                f'<text transform="translate({cx:.1f},{baseline + 12}) rotate(-45)" text-anchor="end" '
                f'font-size="11" {FONT}>{esc(_short(week))}</text>'
            )
        else:
            body.append(
                f'<text x="{cx:.1f}" y="{baseline + 16}" text-anchor="middle" font-size="11" {FONT}>{esc(_short(week))}</text>'
            )
    body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{baseline}" y2="{baseline}" stroke="#000" stroke-width="1"/>')
    legend_top = baseline + axis_h
    entries = [(f"url(#{prefix}-s{s})", name) for s, name in enumerate(series)]
    entries.append((f"url(#{prefix}-sup)", f"< {threshold} oder x: nicht gezeigt"))
    per_line, column_w = 3, (WIDTH - left) // 3
    for i, (fill, name) in enumerate(entries):
        x = left + (i % per_line) * column_w
        y = legend_top + (i // per_line) * 20
        body.append(
            f'<rect x="{x}" y="{y}" width="14" height="14" fill="{fill}" stroke="#000" stroke-width="0.5"/>'
            f'<text x="{x + 20}" y="{y + 11}" font-size="12" {FONT}>{esc(_short(name))}</text>'
        )
    height = legend_top + ((len(entries) + per_line - 1) // per_line) * 20 + 8
    description = (
        f"Balkendiagramm: {len(table.rows)} Wochen, je Woche ein Balken für jedes der Themen "
        f"{', '.join(series)}. {_suppressed_note(threshold)} Die Zahlen stehen in der Tabelle daneben."
    )
    return _frame(table, int(height), description, body)


def _drawn_rows(table: Table) -> list[int]:
    """Every row but the total, which would dwarf its parts; the table beside the chart shows it."""
    return [r for r, row in enumerate(table.rows) if row and row[0] != TOTAL]


def _numeric_columns(table: Table, rows: Sequence[int]) -> list[int]:
    """Columns with numbers or suppressed cells; columns of words (a date, a team name) are not drawn."""
    found = []
    for j in range(1, len(table.columns)):
        cells = [table.rows[r][j] for r in rows if j < len(table.rows[r])]
        if cells and all(c is None or number(c) is not None for c in cells):
            found.append(j)
    return found


def horizontal_bars(table: Table, threshold: int) -> str:
    """One panel per numeric column, one labelled bar per row, each panel on its own scale."""
    drawn = _drawn_rows(table)
    columns = _numeric_columns(table, drawn)
    if not drawn or not columns:
        return _empty(table, threshold)
    prefix = _ID_UNSAFE.sub("-", table.key)
    label_w, value_w, row_h, head_h = 210, 70, 22, 26
    bar_room = WIDTH - label_w - value_w
    body: list[str] = [_defs(prefix, len(columns))]
    y = 4
    for p, j in enumerate(columns):
        cells = [table.rows[r][j] if j < len(table.rows[r]) else None for r in drawn]
        peak = max((v for c in cells if (v := number(c)) is not None), default=0.0)
        if is_share(table, j):
            peak = max(peak, 100.0)
        scale = bar_room / peak if peak > 0 else 0.0
        body.append(f'<text x="0" y="{y + 16}" font-size="13" font-weight="bold" {FONT}>{esc(table.columns[j])}</text>')
        y += head_h
        for r, cell in zip(drawn, cells, strict=True):
            label = str(table.rows[r][0])
            tip = f"{label}, {table.columns[j]}: {shown(table, r, j, threshold)}"
            body.append(
                f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" {FONT}>'
                f"<title>{esc(label)}</title>{esc(_short(label))}</text>"
            )
            if cell is None:
                body.append(
                    f'<g><title>{esc(tip)} (nicht gezeigt)</title>'
                    f'<rect x="{label_w}" y="{y + 3}" width="36" height="{row_h - 6}" fill="url(#{prefix}-sup)" '
                    f'stroke="#333" stroke-width="0.5" stroke-dasharray="2 1"/>'
                    f'<text x="{label_w + 42}" y="{y + 15}" font-size="12" {FONT}>{esc(shown(table, r, j, threshold))}</text></g>'
                )
            else:
                width = max(number(cell) or 0.0, 0.0) * scale
                body.append(
                    f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
                    f'fill="url(#{prefix}-s{p})" stroke="#000" stroke-width="0.5"><title>{esc(tip)}</title></rect>'
                    f'<text x="{label_w + width + 6:.1f}" y="{y + 15}" font-size="12" {FONT}>'
                    f"{esc(cell_text(cell, threshold))}</text>"
                )
            y += row_h
        body.append(f'<line x1="{label_w}" x2="{label_w}" y1="{y - row_h * len(cells)}" y2="{y}" stroke="#000" stroke-width="1"/>')
        y += 10
    names = ", ".join(table.columns[j] for j in columns)
    description = (
        f"Waagerechte Balken je Zeile (ohne die Gesamtzeile) für: {names}; jede Zahl steht am Balken. "
        f"{_suppressed_note(threshold)}"
    )
    return _frame(table, y, description, body)
