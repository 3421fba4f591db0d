"""Very long messages: understood from their beginning, kept up to the messengers' own limit, said so.

Telegram and WhatsApp let a user send at most 4096 characters; the web chat page as many as the
engine keeps. Other clients of the web chat API may post up to 10 000: the engine keeps the
beginning, marks the cut, and tells the user it read only the first part.
"""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.webchat.channel import CHANNEL, chat_id_for
from bot.channels.webchat.routes import MAX_TEXT
from bot.config import Settings
from bot.engine.engine import Engine
from bot.engine.normalise import CUT_MARKER, MAX_MESSAGE_CHARS, MAX_UNDERSTOOD_CHARS
from bot.engine.understanding import Understanding
from bot.i18n.catalogs import Catalogs, Translator
from tests.conftest import Chat, all_text, stored_inbound
from tests.harness import running_service

LONG_NOTICE = "Ihre Nachricht ist sehr lang. Ich habe nur den Anfang gelesen. Wenn meine Antwort nicht passt, schreiben Sie mir Ihre Frage bitte kurz in ein oder zwei Sätzen."
QUESTION = "Wie melde ich mein Kind für einen Kita-Platz an? "
STORY = "Wir wohnen seit einem Jahr hier und hatten viele Termine beim Amt. "


def database_of(engine: Engine) -> AsyncEngine:
    return engine.store.engine  # type: ignore[attr-defined, no-any-return]


async def test_a_question_with_a_long_story_is_answered_and_the_user_told_what_was_read(
    engine: Engine,
) -> None:
    chat = Chat(engine)
    text = QUESTION + STORY * 40  # about 2700 characters: stored in full, understood from the start
    assert MAX_UNDERSTOOD_CHARS < len(text) < MAX_MESSAGE_CHARS
    reply = await chat.say(text)
    assert reply.answer_key is not None  # answered from what was read
    assert LONG_NOTICE in [m.text for m in reply.messages]
    assert await stored_inbound(database_of(engine), "test", chat.user) == [text]


async def test_a_short_question_gets_no_length_notice(chat: Chat) -> None:
    reply = await chat.say(QUESTION)
    assert LONG_NOTICE not in all_text(reply)


async def test_a_cry_for_help_at_the_end_of_a_long_message_gets_the_emergency_answer_first(
    chat: Chat,
) -> None:
    reply = await chat.say(STORY * 30 + "Ich kann nicht mehr, ich will mich umbringen.")
    assert reply.intent == "emergency"
    assert "112" in reply.messages[0].text


async def test_a_text_over_the_limit_is_stored_cut_and_marked(engine: Engine) -> None:
    chat = Chat(engine)
    reply = await chat.say(QUESTION + STORY * 150)  # about 10 000 characters
    assert LONG_NOTICE in [m.text for m in reply.messages]
    (stored,) = await stored_inbound(database_of(engine), "test", chat.user)
    assert len(stored) == MAX_MESSAGE_CHARS and stored.endswith(CUT_MARKER)
    assert stored.startswith(QUESTION)


async def test_web_chat_keeps_the_limit_on_the_page_and_answers_long_texts_politely(
    database_url: str, understanding: Understanding, catalogs: Catalogs
) -> None:
    settings = Settings(database_url=database_url, telegram_token="", whatsapp_token="")
    async with running_service(settings, understanding) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as client:
            page = await client.get("/?lang=ar")
            assert f'data-max-chars="{MAX_MESSAGE_CHARS}"' in page.text  # the page's own limit
            note = Translator(catalogs, "ar")._("Die Nachricht ist zu lang. Bitte fassen Sie sich kürzer.")
            assert note in page.text  # shown instead of an error, for typing and for a refused post

            token = (await client.post("/webchat/api/session")).json()["session"]
            headers = {"X-Lotse-Session": token}
            long_text = QUESTION + STORY * 100  # about 6800 characters, more than the page lets through
            answered = await client.post(
                "/webchat/api/messages?wait=30",
                json={"id": uuid.uuid4().hex, "text": long_text, "language": "de"},
                headers=headers,
            )
            assert answered.status_code == 200
            texts = [m["text"] for m in answered.json()["messages"]]
            assert LONG_NOTICE in texts, texts

            refused = await client.post(
                "/webchat/api/messages",
                json={"id": uuid.uuid4().hex, "text": "x" * (MAX_TEXT + 1)},
                headers=headers,
            )
            assert refused.status_code == 413  # the page shows its note for this status
        chat_id = chat_id_for(token)
        assert chat_id is not None
        stored = await stored_inbound(running.service.lotse.database, CHANNEL, chat_id)
    assert len(stored) == 1 and stored[0].endswith(CUT_MARKER) and stored[0].startswith(QUESTION)
