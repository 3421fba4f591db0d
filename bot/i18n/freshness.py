"""Which translations are missing or out of date, with the file and line a translator must open.

The German in `content/` is the truth, compared with each language's `content.po` directly, so a
reworded sentence is reported at once, before anyone ran `lotse i18n update`: the catalog still has
the translation of the old German under the same context (`topic:<key>:text`), and that translation
is stale. UI strings (`messages.po`) are judged by their catalog state alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bot.i18n.catalogs import DOMAINS
from bot.i18n.coverage import CatalogEntry, catalog_entries, catalog_path
from bot.i18n.errors import CatalogSyntaxError
from bot.i18n.languages import LANGUAGES, TRANSLATED_LANGUAGES
from bot.knowledge.content import SourceString
from bot.knowledge.emergency import lost_numbers
from bot.knowledge.findings import Finding

REVIEW_HINT = "compare the translation with the new German, correct it, then clear the fuzzy mark"


def translation_findings(
    strings: list[SourceString], locales_dir: Path, languages: tuple[str, ...] = TRANSLATED_LANGUAGES
) -> list[Finding]:
    findings: list[Finding] = []
    for language in languages:
        for domain in DOMAINS:
            path = catalog_path(locales_dir, language, domain)
            try:
                entries = list(catalog_entries(path, language, domain))
            except CatalogSyntaxError as exc:
                findings.append(_unreadable(exc, language))
                continue
            findings.extend(_lost_numbers(entries, language))
            if domain == "content":
                findings.extend(_content(strings, entries, language, path))
            else:
                findings.extend(_by_state(entries, language))
    return findings


def _lost_numbers(entries: list[CatalogEntry], language: str) -> Iterator[Finding]:
    """A translation that drops or changes an emergency number is an error, whatever its state."""
    for entry in entries:
        lost = lost_numbers(entry.source, entry.translation) if entry.translation else []
        if lost:
            yield Finding(
                "error",
                str(entry.path),
                entry.line,
                f"{_name(language)} translation of {_short(entry.source)!r} does not give the emergency "
                f"number(s) {', '.join(lost)} that the German gives",
                "write the numbers exactly as in the German; until then users of this language read "
                "the German text",
                language,
            )


def _unreadable(exc: CatalogSyntaxError, language: str) -> Finding:
    return Finding(
        "error",
        exc.path,
        exc.line,
        exc.detail,
        "correct the line (Poedit or Weblate write catalogs without such mistakes); until then "
        "a running `lotse serve` keeps the last good translations",
        language,
    )


def _name(language: str) -> str:
    return f"{LANGUAGES[language].native_name} ({language})"


def _content(
    strings: list[SourceString], entries: list[CatalogEntry], language: str, path: Path
) -> Iterator[Finding]:
    exact = {(e.context, e.source): e for e in entries}
    by_context = {e.context: e for e in entries if e.translation}
    for string in strings:
        entry = exact.get((string.context, string.text))
        german_at = f"{string.path}:{string.line}"
        if entry is not None and entry.state == "stale":
            yield Finding(
                "warning",
                str(entry.path),
                entry.line,
                f"{_name(language)} translation of {string.context} is stale: its German source "
                f"({german_at}) changed since it was translated",
                REVIEW_HINT,
                language,
            )
        elif entry is not None and entry.state == "missing":
            yield _missing(str(entry.path), entry.line, string.context, language, _fill_hint(language))
        elif entry is None and string.context in by_context:
            old = by_context[string.context]
            yield Finding(
                "warning",
                str(old.path),
                old.line,
                f"{_name(language)} translation of {string.context} is stale: it translates the old "
                f"German, and the German in {german_at} is new",
                f"run `lotse i18n update` (it marks the entry fuzzy and keeps the old German next to "
                f"it), then {REVIEW_HINT}",
                language,
            )
        elif entry is None:
            hint = f"run `lotse i18n update`, then translate it in {path}"
            yield _missing(string.path, string.line, string.context, language, hint)


def _missing(path: str, line: int, subject: str, language: str, hint: str) -> Finding:
    return Finding(
        "warning", path, line, f"{_name(language)} translation of {subject} is missing", hint, language
    )


def _fill_hint(language: str) -> str:
    return f"translate it, or pre-fill it with `lotse i18n translate --lang {language}` for review"


def _by_state(entries: list[CatalogEntry], language: str) -> Iterator[Finding]:
    for entry in entries:
        if entry.state == "stale":
            yield Finding(
                "warning",
                str(entry.path),
                entry.line,
                f"{_name(language)} translation of the text {_short(entry.source)!r} is stale",
                REVIEW_HINT,
                language,
            )
        elif entry.state == "missing":
            subject = f"the text {_short(entry.source)!r}"
            yield _missing(str(entry.path), entry.line, subject, language, _fill_hint(language))


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
