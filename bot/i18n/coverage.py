"""How far each language's translation is: what `lotse content stats` prints for translators.

A translation can be in five states, and each needs a different person's attention:
- reviewed: a native speaker checked it; nothing to do;
- unreviewed: translated by a person who flagged it for a second look (flag `unreviewed`);
- machine: pre-filled by machine translation (flag `machine`), used with "(automatic translation)";
- stale: the German source changed since (gettext's `fuzzy`); not used until someone re-checks it;
- missing: no translation; the German is shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n.catalogs import DOMAINS
from bot.i18n.languages import TRANSLATED_LANGUAGES

STATES: tuple[str, ...] = ("reviewed", "unreviewed", "machine", "stale", "missing")


@dataclass
class Coverage:
    language: str
    domain: str  # messages | content | all
    reviewed: int = 0
    unreviewed: int = 0
    machine: int = 0
    stale: int = 0
    missing: int = 0

    @property
    def total(self) -> int:
        return self.reviewed + self.unreviewed + self.machine + self.stale + self.missing

    @property
    def usable(self) -> int:
        """Entries a user sees translated (stale and missing ones fall back to German)."""
        return self.reviewed + self.unreviewed + self.machine

    def add(self, other: Coverage) -> None:
        for state in STATES:
            setattr(self, state, getattr(self, state) + getattr(other, state))

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "total": self.total, "usable": self.usable}


def state_of(string: str, flags: set[str], fuzzy: bool) -> str:
    if not string:
        return "missing"
    if fuzzy:
        return "stale"
    if "machine" in flags:
        return "machine"
    if "unreviewed" in flags:
        return "unreviewed"
    return "reviewed"


def catalog_coverage(path: Path, language: str, domain: str) -> Coverage:
    result = Coverage(language, domain)
    if not path.exists():
        return result
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=None, domain=domain)
    for message in catalog:
        if not message.id:
            continue  # the header
        string = message.string if isinstance(message.string, str) else (message.string or ("",))[0]
        state = state_of(string or "", set(message.flags), message.fuzzy)
        setattr(result, state, getattr(result, state) + 1)
    return result


def coverage(locales_dir: Path, languages: tuple[str, ...] = TRANSLATED_LANGUAGES) -> list[Coverage]:
    """Per language and domain, and per language over both domains (domain "all")."""
    rows = []
    for language in languages:
        total = Coverage(language, "all")
        for domain in DOMAINS:
            row = catalog_coverage(locales_dir / language / "LC_MESSAGES" / f"{domain}.po", language, domain)
            rows.append(row)
            total.add(row)
        rows.append(total)
    return rows


def table(rows: list[Coverage]) -> str:
    """A plain-text table for the terminal, with the share a user sees translated."""
    header = ("language", "domain", *STATES, "total", "translated")
    lines = [header]
    for row in rows:
        share = f"{100 * row.usable / row.total:.0f} %" if row.total else "–"
        lines.append(
            (row.language, row.domain, *(str(getattr(row, s)) for s in STATES), str(row.total), share)
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = []
    for number, line in enumerate(lines):
        pairs = enumerate(zip(line, widths, strict=True))
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in pairs]
        rendered.append("  ".join(cells).rstrip())
        if number == 0:
            rendered.append("  ".join("-" * w for w in widths))
    return "\n".join(rendered)
