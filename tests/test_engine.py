"""The conversation as a refugee experiences it, through the real NLU model and real storage."""

from __future__ import annotations

import re

import pytest

from bot.engine.engine import Engine
from bot.knowledge.content import Content
from tests.conftest import Chat, all_text, berlin, payloads

ARABIC = re.compile(r"[\u0600-\u06ff]")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")


async def test_rejected_asylum_claim_gives_deadlines_and_offers_a_person(chat: Chat) -> None:
    reply = await chat.say("Mein Asylantrag wurde abgelehnt, was kann ich tun?")
    assert reply.intent == "asylum_rejected"
    assert reply.answer_key == "asylum.rejected"
    assert reply.handover is True
    text = all_text(reply)
    assert "Klage" in text and "Woche" in text
    assert "handover:offer" in payloads(reply)
    consent = await chat.press("handover:offer")
    assert "handover:yes" in payloads(consent)


async def test_arabic_kita_question_is_answered_in_arabic(chat: Chat) -> None:
    reply = await chat.say("مرحبا، بدي مكان بالروضة لبنتي، كيف بلاقي كيتا؟")
    assert reply.intent == "kita_place"
    assert reply.language == "ar"
    asked = all_text(reply)
    assert ARABIC.search(asked)
    assert any(p.startswith("age:") for p in payloads(reply))
    reply = await chat.press("age:u3")
    reply = await chat.press("status:municipality")
    assert reply.language == "ar" and reply.answer_key == "kita.age.u3"
    assert ARABIC.search(all_text(reply))


@pytest.mark.parametrize(
    ("when", "expected_day"),
    [
        (berlin(2026, 11, 22, 11, 0), 23),  # Sunday -> Monday 23 November
        (berlin(2026, 12, 25, 10, 0), 28),  # Christmas Day (Friday) -> Monday 28 December
    ],
)
async def test_dari_counselling_hours_names_the_team_and_next_opening(
    engine: Engine, content: Content, when: object, expected_day: int
) -> None:
    chat = Chat(engine, now=when)  # type: ignore[arg-type]
    reply = await chat.say("ساعات کاری مشاوره چه وقت است؟ کی باز است؟", town="pfullingen")
    assert reply.intent == "counselling_hours"
    assert reply.language == "fa"
    team = content.team_for("pfullingen")
    assert team is not None
    text = all_text(reply)
    assert team.name in text
    opening = content.calendar.next_opening(team, when)  # type: ignore[arg-type]
    assert opening is not None and opening.start.day == expected_day
    from bot.i18n.formatting import day_text

    assert day_text(opening.start, "fa") in text


SUICIDAL = {
    "de": "ich kann nicht mehr, ich will mich umbringen",
    "en": "i dont want to live anymore",
    "ar": "ما بدي عيش بعد اليوم، بدي موت",
    "fa": "دیگه نمیخوام زنده باشم",
    "uk": "я не хочу більше жити",
    "ru": "не хочу больше жить",
    "tr": "artık yaşamak istemiyorum",
}


@pytest.mark.parametrize("lang", sorted(SUICIDAL))
async def test_suicidal_message_gets_the_emergency_answer_first(chat: Chat, lang: str) -> None:
    reply = await chat.say(SUICIDAL[lang])
    assert reply.intent == "emergency"
    first = reply.messages[0].text
    assert "0800 111 0 111" in first and "112" in first
    assert reply.handover is True


async def test_town_is_asked_with_buttons_remembered_and_changeable(chat: Chat) -> None:
    reply = await chat.say("gibt es Fußball für Kinder?")
    assert reply.intent == "sports_offers"
    assert "town:reutlingen" in payloads(reply)
    reply = await chat.press("town:reutlingen")
    assert "Reutlingen" in all_text(reply) and reply.answer_key == "sports.offers"
    reply = await chat.say("wann ist die Sprechstunde?")
    assert reply.answer_key == "counselling.hours" and "Reutlingen" in all_text(reply)
    reply = await chat.press("town:change")
    reply = await chat.say("Metzingen")
    assert "Metzingen" in all_text(reply)


async def test_typed_town_with_a_typo_is_understood(chat: Chat) -> None:
    await chat.say("wann hat das Integrationsmanagement offen?")
    reply = await chat.say("Reutlngen")
    assert reply.answer_key == "counselling.hours"
    assert "Reutlingen" in all_text(reply)


async def test_asylum_procedure_walks_step_by_step(chat: Chat, content: Content) -> None:
    reply = await chat.say("how does the asylum procedure work?")
    assert reply.intent == "asylum_procedure"
    steps = [p for p in payloads(reply) if p.startswith("topic:asylum.step.")]
    assert len(steps) == len(content.steps)
    reply = await chat.press("topic:asylum.step.hearing")
    assert reply.answer_key == "asylum.step.hearing"
    assert "topic:asylum.step.decision" in payloads(reply)


async def test_two_misunderstandings_in_a_row_offer_a_person(chat: Chat) -> None:
    first = await chat.say("qwxz plomf trrk")
    assert first.intent == "nlu_fallback"
    assert "cmd:menu" in payloads(first)
    second = await chat.say("zzkv brrml ptx")
    assert second.handover is True
    assert "handover:yes" in payloads(second)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "🙂🙂🙂", "\u200b\u200f\u202e", "a" * 10_000, "Kita Kita " * 1000, "مرحبا hello привіт 你好"],
    ids=["empty", "blank", "emoji", "controls", "10000-chars", "repeated-words", "mixed-scripts"],
)
async def test_bad_input_gets_a_polite_answer(chat: Chat, text: str) -> None:
    reply = await chat.say(text)
    assert reply.messages and all(m.text for m in reply.messages)


async def test_unknown_button_gets_a_menu(chat: Chat) -> None:
    reply = await chat.press("teleport:mars")
    assert "intent:asylum_procedure" in payloads(reply)
    reply = await chat.press("town:atlantis")
    assert "intent:asylum_procedure" in payloads(reply)


async def test_unknown_town_is_asked_again(chat: Chat) -> None:
    await chat.say("wann hat die Beratung offen?")
    reply = await chat.say("Atlantis")
    assert any(p.startswith("town:") for p in payloads(reply))


async def test_language_menu_and_explicit_choice_win(chat: Chat) -> None:
    reply = await chat.press("lang:uk")
    assert reply.language == "uk"
    reply = await chat.say("Wann sind die Sprechzeiten?")
    assert reply.language == "uk"


async def test_out_of_scope_says_honestly_what_lotse_does(chat: Chat) -> None:
    reply = await chat.say("what will the weather be like tomorrow in Paris?")
    assert reply.intent == "out_of_scope"
    assert "intent:kita_place" in payloads(reply)


async def test_town_named_in_the_question_is_used_also_with_arabic_prefix(engine: Engine) -> None:
    german = Chat(engine)
    reply = await german.say("gibt es einen Schwimmkurs für Frauen in Metzingen?")
    assert reply.answer_key == "swimming.courses"
    assert "Metzingen" in all_text(reply)
    arabic = Chat(engine)
    reply = await arabic.say("وين في مسبح للنساء بميتسينغن؟")
    assert reply.language == "ar" and reply.answer_key == "swimming.courses"
    assert not any(p.startswith("town:") and p != "town:change" for p in payloads(reply))


async def test_childs_age_in_the_question_is_not_asked_again(chat: Chat) -> None:
    reply = await chat.say("моєму синові 4 роки, потрібен садочок")
    assert reply.language == "uk"
    assert not any(p.startswith("age:") for p in payloads(reply))
    assert "status:reception" in payloads(reply)
    reply = await chat.press("status:municipality")
    assert reply.answer_key == "kita.age.kindergarten"


async def test_language_switch_by_text(chat: Chat) -> None:
    reply = await chat.say("I want Arabic please")
    assert reply.intent == "change_language" and reply.language == "ar"
    reply = await chat.say("wann ist die Sprechstunde in Reutlingen?")
    assert reply.language == "ar"


async def test_swimming_for_women_shows_the_women_only_course_first(engine: Engine, content: Content) -> None:
    women_only = [p for p in content.places if p.sport == "swimming" and "women" in p.target_group]
    assert women_only
    chat = Chat(engine)
    reply = await chat.say("gibt es schwimmkurs nur für frauen?", town=women_only[0].town)
    offers = next(m.text for m in reply.messages if "– " in m.text and women_only[0].name in m.text)
    other = [p for p in content.places if p.sport == "swimming" and "women" not in p.target_group]
    assert all(p.name not in offers for p in other)
