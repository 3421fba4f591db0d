"""How far each language's translation is, entry by entry: for `content stats`, `content check`
and the editors' console pages.

A translation is in one of five states, and each needs a different person's attention:
- reviewed: a person checked it; nothing to do;
- unreviewed: a draft by a translator who asked for a second look (flags `fuzzy, unreviewed`);
- machine: a draft pre-filled by machine translation (flags `fuzzy, machine`);
- stale: the German source changed since it was translated (gettext's `fuzzy` with the old German
  kept as `#| msgid`, or `fuzzy` on an entry that was never a draft); not used until re-checked;
- missing: no translation; the German is shown.

`fuzzy` is the one mark every gettext tool lets a translator clear (Poedit's "needs work", Weblate's
"needs editing"), so clearing it is the review: a draft whose `fuzzy` is gone counts as reviewed,
whatever else its flags say. Drafts are used in answers, marked "(automatic translation)"; stale
entries are not, because a translation of an old German text may now be wrong.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import PoFileError, denormalize, read_po

from bot.i18n.catalogs import DOMAINS
from bot.i18n.errors import CatalogSyntaxError
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


DRAFT_FLAGS = frozenset({"machine", "unreviewed"})
USED_STATES = frozenset({"reviewed", "unreviewed", "machine"})  # what answers are built from


def first_string(value: object) -> str:
    """The translation (or German source) of a message; the first form of a plural."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        return value[0]
    return ""


def entry_state(message: Message) -> str:
    """The state of one catalog entry (see the module docstring)."""
    if not first_string(message.string):
        return "missing"
    if not message.fuzzy:
        return "reviewed"
    flags = set(message.flags)
    if message.previous_id or not flags & DRAFT_FLAGS:
        return "stale"
    return "machine" if "machine" in flags else "unreviewed"


@dataclass(frozen=True)
class CatalogEntry:
    """One entry of one language's catalog, with where a translator finds it."""

    language: str
    domain: str
    context: str | None
    source: str  # the German text
    translation: str
    state: str
    path: Path  # the .po file
    line: int  # the entry's line in it (its msgid)
    previous_source: str | None  # the German it was translated from, when that changed


def catalog_entries(path: Path, language: str, domain: str) -> Iterator[CatalogEntry]:
    """Every entry of one `.po` file but the header; nothing when the file does not exist."""
    if not path.exists():
        return
    for message in read_catalog(path, None, domain):
        if not message.id:
            continue  # the header
        previous = first_string(message.previous_id) if message.previous_id else None
        yield CatalogEntry(
            language,
            domain,
            message.context,
            first_string(message.id),
            first_string(message.string),
            entry_state(message),
            path,
            int(message.lineno or 0),
            previous,
        )


# The lines of a previous id (`#| msgid "…"`, `#| "…"` continuing it), without the `#|`.
_PREVIOUS_KEYWORD = re.compile(r'^(msgctxt|msgid|msgid_plural)\s+(".*")$')
_PREVIOUS_CONTINUATION = re.compile(r'^(".*")$')


def read_catalog(path: Path, language: str | None, domain: str) -> Catalog:
    """A `.po` file as Babel reads it, with the previous German of stale entries (`#| msgid`) kept.

    Babel writes previous ids but does not read them (python-babel/babel#206, open since 2015):
    `#| msgid "…"` arrives as a translator comment, with repeated lines (a `"\n"` between two
    paragraphs) merged into one. Without the previous id a draft whose German changed would count
    as a draft again instead of stale, and writing the file back would turn the lines into ordinary
    comments. So the `#|` lines are read from the file itself, matched to their entry by the line of
    its msgid, and taken out of the comments; a previous `msgctxt`, which Babel's messages cannot
    hold, is dropped.
    """
    data = path.read_bytes()
    _check_quotes(path, data)
    try:
        catalog = read_po(io.BytesIO(data), locale=language, domain=domain, abort_invalid=True)
    except PoFileError as exc:
        line = exc.lineno + 1  # Babel counts from 0
        detail = f"{exc.line.strip()!r}: unknown or misspelled keyword (msgctxt, msgid, msgstr)"
        raise CatalogSyntaxError(path, line, detail) from exc
    previous = _previous_ids(data.decode(catalog.charset or "utf-8"))
    for message in catalog:
        lines = previous.get(int(message.lineno or 0))
        if message.id and lines and not message.previous_id:
            message.previous_id = lines
            message.user_comments = [c for c in message.user_comments if not _is_previous(c)]
    return catalog


_QUOTED_LINE = re.compile(r'^(?:#\| )?(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)?\s*"')
_CLOSED = re.compile(r'(?<!\\)(?:\\\\)*"\s*$')


def _check_quotes(path: Path, data: bytes) -> None:
    """Every quoted line ends with its closing quote; Babel would cut the text at the line's end."""
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        stripped = line.strip()
        match = _QUOTED_LINE.match(stripped)
        if match and not _CLOSED.search(stripped[match.end() :]):
            raise CatalogSyntaxError(path, number, "the text has no closing quote (\")")


def _previous_ids(text: str) -> dict[int, list[str]]:
    """Previous ids by the line number of the msgid they belong to (as Babel counts lines)."""
    found: dict[int, list[str]] = {}
    pending: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):  # not splitlines: Babel splits at \n only
        line = raw.strip()
        if line.startswith("#|"):
            pending.append(line[2:].strip())
        elif not line:
            pending = []
        elif line.startswith("msgid ") and pending:
            parsed = _parse_previous(pending)
            if parsed:
                found[number] = parsed
            pending = []
    return found


def _parse_previous(lines: list[str]) -> list[str]:
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        keyword = _PREVIOUS_KEYWORD.match(line)
        continuation = _PREVIOUS_CONTINUATION.match(line)
        if keyword:
            current = parts.setdefault(keyword.group(1), [])
            current.append(keyword.group(2))
        elif continuation and current is not None:
            current.append(continuation.group(1))
    ids = [denormalize("\n".join(parts[k])) for k in ("msgid", "msgid_plural") if k in parts]
    return ids if "msgid" in parts else []


def _is_previous(comment: str) -> bool:
    """A translator comment that is really one of Babel's misread `#|` lines."""
    rest = comment[1:].strip() if comment.startswith("|") else ""
    return bool(_PREVIOUS_KEYWORD.match(rest) or _PREVIOUS_CONTINUATION.match(rest))


def catalog_path(locales_dir: Path, language: str, domain: str) -> Path:
    return locales_dir / language / "LC_MESSAGES" / f"{domain}.po"


def catalog_coverage(path: Path, language: str, domain: str) -> Coverage:
    result = Coverage(language, domain)
    for entry in catalog_entries(path, language, domain):
        setattr(result, entry.state, getattr(result, entry.state) + 1)
    return result


def coverage(locales_dir: Path, languages: tuple[str, ...] = TRANSLATED_LANGUAGES) -> list[Coverage]:
    """Per language and domain, and per language over both domains (domain "all")."""
    rows = []
    for language in languages:
        total = Coverage(language, "all")
        for domain in DOMAINS:
            row = catalog_coverage(catalog_path(locales_dir, language, domain), language, domain)
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
