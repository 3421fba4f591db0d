"""From facts to the seven tables: count, register every published total, suppress, lay out.

All counts of one report go into one ledger, because tables share totals (the outcomes' total is
the sum of the weekly topic counts, the handovers by priority are sums of those by reason, the
ratings add up to the closed chats). Suppression runs once over the whole ledger; only then are
cells filled in.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from zoneinfo import ZoneInfo

from bot.handover.names import PRIORITY_NAMES, REASON_NAMES
from bot.handover.priority import priority_of
from bot.handover.sla import RESPONSE_MINUTES
from bot.stats.facts import OUTCOMES, CaseFact, MessageFact
from bot.stats.figures import Cell, StatsQuery, Table
from bot.stats.suppression import Line, Protection, protect
from bot.stats.topics import TOPICS

TOTAL = "Gesamt"

Key = Hashable
Layout = list[list[Key | Cell]]  # a row label, then ledger keys or ready-made cells
Spec = tuple[str, str, tuple[str, ...], Layout, str, str]  # key, title, columns, layout, unit, note


class Sheets:
    def __init__(self, query: StatsQuery, zone: ZoneInfo, threshold: int, now: dt.datetime) -> None:
        self.query = query
        self.zone = zone
        self.threshold = threshold
        self.now = now
        self.values: dict[Key, int] = {}
        self.lines: list[Line] = []
        self.derived: list[tuple[str, Layout]] = []
        self.protection = Protection(frozenset(), frozenset())

    # ------------------------------------------------------------------ the ledger
    def count(self, key: Key, value: int) -> Key:
        self.values[key] = value
        return key

    def line(self, parts: Sequence[Key], total: Key) -> None:
        self.lines.append(Line(tuple(parts), total))

    def shown(self, key: Key) -> int | None:
        return None if self.protection.hidden(key) else self.values[key]

    def share(self, part: Key, base: Key) -> Callable[[], Cell]:
        """A percentage, only where neither number is hidden and the base is not small."""

        def cell() -> Cell:
            whole = self.values[base]
            if self.protection.hidden(part) or self.protection.hidden(base) or whole < self.threshold:
                return None
            return round(100 * self.values[part] / whole, 1)

        return cell

    # ------------------------------------------------------------------ the periods
    def weeks(self) -> list[str]:
        labels: list[str] = []
        day = self.query.start
        while day < self.query.end:
            label = _week(day)
            if label not in labels:
                labels.append(label)
            day += dt.timedelta(days=1)
        return labels

    # ------------------------------------------------------------------ building
    def build(self, said: Sequence[MessageFact], cases: Sequence[CaseFact]) -> tuple[Table, ...]:
        requested = [c for c in cases if self._in_period(c.created_at)]
        closed = [c for c in cases if c.closed_at is not None and self._in_period(c.closed_at)]
        layouts = [
            self.topics_per_week(said),
            self.outcomes(said),
            self.by_reason(requested),
            self.by_priority(requested),
            self.first_response(requested),
            self.closed_chats(closed),
            self.ratings(closed),
        ]
        self.protection = protect(self.values, self.lines, self.threshold)
        return tuple(self.table(*layout) for layout in layouts)

    def _in_period(self, moment: dt.datetime) -> bool:
        return self.query.start <= moment.astimezone(self.zone).date() < self.query.end

    def table(
        self, key: str, title: str, columns: tuple[str, ...], layout: Layout, unit: str, note: str
    ) -> Table:
        rows: list[tuple[Cell, ...]] = []
        secondary: set[tuple[int, int]] = set()
        for r, entries in enumerate(layout):
            cells: list[Cell] = [str(entries[0])]
            for c, entry in enumerate(entries[1:], start=1):
                if callable(entry):
                    cells.append(entry())
                elif entry in self.values:
                    cells.append(self.shown(entry))
                    if entry in self.protection.secondary:
                        secondary.add((r, c))
                else:
                    cells.append(entry)  # type: ignore[arg-type]
            rows.append(tuple(cells))
        return Table(key, title, columns, tuple(rows), unit, note, frozenset(secondary))

    # ------------------------------------------------------------------ the seven tables
    def topics_per_week(self, said: Sequence[MessageFact]) -> Spec:
        tally = Counter((_week(f.day), f.topic) for f in said)
        layout: Layout = []
        keys: list[Key] = []
        for week in self.weeks():
            row: list[Key | Cell] = [week]
            for topic in TOPICS:
                key = self.count(("topic", week, topic), tally[(week, topic)])
                row.append(key)
                keys.append(key)
            layout.append(row)
        self.line(keys, self.count(("messages",), len(said)))
        return (
            "topics_per_week",
            "Fragen nach Thema und Woche",
            ("Woche", *TOPICS),
            layout,
            "Anzahl",
            "Eingehende Nachrichten (auch Knöpfe) nach dem erkannten Thema, je Kalenderwoche; "
            "Wochen am Rand des Zeitraums zählen nur ihre Tage im Zeitraum.",
        )

    def outcomes(self, said: Sequence[MessageFact]) -> Spec:
        tally = Counter(f.outcome for f in said)
        total = ("messages",)
        keys = [self.count(("outcome", o), tally[o]) for o in OUTCOMES]
        self.line(keys, total)
        layout: Layout = [[o, k, self.share(k, total)] for o, k in zip(OUTCOMES, keys, strict=True)]
        layout.append([TOTAL, total, self.share(total, total)])
        return (
            "outcomes",
            "Was aus den Fragen wurde",
            ("Ergebnis", "Anzahl", "Anteil (%)"),
            layout,
            "",
            "Je eingehende Nachricht: beantwortet aus den geprüften Inhalten, nicht verstanden "
            "(auch: Frage außerhalb der Themen), an eine Person übergeben (Wunsch nach einer Person "
            "und Nachrichten, während ein Chat bei einer Person lag) oder Sonstiges (Begrüßung, Menü, Sprache).",
        )

    def _reasons(self, cases: Sequence[CaseFact]) -> list[str]:
        known = list(REASON_NAMES)
        return known + sorted({c.reason for c in cases} - set(known))

    def by_reason(self, requested: Sequence[CaseFact]) -> Spec:
        tally = Counter(c.reason for c in requested)
        total = self.count(("cases",), len(requested))
        reasons = self._reasons(requested)
        keys = [self.count(("reason", r), tally[r]) for r in reasons]
        self.line(keys, total)
        for priority in PRIORITY_NAMES:  # a priority follows from the reason (bot.handover.priority)
            self.line([("reason", r) for r in reasons if priority_of(r) == priority], ("priority", priority))
        layout: Layout = [[REASON_NAMES.get(r, r), k] for r, k in zip(reasons, keys, strict=True)]
        layout.append([TOTAL, total])
        return (
            "handovers_by_reason",
            "Übergaben an eine Person nach Grund",
            ("Grund", "Anzahl"),
            layout,
            "Anzahl",
            "Im Zeitraum angefragte Übergaben (nach Zustimmung der Person); bei einer Eskalation zählt der dringendere Grund.",
        )

    def by_priority(self, requested: Sequence[CaseFact]) -> Spec:
        tally = Counter(c.priority for c in requested)
        keys = [self.count(("priority", p), tally[p]) for p in PRIORITY_NAMES]
        self.line(keys, ("cases",))
        layout: Layout = [[name, k] for name, k in zip(PRIORITY_NAMES.values(), keys, strict=True)]
        layout.append([TOTAL, ("cases",)])
        return (
            "handovers_by_priority",
            "Übergaben nach Dringlichkeit",
            ("Dringlichkeit", "Anzahl"),
            layout,
            "Anzahl",
            "Im Zeitraum angefragte Übergaben: Notfall, Frist (abgelehnter Asylantrag), Normal.",
        )

    def first_response(self, requested: Sequence[CaseFact]) -> Spec:
        layout: Layout = []
        answered_keys: list[Key] = []
        groups: list[tuple[str, Key, Sequence[CaseFact], Key]] = []
        for priority, name in PRIORITY_NAMES.items():
            group = [c for c in requested if c.priority == priority]
            key = self.count(("answered", priority), sum(c.first_response_at is not None for c in group))
            answered_keys.append(key)
            groups.append((name, ("priority", priority), group, key))
        total_answered = self.count(("answered",), sum(c.first_response_at is not None for c in requested))
        self.line(answered_keys, total_answered)
        groups.append((TOTAL, ("cases",), requested, total_answered))
        for name, asked, members, answered in groups:
            hours = sorted(
                (c.first_response_at - c.created_at).total_seconds() / 3600
                for c in members
                if c.first_response_at is not None
            )
            decided = [
                c for c in members if c.first_response_at is not None or c.due_at <= self.now
            ]  # still open and not yet due: not decided either way
            in_time = sum(
                c.first_response_at is not None and c.first_response_at <= c.due_at for c in decided
            )
            layout.append(
                [
                    name,
                    asked,
                    answered,
                    self._statistic(hours, lambda h: statistics.median(h)),
                    self._statistic(hours, _p90),
                    self._rate(in_time, len(decided)),
                ]
            )
        minutes = ", ".join(
            f"{PRIORITY_NAMES[p]} {_duration(m)}" for p, m in sorted(RESPONSE_MINUTES.items())
        )
        return (
            "first_response",
            "Zeit bis zur ersten Antwort",
            (
                "Dringlichkeit",
                "Angefragt",
                "Beantwortet",
                "Median (Std.)",
                "90 % binnen (Std.)",
                "In der Frist (%)",
            ),
            layout,
            "",
            "Von der Übergabe bis zur ersten Antwort einer Mitarbeiterin oder eines Mitarbeiters (Uhrzeit). "
            f"Frist in den Sprechzeiten des Teams: {minutes}; offene Chats zählen erst nach ihrer Frist.",
        )

    def _statistic(self, hours: Sequence[float], measure: Callable[[Sequence[float]], float]) -> Cell:
        """Median or 90th percentile: of fewer than `threshold` times it would describe a person."""
        if len(hours) < self.threshold:
            return None
        return round(measure(hours), 1)

    def _rate(self, part: int, base: int) -> Callable[[], Cell]:
        def cell() -> Cell:
            return None if base < self.threshold else round(100 * part / base, 1)

        return cell

    def closed_chats(self, closed: Sequence[CaseFact]) -> Spec:
        tally = Counter(_week(c.closed_at.astimezone(self.zone).date()) for c in closed if c.closed_at)
        keys = [self.count(("closed", w), tally[w]) for w in self.weeks()]
        total = self.count(("closed",), len(closed))
        self.line(keys, total)
        layout: Layout = [[w, k] for w, k in zip(self.weeks(), keys, strict=True)]
        layout.append([TOTAL, total])
        return (
            "closed_chats",
            "Abgeschlossene Chats",
            ("Woche", "Abgeschlossen"),
            layout,
            "Anzahl",
            "Chats, die eine Mitarbeiterin oder ein Mitarbeiter im Zeitraum abgeschlossen und an Lotse zurückgegeben hat.",
        )

    def ratings(self, closed: Sequence[CaseFact]) -> Spec:
        kinds = ("helped", "not_helped", None)
        reasons = self._reasons(closed)
        tally = Counter((c.reason, c.feedback if c.feedback in kinds else None) for c in closed)
        layout: Layout = []
        for reason in [*reasons, TOTAL]:
            keys = []
            for kind in kinds:
                if reason == TOTAL:
                    key = self.count(("rated", kind), sum(tally[(r, kind)] for r in reasons))
                    self.line([("rated", r, kind) for r in reasons], key)
                else:
                    key = self.count(("rated", reason, kind), tally[(reason, kind)])
                keys.append(key)
            if reason == TOTAL:
                self.line(keys, ("closed",))
            layout.append([REASON_NAMES.get(reason, reason), *keys, self._helpful(keys[0], keys[1])])
        return (
            "ratings",
            "Hat das Gespräch geholfen?",
            ("Grund der Übergabe", "Hilfreich", "Nicht hilfreich", "Ohne Antwort", "Anteil hilfreich (%)"),
            layout,
            "Anzahl",
            "Beim Abschließen fragt Lotse die Person, ob das Gespräch geholfen hat; gezählt sind die im "
            "Zeitraum abgeschlossenen Chats. Antworten des Bots selbst werden nicht bewertet.",
        )

    def _helpful(self, helped: Key, not_helped: Key) -> Callable[[], Cell]:
        def cell() -> Cell:
            if self.protection.hidden(helped) or self.protection.hidden(not_helped):
                return None
            base = self.values[helped] + self.values[not_helped]
            return None if base < self.threshold else round(100 * self.values[helped] / base, 1)

        return cell


def _week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _p90(hours: Sequence[float]) -> float:
    """The time within which 90 % of the first answers came (nearest rank)."""
    ordered = sorted(hours)
    return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]


def _duration(minutes: int) -> str:
    return f"{minutes} Min." if minutes < 60 else f"{minutes / 60:g} Std."
