"""The training data covers every intent in every language, and the town lookup comes from content."""

from __future__ import annotations

import pytest
import yaml

from bot.config import Settings
from bot.knowledge.content import Content
from bot.understanding.examples import strip_annotations
from bot.understanding.training import data_hash, towns_lookup_yaml
from tests.conftest import ROOT

LANGS = ("de", "en", "ar", "fa", "uk", "ru", "tr")
TOPIC_INTENTS = (
    "asylum_procedure", "asylum_interview", "asylum_decision", "asylum_rejected", "residence_status",
    "kita_place", "kita_application", "sports_offers", "swimming", "counselling_hours", "integration_manager",
    "specialised_counselling", "german_course", "emergency", "human_handoff",
)  # fmt: skip
CONVERSATION_INTENTS = (
    "greet", "goodbye", "thanks", "affirm", "deny", "bot_capabilities", "change_language", "out_of_scope",
)  # fmt: skip


def _examples(lang: str) -> dict[str, list[str]]:
    data = yaml.safe_load((ROOT / "nlu" / f"{lang}.yml").read_text(encoding="utf-8"))
    result: dict[str, list[str]] = {}
    for block in data["nlu"]:
        if "intent" in block:
            lines = [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
            result.setdefault(block["intent"], []).extend(lines)
    return result


@pytest.mark.parametrize("lang", LANGS)
def test_every_intent_has_enough_distinct_examples(lang: str) -> None:
    examples = _examples(lang)
    for intent in TOPIC_INTENTS:
        assert len(set(examples.get(intent, []))) >= 15, f"{lang}: {intent}"
    for intent in CONVERSATION_INTENTS:
        assert len(set(examples.get(intent, []))) >= 8, f"{lang}: {intent}"


def test_languages_are_not_copies_of_each_other() -> None:
    seen: dict[str, str] = {}
    for lang in LANGS:
        for intent, lines in _examples(lang).items():
            for line in lines:
                key = strip_annotations(line).casefold()
                if len(key) > 25 and key in seen and seen[key] != lang:
                    pytest.fail(f"{intent}: {line!r} appears in {lang} and {seen[key]}")
                seen[key] = lang


def test_town_lookup_is_generated_from_content_and_changes_the_hash(
    content: Content, settings: Settings
) -> None:
    names = content.town_names()
    lookup = yaml.safe_load(towns_lookup_yaml(names))
    listed = [line[2:] for line in lookup["nlu"][0]["examples"].splitlines()]
    assert "Reutlingen" in listed and "Münsingen" in listed
    assert data_hash(settings, names) != data_hash(settings, [*names, "Neustadt"])
