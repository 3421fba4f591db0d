"""Poster deep links (`t.me/<bot>?start=<lang>_<town>`) for every town, including those with a hyphen."""

from __future__ import annotations

from bot.knowledge.content import Content
from tests.conftest import Chat, all_text


async def test_a_poster_link_to_a_hyphenated_town_routes_a_handover_to_its_team(
    chat: Chat, content: Content
) -> None:
    await chat.say("/start de_bad-urach")
    consent = await chat.press("intent:human_handoff")
    assert "handover:yes" in {b.payload for m in consent.messages for b in m.buttons}
    reply = await chat.press("handover:yes")
    assert not any(b.payload.startswith("town:") for m in reply.messages for b in m.buttons), (
        "asked for the town"
    )
    assert content.teams["im-kreis-ermstal"].name in all_text(reply)


async def test_a_language_and_town_joined_by_a_hyphen_still_work(chat: Chat, content: Content) -> None:
    greeting = await chat.say("/start de-metzingen")
    assert greeting.language == "de"
    await chat.press("intent:human_handoff")
    reply = await chat.press("handover:yes")
    assert content.teams["im-stadt-metzingen"].name in all_text(reply)
