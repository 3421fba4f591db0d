"""gettext catalogs read straight from the `.po` files.

Reading `.po` rather than compiled `.mo` keeps the translators' flags: an entry that no native
speaker has reviewed carries the flag `unreviewed` (or `machine` when machine-made), and answers
built from such entries are marked "(automatic translation)". Fuzzy entries (the German source
changed since) are not used; the German text is shown instead of a possibly wrong translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n.languages import SOURCE_LANGUAGE

DOMAINS: tuple[str, ...] = ("messages", "content")


def N_(text: str) -> str:
    """Mark a string for extraction where it is translated later from a variable."""
    return text


UNREVIEWED_FLAGS = frozenset({"unreviewed", "machine"})


@dataclass(frozen=True)
class Entry:
    text: str
    reviewed: bool


class Catalogs:
    """All translations of all languages, keyed by (context, German source text)."""

    def __init__(self, entries: dict[str, dict[tuple[str | None, str], Entry]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, locales_dir: Path) -> Catalogs:
        entries: dict[str, dict[tuple[str | None, str], Entry]] = {}
        if locales_dir.is_dir():
            for lang_dir in sorted(p for p in locales_dir.iterdir() if p.is_dir()):
                table = entries.setdefault(lang_dir.name, {})
                for domain in DOMAINS:
                    path = lang_dir / "LC_MESSAGES" / f"{domain}.po"
                    if not path.exists():
                        continue
                    with path.open("rb") as handle:
                        catalog = read_po(handle, locale=None, domain=domain)
                    for message in catalog:
                        if not message.id or not message.string or message.fuzzy:
                            continue
                        msgid = message.id if isinstance(message.id, str) else message.id[0]
                        text = message.string if isinstance(message.string, str) else message.string[0]
                        reviewed = not (set(message.flags) & UNREVIEWED_FLAGS)
                        table[(message.context, msgid)] = Entry(text, reviewed)
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
