"""Pre-filling missing catalog entries by machine translation (`lotse i18n translate`).

A district rarely has translators for six languages at once. Until it does, a machine draft helps
someone who reads no German more than the German does, and gives the translator something to
correct instead of a blank line. So this fills every entry that has no translation, and nothing else:
- drafts are flagged `fuzzy, machine` (see `bot.i18n.coverage`): users see them marked
  "(automatic translation)", and every gettext tool lists them as needing work until a person
  clears `fuzzy`;
- an entry with a translation in any state is a person's work (or a draft already waiting for one),
  so it is never sent to the provider and never changed;
- a result that lost or changed a placeholder, a number, a URL or an e-mail address is thrown away
  and counted as failed: `{town}` missing or renamed breaks the reply at run time, and a wrong
  phone number or deadline is worse than German;
- each line is translated on its own, with its list dash set aside, because providers reflow text
  and the paragraphs and lists of content texts are how they are read on a phone;
- when the provider fails (unreachable, quota, key), the run stops, but every entry filled so far
  is written first.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm  # type: ignore[import-untyped]  # installed with Rasa; no type hints

from bot.config import Settings
from bot.i18n.catalog_tools import write_catalog
from bot.i18n.catalogs import DOMAINS
from bot.i18n.coverage import catalog_path, first_string, read_catalog
from bot.i18n.errors import I18nError, PrefillStopped
from bot.i18n.languages import SOURCE_LANGUAGE, TRANSLATED_LANGUAGES
from bot.translation.chunks import translate_in_pieces
from bot.translation.errors import TranslationUnavailable
from bot.translation.protocol import Closeable, TranslationProvider, language_code
from bot.translation.providers import PROVIDERS, provider_from_settings

MACHINE_FLAGS = frozenset({"fuzzy", "machine"})
PREFILL_PROVIDERS = tuple(name for name in PROVIDERS if name != "none")

# What must come back from the provider exactly as it went in (compared as a multiset).
_PROTECTED = re.compile(
    r"""
      \{\{\s*\w+\s*\}\}                          # a WhatsApp template variable: {{1}}
    | \{[^{}\s]*\}                               # a str.format field: {town}, {0}, {n:d}
    | %(?:\([^)\s]+\))?[-\#0+]*\d*(?:\.\d+)?[sdifr]  # a printf field: %s, %(name)s
    | https?://[^\s]*[^\s.,;:!?)»“"]             # a URL (without the sentence's final stop)
    | [\w.+-]+@[\w-]+(?:\.[\w-]+)+               # an e-mail address
    | [0-9]+                                     # numbers: phone numbers, deadlines, hours
    """,
    re.VERBOSE,
)
# A line: its indentation and list dash (kept aside), its words, and trailing blanks.
_LINE = re.compile(r"^(\s*(?:[–—•*-]\s+)?)(.*?)(\s*)$", re.DOTALL)


@dataclass
class Tally:
    """What a run did to one catalog; `left` is how many entries still have no translation."""

    language: str
    domain: str
    filled: int = 0
    failed: int = 0
    left: int = 0

    def __str__(self) -> str:
        return f"{self.language} {self.domain}: {self.filled} filled, {self.failed} failed, {self.left} left"


def protected(text: str) -> list[str]:
    """The placeholders, numbers, URLs and addresses in `text`, sorted."""
    return sorted(match.group(0) for match in _PROTECTED.finditer(text))


def machine_draft(text: str, translate: Callable[[str], str]) -> str | None:
    """`text` translated line by line by `translate`; None when the result is not safe to show.

    Lines without letters (a phone number, a blank line between paragraphs) are kept as they are
    and cost no request.
    """
    lines = []
    for line in text.split("\n"):
        match = _LINE.match(line)
        assert match is not None  # the pattern matches every line
        lead, words, trail = match.groups()
        if any(character.isalpha() for character in words):
            words = translate(words).strip()
            if not words or "\n" in words:
                return None  # the provider dropped the line or broke it: the structure is lost
        lines.append(lead + words + trail)
    draft = "\n".join(lines)
    return draft if protected(draft) == protected(text) else None


def choose_provider(settings: Settings, name: str | None) -> TranslationProvider:
    """The provider `--provider` names, else the one `LOTSE_TRANSLATION` names, with its settings."""
    choice = (name or settings.translation_provider).strip().lower()
    if choice == "none":
        raise I18nError(
            "machine translation is switched off (LOTSE_TRANSLATION=none); "
            f"name a provider with --provider ({', '.join(PREFILL_PROVIDERS)})"
        )
    if choice not in PREFILL_PROVIDERS:
        raise I18nError(f"unknown translation provider {choice!r}; use one of: {', '.join(PREFILL_PROVIDERS)}")
    return provider_from_settings(replace(settings, translation_provider=choice))


def run(settings: Settings, languages: Sequence[str], provider_name: str | None) -> list[Tally]:
    """`lotse i18n translate`: fill the missing entries of `languages` in both domains."""
    plan = _plan(settings.locales_dir, languages)
    provider = choose_provider(settings, provider_name)
    try:
        return translate_missing(plan, provider)
    finally:
        if isinstance(provider, Closeable):
            provider.close()


def translate_missing(plan: Sequence[tuple[Path, Tally]], provider: TranslationProvider) -> list[Tally]:
    """Fill each planned catalog in turn, with one progress bar on stderr for the whole run."""
    tallies = [tally for _, tally in plan]
    bar = tqdm(total=sum(t.left for t in tallies), unit="entry", file=sys.stderr, dynamic_ncols=True)
    try:
        for path, tally in plan:
            bar.set_description(f"{tally.language}/{tally.domain}")
            try:
                _fill(path, tally, provider, bar.update)
            except TranslationUnavailable as exc:
                filled = sum(t.filled for t in tallies)
                reason = " ".join(str(exc).split())  # one line, whatever the provider sent
                saved = f"the {filled} entries filled before are saved" if filled else "nothing was filled"
                raise PrefillStopped(f"machine translation stopped: {reason}; {saved}", tallies) from None
    finally:
        bar.close()
    return tallies


def _plan(locales_dir: Path, languages: Sequence[str]) -> list[tuple[Path, Tally]]:
    """Every catalog to fill with its count of missing entries; checked before any text is sent."""
    plan = []
    for language in dict.fromkeys(languages):
        if language not in TRANSLATED_LANGUAGES:
            raise I18nError(f"no catalogs for {language!r}; languages: {', '.join(TRANSLATED_LANGUAGES)}")
        for domain in DOMAINS:
            path = catalog_path(locales_dir, language, domain)
            if not path.exists():
                raise I18nError(f"{path} does not exist; run `lotse i18n update --lang {language}` first")
            missing = sum(1 for m in read_catalog(path, language, domain) if _missing(m.id, m.string))
            plan.append((path, Tally(language, domain, left=missing)))
    return plan


def _missing(msgid: object, string: object) -> bool:
    return bool(msgid) and not first_string(string)


def _fill(path: Path, tally: Tally, provider: TranslationProvider, advance: Callable[[int], object]) -> None:
    """Translate the catalog's missing entries; save the drafts even when the provider fails."""
    target = language_code(tally.language)

    def translate(words: str) -> str:
        return translate_in_pieces(
            words, provider.max_chars, lambda piece: provider.translate(piece, SOURCE_LANGUAGE, target)
        )

    drafts: dict[tuple[str | None, str], str] = {}
    try:
        for message in read_catalog(path, tally.language, tally.domain):
            if not _missing(message.id, message.string):
                continue
            draft = None
            if isinstance(message.id, str):  # plural forms differ by language: left to a person
                try:
                    draft = machine_draft(message.id, translate)
                except TranslationUnavailable as exc:
                    if exc.provider_down:
                        raise
            if draft is None:
                tally.failed += 1
            else:
                drafts[(message.context, first_string(message.id))] = draft
                tally.filled += 1
                tally.left -= 1
            advance(1)
    finally:
        if drafts:
            _save(path, tally, drafts)


def _save(path: Path, tally: Tally, drafts: dict[tuple[str | None, str], str]) -> None:
    """Write the drafts into the catalog as it is now, into entries that are still empty.

    Read again because a run takes minutes: a translator who saved the file from Poedit meanwhile
    keeps their work, and an entry they filled is not overwritten by the machine.
    """
    catalog = read_catalog(path, tally.language, tally.domain)
    for message in catalog:
        draft = drafts.get((message.context, first_string(message.id)))
        if draft is not None and isinstance(message.id, str) and not first_string(message.string):
            message.string = draft
            message.flags |= MACHINE_FLAGS
    write_catalog(path, catalog)
