"""Flood control: a user sending a hundred messages a minute is read, answered once, and never lost.

Through the engine with an injected clock (the minute is the user's, not the machine's), and end to
end through Telegram webhooks into a running service whose fake Bot API counts what the user got.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.engine import Engine
from bot.engine.flood import THROTTLED_INTENT, notice
from bot.engine.messages import Reply
from bot.engine.understanding import Understanding
from bot.storage.tables import inbox, outbox
from tests.conftest import Chat, all_text, berlin, payloads, stored_inbound
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.harness import WEBHOOK_SECRET, running_service, telegram_settings

NOTICE = notice(lambda german: german)  # the users here write German; new strings are not translated yet
START = berlin(2031, 3, 4, 10, 0)
QUESTIONS = (
    "Wie funktioniert das Asylverfahren?",
    "Ich suche einen Deutschkurs",
    "Was bedeutet eine Duldung?",
    "Wie bereite ich mich auf die Anhörung beim BAMF vor?",
)
EMERGENCY_NUMBERS = ("110", "112")


def database_of(engine: Engine) -> AsyncEngine:
    return engine.store.engine  # type: ignore[attr-defined, no-any-return]


def notices(replies: list[Reply]) -> int:
    return sum(m.text == NOTICE for reply in replies for m in reply.messages)


async def flood(
    chat: Chat, count: int, seconds_apart: float, texts: tuple[str, ...] = QUESTIONS
) -> list[Reply]:
    """`count` messages from START on, one every `seconds_apart` seconds of the user's clock."""
    replies = []
    for i in range(count):
        chat.now = START + dt.timedelta(seconds=seconds_apart * i)
        replies.append(await chat.say(texts[i % len(texts)]))
    return replies


async def test_a_hundred_messages_in_a_minute_get_answers_then_one_notice_then_quiet(engine: Engine) -> None:
    limit = engine.flood.limit
    assert 0 < limit < 100
    chat = Chat(engine)
    replies = await flood(chat, 100, seconds_apart=0.6)  # the last one at 59.4 s

    for reply in replies[:limit]:
        assert reply.messages and reply.intent != THROTTLED_INTENT, reply.intent
    assert replies[limit].intent == THROTTLED_INTENT
    assert [m.text for m in replies[limit].messages] == [NOTICE]
    assert all(not reply.messages for reply in replies[limit + 1 :])
    assert notices(replies) == 1
    stored = await stored_inbound(database_of(engine), "test", chat.user)
    assert stored == [QUESTIONS[i % len(QUESTIONS)] for i in range(100)]  # all of them, once each


async def test_danger_and_privacy_get_through_a_flood_and_answers_resume_after_a_minute(
    engine: Engine,
) -> None:
    limit = engine.flood.limit
    chat = Chat(engine)
    unanswered = "Meine Nachbarin fragt, ob es einen Schwimmkurs für Frauen gibt"
    replies = await flood(chat, limit + 3, seconds_apart=1.0, texts=(*QUESTIONS[:-1], unanswered))
    assert notices(replies) == 1 and not replies[-1].messages  # throttled by now
    assert any(unanswered == m for m in await stored_inbound(database_of(engine), "test", chat.user))

    chat.now = START + dt.timedelta(seconds=limit + 4)
    danger = await chat.say("ich kann nicht mehr, ich will mich umbringen")
    assert danger.intent == "emergency"
    assert all(number in danger.messages[0].text for number in EMERGENCY_NUMBERS)

    chat.now += dt.timedelta(seconds=1)
    export = await chat.say("/mydata")
    assert unanswered in all_text(export)  # what was not answered is stored and exported

    chat.now += dt.timedelta(seconds=1)
    delete = await chat.say("/delete")
    assert "privacy:delete" in payloads(delete)

    chat.now += dt.timedelta(seconds=61)
    later = await chat.say("Ich suche einen Deutschkurs")
    assert later.intent == "german_course" and later.answer_key == "german.course"
    assert NOTICE not in all_text(later)
    chat.now += dt.timedelta(seconds=1)
    assert (await chat.say("Was bedeutet eine Duldung?")).intent == "residence_status"


# ------------------------------------------------------------------ end to end: Telegram webhooks

WEBHOOK = "/telegram/webhook"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


async def _chat_rows(database: AsyncEngine, table: sa.Table, chat: str) -> list[str]:
    async with database.connect() as conn:
        rows = await conn.execute(
            sa.select(table.c.status).where(table.c.channel == "telegram", table.c.chat_id == chat)
        )
        return [row.status for row in rows]


async def test_a_hundred_telegram_updates_get_answers_and_one_notice_and_are_all_stored(
    fake: FakeBotApi, database_url: str, understanding: Understanding
) -> None:
    settings = telegram_settings(database_url, fake.base_url, fake.token, webhook=True)
    settings = dataclasses.replace(settings, flood_limit=20)
    user = random.randint(10**8, 10**10)
    updates = Updates(start_update_id=random.randint(10**6, 10**9))
    texts = ["/start de", *(f"/menu {i}" for i in range(2, 101))]  # distinct, each answered by one message
    async with running_service(settings, understanding) as running:
        database = running.service.lotse.database
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as client:
            for text in texts:
                response = await client.post(WEBHOOK, json=updates.text(user, text, "de"), headers=HEADERS)
                assert response.status_code == 200

        async def all_done() -> bool:
            inbound = await _chat_rows(database, inbox, str(user))
            outbound = await _chat_rows(database, outbox, str(user))
            return (
                inbound == ["done"] * len(texts)
                and bool(outbound)
                and all(status == "sent" for status in outbound)
                and len(fake.sent("sendMessage", user)) >= len(outbound)
            )

        deadline = dt.datetime.now() + dt.timedelta(seconds=300)
        while not await all_done():
            assert dt.datetime.now() < deadline, "the service did not work off the hundred messages"
            await asyncio.sleep(0.2)  # the service runs in this event loop
        stored = await stored_inbound(database, "telegram", str(user))
        outbox_rows = await _chat_rows(database, outbox, str(user))

    sent = [m["text"] for m in fake.sent("sendMessage", user)]
    limit = settings.flood_limit
    # greeting and privacy notice for /start, one menu for each of the next limit - 1, one notice
    assert len(sent) == len(outbox_rows) == limit + 2, sent
    assert sent.count(NOTICE) == 1 and sent[-1] == NOTICE
    assert sorted(stored) == sorted(texts)  # nothing lost, nothing twice
