"""Translations: complete for every language, placeholders intact, drafts marked, stale ones unused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.engine.engine import Engine
from bot.i18n.catalog_tools import extract_content, extract_messages
from bot.i18n.catalogs import Catalogs, Translator
from bot.i18n.coverage import USED_STATES, catalog_entries, catalog_path
from bot.i18n.languages import TRANSLATED_LANGUAGES
from tests.conftest import Chat, all_text

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
EMERGENCY_NUMBERS = ("110", "112", "116 117", "116 016", "0800 111 0 111", "0800 111 0 222")


def _catalog(settings: Settings, lang: str, domain: str) -> dict[tuple[str | None, str], tuple[str, str]]:
    """(context, German) -> (translation, state) of one language's catalog."""
    path = catalog_path(settings.locales_dir, lang, domain)
    return {(e.context, e.source): (e.translation, e.state) for e in catalog_entries(path, lang, domain)}


@pytest.mark.parametrize("lang", TRANSLATED_LANGUAGES)
def test_every_source_string_is_translated_with_placeholders_and_numbers_intact(
    settings: Settings, lang: str
) -> None:
    for domain, template in (("messages", extract_messages()), ("content", extract_content(settings))):
        translated = _catalog(settings, lang, domain)
        for message in template:
            if not message.id:
                continue
            key = (message.context, message.id)
            assert key in translated, f"{lang}/{domain}: missing {key}"
            text, state = translated[key]
            assert state in USED_STATES, f"{lang}/{domain}: {state} {key}"
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(str(message.id))), key
            for number in EMERGENCY_NUMBERS:
                if number in str(message.id):
                    assert number in text, f"{lang}: emergency number {number} changed in {key}"


async def test_answers_from_unreviewed_translations_say_so(engine: Engine) -> None:
    chat = Chat(engine)
    reply = await chat.say("ما هي مراحل إجراءات اللجوء في ألمانيا؟")
    assert reply.language == "ar"
    assert "(ترجمة آلية)" in all_text(reply) or "ترجمة" in all_text(reply)
    german = Chat(engine)
    reply = await german.say("Wie läuft das Asylverfahren ab?")
    assert "automatische Übersetzung" not in all_text(reply)


# One entry in each state, written as Poedit and Babel write them; the previous German of the
# changed draft runs over two lines, as `write_po` wraps it.
STATES_PO = r"""msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\n"

#, fuzzy, unreviewed
msgctxt "t:unreviewed"
msgid "Eins"
msgstr "One"

#, fuzzy, machine
msgctxt "t:machine"
msgid "Zwei"
msgstr "Two"

#, machine
msgctxt "t:machine-reviewed-in-poedit"
msgid "Drei"
msgstr "Three"

msgctxt "t:reviewed"
msgid "Vier"
msgstr "Four"

#, fuzzy, machine
#| msgid ""
#| "Fünf "
#| "alt"
msgctxt "t:changed-draft"
msgid "Fünf"
msgstr "Five (old)"

#, fuzzy
msgctxt "t:fuzzy-only"
msgid "Sechs"
msgstr "Six (old)"

msgctxt "t:missing"
msgid "Sieben"
msgstr ""
"""


def test_catalogs_serve_reviewed_entries_and_drafts_but_not_stale_or_missing_ones(tmp_path: Path) -> None:
    path = catalog_path(tmp_path, "en", "content")
    path.parent.mkdir(parents=True)
    path.write_text(STATES_PO, encoding="utf-8")
    states = {e.context: (e.state, e.previous_source) for e in catalog_entries(path, "en", "content")}
    assert states == {
        "t:unreviewed": ("unreviewed", None),
        "t:machine": ("machine", None),
        "t:machine-reviewed-in-poedit": ("reviewed", None),
        "t:reviewed": ("reviewed", None),
        "t:changed-draft": ("stale", "Fünf alt"),
        "t:fuzzy-only": ("stale", None),
        "t:missing": ("missing", None),
    }

    catalogs = Catalogs.load(tmp_path)
    served = {
        context: catalogs.lookup("en", source, context)
        for context, source in (
            ("t:unreviewed", "Eins"),
            ("t:machine", "Zwei"),
            ("t:machine-reviewed-in-poedit", "Drei"),
            ("t:reviewed", "Vier"),
            ("t:changed-draft", "Fünf"),
            ("t:fuzzy-only", "Sechs"),
            ("t:missing", "Sieben"),
        )
    }
    assert {c: (e.text, e.reviewed) if e else None for c, e in served.items()} == {
        "t:unreviewed": ("One", False),
        "t:machine": ("Two", False),
        "t:machine-reviewed-in-poedit": ("Three", True),
        "t:reviewed": ("Four", True),
        "t:changed-draft": None,
        "t:fuzzy-only": None,
        "t:missing": None,
    }

    draft, reviewed, stale = (Translator(catalogs, "en") for _ in range(3))
    assert draft.content("t:machine", "Zwei") == "Two" and draft.unreviewed_used
    assert reviewed.content("t:reviewed", "Vier") == "Four" and not reviewed.unreviewed_used
    assert stale.content("t:changed-draft", "Fünf") == "Fünf" and not stale.unreviewed_used
