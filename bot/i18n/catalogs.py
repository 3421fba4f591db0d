"""gettext catalogs read straight from the `.po` files.

Reading `.po` rather than compiled `.mo` keeps the translators' flags, which decide what a user
sees (the states are defined in `bot.i18n.coverage`):
- reviewed entries (no `fuzzy`: a person checked them, or cleared the mark in Poedit or Weblate)
  are used as they are;
- drafts (`fuzzy` with `machine` or `unreviewed`) are used too, because a draft helps someone who
  reads no German more than the German does, but answers built from them are marked
  "(automatic translation)";
- stale entries (the German changed since they were translated) and missing ones are not used:
  the German text is shown instead of a possibly wrong translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.i18n.languages import SOURCE_LANGUAGE

DOMAINS: tuple[str, ...] = ("messages", "content")


def N_(text: str) -> str:
    """Mark a string for extraction where it is translated later from a variable."""
    return text


@dataclass(frozen=True)
class Entry:
    text: str
    reviewed: bool  # False for a draft: answers built from it say "(automatic translation)"


class Catalogs:
    """All translations of all languages, keyed by (context, German source text)."""

    def __init__(self, entries: dict[str, dict[tuple[str | None, str], Entry]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, locales_dir: Path) -> Catalogs:
        """Every language's usable entries: reviewed ones and drafts, not stale or missing ones."""
        # Imported here because `coverage` takes DOMAINS from this module.
        from bot.i18n.coverage import USED_STATES, catalog_entries, catalog_path
        from bot.knowledge.emergency import lost_numbers

        entries: dict[str, dict[tuple[str | None, str], Entry]] = {}
        if locales_dir.is_dir():
            for lang_dir in sorted(p for p in locales_dir.iterdir() if p.is_dir()):
                table = entries.setdefault(lang_dir.name, {})
                for domain in DOMAINS:
                    path = catalog_path(locales_dir, lang_dir.name, domain)
                    for entry in catalog_entries(path, lang_dir.name, domain):
                        # a translation that lost an emergency number is not served: the German has it
                        if entry.state in USED_STATES and not lost_numbers(entry.source, entry.translation):
                            reviewed = entry.state == "reviewed"
                            table[(entry.context, entry.source)] = Entry(entry.translation, reviewed)
        return cls(entries)

    def lookup(self, language: str, source: str, context: str | None = None) -> Entry | None:
        if language == SOURCE_LANGUAGE:
            return None
        return self._entries.get(language, {}).get((context, source))

    def languages(self) -> list[str]:
        return sorted(self._entries)


class Translator:
    """Translations for one reply in one language; remembers whether any were unreviewed."""

    def __init__(self, catalogs: Catalogs, language: str) -> None:
        self.catalogs = catalogs
        self.language = language
        self.unreviewed_used = False

    def _(self, text: str) -> str:
        """A UI string; the German source is the message id."""
        entry = self.catalogs.lookup(self.language, text)
        if entry is None:
            return text
        return entry.text

    def content(self, context: str, text: str) -> str:
        """A content string, identified by its context (`topic:<key>:text`) and German source."""
        entry = self.catalogs.lookup(self.language, text, context)
        if entry is None:
            return text
        if not entry.reviewed:
            self.unreviewed_used = True
        return entry.text
