"""Translations: complete for every language, placeholders intact, unreviewed entries marked."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from bot.config import Settings
from bot.engine.engine import Engine
from bot.i18n.catalog_tools import extract_content, extract_messages
from bot.i18n.languages import TRANSLATED_LANGUAGES
from tests.conftest import Chat, all_text

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
EMERGENCY_NUMBERS = ("110", "112", "116 117", "116 016", "0800 111 0 111", "0800 111 0 222")


def _catalog(
    settings: Settings, lang: str, domain: str
) -> dict[tuple[str | None, str], tuple[str, set[str]]]:
    path = settings.locales_dir / lang / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {(m.context, m.id): (m.string, set(m.flags)) for m in catalog if m.id}  # type: ignore[misc]


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
            text, flags = translated[key]
            assert text and "fuzzy" not in flags, f"{lang}/{domain}: untranslated or stale {key}"
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
