"""Faults outside Lotse: a Bot API that refuses for a minute, a translation service down or hanging.

Each test ends with the count of lost and duplicated messages, which must be zero.

1. For a minute the fake Bot API answers every call (sendMessage, sendChatAction,
   answerCallbackQuery) with a repeating mix of 500/502/503 and 429 with `retry_after`, letting
   only a few through, while many users in three languages keep writing through the webhook.
   Afterwards every chat must have received exactly what the same conversation produces when
   nothing goes wrong, in order, and no call may have come before the `retry_after` it was told.
2. A Telegram user talks to a caseworker through the console while LibreTranslate is first down
   (503 from its proxy) and then hanging (accepts, never answers). The user's messages reach the
   console in the original with a note, the caseworker's replies reach the user in German with a
   note, the console's pages keep loading, and once LibreTranslate is back translations resume.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.engine.understanding import Understanding
from bot.handover import notices
from bot.i18n.catalogs import Catalogs, Translator
from bot.storage.database import reader
from bot.storage.tables import conversations, handovers, users
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram_updates import Updates
from tests.fakes.whatsapp import FakeGraphApi
from tests.harness import WEBHOOK_SECRET, Running, running_service, telegram_settings, whatsapp_settings
from tests.reference import expected_replies, script
from tests.test_console_accounts import _csrf, _login
from tests.test_telegram import buttons
from tests.test_whatsapp import body_text

WEBHOOK = "/telegram/webhook"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a condition of the outside world; fail with `what` if it does not come."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"within {timeout:g} s: {what}")
        await asyncio.sleep(0.1)


def lost_and_duplicated(expected: dict[int, list[str]], received: dict[int, list[str]]) -> tuple[int, int]:
    lost = sum(max(0, len(expected[u]) - len(received.get(u, []))) for u in expected)
    duplicated = sum(max(0, len(received.get(u, [])) - len(expected[u])) for u in expected)
    return lost, duplicated


# 1. The Bot API answering 5xx and 429 for a minute

OUTAGE = 60.0
USERS = 24
# What the Bot API answers in turn during the outage: mostly errors, now and then a call goes through.
PATTERN = (500, (429, 3), 502, 200, 503, 502, (429, 2), 500, 200, 503)


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


async def test_a_minute_of_5xx_and_429_loses_and_repeats_nothing(
    bot_api: FakeBotApi, sqlite_url: str, understanding: Understanding, tmp_path: Path
) -> None:
    """On SQLite only: the fault is at Telegram, and a minute on each database would cost two."""
    updates = Updates(start_update_id=random.randint(10**6, 10**9))
    languages = ("uk", "ar", "tr")
    base = 5 * 10**9 + random.randint(0, 10**6) * 1000
    scripts = {base + i: script(updates, base + i, languages[i % 3]) for i in range(USERS)}
    expected = await expected_replies(scripts, understanding, tmp_path)
    total = sum(len(s) for s in scripts.values())

    settings = telegram_settings(sqlite_url, bot_api.base_url, bot_api.token, webhook=True)
    async with running_service(settings, understanding) as running:
        bot_api.flaky_for(OUTAGE, PATTERN)
        started = time.monotonic()
        spacing = OUTAGE * 0.8 / max(len(s) for s in scripts.values())

        async def user_writes(client: httpx.AsyncClient, index: int, user: int) -> None:
            """Through the whole outage: every other user one message every few seconds, the others
            three at once (so that their turns, and typing indicators, follow each other closely)."""
            burst = 1 if index % 2 else 3
            for turn, data in enumerate(scripts[user]):
                at = started + (turn // burst) * burst * spacing + index * 0.2
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                response = await client.post(WEBHOOK, json=data, headers=HEADERS)
                assert response.status_code == 200, response.text

        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as client:
            await asyncio.gather(*(user_writes(client, i, u) for i, u in enumerate(scripts)))

        def complete(api: FakeBotApi) -> bool:
            return all(len(api.texts(u)) >= len(expected[u]) for u in scripts)

        await bot_api.await_for(complete, timeout=OUTAGE + 240)
        await asyncio.sleep(1.5)  # anything sent twice would arrive now
        received = {u: bot_api.texts(u) for u in scripts}

    calls = bot_api.calls
    refused = [c for c in calls if c.status == 429]
    failed = [c for c in calls if c.status >= 500]
    lost, duplicated = lost_and_duplicated(expected, received)
    print(
        f"\nBot API flaky for {OUTAGE:g} s: {total} updates from {USERS} users, {len(calls)} calls, "
        f"{len(refused)} answered 429 and {len(failed)} 5xx; lost {lost}, duplicated {duplicated}"
    )
    for u in scripts:
        if received[u] != expected[u]:
            print(u, [t[:40] for t in expected[u]], [t[:40] for t in received[u]], sep="\n  ")
    assert refused and failed, "the outage really happened"
    assert {c.method for c in refused + failed} >= {"sendMessage", "sendChatAction"}
    assert (lost, duplicated) == (0, 0)
    assert received == expected  # every reply, once, in the order of the conversation
    early = bot_api.ignored_retry_after()
    assert early == [], [(c.method, c.params.get("chat_id")) for c in early]


WA_SCRIPTS = (
    ("سلام، کلاس زبان آلمانی کجاست؟", "کلاس ورزش برای بچه ها", "ممنون"),
    ("أين أجد نادي رياضي للأطفال؟", "أريد أن أتعلم اللغة الألمانية", "شكرا"),
    ("спортивні секції для дітей", "курси німецької мови", "дякую"),
)
WA_USERS = 6
WA_OUTAGE = 10.0
# After the outage: Meta's rate limit (130429), its 500 (131000) and 503 (131016), one after another.
WA_ERRORS = (130429, 131000, 131016, 130429, 131016, 131000) * 2


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as api:
        yield api


async def test_whatsapp_graph_api_down_then_refusing_loses_and_repeats_nothing(
    graph: FakeGraphApi, sqlite_url: str, understanding: Understanding
) -> None:
    """The shorter WhatsApp variant: reference conversations first, then the same ones under faults.

    On SQLite only, like the Telegram one: the fault is at Meta, not in the database.
    """
    settings = whatsapp_settings(sqlite_url, graph, translation_provider="none")
    async with running_service(settings, understanding) as running:
        graph.configure_webhook(f"{running.base_url}/whatsapp/webhook", graph.app_secret)
        first = 49152 * 10**7 + random.randint(0, 10**6) * 100
        references = {str(first + i): WA_SCRIPTS[i] for i in range(len(WA_SCRIPTS))}
        users = {str(first + 50 + i): WA_SCRIPTS[i % len(WA_SCRIPTS)] for i in range(WA_USERS)}

        async def user_writes(wa_id: str, texts: tuple[str, ...], pause: float) -> None:
            for text in texts:
                assert await graph.auser_sends(graph.webhooks.text(wa_id, text)) == 200
                await asyncio.sleep(pause)

        def texts(wa_id: str) -> list[str]:
            return [body_text(m) for m in graph.messages(wa_id)]

        for wa_id, script_ in references.items():  # nothing goes wrong: what each script gets
            await user_writes(wa_id, script_, 0.0)
            done = len(texts(wa_id))
            while True:  # settled: nothing new for a while
                await asyncio.sleep(1.0)
                if len(texts(wa_id)) == done and done > 0:
                    break
                done = len(texts(wa_id))
        expected_by_script = {script_: texts(wa_id) for wa_id, script_ in references.items()}
        expected = {wa_id: expected_by_script[script_] for wa_id, script_ in users.items()}

        graph.down()
        writing = asyncio.gather(*(user_writes(w, s, WA_OUTAGE / 4) for w, s in users.items()))
        await asyncio.sleep(WA_OUTAGE)
        graph.heal()
        for code in WA_ERRORS:
            graph.fail_next(code)
        await writing
        await graph.await_for(
            lambda g: all(len(g.messages(w)) >= len(expected[w]) for w in users), timeout=240
        )
        await asyncio.sleep(1.5)  # anything sent twice would arrive now
        received = {w: texts(w) for w in users}

    refused = [c for c in graph.calls if c.status != 200]
    lost = sum(max(0, len(expected[w]) - len(received[w])) for w in users)
    duplicated = sum(max(0, len(received[w]) - len(expected[w])) for w in users)
    print(
        f"\nGraph API down for {WA_OUTAGE:g} s, then {len(WA_ERRORS)} errors: {len(refused)} calls "
        f"refused; lost {lost}, duplicated {duplicated}"
    )
    assert len(refused) >= len(WA_ERRORS), "the outage really happened"
    assert (lost, duplicated) == (0, 0)
    assert received == expected


# 2. The translation provider down, then hanging

ASKS = {
    "tr": "Bir danışmanla konuşmak istiyorum lütfen",
    "de": "Ich möchte bitte mit einer Beraterin sprechen",
}
WHILE_DOWN = (
    ("Mahkemeden bir mektup aldım", "Ich habe einen Brief vom Gericht bekommen"),
    ("Son tarih gelecek hafta", "Die Frist ist nächste Woche"),
)
WHILE_HANGING = (
    ("Avukatım yok", "Ich habe keinen Anwalt"),
    ("Yarın gelebilir miyim", "Kann ich morgen kommen"),
)
AFTERWARDS = (("Teşekkür ederim", "Ich danke Ihnen"),)
REPLIES = (
    "Bitte bringen Sie den Brief morgen in die Sprechstunde mit.",
    "Wir suchen Ihnen einen Anwalt, machen Sie sich keine Sorgen.",
    "Gern geschehen, bis morgen.",
)
REPLY_TR = "Rica ederim, yarın görüşürüz."
TIMEOUT = 2.0  # LOTSE_TRANSLATION_TIMEOUT of the service under test
PHRASEBOOK = {
    ("tr", "de", ASKS["tr"]): ASKS["de"],
    **{("tr", "de", tr): de for tr, de in WHILE_DOWN + WHILE_HANGING + AFTERWARDS},
    ("de", "tr", REPLIES[2]): REPLY_TR,
}


@pytest.fixture
def libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate(PHRASEBOOK) as fake:
        yield fake


@pytest.fixture
async def handover_service(
    bot_api: FakeBotApi, libre: FakeLibreTranslate, database_url: str, understanding: Understanding
) -> AsyncIterator[Running]:
    settings = dataclasses.replace(
        telegram_settings(database_url, bot_api.base_url, bot_api.token, webhook=True),
        translation_provider="libre",
        libretranslate_url=libre.url,
        translation_timeout=TIMEOUT,
        translation_cooldown=1.0,
    )
    async with running_service(settings, understanding) as running:
        yield running


def transcript_rows(page: str) -> list[str]:
    """The rows of the console's transcript table (one per message)."""
    return re.findall(r'<tr [^>]*data-id="\d+".*?</tr>', page, re.S)


def shown(page: str, text: str) -> int:
    """How many transcript rows show `text` (the console escapes nothing in these texts)."""
    return sum(1 for row in transcript_rows(page) if text in row)


async def test_translation_down_then_hanging_loses_nothing_either_way(
    bot_api: FakeBotApi, libre: FakeLibreTranslate, handover_service: Running, catalogs: Catalogs
) -> None:
    tr = Translator(catalogs, "tr")
    running = handover_service
    updates = Updates(start_update_id=random.randint(10**6, 10**9))
    user = random.randint(10**8, 10**10)
    web = httpx.AsyncClient(base_url=running.base_url, timeout=60)
    console = httpx.AsyncClient(base_url=running.base_url, timeout=60)
    try:

        async def says(data: dict[str, object]) -> None:
            assert (await web.post(WEBHOOK, json=data, headers=HEADERS)).status_code == 200

        # A Turkish user asks for a person and agrees to share the chat.
        await says(updates.command(user, "/start tr_reutlingen", language_code="tr"))
        await says(updates.text(user, ASKS["tr"], language_code="tr"))
        await bot_api.await_for(
            lambda f: any(
                b["callback_data"] == "handover:yes" for m in f.sent("sendMessage", user) for b in buttons(m)
            ),
            timeout=60,
        )
        await says(updates.callback(user, "handover:yes", language_code="tr"))
        desk, accounts = running.service.desk, running.service.accounts
        assert desk is not None and accounts is not None

        async def case_of_user() -> int | None:
            # a read-only connection per look: a transaction held open across the polls would keep
            # SQLite's write lock from the very turn that opens the handover
            query = (
                sa.select(sa.func.max(handovers.c.id))
                .join(conversations, conversations.c.id == handovers.c.conversation_id)
                .join(users, users.c.id == conversations.c.user_id)
                .where(users.c.channel == "telegram", users.c.external_id == str(user))
            )
            async with reader(desk.store.engine).connect() as conn:
                found = (await conn.execute(query)).scalar_one_or_none()
            return None if found is None else int(found)

        deadline = time.monotonic() + 60
        while (case_id := await case_of_user()) is None:
            assert time.monotonic() < deadline, "the handover was never opened"
            await asyncio.sleep(0.2)
        password = "ein langes Passwort 1234"
        weber = await accounts.create(
            f"weber-{user}", password, "caseworker", ["im-stadt-reutlingen"], "Frau Weber"
        )
        assert (await _login(console, weber.username, password)).status_code == 303
        page = await console.get(f"/console/cases/{case_id}")
        assert page.status_code == 200 and ASKS["de"] in page.text  # translated while the service is up
        csrf = _csrf(page.text)
        claimed = await console.post(f"/console/cases/{case_id}/claim", data={"csrf": csrf})
        assert claimed.status_code == 303
        taken = tr._("{name} aus dem Integrationsmanagement ist jetzt für Sie da und antwortet Ihnen hier.")
        await bot_api.await_for(lambda f: taken.format(name="Frau Weber") in f.texts(user), timeout=60)
        before = len(bot_api.texts(user))

        async def caseworker_sends_german(german: str) -> None:
            """Preview fails over to German; the reply goes out in German with the note."""
            preview = await console.post(
                f"/console/cases/{case_id}/preview", data={"csrf": csrf, "german": german}
            )
            assert preview.status_code == 200 and "nicht verfügbar" in preview.text
            sent = await console.post(
                f"/console/cases/{case_id}/reply",
                data={"csrf": csrf, "german": german, "text": "", "machine": "0", "translated": "0"},
            )
            assert sent.status_code == 303, sent.text

        async def user_writes(messages: tuple[tuple[str, str], ...]) -> None:
            for text, _german in messages:
                await says(updates.text(user, text, language_code="tr"))

        async def console_shows_originals(messages: tuple[tuple[str, str], ...]) -> None:
            """The page loads (within the deadline, not forever) with the originals and the note."""
            deadline = time.monotonic() + 60
            while True:
                page = await console.get(f"/console/cases/{case_id}")
                assert page.status_code == 200
                if all(shown(page.text, text) for text, _ in messages):
                    break
                assert time.monotonic() < deadline, "the user's messages never reached the console"
                await asyncio.sleep(0.3)
            assert "Übersetzung ist gerade nicht verfügbar" in page.text
            assert not any(german in page.text for _, german in messages)

        # LibreTranslate down: its proxy answers 503.
        libre.down()
        await user_writes(WHILE_DOWN)
        await console_shows_originals(WHILE_DOWN)
        await caseworker_sends_german(REPLIES[0])

        # LibreTranslate hanging: it takes every request and never answers.
        libre.heal()
        translation = running.service.translation
        assert translation is not None
        await until(lambda: translation.available, 30, "the cool-down ended")
        libre.hang(3600)
        calls_before = len(libre.requests)
        await user_writes(WHILE_HANGING)
        await console_shows_originals(WHILE_HANGING)
        await caseworker_sends_german(REPLIES[1])
        assert not libre.translations()[calls_before:], "nothing was answered while hanging"

        # Back: translations resume (after the cool-down) and the reply is translated again.
        libre.heal()
        await user_writes(AFTERWARDS)
        every = WHILE_DOWN + WHILE_HANGING + AFTERWARDS
        deadline = time.monotonic() + 60
        while True:
            page = await console.get(f"/console/cases/{case_id}")
            assert page.status_code == 200
            if all(any(t in row and g in row for row in transcript_rows(page.text)) for t, g in every):
                break
            assert time.monotonic() < deadline, "translations never resumed"
            await asyncio.sleep(0.5)
        preview = await console.post(
            f"/console/cases/{case_id}/preview", data={"csrf": csrf, "german": REPLIES[2]}
        )
        assert preview.status_code == 200 and REPLY_TR in preview.text
        sent = await console.post(
            f"/console/cases/{case_id}/reply",
            data={"csrf": csrf, "german": REPLIES[2], "text": REPLY_TR, "machine": "1", "translated": "1"},
        )
        assert sent.status_code == 303, sent.text

        # Count both directions.
        await bot_api.await_for(lambda f: any(t.startswith(REPLY_TR) for t in f.texts(user)), timeout=60)
        await asyncio.sleep(1.5)  # anything sent twice would arrive now
        delivered = bot_api.texts(user)[before:]
        final = (await console.get(f"/console/cases/{case_id}")).text
    finally:
        await web.aclose()
        await console.aclose()

    to_user = {
        REPLIES[0]: sum(1 for t in delivered if t.startswith(REPLIES[0])),
        REPLIES[1]: sum(1 for t in delivered if t.startswith(REPLIES[1])),
        REPLY_TR: sum(1 for t in delivered if t.startswith(REPLY_TR)),
    }
    to_console = {text: shown(final, text) for text, _ in every}
    acknowledgements = [t for t in delivered if not any(t.startswith(r) for r in to_user)]
    lost = sum(1 for n in [*to_user.values(), *to_console.values()] if n == 0)
    duplicated = sum(n - 1 for n in [*to_user.values(), *to_console.values()] if n > 1)
    print(
        f"\ntranslation down then hanging: {len(to_console)} messages to the console, {len(to_user)} "
        f"replies to the user; lost {lost}, duplicated {duplicated}"
    )
    assert (lost, duplicated) == (0, 0), (to_user, to_console)
    assert len(acknowledgements) <= 1, "the bot keeps quiet while a person answers"
    for german in REPLIES[:2]:  # German, with a note in Turkish why
        assert f"{german}\n\n{notices.sent_in_german(tr)}" in delivered
    assert f"{REPLY_TR}\n\n{notices.machine_translated(tr)}" in delivered
