"""Handing a chat to a person: consent, routing, priority, honest waiting times and deadlines."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.engine.engine import Engine
from bot.handover.sla import first_response_due
from bot.knowledge.content import Content
from bot.storage.tables import conversations, handovers, users
from tests.conftest import Chat, all_text, berlin, payloads

SATURDAY_EVENING = berlin(2026, 11, 21, 19, 0)
TUESDAY_MORNING = berlin(2026, 11, 24, 10, 0)


async def open_handovers(engine: Engine, chat: Chat) -> list[sa.Row]:  # type: ignore[type-arg]
    async with engine.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(
            (
                await conn.execute(
                    sa.select(handovers, conversations.c.status.label("conversation_status"))
                    .join(conversations, conversations.c.id == handovers.c.conversation_id)
                    .join(users, users.c.id == conversations.c.user_id)
                    .where(users.c.external_id == chat.user)
                    .order_by(handovers.c.id)
                )
            ).all()
        )


async def test_nothing_is_shared_before_the_user_agrees(engine: Engine) -> None:
    chat = Chat(engine, TUESDAY_MORNING)
    asked = await chat.say("Ich möchte mit einem Menschen sprechen", town="pfullingen")
    assert "handover:yes" in payloads(asked) and "handover:no" in payloads(asked)
    assert await open_handovers(engine, chat) == []
    declined = await chat.press("handover:no")
    assert "handover:yes" not in payloads(declined)
    assert await open_handovers(engine, chat) == []


async def test_consent_routes_to_the_team_of_the_users_town(engine: Engine) -> None:
    chat = Chat(engine, TUESDAY_MORNING)
    await chat.say("Ich möchte mit einem Menschen sprechen", town="pfullingen")
    done = await chat.press("handover:yes")
    (row,) = await open_handovers(engine, chat)
    assert row.team_id == "im-kreis-echaz-steinlach"  # Pfullingen is served by the district's team
    assert (row.priority, row.reason, row.status) == (2, "user_request", "waiting")
    assert row.conversation_status == "waiting"
    assert "Team Echaz-Steinlach" in all_text(done)


async def test_an_unknown_town_is_asked_before_routing(engine: Engine) -> None:
    chat = Chat(engine, TUESDAY_MORNING)
    await chat.say("Ich möchte mit einem Menschen sprechen")
    asked = await chat.press("handover:yes")
    assert any(p.startswith("town:") for p in payloads(asked))
    assert await open_handovers(engine, chat) == []
    routed = await chat.press("town:metzingen")
    (row,) = await open_handovers(engine, chat)
    assert row.team_id == "im-stadt-metzingen" and row.town == "metzingen"
    assert "Metzingen" in all_text(routed)


async def test_priorities_emergency_before_deadline_before_normal(engine: Engine) -> None:
    emergency = Chat(engine, TUESDAY_MORNING)
    first = await emergency.say("Mein Mann schlägt mich, ich habe Angst", town="reutlingen")
    assert "110" in first.messages[0].text  # the numbers come first, before any offer
    await emergency.press("handover:yes")
    deadline = Chat(engine, TUESDAY_MORNING)
    await deadline.say("Mein Asylantrag wurde abgelehnt, was kann ich tun?", town="reutlingen")
    await deadline.press("handover:offer")
    await deadline.press("handover:yes")
    (urgent,) = await open_handovers(engine, emergency)
    (legal,) = await open_handovers(engine, deadline)
    assert (urgent.reason, urgent.priority) == ("emergency", 0)
    assert (legal.reason, legal.priority) == ("deadline", 1)


async def test_two_misunderstandings_lead_to_a_routed_handover(engine: Engine) -> None:
    chat = Chat(engine, TUESDAY_MORNING)
    await chat.say("qwxz plomf trrk", town="eningen")
    offer = await chat.say("zzkv brrml ptx")
    assert "handover:yes" in payloads(offer)
    await chat.press("handover:yes")
    (row,) = await open_handovers(engine, chat)
    assert row.reason == "misunderstanding" and row.team_id == "im-kreis-echaz-steinlach"


async def test_asking_again_keeps_one_case_and_an_emergency_raises_its_priority(engine: Engine) -> None:
    chat = Chat(engine, TUESDAY_MORNING)
    await chat.say("Ich möchte mit einem Menschen sprechen", town="reutlingen")
    await chat.press("handover:yes")
    again = await chat.say("Ich möchte mit einem Menschen sprechen")
    await chat.press("handover:yes")
    danger = await chat.say("Ich will mich umbringen")
    rows = await open_handovers(engine, chat)
    assert len(rows) == 1, "a chat is in the queue once"
    assert rows[0].priority == 0 and rows[0].reason == "emergency"
    assert "0800 111 0 111" in all_text(danger)
    assert "handover:yes" not in payloads(danger), "a person is already asked for"
    assert again.handover


async def test_saturday_evening_is_told_mondays_opening_in_arabic(engine: Engine) -> None:
    chat = Chat(engine, SATURDAY_EVENING)
    await chat.say("أريد التحدث مع موظف من فضلك", town="reutlingen", language="ar")
    done = await chat.press("handover:yes")
    text = all_text(done)
    assert "الاثنين" in text, text  # Monday
    assert "23" in text and "8:30" in text, text
    assert "Montag" not in text and "Monday" not in text


async def test_in_office_hours_the_user_is_told_the_team_is_there(engine: Engine) -> None:
    chat = Chat(engine, TUESDAY_MORNING)
    await chat.say("Ich möchte mit einem Menschen sprechen", town="reutlingen")
    done = await chat.press("handover:yes")
    assert "gerade im Dienst" in all_text(done)


async def test_the_deadline_counts_only_office_hours(engine: Engine) -> None:
    chat = Chat(engine, SATURDAY_EVENING)
    await chat.say("Ich möchte mit einem Menschen sprechen", town="reutlingen")
    await chat.press("handover:yes")
    (row,) = await open_handovers(engine, chat)
    due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=dt.timezone.utc)
    # Reutlingen: Mon 08:30–12:00 (210 min), Tue 08:30–12:00 (210 min), Tue from 14:00: 60 more minutes
    assert due == berlin(2026, 11, 24, 15, 0)


def test_deadlines_skip_weekends_holidays_and_closures(content: Content) -> None:
    calendar = content.calendar
    reutlingen = content.teams["im-stadt-reutlingen"]
    ermstal = content.teams["im-kreis-ermstal"]
    # an emergency on Friday 11:45: 15 minutes on Friday, the other 15 on Monday morning
    assert first_response_due(calendar, reutlingen, berlin(2026, 11, 27, 11, 45), 0) == berlin(
        2026, 11, 30, 8, 45
    )
    # in office hours an emergency is due within 30 minutes
    assert first_response_due(calendar, reutlingen, berlin(2026, 11, 24, 9, 0), 0) == berlin(
        2026, 11, 24, 9, 30
    )
    # Ermstal closes over Christmas until 6 January; its next opening is Thursday 7 January 14:00
    assert first_response_due(calendar, ermstal, berlin(2026, 12, 22, 18, 0), 0) == berlin(2027, 1, 7, 14, 30)
    # Thursday 24 December, 10 minutes before closing: Christmas Day (Friday) is a public holiday
    assert first_response_due(calendar, reutlingen, berlin(2026, 12, 24, 16, 20), 0) == berlin(
        2026, 12, 28, 8, 50
    )
    # no team: wall-clock time, never no deadline
    assert first_response_due(calendar, None, berlin(2026, 11, 21, 19, 0), 0) == berlin(2026, 11, 21, 19, 30)
