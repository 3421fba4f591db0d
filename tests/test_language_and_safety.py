"""Language identification and the keyword safety net, without the NLU model."""

from __future__ import annotations

import pytest

from bot.engine.normalise import clean, has_words
from bot.engine.safety import SafetyNet
from bot.i18n.langid import LanguageIdentifier
from bot.knowledge.content import Content

SAMPLES = {
    "de": "Wo kann ich mein Kind für den Kindergarten anmelden?",
    "en": "where can i register my daughter for daycare",
    "ar": "وين بقدر سجل ابني بالروضة؟",
    "fa": "کجا می‌توانم پسرم را در کودکستان ثبت نام کنم؟",
    "uk": "Де я можу записати дитину в дитячий садок?",
    "ru": "Где можно записать ребёнка в детский сад?",
    "tr": "Çocuğumu anaokuluna nereye kaydettirebilirim?",
}


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_identifies_each_language(langid: LanguageIdentifier, lang: str) -> None:
    assert langid.identify(SAMPLES[lang]) == lang


def test_short_or_ambiguous_text_keeps_the_conversation_language(langid: LanguageIdentifier) -> None:
    assert langid.identify("ok") is None
    assert langid.identify("👍👍") is None


SUICIDAL = {
    "de": "ich will nicht mehr leben",
    "en": "i want to kill myself",
    "ar": "بدي انتحر",
    "fa": "می‌خواهم خودکشی کنم",
    "uk": "я хочу покінчити з життям",
    "ru": "хочу покончить с собой",
    "tr": "intihar etmek istiyorum",
}


@pytest.mark.parametrize("lang", sorted(SUICIDAL))
def test_safety_net_catches_suicidal_messages(content: Content, lang: str) -> None:
    hit = SafetyNet(content.safety).check(SUICIDAL[lang])
    assert hit is not None and hit.category == "suicide"


@pytest.mark.parametrize(
    "text",
    [
        "Mein Asylantrag wurde abgelehnt, was kann ich tun?",
        "wann hat die Beratung offen",
        "where is the football training",
        "ما هي مواعيد الاستشارة",
        "коли працює консультація",
    ],
)
def test_safety_net_stays_quiet_on_ordinary_questions(content: Content, text: str) -> None:
    assert SafetyNet(content.safety).check(text) is None


def test_clean_strips_controls_and_keeps_words() -> None:
    assert clean("\u200fمرحبا\u200b \u202eKita\u202c") == "مرحبا Kita"
    assert not has_words("🙂🙂 !!!")
    assert len(clean("a" * 10_000)) <= 1000
