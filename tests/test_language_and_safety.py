"""Language identification and the keyword safety net, without the NLU model."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.engine.dialogue import Dialogue, Turn
from bot.engine.messages import Inbound
from bot.engine.normalise import CUT_MARKER, MAX_MESSAGE_CHARS, clean, for_storage, has_words
from bot.engine.safety import SafetyNet
from bot.engine.state import ConversationState
from bot.engine.understanding import EMPTY_PARSE, Parse
from bot.i18n.catalogs import Catalogs
from bot.i18n.langid import LanguageIdentifier
from bot.knowledge.content import Content
from bot.live.editions import Editions

NOW = dt.datetime(2031, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))

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


def test_a_long_message_is_kept_up_to_the_messenger_limit_and_cut_visibly_beyond() -> None:
    telegram_sized = "Frage " * (MAX_MESSAGE_CHARS // 6)
    assert for_storage(telegram_sized) == telegram_sized  # nothing a messenger user can send is cut
    pasted = "Brief vom Amt. " * 1000
    kept = for_storage(pasted)
    assert len(kept) == MAX_MESSAGE_CHARS and kept.endswith(CUT_MARKER)
    assert pasted.startswith(kept.removesuffix(CUT_MARKER))


def test_the_safety_net_reads_a_long_message_to_its_end(content: Content) -> None:
    """A cry for help after a long description must not fall beyond what the NLU reads."""
    text = "Ich erkläre Ihnen meine Lage mit der Wohnung und dem Amt. " * 30 + "Ich will nicht mehr leben."
    assert len(text) > 1000
    hit = SafetyNet(content.safety).check(text)
    assert hit is not None and hit.category == "suicide"


HUELBEN = "Ich wohne in Hülben"
EMERGENCY_NUMBERS = ("110", "112")


def _dialogue_turn(content: Content, catalogs: Catalogs, parse: Parse) -> Turn:
    state = ConversationState(conversation_id=1, user_id=1, language="de", language_explicit=True)
    inbound = Inbound("test", "u-huelben", text=HUELBEN)
    return Dialogue(Editions(content, catalogs)).respond(state, inbound, parse, "de", NOW)


def test_an_unsure_emergency_guess_is_not_answered_as_an_emergency(
    content: Content, catalogs: Catalogs
) -> None:
    """Between the general threshold and the emergency one, the classifier guesses: no alarm."""
    assert SafetyNet(content.safety).check(HUELBEN) is None
    ranking = (("emergency", 0.39), ("integration_manager", 0.22), ("counselling_hours", 0.12))
    turn = _dialogue_turn(content, catalogs, Parse("emergency", 0.39, ranking))
    text = "\n".join(m.text for m in turn.messages)
    assert turn.intent != "emergency" and turn.answer_key is None
    assert not any(number in text for number in EMERGENCY_NUMBERS)
    assert turn.handover_request is None
    buttons = [b.payload for m in turn.messages for b in m.buttons]
    assert buttons[0] == "intent:emergency"  # if it was one after all, the numbers are one tap away


def test_a_sure_emergency_is_answered_with_the_numbers_first(content: Content, catalogs: Catalogs) -> None:
    turn = _dialogue_turn(content, catalogs, Parse("emergency", 0.6, (("emergency", 0.6),)))
    assert turn.intent == "emergency"
    assert all(number in turn.messages[0].text for number in EMERGENCY_NUMBERS)


@pytest.mark.parametrize(
    ("language", "caption"), [("ar", "ضربني"), ("de", "Er schlägt mich"), ("uk", "мене б'є чоловік")]
)
def test_a_cry_for_help_in_a_photo_caption_gets_the_emergency_numbers_first(
    content: Content, catalogs: Catalogs, language: str, caption: str
) -> None:
    """The classifier alone misses short captions; the keyword net must read them as it reads texts."""
    assert SafetyNet(content.safety).check(caption) is not None
    state = ConversationState(conversation_id=1, user_id=1, language=language, language_explicit=True)
    inbound = Inbound("test", "u-photo", text=caption, kind="photo")
    turn = Dialogue(Editions(content, catalogs)).respond(state, inbound, EMPTY_PARSE, language, NOW)
    assert turn.intent == "emergency"
    assert all(number in turn.messages[0].text for number in EMERGENCY_NUMBERS)
