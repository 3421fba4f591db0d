"""Extract, update and compile the gettext catalogs with Babel.

Two domains: `messages` (UI strings marked with `_()` in `bot/`) and `content` (every translatable
field of `content/`, with the context `<kind>:<id>:<field>`). Updating keeps translators' work: a
changed German source turns its translation fuzzy ("needs review") instead of dropping it.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.config import PROJECT_ROOT, Settings
from bot.i18n.languages import TRANSLATED_LANGUAGES
from bot.knowledge.content import load_content

DOMAINS = ("messages", "content")


def _template(domain: str) -> Catalog:
    return Catalog(project="Lotse", version="0.1", domain=domain, msgid_bugs_address="", charset="utf-8")


def extract_messages() -> Catalog:
    catalog = _template("messages")
    method_map = [("bot/**.py", "python")]
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PROJECT_ROOT),
        method_map=method_map,
        keywords={"_": None, "N_": None},
        comment_tags=("TRANSLATORS:",),
    ):
        if not filename.startswith("bot"):
            continue
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def extract_content(settings: Settings) -> Catalog:
    catalog = _template("content")
    for string in load_content(settings.content_dir).strings:
        catalog.add(string.text, locations=[(string.path, string.line)], context=string.context)
    return catalog


def extract(settings: Settings) -> list[Path]:
    settings.locales_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for domain, catalog in (("messages", extract_messages()), ("content", extract_content(settings))):
        path = settings.locales_dir / f"{domain}.pot"
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, sort_output=False, omit_header=False)
        written.append(path)
    return written


def update(settings: Settings, languages: list[str] | None = None) -> list[Path]:
    """Bring every language's catalogs in line with the templates (extracting them first)."""
    extract(settings)
    written = []
    for lang in languages or list(TRANSLATED_LANGUAGES):
        for domain in DOMAINS:
            with (settings.locales_dir / f"{domain}.pot").open("rb") as handle:
                template = read_po(handle)
            path = settings.locales_dir / lang / "LC_MESSAGES" / f"{domain}.po"
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                with path.open("rb") as handle:
                    catalog = read_po(handle, locale=lang)
                catalog.update(template, update_header_comment=False)
                catalog.obsolete.clear()
            else:
                catalog = Catalog(locale=lang, domain=domain, project="Lotse", charset="utf-8")
                catalog.update(template)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, sort_output=False, ignore_obsolete=True)
            written.append(path)
    return written


def compile_all(settings: Settings) -> list[Path]:
    written = []
    for path in sorted(settings.locales_dir.glob("*/LC_MESSAGES/*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle)
        target = path.with_suffix(".mo")
        with target.open("wb") as handle:
            write_mo(handle, catalog)
        written.append(target)
    return written
