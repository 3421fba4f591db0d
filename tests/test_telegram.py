"""Telegram end to end: python-telegram-bot against a fake Bot API server, over real HTTP.

The service runs as `lotse serve` runs it (same ASGI app, pipeline and channel), once with long
polling and once with the webhook; the fake records what a Telegram user would have seen.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.channels.telegram.client import COMMANDS
from bot.engine.understanding import Understanding
from bot.i18n.catalogs import Catalogs, Translator
from bot.i18n.languages import LANGUAGES
from bot.knowledge.content import Content
from bot.storage.tables import inbox, messages
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.harness import WEBHOOK_SECRET, Running, running_service, telegram_settings

WEBHOOK = "/telegram/webhook"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


@pytest.fixture
def updates() -> Updates:
    return Updates(start_update_id=random.randint(10**6, 10**9))


@pytest.fixture
async def polling(
    fake: FakeBotApi, database_url: str, understanding: Understanding
) -> AsyncIterator[Running]:
    settings = telegram_settings(database_url, fake.base_url, fake.token)
    async with running_service(settings, understanding) as running:
        yield running


@pytest.fixture
async def webhook(
    fake: FakeBotApi, database_url: str, understanding: Understanding
) -> AsyncIterator[Running]:
    settings = telegram_settings(database_url, fake.base_url, fake.token, webhook=True)
    async with running_service(settings, understanding) as running:
        yield running


def new_user() -> int:
    return random.randint(10**8, 10**10)


async def replies(fake: FakeBotApi, chat: int, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Wait until the chat has received `count` messages; return them."""
    await fake.await_for(lambda f: len(f.sent("sendMessage", chat)) >= count, timeout)
    return fake.sent("sendMessage", chat)


async def settled(
    fake: FakeBotApi, chat: int, quiet: float = 0.6, after: int | None = None
) -> list[dict[str, Any]]:
    """The messages of a chat once nothing new came for `quiet` seconds (and more than `after` came).

    Waiting for the first new message before the quiet period starts keeps a slow machine, where the
    answer takes longer than `quiet` to begin, from returning the messages of the turn before.
    """
    if after is not None:
        await replies(fake, chat, after + 1)
    seen = -1
    while True:
        current = len(fake.sent("sendMessage", chat))
        if current == seen:
            return fake.sent("sendMessage", chat)
        seen = current
        await asyncio.sleep(quiet)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def test_ukrainian_conversation_by_long_polling(
    fake: FakeBotApi, polling: Running, updates: Updates, catalogs: Catalogs, content: Content
) -> None:
    uk = Translator(catalogs, "uk")._
    user = new_user()

    fake.push_update(updates.command(user, "/start uk", language_code="de"))  # a poster's QR code
    first = await replies(fake, user, 2)
    greeting = uk(
        "Hallo! Ich bin Lotse, der digitale Wegweiser für den {region}. Ich beantworte Fragen zum Asylverfahren, zu Aufenthaltspapieren, Kita, Sport, Beratung und Deutschkursen. Wählen Sie ein Thema oder schreiben Sie Ihre Frage."
    ).format(region=content.region.name)
    assert first[0]["text"].startswith(greeting)
    assert {b["text"] for b in buttons(first[0])} >= {uk("Sportangebote"), uk("Deutschkurse")}
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(first[0]))

    fake.push_update(updates.text(user, "спортивні секції для дітей"))
    asked = (await replies(fake, user, 3))[2]
    assert asked["text"].startswith(
        uk("In welchem Ort wohnen Sie? Bitte wählen Sie oder schreiben Sie den Namen.")
    )
    town_button = next(b for b in buttons(asked) if b["text"] == "Reutlingen")

    press = updates.callback(user, town_button["callback_data"])
    fake.push_update(press)
    answer = await settled(fake, user, after=3)
    heading = uk("Angebote in {town}:").format(town="Reutlingen")
    assert any(m["text"].startswith(heading) for m in answer[3:]), [m["text"][:80] for m in answer]
    # the spinner on the pressed button was stopped
    await fake.await_for(
        lambda f: any(a["callback_query_id"] == press["callback_query"]["id"] for a in f.callback_answers), 5
    )

    count = len(answer)
    fake.push_update(updates.sticker(user))
    after_sticker = await replies(fake, user, count + 1)
    assert after_sticker[count]["text"].startswith(
        uk("Schreiben Sie mir Ihre Frage, oder wählen Sie ein Thema:")
    )
    calls = [c for c in fake.calls if str(c.params.get("chat_id")) == str(user)]
    typing = next(i for i, c in enumerate(calls) if c.method == "sendChatAction")
    assert calls[typing].params["action"] == "typing"
    assert calls[typing + 1 :] and calls[typing + 1].method == "sendMessage"  # the indicator came first


async def test_commands_are_registered_in_every_language(
    fake: FakeBotApi, polling: Running, catalogs: Catalogs
) -> None:
    registered = fake.commands
    for code in LANGUAGES:
        _ = Translator(catalogs, code)._
        assert registered[code] == [{"command": c, "description": _(d)} for c, d in COMMANDS]
    assert [c["command"] for c in registered[""]] == [c for c, _d in COMMANDS]


PHOTO = "Bilder, Videos und Dateien kann ich leider nicht öffnen. Geht es um einen Brief vom Amt? Schreiben Sie mir in ein paar Worten, worum es geht, oder sprechen Sie mit einer Person."
VOICE = "Sprachnachrichten kann ich leider nicht anhören. Bitte schreiben Sie Ihre Frage, gern in Ihrer eigenen Sprache."
LOCATION = "Danke! Mit einem Standort kann ich leider nichts anfangen."
CONTACT = "Kontakte brauche ich nicht. Bitte teilen Sie hier keine Telefonnummern oder Daten anderer Personen. Wobei kann ich helfen?"
GROUP = (
    "Ich antworte nur in privaten Chats, damit Ihre Fragen privat bleiben. Bitte schreiben Sie mir direkt."
)


@pytest.mark.parametrize(
    ("kind", "source"),
    [("photo", PHOTO), ("document", PHOTO), ("voice", VOICE), ("location", LOCATION), ("contact", CONTACT)],
)
async def test_non_text_messages_get_a_polite_answer_in_the_users_language(
    fake: FakeBotApi, polling: Running, updates: Updates, catalogs: Catalogs, kind: str, source: str
) -> None:
    user = new_user()
    fake.push_update(getattr(updates, kind)(user, language_code="ar"))
    first = (await replies(fake, user, 1))[0]["text"]
    assert first.startswith(Translator(catalogs, "ar")._(source))


async def test_group_chats_are_told_lotse_works_in_private(
    fake: FakeBotApi, polling: Running, updates: Updates, catalogs: Catalogs
) -> None:
    group = -new_user()
    fake.push_update(updates.group_text(group, new_user(), "/start", language_code="tr"))
    fake.push_update(updates.group_text(group, new_user(), "kimse var mı, oturum izni nasıl uzatılır?"))
    sent = await settled(fake, group)
    assert [m["text"] for m in sent] == [Translator(catalogs, "tr")._(GROUP)]  # chatter is not answered
    async with polling.service.lotse.database.connect() as conn:
        stored = await conn.execute(sa.select(messages.c.text).where(messages.c.direction == "in"))
        assert "kimse var mı" not in " ".join(row.text for row in stored)


async def test_an_edited_message_is_answered_again(
    fake: FakeBotApi, polling: Running, updates: Updates, catalogs: Catalogs
) -> None:
    user = new_user()
    original = updates.text(user, "/start en", language_code="en")
    fake.push_update(original)
    before = len(await replies(fake, user, 2))
    fake.push_update(
        updates.edited_text(user, original["message"]["message_id"], "/menu", language_code="en")
    )
    after = await replies(fake, user, before + 1)
    assert after[before]["text"] == Translator(catalogs, "en")._(
        "Wobei kann ich helfen? Wählen Sie ein Thema:"
    )


async def test_webhook_refuses_a_forged_secret_and_stores_nothing(
    fake: FakeBotApi, webhook: Running, updates: Updates
) -> None:
    assert fake.webhook is not None and fake.webhook["secret_token"] == WEBHOOK_SECRET
    user = new_user()
    update = updates.text(user, "Hallo")
    database = webhook.service.lotse.database
    async with httpx.AsyncClient(base_url=webhook.base_url) as client:
        forged = await client.post(WEBHOOK, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        missing = await client.post(WEBHOOK, json=update)
        almost = await client.post(
            WEBHOOK, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET[:-1]}
        )
    assert (forged.status_code, missing.status_code, almost.status_code) == (403, 403, 403)
    async with database.connect() as conn:
        stored = await conn.execute(
            sa.select(sa.func.count()).select_from(inbox).where(inbox.c.chat_id == str(user))
        )
        assert stored.scalar_one() == 0
    await asyncio.sleep(0.3)
    assert fake.sent("sendMessage", user) == []


async def test_webhook_duplicate_delivery_gets_one_answer(
    fake: FakeBotApi, webhook: Running, updates: Updates
) -> None:
    user = new_user()
    update = updates.text(user, "/start de", language_code="de")
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with httpx.AsyncClient(base_url=webhook.base_url) as client:
        statuses = await asyncio.gather(
            *(client.post(WEBHOOK, json=update, headers=headers) for _ in range(3))
        )
        late = await client.post(WEBHOOK, json=update, headers=headers)  # Telegram retrying later
    assert [r.status_code for r in [*statuses, late]] == [200, 200, 200, 200]
    answer = await settled(fake, user)
    assert len(answer) == 2  # greeting and privacy notice, once
    async with webhook.service.lotse.database.connect() as conn:
        inbound = await conn.execute(
            sa.select(sa.func.count())
            .select_from(messages)
            .where(messages.c.direction == "in", messages.c.text == "/start de")
        )
        assert inbound.scalar_one() >= 1


async def test_webhook_rejects_what_is_not_an_update(fake: FakeBotApi, webhook: Running) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with httpx.AsyncClient(base_url=webhook.base_url) as client:
        broken = await client.post(WEBHOOK, content=b"{not json", headers=headers)
        wrong = await client.post(WEBHOOK, json=[1, 2, 3], headers=headers)
        huge = await client.post(WEBHOOK, content=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers=headers)
        ignored = await client.post(WEBHOOK, json={"update_id": 5, "poll": {"id": "1"}}, headers=headers)
    assert (broken.status_code, wrong.status_code, huge.status_code) == (400, 400, 413)
    assert ignored.status_code in (200, 400)


async def test_flood_control_and_server_errors_are_retried_in_order(
    fake: FakeBotApi, webhook: Running, updates: Updates
) -> None:
    user = new_user()
    fake.fail_next("sendMessage", 429, count=1, retry_after=1)
    fake.fail_next("sendMessage", 502, count=2)
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with httpx.AsyncClient(base_url=webhook.base_url) as client:
        for text in ("/start en", "/menu", "/language"):
            response = await client.post(WEBHOOK, json=updates.text(user, text, "en"), headers=headers)
            assert response.status_code == 200
    delivered = await replies(fake, user, 4, timeout=30)
    texts = [m["text"] for m in delivered]
    assert len(texts) == 4  # greeting, privacy notice, menu, language choice: each exactly once
    assert texts[2].startswith("What can I help") or "help" in texts[2].lower()
    attempts = [
        c for c in fake.calls if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(user)
    ]
    refused = next(c for c in attempts if c.status == 429)
    retried = next(c for c in attempts if c.status == 200 and c.at > refused.at)
    assert retried.at - refused.at >= 0.99  # retry_after honoured


async def test_a_long_answer_is_split_into_parts_within_telegrams_limit(
    fake: FakeBotApi, webhook: Running, updates: Updates
) -> None:
    user = new_user()
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    long_question = " ".join(["Ich habe eine sehr lange Frage zu meinem Asylverfahren."] * 70)
    async with httpx.AsyncClient(base_url=webhook.base_url) as client:
        before = 0
        for text in ("/start de", long_question, "/mydata"):
            before = len(await settled(fake, user, quiet=0.4))
            await client.post(WEBHOOK, json=updates.text(user, text, "de"), headers=headers)
    export = (await settled(fake, user))[before:]
    assert len(export) >= 3  # "these data are stored" and an export too long for one message
    assert all(len(m["text"].encode("utf-16-le")) // 2 <= 4096 for m in export)
    assert any(long_question in m["text"] for m in export)  # cut between lines, not inside one


async def test_what_a_user_wrote_is_sent_back_literally_never_as_markup(
    fake: FakeBotApi, webhook: Running, updates: Updates
) -> None:
    user = new_user()
    hostile = "<b>fett</b> & <script>alert(1)</script> *stern* _unter_ [link](http://x)"
    async with httpx.AsyncClient(base_url=webhook.base_url) as client:
        for text in ("/start de", hostile, "/mydata"):
            await settled(fake, user, quiet=0.3)
            await client.post(
                WEBHOOK,
                json=updates.text(user, text, "de"),
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
    sent = await settled(fake, user)
    assert all("parse_mode" not in m for m in sent)
    assert any(hostile in m["text"] for m in sent)  # the export shows it exactly as written


def test_every_button_payload_fits_telegrams_64_bytes(content: Content) -> None:
    from bot.channels.telegram.client import CALLBACK_DATA_LIMIT
    from bot.engine.dialogue import SERVICES

    payloads = [f"topic:{key}" for key in content.topics] + [f"town:{town}" for town in content.towns]
    payloads += [f"lang:{code}" for code in LANGUAGES] + [f"service:{name}" for name in SERVICES]
    assert max(len(p.encode()) for p in payloads) <= CALLBACK_DATA_LIMIT
