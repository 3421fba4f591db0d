"""A Telegram user handed to a caseworker and back, through python-telegram-bot against the fake Bot API.

The caseworker's reply leaves through the same outbox and sender as the bot's answers: rate limits,
retries and per-chat order apply to people as they do to the bot.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa

from bot.engine.understanding import Understanding
from bot.i18n.catalogs import Catalogs, Translator
from bot.storage.tables import handovers
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.harness import Running, running_service, telegram_settings
from tests.test_telegram import buttons, replies, settled

ASK_TR = "Bir danışmanla konuşmak istiyorum lütfen"
ASK_DE = "Ich möchte bitte mit einer Beraterin sprechen"
REPLY_DE = "Guten Tag, hier ist Frau Weber. Ich helfe Ihnen gern."
REPLY_TR = "İyi günler, ben Bayan Weber. Size memnuniyetle yardımcı olurum."


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


@pytest.fixture(scope="module")
def libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate({("tr", "de", ASK_TR): ASK_DE, ("de", "tr", REPLY_DE): REPLY_TR}) as fake:
        yield fake


@pytest.fixture
async def running(
    bot_api: FakeBotApi, libre: FakeLibreTranslate, database_url: str, understanding: Understanding
) -> AsyncIterator[Running]:
    settings = dataclasses.replace(
        telegram_settings(database_url, bot_api.base_url, bot_api.token),
        translation_provider="libre",
        libretranslate_url=libre.url,
    )
    async with running_service(settings, understanding) as service:
        yield service


async def test_a_caseworker_answers_a_telegram_user_in_turkish_and_hands_back(
    bot_api: FakeBotApi, running: Running, catalogs: Catalogs
) -> None:
    tr = Translator(catalogs, "tr")._
    updates = Updates(start_update_id=random.randint(10**6, 10**9))
    user = random.randint(10**8, 10**10)
    bot_api.push_update(updates.command(user, "/start tr_reutlingen"))
    count = len(await settled(bot_api, user))
    bot_api.push_update(updates.text(user, ASK_TR))
    consent = (await replies(bot_api, user, count + 1))[count]
    yes = next(b for b in buttons(consent) if b["callback_data"] == "handover:yes")
    bot_api.push_update(updates.callback(user, yes["callback_data"]))
    count = len(await settled(bot_api, user))

    desk, accounts = running.service.desk, running.service.accounts
    assert desk is not None and accounts is not None
    weber = await accounts.create(
        f"weber-{user}", "ein langes Passwort 1234", "caseworker", ["im-stadt-reutlingen"], "Frau Weber"
    )
    async with desk.store.engine.connect() as conn:
        case_id = (await conn.execute(sa.select(sa.func.max(handovers.c.id)))).scalar_one()
    view = await desk.open(weber, case_id)
    assert view.case.channel == "telegram" and view.case.language == "tr"
    assert any(line.text == ASK_TR and line.german == ASK_DE for line in view.lines)

    await desk.claim(weber, case_id)
    preview = await desk.preview(weber, case_id, REPLY_DE)
    await desk.reply(weber, case_id, preview.german, preview.text, machine=preview.machine)
    sent = await replies(bot_api, user, count + 2)
    assert "Frau Weber" in sent[count]["text"]  # who answers now
    assert sent[count + 1]["text"].startswith(REPLY_TR)
    assert sent[count + 1]["text"].endswith(tr("(automatische Übersetzung)"))

    count += 2
    bot_api.push_update(updates.text(user, "Teşekkürler, yarın gelirim"))
    bot_api.push_update(updates.text(user, "Saat kaçta?"))
    quiet = await settled(bot_api, user)
    assert len(quiet) == count + 1, "one acknowledgement, then the bot keeps quiet"

    await desk.close(weber, case_id)
    back = (await replies(bot_api, user, count + 2))[count + 1]
    assert back["text"] == tr(
        "Das Gespräch mit dem Integrationsmanagement ist beendet. Ab jetzt antwortet Ihnen wieder Lotse, der digitale Assistent. Hat Ihnen das Gespräch geholfen?"
    )
    assert {b["callback_data"] for b in buttons(back)} == {"feedback:helped", "feedback:not_helped"}
